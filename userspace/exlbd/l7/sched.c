// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Choosing a real server for an L7 connection: source persistence first
 * (Persist=src: a table of records per SubVS, shared by every worker under
 * the SubVS's sched lock), then the SubVS's scheduler from the shared core
 * (kmod/sched_core.c, the code exlb.ko runs); and the open-connection
 * counts that lc/wlc, connection limits and MaxConnsLimit read.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_int.h"
#include "uapi/linux/exlb.h"

#define L7_PERSIST_BUCKETS	256
#define L7_PERSIST_MAX		65536	/* records per service */

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

void l7_persist_free(struct l7_persist *ps)
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
