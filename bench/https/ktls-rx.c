// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ktls-rx: what one relaying thread pays per MiB to take TLS records off a
 * connection and pass the plaintext on to a plain TCP connection, kTLS
 * against OpenSSL, on this machine's kernel and CPU (issue 11: the upload
 * direction of a TLS-offloading proxy; bench/https/ktls-tx.c is the other).
 * Loopback only. A feeder thread writes a pre-encrypted TLS 1.3 AES-256-GCM
 * stream (full 16 KiB records, sequence from 0) into connection A as fast
 * as it is taken; the relay thread moves it from A to connection B; a sink
 * thread reads B, counts the bytes and checks the pattern. For each way of
 * relaying, MIB MiB; the relay thread's CPU time (CLOCK_THREAD_CPUTIME_ID:
 * the decryption, the copies, and B's loopback delivery, done in the
 * relay's context for every way alike):
 *
 *   splice            kTLS RX socket -> pipe -> B, one splice() in and one
 *                     out per pass (what exlbd does; the kernel hands out
 *                     one record per splice from a kTLS socket)
 *   splice x4         up to 4 splices in (while records are there), one out
 *   recv 16K          recvmsg() of 16 KiB (a record) from kTLS, write() to B
 *   recv BUF          recvmsg() of BUF bytes (several records per call)
 *   recv BUF nopad    the same with TLS_RX_EXPECT_NO_PAD: TLS 1.3 records
 *                     are decrypted straight into the user buffer (Linux
 *                     6.0+; without it 1.3 decrypts into the skb and copies)
 *   openssl           read() of up to BUF raw bytes from a plain socket,
 *                     EVP AES-256-GCM open per record, write() of each
 *                     record's plaintext to B (what HAProxy does: SSL_read
 *                     of its 16 KiB buffer, then send)
 *
 * Build: cc -O2 -o build/ktls-rx bench/https/ktls-rx.c -lcrypto -lpthread
 * Run (needs the tls module; in the test VM):
 *   tools/vm/run -- sh -c 'modprobe tls && build/ktls-rx 40 262144'
 * Usage: ktls-rx [MIB (40)] [BUF (262144)] [ROUNDS (1)]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ktls-bench.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TLS_RX_EXPECT_NO_PAD
#define TLS_RX_EXPECT_NO_PAD 4
#endif
#define MIB	(1024L * 1024)
#define REC	16384
#define HDR	5
#define TAG	16
#define WIRE	(HDR + REC + 1 + TAG)	/* a full TLS 1.3 record on the wire */
#define BUFMAX	(4 << 20)

enum { SPLICE, SPLICE4, RECV16, RECVBUF, RECVNOPAD, OPENSSL, WAYS };
static const char *const name[WAYS] = { "splice", "splice x4", "recv 16K",
	"recv BUF", "recv BUF nopad", "openssl" };

static const unsigned char key[32] = { 7, 1, 2, 3 };
static const unsigned char iv[12] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2 };
static unsigned char *wire;	/* the encrypted stream */
static size_t wire_len;
static unsigned char rbuf[BUFMAX + WIRE], obuf[REC + 1 + TAG];

static unsigned char pattern(size_t off)
{
	return (unsigned char)(off % 251);
}

static void nonce(unsigned char n[12], unsigned long long seq)
{
	memcpy(n, iv, 12);
	for (int i = 0; i < 8; i++)
		n[11 - i] ^= (unsigned char)(seq >> (8 * i));
}

/* RFC 8446 5.2: MIB MiB of application data in full records. */
static void encrypt_stream(long mib)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	long recs = mib * MIB / REC;
	unsigned char in[REC + 1], n[12];
	int l;

	wire_len = (size_t)recs * WIRE;
	wire = malloc(wire_len);
	if (!x || !wire)
		die("malloc");
	for (long s = 0; s < recs; s++) {
		unsigned char *rec = wire + s * WIRE;

		for (int i = 0; i < REC; i++)
			in[i] = pattern((size_t)s * REC + i);
		in[REC] = 23;	/* inner content type: application data */
		rec[0] = 23;
		rec[1] = 3;
		rec[2] = 3;
		rec[3] = (REC + 1 + TAG) >> 8;
		rec[4] = (REC + 1 + TAG) & 0xff;
		nonce(n, (unsigned long long)s);
		if (!EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, n) ||
		    !EVP_EncryptUpdate(x, NULL, &l, rec, HDR) ||
		    !EVP_EncryptUpdate(x, rec + HDR, &l, in, REC + 1) ||
		    !EVP_EncryptFinal_ex(x, rec + HDR + l, &l) ||
		    !EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, TAG,
					 rec + HDR + REC + 1))
			die("EVP encrypt");
	}
	EVP_CIPHER_CTX_free(x);
}

static void *feeder(void *arg)
{
	int fd = *(int *)arg;

	put(fd, wire, wire_len);
	shutdown(fd, SHUT_WR);
	return NULL;
}

static long long sunk, bad;

static void *sink(void *arg)
{
	static unsigned char b[1 << 20];
	int fd = *(int *)arg;
	ssize_t n;

	sunk = bad = 0;
	while ((n = read(fd, b, sizeof(b))) > 0) {
		if (b[0] != pattern((size_t)sunk) ||
		    b[n - 1] != pattern((size_t)(sunk + n - 1)))
			bad++;
		sunk += n;
	}
	return NULL;
}

/* A loopback connection: *wr and *rd its two ends. */
static void conn(int *wr, int *rd)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	*wr = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || *wr < 0 || bind(ls, (void *)&a, sizeof(a)) || listen(ls, 1) ||
	    getsockname(ls, (void *)&a, &l) || connect(*wr, (void *)&a, sizeof(a)))
		die("loopback connection");
	*rd = accept(ls, NULL, NULL);
	if (*rd < 0)
		die("accept");
	close(ls);
	setsockopt(*wr, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void ktls_rx(int fd, bool nopad)
{
	struct tls12_crypto_info_aes_gcm_256 ci;
	int one = 1;

	memset(&ci, 0, sizeof(ci));
	ci.info.version = TLS_1_3_VERSION;
	ci.info.cipher_type = TLS_CIPHER_AES_GCM_256;
	memcpy(ci.key, key, 32);
	memcpy(ci.salt, iv, 4);
	memcpy(ci.iv, iv + 4, 8);
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) ||
	    setsockopt(fd, SOL_TLS, TLS_RX, &ci, sizeof(ci)))
		die("kTLS (modprobe tls?)");
	if (nopad && setsockopt(fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one, sizeof(one)))
		die("TLS_RX_EXPECT_NO_PAD (Linux 6.0+)");
}

/* recvmsg() of a kTLS socket: data bytes, 0 at the end (EOF or not data). */
static ssize_t ktls_recv(int fd, void *buf, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec io = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t r = recvmsg(fd, &m, 0);

	if (r < 0)
		die("recvmsg");
	c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE &&
	    *CMSG_DATA(c) != 23)
		return 0;
	return r;
}

static long long calls;	/* system calls of the relay thread, this way */

static void relay_splice(int a, int b, int pfd[2], int per_out)
{
	for (;;) {
		ssize_t in = 0, s;
		int k;

		for (k = 0; k < per_out; k++) {
			calls++;
			s = splice(a, NULL, pfd[1], NULL, 4 * REC,
				   SPLICE_F_MOVE | (k ? SPLICE_F_NONBLOCK : 0));
			if (s < 0 && errno == EAGAIN)
				break;
			if (s < 0)
				die("splice in");
			if (!s)
				break;
			in += s;
		}
		if (!in)
			return;
		while (in) {
			calls++;
			s = splice(pfd[0], NULL, b, NULL, (size_t)in, SPLICE_F_MOVE);
			if (s <= 0)
				die("splice out");
			in -= s;
		}
	}
}

static void relay_recv(int a, int b, size_t len)
{
	ssize_t n;

	while ((n = (calls++, ktls_recv(a, rbuf, len))) > 0) {
		calls++;
		put(b, rbuf, (size_t)n);
	}
}

static void relay_openssl(int a, int b, size_t len)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	unsigned long long seq = 0;
	size_t have = 0;
	ssize_t n;

	if (!x)
		die("EVP");
	while ((n = (calls++, read(a, rbuf + have, len))) > 0) {
		size_t off = 0;

		have += (size_t)n;
		while (have - off >= HDR) {
			unsigned char *rec = rbuf + off, nc[12];
			int clen = rec[3] << 8 | rec[4], l, pl = clen - TAG;

			if (have - off < (size_t)(HDR + clen))
				break;
			nonce(nc, seq++);
			if (!EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, nc) ||
			    !EVP_DecryptUpdate(x, NULL, &l, rec, HDR) ||
			    !EVP_DecryptUpdate(x, obuf, &l, rec + HDR, pl) ||
			    !EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, TAG,
						 rec + HDR + pl) ||
			    EVP_DecryptFinal_ex(x, obuf + l, &l) != 1)
				die("EVP decrypt (bad record)");
			calls++;
			put(b, obuf, (size_t)pl - 1);	/* less the inner type */
			off += HDR + (size_t)clen;
		}
		memmove(rbuf, rbuf + off, have - off);
		have -= off;
	}
	if (n < 0)
		die("read");
	EVP_CIPHER_CTX_free(x);
}

static void run(int way, long mib, size_t blen)
{
	int fa, ra, fb, rb, pfd[2] = { -1, -1 };
	pthread_t tf, ts;
	double c0, t0, c, t;

	conn(&fa, &ra);
	conn(&fb, &rb);
	if (way != OPENSSL)
		ktls_rx(ra, way == RECVNOPAD);
	if (pthread_create(&ts, NULL, sink, &rb) ||
	    pthread_create(&tf, NULL, feeder, &fa))
		die("pthread_create");
	calls = 0;
	c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	t0 = clock_s(CLOCK_MONOTONIC);
	switch (way) {
	case SPLICE:
	case SPLICE4:
		if (pipe(pfd))
			die("pipe");
		if (way == SPLICE4)
			fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
		relay_splice(ra, fb, pfd, way == SPLICE ? 1 : 4);
		break;
	case RECV16:
		relay_recv(ra, fb, REC);
		break;
	case RECVBUF:
	case RECVNOPAD:
		relay_recv(ra, fb, blen);
		break;
	default:
		relay_openssl(ra, fb, blen);
	}
	shutdown(fb, SHUT_WR);
	pthread_join(ts, NULL);
	c = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	t = clock_s(CLOCK_MONOTONIC) - t0;
	pthread_join(tf, NULL);
	printf("%-15s buf %7zu: %6.1f ms CPU/MiB (relay), %6.1f MB/s, %5.1f calls/MiB%s\n",
	       name[way], way == RECV16 ? (size_t)REC : blen, c * 1000 / mib,
	       mib * MIB / 1e6 / t, (double)calls / mib,
	       sunk != mib * MIB || bad ? "  WRONG BYTES" : "");
	fflush(stdout);
	if (sunk != mib * MIB || bad)
		exit(1);
	close(fa);
	close(ra);
	close(fb);
	close(rb);
	if (pfd[0] >= 0) {
		close(pfd[0]);
		close(pfd[1]);
	}
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 40;
	long blen = argc > 2 ? atol(argv[2]) : 262144;
	long rounds = argc > 3 ? atol(argv[3]) : 1;

	if (mib < 1 || mib > 1024 || blen < WIRE || blen > BUFMAX ||
	    rounds < 1 || rounds > 10) {
		fprintf(stderr, "usage: ktls-rx [MIB 1..1024] [BUF %d..%d] [ROUNDS 1..10]\n",
			WIRE, BUFMAX);
		return 2;
	}
	encrypt_stream(mib);
	for (long r = 0; r < rounds; r++)
		for (int way = 0; way < WAYS; way++)
			run(way, mib, (size_t)blen);
	return 0;
}
