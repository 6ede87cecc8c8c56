/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * TLSType x CipherSet -> OpenSSL: the one mapping of a VS's TLS parameters
 * onto an SSL_CTX's protocol side (version range, cipher lists), used both
 * to check a configuration and by the proxy to build its contexts
 * (l7/tls.c). docs/tls.md lists the sets and the versions.
 */
#ifndef EXLB_TLS_PROTO_H
#define EXLB_TLS_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/*
 * CipherSet: a named set (case-insensitive; "Default" = BestPractices) or
 * an OpenSSL cipher list, which must name at least one cipher OpenSSL
 * knows. false + a "must be ..." phrase otherwise.
 */
bool exlb_tls_cipher_set_check(const char *set, char *why, size_t n);
/*
 * TLSType and CipherSet together, checked on the protocol side of a
 * throwaway server context built exactly as the real ones are
 * (exlb_tls_set_protocols()): the versions TLSType leaves on must be one
 * contiguous range (OpenSSL's interface is a min..max range; with a hole,
 * whether anything handshakes depends on the set: tls_proto.c,
 * version_range()), and at least one of them must have a suite OpenSSL
 * would use (cipher lists, version and security level applied). false + a
 * phrase starting with the parameter's name otherwise. The certificate's
 * key type is not considered (docs/tls.md).
 */
bool exlb_tls_versions_check(unsigned int tls_type, const char *cipher_set,
			     char *why, size_t n);
/*
 * Sets @ctx's version range from @tls_type and its cipher lists from
 * @cipher_set, then proves at least one version of the range has a suite
 * OpenSSL would use. 0, or -1 + @why (the phrase of
 * exlb_tls_versions_check()).
 */
int exlb_tls_set_protocols(SSL_CTX *ctx, unsigned int tls_type,
			   const char *cipher_set, char *why, size_t n);
/* The OpenSSL lists a CipherSet stands for (TLS <= 1.2, TLS 1.3). */
void exlb_tls_cipher_lists(const char *set, const char **tls12,
			   const char **tls13);

#endif
