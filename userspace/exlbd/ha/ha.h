/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The HA pair (docs/ha.md): VIP ownership by VRRP, with Debian's
 * keepalived as exlbd's child. exlbd writes keepalived's configuration from
 * its own and runs, reloads and restarts it (keepalived.c), and follows the
 * VRRP state keepalived reports on a FIFO (state.c) into the runtime record
 * `exlbctl status` shows. L4 connection sync (conntrackd) and configuration
 * sync are later stages; they will hang off the same role changes
 * (exlb_ha_set_role()).
 */
#ifndef EXLB_HA_H
#define EXLB_HA_H

#include <stdbool.h>
#include <sys/types.h>

#include <ev.h>

#include "config/config.h"

struct exlb_ha {
	struct ev_loop *loop;
	struct exlb_runtime *rt;
	char conf_path[256], pid_path[256], vrrp_pid_path[256], fifo_path[256];
	char *conf_text;	/* what keepalived was last given; NULL: off */
	bool wanted;		/* hamode is not 0 */
	pid_t pid;		/* keepalived's parent process; 0: none */
	ev_tstamp started;	/* when it was started (ev_now) */
	unsigned int backoff;	/* seconds before the next restart */
	ev_child child;
	ev_timer restart;
	/* the notify FIFO (state.c) */
	int fifo_fd;
	ev_io fifo_io;
	char line[512];
	size_t line_len;
	/* told every role keepalived reports (configuration sync: ha/sync.c) */
	void (*on_role)(void *ctx, unsigned int role);
	void *on_role_ctx;
};

/*
 * @run_dir: exlbd's runtime directory (the control socket's), where
 * keepalived.conf, its pid files and the notify FIFO live; @rt: where the
 * role goes for status. NULL: out of memory or a path too long (logged).
 */
struct exlb_ha *exlb_ha_new(struct ev_loop *loop, const char *run_dir,
			    struct exlb_runtime *rt);
/* After every committed change: write, start, reload or stop keepalived. */
void exlb_ha_apply(struct exlb_ha *ha, const struct exlb_config *cfg);
/* Stops keepalived (it releases the VIPs, bounded wait) and frees; NULL is fine. */
void exlb_ha_free(struct exlb_ha *ha);

/*
 * keepalived's configuration for @cfg (hamode not 0), reporting to @fifo:
 * a malloc'ed string, or NULL (out of memory).
 */
char *exlb_keepalived_render(const struct exlb_config *cfg, const char *fifo);

/* ---- state.c ---- */

/* Records a role change (logged once); @note may be NULL. */
void exlb_ha_set_role(struct exlb_runtime *rt, unsigned int role,
		      const char *note);
/* "off", "starting", "active", "standby", "fault", "down" */
const char *exlb_ha_role_name(unsigned int role);
/* Creates (mkfifo) and opens the notify FIFO on the loop: 0 or -1 (logged). */
int exlb_ha_fifo_open(struct exlb_ha *ha);
void exlb_ha_fifo_close(struct exlb_ha *ha);

#endif
