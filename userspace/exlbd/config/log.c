// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Errors and log lines of exlbd (declared in config.h, used by every
 * room): exlb_err_set() for the one-line errors every operation returns,
 * exlb_log() for a line on stderr (the journal), exlb_log_limit_hit() for
 * events that may repeat thousands of times a second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

int exlb_err_set(struct exlb_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

void exlb_log(const char *fmt, ...)
{
	static const char prefix[] = "exlbd: ";
	char line[EXLB_LOG_LINE_MAX];
	size_t len = sizeof(prefix) - 1, room = sizeof(line) - len - 1;
	va_list ap;
	int n;

	memcpy(line, prefix, len);
	va_start(ap, fmt);
	n = vsnprintf(line + len, room + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > room) {
		memcpy(line + len + room - 3, "...", 3);
		n = room;
	}
	len += n;
	line[len++] = '\n';
	/* one write: a pipe (the journal) takes up to PIPE_BUF bytes whole */
	while (write(STDERR_FILENO, line, len) < 0 && errno == EINTR)
		;
}

uint64_t exlb_log_limit_hit(struct exlb_log_limit *ll, unsigned int interval_ms)
{
	struct timespec ts;
	uint64_t now, next, events;

	events = atomic_fetch_add(&ll->events, 1) + 1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	next = atomic_load(&ll->next_ms);
	/* one thread per interval wins the line */
	if (now < next ||
	    !atomic_compare_exchange_strong(&ll->next_ms, &next, now + interval_ms))
		return 0;
	return events - atomic_exchange(&ll->reported, events);
}
