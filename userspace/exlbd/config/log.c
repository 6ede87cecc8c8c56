// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Errors and log lines of exlbd (declared in config.h, used by every
 * room): exlb_err_set() for the one-line errors every operation returns,
 * exlb_log() for a line with a syslog priority on stderr (the journal),
 * exlb_log_limit_hit() for events that may repeat thousands of times a
 * second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/*
 * Is stderr the journal's stream? systemd sets JOURNAL_STREAM to the
 * "DEVICE:INODE" of the socket it gives as stdout/stderr; a child with
 * stderr redirected elsewhere inherits the variable, so the device and
 * inode must match (sd_journal_stream_fd(3), systemd.exec(5)). Decided
 * once: stderr is not replaced while exlbd runs.
 */
static bool stderr_is_journal(void)
{
	static atomic_int cached = -1;
	int v = atomic_load(&cached);
	const char *env;
	unsigned long long dev, ino;
	struct stat st;

	if (v >= 0)
		return v;
	env = getenv("JOURNAL_STREAM");
	v = env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
	    !fstat(STDERR_FILENO, &st) && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
	atomic_store(&cached, v);
	return v;
}

/*
 * "exlbd", or a child process's "exlbd: worker[PID]" or "exlbd: directory[PID]"
 * (one "exlbd: " prefix for every line, docs/operations.md)
 */
static char log_tag[48] = "exlbd";

void exlb_log_set_tag(const char *tag)
{
	snprintf(log_tag, sizeof(log_tag), "%s", tag);
}

void exlb_log(int pri, const char *fmt, ...)
{
	char line[EXLB_LOG_LINE_MAX];
	size_t len, room;
	va_list ap;
	int n;

	/* "<4>" is what sd-daemon.h's SD_WARNING expands to */
	if (stderr_is_journal())
		len = snprintf(line, sizeof(line), "<%d>%s: ", LOG_PRI(pri), log_tag);
	else
		len = snprintf(line, sizeof(line), "%s: ", log_tag);
	room = sizeof(line) - len - 1;
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
