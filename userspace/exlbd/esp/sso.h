/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * ESP logons for the event loops (sso.c): esp_auth_start() checks the
 * input, hands the directory conversation (ldap.c) to a small pool of
 * directory threads, and calls back on the caller's own libev loop when it
 * is done, so no loop ever waits for the directory. It keeps the SSO
 * domain's failed-logon limit: per logon name, max_failed_auths failures
 * (each within reset_fail_tout of the last) block it for unblock_tout,
 * without asking the directory.
 */
#ifndef EXLB_ESP_SSO_H
#define EXLB_ESP_SSO_H

#include <stddef.h>

#include <ev.h>

#include "config/config.h"
#include "ldap.h"

struct esp_auth;

/*
 * Called once on @loop's thread when the logon is decided (never from
 * inside esp_auth_start()). @detail is a line for the log, with the user's
 * name and never the password. The handle is gone after the call.
 */
typedef void (*esp_auth_cb)(void *ctx, enum esp_auth_result result,
			    const char *detail);

/* Each loop that starts logons, on its own thread, once; 0 or -1. */
int esp_auth_attach(struct ev_loop *loop);
/*
 * Before that loop goes (its connections gone, their logons cancelled):
 * stops its watcher; no callback runs after this. Logons still at the
 * directory are freed when they end.
 */
void esp_auth_detach(void);

/*
 * Starts a logon of @user (@user_len bytes) with @password (@pw_len
 * bytes) against domain @d (copied: later configuration changes do not
 * touch it). Refused at once (ESP_AUTH_REFUSED, still through @cb): an
 * empty, over-long (ESP_NAME_MAX, ESP_PASSWORD_MAX) or NUL/control
 * character name, an empty or over-long password or one with a NUL.
 * NULL only when out of memory or the loop was not attached.
 */
struct esp_auth *esp_auth_start(const struct exlb_sso_domain *d,
				const char *user, size_t user_len,
				const char *password, size_t pw_len,
				esp_auth_cb cb, void *ctx);

/*
 * The client went away: @cb will not be called. Call it on the loop's
 * thread, before the callback ran. A logon already at the directory runs
 * to its end (and still counts towards the failed-logon limit).
 */
void esp_auth_cancel(struct esp_auth *a);

/* Logons started and not yet called back or dropped (all loops). */
unsigned int esp_auth_in_flight(void);

/*
 * The L7 worker process (docs/privsep.md): logons go to the directory
 * process instead of directory threads here; that process keeps the
 * failed-logon limit. Once, before the first esp_auth_attach(); 0 or -1.
 */
int esp_auth_forward(void);

/*
 * The channel to the directory process (a unix socket, taken), a new one
 * whenever either process was restarted: logons waiting for an answer on
 * the previous one end as ESP_AUTH_UNAVAILABLE. After esp_auth_forward().
 */
void esp_auth_set_directory(int fd);

/* Forgets every failed-logon record (tests; a domain's limits changed). */
void esp_auth_reset_failures(void);

#endif
