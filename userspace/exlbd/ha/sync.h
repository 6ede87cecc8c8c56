/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Configuration sync of the HA pair (docs/ha.md "Configuration sync"): the
 * active node pushes its whole committed configuration (the state file's
 * document) and the certificates it names to the standby over TLS 1.3 with
 * an external pre-shared key (the pair secret); the standby applies it
 * through restore's path (exlb_config_from_json(), exlb_store_commit()),
 * keeping its node-local parameters, and refuses local changes.
 *
 * Two threads per node, so the main loop never waits on the network: the
 * sender (pushes, pull requests, retries) and the listener (one peer
 * connection at a time). What arrives is applied on the main loop (an
 * ev_async), never on a thread.
 */
#ifndef EXLB_HA_SYNC_H
#define EXLB_HA_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>

#include "config/config.h"

#define EXLB_HA_SYNC_KEY_FILE	"ha-sync.key"	/* in the state directory */
#define EXLB_HA_SYNC_SECRET_MIN	16		/* characters */
#define EXLB_HA_SYNC_SECRET_MAX	1024
#define EXLB_HA_SYNC_PSK_ID	"exlb-ha-sync"	/* the TLS PSK identity */

struct exlb_ha_sync;

/* @store: the configuration it sends and commits to; @rt: role and status. */
struct exlb_ha_sync *exlb_ha_sync_new(struct ev_loop *loop,
				      struct exlb_store *store,
				      struct exlb_runtime *rt);
/* After every committed change (main.c's hook): push it if active. */
void exlb_ha_sync_changed(struct exlb_ha_sync *s);
/* The role hook (struct exlb_ha.on_role): standby pulls, active pushes. */
void exlb_ha_sync_role(void *ctx, unsigned int role);
/* Stops both threads (bounded by their socket timeouts); NULL is fine. */
void exlb_ha_sync_free(struct exlb_ha_sync *s);

/*
 * The channel, for persistence sync (ha/persist_sync.c): a client TLS
 * context (the caller's thread owns it), the partner's settings now
 * (false: sync off), one exchange of a JSON line with the partner (its
 * answer in *@reply, the caller's; -1 with why in @why), and the handler
 * of the partner's "persist" requests: called on the listener thread,
 * takes @req, returns the answer; @role is this node's.
 */
struct ssl_ctx_st;
struct ssl_ctx_st *exlb_ha_sync_client_ctx(void);
bool exlb_ha_sync_peer(struct exlb_ha_sync *s, char *partner, size_t n,
		       unsigned int *port, unsigned int *role);
int exlb_ha_sync_exchange(struct exlb_ha_sync *s, struct ssl_ctx_st *ctx,
			  const char *line, json_t **reply, char *why, size_t n);
void exlb_ha_sync_on_persist(struct exlb_ha_sync *s,
			     json_t *(*fn)(void *ctx, json_t *req,
					   unsigned int role),
			     void *ctx);

/* ---- the parts without threads or network (unit-tested) ---- */

/* hamode is not 0 and hasyncport is set. */
bool exlb_ha_sync_enabled(const struct exlb_config *cfg);
/* A global parameter each node keeps for itself (Kemp name, any case). */
bool exlb_ha_sync_param_local(const char *name);
/* Copies @cur's node-local globals into @next (a configuration received). */
void exlb_ha_sync_keep_local(struct exlb_config *next,
			     const struct exlb_config *cur);
/*
 * Whether a change must be refused here: sync on and this node standby.
 * true with the message in @msg (it names the active node).
 */
bool exlb_ha_sync_refuses(const struct exlb_config *cfg, unsigned int role,
			  char *msg, size_t n);
/* The 32-byte PSK of a pair secret (SHA-256 of a label and the secret). */
void exlb_ha_sync_derive_key(const char *secret, unsigned char key[32]);
/* exlbctl ha secret: checks and stores the derived key (0600, atomic). */
int exlb_ha_sync_set_secret(const char *state_dir, const char *secret,
			    struct exlb_err *err);
/* Loads the key: 0, or -1 (none or unreadable: sync stays closed). */
int exlb_ha_sync_load_key(const char *state_dir, unsigned char key[32]);

/*
 * The push message: {"op":"push","generation":G,"config":{...},
 * "certs":[{"name","crt","key"}...]} from the store and its certificate
 * files. NULL + err if a file cannot be read.
 */
json_t *exlb_ha_sync_message(const struct exlb_store *st, uint64_t generation,
			     struct exlb_err *err);
/*
 * Applies a push message on the standby, all or nothing: the document is
 * checked as restore checks it, node-local globals are kept, certificate
 * files installed (undone if the commit fails), then committed.
 */
int exlb_ha_sync_apply(struct exlb_store *st, const json_t *msg,
		       struct exlb_err *err);

#endif
