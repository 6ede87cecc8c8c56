// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The configuration as a JSON document (docs/config-format.md): objects to
 * JSON for the state file, `exlbctl save` and status, and the reader that
 * turns a document back into a configuration, naming the place of the
 * first thing wrong ("vs[0].subvs[1]: ...").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config_int.h"
#include "params.h"

static void params_to_json(json_t *obj, unsigned int scope, const void *src)
{
	for (size_t i = 0; i < exlb_nr_params; i++) {
		const struct exlb_param *p = &exlb_params[i];
		char text[1100];

		if (!(p->scope & scope))
			continue;
		/* absent = inherit: the state file stays as it was without overrides */
		if ((p->flags & EXLB_PF_INHERIT) && !exlb_param_uint(p, src))
			continue;
		exlb_param_format(p, src, text, sizeof(text));
		if (p->type == EXLB_PT_STRING ||
		    (p->type == EXLB_PT_ENUM && !(p->flags & EXLB_PF_NUMERIC_CODE)))
			json_object_set_new(obj, p->name, json_string(text));
		else
			json_object_set_new(obj, p->name,
					    json_integer(strtoul(text, NULL, 10)));
	}
}

json_t *exlb_sso_to_json(const struct exlb_sso_domain *d, bool with_secrets)
{
	json_t *obj = json_object();

	json_object_set_new(obj, "name", json_string(d->name));
	params_to_json(obj, EXLB_SCOPE_SSO, d);
	for (size_t i = 0; i < exlb_nr_params; i++) {
		const struct exlb_param *p = &exlb_params[i];

		if (!(p->scope & EXLB_SCOPE_SSO) || !(p->flags & EXLB_PF_SECRET) ||
		    with_secrets)
			continue;
		/* shown: whether it is set, never what it is */
		json_object_set_new(obj, p->name, json_boolean(
			*((const char *)d + p->offset) != 0));
	}
	return obj;
}

json_t *exlb_globals_to_json(const struct exlb_globals *g)
{
	json_t *obj = json_object();

	params_to_json(obj, EXLB_SCOPE_GLOBAL, g);
	return obj;
}

json_t *exlb_rs_to_json(const struct exlb_rs *rs)
{
	json_t *obj = json_object();
	char addr[INET6_ADDRSTRLEN];

	exlb_addr_format(&rs->addr, addr, sizeof(addr));
	json_object_set_new(obj, "id", json_integer(rs->id));
	json_object_set_new(obj, "addr", json_string(addr));
	params_to_json(obj, EXLB_SCOPE_RS, rs);
	return obj;
}

json_t *exlb_rule_to_json(const struct exlb_rule *rule)
{
	json_t *obj = json_object();

	json_object_set_new(obj, "name", json_string(rule->name));
	params_to_json(obj, EXLB_SCOPE_RULE, rule);
	return obj;
}

static json_t *service_rs_to_json(const struct exlb_config *cfg, uint32_t id)
{
	json_t *list = json_array();

	for (size_t i = 0; i < cfg->nr_reals; i++)
		if (cfg->reals[i].service_id == id)
			json_array_append_new(list, exlb_rs_to_json(&cfg->reals[i]));
	return list;
}

json_t *exlb_service_to_json(const struct exlb_config *cfg,
			     const struct exlb_service *svc)
{
	json_t *obj = json_object();
	char addr[INET6_ADDRSTRLEN];

	json_object_set_new(obj, "id", json_integer(svc->id));
	if (exlb_service_is_subvs(svc)) {
		json_t *rules = json_array();

		json_object_set_new(obj, "parent", json_integer(svc->parent_id));
		params_to_json(obj, EXLB_SCOPE_SUBVS, svc);
		for (unsigned int r = 0; r < svc->nr_rules; r++)
			json_array_append_new(rules, json_string(svc->rules[r]));
		json_object_set_new(obj, "rules", rules);
		json_object_set_new(obj, "rs", service_rs_to_json(cfg, svc->id));
	} else {
		json_t *subvs = json_array();

		exlb_addr_format(&svc->vip, addr, sizeof(addr));
		json_object_set_new(obj, "vip", json_string(addr));
		json_object_set_new(obj, "port", json_integer(svc->port));
		json_object_set_new(obj, "prot", json_string("tcp"));
		json_t *req = json_array(), *resp = json_array();

		params_to_json(obj, EXLB_SCOPE_VS, svc);
		for (unsigned int r = 0; r < svc->nr_request_rules; r++)
			json_array_append_new(req, json_string(svc->request_rules[r]));
		for (unsigned int r = 0; r < svc->nr_response_rules; r++)
			json_array_append_new(resp, json_string(svc->response_rules[r]));
		json_object_set_new(obj, "request_rules", req);
		json_object_set_new(obj, "response_rules", resp);
		json_object_set_new(obj, "rs", service_rs_to_json(cfg, svc->id));
		for (size_t i = 0; i < cfg->nr_services; i++)
			if (cfg->services[i].parent_id == svc->id)
				json_array_append_new(subvs,
					exlb_service_to_json(cfg, &cfg->services[i]));
		json_object_set_new(obj, "subvs", subvs);
	}
	return obj;
}

json_t *exlb_config_to_json(const struct exlb_config *cfg)
{
	json_t *doc = json_object(), *rules = json_array(), *vss = json_array();
	json_t *certs = json_array();

	json_object_set_new(doc, "format", json_string(EXLB_CONFIG_FORMAT));
	json_object_set_new(doc, "version", json_integer(EXLB_CONFIG_VERSION));
	json_object_set_new(doc, "next_id", json_integer(cfg->next_id));
	json_object_set_new(doc, "next_rs_id", json_integer(cfg->next_rs_id));
	json_object_set_new(doc, "globals", exlb_globals_to_json(&cfg->globals));
	for (size_t i = 0; i < cfg->nr_rules; i++)
		json_array_append_new(rules, exlb_rule_to_json(&cfg->rules[i]));
	json_object_set_new(doc, "rules", rules);
	/* before the VSs: their CertFile names these */
	for (size_t i = 0; i < cfg->nr_certs; i++)
		json_array_append_new(certs, exlb_cert_to_json(&cfg->certs[i]));
	json_object_set_new(doc, "certificates", certs);
	if (cfg->nr_sso) {
		json_t *sso = json_array();

		/* with the service accounts' passwords: exlbd binds with them */
		for (size_t i = 0; i < cfg->nr_sso; i++)
			json_array_append_new(sso, exlb_sso_to_json(&cfg->sso[i], true));
		json_object_set_new(doc, "sso_domains", sso);
	}
	if (cfg->nr_creds) {
		json_t *creds = json_array();

		for (size_t i = 0; i < cfg->nr_creds; i++)
			json_array_append_new(creds,
				exlb_cred_to_json(&cfg->creds[i], true));
		json_object_set_new(doc, "admin_credentials", creds);
	}
	for (size_t i = 0; i < cfg->nr_services; i++)
		if (!exlb_service_is_subvs(&cfg->services[i]))
			json_array_append_new(vss,
				exlb_service_to_json(cfg, &cfg->services[i]));
	json_object_set_new(doc, "vs", vss);
	return doc;
}

/* Parsing a document: @where ("vs[0].subvs[1]") prefixes every error. */
struct json_reader {
	struct exlb_config *cfg;
	uint32_t next_id;	/* for objects without "id" */
	uint32_t next_rs_id;
	struct exlb_err *err;
};

static int read_fail(struct json_reader *r, const char *where)
{
	char msg[EXLB_ERR_SIZE];

	snprintf(msg, sizeof(msg), "%s", r->err->msg);
	return exlb_err_set(r->err, "%s: %s", where, msg);
}

static int read_id(struct json_reader *r, const json_t *obj, uint32_t *id,
		   uint32_t *next, const char *where)
{
	json_t *v = json_object_get(obj, "id");

	if (!v) {
		*id = (*next)++;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) >= UINT32_MAX)
		return exlb_err_set(r->err, "%s: id: must be a positive integer",
				    where);
	*id = json_integer_value(v);
	return 0;
}

/* Every key of @obj must be a parameter of @scope or one of @own. */
static int read_params(struct json_reader *r, const json_t *obj,
		       unsigned int scope, void *dst, size_t size,
		       const char *const *own, const char *where)
{
	if (!json_is_object(obj))
		return exlb_err_set(r->err, "%s: must be a JSON object", where);
	if (exlb_apply_params(scope, dst, size, obj, own, r->err))
		return read_fail(r, where);
	return 0;
}

static int read_reals(struct json_reader *r, const json_t *list,
		      const struct exlb_service *svc, unsigned int vs_port,
		      const char *where)
{
	static const char *const own[] = { "id", "addr", NULL };
	size_t i;
	json_t *item;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return exlb_err_set(r->err, "%s.rs: must be an array", where);
	json_array_foreach(list, i, item) {
		struct exlb_rs rs, *slot;
		char here[128];
		const char *addr;

		snprintf(here, sizeof(here), "%s.rs[%zu]", where, i);
		memset(&rs, 0, sizeof(rs));
		exlb_params_defaults(EXLB_SCOPE_RS, &rs);
		rs.port = vs_port;
		rs.service_id = svc->id;
		addr = json_string_value(json_object_get(item, "addr"));
		if (!addr || exlb_addr_parse(addr, &rs.addr))
			return exlb_err_set(r->err,
					    "%s: addr: must be an IPv4 or IPv6 address",
					    here);
		if (read_id(r, item, &rs.id, &r->next_rs_id, here) ||
		    read_params(r, item, EXLB_SCOPE_RS, &rs, sizeof(rs), own, here))
			return -1;
		slot = exlb_array_append((void **)&r->cfg->reals,
					 &r->cfg->nr_reals, sizeof(rs));
		if (!slot)
			return exlb_err_set(r->err, "out of memory");
		*slot = rs;
	}
	return 0;
}

static int read_subvs(struct json_reader *r, const json_t *item,
		      const struct exlb_service *vs, const char *where)
{
	static const char *const own[] = { "id", "parent", "rules", "rs", NULL };
	struct exlb_service svc, *slot;
	json_t *rules = json_object_get(item, "rules");
	json_t *parent = json_object_get(item, "parent");
	size_t i;
	json_t *rule;
	unsigned int port = vs->port;
	uint32_t vs_id = vs->id;

	memset(&svc, 0, sizeof(svc));
	exlb_params_defaults(EXLB_SCOPE_SUBVS, &svc);
	svc.parent_id = vs->id;
	svc.protocol = IPPROTO_TCP;
	if (read_id(r, item, &svc.id, &r->next_id, where) ||
	    read_params(r, item, EXLB_SCOPE_SUBVS, &svc, sizeof(svc), own, where))
		return -1;
	if (parent && (!json_is_integer(parent) ||
		       json_integer_value(parent) != vs_id))
		return exlb_err_set(r->err, "%s: parent: must be %u, the VS it is in",
				    where, vs_id);
	if (rules && !json_is_array(rules))
		return exlb_err_set(r->err, "%s.rules: must be an array", where);
	json_array_foreach(rules, i, rule) {
		const char *name = json_string_value(rule);

		if (!name || strlen(name) >= EXLB_RULE_NAME_SIZE ||
		    svc.nr_rules >= EXLB_SUBVS_MAX_RULES)
			return exlb_err_set(r->err, "%s.rules[%zu]: must be a rule name",
					    where, i);
		strcpy(svc.rules[svc.nr_rules++], name);
	}
	/* @vs points into the array we grow: use the copies taken above */
	slot = exlb_array_append((void **)&r->cfg->services,
				 &r->cfg->nr_services, sizeof(svc));
	if (!slot)
		return exlb_err_set(r->err, "out of memory");
	*slot = svc;
	return read_reals(r, json_object_get(item, "rs"), &svc, port, where);
}

static int read_rule_names(struct json_reader *r, const json_t *list,
			   char names[][EXLB_RULE_NAME_SIZE], unsigned int *nr,
			   const char *where, const char *key)
{
	size_t i;
	json_t *item;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return exlb_err_set(r->err, "%s.%s: must be an array", where, key);
	json_array_foreach(list, i, item) {
		const char *name = json_string_value(item);

		if (!name || strlen(name) >= EXLB_RULE_NAME_SIZE ||
		    *nr >= EXLB_SUBVS_MAX_RULES)
			return exlb_err_set(r->err, "%s.%s[%zu]: must be a rule name",
					    where, key, i);
		strcpy(names[(*nr)++], name);
	}
	return 0;
}

static int read_certs(struct json_reader *r, const json_t *list)
{
	size_t i;
	json_t *item;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return exlb_err_set(r->err, "certificates: must be an array");
	json_array_foreach(list, i, item) {
		struct exlb_cert c;
		const char *name = json_string_value(json_object_get(item, "name"));
		const char *sha = json_string_value(json_object_get(item, "sha256"));
		const char *na = json_string_value(json_object_get(item, "notAfter"));
		const char *key;
		json_t *value;

		if (!json_is_object(item))
			return exlb_err_set(r->err, "certificates[%zu]: must be a JSON object", i);
		json_object_foreach((json_t *)item, key, value)
			if (strcmp(key, "name") && strcmp(key, "sha256") &&
			    strcmp(key, "notAfter"))
				return exlb_err_set(r->err,
						    "certificates[%zu]: unknown key '%s'",
						    i, key);
		memset(&c, 0, sizeof(c));
		if (!name || strlen(name) >= sizeof(c.name) || !sha ||
		    strlen(sha) >= sizeof(c.sha256) ||
		    (na && strlen(na) >= sizeof(c.not_after)))
			return exlb_err_set(r->err,
					    "certificates[%zu]: needs name, sha256 and notAfter",
					    i);
		strcpy(c.name, name);
		strcpy(c.sha256, sha);
		strcpy(c.not_after, na ? na : "");
		if (exlb_cert_set(r->cfg, &c, false, r->err)) {
			char where[48];

			snprintf(where, sizeof(where), "certificates[%zu]", i);
			return read_fail(r, where);
		}
	}
	return 0;
}

/* The admin listener's users and API keys; check.c checks names and hashes. */
static int read_creds(struct json_reader *r, const json_t *list)
{
	size_t i;
	json_t *item;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return exlb_err_set(r->err, "admin_credentials: must be an array");
	json_array_foreach(list, i, item) {
		const char *kind = json_string_value(json_object_get(item, "kind"));
		const char *name = json_string_value(json_object_get(item, "name"));
		const char *role = json_string_value(json_object_get(item, "role"));
		const char *hash = json_string_value(json_object_get(item, "hash"));
		struct exlb_cred *c;
		const char *key;
		json_t *value;

		if (!json_is_object(item))
			return exlb_err_set(r->err, "admin_credentials[%zu]: must be a JSON object", i);
		json_object_foreach((json_t *)item, key, value)
			if (strcmp(key, "kind") && strcmp(key, "name") &&
			    strcmp(key, "role") && strcmp(key, "hash"))
				return exlb_err_set(r->err,
						    "admin_credentials[%zu]: unknown key '%s'",
						    i, key);
		if (!kind || (strcmp(kind, "user") && strcmp(kind, "apikey")) ||
		    !name || strlen(name) >= EXLB_CRED_NAME_SIZE ||
		    exlb_role_parse(role) < 0 || !hash ||
		    strlen(hash) >= EXLB_CRED_HASH_SIZE)
			return exlb_err_set(r->err,
					    "admin_credentials[%zu]: needs kind (user, apikey), name, role (read-only, admin) and hash",
					    i);
		if (r->cfg->nr_creds >= EXLB_MAX_CREDS)
			return exlb_err_set(r->err, "admin_credentials: at most %d",
					    EXLB_MAX_CREDS);
		c = exlb_array_append((void **)&r->cfg->creds, &r->cfg->nr_creds,
				      sizeof(*c));
		if (!c)
			return exlb_err_set(r->err, "out of memory");
		c->kind = strcmp(kind, "user") ? EXLB_CRED_APIKEY : EXLB_CRED_USER;
		c->role = (unsigned int)exlb_role_parse(role);
		strcpy(c->name, name);
		strcpy(c->hash, hash);
	}
	return 0;
}

static int read_vs(struct json_reader *r, const json_t *item, const char *where)
{
	static const char *const own[] = { "id", "vip", "port", "prot", "rs",
					   "subvs", "request_rules",
					   "response_rules", NULL };
	struct exlb_service svc, *slot;
	const char *vip = json_string_value(json_object_get(item, "vip"));
	json_t *port = json_object_get(item, "port");
	json_t *prot = json_object_get(item, "prot");
	json_t *subvs = json_object_get(item, "subvs");
	size_t i;
	json_t *sub;

	if (!json_is_object(item))
		return exlb_err_set(r->err, "%s: must be a JSON object", where);
	memset(&svc, 0, sizeof(svc));
	exlb_params_defaults(EXLB_SCOPE_VS, &svc);
	svc.protocol = IPPROTO_TCP;
	if (!vip || exlb_addr_parse(vip, &svc.vip))
		return exlb_err_set(r->err,
				    "%s: vip: must be an IPv4 or IPv6 address", where);
	if (!json_is_integer(port) || json_integer_value(port) < 1 ||
	    json_integer_value(port) > 65535)
		return exlb_err_set(r->err, "%s: port: must be 1-65535", where);
	svc.port = json_integer_value(port);
	if (prot && (!json_is_string(prot) ||
		     strcasecmp(json_string_value(prot), "tcp")))
		return exlb_err_set(r->err, "%s: prot: must be tcp", where);
	if (read_id(r, item, &svc.id, &r->next_id, where) ||
	    read_params(r, item, EXLB_SCOPE_VS, &svc, sizeof(svc), own, where))
		return -1;
	if (read_rule_names(r, json_object_get(item, "request_rules"),
			    svc.request_rules, &svc.nr_request_rules, where,
			    "request_rules") ||
	    read_rule_names(r, json_object_get(item, "response_rules"),
			    svc.response_rules, &svc.nr_response_rules, where,
			    "response_rules"))
		return -1;
	slot = exlb_array_append((void **)&r->cfg->services,
				 &r->cfg->nr_services, sizeof(svc));
	if (!slot)
		return exlb_err_set(r->err, "out of memory");
	*slot = svc;
	if (read_reals(r, json_object_get(item, "rs"), &svc, svc.port, where))
		return -1;
	if (subvs && !json_is_array(subvs))
		return exlb_err_set(r->err, "%s.subvs: must be an array", where);
	json_array_foreach(subvs, i, sub) {
		char here[96];

		snprintf(here, sizeof(here), "%s.subvs[%zu]", where, i);
		if (read_subvs(r, sub, &svc, here))
			return -1;
	}
	return 0;
}

/* The largest "id" of the services (or RSs, @rs) in @doc: new ids go above. */
static uint32_t max_id_in(const json_t *doc, bool rs)
{
	uint32_t max = 0;
	size_t i, j, k;
	json_t *vs, *sub, *real;

#define TAKE(obj) do {							\
		json_int_t v = json_integer_value(json_object_get(obj, "id")); \
		if (v > 0 && v < UINT32_MAX && (uint32_t)v > max)	\
			max = v;					\
	} while (0)
	json_array_foreach(json_object_get(doc, "vs"), i, vs) {
		if (!rs)
			TAKE(vs);
		json_array_foreach(json_object_get(vs, "rs"), k, real)
			if (rs)
				TAKE(real);
		json_array_foreach(json_object_get(vs, "subvs"), j, sub) {
			if (!rs)
				TAKE(sub);
			json_array_foreach(json_object_get(sub, "rs"), k, real)
				if (rs)
					TAKE(real);
		}
	}
#undef TAKE
	return max;
}

/*
 * exlbd's own state file: a service with a refused setting is held, with
 * an error in the log, rather than failing the load (which would take every
 * other VS down with it).
 */
static void hold_refused(struct exlb_config *cfg)
{
	for (size_t i = 0; i < cfg->nr_services; i++) {
		struct exlb_service *s = &cfg->services[i];
		bool subvs = exlb_service_is_subvs(s);
		const struct exlb_service *vs = subvs ?
			exlb_service_by_id(cfg, s->parent_id) : s;
		char label[EXLB_NICKNAME_SIZE], where[64] = "?";
		char why[EXLB_ERR_SIZE];

		if (!exlb_service_refused(cfg, s, why, sizeof(why)))
			continue;
		s->held = true;
		if (vs)
			exlb_addr_port_format(&vs->vip, vs->port, where,
					      sizeof(where));
		exlb_log(LOG_ERR, "error: %s %u (%s): from the state file: %s; VS %s serves nothing until the setting is changed or the service is deleted",
			 subvs ? "SubVS" : "VS", s->id,
			 exlb_service_label(s, label, sizeof(label)), why, where);
	}
}

static struct exlb_config *config_from_json(const json_t *doc, bool state,
					    struct exlb_err *err)
{
	static const char *const top[] = { "format", "version", "next_id",
					   "next_rs_id", "globals", "rules",
					   "certificates", "admin_credentials",
					   "sso_domains", "vs", NULL };
	struct json_reader r = { .err = err };
	const char *format = json_string_value(json_object_get(doc, "format"));
	json_t *version = json_object_get(doc, "version");
	json_t *list, *item;
	const char *key;
	json_t *value;
	size_t i;
	json_int_t next;

	if (!json_is_object(doc)) {
		exlb_err_set(err, "configuration: must be a JSON object");
		return NULL;
	}
	if (!format || strcmp(format, EXLB_CONFIG_FORMAT)) {
		exlb_err_set(err, "format: must be \"%s\"", EXLB_CONFIG_FORMAT);
		return NULL;
	}
	if (json_integer_value(version) != EXLB_CONFIG_VERSION) {
		exlb_err_set(err, "version: this exlbd reads version %d",
			     EXLB_CONFIG_VERSION);
		return NULL;
	}
	json_object_foreach((json_t *)doc, key, value) {
		if (!exlb_word_in(top, key)) {
			exlb_err_set(err, "unknown key '%s' in the configuration", key);
			return NULL;
		}
	}
	r.cfg = exlb_config_new();
	if (!r.cfg) {
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	r.next_id = max_id_in(doc, false) + 1;
	r.next_rs_id = max_id_in(doc, true) + 1;

	if (json_object_get(doc, "globals") &&
	    read_params(&r, json_object_get(doc, "globals"), EXLB_SCOPE_GLOBAL,
			&r.cfg->globals, sizeof(r.cfg->globals), NULL, "globals"))
		goto fail;

	list = json_object_get(doc, "rules");
	if (list && !json_is_array(list)) {
		exlb_err_set(err, "rules: must be an array");
		goto fail;
	}
	json_array_foreach(list, i, item) {
		char where[32];

		snprintf(where, sizeof(where), "rules[%zu]", i);
		if (!json_is_object(item)) {
			exlb_err_set(err, "%s: must be a JSON object", where);
			goto fail;
		}
		if (exlb_rule_add(r.cfg, json_string_value(json_object_get(item, "name")),
				  item, err)) {
			read_fail(&r, where);
			goto fail;
		}
	}

	list = json_object_get(doc, "sso_domains");
	if (list && !json_is_array(list)) {
		exlb_err_set(err, "sso_domains: must be an array");
		goto fail;
	}
	json_array_foreach(list, i, item) {
		char where[48];

		snprintf(where, sizeof(where), "sso_domains[%zu]", i);
		if (!json_is_object(item)) {
			exlb_err_set(err, "%s: must be a JSON object", where);
			goto fail;
		}
		if (exlb_sso_add(r.cfg, json_string_value(json_object_get(item, "name")),
				 item, err)) {
			read_fail(&r, where);
			goto fail;
		}
	}

	if (read_certs(&r, json_object_get(doc, "certificates")) ||
	    read_creds(&r, json_object_get(doc, "admin_credentials")))
		goto fail;

	list = json_object_get(doc, "vs");
	if (list && !json_is_array(list)) {
		exlb_err_set(err, "vs: must be an array");
		goto fail;
	}
	json_array_foreach(list, i, item) {
		char where[32];

		snprintf(where, sizeof(where), "vs[%zu]", i);
		if (read_vs(&r, item, where))
			goto fail;
	}

	r.cfg->next_id = r.next_id;
	r.cfg->next_rs_id = r.next_rs_id;
	next = json_integer_value(json_object_get(doc, "next_id"));
	if (next > r.cfg->next_id && next < UINT32_MAX)
		r.cfg->next_id = next;
	next = json_integer_value(json_object_get(doc, "next_rs_id"));
	if (next > r.cfg->next_rs_id && next < UINT32_MAX)
		r.cfg->next_rs_id = next;
	if (state)
		hold_refused(r.cfg);
	if (exlb_config_check(r.cfg, err))
		goto fail;
	return r.cfg;
fail:
	exlb_config_free(r.cfg);
	return NULL;
}

struct exlb_config *exlb_config_from_json(const json_t *doc,
					  struct exlb_err *err)
{
	return config_from_json(doc, false, err);
}

struct exlb_config *exlb_config_from_state(const json_t *doc,
					   struct exlb_err *err)
{
	return config_from_json(doc, true, err);
}
