/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The control socket of exlbd and the commands it serves.
 *
 * Protocol: newline-delimited JSON over a unix stream socket. Each request
 * is one line, {"cmd": "vs.add", "args": {...}}; each answer one line,
 * {"ok": true, "result": ...} or {"ok": false, "error": "one line"}.
 * Answers come in request order. docs/exlbctl.md lists the commands.
 * A client that sends or takes no byte for EXLB_CTL_IDLE_S is closed; when
 * EXLB_CTL_MAX_CLIENTS are connected, the one idle longest is closed to
 * admit a new one, so idle clients never lock an administrator out.
 *
 * A changing command runs on a copy of the configuration that replaces the
 * current one only once it is checked and on disk (exlb_store_commit()).
 */
#ifndef EXLB_CTL_H
#define EXLB_CTL_H

#include <jansson.h>

#include "config/config.h"

#define EXLB_CTL_DEFAULT_SOCKET	"/run/exlb/exlbd.sock"
#define EXLB_CTL_MAX_LINE	(16 << 20)	/* a restore of a large config */
#define EXLB_CTL_MAX_CLIENTS	64	/* when full, the one idle longest goes */
#define EXLB_CTL_IDLE_S		30	/* no byte either way: closed */
#define EXLB_CTL_REST_S		0.1	/* the listener rests after accept() failed */
#define EXLB_CTL_LOG_MS		10000	/* at most one line per kind per 10 s */

struct ev_loop;
struct exlb_ctl;

/*
 * Listens on @path: socket mode 0660 and group exlb when that group exists
 * (0600 otherwise); creates the directory if needed; refuses to start if
 * another daemon answers there, removes a stale socket otherwise.
 */
struct exlb_ctl *exlb_ctl_new(struct ev_loop *loop, const char *path,
			      struct exlb_store *store,
			      struct exlb_runtime *runtime,
			      struct exlb_err *err);
/*
 * Closes every client and the socket, and removes the socket file (unless
 * it came from exlb_ctl_adopt() and exlb_ctl_own_path() was not called, or
 * exlb_ctl_stop() gave it away).
 */
void exlb_ctl_free(struct exlb_ctl *ctl);

/*
 * The seamless upgrade (docs/upgrade.md). A new daemon serves the
 * listening socket @fd it received from the old one (the socket file at
 * @path stays as it is); the file becomes its own, to remove when it ends,
 * with exlb_ctl_own_path() once it serves.
 */
struct exlb_ctl *exlb_ctl_adopt(struct ev_loop *loop, const char *path, int fd,
				struct exlb_store *store,
				struct exlb_runtime *runtime,
				struct exlb_err *err);
void exlb_ctl_own_path(struct exlb_ctl *ctl);
/* The listening socket, to hand over. */
int exlb_ctl_listen_fd(const struct exlb_ctl *ctl);
/*
 * Who serves the "takeover" command: after its answer ({"pid": N}) the
 * connection @fd is @fn's to speak proc/handover.h on and to close. The
 * peer is root or exlbd's own user (SO_PEERCRED); others are refused.
 */
typedef void (*exlb_ctl_takeover_fn)(void *ctx, int fd);
void exlb_ctl_set_takeover(struct exlb_ctl *ctl, exlb_ctl_takeover_fn fn,
			   void *ctx);
/* Changing commands (and takeovers) answer @why from now on; NULL: again served. */
void exlb_ctl_freeze(struct exlb_ctl *ctl, const char *why);
/*
 * The old daemon after a takeover: closes every client and its copy of the
 * listening socket (never shutdown(): the new daemon serves it) and leaves
 * the socket file alone.
 */
void exlb_ctl_stop(struct exlb_ctl *ctl);

/* Runs one request; returns the answer object (for tests and the server). */
json_t *exlb_ctl_execute(struct exlb_store *store,
			 struct exlb_runtime *runtime, const json_t *request);

#endif
