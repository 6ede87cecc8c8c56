/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * tlsclient: what bench/https/tlsload and bench/mail/mailload share on top
 * of loadgen: a client connection that may speak TLS (to target, from the
 * next of srcs round robin), its epoll interest, the TLS parameters of the
 * first handshake, and a latency histogram (0.1 ms buckets up to 30 s).
 */
#ifndef BENCH_TLSCLIENT_H
#define BENCH_TLSCLIENT_H

#include "loadgen.h"

#include <openssl/ssl.h>

#define MAX_SRCS 64

struct tls_conn {
	int fd;		/* -1: the slot is free */
	int events;	/* the epoll interest set */
	SSL *ssl;	/* NULL until TLS starts */
	double t0;	/* when connect() was called */
};

extern struct sockaddr_in target, srcs[MAX_SRCS];
extern int nsrcs;
/* The first handshake's version, cipher and key exchange group ("-": none yet). */
extern char tls_proto[32], tls_cipher[64], tls_group[32];

/* No verification, full handshakes only: session cache off, no tickets. */
SSL_CTX *tls_client_ctx(void);
/* n free slots of size bytes, each a struct that starts with a struct tls_conn. */
void *tls_conns_new(int n, size_t size);
/* Connect c (epoll interest EPOLLOUT, data.ptr c); 0, or -1 when connect() failed at once. */
int tls_conn_start(struct tls_conn *c);
/* c's SSL object on its socket, client side. */
void tls_conn_ssl(struct tls_conn *c, SSL_CTX *ctx);
void tls_conn_close(struct tls_conn *c);
void tls_conn_want(struct tls_conn *c, int events);
/*
 * After an SSL call on c returned r <= 0: 0 when it only has to wait (the
 * interest set: in_events to read, EPOLLOUT to write), else SSL_get_error()'s
 * code (the error queue cleared).
 */
int tls_conn_error(struct tls_conn *c, int r, int in_events);
/* Note ssl's parameters if none are yet; 1 when it did. */
int tls_note_params(SSL *ssl);

void hist_add(double secs);
/* The p-th quantile (0..1) of total recorded latencies in ms (0 for none). */
double hist_pct(long long total, double p);

#endif
