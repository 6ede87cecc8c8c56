// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Non-blocking byte I/O on one side of a proxied connection: plain TCP,
 * OpenSSL in userspace, or kTLS (see proxy_io.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>

#include "ktls.h"
#include "proxy_io.h"

void l7_ep_init(struct l7_ep *ep, int fd)
{
	memset(ep, 0, sizeof(*ep));
	ep->fd = fd;
	ev_io_init(&ep->io, NULL, fd, 0);
}

void l7_io_start_known(struct ev_loop *loop, ev_io *io, int fd, int events)
{
	ev_io_set(io, fd, events);
	/* ev_io_set() marks the fd as possibly a new file: here it is not */
	io->events &= ~EV__IOFDSET;
	ev_io_start(loop, io);
}

void l7_ep_watch(struct ev_loop *loop, struct l7_ep *ep, int events)
{
	if (ep->fd < 0 || events == ep->io_events)
		return;
	if (ep->io_events)
		ev_io_stop(loop, &ep->io);
	ep->io_events = events;
	if (!events)
		return;
	if (ep->in_loop) {
		l7_io_start_known(loop, &ep->io, ep->fd, events);
	} else {
		ev_io_set(&ep->io, ep->fd, events);
		ev_io_start(loop, &ep->io);
		ep->in_loop = true;
	}
}

void l7_ep_close(struct ev_loop *loop, struct l7_ep *ep)
{
	if (ep->fd < 0)
		return;
	l7_ep_watch(loop, ep, 0);
	if (ep->ssl) {
		SSL_free(ep->ssl);
		ep->ssl = NULL;
	}
	close(ep->fd);
	ep->fd = -1;
	ep->in_loop = false;
}

void l7_ep_reset_on_close(struct l7_ep *ep)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (ep->fd >= 0)
		setsockopt(ep->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/*
 * The socket BIO under a tracked TLS session reports each read's result:
 * short (or failed) means the socket is empty. With read-ahead (after the
 * handshake) OpenSSL asks for as much as its buffer holds, so a record
 * that came alone drains the socket in one call.
 */
static long bio_read_cb(BIO *b, int oper, const char *argp, size_t len,
			int argi, long argl, int ret, size_t *processed)
{
	struct l7_ep *ep = (struct l7_ep *)BIO_get_callback_arg(b);

	(void)argp;
	(void)argi;
	(void)argl;
	if (oper == (BIO_CB_READ | BIO_CB_RETURN) && ep)
		ep->drained = ret <= 0 || !processed || *processed < len;
	return ret;
}

void l7_ep_track_readiness(struct l7_ep *ep)
{
	BIO *rbio = ep->ssl ? SSL_get_rbio(ep->ssl) : NULL;

	ep->track_ready = true;
	if (rbio) {
		BIO_set_callback_arg(rbio, (char *)ep);
		BIO_set_callback_ex(rbio, bio_read_cb);
	}
	/*
	 * A handshake that cannot end in kTLS reads ahead from its start: a
	 * ClientHello in one read(), not two, and the client's
	 * ChangeCipherSpec + Finished in one, not four. (With kTLS possible
	 * it waits for the end of the handshake: l7_ep_handshake().)
	 */
	if (ep->ssl && (!ep->want_ktls || exlb_ktls_ulp_missing()))
		SSL_set_read_ahead(ep->ssl, 1);
}

/* A read now would only say EAGAIN: the socket is empty, nothing is buffered. */
static bool ep_drained(struct l7_ep *ep)
{
	if (!ep->track_ready || !ep->drained)
		return false;
	if (ep->ssl && SSL_has_pending(ep->ssl))
		return false;
	ep->want_read_events = EV_READ;
	return true;
}

/* The events an OpenSSL call that returned @ret waits for, or an error. */
static int ssl_want(struct l7_ep *ep, int ret, int *events)
{
	int e = SSL_get_error(ep->ssl, ret);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*events = EV_READ;
		return L7_IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*events = EV_WRITE;
		return L7_IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return L7_IO_EOF;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		/* EOF without close_notify: many clients end that way */
		if (!errno || errno == ECONNRESET || errno == EPIPE)
			return errno == ECONNRESET ? -ECONNRESET : L7_IO_EOF;
		return errno == EAGAIN ? L7_IO_AGAIN : -errno;
	default:
		ERR_clear_error();
		return -EPROTO;
	}
}

int l7_ep_handshake(struct l7_ep *ep)
{
	int ret;

	if (!ep->ssl || ep->handshake_done)
		return 1;
	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(ep->ssl);
	if (ret == 1) {
		ep->handshake_done = true;
		ep->resumed = SSL_session_reused(ep->ssl);
		ep->hs_events = 0;
		if (SSL_is_server(ep->ssl) &&
		    exlb_ktls_after_handshake(ep->ssl, ep->fd, ep->want_ktls,
					      &ep->ktls_tx, &ep->ktls_rx))
			return -EPROTO;
		if (ep->ktls_tx && ep->ktls_rx) {
			/* the kernel has the whole record layer now */
			SSL_free(ep->ssl);
			ep->ssl = NULL;
		} else if (!ep->ktls_rx && ep->track_ready) {
			/*
			 * A record in one read, not a header and a body in
			 * two. Only now: bytes read ahead during the
			 * handshake could not have been handed to kTLS. Only
			 * for an owner that reports readiness: records read
			 * ahead are announced by no event, so it must not
			 * stop reading while it has room (see proxy_io.h).
			 */
			SSL_set_read_ahead(ep->ssl, 1);
		}
		return 1;
	}
	ret = ssl_want(ep, ret, &ep->hs_events);
	if (ret == L7_IO_AGAIN)
		return 0;
	return ret == L7_IO_EOF ? -ECONNRESET : ret;
}

ssize_t l7_ep_read(struct l7_ep *ep, void *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;
	int ret;

	ep->want_read_events = 0;
	if (ep->eof || ep->rx_ended) {
		ep->eof = true;
		return L7_IO_EOF;
	}
	if (ep_drained(ep))
		return L7_IO_AGAIN;
	if (ep->ktls_rx) {
		r = exlb_ktls_recv(ep->fd, buf, len);
		if (r > 0) {
			/*
			 * The kernel hands out every whole record there is
			 * (up to @len): short means none is left.
			 */
			ep->drained = (size_t)r < len;
			return r;
		}
		if (r == 0) {
			/*
			 * EOF, or a control record the read consumed: the
			 * end, also for a caller that reads again after a
			 * splice run met it (relay.c).
			 */
			ep->eof = ep->rx_ended = true;
			return L7_IO_EOF;
		}
		if (r == -EAGAIN || r == -EINTR) {
			/*
			 * No whole record: the next read waits for EV_READ
			 * (a download's pump would otherwise ask the client
			 * socket after every pipe it moved).
			 */
			ep->drained = r == -EAGAIN;
			ep->want_read_events = EV_READ;
			return L7_IO_AGAIN;
		}
		return r;
	}
	if (!ep->ssl) {
		r = recv(ep->fd, buf, len, 0);
		if (r > 0) {
			ep->drained = (size_t)r < len;
			return r;
		}
		if (r == 0) {
			ep->eof = true;
			return L7_IO_EOF;
		}
		if (errno == EAGAIN || errno == EINTR) {
			ep->drained = errno == EAGAIN;
			ep->want_read_events = EV_READ;
			return L7_IO_AGAIN;
		}
		return -errno;
	}
	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(ep->ssl, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	r = ssl_want(ep, ret, &ep->want_read_events);
	if (r == L7_IO_EOF)
		ep->eof = true;
	return r;
}

ssize_t l7_ep_write(struct l7_ep *ep, const void *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;
	int ret;

	ep->want_write_events = 0;
	if (!ep->ssl || ep->ktls_tx) {
		r = send(ep->fd, buf, len, MSG_NOSIGNAL);
		if (r >= 0)
			return r;
		if (errno == EAGAIN || errno == EINTR) {
			ep->want_write_events = EV_WRITE;
			return L7_IO_AGAIN;
		}
		return -errno;
	}
	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(ep->ssl, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	r = ssl_want(ep, ret, &ep->want_write_events);
	return r == L7_IO_EOF ? -EPIPE : r;
}

void l7_ep_shutdown(struct l7_ep *ep)
{
	if (ep->shut || ep->fd < 0)
		return;
	ep->shut = true;
	if (ep->ktls_tx) {
		exlb_ktls_send_close_notify(ep->fd);
	} else if (ep->ssl && ep->handshake_done) {
		ERR_clear_error();
		SSL_shutdown(ep->ssl);	/* one attempt: close_notify if it fits */
		ERR_clear_error();
	}
	shutdown(ep->fd, SHUT_WR);
}

bool l7_ep_can_splice_from(const struct l7_ep *ep)
{
	return !ep->ssl || ep->ktls_rx;
}

bool l7_ep_can_splice_to(const struct l7_ep *ep)
{
	return !ep->ssl || ep->ktls_tx;
}

ssize_t l7_splice_in(struct l7_ep *src, int pipe_wr, size_t max)
{
	ssize_t r;

	src->want_read_events = 0;
	r = splice(src->fd, NULL, pipe_wr, NULL, max,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (r > 0)
		return r;
	if (r == 0) {
		src->eof = true;
		return L7_IO_EOF;
	}
	if (errno == EAGAIN || errno == EINTR) {
		src->want_read_events = EV_READ;
		return L7_IO_AGAIN;
	}
	return -errno;
}

ssize_t l7_splice_out(int pipe_rd, struct l7_ep *dst, size_t len,
		      unsigned int flags)
{
	ssize_t r;

	dst->want_write_events = 0;
	r = splice(pipe_rd, NULL, dst->fd, NULL, len,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK | flags);
	if (r > 0)
		return r;
	if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
		dst->want_write_events = EV_WRITE;
		return L7_IO_AGAIN;
	}
	return r < 0 ? -errno : -EPIPE;
}
