/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * HTTP/1.x message framing for the L7 proxy: llhttp (Debian's node-llhttp
 * C sources) in strict mode, plus the checks llhttp leaves to us, and the
 * rewriting of a head before it is forwarded.
 *
 * One struct exlb_http_parser per direction of a proxied connection. The
 * proxy feeds it the bytes it reads; exlb_http_feed() consumes a prefix and
 * reports one event at a time:
 *
 *   HEAD      a whole head was consumed; parser->head describes it (valid
 *             until the next feed). The consumed bytes are NOT forwarded:
 *             the proxy sends the rewritten head (exlb_http_build_*()).
 *   BODY      the consumed bytes are body, in their raw framing (chunk
 *             sizes included): forward them verbatim.
 *   END       the message ended; the consumed bytes (possibly 0, possibly
 *             the last body bytes / "0\r\n\r\n") are forwarded too. The
 *             parser is ready for the next message of the connection.
 *   UPGRADE   a 101 response (or CONNECT 2xx): from here on the connection
 *             is a tunnel; the consumed bytes are the head (as for HEAD).
 *   NEED_MORE every byte given was consumed (a partial head is kept inside
 *             the parser); nothing to forward unless it was body bytes,
 *             in which case the event is BODY instead.
 *   ERROR     the message is refused: parser->error_status (400, 431, 501,
 *             505, 503 when out of memory; always 502 for a response
 *             parser) and
 *             parser->error_reason say why; the connection must be
 *             answered with that status and closed, nothing forwarded.
 *             What is refused and why: docs/http.md.
 *
 * A body of known length (Content-Length) may be relayed without the
 * parser (splice): exlb_http_body_left() says how many bytes, and
 * exlb_http_body_skipped() tells the parser they went past it.
 */
#ifndef EXLB_HTTP1_H
#define EXLB_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llhttp.h"

#define EXLB_HTTP_MAX_HEAD	(32 * 1024)	/* bigger request head: 431 */
#define EXLB_HTTP_MAX_HEADERS	100		/* more headers: 431 */
#define EXLB_HTTP_MAX_CHUNK_LINE 4096		/* chunk size + extensions: 400 */
#define EXLB_HTTP_BODY_UNKNOWN	UINT64_MAX	/* chunked, or until close */

/*
 * Outlook Anywhere's methods, which llhttp does not know: head.method is
 * one of these (beyond llhttp_method_t's range) and method_name the name.
 */
#define EXLB_HTTP_METHOD_RPC_IN_DATA	200
#define EXLB_HTTP_METHOD_RPC_OUT_DATA	201

enum exlb_http_kind {
	EXLB_HTTP_REQUEST,
	EXLB_HTTP_RESPONSE,
};

enum exlb_http_event {
	EXLB_HTTP_NEED_MORE,
	EXLB_HTTP_HEAD,
	EXLB_HTTP_BODY,
	EXLB_HTTP_END,
	EXLB_HTTP_UPGRADE,
	EXLB_HTTP_ERROR,
};

struct exlb_http_header {
	const char *name;
	size_t name_len;
	const char *value;	/* without surrounding whitespace */
	size_t value_len;
};

/* A parsed head. Strings point into the parser's head buffer. */
struct exlb_http_head {
	enum exlb_http_kind kind;
	unsigned int http_major, http_minor;
	/* request */
	unsigned int method;		/* llhttp_method_t */
	const char *method_name;	/* "GET", "RPC_IN_DATA", ... */
	const char *target;		/* request target as sent ("/owa/?a=b") */
	size_t target_len;
	/* response */
	unsigned int status;
	const char *reason;
	size_t reason_len;

	struct exlb_http_header headers[EXLB_HTTP_MAX_HEADERS];
	size_t nr_headers;

	bool keep_alive;	/* the connection may carry another message */
	bool chunked;
	bool has_content_length;
	uint64_t content_length;
	bool expect_continue;	/* Expect: 100-continue */
	bool upgrade;		/* asks for a protocol upgrade */
};

struct exlb_http_parser {
	llhttp_t ll;
	llhttp_settings_t settings;
	enum exlb_http_kind kind;
	/* raw bytes of the head being parsed (malloc'd; a big one is freed
	 * when the next head starts) */
	char *headbuf;
	size_t head_len, head_cap;
	/* the head under construction / last head, as offsets until complete */
	struct exlb_http_head head;
	/* private state of http1.c follows; do not touch */
	unsigned char phase;		/* HEAD, BODY, CLOSED, TUNNEL, ERROR */
	unsigned char body_kind;	/* NONE, LENGTH, CHUNKED, EOF */
	bool in_head;			/* head_len counts bytes of a new head */
	bool method_done;		/* llhttp has been given the method */
	bool head_done;			/* head callbacks are over (trailers) */
	bool no_body_next;		/* exlb_http_expect_no_body() */
	bool upgraded;			/* the head was a 101: UPGRADE */
	bool prev_cr;			/* raw scan: last byte was CR */
	unsigned char hstate;		/* header callbacks: field/value/... */
	unsigned int ext_method;	/* RPC_IN_DATA / RPC_OUT_DATA, or 0 */
	size_t ll_fed;			/* head bytes given to llhttp */
	size_t line_len, nr_lines;	/* raw scan of the head */
	size_t url_off, url_len, reason_off, reason_len;
	size_t hdr_off[EXLB_HTTP_MAX_HEADERS][2];	/* name off/len */
	size_t val_off[EXLB_HTTP_MAX_HEADERS][2];	/* value off/len */
	size_t nr_hdr;
	unsigned char cstate;		/* chunked: where in the framing */
	bool cws;			/* chunked: BWS after an extension item */
	size_t chunk_line;		/* chunked: bytes of this size line */
	uint64_t chunk_left;		/* chunked: data bytes of this chunk */
	uint64_t body_left;
	unsigned int error_status;	/* 400, 431, 501, 505; 502 for a response */
	const char *error_reason;	/* short text for the log */
};

void exlb_http_parser_init(struct exlb_http_parser *p,
			   enum exlb_http_kind kind);
/* Frees what the parser holds (its head buffer); it can be re-inited. */
void exlb_http_parser_release(struct exlb_http_parser *p);
/*
 * Wipes the head buffer past the head in it: a feed copies what it is
 * given, so the start of a body that came with the head (ESP's logon
 * POST: a password) sits there until the next head overwrites it.
 */
void exlb_http_wipe_after_head(struct exlb_http_parser *p);

/*
 * Consumes a prefix of @data (see the top comment); *consumed says how
 * many bytes. Call again with the rest while the event is not NEED_MORE or
 * ERROR -- also when the rest is empty (len 0): after the HEAD of a
 * message without a body (a GET, a 204, Content-Length: 0) that call is
 * what reports its END, with nothing consumed.
 */
enum exlb_http_event exlb_http_feed(struct exlb_http_parser *p,
				    const char *data, size_t len,
				    size_t *consumed);

/*
 * Response parser only: the request this response answers was a HEAD (no
 * body follows whatever the headers say). Call before feeding the response.
 */
void exlb_http_expect_no_body(struct exlb_http_parser *p);

/* After HEAD: body bytes still to come, or EXLB_HTTP_BODY_UNKNOWN. */
uint64_t exlb_http_body_left(const struct exlb_http_parser *p);
/*
 * @n body bytes of a Content-Length body were relayed without the parser;
 * when none is left the message is complete (the parser is ready for the
 * next one, as after END).
 */
void exlb_http_body_skipped(struct exlb_http_parser *p, uint64_t n);

/* The value of header @name (case-insensitive) in @h, or NULL. */
const struct exlb_http_header *exlb_http_find(const struct exlb_http_head *h,
					      const char *name);

/* ---- Basic credentials ---- */

#define EXLB_HTTP_BASIC_MAX	4096	/* decoded user:password, whatever the caps */

/*
 * The one reader of an Authorization value "Basic <base64(user:password)>"
 * (RFC 7617), for ESP's Basic logon and the admin listener. The scheme is
 * case-insensitive, followed by one or more blanks (SP, HTAB; blanks at
 * the end are ignored too); the base64 is strict (no whitespace inside,
 * padding required, nothing after '=', zero pad bits) and decoded by
 * OpenSSL. Refused: decoded bytes with a NUL or a control character
 * (< 0x20, 0x7f), no ':' (the first one splits: a password may hold ':'),
 * a user longer than @user_max or a password longer than @pw_max bytes.
 * On success @user (@user_max + 1 bytes) and @pw (@pw_max + 1) hold the
 * parts NUL-terminated, *user_len and *pw_len their lengths; on failure
 * they are untouched. The decoded copy is wiped before return.
 */
bool exlb_http_basic_credentials(const char *value, size_t len,
				 char *user, size_t user_max, size_t *user_len,
				 char *pw, size_t pw_max, size_t *pw_len);

/* ---- forwarding ---- */

/* A change to a head, computed by content.c (header rules) or the proxy. */
enum exlb_http_edit_op {
	EXLB_HTTP_EDIT_ADD,	/* append "name: value" */
	EXLB_HTTP_EDIT_DEL,	/* drop every header called name */
	EXLB_HTTP_EDIT_SET,	/* replace the value of every header called
				 * name (add it if absent) */
};

struct exlb_http_edit {
	enum exlb_http_edit_op op;
	const char *name;
	const char *value;
};

/* A growable byte buffer. */
struct exlb_buf {
	char *data;
	size_t len, cap;
};

int exlb_buf_append(struct exlb_buf *b, const void *data, size_t len);
void exlb_buf_free(struct exlb_buf *b);

/* Kemp's AddVia / addforwardheader choice, resolved by the proxy. */
struct exlb_http_fwd_opts {
	const char *client_addr;	/* "198.18.0.1" / "fd00::1" */
	bool x_forwarded_for;		/* append to X-Forwarded-For */
	bool x_clientside;		/* set X-ClientSide */
	bool via;			/* append to Via: "1.1 exlb" */
	/* expect100: 0 RFC-2616, 1 require, 2 RFC-7231 (see docs) */
	unsigned int expect100;
};

/*
 * Appends to @out the request head to send to the real server: request
 * line and headers of @h with hop-by-hop headers handled (Connection and
 * the headers it names, Keep-Alive, Proxy-Connection dropped; the proxy
 * keeps backend connections alive itself), @edits applied in order, then
 * the forwarding headers of @fwd, and the blank line. Upgrade is kept (with
 * "Connection: upgrade") for an upgrade request, dropped otherwise; TE and
 * Trailer are dropped; Content-Length, Transfer-Encoding and Host are never
 * dropped because Connection names them. Expect is dropped when the proxy
 * answers 100 itself (exlb_http_proxy_answers_100()).
 * An edit without a name is skipped, a NULL value is "". 0, -ENOMEM, or
 * -EINVAL when an edit's name is not a token or its value holds CR or LF.
 */
int exlb_http_build_request(const struct exlb_http_head *h,
			    const struct exlb_http_edit *edits, size_t n_edits,
			    const struct exlb_http_fwd_opts *fwd,
			    struct exlb_buf *out);

/*
 * expect100 = 1 (require): the request has "Expect: 100-continue" and the
 * proxy must answer "HTTP/1.1 100 Continue" itself before it reads the
 * body (the Expect header is not forwarded). 0 and 2 forward Expect as is
 * and relay the server's 100. Never for an HTTP/1.0 request.
 */
bool exlb_http_proxy_answers_100(const struct exlb_http_head *h,
				 unsigned int expect100);

/*
 * Appends the response head to send to the client: status line and
 * headers of @h, hop-by-hop handled, @edits applied, "Connection: close"
 * when @close, and Strict-Transport-Security when @hsts_max_age > 0 (it
 * replaces the server's). 0, -ENOMEM or -EINVAL as above.
 */
int exlb_http_build_response(const struct exlb_http_head *h,
			     const struct exlb_http_edit *edits, size_t n_edits,
			     bool close, unsigned int hsts_max_age,
			     struct exlb_buf *out);

/*
 * Appends a whole response the proxy answers itself, with
 * "Connection: close" when @close:
 *  - 3xx: Location is @error_url with %h = the request's Host and %s = its
 *    path and query (@req may be NULL: then both are empty);
 *  - others: the body is @error_url as text when set, else the reason.
 * 400/431/501 for refused requests use @error_url = NULL.
 */
int exlb_http_build_error(unsigned int status, const char *error_url,
			  const struct exlb_http_head *req, bool close,
			  struct exlb_buf *out);

/* The standard reason phrase of @status ("Service Unavailable"). */
/*
 * Appends exlbd's own 401 asking for Basic credentials:
 * WWW-Authenticate: Basic realm="@realm" (printable, without '"' or '\\':
 * the caller's), with "Connection: close" when @close.
 */
int exlb_http_build_challenge(const char *realm, bool close,
			      struct exlb_buf *out);

const char *exlb_http_reason(unsigned int status);

#endif
