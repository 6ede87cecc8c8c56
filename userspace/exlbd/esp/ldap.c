// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * One ESP logon against an SSO domain's LDAP directory (see ldap.h): the
 * logon name per logon format, RFC 4515 escaping of what goes into a
 * search filter, and the libldap conversation with failover, timeouts,
 * TLS verification and the mapping of LDAP results, password-policy
 * controls (OpenLDAP's ppolicy) and Active Directory's "data 52e"
 * diagnostics onto enum esp_auth_result.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "config/params.h"
#include "ldap.h"

const char *esp_auth_result_name(enum esp_auth_result r)
{
	switch (r) {
	case ESP_AUTH_OK: return "ok";
	case ESP_AUTH_BAD_CREDENTIALS: return "bad credentials";
	case ESP_AUTH_DISABLED: return "account disabled";
	case ESP_AUTH_EXPIRED: return "password expired";
	case ESP_AUTH_BLOCKED: return "blocked (failed logon limit)";
	case ESP_AUTH_UNAVAILABLE: return "directory unavailable";
	case ESP_AUTH_REFUSED: return "refused";
	}
	return "?";
}

/* ---- logon names ---- */

int esp_ldap_filter_escape(const char *in, char *out, size_t n)
{
	size_t len = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = *p > 0x20 && *p < 0x7f && !strchr("*()\\", *p);

		if (len + (plain ? 1 : 3) >= n)
			return -1;
		if (plain)
			out[len++] = *p;
		else
			len += snprintf(out + len, n - len, "\\%02x", *p);
	}
	out[len] = 0;
	return 0;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = tolower((unsigned char)*s);
}

/* Builds (attr=value) with @value escaped. */
static int make_filter(struct esp_logon *out, const char *attr,
		       const char *value)
{
	char esc[sizeof(out->filter) - 40];

	if (esp_ldap_filter_escape(value, esc, sizeof(esc)))
		return -1;
	snprintf(out->filter, sizeof(out->filter), "(%s=%s)", attr, esc);
	return 0;
}

/* "DOM\user" / "user@dom": the domain part must be logon_domain, if set. */
static bool domain_ok(const struct exlb_sso_domain *d, const char *dom,
		      size_t len)
{
	return !d->logon_domain[0] ||
	       (strlen(d->logon_domain) == len &&
		!strncasecmp(d->logon_domain, dom, len));
}

int esp_logon_name(const struct exlb_sso_domain *d, const char *typed,
		   struct esp_logon *out, char *why, size_t n)
{
	const char *at = strrchr(typed, '@'), *bs = strchr(typed, '\\');
	char user[ESP_NAME_MAX + 1];
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!typed[0] || strlen(typed) > ESP_NAME_MAX)
		goto bad_length;
	switch (d->logon_fmt) {
	case EXLB_LOGON_PRINCIPALNAME:	/* user@logon_domain */
		if (bs)
			goto other_form;
		if (at) {
			if (at == typed || !domain_ok(d, at + 1, strlen(at + 1)))
				goto other_domain;
			snprintf(out->bind_name, sizeof(out->bind_name), "%s", typed);
		} else {
			if (!d->logon_domain[0])
				goto need_domain;
			snprintf(out->bind_name, sizeof(out->bind_name), "%s@%s",
				 typed, d->logon_domain);
		}
		ret = make_filter(out, "userPrincipalName", out->bind_name);
		break;
	case EXLB_LOGON_USERNAME:	/* LOGON_DOMAIN\user */
		if (at)
			goto other_form;
		if (bs) {
			if (!bs[1] || !domain_ok(d, typed, bs - typed))
				goto other_domain;
			snprintf(user, sizeof(user), "%s", bs + 1);
			snprintf(out->bind_name, sizeof(out->bind_name), "%s", typed);
		} else {
			if (!d->logon_domain[0])
				goto need_domain;
			snprintf(user, sizeof(user), "%s", typed);
			snprintf(out->bind_name, sizeof(out->bind_name), "%s\\%s",
				 d->logon_domain, typed);
		}
		if (strchr(user, '\\'))
			goto other_form;
		ret = make_filter(out, "sAMAccountName", user);
		break;
	case EXLB_LOGON_USERNAMEONLY:	/* any domain part removed */
		snprintf(user, sizeof(user), "%s", bs ? bs + 1 : typed);
		if (!bs && at)
			user[at - typed] = 0;
		if (!user[0] || strchr(user, '\\') || strchr(user, '@'))
			goto other_form;
		snprintf(out->bind_name, sizeof(out->bind_name), "%s", user);
		ret = make_filter(out, "sAMAccountName", user);
		break;
	default:			/* Notspecified: as typed */
		snprintf(out->bind_name, sizeof(out->bind_name), "%s", typed);
		if (at)
			ret = make_filter(out, "userPrincipalName", typed);
		else
			ret = make_filter(out, "sAMAccountName", bs ? bs + 1 : typed);
		break;
	}
	if (ret)
		goto bad_length;
	snprintf(out->key, sizeof(out->key), "%s", out->bind_name);
	lower(out->key);
	return 0;
bad_length:
	snprintf(why, n, "logon name must be 1-%d bytes", ESP_NAME_MAX);
	return -1;
other_form:
	snprintf(why, n, "logon name is not of the domain's format (%s)",
		 d->logon_fmt == EXLB_LOGON_PRINCIPALNAME ? "user@domain" :
		 d->logon_fmt == EXLB_LOGON_USERNAME ? "DOMAIN\\user" : "user");
	return -1;
other_domain:
	snprintf(why, n, "logon name of another domain than %s",
		 d->logon_domain);
	return -1;
need_domain:
	snprintf(why, n, "logon name needs its domain (the SSO domain has no logon_domain)");
	return -1;
}

/* ---- the directory ---- */

/* How one step ended: go on, the user's answer, or try the next server. */
enum step { STEP_OK, STEP_ANSWER, STEP_NEXT_SERVER };

struct conv {
	const struct exlb_sso_domain *d;
	LDAP *ld;
	char server[300];
	struct timeval tv;
	enum esp_auth_result result;
	char *detail;
	size_t n;
};

/* A server that failed (down, timed out, TLS): say so, try the next. */
static enum step server_failed(struct conv *c, const char *what, int rc)
{
	char *diag = NULL;

	if (c->ld)
		ldap_get_option(c->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	snprintf(c->detail, c->n, "%s: %s: %s%s%s", c->server, what,
		 ldap_err2string(rc), diag && *diag ? ": " : "",
		 diag ? diag : "");
	ldap_memfree(diag);
	c->result = ESP_AUTH_UNAVAILABLE;
	return STEP_NEXT_SERVER;
}

static bool server_trouble(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ||
	       rc == LDAP_CONNECT_ERROR || rc == LDAP_BUSY ||
	       rc == LDAP_UNAVAILABLE || rc == LDAP_LOCAL_ERROR ||
	       rc == LDAP_OTHER || rc == LDAP_PROTOCOL_ERROR;
}

static enum step open_server(struct conv *c)
{
	static const int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND;
	static const int tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, zero = 0;
	char url[340];
	int rc;

	snprintf(url, sizeof(url), "%s://%s",
		 c->d->auth_type == EXLB_SSO_LDAP_LDAPS ? "ldaps" : "ldap",
		 c->server);
	rc = ldap_initialize(&c->ld, url);
	if (rc != LDAP_SUCCESS)
		return server_failed(c, "bad URL", rc);
	if (ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3) ||
	    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
	    ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &c->tv) ||
	    ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &c->tv))
		return server_failed(c, "options", LDAP_LOCAL_ERROR);
	if (c->d->auth_type != EXLB_SSO_LDAP_UNENCRYPTED) {
		/* the certificate is verified, always: a name the CA vouches for */
		if (ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) ||
		    ldap_set_option(c->ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls12) ||
		    (c->d->ldap_ca[0] &&
		     ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE,
				     c->d->ldap_ca)) ||
		    ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &zero))
			return server_failed(c, "TLS options (ldap_ca?)",
					     LDAP_LOCAL_ERROR);
	}
	if (c->d->auth_type == EXLB_SSO_LDAP_STARTTLS) {
		rc = ldap_start_tls_s(c->ld, NULL, NULL);
		if (rc != LDAP_SUCCESS)
			return server_failed(c, "StartTLS", rc);
	}
	return STEP_OK;
}

/* Waits for @msgid's answer up to the timeout; 0 = timed out / failed. */
static LDAPMessage *wait_result(struct conv *c, int msgid, int *rc)
{
	LDAPMessage *msg = NULL;
	struct timeval tv = c->tv;
	int got = ldap_result(c->ld, msgid, LDAP_MSG_ALL, &tv, &msg);

	if (got > 0)
		return msg;
	if (got == 0) {
		ldap_abandon_ext(c->ld, msgid, NULL, NULL);
		*rc = LDAP_TIMEOUT;
	} else {
		ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, rc);
		if (*rc == LDAP_SUCCESS)
			*rc = LDAP_SERVER_DOWN;
	}
	ldap_msgfree(msg);
	return NULL;
}

/* Active Directory's reason in a bind's diagnostic: "... data 52e, v4563". */
static enum esp_auth_result ad_reason(const char *diag)
{
	const char *p = diag ? strstr(diag, "data ") : NULL;

	if (!p)
		return ESP_AUTH_BAD_CREDENTIALS;
	p += 5;
	if (!strncasecmp(p, "533", 3) || !strncasecmp(p, "775", 3) ||
	    !strncasecmp(p, "701", 3) || !strncasecmp(p, "530", 3) ||
	    !strncasecmp(p, "531", 3))
		return ESP_AUTH_DISABLED;	/* disabled, locked, account expired, hours, workstation */
	if (!strncasecmp(p, "532", 3) || !strncasecmp(p, "773", 3))
		return ESP_AUTH_EXPIRED;	/* password expired, must reset */
	return ESP_AUTH_BAD_CREDENTIALS;	/* 52e, 525 (no such user) ... */
}

/* The password policy response control of a bind (OpenLDAP ppolicy). */
static LDAPPasswordPolicyError ppolicy_error(LDAP *ld, LDAPControl **ctrls)
{
	LDAPControl *c = ldap_control_find(LDAP_CONTROL_PASSWORDPOLICYRESPONSE,
					   ctrls, NULL);
	LDAPPasswordPolicyError err = PP_noError;
	ber_int_t expire = -1, grace = -1;

	if (c && ldap_parse_passwordpolicy_control(ld, c, &expire, &grace,
						   &err) != LDAP_SUCCESS)
		err = PP_noError;
	return err;
}

/* A simple bind with the password policy request control; its answer. */
static enum step do_bind(struct conv *c, const char *who, const char *password,
		      bool user)
{
	struct berval cred = { strlen(password), (char *)password };
	LDAPControl *pp = NULL, *ctrls[2] = { NULL, NULL };
	LDAPControl **rctrls = NULL;
	LDAPMessage *msg;
	char *diag = NULL;
	int msgid, rc, err = LDAP_OTHER;
	LDAPPasswordPolicyError ppe;

	if (user && ldap_create_passwordpolicy_control(c->ld, &pp) == LDAP_SUCCESS)
		ctrls[0] = pp;
	rc = ldap_sasl_bind(c->ld, who, LDAP_SASL_SIMPLE, &cred, ctrls, NULL,
			    &msgid);
	if (pp)
		ldap_control_free(pp);
	if (rc != LDAP_SUCCESS)
		return server_failed(c, user ? "bind" : "service account bind", rc);
	msg = wait_result(c, msgid, &rc);
	if (!msg)
		return server_failed(c, user ? "bind" : "service account bind", rc);
	rc = ldap_parse_result(c->ld, msg, &err, NULL, &diag, NULL, &rctrls, 1);
	if (rc != LDAP_SUCCESS) {
		ldap_memfree(diag);
		return server_failed(c, "bind answer", rc);
	}
	ppe = ppolicy_error(c->ld, rctrls);
	ldap_controls_free(rctrls);
	if (server_trouble(err)) {
		ldap_memfree(diag);
		return server_failed(c, "bind", err);
	}
	snprintf(c->detail, c->n, "%s: %s%s: %s%s%s%s%s", c->server,
		 user ? "bind as " : "service account bind as ", who,
		 ldap_err2string(err), diag && *diag ? " (" : "",
		 diag ? diag : "", diag && *diag ? ")" : "",
		 ppe != PP_noError ? ", password policy: " : "");
	if (ppe != PP_noError) {
		size_t len = strlen(c->detail);

		snprintf(c->detail + len, c->n - len, "%s",
			 ldap_passwordpolicy_err2txt(ppe));
	}
	if (!user) {
		ldap_memfree(diag);
		if (err == LDAP_SUCCESS)
			return STEP_OK;
		/* our own account: not the user's fault, the domain is unusable */
		c->result = ESP_AUTH_UNAVAILABLE;
		return STEP_ANSWER;
	}
	if (err == LDAP_SUCCESS)
		c->result = ppe == PP_changeAfterReset ? ESP_AUTH_EXPIRED :
			    ESP_AUTH_OK;
	else if (ppe == PP_passwordExpired || ppe == PP_changeAfterReset)
		c->result = ESP_AUTH_EXPIRED;
	else if (ppe == PP_accountLocked)
		c->result = ESP_AUTH_DISABLED;
	else if (err == LDAP_INVALID_CREDENTIALS)
		c->result = ad_reason(diag);
	else
		c->result = ESP_AUTH_BAD_CREDENTIALS;
	ldap_memfree(diag);
	return STEP_ANSWER;
}

/* The service account finds the user's entry; its DN into @dn. */
static enum step find_user(struct conv *c, const struct esp_logon *name,
			   char *dn, size_t n)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *msg, *e;
	int msgid, rc, err = LDAP_OTHER, count;
	char *found;
	enum step s = do_bind(c, c->d->adminuser, c->d->adminpass, false);

	if (s != STEP_OK)
		return s;
	rc = ldap_search_ext(c->ld, c->d->ldap_base, LDAP_SCOPE_SUBTREE,
			     name->filter, attrs, 0, NULL, NULL, &c->tv, 2,
			     &msgid);
	if (rc != LDAP_SUCCESS)
		return server_failed(c, "search", rc);
	msg = wait_result(c, msgid, &rc);
	if (!msg)
		return server_failed(c, "search", rc);
	count = ldap_count_entries(c->ld, msg);
	rc = ldap_parse_result(c->ld, msg, &err, NULL, NULL, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS || server_trouble(err)) {
		ldap_msgfree(msg);
		return server_failed(c, "search", rc != LDAP_SUCCESS ? rc : err);
	}
	if (err != LDAP_SUCCESS && err != LDAP_SIZELIMIT_EXCEEDED) {
		/* no such base, no right to search: the domain, not the user */
		ldap_msgfree(msg);
		snprintf(c->detail, c->n, "%s: search under %s: %s", c->server,
			 c->d->ldap_base, ldap_err2string(err));
		c->result = ESP_AUTH_UNAVAILABLE;
		return STEP_ANSWER;
	}
	if (count != 1) {
		ldap_msgfree(msg);
		snprintf(c->detail, c->n, "%s: search %s under %s: %s", c->server,
			 name->filter, c->d->ldap_base,
			 count == 0 ? "no such user" : "more than one entry");
		c->result = ESP_AUTH_BAD_CREDENTIALS;
		return STEP_ANSWER;
	}
	e = ldap_first_entry(c->ld, msg);
	found = e ? ldap_get_dn(c->ld, e) : NULL;
	ldap_msgfree(msg);
	if (!found || strlen(found) >= n) {
		ldap_memfree(found);
		return server_failed(c, "search", LDAP_DECODING_ERROR);
	}
	strcpy(dn, found);
	ldap_memfree(found);
	return STEP_OK;
}

static enum step try_server(struct conv *c, const struct esp_logon *name,
			    const char *password)
{
	char dn[1024];
	enum step s = open_server(c);

	if (s != STEP_OK)
		return s;
	if (c->d->adminuser[0]) {
		s = find_user(c, name, dn, sizeof(dn));
		if (s != STEP_OK)
			return s;
		return do_bind(c, dn, password, true);
	}
	return do_bind(c, name->bind_name, password, true);
}

enum esp_auth_result esp_ldap_logon(const struct exlb_sso_domain *d,
				    const struct esp_logon *name,
				    const char *password, char *detail,
				    size_t n)
{
	struct conv c = {
		.d = d, .detail = detail, .n = n,
		.tv = { .tv_sec = d->timeout ? d->timeout : 5 },
		.result = ESP_AUTH_UNAVAILABLE,
	};
	size_t pos = 0;

	snprintf(detail, n, "SSO domain %s has no server", d->name);
	/* an empty password is an anonymous bind that "succeeds": never */
	if (!password[0]) {
		snprintf(detail, n, "empty password");
		return ESP_AUTH_REFUSED;
	}
	while (exlb_sso_server_next(d->server, &pos, c.server, sizeof(c.server))) {
		enum step s;

		s = try_server(&c, name, password);
		if (c.ld)
			ldap_unbind_ext(c.ld, NULL, NULL);
		c.ld = NULL;
		if (s != STEP_NEXT_SERVER)
			return c.result;
	}
	return ESP_AUTH_UNAVAILABLE;
}
