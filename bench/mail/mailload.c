// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mailload: the mail client of bench/mail.sh (IPv4 only, one epoll loop).
 *
 * mailload smtp -t ADDR:PORT -x starttls|implicit|plain [-s SRC,...] [-c CONC]
 *          [-d SECS] [-m MAX] [-T SECS] [-r RCPT]
 *   Whole SMTP sessions, CONC in flight, each on a new TCP connection:
 *   starttls: 220, EHLO, STARTTLS, 220, TLS handshake, EHLO, MAIL FROM,
 *   RCPT TO, DATA, a ~200-byte message, QUIT; implicit: TLS handshake first
 *   (SMTPS), then 220, EHLO, MAIL ...; plain: no TLS at all. Every reply's
 *   code is checked (220/250/354/221). Full handshakes only: session cache
 *   off and SSL_OP_NO_TICKET. Runs SECS seconds or MAX sessions; prints
 *   sessions= sess_s= err_connect= err_tls= err_proto= err_io= timeouts=
 *   lat_p50_ms= lat_p99_ms= proto= cipher= group=
 *
 * mailload imap-hold -t ADDR:PORT -x starttls|implicit -N N [-s SRC,...]
 *          [-c CONC] [-T SECS] [-H SECS] [-R FILE]
 *   Opens N IMAP connections and leaves them idle: starttls: greeting
 *   ("* OK"), "a STARTTLS", "a OK", TLS handshake; implicit (IMAPS): TLS
 *   handshake, greeting. At most CONC being set up at once. Prints
 *   "opened= failed= secs=" (also into FILE) once all are open or failed,
 *   then waits -H seconds or until SIGTERM/SIGINT and prints
 *   "alive= closed_by_peer=".
 *
 * -T: a connection not done (session or setup) after SECS is dropped and
 * counted as a timeout.
 */
#define _GNU_SOURCE
#include "../tlsclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A session is a script of steps. */
enum op { OP_CONNECT, OP_TLS, OP_XCHG, OP_IDLE, OP_DONE };
struct step {
	enum op op;
	const char *send;	/* NULL: only read */
	const char *expect;	/* SMTP: the 3-digit code; IMAP: the line's prefix */
};

#define MSG "From: <bench@bench.test>\r\nTo: <alice@exlb.test>\r\nSubject: exlb mail bench\r\n" \
	"Message-ID: <b@bench.test>\r\n\r\nA small message through the load balancer.\r\n.\r\n"

static char rcpt_cmd[256] = "RCPT TO:<alice@exlb.test>\r\n";

static struct step smtp_starttls[] = {
	{ OP_CONNECT, 0, 0 }, { OP_XCHG, 0, "220" }, { OP_XCHG, "EHLO client.bench.test\r\n", "250" },
	{ OP_XCHG, "STARTTLS\r\n", "220" }, { OP_TLS, 0, 0 },
	{ OP_XCHG, "EHLO client.bench.test\r\n", "250" },
	{ OP_XCHG, "MAIL FROM:<bench@bench.test>\r\n", "250" }, { OP_XCHG, rcpt_cmd, "250" },
	{ OP_XCHG, "DATA\r\n", "354" }, { OP_XCHG, MSG, "250" }, { OP_XCHG, "QUIT\r\n", "221" },
	{ OP_DONE, 0, 0 },
};
static struct step smtp_implicit[] = {
	{ OP_CONNECT, 0, 0 }, { OP_TLS, 0, 0 }, { OP_XCHG, 0, "220" },
	{ OP_XCHG, "EHLO client.bench.test\r\n", "250" },
	{ OP_XCHG, "MAIL FROM:<bench@bench.test>\r\n", "250" }, { OP_XCHG, rcpt_cmd, "250" },
	{ OP_XCHG, "DATA\r\n", "354" }, { OP_XCHG, MSG, "250" }, { OP_XCHG, "QUIT\r\n", "221" },
	{ OP_DONE, 0, 0 },
};
static struct step smtp_plain[] = {
	{ OP_CONNECT, 0, 0 }, { OP_XCHG, 0, "220" }, { OP_XCHG, "EHLO client.bench.test\r\n", "250" },
	{ OP_XCHG, "MAIL FROM:<bench@bench.test>\r\n", "250" }, { OP_XCHG, rcpt_cmd, "250" },
	{ OP_XCHG, "DATA\r\n", "354" }, { OP_XCHG, MSG, "250" }, { OP_XCHG, "QUIT\r\n", "221" },
	{ OP_DONE, 0, 0 },
};
static struct step imap_starttls[] = {
	{ OP_CONNECT, 0, 0 }, { OP_XCHG, 0, "* OK" }, { OP_XCHG, "a STARTTLS\r\n", "a OK" },
	{ OP_TLS, 0, 0 }, { OP_IDLE, 0, 0 },
};
static struct step imap_implicit[] = {
	{ OP_CONNECT, 0, 0 }, { OP_TLS, 0, 0 }, { OP_XCHG, 0, "* OK" }, { OP_IDLE, 0, 0 },
};

struct conn {
	struct tls_conn tc;	/* first: epoll's data.ptr is both */
	int step;
	int sent;	/* bytes of the step's command written */
	int cmd_done;	/* the whole command is written */
	size_t blen;
	char buf[4096];
};

static const struct step *script;
static int smtp;	/* replies are SMTP's (else IMAP's) */
static SSL_CTX *ctx;
static double timeout_s = 10;

static long long sessions, err_connect, err_tls, err_proto, err_io, timeouts;
static long long opened, failed, closed_by_peer;
static char last_err[200];

static void conn_close(struct conn *c)
{
	tls_conn_close(&c->tc);
}

static int conn_start(struct conn *c)
{
	c->step = 0;
	c->sent = c->cmd_done = 0;
	c->blen = 0;
	if (tls_conn_start(&c->tc) < 0) {
		err_connect++;
		return -1;
	}
	return 0;
}

/* Plain or TLS I/O: >0 bytes, 0 EOF, -1 would block (events set), -2 error. */
static int io(struct conn *c, int wr, void *p, int n)
{
	int r, e;

	if (!c->tc.ssl) {
		r = wr ? (int)send(c->tc.fd, p, n, MSG_NOSIGNAL) : (int)recv(c->tc.fd, p, n, 0);
		if (r >= 0)
			return r;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			tls_conn_want(&c->tc, wr ? EPOLLOUT : EPOLLIN);
			return -1;
		}
		return -2;
	}
	r = wr ? SSL_write(c->tc.ssl, p, n) : SSL_read(c->tc.ssl, p, n);
	if (r > 0)
		return r;
	e = tls_conn_error(&c->tc, r, EPOLLIN);
	if (!e)
		return -1;
	return e == SSL_ERROR_ZERO_RETURN ? 0 : -2;
}

/* A complete reply in buf? 1 ok, -1 wrong, 0 not yet; consumes its lines. */
static int reply(struct conn *c, const char *expect)
{
	char *line = c->buf, *nl;
	size_t left;

	while ((nl = memchr(line, '\n', c->buf + c->blen - line))) {
		size_t len = nl - line + 1;
		int res = 0;

		if (smtp) {
			if (len >= 5 && line[3] == ' ')
				res = memcmp(line, expect, 3) ? -1 : 1;
			else if (len < 5 || line[3] != '-')
				res = -1;
		} else {
			if (!strncmp(line, expect, strlen(expect)))
				res = 1;
			else if (line[0] != '*')
				res = -1;
		}
		if (res) {
			if (res < 0)
				snprintf(last_err, sizeof(last_err), "expected %s, got %.*s", expect,
					 (int)(len > 100 ? 100 : len - 1), line);
			left = c->buf + c->blen - (nl + 1);
			memmove(c->buf, nl + 1, left);
			c->blen = left;
			return res;
		}
		line = nl + 1;
	}
	if (c->blen == sizeof(c->buf) && line == c->buf)
		return -1;	/* a line longer than the buffer */
	return 0;
}

/* Drive c as far as it goes; 1 when its script is done, -1 on failure. */
static int advance(struct conn *c)
{
	for (;;) {
		const struct step *s = &script[c->step];
		int r, e;

		switch (s->op) {
		case OP_CONNECT: {
			socklen_t l = sizeof(e);

			if (getsockopt(c->tc.fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e) {
				err_connect++;
				return -1;
			}
			c->step++;
			tls_conn_want(&c->tc, EPOLLIN);
			break;
		}
		case OP_TLS:
			if (!c->tc.ssl) {
				if (c->blen) {	/* bytes after the STARTTLS answer */
					err_proto++;
					snprintf(last_err, sizeof(last_err), "data after the STARTTLS answer");
					return -1;
				}
				tls_conn_ssl(&c->tc, ctx);
				SSL_set_tlsext_host_name(c->tc.ssl, "mail.bench.test");
			}
			r = SSL_do_handshake(c->tc.ssl);
			if (r != 1) {
				if (!tls_conn_error(&c->tc, r, EPOLLIN))
					return 0;
				err_tls++;
				return -1;
			}
			tls_note_params(c->tc.ssl);
			c->step++;
			break;
		case OP_XCHG:
			if (s->send && !c->cmd_done) {
				int n = strlen(s->send);

				while (c->sent < n) {
					r = io(c, 1, (char *)s->send + c->sent, n - c->sent);
					if (r == -1)
						return 0;
					if (r <= 0) {
						err_io++;
						return -1;
					}
					c->sent += r;
				}
				c->cmd_done = 1;
			}
			r = reply(c, s->expect);
			if (r < 0) {
				err_proto++;
				return -1;
			}
			if (r > 0) {
				c->step++;
				c->sent = c->cmd_done = 0;
				break;
			}
			r = io(c, 0, c->buf + c->blen, sizeof(c->buf) - c->blen);
			if (r == -1)
				return 0;
			if (r <= 0) {
				err_io++;
				snprintf(last_err, sizeof(last_err), "%s waiting for %s",
					 r ? "error" : "EOF", s->expect);
				return -1;
			}
			c->blen += r;
			break;
		case OP_IDLE:
		case OP_DONE:
			return 1;
		}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: mailload smtp|imap-hold -t ADDR:PORT -x starttls|implicit|plain "
		"[-s SRC,...] [-c CONC] [-d SECS] [-m MAX] [-N N] [-T SECS] [-H SECS] [-R FILE] [-r RCPT]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode, *tls = "starttls", *ready = NULL;
	int conc = 50, hold = 0, opt, i, n;
	long long max = 1000000000LL, want_n = 0, started = 0;
	double secs = 10, hold_secs = 600, t_start, t_end;
	struct conn *cs;
	struct epoll_event evs[256];

	if (argc < 2)
		usage();
	mode = argv[1];
	if (!strcmp(mode, "smtp"))
		smtp = 1;
	else if (!strcmp(mode, "imap-hold"))
		hold = 1;
	else
		usage();
	optind = 2;
	while ((opt = getopt(argc, argv, "t:x:s:c:d:m:N:T:H:R:r:")) != -1) {
		switch (opt) {
		case 't':
			if (parse_addrs(optarg, &target, 1, 1) != 1) {
				fprintf(stderr, "mailload: -t ADDR:PORT (got %s)\n", optarg);
				exit(2);
			}
			break;
		case 'x': tls = optarg; break;
		case 's':
			nsrcs = parse_addrs(optarg, srcs, MAX_SRCS, 0);
			if (nsrcs < 0) {
				fprintf(stderr, "mailload: -s ADDR,... (at most %d; got %s)\n", MAX_SRCS, optarg);
				exit(2);
			}
			break;
		case 'c': conc = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'm': max = atoll(optarg); break;
		case 'N': want_n = atoll(optarg); break;
		case 'T': timeout_s = atof(optarg); break;
		case 'H': hold_secs = atof(optarg); break;
		case 'R': ready = optarg; break;
		case 'r': snprintf(rcpt_cmd, sizeof(rcpt_cmd), "RCPT TO:<%s>\r\n", optarg); break;
		default: usage();
		}
	}
	if (!target.sin_port || conc < 1 || (hold && want_n < 1))
		usage();
	if (smtp)
		script = !strcmp(tls, "implicit") ? smtp_implicit : !strcmp(tls, "plain") ? smtp_plain : smtp_starttls;
	else
		script = !strcmp(tls, "implicit") ? imap_implicit : imap_starttls;
	if (hold)
		max = want_n;
	if (hold && conc > want_n)
		conc = want_n;

	n = hold ? (int)want_n : conc;
	/* One descriptor per connection, plus a few. */
	raise_nofile((unsigned long)n + 64);
	loadgen_init();
	ctx = tls_client_ctx();
	cs = tls_conns_new(n, sizeof(*cs));

	t_start = now();
	t_end = t_start + (hold ? timeout_s + want_n / 50.0 + 30 : secs);
	/* smtp: CONC slots reused; hold: N slots, at most CONC in setup */
	int in_setup = 0, next = 0;

	for (;;) {
		double t = now();
		int k;

		if (stop || t >= t_end)
			break;
		if (hold) {
			while (in_setup < conc && next < n) {
				if (conn_start(&cs[next]) == 0)
					in_setup++;
				else
					failed++;
				next++;
			}
			if (next == n && in_setup == 0)
				break;
		} else {
			for (i = 0; i < n; i++)
				if (cs[i].tc.fd < 0 && started < max) {
					started++;
					conn_start(&cs[i]);
				}
		}
		k = wait_events(evs, 256, 50);
		t = now();
		for (i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			int r;

			if (c->tc.fd < 0)
				continue;
			r = advance(c);
			if (r == 0)
				continue;
			if (hold) {
				in_setup--;
				if (r > 0) {
					opened++;
					/* stays idle; watched for the peer closing it */
					epoll_ctl(epfd, EPOLL_CTL_DEL, c->tc.fd, NULL);
				} else {
					failed++;
					conn_close(c);
				}
				continue;
			}
			if (r > 0 && t < t_end) {
				sessions++;
				hist_add(t - c->tc.t0);
			}
			conn_close(c);
		}
		/* timeouts: connections still in their script */
		for (i = 0; i < (hold ? next : n); i++) {
			struct conn *c = &cs[i];

			if (c->tc.fd < 0 || script[c->step].op == OP_IDLE || t - c->tc.t0 < timeout_s)
				continue;
			timeouts++;
			conn_close(c);
			if (hold) {
				in_setup--;
				failed++;
			}
		}
		if (!hold && started >= max) {
			int busy = 0;

			for (i = 0; i < n; i++)
				busy |= cs[i].tc.fd >= 0;
			if (!busy)
				break;
		}
	}
	if (!hold) {
		double el = now() - t_start;

		if (el > secs && started < max)
			el = secs;
		printf("sessions=%lld sess_s=%.0f err_connect=%lld err_tls=%lld err_proto=%lld err_io=%lld "
		       "timeouts=%lld lat_p50_ms=%.1f lat_p99_ms=%.1f proto=%s cipher=%s group=%s%s%s\n",
		       sessions, sessions / el, err_connect, err_tls, err_proto, err_io, timeouts,
		       hist_pct(sessions, 0.5), hist_pct(sessions, 0.99), tls_proto, tls_cipher, tls_group,
		       last_err[0] ? " last_error=" : "", last_err);
		return 0;
	}

	/* hold */
	printf("opened=%lld failed=%lld timeouts=%lld secs=%.1f proto=%s cipher=%s group=%s%s%s\n", opened, failed, timeouts,
	       now() - t_start, tls_proto, tls_cipher, tls_group, last_err[0] ? " last_error=" : "", last_err);
	fflush(stdout);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f) {
			fprintf(f, "opened=%lld failed=%lld\n", opened, failed);
			fclose(f);
		}
	}
	t_end = now() + hold_secs;
	while (!stop && now() < t_end)
		usleep(100000);
	/* which ones did the proxy close? a readable EOF (or an error) says so */
	long long alive = 0;

	for (i = 0; i < n; i++) {
		struct conn *c = &cs[i];
		char b[256];
		int r;

		if (c->tc.fd < 0 || script[c->step].op != OP_IDLE)
			continue;
		r = recv(c->tc.fd, b, sizeof(b), MSG_DONTWAIT | MSG_PEEK);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			closed_by_peer++;
		else
			alive++;
	}
	printf("alive=%lld closed_by_peer=%lld\n", alive, closed_by_peer);
	return 0;
}
