/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The relay: what every proxied client connection of a worker has, whatever
 * it speaks -- two endpoints (the client, and the real server once there is
 * one), a bounded read buffer and write queue per direction, a splice pipe
 * per direction, the byte counters of its log line, its timer and its
 * termination code -- and the one implementation of moving bytes with them:
 * reading, flushing, splicing, watching readiness, the server connection's
 * dial, retry and close, quiet connections giving back their buffers, the
 * droponfail / drain-end sweep, and freeing.
 *
 * The kinds on top (proxy_conn.c: HTTP requests and TLS offload tunnels;
 * mail_conn.c: STARTTLS sessions) embed a struct l7_relay, keep their own
 * dialogue (HTTP framing and a request's life; the greeting and the line
 * phase of mail) and answer the relay through struct l7_relay_ops.
 *
 * Every worker keeps one list of its relays of both kinds: one sweep walks
 * it after each plan change and every second.
 */
#ifndef EXLB_RELAY_H
#define EXLB_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "http1.h"
#include "proxy_int.h"
#include "proxy_io.h"

#define L7_BUF			16384	/* read buffer per direction */
#define L7_MAX_PENDING		65536	/* queued for a writer before we stop reading */
#define L7_SPLICE_CHUNK		(256 * 1024)
#define L7_TLS_RECORD		16384	/* a TLS record's most plaintext */
/*
 * A splice run from a kTLS receive socket goes through a buffer of this
 * size (at most the run's budget), not a pipe: one recvmsg() decrypts every
 * record that is there straight into it, one write() passes them on
 * (relay.c, l7_relay_splice()).
 */
#define L7_KTLS_RX_BUF		(256 * 1024)
#define L7_PUMP_ROUNDS		64
/*
 * Nothing moved either way for this long: the connection is quiet and
 * gives back its empty buffers (and, by its kind, its parser). Not at
 * every pass: a busy keep-alive connection keeps them.
 */
#define L7_SHRINK_S		1.0

/*
 * A draining worker (an upgrade's old exlbd) closes a keep-alive
 * connection once it was idle this long between requests: a client busy
 * on it sends its next request first and gets it answered with
 * Connection: close (closing at once would race with that request: the
 * client would have to retry it).
 */
#define L7_DRAIN_IDLE_S		1.0
/*
 * One direction of splice(): src -> pipe -> dst, or, from a kTLS receive
 * socket, src -> buf -> dst (the bytes then pass through our memory once,
 * decrypted by the kernel into it; see l7_relay_splice()).
 */
struct l7_splice {
	int pipe[2];
	char *buf;		/* kTLS source: the run's buffer, or NULL */
	size_t cap, off;	/* its size; where its in_pipe bytes start */
	size_t in_pipe;		/* bytes in the pipe (buf) not yet written out */
	uint64_t left;		/* bytes this run may still take from src */
	bool active;
	bool msg_end;		/* the run's last byte is in the pipe */
};

struct l7_relay;

struct l7_relay_ops {
	/* Runs every step that can progress; frees the relay when it ends. */
	void (*pump)(struct l7_relay *r, int s_revents);
	/* When the current phase runs out of time. */
	ev_tstamp (*deadline)(const struct l7_relay *r);
	/* The deadline passed: end or move on, then pump. */
	void (*timeout)(struct l7_relay *r);
	/*
	 * How many bytes direction @c2s may splice from now (UINT64_MAX: up to
	 * EOF, 0: not now); asked only when the relay found nothing in the way.
	 */
	uint64_t (*splice_budget)(struct l7_relay *r, bool c2s);
	/* @n bytes went into a pipe unseen (HTTP: the parser skips them). */
	void (*spliced)(struct l7_relay *r, bool c2s, uint64_t n);
	/* Opens a server connection to @rs of @sv: 0 or a negative errno. */
	int (*server_open)(struct l7_relay *r, struct l7_subvs *sv,
			   struct l7_rs *rs);
	/*
	 * The RS of the server connection failed (droponfail, @who 'D') or its
	 * drain ended (dropatdrainend, 'K'): the kind ends or moves on.
	 */
	void (*server_lost)(struct l7_relay *r, char who);
	/*
	 * Quiet: whether the kind holds something it would give back (a
	 * parser), and gives it back (optional, both or neither; shrink()
	 * must leave holds() false).
	 */
	bool (*holds)(const struct l7_relay *r);
	void (*shrink)(struct l7_relay *r);
	/*
	 * Between requests with nothing of the next one received, after at
	 * least one answer (optional: NULL never). A draining worker (an
	 * upgrade's old exlbd) closes such a connection once it stayed so
	 * L7_DRAIN_IDLE_S; any other runs to its end.
	 */
	bool (*idle)(const struct l7_relay *r);
	/* Gives back the kind's own state before the relay is freed. */
	void (*release)(struct l7_relay *r);
};

/* The first member of a connection kind's struct: l7_relay_free() frees it. */
struct l7_relay {
	struct l7_relay *prev, *next;	/* the worker's relays */
	const struct l7_relay_ops *ops;
	struct l7_worker *w;
	uint32_t vs_id, subvs_id;
	struct l7_vs_state *vs_st;	/* counts it while it is open */
	struct sockaddr_storage peer;
	struct l7_persist_hold *holds;	/* records it keeps alive (l7_pick_rs()) */

	struct l7_ep c, s;		/* client, server (s.fd < 0: none) */
	char *cin, *sin;		/* read buffers, L7_BUF each, or NULL */
	size_t cin_len, sin_len;
	struct exlb_buf to_s, to_c;	/* queued for a writer */
	struct l7_splice sp_c2s, sp_s2c;

	/* the server connection */
	bool s_connecting;
	ev_tstamp s_since;		/* when its connect began */
	double connect_s;		/* its SubVS's connect limit */
	uint32_t rs_id;			/* its RS (0: none) */
	struct l7_rs_state *rs_st;	/* counted open while set */
	char rs_label[64];		/* "198.18.1.11:80" */
	/* RSs whose connections failed before anything went through */
	uint32_t tried[L7_CONNECT_TRIES];
	unsigned int nr_tried;

	uint64_t bytes_in, bytes_out;	/* from / to the client, for the log */
	ev_tstamp last_activity;	/* a byte moved */
	char term[3];			/* why it ended: HAProxy-style */
	ev_timer timer;
	bool dead;
};

#define l7_relay_of(ptr, type) \
	((type *)((char *)(ptr) - offsetof(type, r)))

/*
 * A new connection of @size bytes (a struct starting with its relay) that
 * takes @fd, accepted from @peer for @vs (its admission counted), as the
 * client side; on the worker's list, its timer started at @first_s. The
 * kind then fills in the rest and pumps. NULL (@fd closed, the admission
 * given back) without memory.
 */
struct l7_relay *l7_relay_new(size_t size, const struct l7_relay_ops *ops,
			      struct l7_worker *w, int fd, struct l7_vs *vs,
			      const struct sockaddr_storage *peer, double first_s);
/*
 * The kind's release(), then closes both sides, gives back pipes, buffers
 * and counts, unlinks and frees the connection. Nothing is logged.
 */
void l7_relay_free(struct l7_relay *r);

void l7_relay_set_term(struct l7_relay *r, char who, char phase);
/* "ktls", "userspace" or "none": the client side's TLS. */
const char *l7_relay_tls_kind(const struct l7_relay *r);
/* The client's TLS handshake is done: counts it (and says once why not kTLS). */
void l7_relay_tls_up(struct l7_relay *r);
/*
 * Fills the fields of @e the relay knows (client, ids, RS, bytes, term,
 * TLS), writes the access log line and adds the bytes to the RS's counts.
 */
void l7_relay_log(struct l7_relay *r, struct l7_log_entry *e);

/*
 * Reads from the client (@client) or server side into its read buffer
 * (allocated on the first bytes: a quiet connection holds none): > 0
 * bytes, 0 when the buffer is full or a splice runs that way,
 * L7_IO_AGAIN, L7_IO_EOF or a negative errno.
 */
ssize_t l7_relay_read(struct l7_relay *r, bool client);
/*
 * Writes what is queued for the client (@client) or the server, while the
 * side takes it and no splice is ahead: the bytes written, or a negative
 * errno (the caller ends the connection).
 */
ssize_t l7_relay_flush(struct l7_relay *r, bool client);
/* Removes @n bytes from the front of a read buffer / write queue. */
void l7_relay_drop_front(char *buf, size_t *len, size_t n);

enum {
	L7_SPLICE_PROGRESS = 1,	/* something moved or changed */
	L7_SPLICE_MSG_END = 2,	/* the budget's last byte went out */
	L7_SPLICE_WRITE_ERR = 4,	/* the destination failed */
	L7_SPLICE_RESET = 8,	/* the source failed: taken as its EOF */
};
/*
 * One step of splice in direction @c2s: starts a run when nothing is in
 * the way and the kind's budget allows, takes more in while the pipe holds
 * at most a record, moves pipe contents out (into kTLS: whole records with
 * SPLICE_F_MORE while more is coming, the rest once the source is dry or
 * the run's end is in the pipe; relay.c). From a kTLS receive socket the
 * run reads into a buffer and writes it out instead (several records a
 * call, not one). EOF or a kTLS control record ends the run for the read
 * path to see. Returns L7_SPLICE_* flags.
 */
int l7_relay_splice(struct l7_relay *r, bool c2s);

/* droponfail, dropatdrainend: the coming close sends RSTs both ways. */
void l7_relay_reset_on_close(struct l7_relay *r);

/*
 * A byte stream (a tunnel, mail after the dialogue) ends one direction at
 * a time: a side that reached EOF, with all it sent delivered, has the
 * other side shut (close_notify, FIN). Sets *@progress when it shut one;
 * true once both directions are done.
 */
bool l7_relay_half_close(struct l7_relay *r, bool *progress);

/*
 * Watches what the relay's blocked steps wait for: the client's handshake
 * while it runs, else reads where the kind allows them (@c_read,
 * @s_read) and buffers have room, and writes where something is queued;
 * the server's connect and handshake. Then arms the timer.
 */
void l7_relay_watch(struct l7_relay *r, bool c_read, bool s_read);
/* The timer fires no later than the kind's deadline (or a due shrink). */
void l7_relay_arm(struct l7_relay *r);

/* A new non-blocking connection to @rs, connect in progress: fd or -errno. */
int l7_relay_dial(struct l7_worker *w, const struct l7_rs *rs);
/*
 * @fd (connecting when @connecting) becomes the server side, to @rs of a
 * SubVS with connect limit @connect_s; the RS counts it open.
 */
void l7_relay_server_set(struct l7_relay *r, int fd, const struct l7_rs *rs,
			 double connect_s, bool connecting);
/* Closes the server side; what was read from it goes, what is queued for it stays. */
void l7_relay_server_close(struct l7_relay *r);
/* The RS no longer counts the relay open. */
void l7_relay_server_release(struct l7_relay *r);
/* TCP connect finished on @revents: 1 done, 0 not yet, or a positive errno. */
int l7_relay_connect_done(struct l7_relay *r, int revents);
/*
 * The server connection to RS @failed (@st) failed with @err before it
 * carried anything, and is closed. When @can (the kind: nothing of the
 * server's went to the client), another serving RS of @sv is opened, up
 * to L7_CONNECT_TRIES in all (docs/proxy.md "Connect failures"). @passive:
 * the failure counts towards marking the RS down. False: no server.
 */
bool l7_relay_retry(struct l7_relay *r, struct l7_subvs *sv, uint32_t failed,
		    struct l7_rs_state *st, int err, bool passive, bool can);

/*
 * After a plan change and every second: relays whose RS failed
 * (droponfail) or whose drain ended (dropatdrainend) are handed to their
 * kind's server_lost(); what quiet relays gave back goes back to the
 * kernel.
 */
void l7_relays_sweep(struct l7_worker *w);
void l7_relays_close_all(struct l7_worker *w);

#endif
