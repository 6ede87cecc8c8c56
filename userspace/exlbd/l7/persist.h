/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Source-IP persistence of the L7 proxy (Persist=src), between sched.c,
 * which decides with the shared core (exlb_persist_follow()), and
 * persist.c, which keeps the records. Every function here is called with
 * the SubVS's l7_sched lock held, except l7_persist_release() (proxy_int.h),
 * which takes it.
 */
#ifndef EXLB_L7_PERSIST_H
#define EXLB_L7_PERSIST_H

#include "proxy_int.h"

/* A client (masked address) stuck to an RS of one SubVS. */
struct l7_persist_entry {
	u8 key[16];
	uint32_t rs_id;
	struct exlb_persist_rec rec;	/* the core's: open connections, expiry */
	bool orphan;			/* flushed while held: out of the table */
	/* HA persistence sync (exlb_proxy_persist_export()): what was sent */
	uint64_t sent_at;		/* 0: never sent */
	uint64_t sent_expires;		/* when the partner's copy expires */
	uint32_t sent_rs;
	struct l7_persist_entry *next;
};

/* The live record of @key in @s, or NULL. Frees expired records on the way. */
struct l7_persist_entry *l7_persist_lookup(struct l7_sched *s, const u8 *key,
					   uint64_t now);

/*
 * Points @e (or a new record for @key) at @rs_id. NULL without memory or
 * room: the connection is then simply not sticky, as in exlb.ko.
 */
struct l7_persist_entry *l7_persist_bind(struct l7_sched *s,
					 struct l7_persist_entry *e,
					 const u8 *key, uint32_t rs_id,
					 uint64_t now);

/*
 * The connection whose holds are @holds was scheduled through @e: it
 * holds the record alive until l7_persist_release(), once however many
 * of its requests go through it.
 */
void l7_persist_hold(struct l7_persist_hold **holds, struct l7_sched *s,
		     struct l7_persist_entry *e);

#endif
