/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Exchange's form logon, seen from the load balancer's side (Kemp's
 * OutputAuthMode=2, "Form"): the building blocks, pure functions without
 * I/O, with which the proxy logs a user on to OWA itself (l7/proxy_conn.c:
 * owa_logon_start(), owa_answer(); docs/esp.md).
 *
 *  - owa_form_body(): the body of "POST /owa/auth.owa" as Exchange's logon
 *    page sends it (application/x-www-form-urlencoded);
 *  - owa_form_verdict(): what Exchange's answer means, on the response head
 *    parsed by l7/http1.c;
 *  - owa_form_cookies(): the Set-Cookie headers of that answer, to pass on.
 */
#ifndef EXLB_ESP_OWA_FORM_H
#define EXLB_ESP_OWA_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "l7/http1.h"

#define OWA_FORM_PATH	"/owa/auth.owa"
#define OWA_FORM_CTYPE	"application/x-www-form-urlencoded"

/*
 * Writes into @out (@cap bytes, NUL-terminated) the body
 *   destination=D&flags=4&forcedownlevel=0&username=U&password=P&passwordText=&isUtf8=1
 * with D, U, P form-urlencoded (letters, digits and "*-._" as they are,
 * space as '+', every other byte as %XX: UTF-8 passes byte by byte, as
 * isUtf8=1 says). *len: its length. 0, or -ENOSPC when it does not fit:
 * then @out holds nothing (it is wiped: it would hold part of a password).
 */
int owa_form_body(const char *dest, size_t dest_len, const char *user,
		  size_t user_len, const char *pw, size_t pw_len,
		  char *out, size_t cap, size_t *len);

enum owa_form_verdict {
	OWA_FORM_OK,		/* 302 with a non-empty cadata cookie */
	OWA_FORM_REFUSED,	/* 302 to .../logon.aspx?...reason=N */
	OWA_FORM_UNEXPECTED,	/* anything else: no logon either */
};

/*
 * Exchange's answer to the POST: OK only for a 302 (Found) that sets a
 * cookie named "cadata" with a value and does not send the client back to
 * logon.aspx; REFUSED for a 302 whose Location's path ends in
 * "/logon.aspx" (case-insensitive), *reason then its reason=N (2: wrong
 * user or password) or -1 without one; UNEXPECTED for everything else (a
 * 200 logon page, 4xx, 5xx, a 302 without cadata). @h: a response head
 * (EXLB_HTTP_RESPONSE); @reason may be NULL.
 */
enum owa_form_verdict owa_form_verdict(const struct exlb_http_head *h,
				       int *reason);

/*
 * The Set-Cookie headers of @h, in their order: up to @max of them into
 * @out; returns how many there are (more than @max: the caller's array is
 * too small, and should refuse rather than pass on part of a session).
 */
size_t owa_form_cookies(const struct exlb_http_head *h,
			const struct exlb_http_header **out, size_t max);

#endif
