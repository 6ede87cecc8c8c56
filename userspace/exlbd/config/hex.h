/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * One hexadecimal digit, for the places that decode text: %XX escapes in
 * rule patterns and CheckUrl, chunk sizes, kTLS key-log secrets.
 */
#ifndef EXLBD_CONFIG_HEX_H
#define EXLBD_CONFIG_HEX_H

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

#endif
