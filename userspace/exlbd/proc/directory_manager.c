// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The manager's end of the directory process (directory.h,
 * docs/privsep.md): started and fed as the L7 worker is (spawn.h: fork +
 * execveat of exlbd's own binary, here with --directory, the channel at
 * fd 3), restarted through ha/child.c's backoff, its deaths logged and
 * counted.
 * It gets the SSO domains with their service-account passwords and
 * nothing else of the configuration; the worker's channel to it is a
 * socketpair made here, one end to each.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ha/child.h"
#include "proc/directory.h"
#include "proc/handover.h"
#include "proc/spawn.h"

#define DIR_STOP_MS	2000

struct exlb_directory {
	int exe_fd;
	char *user;
	void (*started)(void *ctx);
	void *ctx;
	struct exlb_sandboxed proc;	/* spawn.h: the process, its channel */
	json_t *sso;		/* the last domains applied: a document for it */
};

static void send_sso(struct exlb_directory *d)
{
	json_t *msg;

	if (!d->sso)
		return;
	msg = json_pack("{sO}", "sso", d->sso);
	exlb_sandboxed_send(&d->proc, NULL, 0, msg);
	json_decref(msg);
}

/* It says nothing: readable means closed (its exit follows) or a rogue byte. */
static void on_chan(struct ev_loop *loop, ev_io *io, int revents)
{
	struct exlb_directory *d = io->data;

	(void)loop;
	(void)revents;
	exlb_sandboxed_close(&d->proc);
}

static void dir_start(void *ctx)
{
	struct exlb_directory *d = ctx;
	json_t *hello;
	pid_t pid;

	pid = exlb_sandboxed_start(&d->proc, d->exe_fd, "--directory", on_chan);
	if (pid < 0)
		return;
	exlb_log(LOG_NOTICE, "esp: directory process started (pid %d, user %s)",
		 (int)pid, d->user);
	hello = json_pack("{ss}", "user", d->user);
	exlb_sandboxed_send(&d->proc, NULL, 0, hello);
	json_decref(hello);
	send_sso(d);
	if (d->proc.chan >= 0 && d->started)
		d->started(d->ctx);
}

static void dir_exited(void *ctx, const char *note)
{
	struct exlb_directory *d = ctx;

	exlb_sandboxed_exited(&d->proc, note);
	if (!note)
		return;
	exlb_log(LOG_ERR, "esp: directory process (pid %d) %s; ESP logons are unavailable until its replacement",
		 (int)d->proc.pid, d->proc.last_exit);
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
	d->exe_fd = exe_fd;
	d->started = started;
	d->ctx = ctx;
	exlb_sandboxed_init(&d->proc, loop, &dir_ops, d, "esp: directory process");
	d->proc.child.wanted = true;
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
	exlb_child_ensure(&d->proc.child);	/* the first; or one waiting to restart */
}

int exlb_directory_pair(struct exlb_directory *d)
{
	struct exlb_handover_fd fd = { .tag = "worker" };
	json_t *msg;
	int sv[2];

	if (d->proc.chan < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	fd.fd = sv[0];
	msg = json_pack("{sb}", "worker", 1);
	if (exlb_sandboxed_send(&d->proc, &fd, 1, msg)) {
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
	exlb_sandboxed_status(&d->proc, d->user, out);
}

void exlb_directory_free(struct exlb_directory *d)
{
	if (!d)
		return;
	d->proc.child.wanted = false;
	exlb_child_stop(&d->proc.child);
	exlb_sandboxed_close(&d->proc);
	json_decref(d->sso);
	free(d->user);
	free(d);
}
