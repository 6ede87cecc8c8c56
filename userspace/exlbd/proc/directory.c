// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * exlbd --directory: the directory process of privilege separation
 * (docs/privsep.md, stage 3), started by the manager (proc/directory_manager.c) with
 * its channel at fd 3. It receives who to become and the SSO domains with
 * their service-account passwords, enters its sandbox (proc/sandbox.c, the
 * worker's filter plus what libldap and the resolver need), and makes the
 * ESP logons the L7 worker forwards: esp/sso.c with its directory threads
 * and failed-logon table, esp/ldap.c. The worker's channel comes from the
 * manager too (a socketpair, tag "worker"), a new one whenever either
 * process was restarted.
 *
 * What the worker sends is untrusted: one message of at most
 * DIR_REQ_MAX bytes, exactly {"id", "domain", "user", "password"}, the
 * domain one the manager sent, name and password hex; sso.c then checks
 * them as for any client (lengths, control characters, the logon format)
 * and applies the failed-logon limit here, where the worker cannot reach
 * it. A malformed message closes that channel.
 *
 * Its ends as the worker's: the manager closed the channel (_exit 0), the
 * sandbox refused (_exit 1), or a signal; never exit() (worker.c says why).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <ldap.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "esp/sso.h"
#include "proc/directory.h"
#include "proc/handover.h"
#include "proc/sandbox.h"

#define DIR_CHAN	3
#define DIR_FIRST_MS	10000
#define DIR_RECV_MS	5000
#define DIR_PEER_MS	1000	/* a worker's message, once it began */
#define DIR_SAY_MS	2000
#define DIR_REQ_MAX	(64 + 2 * (EXLB_SSO_NAME_SIZE + ESP_NAME_MAX + ESP_PASSWORD_MAX))

struct peer;

/* One logon at sso.c for a worker. */
struct req {
	struct peer *peer;
	json_int_t id;
	struct esp_auth *auth;
	struct req *prev, *next;
};

/* One worker's channel. */
struct peer {
	int fd;
	ev_io io;
	struct req *reqs;
	struct peer *prev, *next;
};

static struct ev_loop *loop;
static struct exlb_config *domains;	/* only sso[]: the manager's last */
static struct peer *peers;

static void __attribute__((noreturn)) dir_exit(int status)
{
	fflush(stdout);
	_exit(status);
}

static void req_unlink(struct req *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		q->peer->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
}

/* The worker went (or misbehaved): its logons are cancelled, not answered. */
static void peer_close(struct peer *p)
{
	struct req *q;

	while ((q = p->reqs)) {
		req_unlink(q);
		esp_auth_cancel(q->auth);
		free(q);
	}
	ev_io_stop(loop, &p->io);
	close(p->fd);
	if (p->prev)
		p->prev->next = p->next;
	else
		peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	free(p);
}

/* {"id", "result", "detail"}; -1: the channel failed (the caller closes it). */
static int answer(struct peer *p, json_int_t id, enum esp_auth_result result,
		  const char *detail)
{
	char text[768];
	struct exlb_err err;
	json_t *msg;
	int ret;

	/* a log line of ours, with what the user typed: ASCII for JSON */
	snprintf(text, sizeof(text), "%s", detail);
	for (char *c = text; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	msg = json_pack("{sIsiss}", "id", id, "result", (int)result, "detail", text);
	ret = msg ? exlb_handover_say(p->fd, msg, DIR_SAY_MS, &err) : -1;
	if (ret)
		exlb_log(LOG_ERR, "directory: a worker's channel: %s: closed",
			 msg ? err.msg : "out of memory");
	json_decref(msg);
	return ret;
}

static void on_verdict(void *ctx, enum esp_auth_result result, const char *detail)
{
	struct req *q = ctx;
	struct peer *p = q->peer;
	json_int_t id = q->id;

	req_unlink(q);
	free(q);
	if (answer(p, id, result, detail))
		peer_close(p);
}

/* @hex (even length, [0-9a-f]) into @out (@max bytes at most); length or -1. */
static ssize_t unhex(const char *hex, char *out, size_t max)
{
	size_t n = strlen(hex);

	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int v = 0;

		for (int k = 0; k < 2; k++) {
			char c = hex[i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return -1;
		}
		out[i / 2] = (char)v;
	}
	return (ssize_t)(n / 2);
}

/* One request; -1: malformed, or the channel failed (the caller closes it). */
static int take_request(struct peer *p, json_t *msg)
{
	static const char *const known[] = { "id", "domain", "user", "password" };
	json_t *id = json_object_get(msg, "id");
	const char *dom = json_string_value(json_object_get(msg, "domain"));
	const char *user = json_string_value(json_object_get(msg, "user"));
	const char *pw = json_string_value(json_object_get(msg, "password"));
	/* one byte over the limits: sso.c refuses over-long input itself */
	char ubuf[ESP_NAME_MAX + 1], pbuf[ESP_PASSWORD_MAX + 1];
	const struct exlb_sso_domain *d;
	ssize_t ulen, plen;
	struct req *q;

	if (json_object_size(msg) != 4 || !json_is_integer(id) ||
	    json_integer_value(id) < 0 || !dom || !user || !pw)
		return -1;
	for (size_t i = 0; i < 4; i++)
		if (!json_object_get(msg, known[i]))
			return -1;
	ulen = unhex(user, ubuf, sizeof(ubuf));
	plen = unhex(pw, pbuf, sizeof(pbuf));
	explicit_bzero((char *)pw, strlen(pw));
	if (ulen < 0 || plen < 0) {
		explicit_bzero(pbuf, sizeof(pbuf));
		return -1;
	}
	d = domains ? exlb_sso_find(domains, dom) : NULL;
	if (!d) {	/* removed meanwhile, or a worker's invention */
		char why[128];

		explicit_bzero(pbuf, sizeof(pbuf));
		snprintf(why, sizeof(why), "refused: no SSO domain '%.64s' here", dom);
		return answer(p, json_integer_value(id), ESP_AUTH_REFUSED, why);
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		explicit_bzero(pbuf, sizeof(pbuf));
		return -1;
	}
	q->peer = p;
	q->id = json_integer_value(id);
	q->next = p->reqs;
	if (p->reqs)
		p->reqs->prev = q;
	p->reqs = q;
	q->auth = esp_auth_start(d, ubuf, (size_t)ulen, pbuf, (size_t)plen,
				 on_verdict, q);
	explicit_bzero(pbuf, sizeof(pbuf));
	if (!q->auth) {
		req_unlink(q);
		free(q);
		return -1;
	}
	return 0;
}

static void on_peer(struct ev_loop *l, ev_io *io, int revents)
{
	struct peer *p = io->data;
	struct exlb_err err;
	json_t *msg;

	(void)l;
	(void)revents;
	msg = exlb_handover_hear_max(p->fd, DIR_REQ_MAX, DIR_PEER_MS, &err);
	if (!msg) {
		if (strcmp(err.msg, "closed"))
			exlb_log(LOG_WARNING, "directory: a worker's channel: %s: closed",
				 err.msg);
		peer_close(p);
		return;
	}
	if (take_request(p, msg)) {
		exlb_log(LOG_WARNING, "directory: a malformed logon request from the worker, or no answer possible: its channel closed");
		peer_close(p);
	}
	json_decref(msg);
}

static void peer_add(int fd)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (!p) {
		close(fd);
		return;
	}
	p->fd = fd;
	p->next = peers;
	if (peers)
		peers->prev = p;
	peers = p;
	ev_io_init(&p->io, on_peer, fd, EV_READ);
	p->io.data = p;
	ev_io_start(loop, &p->io);
}

/* {"sso": the store's document with only the SSO domains, secrets in}. */
static int take_domains(json_t *doc)
{
	struct exlb_config *cfg;
	struct exlb_err err;

	cfg = exlb_config_from_json(doc, &err);
	if (!cfg) {
		exlb_log(LOG_ERR, "directory: the manager's SSO domains: %s", err.msg);
		return -1;
	}
	/* the failed-logon counts stay, as in-process across changes */
	exlb_config_free(domains);
	domains = cfg;
	return 0;
}

static void on_chan(struct ev_loop *l, ev_io *io, int revents)
{
	struct exlb_handover h;
	struct exlb_err err;
	int fd;

	(void)l;
	(void)io;
	(void)revents;
	if (exlb_handover_recv(DIR_CHAN, &h, DIR_RECV_MS, &err)) {
		if (strcmp(err.msg, "closed"))
			exlb_log(LOG_ERR, "directory: channel: %s; exiting", err.msg);
		dir_exit(strcmp(err.msg, "closed") ? 1 : 0);
	}
	if (json_object_get(h.state, "sso") && take_domains(json_object_get(h.state, "sso")))
		dir_exit(1);
	while ((fd = exlb_handover_take(&h, "worker")) >= 0)
		peer_add(fd);
	exlb_handover_done(&h);
}

#ifdef EXLB_TEST_HOOKS
static void on_test_violate(int sig)
{
	(void)sig;
	exlb_sandbox_test_violate();
}
#endif

int exlb_directory_main(void)
{
	struct exlb_handover h;
	struct exlb_err err;
	const char *user;
	char tag[48], name[64];
	ev_io chan_io;
	int v;

	snprintf(tag, sizeof(tag), "exlbd: directory[%d]", (int)getpid());
	exlb_log_set_tag(tag);
	/* what it would otherwise read inside: configurations, the zone */
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
	tzset();
	json_object_seed(0);
	/* libldap's global initialisation (ldap.conf, the host name) as root */
	ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &v);
	if (exlb_handover_recv(DIR_CHAN, &h, DIR_FIRST_MS, &err)) {
		exlb_log(LOG_ERR, "directory: no start from the manager on fd %d: %s",
			 DIR_CHAN, err.msg);
		dir_exit(1);
	}
	user = json_string_value(json_object_get(h.state, "user"));
	if (!user || snprintf(name, sizeof(name), "%s", user) >= (int)sizeof(name)) {
		exlb_log(LOG_ERR, "directory: a start without user");
		dir_exit(1);
	}
	exlb_handover_done(&h);
	loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!loop) {
		exlb_log(LOG_ERR, "directory: no event loop");
		dir_exit(1);
	}
#ifdef EXLB_TEST_HOOKS
	signal(SIGUSR2, on_test_violate);
#endif
	if (exlb_sandbox_enter_directory(name, &err)) {
		exlb_log(LOG_ERR, "directory: %s", err.msg);
		dir_exit(1);
	}
	/* the directory threads start now: they inherit the filter */
	if (esp_auth_attach(loop)) {
		exlb_log(LOG_ERR, "directory: no directory threads");
		dir_exit(1);
	}
	ev_io_init(&chan_io, on_chan, DIR_CHAN, EV_READ);
	ev_io_start(loop, &chan_io);
	exlb_log(LOG_NOTICE, "directory: sandboxed as %s", name);
	ev_run(loop, 0);
	dir_exit(0);
}
