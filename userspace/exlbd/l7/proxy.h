/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The L7 proxy of exlbd: every VS that the kernel does not serve (VStype
 * http with or without TLS offload, ErrorCode answers such as the port-80
 * redirect, VSs with SubVSs, TLS offload of a plain TCP service).
 *
 * Threads: the main thread (configuration, health checks, control socket)
 * compiles a plan from the configuration and the health verdicts after
 * every change (exlb_proxy_apply()) and hands it to the workers. Each
 * worker runs its own libev loop with its own listening sockets
 * (SO_REUSEPORT: the kernel spreads new connections over the workers) and
 * owns its connections from accept to close; no connection is ever shared
 * between threads. Number of workers: one per CPU by default.
 *
 * TLS relay: after the handshake, kTLS is installed where the kernel and
 * the negotiated version allow it, each direction on its own (OpenSSL 3.0:
 * TLS 1.2 both ways, TLS 1.3 send only); bodies of known length then move
 * with splice() through a pipe. Elsewhere SSL_read/SSL_write.
 */
#ifndef EXLB_PROXY_H
#define EXLB_PROXY_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>

#include "config/config.h"

struct ev_loop;
struct exlb_proxy;
struct exlb_proxy_remote;
struct exlb_persist_export;

enum exlb_tls_relay {
	EXLB_TLS_RELAY_AUTO,		/* kTLS where it works, else userspace */
	EXLB_TLS_RELAY_KTLS,		/* the same, but say so when it cannot */
	EXLB_TLS_RELAY_USERSPACE,	/* never kTLS: SSL_read/SSL_write */
};

struct exlb_proxy_opts {
	unsigned int workers;		/* 0 = one per CPU */
	enum exlb_tls_relay tls_relay;
	const char *access_log;		/* path; NULL = stdout */
	const char *state_dir;		/* certificates */
	/*
	 * Passive health, in the main thread: connections to RS @rs_id failed
	 * @fails times in a row before the server said anything (@why: the
	 * last reason, "timeout", "connection refused", ...). Returns true if
	 * it marked the RS down; its count then starts again from 0.
	 */
	bool (*rs_failed)(void *ctx, uint32_t rs_id, unsigned int fails,
			  const char *why);
	void *rs_failed_ctx;	/* also @figures' */
	/*
	 * Manager with @remote: the worker process sent its counters; the
	 * caller may take them (exlb_proxy_counters()) now.
	 */
	void (*figures)(void *ctx);
	/*
	 * Privilege separation (docs/privsep.md). Manager: with @remote, the
	 * workers run in one process of their own (exlbd --worker) as
	 * @worker_user, and every call below is answered by @remote on this
	 * side of its channel (proc/manager.c). Worker process: @sandboxed --
	 * it binds no
	 * listener (the manager's come with the configuration) and reads
	 * certificates from the PEM bytes of exlb_proxy_set_pem(), never from
	 * @state_dir (its ESP logons go to the directory process: the worker
	 * called esp_auth_forward()).
	 */
	const struct exlb_proxy_remote *remote;
	const char *worker_user;
	bool sandboxed;
};

/*
 * The calls of this header answered by another end (proc/manager.c, the
 * manager's end of the worker process), same meaning as below; @new's
 * result is the @r of the others.
 */
struct exlb_proxy_remote {
	void *(*new)(struct ev_loop *main_loop, const struct exlb_proxy_opts *opts,
		     struct exlb_err *err);
	void (*free)(void *r);
	int (*reopen_log)(void *r, struct exlb_err *err);
	void (*apply)(void *r, const struct exlb_config *cfg,
		      const struct exlb_runtime *rt);
	void (*set_fd_reserve)(void *r, unsigned int n);
	void (*counters)(void *r, const struct exlb_config *cfg,
			 struct exlb_runtime *rt);
	int (*adopt_listener)(void *r, int fd);
	ssize_t (*listener_fds)(void *r, int **fds);
	void (*drain)(void *r);
	unsigned long (*open_conns)(void *r);
	size_t (*persist_export)(void *r, bool all,
				 struct exlb_persist_export *out, size_t max);
	int (*persist_install)(void *r, const struct exlb_persist_export *rec);
	void (*refresh)(void *r);
};

/*
 * A listening socket for @vip as the proxy makes them (SO_REUSEPORT,
 * IP_FREEBIND, backlog): the descriptor or -errno. The manager binds the
 * worker process's with it.
 */
int exlb_proxy_listen_socket(const struct sockaddr_storage *vip,
			     socklen_t viplen);
/* The access log file opened as the proxy opens it (0640, group exlb). */
FILE *exlb_proxy_access_log_open(const char *path, struct exlb_err *err);

struct exlb_proxy *exlb_proxy_new(struct ev_loop *main_loop,
				  const struct exlb_proxy_opts *opts,
				  struct exlb_err *err);
/* Stops the workers; their connections are closed. */
void exlb_proxy_free(struct exlb_proxy *p);

/*
 * Opens the access log file anew (logrotate moved it away: SIGHUP,
 * SIGUSR1) and switches to it; on failure the old one stays in use.
 * Nothing to do without --access-log FILE.
 */
int exlb_proxy_reopen_log(struct exlb_proxy *p, struct exlb_err *err);

/*
 * Serve @cfg with the health verdicts of @rt from now on: builds a plan
 * and hands it to every worker. Connections in progress keep their plan
 * for the request they are in. Problems of one VS (a certificate that does
 * not load, an address that cannot be bound) are logged; the others serve.
 */
void exlb_proxy_apply(struct exlb_proxy *p, const struct exlb_config *cfg,
		      const struct exlb_runtime *rt);

/*
 * Descriptors the proxy leaves to the main thread: it never keeps one of
 * the last @n below RLIMIT_NOFILE (at most half of it), so health checks
 * and the control socket still get descriptors when clients have taken
 * every other one. Workers pick a new value up with the next plan.
 */
void exlb_proxy_set_fd_reserve(struct exlb_proxy *p, unsigned int n);

/* Copies the proxy's per-RS counters and its descriptor figures into @rt. */
void exlb_proxy_counters(struct exlb_proxy *p, const struct exlb_config *cfg,
			 struct exlb_runtime *rt);

/*
 * The seamless upgrade (docs/upgrade.md).
 *
 * New daemon: @fd, a listening socket received from the old one, is the
 * proxy's; the next exlb_proxy_apply() gives it to a worker whose plan has
 * a VS on the address it is bound to (the sockets of one VS spread over
 * the workers; a worker without one binds its own, SO_REUSEPORT), and
 * closes it if no VS has that address. -1 (and @fd closed) if it is not a
 * listening TCP socket.
 */
int exlb_proxy_adopt_listener(struct exlb_proxy *p, int fd);
/*
 * Old daemon: copies (dup) of every worker's listening sockets, to hand
 * over; *@fds is malloc'd. The count, or -1 without memory.
 */
ssize_t exlb_proxy_listener_fds(struct exlb_proxy *p, int **fds);
/*
 * Old daemon, once the new one serves: the workers close their listening
 * sockets (their copies: the new daemon keeps accepting on them), answer
 * every HTTP response with Connection: close, close connections idle
 * between requests, and let the others run to their end.
 */
void exlb_proxy_drain(struct exlb_proxy *p);
/* Client connections open (all kinds, all workers). */
unsigned long exlb_proxy_open_conns(struct exlb_proxy *p);
/*
 * With a worker process: ask it for its counters now and wait (briefly)
 * for them, so that the next exlb_proxy_counters() is current; in-process
 * a no-op (the counters are read live).
 */
void exlb_proxy_refresh(struct exlb_proxy *p);

/*
 * HA persistence sync (ha/persist_sync.c, docs/ha.md "Persistence sync"),
 * main thread. One Persist=src record: the SubVS, the client key (after
 * PersistMask, 16 bytes), its RS and how long it has left (ms; a record
 * with open connections has its SubVS's whole PersistTimeout).
 */
struct exlb_persist_export {
	uint32_t service_id;
	uint8_t key[16];
	uint32_t rs_id;
	uint32_t ttl_ms;
};

/*
 * Copies into @out (at most @max) the live records that changed since
 * they were last exported (new, another RS, a new expiry, held ones
 * every half PersistTimeout), or every live record with @all, and marks
 * them exported. The count. What does not fit waits for the next call.
 */
size_t exlb_proxy_persist_export(struct exlb_proxy *p, bool all,
				 struct exlb_persist_export *out, size_t max);
/*
 * The standby installs a record its partner sent: a record without
 * connections pointing at @r->rs_id that expires @r->ttl_ms from now (at
 * most the SubVS's PersistTimeout). A record held by a connection here
 * stays as it is. 0, or -1: the SubVS has no scheduler or persistence
 * here, or the table is full (its cap) or memory short.
 */
int exlb_proxy_persist_install(struct exlb_proxy *p,
			       const struct exlb_persist_export *r);

/*
 * Worker process (proc/worker.c), its main thread: the certificates and
 * keys as PEM, {"NAME": {"crt": PEM, "key": PEM}} (a reference is taken);
 * the access log's descriptor (now the proxy's); the passive-health count
 * of RS @rs_id starts again from 0 (the manager marked it down).
 */
void exlb_proxy_set_pem(struct exlb_proxy *p, json_t *pem);
void exlb_proxy_set_log_fd(struct exlb_proxy *p, int fd);
void exlb_proxy_rs_failed_reset(struct exlb_proxy *p, uint32_t rs_id);

/* Whether exlbd's proxy serves @svc (a VS) -- the complement of the kernel. */
bool exlb_proxy_serves(const struct exlb_config *cfg,
		       const struct exlb_service *svc);

#endif
