// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Choosing a real server for an L7 connection: source persistence first
 * (persist.c), then the SubVS's scheduler from the shared core
 * (kmod/sched_core.c, the code exlb.ko runs), all under the SubVS's sched
 * lock; and the open-connection counts that lc/wlc, connection limits and
 * MaxConnsLimit read. The L7 twin of kmod/sched.c.
 */
#include <netinet/in.h>
#include <string.h>

#include "persist.h"
#include "uapi/linux/exlb.h"

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
			 struct l7_persist_hold **holds,
			 const uint32_t *avoid, size_t nr_avoid)
{
	struct exlb_sched_target *targets[EXLB_SERVICE_MAX_RS];
	struct l7_sched *s = sv->sched;
	struct l7_persist_entry *e = NULL;
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
		client_key(client, sv->persist_mask, key);
		e = l7_persist_lookup(s, key, now);
		for (size_t i = 0; e && !chosen && i < sv->nr_rs; i++)
			if (sv->rs[i].id == e->rs_id &&
			    exlb_persist_follow(&e->rec, targets[i], now))
				chosen = &sv->rs[i];
	}
	if (!chosen) {
		idx = exlb_sched_pick((u8)sv->schedule, &s->st, targets,
				      (unsigned int)sv->nr_rs);
		if (idx >= 0)
			chosen = &sv->rs[idx];
	}
	/* a record whose RS no longer takes the client is re-pointed */
	if (chosen && persist) {
		e = l7_persist_bind(s, e, key, chosen->id, now);
		if (e)
			l7_persist_hold(holds, s, e);
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
