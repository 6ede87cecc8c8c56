/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The admin listener's secrets (docs/admin.md "Users and API keys"): users
 * with passwords kept as yescrypt crypt(3) strings (libcrypt's crypt_r,
 * Debian's default password hash), API keys made here from 32 random bytes
 * and kept as their SHA-256. Changing operations work on a configuration
 * copy (ctl.c commits it); verification reads the current one.
 */
#ifndef EXLB_CREDENTIALS_H
#define EXLB_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define EXLB_PASSWORD_MIN	8
#define EXLB_PASSWORD_MAX	1024
#define EXLB_APIKEY_PREFIX	"exlb_"
/* "exlb_" and 64 hex digits, NUL */
#define EXLB_APIKEY_TEXT_SIZE	(sizeof(EXLB_APIKEY_PREFIX) + 64)

/* Adds (or with @replace, changes) user @name. 0 or -1 + err. */
int exlb_cred_user_set(struct exlb_config *cfg, const char *name,
		       unsigned int role, const char *password, bool replace,
		       struct exlb_err *err);
/*
 * Adds API key @name; @key receives the key itself, which nothing keeps:
 * it is shown once. 0 or -1 + err.
 */
int exlb_cred_apikey_add(struct exlb_config *cfg, const char *name,
			 unsigned int role, char key[EXLB_APIKEY_TEXT_SIZE],
			 struct exlb_err *err);
int exlb_cred_del(struct exlb_config *cfg, unsigned int kind, const char *name,
		  struct exlb_err *err);

/*
 * The user @name if @password is its password, else NULL. An unknown user
 * costs one hash too, so timing does not tell which names exist.
 */
const struct exlb_cred *exlb_cred_check_password(const struct exlb_config *cfg,
						 const char *name,
						 const char *password);
/*
 * @password against crypt(3) string @hash; @hash NULL (an unknown user):
 * false, after hashing a dummy so that it takes as long. Thread-safe.
 */
bool exlb_cred_verify(const char *hash, const char *password);
/* The API key whose hash is that of @key, else NULL. */
const struct exlb_cred *exlb_cred_check_apikey(const struct exlb_config *cfg,
					       const char *key);

/* The crypt(3) string of @password with a new yescrypt salt. 0 or -1 + err. */
int exlb_password_hash(const char *password, char *out, size_t n,
		       struct exlb_err *err);
bool exlb_password_verify(const char *hash, const char *password);

#endif
