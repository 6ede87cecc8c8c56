/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * TLS contexts of exlbd's L7 proxy (OpenSSL 3): for each VS with
 * SSLAcceleration, a server SSL_CTX per certificate of its CertFile (the
 * first is the default; the others are chosen by SNI), or the state
 * directory's self-signed certificate; and, with SSLReencrypt, a client
 * SSL_CTX for the connections to the real servers. docs/tls.md describes
 * the protocol versions, cipher sets and choices.
 *
 * Contexts are built from the configuration and cached: a cache entry is
 * keyed by the VS id and every TLS-relevant parameter, including the
 * fingerprints of its certificates, so a replaced certificate (a
 * configuration change) gives a new context while connections that hold the
 * old one keep it. Built contexts are never modified (OpenSSL locks the
 * session cache itself), so worker threads may share them.
 *
 * Lifetime: an exlb_tls_vs is reference counted. A plan holds one per TLS
 * VS; a client connection's SSL, made only by exlb_tls_vs_ssl_new(),
 * holds its own until SSL_free() (the SNI callback reads the exlb_tls_vs at
 * every ClientHello), so a connection needs no reference of its own once it
 * has its SSL, whatever happens to the plan meanwhile.
 */
#ifndef EXLB_TLS_H
#define EXLB_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "config/tls_proto.h"

struct exlb_tls_cache;
struct exlb_tls_vs;

/*
 * @state_dir: where certs/ is (the self-signed certificate is made there);
 * NULL in a worker process, which reads no file: its certificates are the
 * PEM bytes of exlb_tls_cache_set_pem(), {"NAME": {"crt", "key"}}, the
 * self-signed one under EXLB_SELFSIGNED_NAME (a reference is taken).
 */
struct exlb_tls_cache *exlb_tls_cache_new(const char *state_dir);
void exlb_tls_cache_set_pem(struct exlb_tls_cache *c, json_t *pem);
/*
 * The worker process, before its sandbox: reads the CA store
 * ReencryptVerify uses (SSL_CERT_FILE or OpenSSL's default file) once;
 * from then on every context uses that copy, or fails if it did not load.
 */
int exlb_tls_preload_ca_store(struct exlb_err *err);
void exlb_tls_cache_free(struct exlb_tls_cache *c);

/*
 * The contexts of @vs (a VS with SSLAcceleration=1) under @cfg: the cached
 * ones if nothing TLS-relevant changed, else newly built (which reads the
 * certificate files). Returns a reference (release with exlb_tls_vs_put()),
 * or NULL + err. Thread-safe; building happens under the cache's lock.
 */
struct exlb_tls_vs *exlb_tls_vs_get(struct exlb_tls_cache *c,
				    const struct exlb_config *cfg,
				    const struct exlb_service *vs,
				    struct exlb_err *err);
struct exlb_tls_vs *exlb_tls_vs_ref(struct exlb_tls_vs *t);
void exlb_tls_vs_put(struct exlb_tls_vs *t);	/* thread-safe; NULL is fine */

/*
 * The only way to make a client connection's SSL (accept state, partial
 * writes, buffers released when idle; the caller gives it its socket). It
 * holds a reference to @t until SSL_free(). NULL on failure.
 */
SSL *exlb_tls_vs_ssl_new(struct exlb_tls_vs *t);
/* Re-encryption to the RSs; NULL without SSLReencrypt. */
SSL_CTX *exlb_tls_vs_client_ctx(const struct exlb_tls_vs *t);
/* ReverseSNIHostname for SSL_set_tlsext_host_name(), or NULL. */
const char *exlb_tls_vs_reverse_sni(const struct exlb_tls_vs *t);
/* StrictTransportSecurity max-age; 0 = send no header. */
unsigned int exlb_tls_vs_hsts(const struct exlb_tls_vs *t);
bool exlb_tls_vs_self_signed(const struct exlb_tls_vs *t);
uint32_t exlb_tls_vs_id(const struct exlb_tls_vs *t);

/*
 * Which certificate a ClientHello naming @host gets: the index in CertFile
 * (0 = the default). Exact names first, then wildcards; no match = 0.
 */
size_t exlb_tls_vs_pick(const struct exlb_tls_vs *t, const char *host);
size_t exlb_tls_vs_nr_certs(const struct exlb_tls_vs *t);
/* The SHA-256 fingerprint (hex) of certificate @i, for logs and tests. */
const char *exlb_tls_vs_cert_sha256(const struct exlb_tls_vs *t, size_t i);

/* Global: SSL_OP_ENABLE_KTLS on contexts built from now on (cache key too). */
void exlb_tls_set_ktls(bool on);

/* Drops cached contexts of VSs that are gone from @cfg or changed. */
void exlb_tls_cache_prune(struct exlb_tls_cache *c,
			  const struct exlb_config *cfg);

#endif
