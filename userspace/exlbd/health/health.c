// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The health-check engine (see health.h): the target table, the schedule
 * (jittered first start, one start per interval), the verdict state machine,
 * and the non-blocking socket and TLS plumbing shared by every stream check.
 * What to send and what to expect lives in health_http.c and health_mail.c;
 * ICMP in health_icmp.c.
 *
 * One ev_timer per target serves both as "next start" (while idle) and as the
 * attempt's timeout (while a socket is open), so 10k targets cost 10k heap
 * entries and no per-attempt allocation except the TLS session.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>

#include <openssl/err.h>

#include "health_int.h"

static const char *const check_type_names[__EXLB_CHECK_LAST] = {
	[EXLB_CHECK_NONE] = "none",
	[EXLB_CHECK_TCP] = "tcp",
	[EXLB_CHECK_ICMP] = "icmp",
	[EXLB_CHECK_HTTP] = "http",
	[EXLB_CHECK_HTTPS] = "https",
	[EXLB_CHECK_SMTP] = "smtp",
	[EXLB_CHECK_IMAP4] = "imap4",
	[EXLB_CHECK_POP3] = "pop3",
};

static const struct hc_proto *const check_protos[__EXLB_CHECK_LAST] = {
	[EXLB_CHECK_TCP] = &hc_proto_tcp,
	[EXLB_CHECK_HTTP] = &hc_proto_http,
	[EXLB_CHECK_HTTPS] = &hc_proto_https,
	[EXLB_CHECK_SMTP] = &hc_proto_smtp,
	[EXLB_CHECK_IMAP4] = &hc_proto_imap4,
	[EXLB_CHECK_POP3] = &hc_proto_pop3,
};

static const char *const phase_names[] = {
	[HC_IDLE] = "idle",
	[HC_CONNECTING] = "connect",
	[HC_TLS_HANDSHAKE] = "TLS handshake",
	[HC_TALKING] = "response",
	[HC_QUITTING] = "quit",
	[HC_PINGING] = "echo reply",
};

void exlb_check_spec_init(struct exlb_check_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->type = EXLB_CHECK_TCP;
	strcpy(spec->url, "/");
	spec->use_get = EXLB_CHECK_HEAD;
	spec->interval_ms = EXLB_CHECK_DEFAULT_INTERVAL_MS;
	spec->timeout_ms = EXLB_CHECK_DEFAULT_TIMEOUT_MS;
	spec->retry_count = EXLB_CHECK_DEFAULT_RETRY_COUNT;
	spec->rise = EXLB_CHECK_DEFAULT_RISE;
}

int exlb_check_type_from_name(const char *name)
{
	int i;

	if (!strcasecmp(name, "imap"))	/* Kemp's own spelling */
		return EXLB_CHECK_IMAP4;
	for (i = 0; i < __EXLB_CHECK_LAST; i++)
		if (!strcasecmp(name, check_type_names[i]))
			return i;
	return -1;
}

const char *exlb_check_type_name(enum exlb_check_type type)
{
	if ((unsigned int)type >= __EXLB_CHECK_LAST)
		return "?";
	return check_type_names[type];
}

/* ---- small helpers shared with the protocol files ---- */

bool hc_tx_printf(struct hc_target *t, const char *fmt, ...)
{
	size_t room = sizeof(t->tx) - t->tx_len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->tx + t->tx_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return false;
	t->tx_len += n;
	return true;
}

enum hc_step hc_fail(struct hc_target *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	return HC_FAIL;
}

void hc_addr_text(const struct sockaddr_storage *ss, bool brackets,
		  char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
			  a, sizeof(a));
		snprintf(buf, n, brackets ? "[%s]" : "%s", a);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
			  a, sizeof(a));
		snprintf(buf, n, "%s", a);
	}
}

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void addr_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

/* xorshift64*: jitter only, no need for quality. */
static uint64_t hc_random(struct exlb_health *h)
{
	h->rng ^= h->rng >> 12;
	h->rng ^= h->rng << 25;
	h->rng ^= h->rng >> 27;
	return h->rng * 0x2545F4914F6CDD1DULL;
}

/* ---- the target table ---- */

static unsigned int id_bucket(const struct exlb_health *h, uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return id & (h->n_buckets - 1);
}

static struct hc_target *target_find(struct exlb_health *h, uint64_t id)
{
	struct hc_target *t;

	for (t = h->buckets[id_bucket(h, id)]; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

static int table_grow(struct exlb_health *h)
{
	unsigned int old_n = h->n_buckets, i;
	struct hc_target **old = h->buckets, *t, *next;
	struct hc_target **nb = calloc(old_n * 2, sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	h->buckets = nb;
	h->n_buckets = old_n * 2;
	for (i = 0; i < old_n; i++) {
		for (t = old[i]; t; t = next) {
			unsigned int b = id_bucket(h, t->id);

			next = t->next;
			t->next = nb[b];
			nb[b] = t;
		}
	}
	free(old);
	return 0;
}

static void table_unlink(struct exlb_health *h, struct hc_target *t)
{
	struct hc_target **pp = &h->buckets[id_bucket(h, t->id)];

	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	h->n_targets--;
}

/* ---- spec and address checks ---- */

/* No CR, LF, space or control byte may reach a request line or header. */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static int spec_normalise(struct exlb_check_spec *out,
			  const struct exlb_check_spec *in)
{
	int i;

	*out = *in;
	if ((unsigned int)out->type >= __EXLB_CHECK_LAST)
		return -EINVAL;
	out->url[sizeof(out->url) - 1] = '\0';
	out->host[sizeof(out->host) - 1] = '\0';
	if (!out->url[0])
		strcpy(out->url, "/");
	if (!header_safe(out->url) || !header_safe(out->host))
		return -EINVAL;
	if (out->use_get < EXLB_CHECK_HEAD || out->use_get > EXLB_CHECK_OPTIONS)
		return -EINVAL;
	if (out->n_extra_codes < 0 ||
	    out->n_extra_codes > EXLB_CHECK_MAX_EXTRA_CODES)
		return -EINVAL;
	for (i = 0; i < out->n_extra_codes; i++)
		if (out->extra_codes[i] < 100 || out->extra_codes[i] > 599)
			return -EINVAL;
	if (!out->interval_ms)
		out->interval_ms = EXLB_CHECK_DEFAULT_INTERVAL_MS;
	if (!out->timeout_ms)
		out->timeout_ms = EXLB_CHECK_DEFAULT_TIMEOUT_MS;
	if (!out->retry_count)
		out->retry_count = EXLB_CHECK_DEFAULT_RETRY_COUNT;
	if (!out->rise)
		out->rise = EXLB_CHECK_DEFAULT_RISE;
	return 0;
}

/* The address checks go to: the RS address with CheckPort if set. */
static int check_addr(struct hc_target *t, const struct sockaddr_storage *rs)
{
	if (rs->ss_family == AF_INET)
		t->addrlen = sizeof(struct sockaddr_in);
	else if (rs->ss_family == AF_INET6)
		t->addrlen = sizeof(struct sockaddr_in6);
	else
		return -EINVAL;
	memcpy(&t->addr, rs, t->addrlen);
	if (t->spec.port)
		addr_set_port(&t->addr, t->spec.port);
	if (t->spec.type != EXLB_CHECK_NONE &&
	    t->spec.type != EXLB_CHECK_ICMP && !addr_port(&t->addr))
		return -EINVAL;
	return 0;
}

/* ---- one attempt ---- */

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static void want(struct hc_target *t, int events)
{
	if (ev_is_active(&t->io) && (t->io.events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(t->h->loop, &t->io);
	ev_io_set(&t->io, t->fd, events);
	ev_io_start(t->h->loop, &t->io);
}

/* Closes the attempt's socket and arms the timer for the next start. */
static void end_attempt(struct hc_target *t)
{
	struct exlb_health *h = t->h;
	ev_tstamp next;

	ev_io_stop(h->loop, &t->io);
	if (t->ssl) {
		/* close_notify if the socket takes it now; never wait for it */
		if (t->phase == HC_TALKING || t->phase == HC_QUITTING)
			SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
		t->ssl = NULL;
		ERR_clear_error();
	}
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
		h->in_flight--;
	}
	t->phase = HC_IDLE;

	/*
	 * Fixed cadence from the start, so jitter spread stays spread; after
	 * the first attempt (run at once) the second starts at the target's
	 * random place in the interval (schedule_first()) -- sooner than a
	 * whole interval, so a failure right after the first check is still
	 * seen within RetryCount intervals.
	 */
	next = t->started + (t->first_shift > 0 ? t->first_shift :
			     t->spec.interval_ms / 1000.0) - ev_now(h->loop);
	t->first_shift = 0;
	if (next < 0)
		next = 0;
	ev_timer_stop(h->loop, &t->timer);
	ev_timer_set(&t->timer, next, 0);
	ev_timer_start(h->loop, &t->timer);
}

/*
 * Counts one check result into the state machine. Returns true if the state
 * changed; the caller reports it with notify() as its very last action, since
 * on_change may delete the target.
 */
/*
 * A reason's class, for /metrics: a few fixed words instead of the text
 * with its numbers and error strings, so that a label stays bounded.
 */
static const char *reason_class(bool ok, const char *why)
{
	static const struct {
		const char *prefix, *cls;
	} classes[] = {
		{ "timeout", "timeout" }, { "connect", "connect" },
		{ "socket", "connect" }, { "TLS", "tls" }, { "icmp", "icmp" },
		{ "HTTP ", "http_status" }, { "read", "io" }, { "recv", "io" },
		{ "send", "io" }, { "write", "io" }, { "no check", "none" },
	};

	if (ok)
		return "ok";
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (!strncmp(why, classes[i].prefix, strlen(classes[i].prefix)))
			return classes[i].cls;
	return "protocol";	/* a greeting, status line or answer not right */
}

static bool verdict(struct hc_target *t, bool ok, const char *why)
{
	struct exlb_health *h = t->h;
	enum hc_state old = t->state;

	h->checks++;
	snprintf(t->reason, sizeof(t->reason), "%s", why);
	t->last_s = ev_time() - t->started;
	t->last_class = reason_class(ok, why);
	if (ok) {
		h->ok++;
		t->fails = 0;
		t->successes++;
		if (t->state == HC_UNKNOWN ||
		    (t->state == HC_DOWN && t->successes >= t->spec.rise))
			t->state = HC_UP;
	} else {
		h->failed++;
		t->successes = 0;
		t->fails++;
		if (t->state != HC_DOWN && t->fails >= t->spec.retry_count)
			t->state = HC_DOWN;
	}
	return t->state != old;
}

static void notify(struct hc_target *t)
{
	struct exlb_health *h = t->h;

	if (h->on_change)
		h->on_change(h->ctx, t->id, t->state == HC_UP, t->reason);
}

static void tls_forget(struct hc_target *t)
{
	SSL_SESSION_free(t->tls_session);
	t->tls_session = NULL;
	t->tls_resumed = 0;
}

/*
 * Keeps the TLS session of a good check for the next one, unless a full
 * handshake is due; any failure forgets it, so a broken server is judged
 * by full handshakes only.
 */
static void tls_remember(struct hc_target *t, bool ok)
{
	SSL_SESSION *s;

	if (!ok || !t->ssl || t->h->tls_full_every < 2) {
		tls_forget(t);
		return;
	}
	t->tls_resumed = SSL_session_reused(t->ssl) ? t->tls_resumed + 1 : 0;
	SSL_SESSION_free(t->tls_session);
	t->tls_session = NULL;
	if (t->tls_resumed + 1 >= t->h->tls_full_every)
		return;
	s = SSL_get1_session(t->ssl);
	if (s && SSL_SESSION_is_resumable(s))
		t->tls_session = s;
	else
		SSL_SESSION_free(s);
}

/* The attempt ends with a verdict. Must be the caller's last touch of t. */
static void finish(struct hc_target *t, bool ok)
{
	bool changed;

	if (!t->why[0])
		snprintf(t->why, sizeof(t->why), ok ? "ok" : "failed");
	if (t->proto && t->proto->tls)
		tls_remember(t, ok);
	end_attempt(t);
	changed = verdict(t, ok, t->why);
	if (changed)
		notify(t);
}

/*
 * An I/O error ends the attempt: as a failure while talking, quietly once the
 * verdict is in and only the goodbye was left.
 */
static void finish_error(struct hc_target *t)
{
	if (t->phase == HC_QUITTING)
		end_attempt(t);
	else
		finish(t, false);
}

static void fail_errno(struct hc_target *t, const char *what, int err)
{
	hc_fail(t, "%s: %s", what, strerror(err));
	finish_error(t);
}

/* The TLS error of the last failed call, short. */
static void fail_tls(struct hc_target *t, const char *what, int ssl_err)
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		hc_fail(t, "TLS %s: %s", what, ERR_reason_error_string(e) ?: "error");
	else if (ssl_err == SSL_ERROR_SYSCALL && errno)
		hc_fail(t, "TLS %s: %s", what, strerror(errno));
	else
		hc_fail(t, "TLS %s: connection closed", what);
	finish_error(t);
}

/*
 * Reads into rx. >0 bytes, 0 at EOF, -1 would block (waiting set up),
 * -2 on error (attempt finished).
 */
static ssize_t hc_recv(struct hc_target *t, char *buf, size_t n)
{
	ssize_t r;

	if (t->ssl) {
		int sr, err;

		ERR_clear_error();
		sr = SSL_read(t->ssl, buf, n);
		if (sr > 0)
			return sr;
		err = SSL_get_error(t->ssl, sr);
		switch (err) {
		case SSL_ERROR_WANT_READ:
			want(t, EV_READ);
			return -1;
		case SSL_ERROR_WANT_WRITE:
			want(t, EV_WRITE);
			return -1;
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		default:
			fail_tls(t, "read", err);
			return -2;
		}
	}
	r = recv(t->fd, buf, n, 0);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		want(t, EV_READ);
		return -1;
	}
	fail_errno(t, "recv", errno);
	return -2;
}

/* Sends what is left of tx. 1 all sent, -1 would block, -2 error (finished). */
static int hc_flush(struct hc_target *t)
{
	while (t->tx_off < t->tx_len) {
		size_t n = t->tx_len - t->tx_off;
		ssize_t r;

		if (t->ssl) {
			int sr, err;

			ERR_clear_error();
			sr = SSL_write(t->ssl, t->tx + t->tx_off, n);
			if (sr > 0) {
				t->tx_off += sr;
				continue;
			}
			err = SSL_get_error(t->ssl, sr);
			if (err == SSL_ERROR_WANT_WRITE) {
				want(t, EV_WRITE);
				return -1;
			}
			if (err == SSL_ERROR_WANT_READ) {
				want(t, EV_READ);
				return -1;
			}
			fail_tls(t, "write", err);
			return -2;
		}
		r = send(t->fd, t->tx + t->tx_off, n, MSG_NOSIGNAL);
		if (r >= 0) {
			t->tx_off += r;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			want(t, EV_WRITE);
			return -1;
		}
		fail_errno(t, "send", errno);
		return -2;
	}
	return 1;
}

/*
 * Hands complete lines in rx to the protocol. Returns the first step that
 * is not HC_MORE, or HC_MORE when rx holds no complete line any more.
 * A line longer than rx is cut: the protocols judge the first bytes only.
 */
static enum hc_step feed_lines(struct hc_target *t)
{
	enum hc_step step = HC_MORE;

	while (step == HC_MORE && t->rx_len) {
		char *nl = memchr(t->rx, '\n', t->rx_len);
		size_t len, used;

		if (nl) {
			len = nl - t->rx;
			used = len + 1;
		} else if (t->rx_len == sizeof(t->rx) - 1) {
			len = used = t->rx_len;
		} else {
			break;
		}
		if (len && t->rx[len - 1] == '\r')
			len--;
		t->rx[len] = '\0';	/* over CR or LF; rx has room after a cut line */
		step = t->proto->line(t, t->rx, len);
		t->rx_len -= used;
		memmove(t->rx, t->rx + used, t->rx_len);
	}
	return step;
}

static void run_step(struct hc_target *t, enum hc_step step);

/*
 * Moves the conversation on as far as the socket allows: send what is
 * queued, hand over buffered lines, read more. Ends in a wait or a verdict.
 */
static void pump(struct hc_target *t)
{
	for (;;) {
		enum hc_step step;
		ssize_t r;
		int f;

		f = hc_flush(t);
		if (f == -1)
			return;
		if (f == -2)
			return;
		if (t->phase == HC_QUITTING) {
			char sink[256];

			/* the goodbye went out; any answer or EOF ends it */
			r = hc_recv(t, sink, sizeof(sink));
			if (r == -1 || r == -2)
				return;
			end_attempt(t);
			return;
		}
		step = feed_lines(t);
		if (step != HC_MORE) {
			run_step(t, step);
			return;
		}
		/* leave a byte for the terminating NUL of a cut line */
		r = hc_recv(t, t->rx + t->rx_len, sizeof(t->rx) - 1 - t->rx_len);
		if (r == -1 || r == -2)
			return;
		if (r == 0) {
			if (t->rx_len) {	/* a last line without LF */
				t->rx[t->rx_len] = '\0';
				step = t->proto->line(t, t->rx, t->rx_len);
				t->rx_len = 0;
				if (step != HC_MORE) {
					run_step(t, step);
					return;
				}
			}
			run_step(t, t->proto->line(t, NULL, 0));
			return;
		}
		t->rx_len += r;
	}
}

static void run_step(struct hc_target *t, enum hc_step step)
{
	bool changed;

	switch (step) {
	case HC_MORE:
	case HC_SEND:
		t->phase = HC_TALKING;
		pump(t);
		return;
	case HC_OK:
		finish(t, true);
		return;
	case HC_FAIL:
		finish(t, false);
		return;
	case HC_OK_QUIT:
		/*
		 * The verdict is in; say goodbye within what is left of the
		 * timeout so the server logs a clean end, not a lost client.
		 */
		changed = verdict(t, true, t->why);
		t->phase = HC_QUITTING;
		pump(t);
		/* pump only closes the socket here; t is still ours */
		if (changed)
			notify(t);
		return;
	}
}

static void tls_handshake(struct hc_target *t)
{
	int r, err;

	ERR_clear_error();
	r = SSL_connect(t->ssl);
	if (r == 1) {
		t->phase = HC_TALKING;
		run_step(t, t->proto->begin(t));
		return;
	}
	err = SSL_get_error(t->ssl, r);
	if (err == SSL_ERROR_WANT_READ)
		want(t, EV_READ);
	else if (err == SSL_ERROR_WANT_WRITE)
		want(t, EV_WRITE);
	else
		fail_tls(t, "handshake", err);
}

static SSL_CTX *tls_ctx(struct exlb_health *h)
{
	SSL_CTX *c;

	if (h->ssl_ctx)
		return h->ssl_ctx;
	c = SSL_CTX_new(TLS_client_method());
	if (!c)
		return NULL;
	/* backends with self-signed or expired certificates are normal: Kemp
	 * does not verify either; the check is about the service answering */
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	/* old Exchange/IIS backends: accept their (weaker) keys and suites */
	SSL_CTX_set_security_level(c, 1);
	/* sessions are kept per target by hand (tls_remember), not in a cache */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF);
	h->ssl_ctx = c;
	return c;
}

static void connected(struct hc_target *t)
{
	char sni[256];
	SSL_CTX *c;

	if (!t->proto->tls) {
		t->phase = HC_TALKING;
		run_step(t, t->proto->begin(t));
		return;
	}
	c = tls_ctx(t->h);
	t->ssl = c ? SSL_new(c) : NULL;
	if (!t->ssl || !SSL_set_fd(t->ssl, t->fd)) {
		hc_fail(t, "TLS: out of memory");
		finish(t, false);
		return;
	}
	if (t->spec.host[0])
		snprintf(sni, sizeof(sni), "%s", t->spec.host);
	else
		hc_addr_text(&t->addr, false, sni, sizeof(sni));
	SSL_set_tlsext_host_name(t->ssl, sni);
	if (t->tls_session)
		SSL_set_session(t->ssl, t->tls_session);
	t->phase = HC_TLS_HANDSHAKE;
	tls_handshake(t);
}

static void start_attempt(struct hc_target *t)
{
	struct exlb_health *h = t->h;
	int fd;

	t->started = ev_now(h->loop);
	t->why[0] = '\0';
	t->rx_len = t->tx_len = t->tx_off = 0;
	t->proto_state = 0;

	if (t->spec.type == EXLB_CHECK_NONE) {
		snprintf(t->why, sizeof(t->why), "no check");
		finish(t, true);
		return;
	}

	ev_timer_stop(h->loop, &t->timer);
	ev_timer_set(&t->timer, t->spec.timeout_ms / 1000.0, 0);
	ev_timer_start(h->loop, &t->timer);

	if (t->spec.type == EXLB_CHECK_ICMP) {
		if (hc_icmp_start(t) < 0) {
			finish(t, false);
			return;
		}
		h->in_flight++;
		t->phase = HC_PINGING;
		want(t, EV_READ);
		return;
	}

	fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_TCP);
	if (fd < 0) {
		fail_errno(t, "socket", errno);
		return;
	}
	t->fd = fd;
	h->in_flight++;
	t->phase = HC_CONNECTING;
	if (connect(fd, (struct sockaddr *)&t->addr, t->addrlen) == 0) {
		connected(t);
		return;
	}
	if (errno != EINPROGRESS) {
		fail_errno(t, "connect", errno);
		return;
	}
	want(t, EV_WRITE);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hc_target *t = w->data;
	int err = 0, r;
	socklen_t len = sizeof(err);

	(void)loop;
	(void)revents;
	switch (t->phase) {
	case HC_CONNECTING:
		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == EINPROGRESS)
			return;
		if (err) {
			fail_errno(t, "connect", err);
			return;
		}
		connected(t);
		return;
	case HC_TLS_HANDSHAKE:
		tls_handshake(t);
		return;
	case HC_TALKING:
	case HC_QUITTING:
		pump(t);
		return;
	case HC_PINGING:
		r = hc_icmp_read(t);
		if (r > 0)
			finish(t, true);
		else if (r < 0)
			finish(t, false);
		return;
	case HC_IDLE:
		ev_io_stop(t->h->loop, &t->io);	/* stale; cannot happen */
		return;
	}
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hc_target *t = w->data;

	(void)loop;
	(void)revents;
	switch (t->phase) {
	case HC_IDLE:
		start_attempt(t);
		return;
	case HC_QUITTING:
		end_attempt(t);	/* verdict already counted */
		return;
	default:
		hc_fail(t, "timeout after %u ms (%s)", t->spec.timeout_ms,
			phase_names[t->phase]);
		finish(t, false);
		return;
	}
}

/* Drops a running attempt without a verdict. */
static void abort_attempt(struct hc_target *t)
{
	if (t->phase != HC_IDLE)
		end_attempt(t);
	ev_timer_stop(t->h->loop, &t->timer);
}

/*
 * A new target is checked at once -- within the first HC_FIRST_SPREAD_MS,
 * spread so that a configuration of thousands does not fire in one go --
 * and then at a random place in the interval, as if its first start had
 * been there: an RS gets its verdict within a second of being added, and
 * the checks of many targets stay spread over the whole interval.
 */
static void schedule_first(struct hc_target *t)
{
	uint64_t place = hc_random(t->h) % (t->spec.interval_ms * 1000ULL);
	uint64_t spread = t->spec.interval_ms < HC_FIRST_SPREAD_MS ?
			  t->spec.interval_ms * 1000ULL : HC_FIRST_SPREAD_MS * 1000ULL;
	ev_tstamp delay = (place % spread) / 1e6;

	t->first_shift = (place - place % spread) / 1e6;
	ev_timer_stop(t->h->loop, &t->timer);
	ev_timer_set(&t->timer, delay, 0);
	ev_timer_start(t->h->loop, &t->timer);
}

/* ---- public API ---- */

struct exlb_health *exlb_health_new(struct ev_loop *loop,
				    exlb_health_change_fn on_change, void *ctx)
{
	struct exlb_health *h = calloc(1, sizeof(*h));
	struct sigaction sa;

	if (!h)
		return NULL;
	h->n_buckets = 256;
	h->buckets = calloc(h->n_buckets, sizeof(*h->buckets));
	if (!h->buckets) {
		free(h);
		return NULL;
	}
	h->loop = loop;
	h->tls_full_every = EXLB_HEALTH_TLS_FULL_EVERY;
	h->on_change = on_change;
	h->ctx = ctx;
	if (getrandom(&h->rng, sizeof(h->rng), GRND_NONBLOCK) != sizeof(h->rng))
		h->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	h->rng |= 1;	/* xorshift must not start at 0 */

	/* a backend closing during SSL_write must not kill the daemon */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	return h;
}

void exlb_health_free(struct exlb_health *h)
{
	unsigned int i;

	if (!h)
		return;
	for (i = 0; i < h->n_buckets; i++) {
		struct hc_target *t, *next;

		for (t = h->buckets[i]; t; t = next) {
			next = t->next;
			abort_attempt(t);
			tls_forget(t);
			free(t);
		}
	}
	free(h->buckets);
	SSL_CTX_free(h->ssl_ctx);
	free(h);
}

int exlb_health_add(struct exlb_health *h, uint64_t target_id,
		    const struct sockaddr_storage *rs_addr,
		    const struct exlb_check_spec *spec)
{
	struct hc_target *t;
	unsigned int b;
	int err;

	if (target_find(h, target_id))
		return -EEXIST;
	if (h->n_targets >= h->n_buckets * 2) {
		err = table_grow(h);
		if (err)
			return err;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->h = h;
	t->id = target_id;
	t->fd = -1;
	err = spec_normalise(&t->spec, spec);
	if (!err)
		err = check_addr(t, rs_addr);
	if (err) {
		free(t);
		return err;
	}
	t->proto = check_protos[t->spec.type];
	snprintf(t->reason, sizeof(t->reason), "no verdict yet");
	ev_init(&t->io, io_cb);
	t->io.data = t;
	ev_init(&t->timer, timer_cb);
	t->timer.data = t;

	b = id_bucket(h, target_id);
	t->next = h->buckets[b];
	h->buckets[b] = t;
	h->n_targets++;
	schedule_first(t);
	return 0;
}

int exlb_health_update(struct exlb_health *h, uint64_t target_id,
		       const struct sockaddr_storage *rs_addr,
		       const struct exlb_check_spec *spec)
{
	struct hc_target *t = target_find(h, target_id), n;
	bool restart;
	int err;

	if (!t)
		return -ENOENT;
	n.spec = t->spec;
	err = spec_normalise(&n.spec, spec);
	if (!err)
		err = check_addr(&n, rs_addr);
	if (err)
		return err;

	/* timing alone does not disturb a running attempt */
	restart = n.addrlen != t->addrlen ||
		  memcmp(&n.addr, &t->addr, n.addrlen) ||
		  n.spec.type != t->spec.type || n.spec.port != t->spec.port ||
		  strcmp(n.spec.url, t->spec.url) ||
		  strcmp(n.spec.host, t->spec.host) ||
		  n.spec.use_get != t->spec.use_get ||
		  n.spec.use_http11 != t->spec.use_http11 ||
		  n.spec.n_extra_codes != t->spec.n_extra_codes ||
		  memcmp(n.spec.extra_codes, t->spec.extra_codes,
			 sizeof(n.spec.extra_codes));
	if (restart)
		abort_attempt(t);
	t->spec = n.spec;
	t->addr = n.addr;
	t->addrlen = n.addrlen;
	t->proto = check_protos[t->spec.type];
	if (restart) {
		tls_forget(t);
		t->fails = t->successes = 0;
		schedule_first(t);
	}
	return 0;
}

void exlb_health_del(struct exlb_health *h, uint64_t target_id)
{
	struct hc_target *t = target_find(h, target_id);

	if (!t)
		return;
	abort_attempt(t);
	tls_forget(t);
	table_unlink(h, t);
	free(t);
}

int exlb_health_set_down(struct exlb_health *h, uint64_t target_id,
			 const char *reason)
{
	struct hc_target *t = target_find(h, target_id);

	if (!t)
		return -ENOENT;
	if (t->state == HC_DOWN)
		return 0;
	/*
	 * A real transition, as if retry_count checks had failed: only
	 * rise passing checks bring it back, and an attempt that began
	 * before (its success would be stale) is dropped without a verdict.
	 */
	if (t->phase != HC_IDLE)
		end_attempt(t);
	t->state = HC_DOWN;
	t->fails = t->spec.retry_count;
	t->successes = 0;
	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	notify(t);
	return 1;
}

int exlb_health_state(struct exlb_health *h, uint64_t target_id, bool *up,
		      char *reason, size_t n)
{
	struct hc_target *t = target_find(h, target_id);

	*up = false;
	if (!t)
		return -ENOENT;
	if (reason && n)
		snprintf(reason, n, "%s", t->reason);
	if (t->state == HC_UNKNOWN)
		return -EAGAIN;
	*up = t->state == HC_UP;
	return 0;
}

int exlb_health_last_check(struct exlb_health *h, uint64_t target_id,
			   double *seconds, const char **cls)
{
	struct hc_target *t = target_find(h, target_id);

	if (!t || !t->last_class)
		return -ENOENT;
	*seconds = t->last_s;
	*cls = t->last_class;
	return 0;
}

int exlb_health_verdict(struct exlb_health *h, uint64_t target_id, bool *up,
			unsigned int *fails, unsigned int *successes)
{
	struct hc_target *t = target_find(h, target_id);

	*up = false;
	if (!t)
		return -ENOENT;
	*fails = t->fails;
	*successes = t->successes;
	if (t->state == HC_UNKNOWN)
		return -EAGAIN;
	*up = t->state == HC_UP;
	return 0;
}

int exlb_health_seed(struct exlb_health *h, uint64_t target_id, bool up,
		     unsigned int fails, unsigned int successes,
		     const char *reason)
{
	struct hc_target *t = target_find(h, target_id);

	if (!t)
		return -ENOENT;
	t->state = up ? HC_UP : HC_DOWN;
	t->fails = fails;
	t->successes = successes;
	snprintf(t->reason, sizeof(t->reason), "%s", reason ? reason : "");
	return 0;
}

void exlb_health_set_tls_resume(struct exlb_health *h, unsigned int full_every)
{
	h->tls_full_every = full_every;
}

void exlb_health_get_stats(struct exlb_health *h, struct exlb_health_stats *st)
{
	st->checks = h->checks;
	st->ok = h->ok;
	st->failed = h->failed;
	st->targets = h->n_targets;
	st->in_flight = h->in_flight;
}
