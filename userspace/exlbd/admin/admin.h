/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The admin listener (docs/admin.md): HTTPS on AdminAddress:AdminPort,
 * off while AdminPort is 0, on exlbd's main loop. Requests are routed by
 * path (admin.c's route table: /metrics, Kemp's REST API /access/...) after authentication (auth.c: users, API keys, roles,
 * the failed-logon limit).
 */
#ifndef EXLB_ADMIN_H
#define EXLB_ADMIN_H

#include "config/config.h"

#define EXLB_ADMIN_MAX_CONNS	32	/* when full, new connections are closed */
#define EXLB_ADMIN_TIMEOUT_S	10	/* a whole exchange: handshake to response */
#define EXLB_ADMIN_MAX_HEAD	16384	/* request bytes before the end of its head */
#define EXLB_ADMIN_MAX_BODY	(256 << 10)	/* a request body (Kemp's addcert) */
#define EXLB_ADMIN_REST_S	0.1	/* the listener rests after accept() failed */

struct ev_loop;
struct exlb_admin;

/*
 * @inherited: the listening socket the exlbd we take over from handed over
 * (docs/upgrade.md), or -1; used if the configuration listens where it is
 * bound, closed otherwise.
 */
struct exlb_admin *exlb_admin_new(struct ev_loop *loop, struct exlb_store *store,
				  struct exlb_runtime *runtime,
				  const char *state_dir, int inherited);
/* Closes every connection and the listener. NULL is fine. */
void exlb_admin_free(struct exlb_admin *a);
/*
 * Follows the current configuration: binds, rebinds or closes the listener
 * when AdminAddress, AdminPort or AdminCert changed; a failure is logged
 * and the listener stays closed (the next change tries again).
 */
void exlb_admin_apply(struct exlb_admin *a);
/*
 * While @why is set (an upgrade hands over), requests that would change
 * the configuration are refused with it, as the control socket refuses
 * them (exlb_ctl_freeze()); NULL: accepted again.
 */
void exlb_admin_freeze(struct exlb_admin *a, const char *why);
/* The listening socket, for a takeover; -1 when off. */
int exlb_admin_listen_fd(const struct exlb_admin *a);

#endif
