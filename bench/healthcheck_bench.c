// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * healthcheck_bench: what thousands of health checks cost exlbd. Runs the
 * engine (userspace/exlbd/health/health*.c) with N http(s) targets spread over the
 * given server addresses and, for each check interval, prints the checks
 * finished, and the CPU time this process used (getrusage, user + system)
 * as a share of the interval: the daemon-side cost of health checking.
 *
 * Usage: healthcheck_bench [-n targets] [-i interval_ms] [-t timeout_ms]
 *                          [-c intervals] [-p port] [-s] [-R n] [-u url] ADDR...
 *   -s: https instead of http; -R n: exlb_health_set_tls_resume(n).
 *   Targets go round-robin over the ADDRs.
 *
 * Output (one line per interval, then a summary), e.g.
 *   interval 1: checks 10000 ok 10000 failed 0 cpu 212 ms (2.4 %) 1111 checks/s max in flight 5
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include <ev.h>

#include "userspace/exlbd/health/health.h"

static struct exlb_health *h;
static unsigned int ups, downs, max_in_flight;
static unsigned int n_intervals, done_intervals;
static struct exlb_health_stats last;
static double last_cpu, last_user, interval_s, total_cpu, total_user;
static uint64_t total_checks;

/* user + system CPU seconds of this process; *user gets the user part */
static double cpu_seconds(double *user)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	return *user + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void on_change(void *ctx, uint64_t id, bool up, const char *reason)
{
	(void)ctx;
	(void)id;
	if (up) {
		ups++;
	} else {
		downs++;
		if (downs <= 5)
			fprintf(stderr, "target %llu down: %s\n",
				(unsigned long long)id, reason);
	}
}

static void sample_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exlb_health_stats st;

	(void)loop;
	(void)w;
	(void)revents;
	exlb_health_get_stats(h, &st);
	if (st.in_flight > max_in_flight)
		max_in_flight = st.in_flight;
}

static void interval_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exlb_health_stats st;
	double user, cpu = cpu_seconds(&user), used = cpu - last_cpu;
	uint64_t checks;

	(void)w;
	(void)revents;
	exlb_health_get_stats(h, &st);
	checks = st.checks - last.checks;
	done_intervals++;
	printf("interval %u: checks %llu ok %llu failed %llu "
	       "cpu %.0f ms (user %.0f, sys %.0f) = %.2f %% of one core, "
	       "%.0f checks/s, max in flight %u\n",
	       done_intervals, (unsigned long long)checks,
	       (unsigned long long)(st.ok - last.ok),
	       (unsigned long long)(st.failed - last.failed),
	       used * 1000, (user - last_user) * 1000,
	       (used - (user - last_user)) * 1000,
	       used / interval_s * 100, checks / interval_s, max_in_flight);
	fflush(stdout);
	total_cpu += used;
	total_user += user - last_user;
	last_user = user;
	total_checks += checks;
	last = st;
	last_cpu = cpu;
	max_in_flight = 0;
	if (done_intervals == n_intervals)
		ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	unsigned int n = 10000, interval = 9000, timeout = 4000, port = 80, i;
	struct sockaddr_storage *addrs;
	struct exlb_check_spec spec;
	const char *url = "/owa/healthcheck.htm";
	ev_timer tick, sample;
	struct ev_loop *loop;
	struct rlimit rl;
	unsigned int tls_full_every = EXLB_HEALTH_TLS_FULL_EVERY;
	bool tls = false;
	int opt, n_addrs;

	n_intervals = 2;
	while ((opt = getopt(argc, argv, "n:i:t:c:p:sR:u:")) != -1) {
		switch (opt) {
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'i': interval = strtoul(optarg, NULL, 10); break;
		case 't': timeout = strtoul(optarg, NULL, 10); break;
		case 'c': n_intervals = strtoul(optarg, NULL, 10); break;
		case 'p': port = strtoul(optarg, NULL, 10); break;
		case 's': tls = true; break;
		case 'R': tls_full_every = strtoul(optarg, NULL, 10); break;
		case 'u': url = optarg; break;
		default:
			fprintf(stderr, "usage: healthcheck_bench [-n targets] "
				"[-i ms] [-t ms] [-c intervals] [-p port] [-s] "
				"[-R n] [-u url] ADDR...\n");
			return 2;
		}
	}
	n_addrs = argc - optind;
	if (n_addrs < 1 || !n || !n_intervals)
		return 2;
	addrs = calloc(n_addrs, sizeof(*addrs));
	for (i = 0; i < (unsigned int)n_addrs; i++) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&addrs[i];
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addrs[i];

		if (inet_pton(AF_INET, argv[optind + i], &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			a4->sin_port = htons(port);
		} else if (inet_pton(AF_INET6, argv[optind + i], &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons(port);
		} else {
			fprintf(stderr, "bad address %s\n", argv[optind + i]);
			return 2;
		}
	}
	/* headroom for sockets in flight if the server stalls */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	loop = ev_default_loop(0);
	h = exlb_health_new(loop, on_change, NULL);
	exlb_health_set_tls_resume(h, tls_full_every);
	exlb_check_spec_init(&spec);
	spec.type = tls ? EXLB_CHECK_HTTPS : EXLB_CHECK_HTTP;
	snprintf(spec.url, sizeof(spec.url), "%s", url);
	spec.use_get = EXLB_CHECK_GET;
	spec.use_http11 = 1;
	snprintf(spec.host, sizeof(spec.host), "mail.exlb.test");
	spec.interval_ms = interval;
	spec.timeout_ms = timeout;
	for (i = 0; i < n; i++) {
		int err = exlb_health_add(h, i, &addrs[i % n_addrs], &spec);

		if (err) {
			fprintf(stderr, "add %u: %s\n", i, strerror(-err));
			return 1;
		}
	}
	interval_s = interval / 1000.0;
	printf("# %u %s targets over %d addresses, interval %u ms, timeout %u ms, %u intervals%s\n",
	       n, tls ? "https" : "http", n_addrs, interval, timeout, n_intervals,
	       tls && tls_full_every > 1 ? ", TLS sessions resumed" : "");
	fflush(stdout);

	ev_now_update(loop);
	last_cpu = cpu_seconds(&last_user);
	ev_timer_init(&tick, interval_cb, interval_s, interval_s);
	ev_timer_start(loop, &tick);
	ev_timer_init(&sample, sample_cb, 0.05, 0.05);
	ev_timer_start(loop, &sample);
	ev_run(loop, 0);

	printf("total: %llu checks in %u intervals, cpu %.3f s (user %.3f) = "
	       "%.2f %% of one core, %.1f us per check; "
	       "%u up, %u down transitions\n",
	       (unsigned long long)total_checks, n_intervals, total_cpu, total_user,
	       total_cpu / (interval_s * n_intervals) * 100,
	       total_checks ? total_cpu / total_checks * 1e6 : 0.0, ups, downs);
	exlb_health_free(h);
	free(addrs);
	return 0;
}
