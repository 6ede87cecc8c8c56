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
 * Like proxy_conn.c, a connection is a level-triggered pump: every event
 * runs mc_pump(), which tries every step that can progress until none
 * does, then watches exactly the readiness the blocked steps wait for.
 * One timer per connection, re-armed from a deadline that depends on the
 * phase (connect, greeting, handshake, commands, relay).
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

#include "http1.h"
#include "mail_proto.h"
#include "proxy_int.h"
#include "proxy_io.h"

#define MC_BUF			16384	/* read buffer per direction */
#define MC_MAX_PENDING		65536	/* queued for a writer before we stop reading */
#define MC_GREET_TIMEOUT_S	10.0	/* the server must greet within this of its connect */
#define MC_HANDSHAKE_TIMEOUT_S	15.0
#define MC_CMD_IDLE_MAX_S	300.0	/* before authentication: RFC 5321's 5 min */
#define MC_LOCAL_TIMEOUT_S	10.0	/* to deliver our last words */
#define MC_SPLICE_CHUNK		(256 * 1024)
#define MC_PUMP_ROUNDS		64

enum mc_phase {
	MC_LINES,	/* lockstep command / answer relay */
	MC_TLS_REPLY,	/* our STARTTLS answer is being sent */
	MC_HANDSHAKE,	/* TLS handshake with the client */
	MC_RELAY,	/* bytes both ways */
	MC_CLOSING,	/* our last words are being sent; then close */
};

struct mc_splice {
	int pipe[2];
	size_t in_pipe;
	bool active;
};

struct l7_mail_conn {
	struct l7_mail_conn *prev, *next;
	struct l7_worker *w;
	uint32_t vs_id, subvs_id;
	struct l7_vs_state *vs_st;	/* counts it while it is open */
	struct sockaddr_storage peer;
	struct l7_persist_hold *holds;	/* records it keeps alive (l7_pick_rs()) */
	struct exlb_tls_vs *tls;	/* a reference; NULL: no STARTTLS */
	unsigned int idle_s;
	struct mail_session ms;
	enum mc_phase phase;
	struct l7_ep c, s;
	bool s_connecting, greeted;
	bool s_touched;			/* a byte went to or came from this server */
	ev_tstamp s_since;		/* its connect began */
	double connect_s;		/* the SubVS's connect limit */
	uint32_t tried[L7_CONNECT_TRIES];	/* RSs that failed before greeting */
	unsigned int nr_tried;
	uint32_t rs_id;
	struct l7_rs_state *rs_st;	/* counted open while s is */
	char rs_label[64];
	char *cin, *sin;
	size_t cin_len, sin_len;
	struct exlb_buf to_c, to_s;
	struct mc_splice sp_c2s, sp_s2c;
	uint64_t bytes_in, bytes_out;	/* from / to the client */
	uint64_t discarded;		/* pipelined after STARTTLS */
	bool starttls;
	char term[3];
	ev_timer timer;
	ev_tstamp start, phase_start, last_activity;
	bool dead;
};

static void mc_pump(struct l7_mail_conn *c, int s_revents);
static void mc_arm(struct l7_mail_conn *c);

static atomic_bool no_tls_warned;

/* ---- helpers ---- */

static void set_term(struct l7_mail_conn *c, char who, char phase)
{
	if (c->term[0] != '-')
		return;		/* the first reason wins */
	c->term[0] = who;
	c->term[1] = phase;
}

static char phase_letter(const struct l7_mail_conn *c)
{
	if (c->s_connecting || !c->greeted)
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
	c->phase_start = ev_now(c->w->loop);
	mc_arm(c);
}

static void drop_front(char *buf, size_t *len, size_t n)
{
	memmove(buf, buf + n, *len - n);
	*len -= n;
}

static void buf_consume(struct exlb_buf *b, size_t n)
{
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

static const char *tls_kind(const struct l7_mail_conn *c)
{
	/* with kTLS both ways the SSL object is gone (proxy_io.c) */
	if (c->c.ktls_tx || c->c.ktls_rx)
		return "ktls";
	return c->c.ssl && c->c.handshake_done ? "userspace" : "none";
}

static void mc_log(struct l7_mail_conn *c)
{
	char target[160];
	struct l7_log_entry e = {
		.client = &c->peer,
		.vs_id = c->vs_id,
		.subvs_id = c->subvs_id,
		.rs = c->rs_id ? c->rs_label : NULL,
		.method = "-",
		.target = target,
		.bytes_in = c->bytes_in,
		.bytes_out = c->bytes_out,
		.ms = (ev_now(c->w->loop) - c->start) * 1000.0,
		.tls = tls_kind(c),
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
	memcpy(e.term, c->term, sizeof(e.term));
	l7_access_log(c->w->proxy, &e);
	if (c->rs_st) {
		atomic_fetch_add(&c->rs_st->bytes_in, c->bytes_in);
		atomic_fetch_add(&c->rs_st->bytes_out, c->bytes_out);
	}
}

/* Queues @len bytes for the client. */
static int to_client(struct l7_mail_conn *c, const char *p, size_t len)
{
	if (exlb_buf_append(&c->to_c, p, len))
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
	if (c->s.fd >= 0)
		l7_ep_close(c->w->loop, &c->s);
	c->sin_len = 0;
	c->to_s.len = 0;
	if (c->c.ssl && !c->c.handshake_done) {
		/* nothing can be said to a client mid-handshake */
		c->dead = true;
		return;
	}
	if (to_client(c, msg, len)) {
		c->dead = true;
		return;
	}
	set_phase(c, MC_CLOSING);
}

/* Reads from @ep into *buf (allocated on the first bytes: idle costs nothing). */
static ssize_t read_into(struct l7_mail_conn *c, struct l7_ep *ep, char **buf,
			 size_t *len)
{
	ssize_t r;

	if (*buf)
		return l7_ep_read(ep, *buf + *len, MC_BUF - *len);
	r = l7_ep_read(ep, c->w->scratch, MC_BUF);
	if (r <= 0)
		return r;
	*buf = malloc(MC_BUF);
	if (!*buf)
		return -ENOMEM;
	memcpy(*buf, c->w->scratch, (size_t)r);
	return r;
}

/* ---- the real server ---- */

static void on_server_io(struct ev_loop *loop, ev_io *io, int revents);

static int server_open(struct l7_mail_conn *c, struct l7_subvs *sv,
		       struct l7_rs *rs)
{
	int one = 1, fd;

	fd = l7_fd_admit(c->w, socket(rs->addr.ss_family,
				      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (fd < 0)
		return fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&rs->addr, rs->addrlen) &&
	    errno != EINPROGRESS) {
		int err = -errno;

		close(fd);
		return err;
	}
	l7_ep_init(&c->s, fd);
	c->s.io.data = c;
	ev_set_cb(&c->s.io, on_server_io);
	c->s_connecting = true;
	c->s_touched = false;
	c->s_since = ev_now(c->w->loop);
	c->connect_s = sv->connect_s;
	c->rs_id = rs->id;
	c->rs_st = rs->st;
	l7_rs_conn_open(rs->st);
	snprintf(c->rs_label, sizeof(c->rs_label), "%s", rs->label);
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
	struct exlb_proxy *p = c->w->proxy;
	struct l7_vs *vs = l7_plan_vs(c->w->plan, c->vs_id);
	struct l7_subvs *sv = vs && vs->nr_subvs ? &vs->subvs[0] : NULL;
	bool local = err == EMFILE || err == ENFILE || err == ENOMEM;
	bool can = sv && !local && !c->greeted && !c->s_touched &&
		   c->phase == MC_LINES && c->nr_tried < L7_CONNECT_TRIES;

	if (passive && c->rs_st && !local)
		l7_rs_connect_failed(p, c->rs_st, err, can);
	if (!can)
		return false;
	if (c->s.fd >= 0)
		l7_ep_close(c->w->loop, &c->s);
	if (c->rs_st)
		l7_rs_conn_close(c->rs_st);
	c->rs_st = NULL;
	c->s_connecting = false;
	c->sin_len = 0;
	c->tried[c->nr_tried++] = c->rs_id;
	while (c->nr_tried < L7_CONNECT_TRIES) {
		struct l7_rs *rs = l7_pick_rs(sv, &c->peer, &c->holds, c->tried, c->nr_tried);
		int r;

		if (!rs)
			break;
		r = server_open(c, sv, rs);
		if (!r) {
			mc_arm(c);
			return true;
		}
		c->rs_id = rs->id;
		if (r == -EMFILE || r == -ENFILE || r == -ENOMEM)
			break;
		l7_rs_connect_failed(p, rs->st, -r, true);
		c->tried[c->nr_tried++] = rs->id;
	}
	/* no server: the caller's answer finds s closed */
	return false;
}

static bool server_progress(struct l7_mail_conn *c, int revents)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->s.fd < 0 || !c->s_connecting || !(revents & EV_WRITE))
		return false;
	if (getsockopt(c->s.fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		if (!server_retry(c, err ? err : EIO, true))
			mc_close_with(c, MAIL_NOTICE_UNAVAILABLE, 'S', 'C');
		return true;
	}
	l7_rs_connect_ok(c->rs_st);
	c->s_connecting = false;
	c->s.handshake_done = true;
	mc_arm(c);	/* now the greeting's clock runs */
	return true;
}

/* ---- the line phase ---- */

static void start_tls(struct l7_mail_conn *c)
{
	SSL *ssl = exlb_tls_vs_ssl_new(c->tls);

	if (!ssl || !SSL_set_fd(ssl, c->c.fd)) {
		SSL_free(ssl);
		set_term(c, 'P', 'H');
		c->dead = true;
		return;
	}
	c->c.ssl = ssl;
	c->c.handshake_done = false;
	c->c.want_ktls = c->w->proxy->opts.tls_relay != EXLB_TLS_RELAY_USERSPACE;
	c->c.hs_events = EV_READ;
	c->c.want_read_events = c->c.want_write_events = 0;
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
	c->discarded += c->cin_len;
	c->cin_len = 0;
	for (int i = 0; i < 16; i++) {
		ssize_t r = recv(c->c.fd, c->w->scratch, sizeof(c->w->scratch),
				 MSG_DONTWAIT);

		if (r <= 0)
			break;
		c->discarded += (uint64_t)r;
		c->bytes_in += (uint64_t)r;
	}
	if (c->discarded)
		exlb_log("proxy: VS %u: %s client sent %llu bytes after STARTTLS; discarded",
			 c->vs_id, mail_proto_name(c->ms.proto),
			 (unsigned long long)c->discarded);
}

static void enter_relay(struct l7_mail_conn *c)
{
	mail_session_release(&c->ms);
	set_phase(c, MC_RELAY);
}

static bool client_lines(struct l7_mail_conn *c)
{
	bool progress = false;

	while (!c->dead && c->phase == MC_LINES) {
		char rep[MAIL_LINE_MAX + 128];
		size_t rlen = 0, ll;
		enum mail_action act;
		char *nl;

		if (c->ms.c_literal) {
			size_t n = c->cin_len;

			if (!n || c->to_s.len >= MC_MAX_PENDING)
				break;
			if (n > c->ms.c_literal)
				n = (size_t)c->ms.c_literal;
			if (exlb_buf_append(&c->to_s, c->cin, n)) {
				c->dead = true;
				break;
			}
			drop_front(c->cin, &c->cin_len, n);
			c->ms.c_literal -= n;
			progress = true;
			continue;
		}
		if (c->ms.awaiting || c->ms.relay || !c->cin_len ||
		    c->to_c.len >= MC_MAX_PENDING)
			break;
		nl = memchr(c->cin, '\n', c->cin_len);
		if (!nl) {
			if (c->cin_len >= MAIL_LINE_MAX)
				mc_close_with(c, MAIL_NOTICE_LINE_TOO_LONG, 'P', 'R');
			break;
		}
		ll = (size_t)(nl - c->cin) + 1;
		if (ll > MAIL_LINE_MAX) {
			mc_close_with(c, MAIL_NOTICE_LINE_TOO_LONG, 'P', 'R');
			break;
		}
		act = mail_client_line(&c->ms, c->cin, ll, rep, &rlen);
		progress = true;
		switch (act) {
		case MAIL_FORWARD:
			if (exlb_buf_append(&c->to_s, c->cin, ll))
				c->dead = true;
			drop_front(c->cin, &c->cin_len, ll);
			if (c->ms.relay)
				enter_relay(c);
			break;
		case MAIL_REPLY:
			drop_front(c->cin, &c->cin_len, ll);
			if (to_client(c, rep, rlen))
				c->dead = true;
			break;
		case MAIL_REPLY_CLOSE:
			drop_front(c->cin, &c->cin_len, ll);
			set_term(c, 'P', 'R');
			if (c->s.fd >= 0)
				l7_ep_close(c->w->loop, &c->s);
			if (to_client(c, rep, rlen))
				c->dead = true;
			else
				set_phase(c, MC_CLOSING);
			break;
		case MAIL_STARTTLS:
			drop_front(c->cin, &c->cin_len, ll);
			discard_pipelined(c);
			if (to_client(c, rep, rlen))
				c->dead = true;
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

	while (!c->dead && c->phase == MC_LINES) {
		char out[MAIL_OUT_MAX];
		size_t olen = 0, ll;
		char *nl;

		if (c->ms.s_literal) {
			size_t n = c->sin_len;

			if (!n || c->to_c.len >= MC_MAX_PENDING)
				break;
			if (n > c->ms.s_literal)
				n = (size_t)c->ms.s_literal;
			if (to_client(c, c->sin, n)) {
				c->dead = true;
				break;
			}
			drop_front(c->sin, &c->sin_len, n);
			c->ms.s_literal -= n;
			progress = true;
			continue;
		}
		if (c->ms.relay || !c->sin_len || c->to_c.len >= MC_MAX_PENDING)
			break;
		nl = memchr(c->sin, '\n', c->sin_len);
		if (!nl) {
			if (c->sin_len >= MAIL_LINE_MAX)
				mc_close_with(c, MAIL_NOTICE_SERVER_ERROR, 'S', 'D');
			break;
		}
		ll = (size_t)(nl - c->sin) + 1;
		if (ll > MAIL_LINE_MAX ||
		    mail_server_line(&c->ms, c->sin, ll, out, &olen)) {
			mc_close_with(c, MAIL_NOTICE_SERVER_ERROR, 'S', 'D');
			break;
		}
		drop_front(c->sin, &c->sin_len, ll);
		if (olen && to_client(c, out, olen)) {
			c->dead = true;
			break;
		}
		progress = true;
		if (!c->greeted && !c->ms.awaiting) {
			c->greeted = true;
			mc_arm(c);
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
	if (c->cin_len && c->to_s.len < MC_MAX_PENDING) {
		if (exlb_buf_append(&c->to_s, c->cin, c->cin_len)) {
			c->dead = true;
			return true;
		}
		c->cin_len = 0;
		progress = true;
	}
	if (c->sin_len && c->to_c.len < MC_MAX_PENDING) {
		if (to_client(c, c->sin, c->sin_len)) {
			c->dead = true;
			return true;
		}
		c->sin_len = 0;
		progress = true;
	}
	return progress;
}

/*
 * An idle session holds no buffers, in the line phase as in the relay: a
 * client idle after STARTTLS or between commands costs its sockets and its
 * TLS state only (read_into() allocates again on the next bytes).
 */
static void release_idle_buffers(struct l7_mail_conn *c)
{
	if (!c->cin_len && c->cin) {
		free(c->cin);
		c->cin = NULL;
	}
	if (!c->sin_len && c->sin) {
		free(c->sin);
		c->sin = NULL;
	}
	if (!c->to_s.len)
		exlb_buf_free(&c->to_s);
	if (!c->to_c.len)
		exlb_buf_free(&c->to_c);
}

static int splice_pipe(struct l7_worker *w, struct mc_splice *sp)
{
	if (sp->pipe[0] >= 0)
		return 0;
	if (w->nr_pipes) {
		w->nr_pipes--;
		sp->pipe[0] = w->pipe_pool[w->nr_pipes][0];
		sp->pipe[1] = w->pipe_pool[w->nr_pipes][1];
		return 0;
	}
	return l7_pipe_open(w, sp->pipe);
}

static bool splice_step(struct l7_mail_conn *c, bool c2s)
{
	struct mc_splice *sp = c2s ? &c->sp_c2s : &c->sp_s2c;
	struct l7_ep *src = c2s ? &c->c : &c->s;
	struct l7_ep *dst = c2s ? &c->s : &c->c;
	bool progress = false;
	ssize_t r;

	if (!sp->active) {
		if (c->phase != MC_RELAY || src->fd < 0 || dst->fd < 0 ||
		    src->eof || dst->shut ||
		    !l7_ep_can_splice_from(src) || !l7_ep_can_splice_to(dst) ||
		    (c2s ? (c->cin_len || c->to_s.len) : (c->sin_len || c->to_c.len)) ||
		    splice_pipe(c->w, sp))
			return false;
		sp->active = true;
	}
	if (sp->in_pipe) {
		r = l7_splice_out(sp->pipe[0], dst, sp->in_pipe);
		if (r > 0) {
			sp->in_pipe -= (size_t)r;
			progress = true;
		} else if (r != L7_IO_AGAIN) {
			set_term(c, c2s ? 'S' : 'C', 'D');
			c->dead = true;
			return true;
		}
	}
	if (!sp->in_pipe) {
		r = l7_splice_in(src, sp->pipe[1], MC_SPLICE_CHUNK);
		if (r > 0) {
			sp->in_pipe = (size_t)r;
			if (c2s)
				c->bytes_in += (uint64_t)r;
			else
				c->bytes_out += (uint64_t)r;
			c->last_activity = ev_now(c->w->loop);
			progress = true;
		} else if (r == L7_IO_EOF || r == -EINVAL) {
			/* EOF or a kTLS control record: the read path sees it */
			src->eof = false;
			sp->active = false;
			return true;
		} else if (r != L7_IO_AGAIN) {
			/*
			 * A reset, as the read path takes it in the relay: the
			 * end of that direction. (A client closing right after
			 * the server's 221 / BYE gets our close_notify and
			 * answers it with a RST: the session was complete.)
			 */
			src->eof = true;
			sp->active = false;
			return true;
		}
	}
	return progress;
}

/* ---- reading and writing ---- */

static bool client_read(struct l7_mail_conn *c)
{
	ssize_t r;

	if (c->c.eof || c->sp_c2s.active || c->cin_len >= MC_BUF ||
	    c->phase == MC_TLS_REPLY || c->phase == MC_HANDSHAKE ||
	    c->phase == MC_CLOSING)
		return false;
	r = read_into(c, &c->c, &c->cin, &c->cin_len);
	if (r > 0) {
		c->cin_len += (size_t)r;
		c->bytes_in += (uint64_t)r;
		c->last_activity = ev_now(c->w->loop);
		return true;
	}
	if (r == L7_IO_AGAIN)
		return false;
	c->c.eof = true;
	if (c->phase != MC_RELAY) {
		/* gone before the relay: QUIT/LOGOUT answered, or it gave up */
		if (c->ms.awaiting || c->cin_len)
			set_term(c, 'C', phase_letter(c));
		c->dead = true;
	}
	return true;
}

static bool server_read(struct l7_mail_conn *c)
{
	ssize_t r;

	if (c->s.fd < 0 || c->s_connecting || c->s.eof || c->sp_s2c.active ||
	    c->sin_len >= MC_BUF || c->phase == MC_TLS_REPLY ||
	    c->phase == MC_HANDSHAKE || c->phase == MC_CLOSING)
		return false;
	r = read_into(c, &c->s, &c->sin, &c->sin_len);
	if (r > 0) {
		c->s_touched = true;
		c->sin_len += (size_t)r;
		c->last_activity = ev_now(c->w->loop);
		return true;
	}
	if (r == L7_IO_AGAIN)
		return false;
	c->s.eof = true;
	return true;
}

static bool flush(struct l7_mail_conn *c, struct l7_ep *ep, struct exlb_buf *b)
{
	bool progress = false;

	while (b->len) {
		ssize_t r = l7_ep_write(ep, b->data, b->len);

		if (r > 0) {
			if (ep == &c->c)
				c->bytes_out += (uint64_t)r;
			else
				c->s_touched = true;
			buf_consume(b, (size_t)r);
			c->last_activity = ev_now(c->w->loop);
			progress = true;
			continue;
		}
		if (r == L7_IO_AGAIN)
			break;
		set_term(c, ep == &c->c ? 'C' : 'S', phase_letter(c));
		c->dead = true;
		return true;
	}
	return progress;
}

/* ---- the pump ---- */

static void mc_free(struct l7_mail_conn *c)
{
	struct l7_worker *w = c->w;

	ev_timer_stop(w->loop, &c->timer);
	l7_ep_close(w->loop, &c->c);
	l7_ep_close(w->loop, &c->s);
	if (c->rs_st)
		l7_rs_conn_close(c->rs_st);
	for (int i = 0; i < 2; i++) {
		struct mc_splice *sp = i ? &c->sp_s2c : &c->sp_c2s;

		if (sp->pipe[0] < 0)
			continue;
		if (!sp->in_pipe && w->nr_pipes < 16) {
			w->pipe_pool[w->nr_pipes][0] = sp->pipe[0];
			w->pipe_pool[w->nr_pipes][1] = sp->pipe[1];
			w->nr_pipes++;
		} else {
			close(sp->pipe[0]);
			close(sp->pipe[1]);
		}
	}
	mail_session_release(&c->ms);
	free(c->cin);
	free(c->sin);
	exlb_buf_free(&c->to_c);
	exlb_buf_free(&c->to_s);
	exlb_tls_vs_put(c->tls);
	l7_persist_release(&c->holds);
	l7_vs_conn_close(c->vs_st);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->mail_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nr_mail_conns--;
	free(c);
}

static void mc_end(struct l7_mail_conn *c)
{
	mc_log(c);
	mc_free(c);
}

static bool handshake_step(struct l7_mail_conn *c)
{
	struct exlb_proxy *p = c->w->proxy;
	int r = l7_ep_handshake(&c->c);

	if (r == 0)
		return false;
	if (r < 0) {
		set_term(c, 'C', 'H');
		c->dead = true;
		return true;
	}
	if (c->c.ktls_tx || c->c.ktls_rx) {
		atomic_fetch_add(&p->ktls_conns, 1);
	} else {
		atomic_fetch_add(&p->userspace_conns, 1);
		if (p->opts.tls_relay == EXLB_TLS_RELAY_KTLS &&
		    !atomic_exchange(&p->ktls_warned, true))
			exlb_log("proxy: kTLS not used for a %s %s session "
				 "(needs AES-GCM and the kernel's tls module); "
				 "relaying in userspace",
				 SSL_get_version(c->c.ssl),
				 SSL_get_cipher_name(c->c.ssl));
	}
	mail_session_tls_up(&c->ms);
	c->last_activity = ev_now(c->w->loop);
	set_phase(c, MC_LINES);
	return true;
}

static void mc_update_io(struct l7_mail_conn *c)
{
	struct ev_loop *loop = c->w->loop;
	int ce = 0, se = 0;

	if (c->phase == MC_HANDSHAKE) {
		ce = c->c.hs_events ? c->c.hs_events : EV_READ;
	} else {
		bool rd = !c->c.eof && c->cin_len < MC_BUF &&
			  c->phase != MC_TLS_REPLY && c->phase != MC_CLOSING;

		if (rd || c->sp_c2s.active)
			ce |= c->c.want_read_events ? c->c.want_read_events : EV_READ;
		if (c->to_c.len || c->sp_s2c.in_pipe)
			ce |= c->c.want_write_events ? c->c.want_write_events : EV_WRITE;
	}
	if (c->s.fd >= 0) {
		if (c->s_connecting) {
			se = EV_WRITE;
		} else if (c->phase != MC_CLOSING) {
			if ((!c->s.eof && c->sin_len < MC_BUF &&
			     c->phase != MC_HANDSHAKE && c->phase != MC_TLS_REPLY) ||
			    c->sp_s2c.active)
				se |= c->s.want_read_events ? c->s.want_read_events : EV_READ;
			if (c->to_s.len || c->sp_c2s.in_pipe)
				se |= c->s.want_write_events ? c->s.want_write_events : EV_WRITE;
		}
		l7_ep_watch(loop, &c->s, se);
	}
	l7_ep_watch(loop, &c->c, ce);
}

static void mc_pump(struct l7_mail_conn *c, int s_revents)
{
	for (int round = 0; round < MC_PUMP_ROUNDS && !c->dead; round++) {
		bool progress = false;

		if (c->phase == MC_HANDSHAKE) {
			if (!handshake_step(c))
				break;
			continue;
		}
		progress |= server_progress(c, s_revents);
		s_revents = 0;
		if (c->dead)
			break;
		progress |= splice_step(c, false);
		progress |= splice_step(c, true);
		if (c->dead)
			break;
		progress |= client_read(c);
		progress |= client_lines(c);
		progress |= relay_buffers(c);
		if (c->s.fd >= 0 && !c->s_connecting && !c->sp_c2s.in_pipe)
			progress |= flush(c, &c->s, &c->to_s);
		if (c->dead)
			break;
		progress |= server_read(c);
		progress |= server_lines(c);
		progress |= relay_buffers(c);
		if (!c->sp_s2c.in_pipe)
			progress |= flush(c, &c->c, &c->to_c);
		if (c->dead)
			break;
		if (c->phase == MC_TLS_REPLY && !c->to_c.len) {
			start_tls(c);
			continue;
		}
		if (c->phase == MC_CLOSING && !c->to_c.len) {
			l7_ep_shutdown(&c->c);
			c->dead = true;
			break;
		}
		if (c->phase == MC_LINES && c->s.eof && !c->sin_len &&
		    !c->ms.s_literal) {
			/* the server ended the session (QUIT, LOGOUT, its timeout) */
			if (!c->greeted) {
				/* closed without a word: another RS, no passive count */
				if (!server_retry(c, ECONNRESET, false))
					mc_close_with(c, MAIL_NOTICE_UNAVAILABLE, 'S', 'C');
			} else {
				l7_ep_close(c->w->loop, &c->s);
				set_phase(c, MC_CLOSING);
			}
			continue;
		}
		if (c->phase == MC_RELAY) {
			if (c->c.eof && !c->cin_len && !c->to_s.len &&
			    !c->sp_c2s.in_pipe && !c->s.shut && c->s.fd >= 0) {
				l7_ep_shutdown(&c->s);
				progress = true;
			}
			if ((c->s.eof || c->s.fd < 0) && !c->sin_len &&
			    !c->to_c.len && !c->sp_s2c.in_pipe && !c->c.shut) {
				l7_ep_shutdown(&c->c);
				progress = true;
			}
			if (c->c.shut && (c->s.shut || c->s.fd < 0)) {
				c->dead = true;
				break;
			}
		}
		if (!progress)
			break;
	}
	if (c->dead) {
		mc_end(c);
		return;
	}
	release_idle_buffers(c);
	mc_update_io(c);
}

static void on_client_io(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	mc_pump(io->data, 0);
}

static void on_server_io(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	mc_pump(io->data, revents);
}

/* ---- timeouts ---- */

static double cmd_idle(const struct l7_mail_conn *c)
{
	return c->idle_s < MC_CMD_IDLE_MAX_S ? c->idle_s : MC_CMD_IDLE_MAX_S;
}

static ev_tstamp mc_deadline(const struct l7_mail_conn *c)
{
	if (c->phase == MC_CLOSING || c->phase == MC_TLS_REPLY)
		return c->phase_start + MC_LOCAL_TIMEOUT_S;
	if (c->phase == MC_HANDSHAKE)
		return c->phase_start + MC_HANDSHAKE_TIMEOUT_S;
	if (c->s_connecting)
		return c->s_since + c->connect_s;
	if (!c->greeted && c->s.fd >= 0)
		return c->s_since + MC_GREET_TIMEOUT_S;
	if (!c->greeted)
		return c->start + MC_GREET_TIMEOUT_S;
	if (c->phase == MC_LINES)
		return c->last_activity + cmd_idle(c);
	return c->last_activity + c->idle_s;
}

static void mc_arm(struct l7_mail_conn *c)
{
	struct ev_loop *loop = c->w->loop;
	double in = mc_deadline(c) - ev_now(loop);

	ev_timer_stop(loop, &c->timer);
	ev_timer_set(&c->timer, in > 0.01 ? in : 0.01, 0);
	ev_timer_start(loop, &c->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct l7_mail_conn *c = t->data;
	ev_tstamp now = ev_now(loop), deadline = mc_deadline(c);

	(void)revents;
	if (now < deadline) {
		ev_timer_set(t, deadline - now, 0);
		ev_timer_start(loop, t);
		return;
	}
	if (c->phase == MC_CLOSING || c->phase == MC_TLS_REPLY) {
		set_term(c, 'c', phase_letter(c));
		c->dead = true;
	} else if (c->phase == MC_HANDSHAKE) {
		set_term(c, 'c', 'H');
		c->dead = true;
	} else if (c->s_connecting || !c->greeted) {
		if (!server_retry(c, ETIMEDOUT, true))
			mc_close_with(c, MAIL_NOTICE_UNAVAILABLE, 's', 'C');
	} else if (c->phase == MC_LINES) {
		mc_close_with(c, MAIL_NOTICE_TIMEOUT,
			      c->ms.awaiting ? 's' : 'c', 'R');
	} else {
		set_term(c, 'c', 'D');
		c->dead = true;
	}
	if (c->dead) {
		mc_end(c);
		return;
	}
	mc_pump(c, 0);
}

/* ---- accept ---- */

void l7_mail_accept(struct l7_worker *w, int fd, struct l7_vs *vs,
		    const struct sockaddr_storage *peer)
{
	struct l7_mail_conn *c = calloc(1, sizeof(*c));
	enum mail_proto proto = mail_proto_of(vs->starttls_mode);
	int one = 1, err;
	struct l7_rs *rs;

	if (!c || proto == MAIL_NONE) {
		free(c);
		close(fd);
		l7_vs_conn_close(vs->st);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->w = w;
	c->vs_st = vs->st;
	c->vs_id = vs->id;
	c->subvs_id = vs->subvs[0].id;
	c->peer = *peer;
	c->idle_s = vs->idle_s ? vs->idle_s : 660;
	memcpy(c->term, "--", 3);
	c->sp_c2s.pipe[0] = c->sp_c2s.pipe[1] = -1;
	c->sp_s2c.pipe[0] = c->sp_s2c.pipe[1] = -1;
	if (vs->tls) {
		c->tls = exlb_tls_vs_ref(vs->tls);
	} else if (!atomic_exchange(&no_tls_warned, true)) {
		exlb_log("proxy: VS %u (%s): StartTLS without SSLAcceleration=1 "
			 "and a certificate: STARTTLS is refused", vs->id, vs->name);
	}
	mail_session_init(&c->ms, proto, mail_mode_always(vs->starttls_mode),
			  c->tls != NULL);
	l7_ep_init(&c->c, fd);
	l7_ep_init(&c->s, -1);
	c->c.handshake_done = true;	/* plain until STARTTLS */
	c->c.io.data = c;
	ev_set_cb(&c->c.io, on_client_io);
	c->start = c->phase_start = c->last_activity = ev_now(w->loop);
	c->phase = MC_LINES;
	c->next = w->mail_conns;
	if (w->mail_conns)
		w->mail_conns->prev = c;
	w->mail_conns = c;
	w->nr_mail_conns++;
	ev_init(&c->timer, on_timer);
	c->timer.data = c;

	rs = l7_pick_rs(&vs->subvs[0], peer, &c->holds, NULL, 0);
	err = rs ? server_open(c, &vs->subvs[0], rs) : -EHOSTUNREACH;
	if (err) {
		if (rs) {
			c->rs_id = rs->id;	/* for server_retry() */
			if (err != -EMFILE && err != -ENFILE && err != -ENOMEM)
				l7_rs_connect_failed(w->proxy, rs->st, -err, false);
		}
		if (!rs || !server_retry(c, -err, false))
			mc_close_with(c, MAIL_NOTICE_UNAVAILABLE, 'S', 'C');
	}
	mc_arm(c);
	mc_pump(c, 0);
}

/* ---- after a plan change, and every second ---- */

void l7_mail_sweep(struct l7_worker *w, ev_tstamp now)
{
	struct l7_mail_conn *c, *next;
	uint64_t ms = l7_now_ms();

	(void)now;
	for (c = w->mail_conns; c; c = next) {
		struct l7_rs *rs;

		next = c->next;
		if (c->s.fd < 0 || !c->rs_id || !w->plan)
			continue;
		rs = l7_plan_rs(w->plan, c->vs_id, c->rs_id);
		if (!rs)
			continue;
		if (w->plan->droponfail && rs->failed)
			set_term(c, 'D', phase_letter(c));
		else if (w->plan->dropatdrainend && rs->draining &&
			 ms - atomic_load(&rs->st->drain_since_ms) >=
			 w->plan->finalpersist * 1000ull)
			set_term(c, 'K', phase_letter(c));
		else
			continue;
		l7_ep_reset_on_close(&c->c);
		l7_ep_reset_on_close(&c->s);
		mc_end(c);
	}
}

void l7_mail_close_all(struct l7_worker *w)
{
	while (w->mail_conns)
		mc_free(w->mail_conns);
}
