// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Descriptor hand-over between exlbd processes (handover.h): the message
 * framing, SCM_RIGHTS in batches, and bounded blocking I/O on a channel
 * that may be non-blocking.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handover.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until @chan is ready for @events or @deadline passed. */
static int wait_ready(int chan, short events, int64_t deadline,
		      struct exlb_err *err)
{
	for (;;) {
		struct pollfd pfd = { .fd = chan, .events = events };
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0) {
			exlb_err_set(err, "timed out");
			return -1;
		}
		n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			exlb_err_set(err, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

/* Writes all of @buf; the descriptors go with the first byte. */
static int send_all(int chan, const char *buf, size_t len, const int *fds,
		    size_t nr_fds, int64_t deadline, struct exlb_err *err)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * EXLB_HANDOVER_BATCH)];
	} ctrl;
	size_t off = 0;

	while (off < len) {
		struct iovec iov = { .iov_base = (char *)buf + off,
				     .iov_len = len - off };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (nr_fds) {
			struct cmsghdr *cm;

			memset(&ctrl, 0, sizeof(ctrl));
			msg.msg_control = ctrl.buf;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nr_fds);
		}
		n = sendmsg(chan, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_ready(chan, POLLOUT, deadline, err))
				return -1;
			continue;
		}
		if (n < 0) {
			exlb_err_set(err, "send: %s", strerror(errno));
			return -1;
		}
		off += n;
		nr_fds = 0;	/* they went with the first byte */
	}
	return 0;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/*
 * Reads exactly @len bytes; descriptors that come with them are appended
 * to @fds (room for EXLB_HANDOVER_BATCH) and counted in *@nr_fds. Reading
 * exact lengths keeps each message's descriptors with its first read.
 */
static int recv_all(int chan, char *buf, size_t len, int *fds, size_t *nr_fds,
		    int64_t deadline, struct exlb_err *err)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * EXLB_HANDOVER_BATCH)];
	} ctrl;
	size_t off = 0;

	while (off < len) {
		struct iovec iov = { .iov_base = buf + off, .iov_len = len - off };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf),
		};
		struct cmsghdr *cm;
		ssize_t n = recvmsg(chan, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_ready(chan, POLLIN, deadline, err))
				return -1;
			continue;
		}
		if (n < 0) {
			exlb_err_set(err, "receive: %s", strerror(errno));
			return -1;
		}
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			size_t k;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
				if (fds && *nr_fds < EXLB_HANDOVER_BATCH)
					fds[(*nr_fds)++] = fd;
				else
					close(fd);
			}
		}
		if (msg.msg_flags & MSG_CTRUNC) {
			exlb_err_set(err, "descriptors lost (MSG_CTRUNC)");
			return -1;
		}
		if (n == 0) {
			exlb_err_set(err, "closed");
			return -1;
		}
		off += n;
	}
	return 0;
}

static int send_msg(int chan, json_t *obj, const int *fds, size_t nr_fds,
		    int64_t deadline, struct exlb_err *err)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	size_t len;
	char *buf;
	uint32_t be;
	int ret;

	if (!text) {
		exlb_err_set(err, "out of memory");
		return -1;
	}
	len = strlen(text);
	if (len > EXLB_HANDOVER_MAX_MSG || !(buf = malloc(4 + len))) {
		free(text);
		exlb_err_set(err, "message too large");
		return -1;
	}
	be = htonl((uint32_t)len);
	memcpy(buf, &be, 4);
	memcpy(buf + 4, text, len);
	free(text);
	ret = send_all(chan, buf, 4 + len, fds, nr_fds, deadline, err);
	free(buf);
	return ret;
}

/* One message: its object, its descriptors in @fds / *@nr_fds. */
static json_t *recv_msg(int chan, int *fds, size_t *nr_fds, size_t max,
			int64_t deadline, struct exlb_err *err)
{
	json_error_t jerr;
	uint32_t be;
	size_t len;
	char *buf;
	json_t *obj;

	*nr_fds = 0;
	if (recv_all(chan, (char *)&be, 4, fds, nr_fds, deadline, err))
		goto fail;
	len = ntohl(be);
	if (len > max) {
		exlb_err_set(err, "message of %zu bytes: too large", len);
		goto fail;
	}
	buf = malloc(len + 1);
	if (!buf) {
		exlb_err_set(err, "out of memory");
		goto fail;
	}
	if (recv_all(chan, buf, len, NULL, NULL, deadline, err)) {
		free(buf);
		goto fail;
	}
	obj = json_loadb(buf, len, 0, &jerr);
	free(buf);
	if (!json_is_object(obj)) {
		json_decref(obj);
		exlb_err_set(err, "not a JSON object: %s", jerr.text);
		goto fail;
	}
	return obj;
fail:
	close_fds(fds, *nr_fds);
	*nr_fds = 0;
	return NULL;
}

int exlb_handover_send(int chan, const struct exlb_handover_fd *fds, size_t n,
		       json_t *state, int timeout_ms, struct exlb_err *err)
{
	int64_t deadline = now_ms() + timeout_ms;
	json_t *end;
	int ret;

	for (size_t i = 0; i < n; i += EXLB_HANDOVER_BATCH) {
		size_t k = n - i < EXLB_HANDOVER_BATCH ? n - i : EXLB_HANDOVER_BATCH;
		int batch[EXLB_HANDOVER_BATCH];
		json_t *tags = json_array(), *msg;

		for (size_t j = 0; j < k; j++) {
			batch[j] = fds[i + j].fd;
			json_array_append_new(tags, json_string(fds[i + j].tag));
		}
		msg = json_pack("{so}", "tags", tags);
		ret = msg ? send_msg(chan, msg, batch, k, deadline, err) : -1;
		json_decref(msg);
		if (ret)
			return -1;
	}
	end = json_pack("{sbsO}", "end", 1, "state", state ? state : json_null());
	ret = end ? send_msg(chan, end, NULL, 0, deadline, err) : -1;
	json_decref(end);
	return ret;
}

int exlb_handover_recv(int chan, struct exlb_handover *h, int timeout_ms,
		       struct exlb_err *err)
{
	int64_t deadline = now_ms() + timeout_ms;

	memset(h, 0, sizeof(*h));
	for (;;) {
		int fds[EXLB_HANDOVER_BATCH];
		size_t nr = 0;
		json_t *msg = recv_msg(chan, fds, &nr, EXLB_HANDOVER_MAX_MSG,
				       deadline, err);
		json_t *tags;
		struct exlb_handover_fd *grown;

		if (!msg)
			goto fail;
		if (json_is_true(json_object_get(msg, "end"))) {
			close_fds(fds, nr);
			h->state = json_incref(json_object_get(msg, "state"));
			json_decref(msg);
			return 0;
		}
		tags = json_object_get(msg, "tags");
		if (!json_is_array(tags) || json_array_size(tags) != nr) {
			exlb_err_set(err, "%zu descriptors for %zu tags", nr,
				     json_array_size(tags));
			close_fds(fds, nr);
			json_decref(msg);
			goto fail;
		}
		grown = realloc(h->fds, (h->nr_fds + nr) * sizeof(*h->fds) + 1);
		if (!grown) {
			exlb_err_set(err, "out of memory");
			close_fds(fds, nr);
			json_decref(msg);
			goto fail;
		}
		h->fds = grown;
		for (size_t i = 0; i < nr; i++) {
			const char *tag = json_string_value(json_array_get(tags, i));

			h->fds[h->nr_fds].fd = fds[i];
			snprintf(h->fds[h->nr_fds].tag, sizeof(h->fds[0].tag), "%s",
				 tag ? tag : "");
			h->nr_fds++;
		}
		json_decref(msg);
	}
fail:
	exlb_handover_done(h);
	return -1;
}

int exlb_handover_take(struct exlb_handover *h, const char *tag)
{
	for (size_t i = 0; i < h->nr_fds; i++) {
		int fd = h->fds[i].fd;

		if (fd >= 0 && !strcmp(h->fds[i].tag, tag)) {
			h->fds[i].fd = -1;
			return fd;
		}
	}
	return -1;
}

void exlb_handover_done(struct exlb_handover *h)
{
	for (size_t i = 0; i < h->nr_fds; i++)
		if (h->fds[i].fd >= 0)
			close(h->fds[i].fd);
	free(h->fds);
	json_decref(h->state);
	memset(h, 0, sizeof(*h));
}

int exlb_handover_say(int chan, json_t *msg, int timeout_ms,
		      struct exlb_err *err)
{
	return send_msg(chan, msg, NULL, 0, now_ms() + timeout_ms, err);
}

json_t *exlb_handover_hear(int chan, int timeout_ms, struct exlb_err *err)
{
	return exlb_handover_hear_max(chan, EXLB_HANDOVER_MAX_MSG, timeout_ms, err);
}

json_t *exlb_handover_hear_max(int chan, size_t max, int timeout_ms,
			       struct exlb_err *err)
{
	int fds[EXLB_HANDOVER_BATCH];
	size_t nr = 0;
	json_t *msg = recv_msg(chan, fds, &nr, max, now_ms() + timeout_ms, err);

	close_fds(fds, nr);
	return msg;
}
