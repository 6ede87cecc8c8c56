// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libFuzzer target for exlbd/l7/http1.c: the input goes through a request
 * parser (or, when bit 0x80 of the first byte is set, a response parser)
 * in pieces whose sizes come from the first byte, the way a proxy feeds
 * what it reads; every head is rebuilt (request or response) and an error
 * response made for it, so the builders see every head the parser lets
 * through. Invariants are checked with __builtin_trap(): a consumed count
 * larger than the input, an event after ERROR, a head whose strings are
 * not inside the head buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "l7/http1.h"

static void check_head(const struct exlb_http_parser *p)
{
	const struct exlb_http_head *h = &p->head;
	const char *lo = p->headbuf, *hi = p->headbuf + p->head_len;
	size_t i;

	if (h->nr_headers > EXLB_HTTP_MAX_HEADERS || p->head_len > EXLB_HTTP_MAX_HEAD)
		__builtin_trap();
	for (i = 0; i < h->nr_headers; i++) {
		const struct exlb_http_header *x = &h->headers[i];

		if (x->name < lo || x->name + x->name_len > hi ||
		    x->value < lo || x->value + x->value_len > hi)
			__builtin_trap();
		/* the parser promises: no CR, LF or NUL in a value */
		if (memchr(x->value, '\r', x->value_len) ||
		    memchr(x->value, '\n', x->value_len) ||
		    memchr(x->value, '\0', x->value_len))
			__builtin_trap();
	}
	if (h->kind == EXLB_HTTP_REQUEST &&
	    (h->target < lo || h->target + h->target_len > hi ||
	     !h->target_len))
		__builtin_trap();
}

static void build(const struct exlb_http_parser *p, unsigned int sel)
{
	static const struct exlb_http_edit edits[] = {
		{ EXLB_HTTP_EDIT_SET, "X-Set", "v" },
		{ EXLB_HTTP_EDIT_DEL, "Cookie", NULL },
		{ EXLB_HTTP_EDIT_ADD, "X-Add", "a" },
	};
	struct exlb_http_fwd_opts fwd = {
		.client_addr = "198.18.0.1", .x_forwarded_for = true,
		.x_clientside = sel & 1, .via = sel & 2, .expect100 = sel % 3,
	};
	struct exlb_buf out = { 0 };

	if (p->head.kind == EXLB_HTTP_REQUEST) {
		if (exlb_http_build_request(&p->head, edits, 3, &fwd, &out))
			__builtin_trap();
		(void)exlb_http_proxy_answers_100(&p->head, sel % 3);
		out.len = 0;
		if (exlb_http_build_error(sel & 4 ? 302 : 503,
					  sel & 8 ? "https://%h%s%%%x%" : NULL,
					  &p->head, sel & 16, &out))
			__builtin_trap();
	} else {
		if (exlb_http_build_response(&p->head, edits, 3, sel & 1,
					     sel & 2 ? 31536000 : 0, &out))
			__builtin_trap();
	}
	/* what we send must never hold a bare LF or a NUL */
	if (out.len && (memchr(out.data, '\0', out.len)))
		__builtin_trap();
	exlb_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exlb_http_parser p;
	const char *d = (const char *)data;
	unsigned int ctl, step, nr_heads = 0;
	size_t off = 1;

	if (!size)
		return 0;
	ctl = data[0];
	/* piece sizes 1..16, or the whole input */
	step = (ctl & 0x0f) + 1;
	if ((ctl & 0x70) == 0x70)
		step = 1 << 20;
	exlb_http_parser_init(&p, ctl & 0x80 ? EXLB_HTTP_RESPONSE :
			      EXLB_HTTP_REQUEST);
	if (ctl & 0x40 && ctl & 0x80)
		exlb_http_expect_no_body(&p);
	while (off < size) {
		size_t piece = size - off < step ? size - off : step;
		size_t used = 0, c;
		enum exlb_http_event ev;

		for (;;) {
			ev = exlb_http_feed(&p, d + off + used, piece - used,
					    &c);
			if (c > piece - used)
				__builtin_trap();
			used += c;
			if (ev == EXLB_HTTP_ERROR) {
				if (!p.error_status || !p.error_reason)
					__builtin_trap();
				/* an ERROR is final */
				if (exlb_http_feed(&p, d + off, piece, &c) !=
				    EXLB_HTTP_ERROR)
					__builtin_trap();
				goto out;
			}
			if (ev == EXLB_HTTP_HEAD || ev == EXLB_HTTP_UPGRADE) {
				check_head(&p);
				build(&p, ctl + nr_heads++);
				if (ev == EXLB_HTTP_UPGRADE)
					goto out;
				/* sometimes skip a Content-Length body */
				if (ctl & 0x20 && exlb_http_body_left(&p) !=
				    EXLB_HTTP_BODY_UNKNOWN)
					exlb_http_body_skipped(&p,
						exlb_http_body_left(&p) / 2 + 1);
			}
			if (ev == EXLB_HTTP_NEED_MORE) {
				if (used != piece)
					__builtin_trap();
				break;
			}
			if (ev == EXLB_HTTP_BODY && used == piece)
				break;
		}
		off += piece;
	}
out:
	exlb_http_parser_release(&p);
	return 0;
}
