// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * benchcli: the client of bench/l4-vs-ipvs.sh. One thread, epoll,
 * non-blocking sockets, so that the client is not what limits the rate.
 *
 *   benchcli rate -t TARGETS [-s SOURCES] [-c CONCURRENCY] [-d SECONDS]
 *                 [-m MAX_CONNS] [-T CONN_TIMEOUT_S] [-r RESP_BYTES]
 *       New connections per second: each connection connects, sends "Q\n",
 *       reads one RESP_BYTES response and closes (FIN, the client closes
 *       first). CONCURRENCY connections are kept in flight for SECONDS.
 *
 *   benchcli bulk -t TARGETS [-s SOURCES] [-n STREAMS] [-d SECONDS]
 *       Throughput: STREAMS connections each send "B\n" and then receive
 *       as fast as the server sends, for SECONDS (counted from the moment
 *       every stream has received its first byte).
 *
 *   benchcli hold -t TARGETS [-s SOURCES] -N COUNT [-c CONCURRENCY]
 *                 [-R READY_FILE] [-H HOLD_S] [-T CONN_TIMEOUT_S]
 *       Opens COUNT connections (one request/response each, so that every
 *       one is ESTABLISHED end to end), writes READY_FILE, then keeps them
 *       idle until SIGTERM/SIGINT or HOLD_S seconds, and closes them with
 *       RST (no TIME_WAIT left behind).
 *
 * TARGETS and SOURCES are comma-separated lists (ADDR:PORT, ADDR); new
 * connections take them round robin. Each prints one line of key=value
 * results on stdout. Every loop is bounded in time.
 */
#define _GNU_SOURCE
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIST 64
#define MAX_RS 16
#define LAT_BUCKETS 100000	/* 100 us each: up to 10 s */
#define MAX_EVENTS 512

enum { S_FREE, S_CONNECTING, S_READING, S_HELD };

struct slot {
	int fd;
	int state;
	uint32_t got;		/* response bytes received */
	uint64_t start_ns;
	uint64_t deadline_ns;
	char hdr[40];		/* first bytes of the response: "RS=name;" */
	uint32_t hdr_len;
};

static struct sockaddr_in targets[MAX_LIST], sources[MAX_LIST];
static int ntargets, nsources, next_target, next_source;
static uint32_t resp_len = 64;

/* Results. */
static unsigned long long n_started, n_done, n_late, n_err_connect, n_err_io,
	n_timeout, n_addrnotavail;
static char rs_name[MAX_RS][33];
static unsigned long long rs_count[MAX_RS];
static int nrs;
static unsigned int *lat_hist;
static unsigned long long lat_n;
static double lat_sum_ms;

static void tally_rs(const struct slot *s)
{
	const char *p = s->hdr, *semi;
	size_t len;
	int i;

	if (s->hdr_len < 4 || strncmp(p, "RS=", 3))
		return;
	semi = memchr(p + 3, ';', s->hdr_len - 3);
	if (!semi)
		return;
	len = (size_t)(semi - p - 3);
	if (len > 32)
		return;
	for (i = 0; i < nrs; i++) {
		if (strlen(rs_name[i]) == len && !memcmp(rs_name[i], p + 3, len)) {
			rs_count[i]++;
			return;
		}
	}
	if (nrs < MAX_RS) {
		memcpy(rs_name[nrs], p + 3, len);
		rs_name[nrs][len] = '\0';
		rs_count[nrs++] = 1;
	}
}

static void print_rs(void)
{
	int i;

	printf(" rs=");
	for (i = 0; i < nrs; i++)
		printf("%s%s:%llu", i ? "," : "", rs_name[i], rs_count[i]);
	if (!nrs)
		printf("none");
}

/* Close; with rst, by RST (SO_LINGER 0) so no TIME_WAIT is left. */
static void slot_close(struct slot *s, int rst)
{
	if (s->fd >= 0) {
		if (rst) {
			struct linger lg = { 1, 0 };

			setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(s->fd);	/* also drops it from the epoll set */
	}
	s->fd = -1;
	s->state = S_FREE;
}

/* Start a connection in @s; returns 0, or -1 if it failed at once. */
static int slot_start(struct slot *s, uint32_t idx, uint64_t timeout_ns)
{
	const struct sockaddr_in *dst = &targets[next_target++ % ntargets];
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = idx };

	memset(s, 0, sizeof(*s));
	n_started++;
	s->fd = connect_from(dst, nsources ? &sources[next_source++ % nsources] : NULL, &s->start_ns);
	if (s->fd < 0) {
		if (errno == EADDRNOTAVAIL)
			n_addrnotavail++;
		n_err_connect++;
		s->state = S_FREE;
		return -1;
	}
	s->deadline_ns = s->start_ns + timeout_ns;
	s->state = S_CONNECTING;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev))
		die("epoll_ctl add");
	return 0;
}

/*
 * Advance @s on an event. Returns 1 when the response is complete, 0 when
 * more is to come, -1 on failure (counted; the caller closes).
 */
static int slot_event(struct slot *s, uint32_t idx, uint32_t events)
{
	if (s->state == S_CONNECTING) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = idx };
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			n_err_connect++;
			return -1;
		}
		if (!(events & EPOLLOUT))
			return 0;
		if (write(s->fd, "Q\n", 2) != 2) {
			n_err_io++;
			return -1;
		}
		s->state = S_READING;
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev))
			die("epoll_ctl mod");
		return 0;
	}
	if (s->state == S_READING) {
		char buf[4096];
		int rounds;

		for (rounds = 0; rounds < 8; rounds++) {
			ssize_t n = read(s->fd, buf, sizeof(buf));

			if (n == 0) {
				n_err_io++;
				return -1;
			}
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return 0;
				if (errno == EINTR)
					continue;
				n_err_io++;
				return -1;
			}
			if (s->hdr_len < sizeof(s->hdr)) {
				uint32_t take = sizeof(s->hdr) - s->hdr_len;

				if ((size_t)n < take)
					take = (uint32_t)n;
				memcpy(s->hdr + s->hdr_len, buf, take);
				s->hdr_len += take;
			}
			s->got += (uint32_t)n;
			if (s->got >= resp_len)
				return 1;
		}
		return 0;
	}
	return 0;
}

static void record_latency(const struct slot *s, uint64_t t)
{
	uint64_t us = (t - s->start_ns) / 1000;
	uint64_t b = us / 100;

	if (b >= LAT_BUCKETS)
		b = LAT_BUCKETS - 1;
	lat_hist[b]++;
	lat_n++;
	lat_sum_ms += (double)(t - s->start_ns) / 1e6;
}

static double lat_pct(double p)
{
	unsigned long long want = (unsigned long long)(p * (double)lat_n), acc = 0;
	int i;

	if (!lat_n)
		return 0;
	for (i = 0; i < LAT_BUCKETS; i++) {
		acc += lat_hist[i];
		if (acc > want)
			return (i + 1) * 0.1;
	}
	return LAT_BUCKETS * 0.1;
}

/* Fail connections past their deadline. */
static void reap_timeouts(struct slot *slots, int n, uint64_t t)
{
	int i;

	for (i = 0; i < n; i++) {
		if ((slots[i].state == S_CONNECTING || slots[i].state == S_READING) &&
		    t >= slots[i].deadline_ns) {
			n_timeout++;
			slot_close(&slots[i], 1);
		}
	}
}

/* n free slots, and the latency histogram; dies without the memory. */
static struct slot *slots_new(int n)
{
	struct slot *slots = calloc(n, sizeof(*slots));
	int i;

	if (!lat_hist)
		lat_hist = calloc(LAT_BUCKETS, sizeof(*lat_hist));
	if (!slots || !lat_hist)
		die("calloc");
	for (i = 0; i < n; i++)
		slots[i].fd = -1;
	return slots;
}

static int run_rate(int conc, double secs, unsigned long long max_conns, double conn_timeout)
{
	struct slot *slots = slots_new(conc);
	struct epoll_event evs[MAX_EVENTS];
	uint64_t t0, end, hard_end, next_reap, tmo = (uint64_t)(conn_timeout * 1e9);
	int i, inflight;
	double elapsed;

	t0 = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	/* In-flight connections get at most the connection timeout after the end. */
	hard_end = end + tmo;
	next_reap = t0 + 100000000ull;

	for (;;) {
		uint64_t t = now_ns();
		int n;

		if (stop || t >= hard_end)
			break;
		if (t < end) {
			for (i = 0; i < conc && n_started < max_conns; i++)
				if (slots[i].state == S_FREE)
					slot_start(&slots[i], (uint32_t)i, tmo);
		}
		inflight = 0;
		for (i = 0; i < conc; i++)
			if (slots[i].state != S_FREE)
				inflight++;
		if (!inflight && (t >= end || n_started >= max_conns))
			break;
		n = wait_events(evs, MAX_EVENTS, 50);
		t = now_ns();
		for (i = 0; i < n; i++) {
			uint32_t idx = evs[i].data.u32;
			struct slot *s = &slots[idx];
			int r;

			if (s->state == S_FREE)
				continue;
			r = slot_event(s, idx, evs[i].events);
			if (r < 0) {
				slot_close(s, 1);
			} else if (r > 0) {
				if (t <= end) {
					n_done++;
					record_latency(s, t);
					tally_rs(s);
				} else {
					n_late++;
				}
				slot_close(s, 0);
			}
		}
		if (t >= next_reap) {
			reap_timeouts(slots, conc, t);
			next_reap = t + 100000000ull;
		}
	}
	for (i = 0; i < conc; i++)
		if (slots[i].state != S_FREE) {
			n_timeout++;
			slot_close(&slots[i], 1);
		}
	elapsed = secs;
	if (n_started >= max_conns) {
		/* Stopped early by the cap: rate over the time actually used. */
		double used = (double)(now_ns() - t0) / 1e9;

		if (used < elapsed)
			elapsed = used;
	}
	printf("mode=rate conns=%llu cps=%.1f started=%llu late=%llu err_connect=%llu err_io=%llu timeouts=%llu addrnotavail=%llu lat_avg_ms=%.2f lat_p50_ms=%.1f lat_p99_ms=%.1f secs=%.2f concurrency=%d",
	       n_done, elapsed > 0 ? (double)n_done / elapsed : 0.0, n_started, n_late,
	       n_err_connect, n_err_io, n_timeout, n_addrnotavail,
	       lat_n ? lat_sum_ms / (double)lat_n : 0.0, lat_pct(0.5), lat_pct(0.99),
	       elapsed, conc);
	print_rs();
	printf("\n");
	free(slots);
	return 0;
}

static int run_hold(int count, int conc, double conn_timeout, const char *ready, double hold)
{
	struct slot *slots = slots_new(count);
	struct epoll_event evs[MAX_EVENTS];
	uint64_t tmo = (uint64_t)(conn_timeout * 1e9), t0, open_end, hold_end, next_reap;
	int i, next = 0, opening = 0, opened = 0, failed = 0;

	t0 = now_ns();
	/* Opening must finish in 1 min + 20 ms per connection. */
	open_end = t0 + 60000000000ull + (uint64_t)count * 20000000ull;
	next_reap = t0 + 100000000ull;

	while (!stop && opened + failed < count) {
		uint64_t t = now_ns();
		int n;

		if (t >= open_end)
			break;
		while (opening < conc && next < count) {
			if (slot_start(&slots[next], (uint32_t)next, tmo))
				failed++;
			else
				opening++;
			next++;
		}
		n = wait_events(evs, MAX_EVENTS, 50);
		t = now_ns();
		for (i = 0; i < n; i++) {
			uint32_t idx = evs[i].data.u32;
			struct slot *s = &slots[idx];
			int r;

			if (s->state != S_CONNECTING && s->state != S_READING)
				continue;
			r = slot_event(s, idx, evs[i].events);
			if (r < 0) {
				slot_close(s, 1);
				opening--;
				failed++;
			} else if (r > 0) {
				epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
				s->state = S_HELD;
				record_latency(s, t);
				tally_rs(s);
				opening--;
				opened++;
			}
		}
		if (t >= next_reap) {
			unsigned long long before = n_timeout;

			reap_timeouts(slots, count, t);
			opening -= (int)(n_timeout - before);
			failed += (int)(n_timeout - before);
			next_reap = t + 100000000ull;
		}
	}
	for (i = 0; i < count; i++)
		if (slots[i].state == S_CONNECTING || slots[i].state == S_READING) {
			slot_close(&slots[i], 1);
			failed++;
		}

	printf("mode=hold opened=%d failed=%d open_secs=%.2f err_connect=%llu err_io=%llu timeouts=%llu addrnotavail=%llu",
	       opened, failed, (double)(now_ns() - t0) / 1e9, n_err_connect, n_err_io,
	       n_timeout, n_addrnotavail);
	print_rs();
	printf("\n");
	fflush(stdout);
	if (ready) {
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
		f = fopen(tmp, "w");
		if (!f || fprintf(f, "opened=%d failed=%d\n", opened, failed) < 0 || fclose(f) ||
		    rename(tmp, ready))
			die("ready file");
	}
	hold_end = now_ns() + (uint64_t)(hold * 1e9);
	while (!stop && now_ns() < hold_end) {
		struct timespec ts = { 0, 100000000 };

		nanosleep(&ts, NULL);
	}
	for (i = 0; i < count; i++)
		if (slots[i].state != S_FREE)
			slot_close(&slots[i], 1);
	free(slots);
	return 0;
}

static int run_bulk(int streams, double secs, double conn_timeout)
{
	struct slot *slots = slots_new(streams);
	struct epoll_event evs[MAX_EVENTS];
	unsigned long long bytes = 0;
	uint64_t tmo = (uint64_t)(conn_timeout * 1e9), t0 = 0, t_start, end = 0, t;
	static char buf[256 * 1024];
	int i, started = 0, ok = 1;
	unsigned char *first;

	first = calloc(streams, 1);
	if (!first)
		die("calloc");
	t_start = now_ns();
	for (i = 0; i < streams; i++) {
		if (slot_start(&slots[i], (uint32_t)i, tmo)) {
			ok = 0;
			break;
		}
	}
	while (ok && !stop) {
		int n;

		t = now_ns();
		if (!t0 && t - t_start > tmo) {
			n_timeout++;
			ok = 0;
			break;
		}
		if (t0 && t >= end)
			break;
		n = wait_events(evs, MAX_EVENTS, 50);
		for (i = 0; i < n; i++) {
			uint32_t idx = evs[i].data.u32;
			struct slot *s = &slots[idx];

			if (s->state == S_CONNECTING) {
				struct epoll_event ev = { .events = EPOLLIN, .data.u32 = idx };
				int err = 0;
				socklen_t len = sizeof(err);

				if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err ||
				    write(s->fd, "B\n", 2) != 2) {
					n_err_connect++;
					ok = 0;
					break;
				}
				s->state = S_READING;
				if (epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev))
					die("epoll_ctl mod");
			} else if (s->state == S_READING) {
				int rounds;

				for (rounds = 0; rounds < 4; rounds++) {
					ssize_t r = read(s->fd, buf, sizeof(buf));

					if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
						n_err_io++;
						ok = 0;
						break;
					}
					if (r < 0)
						break;
					if (!first[idx]) {
						first[idx] = 1;
						memcpy(s->hdr, buf, r < (ssize_t)sizeof(s->hdr) ? (size_t)r : sizeof(s->hdr));
						s->hdr_len = r < (ssize_t)sizeof(s->hdr) ? (uint32_t)r : sizeof(s->hdr);
						tally_rs(s);
						if (++started == streams) {
							t0 = now_ns();
							end = t0 + (uint64_t)(secs * 1e9);
						}
					}
					if (t0)
						bytes += (unsigned long long)r;
				}
			}
		}
	}
	t = now_ns();
	{
		double el = t0 ? (double)(t - t0) / 1e9 : 0;

		printf("mode=bulk ok=%d streams=%d bytes=%llu secs=%.2f mbit_s=%.1f err_connect=%llu err_io=%llu timeouts=%llu",
		       ok && !stop, streams, bytes, el, el > 0 ? (double)bytes * 8 / el / 1e6 : 0.0,
		       n_err_connect, n_err_io, n_timeout);
	}
	print_rs();
	printf("\n");
	for (i = 0; i < streams; i++)
		if (slots[i].state != S_FREE)
			slot_close(&slots[i], 1);
	free(slots);
	free(first);
	return ok ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: benchcli rate -t TARGETS [-s SOURCES] [-c CONC] [-d SECS] [-m MAX] [-T TMO] [-r RESP]\n"
		"       benchcli bulk -t TARGETS [-s SOURCES] [-n STREAMS] [-d SECS] [-T TMO]\n"
		"       benchcli hold -t TARGETS [-s SOURCES] -N COUNT [-c CONC] [-R READY] [-H HOLD_S] [-T TMO] [-r RESP]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode, *ready = NULL;
	int opt, conc = 64, streams = 3, count = 0;
	double secs = 10, tmo = 5, hold = 600;
	unsigned long long max_conns = 1000000;

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "t:s:c:d:m:T:r:n:N:R:H:")) != -1) {
		switch (opt) {
		case 't':
			ntargets = parse_addrs(optarg, targets, MAX_LIST, 1);
			if (ntargets <= 0)
				usage();
			break;
		case 's':
			nsources = parse_addrs(optarg, sources, MAX_LIST, 0);
			if (nsources <= 0)
				usage();
			break;
		case 'c':
			conc = atoi(optarg);
			break;
		case 'd':
			secs = strtod(optarg, NULL);
			break;
		case 'm':
			max_conns = strtoull(optarg, NULL, 10);
			break;
		case 'T':
			tmo = strtod(optarg, NULL);
			break;
		case 'r':
			resp_len = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			streams = atoi(optarg);
			break;
		case 'N':
			count = atoi(optarg);
			break;
		case 'R':
			ready = optarg;
			break;
		case 'H':
			hold = strtod(optarg, NULL);
			break;
		default:
			usage();
		}
	}
	if (!ntargets || conc < 1 || conc > 100000 || secs <= 0 || secs > 3600 ||
	    tmo <= 0 || tmo > 120 || resp_len < 1 || resp_len > 65536 || hold < 0 || hold > 86400)
		usage();

	loadgen_init();
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (!strcmp(mode, "rate")) {
		raise_nofile((unsigned long)conc + 64);
		return run_rate(conc, secs, max_conns, tmo);
	}
	if (!strcmp(mode, "bulk")) {
		if (streams < 1 || streams > 256)
			usage();
		raise_nofile((unsigned long)streams + 64);
		return run_bulk(streams, secs, tmo);
	}
	if (!strcmp(mode, "hold")) {
		if (count < 1 || count > 500000)
			usage();
		raise_nofile((unsigned long)count + 64);
		return run_hold(count, conc, tmo, ready, hold);
	}
	usage();
	return 2;
}
