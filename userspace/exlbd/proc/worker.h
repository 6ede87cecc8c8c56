/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The L7 worker process of privilege separation (docs/privsep.md): its two
 * ends. exlb_worker_remote (manager.c) is the manager's: given to
 * exlb_proxy_new() as opts.remote (with opts.worker_user), it answers
 * l7/proxy.h's calls by starting, feeding and restarting the worker.
 * exlb_worker_main() (worker.c) is the worker's: exlbd --worker, its
 * channel at fd 3.
 */
#ifndef EXLB_WORKER_H
#define EXLB_WORKER_H

#include "l7/proxy.h"

extern const struct exlb_proxy_remote exlb_worker_remote;

/*
 * HA persistence records over the channel (both ends, worker.c): a record
 * as [service id, RS id, ttl_ms, the key's 16 bytes], the array of
 * @n of them; and back, checked (ids > 0, 16 bytes 0..255): 0 or -1.
 */
json_t *exlb_worker_persist_to_json(const struct exlb_persist_export *r, size_t n);
int exlb_worker_persist_from_json(const json_t *rec, struct exlb_persist_export *r);

/* exlbd --worker; never returns (_exit: see worker.c). */
int exlb_worker_main(void);

#endif
