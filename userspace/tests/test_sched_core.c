// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the shared scheduler core, kmod/sched_core.c.
 *
 * Plain C, no framework: prints "ok N - name" / "not ok N - name" (TAP) and
 * exits non-zero if any check failed. Every expected value below is worked
 * out by hand (see the comments), never computed by the code under test.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uapi/linux/exlb.h>
#include "kmod/sched_core.h"

#include "tap_report.h"

#define MAXT 8

/* A fresh set of targets: all usable, no limit, no connections. */
struct fixture {
	struct exlb_sched_target t[MAXT];
	struct exlb_sched_target *p[MAXT];
	struct exlb_sched_state st;
	unsigned int n;
};

static void fx_init(struct fixture *f, unsigned int n, const u32 *weights)
{
	unsigned int i;

	memset(f, 0, sizeof(*f));
	f->n = n;
	for (i = 0; i < n; i++) {
		f->t[i].weight = weights ? weights[i] : 1;
		f->t[i].usable = true;
		f->p[i] = &f->t[i];
	}
}

/*
 * Run @count picks with @alg and compare with @expect (indices, -1 for
 * none). On a mismatch, print the whole sequence as a TAP comment.
 */
static void check_seq(const char *name, u8 alg, struct fixture *f,
		      const int *expect, unsigned int count)
{
	int got[64];
	unsigned int i;
	bool pass = true;

	if (count > 64)
		abort();
	for (i = 0; i < count; i++) {
		got[i] = exlb_sched_pick(alg, &f->st, f->p, f->n);
		if (got[i] != expect[i])
			pass = false;
	}
	if (!pass) {
		printf("# %s: expected", name);
		for (i = 0; i < count; i++)
			printf(" %d", expect[i]);
		printf(", got");
		for (i = 0; i < count; i++)
			printf(" %d", got[i]);
		putchar('\n');
	}
	report(pass, "%s", name);
}

/* ------------------------------------------------------------------ */

static void test_eligible(void)
{
	struct exlb_sched_target t;

	memset(&t, 0, sizeof(t));
	t.usable = true;
	t.weight = 1;
	report(exlb_sched_eligible(&t), "eligible: usable, weight 1, no limit");

	t.usable = false;
	report(!exlb_sched_eligible(&t), "eligible: not usable -> no");

	t.usable = true;
	t.weight = 0;
	report(!exlb_sched_eligible(&t), "eligible: weight 0 -> no");

	t.weight = EXLB_MAX_WEIGHT;
	report(exlb_sched_eligible(&t), "eligible: weight 65535 -> yes");

	/* limit = 2: 1 open is under it, 2 open is at it. */
	t.limit = 2;
	t.active = 1;
	t.inactive = 0;
	report(exlb_sched_eligible(&t), "limit 2, active 1 + inactive 0 -> eligible");
	t.active = 0;
	t.inactive = 1;
	report(exlb_sched_eligible(&t), "limit 2, active 0 + inactive 1 -> eligible");
	t.active = 2;
	t.inactive = 0;
	report(!exlb_sched_eligible(&t), "limit 2, active 2 + inactive 0 -> not eligible");
	t.active = 1;
	t.inactive = 1;
	report(!exlb_sched_eligible(&t), "limit 2, active 1 + inactive 1 -> not eligible");
	t.active = 0;
	t.inactive = 2;
	report(!exlb_sched_eligible(&t), "limit 2, active 0 + inactive 2 -> not eligible");
	t.active = 5;
	t.inactive = 5;
	report(!exlb_sched_eligible(&t), "limit 2, 10 open (over) -> not eligible");

	/* limit 0 means none: any count is fine. */
	t.limit = 0;
	t.active = EXLB_MAX_LIMIT;
	t.inactive = EXLB_MAX_LIMIT;
	report(exlb_sched_eligible(&t), "limit 0 (none), 200000 open -> eligible");

	/* limit 1 with 0 open: exactly one more allowed. */
	t.limit = 1;
	t.active = 0;
	t.inactive = 0;
	report(exlb_sched_eligible(&t), "limit 1, 0 open -> eligible");
	t.inactive = 1;
	report(!exlb_sched_eligible(&t), "limit 1, 1 open -> not eligible");
}

static void test_rr(void)
{
	struct fixture f;

	{
		/* Three servers: 0,1,2,0,1,2,... */
		static const int e[] = { 0, 1, 2, 0, 1, 2, 0, 1, 2 };

		fx_init(&f, 3, NULL);
		check_seq("rr: 3 servers rotate 0,1,2,0,1,2,0,1,2", EXLB_SCHED_RR,
			  &f, e, 9);
	}
	{
		/* Weights do not matter to rr as long as they are > 0. */
		static const u32 w[] = { 100, 1, 65535 };
		static const int e[] = { 0, 1, 2, 0, 1, 2 };

		fx_init(&f, 3, w);
		check_seq("rr: weights other than 0 are ignored", EXLB_SCHED_RR,
			  &f, e, 6);
	}
	{
		/* Server 1 down: 0,2,0,2. */
		static const int e[] = { 0, 2, 0, 2, 0, 2 };

		fx_init(&f, 3, NULL);
		f.t[1].usable = false;
		check_seq("rr: skips a down server", EXLB_SCHED_RR, &f, e, 6);
	}
	{
		/* Server 0 weight 0: 1,2,1,2. */
		static const int e[] = { 1, 2, 1, 2, 1 };

		fx_init(&f, 3, NULL);
		f.t[0].weight = 0;
		check_seq("rr: skips a weight-0 server", EXLB_SCHED_RR, &f, e, 5);
	}
	{
		/* Server 2 at its limit (limit 2, 1 active + 1 inactive). */
		static const int e[] = { 0, 1, 0, 1 };

		fx_init(&f, 3, NULL);
		f.t[2].limit = 2;
		f.t[2].active = 1;
		f.t[2].inactive = 1;
		check_seq("rr: skips a server at its limit", EXLB_SCHED_RR, &f, e, 4);
	}
	{
		/* Server 2 under its limit (limit 2, 1 open) is picked. */
		static const int e[] = { 0, 1, 2, 0 };

		fx_init(&f, 3, NULL);
		f.t[2].limit = 2;
		f.t[2].inactive = 1;
		check_seq("rr: picks a server one under its limit", EXLB_SCHED_RR,
			  &f, e, 4);
	}
	{
		/* All ineligible in different ways. */
		static const int e[] = { -1, -1 };

		fx_init(&f, 3, NULL);
		f.t[0].usable = false;
		f.t[1].weight = 0;
		f.t[2].limit = 1;
		f.t[2].active = 1;
		check_seq("rr: all ineligible -> -1", EXLB_SCHED_RR, &f, e, 2);
	}
	{
		/* A server that comes back joins the rotation where it stands. */
		int got[6];

		fx_init(&f, 3, NULL);
		f.t[1].usable = false;
		got[0] = exlb_sched_pick(EXLB_SCHED_RR, &f.st, f.p, f.n); /* 0 */
		got[1] = exlb_sched_pick(EXLB_SCHED_RR, &f.st, f.p, f.n); /* 2 */
		f.t[1].usable = true;
		got[2] = exlb_sched_pick(EXLB_SCHED_RR, &f.st, f.p, f.n); /* 0 */
		got[3] = exlb_sched_pick(EXLB_SCHED_RR, &f.st, f.p, f.n); /* 1 */
		got[4] = exlb_sched_pick(EXLB_SCHED_RR, &f.st, f.p, f.n); /* 2 */
		got[5] = exlb_sched_pick(EXLB_SCHED_RR, &f.st, f.p, f.n); /* 0 */
		report(got[0] == 0 && got[1] == 2 && got[2] == 0 && got[3] == 1 &&
		       got[4] == 2 && got[5] == 0,
		       "rr: a server coming back up rejoins the rotation");
	}
	{
		/* A single server is always picked. */
		static const int e[] = { 0, 0, 0 };

		fx_init(&f, 1, NULL);
		check_seq("rr: a single server", EXLB_SCHED_RR, &f, e, 3);
	}
	{
		/*
		 * State left over from a larger set (next beyond n, e.g. after
		 * a real server was removed) must not index out of bounds.
		 */
		static const int e[] = { 1, 0, 1 };

		fx_init(&f, 2, NULL);
		f.st.next = 5;	/* 5 % 2 = 1 */
		check_seq("rr: stale next >= n wraps", EXLB_SCHED_RR, &f, e, 3);
	}
}

static void test_n_zero(void)
{
	struct exlb_sched_state st = { 0 };
	struct exlb_sched_target *none[1] = { NULL };
	u8 alg;

	for (alg = EXLB_SCHED_RR; alg <= EXLB_SCHED_MAX; alg++)
		report(exlb_sched_pick(alg, &st, none, 0) == -1,
		       "n == 0 -> -1 (alg %u)", alg);

	/* An unknown scheduler picks nothing. */
	{
		struct fixture f;

		fx_init(&f, 2, NULL);
		report(exlb_sched_pick(__EXLB_SCHED_LAST, &f.st, f.p, f.n) == -1,
		       "unknown scheduler -> -1");
	}
}

static void test_wrr(void)
{
	struct fixture f;

	{
		/*
		 * Weights 3,1; cur starts 0,0; total 4; ties go to the lower
		 * index (strict >).
		 *  1: cur 3,1  -> a, a=-1
		 *  2: cur 2,2  -> a (tie), a=-2
		 *  3: cur 1,3  -> b, b=-1
		 *  4: cur 4,0  -> a, a=0      (back to 0,0)
		 * so a,a,b,a repeating.
		 */
		static const u32 w[] = { 3, 1 };
		static const int e[] = { 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0 };

		fx_init(&f, 2, w);
		check_seq("wrr: weights 3,1 -> a,a,b,a x3", EXLB_SCHED_WRR, &f, e, 12);
	}
	{
		/*
		 * Weights 5,1,1 (the well-known smooth-WRR example), total 7:
		 *  1: 5,1,1   -> a: -2,1,1
		 *  2: 3,2,2   -> a: -4,2,2
		 *  3: 1,3,3   -> b: 1,-4,3
		 *  4: 6,-3,4  -> a: -1,-3,4
		 *  5: 4,-2,5  -> c: 4,-2,-2
		 *  6: 9,-1,-1 -> a: 2,-1,-1
		 *  7: 7,0,0   -> a: 0,0,0
		 */
		static const u32 w[] = { 5, 1, 1 };
		static const int e[] = { 0, 0, 1, 0, 2, 0, 0,
					 0, 0, 1, 0, 2, 0, 0 };

		fx_init(&f, 3, w);
		check_seq("wrr: weights 5,1,1 -> a,a,b,a,c,a,a x2", EXLB_SCHED_WRR,
			  &f, e, 14);
	}
	{
		/* Equal weights behave like rr. */
		static const u32 w[] = { 1000, 1000, 1000 };
		static const int e[] = { 0, 1, 2, 0, 1, 2 };

		fx_init(&f, 3, w);
		check_seq("wrr: equal weights 1000 -> 0,1,2,0,1,2", EXLB_SCHED_WRR,
			  &f, e, 6);
	}
	{
		/*
		 * Weights 3,1,2 with server 1 down: only 0 and 2 (3,2), total 5.
		 *  1: 3,2   -> a: -2,2
		 *  2: 1,4   -> c: 1,-1
		 *  3: 4,1   -> a: -1,1
		 *  4: 2,3   -> c: 2,-2
		 *  5: 5,0   -> a: 0,0
		 * Server 1 is never picked and its running weight stays 0.
		 */
		static const u32 w[] = { 3, 1, 2 };
		static const int e[] = { 0, 2, 0, 2, 0, 0, 2, 0, 2, 0 };

		fx_init(&f, 3, w);
		f.t[1].usable = false;
		check_seq("wrr: 3,(1 down),2 -> a,c,a,c,a x2", EXLB_SCHED_WRR,
			  &f, e, 10);
		report(f.t[1].wrr_current == 0,
		       "wrr: an ineligible server's running weight is untouched");
	}
	{
		/* Weight 0 and at-limit servers are skipped too. */
		static const u32 w[] = { 0, 2, 7 };
		static const int e[] = { 1, 1, 1, 1 };

		fx_init(&f, 3, w);
		f.t[2].limit = 3;
		f.t[2].active = 3;
		check_seq("wrr: weight 0 and at-limit skipped -> only server 1",
			  EXLB_SCHED_WRR, &f, e, 4);
	}
	{
		static const int e[] = { -1, -1 };

		fx_init(&f, 2, NULL);
		f.t[0].usable = false;
		f.t[1].weight = 0;
		check_seq("wrr: all ineligible -> -1", EXLB_SCHED_WRR, &f, e, 2);
	}
	{
		/*
		 * Exact counts over one full cycle of sum(weights) picks, for
		 * weights 4,3,2,1 (sum 10) and the maximum weights 65535,1
		 * (sum 65536) — the latter also exercises the s64 arithmetic.
		 */
		static const u32 w1[] = { 4, 3, 2, 1 };
		unsigned int c1[4] = { 0 }, i, bad = 0;
		unsigned int c2[2] = { 0 };
		unsigned int run, maxrun = 0, light_at[2] = { 0, 0 };
		int prev = -1;

		fx_init(&f, 4, w1);
		for (i = 0; i < 10; i++) {
			int k = exlb_sched_pick(EXLB_SCHED_WRR, &f.st, f.p, f.n);

			if (k < 0 || k > 3)
				bad++;
			else
				c1[k]++;
		}
		report(!bad && c1[0] == 4 && c1[1] == 3 && c1[2] == 2 && c1[3] == 1,
		       "wrr: weights 4,3,2,1 -> exactly 4,3,2,1 picks per 10 (got %u,%u,%u,%u)",
		       c1[0], c1[1], c1[2], c1[3]);
		report(f.t[0].wrr_current == 0 && f.t[1].wrr_current == 0 &&
		       f.t[2].wrr_current == 0 && f.t[3].wrr_current == 0,
		       "wrr: running weights back to 0 after a full cycle");

		{
			static const u32 w2[] = { EXLB_MAX_WEIGHT, 1 };

			fx_init(&f, 2, w2);
		}
		bad = 0;
		run = 0;
		for (i = 0; i < 65536 * 2; i++) {
			int k = exlb_sched_pick(EXLB_SCHED_WRR, &f.st, f.p, f.n);

			if (k < 0 || k > 1) {
				bad++;
				continue;
			}
			if (k == 1 && c2[1] < 2)
				light_at[c2[1]] = i + 1;
			c2[k]++;
			run = (k == prev) ? run + 1 : 1;
			if (run > maxrun)
				maxrun = run;
			prev = k;
		}
		/*
		 * The weight-1 server is picked exactly once per 65536 picks.
		 * Before pick k+1 of a cycle (k heavy picks so far) the running
		 * weights are 65535-k and k+1: the light one wins strictly at
		 * k = 32768 (32769 > 32767; at k = 32767 it ties and loses),
		 * i.e. at picks 32769 and 65536+32769, so the longest run of
		 * the heavy server is 65535 (between them) and never 65536.
		 */
		report(!bad && c2[0] == 2 * 65535 && c2[1] == 2,
		       "wrr: weights 65535,1 -> exactly 131070:2 over 131072 picks (got %u:%u)",
		       c2[0], c2[1]);
		report(light_at[0] == 32769 && light_at[1] == 65536 + 32769,
		       "wrr: weights 65535,1 -> the light one at picks 32769 and 98305 (got %u, %u)",
		       light_at[0], light_at[1]);
		report(maxrun == 65535, "wrr: weights 65535,1 -> longest heavy run 65535 (got %u)",
		       maxrun);
	}
	{
		/* wrr ignores st->next; st is not required to change. */
		static const u32 w[] = { 2, 1 };
		/* 2,1 total 3: 2,1->a(-1,1); 1,2->b(1,-1); 3,0->a(0,0). */
		static const int e[] = { 0, 1, 0, 0, 1, 0 };

		fx_init(&f, 2, w);
		check_seq("wrr: weights 2,1 -> a,b,a x2", EXLB_SCHED_WRR, &f, e, 6);
	}
}

static void set_conns(struct exlb_sched_target *t, u32 active, u32 inactive)
{
	t->active = active;
	t->inactive = inactive;
}

static void test_lc(void)
{
	struct fixture f;
	int k;

	/* Overheads: 0: 2*256=512, 1: 1*256+10=266, 2: 0*256+300=300 -> 1. */
	fx_init(&f, 3, NULL);
	set_conns(&f.t[0], 2, 0);
	set_conns(&f.t[1], 1, 10);
	set_conns(&f.t[2], 0, 300);
	k = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
	report(k == 1, "lc: overhead 512,266,300 -> server 1 (got %d)", k);

	/* 0: 1*256+0=256 vs 1: 0*256+255=255 -> 1 (inactive weighs 1/256). */
	fx_init(&f, 2, NULL);
	set_conns(&f.t[0], 1, 0);
	set_conns(&f.t[1], 0, 255);
	k = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
	report(k == 1, "lc: 256 vs 255 -> the 255 one (got %d)", k);

	/* 0: 0*256+257=257 vs 1: 1*256=256 -> 1. */
	set_conns(&f.t[0], 0, 257);
	set_conns(&f.t[1], 1, 0);
	f.st.next = 0;
	k = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
	report(k == 1, "lc: 257 vs 256 -> the 256 one (got %d)", k);

	/* lc ignores weights (other than 0): 0 has weight 100 but more conns. */
	{
		static const u32 w[] = { 100, 1 };

		fx_init(&f, 2, w);
		set_conns(&f.t[0], 2, 0);
		set_conns(&f.t[1], 1, 0);
		k = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
		report(k == 1, "lc: ignores weights (got %d)", k);
	}

	/* Ties rotate: all equal, no connection changes -> 0,1,2,0,1,2. */
	{
		static const int e[] = { 0, 1, 2, 0, 1, 2 };

		fx_init(&f, 3, NULL);
		check_seq("lc: ties rotate 0,1,2,0,1,2", EXLB_SCHED_LC, &f, e, 6);
	}
	/* Ties among the best only: 1 is loaded; 0 and 2 alternate. */
	{
		static const int e[] = { 0, 2, 0, 2 };

		fx_init(&f, 3, NULL);
		set_conns(&f.t[1], 1, 0);
		check_seq("lc: ties among the least loaded rotate 0,2,0,2",
			  EXLB_SCHED_LC, &f, e, 4);
	}
	/* Simulate connections opening: counts equalise as in IPVS. */
	{
		int got[6], i;

		fx_init(&f, 3, NULL);
		set_conns(&f.t[0], 2, 0);
		for (i = 0; i < 6; i++) {
			got[i] = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
			if (got[i] >= 0)
				f.t[got[i]].active++;
		}
		/*
		 * start 2,0,0; next=0
		 * 1: scan 0,1,2: best 1 (0) -> 2,1,0; next=2
		 * 2: scan 2,0,1: best 2 (0) -> 2,1,1; next=0
		 * 3: scan 0,1,2: 2,1,1 -> 1 (first of the 1s) -> 2,2,1; next=2
		 * 4: scan 2,0,1: 2 (1) -> 2,2,2; next=0
		 * 5: scan 0,1,2: all 2 -> 0 -> 3,2,2; next=1
		 * 6: scan 1,2,0: 1 -> 3,3,2; next=2
		 */
		report(got[0] == 1 && got[1] == 2 && got[2] == 1 && got[3] == 2 &&
		       got[4] == 0 && got[5] == 1,
		       "lc: opening connections -> 1,2,1,2,0,1 (got %d,%d,%d,%d,%d,%d)",
		       got[0], got[1], got[2], got[3], got[4], got[5]);
	}
	/* The least loaded but ineligible server is skipped. */
	fx_init(&f, 3, NULL);
	set_conns(&f.t[0], 5, 0);
	set_conns(&f.t[1], 0, 0);
	set_conns(&f.t[2], 3, 0);
	f.t[1].usable = false;
	k = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
	report(k == 2, "lc: least loaded is down -> next least (got %d)", k);
	f.t[1].usable = true;
	f.t[1].weight = 0;
	f.st.next = 0;
	k = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
	report(k == 2, "lc: least loaded has weight 0 -> next least (got %d)", k);
	f.t[1].weight = 1;
	f.t[1].limit = 1;
	set_conns(&f.t[1], 0, 1);	/* overhead 1, but at its limit */
	f.st.next = 0;
	k = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
	report(k == 2, "lc: least loaded at its limit -> next least (got %d)", k);
	f.t[1].limit = 2;		/* now one under its limit */
	f.st.next = 0;
	k = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
	report(k == 1, "lc: least loaded under its limit -> picked (got %d)", k);

	fx_init(&f, 2, NULL);
	f.t[0].usable = false;
	f.t[1].usable = false;
	k = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
	report(k == -1, "lc: all ineligible -> -1 (got %d)", k);

	/* Large counts: active 2^24 overflows a u32 overhead if not widened. */
	fx_init(&f, 2, NULL);
	set_conns(&f.t[0], 1u << 24, 0);	/* overhead 2^32: 0 in u32 */
	set_conns(&f.t[1], 1, 0);		/* overhead 256 */
	k = exlb_sched_pick(EXLB_SCHED_LC, &f.st, f.p, f.n);
	report(k == 1, "lc: active 2^24 (overhead 2^32) vs 1 -> 1, no u32 wrap (got %d)", k);
}

static void test_wlc(void)
{
	struct fixture f;
	int k;

	/*
	 * 2 conns on weight 2 (512/2 = 256) vs 1 conn on weight 1
	 * (256/1 = 256): a tie, so it rotates from st->next.
	 */
	{
		static const u32 w[] = { 2, 1 };

		fx_init(&f, 2, w);
		set_conns(&f.t[0], 2, 0);
		set_conns(&f.t[1], 1, 0);
		f.st.next = 0;
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 0, "wlc: 2/w2 vs 1/w1 tie, scan from 0 -> 0 (got %d)", k);
		report(f.st.next == 1, "wlc: next moves past the pick (next %u)", f.st.next);
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 1, "wlc: same tie, scan from 1 -> 1 (got %d)", k);
	}
	/* 3 conns on weight 4 (768/4 = 192) vs 1 on weight 1 (256): 0. */
	{
		static const u32 w[] = { 4, 1 };

		fx_init(&f, 2, w);
		set_conns(&f.t[0], 3, 0);
		set_conns(&f.t[1], 1, 0);
		f.st.next = 1;	/* the scan starts at the loser */
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 0, "wlc: 3/w4 vs 1/w1 -> the weight-4 one (got %d)", k);
		/* 5 on weight 4 (1280/4 = 320) vs 1 on weight 1 (256): 1. */
		set_conns(&f.t[0], 5, 0);
		f.st.next = 0;
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 1, "wlc: 5/w4 vs 1/w1 -> the weight-1 one (got %d)", k);
		/* 4 on weight 4 (256) vs 1 on weight 1 (256): tie -> scan start. */
		set_conns(&f.t[0], 4, 0);
		f.st.next = 1;
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 1, "wlc: 4/w4 vs 1/w1 tie, scan from 1 -> 1 (got %d)", k);
	}
	/*
	 * Not an integer division: 1 conn on weight 3 (256/3 = 85.3) vs
	 * 0 active + 86 inactive on weight 1 (86): 0 wins (256*1 < 86*3=258).
	 * With 85 inactive (85 < 85.3): 1 wins (256*1 > 85*3=255).
	 */
	{
		static const u32 w[] = { 3, 1 };

		fx_init(&f, 2, w);
		set_conns(&f.t[0], 1, 0);
		set_conns(&f.t[1], 0, 86);
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 0, "wlc: 256/3 vs 86/1 -> 0, exact (got %d)", k);
		set_conns(&f.t[1], 0, 85);
		f.st.next = 0;
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 1, "wlc: 256/3 vs 85/1 -> 1, exact (got %d)", k);
	}
	/* Idle servers tie at 0 whatever their weight: rotation. */
	{
		static const u32 w[] = { 1, 10, 100 };
		static const int e[] = { 0, 1, 2, 0 };

		fx_init(&f, 3, w);
		check_seq("wlc: idle servers tie at 0 -> rotate", EXLB_SCHED_WLC,
			  &f, e, 4);
	}
	/*
	 * Large weights and counts: weight 65535 with active 100000
	 * (overhead 25,600,000) vs weight 1 with active 391 (100,096):
	 *   25,600,000 * 1 = 25,600,000  vs  100,096 * 65535 = 6,559,791,360
	 * -> 0 wins. The second product does not fit in 32 bits.
	 * Then weight 1 with active 1 (256) vs the same weight-65535 one:
	 *   25,600,000 * 1 vs 256 * 65535 = 16,776,960 -> 1 (the w1 one) wins.
	 */
	{
		static const u32 w[] = { EXLB_MAX_WEIGHT, 1 };

		fx_init(&f, 2, w);
		set_conns(&f.t[0], EXLB_MAX_LIMIT, 0);
		set_conns(&f.t[1], 391, 0);
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 0, "wlc: w65535 a100000 vs w1 a391 -> 0 (got %d)", k);
		set_conns(&f.t[1], 1, 0);
		f.st.next = 0;
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 1, "wlc: w65535 a100000 vs w1 a1 -> 1 (got %d)", k);
		/*
		 * An exact tie with the largest weight: w65535 with active
		 * 65535 (overhead 65535*256) vs w1 with active 1 (256):
		 * 65535*256*1 == 256*65535, so the scan start wins.
		 */
		set_conns(&f.t[0], 65535, 0);
		set_conns(&f.t[1], 1, 0);
		f.st.next = 1;
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 1, "wlc: w65535 a65535 vs w1 a1 tie, scan from 1 -> 1 (got %d)", k);
		f.st.next = 0;
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 0, "wlc: same tie, scan from 0 -> 0 (got %d)", k);
	}
	/*
	 * Beyond any realistic count: active = inactive = 0xffffffff,
	 * overhead = 0xffffffff*257 = 1,103,806,595,135 (< 2^41), times
	 * 65535 < 2^57: still fits in u64. Compare with w1, active 0xffffff
	 * (overhead 0xffffff00 = 4,294,967,040):
	 *   0: 1,103,806,595,135 * 1 vs 1: 4,294,967,040 * 65535
	 *      = 281,470,681,743,360 -> 0 wins (1.1e12 < 2.8e14).
	 */
	{
		static const u32 w[] = { EXLB_MAX_WEIGHT, 1 };

		fx_init(&f, 2, w);
		set_conns(&f.t[0], 0xffffffffu, 0xffffffffu);
		set_conns(&f.t[1], 0xffffffu, 0);
		f.st.next = 1;
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 0, "wlc: u32-max counts on w65535 vs 2^24-1 on w1 -> 0 (got %d)", k);
	}
	/* wlc skips ineligible servers like the others. */
	{
		static const u32 w[] = { 1, 0, 1 };

		fx_init(&f, 3, w);
		set_conns(&f.t[0], 3, 0);
		set_conns(&f.t[2], 2, 0);
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == 2, "wlc: idle weight-0 server skipped -> 2 (got %d)", k);
		f.t[0].weight = 0;
		f.t[2].weight = 0;
		k = exlb_sched_pick(EXLB_SCHED_WLC, &f.st, f.p, f.n);
		report(k == -1, "wlc: all weight 0 -> -1 (got %d)", k);
	}
}

static void test_persist(void)
{
	struct exlb_persist_rec rec;
	struct exlb_sched_target ok_t, down_t, full_t, w0_t;

	memset(&ok_t, 0, sizeof(ok_t));
	ok_t.usable = true;
	ok_t.weight = 1;
	down_t = ok_t;
	down_t.usable = false;
	w0_t = ok_t;
	w0_t.weight = 0;
	full_t = ok_t;
	full_t.limit = 2;
	full_t.active = 1;
	full_t.inactive = 1;

	/* conns > 0: live even long after expires. */
	rec.expires = 100;
	rec.conns = 1;
	report(exlb_persist_live(&rec, 50), "persist: conns 1, before expiry -> live");
	report(exlb_persist_live(&rec, 100), "persist: conns 1, at expiry -> live");
	report(exlb_persist_live(&rec, 1000000), "persist: conns 1, long after expiry -> live");
	rec.expires = 0;
	report(exlb_persist_live(&rec, 5), "persist: conns 1, expires 0 -> live");

	/* conns == 0: live strictly before expires. */
	rec.conns = 0;
	rec.expires = 100;
	report(exlb_persist_live(&rec, 99), "persist: conns 0, now 99 < expires 100 -> live");
	report(!exlb_persist_live(&rec, 100), "persist: conns 0, now == expires -> expired");
	report(!exlb_persist_live(&rec, 101), "persist: conns 0, now > expires -> expired");
	rec.expires = ~0ULL;
	report(exlb_persist_live(&rec, ~0ULL - 1), "persist: conns 0, expires u64 max, now max-1 -> live");

	/* follow: live record and an eligible target. */
	rec.conns = 0;
	rec.expires = 100;
	report(exlb_persist_follow(&rec, &ok_t, 10), "persist follow: live + eligible -> follow");
	report(!exlb_persist_follow(&rec, &ok_t, 100), "persist follow: expired + eligible -> no");
	report(!exlb_persist_follow(&rec, &down_t, 10), "persist follow: live + down -> no");
	report(!exlb_persist_follow(&rec, &w0_t, 10), "persist follow: live + weight 0 -> no");
	report(!exlb_persist_follow(&rec, &full_t, 10), "persist follow: live + at limit -> no");
	full_t.limit = 3;
	report(exlb_persist_follow(&rec, &full_t, 10), "persist follow: live + under limit -> follow");
	rec.conns = 2;
	report(exlb_persist_follow(&rec, &ok_t, 500), "persist follow: conns 2 after expiry + eligible -> follow");
	report(!exlb_persist_follow(&rec, &down_t, 500), "persist follow: conns 2 + down -> no");
}

/* The record's life from its connections: hold on open, unhold on close. */
static void test_persist_hold(void)
{
	struct exlb_persist_rec rec = { 0 };

	exlb_persist_hold(&rec);
	exlb_persist_hold(&rec);
	report(rec.conns == 2 && exlb_persist_live(&rec, 1000000),
	       "persist hold: two connections -> conns %u, live long after any expiry",
	       rec.conns);
	exlb_persist_unhold(&rec, 500, 100);
	report(rec.conns == 1 && exlb_persist_live(&rec, 1000000),
	       "persist unhold: one of two closed at 500 -> conns %u, still live at 1000000",
	       rec.conns);
	exlb_persist_unhold(&rec, 700, 100);
	report(rec.conns == 0 && rec.expires == 800,
	       "persist unhold: the last closed at 700, timeout 100 -> expires %llu (want 800)",
	       (unsigned long long)rec.expires);
	report(exlb_persist_live(&rec, 799) && !exlb_persist_live(&rec, 800),
	       "persist unhold: live at 799, expired at 800");
	exlb_persist_unhold(&rec, 900, 100);
	report(rec.conns == 0 && rec.expires == 800,
	       "persist unhold: one close too many changes nothing (conns %u, expires %llu)",
	       rec.conns, (unsigned long long)rec.expires);
	exlb_persist_hold(&rec);
	report(exlb_persist_live(&rec, 5000),
	       "persist hold: a record followed again lives while held");
}

static bool key_is(const u8 *key, const u8 *want, const char *name)
{
	unsigned int i;

	if (!memcmp(key, want, 16))
		return true;
	printf("# %s: key", name);
	for (i = 0; i < 16; i++)
		printf(" %02x", key[i]);
	printf(", want");
	for (i = 0; i < 16; i++)
		printf(" %02x", want[i]);
	putchar('\n');
	return false;
}

#define KEY(name, addr, len, prefix, ...) do {				\
	static const u8 want_[16] = { __VA_ARGS__ };			\
	u8 key_[16];							\
	memset(key_, 0xa5, sizeof(key_));	/* catch missing padding */ \
	exlb_persist_key(addr, len, prefix, key_);			\
	report(key_is(key_, want_, name), "%s", name);			\
} while (0)

static void test_persist_key(void)
{
	/* 192.168.171.205 = c0 a8 ab cd */
	static const u8 v4[4] = { 192, 168, 171, 205 };
	/* 2001:db8:1234:5678:9abc:def0:1357:9bdf */
	static const u8 v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
				   0x9a, 0xbc, 0xde, 0xf0, 0x13, 0x57, 0x9b, 0xdf };
	static const u8 v6ff[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const u8 v4ff[4] = { 0xff, 0xff, 0xff, 0xff };

	KEY("key v4 /24 -> 192.168.171.0, zero padded", v4, 4, 24,
	    192, 168, 171, 0);
	KEY("key v4 /0 -> the whole address", v4, 4, 0,
	    192, 168, 171, 205);
	KEY("key v4 /32 -> the whole address", v4, 4, 32,
	    192, 168, 171, 205);
	KEY("key v4 /33 (over the width) -> the whole address", v4, 4, 33,
	    192, 168, 171, 205);
	/* /20: third byte 0xab = 1010 1011 -> keep 1010 -> 0xa0 = 160. */
	KEY("key v4 /20 -> 192.168.160.0", v4, 4, 20,
	    192, 168, 160, 0);
	/* /31: last byte 0xcd = 1100 1101 -> 0xcc. */
	KEY("key v4 /31 -> 192.168.171.204", v4, 4, 31,
	    192, 168, 171, 204);
	/* /1: first byte 0xc0 -> 0x80. */
	KEY("key v4 /1 -> 128.0.0.0", v4, 4, 1,
	    0x80, 0, 0, 0);
	KEY("key v4 /8 -> 192.0.0.0", v4, 4, 8,
	    192, 0, 0, 0);
	/* /9 of 255.255.255.255 -> ff 80 00 00 */
	KEY("key v4 255.255.255.255/9 -> 255.128.0.0", v4ff, 4, 9,
	    0xff, 0x80, 0, 0);
	KEY("key v4 255.255.255.255/16 -> 255.255.0.0", v4ff, 4, 16,
	    0xff, 0xff, 0, 0);

	KEY("key v6 /64 -> 2001:db8:1234:5678::", v6, 16, 64,
	    0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
	    0, 0, 0, 0, 0, 0, 0, 0);
	/* /127: last byte 0xdf = 1101 1111 -> 0xde. */
	KEY("key v6 /127 -> ...:9bde", v6, 16, 127,
	    0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
	    0x9a, 0xbc, 0xde, 0xf0, 0x13, 0x57, 0x9b, 0xde);
	KEY("key v6 /128 -> the whole address", v6, 16, 128,
	    0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
	    0x9a, 0xbc, 0xde, 0xf0, 0x13, 0x57, 0x9b, 0xdf);
	KEY("key v6 /0 -> the whole address", v6, 16, 0,
	    0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
	    0x9a, 0xbc, 0xde, 0xf0, 0x13, 0x57, 0x9b, 0xdf);
	/* /48 */
	KEY("key v6 /48 -> 2001:db8:1234::", v6, 16, 48,
	    0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0);
	/* /56 */
	KEY("key v6 /56 -> 2001:db8:1234:5600::", v6, 16, 56,
	    0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0,
	    0, 0, 0, 0, 0, 0, 0, 0);
	/* /61 of all-ones: byte 7 keeps 5 bits -> 0xf8 */
	KEY("key v6 ffff.../61 -> ffff:ffff:ffff:fff8::", v6ff, 16, 61,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf8,
	    0, 0, 0, 0, 0, 0, 0, 0);
	/* /1 of all-ones -> 8000:: */
	KEY("key v6 ffff.../1 -> 8000::", v6ff, 16, 1,
	    0x80, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0);

	/* The input is not modified. */
	{
		u8 a[4] = { 10, 1, 2, 3 }, key[16];

		exlb_persist_key(a, 4, 8, key);
		report(a[0] == 10 && a[1] == 1 && a[2] == 2 && a[3] == 3,
		       "key: the address itself is not modified");
	}
	/* Two clients in the same /24 share a key; a third outside does not. */
	{
		static const u8 a[4] = { 198, 18, 0, 2 }, b[4] = { 198, 18, 0, 250 };
		static const u8 c[4] = { 198, 18, 1, 2 };
		u8 ka[16], kb[16], kc[16];

		exlb_persist_key(a, 4, 24, ka);
		exlb_persist_key(b, 4, 24, kb);
		exlb_persist_key(c, 4, 24, kc);
		report(!memcmp(ka, kb, 16) && memcmp(ka, kc, 16),
		       "key: same /24 -> same key, other /24 -> other key");
	}
}

int main(void)
{
	test_eligible();
	test_rr();
	test_n_zero();
	test_wrr();
	test_lc();
	test_wlc();
	test_persist();
	test_persist_hold();
	test_persist_key();

	printf("1..%d\n", test_no);
	if (failures)
		printf("# %d of %d failed\n", failures, test_no);
	return failures ? 1 : 0;
}
