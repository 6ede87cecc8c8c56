// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What TLSType and CipherSet mean to OpenSSL (see tls_proto.h): the named
 * cipher sets, the version range TLSType leaves on, and the trial that
 * proves at least one version can handshake. The configuration check and
 * the proxy's server contexts (l7/tls.c) both go through
 * exlb_tls_set_protocols(), so they cannot disagree.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "tls_proto.h"

/* ---- cipher sets (docs/tls.md lists them) ---- */

#define TLS13_AEAD "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:" \
		   "TLS_AES_128_GCM_SHA256"
#define ECDHE_ECDSA_AEAD "ECDHE-ECDSA-AES256-GCM-SHA384:" \
			 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"
#define ECDHE_RSA_AEAD "ECDHE-RSA-AES256-GCM-SHA384:" \
		       "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256"
/* Mozilla's "intermediate" configuration (v5) */
#define INTERMEDIATE "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:" \
	"DHE-RSA-CHACHA20-POLY1305"
/*
 * Old Outlook / Windows clients: CBC suites with SHA-1/SHA-2 MACs, also with
 * plain RSA key exchange. Still no RC4, 3DES, NULL or EXPORT. SECLEVEL 0:
 * OpenSSL 3 negotiates TLS 1.0/1.1 (SHA-1 signatures) only there.
 */
#define BACKWARD INTERMEDIATE ":" \
	"ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:" \
	"ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:" \
	"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:" \
	"ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:" \
	"DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256:" \
	"AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:" \
	"AES128-SHA:AES256-SHA:@SECLEVEL=0"

static const struct cipher_set {
	const char *name;
	const char *tls12;
	const char *tls13;
} cipher_sets[] = {
	{ "BestPractices", ECDHE_ECDSA_AEAD ":" ECDHE_RSA_AEAD, TLS13_AEAD },
	{ "Default", ECDHE_ECDSA_AEAD ":" ECDHE_RSA_AEAD, TLS13_AEAD },
	{ "Intermediate_compatibility", INTERMEDIATE,
	  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	  "TLS_CHACHA20_POLY1305_SHA256" },
	{ "Backward_compatibility", BACKWARD,
	  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	  "TLS_CHACHA20_POLY1305_SHA256" },
	{ "ECDSA_BestPractices", ECDHE_ECDSA_AEAD, TLS13_AEAD },
};

static const struct cipher_set *find_set(const char *name)
{
	for (size_t i = 0; i < sizeof(cipher_sets) / sizeof(cipher_sets[0]); i++)
		if (!strcasecmp(cipher_sets[i].name, name))
			return &cipher_sets[i];
	return NULL;
}

void exlb_tls_cipher_lists(const char *set, const char **tls12,
			   const char **tls13)
{
	const struct cipher_set *s = find_set(set);

	/* a custom list is for TLS <= 1.2; TLS 1.3 keeps the AEAD suites */
	*tls12 = s ? s->tls12 : set;
	*tls13 = s ? s->tls13 : TLS13_AEAD;
}

bool exlb_tls_cipher_set_check(const char *set, char *why, size_t n)
{
	SSL_CTX *ctx;
	bool ok;

	if (find_set(set))
		return true;
	ctx = SSL_CTX_new(TLS_method());
	if (!ctx) {
		snprintf(why, n, "cannot be checked (out of memory)");
		return false;
	}
	ok = set[0] && SSL_CTX_set_cipher_list(ctx, set) == 1;
	ERR_clear_error();
	SSL_CTX_free(ctx);
	if (!ok)
		snprintf(why, n,
			 "must be BestPractices, Intermediate_compatibility, Backward_compatibility, ECDSA_BestPractices, Default or an OpenSSL cipher list naming at least one known cipher");
	return ok;
}

/* ---- the protocol side of a server context ---- */

/*
 * TLSType bits (disabled): 2 TLS1.0, 4 TLS1.1, 8 TLS1.2, 16 TLS1.3. SSLv3
 * (bit 1) does not exist in OpenSSL 3: it is never offered, whatever the
 * bit says.
 */
static const struct tls_version {
	unsigned int bit;
	int version;
	const char *name;
} tls_versions[] = {
	{ 2, TLS1_VERSION, "TLS 1.0" },
	{ 4, TLS1_1_VERSION, "TLS 1.1" },
	{ 8, TLS1_2_VERSION, "TLS 1.2" },
	{ 16, TLS1_3_VERSION, "TLS 1.3" },
};
#define NR_VERSIONS (sizeof(tls_versions) / sizeof(tls_versions[0]))

/*
 * The versions TLSType leaves on, as indexes [*lo, *hi] of tls_versions.
 * They must be one contiguous range: OpenSSL's interface is a min..max
 * range. A version off inside it needs the deprecated SSL_OP_NO_TLSv1_x,
 * and then OpenSSL starts every handshake by checking that the highest
 * version *below the hole* has a suite: with BestPractices TLSType=8 (or
 * 4, 5) refuses every client, TLS 1.3 included, while with
 * Backward_compatibility it works. Refused rather than left to that.
 */
static int version_range(unsigned int tls_type, size_t *lo, size_t *hi,
			 char *why, size_t n)
{
	size_t first = NR_VERSIONS, last = 0;

	for (size_t i = 0; i < NR_VERSIONS; i++) {
		if (tls_type & tls_versions[i].bit)
			continue;
		if (first == NR_VERSIONS)
			first = i;
		last = i;
	}
	if (first == NR_VERSIONS) {
		snprintf(why, n, "TLSType: %u disables every TLS version",
			 tls_type);
		return -1;
	}
	for (size_t i = first; i <= last; i++) {
		if (tls_type & tls_versions[i].bit) {
			snprintf(why, n,
				 "TLSType: %u disables %s but leaves %s and %s on; OpenSSL serves only a contiguous range of versions",
				 tls_type, tls_versions[i].name,
				 tls_versions[first].name,
				 tls_versions[last].name);
			return -1;
		}
	}
	*lo = first;
	*hi = last;
	return 0;
}

/*
 * Why @ctx cannot handshake with version @v, or NULL if it can: OpenSSL's
 * own list of the suites it would use for that version (cipher lists,
 * version bounds and security level applied), on a throwaway SSL. Below
 * TLS 1.2 OpenSSL 3 signs the handshake with SHA-1 or MD5+SHA-1 whatever
 * the suite (also with RSA key exchange), which security level 1 and up
 * forbid: those versions need level 0.
 */
static const char *version_unusable(SSL_CTX *ctx, const struct tls_version *v)
{
	STACK_OF(SSL_CIPHER) *sk;
	SSL *ssl = SSL_new(ctx);
	int nr = 0;

	if (!ssl)
		return "out of memory";
	if (SSL_set_min_proto_version(ssl, v->version) == 1 &&
	    SSL_set_max_proto_version(ssl, v->version) == 1) {
		sk = SSL_get1_supported_ciphers(ssl);
		nr = sk ? sk_SSL_CIPHER_num(sk) : 0;
		sk_SSL_CIPHER_free(sk);
	}
	SSL_free(ssl);
	ERR_clear_error();
	if (!nr)
		return "no suite of the set";
	if (v->version < TLS1_2_VERSION && SSL_CTX_get_security_level(ctx) > 0)
		return "needs security level 0 (SHA-1 signatures)";
	return NULL;
}

/*
 * The protocol side of a server context: the version range TLSType leaves
 * on and the CipherSet's lists, and then the proof that at least one
 * version of the range has a suite OpenSSL would use. The commit-time
 * check (exlb_tls_versions_check) runs this on a throwaway context, so it
 * and the real contexts cannot disagree. -1 + @why on failure.
 */
int exlb_tls_set_protocols(SSL_CTX *ctx, unsigned int tls_type,
			   const char *cipher_set, char *why, size_t n)
{
	const char *tls12, *tls13, *no[NR_VERSIONS] = { 0 };
	size_t lo, hi, len = 0;

	if (version_range(tls_type, &lo, &hi, why, n))
		return -1;
	if (SSL_CTX_set_min_proto_version(ctx, tls_versions[lo].version) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, tls_versions[hi].version) != 1) {
		snprintf(why, n, "TLSType: %u: OpenSSL refuses the range %s-%s",
			 tls_type, tls_versions[lo].name, tls_versions[hi].name);
		return -1;
	}
	exlb_tls_cipher_lists(cipher_set, &tls12, &tls13);
	if (SSL_CTX_set_cipher_list(ctx, tls12) != 1) {
		snprintf(why, n, "CipherSet: no cipher of '%s' is known",
			 cipher_set);
		return -1;
	}
	if (SSL_CTX_set_ciphersuites(ctx, tls13) != 1) {
		snprintf(why, n, "CipherSet: bad TLS 1.3 suites");
		return -1;
	}
	for (size_t i = lo; i <= hi; i++) {
		no[i] = version_unusable(ctx, &tls_versions[i]);
		if (!no[i])
			return 0;
	}
	len = snprintf(why, n, "TLSType %u with CipherSet %s: no version can handshake (",
		       tls_type, cipher_set);
	for (size_t i = lo; i <= hi && len < n; i++)
		len += snprintf(why + len, n - len, "%s%s: %s",
				i > lo ? "; " : "", tls_versions[i].name, no[i]);
	if (len < n)
		snprintf(why + len, n - len, ")");
	return -1;
}

bool exlb_tls_versions_check(unsigned int tls_type, const char *cipher_set,
			     char *why, size_t n)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	bool ok;

	if (!ctx) {
		snprintf(why, n, "TLSType: cannot be checked (out of memory)");
		return false;
	}
	ok = !exlb_tls_set_protocols(ctx, tls_type, cipher_set, why, n);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return ok;
}
