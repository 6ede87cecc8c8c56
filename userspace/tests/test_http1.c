// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of exlbd/l7/http1.c (HTTP/1.x framing on llhttp): heads split
 * at every byte, pipelining, bodies, the request smuggling corpus, size
 * limits, responses, and the heads and error responses the proxy sends.
 * TAP output; built with ASan/UBSan by "make test".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "l7/http1.h"

static int nr_test;
static int nr_fail;

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	nr_test++;
	printf("%sok %d - ", cond ? "" : "not ", nr_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		nr_fail++;
}

/* What a run of the parser produced. */
struct run {
	char events[256];	/* "H", "B", "E", "U", "X" (error), "N" */
	char heads[4096];	/* a summary of every head */
	char body[4096];	/* the bytes reported as BODY / END */
	size_t body_len;
	unsigned int status;	/* error_status */
	const char *reason;
};

static void add_event(struct run *r, char c)
{
	size_t n = strlen(r->events);

	if (n + 1 < sizeof(r->events)) {
		r->events[n] = c;
		r->events[n + 1] = 0;
	}
}

static void summarize(struct run *r, const struct exlb_http_head *h)
{
	size_t n = strlen(r->heads), i;
	char *s = r->heads + n;
	size_t room = sizeof(r->heads) - n;
	int w;

	if (h->kind == EXLB_HTTP_REQUEST)
		w = snprintf(s, room, "[%s %.*s %u.%u ka=%d ch=%d cl=%d/%llu",
			     h->method_name, (int)h->target_len, h->target,
			     h->http_major, h->http_minor, h->keep_alive,
			     h->chunked, h->has_content_length,
			     (unsigned long long)h->content_length);
	else
		w = snprintf(s, room, "[%u %.*s %u.%u ka=%d ch=%d cl=%d/%llu",
			     h->status, (int)h->reason_len, h->reason,
			     h->http_major, h->http_minor, h->keep_alive,
			     h->chunked, h->has_content_length,
			     (unsigned long long)h->content_length);
	for (i = 0; i < h->nr_headers && w > 0 && (size_t)w < room; i++) {
		s += w;
		room -= (size_t)w;
		w = snprintf(s, room, " <%.*s=%.*s>",
			     (int)h->headers[i].name_len, h->headers[i].name,
			     (int)h->headers[i].value_len, h->headers[i].value);
	}
	n = strlen(r->heads);
	if (n + 1 < sizeof(r->heads))
		strcat(r->heads, "]");
}

static void add_body(struct run *r, const char *d, size_t len)
{
	if (r->body_len + len <= sizeof(r->body)) {
		memcpy(r->body + r->body_len, d, len);
		r->body_len += len;
	}
}

/*
 * Feeds @data in pieces of @step bytes (0: all at once) the way the proxy
 * does: after an event other than NEED_MORE, the rest of the piece again.
 */
static void run(struct exlb_http_parser *p, const char *data, size_t len,
		size_t step, struct run *r)
{
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	if (!step)
		step = len ? len : 1;
	while (off < len) {
		size_t piece = len - off < step ? len - off : step;
		size_t used = 0, c;
		enum exlb_http_event ev;

		for (;;) {
			ev = exlb_http_feed(p, data + off + used, piece - used,
					    &c);
			if (c > piece - used) {
				add_event(r, '!');
				return;
			}
			switch (ev) {
			case EXLB_HTTP_NEED_MORE:
				add_body(r, data + off + used, 0);
				break;
			case EXLB_HTTP_HEAD:
				add_event(r, 'H');
				summarize(r, &p->head);
				break;
			case EXLB_HTTP_UPGRADE:
				add_event(r, 'U');
				summarize(r, &p->head);
				break;
			case EXLB_HTTP_BODY:
				add_body(r, data + off + used, c);
				break;
			case EXLB_HTTP_END:
				add_body(r, data + off + used, c);
				add_event(r, 'E');
				break;
			case EXLB_HTTP_ERROR:
				add_event(r, 'X');
				r->status = p->error_status;
				r->reason = p->error_reason;
				return;
			}
			used += c;
			if (ev == EXLB_HTTP_UPGRADE) {
				/* the rest is tunnel data */
				add_body(r, data + off + used, piece - used);
				used = piece;
				off += piece;
				goto tunnel;
			}
			if (ev == EXLB_HTTP_NEED_MORE || ev == EXLB_HTTP_BODY) {
				if (used == piece)
					break;
				if (ev == EXLB_HTTP_NEED_MORE) {
					add_event(r, '?');
					return;
				}
			}
		}
		off += piece;
	}
	return;
tunnel:
	if (off < len)
		add_body(r, data + off, len - off);
}

static void run_str(enum exlb_http_kind kind, const char *s, size_t step,
		    struct run *r)
{
	struct exlb_http_parser p;

	exlb_http_parser_init(&p, kind);
	run(&p, s, strlen(s), step, r);
	exlb_http_parser_release(&p);
}

/* ---- heads split at every byte boundary ---- */

static const char get_req[] =
	"GET /owa/?ae=Folder&t=IPF.Note HTTP/1.1\r\n"
	"Host: mail.example.com\r\n"
	"User-Agent: Mozilla/5.0 (Windows NT 10.0)\r\n"
	"Accept: */*\r\n"
	"Cookie: X-BackEndCookie=S-1-5-21=abc; ClientId=XYZ\r\n"
	"X-Empty:\r\n"
	"X-Trailing-WS: value  \t\r\n"
	"\r\n";

static void test_split(void)
{
	struct run whole, part;
	size_t len = strlen(get_req), cut;
	bool same = true;
	struct exlb_http_parser p;

	run_str(EXLB_HTTP_REQUEST, get_req, 0, &whole);
	ok(!strcmp(whole.events, "HE"), "GET in one piece: HEAD then END (%s)",
	   whole.events);
	ok(strstr(whole.heads, "[GET /owa/?ae=Folder&t=IPF.Note 1.1 ka=1") &&
	   strstr(whole.heads, "<X-Empty=>") &&
	   strstr(whole.heads, "<X-Trailing-WS=value>") &&
	   strstr(whole.heads, "<Host=mail.example.com>"),
	   "GET head parsed: %s", whole.heads);

	/* two pieces, cut at every byte */
	for (cut = 1; cut < len; cut++) {
		exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
		run(&p, get_req, len, cut, &part);
		exlb_http_parser_release(&p);
		if (strcmp(part.events, whole.events) ||
		    strcmp(part.heads, whole.heads)) {
			same = false;
			printf("# step %zu: %s %s\n", cut, part.events,
			       part.heads);
			break;
		}
	}
	ok(same, "GET fed in pieces of every size 1..%zu: same head", len - 1);

	/* one byte per feed, then a cut at every boundary with two feeds */
	same = true;
	for (cut = 1; cut < len; cut++) {
		size_t c1 = 0, c2 = 0;
		enum exlb_http_event e1, e2;

		exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
		e1 = exlb_http_feed(&p, get_req, cut, &c1);
		e2 = exlb_http_feed(&p, get_req + cut, len - cut, &c2);
		if (e1 != EXLB_HTTP_NEED_MORE || c1 != cut ||
		    e2 != EXLB_HTTP_HEAD || c2 != len - cut ||
		    p.head.nr_headers != 6 ||
		    strncmp(p.head.headers[3].value, "X-BackEndCookie", 15))
			same = false;
		exlb_http_parser_release(&p);
	}
	ok(same, "GET cut at every byte boundary into two feeds: HEAD, all consumed");
}

/* ---- pipelining and bodies ---- */

static void test_pipeline(void)
{
	static const char two[] =
		"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
		"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
		"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	struct run r;
	size_t step;
	bool same = true;

	run_str(EXLB_HTTP_REQUEST, two, 0, &r);
	ok(!strcmp(r.events, "HEHEHE") && r.body_len == 5 &&
	   !memcmp(r.body, "hello", 5) && strstr(r.heads, "[GET /c 1.1 ka=0"),
	   "three pipelined requests: %s, body %.*s", r.events,
	   (int)r.body_len, r.body);
	for (step = 1; step < sizeof(two); step++) {
		struct run s;

		run_str(EXLB_HTTP_REQUEST, two, step, &s);
		if (strcmp(s.events, r.events) || strcmp(s.heads, r.heads) ||
		    s.body_len != 5)
			same = false;
	}
	ok(same, "pipelined requests in pieces of every size: same events");

	run_str(EXLB_HTTP_REQUEST,
		"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n",
		0, &r);
	ok(!strcmp(r.events, "HEX") && r.status == 400,
	   "data after Connection: close refused (%s %u)", r.events, r.status);

	run_str(EXLB_HTTP_REQUEST,
		"POST / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx\r\n",
		0, &r);
	ok(!strcmp(r.events, "HE"),
	   "a stray CRLF after the last body is ignored (%s)", r.events);

	run_str(EXLB_HTTP_REQUEST,
		"GET / HTTP/1.0\r\n\r\n", 0, &r);
	ok(!strcmp(r.events, "HE") && strstr(r.heads, "1.0 ka=0"),
	   "HTTP/1.0 without Host, not keep-alive: %s", r.heads);
	run_str(EXLB_HTTP_REQUEST,
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, &r);
	ok(strstr(r.heads, "1.0 ka=1") != NULL,
	   "HTTP/1.0 with Connection: keep-alive keeps alive");
}

static void test_bodies(void)
{
	static const char chunked[] =
		"POST /mapi/emsmdb/?MailboxId=x@y HTTP/1.1\r\n"
		"Host: mail.example.com\r\n"
		"Transfer-Encoding: chunked\r\n"
		"Content-Type: application/mapi-http\r\n\r\n";
	static const char chunks[] =
		"5\r\nhello\r\n"
		"1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n"
		"0\r\n\r\n";
	char buf[1024];
	struct run r;
	size_t step;
	bool same = true;

	snprintf(buf, sizeof(buf), "%s%s", chunked, chunks);
	run_str(EXLB_HTTP_REQUEST, buf, 0, &r);
	ok(!strcmp(r.events, "HE") && r.body_len == strlen(chunks) &&
	   !memcmp(r.body, chunks, r.body_len) && strstr(r.heads, "ch=1"),
	   "chunked body forwarded byte-exact (%s, %zu bytes)", r.events,
	   r.body_len);
	for (step = 1; step < strlen(buf); step++) {
		struct run s;

		run_str(EXLB_HTTP_REQUEST, buf, step, &s);
		if (strcmp(s.events, "HE") || s.body_len != strlen(chunks) ||
		    memcmp(s.body, chunks, s.body_len))
			same = false;
	}
	ok(same, "chunked body in pieces of every size: byte-exact");

	run_str(EXLB_HTTP_REQUEST,
		"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", 3, &r);
	ok(!strcmp(r.events, "HE") && r.body_len == 10 &&
	   !memcmp(r.body, "0123456789", 10),
	   "Content-Length body in pieces of 3: %s", r.events);

	run_str(EXLB_HTTP_REQUEST,
		"RPC_IN_DATA /rpc/rpcproxy.dll?mail.example.com:6001 HTTP/1.1\r\n"
		"Host: mail.example.com\r\nContent-Length: 1073741824\r\n\r\nabc", 0, &r);
	ok(!strcmp(r.events, "H") &&
	   strstr(r.heads, "[RPC_IN_DATA /rpc/rpcproxy.dll?mail.example.com:6001 1.1 ka=1 ch=0 cl=1/1073741824") &&
	   r.body_len == 3, "RPC_IN_DATA with a 1 GB Content-Length: %s",
	   r.heads);
	run_str(EXLB_HTTP_REQUEST,
		"\r\nRPC_OUT_DATA /rpc/rpcproxy.dll HTTP/1.1\r\n"
		"Host: m\r\nContent-Length: 76\r\n\r\n", 1, &r);
	ok(!strcmp(r.events, "H") && strstr(r.heads, "[RPC_OUT_DATA /rpc/rpcproxy.dll"),
	   "RPC_OUT_DATA after an empty line, byte by byte: %s", r.heads);
}

static void test_body_skipped(void)
{
	static const char req[] =
		"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: h\r\n"
		"Content-Length: 100000\r\n\r\n";
	static const char next[] = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
	struct exlb_http_parser p;
	size_t c;
	enum exlb_http_event ev;

	exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
	ev = exlb_http_feed(&p, req, strlen(req), &c);
	ok(ev == EXLB_HTTP_HEAD && c == strlen(req) &&
	   exlb_http_body_left(&p) == 100000, "body_left after the head: %llu",
	   (unsigned long long)exlb_http_body_left(&p));
	exlb_http_body_skipped(&p, 60000);
	ok(exlb_http_body_left(&p) == 40000, "body_left after 60000 skipped");
	ev = exlb_http_feed(&p, "0123456789", 10, &c);
	ok(ev == EXLB_HTTP_BODY && c == 10 && exlb_http_body_left(&p) == 39990,
	   "10 more bytes through the parser");
	exlb_http_body_skipped(&p, 39990);
	ok(exlb_http_body_left(&p) == 0, "all skipped: nothing left");
	ev = exlb_http_feed(&p, next, strlen(next), &c);
	ok(ev == EXLB_HTTP_HEAD && c == strlen(next) &&
	   p.head.target_len == 5 && !memcmp(p.head.target, "/next", 5),
	   "the next request parses after the skipped body");
	exlb_http_parser_release(&p);

	exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
	ev = exlb_http_feed(&p, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27, &c);
	ok(ev == EXLB_HTTP_HEAD && exlb_http_body_left(&p) == 0,
	   "GET: no body left");
	ev = exlb_http_feed(&p, "", 0, &c);
	ok(ev == EXLB_HTTP_END && c == 0, "GET: END with nothing consumed");
	exlb_http_parser_release(&p);

	exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
	ev = exlb_http_feed(&p, "POST / HTTP/1.1\r\nHost: h\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n", 56, &c);
	ok(ev == EXLB_HTTP_HEAD && c == 56 &&
	   exlb_http_body_left(&p) == EXLB_HTTP_BODY_UNKNOWN,
	   "chunked: body_left unknown");
	exlb_http_parser_release(&p);
}

/*
 * Chunk extensions (RFC 9112 7.1.1): lists, BWS around ";" and "=",
 * quoted values; forwarded byte-exact, whole and byte by byte.
 */
static void test_chunk_ext(void)
{
	static const char head[] =
		"POST /ews/exchange.asmx HTTP/1.1\r\nHost: h\r\n"
		"Transfer-Encoding: chunked\r\n\r\n";
	static const char *const good[] = {
		"5;a=b;c=d\r\nhello\r\n0\r\n\r\n",
		"5 ;a=b\r\nhello\r\n0\r\n\r\n",
		"5\t; a = b ;\tc\r\nhello\r\n0\r\n\r\n",
		"5;a=\"b c;d\"\r\nhello\r\n0\r\n\r\n",
		"5;a=\"b\\\"c\";d=e\r\nhello\r\n0\r\n\r\n",
		"5;a;b;c\r\nhello\r\n0;last=1;x=\"y\"\r\n\r\n",
		"A;n=v\r\n0123456789\r\n0\r\n\r\n",
		"0005;a=b\r\nhello\r\n0\r\n\r\n",
	};
	char buf[8192], *line;
	struct run r, s;
	size_t i, step, n;
	bool same;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s", head, good[i]);
		run_str(EXLB_HTTP_REQUEST, buf, 0, &r);
		same = true;
		for (step = 1; step < 7; step++) {
			run_str(EXLB_HTTP_REQUEST, buf, step, &s);
			if (strcmp(s.events, "HE") || s.body_len != strlen(good[i]) ||
			    memcmp(s.body, good[i], s.body_len))
				same = false;
		}
		n = strcspn(good[i], "\r");
		ok(!strcmp(r.events, "HE") && r.body_len == strlen(good[i]) &&
		   !memcmp(r.body, good[i], r.body_len) && same,
		   "chunk extension accepted, forwarded byte-exact: %.*s (%s %s; in pieces: %s)",
		   (int)n, good[i], r.events, r.reason ? r.reason : "",
		   same ? "same" : "differ");
	}

	/* a response's chunk extensions: the same grammar */
	run_str(EXLB_HTTP_RESPONSE,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3 ; a = \"x\" ; b\r\nabc\r\n0\r\n\r\n", 0, &r);
	ok(!strcmp(r.events, "HE"), "response chunk extensions with BWS (%s)",
	   r.events);

	/* the size line (size and extensions, without CRLF): 4096 bytes */
	for (n = EXLB_HTTP_MAX_CHUNK_LINE; n <= EXLB_HTTP_MAX_CHUNK_LINE + 1; n++) {
		i = (size_t)snprintf(buf, sizeof(buf), "%s5;a=", head);
		line = buf + i;
		memset(line, 'x', n - 4);
		snprintf(line + n - 4, sizeof(buf) - i - (n - 4),
			 "\r\nhello\r\n0\r\n\r\n");
		run_str(EXLB_HTTP_REQUEST, buf, 0, &r);
		if (n == EXLB_HTTP_MAX_CHUNK_LINE)
			ok(!strcmp(r.events, "HE"),
			   "a chunk size line of %zu bytes is accepted (%s)",
			   n, r.events);
		else
			ok(!strcmp(r.events, "HX") && r.status == 400,
			   "a chunk size line of %zu bytes is refused (%s %u %s)",
			   n, r.events, r.status, r.reason ? r.reason : "");
	}
}

/* ---- refused requests ---- */

struct bad {
	const char *what;
	const char *req;
	unsigned int status;
};

#define H11 " HTTP/1.1\r\nHost: h\r\n"

static const struct bad smuggling[] = {
	{ "CL and TE", "POST /" H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
	{ "TE and CL", "POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400 },
	{ "two equal CL", "POST /" H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400 },
	{ "two different CL", "POST /" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400 },
	{ "CL list 5, 5", "POST /" H11 "Content-Length: 5, 5\r\n\r\nhello", 400 },
	{ "CL with sign", "POST /" H11 "Content-Length: +5\r\n\r\nhello", 400 },
	{ "CL hex", "POST /" H11 "Content-Length: 0x5\r\n\r\nhello", 400 },
	{ "CL empty", "POST /" H11 "Content-Length:\r\n\r\n", 400 },
	{ "CL overflow", "POST /" H11 "Content-Length: 18446744073709551616\r\n\r\n", 400 },
	{ "CL 2^64-1", "POST /" H11 "Content-Length: 18446744073709551615\r\n\r\n", 400 },
	{ "TE gzip, chunked", "POST /" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 400 },
	{ "TE chunked, chunked", "POST /" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 400 },
	{ "TE xchunked", "POST /" H11 "Transfer-Encoding: xchunked\r\n\r\n", 400 },
	{ "TE empty", "POST /" H11 "Transfer-Encoding:\r\n\r\n", 400 },
	{ "TE chunked then identity", "POST /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 400 },
	{ "TE twice chunked", "POST /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
	{ "TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
	{ "TE with vertical tab", "POST /" H11 "Transfer-Encoding: \vchunked\r\n\r\n", 400 },
	{ "chunk size not hex", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk size overflow", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx\r\n0\r\n\r\n", 400 },
	{ "chunk size with LF only", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk data ends with LF only", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400 },
	{ "chunk extension with bare CR", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a=b\rc\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk extension with bare LF", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk extension, empty value", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk extension, no name", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk extension, name not a token", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a@b\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk extension, space in a token value", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a=b c\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk extension, whitespace before CRLF", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a=b \r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk size, whitespace before CRLF", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk size, whitespace before it", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk extension, unterminated quoted value", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk extension, control character in a quoted value", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk extension, bare LF after BWS", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5 \n;a\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk extension, two equals", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n5;a==b\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk size with a sign", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk size 0x prefix", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400 },
	{ "chunk data longer than its size", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400 },
	{ "last chunk with LF only", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n0\n\r\n", 400 },
	{ "trailer field", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n\r\n", 400 },
	{ "obs-fold", "GET /" H11 "X-A: a\r\n b\r\n\r\n", 400 },
	{ "obs-fold with HT", "GET /" H11 "X-A: a\r\n\tb\r\n\r\n", 400 },
	{ "bare LF ending a header", "GET /" H11 "X-A: a\n\r\n", 400 },
	{ "bare LF ending the request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400 },
	{ "bare LF ending the head", "GET /" H11 "\n", 400 },
	{ "bare CR in a value", "GET /" H11 "X-A: a\rb\r\n\r\n", 400 },
	{ "space before colon", "GET /" H11 "Content-Length : 5\r\n\r\nhello", 400 },
	{ "tab before colon", "GET /" H11 "X-A\t: a\r\n\r\n", 400 },
	{ "NUL in a value", "GET /" H11 "X-A: a\0b\r\n\r\n", 400 },
	{ "control character in a value", "GET /" H11 "X-A: a\x01" "b\r\n\r\n", 400 },
	{ "DEL in a value", "GET /" H11 "X-A: a\x7f" "b\r\n\r\n", 400 },
	{ "invalid header name", "GET /" H11 "X(A): a\r\n\r\n", 400 },
	{ "invalid method character", "G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "lower-case method (unknown)", "get / HTTP/1.1\r\nHost: h\r\n\r\n", 501 },
	{ "unknown method", "FROB / HTTP/1.1\r\nHost: h\r\n\r\n", 501 },
	{ "space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "control character in target", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "non-ASCII in target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "fragment in target", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "target not origin form", "GET a HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "asterisk for GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400 },
	{ "two Host fields", "GET /" H11 "Host: h\r\n\r\n", 400 },
	{ "two different Host fields", "GET /" H11 "Host: evil\r\n\r\n", 400 },
	{ "empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400 },
	{ "Host with a slash", "GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", 400 },
	{ "absolute form, other authority", "GET http://evil/ HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "absolute form with userinfo", "GET http://u@h/ HTTP/1.1\r\nHost: u@h\r\n\r\n", 400 },
	{ "HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505 },
	{ "HTTP/0.9 request line", "GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505 },
	{ "HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505 },
	{ "HTTP/0.9 simple request", "GET /\r\n\r\n", 505 },
	{ "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505 },
	{ "CONNECT", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501 },
	{ "lower-case http version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "two spaces in the request line", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "leading space before the method", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
	{ "Connection: close then more", "GET /" H11 "Connection: close\r\n\r\nGET /" H11 "\r\n", 400 },
};

static void test_smuggling(void)
{
	size_t i;

	for (i = 0; i < sizeof(smuggling) / sizeof(smuggling[0]); i++) {
		const struct bad *b = &smuggling[i];
		/* a NUL inside: the length is up to the blank line */
		size_t len = strlen(b->req);
		struct exlb_http_parser p;
		struct run whole, bytes;

		if (strstr(b->what, "NUL"))
			len = sizeof("GET /" H11 "X-A: a\0b\r\n\r\n") - 1;
		exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
		run(&p, b->req, len, 0, &whole);
		exlb_http_parser_release(&p);
		exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
		run(&p, b->req, len, 1, &bytes);
		exlb_http_parser_release(&p);
		ok(strchr(whole.events, 'X') && whole.status == b->status &&
		   strchr(bytes.events, 'X') && bytes.status == b->status,
		   "refused: %s -> %u (%s: %s; byte by byte %s %u)", b->what,
		   b->status, whole.events, whole.reason ? whole.reason : "-",
		   bytes.events, bytes.status);
	}
}

static void test_accepted(void)
{
	static const struct {
		const char *what, *req, *events;
	} good[] = {
		{ "TE Chunked (case)", "POST /" H11 "Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", "HE" },
		{ "absolute form, same authority", "GET http://H/x?y HTTP/1.1\r\nHost: h\r\n\r\n", "HE" },
		{ "OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "HE" },
		{ "CL 0", "POST /" H11 "Content-Length: 0\r\n\r\n", "HE" },
		{ "Host with port and IPv6", "GET / HTTP/1.1\r\nHost: [fd00::1]:443\r\n\r\n", "HE" },
		{ "obs-text in a value", "GET /" H11 "X-A: \xc3\xa9t\xc3\xa9\r\n\r\n", "HE" },
		{ "upgrade request", "GET /ws" H11 "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "HE" },
	};
	size_t i;
	struct run r;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		run_str(EXLB_HTTP_REQUEST, good[i].req, 0, &r);
		ok(!strcmp(r.events, good[i].events), "accepted: %s (%s %s)",
		   good[i].what, r.events, r.reason ? r.reason : "");
	}
}

/* ---- 431 ---- */

static void test_too_big(void)
{
	struct exlb_http_parser p;
	char *big = malloc(64 * 1024);
	size_t c, n, i;
	enum exlb_http_event ev = EXLB_HTTP_NEED_MORE;

	/* a header line of 8 KB + 1: refused before the head ends */
	n = (size_t)sprintf(big, "GET /" H11 "X-Big: ");
	memset(big + n, 'a', 8200);
	n += 8200;
	exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
	ev = exlb_http_feed(&p, big, n, &c);
	ok(ev == EXLB_HTTP_ERROR && p.error_status == 431,
	   "header line over 8 KB: 431 without the end of the head (%u)",
	   p.error_status);
	exlb_http_parser_release(&p);

	/* a head of many 4 KB lines: refused as soon as 32 KB are passed */
	exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
	n = (size_t)sprintf(big, "GET /" H11);
	ev = exlb_http_feed(&p, big, n, &c);
	for (i = 0; i < 20 && ev == EXLB_HTTP_NEED_MORE; i++) {
		n = (size_t)sprintf(big, "X-%zu: ", i);
		memset(big + n, 'b', 4000);
		n += 4000;
		memcpy(big + n, "\r\n", 2);
		n += 2;
		ev = exlb_http_feed(&p, big, n, &c);
	}
	ok(ev == EXLB_HTTP_ERROR && p.error_status == 431 && i == 9,
	   "head over 32 KB: 431 at the feed that passes it (feed %zu)", i);
	exlb_http_parser_release(&p);

	/* 101 headers */
	n = (size_t)sprintf(big, "GET /" H11);
	for (i = 0; i < 100; i++)
		n += (size_t)sprintf(big + n, "X-%zu: v\r\n", i);
	n += (size_t)sprintf(big + n, "\r\n");
	exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
	ev = exlb_http_feed(&p, big, n, &c);
	ok(ev == EXLB_HTTP_ERROR && p.error_status == 431,
	   "101 header fields: 431 (%u)", p.error_status);
	exlb_http_parser_release(&p);

	/* exactly 100 headers is fine */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
	for (i = 0; i < 99; i++)
		n += (size_t)sprintf(big + n, "X-%zu: v\r\n", i);
	n += (size_t)sprintf(big + n, "Host: h\r\n\r\n");
	exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
	ev = exlb_http_feed(&p, big, n, &c);
	ok(ev == EXLB_HTTP_HEAD && p.head.nr_headers == 100,
	   "100 header fields accepted");
	exlb_http_parser_release(&p);

	/* a response head too big: 502 */
	n = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\nX: ");
	memset(big + n, 'c', 40000);
	n += 40000;
	exlb_http_parser_init(&p, EXLB_HTTP_RESPONSE);
	ev = exlb_http_feed(&p, big, n, &c);
	ok(ev == EXLB_HTTP_ERROR && p.error_status == 502,
	   "response head too big: 502 (%u)", p.error_status);
	exlb_http_parser_release(&p);
	free(big);
}

/* ---- responses ---- */

static void test_responses(void)
{
	struct exlb_http_parser p;
	struct run r;

	exlb_http_parser_init(&p, EXLB_HTTP_RESPONSE);
	exlb_http_expect_no_body(&p);
	{
		static const char s[] =
			"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab";

		run(&p, s, strlen(s), 0, &r);
	}
	ok(!strcmp(r.events, "HEHE") && r.body_len == 2,
	   "response to HEAD has no body despite Content-Length (%s)",
	   r.events);
	exlb_http_parser_release(&p);

	run_str(EXLB_HTTP_RESPONSE,
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
		"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, &r);
	ok(!strcmp(r.events, "HEHEHE") && r.body_len == 0 &&
	   strstr(r.heads, "[204 No Content") && strstr(r.heads, "[304 Not Modified"),
	   "204 and 304 have no body (%s)", r.events);

	run_str(EXLB_HTTP_RESPONSE,
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		0, &r);
	ok(!strcmp(r.events, "HEHE") && strstr(r.heads, "[100 Continue") &&
	   r.body_len == 13, "100 Continue then a chunked 200 (%s)", r.events);

	exlb_http_parser_init(&p, EXLB_HTTP_RESPONSE);
	exlb_http_expect_no_body(&p);
	{
		static const char s[] = "HTTP/1.1 100 Continue\r\n\r\n"
			"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n";

		run(&p, s, strlen(s), 1, &r);
	}
	ok(!strcmp(r.events, "HEHE"),
	   "HEAD: 100 Continue keeps the no-body mark for the final response (%s)",
	   r.events);
	exlb_http_parser_release(&p);

	run_str(EXLB_HTTP_RESPONSE,
		"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nsome body until close",
		4, &r);
	ok(!strcmp(r.events, "H") && r.body_len == 21 &&
	   strstr(r.heads, "ka=0"), "read-until-close response (%s, %zu)",
	   r.events, r.body_len);
	exlb_http_parser_init(&p, EXLB_HTTP_RESPONSE);
	{
		size_t c;

		exlb_http_feed(&p, "HTTP/1.0 200 OK\r\n\r\n", 19, &c);
		ok(exlb_http_body_left(&p) == EXLB_HTTP_BODY_UNKNOWN &&
		   !p.head.keep_alive, "read-until-close: body_left unknown");
	}
	exlb_http_parser_release(&p);

	run_str(EXLB_HTTP_RESPONSE,
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\n\r\n\x81\x05hello", 0, &r);
	ok(!strcmp(r.events, "U") && r.body_len == 7,
	   "101: UPGRADE, the rest is tunnel data (%s %zu)", r.events,
	   r.body_len);

	run_str(EXLB_HTTP_RESPONSE,
		"HTTP/1.1 302 Found\r\nLocation: /owa/\r\nContent-Length: 0\r\n\r\n",
		1, &r);
	ok(!strcmp(r.events, "HE") && strstr(r.heads, "<Location=/owa/>"),
	   "302 byte by byte");

	run_str(EXLB_HTTP_RESPONSE,
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 0, &r);
	ok(!strcmp(r.events, "X") && r.status == 502,
	   "response with CL and TE: 502 (%u)", r.status);
	run_str(EXLB_HTTP_RESPONSE,
		"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 0, &r);
	ok(!strcmp(r.events, "X") && r.status == 502,
	   "response with a bare LF: 502");
	run_str(EXLB_HTTP_RESPONSE, "HTTP/1.1 2000 OK\r\n\r\n", 0, &r);
	ok(!strcmp(r.events, "X") && r.status == 502, "status 2000: 502");
	run_str(EXLB_HTTP_RESPONSE, "HTTP/2.0 200 OK\r\n\r\n", 0, &r);
	ok(!strcmp(r.events, "X") && r.status == 502, "HTTP/2.0 response: 502");
	run_str(EXLB_HTTP_RESPONSE,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, &r);
	ok(!strcmp(r.events, "X") && r.status == 502,
	   "response TE gzip: 502");
}

/* ---- building heads ---- */

static int parse_one(struct exlb_http_parser *p, enum exlb_http_kind kind,
		     const char *s)
{
	size_t c;

	exlb_http_parser_init(p, kind);
	return exlb_http_feed(p, s, strlen(s), &c) == EXLB_HTTP_HEAD ||
		p->upgraded;
}

static void test_build(void)
{
	struct exlb_http_parser p;
	struct exlb_buf out = { 0 };
	struct exlb_http_fwd_opts fwd = {
		.client_addr = "198.18.0.1", .x_forwarded_for = true,
		.x_clientside = true, .via = true, .expect100 = 2,
	};
	struct exlb_http_edit edits[] = {
		{ EXLB_HTTP_EDIT_DEL, "X-Drop", NULL },
		{ EXLB_HTTP_EDIT_SET, "X-Set", "new" },
		{ EXLB_HTTP_EDIT_ADD, "X-Added", "1" },
	};
	static const char expect[] =
		"POST /ews/exchange.asmx HTTP/1.1\r\n"
		"Host: mail.example.com\r\n"
		"X-Forwarded-For: 203.0.113.9, 198.18.0.1\r\n"
		"Content-Length: 4\r\n"
		"X-Set: new\r\n"
		"Expect: 100-continue\r\n"
		"Via: 1.1 proxy1, 1.1 exlb\r\n"
		"X-Added: 1\r\n"
		"X-ClientSide: 198.18.0.1\r\n"
		"\r\n";
	int r;

	ok(parse_one(&p, EXLB_HTTP_REQUEST,
		     "POST /ews/exchange.asmx HTTP/1.1\r\n"
		     "Host: mail.example.com\r\n"
		     "Connection: keep-alive, X-Secret\r\n"
		     "Keep-Alive: timeout=5\r\n"
		     "X-Forwarded-For: 203.0.113.9\r\n"
		     "Proxy-Connection: keep-alive\r\n"
		     "X-Secret: s\r\n"
		     "TE: trailers\r\n"
		     "Content-Length: 4\r\n"
		     "X-Drop: d\r\n"
		     "X-Set: old\r\n"
		     "Upgrade: h2c\r\n"
		     "Expect: 100-continue\r\n"
		     "Via: 1.1 proxy1\r\n"
		     "X-ClientSide: forged\r\n"
		     "\r\n"), "sample request parsed");
	r = exlb_http_build_request(&p.head, edits, 3, &fwd, &out);
	ok(!r && out.len == strlen(expect) && !memcmp(out.data, expect, out.len),
	   "build_request: hop-by-hop dropped, edits, XFF appended, Via");
	if (r || out.len != strlen(expect) || memcmp(out.data, expect, out.len))
		printf("# got:\n%.*s", (int)out.len, out.data);
	ok(!exlb_http_proxy_answers_100(&p.head, 2) &&
	   exlb_http_proxy_answers_100(&p.head, 1) &&
	   !exlb_http_proxy_answers_100(&p.head, 0),
	   "the proxy answers 100 itself only for expect100=1");
	out.len = 0;
	fwd.expect100 = 1;
	r = exlb_http_build_request(&p.head, NULL, 0, &fwd, &out);
	ok(!r && !memmem(out.data, out.len, "Expect", 6),
	   "expect100=1: Expect not forwarded");
	fwd.expect100 = 2;
	exlb_http_parser_release(&p);

	ok(parse_one(&p, EXLB_HTTP_REQUEST,
		     "POST / HTTP/1.1\r\nHost: h\r\nConnection: Content-Length, Transfer-Encoding, Host\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n"), "parsed");
	out.len = 0;
	r = exlb_http_build_request(&p.head, NULL, 0, NULL, &out);
	ok(!r && out.len == strlen("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n") &&
	   !memcmp(out.data, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", out.len),
	   "Connection cannot drop Transfer-Encoding or Host");
	exlb_http_parser_release(&p);

	ok(parse_one(&p, EXLB_HTTP_REQUEST,
		     "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
	   "upgrade request parsed");
	out.len = 0;
	r = exlb_http_build_request(&p.head, NULL, 0, NULL, &out);
	ok(!r && out.len == strlen("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n") &&
	   !memcmp(out.data, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", out.len),
	   "upgrade request keeps Upgrade and Connection: upgrade");
	if (r || out.len != 70)
		printf("# got:\n%.*s", (int)out.len, out.data);
	exlb_http_parser_release(&p);

	ok(parse_one(&p, EXLB_HTTP_REQUEST,
		     "RPC_OUT_DATA /rpc/rpcproxy.dll?a:6001 HTTP/1.1\r\nHost: h\r\nContent-Length: 76\r\n\r\n"),
	   "RPC_OUT_DATA parsed");
	out.len = 0;
	r = exlb_http_build_request(&p.head, NULL, 0, NULL, &out);
	ok(!r && out.len > 13 && !memcmp(out.data, "RPC_OUT_DATA /rpc/rpcproxy.dll?a:6001 HTTP/1.1\r\n", 48),
	   "RPC_OUT_DATA request line rebuilt as sent");
	{
		struct exlb_http_edit bad = { EXLB_HTTP_EDIT_ADD, "X-A", "a\r\nb" };

		ok(exlb_http_build_request(&p.head, &bad, 1, NULL, &out) == -EINVAL,
		   "an edit value with CRLF: -EINVAL");
	}
	exlb_http_parser_release(&p);

	ok(parse_one(&p, EXLB_HTTP_RESPONSE,
		     "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
		     "Content-Length: 2\r\nStrict-Transport-Security: max-age=1\r\n\r\n"),
	   "response parsed");
	out.len = 0;
	r = exlb_http_build_response(&p.head, NULL, 0, true, 31536000, &out);
	ok(!r && out.len == strlen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\nStrict-Transport-Security: max-age=31536000\r\n\r\n") &&
	   !memcmp(out.data, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\nStrict-Transport-Security: max-age=31536000\r\n\r\n", out.len),
	   "build_response: close, HSTS, hop-by-hop dropped");
	exlb_http_parser_release(&p);

	ok(parse_one(&p, EXLB_HTTP_REQUEST,
		     "GET /owa/auth/logon.aspx?url=x%20y HTTP/1.1\r\nHost: mail.example.com\r\n\r\n"),
	   "request for a redirect parsed");
	out.len = 0;
	r = exlb_http_build_error(302, "https://%h%s?100%%", &p.head, true, &out);
	{
		static const char e[] =
			"HTTP/1.1 302 Found\r\n"
			"Location: https://mail.example.com/owa/auth/logon.aspx?url=x%20y?100%\r\n"
			"Content-Length: 0\r\nConnection: close\r\n\r\n";

		ok(!r && out.len == strlen(e) && !memcmp(out.data, e, out.len),
		   "build_error 302 with %%h%%s and %%%%");
		if (r || out.len != strlen(e) || memcmp(out.data, e, out.len))
			printf("# got:\n%.*s", (int)out.len, out.data);
	}
	exlb_http_parser_release(&p);

	out.len = 0;
	r = exlb_http_build_error(302, "https://%h%s", NULL, false, &out);
	ok(!r && strstr(out.data, "Location: https://\r\n"),
	   "302 without a request: %%h and %%s empty");

	out.len = 0;
	r = exlb_http_build_error(503, NULL, NULL, false, &out);
	{
		static const char e[] =
			"HTTP/1.1 503 Service Unavailable\r\n"
			"Content-Type: text/plain\r\nContent-Length: 19\r\n\r\n"
			"Service Unavailable";

		ok(!r && out.len == strlen(e) && !memcmp(out.data, e, out.len),
		   "build_error 503 with the reason as text");
	}
	out.len = 0;
	r = exlb_http_build_error(503, "Down for maintenance", NULL, true, &out);
	ok(!r && out.len > 20 && !memcmp(out.data + out.len - 20, "Down for maintenance", 20) &&
	   strstr(out.data, "Content-Length: 20\r\nConnection: close\r\n"),
	   "build_error 503 with a text");
	exlb_buf_free(&out);
}

/* ---- Basic credentials ---- */

static char cu[64], cp[64];
static size_t cul, cpl;

/* exlb_http_basic_credentials() on @value with caps 16 (user) and 32 (password). */
static bool creds(const char *value)
{
	memset(cu, 'X', sizeof(cu));
	memset(cp, 'X', sizeof(cp));
	cul = cpl = 99;
	return exlb_http_basic_credentials(value, strlen(value), cu, 16, &cul,
					   cp, 32, &cpl);
}

/* "Basic " and the base64 of @n bytes of @raw. */
static const char *basic_of(const char *raw, size_t n)
{
	static char out[8192];

	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)raw, (int)n);
	return out;
}

static bool got(const char *user, const char *pw)
{
	return cul == strlen(user) && !strcmp(cu, user) &&
	       cpl == strlen(pw) && !strcmp(cp, pw);
}

static void test_basic_credentials(void)
{
	static const char *const bad[] = {
		/* scheme and blanks */
		"", "Basic", "Basic ", "Basic  \\t ", "BasicYWxpY2U6cHc=",
		"Basic-YWxpY2U6cHc=", "Basics YWxpY2U6cHc=", "Bearer YWxpY2U6cHc=",
		" Basic YWxpY2U6cHc=", "Basic YWxp Y2U6cHc=", "Basic YWxpY2U6\\tcHc=",
		/* padding */
		"Basic YWxpY2U6cHc", "Basic YWxpY2U6cHc==", "Basic YWxpY2U6cA=",
		"Basic YWxpY2U6cA", "Basic YW=xY2U6cHc=", "Basic YWxpY2U6cHc=YWxp",
		"Basic YWxpY2U6c===", "Basic ====", "Basic =", "Basic YQ=a",
		/* pad bits not zero: "YWxpY2U6cHd=" would also decode to alice:pw */
		"Basic YWxpY2U6cHd=", "Basic YWxpY2U6cB==",
		/* alphabet */
		"Basic YWxp!2U6cHc=", "Basic YWxpY2U6c-_=", "Basic YWxpY2U6cHc=\\r",
		NULL,
	};
	static char bigraw[EXLB_HTTP_BASIC_MAX + 1];
	static char bigu[EXLB_HTTP_BASIC_MAX + 1], bigp[EXLB_HTTP_BASIC_MAX + 1];
	char raw[64];

	ok(creds("Basic YWxpY2U6YWxpY2UtcHc=") && got("alice", "alice-pw"),
	   "Basic alice:alice-pw decoded (%zu, %zu)", cul, cpl);
	ok(creds("basic YWxpY2U6cHc=") && got("alice", "pw") &&
	   creds("BASIC YWxpY2U6cHc=") && got("alice", "pw") &&
	   creds("bAsIc YWxpY2U6cHc=") && got("alice", "pw"),
	   "the scheme is case-insensitive");
	ok(creds("Basic    YWxpY2U6cHc=") && got("alice", "pw") &&
	   creds("Basic\tYWxpY2U6cHc= \t ") && got("alice", "pw"),
	   "blanks (SP, HTAB) after the scheme and at the end are skipped");
	ok(creds("Basic OmE6Yg==") && got("", "a:b"),
	   "the first ':' splits: empty user, password 'a:b'");
	ok(creds("Basic YWxpY2U6") && got("alice", ""),
	   "an empty password is the caller's to refuse (decoded as '')");
	ok(creds("Basic asO8cmdlbjpww6Rzcw==") && got("j\xc3\xbcrgen", "p\xc3\xa4ss"),
	   "UTF-8 bytes pass (j\xc3\xbcrgen:p\xc3\xa4ss)");
	for (int i = 0; bad[i]; i++) {
		char v[128];
		size_t k = 0;

		/* the table spells TAB and CR as \t, \r */
		for (const char *c = bad[i]; *c && k < sizeof(v) - 1; c++) {
			if (c[0] == '\\' && (c[1] == 't' || c[1] == 'r'))
				v[k++] = *++c == 't' ? '\t' : '\r';
			else
				v[k++] = *c;
		}
		v[k] = '\0';
		ok(!creds(v) && cul == 99 && cpl == 99 && cu[0] == 'X' && cp[0] == 'X',
		   "refused, outputs untouched: '%s'", bad[i]);
	}
	ok(!creds(basic_of("alice\0:pw", 9)) && !creds(basic_of("alice:p\0w", 9)) &&
	   !creds(basic_of("alice:pw\0", 9)), "a NUL in the user or the password: refused");
	ok(!creds(basic_of("alice:p\tw", 9)) && !creds(basic_of("al\x7f" "ice:pw", 9)) &&
	   !creds(basic_of("alice:pw\r\n", 10)) && !creds(basic_of("\x1b" "alice:pw", 9)),
	   "control characters (HTAB, DEL, CR LF, ESC): refused");
	ok(!creds(basic_of("alice", 5)) && !creds(basic_of("", 0)),
	   "no ':' (or nothing at all): refused");

	memset(raw, 'u', 16);
	raw[16] = ':';
	memset(raw + 17, 'p', 32);
	ok(creds(basic_of(raw, 49)) && cul == 16 && cpl == 32 && !cu[16] && !cp[32],
	   "user and password at their caps (16, 32): decoded, NUL-terminated");
	memmove(raw + 1, raw, 49);
	ok(!creds(basic_of(raw, 50)), "a user one byte over its cap: refused");
	memmove(raw, raw + 1, 49);
	raw[49] = 'p';
	ok(!creds(basic_of(raw, 50)), "a password one byte over its cap: refused");
	/* a valid "u:ppp..." of EXLB_HTTP_BASIC_MAX bytes, then one more */
	bigraw[0] = 'u';
	bigraw[1] = ':';
	memset(bigraw + 2, 'p', sizeof(bigraw) - 2);
	ok(exlb_http_basic_credentials(basic_of(bigraw, EXLB_HTTP_BASIC_MAX),
				       strlen(basic_of(bigraw, EXLB_HTTP_BASIC_MAX)),
				       bigu, sizeof(bigu) - 1, &cul, bigp, sizeof(bigp) - 1, &cpl) &&
	   cul == 1 && cpl == EXLB_HTTP_BASIC_MAX - 2,
	   "EXLB_HTTP_BASIC_MAX bytes decoded with caps big enough: accepted");
	ok(!exlb_http_basic_credentials(basic_of(bigraw, EXLB_HTTP_BASIC_MAX + 1),
					strlen(basic_of(bigraw, EXLB_HTTP_BASIC_MAX + 1)),
					bigu, SIZE_MAX / 4, &cul, bigp, SIZE_MAX / 4, &cpl),
	   "one byte over EXLB_HTTP_BASIC_MAX, whatever the caps: refused (no overflow)");
}

int main(void)
{
	test_split();
	test_pipeline();
	test_bodies();
	test_chunk_ext();
	test_body_skipped();
	test_smuggling();
	test_accepted();
	test_too_big();
	test_responses();
	test_build();
	test_basic_credentials();
	printf("1..%d\n", nr_test);
	return nr_fail ? 1 : 0;
}
