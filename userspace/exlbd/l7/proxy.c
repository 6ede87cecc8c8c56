// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The L7 proxy's skeleton (see proxy.h): compiling plans from the
 * configuration, the worker threads and their listening sockets, and the
 * scheduling of a request's real server with the shared scheduler core
 * (kmod/sched_core.c, the same code exlb.ko runs).
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

#include "ktls.h"
#include "proxy_int.h"
#include "uapi/linux/exlb.h"

#define L7_PERSIST_BUCKETS	256
#define L7_PERSIST_MAX		65536	/* records per service */
#define L7_LISTEN_BACKLOG	4096
#define L7_SWEEP_S		1.0
#define L7_ACCEPT_REST_S	0.1	/* nginx: 0.5 */
#define L7_RATE_LOG_MS		10000
#define L7_FD_FALLBACK		1024	/* if getrlimit() fails */

/* ---- which VSs the proxy serves ---- */

bool exlb_proxy_serves(const struct exlb_config *cfg,
		       const struct exlb_service *svc)
{
	if (exlb_service_is_subvs(svc) || !svc->enable)
		return false;
	/* fail closed: a VS held with EspEnabled=1 serves nothing */
	if (exlb_vs_refused(cfg, svc))
		return false;
	if (exlb_service_is_kernel_served(cfg, svc))
		return false;
	return svc->vstype == EXLB_VSTYPE_HTTP ||
	       svc->vstype == EXLB_VSTYPE_HTTP2 ||
	       svc->vstype == EXLB_VSTYPE_TLS ||
	       (svc->vstype == EXLB_VSTYPE_GEN && svc->ssl_acceleration);
}

/* ---- time ---- */

uint64_t l7_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- state that outlives plans (main thread creates, never frees early) ---- */

struct l7_persist_entry {
	u8 key[16];
	uint32_t rs_id;
	struct exlb_persist_rec rec;
	struct l7_persist_entry *next;
};

struct l7_persist {
	struct l7_persist_entry *buckets[L7_PERSIST_BUCKETS];
	size_t count;
};

static struct l7_sched *sched_state(struct exlb_proxy *p, uint32_t id)
{
	struct l7_sched *s;

	for (s = p->scheds; s; s = s->next)
		if (s->service_id == id)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->service_id = id;
	pthread_mutex_init(&s->lock, NULL);
	s->next = p->scheds;
	p->scheds = s;
	return s;
}

static struct l7_rs_state *rs_state(struct exlb_proxy *p, uint32_t id)
{
	struct l7_rs_state *s;

	for (s = p->rs_states; s; s = s->next)
		if (s->rs_id == id)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->rs_id = id;
	s->next = p->rs_states;
	p->rs_states = s;
	return s;
}

static struct l7_vs_state *vs_state(struct exlb_proxy *p, uint32_t id)
{
	struct l7_vs_state *s;

	for (s = p->vs_states; s; s = s->next)
		if (s->vs_id == id)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->vs_id = id;
	s->next = p->vs_states;
	p->vs_states = s;
	return s;
}

static void persist_free(struct l7_persist *ps)
{
	if (!ps)
		return;
	for (size_t b = 0; b < L7_PERSIST_BUCKETS; b++) {
		struct l7_persist_entry *e = ps->buckets[b], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(ps);
}

static unsigned int persist_hash(const u8 *key)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % L7_PERSIST_BUCKETS;
}

/* Caller holds the sched lock. Drops expired records of the bucket on the way. */
static struct l7_persist_entry *persist_lookup(struct l7_persist *ps,
					       const u8 *key, uint64_t now)
{
	struct l7_persist_entry **pp = &ps->buckets[persist_hash(key)], *e;

	while ((e = *pp)) {
		if (!exlb_persist_live(&e->rec, now)) {
			*pp = e->next;
			free(e);
			ps->count--;
			continue;
		}
		if (!memcmp(e->key, key, 16))
			return e;
		pp = &e->next;
	}
	return NULL;
}

/* ---- scheduling ---- */

static void client_key(const struct sockaddr_storage *client,
		       unsigned int mask, u8 *key)
{
	if (client->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)client;

		exlb_persist_key(s6->sin6_addr.s6_addr, 16, mask, key);
	} else {
		const struct sockaddr_in *s4 = (const void *)client;

		exlb_persist_key((const u8 *)&s4->sin_addr, 4, mask, key);
	}
}

static bool avoided(uint32_t id, const uint32_t *avoid, size_t nr_avoid)
{
	for (size_t i = 0; i < nr_avoid; i++)
		if (avoid[i] == id)
			return true;
	return false;
}

struct l7_rs *l7_pick_rs(struct l7_subvs *sv, const struct sockaddr_storage *client,
			 const uint32_t *avoid, size_t nr_avoid)
{
	struct exlb_sched_target *targets[EXLB_SERVICE_MAX_RS];
	struct l7_sched *s = sv->sched;
	struct l7_rs *chosen = NULL;
	bool persist = sv->persist == EXLB_PERSIST_SRC && sv->persist_timeout;
	uint64_t now = l7_now_ms();
	u8 key[16];
	int idx;

	if (!sv->nr_rs || !s)
		return NULL;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < sv->nr_rs; i++) {
		struct l7_rs *rs = &sv->rs[i];
		struct exlb_sched_target *t = &rs->st->target;

		t->weight = rs->weight;
		t->limit = rs->limit;
		t->active = atomic_load(&rs->st->active);
		t->inactive = 0;
		t->usable = rs->serving && !avoided(rs->id, avoid, nr_avoid);
		targets[i] = t;
	}
	if (persist) {
		struct l7_persist_entry *e;

		client_key(client, sv->persist_mask, key);
		if (!s->persist)
			s->persist = calloc(1, sizeof(*s->persist));
		e = s->persist ? persist_lookup(s->persist, key, now) : NULL;
		for (size_t i = 0; e && i < sv->nr_rs; i++)
			if (sv->rs[i].id == e->rs_id &&
			    exlb_persist_follow(&e->rec, targets[i], now)) {
				chosen = &sv->rs[i];
				e->rec.expires = now + sv->persist_timeout * 1000ull;
			}
	}
	if (!chosen) {
		idx = exlb_sched_pick((u8)sv->schedule, &s->st, targets,
				      (unsigned int)sv->nr_rs);
		if (idx >= 0)
			chosen = &sv->rs[idx];
		if (chosen && persist && s->persist &&
		    s->persist->count < L7_PERSIST_MAX) {
			struct l7_persist_entry *e = persist_lookup(s->persist, key, now);

			if (!e) {
				e = calloc(1, sizeof(*e));
				if (e) {
					unsigned int b = persist_hash(key);

					memcpy(e->key, key, 16);
					e->next = s->persist->buckets[b];
					s->persist->buckets[b] = e;
					s->persist->count++;
				}
			}
			if (e) {
				e->rs_id = chosen->id;
				e->rec.conns = 0;
				e->rec.expires = now + sv->persist_timeout * 1000ull;
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	return chosen;
}

void l7_rs_conn_open(struct l7_rs_state *st)
{
	atomic_fetch_add(&st->active, 1);
	atomic_fetch_add(&st->conns, 1);
}

void l7_rs_conn_close(struct l7_rs_state *st)
{
	atomic_fetch_sub(&st->active, 1);
}

bool l7_vs_conn_admit(struct l7_vs *vs)
{
	unsigned int n = atomic_fetch_add(&vs->st->open, 1);

	if (!vs->max_conns || n < vs->max_conns)
		return true;
	atomic_fetch_sub(&vs->st->open, 1);
	return false;
}

void l7_vs_conn_close(struct l7_vs_state *st)
{
	atomic_fetch_sub(&st->open, 1);
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
				       err == ETIMEDOUT ? "timeout" : strerror(err)))
			continue;
		atomic_store(&st->connect_fails, 0);
		st->fails_seen = 0;
	}
}

/* ---- plans ---- */

/* What a plan's VS holds (not the VS itself). */
static void vs_release(struct l7_vs *vs)
{
	if (vs->tls)
		exlb_tls_vs_put(vs->tls);
	for (size_t r = 0; r < vs->nr_req_rules; r++)
		exlb_content_rule_free(vs->req_rules[r]);
	for (size_t r = 0; r < vs->nr_resp_rules; r++)
		exlb_content_rule_free(vs->resp_rules[r]);
	free(vs->req_rules);
	free(vs->resp_rules);
	/* a VS whose build failed half-way counts its SubVSs in nr_subvs */
	for (size_t s = 0; vs->subvs && s < vs->nr_subvs; s++) {
		for (size_t r = 0; r < vs->subvs[s].nr_rules; r++)
			exlb_content_rule_free(vs->subvs[s].rules[r]);
		free(vs->subvs[s].rules);
		free(vs->subvs[s].rs);
	}
	free(vs->subvs);
	memset(vs, 0, sizeof(*vs));
}

static void plan_free(struct l7_plan *p)
{
	for (size_t i = 0; i < p->nr_vs; i++)
		vs_release(&p->vs[i]);
	free(p->vs);
	free(p);
}

void l7_plan_get(struct l7_plan *p)
{
	atomic_fetch_add(&p->refs, 1);
}

void l7_plan_put(struct l7_plan *p)
{
	if (p && atomic_fetch_sub(&p->refs, 1) == 1)
		plan_free(p);
}

struct l7_vs *l7_plan_vs(struct l7_plan *p, uint32_t vs_id)
{
	for (size_t i = 0; p && i < p->nr_vs; i++)
		if (p->vs[i].id == vs_id)
			return &p->vs[i];
	return NULL;
}

struct l7_rs *l7_plan_rs(struct l7_plan *p, uint32_t vs_id, uint32_t rs_id)
{
	struct l7_vs *vs = l7_plan_vs(p, vs_id);

	for (size_t s = 0; vs && s < vs->nr_subvs; s++)
		for (size_t r = 0; r < vs->subvs[s].nr_rs; r++)
			if (vs->subvs[s].rs[r].id == rs_id)
				return &vs->subvs[s].rs[r];
	return NULL;
}

static void to_sockaddr(const struct exlb_addr *a, unsigned int port,
			struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = a->u.v6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = a->u.v4;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
}

/*
 * A content rule's regex gave up on a request (a PCRE2 limit): it counted
 * as no match. Logged once per rule name and pattern (content.c decides);
 * exlbctl stats counts them all.
 */
static void on_rule_limit(const char *rule, int pcre2_error)
{
	exlb_log("proxy: rule %s: a match hit PCRE2's %s limit and counts as no "
		 "match; further hits are counted in exlbctl stats, not logged",
		 rule, exlb_content_limit_name(pcre2_error));
}

/* Compiles the named rules; rules that do not exist or compile are logged and skipped. */
static int compile_rules(const struct exlb_config *cfg, const char (*names)[EXLB_RULE_NAME_SIZE],
			 unsigned int n, struct exlb_content_rule ***out, size_t *nr)
{
	struct exlb_err err;

	*nr = 0;
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		const struct exlb_rule *rule = exlb_rule_find(cfg, names[i]);
		struct exlb_content_rule *c;

		if (!rule)
			continue;
		c = exlb_content_rule_compile(rule, &err);
		if (!c) {
			exlb_log("proxy: rule %s: %s", rule->name, err.msg);
			continue;
		}
		(*out)[(*nr)++] = c;
	}
	return 0;
}

static int build_subvs(struct exlb_proxy *p, const struct exlb_config *cfg,
		       const struct exlb_runtime *rt, const struct exlb_service *svc,
		       struct l7_subvs *sv)
{
	size_t n = exlb_service_nr_rs(cfg, svc->id);
	struct exlb_health_timing timing;

	sv->id = svc->id;
	exlb_service_label(svc, sv->name, sizeof(sv->name));
	sv->schedule = svc->schedule;
	sv->persist = svc->persist;
	sv->persist_timeout = svc->persist_timeout;
	sv->persist_mask = svc->persist_mask;
	exlb_service_health_timing(cfg, svc, &timing);
	sv->connect_s = timing.retry_timeout ? timing.retry_timeout : 4;
	sv->sched = sched_state(p, svc->id);
	sv->rs = calloc(n ? n : 1, sizeof(*sv->rs));
	if (!sv->rs || !sv->sched)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		const struct exlb_rs *rs = &cfg->reals[i];
		const struct exlb_rs_runtime *r;
		struct l7_rs *l = &sv->rs[sv->nr_rs];

		if (rs->service_id != svc->id)
			continue;
		l->id = rs->id;
		to_sockaddr(&rs->addr, rs->port, &l->addr, &l->addrlen);
		exlb_addr_port_format(&rs->addr, rs->port, l->label, sizeof(l->label));
		l->weight = rs->weight;
		l->limit = rs->limit;
		l->serving = exlb_rs_is_serving(cfg, rt, rs);
		r = exlb_runtime_rs_peek(rt, rs->id);
		l->failed = svc->check_type != EXLB_CHECKTYPE_NONE && r &&
			    r->health == EXLB_HEALTH_DOWN;
		l->draining = !rs->enable;
		l->st = rs_state(p, rs->id);
		if (!l->st)
			return -ENOMEM;
		/* passive health: a down RS starts counting afresh when it is back */
		if (l->failed)
			atomic_store(&l->st->connect_fails, 0);
		/* the drain time (finalpersist) counts from the disable */
		if (!l->draining)
			atomic_store(&l->st->drain_since_ms, 0);
		else if (!atomic_load(&l->st->drain_since_ms))
			atomic_store(&l->st->drain_since_ms, l7_now_ms());
		sv->nr_rs++;
	}
	return 0;
}

static int build_vs(struct exlb_proxy *p, const struct exlb_config *cfg,
		    const struct exlb_runtime *rt, const struct exlb_service *svc,
		    struct l7_vs *vs)
{
	const struct exlb_globals *g = &cfg->globals;
	struct exlb_err err;
	size_t nsub = exlb_service_nr_subvs(cfg, svc->id);
	unsigned int fwd;

	vs->id = svc->id;
	exlb_service_label(svc, vs->name, sizeof(vs->name));
	vs->kind = svc->vstype == EXLB_VSTYPE_GEN ? L7_VS_TUNNEL :
		   svc->vstype == EXLB_VSTYPE_TLS ? L7_VS_STARTTLS : L7_VS_HTTP;
	vs->starttls_mode = svc->starttls_mode;
	vs->server_init = svc->server_init;
	to_sockaddr(&svc->vip, svc->port, &vs->vip, &vs->viplen);
	if (svc->ssl_acceleration) {
		vs->tls = exlb_tls_vs_get(p->tls, cfg, svc, &err);
		if (!vs->tls) {
			exlb_log("proxy: VS %u (%s): TLS: %s", svc->id, vs->name,
				 err.msg);
			return -EINVAL;
		}
		vs->reencrypt = svc->ssl_reencrypt;
	}
	vs->error_code = svc->error_code;
	snprintf(vs->error_url, sizeof(vs->error_url), "%s", svc->error_url);
	vs->idle_s = svc->idletime ? svc->idletime :
		     (g->conntimeout ? g->conntimeout : 660);
	vs->max_conns = svc->max_conns;
	vs->st = vs_state(p, svc->id);
	if (!vs->st)
		return -ENOMEM;

	/*
	 * The VS's AddVia picks the headers when set; else the global
	 * addforwardheader (0 X-ClientSide, 1 X-Forwarded-For, 2 none).
	 */
	fwd = svc->add_via;
	switch (fwd) {
	case 1:
		vs->fwd.x_forwarded_for = vs->fwd.via = true;
		break;
	case 2:
		break;
	case 3:
		vs->fwd.x_clientside = vs->fwd.via = true;
		break;
	case 4:
		vs->fwd.x_clientside = true;
		break;
	case 5:
		vs->fwd.x_forwarded_for = true;
		break;
	case 6:
		vs->fwd.via = true;
		break;
	default:	/* 0: legacy, follows the global */
		vs->fwd.x_forwarded_for = g->addforwardheader == 1;
		vs->fwd.x_clientside = g->addforwardheader == 0;
		break;
	}
	vs->fwd.expect100 = g->expect100;

	if (compile_rules(cfg, svc->request_rules, svc->nr_request_rules,
			  &vs->req_rules, &vs->nr_req_rules) ||
	    compile_rules(cfg, svc->response_rules, svc->nr_response_rules,
			  &vs->resp_rules, &vs->nr_resp_rules))
		return -ENOMEM;

	vs->has_subvs = nsub > 0;
	vs->subvs = calloc(nsub ? nsub : 1, sizeof(*vs->subvs));
	if (!vs->subvs)
		return -ENOMEM;
	if (!nsub) {
		vs->nr_subvs = 1;
		return build_subvs(p, cfg, rt, svc, &vs->subvs[0]);
	}
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *sub = &cfg->services[i];
		struct l7_subvs *sv;

		if (sub->parent_id != svc->id)
			continue;
		sv = &vs->subvs[vs->nr_subvs++];
		if (build_subvs(p, cfg, rt, sub, sv))
			return -ENOMEM;
		if (!sub->enable)	/* a disabled SubVS takes nothing */
			sv->nr_rs = 0;
		if (compile_rules(cfg, sub->rules, sub->nr_rules, &sv->rules,
				  &sv->nr_rules))
			return -ENOMEM;
	}
	return 0;
}

static struct l7_plan *plan_build(struct exlb_proxy *p,
				  const struct exlb_config *cfg,
				  const struct exlb_runtime *rt)
{
	struct l7_plan *plan = calloc(1, sizeof(*plan));
	size_t n = 0;

	if (!plan)
		return NULL;
	atomic_init(&plan->refs, 1);
	plan->generation = ++p->generation;
	plan->droponfail = cfg->globals.droponfail;
	plan->dropatdrainend = cfg->globals.dropatdrainend;
	plan->finalpersist = cfg->globals.finalpersist;
	for (size_t i = 0; i < cfg->nr_services; i++)
		n += exlb_proxy_serves(cfg, &cfg->services[i]);
	plan->vs = calloc(n ? n : 1, sizeof(*plan->vs));
	if (!plan->vs) {
		free(plan);
		return NULL;
	}
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *svc = &cfg->services[i];
		struct l7_vs *vs = &plan->vs[plan->nr_vs];
		int err;

		if (!exlb_proxy_serves(cfg, svc))
			continue;
		err = build_vs(p, cfg, rt, svc, vs);
		if (err == -ENOMEM) {
			plan->nr_vs++;	/* free what it holds */
			l7_plan_put(plan);
			return NULL;
		}
		if (err) {
			/* this VS does not serve; the others do */
			vs_release(vs);
			continue;
		}
		plan->nr_vs++;
	}
	return plan;
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
		exlb_log("proxy: out of file descriptors (%s: %s; limit %u, the last %u kept for health checks and the control socket): %llu shortages since the last such line; so far %llu connections refused, %llu accept pauses",
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
		exlb_log("proxy: VS %u (%s): MaxConnsLimit %u reached: %llu connection(s) closed at once",
			 vs->id, vs->name, vs->max_conns, (unsigned long long)n);
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
				exlb_log("proxy: %s: %s", what, strerror(err));
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

static int listener_open(struct l7_worker *w, const struct l7_vs *vs)
{
	struct l7_listener *l;
	int one = 1, fd;

	fd = socket(vs->vip.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* the VIP may appear on an interface later (keepalived) */
	setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (vs->vip.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&vs->vip, vs->viplen) ||
	    listen(fd, L7_LISTEN_BACKLOG)) {
		int err = -errno;

		close(fd);
		return err;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
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

static void listener_close(struct l7_worker *w, struct l7_listener *l)
{
	ev_io_stop(w->loop, &l->io);
	ev_timer_stop(w->loop, &l->rest);
	close(l->fd);
	free(l);
}

/* Listeners follow the plan: kept when the VS keeps its id and VIP:port. */
static void listeners_sync(struct l7_worker *w)
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

		for (l = w->listeners; l && !have; l = l->next)
			have = l->vs_id == vs->id;
		if (have)
			continue;
		err = listener_open(w, vs);
		if (err && w->index == 0) {
			char addr[80];

			l7_sockaddr_format(&vs->vip, addr, sizeof(addr), true);
			exlb_log("proxy: VS %u (%s): cannot listen on %s: %s",
				 vs->id, vs->name, addr, strerror(-err));
		}
	}
}

/* ---- workers ---- */

static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
	struct l7_worker *w = a->data;
	struct l7_plan *next;
	bool stop;

	(void)revents;
	pthread_mutex_lock(&w->lock);
	next = w->next_plan;
	w->next_plan = NULL;
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	if (next) {
		l7_plan_put(w->plan);
		w->plan = next;
		fd_ceiling_refresh(w);	/* the reserve follows the configuration */
		listeners_sync(w);
		l7_conns_sweep(w, ev_now(loop));
		l7_mail_sweep(w, ev_now(loop));
	}
	if (stop)
		ev_break(loop, EVBREAK_ALL);
}

static void on_sweep(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct l7_worker *w = t->data;

	(void)revents;
	fd_ceiling_refresh(w);
	l7_conns_sweep(w, ev_now(loop));
	l7_mail_sweep(w, ev_now(loop));
	l7_idle_servers_expire(w, ev_now(loop), false);
}

static void *worker_main(void *arg)
{
	struct l7_worker *w = arg;

	fd_ceiling_refresh(w);
	ev_run(w->loop, 0);
	l7_conns_close_all(w);
	l7_mail_close_all(w);
	l7_idle_servers_expire(w, ev_now(w->loop), true);
	while (w->listeners) {
		struct l7_listener *l = w->listeners;

		w->listeners = l->next;
		listener_close(w, l);
	}
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
	p->tls = exlb_tls_cache_new(opts->state_dir);
	if (!p->tls) {
		exlb_err_set(err, "cannot set up TLS");
		goto fail;
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
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
		ev_loop_destroy(w->loop);
	}
	free(p->workers);
	if (ev_is_active(&p->rs_failed))
		ev_async_stop(p->main_loop, &p->rs_failed);
	l7_plan_put(p->plan);
	while (p->scheds) {
		struct l7_sched *s = p->scheds;

		p->scheds = s->next;
		persist_free(s->persist);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	while (p->rs_states) {
		struct l7_rs_state *s = p->rs_states;

		p->rs_states = s->next;
		free(s);
	}
	while (p->vs_states) {
		struct l7_vs_state *s = p->vs_states;

		p->vs_states = s->next;
		free(s);
	}
	if (p->tls)
		exlb_tls_cache_free(p->tls);
	if (p->access_log)
		fclose(p->access_log);
	exlb_content_set_limit_hook(NULL);
	free(p);
}

void exlb_proxy_apply(struct exlb_proxy *p, const struct exlb_config *cfg,
		      const struct exlb_runtime *rt)
{
	struct l7_plan *plan = plan_build(p, cfg, rt);

	if (!plan) {
		exlb_log("proxy: out of memory building the plan; serving the previous one");
		return;
	}
	exlb_tls_cache_prune(p->tls, cfg);
	l7_plan_put(p->plan);
	p->plan = plan;
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

void exlb_proxy_counters(struct exlb_proxy *p, const struct exlb_config *cfg,
			 struct exlb_runtime *rt)
{
	rt->proxy.present = true;
	rt->proxy.fd_limit = fd_limit_now();
	rt->proxy.fd_reserve = fd_reserve_of(p, rt->proxy.fd_limit);
	rt->proxy.conns_refused = atomic_load(&p->conns_refused);
	rt->proxy.conns_over_limit = atomic_load(&p->conns_over_limit);
	rt->proxy.accept_pauses = atomic_load(&p->accept_pauses);
	rt->proxy.fd_short = atomic_load(&p->fd_short);
	rt->proxy.connect_retries = atomic_load(&p->connect_retries);
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
	}
}
