// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * health_probe: runs the health-check engine (userspace/exlbd/health*.c)
 * against real servers and prints every state change with a timestamp, for
 * health-real.sh to assert on. One line per change:
 *
 *   <seconds since start, 3 decimals> <name> up|down <reason>
 *
 * Usage:
 *   health_probe [-i interval_ms] [-t timeout_ms] [-r retry_count]
 *                [-R rise] [-d seconds] TARGET...
 *   TARGET: comma-separated key=value: name=, type= (Kemp CheckType name),
 *           addr= (IPv4 or IPv6), port=, and optional url=, host=,
 *           method= (0 HEAD, 1 GET, 2 POST, 3 OPTIONS), http11=0|1,
 *           codes=401+503, checkport=
 *   e.g. name=owa,type=http,addr=198.18.0.2,port=80,url=/owa/healthcheck.htm,method=1
 *
 * The first line is "# t0 <epoch seconds>", the time the others count from.
 * Runs until -d seconds pass (default 60) or SIGTERM/SIGINT.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ev.h>

#include "userspace/exlbd/health/health.h"

#define MAX_TARGETS 256

static char names[MAX_TARGETS][64];
static ev_tstamp t0;
static struct ev_loop *loop;

static void on_change(void *ctx, uint64_t id, bool up, const char *reason)
{
	(void)ctx;
	ev_now_update(loop);
	printf("%.3f %s %s %s\n", ev_now(loop) - t0, names[id],
	       up ? "up" : "down", reason);
	fflush(stdout);
}

static void stop_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

static void end_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		return 0;
	}
	return -1;
}

static void set_port(struct sockaddr_storage *ss, unsigned int port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

/* Parses one TARGET into @name, @addr, @spec; -1 with a message if bad. */
static int parse_target(char *arg, char *name, size_t name_len,
			struct sockaddr_storage *addr,
			struct exlb_check_spec *spec)
{
	unsigned int port = 0;
	char *save = NULL, *kv;
	bool have_addr = false;

	name[0] = '\0';
	for (kv = strtok_r(arg, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');

		if (!v) {
			fprintf(stderr, "health_probe: '%s' is not key=value\n", kv);
			return -1;
		}
		*v++ = '\0';
		if (!strcmp(kv, "name")) {
			snprintf(name, name_len, "%s", v);
		} else if (!strcmp(kv, "type")) {
			int t = exlb_check_type_from_name(v);

			if (t < 0) {
				fprintf(stderr, "health_probe: unknown type %s\n", v);
				return -1;
			}
			spec->type = t;
		} else if (!strcmp(kv, "addr")) {
			if (parse_addr(v, addr) < 0) {
				fprintf(stderr, "health_probe: bad address %s\n", v);
				return -1;
			}
			have_addr = true;
		} else if (!strcmp(kv, "port")) {
			port = strtoul(v, NULL, 10);
		} else if (!strcmp(kv, "checkport")) {
			spec->port = strtoul(v, NULL, 10);
		} else if (!strcmp(kv, "url")) {
			snprintf(spec->url, sizeof(spec->url), "%s", v);
		} else if (!strcmp(kv, "host")) {
			snprintf(spec->host, sizeof(spec->host), "%s", v);
		} else if (!strcmp(kv, "method")) {
			spec->use_get = atoi(v);
		} else if (!strcmp(kv, "http11")) {
			spec->use_http11 = atoi(v);
		} else if (!strcmp(kv, "codes")) {
			char *s2 = NULL, *c;

			for (c = strtok_r(v, "+", &s2); c &&
			     spec->n_extra_codes < EXLB_CHECK_MAX_EXTRA_CODES;
			     c = strtok_r(NULL, "+", &s2))
				spec->extra_codes[spec->n_extra_codes++] = atoi(c);
		} else {
			fprintf(stderr, "health_probe: unknown key %s\n", kv);
			return -1;
		}
	}
	if (!name[0] || !have_addr) {
		fprintf(stderr, "health_probe: a target needs name= and addr=\n");
		return -1;
	}
	set_port(addr, port);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int interval = 1000, timeout = 1000, retry = 2, rise = 1;
	double duration = 60;
	struct exlb_health *h;
	ev_signal sigterm, sigint;
	ev_timer end;
	int opt, n = 0, err;

	while ((opt = getopt(argc, argv, "i:t:r:R:d:")) != -1) {
		switch (opt) {
		case 'i': interval = strtoul(optarg, NULL, 10); break;
		case 't': timeout = strtoul(optarg, NULL, 10); break;
		case 'r': retry = strtoul(optarg, NULL, 10); break;
		case 'R': rise = strtoul(optarg, NULL, 10); break;
		case 'd': duration = strtod(optarg, NULL); break;
		default:
			fprintf(stderr, "usage: health_probe [-i ms] [-t ms] "
				"[-r n] [-R n] [-d s] TARGET...\n");
			return 2;
		}
	}
	loop = ev_default_loop(0);
	h = exlb_health_new(loop, on_change, NULL);
	if (!h)
		return 1;
	for (; optind < argc; optind++) {
		struct exlb_check_spec spec;
		struct sockaddr_storage addr;

		if (n == MAX_TARGETS) {
			fprintf(stderr, "health_probe: at most %d targets\n", MAX_TARGETS);
			return 2;
		}
		exlb_check_spec_init(&spec);
		spec.interval_ms = interval;
		spec.timeout_ms = timeout;
		spec.retry_count = retry;
		spec.rise = rise;
		if (parse_target(argv[optind], names[n], sizeof(names[n]),
				 &addr, &spec) < 0)
			return 2;
		err = exlb_health_add(h, n, &addr, &spec);
		if (err) {
			fprintf(stderr, "health_probe: %s: %s\n", names[n],
				strerror(-err));
			return 2;
		}
		n++;
	}
	ev_now_update(loop);
	t0 = ev_now(loop);
	/* t0 in wall-clock seconds (ev_now is), so scripts can relate times */
	printf("# t0 %.3f\n# %d targets, interval %u ms, timeout %u ms, retry %u, rise %u\n",
	       t0, n, interval, timeout, retry, rise);
	fflush(stdout);
	ev_signal_init(&sigterm, stop_cb, SIGTERM);
	ev_signal_init(&sigint, stop_cb, SIGINT);
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sigint);
	ev_timer_init(&end, end_cb, duration, 0);
	ev_timer_start(loop, &end);
	ev_run(loop, 0);
	exlb_health_free(h);
	return 0;
}
