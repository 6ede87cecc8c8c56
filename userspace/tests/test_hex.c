// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of exlbd/config/hex.h: the one hex encoder (API keys, session
 * cookies, HA keys and boot ids, fingerprints, exlbadm's persistence keys)
 * against printf's "%02x", and the digit decoder against isxdigit(), both
 * over every byte value; the percent-encoder's contract (appending, @keep,
 * the space, the bound). Its callers' exact outputs are pinned in
 * test_esp_path and test_owa_form. TAP output; built with ASan/UBSan by
 * "make test".
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config/hex.h"
#include "tap_report.h"

static void test_encode(void)
{
	static const unsigned char v[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	unsigned char all[256];
	char out[2 * sizeof(all) + 2], want[2 * sizeof(all) + 1];
	bool same = true;

	memset(out, '#', sizeof(out));
	exlb_hex_encode(out, v, sizeof(v));
	report(!strcmp(out, "00017f80abff"), "6 bytes: lowercase, two digits each, NUL-terminated (got '%s')",
	       out);
	report(out[2 * sizeof(v) + 1] == '#', "nothing written past the NUL");

	memset(out, '#', sizeof(out));
	exlb_hex_encode(out, v, 0);
	report(out[0] == '\0' && out[1] == '#', "no bytes: the empty string, one byte written");

	for (size_t i = 0; i < sizeof(all); i++) {
		all[i] = (unsigned char)i;
		snprintf(want + 2 * i, 3, "%02x", all[i]);
	}
	memset(out, '#', sizeof(out));
	exlb_hex_encode(out, all, sizeof(all));
	report(!strcmp(out, want) && out[sizeof(out) - 1] == '#',
	       "every byte value: as snprintf(\"%%02x\") writes it");

	for (size_t i = 0; i < sizeof(all); i++)
		same &= exlb_hex_digit(out[2 * i]) * 16 + exlb_hex_digit(out[2 * i + 1]) == (int)i;
	report(same, "every byte value: decoded back by exlb_hex_digit()");
}

static void test_digit(void)
{
	int bad = -1;

	for (int c = 0; c < 256 && bad < 0; c++) {
		int want = !isxdigit(c) ? -1 : isdigit(c) ? c - '0' :
			   tolower(c) - 'a' + 10;

		if (exlb_hex_digit(c) != want)
			bad = c;
	}
	report(bad < 0, "exlb_hex_digit: every byte value as isxdigit() sees it (first wrong: %d)",
	       bad);
	report(exlb_hex_digit(-1) == -1, "exlb_hex_digit(EOF): -1");
}

static void test_pct(void)
{
	char out[16] = "ab";
	size_t o = 2;
	bool ok;

	ok = exlb_pct_encode(out, sizeof(out), &o, "x y/\0", 5, "", false);
	out[o] = '\0';
	report(ok && o == 13 && !strcmp(out, "abx%20y%2F%00"),
	       "appends at *o: space %%20, '/' and NUL %%XX with nothing kept (got '%s')", out);
	o = 0;
	ok = exlb_pct_encode(out, sizeof(out), &o, "x y/", 4, "/", true);
	out[o] = '\0';
	report(ok && o == 4 && !strcmp(out, "x+y/"), "@keep kept, space '+' (got '%s')", out);
	o = 2;
	ok = exlb_pct_encode(out, 6, &o, "\xff", 1, "", false);
	report(ok && o == 5, "%%XX that leaves just room for a NUL fits");
	o = 2;
	ok = exlb_pct_encode(out, 5, &o, "\xff", 1, "", false);
	report(!ok && o == 2, "one byte fewer: false, *o unchanged");
	o = 2;
	ok = exlb_pct_encode(out, 3, &o, "x", 1, "", false);
	report(!ok && o == 2, "a kept byte that leaves no room for a NUL: false");
	ok = exlb_pct_encode(out, 2, &o, "", 0, "", false);
	report(!ok && o == 2, "nothing to add, no room for the NUL: false");
}

int main(void)
{
	printf("TAP version 13\n");
	test_encode();
	test_digit();
	test_pct();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
