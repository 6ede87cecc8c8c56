/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * loadgen: the plumbing bench's load generators (benchcli, https/tlsload,
 * mail/mailload) and benchsrv share: one epoll set, a stop flag set by
 * SIGTERM/SIGINT, the monotonic clock, IPv4 address lists, the descriptor
 * limit and a non-blocking connect from a chosen source address.
 */
#ifndef BENCH_LOADGEN_H
#define BENCH_LOADGEN_H

#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>

extern volatile sig_atomic_t stop;	/* SIGTERM or SIGINT came */
extern int epfd;			/* the program's epoll set */

/* SIGTERM/SIGINT set stop (no SA_RESTART), SIGPIPE ignored; epfd created. */
void loadgen_init(void);
/* "PROG: what: strerror(errno)" on stderr, exit 1. */
void die(const char *what) __attribute__((noreturn));
uint64_t now_ns(void);
double now(void);	/* now_ns() in seconds */
/*
 * A comma-separated list of ADDR:PORT (with_port) or ADDR into out[0..max):
 * how many, or -1 for a bad or too long list.
 */
int parse_addrs(const char *s, struct sockaddr_in *out, int max, int with_port);
/* At least need descriptors (raising the hard limit where allowed), or die. */
void raise_nofile(unsigned long need);
/*
 * A non-blocking TCP connection to dst, from src's address (NULL: the
 * kernel's choice) with the port left to connect(); *t0_ns is stamped just
 * before connect(). The descriptor, or -1 with errno when connect() failed
 * at once (then nothing is left open).
 */
int connect_from(const struct sockaddr_in *dst, const struct sockaddr_in *src, uint64_t *t0_ns);
/* epoll_wait() on epfd: the events, 0 when a signal cut it short; dies on errors. */
int wait_events(struct epoll_event *evs, int max, int timeout_ms);

#endif
