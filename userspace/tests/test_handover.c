// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the descriptor hand-over (exlbd/proc/handover.c): more
 * descriptors than one message carries, each arriving with its own tag and
 * still the same open file; the state object; take and done; a channel
 * closed half way, a silent one, a malformed message: errors, and no
 * descriptor left open. A forked child is the sender. TAP output; built
 * with ASan/UBSan by "make test".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/handover.h"
#include "tap_report.h"

#define NR_PIPES 150	/* three messages: 64 + 64 + 22 */

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/*
 * What a sender that dies half way leaves: one whole batch of 64 (framed
 * by hand as handover.h describes it), then the length of a message that
 * never comes.
 */
static int send_batch_then_end(int chan, const int *w)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 64)];
	} ctrl = { 0 };
	char text[1024] = "{\"tags\":[";
	char frame[1100];
	struct iovec iov = { .iov_base = frame };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctrl.buf,
			      .msg_controllen = sizeof(ctrl.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	uint32_t be;

	for (int i = 0; i < 64; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "%s\"p%d\"", i ? "," : "", i);
	strcat(text, "]}");
	be = htonl(strlen(text));
	memcpy(frame, &be, 4);
	memcpy(frame + 4, text, strlen(text));
	iov.iov_len = 4 + strlen(text);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * 64);
	memcpy(CMSG_DATA(cm), w, sizeof(int) * 64);
	if (sendmsg(chan, &msg, 0) != (ssize_t)iov.iov_len)
		return 1;
	be = htonl(1000);
	return write(chan, &be, sizeof(be)) != sizeof(be);
}

/* The child sends the write ends of @w (tags "p<i>") and a state. */
static pid_t sender(int chan, int w[NR_PIPES], bool complete)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct exlb_handover_fd fds[NR_PIPES];
		struct exlb_err err;
		json_t *state = json_pack("{si}", "x", 42);

		for (int i = 0; i < NR_PIPES; i++) {
			fds[i].fd = w[i];
			snprintf(fds[i].tag, sizeof(fds[i].tag), "p%d", i);
		}
		if (!complete)
			_exit(send_batch_then_end(chan, w));
		_exit(exlb_handover_send(chan, fds, NR_PIPES, state, 5000, &err) ? 1 : 0);
	}
	return pid;
}

static void test_many(void)
{
	int sv[2], r[NR_PIPES], w[NR_PIPES], status, same = 0, fd, before;
	struct exlb_handover h;
	struct exlb_err err;
	pid_t pid;
	int ret;

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	for (int i = 0; i < NR_PIPES; i++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
			abort();
		r[i] = p[0];
		w[i] = p[1];
	}
	pid = sender(sv[1], w, true);
	for (int i = 0; i < NR_PIPES; i++)
		close(w[i]);	/* the child has them: only the received copies remain */
	before = open_fds();
	ret = exlb_handover_recv(sv[0], &h, 5000, &err);
	waitpid(pid, &status, 0);
	report(!ret && h.nr_fds == NR_PIPES && WIFEXITED(status) && !WEXITSTATUS(status),
	       "%d descriptors in batches of %d received (%zu, ret %d%s%s)", NR_PIPES,
	       EXLB_HANDOVER_BATCH, h.nr_fds, ret, ret ? ": " : "", ret ? err.msg : "");
	report(json_integer_value(json_object_get(h.state, "x")) == 42,
	       "the state object arrives");
	/* each tag's descriptor is the write end of that pipe */
	for (int i = 0; i < NR_PIPES && !ret; i++) {
		char tag[16], c = 0;

		snprintf(tag, sizeof(tag), "p%d", i);
		fd = i % 2 ? exlb_handover_take(&h, tag) : -1;
		if (fd < 0) {
			same += 1;	/* checked after done: left to it */
			continue;
		}
		same += write(fd, "x", 1) == 1 && read(r[i], &c, 1) == 1 && c == 'x' &&
			(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		close(fd);
	}
	report(same == NR_PIPES, "every tag's descriptor is the same open pipe, close-on-exec (%d of %d)",
	       same, NR_PIPES);
	report(exlb_handover_take(&h, "p1") == -1 && exlb_handover_take(&h, "nope") == -1,
	       "a descriptor is taken once; an unknown tag gives -1");
	exlb_handover_done(&h);
	report(open_fds() == before,
	       "done closes what nobody took (%d open, %d before the hand-over)",
	       open_fds(), before);
	{
		char c;
		int eof = 0;

		for (int i = 0; i < NR_PIPES; i++)
			eof += read(r[i], &c, 1) == 0;
		report(eof == NR_PIPES, "every write end is closed everywhere: %d of %d pipes at EOF",
		       eof, NR_PIPES);
	}
	for (int i = 0; i < NR_PIPES; i++)
		close(r[i]);
	close(sv[0]);
	close(sv[1]);
}

static void test_broken(void)
{
	int sv[2], r[NR_PIPES], w[NR_PIPES], before, status;
	struct exlb_handover h;
	struct exlb_err err;
	pid_t pid;
	int ret;

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	for (int i = 0; i < NR_PIPES; i++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC))
			abort();
		r[i] = p[0];
		w[i] = p[1];
	}
	pid = sender(sv[1], w, false);
	close(sv[1]);
	for (int i = 0; i < NR_PIPES; i++)
		close(w[i]);
	before = open_fds();
	ret = exlb_handover_recv(sv[0], &h, 5000, &err);
	waitpid(pid, &status, 0);
	report(ret == -1 && !strcmp(err.msg, "closed") && open_fds() == before &&
	       !h.nr_fds && WIFEXITED(status) && !WEXITSTATUS(status),
	       "a channel that ends half way (after 64 descriptors): an error (%s), nothing kept (%d open, %d before)",
	       ret ? err.msg : "none", open_fds(), before);
	exlb_handover_done(&h);
	for (int i = 0; i < NR_PIPES; i++)
		close(r[i]);
	close(sv[0]);
}

static void test_small(void)
{
	int sv[2];
	struct exlb_err err;
	json_t *msg = json_pack("{ss}", "say", "serving"), *got;
	uint32_t huge = htonl(EXLB_HANDOVER_MAX_MSG + 1);

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv);
	report(!exlb_handover_say(sv[1], msg, 1000, &err), "say on a non-blocking channel");
	got = exlb_handover_hear(sv[0], 1000, &err);
	report(got && !strcmp(json_string_value(json_object_get(got, "say")) ?: "", "serving"),
	       "hear gets the same object");
	json_decref(got);
	got = exlb_handover_hear(sv[0], 100, &err);
	report(!got && !strcmp(err.msg, "timed out"), "hear on a silent channel times out (%s)",
	       got ? "got one" : err.msg);
	report(write(sv[1], &huge, sizeof(huge)) == sizeof(huge) &&
	       !exlb_handover_hear(sv[0], 1000, &err) && strstr(err.msg, "too large"),
	       "a length beyond %d bytes is refused (%s)", EXLB_HANDOVER_MAX_MSG, err.msg);
	json_decref(msg);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	test_many();
	test_broken();
	test_small();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
