// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * From the configuration to health targets (see targets.h): what a
 * service's Check* parameters make of a check of each of its RSs, keeping
 * the engine's targets in line with every committed configuration, and
 * which targets a run of connect failures takes down (passive health).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "targets.h"
#include "config/hex.h"

/* The guide writes CheckUrl URL-encoded (%2Fowa%2Fhealthcheck.htm). */
static void url_decode(const char *in, char *out, size_t n)
{
	size_t o = 0;

	for (; *in && o + 1 < n; in++) {
		if (in[0] == '%' && isxdigit((unsigned char)in[1]) &&
		    isxdigit((unsigned char)in[2])) {
			out[o++] = (char)(exlb_hex_digit(in[1]) * 16 +
					  exlb_hex_digit(in[2]));
			in += 2;
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

/* Whether @rs is checked, and how. */
static bool health_spec(const struct exlb_config *cfg, const struct exlb_rs *rs,
			struct exlb_check_spec *spec,
			struct sockaddr_storage *addr)
{
	const struct exlb_service *svc = exlb_service_by_id(cfg, rs->service_id);
	struct exlb_health_timing timing;
	char codes[sizeof(svc->check_codes)], *tok, *save = NULL;

	if (!svc || svc->check_type == EXLB_CHECKTYPE_NONE)
		return false;
	exlb_check_spec_init(spec);
	spec->type = (enum exlb_check_type)svc->check_type;
	url_decode(svc->check_url, spec->url, sizeof(spec->url));
	spec->use_get = svc->check_use_get;
	spec->use_http11 = svc->check_use_11;
	snprintf(spec->host, sizeof(spec->host), "%s", svc->check_host);
	snprintf(codes, sizeof(codes), "%s", svc->check_codes);
	for (tok = strtok_r(codes, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
		if (spec->n_extra_codes < EXLB_CHECK_MAX_EXTRA_CODES)
			spec->extra_codes[spec->n_extra_codes++] = atoi(tok);
	spec->port = svc->check_port;
	/* the service's own RetryInterval/Timeout/RetryCount, else its VS's, else global */
	exlb_service_health_timing(cfg, svc, &timing);
	spec->interval_ms = timing.retry_interval * 1000;
	spec->timeout_ms = timing.retry_timeout * 1000;
	spec->retry_count = timing.retry_count;

	memset(addr, 0, sizeof(*addr));
	if (rs->addr.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)addr;

		sin->sin_family = AF_INET;
		sin->sin_addr = rs->addr.u.v4;
		sin->sin_port = htons(rs->port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = rs->addr.u.v6;
		sin6->sin6_port = htons(rs->port);
	}
	return true;
}

void exlb_health_targets_sync(struct exlb_health *h, struct exlb_runtime *rt,
			      const struct exlb_config *old_cfg,
			      const struct exlb_config *new_cfg)
{
	struct exlb_check_spec spec;
	struct sockaddr_storage addr;

	for (size_t i = 0; old_cfg && i < old_cfg->nr_reals; i++) {
		const struct exlb_rs *rs = exlb_rs_by_id(new_cfg, old_cfg->reals[i].id);
		struct exlb_rs_runtime *r;

		if (rs && health_spec(new_cfg, rs, &spec, &addr))
			continue;
		exlb_health_del(h, old_cfg->reals[i].id);
		/* no longer checked: a later check starts from "unchecked" */
		r = exlb_runtime_rs(rt, old_cfg->reals[i].id);
		if (r) {
			r->health = EXLB_HEALTH_UNKNOWN;
			r->reason[0] = '\0';
		}
	}
	for (size_t i = 0; i < new_cfg->nr_reals; i++) {
		const struct exlb_rs *rs = &new_cfg->reals[i];
		char who[256];
		int err;

		if (!health_spec(new_cfg, rs, &spec, &addr))
			continue;
		err = exlb_health_add(h, rs->id, &addr, &spec);
		if (err == -EEXIST)
			err = exlb_health_update(h, rs->id, &addr, &spec);
		if (err) {
			exlb_log(LOG_ERR, "health check of %s (id %u): %s",
				 exlb_rs_describe(new_cfg, rs, who, sizeof(who)),
				 rs->id, strerror(-err));
		}
	}
}

/*
 * A connect failure (exlb_health_targets_fail()) is marked through the
 * engine, so the verdict, its log line, the kernel and droponfail follow
 * the path of a failed check and only a passing check brings it back. It
 * is about the address, not the URL a SubVS checks: every checked RS with
 * the same address and port goes down with it (the nine SubVSs of one
 * Exchange server). RSs without checks are left alone: nothing would bring
 * them back.
 */
bool exlb_health_targets_fail(struct exlb_health *h,
			      const struct exlb_config *cfg,
			      const struct exlb_runtime *rt, uint32_t rs_id,
			      unsigned int fails, const char *why)
{
	const struct exlb_rs *rs = exlb_rs_by_id(cfg, rs_id);
	const struct exlb_service *svc;
	struct exlb_health_timing timing;
	char reason[128];
	bool marked = false;

	if (!rs)
		return false;
	svc = exlb_service_by_id(cfg, rs->service_id);
	if (!svc || svc->check_type == EXLB_CHECKTYPE_NONE)
		return false;
	exlb_service_health_timing(cfg, svc, &timing);
	if (fails < (timing.retry_count ? timing.retry_count : 1))
		return false;
	snprintf(reason, sizeof(reason), "passive: %u connect failures (%s)",
		 fails, why);
	/* the engine's change hook (main.c) may apply a new plan; @cfg stays */
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		const struct exlb_rs *o = &cfg->reals[i];
		const struct exlb_rs_runtime *r;

		if (o->port != rs->port || !exlb_addr_equal(&o->addr, &rs->addr))
			continue;
		r = exlb_runtime_rs_peek(rt, o->id);
		if (!r || r->health != EXLB_HEALTH_UP)
			continue;
		if (exlb_health_set_down(h, o->id, reason) > 0)
			marked = true;
	}
	return marked;
}

/* ---- the seamless upgrade ---- */

json_t *exlb_health_targets_export(struct exlb_health *h,
				   const struct exlb_runtime *rt)
{
	json_t *out = json_array();

	for (size_t i = 0; out && i < rt->nr_rs; i++) {
		const struct exlb_rs_runtime *r = &rt->rs[i];
		unsigned int fails = 0, successes = 0;
		bool up;

		if (r->health == EXLB_HEALTH_UNKNOWN)
			continue;
		if (h)
			exlb_health_verdict(h, r->rs_id, &up, &fails, &successes);
		json_array_append_new(out, json_pack("{sIsssssIsI}",
			"rs", (json_int_t)r->rs_id,
			"health", r->health == EXLB_HEALTH_UP ? "up" : "down",
			"reason", r->reason,
			"fails", (json_int_t)fails,
			"successes", (json_int_t)successes));
	}
	return out;
}

/* One entry: 0 and its fields, or -1 if malformed. */
static int verdict_of(const json_t *v, uint32_t *rs_id, bool *up,
		      const char **reason, unsigned int *fails,
		      unsigned int *successes)
{
	json_int_t id = json_integer_value(json_object_get(v, "rs"));
	const char *health = json_string_value(json_object_get(v, "health"));

	if (id <= 0 || id > UINT32_MAX || !health)
		return -1;
	*rs_id = (uint32_t)id;
	*up = !strcmp(health, "up");
	*reason = json_string_value(json_object_get(v, "reason"));
	*fails = (unsigned int)json_integer_value(json_object_get(v, "fails"));
	*successes = (unsigned int)json_integer_value(json_object_get(v, "successes"));
	return 0;
}

void exlb_runtime_seed(struct exlb_runtime *rt, const struct exlb_config *cfg,
		       const json_t *verdicts)
{
	size_t i;
	json_t *v;

	json_array_foreach(verdicts, i, v) {
		unsigned int fails, successes;
		struct exlb_rs_runtime *r;
		const char *reason;
		uint32_t rs_id;
		bool up;

		if (verdict_of(v, &rs_id, &up, &reason, &fails, &successes) ||
		    !exlb_rs_by_id(cfg, rs_id) || !(r = exlb_runtime_rs(rt, rs_id)))
			continue;
		r->health = up ? EXLB_HEALTH_UP : EXLB_HEALTH_DOWN;
		snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
	}
}

void exlb_health_targets_seed(struct exlb_health *h,
			      const struct exlb_runtime *rt,
			      const json_t *verdicts)
{
	size_t i;
	json_t *v;

	json_array_foreach(verdicts, i, v) {
		unsigned int fails, successes;
		const struct exlb_rs_runtime *r;
		const char *reason;
		uint32_t rs_id;
		bool up;

		if (verdict_of(v, &rs_id, &up, &reason, &fails, &successes))
			continue;
		/* only what the runtime took (an RS still in the configuration) */
		r = exlb_runtime_rs_peek(rt, rs_id);
		if (r && r->health != EXLB_HEALTH_UNKNOWN)
			exlb_health_seed(h, rs_id, up, fails, successes, reason);
	}
}
