// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * One way to start a sandboxed exlbd process (spawn.h). Exec'd, not only
 * forked: a fork alone would leave the manager's heap (secrets, keys) and
 * its address-space layout in the child (docs/privsep.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "spawn.h"

pid_t exlb_spawn(int exe_fd, const char *mode, const char *what, int *chan)
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
