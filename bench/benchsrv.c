// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * benchsrv: the real server of bench/l4-vs-ipvs.sh. One thread, epoll.
 *
 *   benchsrv -l ADDR:PORT -n NAME [-r RESP_BYTES] [-T LIFETIME_S] [-R READY_FILE]
 *
 * Protocol, chosen by the first byte a client sends on a connection:
 *   'Q'  request/response: every '\n' received is answered with RESP_BYTES
 *        bytes (default 64) that start with "RS=NAME;" and end with '\n'.
 *        The connection stays open until the client closes it.
 *   'B'  bulk: the server sends data as fast as it can (64 KiB writes, the
 *        stream starts with "RS=NAME;") until the client closes.
 * Anything else: the connection is closed.
 *
 * The server exits on SIGTERM/SIGINT or after LIFETIME_S seconds (default
 * 7200), so a forgotten one cannot run forever.
 */
#define _GNU_SOURCE
#include "loadgen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BULK_CHUNK (64 * 1024)
#define MAX_EVENTS 256

struct conn {
	unsigned char mode;	/* 0 = not yet known, 'Q', 'B' */
	unsigned char want_out;	/* EPOLLOUT currently requested */
	uint32_t pending;	/* 'Q': whole responses still to send */
	uint32_t off;		/* 'Q': bytes of the current response sent */
};

static struct conn *conns;
static int nconns_max;
static char *resp;
static uint32_t resp_len = 64;
static char *bulk;
static unsigned long long n_accepted, n_closed;

/* As many descriptors as allowed, up to 2^20 (one struct conn each). */
static void nofile_max(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit");
	if (rl.rlim_max < 1048576) {
		struct rlimit want = { 1048576, 1048576 };

		if (!setrlimit(RLIMIT_NOFILE, &want))
			rl = want;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit");
	nconns_max = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
}

static void close_conn(int fd)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	memset(&conns[fd], 0, sizeof(conns[fd]));
	n_closed++;
}

static int set_out(int fd, int on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.fd = fd };

	if (conns[fd].want_out == on)
		return 0;
	conns[fd].want_out = (unsigned char)on;
	return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

/* Send queued responses; returns -1 if the connection must be closed. */
static int flush_q(int fd)
{
	struct conn *c = &conns[fd];

	while (c->pending) {
		ssize_t n = write(fd, resp + c->off, resp_len - c->off);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return set_out(fd, 1);
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->off += (uint32_t)n;
		if (c->off == resp_len) {
			c->off = 0;
			c->pending--;
		}
	}
	return set_out(fd, 0);
}

static int send_bulk(int fd)
{
	int i;

	/* A few chunks per event, so that one stream cannot starve others. */
	for (i = 0; i < 4; i++) {
		ssize_t n = write(fd, bulk, BULK_CHUNK);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
	}
	return 0;
}

static int on_readable(int fd)
{
	struct conn *c = &conns[fd];
	char buf[4096];
	int rounds;

	for (rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(fd, buf, sizeof(buf)), i;

		if (n == 0)
			return -1;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (!c->mode) {
			if (buf[0] != 'Q' && buf[0] != 'B')
				return -1;
			c->mode = (unsigned char)buf[0];
			if (c->mode == 'B') {
				if (set_out(fd, 1))
					return -1;
				if (send_bulk(fd))
					return -1;
			}
		}
		if (c->mode == 'Q') {
			for (i = 0; i < n; i++)
				if (buf[i] == '\n')
					c->pending++;
			if (flush_q(fd))
				return -1;
		}
	}
	return 0;
}

static void accept_all(int lfd, int *reserve)
{
	int i;

	for (i = 0; i < 1024; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Shed one connection rather than spin. */
				if (*reserve >= 0) {
					close(*reserve);
					fd = accept(lfd, NULL, NULL);
					if (fd >= 0)
						close(fd);
					*reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
				}
				fprintf(stderr, "benchsrv: out of file descriptors\n");
			}
			return;
		}
		if (fd >= nconns_max) {
			close(fd);
			continue;
		}
		memset(&conns[fd], 0, sizeof(conns[fd]));
		ev.data.fd = fd;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			continue;
		}
		n_accepted++;
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: benchsrv -l ADDR:PORT -n NAME [-r RESP_BYTES] [-T LIFETIME_S] [-R READY_FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *listen_s = NULL, *name = NULL, *ready = NULL;
	struct epoll_event evs[MAX_EVENTS];
	struct sockaddr_in sa;
	double lifetime = 7200, end;
	int opt, lfd, one = 1, reserve;
	size_t hdr;

	while ((opt = getopt(argc, argv, "l:n:r:T:R:")) != -1) {
		switch (opt) {
		case 'l':
			listen_s = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'r':
			resp_len = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			lifetime = strtod(optarg, NULL);
			break;
		case 'R':
			ready = optarg;
			break;
		default:
			usage();
		}
	}
	if (!listen_s || !name || parse_addrs(listen_s, &sa, 1, 1) != 1 || strlen(name) > 32 ||
	    resp_len < 48 || resp_len > 65536 || lifetime <= 0)
		usage();

	loadgen_init();
	nofile_max();
	conns = calloc(nconns_max, sizeof(*conns));
	resp = malloc(resp_len);
	bulk = malloc(BULK_CHUNK);
	if (!conns || !resp || !bulk)
		die("malloc");
	memset(resp, '.', resp_len);
	hdr = (size_t)snprintf(resp, resp_len, "RS=%s;", name);
	resp[hdr] = '.';
	resp[resp_len - 1] = '\n';
	memset(bulk, 'b', BULK_CHUNK);
	memcpy(bulk, resp, hdr);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)))
		die("bind");
	if (listen(lfd, 65535))
		die("listen");
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev))
			die("epoll_ctl");
	}
	reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (!f)
			die("ready file");
		fprintf(f, "listening %s\n", listen_s);
		fclose(f);
	}

	end = now() + lifetime;
	while (!stop && now() < end) {
		int n = wait_events(evs, MAX_EVENTS, 200), i;

		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				accept_all(lfd, &reserve);
				continue;
			}
			if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
				close_conn(fd);
				continue;
			}
			if ((evs[i].events & EPOLLIN) && on_readable(fd)) {
				close_conn(fd);
				continue;
			}
			if (!(evs[i].events & EPOLLOUT) || !conns[fd].mode)
				continue;
			if ((conns[fd].mode == 'B' ? send_bulk(fd) : flush_q(fd)))
				close_conn(fd);
		}
	}
	fprintf(stderr, "benchsrv %s: accepted=%llu closed=%llu\n", name, n_accepted, n_closed);
	return 0;
}
