// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A supervised child process (child.h): its ev_child watcher, the exit
 * note, the restart timer with its backoff, the bounded stop. One
 * implementation for every child exlbd keeps running.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "ha/child.h"

#define CHILD_BACKOFF_MAX_S	30
#define CHILD_STABLE_S		60	/* ran this long: the next restart is quick again */

static void on_restart(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exlb_child *c = w->data;

	(void)loop;
	(void)revents;
	if (c->wanted && !c->pid)
		c->ops->start(c->ctx);
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct exlb_child *c = w->data;
	char note[160];
	int st = w->rstatus;

	(void)revents;
	ev_child_stop(loop, w);
	c->pid = 0;
	if (ev_now(loop) - c->started >= CHILD_STABLE_S)
		c->backoff = 1;
	if (WIFSIGNALED(st))
		snprintf(note, sizeof(note), "%s killed by signal %d", c->ops->name,
			 WTERMSIG(st));
	else
		snprintf(note, sizeof(note), "%s exited with status %d%s",
			 c->ops->name, WEXITSTATUS(st),
			 c->ops->exit_hint ? c->ops->exit_hint : "");
	if (!c->wanted) {
		c->ops->exited(c->ctx, NULL);
		return;
	}
	exlb_log(LOG_WARNING, "%s%s; restarting it in %u s", c->ops->prefix, note,
		 c->backoff);
	c->ops->exited(c->ctx, note);
	exlb_child_retry(c);
}

static const char *signal_why(int sig)
{
	switch (sig) {
	case SIGSYS:
		return "SIGSYS: a system call outside its filter";
	case SIGSEGV:
		return "SIGSEGV";
	case SIGABRT:
		return "SIGABRT";
	case SIGKILL:
		return "SIGKILL";
	default:
		return sigabbrev_np(sig) ? sigabbrev_np(sig) : "?";
	}
}

void exlb_child_exit_text(int status, char *buf, size_t n)
{
	if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status),
			 signal_why(WTERMSIG(status)));
	else
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
}

void exlb_child_init(struct exlb_child *c, struct ev_loop *loop,
		     const struct exlb_child_ops *ops, void *ctx)
{
	c->ops = ops;
	c->ctx = ctx;
	c->loop = loop;
	c->wanted = false;
	c->pid = 0;
	c->backoff = 1;
	ev_timer_init(&c->restart, on_restart, 1, 0);
	c->restart.data = c;
}

void exlb_child_started(struct exlb_child *c, pid_t pid)
{
	c->pid = pid;
	c->started = ev_now(c->loop);
	ev_child_init(&c->child, on_child, pid, 0);
	c->child.data = c;
	ev_child_start(c->loop, &c->child);
}

void exlb_child_retry(struct exlb_child *c)
{
	ev_timer_set(&c->restart, c->backoff, 0);
	ev_timer_start(c->loop, &c->restart);
	c->backoff = c->backoff * 2 > CHILD_BACKOFF_MAX_S ? CHILD_BACKOFF_MAX_S :
							   c->backoff * 2;
}

void exlb_child_ensure(struct exlb_child *c)
{
	if (!c->pid && !ev_is_active(&c->restart))
		c->ops->start(c->ctx);
}

/* SIGTERM, up to stop_wait_ms for it to exit, then SIGKILL; reaps it. */
static void term_and_reap(struct exlb_child *c)
{
	int st;

	kill(c->pid, SIGTERM);
	for (int ms = 0; ms < c->ops->stop_wait_ms; ms += 20) {
		if (waitpid(c->pid, &st, WNOHANG) == c->pid)
			return;
		usleep(20000);
	}
	exlb_log(LOG_WARNING, "%s%s did not stop in %d ms: killed", c->ops->prefix,
		 c->ops->name, c->ops->stop_wait_ms);
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &st, 0);
}

void exlb_child_stop(struct exlb_child *c)
{
	ev_timer_stop(c->loop, &c->restart);
	if (!c->pid)
		return;
	ev_child_stop(c->loop, &c->child);
	term_and_reap(c);
	exlb_log(LOG_NOTICE, "%s%s stopped (pid %d)", c->ops->prefix,
		 c->ops->name, c->pid);
	c->pid = 0;
}
