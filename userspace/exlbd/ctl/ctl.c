// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The control socket of exlbd (see ctl.h): the libev server that frames
 * newline-delimited JSON for any number of clients without blocking, and the
 * command table that turns a request into operations on the model.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "config/certs.h"
#include "config/config.h"
#include "config/credentials.h"
#include "l7/content.h"
#include "ctl.h"
#include "config/params.h"
#include "config/template.h"
#include "ha/ha.h"
#include "ha/sync.h"

/* ---- commands ---- */

struct request {
	struct exlb_store *store;
	struct exlb_runtime *runtime;
	const json_t *args;
	struct exlb_config *cfg;	/* a copy for changing commands */
	json_t *result;
	char what[512];			/* log line of the change */
	struct exlb_err err;
	/* certificate files: kept or undone by the commit's outcome */
	struct exlb_cert_txn *cert_txn;
	char remove_cert[EXLB_CERT_NAME_SIZE];	/* files to drop after it */
};

static const char *arg_str(const struct request *rq, const char *name)
{
	json_t *v = json_object_get(rq->args, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *arg_params(const struct request *rq)
{
	return json_object_get(rq->args, "params");
}

static int need_arg(struct request *rq, const char *name, const char **out)
{
	*out = arg_str(rq, name);
	if (!*out)
		return exlb_err_set(&rq->err, "missing argument '%s'", name);
	return 0;
}

/* "Schedule=rr Idletime=1800" for the log line. */
static void describe_params(const json_t *params, char *buf, size_t n)
{
	const char *key;
	json_t *value;
	size_t len = 0;

	buf[0] = 0;
	json_object_foreach((json_t *)params, key, value) {
		char num[32];
		const char *text = json_is_string(value) ? json_string_value(value) :
				   (snprintf(num, sizeof(num), "%lld",
					     (long long)json_integer_value(value)), num);
		const struct exlb_param *p = exlb_param_find(key, ~0U, NULL);

		/* a service account's password never reaches the log */
		if (p && (p->flags & EXLB_PF_SECRET))
			text = "(secret)";

		if (len < n)
			len += snprintf(buf + len, n - len, " %s=%s", key, text);
	}
}

static struct exlb_service *arg_service(struct request *rq, const char *name,
					unsigned int kinds)
{
	const char *text;
	struct exlb_service *svc;
	char label[EXLB_NICKNAME_SIZE];

	if (need_arg(rq, name, &text))
		return NULL;
	svc = exlb_service_find(rq->cfg, text, &rq->err);
	if (!svc)
		return NULL;
	if (!(kinds & (exlb_service_is_subvs(svc) ? EXLB_SCOPE_SUBVS :
						     EXLB_SCOPE_VS))) {
		exlb_service_label(svc, label, sizeof(label));
		exlb_err_set(&rq->err, "%s is a %s, not a %s", label,
			     exlb_service_is_subvs(svc) ? "SubVS" : "VS",
			     exlb_service_is_subvs(svc) ? "VS" : "SubVS");
		return NULL;
	}
	return svc;
}

/* ---- templates (template.c, docs/templates.md) ---- */

static int arg_bool(struct request *rq, const char *name, bool *out);

/* The "template" key of vs add's parameters: Kemp's addvs template=NAME. */
static const char *params_template(const json_t *params)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)params, key, value)
		if (!strcasecmp(key, "template"))
			return json_is_string(value) ? json_string_value(value) : "";
	return NULL;
}

/*
 * Applies template @name at @vip to the request's copy: all its VSs or,
 * on any error, none (the copy is dropped). *main_id is the main VS.
 */
static int apply_template(struct request *rq, const char *name,
			  const char *vip, const char *port,
			  const json_t *rs_list, const char *cert,
			  json_t *params, uint32_t *main_id)
{
	const char *rs[EXLB_SERVICE_MAX_RS];
	uint32_t ids[EXLB_TEMPLATE_MAX_VS];
	size_t nr_rs = 0, nr = 0, i, len;
	char label[EXLB_NICKNAME_SIZE];
	json_t *tmpl, *item, *list;
	int ret;

	if (rs_list && !json_is_array(rs_list))
		return exlb_err_set(&rq->err, "rs: must be an array of addresses");
	json_array_foreach(rs_list, i, item) {
		if (!json_is_string(item) || nr_rs >= EXLB_SERVICE_MAX_RS)
			return exlb_err_set(&rq->err,
					    "rs: must be up to %d addresses (ADDR or ADDR:PORT)",
					    EXLB_SERVICE_MAX_RS);
		rs[nr_rs++] = json_string_value(item);
	}
	tmpl = exlb_template_find(rq->store->state_dir, name, &rq->err);
	if (!tmpl)
		return -1;
	{
		struct exlb_template_target target = {
			.vip = vip, .port = port, .rs = rs, .nr_rs = nr_rs,
			.cert = cert, .params = params,
		};

		ret = exlb_template_apply(rq->cfg, tmpl, &target, ids, &nr,
					  main_id, &rq->err);
	}
	if (ret) {
		json_decref(tmpl);
		return -1;
	}
	len = snprintf(rq->what, sizeof(rq->what), "template '%s' applied at %s:",
		       json_string_value(json_object_get(tmpl, "name")), vip);
	list = json_array();
	for (i = 0; i < nr; i++) {
		const struct exlb_service *vs = exlb_service_by_id(rq->cfg, ids[i]);

		if (len < sizeof(rq->what))
			len += snprintf(rq->what + len, sizeof(rq->what) - len,
					"%s vs %u (%s, port %u, %zu SubVSs)",
					i ? "," : "", vs->id,
					exlb_service_label(vs, label, sizeof(label)),
					vs->port, exlb_service_nr_subvs(rq->cfg, vs->id));
		json_array_append_new(list, exlb_service_to_json(rq->cfg, vs));
	}
	if (len < sizeof(rq->what))
		snprintf(rq->what + len, sizeof(rq->what) - len,
			 "; %zu real server(s)%s%s", nr_rs, cert ? ", cert " : "",
			 cert ? cert : "");
	rq->result = json_pack("{sOsIso}", "template", json_object_get(tmpl, "name"),
			       "main", (json_int_t)*main_id, "vs", list);
	json_decref(tmpl);
	return 0;
}

/* vs add VIP [PORT] template=NAME [Key=Value ...]: Kemp's "Use Template". */
static int vs_add_template(struct request *rq, const char *name)
{
	json_t *params = json_object(), *applied;
	const char *key, *vip;
	json_t *value;
	uint32_t main_id;
	int ret;

	if (need_arg(rq, "vip", &vip)) {
		json_decref(params);
		return -1;
	}
	/* the other parameters change the main VS after the template's */
	json_object_foreach(arg_params(rq), key, value)
		if (strcasecmp(key, "template"))
			json_object_set(params, key, value);
	if (arg_str(rq, "prot") && strcasecmp(arg_str(rq, "prot"), "tcp")) {
		json_decref(params);
		return exlb_err_set(&rq->err, "prot: must be tcp (got '%s')",
				    arg_str(rq, "prot"));
	}
	ret = apply_template(rq, name, vip, arg_str(rq, "port"), NULL, NULL,
			     params, &main_id);
	json_decref(params);
	if (ret)
		return -1;
	/* like any vs add: the new (main) VS, plus what else was created */
	applied = rq->result;
	rq->result = exlb_service_to_json(rq->cfg, exlb_service_by_id(rq->cfg, main_id));
	json_object_set(rq->result, "template", json_object_get(applied, "template"));
	json_object_set(rq->result, "created", json_object_get(applied, "vs"));
	json_decref(applied);
	return 0;
}

static int cmd_template_apply(struct request *rq)
{
	const char *name, *vip;
	uint32_t main_id;

	if (need_arg(rq, "name", &name) || need_arg(rq, "vip", &vip))
		return -1;
	return apply_template(rq, name, vip, arg_str(rq, "port"),
			      json_object_get(rq->args, "rs"),
			      arg_str(rq, "cert"), arg_params(rq), &main_id);
}

static int cmd_template_list(struct request *rq)
{
	json_t *errors, *list;

	list = exlb_template_list(rq->store->state_dir, &errors);
	rq->result = json_pack("{soso}", "templates", list, "errors", errors);
	json_object_set_new(rq->result, "builtin_dir",
			    json_string(exlb_template_dir()));
	json_object_set_new(rq->result, "imported_dir",
			    json_sprintf("%s/%s", rq->store->state_dir,
					 EXLB_TEMPLATE_SUBDIR));
	return 0;
}

static int cmd_template_show(struct request *rq)
{
	const char *name;

	if (need_arg(rq, "name", &name))
		return -1;
	rq->result = exlb_template_find(rq->store->state_dir, name, &rq->err);
	return rq->result ? 0 : -1;
}

/* Templates are files, not configuration: these write no state file. */
static int cmd_template_import(struct request *rq)
{
	json_t *doc = json_object_get(rq->args, "template"), *names = NULL;
	bool replace;

	if (!doc)
		return exlb_err_set(&rq->err, "missing argument 'template'");
	if (arg_bool(rq, "replace", &replace) ||
	    exlb_template_import(rq->store->state_dir, doc, replace, &names,
				 &rq->err)) {
		json_decref(names);
		return -1;
	}
	exlb_log(LOG_INFO, "template(s) imported: %zu", json_array_size(names));
	rq->result = json_pack("{so}", "imported", names);
	return 0;
}

static int cmd_template_delete(struct request *rq)
{
	const char *name;

	if (need_arg(rq, "name", &name) ||
	    exlb_template_delete(rq->store->state_dir, name, &rq->err))
		return -1;
	exlb_log(LOG_INFO, "template '%s' deleted", name);
	return 0;
}

static int cmd_template_export(struct request *rq)
{
	struct exlb_service *vs = arg_service(rq, "vs", EXLB_SCOPE_VS);

	if (!vs)
		return -1;
	rq->result = exlb_template_export(rq->cfg, vs, arg_str(rq, "name"),
					  &rq->err);
	return rq->result ? 0 : -1;
}

static int cmd_vs_add(struct request *rq)
{
	uint32_t id;
	const char *vip, *port, *tmpl = params_template(arg_params(rq));
	char params[384];

	if (tmpl)
		return vs_add_template(rq, tmpl);
	if (need_arg(rq, "vip", &vip) || need_arg(rq, "port", &port))
		return -1;
	if (exlb_vs_add(rq->cfg, vip, port, arg_str(rq, "prot"), arg_params(rq),
			&id, &rq->err))
		return -1;
	describe_params(arg_params(rq), params, sizeof(params));
	snprintf(rq->what, sizeof(rq->what), "vs %u added: %s:%s%s", id, vip,
		 port, params);
	rq->result = exlb_service_to_json(rq->cfg, exlb_service_by_id(rq->cfg, id));
	return 0;
}

static int cmd_subvs_add(struct request *rq)
{
	struct exlb_service *vs = arg_service(rq, "vs", EXLB_SCOPE_VS);
	uint32_t id, vs_id;
	char params[384];

	if (!vs)
		return -1;
	vs_id = vs->id;
	if (exlb_subvs_add(rq->cfg, vs, arg_params(rq), &id, &rq->err))
		return -1;
	describe_params(arg_params(rq), params, sizeof(params));
	snprintf(rq->what, sizeof(rq->what), "subvs %u added to vs %u:%s", id,
		 vs_id, params);
	rq->result = exlb_service_to_json(rq->cfg, exlb_service_by_id(rq->cfg, id));
	return 0;
}

static int service_mod(struct request *rq, const char *arg, unsigned int kinds)
{
	struct exlb_service *svc = arg_service(rq, arg, kinds);
	char params[384], label[EXLB_NICKNAME_SIZE];

	if (!svc)
		return -1;
	if (!json_object_size(arg_params(rq)))
		return exlb_err_set(&rq->err, "nothing to change: give Key=Value parameters");
	if (exlb_service_mod(rq->cfg, svc, arg_params(rq), &rq->err))
		return -1;
	describe_params(arg_params(rq), params, sizeof(params));
	snprintf(rq->what, sizeof(rq->what), "%s %u (%s) changed:%s",
		 exlb_service_is_subvs(svc) ? "subvs" : "vs", svc->id,
		 exlb_service_label(svc, label, sizeof(label)), params);
	rq->result = exlb_service_to_json(rq->cfg, svc);
	return 0;
}

static int cmd_vs_mod(struct request *rq)
{
	return service_mod(rq, "vs", EXLB_SCOPE_SERVICE);
}

static int cmd_subvs_mod(struct request *rq)
{
	return service_mod(rq, "subvs", EXLB_SCOPE_SUBVS);
}

static int service_del(struct request *rq, const char *arg, unsigned int kinds)
{
	struct exlb_service *svc = arg_service(rq, arg, kinds);
	char label[EXLB_NICKNAME_SIZE];
	uint32_t id;
	bool subvs;

	if (!svc)
		return -1;
	id = svc->id;
	subvs = exlb_service_is_subvs(svc);
	exlb_service_label(svc, label, sizeof(label));
	if (exlb_service_del(rq->cfg, id, &rq->err))
		return -1;
	snprintf(rq->what, sizeof(rq->what), "%s %u (%s) deleted",
		 subvs ? "subvs" : "vs", id, label);
	return 0;
}

static int cmd_vs_del(struct request *rq)
{
	return service_del(rq, "vs", EXLB_SCOPE_SERVICE);
}

static int cmd_subvs_del(struct request *rq)
{
	return service_del(rq, "subvs", EXLB_SCOPE_SUBVS);
}

/* "OWA-2026, OWA-old", "self-signed" or "-" (no SSLAcceleration). */
static const char *certificate_label(const struct exlb_service *svc,
				     char *buf, size_t n)
{
	char names[EXLB_VS_MAX_CERTS][EXLB_CERT_NAME_SIZE];
	size_t nr, len = 0;

	if (!svc->ssl_acceleration)
		return "-";
	nr = exlb_service_cert_names(svc, names, EXLB_VS_MAX_CERTS);
	if (!nr)
		return "self-signed";
	buf[0] = 0;
	for (size_t i = 0; i < nr && len < n; i++)
		len += snprintf(buf + len, n - len, "%s%s", i ? ", " : "",
				names[i]);
	return buf;
}

/*
 * A service for show: its configuration plus "health_timing", the
 * RetryInterval/Timeout/RetryCount its checks use and where each comes from
 * (its own, its VS's or the global value); SubVSs of a VS too.
 */
static json_t *service_show_json(const struct exlb_config *cfg,
				 const struct exlb_service *svc)
{
	json_t *obj = exlb_service_to_json(cfg, svc), *sub;
	struct exlb_health_timing t;
	size_t i;

	if (!exlb_service_is_subvs(svc)) {
		char certs[1100];
		const char *label = certificate_label(svc, certs, sizeof(certs));

		json_object_set_new(obj, "certificate", json_string(
			!strcmp(label, "self-signed") ? "self-signed certificate" :
			label));
	}
	exlb_service_health_timing(cfg, svc, &t);
	json_object_set_new(obj, "health_timing",
		json_pack("{sisisis{ssssss}}", "RetryInterval", t.retry_interval,
			  "Timeout", t.retry_timeout, "RetryCount", t.retry_count,
			  "from", "RetryInterval", t.from_interval,
			  "Timeout", t.from_timeout, "RetryCount", t.from_count));
	json_array_foreach(json_object_get(obj, "subvs"), i, sub) {
		const struct exlb_service *s = exlb_service_by_id(cfg,
			(uint32_t)json_integer_value(json_object_get(sub, "id")));

		if (!s)
			continue;
		exlb_service_health_timing(cfg, s, &t);
		json_object_set_new(sub, "health_timing",
			json_pack("{sisisis{ssssss}}", "RetryInterval", t.retry_interval,
				  "Timeout", t.retry_timeout, "RetryCount", t.retry_count,
				  "from", "RetryInterval", t.from_interval,
				  "Timeout", t.from_timeout, "RetryCount", t.from_count));
	}
	return obj;
}

/* One named service (VS or SubVS) in full, or the list of @kinds. */
static int service_show(struct request *rq, const char *arg, unsigned int kinds)
{
	if (arg_str(rq, arg)) {
		struct exlb_service *svc = arg_service(rq, arg, EXLB_SCOPE_SERVICE);

		if (!svc)
			return -1;
		rq->result = service_show_json(rq->cfg, svc);
		return 0;
	}
	rq->result = json_array();
	for (size_t i = 0; i < rq->cfg->nr_services; i++) {
		const struct exlb_service *s = &rq->cfg->services[i];

		if (kinds & (exlb_service_is_subvs(s) ? EXLB_SCOPE_SUBVS :
							 EXLB_SCOPE_VS))
			json_array_append_new(rq->result,
					      service_show_json(rq->cfg, s));
	}
	return 0;
}

static int cmd_vs_show(struct request *rq)
{
	return service_show(rq, "vs", EXLB_SCOPE_SERVICE & ~EXLB_SCOPE_SUBVS);
}

static int cmd_subvs_show(struct request *rq)
{
	return service_show(rq, "subvs", EXLB_SCOPE_SUBVS);
}

static int cmd_rs_add(struct request *rq)
{
	struct exlb_service *svc = arg_service(rq, "vs", EXLB_SCOPE_SERVICE);
	const char *addr;
	size_t before = rq->cfg->nr_reals;
	char params[384], label[EXLB_NICKNAME_SIZE];

	if (!svc || need_arg(rq, "rs", &addr))
		return -1;
	if (exlb_rs_add(rq->cfg, svc, addr, arg_params(rq), &rq->err))
		return -1;
	describe_params(arg_params(rq), params, sizeof(params));
	rq->result = json_array();
	for (size_t i = before; i < rq->cfg->nr_reals; i++) {
		json_t *rs = exlb_rs_to_json(&rq->cfg->reals[i]);

		json_object_set_new(rs, "service", json_integer(rq->cfg->reals[i].service_id));
		json_array_append_new(rq->result, rs);
	}
	snprintf(rq->what, sizeof(rq->what), "rs %s added to %zu service(s) (%s):%s",
		 addr, rq->cfg->nr_reals - before,
		 exlb_service_label(svc, label, sizeof(label)), params);
	return 0;
}

/* The RS named by args "vs" and "rs". */
static struct exlb_rs *arg_rs(struct request *rq, struct exlb_service **svc)
{
	const char *name;

	*svc = arg_service(rq, "vs", EXLB_SCOPE_SERVICE);
	if (!*svc || need_arg(rq, "rs", &name))
		return NULL;
	return exlb_rs_find(rq->cfg, *svc, name, &rq->err);
}

static int rs_change(struct request *rq, json_t *params, const char *verb)
{
	struct exlb_service *svc;
	struct exlb_rs *rs = arg_rs(rq, &svc);
	char where[64], label[EXLB_NICKNAME_SIZE], desc[384];

	if (!rs)
		return -1;
	if (!json_object_size(params))
		return exlb_err_set(&rq->err, "nothing to change: give Key=Value parameters");
	if (exlb_rs_mod(rq->cfg, svc, rs, params, &rq->err))
		return -1;
	exlb_addr_port_format(&rs->addr, rs->port, where, sizeof(where));
	describe_params(params, desc, sizeof(desc));
	snprintf(rq->what, sizeof(rq->what), "rs %s of %s %s:%s", where,
		 exlb_service_label(svc, label, sizeof(label)), verb, desc);
	rq->result = exlb_rs_to_json(rs);
	return 0;
}

static int cmd_rs_mod(struct request *rq)
{
	return rs_change(rq, arg_params(rq), "changed");
}

static int rs_set_enable(struct request *rq, bool enable)
{
	json_t *params = json_pack("{s:s}", "enable", enable ? "1" : "0");
	int ret = rs_change(rq, params, enable ? "enabled" : "disabled");

	json_decref(params);
	return ret;
}

static int cmd_rs_enable(struct request *rq)
{
	return rs_set_enable(rq, true);
}

static int cmd_rs_disable(struct request *rq)
{
	return rs_set_enable(rq, false);
}

static int cmd_rs_del(struct request *rq)
{
	struct exlb_service *svc;
	struct exlb_rs *rs = arg_rs(rq, &svc);
	char where[64], label[EXLB_NICKNAME_SIZE];

	if (!rs)
		return -1;
	exlb_addr_port_format(&rs->addr, rs->port, where, sizeof(where));
	snprintf(rq->what, sizeof(rq->what), "rs %s of %s deleted", where,
		 exlb_service_label(svc, label, sizeof(label)));
	return exlb_rs_del(rq->cfg, rs->id, &rq->err);
}

static int cmd_rs_show(struct request *rq)
{
	struct exlb_service *svc = arg_service(rq, "vs", EXLB_SCOPE_SERVICE);

	if (!svc)
		return -1;
	rq->result = json_array();
	for (size_t i = 0; i < rq->cfg->nr_reals; i++)
		if (rq->cfg->reals[i].service_id == svc->id)
			json_array_append_new(rq->result,
					      exlb_rs_to_json(&rq->cfg->reals[i]));
	return 0;
}

static int cmd_rule_add(struct request *rq)
{
	const char *name;
	char params[384];

	if (need_arg(rq, "name", &name) ||
	    exlb_rule_add(rq->cfg, name, arg_params(rq), &rq->err))
		return -1;
	describe_params(arg_params(rq), params, sizeof(params));
	snprintf(rq->what, sizeof(rq->what), "rule %s added:%s", name, params);
	rq->result = exlb_rule_to_json(exlb_rule_find(rq->cfg, name));
	return 0;
}

static int cmd_rule_mod(struct request *rq)
{
	const char *name;
	struct exlb_rule *rule;
	char params[384];

	if (need_arg(rq, "name", &name))
		return -1;
	rule = exlb_rule_find(rq->cfg, name);
	if (!rule)
		return exlb_err_set(&rq->err, "no rule named '%s'", name);
	if (!json_object_size(arg_params(rq)))
		return exlb_err_set(&rq->err, "nothing to change: give Key=Value parameters");
	if (exlb_rule_mod(rq->cfg, rule, arg_params(rq), &rq->err))
		return -1;
	describe_params(arg_params(rq), params, sizeof(params));
	snprintf(rq->what, sizeof(rq->what), "rule %s changed:%s", rule->name,
		 params);
	rq->result = exlb_rule_to_json(rule);
	return 0;
}

static int cmd_rule_del(struct request *rq)
{
	const char *name;

	if (need_arg(rq, "name", &name) ||
	    exlb_rule_del(rq->cfg, name, &rq->err))
		return -1;
	snprintf(rq->what, sizeof(rq->what), "rule %s deleted", name);
	return 0;
}

static int cmd_rule_show(struct request *rq)
{
	const char *name = arg_str(rq, "name");

	if (name) {
		struct exlb_rule *rule = exlb_rule_find(rq->cfg, name);

		if (!rule)
			return exlb_err_set(&rq->err, "no rule named '%s'", name);
		rq->result = exlb_rule_to_json(rule);
		return 0;
	}
	rq->result = json_array();
	for (size_t i = 0; i < rq->cfg->nr_rules; i++)
		json_array_append_new(rq->result,
				      exlb_rule_to_json(&rq->cfg->rules[i]));
	return 0;
}

/* sso add|mod|del|show|list: SSO domains (docs/esp.md); adminpass never shown. */
static int cmd_sso_add(struct request *rq)
{
	const char *name;
	char params[384];

	if (need_arg(rq, "name", &name) ||
	    exlb_sso_add(rq->cfg, name, arg_params(rq), &rq->err))
		return -1;
	describe_params(arg_params(rq), params, sizeof(params));
	snprintf(rq->what, sizeof(rq->what), "SSO domain %s added:%s", name,
		 params);
	rq->result = exlb_sso_to_json(exlb_sso_find(rq->cfg, name), false);
	return 0;
}

static int cmd_sso_mod(struct request *rq)
{
	const char *name;
	struct exlb_sso_domain *d;
	char params[384];

	if (need_arg(rq, "name", &name))
		return -1;
	d = exlb_sso_find(rq->cfg, name);
	if (!d)
		return exlb_err_set(&rq->err, "no SSO domain named '%s'", name);
	if (!json_object_size(arg_params(rq)))
		return exlb_err_set(&rq->err, "nothing to change: give Key=Value parameters");
	if (exlb_sso_mod(rq->cfg, d, arg_params(rq), &rq->err))
		return -1;
	describe_params(arg_params(rq), params, sizeof(params));
	snprintf(rq->what, sizeof(rq->what), "SSO domain %s changed:%s",
		 d->name, params);
	rq->result = exlb_sso_to_json(d, false);
	return 0;
}

static int cmd_sso_del(struct request *rq)
{
	const char *name;

	if (need_arg(rq, "name", &name) ||
	    exlb_sso_del(rq->cfg, name, &rq->err))
		return -1;
	snprintf(rq->what, sizeof(rq->what), "SSO domain %s deleted", name);
	return 0;
}

static int cmd_sso_show(struct request *rq)
{
	const char *name = arg_str(rq, "name");

	if (name) {
		struct exlb_sso_domain *d = exlb_sso_find(rq->cfg, name);

		if (!d)
			return exlb_err_set(&rq->err, "no SSO domain named '%s'",
					    name);
		rq->result = exlb_sso_to_json(d, false);
		return 0;
	}
	rq->result = json_array();
	for (size_t i = 0; i < rq->cfg->nr_sso; i++)
		json_array_append_new(rq->result,
				      exlb_sso_to_json(&rq->cfg->sso[i], false));
	return 0;
}

/*
 * rule attach/detach SERVICE NAME [request|response]: a content rule selects
 * a SubVS; a header rule edits a VS's requests or responses.
 */
static int rule_link(struct request *rq, bool attach)
{
	static const char *const lists[] = { "content", "request", "response" };
	struct exlb_service *svc = arg_service(rq, "subvs", EXLB_SCOPE_SERVICE);
	const char *rule, *list_name = arg_str(rq, "list");
	char label[EXLB_NICKNAME_SIZE];
	int list = -1, ret;

	if (!svc || need_arg(rq, "rule", &rule))
		return -1;
	if (list_name) {
		for (int i = 0; i < 3; i++)
			if (!strcasecmp(list_name, lists[i]))
				list = i;
		if (list < 0)
			return exlb_err_set(&rq->err,
					    "list: must be request or response (got '%s')",
					    list_name);
	}
	if (attach)
		ret = exlb_rule_attach_to(rq->cfg, svc, rule,
					  list < 0 ? EXLB_RULES_CONTENT : list,
					  &rq->err);
	else
		ret = exlb_rule_detach_from(rq->cfg, svc, rule, list, &rq->err);
	if (ret)
		return -1;
	snprintf(rq->what, sizeof(rq->what), "rule %s %s %s%s%s %u (%s)", rule,
		 attach ? "attached to" : "detached from",
		 list > 0 ? lists[list] : "", list > 0 ? " rules of " : "",
		 exlb_service_is_subvs(svc) ? "SubVS" : "VS", svc->id,
		 exlb_service_label(svc, label, sizeof(label)));
	return 0;
}

static int cmd_rule_attach(struct request *rq)
{
	return rule_link(rq, true);
}

static int cmd_rule_detach(struct request *rq)
{
	return rule_link(rq, false);
}

static int cmd_set(struct request *rq)
{
	const char *param, *value;
	char text[64];
	const struct exlb_param *p;

	if (need_arg(rq, "param", &param) || need_arg(rq, "value", &value) ||
	    exlb_global_set(rq->cfg, param, value, &rq->err))
		return -1;
	p = exlb_param_find(param, EXLB_SCOPE_GLOBAL, NULL);
	exlb_param_format(p, &rq->cfg->globals, text, sizeof(text));
	snprintf(rq->what, sizeof(rq->what), "global %s set to %s", p->name, text);
	rq->result = exlb_globals_to_json(&rq->cfg->globals);
	return 0;
}

static int cmd_get(struct request *rq)
{
	const char *param = arg_str(rq, "param");
	json_t *all = exlb_globals_to_json(&rq->cfg->globals);
	const struct exlb_param *p, *other;

	if (!param) {
		rq->result = all;
		return 0;
	}
	p = exlb_param_find(param, EXLB_SCOPE_GLOBAL, &other);
	if (!p) {
		json_decref(all);
		if (other)
			return exlb_err_set(&rq->err, "%s: not a global parameter (it applies to %s)",
					    other->name, exlb_scope_name(other->scope));
		return exlb_err_set(&rq->err, "unknown global parameter '%s'", param);
	}
	rq->result = json_pack("{sO}", p->name, json_object_get(all, p->name));
	json_decref(all);
	return 0;
}

/* ---- certificates ---- */

/* The VSs whose CertFile names @name, as labels. */
static json_t *cert_users(const struct exlb_config *cfg, const char *name)
{
	json_t *list = json_array();
	char label[EXLB_NICKNAME_SIZE];

	for (size_t i = 0; i < cfg->nr_services; i++)
		if (exlb_service_uses_cert(&cfg->services[i], name))
			json_array_append_new(list, json_string(
				exlb_service_label(&cfg->services[i], label,
						   sizeof(label))));
	return list;
}

static json_t *cert_json(struct request *rq, const struct exlb_cert *c)
{
	struct exlb_err why;
	json_t *obj = exlb_cert_describe(rq->store->state_dir, c->name, &why);

	if (!obj) {
		/* the table entry still shows: the files are what is wrong */
		obj = exlb_cert_to_json(c);
		json_object_set_new(obj, "error", json_string(why.msg));
	} else if (strcmp(json_string_value(json_object_get(obj, "sha256")),
			  c->sha256)) {
		json_object_set_new(obj, "error", json_string(
			"the files are not the configured certificate (sha256 differs)"));
	}
	json_object_set_new(obj, "used_by", cert_users(rq->cfg, c->name));
	return obj;
}

/* A request's boolean action argument (replace=1), default false. */
static int arg_bool(struct request *rq, const char *name, bool *out)
{
	json_t *v = json_object_get(rq->args, name);
	const char *text = json_is_string(v) ? json_string_value(v) : NULL;

	*out = false;
	if (!v)
		return 0;
	if (json_is_boolean(v) || json_is_integer(v)) {
		*out = json_is_true(v) || (json_is_integer(v) && json_integer_value(v));
		if (!json_is_integer(v) || json_integer_value(v) == 0 ||
		    json_integer_value(v) == 1)
			return 0;
	} else if (text && (!strcmp(text, "0") || !strcmp(text, "1"))) {
		*out = text[0] == '1';
		return 0;
	}
	return exlb_err_set(&rq->err, "%s: must be 0 or 1", name);
}

static int cmd_cert_add(struct request *rq)
{
	const char *name, *cert, *key;
	struct exlb_cert_pair pair;
	struct exlb_cert entry;
	bool replace, existed;

	if (need_arg(rq, "name", &name) || need_arg(rq, "cert", &cert) ||
	    need_arg(rq, "key", &key) || arg_bool(rq, "replace", &replace))
		return -1;
	if (exlb_cert_parse(cert, key, &pair, &rq->err))
		return -1;
	memset(&entry, 0, sizeof(entry));
	snprintf(entry.name, sizeof(entry.name), "%s", name);
	memcpy(entry.sha256, pair.sha256, sizeof(entry.sha256));
	snprintf(entry.not_after, sizeof(entry.not_after), "%s", pair.not_after);
	existed = exlb_cert_find(rq->cfg, name) != NULL;
	if (strlen(name) >= sizeof(entry.name)) {
		exlb_cert_pair_free(&pair);
		return exlb_err_set(&rq->err, "name: must be at most %d characters",
				    EXLB_CERT_NAME_SIZE - 1);
	}
	/* the table first (it checks the name), then the files */
	if (exlb_cert_set(rq->cfg, &entry, replace, &rq->err) ||
	    exlb_cert_install(rq->store->state_dir, name, &pair, &rq->cert_txn,
			      &rq->err)) {
		exlb_cert_pair_free(&pair);
		return -1;
	}
	exlb_cert_pair_free(&pair);
	snprintf(rq->what, sizeof(rq->what),
		 "certificate %s %s: sha256 %s, notAfter %s", name,
		 existed ? "replaced" : "added", entry.sha256, entry.not_after);
	rq->result = cert_json(rq, exlb_cert_find(rq->cfg, name));
	return 0;
}

static int cmd_cert_del(struct request *rq)
{
	const char *name;

	if (need_arg(rq, "name", &name) ||
	    exlb_cert_del(rq->cfg, name, &rq->err))
		return -1;
	snprintf(rq->remove_cert, sizeof(rq->remove_cert), "%s", name);
	snprintf(rq->what, sizeof(rq->what), "certificate %s deleted", name);
	return 0;
}

static int cmd_cert_show(struct request *rq)
{
	const char *name = arg_str(rq, "name");
	const struct exlb_cert *c;

	if (name) {
		c = exlb_cert_find(rq->cfg, name);
		if (!c)
			return exlb_err_set(&rq->err, "no certificate named '%s'", name);
		rq->result = cert_json(rq, c);
		return 0;
	}
	rq->result = json_array();
	for (size_t i = 0; i < rq->cfg->nr_certs; i++)
		json_array_append_new(rq->result, cert_json(rq, &rq->cfg->certs[i]));
	return 0;
}

/* ---- the admin listener's users and API keys (docs/admin.md) ---- */

static int arg_role(struct request *rq, unsigned int *role)
{
	const char *text = arg_str(rq, "role");
	int r = exlb_role_parse(text ? text : "read-only");

	if (r < 0)
		return exlb_err_set(&rq->err, "role: must be read-only or admin (got '%s')",
				    text);
	*role = (unsigned int)r;
	return 0;
}

/* The password travels in args, never in the log line (rq->what). */
static int cmd_admin_user_add(struct request *rq)
{
	const char *name, *password;
	unsigned int role = EXLB_ROLE_READONLY;
	bool replace = false;

	if (need_arg(rq, "name", &name) || need_arg(rq, "password", &password) ||
	    arg_role(rq, &role) || arg_bool(rq, "replace", &replace) ||
	    exlb_cred_user_set(rq->cfg, name, role, password, replace, &rq->err))
		return -1;
	snprintf(rq->what, sizeof(rq->what), "admin user %s %s (%s)", name,
		 replace ? "set" : "added", exlb_role_name(role));
	rq->result = exlb_cred_to_json(exlb_cred_find(rq->cfg, EXLB_CRED_USER, name),
				       false);
	return 0;
}

static int cmd_admin_apikey_add(struct request *rq)
{
	const char *name;
	char key[EXLB_APIKEY_TEXT_SIZE];
	unsigned int role = EXLB_ROLE_READONLY;

	if (need_arg(rq, "name", &name) || arg_role(rq, &role) ||
	    exlb_cred_apikey_add(rq->cfg, name, role, key, &rq->err))
		return -1;
	snprintf(rq->what, sizeof(rq->what), "admin API key %s added (%s)", name,
		 exlb_role_name(role));
	/* the only time the key exists outside the caller: shown once */
	rq->result = exlb_cred_to_json(exlb_cred_find(rq->cfg, EXLB_CRED_APIKEY, name),
				       false);
	json_object_set_new(rq->result, "key", json_string(key));
	explicit_bzero(key, sizeof(key));
	return 0;
}

static int cred_del(struct request *rq, unsigned int kind)
{
	const char *name;

	if (need_arg(rq, "name", &name) ||
	    exlb_cred_del(rq->cfg, kind, name, &rq->err))
		return -1;
	snprintf(rq->what, sizeof(rq->what), "admin %s %s deleted",
		 kind == EXLB_CRED_USER ? "user" : "API key", name);
	return 0;
}

static int cmd_admin_user_del(struct request *rq)
{
	return cred_del(rq, EXLB_CRED_USER);
}

static int cmd_admin_apikey_del(struct request *rq)
{
	return cred_del(rq, EXLB_CRED_APIKEY);
}

static int cred_list(struct request *rq, unsigned int kind)
{
	rq->result = json_array();
	for (size_t i = 0; i < rq->cfg->nr_creds; i++)
		if (rq->cfg->creds[i].kind == kind)
			json_array_append_new(rq->result,
				exlb_cred_to_json(&rq->cfg->creds[i], false));
	return 0;
}

static int cmd_admin_user_list(struct request *rq)
{
	return cred_list(rq, EXLB_CRED_USER);
}

static int cmd_admin_apikey_list(struct request *rq)
{
	return cred_list(rq, EXLB_CRED_APIKEY);
}

/* ---- status and statistics ---- */

static const char *health_name(const struct exlb_config *cfg,
			       const struct exlb_runtime *rt,
			       const struct exlb_rs *rs)
{
	const struct exlb_service *svc = exlb_service_by_id(cfg, rs->service_id);
	const struct exlb_rs_runtime *r = exlb_runtime_rs_peek(rt, rs->id);

	if (svc && svc->check_type == EXLB_CHECKTYPE_NONE)
		return "up";
	if (!r || r->health == EXLB_HEALTH_UNKNOWN)
		return "unchecked";
	return r->health == EXLB_HEALTH_UP ? "up" : "down";
}

static void counters_to_json(json_t *obj, const struct exlb_counters *c)
{
	json_object_set_new(obj, "conns", json_integer(c->conns));
	json_object_set_new(obj, "active", json_integer(c->active));
	json_object_set_new(obj, "inactive", json_integer(c->inactive));
	json_object_set_new(obj, "pkts_in", json_integer(c->pkts_in));
	json_object_set_new(obj, "pkts_out", json_integer(c->pkts_out));
	json_object_set_new(obj, "bytes_in", json_integer(c->bytes_in));
	json_object_set_new(obj, "bytes_out", json_integer(c->bytes_out));
	json_object_set_new(obj, "requests", json_integer(c->requests));
}

static void counters_add(struct exlb_counters *sum, const struct exlb_counters *c)
{
	sum->conns += c->conns;
	sum->active += c->active;
	sum->inactive += c->inactive;
	sum->pkts_in += c->pkts_in;
	sum->pkts_out += c->pkts_out;
	sum->bytes_in += c->bytes_in;
	sum->bytes_out += c->bytes_out;
	sum->requests += c->requests;
}

/* A service's RSs with health and counters; adds them up into @sum. */
static json_t *rs_status(const struct exlb_config *cfg,
			 const struct exlb_runtime *rt, uint32_t service_id,
			 struct exlb_counters *sum)
{
	json_t *list = json_array();
	static const struct exlb_counters zero;

	for (size_t i = 0; i < cfg->nr_reals; i++) {
		const struct exlb_rs *rs = &cfg->reals[i];
		const struct exlb_rs_runtime *r = exlb_runtime_rs_peek(rt, rs->id);
		const struct exlb_counters *c = r ? &r->counters : &zero;
		char addr[INET6_ADDRSTRLEN];
		json_t *obj;

		if (rs->service_id != service_id)
			continue;
		exlb_addr_format(&rs->addr, addr, sizeof(addr));
		obj = json_pack("{sI ss sI sI sI ss ss sb}", "id", (json_int_t)rs->id,
				"addr", addr, "port", (json_int_t)rs->port,
				"weight", (json_int_t)rs->weight,
				"enable", (json_int_t)rs->enable,
				"health", health_name(cfg, rt, rs),
				"reason", r ? r->reason : "",
				"serving", exlb_rs_is_serving(cfg, rt, rs));
		if (r && r->check_s > 0) {
			json_object_set_new(obj, "check_seconds", json_real(r->check_s));
			json_object_set_new(obj, "reason_class",
					    json_string(r->reason_class));
		}
		counters_to_json(obj, c);
		counters_add(sum, c);
		json_array_append_new(list, obj);
	}
	return list;
}

/*
 * What the L7 proxy counts of a VS beyond its RSs' counters (client TLS
 * handshakes, kTLS, termination codes as "term": {"--": n, ...}) and of a
 * service its persistence records (exlb.ko's for a kernel-served one);
 * nothing when it has none.
 */
static void l7_status(json_t *obj, const struct exlb_config *cfg,
		      const struct exlb_runtime *rt,
		      const struct exlb_service *svc)
{
	const struct exlb_persist_count *pc = rt->persist;
	size_t nr_pc = rt->nr_persist;

	if (exlb_service_is_kernel_served(cfg, svc)) {
		pc = rt->kernel_persist;
		nr_pc = rt->nr_kernel_persist;
	}
	for (size_t i = 0; i < nr_pc; i++)
		if (pc[i].service_id == svc->id)
			json_object_set_new(obj, "persist_records",
					    json_integer((json_int_t)pc[i].records));
	for (size_t i = 0; i < rt->nr_vs_l7; i++) {
		const struct exlb_vs_l7 *v = &rt->vs_l7[i];
		json_t *term;

		if (v->vs_id != svc->id || exlb_service_is_subvs(svc))
			continue;
		term = json_object();
		for (int t = 0; t < EXLB_TERM_CODES; t++) {
			char code[3] = { EXLB_TERM_WHO[t / EXLB_TERM_PHASES],
					 EXLB_TERM_PHASE[t % EXLB_TERM_PHASES], 0 };

			if (v->term[t])
				json_object_set_new(term, code,
						    json_integer((json_int_t)v->term[t]));
		}
		json_object_set_new(obj, "tls_full", json_integer((json_int_t)v->tls_full));
		json_object_set_new(obj, "tls_resumed", json_integer((json_int_t)v->tls_resumed));
		json_object_set_new(obj, "ktls_tx", json_integer((json_int_t)v->ktls_tx));
		json_object_set_new(obj, "ktls_rx", json_integer((json_int_t)v->ktls_rx));
		json_object_set_new(obj, "term", term);
	}
}

static json_t *service_status(const struct exlb_config *cfg,
			      const struct exlb_runtime *rt,
			      const struct exlb_service *svc,
			      struct exlb_counters *sum)
{
	json_t *obj = json_object(), *subvs = json_array(), *names = json_array();
	struct exlb_counters own = { 0 };
	char label[EXLB_NICKNAME_SIZE];
	bool kernel = exlb_service_is_kernel_served(cfg, svc);
	const char *status;

	json_object_set_new(obj, "id", json_integer(svc->id));
	if (!exlb_service_is_subvs(svc)) {
		char addr[INET6_ADDRSTRLEN];

		exlb_addr_format(&svc->vip, addr, sizeof(addr));
		json_object_set_new(obj, "vip", json_string(addr));
		json_object_set_new(obj, "port", json_integer(svc->port));
		json_object_set_new(obj, "prot", json_string("tcp"));
	}
	json_object_set_new(obj, "name", json_string(svc->nickname));
	if (!exlb_service_is_subvs(svc)) {
		json_object_set_new(obj, "layer", json_string(kernel ? "L4" : "L7"));
		json_object_set_new(obj, "served_by",
				    json_string(kernel ? "kernel" : "exlbd"));
		char certs[1100];

		json_object_set_new(obj, "certificate",
				    json_string(certificate_label(svc, certs,
								  sizeof(certs))));
	}
	status = exlb_service_status(cfg, rt, svc);
	/* a kernel-served VS serves nothing while exlb.ko is not programmed */
	if (kernel && !rt->kernel_available && strcmp(status, "Disabled") &&
	    strcmp(status, "Refused"))
		status = "Down (kernel unavailable)";
	json_object_set_new(obj, "status", json_string(status));
	json_object_set_new(obj, "rs", rs_status(cfg, rt, svc->id, &own));
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (s->parent_id != svc->id)
			continue;
		json_array_append_new(subvs, service_status(cfg, rt, s, &own));
		json_array_append_new(names,
				      json_string(exlb_service_label(s, label, sizeof(label))));
	}
	if (!exlb_service_is_subvs(svc)) {
		json_object_set_new(obj, "subvs", subvs);
		json_object_set_new(obj, "subvs_names", names);
	} else {
		json_decref(subvs);
		json_decref(names);
	}
	l7_status(obj, cfg, rt, svc);
	counters_to_json(obj, &own);
	counters_add(sum, &own);
	return obj;
}

/* A privsep process (docs/privsep.md): who, and how often it died. */
static json_t *proc_status(const struct exlb_proc_status *p)
{
	return json_pack("{sI ss sI sI ss}", "pid", (json_int_t)p->pid, "user", p->user,
			 "exits", (json_int_t)p->exits,
			 "killed_by_sigsys", (json_int_t)p->sigsys,
			 "last_exit", p->last_exit);
}

/* The L7 proxy's descriptor budget and what it refused (docs/proxy.md). */
static json_t *proxy_status(const struct exlb_runtime *rt)
{
	json_t *workers = json_array(), *out;

	for (unsigned int i = 0; i < rt->proxy.nr_workers; i++)
		json_array_append_new(workers, json_pack("{sf sf}",
			"lag_seconds", rt->proxy.lag[i],
			"lag_max_seconds", rt->proxy.lag_max[i]));
	out = json_pack("{sIsIsIsIsIsIsI sI sI so}",
			 "fd_limit", (json_int_t)rt->proxy.fd_limit,
			 "fd_reserve", (json_int_t)rt->proxy.fd_reserve,
			 "conns_refused", (json_int_t)rt->proxy.conns_refused,
			 "accept_pauses", (json_int_t)rt->proxy.accept_pauses,
			 "fd_short", (json_int_t)rt->proxy.fd_short,
			 "conns_over_limit", (json_int_t)rt->proxy.conns_over_limit,
			 "connect_retries", (json_int_t)rt->proxy.connect_retries,
			 "ktls_conns", (json_int_t)rt->proxy.ktls_conns,
			 "userspace_tls_conns", (json_int_t)rt->proxy.userspace_conns,
			 "workers", workers);
	/* exlbd --worker-user: the sandboxed processes, their deaths (privsep.md) */
	if (out && rt->proxy.process.on)
		json_object_set_new(out, "worker_process", proc_status(&rt->proxy.process));
	if (out && rt->proxy.directory.on)
		json_object_set_new(out, "directory_process", proc_status(&rt->proxy.directory));
	return out;
}

/*
 * Per rule: the matches that hit a PCRE2 limit (and counted as no match),
 * since exlbd started, whatever plans came and went (content.c).
 */
static json_t *rule_stats(const struct exlb_config *cfg)
{
	json_t *list = json_array();

	for (size_t i = 0; i < cfg->nr_rules; i++) {
		const char *name = cfg->rules[i].name;

		json_array_append_new(list, json_pack("{ss sI}", "name", name,
			"limit_hits", (json_int_t)exlb_content_limit_hits_of(name)));
	}
	return list;
}

/*
 * The HA pair (docs/ha.md): this node's hamode and its VRRP role as
 * keepalived reported it, since when (UTC) and for how long.
 */
static json_t *ha_status(const struct exlb_config *cfg,
			 const struct exlb_runtime *rt)
{
	static const char *const modes[] = { "none", "first", "second" };
	const struct exlb_globals *g = &cfg->globals;
	time_t now = time(NULL);
	char since[32] = "";
	struct tm tm;

	if (gmtime_r(&rt->ha.since, &tm))
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	const struct exlb_ha_sync_status *sy = &rt->ha.sync;
	json_t *sync = json_pack("{sbsIsbsIsIsIsIsIss}",
				 "on", sy->on, "port", (json_int_t)g->hasyncport,
				 "peer_reachable", sy->peer_reachable,
				 "sent", (json_int_t)sy->sent,
				 "acked", (json_int_t)sy->acked,
				 "acked_at", (json_int_t)sy->acked_at,
				 "received", (json_int_t)sy->received,
				 "received_at", (json_int_t)sy->received_at,
				 "error", sy->error);
	const struct exlb_ha_persist_status *pe = &rt->ha.persist;
	json_t *persist = json_pack("{sIsIsIsIsIsIss}",
				    "sent", (json_int_t)pe->sent,
				    "sent_at", (json_int_t)pe->sent_at,
				    "received", (json_int_t)pe->received,
				    "received_at", (json_int_t)pe->received_at,
				    "installed", (json_int_t)pe->installed,
				    "dropped", (json_int_t)pe->dropped,
				    "error", pe->error);

	const struct exlb_ha_ctd_status *ct = &rt->ha.ctd;
	char committed[32] = "";

	if (ct->committed_at && gmtime_r(&ct->committed_at, &tm))
		strftime(committed, sizeof(committed), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *ctd = json_pack("{sbsssIsIsbsIsIssss}",
				"on", (bool)g->tcpfailover,
				"state", exlb_ctd_state_name(ct->state),
				"pid", (json_int_t)ct->pid,
				"restarts", (json_int_t)ct->restarts,
				"hold", ct->hold,
				"commits", (json_int_t)ct->commits,
				"commit_ms", (json_int_t)ct->commit_ms,
				"committed_at", committed,
				"note", ct->note);

	return json_pack("{sssssssIsssIsIsssososo}",
			 "mode", g->hamode < 3 ? modes[g->hamode] : "?",
			 "role", exlb_ha_role_name(rt->ha.role),
			 "since", since,
			 "for_s", (json_int_t)(now > rt->ha.since ? now - rt->ha.since : 0),
			 "partner", g->partner,
			 "keepalived_pid", (json_int_t)rt->ha.keepalived_pid,
			 "restarts", (json_int_t)rt->ha.restarts,
			 "note", rt->ha.note, "sync", sync, "persist", persist,
			 "conntrackd", ctd);
}

static int cmd_status(struct request *rq)
{
	json_t *list;
	struct exlb_counters total = { 0 };

	if (rq->runtime && rq->runtime->refresh)
		rq->runtime->refresh(rq->runtime->refresh_ctx);
	list = json_array();
	for (size_t i = 0; i < rq->cfg->nr_services; i++)
		if (!exlb_service_is_subvs(&rq->cfg->services[i]))
			json_array_append_new(list,
				service_status(rq->cfg, rq->runtime,
					       &rq->cfg->services[i], &total));
	rq->result = json_pack("{s{sbss}sososI}", "kernel",
			       "available", rq->runtime->kernel_available,
			       "note", rq->runtime->kernel_note, "vs", list,
			       "rules", rule_stats(rq->cfg),
			       "rule_limit_hits",
			       (json_int_t)exlb_content_limit_hits_total());
	counters_to_json(rq->result, &total);
	json_object_set_new(rq->result, "ha", ha_status(rq->cfg, rq->runtime));
	if (rq->runtime->proxy.present)
		json_object_set_new(rq->result, "proxy", proxy_status(rq->runtime));
	return 0;
}

/* exlbctl version: which exlbd answers (after an upgrade, the new one?) */
static int cmd_version(struct request *rq)
{
	rq->result = json_pack("{ss}", "version", EXLB_VERSION);
	return 0;
}

static int cmd_save(struct request *rq)
{
	rq->result = exlb_config_to_json(rq->cfg);
	return 0;
}

/* The document of restore, checked as any change is (exlb_config_from_json()). */
static struct exlb_config *restore_config(struct request *rq)
{
	json_t *doc = json_object_get(rq->args, "config");

	if (!doc) {
		exlb_err_set(&rq->err, "missing argument 'config'");
		return NULL;
	}
	return exlb_config_from_json(doc, &rq->err);
}

static int cmd_restore(struct request *rq)
{
	struct exlb_config *cfg = restore_config(rq);

	if (!cfg)
		return -1;
	exlb_config_free(rq->cfg);
	rq->cfg = cfg;
	snprintf(rq->what, sizeof(rq->what),
		 "configuration restored: %zu services, %zu real servers, %zu rules",
		 cfg->nr_services, cfg->nr_reals, cfg->nr_rules);
	return 0;
}

/*
 * restore --dry-run: restore's checks (exlb_config_from_json() ends with
 * exlb_config_check(), the check of every commit), nothing applied.
 */
static int cmd_restore_check(struct request *rq)
{
	struct exlb_config *cfg = restore_config(rq);

	if (!cfg)
		return -1;
	rq->result = json_pack("{sIsIsI}",
			       "services", (json_int_t)cfg->nr_services,
			       "reals", (json_int_t)cfg->nr_reals,
			       "rules", (json_int_t)cfg->nr_rules);
	exlb_config_free(cfg);
	return 0;
}

/*
 * exlbctl ha secret: the pair secret of configuration sync, node-local and
 * never shown again; exlbd keeps only the key derived from it (ha/sync.c).
 */
static int cmd_ha_secret(struct request *rq)
{
	const char *secret;

	if (need_arg(rq, "secret", &secret) ||
	    exlb_ha_sync_set_secret(rq->store->state_dir, secret, &rq->err))
		return -1;
	exlb_log(LOG_NOTICE, "HA sync: the pair secret was set");
	return 0;
}

struct command {
	const char *name;
	int (*run)(struct request *rq);
	bool changes;
};

static const struct command commands[] = {
	{ "vs.add", cmd_vs_add, true },
	{ "vs.mod", cmd_vs_mod, true },
	{ "vs.del", cmd_vs_del, true },
	{ "vs.show", cmd_vs_show, false },
	{ "subvs.add", cmd_subvs_add, true },
	{ "subvs.mod", cmd_subvs_mod, true },
	{ "subvs.del", cmd_subvs_del, true },
	{ "subvs.show", cmd_subvs_show, false },
	{ "rs.add", cmd_rs_add, true },
	{ "rs.mod", cmd_rs_mod, true },
	{ "rs.enable", cmd_rs_enable, true },
	{ "rs.disable", cmd_rs_disable, true },
	{ "rs.del", cmd_rs_del, true },
	{ "rs.show", cmd_rs_show, false },
	{ "rule.add", cmd_rule_add, true },
	{ "rule.mod", cmd_rule_mod, true },
	{ "rule.del", cmd_rule_del, true },
	{ "rule.show", cmd_rule_show, false },
	{ "rule.attach", cmd_rule_attach, true },
	{ "rule.detach", cmd_rule_detach, true },
	{ "sso.add", cmd_sso_add, true },
	{ "sso.mod", cmd_sso_mod, true },
	{ "sso.del", cmd_sso_del, true },
	{ "sso.show", cmd_sso_show, false },
	{ "sso.list", cmd_sso_show, false },
	{ "cert.add", cmd_cert_add, true },
	{ "cert.del", cmd_cert_del, true },
	{ "cert.show", cmd_cert_show, false },
	{ "cert.list", cmd_cert_show, false },
	{ "set", cmd_set, true },
	{ "get", cmd_get, false },
	{ "status", cmd_status, false },
	{ "stats", cmd_status, false },
	{ "version", cmd_version, false },
	{ "save", cmd_save, false },
	{ "restore", cmd_restore, true },
	{ "restore.check", cmd_restore_check, false },
	{ "template.list", cmd_template_list, false },
	{ "template.show", cmd_template_show, false },
	{ "template.apply", cmd_template_apply, true },
	{ "template.import", cmd_template_import, false },
	{ "template.export", cmd_template_export, false },
	{ "template.delete", cmd_template_delete, false },
	{ "admin.user.add", cmd_admin_user_add, true },
	{ "admin.user.del", cmd_admin_user_del, true },
	{ "admin.user.list", cmd_admin_user_list, false },
	{ "admin.apikey.add", cmd_admin_apikey_add, true },
	{ "admin.apikey.del", cmd_admin_apikey_del, true },
	{ "admin.apikey.list", cmd_admin_apikey_list, false },
	{ "ha.secret", cmd_ha_secret, false },
};

static json_t *answer_error(const char *msg)
{
	return json_pack("{sbss}", "ok", 0, "error", msg);
}

/* journalctl -p err shows every refused change, with exlbctl's error */
static void log_refused(const char *cmd, const struct exlb_err *err)
{
	exlb_log(LOG_ERR, "refused %s: %s", cmd, err->msg);
}

static bool sync_key_present(const char *state_dir)
{
	unsigned char key[32];
	bool ok = !exlb_ha_sync_load_key(state_dir, key);

	explicit_bzero(key, sizeof(key));
	return ok;
}

/*
 * The HA standby with configuration sync takes its configuration from the
 * active node only (ha/sync.c): a change here would be overwritten by the
 * next push. Its node-local globals (docs/ha.md) stay its own to set.
 */
static bool standby_refuses(const struct exlb_config *cfg,
			    const struct exlb_runtime *rt, const char *name,
			    const json_t *args, struct exlb_err *err)
{
	const char *param = json_string_value(json_object_get(args, "param"));

	if (!rt || !exlb_ha_sync_refuses(cfg, rt->ha.role, err->msg,
					 sizeof(err->msg)))
		return false;
	return !(!strcmp(name, "set") && param && exlb_ha_sync_param_local(param));
}

json_t *exlb_ctl_execute(struct exlb_store *store,
			 struct exlb_runtime *runtime, const json_t *request)
{
	const char *name = json_string_value(json_object_get(request, "cmd"));
	json_t *args = json_object_get(request, "args");
	const struct command *cmd = NULL;
	struct request rq = { .store = store, .runtime = runtime };
	json_t *answer;

	if (!name)
		return answer_error("request: missing \"cmd\"");
	if (args && !json_is_object(args))
		return answer_error("request: \"args\" must be a JSON object");
	if (json_object_get(args, "params") &&
	    !json_is_object(json_object_get(args, "params")))
		return answer_error("request: \"params\" must be a JSON object");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			cmd = &commands[i];
	if (!cmd) {
		char msg[128];

		snprintf(msg, sizeof(msg), "unknown command '%.64s'", name);
		return answer_error(msg);
	}
	if (cmd->changes && standby_refuses(store->config, runtime, name, args,
					    &rq.err)) {
		log_refused(name, &rq.err);
		return answer_error(rq.err.msg);
	}
	rq.args = args;
	rq.cfg = cmd->changes ? exlb_config_clone(store->config) : store->config;
	if (!rq.cfg)
		return answer_error("out of memory");

	if (cmd->run(&rq)) {
		if (cmd->changes) {
			exlb_config_free(rq.cfg);
			log_refused(name, &rq.err);
		}
		exlb_cert_txn_end(rq.cert_txn, false);
		json_decref(rq.result);
		return answer_error(rq.err.msg);
	}
	if (cmd->changes) {
		/* fail closed: no sync without the key that authenticates it */
		if (rq.cfg->globals.hasyncport &&
		    (rq.cfg->globals.hasyncport != store->config->globals.hasyncport ||
		     exlb_ha_sync_enabled(rq.cfg) != exlb_ha_sync_enabled(store->config)) &&
		    !sync_key_present(store->state_dir)) {
			exlb_err_set(&rq.err, "hasyncport: configuration sync needs the pair secret first (exlbctl ha secret, the same on both nodes)");
			exlb_config_free(rq.cfg);
			exlb_cert_txn_end(rq.cert_txn, false);
			log_refused(name, &rq.err);
			json_decref(rq.result);
			return answer_error(rq.err.msg);
		}
		/* the commit frees the copy if it fails */
		if (exlb_store_commit(store, rq.cfg, rq.what, &rq.err)) {
			/* certificate files go back to what the configuration says */
			exlb_cert_txn_end(rq.cert_txn, false);
			log_refused(name, &rq.err);
			json_decref(rq.result);
			return answer_error(rq.err.msg);
		}
		exlb_cert_txn_end(rq.cert_txn, true);
		if (rq.remove_cert[0]) {
			struct exlb_err why;

			/* leftover files are harmless: only the table counts */
			if (exlb_cert_remove_files(store->state_dir, rq.remove_cert,
						   &why))
				exlb_log(LOG_WARNING, "%s", why.msg);
		}
		if (runtime)
			exlb_runtime_prune(runtime, store->config);
	}
	answer = json_pack("{sbso}", "ok", 1, "result",
			   rq.result ? rq.result : json_null());
	return answer;
}

/* ---- the socket server ---- */

struct ctl_client {
	ev_io io;		/* first: the callback casts the watcher back */
	struct exlb_ctl *ctl;
	struct ctl_client *next;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_sent;
	bool eof;		/* the client shut its side: close once flushed */
	bool handoff;		/* a takeover: the daemon gets it once flushed */
	ev_tstamp last_active;	/* bytes in or out (the idle timeout) */
};

struct exlb_ctl {
	ev_io listen_io;	/* first: the callback casts the watcher back */
	struct ev_loop *loop;
	char *path;
	struct exlb_store *store;
	struct exlb_runtime *runtime;
	struct ctl_client *clients;
	unsigned int nr_clients;
	ev_timer sweep;		/* closes idle clients */
	ev_timer rest;		/* the listener rests after accept() failed */
	struct exlb_log_limit accept_log, evict_log;
	bool owns_path;		/* removes the socket file when it ends */
	const char *frozen;	/* why changing commands are refused, or NULL */
	exlb_ctl_takeover_fn takeover;
	void *takeover_ctx;
};

static void client_unlink(struct ctl_client *c)
{
	struct exlb_ctl *ctl = c->ctl;
	struct ctl_client **pp;

	ev_io_stop(ctl->loop, &c->io);
	for (pp = &ctl->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ctl->nr_clients--;
	free(c->in);
	free(c->out);
	free(c);
}

static void client_close(struct ctl_client *c)
{
	close(c->io.fd);
	client_unlink(c);
}

/* The takeover's connection goes to the daemon (it closes it). */
static void client_handoff(struct ctl_client *c)
{
	struct exlb_ctl *ctl = c->ctl;
	int fd = c->io.fd;

	client_unlink(c);
	ctl->takeover(ctl->takeover_ctx, fd);
}

static const char *request_name(const json_t *request)
{
	const char *name = json_string_value(json_object_get(request, "cmd"));

	return name ? name : "";
}

static bool command_changes(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].changes;
	return false;
}

/*
 * "takeover" (docs/upgrade.md): a new exlbd asks for this one's listening
 * sockets. Only root or exlbd's own user may (members of group exlb reach
 * the socket too, but must not replace the daemon). Once the answer is
 * flushed, the connection leaves the server: client_cb() hands it to the
 * daemon, which speaks proc/handover.h on it.
 */
static json_t *client_takeover(struct ctl_client *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char msg[160];

	if (!c->ctl->takeover)
		return answer_error("takeover: not available");
	if (getsockopt(c->io.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return answer_error("takeover: cannot tell who asks");
	if (cred.uid != 0 && cred.uid != geteuid()) {
		snprintf(msg, sizeof(msg),
			 "takeover: permission denied (uid %u: only root or exlbd's own user)",
			 (unsigned int)cred.uid);
		exlb_log(LOG_NOTICE, "control: %s", msg + strlen("takeover: "));
		return answer_error(msg);
	}
	if (c->ctl->frozen)
		return answer_error(c->ctl->frozen);
	c->handoff = true;
	return json_pack("{sbs{sI}}", "ok", 1, "result", "pid", (json_int_t)getpid());
}

static int client_queue(struct ctl_client *c, const char *text)
{
	size_t len = strlen(text);
	char *grown = realloc(c->out, c->out_len + len + 1);

	if (!grown)
		return -1;
	c->out = grown;
	memcpy(c->out + c->out_len, text, len);
	c->out_len += len;
	c->out[c->out_len++] = '\n';
	return 0;
}

static void client_answer_line(struct ctl_client *c, const char *line)
{
	json_error_t jerr;
	json_t *request = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	json_t *answer;
	char *text, msg[256];

	if (!request) {
		snprintf(msg, sizeof(msg), "request: not JSON: %s", jerr.text);
		answer = answer_error(msg);
	} else if (!strcmp(request_name(request), "takeover")) {
		answer = client_takeover(c);
		json_decref(request);
	} else if (c->ctl->frozen && command_changes(request_name(request))) {
		answer = answer_error(c->ctl->frozen);
		json_decref(request);
	} else {
		answer = exlb_ctl_execute(c->ctl->store, c->ctl->runtime, request);
		json_decref(request);
	}
	text = json_dumps(answer, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(answer);
	if (!text || client_queue(c, text))
		c->eof = true;	/* out of memory: drop the client */
	free(text);
}

/* Watch for reading only while nothing waits to be written: back-pressure. */
static void client_rearm(struct ctl_client *c)
{
	int events = c->out_sent < c->out_len ? EV_WRITE : EV_READ;

	if (c->io.events == events)
		return;
	ev_io_stop(c->ctl->loop, &c->io);
	ev_io_set(&c->io, c->io.fd, events);
	ev_io_start(c->ctl->loop, &c->io);
}

static void client_process(struct ctl_client *c)
{
	size_t start = 0;
	char *nl;

	while (c->out_sent == c->out_len && !c->handoff &&
	       (nl = memchr(c->in + start, '\n', c->in_len - start))) {
		*nl = 0;
		if (nl > c->in + start)
			client_answer_line(c, c->in + start);
		start = nl + 1 - c->in;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
}

static bool client_write(struct ctl_client *c)
{
	while (c->out_sent < c->out_len) {
		ssize_t n = send(c->io.fd, c->out + c->out_sent,
				 c->out_len - c->out_sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n < 0)
			return false;
		c->out_sent += n;
		c->last_active = ev_now(c->ctl->loop);
	}
	c->out_len = c->out_sent = 0;
	return true;
}

static bool client_read(struct ctl_client *c)
{
	for (;;) {
		ssize_t n;

		if (c->in_cap - c->in_len < 4096) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
			char *grown;

			if (cap > EXLB_CTL_MAX_LINE + 8192) {
				client_queue(c, "{\"ok\":false,\"error\":\"request: line too long\"}");
				c->eof = true;
				return true;
			}
			grown = realloc(c->in, cap);
			if (!grown)
				return false;
			c->in = grown;
			c->in_cap = cap;
		}
		n = recv(c->io.fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0) {
			/* a last request without newline still counts */
			if (n == 0 && c->in_len && c->in_len < c->in_cap)
				c->in[c->in_len++] = '\n';
			c->eof = true;
			return n == 0;
		}
		c->in_len += n;
		c->last_active = ev_now(c->ctl->loop);
		if (memchr(c->in + c->in_len - n, '\n', n))
			return true;
	}
}

static void client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *c = (struct ctl_client *)w;

	(void)loop;
	if ((revents & EV_READ) && !client_read(c)) {
		client_close(c);
		return;
	}
	if ((revents & EV_WRITE) && !client_write(c)) {
		client_close(c);
		return;
	}
	/* answer every complete line, as long as the answers can be written */
	for (;;) {
		size_t before = c->in_len;

		client_process(c);
		if (!client_write(c)) {
			client_close(c);
			return;
		}
		if (c->out_sent < c->out_len || c->in_len == before)
			break;
	}
	if (c->handoff && c->out_sent == c->out_len) {
		client_handoff(c);
		return;
	}
	if (c->eof && c->out_sent == c->out_len) {
		client_close(c);
		return;
	}
	client_rearm(c);
}

/*
 * A client that sent or took no byte for EXLB_CTL_IDLE_S is closed: an
 * exlbctl call takes milliseconds, and idle clients must not keep the
 * table full.
 */
static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exlb_ctl *ctl = w->data;
	struct ctl_client *c, *next;

	(void)revents;
	for (c = ctl->clients; c; c = next) {
		next = c->next;
		if (ev_now(loop) - c->last_active >= EXLB_CTL_IDLE_S)
			client_close(c);
	}
}

/*
 * The table is full: the client idle longest makes room, so an
 * administrator always gets in (whoever holds the other slots).
 */
static void evict_idlest(struct exlb_ctl *ctl)
{
	struct ctl_client *c, *idlest = ctl->clients;
	uint64_t n;

	for (c = ctl->clients; c; c = c->next)
		if (c->last_active < idlest->last_active)
			idlest = c;
	n = exlb_log_limit_hit(&ctl->evict_log, EXLB_CTL_LOG_MS);
	if (n)
		exlb_log(LOG_WARNING, "control: %u clients: closing the one idle longest (%.0f s) to admit a new one; %llu such since the last line",
			 ctl->nr_clients, ev_now(ctl->loop) - idlest->last_active,
			 (unsigned long long)n);
	client_close(idlest);
}

static void on_rest_end(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exlb_ctl *ctl = w->data;

	(void)revents;
	ev_io_start(loop, &ctl->listen_io);
}

static void listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct exlb_ctl *ctl = (struct exlb_ctl *)w;
	struct ctl_client *c;
	int fd;

	(void)revents;
	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		uint64_t n;

		if (err == EAGAIN || err == EINTR || err == ECONNABORTED)
			return;
		/*
		 * Out of descriptors, most likely: the client waits in the
		 * backlog while the listener rests (a level-triggered watcher
		 * would call again at once, forever).
		 */
		ev_io_stop(loop, &ctl->listen_io);
		ev_timer_start(loop, &ctl->rest);
		n = exlb_log_limit_hit(&ctl->accept_log, EXLB_CTL_LOG_MS);
		if (n)
			exlb_log(LOG_ERR, "control: accept: %s; %llu such since the last line",
				 strerror(err), (unsigned long long)n);
		return;
	}
	if (ctl->nr_clients >= EXLB_CTL_MAX_CLIENTS)
		evict_idlest(ctl);
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->last_active = ev_now(loop);
	c->next = ctl->clients;
	ctl->clients = c;
	ctl->nr_clients++;
	ev_io_init(&c->io, client_cb, fd, EV_READ);
	ev_io_start(loop, &c->io);
}

/* Is a daemon answering on @path already? */
static bool socket_in_use(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0)
		return false;
	used = !connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	return used;
}

/* Serves the listening socket @fd (the caller's no more) on @loop. */
static struct exlb_ctl *ctl_start(struct ev_loop *loop, const char *path,
				  int fd, struct exlb_store *store,
				  struct exlb_runtime *runtime,
				  struct exlb_err *err)
{
	struct exlb_ctl *ctl = calloc(1, sizeof(*ctl));

	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		close(fd);
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	ctl->loop = loop;
	ctl->store = store;
	ctl->runtime = runtime;
	ev_io_init(&ctl->listen_io, listen_cb, fd, EV_READ);
	ev_io_start(loop, &ctl->listen_io);
	ev_timer_init(&ctl->rest, on_rest_end, EXLB_CTL_REST_S, 0);
	ctl->rest.data = ctl;
	ev_timer_init(&ctl->sweep, on_sweep, 1.0, 1.0);
	ctl->sweep.data = ctl;
	ev_timer_start(loop, &ctl->sweep);
	return ctl;
}

struct exlb_ctl *exlb_ctl_new(struct ev_loop *loop, const char *path,
			      struct exlb_store *store,
			      struct exlb_runtime *runtime,
			      struct exlb_err *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct group *grp = getgrnam(EXLB_GROUP);
	struct exlb_ctl *ctl;
	char dir[sizeof(sun.sun_path)], copy[sizeof(sun.sun_path)];
	mode_t old_mask;
	bool created;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		exlb_err_set(err, "socket path too long: %s", path);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	/* dirname()'s result, not its argument: "s.sock" gives "." */
	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(dir, sizeof(dir), "%s", dirname(copy));
	/*
	 * Our own directory (created here, or systemd's RuntimeDirectory
	 * /run/exlb, root:root 0750) goes to group exlb so its members reach
	 * the socket; a directory named otherwise (tests) is left alone.
	 */
	created = mkdir(dir, 0750) == 0;
	if (grp && (created || !strcmp(basename(dir), "exlb")) &&
	    (chown(dir, geteuid(), grp->gr_gid) || chmod(dir, 0750)))
		exlb_log(LOG_WARNING, "control: cannot give %s to group %s: %s", dir,
			 EXLB_GROUP, strerror(errno));
	if (socket_in_use(&sun)) {
		exlb_err_set(err, "another exlbd answers on %s", path);
		return NULL;
	}
	unlink(path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		exlb_err_set(err, "socket: %s", strerror(errno));
		return NULL;
	}
	/* created owner-only, opened to the group once it has the right group */
	old_mask = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		umask(old_mask);
		exlb_err_set(err, "bind %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	umask(old_mask);
	if (grp) {
		if (chown(path, geteuid(), grp->gr_gid) || chmod(path, 0660))
			exlb_log(LOG_WARNING, "control: cannot open %s to group %s: %s", path,
				 EXLB_GROUP, strerror(errno));
	}
	if (listen(fd, 16)) {
		exlb_err_set(err, "listen %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return NULL;
	}
	ctl = ctl_start(loop, path, fd, store, runtime, err);
	if (!ctl) {
		unlink(path);
		return NULL;
	}
	ctl->owns_path = true;
	return ctl;
}

struct exlb_ctl *exlb_ctl_adopt(struct ev_loop *loop, const char *path, int fd,
				struct exlb_store *store,
				struct exlb_runtime *runtime,
				struct exlb_err *err)
{
	int accepting = 0;
	socklen_t len = sizeof(accepting);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) ||
	    !accepting) {
		exlb_err_set(err, "the control socket received is not listening");
		close(fd);
		return NULL;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)) {
		exlb_err_set(err, "control socket: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	return ctl_start(loop, path, fd, store, runtime, err);
}

void exlb_ctl_own_path(struct exlb_ctl *ctl)
{
	ctl->owns_path = true;
}

int exlb_ctl_listen_fd(const struct exlb_ctl *ctl)
{
	return ctl->listen_io.fd;
}

void exlb_ctl_set_takeover(struct exlb_ctl *ctl, exlb_ctl_takeover_fn fn,
			   void *ctx)
{
	ctl->takeover = fn;
	ctl->takeover_ctx = ctx;
}

void exlb_ctl_freeze(struct exlb_ctl *ctl, const char *why)
{
	ctl->frozen = why;
}

void exlb_ctl_stop(struct exlb_ctl *ctl)
{
	while (ctl->clients)
		client_close(ctl->clients);
	ev_timer_stop(ctl->loop, &ctl->sweep);
	ev_timer_stop(ctl->loop, &ctl->rest);
	ev_io_stop(ctl->loop, &ctl->listen_io);
	/* our copy only: the socket is the new daemon's now */
	if (ctl->listen_io.fd >= 0)
		close(ctl->listen_io.fd);
	ctl->listen_io.fd = -1;
	ctl->owns_path = false;
}

void exlb_ctl_free(struct exlb_ctl *ctl)
{
	if (!ctl)
		return;
	while (ctl->clients)
		client_close(ctl->clients);
	ev_timer_stop(ctl->loop, &ctl->sweep);
	ev_timer_stop(ctl->loop, &ctl->rest);
	ev_io_stop(ctl->loop, &ctl->listen_io);
	if (ctl->listen_io.fd >= 0)
		close(ctl->listen_io.fd);
	if (ctl->owns_path)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
