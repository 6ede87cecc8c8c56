// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Who an admin request is (HTTP Basic, a bearer token, Kemp's apikey) and
 * the limit on failed logons per client address (admin_int.h). The secrets
 * themselves are checked by config/credentials.c; a password's hash runs
 * off the main loop, as a job for the hashing thread (hasher.c).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "admin_int.h"
#include "config/credentials.h"
#include "l7/http1.h"

static struct exlb_admin_limit_slot *limit_find(struct exlb_admin_limiter *l,
						const struct in6_addr *addr)
{
	for (size_t i = 0; i < EXLB_ADMIN_LIMIT_SLOTS; i++)
		if (l->slots[i].used &&
		    !memcmp(&l->slots[i].addr, addr, sizeof(*addr)))
			return &l->slots[i];
	return NULL;
}

unsigned int exlb_admin_limit_blocked(struct exlb_admin_limiter *l,
				      const struct in6_addr *addr, time_t now)
{
	struct exlb_admin_limit_slot *s = limit_find(l, addr);

	if (!s || s->blocked_until <= now)
		return 0;
	return (unsigned int)(s->blocked_until - now);
}

/*
 * A new slot: a free one, else the one whose window is oldest among those
 * not blocked (so that many addresses cannot push a blocked one out), else
 * the oldest.
 */
static struct exlb_admin_limit_slot *limit_new(struct exlb_admin_limiter *l,
					       time_t now)
{
	struct exlb_admin_limit_slot *best = NULL, *any = &l->slots[0];

	for (size_t i = 0; i < EXLB_ADMIN_LIMIT_SLOTS; i++) {
		struct exlb_admin_limit_slot *s = &l->slots[i];

		if (!s->used)
			return s;
		if (s->blocked_until <= now &&
		    (!best || s->window_start < best->window_start))
			best = s;
		if (s->window_start < any->window_start)
			any = s;
	}
	return best ? best : any;
}

bool exlb_admin_limit_fail(struct exlb_admin_limiter *l,
			   const struct in6_addr *addr, time_t now)
{
	struct exlb_admin_limit_slot *s = limit_find(l, addr);

	if (!s) {
		s = limit_new(l, now);
		memset(s, 0, sizeof(*s));
		s->used = true;
		s->addr = *addr;
	}
	if (now - s->window_start >= EXLB_ADMIN_FAIL_WINDOW_S) {
		s->window_start = now;
		s->fails = 0;
	}
	if (++s->fails < EXLB_ADMIN_FAIL_MAX)
		return false;
	s->blocked_until = now + EXLB_ADMIN_BLOCK_S;
	s->fails = 0;
	s->window_start = now;
	return true;
}

void exlb_admin_limit_ok(struct exlb_admin_limiter *l,
			 const struct in6_addr *addr)
{
	struct exlb_admin_limit_slot *s = limit_find(l, addr);

	if (s && !s->blocked_until)
		memset(s, 0, sizeof(*s));
	else if (s)
		s->fails = 0;
}

static bool scheme(const char *header, const char *name, const char **rest)
{
	size_t len = strlen(name);

	if (strncasecmp(header, name, len) || header[len] != ' ')
		return false;
	*rest = header + len + 1;
	while (**rest == ' ')
		(*rest)++;
	return true;
}

static enum exlb_admin_auth key_auth(const struct exlb_config *cfg,
				     const char *key, unsigned int *role,
				     char *who, size_t n)
{
	const struct exlb_cred *c = exlb_cred_check_apikey(cfg, key);

	if (!c)
		return EXLB_ADMIN_AUTH_BAD;
	*role = c->role;
	snprintf(who, n, "apikey %s", c->name);
	return EXLB_ADMIN_AUTH_OK;
}

/* HMAC(pepper, user NUL password NUL stored hash): what the cache keeps. */
static bool cache_mac(struct exlb_admin_auth_state *st, const char *user,
		      const char *password, const char *hash,
		      unsigned char mac[32])
{
	char buf[EXLB_CRED_NAME_SIZE + EXLB_PASSWORD_MAX + EXLB_CRED_HASH_SIZE + 2];
	size_t lu = strlen(user), lp = strlen(password), lh = strlen(hash);
	unsigned int len = 0;
	bool ok;

	if (lu >= EXLB_CRED_NAME_SIZE || lp > EXLB_PASSWORD_MAX ||
	    lh >= EXLB_CRED_HASH_SIZE)
		return false;
	if (!st->pepper_set) {
		if (RAND_priv_bytes(st->pepper, sizeof(st->pepper)) != 1)
			return false;
		st->pepper_set = true;
	}
	memcpy(buf, user, lu + 1);
	memcpy(buf + lu + 1, password, lp + 1);
	memcpy(buf + lu + lp + 2, hash, lh);
	ok = HMAC(EVP_sha256(), st->pepper, sizeof(st->pepper),
		  (unsigned char *)buf, lu + lp + 2 + lh, mac, &len) && len == 32;
	explicit_bzero(buf, sizeof(buf));
	return ok;
}

static bool cache_hit(struct exlb_admin_auth_state *st,
		      const unsigned char mac[32], time_t now)
{
	bool hit = false;

	for (size_t i = 0; i < EXLB_ADMIN_AUTH_CACHE_SLOTS; i++)
		if (st->cache[i].expires > now &&
		    !CRYPTO_memcmp(st->cache[i].mac, mac, 32))
			hit = true;
	return hit;
}

static void cache_add(struct exlb_admin_auth_state *st,
		      const unsigned char mac[32], time_t now)
{
	size_t oldest = 0;

	for (size_t i = 1; i < EXLB_ADMIN_AUTH_CACHE_SLOTS; i++)
		if (st->cache[i].expires < st->cache[oldest].expires)
			oldest = i;
	memcpy(st->cache[oldest].mac, mac, 32);
	st->cache[oldest].expires = now + EXLB_ADMIN_AUTH_CACHE_S;
}

/*
 * A remembered logon is answered here; anything else becomes a job for the
 * hashing thread (hasher.c), in st->job: PENDING. The job keeps copies of
 * what it needs, so a configuration committed meanwhile changes nothing
 * under it (exlb_admin_auth_finish() looks the user up again).
 */
static enum exlb_admin_auth basic_auth(struct exlb_admin_auth_state *st,
				       const struct exlb_config *cfg,
				       const char *user, const char *password,
				       time_t now, unsigned int *role,
				       char *who, size_t n)
{
	const struct exlb_cred *c = exlb_cred_find(cfg, EXLB_CRED_USER, user);
	struct exlb_admin_hash_job *job;
	unsigned char mac[32];
	bool have_mac = c && cache_mac(st, user, password, c->hash, mac);

	if (have_mac && cache_hit(st, mac, now)) {
		*role = c->role;
		snprintf(who, n, "user %s", c->name);
		return EXLB_ADMIN_AUTH_OK;
	}
	if (strlen(user) >= sizeof(job->user) ||
	    strlen(password) >= sizeof(job->password))
		return EXLB_ADMIN_AUTH_BAD;	/* no such user can exist */
	job = calloc(1, sizeof(*job));
	if (!job)
		return EXLB_ADMIN_AUTH_BUSY;
	strcpy(job->user, user);
	strcpy(job->password, password);
	job->known = c != NULL;
	if (c)
		snprintf(job->hash, sizeof(job->hash), "%s", c->hash);
	job->have_mac = have_mac;
	if (have_mac)
		memcpy(job->mac, mac, sizeof(mac));
	st->job = job;
	return EXLB_ADMIN_AUTH_PENDING;
}

void exlb_admin_hash_run(struct exlb_admin_hash_job *job)
{
	job->match = exlb_cred_verify(job->known ? job->hash : NULL,
				      job->password);
	explicit_bzero(job->password, sizeof(job->password));
}

enum exlb_admin_auth exlb_admin_auth_finish(struct exlb_admin_auth_state *st,
					    const struct exlb_config *cfg,
					    const struct exlb_admin_hash_job *job,
					    time_t now, unsigned int *role,
					    char *who, size_t n)
{
	const struct exlb_cred *c = exlb_cred_find(cfg, EXLB_CRED_USER, job->user);

	st->hashes++;
	/* the user may have gone or changed password while the hash ran */
	if (!job->match || !c || strcmp(c->hash, job->hash))
		return EXLB_ADMIN_AUTH_BAD;
	if (job->have_mac)
		cache_add(st, job->mac, now);
	*role = c->role;
	snprintf(who, n, "user %s", c->name);
	return EXLB_ADMIN_AUTH_OK;
}

void exlb_admin_hash_job_free(struct exlb_admin_hash_job *job)
{
	if (!job)
		return;
	explicit_bzero(job, sizeof(*job));
	free(job);
}

enum exlb_admin_auth exlb_admin_authenticate(struct exlb_admin_auth_state *st,
					     const struct exlb_config *cfg,
					     const char *authorization,
					     const char *apikey, time_t now,
					     unsigned int *role,
					     char *who, size_t n)
{
	char user[EXLB_CRED_NAME_SIZE], password[EXLB_PASSWORD_MAX + 1];
	size_t ulen, plen;
	const char *rest;
	enum exlb_admin_auth r;

	if (authorization && scheme(authorization, "Bearer", &rest))
		return key_auth(cfg, rest, role, who, n);
	if (authorization && scheme(authorization, "Basic", &rest)) {
		/* a user name longer than a credential's cannot exist */
		if (!exlb_http_basic_credentials(authorization,
						 strlen(authorization),
						 user, sizeof(user) - 1, &ulen,
						 password, EXLB_PASSWORD_MAX,
						 &plen))
			return EXLB_ADMIN_AUTH_BAD;
		r = basic_auth(st, cfg, user, password, now, role, who, n);
		explicit_bzero(password, sizeof(password));
		return r;
	}
	if (authorization)
		return EXLB_ADMIN_AUTH_BAD;	/* a scheme we do not take */
	if (apikey)
		return key_auth(cfg, apikey, role, who, n);
	return EXLB_ADMIN_AUTH_NONE;
}

/*
 * The paths exlbd answers and the least role each needs; admin.c holds
 * their handlers in the same order.
 */
const struct exlb_admin_route exlb_admin_routes[EXLB_ADMIN_NR_ROUTES + 1] = {
	{ "GET", "/metrics", EXLB_ROLE_READONLY },
	{ "GET", "/config", EXLB_ROLE_ADMIN },	/* `exlbctl save`: it holds hashes */
	{ "GET", "/", EXLB_ROLE_READONLY },	/* the status page (webui.c) */
	{ "GET", "/webui.js", EXLB_ROLE_READONLY },
	{ "GET", "/webui.css", EXLB_ROLE_READONLY },
	{ "GET", "/status.json", EXLB_ROLE_READONLY },	/* `exlbctl status -j` */
	/* Kemp's REST API: each command's role is checked by kemp_api.c */
	{ "GET", "/access/", EXLB_ROLE_READONLY },
	{ "POST", "/access/", EXLB_ROLE_READONLY },
	{ NULL, NULL, 0 },
};

int exlb_admin_route_find(const char *method, const char *path, int *status)
{
	bool path_known = false;

	for (int i = 0; exlb_admin_routes[i].path; i++) {
		const char *want = exlb_admin_routes[i].path;
		size_t len = strlen(want);

		/*
		 * "/x/" is a prefix: it takes "/x/NAME" (not "/x/" alone);
		 * "/" (the status page) is only itself
		 */
		if (len > 1 && want[len - 1] == '/' ? strncmp(want, path, len) || !path[len] ||
					   strchr(path + len, '/')
					 : strcmp(want, path))
			continue;
		path_known = true;
		if (!strcmp(exlb_admin_routes[i].method, method))
			return i;
	}
	*status = path_known ? 405 : 404;
	return -1;
}
