/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * ESP's form logon sessions (InputAuthMode=2): the server-side table that
 * the session cookie names. A session is created by a successful form
 * logon, is bound to its SSO domain (one logon covers every ESP service of
 * that domain), ends after the domain's idle / max timeouts (public or
 * private computer, as chosen on the logon page) or at logoff, and keeps
 * the user's name and password in memory only (OutputAuthMode=1 makes
 * the real server's Basic header of them; OutputAuthMode=2 logs on to
 * Exchange's form with them before the session exists; wiped when the
 * session goes).
 *
 * One table for all worker threads under one mutex: a worker's loop holds
 * it only for a scan of ESP_SESSIONS_MAX entries, never across I/O. The
 * cookie value is the hex of ESP_SESSION_ID_LEN bytes from the CSPRNG; a
 * lookup compares ids in constant time. docs/esp.md says what and why.
 */
#ifndef EXLB_ESP_SESSION_H
#define EXLB_ESP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config/config.h"
#include "esp/ldap.h"

#define ESP_SESSION_ID_LEN	16	/* bytes: 128 bits */
#define ESP_SESSION_HEX		(2 * ESP_SESSION_ID_LEN)
#define ESP_SESSIONS_MAX	4096	/* when full, the oldest logon goes */
#define ESP_SESSION_COOKIE	"exlb_esp"	/* the cookie's name */

/* What a live session gives a request (OutputAuthMode=1). */
struct esp_session_creds {
	char user[ESP_NAME_MAX + 1];
	size_t user_len;
	char pw[ESP_PASSWORD_MAX + 1];
	size_t pw_len;
};

/*
 * A new session of @user / @pw in domain @d at @now (monotonic seconds),
 * with @d's private (@private_pc) or public timeouts. @cookie gets its id
 * (hex, NUL-terminated). 0, or -1 when the CSPRNG failed.
 */
int esp_session_new(const struct exlb_sso_domain *d, bool private_pc,
		    const char *user, size_t user_len, const char *pw,
		    size_t pw_len, time_t now, char cookie[ESP_SESSION_HEX + 1]);

/*
 * Whether @cookie (@len bytes, the cookie's value) names a live session
 * of domain @domain (case-insensitive); its idle time restarts. @out
 * (may be NULL) gets the credentials. An expired session found is freed.
 */
bool esp_session_check(const char *cookie, size_t len, const char *domain,
		       time_t now, struct esp_session_creds *out);

/* Logoff: ends the session @cookie of @domain. Whether there was one. */
bool esp_session_end(const char *cookie, size_t len, const char *domain);

/* Live sessions at @now (tests). */
unsigned int esp_session_count(time_t now);

/* Ends every session (tests). */
void esp_session_clear(void);

#endif
