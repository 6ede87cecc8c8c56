/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Starting exlbd's sandboxed processes (docs/privsep.md): the L7 worker
 * (`exlbd --worker`, manager.c) and the directory process (`exlbd
 * --directory`, directory_manager.c), each a fork + execveat() of exlbd's
 * own binary with its channel at fd 3.
 */
#ifndef EXLB_PROC_SPAWN_H
#define EXLB_PROC_SPAWN_H

#include <sys/types.h>

/*
 * Runs "exlbd @mode" from @exe_fd (an O_PATH descriptor of /proc/self/exe
 * opened at start: a process restarted during a seamless upgrade runs its
 * manager's version even after the package replaced the file) with the
 * other end of a new unix stream channel at fd 3, an empty signal mask and
 * no other descriptor of the manager's. Returns the pid and the manager's
 * end in *@chan (close-on-exec), or -1 after a log line that starts with
 * @what.
 */
pid_t exlb_spawn(int exe_fd, const char *mode, const char *what, int *chan);

#endif
