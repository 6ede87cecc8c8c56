// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the L7 proxy's source persistence (exlbd/l7/sched.c,
 * exlbd/l7/persist.c): a record keeps the semantics of exlb.ko's -- it
 * counts the open connections scheduled through it, does not expire while
 * one is open, and times out PersistTimeout after the last one closed.
 *
 * The clock is the test's: it defines l7_now_ms(), which sched.c and
 * persist.c read. TAP output; exits non-zero if a check failed.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l7/persist.h"
#include "l7/proxy.h"
#include "uapi/linux/exlb.h"

#include "tap_report.h"
static uint64_t now_ms = 1000;

uint64_t l7_now_ms(void)
{
	return now_ms;
}

#define NR_RS		2
#define TIMEOUT_S	60

/* A SubVS with two serving RSs (ids 11, 12), rr, Persist=src 60 s. */
struct fixture {
	struct l7_sched sched;
	struct l7_rs_state st[NR_RS];
	struct l7_rs rs[NR_RS];
	struct l7_subvs sv;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->sched.lock, NULL);
	f->sched.service_id = 1;
	for (int i = 0; i < NR_RS; i++) {
		f->st[i].rs_id = 11 + i;
		f->rs[i].id = 11 + i;
		f->rs[i].weight = 1000;
		f->rs[i].serving = true;
		f->rs[i].st = &f->st[i];
	}
	f->sv.id = 1;
	f->sv.rs = f->rs;
	f->sv.nr_rs = NR_RS;
	f->sv.schedule = EXLB_SCHED_RR;
	f->sv.persist = EXLB_PERSIST_SRC;
	f->sv.persist_timeout = TIMEOUT_S;
	f->sv.sched = &f->sched;
	l7_persist_configure(&f->sched, true, TIMEOUT_S);
}

static void fixture_release(struct fixture *f)
{
	l7_persist_free(f->sched.persist);
	pthread_mutex_destroy(&f->sched.lock);
}

static struct sockaddr_storage client(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s4->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &s4->sin_addr);
	return ss;
}

/* The RS id a new connection of @cl gets (0: none), holding into @holds. */
static uint32_t pick(struct fixture *f, const struct sockaddr_storage *cl,
		     struct l7_persist_hold **holds)
{
	struct l7_rs *rs = l7_pick_rs(&f->sv, cl, holds, NULL, 0);

	return rs ? rs->id : 0;
}

/* The open connections the record of @cl counts; -1 without a live one. */
static int record_conns(struct fixture *f, const struct sockaddr_storage *cl)
{
	const struct sockaddr_in *s4 = (const void *)cl;
	struct l7_persist_entry *e;
	u8 key[16];

	exlb_persist_key((const u8 *)&s4->sin_addr, 4, 0, key);
	e = l7_persist_lookup(&f->sched, key, now_ms);
	return e ? (int)e->rec.conns : -1;
}

/*
 * A client with an open connection keeps its RS past PersistTimeout; once
 * its last connection closed the record lasts PersistTimeout more, then the
 * client may move (rr takes the other RS).
 */
static void test_held_then_timeout(void)
{
	struct sockaddr_storage cl = client("198.18.7.1");
	struct l7_persist_hold *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	struct fixture f;
	uint32_t first, got;

	fixture_init(&f);
	now_ms = 1000;
	first = pick(&f, &cl, &a);
	report(first == 11, "first connection: rr picks RS 11 (got %u)", first);
	report(record_conns(&f, &cl) == 1,
	       "... and its record counts 1 open connection (got %d)",
	       record_conns(&f, &cl));

	now_ms += (TIMEOUT_S + 1) * 1000;	/* A is still open */
	got = pick(&f, &cl, &b);
	report(got == first,
	       "connection A open %d s > PersistTimeout %d s: a new connection follows to RS %u (got %u)",
	       TIMEOUT_S + 1, TIMEOUT_S, first, got);
	report(record_conns(&f, &cl) == 2,
	       "... and the record counts 2 open connections (got %d)",
	       record_conns(&f, &cl));

	now_ms += 1000;
	l7_persist_release(&a);
	report(!a && record_conns(&f, &cl) == 1,
	       "A closes: 1 open connection left (got %d), A's holds emptied",
	       record_conns(&f, &cl));
	now_ms += 10 * TIMEOUT_S * 1000;	/* B is still open */
	got = pick(&f, &cl, &c);
	report(got == first, "B open %d s later: still RS %u (got %u)",
	       10 * TIMEOUT_S, first, got);
	l7_persist_release(&c);

	now_ms += 1000;
	l7_persist_release(&b);		/* the last connection closes */
	report(record_conns(&f, &cl) == 0,
	       "the last connection closes: the record lives on with 0 connections (got %d)",
	       record_conns(&f, &cl));
	now_ms += TIMEOUT_S * 1000 - 1;
	got = pick(&f, &cl, &d);
	report(got == first,
	       "PersistTimeout - 1 ms after the last close: a new connection follows to RS %u (got %u)",
	       first, got);
	l7_persist_release(&d);		/* its timeout starts again from here */

	now_ms += TIMEOUT_S * 1000 - 1;
	report(record_conns(&f, &cl) == 0,
	       "1 ms before the timeout of the last close: the record is live (conns %d)",
	       record_conns(&f, &cl));
	now_ms += 1;
	report(record_conns(&f, &cl) == -1,
	       "PersistTimeout after the last close: the record has expired (got %d)",
	       record_conns(&f, &cl));
	got = pick(&f, &cl, &d);
	report(got == 12, "after expiry the client moves: rr picks RS 12 (got %u)", got);
	l7_persist_release(&d);
	fixture_release(&f);
}

/*
 * One connection holds a record once, however many of its requests go
 * through it; a retry that avoids the record's RS re-points the record
 * without a second hold.
 */
static void test_one_hold_per_connection(void)
{
	struct sockaddr_storage cl = client("198.18.7.2");
	struct l7_persist_hold *a = NULL;
	uint32_t avoid[1];
	struct l7_rs *rs;
	struct fixture f;
	uint32_t got;

	fixture_init(&f);
	for (int i = 0; i < 3; i++)
		got = pick(&f, &cl, &a);
	report(record_conns(&f, &cl) == 1,
	       "3 requests of one keep-alive connection: the record counts 1 connection (got %d)",
	       record_conns(&f, &cl));
	avoid[0] = got;
	rs = l7_pick_rs(&f.sv, &cl, &a, avoid, 1);
	report(rs && rs->id != got && record_conns(&f, &cl) == 1,
	       "a retry avoiding RS %u goes to RS %u and keeps 1 hold (got %d)",
	       got, rs ? rs->id : 0, record_conns(&f, &cl));
	got = rs ? rs->id : 0;
	report(pick(&f, &cl, &a) == got,
	       "the record was re-pointed: the next request goes to RS %u too", got);
	l7_persist_release(&a);
	report(record_conns(&f, &cl) == 0,
	       "the connection closes: 0 connections (got %d)", record_conns(&f, &cl));
	fixture_release(&f);
}

/* Persistence turned off forgets the records, held ones included. */
static void test_flush(void)
{
	struct sockaddr_storage cl = client("198.18.7.3");
	struct l7_persist_hold *a = NULL, *b = NULL;
	struct fixture f;
	uint32_t first, got;

	fixture_init(&f);
	first = pick(&f, &cl, &a);
	f.sv.persist = EXLB_PERSIST_NONE;
	l7_persist_configure(&f.sched, false, TIMEOUT_S);
	f.sv.persist = EXLB_PERSIST_SRC;
	l7_persist_configure(&f.sched, true, TIMEOUT_S);
	report(record_conns(&f, &cl) == -1,
	       "Persist off and on again: the held record is gone from the table (got %d)",
	       record_conns(&f, &cl));
	got = pick(&f, &cl, &b);
	report(got != first, "the next connection is scheduled afresh: RS %u (first %u)",
	       got, first);
	l7_persist_release(&a);		/* frees the orphan: ASan checks */
	report(record_conns(&f, &cl) == 1,
	       "the old connection's close leaves the new record alone (conns %d)",
	       record_conns(&f, &cl));
	l7_persist_release(&b);
	fixture_release(&f);
}

/* ---- HA persistence sync: export on the active node, install on the standby ---- */

static size_t export(struct fixture *f, bool all, struct exlb_persist_export *out,
		     size_t max)
{
	struct exlb_proxy p;

	memset(&p, 0, sizeof(p));
	p.scheds = &f->sched;
	return exlb_proxy_persist_export(&p, all, out, max);
}

static int install(struct fixture *f, uint32_t service_id,
		   const struct sockaddr_storage *cl, uint32_t rs_id,
		   uint32_t ttl_ms)
{
	const struct sockaddr_in *s4 = (const void *)cl;
	struct exlb_persist_export r = { .service_id = service_id,
					 .rs_id = rs_id, .ttl_ms = ttl_ms };
	struct exlb_proxy p;

	exlb_persist_key((const u8 *)&s4->sin_addr, 4, 0, r.key);
	memset(&p, 0, sizeof(p));
	p.scheds = &f->sched;
	return exlb_proxy_persist_install(&p, &r);
}

/*
 * Only what changed goes out: a new record, a held one every half
 * PersistTimeout (the partner's copy lasts PersistTimeout from each
 * update), an idle one whose expiry moved more than an eighth of it;
 * everything with @all; never an expired one.
 */
static void test_export(void)
{
	struct sockaddr_storage ca = client("198.18.7.4"), cb = client("198.18.7.5");
	struct l7_persist_hold *a = NULL, *b = NULL;
	struct exlb_persist_export out[4];
	struct fixture f;
	size_t n;

	fixture_init(&f);
	now_ms = 1000;
	pick(&f, &ca, &a);
	pick(&f, &cb, &b);
	n = export(&f, false, out, 4);
	report(n == 2 && out[0].service_id == 1 && out[0].ttl_ms == TIMEOUT_S * 1000 &&
	       out[0].rs_id != out[1].rs_id,
	       "two new held records exported, %u ms left each (PersistTimeout), RSs %u and %u (n %zu)",
	       n ? out[0].ttl_ms : 0, n ? out[0].rs_id : 0, n > 1 ? out[1].rs_id : 0, n);
	n = export(&f, false, out, 4);
	report(n == 0, "exported again at once: nothing changed, nothing sent (n %zu)", n);
	n = export(&f, false, out, 1);
	n += 10 * export(&f, true, out, 1);
	report(n == 10, "all: every live record, at most max (1 of 2; n %zu)", n);

	now_ms += 10 * 1000;
	l7_persist_release(&a);		/* A's expiry: now + 60 s, 10 s later than sent */
	n = export(&f, false, out, 4);
	report(n == 1 && out[0].ttl_ms == TIMEOUT_S * 1000,
	       "A's last connection closes 10 s later (> 1/8 of PersistTimeout): sent again with %u ms (n %zu)",
	       n ? out[0].ttl_ms : 0, n);
	now_ms += 1000;
	pick(&f, &ca, &a);
	l7_persist_release(&a);
	n = export(&f, false, out, 4);
	report(n == 0, "a connection of A 1 s later moves its expiry 1 s (< 1/8): not sent (n %zu)", n);

	now_ms += TIMEOUT_S * 1000 / 2 - 11 * 1000;	/* half a timeout after B went out */
	n = export(&f, false, out, 4);
	report(n == 1 && out[0].ttl_ms == TIMEOUT_S * 1000,
	       "B, held, half a PersistTimeout after it was sent: refreshed (n %zu)", n);
	now_ms += TIMEOUT_S * 1000;	/* A has expired, B is held */
	n = export(&f, true, out, 4);
	report(n == 1 && out[0].rs_id != 0, "all, after A expired: only B (n %zu)", n);
	l7_persist_release(&b);
	fixture_release(&f);
}

/*
 * The standby installs a record without connections: the scheduler
 * follows it (rr alone would pick the other RS), it expires after the
 * time it came with (at most PersistTimeout), a record held by a local
 * connection stays as it is, an unknown SubVS is refused.
 */
static void test_install(void)
{
	struct sockaddr_storage ca = client("198.18.7.6"), cb = client("198.18.7.7");
	struct l7_persist_hold *a = NULL, *b = NULL;
	struct fixture f;
	uint32_t got;
	int rc;

	fixture_init(&f);
	now_ms = 1000;
	rc = install(&f, 1, &ca, 12, 5000);
	report(rc == 0 && record_conns(&f, &ca) == 0,
	       "installed: A -> RS 12, a record with 0 connections (rc %d, conns %d)",
	       rc, record_conns(&f, &ca));
	got = pick(&f, &ca, &a);
	report(got == 12, "A's next connection follows it to RS 12, where rr starts at RS 11 (got %u)",
	       got);
	rc = install(&f, 1, &ca, 11, 5000);
	report(rc == 0 && pick(&f, &ca, &a) == 12,
	       "a record held by a connection here is not re-pointed by the partner's");
	l7_persist_release(&a);

	rc = install(&f, 1, &cb, 12, 3000);
	now_ms += 2999;
	report(!rc && record_conns(&f, &cb) == 0, "B installed with 3 s: live 2.999 s later");
	now_ms += 1;
	report(record_conns(&f, &cb) == -1, "... expired at 3 s (got %d)", record_conns(&f, &cb));
	rc = install(&f, 1, &cb, 12, UINT32_MAX);
	now_ms += TIMEOUT_S * 1000;
	report(!rc && record_conns(&f, &cb) == -1,
	       "a time left beyond PersistTimeout is cut to it: gone %d s later", TIMEOUT_S);
	got = pick(&f, &cb, &b);
	report(got == 11, "B, its record expired, is scheduled by rr: RS 11 (got %u)", got);
	l7_persist_release(&b);
	report(install(&f, 99, &cb, 12, 5000) == -1, "a SubVS without a scheduler here: refused");
	fixture_release(&f);
}

int main(void)
{
	test_held_then_timeout();
	test_one_hold_per_connection();
	test_flush();
	test_export();
	test_install();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
