// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The admin listener (admin.h): one socket on the main loop, each
 * connection a small state machine -- TLS handshake, one HTTP/1.1 request
 * parsed by llhttp, one answer, close. Everything is non-blocking and
 * bounded: EXLB_ADMIN_MAX_CONNS connections, EXLB_ADMIN_MAX_HEAD bytes of
 * request, EXLB_ADMIN_TIMEOUT_S for the whole exchange, so a slow or
 * hostile client costs the main loop nothing but its slot. The proxy's
 * workers never see any of it.
 *
 * Order of a request: the failed-logon limit (429), authentication (401),
 * the route (404, 405), the route's role (403), its handler.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <llhttp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "admin_int.h"
#include "config/params.h"
#include "ctl/ctl.h"
#include "l7/tls.h"

#define URL_MAX		2048
#define AUTH_MAX	2048	/* base64 of the longest user:password, and some */
#define FIELD_MAX	32

/* C_HASH: waiting for the hashing thread's verdict (hasher.c) */
enum conn_state { C_HANDSHAKE, C_READ, C_HASH, C_WRITE };

struct admin_conn {
	ev_io io;			/* first: the callback casts it back */
	ev_timer timer;
	struct exlb_admin *a;
	struct admin_conn *next, **pprev;
	int fd;
	SSL *ssl;
	enum conn_state state;
	struct in6_addr peer;
	char peer_text[INET6_ADDRSTRLEN];
	llhttp_t parser;
	size_t head_bytes;
	bool complete;
	/* what the request says, as far as the listener cares */
	char url[URL_MAX];
	size_t url_len;
	bool url_long;
	char field[FIELD_MAX];
	size_t field_len;
	char authz[AUTH_MAX];
	size_t authz_len;
	char apikey[128];
	size_t apikey_len;
	bool header_long;
	char *query;			/* in url, after '?' */
	struct exlb_admin_hash_job *job;	/* while C_HASH */
	bool head_done;
	char *body;			/* POST /access/addcert's file */
	size_t body_len;
	bool body_long;
	unsigned int role;		/* who asked, once authenticated */
	char who[96];
	/* the answer */
	char *out;
	size_t out_len, out_off;
};

/* ---- routes ---- */

typedef int (*route_fn)(struct admin_conn *c, const char *query);

static int route_metrics(struct admin_conn *c, const char *query);
static int route_config(struct admin_conn *c, const char *query);
static int route_webui(struct admin_conn *c, const char *query);
static int route_status_json(struct admin_conn *c, const char *query);
static int route_kemp(struct admin_conn *c, const char *query);

/* In the order of exlb_admin_routes[] (auth.c). */
static const route_fn route_handlers[EXLB_ADMIN_NR_ROUTES] = {
	route_metrics, route_config,
	route_webui, route_webui, route_webui, route_status_json,
	route_kemp, route_kemp,
};

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/*
 * On every answer, whatever its type: the status page's policy (its own
 * script and style files, fetch() to its own origin, nothing inline, no
 * framing, no plugins, no forms) is strict enough for a JSON or text answer
 * too, and a browser must not sniff /status.json into a script.
 */
#define SECURITY_HEADERS						\
	"Content-Security-Policy: default-src 'none'; script-src 'self'; "	\
	"style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; "	\
	"form-action 'none'; frame-ancestors 'none'\r\n"			\
	"X-Frame-Options: DENY\r\n"					\
	"X-Content-Type-Options: nosniff\r\n"				\
	"Referrer-Policy: no-referrer\r\n"				\
	"Cross-Origin-Opener-Policy: same-origin\r\n"			\
	"Cross-Origin-Resource-Policy: same-origin\r\n"

/* The whole answer into c->out; @extra: header lines, each ending in CRLF. */
static int respond(struct admin_conn *c, int status, const char *type,
		   const char *extra, const char *body, size_t len)
{
	FILE *f = open_memstream(&c->out, &c->out_len);

	if (!f)
		return -1;
	fprintf(f, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Cache-Control: no-store\r\nConnection: close\r\n" SECURITY_HEADERS
		"%s\r\n",
		status, status_text(status), type, len, extra ? extra : "");
	fwrite(body, 1, len, f);
	return fclose(f) ? -1 : 0;
}

static int respond_text(struct admin_conn *c, int status, const char *extra,
			const char *msg)
{
	char body[256];

	snprintf(body, sizeof(body), "%d %s%s%s\n", status, status_text(status),
		 msg ? ": " : "", msg ? msg : "");
	return respond(c, status, "text/plain; charset=utf-8", extra, body,
		       strlen(body));
}

static int route_metrics(struct admin_conn *c, const char *query)
{
	char *text;
	size_t len;
	int ret;

	(void)query;
	if (exlb_admin_metrics(c->a, &text, &len))
		return respond_text(c, 500, NULL, "out of memory");
	ret = respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
		      text, len);
	free(text);
	return ret;
}

/* The configuration as `exlbctl save` gives it: admin only (it holds hashes). */
static int route_config(struct admin_conn *c, const char *query)
{
	json_t *doc = exlb_config_to_json(c->a->store->config);
	char *text = json_dumps(doc, JSON_INDENT(2));
	int ret;

	(void)query;
	json_decref(doc);
	if (!text)
		return respond_text(c, 500, NULL, "out of memory");
	ret = respond(c, 200, "application/json", NULL, text, strlen(text));
	free(text);
	return ret;
}

/* The status page's files (webui.c); the route table names only those. */
static int route_webui(struct admin_conn *c, const char *query)
{
	struct exlb_admin_file f;

	(void)query;
	if (exlb_admin_webui_file(c->url, &f))
		return respond_text(c, 404, NULL, NULL);
	return respond(c, 200, f.type, NULL, f.body, f.len);
}

/* What `exlbctl status -j` prints: the page's data. */
static int route_status_json(struct admin_conn *c, const char *query)
{
	char *text = exlb_admin_status_json(c->a);
	int ret;

	(void)query;
	if (!text)
		return respond_text(c, 500, NULL, "out of memory");
	ret = respond(c, 200, "application/json", NULL, text, strlen(text));
	free(text);
	return ret;
}

/* Kemp's REST API: the command is the path's last part (kemp_api.c). */
static int route_kemp(struct admin_conn *c, const char *query)
{
	char *xml = NULL;
	size_t len = 0;
	int status, ret;

	if (exlb_kemp_api(c->a, c->role, c->who, c->url + strlen("/access/"),
			  query, c->body, c->body_len, &status, &xml, &len))
		return respond_text(c, 500, NULL, "out of memory");
	ret = respond(c, status, "text/xml; charset=ISO-8859-1", NULL, xml, len);
	free(xml);
	return ret;
}

/* ---- one request ---- */

/* Kemp's apikey= query parameter (hex keys: no decoding needed). */
static void query_apikey(const char *query, char *out, size_t n)
{
	for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, "apikey=", 7))
			continue;
		snprintf(out, n, "%.*s", (int)strcspn(p + 7, "&"), p + 7);
		return;
	}
}

/* After authentication: refusals, counting, the route's answer. */
static int handle_authed(struct admin_conn *c, enum exlb_admin_auth auth,
			 unsigned int role)
{
	struct exlb_admin *a = c->a;
	const char *method = llhttp_method_name(llhttp_get_method(&c->parser));
	time_t now = time(NULL);
	int route, status;

	if (auth == EXLB_ADMIN_AUTH_BUSY) {
		a->hash_busy++;
		return respond_text(c, 503, "Retry-After: 1\r\n",
				    "too many password checks at once");
	}
	if (auth != EXLB_ADMIN_AUTH_OK) {
		if (auth == EXLB_ADMIN_AUTH_BAD) {
			a->auth_failures++;
			/* the names a client tried are not logged: they may be passwords */
			exlb_log(LOG_WARNING, "admin: failed logon from %s", c->peer_text);
			if (exlb_admin_limit_fail(&a->limiter, &c->peer, now))
				exlb_log(LOG_WARNING, "admin: %s refused for %d s after %d failed logons in %d s",
					 c->peer_text, EXLB_ADMIN_BLOCK_S,
					 EXLB_ADMIN_FAIL_MAX, EXLB_ADMIN_FAIL_WINDOW_S);
		}
		return respond_text(c, 401,
				    "WWW-Authenticate: Basic realm=\"exlb\", charset=\"UTF-8\"\r\n",
				    auth == EXLB_ADMIN_AUTH_NONE ? "credentials needed" : NULL);
	}
	exlb_admin_limit_ok(&a->limiter, &c->peer);
	route = exlb_admin_route_find(method, c->url, &status);
	if (route < 0)
		return respond_text(c, status, status != 405 ? NULL :
				    !strncmp(c->url, "/access/", 8) ?
				    "Allow: GET, POST\r\n" : "Allow: GET\r\n", NULL);
	if (role < exlb_admin_routes[route].role)
		return respond_text(c, 403, NULL, "this needs the admin role");
	c->role = role;
	return route_handlers[route](c, c->query);
}

/* 0 answered (or -1), 1: a password check runs, the answer comes later. */
static int handle(struct admin_conn *c)
{
	struct exlb_admin *a = c->a;
	char qkey[128] = "", extra[64];
	unsigned int role = 0, wait;
	enum exlb_admin_auth auth;
	time_t now = time(NULL);

	if (c->url_long)
		return respond_text(c, 414, NULL, NULL);
	if (c->header_long)
		return respond_text(c, 431, NULL, NULL);
	if (c->body_long)
		return respond_text(c, 413, NULL, NULL);
	c->query = strchr(c->url, '?');
	if (c->query)
		*c->query++ = '\0';
	wait = exlb_admin_limit_blocked(&a->limiter, &c->peer, now);
	if (wait) {
		a->rate_limited++;
		snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", wait);
		return respond_text(c, 429, extra, "too many failed logons");
	}
	query_apikey(c->query, qkey, sizeof(qkey));
	auth = exlb_admin_authenticate(&a->auth, a->store->config,
				       c->authz_len ? c->authz : NULL,
				       c->apikey_len ? c->apikey :
				       qkey[0] ? qkey : NULL, now,
				       &role, c->who, sizeof(c->who));
	explicit_bzero(c->authz, sizeof(c->authz));
	if (auth == EXLB_ADMIN_AUTH_PENDING) {
		struct exlb_admin_hash_job *job = a->auth.job;

		a->auth.job = NULL;
		if (a->hasher && !exlb_admin_hasher_submit(a->hasher, job)) {
			job->owner = c;
			c->job = job;
			return 1;
		}
		exlb_admin_hash_job_free(job);
		auth = EXLB_ADMIN_AUTH_BUSY;
	}
	return handle_authed(c, auth, role);
}

/* ---- llhttp callbacks: keep what handle() needs, bounded ---- */

static struct admin_conn *conn_of(llhttp_t *p)
{
	return p->data;
}

static int append(char *buf, size_t cap, size_t *len, bool *long_flag,
		  const char *at, size_t n)
{
	if (*len + n >= cap) {
		*long_flag = true;
		return 0;
	}
	memcpy(buf + *len, at, n);
	*len += n;
	buf[*len] = '\0';
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct admin_conn *c = conn_of(p);

	return append(c->url, sizeof(c->url), &c->url_len, &c->url_long, at, n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct admin_conn *c = conn_of(p);
	bool ignored = false;

	/* a name longer than any we read matches none of them */
	return append(c->field, sizeof(c->field), &c->field_len, &ignored, at, n);
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct admin_conn *c = conn_of(p);

	if (!strcasecmp(c->field, "Authorization"))
		return append(c->authz, sizeof(c->authz), &c->authz_len,
			      &c->header_long, at, n);
	if (!strcasecmp(c->field, "apikey"))
		return append(c->apikey, sizeof(c->apikey), &c->apikey_len,
			      &c->header_long, at, n);
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct admin_conn *c = conn_of(p);

	c->field_len = 0;
	c->field[0] = '\0';
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	conn_of(p)->head_done = true;
	return 0;
}

/* A body (Kemp's addcert file): kept up to EXLB_ADMIN_MAX_BODY. */
static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct admin_conn *c = conn_of(p);
	char *grown;

	if (c->body_long || c->body_len + n > EXLB_ADMIN_MAX_BODY) {
		c->body_long = true;
		return 0;
	}
	grown = realloc(c->body, c->body_len + n + 1);
	if (!grown) {
		c->body_long = true;
		return 0;
	}
	c->body = grown;
	memcpy(c->body + c->body_len, at, n);
	c->body_len += n;
	c->body[c->body_len] = '\0';
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	conn_of(p)->complete = true;
	return HPE_PAUSED;	/* one request per connection */
}

static llhttp_settings_t parser_settings;

/* ---- connections ---- */

static void conn_close(struct admin_conn *c)
{
	struct exlb_admin *a = c->a;

	ev_io_stop(a->loop, &c->io);
	ev_timer_stop(a->loop, &c->timer);
	if (c->job)
		c->job->owner = NULL;	/* the verdict finds nobody: freed then */
	if (c->ssl) {
		/* a close_notify if it fits now; never waited for */
		if (c->state == C_WRITE)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	a->nr_conns--;
	free(c->out);
	if (c->body) {
		explicit_bzero(c->body, c->body_len);	/* may hold a private key */
		free(c->body);
	}
	explicit_bzero(c, sizeof(*c));
	free(c);
}

static void conn_wait(struct admin_conn *c, int events)
{
	ev_io_stop(c->a->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->a->loop, &c->io);
}

/* SSL_ERROR_WANT_*: wait for it (true); anything else ends the connection. */
static bool ssl_wait(struct admin_conn *c, int ret)
{
	int e = SSL_get_error(c->ssl, ret);

	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ)
		conn_wait(c, EV_READ);
	else if (e == SSL_ERROR_WANT_WRITE)
		conn_wait(c, EV_WRITE);
	else
		return false;
	return true;
}

/* Feeds request bytes to llhttp; false: answered with 400/431, or error. */
static void conn_feed(struct admin_conn *c, const char *buf, size_t n)
{
	enum llhttp_errno e;

	c->head_bytes += n;
	e = llhttp_execute(&c->parser, buf, n);
	if (c->complete) {
		switch (handle(c)) {
		case 1:
			ev_io_stop(c->a->loop, &c->io);
			c->state = C_HASH;
			return;
		case 0:
			break;
		default:
			c->out_len = 0;
		}
	} else if (e != HPE_OK) {
		respond_text(c, 400, NULL, "malformed request");
	} else if (c->body_long) {
		respond_text(c, 413, NULL, NULL);
	} else if (!c->head_done && c->head_bytes > EXLB_ADMIN_MAX_HEAD) {
		respond_text(c, 431, NULL, NULL);
	} else {
		return;
	}
	c->state = C_WRITE;
}

static void conn_step(struct admin_conn *c)
{
	char buf[4096];
	int ret;

	if (c->state == C_HANDSHAKE) {
		ret = SSL_accept(c->ssl);
		if (ret != 1) {
			if (!ssl_wait(c, ret))
				conn_close(c);
			return;
		}
		c->state = C_READ;
	}
	while (c->state == C_READ) {
		ret = SSL_read(c->ssl, buf, sizeof(buf));
		if (ret <= 0) {
			if (!ssl_wait(c, ret))
				conn_close(c);
			return;
		}
		conn_feed(c, buf, (size_t)ret);
	}
	if (c->state == C_HASH)
		return;
	while (c->out_off < c->out_len) {
		ret = SSL_write(c->ssl, c->out + c->out_off,
				(int)(c->out_len - c->out_off > 1 << 20 ? 1 << 20 :
				      c->out_len - c->out_off));
		if (ret <= 0) {
			if (!ssl_wait(c, ret))
				conn_close(c);
			return;
		}
		c->out_off += (size_t)ret;
	}
	conn_close(c);
}

/* The hashing thread's verdict, on the main loop: answer and write. */
static void hash_verdict(struct exlb_admin_hash_job *job, void *arg)
{
	struct admin_conn *c = job->owner;
	struct exlb_admin *a = arg;
	unsigned int role = 0;
	enum exlb_admin_auth auth;

	if (!c) {
		exlb_admin_hash_job_free(job);
		return;
	}
	c->job = NULL;
	auth = exlb_admin_auth_finish(&a->auth, a->store->config, job,
				      time(NULL), &role, c->who, sizeof(c->who));
	exlb_admin_hash_job_free(job);
	if (handle_authed(c, auth, role))
		c->out_len = 0;
	c->state = C_WRITE;
	conn_step(c);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_step((struct admin_conn *)w);
}

static void conn_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_close(w->data);
}

static void peer_of(struct admin_conn *c, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		memset(&c->peer, 0, sizeof(c->peer));
		c->peer.s6_addr[10] = c->peer.s6_addr[11] = 0xff;
		memcpy(&c->peer.s6_addr[12], &s4->sin_addr, 4);
		inet_ntop(AF_INET, &s4->sin_addr, c->peer_text, sizeof(c->peer_text));
	} else {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		c->peer = s6->sin6_addr;
		inet_ntop(AF_INET6, &s6->sin6_addr, c->peer_text,
			  sizeof(c->peer_text));
	}
}

static void conn_new(struct exlb_admin *a, int fd,
		     const struct sockaddr_storage *ss)
{
	struct admin_conn *c = calloc(1, sizeof(*c));

	if (!c || !(c->ssl = exlb_tls_vs_ssl_new(a->tls_vs)) ||
	    SSL_set_fd(c->ssl, fd) != 1) {
		if (c)
			SSL_free(c->ssl);
		free(c);
		close(fd);
		return;
	}
	c->a = a;
	c->fd = fd;
	peer_of(c, ss);
	llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
	c->parser.data = c;
	c->next = a->conns;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &a->conns;
	a->conns = c;
	a->nr_conns++;
	ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
	ev_timer_init(&c->timer, conn_timeout_cb, EXLB_ADMIN_TIMEOUT_S, 0);
	c->timer.data = c;
	ev_timer_start(a->loop, &c->timer);
	conn_step(c);
}

static void listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct exlb_admin *a = w->data;

	(void)loop;
	(void)revents;
	/* a few per wakeup: the main loop has other work */
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(a->fd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			/*
			 * Out of descriptors (or memory): the socket stays
			 * readable, so rest a moment instead of spinning.
			 */
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED) {
				ev_io_stop(a->loop, a->listen_io);
				ev_timer_start(a->loop, a->rest);
			}
			return;
		}
		if (a->nr_conns >= EXLB_ADMIN_MAX_CONNS) {
			close(fd);	/* full: the newest goes, the others finish */
			continue;
		}
		conn_new(a, fd, &ss);
	}
}

static void rest_end_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exlb_admin *a = w->data;

	(void)revents;
	if (a->fd >= 0)
		ev_io_start(loop, a->listen_io);
}

/* ---- the listener ---- */

static void listener_close(struct exlb_admin *a)
{
	if (a->fd < 0)
		return;
	ev_timer_stop(a->loop, a->rest);
	ev_io_stop(a->loop, a->listen_io);
	close(a->fd);
	a->fd = -1;
	a->bound[0] = '\0';
	exlb_tls_vs_put(a->tls_vs);
	a->tls_vs = NULL;
}

/* The listener's TLS contexts: those of a VS with SSLAcceleration and AdminCert. */
static struct exlb_tls_vs *listener_tls(struct exlb_admin *a,
					const struct exlb_config *cfg,
					struct exlb_err *err)
{
	struct exlb_service vs;

	memset(&vs, 0, sizeof(vs));
	exlb_params_defaults(EXLB_SCOPE_VS, &vs);
	vs.id = UINT32_MAX;
	snprintf(vs.nickname, sizeof(vs.nickname), "admin listener");
	vs.ssl_acceleration = 1;
	vs.ssl_reencrypt = 0;
	vs.hsts = 0;
	snprintf(vs.cert_file, sizeof(vs.cert_file), "%s", cfg->globals.admin_cert);
	return exlb_tls_vs_get(a->tls, cfg, &vs, err);
}

/*
 * The listener the exlbd we take over from handed over (docs/upgrade.md),
 * if it is bound where we would bind: binding anew would fail while the old
 * one still listens, and closing its socket would drop what waits in it.
 */
static int take_inherited(struct exlb_admin *a,
			  const struct sockaddr_storage *want, socklen_t len)
{
	struct sockaddr_storage got;
	socklen_t got_len = sizeof(got);
	int fd = a->inherited;

	a->inherited = -1;
	if (fd < 0)
		return -1;
	memset(&got, 0, sizeof(got));
	if (getsockname(fd, (struct sockaddr *)&got, &got_len) ||
	    got_len != len || memcmp(&got, want, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int listener_open(struct exlb_admin *a, const struct exlb_config *cfg,
			 struct exlb_err *err)
{
	const struct exlb_globals *g = &cfg->globals;
	struct sockaddr_storage ss;
	socklen_t len;
	struct exlb_addr addr;
	int one = 1;

	if (exlb_addr_parse(g->admin_address, &addr))
		return exlb_err_set(err, "AdminAddress '%s' is not an address",
				    g->admin_address);
	memset(&ss, 0, sizeof(ss));
	if (addr.family == AF_INET) {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = addr.u.v4;
		s4->sin_port = htons((uint16_t)g->admin_port);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (void *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = addr.u.v6;
		s6->sin6_port = htons((uint16_t)g->admin_port);
		len = sizeof(*s6);
	}
	a->tls_vs = listener_tls(a, cfg, err);
	if (!a->tls_vs)
		return -1;
	a->fd = take_inherited(a, &ss, len);
	if (a->fd >= 0)
		goto listening;
	a->fd = socket(addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0 ||
	    setsockopt(a->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (addr.family == AF_INET6 &&
	     setsockopt(a->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(a->fd, (struct sockaddr *)&ss, len) || listen(a->fd, 64)) {
		exlb_err_set(err, "%s port %u: %s", g->admin_address, g->admin_port,
			     strerror(errno));
		if (a->fd >= 0)
			close(a->fd);
		a->fd = -1;
		exlb_tls_vs_put(a->tls_vs);
		a->tls_vs = NULL;
		return -1;
	}
listening:
	ev_io_init((ev_io *)a->listen_io, listen_cb, a->fd, EV_READ);
	((ev_io *)a->listen_io)->data = a;
	ev_io_start(a->loop, a->listen_io);
	return 0;
}

void exlb_admin_apply(struct exlb_admin *a)
{
	const struct exlb_config *cfg;
	const struct exlb_globals *g;
	const struct exlb_cert *cert;
	char want[sizeof(a->bound)];
	struct exlb_err err;

	if (!a)
		return;
	cfg = a->store->config;
	g = &cfg->globals;
	cert = exlb_cert_find(cfg, g->admin_cert);
	want[0] = '\0';
	if (g->admin_port)
		snprintf(want, sizeof(want), "%s %u %s %s", g->admin_address,
			 g->admin_port, g->admin_cert, cert ? cert->sha256 : "");
	if (!strcmp(want, a->bound) && (a->fd >= 0) == !!want[0])
		return;
	if (a->fd >= 0)
		exlb_log(LOG_NOTICE, "admin: listener on %s closed", a->bound);
	listener_close(a);
	if (!want[0])
		return;
	if (listener_open(a, cfg, &err)) {
		exlb_log(LOG_ERR, "admin: cannot listen: %s", err.msg);
		return;
	}
	snprintf(a->bound, sizeof(a->bound), "%s", want);
	exlb_log(LOG_NOTICE, "admin: listening on %s port %u (HTTPS, certificate %s)",
		 g->admin_address, g->admin_port,
		 g->admin_cert[0] ? g->admin_cert : "self-signed");
}

struct exlb_admin *exlb_admin_new(struct ev_loop *loop, struct exlb_store *store,
				  struct exlb_runtime *runtime,
				  const char *state_dir, int inherited)
{
	struct exlb_admin *a = calloc(1, sizeof(*a));

	if (!a) {
		if (inherited >= 0)
			close(inherited);
		return NULL;
	}
	a->fd = -1;
	a->inherited = inherited;
	a->listen_io = calloc(1, sizeof(ev_io));
	a->rest = calloc(1, sizeof(ev_timer));
	a->tls = exlb_tls_cache_new(state_dir);
	a->hasher = exlb_admin_hasher_new(loop, hash_verdict, a);
	if (!a->listen_io || !a->rest || !a->tls || !a->hasher) {
		exlb_admin_free(a);
		return NULL;
	}
	ev_timer_init((ev_timer *)a->rest, rest_end_cb, EXLB_ADMIN_REST_S, 0);
	((ev_timer *)a->rest)->data = a;
	llhttp_settings_init(&parser_settings);
	parser_settings.on_url = on_url;
	parser_settings.on_header_field = on_header_field;
	parser_settings.on_header_value = on_header_value;
	parser_settings.on_header_value_complete = on_header_value_complete;
	parser_settings.on_message_complete = on_message_complete;
	parser_settings.on_headers_complete = on_headers_complete;
	parser_settings.on_body = on_body;
	a->loop = loop;
	a->store = store;
	a->runtime = runtime;
	a->started = time(NULL);
	exlb_admin_apply(a);
	if (a->inherited >= 0) {	/* the configuration has it elsewhere */
		close(a->inherited);
		a->inherited = -1;
	}
	return a;
}

void exlb_admin_freeze(struct exlb_admin *a, const char *why)
{
	if (a)
		a->frozen = why;
}

int exlb_admin_listen_fd(const struct exlb_admin *a)
{
	return a ? a->fd : -1;
}

void exlb_admin_free(struct exlb_admin *a)
{
	if (!a)
		return;
	while (a->conns)
		conn_close(a->conns);
	exlb_admin_hasher_free(a->hasher);
	if (a->listen_io && a->rest)
		listener_close(a);
	if (a->inherited >= 0)
		close(a->inherited);
	exlb_tls_cache_free(a->tls);
	free(a->listen_io);
	free(a->rest);
	free(a);
}
