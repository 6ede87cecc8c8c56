/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What exlbd's skeleton (main.c) and its seamless upgrade (upgrade.c,
 * docs/upgrade.md) share: the daemon's state, and the upgrade's entry
 * points main.c calls.
 */
#ifndef EXLBD_H
#define EXLBD_H

#include <stdbool.h>
#include <sys/types.h>

#include <ev.h>

#include "config/config.h"
#include "proc/handover.h"

/*
 * --hard-stop-after's default: how long the old daemon's connections may
 * run after the new one serves.
 */
#define EXLB_HARD_STOP_S	600

struct exlbd {
	struct ev_loop *loop;
	struct exlb_store store;
	struct exlb_runtime runtime;
	struct exlb_ctl *ctl;
	struct exlb_kernel *kernel;
	struct exlb_health *health;
	struct exlb_proxy *proxy;
	struct exlb_admin *admin;	/* HTTPS /metrics; off until AdminPort */
	struct exlb_ha *ha;		/* keepalived, while hamode is not 0 (ha/) */
	struct exlb_ha_sync *sync;	/* configuration sync of the pair (ha/sync.c) */
	struct exlb_ha_persist *persist_sync;	/* its persistence records */
	ev_timer kernel_tick;
	unsigned int ticks;
	ev_signal sigterm, sigint;
	ev_signal sighup, sigusr1;	/* reopen the access log */
	int lock_fd;
	const char *state_dir;
	unsigned int hard_stop_s;	/* --hard-stop-after */
	/* the old daemon of an upgrade (docs/upgrade.md) */
	int chan;			/* to the new daemon; -1: none */
	pid_t new_pid;
	ev_io chan_io;			/* its "serving", or its end */
	ev_timer chan_timer;		/* bound on its start */
	ev_timer relock;		/* taking the state lock back */
	bool draining;
	ev_tstamp drain_end;		/* the hard stop */
	ev_timer drain_tick;
};

/*
 * The old daemon: once d->ctl exists, _init lets a takeover be asked on
 * the control socket; _stop at exit (with d->loop).
 */
/* Takes the state directory's lock if it is free: 0, or -1 with errno. */
int exlbd_state_lock(struct exlbd *d);
void exlbd_upgrade_init(struct exlbd *d);
void exlbd_upgrade_stop(struct exlbd *d);

/*
 * The new daemon, in this order: _fork returns 0 or 1 to the caller of
 * --takeover and -1 in the child, which reports on *@report; _ask gets the
 * old daemon's sockets and state into @h and returns the channel (-1:
 * failed, logged); _lock takes the state directory's lock (0 or -1);
 * _serve, once everything runs, tells systemd, the old daemon and the
 * caller (0, or -1: the old daemon carries on).
 */
int exlbd_takeover_fork(int *report);
int exlbd_takeover_ask(const char *path, struct exlb_handover *h);
int exlbd_takeover_lock(struct exlbd *d);
int exlbd_takeover_serve(struct exlbd *d, int chan, struct exlb_handover *h,
			 int report);

#endif
