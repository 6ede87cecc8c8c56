/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Inside the L7 proxy: the plan the workers serve from, the workers, and
 * the state that outlives plans (scheduler memory and per-RS counters).
 *
 * A plan is an immutable, reference-counted picture of every proxied VS,
 * compiled by the main thread from the configuration and the health
 * verdicts (plan.c). Each worker holds a reference to its current plan; a
 * connection takes the worker's current plan for each new request, so a
 * request sees one consistent configuration from routing to the end.
 *
 * What a connection may keep across events, and why it stays valid: ids
 * (VS, SubVS, RS), resolved again against a plan it holds (c->plan for the
 * request in progress, else the worker's current one) -- never a pointer
 * into a plan it does not hold; its SSL, which holds its own reference to
 * the TLS contexts it was made from (tls.h); and the l7_rs_state of its
 * server, which is never freed before exit. exlbd-lifetime.sh holds
 * connections in every phase across changes to check it.
 *
 * State that must survive a plan swap -- round-robin position, smooth-WRR
 * weights, persistence records, the open-connection counts that lc/wlc and
 * connection limits need -- lives in l7_sched and l7_rs_state objects that
 * the main thread creates on first sight and never frees before exit
 * (service and RS ids are never reused, so they stay a few bytes each).
 */
#ifndef EXLB_PROXY_INT_H
#define EXLB_PROXY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "content.h"
#include "esp/gate.h"
#include "http1.h"
#include "kmod/sched_core.h"
#include "proxy.h"
#include "tls.h"

/* ---- state that outlives plans ---- */

struct l7_rs_state {
	uint32_t rs_id;
	atomic_uint active;		/* open proxied connections to it */
	atomic_uint_least64_t conns;	/* connections ever made */
	atomic_uint_least64_t bytes_in, bytes_out;
	atomic_uint_least64_t requests;	/* HTTP requests forwarded to it */
	atomic_uint_least64_t drain_since_ms;	/* when it was disabled; 0 = enabled */
	/*
	 * Passive health: connections to it that failed in a row before the
	 * server said anything (connect refused, reset, unreachable, timed
	 * out; a STARTTLS greeting that never came), 0 after a good connect,
	 * and the errno of the last one. Workers count, the main thread
	 * judges (l7_rs_connect_failed()).
	 */
	atomic_uint connect_fails;
	atomic_int last_fail;
	unsigned int fails_seen;	/* main thread: connect_fails last judged */
	struct exlb_sched_target target;	/* guarded by its l7_sched */
	struct l7_rs_state *next;	/* registry chain */
};

/*
 * A VS's open client connections, for MaxConnsLimit, and its figures for
 * /metrics: client TLS handshakes, kTLS use, termination codes (relay.c
 * counts, exlb_proxy_counters() reads).
 */
struct l7_vs_state {
	uint32_t vs_id;
	atomic_uint open;
	atomic_uint_least64_t tls_full, tls_resumed, ktls_tx, ktls_rx;
	atomic_uint_least64_t term[EXLB_TERM_CODES];
	struct l7_vs_state *next;	/* registry chain */
};

struct l7_persist;
struct l7_persist_hold;

/*
 * A SubVS's scheduler memory, one for all workers: a client reaching two
 * workers is still one client to its SubVS's persistence, as to exlb.ko's
 * per-service table.
 */
struct l7_sched {
	uint32_t service_id;
	pthread_mutex_t lock;
	struct exlb_sched_state st;
	struct l7_persist *persist;	/* Persist=src records, guarded by lock */
	uint64_t persist_timeout_ms;	/* its PersistTimeout now, guarded by lock */
	struct l7_sched *next;		/* registry chain */
};

/*
 * persist.c. A plan for the SubVS of @s is built: persistence is @on with
 * @timeout_s (records released from now on last that long; off forgets
 * every record, as exlb.ko does). Main thread.
 */
void l7_persist_configure(struct l7_sched *s, bool on, unsigned int timeout_s);
/*
 * A client connection ends: every persistence record it was scheduled
 * through (l7_pick_rs()) loses its hold, and one whose last connection
 * this was times out PersistTimeout from now. Empties @holds.
 */
void l7_persist_release(struct l7_persist_hold **holds);
/* At exit: a SubVS's records. */
void l7_persist_free(struct l7_persist *ps);
/* The records @ps holds (expired ones not yet swept too); under its lock. */
size_t l7_persist_count(const struct l7_persist *ps);

/* ---- the plan ---- */

struct l7_rs {
	uint32_t id;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char label[64];			/* "198.18.1.11:80" */
	unsigned int weight, limit;
	bool serving;			/* takes new connections */
	bool failed;			/* health down: droponfail closes its connections */
	bool draining;			/* disabled: dropatdrainend closes after finalpersist */
	struct l7_rs_state *st;
};

struct l7_subvs {
	uint32_t id;			/* the SubVS id, or the VS id for a VS without SubVSs */
	char name[EXLB_NICKNAME_SIZE];
	struct exlb_content_rule **rules;	/* any one matching selects it */
	size_t nr_rules;
	struct l7_rs *rs;
	size_t nr_rs;
	unsigned int schedule;		/* enum exlb_sched */
	unsigned int persist;		/* enum exlb_persist (none, src) */
	unsigned int persist_timeout;
	unsigned int persist_mask;
	double connect_s;		/* its health Timeout: connect (and greeting) limit */
	struct l7_sched *sched;
	struct esp_gate *esp;		/* EspEnabled=1: its gate; NULL = off */
};

enum l7_vs_kind {
	L7_VS_HTTP,		/* HTTP/1.1 proxy with content switching */
	L7_VS_TUNNEL,		/* TLS offload of a byte stream (no HTTP) */
	L7_VS_STARTTLS,		/* SMTP/IMAP/POP3 with STARTTLS (mail_conn.c) */
};

struct l7_vs {
	uint32_t id;
	char name[EXLB_NICKNAME_SIZE + 64];	/* "VS VIP:PORT (NickName)", for logs */
	enum l7_vs_kind kind;
	struct sockaddr_storage vip;
	socklen_t viplen;
	struct exlb_tls_vs *tls;	/* TLS from clients; NULL = plain */
	bool reencrypt;			/* TLS to the RS */
	unsigned int error_code;
	char error_url[512];
	unsigned int idle_s;		/* Idletime, else global conntimeout */
	unsigned int max_conns;		/* MaxConnsLimit; 0 = none */
	struct l7_vs_state *st;
	unsigned int starttls_mode;	/* StartTLSMode: 1/2 SMTP, 4 IMAP, 6 POP3 */
	unsigned int server_init;	/* ServerInit */
	struct exlb_http_fwd_opts fwd;	/* client_addr filled per connection */
	struct exlb_content_rule **req_rules, **resp_rules;
	size_t nr_req_rules, nr_resp_rules;
	struct l7_subvs *subvs;
	size_t nr_subvs;
	bool has_subvs;			/* false: subvs[0] is the VS itself */
	/*
	 * EspEnabled=1 on the VS: with SubVSs, its gate applies to every
	 * request before the SubVS's own (without, subvs[0].esp is the same
	 * gate); an SMTP VS's RCPT TO check (mail_conn.c).
	 */
	struct esp_gate *esp;
	/*
	 * ESP on the VS or any of its SubVSs: one of those gates (not owned),
	 * under whose name a target that cannot be normalised is refused.
	 * Every request of such a VS is routed and forwarded normalised.
	 */
	const struct esp_gate *esp_any;
};

struct l7_plan {
	atomic_int refs;
	uint64_t generation;
	struct l7_vs *vs;
	size_t nr_vs;
	bool droponfail, dropatdrainend;
	unsigned int finalpersist;
};

uint64_t l7_now_ms(void);	/* CLOCK_MONOTONIC */

/*
 * plan.c: a new plan for @cfg and the verdicts of @rt (one reference), or
 * NULL without memory. Main thread.
 */
struct l7_plan *l7_plan_build(struct exlb_proxy *p, const struct exlb_config *cfg,
			      const struct exlb_runtime *rt);
/* At exit, after the workers: the state that outlives plans. */
void l7_states_free(struct exlb_proxy *p);

void l7_plan_get(struct l7_plan *p);
void l7_plan_put(struct l7_plan *p);
struct l7_vs *l7_plan_vs(struct l7_plan *p, uint32_t vs_id);
struct l7_rs *l7_plan_rs(struct l7_plan *p, uint32_t vs_id, uint32_t rs_id);

/*
 * sched.c. Picks an RS of @sv for a client (persistence first), none of
 * the @nr_avoid in @avoid (RSs this request already failed on); NULL if
 * none serves. With Persist=src the client connection, whose records are
 * @holds (NULL-initialised, given to l7_persist_release() when it ends),
 * holds the record it was scheduled through: as in exlb.ko, a record does
 * not expire while a connection scheduled through it is open.
 */
struct l7_rs *l7_pick_rs(struct l7_subvs *sv, const struct sockaddr_storage *client,
			 struct l7_persist_hold **holds,
			 const uint32_t *avoid, size_t nr_avoid);
/*
 * Connections to an RS may be tried on this many RSs of the SubVS in all,
 * when the earlier ones failed before the request (or a STARTTLS
 * greeting) went anywhere (docs/proxy.md "Connect failures").
 */
#define L7_CONNECT_TRIES	3
/*
 * A connection to the RS of @st failed before the server said anything
 * (@err: a positive errno, ETIMEDOUT for our own timeout) / succeeded.
 * Any worker; failed() counts a retry when @retried and wakes the main
 * thread, which may mark the RS down (passive health).
 */
void l7_rs_connect_failed(struct exlb_proxy *p, struct l7_rs_state *st, int err,
			  bool retried);
void l7_rs_connect_ok(struct l7_rs_state *st);
/* A connection to @rs opens / closes (the counts lc/wlc and limits read). */
void l7_rs_conn_open(struct l7_rs_state *st);
void l7_rs_conn_close(struct l7_rs_state *st);
/*
 * A client connection of @vs is taken (false: MaxConnsLimit reached,
 * nothing counted) / has ended.
 */
bool l7_vs_conn_admit(struct l7_vs *vs);
void l7_vs_conn_close(struct l7_vs_state *st);

/* ---- workers ---- */

struct l7_relay;
struct l7_listener;

struct l7_worker {
	struct exlb_proxy *proxy;
	unsigned int index;
	pthread_t thread;
	struct ev_loop *loop;
	ev_async wake;
	ev_timer sweep;
	ev_prepare log_flush;		/* access log lines out before it sleeps */
	/*
	 * Loop lag: a timer every L7_LAG_S, and how late it fired (us): the
	 * last time, the most in this window and in the one before (windows
	 * of L7_LAG_WINDOW_S). Written by the worker, read by the main thread.
	 */
	ev_timer lag;
	double lag_due, lag_window_end;
	atomic_uint_least64_t lag_us, lag_max_us, lag_max_prev_us;
	pthread_mutex_t lock;
	struct l7_plan *next_plan;	/* handed over by the main thread */
	bool stop;
	/*
	 * Listening sockets received from an old exlbd for this worker
	 * (exlb_proxy_adopt_listener()): taken with next_plan, under lock.
	 */
	int *adopt;
	size_t nr_adopt;

	struct l7_plan *plan;		/* current */
	struct l7_listener *listeners;
	/* descriptors from here up are the main thread's (l7_fd_admit()) */
	unsigned int fd_ceiling, fd_limit;
	struct l7_relay *relays;	/* every open client connection (relay.h) */
	size_t nr_relays;
	char scratch[16384];		/* first reads of idle connections */
	int pipe_pool[16][2];		/* spare splice pipes */
	size_t nr_pipes;
	size_t shrunk;			/* bytes quiet relays gave back since the last trim */
	/* idle keep-alive server connections, reusable for any client */
	struct l7_idle_server *idle;
	size_t nr_idle;
};

struct exlb_proxy {
	struct exlb_proxy_opts opts;
	/* opts.remote's end (a worker process); then nothing below is used */
	void *remote;
	struct ev_loop *main_loop;
	struct l7_worker *workers;
	unsigned int nr_workers;
	struct exlb_tls_cache *tls;
	struct l7_plan *plan;		/* the main thread's current one */
	/* received listeners not yet given to workers (main thread) */
	int *adopt;
	size_t nr_adopt;
	/*
	 * The old exlbd of an upgrade drains (exlb_proxy_drain()): no
	 * listeners, each HTTP answer says Connection: close, connections
	 * idle between requests are closed; the rest run to their end.
	 */
	atomic_bool draining;
	uint64_t generation;
	/* registries: main thread only */
	struct l7_sched *scheds;
	struct l7_rs_state *rs_states;
	struct l7_vs_state *vs_states;
	FILE *access_log;		/* fully buffered: l7_access_log_flush() */
	pthread_mutex_t log_lock;
	atomic_bool log_dirty;		/* lines in access_log's buffer */
	atomic_uint_least64_t ktls_conns, userspace_conns;
	atomic_bool ktls_warned;
	/* the descriptor budget (docs/proxy.md "Descriptor limit") */
	atomic_uint fd_reserve;		/* left to the main thread */
	atomic_uint_least64_t conns_refused;	/* accepted, closed at once */
	atomic_uint_least64_t conns_over_limit;	/* the same, for MaxConnsLimit */
	struct exlb_log_limit limit_log;
	atomic_uint_least64_t accept_pauses;	/* a listener rested 100 ms */
	atomic_uint_least64_t fd_short;	/* server sockets, pipes not opened */
	struct exlb_log_limit fd_log;
	/* passive health: workers wake the main thread after a connect failure */
	ev_async rs_failed;
	atomic_uint_least64_t connect_retries;	/* requests tried on another RS */
};

/*
 * Every descriptor a worker opens passes here: @fd (or -1 with errno) is
 * returned if it lies below the worker's ceiling, else closed, counted and
 * -EMFILE returned. Linux hands out the lowest free number, so a number at
 * the ceiling means every one below is taken: the proxy never holds one of
 * the descriptors reserved for health checks and the control socket.
 */
static inline bool l7_draining(const struct l7_worker *w)
{
	return atomic_load_explicit(&w->proxy->draining, memory_order_relaxed);
}

int l7_fd_admit(struct l7_worker *w, int fd);
/* pipe2() under the same rule; 0 or a negative errno (@pipe then -1, -1). */
int l7_pipe_open(struct l7_worker *w, int pipe[2]);

/*
 * proxy_conn.c: connections of a worker. l7_accept() and l7_mail_accept()
 * take @fd and the admission l7_vs_conn_admit() gave it, and give both
 * back when the connection ends.
 */
void l7_accept(struct l7_worker *w, int fd, struct l7_vs *vs,
	       const struct sockaddr_storage *peer);
void l7_idle_servers_expire(struct l7_worker *w, ev_tstamp now, bool all);

/* mail_conn.c: a STARTTLS connection of a worker */
void l7_mail_accept(struct l7_worker *w, int fd, struct l7_vs *vs,
		    const struct sockaddr_storage *peer);

/* accesslog.c */
struct l7_log_entry {
	const struct sockaddr_storage *client;
	uint32_t vs_id, subvs_id;
	const char *rs;			/* "addr:port" or NULL */
	const char *method, *target;	/* NULL when no request was read */
	size_t target_len;
	unsigned int http_minor;
	unsigned int status;		/* 0: none sent */
	uint64_t bytes_in, bytes_out;
	double ms;
	char term[3];			/* HAProxy-style, e.g. "CD" */
	const char *tls;		/* "ktls", "userspace", "none" */
};

void l7_access_log(struct exlb_proxy *p, const struct l7_log_entry *e);
/*
 * Writes out the lines l7_access_log() buffered: every worker calls it
 * before its loop waits for events, so a line is out by the time the
 * worker sleeps, and a busy worker writes many lines in one write().
 */
void l7_access_log_flush(struct exlb_proxy *p);
/*
 * Opens (appends to) the access log at @path: created 0640 and given to
 * group exlb when that group exists; an existing regular file loses the
 * permissions of others (refused if it cannot). NULL and @err on failure.
 */
FILE *l7_access_log_open(const char *path, struct exlb_err *err);
void l7_sockaddr_format(const struct sockaddr_storage *ss, char *buf,
			size_t n, bool with_port);

#endif
