// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ESP's form logon session table (session.h): bounded, server-side,
 * shared by the worker threads under one mutex, ids from the CSPRNG and
 * compared in constant time, passwords wiped when a session goes.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "config/hex.h"
#include "esp/session.h"

struct session {
	unsigned char id[ESP_SESSION_ID_LEN];
	char domain[EXLB_SSO_NAME_SIZE];
	time_t since, last, idle, max;	/* idle 0: only max counts */
	struct esp_session_creds creds;
	bool used;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct session table[ESP_SESSIONS_MAX];

static void drop(struct session *s)
{
	OPENSSL_cleanse(s, sizeof(*s));	/* the password with it */
	s->used = false;
}

static bool live(const struct session *s, time_t now)
{
	return s->used && now - s->since < s->max &&
	       (!s->idle || now - s->last < s->idle);
}

/* The cookie's value as an id: exactly ESP_SESSION_HEX hex digits. */
static bool parse_id(const char *v, size_t len,
		     unsigned char id[ESP_SESSION_ID_LEN])
{
	if (len != ESP_SESSION_HEX)
		return false;
	for (size_t i = 0; i < len; i++) {
		int d = exlb_hex_digit(v[i]);

		if (d < 0)
			return false;
		if (i % 2)
			id[i / 2] = (unsigned char)(id[i / 2] | d);
		else
			id[i / 2] = (unsigned char)(d << 4);
	}
	return true;
}

int esp_session_new(const struct exlb_sso_domain *d, bool private_pc,
		    const char *user, size_t user_len, const char *pw,
		    size_t pw_len, time_t now, char cookie[ESP_SESSION_HEX + 1])
{
	struct session *slot = NULL, *oldest = NULL;
	unsigned char id[ESP_SESSION_ID_LEN];

	if (user_len > ESP_NAME_MAX || pw_len > ESP_PASSWORD_MAX ||
	    RAND_bytes(id, sizeof(id)) != 1)
		return -1;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ESP_SESSIONS_MAX && !slot; i++) {
		struct session *s = &table[i];

		if (!live(s, now))
			slot = s;
		else if (!oldest || s->since < oldest->since)
			oldest = s;
	}
	if (!slot)
		slot = oldest;	/* full: the oldest logon goes */
	drop(slot);
	memcpy(slot->id, id, sizeof(id));
	snprintf(slot->domain, sizeof(slot->domain), "%s", d->name);
	slot->since = slot->last = now;
	slot->max = private_pc ? d->sess_tout_duration_priv :
		    d->sess_tout_duration_pub;
	slot->idle = d->sess_tout_type == EXLB_SSO_TOUT_MAX ? 0 :
		     private_pc ? d->sess_tout_idle_priv : d->sess_tout_idle_pub;
	memcpy(slot->creds.user, user, user_len);
	slot->creds.user_len = user_len;
	memcpy(slot->creds.pw, pw, pw_len);
	slot->creds.pw_len = pw_len;
	slot->used = true;
	pthread_mutex_unlock(&lock);
	exlb_hex_encode(cookie, id, sizeof(id));
	OPENSSL_cleanse(id, sizeof(id));
	return 0;
}

/* The session @id of @domain, under the lock, or NULL. */
static struct session *find(const unsigned char id[ESP_SESSION_ID_LEN],
			    const char *domain)
{
	struct session *found = NULL;

	/* every entry is compared, in constant time: no timing of the id */
	for (size_t i = 0; i < ESP_SESSIONS_MAX; i++)
		if (table[i].used &
		    !CRYPTO_memcmp(table[i].id, id, ESP_SESSION_ID_LEN))
			found = &table[i];
	if (found && strcasecmp(found->domain, domain))
		return NULL;	/* another domain's logon covers nothing here */
	return found;
}

bool esp_session_check(const char *cookie, size_t len, const char *domain,
		       time_t now, struct esp_session_creds *out)
{
	unsigned char id[ESP_SESSION_ID_LEN];
	struct session *s;
	bool ok = false;

	if (!parse_id(cookie, len, id))
		return false;
	pthread_mutex_lock(&lock);
	s = find(id, domain);
	if (s && !live(s, now)) {
		drop(s);
	} else if (s) {
		s->last = now;
		if (out)
			*out = s->creds;
		ok = true;
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

bool esp_session_end(const char *cookie, size_t len, const char *domain)
{
	unsigned char id[ESP_SESSION_ID_LEN];
	struct session *s;

	if (!parse_id(cookie, len, id))
		return false;
	pthread_mutex_lock(&lock);
	s = find(id, domain);
	if (s)
		drop(s);
	pthread_mutex_unlock(&lock);
	return s != NULL;
}

unsigned int esp_session_count(time_t now)
{
	unsigned int n = 0;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ESP_SESSIONS_MAX; i++)
		n += live(&table[i], now);
	pthread_mutex_unlock(&lock);
	return n;
}

void esp_session_clear(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ESP_SESSIONS_MAX; i++)
		drop(&table[i]);
	pthread_mutex_unlock(&lock);
}
