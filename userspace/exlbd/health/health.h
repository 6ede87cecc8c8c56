/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The health-check engine of exlbd: Kemp's CheckType/CheckUrl/... checks of
 * real servers, all driven by one libev loop (no thread per check).
 *
 * A target is one (VS or SubVS, RS) pair, named by a 64-bit id the caller
 * chooses. The same RS in nine SubVSs is nine independent targets, each with
 * its own URL and its own up/down state: a failing /owa/healthcheck.htm takes
 * the RS out of the OWA SubVS only.
 *
 * State machine of a target (Kemp semantics):
 *   unknown --1 success--------------------> up
 *   unknown --retry_count failures in a row-> down
 *   up      --retry_count failures in a row-> down
 *   down    --rise successes in a row------> up
 * on_change() is called for every transition, including the first verdict
 * out of "unknown"; until then exlb_health_state() answers -EAGAIN and the
 * caller decides what an unknown RS means (exlbd keeps it out of service).
 *
 * Timing: a new target is checked within a second, then every interval_ms
 * from a random place in the interval (so thousands of targets do not fire
 * at once); each attempt,
 * from connect() to the verdict, has timeout_ms. A server that stops is
 * therefore down within interval_ms * retry_count + timeout_ms.
 *
 * The engine ignores SIGPIPE if it was at its default (TLS writes cannot ask
 * for MSG_NOSIGNAL). on_change may add, update or delete targets, but must
 * not free the engine.
 */
#ifndef EXLB_HEALTH_H
#define EXLB_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;

enum exlb_check_type {
	EXLB_CHECK_NONE,	/* always up */
	EXLB_CHECK_TCP,		/* connect() succeeds */
	EXLB_CHECK_ICMP,	/* echo reply */
	EXLB_CHECK_HTTP,	/* status 2xx or one of extra_codes */
	EXLB_CHECK_HTTPS,	/* same over TLS, certificate not verified */
	EXLB_CHECK_SMTP,	/* 220 greeting, EHLO -> 250, QUIT */
	EXLB_CHECK_IMAP4,	/* "* OK" greeting, LOGOUT */
	EXLB_CHECK_POP3,	/* "+OK" greeting, QUIT */
	__EXLB_CHECK_LAST,
};

enum exlb_check_method {
	EXLB_CHECK_HEAD = 0,	/* Kemp CheckUseGet codes */
	EXLB_CHECK_GET = 1,
	EXLB_CHECK_POST = 2,
	EXLB_CHECK_OPTIONS = 3,
};

/* Kemp global defaults (RetryInterval, Timeout, RetryCount). */
#define EXLB_CHECK_DEFAULT_INTERVAL_MS	9000
#define EXLB_CHECK_DEFAULT_TIMEOUT_MS	4000
#define EXLB_CHECK_DEFAULT_RETRY_COUNT	2
#define EXLB_CHECK_DEFAULT_RISE		1
#define EXLB_CHECK_MAX_EXTRA_CODES	16

struct exlb_check_spec {
	enum exlb_check_type type;
	char url[256];		/* CheckUrl; "" = "/" */
	int use_get;		/* CheckUseGet: enum exlb_check_method */
	int use_http11;		/* CheckUse1.1: 0 HTTP/1.0, 1 HTTP/1.1 */
	char host[256];		/* CheckHost: Host header and SNI; "" = RS address */
	int extra_codes[EXLB_CHECK_MAX_EXTRA_CODES];	/* CheckCodes */
	int n_extra_codes;
	uint16_t port;		/* CheckPort; 0 = the RS port */
	/* 0 in any of these means the Kemp default above */
	unsigned int interval_ms;	/* RetryInterval */
	unsigned int timeout_ms;	/* Timeout */
	unsigned int retry_count;	/* failures in a row before down */
	unsigned int rise;		/* successes in a row before down -> up */
};

struct exlb_health;

typedef void (*exlb_health_change_fn)(void *ctx, uint64_t target_id, bool up,
				      const char *reason);

struct exlb_health_stats {
	uint64_t checks;	/* attempts finished */
	uint64_t ok;
	uint64_t failed;
	unsigned int targets;
	unsigned int in_flight;	/* attempts with an open socket */
};

/* Fills @spec with Kemp's defaults: CheckType tcp, url "/", HEAD, HTTP/1.0. */
void exlb_check_spec_init(struct exlb_check_spec *spec);

/* Kemp's CheckType names ("none", "tcp", "icmp", "http", "https", "smtp",
 * "imap"/"imap4", "pop3"), case-insensitive; -1 if unknown. */
int exlb_check_type_from_name(const char *name);
const char *exlb_check_type_name(enum exlb_check_type type);

struct exlb_health *exlb_health_new(struct ev_loop *loop,
				    exlb_health_change_fn on_change, void *ctx);
void exlb_health_free(struct exlb_health *h);

/*
 * Starts checking @rs_addr (AF_INET or AF_INET6, port = RS port) as target
 * @target_id. -EEXIST if the id is in use, -EINVAL for a bad spec or address,
 * -ENOMEM.
 */
int exlb_health_add(struct exlb_health *h, uint64_t target_id,
		    const struct sockaddr_storage *rs_addr,
		    const struct exlb_check_spec *spec);

/*
 * Changes the address or spec of a target. A changed address, type, port or
 * request restarts checking (the running attempt is dropped) but keeps the
 * current verdict until the new checks overturn it; a change of timing only
 * applies from the next attempt. -ENOENT if unknown.
 */
int exlb_health_update(struct exlb_health *h, uint64_t target_id,
		       const struct sockaddr_storage *rs_addr,
		       const struct exlb_check_spec *spec);

void exlb_health_del(struct exlb_health *h, uint64_t target_id);

/*
 * Marks a target down from outside the checks (exlbd's passive health: live
 * connections to it failed), with @reason as its verdict's reason. It is a
 * transition like a failed check's (on_change is called, before this
 * returns): only passing checks bring the target up again, and an attempt
 * running now is dropped. 1 if it changed, 0 if it was down, -ENOENT.
 */
int exlb_health_set_down(struct exlb_health *h, uint64_t target_id,
			 const char *reason);

/*
 * The current verdict and the reason of the last check ("HTTP 200",
 * "timeout after 4000 ms (connect)", ...). 0 with *up set; -EAGAIN while
 * no verdict was reached yet (*up = false); -ENOENT if unknown.
 */
int exlb_health_state(struct exlb_health *h, uint64_t target_id, bool *up,
		      char *reason, size_t n);

/*
 * The last check of @target_id: how long it took (from its start to its
 * verdict, s) and its reason's class ("ok", "timeout", "connect", "tls",
 * "http_status", "io", "icmp", "protocol", "none"). 0, or -ENOENT (unknown,
 * or no check finished yet).
 */
int exlb_health_last_check(struct exlb_health *h, uint64_t target_id,
			   double *seconds, const char **cls);

/*
 * The verdict and the checks in a row behind it, to carry a target over
 * to a new exlbd (docs/upgrade.md). exlb_health_verdict(): -ENOENT if
 * unknown (-EAGAIN as exlb_health_state()). exlb_health_seed(): the
 * target starts from that verdict instead of "no verdict yet"; nobody is
 * notified (the caller's state already says so); -ENOENT if unknown.
 */
int exlb_health_verdict(struct exlb_health *h, uint64_t target_id, bool *up,
			unsigned int *fails, unsigned int *successes);
int exlb_health_seed(struct exlb_health *h, uint64_t target_id, bool up,
		     unsigned int fails, unsigned int successes,
		     const char *reason);

/*
 * https checks: 1 = a full TLS handshake every time; N > 1 = resume the TLS
 * session of the previous good check, with a full handshake at least every
 * N checks and right after any failure. A resumed handshake skips the
 * certificate and signature work, most of a check's CPU; it still proves
 * the server's TLS and HTTP answer. Default EXLB_HEALTH_TLS_FULL_EVERY.
 */
#define EXLB_HEALTH_TLS_FULL_EVERY	1
void exlb_health_set_tls_resume(struct exlb_health *h, unsigned int full_every);

void exlb_health_get_stats(struct exlb_health *h,
			   struct exlb_health_stats *st);

#endif
