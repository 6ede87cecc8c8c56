// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * One way to start, feed and drop a sandboxed exlbd process (spawn.h).
 * Exec'd, not only forked: a fork alone would leave the manager's heap
 * (secrets, keys) and its address-space layout in the child
 * (docs/privsep.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "proc/handover.h"
#include "spawn.h"

/* The pid and the manager's end in *@chan (close-on-exec), or -1 after a log line. */
static pid_t spawn(int exe_fd, const char *mode, const char *what, int *chan)
{
	char *const argv[] = { "exlbd", (char *)mode, NULL };
	sigset_t none;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		exlb_log(LOG_ERR, "%s: socketpair: %s", what, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		exlb_log(LOG_ERR, "%s: fork: %s", what, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (!pid) {
		/* the channel at fd 3; nothing else of the manager's crosses */
		if (sv[1] == 3 ? fcntl(3, F_SETFD, 0) : dup2(sv[1], 3) < 0)
			_exit(127);
		close_range(4, ~0U, CLOSE_RANGE_CLOEXEC);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execveat(exe_fd, "", argv, environ, AT_EMPTY_PATH);
		_exit(127);
	}
	close(sv[1]);
	*chan = sv[0];
	return pid;
}

void exlb_sandboxed_init(struct exlb_sandboxed *s, struct ev_loop *loop,
			 const struct exlb_child_ops *ops, void *ctx,
			 const char *what)
{
	exlb_child_init(&s->child, loop, ops, ctx);
	s->what = what;
	s->pid = 0;
	s->chan = -1;
	s->exits = s->sigsys = 0;
	s->last_exit[0] = '\0';
}

pid_t exlb_sandboxed_start(struct exlb_sandboxed *s, int exe_fd,
			   const char *mode,
			   void (*on_chan)(struct ev_loop *loop, ev_io *io,
					   int revents))
{
	pid_t pid = spawn(exe_fd, mode, s->what, &s->chan);

	if (pid < 0) {
		exlb_child_retry(&s->child);
		return -1;
	}
	s->pid = pid;
	exlb_child_started(&s->child, pid);
	ev_io_init(&s->chan_io, on_chan, s->chan, EV_READ);
	s->chan_io.data = s->child.ctx;
	ev_io_start(s->child.loop, &s->chan_io);
	return pid;
}

void exlb_sandboxed_close(struct exlb_sandboxed *s)
{
	if (s->chan < 0)
		return;
	ev_io_stop(s->child.loop, &s->chan_io);
	close(s->chan);
	s->chan = -1;
}

void exlb_sandboxed_exited(struct exlb_sandboxed *s, const char *note)
{
	int st = s->child.child.rstatus;

	exlb_sandboxed_close(s);
	if (!note)
		return;
	s->exits++;
	s->sigsys += WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
	exlb_child_exit_text(st, s->last_exit, sizeof(s->last_exit));
}

void exlb_sandboxed_status(const struct exlb_sandboxed *s, const char *user,
			   struct exlb_proc_status *out)
{
	out->on = true;
	out->pid = s->child.pid;
	out->exits = s->exits;
	out->sigsys = s->sigsys;
	snprintf(out->user, sizeof(out->user), "%s", user);
	snprintf(out->last_exit, sizeof(out->last_exit), "%s", s->last_exit);
}

void exlb_sandboxed_kill(struct exlb_sandboxed *s, const char *why)
{
	exlb_log(LOG_ERR, "%s (pid %d): channel: %s: killed", s->what,
		 (int)s->pid, why);
	/* child.pid, not pid: 0 once reaped, never a recycled pid */
	if (s->child.pid)
		kill(s->child.pid, SIGKILL);
	exlb_sandboxed_close(s);
}

int exlb_sandboxed_send(struct exlb_sandboxed *s,
			const struct exlb_handover_fd *fds, size_t n,
			json_t *msg)
{
	struct exlb_err err;

	if (s->chan < 0)
		return -1;
	if (msg && !exlb_handover_send(s->chan, fds, n, msg,
				       EXLB_SANDBOXED_SEND_MS, &err))
		return 0;
	exlb_sandboxed_kill(s, msg ? err.msg : "out of memory");
	return -1;
}
