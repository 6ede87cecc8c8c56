/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The scheduling decisions of exlb, written once and compiled both into
 * exlb.ko and into the userspace daemon (which schedules its L7 services
 * with the same code). Nothing here allocates, locks or knows about
 * packets: callers own the real-server array and serialise calls that
 * share an exlb_sched_state.
 */
#ifndef EXLB_SCHED_CORE_H
#define EXLB_SCHED_CORE_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include "sched_core_user.h"	/* the kernel's type names, in userspace */
#endif

/* One real server as the scheduler sees it. */
struct exlb_sched_target {
	u32 weight;		/* 0..65535; 0 takes no new connections */
	u32 limit;		/* most open connections; 0 = no limit */
	u32 active;		/* open connections in TCP ESTABLISHED */
	u32 inactive;		/* other open connections */
	bool usable;		/* enabled and healthy */
	s64 wrr_current;	/* smooth-WRR running weight; scheduler-owned */
};

/* Per-service scheduler memory. Zero it to start. */
struct exlb_sched_state {
	u32 next;		/* where the next rr/lc scan starts */
};

/* A source-persistence record: which RS a client is stuck to, and until when. */
struct exlb_persist_rec {
	u64 expires;		/* caller's clock; meaningful once conns == 0 */
	u32 conns;		/* open connections that hold the record alive */
};

/* Usable, weight > 0 and under its connection limit. */
bool exlb_sched_eligible(const struct exlb_sched_target *t);

/*
 * Pick a real server for a new connection with scheduler @alg
 * (enum exlb_sched). Returns its index in @targets, or -1 when none is
 * eligible.
 */
int exlb_sched_pick(u8 alg, struct exlb_sched_state *st,
		    struct exlb_sched_target *const *targets, unsigned int n);

/* A record is live while it has open connections or has not expired. */
bool exlb_persist_live(const struct exlb_persist_rec *rec, u64 now);

/* Whether a new connection should follow @rec to the RS @t. */
bool exlb_persist_follow(const struct exlb_persist_rec *rec,
			 const struct exlb_sched_target *t, u64 now);

/*
 * A connection scheduled through @rec (followed it or made it) holds it
 * alive until it closes: the record cannot expire while it is open.
 */
void exlb_persist_hold(struct exlb_persist_rec *rec);

/*
 * A connection that held @rec closed at @now. Once it was the last, the
 * record lives @timeout more (the caller's clock units): the timeout runs
 * from the close of the last connection, not from the first one.
 */
void exlb_persist_unhold(struct exlb_persist_rec *rec, u64 now, u64 timeout);

/*
 * The persistence key of a client address: @addr (4 bytes for IPv4, 16 for
 * IPv6) masked to @prefix bits (0 = the whole address), written to @key,
 * 16 bytes, zero-padded.
 */
void exlb_persist_key(const u8 *addr, unsigned int addr_len,
		      unsigned int prefix, u8 *key);

#endif /* EXLB_SCHED_CORE_H */
