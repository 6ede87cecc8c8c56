// SPDX-License-Identifier: GPL-2.0 OR MIT
/* loadgen: see loadgen.h. */
#define _GNU_SOURCE
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

volatile sig_atomic_t stop;
int epfd = -1;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

void loadgen_init(void)
{
	struct sigaction sact;

	/* No SA_RESTART: a signal cuts epoll_wait() and sleeps short. */
	memset(&sact, 0, sizeof(sact));
	sact.sa_handler = on_signal;
	sigaction(SIGTERM, &sact, NULL);
	sigaction(SIGINT, &sact, NULL);
	signal(SIGPIPE, SIG_IGN);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
}

void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(errno));
	exit(1);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double now(void)
{
	return (double)now_ns() / 1e9;
}

int parse_addrs(const char *s, struct sockaddr_in *out, int max, int with_port)
{
	char buf[4096], *save = NULL, *tok;
	int n = 0;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':');
		long port = 0;

		if (n == max)
			return -1;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].sin_family = AF_INET;
		if (with_port) {
			char *end;

			if (!colon)
				return -1;
			*colon = '\0';
			port = strtol(colon + 1, &end, 10);
			if (*end || port < 1 || port > 65535)
				return -1;
		}
		out[n].sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, tok, &out[n].sin_addr) != 1)
			return -1;
		n++;
	}
	return n;
}

void raise_nofile(unsigned long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit");
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need)
		rl.rlim_max = need;
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit RLIMIT_NOFILE (need root or a higher hard limit)");
}

int connect_from(const struct sockaddr_in *dst, const struct sockaddr_in *src, uint64_t *t0_ns)
{
	int fd, one = 1, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (src) {
		/* Let connect() choose the port with the whole 4-tuple. */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)src, sizeof(*src)))
			die("bind source address");
	}
	*t0_ns = now_ns();
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) && errno != EINPROGRESS) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

int wait_events(struct epoll_event *evs, int max, int timeout_ms)
{
	int n = epoll_wait(epfd, evs, max, timeout_ms);

	if (n < 0) {
		if (errno != EINTR)
			die("epoll_wait");
		return 0;
	}
	return n;
}
