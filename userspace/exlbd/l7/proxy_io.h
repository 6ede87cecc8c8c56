/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * One side of a proxied connection (the client, or the real server) as a
 * byte stream: a plain TCP socket, a TLS session in userspace (OpenSSL), or
 * a TLS session whose record layer the kernel runs (kTLS), each direction
 * on its own. Everything is non-blocking; a call that cannot progress says
 * which readiness it waits for (ep->want).
 *
 * Splice: a direction the kernel can carry without us seeing the bytes
 * (plain TCP, or kTLS in that direction) moves through a pipe with
 * splice(2). A kTLS receive socket refuses splice with EINVAL when the
 * next record is not data (an alert, close_notify): the caller then reads
 * that record with l7_ep_read(), which takes it as the end. (relay.c reads
 * a kTLS receive socket into a buffer rather than splicing it: one
 * splice takes one record, one read all that are there.)
 *
 * Drained sockets: a read that got fewer bytes than it asked for (or
 * EAGAIN) emptied the socket, so the next read would only return EAGAIN;
 * when the owner reports its readiness events (l7_ep_track_readiness(),
 * l7_ep_ready()), that read is skipped until epoll says the socket is
 * readable again. On a virtual machine each of those wasted calls costs
 * more than the work around it (issue 11: 3-4 per keep-alive request).
 * epoll is level-triggered here, so a byte that arrives meanwhile still
 * wakes the owner: skipping can delay nothing. Such an owner's TLS
 * sessions also read ahead (a record in one read(), not two: from the
 * start of a handshake that cannot end in kTLS, else once it is done); records
 * OpenSSL holds are announced by no event, so the owner must not stop
 * reading while it has room unless it comes back by itself.
 */
#ifndef EXLB_PROXY_IO_H
#define EXLB_PROXY_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>
#include <openssl/ssl.h>

struct l7_ep {
	int fd;
	SSL *ssl;		/* NULL: plain TCP, or both directions in kTLS */
	bool tls;		/* a TLS session (in OpenSSL or the kernel) */
	bool ktls_tx, ktls_rx;	/* the kernel encrypts / decrypts */
	bool want_ktls;		/* server side of TLS: try kTLS after the handshake */
	bool handshake_done;
	bool resumed;		/* the handshake resumed a session */
	bool eof;		/* no more bytes will be read */
	bool rx_ended;		/* kTLS: a read met the end: every read says EOF */
	bool shut;		/* our side of the stream is closed */
	bool track_ready;	/* the owner calls l7_ep_ready() on every event */
	bool drained;		/* the last read emptied the socket */
	bool in_loop;		/* the loop knows this socket under fd */
	int want_read_events;	/* EV_READ/EV_WRITE a pending read waits for */
	int want_write_events;	/* ... a pending write waits for */
	int hs_events;		/* ... the handshake waits for */
	int io_events;		/* what io watches now */
	ev_io io;
};

enum {
	L7_IO_AGAIN = -1000,	/* would block: see the want_* fields */
	L7_IO_EOF = -1001,	/* read: the peer closed (cleanly or not) */
};

void l7_ep_init(struct l7_ep *ep, int fd);
/* Closes the socket and frees the TLS session (no close_notify). */
void l7_ep_close(struct ev_loop *loop, struct l7_ep *ep);
/*
 * Makes the coming close send a RST, not a FIN: a connection dropped
 * because its real server failed (droponfail, dropatdrainend) ends as the
 * kernel's flows do, and the client cannot take it for a clean end.
 */
void l7_ep_reset_on_close(struct l7_ep *ep);

/*
 * 1 done, 0 again (hs_events), negative: failed (an errno or -EPROTO).
 * On the accepting side, a finished handshake is followed by the TLS 1.3
 * tickets and, with want_ktls, kTLS where it applies (ktls.h).
 */
int l7_ep_handshake(struct l7_ep *ep);

/* > 0 bytes, L7_IO_AGAIN, L7_IO_EOF, or a negative errno. */
ssize_t l7_ep_read(struct l7_ep *ep, void *buf, size_t len);
/* > 0 bytes written, L7_IO_AGAIN, or a negative errno. */
ssize_t l7_ep_write(struct l7_ep *ep, const void *buf, size_t len);
/* Ends our direction: close_notify (TLS) and FIN. */
void l7_ep_shutdown(struct l7_ep *ep);

/* This direction can go through splice. */
bool l7_ep_can_splice_from(const struct l7_ep *ep);
bool l7_ep_can_splice_to(const struct l7_ep *ep);

/*
 * Moves up to @max bytes from @src into the pipe (> 0 bytes, L7_IO_AGAIN,
 * L7_IO_EOF, -EINVAL when a kTLS socket holds a non-data record, or another
 * negative errno).
 */
ssize_t l7_splice_in(struct l7_ep *src, int pipe_wr, size_t max);
/*
 * Moves up to @len bytes from the pipe to @dst (> 0, L7_IO_AGAIN, or errno);
 * @flags: 0 or SPLICE_F_MORE (more follows at once: relay.c).
 */
ssize_t l7_splice_out(int pipe_rd, struct l7_ep *dst, size_t len,
		      unsigned int flags);

/*
 * The owner will call l7_ep_ready() with every event of the endpoint's
 * watcher: from then on a read after one that drained the socket waits for
 * EV_READ. For a TLS session, call it after the SSL has its socket.
 */
void l7_ep_track_readiness(struct l7_ep *ep);
/* The watcher saw @revents: EV_READ makes the socket worth reading again. */
static inline void l7_ep_ready(struct l7_ep *ep, int revents)
{
	if (revents & EV_READ)
		ep->drained = false;
}

/*
 * Watches @events (EV_READ|EV_WRITE or 0) on the endpoint's socket. Once
 * the loop knows the socket (in_loop), watching it again costs no
 * epoll_ctl() unless the events differ from what the loop has.
 */
void l7_ep_watch(struct ev_loop *loop, struct l7_ep *ep, int events);
/*
 * Starts @io on @fd, a socket that another watcher of @loop watched until
 * now (it was stopped in this same pass, e.g. a server connection moving
 * between a client connection and the idle pool): with the same events,
 * libev then has nothing to tell the kernel. Only for the same open socket:
 * a new one under a reused number needs ev_io_set()'s re-registration.
 */
void l7_io_start_known(struct ev_loop *loop, ev_io *io, int fd, int events);

#endif
