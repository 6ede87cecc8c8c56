/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The certificate store of exlbd: validating a certificate and key given as
 * PEM text (exlbctl cert add), their files in STATE_DIR/certs, loading them
 * for the TLS contexts (tls.c), describing them for `cert list/show`, and the
 * one self-signed certificate of a state directory.
 *
 * Files: STATE_DIR/certs/NAME.crt (0644: the leaf, then its chain, as PEM)
 * and NAME.key (0600: the private key, unencrypted PKCS#8 PEM); the
 * self-signed pair is .selfsigned.crt / .selfsigned.key (names of installed
 * certificates cannot start with '.'). Every file is written to a temporary
 * name, fsynced, renamed and the directory fsynced.
 *
 * Which certificates exist is configuration (struct exlb_cert in config.h):
 * an add or replace writes the files first, then commits the configuration;
 * if the commit fails the old files are put back (exlb_cert_txn_end()).
 * See docs/tls.md for the order and what a crash in between leaves.
 */
#ifndef EXLB_CERTS_H
#define EXLB_CERTS_H

#include <stdbool.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"

#define EXLB_CERTS_DIR		"certs"
#define EXLB_SELFSIGNED_NAME	".selfsigned"
#define EXLB_CERT_MAX_PEM	(1 << 20)	/* leaf + chain, or a key */

/* A certificate with its chain and key, parsed and checked. */
struct exlb_cert_pair {
	X509 *leaf;
	STACK_OF(X509) *chain;	/* may be empty, never NULL */
	EVP_PKEY *key;
	char sha256[65];	/* of the leaf's DER, lower-case hex */
	char not_after[32];	/* "2027-01-31T12:00:00Z" */
};

void exlb_cert_pair_free(struct exlb_cert_pair *p);

/*
 * Parses PEM text: @cert_pem holds one or more certificates (the first is
 * the leaf, the rest its chain), @key_pem the private key, which must match
 * the leaf. 0, or -1 with one line naming what is wrong.
 */
int exlb_cert_parse(const char *cert_pem, const char *key_pem,
		    struct exlb_cert_pair *out, struct exlb_err *err);

/*
 * The PEM text of installed certificate @name (or EXLB_SELFSIGNED_NAME):
 * *@crt and *@key malloc'd (explicit_bzero the key before freeing it), or
 * -1 with @err set. For a worker process, which reads no file.
 */
int exlb_cert_read_pem(const char *state_dir, const char *name, char **crt,
		       char **key, struct exlb_err *err);
/* Loads installed certificate @name (or EXLB_SELFSIGNED_NAME). */
int exlb_cert_load(const char *state_dir, const char *name,
		   struct exlb_cert_pair *out, struct exlb_err *err);

/*
 * Installing @pair as @name, undoably: writes NAME.crt and NAME.key,
 * keeping hard links to the files they replace. exlb_cert_txn_end() with
 * @keep true drops the old files (the configuration was committed), with
 * false puts them back (or removes the new ones of an add). Frees @txn.
 */
struct exlb_cert_txn;

int exlb_cert_install(const char *state_dir, const char *name,
		      const struct exlb_cert_pair *pair,
		      struct exlb_cert_txn **txn, struct exlb_err *err);
void exlb_cert_txn_end(struct exlb_cert_txn *txn, bool keep);

/* Removes the files of @name (after the configuration no longer has it). */
int exlb_cert_remove_files(const char *state_dir, const char *name,
			   struct exlb_err *err);

/*
 * The self-signed certificate of @state_dir (EC P-256, CN "exlb self-signed",
 * SAN DNS:localhost, 10 years): loaded, or generated and written once.
 */
int exlb_cert_selfsigned(const char *state_dir, struct exlb_cert_pair *out,
			 struct exlb_err *err);

/*
 * The DNS names a client may ask for by SNI: the SAN DNS names, then the
 * subject CN (if it is not among them). Returns how many (<= max); each
 * name is malloc'ed, lower-case.
 */
size_t exlb_cert_dns_names(X509 *leaf, char **names, size_t max);
/* Does @host match @pattern ("*.example.com" covers one label)? */
bool exlb_cert_name_matches(const char *pattern, const char *host);

/*
 * For `cert list/show`: name, cn, sans[], subject, issuer, notBefore,
 * notAfter, sha256, chain (count), key ("EC 256", "RSA 2048"). NULL + err
 * if the files cannot be read.
 */
json_t *exlb_cert_describe(const char *state_dir, const char *name,
			   struct exlb_err *err);

#endif
