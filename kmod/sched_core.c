// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The scheduling decisions of exlb: rr, wrr, lc, wlc and source
 * persistence. Shared by exlb.ko and exlbd; see sched_core.h.
 */
#ifdef __KERNEL__
#include <linux/string.h>
#include <uapi/linux/exlb.h>
#else
#include <string.h>
#include <uapi/linux/exlb.h>
#endif
#include "sched_core.h"

bool exlb_sched_eligible(const struct exlb_sched_target *t)
{
	if (!t->usable || t->weight == 0)
		return false;
	return t->limit == 0 || t->active + t->inactive < t->limit;
}

/* Round robin: the first eligible server after the previous pick. */
static int sched_rr(struct exlb_sched_state *st,
		    struct exlb_sched_target *const *t, unsigned int n)
{
	unsigned int i, idx;

	for (i = 0; i < n; i++) {
		idx = (st->next + i) % n;
		if (exlb_sched_eligible(t[idx])) {
			st->next = (idx + 1) % n;
			return idx;
		}
	}
	return -1;
}

/*
 * Smooth weighted round robin: every eligible server gains its weight, the
 * richest is picked and pays the total. Over sum(weights) picks each server
 * is chosen exactly weight times, interleaved rather than in bursts.
 */
static int sched_wrr(struct exlb_sched_target *const *t, unsigned int n)
{
	s64 total = 0;
	int best = -1;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (!exlb_sched_eligible(t[i]))
			continue;
		t[i]->wrr_current += t[i]->weight;
		total += t[i]->weight;
		if (best < 0 || t[i]->wrr_current > t[best]->wrr_current)
			best = i;
	}
	if (best >= 0)
		t[best]->wrr_current -= total;
	return best;
}

/* IPVS's load figure: an established connection weighs 256 half-open ones. */
static u64 sched_overhead(const struct exlb_sched_target *t)
{
	return ((u64)t->active << 8) + t->inactive;
}

/*
 * Least connections, and its weighted form comparing overhead/weight by
 * cross-multiplying. The scan starts after the previous pick so that ties
 * rotate instead of always landing on the first server.
 */
static int sched_lc(struct exlb_sched_state *st,
		    struct exlb_sched_target *const *t, unsigned int n,
		    bool weighted)
{
	unsigned int i, idx;
	int best = -1;

	for (i = 0; i < n; i++) {
		idx = (st->next + i) % n;
		if (!exlb_sched_eligible(t[idx]))
			continue;
		if (best < 0) {
			best = idx;
			continue;
		}
		if (weighted) {
			if (sched_overhead(t[idx]) * t[best]->weight <
			    sched_overhead(t[best]) * t[idx]->weight)
				best = idx;
		} else if (sched_overhead(t[idx]) < sched_overhead(t[best])) {
			best = idx;
		}
	}
	if (best >= 0)
		st->next = (best + 1) % n;
	return best;
}

int exlb_sched_pick(u8 alg, struct exlb_sched_state *st,
		    struct exlb_sched_target *const *targets, unsigned int n)
{
	if (n == 0)
		return -1;
	switch (alg) {
	case EXLB_SCHED_RR:
		return sched_rr(st, targets, n);
	case EXLB_SCHED_WRR:
		return sched_wrr(targets, n);
	case EXLB_SCHED_LC:
		return sched_lc(st, targets, n, false);
	case EXLB_SCHED_WLC:
		return sched_lc(st, targets, n, true);
	}
	return -1;
}

bool exlb_persist_live(const struct exlb_persist_rec *rec, u64 now)
{
	return rec->conns > 0 || now < rec->expires;
}

bool exlb_persist_follow(const struct exlb_persist_rec *rec,
			 const struct exlb_sched_target *t, u64 now)
{
	return exlb_persist_live(rec, now) && exlb_sched_eligible(t);
}

void exlb_persist_hold(struct exlb_persist_rec *rec)
{
	rec->conns++;
}

void exlb_persist_unhold(struct exlb_persist_rec *rec, u64 now, u64 timeout)
{
	if (!rec->conns)
		return;
	if (--rec->conns == 0)
		rec->expires = now + timeout;
}

void exlb_persist_key(const u8 *addr, unsigned int addr_len,
		      unsigned int prefix, u8 *key)
{
	unsigned int bits = addr_len * 8, i;

	memset(key, 0, 16);
	memcpy(key, addr, addr_len);
	if (prefix == 0 || prefix >= bits)
		return;
	for (i = prefix / 8; i < addr_len; i++)
		key[i] = 0;
	if (prefix % 8)
		key[prefix / 8] = addr[prefix / 8] & (u8)(0xff << (8 - prefix % 8));
}
