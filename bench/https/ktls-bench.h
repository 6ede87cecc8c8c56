/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What ktls-tx.c and ktls-rx.c, the two kTLS micro-benchmarks, share: the
 * exit on a failed call, a clock in seconds and a write of every byte.
 * Header-only so that each still builds with one `cc` line.
 */
#ifndef EXLB_KTLS_BENCH_H
#define EXLB_KTLS_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static double clock_s(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void put(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			die("write");
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

#endif
