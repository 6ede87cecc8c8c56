// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The manager's end of the L7 worker process (exlbd --worker-user,
 * docs/privsep.md): proxy.h's calls answered on this side of the channel
 * (exlb_worker_remote, given to exlb_proxy_new() by main.c).
 * The worker (proc/worker.c) runs the real proxy; this file starts it
 * (spawn.h: fork + execveat of exlbd's own binary with --worker, the
 * channel at fd 3), restarts it through ha/child.c's backoff, binds every
 * listener and keeps its copies (a restarted worker gets the same sockets;
 * the connections queued meanwhile wait), and sends it the configuration
 * without secrets, the health verdicts, the certificates as PEM and the
 * access log's descriptor. What comes back (counters, passive-health
 * marks) is untrusted input: bounded, known members only, ids checked
 * against this side's configuration. It also owns the directory process
 * (proc/directory_manager.c) and gives the worker its channel to it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/certs.h"
#include "config/params.h"
#include "ha/child.h"
#include "ha/persist_sync.h"
#include "health/targets.h"
#include "l7/content.h"
#include "l7/proxy.h"
#include "proc/directory.h"
#include "proc/handover.h"
#include "proc/spawn.h"
#include "proc/worker.h"

#define REMOTE_HEAR_MS	1000
#define REMOTE_STOP_MS	2000
#define REMOTE_FRESH_MS	100	/* status waits this long for fresh figures */
#define REMOTE_APPLY_MS	500	/* a change, this long for the worker's new plan */

/* One VS's listening sockets: one per worker thread (SO_REUSEPORT). */
struct remote_listener {
	uint32_t vs_id;
	struct sockaddr_storage vip;
	socklen_t viplen;
	int *fds;
	size_t nr_fds;
	bool sent;		/* the running worker has them */
	bool seen;		/* apply: its VS is still served */
};

struct remote {
	struct ev_loop *loop;
	struct exlb_proxy_opts opts;
	char *user, *access_log, *state_dir;
	int exe_fd;		/* O_PATH of /proc/self/exe, opened at start */
	struct exlb_sandboxed proc;	/* spawn.h: the worker, its channel */
	struct remote_listener *ls;
	size_t nr_ls;
	int *adopt;		/* received from the old exlbd (upgrade) */
	size_t nr_adopt;
	const struct exlb_config *cfg;	/* the last applied (the store's) */
	const struct exlb_runtime *rt;
	unsigned int fd_reserve;
	json_t *figures;	/* the worker's last counters */
	bool draining;
	struct exlb_directory *dir;	/* ESP logons (privsep stage 3) */
	/* HA persistence sync: the partner's records waiting to go, the
	 * worker's waiting for ha/persist_sync.c's next export */
	struct exlb_persist_export *pin, *pout;
	size_t nr_pin, nr_pout;
	ev_timer pin_flush;
	bool pout_asked, pout_all;
	/* remote_refresh(): the last ask sent, the last answered */
	json_int_t fresh_asked, fresh_heard;
};

static const struct exlb_child_ops worker_ops;
static void remote_free(void *rv);

/* ---- listeners ---- */

static void listener_close(struct remote_listener *l)
{
	for (size_t i = 0; i < l->nr_fds; i++)
		close(l->fds[i]);
	free(l->fds);
	l->fds = NULL;
	l->nr_fds = 0;
}

static void to_sockaddr(const struct exlb_service *s, struct sockaddr_storage *ss,
			socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (s->vip.family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = s->vip.u.v6;
		s6->sin6_port = htons((uint16_t)s->port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = s->vip.u.v4;
		s4->sin_port = htons((uint16_t)s->port);
		*len = sizeof(*s4);
	}
}

static bool fd_bound_to(int fd, const struct sockaddr_storage *vip,
			socklen_t viplen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	return !getsockname(fd, (struct sockaddr *)&ss, &len) && len == viplen &&
	       !memcmp(&ss, vip, viplen);
}

/* Sockets for @l: those received at an upgrade for its address, else bound. */
static void listener_fill(struct remote *r, struct remote_listener *l,
			  const struct exlb_service *s)
{
	char label[EXLB_NICKNAME_SIZE];
	int *fds = calloc(r->opts.workers + r->nr_adopt, sizeof(*fds));
	size_t n = 0;

	if (!fds)
		return;
	for (size_t i = 0; i < r->nr_adopt; i++) {
		if (r->adopt[i] < 0 || !fd_bound_to(r->adopt[i], &l->vip, l->viplen))
			continue;
		fds[n++] = r->adopt[i];
		r->adopt[i] = -1;
	}
	while (!n || n < r->opts.workers) {
		int fd = exlb_proxy_listen_socket(&l->vip, l->viplen);

		if (fd < 0) {
			exlb_log(LOG_ERR, "proxy: %s (id %u): cannot listen on port %u: %s",
				 exlb_service_label(s, label, sizeof(label)), s->id,
				 s->port, strerror(-fd));
			break;
		}
		fds[n++] = fd;
	}
	l->fds = fds;
	l->nr_fds = n;
	l->sent = false;
}

/* The listeners follow the served VSs (kept while id and VIP:port stay). */
static void listeners_sync(struct remote *r, const struct exlb_config *cfg)
{
	size_t keep = 0;

	for (size_t i = 0; i < r->nr_ls; i++)
		r->ls[i].seen = false;
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];
		struct remote_listener *l = NULL, *grown;
		struct sockaddr_storage vip;
		socklen_t viplen;

		if (!exlb_proxy_serves(cfg, s))
			continue;
		to_sockaddr(s, &vip, &viplen);
		for (size_t k = 0; k < r->nr_ls && !l; k++)
			if (r->ls[k].vs_id == s->id && r->ls[k].viplen == viplen &&
			    !memcmp(&r->ls[k].vip, &vip, viplen))
				l = &r->ls[k];
		if (!l) {
			grown = realloc(r->ls, (r->nr_ls + 1) * sizeof(*grown));
			if (!grown)
				continue;
			r->ls = grown;
			l = &r->ls[r->nr_ls++];
			memset(l, 0, sizeof(*l));
			l->vs_id = s->id;
			l->vip = vip;
			l->viplen = viplen;
		}
		l->seen = true;
		if (!l->nr_fds)
			listener_fill(r, l, s);
	}
	for (size_t i = 0; i < r->nr_ls; i++) {
		if (r->ls[i].seen && r->ls[i].nr_fds)
			r->ls[keep++] = r->ls[i];
		else
			listener_close(&r->ls[i]);
	}
	r->nr_ls = keep;
	/* received sockets no VS wants: their queues go with the old exlbd */
	for (size_t i = 0; i < r->nr_adopt; i++)
		if (r->adopt[i] >= 0)
			close(r->adopt[i]);
	free(r->adopt);
	r->adopt = NULL;
	r->nr_adopt = 0;
}

/* ---- what goes to the worker ---- */

/*
 * An SSO domain as the worker gets it: no secret and no service account
 * (adminuser): the worker makes no directory logon (the directory process
 * does: directory_manager.c gives it the domains with their secrets).
 */
static json_t *sso_public(const struct exlb_sso_domain *d)
{
	json_t *obj = exlb_sso_to_json(d, false);

	for (size_t i = 0; obj && i < exlb_nr_params; i++) {
		const struct exlb_param *p = &exlb_params[i];

		if ((p->scope & EXLB_SCOPE_SSO) && (p->flags & EXLB_PF_SECRET))
			json_object_del(obj, p->name);
	}
	json_object_del(obj, "adminuser");
	return obj;
}

/*
 * A VS held from the state file (a refused setting, exlb_vs_refused())
 * serves nothing; the worker's exlb_config_from_json() would refuse the
 * whole document for it (it reads no state file: nothing is held there).
 * So it goes without them.
 */
static void drop_refused(const struct exlb_config *cfg, json_t *doc)
{
	json_t *list = json_object_get(doc, "vs"), *vs;
	size_t i;

	for (i = 0; i < json_array_size(list);) {
		json_int_t id;

		vs = json_array_get(list, i);
		id = json_integer_value(json_object_get(vs, "id"));
		if (id > 0 && id <= UINT32_MAX &&
		    exlb_vs_refused(cfg, exlb_service_by_id(cfg, (uint32_t)id)))
			json_array_remove(list, i);
		else
			i++;
	}
}

/* The durable store's document without secrets (docs/privsep.md). */
static json_t *config_public(const struct exlb_config *cfg)
{
	json_t *doc = exlb_config_to_json(cfg), *sso;

	if (!doc)
		return NULL;
	drop_refused(cfg, doc);
	json_object_del(doc, "admin_credentials");
	/* replaced whole: the store's document has the passwords */
	json_object_del(doc, "sso_domains");
	if (cfg->nr_sso) {
		sso = json_array();
		for (size_t i = 0; i < cfg->nr_sso; i++)
			json_array_append_new(sso, sso_public(&cfg->sso[i]));
		json_object_set_new(doc, "sso_domains", sso);
	}
	return doc;
}

static int pem_add(json_t *pem, const char *state_dir, const char *name)
{
	char *crt, *key;
	struct exlb_err err;
	int ret;

	if (json_object_get(pem, name))
		return 0;
	if (exlb_cert_read_pem(state_dir, name, &crt, &key, &err)) {
		exlb_log(LOG_ERR, "proxy: worker process: %s", err.msg);
		return -1;
	}
	ret = json_object_set_new(pem, name, json_pack("{ssss}", "crt", crt,
						       "key", key));
	explicit_bzero(key, strlen(key));
	free(crt);
	free(key);
	return ret;
}

/* The certificates and keys of the TLS VSs the worker serves, as PEM. */
static json_t *pem_of(const struct remote *r, const struct exlb_config *cfg)
{
	char names[EXLB_VS_MAX_CERTS][EXLB_CERT_NAME_SIZE];
	json_t *pem = json_object();

	for (size_t i = 0; pem && i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];
		size_t n;

		if (!exlb_proxy_serves(cfg, s) || !s->ssl_acceleration)
			continue;
		n = exlb_service_cert_names(s, names, EXLB_VS_MAX_CERTS);
		if (!n) {
			struct exlb_cert_pair pair;
			struct exlb_err err;

			/* made once, in the state directory: the manager's */
			if (exlb_cert_selfsigned(r->state_dir, &pair, &err)) {
				exlb_log(LOG_ERR, "proxy: %s", err.msg);
				continue;
			}
			exlb_cert_pair_free(&pair);
			pem_add(pem, r->state_dir, EXLB_SELFSIGNED_NAME);
		}
		for (size_t k = 0; k < n; k++)
			pem_add(pem, r->state_dir, names[k]);
	}
	return pem;
}

/*
 * The configuration message: the store's document without secrets, the
 * verdicts, the PEM, the descriptor reserve, and the listeners this worker
 * does not hold yet.
 */
static void send_config(struct remote *r)
{
	struct exlb_handover_fd *fds;
	size_t n = 0, cap = 0;
	json_t *msg;

	if (r->proc.chan < 0 || !r->cfg)
		return;
	for (size_t i = 0; i < r->nr_ls; i++)
		cap += r->ls[i].sent ? 0 : r->ls[i].nr_fds;
	fds = calloc(cap + 1, sizeof(*fds));
	/* answered once its plan is made: remote_apply() waits for that */
	msg = json_pack("{s:o s:o s:o s:I s:I}", "config", config_public(r->cfg),
			"health", exlb_health_targets_export(NULL, r->rt),
			"pem", pem_of(r, r->cfg),
			"fd_reserve", (json_int_t)r->fd_reserve,
			"ask", (json_int_t)++r->fresh_asked);
	if (!fds) {
		json_decref(msg);
		msg = NULL;
	}
	for (size_t i = 0; fds && i < r->nr_ls; i++) {
		if (r->ls[i].sent)
			continue;
		for (size_t k = 0; k < r->ls[i].nr_fds; k++) {
			fds[n].fd = r->ls[i].fds[k];
			snprintf(fds[n].tag, sizeof(fds[n].tag), "l7");
			n++;
		}
		r->ls[i].sent = true;
	}
	exlb_sandboxed_send(&r->proc, fds, n, msg);
	json_decref(msg);
	free(fds);
}

/* The access log: opened here (mode, group), written there. */
static int send_log(struct remote *r, struct exlb_err *err)
{
	struct exlb_handover_fd fd = { .tag = "alog" };
	FILE *f;
	json_t *msg;

	if (!r->access_log || r->proc.chan < 0)
		return 0;
	f = exlb_proxy_access_log_open(r->access_log, err);
	if (!f)
		return -1;
	fd.fd = fileno(f);
	msg = json_pack("{sb}", "alog", 1);
	exlb_sandboxed_send(&r->proc, &fd, 1, msg);
	json_decref(msg);
	fclose(f);	/* the worker has its copy */
	return 0;
}

/* ---- HA persistence sync: ha/persist_sync.c's calls, forwarded ---- */

/* The partner's records, batched into one message per loop iteration. */
static void persist_flush(struct remote *r)
{
	json_t *msg;

	ev_timer_stop(r->loop, &r->pin_flush);
	if (!r->nr_pin)
		return;
	msg = json_pack("{so}", "persist_install",
			exlb_worker_persist_to_json(r->pin, r->nr_pin));
	r->nr_pin = 0;
	exlb_sandboxed_send(&r->proc, NULL, 0, msg);
	json_decref(msg);
}

static void on_persist_flush(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	persist_flush(t->data);
}

/* An L7 record goes to the worker (whose tables hold them) if one runs. */
static int remote_persist_install(void *rv, const struct exlb_persist_export *rec)
{
	struct remote *r = rv;

	if (r->proc.chan < 0 || !r->cfg || !exlb_service_by_id(r->cfg, rec->service_id))
		return -1;
	if (!r->pin && !(r->pin = calloc(EXLB_HA_PERSIST_BATCH, sizeof(*r->pin))))
		return -1;
	if (r->nr_pin == EXLB_HA_PERSIST_BATCH)
		persist_flush(r);
	r->pin[r->nr_pin++] = *rec;
	if (!ev_is_active(&r->pin_flush)) {
		ev_timer_set(&r->pin_flush, 0., 0.);
		ev_timer_start(r->loop, &r->pin_flush);
	}
	return 0;
}

/*
 * Never waits for the worker: hands out what it answered to the last ask
 * (one export tick ago) and asks again. A full export ("all") is asked
 * for as soon as no ask is outstanding.
 */
static size_t remote_persist_export(void *rv, bool all,
				    struct exlb_persist_export *out, size_t max)
{
	struct remote *r = rv;
	size_t n = r->nr_pout < max ? r->nr_pout : max;
	json_t *ask;

	if (n) {
		memcpy(out, r->pout, n * sizeof(*out));
		memmove(r->pout, r->pout + n, (r->nr_pout - n) * sizeof(*out));
		r->nr_pout -= n;
	}
	r->pout_all |= all;
	if (r->proc.chan < 0 || r->pout_asked || r->nr_pout >= EXLB_HA_PERSIST_BATCH)
		return n;
	ask = json_pack("{sbsI}", "persist_export", r->pout_all, "max",
			(json_int_t)(EXLB_HA_PERSIST_BATCH - r->nr_pout));
	r->pout_asked = true;
	r->pout_all = false;
	exlb_sandboxed_send(&r->proc, NULL, 0, ask);
	json_decref(ask);
	return n;
}

/* The worker's answer: records of VSs and RSs this side knows, at most what was asked. */
static void heard_persist(struct remote *r, json_t *msg)
{
	const json_t *rec;
	size_t i, bad = 0;

	if (!r->pout && !(r->pout = calloc(EXLB_HA_PERSIST_BATCH, sizeof(*r->pout))))
		return;
	r->pout_asked = false;
	json_array_foreach(json_object_get(msg, "persist"), i, rec) {
		struct exlb_persist_export e;

		if (r->nr_pout == EXLB_HA_PERSIST_BATCH ||
		    exlb_worker_persist_from_json(rec, &e) || !r->cfg ||
		    !exlb_service_by_id(r->cfg, e.service_id) ||
		    !exlb_rs_by_id(r->cfg, e.rs_id)) {
			bad++;
			continue;
		}
		r->pout[r->nr_pout++] = e;
	}
	if (bad)
		exlb_log(LOG_WARNING, "proxy: L7 worker (pid %d): %zu persistence records not of this configuration or too many: dropped",
			 (int)r->proc.pid, bad);
}

/* ---- what comes back ---- */

/* The RS must be one of an L7-served VS: the worker may mark nothing else. */
static void heard_rs_failed(struct remote *r, json_t *msg)
{
	json_int_t id = json_integer_value(json_object_get(msg, "rs_failed"));
	json_int_t fails = json_integer_value(json_object_get(msg, "fails"));
	const char *why = json_string_value(json_object_get(msg, "why"));
	const struct exlb_rs *rs = id > 0 && id <= UINT32_MAX && r->cfg ?
				   exlb_rs_by_id(r->cfg, (uint32_t)id) : NULL;
	const struct exlb_service *svc = rs ? exlb_service_by_id(r->cfg, rs->service_id) : NULL;
	const struct exlb_service *vs = svc && svc->parent_id ?
					exlb_service_by_id(r->cfg, svc->parent_id) : svc;
	char text[64];

	if (!vs || !exlb_proxy_serves(r->cfg, vs) || fails < 1 || fails > 1000000) {
		exlb_log(LOG_WARNING, "proxy: L7 worker (pid %d): a passive-health mark for RS id %lld, not an RS of an L7 VS: ignored",
			 (int)r->proc.pid, (long long)id);
		return;
	}
	/* the reason goes into status and logs: printable, short */
	snprintf(text, sizeof(text), "%s", why ? why : "?");
	for (char *c = text; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	if (r->opts.rs_failed &&
	    r->opts.rs_failed(r->opts.rs_failed_ctx, (uint32_t)id,
			      (unsigned int)fails, text)) {
		json_t *reset = json_pack("{sI}", "rs_reset", id);

		exlb_sandboxed_send(&r->proc, NULL, 0, reset);
		json_decref(reset);
	}
}

/* One message from the worker, handled; a broken channel kills it. */
static void chan_one(struct remote *r)
{
	struct exlb_err err;
	json_t *msg, *ask;

	msg = exlb_handover_hear(r->proc.chan, REMOTE_HEAR_MS, &err);
	if (!msg) {
		if (!strcmp(err.msg, "closed"))	/* its exit follows */
			exlb_sandboxed_close(&r->proc);
		else
			exlb_sandboxed_kill(&r->proc, err.msg);
		return;
	}
	ask = json_object_get(msg, "ask");	/* the answer to remote_refresh() */
	if (json_is_integer(ask))
		r->fresh_heard = json_integer_value(ask);
	if (json_is_object(json_object_get(msg, "figures"))) {
		json_decref(r->figures);
		r->figures = json_incref(json_object_get(msg, "figures"));
		if (r->opts.figures)
			r->opts.figures(r->opts.rs_failed_ctx);
	} else if (json_object_get(msg, "rs_failed")) {
		heard_rs_failed(r, msg);
	} else if (json_is_array(json_object_get(msg, "persist"))) {
		heard_persist(r, msg);
	} else if (!ask) {
		exlb_log(LOG_WARNING, "proxy: L7 worker (pid %d): an unknown message: ignored",
			 (int)r->proc.pid);
	}
	json_decref(msg);
}

static void on_chan(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	chan_one(io->data);
}

/*
 * Waits at most @ms for the worker's answer to the last ask
 * (fresh_asked), handling what comes before it. A worker that does not
 * answer in time is not killed (it may be busy): the caller goes on.
 */
static void await_answer(struct remote *r, int ms)
{
	struct timespec now;
	int64_t deadline;

	clock_gettime(CLOCK_MONOTONIC, &now);
	deadline = now.tv_sec * 1000LL + now.tv_nsec / 1000000 + ms;
	while (r->proc.chan >= 0 && r->fresh_heard != r->fresh_asked) {
		struct pollfd pfd = { .fd = r->proc.chan, .events = POLLIN };
		int64_t left;
		int n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = deadline - (now.tv_sec * 1000LL + now.tv_nsec / 1000000);
		if (left <= 0)
			break;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		chan_one(r);
	}
}

/*
 * status, stats, /metrics (ctl.c, through main.c): the worker's figures
 * as of now, not of its last push -- in-process, some are read live (a
 * rule's limit hits).
 */
static void remote_refresh(void *rv)
{
	struct remote *r = rv;
	json_t *ask;

	if (r->proc.chan < 0)
		return;
	ask = json_pack("{sI}", "figures_ask", (json_int_t)++r->fresh_asked);
	exlb_sandboxed_send(&r->proc, NULL, 0, ask);
	json_decref(ask);
	await_answer(r, REMOTE_FRESH_MS);
}

/* ---- the directory process: the worker's channel to it ---- */

/* A new channel for the worker (either process was just started). */
static void pair_directory(struct remote *r)
{
	struct exlb_handover_fd fd = { .tag = "dir" };
	json_t *msg;

	if (r->proc.chan < 0 || !r->dir || (fd.fd = exlb_directory_pair(r->dir)) < 0)
		return;
	msg = json_pack("{sb}", "directory", 1);
	exlb_sandboxed_send(&r->proc, &fd, 1, msg);
	json_decref(msg);
	close(fd.fd);
}

static void directory_started(void *ctx)
{
	pair_directory(ctx);
}

/* ---- the worker process ---- */

static void worker_start(void *ctx)
{
	struct remote *r = ctx;
	struct exlb_err err;
	pid_t pid;

	pid = exlb_sandboxed_start(&r->proc, r->exe_fd, "--worker", on_chan);
	if (pid < 0)
		return;
	exlb_log(LOG_NOTICE, "proxy: L7 worker process started (pid %d, user %s, %u threads)",
		 (int)pid, r->user, r->opts.workers);
	/* first: who it becomes and how it runs; then as after every change */
	{
		json_t *hello = json_pack("{sssIsI}", "user", r->user,
					  "workers", (json_int_t)r->opts.workers,
					  "tls_relay", (json_int_t)r->opts.tls_relay);

		exlb_sandboxed_send(&r->proc, NULL, 0, hello);
		json_decref(hello);
	}
	for (size_t i = 0; i < r->nr_ls; i++)
		r->ls[i].sent = false;
	if (send_log(r, &err))
		exlb_log(LOG_ERR, "proxy: L7 worker: %s; it logs to standard output",
			 err.msg);
	pair_directory(r);
	send_config(r);
}

static void worker_exited(void *ctx, const char *note)
{
	struct remote *r = ctx;

	exlb_sandboxed_exited(&r->proc, note);
	json_decref(r->figures);
	r->figures = NULL;
	/* its tables are gone: what was asked will not come, what waited stays */
	r->pout_asked = false;
	r->nr_pin = 0;
	ev_timer_stop(r->loop, &r->pin_flush);
	if (!note)
		return;
	exlb_log(LOG_ERR, "proxy: L7 worker (pid %d) %s; its connections ended; the listeners wait in this process for its replacement",
		 (int)r->proc.pid, r->proc.last_exit);
	/* drained (an upgrade): the old generation's worker is not replaced */
	if (r->draining)
		r->proc.child.wanted = false;
}

static const struct exlb_child_ops worker_ops = {
	.prefix = "proxy: ",
	.name = "L7 worker",
	.exit_hint = " (the line before says why)",
	.stop_wait_ms = REMOTE_STOP_MS,
	.start = worker_start,
	.exited = worker_exited,
};

/*
 * A worker process cannot load tls.ko (it has no CAP_NET_ADMIN): a
 * TCP_ULP "tls" on any TCP socket as root loads it on demand (the call
 * itself then fails, the socket not being connected).
 */
static void ktls_module_load(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"));
	close(fd);
}

static void *remote_new(struct ev_loop *main_loop,
			const struct exlb_proxy_opts *opts, struct exlb_err *err)
{
	struct remote *r = calloc(1, sizeof(*r));
	struct passwd *pw = getpwnam(opts->worker_user);
	struct group *gr;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (!r) {
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	/* the sandbox refuses these too, but in the worker: say it at start */
	if (!pw || !pw->pw_uid || !pw->pw_gid ||
	    ((gr = getgrnam(EXLB_GROUP)) && gr->gr_gid == pw->pw_gid)) {
		free(r);
		exlb_err_set(err, "--worker-user %s: %s", opts->worker_user,
			     !pw ? "no such user" :
			     pw->pw_uid && pw->pw_gid ? "its group is " EXLB_GROUP
			     ", which opens the control socket: give it a group of its own (nogroup)" :
			     "must not be root or of group root");
		return NULL;
	}
	r->exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (r->exe_fd < 0) {
		exlb_err_set(err, "/proc/self/exe: %s", strerror(errno));
		free(r);
		return NULL;
	}
	r->loop = main_loop;
	/* not wanted yet */
	exlb_sandboxed_init(&r->proc, main_loop, &worker_ops, r, "proxy: L7 worker");
	ev_timer_init(&r->pin_flush, on_persist_flush, 0., 0.);
	r->pin_flush.data = r;
	r->opts = *opts;
	if (!r->opts.workers)
		r->opts.workers = ncpu > 0 ? (unsigned int)ncpu : 1;
	if (r->opts.workers > 256)
		r->opts.workers = 256;
	r->user = strdup(opts->worker_user);
	r->state_dir = strdup(opts->state_dir);
	r->access_log = opts->access_log ? strdup(opts->access_log) : NULL;
	if (!r->user || !r->state_dir || (opts->access_log && !r->access_log)) {
		exlb_err_set(err, "out of memory");
		remote_free(r);
		return NULL;
	}
	if (opts->access_log) {
		/* said at start, as in-process: the file must open */
		FILE *f = exlb_proxy_access_log_open(opts->access_log, err);

		if (!f) {
			remote_free(r);
			return NULL;
		}
		fclose(f);
	}
	if (opts->tls_relay != EXLB_TLS_RELAY_USERSPACE)
		ktls_module_load();
	r->dir = exlb_directory_new(main_loop, r->exe_fd, r->user, directory_started,
				    r, err);
	if (!r->dir) {
		remote_free(r);
		return NULL;
	}
	r->proc.child.wanted = true;
	return r;
}

static void remote_free(void *rv)
{
	struct remote *r = rv;

	if (!r)
		return;
	if (r->loop) {
		r->proc.child.wanted = false;
		exlb_child_stop(&r->proc.child);
		worker_exited(r, NULL);
	}
	exlb_directory_free(r->dir);
	for (size_t i = 0; i < r->nr_ls; i++)
		listener_close(&r->ls[i]);
	free(r->ls);
	for (size_t i = 0; i < r->nr_adopt; i++)
		if (r->adopt[i] >= 0)
			close(r->adopt[i]);
	free(r->adopt);
	free(r->pin);
	free(r->pout);
	if (r->exe_fd >= 0)
		close(r->exe_fd);
	free(r->user);
	free(r->state_dir);
	free(r->access_log);
	free(r);
}

/* ---- proxy.h, this side ---- */

static int remote_reopen_log(void *rv, struct exlb_err *err)
{
	struct remote *r = rv;

	return send_log(r, err);
}

static void remote_apply(void *rv, const struct exlb_config *cfg,
			 const struct exlb_runtime *rt)
{
	struct remote *r = rv;

	r->cfg = cfg;
	r->rt = rt;
	if (r->dir)
		exlb_directory_apply(r->dir, cfg);
	if (!r->draining)
		listeners_sync(r, cfg);
	if (r->proc.chan >= 0) {
		/*
		 * In-process the threads have the new plan before the change is
		 * answered; so here: a request sent after "rs disable" returned
		 * must not meet the old plan (exlbd-privsep.sh).
		 */
		send_config(r);
		await_answer(r, REMOTE_APPLY_MS);
	} else if (!r->draining)
		exlb_child_ensure(&r->proc.child);	/* the first; or one waiting to restart */
}

static void remote_set_fd_reserve(void *rv, unsigned int n)
{
	struct remote *r = rv;

	r->fd_reserve = n;	/* goes with the next configuration */
}

static int remote_adopt_listener(void *rv, int fd)
{
	struct remote *r = rv;
	int accepting = 0;
	socklen_t len = sizeof(accepting);
	int *grown;

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) ||
	    !accepting || !(grown = realloc(r->adopt, (r->nr_adopt + 1) * sizeof(*grown)))) {
		close(fd);
		return -1;
	}
	r->adopt = grown;
	r->adopt[r->nr_adopt++] = fd;
	return 0;
}

static ssize_t remote_listener_fds(void *rv, int **fds)
{
	struct remote *r = rv;
	size_t n = 0, cap = 0;
	int *out;

	for (size_t i = 0; i < r->nr_ls; i++)
		cap += r->ls[i].nr_fds;
	out = calloc(cap + 1, sizeof(*out));
	if (!out)
		return -1;
	for (size_t i = 0; i < r->nr_ls; i++)
		for (size_t k = 0; k < r->ls[i].nr_fds; k++) {
			out[n] = fcntl(r->ls[i].fds[k], F_DUPFD_CLOEXEC, 0);
			if (out[n] < 0) {
				while (n)
					close(out[--n]);
				free(out);
				return -1;
			}
			n++;
		}
	*fds = out;
	return (ssize_t)n;
}

/*
 * The old exlbd of an upgrade: the worker drains; this side closes its
 * copies of the listeners (the new exlbd holds them) and will not replace
 * the worker if it dies now.
 */
static void remote_drain(void *rv)
{
	struct remote *r = rv;
	json_t *msg = json_pack("{sb}", "drain", 1);

	r->draining = true;
	r->proc.child.wanted = false;
	ev_timer_stop(r->loop, &r->proc.child.restart);
	exlb_sandboxed_send(&r->proc, NULL, 0, msg);
	json_decref(msg);
	for (size_t i = 0; i < r->nr_ls; i++)
		listener_close(&r->ls[i]);
	r->nr_ls = 0;
}

static unsigned long remote_open_conns(void *rv)
{
	struct remote *r = rv;
	json_int_t n = json_integer_value(json_object_get(r->figures, "open"));

	if (!r->proc.child.pid)
		return 0;	/* no worker, no connection */
	return n > 0 ? (unsigned long)n : 0;
}

/* ---- counters: the worker's last figures, checked ---- */

static uint64_t u64_of_v(json_t *value)
{
	json_int_t v = json_integer_value(value);

	return v > 0 ? (uint64_t)v : 0;
}

static uint64_t u64_of(json_t *obj, const char *key)
{
	return u64_of_v(json_object_get(obj, key));
}

static void figures_proxy(json_t *f, struct exlb_runtime *rt)
{
	json_t *lag = json_object_get(f, "lag");
	size_t i;
	json_t *v;

	rt->proxy.fd_limit = (unsigned int)u64_of(f, "fd_limit");
	rt->proxy.fd_reserve = (unsigned int)u64_of(f, "fd_reserve");
	rt->proxy.conns_refused = u64_of(f, "conns_refused");
	rt->proxy.conns_over_limit = u64_of(f, "conns_over_limit");
	rt->proxy.accept_pauses = u64_of(f, "accept_pauses");
	rt->proxy.fd_short = u64_of(f, "fd_short");
	rt->proxy.connect_retries = u64_of(f, "connect_retries");
	rt->proxy.ktls_conns = u64_of(f, "ktls_conns");
	rt->proxy.userspace_conns = u64_of(f, "userspace_conns");
	rt->proxy.nr_workers = 0;
	json_array_foreach(lag, i, v) {
		if (i >= EXLB_MAX_WORKERS_SHOWN)
			break;
		rt->proxy.lag[i] = json_number_value(json_array_get(v, 0));
		rt->proxy.lag_max[i] = json_number_value(json_array_get(v, 1));
		rt->proxy.nr_workers = (unsigned int)i + 1;
	}
}

static void figures_vs(json_t *f, const struct exlb_config *cfg,
		       struct exlb_runtime *rt)
{
	json_t *arr = json_object_get(f, "vs"), *v;
	size_t n = 0, i;
	struct exlb_vs_l7 *out = calloc(json_array_size(arr) + 1, sizeof(*out));

	free(rt->vs_l7);
	rt->vs_l7 = out;
	rt->nr_vs_l7 = 0;
	json_array_foreach(arr, i, v) {
		json_int_t id = json_integer_value(json_object_get(v, "id"));
		json_t *term = json_object_get(v, "term");

		if (!out || id <= 0 || id > UINT32_MAX ||
		    !exlb_service_by_id(cfg, (uint32_t)id))
			continue;
		out[n].vs_id = (uint32_t)id;
		out[n].tls_full = u64_of(v, "tls_full");
		out[n].tls_resumed = u64_of(v, "tls_resumed");
		out[n].ktls_tx = u64_of(v, "ktls_tx");
		out[n].ktls_rx = u64_of(v, "ktls_rx");
		for (int t = 0; t < EXLB_TERM_CODES; t++) {
			json_int_t c = json_integer_value(json_array_get(term, t));

			out[n].term[t] = c > 0 ? (uint64_t)c : 0;
		}
		n++;
	}
	rt->nr_vs_l7 = n;
}

static void figures_rs(json_t *f, const struct exlb_config *cfg,
		       struct exlb_runtime *rt)
{
	json_t *arr = json_object_get(f, "rs"), *v;
	size_t i;

	json_array_foreach(arr, i, v) {
		json_int_t id = json_integer_value(json_object_get(v, "id"));
		const struct exlb_rs *rs = id > 0 && id <= UINT32_MAX ?
					   exlb_rs_by_id(cfg, (uint32_t)id) : NULL;
		const struct exlb_service *svc = rs ? exlb_service_by_id(cfg, rs->service_id) : NULL;
		const struct exlb_service *vs = svc && svc->parent_id ?
						exlb_service_by_id(cfg, svc->parent_id) : svc;
		struct exlb_rs_runtime *r;

		/* the kernel's counters are not the worker's to write */
		if (!vs || !exlb_proxy_serves(cfg, vs) ||
		    !(r = exlb_runtime_rs(rt, rs->id)))
			continue;
		r->counters.conns = u64_of(v, "conns");
		r->counters.active = u64_of(v, "active");
		r->counters.inactive = 0;
		r->counters.bytes_in = u64_of(v, "bytes_in");
		r->counters.bytes_out = u64_of(v, "bytes_out");
		r->counters.requests = u64_of(v, "requests");
	}
}

static void figures_persist(json_t *f, const struct exlb_config *cfg,
			    struct exlb_runtime *rt)
{
	json_t *arr = json_object_get(f, "persist"), *v;
	struct exlb_persist_count *out = calloc(json_array_size(arr) + 1, sizeof(*out));
	size_t n = 0, i;

	free(rt->persist);
	rt->persist = out;
	rt->nr_persist = 0;
	json_array_foreach(arr, i, v) {
		json_int_t id = json_integer_value(json_array_get(v, 0));

		if (!out || id <= 0 || id > UINT32_MAX ||
		    !exlb_service_by_id(cfg, (uint32_t)id))
			continue;
		out[n].service_id = (uint32_t)id;
		out[n].records = (uint64_t)json_integer_value(json_array_get(v, 1));
		n++;
	}
	rt->nr_persist = n;
}

/* PCRE2 limit hits: the worker matches, content.c's registry here shows them. */
static void figures_rules(json_t *f, const struct exlb_config *cfg)
{
	json_t *arr = json_object_get(f, "rules"), *v;
	size_t i;

	json_array_foreach(arr, i, v) {
		const char *name = json_string_value(json_array_get(v, 0));

		if (name && exlb_rule_find(cfg, name))
			exlb_content_limit_hits_take(name, u64_of_v(json_array_get(v, 1)));
	}
	exlb_content_limit_hits_take(NULL, u64_of(f, "rule_limit_hits"));
}

static void remote_counters(void *rv, const struct exlb_config *cfg,
			    struct exlb_runtime *rt)
{
	struct remote *r = rv;

	rt->proxy.present = true;
	exlb_sandboxed_status(&r->proc, r->user, &rt->proxy.process);
	if (r->dir)
		exlb_directory_status(r->dir, &rt->proxy.directory);
	if (!r->figures)
		return;
	figures_proxy(r->figures, rt);
	figures_vs(r->figures, cfg, rt);
	figures_rs(r->figures, cfg, rt);
	figures_persist(r->figures, cfg, rt);
	figures_rules(r->figures, cfg);
}

const struct exlb_proxy_remote exlb_worker_remote = {
	.new = remote_new,
	.free = remote_free,
	.reopen_log = remote_reopen_log,
	.apply = remote_apply,
	.set_fd_reserve = remote_set_fd_reserve,
	.counters = remote_counters,
	.adopt_listener = remote_adopt_listener,
	.listener_fds = remote_listener_fds,
	.drain = remote_drain,
	.open_conns = remote_open_conns,
	.persist_export = remote_persist_export,
	.persist_install = remote_persist_install,
	.refresh = remote_refresh,
};
