/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * ESP's Basic logon (InputAuthMode=1) without the proxy: reading an
 * "Authorization: Basic" value, and the verdict cache that spares the
 * directory the many requests of one client (a keep-alive session,
 * ActiveSync's polls). The cache keeps only "ok" verdicts, keyed by an
 * HMAC-SHA256 of domain, user and password under a key drawn at start:
 * no password, not even a plain hash of one, is kept. docs/esp.md says
 * how long a verdict lives.
 */
#ifndef EXLB_ESP_BASIC_H
#define EXLB_ESP_BASIC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config/config.h"
#include "esp/ldap.h"

#define ESP_CACHE_KEY_LEN	32
#define ESP_CACHE_SIZE		4096	/* verdicts; the oldest go first */

/*
 * Decodes an Authorization value "Basic <base64 of user:password>" into
 * @user and @pw (each ESP_NAME_MAX / ESP_PASSWORD_MAX + 1 bytes,
 * NUL-terminated; the lengths say too) with ESP's caps:
 * exlb_http_basic_credentials() (l7/http1.h) says what is refused (not
 * Basic, bad base64, a NUL or control character, no ':', too long); a
 * refused value is treated as no credentials.
 */
bool esp_basic_decode(const char *value, size_t len, char *user,
		      size_t *user_len, char *pw, size_t *pw_len);

/* The cache key of a logon (HMAC-SHA256 under the process's key). */
void esp_cache_key(const char *domain, const char *user, size_t user_len,
		   const char *pw, size_t pw_len,
		   unsigned char key[ESP_CACHE_KEY_LEN]);

/* Whether @key has a live "ok" (its idle time restarts). @now: monotonic s. */
bool esp_cache_ok(const unsigned char key[ESP_CACHE_KEY_LEN], time_t now);

/* An "ok" logon of domain @d at @now. */
void esp_cache_put(const unsigned char key[ESP_CACHE_KEY_LEN],
		   const struct exlb_sso_domain *d, time_t now);

/* Forgets every verdict (tests). */
void esp_cache_clear(void);

#endif
