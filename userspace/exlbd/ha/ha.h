/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The HA pair (docs/ha.md): VIP ownership by VRRP, with Debian's
 * keepalived as exlbd's child. exlbd writes keepalived's configuration from
 * its own and runs, reloads and restarts it (keepalived.c), and follows the
 * VRRP state keepalived reports on a FIFO (state.c) into the runtime record
 * `exlbctl status` shows. With tcpfailover 1 it runs conntrackd too
 * (conntrackd.c): L4 connection sync, its external cache committed on
 * takeover before the VIPs answer. Configuration sync is sync.c.
 */
#ifndef EXLB_HA_H
#define EXLB_HA_H

#include <stdbool.h>
#include <sys/types.h>

#include <ev.h>

#include "config/config.h"
#include "ha/child.h"

struct exlb_ctd;

struct exlb_ha {
	struct ev_loop *loop;
	struct exlb_runtime *rt;
	char conf_path[256], pid_path[256], vrrp_pid_path[256], fifo_path[256];
	char *conf_text;	/* what keepalived was last given; NULL: off */
	/* keepalived's parent process, wanted while hamode is not 0 */
	struct exlb_child keepalived;
	/* the notify FIFO (state.c) */
	int fifo_fd;
	ev_io fifo_io;
	char line[512];
	size_t line_len;
	/* told every role keepalived reports (configuration sync: ha/sync.c) */
	void (*on_role)(void *ctx, unsigned int role);
	void *on_role_ctx;
	/* conntrackd (conntrackd.c): told every role before it is recorded */
	struct exlb_ctd *ctd;
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

/*
 * The children's plumbing (keepalived.c), shared with conntrackd.c.
 * exlb_ha_write_file: temp file + rename, mode 0600: 0 or -1 (errno).
 * exlb_ha_spawn: fork and exec @path with @argv, the child in exlbd's
 * network namespace, SIGTERM when exlbd dies, no descriptor of exlbd's
 * beyond 0-2: its pid, or -1 (errno). Supervised by ha/child.c.
 * exlb_ha_run_path: "@dir/@name" into @buf: 0, or -1 when it does not fit.
 */
int exlb_ha_run_path(char *buf, size_t size, const char *dir, const char *name);
int exlb_ha_write_file(const char *path, const char *text);
pid_t exlb_ha_spawn(const char *path, char *const argv[]);

/* ---- conntrackd.c ---- */

/* NULL: out of memory or a path too long (logged). */
struct exlb_ctd *exlb_ctd_new(struct ev_loop *loop, const char *run_dir,
			      struct exlb_runtime *rt);
/* After every committed change: start, restart, stop conntrackd; the hold. */
void exlb_ctd_apply(struct exlb_ctd *c, const struct exlb_config *cfg);
/*
 * keepalived reported @role (EXLB_HA_ROLE_*), before it is recorded:
 * active: commit the external cache, then lift the hold (the VIPs answer),
 * then -f, -R, -B; anything else: the hold back in place; standby: -n, -t.
 */
void exlb_ctd_role(struct exlb_ctd *c, unsigned int role);
/* Stops conntrackd, lifts the hold, frees; NULL is fine. */
void exlb_ctd_free(struct exlb_ctd *c);
/* "off", "running", "down", "not installed" */
const char *exlb_ctd_state_name(unsigned int state);
/*
 * conntrackd.conf: FTFW over UDP from @self to @peer (family @family) on
 * @iface, files under @run_dir. malloc'ed, NULL: out of memory.
 */
char *exlb_conntrackd_render(const char *iface, int family, const char *self,
			     const char *peer, const char *run_dir);
/*
 * The takeover hold (nft): the VIPs of @cfg, non-SYN TCP to them dropped
 * before conntrack. malloc'ed, NULL: out of memory.
 */
char *exlb_ctd_hold_render(const struct exlb_config *cfg);

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
