/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Persistence sync of the HA pair (docs/ha.md "Persistence sync"): the
 * active node sends the source-IP persistence records that changed -- the
 * L7 proxy's and exlb.ko's (EXLB_CMD_GET_PERSIST) -- to the standby every
 * second over configuration sync's channel
 * (ha/sync.c: TLS 1.3 with the pair key), the standby installs them into
 * its own tables as records without connections, so that after a takeover
 * a client keeps its real server.
 *
 * A record travels by what both nodes call the same thing, not by ids:
 * its VS's VIP and port, the SubVS's place under that VS and its
 * nickname, the client key (after PersistMask), the real server's address
 * and port, and the time it has left. The standby drops what it cannot
 * place (another configuration) or whose real server does not take new
 * connections here (disabled, down): the scheduler decides for those.
 */
#ifndef EXLB_HA_PERSIST_SYNC_H
#define EXLB_HA_PERSIST_SYNC_H

#include <jansson.h>

#include "config/config.h"
#include "l7/proxy.h"
#include "sync.h"

#define EXLB_HA_PERSIST_TICK_S	1.0	/* how often changes are sent */
#define EXLB_HA_PERSIST_BATCH	2048	/* records per message at most */

struct exlb_ha_persist;

/*
 * Follows the role in @rt and the configuration in @store; sends and
 * receives through @sync; the records are @proxy's and @kernel's. NULL
 * without memory or a thread.
 */
struct exlb_kernel;
struct exlb_ha_persist *exlb_ha_persist_new(struct ev_loop *loop,
					    struct exlb_store *store,
					    struct exlb_runtime *rt,
					    struct exlb_proxy *proxy,
					    struct exlb_kernel *kernel,
					    struct exlb_ha_sync *sync);
/* Stops its thread (bounded by sync's socket timeouts); NULL is fine. */
void exlb_ha_persist_free(struct exlb_ha_persist *ps);

/* ---- the parts without threads or network (unit-tested) ---- */

/*
 * One exported record as it travels: {"vip","port","sub","name","client",
 * "rs","rs_port","ttl_ms"}. NULL if its SubVS or RS is not in @cfg.
 */
json_t *exlb_ha_persist_record(const struct exlb_config *cfg,
			       const struct exlb_persist_export *r);
/*
 * A record received, placed in @cfg: 0 with @r filled, or -1 with why in
 * @why (unknown VS, SubVS or RS, persistence off, RS not serving, bad
 * client key).
 */
int exlb_ha_persist_place(const struct exlb_config *cfg,
			  const struct exlb_runtime *rt, const json_t *rec,
			  struct exlb_persist_export *r, char *why, size_t n);

#endif
