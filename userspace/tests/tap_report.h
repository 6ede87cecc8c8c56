/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The unit tests' TAP lines, "ok N - what" / "not ok N - what", numbered and
 * counted, flushed at once. Each test is one translation unit: it includes this once, prints
 * "1..test_no" at the end and exits non-zero when failures > 0.
 */
#ifndef EXLB_TEST_TAP_REPORT_H
#define EXLB_TEST_TAP_REPORT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int test_no;
static int failures;

static void report(bool pass, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void report(bool pass, const char *fmt, ...)
{
	va_list ap;

	test_no++;
	printf("%s %d - ", pass ? "ok" : "not ok", test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);	/* in order with what children print */
	if (!pass)
		failures++;
}

#endif
