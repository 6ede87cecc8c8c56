// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The certificate store (see certs.h): PEM parsing and checks, the files in
 * STATE_DIR/certs with undoable installs, the self-signed certificate, and
 * descriptions for exlbctl. OpenSSL 3.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "hex.h"
#include "params.h"

#define MAX_CHAIN	16
#define MAX_SANS	256

void exlb_cert_pair_free(struct exlb_cert_pair *p)
{
	X509_free(p->leaf);
	sk_X509_pop_free(p->chain, X509_free);
	EVP_PKEY_free(p->key);
	memset(p, 0, sizeof(*p));
}

/* The last OpenSSL error as text, for "cannot parse ..." messages. */
static const char *ssl_why(void)
{
	static __thread char buf[160];
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return "no PEM data";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static void fingerprint(X509 *x, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	hex[0] = 0;
	if (!X509_digest(x, EVP_sha256(), md, &len))
		return;
	exlb_hex_encode(hex, md, len < 32 ? len : 32);
}

static void asn1_time_text(const ASN1_TIME *t, char *buf, size_t n)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm) ||
	    !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "?");
}

static int fill_ids(struct exlb_cert_pair *p)
{
	fingerprint(p->leaf, p->sha256);
	asn1_time_text(X509_get0_notAfter(p->leaf), p->not_after,
		       sizeof(p->not_after));
	return p->sha256[0] ? 0 : -1;
}

int exlb_cert_parse(const char *cert_pem, const char *key_pem,
		    struct exlb_cert_pair *out, struct exlb_err *err)
{
	BIO *bio = NULL;
	X509 *x;

	memset(out, 0, sizeof(*out));
	ERR_clear_error();
	if (!cert_pem || !cert_pem[0])
		return exlb_err_set(err, "certificate: no PEM text");
	if (!key_pem || !key_pem[0])
		return exlb_err_set(err, "key: no PEM text");
	if (strlen(cert_pem) > EXLB_CERT_MAX_PEM || strlen(key_pem) > EXLB_CERT_MAX_PEM)
		return exlb_err_set(err, "certificate: PEM text larger than %d bytes",
				    EXLB_CERT_MAX_PEM);
	out->chain = sk_X509_new_null();
	bio = BIO_new_mem_buf(cert_pem, -1);
	if (!out->chain || !bio)
		goto nomem;
	out->leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!out->leaf) {
		exlb_err_set(err, "certificate: cannot parse PEM: %s", ssl_why());
		goto fail;
	}
	/* the rest: the chain, up to the end of the text */
	for (int i = 0; i <= MAX_CHAIN; i++) {
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (!x) {
			unsigned long e = ERR_peek_last_error();

			if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				break;
			}
			exlb_err_set(err, "certificate: chain certificate %d: cannot parse PEM: %s",
				     i + 1, ssl_why());
			goto fail;
		}
		if (i == MAX_CHAIN || !sk_X509_push(out->chain, x)) {
			X509_free(x);
			exlb_err_set(err, "certificate: more than %d chain certificates",
				     MAX_CHAIN);
			goto fail;
		}
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(key_pem, -1);
	if (!bio)
		goto nomem;
	/* no passphrase callback: an encrypted key fails here */
	out->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	if (!out->key) {
		exlb_err_set(err, "key: cannot parse PEM (an unencrypted private key is needed): %s",
			     ssl_why());
		goto fail;
	}
	if (!X509_check_private_key(out->leaf, out->key)) {
		ERR_clear_error();
		exlb_err_set(err, "key: does not match the certificate (the first one in the file)");
		goto fail;
	}
	if (fill_ids(out)) {
		exlb_err_set(err, "certificate: cannot compute its fingerprint");
		goto fail;
	}
	BIO_free(bio);
	return 0;
nomem:
	exlb_err_set(err, "out of memory");
fail:
	BIO_free(bio);
	exlb_cert_pair_free(out);
	ERR_clear_error();
	return -1;
}

/* ---- files ---- */

static int certs_dir(const char *state_dir, char *buf, size_t n,
		     struct exlb_err *err)
{
	if ((size_t)snprintf(buf, n, "%s/%s", state_dir, EXLB_CERTS_DIR) >= n)
		return exlb_err_set(err, "state directory path too long");
	if (mkdir(buf, 0755) && errno != EEXIST)
		return exlb_err_set(err, "cannot create %s: %s", buf, strerror(errno));
	return 0;
}

static void file_path(char *buf, size_t n, const char *dir, const char *prefix,
		      const char *name, const char *ext)
{
	snprintf(buf, n, "%s/%s%s.%s", dir, prefix, name, ext);
}

/* Writes @len bytes to @path with @mode: fsynced before it returns. */
static int write_file(const char *path, const char *data, size_t len,
		      mode_t mode, struct exlb_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		return exlb_err_set(err, "cannot write %s: %s", path, strerror(errno));
	/* an existing temp file keeps its mode: the key must stay private */
	if (fchmod(fd, mode) || exlb_write_all(fd, data, len) || fsync(fd)) {
		int saved = errno;

		close(fd);
		unlink(path);
		return exlb_err_set(err, "cannot write %s: %s", path, strerror(saved));
	}
	if (close(fd)) {
		unlink(path);
		return exlb_err_set(err, "cannot write %s: %s", path, strerror(errno));
	}
	return 0;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		if (fsync(fd))
			exlb_log(LOG_WARNING, "certs: fsync %s: %s", dir, strerror(errno));
		close(fd);
	}
}

/* PEM text of the leaf and chain, and of the key. */
static int pair_pem(const struct exlb_cert_pair *p, char **crt, size_t *crt_len,
		    char **key, size_t *key_len)
{
	BIO *c = BIO_new(BIO_s_mem()), *k = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int ret = -1;

	*crt = *key = NULL;
	if (!c || !k || !PEM_write_bio_X509(c, p->leaf))
		goto out;
	for (int i = 0; i < sk_X509_num(p->chain); i++)
		if (!PEM_write_bio_X509(c, sk_X509_value(p->chain, i)))
			goto out;
	if (!PEM_write_bio_PrivateKey(k, p->key, NULL, NULL, 0, NULL, NULL))
		goto out;
	len = BIO_get_mem_data(c, &data);
	*crt = malloc(len + 1);
	if (!*crt)
		goto out;
	memcpy(*crt, data, len);
	*crt_len = len;
	len = BIO_get_mem_data(k, &data);
	*key = malloc(len + 1);
	if (!*key)
		goto out;
	memcpy(*key, data, len);
	*key_len = len;
	ret = 0;
out:
	if (ret) {
		free(*crt);
		free(*key);
		*crt = *key = NULL;
	}
	BIO_free(c);
	BIO_free(k);
	return ret;
}

struct exlb_cert_txn {
	char dir[4096];
	char name[EXLB_CERT_NAME_SIZE];
	bool had_old;
};

static void txn_paths(const struct exlb_cert_txn *t, const char *prefix,
		      const char *ext, char *buf, size_t n)
{
	file_path(buf, n, t->dir, prefix, t->name, ext);
}

int exlb_cert_install(const char *state_dir, const char *name,
		      const struct exlb_cert_pair *pair,
		      struct exlb_cert_txn **txn, struct exlb_err *err)
{
	static const char *const ext[2] = { "crt", "key" };
	struct exlb_cert_txn *t;
	char *pem[2];
	size_t len[2];
	char tmp[2][4200], final[2][4200], old[2][4200], why[128];

	*txn = NULL;
	if (!exlb_check_cert_name(name, why, sizeof(why)))
		return exlb_err_set(err, "name: %s (got '%s')", why, name);
	t = calloc(1, sizeof(*t));
	if (!t)
		return exlb_err_set(err, "out of memory");
	snprintf(t->name, sizeof(t->name), "%s", name);
	if (certs_dir(state_dir, t->dir, sizeof(t->dir), err)) {
		free(t);
		return -1;
	}
	if (pair_pem(pair, &pem[0], &len[0], &pem[1], &len[1])) {
		free(t);
		return exlb_err_set(err, "out of memory");
	}
	for (int i = 0; i < 2; i++) {
		txn_paths(t, ".tmp.", ext[i], tmp[i], sizeof(tmp[i]));
		txn_paths(t, "", ext[i], final[i], sizeof(final[i]));
		txn_paths(t, ".old.", ext[i], old[i], sizeof(old[i]));
	}
	if (write_file(tmp[0], pem[0], len[0], 0644, err) ||
	    write_file(tmp[1], pem[1], len[1], 0600, err))
		goto fail;
	/* keep the replaced files under a second name until the commit */
	t->had_old = !access(final[0], F_OK);
	for (int i = 0; t->had_old && i < 2; i++) {
		unlink(old[i]);
		if (link(final[i], old[i]) && errno != ENOENT) {
			exlb_err_set(err, "cannot keep %s: %s", final[i],
				     strerror(errno));
			goto fail;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (rename(tmp[i], final[i])) {
			exlb_err_set(err, "cannot install %s: %s", final[i],
				     strerror(errno));
			if (i == 1) {
				/* put the certificate back too */
				if (t->had_old)
					rename(old[0], final[0]);
				else
					unlink(final[0]);
			}
			goto fail;
		}
	}
	sync_dir(t->dir);
	free(pem[0]);
	free(pem[1]);
	*txn = t;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		unlink(tmp[i]);
		if (t->had_old)
			unlink(old[i]);
	}
	free(pem[0]);
	free(pem[1]);
	free(t);
	return -1;
}

void exlb_cert_txn_end(struct exlb_cert_txn *t, bool keep)
{
	static const char *const ext[2] = { "crt", "key" };
	char final[4200], old[4200];

	if (!t)
		return;
	for (int i = 0; i < 2; i++) {
		txn_paths(t, "", ext[i], final, sizeof(final));
		txn_paths(t, ".old.", ext[i], old, sizeof(old));
		if (keep) {
			unlink(old);
		} else if (t->had_old) {
			if (rename(old, final))
				exlb_log(LOG_ERR, "certs: cannot restore %s: %s", final,
					 strerror(errno));
		} else {
			unlink(final);
		}
	}
	sync_dir(t->dir);
	free(t);
}

int exlb_cert_remove_files(const char *state_dir, const char *name,
			   struct exlb_err *err)
{
	char path[4200];
	int ret = 0;

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s/%s.%s", state_dir,
			 EXLB_CERTS_DIR, name, i ? "key" : "crt");
		if (unlink(path) && errno != ENOENT)
			ret = exlb_err_set(err, "cannot remove %s: %s", path,
					   strerror(errno));
	}
	return ret;
}

static char *read_text(const char *path, struct exlb_err *err)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t len;

	if (!f) {
		exlb_err_set(err, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(EXLB_CERT_MAX_PEM + 1);
	if (!buf) {
		fclose(f);
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	len = fread(buf, 1, EXLB_CERT_MAX_PEM + 1, f);
	fclose(f);
	if (len > EXLB_CERT_MAX_PEM) {
		free(buf);
		exlb_err_set(err, "%s: larger than %d bytes", path, EXLB_CERT_MAX_PEM);
		return NULL;
	}
	buf[len] = 0;
	return buf;
}

int exlb_cert_read_pem(const char *state_dir, const char *name, char **crt,
		       char **key, struct exlb_err *err)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s/%s.crt", state_dir, EXLB_CERTS_DIR, name);
	*key = NULL;
	*crt = read_text(path, err);
	if (!*crt)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/%s.key", state_dir, EXLB_CERTS_DIR, name);
	*key = read_text(path, err);
	if (*key)
		return 0;
	free(*crt);
	*crt = NULL;
	return -1;
}

int exlb_cert_load(const char *state_dir, const char *name,
		   struct exlb_cert_pair *out, struct exlb_err *err)
{
	char *crt, *key;
	int ret;
	struct exlb_err why;

	memset(out, 0, sizeof(*out));
	if (exlb_cert_read_pem(state_dir, name, &crt, &key, err))
		return -1;
	ret = exlb_cert_parse(crt, key, out, &why);
	if (ret)
		exlb_err_set(err, "certificate '%s': %s", name, why.msg);
	/* the key text must not linger in freed memory */
	explicit_bzero(key, strlen(key));
	free(crt);
	free(key);
	return ret;
}

/* ---- the self-signed certificate ---- */

static int selfsigned_generate(struct exlb_cert_pair *out, struct exlb_err *err)
{
	X509 *x = X509_new();
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_NAME *subject;
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	unsigned char serial[16];
	BIGNUM *bn = NULL;

	memset(out, 0, sizeof(*out));
	if (!x || !key)
		goto fail;
	/* a random positive serial: browsers remember issuer + serial */
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto fail;
	subject = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) ||
	    !X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
					(const unsigned char *)"exlb self-signed",
					-1, -1, 0) ||
	    !X509_set_issuer_name(x, subject) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400 + 2 * 86400) ||
	    !X509_set_pubkey(x, key))
		goto fail;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:localhost");
	if (!ext || !X509_add_ext(x, ext, -1)) {
		X509_EXTENSION_free(ext);
		goto fail;
	}
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:FALSE");
	if (!ext || !X509_add_ext(x, ext, -1)) {
		X509_EXTENSION_free(ext);
		goto fail;
	}
	X509_EXTENSION_free(ext);
	if (!X509_sign(x, key, EVP_sha256()))
		goto fail;
	BN_free(bn);
	out->leaf = x;
	out->key = key;
	out->chain = sk_X509_new_null();
	if (!out->chain || fill_ids(out)) {
		exlb_cert_pair_free(out);
		return exlb_err_set(err, "self-signed certificate: out of memory");
	}
	return 0;
fail:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	return exlb_err_set(err, "self-signed certificate: cannot generate: %s",
			    ssl_why());
}

int exlb_cert_selfsigned(const char *state_dir, struct exlb_cert_pair *out,
			 struct exlb_err *err)
{
	static const char *const ext[2] = { "crt", "key" };
	char dir[4096], tmp[2][4200], final[2][4200];
	char *pem[2];
	size_t len[2];
	struct exlb_err why;

	if (certs_dir(state_dir, dir, sizeof(dir), err))
		return -1;
	file_path(final[0], sizeof(final[0]), dir, "", EXLB_SELFSIGNED_NAME, "crt");
	if (!access(final[0], F_OK)) {
		if (!exlb_cert_load(state_dir, EXLB_SELFSIGNED_NAME, out, &why))
			return 0;
		/* a broken pair is replaced rather than failing every VS */
		exlb_log(LOG_WARNING, "certs: regenerating the self-signed certificate: %s",
			 why.msg);
	}
	if (selfsigned_generate(out, err))
		return -1;
	if (pair_pem(out, &pem[0], &len[0], &pem[1], &len[1])) {
		exlb_cert_pair_free(out);
		return exlb_err_set(err, "out of memory");
	}
	for (int i = 0; i < 2; i++) {
		file_path(tmp[i], sizeof(tmp[i]), dir, ".tmp", EXLB_SELFSIGNED_NAME, ext[i]);
		file_path(final[i], sizeof(final[i]), dir, "", EXLB_SELFSIGNED_NAME, ext[i]);
	}
	/* the key first: a .crt without its .key would be "broken" above */
	if (write_file(tmp[1], pem[1], len[1], 0600, err) ||
	    write_file(tmp[0], pem[0], len[0], 0644, err) ||
	    (rename(tmp[1], final[1]) &&
	     exlb_err_set(err, "cannot write %s: %s", final[1], strerror(errno))) ||
	    (rename(tmp[0], final[0]) &&
	     exlb_err_set(err, "cannot write %s: %s", final[0], strerror(errno)))) {
		unlink(tmp[0]);
		unlink(tmp[1]);
		free(pem[0]);
		free(pem[1]);
		exlb_cert_pair_free(out);
		return -1;
	}
	sync_dir(dir);
	free(pem[0]);
	free(pem[1]);
	exlb_log(LOG_NOTICE, "certs: generated the self-signed certificate %s (sha256 %s)",
		 final[0], out->sha256);
	return 0;
}

/* ---- names ---- */

static char *lower_dup(const unsigned char *s, int len)
{
	char *d;

	if (len < 0 || len > 253 || memchr(s, 0, len))
		return NULL;
	d = malloc(len + 1);
	if (!d)
		return NULL;
	for (int i = 0; i < len; i++)
		d[i] = tolower(s[i]);
	d[len] = 0;
	return d;
}

static char *subject_cn(X509 *x)
{
	X509_NAME *name = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *cn;
	int len;

	if (i < 0)
		return NULL;
	len = ASN1_STRING_to_UTF8(&utf8,
		X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (len < 0)
		return NULL;
	cn = lower_dup(utf8, len);
	OPENSSL_free(utf8);
	return cn;
}

/* The SAN DNS names only. */
static size_t san_names(X509 *leaf, char **names, size_t max)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(leaf, NID_subject_alt_name,
					       NULL, NULL);
	size_t n = 0;

	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && n < max; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		char *name;

		if (g->type != GEN_DNS)
			continue;
		name = lower_dup(ASN1_STRING_get0_data(g->d.dNSName),
				 ASN1_STRING_length(g->d.dNSName));
		if (name)
			names[n++] = name;
	}
	GENERAL_NAMES_free(sans);
	return n;
}

size_t exlb_cert_dns_names(X509 *leaf, char **names, size_t max)
{
	size_t n = san_names(leaf, names, max);
	char *cn = subject_cn(leaf);

	if (cn) {
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(names[i], cn)) {
				free(cn);
				return n;
			}
		}
		if (n < max)
			names[n++] = cn;
		else
			free(cn);
	}
	return n;
}

bool exlb_cert_name_matches(const char *pattern, const char *host)
{
	const char *dot;

	if (!strcasecmp(pattern, host))
		return true;
	/* "*.example.com": exactly one non-empty label in front */
	if (strncmp(pattern, "*.", 2))
		return false;
	dot = strchr(host, '.');
	return dot && dot != host && !strcasecmp(dot + 1, pattern + 2);
}

/* ---- descriptions ---- */

static json_t *name_text(X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	json_t *s;

	if (!b)
		return json_string("");
	X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
	len = BIO_get_mem_data(b, &data);
	s = json_stringn(data, len);
	BIO_free(b);
	return s ? s : json_string("");
}

json_t *exlb_cert_describe(const char *state_dir, const char *name,
			   struct exlb_err *err)
{
	struct exlb_cert_pair p;
	json_t *obj, *sans = json_array();
	char *names[MAX_SANS], *cn, before[32], key[48];
	size_t n;

	if (exlb_cert_load(state_dir, name, &p, err)) {
		json_decref(sans);
		return NULL;
	}
	n = san_names(p.leaf, names, MAX_SANS);
	cn = subject_cn(p.leaf);
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(sans, json_string(names[i]));
		free(names[i]);
	}
	asn1_time_text(X509_get0_notBefore(p.leaf), before, sizeof(before));
	snprintf(key, sizeof(key), "%s %d", EVP_PKEY_get0_type_name(p.key) ?
		 EVP_PKEY_get0_type_name(p.key) : "?", EVP_PKEY_get_bits(p.key));
	obj = json_pack("{ss ss so so so ss ss ss si ss}", "name", name,
			"cn", cn ? cn : "", "sans", sans,
			"subject", name_text(X509_get_subject_name(p.leaf)),
			"issuer", name_text(X509_get_issuer_name(p.leaf)),
			"notBefore", before, "notAfter", p.not_after,
			"sha256", p.sha256, "chain", sk_X509_num(p.chain),
			"key", key);
	free(cn);
	exlb_cert_pair_free(&p);
	return obj;
}
