// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * STARTTLS for SMTP, IMAP and POP3 (VStype tls): one client connection
 * from accept to close inside its worker's event loop. The protocol
 * decisions are mail_proto.c's; this file owns the sockets, the buffers,
 * the TLS handshake, the relay and the timeouts.
 *
 * Life of a connection: the real server is connected at once (mail
 * servers speak first, whatever ServerInit says) and its greeting is
 * relayed; commands and answers then go line by line in lockstep (one
 * client command at a time, the next only once the server's whole answer
 * is relayed), with capability lists rewritten; the client's STARTTLS is
 * answered here, whatever it pipelined behind it is thrown away, and the
 * TLS handshake runs with the client (kTLS afterwards where it applies);
 * once the session is authenticated (IMAP, POP3) or a mail transaction
 * starts (SMTP), bytes flow both ways unexamined, through splice() where
 * both sides allow it.
 *
 * The sockets, buffers, splice pipes, counters and the timer are the
 * relay's (relay.h), shared with proxy_conn.c: like an HTTP connection, a
 * session is a level-triggered pump -- every event runs mc_pump(), which
 * tries every step that can progress until none does, then has the relay
 * watch exactly the readiness the blocked steps wait for. The deadline
 * depends on the phase (connect, greeting, handshake, commands, relay).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mail_proto.h"
#include "relay.h"

#define MC_GREET_TIMEOUT_S	10.0	/* the server must greet within this of its connect */
#define MC_HANDSHAKE_TIMEOUT_S	15.0
#define MC_CMD_IDLE_MAX_S	300.0	/* before authentication: RFC 5321's 5 min */
#define MC_LOCAL_TIMEOUT_S	10.0	/* to deliver our last words */

enum mc_phase {
	MC_LINES,	/* lockstep command / answer relay */
	MC_TLS_REPLY,	/* our STARTTLS answer is being sent */
	MC_HANDSHAKE,	/* TLS handshake with the client */
	MC_RELAY,	/* bytes both ways */
	MC_CLOSING,	/* our last words are being sent; then close */
};

struct l7_mail_conn {
	struct l7_relay r;	/* endpoints, buffers, pipes, counters, timer */
	struct exlb_tls_vs *tls;	/* a reference; NULL: no STARTTLS */
	unsigned int idle_s;
	struct mail_session ms;
	enum mc_phase phase;
	bool greeted;
	bool s_touched;			/* a byte went to or came from this server */
	uint64_t discarded;		/* pipelined after STARTTLS */
	bool starttls;
	ev_tstamp start, phase_start;
	/* ESP on the VS: SMTPAllowedDomains (ms.rcpt_allowed points here) */
	char *rcpt_allowed;
	unsigned int esp_logs;
};

_Static_assert(offsetof(struct l7_mail_conn, r) == 0,
	       "relay.h: the relay comes first");

static void mc_pump(struct l7_relay *r, int s_revents);

static atomic_bool no_tls_warned;

/* ---- helpers ---- */

static void set_term(struct l7_mail_conn *c, char who, char phase)
{
	l7_relay_set_term(&c->r, who, phase);
}

static char phase_letter(const struct l7_mail_conn *c)
{
	if (c->r.s_connecting || !c->greeted)
		return 'C';
	if (c->phase == MC_RELAY)
		return 'D';
	if (c->phase == MC_HANDSHAKE || c->phase == MC_TLS_REPLY)
		return 'H';
	return 'R';
}

static void set_phase(struct l7_mail_conn *c, enum mc_phase p)
{
	c->phase = p;
	c->phase_start = ev_now(c->r.w->loop);
	l7_relay_arm(&c->r);
}

#define drop_front l7_relay_drop_front

static void mc_log(struct l7_mail_conn *c)
{
	char target[160];
	struct l7_log_entry e = {
		.method = "-",
		.target = target,
		.ms = (ev_now(c->r.w->loop) - c->start) * 1000.0,
	};

	e.target_len = (size_t)snprintf(target, sizeof(target),
					"%s%s;%s;refused=%u;discarded=%llu",
					mail_proto_name(c->ms.proto),
					c->starttls ? "+STARTTLS" : "",
					c->phase == MC_RELAY ? "relay" : "lines",
					c->ms.refused,
					(unsigned long long)c->discarded);
	if (e.target_len >= sizeof(target))
		e.target_len = sizeof(target) - 1;
	l7_relay_log(&c->r, &e);
}

/* Queues @len bytes for the client. */
static int to_client(struct l7_mail_conn *c, const char *p, size_t len)
{
	if (exlb_buf_append(&c->r.to_c, p, len))
		return -1;
	return 0;
}

/*
 * Ends the session after our last words @n to the client (the server
 * side is closed at once).
 */
static void mc_close_with(struct l7_mail_conn *c, enum mail_notice n, char who,
			  char phase)
{
	char msg[160];
	size_t len = mail_notice(c->ms.proto, n, msg, sizeof(msg));

	set_term(c, who, phase);
	l7_relay_server_close(&c->r);
	c->r.to_s.len = 0;
	if (c->r.c.ssl && !c->r.c.handshake_done) {
		/* nothing can be said to a client mid-handshake */
		c->r.dead = true;
		return;
	}
	if (to_client(c, msg, len)) {
		c->r.dead = true;
		return;
	}
	set_phase(c, MC_CLOSING);
}

/* ---- the real server ---- */

static int server_open(struct l7_relay *r, struct l7_subvs *sv,
		       struct l7_rs *rs)
{
	struct l7_mail_conn *c = l7_relay_of(r, struct l7_mail_conn);
	int fd = l7_relay_dial(r->w, rs);

	if (fd < 0) {
		r->rs_id = rs->id;	/* the log names the last one tried */
		return fd;
	}
	l7_relay_server_set(r, fd, rs, sv->connect_s, true);
	l7_ep_track_readiness(&r->s);	/* relay.c on_server_io() reports */
	c->s_touched = false;
	return 0;
}

/*
 * The server connection failed with @err before the server's greeting was
 * relayed and before any byte went either way on it (connect refused,
 * reset, unreachable, our connect or greeting timeout, a close without a
 * word): the session is opened on another serving RS instead, up to
 * L7_CONNECT_TRIES RSs in all; the client has seen nothing of it.
 * @passive: the failure counts towards marking the RS down. False: the
 * caller ends the session as before.
 */
static bool server_retry(struct l7_mail_conn *c, int err, bool passive)
{
	struct l7_vs *vs = l7_plan_vs(c->r.w->plan, c->r.vs_id);
	struct l7_subvs *sv = vs && vs->nr_subvs ? &vs->subvs[0] : NULL;
	struct l7_rs_state *st = c->r.rs_st;
	bool local = err == EMFILE || err == ENFILE || err == ENOMEM;
	bool can = !c->greeted && !c->s_touched && c->phase == MC_LINES;

	/* the failed connection goes only if another may follow */
	if (can && sv && !local && c->r.nr_tried < L7_CONNECT_TRIES) {
		l7_relay_server_close(&c->r);
		l7_relay_server_release(&c->r);
	}
	if (!l7_relay_retry(&c->r, sv, c->r.rs_id, st, err, passive, can))
		return false;	/* no server: the caller's answer finds s closed */
	l7_relay_arm(&c->r);
	return true;
}

static bool server_progress(struct l7_mail_conn *c, int revents)
{
	int err = l7_relay_connect_done(&c->r, revents);

	if (!err)
		return false;
	if (err != 1) {
		if (!server_retry(c, err, true))
			mc_close_with(c, MAIL_NOTICE_UNAVAILABLE, 'S', 'C');
		return true;
	}
	c->r.s.handshake_done = true;
	l7_relay_arm(&c->r);	/* now the greeting's clock runs */
	return true;
}

/* ---- the line phase ---- */

static void start_tls(struct l7_mail_conn *c)
{
	SSL *ssl = exlb_tls_vs_ssl_new(c->tls);

	if (!ssl || !SSL_set_fd(ssl, c->r.c.fd)) {
		SSL_free(ssl);
		set_term(c, 'P', 'H');
		c->r.dead = true;
		return;
	}
	c->r.c.ssl = ssl;
	c->r.c.tls = true;
	c->r.c.handshake_done = false;
	c->r.c.want_ktls = c->r.w->proxy->opts.tls_relay != EXLB_TLS_RELAY_USERSPACE;
	/* the socket BIO reports drained reads; records are read ahead */
	l7_ep_track_readiness(&c->r.c);
	c->r.c.hs_events = EV_READ;
	c->r.c.want_read_events = c->r.c.want_write_events = 0;
	c->starttls = true;
	set_phase(c, MC_HANDSHAKE);
}

/*
 * The client said STARTTLS: whatever else it sent before our answer can
 * only be an injection attempt (CVE-2011-0411): it goes, unread by anyone.
 * Drained from the socket too, before the answer leaves: afterwards the
 * client's ClientHello could be there.
 */
static void discard_pipelined(struct l7_mail_conn *c)
{
	c->discarded += c->r.cin_len;
	c->r.cin_len = 0;
	for (int i = 0; i < 16; i++) {
		ssize_t r = recv(c->r.c.fd, c->r.w->scratch, sizeof(c->r.w->scratch),
				 MSG_DONTWAIT);

		if (r <= 0)
			break;
		c->discarded += (uint64_t)r;
		c->r.bytes_in += (uint64_t)r;
	}
	if (c->discarded)
		exlb_log(LOG_NOTICE, "proxy: VS %u: %s client sent %llu bytes after STARTTLS; discarded",
			 c->r.vs_id, mail_proto_name(c->ms.proto),
			 (unsigned long long)c->discarded);
}

static void enter_relay(struct l7_mail_conn *c)
{
	mail_session_release(&c->ms);
	set_phase(c, MC_RELAY);
}

/* ESPLogs bit 2: a RCPT TO refused by SMTPAllowedDomains (never its local part). */
static void esp_log_rcpt(struct l7_mail_conn *c)
{
	char peer[64];

	if (c->esp_logs & ESP_LOG_SECURITY) {
		l7_sockaddr_format(&c->r.peer, peer, sizeof(peer), true);
		exlb_log(LOG_WARNING, "esp: VS %u: refused %s: RCPT TO domain '%s'%s: %s",
			 c->r.vs_id, peer, c->ms.rcpt_domain,
			 c->ms.tls ? " (after STARTTLS)" : "", c->ms.rcpt_why);
	}
	c->ms.rcpt_why = NULL;
}

static bool client_lines(struct l7_mail_conn *c)
{
	bool progress = false;

	while (!c->r.dead && c->phase == MC_LINES) {
		char rep[MAIL_LINE_MAX + 128];
		size_t rlen = 0, ll;
		enum mail_action act;
		char *nl;

		if (c->ms.c_literal) {
			size_t n = c->r.cin_len;

			if (!n || c->r.to_s.len >= L7_MAX_PENDING)
				break;
			if (n > c->ms.c_literal)
				n = (size_t)c->ms.c_literal;
			if (exlb_buf_append(&c->r.to_s, c->r.cin, n)) {
				c->r.dead = true;
				break;
			}
			drop_front(c->r.cin, &c->r.cin_len, n);
			c->ms.c_literal -= n;
			progress = true;
			continue;
		}
		if (c->ms.awaiting || c->ms.relay || !c->r.cin_len ||
		    c->r.to_c.len >= L7_MAX_PENDING)
			break;
		nl = memchr(c->r.cin, '\n', c->r.cin_len);
		if (!nl) {
			if (c->r.cin_len >= MAIL_LINE_MAX)
				mc_close_with(c, MAIL_NOTICE_LINE_TOO_LONG, 'P', 'R');
			break;
		}
		ll = (size_t)(nl - c->r.cin) + 1;
		if (ll > MAIL_LINE_MAX) {
			mc_close_with(c, MAIL_NOTICE_LINE_TOO_LONG, 'P', 'R');
			break;
		}
		act = mail_client_line(&c->ms, c->r.cin, ll, rep, &rlen);
		progress = true;
		switch (act) {
		case MAIL_FORWARD:
			if (exlb_buf_append(&c->r.to_s, c->r.cin, ll))
				c->r.dead = true;
			drop_front(c->r.cin, &c->r.cin_len, ll);
			if (c->ms.relay)
				enter_relay(c);
			break;
		case MAIL_REPLY:
			drop_front(c->r.cin, &c->r.cin_len, ll);
			if (c->ms.rcpt_why)
				esp_log_rcpt(c);
			if (to_client(c, rep, rlen))
				c->r.dead = true;
			break;
		case MAIL_REPLY_CLOSE:
			drop_front(c->r.cin, &c->r.cin_len, ll);
			set_term(c, 'P', 'R');
			if (c->r.s.fd >= 0)
				l7_ep_close(c->r.w->loop, &c->r.s);
			if (to_client(c, rep, rlen))
				c->r.dead = true;
			else
				set_phase(c, MC_CLOSING);
			break;
		case MAIL_STARTTLS:
			drop_front(c->r.cin, &c->r.cin_len, ll);
			discard_pipelined(c);
			if (to_client(c, rep, rlen))
				c->r.dead = true;
			else
				set_phase(c, MC_TLS_REPLY);
			break;
		}
	}
	return progress;
}

static bool server_lines(struct l7_mail_conn *c)
{
	bool progress = false;

	while (!c->r.dead && c->phase == MC_LINES) {
		char out[MAIL_OUT_MAX];
		size_t olen = 0, ll;
		char *nl;

		if (c->ms.s_literal) {
			size_t n = c->r.sin_len;

			if (!n || c->r.to_c.len >= L7_MAX_PENDING)
				break;
			if (n > c->ms.s_literal)
				n = (size_t)c->ms.s_literal;
			if (to_client(c, c->r.sin, n)) {
				c->r.dead = true;
				break;
			}
			drop_front(c->r.sin, &c->r.sin_len, n);
			c->ms.s_literal -= n;
			progress = true;
			continue;
		}
		if (c->ms.relay || !c->r.sin_len || c->r.to_c.len >= L7_MAX_PENDING)
			break;
		nl = memchr(c->r.sin, '\n', c->r.sin_len);
		if (!nl) {
			if (c->r.sin_len >= MAIL_LINE_MAX)
				mc_close_with(c, MAIL_NOTICE_SERVER_ERROR, 'S', 'D');
			break;
		}
		ll = (size_t)(nl - c->r.sin) + 1;
		if (ll > MAIL_LINE_MAX ||
		    mail_server_line(&c->ms, c->r.sin, ll, out, &olen)) {
			mc_close_with(c, MAIL_NOTICE_SERVER_ERROR, 'S', 'D');
			break;
		}
		drop_front(c->r.sin, &c->r.sin_len, ll);
		if (olen && to_client(c, out, olen)) {
			c->r.dead = true;
			break;
		}
		progress = true;
		if (!c->greeted && !c->ms.awaiting) {
			c->greeted = true;
			l7_relay_arm(&c->r);
		}
		if (c->ms.relay)
			enter_relay(c);
	}
	return progress;
}

/* ---- the relay ---- */

static bool relay_buffers(struct l7_mail_conn *c)
{
	bool progress = false;

	if (c->phase != MC_RELAY)
		return false;
	if (c->r.cin_len && c->r.to_s.len < L7_MAX_PENDING) {
		if (exlb_buf_append(&c->r.to_s, c->r.cin, c->r.cin_len)) {
			c->r.dead = true;
			return true;
		}
		c->r.cin_len = 0;
		progress = true;
	}
	if (c->r.sin_len && c->r.to_c.len < L7_MAX_PENDING) {
		if (to_client(c, c->r.sin, c->r.sin_len)) {
			c->r.dead = true;
			return true;
		}
		c->r.sin_len = 0;
		progress = true;
	}
	return progress;
}

static uint64_t mc_splice_budget(struct l7_relay *r, bool c2s)
{
	(void)c2s;
	return l7_relay_of(r, struct l7_mail_conn)->phase == MC_RELAY ?
	       UINT64_MAX : 0;
}

static bool splice_step(struct l7_mail_conn *c, bool c2s)
{
	int f = l7_relay_splice(&c->r, c2s);

	/* a reset on the reading side is that direction's end (relay.c) */
	if (f & L7_SPLICE_WRITE_ERR) {
		set_term(c, c2s ? 'S' : 'C', 'D');
		c->r.dead = true;
		return true;
	}
	return f & L7_SPLICE_PROGRESS;
}

/* ---- reading and writing ---- */

static bool client_read(struct l7_mail_conn *c)
{
	ssize_t r;

	if (c->phase == MC_TLS_REPLY || c->phase == MC_HANDSHAKE ||
	    c->phase == MC_CLOSING)
		return false;
	r = l7_relay_read(&c->r, true);
	if (r > 0) {
		c->r.bytes_in += (uint64_t)r;
		return true;
	}
	if (!r || r == L7_IO_AGAIN)
		return false;
	c->r.c.eof = true;
	if (c->phase != MC_RELAY) {
		/* gone before the relay: QUIT/LOGOUT answered, or it gave up */
		if (c->ms.awaiting || c->r.cin_len)
			set_term(c, 'C', phase_letter(c));
		c->r.dead = true;
	}
	return true;
}

static bool server_read(struct l7_mail_conn *c)
{
	ssize_t r;

	if (c->phase == MC_TLS_REPLY || c->phase == MC_HANDSHAKE ||
	    c->phase == MC_CLOSING)
		return false;
	r = l7_relay_read(&c->r, false);
	if (r > 0) {
		c->s_touched = true;
		return true;
	}
	if (!r || r == L7_IO_AGAIN)
		return false;
	c->r.s.eof = true;
	return true;
}

static bool flush(struct l7_mail_conn *c, bool client)
{
	ssize_t r = l7_relay_flush(&c->r, client);

	if (r > 0) {
		if (client)
			c->r.bytes_out += (uint64_t)r;
		else
			c->s_touched = true;
		return true;
	}
	if (!r)
		return false;
	set_term(c, client ? 'C' : 'S', phase_letter(c));
	c->r.dead = true;
	return true;
}

/* ---- the pump ---- */

static void mc_release(struct l7_relay *r)
{
	struct l7_mail_conn *c = l7_relay_of(r, struct l7_mail_conn);

	mail_session_release(&c->ms);
	exlb_tls_vs_put(c->tls);
	free(c->rcpt_allowed);
}


static void mc_end(struct l7_mail_conn *c)
{
	mc_log(c);
	l7_relay_free(&c->r);
}

static bool handshake_step(struct l7_mail_conn *c)
{
	int r = l7_ep_handshake(&c->r.c);

	if (r == 0)
		return false;
	if (r < 0) {
		set_term(c, 'C', 'H');
		c->r.dead = true;
		return true;
	}
	l7_relay_tls_up(&c->r);
	mail_session_tls_up(&c->ms);
	c->r.last_activity = ev_now(c->r.w->loop);
	set_phase(c, MC_LINES);
	return true;
}

static void mc_pump(struct l7_relay *r, int s_revents)
{
	struct l7_mail_conn *c = l7_relay_of(r, struct l7_mail_conn);
	int round;

	for (round = 0; round < L7_PUMP_ROUNDS && !c->r.dead; round++) {
		bool progress = false;

		if (c->phase == MC_HANDSHAKE) {
			if (!handshake_step(c))
				break;
			continue;
		}
		progress |= server_progress(c, s_revents);
		s_revents = 0;
		if (c->r.dead)
			break;
		progress |= splice_step(c, false);
		progress |= splice_step(c, true);
		if (c->r.dead)
			break;
		progress |= client_read(c);
		progress |= client_lines(c);
		progress |= relay_buffers(c);
		progress |= flush(c, false);
		if (c->r.dead)
			break;
		progress |= server_read(c);
		progress |= server_lines(c);
		progress |= relay_buffers(c);
		progress |= flush(c, true);
		if (c->r.dead)
			break;
		if (c->phase == MC_TLS_REPLY && !c->r.to_c.len) {
			start_tls(c);
			continue;
		}
		if (c->phase == MC_CLOSING && !c->r.to_c.len) {
			l7_ep_shutdown(&c->r.c);
			c->r.dead = true;
			break;
		}
		if (c->phase == MC_LINES && c->r.s.eof && !c->r.sin_len &&
		    !c->ms.s_literal) {
			/* the server ended the session (QUIT, LOGOUT, its timeout) */
			if (!c->greeted) {
				/* closed without a word: another RS, no passive count */
				if (!server_retry(c, ECONNRESET, false))
					mc_close_with(c, MAIL_NOTICE_UNAVAILABLE, 'S', 'C');
			} else {
				l7_relay_server_close(&c->r);
				set_phase(c, MC_CLOSING);
			}
			continue;
		}
		if (c->phase == MC_RELAY && l7_relay_half_close(&c->r, &progress)) {
			c->r.dead = true;
			break;
		}
		if (!progress)
			break;
	}
	if (c->r.dead) {
		mc_end(c);
		return;
	}
	l7_relay_watch(&c->r, c->phase != MC_TLS_REPLY && c->phase != MC_CLOSING,
		       c->phase != MC_HANDSHAKE && c->phase != MC_TLS_REPLY &&
		       c->phase != MC_CLOSING);
	/*
	 * Stopped at the cap with work left: back after the other events.
	 * Records OpenSSL read ahead would not wake us (proxy_io.h).
	 */
	if (round == L7_PUMP_ROUNDS && ev_is_active(&c->r.c.io))
		ev_feed_event(c->r.w->loop, &c->r.c.io, EV_READ);
}

/* ---- timeouts ---- */

static double cmd_idle(const struct l7_mail_conn *c)
{
	return c->idle_s < MC_CMD_IDLE_MAX_S ? c->idle_s : MC_CMD_IDLE_MAX_S;
}

static ev_tstamp mc_deadline(const struct l7_relay *r)
{
	const struct l7_mail_conn *c = l7_relay_of(r, const struct l7_mail_conn);

	if (c->phase == MC_CLOSING || c->phase == MC_TLS_REPLY)
		return c->phase_start + MC_LOCAL_TIMEOUT_S;
	if (c->phase == MC_HANDSHAKE)
		return c->phase_start + MC_HANDSHAKE_TIMEOUT_S;
	if (r->s_connecting)
		return r->s_since + r->connect_s;
	if (!c->greeted && r->s.fd >= 0)
		return r->s_since + MC_GREET_TIMEOUT_S;
	if (!c->greeted)
		return c->start + MC_GREET_TIMEOUT_S;
	if (c->phase == MC_LINES)
		return r->last_activity + cmd_idle(c);
	return r->last_activity + c->idle_s;
}

static void mc_timeout(struct l7_relay *r)
{
	struct l7_mail_conn *c = l7_relay_of(r, struct l7_mail_conn);

	if (c->phase == MC_CLOSING || c->phase == MC_TLS_REPLY) {
		set_term(c, 'c', phase_letter(c));
		c->r.dead = true;
	} else if (c->phase == MC_HANDSHAKE) {
		set_term(c, 'c', 'H');
		c->r.dead = true;
	} else if (c->r.s_connecting || !c->greeted) {
		/* ETIME: connected, but no greeting in time (not a lost SYN) */
		if (!server_retry(c, c->r.s_connecting ? ETIMEDOUT : ETIME,
				  true))
			mc_close_with(c, MAIL_NOTICE_UNAVAILABLE, 's', 'C');
	} else if (c->phase == MC_LINES) {
		mc_close_with(c, MAIL_NOTICE_TIMEOUT,
			      c->ms.awaiting ? 's' : 'c', 'R');
	} else {
		set_term(c, 'c', 'D');
		c->r.dead = true;
	}
	mc_pump(r, 0);	/* ends it if dead */
}

/* ---- droponfail, drain end ---- */

static void mc_server_lost(struct l7_relay *r, char who)
{
	struct l7_mail_conn *c = l7_relay_of(r, struct l7_mail_conn);

	/*
	 * Nothing of the server reached the client yet (no greeting): the
	 * session tries another RS, as a connect failure would.
	 */
	if (!c->greeted && !c->s_touched && c->phase == MC_LINES &&
	    server_retry(c, EHOSTUNREACH, false))
		return;
	set_term(c, who, phase_letter(c));
	l7_relay_reset_on_close(&c->r);
	mc_end(c);
}

static const struct l7_relay_ops mc_ops = {
	.pump = mc_pump,
	.deadline = mc_deadline,
	.timeout = mc_timeout,
	.splice_budget = mc_splice_budget,
	.server_open = server_open,
	.server_lost = mc_server_lost,
	.release = mc_release,
};

/* ---- accept ---- */

void l7_mail_accept(struct l7_worker *w, int fd, struct l7_vs *vs,
		    const struct sockaddr_storage *peer)
{
	enum mail_proto proto = mail_proto_of(vs->starttls_mode);
	char *rcpt_allowed = NULL;
	struct l7_mail_conn *c;
	struct l7_rs *rs;
	int err;

	/* ESP: the session keeps its own copy (plans come and go); none, none served */
	if (vs->esp && proto == MAIL_SMTP)
		rcpt_allowed = strdup(vs->esp->smtp_domains);
	if (proto == MAIL_NONE || (vs->esp && !rcpt_allowed)) {
		close(fd);
		l7_vs_conn_close(vs->st);
		return;
	}
	c = (struct l7_mail_conn *)l7_relay_new(sizeof(*c), &mc_ops, w, fd, vs,
						peer, MC_GREET_TIMEOUT_S);
	if (!c) {
		free(rcpt_allowed);
		return;
	}
	c->r.subvs_id = vs->subvs[0].id;
	c->idle_s = vs->idle_s ? vs->idle_s : 660;
	if (vs->tls) {
		c->tls = exlb_tls_vs_ref(vs->tls);
	} else if (!atomic_exchange(&no_tls_warned, true)) {
		if (rcpt_allowed)	/* an SMTP VS with ESP, by design (docs/esp.md) */
			exlb_log(LOG_NOTICE, "proxy: %s: SMTP with ESP and no certificate: "
				 "STARTTLS is refused (it would hide RCPT TO from SMTPAllowedDomains)",
				 vs->name);
		else
			exlb_log(LOG_ERR, "proxy: %s: StartTLS without SSLAcceleration=1 "
				 "and a certificate: STARTTLS is refused", vs->name);
	}
	mail_session_init(&c->ms, proto, mail_mode_always(vs->starttls_mode),
			  c->tls != NULL);
	if (rcpt_allowed) {
		c->rcpt_allowed = rcpt_allowed;
		c->esp_logs = vs->esp->logs;
		c->ms.rcpt_allowed = rcpt_allowed;
	}
	c->r.c.handshake_done = true;	/* plain until STARTTLS */
	l7_ep_track_readiness(&c->r.c);	/* relay.c on_client_io() reports */
	c->start = c->phase_start = ev_now(w->loop);
	c->phase = MC_LINES;

	rs = l7_pick_rs(&vs->subvs[0], peer, &c->r.holds, NULL, 0);
	err = rs ? server_open(&c->r, &vs->subvs[0], rs) : -EHOSTUNREACH;
	if (err) {
		if (rs && err != -EMFILE && err != -ENFILE && err != -ENOMEM)
			l7_rs_connect_failed(w->proxy, rs->st, -err, false);
		if (!rs || !server_retry(c, -err, false))
			mc_close_with(c, MAIL_NOTICE_UNAVAILABLE, 'S', 'C');
	}
	l7_relay_arm(&c->r);
	mc_pump(&c->r, 0);
}
