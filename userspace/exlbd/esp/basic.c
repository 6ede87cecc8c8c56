// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ESP's Basic logon without the proxy (basic.h): the Authorization value
 * and the verdict cache, shared by the worker threads under one mutex (a
 * lookup is a scan of at most ESP_CACHE_SIZE 32-byte keys, far less than
 * one LDAP bind).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "esp/basic.h"
#include "l7/http1.h"

/* ---- the Authorization value ---- */

bool esp_basic_decode(const char *value, size_t len, char *user,
		      size_t *user_len, char *pw, size_t *pw_len)
{
	return exlb_http_basic_credentials(value, len, user, ESP_NAME_MAX,
					   user_len, pw, ESP_PASSWORD_MAX, pw_len);
}

/* ---- the verdict cache ---- */

struct verdict {
	unsigned char key[ESP_CACHE_KEY_LEN];
	time_t since, last, idle, max;	/* max: the logon's whole life */
	bool used;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static unsigned char hmac_key[32];
static bool key_ok;
static struct verdict cache[ESP_CACHE_SIZE];

static void key_init(void)
{
	/* no key, no cache: esp_cache_key() gives a random key each time */
	key_ok = RAND_bytes(hmac_key, sizeof(hmac_key)) == 1;
}

void esp_cache_key(const char *domain, const char *user, size_t user_len,
		   const char *pw, size_t pw_len,
		   unsigned char key[ESP_CACHE_KEY_LEN])
{
	unsigned char msg[EXLB_SSO_NAME_SIZE + ESP_NAME_MAX + ESP_PASSWORD_MAX + 32];
	unsigned int klen = ESP_CACHE_KEY_LEN;
	size_t dl = strnlen(domain, EXLB_SSO_NAME_SIZE), o = 0;

	pthread_once(&key_once, key_init);
	if (user_len > ESP_NAME_MAX)
		user_len = ESP_NAME_MAX;
	if (pw_len > ESP_PASSWORD_MAX)
		pw_len = ESP_PASSWORD_MAX;
	/* length-prefixed fields: ("a","b:c") and ("a:b","c") differ */
	o += (size_t)snprintf((char *)msg, sizeof(msg), "%zu:%zu:%zu:", dl,
			      user_len, pw_len);
	memcpy(msg + o, domain, dl);
	o += dl;
	for (size_t i = 0; i < dl; i++)	/* domain names are case-insensitive */
		msg[o - dl + i] = (unsigned char)tolower(msg[o - dl + i]);
	memcpy(msg + o, user, user_len);
	o += user_len;
	memcpy(msg + o, pw, pw_len);
	o += pw_len;
	if (!key_ok || !HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key), msg, o, key,
		       &klen))
		RAND_bytes(key, ESP_CACHE_KEY_LEN);	/* never a hit */
	explicit_bzero(msg, sizeof(msg));
}

static bool live(const struct verdict *v, time_t now)
{
	return v->used && now - v->since < v->max &&
	       (!v->idle || now - v->last < v->idle);
}

bool esp_cache_ok(const unsigned char key[ESP_CACHE_KEY_LEN], time_t now)
{
	bool ok = false;

	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < ESP_CACHE_SIZE; i++) {
		struct verdict *v = &cache[i];

		if (!v->used || memcmp(v->key, key, ESP_CACHE_KEY_LEN))
			continue;
		if (live(v, now)) {
			v->last = now;
			ok = true;
		} else {
			v->used = false;
		}
		break;
	}
	pthread_mutex_unlock(&cache_lock);
	return ok;
}

void esp_cache_put(const unsigned char key[ESP_CACHE_KEY_LEN],
		   const struct exlb_sso_domain *d, time_t now)
{
	struct verdict *slot = NULL;

	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < ESP_CACHE_SIZE; i++) {
		struct verdict *v = &cache[i];

		if (v->used && !memcmp(v->key, key, ESP_CACHE_KEY_LEN)) {
			slot = v;
			break;
		}
		if (!v->used || !live(v, now)) {
			if (!slot || slot->used)
				slot = v;
		} else if (!slot || (slot->used && v->since < slot->since)) {
			slot = v;	/* the oldest, if nothing is free */
		}
	}
	memcpy(slot->key, key, ESP_CACHE_KEY_LEN);
	slot->since = slot->last = now;
	/*
	 * Basic has no public/private choice: the public computer's
	 * timeouts, the shorter ones. "idle": ended by the idle time, and
	 * never longer than the duration either (a password changed in the
	 * directory must stop working); "max": by the duration alone.
	 */
	slot->max = d->sess_tout_duration_pub;
	slot->idle = d->sess_tout_type == EXLB_SSO_TOUT_IDLE ?
		     d->sess_tout_idle_pub : 0;
	slot->used = slot->max > 0;
	pthread_mutex_unlock(&cache_lock);
}

void esp_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	memset(cache, 0, sizeof(cache));
	pthread_mutex_unlock(&cache_lock);
}
