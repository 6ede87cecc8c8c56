// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Tests of the health-check engine, userspace/exlbd/health*.c, against tiny
 * servers on loopback that this test runs itself: on the same libev loop
 * for plain TCP (HTTP 200/503, hang, close without greeting, SMTP, IMAP4,
 * POP3), in a forked child for TLS. Unprivileged, a few seconds; ICMP is
 * skipped when neither a ping socket nor a raw socket is allowed.
 *
 * Timing used throughout: interval 200 ms, timeout 300 ms, retry 2, rise 1,
 * so "down" takes at most 2 * 200 + 300 ms after a server breaks.
 *
 * Prints "ok N - name" / "not ok N - name" (TAP), exits non-zero on failure.
 */
#define _GNU_SOURCE	/* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <ev.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "userspace/exlbd/health/health.h"

#include "tap_report.h"

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static struct ev_loop *loop;
static struct exlb_health *hc;

/* ---- the state changes the engine reports ---- */

#define MAX_EVENTS 512

struct change {
	uint64_t id;
	bool up;
	char reason[128];
	ev_tstamp at;
};

static struct change changes[MAX_EVENTS];
static int n_changes;
static uint64_t delete_on_change = UINT64_MAX;

static void on_change(void *ctx, uint64_t id, bool up, const char *reason)
{
	(void)ctx;
	if (n_changes < MAX_EVENTS) {
		struct change *c = &changes[n_changes++];

		c->id = id;
		c->up = up;
		snprintf(c->reason, sizeof(c->reason), "%s", reason);
		c->at = ev_now(loop);
	}
	/* the engine must survive a target deleted from inside its callback */
	if (id == delete_on_change)
		exlb_health_del(hc, id);
}

/* The last change of @id, or NULL. */
static const struct change *last_change(uint64_t id)
{
	int i;

	for (i = n_changes - 1; i >= 0; i--)
		if (changes[i].id == id)
			return &changes[i];
	return NULL;
}

static int count_changes(uint64_t id)
{
	int i, n = 0;

	for (i = 0; i < n_changes; i++)
		n += changes[i].id == id;
	return n;
}

/* ---- running the loop with a bound ---- */

static void tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
}

/* Runs the loop until @cond(arg) holds or @secs pass; returns cond. */
static bool run_until(bool (*cond)(const void *), const void *arg, double secs)
{
	ev_timer tick;
	ev_tstamp end;
	bool ok;

	ev_now_update(loop);
	end = ev_now(loop) + secs;
	ev_timer_init(&tick, tick_cb, 0.01, 0.01);
	ev_timer_start(loop, &tick);
	while (!(ok = cond && cond(arg)) && ev_now(loop) < end)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &tick);
	return ok;
}

static void run_for(double secs)
{
	run_until(NULL, NULL, secs);
}

struct want_state {
	uint64_t id;
	bool up;
};

static bool state_is(const void *arg)
{
	const struct want_state *w = arg;
	const struct change *c = last_change(w->id);

	return c && c->up == w->up;
}

static bool wait_state(uint64_t id, bool up, double secs)
{
	struct want_state w = { id, up };

	return run_until(state_is, &w, secs);
}

/* ---- a tiny server on the test's own loop ---- */

enum srv_mode {
	SRV_HTTP,	/* 200, or 503 for URLs containing srv.fail_path */
	SRV_HTTP_503,
	SRV_HTTP_SPLIT,	/* status line in three writes */
	SRV_HANG,	/* accepts, never answers */
	SRV_CLOSE,	/* accepts and closes at once */
	SRV_SMTP,	/* multi-line 220, 250 to EHLO */
	SRV_SMTP_554,
	SRV_IMAP,
	SRV_POP3,
	SRV_POP3_ERR,
};

struct srv {
	int fd;
	ev_io w;
	enum srv_mode mode;
	struct sockaddr_storage addr;
	int accepted;
	int quits;		/* QUIT / LOGOUT received */
	char fail_path[64];
	char last_req[1024];
	char last_cmds[256];
};

struct srv_conn {
	int fd;
	ev_io w;
	struct srv *s;
	size_t len;
	char buf[1024];
};

#define MAX_HELD 256
static int held[MAX_HELD];	/* hung connections, closed at the end */
static int n_held;

static void conn_close(struct srv_conn *c)
{
	ev_io_stop(loop, &c->w);
	close(c->fd);
	free(c);
}

static void say(struct srv_conn *c, const char *s)
{
	if (send(c->fd, s, strlen(s), MSG_NOSIGNAL) < 0)
		return;	/* the check may have gone already */
}

/* Handles what a client sent; returns false once the connection closed. */
static bool conn_input(struct srv_conn *c)
{
	struct srv *s = c->s;
	char *eol;

	if (s->mode <= SRV_HTTP_SPLIT) {
		if (!strstr(c->buf, "\r\n\r\n"))
			return true;
		snprintf(s->last_req, sizeof(s->last_req), "%s", c->buf);
		if (s->mode == SRV_HTTP_503 ||
		    (s->fail_path[0] && strstr(c->buf, s->fail_path))) {
			say(c, "HTTP/1.1 503 Service Unavailable\r\n"
			       "Content-Length: 0\r\n\r\n");
		} else if (s->mode == SRV_HTTP_SPLIT) {
			say(c, "HTT");
			usleep(20000);
			say(c, "P/1.0 20");
			usleep(20000);
			say(c, "4 No Content\r\n\r\n");
		} else {
			/* a body the check must not wait for */
			say(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n"
			       "\r\n200 OK");
		}
		conn_close(c);
		return false;
	}
	while ((eol = strstr(c->buf, "\r\n"))) {
		size_t n = eol - c->buf + 2;
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "%.*s", (int)(n - 2), c->buf);
		strncat(s->last_cmds, cmd, sizeof(s->last_cmds) -
			strlen(s->last_cmds) - 2);
		strcat(s->last_cmds, "|");
		memmove(c->buf, c->buf + n, c->len - n + 1);
		c->len -= n;
		if (!strncmp(cmd, "EHLO ", 5)) {
			say(c, "250-srv.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
		} else if (!strcmp(cmd, "QUIT") || !strcmp(cmd, "a1 LOGOUT")) {
			s->quits++;
			say(c, s->mode == SRV_SMTP ? "221 bye\r\n" :
			       s->mode == SRV_IMAP ? "* BYE\r\na1 OK\r\n" :
			       "+OK bye\r\n");
			conn_close(c);
			return false;
		} else {
			say(c, "500 what\r\n");
		}
	}
	return true;
}

static void conn_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct srv_conn *c = w->data;
	ssize_t r;

	(void)l;
	(void)revents;
	r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	if (r <= 0) {
		if (r < 0 && errno == EAGAIN)
			return;
		conn_close(c);
		return;
	}
	c->len += r;
	c->buf[c->len] = '\0';
	conn_input(c);
}

static void accept_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct srv *s = w->data;
	struct srv_conn *c;
	int fd;

	(void)l;
	(void)revents;
	fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	s->accepted++;
	switch (s->mode) {
	case SRV_HANG:
		if (n_held < MAX_HELD)
			held[n_held++] = fd;
		else
			close(fd);
		return;
	case SRV_CLOSE:
		close(fd);
		return;
	case SRV_SMTP_554:
		send(fd, "554 no service here\r\n", 21, MSG_NOSIGNAL);
		close(fd);
		return;
	case SRV_POP3_ERR:
		send(fd, "-ERR go away\r\n", 14, MSG_NOSIGNAL);
		close(fd);
		return;
	default:
		break;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->s = s;
	if (s->mode == SRV_SMTP)
		say(c, "220-srv.test ESMTP\r\n220 ready\r\n");
	else if (s->mode == SRV_IMAP)
		say(c, "* OK [CAPABILITY IMAP4rev1] ready\r\n");
	else if (s->mode == SRV_POP3)
		say(c, "+OK ready\r\n");
	ev_io_init(&c->w, conn_cb, fd, EV_READ);
	c->w.data = c;
	ev_io_start(loop, &c->w);
}

/* Listens on 127.0.0.1 (or ::1) at a free port. */
static void srv_start(struct srv *s, enum srv_mode mode, int family)
{
	socklen_t len = sizeof(s->addr);
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->addr.ss_family = family;
	if (family == AF_INET6)
		((struct sockaddr_in6 *)&s->addr)->sin6_addr = in6addr_loopback;
	else
		((struct sockaddr_in *)&s->addr)->sin_addr.s_addr =
			htonl(INADDR_LOOPBACK);
	s->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s->fd < 0 ||
	    bind(s->fd, (struct sockaddr *)&s->addr,
		 family == AF_INET6 ? sizeof(struct sockaddr_in6) :
		 sizeof(struct sockaddr_in)) < 0 ||
	    listen(s->fd, 128) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&s->addr, &len) < 0) {
		perror("test server");
		exit(2);
	}
	ev_io_init(&s->w, accept_cb, s->fd, EV_READ);
	s->w.data = s;
	ev_io_start(loop, &s->w);
}

static void srv_stop(struct srv *s)
{
	ev_io_stop(loop, &s->w);
	close(s->fd);
}

static uint16_t srv_port(const struct srv *s)
{
	return ntohs(((const struct sockaddr_in *)&s->addr)->sin_port);
}

/* A port on 127.0.0.1 that nothing listens on. */
static void closed_port(struct sockaddr_storage *ss)
{
	struct srv s;

	srv_start(&s, SRV_CLOSE, AF_INET);
	*ss = s.addr;
	srv_stop(&s);
}

static void spec_fast(struct exlb_check_spec *sp, enum exlb_check_type type)
{
	exlb_check_spec_init(sp);
	sp->type = type;
	sp->interval_ms = 200;
	sp->timeout_ms = 300;
	sp->retry_count = 2;
	sp->rise = 1;
}

/* ---- the tests ---- */

static void test_names(void)
{
	report(exlb_check_type_from_name("IMAP") == EXLB_CHECK_IMAP4 &&
	       exlb_check_type_from_name("imap4") == EXLB_CHECK_IMAP4 &&
	       exlb_check_type_from_name("https") == EXLB_CHECK_HTTPS &&
	       exlb_check_type_from_name("ldap") == -1,
	       "Kemp CheckType names map to check types");
}

static void test_bad_specs(void)
{
	struct exlb_check_spec sp;
	struct sockaddr_storage a;
	int e1, e2, e3, e4;

	closed_port(&a);
	spec_fast(&sp, EXLB_CHECK_HTTP);
	strcpy(sp.url, "/x HTTP/1.0\r\nX-Evil: 1");
	e1 = exlb_health_add(hc, 900, &a, &sp);
	spec_fast(&sp, EXLB_CHECK_HTTP);
	sp.use_get = 7;
	e2 = exlb_health_add(hc, 901, &a, &sp);
	spec_fast(&sp, EXLB_CHECK_TCP);
	((struct sockaddr_in *)&a)->sin_port = 0;
	e3 = exlb_health_add(hc, 902, &a, &sp);
	a.ss_family = AF_UNIX;
	e4 = exlb_health_add(hc, 903, &a, &sp);
	report(e1 == -EINVAL && e2 == -EINVAL && e3 == -EINVAL && e4 == -EINVAL,
	       "header injection, bad method, no port, bad family are refused");
}

static void test_tcp(void)
{
	struct exlb_check_spec sp;
	struct sockaddr_storage dead;
	const struct change *c;
	char reason[128];
	struct srv s;
	bool up = true;
	int r;

	srv_start(&s, SRV_HANG, AF_INET);
	closed_port(&dead);
	spec_fast(&sp, EXLB_CHECK_TCP);
	exlb_health_add(hc, 1, &s.addr, &sp);
	exlb_health_add(hc, 2, &dead, &sp);
	r = exlb_health_state(hc, 1, &up, reason, sizeof(reason));
	report(r == -EAGAIN && !up && !strcmp(reason, "no verdict yet"),
	       "a new target has no verdict and is not up");
	report(wait_state(1, true, 1.0), "tcp: listening port is up");
	c = last_change(1);
	report(c && !strcmp(c->reason, "connected"), "tcp: reason 'connected' (%s)",
	       c ? c->reason : "-");
	report(wait_state(2, false, 1.5), "tcp: closed port goes down");
	c = last_change(2);
	report(c && !strcmp(c->reason, "connect: Connection refused"),
	       "tcp: reason 'connect: Connection refused' (%s)",
	       c ? c->reason : "-");
	r = exlb_health_state(hc, 2, &up, reason, sizeof(reason));
	report(r == 0 && !up, "exlb_health_state agrees: down");
	report(exlb_health_add(hc, 1, &s.addr, &sp) == -EEXIST,
	       "adding an existing id fails with -EEXIST");
	exlb_health_del(hc, 1);
	exlb_health_del(hc, 2);
	report(exlb_health_state(hc, 1, &up, NULL, 0) == -ENOENT,
	       "a deleted target is gone");
	srv_stop(&s);
}

static void test_http_basic(void)
{
	struct exlb_check_spec sp;
	const struct change *c;
	struct srv s;
	char want[64];

	srv_start(&s, SRV_HTTP, AF_INET);
	spec_fast(&sp, EXLB_CHECK_HTTP);
	strcpy(sp.url, "/owa/healthcheck.htm");
	sp.use_get = EXLB_CHECK_GET;
	sp.use_http11 = 1;
	strcpy(sp.host, "mail.example.test");
	exlb_health_add(hc, 10, &s.addr, &sp);
	report(wait_state(10, true, 1.0), "http: 200 is up");
	c = last_change(10);
	report(c && !strcmp(c->reason, "HTTP 200"), "http: reason 'HTTP 200' (%s)",
	       c ? c->reason : "-");
	report(!strncmp(s.last_req, "GET /owa/healthcheck.htm HTTP/1.1\r\n", 35) &&
	       strstr(s.last_req, "\r\nHost: mail.example.test\r\n") &&
	       strstr(s.last_req, "\r\nConnection: close\r\n"),
	       "http: GET, CheckUrl, HTTP/1.1, CheckHost, Connection: close");
	exlb_health_del(hc, 10);

	/* Kemp defaults: HEAD, HTTP/1.0, Host = the RS address with its port */
	spec_fast(&sp, EXLB_CHECK_HTTP);
	s.last_req[0] = '\0';
	exlb_health_add(hc, 11, &s.addr, &sp);
	report(wait_state(11, true, 1.0), "http: defaults are up");
	snprintf(want, sizeof(want), "\r\nHost: 127.0.0.1:%u\r\n", srv_port(&s));
	report(!strncmp(s.last_req, "HEAD / HTTP/1.0\r\n", 17) &&
	       strstr(s.last_req, want),
	       "http: HEAD / HTTP/1.0 with Host = address:port");
	exlb_health_del(hc, 11);
	srv_stop(&s);

	/* a status line that arrives in pieces */
	srv_start(&s, SRV_HTTP_SPLIT, AF_INET);
	spec_fast(&sp, EXLB_CHECK_HTTP);
	exlb_health_add(hc, 12, &s.addr, &sp);
	report(wait_state(12, true, 1.0) && !strcmp(last_change(12)->reason, "HTTP 204"),
	       "http: status line split over three segments, 204 is up");
	exlb_health_del(hc, 12);
	srv_stop(&s);
}

static void test_http_ipv6(void)
{
	struct exlb_check_spec sp;
	struct srv s;
	char want[64];

	srv_start(&s, SRV_HTTP, AF_INET6);
	spec_fast(&sp, EXLB_CHECK_HTTP);
	exlb_health_add(hc, 15, &s.addr, &sp);
	report(wait_state(15, true, 1.0), "http over IPv6 ::1 is up");
	snprintf(want, sizeof(want), "\r\nHost: [::1]:%u\r\n", srv_port(&s));
	report(strstr(s.last_req, want) != NULL, "http: IPv6 Host in brackets");
	exlb_health_del(hc, 15);
	srv_stop(&s);
}

static void test_http_codes(void)
{
	struct exlb_check_spec sp;
	const struct change *c;
	struct srv s;

	srv_start(&s, SRV_HTTP_503, AF_INET);
	spec_fast(&sp, EXLB_CHECK_HTTP);
	exlb_health_add(hc, 20, &s.addr, &sp);
	sp.extra_codes[0] = 401;
	sp.extra_codes[1] = 503;
	sp.n_extra_codes = 2;
	exlb_health_add(hc, 21, &s.addr, &sp);
	report(wait_state(20, false, 1.5), "http: 503 is down");
	c = last_change(20);
	report(c && !strcmp(c->reason, "HTTP 503"), "http: reason 'HTTP 503' (%s)",
	       c ? c->reason : "-");
	report(wait_state(21, true, 1.0), "http: 503 listed in CheckCodes is up");
	exlb_health_del(hc, 20);
	exlb_health_del(hc, 21);
	srv_stop(&s);
}

/* up -> down after exactly retry_count failures -> up after rise successes */
static void test_flip_and_timing(void)
{
	struct exlb_check_spec sp;
	const struct change *c;
	ev_tstamp broke, healed;
	struct srv s;
	int before;

	srv_start(&s, SRV_HTTP, AF_INET);
	spec_fast(&sp, EXLB_CHECK_HTTP);
	sp.retry_count = 3;
	sp.rise = 2;
	exlb_health_add(hc, 30, &s.addr, &sp);
	report(wait_state(30, true, 1.0), "flip: up first");
	run_for(0.25);
	s.mode = SRV_HTTP_503;
	ev_now_update(loop);
	broke = ev_now(loop);
	before = s.accepted;
	report(wait_state(30, false, 3 * 0.2 + 0.3 + 0.3), "flip: down after 503s");
	c = last_change(30);
	/* the 3rd failing check flips it; the server saw exactly 3 */
	report(s.accepted - before == 3, "flip: down after exactly RetryCount=3 failures (%d)",
	       s.accepted - before);
	report(c && c->at - broke <= 3 * 0.2 + 0.3 + 0.05,
	       "flip: within RetryInterval*RetryCount+Timeout (%.3f s)",
	       c ? c->at - broke : -1.0);
	s.mode = SRV_HTTP;
	ev_now_update(loop);
	healed = ev_now(loop);
	before = s.accepted;
	report(wait_state(30, true, 1.5), "flip: up again");
	report(s.accepted - before == 2, "flip: up after exactly rise=2 successes (%d)",
	       s.accepted - before);
	c = last_change(30);
	report(c && c->at - healed > 0.15, "flip: rise waits one interval (%.3f s)",
	       c ? c->at - healed : -1.0);
	exlb_health_del(hc, 30);
	srv_stop(&s);
}

/* the same server in two SubVSs: only the failing URL's target goes down */
static void test_subvs_isolation(void)
{
	struct exlb_check_spec owa, ews;
	struct srv s;
	bool up;

	srv_start(&s, SRV_HTTP, AF_INET);
	spec_fast(&owa, EXLB_CHECK_HTTP);
	owa.use_get = EXLB_CHECK_GET;
	strcpy(owa.url, "/owa/healthcheck.htm");
	ews = owa;
	strcpy(ews.url, "/ews/healthcheck.htm");
	exlb_health_add(hc, 40, &s.addr, &owa);
	exlb_health_add(hc, 41, &s.addr, &ews);
	report(wait_state(40, true, 1.0) && wait_state(41, true, 1.0),
	       "isolation: OWA and EWS targets up");
	strcpy(s.fail_path, "/owa/");
	report(wait_state(40, false, 1.5), "isolation: OWA target down on its 503");
	run_for(0.5);
	report(exlb_health_state(hc, 41, &up, NULL, 0) == 0 && up &&
	       count_changes(41) == 1,
	       "isolation: EWS target of the same server stays up");
	s.fail_path[0] = '\0';
	report(wait_state(40, true, 1.0), "isolation: OWA back up");
	exlb_health_del(hc, 40);
	exlb_health_del(hc, 41);
	srv_stop(&s);
}

static void test_hang(void)
{
	struct exlb_check_spec sp;
	const struct change *c;
	struct srv s;

	srv_start(&s, SRV_HANG, AF_INET);
	spec_fast(&sp, EXLB_CHECK_HTTP);
	exlb_health_add(hc, 50, &s.addr, &sp);
	spec_fast(&sp, EXLB_CHECK_SMTP);
	exlb_health_add(hc, 51, &s.addr, &sp);
	report(wait_state(50, false, 1.5), "hang: http down by timeout");
	c = last_change(50);
	report(c && !strcmp(c->reason, "timeout after 300 ms (response)"),
	       "hang: reason 'timeout after 300 ms (response)' (%s)",
	       c ? c->reason : "-");
	report(wait_state(51, false, 1.5), "hang: smtp down by timeout");
	exlb_health_del(hc, 50);
	exlb_health_del(hc, 51);
	srv_stop(&s);
}

static void test_mail(void)
{
	struct srv smtp, imap, pop3, s554, perr, closer;
	struct exlb_check_spec sp;
	const struct change *c;

	srv_start(&smtp, SRV_SMTP, AF_INET);
	srv_start(&imap, SRV_IMAP, AF_INET);
	srv_start(&pop3, SRV_POP3, AF_INET);
	srv_start(&s554, SRV_SMTP_554, AF_INET);
	srv_start(&perr, SRV_POP3_ERR, AF_INET);
	srv_start(&closer, SRV_CLOSE, AF_INET);
	spec_fast(&sp, EXLB_CHECK_SMTP);
	exlb_health_add(hc, 60, &smtp.addr, &sp);
	exlb_health_add(hc, 61, &s554.addr, &sp);
	exlb_health_add(hc, 62, &closer.addr, &sp);
	spec_fast(&sp, EXLB_CHECK_IMAP4);
	exlb_health_add(hc, 63, &imap.addr, &sp);
	exlb_health_add(hc, 64, &closer.addr, &sp);
	spec_fast(&sp, EXLB_CHECK_POP3);
	exlb_health_add(hc, 65, &pop3.addr, &sp);
	exlb_health_add(hc, 66, &perr.addr, &sp);

	report(wait_state(60, true, 1.0), "smtp: multi-line 220 + 250 is up");
	run_for(0.05);
	report(!strncmp(smtp.last_cmds, "EHLO exlb-healthcheck|QUIT|", 27) &&
	       smtp.quits >= 1,
	       "smtp: sent EHLO exlb-healthcheck then QUIT (%s)", smtp.last_cmds);
	report(wait_state(61, false, 1.5), "smtp: 554 greeting is down");
	c = last_change(61);
	report(c && !strncmp(c->reason, "no 220 greeting", 15),
	       "smtp: reason (%s)", c ? c->reason : "-");
	report(wait_state(62, false, 1.5), "smtp: close without greeting is down");
	c = last_change(62);
	report(c && !strcmp(c->reason, "no 220 greeting (closed)"),
	       "smtp: reason (%s)", c ? c->reason : "-");
	report(wait_state(63, true, 1.0), "imap4: * OK is up");
	run_for(0.05);
	report(imap.quits >= 1 && !strncmp(imap.last_cmds, "a1 LOGOUT|", 10),
	       "imap4: sent a1 LOGOUT (%s)", imap.last_cmds);
	report(wait_state(64, false, 1.5), "imap4: close without greeting is down");
	report(wait_state(65, true, 1.0), "pop3: +OK is up");
	run_for(0.05);
	report(pop3.quits >= 1, "pop3: sent QUIT (%s)", pop3.last_cmds);
	report(wait_state(66, false, 1.5), "pop3: -ERR greeting is down");
	c = last_change(66);
	report(c && !strcmp(c->reason, "no +OK greeting: -ERR go away"),
	       "pop3: reason (%s)", c ? c->reason : "-");
	for (int id = 60; id <= 66; id++)
		exlb_health_del(hc, id);
	srv_stop(&smtp);
	srv_stop(&imap);
	srv_stop(&pop3);
	srv_stop(&s554);
	srv_stop(&perr);
	srv_stop(&closer);
}

static void test_icmp(void)
{
	struct sockaddr_storage a4 = { 0 }, a6 = { 0 };
	struct exlb_check_spec sp;
	const struct change *c4, *c6;

	a4.ss_family = AF_INET;
	((struct sockaddr_in *)&a4)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a6.ss_family = AF_INET6;
	((struct sockaddr_in6 *)&a6)->sin6_addr = in6addr_loopback;
	spec_fast(&sp, EXLB_CHECK_ICMP);
	exlb_health_add(hc, 70, &a4, &sp);
	exlb_health_add(hc, 71, &a6, &sp);
	wait_state(70, true, 1.0);
	wait_state(71, true, 1.0);
	c4 = last_change(70);
	c6 = last_change(71);
	if (c4 && !c4->up && strstr(c4->reason, "icmp socket")) {
		printf("ok %d - icmp: # SKIP no ping or raw socket (%s)\n",
		       ++test_no, c4->reason);
	} else {
		report(c4 && c4->up, "icmp: 127.0.0.1 answers (%s)",
		       c4 ? c4->reason : "-");
		report(c6 && c6->up, "icmp: ::1 answers (%s)",
		       c6 ? c6->reason : "-");
	}
	exlb_health_del(hc, 70);
	exlb_health_del(hc, 71);
}

static void test_update_and_delete(void)
{
	struct exlb_check_spec sp;
	struct srv s;
	bool up;
	int r;

	srv_start(&s, SRV_HTTP, AF_INET);
	strcpy(s.fail_path, "/bad");
	spec_fast(&sp, EXLB_CHECK_HTTP);
	strcpy(sp.url, "/bad");
	exlb_health_add(hc, 80, &s.addr, &sp);
	report(wait_state(80, false, 1.5), "update: starts down on a bad URL");
	strcpy(sp.url, "/good");
	r = exlb_health_update(hc, 80, &s.addr, &sp);
	report(r == 0 && wait_state(80, true, 1.0), "update: new URL brings it up");
	report(exlb_health_update(hc, 81, &s.addr, &sp) == -ENOENT,
	       "update: unknown id is -ENOENT");
	exlb_health_del(hc, 80);

	/* deleting itself from on_change, in the middle of an attempt's end */
	spec_fast(&sp, EXLB_CHECK_SMTP);
	srv_stop(&s);
	srv_start(&s, SRV_SMTP, AF_INET);
	delete_on_change = 82;
	exlb_health_add(hc, 82, &s.addr, &sp);
	run_for(0.5);
	r = exlb_health_state(hc, 82, &up, NULL, 0);
	report(r == -ENOENT && count_changes(82) == 1,
	       "delete: a target deleted by its own on_change is gone cleanly");
	delete_on_change = UINT64_MAX;
	srv_stop(&s);
}

/*
 * Passive health: a target marked down from outside is down until a check
 * passes; the change is reported like a failed check's, once.
 */
static void test_set_down(void)
{
	struct exlb_check_spec sp;
	char reason[128];
	struct srv s;
	bool up;
	int r, n;

	srv_start(&s, SRV_SMTP, AF_INET);
	spec_fast(&sp, EXLB_CHECK_TCP);
	sp.interval_ms = 1000;
	exlb_health_add(hc, 95, &s.addr, &sp);
	report(wait_state(95, true, 1.5), "set_down: the target is up first");
	n = count_changes(95);
	r = exlb_health_set_down(hc, 95, "passive: 2 connect failures (timeout)");
	exlb_health_state(hc, 95, &up, reason, sizeof(reason));
	report(r == 1 && !up && count_changes(95) == n + 1 &&
	       !strcmp(reason, "passive: 2 connect failures (timeout)"),
	       "set_down: down at once, reported once, with its reason (%d, %s)",
	       r, reason);
	r = exlb_health_set_down(hc, 95, "passive: again");
	report(r == 0 && count_changes(95) == n + 1,
	       "set_down: a down target stays as it is (%d)", r);
	report(exlb_health_set_down(hc, 96, "x") == -ENOENT,
	       "set_down: an unknown target is -ENOENT");
	report(wait_state(95, true, 1.5) && count_changes(95) == n + 2,
	       "set_down: the next passing check brings it up");
	exlb_health_del(hc, 95);
	srv_stop(&s);
}

/* A new target's first check comes at once, whatever its interval. */
static void test_first_at_once(void)
{
	struct exlb_check_spec sp;
	struct srv s;
	int i, up = 0;
	bool st;

	srv_start(&s, SRV_SMTP, AF_INET);
	spec_fast(&sp, EXLB_CHECK_TCP);
	sp.interval_ms = 60000;
	for (i = 0; i < 20; i++)
		exlb_health_add(hc, 2000 + i, &s.addr, &sp);
	run_for(1.3);
	for (i = 0; i < 20; i++)
		up += !exlb_health_state(hc, 2000 + i, &st, NULL, 0) && st;
	report(up == 20, "first check at once: %d of 20 targets with a 60 s interval up in 1.3 s",
	       up);
	for (i = 0; i < 20; i++)
		exlb_health_del(hc, 2000 + i);
	srv_stop(&s);
}

/* First checks are spread over the interval, not fired at once. */
static void test_jitter(void)
{
	struct exlb_check_spec sp;
	struct exlb_health_stats st;
	struct srv s;
	int i, early;

	srv_start(&s, SRV_SMTP, AF_INET);
	spec_fast(&sp, EXLB_CHECK_TCP);
	sp.interval_ms = 1000;
	for (i = 0; i < 200; i++)
		exlb_health_add(hc, 1000 + i, &s.addr, &sp);
	run_for(0.25);
	early = s.accepted;
	run_for(0.85);
	report(early > 10 && early < 120 && s.accepted >= 195,
	       "jitter: %d of 200 first checks in the first quarter, %d in one interval",
	       early, s.accepted);
	exlb_health_get_stats(hc, &st);
	report(st.targets == 200, "stats: 200 targets (%u), %llu checks",
	       st.targets, (unsigned long long)st.checks);
	for (i = 0; i < 200; i++)
		exlb_health_del(hc, 1000 + i);
	exlb_health_get_stats(hc, &st);
	report(st.targets == 0 && st.in_flight == 0, "stats: all gone, nothing in flight");
	srv_stop(&s);
}

/* ---- TLS: a blocking HTTPS server in a child with a fresh self-signed cert */

static SSL_CTX *tls_server_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;

	if (!ctx || !key || !x)
		return NULL;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"exlb-test", -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, key, EVP_sha256()) ||
	    SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1)
		return NULL;
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
}

/*
 * Serves @n connections: 200 unless the request names /fail. Logs one line
 * per handshake to @report_fd: the SNI and F (full) or R (resumed).
 */
static void tls_server(int lfd, int n, int report_fd)
{
	SSL_CTX *ctx = tls_server_ctx();
	int i;

	if (!ctx)
		_exit(3);
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) & ~O_NONBLOCK);
	alarm(10);	/* never outlive the test */
	for (i = 0; i < n; i++) {
		char buf[1024] = "";
		const char *sni;
		int fd = accept(lfd, NULL, NULL), r, got = 0;
		SSL *ssl;

		if (fd < 0)
			_exit(4);
		ssl = SSL_new(ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			while (!strstr(buf, "\r\n\r\n") && got < (int)sizeof(buf) - 1 &&
			       (r = SSL_read(ssl, buf + got, sizeof(buf) - 1 - got)) > 0) {
				got += r;
				buf[got] = '\0';
			}
			sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
			dprintf(report_fd, "%s %c\n", sni ? sni : "-",
				SSL_session_reused(ssl) ? 'R' : 'F');
			if (strstr(buf, "/fail"))
				SSL_write(ssl, "HTTP/1.1 500 Oops\r\n\r\n", 21);
			else
				SSL_write(ssl, "HTTP/1.1 200 OK\r\n"
					  "Content-Length: 2\r\n\r\nOK", 40);
			SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		close(fd);
	}
	_exit(0);
}

static void test_https(void)
{
	struct exlb_check_spec sp;
	const struct change *c;
	struct srv s;
	int pipefd[2], status, i;
	char log[2048], seq[8], *p;
	size_t got;
	bool ok;
	pid_t pid;
	ssize_t r;

	/* srv_start only for a bound listening socket; the child accepts */
	srv_start(&s, SRV_HANG, AF_INET);
	ev_io_stop(loop, &s.w);
	if (pipe(pipefd) < 0)
		exit(2);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		tls_server(s.fd, 20, pipefd[1]);
	}
	close(pipefd[1]);

	/* each target is deleted at its first verdict: one attempt each */
	spec_fast(&sp, EXLB_CHECK_HTTPS);
	sp.interval_ms = 1500;
	sp.timeout_ms = 1000;
	sp.retry_count = 1;
	strcpy(sp.host, "owa.example.test");
	exlb_health_add(hc, 90, &s.addr, &sp);
	report(wait_state(90, true, 2.0), "https: self-signed backend is up");
	c = last_change(90);
	report(c && !strcmp(c->reason, "HTTP 200"), "https: reason (%s)",
	       c ? c->reason : "-");
	exlb_health_del(hc, 90);
	strcpy(sp.url, "/fail");
	sp.host[0] = '\0';
	exlb_health_add(hc, 91, &s.addr, &sp);
	report(wait_state(91, false, 2.0), "https: 500 is down");
	exlb_health_del(hc, 91);

	/* plain HTTP to the TLS port: the handshake must fail, not hang */
	spec_fast(&sp, EXLB_CHECK_HTTP);
	sp.interval_ms = 1500;
	sp.timeout_ms = 1000;
	sp.retry_count = 1;
	exlb_health_add(hc, 92, &s.addr, &sp);
	ok = wait_state(92, false, 2.0);
	report(ok, "http to a TLS port is down (%s)",
	       last_change(92) ? last_change(92)->reason : "-");
	exlb_health_del(hc, 92);

	/* resumption: full, resumed, resumed, then full again (every 3rd) */
	exlb_health_set_tls_resume(hc, 3);
	spec_fast(&sp, EXLB_CHECK_HTTPS);
	strcpy(sp.host, "resume.example.test");
	exlb_health_add(hc, 94, &s.addr, &sp);
	report(wait_state(94, true, 1.0), "https with session resumption is up");
	run_for(0.2 * 4);
	exlb_health_del(hc, 94);
	exlb_health_set_tls_resume(hc, 1);

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	for (got = 0; got < sizeof(log) - 1; got += r) {
		r = read(pipefd[0], log + got, sizeof(log) - 1 - got);
		if (r <= 0)
			break;
	}
	log[got] = '\0';
	close(pipefd[0]);
	close(s.fd);
	report(!strncmp(log, "owa.example.test F\n127.0.0.1 F\n", 31),
	       "https: SNI = CheckHost, else the address; full handshakes");
	p = strstr(log, "resume.example.test");
	for (i = 0; p && i < 4; i++) {
		seq[i] = p[strlen("resume.example.test ")];
		p = strstr(p + 1, "resume.example.test");
	}
	seq[i] = '\0';
	report(!strcmp(seq, "FRRF"),
	       "https: resume 3 = full, resumed, resumed, full (%s)", seq);

	/* TLS to a server that answers in cleartext */
	srv_start(&s, SRV_POP3_ERR, AF_INET);
	spec_fast(&sp, EXLB_CHECK_HTTPS);
	sp.retry_count = 1;
	exlb_health_add(hc, 93, &s.addr, &sp);
	ok = wait_state(93, false, 1.0);
	report(ok && !strncmp(last_change(93)->reason, "TLS handshake:", 14),
	       "https to a plain port fails in the handshake (%s)",
	       last_change(93) ? last_change(93)->reason : "-");
	exlb_health_del(hc, 93);
	srv_stop(&s);
}

int main(void)
{
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	loop = ev_default_loop(0);
	hc = exlb_health_new(loop, on_change, NULL);
	if (!hc) {
		printf("not ok 1 - exlb_health_new\n");
		return 1;
	}
	test_names();
	test_bad_specs();
	test_tcp();
	test_http_basic();
	test_http_ipv6();
	test_http_codes();
	test_flip_and_timing();
	test_subvs_isolation();
	test_hang();
	test_mail();
	test_icmp();
	test_update_and_delete();
	test_jitter();
	test_set_down();
	test_first_at_once();
	test_https();

	exlb_health_free(hc);
	for (i = 0; i < n_held; i++)
		close(held[i]);
	ev_loop_destroy(loop);
	diag("%d tests, %d failed", test_no, failures);
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
