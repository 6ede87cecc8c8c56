// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tlsload: the TLS client of bench/https.sh (IPv4 only, one epoll loop).
 *
 * tlsload hs -t ADDR:PORT [-s SRC,...] [-c CONC] [-d SECS] [-m MAX] [-p PATH] [-T SECS]
 *   Full TLS handshakes: CONC connections in flight, each a new TCP
 *   connection and a new SSL object from a context with the session cache off
 *   and SSL_OP_NO_TICKET, so that no handshake can be resumed (the result
 *   line counts SSL_session_reused(): reused=0). Each sends one
 *   "GET PATH HTTP/1.1" with "Connection: close", reads the response
 *   (Content-Length, or until EOF) and closes. Runs SECS seconds (or MAX
 *   connections); counts what completed before the deadline. Prints
 *   conns= hs_s= rsp_2xx= rsp_other= err_connect= err_tls= err_io=
 *   timeouts= reused= lat_p50_ms= lat_p99_ms= proto= cipher= group= cert=
 *
 * tlsload hold -t ADDR:PORT [-s SRC,...] -N N [-c CONC] [-T SECS] [-H SECS] [-R FILE]
 *   Opens N TLS connections (handshake completed, no request; at most CONC
 *   handshakes in flight), keeps them idle (reading only what the server
 *   sends unasked: TLS 1.3 session tickets), prints "opened= failed= secs="
 *   on a line and into FILE once every one is open or failed, then waits at
 *   most -H seconds or until SIGTERM/SIGINT, prints "alive= closed_by_peer="
 *   and exits (the kernel closes the sockets).
 *
 * -T: a connection that has not finished (connect + handshake [+ response])
 * after SECS seconds counts as a timeout and is dropped.
 */
#define _GNU_SOURCE
#include "../tlsclient.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_CONNECT, S_HS, S_SEND, S_RECV, S_IDLE };

struct conn {
	struct tls_conn tc;	/* first: epoll's data.ptr is both */
	int state;
	size_t hlen;		/* header bytes kept in hdr */
	long long body_left;	/* -1: until EOF */
	int status;
	char hdr[4096];
};

static SSL_CTX *ctx;
static const char *path = "/owa/";
static double timeout_s = 10;
static int hold_mode;

/* results */
static long long conns, rsp_2xx, rsp_other, err_connect, err_tls, err_io, timeouts, reused;
static long long opened, failed, closed_by_peer;
static char certk[32] = "-";

/* The TLS parameters, and the server certificate's key type and size. */
static void note_params(SSL *ssl)
{
	X509 *x;
	EVP_PKEY *k;

	if (!tls_note_params(ssl))
		return;
	x = SSL_get1_peer_certificate(ssl);
	if (x) {
		k = X509_get0_pubkey(x);
		if (k)
			snprintf(certk, sizeof(certk), "%s%d",
				 EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA ? "RSA" :
				 EVP_PKEY_get_base_id(k) == EVP_PKEY_EC ? "EC" : "other",
				 EVP_PKEY_get_bits(k));
		X509_free(x);
	}
}

static void conn_close(struct conn *c)
{
	tls_conn_close(&c->tc);
}

/* Start a new connection in slot c; 0 or -1 (counted as err_connect). */
static int conn_start(struct conn *c)
{
	memset(c, 0, offsetof(struct conn, hdr));
	c->state = S_CONNECT;
	if (tls_conn_start(&c->tc) < 0) {
		err_connect++;
		return -1;
	}
	return 0;
}

/* Parse the response header once complete; 1 when it is. */
static int parse_header(struct conn *c, const char *p, size_t n, size_t *used)
{
	size_t room = sizeof(c->hdr) - 1 - c->hlen, take = n < room ? n : room;
	char *end, *cl;

	memcpy(c->hdr + c->hlen, p, take);
	c->hlen += take;
	c->hdr[c->hlen] = 0;
	end = strstr(c->hdr, "\r\n\r\n");
	if (!end) {
		*used = take;
		return 0;
	}
	*used = take - (c->hlen - (size_t)(end + 4 - c->hdr));
	c->status = atoi(c->hdr + 9);
	c->body_left = -1;
	cl = strcasestr(c->hdr, "\r\ncontent-length:");
	if (cl && cl < end)
		c->body_left = atoll(cl + 17);
	return 1;
}

static void finish(struct conn *c, double t)
{
	conns++;
	if (c->status >= 200 && c->status < 300)
		rsp_2xx++;
	else
		rsp_other++;
	hist_add(t - c->tc.t0);
	conn_close(c);
}

/* Drive c until it blocks; 1 when the slot is free again. */
static int drive(struct conn *c)
{
	char buf[16384];
	static const char req_fmt[] = "GET %s HTTP/1.1\r\nHost: bench\r\nUser-Agent: tlsload\r\n"
				      "Connection: close\r\n\r\n";
	char req[512];
	int r, e, len;
	socklen_t sl = sizeof(e);

	for (;;) {
		switch (c->state) {
		case S_CONNECT:
			if (getsockopt(c->tc.fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0 || e) {
				err_connect++;
				conn_close(c);
				return 1;
			}
			tls_conn_ssl(&c->tc, ctx);
			c->state = S_HS;
			break;
		case S_HS:
			r = SSL_connect(c->tc.ssl);
			if (r != 1) {
				if (!tls_conn_error(&c->tc, r, EPOLLIN))
					return 0;
				err_tls++;
				conn_close(c);
				return 1;
			}
			note_params(c->tc.ssl);
			if (SSL_session_reused(c->tc.ssl))
				reused++;
			if (hold_mode) {
				opened++;
				c->state = S_IDLE;
				tls_conn_want(&c->tc, EPOLLIN | EPOLLRDHUP);
				return 0;
			}
			c->state = S_SEND;
			break;
		case S_SEND:
			len = snprintf(req, sizeof(req), req_fmt, path);
			r = SSL_write(c->tc.ssl, req, len);
			if (r <= 0) {
				if (!tls_conn_error(&c->tc, r, EPOLLIN))
					return 0;
				err_io++;
				conn_close(c);
				return 1;
			}
			c->state = S_RECV;
			c->hlen = 0;
			c->status = 0;
			break;
		case S_RECV:
		case S_IDLE:
			r = SSL_read(c->tc.ssl, buf, sizeof(buf));
			if (r <= 0) {
				if (!tls_conn_error(&c->tc, r, EPOLLIN | (c->state == S_IDLE ? EPOLLRDHUP : 0)))
					return 0;
				if (c->state == S_IDLE) {
					closed_by_peer++;
				} else if (c->status && c->body_left < 0) {
					finish(c, now());	/* body until EOF */
					return 1;
				} else {
					err_io++;
				}
				conn_close(c);
				return 1;
			}
			if (c->state == S_IDLE)
				break;	/* a session ticket or stray data: ignore */
			{
				size_t used = 0;

				if (!c->status && !parse_header(c, buf, r, &used))
					break;	/* more header to come */
				if (c->body_left >= 0) {
					c->body_left -= r - used;
					if (c->body_left <= 0) {
						finish(c, now());
						return 1;
					}
				}
			}
			break;
		}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: tlsload hs|hold -t ADDR:PORT [-s SRC,...] [-c CONC] [-d SECS] [-m MAX]\n"
			"       [-p PATH] [-N N] [-T SECS] [-H SECS] [-R FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *ready = NULL;
	double secs = 10, hold_secs = 600, t_start, deadline, t;
	long long max = 1LL << 40, started = 0;
	int conc = 50, n_hold = 0, opt, i, n;
	struct epoll_event evs[512];
	struct conn *cs;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "hold"))
		hold_mode = 1;
	else if (strcmp(argv[1], "hs"))
		usage();
	optind = 2;
	while ((opt = getopt(argc, argv, "t:s:c:d:m:p:N:T:H:R:")) != -1) {
		switch (opt) {
		case 't':
			if (parse_addrs(optarg, &target, 1, 1) != 1)
				usage();
			break;
		case 's':
			nsrcs = parse_addrs(optarg, srcs, MAX_SRCS, 0);
			if (nsrcs < 0)
				usage();
			break;
		case 'c': conc = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'm': max = atoll(optarg); break;
		case 'p': path = optarg; break;
		case 'N': n_hold = atoi(optarg); break;
		case 'T': timeout_s = atof(optarg); break;
		case 'H': hold_secs = atof(optarg); break;
		case 'R': ready = optarg; break;
		default: usage();
		}
	}
	if (!target.sin_port || conc < 1 || (hold_mode && n_hold < 1))
		usage();
	if (strlen(path) > 400)
		usage();

	/* One descriptor per connection, plus a few. */
	raise_nofile((unsigned long)(hold_mode ? n_hold : conc) + 64);
	loadgen_init();
	ctx = tls_client_ctx();
	if (hold_mode)
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

	n = hold_mode ? n_hold : conc;
	cs = tls_conns_new(n, sizeof(*cs));

	t_start = now();
	if (hold_mode) {
		int next = 0, inflight = 0, printed = 0;

		deadline = t_start + hold_secs;
		while (!stop && now() < deadline) {
			while (next < n_hold && inflight < conc) {
				if (conn_start(&cs[next]) < 0)
					failed++;
				else
					inflight++;
				next++;
			}
			n = wait_events(evs, 512, 100);
			for (i = 0; i < n; i++) {
				struct conn *c = evs[i].data.ptr;
				int was_open = c->state == S_IDLE;

				if (c->tc.fd < 0)
					continue;
				if (was_open) {
					drive(c);
				} else if (drive(c)) {
					failed++;
					inflight--;
				} else if (c->state == S_IDLE) {
					inflight--;
				}
			}
			t = now();
			for (i = 0; i < next && (inflight || !printed); i++) {
				struct conn *c = &cs[i];

				if (c->tc.fd >= 0 && c->state != S_IDLE && t - c->tc.t0 > timeout_s) {
					timeouts++;
					failed++;
					inflight--;
					conn_close(c);
				}
			}
			if (!printed && opened + failed >= n_hold) {
				char line[256];
				FILE *f;

				snprintf(line, sizeof(line),
					 "opened=%lld failed=%lld err_connect=%lld err_tls=%lld timeouts=%lld reused=%lld secs=%.1f proto=%s cipher=%s group=%s cert=%s\n",
					 opened, failed, err_connect, err_tls, timeouts, reused, t - t_start,
					 tls_proto, tls_cipher, tls_group, certk);
				fputs(line, stdout);
				fflush(stdout);
				if (ready) {
					f = fopen(ready, "w");
					if (f) {
						fputs(line, f);
						fclose(f);
					}
				}
				printed = 1;
			}
		}
		printf("alive=%lld closed_by_peer=%lld\n", opened - closed_by_peer, closed_by_peer);
		return 0;
	}

	deadline = t_start + secs;
	for (i = 0; i < conc && started < max; i++, started++)
		conn_start(&cs[i]);
	while (!stop) {
		t = now();
		if (t >= deadline)
			break;
		n = wait_events(evs, 512, 50);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->tc.fd >= 0)
				drive(c);
		}
		t = now();
		for (i = 0; i < conc; i++) {
			struct conn *c = &cs[i];

			if (c->tc.fd >= 0 && t - c->tc.t0 > timeout_s) {
				timeouts++;
				conn_close(c);
			}
			if (c->tc.fd < 0 && started < max && t < deadline) {
				conn_start(c);
				started++;
			}
		}
		if (started >= max) {
			for (i = 0; i < conc && cs[i].tc.fd < 0; i++)
				;
			if (i == conc)
				break;
		}
	}
	t = now();
	if (t > deadline)
		t = deadline;
	printf("conns=%lld hs_s=%.0f rsp_2xx=%lld rsp_other=%lld err_connect=%lld err_tls=%lld err_io=%lld timeouts=%lld reused=%lld lat_p50_ms=%.1f lat_p99_ms=%.1f proto=%s cipher=%s group=%s cert=%s\n",
	       conns, conns / (t - t_start), rsp_2xx, rsp_other, err_connect, err_tls, err_io,
	       timeouts, reused, hist_pct(conns, 0.5), hist_pct(conns, 0.99), tls_proto, tls_cipher,
	       tls_group, certk);
	return 0;
}
