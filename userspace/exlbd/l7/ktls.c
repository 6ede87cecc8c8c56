// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kTLS installed by exlbd from the keys of an OpenSSL session (ktls.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/tls.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "ktls.h"
#include "config/hex.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TLS_RX_EXPECT_NO_PAD
#define TLS_RX_EXPECT_NO_PAD 4	/* Linux 6.0 */
#endif

#define SECRET_MAX	64

/* TLS 1.3 traffic secrets of one session, from the key-log callback. */
struct ktls_secrets {
	unsigned char server[SECRET_MAX], client[SECRET_MAX];
	size_t server_len, client_len;
};

static int secrets_idx = -1;

static void secrets_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			 long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr) {
		OPENSSL_cleanse(ptr, sizeof(struct ktls_secrets));
		free(ptr);
	}
}

int exlb_ktls_init(void)
{
	if (secrets_idx < 0)
		secrets_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
						   secrets_free);
	return secrets_idx < 0 ? -1 : 0;
}

/* "SERVER/CLIENT_TRAFFIC_SECRET_0 <client random> <secret>": keep the secrets. */
void exlb_ktls_keylog_cb(const SSL *ssl, const char *line)
{
	static const char srv[] = "SERVER_TRAFFIC_SECRET_0 ";
	static const char cli[] = "CLIENT_TRAFFIC_SECRET_0 ";
	struct ktls_secrets *s;
	unsigned char *out;
	const char *hex;
	size_t n = 0, *outlen;

	if (secrets_idx < 0)
		return;
	if (!strncmp(line, srv, sizeof(srv) - 1))
		hex = line + sizeof(srv) - 1;
	else if (!strncmp(line, cli, sizeof(cli) - 1))
		hex = line + sizeof(cli) - 1;
	else
		return;
	hex = strchr(hex, ' ');
	if (!hex)
		return;
	hex++;
	s = SSL_get_ex_data(ssl, secrets_idx);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s || !SSL_set_ex_data((SSL *)ssl, secrets_idx, s)) {
			free(s);
			return;
		}
	}
	out = line[0] == 'S' ? s->server : s->client;
	outlen = line[0] == 'S' ? &s->server_len : &s->client_len;
	while (n < SECRET_MAX && exlb_hex_digit(hex[0]) >= 0 &&
	       exlb_hex_digit(hex[1]) >= 0) {
		out[n++] = (unsigned char)(exlb_hex_digit(hex[0]) * 16 +
					   exlb_hex_digit(hex[1]));
		hex += 2;
	}
	*outlen = n;
}

/* RFC 8446 7.1: HKDF-Expand-Label(secret, label, "", len). */
static int hkdf_expand_label(const EVP_MD *md, const unsigned char *secret,
			     size_t secret_len, const char *label,
			     unsigned char *out, size_t len)
{
	unsigned char info[2 + 1 + 255 + 1];
	size_t llen = strlen(label), ilen = 0;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ret = -1;

	EVP_KDF_free(kdf);
	if (!kctx || 6 + llen > 255)
		goto out;
	info[ilen++] = (unsigned char)(len >> 8);
	info[ilen++] = (unsigned char)len;
	info[ilen++] = (unsigned char)(6 + llen);
	memcpy(info + ilen, "tls13 ", 6);
	ilen += 6;
	memcpy(info + ilen, label, llen);
	ilen += llen;
	info[ilen++] = 0;	/* empty context */
	params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(md), 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      (void *)secret, secret_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						      info, ilen);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, len, params) == 1)
		ret = 0;
out:
	EVP_KDF_CTX_free(kctx);
	return ret;
}

/* RFC 5246 6.3: the key block, PRF(master, "key expansion", server + client random). */
static int tls12_key_block(SSL *ssl, const EVP_MD *md, unsigned char *out,
			   size_t len)
{
	unsigned char master[SSL_MAX_MASTER_KEY_LENGTH], seed[13 + 64];
	size_t mlen = SSL_SESSION_get_master_key(SSL_get_session(ssl), master,
						 sizeof(master));
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4];
	int ret = -1;

	EVP_KDF_free(kdf);
	if (!kctx || !mlen)
		goto out;
	memcpy(seed, "key expansion", 13);
	SSL_get_server_random(ssl, seed + 13, 32);
	SSL_get_client_random(ssl, seed + 45, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(md), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET,
						      master, mlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
						      seed, sizeof(seed));
	params[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, len, params) == 1)
		ret = 0;
out:
	EVP_KDF_CTX_free(kctx);
	OPENSSL_cleanse(master, sizeof(master));
	return ret;
}

/* The kernel's crypto_info for AES-GCM-128 and -256. */
union ktls_crypto {
	struct tls12_crypto_info_aes_gcm_128 g128;
	struct tls12_crypto_info_aes_gcm_256 g256;
};

static size_t crypto_fill(union ktls_crypto *ci, int version, size_t keylen,
			  const unsigned char *key, const unsigned char *salt,
			  const unsigned char *explicit_iv, uint64_t seq)
{
	unsigned char be_seq[8];

	for (int i = 7; i >= 0; i--) {
		be_seq[i] = (unsigned char)seq;
		seq >>= 8;
	}
	memset(ci, 0, sizeof(*ci));
	if (keylen == 16) {
		ci->g128.info.version = (unsigned short)version;
		ci->g128.info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(ci->g128.key, key, 16);
		memcpy(ci->g128.salt, salt, 4);
		memcpy(ci->g128.iv, explicit_iv, 8);
		memcpy(ci->g128.rec_seq, be_seq, 8);
		return sizeof(ci->g128);
	}
	ci->g256.info.version = (unsigned short)version;
	ci->g256.info.cipher_type = TLS_CIPHER_AES_GCM_256;
	memcpy(ci->g256.key, key, 32);
	memcpy(ci->g256.salt, salt, 4);
	memcpy(ci->g256.iv, explicit_iv, 8);
	memcpy(ci->g256.rec_seq, be_seq, 8);
	return sizeof(ci->g256);
}

/*
 * The "tls" ULP on @fd. A kernel without it (ENOENT: no tls module, or no
 * modules at all) is asked again only after KTLS_ULP_RETRY_S: not one
 * failing setsockopt() per session, and a module loaded meanwhile
 * (modprobe tls) is taken up within that time.
 */
#define KTLS_ULP_RETRY_S	60
static atomic_llong ulp_missing_until;

bool exlb_ktls_ulp_missing(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	return now.tv_sec < atomic_load_explicit(&ulp_missing_until, memory_order_relaxed);
}

static bool ulp_try(int fd)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec < atomic_load_explicit(&ulp_missing_until, memory_order_relaxed))
		return false;
	if (!setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")))
		return true;
	if (errno == ENOENT)
		atomic_store_explicit(&ulp_missing_until,
				      (long long)now.tv_sec + KTLS_ULP_RETRY_S,
				      memory_order_relaxed);
	return false;
}

/*
 * TLS 1.3 records may carry padding after the content type, so the kernel
 * decrypts them into its own buffer and then copies the plaintext out;
 * told that the peer does not pad (OpenSSL, browsers, Outlook: none pads
 * unless asked), it decrypts straight into the reader's buffer and, on a
 * padded record after all, decrypts that one again the slow way (Linux
 * 6.0+; older kernels refuse the option and keep copying). relay.c reads a
 * kTLS socket into a buffer of several records for this.
 */
static void rx_expect_no_pad(int fd)
{
	int one = 1;

	setsockopt(fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one, sizeof(one));
}

static int send_tickets(SSL *ssl)
{
	for (int i = 0; i < EXLB_KTLS_TICKETS; i++) {
		ERR_clear_error();
		if (SSL_new_session_ticket(ssl) != 1 || SSL_do_handshake(ssl) != 1) {
			ERR_clear_error();
			return -1;
		}
	}
	return 0;
}

int exlb_ktls_after_handshake(SSL *ssl, int fd, bool want_ktls, bool *tx,
			      bool *rx)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	int version = SSL_version(ssl);
	unsigned char kb[2 * 32 + 2 * 4], key[32], iv[12];
	union ktls_crypto ci;
	const EVP_MD *md;
	size_t keylen, cilen;
	int nid;

	*tx = *rx = false;
	/* resumed TLS 1.3 sessions get tickets too: the client may keep one */
	if (version == TLS1_3_VERSION && send_tickets(ssl))
		return -1;
	if (!want_ktls || !cipher)
		return 0;
	nid = SSL_CIPHER_get_cipher_nid(cipher);
	keylen = nid == NID_aes_128_gcm ? 16 : nid == NID_aes_256_gcm ? 32 : 0;
	md = SSL_CIPHER_get_handshake_digest(cipher);
	if (!keylen || !md || SSL_pending(ssl) || SSL_has_pending(ssl))
		return 0;
	if (!ulp_try(fd))
		return 0;	/* no kTLS in this kernel: userspace it is */

	if (version == TLS1_3_VERSION) {
		const struct ktls_secrets *s = SSL_get_ex_data(ssl, secrets_idx);

		if (!s || !s->server_len ||
		    hkdf_expand_label(md, s->server, s->server_len, "key", key, keylen) ||
		    hkdf_expand_label(md, s->server, s->server_len, "iv", iv, 12))
			goto done;
		/* the 12-byte IV: 4 go to salt, 8 to iv; the kernel XORs the sequence */
		cilen = crypto_fill(&ci, TLS_1_3_VERSION, keylen, key, iv, iv + 4,
				    EXLB_KTLS_TICKETS);
		if (setsockopt(fd, SOL_TLS, TLS_TX, &ci, (socklen_t)cilen))
			goto done;
		SSL_set0_wbio(ssl, BIO_new(BIO_s_null()));
		*tx = true;
		/*
		 * Receiving: the client's first record under its application
		 * keys is number 0 (a client sends nothing else after
		 * Finished). A KeyUpdate later is a non-data record: the
		 * kernel reports it and the connection ends (docs/proxy.md).
		 */
		if (!s->client_len ||
		    hkdf_expand_label(md, s->client, s->client_len, "key", key, keylen) ||
		    hkdf_expand_label(md, s->client, s->client_len, "iv", iv, 12))
			goto done;
		cilen = crypto_fill(&ci, TLS_1_3_VERSION, keylen, key, iv, iv + 4, 0);
		if (!setsockopt(fd, SOL_TLS, TLS_RX, &ci, (socklen_t)cilen)) {
			*rx = true;
			rx_expect_no_pad(fd);
		}
		goto done;
	}
	if (version != TLS1_2_VERSION)
		goto done;
	/* key block: client key, server key, client salt, server salt (no MAC keys for GCM) */
	if (tls12_key_block(ssl, md, kb, 2 * keylen + 8))
		goto done;
	{
		unsigned char explicit_iv[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };

		/*
		 * Sequence 1 both ways: each Finished was record 0. The
		 * explicit nonce only has to be unique under the key; the
		 * sequence number is (OpenSSL's own kTLS does the same).
		 */
		cilen = crypto_fill(&ci, TLS_1_2_VERSION, keylen, kb + keylen,
				    kb + 2 * keylen + 4, explicit_iv, 1);
		if (!setsockopt(fd, SOL_TLS, TLS_TX, &ci, (socklen_t)cilen)) {
			SSL_set0_wbio(ssl, BIO_new(BIO_s_null()));
			*tx = true;
		}
		cilen = crypto_fill(&ci, TLS_1_2_VERSION, keylen, kb,
				    kb + 2 * keylen, explicit_iv, 1);
		if (*tx && !setsockopt(fd, SOL_TLS, TLS_RX, &ci, (socklen_t)cilen))
			*rx = true;
	}
done:
	OPENSSL_cleanse(kb, sizeof(kb));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	OPENSSL_cleanse(&ci, sizeof(ci));
	return 0;
}

ssize_t exlb_ktls_recv(int fd, void *buf, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg;
	ssize_t r = recvmsg(fd, &msg, 0);

	if (r < 0)
		return -errno;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg && cmsg->cmsg_level == SOL_TLS &&
	    cmsg->cmsg_type == TLS_GET_RECORD_TYPE &&
	    *CMSG_DATA(cmsg) != 23 /* application data */)
		return 0;	/* an alert (close_notify or worse): the end */
	return r;
}

void exlb_ktls_send_close_notify(int fd)
{
	unsigned char alert[2] = { 1 /* warning */, 0 /* close_notify */ };
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = alert, .iov_len = sizeof(alert) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(cmsg) = 21;	/* alert */
	msg.msg_controllen = cmsg->cmsg_len;
	sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}
