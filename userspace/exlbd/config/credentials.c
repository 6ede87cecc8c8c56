// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Hashing and verifying the admin listener's secrets (credentials.h).
 *
 * Passwords: yescrypt through libcrypt (libxcrypt) crypt_r(), the hash
 * Debian uses for /etc/shadow: memory-hard, salted, its cost inside the
 * string, so a stronger setting later still verifies old hashes. API keys
 * are 256 random bits: no dictionary to slow down, so a plain SHA-256 is as
 * strong as any KDF and costs nothing per Prometheus scrape.
 */
#define _GNU_SOURCE
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config_int.h"
#include "credentials.h"
#include "hex.h"
#include "params.h"

int exlb_password_hash(const char *password, char *out, size_t n,
		       struct exlb_err *err)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	const char *h;
	int ret = -1;

	/* NULL random bytes: libcrypt reads them from getrandom(2) itself */
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)))
		return exlb_err_set(err, "cannot make a password salt: %s",
				    strerror(errno));
	data = calloc(1, sizeof(*data));
	if (!data)
		return exlb_err_set(err, "out of memory");
	h = crypt_r(password, setting, data);
	if (!h || h[0] != '$' || strlen(h) >= n)
		exlb_err_set(err, "cannot hash the password");
	else {
		strcpy(out, h);
		ret = 0;
	}
	explicit_bzero(data, sizeof(*data));
	free(data);
	return ret;
}

bool exlb_password_verify(const char *hash, const char *password)
{
	struct crypt_data *data = calloc(1, sizeof(*data));
	size_t len = strlen(hash);
	const char *h;
	bool ok;

	if (!data)
		return false;
	h = crypt_r(password, hash, data);
	/* a failed crypt_r() returns "*0"-like strings: never equal to a '$' hash */
	ok = h && hash[0] == '$' && strlen(h) == len &&
	     !CRYPTO_memcmp(h, hash, len);
	explicit_bzero(data, sizeof(*data));
	free(data);
	return ok;
}

static void sha256_hex(const char *text, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;

	EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL);
	exlb_hex_encode(out, md, sizeof(md));
}

static struct exlb_cred *cred_slot(struct exlb_config *cfg, unsigned int kind,
				   const char *name, bool replace,
				   struct exlb_err *err)
{
	struct exlb_cred *c = (struct exlb_cred *)exlb_cred_find(cfg, kind, name);
	char why[128];

	if (!exlb_check_cert_name(name, why, sizeof(why))) {
		exlb_err_set(err, "name: %s (got '%s')", why, name);
		return NULL;
	}
	if (c && !replace) {
		exlb_err_set(err, "admin %s '%s' exists", exlb_cred_kind_name(kind),
			     name);
		return NULL;
	}
	if (c)
		return c;
	if (cfg->nr_creds >= EXLB_MAX_CREDS) {
		exlb_err_set(err, "too many admin users and API keys (at most %d)",
			     EXLB_MAX_CREDS);
		return NULL;
	}
	c = exlb_array_append((void **)&cfg->creds, &cfg->nr_creds, sizeof(*c));
	if (!c) {
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	c->kind = kind;
	strcpy(c->name, name);
	return c;
}

int exlb_cred_user_set(struct exlb_config *cfg, const char *name,
		       unsigned int role, const char *password, bool replace,
		       struct exlb_err *err)
{
	char hash[EXLB_CRED_HASH_SIZE];
	size_t len = password ? strlen(password) : 0;
	struct exlb_cred *c;

	if (len < EXLB_PASSWORD_MIN || len > EXLB_PASSWORD_MAX)
		return exlb_err_set(err, "password: must be %d to %d characters",
				    EXLB_PASSWORD_MIN, EXLB_PASSWORD_MAX);
	/* Basic auth splits at the first ':' of the user part only; no control bytes */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)password[i] < 0x20 || password[i] == 0x7f)
			return exlb_err_set(err, "password: no control characters");
	if (exlb_password_hash(password, hash, sizeof(hash), err))
		return -1;
	c = cred_slot(cfg, EXLB_CRED_USER, name, replace, err);
	if (!c)
		return -1;
	c->role = role;
	strcpy(c->hash, hash);
	explicit_bzero(hash, sizeof(hash));
	return 0;
}

int exlb_cred_apikey_add(struct exlb_config *cfg, const char *name,
			 unsigned int role, char key[EXLB_APIKEY_TEXT_SIZE],
			 struct exlb_err *err)
{
	unsigned char raw[32];
	struct exlb_cred *c;

	if (RAND_priv_bytes(raw, sizeof(raw)) != 1)
		return exlb_err_set(err, "no random bytes for the API key");
	strcpy(key, EXLB_APIKEY_PREFIX);
	exlb_hex_encode(key + strlen(EXLB_APIKEY_PREFIX), raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	c = cred_slot(cfg, EXLB_CRED_APIKEY, name, false, err);
	if (!c)
		return -1;
	c->role = role;
	sha256_hex(key, c->hash);
	return 0;
}

int exlb_cred_del(struct exlb_config *cfg, unsigned int kind, const char *name,
		  struct exlb_err *err)
{
	const struct exlb_cred *c = exlb_cred_find(cfg, kind, name);
	size_t i;

	if (!c)
		return exlb_err_set(err, "no admin %s named '%s'",
				    exlb_cred_kind_name(kind), name);
	i = (size_t)(c - cfg->creds);
	memmove(&cfg->creds[i], &cfg->creds[i + 1],
		(cfg->nr_creds - i - 1) * sizeof(*c));
	cfg->nr_creds--;
	return 0;
}

/*
 * Hashed once for an unknown user, so that it costs what a known one does;
 * pthread_once: the admin listener verifies on its hashing thread.
 */
static char dummy[EXLB_CRED_HASH_SIZE];

static void dummy_make(void)
{
	struct exlb_err err;

	if (exlb_password_hash("exlb-no-such-user", dummy, sizeof(dummy), &err))
		dummy[0] = '\0';
}

bool exlb_cred_verify(const char *hash, const char *password)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (hash)
		return exlb_password_verify(hash, password);
	pthread_once(&once, dummy_make);
	if (dummy[0])
		exlb_password_verify(dummy, password);
	return false;
}

const struct exlb_cred *exlb_cred_check_password(const struct exlb_config *cfg,
						 const char *name,
						 const char *password)
{
	const struct exlb_cred *c = exlb_cred_find(cfg, EXLB_CRED_USER, name);

	return exlb_cred_verify(c ? c->hash : NULL, password) ? c : NULL;
}

const struct exlb_cred *exlb_cred_check_apikey(const struct exlb_config *cfg,
					       const char *key)
{
	char hash[65];
	const struct exlb_cred *found = NULL;

	sha256_hex(key, hash);
	/* every key compared in constant time: no early exit on a match */
	for (size_t i = 0; i < cfg->nr_creds; i++)
		if (cfg->creds[i].kind == EXLB_CRED_APIKEY &&
		    !CRYPTO_memcmp(cfg->creds[i].hash, hash, 64))
			found = &cfg->creds[i];
	return found;
}
