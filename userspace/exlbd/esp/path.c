// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ESP's string work: request targets, path normalisation, Host
 * normalisation, Kemp's wildcard lists and SMTP recipient domains
 * (path.h says why each step is there).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <fnmatch.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "config/hex.h"
#include "path.h"

/* ---- the request target ---- */

static bool has_prefix(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && !strncasecmp(s, p, n);
}

const char *esp_target_split(const char *t, size_t len, struct esp_target *out)
{
	size_t i = 0, end;

	memset(out, 0, sizeof(*out));
	if (memchr(t, '#', len))
		return "a fragment in the request target";
	if (len && t[0] != '/') {
		if (has_prefix(t, len, "http://"))
			i = 7;
		else if (has_prefix(t, len, "https://"))
			i = 8;
		else
			return "a request target that is neither a path nor an http(s) URL";
		out->authority = t + i;
		while (i < len && t[i] != '/' && t[i] != '?')
			i++;
		out->authority_len = (size_t)(t + i - out->authority);
		if (memchr(out->authority, '@', out->authority_len))
			return "user information in the request target";
		if (!out->authority_len)
			return "an empty authority in the request target";
	}
	if (!len)
		return "an empty request target";
	end = i;
	while (end < len && t[end] != '?')
		end++;
	out->path = t + i;
	out->path_len = end - i;
	if (end < len) {
		out->query = t + end;
		out->query_len = len - end;
	}
	if (!out->path_len) {	/* "http://host" or "http://host?q" */
		out->path = "/";
		out->path_len = 1;
	}
	return NULL;
}

/* ---- the path ---- */

/* Bytes that are UTF-8 (no overlong forms, no surrogates, <= U+10FFFF). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += k + 1;
	}
	return true;
}

/* A segment of dots and spaces only that Windows could trim to "." or "..". */
static bool odd_dots(const char *seg, size_t n)
{
	bool dots = false;

	if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (seg[i] != '.' && seg[i] != ' ')
			return false;
		dots |= seg[i] == '.';
	}
	return n > 0 && dots;
}

/*
 * RFC 3986 5.2.4 on a path that starts with '/' and has no empty segments:
 * segment by segment, "." dropped, ".." drops the last kept one (never
 * above the root). A path ending in "." or ".." ends with '/'.
 */
static size_t remove_dots(const char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	while (i < n) {
		size_t s = i + 1, e = s;	/* in[i] == '/' */

		while (e < n && in[e] != '/')
			e++;
		if (e - s == 1 && in[s] == '.') {
			if (e == n)
				out[o++] = '/';
		} else if (e - s == 2 && in[s] == '.' && in[s + 1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;	/* the '/' before it */
			if (e == n)
				out[o++] = '/';
		} else {
			memcpy(out + o, in + i, e - i);
			o += e - i;
		}
		i = e;
	}
	if (!o)
		out[o++] = '/';
	return o;
}

const char *esp_path_normalise(const char *p, size_t len, char *out, size_t cap)
{
	char dec[ESP_PATH_MAX], col[ESP_PATH_MAX];
	size_t d = 0, c = 0, n;

	if (cap < ESP_PATH_MAX || !len || p[0] != '/')
		return "a path that does not start with '/'";
	if (len >= ESP_PATH_MAX)
		return "a path too long to check";
	/* decode once */
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)p[i];

		if (b == '%') {
			int hi = i + 2 < len ? exlb_hex_digit(p[i + 1]) : -1;
			int lo = i + 2 < len ? exlb_hex_digit(p[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return "a bad percent-encoding (or an IIS %u encoding)";
			b = (unsigned char)(hi * 16 + lo);
			i += 2;
			if (!b)
				return "an encoded NUL in the path";
		}
		if (b < 0x20 || b == 0x7f)
			return "a control character in the path";
		dec[d++] = (char)b;
	}
	/* a second level of encoding of what changes a path's meaning */
	for (size_t i = 0; i + 2 < d; i++) {
		int hi, lo, v;

		if (dec[i] != '%')
			continue;
		hi = exlb_hex_digit(dec[i + 1]);
		lo = exlb_hex_digit(dec[i + 2]);
		if (hi < 0 || lo < 0)
			continue;
		v = hi * 16 + lo;
		if (v == '/' || v == '\\' || v == '.' || v == 0)
			return "a double percent-encoding of '/', '\\', '.' or NUL";
	}
	if (!utf8_ok((const unsigned char *)dec, d))
		return "bytes in the path that are not UTF-8";
	/* '\' is '/', "//" is '/'; ';' parameters and odd dot segments refused */
	for (size_t i = 0; i < d; i++) {
		char ch = dec[i] == '\\' ? '/' : dec[i];

		if (ch == ';')
			return "a ';' path parameter";
		if (ch == '/' && c && col[c - 1] == '/')
			continue;
		col[c++] = ch;
	}
	for (size_t i = 0; i < c;) {
		size_t e = i + 1;

		while (e < c && col[e] != '/')
			e++;
		if (odd_dots(col + i + 1, e - i - 1))
			return "a path segment of dots and spaces";
		i = e;
	}
	n = remove_dots(col, c, out);
	out[n] = '\0';
	return NULL;
}

size_t esp_path_encode(const char *path, char *out, size_t cap)
{
	size_t o = 0;

	/* pchar (unreserved, sub-delims, ':', '@') and '/': %20 for a space */
	if (!exlb_pct_encode(out, cap, &o, path, strlen(path),
			     "-._~!$&'()*+,=:@/", false))
		return 0;
	out[o] = '\0';
	return o;
}

/* ---- hosts ---- */

const char *esp_host_normalise(const char *h, size_t len, char *out, size_t cap)
{
	size_t end = len, o = 0;

	if (!len)
		return "no Host";
	if (h[0] == '[') {
		const char *rb = memchr(h, ']', len);

		if (!rb)
			return "a bad IPv6 literal in the Host";
		end = (size_t)(rb - h) + 1;
		for (size_t i = 1; i + 1 < end; i++)
			if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
				return "a bad IPv6 literal in the Host";
	} else {
		const char *colon = memchr(h, ':', len);

		if (colon)
			end = (size_t)(colon - h);
		for (size_t i = 0; i < end; i++)
			if (!isalnum((unsigned char)h[i]) && h[i] != '-' &&
			    h[i] != '.' && h[i] != '_')
				return "a character a host name cannot have in the Host";
	}
	if (end < len) {	/* a port: ":" and digits only */
		if (h[end] != ':' || end + 1 == len || len - end > 6)
			return "a bad port in the Host";
		for (size_t i = end + 1; i < len; i++)
			if (!isdigit((unsigned char)h[i]))
				return "a bad port in the Host";
	}
	if (end > 0 && h[end - 1] == '.' && h[0] != '[')
		end--;
	if (!end || end >= cap)
		return "an empty or too long Host";
	for (size_t i = 0; i < end; i++)
		out[o++] = (char)tolower((unsigned char)h[i]);
	out[o] = '\0';
	if (out[0] == '.' || strstr(out, ".."))
		return "a bad host name in the Host";
	return NULL;
}

/* ---- Kemp's lists ---- */

bool esp_list_match(const char *list, const char *s, bool host)
{
	const char *sep = " \t\r\n,;";
	const char *p = list;

	while (*p) {
		char pat[1024];
		size_t n;

		p += strspn(p, sep);
		n = strcspn(p, sep);
		if (!n)
			break;
		if (n < sizeof(pat)) {
			memcpy(pat, p, n);
			if (host && n > 1 && pat[n - 1] == '.')
				n--;
			pat[n] = '\0';
			if (!fnmatch(pat, s, FNM_CASEFOLD))
				return true;
		}
		p += strcspn(p, sep);
	}
	return false;
}

/* ---- SMTP ---- */

const char *esp_rcpt_domain(const char *arg, size_t len, char *out, size_t cap)
{
	const char *lt, *gt, *at;
	size_t i = 0, dlen;

	if (!has_prefix(arg, len, "TO:"))
		return "no TO:";
	i = 3;
	while (i < len && arg[i] == ' ')
		i++;
	if (i >= len || arg[i] != '<')
		return "an address without <>";
	lt = arg + i;
	gt = memchr(lt, '>', len - i);
	if (!gt)
		return "an address without <>";
	if (lt[1] == '@')
		return "a source route";
	if (memchr(lt, '"', (size_t)(gt - lt)) || memchr(lt, '\\', (size_t)(gt - lt)))
		return "a quoted local part";
	at = memchr(lt, '@', (size_t)(gt - lt));
	if (!at || at == lt + 1)
		return "an address without a domain";
	if (memchr(at + 1, '@', (size_t)(gt - at - 1)))
		return "an address with '@' twice";
	dlen = (size_t)(gt - at - 1);
	if (!dlen || dlen >= cap)
		return "an address without a domain";
	for (size_t k = 0; k < dlen; k++) {
		char ch = at[1 + k];

		if (!isalnum((unsigned char)ch) && ch != '-' && ch != '.' &&
		    ch != '[' && ch != ']' && ch != ':')
			return "a bad character in the domain";
		out[k] = (char)tolower((unsigned char)ch);
	}
	out[dlen] = '\0';
	if (dlen > 1 && out[dlen - 1] == '.')
		out[dlen - 1] = '\0';
	return NULL;
}
