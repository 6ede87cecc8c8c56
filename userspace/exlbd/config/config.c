// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The configuration model of exlbd (see config.h): the objects, the
 * operations that change them, the whole-configuration checks, the JSON
 * document (docs/config-format.md), the atomically written state file, and
 * the runtime state kept beside it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "uapi/linux/exlb.h"
#include "config.h"
#include "params.h"

/*
 * Checks that need libraries config.c does not link by itself: PCRE2
 * patterns (content.c) and OpenSSL cipher lists (tls.c). They are weak
 * references so that every program linking config.c (exlbctl's tests, the
 * unit tests of other parts) still links; exlbd links both files and so
 * gets both checks. Without content.c, regex patterns fall back to a POSIX
 * compile; without tls.c, custom cipher lists are only checked for their
 * characters (params.c) and TLSType only for leaving a version on.
 */
int exlb_content_rule_check(const struct exlb_rule *rule, struct exlb_err *err)
	__attribute__((weak));
bool exlb_tls_cipher_set_check(const char *set, char *why, size_t n)
	__attribute__((weak));
bool exlb_tls_versions_check(unsigned int tls_type, const char *cipher_set,
			     char *why, size_t n)
	__attribute__((weak));

int exlb_err_set(struct exlb_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

void exlb_log(const char *fmt, ...)
{
	static const char prefix[] = "exlbd: ";
	char line[EXLB_LOG_LINE_MAX];
	size_t len = sizeof(prefix) - 1, room = sizeof(line) - len - 1;
	va_list ap;
	int n;

	memcpy(line, prefix, len);
	va_start(ap, fmt);
	n = vsnprintf(line + len, room + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > room) {
		memcpy(line + len + room - 3, "...", 3);
		n = room;
	}
	len += n;
	line[len++] = '\n';
	/* one write: a pipe (the journal) takes up to PIPE_BUF bytes whole */
	while (write(STDERR_FILENO, line, len) < 0 && errno == EINTR)
		;
}

uint64_t exlb_log_limit_hit(struct exlb_log_limit *ll, unsigned int interval_ms)
{
	struct timespec ts;
	uint64_t now, next, events;

	events = atomic_fetch_add(&ll->events, 1) + 1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	next = atomic_load(&ll->next_ms);
	/* one thread per interval wins the line */
	if (now < next ||
	    !atomic_compare_exchange_strong(&ll->next_ms, &next, now + interval_ms))
		return 0;
	return events - atomic_exchange(&ll->reported, events);
}

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

static bool addr_equal(const struct exlb_addr *a, const struct exlb_addr *b)
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
	free(cfg);
}

/* Grows an array by one zeroed element; NULL if out of memory. */
static void *array_append(void **array, size_t *count, size_t size)
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

static struct exlb_service *find_vs_by_addr(const struct exlb_config *cfg,
					    const struct exlb_addr *a,
					    unsigned int port)
{
	for (size_t i = 0; i < cfg->nr_services; i++) {
		struct exlb_service *s = &cfg->services[i];

		if (!exlb_service_is_subvs(s) && s->port == port &&
		    addr_equal(&s->vip, a))
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

		if (rs->service_id != svc->id || !addr_equal(&rs->addr, &addr))
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
	       !svc->error_code && exlb_service_nr_subvs(cfg, svc->id) == 0;
}

bool exlb_vs_refused(const struct exlb_config *cfg,
		     const struct exlb_service *vs)
{
	if (exlb_service_is_subvs(vs))
		vs = exlb_service_by_id(cfg, vs->parent_id);
	if (!vs || exlb_params_refused(EXLB_SCOPE_VS, vs))
		return true;
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (s->parent_id == vs->id &&
		    exlb_params_refused(EXLB_SCOPE_SUBVS, s))
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

static bool word_in(const char *const *list, const char *word)
{
	for (; list && *list; list++)
		if (!strcasecmp(*list, word))
			return true;
	return false;
}

/*
 * Applies @params (name -> value) to @obj of @scope, all or nothing. Keys
 * in @skip are the caller's own (actions such as addtoallsubvs).
 */
static int apply_params(unsigned int scope, void *obj, size_t size,
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

		if (word_in(skip, key))
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

int exlb_vs_add(struct exlb_config *cfg, const char *vip, const char *port,
		const char *prot, json_t *params, uint32_t *id,
		struct exlb_err *err)
{
	struct exlb_service svc, *slot, *dup;
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
	if (apply_params(EXLB_SCOPE_VS, &svc, sizeof(svc), params, NULL, err))
		return -1;
	svc.id = cfg->next_id;
	slot = array_append((void **)&cfg->services, &cfg->nr_services,
			    sizeof(svc));
	if (!slot)
		return exlb_err_set(err, "out of memory");
	*slot = svc;
	cfg->next_id++;
	if (id)
		*id = svc.id;
	return 0;
}

int exlb_subvs_add(struct exlb_config *cfg, struct exlb_service *vs,
		   json_t *params, uint32_t *id, struct exlb_err *err)
{
	struct exlb_service svc, *slot;
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
	if (apply_params(EXLB_SCOPE_SUBVS, &svc, sizeof(svc), params, NULL, err))
		return -1;
	svc.id = cfg->next_id;
	svc.parent_id = vs->id;
	svc.protocol = IPPROTO_TCP;
	/* @vs points into the array we are about to grow: not used below */
	slot = array_append((void **)&cfg->services, &cfg->nr_services,
			    sizeof(svc));
	if (!slot)
		return exlb_err_set(err, "out of memory");
	*slot = svc;
	cfg->next_id++;
	if (id)
		*id = svc.id;
	return 0;
}

int exlb_service_mod(struct exlb_config *cfg, struct exlb_service *svc,
		     json_t *params, struct exlb_err *err)
{
	(void)cfg;
	/* a change is a new request: a held refused setting must go now */
	svc->held = false;
	return apply_params(exlb_service_is_subvs(svc) ? EXLB_SCOPE_SUBVS :
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

static struct exlb_rs *find_rs_exact(const struct exlb_config *cfg,
				     uint32_t service_id,
				     const struct exlb_addr *addr,
				     unsigned int port, uint32_t except_id)
{
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		struct exlb_rs *rs = &cfg->reals[i];

		if (rs->service_id == service_id && rs->port == port &&
		    rs->id != except_id && addr_equal(&rs->addr, addr))
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
	if (apply_params(EXLB_SCOPE_RS, &rs, sizeof(rs), params, actions, err))
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
		if (find_rs_exact(cfg, t->id, &rs.addr, rs.port, 0))
			return exlb_err_set(err, "RS %s exists in %s %s",
					    where,
					    exlb_service_is_subvs(t) ? "SubVS" : "VS",
					    label);
		if (exlb_service_nr_rs(cfg, t->id) >= EXLB_SERVICE_MAX_RS)
			return exlb_err_set(err, "%s has %d real servers, the most allowed",
					    label, EXLB_SERVICE_MAX_RS);
	}
	for (size_t i = 0; i < nr_targets; i++) {
		struct exlb_rs *slot = array_append((void **)&cfg->reals,
						    &cfg->nr_reals, sizeof(rs));

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
	if (apply_params(EXLB_SCOPE_RS, &changed, sizeof(changed), params, NULL,
			 err))
		return -1;
	if (changed.port != rs->port &&
	    find_rs_exact(cfg, rs->service_id, &rs->addr, changed.port, rs->id)) {
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
	if (apply_params(EXLB_SCOPE_RULE, &rule, sizeof(rule), params, actions,
			 err))
		return -1;
	slot = array_append((void **)&cfg->rules, &cfg->nr_rules, sizeof(rule));
	if (!slot)
		return exlb_err_set(err, "out of memory");
	*slot = rule;
	return 0;
}

int exlb_rule_mod(struct exlb_config *cfg, struct exlb_rule *rule,
		  json_t *params, struct exlb_err *err)
{
	(void)cfg;
	return apply_params(EXLB_SCOPE_RULE, rule, sizeof(*rule), params, NULL,
			    err);
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
		slot = array_append((void **)&cfg->certs, &cfg->nr_certs,
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

int exlb_global_set(struct exlb_config *cfg, const char *param,
		    const char *value, struct exlb_err *err)
{
	json_t *params = json_object();
	int ret;

	if (!params)
		return exlb_err_set(err, "out of memory");
	json_object_set_new(params, param, json_string(value ? value : ""));
	ret = apply_params(EXLB_SCOPE_GLOBAL, &cfg->globals,
			   sizeof(cfg->globals), params, NULL, err);
	json_decref(params);
	return ret;
}

/* ---- whole-configuration checks ---- */

/* A regex pattern, when content.c (PCRE2) is not linked: POSIX ERE. */
static int check_rule_posix(const struct exlb_rule *rule, struct exlb_err *err)
{
	size_t len = strlen(rule->pattern);
	char expr[sizeof(rule->pattern)];
	regex_t re;
	int rc;

	if (len < 2 || rule->pattern[0] != '/' || rule->pattern[len - 1] != '/')
		return exlb_err_set(err,
				    "rule '%s': pattern: a regex must be written /.../ (got '%s')",
				    rule->name, rule->pattern);
	snprintf(expr, sizeof(expr), "%.*s", (int)len - 2, rule->pattern + 1);
	rc = regcomp(&re, expr, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char why[128];

		regerror(rc, &re, why, sizeof(why));
		return exlb_err_set(err, "rule '%s': pattern: %s (got '%s')",
				    rule->name, why, rule->pattern);
	}
	regfree(&re);
	return 0;
}

static int check_rule(const struct exlb_rule *rule, struct exlb_err *err)
{
	/* what each type needs: AddHeader, and DeleteHeader of a named
	 * header, work without a pattern */
	switch (rule->type) {
	case EXLB_RULE_ADD_HEADER:
		if (!rule->header[0])
			return exlb_err_set(err,
					    "rule '%s': header: an AddHeaderRule needs the header to add",
					    rule->name);
		break;
	case EXLB_RULE_DELETE_HEADER:
		if (rule->header[0])
			break;
		if (!rule->pattern[0])
			return exlb_err_set(err,
					    "rule '%s': a DeleteHeaderRule needs the header to delete or a pattern of names",
					    rule->name);
		break;
	case EXLB_RULE_REPLACE_HEADER:
		if (!rule->header[0])
			return exlb_err_set(err,
					    "rule '%s': header: a ReplaceHeaderRule needs the header to change",
					    rule->name);
		/* fall through */
	default:
		if (!rule->pattern[0])
			return exlb_err_set(err, "rule '%s': pattern: must not be empty",
					    rule->name);
	}
	/* content.c knows the pattern forms and what each type needs */
	if (exlb_content_rule_check)
		return exlb_content_rule_check(rule, err);
	if ((rule->type == EXLB_RULE_ADD_HEADER ||
	     rule->type == EXLB_RULE_DELETE_HEADER) && !rule->pattern[0])
		return 0;
	if (rule->matchtype != EXLB_MATCH_REGEX)
		return 0;
	return check_rule_posix(rule, err);
}

/* A VS's TLS side: certificates, cipher set, re-encryption, header rules. */
static int check_vs_tls(const struct exlb_config *cfg,
			const struct exlb_service *svc, const char *label,
			struct exlb_err *err)
{
	char names[EXLB_VS_MAX_CERTS][EXLB_CERT_NAME_SIZE];
	size_t n = exlb_service_cert_names(svc, names, EXLB_VS_MAX_CERTS);
	char why[256];

	for (size_t i = 0; i < n; i++)
		if (!exlb_cert_find(cfg, names[i]))
			return exlb_err_set(err,
					    "VS %s: CertFile: no certificate named '%s' (exlbctl cert add)",
					    label, names[i]);
	if (exlb_tls_cipher_set_check &&
	    !exlb_tls_cipher_set_check(svc->cipher_set, why, sizeof(why)))
		return exlb_err_set(err, "VS %s: CipherSet: %s (got '%s')", label,
				    why, svc->cipher_set);
	/*
	 * TLSType and CipherSet together, on every VS (also before
	 * SSLAcceleration is switched on): tls.c builds the protocol side of
	 * a context and asks OpenSSL whether any version can handshake.
	 */
	if (exlb_tls_versions_check &&
	    !exlb_tls_versions_check(svc->tls_type, svc->cipher_set, why,
				     sizeof(why)))
		return exlb_err_set(err, "VS %s: %s", label, why);
	if (!exlb_tls_versions_check && (svc->tls_type & 30) == 30)
		return exlb_err_set(err,
				    "VS %s: TLSType: %u disables every TLS version",
				    label, svc->tls_type);
	if (svc->reencrypt_verify && !svc->ssl_reencrypt)
		return exlb_err_set(err,
				    "VS %s: ReencryptVerify: needs SSLReencrypt=1",
				    label);
	if (svc->reencrypt_verify && !svc->reverse_sni[0])
		return exlb_err_set(err,
				    "VS %s: ReencryptVerify: needs ReverseSNIHostname, the name the RS certificate must carry",
				    label);
	for (int l = 0; l < 2; l++) {
		unsigned int nr = l ? svc->nr_response_rules : svc->nr_request_rules;
		const char (*list)[EXLB_RULE_NAME_SIZE] =
			l ? svc->response_rules : svc->request_rules;

		for (unsigned int r = 0; r < nr; r++) {
			const struct exlb_rule *rule = exlb_rule_find(cfg, list[r]);

			if (!rule)
				return exlb_err_set(err, "VS %s: no rule named '%s'",
						    label, list[r]);
			if (rule->type == EXLB_RULE_MATCH)
				return exlb_err_set(err,
						    "VS %s: rule '%s' is a content rule, not a header rule (%s rules)",
						    label, list[r],
						    l ? "response" : "request");
		}
	}
	return 0;
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

/*
 * A security setting exlb does not enforce yet (EspEnabled=1) is refused,
 * never stored and ignored; only a service held from exlbd's own older
 * state file keeps it, and serves nothing (exlb_vs_refused()).
 */
static int check_refused(const struct exlb_service *svc, const char *label,
			 struct exlb_err *err)
{
	bool subvs = exlb_service_is_subvs(svc);
	const struct exlb_param *p = exlb_params_refused(subvs ?
		EXLB_SCOPE_SUBVS : EXLB_SCOPE_VS, svc);
	char value[32];

	if (!p || svc->held)
		return 0;
	exlb_param_format(p, svc, value, sizeof(value));
	return exlb_err_set(err, "%s %s: %s=%s: %s", subvs ? "SubVS" : "VS",
			    label, p->name, value, p->refused);
}

static int check_service(const struct exlb_config *cfg,
			 const struct exlb_service *svc, struct exlb_err *err)
{
	const struct exlb_service *vs = svc;
	struct exlb_health_timing timing;
	char label[EXLB_NICKNAME_SIZE];

	exlb_service_label(svc, label, sizeof(label));
	if (check_refused(svc, label, err))
		return -1;
	if (exlb_service_is_subvs(svc)) {
		vs = exlb_service_by_id(cfg, svc->parent_id);
		if (!vs || exlb_service_is_subvs(vs))
			return exlb_err_set(err, "SubVS %s: its VS %u does not exist",
					    label, svc->parent_id);
		for (unsigned int r = 0; r < svc->nr_rules; r++) {
			const struct exlb_rule *rule =
				exlb_rule_find(cfg, svc->rules[r]);

			if (!rule)
				return exlb_err_set(err, "SubVS %s: no rule named '%s'",
						    label, svc->rules[r]);
			if (rule->type != EXLB_RULE_MATCH)
				return exlb_err_set(err,
						    "SubVS %s: rule '%s' is a header rule: only content rules select a SubVS",
						    label, svc->rules[r]);
		}
		if (svc->nr_request_rules || svc->nr_response_rules)
			return exlb_err_set(err,
					    "SubVS %s: header rules belong to its VS",
					    label);
	} else {
		if (!svc->vip.family || svc->port < 1 || svc->port > 65535)
			return exlb_err_set(err, "VS %u: needs a VIP and a port",
					    svc->id);
		if (svc->nr_rules)
			return exlb_err_set(err,
					    "VS %s: content rules select SubVSs, not VSs",
					    label);
		if (svc->vstype == EXLB_VSTYPE_TLS && !svc->starttls_mode)
			return exlb_err_set(err,
					    "VS %s: StartTLSMode: VStype tls needs one of 1 (smtp), 2 (smtp-always), 3 (ftp), 4 (imap), 6 (pop3)",
					    label);
		if (svc->vstype != EXLB_VSTYPE_TLS && svc->starttls_mode)
			return exlb_err_set(err,
					    "VS %s: StartTLSMode: only with VStype tls",
					    label);
		if (svc->ssl_reencrypt && !svc->ssl_acceleration)
			return exlb_err_set(err,
					    "VS %s: SSLReencrypt: needs SSLAcceleration=1",
					    label);
		/* the header only means something over TLS: not stored unused */
		if (svc->hsts && !svc->ssl_acceleration)
			return exlb_err_set(err,
					    "VS %s: StrictTransportSecurity: needs SSLAcceleration=1 (sent on TLS responses only)",
					    label);
		if (check_vs_tls(cfg, svc, label, err))
			return -1;
		if (svc->max_conns && exlb_service_is_kernel_served(cfg, svc))
			return exlb_err_set(err,
					    "VS %s: MaxConnsLimit: exlb.ko serves this VS and has no per-VS connection limit yet; limit its real servers (limit=N) instead",
					    label);
		if (exlb_service_nr_subvs(cfg, svc->id) &&
		    exlb_service_nr_rs(cfg, svc->id))
			return exlb_err_set(err,
					    "VS %s: has SubVSs and real servers of its own",
					    label);
	}
	if (vs->vip.family == AF_INET && svc->persist_mask > 32)
		return exlb_err_set(err,
				    "%s: PersistMask: must be 0-32 for an IPv4 VS (got %u)",
				    label, svc->persist_mask);
	exlb_service_health_timing(cfg, svc, &timing);
	if (timing.retry_timeout >= timing.retry_interval)
		return exlb_err_set(err,
				    "%s: Timeout: must be less than RetryInterval (%u, %s), a check must end before the next (got %u, %s)",
				    label, timing.retry_interval,
				    timing.from_interval, timing.retry_timeout,
				    timing.from_timeout);
	if (exlb_service_nr_rs(cfg, svc->id) > EXLB_SERVICE_MAX_RS)
		return exlb_err_set(err, "%s: more than %d real servers", label,
				    EXLB_SERVICE_MAX_RS);
	return 0;
}

int exlb_config_check(const struct exlb_config *cfg, struct exlb_err *err)
{
	const struct exlb_globals *g = &cfg->globals;

	if (g->retry_timeout >= g->retry_interval)
		return exlb_err_set(err,
				    "Timeout: must be less than RetryInterval (%u), a check must end before the next (got %u)",
				    g->retry_interval, g->retry_timeout);
	for (size_t i = 0; i < cfg->nr_certs; i++) {
		const struct exlb_cert *c = &cfg->certs[i];
		char why[128];

		if (!exlb_check_cert_name(c->name, why, sizeof(why)))
			return exlb_err_set(err, "certificate name: %s (got '%s')",
					    why, c->name);
		if (strlen(c->sha256) != 64 ||
		    strspn(c->sha256, "0123456789abcdef") != 64)
			return exlb_err_set(err,
					    "certificate '%s': sha256: must be 64 lower-case hex digits",
					    c->name);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->name, cfg->certs[j].name))
				return exlb_err_set(err, "certificate '%s' defined twice",
						    c->name);
	}
	for (size_t i = 0; i < cfg->nr_rules; i++) {
		if (check_rule(&cfg->rules[i], err))
			return -1;
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(cfg->rules[i].name, cfg->rules[j].name))
				return exlb_err_set(err, "rule '%s' defined twice",
						    cfg->rules[i].name);
	}
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (!s->id || s->id >= cfg->next_id)
			return exlb_err_set(err, "service id %u out of range", s->id);
		for (size_t j = 0; j < i; j++) {
			const struct exlb_service *t = &cfg->services[j];
			char where[64];

			if (t->id == s->id)
				return exlb_err_set(err, "service id %u used twice",
						    s->id);
			if (!exlb_service_is_subvs(s) &&
			    !exlb_service_is_subvs(t) && s->port == t->port &&
			    addr_equal(&s->vip, &t->vip)) {
				exlb_addr_port_format(&s->vip, s->port, where,
						      sizeof(where));
				return exlb_err_set(err, "VS %s defined twice", where);
			}
		}
		if (check_service(cfg, s, err))
			return -1;
	}
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		const struct exlb_rs *rs = &cfg->reals[i];
		const struct exlb_service *svc = exlb_service_by_id(cfg, rs->service_id);
		char where[64], label[EXLB_NICKNAME_SIZE];

		exlb_addr_port_format(&rs->addr, rs->port, where, sizeof(where));
		if (!svc)
			return exlb_err_set(err, "RS %s: its service %u does not exist",
					    where, rs->service_id);
		exlb_service_label(svc, label, sizeof(label));
		if (!rs->id || rs->id >= cfg->next_rs_id)
			return exlb_err_set(err, "RS id %u out of range", rs->id);
		if (find_rs_exact(cfg, rs->service_id, &rs->addr, rs->port, rs->id))
			return exlb_err_set(err, "RS %s defined twice in %s", where,
					    label);
		for (size_t j = 0; j < i; j++)
			if (cfg->reals[j].id == rs->id)
				return exlb_err_set(err, "RS id %u used twice", rs->id);
		if (exlb_service_is_kernel_served(cfg, svc) &&
		    rs->addr.family != svc->vip.family)
			return exlb_err_set(err,
					    "RS %s: an L4 VS (%s) forwards within one address family",
					    where, label);
		if (rs->forward == EXLB_FORWARD_ROUTE &&
		    !exlb_service_is_kernel_served(cfg, svc))
			return exlb_err_set(err,
					    "forward: route works at L4 only, and %s is served at L7 (RS %s)",
					    label, where);
	}
	return 0;
}

/* ---- JSON ---- */

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
	if (apply_params(scope, dst, size, obj, own, r->err))
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
		slot = array_append((void **)&r->cfg->reals, &r->cfg->nr_reals,
				    sizeof(rs));
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
	slot = array_append((void **)&r->cfg->services, &r->cfg->nr_services,
			    sizeof(svc));
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
	slot = array_append((void **)&r->cfg->services, &r->cfg->nr_services,
			    sizeof(svc));
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
		const struct exlb_param *p = exlb_params_refused(subvs ?
			EXLB_SCOPE_SUBVS : EXLB_SCOPE_VS, s);
		const struct exlb_service *vs = subvs ?
			exlb_service_by_id(cfg, s->parent_id) : s;
		char label[EXLB_NICKNAME_SIZE], where[64] = "?";

		if (!p)
			continue;
		s->held = true;
		if (vs)
			exlb_addr_port_format(&vs->vip, vs->port, where,
					      sizeof(where));
		exlb_log("error: %s %u (%s): %s=%u from the state file: %s; VS %s serves nothing until it is set to 0 or the service is deleted",
			 subvs ? "SubVS" : "VS", s->id,
			 exlb_service_label(s, label, sizeof(label)), p->name,
			 exlb_param_uint(p, s), p->refused, where);
	}
}

static struct exlb_config *config_from_json(const json_t *doc, bool state,
					    struct exlb_err *err)
{
	static const char *const top[] = { "format", "version", "next_id",
					   "next_rs_id", "globals", "rules",
					   "certificates", "vs", NULL };
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
		if (!word_in(top, key)) {
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

	if (read_certs(&r, json_object_get(doc, "certificates")))
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

/* ---- the state file ---- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

int exlb_config_write_file(const struct exlb_config *cfg, const char *dir,
			   const char *path, struct exlb_err *err)
{
	char tmp[4096];
	json_t *doc = exlb_config_to_json(cfg);
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int fd = -1, dfd = -1, saved;

	json_decref(doc);
	if (!text)
		return exlb_err_set(err, "out of memory");
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, EXLB_STATE_FILE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	if (write_all(fd, text, strlen(text)) || write_all(fd, "\n", 1) ||
	    fsync(fd))
		goto fail;
	if (close(fd)) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path))
		goto fail;
	/* the rename itself is only durable once the directory is synced */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd))
		goto fail;
	close(dfd);
	free(text);
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	unlink(tmp);
	free(text);
	return exlb_err_set(err, "cannot write %s: %s", path, strerror(saved));
}

int exlb_store_open(struct exlb_store *st, const char *state_dir,
		    struct exlb_err *err)
{
	json_error_t jerr;
	json_t *doc;
	struct exlb_err why;

	memset(st, 0, sizeof(*st));
	st->state_dir = strdup(state_dir);
	if (!st->state_dir ||
	    asprintf(&st->state_path, "%s/%s", state_dir, EXLB_STATE_FILE) < 0) {
		st->state_path = NULL;
		exlb_store_close(st);
		return exlb_err_set(err, "out of memory");
	}
	if (access(st->state_path, F_OK) && errno == ENOENT) {
		st->config = exlb_config_new();
		if (!st->config) {
			exlb_store_close(st);
			return exlb_err_set(err, "out of memory");
		}
		return 0;
	}
	doc = json_load_file(st->state_path, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		exlb_err_set(err, "%s:%d: %s", st->state_path, jerr.line, jerr.text);
		exlb_store_close(st);
		return -1;
	}
	st->config = exlb_config_from_state(doc, &why);
	json_decref(doc);
	if (!st->config) {
		exlb_err_set(err, "%s: %s", st->state_path, why.msg);
		exlb_store_close(st);
		return -1;
	}
	return 0;
}

void exlb_store_close(struct exlb_store *st)
{
	exlb_config_free(st->config);
	free(st->state_dir);
	free(st->state_path);
	memset(st, 0, sizeof(*st));
}

int exlb_store_commit(struct exlb_store *st, struct exlb_config *next,
		      const char *what, struct exlb_err *err)
{
	struct exlb_config *old;

	if (exlb_config_check(next, err) ||
	    exlb_config_write_file(next, st->state_dir, st->state_path, err)) {
		exlb_config_free(next);
		return -1;
	}
	old = st->config;
	st->config = next;
	if (what)
		exlb_log("%s", what);
	if (st->changed)
		st->changed(st->changed_ctx, old, next);
	exlb_config_free(old);
	return 0;
}

/* ---- runtime state ---- */

struct exlb_rs_runtime *exlb_runtime_rs(struct exlb_runtime *rt,
					uint32_t rs_id)
{
	struct exlb_rs_runtime *r;

	for (size_t i = 0; i < rt->nr_rs; i++)
		if (rt->rs[i].rs_id == rs_id)
			return &rt->rs[i];
	r = array_append((void **)&rt->rs, &rt->nr_rs, sizeof(*r));
	if (r)
		r->rs_id = rs_id;
	return r;
}

const struct exlb_rs_runtime *exlb_runtime_rs_peek(
	const struct exlb_runtime *rt, uint32_t rs_id)
{
	for (size_t i = 0; rt && i < rt->nr_rs; i++)
		if (rt->rs[i].rs_id == rs_id)
			return &rt->rs[i];
	return NULL;
}

void exlb_runtime_set_health(struct exlb_runtime *rt,
			     const struct exlb_config *cfg, uint32_t rs_id,
			     bool up, const char *reason)
{
	struct exlb_rs_runtime *r = exlb_runtime_rs(rt, rs_id);
	enum exlb_health_state now = up ? EXLB_HEALTH_UP : EXLB_HEALTH_DOWN;
	const struct exlb_rs *rs = exlb_rs_by_id(cfg, rs_id);
	const struct exlb_service *svc;
	char where[64], label[EXLB_NICKNAME_SIZE];

	if (!r)
		return;
	snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
	if (r->health == now || !rs)
		return;
	r->health = now;
	svc = exlb_service_by_id(cfg, rs->service_id);
	exlb_addr_port_format(&rs->addr, rs->port, where, sizeof(where));
	exlb_log("rs %s of %s: %s (%s)", where,
		 svc ? exlb_service_label(svc, label, sizeof(label)) : "?",
		 up ? "up" : "down", r->reason);
}

void exlb_runtime_prune(struct exlb_runtime *rt, const struct exlb_config *cfg)
{
	size_t keep = 0;

	for (size_t i = 0; i < rt->nr_rs; i++)
		if (exlb_rs_by_id(cfg, rt->rs[i].rs_id))
			rt->rs[keep++] = rt->rs[i];
	rt->nr_rs = keep;
}

void exlb_runtime_free(struct exlb_runtime *rt)
{
	free(rt->rs);
	rt->rs = NULL;
	rt->nr_rs = 0;
}

bool exlb_rs_is_serving(const struct exlb_config *cfg,
			const struct exlb_runtime *rt, const struct exlb_rs *rs)
{
	const struct exlb_service *svc = exlb_service_by_id(cfg, rs->service_id);
	const struct exlb_rs_runtime *r = exlb_runtime_rs_peek(rt, rs->id);

	if (!svc || !rs->enable || !rs->weight)
		return false;
	if (svc->check_type == EXLB_CHECKTYPE_NONE)
		return true;
	return r && r->health == EXLB_HEALTH_UP;
}

const char *exlb_service_status(const struct exlb_config *cfg,
				const struct exlb_runtime *rt,
				const struct exlb_service *svc)
{
	size_t serving = 0, reals = 0, subvs = 0;

	if (!svc->enable)
		return "Disabled";
	if (exlb_vs_refused(cfg, svc))
		return "Refused";
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (s->parent_id != svc->id)
			continue;
		subvs++;
		if (!strcmp(exlb_service_status(cfg, rt, s), "Up"))
			serving++;
	}
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		const struct exlb_rs *rs = &cfg->reals[i];
		const struct exlb_rs_runtime *r;

		if (rs->service_id != svc->id)
			continue;
		reals++;
		if (exlb_rs_is_serving(cfg, rt, rs)) {
			serving++;
			continue;
		}
		/* Kemp: a critical RS that fails takes its service down */
		r = exlb_runtime_rs_peek(rt, rs->id);
		if (rs->critical && rs->enable && r && r->health == EXLB_HEALTH_DOWN)
			return "Down";
	}
	if (serving)
		return "Up";
	if (!reals && !subvs && svc->error_code >= 300 &&
	    svc->error_code < 400 && svc->error_url[0])
		return "Redirect";
	return "Down";
}
