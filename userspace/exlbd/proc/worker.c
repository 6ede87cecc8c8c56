// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * exlbd --worker: the L7 worker process of privilege separation
 * (docs/privsep.md), started by the manager (l7/remote.c) with its channel
 * at fd 3. It receives who to become and its first configuration,
 * enters the sandbox (proc/sandbox.c) before any thread exists, then runs
 * the real L7 proxy (l7/proxy.c, its worker threads) on what the manager
 * sends: the configuration without secrets, the health verdicts, the
 * certificates as PEM, the listening sockets, the access log's
 * descriptor and its channel to the directory process (ESP logons). It
 * answers with its counters every second and when asked, with
 * passive-health marks, and with its HA persistence records when asked
 * (installing its partner's the manager passes on). It opens no file and
 * binds nothing.
 *
 * Its ends: the manager closed the channel (_exit 0), the sandbox refused
 * (_exit 1), or a signal (the manager's SIGTERM, the filter's SIGSYS). It
 * never returns through exit(): under ASan, LeakSanitizer at exit needs
 * ptrace, which the filter kills.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "esp/sso.h"
#include "ha/persist_sync.h"
#include "health/targets.h"
#include "l7/content.h"
#include "l7/proxy.h"
#include "l7/tls.h"
#include "proc/handover.h"
#include "proc/sandbox.h"
#include "proc/worker.h"

#define WORKER_CHAN		3
#define WORKER_FIRST_MS		10000	/* the manager's first messages */
#define WORKER_RECV_MS		5000
#define WORKER_SAY_MS		2000
#define WORKER_FIGURES_S	1.0
#define WORKER_TRIM_TICKS	10	/* malloc_trim() every 10 s, as main.c */

struct worker {
	struct ev_loop *loop;
	struct exlb_proxy *proxy;
	struct exlb_config *cfg;
	struct exlb_runtime rt;
	ev_io chan_io;
	ev_timer figures;
	unsigned int ticks;
};

static void __attribute__((noreturn)) worker_exit(int status)
{
	fflush(stdout);
	_exit(status);
}

static void say(json_t *msg)
{
	struct exlb_err err;

	if (!msg || exlb_handover_say(WORKER_CHAN, msg, WORKER_SAY_MS, &err)) {
		exlb_log(LOG_ERR, "L7 worker: channel: %s; exiting",
			 msg ? err.msg : "out of memory");
		worker_exit(1);
	}
	json_decref(msg);
}

/* Passive health: the manager judges (its answer may be "rs_reset"). */
static bool on_rs_failed(void *ctx, uint32_t rs_id, unsigned int fails,
			 const char *why)
{
	(void)ctx;
	say(json_pack("{sIsIss}", "rs_failed", (json_int_t)rs_id,
		      "fails", (json_int_t)fails, "why", why ? why : ""));
	return false;
}

/* A configuration message: verdicts, certificates, listeners, the plan. */
static int take_config(struct worker *w, struct exlb_handover *h)
{
	json_t *doc = json_object_get(h->state, "config");
	struct exlb_config *cfg;
	struct exlb_err err;
	int fd;

	cfg = exlb_config_from_json(doc, &err);
	if (!cfg) {
		exlb_log(LOG_ERR, "L7 worker: the manager's configuration: %s", err.msg);
		return -1;
	}
	exlb_runtime_free(&w->rt);
	memset(&w->rt, 0, sizeof(w->rt));
	exlb_runtime_seed(&w->rt, cfg, json_object_get(h->state, "health"));
	exlb_proxy_set_pem(w->proxy, json_object_get(h->state, "pem"));
	exlb_proxy_set_fd_reserve(w->proxy, (unsigned int)json_integer_value(
				  json_object_get(h->state, "fd_reserve")));
	while ((fd = exlb_handover_take(h, "l7")) >= 0)
		if (exlb_proxy_adopt_listener(w->proxy, fd))
			exlb_log(LOG_WARNING, "L7 worker: a socket received is not a listening TCP socket: closed");
	exlb_proxy_apply(w->proxy, cfg, &w->rt);
	exlb_config_free(w->cfg);	/* the plan holds what it needs */
	w->cfg = cfg;
	return 0;
}

/* ---- HA persistence sync (ha/persist_sync.c runs in the manager) ---- */

json_t *exlb_worker_persist_to_json(const struct exlb_persist_export *r, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		json_t *rec = json_pack("[III]", (json_int_t)r[i].service_id,
					(json_int_t)r[i].rs_id, (json_int_t)r[i].ttl_ms);

		for (int k = 0; rec && k < 16; k++)
			json_array_append_new(rec, json_integer(r[i].key[k]));
		if (!rec || json_array_append_new(arr, rec)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

int exlb_worker_persist_from_json(const json_t *rec, struct exlb_persist_export *r)
{
	json_int_t v[19];

	if (!json_is_array(rec) || json_array_size(rec) != 19)
		return -1;
	for (int i = 0; i < 19; i++) {
		const json_t *e = json_array_get(rec, i);

		if (!json_is_integer(e))
			return -1;
		v[i] = json_integer_value(e);
		if (v[i] < 0 || v[i] > (i < 3 ? (json_int_t)UINT32_MAX : 255))
			return -1;
	}
	if (!v[0] || !v[1])
		return -1;
	r->service_id = (uint32_t)v[0];
	r->rs_id = (uint32_t)v[1];
	r->ttl_ms = (uint32_t)v[2];
	for (int k = 0; k < 16; k++)
		r->key[k] = (uint8_t)v[3 + k];
	return 0;
}

/* {"persist_export": all, "max": n}: the due records, answered at once. */
static void persist_export(struct worker *w, const json_t *st)
{
	json_int_t max = json_integer_value(json_object_get(st, "max"));
	struct exlb_persist_export *out;
	size_t n = 0;

	if (max < 0 || max > EXLB_HA_PERSIST_BATCH)
		max = EXLB_HA_PERSIST_BATCH;
	out = calloc((size_t)max + 1, sizeof(*out));
	if (out && w->cfg)
		n = exlb_proxy_persist_export(w->proxy,
					      json_is_true(json_object_get(st, "persist_export")),
					      out, (size_t)max);
	say(json_pack("{so}", "persist", exlb_worker_persist_to_json(out, n)));
	free(out);
}

/* {"persist_install": [records]}: the partner's, as the manager got them. */
static void persist_install(struct worker *w, const json_t *st)
{
	const json_t *rec;
	size_t i;

	json_array_foreach(json_object_get(st, "persist_install"), i, rec) {
		struct exlb_persist_export r;

		if (!exlb_worker_persist_from_json(rec, &r))
			exlb_proxy_persist_install(w->proxy, &r);
	}
}

static void figures_answer(struct worker *w, json_t *ask);

static void take(struct worker *w, struct exlb_handover *h)
{
	json_t *st = h->state;
	int fd;

	if (json_object_get(st, "config")) {
		if (take_config(w, h))
			worker_exit(1);
		/* the manager waits for this before it answers the change */
		if (json_object_get(st, "ask"))
			figures_answer(w, json_object_get(st, "ask"));
	} else if ((fd = exlb_handover_take(h, "alog")) >= 0) {
		exlb_proxy_set_log_fd(w->proxy, fd);
	} else if ((fd = exlb_handover_take(h, "dir")) >= 0) {
		esp_auth_set_directory(fd);	/* ESP logons: the directory process */
	} else if (json_object_get(st, "rs_reset")) {
		exlb_proxy_rs_failed_reset(w->proxy, (uint32_t)json_integer_value(
					   json_object_get(st, "rs_reset")));
	} else if (json_is_true(json_object_get(st, "drain"))) {
		exlb_proxy_drain(w->proxy);
	} else if (json_object_get(st, "figures_ask")) {
		figures_answer(w, json_object_get(st, "figures_ask"));
	} else if (json_object_get(st, "persist_export")) {
		persist_export(w, st);
	} else if (json_object_get(st, "persist_install")) {
		persist_install(w, st);
	}
	exlb_handover_done(h);
}

static void on_chan(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = io->data;
	struct exlb_handover h;
	struct exlb_err err;

	(void)loop;
	(void)revents;
	if (exlb_handover_recv(WORKER_CHAN, &h, WORKER_RECV_MS, &err)) {
		/* the manager is gone: so are this process's connections */
		if (strcmp(err.msg, "closed"))
			exlb_log(LOG_ERR, "L7 worker: channel: %s; exiting", err.msg);
		worker_exit(strcmp(err.msg, "closed") ? 1 : 0);
	}
	take(w, &h);
}

/* proxy.h's counters as the manager's runtime would hold them. */
static json_t *figures_of(struct worker *w)
{
	struct exlb_runtime *rt = &w->rt;
	json_t *lag = json_array(), *vs = json_array(), *rs = json_array();
	json_t *persist = json_array(), *rules = json_array();

	exlb_proxy_counters(w->proxy, w->cfg, rt);
	for (unsigned int i = 0; i < rt->proxy.nr_workers; i++)
		json_array_append_new(lag, json_pack("[ff]", rt->proxy.lag[i],
						     rt->proxy.lag_max[i]));
	for (size_t i = 0; i < rt->nr_vs_l7; i++) {
		const struct exlb_vs_l7 *v = &rt->vs_l7[i];
		json_t *term = json_array();

		for (int t = 0; t < EXLB_TERM_CODES; t++)
			json_array_append_new(term, json_integer((json_int_t)v->term[t]));
		json_array_append_new(vs, json_pack("{sI sI sI sI sI so}",
			"id", (json_int_t)v->vs_id, "tls_full", (json_int_t)v->tls_full,
			"tls_resumed", (json_int_t)v->tls_resumed,
			"ktls_tx", (json_int_t)v->ktls_tx, "ktls_rx", (json_int_t)v->ktls_rx,
			"term", term));
	}
	for (size_t i = 0; i < rt->nr_rs; i++) {
		const struct exlb_rs_runtime *r = &rt->rs[i];

		json_array_append_new(rs, json_pack("{sI sI sI sI sI sI}",
			"id", (json_int_t)r->rs_id, "conns", (json_int_t)r->counters.conns,
			"active", (json_int_t)r->counters.active,
			"bytes_in", (json_int_t)r->counters.bytes_in,
			"bytes_out", (json_int_t)r->counters.bytes_out,
			"requests", (json_int_t)r->counters.requests));
	}
	for (size_t i = 0; i < rt->nr_persist; i++)
		json_array_append_new(persist, json_pack("[II]",
			(json_int_t)rt->persist[i].service_id,
			(json_int_t)rt->persist[i].records));
	/* PCRE2 limit hits per rule name (content.c counts them here) */
	for (size_t i = 0; i < w->cfg->nr_rules; i++) {
		const char *name = w->cfg->rules[i].name;

		json_array_append_new(rules, json_pack("[sI]", name,
			(json_int_t)exlb_content_limit_hits_of(name)));
	}
	return json_pack("{s{sI sI sI sI sI sI sI sI sI sI sI so so so so so}}", "figures",
		"open", (json_int_t)exlb_proxy_open_conns(w->proxy),
		"fd_limit", (json_int_t)rt->proxy.fd_limit,
		"fd_reserve", (json_int_t)rt->proxy.fd_reserve,
		"conns_refused", (json_int_t)rt->proxy.conns_refused,
		"conns_over_limit", (json_int_t)rt->proxy.conns_over_limit,
		"accept_pauses", (json_int_t)rt->proxy.accept_pauses,
		"fd_short", (json_int_t)rt->proxy.fd_short,
		"connect_retries", (json_int_t)rt->proxy.connect_retries,
		"ktls_conns", (json_int_t)rt->proxy.ktls_conns,
		"userspace_conns", (json_int_t)rt->proxy.userspace_conns,
		"rule_limit_hits", (json_int_t)exlb_content_limit_hits_total(),
		"lag", lag, "vs", vs, "rs", rs, "persist", persist, "rules", rules);
}

/* The manager asked (status, stats, /metrics): the figures now, with its ask. */
static void figures_answer(struct worker *w, json_t *ask)
{
	json_t *msg = w->cfg ? figures_of(w) : json_object();

	if (msg)
		json_object_set(msg, "ask", ask);
	say(msg);
}

static void on_figures(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;

	(void)loop;
	(void)revents;
	if (w->cfg)
		say(figures_of(w));
	/* freed handshake buffers back to the kernel (madvise: no file) */
	if (++w->ticks % WORKER_TRIM_TICKS == 0)
		malloc_trim(0);
}

#ifdef EXLB_TEST_HOOKS
/*
 * Test builds: SIGUSR2 makes the worker do what a compromised one would (a
 * forbidden system call); the filter kills it (docs/privsep.md, the
 * e2e test exlbd-privsep.sh).
 */
static void on_test_violate(int sig)
{
	(void)sig;
	exlb_sandbox_test_violate();
}
#endif

int exlb_worker_main(void)
{
	struct exlb_proxy_opts opts = { .sandboxed = true, .rs_failed = on_rs_failed };
	struct worker w = { 0 };
	struct exlb_handover h;
	struct exlb_err err;
	const char *user;
	char tag[48], name[64];

	snprintf(tag, sizeof(tag), "exlbd: worker[%d]", (int)getpid());
	exlb_log_set_tag(tag);
	/*
	 * What the sandbox will not let it read later. glibc's malloc, the
	 * first time it shrinks a thread arena's heap, reads
	 * /proc/sys/vm/overcommit_memory (an open the filter kills): no
	 * trimming by threshold then; malloc_trim() on the tick gives memory
	 * back by madvise() instead.
	 */
	mallopt(M_TRIM_THRESHOLD, INT_MAX);
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
	tzset();
	json_object_seed(0);
	if (exlb_handover_recv(WORKER_CHAN, &h, WORKER_FIRST_MS, &err)) {
		exlb_log(LOG_ERR, "L7 worker: no start from the manager on fd %d: %s",
			 WORKER_CHAN, err.msg);
		worker_exit(1);
	}
	user = json_string_value(json_object_get(h.state, "user"));
	if (user && snprintf(name, sizeof(name), "%s", user) >= (int)sizeof(name))
		user = NULL;
	opts.workers = (unsigned int)json_integer_value(json_object_get(h.state, "workers"));
	opts.tls_relay = (enum exlb_tls_relay)json_integer_value(
		json_object_get(h.state, "tls_relay"));
	w.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!user || !opts.workers || !w.loop) {
		exlb_log(LOG_ERR, "L7 worker: a start without user or workers");
		worker_exit(1);
	}
#ifdef EXLB_TEST_HOOKS
	signal(SIGUSR2, on_test_violate);
#endif
	user = name;	/* h's strings go with exlb_handover_done() */
	if (exlb_tls_preload_ca_store(&err))
		exlb_log(LOG_WARNING, "L7 worker: %s", err.msg);
	if (exlb_sandbox_enter_worker(user, &err)) {
		exlb_log(LOG_ERR, "L7 worker: %s", err.msg);
		worker_exit(1);
	}
	exlb_handover_done(&h);
	/* the directory process makes the ESP logons, not this one */
	if (esp_auth_forward()) {
		exlb_log(LOG_ERR, "L7 worker: no eventfd for ESP logons");
		worker_exit(1);
	}
	/* the threads start now: they inherit the filter */
	w.proxy = exlb_proxy_new(w.loop, &opts, &err);
	if (!w.proxy) {
		exlb_log(LOG_ERR, "L7 worker: %s", err.msg);
		worker_exit(1);
	}
	ev_io_init(&w.chan_io, on_chan, WORKER_CHAN, EV_READ);
	w.chan_io.data = &w;
	ev_io_start(w.loop, &w.chan_io);
	ev_timer_init(&w.figures, on_figures, WORKER_FIGURES_S, WORKER_FIGURES_S);
	w.figures.data = &w;
	ev_timer_start(w.loop, &w.figures);
	exlb_log(LOG_NOTICE, "L7 worker: sandboxed as %s, %u threads", user, opts.workers);
	ev_run(w.loop, 0);
	worker_exit(0);
}
