// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * One proxied client connection, from accept to close, inside its worker's
 * event loop: the TLS handshake, HTTP/1.1 requests one after another (each
 * routed on its own: content rules choose the SubVS, the SubVS's scheduler
 * the real server), the relay of bodies in both directions, and the
 * decisions that end it (timeouts, a failed server, bad input).
 *
 * The connection is a pump: every event runs conn_pump(), which tries
 * every step that can make progress (read, parse, write, splice) until
 * none does, then watches exactly the readiness the blocked steps wait for.
 * Buffers are small and bounded (L7_BUF per direction), so a slow reader
 * stops the writer instead of growing memory; an idle connection holds no
 * buffer and no parser.
 *
 * Backend connections: a request goes to the server connection the client
 * connection already has when it is to the chosen RS, else to an idle one
 * of that RS kept by the worker, else a new one. Once a request carries
 * "Authorization: NTLM ..." or "Negotiate ..." the client connection is
 * bound to its server connection until either closes: those schemes
 * authenticate the TCP connection, not the request.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proxy_int.h"
#include "proxy_io.h"

#define L7_BUF			16384	/* per direction, read side */
#define L7_MAX_PENDING		65536	/* queued for a writer before we stop reading */
#define L7_HEAD_TIMEOUT_S	15.0	/* a request head must arrive within this */
#define L7_LOCAL_TIMEOUT_S	10.0	/* to deliver our own answer */
#define L7_SPLICE_MIN		16384	/* smaller bodies are not worth a pipe */
#define L7_SPLICE_CHUNK		(256 * 1024)
#define L7_IDLE_SERVER_S	5.0	/* well below servers' keep-alive timeouts */
#define L7_IDLE_SERVERS_MAX	64	/* per worker */
#define L7_PUMP_ROUNDS		64
#define L7_SHRINK_S		1.0	/* idle this long: buffers and parser go */

enum l7_phase {
	PH_HANDSHAKE,	/* TLS handshake with the client */
	PH_WAIT,	/* between requests (or before the first) */
	PH_REQUEST,	/* a request is being forwarded / answered */
	PH_TUNNEL,	/* raw bytes both ways */
	PH_LOCAL,	/* our own answer is being sent; then close */
};

/* One direction of splice(): src -> pipe -> dst. */
struct l7_splice {
	int pipe[2];
	size_t in_pipe;		/* bytes in the pipe not yet written out */
	uint64_t left;		/* bytes this run may still take from src */
	bool active;
	bool msg_end;		/* the body's last byte is in the pipe */
};

struct l7_conn {
	struct l7_conn *prev, *next;
	struct l7_worker *w;
	uint32_t vs_id;
	struct l7_vs_state *vs_st;	/* counts it while it is open */
	struct sockaddr_storage peer;
	struct l7_persist_hold *holds;	/* records it keeps alive (l7_pick_rs()) */
	char peer_addr[64];
	enum l7_phase phase;
	struct l7_ep c, s;		/* client, server (s.fd < 0: none) */
	bool s_connecting;

	struct exlb_http_parser *req, *resp;
	char *cin, *sin;		/* read buffers, L7_BUF each */
	size_t cin_len, sin_len;
	struct exlb_buf to_s, to_c;	/* queued for a writer */
	struct l7_splice sp_c2s, sp_s2c;

	/* the request in progress */
	struct l7_plan *plan;		/* held for it */
	uint32_t subvs_id;
	bool req_done, resp_done, resp_head_sent;
	bool req_is_head, close_after;	/* close after this response */
	bool bound;			/* NTLM / Negotiate: keep this server */
	unsigned int status;
	char method[24];
	char target[256];
	size_t target_len;
	unsigned int http_minor;
	uint64_t req_bytes_in, req_bytes_out;
	ev_tstamp req_start, head_start, last_activity;

	/* the server connection */
	uint32_t s_rs_id;
	struct l7_rs_state *s_st;	/* counted active while s is open */
	char s_label[64];
	struct sockaddr_storage s_addr;
	socklen_t s_addrlen;
	bool s_tls;
	bool s_keepalive;		/* the server allows another request */
	ev_tstamp s_since;		/* when its connect began */
	double connect_s;		/* its SubVS's connect limit */
	/* RSs whose connections failed for this request (server_retry()) */
	uint32_t tried[L7_CONNECT_TRIES];
	unsigned int nr_tried;

	char term[3];			/* why it ended: HAProxy-style */
	ev_tstamp idle_since;		/* PH_WAIT since; buffers go after L7_SHRINK_S */
	double idle_s;			/* the VS's Idletime, else conntimeout */
	ev_timer timer;
	bool dead;
};

struct l7_idle_server {
	int fd;
	uint32_t rs_id;
	struct l7_rs_state *st;
	ev_tstamp since;
	struct l7_idle_server *next;
};

static void conn_pump(struct l7_conn *c);
static void conn_arm_timer(struct l7_conn *c, double secs);
static ev_tstamp conn_deadline(const struct l7_conn *c);

/* ---- small helpers ---- */

void l7_sockaddr_format(const struct sockaddr_storage *ss, char *buf,
			size_t n, bool with_port)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		port = ntohs(s6->sin6_port);
		if (with_port)
			snprintf(buf, n, "[%s]:%u", a, port);
		else
			snprintf(buf, n, "%s", a);
		return;
	}
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		port = ntohs(s4->sin_port);
	}
	if (with_port)
		snprintf(buf, n, "%s:%u", a, port);
	else
		snprintf(buf, n, "%s", a);
}

static void set_term(struct l7_conn *c, char who, char phase)
{
	if (c->term[0] != '-')
		return;		/* the first reason wins */
	c->term[0] = who;
	c->term[1] = phase;
}

/* The phase letter of HAProxy's termination state. */
static char phase_letter(const struct l7_conn *c)
{
	if (c->phase == PH_HANDSHAKE || c->phase == PH_WAIT)
		return 'R';
	if (c->s_connecting)
		return 'C';
	if (c->phase == PH_REQUEST && !c->resp_head_sent)
		return 'H';
	return 'D';
}

static void buf_consume(struct exlb_buf *b, size_t n)
{
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

static void drop_front(char *buf, size_t *len, size_t n)
{
	memmove(buf, buf + n, *len - n);
	*len -= n;
}

static const char *tls_kind(const struct l7_conn *c)
{
	if (!c->c.tls)
		return "none";
	return c->c.ktls_tx || c->c.ktls_rx ? "ktls" : "userspace";
}

/* ---- logging a request ---- */

static void log_request(struct l7_conn *c)
{
	struct l7_log_entry e = {
		.client = &c->peer,
		.vs_id = c->vs_id,
		.subvs_id = c->subvs_id,
		.rs = c->s_rs_id ? c->s_label : NULL,
		.method = c->method[0] ? c->method : NULL,
		.target = c->target,
		.target_len = c->target_len,
		.http_minor = c->http_minor,
		.status = c->status,
		.bytes_in = c->req_bytes_in,
		.bytes_out = c->req_bytes_out,
		.ms = (ev_now(c->w->loop) - c->req_start) * 1000.0,
		.tls = tls_kind(c),
	};

	memcpy(e.term, c->term, sizeof(e.term));
	l7_access_log(c->w->proxy, &e);
	if (c->s_st) {
		atomic_fetch_add(&c->s_st->bytes_in, c->req_bytes_in);
		atomic_fetch_add(&c->s_st->bytes_out, c->req_bytes_out);
	}
}

/* ---- server connections ---- */

static void server_release_counts(struct l7_conn *c)
{
	if (c->s_st) {
		l7_rs_conn_close(c->s_st);
		c->s_st = NULL;
	}
}

static void server_close(struct l7_conn *c)
{
	struct l7_worker *w = c->w;

	if (c->s.fd >= 0)
		l7_ep_close(w->loop, &c->s);
	server_release_counts(c);
	c->s_connecting = false;
	c->s_rs_id = 0;
	c->s_keepalive = false;
	c->sin_len = 0;
	c->to_s.len = 0;
	if (c->resp) {
		exlb_http_parser_release(c->resp);
		free(c->resp);
		c->resp = NULL;
	}
}

/* A plain keep-alive server connection with nothing pending goes to the pool. */
static void server_park(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	struct l7_idle_server *is;

	if (c->s.fd < 0)
		return;
	if (c->bound || c->s.ssl || !c->s_keepalive || c->sin_len ||
	    c->to_s.len || w->nr_idle >= L7_IDLE_SERVERS_MAX ||
	    !(is = calloc(1, sizeof(*is)))) {
		server_close(c);
		return;
	}
	l7_ep_watch(w->loop, &c->s, 0);
	is->fd = c->s.fd;
	is->rs_id = c->s_rs_id;
	is->st = c->s_st;
	is->since = ev_now(w->loop);
	is->next = w->idle;
	w->idle = is;
	w->nr_idle++;
	/* an idle connection is not an active one for lc/wlc */
	l7_rs_conn_close(c->s_st);
	c->s_st = NULL;
	c->s.fd = -1;
	server_close(c);
}

/* An idle server connection to @rs_id that is still open, or -1. */
static int server_unpark(struct l7_worker *w, uint32_t rs_id)
{
	struct l7_idle_server **pp = &w->idle, *is;

	while ((is = *pp)) {
		char b;
		ssize_t r;

		if (is->rs_id != rs_id) {
			pp = &is->next;
			continue;
		}
		*pp = is->next;
		w->nr_idle--;
		r = recv(is->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN) {
			int fd = is->fd;

			free(is);
			return fd;
		}
		/* closed, reset, or talking out of turn: not reusable */
		close(is->fd);
		free(is);
	}
	return -1;
}

void l7_idle_servers_expire(struct l7_worker *w, ev_tstamp now, bool all)
{
	struct l7_idle_server **pp = &w->idle, *is;

	while ((is = *pp)) {
		if (!all && now - is->since < L7_IDLE_SERVER_S) {
			pp = &is->next;
			continue;
		}
		*pp = is->next;
		w->nr_idle--;
		close(is->fd);
		free(is);
	}
}

/* The SubVS of the request (or tunnel) in progress, in its plan. */
static struct l7_subvs *conn_subvs(struct l7_conn *c, struct l7_vs *vs)
{
	for (size_t i = 0; vs && i < vs->nr_subvs; i++)
		if (vs->subvs[i].id == c->subvs_id)
			return &vs->subvs[i];
	return NULL;
}

static void on_server_io(struct ev_loop *loop, ev_io *io, int revents);

/* Opens (or reuses) a server connection to @rs. 0 or a negative errno. */
static int server_open(struct l7_conn *c, struct l7_vs *vs, struct l7_rs *rs)
{
	struct l7_worker *w = c->w;
	struct l7_subvs *sv;
	int one = 1, fd;

	fd = vs->reencrypt ? -1 : server_unpark(w, rs->id);
	if (fd < 0) {
		fd = l7_fd_admit(w, socket(rs->addr.ss_family,
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
		c->s_connecting = true;
	}
	l7_ep_init(&c->s, fd);
	/* a plain connection from the pool is ready at once */
	c->s.handshake_done = !c->s_connecting && !vs->reencrypt;
	c->s.io.data = c;
	ev_set_cb(&c->s.io, on_server_io);
	c->s_rs_id = rs->id;
	c->s_st = rs->st;
	l7_rs_conn_open(rs->st);
	snprintf(c->s_label, sizeof(c->s_label), "%s", rs->label);
	c->s_addr = rs->addr;
	c->s_addrlen = rs->addrlen;
	c->s_keepalive = true;
	c->s_tls = vs->reencrypt;
	c->s_since = ev_now(w->loop);
	sv = conn_subvs(c, vs);
	c->connect_s = sv ? sv->connect_s : 4.0;	/* Kemp's default Timeout */
	if (vs->reencrypt) {
		SSL_CTX *ctx = vs->tls ? exlb_tls_vs_client_ctx(vs->tls) : NULL;
		const char *sni = vs->tls ? exlb_tls_vs_reverse_sni(vs->tls) : NULL;

		c->s.ssl = ctx ? SSL_new(ctx) : NULL;
		c->s.tls = true;
		if (!c->s.ssl) {
			server_close(c);
			return -ENOMEM;
		}
		SSL_set_fd(c->s.ssl, fd);
		SSL_set_connect_state(c->s.ssl);
		SSL_set_mode(c->s.ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
			     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		if (sni && *sni)
			SSL_set_tlsext_host_name(c->s.ssl, sni);
	}
	c->last_activity = ev_now(w->loop);
	return 0;
}

/* The parser for the response of the request in progress. 0 or -ENOMEM. */
static int resp_parser_new(struct l7_conn *c)
{
	if (c->resp)
		return 0;
	c->resp = calloc(1, sizeof(*c->resp));
	if (!c->resp)
		return -ENOMEM;
	exlb_http_parser_init(c->resp, EXLB_HTTP_RESPONSE);
	if (c->req_is_head)
		exlb_http_expect_no_body(c->resp);
	return 0;
}

/*
 * The connection to RS @failed (@st) failed with @err before the server
 * had any byte of the request -- connect refused, reset or unreachable,
 * our connect timeout (ETIMEDOUT), a failed TLS handshake with it --, and
 * the server connection is closed with what was queued for it kept. The
 * request (or tunnel) goes to another serving RS of the same SubVS, up to
 * L7_CONNECT_TRIES RSs in all; the caller answers as before if this
 * returns false. @passive: the failure says the RS is unreachable and
 * counts towards marking it down (docs/proxy.md "Connect failures").
 */
static bool server_retry(struct l7_conn *c, uint32_t failed,
			 struct l7_rs_state *st, int err, bool passive)
{
	struct exlb_proxy *p = c->w->proxy;
	struct l7_vs *vs = l7_plan_vs(c->plan, c->vs_id);
	struct l7_subvs *sv = conn_subvs(c, vs);
	bool local = err == EMFILE || err == ENFILE || err == ENOMEM;
	bool can;

	/* nothing of a response (or of the tunnel's server side) has gone out */
	can = sv && !local && c->nr_tried < L7_CONNECT_TRIES &&
	      ((c->phase == PH_REQUEST && !c->resp_head_sent && !c->status) ||
	       (c->phase == PH_TUNNEL && !c->req_bytes_out && !c->to_c.len));
	if (passive && st && !local)
		l7_rs_connect_failed(p, st, err, can);
	if (!can)
		return false;
	c->tried[c->nr_tried++] = failed;
	while (c->nr_tried < L7_CONNECT_TRIES) {
		struct l7_rs *rs = l7_pick_rs(sv, &c->peer, &c->holds, c->tried, c->nr_tried);
		int r;

		if (!rs)
			return false;
		r = server_open(c, vs, rs);
		if (!r) {
			if (c->phase == PH_REQUEST && resp_parser_new(c)) {
				c->dead = true;
				return true;
			}
			return true;
		}
		if (r == -EMFILE || r == -ENFILE || r == -ENOMEM)
			return false;
		l7_rs_connect_failed(p, rs->st, -r, true);
		c->tried[c->nr_tried++] = rs->id;
	}
	return false;
}

/* Closes a server connection that failed before it carried anything. */
static void server_drop(struct l7_conn *c)
{
	size_t queued = c->to_s.len;

	server_close(c);
	c->to_s.len = queued;	/* the request (or tunnel bytes) for the next try */
}

/* ---- closing ---- */

static void conn_free(struct l7_conn *c)
{
	struct l7_worker *w = c->w;

	ev_timer_stop(w->loop, &c->timer);
	l7_ep_close(w->loop, &c->c);
	l7_persist_release(&c->holds);
	l7_vs_conn_close(c->vs_st);
	server_close(c);
	for (int i = 0; i < 2; i++) {
		struct l7_splice *sp = i ? &c->sp_s2c : &c->sp_c2s;

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
	if (c->req) {
		exlb_http_parser_release(c->req);
		free(c->req);
	}
	free(c->cin);
	free(c->sin);
	exlb_buf_free(&c->to_s);
	exlb_buf_free(&c->to_c);
	l7_plan_put(c->plan);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nr_conns--;
	free(c);
}

/*
 * Ends the connection now: the request in progress (if any) is logged
 * with @who/@phase as its termination code.
 */
static void conn_abort(struct l7_conn *c, char who, char phase)
{
	set_term(c, who, phase);
	if (c->phase == PH_REQUEST || c->phase == PH_LOCAL ||
	    c->phase == PH_TUNNEL || who != 'C')
		log_request(c);
	c->dead = true;
}

/* ---- answering a request ourselves ---- */

/* @h: the request being answered, when its head is at hand (for %h/%s). */
static void local_reply_to(struct l7_conn *c, unsigned int status,
			   const char *url, char who,
			   const struct exlb_http_head *h)
{
	c->status = status;
	set_term(c, who, 'R');
	c->to_c.len = 0;
	if (exlb_http_build_error(status, url, h, true, &c->to_c)) {
		c->dead = true;
		return;
	}
	c->req_bytes_out += c->to_c.len;
	c->phase = PH_LOCAL;
	if (c->s.fd >= 0 && !c->bound)
		server_close(c);
}

static void local_reply(struct l7_conn *c, unsigned int status,
			const char *url, char who)
{
	local_reply_to(c, status, url, who, NULL);
}

/* Errors of routing: ErrorCode/ErrorUrl of the VS, else 503. */
static void reply_unavailable_to(struct l7_conn *c, struct l7_vs *vs,
				 const struct exlb_http_head *h)
{
	unsigned int code = vs->error_code ? vs->error_code : 503;

	local_reply_to(c, code, vs->error_url[0] ? vs->error_url : NULL, 'L', h);
	if (code == 503 && !vs->error_code)
		c->term[0] = 'S';	/* no server: not a configured answer */
}

static void reply_unavailable(struct l7_conn *c, struct l7_vs *vs)
{
	reply_unavailable_to(c, vs, NULL);
}

/* ---- routing a request ---- */

static bool has_conn_auth(const struct exlb_http_head *h)
{
	for (size_t i = 0; i < h->nr_headers; i++) {
		const struct exlb_http_header *hd = &h->headers[i];

		if (hd->name_len != 13 ||
		    strncasecmp(hd->name, "Authorization", 13))
			continue;
		if ((hd->value_len > 5 && !strncasecmp(hd->value, "NTLM ", 5)) ||
		    (hd->value_len > 10 &&
		     !strncasecmp(hd->value, "Negotiate ", 10)))
			return true;
	}
	return false;
}

static struct l7_subvs *choose_subvs(struct l7_vs *vs,
				     const struct exlb_http_head *h)
{
	struct l7_subvs *fallback = NULL;

	if (!vs->has_subvs)
		return &vs->subvs[0];
	/* in order, the first SubVS one of whose rules matches; a SubVS
	 * without rules takes what no rule took */
	for (size_t i = 0; i < vs->nr_subvs; i++) {
		struct l7_subvs *sv = &vs->subvs[i];

		if (!sv->nr_rules) {
			if (!fallback)
				fallback = sv;
			continue;
		}
		for (size_t r = 0; r < sv->nr_rules; r++)
			if (exlb_content_rule_match(sv->rules[r], h))
				return sv;
	}
	return fallback;
}

/* A request head arrived: route it and queue it for its server. */
static void request_head(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	const struct exlb_http_head *h = &c->req->head;
	struct exlb_http_edit edits[32];
	struct exlb_content_arena arena;
	struct exlb_http_fwd_opts fwd;
	const char *new_target = NULL;
	size_t n_edits = 0;
	struct l7_subvs *sv;
	struct l7_vs *vs;
	struct l7_rs *rs = NULL;
	bool bind_now;
	int err;

	c->phase = PH_REQUEST;
	c->req_start = ev_now(w->loop);
	c->req_done = c->resp_done = c->resp_head_sent = false;
	c->status = 0;
	c->req_bytes_in = c->req_bytes_out = 0;
	memcpy(c->term, "--", 3);
	snprintf(c->method, sizeof(c->method), "%s", h->method_name);
	c->target_len = h->target_len < sizeof(c->target) - 1 ?
			h->target_len : sizeof(c->target) - 1;
	memcpy(c->target, h->target, c->target_len);
	c->target[c->target_len] = '\0';
	c->http_minor = h->http_minor;
	c->req_is_head = !strcmp(c->method, "HEAD");
	c->close_after = !h->keep_alive;
	c->nr_tried = 0;

	l7_plan_put(c->plan);
	c->plan = w->plan;
	l7_plan_get(c->plan);
	vs = l7_plan_vs(c->plan, c->vs_id);
	if (!vs) {	/* the VS was deleted: finish with this client */
		local_reply(c, 503, NULL, 'P');
		return;
	}
	c->idle_s = vs->idle_s;
	bind_now = has_conn_auth(h);

	if (c->bound && c->s.fd >= 0) {
		/* stays on its authenticated server connection */
	} else {
		c->bound = false;
		sv = choose_subvs(vs, h);
		if (sv) {
			c->subvs_id = sv->id;
			rs = l7_pick_rs(sv, &c->peer, &c->holds, NULL, 0);
		} else {
			c->subvs_id = 0;
		}
		if (!rs) {
			reply_unavailable_to(c, vs, h);
			return;
		}
		if (c->s.fd >= 0 && c->s_rs_id != rs->id)
			server_park(c);
		if (c->s.fd < 0) {
			err = server_open(c, vs, rs);
			if (err && !server_retry(c, rs->id, rs->st, -err, true)) {
				set_term(c, 'S', 'C');
				reply_unavailable_to(c, vs, h);
				return;
			}
			if (c->dead)
				return;
		}
	}
	c->bound = c->bound || bind_now;

	/* header rules of the VS, then the forwarding headers */
	exlb_content_arena_init(&arena);
	for (size_t i = 0; i < vs->nr_req_rules; i++)
		exlb_header_rule_apply(vs->req_rules[i], h, edits, 32, &n_edits,
				       &new_target, &arena);
	fwd = vs->fwd;
	fwd.client_addr = c->peer_addr;
	if (exlb_http_proxy_answers_100(h, fwd.expect100)) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		if (exlb_buf_append(&c->to_c, cont, sizeof(cont) - 1))
			c->dead = true;
	}
	if (new_target) {
		/* ModifyURL: the head as sent, with the new target */
		struct exlb_http_head *mod = malloc(sizeof(*mod));

		if (!mod) {
			c->dead = true;
		} else {
			*mod = *h;
			mod->target = new_target;
			mod->target_len = strlen(new_target);
			if (exlb_http_build_request(mod, edits, n_edits, &fwd,
						    &c->to_s))
				c->dead = true;
			free(mod);
		}
	} else if (exlb_http_build_request(h, edits, n_edits, &fwd, &c->to_s)) {
		c->dead = true;
	}
	exlb_content_arena_free(&arena);
	if (resp_parser_new(c)) {
		c->dead = true;
		return;
	}
	if (c->req_is_head)
		exlb_http_expect_no_body(c->resp);
}

/* ---- the request direction: client -> server ---- */

/*
 * Reads into *@buf, which an idle connection does not have: the first read
 * goes to the worker's scratch buffer and a buffer is taken only when
 * bytes came, so ten thousand idle connections hold no read buffers.
 */
static ssize_t read_into(struct l7_conn *c, struct l7_ep *ep, char **buf,
			 size_t *len)
{
	ssize_t r;

	if (*buf)
		return l7_ep_read(ep, *buf + *len, L7_BUF - *len);
	r = l7_ep_read(ep, c->w->scratch, L7_BUF);
	if (r <= 0)
		return r;
	*buf = malloc(L7_BUF);
	if (!*buf)
		return -ENOMEM;
	memcpy(*buf, c->w->scratch, (size_t)r);
	return r;
}

/* Between requests: give back what an idle connection does not need. */
static void conn_shrink(struct l7_conn *c)
{
	if (c->req && !c->cin_len) {
		exlb_http_parser_release(c->req);
		free(c->req);
		c->req = NULL;
	}
	if (c->cin && !c->cin_len) {
		free(c->cin);
		c->cin = NULL;
	}
	if (c->sin && !c->sin_len) {
		free(c->sin);
		c->sin = NULL;
	}
	if (!c->to_s.len)
		exlb_buf_free(&c->to_s);
	if (!c->to_c.len)
		exlb_buf_free(&c->to_c);
}

/* Parses what the client sent; returns whether anything moved. */
static bool process_client_input(struct l7_conn *c)
{
	bool progress = false, again = false;

	/*
	 * After a head or body bytes the parser is fed again even with
	 * nothing left: that is how a message without a body ends (END).
	 */
	while ((c->cin_len || again) && !c->dead) {
		enum exlb_http_event ev;
		size_t used = 0;

		again = false;
		if (c->phase == PH_TUNNEL) {
			if (!c->cin_len)
				break;
			if (c->to_s.len >= L7_MAX_PENDING)
				break;
			if (exlb_buf_append(&c->to_s, c->cin, c->cin_len)) {
				c->dead = true;
				break;
			}
			c->req_bytes_in += c->cin_len;
			c->cin_len = 0;
			return true;
		}
		if (c->phase == PH_LOCAL)
			break;		/* the rest of the request is ignored */
		/* one request at a time: the next waits for this response */
		if (c->phase == PH_REQUEST && c->req_done)
			break;
		if (c->to_s.len >= L7_MAX_PENDING)
			break;
		if (!c->req) {
			c->req = calloc(1, sizeof(*c->req));
			if (!c->req) {
				c->dead = true;
				break;
			}
			exlb_http_parser_init(c->req, EXLB_HTTP_REQUEST);
		}
		if (c->phase == PH_WAIT && !c->head_start)
			c->head_start = ev_now(c->w->loop);
		ev = exlb_http_feed(c->req, c->cin, c->cin_len, &used);
		switch (ev) {
		case EXLB_HTTP_ERROR:
			if (c->phase == PH_REQUEST) {
				/*
				 * The body's framing is bad and the head went
				 * out: the server holds a request it cannot
				 * finish, so it goes. The client gets the 400
				 * when nothing of a final response has reached
				 * it and nothing is queued for it (a 1xx that
				 * went out is only interim); else just the close.
				 */
				if ((c->resp_head_sent && c->status) ||
				    c->to_c.len || c->sp_s2c.active) {
					conn_abort(c, 'P', 'D');
					return true;
				}
				server_close(c);
				set_term(c, 'P', 'D');
				local_reply(c, c->req->error_status, NULL, 'P');
				c->cin_len = 0;
				return true;
			}
			c->req_start = ev_now(c->w->loop);
			local_reply(c, c->req->error_status, NULL, 'P');
			c->cin_len = 0;
			return true;
		case EXLB_HTTP_HEAD:
		case EXLB_HTTP_UPGRADE:
			drop_front(c->cin, &c->cin_len, used);
			c->head_start = 0;
			request_head(c);
			/* the head's earlier parts were counted before the reset */
			c->req_bytes_in += c->req->head_len ? c->req->head_len : used;
			progress = true;
			again = c->phase == PH_REQUEST;
			continue;
		case EXLB_HTTP_BODY:
		case EXLB_HTTP_END:
			if (exlb_buf_append(&c->to_s, c->cin, used)) {
				c->dead = true;
				return true;
			}
			c->req_bytes_in += used;
			drop_front(c->cin, &c->cin_len, used);
			if (ev == EXLB_HTTP_END)
				c->req_done = true;
			progress = true;
			again = ev == EXLB_HTTP_BODY && used;
			continue;
		case EXLB_HTTP_NEED_MORE:
			if (c->phase == PH_REQUEST)
				c->req_bytes_in += used;	/* body bytes */
			drop_front(c->cin, &c->cin_len, used);
			return true;
		}
	}
	return progress;
}

/* ---- the response direction: server -> client ---- */

static void response_done(struct l7_conn *c)
{
	c->resp_done = true;
	log_request(c);
	l7_plan_put(c->plan);
	c->plan = NULL;
	if (!c->req_done)
		c->close_after = true;	/* answered before the body ended */
	if (!c->s_keepalive) {
		if (c->bound)
			c->close_after = true;
		server_close(c);
	}
	if (c->close_after) {
		c->phase = PH_LOCAL;	/* flush, then close */
		return;
	}
	c->phase = PH_WAIT;
	/* buffers and parser stay while requests keep coming (sweep: idle ones) */
	c->idle_since = ev_now(c->w->loop);
}

static bool process_server_input(struct l7_conn *c)
{
	bool progress = false, again = false;

	while ((c->sin_len || again) && !c->dead) {
		enum exlb_http_event ev;
		size_t used = 0;
		struct l7_vs *vs;

		again = false;
		if (c->phase == PH_TUNNEL) {
			if (!c->sin_len)
				break;
			if (c->to_c.len >= L7_MAX_PENDING)
				break;
			if (exlb_buf_append(&c->to_c, c->sin, c->sin_len)) {
				c->dead = true;
				break;
			}
			c->req_bytes_out += c->sin_len;
			c->sin_len = 0;
			return true;
		}
		if (c->phase != PH_REQUEST || !c->resp) {
			/* a server talking out of turn: not reusable */
			server_close(c);
			return true;
		}
		if (c->to_c.len >= L7_MAX_PENDING)
			break;
		ev = exlb_http_feed(c->resp, c->sin, c->sin_len, &used);
		switch (ev) {
		case EXLB_HTTP_ERROR:
			if (!c->resp_head_sent) {
				set_term(c, 'S', 'H');
				vs = l7_plan_vs(c->plan, c->vs_id);
				local_reply(c, 502, NULL, 'S');
				(void)vs;
			} else {
				conn_abort(c, 'S', 'D');
			}
			server_close(c);
			return true;
		case EXLB_HTTP_HEAD:
		case EXLB_HTTP_UPGRADE: {
			const struct exlb_http_head *h = &c->resp->head;
			bool informational = h->status < 200;
			bool close;

			vs = l7_plan_vs(c->plan, c->vs_id);
			drop_front(c->sin, &c->sin_len, used);
			if (!informational) {
				c->status = h->status;
				c->s_keepalive = h->keep_alive;
				/* a body that ends with the connection ends the client's too */
				if (!h->keep_alive && !h->chunked &&
				    !h->has_content_length && !c->req_is_head &&
				    h->status != 204 && h->status != 304)
					c->close_after = true;
			}
			close = c->close_after && !informational &&
				ev != EXLB_HTTP_UPGRADE;
			{
				struct exlb_http_edit edits[32];
				struct exlb_content_arena arena;
				size_t n_edits = 0;

				exlb_content_arena_init(&arena);
				for (size_t i = 0; vs && i < vs->nr_resp_rules; i++)
					exlb_header_rule_apply(vs->resp_rules[i], h,
							       edits, 32, &n_edits,
							       NULL, &arena);
				if (exlb_http_build_response(h, edits, n_edits, close,
							     vs && vs->tls ?
							     exlb_tls_vs_hsts(vs->tls) : 0,
							     &c->to_c))
					c->dead = true;
				exlb_content_arena_free(&arena);
			}
			c->resp_head_sent = true;
			c->req_bytes_out += used;
			if (ev == EXLB_HTTP_UPGRADE) {
				c->phase = PH_TUNNEL;
				c->close_after = true;
			}
			progress = true;
			again = ev == EXLB_HTTP_HEAD;
			continue;
		}
		case EXLB_HTTP_BODY:
		case EXLB_HTTP_END:
			if (exlb_buf_append(&c->to_c, c->sin, used)) {
				c->dead = true;
				return true;
			}
			c->req_bytes_out += used;
			drop_front(c->sin, &c->sin_len, used);
			progress = true;
			if (ev == EXLB_HTTP_END && c->status >= 200)
				response_done(c);
			again = (ev == EXLB_HTTP_BODY && used) ||
				(ev == EXLB_HTTP_END && c->phase == PH_REQUEST);
			continue;
		case EXLB_HTTP_NEED_MORE:
			c->req_bytes_out += used;
			drop_front(c->sin, &c->sin_len, used);
			return true;
		}
	}
	return progress;
}

/* ---- splice (bodies of known length, tunnels) ---- */

static int splice_pipe(struct l7_worker *w, struct l7_splice *sp)
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

/*
 * Whether one direction may go through splice now: the bytes it would
 * move are body bytes of known length (or a tunnel), and nothing sits in
 * our buffers ahead of them.
 */
static uint64_t splice_budget(struct l7_conn *c, bool c2s)
{
	struct exlb_http_parser *p = c2s ? c->req : c->resp;
	struct l7_ep *src = c2s ? &c->c : &c->s;
	struct l7_ep *dst = c2s ? &c->s : &c->c;
	uint64_t left;

	if (src->fd < 0 || dst->fd < 0 || c->s_connecting ||
	    !dst->handshake_done || src->eof)
		return 0;
	if (!l7_ep_can_splice_from(src) || !l7_ep_can_splice_to(dst))
		return 0;
	if (c2s ? (c->cin_len || c->to_s.len) : (c->sin_len || c->to_c.len))
		return 0;
	if (c->phase == PH_TUNNEL)
		return UINT64_MAX;
	if (c->phase != PH_REQUEST || !p)
		return 0;
	if (c2s ? c->req_done : (!c->resp_head_sent || c->resp_done))
		return 0;
	left = exlb_http_body_left(p);
	if (left == EXLB_HTTP_BODY_UNKNOWN || left < L7_SPLICE_MIN)
		return 0;
	return left;
}

static bool splice_step(struct l7_conn *c, bool c2s)
{
	struct l7_splice *sp = c2s ? &c->sp_c2s : &c->sp_s2c;
	struct l7_ep *src = c2s ? &c->c : &c->s;
	struct l7_ep *dst = c2s ? &c->s : &c->c;
	bool progress = false;
	ssize_t r;

	if (!sp->active) {
		sp->left = splice_budget(c, c2s);
		if (!sp->left || splice_pipe(c->w, sp))
			return false;
		sp->active = true;
	}
	if (sp->in_pipe) {
		r = l7_splice_out(sp->pipe[0], dst, sp->in_pipe);
		if (r > 0) {
			sp->in_pipe -= (size_t)r;
			progress = true;
		} else if (r != L7_IO_AGAIN) {
			conn_abort(c, c2s ? 'S' : 'C', 'D');
			return true;
		}
	}
	if (!sp->in_pipe && sp->left) {
		size_t max = sp->left < L7_SPLICE_CHUNK ? (size_t)sp->left :
			     L7_SPLICE_CHUNK;

		r = l7_splice_in(src, sp->pipe[1], max);
		if (r > 0) {
			sp->in_pipe = (size_t)r;
			if (sp->left != UINT64_MAX) {
				sp->left -= (uint64_t)r;
				sp->msg_end = !sp->left;
			}
			if (c2s)
				c->req_bytes_in += (uint64_t)r;
			else
				c->req_bytes_out += (uint64_t)r;
			if (c->phase == PH_REQUEST)
				exlb_http_body_skipped(c2s ? c->req : c->resp,
						       (uint64_t)r);
			c->last_activity = ev_now(c->w->loop);
			progress = true;
		} else if (r == L7_IO_EOF || r == -EINVAL) {
			/*
			 * EOF, or a kTLS control record (alert, close_notify):
			 * the normal path reads it through OpenSSL.
			 */
			sp->left = 0;
			src->eof = false;
		} else if (r != L7_IO_AGAIN && c->phase == PH_TUNNEL) {
			/* a reset ends a tunnel's direction, as in client_read() */
			sp->left = 0;
			src->eof = true;
		} else if (r != L7_IO_AGAIN) {
			conn_abort(c, c2s ? 'C' : 'S', 'D');
			return true;
		}
	}
	if (!sp->in_pipe && !sp->left) {
		sp->active = false;
		if (sp->msg_end) {
			sp->msg_end = false;
			if (!c2s && c->phase == PH_REQUEST && c->status >= 200)
				response_done(c);
			else if (c2s && c->phase == PH_REQUEST)
				c->req_done = true;
		}
		progress = true;
	}
	return progress;
}

/* ---- the pump ---- */

static bool client_read(struct l7_conn *c)
{
	ssize_t r;

	if (c->c.eof || c->cin_len >= L7_BUF || c->sp_c2s.active)
		return false;
	if (c->phase == PH_LOCAL)
		return false;
	if (c->phase == PH_REQUEST && c->req_done && c->cin_len)
		return false;	/* the next request waits */
	r = read_into(c, &c->c, &c->cin, &c->cin_len);
	if (r > 0) {
		c->cin_len += (size_t)r;
		c->last_activity = ev_now(c->w->loop);
		return true;
	}
	if (r == L7_IO_AGAIN)
		return false;
	/* the client is gone */
	if (c->phase == PH_TUNNEL) {
		c->c.eof = true;
		return true;
	}
	if (c->phase == PH_WAIT && !c->head_start) {
		c->dead = true;		/* a clean end between requests */
		return true;
	}
	conn_abort(c, 'C', phase_letter(c));
	return true;
}

static bool server_read(struct l7_conn *c)
{
	ssize_t r;

	if (c->s.fd < 0 || c->s_connecting || c->s.eof || c->sin_len >= L7_BUF ||
	    c->sp_s2c.active || !c->s.handshake_done)
		return false;
	r = read_into(c, &c->s, &c->sin, &c->sin_len);
	if (r > 0) {
		c->sin_len += (size_t)r;
		c->last_activity = ev_now(c->w->loop);
		return true;
	}
	if (r == L7_IO_AGAIN)
		return false;
	/* the server closed */
	if (c->phase == PH_TUNNEL) {
		c->s.eof = true;
		return true;
	}
	if (c->phase != PH_REQUEST || c->resp_done) {
		if (c->bound)
			c->close_after = true;
		server_close(c);
		if (c->bound && c->phase == PH_WAIT)
			c->dead = true;
		return true;
	}
	if (c->resp && c->resp_head_sent &&
	    exlb_http_body_left(c->resp) == EXLB_HTTP_BODY_UNKNOWN &&
	    !c->resp->head.chunked) {
		/* read-until-close body: its end */
		c->s_keepalive = false;
		c->close_after = true;
		response_done(c);
		return true;
	}
	if (!c->resp_head_sent) {
		set_term(c, 'S', 'H');
		local_reply(c, 502, NULL, 'S');
		server_close(c);
		return true;
	}
	conn_abort(c, 'S', 'D');
	return true;
}

static bool flush(struct l7_conn *c, struct l7_ep *ep, struct exlb_buf *b)
{
	bool progress = false;
	ssize_t r;

	while (b->len) {
		r = l7_ep_write(ep, b->data, b->len);
		if (r > 0) {
			buf_consume(b, (size_t)r);
			c->last_activity = ev_now(c->w->loop);
			progress = true;
			continue;
		}
		if (r == L7_IO_AGAIN)
			break;
		conn_abort(c, ep == &c->c ? 'C' : 'S', phase_letter(c));
		return true;
	}
	return progress;
}

/* TCP connect and TLS handshake with the server. */
static bool server_progress(struct l7_conn *c, int revents)
{
	int err = 0, r;
	socklen_t len = sizeof(err);

	if (c->s.fd < 0)
		return false;
	if (c->s_connecting) {
		if (!(revents & EV_WRITE))
			return false;
		if (getsockopt(c->s.fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			uint32_t rs_id = c->s_rs_id;
			struct l7_rs_state *st = c->s_st;
			struct l7_vs *vs;

			server_drop(c);
			if (server_retry(c, rs_id, st, err ? err : EIO, true))
				return true;
			vs = l7_plan_vs(c->plan, c->vs_id);
			set_term(c, 'S', 'C');
			server_close(c);
			if (vs && !c->resp_head_sent && c->phase == PH_REQUEST)
				reply_unavailable(c, vs);
			else
				c->dead = true;
			return true;
		}
		l7_rs_connect_ok(c->s_st);
		c->s_connecting = false;
		if (!c->s.ssl)
			c->s.handshake_done = true;
		return true;
	}
	if (c->s.handshake_done)
		return false;
	r = l7_ep_handshake(&c->s);
	if (r == 1)
		return true;
	if (r < 0) {
		uint32_t rs_id = c->s_rs_id;
		struct l7_rs_state *st = c->s_st;
		struct l7_vs *vs;

		/* a TLS problem, not an unreachable server: no passive count */
		server_drop(c);
		if (server_retry(c, rs_id, st, EPROTO, false))
			return true;
		vs = l7_plan_vs(c->plan, c->vs_id);
		set_term(c, 'S', 'C');
		server_close(c);
		if (vs && c->phase == PH_REQUEST)
			reply_unavailable(c, vs);
		else
			c->dead = true;
		return true;
	}
	return false;
}

/* Tunnels: the VS has no HTTP; the server is chosen once, after the handshake. */
static void tunnel_start(struct l7_conn *c)
{
	struct l7_vs *vs;
	struct l7_rs *rs;
	int err;

	c->plan = c->w->plan;
	l7_plan_get(c->plan);
	vs = l7_plan_vs(c->plan, c->vs_id);
	c->phase = PH_TUNNEL;
	c->req_start = ev_now(c->w->loop);
	memcpy(c->term, "--", 3);
	if (!vs) {
		c->dead = true;
		return;
	}
	c->subvs_id = vs->subvs[0].id;
	c->nr_tried = 0;
	rs = l7_pick_rs(&vs->subvs[0], &c->peer, &c->holds, NULL, 0);
	err = rs ? server_open(c, vs, rs) : -EHOSTUNREACH;
	if (err && (!rs || !server_retry(c, rs->id, rs->st, -err, true))) {
		conn_abort(c, 'S', 'C');
		return;
	}
}

static void conn_update_io(struct l7_conn *c)
{
	struct ev_loop *loop = c->w->loop;
	int ce = 0, se = 0;

	if (c->phase == PH_HANDSHAKE) {
		ce = c->c.hs_events;
	} else {
		bool want_c_read = !c->c.eof && c->cin_len < L7_BUF &&
				   c->phase != PH_LOCAL &&
				   !(c->phase == PH_REQUEST && c->req_done && c->cin_len);

		if (c->sp_c2s.active && !c->sp_c2s.in_pipe)
			want_c_read = true;
		if (want_c_read)
			ce |= c->c.want_read_events ? c->c.want_read_events : EV_READ;
		if (c->to_c.len || c->sp_s2c.in_pipe)
			ce |= c->c.want_write_events ? c->c.want_write_events : EV_WRITE;
	}
	if (c->s.fd >= 0) {
		if (c->s_connecting) {
			se = EV_WRITE;
		} else if (!c->s.handshake_done) {
			se = c->s.hs_events ? c->s.hs_events : EV_READ;
		} else {
			if ((!c->s.eof && c->sin_len < L7_BUF) || c->sp_s2c.active)
				se |= c->s.want_read_events ? c->s.want_read_events : EV_READ;
			if (c->to_s.len || c->sp_c2s.in_pipe)
				se |= c->s.want_write_events ? c->s.want_write_events : EV_WRITE;
		}
		l7_ep_watch(loop, &c->s, se);
	}
	l7_ep_watch(loop, &c->c, ce);
}

static void conn_pump_events(struct l7_conn *c, int s_revents)
{
	for (int round = 0; round < L7_PUMP_ROUNDS && !c->dead; round++) {
		bool progress = false;

		if (c->phase == PH_HANDSHAKE) {
			int r = l7_ep_handshake(&c->c);
			struct l7_vs *vs;

			if (r < 0) {
				/* not a request: nothing to log but the reason */
				c->dead = true;
				break;
			}
			if (r == 0)
				break;
			if (c->c.ktls_tx || c->c.ktls_rx) {
				atomic_fetch_add(&c->w->proxy->ktls_conns, 1);
			} else {
				atomic_fetch_add(&c->w->proxy->userspace_conns, 1);
				/* --tls-relay ktls asked for it: say once why not */
				if (c->w->proxy->opts.tls_relay == EXLB_TLS_RELAY_KTLS &&
				    !atomic_exchange(&c->w->proxy->ktls_warned, true))
					exlb_log("proxy: kTLS not used for a %s %s session "
						 "(needs AES-GCM and the kernel's tls module); "
						 "relaying in userspace",
						 c->c.ssl ? SSL_get_version(c->c.ssl) : "?",
						 c->c.ssl ? SSL_get_cipher_name(c->c.ssl) : "?");
			}
			vs = l7_plan_vs(c->w->plan, c->vs_id);
			c->phase = PH_WAIT;
			c->last_activity = ev_now(c->w->loop);
			if (vs && vs->kind == L7_VS_TUNNEL)
				tunnel_start(c);
			progress = true;
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
		progress |= process_client_input(c);
		if (c->s.fd >= 0 && !c->s_connecting && c->s.handshake_done &&
		    !c->sp_c2s.in_pipe)
			progress |= flush(c, &c->s, &c->to_s);
		progress |= server_read(c);
		progress |= process_server_input(c);
		if (!c->sp_s2c.in_pipe)
			progress |= flush(c, &c->c, &c->to_c);
		if (c->dead)
			break;
		/* a local answer or a closing response is complete */
		if (c->phase == PH_LOCAL && !c->to_c.len && !c->sp_s2c.in_pipe) {
			if (!c->resp_done)
				log_request(c);	/* our own answer */
			l7_ep_shutdown(&c->c);
			c->dead = true;
			break;
		}
		if (c->phase == PH_TUNNEL) {
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
			if (c->c.shut && c->s.shut) {
				log_request(c);
				c->dead = true;
				break;
			}
		}
		if (!progress)
			break;
	}
	if (c->dead) {
		conn_free(c);
		return;
	}
	/*
	 * A TLS offload tunnel (IMAPS, POPS, SMTPS) holds no buffers while
	 * nothing is in flight: mail clients stay connected for hours.
	 */
	if (c->phase == PH_TUNNEL && !c->req)
		conn_shrink(c);
	conn_update_io(c);
	/* a phase may have begun whose limit is nearer than the timer */
	conn_arm_timer(c, conn_deadline(c) - ev_now(c->w->loop));
}

static void conn_pump(struct l7_conn *c)
{
	conn_pump_events(c, 0);
}

static void on_client_io(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	conn_pump(io->data);
}

static void on_server_io(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	conn_pump_events(io->data, revents);
}

/* ---- timeouts ---- */

/* The timer fires no later than @secs from now (it re-checks then). */
static void conn_arm_timer(struct l7_conn *c, double secs)
{
	struct ev_loop *loop = c->w->loop;

	if (ev_is_active(&c->timer) && ev_timer_remaining(loop, &c->timer) <= secs)
		return;
	ev_timer_stop(loop, &c->timer);
	ev_timer_set(&c->timer, secs, 0);
	ev_timer_start(loop, &c->timer);
}

/* When the connection's current phase runs out of time (docs/proxy.md). */
static ev_tstamp conn_deadline(const struct l7_conn *c)
{
	if (c->phase == PH_HANDSHAKE)
		return c->req_start + L7_HEAD_TIMEOUT_S;
	if (c->phase == PH_LOCAL)
		return c->last_activity + L7_LOCAL_TIMEOUT_S;
	if (c->s_connecting)
		return c->s_since + c->connect_s;
	if (c->phase == PH_WAIT && c->head_start)
		return c->head_start + L7_HEAD_TIMEOUT_S;	/* slowloris */
	return c->last_activity + c->idle_s;
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct l7_conn *c = t->data;
	struct l7_vs *vs = l7_plan_vs(c->plan ? c->plan : c->w->plan, c->vs_id);
	ev_tstamp now = ev_now(loop), deadline = conn_deadline(c);

	(void)revents;
	if (now < deadline) {
		ev_timer_set(t, deadline - now, 0);
		ev_timer_start(loop, t);
		return;
	}
	if (c->phase == PH_HANDSHAKE || c->phase == PH_LOCAL) {
		c->dead = true;
	} else if (c->s_connecting) {
		uint32_t rs_id = c->s_rs_id;
		struct l7_rs_state *st = c->s_st;

		server_drop(c);
		if (!server_retry(c, rs_id, st, ETIMEDOUT, true)) {
			set_term(c, 's', 'C');
			server_close(c);
			vs = l7_plan_vs(c->plan ? c->plan : c->w->plan, c->vs_id);
			if (vs && c->phase == PH_REQUEST)
				reply_unavailable(c, vs);
			else
				c->dead = true;
		}
	} else if (c->phase == PH_WAIT && c->head_start) {
		c->req_start = c->head_start;
		local_reply(c, 408, NULL, 'c');
	} else if (c->phase == PH_WAIT) {
		c->dead = true;	/* idle keep-alive connection */
	} else {
		conn_abort(c, c->phase == PH_REQUEST && c->req_done ? 's' : 'c',
			   phase_letter(c));
	}
	if (!c->dead) {
		ev_timer_set(t, 1.0, 0);
		ev_timer_start(loop, t);
	}
	conn_pump(c);
}

/* ---- accept ---- */

void l7_accept(struct l7_worker *w, int fd, struct l7_vs *vs,
	       const struct sockaddr_storage *peer)
{
	struct l7_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c) {
		close(fd);
		l7_vs_conn_close(vs->st);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->w = w;
	c->vs_id = vs->id;
	c->vs_st = vs->st;
	c->idle_s = vs->idle_s;
	c->peer = *peer;
	l7_sockaddr_format(peer, c->peer_addr, sizeof(c->peer_addr), false);
	memcpy(c->term, "--", 3);
	c->sp_c2s.pipe[0] = c->sp_c2s.pipe[1] = -1;
	c->sp_s2c.pipe[0] = c->sp_s2c.pipe[1] = -1;
	l7_ep_init(&c->c, fd);
	l7_ep_init(&c->s, -1);
	c->c.io.data = c;
	ev_set_cb(&c->c.io, on_client_io);
	c->req_start = c->last_activity = ev_now(w->loop);
	if (vs->tls) {
		c->c.ssl = exlb_tls_vs_ssl_new(vs->tls);
		if (!c->c.ssl || !SSL_set_fd(c->c.ssl, fd)) {
			SSL_free(c->c.ssl);
			close(fd);
			l7_vs_conn_close(vs->st);
			free(c);
			return;
		}
		c->c.tls = true;
		c->c.want_ktls = w->proxy->opts.tls_relay != EXLB_TLS_RELAY_USERSPACE;
		c->phase = PH_HANDSHAKE;
		c->c.hs_events = EV_READ;
	} else {
		c->c.handshake_done = true;
		c->phase = PH_WAIT;
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nr_conns++;
	ev_timer_init(&c->timer, on_timer, L7_HEAD_TIMEOUT_S, 0);
	c->timer.data = c;
	ev_timer_start(w->loop, &c->timer);
	if (!vs->tls && vs->kind == L7_VS_TUNNEL)
		tunnel_start(c);
	conn_pump(c);
}

/* ---- after a plan change, and every second ---- */

void l7_conns_sweep(struct l7_worker *w, ev_tstamp now)
{
	struct l7_conn *c, *next;
	uint64_t ms = l7_now_ms();

	for (c = w->conns; c; c = next) {
		struct l7_rs *rs;
		bool kill = false;

		next = c->next;
		if (c->phase == PH_WAIT && !c->head_start && c->idle_since &&
		    now - c->idle_since >= L7_SHRINK_S) {
			conn_shrink(c);
			c->idle_since = 0;
		}
		if (c->s.fd < 0 || !c->s_rs_id || !w->plan)
			continue;
		rs = l7_plan_rs(w->plan, c->vs_id, c->s_rs_id);
		if (!rs)
			continue;
		if (w->plan->droponfail && rs->failed) {
			set_term(c, 'D', phase_letter(c));
			kill = true;
		} else if (w->plan->dropatdrainend && rs->draining &&
			   ms - atomic_load(&rs->st->drain_since_ms) >=
			   w->plan->finalpersist * 1000ull) {
			set_term(c, 'K', phase_letter(c));
			kill = true;
		}
		if (!kill)
			continue;
		if (c->s_connecting && c->plan) {
			/* nothing reached it: the request tries another RS */
			uint32_t rs_id = c->s_rs_id;
			struct l7_rs_state *st = c->s_st;
			char term[3];

			memcpy(term, c->term, sizeof(term));
			memcpy(c->term, "--", 3);
			server_drop(c);
			if (server_retry(c, rs_id, st, EHOSTUNREACH, false)) {
				conn_pump(c);
				continue;
			}
			memcpy(c->term, term, sizeof(term));
		}
		if (c->phase == PH_WAIT && !c->bound) {
			server_close(c);	/* the next request picks another */
			continue;
		}
		conn_abort(c, c->term[0], c->term[1]);
		l7_ep_reset_on_close(&c->c);
		l7_ep_reset_on_close(&c->s);
		conn_free(c);
	}
}

void l7_conns_close_all(struct l7_worker *w)
{
	while (w->conns)
		conn_free(w->conns);
}
