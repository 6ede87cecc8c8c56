// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ESP's form logon pieces (form.h): the logon page, the POST body's
 * parser, the destination check, the answers of a logon and the session
 * cookie in a Cookie header. Pure functions: no I/O, no state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config/hex.h"
#include "esp/form.h"

const char esp_cookie_clear[] = ESP_SESSION_COOKIE
	"=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax";

void esp_form_wipe(struct esp_form *f)
{
	OPENSSL_cleanse(f, sizeof(*f));
}

bool esp_dest_valid(const char *d, size_t len)
{
	if (!len || d[0] != '/' || (len > 1 && (d[1] == '/' || d[1] == '\\')))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)d[i] <= 0x20 || (unsigned char)d[i] >= 0x7f ||
		    d[i] == '\\')
			return false;
	return true;
}

/*
 * Decodes @in (@len bytes) into @out (@cap bytes, NUL-terminated).
 * The decoded length, or -1: a bad escape, a raw byte that is not
 * printable ASCII, too long.
 */
static long url_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (o + 1 >= cap)
			return -1;
		if (c == '%') {
			int hi = i + 2 < len ? exlb_hex_digit(in[i + 1]) : -1;
			int lo = i + 2 < len ? exlb_hex_digit(in[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+') {
			out[o++] = ' ';
		} else if (c <= 0x20 || c >= 0x7f) {
			return -1;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return (long)o;
}

int esp_form_parse(const char *body, size_t len, struct esp_form *f,
		   const char **why)
{
	bool have_user = false, have_pw = false, have_dest = false,
	     have_flags = false;
	const char *p = body, *end = body + len;
	char name[32], flags[8];

	memset(f, 0, sizeof(*f));
	*why = NULL;
	if (len > ESP_FORM_BODY_MAX) {
		*why = "body too large";
		goto bad;
	}
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		char *dst;
		size_t cap;
		bool *seen;
		long n;

		if (pe == p) {
			*why = "an empty field";
			goto bad;
		}
		if (!eq) {
			*why = "a field without '='";
			goto bad;
		}
		if (url_decode(p, (size_t)(eq - p), name, sizeof(name)) < 0) {
			*why = "a bad field name";
			goto bad;
		}
		if (!strcmp(name, "username")) {
			dst = f->user, cap = sizeof(f->user), seen = &have_user;
		} else if (!strcmp(name, "password")) {
			dst = f->pw, cap = sizeof(f->pw), seen = &have_pw;
		} else if (!strcmp(name, "destination")) {
			dst = f->dest, cap = sizeof(f->dest), seen = &have_dest;
		} else if (!strcmp(name, "flags")) {
			dst = flags, cap = sizeof(flags), seen = &have_flags;
		} else {	/* another field: still well-formed */
			char scratch[ESP_FORM_BODY_MAX + 1];

			if (url_decode(eq + 1, (size_t)(pe - eq - 1), scratch,
				       sizeof(scratch)) < 0) {
				*why = "a bad value";
				goto bad;
			}
			p = amp ? amp + 1 : end;
			if (amp && p == end) {
				*why = "an empty field";
				goto bad;
			}
			continue;
		}
		if (*seen) {
			*why = "a field given twice";
			goto bad;
		}
		*seen = true;
		n = url_decode(eq + 1, (size_t)(pe - eq - 1), dst, cap);
		if (n < 0) {
			*why = "a bad or too long value";
			goto bad;
		}
		if (dst == f->user)
			f->user_len = (size_t)n;
		else if (dst == f->pw)
			f->pw_len = (size_t)n;
		p = amp ? amp + 1 : end;
		if (amp && p == end) {
			*why = "an empty field";
			goto bad;
		}
	}
	if (!have_user || !have_pw) {
		*why = "no username or password";
		goto bad;
	}
	if (!have_dest)
		strcpy(f->dest, "/");
	if (!esp_dest_valid(f->dest, strlen(f->dest))) {
		*why = "a destination that is not a path on this host";
		goto bad;
	}
	if (have_flags && strcmp(flags, "0") && strcmp(flags, "4")) {
		*why = "bad flags";
		goto bad;
	}
	f->private_pc = have_flags && !strcmp(flags, "4");
	OPENSSL_cleanse(flags, sizeof(flags));
	return 0;
bad:
	esp_form_wipe(f);
	return -1;
}

/* ---- cookies ---- */

/* The next cookie of @s..@end: name and value, trimmed. False at the end. */
static bool next_cookie(const char **s, const char *end, const char **n,
			size_t *nlen, const char **v, size_t *vlen)
{
	const char *p = *s, *semi, *eq, *a, *b;

	while (p < end && (*p == ' ' || *p == '\t' || *p == ';'))
		p++;
	if (p >= end)
		return false;
	semi = memchr(p, ';', (size_t)(end - p));
	if (!semi)
		semi = end;
	*s = semi;
	b = semi;
	while (b > p && (b[-1] == ' ' || b[-1] == '\t'))
		b--;
	eq = memchr(p, '=', (size_t)(b - p));
	a = eq ? eq : b;
	*n = p;
	*nlen = (size_t)(a - p);
	while (*nlen && (p[*nlen - 1] == ' ' || p[*nlen - 1] == '\t'))
		(*nlen)--;
	if (eq) {
		a = eq + 1;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		*v = a;
		*vlen = (size_t)(b - a);
	} else {
		*v = b;
		*vlen = 0;
	}
	return true;
}

static bool is_ours(const char *n, size_t nlen)
{
	return nlen == sizeof(ESP_SESSION_COOKIE) - 1 &&
	       !memcmp(n, ESP_SESSION_COOKIE, nlen);
}

bool esp_cookie_get(const char *value, size_t len, const char **v,
		    size_t *vlen)
{
	const char *s = value, *end = value + len, *n;
	size_t nlen;

	while (next_cookie(&s, end, &n, &nlen, v, vlen))
		if (is_ours(n, nlen))
			return true;
	return false;
}

size_t esp_cookie_strip(const char *value, size_t len, char *out, size_t cap)
{
	const char *s = value, *end = value + len, *n, *v;
	size_t nlen, vlen, o = 0;

	if (!cap)
		return (size_t)-1;
	while (next_cookie(&s, end, &n, &nlen, &v, &vlen)) {
		size_t whole = (size_t)(v + vlen - n);

		if (is_ours(n, nlen))
			continue;
		if (o + (o ? 2 : 0) + whole + 1 > cap)
			return (size_t)-1;
		if (o) {
			memcpy(out + o, "; ", 2);
			o += 2;
		}
		memcpy(out + o, n, whole);
		o += whole;
	}
	out[o] = '\0';
	return o;
}

/* ---- answers ---- */

static int put(struct exlb_buf *b, const char *s)
{
	return exlb_buf_append(b, s, strlen(s));
}

/* @s HTML-escaped (text and attribute values). */
static int put_escaped(struct exlb_buf *b, const char *s)
{
	int r = 0;

	for (; *s && !r; s++) {
		switch (*s) {
		case '&': r = put(b, "&amp;"); break;
		case '<': r = put(b, "&lt;"); break;
		case '>': r = put(b, "&gt;"); break;
		case '"': r = put(b, "&quot;"); break;
		case '\'': r = put(b, "&#39;"); break;
		default: r = exlb_buf_append(b, s, 1); break;
		}
	}
	return r;
}

/* What every answer of the logon carries: no caching, no framing, no sniffing. */
#define FORM_HEADERS							\
	"Cache-Control: no-store\r\n"					\
	"Content-Security-Policy: default-src 'none'; form-action 'self'; "	\
	"frame-ancestors 'none'; base-uri 'none'\r\n"			\
	"X-Frame-Options: DENY\r\n"					\
	"X-Content-Type-Options: nosniff\r\n"				\
	"Referrer-Policy: no-referrer\r\n"				\
	"Connection: close\r\n"

int esp_form_page(unsigned int status, const char *message, const char *dest,
		  const char *error, const char *pwd_url, const char *pwd_msg,
		  bool head_only, struct exlb_buf *out)
{
	struct exlb_buf body = { 0 };
	size_t start = out->len;
	char line[160];
	int r;

	r = put(&body, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta name=\"viewport\" content=\"width=device-width\">"
		"<title>Sign in</title></head>\n<body>\n<h1>Sign in</h1>\n");
	if (!r && message && *message) {
		r = put(&body, "<p id=\"message\">");
		r = r ? r : put_escaped(&body, message);
		r = r ? r : put(&body, "</p>\n");
	}
	if (!r && error) {
		r = put(&body, "<p id=\"error\"><strong>");
		r = r ? r : put_escaped(&body, error);
		r = r ? r : put(&body, "</strong></p>\n");
	}
	if (!r && pwd_url && *pwd_url) {
		r = put(&body, "<p id=\"pwdchange\"><strong>");
		r = r ? r : put_escaped(&body, pwd_msg && *pwd_msg ? pwd_msg :
					ESP_PWD_CHANGE_DEFAULT);
		r = r ? r : put(&body, "</strong> <a href=\"");
		r = r ? r : put_escaped(&body, pwd_url);
		r = r ? r : put(&body, "\" rel=\"noreferrer\">Change your password</a></p>\n");
	}
	r = r ? r : put(&body, "<form method=\"post\" action=\"" ESP_FORM_PATH "\" "
			"autocomplete=\"off\">\n<input type=\"hidden\" name=\"destination\" value=\"");
	r = r ? r : put_escaped(&body, dest && *dest ? dest : "/");
	r = r ? r : put(&body, "\">\n"
			"<p><label>User name <input type=\"text\" name=\"username\" required autofocus></label></p>\n"
			"<p><label>Password <input type=\"password\" name=\"password\" required></label></p>\n"
			"<fieldset><legend>Security</legend>\n"
			"<label><input type=\"radio\" name=\"flags\" value=\"0\" checked> This is a public or shared computer</label><br>\n"
			"<label><input type=\"radio\" name=\"flags\" value=\"4\"> This is a private computer</label>\n"
			"</fieldset>\n<p><button type=\"submit\">Sign in</button></p>\n</form>\n</body></html>\n");
	if (r) {
		free(body.data);
		return -1;
	}
	snprintf(line, sizeof(line),
		 "HTTP/1.1 %u %s\r\nContent-Type: text/html; charset=utf-8\r\n"
		 "Content-Length: %zu\r\n", status, exlb_http_reason(status),
		 body.len);
	r = put(out, line);
	r = r ? r : put(out, FORM_HEADERS "\r\n");
	if (!r && !head_only)
		r = exlb_buf_append(out, body.data, body.len);
	free(body.data);
	if (r)
		out->len = start;
	return r ? -1 : 0;
}

int esp_form_redirect(const char *dest, const char *cookie,
		      struct exlb_buf *out)
{
	size_t start = out->len;
	int r;

	if (!esp_dest_valid(dest, strlen(dest)))
		dest = "/";
	r = put(out, "HTTP/1.1 302 Found\r\nLocation: ");
	r = r ? r : put(out, dest);
	r = r ? r : put(out, "\r\nSet-Cookie: " ESP_SESSION_COOKIE "=");
	r = r ? r : put(out, cookie);
	r = r ? r : put(out, ESP_COOKIE_ATTRS "\r\n"
			"Content-Length: 0\r\n" FORM_HEADERS "\r\n");
	if (r)
		out->len = start;
	return r ? -1 : 0;
}
