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
 *
 * ESP (docs/esp.md) acts on a complete request head before a server is
 * chosen: the gates, the Basic and form logons (answered here, or the
 * request held in PH_AUTH while the directory decides), and with
 * OutputAuthMode=2 a request of exlbd's own -- POST /owa/auth.owa -- sent
 * through the same routing as the client's, whose answer decides the
 * logon (owa_answer()).
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
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "esp/basic.h"
#include "esp/form.h"
#include "esp/owa_form.h"
#include "esp/session.h"
#include "esp/sso.h"
#include "relay.h"

#define L7_HEAD_TIMEOUT_S	15.0	/* a request head must arrive within this */
#define L7_LOCAL_TIMEOUT_S	10.0	/* to deliver our own answer */
#define L7_SPLICE_MIN		16384	/* smaller bodies are not worth a pipe */
#define L7_IDLE_SERVER_S	5.0	/* well below servers' keep-alive timeouts */
#define L7_IDLE_SERVERS_MAX	64	/* per worker */

enum l7_phase {
	PH_HANDSHAKE,	/* TLS handshake with the client */
	PH_WAIT,	/* between requests (or before the first) */
	PH_REQUEST,	/* a request is being forwarded / answered */
	PH_TUNNEL,	/* raw bytes both ways */
	PH_LOCAL,	/* our own answer is being sent; then close */
	PH_AUTH,	/* ESP: the request waits for its directory logon */
};

struct l7_conn {
	struct l7_relay r;	/* endpoints, buffers, pipes, counters, timer */
	char peer_addr[64];
	enum l7_phase phase;

	struct exlb_http_parser *req, *resp;

	/* the request in progress (r.bytes_in/out count it) */
	struct l7_plan *plan;		/* held for it */
	bool req_done, resp_done, resp_head_sent;
	bool req_is_head, close_after;	/* close after this response */
	bool bound;			/* NTLM / Negotiate: keep this server */
	bool answered;			/* a response was sent: keep-alive from now */
	unsigned int status;
	char method[24];
	char target[256];
	size_t target_len;
	unsigned int http_minor;
	ev_tstamp req_start, head_start;

	/* the server connection (r.s) */
	bool s_keepalive;		/* the server allows another request */

	double idle_s;			/* the VS's Idletime, else conntimeout */

	/* PH_AUTH: the logon the request waits for, and where it goes then */
	struct esp_auth *auth;
	struct esp_decision *auth_esp;	/* the gates' target */
	const struct esp_gate *auth_gate;	/* in c->plan */
	struct l7_subvs *auth_sv;
	bool auth_bind_now;
	unsigned char auth_key[ESP_CACHE_KEY_LEN];
	char auth_user[ESP_NAME_MAX];	/* for the log */
	size_t auth_user_len;
	bool auth_resume;		/* feed the parser: the END after a head */

	/* the form logon (InputAuthMode=2) */
	bool form_reading;		/* PH_REQUEST: the body is a logon POST's */
	bool form_wipe;			/* a logon POST came: wipe cin, to_s at the end */
	struct exlb_buf form_body;	/* ... read into this (ESP_FORM_BODY_MAX) */
	struct esp_form *form;		/* PH_AUTH: what it carried */
	char *fwd_auth;			/* OutputAuthMode=1: made from the session */
	bool clear_cookie;		/* logoff: the answer ends the cookie */

	/* OutputAuthMode=2: exlbd logs the user on to Exchange's own form */
	bool owa_logon;			/* PH_REQUEST: ESP's POST /owa/auth.owa */
	struct exlb_buf owa_body;	/* ... its body (a password: wiped) */
	const struct esp_gate *owa_gate;	/* the request's service, in c->plan */
	char owa_sess[ESP_SESSION_HEX + 1];	/* a session's request: its id */
};

_Static_assert(offsetof(struct l7_conn, r) == 0, "relay.h: the relay comes first");

struct l7_idle_server {
	int fd;
	uint32_t rs_id;
	struct l7_rs_state *st;
	ev_tstamp since;
	struct l7_idle_server *next;
	/*
	 * Still watched for EV_READ while idle: a server that closes it is
	 * noticed at once, and the socket stays registered in epoll with the
	 * same events, so moving it between a client and the pool costs no
	 * epoll_ctl() (l7_io_start_known()).
	 */
	ev_io io;
	struct l7_worker *w;
};

static void conn_pump(struct l7_conn *c);

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
	l7_relay_set_term(&c->r, who, phase);
}

/* The phase letter of HAProxy's termination state. */
static char phase_letter(const struct l7_conn *c)
{
	if (c->phase == PH_HANDSHAKE || c->phase == PH_WAIT)
		return 'R';
	if (c->phase == PH_AUTH)
		return 'H';
	if (c->r.s_connecting)
		return 'C';
	if (c->phase == PH_REQUEST && !c->resp_head_sent)
		return 'H';
	return 'D';
}

#define drop_front l7_relay_drop_front

/* ---- logging a request ---- */

static void log_request(struct l7_conn *c)
{
	struct l7_log_entry e = {
		.method = c->method[0] ? c->method : NULL,
		.target = c->target,
		.target_len = c->target_len,
		.http_minor = c->http_minor,
		.status = c->status,
		.ms = (ev_now(c->r.w->loop) - c->req_start) * 1000.0,
	};

	l7_relay_log(&c->r, &e);
}

/* ---- server connections ---- */

static void server_close(struct l7_conn *c)
{
	l7_relay_server_close(&c->r);
	l7_relay_server_release(&c->r);
	c->r.rs_id = 0;
	c->s_keepalive = false;
	c->r.to_s.len = 0;
	if (c->resp) {
		exlb_http_parser_release(c->resp);
		free(c->resp);
		c->resp = NULL;
	}
}

/* Out of the pool: unlinked, unwatched and closed. */
static void idle_server_drop(struct l7_worker *w, struct l7_idle_server **pp)
{
	struct l7_idle_server *is = *pp;

	*pp = is->next;
	w->nr_idle--;
	ev_io_stop(w->loop, &is->io);
	close(is->fd);
	free(is);
}

/* An idle server connection is readable: closed, reset, or talking out of turn. */
static void on_idle_server_io(struct ev_loop *loop, ev_io *io, int revents)
{
	struct l7_idle_server *is = io->data, **pp = &is->w->idle;

	(void)loop;
	(void)revents;
	while (*pp && *pp != is)
		pp = &(*pp)->next;
	if (*pp)
		idle_server_drop(is->w, pp);
}

/* A plain keep-alive server connection with nothing pending goes to the pool. */
static void server_park(struct l7_conn *c)
{
	struct l7_worker *w = c->r.w;
	struct l7_idle_server *is;

	if (c->r.s.fd < 0)
		return;
	if (c->bound || c->r.s.ssl || !c->s_keepalive || c->r.sin_len ||
	    c->r.to_s.len || w->nr_idle >= L7_IDLE_SERVERS_MAX ||
	    !(is = calloc(1, sizeof(*is)))) {
		server_close(c);
		return;
	}
	l7_ep_watch(w->loop, &c->r.s, 0);
	is->fd = c->r.s.fd;
	is->rs_id = c->r.rs_id;
	is->st = c->r.rs_st;
	is->since = ev_now(w->loop);
	is->w = w;
	ev_init(&is->io, on_idle_server_io);
	is->io.data = is;
	l7_io_start_known(w->loop, &is->io, is->fd, EV_READ);
	is->next = w->idle;
	w->idle = is;
	w->nr_idle++;
	/* an idle connection is not an active one for lc/wlc */
	l7_rs_conn_close(c->r.rs_st);
	c->r.rs_st = NULL;
	c->r.s.fd = -1;
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
		/*
		 * It may have closed since the loop last looked (its event
		 * not read yet): a request sent on it would get a 502.
		 */
		r = recv(is->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN) {
			int fd = is->fd;

			*pp = is->next;
			w->nr_idle--;
			ev_io_stop(w->loop, &is->io);	/* the caller's watcher takes over */
			free(is);
			return fd;
		}
		/* closed, reset, or talking out of turn: not reusable */
		idle_server_drop(w, pp);
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
		idle_server_drop(w, pp);
	}
}

/* The SubVS of the request (or tunnel) in progress, in its plan. */
static struct l7_subvs *conn_subvs(struct l7_conn *c, struct l7_vs *vs)
{
	for (size_t i = 0; vs && i < vs->nr_subvs; i++)
		if (vs->subvs[i].id == c->r.subvs_id)
			return &vs->subvs[i];
	return NULL;
}

/* Opens (or reuses) a server connection to @rs. 0 or a negative errno. */
static int server_open(struct l7_conn *c, struct l7_vs *vs, struct l7_rs *rs)
{
	struct l7_worker *w = c->r.w;
	struct l7_subvs *sv = conn_subvs(c, vs);
	bool connecting = false, pooled;
	int fd;

	fd = vs->reencrypt ? -1 : server_unpark(w, rs->id);
	pooled = fd >= 0;
	if (fd < 0) {
		fd = l7_relay_dial(w, rs);
		if (fd < 0)
			return fd;
		connecting = true;
	}
	/* without a SubVS: Kemp's default Timeout */
	l7_relay_server_set(&c->r, fd, rs, sv ? sv->connect_s : 4.0, connecting);
	/* a plain connection from the pool is ready at once */
	c->r.s.handshake_done = !connecting && !vs->reencrypt;
	/* ... and empty: server_unpark()'s peek said so; the loop knows it */
	c->r.s.drained = pooled;
	c->r.s.in_loop = pooled;
	c->s_keepalive = true;
	if (vs->reencrypt) {
		SSL_CTX *ctx = vs->tls ? exlb_tls_vs_client_ctx(vs->tls) : NULL;
		const char *sni = vs->tls ? exlb_tls_vs_reverse_sni(vs->tls) : NULL;

		c->r.s.ssl = ctx ? SSL_new(ctx) : NULL;
		c->r.s.tls = true;
		if (!c->r.s.ssl) {
			server_close(c);
			return -ENOMEM;
		}
		SSL_set_fd(c->r.s.ssl, fd);
		SSL_set_connect_state(c->r.s.ssl);
		SSL_set_mode(c->r.s.ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
			     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		if (sni && *sni)
			SSL_set_tlsext_host_name(c->r.s.ssl, sni);
	}
	l7_ep_track_readiness(&c->r.s);	/* relay.c on_server_io() reports */
	c->r.last_activity = ev_now(w->loop);
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

/* The relay's retry opens the next RS through here. */
static int conn_server_open(struct l7_relay *r, struct l7_subvs *sv,
			    struct l7_rs *rs)
{
	struct l7_conn *c = l7_relay_of(r, struct l7_conn);
	int err = server_open(c, l7_plan_vs(c->plan, r->vs_id), rs);

	(void)sv;	/* the request's own, found again by server_open() */
	if (!err && c->phase == PH_REQUEST && resp_parser_new(c))
		r->dead = true;
	return err;
}

/*
 * The connection to RS @failed (@st) failed with @err before the server
 * had any byte of the request -- connect refused, reset or unreachable,
 * our connect timeout (ETIMEDOUT), a failed TLS handshake with it --, and
 * the server connection is closed with what was queued for it kept. The
 * request (or tunnel) goes to another serving RS of the same SubVS
 * (l7_relay_retry()); the caller answers as before if this returns false.
 * @passive: the failure says the RS is unreachable and counts towards
 * marking it down (docs/proxy.md "Connect failures").
 */
static bool server_retry(struct l7_conn *c, uint32_t failed,
			 struct l7_rs_state *st, int err, bool passive)
{
	struct l7_vs *vs = l7_plan_vs(c->plan, c->r.vs_id);
	/* nothing of a response (or of the tunnel's server side) has gone out */
	bool can = (c->phase == PH_REQUEST && !c->resp_head_sent && !c->status) ||
		   (c->phase == PH_TUNNEL && !c->r.bytes_out && !c->r.to_c.len);

	return l7_relay_retry(&c->r, conn_subvs(c, vs), failed, st, err,
			      passive, can);
}

/* Closes a server connection that failed before it carried anything. */
static void server_drop(struct l7_conn *c)
{
	size_t queued = c->r.to_s.len;

	server_close(c);
	c->r.to_s.len = queued;	/* the request (or tunnel bytes) for the next try */
}

/* ---- closing ---- */

/* Wipes and frees what the form logon held: body, form, credentials. */
static void form_forget(struct l7_conn *c)
{
	if (c->form_body.data) {
		OPENSSL_cleanse(c->form_body.data, c->form_body.cap);
		free(c->form_body.data);
	}
	c->form_body = (struct exlb_buf){ 0 };
	c->form_reading = false;
	if (c->form) {
		esp_form_wipe(c->form);
		free(c->form);
		c->form = NULL;
	}
	if (c->fwd_auth) {
		OPENSSL_cleanse(c->fwd_auth, strlen(c->fwd_auth));
		free(c->fwd_auth);
		c->fwd_auth = NULL;
	}
	if (c->owa_body.data) {
		OPENSSL_cleanse(c->owa_body.data, c->owa_body.cap);
		free(c->owa_body.data);
	}
	c->owa_body = (struct exlb_buf){ 0 };
	c->owa_logon = false;
}

/*
 * What is left of a logon POST's body (a password) in the relay's
 * buffers: the read buffer past what is still to be parsed (drop_front()
 * moves bytes to the front and leaves their old copies behind, and a
 * head's drop leaves a copy of the body that followed it), the worker's
 * scratch buffer (the first read of a quiet connection lands there), the
 * request parser's head buffer past the head (the body that came with
 * it), and the server queue past what is still to be sent (ESP's own
 * POST to Exchange, OutputAuthMode=2). Bytes not yet parsed or sent stay.
 */
static void form_wipe_buffers(struct l7_conn *c)
{
	if (c->req)
		exlb_http_wipe_after_head(c->req);
	if (c->r.cin)
		OPENSSL_cleanse(c->r.cin + c->r.cin_len, L7_BUF - c->r.cin_len);
	OPENSSL_cleanse(c->r.w->scratch, sizeof(c->r.w->scratch));
	if (c->r.to_s.data)
		OPENSSL_cleanse(c->r.to_s.data + c->r.to_s.len,
				c->r.to_s.cap - c->r.to_s.len);
}

static void conn_release(struct l7_relay *r)
{
	struct l7_conn *c = l7_relay_of(r, struct l7_conn);

	if (c->form_wipe) {	/* also a refused one: its body was not read */
		c->r.cin_len = 0;
		c->r.to_s.len = 0;
		form_wipe_buffers(c);
	}
	if (c->auth)	/* the client went away during its logon */
		esp_auth_cancel(c->auth);
	c->auth = NULL;
	free(c->auth_esp);
	c->auth_esp = NULL;
	explicit_bzero(c->auth_key, sizeof(c->auth_key));
	form_forget(c);
	server_close(c);
	if (c->req) {
		exlb_http_parser_release(c->req);
		free(c->req);
	}
	l7_plan_put(c->plan);
}

static void conn_free(struct l7_conn *c)
{
	l7_relay_free(&c->r);
}

/*
 * Ends the connection now: the request in progress (if any) is logged
 * with @who/@phase as its termination code.
 */
static void conn_abort(struct l7_conn *c, char who, char phase)
{
	set_term(c, who, phase);
	if (c->phase == PH_REQUEST || c->phase == PH_LOCAL ||
	    c->phase == PH_TUNNEL || c->phase == PH_AUTH || who != 'C')
		log_request(c);
	c->r.dead = true;
}

/* ---- answering a request ourselves ---- */

/* @h: the request being answered, when its head is at hand (for %h/%s). */
static void local_reply_to(struct l7_conn *c, unsigned int status,
			   const char *url, char who,
			   const struct exlb_http_head *h)
{
	c->status = status;
	set_term(c, who, 'R');
	c->r.to_c.len = 0;
	if (exlb_http_build_error(status, url, h, true, &c->r.to_c)) {
		c->r.dead = true;
		return;
	}
	c->r.bytes_out += c->r.to_c.len;
	c->phase = PH_LOCAL;
	if (c->r.s.fd >= 0 && !c->bound)
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
		c->r.term[0] = 'S';	/* no server: not a configured answer */
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

/* ---- the Edge Security Pack ---- */

/*
 * On a VS where ESP is on anywhere (vs->esp_any), every request's target
 * is normalised first (esp_normalise_request()): content rules choose the
 * SubVS on the path the real server will see, and whatever SubVS it is,
 * its server gets that path. Then, with @gates, every ESP gate the request
 * meets must pass it: its VS's (with SubVSs), the chosen SubVS's, and that
 * of the SubVS an NTLM-bound connection stays on. @target: NULL for the
 * request's own, or a ModifyURL result, checked again. False: refused and
 * answered (nothing reaches a real server). True: *@dp is NULL when ESP is
 * off on the VS, else (malloc'd, reused) the target to forward.
 */
static bool esp_pass(struct l7_conn *c, struct l7_vs *vs, struct l7_subvs *sv,
		     const struct exlb_http_head *h, const char *target,
		     size_t target_len, bool gates, struct esp_decision **dp)
{
	struct esp_request rq = { 0 };
	const struct esp_gate *g[3];
	size_t n = 0;

	if (!vs->esp_any)
		return true;
	if (gates && vs->has_subvs && vs->esp)
		g[n++] = vs->esp;
	if (gates && sv && sv->esp)
		g[n++] = sv->esp;
	if (gates && c->bound && c->r.s.fd >= 0)
		for (size_t i = 0; i < vs->nr_subvs; i++)
			if (vs->subvs[i].id == c->r.subvs_id &&
			    &vs->subvs[i] != sv && vs->subvs[i].esp)
				g[n++] = vs->subvs[i].esp;
	if (!*dp)
		*dp = malloc(sizeof(**dp));
	if (!*dp) {
		c->r.dead = true;
		return false;
	}
	rq.target = target ? target : h->target;
	rq.target_len = target ? target_len : h->target_len;
	rq.client = c->peer_addr;
	for (size_t i = 0; i < h->nr_headers; i++) {
		const struct exlb_http_header *hd = &h->headers[i];

		if (hd->name_len == 4 && !strncasecmp(hd->name, "Host", 4)) {
			rq.host = hd->value;
			rq.host_len = hd->value_len;
			rq.nr_host++;
		}
	}
	if (esp_normalise_request(vs->esp_any, &rq, *dp) == ESP_REFUSE) {
		local_reply_to(c, (*dp)->status, NULL, 'L', h);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		/* each sees the client's target: all agree on what passes */
		if (esp_gate_request(g[i], &rq, *dp) == ESP_REFUSE) {
			local_reply_to(c, (*dp)->status, NULL, 'L', h);
			return false;
		}
	}
	return true;
}

/* ---- ESP: the Basic logon (InputAuthMode=1) ---- */

static void request_route(struct l7_conn *c, struct l7_vs *vs,
			  struct l7_subvs *sv, const struct exlb_http_head *h,
			  struct esp_decision *esp, bool bind_now, bool strip);

enum auth_step {
	AUTH_NONE,	/* no logon asked for here: route */
	AUTH_CACHED,	/* a live "ok" for these credentials: route */
	AUTH_PENDING,	/* at the directory: PH_AUTH until on_logon() */
	AUTH_ANSWERED,	/* 401 or 503 answered: nothing reaches a server */
};

/*
 * The gate that asks for a logon of InputAuthMode @mode (1 Basic, 2 form):
 * the SubVS's, else its VS's.
 */
static const struct esp_gate *logon_gate(struct l7_vs *vs, struct l7_subvs *sv,
					 unsigned int mode)
{
	if (sv && sv->esp && sv->esp->input_auth == mode)
		return sv->esp;
	if (vs->has_subvs && vs->esp && vs->esp->input_auth == mode)
		return vs->esp;
	return NULL;
}

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* 401 with the Basic challenge; like every answer of ours, then close. */
static void reply_challenge(struct l7_conn *c, const struct esp_gate *g)
{
	c->status = 401;
	set_term(c, 'L', 'R');
	c->r.to_c.len = 0;
	if (exlb_http_build_challenge(g->realm, true, &c->r.to_c)) {
		c->r.dead = true;
		return;
	}
	c->r.bytes_out += c->r.to_c.len;
	c->phase = PH_LOCAL;
	if (c->r.s.fd >= 0 && !c->bound)
		server_close(c);
}

/* The directory answered the logon of the suspended request. */
static void on_logon(void *ctx, enum esp_auth_result res, const char *detail)
{
	struct l7_conn *c = ctx;
	struct esp_decision *esp = c->auth_esp;
	const struct esp_gate *g = c->auth_gate;

	c->auth = NULL;
	c->auth_esp = NULL;
	c->phase = PH_REQUEST;
	c->r.last_activity = ev_now(c->r.w->loop);
	esp_log_logon(g, c->peer_addr, c->auth_user, c->auth_user_len,
		      (int)res, esp_auth_result_name(res), detail);
	if (res == ESP_AUTH_OK) {
		esp_cache_put(c->auth_key, g->domain, mono_s());
		c->auth_resume = true;
		/* where the request would have gone: c->plan is still held */
		request_route(c, l7_plan_vs(c->plan, c->r.vs_id), c->auth_sv,
			      &c->req->head, esp, c->auth_bind_now,
			      g->output_auth == 0);
	} else {
		free(esp);
		if (res == ESP_AUTH_UNAVAILABLE)
			local_reply_to(c, 503, NULL, 'L', &c->req->head);
		else	/* no detail to the client: the log has it */
			reply_challenge(c, g);
	}
	explicit_bzero(c->auth_key, sizeof(c->auth_key));
	conn_pump(c);
}

/*
 * After the gates: the Basic logon that @sv (or its VS) asks for on this
 * path. *@esp stays the caller's unless AUTH_PENDING (then the connection
 * keeps it for on_logon()).
 */
static enum auth_step esp_basic(struct l7_conn *c, struct l7_vs *vs,
				struct l7_subvs *sv,
				const struct exlb_http_head *h,
				struct esp_decision **esp, bool bind_now)
{
	const struct esp_gate *g = *esp ? logon_gate(vs, sv, 1) : NULL;
	const struct exlb_http_header *hd;
	char user[ESP_NAME_MAX + 1], pw[ESP_PASSWORD_MAX + 1];
	size_t ulen = 0, plen = 0;

	if (!g || !esp_gate_wants_basic(g, (*esp)->target, (*esp)->target_len))
		return AUTH_NONE;
	hd = exlb_http_find(h, "Authorization");
	if (!hd || !esp_basic_decode(hd->value, hd->value_len, user, &ulen,
				     pw, &plen)) {
		reply_challenge(c, g);
		return AUTH_ANSWERED;
	}
	if (!g->domain) {	/* the check refuses this: fail closed anyway */
		explicit_bzero(pw, sizeof(pw));
		local_reply_to(c, 503, NULL, 'L', h);
		return AUTH_ANSWERED;
	}
	esp_cache_key(g->domain->name, user, ulen, pw, plen, c->auth_key);
	if (esp_cache_ok(c->auth_key, mono_s())) {
		explicit_bzero(pw, sizeof(pw));
		explicit_bzero(c->auth_key, sizeof(c->auth_key));
		return AUTH_CACHED;
	}
	c->auth_gate = g;
	c->auth_sv = sv;
	c->auth_bind_now = bind_now;
	c->auth_user_len = ulen < sizeof(c->auth_user) ? ulen :
			   sizeof(c->auth_user);
	memcpy(c->auth_user, user, c->auth_user_len);
	c->auth = esp_auth_start(g->domain, user, ulen, pw, plen, on_logon, c);
	explicit_bzero(pw, sizeof(pw));
	if (!c->auth) {		/* out of memory, no directory threads */
		explicit_bzero(c->auth_key, sizeof(c->auth_key));
		esp_log_logon(g, c->peer_addr, user, ulen, ESP_AUTH_UNAVAILABLE,
			      esp_auth_result_name(ESP_AUTH_UNAVAILABLE),
			      "could not start the logon");
		local_reply_to(c, 503, NULL, 'L', h);
		return AUTH_ANSWERED;
	}
	c->auth_esp = *esp;
	*esp = NULL;
	c->phase = PH_AUTH;
	return AUTH_PENDING;
}

/* ---- ESP: the form logon (InputAuthMode=2) and its sessions ---- */

/* An answer of the form logon built into c->r.to_c (@err: it failed). */
static void form_answered(struct l7_conn *c, unsigned int status, int err)
{
	c->status = status;
	set_term(c, 'L', 'R');
	if (err) {
		c->r.dead = true;
		return;
	}
	c->r.bytes_out += c->r.to_c.len;
	c->phase = PH_LOCAL;
	if (c->r.s.fd >= 0 && !c->bound)
		server_close(c);
}

static void form_page(struct l7_conn *c, const struct esp_gate *g,
		      unsigned int status, const char *dest, const char *error)
{
	c->r.to_c.len = 0;
	form_answered(c, status, esp_form_page(status, g->sso_message, dest,
					       error, NULL, NULL,
					       c->req_is_head, &c->r.to_c));
}

/*
 * The directory said the password expired or must be changed: with
 * UserPwdChangeURL the page says so and links to it (no generic error);
 * without, the same page as a wrong password. The directory says it only
 * for the right password (ppolicy and AD check the password first), so
 * this tells nothing to someone who does not know it.
 */
static void form_pwd_expired(struct l7_conn *c, const struct esp_gate *g,
			     const char *dest)
{
	if (!g->pwd_change_url[0]) {
		form_page(c, g, 200, dest,
			  "The user name or password is not correct.");
		return;
	}
	c->r.to_c.len = 0;
	form_answered(c, 200, esp_form_page(200, g->sso_message, dest, NULL,
					    g->pwd_change_url,
					    g->pwd_change_msg, c->req_is_head,
					    &c->r.to_c));
}

/*
 * A request without a live session: a browser's GET (or HEAD) that
 * accepts HTML gets the logon page, with its target as the destination;
 * anything else (ActiveSync, EWS, a script's POST) gets 403: it could do
 * nothing with a page, and a 401 would invite Basic credentials that a
 * form service does not take.
 */
static void form_challenge(struct l7_conn *c, const struct esp_gate *g,
			   const struct exlb_http_head *h,
			   const struct esp_decision *esp)
{
	const struct exlb_http_header *acc = exlb_http_find(h, "Accept");
	bool browser = (!strcmp(h->method_name, "GET") || c->req_is_head) &&
		       acc && memmem(acc->value, acc->value_len, "text/html", 9);

	if (!browser) {
		local_reply_to(c, 403, NULL, 'L', h);
		return;
	}
	form_page(c, g, 200, esp_dest_valid(esp->target, esp->target_len) ?
		  esp->target : "/", NULL);
}

/* The session cookie's value in @h's Cookie headers, if any. */
static bool session_cookie(const struct exlb_http_head *h, const char **v,
			   size_t *vlen)
{
	for (size_t i = 0; i < h->nr_headers; i++) {
		const struct exlb_http_header *hd = &h->headers[i];

		if (hd->name_len == 6 && !strncasecmp(hd->name, "Cookie", 6) &&
		    esp_cookie_get(hd->value, hd->value_len, v, vlen))
			return true;
	}
	return false;
}

/* "Basic <base64 of user:password>" from a session, malloc'd, or NULL. */
static char *basic_header(const struct esp_session_creds *cr)
{
	unsigned char plain[ESP_NAME_MAX + ESP_PASSWORD_MAX + 2];
	size_t n = cr->user_len + 1 + cr->pw_len;
	char *v = malloc(6 + 4 * ((n + 2) / 3) + 1);

	if (!v)
		return NULL;
	memcpy(plain, cr->user, cr->user_len);
	plain[cr->user_len] = ':';
	memcpy(plain + cr->user_len + 1, cr->pw, cr->pw_len);
	memcpy(v, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)v + 6, plain, (int)n);
	OPENSSL_cleanse(plain, sizeof(plain));
	return v;
}

/*
 * OutputAuthMode=2: the directory accepted the logon POST, and Exchange
 * must too. ESP's own "POST /owa/auth.owa" with Exchange's form (the
 * user, password and destination of the logon) goes to a real server of
 * the service like any request -- request_route(): persistence, TLS to the
 * server, retries -- and Exchange's answer decides (owa_answer()). The
 * form stays until then: the session is made only once Exchange has
 * accepted the user, so no failure on the way leaves one behind.
 */
static void owa_logon_start(struct l7_conn *c, struct esp_decision *esp)
{
	const struct esp_gate *g = c->auth_gate;
	struct esp_form *f = c->form;
	size_t dlen = strlen(f->dest);
	size_t cap = 3 * (dlen + f->user_len + f->pw_len) + 128;

	c->owa_body.data = malloc(cap);
	c->owa_body.cap = cap;
	if (!esp || !c->owa_body.data ||
	    owa_form_body(f->dest, dlen, f->user, f->user_len, f->pw,
			  f->pw_len, c->owa_body.data, cap, &c->owa_body.len)) {
		free(esp);
		form_forget(c);
		c->r.dead = true;
		return;
	}
	memcpy(esp->target, OWA_FORM_PATH, sizeof(OWA_FORM_PATH));
	esp->target_len = sizeof(OWA_FORM_PATH) - 1;
	c->owa_logon = true;
	c->owa_gate = g;
	request_route(c, l7_plan_vs(c->plan, c->r.vs_id), c->auth_sv,
		      &c->req->head, esp, false, true);
	if (c->phase != PH_REQUEST) {	/* answered: no real server, ... */
		esp_log_logon(g, c->peer_addr, f->user, f->user_len, 1,
			      "Exchange's form logon failed",
			      "no real server took it");
		form_forget(c);
	}
}

/* The directory answered a logon POST. */
static void on_form_logon(void *ctx, enum esp_auth_result res,
			  const char *detail)
{
	struct l7_conn *c = ctx;
	const struct esp_gate *g = c->auth_gate;
	struct esp_form *f = c->form;
	struct esp_decision *esp = c->auth_esp;
	char cookie[ESP_SESSION_HEX + 1];

	c->auth = NULL;
	c->auth_esp = NULL;
	c->phase = PH_REQUEST;
	c->r.last_activity = ev_now(c->r.w->loop);
	esp_log_logon(g, c->peer_addr, f->user, f->user_len, (int)res,
		      esp_auth_result_name(res), detail);
	if (res == ESP_AUTH_OK && g->output_auth == 2) {
		owa_logon_start(c, esp);	/* Exchange must say yes too */
		conn_pump(c);
		return;
	}
	free(esp);
	c->r.to_c.len = 0;
	if (res == ESP_AUTH_OK &&
	    !esp_session_new(g->domain, f->private_pc, f->user, f->user_len,
			     f->pw, f->pw_len, mono_s(), cookie)) {
		form_answered(c, 302, esp_form_redirect(f->dest, cookie,
							&c->r.to_c));
		OPENSSL_cleanse(cookie, sizeof(cookie));
	} else if (res == ESP_AUTH_OK || res == ESP_AUTH_UNAVAILABLE) {
		form_page(c, g, 503, f->dest,
			  "The service is not available. Try again later.");
	} else if (res == ESP_AUTH_EXPIRED) {
		form_pwd_expired(c, g, f->dest);
	} else {	/* never which: the security log says it */
		form_page(c, g, 200, f->dest,
			  "The user name or password is not correct.");
	}
	form_forget(c);
	conn_pump(c);
}

/* The logon POST's body is complete: parse it, ask the directory. */
static void form_submit(struct l7_conn *c)
{
	const struct esp_gate *g = c->auth_gate;
	const char *why = NULL;
	struct esp_form *f = calloc(1, sizeof(*f));

	c->form_reading = false;
	form_wipe_buffers(c);	/* the body's copies: form_body has it */
	if (!f || esp_form_parse(c->form_body.data ? c->form_body.data : "",
				 c->form_body.len, f, &why)) {
		free(f);
		form_forget(c);
		if (!why) {
			c->r.dead = true;
			return;
		}
		if (g->logs & ESP_LOG_SECURITY)
			exlb_log(LOG_WARNING, "esp: %s: refused %s: logon POST: %s (400)",
				 g->name, c->peer_addr, why);
		local_reply_to(c, 400, NULL, 'L', &c->req->head);
		return;
	}
	form_forget(c);		/* the body: the form has it now */
	c->form = f;
	c->auth = esp_auth_start(g->domain, f->user, f->user_len, f->pw,
				 f->pw_len, on_form_logon, c);
	if (!c->auth) {		/* out of memory, no directory threads */
		esp_log_logon(g, c->peer_addr, f->user, f->user_len,
			      ESP_AUTH_UNAVAILABLE,
			      esp_auth_result_name(ESP_AUTH_UNAVAILABLE),
			      "could not start the logon");
		form_page(c, g, 503, f->dest,
			  "The service is not available. Try again later.");
		form_forget(c);
		return;
	}
	c->phase = PH_AUTH;
}

/*
 * After the gates: the form logon that @sv (or its VS) asks for on this
 * path. AUTH_CACHED: a live session of the gate's SSO domain (with
 * OutputAuthMode=1 c->fwd_auth is the real server's Authorization);
 * AUTH_PENDING: a logon POST whose body is read next (form_reading), the
 * connection keeping *@esp; AUTH_ANSWERED: the logon page, 403 or 400.
 */
static enum auth_step esp_form(struct l7_conn *c, struct l7_vs *vs,
			       struct l7_subvs *sv,
			       const struct exlb_http_head *h,
			       struct esp_decision **esp)
{
	const struct esp_gate *g = *esp ? logon_gate(vs, sv, 2) : NULL;
	struct esp_session_creds cr;
	const char *cv = NULL;
	size_t cvlen = 0;
	bool has_cookie;

	if (!g || !esp_gate_wants_form(g, (*esp)->target, (*esp)->target_len))
		return AUTH_NONE;
	if (!g->domain) {	/* the check refuses this: fail closed anyway */
		local_reply_to(c, 503, NULL, 'L', h);
		return AUTH_ANSWERED;
	}
	if (!strcmp(h->method_name, "POST") &&
	    esp_gate_path_in(ESP_FORM_PATH, (*esp)->target, (*esp)->target_len,
			     false)) {
		c->form_wipe = true;
		/* a body of known, bounded length: nothing else is a form */
		if (h->chunked || !h->has_content_length ||
		    h->content_length > ESP_FORM_BODY_MAX) {
			if (g->logs & ESP_LOG_SECURITY)
				exlb_log(LOG_WARNING, "esp: %s: refused %s: logon POST without a Content-Length up to %u (400)",
					 g->name, c->peer_addr, ESP_FORM_BODY_MAX);
			local_reply_to(c, 400, NULL, 'L', h);
			return AUTH_ANSWERED;
		}
		c->form_reading = true;
		c->auth_gate = g;
		c->auth_sv = sv;
		c->auth_esp = *esp;
		*esp = NULL;
		return AUTH_PENDING;
	}
	has_cookie = session_cookie(h, &cv, &cvlen);
	if (!has_cookie || !esp_session_check(cv, cvlen, g->domain->name,
					      mono_s(), &cr)) {
		if (has_cookie && (g->logs & ESP_LOG_SECURITY))
			exlb_log(LOG_WARNING, "esp: %s: refused %s: session cookie unknown, expired or of another domain",
				 g->name, c->peer_addr);
		form_challenge(c, g, h, *esp);
		return AUTH_ANSWERED;
	}
	if (g->output_auth == 1 && !(c->fwd_auth = basic_header(&cr))) {
		OPENSSL_cleanse(&cr, sizeof(cr));
		c->r.dead = true;
		return AUTH_ANSWERED;
	}
	if (esp_gate_path_in(g->logoff, (*esp)->target, (*esp)->target_len,
			     false)) {
		/* ends here, and the request goes on: Exchange logs off too */
		esp_session_end(cv, cvlen, g->domain->name);
		c->clear_cookie = true;
		if (g->logs & ESP_LOG_USER) {
			char u[64];

			snprintf(u, sizeof(u), "%.*s", (int)(cr.user_len < 60 ?
				 cr.user_len : 60), cr.user);
			for (char *p = u; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
			exlb_log(LOG_INFO, "esp: %s: logoff '%s' from %s",
				 g->name, u, c->peer_addr);
		}
	}
	if (g->output_auth == 2 && !c->clear_cookie) {
		/* Exchange's own cookies go on; owa_answer() watches them */
		c->owa_gate = g;
		memcpy(c->owa_sess, cv, ESP_SESSION_HEX);
		c->owa_sess[ESP_SESSION_HEX] = '\0';
	}
	OPENSSL_cleanse(&cr, sizeof(cr));
	return AUTH_CACHED;
}

/*
 * ESP's session cookie never reaches a real server: @h's Cookie headers
 * become one without it (or none). @buf: freed by the caller.
 */
static void strip_session_cookie(const struct exlb_http_head *h,
				 struct exlb_http_edit *e, size_t *n,
				 char **buf)
{
	const char *v;
	size_t vlen, total = 1, o = 0;

	if (!session_cookie(h, &v, &vlen))
		return;
	for (size_t i = 0; i < h->nr_headers; i++)
		if (h->headers[i].name_len == 6 &&
		    !strncasecmp(h->headers[i].name, "Cookie", 6))
			total += h->headers[i].value_len + 2;
	*buf = malloc(total);
	for (size_t i = 0; *buf && i < h->nr_headers; i++) {
		const struct exlb_http_header *hd = &h->headers[i];
		size_t k;

		if (hd->name_len != 6 || strncasecmp(hd->name, "Cookie", 6))
			continue;
		k = esp_cookie_strip(hd->value, hd->value_len, *buf + o + 2,
				     total - o - 2);
		if (k == (size_t)-1 || !k)
			continue;
		if (o)
			memcpy(*buf + o, "; ", 2);
		memmove(*buf + o + (o ? 2 : 0), *buf + o + 2, k + 1);
		o += k + (o ? 2 : 0);
	}
	if (*buf && o) {
		(*buf)[o] = '\0';
		e[(*n)++] = (struct exlb_http_edit){ EXLB_HTTP_EDIT_SET, "Cookie",
						     *buf };
	} else {	/* nothing else, or no memory: no cookie at all */
		e[(*n)++] = (struct exlb_http_edit){ EXLB_HTTP_EDIT_DEL, "Cookie",
						     NULL };
	}
}

/* A request head arrived: route it and queue it for its server. */
static void request_head(struct l7_conn *c)
{
	struct l7_worker *w = c->r.w;
	const struct exlb_http_head *h = &c->req->head;
	struct esp_decision *esp = NULL;
	struct l7_subvs *sv;
	struct l7_vs *vs;
	bool bind_now;

	c->phase = PH_REQUEST;
	c->req_start = ev_now(w->loop);
	c->req_done = c->resp_done = c->resp_head_sent = false;
	c->status = 0;
	c->r.bytes_in = c->r.bytes_out = 0;
	memcpy(c->r.term, "--", 3);
	snprintf(c->method, sizeof(c->method), "%s", h->method_name);
	c->target_len = h->target_len < sizeof(c->target) - 1 ?
			h->target_len : sizeof(c->target) - 1;
	memcpy(c->target, h->target, c->target_len);
	c->target[c->target_len] = '\0';
	c->http_minor = h->http_minor;
	c->req_is_head = !strcmp(c->method, "HEAD");
	/* an upgrade's old exlbd: this is the connection's last request */
	c->close_after = !h->keep_alive || l7_draining(w);
	c->r.nr_tried = 0;
	c->clear_cookie = false;
	c->owa_gate = NULL;
	form_forget(c);

	l7_plan_put(c->plan);
	c->plan = w->plan;
	l7_plan_get(c->plan);
	vs = l7_plan_vs(c->plan, c->r.vs_id);
	if (!vs) {	/* the VS was deleted: finish with this client */
		local_reply(c, 503, NULL, 'P');
		return;
	}
	c->idle_s = vs->idle_s;
	bind_now = has_conn_auth(h);

	/*
	 * ESP: the head is complete, no real server chosen yet. The SubVS is
	 * chosen on the normalised target, then its gates decide.
	 */
	if (!esp_pass(c, vs, NULL, h, NULL, 0, false, &esp))
		goto out;
	if (esp) {
		struct exlb_http_head route = *h;

		route.target = esp->target;
		route.target_len = esp->target_len;
		sv = choose_subvs(vs, &route);
	} else {
		sv = choose_subvs(vs, h);
	}
	if (!esp_pass(c, vs, sv, h, NULL, 0, true, &esp))
		goto out;
	switch (esp_form(c, vs, sv, h, &esp)) {
	case AUTH_NONE:
		break;
	case AUTH_CACHED:
		/*
		 * The client's Authorization is never passed on, so its NTLM
		 * or Negotiate does not bind the connection to a server either.
		 */
		request_route(c, vs, sv, h, esp, false, !c->fwd_auth);
		return;
	case AUTH_PENDING:
		return;		/* the body, then form_submit() */
	case AUTH_ANSWERED:
		goto out;
	}
	switch (esp_basic(c, vs, sv, h, &esp, bind_now)) {
	case AUTH_NONE:
		request_route(c, vs, sv, h, esp, bind_now, false);
		return;
	case AUTH_CACHED:
		request_route(c, vs, sv, h, esp, bind_now,
			      logon_gate(vs, sv, 1)->output_auth == 0);
		return;
	case AUTH_PENDING:
		return;		/* on_logon() goes on */
	case AUTH_ANSWERED:
		break;
	}
out:
	free(esp);
}

/*
 * The request passed every gate (and its logon, if any): choose its real
 * server and queue it. @esp: the gates' decision (freed here), or NULL.
 * @strip: the client's credentials were ESP's (OutputAuthMode=0): the
 * Authorization header is not forwarded.
 */
static void request_route(struct l7_conn *c, struct l7_vs *vs,
			  struct l7_subvs *sv, const struct exlb_http_head *h,
			  struct esp_decision *esp, bool bind_now, bool strip)
{
	struct exlb_http_edit edits[40];
	struct exlb_content_arena arena;
	struct exlb_http_fwd_opts fwd;
	char clen[24];
	const char *new_target = NULL;
	char *cookies = NULL;
	size_t n_edits = 0;
	struct l7_rs *rs = NULL;
	int err;

	if (c->bound && c->r.s.fd >= 0) {
		/* stays on its authenticated server connection */
	} else {
		c->bound = false;
		if (sv) {
			c->r.subvs_id = sv->id;
			rs = l7_pick_rs(sv, &c->r.peer, &c->r.holds, NULL, 0);
		} else {
			c->r.subvs_id = 0;
		}
		if (!rs) {
			reply_unavailable_to(c, vs, h);
			goto out;
		}
		if (c->r.s.fd >= 0 && c->r.rs_id != rs->id)
			server_park(c);
		if (c->r.s.fd < 0) {
			err = server_open(c, vs, rs);
			if (err && !server_retry(c, rs->id, rs->st, -err, true)) {
				set_term(c, 'S', 'C');
				reply_unavailable_to(c, vs, h);
				goto out;
			}
			if (c->r.dead)
				goto out;
		}
	}
	c->bound = c->bound || bind_now;

	/* header rules of the VS, then the forwarding headers */
	exlb_content_arena_init(&arena);
	for (size_t i = 0; i < vs->nr_req_rules; i++)
		exlb_header_rule_apply(vs->req_rules[i], h, edits, 32, &n_edits,
				       &new_target, &arena);
	if (strip)	/* after the rules: no rule puts it back */
		edits[n_edits++] = (struct exlb_http_edit){
			EXLB_HTTP_EDIT_DEL, "Authorization", NULL };
	if (c->fwd_auth)	/* the form logon's session: OutputAuthMode=1 */
		edits[n_edits++] = (struct exlb_http_edit){
			EXLB_HTTP_EDIT_SET, "Authorization", c->fwd_auth };
	if (esp)
		strip_session_cookie(h, edits, &n_edits, &cookies);
	if (c->owa_logon) {	/* ESP's own POST: its body, not the client's */
		snprintf(clen, sizeof(clen), "%zu", c->owa_body.len);
		edits[n_edits++] = (struct exlb_http_edit){
			EXLB_HTTP_EDIT_SET, "Content-Length", clen };
		edits[n_edits++] = (struct exlb_http_edit){
			EXLB_HTTP_EDIT_SET, "Content-Type", OWA_FORM_CTYPE };
		edits[n_edits++] = (struct exlb_http_edit){
			EXLB_HTTP_EDIT_DEL, "Expect", NULL };
	}
	fwd = vs->fwd;
	fwd.client_addr = c->peer_addr;
	if (!c->owa_logon && exlb_http_proxy_answers_100(h, fwd.expect100)) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		if (exlb_buf_append(&c->r.to_c, cont, sizeof(cont) - 1))
			c->r.dead = true;
	}
	/* ESP: a ModifyURL result is checked as the client's target was */
	if (esp && new_target &&
	    !esp_pass(c, vs, sv, h, new_target, strlen(new_target), true, &esp)) {
		exlb_content_arena_free(&arena);
		goto out;
	}
	if (esp)	/* the real server gets exactly what the gates checked */
		new_target = esp->target;
	if (new_target) {
		/* ModifyURL (or ESP): the head as sent, with the new target */
		struct exlb_http_head *mod = malloc(sizeof(*mod));

		if (!mod) {
			c->r.dead = true;
		} else {
			*mod = *h;
			mod->target = new_target;
			mod->target_len = strlen(new_target);
			if (exlb_http_build_request(mod, edits, n_edits, &fwd,
						    &c->r.to_s))
				c->r.dead = true;
			free(mod);
		}
	} else if (exlb_http_build_request(h, edits, n_edits, &fwd, &c->r.to_s)) {
		c->r.dead = true;
	}
	exlb_content_arena_free(&arena);
	if (c->owa_logon && !c->r.dead) {
		if (exlb_buf_append(&c->r.to_s, c->owa_body.data,
				    c->owa_body.len))
			c->r.dead = true;
		OPENSSL_cleanse(c->owa_body.data, c->owa_body.cap);
	}
	if (resp_parser_new(c)) {
		c->r.dead = true;
		goto out;
	}
	if (c->req_is_head)
		exlb_http_expect_no_body(c->resp);
out:
	free(cookies);
	if (c->fwd_auth) {
		OPENSSL_cleanse(c->fwd_auth, strlen(c->fwd_auth));
		free(c->fwd_auth);
		c->fwd_auth = NULL;
	}
	free(esp);
}

/* ---- the request direction: client -> server ---- */

/*
 * A quiet connection between requests gives back its request parser too
 * (relay.c frees the empty buffers): the next request gets a fresh one.
 */
static bool conn_holds(const struct l7_relay *r)
{
	const struct l7_conn *c = l7_relay_of(r, const struct l7_conn);

	return c->req && !r->cin_len && c->phase == PH_WAIT && !c->head_start;
}

static void conn_shrink(struct l7_relay *r)
{
	struct l7_conn *c = l7_relay_of(r, struct l7_conn);

	if (!conn_holds(r))
		return;
	exlb_http_parser_release(c->req);
	free(c->req);
	c->req = NULL;
}

/* Parses what the client sent; returns whether anything moved. */
static bool process_client_input(struct l7_conn *c)
{
	bool progress = false, again = c->auth_resume;

	/*
	 * After a head or body bytes the parser is fed again even with
	 * nothing left: that is how a message without a body ends (END).
	 * So too after a logon (auth_resume): the head was fed last.
	 */
	c->auth_resume = false;
	while ((c->r.cin_len || again) && !c->r.dead) {
		enum exlb_http_event ev;
		size_t used = 0;

		again = false;
		if (c->phase == PH_TUNNEL) {
			if (!c->r.cin_len)
				break;
			if (c->r.to_s.len >= L7_MAX_PENDING)
				break;
			if (exlb_buf_append(&c->r.to_s, c->r.cin, c->r.cin_len)) {
				c->r.dead = true;
				break;
			}
			c->r.bytes_in += c->r.cin_len;
			c->r.cin_len = 0;
			return true;
		}
		if (c->phase == PH_LOCAL)
			break;		/* the rest of the request is ignored */
		if (c->phase == PH_AUTH)
			break;		/* the body waits for the logon */
		/* one request at a time: the next waits for this response */
		if (c->phase == PH_REQUEST && c->req_done)
			break;
		if (c->r.to_s.len >= L7_MAX_PENDING)
			break;
		if (!c->req) {
			c->req = calloc(1, sizeof(*c->req));
			if (!c->req) {
				c->r.dead = true;
				break;
			}
			exlb_http_parser_init(c->req, EXLB_HTTP_REQUEST);
		}
		if (c->phase == PH_WAIT && !c->head_start)
			c->head_start = ev_now(c->r.w->loop);
		ev = exlb_http_feed(c->req, c->r.cin, c->r.cin_len, &used);
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
				    c->r.to_c.len || c->r.sp_s2c.active) {
					conn_abort(c, 'P', 'D');
					return true;
				}
				server_close(c);
				set_term(c, 'P', 'D');
				local_reply(c, c->req->error_status, NULL, 'P');
				c->r.cin_len = 0;
				return true;
			}
			c->req_start = ev_now(c->r.w->loop);
			local_reply(c, c->req->error_status, NULL, 'P');
			c->r.cin_len = 0;
			return true;
		case EXLB_HTTP_HEAD:
		case EXLB_HTTP_UPGRADE:
			drop_front(c->r.cin, &c->r.cin_len, used);
			c->head_start = 0;
			request_head(c);
			/* the head's earlier parts were counted before the reset */
			c->r.bytes_in += c->req->head_len ? c->req->head_len : used;
			progress = true;
			again = c->phase == PH_REQUEST;
			continue;
		case EXLB_HTTP_BODY:
		case EXLB_HTTP_END:
			if (c->form_reading) {	/* a logon POST: ours, bounded */
				/* its whole room at once: no realloc leaves a copy */
				if (!c->form_body.data) {
					c->form_body.data = malloc(ESP_FORM_BODY_MAX);
					c->form_body.cap = c->form_body.data ?
							   ESP_FORM_BODY_MAX : 0;
				}
				if (!c->form_body.data ||
				    c->form_body.len + used > ESP_FORM_BODY_MAX ||
				    exlb_buf_append(&c->form_body, c->r.cin, used)) {
					c->r.dead = true;
					return true;
				}
				c->r.bytes_in += used;
				drop_front(c->r.cin, &c->r.cin_len, used);
				progress = true;
				again = ev == EXLB_HTTP_BODY && used;
				if (ev == EXLB_HTTP_END) {
					c->req_done = true;
					form_submit(c);
				}
				continue;
			}
			if (exlb_buf_append(&c->r.to_s, c->r.cin, used)) {
				c->r.dead = true;
				return true;
			}
			c->r.bytes_in += used;
			drop_front(c->r.cin, &c->r.cin_len, used);
			if (ev == EXLB_HTTP_END)
				c->req_done = true;
			progress = true;
			again = ev == EXLB_HTTP_BODY && used;
			continue;
		case EXLB_HTTP_NEED_MORE:
			if (c->phase == PH_REQUEST)
				c->r.bytes_in += used;	/* body bytes */
			drop_front(c->r.cin, &c->r.cin_len, used);
			return true;
		}
	}
	return progress;
}

/* ---- the response direction: server -> client ---- */

static void response_done(struct l7_conn *c)
{
	c->resp_done = true;
	c->answered = true;
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
	/* buffers and parser stay while requests keep coming (conn_shrink()) */
	c->phase = PH_WAIT;
}

/* A user name for a log line: printable, cut. */
static void log_user(const char *u, size_t len, char out[64])
{
	snprintf(out, 64, "%.*s", (int)(len < 60 ? len : 60), u);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/*
 * Exchange's answer (head @h) to a request of an OutputAuthMode=2
 * service, before it is relayed. True: it is not, the client got ESP's
 * logon page instead.
 *
 * ESP's logon POST (c->owa_logon): only OWA_FORM_OK makes the session;
 * the answer -- Exchange's 302 with its cadata cookies -- is relayed with
 * the session's cookie added (@setck). Anything else ends the logon: no
 * session, nothing of Exchange's answer (its cookies) reaches the client,
 * the logon page with the generic error (200; 503 when Exchange answered
 * something that is not a verdict on the user), the reason in the
 * security log.
 *
 * A session's request answered with a 302 to logon.aspx: Exchange's
 * cookies ended before ESP's session (their timeouts differ, or Exchange
 * logged the user off). The session ends too (its cookie cleared), and a
 * GET's 302 goes back to the request's own target (*@loc), where the
 * browser meets ESP's logon page, not Exchange's.
 */
static bool owa_answer(struct l7_conn *c, const struct exlb_http_head *h,
		       char *setck, size_t cap, bool *loc)
{
	const struct esp_gate *g = c->owa_gate;
	struct esp_form *f = c->form;
	char cookie[ESP_SESSION_HEX + 1], u[64], detail[96];
	enum owa_form_verdict v;
	int reason = -1;

	v = owa_form_verdict(h, &reason);
	if (c->owa_logon)	/* sent: its copy in the server queue goes */
		form_wipe_buffers(c);
	if (!c->owa_logon) {
		if (v != OWA_FORM_REFUSED || !g->domain)
			return false;
		esp_session_end(c->owa_sess, ESP_SESSION_HEX, g->domain->name);
		OPENSSL_cleanse(c->owa_sess, sizeof(c->owa_sess));
		c->owa_gate = NULL;
		c->clear_cookie = true;
		*loc = (!strcmp(c->method, "GET") || c->req_is_head) &&
		       c->target_len < sizeof(c->target) - 1 &&	/* not cut */
		       esp_dest_valid(c->target, c->target_len);
		if (g->logs & ESP_LOG_SECURITY)
			exlb_log(LOG_WARNING, "esp: %s: %s: Exchange sent the session back to its logon page: session ended",
				 g->name, c->peer_addr);
		return false;
	}
	c->owa_gate = NULL;
	if (!f)
		return false;	/* cannot be: owa_logon keeps the form */
	if (v == OWA_FORM_OK &&
	    !esp_session_new(g->domain, f->private_pc, f->user, f->user_len,
			     f->pw, f->pw_len, mono_s(), cookie)) {
		snprintf(setck, cap, ESP_SESSION_COOKIE "=%s" ESP_COOKIE_ATTRS,
			 cookie);
		OPENSSL_cleanse(cookie, sizeof(cookie));
		if (g->logs & ESP_LOG_USER) {
			log_user(f->user, f->user_len, u);
			exlb_log(LOG_INFO, "esp: %s: logon '%s' from %s: Exchange's form logon ok",
				 g->name, u, c->peer_addr);
		}
		form_forget(c);
		return false;
	}
	if (v == OWA_FORM_REFUSED)
		snprintf(detail, sizeof(detail), "HTTP %u to logon.aspx, reason=%d",
			 h->status, reason);
	else if (v == OWA_FORM_OK)
		snprintf(detail, sizeof(detail), "no session could be made");
	else
		snprintf(detail, sizeof(detail), "HTTP %u without cadata",
			 h->status);
	esp_log_logon(g, c->peer_addr, f->user, f->user_len, 1,
		      "refused by Exchange's form logon", detail);
	c->r.to_c.len = 0;
	form_page(c, g, v == OWA_FORM_REFUSED ? 200 : 503, f->dest,
		  v == OWA_FORM_REFUSED ?
		  "The user name or password is not correct." :
		  "The service is not available. Try again later.");
	if (c->r.s.fd >= 0)	/* the rest of Exchange's answer goes too */
		server_close(c);
	c->bound = false;
	form_forget(c);
	return true;
}

static bool process_server_input(struct l7_conn *c)
{
	bool progress = false, again = false;

	while ((c->r.sin_len || again) && !c->r.dead) {
		enum exlb_http_event ev;
		size_t used = 0;
		struct l7_vs *vs;

		again = false;
		if (c->phase == PH_TUNNEL) {
			if (!c->r.sin_len)
				break;
			if (c->r.to_c.len >= L7_MAX_PENDING)
				break;
			if (exlb_buf_append(&c->r.to_c, c->r.sin, c->r.sin_len)) {
				c->r.dead = true;
				break;
			}
			c->r.bytes_out += c->r.sin_len;
			c->r.sin_len = 0;
			return true;
		}
		if (c->phase != PH_REQUEST || !c->resp) {
			/* a server talking out of turn: not reusable */
			server_close(c);
			return true;
		}
		if (c->r.to_c.len >= L7_MAX_PENDING)
			break;
		ev = exlb_http_feed(c->resp, c->r.sin, c->r.sin_len, &used);
		switch (ev) {
		case EXLB_HTTP_ERROR:
			if (!c->resp_head_sent) {
				set_term(c, 'S', 'H');
				vs = l7_plan_vs(c->plan, c->r.vs_id);
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
			char setck[sizeof(ESP_SESSION_COOKIE) + ESP_SESSION_HEX +
				   sizeof(ESP_COOKIE_ATTRS)] = "";
			bool owa_loc = false;
			bool close;

			vs = l7_plan_vs(c->plan, c->r.vs_id);
			drop_front(c->r.sin, &c->r.sin_len, used);
			if (!informational) {
				c->status = h->status;
				/* draining began while the request was in flight */
				if (l7_draining(c->r.w))
					c->close_after = true;
				c->s_keepalive = h->keep_alive;
				/* a body that ends with the connection ends the client's too */
				if (!h->keep_alive && !h->chunked &&
				    !h->has_content_length && !c->req_is_head &&
				    h->status != 204 && h->status != 304)
					c->close_after = true;
			}
			close = c->close_after && !informational &&
				ev != EXLB_HTTP_UPGRADE;
			if (!informational && c->owa_gate &&
			    owa_answer(c, h, setck, sizeof(setck), &owa_loc)) {
				c->r.sin_len = 0;	/* Exchange's answer goes */
				return true;
			}
			{
				struct exlb_http_edit edits[34];
				struct exlb_content_arena arena;
				size_t n_edits = 0;

				exlb_content_arena_init(&arena);
				for (size_t i = 0; vs && i < vs->nr_resp_rules; i++)
					exlb_header_rule_apply(vs->resp_rules[i], h,
							       edits, 32, &n_edits,
							       NULL, &arena);
				/* ESP logoff: the browser forgets the session too */
				if (c->clear_cookie && !informational)
					edits[n_edits++] = (struct exlb_http_edit){
						EXLB_HTTP_EDIT_ADD, "Set-Cookie",
						esp_cookie_clear };
				/* Exchange accepted ESP's logon: ESP's session too */
				if (setck[0] && !informational)
					edits[n_edits++] = (struct exlb_http_edit){
						EXLB_HTTP_EDIT_ADD, "Set-Cookie",
						setck };
				/* Exchange's logon expired: log on again here */
				if (owa_loc && !informational)
					edits[n_edits++] = (struct exlb_http_edit){
						EXLB_HTTP_EDIT_SET, "Location",
						c->target };
				if (exlb_http_build_response(h, edits, n_edits, close,
							     vs && vs->tls ?
							     exlb_tls_vs_hsts(vs->tls) : 0,
							     &c->r.to_c))
					c->r.dead = true;
				exlb_content_arena_free(&arena);
				OPENSSL_cleanse(setck, sizeof(setck));
			}
			c->resp_head_sent = true;
			c->r.bytes_out += used;
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
			if (exlb_buf_append(&c->r.to_c, c->r.sin, used)) {
				c->r.dead = true;
				return true;
			}
			c->r.bytes_out += used;
			drop_front(c->r.sin, &c->r.sin_len, used);
			progress = true;
			if (ev == EXLB_HTTP_END && c->status >= 200)
				response_done(c);
			again = (ev == EXLB_HTTP_BODY && used) ||
				(ev == EXLB_HTTP_END && c->phase == PH_REQUEST);
			continue;
		case EXLB_HTTP_NEED_MORE:
			c->r.bytes_out += used;
			drop_front(c->r.sin, &c->r.sin_len, used);
			return true;
		}
	}
	return progress;
}

/* ---- splice (bodies of known length, tunnels) ---- */

/*
 * How much of one direction may go through splice now (relay.c has
 * checked that the sides allow it and nothing is buffered ahead): body
 * bytes of known length, or a tunnel's stream.
 */
static uint64_t conn_splice_budget(struct l7_relay *r, bool c2s)
{
	struct l7_conn *c = l7_relay_of(r, struct l7_conn);
	struct exlb_http_parser *p = c2s ? c->req : c->resp;
	uint64_t left;

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

static void conn_spliced(struct l7_relay *r, bool c2s, uint64_t n)
{
	struct l7_conn *c = l7_relay_of(r, struct l7_conn);

	if (c->phase == PH_REQUEST)
		exlb_http_body_skipped(c2s ? c->req : c->resp, n);
}

static bool splice_step(struct l7_conn *c, bool c2s)
{
	int f = l7_relay_splice(&c->r, c2s);

	if (f & L7_SPLICE_WRITE_ERR) {
		conn_abort(c, c2s ? 'S' : 'C', 'D');
		return true;
	}
	/* a reset ends a tunnel's direction, as in client_read(); not a body */
	if ((f & L7_SPLICE_RESET) && c->phase != PH_TUNNEL) {
		conn_abort(c, c2s ? 'C' : 'S', 'D');
		return true;
	}
	if ((f & L7_SPLICE_MSG_END) && c->phase == PH_REQUEST) {
		if (!c2s && c->status >= 200)
			response_done(c);
		else if (c2s)
			c->req_done = true;
	}
	return f & L7_SPLICE_PROGRESS;
}

/* ---- the pump ---- */

static bool client_read(struct l7_conn *c)
{
	ssize_t r;

	if (c->phase == PH_LOCAL)
		return false;
	if (c->phase == PH_REQUEST && c->req_done && c->r.cin_len)
		return false;	/* the next request waits */
	r = l7_relay_read(&c->r, true);
	if (r > 0)
		return true;
	if (!r || r == L7_IO_AGAIN)
		return false;
	/* the client is gone */
	if (c->phase == PH_TUNNEL) {
		c->r.c.eof = true;
		return true;
	}
	if (c->phase == PH_WAIT && !c->head_start) {
		c->r.dead = true;		/* a clean end between requests */
		return true;
	}
	conn_abort(c, 'C', phase_letter(c));
	return true;
}

static bool server_read(struct l7_conn *c)
{
	ssize_t r = l7_relay_read(&c->r, false);

	if (r > 0)
		return true;
	if (!r || r == L7_IO_AGAIN)
		return false;
	/* the server closed */
	if (c->phase == PH_TUNNEL) {
		c->r.s.eof = true;
		return true;
	}
	if (c->phase != PH_REQUEST || c->resp_done) {
		if (c->bound)
			c->close_after = true;
		server_close(c);
		if (c->bound && c->phase == PH_WAIT)
			c->r.dead = true;
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

static bool flush(struct l7_conn *c, bool client)
{
	ssize_t r = l7_relay_flush(&c->r, client);

	if (r >= 0)
		return r > 0;
	conn_abort(c, client ? 'C' : 'S', phase_letter(c));
	return true;
}

/* TCP connect and TLS handshake with the server. */
static bool server_progress(struct l7_conn *c, int revents)
{
	int err, r;

	if (c->r.s.fd < 0)
		return false;
	if (c->r.s_connecting) {
		err = l7_relay_connect_done(&c->r, revents);
		if (!err)
			return false;
		if (err != 1) {
			uint32_t rs_id = c->r.rs_id;
			struct l7_rs_state *st = c->r.rs_st;
			struct l7_vs *vs;

			server_drop(c);
			if (server_retry(c, rs_id, st, err, true))
				return true;
			vs = l7_plan_vs(c->plan, c->r.vs_id);
			set_term(c, 'S', 'C');
			server_close(c);
			if (vs && !c->resp_head_sent && c->phase == PH_REQUEST)
				reply_unavailable(c, vs);
			else
				c->r.dead = true;
			return true;
		}
		if (!c->r.s.ssl)
			c->r.s.handshake_done = true;
		return true;
	}
	if (c->r.s.handshake_done)
		return false;
	r = l7_ep_handshake(&c->r.s);
	if (r == 1)
		return true;
	if (r < 0) {
		uint32_t rs_id = c->r.rs_id;
		struct l7_rs_state *st = c->r.rs_st;
		struct l7_vs *vs;

		/* a TLS problem, not an unreachable server: no passive count */
		server_drop(c);
		if (server_retry(c, rs_id, st, EPROTO, false))
			return true;
		vs = l7_plan_vs(c->plan, c->r.vs_id);
		set_term(c, 'S', 'C');
		server_close(c);
		if (vs && c->phase == PH_REQUEST)
			reply_unavailable(c, vs);
		else
			c->r.dead = true;
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

	c->plan = c->r.w->plan;
	l7_plan_get(c->plan);
	vs = l7_plan_vs(c->plan, c->r.vs_id);
	c->phase = PH_TUNNEL;
	c->req_start = ev_now(c->r.w->loop);
	memcpy(c->r.term, "--", 3);
	if (!vs) {
		c->r.dead = true;
		return;
	}
	c->r.subvs_id = vs->subvs[0].id;
	c->r.nr_tried = 0;
	rs = l7_pick_rs(&vs->subvs[0], &c->r.peer, &c->r.holds, NULL, 0);
	err = rs ? server_open(c, vs, rs) : -EHOSTUNREACH;
	if (err && (!rs || !server_retry(c, rs->id, rs->st, -err, true))) {
		conn_abort(c, 'S', 'C');
		return;
	}
}

static void conn_pump_events(struct l7_relay *r, int s_revents)
{
	struct l7_conn *c = l7_relay_of(r, struct l7_conn);
	int round;

	for (round = 0; round < L7_PUMP_ROUNDS && !c->r.dead; round++) {
		bool progress = false;

		if (c->phase == PH_HANDSHAKE) {
			int r = l7_ep_handshake(&c->r.c);
			struct l7_vs *vs;

			if (r < 0) {
				/* not a request: nothing to log but the reason */
				c->r.dead = true;
				break;
			}
			if (r == 0)
				break;
			l7_relay_tls_up(&c->r);
			vs = l7_plan_vs(c->r.w->plan, c->r.vs_id);
			c->phase = PH_WAIT;
			c->r.last_activity = ev_now(c->r.w->loop);
			if (vs && vs->kind == L7_VS_TUNNEL)
				tunnel_start(c);
			progress = true;
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
		progress |= process_client_input(c);
		progress |= flush(c, false);
		progress |= server_read(c);
		progress |= process_server_input(c);
		progress |= flush(c, true);
		if (c->r.dead)
			break;
		/* a local answer or a closing response is complete */
		if (c->phase == PH_LOCAL && !c->r.to_c.len && !c->r.sp_s2c.in_pipe) {
			if (!c->resp_done)
				log_request(c);	/* our own answer */
			l7_ep_shutdown(&c->r.c);
			c->r.dead = true;
			break;
		}
		if (c->phase == PH_TUNNEL && l7_relay_half_close(&c->r, &progress)) {
			log_request(c);
			c->r.dead = true;
			break;
		}
		if (!progress)
			break;
	}
	if (c->r.dead) {
		conn_free(c);
		return;
	}
	/* the timer: a phase may have begun whose limit is nearer */
	l7_relay_watch(&c->r, c->phase != PH_LOCAL &&
		       !(c->phase == PH_REQUEST && c->req_done && c->r.cin_len),
		       true);
	/*
	 * Stopped at the cap with work left: back after the other events.
	 * Records OpenSSL read ahead would not wake us (proxy_io.h).
	 */
	if (round == L7_PUMP_ROUNDS && ev_is_active(&c->r.c.io))
		ev_feed_event(c->r.w->loop, &c->r.c.io, EV_READ);
}

static void conn_pump(struct l7_conn *c)
{
	conn_pump_events(&c->r, 0);
}

/* ---- timeouts ---- */

/* When the connection's current phase runs out of time (docs/proxy.md). */
static ev_tstamp conn_deadline(const struct l7_relay *r)
{
	const struct l7_conn *c = l7_relay_of(r, const struct l7_conn);

	if (c->phase == PH_HANDSHAKE)
		return c->req_start + L7_HEAD_TIMEOUT_S;
	if (c->phase == PH_LOCAL)
		return r->last_activity + L7_LOCAL_TIMEOUT_S;
	if (r->s_connecting)
		return r->s_since + r->connect_s;
	if (c->phase == PH_WAIT && c->head_start)
		return c->head_start + L7_HEAD_TIMEOUT_S;	/* slowloris */
	return r->last_activity + c->idle_s;
}

static void conn_timeout(struct l7_relay *r)
{
	struct l7_conn *c = l7_relay_of(r, struct l7_conn);
	struct l7_vs *vs;

	if (c->phase == PH_HANDSHAKE || c->phase == PH_LOCAL) {
		c->r.dead = true;
	} else if (c->r.s_connecting) {
		uint32_t rs_id = c->r.rs_id;
		struct l7_rs_state *st = c->r.rs_st;

		server_drop(c);
		if (!server_retry(c, rs_id, st, ETIMEDOUT, true)) {
			set_term(c, 's', 'C');
			server_close(c);
			vs = l7_plan_vs(c->plan ? c->plan : c->r.w->plan, c->r.vs_id);
			if (vs && c->phase == PH_REQUEST)
				reply_unavailable(c, vs);
			else
				c->r.dead = true;
		}
	} else if (c->phase == PH_WAIT && c->head_start) {
		c->req_start = c->head_start;
		local_reply(c, 408, NULL, 'c');
	} else if (c->phase == PH_WAIT) {
		c->r.dead = true;	/* idle keep-alive connection */
	} else {
		conn_abort(c, c->phase == PH_REQUEST && c->req_done ? 's' : 'c',
			   phase_letter(c));
	}
	conn_pump(c);
}

/* ---- droponfail, drain end ---- */

static void conn_server_lost(struct l7_relay *r, char who)
{
	struct l7_conn *c = l7_relay_of(r, struct l7_conn);

	set_term(c, who, phase_letter(c));
	if (c->r.s_connecting && c->plan) {
		/* nothing reached it: the request tries another RS */
		uint32_t rs_id = c->r.rs_id;
		struct l7_rs_state *st = c->r.rs_st;
		char term[3];

		memcpy(term, c->r.term, sizeof(term));
		memcpy(c->r.term, "--", 3);
		server_drop(c);
		if (server_retry(c, rs_id, st, EHOSTUNREACH, false)) {
			conn_pump(c);
			return;
		}
		memcpy(c->r.term, term, sizeof(term));
	}
	if (c->phase == PH_WAIT && !c->bound) {
		server_close(c);	/* the next request picks another */
		return;
	}
	conn_abort(c, c->r.term[0], c->r.term[1]);
	l7_relay_reset_on_close(&c->r);
	conn_free(c);
}

/* Keep-alive between requests, nothing of the next one here: closable. */
static bool conn_idle(const struct l7_relay *r)
{
	const struct l7_conn *c = l7_relay_of(r, const struct l7_conn);

	return c->phase == PH_WAIT && c->answered && !c->head_start &&
	       !r->cin_len;
}

static const struct l7_relay_ops conn_ops = {
	.pump = conn_pump_events,
	.deadline = conn_deadline,
	.timeout = conn_timeout,
	.splice_budget = conn_splice_budget,
	.spliced = conn_spliced,
	.server_open = conn_server_open,
	.server_lost = conn_server_lost,
	.holds = conn_holds,
	.shrink = conn_shrink,
	.idle = conn_idle,
	.release = conn_release,
};

/* ---- accept ---- */

void l7_accept(struct l7_worker *w, int fd, struct l7_vs *vs,
	       const struct sockaddr_storage *peer)
{
	struct l7_conn *c = (struct l7_conn *)l7_relay_new(sizeof(*c), &conn_ops,
				w, fd, vs, peer, L7_HEAD_TIMEOUT_S);

	if (!c)
		return;
	c->idle_s = vs->idle_s;
	l7_sockaddr_format(peer, c->peer_addr, sizeof(c->peer_addr), false);
	c->req_start = ev_now(w->loop);
	if (vs->tls) {
		c->r.c.ssl = exlb_tls_vs_ssl_new(vs->tls);
		if (!c->r.c.ssl || !SSL_set_fd(c->r.c.ssl, fd)) {
			SSL_free(c->r.c.ssl);
			c->r.c.ssl = NULL;
			conn_free(c);
			return;
		}
		/*
		 * ESP: requests carry passwords (logon POSTs, Basic headers);
		 * OpenSSL keeps each record's plaintext in its read buffer
		 * unless told to wipe it once read (and at SSL_free()).
		 */
		if (vs->esp_any)
			SSL_set_options(c->r.c.ssl, SSL_OP_CLEANSE_PLAINTEXT);
		c->r.c.tls = true;
		c->r.c.want_ktls = w->proxy->opts.tls_relay != EXLB_TLS_RELAY_USERSPACE;
		l7_ep_track_readiness(&c->r.c);	/* relay.c on_client_io() reports */
		c->phase = PH_HANDSHAKE;
		c->r.c.hs_events = EV_READ;
	} else {
		c->r.c.handshake_done = true;
		c->phase = PH_WAIT;
		l7_ep_track_readiness(&c->r.c);
	}
	if (!vs->tls && vs->kind == L7_VS_TUNNEL)
		tunnel_start(c);
	conn_pump(c);
}
