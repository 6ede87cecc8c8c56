/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Hexadecimal, both ways: one digit decoded, for the places that decode
 * text (%XX escapes in rule patterns and CheckUrl, chunk sizes, kTLS
 * key-log secrets); bytes encoded as lowercase digits, for the places that
 * write keys, ids and digests as text (API keys, session cookies, HA
 * secrets and boot ids, certificate fingerprints); bytes percent-encoded,
 * for what goes to a real server (ESP's forwarded path, the OWA form
 * logon's body).
 */
#ifndef EXLBD_CONFIG_HEX_H
#define EXLBD_CONFIG_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* The digit's value, or -1 if c is not a hexadecimal digit. */
static inline int exlb_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* @n bytes of @in as 2 * @n lowercase digits and a NUL: @out holds 2n + 1. */
static inline void exlb_hex_encode(char *out, const void *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * Appends @n bytes of @in to @out at *@o percent-encoded (RFC 3986 2.1,
 * uppercase digits): ASCII letters, digits and the bytes of @keep as they
 * are, a space as '+' if @space_plus (x-www-form-urlencoded) or else %20,
 * every other byte, NUL too, as %XX. Leaves room for a NUL after, writes
 * none. False, *@o unchanged, if that does not fit in @cap.
 */
static inline bool exlb_pct_encode(char *out, size_t cap, size_t *o,
				   const void *in, size_t n, const char *keep,
				   bool space_plus)
{
	static const char digits[] = "0123456789ABCDEF";
	const unsigned char *b = in;
	size_t k = *o;

	if (k >= cap)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = b[i];
		bool plus = c == ' ' && space_plus;

		if (plus || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || (c && strchr(keep, c))) {
			if (k + 1 >= cap)
				return false;
			out[k++] = plus ? '+' : (char)c;
		} else {
			if (k + 3 >= cap)
				return false;
			out[k++] = '%';
			out[k++] = digits[c >> 4];
			out[k++] = digits[c & 15];
		}
	}
	*o = k;
	return true;
}

#endif
