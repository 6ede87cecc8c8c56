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
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "esp/basic.h"

/* ---- the Authorization value ---- */

static int b64(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (padding required when short); the length or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	size_t o = 0;

	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -1;	/* data after '=' */
			v[k] = b64((unsigned char)s[i + k]);
			if (v[k] < 0)
				return -1;
		}
		if (o + 3 - (size_t)pad > cap)
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return (long)o;
}

bool esp_basic_decode(const char *value, size_t len, char *user,
		      size_t *user_len, char *pw, size_t *pw_len)
{
	unsigned char buf[ESP_NAME_MAX + ESP_PASSWORD_MAX + 4];
	const unsigned char *colon;
	long n;

	if (len < 6 || strncasecmp(value, "Basic ", 6))
		return false;
	value += 6;
	len -= 6;
	while (len && (*value == ' ' || *value == '\t'))
		value++, len--;
	while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	n = b64_decode(value, len, buf, sizeof(buf));
	colon = n > 0 ? memchr(buf, ':', (size_t)n) : NULL;
	if (!colon || (size_t)(colon - buf) > ESP_NAME_MAX ||
	    (size_t)(buf + n - colon - 1) > ESP_PASSWORD_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return false;
	}
	*user_len = (size_t)(colon - buf);
	memcpy(user, buf, *user_len);
	*pw_len = (size_t)(buf + n - colon - 1);
	memcpy(pw, colon + 1, *pw_len);
	explicit_bzero(buf, sizeof(buf));
	return true;
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
