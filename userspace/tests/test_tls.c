// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of exlbd's TLS side: the certificate store (exlbd/config/certs.c),
 * the certificate table and TLS parameters of the configuration (config.c,
 * check.c, params.c, tls_proto.c) and the TLS contexts (exlbd/l7/tls.c): SNI, NeedHostName, TLSType,
 * cipher sets, ALPN, the self-signed certificate, the cache.
 *
 * Keys and certificates are made at run time with OpenSSL; handshakes run
 * between two SSL objects over a BIO pair in memory: nothing touches a
 * network. TAP lines; exits non-zero if a check failed.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "userspace/exlbd/config/certs.h"
#include "userspace/exlbd/config/config.h"
#include "userspace/exlbd/config/params.h"
#include "userspace/exlbd/l7/tls.h"

#include "tap_report.h"

static char state_dir[] = "/tmp/exlb-test-tls.XXXXXX";

/* ---- making certificates ---- */

struct pem {
	char *crt;
	char *key;
};

static char *bio_text(BIO *b)
{
	char *data, *s;
	long len = BIO_get_mem_data(b, &data);

	s = malloc(len + 1);
	memcpy(s, data, len);
	s[len] = 0;
	BIO_free(b);
	return s;
}

/* A self-signed leaf for @cn with SAN @san ("DNS:a,DNS:b" or NULL). */
static struct pem make_cert(const char *cn, const char *san, bool rsa)
{
	EVP_PKEY *key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	BIO *c = BIO_new(BIO_s_mem()), *k = BIO_new(BIO_s_mem());
	static long serial = 1;
	struct pem p;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	if (san) {
		X509V3_CTX ctx;
		X509_EXTENSION *ext;

		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, key, EVP_sha256());
	PEM_write_bio_X509(c, x);
	PEM_write_bio_PrivateKey(k, key, NULL, NULL, 0, NULL, NULL);
	p.crt = bio_text(c);
	p.key = bio_text(k);
	X509_free(x);
	EVP_PKEY_free(key);
	return p;
}

static void pem_free(struct pem *p)
{
	free(p->crt);
	free(p->key);
}

/* Installs @p as @name: files and configuration table. */
static int install(struct exlb_config *cfg, const char *name,
		   const struct pem *p, bool replace)
{
	struct exlb_cert_pair pair;
	struct exlb_cert entry = { 0 };
	struct exlb_cert_txn *txn;
	struct exlb_err err;

	if (exlb_cert_parse(p->crt, p->key, &pair, &err))
		return -1;
	snprintf(entry.name, sizeof(entry.name), "%s", name);
	memcpy(entry.sha256, pair.sha256, sizeof(entry.sha256));
	memcpy(entry.not_after, pair.not_after, sizeof(entry.not_after));
	if (exlb_cert_set(cfg, &entry, replace, &err) ||
	    exlb_cert_install(state_dir, name, &pair, &txn, &err)) {
		exlb_cert_pair_free(&pair);
		return -1;
	}
	exlb_cert_txn_end(txn, true);
	exlb_cert_pair_free(&pair);
	return 0;
}

/* ---- handshakes over a BIO pair ---- */

struct hs {
	bool ok;
	char server_cn[128];	/* CN of the certificate the client got */
	char version[16];
	char cipher[64];
	char alpn[32];
};

struct client_opts {
	const char *sni;
	int min_version, max_version;
	const char *ciphers;	/* TLS <= 1.2 list */
	const char *alpn;	/* wire format */
	size_t alpn_len;
};

/* A handshake of @server (freed here) with a client configured by @o. */
static struct hs handshake_ssl(SSL *server, const struct client_opts *o)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *client;
	BIO *sb, *cb;
	struct hs r = { 0 };
	bool sdone = false, cdone = false;

	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	if (o->min_version)
		SSL_CTX_set_min_proto_version(cctx, o->min_version);
	if (o->max_version)
		SSL_CTX_set_max_proto_version(cctx, o->max_version);
	if (o->ciphers && SSL_CTX_set_cipher_list(cctx, o->ciphers) != 1)
		printf("# client cannot use ciphers %s\n", o->ciphers);
	if (o->alpn)
		SSL_CTX_set_alpn_protos(cctx, (const unsigned char *)o->alpn,
					o->alpn_len);
	client = SSL_new(cctx);
	if (o->sni)
		SSL_set_tlsext_host_name(client, o->sni);
	BIO_new_bio_pair(&sb, 0, &cb, 0);
	SSL_set_bio(server, sb, sb);
	SSL_set_bio(client, cb, cb);
	SSL_set_accept_state(server);
	SSL_set_connect_state(client);
	/* each round moves the handshake on by at least one flight */
	for (int round = 0; round < 50 && !(sdone && cdone); round++) {
		int rc;

		if (!cdone) {
			rc = SSL_do_handshake(client);
			if (rc == 1)
				cdone = true;
			else if (SSL_get_error(client, rc) != SSL_ERROR_WANT_READ)
				break;
		}
		if (!sdone) {
			rc = SSL_do_handshake(server);
			if (rc == 1)
				sdone = true;
			else if (SSL_get_error(server, rc) != SSL_ERROR_WANT_READ)
				break;
		}
	}
	r.ok = sdone && cdone;
	if (r.ok) {
		X509 *peer = SSL_get1_peer_certificate(client);
		const unsigned char *alpn;
		unsigned int alen;

		if (peer) {
			X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
						  NID_commonName, r.server_cn,
						  sizeof(r.server_cn));
			X509_free(peer);
		}
		snprintf(r.version, sizeof(r.version), "%s", SSL_get_version(client));
		snprintf(r.cipher, sizeof(r.cipher), "%s",
			 SSL_CIPHER_get_name(SSL_get_current_cipher(client)));
		SSL_get0_alpn_selected(client, &alpn, &alen);
		snprintf(r.alpn, sizeof(r.alpn), "%.*s", (int)alen, alpn);
	}
	ERR_clear_error();
	SSL_free(client);
	SSL_free(server);
	SSL_CTX_free(cctx);
	return r;
}

/* A handshake with a server SSL made the way the proxy makes it. */
static struct hs handshake(struct exlb_tls_vs *t, const struct client_opts *o)
{
	return handshake_ssl(exlb_tls_vs_ssl_new(t), o);
}

static struct hs hs_sni(struct exlb_tls_vs *t, const char *sni)
{
	struct client_opts o = { .sni = sni };

	return handshake(t, &o);
}

static struct hs hs_tls12(struct exlb_tls_vs *t, const char *ciphers)
{
	struct client_opts o = { .sni = "mail.example.com",
				 .max_version = TLS1_2_VERSION,
				 .ciphers = ciphers };

	return handshake(t, &o);
}

/* ---- configuration helpers ---- */

static json_t *made[64];
static size_t nr_made;

static json_t *P(const char *spec)
{
	json_t *obj = json_object();
	char *copy = strdup(spec), *save = NULL;

	if (nr_made < sizeof(made) / sizeof(made[0]))
		made[nr_made++] = json_incref(obj);
	for (char *tok = strtok_r(copy, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		*eq = 0;
		json_object_set_new(obj, tok, json_string(eq + 1));
	}
	free(copy);
	return obj;
}

static struct exlb_service *add_vs(struct exlb_config *cfg, const char *port,
				   const char *params, struct exlb_err *err)
{
	uint32_t id;

	if (exlb_vs_add(cfg, "198.18.0.10", port, NULL, P(params), &id, err))
		return NULL;
	return exlb_service_by_id(cfg, id);
}

static struct exlb_tls_vs *get(struct exlb_tls_cache *c,
			       const struct exlb_config *cfg,
			       const struct exlb_service *vs)
{
	struct exlb_err err;
	struct exlb_tls_vs *t = exlb_tls_vs_get(c, cfg, vs, &err);

	if (!t)
		printf("# exlb_tls_vs_get: %s\n", err.msg);
	return t;
}

/* ---- tests ---- */

static struct pem mail_pem, contoso_pem, rsa_pem;

static void test_store(struct exlb_config *cfg)
{
	struct exlb_cert_pair pair;
	struct exlb_err err;
	struct exlb_cert_txn *txn;
	struct pem other = make_cert("other.example.com", NULL, false);
	struct exlb_cert bad = { .name = "bad/name" };
	struct stat st;
	char path[512];
	int rc;

	rc = exlb_cert_parse(mail_pem.crt, other.key, &pair, &err);
	report(rc && strstr(err.msg, "key: does not match"),
	       "a key that does not match the certificate is refused: \"%s\"", err.msg);
	rc = exlb_cert_parse("garbage", mail_pem.key, &pair, &err);
	report(rc && strstr(err.msg, "certificate: cannot parse"),
	       "garbage certificate PEM is refused: \"%s\"", err.msg);
	rc = exlb_cert_parse(mail_pem.crt, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
			     &pair, &err);
	report(rc && strstr(err.msg, "key: cannot parse"),
	       "garbage key PEM is refused: \"%s\"", err.msg);
	memset(bad.sha256, 'a', 64);
	rc = exlb_cert_set(cfg, &bad, false, &err);
	report(rc && strstr(err.msg, "name: must be"),
	       "a bad certificate name is refused: \"%s\"", err.msg);
	snprintf(bad.name, sizeof(bad.name), ".hidden");
	rc = exlb_cert_set(cfg, &bad, false, &err);
	report(rc != 0, "a name starting with '.' is refused (the self-signed files)");

	report(!install(cfg, "mail", &mail_pem, false) &&
	       !install(cfg, "contoso", &contoso_pem, false) &&
	       !install(cfg, "rsa", &rsa_pem, false) && cfg->nr_certs == 3,
	       "three certificates installed");
	snprintf(path, sizeof(path), "%s/certs/mail.key", state_dir);
	report(!stat(path, &st) && (st.st_mode & 0777) == 0600,
	       "NAME.key is 0600");
	snprintf(path, sizeof(path), "%s/certs/mail.crt", state_dir);
	report(!stat(path, &st) && (st.st_mode & 0777) == 0644,
	       "NAME.crt is 0644");
	report(install(cfg, "mail", &other, false) != 0,
	       "an existing name without replace is refused");

	/* an undone replace puts the old files back */
	exlb_cert_parse(other.crt, other.key, &pair, &err);
	rc = exlb_cert_install(state_dir, "mail", &pair, &txn, &err);
	exlb_cert_txn_end(txn, false);
	exlb_cert_pair_free(&pair);
	rc |= exlb_cert_load(state_dir, "mail", &pair, &err);
	report(!rc && !strcmp(pair.sha256, exlb_cert_find(cfg, "mail")->sha256),
	       "a replace undone (failed commit) restores the old files");
	exlb_cert_pair_free(&pair);
	/* an undone add removes the new files */
	exlb_cert_parse(other.crt, other.key, &pair, &err);
	rc = exlb_cert_install(state_dir, "fresh", &pair, &txn, &err);
	exlb_cert_txn_end(txn, false);
	exlb_cert_pair_free(&pair);
	snprintf(path, sizeof(path), "%s/certs/fresh.crt", state_dir);
	report(!rc && access(path, F_OK) != 0,
	       "an add undone (failed commit) leaves no files");
	pem_free(&other);
}

static void test_config_rules(struct exlb_config *cfg)
{
	struct exlb_config *c = exlb_config_clone(cfg);
	struct exlb_service *vs;
	struct exlb_err err;
	json_t *doc;
	struct exlb_config *back;

	vs = add_vs(c, "8443", "VStype=http SSLAcceleration=1 CertFile=mail,nope", &err);
	report(vs && exlb_config_check(c, &err) && strstr(err.msg, "CertFile: no certificate named 'nope'"),
	       "CertFile naming an unknown certificate fails the check: \"%s\"", err.msg);
	exlb_service_mod(c, vs, P("CertFile=mail"), &err);
	report(!exlb_config_check(c, &err), "CertFile=mail passes");
	report(exlb_cert_del(c, "mail", &err) && strstr(err.msg, "used by VS"),
	       "a certificate in use cannot be deleted: \"%s\"", err.msg);
	report(exlb_service_mod(c, vs, P("CertFile=bad/name"), &err) != 0,
	       "CertFile with a bad name is refused: \"%s\"", err.msg);
	exlb_service_mod(c, vs, P("CipherSet=NOSUCHCIPHER"), &err);
	report(exlb_config_check(c, &err) && strstr(err.msg, "CipherSet"),
	       "an unknown custom cipher list fails the check: \"%s\"", err.msg);
	exlb_service_mod(c, vs, P("CipherSet=ECDHE-ECDSA-AES128-SHA:FOO"), &err);
	report(!exlb_config_check(c, &err),
	       "a custom list with a known cipher passes");
	exlb_service_mod(c, vs, P("CipherSet=default"), &err);
	exlb_service_mod(c, vs, P("SSLReencrypt=1 ReencryptVerify=1"), &err);
	report(exlb_config_check(c, &err) && strstr(err.msg, "ReverseSNIHostname"),
	       "ReencryptVerify needs ReverseSNIHostname: \"%s\"", err.msg);
	exlb_service_mod(c, vs, P("ReverseSNIHostname=ex.example.com HSTS=31536000"), &err);
	report(!exlb_config_check(c, &err) && vs->hsts == 31536000,
	       "ReverseSNIHostname and StrictTransportSecurity (alias HSTS) set");

	doc = exlb_config_to_json(c);
	back = exlb_config_from_json(doc, &err);
	report(back && back->nr_certs == c->nr_certs &&
	       !strcmp(back->certs[0].sha256, c->certs[0].sha256) &&
	       json_array_size(json_object_get(doc, "certificates")) == c->nr_certs,
	       "the certificate table round-trips through JSON");
	exlb_config_free(back);
	json_object_set_new(json_array_get(json_object_get(doc, "certificates"), 0),
			    "sha256", json_string("xyz"));
	back = exlb_config_from_json(doc, &err);
	report(!back && strstr(err.msg, "sha256"),
	       "a bad fingerprint in the document is refused: \"%s\"", err.msg);
	exlb_config_free(back);
	json_decref(doc);
	exlb_config_free(c);
}

static void test_sni(struct exlb_tls_cache *cache, struct exlb_config *cfg)
{
	struct exlb_err err;
	struct exlb_service *vs = add_vs(cfg, "443",
		"VStype=http SSLAcceleration=1 CertFile=mail,contoso", &err);
	struct exlb_tls_vs *t = vs ? get(cache, cfg, vs) : NULL;
	struct hs r;

	report(t && exlb_tls_vs_nr_certs(t) == 2 && !exlb_tls_vs_self_signed(t),
	       "a VS with CertFile=mail,contoso has two certificates");
	if (!t)
		return;
	r = hs_sni(t, "www.contoso.com");
	report(r.ok && !strcmp(r.server_cn, "contoso.com"),
	       "SNI www.contoso.com gets the *.contoso.com certificate (%s)", r.server_cn);
	r = hs_sni(t, "AUTODISCOVER.example.com");
	report(r.ok && !strcmp(r.server_cn, "mail.example.com"),
	       "SNI matches a SAN case-insensitively (%s)", r.server_cn);
	r = hs_sni(t, "contoso.com");
	report(r.ok && !strcmp(r.server_cn, "contoso.com"),
	       "SNI matches the CN when it is among the names (%s)", r.server_cn);
	r = hs_sni(t, "a.b.contoso.com");
	report(r.ok && !strcmp(r.server_cn, "mail.example.com"),
	       "a wildcard covers one label only: a.b.contoso.com gets the default (%s)",
	       r.server_cn);
	r = hs_sni(t, "unknown.example.net");
	report(r.ok && !strcmp(r.server_cn, "mail.example.com"),
	       "an unknown name gets the default certificate (%s)", r.server_cn);
	r = hs_sni(t, NULL);
	report(r.ok && !strcmp(r.server_cn, "mail.example.com"),
	       "no SNI gets the default certificate");
	report(!strcmp(r.alpn, ""), "no ALPN offered, none selected");
	{
		struct client_opts o = { .sni = "mail.example.com",
					 .alpn = "\x02h2\x08http/1.1", .alpn_len = 12 };

		r = handshake(t, &o);
		report(r.ok && !strcmp(r.alpn, "http/1.1"),
		       "ALPN h2,http/1.1: http/1.1 selected (%s)", r.alpn);
		o.alpn = "\x02h2";
		o.alpn_len = 3;
		r = handshake(t, &o);
		report(r.ok && !r.alpn[0], "ALPN h2 only: no ALPN, no h2");
	}
	r = hs_sni(t, "mail.example.com");
	report(r.ok && !strcmp(r.version, "TLSv1.3"),
	       "default TLSType and BestPractices negotiate %s", r.version);
	exlb_tls_vs_put(t);

	exlb_service_mod(cfg, vs, P("NeedHostName=1"), &err);
	t = get(cache, cfg, vs);
	if (!t)
		return;
	r = hs_sni(t, NULL);
	report(!r.ok, "NeedHostName=1: a ClientHello without SNI fails");
	r = hs_sni(t, "www.contoso.com");
	report(r.ok && !strcmp(r.server_cn, "contoso.com"),
	       "NeedHostName=1: with SNI it works");
	exlb_tls_vs_put(t);
	exlb_service_mod(cfg, vs, P("NeedHostName=0"), &err);

	/*
	 * A client that connected before a change and sends its ClientHello
	 * after it: its SSL must keep what the SNI callback reads, though
	 * nothing else holds those contexts any more (ASan checks).
	 */
	t = get(cache, cfg, vs);
	if (!t)
		return;
	{
		struct client_opts o = { .sni = "www.contoso.com" };
		SSL *held = exlb_tls_vs_ssl_new(t);

		exlb_tls_vs_put(t);
		exlb_service_mod(cfg, vs, P("CipherSet=Intermediate_compatibility"), &err);
		exlb_tls_cache_prune(cache, cfg);
		r = handshake_ssl(held, &o);
		report(r.ok && !strcmp(r.server_cn, "contoso.com"),
		       "an SSL made before its contexts were dropped still picks by SNI (%s)",
		       r.server_cn);
	}
	exlb_service_mod(cfg, vs, P("CipherSet=BestPractices"), &err);
}

static void test_versions(struct exlb_tls_cache *cache, struct exlb_config *cfg)
{
	struct exlb_err err;
	struct exlb_service *vs = add_vs(cfg, "444",
		"VStype=http SSLAcceleration=1 CertFile=mail TLSType=16", &err);
	struct exlb_tls_vs *t = vs ? get(cache, cfg, vs) : NULL;
	struct client_opts o13 = { .sni = "mail.example.com",
				   .min_version = TLS1_3_VERSION };
	struct client_opts o11 = { .sni = "mail.example.com",
				   .min_version = TLS1_1_VERSION,
				   .max_version = TLS1_1_VERSION,
				   .ciphers = "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0" };
	struct hs r;

	if (!t) {
		report(false, "VS with TLSType=16");
		return;
	}
	r = handshake(t, &o13);
	report(!r.ok, "TLSType=16: a TLS 1.3-only client fails");
	r = hs_sni(t, "mail.example.com");
	report(r.ok && !strcmp(r.version, "TLSv1.2"),
	       "TLSType=16: a normal client gets %s", r.version);
	exlb_tls_vs_put(t);

	exlb_service_mod(cfg, vs, P("TLSType=1 CipherSet=Backward_compatibility"), &err);
	t = get(cache, cfg, vs);
	r = t ? handshake(t, &o11) : r;
	report(t && r.ok && !strcmp(r.version, "TLSv1.1"),
	       "Backward_compatibility, TLSType=1: TLS 1.1 works (%s %s)",
	       r.version, r.cipher);
	exlb_tls_vs_put(t);
	exlb_service_mod(cfg, vs, P("TLSType=18"), &err);
	t = get(cache, cfg, vs);
	r = t ? handshake(t, &o11) : r;
	report(t && r.ok && !strcmp(r.version, "TLSv1.1"),
	       "TLSType=18 (TLS 1.1-1.2), Backward_compatibility: TLS 1.1 works (%s)",
	       r.version);
	o11.min_version = o11.max_version = TLS1_VERSION;
	r = t ? handshake(t, &o11) : r;
	report(t && !r.ok, "TLSType=18: a TLS 1.0-only client fails");
	r = t ? hs_sni(t, "mail.example.com") : r;
	report(t && r.ok && !strcmp(r.version, "TLSv1.2"),
	       "TLSType=18: a normal client gets %s", r.version);
	exlb_tls_vs_put(t);
	exlb_service_mod(cfg, vs, P("TLSType=1 CipherSet=BestPractices"), &err);
}

/* ---- every TLSType against every cipher set, with real handshakes ---- */

static const struct {
	int version;
	unsigned int bit;	/* TLSType bit that disables it */
	const char *name;
} versions[] = {
	{ TLS1_VERSION, 2, "1.0" },
	{ TLS1_1_VERSION, 4, "1.1" },
	{ TLS1_2_VERSION, 8, "1.2" },
	{ TLS1_3_VERSION, 16, "1.3" },
};
#define NR_VERSIONS (sizeof(versions) / sizeof(versions[0]))

/*
 * A client pinned to one version, willing to use every suite at security
 * level 0, so that only the server can be what refuses.
 */
static bool hs_pinned(SSL *server, int version)
{
	struct client_opts o = { .sni = "mail.example.com",
				 .min_version = version,
				 .max_version = version,
				 .ciphers = "ALL:@SECLEVEL=0" };

	return handshake_ssl(server, &o).ok;
}

/*
 * The oracle for a refused combination: a context with the lowest to the
 * highest version TLSType leaves on and the set's lists, built here
 * without tls.c's check, and @p's certificate.
 */
static SSL_CTX *unchecked_ctx(unsigned int tls_type, const char *set,
			      const struct pem *p)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	BIO *cb = BIO_new_mem_buf(p->crt, -1), *kb = BIO_new_mem_buf(p->key, -1);
	X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	const char *tls12, *tls13;
	int min = 0, max = 0;

	for (size_t i = 0; i < NR_VERSIONS; i++) {
		if (tls_type & versions[i].bit)
			continue;
		if (!min)
			min = versions[i].version;
		max = versions[i].version;
	}
	exlb_tls_cipher_lists(set, &tls12, &tls13);
	SSL_CTX_set_min_proto_version(ctx, min);
	SSL_CTX_set_max_proto_version(ctx, max);
	SSL_CTX_set_cipher_list(ctx, tls12);
	SSL_CTX_set_ciphersuites(ctx, tls13);
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_use_certificate(ctx, x);
	SSL_CTX_use_PrivateKey(ctx, k);
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	ERR_clear_error();
	return ctx;
}

/* exlb_service_mod() with @spec, for loops: P() keeps only 64 objects. */
static int mod(struct exlb_config *cfg, struct exlb_service *vs,
	       const char *spec, struct exlb_err *err)
{
	json_t *obj = json_object();
	char *copy = strdup(spec), *save = NULL;
	int rc;

	for (char *tok = strtok_r(copy, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		*eq = 0;
		json_object_set_new(obj, tok, json_string(eq + 1));
	}
	free(copy);
	rc = exlb_service_mod(cfg, vs, obj, err);
	json_decref(obj);
	return rc;
}

/* The versions TLSType leaves on are one contiguous, non-empty range. */
static bool contiguous(unsigned int tls_type)
{
	unsigned int on = ~tls_type & 30;

	/* a run of ones: adding its lowest bit clears all of it */
	return on && !((on + (on & -on)) & on);
}

/*
 * Issue 17 item 3: for every TLSType 0-31 and every cipher set, the
 * configuration check (what vs add / vs mod / a template / config.json
 * go through) either refuses the combination with a reason, or accepts it
 * and then, with an ECDSA and an RSA certificate, a client pinned to an
 * enabled version handshakes for at least one of them and a client pinned
 * to a disabled version never does. A refused range that is contiguous
 * must really be unable to handshake (checked on a context built without
 * the check): the check refuses nothing that would work.
 */
static void test_matrix(struct exlb_tls_cache *cache, struct exlb_config *cfg)
{
	static const char *const sets[] = {
		"BestPractices", "Default", "Intermediate_compatibility",
		"Backward_compatibility", "ECDSA_BestPractices",
		/* custom lists: CBC suites for TLS 1.0+, below and at level 0 */
		"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA",
		"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0",
	};
	static const char *const certs[] = { "mail", "rsa" };
	const struct pem *pems[] = { &mail_pem, &rsa_pem };
	struct exlb_err err;
	struct exlb_service *vs = add_vs(cfg, "447", "VStype=http SSLAcceleration=1",
					 &err);
	int accepted = 0, refused = 0;

	if (!vs) {
		report(false, "matrix VS: %s", err.msg);
		return;
	}
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		for (unsigned int tt = 0; tt < 32; tt++) {
			struct exlb_config *c = exlb_config_clone(cfg);
			struct exlb_service *v = exlb_service_by_id(c, vs->id);
			char spec[600], seen[128] = "", bad[128] = "";
			size_t slen = 0, blen = 0;
			bool any = false, top = false;
			size_t hi = 0;

			snprintf(spec, sizeof(spec), "TLSType=%u CipherSet=%s", tt, sets[s]);
			if (mod(c, v, spec, &err) ||
			    exlb_config_check(c, &err)) {
				bool reason = strstr(err.msg, "TLSType") &&
					      (contiguous(tt) ? strstr(err.msg, "no version can handshake") != NULL :
					       strstr(err.msg, "every TLS version") ||
					       strstr(err.msg, "contiguous range"));

				/* the oracle: nothing could have handshaken */
				for (size_t k = 0; contiguous(tt) && k < 2; k++) {
					SSL_CTX *u = unchecked_ctx(tt, sets[s], pems[k]);

					for (size_t i = 0; i < NR_VERSIONS; i++)
						if (!(tt & versions[i].bit) &&
						    hs_pinned(SSL_new(u), versions[i].version))
							blen += snprintf(bad + blen, sizeof(bad) - blen,
									 " %s/%s", certs[k], versions[i].name);
					SSL_CTX_free(u);
				}
				report(reason && !blen,
				       "TLSType=%u %s: refused: \"%s\"%s%s", tt, sets[s],
				       err.msg, blen ? "; but would handshake:" : "", bad);
				refused++;
				exlb_config_free(c);
				continue;
			}
			for (size_t k = 0; k < 2; k++) {
				struct exlb_tls_vs *t;

				snprintf(spec, sizeof(spec), "CertFile=%s", certs[k]);
				mod(c, v, spec, &err);
				t = get(cache, c, v);
				if (!t) {
					blen += snprintf(bad + blen, sizeof(bad) - blen,
							 " %s: no context", certs[k]);
					continue;
				}
				for (size_t i = 0; i < NR_VERSIONS; i++) {
					bool on = !(tt & versions[i].bit);
					bool ok = hs_pinned(exlb_tls_vs_ssl_new(t),
							    versions[i].version);

					if (on)
						hi = i;

					if (ok && on)
						slen += snprintf(seen + slen, sizeof(seen) - slen,
								 " %s/%s", certs[k], versions[i].name);
					if (ok && !on)
						blen += snprintf(bad + blen, sizeof(bad) - blen,
								 " %s/%s", certs[k], versions[i].name);
					any |= ok && on;
				}
				exlb_tls_vs_put(t);
			}
			/* the best version left on works (with one of the keys) */
			for (size_t k = 0; k < 2; k++) {
				char want[16];

				snprintf(want, sizeof(want), " %s/%s", certs[k],
					 versions[hi].name);
				top |= strstr(seen, want) != NULL;
			}
			report(any && top && !blen,
			       "TLSType=%u %s: accepted; handshakes:%s%s%s%s", tt, sets[s],
			       any ? seen : " none", top ? "" : "; not with the highest version on",
			       blen ? "; served while disabled, or no context:" : "", bad);
			accepted++;
			exlb_tls_cache_prune(cache, cfg);
			exlb_config_free(c);
		}
	}
	printf("# matrix: %d combinations accepted, %d refused\n", accepted, refused);
	exlb_service_del(cfg, vs->id, &err);
	exlb_tls_cache_prune(cache, cfg);
}

struct cipher_case {
	const char *set;
	const char *cert;
	const char *accepted;
	const char *refused;
};

static void test_ciphers(struct exlb_tls_cache *cache, struct exlb_config *cfg)
{
	static const struct cipher_case cases[] = {
		{ "BestPractices", "mail", "ECDHE-ECDSA-AES128-GCM-SHA256",
		  "ECDHE-ECDSA-AES128-SHA256" },
		{ "BestPractices", "rsa", "ECDHE-RSA-CHACHA20-POLY1305",
		  "AES128-GCM-SHA256" },
		{ "Default", "mail", "ECDHE-ECDSA-AES256-GCM-SHA384",
		  "ECDHE-ECDSA-AES256-SHA" },
		{ "Intermediate_compatibility", "rsa", "DHE-RSA-AES128-GCM-SHA256",
		  "ECDHE-RSA-AES128-SHA" },
		{ "Backward_compatibility", "rsa", "AES128-SHA",
		  "NULL-SHA256:@SECLEVEL=0" },
		{ "Backward_compatibility", "mail", "ECDHE-ECDSA-AES256-SHA",
		  "ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0" },
		{ "ECDSA_BestPractices", "mail", "ECDHE-ECDSA-CHACHA20-POLY1305",
		  "ECDHE-RSA-AES128-GCM-SHA256" },
		{ "ECDHE-ECDSA-AES128-SHA", "mail", "ECDHE-ECDSA-AES128-SHA",
		  "ECDHE-ECDSA-AES128-GCM-SHA256" },
	};
	struct exlb_err err;
	struct exlb_service *vs = add_vs(cfg, "445", "VStype=http SSLAcceleration=1",
					 &err);
	char why[256];

	for (size_t i = 0; vs && i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cipher_case *c = &cases[i];
		char spec[256];
		struct exlb_tls_vs *t;
		struct hs a, b;

		snprintf(spec, sizeof(spec), "CipherSet=%s CertFile=%s", c->set, c->cert);
		exlb_service_mod(cfg, vs, P(spec), &err);
		vs = exlb_service_by_id(cfg, vs->id);
		t = get(cache, cfg, vs);
		if (!t) {
			report(false, "CipherSet %s builds", c->set);
			continue;
		}
		a = hs_tls12(t, c->accepted);
		b = hs_tls12(t, c->refused);
		report(a.ok && !strcmp(a.cipher, c->accepted) && !b.ok,
		       "CipherSet %s (%s certificate): accepts %s, refuses %s",
		       c->set, c->cert, c->accepted, c->refused);
		exlb_tls_vs_put(t);
	}
	report(!exlb_tls_cipher_set_check("NOPE-NOTHING", why, sizeof(why)) &&
	       strstr(why, "cipher list"),
	       "a custom list naming no known cipher is refused: \"%s\"", why);
	report(exlb_tls_cipher_set_check("backward_COMPATIBILITY", why, sizeof(why)),
	       "set names are case-insensitive");
}

/* Set by SSL_CTX ex_data: a context tagged with &ctx_freed was freed. */
static int ctx_freed_idx;
static bool ctx_freed;

static void ctx_freed_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			 long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	if (ptr)
		*(bool *)ptr = true;
}

static void test_selfsigned_and_cache(struct exlb_tls_cache *cache,
				      struct exlb_config *cfg)
{
	struct exlb_err err;
	bool held;
	struct exlb_service *vs = add_vs(cfg, "446", "VStype=http SSLAcceleration=1",
					 &err);
	struct exlb_tls_vs *t, *t2, *t3;
	struct exlb_tls_cache *restarted;
	SSL *ssl;
	char sha[65] = "", path[512];
	struct hs r;
	struct pem newer = make_cert("mail.example.com", "DNS:mail.example.com", false);
	uint32_t id;

	t = vs ? get(cache, cfg, vs) : NULL;
	report(t && exlb_tls_vs_self_signed(t),
	       "SSLAcceleration without CertFile: self-signed");
	if (!t)
		return;
	snprintf(sha, sizeof(sha), "%s", exlb_tls_vs_cert_sha256(t, 0));
	r = hs_sni(t, "x");
	report(r.ok && !strcmp(r.server_cn, "exlb self-signed"),
	       "the self-signed certificate says CN \"%s\"", r.server_cn);
	snprintf(path, sizeof(path), "%s/certs/.selfsigned.key", state_dir);
	report(!access(path, F_OK), "it is stored as certs/.selfsigned.crt/.key");
	t2 = get(cache, cfg, vs);
	report(t2 == t, "a second get returns the cached contexts");
	exlb_tls_vs_put(t2);
	restarted = exlb_tls_cache_new(state_dir);
	t2 = get(restarted, cfg, vs);
	report(t2 && t2 != t && !strcmp(exlb_tls_vs_cert_sha256(t2, 0), sha),
	       "after a restart the same self-signed certificate is reused");
	exlb_tls_vs_put(t2);
	exlb_tls_cache_free(restarted);
	exlb_tls_vs_put(t);

	/* a certificate replaced: new contexts, the old ones live on */
	id = vs->id;
	exlb_service_mod(cfg, vs, P("CertFile=mail"), &err);
	t = get(cache, cfg, exlb_service_by_id(cfg, id));
	report(install(cfg, "mail", &newer, true) == 0, "cert replace");
	t2 = get(cache, cfg, exlb_service_by_id(cfg, id));
	report(t && t2 && t != t2 &&
	       !strcmp(exlb_tls_vs_cert_sha256(t2, 0), exlb_cert_find(cfg, "mail")->sha256) &&
	       strcmp(exlb_tls_vs_cert_sha256(t, 0), exlb_tls_vs_cert_sha256(t2, 0)),
	       "a changed fingerprint rebuilds the contexts");
	r = t ? hs_sni(t, "mail.example.com") : r;
	report(t && r.ok, "the old contexts still serve the connections holding them");
	exlb_tls_vs_put(t);
	t3 = get(cache, cfg, exlb_service_by_id(cfg, id));
	report(t3 == t2, "and the new ones are cached");
	exlb_tls_vs_put(t3);
	exlb_tls_vs_put(t2);

	/* the files changed behind the configuration's back */
	{
		struct exlb_cert *c = (struct exlb_cert *)exlb_cert_find(cfg, "mail");
		char saved = c->sha256[0];

		c->sha256[0] = saved == '0' ? '1' : '0';
		t = exlb_tls_vs_get(cache, cfg, exlb_service_by_id(cfg, id), &err);
		report(!t && strstr(err.msg, "not the configured ones"),
		       "files that do not match the table are refused: \"%s\"", err.msg);
		c->sha256[0] = saved;
	}

	/* re-encryption */
	exlb_service_mod(cfg, exlb_service_by_id(cfg, id),
			 P("SSLReencrypt=1 ReverseSNIHostname=ex1.example.com StrictTransportSecurity=600"),
			 &err);
	t = get(cache, cfg, exlb_service_by_id(cfg, id));
	report(t && exlb_tls_vs_client_ctx(t) &&
	       !strcmp(exlb_tls_vs_reverse_sni(t), "ex1.example.com") &&
	       exlb_tls_vs_hsts(t) == 600 &&
	       SSL_CTX_get_verify_mode(exlb_tls_vs_client_ctx(t)) == SSL_VERIFY_NONE,
	       "SSLReencrypt: a client context, ReverseSNIHostname, no verification by default");
	exlb_tls_vs_put(t);
	exlb_service_mod(cfg, exlb_service_by_id(cfg, id), P("ReencryptVerify=1"), &err);
	t = get(cache, cfg, exlb_service_by_id(cfg, id));
	report(t && (SSL_CTX_get_verify_mode(exlb_tls_vs_client_ctx(t)) & SSL_VERIFY_PEER),
	       "ReencryptVerify=1 verifies the real server");
	exlb_tls_vs_put(t);

	exlb_tls_set_ktls(true);
	t = get(cache, cfg, exlb_service_by_id(cfg, id));
	ssl = t ? exlb_tls_vs_ssl_new(t) : NULL;
	report(ssl && (SSL_get_options(ssl) & SSL_OP_ENABLE_KTLS),
	       "exlb_tls_set_ktls(true): new contexts have SSL_OP_ENABLE_KTLS");
	SSL_free(ssl);
	exlb_tls_vs_put(t);
	exlb_tls_set_ktls(false);

	/*
	 * prune after the VS is deleted: the cache drops its reference, so the
	 * contexts go when the last holder lets go (and not before).
	 */
	t = get(cache, cfg, exlb_service_by_id(cfg, id));
	ctx_freed = false;
	ssl = t ? exlb_tls_vs_ssl_new(t) : NULL;
	if (ssl)
		SSL_CTX_set_ex_data(SSL_get_SSL_CTX(ssl), ctx_freed_idx, &ctx_freed);
	SSL_free(ssl);
	exlb_service_del(cfg, id, &err);
	exlb_tls_cache_prune(cache, cfg);
	held = ctx_freed;
	exlb_tls_vs_put(t);
	report(t && !held && ctx_freed,
	       "prune after the VS is deleted: contexts kept while held (%s), freed with the last reference (%s)",
	       held ? "freed" : "kept", ctx_freed ? "freed" : "kept");
	t = exlb_tls_vs_get(cache, cfg, exlb_service_by_id(cfg, 1), &err);
	exlb_tls_vs_put(t);
	pem_free(&newer);
}

int main(void)
{
	struct exlb_config *cfg = exlb_config_new();
	struct exlb_tls_cache *cache;
	char cmd[600];

	if (!mkdtemp(state_dir)) {
		perror("mkdtemp");
		return 1;
	}
	cache = exlb_tls_cache_new(state_dir);
	ctx_freed_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ctx_freed_cb);
	mail_pem = make_cert("mail.example.com",
			     "DNS:mail.example.com,DNS:autodiscover.example.com", false);
	contoso_pem = make_cert("contoso.com", "DNS:*.contoso.com,DNS:contoso.com", false);
	rsa_pem = make_cert("mail.example.com", "DNS:mail.example.com", true);

	test_store(cfg);
	test_config_rules(cfg);
	test_sni(cache, cfg);
	test_versions(cache, cfg);
	test_ciphers(cache, cfg);
	test_matrix(cache, cfg);
	test_selfsigned_and_cache(cache, cfg);

	exlb_tls_cache_free(cache);
	exlb_config_free(cfg);
	pem_free(&mail_pem);
	pem_free(&contoso_pem);
	pem_free(&rsa_pem);
	for (size_t i = 0; i < nr_made; i++)
		json_decref(made[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
	if (system(cmd))
		printf("# cannot remove %s\n", state_dir);
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
