// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Kemp's RESTful API on the admin listener (docs/kemp-api.md):
 * /access/<command>?vs=...&port=...&prot=...&rs=...&rsport=...&Param=Value
 * answered in Kemp's XML. This file only translates: a Kemp request
 * becomes the control socket's request ({"cmd": "vs.add", "args": ...})
 * and runs through exlb_ctl_execute(), the very function exlbctl's requests
 * run through -- the same checks, the same atomic commit, the same log
 * line. Its answer (or error) is then written as Kemp writes it.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "admin_int.h"
#include "config/hex.h"
#include "config/params.h"
#include "ctl/ctl.h"
#include "kemp_xml.h"

#define KEMP_MAX_ARGS	64
#define KEMP_OK_TEXT	"Command completed ok"

struct kemp_rq {
	struct exlb_admin *a;
	char *key[KEMP_MAX_ARGS], *value[KEMP_MAX_ARGS];
	bool used[KEMP_MAX_ARGS];
	size_t nr;
	const char *body;
	size_t body_len;
	FILE *f;			/* what goes inside <Success> */
	int status;			/* 200, or the error's */
	char error[600];
};

static int kemp_fail(struct kemp_rq *rq, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int kemp_fail(struct kemp_rq *rq, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rq->error, sizeof(rq->error), fmt, ap);
	va_end(ap);
	rq->status = status;
	return -1;
}

/* ---- the query string ---- */

/* %XX and '+' decoded in place; false for a bad escape or a NUL. */
static bool url_decode(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (*s == '+') {
			*out++ = ' ';
		} else if (*s == '%') {
			int hi = exlb_hex_digit(s[1]);
			int lo = hi < 0 ? -1 : exlb_hex_digit(s[2]);

			if (lo < 0 || (hi == 0 && lo == 0))
				return false;
			*out++ = (char)(hi << 4 | lo);
			s += 2;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
	return true;
}

static int parse_query(struct kemp_rq *rq, const char *query)
{
	char *copy, *save = NULL, *item;

	if (!query || !*query)
		return 0;
	copy = strdup(query);
	if (!copy)
		return kemp_fail(rq, 500, "out of memory");
	for (item = strtok_r(copy, "&", &save); item;
	     item = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(item, '=');

		if (eq)
			*eq = '\0';
		if (!url_decode(item) || (eq && !url_decode(eq + 1))) {
			free(copy);
			return kemp_fail(rq, 400, "Malformed parameter encoding");
		}
		if (!*item)
			continue;
		for (size_t i = 0; i < rq->nr; i++)
			if (!strcasecmp(rq->key[i], item)) {
				kemp_fail(rq, 422, "Parameter %s given twice", item);
				free(copy);
				return -1;
			}
		if (rq->nr == KEMP_MAX_ARGS) {
			free(copy);
			return kemp_fail(rq, 422, "Too many parameters");
		}
		rq->key[rq->nr] = strdup(item);
		rq->value[rq->nr] = strdup(eq ? eq + 1 : "");
		if (!rq->key[rq->nr++] || !rq->value[rq->nr - 1]) {
			free(copy);
			return kemp_fail(rq, 500, "out of memory");
		}
	}
	free(copy);
	return 0;
}

/* The value of parameter @name (any case), marked as consumed; NULL if absent. */
static const char *arg(struct kemp_rq *rq, const char *name)
{
	for (size_t i = 0; i < rq->nr; i++)
		if (!strcasecmp(rq->key[i], name)) {
			rq->used[i] = true;
			return rq->value[i];
		}
	return NULL;
}

/* Every parameter not consumed: the Key=Value parameters of the change. */
static json_t *rest_params(struct kemp_rq *rq)
{
	json_t *params = json_object();

	for (size_t i = 0; i < rq->nr && params; i++)
		if (!rq->used[i])
			json_object_set_new(params, rq->key[i],
					    json_string(rq->value[i]));
	return params;
}

/* ---- the control request ---- */

/*
 * Runs control command @cmd with @args (taken; NULL: out of memory) as
 * exlbctl would: the answer
 * object on success (the caller drops it), NULL with the error set.
 */
static json_t *run(struct kemp_rq *rq, const char *cmd, json_t *args)
{
	json_t *req = args ? json_pack("{ssso}", "cmd", cmd, "args", args) : NULL;
	json_t *answer;

	/* a json_pack() that failed (no memory) never runs as "no arguments" */
	if (!req) {
		kemp_fail(rq, 500, "out of memory");
		return NULL;
	}
	answer = exlb_ctl_execute(rq->a->store, rq->a->runtime, req);
	json_decref(req);
	if (!answer) {
		kemp_fail(rq, 500, "out of memory");
		return NULL;
	}
	if (!json_is_true(json_object_get(answer, "ok"))) {
		kemp_fail(rq, 422, "%s", json_string_value(
			json_object_get(answer, "error")) ?: "failed");
		json_decref(answer);
		return NULL;
	}
	return answer;
}

static json_t *result_of(json_t *answer)
{
	return json_object_get(answer, "result");
}

/* An address as it goes before ":PORT": IPv6 in brackets. */
static void addr_port(const char *addr, const char *port, char *buf, size_t n)
{
	if (strchr(addr, ':'))
		snprintf(buf, n, "[%s]:%s", addr, port);
	else
		snprintf(buf, n, "%s:%s", addr, port);
}

/*
 * The service Kemp names as vs=INDEX, or vs=VIP&port=PORT[&prot=tcp], as
 * the control socket names it: "INDEX" or "VIP:PORT".
 */
static int vs_ref(struct kemp_rq *rq, char *buf, size_t n)
{
	const char *vs = arg(rq, "vs"), *port = arg(rq, "port");
	const char *prot = arg(rq, "prot");

	if (!vs || !*vs)
		return kemp_fail(rq, 422, "Missing parameter: vs");
	if (strspn(vs, "0123456789") == strlen(vs)) {
		snprintf(buf, n, "%s", vs);
		return 0;
	}
	if (!port || !*port)
		return kemp_fail(rq, 422, "Missing parameter: port (vs is an address)");
	if (prot && strcasecmp(prot, "tcp"))
		return kemp_fail(rq, 422, "Unknown VS: exlb serves tcp only (prot=%s)", prot);
	addr_port(vs, port, buf, n);
	return 0;
}

/* The RS Kemp names as rs=!RSINDEX or rs=ADDR[&rsport=PORT]. */
static int rs_ref(struct kemp_rq *rq, char *buf, size_t n)
{
	const char *rs = arg(rq, "rs"), *port = arg(rq, "rsport");

	if (!rs || !*rs)
		return kemp_fail(rq, 422, "Missing parameter: rs");
	if (rs[0] == '!') {
		const struct exlb_rs *r = NULL;

		if (rs[1] && strspn(rs + 1, "0123456789") == strlen(rs + 1))
			r = exlb_rs_by_id(rq->a->store->config,
					  (uint32_t)strtoul(rs + 1, NULL, 10));
		if (!r)
			return kemp_fail(rq, 422, "Unknown real server %s", rs);
		exlb_addr_port_format(&r->addr, r->port, buf, n);
		return 0;
	}
	if (port && *port)
		addr_port(rs, port, buf, n);
	else
		snprintf(buf, n, "%s", rs);
	return 0;
}

/* ---- writing what the control socket answered, Kemp's way ---- */

static long long jint(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

static const char *jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key)) ?: "";
}

/* Kemp's RS status: Up, Down, Disabled. */
static const char *rs_status(const json_t *status_rs)
{
	if (!jint(status_rs, "enable"))
		return "Disabled";
	return !strcmp(jstr(status_rs, "health"), "up") ||
	       json_is_true(json_object_get(status_rs, "serving")) ? "Up" : "Down";
}

/*
 * The runtime side of the VSs ("status"): service id -> its status object,
 * RS id -> its status object; both keyed by the id in decimal.
 */
struct kemp_status {
	json_t *answer, *svc, *rs;
};

static void status_index(struct kemp_status *st, json_t *list)
{
	size_t i, j;
	json_t *s, *r;
	char id[24];

	json_array_foreach(list, i, s) {
		snprintf(id, sizeof(id), "%lld", jint(s, "id"));
		json_object_set(st->svc, id, s);
		json_array_foreach(json_object_get(s, "rs"), j, r) {
			snprintf(id, sizeof(id), "%lld", jint(r, "id"));
			json_object_set(st->rs, id, r);
		}
		status_index(st, json_object_get(s, "subvs"));
	}
}

static int status_get(struct kemp_rq *rq, struct kemp_status *st)
{
	st->answer = run(rq, "status", json_object());
	if (!st->answer)
		return -1;
	st->svc = json_object();
	st->rs = json_object();
	status_index(st, json_object_get(result_of(st->answer), "vs"));
	return 0;
}

static void status_put(struct kemp_status *st)
{
	json_decref(st->answer);
	json_decref(st->svc);
	json_decref(st->rs);
}

static json_t *status_of(json_t *map, long long id)
{
	char key[24];

	snprintf(key, sizeof(key), "%lld", id);
	return json_object_get(map, key);
}

static void xml_rs(FILE *f, const char *tag, const json_t *rs, long long vs_id,
		   struct kemp_status *st)
{
	json_t *s = status_of(st->rs, jint(rs, "id"));

	fprintf(f, "<%s>", tag);
	exlb_xml_elem(f, "Status", s ? rs_status(s) : "Down");
	exlb_xml_elem_u64(f, "VSIndex", (uint64_t)vs_id);
	exlb_xml_elem_u64(f, "RsIndex", (uint64_t)jint(rs, "id"));
	exlb_xml_elem(f, "Addr", jstr(rs, "addr"));
	exlb_xml_elem_u64(f, "Port", (uint64_t)jint(rs, "port"));
	exlb_xml_elem(f, "Forward", jstr(rs, "forward"));
	exlb_xml_elem_u64(f, "Weight", (uint64_t)jint(rs, "weight"));
	exlb_xml_elem_u64(f, "Limit", (uint64_t)jint(rs, "limit"));
	exlb_xml_elem_yn(f, "Enable", jint(rs, "enable"));
	exlb_xml_elem_yn(f, "Critical", jint(rs, "critical"));
	fprintf(f, "</%s>", tag);
}

static void xml_int(FILE *f, const char *name, long long value)
{
	char text[24];

	snprintf(text, sizeof(text), "%lld", value);
	exlb_xml_elem(f, name, text);
}

/* The keys of a service object that are not Kemp parameters. */
static bool own_key(const char *key)
{
	static const char *const own[] = {
		"id", "parent", "vip", "port", "prot", "rs", "subvs",
		"certificate", "health_timing", "request_rules", "response_rules",
		"rules", "template", "created", NULL,
	};

	for (size_t i = 0; own[i]; i++)
		if (!strcmp(key, own[i]))
			return true;
	return false;
}

/*
 * A VS or SubVS as Kemp's showvs writes it: Status, Index, address, then
 * every parameter under its Kemp name (booleans as Y/N), its SubVSs and
 * its real servers.
 */
static void xml_service(FILE *f, const json_t *svc, long long master,
			struct kemp_status *st)
{
	json_t *s = status_of(st->svc, jint(svc, "id")), *value, *item;
	const json_t *subvs = json_object_get(svc, "subvs");
	const char *key;
	size_t i;

	exlb_xml_elem(f, "Status", s ? jstr(s, "status") : "Down");
	exlb_xml_elem_u64(f, "Index", (uint64_t)jint(svc, "id"));
	if (!master) {
		exlb_xml_elem(f, "VSAddress", jstr(svc, "vip"));
		exlb_xml_elem_u64(f, "VSPort", (uint64_t)jint(svc, "port"));
		exlb_xml_elem(f, "Protocol", jstr(svc, "prot"));
		if (s)
			exlb_xml_elem(f, "Layer", jstr(s, "layer"));
	} else {
		exlb_xml_elem_u64(f, "VSPort", 0);
	}
	json_object_foreach((json_t *)svc, key, value) {
		const struct exlb_param *p;

		if (own_key(key))
			continue;
		p = exlb_param_find(key, EXLB_SCOPE_SERVICE, NULL);
		if (json_is_integer(value) && p && p->type == EXLB_PT_BOOL)
			exlb_xml_elem_yn(f, key, json_integer_value(value));
		else if (json_is_integer(value))
			xml_int(f, key, json_integer_value(value));
		else if (json_is_string(value))
			exlb_xml_elem(f, key, json_string_value(value));
	}
	exlb_xml_elem_u64(f, "MasterVS", json_array_size(subvs) ? 1 : 0);
	exlb_xml_elem_u64(f, "MasterVSID", (uint64_t)master);
	exlb_xml_elem_u64(f, "NumberOfRSs",
			  json_array_size(json_object_get(svc, "rs")));
	json_array_foreach(subvs, i, item) {
		json_t *ss = status_of(st->svc, jint(item, "id"));

		fputs("<SubVS>", f);
		exlb_xml_elem(f, "Status", ss ? jstr(ss, "status") : "Down");
		exlb_xml_elem_u64(f, "VSIndex", (uint64_t)jint(item, "id"));
		exlb_xml_elem(f, "Name", jstr(item, "NickName"));
		exlb_xml_elem_yn(f, "Enable", jint(item, "Enable"));
		fputs("</SubVS>", f);
	}
	json_array_foreach(json_object_get(svc, "rs"), i, item)
		xml_rs(f, "Rs", item, jint(svc, "id"), st);
}

/* showvs's <Data>: the service @ref ("INDEX" or "VIP:PORT"). */
static int write_service(struct kemp_rq *rq, const char *ref)
{
	struct kemp_status st;
	json_t *answer;

	if (status_get(rq, &st))
		return -1;
	answer = run(rq, "vs.show", json_pack("{ss}", "vs", ref));
	if (answer) {
		json_t *svc = result_of(answer);

		fputs("<Data>", rq->f);
		xml_service(rq->f, svc, json_integer_value(
				    json_object_get(svc, "parent")), &st);
		fputs("</Data>", rq->f);
	}
	json_decref(answer);
	status_put(&st);
	return answer ? 0 : -1;
}

/* ---- the commands ---- */

static int k_listvs(struct kemp_rq *rq)
{
	struct kemp_status st;
	json_t *answer, *svc, *sub;
	size_t i, j;

	if (status_get(rq, &st))
		return -1;
	answer = run(rq, "vs.show", json_object());
	if (!answer) {
		status_put(&st);
		return -1;
	}
	/* Kemp lists the SubVSs as VSs of their own, after their VS */
	fputs("<Data>", rq->f);
	json_array_foreach(result_of(answer), i, svc) {
		fputs("<VS>", rq->f);
		xml_service(rq->f, svc, 0, &st);
		fputs("</VS>", rq->f);
		json_array_foreach(json_object_get(svc, "subvs"), j, sub) {
			fputs("<VS>", rq->f);
			xml_service(rq->f, sub, jint(svc, "id"), &st);
			fputs("</VS>", rq->f);
		}
	}
	fputs("</Data>", rq->f);
	json_decref(answer);
	status_put(&st);
	return 0;
}

static int k_showvs(struct kemp_rq *rq)
{
	char ref[300];

	return vs_ref(rq, ref, sizeof(ref)) ? -1 : write_service(rq, ref);
}

/* addvs; with template=NAME it is Kemp's "Use Template" (docs/templates.md). */
static int k_addvs(struct kemp_rq *rq)
{
	const char *vs = arg(rq, "vs"), *port = arg(rq, "port");
	const char *prot = arg(rq, "prot");
	json_t *args, *answer;
	char id[24];

	if (!vs || !*vs)
		return kemp_fail(rq, 422, "Missing parameter: vs");
	args = json_pack("{ss}", "vip", vs);
	if (!args)
		return kemp_fail(rq, 500, "out of memory");
	if (port)
		json_object_set_new(args, "port", json_string(port));
	if (prot)
		json_object_set_new(args, "prot", json_string(prot));
	json_object_set_new(args, "params", rest_params(rq));
	answer = run(rq, "vs.add", args);
	if (!answer)
		return -1;
	snprintf(id, sizeof(id), "%lld", jint(result_of(answer), "id"));
	json_decref(answer);
	return write_service(rq, id);
}

/*
 * modvs; with createsubvs= it adds a SubVS to the VS instead (Kemp's way),
 * the other parameters being the SubVS's, and answers with the VS.
 */
static int k_modvs(struct kemp_rq *rq)
{
	char ref[300], id[24];
	bool subvs = arg(rq, "createsubvs") != NULL;
	json_t *answer;

	if (vs_ref(rq, ref, sizeof(ref)))
		return -1;
	answer = run(rq, subvs ? "subvs.add" : "vs.mod",
		     json_pack("{ssso}", "vs", ref, "params", rest_params(rq)));
	if (!answer)
		return -1;
	/* by index: a changed VSAddress or VSPort would not find it again */
	snprintf(id, sizeof(id), "%lld", jint(result_of(answer),
					       subvs ? "parent" : "id"));
	json_decref(answer);
	return write_service(rq, id);
}

static int reply_ok(struct kemp_rq *rq, json_t *answer)
{
	if (!answer)
		return -1;
	json_decref(answer);
	fputs(KEMP_OK_TEXT, rq->f);
	return 0;
}

static int k_delvs(struct kemp_rq *rq)
{
	char ref[300];

	if (vs_ref(rq, ref, sizeof(ref)))
		return -1;
	return reply_ok(rq, run(rq, "vs.del", json_pack("{ss}", "vs", ref)));
}

/* showrs: the real servers of a service, or the one rs= names. */
static int k_showrs(struct kemp_rq *rq)
{
	char ref[300], want[300] = "";
	const struct exlb_service *svc;
	struct kemp_status st;
	struct exlb_err err;
	json_t *answer, *rs;
	size_t i, shown = 0;

	if (vs_ref(rq, ref, sizeof(ref)) ||
	    (arg(rq, "rs") && rs_ref(rq, want, sizeof(want))))
		return -1;
	if (status_get(rq, &st))
		return -1;
	answer = run(rq, "rs.show", json_pack("{ss}", "vs", ref));
	/* found by rs.show just now: its index for VSIndex */
	svc = answer ? exlb_service_find(rq->a->store->config, ref, &err) : NULL;
	if (!svc) {
		json_decref(answer);
		status_put(&st);
		return answer ? kemp_fail(rq, 422, "%s", err.msg) : -1;
	}
	fputs("<Data>", rq->f);
	json_array_foreach(result_of(answer), i, rs) {
		char addr[300], port[16];

		snprintf(port, sizeof(port), "%lld", jint(rs, "port"));
		addr_port(jstr(rs, "addr"), port, addr, sizeof(addr));
		if (want[0] && strcmp(want, addr) && strcmp(want, jstr(rs, "addr")))
			continue;
		xml_rs(rq->f, "Rs", rs, svc->id, &st);
		shown++;
	}
	fputs("</Data>", rq->f);
	json_decref(answer);
	status_put(&st);
	if (want[0] && !shown)
		return kemp_fail(rq, 422, "Unknown real server %s", want);
	return 0;
}

static int k_addrs(struct kemp_rq *rq)
{
	char ref[300];
	const char *rs;

	if (vs_ref(rq, ref, sizeof(ref)))
		return -1;
	rs = arg(rq, "rs");
	if (!rs || !*rs)
		return kemp_fail(rq, 422, "Missing parameter: rs");
	/* rsport stays a parameter: the RS's port (an alias of port) */
	return reply_ok(rq, run(rq, "rs.add", json_pack("{ssssso}", "vs", ref,
			"rs", rs, "params", rest_params(rq))));
}

/* modrs, delrs, enablers, disablers: one RS of one service. */
static int rs_command(struct kemp_rq *rq, const char *cmd, bool params)
{
	char ref[300], rs[300];
	json_t *args;

	if (!arg(rq, "vs"))
		return kemp_fail(rq, 422, "Missing parameter: vs (exlb changes a real server per VS)");
	if (vs_ref(rq, ref, sizeof(ref)) || rs_ref(rq, rs, sizeof(rs)))
		return -1;
	args = json_pack("{ssss}", "vs", ref, "rs", rs);
	if (params && args)
		json_object_set_new(args, "params", rest_params(rq));
	return reply_ok(rq, run(rq, cmd, args));
}

static int k_modrs(struct kemp_rq *rq)
{
	return rs_command(rq, "rs.mod", true);
}

static int k_delrs(struct kemp_rq *rq)
{
	return rs_command(rq, "rs.del", false);
}

static int k_enablers(struct kemp_rq *rq)
{
	return rs_command(rq, "rs.enable", false);
}

static int k_disablers(struct kemp_rq *rq)
{
	return rs_command(rq, "rs.disable", false);
}

static int k_get(struct kemp_rq *rq)
{
	const char *param = arg(rq, "param"), *key;
	json_t *answer, *value;

	if (!param || !*param)
		return kemp_fail(rq, 422, "Missing parameter: param");
	answer = run(rq, "get", json_pack("{ss}", "param", param));
	if (!answer)
		return -1;
	/* under the name asked for, as Kemp does (it is a known name) */
	fputs("<Data>", rq->f);
	json_object_foreach(result_of(answer), key, value) {
		const char *name = exlb_xml_name_ok(param) ? param : key;

		if (json_is_integer(value))
			xml_int(rq->f, name, json_integer_value(value));
		else
			exlb_xml_elem(rq->f, name, json_string_value(value));
	}
	fputs("</Data>", rq->f);
	json_decref(answer);
	return 0;
}

static int k_set(struct kemp_rq *rq)
{
	const char *param = arg(rq, "param"), *value = arg(rq, "value");

	if (!param || !*param)
		return kemp_fail(rq, 422, "Missing parameter: param");
	if (!value)
		return kemp_fail(rq, 422, "Missing parameter: value");
	return reply_ok(rq, run(rq, "set", json_pack("{ssss}", "param", param,
						     "value", value)));
}

static void xml_counters(FILE *f, const json_t *c)
{
	exlb_xml_elem_u64(f, "TotalConns", (uint64_t)jint(c, "conns"));
	exlb_xml_elem_u64(f, "ActiveConns", (uint64_t)jint(c, "active"));
	exlb_xml_elem_u64(f, "TotalPkts",
			  (uint64_t)(jint(c, "pkts_in") + jint(c, "pkts_out")));
	exlb_xml_elem_u64(f, "TotalBytes",
			  (uint64_t)(jint(c, "bytes_in") + jint(c, "bytes_out")));
	exlb_xml_elem_u64(f, "BytesRead", (uint64_t)jint(c, "bytes_in"));
	exlb_xml_elem_u64(f, "BytesWritten", (uint64_t)jint(c, "bytes_out"));
}

static void xml_stats_vs(FILE *f, const json_t *vs, const struct exlb_config *cfg)
{
	const struct exlb_service *svc = exlb_service_by_id(cfg, (uint32_t)jint(vs, "id"));
	json_t *item;
	size_t i;

	fputs("<Vs>", f);
	exlb_xml_elem_u64(f, "Index", (uint64_t)jint(vs, "id"));
	exlb_xml_elem(f, "VSAddress", jstr(vs, "vip"));
	exlb_xml_elem_u64(f, "VSPort", (uint64_t)jint(vs, "port"));
	exlb_xml_elem(f, "VSProt", jstr(vs, "prot"));
	exlb_xml_elem(f, "NickName", jstr(vs, "name"));
	exlb_xml_elem(f, "Status", jstr(vs, "status"));
	xml_counters(f, vs);
	exlb_xml_elem_u64(f, "Enable", svc && svc->enable);
	fputs("</Vs>", f);
	json_array_foreach(json_object_get(vs, "subvs"), i, item)
		xml_stats_vs(f, item, cfg);
}

static void xml_stats_rs(FILE *f, const json_t *vs)
{
	json_t *item;
	size_t i;

	json_array_foreach(json_object_get(vs, "rs"), i, item) {
		fputs("<Rs>", f);
		exlb_xml_elem_u64(f, "VSIndex", (uint64_t)jint(vs, "id"));
		exlb_xml_elem_u64(f, "RSIndex", (uint64_t)jint(item, "id"));
		exlb_xml_elem(f, "Addr", jstr(item, "addr"));
		exlb_xml_elem_u64(f, "Port", (uint64_t)jint(item, "port"));
		exlb_xml_elem_u64(f, "Conns", (uint64_t)jint(item, "active"));
		xml_counters(f, item);
		exlb_xml_elem_u64(f, "Weight", (uint64_t)jint(item, "weight"));
		exlb_xml_elem_u64(f, "Enable", (uint64_t)jint(item, "enable"));
		exlb_xml_elem(f, "Status", rs_status(item));
		exlb_xml_elem(f, "Reason", jstr(item, "reason"));
		fputs("</Rs>", f);
	}
	json_array_foreach(json_object_get(vs, "subvs"), i, item)
		xml_stats_rs(f, item);
}

/* stats: Kemp's VStotals, Vs and Rs counters (no CPU, memory or rates). */
static int k_stats(struct kemp_rq *rq)
{
	json_t *answer = run(rq, "stats", json_object()), *all, *vs;
	size_t i;

	if (!answer)
		return -1;
	all = result_of(answer);
	fputs("<Data><VStotals>", rq->f);
	xml_counters(rq->f, all);
	fputs("</VStotals>", rq->f);
	json_array_foreach(json_object_get(all, "vs"), i, vs)
		xml_stats_vs(rq->f, vs, rq->a->store->config);
	json_array_foreach(json_object_get(all, "vs"), i, vs)
		xml_stats_rs(rq->f, vs);
	fputs("</Data>", rq->f);
	json_decref(answer);
	return 0;
}

static int k_listcert(struct kemp_rq *rq)
{
	json_t *answer = run(rq, "cert.list", json_object()), *c, *user;
	size_t i, j;
	char type[32];

	if (!answer)
		return -1;
	fputs("<Data>", rq->f);
	json_array_foreach(result_of(answer), i, c) {
		fputs("<cert>", rq->f);
		exlb_xml_elem(rq->f, "name", jstr(c, "name"));
		/* "RSA 2048": Kemp's type is the algorithm */
		snprintf(type, sizeof(type), "%.*s", (int)strcspn(jstr(c, "key"), " "),
			 jstr(c, "key"));
		exlb_xml_elem(rq->f, "type", type);
		exlb_xml_elem(rq->f, "key", jstr(c, "key"));
		exlb_xml_elem(rq->f, "cn", jstr(c, "cn"));
		exlb_xml_elem(rq->f, "subject", jstr(c, "subject"));
		exlb_xml_elem(rq->f, "issuer", jstr(c, "issuer"));
		exlb_xml_elem(rq->f, "notAfter", jstr(c, "notAfter"));
		exlb_xml_elem(rq->f, "sha256", jstr(c, "sha256"));
		if (json_object_get(c, "error"))
			exlb_xml_elem(rq->f, "error", jstr(c, "error"));
		json_array_foreach(json_object_get(c, "used_by"), j, user)
			exlb_xml_elem(rq->f, "usedby", json_string_value(user));
		fputs("</cert>", rq->f);
	}
	fputs("</Data>", rq->f);
	json_decref(answer);
	return 0;
}

/*
 * addcert?cert=NAME[&replace=1], the file as the request body (curl
 * --data-binary @file): PEM with the certificate (and chain) and its
 * unencrypted key. A .pfx or a password is refused, not half-read.
 */
static int k_addcert(struct kemp_rq *rq)
{
	const char *name = arg(rq, "cert"), *replace = arg(rq, "replace");
	const char *password = arg(rq, "password");
	json_t *args;
	char *pem;
	int ret;

	if (!name || !*name)
		return kemp_fail(rq, 422, "Missing parameter: cert");
	if (password && *password)
		return kemp_fail(rq, 422, "password: exlb's API takes an unencrypted PEM key; import a .pfx with exlbctl cert add");
	if (!rq->body_len)
		return kemp_fail(rq, 422, "No certificate data: POST the PEM file as the request body");
	if (memchr(rq->body, '\0', rq->body_len) || !memmem(rq->body, rq->body_len,
							    "-----BEGIN ", 11))
		return kemp_fail(rq, 422, "The certificate data is not PEM (a .pfx? import it with exlbctl cert add)");
	pem = strndup(rq->body, rq->body_len);
	if (!pem)
		return kemp_fail(rq, 500, "out of memory");
	/* one file holds both: the parser takes the certificate and the key */
	args = json_pack("{ssssss}", "name", name, "cert", pem, "key", pem);
	if (replace && args)
		json_object_set_new(args, "replace", json_string(replace));
	ret = reply_ok(rq, run(rq, "cert.add", args));
	explicit_bzero(pem, rq->body_len);
	free(pem);
	return ret;
}

struct kemp_command {
	const char *name;
	int (*run)(struct kemp_rq *rq);
	unsigned int role;		/* the least role that may use it */
};

static const struct kemp_command commands[] = {
	{ "listvs", k_listvs, EXLB_ROLE_READONLY },
	{ "showvs", k_showvs, EXLB_ROLE_READONLY },
	{ "addvs", k_addvs, EXLB_ROLE_ADMIN },
	{ "modvs", k_modvs, EXLB_ROLE_ADMIN },
	{ "delvs", k_delvs, EXLB_ROLE_ADMIN },
	{ "showrs", k_showrs, EXLB_ROLE_READONLY },
	{ "addrs", k_addrs, EXLB_ROLE_ADMIN },
	{ "modrs", k_modrs, EXLB_ROLE_ADMIN },
	{ "delrs", k_delrs, EXLB_ROLE_ADMIN },
	{ "enablers", k_enablers, EXLB_ROLE_ADMIN },
	{ "disablers", k_disablers, EXLB_ROLE_ADMIN },
	{ "get", k_get, EXLB_ROLE_READONLY },
	{ "set", k_set, EXLB_ROLE_ADMIN },
	{ "stats", k_stats, EXLB_ROLE_READONLY },
	{ "listcert", k_listcert, EXLB_ROLE_READONLY },
	{ "addcert", k_addcert, EXLB_ROLE_ADMIN },
	{ NULL, NULL, 0 },
};

/* The whole reply: Kemp's envelope around @rq's success or error. */
static int envelope(struct kemp_rq *rq, const char *success, size_t len,
		    char **xml, size_t *xml_len)
{
	FILE *f = open_memstream(xml, xml_len);

	if (!f)
		return -1;
	fputs(EXLB_KEMP_XML_DECL, f);
	if (rq->status == 200) {
		fputs("<Response stat=\"200\" code=\"ok\">\n<Success>", f);
		fwrite(success, 1, len, f);
		fputs("</Success>\n</Response>\n", f);
	} else {
		fprintf(f, "<Response stat=\"%d\" code=\"fail\">\n<Error>", rq->status);
		exlb_xml_text(f, rq->error);
		fputs("</Error>\n</Response>\n", f);
	}
	return fclose(f) ? -1 : 0;
}

int exlb_kemp_api(struct exlb_admin *a, unsigned int role, const char *who,
		  const char *command, const char *query, const char *body,
		  size_t body_len, int *status, char **xml, size_t *xml_len)
{
	struct kemp_rq rq = { .a = a, .body = body, .body_len = body_len,
			      .status = 200 };
	const struct kemp_command *cmd = NULL;
	char *success = NULL;
	size_t len = 0;
	int ret;

	for (size_t i = 0; commands[i].name; i++)
		if (!strcmp(commands[i].name, command))
			cmd = &commands[i];
	if (!cmd) {
		kemp_fail(&rq, 400, "Unknown command");
	} else if (role < cmd->role) {
		kemp_fail(&rq, 403, "Permission denied: %s needs the admin role", cmd->name);
	} else if (cmd->role == EXLB_ROLE_ADMIN && a->frozen) {
		kemp_fail(&rq, 503, "%s", a->frozen);
	} else if (!parse_query(&rq, query)) {
		arg(&rq, "apikey");	/* authentication's, not the command's */
		rq.f = open_memstream(&success, &len);
		if (!rq.f) {
			kemp_fail(&rq, 500, "out of memory");
		} else {
			if (cmd->role == EXLB_ROLE_ADMIN)
				exlb_log(LOG_INFO, "admin: %s: Kemp API %s", who,
					 cmd->name);
			if (cmd->run(&rq) && rq.status == 200)
				kemp_fail(&rq, 500, "failed");
			if (fclose(rq.f))
				kemp_fail(&rq, 500, "out of memory");
		}
	}
	*status = rq.status;
	ret = envelope(&rq, success ? success : "", len, xml, xml_len);
	free(success);
	for (size_t i = 0; i < rq.nr; i++) {
		free(rq.key[i]);
		free(rq.value[i]);
	}
	return ret;
}
