// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the one holder of exlbd's sandboxed processes
 * (exlbd/proc/spawn.c, used by proc/manager.c for the L7 worker and
 * proc/directory_manager.c for the directory process): a child started
 * from /proc/self/exe with its channel at fd 3 (this binary, run again in
 * a child mode), a message it takes, a child that does not read killed
 * after EXLB_SANDBOXED_SEND_MS with the log line, a message that could
 * not be made, no channel; exits counted for status (SIGSYS apart). TAP
 * output; built with ASan/UBSan by "make test".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc/handover.h"
#include "proc/spawn.h"
#include "tap_report.h"

#define WHAT	"test: sandboxed child"

/* ---- the child's side: "exlbd MODE" as spawn.c runs it, fd 3 its channel ---- */

static int child_main(const char *mode)
{
	struct exlb_handover h;
	struct exlb_err err;
	struct timespec ts = { .tv_sec = 20 };	/* bounded: killed long before */
	int ok;

	if (fcntl(3, F_GETFD) < 0 || fcntl(4, F_GETFD) >= 0)
		return 3;	/* the channel at 3 and nothing else of the parent's */
	if (!strcmp(mode, "--hear")) {
		if (exlb_handover_recv(3, &h, 5000, &err))
			return 2;
		ok = !strcmp(json_string_value(json_object_get(h.state, "hello")) ?: "",
			     "child");
		exlb_handover_done(&h);
		return ok ? 0 : 1;
	}
	if (!strcmp(mode, "--sigsys"))
		raise(SIGSYS);
	if (!strcmp(mode, "--stall"))
		nanosleep(&ts, NULL);	/* never reads */
	return 4;
}

/* ---- the manager's side ---- */

static struct exlb_sandboxed sb;
static int exe_fd, log_fd;
static unsigned int chan_calls, exit_calls;
static bool chan_data_ok;
static char last_note[160];	/* the exit note: "" for a stop */

static void on_chan(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	chan_calls++;
	chan_data_ok = io->data == &sb;
	exlb_sandboxed_close(&sb);	/* EOF: its exit follows */
}

static void started(void *ctx)
{
	(void)ctx;
}

static void exited(void *ctx, const char *note)
{
	(void)ctx;
	exit_calls++;
	snprintf(last_note, sizeof(last_note), "%s", note ?: "");
	exlb_sandboxed_exited(&sb, note);
	ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static const struct exlb_child_ops ops = {
	.prefix = "test: ",
	.name = "sandboxed child",
	.stop_wait_ms = 500,
	.start = started,
	.exited = exited,
};

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until the child's exit is handled, at most 5 s: true if it was. */
static bool await_exit(void)
{
	ev_timer deadline;
	unsigned int before = exit_calls;

	ev_timer_init(&deadline, on_deadline, 5., 0.);
	ev_timer_start(EV_DEFAULT, &deadline);
	while (exit_calls == before && ev_is_active(&deadline))
		ev_run(EV_DEFAULT, EVRUN_ONCE);
	ev_timer_stop(EV_DEFAULT, &deadline);
	/* no restart (child.c schedules one): each check starts its own child */
	sb.child.wanted = false;
	ev_timer_stop(EV_DEFAULT, &sb.child.restart);
	return exit_calls != before;
}

static pid_t start(const char *mode)
{
	sb.child.wanted = true;
	return exlb_sandboxed_start(&sb, exe_fd, mode, on_chan);
}

/* What exlb_log wrote since the last call (the log is fd 2, a memfd). */
static const char *log_since(void)
{
	static char buf[8192];
	static off_t seen;
	ssize_t n = pread(log_fd, buf, sizeof(buf) - 1, seen);

	if (n < 0)
		n = 0;
	buf[n] = 0;
	seen += n;
	return buf;
}

static void test_hear(void)
{
	json_t *msg = json_pack("{ss}", "hello", "child");
	pid_t pid = start("--hear");

	report(pid > 0 && sb.pid == pid && sb.child.pid == pid && sb.chan >= 0,
	       "started: pid %d watched, channel %d", (int)pid, sb.chan);
	report(ev_is_active(&sb.chan_io) && sb.chan_io.fd == sb.chan,
	       "its channel is watched on the loop");
	report(!exlb_sandboxed_send(&sb, NULL, 0, msg), "a message it reads: sent (0)");
	json_decref(msg);
	report(await_exit() && strstr(last_note, "exited with status 0"),
	       "it got the message whole and exited 0 (%s)", last_note);
	report(chan_calls == 1 && chan_data_ok, "the channel's EOF reached on_chan with the ops' ctx");
	report(sb.chan < 0 && !ev_is_active(&sb.chan_io), "the channel is closed");
	report(sb.exits == 1 && sb.sigsys == 0 && !strcmp(sb.last_exit, "exited with status 0"),
	       "counted: exits %u, sigsys %u, last '%s'", sb.exits, sb.sigsys, sb.last_exit);
}

static void test_sigsys(void)
{
	struct exlb_proc_status st = { 0 };
	bool exit_seen;

	start("--sigsys");
	exit_seen = await_exit();
	report(exit_seen && sb.exits == 2 && sb.sigsys == 1 &&
	       strstr(sb.last_exit, "SIGSYS") && !sb.child.pid,
	       "killed by SIGSYS: exits %u, sigsys %u, last '%s'", sb.exits, sb.sigsys,
	       sb.last_exit);
	exlb_sandboxed_status(&sb, "exlb", &st);
	report(st.on && st.pid == 0 && st.exits == 2 && st.sigsys == 1 &&
	       !strcmp(st.user, "exlb") && !strcmp(st.last_exit, sb.last_exit),
	       "status: on, no pid, the counts, user '%s', last '%s'", st.user, st.last_exit);
}

static void test_stall(void)
{
	size_t big = 8 << 20;	/* well over a unix socket's buffer */
	char *text = malloc(big + 1), want[128];
	const char *line;
	json_t *msg;
	struct timespec t0, t1;
	long ms;
	pid_t pid;
	int rc;

	memset(text, 'x', big);
	text[big] = 0;
	msg = json_pack("{ss}", "big", text);
	free(text);
	pid = start("--stall");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = exlb_sandboxed_send(&sb, NULL, 0, msg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	json_decref(msg);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	report(rc == -1 && sb.chan < 0 && !ev_is_active(&sb.chan_io),
	       "a child that does not read: -1, its channel closed");
	report(ms >= EXLB_SANDBOXED_SEND_MS - 100 && ms < EXLB_SANDBOXED_SEND_MS + 1500,
	       "after EXLB_SANDBOXED_SEND_MS (%d ms): %ld ms", EXLB_SANDBOXED_SEND_MS, ms);
	snprintf(want, sizeof(want), WHAT " (pid %d): channel: ", (int)pid);
	line = strstr(log_since(), want);
	report(line && strstr(line, ": killed\n"), "logged: '%.*s'",
	       line ? (int)(strchr(line, '\n') - line) : 0, line ?: "");
	report(await_exit() && strstr(last_note, "killed by signal 9"),
	       "and killed: '%s'", last_note);
}

static void test_no_msg(void)
{
	char want[128];
	pid_t pid = start("--stall");

	report(exlb_sandboxed_send(&sb, NULL, 0, NULL) == -1 && sb.chan < 0,
	       "no message (it could not be made): -1, channel closed");
	snprintf(want, sizeof(want), WHAT " (pid %d): channel: out of memory: killed", (int)pid);
	report(strstr(log_since(), want), "logged: '%s'", want);
	report(await_exit() && strstr(last_note, "killed by signal 9"),
	       "and killed: '%s'", last_note);
}

static void test_no_chan(void)
{
	json_t *msg = json_pack("{ss}", "hello", "nobody");
	unsigned int exits = sb.exits;

	log_since();	/* what came before */
	report(exlb_sandboxed_send(&sb, NULL, 0, msg) == -1 && !*log_since() &&
	       sb.exits == exits, "no channel: -1, nothing logged, nothing killed");
	json_decref(msg);
	exlb_sandboxed_close(&sb);
	report(sb.chan < 0, "closing no channel: nothing to do");
}

int main(int argc, char **argv)
{
	int err_fd;

	if (argc > 1)
		return child_main(argv[1]);
	printf("TAP version 13\n");
	/* exlb_log writes to fd 2: into a memfd the checks read, shown at the end */
	err_fd = dup(2);
	log_fd = memfd_create("log", MFD_CLOEXEC);
	if (err_fd < 0 || log_fd < 0 || dup2(log_fd, 2) < 0)
		return 99;
	exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	exlb_sandboxed_init(&sb, EV_DEFAULT, &ops, &sb, WHAT);
	report(sb.chan == -1 && sb.pid == 0 && sb.exits == 0 && !sb.last_exit[0],
	       "init: no child, no channel, nothing counted");
	test_hear();
	test_sigsys();
	test_stall();
	test_no_msg();
	test_no_chan();
	sb.child.wanted = false;
	exlb_child_stop(&sb.child);
	dup2(err_fd, 2);
	{
		char buf[8192];
		ssize_t n = pread(log_fd, buf, sizeof(buf), 0);

		if (n > 0)
			fwrite(buf, 1, (size_t)n, stderr);
	}
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
