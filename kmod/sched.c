// SPDX-License-Identifier: GPL-2.0
/*
 * Choosing a real server for a new connection: source persistence first,
 * then the service's scheduler from the shared core (sched_core.c).
 */
#include <linux/jiffies.h>

#include "kmod/exlb.h"

/*
 * @real takes one more flow: counted as inactive, its client's
 * persistence record (@rec if it exists, else a new one for @key) held.
 */
static void sched_take(struct exlb_service *svc, struct exlb_persist_entry *rec,
		       const u8 *key, struct exlb_real *real, bool *persisted)
{
	if (svc->persist == EXLB_PERSIST_SRC) {
		/* Without memory for a record the flow is simply not sticky. */
		rec = exlb_persist_bind(svc, rec, key, real);
		if (rec) {
			exlb_persist_hold_entry(svc, rec);
			*persisted = true;
		}
	}
	real->sched.inactive++;
}

/*
 * Called with svc->sched_lock held. Returns the chosen real server (not
 * referenced: the caller references it before dropping the lock), counted
 * as one more inactive flow, or NULL when no real server is eligible.
 * *persisted tells whether the flow holds a persistence record.
 */
struct exlb_real *exlb_schedule(struct exlb_service *svc,
				const union nf_inet_addr *client,
				bool *persisted)
{
	struct exlb_persist_entry *rec = NULL;
	struct exlb_real *real = NULL;
	u64 now = get_jiffies_64();
	u8 key[16];
	int idx;

	lockdep_assert_held(&svc->sched_lock);
	*persisted = false;
	if (svc->dead || !svc->nreals)
		return NULL;

	if (svc->persist == EXLB_PERSIST_SRC) {
		exlb_persist_key_of(svc, client, key);
		rec = exlb_persist_lookup(svc, key);
		if (rec && exlb_persist_follow(&rec->rec, &rec->real->sched, now))
			real = rec->real;
	}
	if (!real) {
		idx = exlb_sched_pick(svc->sched_alg, &svc->sched,
				      svc->targets, svc->nreals);
		if (idx < 0)
			return NULL;
		real = svc->reals[idx];
	}
	sched_take(svc, rec, key, real, persisted);
	return real;
}

/*
 * Called with svc->sched_lock held for a connection that was balanced on
 * the HA peer and reached this node through conntrackd: @real (of @svc)
 * is taken as chosen, without asking the scheduler, and the client's
 * persistence record now points at it (the live connection is the truth).
 */
void exlb_sched_adopt(struct exlb_service *svc, struct exlb_real *real,
		      const union nf_inet_addr *client, bool *persisted)
{
	struct exlb_persist_entry *rec = NULL;
	u8 key[16];

	lockdep_assert_held(&svc->sched_lock);
	*persisted = false;
	if (svc->persist == EXLB_PERSIST_SRC) {
		exlb_persist_key_of(svc, client, key);
		rec = exlb_persist_lookup(svc, key);
	}
	sched_take(svc, rec, key, real, persisted);
}
