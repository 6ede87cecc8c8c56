/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The directory conversation of one ESP logon (ldap.c): a typed logon name
 * made into the directory's per the SSO domain's logon format, then
 * OpenLDAP's libldap: connect (ldap://, StartTLS or ldaps:// with the
 * certificate verified), optionally a service account's search for the
 * user's entry, and the user's simple bind with the password policy
 * control, each step bounded by the domain's timeout, failing over to the
 * next server when one does not answer. Blocking: it runs on sso.c's
 * directory threads, never on an event loop (docs/esp.md says why).
 */
#ifndef EXLB_ESP_LDAP_H
#define EXLB_ESP_LDAP_H

#include <stddef.h>

#include "config/config.h"

/* What a logon came to; sso.c adds BLOCKED and REFUSED (input). */
enum esp_auth_result {
	ESP_AUTH_OK,
	ESP_AUTH_BAD_CREDENTIALS,	/* wrong password or no such user */
	ESP_AUTH_DISABLED,		/* account disabled or locked in the directory */
	ESP_AUTH_EXPIRED,		/* password expired or must be changed */
	ESP_AUTH_BLOCKED,		/* failed-logon limit (max_failed_auths) */
	ESP_AUTH_UNAVAILABLE,		/* no server answered, or TLS / service account failed */
	ESP_AUTH_REFUSED,		/* input refused before the directory was asked */
};

const char *esp_auth_result_name(enum esp_auth_result r);

#define ESP_NAME_MAX		256	/* bytes of a typed logon name */
#define ESP_PASSWORD_MAX	256	/* bytes of a password */

/* A typed logon name made into what the directory is asked. */
struct esp_logon {
	char bind_name[ESP_NAME_MAX + 300];	/* user bind: UPN, DOMAIN\user or the name */
	char filter[3 * (ESP_NAME_MAX + 300) + 64];	/* service account: the search filter */
	char key[ESP_NAME_MAX + 300];		/* failed-logon accounting: bind_name, lower case */
};

/*
 * Makes @typed (NUL-terminated, already checked for length and control
 * characters) into @out per @d's logon_fmt and logon_domain. 0, or -1 with
 * a reason in @why (a name of another domain, a format that needs a domain).
 */
int esp_logon_name(const struct exlb_sso_domain *d, const char *typed,
		   struct esp_logon *out, char *why, size_t n);

/*
 * RFC 4515 escaping of a filter assertion value: \2a for '*', \28 ')' ...,
 * every byte outside printable ASCII too. 0, or -1 if @out is too small.
 */
int esp_ldap_filter_escape(const char *in, char *out, size_t n);

/*
 * The logon itself: blocks up to (servers x steps x timeout). @detail
 * gets a line for the log (server, LDAP result, diagnostic), never the
 * password.
 */
enum esp_auth_result esp_ldap_logon(const struct exlb_sso_domain *d,
				    const struct esp_logon *name,
				    const char *password, char *detail,
				    size_t n);

#endif
