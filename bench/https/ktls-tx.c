// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ktls-tx: what one sending thread pays per MiB to put TLS records on a TCP
 * connection, kTLS against OpenSSL, on this machine's kernel and CPU (issue
 * 11: is the kernel's AES-GCM / kTLS path cheaper than userspace TLS here?).
 * Loopback only: a TCP connection to 127.0.0.1, a thread reading and
 * dropping what arrives. For each way of sending, MIB MiB in CHUNK-byte
 * steps; the sender thread's CPU time (CLOCK_THREAD_CPUTIME_ID: the loopback
 * delivery, done in the sender's context, is in it for every way alike):
 *
 *   ktls write          write() into a kTLS (TLS 1.3, AES-256-GCM) socket
 *   ktls splice         the chunk written into a pipe, splice()d to it
 *   ktls splice+MORE    the same with SPLICE_F_MORE but on the last chunk
 *   openssl+write       EVP AES-256-GCM per 16 KiB record, write() to a
 *                       plain socket (a userspace proxy's work, less its
 *                       recv() copy)
 *
 * The bytes are not a valid TLS stream (nobody decrypts them).
 * Build: cc -O2 -o build/ktls-tx bench/https/ktls-tx.c -lcrypto -lpthread
 * Run (needs the tls module; in the test VM):
 *   tools/vm/run -- sh -c 'modprobe tls && build/ktls-tx 40 65536'
 * Usage: ktls-tx [MIB (40)] [CHUNK (65536)]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
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
#define MIB	(1024L * 1024)
#define REC	16384

static unsigned char buf[1 << 20], out[REC + 64];

static void *sink(void *arg)
{
	static char b[1 << 20];
	int fd = *(int *)arg;

	while (read(fd, b, sizeof(b)) > 0)
		;
	return NULL;
}

/* A loopback connection: the sending end; *rd reads in thread *th. */
static int conn(int *rd, pthread_t *th)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (ls < 0 || fd < 0 || bind(ls, (void *)&a, sizeof(a)) || listen(ls, 1) ||
	    getsockname(ls, (void *)&a, &l) || connect(fd, (void *)&a, sizeof(a)))
		die("loopback connection");
	*rd = accept(ls, NULL, NULL);
	if (*rd < 0)
		die("accept");
	close(ls);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (pthread_create(th, NULL, sink, rd))
		die("pthread_create");
	return fd;
}

static void ktls_on(int fd)
{
	struct tls12_crypto_info_aes_gcm_256 ci;

	memset(&ci, 0, sizeof(ci));
	ci.info.version = TLS_1_3_VERSION;
	ci.info.cipher_type = TLS_CIPHER_AES_GCM_256;
	memset(ci.key, 7, sizeof(ci.key));
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) ||
	    setsockopt(fd, SOL_TLS, TLS_TX, &ci, sizeof(ci)))
		die("kTLS (modprobe tls?)");
}

static void spliced(int fd, const int pfd[2], size_t n, unsigned int flags)
{
	put(pfd[1], buf, n);
	while (n) {
		ssize_t s = splice(pfd[0], NULL, fd, NULL, n, flags);

		if (s <= 0)
			die("splice");
		n -= (size_t)s;
	}
}

static void sealed(EVP_CIPHER_CTX *x, int fd, size_t n)
{
	static const unsigned char key[32] = { 7 }, iv[12] = { 1 };
	size_t o;
	int l;

	for (o = 0; o < n; o += REC) {
		int r = n - o < REC ? (int)(n - o) : REC;

		if (!EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, iv) ||
		    !EVP_EncryptUpdate(x, out + 5, &l, buf + o, r) ||
		    !EVP_EncryptFinal_ex(x, out + 5 + l, &l) ||
		    !EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, 16, out + 5 + r))
			die("EVP");
		put(fd, out, (size_t)r + 22);
	}
}

int main(int argc, char **argv)
{
	static const char *const name[] = { "ktls write", "ktls splice",
		"ktls splice+MORE", "openssl+write" };
	long mib = argc > 1 ? atol(argv[1]) : 40;
	long chunk = argc > 2 ? atol(argv[2]) : 65536;
	int way;

	if (mib < 1 || mib > 4096 || chunk < 1 || chunk > (long)sizeof(buf)) {
		fprintf(stderr, "usage: ktls-tx [MIB 1..4096] [CHUNK 1..%zu]\n", sizeof(buf));
		return 2;
	}
	for (way = 0; way < 4; way++) {
		EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
		long left = mib * MIB;
		double c0, t0, c, t;
		int fd, rd, pfd[2];
		pthread_t th;

		fd = conn(&rd, &th);
		if (way < 3)
			ktls_on(fd);
		if (!x || pipe(pfd))
			die("setup");
		fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
		c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		t0 = clock_s(CLOCK_MONOTONIC);
		while (left > 0) {
			size_t n = left < chunk ? (size_t)left : (size_t)chunk;

			if (way == 0)
				put(fd, buf, n);
			else if (way < 3)
				spliced(fd, pfd, n, way == 2 && (long)n < left ?
					SPLICE_F_MORE : 0);
			else
				sealed(x, fd, n);
			left -= (long)n;
		}
		c = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
		t = clock_s(CLOCK_MONOTONIC) - t0;
		printf("%-17s chunk %7ld: %6.1f ms CPU/MiB (sender), %6.1f MB/s\n",
		       name[way], chunk, c * 1000 / mib, mib * MIB / 1e6 / t);
		fflush(stdout);
		close(fd);
		pthread_join(th, NULL);
		close(rd);
		close(pfd[0]);
		close(pfd[1]);
		EVP_CIPHER_CTX_free(x);
	}
	return 0;
}
