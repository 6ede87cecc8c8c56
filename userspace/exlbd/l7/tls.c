// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * TLS contexts of the L7 proxy (see tls.h): building a VS's server and
 * client SSL_CTXs from its parameters and certificates (the protocol side,
 * TLSType and CipherSet, is config/tls_proto.c's), the SNI and ALPN
 * callbacks, and the cache keyed by everything TLS-relevant.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "config/certs.h"
#include "ktls.h"
#include "tls.h"

#define MAX_NAMES	256	/* DNS names of one certificate used for SNI */

/* ---- contexts ---- */

static atomic_bool ktls_on;

void exlb_tls_set_ktls(bool on)
{
	atomic_store(&ktls_on, on);
}

struct tls_cert {
	SSL_CTX *ctx;
	char sha256[65];
	char **names;		/* lower-case SAN DNS names and CN */
	size_t nr_names;
};

struct exlb_tls_vs {
	atomic_uint refs;
	uint32_t vs_id;
	char *key;		/* cache key: every TLS-relevant parameter */
	struct tls_cert certs[EXLB_VS_MAX_CERTS];
	size_t nr_certs;
	SSL_CTX *client;
	char *reverse_sni;
	unsigned int hsts;
	bool self_signed;
	bool need_host_name;
};

static void tls_vs_free(struct exlb_tls_vs *t)
{
	for (size_t i = 0; i < t->nr_certs; i++) {
		SSL_CTX_free(t->certs[i].ctx);
		for (size_t j = 0; j < t->certs[i].nr_names; j++)
			free(t->certs[i].names[j]);
		free(t->certs[i].names);
	}
	SSL_CTX_free(t->client);
	free(t->reverse_sni);
	free(t->key);
	free(t);
}

struct exlb_tls_vs *exlb_tls_vs_ref(struct exlb_tls_vs *t)
{
	atomic_fetch_add(&t->refs, 1);
	return t;
}

void exlb_tls_vs_put(struct exlb_tls_vs *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		tls_vs_free(t);
}

/*
 * A server SSL holds a reference to the exlb_tls_vs it was made from, in its
 * ex_data, dropped by SSL_free(): the SNI callback reads the exlb_tls_vs
 * whenever a ClientHello arrives, and that may be long after the plan that
 * handed it out was replaced (a held connection across a renewal).
 */
static int ssl_tls_vs_idx = -1;
static pthread_once_t ssl_tls_vs_once = PTHREAD_ONCE_INIT;

static void ssl_tls_vs_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
			    int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	exlb_tls_vs_put(ptr);
}

static void ssl_tls_vs_index_init(void)
{
	ssl_tls_vs_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ssl_tls_vs_free);
}

SSL *exlb_tls_vs_ssl_new(struct exlb_tls_vs *t)
{
	SSL *ssl;

	pthread_once(&ssl_tls_vs_once, ssl_tls_vs_index_init);
	if (ssl_tls_vs_idx < 0)
		return NULL;
	ssl = SSL_new(t->certs[0].ctx);
	if (!ssl)
		return NULL;
	if (!SSL_set_ex_data(ssl, ssl_tls_vs_idx, exlb_tls_vs_ref(t))) {
		exlb_tls_vs_put(t);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
		     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return ssl;
}

SSL_CTX *exlb_tls_vs_client_ctx(const struct exlb_tls_vs *t)
{
	return t->client;
}

const char *exlb_tls_vs_reverse_sni(const struct exlb_tls_vs *t)
{
	return t->reverse_sni;
}

unsigned int exlb_tls_vs_hsts(const struct exlb_tls_vs *t)
{
	return t->hsts;
}

bool exlb_tls_vs_self_signed(const struct exlb_tls_vs *t)
{
	return t->self_signed;
}

uint32_t exlb_tls_vs_id(const struct exlb_tls_vs *t)
{
	return t->vs_id;
}

size_t exlb_tls_vs_nr_certs(const struct exlb_tls_vs *t)
{
	return t->nr_certs;
}

const char *exlb_tls_vs_cert_sha256(const struct exlb_tls_vs *t, size_t i)
{
	return i < t->nr_certs ? t->certs[i].sha256 : NULL;
}

size_t exlb_tls_vs_pick(const struct exlb_tls_vs *t, const char *host)
{
	/* exact names beat wildcards, whatever the CertFile order */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < t->nr_certs; i++) {
			for (size_t j = 0; j < t->certs[i].nr_names; j++) {
				const char *name = t->certs[i].names[j];
				bool wild = !strncmp(name, "*.", 2);

				if (wild == (pass == 1) &&
				    exlb_cert_name_matches(name, host))
					return i;
			}
		}
	}
	return 0;
}

/* SNI: NeedHostName, then the certificate for the name. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
	const struct exlb_tls_vs *t = SSL_get_ex_data(ssl, ssl_tls_vs_idx);
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t i;

	(void)arg;
	if (!t) {	/* not made by exlb_tls_vs_ssl_new() */
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (!host || !host[0]) {
		if (!t->need_host_name)
			return SSL_TLSEXT_ERR_OK;
		*alert = SSL_AD_HANDSHAKE_FAILURE;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	i = exlb_tls_vs_pick(t, host);
	/* every context has the same settings: only the certificate changes */
	if (i && !SSL_set_SSL_CTX(ssl, t->certs[i].ctx)) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 if the client offers it; otherwise no ALPN at all. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "http/1.1";

	(void)ssl;
	(void)arg;
	for (unsigned int i = 0; i < inlen;) {
		unsigned int len = in[i];

		if (i + 1 + len > inlen)
			break;
		if (len == sizeof(h11) - 1 && !memcmp(in + i + 1, h11, len)) {
			*out = in + i + 1;
			*outlen = len;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + len;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *server_ctx_new(const struct exlb_service *vs,
			       const struct exlb_cert_pair *pair,
			       struct exlb_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char sid[32], why[256];

	if (!ctx) {
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	if (exlb_tls_set_protocols(ctx, vs->tls_type, vs->cipher_set, why, sizeof(why))) {
		exlb_err_set(err, "%s", why);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			    (atomic_load(&ktls_on) ? SSL_OP_ENABLE_KTLS : 0));
	/* idle connections then hold no read/write buffers */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/*
	 * kTLS (ktls.h): TLS 1.3 secrets come from the key log, and the
	 * proxy sends the session tickets itself after the handshake.
	 */
	SSL_CTX_set_keylog_callback(ctx, exlb_ktls_keylog_cb);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_dh_auto(ctx, 1);
	/* resumption: a server-side cache and tickets (OpenSSL's default) */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	snprintf(sid, sizeof(sid), "exlb-vs-%u", vs->id);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid,
				       strlen(sid));
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	if (SSL_CTX_use_certificate(ctx, pair->leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pair->key) != 1 ||
	    SSL_CTX_set1_chain(ctx, pair->chain) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		unsigned long e = ERR_peek_last_error();

		ERR_error_string_n(e, why, sizeof(why));
		exlb_err_set(err, "cannot use the certificate: %s", why);
		goto fail;
	}
	ERR_clear_error();
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * The worker process (docs/privsep.md): the CA store ReencryptVerify
 * checks against, read once before it enters the sandbox (OpenSSL's
 * default paths load lazily: an open() at the first verification, which
 * the filter kills). Only the file (SSL_CERT_FILE or OpenSSL's default,
 * Debian's ca-certificates.crt), not the hashed directory, which is read
 * per lookup.
 */
static X509_STORE *ca_store;
static bool ca_store_preloaded;

int exlb_tls_preload_ca_store(struct exlb_err *err)
{
	const char *file = getenv(X509_get_default_cert_file_env());

	if (!file || !*file)
		file = X509_get_default_cert_file();
	ca_store_preloaded = true;
	ca_store = X509_STORE_new();
	if (!ca_store || X509_STORE_load_file(ca_store, file) != 1) {
		ERR_clear_error();
		X509_STORE_free(ca_store);
		ca_store = NULL;
		return exlb_err_set(err, "ReencryptVerify: cannot load the CA store %s: such VSs will not serve",
				    file);
	}
	return 0;
}

/* The default CA store, or the preloaded one in a worker process. */
static int ctx_ca_store(SSL_CTX *ctx)
{
	if (!ca_store_preloaded)
		return SSL_CTX_set_default_verify_paths(ctx);
	if (!ca_store)
		return 0;
	SSL_CTX_set1_cert_store(ctx, ca_store);
	return 1;
}

static SSL_CTX *client_ctx_new(const struct exlb_service *vs,
			       struct exlb_err *err)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			    (atomic_load(&ktls_on) ? SSL_OP_ENABLE_KTLS : 0));
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
	if (!vs->reencrypt_verify) {
		/* Kemp's behaviour: the RS is trusted by address */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	if (ctx_ca_store(ctx) != 1 ||
	    X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(ctx),
					vs->reverse_sni, 0) != 1) {
		ERR_clear_error();
		SSL_CTX_free(ctx);
		exlb_err_set(err, "ReencryptVerify: cannot load the system CA store");
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

static int add_cert(struct exlb_tls_vs *t, const struct exlb_service *vs,
		    const struct exlb_cert_pair *pair, struct exlb_err *err)
{
	struct tls_cert *c = &t->certs[t->nr_certs];
	char *names[MAX_NAMES];

	c->ctx = server_ctx_new(vs, pair, err);
	if (!c->ctx)
		return -1;
	t->nr_certs++;
	memcpy(c->sha256, pair->sha256, sizeof(c->sha256));
	c->nr_names = exlb_cert_dns_names(pair->leaf, names, MAX_NAMES);
	c->names = calloc(c->nr_names ? c->nr_names : 1, sizeof(char *));
	if (!c->names) {
		for (size_t i = 0; i < c->nr_names; i++)
			free(names[i]);
		c->nr_names = 0;
		return exlb_err_set(err, "out of memory");
	}
	memcpy(c->names, names, c->nr_names * sizeof(char *));
	return 0;
}

/*
 * The cache key: a VS's contexts are rebuilt when any of this changes.
 * NULL if out of memory.
 */
static char *cache_key(const struct exlb_config *cfg,
		       const struct exlb_service *vs)
{
	char names[EXLB_VS_MAX_CERTS][EXLB_CERT_NAME_SIZE];
	size_t n = exlb_service_cert_names(vs, names, EXLB_VS_MAX_CERTS);
	char *key = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&key, &len);

	if (!f)
		return NULL;
	fprintf(f, "id=%u tls=%u ciphers=%s sni=%u reenc=%u rsni=%s verify=%u hsts=%u ktls=%d certs=",
		vs->id, vs->tls_type, vs->cipher_set, vs->need_host_name,
		vs->ssl_reencrypt, vs->reverse_sni, vs->reencrypt_verify,
		vs->hsts, (int)atomic_load(&ktls_on));
	for (size_t i = 0; i < n; i++) {
		const struct exlb_cert *c = exlb_cert_find(cfg, names[i]);

		fprintf(f, "%s:%s,", names[i], c ? c->sha256 : "?");
	}
	if (!n)
		fprintf(f, "%s", EXLB_SELFSIGNED_NAME);
	if (fclose(f)) {
		free(key);
		return NULL;
	}
	return key;
}

struct exlb_tls_cache {
	char *state_dir;	/* NULL: a worker process, certificates in pem */
	json_t *pem;		/* {"NAME": {"crt": PEM, "key": PEM}} */
	pthread_mutex_t lock;
	struct exlb_tls_vs **entries;	/* one per VS id */
	size_t nr, cap;
};

/*
 * Certificate @name from the state directory, or in a worker process from
 * the PEM bytes the manager sent (docs/privsep.md): no file is opened.
 */
static int load_pair(const struct exlb_tls_cache *c, const char *name,
		     struct exlb_cert_pair *pair, struct exlb_err *err)
{
	json_t *e = json_object_get(c->pem, name);
	const char *crt = json_string_value(json_object_get(e, "crt"));
	const char *key = json_string_value(json_object_get(e, "key"));
	struct exlb_err why;

	if (c->state_dir)
		return !strcmp(name, EXLB_SELFSIGNED_NAME) ?
		       exlb_cert_selfsigned(c->state_dir, pair, err) :
		       exlb_cert_load(c->state_dir, name, pair, err);
	memset(pair, 0, sizeof(*pair));
	if (!crt || !key)
		return exlb_err_set(err, "certificate '%s': not sent to the worker process",
				    name);
	if (exlb_cert_parse(crt, key, pair, &why))
		return exlb_err_set(err, "certificate '%s': %s", name, why.msg);
	return 0;
}

static struct exlb_tls_vs *tls_vs_build(const struct exlb_tls_cache *cache,
					const struct exlb_config *cfg,
					const struct exlb_service *vs,
					char *key, struct exlb_err *err)
{
	char names[EXLB_VS_MAX_CERTS][EXLB_CERT_NAME_SIZE];
	size_t n = exlb_service_cert_names(vs, names, EXLB_VS_MAX_CERTS);
	struct exlb_tls_vs *t = calloc(1, sizeof(*t));
	struct exlb_cert_pair pair;
	struct exlb_err why;

	if (!t) {
		free(key);
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	atomic_init(&t->refs, 1);
	t->key = key;
	t->vs_id = vs->id;
	t->hsts = vs->hsts;
	t->need_host_name = vs->need_host_name;
	if (!n) {
		t->self_signed = true;
		if (load_pair(cache, EXLB_SELFSIGNED_NAME, &pair, err))
			goto fail;
		if (add_cert(t, vs, &pair, err)) {
			exlb_cert_pair_free(&pair);
			goto fail;
		}
		exlb_cert_pair_free(&pair);
	}
	for (size_t i = 0; i < n; i++) {
		const struct exlb_cert *c = exlb_cert_find(cfg, names[i]);

		if (!c) {
			exlb_err_set(err, "CertFile: no certificate named '%s'", names[i]);
			goto fail;
		}
		if (load_pair(cache, names[i], &pair, &why)) {
			exlb_err_set(err, "CertFile: %s", why.msg);
			goto fail;
		}
		/* the files must be what the configuration says they are */
		if (strcmp(pair.sha256, c->sha256)) {
			exlb_err_set(err,
				     "CertFile: certificate '%s': its files (sha256 %.16s...) are not the configured ones (%.16s...); add it again with replace=1",
				     names[i], pair.sha256, c->sha256);
			exlb_cert_pair_free(&pair);
			goto fail;
		}
		if (add_cert(t, vs, &pair, err)) {
			exlb_err_set(&why, "%s", err->msg);
			exlb_err_set(err, "certificate '%s': %s", names[i], why.msg);
			exlb_cert_pair_free(&pair);
			goto fail;
		}
		exlb_cert_pair_free(&pair);
	}
	/* only the first context sees the ClientHello's server name */
	/* the SSL, not the context, carries the exlb_tls_vs the callback reads */
	SSL_CTX_set_tlsext_servername_callback(t->certs[0].ctx, servername_cb);
	if (vs->ssl_reencrypt) {
		t->client = client_ctx_new(vs, err);
		if (!t->client)
			goto fail;
		if (vs->reverse_sni[0]) {
			t->reverse_sni = strdup(vs->reverse_sni);
			if (!t->reverse_sni) {
				exlb_err_set(err, "out of memory");
				goto fail;
			}
		}
	}
	return t;
fail:
	tls_vs_free(t);
	return NULL;
}

/* ---- the cache ---- */

struct exlb_tls_cache *exlb_tls_cache_new(const char *state_dir)
{
	struct exlb_tls_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->state_dir = state_dir ? strdup(state_dir) : NULL;
	if (state_dir && !c->state_dir) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void exlb_tls_cache_free(struct exlb_tls_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr; i++)
		exlb_tls_vs_put(c->entries[i]);
	free(c->entries);
	pthread_mutex_destroy(&c->lock);
	json_decref(c->pem);
	free(c->state_dir);
	free(c);
}

struct exlb_tls_vs *exlb_tls_vs_get(struct exlb_tls_cache *c,
				    const struct exlb_config *cfg,
				    const struct exlb_service *vs,
				    struct exlb_err *err)
{
	struct exlb_tls_vs *t = NULL;
	char label[EXLB_NICKNAME_SIZE];
	struct exlb_err why;
	char *key;
	size_t i;

	exlb_service_label(vs, label, sizeof(label));
	if (exlb_service_is_subvs(vs) || !vs->ssl_acceleration) {
		exlb_err_set(err, "VS %s: SSLAcceleration is off", label);
		return NULL;
	}
	key = cache_key(cfg, vs);
	if (!key) {
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nr; i++)
		if (c->entries[i]->vs_id == vs->id)
			break;
	if (i < c->nr && !strcmp(c->entries[i]->key, key)) {
		t = exlb_tls_vs_ref(c->entries[i]);
		free(key);
		goto out;
	}
	t = tls_vs_build(c, cfg, vs, key, &why);
	if (!t) {
		exlb_err_set(err, "VS %s: %s", label, why.msg);
		goto out;
	}
	if (i == c->nr && c->nr == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct exlb_tls_vs **grown = realloc(c->entries, cap * sizeof(*grown));

		/* not cached, still usable: the next get builds it again */
		if (!grown)
			goto out;
		c->entries = grown;
		c->cap = cap;
	}
	if (i == c->nr)
		c->nr++;
	else
		exlb_tls_vs_put(c->entries[i]);	/* holders keep theirs */
	c->entries[i] = exlb_tls_vs_ref(t);
out:
	pthread_mutex_unlock(&c->lock);
	return t;
}

void exlb_tls_cache_set_pem(struct exlb_tls_cache *c, json_t *pem)
{
	pthread_mutex_lock(&c->lock);
	json_decref(c->pem);
	c->pem = json_incref(pem);
	pthread_mutex_unlock(&c->lock);
}

void exlb_tls_cache_prune(struct exlb_tls_cache *c,
			  const struct exlb_config *cfg)
{
	size_t keep = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nr; i++) {
		struct exlb_tls_vs *t = c->entries[i];
		const struct exlb_service *vs = exlb_service_by_id(cfg, t->vs_id);
		char *key = NULL;
		bool used = vs && !exlb_service_is_subvs(vs) &&
			    vs->ssl_acceleration && (key = cache_key(cfg, vs)) &&
			    !strcmp(key, t->key);

		free(key);
		if (used)
			c->entries[keep++] = t;
		else
			exlb_tls_vs_put(t);
	}
	c->nr = keep;
	pthread_mutex_unlock(&c->lock);
}
