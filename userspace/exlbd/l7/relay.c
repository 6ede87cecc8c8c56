// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The relay under every proxied client connection (relay.h): its two
 * endpoints, bounded buffers, splice pipes, counters, timer and
 * termination code, and the one implementation of moving bytes with them.
 * HTTP (proxy_conn.c) and STARTTLS mail (mail_conn.c) drive it from their
 * pumps and keep only their dialogue.
 *
 * Memory: a read buffer is taken on a connection's first bytes (the first
 * read goes to the worker's scratch buffer), and a connection through
 * which nothing moved for L7_SHRINK_S gives its empty buffers back, seen
 * from its own timer. A busy connection keeps them from pass to pass: no
 * 16 KiB malloc/free per request on a keep-alive connection; ten thousand
 * idle ones hold none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"

#define L7_PIPE_POOL	16	/* spare pipes per worker (w->pipe_pool) */
/*
 * Quiet relays gave back this much since the last sweep: the sweep hands
 * the free pages back to the kernel (malloc_trim()). Without it, a burst
 * of connections that were busy together and then went quiet leaves the
 * heap at its high-water mark, its 16 KiB holes between the sessions' TLS
 * state kept by malloc.
 */
#define L7_TRIM_MIN	(1024 * 1024)

static void on_client_io(struct ev_loop *loop, ev_io *io, int revents)
{
	struct l7_relay *r = io->data;

	(void)loop;
	l7_ep_ready(&r->c, revents);
	r->ops->pump(r, 0);
}

static void on_server_io(struct ev_loop *loop, ev_io *io, int revents)
{
	struct l7_relay *r = io->data;

	(void)loop;
	l7_ep_ready(&r->s, revents);
	r->ops->pump(r, revents);
}

/* ---- life ---- */

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents);

struct l7_relay *l7_relay_new(size_t size, const struct l7_relay_ops *ops,
			      struct l7_worker *w, int fd, struct l7_vs *vs,
			      const struct sockaddr_storage *peer, double first_s)
{
	struct l7_relay *r = calloc(1, size);

	if (!r) {
		close(fd);
		l7_vs_conn_close(vs->st);
		return NULL;
	}
	/* TCP_NODELAY: inherited from the listener (proxy.c listener_add()) */
	r->ops = ops;
	r->w = w;
	r->vs_id = vs->id;
	r->vs_st = vs->st;
	r->peer = *peer;
	memcpy(r->term, "--", 3);
	r->sp_c2s.pipe[0] = r->sp_c2s.pipe[1] = -1;
	r->sp_s2c.pipe[0] = r->sp_s2c.pipe[1] = -1;
	l7_ep_init(&r->c, fd);
	l7_ep_init(&r->s, -1);
	r->c.io.data = r;
	ev_set_cb(&r->c.io, on_client_io);
	r->last_activity = ev_now(w->loop);
	r->next = w->relays;
	if (w->relays)
		w->relays->prev = r;
	w->relays = r;
	w->nr_relays++;
	ev_timer_init(&r->timer, on_timer, first_s, 0);
	r->timer.data = r;
	ev_timer_start(w->loop, &r->timer);
	return r;
}

static void pipe_put(struct l7_worker *w, struct l7_splice *sp)
{
	if (sp->pipe[0] < 0)
		return;
	if (!sp->in_pipe && w->nr_pipes < L7_PIPE_POOL) {
		w->pipe_pool[w->nr_pipes][0] = sp->pipe[0];
		w->pipe_pool[w->nr_pipes][1] = sp->pipe[1];
		w->nr_pipes++;
	} else {
		close(sp->pipe[0]);
		close(sp->pipe[1]);
	}
	sp->pipe[0] = sp->pipe[1] = -1;
}

/* A run's buffer (kTLS source) goes: at the run's end, or when it went quiet. */
static void bounce_put(struct l7_worker *w, struct l7_splice *sp)
{
	if (!sp->buf)
		return;
	free(sp->buf);
	w->shrunk += sp->cap;
	sp->buf = NULL;
	sp->cap = sp->off = 0;
}

/* A buffer for a run of at most @left bytes from a kTLS socket. */
static int bounce_get(struct l7_splice *sp, uint64_t left)
{
	size_t cap = left < L7_KTLS_RX_BUF ? (size_t)left : L7_KTLS_RX_BUF;

	if (sp->buf)
		return 0;
	sp->buf = malloc(cap);
	if (!sp->buf)
		return -ENOMEM;
	sp->cap = cap;
	sp->off = 0;
	return 0;
}

static int pipe_get(struct l7_worker *w, struct l7_splice *sp)
{
	if (sp->pipe[0] >= 0)
		return 0;
	if (w->nr_pipes) {
		w->nr_pipes--;
		sp->pipe[0] = w->pipe_pool[w->nr_pipes][0];
		sp->pipe[1] = w->pipe_pool[w->nr_pipes][1];
		return 0;
	}
	return l7_pipe_open(w, sp->pipe);
}

void l7_relay_free(struct l7_relay *r)
{
	struct l7_worker *w = r->w;

	r->ops->release(r);
	ev_timer_stop(w->loop, &r->timer);
	l7_ep_close(w->loop, &r->c);
	l7_ep_close(w->loop, &r->s);
	l7_relay_server_release(r);
	l7_persist_release(&r->holds);
	l7_vs_conn_close(r->vs_st);
	pipe_put(w, &r->sp_c2s);
	pipe_put(w, &r->sp_s2c);
	bounce_put(w, &r->sp_c2s);
	bounce_put(w, &r->sp_s2c);
	free(r->cin);
	free(r->sin);
	exlb_buf_free(&r->to_s);
	exlb_buf_free(&r->to_c);
	if (r->prev)
		r->prev->next = r->next;
	else
		w->relays = r->next;
	if (r->next)
		r->next->prev = r->prev;
	w->nr_relays--;
	free(r);	/* the connection: its relay comes first */
}

void l7_relay_set_term(struct l7_relay *r, char who, char phase)
{
	if (r->term[0] != '-')
		return;		/* the first reason wins */
	r->term[0] = who;
	r->term[1] = phase;
}

const char *l7_relay_tls_kind(const struct l7_relay *r)
{
	/* with kTLS both ways the SSL object is gone (proxy_io.c) */
	if (r->c.ktls_tx || r->c.ktls_rx)
		return "ktls";
	return r->c.ssl && r->c.handshake_done ? "userspace" : "none";
}

void l7_relay_tls_up(struct l7_relay *r)
{
	struct exlb_proxy *p = r->w->proxy;
	struct l7_vs_state *vs = r->vs_st;

	if (vs && r->c.handshake_done) {
		atomic_fetch_add_explicit(r->c.resumed ? &vs->tls_resumed : &vs->tls_full,
					  1, memory_order_relaxed);
		if (r->c.ktls_tx)
			atomic_fetch_add_explicit(&vs->ktls_tx, 1, memory_order_relaxed);
		if (r->c.ktls_rx)
			atomic_fetch_add_explicit(&vs->ktls_rx, 1, memory_order_relaxed);
	}
	if (r->c.ktls_tx || r->c.ktls_rx) {
		atomic_fetch_add(&p->ktls_conns, 1);
		return;
	}
	atomic_fetch_add(&p->userspace_conns, 1);
	/* --tls-relay ktls asked for it: say once why not */
	if (p->opts.tls_relay == EXLB_TLS_RELAY_KTLS &&
	    !atomic_exchange(&p->ktls_warned, true))
		exlb_log(LOG_NOTICE, "proxy: kTLS not used for a %s %s session "
			 "(needs AES-GCM and the kernel's tls module); "
			 "relaying in userspace",
			 r->c.ssl ? SSL_get_version(r->c.ssl) : "?",
			 r->c.ssl ? SSL_get_cipher_name(r->c.ssl) : "?");
}

/* The VS's counter of termination code @term (EXLB_TERM_WHO x _PHASE). */
static void count_term(struct l7_vs_state *vs, const char term[2])
{
	const char *who = strchr(EXLB_TERM_WHO, term[0]);
	const char *phase = strchr(EXLB_TERM_PHASE, term[1]);

	if (!vs || !term[0] || !term[1] || !who || !phase)
		return;
	atomic_fetch_add_explicit(&vs->term[(who - EXLB_TERM_WHO) * EXLB_TERM_PHASES +
					    (phase - EXLB_TERM_PHASE)],
				  1, memory_order_relaxed);
}

void l7_relay_log(struct l7_relay *r, struct l7_log_entry *e)
{
	e->client = &r->peer;
	e->vs_id = r->vs_id;
	e->subvs_id = r->subvs_id;
	e->rs = r->rs_id ? r->rs_label : NULL;
	e->bytes_in = r->bytes_in;
	e->bytes_out = r->bytes_out;
	e->tls = l7_relay_tls_kind(r);
	memcpy(e->term, r->term, sizeof(e->term));
	l7_access_log(r->w->proxy, e);
	count_term(r->vs_st, e->term);
	/* an HTTP request a real server answered ("-": not HTTP, mail) */
	if (r->rs_st && e->method && strcmp(e->method, "-"))
		atomic_fetch_add_explicit(&r->rs_st->requests, 1, memory_order_relaxed);
	if (r->rs_st) {
		atomic_fetch_add(&r->rs_st->bytes_in, r->bytes_in);
		atomic_fetch_add(&r->rs_st->bytes_out, r->bytes_out);
	}
}

/* ---- buffers ---- */

void l7_relay_drop_front(char *buf, size_t *len, size_t n)
{
	memmove(buf, buf + n, *len - n);
	*len -= n;
}

ssize_t l7_relay_read(struct l7_relay *r, bool client)
{
	struct l7_ep *ep = client ? &r->c : &r->s;
	char **buf = client ? &r->cin : &r->sin;
	size_t *len = client ? &r->cin_len : &r->sin_len;
	struct l7_splice *sp = client ? &r->sp_c2s : &r->sp_s2c;
	ssize_t n;

	if (ep->fd < 0 || ep->eof || !ep->handshake_done || *len >= L7_BUF ||
	    sp->active || (!client && r->s_connecting))
		return 0;
	if (*buf) {
		n = l7_ep_read(ep, *buf + *len, L7_BUF - *len);
	} else {
		/* a quiet connection has no buffer: take one only for bytes */
		n = l7_ep_read(ep, r->w->scratch, L7_BUF);
		if (n > 0) {
			*buf = malloc(L7_BUF);
			if (!*buf)
				return -ENOMEM;
			memcpy(*buf, r->w->scratch, (size_t)n);
		}
	}
	if (n > 0) {
		*len += (size_t)n;
		r->last_activity = ev_now(r->w->loop);
	}
	return n;
}

ssize_t l7_relay_flush(struct l7_relay *r, bool client)
{
	struct l7_ep *ep = client ? &r->c : &r->s;
	struct exlb_buf *b = client ? &r->to_c : &r->to_s;
	struct l7_splice *ahead = client ? &r->sp_s2c : &r->sp_c2s;
	ssize_t done = 0;

	if (ep->fd < 0 || ahead->in_pipe || !ep->handshake_done ||
	    (!client && r->s_connecting))
		return 0;
	while (b->len) {
		ssize_t n = l7_ep_write(ep, b->data, b->len);

		if (n > 0) {
			l7_relay_drop_front(b->data, &b->len, (size_t)n);
			r->last_activity = ev_now(r->w->loop);
			done += n;
			continue;
		}
		if (n == L7_IO_AGAIN)
			break;
		return n;
	}
	return done;
}

/* Nothing sits in our buffers ahead of what a splice would move. */
static bool splice_clear(struct l7_relay *r, bool c2s)
{
	struct l7_ep *src = c2s ? &r->c : &r->s;
	struct l7_ep *dst = c2s ? &r->s : &r->c;

	if (src->fd < 0 || dst->fd < 0 || r->s_connecting ||
	    !dst->handshake_done || src->eof || dst->shut)
		return false;
	if (!l7_ep_can_splice_from(src) || !l7_ep_can_splice_to(dst))
		return false;
	return c2s ? !r->cin_len && !r->to_s.len : !r->sin_len && !r->to_c.len;
}

/*
 * How much of the @in_pipe bytes to write to @dst now, and whether the
 * write says more follows at once (SPLICE_F_MORE). A kTLS socket closes
 * its TLS record at the end of each splice (Linux 6.1: the last page goes
 * without MSG_SENDPAGE_NOTLAST) and pushes a partial TCP segment with it:
 * a pipe written out whenever a few KiB arrived makes small records and
 * small segments, each costing the client a decryption and both sides a
 * packet. While more of the run is being taken in (@src_dry false: the
 * last read found bytes; @left: the run goes on), only whole records go
 * out, marked MORE, and at least one byte stays in the pipe: a MORE write
 * is always followed by another one from this same pipe, so nothing is
 * held back in the kernel (an open record on newer kernels, a corked
 * segment on 6.1) waiting for bytes that may not come. The rest goes out
 * without MORE once the source has nothing more now or the run's last
 * byte is in the pipe: the end of a body never waits.
 */
static size_t splice_out_len(const struct l7_ep *dst, size_t in_pipe,
			     uint64_t left, bool src_dry, unsigned int *flags)
{
	*flags = 0;
	if (!dst->ktls_tx || !left || src_dry)
		return in_pipe;
	*flags = SPLICE_F_MORE;
	return (in_pipe - 1) / L7_TLS_RECORD * L7_TLS_RECORD;
}

/*
 * How many bytes the run may take in now (0: what it holds goes out
 * first). A pipe takes more while it holds at most a record (it then has
 * room): what is there goes out together with what came. A buffer takes
 * more while a whole record fits behind what it holds.
 */
static size_t in_room(struct l7_splice *sp)
{
	size_t room;

	if (!sp->buf)
		return sp->in_pipe <= L7_TLS_RECORD ? L7_SPLICE_CHUNK : 0;
	if (!sp->in_pipe)
		sp->off = 0;
	room = sp->cap - sp->off - sp->in_pipe;
	return room >= L7_TLS_RECORD || room == sp->cap ? room : 0;
}

/*
 * Why a kTLS source is read, not spliced: the kernel hands out one record
 * per splice() (Linux 6.1, tls_sw_splice_read()) and the pipe then needs
 * a splice() out per record too, while one recvmsg() takes every whole
 * record there is, decrypting it straight into our buffer (TLS 1.3 with
 * TLS_RX_EXPECT_NO_PAD, ktls.c; TLS 1.2 always), and one write() passes
 * them on. bench/https/ktls-rx.c measured the receiving relay's CPU per
 * MiB (docs/benchmarks.md, "kTLS + splice bulk").
 */
static ssize_t run_in(struct l7_splice *sp, struct l7_ep *src, size_t max)
{
	if (!sp->buf)
		return l7_splice_in(src, sp->pipe[1], max);
	return l7_ep_read(src, sp->buf + sp->off + sp->in_pipe, max);
}

static ssize_t run_out(struct l7_splice *sp, struct l7_ep *dst, bool src_dry)
{
	unsigned int flags;
	size_t len;

	if (sp->buf)
		return l7_ep_write(dst, sp->buf + sp->off, sp->in_pipe);
	len = splice_out_len(dst, sp->in_pipe, sp->left, src_dry, &flags);
	return len ? l7_splice_out(sp->pipe[0], dst, len, flags) : 0;
}

int l7_relay_splice(struct l7_relay *r, bool c2s)
{
	struct l7_splice *sp = c2s ? &r->sp_c2s : &r->sp_s2c;
	struct l7_ep *src = c2s ? &r->c : &r->s;
	struct l7_ep *dst = c2s ? &r->s : &r->c;
	bool src_dry = false;
	size_t room;
	int ret = 0;
	ssize_t n;

	if (!sp->active) {
		if (!splice_clear(r, c2s))
			return 0;
		sp->left = r->ops->splice_budget(r, c2s);
		if (!sp->left || (src->ktls_rx ? bounce_get(sp, sp->left) :
				  pipe_get(r->w, sp)))
			return 0;
		sp->active = true;
	}
	room = sp->left ? in_room(sp) : 0;
	if (room) {
		n = run_in(sp, src, sp->left < room ? (size_t)sp->left : room);
		if (n > 0) {
			sp->in_pipe += (size_t)n;
			if (sp->left != UINT64_MAX) {
				sp->left -= (uint64_t)n;
				sp->msg_end = !sp->left;
			}
			if (c2s)
				r->bytes_in += (uint64_t)n;
			else
				r->bytes_out += (uint64_t)n;
			if (r->ops->spliced)
				r->ops->spliced(r, c2s, (uint64_t)n);
			r->last_activity = ev_now(r->w->loop);
			ret |= L7_SPLICE_PROGRESS;
		} else if (n == L7_IO_AGAIN) {
			src_dry = true;
		} else if (n == L7_IO_EOF || n == -EINVAL) {
			/*
			 * EOF, or a kTLS control record (alert, close_notify):
			 * the read path reads it (l7_ep_read(): the end).
			 */
			sp->left = 0;
			src->eof = false;
		} else {
			/*
			 * A reset: the end of that direction, as the read path
			 * takes it in a byte stream. (A mail client closing
			 * right after the server's 221 / BYE gets our
			 * close_notify and answers it with a RST.)
			 */
			sp->left = 0;
			src->eof = true;
			ret |= L7_SPLICE_RESET;
		}
	}
	if (sp->in_pipe) {
		n = run_out(sp, dst, src_dry);
		if (n > 0) {
			sp->in_pipe -= (size_t)n;
			sp->off += sp->buf ? (size_t)n : 0;
			ret |= L7_SPLICE_PROGRESS;
		} else if (n && n != L7_IO_AGAIN) {
			return L7_SPLICE_PROGRESS | L7_SPLICE_WRITE_ERR;
		}
	}
	if (!sp->in_pipe && !sp->left) {
		sp->active = false;
		bounce_put(r->w, sp);
		if (sp->msg_end) {
			sp->msg_end = false;
			ret |= L7_SPLICE_MSG_END;
		}
		ret |= L7_SPLICE_PROGRESS;
	}
	return ret;
}

void l7_relay_reset_on_close(struct l7_relay *r)
{
	l7_ep_reset_on_close(&r->c);
	l7_ep_reset_on_close(&r->s);
}

/* Everything the server sent (to its EOF) reached the client's side. */
static bool s2c_done(const struct l7_relay *r)
{
	return (r->s.eof || r->s.fd < 0) && !r->sin_len && !r->to_c.len &&
	       !r->sp_s2c.in_pipe;
}

bool l7_relay_half_close(struct l7_relay *r, bool *progress)
{
	if (r->c.eof && !r->cin_len && !r->to_s.len && !r->sp_c2s.in_pipe &&
	    !r->s.shut && r->s.fd >= 0) {
		/*
		 * Both directions are done: the relay is closed right after
		 * this, and close() sends the plain server its FIN (nothing
		 * is left unread: it sent EOF). A shutdown() first would be
		 * a system call per session for nothing. A TLS server still
		 * gets its close_notify.
		 */
		if (r->s.ssl || !s2c_done(r))
			l7_ep_shutdown(&r->s);
		r->s.shut = true;
		*progress = true;
	}
	if (s2c_done(r) && !r->c.shut) {
		l7_ep_shutdown(&r->c);
		*progress = true;
	}
	return r->c.shut && (r->s.shut || r->s.fd < 0);
}

/* ---- readiness and time ---- */

static int read_events(const struct l7_ep *ep)
{
	return ep->want_read_events ? ep->want_read_events : EV_READ;
}

static int write_events(const struct l7_ep *ep)
{
	return ep->want_write_events ? ep->want_write_events : EV_WRITE;
}

void l7_relay_watch(struct l7_relay *r, bool c_read, bool s_read)
{
	struct ev_loop *loop = r->w->loop;
	int ce = 0, se = 0;

	if (!r->c.handshake_done) {
		ce = r->c.hs_events ? r->c.hs_events : EV_READ;
	} else {
		if ((c_read && !r->c.eof && r->cin_len < L7_BUF &&
		     !r->sp_c2s.active) ||
		    (r->sp_c2s.active && !r->sp_c2s.in_pipe))
			ce |= read_events(&r->c);
		if (r->to_c.len || r->sp_s2c.in_pipe)
			ce |= write_events(&r->c);
	}
	if (r->s.fd >= 0) {
		if (r->s_connecting) {
			se = EV_WRITE;
		} else if (!r->s.handshake_done) {
			se = r->s.hs_events ? r->s.hs_events : EV_READ;
		} else {
			if ((s_read && !r->s.eof && r->sin_len < L7_BUF &&
			     !r->sp_s2c.active) ||
			    (r->sp_s2c.active && !r->sp_s2c.in_pipe))
				se |= read_events(&r->s);
			if (r->to_s.len || r->sp_c2s.in_pipe)
				se |= write_events(&r->s);
		}
		l7_ep_watch(loop, &r->s, se);
	}
	l7_ep_watch(loop, &r->c, ce);
	l7_relay_arm(r);
}

/* The relay holds something a quiet connection gives back. */
static bool holds_buffers(const struct l7_relay *r)
{
	return (r->cin && !r->cin_len) || (r->sin && !r->sin_len) ||
	       (r->to_s.data && !r->to_s.len) || (r->to_c.data && !r->to_c.len) ||
	       (r->sp_c2s.buf && !r->sp_c2s.in_pipe) ||
	       (r->sp_s2c.buf && !r->sp_s2c.in_pipe) ||
	       (r->ops->holds && r->ops->holds(r));
}

/*
 * A run from a kTLS socket that went quiet with its buffer empty ends and
 * gives the buffer back (a mail session or a tunnel runs to its EOF, an
 * Outlook Anywhere body announces a gigabyte and waits). The next bytes
 * start a new run with the kind's budget, which counts what went.
 */
static void quiet_run(struct l7_relay *r, struct l7_splice *sp)
{
	if (!sp->buf || sp->in_pipe || sp->msg_end)
		return;
	bounce_put(r->w, sp);
	sp->active = false;
}

static void shrink(struct l7_relay *r)
{
	struct l7_worker *w = r->w;

	if (r->cin && !r->cin_len) {
		free(r->cin);
		r->cin = NULL;
		w->shrunk += L7_BUF;
	}
	if (r->sin && !r->sin_len) {
		free(r->sin);
		r->sin = NULL;
		w->shrunk += L7_BUF;
	}
	if (!r->to_s.len) {
		w->shrunk += r->to_s.cap;
		exlb_buf_free(&r->to_s);
	}
	if (!r->to_c.len) {
		w->shrunk += r->to_c.cap;
		exlb_buf_free(&r->to_c);
	}
	quiet_run(r, &r->sp_c2s);
	quiet_run(r, &r->sp_s2c);
	if (r->ops->shrink)
		r->ops->shrink(r);
}

static ev_tstamp next_deadline(const struct l7_relay *r)
{
	ev_tstamp d = r->ops->deadline(r);

	/* what a quiet connection need not hold goes once it is quiet */
	if (holds_buffers(r) && r->last_activity + L7_SHRINK_S < d)
		d = r->last_activity + L7_SHRINK_S;
	return d;
}

void l7_relay_arm(struct l7_relay *r)
{
	struct ev_loop *loop = r->w->loop;
	double in = next_deadline(r) - ev_now(loop);

	if (in < 0.001)
		in = 0.001;
	/* an earlier firing re-checks and re-arms: only ever move it nearer */
	if (ev_is_active(&r->timer) && ev_timer_remaining(loop, &r->timer) <= in)
		return;
	ev_timer_stop(loop, &r->timer);
	ev_timer_set(&r->timer, in, 0);
	ev_timer_start(loop, &r->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct l7_relay *r = t->data;
	ev_tstamp now = ev_now(loop);

	(void)revents;
	if (now - r->last_activity >= L7_SHRINK_S)
		shrink(r);
	if (now < r->ops->deadline(r)) {
		l7_relay_arm(r);
		return;
	}
	r->ops->timeout(r);
}

/* ---- the server connection ---- */

int l7_relay_dial(struct l7_worker *w, const struct l7_rs *rs)
{
	int one = 1, fd;

	fd = l7_fd_admit(w, socket(rs->addr.ss_family,
				   SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (fd < 0)
		return fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&rs->addr, rs->addrlen) &&
	    errno != EINPROGRESS) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

void l7_relay_server_set(struct l7_relay *r, int fd, const struct l7_rs *rs,
			 double connect_s, bool connecting)
{
	l7_ep_init(&r->s, fd);
	r->s.io.data = r;
	ev_set_cb(&r->s.io, on_server_io);
	r->s_connecting = connecting;
	r->s_since = ev_now(r->w->loop);
	r->connect_s = connect_s;
	r->rs_id = rs->id;
	r->rs_st = rs->st;
	l7_rs_conn_open(rs->st);
	memcpy(r->rs_label, rs->label, sizeof(r->rs_label));
}

void l7_relay_server_close(struct l7_relay *r)
{
	l7_ep_close(r->w->loop, &r->s);
	r->s_connecting = false;
	r->sin_len = 0;
}

void l7_relay_server_release(struct l7_relay *r)
{
	if (r->rs_st) {
		l7_rs_conn_close(r->rs_st);
		r->rs_st = NULL;
	}
}

int l7_relay_connect_done(struct l7_relay *r, int revents)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (r->s.fd < 0 || !r->s_connecting || !(revents & EV_WRITE))
		return 0;
	if (getsockopt(r->s.fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
		return err ? err : EIO;
	l7_rs_connect_ok(r->rs_st);
	r->s_connecting = false;
	return 1;
}

bool l7_relay_retry(struct l7_relay *r, struct l7_subvs *sv, uint32_t failed,
		    struct l7_rs_state *st, int err, bool passive, bool can)
{
	struct exlb_proxy *p = r->w->proxy;
	bool local = err == EMFILE || err == ENFILE || err == ENOMEM;

	can = can && sv && !local && r->nr_tried < L7_CONNECT_TRIES;
	if (passive && st && !local)
		l7_rs_connect_failed(p, st, err, can);
	if (!can)
		return false;
	r->tried[r->nr_tried++] = failed;
	while (r->nr_tried < L7_CONNECT_TRIES) {
		struct l7_rs *rs = l7_pick_rs(sv, &r->peer, &r->holds, r->tried,
					      r->nr_tried);
		int e;

		/*
		 * Every serving RS was tried. A connect that timed out may be
		 * a SYN dropped by a busy server's full backlog: the one still
		 * serving gets another try (passive health takes a dead one
		 * out). A refusal is an answer: no second try.
		 */
		if (!rs && err == ETIMEDOUT)
			rs = l7_pick_rs(sv, &r->peer, &r->holds, NULL, 0);
		if (!rs)
			return false;
		e = r->ops->server_open(r, sv, rs);
		if (!e)
			return true;
		if (e == -EMFILE || e == -ENFILE || e == -ENOMEM)
			return false;
		l7_rs_connect_failed(p, rs->st, -e, true);
		r->tried[r->nr_tried++] = rs->id;
		err = -e;
	}
	return false;
}

/* ---- all of a worker's relays ---- */

void l7_relays_sweep(struct l7_worker *w)
{
	struct l7_relay *r, *next;
	uint64_t ms = l7_now_ms();

	if (w->shrunk >= L7_TRIM_MIN) {
		malloc_trim(0);
		w->shrunk = 0;
	}
	for (r = w->relays; r; r = next) {
		struct l7_rs *rs;

		next = r->next;
		if (l7_draining(w) && r->ops->idle && r->ops->idle(r) &&
		    ev_now(w->loop) - r->last_activity >= L7_DRAIN_IDLE_S) {
			l7_relay_free(r);	/* as its idle timeout would */
			continue;
		}
		if (r->s.fd < 0 || !r->rs_id || !w->plan)
			continue;
		rs = l7_plan_rs(w->plan, r->vs_id, r->rs_id);
		if (!rs)
			continue;
		if (w->plan->droponfail && rs->failed)
			r->ops->server_lost(r, 'D');
		else if (w->plan->dropatdrainend && rs->draining &&
			 ms - atomic_load(&rs->st->drain_since_ms) >=
			 w->plan->finalpersist * 1000ull)
			r->ops->server_lost(r, 'K');
	}
}

void l7_relays_close_all(struct l7_worker *w)
{
	while (w->relays)
		l7_relay_free(w->relays);
}
