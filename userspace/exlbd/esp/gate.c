// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The ESP gates of an L7 HTTP service (gate.h): the Host against
 * AllowedHosts, the normalised path against AllowedDirectories, the
 * verdict, the security log line of a refusal, and the target the real
 * server gets. The string work is path.c's.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "esp/gate.h"

struct esp_gate *esp_gate_new(const struct exlb_service *svc,
			      const struct exlb_sso_domain *domain, bool *err)
{
	struct esp_gate *g;
	size_t o = 0;

	if (!svc->esp_enabled)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g) {
		*err = true;
		return NULL;
	}
	snprintf(g->name, sizeof(g->name), "%s %s",
		 exlb_service_is_subvs(svc) ? "SubVS" : "VS",
		 svc->nickname[0] ? svc->nickname : "(no name)");
	g->logs = svc->esp_logs;
	memcpy(g->hosts, svc->allowed_hosts, sizeof(g->hosts));
	memcpy(g->dirs, svc->allowed_directories, sizeof(g->dirs));
	memcpy(g->excluded, svc->excluded_directories, sizeof(g->excluded));
	memcpy(g->smtp_domains, svc->smtp_allowed_domains,
	       sizeof(g->smtp_domains));
	memcpy(g->logoff, svc->logoff, sizeof(g->logoff));
	memcpy(g->sso_message, svc->sso_message, sizeof(g->sso_message));
	memcpy(g->pwd_change_url, svc->pwd_change_url,
	       sizeof(g->pwd_change_url));
	memcpy(g->pwd_change_msg, svc->pwd_change_msg,
	       sizeof(g->pwd_change_msg));
	g->input_auth = svc->input_auth_mode;
	g->output_auth = svc->output_auth_mode;
	if (domain) {
		g->domain = malloc(sizeof(*g->domain));
		if (!g->domain) {
			free(g);
			*err = true;
			return NULL;
		}
		*g->domain = *domain;
	}
	/* the realm: the SSO domain's name, else the service's; quotable */
	for (const char *s = domain ? domain->name :
	     svc->nickname[0] ? svc->nickname : g->name;
	     *s && o + 1 < sizeof(g->realm); s++)
		g->realm[o++] = (unsigned char)*s < 0x20 ||
				(unsigned char)*s >= 0x7f || *s == '"' ||
				*s == '\\' ? '_' : *s;
	g->realm[o] = '\0';
	return g;
}

void esp_gate_free(struct esp_gate *g)
{
	if (!g)
		return;
	if (g->domain)	/* holds the service account's password */
		explicit_bzero(g->domain, sizeof(*g->domain));
	free(g->domain);
	free(g);
}

/* @s as one printable line of at most ~200 bytes, for the log. */
static void printable(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	if (o + 5 >= cap && cap > 4)
		memcpy(out + cap - 4, "...", 4), o = cap - 1;
	out[o] = '\0';
}

static enum esp_verdict refuse(const struct esp_gate *g, struct esp_decision *d,
			       unsigned int status, const char *reason,
			       const char *client, const char *host, size_t hlen,
			       const char *path, size_t plen)
{
	char h[128], p[256];

	d->verdict = ESP_REFUSE;
	d->status = status;
	d->reason = reason;
	d->target_len = 0;
	if (g->logs & ESP_LOG_SECURITY) {
		/* the path without its query: a query may carry credentials */
		printable(host ? host : "", host ? hlen : 0, h, sizeof(h));
		printable(path ? path : "", path ? plen : 0, p, sizeof(p));
		exlb_log(LOG_WARNING, "esp: %s: refused %s: host '%s' path '%s': %s (%u)",
			 g->name, client, h, p, reason, status);
	}
	return ESP_REFUSE;
}

/* @check: the gate's lists too; else only what normalising refuses. */
static enum esp_verdict gate_check(const struct esp_gate *g,
				   const struct esp_request *rq,
				   struct esp_decision *d, bool check)
{
	char host[ESP_HOST_MAX], auth[ESP_HOST_MAX], path[ESP_PATH_MAX];
	const char *target = rq->target, *hv = rq->host, *client = rq->client;
	size_t target_len = rq->target_len, hlen = hv ? rq->host_len : 0, n;
	struct esp_target t;
	const char *why;

	if (rq->nr_host > 1)
		return refuse(g, d, 400, "more than one Host header", client,
			      hv, hlen, target, target_len);
	why = esp_target_split(target, target_len, &t);
	if (why)
		return refuse(g, d, 400, why, client, hv, hlen, target, target_len);
	if (!check)
		goto path;
	/* the Host, and an absolute-form authority too: both must be allowed */
	why = esp_host_normalise(hv ? hv : "", hlen, host, sizeof(host));
	if (why)
		return refuse(g, d, 403, why, client, hv, hlen, t.path, t.path_len);
	if (!esp_list_match(g->hosts, host, true))
		return refuse(g, d, 403, g->hosts[0] ? "host not in AllowedHosts" :
			      "AllowedHosts is empty: no host is allowed", client,
			      hv, hlen, t.path, t.path_len);
	if (t.authority) {
		why = esp_host_normalise(t.authority, t.authority_len, auth,
					 sizeof(auth));
		if (why || !esp_list_match(g->hosts, auth, true))
			return refuse(g, d, 403, why ? why :
				      "the request target's host not in AllowedHosts",
				      client, t.authority, t.authority_len,
				      t.path, t.path_len);
	}
path:
	why = esp_path_normalise(t.path, t.path_len, path, sizeof(path));
	if (why)
		return refuse(g, d, 403, why, client, hv, hlen, t.path, t.path_len);
	if (check && !esp_list_match(g->dirs, path, false))
		return refuse(g, d, 403, g->dirs[0] ? "path not in AllowedDirectories" :
			      "AllowedDirectories is empty: no path is allowed",
			      client, hv, hlen, t.path, t.path_len);
	/* the real server gets exactly what was checked */
	n = esp_path_encode(path, d->target, sizeof(d->target));
	if (!n || n + t.query_len >= sizeof(d->target))
		return refuse(g, d, 403, "a path too long to check", client,
			      hv, hlen, t.path, t.path_len);
	if (t.query)
		memcpy(d->target + n, t.query, t.query_len);
	d->target_len = n + t.query_len;
	d->target[d->target_len] = '\0';
	d->verdict = ESP_PASS;
	d->status = 0;
	d->reason = NULL;
	return ESP_PASS;
}

enum esp_verdict esp_gate_request(const struct esp_gate *g,
				  const struct esp_request *rq,
				  struct esp_decision *d)
{
	return gate_check(g, rq, d, true);
}

enum esp_verdict esp_normalise_request(const struct esp_gate *g,
				       const struct esp_request *rq,
				       struct esp_decision *d)
{
	return gate_check(g, rq, d, false);
}

bool esp_gate_path_in(const char *list, const char *target,
		      size_t target_len, bool unsure)
{
	char path[ESP_PATH_MAX];
	struct esp_target t;

	if (!list[0])
		return false;
	/* the target passed the gates: normalising it again gives its path */
	if (esp_target_split(target, target_len, &t) ||
	    esp_path_normalise(t.path, t.path_len, path, sizeof(path)))
		return unsure;
	return esp_list_match(list, path, false);
}

bool esp_gate_wants_basic(const struct esp_gate *g, const char *target,
			  size_t target_len)
{
	/* cannot tell whether it is excluded: ask for the logon */
	return g && g->input_auth == 1 &&
	       !esp_gate_path_in(g->excluded, target, target_len, false);
}

bool esp_gate_wants_form(const struct esp_gate *g, const char *target,
			 size_t target_len)
{
	return g && g->input_auth == 2 &&
	       !esp_gate_path_in(g->excluded, target, target_len, false);
}

void esp_log_logon(const struct esp_gate *g, const char *client,
		   const char *user, size_t user_len, int result,
		   const char *result_name, const char *detail)
{
	char u[128];

	if (!(g->logs & (result ? ESP_LOG_SECURITY : ESP_LOG_USER)))
		return;
	printable(user, user_len, u, sizeof(u));
	if (!result)
		exlb_log(LOG_INFO, "esp: %s: logon '%s' from %s: ok (domain %s)",
			 g->name, u, client, g->domain ? g->domain->name : "-");
	else
		exlb_log(LOG_WARNING, "esp: %s: logon '%s' from %s refused: %s%s%s",
			 g->name, u, client, result_name,
			 detail && *detail ? ": " : "", detail ? detail : "");
}
