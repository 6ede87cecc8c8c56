// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Source-IP persistence of the L7 proxy (Persist=src): a table of records
 * per SubVS, client address (masked) to real server, shared by every
 * worker under the SubVS's sched lock, and the records each client
 * connection holds. A record lives while connections scheduled through it
 * are open and PersistTimeout after the last one closed: the rule is the
 * shared core's (exlb_persist_hold/unhold/live), as in exlb.ko's
 * kmod/persist.c, of which this file is the L7 twin.
 */
#include <stdlib.h>
#include <string.h>

#include "persist.h"

#define L7_PERSIST_BUCKETS	256
#define L7_PERSIST_MAX		65536	/* records per SubVS */

struct l7_persist {
	struct l7_persist_entry *buckets[L7_PERSIST_BUCKETS];
	size_t count;
};

/* One record a client connection holds alive (a list per connection). */
struct l7_persist_hold {
	struct l7_sched *sched;		/* never freed before exit */
	struct l7_persist_entry *e;	/* not freed while held */
	struct l7_persist_hold *next;
};

static unsigned int persist_hash(const u8 *key)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % L7_PERSIST_BUCKETS;
}

/*
 * Frees the records of a bucket that are not live (or all that are not
 * held, when @flush: they become orphans, freed by their last holder). A
 * held record is live, so expiry never frees one a connection points to.
 */
static void bucket_expire(struct l7_persist *ps, struct l7_persist_entry **pp,
			  uint64_t now, bool flush)
{
	struct l7_persist_entry *e;

	while ((e = *pp)) {
		if (!flush && exlb_persist_live(&e->rec, now)) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		ps->count--;
		if (e->rec.conns)
			e->orphan = true;
		else
			free(e);
	}
}

struct l7_persist_entry *l7_persist_lookup(struct l7_sched *s, const u8 *key,
					   uint64_t now)
{
	struct l7_persist *ps = s->persist;
	struct l7_persist_entry **pp, *e;

	if (!ps)
		return NULL;
	pp = &ps->buckets[persist_hash(key)];
	bucket_expire(ps, pp, now, false);
	for (e = *pp; e; e = e->next)
		if (!memcmp(e->key, key, 16))
			return e;
	return NULL;
}

struct l7_persist_entry *l7_persist_bind(struct l7_sched *s,
					 struct l7_persist_entry *e,
					 const u8 *key, uint32_t rs_id,
					 uint64_t now)
{
	struct l7_persist *ps;
	unsigned int b;

	if (e) {
		e->rs_id = rs_id;
		return e;
	}
	if (!s->persist)
		s->persist = calloc(1, sizeof(*s->persist));
	ps = s->persist;
	if (!ps)
		return NULL;
	if (ps->count >= L7_PERSIST_MAX)
		for (b = 0; b < L7_PERSIST_BUCKETS; b++)
			bucket_expire(ps, &ps->buckets[b], now, false);
	if (ps->count >= L7_PERSIST_MAX)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	memcpy(e->key, key, 16);
	e->rs_id = rs_id;
	/* not held yet: a record nobody holds lasts the timeout from now */
	e->rec.expires = now + s->persist_timeout_ms;
	b = persist_hash(key);
	e->next = ps->buckets[b];
	ps->buckets[b] = e;
	ps->count++;
	return e;
}

void l7_persist_hold(struct l7_persist_hold **holds, struct l7_sched *s,
		     struct l7_persist_entry *e)
{
	struct l7_persist_hold *h;

	for (h = *holds; h; h = h->next)
		if (h->e == e)
			return;
	/* without memory the record is not held: it just times out */
	h = calloc(1, sizeof(*h));
	if (!h)
		return;
	h->sched = s;
	h->e = e;
	h->next = *holds;
	*holds = h;
	exlb_persist_hold(&e->rec);
}

void l7_persist_release(struct l7_persist_hold **holds)
{
	struct l7_persist_hold *h;

	while ((h = *holds)) {
		struct l7_sched *s = h->sched;
		struct l7_persist_entry *e = h->e;

		*holds = h->next;
		pthread_mutex_lock(&s->lock);
		exlb_persist_unhold(&e->rec, l7_now_ms(), s->persist_timeout_ms);
		if (e->orphan && !e->rec.conns)
			free(e);
		pthread_mutex_unlock(&s->lock);
		free(h);
	}
}

void l7_persist_configure(struct l7_sched *s, bool on, unsigned int timeout_s)
{
	pthread_mutex_lock(&s->lock);
	s->persist_timeout_ms = (uint64_t)timeout_s * 1000;
	/* like exlb.ko: persistence turned off forgets every record */
	if (!on && s->persist)
		for (unsigned int b = 0; b < L7_PERSIST_BUCKETS; b++)
			bucket_expire(s->persist, &s->persist->buckets[b], 0, true);
	pthread_mutex_unlock(&s->lock);
}

size_t l7_persist_count(const struct l7_persist *ps)
{
	return ps ? ps->count : 0;
}

void l7_persist_free(struct l7_persist *ps)
{
	if (!ps)
		return;
	/* at exit, after every connection released its holds */
	for (size_t b = 0; b < L7_PERSIST_BUCKETS; b++)
		bucket_expire(ps, &ps->buckets[b], 0, true);
	free(ps);
}

/* ---- HA persistence sync (ha/persist_sync.c) ---- */

/*
 * Whether @e is to be sent now; its time left in @ttl_ms. The partner's
 * copy expires at sent_expires: a held record is sent again when that is
 * less than half a PersistTimeout away, an idle one when its own expiry
 * moved more than an eighth of it (each connection's close moves it: one
 * message per client and second would be the price of exactness).
 */
static bool export_due(const struct l7_persist_entry *e, uint64_t now,
		       uint64_t timeout_ms, bool all, uint32_t *ttl_ms)
{
	uint64_t left, diff;

	if (!exlb_persist_live(&e->rec, now))
		return false;
	left = e->rec.conns ? timeout_ms : e->rec.expires - now;
	*ttl_ms = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
	if (all || !e->sent_at || e->sent_rs != e->rs_id)
		return true;
	if (e->rec.conns)
		return e->sent_expires <= now + timeout_ms / 2;
	diff = e->rec.expires > e->sent_expires ?
	       e->rec.expires - e->sent_expires : e->sent_expires - e->rec.expires;
	return diff > timeout_ms / 8;
}

/* One SubVS's due records into @out (under its lock). */
static size_t export_sched(struct l7_sched *s, bool all, uint64_t now,
			   struct exlb_persist_export *out, size_t max)
{
	struct l7_persist *ps = s->persist;
	size_t n = 0;

	if (!ps || !s->persist_timeout_ms)
		return 0;
	for (unsigned int b = 0; b < L7_PERSIST_BUCKETS && n < max; b++)
		for (struct l7_persist_entry *e = ps->buckets[b]; e && n < max;
		     e = e->next) {
			uint32_t ttl;

			if (!export_due(e, now, s->persist_timeout_ms, all, &ttl))
				continue;
			out[n].service_id = s->service_id;
			memcpy(out[n].key, e->key, 16);
			out[n].rs_id = e->rs_id;
			out[n].ttl_ms = ttl;
			n++;
			e->sent_at = now;
			e->sent_rs = e->rs_id;
			e->sent_expires = now + ttl;
		}
	return n;
}

size_t exlb_proxy_persist_export(struct exlb_proxy *p, bool all,
				 struct exlb_persist_export *out, size_t max)
{
	uint64_t now = l7_now_ms();
	size_t n = 0;

	if (p->remote)
		return p->opts.remote->persist_export(p->remote, all, out, max);
	/* the registry is the main thread's; each table is under its lock */
	for (struct l7_sched *s = p->scheds; s && n < max; s = s->next) {
		pthread_mutex_lock(&s->lock);
		n += export_sched(s, all, now, out + n, max - n);
		pthread_mutex_unlock(&s->lock);
	}
	return n;
}

int exlb_proxy_persist_install(struct exlb_proxy *p,
			       const struct exlb_persist_export *r)
{
	uint64_t now = l7_now_ms(), ttl;
	struct l7_persist_entry *e;
	struct l7_sched *s;
	int rc = -1;

	if (p->remote)
		return p->opts.remote->persist_install(p->remote, r);
	for (s = p->scheds; s && s->service_id != r->service_id; s = s->next)
		;
	if (!s)
		return -1;
	pthread_mutex_lock(&s->lock);
	ttl = r->ttl_ms < s->persist_timeout_ms ? r->ttl_ms : s->persist_timeout_ms;
	if (!ttl)
		goto out;
	e = l7_persist_lookup(s, r->key, now);
	/* a client this node serves itself keeps its own record */
	if (e && e->rec.conns) {
		rc = 0;
		goto out;
	}
	/* bind keeps the cap (L7_PERSIST_MAX) and makes a record nobody holds */
	e = l7_persist_bind(s, e, r->key, r->rs_id, now);
	if (e) {
		e->rec.expires = now + ttl;
		rc = 0;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}
