// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The L7 proxy's public face (proxy.h) and its workers: the worker threads,
 * their listening sockets and descriptor budget, handing each new plan
 * (plan.c) to them, passive health reports, and the counters. Scheduling
 * and persistence are sched.c and persist.c; connections are
 * proxy_conn.c and mail_conn.c.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "esp/sso.h"
#include "ktls.h"
#include "proxy_int.h"
#include "relay.h"
#include "uapi/linux/exlb.h"

#define L7_LISTEN_BACKLOG	4096
#define L7_SWEEP_S		1.0
#define L7_LAG_S		0.25	/* the loop-lag timer's period */
#define L7_LAG_WINDOW_S		10.0	/* lag_max covers one or two windows */
#define L7_ACCEPT_REST_S	0.1	/* nginx: 0.5 */
#define L7_RATE_LOG_MS		10000
#define L7_FD_FALLBACK		1024	/* if getrlimit() fails */

/* ---- time ---- */

uint64_t l7_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- passive health ---- */

void l7_rs_connect_failed(struct exlb_proxy *p, struct l7_rs_state *st, int err,
			  bool retried)
{
	atomic_store(&st->last_fail, err);
	atomic_fetch_add(&st->connect_fails, 1);
	if (retried)
		atomic_fetch_add(&p->connect_retries, 1);
	ev_async_send(p->main_loop, &p->rs_failed);
}

void l7_rs_connect_ok(struct l7_rs_state *st)
{
	if (atomic_load_explicit(&st->connect_fails, memory_order_relaxed))
		atomic_store(&st->connect_fails, 0);
}

/*
 * Main thread, woken by a worker: each RS whose failures in a row grew is
 * handed to the daemon, which owns verdicts (main.c marks it down through
 * the health engine once the count reaches the VS's RetryCount).
 */
static void on_rs_failed(struct ev_loop *loop, ev_async *a, int revents)
{
	struct exlb_proxy *p = a->data;

	(void)loop;
	(void)revents;
	for (struct l7_rs_state *st = p->rs_states; st; st = st->next) {
		unsigned int n = atomic_load(&st->connect_fails);
		int err = atomic_load(&st->last_fail);

		if (n <= st->fails_seen) {
			st->fails_seen = n;	/* reset by a good connect */
			continue;
		}
		st->fails_seen = n;
		if (!p->opts.rs_failed ||
		    !p->opts.rs_failed(p->opts.rs_failed_ctx, st->rs_id, n,
				       err == ETIMEDOUT ? "timeout" :
				       err == ETIME ? "no greeting" :
				       strerror(err)))
			continue;
		atomic_store(&st->connect_fails, 0);
		st->fails_seen = 0;
	}
}


/*
 * A content rule's regex gave up on a request (a PCRE2 limit): it counted
 * as no match. Logged once per rule name and pattern (content.c decides);
 * exlbctl stats counts them all.
 */
static void on_rule_limit(const char *rule, int pcre2_error)
{
	exlb_log(LOG_WARNING, "proxy: rule %s: a match hit PCRE2's %s limit and counts as no "
		 "match; further hits are counted in exlbctl stats, not logged",
		 rule, exlb_content_limit_name(pcre2_error));
}


/* ---- the descriptor budget ---- */

/*
 * RLIMIT_NOFILE is read again every second (prlimit may change it) and at
 * every shortage; the reserve never takes more than half of it.
 */
static unsigned int fd_limit_now(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return L7_FD_FALLBACK;
	return rl.rlim_cur > INT_MAX ? INT_MAX : (unsigned int)rl.rlim_cur;
}

static unsigned int fd_reserve_of(struct exlb_proxy *p, unsigned int limit)
{
	unsigned int reserve = atomic_load(&p->fd_reserve);

	return reserve > limit / 2 ? limit / 2 : reserve;
}

static void fd_ceiling_refresh(struct l7_worker *w)
{
	w->fd_limit = fd_limit_now();
	w->fd_ceiling = w->fd_limit - fd_reserve_of(w->proxy, w->fd_limit);
}

/* One shortage more: counted, and a line at most every 10 s for them all. */
static void fd_shortage(struct l7_worker *w, const char *what, const char *why)
{
	struct exlb_proxy *p = w->proxy;
	uint64_t n = exlb_log_limit_hit(&p->fd_log, L7_RATE_LOG_MS);

	fd_ceiling_refresh(w);
	if (n)
		exlb_log(LOG_WARNING, "proxy: out of file descriptors (%s: %s; limit %u, the last %u kept for health checks and the control socket): %llu shortages since the last such line; so far %llu connections refused, %llu accept pauses",
			 what, why, w->fd_limit,
			 w->fd_limit - w->fd_ceiling, (unsigned long long)n,
			 (unsigned long long)atomic_load(&p->conns_refused),
			 (unsigned long long)atomic_load(&p->accept_pauses));
}

int l7_fd_admit(struct l7_worker *w, int fd)
{
	if (fd < 0)
		return -errno;
	if ((unsigned int)fd < w->fd_ceiling)
		return fd;
	close(fd);
	atomic_fetch_add(&w->proxy->fd_short, 1);
	fd_shortage(w, "server connection", "at the reserve");
	return -EMFILE;
}

int l7_pipe_open(struct l7_worker *w, int pipe[2])
{
	if (pipe2(pipe, O_NONBLOCK | O_CLOEXEC)) {
		int err = -errno;

		pipe[0] = pipe[1] = -1;
		return err;
	}
	if ((unsigned int)pipe[0] < w->fd_ceiling &&
	    (unsigned int)pipe[1] < w->fd_ceiling)
		return 0;
	close(pipe[0]);
	close(pipe[1]);
	pipe[0] = pipe[1] = -1;
	atomic_fetch_add(&w->proxy->fd_short, 1);
	fd_shortage(w, "splice pipe", "at the reserve");
	return -EMFILE;
}

void exlb_proxy_set_fd_reserve(struct exlb_proxy *p, unsigned int n)
{
	if (p->remote)
		p->opts.remote->set_fd_reserve(p->remote, n);
	atomic_store(&p->fd_reserve, n);
}

/* ---- listeners (per worker: SO_REUSEPORT spreads connections) ---- */

struct l7_listener {
	ev_io io;
	ev_timer rest;		/* a listener out of descriptors rests */
	int fd;
	uint32_t vs_id;
	struct sockaddr_storage vip;
	socklen_t viplen;
	struct l7_worker *w;
	struct l7_listener *next;
};

/*
 * Out of descriptors (or kernel memory): the pending connection stays in
 * the backlog and the listener stops watching for L7_ACCEPT_REST_S, as
 * nginx and HAProxy do -- a level-triggered watcher would otherwise call
 * accept() again at once, forever.
 */
static void listener_rest(struct l7_listener *l)
{
	struct l7_worker *w = l->w;

	atomic_fetch_add(&w->proxy->accept_pauses, 1);
	ev_io_stop(w->loop, &l->io);
	ev_timer_set(&l->rest, L7_ACCEPT_REST_S, 0);
	ev_timer_start(w->loop, &l->rest);
}

static void on_rest_end(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct l7_listener *l = t->data;

	(void)revents;
	ev_io_start(loop, &l->io);
}

/* MaxConnsLimit: the connection was closed; a line every 10 s at most. */
static void vs_over_limit(struct exlb_proxy *p, const struct l7_vs *vs)
{
	uint64_t n;

	atomic_fetch_add(&p->conns_over_limit, 1);
	n = exlb_log_limit_hit(&p->limit_log, L7_RATE_LOG_MS);
	if (n)
		exlb_log(LOG_WARNING, "proxy: %s: MaxConnsLimit %u reached: %llu connection(s) closed at once",
			 vs->name, vs->max_conns, (unsigned long long)n);
}

static bool accept_error_is_shortage(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	struct l7_listener *l = (struct l7_listener *)io;
	struct l7_worker *w = l->w;
	char what[48];

	(void)loop;
	(void)revents;
	/* bounded: other listeners and connections get their turn */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct l7_vs *vs;
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;

			if (err == EAGAIN || err == EINTR || err == ECONNABORTED)
				return;
			snprintf(what, sizeof(what), "accept on VS %u", l->vs_id);
			listener_rest(l);
			if (accept_error_is_shortage(err))
				fd_shortage(w, what, strerror(err));
			else
				exlb_log(LOG_ERR, "proxy: %s: %s", what, strerror(err));
			return;
		}
		if ((unsigned int)fd >= w->fd_ceiling) {
			/* refused at once: the backlog waits for the rest */
			close(fd);
			atomic_fetch_add(&w->proxy->conns_refused, 1);
			snprintf(what, sizeof(what), "accept on VS %u", l->vs_id);
			listener_rest(l);
			fd_shortage(w, what, "at the reserve: connection refused");
			return;
		}
		vs = l7_plan_vs(w->plan, l->vs_id);
		if (!vs) {
			close(fd);
			continue;
		}
		if (!l7_vs_conn_admit(vs)) {
			close(fd);
			vs_over_limit(w->proxy, vs);
			continue;
		}
		if (vs->kind == L7_VS_STARTTLS)
			l7_mail_accept(w, fd, vs, &peer);
		else
			l7_accept(w, fd, vs, &peer);
	}
}

/* Watches the listening socket @fd for @vs (closed if out of memory). */
static int listener_add(struct l7_worker *w, const struct l7_vs *vs, int fd)
{
	struct l7_listener *l = calloc(1, sizeof(*l));
	int one = 1;

	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	/*
	 * Accepted sockets inherit TCP_NODELAY from their listener: one
	 * setsockopt() here, not one per connection (l7_relay_new()). Here,
	 * not in listener_open(): an upgrade's adopted listeners get it too.
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	l->fd = fd;
	l->vs_id = vs->id;
	l->vip = vs->vip;
	l->viplen = vs->viplen;
	l->w = w;
	ev_io_init(&l->io, on_accept, fd, EV_READ);
	ev_io_start(w->loop, &l->io);
	ev_timer_init(&l->rest, on_rest_end, L7_ACCEPT_REST_S, 0);
	l->rest.data = l;
	l->next = w->listeners;
	w->listeners = l;
	return 0;
}

int exlb_proxy_listen_socket(const struct sockaddr_storage *vip,
			     socklen_t viplen)
{
	int one = 1, fd;

	fd = socket(vip->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* the VIP may appear on an interface later (keepalived) */
	setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (vip->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)vip, viplen) ||
	    listen(fd, L7_LISTEN_BACKLOG)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * A worker process binds nothing (its filter kills bind and listen): a VS
 * without a socket from the manager is not listened on until one comes.
 */
static int listener_open(struct l7_worker *w, const struct l7_vs *vs)
{
	int fd;

	if (w->proxy->opts.sandboxed)
		return -ENOTSOCK;
	fd = exlb_proxy_listen_socket(&vs->vip, vs->viplen);
	return fd < 0 ? fd : listener_add(w, vs, fd);
}

/*
 * close(), never shutdown(): after an upgrade another exlbd holds the same
 * socket, and shutdown() would stop it for both.
 */
static void listener_close(struct l7_worker *w, struct l7_listener *l)
{
	ev_io_stop(w->loop, &l->io);
	ev_timer_stop(w->loop, &l->rest);
	close(l->fd);
	free(l);
}

static void listeners_close_all(struct l7_worker *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->listeners) {
		struct l7_listener *l = w->listeners;

		w->listeners = l->next;
		listener_close(w, l);
	}
	pthread_mutex_unlock(&w->lock);
}

/* The address a socket is bound to equals @vs's VIP and port. */
static bool sock_is_vip(const struct sockaddr_storage *ss, const struct l7_vs *vs)
{
	const struct sockaddr_storage *v = &vs->vip;

	if (ss->ss_family != v->ss_family)
		return false;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss, *b = (const void *)v;

		return a->sin_port == b->sin_port &&
		       a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss, *b = (const void *)v;

		return a->sin6_port == b->sin6_port &&
		       !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr));
	}
	return false;
}

static bool fd_is_vip(int fd, const struct l7_vs *vs)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return !getsockname(fd, (struct sockaddr *)&ss, &len) && sock_is_vip(&ss, vs);
}

/*
 * Listeners follow the plan: kept when the VS keeps its id and VIP:port.
 * A VS without one takes the sockets received for its address (@adopt,
 * an upgrade), else binds its own. Under w->lock: the main thread reads
 * the list (exlb_proxy_listener_fds()).
 */
static void listeners_sync(struct l7_worker *w, int *adopt, size_t nr_adopt)
{
	struct l7_listener **pp = &w->listeners, *l;

	while ((l = *pp)) {
		struct l7_vs *vs = l7_plan_vs(w->plan, l->vs_id);

		if (vs && vs->viplen == l->viplen &&
		    !memcmp(&vs->vip, &l->vip, l->viplen)) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		listener_close(w, l);
	}
	for (size_t i = 0; w->plan && i < w->plan->nr_vs; i++) {
		const struct l7_vs *vs = &w->plan->vs[i];
		bool have = false;
		int err;

		for (size_t k = 0; k < nr_adopt; k++) {
			if (adopt[k] < 0 || !fd_is_vip(adopt[k], vs))
				continue;
			have = !listener_add(w, vs, adopt[k]) || have;
			adopt[k] = -1;
		}
		for (l = w->listeners; l && !have; l = l->next)
			have = l->vs_id == vs->id;
		if (have)
			continue;
		err = listener_open(w, vs);
		if (err && w->index == 0) {
			char addr[80];

			l7_sockaddr_format(&vs->vip, addr, sizeof(addr), true);
			exlb_log(LOG_ERR, "proxy: %s (id %u): cannot listen on %s: %s",
				 vs->name, vs->id, addr, err == -ENOTSOCK ?
				 "no listening socket from the manager" : strerror(-err));
		}
	}
}

/* ---- workers ---- */

static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
	struct l7_worker *w = a->data;
	struct l7_plan *next;
	int *adopt;
	size_t nr_adopt;
	bool stop;

	(void)revents;
	pthread_mutex_lock(&w->lock);
	next = w->next_plan;
	w->next_plan = NULL;
	stop = w->stop;
	adopt = NULL;
	nr_adopt = 0;
	if (next) {	/* received sockets go with the plan they were matched to */
		adopt = w->adopt;
		nr_adopt = w->nr_adopt;
		w->adopt = NULL;
		w->nr_adopt = 0;
	}
	pthread_mutex_unlock(&w->lock);
	if (next) {
		l7_plan_put(w->plan);
		w->plan = next;
		fd_ceiling_refresh(w);	/* the reserve follows the configuration */
		if (!l7_draining(w)) {
			pthread_mutex_lock(&w->lock);
			listeners_sync(w, adopt, nr_adopt);
			pthread_mutex_unlock(&w->lock);
		}
		l7_relays_sweep(w);
	}
	for (size_t i = 0; i < nr_adopt; i++)
		if (adopt[i] >= 0)
			close(adopt[i]);	/* a newer plan dropped their VS */
	free(adopt);
	if (l7_draining(w) && w->listeners) {
		listeners_close_all(w);
		l7_idle_servers_expire(w, ev_now(loop), true);
		l7_relays_sweep(w);
	}
	if (stop)
		ev_break(loop, EVBREAK_ALL);
}

static void on_sweep(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct l7_worker *w = t->data;

	(void)revents;
	fd_ceiling_refresh(w);
	l7_relays_sweep(w);
	l7_idle_servers_expire(w, ev_now(loop), false);
}

/*
 * How late this worker's loop ran a timer that was due: the time spent in
 * other callbacks (or waiting for a core) before it got its turn.
 */
static void on_lag(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct l7_worker *w = t->data;
	double now = ev_time(), late = now - w->lag_due;
	uint64_t us = late > 0 ? (uint64_t)(late * 1e6) : 0;

	(void)revents;
	atomic_store_explicit(&w->lag_us, us, memory_order_relaxed);
	if (now >= w->lag_window_end) {
		atomic_store_explicit(&w->lag_max_prev_us,
				      atomic_load_explicit(&w->lag_max_us, memory_order_relaxed),
				      memory_order_relaxed);
		atomic_store_explicit(&w->lag_max_us, 0, memory_order_relaxed);
		w->lag_window_end = now + L7_LAG_WINDOW_S;
	}
	if (us > atomic_load_explicit(&w->lag_max_us, memory_order_relaxed))
		atomic_store_explicit(&w->lag_max_us, us, memory_order_relaxed);
	ev_now_update(loop);
	w->lag_due = ev_now(loop) + L7_LAG_S;
	ev_timer_set(t, L7_LAG_S, 0);
	ev_timer_start(loop, t);
}

static void on_log_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	l7_access_log_flush(w->data);
}

static void *worker_main(void *arg)
{
	struct l7_worker *w = arg;

	fd_ceiling_refresh(w);
	/*
	 * ESP logons call back on this loop; without it they answer 503. In
	 * a worker process they go to the directory process (esp_auth_forward).
	 */
	if (esp_auth_attach(w->loop))
		exlb_log(LOG_ERR, "proxy: worker: no directory threads for ESP logons");
	ev_run(w->loop, 0);
	l7_relays_close_all(w);	/* cancels the logons of its connections */
	esp_auth_detach();
	l7_idle_servers_expire(w, ev_now(w->loop), true);
	l7_access_log_flush(w->proxy);	/* the lines of the connections closed */
	listeners_close_all(w);
	for (size_t i = 0; i < w->nr_pipes; i++) {
		close(w->pipe_pool[i][0]);
		close(w->pipe_pool[i][1]);
	}
	l7_plan_put(w->plan);
	w->plan = NULL;
	return NULL;
}

struct exlb_proxy *exlb_proxy_new(struct ev_loop *main_loop,
				  const struct exlb_proxy_opts *opts,
				  struct exlb_err *err)
{
	struct exlb_proxy *p = calloc(1, sizeof(*p));
	long ncpu;

	if (!p) {
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	p->opts = *opts;
	p->main_loop = main_loop;
	if (opts->remote) {
		p->remote = opts->remote->new(main_loop, opts, err);
		if (!p->remote) {
			free(p);
			return NULL;
		}
		return p;
	}
	ev_async_init(&p->rs_failed, on_rs_failed);
	p->rs_failed.data = p;
	pthread_mutex_init(&p->log_lock, NULL);
	exlb_content_set_limit_hook(on_rule_limit);
	if (opts->access_log) {
		p->access_log = l7_access_log_open(opts->access_log, err);
		if (!p->access_log) {
			free(p);
			return NULL;
		}
	}
	/* OpenSSL's own kTLS is absent in Debian 12's build: ktls.c does it */
	exlb_tls_set_ktls(false);
	if (exlb_ktls_init()) {
		exlb_err_set(err, "cannot set up kTLS key tracking");
		free(p);
		return NULL;
	}
	p->tls = exlb_tls_cache_new(opts->sandboxed ? NULL : opts->state_dir);
	if (!p->tls) {
		exlb_err_set(err, "cannot set up TLS");
		goto fail;
	}
	/* only when not given: it reads /sys, which a worker process may not */
	ncpu = opts->workers ? 0 : sysconf(_SC_NPROCESSORS_ONLN);
	p->nr_workers = opts->workers ? opts->workers :
			(ncpu > 0 ? (unsigned int)ncpu : 1);
	if (p->nr_workers > 256)
		p->nr_workers = 256;
	p->workers = calloc(p->nr_workers, sizeof(*p->workers));
	if (!p->workers) {
		exlb_err_set(err, "out of memory");
		goto fail;
	}
	for (unsigned int i = 0; i < p->nr_workers; i++) {
		struct l7_worker *w = &p->workers[i];

		w->proxy = p;
		w->index = i;
		pthread_mutex_init(&w->lock, NULL);
		w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
		if (!w->loop) {
			exlb_err_set(err, "cannot create an event loop");
			goto fail;
		}
		ev_async_init(&w->wake, on_wake);
		w->wake.data = w;
		ev_async_start(w->loop, &w->wake);
		ev_timer_init(&w->sweep, on_sweep, L7_SWEEP_S, L7_SWEEP_S);
		w->sweep.data = w;
		ev_timer_start(w->loop, &w->sweep);
		ev_timer_init(&w->lag, on_lag, L7_LAG_S, 0);
		w->lag.data = w;
		w->lag_due = ev_now(w->loop) + L7_LAG_S;
		ev_timer_start(w->loop, &w->lag);
		ev_prepare_init(&w->log_flush, on_log_flush);
		w->log_flush.data = p;
		ev_prepare_start(w->loop, &w->log_flush);
		if (pthread_create(&w->thread, NULL, worker_main, w)) {
			ev_loop_destroy(w->loop);
			w->loop = NULL;
			exlb_err_set(err, "cannot start worker thread");
			goto fail;
		}
	}
	/* started last: every way out above frees p without stopping it */
	ev_async_start(main_loop, &p->rs_failed);
	return p;
fail:
	exlb_proxy_free(p);
	return NULL;
}

void exlb_proxy_free(struct exlb_proxy *p)
{
	if (!p)
		return;
	if (p->remote) {
		p->opts.remote->free(p->remote);
		free(p);
		return;
	}
	for (unsigned int i = 0; p->workers && i < p->nr_workers; i++) {
		struct l7_worker *w = &p->workers[i];

		if (!w->loop)
			continue;
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_mutex_unlock(&w->lock);
		ev_async_send(w->loop, &w->wake);
		pthread_join(w->thread, NULL);
		l7_plan_put(w->next_plan);
		for (size_t k = 0; k < w->nr_adopt; k++)
			close(w->adopt[k]);
		free(w->adopt);
		ev_loop_destroy(w->loop);
	}
	free(p->workers);
	for (size_t k = 0; k < p->nr_adopt; k++)
		close(p->adopt[k]);
	free(p->adopt);
	if (ev_is_active(&p->rs_failed))
		ev_async_stop(p->main_loop, &p->rs_failed);
	l7_plan_put(p->plan);
	l7_states_free(p);
	if (p->tls)
		exlb_tls_cache_free(p->tls);
	if (p->access_log)
		fclose(p->access_log);
	exlb_content_set_limit_hook(NULL);
	free(p);
}

static void adopt_spread(struct exlb_proxy *p, const struct l7_plan *plan);

void exlb_proxy_apply(struct exlb_proxy *p, const struct exlb_config *cfg,
		      const struct exlb_runtime *rt)
{
	struct l7_plan *plan;

	if (p->remote) {
		p->opts.remote->apply(p->remote, cfg, rt);
		return;
	}
	plan = l7_plan_build(p, cfg, rt);
	if (!plan) {
		exlb_log(LOG_ERR, "proxy: out of memory building the plan; serving the previous one");
		return;
	}
	exlb_tls_cache_prune(p->tls, cfg);
	l7_plan_put(p->plan);
	p->plan = plan;
	adopt_spread(p, plan);
	for (unsigned int i = 0; i < p->nr_workers; i++) {
		struct l7_worker *w = &p->workers[i];

		l7_plan_get(plan);
		pthread_mutex_lock(&w->lock);
		l7_plan_put(w->next_plan);
		w->next_plan = plan;
		pthread_mutex_unlock(&w->lock);
		ev_async_send(w->loop, &w->wake);
	}
}

/* The manager marked RS @rs_id down: its failures count from 0 again. */
void exlb_proxy_rs_failed_reset(struct exlb_proxy *p, uint32_t rs_id)
{
	for (struct l7_rs_state *st = p->rs_states; st; st = st->next) {
		if (st->rs_id != rs_id)
			continue;
		atomic_store(&st->connect_fails, 0);
		st->fails_seen = 0;
	}
}

void exlb_proxy_set_pem(struct exlb_proxy *p, json_t *pem)
{
	exlb_tls_cache_set_pem(p->tls, pem);
}

/* ---- the seamless upgrade (docs/upgrade.md) ---- */

int exlb_proxy_adopt_listener(struct exlb_proxy *p, int fd)
{
	int accepting = 0, type = 0;
	socklen_t len = sizeof(int);
	int *grown;

	if (p->remote)
		return p->opts.remote->adopt_listener(p->remote, fd);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    !accepting || type != SOCK_STREAM ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)) {
		close(fd);
		return -1;
	}
	grown = realloc(p->adopt, (p->nr_adopt + 1) * sizeof(*grown));
	if (!grown) {
		close(fd);
		return -1;
	}
	p->adopt = grown;
	p->adopt[p->nr_adopt++] = fd;
	return 0;
}

/*
 * The received sockets go to the workers with @plan: those of one VS in
 * turn, so every one is accepted from (a socket nobody accepts from would
 * keep the connections the kernel queues on it). A socket no VS wants is
 * closed: its VS is gone from the configuration; the connections in its
 * queue go when the old daemon closes its copy too.
 */
static void adopt_spread(struct exlb_proxy *p, const struct l7_plan *plan)
{
	size_t unwanted = 0;

	for (size_t i = 0; i < p->nr_adopt; i++) {
		int fd = p->adopt[i];
		struct l7_worker *w = NULL;

		for (size_t v = 0; v < plan->nr_vs && !w; v++) {
			const struct l7_vs *vs = &plan->vs[v];
			size_t seen = 0;

			if (!fd_is_vip(fd, vs))
				continue;
			for (size_t k = 0; k < i; k++)
				seen += fd_is_vip(p->adopt[k], vs);
			w = &p->workers[seen % p->nr_workers];
		}
		if (w) {
			int *grown;

			pthread_mutex_lock(&w->lock);
			grown = realloc(w->adopt, (w->nr_adopt + 1) * sizeof(*grown));
			if (grown) {
				w->adopt = grown;
				w->adopt[w->nr_adopt++] = fd;
			}
			pthread_mutex_unlock(&w->lock);
			if (grown)
				continue;
		}
		close(fd);
		unwanted++;
	}
	if (unwanted)
		exlb_log(LOG_NOTICE, "proxy: %zu listening socket(s) received for addresses no VS has: closed",
			 unwanted);
	free(p->adopt);
	p->adopt = NULL;
	p->nr_adopt = 0;
}

ssize_t exlb_proxy_listener_fds(struct exlb_proxy *p, int **fds)
{
	size_t n = 0, cap = 0;
	int *out = NULL;
	bool ok = true;

	if (p->remote)
		return p->opts.remote->listener_fds(p->remote, fds);
	for (unsigned int i = 0; ok && i < p->nr_workers; i++) {
		struct l7_worker *w = &p->workers[i];

		pthread_mutex_lock(&w->lock);
		for (struct l7_listener *l = w->listeners; ok && l; l = l->next) {
			if (n == cap) {
				int *grown = realloc(out, (cap = cap * 2 + 16) * sizeof(*out));

				if (!grown) {
					ok = false;
					break;
				}
				out = grown;
			}
			out[n] = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
			ok = out[n] >= 0;
			n += ok;
		}
		pthread_mutex_unlock(&w->lock);
	}
	if (!ok) {
		while (n)
			close(out[--n]);
		free(out);
		return -1;
	}
	*fds = out;
	return (ssize_t)n;
}

void exlb_proxy_drain(struct exlb_proxy *p)
{
	if (p->remote) {
		p->opts.remote->drain(p->remote);
		return;
	}
	atomic_store(&p->draining, true);
	for (unsigned int i = 0; i < p->nr_workers; i++)
		ev_async_send(p->workers[i].loop, &p->workers[i].wake);
}

void exlb_proxy_refresh(struct exlb_proxy *p)
{
	if (p->remote)
		p->opts.remote->refresh(p->remote);
}

unsigned long exlb_proxy_open_conns(struct exlb_proxy *p)
{
	unsigned long n = 0;

	if (p->remote)
		return p->opts.remote->open_conns(p->remote);
	for (struct l7_vs_state *st = p->vs_states; st; st = st->next)
		n += atomic_load(&st->open);
	return n;
}

static void workers_lag(struct exlb_proxy *p, struct exlb_runtime *rt)
{
	unsigned int n = p->nr_workers < EXLB_MAX_WORKERS_SHOWN ?
			 p->nr_workers : EXLB_MAX_WORKERS_SHOWN;

	rt->proxy.nr_workers = n;
	for (unsigned int i = 0; i < n; i++) {
		struct l7_worker *w = &p->workers[i];
		uint64_t max = atomic_load(&w->lag_max_us);
		uint64_t prev = atomic_load(&w->lag_max_prev_us);

		rt->proxy.lag[i] = (double)atomic_load(&w->lag_us) / 1e6;
		rt->proxy.lag_max[i] = (double)(max > prev ? max : prev) / 1e6;
	}
}

/* Every VS the proxy has seen: its TLS, kTLS and termination counters. */
static void vs_figures(struct exlb_proxy *p, struct exlb_runtime *rt)
{
	size_t n = 0, i = 0;
	struct exlb_vs_l7 *v;

	for (struct l7_vs_state *st = p->vs_states; st; st = st->next)
		n++;
	v = n ? calloc(n, sizeof(*v)) : NULL;
	free(rt->vs_l7);
	rt->vs_l7 = v;
	rt->nr_vs_l7 = v ? n : 0;
	for (struct l7_vs_state *st = p->vs_states; v && st; st = st->next, i++) {
		v[i].vs_id = st->vs_id;
		v[i].tls_full = atomic_load(&st->tls_full);
		v[i].tls_resumed = atomic_load(&st->tls_resumed);
		v[i].ktls_tx = atomic_load(&st->ktls_tx);
		v[i].ktls_rx = atomic_load(&st->ktls_rx);
		for (int t = 0; t < EXLB_TERM_CODES; t++)
			v[i].term[t] = atomic_load(&st->term[t]);
	}
}

/* Each SubVS's persistence records (a moment under each one's lock). */
static void persist_counts(struct exlb_proxy *p, struct exlb_runtime *rt)
{
	size_t n = 0, i = 0;
	struct exlb_persist_count *c;

	for (struct l7_sched *s = p->scheds; s; s = s->next)
		n++;
	c = n ? calloc(n, sizeof(*c)) : NULL;
	free(rt->persist);
	rt->persist = c;
	rt->nr_persist = c ? n : 0;
	for (struct l7_sched *s = p->scheds; c && s; s = s->next, i++) {
		c[i].service_id = s->service_id;
		pthread_mutex_lock(&s->lock);
		c[i].records = l7_persist_count(s->persist);
		pthread_mutex_unlock(&s->lock);
	}
}

void exlb_proxy_counters(struct exlb_proxy *p, const struct exlb_config *cfg,
			 struct exlb_runtime *rt)
{
	if (p->remote) {
		p->opts.remote->counters(p->remote, cfg, rt);
		return;
	}
	rt->proxy.present = true;
	rt->proxy.fd_limit = fd_limit_now();
	rt->proxy.fd_reserve = fd_reserve_of(p, rt->proxy.fd_limit);
	rt->proxy.conns_refused = atomic_load(&p->conns_refused);
	rt->proxy.conns_over_limit = atomic_load(&p->conns_over_limit);
	rt->proxy.accept_pauses = atomic_load(&p->accept_pauses);
	rt->proxy.fd_short = atomic_load(&p->fd_short);
	rt->proxy.connect_retries = atomic_load(&p->connect_retries);
	rt->proxy.ktls_conns = atomic_load(&p->ktls_conns);
	rt->proxy.userspace_conns = atomic_load(&p->userspace_conns);
	workers_lag(p, rt);
	vs_figures(p, rt);
	persist_counts(p, rt);
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		const struct exlb_rs *rs = &cfg->reals[i];
		const struct exlb_service *svc = exlb_service_by_id(cfg, rs->service_id);
		const struct exlb_service *vs = svc && svc->parent_id ?
			exlb_service_by_id(cfg, svc->parent_id) : svc;
		struct exlb_rs_runtime *r;
		struct l7_rs_state *st;

		if (!vs || !exlb_proxy_serves(cfg, vs))
			continue;
		for (st = p->rs_states; st && st->rs_id != rs->id; st = st->next)
			;
		if (!st || !(r = exlb_runtime_rs(rt, rs->id)))
			continue;
		r->counters.conns = atomic_load(&st->conns);
		r->counters.active = atomic_load(&st->active);
		r->counters.inactive = 0;
		r->counters.bytes_in = atomic_load(&st->bytes_in);
		r->counters.bytes_out = atomic_load(&st->bytes_out);
		r->counters.requests = atomic_load(&st->requests);
	}
}
