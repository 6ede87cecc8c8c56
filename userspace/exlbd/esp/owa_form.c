// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Exchange's form logon from the load balancer's side (owa_form.h): the
 * request body, the verdict on Exchange's answer, its cookies. No I/O and
 * no HTTP parsing of its own: the answer is a head parsed by l7/http1.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "config/hex.h"
#include "esp/owa_form.h"

/* ---- the request body ---- */

/* Appends @s as WHATWG's application/x-www-form-urlencoded serializer does. */
static bool put_encoded(char *out, size_t cap, size_t *o, const char *s,
			size_t n)
{
	return exlb_pct_encode(out, cap, o, s, n, "*-._", true);
}

static bool put(char *out, size_t cap, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n >= cap)
		return false;
	memcpy(out + *o, s, n);
	*o += n;
	return true;
}

int owa_form_body(const char *dest, size_t dest_len, const char *user,
		  size_t user_len, const char *pw, size_t pw_len,
		  char *out, size_t cap, size_t *len)
{
	size_t o = 0;

	if (!cap)
		return -ENOSPC;
	if (!put(out, cap, &o, "destination=") ||
	    !put_encoded(out, cap, &o, dest, dest_len) ||
	    !put(out, cap, &o, "&flags=4&forcedownlevel=0&username=") ||
	    !put_encoded(out, cap, &o, user, user_len) ||
	    !put(out, cap, &o, "&password=") ||
	    !put_encoded(out, cap, &o, pw, pw_len) ||
	    !put(out, cap, &o, "&passwordText=&isUtf8=1")) {
		explicit_bzero(out, cap);
		return -ENOSPC;
	}
	out[o] = '\0';
	*len = o;
	return 0;
}

/* ---- Exchange's answer ---- */

static bool is_header(const struct exlb_http_header *hd, const char *name)
{
	return hd->name_len == strlen(name) &&
	       !strncasecmp(hd->name, name, hd->name_len);
}

/* Whether a Set-Cookie value sets cookie @name to something non-empty. */
static bool sets_cookie(const char *v, size_t len, const char *name)
{
	size_t n = strlen(name), i = 0, vend;

	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (len - i <= n || memcmp(v + i, name, n))	/* names are case-sensitive */
		return false;
	i += n;
	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (i == len || v[i] != '=')
		return false;
	i++;
	vend = i;
	while (vend < len && v[vend] != ';')
		vend++;
	while (vend > i && (v[vend - 1] == ' ' || v[vend - 1] == '\t'))
		vend--;
	while (i < vend && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (vend - i >= 2 && v[i] == '"' && v[vend - 1] == '"')
		i++, vend--;
	return vend > i;
}

/*
 * Whether a Location value sends the client to a logon.aspx; *reason: its
 * reason=N, or -1.
 */
static bool to_logon_page(const char *v, size_t len, int *reason)
{
	static const char page[] = "/logon.aspx";
	const size_t plen = sizeof(page) - 1;
	const char *q = memchr(v, '?', len), *p;
	size_t path_len = q ? (size_t)(q - v) : len;
	const char *end = v + len;

	if (path_len < plen ||
	    strncasecmp(v + path_len - plen, page, plen))
		return false;
	*reason = -1;
	for (p = q; p && p < end; p = memchr(p + 1, '&', (size_t)(end - p - 1))) {
		const char *f = p + 1;
		int r = 0, digits = 0;

		if ((size_t)(end - f) < 7 || strncasecmp(f, "reason=", 7))
			continue;
		for (f += 7; f < end && *f >= '0' && *f <= '9' && digits < 4; f++, digits++)
			r = r * 10 + (*f - '0');
		if (digits && (f == end || *f == '&'))
			*reason = r;
		break;
	}
	return true;
}

enum owa_form_verdict owa_form_verdict(const struct exlb_http_head *h,
				       int *reason)
{
	const struct exlb_http_header *loc;
	bool cadata = false;
	int r = -1;

	if (reason)
		*reason = -1;
	if (h->kind != EXLB_HTTP_RESPONSE || h->status != 302)
		return OWA_FORM_UNEXPECTED;
	loc = exlb_http_find(h, "Location");
	if (loc && to_logon_page(loc->value, loc->value_len, &r)) {
		if (reason)
			*reason = r;
		return OWA_FORM_REFUSED;
	}
	for (size_t i = 0; i < h->nr_headers; i++)
		if (is_header(&h->headers[i], "Set-Cookie") &&
		    sets_cookie(h->headers[i].value, h->headers[i].value_len,
				"cadata"))
			cadata = true;
	return cadata && loc ? OWA_FORM_OK : OWA_FORM_UNEXPECTED;
}

size_t owa_form_cookies(const struct exlb_http_head *h,
			const struct exlb_http_header **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < h->nr_headers; i++) {
		if (!is_header(&h->headers[i], "Set-Cookie"))
			continue;
		if (n < max)
			out[n] = &h->headers[i];
		n++;
	}
	return n;
}
