// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * exlbd: the daemon that owns exlb's configuration. This file is its
 * skeleton: arguments, the state directory and its lock, loading the saved
 * configuration, the one libev loop, signals, sd_notify, and the hook that
 * runs after every applied change (where the kernel data plane and the
 * health checks are brought in line with the configuration).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "ctl.h"

#define EXLB_DEFAULT_STATE_DIR	"/var/lib/exlb"

struct exlbd {
	struct ev_loop *loop;
	struct exlb_store store;
	struct exlb_runtime runtime;
	struct exlb_ctl *ctl;
	ev_signal sigterm, sigint;
	int lock_fd;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: exlbd [OPTIONS]\n"
		"The exlb daemon: owns the load balancer configuration and serves exlbctl.\n"
		"\n"
		"  --state-dir DIR   configuration state directory (default %s)\n"
		"  --socket PATH     control socket (default %s)\n"
		"  --no-kernel       do not program exlb.ko (status: kernel data plane unavailable)\n"
		"  -h, --help        this text\n",
		EXLB_DEFAULT_STATE_DIR, EXLB_CTL_DEFAULT_SOCKET);
}

/*
 * After every applied change. Seams for the lead: kernel.c reconciles the
 * kernel-served VSs (exlb_config_kernel_services()) with exlb.ko here, and
 * the health engine adds/updates/deletes one target per RS (target id =
 * RS id; on_change feeds exlb_runtime_set_health()).
 */
static void on_config_changed(void *ctx, const struct exlb_config *old_cfg,
			      const struct exlb_config *new_cfg)
{
	struct exlbd *d = ctx;

	(void)old_cfg;
	exlb_runtime_prune(&d->runtime, new_cfg);
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	exlb_log("signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

/* One daemon per state directory: a second one would overwrite the first. */
static int lock_state_dir(struct exlbd *d, const char *dir)
{
	char path[4096];

	if (mkdir(dir, 0700) && errno != EEXIST) {
		exlb_log("cannot create state directory %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/lock", dir);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		exlb_log("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB)) {
		exlb_log("state directory %s is in use by another exlbd", dir);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "no-kernel", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *state_dir = EXLB_DEFAULT_STATE_DIR;
	const char *socket_path = EXLB_CTL_DEFAULT_SOCKET;
	bool no_kernel = false;
	struct exlbd d = { .lock_fd = -1 };
	struct exlb_err err;
	int opt, ret = 1;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			state_dir = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'K':
			no_kernel = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	/* one line per event even when stderr is a pipe to the journal */
	setvbuf(stderr, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	if (lock_state_dir(&d, state_dir))
		goto out;
	if (exlb_store_open(&d.store, state_dir, &err)) {
		exlb_log("cannot load the configuration: %s", err.msg);
		goto out;
	}
	d.store.changed = on_config_changed;
	d.store.changed_ctx = &d;

	/* kernel.c (to come) sets kernel_available once exlb.ko answers */
	d.runtime.kernel_available = false;
	snprintf(d.runtime.kernel_note, sizeof(d.runtime.kernel_note), "%s",
		 no_kernel ? "kernel data plane unavailable (--no-kernel)" :
			     "kernel data plane unavailable (not built in yet)");

	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop) {
		exlb_log("cannot start the event loop");
		goto out;
	}
	d.ctl = exlb_ctl_new(d.loop, socket_path, &d.store, &d.runtime, &err);
	if (!d.ctl) {
		exlb_log("control socket: %s", err.msg);
		goto out;
	}
	ev_signal_init(&d.sigterm, on_stop_signal, SIGTERM);
	ev_signal_init(&d.sigint, on_stop_signal, SIGINT);
	ev_signal_start(d.loop, &d.sigterm);
	ev_signal_start(d.loop, &d.sigint);

	exlb_log("started: %zu services, %zu real servers from %s; control socket %s; %s",
		 d.store.config->nr_services, d.store.config->nr_reals,
		 d.store.state_path, socket_path, d.runtime.kernel_note);
	sd_notifyf(0, "READY=1\nSTATUS=%zu services", d.store.config->nr_services);

	ev_run(d.loop, 0);

	sd_notify(0, "STOPPING=1");
	ret = 0;
out:
	exlb_ctl_free(d.ctl);
	exlb_store_close(&d.store);
	exlb_runtime_free(&d.runtime);
	if (d.lock_fd >= 0)
		close(d.lock_fd);
	if (d.loop)
		ev_loop_destroy(d.loop);
	return ret;
}
