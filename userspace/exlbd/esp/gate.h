/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The Edge Security Pack's gates on an L7 HTTP service (a VS or SubVS with
 * EspEnabled=1): AllowedHosts and AllowedDirectories, checked on every
 * request once its head is complete and before a real server is chosen
 * (proxy_conn.c, one call), with what passes rewritten to the normalised
 * path the gate checked. docs/esp.md says what is matched how and why.
 *
 * The directory logon (InputAuthMode=1, Basic) comes after this call and
 * is not here (basic.h, proxy_conn.c): a gate answers only "refuse" or
 * "pass on, with this target"; the gate keeps what that logon needs (the
 * modes, ExcludedDirectories, a copy of the SSO domain) and writes its log
 * lines (esp_log_logon()).
 */
#ifndef EXLB_ESP_GATE_H
#define EXLB_ESP_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "esp/path.h"

#define ESP_LOG_USER		1U	/* ESPLogs bits */
#define ESP_LOG_SECURITY	2U
#define ESP_LOG_CONNECTION	4U

/* What a plan keeps of one service's ESP settings (immutable, per plan). */
struct esp_gate {
	char name[EXLB_NICKNAME_SIZE + 16];	/* "SubVS OWA", for the log */
	unsigned int logs;			/* ESPLogs */
	char hosts[sizeof(((struct exlb_service *)0)->allowed_hosts)];
	char dirs[sizeof(((struct exlb_service *)0)->allowed_directories)];
	char excluded[sizeof(((struct exlb_service *)0)->excluded_directories)];
	/* an SMTP VS: SMTPAllowedDomains, checked by mail_proto.c on RCPT TO */
	char smtp_domains[sizeof(((struct exlb_service *)0)->smtp_allowed_domains)];
	/* the directory logon: InputAuthMode, OutputAuthMode, Domain's copy */
	unsigned int input_auth, output_auth;
	struct exlb_sso_domain *domain;	/* NULL: Domain names none */
	char realm[EXLB_NICKNAME_SIZE + 16];	/* WWW-Authenticate: printable, no '"' */
	/*
	 * the form logon (InputAuthMode=2): Logoff, SingleSignOnMessage,
	 * UserPwdChangeURL and UserPwdChangeMsg (validated by the table)
	 */
	char logoff[sizeof(((struct exlb_service *)0)->logoff)];
	char sso_message[sizeof(((struct exlb_service *)0)->sso_message)];
	char pwd_change_url[sizeof(((struct exlb_service *)0)->pwd_change_url)];
	char pwd_change_msg[sizeof(((struct exlb_service *)0)->pwd_change_msg)];
};

/*
 * The gate of @svc, or NULL when ESP is off (or no memory: *@err set).
 * @domain: the SSO domain @svc's Domain names (copied), or NULL.
 */
struct esp_gate *esp_gate_new(const struct exlb_service *svc,
			      const struct exlb_sso_domain *domain, bool *err);
void esp_gate_free(struct esp_gate *g);

enum esp_verdict {
	ESP_PASS,	/* forward, with d->target */
	ESP_REFUSE,	/* answer d->status, nothing reaches a real server */
};

/* The room a rewritten target may take (encoded path and the query). */
#define ESP_TARGET_MAX	(3 * ESP_PATH_MAX + 32 * 1024)

/* What a gate looks at in a request whose head is complete (l7/ fills it). */
struct esp_request {
	const char *target;	/* the request target as sent */
	size_t target_len;
	const char *host;	/* the (last) Host header's value, or NULL */
	size_t host_len;
	unsigned int nr_host;	/* how many Host headers */
	const char *client;	/* "198.18.0.1", for the security log */
};

struct esp_decision {
	enum esp_verdict verdict;
	unsigned int status;	/* ESP_REFUSE: 403 not allowed, 400 malformed */
	const char *reason;	/* ESP_REFUSE: why, for the log */
	/* ESP_PASS: the origin-form target the real server gets */
	char target[ESP_TARGET_MAX];
	size_t target_len;
};

/*
 * The verdict of gate @g on request @rq, with ESPLogs bit 2's log line
 * when it is refused. ESP_PASS fills d->target.
 */
enum esp_verdict esp_gate_request(const struct esp_gate *g,
				  const struct esp_request *rq,
				  struct esp_decision *d);

/*
 * Only the normalisation of @rq's target (refused as the gate would,
 * logged under gate @g): for a VS some of whose services have ESP, so that
 * content rules choose the SubVS on the path the real server will see,
 * and every SubVS's server gets the normalised target. Otherwise a path
 * trick (/ews/../owa/) would pick a SubVS without ESP and reach a
 * protected directory on the same servers.
 */
enum esp_verdict esp_normalise_request(const struct esp_gate *g,
				       const struct esp_request *rq,
				       struct esp_decision *d);

/*
 * Whether gate @g asks for a Basic logon for origin-form @target (a
 * decision's target: the normalised path, encoded): InputAuthMode=1 and
 * the path not in ExcludedDirectories.
 */
bool esp_gate_wants_basic(const struct esp_gate *g, const char *target,
			  size_t target_len);

/*
 * Whether the normalised path of @target (a decision's target) matches
 * Kemp's wildcard list @list (case-insensitive; an empty list matches
 * nothing). @unsure: the answer when the path cannot be normalised.
 */
bool esp_gate_path_in(const char *list, const char *target,
		      size_t target_len, bool unsure);

/*
 * Whether gate @g asks for a form logon (a session) for @target:
 * InputAuthMode=2 and the path not in ExcludedDirectories.
 */
bool esp_gate_wants_form(const struct esp_gate *g, const char *target,
			 size_t target_len);

/*
 * The log line of a logon by @user (@user_len bytes, shown printable) from
 * @client: ok under ESPLogs bit 1 (user access), anything else under bit 2
 * (security) with @result's name and @detail. Never a password: none is
 * given here.
 */
void esp_log_logon(const struct esp_gate *g, const char *client,
		   const char *user, size_t user_len, int result,
		   const char *result_name, const char *detail);

#endif
