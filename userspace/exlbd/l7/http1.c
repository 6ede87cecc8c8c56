// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * HTTP/1.x framing for the L7 proxy (API and events: http1.h; what is
 * refused and why: docs/http.md).
 *
 * llhttp (built with LLHTTP_STRICT_MODE, no lenient flag) parses the head
 * and chunked bodies. Everything that decides where a message ends is
 * checked a second time here, on the raw bytes, because a proxy that frames
 * a message differently from the server behind it is the whole of request
 * smuggling: one Content-Length or exactly "Transfer-Encoding: chunked",
 * CRLF line ends only, no obs-fold, no control characters.
 *
 * The head is copied into headbuf before llhttp sees it, and llhttp is run
 * on that copy, so every span it reports points into headbuf: the callbacks
 * keep offsets (a span split over several feeds simply grows), pointers are
 * made when the head is complete. llhttp is paused in on_headers_complete
 * so that one feed reports one event, and never sees a body: bodies of
 * known length (and the read-until-close ones) are counted here, chunked
 * ones are framed here (feed_chunked(): llhttp 8's chunk extension parser
 * refuses valid lists and BWS, and accepts empty values), and llhttp is
 * re-inited for every message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "http1.h"
#include "config/hex.h"

#define MAX_LINE	8192	/* one head line; longer: 431 */
#define SMALL_HEAD	8192	/* a bigger head buffer is freed between heads */

enum { PH_HEAD, PH_BODY, PH_CLOSED, PH_TUNNEL, PH_ERROR };
enum { BK_NONE, BK_LENGTH, BK_CHUNKED, BK_EOF };
/* hstate: where the header callbacks are */
enum { HS_NEW, HS_FIELD, HS_FIELD_DONE, HS_VALUE };
/* cstate: where in chunk framing (feed_chunked()) */
enum {
	CS_SIZE0,	/* first hex digit of a size */
	CS_SIZE,	/* more hex digits */
	CS_EXT,		/* after the size or a value: BWS ";" or CR */
	CS_EXT_NAME0,	/* after ";": BWS, then a name */
	CS_EXT_NAME,	/* in a name, or BWS after it */
	CS_EXT_VAL0,	/* after "=": BWS, then a token or a quoted-string */
	CS_EXT_TOKEN,
	CS_EXT_QUOTED,
	CS_EXT_QPAIR,	/* after a backslash in a quoted-string */
	CS_SIZE_LF,
	CS_DATA,
	CS_DATA_CR,
	CS_DATA_LF,
	CS_LAST,	/* after the last chunk's size line: CR (no trailer) */
	CS_LAST_LF,
};

/* ---- small helpers ---- */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool ieq(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen; i++)
		if (!b[i] || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return b[alen] == '\0';
}

static bool ieqn(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool is_token(const char *s, size_t len)
{
	size_t i;

	if (!len)
		return false;
	for (i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

static enum exlb_http_event fail(struct exlb_http_parser *p,
				 unsigned int status, const char *reason)
{
	/* a malformed response is the server's fault: the client gets 502 */
	p->error_status = p->kind == EXLB_HTTP_RESPONSE ? 502 : status;
	p->error_reason = reason;
	p->phase = PH_ERROR;
	return EXLB_HTTP_ERROR;
}

/* Records an error from inside a callback (llhttp then stops). */
static int cb_fail(struct exlb_http_parser *p, unsigned int status,
		   const char *reason)
{
	if (!p->error_status) {
		p->error_status = status;
		p->error_reason = reason;
	}
	return -1;
}

/* ---- llhttp callbacks ---- */

static struct exlb_http_parser *P(llhttp_t *ll)
{
	return ll->data;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
	struct exlb_http_parser *p = P(ll);
	size_t off = (size_t)(at - p->headbuf);

	if (!p->url_len && !p->url_off)
		p->url_off = off;
	p->url_len = off + len - p->url_off;
	return 0;
}

static int on_status(llhttp_t *ll, const char *at, size_t len)
{
	struct exlb_http_parser *p = P(ll);
	size_t off = (size_t)(at - p->headbuf);

	if (!p->reason_len && !p->reason_off)
		p->reason_off = off;
	p->reason_len = off + len - p->reason_off;
	return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct exlb_http_parser *p = P(ll);
	size_t off, n;

	/* llhttp is never run past the head (trailers: feed_chunked()) */
	if (p->head_done)
		return cb_fail(p, 400, "header field after the head");
	off = (size_t)(at - p->headbuf);
	if (p->hstate != HS_FIELD) {
		if (p->nr_hdr == EXLB_HTTP_MAX_HEADERS)
			return cb_fail(p, 431, "too many header fields");
		n = p->nr_hdr++;
		p->hdr_off[n][0] = off;
		p->val_off[n][0] = off + len;
		p->val_off[n][1] = 0;
		p->hstate = HS_FIELD;
	}
	n = p->nr_hdr - 1;
	p->hdr_off[n][1] = off + len - p->hdr_off[n][0];
	return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
	struct exlb_http_parser *p = P(ll);

	/* an empty value (no on_header_value) sits right after the name */
	if (p->nr_hdr && !p->head_done) {
		size_t n = p->nr_hdr - 1;

		p->val_off[n][0] = p->hdr_off[n][0] + p->hdr_off[n][1];
	}
	p->hstate = HS_FIELD_DONE;
	return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct exlb_http_parser *p = P(ll);
	size_t off, n;

	if (p->head_done)
		return cb_fail(p, 400, "header field after the head");
	if (!p->nr_hdr)
		return cb_fail(p, 400, "header value without a name");
	off = (size_t)(at - p->headbuf);
	n = p->nr_hdr - 1;
	if (p->hstate != HS_VALUE) {
		p->val_off[n][0] = off;
		p->hstate = HS_VALUE;
	}
	p->val_off[n][1] = off + len - p->val_off[n][0];
	return 0;
}

static int on_headers_complete(llhttp_t *ll);


/* ---- raw byte checks ---- */

/*
 * The head's bytes as they arrive: CRLF only, no other control character
 * (HT is allowed, llhttp checks where), no obs-fold, lines of at most
 * MAX_LINE bytes. Returns 0 or the status to refuse with.
 */
static unsigned int scan_head(struct exlb_http_parser *p, size_t from,
			      size_t to)
{
	size_t i;

	for (i = from; i < to; i++) {
		unsigned char c = (unsigned char)p->headbuf[i];

		if (p->prev_cr && c != '\n') {
			p->error_reason = "CR without LF in the head";
			return 400;
		}
		if (c == '\n') {
			if (!p->prev_cr) {
				p->error_reason = "bare LF in the head";
				return 400;
			}
			p->prev_cr = false;
			p->line_len = 0;
			p->nr_lines++;
			continue;
		}
		if (c == '\r') {
			p->prev_cr = true;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			p->error_reason = "control character in the head";
			return 400;
		}
		if (p->line_len == 0 && p->nr_lines > 0 &&
		    (c == ' ' || c == '\t')) {
			p->error_reason = "obs-fold or leading whitespace";
			return 400;
		}
		if (++p->line_len > MAX_LINE) {
			p->error_reason = "header line longer than 8 KB";
			return 431;
		}
	}
	return 0;
}

/* ---- the head's semantics ---- */

static void trim(const char **s, size_t *len)
{
	while (*len && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/* Host: uri-host [ ":" port ], the characters of a reg-name or IP-literal */
static bool valid_host(const char *s, size_t len)
{
	size_t i;

	if (!len)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=:[]%", c)))
			return false;
	}
	return true;
}

static bool parse_length(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!len)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		/* EXLB_HTTP_BODY_UNKNOWN (UINT64_MAX) is never a length */
		if (v > (UINT64_MAX - 1 - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Length of "scheme://authority" when @t is in absolute form, else 0. */
static size_t absolute_prefix(const char *t, size_t len, size_t *auth_off,
			      size_t *auth_len)
{
	size_t s, i;

	if (len >= 7 && ieqn(t, 7, "http://", 7))
		s = 7;
	else if (len >= 8 && ieqn(t, 8, "https://", 8))
		s = 8;
	else
		return 0;
	for (i = s; i < len && t[i] != '/' && t[i] != '?'; i++)
		;
	*auth_off = s;
	*auth_len = i - s;
	return i;
}

static int check_target(struct exlb_http_parser *p, const char *host,
			size_t host_len)
{
	struct exlb_http_head *h = &p->head;
	const char *t = h->target;
	size_t i, len = h->target_len, aoff, alen;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)t[i];

		/* visible ASCII only; a fragment is never part of a target */
		if (c <= 0x20 || c >= 0x7f || c == '#')
			return cb_fail(p, 400, "invalid character in the target");
	}
	if (len && t[0] == '/')
		return 0;
	if (len == 1 && t[0] == '*' && h->method == HTTP_OPTIONS)
		return 0;
	if (absolute_prefix(t, len, &aoff, &alen)) {
		/*
		 * RFC 9112 3.2.2 says to use the target's authority and
		 * ignore Host; we would route and log on one and the server
		 * might use the other, so they must agree.
		 */
		if (!alen || memchr(t + aoff, '@', alen))
			return cb_fail(p, 400, "invalid authority in the target");
		if (!host || !ieqn(t + aoff, alen, host, host_len))
			return cb_fail(p, 400, "target authority differs from Host");
		return 0;
	}
	return cb_fail(p, 400, "invalid request target");
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t skip_empty_lines(const struct exlb_http_parser *p)
{
	size_t s = 0;

	while (s < p->head_len && (p->headbuf[s] == '\r' || p->headbuf[s] == '\n'))
		s++;
	return s;
}

/*
 * Exactly "method SP target SP HTTP/d.d CRLF": llhttp lets a second SP
 * through, which a server behind us may read differently.
 */
static int check_request_line(struct exlb_http_parser *p)
{
	const char *b = p->headbuf;
	size_t s = skip_empty_lines(p), t = p->url_off, e = t + p->url_len;

	if (t < s + 2 || b[t - 1] != ' ' || !is_token(b + s, t - 1 - s) ||
	    e + 10 > p->head_len || memcmp(b + e, " HTTP/", 6) ||
	    !is_digit(b[e + 6]) || b[e + 7] != '.' || !is_digit(b[e + 8]) ||
	    b[e + 9] != '\r')
		return cb_fail(p, 400, "malformed request line");
	return 0;
}

/* "HTTP/d.d SP ddd" then SP reason or the end of the line */
static int check_status_line(struct exlb_http_parser *p)
{
	const char *b = p->headbuf;
	size_t s = skip_empty_lines(p);

	if (s + 13 > p->head_len || memcmp(b + s, "HTTP/", 5) ||
	    !is_digit(b[s + 5]) || b[s + 6] != '.' || !is_digit(b[s + 7]) ||
	    b[s + 8] != ' ' || !is_digit(b[s + 9]) || !is_digit(b[s + 10]) ||
	    !is_digit(b[s + 11]) || (b[s + 12] != ' ' && b[s + 12] != '\r'))
		return cb_fail(p, 502, "malformed status line");
	return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
	struct exlb_http_parser *p = P(ll);
	struct exlb_http_head *h = &p->head;
	const char *host = NULL, *te = NULL, *cl = NULL;
	size_t host_len = 0, te_len = 0, cl_len = 0, i;
	unsigned int n_host = 0, n_te = 0, n_cl = 0;
	bool no_body = false;

	p->head_done = true;
	h->kind = p->kind;
	h->http_major = ll->http_major;
	h->http_minor = ll->http_minor;
	h->nr_headers = p->nr_hdr;
	for (i = 0; i < p->nr_hdr; i++) {
		struct exlb_http_header *x = &h->headers[i];

		x->name = p->headbuf + p->hdr_off[i][0];
		x->name_len = p->hdr_off[i][1];
		x->value = p->headbuf + p->val_off[i][0];
		x->value_len = p->val_off[i][1];
		trim(&x->value, &x->value_len);
		if (!is_token(x->name, x->name_len))
			return cb_fail(p, 400, "invalid header name");
		if (ieq(x->name, x->name_len, "host")) {
			n_host++;
			host = x->value;
			host_len = x->value_len;
		} else if (ieq(x->name, x->name_len, "transfer-encoding")) {
			n_te++;
			te = x->value;
			te_len = x->value_len;
		} else if (ieq(x->name, x->name_len, "content-length")) {
			n_cl++;
			cl = x->value;
			cl_len = x->value_len;
		} else if (ieq(x->name, x->name_len, "expect")) {
			h->expect_continue = ieqn(x->value, x->value_len,
						  "100-continue", 12);
		}
	}

	if (h->http_major != 1 || h->http_minor > 1)
		return cb_fail(p, 505, "HTTP version not supported");
	if (p->kind == EXLB_HTTP_REQUEST ? check_request_line(p) :
	    check_status_line(p))
		return -1;

	/* message framing: RFC 9112 6.1-6.3, without any leniency */
	if (n_cl > 1)
		return cb_fail(p, 400, "several Content-Length fields");
	if (n_te > 1)
		return cb_fail(p, 400, "several Transfer-Encoding fields");
	if (n_cl && n_te)
		return cb_fail(p, 400, "Content-Length with Transfer-Encoding");
	if (n_cl) {
		if (!parse_length(cl, cl_len, &h->content_length))
			return cb_fail(p, 400, "invalid Content-Length");
		h->has_content_length = true;
	}
	if (n_te) {
		if (h->http_minor == 0)
			return cb_fail(p, 400, "Transfer-Encoding in HTTP/1.0");
		if (!ieqn(te, te_len, "chunked", 7))
			return cb_fail(p, 400, "Transfer-Encoding other than chunked");
		/* llhttp must frame it the same way (it would not if it
		 * saw the value differently) */
		if (!(ll->flags & F_CHUNKED))
			return cb_fail(p, 400, "Transfer-Encoding not understood");
		h->chunked = true;
	}

	if (p->kind == EXLB_HTTP_REQUEST) {
		h->method = p->ext_method ? p->ext_method : ll->method;
		h->method_name = p->ext_method == EXLB_HTTP_METHOD_RPC_IN_DATA ?
			"RPC_IN_DATA" : p->ext_method ?
			"RPC_OUT_DATA" : llhttp_method_name(ll->method);
		h->target = p->headbuf + p->url_off;
		h->target_len = p->url_len;
		if (ll->method == HTTP_CONNECT && !p->ext_method)
			return cb_fail(p, 501, "CONNECT is not supported");
		if (n_host > 1)
			return cb_fail(p, 400, "several Host fields");
		if (!n_host && h->http_minor == 1)
			return cb_fail(p, 400, "no Host in an HTTP/1.1 request");
		if (n_host && !valid_host(host, host_len))
			return cb_fail(p, 400, "invalid Host");
		if (check_target(p, host, host_len))
			return -1;
		h->upgrade = ll->upgrade;
	} else {
		h->status = ll->status_code;
		h->reason = p->headbuf + p->reason_off;
		h->reason_len = p->reason_len;
		if (h->status < 100 || h->status > 599)
			return cb_fail(p, 502, "invalid status code");
		/*
		 * RFC 9112 6.3: no body for 1xx, 204, 304, and answers to
		 * HEAD, whatever the headers say.
		 */
		no_body = p->no_body_next || h->status / 100 == 1 ||
			h->status == 204 || h->status == 304;
		if (no_body)
			ll->flags |= F_SKIPBODY;
		/* 101 switches protocols, whatever Upgrade says */
		p->upgraded = h->status == 101;
		h->upgrade = p->upgraded;
		if (h->status >= 200)
			p->no_body_next = false;
	}

	h->keep_alive = llhttp_should_keep_alive(ll);
	if (no_body) {
		p->body_kind = BK_NONE;
	} else if (h->chunked) {
		p->body_kind = BK_CHUNKED;
	} else if (h->has_content_length) {
		p->body_kind = h->content_length ? BK_LENGTH : BK_NONE;
	} else if (p->kind == EXLB_HTTP_RESPONSE) {
		p->body_kind = BK_EOF;
		h->keep_alive = false;
	} else {
		p->body_kind = BK_NONE;
	}
	p->body_left = p->body_kind == BK_LENGTH ? h->content_length :
		p->body_kind == BK_NONE ? 0 : EXLB_HTTP_BODY_UNKNOWN;
	return HPE_PAUSED;	/* one event per feed: HEAD */
}

/* ---- the parser ---- */

static void ll_init(struct exlb_http_parser *p)
{
	llhttp_init(&p->ll, p->kind == EXLB_HTTP_REQUEST ? HTTP_REQUEST :
		    HTTP_RESPONSE, &p->settings);
	p->ll.data = p;
}

void exlb_http_parser_init(struct exlb_http_parser *p,
			   enum exlb_http_kind kind)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	llhttp_settings_init(&p->settings);
	p->settings.on_url = on_url;
	p->settings.on_status = on_status;
	p->settings.on_header_field = on_header_field;
	p->settings.on_header_field_complete = on_header_field_complete;
	p->settings.on_header_value = on_header_value;
	p->settings.on_headers_complete = on_headers_complete;
	ll_init(p);
	p->phase = PH_HEAD;
}

void exlb_http_parser_release(struct exlb_http_parser *p)
{
	free(p->headbuf);
	p->headbuf = NULL;
	p->head_len = p->head_cap = 0;
}

void exlb_http_wipe_after_head(struct exlb_http_parser *p)
{
	if (p->headbuf && p->head_cap > p->head_len)
		OPENSSL_cleanse(p->headbuf + p->head_len,
				p->head_cap - p->head_len);
}

void exlb_http_expect_no_body(struct exlb_http_parser *p)
{
	p->no_body_next = true;
}

/* The message is over: ready for the next one (or for nothing more). */
static void message_end(struct exlb_http_parser *p)
{
	ll_init(p);
	p->in_head = false;
	p->body_left = 0;
	p->phase = p->head.keep_alive ? PH_HEAD : PH_CLOSED;
}

static void head_start(struct exlb_http_parser *p)
{
	struct exlb_http_head *h = &p->head;

	if (p->head_cap > SMALL_HEAD) {
		free(p->headbuf);
		p->headbuf = NULL;
		p->head_cap = 0;
	}
	p->head_len = 0;
	memset(h, 0, offsetof(struct exlb_http_head, headers));
	h->nr_headers = 0;
	h->keep_alive = h->chunked = h->has_content_length = false;
	h->expect_continue = h->upgrade = false;
	h->content_length = 0;
	p->in_head = true;
	p->method_done = p->kind == EXLB_HTTP_RESPONSE;
	p->head_done = false;
	p->prev_cr = false;
	p->hstate = HS_NEW;
	p->ext_method = 0;
	p->ll_fed = 0;
	p->line_len = p->nr_lines = 0;
	p->url_off = p->url_len = p->reason_off = p->reason_len = 0;
	p->nr_hdr = 0;
	p->body_kind = BK_NONE;
	p->upgraded = false;
	p->cstate = CS_SIZE0;
	p->cws = false;
	p->chunk_line = 0;
	p->chunk_left = 0;
}

static bool reserve(struct exlb_http_parser *p, size_t need)
{
	size_t cap = p->head_cap ? p->head_cap : 1024;
	char *nb;

	if (need <= p->head_cap)
		return true;
	while (cap < need)
		cap *= 2;
	if (cap > EXLB_HTTP_MAX_HEAD)
		cap = EXLB_HTTP_MAX_HEAD;
	nb = realloc(p->headbuf, cap);
	if (!nb)
		return false;
	p->headbuf = nb;
	p->head_cap = cap;
	return true;
}

/*
 * Outlook Anywhere's RPC_IN_DATA / RPC_OUT_DATA are not llhttp methods:
 * llhttp is shown "POST" in their place (same framing rules: a body by
 * Content-Length or chunked). Waits until the method is complete.
 * Returns false while more bytes are needed.
 */
static const char fake_method[] = "POST";

static bool pick_method(struct exlb_http_parser *p, size_t *skip_from,
			size_t *skip_to)
{
	const char *b = p->headbuf;
	size_t s = 0, i;

	*skip_from = *skip_to = 0;
	/* empty lines before a request line are allowed (RFC 9112 2.2) */
	while (s < p->head_len && (b[s] == '\r' || b[s] == '\n'))
		s++;
	for (i = s; i < p->head_len && i - s <= 12 && b[i] != ' '; i++)
		;
	if (i == p->head_len && i - s <= 12)
		return false;
	if (i - s == 11 && !memcmp(b + s, "RPC_IN_DATA", 11))
		p->ext_method = EXLB_HTTP_METHOD_RPC_IN_DATA;
	else if (i - s == 12 && !memcmp(b + s, "RPC_OUT_DATA", 12))
		p->ext_method = EXLB_HTTP_METHOD_RPC_OUT_DATA;
	if (p->ext_method) {
		*skip_from = s;
		*skip_to = i;
	}
	return true;
}

static enum exlb_http_event ll_error(struct exlb_http_parser *p,
				     llhttp_errno_t err)
{
	if (p->error_status)
		return fail(p, p->error_status, p->error_reason);
	switch (err) {
	case HPE_INVALID_VERSION:
		return fail(p, 505, "invalid HTTP version");
	case HPE_PAUSED_H2_UPGRADE:
		/* "PRI * HTTP/2.0", the HTTP/2 preface: a version we do not
		 * speak, like any other (ALPN offers only http/1.1) */
		return fail(p, 505, "HTTP/2 preface");
	case HPE_INVALID_METHOD: {
		/* a well-formed token we do not know: 501; garbage: 400 */
		size_t i = skip_empty_lines(p);

		if (i == p->head_len || p->headbuf[i] == ' ')
			return fail(p, 400, "invalid method");
		for (; i < p->head_len && p->headbuf[i] != ' '; i++)
			if (!is_tchar((unsigned char)p->headbuf[i]))
				return fail(p, 400, "invalid method");
		return fail(p, 501, "unknown method");
	}
	default:
		return fail(p, 400, llhttp_get_error_reason(&p->ll));
	}
}

static enum exlb_http_event feed_head(struct exlb_http_parser *p,
				      const char *data, size_t len,
				      size_t *consumed)
{
	size_t old, n, end, from, to;
	llhttp_errno_t err = HPE_OK;
	unsigned int st;

	if (!len)
		return EXLB_HTTP_NEED_MORE;
	if (!p->in_head)
		head_start(p);
	old = p->head_len;
	n = EXLB_HTTP_MAX_HEAD - old;
	if (n > len)
		n = len;
	if (!n)
		return fail(p, 431, "head bigger than the limit");
	if (!reserve(p, old + n))
		return fail(p, 503, "out of memory");
	memcpy(p->headbuf + old, data, n);
	p->head_len += n;

	if (!p->method_done && pick_method(p, &from, &to)) {
		p->method_done = true;
		if (p->ext_method) {
			err = llhttp_execute(&p->ll, p->headbuf, from);
			if (err == HPE_OK)
				err = llhttp_execute(&p->ll, fake_method,
						     sizeof(fake_method) - 1);
			p->ll_fed = to;
		}
	}
	if (p->method_done && err == HPE_OK) {
		err = llhttp_execute(&p->ll, p->headbuf + p->ll_fed,
				     p->head_len - p->ll_fed);
		p->ll_fed = p->head_len;
	}

	end = p->head_len;
	if (err == HPE_PAUSED) {
		const char *ep = llhttp_get_error_pos(&p->ll);

		end = (size_t)(ep - p->headbuf);
		llhttp_resume(&p->ll);
	}
	/* the raw checks see exactly the bytes of this head */
	st = scan_head(p, old, end);
	if (st)
		return fail(p, st, p->error_reason);
	if (err != HPE_OK && err != HPE_PAUSED)
		return ll_error(p, err);
	if (err == HPE_OK) {
		if (p->head_len == EXLB_HTTP_MAX_HEAD)
			return fail(p, 431, "head bigger than the limit");
		*consumed = n;
		return EXLB_HTTP_NEED_MORE;
	}
	/* the head is complete (on_headers_complete checked it); it cannot
	 * end in bytes an earlier feed reported consumed */
	if (end <= old)
		return fail(p, 400, "head ended before this feed");
	p->head_len = end;
	*consumed = end - old;
	if (p->upgraded) {
		p->phase = PH_TUNNEL;
		return EXLB_HTTP_UPGRADE;
	}
	p->phase = PH_BODY;
	p->prev_cr = false;
	return EXLB_HTTP_HEAD;
}

/* ---- chunked bodies (RFC 9112 7.1) ---- */

/*
 * chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, the last chunk
 * "0" [ chunk-ext ] CRLF, then CRLF (trailer fields are refused: nothing
 * in Exchange sends them, and header lines forwarded without being looked
 * at are one more place for two parsers to differ).
 * chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ])
 * exactly; a size line (size and extensions) is at most
 * EXLB_HTTP_MAX_CHUNK_LINE bytes. The bytes are forwarded as they came.
 */
static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* qdtext (RFC 9110 5.6.4): HT, SP, VCHAR but '"' and '\', obs-text */
static bool is_qdtext(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f && c != '"' && c != '\\');
}

/* What may follow an extension item (or the size): BWS, ";", CR. */
static int ext_sep(struct exlb_http_parser *p, unsigned char c,
		   bool after_name)
{
	if (is_ws(c)) {
		p->cws = true;	/* BWS: must lead to ";" or "=" */
		return 0;
	}
	if (c == ';') {
		p->cstate = CS_EXT_NAME0;
		return 0;
	}
	if (c == '=' && after_name) {
		p->cstate = CS_EXT_VAL0;
		return 0;
	}
	if (c == '\r' && !p->cws) {
		p->cstate = CS_SIZE_LF;
		return 0;
	}
	return cb_fail(p, 400, "invalid chunk extension");
}

/* One byte of chunk framing: 0 on, 1 the body ended, -1 refused. */
static int chunk_byte(struct exlb_http_parser *p, unsigned char c)
{
	int d;

	if (p->cstate < CS_SIZE_LF) {
		if (c == '\n')
			return cb_fail(p, 400, "bare LF in chunk framing");
		/* the CR ending the line is not counted */
		if (c != '\r' && ++p->chunk_line > EXLB_HTTP_MAX_CHUNK_LINE)
			return cb_fail(p, 400, "chunk size line longer than 4 KB");
	}
	switch (p->cstate) {
	case CS_SIZE0:
	case CS_SIZE:
		d = exlb_hex_digit(c);
		if (d >= 0) {
			if (p->chunk_left > UINT64_MAX >> 4)
				return cb_fail(p, 400, "chunk size overflow");
			p->chunk_left = p->chunk_left << 4 | (uint64_t)d;
			p->cstate = CS_SIZE;
			return 0;
		}
		if (p->cstate == CS_SIZE0)
			return cb_fail(p, 400, "invalid chunk size");
		p->cstate = CS_EXT;
		p->cws = false;
		return ext_sep(p, c, false);
	case CS_EXT:
		return ext_sep(p, c, false);
	case CS_EXT_NAME0:
		if (is_ws(c))
			return 0;
		if (!is_tchar(c))
			return cb_fail(p, 400, "invalid chunk extension name");
		p->cstate = CS_EXT_NAME;
		p->cws = false;
		return 0;
	case CS_EXT_NAME:
		if (is_tchar(c) && !p->cws)
			return 0;
		return ext_sep(p, c, true);
	case CS_EXT_VAL0:
		if (is_ws(c))
			return 0;
		if (c == '"')
			p->cstate = CS_EXT_QUOTED;
		else if (is_tchar(c))
			p->cstate = CS_EXT_TOKEN;
		else
			return cb_fail(p, 400, "invalid chunk extension value");
		return 0;
	case CS_EXT_TOKEN:
		if (is_tchar(c))
			return 0;
		p->cstate = CS_EXT;
		p->cws = false;
		return ext_sep(p, c, false);
	case CS_EXT_QUOTED:
		if (c == '"') {
			p->cstate = CS_EXT;
			p->cws = false;
		} else if (c == '\\') {
			p->cstate = CS_EXT_QPAIR;
		} else if (!is_qdtext(c)) {
			return cb_fail(p, 400, "invalid chunk extension value");
		}
		return 0;
	case CS_EXT_QPAIR:
		/* quoted-pair: "\" ( HT / SP / VCHAR / obs-text ) */
		if (c != '\t' && (c < 0x20 || c == 0x7f))
			return cb_fail(p, 400, "invalid chunk extension value");
		p->cstate = CS_EXT_QUOTED;
		return 0;
	case CS_SIZE_LF:
		if (c != '\n')
			return cb_fail(p, 400, "CR without LF in chunk framing");
		p->cstate = p->chunk_left ? CS_DATA : CS_LAST;
		return 0;
	case CS_DATA_CR:
		if (c != '\r')
			return cb_fail(p, 400, "chunk data not followed by CRLF");
		p->cstate = CS_DATA_LF;
		return 0;
	case CS_DATA_LF:
		if (c != '\n')
			return cb_fail(p, 400, "CR without LF in chunk framing");
		p->cstate = CS_SIZE0;
		p->chunk_line = 0;
		return 0;
	case CS_LAST:
		if (c == '\r') {
			p->cstate = CS_LAST_LF;
			return 0;
		}
		return cb_fail(p, 400, is_tchar(c) ?
			       "trailer fields in a chunked body" :
			       "invalid end of a chunked body");
	case CS_LAST_LF:
		if (c != '\n')
			return cb_fail(p, 400, "CR without LF in chunk framing");
		return 1;
	default:
		return cb_fail(p, 400, "chunk framing state");
	}
}

static enum exlb_http_event feed_chunked(struct exlb_http_parser *p,
					 const char *data, size_t len,
					 size_t *consumed)
{
	size_t i = 0, n;
	int r;

	while (i < len) {
		if (p->cstate == CS_DATA) {
			n = len - i;
			if (n > p->chunk_left)
				n = (size_t)p->chunk_left;
			p->chunk_left -= n;
			i += n;
			if (!p->chunk_left)
				p->cstate = CS_DATA_CR;
			continue;
		}
		r = chunk_byte(p, (unsigned char)data[i++]);
		if (r < 0)
			return fail(p, p->error_status, p->error_reason);
		if (r > 0) {
			*consumed = i;
			message_end(p);
			return EXLB_HTTP_END;
		}
	}
	*consumed = len;
	return len ? EXLB_HTTP_BODY : EXLB_HTTP_NEED_MORE;
}

enum exlb_http_event exlb_http_feed(struct exlb_http_parser *p,
				    const char *data, size_t len,
				    size_t *consumed)
{
	size_t n;

	*consumed = 0;
	switch (p->phase) {
	case PH_HEAD:
		return feed_head(p, data, len, consumed);
	case PH_BODY:
		break;
	case PH_CLOSED:
		/* stray CRLFs after a body (old clients send them) are
		 * ignored; anything else was not to be sent */
		for (n = 0; n < len && (data[n] == '\r' || data[n] == '\n'); n++)
			;
		*consumed = n;
		if (n == len)
			return EXLB_HTTP_NEED_MORE;
		return fail(p, 400, "data after the connection's last message");
	case PH_TUNNEL:
		return fail(p, 400, "the connection was upgraded");
	default:
		return EXLB_HTTP_ERROR;
	}

	switch (p->body_kind) {
	case BK_NONE:
		message_end(p);
		return EXLB_HTTP_END;
	case BK_LENGTH:
		n = len < p->body_left ? len : (size_t)p->body_left;
		p->body_left -= n;
		*consumed = n;
		if (!p->body_left) {
			message_end(p);
			return EXLB_HTTP_END;
		}
		return n ? EXLB_HTTP_BODY : EXLB_HTTP_NEED_MORE;
	case BK_CHUNKED:
		return feed_chunked(p, data, len, consumed);
	default:	/* until the server closes */
		*consumed = len;
		return len ? EXLB_HTTP_BODY : EXLB_HTTP_NEED_MORE;
	}
}

uint64_t exlb_http_body_left(const struct exlb_http_parser *p)
{
	if (p->phase != PH_BODY)
		return 0;
	return p->body_left;
}

void exlb_http_body_skipped(struct exlb_http_parser *p, uint64_t n)
{
	if (p->phase != PH_BODY || p->body_kind != BK_LENGTH)
		return;
	if (n > p->body_left)
		n = p->body_left;
	p->body_left -= n;
	if (!p->body_left)
		message_end(p);
}

const struct exlb_http_header *exlb_http_find(const struct exlb_http_head *h,
					      const char *name)
{
	size_t i;

	for (i = 0; i < h->nr_headers; i++)
		if (ieq(h->headers[i].name, h->headers[i].name_len, name))
			return &h->headers[i];
	return NULL;
}

/* ---- Basic credentials ---- */

static bool is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * Strict base64 (RFC 4648 section 4): the alphabet, a length that is a
 * multiple of 4, '=' only as the last one or two characters, and the bits
 * padding leaves over zero (one text per byte string: "YQ==", never
 * "YR=="). The number of '=' in *pad.
 */
static bool b64_strict(const char *s, size_t len, size_t *pad)
{
	static const char tail_bits[] = "AQgw";	/* values with 4 zero low bits */
	size_t i;

	if (!len || len % 4)
		return false;
	*pad = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
	for (i = 0; i < len - *pad; i++)
		if (!is_b64((unsigned char)s[i]))
			return false;
	if (*pad == 2)	/* the last data character carries 2 bits */
		return strchr(tail_bits, s[len - 3]) != NULL;
	if (*pad == 1) {	/* 4 bits: the value is a multiple of 4 */
		const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";

		return (strchr(abc, s[len - 2]) - abc) % 4 == 0;
	}
	return true;
}

bool exlb_http_basic_credentials(const char *value, size_t len,
				 char *user, size_t user_max, size_t *user_len,
				 char *pw, size_t pw_max, size_t *pw_len)
{
	unsigned char buf[EXLB_HTTP_BASIC_MAX + 3];	/* + the padding's zeros */
	const unsigned char *colon;
	size_t pad, n, i;
	bool ok = false;

	if (len < 6 || !ieqn(value, 5, "Basic", 5) ||
	    (value[5] != ' ' && value[5] != '\t'))
		return false;
	value += 6;
	len -= 6;
	while (len && (*value == ' ' || *value == '\t'))
		value++, len--;
	while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (!b64_strict(value, len, &pad))
		return false;
	n = len / 4 * 3 - pad;	/* EVP_DecodeBlock counts '=' as zero bytes */
	if (n > EXLB_HTTP_BASIC_MAX || n > user_max + 1 + pw_max)
		return false;
	/* the alphabet was checked: EVP_DecodeBlock cannot fail here */
	if (EVP_DecodeBlock(buf, (const unsigned char *)value, (int)len) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (buf[i] < 0x20 || buf[i] == 0x7f)	/* NUL included */
			goto out;
	colon = memchr(buf, ':', n);
	if (!colon || (size_t)(colon - buf) > user_max ||
	    n - (size_t)(colon - buf) - 1 > pw_max)
		goto out;
	*user_len = (size_t)(colon - buf);
	memcpy(user, buf, *user_len);
	user[*user_len] = '\0';
	*pw_len = n - *user_len - 1;
	memcpy(pw, colon + 1, *pw_len);
	pw[*pw_len] = '\0';
	ok = true;
out:
	explicit_bzero(buf, sizeof(buf));
	return ok;
}

/* ---- forwarding ---- */

int exlb_buf_append(struct exlb_buf *b, const void *data, size_t len)
{
	size_t cap;
	char *nd;

	if (len > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	if (b->len + len > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + len)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (!nd)
			return -ENOMEM;
		b->data = nd;
		b->cap = cap;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void exlb_buf_free(struct exlb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int buf_str(struct exlb_buf *b, const char *s)
{
	return exlb_buf_append(b, s, strlen(s));
}

/* A header of the head being built; suffix is appended as ", suffix". */
struct hdr {
	const char *name, *value, *suffix;
	size_t name_len, value_len;
};

struct hlist {
	struct hdr *v;
	size_t n, cap;
};

static void hl_add(struct hlist *l, const char *name, size_t name_len,
		   const char *value, size_t value_len)
{
	/* the capacity was computed for the worst case */
	struct hdr *x = &l->v[l->n++];

	x->name = name;
	x->name_len = name_len;
	x->value = value;
	x->value_len = value_len;
	x->suffix = NULL;
}

static void hl_del(struct hlist *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].name && ieq(l->v[i].name, l->v[i].name_len, name))
			l->v[i].name = NULL;
}

static struct hdr *hl_last(struct hlist *l, const char *name)
{
	size_t i;

	for (i = l->n; i-- > 0;)
		if (l->v[i].name && ieq(l->v[i].name, l->v[i].name_len, name))
			return &l->v[i];
	return NULL;
}

/* Is @name one of the comma-separated tokens of the Connection fields? */
static bool named_by_connection(const struct exlb_http_head *h,
				const char *name, size_t name_len)
{
	size_t i, a, b;

	for (i = 0; i < h->nr_headers; i++) {
		const struct exlb_http_header *x = &h->headers[i];

		if (!ieq(x->name, x->name_len, "connection"))
			continue;
		for (a = 0; a < x->value_len; a = b + 1) {
			size_t s, e;

			for (b = a; b < x->value_len && x->value[b] != ','; b++)
				;
			for (s = a; s < b && (x->value[s] == ' ' ||
					      x->value[s] == '\t'); s++)
				;
			for (e = b; e > s && (x->value[e - 1] == ' ' ||
					      x->value[e - 1] == '\t'); e--)
				;
			if (ieqn(x->value + s, e - s, name, name_len))
				return true;
		}
	}
	return false;
}

/*
 * Copies @h's headers without the hop-by-hop ones (RFC 9110 7.6.1).
 * A header named by Connection is dropped too, except the ones that frame
 * the message or route it: "Connection: Content-Length" must not make us
 * forward a body the server cannot delimit.
 */
static int hl_from_head(struct hlist *l, const struct exlb_http_head *h,
			size_t extra, bool keep_upgrade)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-connection", "te",
		"trailer", "upgrade",
	};
	size_t i, j;

	l->cap = h->nr_headers + extra + 8;
	l->v = calloc(l->cap, sizeof(*l->v));
	if (!l->v)
		return -ENOMEM;
	l->n = 0;
	for (i = 0; i < h->nr_headers; i++) {
		const struct exlb_http_header *x = &h->headers[i];
		bool drop = false;

		for (j = 0; j < sizeof(hop) / sizeof(hop[0]); j++)
			if (ieq(x->name, x->name_len, hop[j]))
				drop = true;
		if (keep_upgrade && ieq(x->name, x->name_len, "upgrade")) {
			/* "Connection: upgrade" names it: keep it anyway */
			hl_add(l, x->name, x->name_len, x->value, x->value_len);
			continue;
		}
		if (!drop && named_by_connection(h, x->name, x->name_len) &&
		    !ieq(x->name, x->name_len, "content-length") &&
		    !ieq(x->name, x->name_len, "transfer-encoding") &&
		    !ieq(x->name, x->name_len, "host"))
			drop = true;
		if (!drop)
			hl_add(l, x->name, x->name_len, x->value, x->value_len);
	}
	return 0;
}

static bool valid_value(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

static int hl_edit(struct hlist *l, const struct exlb_http_edit *edits,
		   size_t n_edits)
{
	size_t i, j;

	for (i = 0; i < n_edits; i++) {
		const struct exlb_http_edit *e = &edits[i];
		bool found = false;

		const char *value = e->value ? e->value : "";

		/* as content.c reads them: no name, no edit; no value, "" */
		if (!e->name)
			continue;
		if (!is_token(e->name, strlen(e->name)) || !valid_value(value))
			return -EINVAL;
		switch (e->op) {
		case EXLB_HTTP_EDIT_ADD:
			hl_add(l, e->name, strlen(e->name), value,
			       strlen(value));
			break;
		case EXLB_HTTP_EDIT_DEL:
			hl_del(l, e->name);
			break;
		case EXLB_HTTP_EDIT_SET:
			for (j = 0; j < l->n; j++) {
				struct hdr *x = &l->v[j];

				if (!x->name || !ieq(x->name, x->name_len,
						     e->name))
					continue;
				x->value = value;
				x->value_len = strlen(value);
				x->suffix = NULL;
				found = true;
			}
			if (!found)
				hl_add(l, e->name, strlen(e->name), value,
				       strlen(value));
			break;
		default:
			break;
		}
	}
	return 0;
}

static int hl_write(const struct hlist *l, struct exlb_buf *out)
{
	size_t i;
	int r = 0;

	for (i = 0; i < l->n && !r; i++) {
		const struct hdr *x = &l->v[i];

		if (!x->name)
			continue;
		r = exlb_buf_append(out, x->name, x->name_len);
		if (!r)
			r = exlb_buf_append(out, ": ", 2);
		if (!r)
			r = exlb_buf_append(out, x->value, x->value_len);
		if (!r && x->suffix) {
			if (x->value_len)
				r = exlb_buf_append(out, ", ", 2);
			if (!r)
				r = buf_str(out, x->suffix);
		}
		if (!r)
			r = exlb_buf_append(out, "\r\n", 2);
	}
	if (!r)
		r = exlb_buf_append(out, "\r\n", 2);
	return r;
}

/* Appends ", suffix" to the last header called @name, or adds it. */
static void hl_append(struct hlist *l, const char *name, const char *suffix)
{
	struct hdr *x = hl_last(l, name);

	if (x && !x->suffix)
		x->suffix = suffix;
	else
		hl_add(l, name, strlen(name), suffix, strlen(suffix));
}

bool exlb_http_proxy_answers_100(const struct exlb_http_head *h,
				 unsigned int expect100)
{
	return expect100 == 1 && h->kind == EXLB_HTTP_REQUEST &&
		h->expect_continue && h->http_major == 1 && h->http_minor >= 1;
}

static const char *via_value(const struct exlb_http_head *h)
{
	return h->http_minor == 0 ? "1.0 exlb" : "1.1 exlb";
}

int exlb_http_build_request(const struct exlb_http_head *h,
			    const struct exlb_http_edit *edits, size_t n_edits,
			    const struct exlb_http_fwd_opts *fwd,
			    struct exlb_buf *out)
{
	struct hlist l;
	char line[64];
	size_t start = out->len;
	int r;

	r = hl_from_head(&l, h, n_edits, h->upgrade);
	if (r)
		return r;
	if (h->upgrade)
		hl_add(&l, "Connection", 10, "upgrade", 7);
	if (fwd && exlb_http_proxy_answers_100(h, fwd->expect100))
		hl_del(&l, "expect");
	r = hl_edit(&l, edits, n_edits);
	if (!r && fwd && fwd->client_addr && valid_value(fwd->client_addr)) {
		if (fwd->x_forwarded_for)
			hl_append(&l, "X-Forwarded-For", fwd->client_addr);
		if (fwd->x_clientside) {
			hl_del(&l, "x-clientside");
			hl_add(&l, "X-ClientSide", 12, fwd->client_addr,
			       strlen(fwd->client_addr));
		}
	}
	if (!r && fwd && fwd->via)
		hl_append(&l, "Via", via_value(h));
	if (!r)
		r = buf_str(out, h->method_name);
	if (!r)
		r = exlb_buf_append(out, " ", 1);
	if (!r)
		r = exlb_buf_append(out, h->target, h->target_len);
	snprintf(line, sizeof(line), " HTTP/%u.%u\r\n", h->http_major,
		 h->http_minor);
	if (!r)
		r = buf_str(out, line);
	if (!r)
		r = hl_write(&l, out);
	free(l.v);
	if (r)
		out->len = start;
	return r;
}

int exlb_http_build_response(const struct exlb_http_head *h,
			     const struct exlb_http_edit *edits, size_t n_edits,
			     bool close, unsigned int hsts_max_age,
			     struct exlb_buf *out)
{
	struct hlist l;
	char line[64], hsts[32];
	size_t start = out->len;
	bool upgrade = h->status == 101;
	int r;

	r = hl_from_head(&l, h, n_edits, upgrade);
	if (r)
		return r;
	if (upgrade)
		hl_add(&l, "Connection", 10, "upgrade", 7);
	r = hl_edit(&l, edits, n_edits);
	if (!r && close && !upgrade)
		hl_add(&l, "Connection", 10, "close", 5);
	if (!r && hsts_max_age) {
		snprintf(hsts, sizeof(hsts), "max-age=%u", hsts_max_age);
		hl_del(&l, "strict-transport-security");
		hl_add(&l, "Strict-Transport-Security", 25, hsts, strlen(hsts));
	}
	snprintf(line, sizeof(line), "HTTP/%u.%u %u ", h->http_major,
		 h->http_minor, h->status);
	if (!r)
		r = buf_str(out, line);
	if (!r)
		r = exlb_buf_append(out, h->reason, h->reason_len);
	if (!r)
		r = exlb_buf_append(out, "\r\n", 2);
	if (!r)
		r = hl_write(&l, out);
	free(l.v);
	if (r)
		out->len = start;
	return r;
}

/* The path and query of a request target (absolute form: after authority) */
static void target_path(const struct exlb_http_head *req, const char **s,
			size_t *len)
{
	size_t aoff, alen, pre;

	*s = req->target;
	*len = req->target_len;
	pre = absolute_prefix(req->target, req->target_len, &aoff, &alen);
	if (pre) {
		*s += pre;
		*len -= pre;
	}
}

/* Appends @s with the control characters left out (a Location value). */
static int append_clean(struct exlb_buf *b, const char *s, size_t len)
{
	size_t i, a = 0;
	int r = 0;

	for (i = 0; i <= len && !r; i++) {
		if (i < len && (unsigned char)s[i] >= 0x20 && s[i] != 0x7f)
			continue;
		r = exlb_buf_append(b, s + a, i - a);
		a = i + 1;
	}
	return r;
}

static int expand_location(struct exlb_buf *b, const char *url,
			   const struct exlb_http_head *req)
{
	const struct exlb_http_header *host;
	const char *s;
	size_t len, a = 0, i;
	int r = 0;

	for (i = 0; url[i] && !r; i++) {
		if (url[i] != '%' || !url[i + 1])
			continue;
		r = append_clean(b, url + a, i - a);
		if (r)
			break;
		switch (url[i + 1]) {
		case 'h':
			host = req && req->kind == EXLB_HTTP_REQUEST ?
				exlb_http_find(req, "host") : NULL;
			if (host)
				r = append_clean(b, host->value,
						 host->value_len);
			break;
		case 's':
			if (req && req->kind == EXLB_HTTP_REQUEST) {
				target_path(req, &s, &len);
				r = append_clean(b, s, len);
			}
			break;
		case '%':
			r = exlb_buf_append(b, "%", 1);
			break;
		default:	/* not ours: kept as written */
			r = exlb_buf_append(b, url + i, 2);
			break;
		}
		i++;
		a = i + 1;
	}
	if (!r)
		r = append_clean(b, url + a, strlen(url + a));
	return r;
}

int exlb_http_build_error(unsigned int status, const char *error_url,
			  const struct exlb_http_head *req, bool close,
			  struct exlb_buf *out)
{
	char line[96];
	const char *text;
	size_t start = out->len;
	int r;

	snprintf(line, sizeof(line), "HTTP/1.1 %u %s\r\n", status,
		 exlb_http_reason(status));
	r = buf_str(out, line);
	if (status / 100 == 3) {
		if (!r && error_url) {
			r = buf_str(out, "Location: ");
			if (!r)
				r = expand_location(out, error_url, req);
			if (!r)
				r = buf_str(out, "\r\n");
		}
		if (!r)
			r = buf_str(out, "Content-Length: 0\r\n");
		text = NULL;
	} else {
		text = error_url ? error_url : exlb_http_reason(status);
		snprintf(line, sizeof(line),
			 "Content-Type: text/plain\r\nContent-Length: %zu\r\n",
			 strlen(text));
		if (!r)
			r = buf_str(out, line);
	}
	if (!r && close)
		r = buf_str(out, "Connection: close\r\n");
	if (!r)
		r = buf_str(out, "\r\n");
	if (!r && text)
		r = buf_str(out, text);
	if (r)
		out->len = start;
	return r;
}

int exlb_http_build_challenge(const char *realm, bool close,
			      struct exlb_buf *out)
{
	static const char text[] = "Unauthorized";
	size_t start = out->len;
	char line[160];
	int r;

	snprintf(line, sizeof(line),
		 "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"%.96s\"\r\n",
		 realm);
	r = buf_str(out, line);
	snprintf(line, sizeof(line),
		 "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
		 sizeof(text) - 1, close ? "Connection: close\r\n" : "");
	if (!r)
		r = buf_str(out, line);
	if (!r)
		r = buf_str(out, text);
	if (r)
		out->len = start;
	return r;
}

const char *exlb_http_reason(unsigned int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:
		return status / 100 == 2 ? "OK" : status / 100 == 3 ? "Found" :
			status / 100 == 4 ? "Bad Request" : status / 100 == 5 ?
			"Internal Server Error" : "Unknown";
	}
}
