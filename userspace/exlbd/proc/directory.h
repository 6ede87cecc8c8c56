/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The directory process of privilege separation (docs/privsep.md, stage
 * 3): ESP's directory logons (esp/sso.c's threads, esp/ldap.c, the
 * failed-logon limit) in a sandboxed process of their own, as the worker
 * user, holding the SSO domains with their service-account passwords.
 * Its two ends: the manager's (directory_manager.c: starts it, restarts
 * it, sends it the SSO domains, pairs it with the L7 worker) and its own,
 * exlb_directory_main() (directory.c: exlbd --directory, channel at fd 3).
 */
#ifndef EXLB_DIRECTORY_H
#define EXLB_DIRECTORY_H

#include <ev.h>

#include "config/config.h"

struct exlb_directory;

/*
 * The manager's end, on @loop: starts exlbd --directory from @exe_fd (an
 * O_PATH of exlbd's binary, the caller's) as @user at the first
 * exlb_directory_apply(). @started(@ctx) runs each time a directory
 * process was (re)started and has its domains: the caller then pairs its
 * worker with it (exlb_directory_pair()). NULL with @err set.
 */
struct exlb_directory *exlb_directory_new(struct ev_loop *loop, int exe_fd,
					  const char *user,
					  void (*started)(void *ctx), void *ctx,
					  struct exlb_err *err);
/* The SSO domains of @cfg (with their secrets, nothing else) go to it. */
void exlb_directory_apply(struct exlb_directory *d, const struct exlb_config *cfg);
/*
 * A new channel between the directory process and a worker: a socketpair,
 * one end sent to the directory process, the other returned (the caller
 * hands it to the worker and closes it). -1 when none is running.
 */
int exlb_directory_pair(struct exlb_directory *d);
/* Its pid, exits, last exit: for status. */
void exlb_directory_status(const struct exlb_directory *d,
			   struct exlb_proc_status *out);
/* Stops it (bounded), frees @d. */
void exlb_directory_free(struct exlb_directory *d);

/* exlbd --directory; never returns (_exit, as the worker). */
int exlb_directory_main(void);

#endif
