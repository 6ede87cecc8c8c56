// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * GET /metrics: exlbd's counters in Prometheus' text format (prom.c). The
 * figures are the ones `exlbctl status` shows, taken from the same builder
 * (exlb_ctl_execute(), ctl.c), so the two never disagree; docs/admin.md
 * lists the names and labels.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "admin_int.h"
#include "ctl/ctl.h"
#include "prom.h"

#define C	"counter"
#define G	"gauge"

static double num(const json_t *obj, const char *key)
{
	return (double)json_integer_value(json_object_get(obj, key));
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/*
 * The counters every VS, SubVS and RS has (ctl.c counters_to_json()):
 * figure @fig of TRAFFIC_FIGURES.
 */
#define TRAFFIC_FIGURES	8

static void traffic(struct exlb_prom *p, const char *kind,
		    const char *const *labels, const json_t *obj, int fig)
{
	static const struct {
		const char *key, *suffix, *type, *help;
	} figures[] = {
		{ "conns", "connections_total", C, "connections scheduled (L7: to a real server)" },
		{ "active", "connections_active", G, "open connections, established" },
		{ "inactive", "connections_inactive", G, "open connections, other TCP states" },
		{ "bytes_in", "bytes_in_total", C, "bytes from clients" },
		{ "bytes_out", "bytes_out_total", C, "bytes to clients" },
		{ "pkts_in", "packets_in_total", C, "packets from clients (kernel-served)" },
		{ "pkts_out", "packets_out_total", C, "packets to clients (kernel-served)" },
		{ "requests", "requests_total", C, "HTTP requests forwarded to a real server (L7)" },
	};
	char name[96];

	snprintf(name, sizeof(name), "exlb_%s_%s", kind, figures[fig].suffix);
	exlb_prom_sample(p, name, figures[fig].type, figures[fig].help, labels,
			 num(obj, figures[fig].key));
}

/*
 * A family's samples must be contiguous: each family is one pass over the
 * services (@figure picks it: the traffic ones first, then the kind's own),
 * which costs nothing at this scale.
 */
enum pass { P_VS, P_SUBVS, P_RS };

static void rs_samples(struct exlb_prom *p, const char *vs, const char *subvs,
		       const json_t *list, int figure)
{
	size_t i;
	json_t *rs;

	json_array_foreach(list, i, rs) {
		char where[80], id[16];
		const char *addr = str(rs, "addr"), *health = str(rs, "health");
		const char *labels[] = { "vs", vs, "subvs", subvs, "rs", where,
					 "rs_id", id, NULL, NULL, NULL };

		snprintf(where, sizeof(where), strchr(addr, ':') ? "[%s]:%lld" : "%s:%lld",
			 addr, (long long)num(rs, "port"));
		snprintf(id, sizeof(id), "%lld", (long long)num(rs, "id"));
		if (figure < TRAFFIC_FIGURES) {
			traffic(p, "rs", labels, rs, figure);
			continue;
		}
		switch (figure - TRAFFIC_FIGURES) {
		case 0:
			exlb_prom_sample(p, "exlb_rs_up", G,
					 "health check verdict: 1 up (or CheckType none), 0 down or not checked yet",
					 labels, !strcmp(health, "up"));
			break;
		case 1:
			labels[8] = "state";
			labels[9] = health;
			exlb_prom_sample(p, "exlb_rs_health_state", G,
					 "1 for the current state: up, down, unchecked",
					 labels, 1);
			break;
		case 2:
			labels[8] = "reason";
			labels[9] = str(rs, "reason_class")[0] ?
				    str(rs, "reason_class") : "unchecked";
			exlb_prom_sample(p, "exlb_rs_health_reason_info", G,
					 "the last health check's reason class, as a label",
					 labels, 1);
			break;
		case 6:
			if (json_object_get(rs, "check_seconds"))
				exlb_prom_sample(p, "exlb_rs_health_check_seconds", G,
						 "how long the last health check took",
						 labels, json_real_value(json_object_get(rs, "check_seconds")));
			break;
		case 3:
			exlb_prom_sample(p, "exlb_rs_serving", G,
					 "takes new connections: enabled, weight > 0, up",
					 labels, json_is_true(json_object_get(rs, "serving")));
			break;
		case 4:
			exlb_prom_sample(p, "exlb_rs_enabled", G, "Enable", labels,
					 num(rs, "enable"));
			break;
		case 5:
			exlb_prom_sample(p, "exlb_rs_weight", G, "Weight", labels,
					 num(rs, "weight"));
			break;
		}
	}
}

#define RS_FIGURES	(TRAFFIC_FIGURES + 7)
#define SVC_FIGURES	(TRAFFIC_FIGURES + 4)

/* A VS's own L7 figures (ctl.c l7_status()): @fig 1.. of its extra ones. */
static void vs_l7_samples(struct exlb_prom *p, const char **labels,
			  const json_t *vs, int fig)
{
	const char *k;
	json_t *v;

	if (!json_object_get(vs, "term"))
		return;		/* not served by the proxy */
	switch (fig) {
	case 1:
		labels[8] = "kind";
		labels[9] = "full";
		exlb_prom_sample(p, "exlb_vs_tls_handshakes_total", C,
				 "client TLS handshakes: full, or resuming a session",
				 labels, num(vs, "tls_full"));
		labels[9] = "resumed";
		exlb_prom_sample(p, "exlb_vs_tls_handshakes_total", C, NULL,
				 labels, num(vs, "tls_resumed"));
		break;
	case 2:
		labels[8] = "direction";
		labels[9] = "tx";
		exlb_prom_sample(p, "exlb_vs_ktls_connections_total", C,
				 "client TLS connections the kernel encrypts (tx) or decrypts (rx)",
				 labels, num(vs, "ktls_tx"));
		labels[9] = "rx";
		exlb_prom_sample(p, "exlb_vs_ktls_connections_total", C, NULL,
				 labels, num(vs, "ktls_rx"));
		break;
	case 3:
		labels[8] = "code";
		json_object_foreach((json_t *)json_object_get(vs, "term"), k, v) {
			labels[9] = k;
			exlb_prom_sample(p, "exlb_vs_terminations_total", C,
					 "requests (or tunnels) ended, by the access log's termination code",
					 labels, (double)json_integer_value(v));
		}
		break;
	}
	labels[8] = NULL;
}

/* Persistence records, per VS (no SubVSs) or SubVS: one family, one pass. */
static void persist_samples(struct exlb_prom *p, const json_t *vss)
{
	size_t i, j;
	json_t *vs, *sub;

	json_array_foreach(vss, i, vs) {
		char vsid[16], subid[16];
		const char *labels[] = { "vs", vsid, "subvs", NULL, NULL };

		snprintf(vsid, sizeof(vsid), "%lld", (long long)num(vs, "id"));
		if (json_object_get(vs, "persist_records"))
			exlb_prom_sample(p, "exlb_persist_records", G,
					 "persistence records held (Persist=src; exlb.ko's for a kernel-served VS)",
					 labels, num(vs, "persist_records"));
		labels[3] = subid;
		json_array_foreach(json_object_get(vs, "subvs"), j, sub) {
			snprintf(subid, sizeof(subid), "%lld", (long long)num(sub, "id"));
			if (json_object_get(sub, "persist_records"))
				exlb_prom_sample(p, "exlb_persist_records", G,
						 "persistence records held (Persist=src; exlb.ko's for a kernel-served VS)",
						 labels, num(sub, "persist_records"));
		}
	}
}

static void service_pass(struct exlb_prom *p, const json_t *vss,
			 enum pass pass, int figure)
{
	size_t i, j;
	json_t *vs, *sub;

	json_array_foreach(vss, i, vs) {
		char vsid[16], vip[80];
		const char *addr = str(vs, "vip");
		const char *labels[] = { "vs", vsid, "name", str(vs, "name"),
					 "vip", vip, "layer", str(vs, "layer"),
					 NULL, NULL, NULL };

		snprintf(vsid, sizeof(vsid), "%lld", (long long)num(vs, "id"));
		snprintf(vip, sizeof(vip), strchr(addr, ':') ? "[%s]:%lld" : "%s:%lld",
			 addr, (long long)num(vs, "port"));
		if (pass == P_VS && figure < TRAFFIC_FIGURES)
			traffic(p, "vs", labels, vs, figure);
		else if (pass == P_VS && figure == TRAFFIC_FIGURES)
			exlb_prom_sample(p, "exlb_vs_up", G,
					 "1 when the VS status is Up", labels,
					 !strcmp(str(vs, "status"), "Up"));
		else if (pass == P_VS)
			vs_l7_samples(p, labels, vs, figure - TRAFFIC_FIGURES);
		else if (pass == P_RS)
			rs_samples(p, vsid, NULL, json_object_get(vs, "rs"), figure);
		json_array_foreach(json_object_get(vs, "subvs"), j, sub) {
			char subid[16];
			const char *sl[] = { "vs", vsid, "subvs", subid, "name",
					     str(sub, "name"), NULL };

			snprintf(subid, sizeof(subid), "%lld", (long long)num(sub, "id"));
			if (pass == P_SUBVS && figure < TRAFFIC_FIGURES)
				traffic(p, "subvs", sl, sub, figure);
			else if (pass == P_SUBVS && figure == TRAFFIC_FIGURES)
				exlb_prom_sample(p, "exlb_subvs_up", G,
						 "1 when the SubVS status is Up", sl,
						 !strcmp(str(sub, "status"), "Up"));
			else if (pass == P_RS)
				rs_samples(p, vsid, subid, json_object_get(sub, "rs"),
					   figure);
		}
	}
}

/* Each proxy worker's event-loop lag (l7/proxy.c on_lag()). */
static void worker_samples(struct exlb_prom *p, const json_t *workers)
{
	size_t i;
	json_t *w;

	for (int fig = 0; fig < 2; fig++)
		json_array_foreach(workers, i, w) {
			char id[24];
			const char *labels[] = { "worker", id, NULL };

			snprintf(id, sizeof(id), "%zu", i);
			if (!fig)
				exlb_prom_sample(p, "exlb_worker_loop_lag_seconds", G,
						 "how late the worker's 0.25 s timer last fired",
						 labels, json_real_value(json_object_get(w, "lag_seconds")));
			else
				exlb_prom_sample(p, "exlb_worker_loop_lag_max_seconds", G,
						 "the most it was late in the last 10 to 20 s",
						 labels, json_real_value(json_object_get(w, "lag_max_seconds")));
		}
}

/*
 * exlbd --worker-user: the L7 worker process (docs/privsep.md), whether
 * one runs and how often one ended, as status' .proxy.worker_process.
 */
static void worker_process_samples(struct exlb_prom *p, const json_t *wp)
{
	if (!wp)
		return;
	exlb_prom_sample(p, "exlb_proxy_worker_process_up", G,
			 "1 while the L7 worker process runs", NULL,
			 num(wp, "pid") > 0);
	exlb_prom_sample(p, "exlb_proxy_worker_process_exits_total", C,
			 "L7 worker processes that ended (each is restarted)", NULL,
			 num(wp, "exits"));
	exlb_prom_sample(p, "exlb_proxy_worker_process_sigsys_total", C,
			 "of those, killed by their seccomp filter (SIGSYS)", NULL,
			 num(wp, "killed_by_sigsys"));
}

int exlb_admin_metrics(struct exlb_admin *a, char **text, size_t *len)
{
	json_t *req = json_pack("{ss}", "cmd", "status");
	json_t *answer = exlb_ctl_execute(a->store, a->runtime, req);
	const json_t *st = json_object_get(answer, "result");
	const json_t *vss = json_object_get(st, "vs"), *proxy;
	struct exlb_prom p;
	size_t i;
	json_t *rule;

	json_decref(req);
	if (!json_is_true(json_object_get(answer, "ok")) || exlb_prom_open(&p)) {
		json_decref(answer);
		return -1;
	}
	exlb_prom_sample(&p, "exlb_process_start_time_seconds", G,
			 "exlbd's start, seconds since the epoch", NULL,
			 (double)a->started);
	exlb_prom_sample(&p, "exlb_kernel_available", G,
			 "1 when exlb.ko is programmed (the L4 data plane)", NULL,
			 json_is_true(json_object_get(json_object_get(st, "kernel"),
						      "available")));
	for (int f = 0; f < SVC_FIGURES; f++)
		service_pass(&p, vss, P_VS, f);
	for (int f = 0; f < SVC_FIGURES; f++)
		service_pass(&p, vss, P_SUBVS, f);
	for (int f = 0; f < RS_FIGURES; f++)
		service_pass(&p, vss, P_RS, f);
	persist_samples(&p, vss);
	proxy = json_object_get(st, "proxy");
	if (proxy) {
		exlb_prom_sample(&p, "exlb_proxy_fd_limit", G,
				 "descriptors the L7 proxy may use (RLIMIT_NOFILE)", NULL,
				 num(proxy, "fd_limit"));
		exlb_prom_sample(&p, "exlb_proxy_fd_reserve", G,
				 "descriptors left to the main thread", NULL,
				 num(proxy, "fd_reserve"));
		exlb_prom_sample(&p, "exlb_proxy_conns_refused_total", C,
				 "client connections refused for want of descriptors",
				 NULL, num(proxy, "conns_refused"));
		exlb_prom_sample(&p, "exlb_proxy_accept_pauses_total", C,
				 "times the listeners paused accepting", NULL,
				 num(proxy, "accept_pauses"));
		exlb_prom_sample(&p, "exlb_proxy_fd_short_total", C,
				 "descriptor shortages", NULL, num(proxy, "fd_short"));
		exlb_prom_sample(&p, "exlb_proxy_conns_over_limit_total", C,
				 "connections closed by MaxConnsLimit", NULL,
				 num(proxy, "conns_over_limit"));
		exlb_prom_sample(&p, "exlb_proxy_connect_retries_total", C,
				 "requests tried on another real server", NULL,
				 num(proxy, "connect_retries"));
		exlb_prom_sample(&p, "exlb_proxy_ktls_connections_total", C,
				 "client TLS connections relayed with kTLS (either way)",
				 NULL, num(proxy, "ktls_conns"));
		exlb_prom_sample(&p, "exlb_proxy_userspace_tls_connections_total", C,
				 "client TLS connections relayed by OpenSSL", NULL,
				 num(proxy, "userspace_tls_conns"));
		worker_samples(&p, json_object_get(proxy, "workers"));
		worker_process_samples(&p, json_object_get(proxy, "worker_process"));
	}
	json_array_foreach(json_object_get(st, "rules"), i, rule) {
		const char *labels[] = { "rule", str(rule, "name"), NULL };

		exlb_prom_sample(&p, "exlb_rule_limit_hits_total", C,
				 "matches that hit a PCRE2 limit (counted as no match)",
				 labels, num(rule, "limit_hits"));
	}
	exlb_prom_sample(&p, "exlb_admin_auth_failures_total", C,
			 "failed logons on the admin listener", NULL,
			 (double)a->auth_failures);
	exlb_prom_sample(&p, "exlb_admin_rate_limited_total", C,
			 "admin requests refused with 429 (too many failed logons)",
			 NULL, (double)a->rate_limited);
	exlb_prom_sample(&p, "exlb_admin_password_checks_total", C,
			 "password checks run on the hashing thread", NULL,
			 (double)a->auth.hashes);
	exlb_prom_sample(&p, "exlb_admin_password_checks_refused_total", C,
			 "logons answered 503: the hashing queue was full", NULL,
			 (double)a->hash_busy);
	exlb_prom_sample(&p, "exlb_admin_connections_active", G,
			 "open admin listener connections", NULL,
			 (double)a->nr_conns);
	json_decref(answer);
	if (exlb_prom_close(&p)) {
		free(p.text);
		return -1;
	}
	*text = p.text;
	*len = p.len;
	return 0;
}
