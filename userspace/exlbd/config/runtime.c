// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Runtime state beside the configuration (struct exlb_runtime, see
 * config.h): health verdicts and counters per RS id, never persisted,
 * surviving configuration swaps; and what they make of a service: whether
 * an RS takes connections, Kemp's Status column.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_int.h"

struct exlb_rs_runtime *exlb_runtime_rs(struct exlb_runtime *rt,
					uint32_t rs_id)
{
	struct exlb_rs_runtime *r;

	for (size_t i = 0; i < rt->nr_rs; i++)
		if (rt->rs[i].rs_id == rs_id)
			return &rt->rs[i];
	r = exlb_array_append((void **)&rt->rs, &rt->nr_rs, sizeof(*r));
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
	char who[256];

	if (!r)
		return;
	snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
	if (r->health == now || !rs)
		return;
	r->health = now;
	exlb_log(up ? LOG_NOTICE : LOG_WARNING, "%s %s: %s",
		 exlb_rs_describe(cfg, rs, who, sizeof(who)), up ? "up" : "down",
		 r->reason);
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
	free(rt->vs_l7);
	rt->vs_l7 = NULL;
	rt->nr_vs_l7 = 0;
	free(rt->persist);
	rt->persist = NULL;
	rt->nr_persist = 0;
	free(rt->kernel_persist);
	rt->kernel_persist = NULL;
	rt->nr_kernel_persist = 0;
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
