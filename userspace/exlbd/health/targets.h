/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The health targets of a configuration: one per RS id (a (VS or SubVS,
 * RS) pair), checked as its service says (CheckType, CheckUrl, CheckPort,
 * CheckHost, CheckCodes, and the RetryInterval / Timeout / RetryCount of
 * exlb_service_health_timing()). main.c calls these on every committed
 * configuration and on the proxy's connect failures; the engine
 * (health.h) does the checking.
 */
#ifndef EXLB_HEALTH_TARGETS_H
#define EXLB_HEALTH_TARGETS_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "health.h"

/*
 * Brings @h's targets in line with @new_cfg: the targets of @old_cfg
 * (NULL at start-up) that @new_cfg no longer checks go, and their runtime
 * verdict in @rt is forgotten (a later check starts from "unchecked"); the
 * others are added or updated. Failures are logged.
 */
void exlb_health_targets_sync(struct exlb_health *h, struct exlb_runtime *rt,
			      const struct exlb_config *old_cfg,
			      const struct exlb_config *new_cfg);

/*
 * Passive health (docs/proxy.md "Connect failures"): the proxy saw @fails
 * connections in a row to RS @rs_id fail before the server said anything
 * (@why). At the service's RetryCount -- the failures its checks need --
 * every checked RS of @cfg that is up at the same address and port is
 * marked down through @h. true if any was.
 */
bool exlb_health_targets_fail(struct exlb_health *h,
			      const struct exlb_config *cfg,
			      const struct exlb_runtime *rt, uint32_t rs_id,
			      unsigned int fails, const char *why);

/*
 * The seamless upgrade (docs/upgrade.md): the old exlbd's health verdicts,
 * so the new one starts where it was instead of "unchecked" (503, RSs out
 * of the kernel's rotation). exlb_health_targets_export(): a JSON array,
 * one {"rs", "health": "up"|"down", "reason", "fails", "successes"} per RS
 * with a verdict (@h may be NULL: the runtime's verdicts alone).
 * exlb_runtime_seed(): the verdicts into @rt, for RSs of @cfg (before the
 * kernel is reconciled and the first plan built). exlb_health_targets_seed():
 * the same into the engine's targets, after exlb_health_targets_sync().
 */
json_t *exlb_health_targets_export(struct exlb_health *h,
				   const struct exlb_runtime *rt);
void exlb_runtime_seed(struct exlb_runtime *rt, const struct exlb_config *cfg,
		       const json_t *verdicts);
void exlb_health_targets_seed(struct exlb_health *h,
			      const struct exlb_runtime *rt,
			      const json_t *verdicts);

#endif
