// SPDX-License-Identifier: GPL-2.0 OR MIT
/* tlsclient: see tlsclient.h. */
#define _GNU_SOURCE
#include "tlsclient.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct sockaddr_in target, srcs[MAX_SRCS];
int nsrcs;
static int next_src;
char tls_proto[32] = "-", tls_cipher[64] = "-", tls_group[32] = "-";

#define HIST_BUCKETS 300000	/* 0.1 ms each, up to 30 s */
static unsigned int hist[HIST_BUCKETS];

SSL_CTX *tls_client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		die("SSL_CTX_new");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return ctx;
}

void *tls_conns_new(int n, size_t size)
{
	char *p = calloc(n, size);
	int i;

	if (!p)
		die("calloc");
	for (i = 0; i < n; i++)
		((struct tls_conn *)(p + i * size))->fd = -1;
	return p;
}

int tls_conn_start(struct tls_conn *c)
{
	struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
	uint64_t t0;

	c->ssl = NULL;
	c->fd = connect_from(&target, nsrcs ? &srcs[next_src++ % nsrcs] : NULL, &t0);
	if (c->fd < 0)
		return -1;
	c->t0 = (double)t0 / 1e9;
	c->events = EPOLLOUT;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) < 0)
		die("epoll_ctl add");
	return 0;
}

void tls_conn_ssl(struct tls_conn *c, SSL_CTX *ctx)
{
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
		die("SSL_new");
	SSL_set_connect_state(c->ssl);
}

void tls_conn_close(struct tls_conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void tls_conn_want(struct tls_conn *c, int events)
{
	struct epoll_event e = { .events = events, .data.ptr = c };

	if (events == c->events)
		return;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
		die("epoll_ctl");
	c->events = events;
}

int tls_conn_error(struct tls_conn *c, int r, int in_events)
{
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_WANT_READ) {
		tls_conn_want(c, in_events);
		return 0;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		tls_conn_want(c, EPOLLOUT);
		return 0;
	}
	ERR_clear_error();
	return e;
}

int tls_note_params(SSL *ssl)
{
	int nid;

	if (tls_proto[0] != '-')
		return 0;
	snprintf(tls_proto, sizeof(tls_proto), "%s", SSL_get_version(ssl));
	snprintf(tls_cipher, sizeof(tls_cipher), "%s", SSL_get_cipher_name(ssl));
	nid = SSL_get_negotiated_group(ssl);
	if (nid != NID_undef && OBJ_nid2sn(nid))
		snprintf(tls_group, sizeof(tls_group), "%s", OBJ_nid2sn(nid));
	return 1;
}

void hist_add(double secs)
{
	long b = (long)(secs * 1e4);

	hist[b < HIST_BUCKETS ? b : HIST_BUCKETS - 1]++;
}

double hist_pct(long long total, double p)
{
	long long want_n = (long long)(total * p + 0.999999), seen = 0;
	int i;

	if (!total)
		return 0;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= want_n)
			return i / 10.0;
	}
	return HIST_BUCKETS / 10.0;
}
