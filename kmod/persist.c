// SPDX-License-Identifier: GPL-2.0
/*
 * Source-IP persistence (Kemp's Persist=src): a per-service hash of
 * records, client address (masked) to real server. A record lives while
 * its client has open flows and for persist_timeout seconds after the last
 * one closed; the decision to follow it is the shared core's. Everything
 * here runs under the service's sched_lock, except the resize's allocation.
 *
 * Bounded: a service holds at most persist_max records (module parameter).
 * Records without open flows ("idle") sit on a list in the order they
 * became idle; at the cap a new client takes the place of the oldest idle
 * record, and a record with open flows is never evicted: when every record
 * has open flows, the new client is simply not sticky. The hash starts at
 * 256 buckets and is resized by the timer to about one record per bucket.
 */
#include <linux/jhash.h>
#include <linux/jiffies.h>
#include <linux/log2.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "kmod/exlb.h"

static unsigned int persist_max = EXLB_PERSIST_MAX_DEFAULT;
module_param(persist_max, uint, 0644);
MODULE_PARM_DESC(persist_max,
		 "most source-persistence records per service (default 131072, 0 = 1)");

#define PERSIST_MIN_BITS	EXLB_PERSIST_HASH_BITS
#define PERSIST_MAX_BITS	20

static unsigned int persist_cap(void)
{
	return max(READ_ONCE(persist_max), 1U);
}

int exlb_persist_init(struct exlb_service *svc)
{
	svc->persist_bits = PERSIST_MIN_BITS;
	svc->persist_table = kvcalloc(1U << PERSIST_MIN_BITS,
				      sizeof(*svc->persist_table), GFP_KERNEL);
	INIT_LIST_HEAD(&svc->persist_idle);
	return svc->persist_table ? 0 : -ENOMEM;
}

/* The service has no records left (exlb_persist_expire(svc, true)). */
void exlb_persist_destroy(struct exlb_service *svc)
{
	kvfree(svc->persist_table);
}

static u32 persist_hash(const u8 *key, unsigned int bits)
{
	return jhash(key, 16, 0) & ((1U << bits) - 1);
}

static struct hlist_head *persist_bucket(struct exlb_service *svc, const u8 *key)
{
	return &svc->persist_table[persist_hash(key, svc->persist_bits)];
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

static void persist_free(struct exlb_service *svc, struct exlb_persist_entry *rec)
{
	hlist_del(&rec->node);
	list_del(&rec->idle);
	svc->persist_count--;
	exlb_real_put(rec->real);
	kfree(rec);
}

/* Makes room for one more record: false when every record has open flows. */
static bool persist_make_room(struct exlb_service *svc, unsigned int cap)
{
	struct exlb_persist_entry *old;

	while (svc->persist_count >= cap) {
		old = list_first_entry_or_null(&svc->persist_idle,
					       struct exlb_persist_entry, idle);
		if (!old)
			return false;
		persist_free(svc, old);
		svc->persist_evicted++;
	}
	return true;
}

/*
 * Points @rec (or a new record for @key) at @real. NULL without memory or
 * room (at the cap with no idle record to evict).
 */
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
	if (!persist_make_room(svc, persist_cap())) {
		svc->persist_full++;
		return NULL;
	}
	rec = kzalloc(sizeof(*rec), GFP_ATOMIC);
	if (!rec)
		return NULL;
	memcpy(rec->key, key, 16);
	refcount_inc(&real->refcnt);
	rec->real = real;
	INIT_LIST_HEAD(&rec->idle);
	hlist_add_head(&rec->node, persist_bucket(svc, key));
	svc->persist_count++;
	return rec;
}

/* A new flow holds @rec: it is not idle any more. */
void exlb_persist_hold_entry(struct exlb_service *svc,
			     struct exlb_persist_entry *rec)
{
	lockdep_assert_held(&svc->sched_lock);
	list_del_init(&rec->idle);
	exlb_persist_hold(&rec->rec);
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
	if (!rec)
		return;
	exlb_persist_unhold(&rec->rec, get_jiffies_64(),
			    (u64)READ_ONCE(svc->persist_timeout) * HZ);
	if (!rec->rec.conns)
		list_move_tail(&rec->idle, &svc->persist_idle);
}

/*
 * Frees expired records, or all of them; trims the table to the cap if
 * persist_max was lowered. Only idle records can expire.
 */
void exlb_persist_expire(struct exlb_service *svc, bool all)
{
	struct exlb_persist_entry *rec, *tmp;
	u64 now = get_jiffies_64();
	struct hlist_node *ntmp;
	unsigned int i;

	lockdep_assert_held(&svc->sched_lock);
	if (all) {
		for (i = 0; i < (1U << svc->persist_bits); i++)
			hlist_for_each_entry_safe(rec, ntmp,
						  &svc->persist_table[i], node)
				persist_free(svc, rec);
		return;
	}
	list_for_each_entry_safe(rec, tmp, &svc->persist_idle, idle)
		if (!exlb_persist_live(&rec->rec, now))
			persist_free(svc, rec);
	if (svc->persist_count > persist_cap())
		persist_make_room(svc, persist_cap() + 1);
}

/* The hash size for @count records: about one per bucket. */
static unsigned int persist_bits_for(unsigned int count)
{
	unsigned int bits = count > 1 ? order_base_2(count) : 0;

	return clamp_t(unsigned int, bits, PERSIST_MIN_BITS, PERSIST_MAX_BITS);
}

/*
 * From the timer (process context): grows the hash when it holds more
 * than two records per bucket, shrinks it below one per eight. Allocates
 * outside the lock and rehashes under it.
 */
void exlb_persist_resize(struct exlb_service *svc)
{
	struct hlist_head *table, *old;
	struct exlb_persist_entry *rec;
	unsigned int bits, i, count;
	struct hlist_node *tmp;

	spin_lock_bh(&svc->sched_lock);
	count = svc->persist_count;
	bits = svc->persist_bits;
	spin_unlock_bh(&svc->sched_lock);
	if (count <= (2U << bits) &&
	    (bits == PERSIST_MIN_BITS || count >= (1U << bits) / 8))
		return;
	bits = persist_bits_for(count);
	if (bits == svc->persist_bits)
		return;
	table = kvcalloc(1U << bits, sizeof(*table), GFP_KERNEL);
	if (!table)
		return;		/* try again on the next tick */

	spin_lock_bh(&svc->sched_lock);
	old = svc->persist_table;
	for (i = 0; i < (1U << svc->persist_bits); i++)
		hlist_for_each_entry_safe(rec, tmp, &old[i], node) {
			hlist_del(&rec->node);
			hlist_add_head(&rec->node,
				       &table[persist_hash(rec->key, bits)]);
		}
	svc->persist_table = table;
	svc->persist_bits = bits;
	spin_unlock_bh(&svc->sched_lock);
	kvfree(old);
}

/*
 * HA persistence sync (EXLB_CMD_SET_PERSIST): the partner's record of @key,
 * pointing at @real, without flows, expiring @timeout_s from now (at most
 * the service's persist_timeout). A record flows hold here stays as it is.
 * -ENOSPC at the cap with no idle record to evict, -ENOMEM.
 */
int exlb_persist_install(struct exlb_service *svc, const u8 *key,
			 struct exlb_real *real, u32 timeout_s)
{
	u32 timeout = min(timeout_s, READ_ONCE(svc->persist_timeout));
	struct exlb_persist_entry *rec;

	lockdep_assert_held(&svc->sched_lock);
	rec = exlb_persist_lookup(svc, key);
	if (rec && rec->rec.conns)
		return 0;
	rec = exlb_persist_bind(svc, rec, key, real);
	if (!rec)
		return svc->persist_count >= persist_cap() ? -ENOSPC : -ENOMEM;
	rec->rec.expires = get_jiffies_64() + (u64)timeout * HZ;
	/* the newest idle record: the last one evicted at the cap */
	list_move_tail(&rec->idle, &svc->persist_idle);
	return 0;
}
