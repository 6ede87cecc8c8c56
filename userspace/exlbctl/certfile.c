// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * exlbctl's reading of the files of `cert add`: PEM as exlbd takes it, a
 * PKCS#12 file (.pfx/.p12, what Exchange and Windows export: leaf, chain
 * and key under one password) and encrypted PEM keys (PKCS#8 "ENCRYPTED
 * PRIVATE KEY" and the legacy "Proc-Type: 4,ENCRYPTED" form). Encrypted
 * files are decoded here, with the password from password.c (a file,
 * stdin or a prompt without echo, never argv); exlbd receives the
 * unencrypted PEM it stores anyway (STATE_DIR/certs/NAME.key, 0600), over
 * its root/group exlb control socket. Why here and not in exlbd: docs/tls.md "Importing a
 * .pfx".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certfile.h"
#include "password.h"

struct password {
	const char *file;	/* password-file, "-" = stdin, or NULL: prompt */
	const char *for_path;	/* the encrypted file, for the prompt and errors */
	struct exlbctl_password pw;
	bool have;
	bool asked;		/* a PEM decoder wanted one */
	char *err;
	size_t err_size;
};

static int set_err(char *err, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int set_err(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

/* OpenSSL's last reason, for an error line ("unsupported", "bad decrypt") */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

/* Once per file set, from password.c (the file, stdin or the terminal). */
static int password_get(struct password *pw)
{
	char need[PATH_MAX + 32];
	struct exlbctl_password_source src = {
		.file = pw->file, .label = pw->for_path, .need = need,
	};

	if (pw->have)
		return 0;
	snprintf(need, sizeof(need), "%s is encrypted", pw->for_path);
	pw->have = !exlbctl_password_read(&pw->pw, &src, pw->err, pw->err_size);
	return pw->have ? 0 : -1;
}

static void password_forget(struct password *pw)
{
	exlbctl_password_wipe(&pw->pw);
	pw->have = false;
}

/* PEM decoders ask through this; without a password it declines. */
static int ask_password_cb(char *buf, int size, int rwflag, void *u)
{
	struct password *pw = u;
	size_t len;

	(void)rwflag;
	pw->asked = true;
	if (!pw->have)
		return -1;
	len = strlen(pw->pw.text);
	if (len > (size_t)size)
		return -1;
	memcpy(buf, pw->pw.text, len);
	return (int)len;
}

/*
 * RC2-40 and 3DES with SHA-1 MACs (openssl pkcs12 -legacy, older Windows
 * exports) live in OpenSSL 3's legacy provider; loading any provider
 * explicitly stops the default one from loading by itself, so both. A
 * missing legacy provider is not an error here: a file that needs it
 * then fails naming the algorithm.
 */
static void load_providers(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	OSSL_PROVIDER_load(NULL, "legacy");
	OSSL_PROVIDER_load(NULL, "default");
}

static char *bio_text(BIO *b)
{
	char *data, *text;
	long len = BIO_get_mem_data(b, &data);

	text = len >= 0 ? malloc((size_t)len + 1) : NULL;
	if (text) {
		memcpy(text, data, (size_t)len);
		text[len] = 0;
	}
	return text;
}

/* Unencrypted PKCS#8 PEM of @key, as exlbd stores it. */
static char *key_pem(EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *text = NULL;

	if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
		text = bio_text(b);
	if (b) {
		char *data;
		long len = BIO_get_mem_data(b, &data);

		if (len > 0)
			explicit_bzero(data, (size_t)len);
		BIO_free(b);
	}
	return text;
}

/*
 * The leaf, then its chain in issuing order (the certificate that issued
 * the previous one next), whatever order the file keeps its bags in;
 * certificates that issued none of them follow in file order.
 */
static char *chain_pem(X509 *leaf, STACK_OF(X509) *ca)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = ca ? sk_X509_num(ca) : 0;
	bool *used = calloc((size_t)n + 1, sizeof(*used));
	X509 *cur = leaf;
	char *text = NULL;
	bool ok;

	if (!b || !used)
		goto out;
	ok = PEM_write_bio_X509(b, leaf);
	while (ok) {
		int next = -1;

		for (int i = 0; i < n && next < 0; i++)
			if (!used[i] && X509_cmp(sk_X509_value(ca, i), cur) &&
			    X509_check_issued(sk_X509_value(ca, i), cur) == X509_V_OK)
				next = i;
		if (next < 0)
			break;
		used[next] = true;
		cur = sk_X509_value(ca, next);
		ok = PEM_write_bio_X509(b, cur);
	}
	for (int i = 0; ok && i < n; i++)
		if (!used[i] && X509_cmp(sk_X509_value(ca, i), leaf))
			ok = PEM_write_bio_X509(b, sk_X509_value(ca, i));
	if (ok)
		text = bio_text(b);
out:
	free(used);
	BIO_free(b);
	return text;
}

/* The certificate among @certs that @key belongs to, taken out of it. */
static X509 *take_matching(STACK_OF(X509) *certs, EVP_PKEY *key)
{
	for (int i = 0; certs && i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (X509_check_private_key(x, key)) {
			sk_X509_delete(certs, i);
			return x;
		}
		ERR_clear_error();
	}
	return NULL;
}

static int read_pkcs12(const char *path, struct password *pw,
		       struct exlbctl_cert_text *out)
{
	BIO *in = BIO_new_file(path, "rb");
	PKCS12 *p12 = in ? d2i_PKCS12_bio(in, NULL) : NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	int rc = -1;

	BIO_free(in);
	if (!p12) {
		set_err(pw->err, pw->err_size, "%s: not a PKCS#12 file (%s)",
			path, ssl_reason());
		goto out;
	}
	/*
	 * The MAC tells a wrong password before anything is decrypted; a
	 * file without a password opens with the empty one, asked for no
	 * password. Without a MAC (-nomac) OpenSSL 3.0's PKCS12_parse()
	 * takes no password at all: only unencrypted such files are read.
	 */
	if (PKCS12_mac_present(p12)) {
		if (PKCS12_verify_mac(p12, "", 0) || PKCS12_verify_mac(p12, NULL, 0)) {
			pw->have = true;
		} else {
			if (password_get(pw))
				goto out;
			if (!PKCS12_verify_mac(p12, pw->pw.text, -1)) {
				set_err(pw->err, pw->err_size, "wrong password for %s", path);
				goto out;
			}
		}
	} else if (!PKCS12_parse(p12, "", &key, &cert, &ca)) {
		set_err(pw->err, pw->err_size,
			"%s: encrypted without a MAC (openssl pkcs12 -nomac), which "
			"OpenSSL 3.0 cannot decrypt: export it with one (the default)",
			path);
		goto out;
	}
	if (!key && !cert && !PKCS12_parse(p12, pw->pw.text, &key, &cert, &ca)) {
		set_err(pw->err, pw->err_size, "%s: cannot decrypt: %s", path,
			ssl_reason());
		goto out;
	}
	if (!key) {
		set_err(pw->err, pw->err_size,
			"%s: holds no private key (export it with its key)", path);
		goto out;
	}
	/* PKCS12_parse() pairs them by key: no cert means none matches */
	if (!cert)
		cert = take_matching(ca, key);
	if (!cert || !X509_check_private_key(cert, key)) {
		set_err(pw->err, pw->err_size,
			"%s: its private key does not match its certificate%s",
			path, cert ? "" : " (no certificate in the file does)");
		goto out;
	}
	out->cert_pem = chain_pem(cert, ca);
	out->key_pem = key_pem(key);
	if (!out->cert_pem || !out->key_pem) {
		set_err(pw->err, pw->err_size, "%s: cannot convert to PEM: %s",
			path, ssl_reason());
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return rc;
}

static char *read_text(const char *path, char *err, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t len;
	char *buf;

	if (!f) {
		set_err(err, n, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(EXLBCTL_CERT_MAX + 1);
	if (!buf) {
		fclose(f);
		set_err(err, n, "out of memory");
		return NULL;
	}
	len = fread(buf, 1, EXLBCTL_CERT_MAX + 1, f);
	fclose(f);
	if (len > EXLBCTL_CERT_MAX) {
		free(buf);
		set_err(err, n, "%s: larger than 1 MiB", path);
		return NULL;
	}
	buf[len] = 0;
	if (strlen(buf) != len) {
		explicit_bzero(buf, len);
		free(buf);
		set_err(err, n, "%s: not text (PEM expected; a .pfx/.p12 goes "
			"alone: cert add NAME FILE.pfx)", path);
		return NULL;
	}
	return buf;
}

/*
 * A PEM key: unencrypted text travels as it is (exlbd checks it); an
 * encrypted one is decrypted here and sent as unencrypted PKCS#8.
 */
static int read_key(const char *path, struct password *pw,
		    struct exlbctl_cert_text *out)
{
	char *text = read_text(path, pw->err, pw->err_size);
	EVP_PKEY *key;
	BIO *b;

	if (!text)
		return -1;
	b = BIO_new_mem_buf(text, -1);
	key = b ? PEM_read_bio_PrivateKey(b, NULL, ask_password_cb, pw) : NULL;
	BIO_free(b);
	if (!pw->asked) {
		/* not encrypted (or not a key: exlbd names the problem) */
		EVP_PKEY_free(key);
		ERR_clear_error();
		out->key_pem = text;
		return 0;
	}
	EVP_PKEY_free(key);
	ERR_clear_error();
	pw->for_path = path;
	if (password_get(pw))
		goto fail;
	b = BIO_new_mem_buf(text, -1);
	key = b ? PEM_read_bio_PrivateKey(b, NULL, ask_password_cb, pw) : NULL;
	BIO_free(b);
	if (!key) {
		set_err(pw->err, pw->err_size, "wrong password for %s (%s)", path,
			ssl_reason());
		goto fail;
	}
	out->key_pem = key_pem(key);
	EVP_PKEY_free(key);
	if (!out->key_pem) {
		set_err(pw->err, pw->err_size, "%s: cannot convert to PEM: %s",
			path, ssl_reason());
		goto fail;
	}
	explicit_bzero(text, strlen(text));
	free(text);
	return 0;
fail:
	explicit_bzero(text, strlen(text));
	free(text);
	return -1;
}

/*
 * By its name (.pfx, .p12), or, given alone, by its first byte: DER
 * PKCS#12 starts with a SEQUENCE, PEM with text.
 */
static bool looks_pkcs12(const char *path, bool with_key)
{
	const char *dot = strrchr(path, '.');
	FILE *f;
	int c;

	if (dot && (!strcasecmp(dot, ".pfx") || !strcasecmp(dot, ".p12")))
		return true;
	if (with_key)
		return false;
	f = fopen(path, "rb");
	if (!f)
		return false;
	c = fgetc(f);
	fclose(f);
	return c == 0x30;
}

int exlbctl_cert_read(const char *cert_path, const char *key_path,
		      const char *password_file, struct exlbctl_cert_text *out,
		      char *err, size_t err_size)
{
	struct password pw = { .file = password_file, .err = err,
			       .err_size = err_size };
	int rc;

	memset(out, 0, sizeof(*out));
	load_providers();
	if (looks_pkcs12(cert_path, key_path != NULL)) {
		if (key_path) {
			return set_err(err, err_size,
				       "%s is PKCS#12: it holds the key, give no key file "
				       "(cert add NAME FILE.pfx [password-file FILE])",
				       cert_path);
		}
		pw.for_path = cert_path;
		rc = read_pkcs12(cert_path, &pw, out);
	} else if (!key_path) {
		return set_err(err, err_size,
			       "%s: a PEM certificate needs its key file "
			       "(cert add NAME CERT.pem KEY.pem), or give a .pfx/.p12",
			       cert_path);
	} else {
		out->cert_pem = read_text(cert_path, err, err_size);
		rc = out->cert_pem ? read_key(key_path, &pw, out) : -1;
	}
	password_forget(&pw);
	if (rc)
		exlbctl_cert_text_free(out);
	return rc;
}

void exlbctl_cert_text_free(struct exlbctl_cert_text *t)
{
	if (t->key_pem) {
		explicit_bzero(t->key_pem, strlen(t->key_pem));
		free(t->key_pem);
	}
	free(t->cert_pem);
	memset(t, 0, sizeof(*t));
}
