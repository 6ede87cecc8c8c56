// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Virtual service templates (see template.h, docs/templates.md): reading
 * and checking template documents from the built-in and the imported
 * directory, applying a template to a configuration copy with the ordinary
 * model operations (so every rule of config.c holds for what a template
 * creates), importing, deleting and exporting.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "params.h"
#include "template.h"

static const char *builtin_dir;

void exlb_template_set_dir(const char *dir)
{
	builtin_dir = dir;
}

const char *exlb_template_dir(void)
{
	return builtin_dir && builtin_dir[0] ? builtin_dir : EXLB_TEMPLATE_DIR;
}

/* ---- small helpers ---- */

static bool word_in(const char *const *list, const char *word)
{
	for (; list && *list; list++)
		if (!strcasecmp(*list, word))
			return true;
	return false;
}

/* A shallow copy of @obj without the keys in @own (structure, not parameters). */
static json_t *params_without(const json_t *obj, const char *const *own)
{
	json_t *params = json_object();
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)obj, key, value)
		if (!word_in(own, key))
			json_object_set(params, key, value);
	return params;
}

/*
 * A template name: what `template apply` and `template=` take, so printable
 * text without '/' (it also names the file of an imported template).
 */
static bool check_template_name(const char *name, char *why, size_t n)
{
	size_t len = name ? strlen(name) : 0;

	if (len < 1 || len >= EXLB_TEMPLATE_NAME_SIZE) {
		snprintf(why, n, "must be 1-%d characters", EXLB_TEMPLATE_NAME_SIZE - 1);
		return false;
	}
	for (const char *p = name; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '/') {
			snprintf(why, n, "must be printable text without '/'");
			return false;
		}
	}
	if (name[0] == ' ' || name[0] == '.' || name[len - 1] == ' ') {
		snprintf(why, n, "must not start with ' ' or '.' nor end with ' '");
		return false;
	}
	return true;
}

/* The index of the main VS: the one marked "main": true, else the first. */
static size_t template_main(const json_t *tmpl)
{
	json_t *vss = json_object_get(tmpl, "vs"), *vs;
	size_t i;

	json_array_foreach(vss, i, vs)
		if (json_is_true(json_object_get(vs, "main")))
			return i;
	return 0;
}

static const char *template_name(const json_t *tmpl)
{
	return json_string_value(json_object_get(tmpl, "name"));
}

/*
 * @obj (a template's VS or SubVS) as apply would make it: the defaults,
 * then every parameter of @obj that parses (apply refuses the others).
 * Values are parsed as apply would, so "1", 1 and true count.
 */
static void template_service(const json_t *obj, unsigned int scope,
			     struct exlb_service *svc)
{
	const char *key;
	json_t *value;

	memset(svc, 0, sizeof(*svc));
	exlb_params_defaults(scope, svc);
	json_object_foreach((json_t *)obj, key, value) {
		const struct exlb_param *p = exlb_param_find(key, scope, NULL);
		char text[1024], err[256];

		if (!p)
			continue;
		if (json_is_integer(value))
			snprintf(text, sizeof(text), "%lld",
				 (long long)json_integer_value(value));
		else if (json_is_boolean(value))
			snprintf(text, sizeof(text), "%d", json_is_true(value));
		else if (json_is_string(value))
			snprintf(text, sizeof(text), "%s", json_string_value(value));
		else
			continue;	/* apply refuses the type */
		exlb_param_set(p, svc, text, err, sizeof(err));
	}
	/* not a parameter, but ESP's SMTP VS is known by it (port 25) */
	if (json_is_integer(json_object_get(obj, "port")))
		svc->port = (unsigned int)json_integer_value(json_object_get(obj, "port"));
}

/*
 * A refused setting of @svc (of VS @vs): false, or true and
 * "vs[1].subvs[0]: EspEnabled=1: why" in @why.
 */
static bool params_refused(const struct exlb_service *svc,
			   const struct exlb_service *vs, unsigned int scope,
			   const char *where, char *why, size_t n)
{
	const struct exlb_param *p = exlb_params_refused(scope, svc);
	char detail[EXLB_ERR_SIZE - 64];

	if (p) {
		snprintf(why, n, "%s: %s=%u: %s", where, p->name,
			 exlb_param_uint(p, svc), p->refused);
		return true;
	}
	if (!exlb_esp_refused(svc, vs, detail, sizeof(detail)))
		return false;
	snprintf(why, n, "%s: %s", where, detail);
	return true;
}

/*
 * Does applying @tmpl ask for something exlb refuses (the ESP templates
 * with pre-authentication)? Then they are listed, marked, and refused as a
 * whole before anything is created; the whole-configuration check would
 * refuse them too.
 */
static bool template_refused(const json_t *tmpl, char *why, size_t n)
{
	struct exlb_service *vs = malloc(2 * sizeof(*vs)), *sub = vs + 1;
	json_t *vobj, *sobj;
	bool refused = false;
	size_t i, j;

	if (!vs) {
		snprintf(why, n, "out of memory");
		return true;
	}
	json_array_foreach(json_object_get(tmpl, "vs"), i, vobj) {
		char where[64];

		snprintf(where, sizeof(where), "vs[%zu]", i);
		template_service(vobj, EXLB_SCOPE_VS, vs);
		if (params_refused(vs, vs, EXLB_SCOPE_VS, where, why, n)) {
			refused = true;
			break;
		}
		json_array_foreach(json_object_get(vobj, "subvs"), j, sobj) {
			snprintf(where, sizeof(where), "vs[%zu].subvs[%zu]", i, j);
			template_service(sobj, EXLB_SCOPE_SUBVS, sub);
			if (params_refused(sub, vs, EXLB_SCOPE_SUBVS, where,
					   why, n)) {
				refused = true;
				break;
			}
		}
		if (refused)
			break;
	}
	free(vs);
	return refused;
}

/* ---- the form of a document (docs/templates.md) ---- */

static int check_keys(const json_t *obj, const char *const *allowed,
		      const char *where, struct exlb_err *err)
{
	const char *key;
	json_t *value;

	if (!json_is_object(obj))
		return exlb_err_set(err, "%s: must be a JSON object", where);
	json_object_foreach((json_t *)obj, key, value)
		if (!word_in(allowed, key))
			return exlb_err_set(err, "%s: unknown key '%s'", where, key);
	return 0;
}

static int check_string_list(const json_t *list, const char *where,
			     const char *key, struct exlb_err *err)
{
	size_t i;
	json_t *item;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return exlb_err_set(err, "%s.%s: must be an array of rule names",
				    where, key);
	json_array_foreach(list, i, item)
		if (!json_is_string(item))
			return exlb_err_set(err, "%s.%s[%zu]: must be a rule name",
					    where, key, i);
	return 0;
}

/* Certificates are the installation's, never a template's: `cert NAME` on apply. */
static int refuse_certfile(const json_t *obj, const char *where,
			   struct exlb_err *err)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)obj, key, value)
		if (!strcasecmp(key, "CertFile"))
			return exlb_err_set(err,
					    "%s: CertFile: not part of a template (give cert NAME when applying it)",
					    where);
	return 0;
}

static int check_template_form(const json_t *tmpl, const char *where,
			       struct exlb_err *err)
{
	static const char *const keys[] = { "name", "description", "rules",
					     "vs", NULL };
	json_t *vss = json_object_get(tmpl, "vs"), *vs, *sub;
	json_t *rules = json_object_get(tmpl, "rules"), *rule;
	size_t i, j, mains = 0;
	char why[128], here[96];

	if (check_keys(tmpl, keys, where, err))
		return -1;
	if (!check_template_name(template_name(tmpl), why, sizeof(why)))
		return exlb_err_set(err, "%s: name: %s", where, why);
	if (json_object_get(tmpl, "description") &&
	    !json_is_string(json_object_get(tmpl, "description")))
		return exlb_err_set(err, "%s: description: must be a string", where);
	if (rules && !json_is_array(rules))
		return exlb_err_set(err, "%s: rules: must be an array", where);
	json_array_foreach(rules, i, rule)
		if (!json_is_object(rule) ||
		    !json_is_string(json_object_get(rule, "name")))
			return exlb_err_set(err, "%s.rules[%zu]: must be a rule object with a name",
					    where, i);
	if (!json_is_array(vss) || !json_array_size(vss) ||
	    json_array_size(vss) > EXLB_TEMPLATE_MAX_VS)
		return exlb_err_set(err, "%s: vs: must be an array of 1-%d virtual services",
				    where, EXLB_TEMPLATE_MAX_VS);
	json_array_foreach(vss, i, vs) {
		json_t *port = json_object_get(vs, "port");
		json_t *subvs = json_object_get(vs, "subvs");

		snprintf(here, sizeof(here), "%s.vs[%zu]", where, i);
		if (!json_is_object(vs))
			return exlb_err_set(err, "%s: must be a JSON object", here);
		if (!json_is_integer(port) || json_integer_value(port) < 1 ||
		    json_integer_value(port) > 65535)
			return exlb_err_set(err, "%s: port: must be 1-65535", here);
		if (json_object_get(vs, "main") &&
		    !json_is_boolean(json_object_get(vs, "main")))
			return exlb_err_set(err, "%s: main: must be true or false", here);
		mains += json_is_true(json_object_get(vs, "main"));
		if (refuse_certfile(vs, here, err) ||
		    check_string_list(json_object_get(vs, "request_rules"), here,
				      "request_rules", err) ||
		    check_string_list(json_object_get(vs, "response_rules"), here,
				      "response_rules", err))
			return -1;
		if (subvs && !json_is_array(subvs))
			return exlb_err_set(err, "%s: subvs: must be an array", here);
		json_array_foreach(subvs, j, sub) {
			char there[128];

			snprintf(there, sizeof(there), "%s.subvs[%zu]", here, j);
			if (!json_is_object(sub))
				return exlb_err_set(err, "%s: must be a JSON object", there);
			if (check_string_list(json_object_get(sub, "rules"), there,
					      "rules", err))
				return -1;
		}
	}
	if (mains > 1)
		return exlb_err_set(err, "%s: more than one VS is \"main\"", where);
	return 0;
}

static int check_doc_form(const json_t *doc, struct exlb_err *err)
{
	static const char *const keys[] = { "format", "version", "set",
					    "description", "templates", NULL };
	const char *format = json_string_value(json_object_get(doc, "format"));
	json_t *list = json_object_get(doc, "templates"), *tmpl;
	size_t i, j;

	if (!json_is_object(doc))
		return exlb_err_set(err, "a template document must be a JSON object");
	if (!format || strcmp(format, EXLB_TEMPLATE_FORMAT))
		return exlb_err_set(err, "format: must be \"%s\"", EXLB_TEMPLATE_FORMAT);
	if (json_integer_value(json_object_get(doc, "version")) !=
	    EXLB_TEMPLATE_VERSION)
		return exlb_err_set(err, "version: this exlbd reads version %d",
				    EXLB_TEMPLATE_VERSION);
	if (check_keys(doc, keys, "document", err))
		return -1;
	if (json_object_get(doc, "set") &&
	    !json_is_string(json_object_get(doc, "set")))
		return exlb_err_set(err, "set: must be a string");
	if (!json_is_array(list) || !json_array_size(list))
		return exlb_err_set(err, "templates: must be a non-empty array");
	json_array_foreach(list, i, tmpl) {
		char where[32];

		snprintf(where, sizeof(where), "templates[%zu]", i);
		if (check_template_form(tmpl, where, err))
			return -1;
		for (j = 0; j < i; j++)
			if (!strcasecmp(template_name(tmpl),
					template_name(json_array_get(list, j))))
				return exlb_err_set(err, "%s: template '%s' defined twice",
						    where, template_name(tmpl));
	}
	return 0;
}

/* ---- applying ---- */

/*
 * The rules a template needs. A rule of that name that exists already is
 * shared if it is identical (two applications on two VIPs use one "OWA"
 * rule, as Kemp does); if it differs the template would silently route by
 * someone else's pattern, so that is an error.
 */
static int install_rules(struct exlb_config *cfg, const json_t *rules,
			 struct exlb_err *err)
{
	size_t i;
	json_t *rule;

	json_array_foreach(rules, i, rule) {
		const char *name = json_string_value(json_object_get(rule, "name"));
		const struct exlb_rule *have = exlb_rule_find(cfg, name);
		struct exlb_config *scratch;
		struct exlb_err why;
		json_t *a, *b;
		bool same;

		if (!have) {
			if (exlb_rule_add(cfg, name, (json_t *)rule, &why))
				return exlb_err_set(err, "rules[%zu] (%s): %s", i,
						    name, why.msg);
			continue;
		}
		scratch = exlb_config_new();
		if (!scratch)
			return exlb_err_set(err, "out of memory");
		if (exlb_rule_add(scratch, name, (json_t *)rule, &why)) {
			exlb_config_free(scratch);
			return exlb_err_set(err, "rules[%zu] (%s): %s", i, name,
					    why.msg);
		}
		a = exlb_rule_to_json(have);
		b = exlb_rule_to_json(&scratch->rules[0]);
		json_object_del(a, "name");
		json_object_del(b, "name");
		same = json_equal(a, b);
		json_decref(a);
		json_decref(b);
		exlb_config_free(scratch);
		if (!same)
			return exlb_err_set(err,
					    "rule '%s' exists with other values: the template needs its own (rename or delete that rule)",
					    have->name);
	}
	return 0;
}

static int attach_list(struct exlb_config *cfg, uint32_t id, const json_t *list,
		       enum exlb_rule_list which, const char *where,
		       struct exlb_err *err)
{
	size_t i;
	json_t *name;

	json_array_foreach(list, i, name) {
		struct exlb_err why;

		if (exlb_rule_attach_to(cfg, exlb_service_by_id(cfg, id),
					json_string_value(name), which, &why))
			return exlb_err_set(err, "%s: %s", where, why.msg);
	}
	return 0;
}

static void vip_port_text(const char *vip, const char *port, char *buf,
			  size_t n)
{
	if (strchr(vip, ':'))
		snprintf(buf, n, "[%s]:%s", vip, port);
	else
		snprintf(buf, n, "%s:%s", vip, port);
}

/* One VS of a template with its SubVSs and rule attachments. */
static int add_vs(struct exlb_config *cfg, const json_t *vs, const char *vip,
		  const char *port, uint32_t *id, const char *where,
		  struct exlb_err *err)
{
	static const char *const own[] = { "port", "prot", "main",
					   "description", "subvs",
					   "request_rules", "response_rules",
					   NULL };
	static const char *const sub_own[] = { "description", "rules", NULL };
	const struct exlb_service *dup;
	struct exlb_err why;
	json_t *params, *sub;
	char at[96], label[EXLB_NICKNAME_SIZE];
	size_t i;
	int ret;

	/* name the VS in the way: "applied twice" is the usual cause */
	vip_port_text(vip, port, at, sizeof(at));
	dup = exlb_service_find(cfg, at, &why);
	if (dup)
		return exlb_err_set(err,
				    "%s is in use by VS %u (%s): a template is applied once per VIP and port",
				    at, dup->id,
				    exlb_service_label(dup, label, sizeof(label)));
	params = params_without(vs, own);
	ret = exlb_vs_add(cfg, vip, port,
			  json_string_value(json_object_get(vs, "prot")), params,
			  id, &why);
	json_decref(params);
	if (ret)
		return exlb_err_set(err, "%s: %s", where, why.msg);
	if (attach_list(cfg, *id, json_object_get(vs, "request_rules"),
			EXLB_RULES_REQUEST, where, err) ||
	    attach_list(cfg, *id, json_object_get(vs, "response_rules"),
			EXLB_RULES_RESPONSE, where, err))
		return -1;
	json_array_foreach(json_object_get(vs, "subvs"), i, sub) {
		uint32_t sub_id;
		char here[128];

		snprintf(here, sizeof(here), "%s.subvs[%zu]", where, i);
		params = params_without(sub, sub_own);
		/* the parent is looked up again: adding a service moves the array */
		ret = exlb_subvs_add(cfg, exlb_service_by_id(cfg, *id), params,
				     &sub_id, &why);
		json_decref(params);
		if (ret)
			return exlb_err_set(err, "%s: %s", here, why.msg);
		if (attach_list(cfg, sub_id, json_object_get(sub, "rules"),
				EXLB_RULES_CONTENT, here, err))
			return -1;
	}
	return 0;
}

/* "ADDR", "ADDR:PORT" or "[V6]:PORT" into the address and a port (or ""). */
static int split_rs(const char *text, char *addr, size_t n, char *port,
		    size_t pn)
{
	const char *colon;

	port[0] = 0;
	if (text[0] == '[') {
		const char *end = strstr(text, "]:");

		if (!end || (size_t)(end - text - 1) >= n)
			return -1;
		snprintf(addr, n, "%.*s", (int)(end - text - 1), text + 1);
		snprintf(port, pn, "%s", end + 2);
		return 0;
	}
	colon = strchr(text, ':');
	if (colon && colon == strrchr(text, ':')) {
		if ((size_t)(colon - text) >= n)
			return -1;
		snprintf(addr, n, "%.*s", (int)(colon - text), text);
		snprintf(port, pn, "%s", colon + 1);
		return 0;
	}
	snprintf(addr, n, "%s", text);
	return 0;
}

static int add_reals(struct exlb_config *cfg, uint32_t main_id,
		     const struct exlb_template_target *target,
		     struct exlb_err *err)
{
	bool has_subvs = exlb_service_nr_subvs(cfg, main_id) > 0;

	for (size_t i = 0; i < target->nr_rs; i++) {
		char addr[128], port[16];
		struct exlb_err why;
		json_t *params = json_object();
		int ret;

		if (split_rs(target->rs[i], addr, sizeof(addr), port,
			     sizeof(port))) {
			json_decref(params);
			return exlb_err_set(err, "rs: must be ADDR or ADDR:PORT (got '%s')",
					    target->rs[i]);
		}
		if (port[0])
			json_object_set_new(params, "port", json_string(port));
		/* Kemp's "Add to all SubVSs": one server serves every vdir */
		if (has_subvs)
			json_object_set_new(params, "addtoallsubvs", json_string("1"));
		ret = exlb_rs_add(cfg, exlb_service_by_id(cfg, main_id), addr,
				  params, &why);
		json_decref(params);
		if (ret)
			return exlb_err_set(err, "rs %s: %s", target->rs[i], why.msg);
	}
	return 0;
}

static int set_cert(struct exlb_config *cfg, const uint32_t *ids, size_t nr,
		    const char *cert, struct exlb_err *err)
{
	json_t *params = json_pack("{ss}", "CertFile", cert);
	size_t used = 0;

	for (size_t i = 0; i < nr; i++) {
		struct exlb_service *vs = exlb_service_by_id(cfg, ids[i]);
		char names[EXLB_VS_MAX_CERTS][EXLB_CERT_NAME_SIZE];
		struct exlb_err why;
		size_t nr_names;

		if (!vs->ssl_acceleration)
			continue;
		if (exlb_service_mod(cfg, vs, params, &why)) {
			json_decref(params);
			return exlb_err_set(err, "cert: %s", why.msg);
		}
		/* the commit would find it too, but not say which template asked */
		nr_names = exlb_service_cert_names(vs, names, EXLB_VS_MAX_CERTS);
		for (size_t k = 0; k < nr_names; k++) {
			if (!exlb_cert_find(cfg, names[k])) {
				json_decref(params);
				return exlb_err_set(err,
						    "cert: no certificate named '%s' (exlbctl cert add)",
						    names[k]);
			}
		}
		used++;
	}
	json_decref(params);
	if (!used)
		return exlb_err_set(err,
				    "cert: none of its VSs terminates TLS (SSLAcceleration=0)");
	return 0;
}

/* Whether service @s was created by this application (@ids: its VSs). */
static bool created(const struct exlb_service *s, const uint32_t *ids, size_t nr)
{
	for (size_t k = 0; k < nr; k++)
		if (s->id == ids[k] || s->parent_id == ids[k])
			return true;
	return false;
}

/*
 * The SSO domain of the template's services that log users on (EspEnabled
 * with InputAuthMode 1 or 2: the HTTPS ESP templates' Authentication Proxy,
 * OWA, ECP, ActiveSync SubVSs), which the check requires: Kemp's template
 * leaves it to be picked, and it is not the main VS's parameter, so
 * Domain=NAME of apply goes to each of them. *@used: how many; none with
 * @value NULL: fine; some without: refused, saying what to give.
 */
static int set_domain(struct exlb_config *cfg, const uint32_t *ids, size_t nr,
		      json_t *value, size_t *used, struct exlb_err *err)
{
	json_t *params = value ? json_pack("{sO}", "Domain", value) : NULL;
	struct exlb_err why;

	*used = 0;
	for (size_t i = 0; i < cfg->nr_services; i++) {
		struct exlb_service *s = &cfg->services[i];

		if (!created(s, ids, nr) || !s->esp_enabled ||
		    (s->input_auth_mode != 1 && s->input_auth_mode != 2))
			continue;
		if (!params) {
			json_decref(params);
			return exlb_err_set(err, "%s logs users on against an SSO domain (EspEnabled=1 InputAuthMode=%u): give Domain=NAME (exlbctl sso add) to apply it",
					    s->nickname[0] ? s->nickname : "a service",
					    s->input_auth_mode);
		}
		if (exlb_service_mod(cfg, s, params, &why)) {
			json_decref(params);
			return exlb_err_set(err, "Domain: %s", why.msg);
		}
		(*used)++;
	}
	json_decref(params);
	return 0;
}

int exlb_template_apply(struct exlb_config *cfg, const json_t *tmpl,
			const struct exlb_template_target *target,
			uint32_t *ids, size_t *nr_ids, uint32_t *main_id,
			struct exlb_err *err)
{
	const char *name = template_name(tmpl);
	size_t main_idx = template_main(tmpl), i, nr = 0;
	struct exlb_addr addr;
	struct exlb_err why;
	json_t *vs, *value, *domain = NULL, *rest;
	const char *key, *domain_key = NULL;
	size_t nr_domain = 0;

	if (template_refused(tmpl, why.msg, sizeof(why.msg)))
		goto fail;
	if (!target->vip || exlb_addr_parse(target->vip, &addr))
		return exlb_err_set(err, "vip: must be an IPv4 or IPv6 address (got '%s')",
				    target->vip ? target->vip : "");
	if (install_rules(cfg, json_object_get(tmpl, "rules"), &why))
		goto fail;
	json_array_foreach(json_object_get(tmpl, "vs"), i, vs) {
		char port[16], where[32];

		if (i == main_idx && target->port)
			snprintf(port, sizeof(port), "%s", target->port);
		else
			snprintf(port, sizeof(port), "%lld",
				 (long long)json_integer_value(json_object_get(vs, "port")));
		snprintf(where, sizeof(where), "vs[%zu]", i);
		if (nr >= EXLB_TEMPLATE_MAX_VS) {
			exlb_err_set(&why, "more than %d VSs", EXLB_TEMPLATE_MAX_VS);
			goto fail;
		}
		if (add_vs(cfg, vs, target->vip, port, &ids[nr], where, &why))
			goto fail;
		nr++;
	}
	*main_id = ids[main_idx];
	if (target->params)
		json_object_foreach(target->params, key, value)
			if (!strcasecmp(key, "Domain"))
				domain_key = key, domain = value;
	if (set_domain(cfg, ids, nr, domain, &nr_domain, &why))
		goto fail;
	/* vs add VIP template=NAME Key=Value: the values win over the template's */
	rest = target->params ? json_copy(target->params) : NULL;
	if (rest && nr_domain)	/* not the main VS's own parameter then */
		json_object_del(rest, domain_key);
	if (json_object_size(rest) &&
	    exlb_service_mod(cfg, exlb_service_by_id(cfg, *main_id), rest,
			     &why)) {
		json_decref(rest);
		goto fail;
	}
	json_decref(rest);
	if (add_reals(cfg, *main_id, target, &why))
		goto fail;
	if (target->cert && set_cert(cfg, ids, nr, target->cert, &why))
		goto fail;
	*nr_ids = nr;
	return 0;
fail:
	return exlb_err_set(err, "template '%s': %s", name ? name : "?", why.msg);
}

/* A template applies cleanly to an empty configuration (documentation VIP). */
static int check_template_applies(const json_t *tmpl, struct exlb_err *err)
{
	/*
	 * with an SSO domain for the services that log users on: the HTTPS
	 * ESP templates apply with Domain=, and so must an imported one
	 */
	json_t *params = json_pack("{ss}", "Domain", "template-check");
	json_t *sso = json_pack("{ss}", "auth_type", "LDAP-Unencrypted");
	struct exlb_template_target target = { .vip = "192.0.2.1",
					       .params = params };
	struct exlb_config *scratch = exlb_config_new();
	uint32_t ids[EXLB_TEMPLATE_MAX_VS], main_id;
	size_t nr;
	struct exlb_err why;
	int ret = 0;

	if (!scratch || !params || !sso ||
	    exlb_sso_add(scratch, "template-check", sso, &why)) {
		json_decref(params);
		json_decref(sso);
		exlb_config_free(scratch);
		return exlb_err_set(err, "out of memory");
	}
	json_decref(sso);
	if (exlb_template_apply(scratch, tmpl, &target, ids, &nr, &main_id, err))
		ret = -1;
	else if (exlb_config_check(scratch, &why))
		ret = exlb_err_set(err, "template '%s': %s", template_name(tmpl),
				   why.msg);
	exlb_config_free(scratch);
	json_decref(params);
	return ret;
}

int exlb_template_check_doc(const json_t *doc, struct exlb_err *err)
{
	size_t i;
	json_t *tmpl;

	if (check_doc_form(doc, err))
		return -1;
	json_array_foreach(json_object_get(doc, "templates"), i, tmpl)
		if (check_template_applies(tmpl, err))
			return -1;
	return 0;
}

/* ---- the two directories ---- */

static int json_file_filter(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 5 &&
	       !strcmp(d->d_name + len - 5, ".json");
}

/*
 * The documents of @dir that have the right form, in file name order, as
 * {"doc", "file", "source"}; a file that does not is reported in @errors.
 * A missing directory has no templates.
 */
static void load_dir(const char *dir, const char *source, json_t *docs,
		     json_t *errors)
{
	struct dirent **names;
	int n = scandir(dir, &names, json_file_filter, alphasort);

	if (n < 0) {
		if (errno != ENOENT && errors)
			json_array_append_new(errors, json_sprintf("%s: %s", dir,
								   strerror(errno)));
		return;
	}
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		json_error_t jerr;
		struct exlb_err why;
		json_t *doc;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		free(names[i]);
		doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (!doc) {
			if (errors)
				json_array_append_new(errors, json_sprintf("%s:%d: %s",
						path, jerr.line, jerr.text));
			continue;
		}
		if (check_doc_form(doc, &why)) {
			if (errors)
				json_array_append_new(errors,
					json_sprintf("%s: %s", path, why.msg));
			json_decref(doc);
			continue;
		}
		json_array_append_new(docs, json_pack("{sossss}", "doc", doc,
						      "file", path,
						      "source", source));
	}
	free(names);
}

static json_t *load_all(const char *state_dir, json_t *errors)
{
	json_t *docs = json_array();
	char dir[PATH_MAX];

	load_dir(exlb_template_dir(), "built-in", docs, errors);
	if (state_dir) {
		snprintf(dir, sizeof(dir), "%s/%s", state_dir, EXLB_TEMPLATE_SUBDIR);
		load_dir(dir, "imported", docs, errors);
	}
	return docs;
}

/*
 * Calls @fn for every template, first occurrence of each name only (a
 * later one of the same name is reported in @errors and skipped). Stops
 * when @fn returns true.
 */
typedef bool (*template_fn)(const json_t *tmpl, const json_t *entry,
			    void *ctx);

static void for_each_template(const json_t *docs, json_t *errors,
			      template_fn fn, void *ctx)
{
	json_t *seen = json_object(), *entry, *tmpl;
	size_t i, j;

	json_array_foreach(docs, i, entry) {
		const char *file = json_string_value(json_object_get(entry, "file"));

		json_array_foreach(json_object_get(json_object_get(entry, "doc"),
						   "templates"), j, tmpl) {
			char key[EXLB_TEMPLATE_NAME_SIZE];
			json_t *first;

			snprintf(key, sizeof(key), "%s", template_name(tmpl));
			for (char *p = key; *p; p++)
				*p = tolower((unsigned char)*p);
			first = json_object_get(seen, key);
			if (first) {
				if (errors)
					json_array_append_new(errors,
						json_sprintf("%s: template '%s' is also in %s: ignored",
							     file, template_name(tmpl),
							     json_string_value(first)));
				continue;
			}
			json_object_set_new(seen, key, json_string(file));
			if (fn(tmpl, entry, ctx))
				goto out;
		}
	}
out:
	json_decref(seen);
}

static bool list_one(const json_t *tmpl, const json_t *entry, void *ctx)
{
	json_t *doc = json_object_get(entry, "doc"), *vss = json_array(), *vs;
	size_t i, main_idx = template_main(tmpl);
	json_t *desc = json_object_get(tmpl, "description");
	char refused[EXLB_ERR_SIZE] = "";

	template_refused(tmpl, refused, sizeof(refused));
	json_array_foreach(json_object_get(tmpl, "vs"), i, vs) {
		const char *nick = NULL;
		const char *key;
		json_t *value;

		json_object_foreach(vs, key, value)
			if (!strcasecmp(key, "NickName"))
				nick = json_string_value(value);
		json_array_append_new(vss, json_pack("{sOsssIsb}",
			"port", json_object_get(vs, "port"),
			"NickName", nick ? nick : "",
			"subvs", (json_int_t)json_array_size(json_object_get(vs, "subvs")),
			"main", i == main_idx));
	}
	json_array_append_new(ctx, json_pack("{sssssssOsOsoss}",
		"name", template_name(tmpl),
		"set", json_string_value(json_object_get(doc, "set")) ?
		       json_string_value(json_object_get(doc, "set")) : "",
		"description", json_is_string(desc) ? json_string_value(desc) : "",
		"source", json_object_get(entry, "source"),
		"file", json_object_get(entry, "file"),
		"vs", vss,
		"refused", refused));
	return false;
}

json_t *exlb_template_list(const char *state_dir, json_t **errors)
{
	json_t *errs = json_array(), *docs = load_all(state_dir, errs);
	json_t *list = json_array();

	for_each_template(docs, errs, list_one, list);
	json_decref(docs);
	if (errors)
		*errors = errs;
	else
		json_decref(errs);
	return list;
}

struct find_ctx {
	const char *name;
	json_t *found;
};

static bool find_one(const json_t *tmpl, const json_t *entry, void *ctx)
{
	struct find_ctx *f = ctx;
	json_t *doc = json_object_get(entry, "doc");
	char why[EXLB_ERR_SIZE];

	if (strcasecmp(template_name(tmpl), f->name))
		return false;
	f->found = json_deep_copy(tmpl);
	if (template_refused(tmpl, why, sizeof(why)))
		json_object_set_new(f->found, "refused", json_string(why));
	json_object_set_new(f->found, "set", json_string(
		json_is_string(json_object_get(doc, "set")) ?
		json_string_value(json_object_get(doc, "set")) : ""));
	json_object_set(f->found, "source", json_object_get(entry, "source"));
	json_object_set(f->found, "file", json_object_get(entry, "file"));
	return true;
}

json_t *exlb_template_find(const char *state_dir, const char *name,
			   struct exlb_err *err)
{
	json_t *docs = load_all(state_dir, NULL);
	struct find_ctx f = { .name = name };

	if (name)
		for_each_template(docs, NULL, find_one, &f);
	json_decref(docs);
	if (!f.found)
		exlb_err_set(err, "no template named '%s' (exlbctl template list)",
			     name ? name : "");
	return f.found;
}

/* ---- import, delete ---- */

/* Where template @name is (NULL: nowhere), and its document entry. */
static bool locate_one(const json_t *tmpl, const json_t *entry, void *ctx)
{
	struct find_ctx *f = ctx;

	if (strcasecmp(template_name(tmpl), f->name))
		return false;
	f->found = json_incref((json_t *)entry);
	return true;
}

static json_t *locate(const char *state_dir, const char *name)
{
	json_t *docs = load_all(state_dir, NULL);
	struct find_ctx f = { .name = name };

	for_each_template(docs, NULL, locate_one, &f);
	json_decref(docs);
	return f.found;
}

int exlb_template_delete(const char *state_dir, const char *name,
			 struct exlb_err *err)
{
	json_t *entry = name ? locate(state_dir, name) : NULL;
	json_t *doc, *list, *tmpl;
	const char *file;
	char dir[PATH_MAX];
	size_t i;
	int ret = 0;

	if (!entry)
		return exlb_err_set(err, "no template named '%s'", name ? name : "");
	file = json_string_value(json_object_get(entry, "file"));
	if (strcmp(json_string_value(json_object_get(entry, "source")), "imported")) {
		ret = exlb_err_set(err,
				   "template '%s' is built in (%s): only imported templates can be deleted",
				   name, file);
		goto out;
	}
	doc = json_object_get(entry, "doc");
	list = json_object_get(doc, "templates");
	/* a file with several templates (put there by hand) keeps the others */
	json_array_foreach(list, i, tmpl) {
		if (!strcasecmp(template_name(tmpl), name)) {
			json_array_remove(list, i);
			break;
		}
	}
	snprintf(dir, sizeof(dir), "%s/%s", state_dir, EXLB_TEMPLATE_SUBDIR);
	if (!json_array_size(list)) {
		if (unlink(file))
			ret = exlb_err_set(err, "cannot delete %s: %s", file,
					   strerror(errno));
	} else {
		ret = exlb_json_write_atomic(doc, dir, file, ".template.tmp",
					     0644, err);
	}
out:
	json_decref(entry);
	return ret;
}

/* "Exchange 2013 HTTPS Offloaded" -> "Exchange_2013_HTTPS_Offloaded.json" */
static void template_file_name(const char *name, char *buf, size_t n)
{
	size_t len = 0;

	for (const char *p = name; *p && len + 6 < n; p++)
		buf[len++] = isalnum((unsigned char)*p) || strchr("._-", *p) ?
			     *p : '_';
	snprintf(buf + len, n - len, ".json");
}

int exlb_template_import(const char *state_dir, const json_t *doc,
			 bool replace, json_t **names, struct exlb_err *err)
{
	json_t *list = json_object_get(doc, "templates"), *tmpl, *entry;
	json_t *set = json_object_get(doc, "set");
	char dir[PATH_MAX];
	size_t i;

	*names = NULL;
	if (exlb_template_check_doc(doc, err))
		return -1;
	/* every name first: the import is refused as a whole */
	json_array_foreach(list, i, tmpl) {
		const char *name = template_name(tmpl);
		char file[PATH_MAX];
		bool builtin;

		entry = locate(state_dir, name);
		if (!entry)
			continue;
		builtin = strcmp(json_string_value(json_object_get(entry, "source")),
				 "imported");
		snprintf(file, sizeof(file), "%s",
			 json_string_value(json_object_get(entry, "file")));
		json_decref(entry);
		if (builtin)
			return exlb_err_set(err,
					    "template '%s' is built in (%s): import it under another name",
					    name, file);
		if (!replace)
			return exlb_err_set(err,
					    "template '%s' exists (%s): give replace=1 to replace it",
					    name, file);
	}
	snprintf(dir, sizeof(dir), "%s/%s", state_dir, EXLB_TEMPLATE_SUBDIR);
	if (mkdir(dir, 0750) && errno != EEXIST)
		return exlb_err_set(err, "cannot create %s: %s", dir, strerror(errno));
	*names = json_array();
	json_array_foreach(list, i, tmpl) {
		const char *name = template_name(tmpl);
		char base[EXLB_TEMPLATE_NAME_SIZE + 8];
		char path[PATH_MAX + sizeof(base)];
		json_t *one;
		int ret;

		if (replace && (entry = locate(state_dir, name))) {
			json_decref(entry);
			if (exlb_template_delete(state_dir, name, err))
				return -1;
		}
		template_file_name(name, base, sizeof(base));
		snprintf(path, sizeof(path), "%s/%s", dir, base);
		if (!access(path, F_OK))
			return exlb_err_set(err,
					    "template '%s': its file %s holds another template",
					    name, path);
		one = json_pack("{sssisss[O]}", "format", EXLB_TEMPLATE_FORMAT,
				"version", EXLB_TEMPLATE_VERSION,
				"set", json_is_string(set) ? json_string_value(set) :
				       "imported",
				"templates", tmpl);
		ret = exlb_json_write_atomic(one, dir, path, ".template.tmp",
					     0644, err);
		json_decref(one);
		if (ret)
			return -1;
		json_array_append_new(*names, json_string(name));
	}
	return 0;
}

/* ---- export ---- */

static void add_rule_once(const struct exlb_config *cfg, json_t *rules,
			  const char *name)
{
	const struct exlb_rule *rule = exlb_rule_find(cfg, name);
	size_t i;
	json_t *have;

	if (!rule)
		return;
	json_array_foreach(rules, i, have)
		if (!strcasecmp(json_string_value(json_object_get(have, "name")),
				rule->name))
			return;
	json_array_append_new(rules, exlb_rule_to_json(rule));
}

json_t *exlb_template_export(const struct exlb_config *cfg,
			     const struct exlb_service *vs, const char *name,
			     struct exlb_err *err)
{
	json_t *obj, *rules, *sub, *tmpl, *doc;
	char why[128], where[64];
	size_t i;

	if (exlb_service_is_subvs(vs)) {
		exlb_err_set(err, "export takes a VS, not a SubVS");
		return NULL;
	}
	if (!name || !name[0])
		name = vs->nickname;
	if (!name[0]) {
		exlb_err_set(err, "VS %u has no nickname: give name=NAME", vs->id);
		return NULL;
	}
	if (!check_template_name(name, why, sizeof(why))) {
		exlb_err_set(err, "name: %s (got '%s')", why, name);
		return NULL;
	}
	obj = exlb_service_to_json(cfg, vs);
	rules = json_array();
	/* the VIP, the servers and the certificates belong to an installation */
	json_object_del(obj, "id");
	json_object_del(obj, "vip");
	json_object_del(obj, "rs");
	json_object_del(obj, "CertFile");
	for (unsigned int r = 0; r < vs->nr_request_rules; r++)
		add_rule_once(cfg, rules, vs->request_rules[r]);
	for (unsigned int r = 0; r < vs->nr_response_rules; r++)
		add_rule_once(cfg, rules, vs->response_rules[r]);
	json_array_foreach(json_object_get(obj, "subvs"), i, sub) {
		json_t *names = json_object_get(sub, "rules"), *rule;
		size_t j;

		json_object_del(sub, "id");
		json_object_del(sub, "parent");
		json_object_del(sub, "rs");
		json_array_foreach(names, j, rule)
			add_rule_once(cfg, rules, json_string_value(rule));
	}
	exlb_addr_port_format(&vs->vip, vs->port, where, sizeof(where));
	tmpl = json_pack("{sssssoso}", "name", name,
			 "description", "", "rules", rules, "vs", json_pack("[o]", obj));
	json_object_set_new(tmpl, "description",
			    json_sprintf("exported from VS %u (%s)", vs->id, where));
	doc = json_pack("{sssisss[o]}", "format", EXLB_TEMPLATE_FORMAT,
			"version", EXLB_TEMPLATE_VERSION, "set", "exported",
			"templates", tmpl);
	/* what export writes, import must take */
	if (exlb_template_check_doc(doc, err)) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}
