/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the admin listener's files share (admin.c, auth.c, metrics.c,
 * kemp_api.c) and the
 * unit tests reach: the listener's state, authentication and the limit on
 * failed logons.
 */
#ifndef EXLB_ADMIN_INT_H
#define EXLB_ADMIN_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <netinet/in.h>

#include "admin.h"

/* Failed logons: EXLB_ADMIN_FAIL_MAX in EXLB_ADMIN_FAIL_WINDOW_S -> 429 */
#define EXLB_ADMIN_FAIL_MAX		5
#define EXLB_ADMIN_FAIL_WINDOW_S	60
#define EXLB_ADMIN_BLOCK_S		300
#define EXLB_ADMIN_LIMIT_SLOTS		1024	/* client addresses remembered */

struct exlb_admin_limit_slot {
	struct in6_addr addr;		/* IPv4 as v4-mapped */
	time_t window_start;
	unsigned int fails;
	time_t blocked_until;
	bool used;
};

struct exlb_admin_limiter {
	struct exlb_admin_limit_slot slots[EXLB_ADMIN_LIMIT_SLOTS];
};

/* Seconds @addr stays refused (429), or 0. */
unsigned int exlb_admin_limit_blocked(struct exlb_admin_limiter *l,
				      const struct in6_addr *addr, time_t now);
/* Counts a failed logon; true when this one blocks @addr. */
bool exlb_admin_limit_fail(struct exlb_admin_limiter *l,
			   const struct in6_addr *addr, time_t now);
/* A successful logon forgets @addr's failures. */
void exlb_admin_limit_ok(struct exlb_admin_limiter *l,
			 const struct in6_addr *addr);

enum exlb_admin_auth {
	EXLB_ADMIN_AUTH_NONE,		/* no credentials: 401 */
	EXLB_ADMIN_AUTH_BAD,		/* wrong or malformed: 401, counted */
	EXLB_ADMIN_AUTH_BUSY,		/* password hash budget spent: 503 */
	EXLB_ADMIN_AUTH_OK,
};

/*
 * A yescrypt verification takes ~100 ms of the main loop. Two things keep
 * that bounded: a Basic logon that succeeded is remembered for
 * EXLB_ADMIN_AUTH_CACHE_S (keyed by an HMAC of user, password and stored
 * hash under a per-process random key, so nothing reusable is kept and a
 * changed password is a miss), and at most EXLB_ADMIN_HASHES_PER_S
 * verifications run per second over all clients; beyond that 503.
 */
#define EXLB_ADMIN_AUTH_CACHE_S		300
#define EXLB_ADMIN_AUTH_CACHE_SLOTS	64
#define EXLB_ADMIN_HASHES_PER_S		2

struct exlb_admin_auth_state {
	unsigned char pepper[32];
	bool pepper_set;
	struct {
		unsigned char mac[32];
		time_t expires;
	} cache[EXLB_ADMIN_AUTH_CACHE_SLOTS];
	time_t budget_second;
	unsigned int budget_used;
	uint64_t hashes;		/* verifications run (tests) */
};

/*
 * Who a request is: @authorization is its Authorization header ("Basic
 * base64(user:password)" or "Bearer KEY"), @apikey an API key from the
 * apikey header or the apikey= query parameter (Kemp); NULL when absent.
 * On success *role and @who (the user or key name) are set.
 */
enum exlb_admin_auth exlb_admin_authenticate(struct exlb_admin_auth_state *st,
					     const struct exlb_config *cfg,
					     const char *authorization,
					     const char *apikey, time_t now,
					     unsigned int *role,
					     char *who, size_t n);

struct exlb_admin {
	struct ev_loop *loop;
	struct exlb_store *store;
	struct exlb_runtime *runtime;
	struct exlb_tls_cache *tls;
	struct exlb_tls_vs *tls_vs;	/* the listener's contexts */
	int fd;				/* the listener, -1 when off */
	int inherited;			/* handed over at a takeover, until used */
	char bound[300];		/* what it was opened with, to see changes */
	void *listen_io;		/* ev_io, in admin.c */
	void *rest;			/* ev_timer: accept() failed, pause */
	struct admin_conn *conns;
	unsigned int nr_conns;
	time_t started;
	uint64_t auth_failures, rate_limited;
	struct exlb_admin_limiter limiter;
	struct exlb_admin_auth_state auth;
	const char *frozen;		/* changes refused (an upgrade), or NULL */
};

/* GET /metrics's body. 0, or -1 (no memory). The caller frees @text. */
int exlb_admin_metrics(struct exlb_admin *a, char **text, size_t *len);

/*
 * Kemp's REST API (kemp_api.c, docs/kemp-api.md): /access/@command with
 * @query (still URL-encoded) and the request @body, for a caller of @role
 * (@who for the log). *xml: the whole reply (the caller frees it), *status
 * its HTTP status. 0, or -1 (no memory).
 */
int exlb_kemp_api(struct exlb_admin *a, unsigned int role, const char *who,
		  const char *command, const char *query, const char *body,
		  size_t body_len, int *status, char **xml, size_t *xml_len);

/*
 * The route for @method @path: its index in exlb_admin_routes[] (auth.c),
 * or -1 with the status to answer (404 unknown path, 405 other method).
 * A route path ending in '/' is a prefix (/access/<command>).
 */
#define EXLB_ADMIN_NR_ROUTES	4
struct exlb_admin_route {
	const char *method, *path;
	unsigned int role;		/* the least role that may use it */
};
extern const struct exlb_admin_route exlb_admin_routes[EXLB_ADMIN_NR_ROUTES + 1];
int exlb_admin_route_find(const char *method, const char *path, int *status);

#endif
