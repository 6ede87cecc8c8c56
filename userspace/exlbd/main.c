// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * exlbd: the daemon that owns exlb's configuration. This file is its
 * skeleton: arguments, the state directory and its lock, loading the saved
 * configuration, the main libev loop, signals, sd_notify, and the hook that
 * runs after every applied change (where the kernel data plane, the L7
 * proxy and the health checks are brought in line with the configuration).
 * The proxy's workers run their own loops in their own threads (proxy.h).
 * Both ends of the seamless upgrade (docs/upgrade.md) are in upgrade.c;
 * this file calls them where the daemon starts and stops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <systemd/sd-daemon.h>

#include "admin/admin.h"
#include "config/config.h"
#include "ctl/ctl.h"
#include "health/health.h"
#include "health/targets.h"
#include "kernel/kernel.h"
#include "l7/proxy.h"
#include "config/template.h"
#include "proc/handover.h"
#include "proc/directory.h"
#include "proc/worker.h"
#include "exlbd.h"
#include "ha/ha.h"
#include "ha/sync.h"
#include "ha/persist_sync.h"

#define EXLB_DEFAULT_STATE_DIR	"/var/lib/exlb"
/* kernel: counters refresh, failed-reconcile retry, module open retry */
#define EXLB_KERNEL_TICK_S	2.0

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: exlbd [OPTIONS]\n"
		"The exlb daemon: owns the load balancer configuration and serves exlbctl.\n"
		"\n"
		"  --state-dir DIR   configuration state directory (default %s)\n"
		"  --socket PATH     control socket (default %s)\n"
		"  --no-kernel       do not program exlb.ko (status: kernel data plane unavailable)\n"
		"  --no-health-checks  run no health checks (every checked RS stays unchecked);\n"
		"                    also EXLBD_NO_HEALTH_CHECKS=1, for tests that must send nothing\n"
		"  --workers N       L7 proxy worker threads (default: one per CPU)\n"
		"  --worker-user USER  run the L7 proxy, and ESP's directory logons, in\n"
		"                    sandboxed processes as USER (no capabilities, seccomp;\n"
		"                    docs/privsep.md); the packaged unit passes exlb\n"
		"  --tls-relay MODE  auto (kTLS where the kernel has it), ktls, userspace;\n"
		"                    also EXLBD_TLS_RELAY\n"
		"  --access-log FILE one line per proxied request (default: standard output);\n"
		"                    SIGHUP and SIGUSR1 reopen it (logrotate), 0640, group exlb\n"
		"  --template-dir DIR built-in templates (default %s);\n"
		"                    imported ones are in STATE_DIR/templates\n"
		"  --takeover        replace the exlbd running on --socket without\n"
		"                    dropping a connection (systemctl reload): take its\n"
		"                    listening sockets, let it drain; returns once this\n"
		"                    one serves (docs/upgrade.md)\n"
		"  --hard-stop-after SECONDS  when replaced, connections still open this\n"
		"                    long after the new exlbd serves are closed (default %u)\n"
		"  --check FILE      check a saved configuration (exlbctl save) as\n"
		"                    exlbctl restore would, apply nothing: prints OK\n"
		"                    or the error, exits 0 or 1\n"
		"  --version         print \"exlbd VERSION\" and exit\n"
		"  -h, --help        this text\n",
		EXLB_DEFAULT_STATE_DIR, EXLB_CTL_DEFAULT_SOCKET, EXLB_TEMPLATE_DIR,
		EXLB_HARD_STOP_S);
}

static void on_health_change(void *ctx, uint64_t target_id, bool up,
			     const char *reason)
{
	struct exlbd *d = ctx;
	const struct exlb_config *cfg = d->store.config;
	uint32_t rs_id = (uint32_t)target_id;
	const struct exlb_rs *rs = exlb_rs_by_id(cfg, rs_id);
	struct exlb_rs_runtime *r = exlb_runtime_rs(&d->runtime, rs_id);
	enum exlb_health_state was, now = up ? EXLB_HEALTH_UP : EXLB_HEALTH_DOWN;
	char who[256];

	if (!rs || !r)
		return;
	was = r->health;
	/*
	 * exlb_runtime_set_health() records the verdict and reason; the one log
	 * line is ours, so it sees no change to log.
	 */
	r->health = now;
	exlb_runtime_set_health(&d->runtime, cfg, rs_id, up, reason);
	if (was == now)
		return;
	/* journalctl -p warning shows an RS going down */
	exlb_log(up ? LOG_NOTICE : LOG_WARNING, "%s %s: %s",
		 exlb_rs_describe(cfg, rs, who, sizeof(who)), up ? "up" : "down",
		 reason ? reason : "");
	exlb_kernel_update_rs(d->kernel, cfg, &d->runtime, rs_id);
	/* the proxy's plan carries health: a new one takes the RS in or out */
	if (d->proxy)
		exlb_proxy_apply(d->proxy, cfg, &d->runtime);
}

/* Passive health: health/targets.c decides which RSs go down. */
static bool on_rs_failed(void *ctx, uint32_t rs_id, unsigned int fails,
			 const char *why)
{
	struct exlbd *d = ctx;

	if (!d->health)
		return false;
	return exlb_health_targets_fail(d->health, d->store.config,
					&d->runtime, rs_id, fails, why);
}

/*
 * exlbd --worker-user: the worker process's figures came (every second):
 * into the runtime now, so status is no staler than with in-process
 * threads (read at each kernel tick).
 */
static void on_proxy_figures(void *ctx)
{
	struct exlbd *d = ctx;

	if (d->proxy)
		exlb_proxy_counters(d->proxy, d->store.config, &d->runtime);
}

/* status, stats, /metrics: the worker process's figures as of now */
static void on_status_refresh(void *ctx)
{
	struct exlbd *d = ctx;

	if (d->proxy)
		exlb_proxy_refresh(d->proxy);
}

/*
 * Descriptors the proxy leaves to this thread (docs/proxy.md "Descriptor
 * limit"): one per health target (a check holds one socket at a time; a
 * target is one RS id), the control socket with all its clients, and slack
 * for the state file, certificates, templates and netlink.
 */
#define EXLB_FD_SLACK	32

static unsigned int fd_reserve(const struct exlb_config *cfg)
{
	return cfg->nr_reals + EXLB_CTL_MAX_CLIENTS + 1 +
	       EXLB_ADMIN_MAX_CONNS + 1 + EXLB_FD_SLACK;
}

/*
 * After every applied change: the kernel-served VSs are reconciled with
 * exlb.ko (kernel.c) and the health targets follow the configuration.
 */
static void on_config_changed(void *ctx, const struct exlb_config *old_cfg,
			      const struct exlb_config *new_cfg)
{
	struct exlbd *d = ctx;

	exlb_runtime_prune(&d->runtime, new_cfg);
	if (d->health)
		exlb_health_targets_sync(d->health, &d->runtime, old_cfg,
					 new_cfg);
	exlb_kernel_reconcile(d->kernel, new_cfg, &d->runtime);
	if (d->proxy) {
		exlb_proxy_set_fd_reserve(d->proxy, fd_reserve(new_cfg));
		exlb_proxy_apply(d->proxy, new_cfg, &d->runtime);
	}
	exlb_admin_apply(d->admin);
	exlb_ha_apply(d->ha, new_cfg);
	exlb_ha_sync_changed(d->sync);
}

/*
 * The HA pair (ha/): keepalived's files go into exlbd's runtime directory,
 * the control socket's (/run/exlb under systemd).
 */
static int ha_setup(struct exlbd *d, const char *socket_path)
{
	char dir[256], *slash;

	if (snprintf(dir, sizeof(dir), "%s", socket_path) >= (int)sizeof(dir)) {
		exlb_log(LOG_ERR, "HA: control socket path too long");
		return -1;
	}
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = '\0';	/* "/x.sock": the directory is "/" */
	d->ha = exlb_ha_new(d->loop, dir, &d->runtime);
	if (!d->ha)
		return -1;
	exlb_ha_apply(d->ha, d->store.config);
	/* configuration sync follows keepalived's roles (docs/ha.md) */
	d->sync = exlb_ha_sync_new(d->loop, &d->store, &d->runtime);
	if (!d->sync)
		return -1;
	d->ha->on_role = exlb_ha_sync_role;
	d->ha->on_role_ctx = d->sync;
	/* persistence records over the same channel (ha/persist_sync.c) */
	d->persist_sync = exlb_ha_persist_new(d->loop, &d->store, &d->runtime,
					      d->proxy, d->kernel, d->sync);
	return d->persist_sync ? 0 : -1;
}

/* Each RS's last check, its time and reason class, for status and /metrics. */
static void health_last_checks(struct exlbd *d)
{
	for (size_t i = 0; d->health && i < d->runtime.nr_rs; i++) {
		struct exlb_rs_runtime *r = &d->runtime.rs[i];
		const char *cls;
		double s;

		if (exlb_health_last_check(d->health, r->rs_id, &s, &cls))
			continue;
		r->check_s = s;
		snprintf(r->reason_class, sizeof(r->reason_class), "%s", cls);
	}
}

static void on_kernel_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exlbd *d = w->data;

	(void)loop;
	(void)revents;
	exlb_kernel_tick(d->kernel, d->store.config, &d->runtime);
	if (d->proxy)
		exlb_proxy_counters(d->proxy, d->store.config, &d->runtime);
	health_last_checks(d);
	/*
	 * A burst of TLS handshakes leaves the workers' malloc arenas full of
	 * freed handshake buffers; give those pages back so idle connections
	 * cost what they hold, not what the burst needed. Every 10 s: it
	 * takes each arena's lock for a moment.
	 */
	if (++d->ticks % 5 == 0)
		malloc_trim(0);
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	exlb_log(LOG_NOTICE, "signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

/*
 * SIGHUP and SIGUSR1: logrotate moved the access log
 * away. Never a reason to stop: SIGHUP's default action would end exlbd
 * with a status systemd takes for a clean stop.
 */
static void on_reopen_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct exlbd *d = w->data;
	struct exlb_err err;

	(void)loop;
	(void)revents;
	if (!d->proxy)
		return;
	if (exlb_proxy_reopen_log(d->proxy, &err))
		exlb_log(LOG_ERR, "signal %d: %s; still logging to the old file", w->signum,
			 err.msg);
	else
		exlb_log(LOG_INFO, "signal %d: access log reopened", w->signum);
}

/*
 * exlbd --check FILE (like haproxy -c): the path of exlbctl restore, i.e.
 * exlb_config_from_json() and the exlb_config_check() every commit runs;
 * touches no state directory, socket or kernel.
 */
static int check_file(const char *path)
{
	struct exlb_config *cfg;
	struct exlb_err err;
	json_error_t jerr;
	json_t *doc;

	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		fprintf(stderr, "exlbd: %s:%d: %s\n", path, jerr.line, jerr.text);
		return 1;
	}
	cfg = exlb_config_from_json(doc, &err);
	json_decref(doc);
	if (!cfg) {
		fprintf(stderr, "exlbd: %s: %s\n", path, err.msg);
		return 1;
	}
	printf("%s: OK: %zu services, %zu real servers, %zu rules\n", path,
	       cfg->nr_services, cfg->nr_reals, cfg->nr_rules);
	exlb_config_free(cfg);
	return 0;
}

/*
 * One daemon per state directory: a second one would overwrite the first.
 * The lock passes from one daemon to the next at a takeover (upgrade.c).
 */
int exlbd_state_lock(struct exlbd *d)
{
	char path[4096];

	if (d->lock_fd < 0) {
		snprintf(path, sizeof(path), "%s/lock", d->state_dir);
		d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (d->lock_fd < 0)
			return -1;
	}
	return flock(d->lock_fd, LOCK_EX | LOCK_NB);
}

static int lock_state_dir(struct exlbd *d)
{
	if (mkdir(d->state_dir, 0700) && errno != EEXIST) {
		exlb_log(LOG_ERR, "cannot create state directory %s: %s",
			 d->state_dir, strerror(errno));
		return -1;
	}
	if (!exlbd_state_lock(d))
		return 0;
	if (errno == EWOULDBLOCK)
		exlb_log(LOG_ERR, "state directory %s is in use by another exlbd",
			 d->state_dir);
	else
		exlb_log(LOG_ERR, "cannot lock %s/lock: %s", d->state_dir,
			 strerror(errno));
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	d->lock_fd = -1;
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "no-kernel", no_argument, NULL, 'K' },
		{ "no-health-checks", no_argument, NULL, 'H' },
		{ "workers", required_argument, NULL, 'w' },
		{ "worker-user", required_argument, NULL, 'u' },
		{ "tls-relay", required_argument, NULL, 'T' },
		{ "access-log", required_argument, NULL, 'a' },
		{ "template-dir", required_argument, NULL, 't' },
		{ "takeover", no_argument, NULL, 'X' },
		{ "hard-stop-after", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "check", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	const char *state_dir = EXLB_DEFAULT_STATE_DIR;
	const char *socket_path = EXLB_CTL_DEFAULT_SOCKET;
	bool no_kernel = false;
	const char *env_nohc = getenv("EXLBD_NO_HEALTH_CHECKS");
	bool no_health = env_nohc && *env_nohc && strcmp(env_nohc, "0");
	struct exlbd d = { .lock_fd = -1, .chan = -1,
			   .hard_stop_s = EXLB_HARD_STOP_S };
	bool takeover = false;
	struct exlb_handover h = { 0 };
	int chan = -1, report = -1;
	struct exlb_proxy_opts popts = { .tls_relay = EXLB_TLS_RELAY_AUTO };
	const char *relay = getenv("EXLBD_TLS_RELAY");
	struct exlb_err err;
	int opt, ret = 1;

	/* the L7 worker process (docs/privsep.md): started by a manager only */
	if (argc == 2 && !strcmp(argv[1], "--worker")) {
		setvbuf(stderr, NULL, _IOLBF, 0);
		signal(SIGPIPE, SIG_IGN);
		return exlb_worker_main();
	}
	/* the directory process (ESP logons, privsep stage 3): likewise */
	if (argc == 2 && !strcmp(argv[1], "--directory")) {
		setvbuf(stderr, NULL, _IOLBF, 0);
		signal(SIGPIPE, SIG_IGN);
		return exlb_directory_main();
	}
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
		case 'H':
			no_health = true;
			break;
		case 'w': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);

			if (*end || !n || n > 256) {
				fprintf(stderr, "exlbd: --workers: 1..256 (got '%s')\n", optarg);
				return 2;
			}
			popts.workers = (unsigned int)n;
			break;
		}
		case 'T':
			relay = optarg;
			break;
		case 'u':
			if (!*optarg) {
				fprintf(stderr, "exlbd: --worker-user: a user name\n");
				return 2;
			}
			popts.worker_user = optarg;
			popts.remote = &exlb_worker_remote;
			break;
		case 'a':
			popts.access_log = optarg;
			break;
		case 't':
			exlb_template_set_dir(optarg);
			break;
		case 'X':
			takeover = true;
			break;
		case 'S': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);

			if (*end || !*optarg || n > 7 * 86400) {
				fprintf(stderr, "exlbd: --hard-stop-after: 0..604800 seconds (got '%s')\n",
					optarg);
				return 2;
			}
			d.hard_stop_s = (unsigned int)n;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("exlbd %s\n", EXLB_VERSION);
			return 0;
		case 'c':
			return check_file(optarg);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (relay && *relay) {
		if (!strcmp(relay, "auto"))
			popts.tls_relay = EXLB_TLS_RELAY_AUTO;
		else if (!strcmp(relay, "ktls"))
			popts.tls_relay = EXLB_TLS_RELAY_KTLS;
		else if (!strcmp(relay, "userspace"))
			popts.tls_relay = EXLB_TLS_RELAY_USERSPACE;
		else {
			fprintf(stderr, "exlbd: --tls-relay: auto, ktls or userspace (got '%s')\n",
				relay);
			return 2;
		}
	}
	/* one line per event even when stderr is a pipe to the journal */
	setvbuf(stderr, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	d.state_dir = state_dir;
	if (takeover) {
		ret = exlbd_takeover_fork(&report);
		if (ret >= 0)
			return ret;
		ret = 1;
		chan = exlbd_takeover_ask(socket_path, &h);
		if (chan < 0 || exlbd_takeover_lock(&d))
			goto out;
	} else if (lock_state_dir(&d)) {
		goto out;
	}
	if (exlb_store_open(&d.store, state_dir, &err)) {
		exlb_log(LOG_ERR, "cannot load the configuration: %s", err.msg);
		goto out;
	}
	d.store.changed = on_config_changed;
	d.store.changed_ctx = &d;
	/* the old daemon's verdicts, before exlb.ko and the proxy see them */
	if (h.state)
		exlb_runtime_seed(&d.runtime, d.store.config,
				  json_object_get(h.state, "health"));

	d.kernel = exlb_kernel_new(no_kernel);
	if (!d.kernel) {
		exlb_log(LOG_ERR, "out of memory");
		goto out;
	}
	/* reads the kernel's tables, applies only the difference: no flush */
	if (!exlb_kernel_open(d.kernel, &d.runtime))
		exlb_kernel_reconcile(d.kernel, d.store.config, &d.runtime);

	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop) {
		exlb_log(LOG_ERR, "cannot start the event loop");
		goto out;
	}
	if (takeover) {
		int fd = exlb_handover_take(&h, "ctl");

		if (fd < 0)
			exlb_err_set(&err, "the old exlbd sent no control socket");
		else
			d.ctl = exlb_ctl_adopt(d.loop, socket_path, fd, &d.store,
					       &d.runtime, &err);
	} else {
		d.ctl = exlb_ctl_new(d.loop, socket_path, &d.store, &d.runtime,
				     &err);
	}
	if (!d.ctl) {
		exlb_log(LOG_ERR, "control socket: %s", err.msg);
		goto out;
	}
	popts.state_dir = state_dir;
	popts.rs_failed = on_rs_failed;
	popts.rs_failed_ctx = &d;
	popts.figures = on_proxy_figures;
	d.proxy = exlb_proxy_new(d.loop, &popts, &err);
	if (!d.proxy) {
		exlb_log(LOG_ERR, "L7 proxy: %s", err.msg);
		goto out;
	}
	exlb_proxy_set_fd_reserve(d.proxy, fd_reserve(d.store.config));
	if (popts.worker_user) {
		d.runtime.refresh = on_status_refresh;
		d.runtime.refresh_ctx = &d;
	}
	for (int fd; (fd = exlb_handover_take(&h, "l7")) >= 0;)
		if (exlb_proxy_adopt_listener(d.proxy, fd))
			exlb_log(LOG_WARNING, "takeover: a socket received is not a listening TCP socket: closed");
	exlb_proxy_apply(d.proxy, d.store.config, &d.runtime);
	if (no_health) {
		exlb_log(LOG_NOTICE, "health checks off (--no-health-checks)");
	} else {
		d.health = exlb_health_new(d.loop, on_health_change, &d);
		if (!d.health) {
			exlb_log(LOG_ERR, "cannot start the health checks");
			goto out;
		}
		exlb_health_targets_sync(d.health, &d.runtime, NULL,
					 d.store.config);
		if (h.state)
			exlb_health_targets_seed(d.health, &d.runtime,
						 json_object_get(h.state, "health"));
	}
	exlbd_upgrade_init(&d);
	d.admin = exlb_admin_new(d.loop, &d.store, &d.runtime, state_dir,
				 takeover ? exlb_handover_take(&h, "admin") : -1);
	if (!d.admin) {
		exlb_log(LOG_ERR, "admin listener: out of memory");
		goto out;
	}
	/* after the listeners (IP_FREEBIND): the standby listens before it owns the VIPs */
	if (ha_setup(&d, socket_path))
		goto out;
	ev_timer_init(&d.kernel_tick, on_kernel_tick, EXLB_KERNEL_TICK_S,
		      EXLB_KERNEL_TICK_S);
	d.kernel_tick.data = &d;
	ev_timer_start(d.loop, &d.kernel_tick);
	ev_signal_init(&d.sigterm, on_stop_signal, SIGTERM);
	ev_signal_init(&d.sigint, on_stop_signal, SIGINT);
	ev_signal_start(d.loop, &d.sigterm);
	ev_signal_start(d.loop, &d.sigint);
	ev_signal_init(&d.sighup, on_reopen_signal, SIGHUP);
	ev_signal_init(&d.sigusr1, on_reopen_signal, SIGUSR1);
	d.sighup.data = d.sigusr1.data = &d;
	ev_signal_start(d.loop, &d.sighup);
	ev_signal_start(d.loop, &d.sigusr1);

	exlb_log(LOG_NOTICE, "started: %zu services, %zu real servers from %s; control socket %s; %s",
		 d.store.config->nr_services, d.store.config->nr_reals,
		 d.store.state_path, socket_path, d.runtime.kernel_note);
	if (takeover) {
		if (exlbd_takeover_serve(&d, chan, &h, report))
			goto out;
		close(chan);
		close(report);
		chan = report = -1;
		exlb_handover_done(&h);
	}
	sd_notifyf(0, "READY=1\nSTATUS=%zu services", d.store.config->nr_services);

	ev_run(d.loop, 0);

	/* drained after an upgrade: the service goes on, in the new daemon */
	if (!d.draining)
		sd_notify(0, "STOPPING=1");
	ret = 0;
out:
	if (chan >= 0)
		close(chan);	/* before "serving": the old daemon carries on */
	if (report >= 0)
		close(report);
	exlb_handover_done(&h);
	if (d.loop)
		exlbd_upgrade_stop(&d);
	exlb_ha_persist_free(d.persist_sync);
	exlb_ha_sync_free(d.sync);
	if (d.ha)
		d.ha->on_role = NULL;
	/* keepalived first: it releases the VIPs while exlbd still serves */
	exlb_ha_free(d.ha);
	exlb_admin_free(d.admin);
	exlb_ctl_free(d.ctl);
	/* proxied connections end with exlbd; the kernel's flows do not */
	exlb_proxy_free(d.proxy);
	/* the kernel keeps its tables and flows: a restart reconciles them */
	exlb_health_free(d.health);
	exlb_kernel_free(d.kernel);
	exlb_store_close(&d.store);
	exlb_runtime_free(&d.runtime);
	if (d.lock_fd >= 0)
		close(d.lock_fd);
	if (d.loop)
		ev_loop_destroy(d.loop);
	return ret;
}
