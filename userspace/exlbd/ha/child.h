/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A supervised child process on a libev loop: the one restart-with-backoff
 * of exlbd (keepalived and conntrackd today, ha/; the worker supervisor of
 * docs/privsep.md later). It watches the child the user spawned, writes the
 * exit note ("NAME killed by signal N" / "NAME exited with status N"),
 * restarts it while it is wanted after a backoff of 1 s doubling to 30 s
 * (back to 1 s once a child ran 60 s) and stops it with a bounded wait.
 * How to start it (argv, files, spawn) and what an exit means for status
 * are the user's, through two callbacks.
 */
#ifndef EXLB_HA_CHILD_H
#define EXLB_HA_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <ev.h>

/* One kind of child, the user's (static const) */
struct exlb_child_ops {
	const char *prefix;	/* of the log lines: "HA: " */
	const char *name;	/* "keepalived": log lines and the exit note */
	const char *exit_hint;	/* after "exited with status N"; may be NULL */
	int stop_wait_ms;	/* SIGTERM to SIGKILL in exlb_child_stop */
	/*
	 * start: starts the child (calls exlb_child_started with its pid) or
	 * says why not; on a failure worth retrying it calls exlb_child_retry.
	 * exited: the child exited (already reaped, pid 0): @note says how and
	 * it is restarted after the backoff, or @note is NULL: it was not
	 * wanted any more.
	 */
	void (*start)(void *ctx);
	void (*exited)(void *ctx, const char *note);
};

struct exlb_child {
	const struct exlb_child_ops *ops;
	void *ctx;		/* the callbacks' */
	struct ev_loop *loop;
	bool wanted;		/* restart it when it exits */
	pid_t pid;		/* 0: none */
	ev_tstamp started;	/* when it was started (ev_now) */
	unsigned int backoff;	/* seconds before the next restart */
	ev_child child;
	ev_timer restart;
};

/* Not wanted, no child, backoff 1 s; @ctx goes to @ops' callbacks. */
void exlb_child_init(struct exlb_child *c, struct ev_loop *loop,
		     const struct exlb_child_ops *ops, void *ctx);
/* @pid was just spawned (start callback): watched from now on. */
void exlb_child_started(struct exlb_child *c, pid_t pid);
/* Start could not start it: start again after the backoff (which doubles). */
void exlb_child_retry(struct exlb_child *c);
/* No child and no restart pending: start it now (start callback). */
void exlb_child_ensure(struct exlb_child *c);
/*
 * How a child ended, for status and logs: "killed by signal 31 (SIGSYS: a
 * system call outside its filter)" or "exited with status 1".
 */
void exlb_child_exit_text(int status, char *buf, size_t n);
/* Cancels a pending restart; SIGTERM, bounded wait, SIGKILL; reaps; logs. */
void exlb_child_stop(struct exlb_child *c);

#endif
