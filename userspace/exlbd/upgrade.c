// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * exlbd's seamless upgrade, both sides (docs/upgrade.md). The old daemon:
 * a takeover asked on the control socket hands its listening sockets, the
 * control socket and the health verdicts over (proc/handover.h), refuses
 * changes until the new daemon serves, then drains its connections, bounded
 * by --hard-stop-after; if the new one fails first, it carries on. The new
 * daemon (--takeover): forks away from its caller, asks for the sockets,
 * takes the state lock, and tells systemd, the old daemon and its caller
 * that it serves. main.c calls these at its start and stop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>
#include <systemd/sd-daemon.h>

#include "exlbd.h"
#include "admin/admin.h"
#include "ctl/ctl.h"
#include "health/health.h"
#include "health/targets.h"
#include "l7/proxy.h"
#include "proc/handover.h"

/*
 * How long the hand-over itself and the new daemon's start may take; how
 * often a draining daemon looks whether its last connection ended.
 */
#define EXLB_HANDOVER_IO_MS	10000
#define EXLB_TAKEOVER_START_S	120.0
#define EXLB_DRAIN_TICK_S	0.2
#define EXLB_UPGRADE_BUSY	"upgrade in progress: a new exlbd is taking over; try again when it serves"

/* ---- the old daemon ---- */

static void takeover_end(struct exlbd *d)
{
	ev_io_stop(d->loop, &d->chan_io);
	ev_timer_stop(d->loop, &d->chan_timer);
	if (d->chan >= 0)
		close(d->chan);
	d->chan = -1;
}

/* Until the lock is ours again, changes stay refused. */
static void on_relock(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exlbd *d = w->data;

	(void)revents;
	if (exlbd_state_lock(d))
		return;		/* the new daemon still holds it: again soon */
	ev_timer_stop(loop, w);
	exlb_ctl_freeze(d->ctl, NULL);
	exlb_admin_freeze(d->admin, NULL);
	exlb_log(LOG_NOTICE, "upgrade: state directory locked again; configuration changes accepted");
}

/* The new daemon failed before it served: as if nothing had happened. */
static void takeover_failed(struct exlbd *d, const char *why)
{
	exlb_log(LOG_ERR, "upgrade: pid %d failed before it served (%s): this exlbd carries on",
		 (int)d->new_pid, why);
	takeover_end(d);
	ev_timer_set(&d->relock, 0, 0.2);
	ev_timer_again(d->loop, &d->relock);
	on_relock(d->loop, &d->relock, 0);
}

static void on_drain_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exlbd *d = w->data;
	unsigned long open = exlb_proxy_open_conns(d->proxy);

	(void)revents;
	if (!open) {
		exlb_log(LOG_NOTICE, "upgrade: the last connection ended: exiting");
		ev_break(loop, EVBREAK_ALL);
	} else if (ev_now(loop) >= d->drain_end) {
		exlb_log(LOG_WARNING, "upgrade: hard stop after %u s: closing %lu connection(s)",
			 d->hard_stop_s, open);
		ev_break(loop, EVBREAK_ALL);
	}
}

/*
 * The new daemon serves: this one stops accepting (its copies of the
 * listening sockets close; the sockets live on in the new one), leaves
 * the control socket, health checks and exlb.ko to it, and drains.
 */
static void drain_start(struct exlbd *d)
{
	exlb_log(LOG_NOTICE, "upgrade: pid %d serves: draining %lu connection(s), hard stop in %u s",
		 (int)d->new_pid, exlb_proxy_open_conns(d->proxy), d->hard_stop_s);
	takeover_end(d);
	d->draining = true;
	exlb_ctl_stop(d->ctl);
	exlb_admin_free(d->admin);	/* its listener is the new one's */
	d->admin = NULL;
	exlb_health_free(d->health);	/* health verdicts are the new one's */
	d->health = NULL;
	ev_timer_stop(d->loop, &d->kernel_tick);	/* so is exlb.ko */
	exlb_proxy_drain(d->proxy);
	d->drain_end = ev_now(d->loop) + d->hard_stop_s;
	ev_timer_init(&d->drain_tick, on_drain_tick, EXLB_DRAIN_TICK_S,
		      EXLB_DRAIN_TICK_S);
	d->drain_tick.data = d;
	ev_timer_start(d->loop, &d->drain_tick);
}

static void on_chan(struct ev_loop *loop, ev_io *w, int revents)
{
	struct exlbd *d = w->data;
	struct exlb_err err;
	json_t *msg;
	const char *say;

	(void)loop;
	(void)revents;
	msg = exlb_handover_hear(d->chan, EXLB_HANDOVER_IO_MS, &err);
	say = json_string_value(json_object_get(msg, "say"));
	if (say && !strcmp(say, "serving"))
		drain_start(d);
	else
		takeover_failed(d, msg ? "unexpected message" : err.msg);
	json_decref(msg);
}

static void on_chan_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	takeover_failed(w->data, "not serving in time");
}

/*
 * ctl.c: a peer allowed to (root or our own user) asked for a takeover on
 * @fd. Changes are refused from now on, the state directory is unlocked
 * for the new daemon, and every listening socket goes over with the health
 * verdicts. This daemon keeps serving until the new one says "serving".
 */
static void on_takeover(void *ctx, int fd)
{
	struct exlbd *d = ctx;
	struct exlb_handover_fd *out = NULL;
	int *l7 = NULL;
	ssize_t nr_l7, nr_out = 0;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct exlb_err err;
	json_t *state;
	int ret = -1;

	if (d->chan >= 0 || d->draining) {
		close(fd);
		return;
	}
	d->chan = fd;
	d->new_pid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ? 0 : cred.pid;
	exlb_ctl_freeze(d->ctl, EXLB_UPGRADE_BUSY);
	exlb_admin_freeze(d->admin, EXLB_UPGRADE_BUSY);
	nr_l7 = exlb_proxy_listener_fds(d->proxy, &l7);
	out = nr_l7 >= 0 ? calloc(nr_l7 + 2, sizeof(*out)) : NULL;
	state = json_pack("{sIso}", "pid", (json_int_t)getpid(), "health",
			  exlb_health_targets_export(d->health, &d->runtime));
	if (!out || !state) {
		exlb_err_set(&err, "out of memory");
		goto done;
	}
	for (ssize_t i = 0; i < nr_l7; i++) {
		out[i].fd = l7[i];
		snprintf(out[i].tag, sizeof(out[i].tag), "l7");
	}
	out[nr_l7].fd = exlb_ctl_listen_fd(d->ctl);
	snprintf(out[nr_l7].tag, sizeof(out[nr_l7].tag), "ctl");
	nr_out = nr_l7 + 1;
	if (exlb_admin_listen_fd(d->admin) >= 0) {
		out[nr_out].fd = exlb_admin_listen_fd(d->admin);
		snprintf(out[nr_out].tag, sizeof(out[nr_out].tag), "admin");
		nr_out++;
	}
	/* the new daemon locks the state directory before it reads it */
	flock(d->lock_fd, LOCK_UN);
	close(d->lock_fd);
	d->lock_fd = -1;
	exlb_log(LOG_NOTICE, "upgrade: pid %d takes over: handing over %zd listening socket(s) and the control socket",
		 (int)d->new_pid, nr_l7);
	ret = exlb_handover_send(fd, out, nr_out, state, EXLB_HANDOVER_IO_MS,
				 &err);
done:
	for (ssize_t i = 0; i < nr_l7; i++)
		close(l7[i]);	/* our copies: the workers keep theirs */
	free(l7);
	free(out);
	json_decref(state);
	if (ret) {
		takeover_failed(d, err.msg);
		return;
	}
	ev_io_init(&d->chan_io, on_chan, fd, EV_READ);
	d->chan_io.data = d;
	ev_io_start(d->loop, &d->chan_io);
	ev_timer_init(&d->chan_timer, on_chan_timeout, EXLB_TAKEOVER_START_S, 0);
	d->chan_timer.data = d;
	ev_timer_start(d->loop, &d->chan_timer);
}

/* The old side's watchers: a takeover may be asked from now on. */
void exlbd_upgrade_init(struct exlbd *d)
{
	exlb_ctl_set_takeover(d->ctl, on_takeover, d);
	ev_init(&d->relock, on_relock);
	d->relock.data = d;
}

/* At exit: closes a hand-over's channel and stops the old side's watchers. */
void exlbd_upgrade_stop(struct exlbd *d)
{
	takeover_end(d);
	ev_timer_stop(d->loop, &d->relock);
}

/* ---- the new daemon (--takeover) ---- */

/*
 * Asks the exlbd on @path for a takeover and receives its sockets and
 * state into @h. The channel, or -1 with the reason logged.
 */
int exlbd_takeover_ask(const char *path, struct exlb_handover *h)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	static const char ask[] = "{\"cmd\":\"takeover\"}\n";
	char line[1024];
	size_t n = 0;
	json_t *answer;
	struct exlb_err err;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		exlb_log(LOG_ERR, "takeover: socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		exlb_log(LOG_ERR, "takeover: no exlbd answers on %s (%s): is exlbd running? systemctl status exlbd",
			 path, strerror(errno));
		goto fail;
	}
	if (write(fd, ask, sizeof(ask) - 1) != (ssize_t)sizeof(ask) - 1) {
		exlb_log(LOG_ERR, "takeover: %s: %s", path, strerror(errno));
		goto fail;
	}
	/* byte by byte: what follows the answer carries descriptors */
	while (n < sizeof(line) - 1) {
		struct timeval tv = { .tv_sec = EXLB_HANDOVER_IO_MS / 1000 };
		ssize_t r;

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		r = recv(fd, line + n, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			exlb_log(LOG_ERR, "takeover: exlbd on %s did not answer", path);
			goto fail;
		}
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	answer = json_loads(line, 0, NULL);
	if (!json_is_true(json_object_get(answer, "ok"))) {
		const char *e = json_string_value(json_object_get(answer, "error"));

		exlb_log(LOG_ERR, "takeover refused by exlbd on %s: %s", path, e ? e : line);
		json_decref(answer);
		goto fail;
	}
	json_decref(answer);
	if (exlb_handover_recv(fd, h, EXLB_HANDOVER_IO_MS, &err)) {
		exlb_log(LOG_ERR, "takeover: receiving the sockets: %s", err.msg);
		goto fail;
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The old daemon unlocked the directory just before it sent; bounded wait. */
int exlbd_takeover_lock(struct exlbd *d)
{
	for (int i = 0; i < 50; i++) {
		if (!exlbd_state_lock(d))
			return 0;
		usleep(100 * 1000);
	}
	exlb_log(LOG_ERR, "takeover: state directory %s stays locked by another exlbd",
		 d->state_dir);
	return -1;
}

/*
 * --takeover forks: the child becomes the daemon (in the service's cgroup
 * under systemd: ExecReload runs us), the parent returns once it serves,
 * 0, or 1 with the reason. The child reports on @report: "ok PID\n".
 */
int exlbd_takeover_fork(int *report)
{
	int p[2];
	pid_t pid;
	char buf[64];
	ssize_t n, got = 0;
	int status;

	if (pipe2(p, O_CLOEXEC)) {
		perror("exlbd: pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("exlbd: fork");
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();	/* not the caller's terminal or process group */
		*report = p[1];
		return -1;
	}
	close(p[1]);
	while (got < (ssize_t)sizeof(buf) - 1 &&
	       ((n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0 ||
		(n < 0 && errno == EINTR)))
		got += n > 0 ? n : 0;
	buf[got] = '\0';
	if (!strncmp(buf, "ok ", 3)) {
		printf("exlbd: pid %d serves now; the old exlbd drains\n", atoi(buf + 3));
		return 0;
	}
	if (waitpid(pid, &status, WNOHANG) == pid && WIFSIGNALED(status))
		fprintf(stderr, "exlbd: takeover failed: the new exlbd (pid %d) died of signal %d; the old one still serves\n",
			(int)pid, WTERMSIG(status));
	else
		fprintf(stderr, "exlbd: takeover failed (see the log above); the old exlbd still serves\n");
	return 1;
}

/*
 * The new daemon is ready: systemd learns its pid (and that it is ready)
 * before the old one hears "serving" and may exit; then the caller of
 * --takeover hears it too. 0, or -1 (the old daemon carries on).
 */
int exlbd_takeover_serve(struct exlbd *d, int chan, struct exlb_handover *h,
			 int report)
{
	json_int_t old_pid = json_integer_value(json_object_get(h->state, "pid"));
	struct exlb_err err;
	char buf[32];
	json_t *msg;
	int r;

	sd_notifyf(0, "MAINPID=%d\nREADY=1\nSTATUS=%zu services",
		   (int)getpid(), d->store.config->nr_services);
	r = sd_notify_barrier(0, 5 * 1000000ULL);
	if (r < 0)
		exlb_log(LOG_WARNING, "takeover: systemd did not confirm the new main pid: %s",
			 strerror(-r));
	msg = json_pack("{sssI}", "say", "serving", "pid", (json_int_t)getpid());
	r = msg ? exlb_handover_say(chan, msg, EXLB_HANDOVER_IO_MS, &err) : -1;
	json_decref(msg);
	if (r) {
		exlb_log(LOG_ERR, "takeover: telling pid %lld: %s", (long long)old_pid,
			 msg ? err.msg : "out of memory");
		return -1;
	}
	exlb_ctl_own_path(d->ctl);
	exlb_log(LOG_NOTICE, "took over from pid %lld, which drains", (long long)old_pid);
	snprintf(buf, sizeof(buf), "ok %d\n", (int)getpid());
	if (write(report, buf, strlen(buf)) < 0)
		exlb_log(LOG_WARNING, "takeover: cannot tell the caller: %s", strerror(errno));
	return 0;
}
