/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * exlbd's side of the kernel data plane: keeps exlb.ko's tables equal to
 * the kernel-served VSs of the configuration (exlb_config_kernel_services()),
 * over generic netlink with libexlbnl.
 *
 * Reconciliation reads the kernel's tables and changes only what differs:
 * a missing service or real server is created, a differing field is set
 * (only that field), something the configuration no longer has is deleted.
 * Nothing that exists with the same identity (service id and VIP:port; real
 * address:port) is ever deleted and re-added, so a restart of exlbd, or any
 * reconcile, keeps every open flow. The kernel service id is the
 * configuration's VS id, stable across restarts.
 *
 * Health: the DOWN flag of a real server follows the runtime health verdict.
 * While a real server has no verdict yet (just after a restart), the DOWN
 * flag the kernel has is copied into the runtime state, so a restart never
 * brings a failed server back; a real server that is new to the kernel
 * starts DOWN until its first good check (CheckType none: never DOWN).
 *
 * Failures (the module is absent, a request is refused) leave the
 * configuration as the truth: the reason is logged once with the kernel's
 * extack text, runtime->kernel_available/kernel_note say it for status, and
 * the caller retries (exlb_kernel_tick()).
 */
#ifndef EXLB_KERNEL_H
#define EXLB_KERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

/* How often exlb_kernel_tick() retries opening an absent module. */
#define EXLB_KERNEL_RETRY_OPEN_S	10

struct exlb_kernel;

/* @disabled (--no-kernel): never talks to the kernel. */
struct exlb_kernel *exlb_kernel_new(bool disabled);
void exlb_kernel_free(struct exlb_kernel *k);

/*
 * Opens the netlink family; 0 or a negative errno. On failure the runtime
 * says "kernel data plane unavailable: ..." and the kernel is retried by
 * exlb_kernel_tick().
 */
int exlb_kernel_open(struct exlb_kernel *k, struct exlb_runtime *rt);
bool exlb_kernel_available(const struct exlb_kernel *k);

/*
 * Brings the kernel in line with @cfg (see above). Returns 0 when the
 * kernel now matches, a negative errno otherwise (logged; retried by the
 * next exlb_kernel_tick()). Also refreshes the runtime counters of the
 * kernel-served real servers.
 */
int exlb_kernel_reconcile(struct exlb_kernel *k, const struct exlb_config *cfg,
			  struct exlb_runtime *rt);

/*
 * The health verdict of RS @rs_id changed: sets its flags in the kernel at
 * once if its VS is kernel-served (SET_REAL; a DOWN with droponfail resets
 * its flows). Falls back to a full reconcile if the kernel disagrees.
 */
void exlb_kernel_update_rs(struct exlb_kernel *k, const struct exlb_config *cfg,
			   struct exlb_runtime *rt, uint32_t rs_id);

/*
 * Periodic (every ~2 s): retries opening the module every
 * EXLB_KERNEL_RETRY_OPEN_S, re-runs a reconcile that failed, and copies the
 * kernel's connection counters into the runtime state.
 */
void exlb_kernel_tick(struct exlb_kernel *k, const struct exlb_config *cfg,
		      struct exlb_runtime *rt);

/*
 * HA persistence sync (ha/persist_sync.c): exlb.ko's source-persistence
 * records of the kernel-served VSs (EXLB_CMD_GET_PERSIST), those that
 * changed since the last call (new, another RS, a held one every half
 * PersistTimeout, an idle one whose expiry moved more than an eighth of
 * it), or all of them with @all, into @out (at most @max; what does not
 * fit comes next time). Ids are the configuration's. The count.
 */
struct exlb_persist_export;
size_t exlb_kernel_persist_export(struct exlb_kernel *k,
				  const struct exlb_config *cfg, bool all,
				  struct exlb_persist_export *out, size_t max);
/*
 * The standby installs a record of a kernel-served VS its partner sent
 * (EXLB_CMD_SET_PERSIST). 0 or a negative errno (logged by the caller).
 */
int exlb_kernel_persist_install(struct exlb_kernel *k,
				const struct exlb_config *cfg,
				const struct exlb_persist_export *r);

#endif
