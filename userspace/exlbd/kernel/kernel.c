// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Reconciliation of the configuration's kernel-served VSs with exlb.ko
 * (see kernel.h for the rules).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uapi/linux/exlb.h>
#include "userspace/lib/exlbnl.h"

#include "config/params.h"
#include "kernel.h"
#include "l7/proxy.h"

#define ERR_LINES	64
#define ERR_LEN		320

struct exlb_kernel {
	bool disabled;
	struct exlbnl *nl;
	time_t last_open;	/* monotonic seconds of the last open attempt */
	bool dirty;		/* the last reconcile did not finish */
	bool seed;		/* first reconcile since open: adopt DOWN flags */
	char open_err[ERR_LEN];	/* last logged reason the module is absent */
	/* failures of the previous and current reconcile: each is logged once */
	char prev_err[ERR_LINES][ERR_LEN];
	size_t nr_prev_err;
	char cur_err[ERR_LINES][ERR_LEN];
	size_t nr_cur_err;
	/* HA persistence sync: what was sent of each record, by service and key */
	struct kpersist_sent *sent;
	size_t nr_sent;
};

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* A kernel refusal: logged unless the previous reconcile had the same one. */
static void __attribute__((format(printf, 2, 3)))
kerr(struct exlb_kernel *k, const char *fmt, ...)
{
	char msg[ERR_LEN];
	va_list ap;
	bool seen = false;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	k->dirty = true;
	for (size_t i = 0; i < k->nr_prev_err; i++)
		if (!strcmp(k->prev_err[i], msg))
			seen = true;
	if (!seen)
		exlb_log(LOG_ERR, "kernel: %s (will retry)", msg);
	if (k->nr_cur_err < ERR_LINES)
		snprintf(k->cur_err[k->nr_cur_err++], ERR_LEN, "%s", msg);
}

static const char *nlerr(struct exlb_kernel *k, int err)
{
	const char *m = k->nl ? exlbnl_errmsg(k->nl) : "";

	return m && *m ? m : strerror(-err);
}

struct exlb_kernel *exlb_kernel_new(bool disabled)
{
	struct exlb_kernel *k = calloc(1, sizeof(*k));

	if (k)
		k->disabled = disabled;
	return k;
}

void exlb_kernel_free(struct exlb_kernel *k)
{
	if (!k)
		return;
	if (k->nl)
		exlbnl_close(k->nl);
	free(k->sent);
	free(k);
}

bool exlb_kernel_available(const struct exlb_kernel *k)
{
	return k && k->nl;
}

static void set_unavailable(struct exlb_kernel *k, struct exlb_runtime *rt,
			    const char *why)
{
	if (k->nl) {
		exlbnl_close(k->nl);
		k->nl = NULL;
	}
	rt->kernel_available = false;
	snprintf(rt->kernel_note, sizeof(rt->kernel_note),
		 "kernel data plane unavailable: %s", why);
	if (strcmp(k->open_err, why)) {
		snprintf(k->open_err, sizeof(k->open_err), "%s", why);
		exlb_log(k->disabled ? LOG_NOTICE : LOG_ERR, "kernel data plane unavailable: %s; kernel-served VSs are not programmed (retrying every %d s)",
			 why, EXLB_KERNEL_RETRY_OPEN_S);
	}
}

int exlb_kernel_open(struct exlb_kernel *k, struct exlb_runtime *rt)
{
	char errbuf[256] = "";
	int err;

	if (k->disabled) {
		rt->kernel_available = false;
		snprintf(rt->kernel_note, sizeof(rt->kernel_note),
			 "kernel data plane unavailable (--no-kernel)");
		return -ENODEV;
	}
	if (k->nl)
		return 0;
	k->last_open = mono_now();
	err = exlbnl_open(&k->nl, errbuf, sizeof(errbuf));
	if (err) {
		char why[200];

		k->nl = NULL;
		if (err == -ENOENT)
			snprintf(why, sizeof(why),
				 "exlb.ko not loaded (generic netlink family \"%s\" not found)",
				 EXLB_GENL_NAME);
		else
			snprintf(why, sizeof(why), "%s", errbuf[0] ? errbuf : strerror(-err));
		set_unavailable(k, rt, why);
		return err;
	}
	rt->kernel_available = true;
	snprintf(rt->kernel_note, sizeof(rt->kernel_note), "kernel data plane: exlb.ko");
	if (k->open_err[0])
		exlb_log(LOG_NOTICE, "kernel data plane available: exlb.ko answers");
	k->open_err[0] = '\0';
	k->dirty = true;
	k->seed = true;
	return 0;
}

/* ---- model -> kernel ---- */

static void addr_to_nl(const struct exlb_addr *a, union exlbnl_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (a->family == AF_INET)
		out->v4 = a->u.v4;
	else if (a->family == AF_INET6)
		out->v6 = a->u.v6;
}

static bool addr_eq(uint16_t family, const union exlbnl_addr *a,
		    const union exlbnl_addr *b)
{
	return !memcmp(a->raw, b->raw, exlbnl_addr_len(family));
}

/*
 * Alternate source addresses with localbind=1: the VS's own, else the
 * global default's of the VIP's family (not for Transparent VSs). The
 * configuration check refused what does not fit.
 */
static void want_alt_source(const struct exlb_config *cfg,
			    const struct exlb_service *s, struct exlbnl_service *o)
{
	uint8_t addrs[EXLB_MAX_ALT_SOURCE_ADDRS][16];
	const char *list = s->alt_source_addrs[0] ? s->alt_source_addrs :
			   cfg->globals.alt_source_addrs;
	char why[128];
	int n;

	if (!cfg->globals.localbind || s->transparent)
		return;
	n = exlb_alt_source_parse(list, s->vip.family, addrs,
				  EXLB_MAX_ALT_SOURCE_ADDRS, why, sizeof(why));
	for (int i = 0; i < n; i++)
		memcpy(o->alt[i].raw, addrs[i], 16);
	o->alt_n = n > 0 ? (unsigned int)n : 0;
}

static void want_service(const struct exlb_config *cfg,
			 const struct exlb_service *s, struct exlbnl_service *o)
{
	memset(o, 0, sizeof(*o));
	o->present = EXLBNL_SVC_ID | EXLBNL_SVC_ADDR | EXLBNL_SVC_SETTINGS;
	o->id = s->id;
	o->family = s->vip.family;
	addr_to_nl(&s->vip, &o->addr);
	o->port = s->port;
	o->sched = s->schedule;
	/* PersistTimeout 0 = persistence off (Kemp); the kernel needs >= 1 */
	o->persist = s->persist_timeout ? s->persist : EXLB_PERSIST_NONE;
	o->persist_timeout = s->persist_timeout ? s->persist_timeout :
						  EXLB_DEFAULT_PERSIST_TIMEOUT;
	o->persist_netmask = s->persist_mask;
	o->idle_timeout = s->idletime;
	if (s->transparent)
		o->flags |= EXLB_SVC_F_TRANSPARENT;
	/* the global subnetoriginating applies to every VS (Kemp) */
	if (s->subnet_originating || cfg->globals.subnetoriginating)
		o->flags |= EXLB_SVC_F_SUBNET_ORIGINATING;
	want_alt_source(cfg, s, o);
}

/* The settings of @want that @have lacks, as `present` bits. */
static uint32_t service_diff(const struct exlbnl_service *want,
			     const struct exlbnl_service *have)
{
	uint32_t d = 0;

	if (want->sched != have->sched)
		d |= EXLBNL_SVC_SCHED;
	if (want->persist != have->persist)
		d |= EXLBNL_SVC_PERSIST;
	if (want->persist_timeout != have->persist_timeout)
		d |= EXLBNL_SVC_PERSIST_TIMEOUT;
	if (want->persist_netmask != have->persist_netmask)
		d |= EXLBNL_SVC_PERSIST_NETMASK;
	if (want->idle_timeout != have->idle_timeout)
		d |= EXLBNL_SVC_IDLE_TIMEOUT;
	if (want->flags != have->flags)
		d |= EXLBNL_SVC_FLAGS;
	if (want->alt_n != have->alt_n)
		d |= EXLBNL_SVC_ALT_SOURCE;
	for (unsigned int i = 0; i < want->alt_n && i < have->alt_n; i++)
		if (!addr_eq(want->family, &want->alt[i], &have->alt[i]))
			d |= EXLBNL_SVC_ALT_SOURCE;
	return d;
}

/*
 * The kernel flags of @rs. Health: the runtime verdict; none yet = DOWN
 * (the caller copied the kernel's own flag into the runtime first, so this
 * only applies to a real server the kernel does not have).
 */
static uint32_t real_flags(const struct exlb_service *svc,
			   const struct exlb_runtime *rt,
			   const struct exlb_rs *rs)
{
	const struct exlb_rs_runtime *r = exlb_runtime_rs_peek(rt, rs->id);
	uint32_t flags = rs->enable ? 0 : EXLB_REAL_F_DISABLED;

	if (svc->check_type != EXLB_CHECKTYPE_NONE &&
	    (!r || r->health != EXLB_HEALTH_UP))
		flags |= EXLB_REAL_F_DOWN;
	return flags;
}

static void want_real(const struct exlb_service *svc,
		      const struct exlb_runtime *rt, const struct exlb_rs *rs,
		      struct exlbnl_real *o)
{
	memset(o, 0, sizeof(*o));
	o->present = EXLBNL_REAL_WEIGHT | EXLBNL_REAL_LIMIT |
		     EXLBNL_REAL_FORWARD | EXLBNL_REAL_FLAGS;
	addr_to_nl(&rs->addr, &o->addr);
	o->port = rs->port;
	o->weight = rs->weight;
	o->limit = rs->limit;
	o->forward = rs->forward;
	o->flags = real_flags(svc, rt, rs);
}

static void svc_ident(const struct exlb_service *s, struct exlbnl_service *o)
{
	memset(o, 0, sizeof(*o));
	o->present = EXLBNL_SVC_ID;
	o->id = s->id;
	o->family = s->vip.family;
}

static void copy_counters(struct exlb_runtime *rt, uint32_t rs_id,
			  const struct exlbnl_real *kr)
{
	struct exlb_rs_runtime *r = exlb_runtime_rs(rt, rs_id);

	if (!r)
		return;
	if (!(kr->present & EXLBNL_REAL_COUNTERS)) {
		memset(&r->counters, 0, sizeof(r->counters));
		return;
	}
	r->counters.conns = kr->stats.conns;
	r->counters.active = kr->active_conns;
	r->counters.inactive = kr->inactive_conns;
	r->counters.pkts_in = kr->stats.pkts_in;
	r->counters.pkts_out = kr->stats.pkts_out;
	r->counters.bytes_in = kr->stats.bytes_in;
	r->counters.bytes_out = kr->stats.bytes_out;
}

static const char *rs_label(const struct exlb_rs *rs, char *buf, size_t n)
{
	exlb_addr_port_format(&rs->addr, rs->port, buf, n);
	return buf;
}

/*
 * The persistence records of each kernel service that has persistence, from
 * the dump just read (a service without shows none, as in the L7 proxy).
 */
static void persist_counts(struct exlb_runtime *rt,
			   const struct exlbnl_service *have, size_t nr_have)
{
	struct exlb_persist_count *c = nr_have ? calloc(nr_have, sizeof(*c)) : NULL;
	size_t n = 0;

	for (size_t i = 0; c && i < nr_have; i++) {
		if (!(have[i].present & EXLBNL_SVC_COUNTERS) ||
		    have[i].persist == EXLB_PERSIST_NONE)
			continue;
		c[n].service_id = have[i].id;
		c[n++].records = have[i].persist_records;
	}
	free(rt->kernel_persist);
	rt->kernel_persist = c;
	rt->nr_kernel_persist = c ? n : 0;
}

/* ---- reconciliation ---- */

static int sync_globals(struct exlb_kernel *k, const struct exlb_config *cfg)
{
	const struct exlb_globals *g = &cfg->globals;
	struct exlbnl_globals have, want = { 0 };
	int err;

	err = exlbnl_globals_get(k->nl, &have);
	if (err)
		return err;
	if (have.drop_on_fail != !!g->droponfail) {
		want.present |= EXLBNL_GLOBAL_DROP_ON_FAIL;
		want.drop_on_fail = !!g->droponfail;
	}
	if (have.drop_at_drain_end != !!g->dropatdrainend) {
		want.present |= EXLBNL_GLOBAL_DROP_AT_DRAIN_END;
		want.drop_at_drain_end = !!g->dropatdrainend;
	}
	if (have.final_persist != g->finalpersist) {
		want.present |= EXLBNL_GLOBAL_FINAL_PERSIST;
		want.final_persist = g->finalpersist;
	}
	/* 0 means 660 on both sides */
	if ((have.conn_timeout ? have.conn_timeout : EXLB_DEFAULT_CONN_TIMEOUT) !=
	    (g->conntimeout ? g->conntimeout : EXLB_DEFAULT_CONN_TIMEOUT)) {
		want.present |= EXLBNL_GLOBAL_CONN_TIMEOUT;
		want.conn_timeout = g->conntimeout;
	}
	if (want.present) {
		err = exlbnl_globals_set(k->nl, &want);
		if (err)
			kerr(k, "globals: %s", nlerr(k, err));
		else
			exlb_log(LOG_INFO, "kernel: globals set (droponfail %u, dropatdrainend %u, finalpersist %u, conntimeout %u)",
				 g->droponfail, g->dropatdrainend,
				 g->finalpersist, g->conntimeout);
	}
	return 0;
}

/* The real servers of one kernel service that exists (or was just made). */
static int sync_reals(struct exlb_kernel *k, const struct exlb_config *cfg,
		      struct exlb_runtime *rt, const struct exlb_service *s,
		      bool fresh)
{
	struct exlbnl_service id;
	struct exlbnl_real *have = NULL;
	size_t nr_have = 0;
	char label[EXLB_NICKNAME_SIZE], where[64];
	uint16_t fam = s->vip.family;
	int err;

	svc_ident(s, &id);
	if (!fresh) {
		err = exlbnl_real_dump(k->nl, &id, &have, &nr_have);
		if (err)
			return err;
	}
	exlb_service_label(s, label, sizeof(label));

	/* extras first: they may hold the room new ones need */
	for (size_t i = 0; i < nr_have; i++) {
		bool wanted = false;

		for (size_t j = 0; j < cfg->nr_reals && !wanted; j++) {
			const struct exlb_rs *rs = &cfg->reals[j];
			union exlbnl_addr a;

			if (rs->service_id != s->id)
				continue;
			addr_to_nl(&rs->addr, &a);
			wanted = rs->port == have[i].port &&
				 addr_eq(fam, &a, &have[i].addr);
		}
		if (wanted)
			continue;
		exlbnl_format_addr_port(fam, &have[i].addr, have[i].port,
					where, sizeof(where));
		err = exlbnl_real_del(k->nl, &id, &have[i]);
		if (err)
			kerr(k, "VS %u (%s): delete rs %s: %s", s->id, label,
			     where, nlerr(k, err));
		else
			exlb_log(LOG_INFO, "kernel: VS %u (%s): rs %s deleted", s->id,
				 label, where);
	}

	for (size_t j = 0; j < cfg->nr_reals; j++) {
		const struct exlb_rs *rs = &cfg->reals[j];
		const struct exlbnl_real *kr = NULL;
		struct exlbnl_real want, set;
		union exlbnl_addr a;

		if (rs->service_id != s->id)
			continue;
		addr_to_nl(&rs->addr, &a);
		for (size_t i = 0; i < nr_have && !kr; i++)
			if (have[i].port == rs->port &&
			    addr_eq(fam, &a, &have[i].addr))
				kr = &have[i];
		rs_label(rs, where, sizeof(where));

		if (kr) {
			struct exlb_rs_runtime *r = exlb_runtime_rs(rt, rs->id);

			/*
			 * No verdict yet (exlbd just started): the kernel's
			 * DOWN flag stands until the first check.
			 */
			if (k->seed && r && r->health == EXLB_HEALTH_UNKNOWN &&
			    s->check_type != EXLB_CHECKTYPE_NONE) {
				bool down = kr->flags & EXLB_REAL_F_DOWN;

				r->health = down ? EXLB_HEALTH_DOWN : EXLB_HEALTH_UP;
				snprintf(r->reason, sizeof(r->reason),
					 "%s in the kernel, not checked yet",
					 down ? "down" : "up");
			}
			copy_counters(rt, rs->id, kr);
		} else {
			struct exlb_rs_runtime *r = exlb_runtime_rs(rt, rs->id);

			if (r)
				memset(&r->counters, 0, sizeof(r->counters));
		}
		want_real(s, rt, rs, &want);
		if (!kr) {
			err = exlbnl_real_new(k->nl, &id, &want);
			if (err)
				kerr(k, "VS %u (%s): add rs %s: %s", s->id,
				     label, where, nlerr(k, err));
			else
				exlb_log(LOG_INFO, "kernel: VS %u (%s): rs %s added%s",
					 s->id, label, where,
					 want.flags & EXLB_REAL_F_DOWN ?
					 " (down until checked)" : "");
			continue;
		}
		memset(&set, 0, sizeof(set));
		set.addr = want.addr;
		set.port = want.port;
		if (kr->weight != want.weight) {
			set.present |= EXLBNL_REAL_WEIGHT;
			set.weight = want.weight;
		}
		if (kr->limit != want.limit) {
			set.present |= EXLBNL_REAL_LIMIT;
			set.limit = want.limit;
		}
		if (kr->forward != want.forward) {
			set.present |= EXLBNL_REAL_FORWARD;
			set.forward = want.forward;
		}
		if (kr->flags != want.flags) {
			set.present |= EXLBNL_REAL_FLAGS;
			set.flags = want.flags;
		}
		if (!set.present)
			continue;
		err = exlbnl_real_set(k->nl, &id, &set);
		if (err)
			kerr(k, "VS %u (%s): set rs %s: %s", s->id, label,
			     where, nlerr(k, err));
		else
			exlb_log(LOG_INFO, "kernel: VS %u (%s): rs %s updated (weight %u, limit %u, flags 0x%x)",
				 s->id, label, where, want.weight, want.limit,
				 want.flags);
	}
	free(have);
	return 0;
}

static int do_reconcile(struct exlb_kernel *k, const struct exlb_config *cfg,
			struct exlb_runtime *rt)
{
	static const struct exlb_service *want[EXLB_MAX_SERVICES];
	struct exlbnl_service *have = NULL;
	size_t nr_want, nr_have = 0;
	char label[EXLB_NICKNAME_SIZE], where[64];
	int err;

	err = exlbnl_service_dump(k->nl, &have, &nr_have);
	if (err)
		return err;
	persist_counts(rt, have, nr_have);
	err = sync_globals(k, cfg);
	if (err)
		goto out;
	nr_want = exlb_config_kernel_services(cfg, want, EXLB_MAX_SERVICES);

	/* services the configuration does not have (by id and address) */
	for (size_t i = 0; i < nr_have; i++) {
		const struct exlbnl_service *h = &have[i];
		struct exlbnl_service w;
		bool keep = false;

		for (size_t j = 0; j < nr_want && !keep; j++) {
			if (want[j]->id != h->id)
				continue;
			want_service(cfg, want[j], &w);
			keep = (h->present & EXLBNL_SVC_ADDR) &&
			       h->family == w.family && h->port == w.port &&
			       addr_eq(w.family, &h->addr, &w.addr);
		}
		if (keep)
			continue;
		if (h->present & EXLBNL_SVC_ADDR)
			exlbnl_format_addr_port(h->family, &h->addr, h->port,
						where, sizeof(where));
		else
			snprintf(where, sizeof(where), "no address");
		err = exlbnl_service_del(k->nl, h);
		if (err)
			kerr(k, "delete service %u (%s): %s", h->id, where,
			     nlerr(k, err));
		else
			exlb_log(LOG_INFO, "kernel: service %u (%s) deleted", h->id, where);
		have[i].id = 0;	/* gone: not matched below */
	}

	for (size_t j = 0; j < nr_want; j++) {
		const struct exlb_service *s = want[j];
		const struct exlbnl_service *h = NULL;
		struct exlbnl_service w;
		bool fresh = false;

		for (size_t i = 0; i < nr_have && !h; i++)
			if (have[i].id && have[i].id == s->id)
				h = &have[i];
		want_service(cfg, s, &w);
		exlb_service_label(s, label, sizeof(label));
		if (!h) {
			err = exlbnl_service_new(k->nl, &w, NULL);
			if (err) {
				kerr(k, "VS %u (%s): add: %s", s->id, label,
				     nlerr(k, err));
				continue;
			}
			exlb_log(LOG_INFO, "kernel: VS %u (%s) added", s->id, label);
			fresh = true;
		} else {
			uint32_t d = service_diff(&w, h);

			if (d) {
				w.present = EXLBNL_SVC_ID | d;
				err = exlbnl_service_set(k->nl, &w);
				if (err)
					kerr(k, "VS %u (%s): set: %s", s->id,
					     label, nlerr(k, err));
				else
					exlb_log(LOG_INFO, "kernel: VS %u (%s) updated",
						 s->id, label);
			}
		}
		err = sync_reals(k, cfg, rt, s, fresh);
		if (err)
			goto out;
	}
	err = 0;
out:
	free(have);
	return err;
}

int exlb_kernel_reconcile(struct exlb_kernel *k, const struct exlb_config *cfg,
			  struct exlb_runtime *rt)
{
	int err;

	if (k->disabled)
		return -ENODEV;
	if (!k->nl)
		return -ENODEV;
	k->dirty = false;
	k->nr_cur_err = 0;
	err = do_reconcile(k, cfg, rt);
	if (err) {
		/* a failing dump or GET: the module went away or cannot be read */
		char why[ERR_LEN];

		snprintf(why, sizeof(why), "reading the kernel's tables failed: %s",
			 nlerr(k, err));
		k->dirty = true;
		set_unavailable(k, rt, why);
		return err;
	}
	k->seed = false;
	memcpy(k->prev_err, k->cur_err, sizeof(k->cur_err[0]) * k->nr_cur_err);
	k->nr_prev_err = k->nr_cur_err;
	return k->dirty ? -EAGAIN : 0;
}

void exlb_kernel_update_rs(struct exlb_kernel *k, const struct exlb_config *cfg,
			   struct exlb_runtime *rt, uint32_t rs_id)
{
	const struct exlb_rs *rs = exlb_rs_by_id(cfg, rs_id);
	const struct exlb_service *s;
	struct exlbnl_service id;
	struct exlbnl_real r;
	char where[64];
	int err;

	if (!k->nl || !rs)
		return;
	s = exlb_service_by_id(cfg, rs->service_id);
	if (!s || !s->enable || !exlb_service_is_kernel_served(cfg, s) ||
	    exlb_vs_refused(cfg, s))
		return;
	svc_ident(s, &id);
	memset(&r, 0, sizeof(r));
	addr_to_nl(&rs->addr, &r.addr);
	r.port = rs->port;
	r.present = EXLBNL_REAL_FLAGS;
	r.flags = real_flags(s, rt, rs);
	err = exlbnl_real_set(k->nl, &id, &r);
	if (err) {
		exlb_log(LOG_ERR, "kernel: VS %u: set rs %s flags 0x%x: %s; reconciling",
			 s->id, rs_label(rs, where, sizeof(where)), r.flags,
			 nlerr(k, err));
		exlb_kernel_reconcile(k, cfg, rt);
	}
}

void exlb_kernel_tick(struct exlb_kernel *k, const struct exlb_config *cfg,
		      struct exlb_runtime *rt)
{
	if (k->disabled)
		return;
	if (!k->nl) {
		if (mono_now() - k->last_open < EXLB_KERNEL_RETRY_OPEN_S)
			return;
		if (exlb_kernel_open(k, rt))
			return;
	}
	/* also refreshes the counters and repairs drift */
	exlb_kernel_reconcile(k, cfg, rt);
}

/* ---- HA persistence sync ---- */

struct kpersist_sent {
	uint32_t service_id;
	uint8_t key[16];
	uint32_t rs_id;
	uint64_t sent_expires;		/* ms, CLOCK_MONOTONIC: the partner's copy */
};

static int sent_cmp(const void *a, const void *b)
{
	const struct kpersist_sent *x = a, *y = b;

	if (x->service_id != y->service_id)
		return x->service_id < y->service_id ? -1 : 1;
	return memcmp(x->key, y->key, sizeof(x->key));
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The RS of @svc at @addr:@port in the configuration, or NULL. */
static const struct exlb_rs *rs_at(const struct exlb_config *cfg,
				   const struct exlb_service *svc,
				   const union exlbnl_addr *addr, uint16_t port)
{
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		const struct exlb_rs *rs = &cfg->reals[i];
		union exlbnl_addr a;

		if (rs->service_id != svc->id || rs->port != port)
			continue;
		addr_to_nl(&rs->addr, &a);
		if (addr_eq(svc->vip.family, &a, addr))
			return rs;
	}
	return NULL;
}

/* The same rule as the L7 proxy's (l7/persist.c export_due()). */
static bool kpersist_due(const struct kpersist_sent *prev, uint32_t rs_id,
			 bool held, uint64_t expires, uint64_t now,
			 uint64_t timeout_ms)
{
	uint64_t diff;

	if (!prev || prev->rs_id != rs_id)
		return true;
	if (held)
		return prev->sent_expires <= now + timeout_ms / 2;
	diff = expires > prev->sent_expires ? expires - prev->sent_expires :
	       prev->sent_expires - expires;
	return diff > timeout_ms / 8;
}

/* One service's records: the due ones into @out, every one into @next. */
static size_t kpersist_service(struct exlb_kernel *k,
			       const struct exlb_config *cfg,
			       const struct exlb_service *svc, bool all,
			       uint64_t now, struct exlb_persist_export *out,
			       size_t max, struct kpersist_sent **next,
			       size_t *nr_next)
{
	struct exlbnl_persist *recs = NULL;
	struct exlbnl_service ident;
	struct kpersist_sent *grown;
	uint64_t timeout_ms = (uint64_t)svc->persist_timeout * 1000;
	size_t n = 0, nr = 0;

	svc_ident(svc, &ident);
	if (exlbnl_persist_dump(k->nl, &ident, &recs, &nr))
		return 0;	/* kept as sent: tried again next time */
	grown = realloc(*next, (*nr_next + nr + 1) * sizeof(**next));
	if (!grown) {
		free(recs);
		return 0;
	}
	*next = grown;
	for (size_t i = 0; i < nr; i++) {
		const struct exlb_rs *rs = rs_at(cfg, svc, &recs[i].real,
						 recs[i].real_port);
		struct kpersist_sent key = { .service_id = svc->id }, *prev, *e;
		uint64_t ttl = (uint64_t)recs[i].timeout * 1000;

		if (!rs)
			continue;
		memcpy(key.key, recs[i].key, sizeof(key.key));
		prev = k->nr_sent ? bsearch(&key, k->sent, k->nr_sent,
					    sizeof(*k->sent), sent_cmp) : NULL;
		e = &(*next)[*nr_next];
		if (!all && !kpersist_due(prev, rs->id, recs[i].conns, now + ttl,
					  now, timeout_ms)) {
			*e = *prev;
			++*nr_next;
			continue;
		}
		if (n == max)
			continue;	/* not sent: new again next time */
		out[n].service_id = svc->id;
		memcpy(out[n].key, recs[i].key, sizeof(out[n].key));
		out[n].rs_id = rs->id;
		out[n].ttl_ms = ttl > UINT32_MAX ? UINT32_MAX : (uint32_t)ttl;
		n++;
		*e = key;
		e->rs_id = rs->id;
		e->sent_expires = now + ttl;
		++*nr_next;
	}
	free(recs);
	return n;
}

size_t exlb_kernel_persist_export(struct exlb_kernel *k,
				  const struct exlb_config *cfg, bool all,
				  struct exlb_persist_export *out, size_t max)
{
	const struct exlb_service *svcs[EXLB_MAX_SERVICES];
	struct kpersist_sent *next = NULL;
	size_t nr_next = 0, n = 0, nr_svcs;
	uint64_t now = mono_ms();

	if (k->disabled || !k->nl)
		return 0;
	nr_svcs = exlb_config_kernel_services(cfg, svcs, EXLB_MAX_SERVICES);
	for (size_t i = 0; i < nr_svcs; i++)
		if (svcs[i]->persist == EXLB_PERSIST_SRC && svcs[i]->persist_timeout)
			n += kpersist_service(k, cfg, svcs[i], all, now, out + n,
					      max - n, &next, &nr_next);
	/* records gone from the kernel (expired) are forgotten here too */
	if (nr_next)
		qsort(next, nr_next, sizeof(*next), sent_cmp);
	free(k->sent);
	k->sent = next;
	k->nr_sent = nr_next;
	return n;
}

int exlb_kernel_persist_install(struct exlb_kernel *k,
				const struct exlb_config *cfg,
				const struct exlb_persist_export *r)
{
	const struct exlb_service *svc = exlb_service_by_id(cfg, r->service_id);
	const struct exlb_rs *rs = NULL;
	struct exlbnl_service ident;
	union exlbnl_addr addr;

	if (k->disabled || !k->nl)
		return -ENODEV;
	for (size_t i = 0; svc && i < cfg->nr_reals; i++)
		if (cfg->reals[i].id == r->rs_id)
			rs = &cfg->reals[i];
	if (!svc || !rs)
		return -ENOENT;
	svc_ident(svc, &ident);
	addr_to_nl(&rs->addr, &addr);
	return exlbnl_persist_set(k->nl, &ident, &addr, (uint16_t)rs->port,
				  r->key, sizeof(r->key),
				  (r->ttl_ms + 999) / 1000);
}
