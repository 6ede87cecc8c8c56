/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Inside the health-check engine: the target, one attempt's state, and the
 * interface between the generic engine (health.c: scheduling, verdicts,
 * sockets, TLS) and the protocols (health_http.c, health_mail.c) and ICMP
 * (health_icmp.c). Not for use outside userspace/exlbd/health*.c.
 */
#ifndef EXLB_HEALTH_INT_H
#define EXLB_HEALTH_INT_H

#include <ev.h>
#include <openssl/ssl.h>

#include "health.h"

#define HC_REASON_MAX	128
#define HC_RX_MAX	1024	/* one line at a time; longer lines are cut */
#define HC_TX_MAX	768	/* request line + Host: fit with 256-byte url and host */
#define HC_FIRST_SPREAD_MS	1000	/* first checks of new targets: within this */

enum hc_state {
	HC_UNKNOWN,
	HC_UP,
	HC_DOWN,
};

enum hc_phase {
	HC_IDLE,		/* waiting for the next start */
	HC_CONNECTING,
	HC_TLS_HANDSHAKE,
	HC_TALKING,		/* protocol lines going both ways */
	HC_QUITTING,		/* verdict reached; politely waiting for the goodbye */
	HC_PINGING,		/* ICMP echo sent */
};

/* What a protocol's line handler wants next. */
enum hc_step {
	HC_MORE,		/* read more lines */
	HC_SEND,		/* tx was filled: send it, then read more */
	HC_OK,			/* success, close */
	HC_OK_QUIT,		/* success; tx holds the goodbye, send it and linger */
	HC_FAIL,		/* failure, reason in t->why */
};

struct hc_target;

struct hc_proto {
	bool tls;
	/* After connect (and the TLS handshake): fill tx and/or wait for lines. */
	enum hc_step (*begin)(struct hc_target *t);
	/* One received line without CR LF; NULL at EOF (must fail). */
	enum hc_step (*line)(struct hc_target *t, const char *line, size_t len);
};

extern const struct hc_proto hc_proto_tcp;
extern const struct hc_proto hc_proto_http;
extern const struct hc_proto hc_proto_https;
extern const struct hc_proto hc_proto_smtp;
extern const struct hc_proto hc_proto_imap4;
extern const struct hc_proto hc_proto_pop3;

struct exlb_health {
	struct ev_loop *loop;
	exlb_health_change_fn on_change;
	void *ctx;
	struct hc_target **buckets;
	unsigned int n_buckets;	/* power of two */
	unsigned int n_targets;
	unsigned int in_flight;
	uint64_t checks, ok, failed;
	uint64_t rng;
	SSL_CTX *ssl_ctx;	/* made at the first https check */
	unsigned int tls_full_every;	/* see exlb_health_set_tls_resume() */
	int icmp_kind[2];	/* per family: 0 untried, SOCK_DGRAM or SOCK_RAW */
	uint16_t echo_seq;
};

struct hc_target {
	struct hc_target *next;		/* hash chain */
	struct exlb_health *h;
	uint64_t id;
	struct sockaddr_storage addr;	/* where checks go: RS address, check port */
	socklen_t addrlen;
	struct exlb_check_spec spec;	/* defaults filled in */
	const struct hc_proto *proto;

	enum hc_state state;
	unsigned int fails, successes;	/* in a row */
	char reason[HC_REASON_MAX];	/* of the last verdict */
	double last_s;			/* how long the last check took */
	const char *last_class;		/* its reason's class (reason_class()) */

	ev_timer timer;			/* next start, or this attempt's timeout */
	ev_tstamp first_shift;		/* once: from the first attempt to the second */
	ev_io io;
	ev_tstamp started;

	SSL_SESSION *tls_session;	/* of the last good check, to resume */
	unsigned int tls_resumed;	/* resumed handshakes in a row */

	/* one attempt; reset at every start */
	enum hc_phase phase;
	int fd;
	SSL *ssl;
	unsigned int proto_state;	/* the protocol's own step */
	uint16_t echo_id, echo_seq;
	char why[HC_REASON_MAX];	/* failure reason being built */
	size_t rx_len;
	size_t tx_len, tx_off;
	char rx[HC_RX_MAX];
	char tx[HC_TX_MAX];
};

/* Appends to t->tx; false if it does not fit. */
bool hc_tx_printf(struct hc_target *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Sets t->why and returns HC_FAIL. */
enum hc_step hc_fail(struct hc_target *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The address as text, IPv6 in brackets when @brackets. */
void hc_addr_text(const struct sockaddr_storage *ss, bool brackets,
		  char *buf, size_t n);

/* ICMP: start an echo, handle a readable socket (health_icmp.c). */
int hc_icmp_start(struct hc_target *t);
/* 1 = our reply arrived, 0 = not ours (keep waiting), -1 = error (why set) */
int hc_icmp_read(struct hc_target *t);

#endif
