// SPDX-License-Identifier: GPL-2.0
/*
 * Source-IP persistence (Kemp's Persist=src): a per-service hash of
 * records, client address (masked) to real server. A record lives while
 * its client has open flows and for persist_timeout seconds after the last
 * one closed; the decision to follow it is the shared core's. Everything
 * here runs under the service's sched_lock.
 */
#include <linux/jhash.h>
#include <linux/jiffies.h>
#include <linux/slab.h>

#include "kmod/exlb.h"

static struct hlist_head *persist_bucket(struct exlb_service *svc, const u8 *key)
{
	return &svc->persist_table[jhash(key, 16, 0) &
				   ((1 << EXLB_PERSIST_HASH_BITS) - 1)];
}

void exlb_persist_key_of(const struct exlb_service *svc,
			 const union nf_inet_addr *addr, u8 *key)
{
	exlb_persist_key((const u8 *)addr, svc->family == AF_INET ? 4 : 16,
			 svc->persist_netmask, key);
}

struct exlb_persist_entry *exlb_persist_lookup(struct exlb_service *svc,
					       const u8 *key)
{
	struct exlb_persist_entry *rec;

	lockdep_assert_held(&svc->sched_lock);
	hlist_for_each_entry(rec, persist_bucket(svc, key), node)
		if (!memcmp(rec->key, key, 16))
			return rec;
	return NULL;
}

/* Points @rec (or a new record for @key) at @real. NULL without memory. */
struct exlb_persist_entry *exlb_persist_bind(struct exlb_service *svc,
					     struct exlb_persist_entry *rec,
					     const u8 *key,
					     struct exlb_real *real)
{
	lockdep_assert_held(&svc->sched_lock);
	if (rec) {
		if (rec->real != real) {
			refcount_inc(&real->refcnt);
			exlb_real_put(rec->real);
			rec->real = real;
		}
		return rec;
	}
	rec = kzalloc(sizeof(*rec), GFP_ATOMIC);
	if (!rec)
		return NULL;
	memcpy(rec->key, key, 16);
	refcount_inc(&real->refcnt);
	rec->real = real;
	hlist_add_head(&rec->node, persist_bucket(svc, key));
	return rec;
}

/*
 * A flow of the client of @key closed: start the timeout once it was the
 * last. The record may be gone already (service flushed).
 */
void exlb_persist_release(struct exlb_service *svc, const u8 *key)
{
	struct exlb_persist_entry *rec;

	lockdep_assert_held(&svc->sched_lock);
	rec = exlb_persist_lookup(svc, key);
	if (rec)
		exlb_persist_unhold(&rec->rec, get_jiffies_64(),
				    (u64)READ_ONCE(svc->persist_timeout) * HZ);
}

/* Frees expired records, or all of them. */
void exlb_persist_expire(struct exlb_service *svc, bool all)
{
	u64 now = get_jiffies_64();
	struct exlb_persist_entry *rec;
	struct hlist_node *tmp;
	unsigned int i;

	lockdep_assert_held(&svc->sched_lock);
	for (i = 0; i < ARRAY_SIZE(svc->persist_table); i++) {
		hlist_for_each_entry_safe(rec, tmp, &svc->persist_table[i], node) {
			if (!all && exlb_persist_live(&rec->rec, now))
				continue;
			hlist_del(&rec->node);
			exlb_real_put(rec->real);
			kfree(rec);
		}
	}
}
