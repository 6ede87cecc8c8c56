// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The manager's end of the directory process (directory.h,
 * docs/privsep.md): started as the L7 worker is (fork + execveat of
 * exlbd's own binary, here with --directory, the channel at fd 3),
 * restarted through ha/child.c's backoff, its deaths logged and counted.
 * It gets the SSO domains with their service-account passwords and
 * nothing else of the configuration; the worker's channel to it is a
 * socketpair made here, one end to each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ha/child.h"
#include "proc/directory.h"
#include "proc/handover.h"
#include "proc/spawn.h"

#define DIR_SEND_MS	2000	/* a directory process that does not read is killed */
#define DIR_STOP_MS	2000

struct exlb_directory {
	struct ev_loop *loop;
	int exe_fd;
	char *user;
	void (*started)(void *ctx);
	void *ctx;
	struct exlb_child child;
	pid_t pid;		/* the running one's, for log lines */
	int chan;		/* -1: none */
	ev_io chan_io;
	json_t *sso;		/* the last domains applied: a document for it */
	unsigned int exits, sigsys;
	char last_exit[160];
};

static void chan_close(struct exlb_directory *d)
{
	if (d->chan < 0)
		return;
	ev_io_stop(d->loop, &d->chan_io);
	close(d->chan);
	d->chan = -1;
}

/* One message; a failure kills it (then restarted as any crash). */
static int dir_send(struct exlb_directory *d, const struct exlb_handover_fd *fds,
		    size_t n, json_t *msg)
{
	struct exlb_err err;

	if (d->chan < 0)
		return -1;
	if (msg && !exlb_handover_send(d->chan, fds, n, msg, DIR_SEND_MS, &err))
		return 0;
	exlb_log(LOG_ERR, "esp: directory process (pid %d): channel: %s: killed",
		 (int)d->pid, msg ? err.msg : "out of memory");
	if (d->child.pid)
		kill(d->child.pid, SIGKILL);
	chan_close(d);
	return -1;
}

static void send_sso(struct exlb_directory *d)
{
	json_t *msg;

	if (!d->sso)
		return;
	msg = json_pack("{sO}", "sso", d->sso);
	dir_send(d, NULL, 0, msg);
	json_decref(msg);
}

/* It says nothing: readable means closed (its exit follows) or a rogue byte. */
static void on_chan(struct ev_loop *loop, ev_io *io, int revents)
{
	struct exlb_directory *d = io->data;

	(void)loop;
	(void)revents;
	chan_close(d);
}

static void dir_start(void *ctx)
{
	struct exlb_directory *d = ctx;
	json_t *hello;
	pid_t pid;

	pid = exlb_spawn(d->exe_fd, "--directory", "esp: directory process", &d->chan);
	if (pid < 0) {
		exlb_child_retry(&d->child);
		return;
	}
	d->pid = pid;
	exlb_child_started(&d->child, pid);
	exlb_log(LOG_NOTICE, "esp: directory process started (pid %d, user %s)",
		 (int)pid, d->user);
	ev_io_init(&d->chan_io, on_chan, d->chan, EV_READ);
	d->chan_io.data = d;
	ev_io_start(d->loop, &d->chan_io);
	hello = json_pack("{ss}", "user", d->user);
	dir_send(d, NULL, 0, hello);
	json_decref(hello);
	send_sso(d);
	if (d->chan >= 0 && d->started)
		d->started(d->ctx);
}

static void dir_exited(void *ctx, const char *note)
{
	struct exlb_directory *d = ctx;
	int st = d->child.child.rstatus;

	chan_close(d);
	if (!note)
		return;
	d->exits++;
	d->sigsys += WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
	exlb_child_exit_text(st, d->last_exit, sizeof(d->last_exit));
	exlb_log(LOG_ERR, "esp: directory process (pid %d) %s; ESP logons are unavailable until its replacement",
		 (int)d->pid, d->last_exit);
}

static const struct exlb_child_ops dir_ops = {
	.prefix = "esp: ",
	.name = "directory process",
	.exit_hint = " (the line before says why)",
	.stop_wait_ms = DIR_STOP_MS,
	.start = dir_start,
	.exited = dir_exited,
};

struct exlb_directory *exlb_directory_new(struct ev_loop *loop, int exe_fd,
					  const char *user,
					  void (*started)(void *ctx), void *ctx,
					  struct exlb_err *err)
{
	struct exlb_directory *d = calloc(1, sizeof(*d));

	if (!d || !(d->user = strdup(user))) {
		free(d);
		exlb_err_set(err, "out of memory");
		return NULL;
	}
	d->loop = loop;
	d->exe_fd = exe_fd;
	d->started = started;
	d->ctx = ctx;
	d->chan = -1;
	exlb_child_init(&d->child, loop, &dir_ops, d);
	d->child.wanted = true;
	return d;
}

/* The store's document with only the SSO domains, secrets in. */
static json_t *sso_doc(const struct exlb_config *cfg)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < cfg->nr_sso; i++)
		json_array_append_new(list, exlb_sso_to_json(&cfg->sso[i], true));
	return json_pack("{sssiso}", "format", EXLB_CONFIG_FORMAT,
			 "version", EXLB_CONFIG_VERSION, "sso_domains", list);
}

void exlb_directory_apply(struct exlb_directory *d, const struct exlb_config *cfg)
{
	json_t *doc = sso_doc(cfg);

	if (!doc)
		return;
	/* every verdict change is an apply: send only what changed */
	if (d->sso && json_equal(doc, d->sso)) {
		json_decref(doc);
	} else {
		json_decref(d->sso);
		d->sso = doc;
		send_sso(d);
	}
	exlb_child_ensure(&d->child);	/* the first; or one waiting to restart */
}

int exlb_directory_pair(struct exlb_directory *d)
{
	struct exlb_handover_fd fd = { .tag = "worker" };
	json_t *msg;
	int sv[2];

	if (d->chan < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	fd.fd = sv[0];
	msg = json_pack("{sb}", "worker", 1);
	if (dir_send(d, &fd, 1, msg)) {
		close(sv[1]);
		sv[1] = -1;
	}
	json_decref(msg);
	close(sv[0]);	/* the directory process has its copy */
	return sv[1];
}

void exlb_directory_status(const struct exlb_directory *d,
			   struct exlb_proc_status *out)
{
	out->on = true;
	out->pid = d->child.pid;
	out->exits = d->exits;
	out->sigsys = d->sigsys;
	snprintf(out->user, sizeof(out->user), "%s", d->user);
	snprintf(out->last_exit, sizeof(out->last_exit), "%s", d->last_exit);
}

void exlb_directory_free(struct exlb_directory *d)
{
	if (!d)
		return;
	d->child.wanted = false;
	exlb_child_stop(&d->child);
	chan_close(d);
	json_decref(d->sso);
	free(d->user);
	free(d);
}
