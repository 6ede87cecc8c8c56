/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * exlbd's sandboxed processes as their manager holds them (docs/privsep.md):
 * the L7 worker (`exlbd --worker`, manager.c) and the directory process
 * (`exlbd --directory`, directory_manager.c). Each is a fork + execveat()
 * of exlbd's own binary with its channel at fd 3, supervised by
 * ha/child.c; the manager keeps the channel's end on its loop, sends on it
 * (a child that does not take a message is killed), closes it when the
 * child goes and counts the child's deaths for status.
 */
#ifndef EXLB_PROC_SPAWN_H
#define EXLB_PROC_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include <ev.h>
#include <jansson.h>

#include "config/config.h"
#include "ha/child.h"

#define EXLB_SANDBOXED_SEND_MS	2000	/* a child that does not read this long is killed */

struct exlb_handover_fd;

struct exlb_sandboxed {
	struct exlb_child child;	/* start, restarts, stop; child.pid 0: none */
	const char *what;	/* "proxy: L7 worker": its log lines' start */
	pid_t pid;		/* the last one started, for log lines */
	int chan;		/* the manager's end; -1: none */
	ev_io chan_io;		/* on the child's loop, data: the ops' ctx */
	unsigned int exits, sigsys;	/* deaths; of those, by its filter */
	char last_exit[160];	/* how the last one ended */
};

/* Not wanted, no child, no channel; @ops and @ctx go to exlb_child_init(). */
void exlb_sandboxed_init(struct exlb_sandboxed *s, struct ev_loop *loop,
			 const struct exlb_child_ops *ops, void *ctx,
			 const char *what);

/*
 * For the start callback: runs "exlbd @mode" from @exe_fd (an O_PATH
 * descriptor of /proc/self/exe opened at start: a process restarted during
 * a seamless upgrade runs its manager's version even after the package
 * replaced the file) with the other end of a new unix stream channel at
 * fd 3, an empty signal mask and no other descriptor of the manager's.
 * The child is then watched (exlb_child_started) and @on_chan is called
 * when the channel is readable. Returns its pid, or -1 after a log line
 * and exlb_child_retry().
 */
pid_t exlb_sandboxed_start(struct exlb_sandboxed *s, int exe_fd,
			   const char *mode,
			   void (*on_chan)(struct ev_loop *loop, ev_io *io,
					   int revents));

/* Stops watching the channel and closes it (no-op without one). */
void exlb_sandboxed_close(struct exlb_sandboxed *s);

/*
 * For the exited callback: closes the channel and, for an exit (@note set,
 * not a stop), counts it and writes how it ended into last_exit.
 */
void exlb_sandboxed_exited(struct exlb_sandboxed *s, const char *note);

/* Its status for ctl.c's "status": on, pid, deaths, how the last ended, @user. */
void exlb_sandboxed_status(const struct exlb_sandboxed *s, const char *user,
			   struct exlb_proc_status *out);

/* The channel broke (@why): kills the child and closes the channel. */
void exlb_sandboxed_kill(struct exlb_sandboxed *s, const char *why);

/*
 * One message (@msg NULL: it could not be made) with @n descriptors. 0, or
 * -1: no channel, or the child was killed (it did not take it within
 * EXLB_SANDBOXED_SEND_MS; ha/child.c restarts it as after any crash).
 */
int exlb_sandboxed_send(struct exlb_sandboxed *s,
			const struct exlb_handover_fd *fds, size_t n,
			json_t *msg);

#endif
