/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Hexadecimal, both ways: one digit decoded, for the places that decode
 * text (%XX escapes in rule patterns and CheckUrl, chunk sizes, kTLS
 * key-log secrets); bytes encoded as lowercase digits, for the places that
 * write keys, ids and digests as text (API keys, session cookies, HA
 * secrets and boot ids, certificate fingerprints).
 */
#ifndef EXLBD_CONFIG_HEX_H
#define EXLBD_CONFIG_HEX_H

#include <stddef.h>

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

#endif
