/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Handing descriptors and state from one exlbd process to another over a
 * connected unix stream socket: the one mechanism of the seamless upgrade
 * (an old exlbd gives its listening sockets to the new one, docs/upgrade.md)
 * and, later, of privilege separation (a manager gives listeners to its
 * workers).
 *
 * What goes over the channel: messages, each a 4-byte length (network
 * order) and that many bytes of one JSON object, sent with one sendmsg()
 * that carries the message's descriptors (SCM_RIGHTS, at most
 * EXLB_HANDOVER_BATCH). exlb_handover_send() sends a set of tagged
 * descriptors in batches ({"tags": [...]}) and then one last message
 * {"end": true, "state": ...}; exlb_handover_recv() collects them.
 * exlb_handover_say()/exlb_handover_hear() pass one small JSON object
 * ("serving") without descriptors.
 *
 * The calls block, each bounded by its timeout; the channel may be
 * non-blocking (they poll). A descriptor received is close-on-exec and
 * belongs to the receiver; the sender keeps its own copy: both processes
 * hold the same open socket until one closes it (never shutdown() a socket
 * handed over: that would stop it for both).
 */
#ifndef EXLB_HANDOVER_H
#define EXLB_HANDOVER_H

#include <stddef.h>

#include <jansson.h>

#include "config/config.h"

#define EXLB_HANDOVER_BATCH	64		/* descriptors per message */
#define EXLB_HANDOVER_MAX_MSG	(64 << 20)	/* bytes of one message */
#define EXLB_HANDOVER_TAG_SIZE	64

struct exlb_handover_fd {
	int fd;
	char tag[EXLB_HANDOVER_TAG_SIZE];	/* what it is, e.g. "l7", "ctl" */
};

/* What exlb_handover_recv() received. */
struct exlb_handover {
	struct exlb_handover_fd *fds;	/* fd -1: taken */
	size_t nr_fds;
	json_t *state;			/* the sender's state object, or NULL */
};

/*
 * Sends @n descriptors with their tags, then @state (a JSON object, may be
 * NULL). 0, or -1 with @err set (the receiver may have some of them).
 */
int exlb_handover_send(int chan, const struct exlb_handover_fd *fds, size_t n,
		       json_t *state, int timeout_ms, struct exlb_err *err);

/*
 * Receives what exlb_handover_send() sent, within @timeout_ms overall.
 * 0, or -1 with @err set and nothing kept (every descriptor received is
 * closed).
 */
int exlb_handover_recv(int chan, struct exlb_handover *h, int timeout_ms,
		       struct exlb_err *err);

/* The first descriptor tagged @tag not taken yet (now the caller's), or -1. */
int exlb_handover_take(struct exlb_handover *h, const char *tag);

/* Closes the descriptors nobody took and frees the rest. */
void exlb_handover_done(struct exlb_handover *h);

/* One message without descriptors: @msg (a JSON object). 0 or -1. */
int exlb_handover_say(int chan, json_t *msg, int timeout_ms,
		      struct exlb_err *err);

/*
 * Reads one message without descriptors (any that come along are
 * closed): the object, or NULL with @err set (the peer closed the
 * channel: "closed").
 */
json_t *exlb_handover_hear(int chan, int timeout_ms, struct exlb_err *err);
/* The same, refusing a message over @max bytes (an untrusted peer's). */
json_t *exlb_handover_hear_max(int chan, size_t max, int timeout_ms,
			       struct exlb_err *err);

#endif
