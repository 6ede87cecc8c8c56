// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The configuration model of exlbd (see config.h): addresses, the
 * configuration object and its copies, lookups, Kemp parameters applied to
 * objects, and the operations that change a configuration. Each operation
 * works on a copy and leaves it as it was on failure; the whole-config
 * check is check.c's, the JSON form json.c's, the state file store.c's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "uapi/linux/exlb.h"
#include "config.h"
#include "config_int.h"
#include "params.h"

/* ---- addresses ---- */

int exlb_addr_parse(const char *text, struct exlb_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, text, &a->u.v4) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &a->u.v6) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return -1;
}

void exlb_addr_format(const struct exlb_addr *a, char *buf, size_t n)
{
	if (!a->family || !inet_ntop(a->family, &a->u, buf, n))
		snprintf(buf, n, "-");
}

void exlb_addr_port_format(const struct exlb_addr *a, unsigned int port,
			   char *buf, size_t n)
{
	char addr[INET6_ADDRSTRLEN];

	exlb_addr_format(a, addr, sizeof(addr));
	if (a->family == AF_INET6)
		snprintf(buf, n, "[%s]:%u", addr, port);
	else
		snprintf(buf, n, "%s:%u", addr, port);
}

bool exlb_addr_equal(const struct exlb_addr *a, const struct exlb_addr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->u.v4.s_addr == b->u.v4.s_addr;
	return !memcmp(&a->u.v6, &b->u.v6, sizeof(a->u.v6));
}

static bool parse_port(const char *text, unsigned int *port)
{
	char *end;
	unsigned long v;

	if (!text || !isdigit((unsigned char)text[0]))
		return false;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return false;
	*port = v;
	return true;
}

/* "1.2.3.4:443" or "[2001:db8::1]:443". */
static bool parse_addr_port(const char *text, struct exlb_addr *a,
			    unsigned int *port)
{
	char buf[INET6_ADDRSTRLEN + 2];
	const char *colon;
	size_t len;

	if (text[0] == '[') {
		colon = strstr(text, "]:");
		if (!colon)
			return false;
		len = colon - text - 1;
		if (len >= sizeof(buf))
			return false;
		memcpy(buf, text + 1, len);
		buf[len] = 0;
		return !exlb_addr_parse(buf, a) && a->family == AF_INET6 &&
		       parse_port(colon + 2, port);
	}
	colon = strrchr(text, ':');
	if (!colon || strchr(text, ':') != colon)
		return false;
	len = colon - text;
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, text, len);
	buf[len] = 0;
	return !exlb_addr_parse(buf, a) && a->family == AF_INET &&
	       parse_port(colon + 1, port);
}

/* ---- the configuration object ---- */

struct exlb_config *exlb_config_new(void)
{
	struct exlb_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	exlb_params_defaults(EXLB_SCOPE_GLOBAL, &cfg->globals);
	cfg->next_id = 1;
	cfg->next_rs_id = 1;
	return cfg;
}

static void *dup_array(const void *src, size_t count, size_t size, bool *fail)
{
	void *dst;

	if (!count)
		return NULL;
	dst = malloc(count * size);
	if (!dst) {
		*fail = true;
		return NULL;
	}
	memcpy(dst, src, count * size);
	return dst;
}

struct exlb_config *exlb_config_clone(const struct exlb_config *cfg)
{
	struct exlb_config *c = malloc(sizeof(*c));
	bool fail = false;

	if (!c)
		return NULL;
	*c = *cfg;
	c->services = dup_array(cfg->services, cfg->nr_services,
				sizeof(*cfg->services), &fail);
	c->reals = dup_array(cfg->reals, cfg->nr_reals, sizeof(*cfg->reals),
			     &fail);
	c->rules = dup_array(cfg->rules, cfg->nr_rules, sizeof(*cfg->rules),
			     &fail);
	c->certs = dup_array(cfg->certs, cfg->nr_certs, sizeof(*cfg->certs),
			     &fail);
	c->creds = dup_array(cfg->creds, cfg->nr_creds, sizeof(*cfg->creds),
			     &fail);
	c->sso = dup_array(cfg->sso, cfg->nr_sso, sizeof(*cfg->sso), &fail);
	if (fail) {
		exlb_config_free(c);
		return NULL;
	}
	return c;
}

void exlb_config_free(struct exlb_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->services);
	free(cfg->reals);
	free(cfg->rules);
	free(cfg->certs);
	free(cfg->creds);
	if (cfg->sso)	/* holds a service account's password */
		explicit_bzero(cfg->sso, cfg->nr_sso * sizeof(*cfg->sso));
	free(cfg->sso);
	free(cfg);
}

void *exlb_array_append(void **array, size_t *count, size_t size)
{
	char *grown = realloc(*array, (*count + 1) * size);

	if (!grown)
		return NULL;
	*array = grown;
	memset(grown + *count * size, 0, size);
	return grown + (*count)++ * size;
}

/* ---- lookups ---- */

struct exlb_service *exlb_service_by_id(const struct exlb_config *cfg,
					uint32_t id)
{
	for (size_t i = 0; i < cfg->nr_services; i++)
		if (cfg->services[i].id == id)
			return &cfg->services[i];
	return NULL;
}

bool exlb_service_is_subvs(const struct exlb_service *svc)
{
	return svc->parent_id != 0;
}

size_t exlb_service_nr_subvs(const struct exlb_config *cfg, uint32_t vs_id)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->nr_services; i++)
		n += cfg->services[i].parent_id == vs_id;
	return n;
}

size_t exlb_service_nr_rs(const struct exlb_config *cfg, uint32_t service_id)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->nr_reals; i++)
		n += cfg->reals[i].service_id == service_id;
	return n;
}

/* The VS a service belongs to: itself, or a SubVS's parent. */
static const struct exlb_service *service_vs(const struct exlb_config *cfg,
					     const struct exlb_service *svc)
{
	if (!exlb_service_is_subvs(svc))
		return svc;
	return exlb_service_by_id(cfg, svc->parent_id);
}

const char *exlb_service_label(const struct exlb_service *svc, char *buf,
			       size_t n)
{
	if (svc->nickname[0])
		snprintf(buf, n, "%s", svc->nickname);
	else if (exlb_service_is_subvs(svc))
		snprintf(buf, n, "SubVS %u", svc->id);
	else
		exlb_addr_port_format(&svc->vip, svc->port, buf, n);
	return buf;
}

const char *exlb_service_describe(const struct exlb_config *cfg,
				  const struct exlb_service *svc, char *buf,
				  size_t n)
{
	const struct exlb_service *vs = svc;
	char where[64], sub[EXLB_NICKNAME_SIZE + 32] = "";

	if (exlb_service_is_subvs(svc)) {
		snprintf(sub, sizeof(sub), "SubVS %s%s(id %u) of ",
			 svc->nickname, svc->nickname[0] ? " " : "", svc->id);
		vs = exlb_service_by_id(cfg, svc->parent_id);
		if (!vs) {
			snprintf(buf, n, "%sVS %u", sub, svc->parent_id);
			return buf;
		}
	}
	exlb_addr_port_format(&vs->vip, vs->port, where, sizeof(where));
	snprintf(buf, n, "%sVS %s%s%s%s", sub, where,
		 vs->nickname[0] ? " (" : "", vs->nickname,
		 vs->nickname[0] ? ")" : "");
	return buf;
}

const char *exlb_rs_describe(const struct exlb_config *cfg,
			     const struct exlb_rs *rs, char *buf, size_t n)
{
	const struct exlb_service *svc = exlb_service_by_id(cfg, rs->service_id);
	char where[64], in[160];

	exlb_addr_port_format(&rs->addr, rs->port, where, sizeof(where));
	if (svc)
		exlb_service_describe(cfg, svc, in, sizeof(in));
	else
		snprintf(in, sizeof(in), "service %u", rs->service_id);
	snprintf(buf, n, "rs %s in %s", where, in);
	return buf;
}

static struct exlb_service *find_vs_by_addr(const struct exlb_config *cfg,
					    const struct exlb_addr *a,
					    unsigned int port)
{
	for (size_t i = 0; i < cfg->nr_services; i++) {
		struct exlb_service *s = &cfg->services[i];

		if (!exlb_service_is_subvs(s) && s->port == port &&
		    exlb_addr_equal(&s->vip, a))
			return s;
	}
	return NULL;
}

/* Among services with @parent_id (or all, if ANY), the one nicknamed @name. */
#define ANY_PARENT UINT32_MAX
static struct exlb_service *find_by_nickname(const struct exlb_config *cfg,
					     const char *name,
					     uint32_t parent_id,
					     struct exlb_err *err)
{
	struct exlb_service *found = NULL;
	char ids[128] = "";
	size_t len = 0, matches = 0;

	for (size_t i = 0; i < cfg->nr_services; i++) {
		struct exlb_service *s = &cfg->services[i];

		if (parent_id != ANY_PARENT && s->parent_id != parent_id)
			continue;
		if (strcasecmp(s->nickname, name))
			continue;
		found = s;
		matches++;
		if (len < sizeof(ids))
			len += snprintf(ids + len, sizeof(ids) - len, "%s%u",
					matches > 1 ? ", " : "", s->id);
	}
	if (matches == 1)
		return found;
	if (!matches)
		exlb_err_set(err, "no VS or SubVS named '%s'", name);
	else
		exlb_err_set(err,
			     "'%s' names %zu services (ids %s): use the id or VS/SubVS",
			     name, matches, ids);
	return NULL;
}

struct exlb_service *exlb_service_find(const struct exlb_config *cfg,
				       const char *name, struct exlb_err *err)
{
	struct exlb_service *svc;
	struct exlb_addr addr;
	unsigned int port;
	const char *slash;

	if (!name || !name[0]) {
		exlb_err_set(err, "no service named: give an id, VIP:PORT or nickname");
		return NULL;
	}
	if (strspn(name, "0123456789") == strlen(name)) {
		svc = exlb_service_by_id(cfg, strtoul(name, NULL, 10));
		if (!svc)
			exlb_err_set(err, "no VS or SubVS with id %s", name);
		return svc;
	}
	slash = strchr(name, '/');
	if (slash) {
		char parent[256];
		struct exlb_service *vs;

		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - name), name);
		vs = exlb_service_find(cfg, parent, err);
		if (!vs)
			return NULL;
		if (exlb_service_is_subvs(vs)) {
			exlb_err_set(err, "'%s' is a SubVS, not a VS", parent);
			return NULL;
		}
		svc = find_by_nickname(cfg, slash + 1, vs->id, err);
		if (!svc)
			exlb_err_set(err, "VS '%s' has no SubVS named '%s'",
				     parent, slash + 1);
		return svc;
	}
	if (parse_addr_port(name, &addr, &port)) {
		svc = find_vs_by_addr(cfg, &addr, port);
		if (!svc)
			exlb_err_set(err, "no VS at %s", name);
		return svc;
	}
	if (!exlb_addr_parse(name, &addr)) {
		exlb_err_set(err, "name a VS by VIP:PORT, not just '%s'", name);
		return NULL;
	}
	return find_by_nickname(cfg, name, ANY_PARENT, err);
}

struct exlb_rs *exlb_rs_by_id(const struct exlb_config *cfg, uint32_t id)
{
	for (size_t i = 0; i < cfg->nr_reals; i++)
		if (cfg->reals[i].id == id)
			return &cfg->reals[i];
	return NULL;
}

struct exlb_rs *exlb_rs_find(const struct exlb_config *cfg,
			     const struct exlb_service *svc, const char *name,
			     struct exlb_err *err)
{
	struct exlb_addr addr;
	unsigned int port = 0;
	bool with_port = false;
	struct exlb_rs *found = NULL;
	size_t matches = 0;
	char label[EXLB_NICKNAME_SIZE];

	if (parse_addr_port(name, &addr, &port))
		with_port = true;
	else if (exlb_addr_parse(name, &addr)) {
		exlb_err_set(err, "RS must be ADDR or ADDR:PORT (got '%s')", name);
		return NULL;
	}
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		struct exlb_rs *rs = &cfg->reals[i];

		if (rs->service_id != svc->id ||
		    !exlb_addr_equal(&rs->addr, &addr))
			continue;
		if (with_port && rs->port != port)
			continue;
		found = rs;
		matches++;
	}
	exlb_service_label(svc, label, sizeof(label));
	if (!matches)
		exlb_err_set(err, "no RS %s in %s %s", name,
			     exlb_service_is_subvs(svc) ? "SubVS" : "VS", label);
	else if (matches > 1)
		exlb_err_set(err, "RS %s has several ports in %s: name it ADDR:PORT",
			     name, label);
	return matches == 1 ? found : NULL;
}

struct exlb_rule *exlb_rule_find(const struct exlb_config *cfg,
				 const char *name)
{
	for (size_t i = 0; i < cfg->nr_rules; i++)
		if (!strcasecmp(cfg->rules[i].name, name))
			return &cfg->rules[i];
	return NULL;
}

bool exlb_service_is_kernel_served(const struct exlb_config *cfg,
				   const struct exlb_service *svc)
{
	/* an ErrorCode is an HTTP answer of the LB itself: only exlbd gives it */
	return !exlb_service_is_subvs(svc) &&
	       svc->vstype == EXLB_VSTYPE_GEN && !svc->ssl_acceleration &&
	       !svc->error_code && !svc->esp_enabled &&
	       exlb_service_nr_subvs(cfg, svc->id) == 0;
}

bool exlb_service_refused(const struct exlb_config *cfg,
			  const struct exlb_service *svc, char *why, size_t n)
{
	bool subvs = exlb_service_is_subvs(svc);
	const struct exlb_param *p = exlb_params_refused(subvs ?
		EXLB_SCOPE_SUBVS : EXLB_SCOPE_VS, svc);
	const struct exlb_service *vs = subvs ?
		exlb_service_by_id(cfg, svc->parent_id) : svc;
	char value[32];

	if (p) {
		exlb_param_format(p, svc, value, sizeof(value));
		snprintf(why, n, "%s=%s: %s", p->name, value, p->refused);
		return true;
	}
	if (exlb_esp_refused(svc, vs, why, n))
		return true;
	/*
	 * The Basic and form logons need their SSO domain: without it the service
	 * could only fail (check.c says so on a commit; a state file's
	 * service is held, and no plan serves it).
	 */
	if (svc->esp_enabled &&
	    (svc->input_auth_mode == 1 || svc->input_auth_mode == 2) &&
	    !exlb_sso_find(cfg, svc->sso_domain)) {
		if (svc->sso_domain[0])
			snprintf(why, n, "Domain: no SSO domain named '%s' (exlbctl sso add)",
				 svc->sso_domain);
		else
			snprintf(why, n, "Domain: InputAuthMode %u logs users on against an SSO domain: name one (exlbctl sso add)",
				 svc->input_auth_mode);
		return true;
	}
	return false;
}

bool exlb_vs_refused(const struct exlb_config *cfg,
		     const struct exlb_service *vs)
{
	char why[EXLB_ERR_SIZE];

	if (exlb_service_is_subvs(vs))
		vs = exlb_service_by_id(cfg, vs->parent_id);
	if (!vs || exlb_service_refused(cfg, vs, why, sizeof(why)))
		return true;
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (s->parent_id == vs->id &&
		    exlb_service_refused(cfg, s, why, sizeof(why)))
			return true;
	}
	return false;
}

size_t exlb_config_kernel_services(const struct exlb_config *cfg,
				   const struct exlb_service **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->nr_services && n < max; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (s->enable && exlb_service_is_kernel_served(cfg, s) &&
		    !exlb_vs_refused(cfg, s))
			out[n++] = s;
	}
	return n;
}

static void timing_pick(unsigned int own, unsigned int vs, unsigned int global,
			bool subvs, unsigned int *out, const char **from)
{
	if (own) {
		*out = own;
		*from = subvs ? "SubVS" : "VS";
	} else if (subvs && vs) {
		*out = vs;
		*from = "VS";
	} else {
		*out = global;
		*from = "global";
	}
}

void exlb_service_health_timing(const struct exlb_config *cfg,
				const struct exlb_service *svc,
				struct exlb_health_timing *t)
{
	static const struct exlb_service none;
	const struct exlb_service *vs = &none;
	const struct exlb_globals *g = &cfg->globals;
	bool subvs = exlb_service_is_subvs(svc);

	if (subvs) {
		vs = exlb_service_by_id(cfg, svc->parent_id);
		if (!vs)
			vs = &none;
	}
	timing_pick(svc->retry_interval, vs->retry_interval, g->retry_interval,
		    subvs, &t->retry_interval, &t->from_interval);
	timing_pick(svc->retry_timeout, vs->retry_timeout, g->retry_timeout,
		    subvs, &t->retry_timeout, &t->from_timeout);
	timing_pick(svc->retry_count, vs->retry_count, g->retry_count,
		    subvs, &t->retry_count, &t->from_count);
}

/* ---- applying Kemp parameters ---- */

/* A request's value as text: strings as they are, integers, booleans as 0/1. */
static const char *json_value_text(const json_t *v, char *buf, size_t n)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_boolean(v)) {
		snprintf(buf, n, "%d", json_is_true(v));
		return buf;
	}
	return NULL;
}

bool exlb_word_in(const char *const *list, const char *word)
{
	for (; list && *list; list++)
		if (!strcasecmp(*list, word))
			return true;
	return false;
}

int exlb_apply_params(unsigned int scope, void *obj, size_t size,
		      const json_t *params, const char *const *skip,
		      struct exlb_err *err)
{
	const struct exlb_param *seen[128];
	size_t nr_seen = 0;
	const char *key;
	json_t *value;
	void *scratch;

	if (!params)
		return 0;
	if (!json_is_object(params))
		return exlb_err_set(err, "parameters must be a JSON object");
	scratch = malloc(size);
	if (!scratch)
		return exlb_err_set(err, "out of memory");
	memcpy(scratch, obj, size);

	json_object_foreach((json_t *)params, key, value) {
		const struct exlb_param *p, *other;
		const char *text;
		char num[32];

		if (exlb_word_in(skip, key))
			continue;
		p = exlb_param_find(key, scope, &other);
		if (!p) {
			if (other)
				exlb_err_set(err, "%s: not a %s parameter (it applies to %s)",
					     other->name, exlb_scope_name(scope),
					     exlb_scope_name(other->scope));
			else
				exlb_err_set(err, "unknown %s parameter '%s'",
					     exlb_scope_name(scope), key);
			goto fail;
		}
		for (size_t i = 0; i < nr_seen; i++) {
			if (seen[i] == p) {
				exlb_err_set(err, "%s: given twice", p->name);
				goto fail;
			}
		}
		if (nr_seen < sizeof(seen) / sizeof(seen[0]))
			seen[nr_seen++] = p;
		text = json_value_text(value, num, sizeof(num));
		if (!text) {
			char why[256];

			exlb_param_describe(p, why, sizeof(why));
			exlb_err_set(err, "%s: %s (got a JSON %s)", p->name, why,
				     json_is_null(value) ? "null" : "structure");
			goto fail;
		}
		if (!exlb_param_set(p, scratch, text, err->msg, sizeof(err->msg)))
			goto fail;
	}
	memcpy(obj, scratch, size);
	free(scratch);
	return 0;
fail:
	free(scratch);
	return -1;
}

/* A boolean action key of a request (addtoallsubvs), default 0. */
static int action_bool(const json_t *params, const char *name, bool *out,
		       struct exlb_err *err)
{
	const char *key;
	json_t *value;

	*out = false;
	json_object_foreach((json_t *)params, key, value) {
		char num[32];
		const char *text;

		if (strcasecmp(key, name))
			continue;
		text = json_value_text(value, num, sizeof(num));
		if (!text || (strcmp(text, "0") && strcmp(text, "1")))
			return exlb_err_set(err, "%s: must be 0 or 1 (got '%s')",
					    name, text ? text : "?");
		*out = !strcmp(text, "1");
	}
	return 0;
}

/* ---- operations ---- */

/* Adds @svc under the next service id, which *@id (if set) gets. */
static int service_append(struct exlb_config *cfg, struct exlb_service *svc,
			  uint32_t *id, struct exlb_err *err)
{
	struct exlb_service *slot;

	svc->id = cfg->next_id;
	slot = exlb_array_append((void **)&cfg->services, &cfg->nr_services,
				 sizeof(*svc));
	if (!slot)
		return exlb_err_set(err, "out of memory");
	*slot = *svc;
	cfg->next_id++;
	if (id)
		*id = svc->id;
	return 0;
}

int exlb_vs_add(struct exlb_config *cfg, const char *vip, const char *port,
		const char *prot, json_t *params, uint32_t *id,
		struct exlb_err *err)
{
	struct exlb_service svc, *dup;
	char where[64];

	memset(&svc, 0, sizeof(svc));
	if (!vip || exlb_addr_parse(vip, &svc.vip))
		return exlb_err_set(err, "VIP: must be an IPv4 or IPv6 address (got '%s')",
				    vip ? vip : "");
	if (!parse_port(port, &svc.port))
		return exlb_err_set(err, "port: must be 1-65535 (got '%s')",
				    port ? port : "");
	if (prot && strcasecmp(prot, "tcp"))
		return exlb_err_set(err, "prot: must be tcp (got '%s')", prot);
	svc.protocol = IPPROTO_TCP;
	dup = find_vs_by_addr(cfg, &svc.vip, svc.port);
	if (dup) {
		exlb_addr_port_format(&svc.vip, svc.port, where, sizeof(where));
		return exlb_err_set(err, "VS %s exists (id %u)", where, dup->id);
	}
	if (cfg->nr_services >= EXLB_MAX_SERVICES)
		return exlb_err_set(err, "too many services (at most %d)",
				    EXLB_MAX_SERVICES);
	exlb_params_defaults(EXLB_SCOPE_VS, &svc);
	if (exlb_apply_params(EXLB_SCOPE_VS, &svc, sizeof(svc), params, NULL,
			      err))
		return -1;
	return service_append(cfg, &svc, id, err);
}

int exlb_subvs_add(struct exlb_config *cfg, struct exlb_service *vs,
		   json_t *params, uint32_t *id, struct exlb_err *err)
{
	struct exlb_service svc;
	char label[EXLB_NICKNAME_SIZE];

	exlb_service_label(vs, label, sizeof(label));
	if (exlb_service_is_subvs(vs))
		return exlb_err_set(err, "%s is a SubVS: SubVSs belong to a VS",
				    label);
	if (exlb_service_nr_rs(cfg, vs->id))
		return exlb_err_set(err,
				    "VS %s has real servers of its own: delete them before adding SubVSs",
				    label);
	if (cfg->nr_services >= EXLB_MAX_SERVICES)
		return exlb_err_set(err, "too many services (at most %d)",
				    EXLB_MAX_SERVICES);
	memset(&svc, 0, sizeof(svc));
	exlb_params_defaults(EXLB_SCOPE_SUBVS, &svc);
	/* a SubVS starts with its parent's balancing, as in Kemp */
	svc.schedule = vs->schedule;
	svc.persist = vs->persist;
	svc.persist_timeout = vs->persist_timeout;
	svc.idletime = vs->idletime;
	svc.transparent = vs->transparent;
	svc.subnet_originating = vs->subnet_originating;
	if (exlb_apply_params(EXLB_SCOPE_SUBVS, &svc, sizeof(svc), params, NULL,
			      err))
		return -1;
	svc.parent_id = vs->id;
	svc.protocol = IPPROTO_TCP;
	/* @vs points into the array we are about to grow: not used below */
	return service_append(cfg, &svc, id, err);
}

int exlb_service_mod(struct exlb_config *cfg, struct exlb_service *svc,
		     json_t *params, struct exlb_err *err)
{
	(void)cfg;
	/* a change is a new request: a held refused setting must go now */
	svc->held = false;
	return exlb_apply_params(exlb_service_is_subvs(svc) ? EXLB_SCOPE_SUBVS :
							      EXLB_SCOPE_VS,
				 svc, sizeof(*svc), params, NULL, err);
}

int exlb_service_del(struct exlb_config *cfg, uint32_t id,
		     struct exlb_err *err)
{
	size_t keep = 0;

	if (!exlb_service_by_id(cfg, id))
		return exlb_err_set(err, "no VS or SubVS with id %u", id);
	/* RSs first: they are found by their service, which must still exist */
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		const struct exlb_service *owner =
			exlb_service_by_id(cfg, cfg->reals[i].service_id);

		if (owner && (owner->id == id || owner->parent_id == id))
			continue;
		cfg->reals[keep++] = cfg->reals[i];
	}
	cfg->nr_reals = keep;
	keep = 0;
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (s->id == id || s->parent_id == id)
			continue;
		cfg->services[keep++] = *s;
	}
	cfg->nr_services = keep;
	return 0;
}

struct exlb_rs *exlb_rs_find_exact(const struct exlb_config *cfg,
				   uint32_t service_id,
				   const struct exlb_addr *addr,
				   unsigned int port, uint32_t except_id)
{
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		struct exlb_rs *rs = &cfg->reals[i];

		if (rs->service_id == service_id && rs->port == port &&
		    rs->id != except_id && exlb_addr_equal(&rs->addr, addr))
			return rs;
	}
	return NULL;
}

int exlb_rs_add(struct exlb_config *cfg, struct exlb_service *svc,
		const char *addr, json_t *params, struct exlb_err *err)
{
	static const char *const actions[] = { "addtoallsubvs", NULL };
	const struct exlb_service *vs = service_vs(cfg, svc);
	uint32_t targets[EXLB_MAX_SERVICES];
	size_t nr_targets = 0;
	struct exlb_rs rs;
	bool to_all = false;
	char label[EXLB_NICKNAME_SIZE], where[64];

	memset(&rs, 0, sizeof(rs));
	if (!addr || exlb_addr_parse(addr, &rs.addr))
		return exlb_err_set(err, "RS: must be an IPv4 or IPv6 address (got '%s')",
				    addr ? addr : "");
	if (params && action_bool(params, "addtoallsubvs", &to_all, err))
		return -1;
	exlb_params_defaults(EXLB_SCOPE_RS, &rs);
	rs.port = vs->port;
	if (exlb_apply_params(EXLB_SCOPE_RS, &rs, sizeof(rs), params, actions,
			      err))
		return -1;

	exlb_service_label(vs, label, sizeof(label));
	if (to_all) {
		for (size_t i = 0; i < cfg->nr_services; i++)
			if (cfg->services[i].parent_id == vs->id)
				targets[nr_targets++] = cfg->services[i].id;
		if (!nr_targets)
			return exlb_err_set(err, "addtoallsubvs: VS %s has no SubVSs",
					    label);
	} else {
		if (!exlb_service_is_subvs(svc) &&
		    exlb_service_nr_subvs(cfg, svc->id))
			return exlb_err_set(err,
					    "VS %s has SubVSs: add real servers to a SubVS, or use addtoallsubvs=1",
					    label);
		targets[nr_targets++] = svc->id;
	}

	exlb_addr_port_format(&rs.addr, rs.port, where, sizeof(where));
	for (size_t i = 0; i < nr_targets; i++) {
		const struct exlb_service *t = exlb_service_by_id(cfg, targets[i]);

		exlb_service_label(t, label, sizeof(label));
		if (exlb_rs_find_exact(cfg, t->id, &rs.addr, rs.port, 0))
			return exlb_err_set(err, "RS %s exists in %s %s",
					    where,
					    exlb_service_is_subvs(t) ? "SubVS" : "VS",
					    label);
		if (exlb_service_nr_rs(cfg, t->id) >= EXLB_SERVICE_MAX_RS)
			return exlb_err_set(err, "%s has %d real servers, the most allowed",
					    label, EXLB_SERVICE_MAX_RS);
	}
	for (size_t i = 0; i < nr_targets; i++) {
		struct exlb_rs *slot = exlb_array_append((void **)&cfg->reals,
							 &cfg->nr_reals,
							 sizeof(rs));

		/* a failure here is fine: the caller drops this copy */
		if (!slot)
			return exlb_err_set(err, "out of memory");
		*slot = rs;
		slot->id = cfg->next_rs_id++;
		slot->service_id = targets[i];
	}
	return 0;
}

int exlb_rs_mod(struct exlb_config *cfg, struct exlb_service *svc,
		struct exlb_rs *rs, json_t *params, struct exlb_err *err)
{
	struct exlb_rs changed = *rs;
	char where[64];

	(void)svc;
	if (exlb_apply_params(EXLB_SCOPE_RS, &changed, sizeof(changed), params,
			      NULL, err))
		return -1;
	if (changed.port != rs->port &&
	    exlb_rs_find_exact(cfg, rs->service_id, &rs->addr, changed.port,
			       rs->id)) {
		exlb_addr_port_format(&rs->addr, changed.port, where, sizeof(where));
		return exlb_err_set(err, "port: RS %s exists already", where);
	}
	*rs = changed;
	return 0;
}

int exlb_rs_del(struct exlb_config *cfg, uint32_t rs_id, struct exlb_err *err)
{
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		if (cfg->reals[i].id != rs_id)
			continue;
		memmove(&cfg->reals[i], &cfg->reals[i + 1],
			(cfg->nr_reals - i - 1) * sizeof(cfg->reals[0]));
		cfg->nr_reals--;
		return 0;
	}
	return exlb_err_set(err, "no RS with id %u", rs_id);
}

int exlb_rule_add(struct exlb_config *cfg, const char *name, json_t *params,
		  struct exlb_err *err)
{
	static const char *const actions[] = { "name", NULL };
	struct exlb_rule rule, *slot;
	char why[128];

	if (!name)
		return exlb_err_set(err, "name: a rule needs a name");
	if (!exlb_check_rule_name(name, why, sizeof(why)))
		return exlb_err_set(err, "name: %s (got '%s')", why, name);
	if (strlen(name) >= sizeof(rule.name))
		return exlb_err_set(err, "name: must be at most %zu characters",
				    sizeof(rule.name) - 1);
	if (exlb_rule_find(cfg, name))
		return exlb_err_set(err, "rule '%s' exists", name);
	if (cfg->nr_rules >= EXLB_MAX_RULES)
		return exlb_err_set(err, "too many rules (at most %d)",
				    EXLB_MAX_RULES);
	memset(&rule, 0, sizeof(rule));
	exlb_params_defaults(EXLB_SCOPE_RULE, &rule);
	strcpy(rule.name, name);
	if (exlb_apply_params(EXLB_SCOPE_RULE, &rule, sizeof(rule), params,
			      actions, err))
		return -1;
	slot = exlb_array_append((void **)&cfg->rules, &cfg->nr_rules,
				 sizeof(rule));
	if (!slot)
		return exlb_err_set(err, "out of memory");
	*slot = rule;
	return 0;
}

int exlb_rule_mod(struct exlb_config *cfg, struct exlb_rule *rule,
		  json_t *params, struct exlb_err *err)
{
	(void)cfg;
	return exlb_apply_params(EXLB_SCOPE_RULE, rule, sizeof(*rule), params,
				 NULL, err);
}

int exlb_rule_del(struct exlb_config *cfg, const char *name,
		  struct exlb_err *err)
{
	struct exlb_rule *rule = exlb_rule_find(cfg, name);
	char label[EXLB_NICKNAME_SIZE];

	if (!rule)
		return exlb_err_set(err, "no rule named '%s'", name);
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];

		for (unsigned int r = 0; r < s->nr_rules; r++)
			if (!strcasecmp(s->rules[r], rule->name))
				return exlb_err_set(err,
						    "rule '%s' is used by SubVS %s (id %u): detach it first",
						    rule->name,
						    exlb_service_label(s, label, sizeof(label)),
						    s->id);
		for (unsigned int r = 0; r < s->nr_request_rules; r++)
			if (!strcasecmp(s->request_rules[r], rule->name))
				goto used;
		for (unsigned int r = 0; r < s->nr_response_rules; r++)
			if (!strcasecmp(s->response_rules[r], rule->name))
				goto used;
		continue;
used:
		return exlb_err_set(err,
				    "rule '%s' is used by VS %s (id %u): detach it first",
				    rule->name,
				    exlb_service_label(s, label, sizeof(label)), s->id);
	}
	memmove(rule, rule + 1,
		(cfg->nr_rules - (rule - cfg->rules) - 1) * sizeof(*rule));
	cfg->nr_rules--;
	return 0;
}

/* A service's rule list @list: its names and count. */
static char (*rule_list(struct exlb_service *svc, enum exlb_rule_list list,
			unsigned int **nr))[EXLB_RULE_NAME_SIZE]
{
	switch (list) {
	case EXLB_RULES_REQUEST:
		*nr = &svc->nr_request_rules;
		return svc->request_rules;
	case EXLB_RULES_RESPONSE:
		*nr = &svc->nr_response_rules;
		return svc->response_rules;
	default:
		*nr = &svc->nr_rules;
		return svc->rules;
	}
}

static const char *const list_names[] = { "content", "request", "response" };

static int rule_index(struct exlb_service *svc, enum exlb_rule_list list,
		      const char *name)
{
	unsigned int *nr;
	char (*names)[EXLB_RULE_NAME_SIZE] = rule_list(svc, list, &nr);

	for (unsigned int r = 0; r < *nr; r++)
		if (!strcasecmp(names[r], name))
			return r;
	return -1;
}

int exlb_rule_attach_to(struct exlb_config *cfg, struct exlb_service *svc,
			const char *name, enum exlb_rule_list list,
			struct exlb_err *err)
{
	const struct exlb_rule *rule = exlb_rule_find(cfg, name);
	char label[EXLB_NICKNAME_SIZE];
	char (*names)[EXLB_RULE_NAME_SIZE];
	unsigned int *nr;

	exlb_service_label(svc, label, sizeof(label));
	if (!rule)
		return exlb_err_set(err, "no rule named '%s'", name);
	if (list == EXLB_RULES_CONTENT) {
		if (rule->type != EXLB_RULE_MATCH)
			return exlb_err_set(err,
					    "rule '%s' is a header rule (type %u): attach it to a VS with 'request' or 'response'",
					    rule->name, rule->type);
		if (!exlb_service_is_subvs(svc))
			return exlb_err_set(err, "content rules select SubVSs: %s is a VS",
					    label);
	} else {
		if (rule->type == EXLB_RULE_MATCH)
			return exlb_err_set(err,
					    "rule '%s' is a content rule: it selects a SubVS, attach it without '%s'",
					    rule->name, list_names[list]);
		if (exlb_service_is_subvs(svc))
			return exlb_err_set(err,
					    "header rules belong to a VS: %s is a SubVS",
					    label);
	}
	if (rule_index(svc, list, name) >= 0)
		return exlb_err_set(err, "rule '%s' is attached to %s already",
				    rule->name, label);
	names = rule_list(svc, list, &nr);
	if (*nr >= EXLB_SUBVS_MAX_RULES)
		return exlb_err_set(err, "%s has %d %s rules, the most allowed",
				    label, EXLB_SUBVS_MAX_RULES, list_names[list]);
	strcpy(names[(*nr)++], rule->name);
	return 0;
}

int exlb_rule_detach_from(struct exlb_config *cfg, struct exlb_service *svc,
			  const char *name, int list, struct exlb_err *err)
{
	char label[EXLB_NICKNAME_SIZE];
	char (*names)[EXLB_RULE_NAME_SIZE];
	unsigned int *nr;
	int r = -1;

	(void)cfg;
	if (list < 0) {
		for (list = EXLB_RULES_CONTENT; list <= EXLB_RULES_RESPONSE; list++)
			if ((r = rule_index(svc, list, name)) >= 0)
				break;
	} else if (list <= EXLB_RULES_RESPONSE) {
		r = rule_index(svc, list, name);
	}
	if (r < 0)
		return exlb_err_set(err, "rule '%s' is not attached to %s", name,
				    exlb_service_label(svc, label, sizeof(label)));
	names = rule_list(svc, list, &nr);
	memmove(names[r], names[r + 1], (*nr - r - 1) * sizeof(names[0]));
	(*nr)--;
	return 0;
}

int exlb_rule_attach(struct exlb_config *cfg, struct exlb_service *subvs,
		     const char *name, struct exlb_err *err)
{
	return exlb_rule_attach_to(cfg, subvs, name, EXLB_RULES_CONTENT, err);
}

int exlb_rule_detach(struct exlb_config *cfg, struct exlb_service *subvs,
		     const char *name, struct exlb_err *err)
{
	return exlb_rule_detach_from(cfg, subvs, name, EXLB_RULES_CONTENT, err);
}

/* ---- the certificate table ---- */

const struct exlb_cert *exlb_cert_find(const struct exlb_config *cfg,
				       const char *name)
{
	for (size_t i = 0; i < cfg->nr_certs; i++)
		if (!strcmp(cfg->certs[i].name, name))
			return &cfg->certs[i];
	return NULL;
}

int exlb_cert_set(struct exlb_config *cfg, const struct exlb_cert *cert,
		  bool replace, struct exlb_err *err)
{
	struct exlb_cert *slot = (struct exlb_cert *)exlb_cert_find(cfg, cert->name);
	char why[128];

	if (!exlb_check_cert_name(cert->name, why, sizeof(why)))
		return exlb_err_set(err, "name: %s (got '%s')", why, cert->name);
	if (slot && !replace)
		return exlb_err_set(err,
				    "certificate '%s' exists: give replace=1 to replace it",
				    cert->name);
	if (!slot) {
		if (cfg->nr_certs >= EXLB_MAX_CERTS)
			return exlb_err_set(err, "too many certificates (at most %d)",
					    EXLB_MAX_CERTS);
		slot = exlb_array_append((void **)&cfg->certs, &cfg->nr_certs,
					 sizeof(*slot));
		if (!slot)
			return exlb_err_set(err, "out of memory");
	}
	*slot = *cert;
	return 0;
}

size_t exlb_service_cert_names(const struct exlb_service *vs,
			       char names[][EXLB_CERT_NAME_SIZE], size_t max)
{
	const char *p = vs->cert_file;
	size_t n = 0;

	while (*p && n < max) {
		size_t len;

		p += strspn(p, " ,");
		len = strcspn(p, " ,");
		if (!len)
			break;
		if (len < EXLB_CERT_NAME_SIZE) {
			memcpy(names[n], p, len);
			names[n++][len] = 0;
		}
		p += len;
	}
	return n;
}

bool exlb_service_uses_cert(const struct exlb_service *vs, const char *cert)
{
	char names[EXLB_VS_MAX_CERTS][EXLB_CERT_NAME_SIZE];
	size_t n = exlb_service_cert_names(vs, names, EXLB_VS_MAX_CERTS);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], cert))
			return true;
	return false;
}

int exlb_cert_del(struct exlb_config *cfg, const char *name,
		  struct exlb_err *err)
{
	struct exlb_cert *cert = (struct exlb_cert *)exlb_cert_find(cfg, name);
	char label[EXLB_NICKNAME_SIZE];

	if (!cert)
		return exlb_err_set(err, "no certificate named '%s'", name);
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (exlb_service_uses_cert(s, name))
			return exlb_err_set(err,
					    "certificate '%s' is used by VS %s (id %u): change its CertFile first",
					    name,
					    exlb_service_label(s, label, sizeof(label)),
					    s->id);
	}
	memmove(cert, cert + 1,
		(cfg->nr_certs - (cert - cfg->certs) - 1) * sizeof(*cert));
	cfg->nr_certs--;
	return 0;
}

json_t *exlb_cert_to_json(const struct exlb_cert *cert)
{
	return json_pack("{ssssss}", "name", cert->name, "sha256", cert->sha256,
			 "notAfter", cert->not_after);
}

/* ---- the admin listener's credentials (hashing: credentials.c) ---- */

static const char *const role_names[] = { "read-only", "admin" };

const char *exlb_role_name(unsigned int role)
{
	return role == EXLB_ROLE_ADMIN ? role_names[1] : role_names[0];
}

const char *exlb_cred_kind_name(unsigned int kind)
{
	return kind == EXLB_CRED_APIKEY ? "apikey" : "user";
}

int exlb_role_parse(const char *text)
{
	if (!text)
		return -1;
	if (!strcasecmp(text, "read-only") || !strcasecmp(text, "readonly") ||
	    !strcasecmp(text, "ro"))
		return EXLB_ROLE_READONLY;
	if (!strcasecmp(text, "admin"))
		return EXLB_ROLE_ADMIN;
	return -1;
}

const struct exlb_cred *exlb_cred_find(const struct exlb_config *cfg,
				       unsigned int kind, const char *name)
{
	for (size_t i = 0; i < cfg->nr_creds; i++)
		if (cfg->creds[i].kind == kind &&
		    !strcmp(cfg->creds[i].name, name))
			return &cfg->creds[i];
	return NULL;
}

json_t *exlb_cred_to_json(const struct exlb_cred *c, bool with_hash)
{
	json_t *obj = json_pack("{ssssss}", "kind", exlb_cred_kind_name(c->kind),
				"name", c->name, "role", exlb_role_name(c->role));

	if (with_hash)
		json_object_set_new(obj, "hash", json_string(c->hash));
	return obj;
}

int exlb_global_set(struct exlb_config *cfg, const char *param,
		    const char *value, struct exlb_err *err)
{
	json_t *params = json_object();
	int ret;

	if (!params)
		return exlb_err_set(err, "out of memory");
	json_object_set_new(params, param, json_string(value ? value : ""));
	ret = exlb_apply_params(EXLB_SCOPE_GLOBAL, &cfg->globals,
				sizeof(cfg->globals), params, NULL, err);
	json_decref(params);
	return ret;
}

/* ---- SSO domains ---- */

struct exlb_sso_domain *exlb_sso_find(const struct exlb_config *cfg,
				      const char *name)
{
	for (size_t i = 0; i < cfg->nr_sso; i++)
		if (!strcasecmp(cfg->sso[i].name, name))
			return &cfg->sso[i];
	return NULL;
}

int exlb_sso_add(struct exlb_config *cfg, const char *name, json_t *params,
		 struct exlb_err *err)
{
	static const char *const own[] = { "name", "domain", NULL };
	struct exlb_sso_domain d, *slot;
	char why[128];
	int ret = -1;

	if (!name)
		return exlb_err_set(err, "name: an SSO domain needs a name");
	if (!exlb_check_cert_name(name, why, sizeof(why)))
		return exlb_err_set(err, "name: %s (got '%s')", why, name);
	if (exlb_sso_find(cfg, name))
		return exlb_err_set(err, "SSO domain '%s' exists", name);
	if (cfg->nr_sso >= EXLB_MAX_SSO_DOMAINS)
		return exlb_err_set(err, "too many SSO domains (at most %d)",
				    EXLB_MAX_SSO_DOMAINS);
	memset(&d, 0, sizeof(d));
	exlb_params_defaults(EXLB_SCOPE_SSO, &d);
	strcpy(d.name, name);
	if (exlb_apply_params(EXLB_SCOPE_SSO, &d, sizeof(d), params, own, err))
		goto out;
	slot = exlb_array_append((void **)&cfg->sso, &cfg->nr_sso, sizeof(d));
	if (!slot) {
		exlb_err_set(err, "out of memory");
		goto out;
	}
	*slot = d;
	ret = 0;
out:
	explicit_bzero(&d, sizeof(d));
	return ret;
}

int exlb_sso_mod(struct exlb_config *cfg, struct exlb_sso_domain *d,
		 json_t *params, struct exlb_err *err)
{
	static const char *const own[] = { "name", "domain", NULL };

	(void)cfg;
	return exlb_apply_params(EXLB_SCOPE_SSO, d, sizeof(*d), params, own, err);
}

int exlb_sso_del(struct exlb_config *cfg, const char *name,
		 struct exlb_err *err)
{
	struct exlb_sso_domain *d = exlb_sso_find(cfg, name);
	char label[EXLB_NICKNAME_SIZE];

	if (!d)
		return exlb_err_set(err, "no SSO domain named '%s'", name);
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (s->esp_enabled && !strcasecmp(s->sso_domain, d->name))
			return exlb_err_set(err,
					    "SSO domain '%s' is used by %s %s (id %u) with EspEnabled=1: change its Domain first",
					    d->name,
					    exlb_service_is_subvs(s) ? "SubVS" : "VS",
					    exlb_service_label(s, label, sizeof(label)),
					    s->id);
	}
	explicit_bzero(d, sizeof(*d));
	memmove(d, d + 1, (cfg->nr_sso - (d - cfg->sso) - 1) * sizeof(*d));
	cfg->nr_sso--;
	return 0;
}
