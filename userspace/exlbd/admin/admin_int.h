/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the admin listener's files share (admin.c, auth.c, metrics.c,
 * webui.c, kemp_api.c) and the unit tests reach: the listener's state,
 * authentication and the limit on failed logons.
 */
#ifndef EXLB_ADMIN_INT_H
#define EXLB_ADMIN_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <netinet/in.h>

#include "admin.h"
#include "config/credentials.h"

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
	EXLB_ADMIN_AUTH_BUSY,		/* no room for a password check: 503 */
	EXLB_ADMIN_AUTH_OK,
	EXLB_ADMIN_AUTH_PENDING,	/* a password check to run: st->job */
};

/*
 * A yescrypt verification takes ~100 ms. It never runs on the main loop:
 * it is a job for one hashing thread (hasher.c), at most
 * EXLB_ADMIN_HASH_QUEUE waiting or running (beyond that 503), the
 * connection suspended until the verdict comes back. A Basic logon that
 * succeeded is remembered for EXLB_ADMIN_AUTH_CACHE_S (keyed by an HMAC of
 * user, password and stored hash under a per-process random key, so nothing
 * reusable is kept and a changed password is a miss) and costs no hash.
 */
#define EXLB_ADMIN_AUTH_CACHE_S		300
#define EXLB_ADMIN_AUTH_CACHE_SLOTS	64
#define EXLB_ADMIN_HASH_QUEUE		16

/* One password check; the hashing thread touches only password and match. */
struct exlb_admin_hash_job {
	struct exlb_admin_hash_job *next;	/* hasher.c's queues */
	void *owner;			/* who waits (main loop only), or NULL */
	char user[EXLB_CRED_NAME_SIZE];
	char password[EXLB_PASSWORD_MAX + 1];	/* zeroed once hashed */
	char hash[EXLB_CRED_HASH_SIZE];	/* the user's, when known */
	bool known;			/* no: a dummy hash, the same cost */
	unsigned char mac[32];		/* the logon cache's key for it */
	bool have_mac;
	bool match;			/* the verdict */
};

struct exlb_admin_auth_state {
	unsigned char pepper[32];
	bool pepper_set;
	struct {
		unsigned char mac[32];
		time_t expires;
	} cache[EXLB_ADMIN_AUTH_CACHE_SLOTS];
	struct exlb_admin_hash_job *job;	/* PENDING's, for the caller */
	uint64_t hashes;		/* verdicts taken (/metrics, tests) */
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
/* The check itself (the hashing thread): sets job->match. */
void exlb_admin_hash_run(struct exlb_admin_hash_job *job);
/*
 * A PENDING request's verdict, once exlb_admin_hash_run() is done: OK
 * (with *role and @who, the logon remembered) or BAD. The user is looked
 * up again in @cfg: one deleted or given a new password meanwhile is BAD.
 */
enum exlb_admin_auth exlb_admin_auth_finish(struct exlb_admin_auth_state *st,
					    const struct exlb_config *cfg,
					    const struct exlb_admin_hash_job *job,
					    time_t now, unsigned int *role,
					    char *who, size_t n);
void exlb_admin_hash_job_free(struct exlb_admin_hash_job *job);

/*
 * The hashing thread (hasher.c): jobs in, verdicts out on the main loop
 * through an ev_async, to @verdict(job, arg), which owns the job then.
 */
struct exlb_admin_hasher;
struct exlb_admin_hasher *exlb_admin_hasher_new(struct ev_loop *loop,
		void (*verdict)(struct exlb_admin_hash_job *job, void *arg),
		void *arg);
/* 0, or -1 when EXLB_ADMIN_HASH_QUEUE jobs are in (the caller keeps @job). */
int exlb_admin_hasher_submit(struct exlb_admin_hasher *h,
			     struct exlb_admin_hash_job *job);
/* Stops and joins the thread; jobs not delivered are freed. NULL is fine. */
void exlb_admin_hasher_free(struct exlb_admin_hasher *h);

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
	struct exlb_admin_hasher *hasher;
	uint64_t hash_busy;		/* 503: the hashing queue was full */
	const char *frozen;		/* changes refused (an upgrade), or NULL */
};

/* GET /metrics's body. 0, or -1 (no memory). The caller frees @text. */
int exlb_admin_metrics(struct exlb_admin *a, char **text, size_t *len);

/* The status page's files (webui.c): 0 and @path's body, or -1. */
struct exlb_admin_file {
	const char *type, *body;
	size_t len;
};
int exlb_admin_webui_file(const char *path, struct exlb_admin_file *f);
/* GET /status.json's body (ctl's "status" answer) or NULL, to free. */
char *exlb_admin_status_json(struct exlb_admin *a);

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
#define EXLB_ADMIN_NR_ROUTES	8
struct exlb_admin_route {
	const char *method, *path;
	unsigned int role;		/* the least role that may use it */
};
extern const struct exlb_admin_route exlb_admin_routes[EXLB_ADMIN_NR_ROUTES + 1];
int exlb_admin_route_find(const char *method, const char *path, int *status);

#endif
