// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ESP logons without blocking an event loop (see sso.h). libldap's
 * connect and TLS handshake (StartTLS, ldaps) are synchronous: they poll
 * until LDAP_OPT_NETWORK_TIMEOUT inside the library. So each logon's whole
 * directory conversation (ldap.c) runs on one of a few directory threads,
 * bounded by the domain's timeout per server and step; the result comes
 * back to the loop that asked through an ev_async watcher and a list.
 *
 * Also here: the input checks made before anything else, and the
 * failed-logon table (max_failed_auths, reset_fail_tout, unblock_tout),
 * shared by every thread under one mutex.
 *
 * In the L7 worker process (docs/privsep.md) the queue's consumer is one
 * forwarding thread instead: it sends each logon to the directory process
 * (proc/directory.c, which runs this same file with the directory threads)
 * and delivers its answers the same way. The worker then holds no
 * service-account password and no failed-logon table: both are the
 * directory process's, so a compromised worker cannot lift the limit.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "config/hex.h"
#include "proc/handover.h"
#include "sso.h"

#define ESP_THREADS		4	/* logons at the directory at once */
#define ESP_QUEUE_MAX		256	/* waiting for a thread; more: unavailable */
#define ESP_FAIL_RECORDS	4096	/* users with recent failures remembered */

struct esp_loop {
	struct ev_loop *loop;
	ev_async wake;
	pthread_mutex_t lock;
	struct esp_auth *done;		/* decided, for the loop's thread */
	/* under lock: the attachment + each logon not yet freed */
	unsigned int refs;
	bool detached;			/* the loop is going: drop, not send */
};

struct esp_auth {
	struct esp_loop *el;
	esp_auth_cb cb;
	void *ctx;
	atomic_bool cancelled;
	struct exlb_sso_domain d;	/* a copy: holds adminpass */
	struct esp_logon name;
	char typed[ESP_NAME_MAX + 1];	/* as given: the directory process's input */
	char password[ESP_PASSWORD_MAX + 1];
	uint64_t id;			/* forwarded: its request's */
	time_t deadline;		/* forwarded: no answer by then, unavailable */
	enum esp_auth_result result;
	char detail[768];
	struct esp_auth *next;
};

static __thread struct esp_loop *this_loop;
/* started and not yet called back (or dropped, cancelled) */
static atomic_uint in_flight;

/* ---- the directory threads ---- */

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static struct esp_auth *queue_head, **queue_tail = &queue_head;
static unsigned int queue_len;
static bool threads_started;

/* the worker process: logons go to the directory process (esp_auth_forward) */
static bool forward;
static int fwd_wake = -1;	/* eventfd: a logon queued or a new channel */
static int fwd_next = -1;	/* under queue_lock: the channel to switch to */

/* ---- failed logons ---- */

struct fail_record {
	char domain[EXLB_SSO_NAME_SIZE];
	char key[sizeof(((struct esp_logon *)0)->key)];
	unsigned int count;
	time_t last;			/* monotonic seconds of the last failure */
	time_t blocked_until;
};

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fail_record *fails;
static size_t nr_fails;

static time_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * The record of @a's user; with @create a new one, or the oldest record
 * that blocks nobody (so that failures under many names cannot push a
 * blocked user out), or at worst the oldest.
 */
static struct fail_record *fail_find(const struct esp_auth *a, bool create)
{
	struct fail_record *oldest = NULL, *oldest_free = NULL;
	time_t now = now_mono();

	for (size_t i = 0; i < nr_fails; i++) {
		struct fail_record *r = &fails[i];

		if (!strcasecmp(r->domain, a->d.name) && !strcmp(r->key, a->name.key))
			return r;
		if (!oldest || r->last < oldest->last)
			oldest = r;
		if (r->blocked_until <= now &&
		    (!oldest_free || r->last < oldest_free->last))
			oldest_free = r;
	}
	if (oldest_free)
		oldest = oldest_free;
	if (!create)
		return NULL;
	if (nr_fails < ESP_FAIL_RECORDS) {
		if (!fails)
			fails = calloc(ESP_FAIL_RECORDS, sizeof(*fails));
		if (!fails)
			return NULL;
		oldest = &fails[nr_fails++];
	}
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->domain, sizeof(oldest->domain), "%s", a->d.name);
	snprintf(oldest->key, sizeof(oldest->key), "%s", a->name.key);
	return oldest;
}

/* Blocked now? Then the directory is not asked. */
static bool fail_blocked(struct esp_auth *a)
{
	struct fail_record *r;
	bool blocked = false;
	time_t now = now_mono();

	if (!a->d.max_failed_auths)
		return false;
	pthread_mutex_lock(&fail_lock);
	r = fail_find(a, false);
	if (r && r->blocked_until > now) {
		blocked = true;
		snprintf(a->detail, sizeof(a->detail),
			 "%s: blocked after %u failed logons, for %lld more seconds",
			 a->name.bind_name, r->count,
			 (long long)(r->blocked_until - now));
	} else if (r && r->blocked_until) {
		/* the block is over: start again from nothing */
		r->blocked_until = 0;
		r->count = 0;
	}
	pthread_mutex_unlock(&fail_lock);
	return blocked;
}

static void fail_account(struct esp_auth *a)
{
	struct fail_record *r;
	time_t now = now_mono();

	if (!a->d.max_failed_auths)
		return;
	pthread_mutex_lock(&fail_lock);
	r = fail_find(a, a->result == ESP_AUTH_BAD_CREDENTIALS);
	if (r && a->result == ESP_AUTH_OK) {
		r->count = 0;
		r->blocked_until = 0;
	} else if (r && a->result == ESP_AUTH_BAD_CREDENTIALS) {
		if (r->count && now - r->last >= (time_t)a->d.reset_fail_tout)
			r->count = 0;
		r->count++;
		r->last = now;
		if (r->count >= a->d.max_failed_auths)
			r->blocked_until = now + a->d.unblock_tout;
	}
	pthread_mutex_unlock(&fail_lock);
}

void esp_auth_reset_failures(void)
{
	pthread_mutex_lock(&fail_lock);
	nr_fails = 0;
	pthread_mutex_unlock(&fail_lock);
}

/* ---- delivery to the loop ---- */

static void auth_free(struct esp_auth *a)
{
	explicit_bzero(a, sizeof(*a));
	free(a);
}

/* Drops one reference of @el (its lock held, released here). */
static void loop_put(struct esp_loop *el)
{
	bool last = !--el->refs;

	pthread_mutex_unlock(&el->lock);
	if (last) {
		pthread_mutex_destroy(&el->lock);
		free(el);
	}
}

static void deliver(struct esp_auth *a)
{
	struct esp_loop *el = a->el;

	explicit_bzero(a->password, sizeof(a->password));
	pthread_mutex_lock(&el->lock);
	if (el->detached) {	/* its loop is gone: nobody to call back */
		auth_free(a);
		atomic_fetch_sub(&in_flight, 1);
		loop_put(el);
		return;
	}
	a->next = el->done;
	el->done = a;
	/* under the lock: esp_auth_detach() cannot end the loop meanwhile */
	ev_async_send(el->loop, &el->wake);
	pthread_mutex_unlock(&el->lock);
}

/* Frees the logons of @list, each holding a reference of @el. */
static void free_done(struct esp_loop *el, struct esp_auth *list, bool call)
{
	struct esp_auth *a;

	while ((a = list)) {
		list = a->next;
		if (call && !atomic_load(&a->cancelled))
			a->cb(a->ctx, a->result, a->detail);
		auth_free(a);
		atomic_fetch_sub(&in_flight, 1);
		pthread_mutex_lock(&el->lock);
		loop_put(el);	/* never the last: the attachment holds one */
	}
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct esp_loop *el = w->data;
	struct esp_auth *list;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&el->lock);
	list = el->done;
	el->done = NULL;
	pthread_mutex_unlock(&el->lock);
	free_done(el, list, true);
}

static void *directory_thread(void *arg)
{
	(void)arg;
	/* by prctl, not pthread_setname_np() from outside: no open of comm */
	prctl(PR_SET_NAME, "exlbd-ldap", 0, 0, 0);
	for (;;) {
		struct esp_auth *a;

		pthread_mutex_lock(&queue_lock);
		while (!queue_head)
			pthread_cond_wait(&queue_cond, &queue_lock);
		a = queue_head;
		queue_head = a->next;
		if (!queue_head)
			queue_tail = &queue_head;
		queue_len--;
		pthread_mutex_unlock(&queue_lock);

		if (atomic_load(&a->cancelled)) {
			a->result = ESP_AUTH_UNAVAILABLE;
		} else if (fail_blocked(a)) {
			a->result = ESP_AUTH_BLOCKED;
		} else {
			char detail[sizeof(a->detail) - 40];

			a->result = esp_ldap_logon(&a->d, &a->name, a->password,
						   detail, sizeof(detail));
			snprintf(a->detail, sizeof(a->detail), "%s: %s",
				 esp_auth_result_name(a->result), detail);
			fail_account(a);
		}
		deliver(a);
	}
	return NULL;
}

/* ---- the worker process: forwarding to the directory process ---- */

#define FWD_SAY_MS	2000
#define FWD_HEAR_MS	1000

static void fwd_unavailable(struct esp_auth *a, const char *why)
{
	a->result = ESP_AUTH_UNAVAILABLE;
	snprintf(a->detail, sizeof(a->detail), "directory unavailable: %s", why);
	deliver(a);
}

static void fwd_fail_all(struct esp_auth **pending, const char *why)
{
	struct esp_auth *a;

	while ((a = *pending)) {
		*pending = a->next;
		fwd_unavailable(a, why);
	}
}

/*
 * {"id", "domain", "user", "password"}: name and password as hex (any
 * bytes; JSON strings must be UTF-8). The directory process checks them
 * again: it does not trust this side.
 */
static int fwd_send(int fd, struct esp_auth *a)
{
	char user[2 * ESP_NAME_MAX + 1], pw[2 * ESP_PASSWORD_MAX + 1];
	struct exlb_err err;
	json_t *msg;
	int ret;

	exlb_hex_encode(user, a->typed, strlen(a->typed));
	exlb_hex_encode(pw, a->password, strlen(a->password));
	msg = json_pack("{sIssssss}", "id", (json_int_t)a->id, "domain", a->d.name,
			"user", user, "password", pw);
	ret = msg ? exlb_handover_say(fd, msg, FWD_SAY_MS, &err) : -1;
	if (msg)	/* jansson's copy of the password too */
		explicit_bzero((char *)json_string_value(json_object_get(msg, "password")),
			       strlen(pw));
	explicit_bzero(pw, sizeof(pw));
	json_decref(msg);
	return ret;
}

/* {"id", "result", "detail"}: the logon @id of @pending is decided. */
static void fwd_answer(struct esp_auth **pending, json_t *msg)
{
	json_int_t id = json_integer_value(json_object_get(msg, "id"));
	json_t *res = json_object_get(msg, "result");
	const char *detail = json_string_value(json_object_get(msg, "detail"));
	struct esp_auth **p, *a;

	for (p = pending; *p && (*p)->id != (uint64_t)id; p = &(*p)->next)
		;
	a = *p;
	if (!a || !json_is_integer(res) || json_integer_value(res) < ESP_AUTH_OK ||
	    json_integer_value(res) > ESP_AUTH_REFUSED)
		return;		/* late (already timed out) or malformed */
	*p = a->next;
	a->result = (enum esp_auth_result)json_integer_value(res);
	snprintf(a->detail, sizeof(a->detail), "%s", detail ? detail : "");
	for (char *c = a->detail; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	deliver(a);
}

/* The longest a logon may take there: every server, each step, its timeout. */
static time_t fwd_bound(const struct exlb_sso_domain *d)
{
	unsigned int servers = 1;

	for (const char *c = d->server; *c; c++)
		servers += *c == ' ' && c[1] && c[1] != ' ';
	return (time_t)servers * 4 * (d->timeout ? d->timeout : 5) + 5;
}

static void *forward_thread(void *arg)
{
	struct esp_auth *pending = NULL, *todo, *a;
	uint64_t next_id = 1, v;
	struct exlb_err err;
	int fd = -1, next;

	(void)arg;
	prctl(PR_SET_NAME, "exlbd-esp-fwd", 0, 0, 0);
	for (;;) {
		struct pollfd p[2] = { { .fd = fwd_wake, .events = POLLIN },
				       { .fd = -1, .events = POLLIN } };
		time_t now;
		json_t *msg;

		pthread_mutex_lock(&queue_lock);
		next = fwd_next;
		fwd_next = -1;
		todo = queue_head;
		queue_head = NULL;
		queue_tail = &queue_head;
		queue_len = 0;
		pthread_mutex_unlock(&queue_lock);
		if (next >= 0) {	/* the directory process (or this one) restarted */
			fwd_fail_all(&pending, "the directory process was restarted");
			if (fd >= 0)
				close(fd);
			fd = next;
		}
		while ((a = todo)) {
			todo = a->next;
			if (atomic_load(&a->cancelled)) {
				fwd_unavailable(a, "cancelled");
			} else if (fd < 0) {
				fwd_unavailable(a, "no directory process");
			} else {
				a->id = next_id++;
				a->deadline = now_mono() + fwd_bound(&a->d);
				if (fwd_send(fd, a)) {
					fwd_unavailable(a, "its channel failed");
					fwd_fail_all(&pending, "its channel failed");
					close(fd);
					fd = -1;
					continue;
				}
				explicit_bzero(a->password, sizeof(a->password));
				a->next = pending;
				pending = a;
			}
		}
		p[1].fd = fd;
		if (poll(p, 2, 1000) > 0) {
			if (p[0].revents & POLLIN &&
			    read(fwd_wake, &v, sizeof(v)) != sizeof(v))
				v = 0;
			if (fd >= 0 && p[1].revents) {
				msg = exlb_handover_hear(fd, FWD_HEAR_MS, &err);
				if (msg) {
					fwd_answer(&pending, msg);
					json_decref(msg);
				} else {
					exlb_log(LOG_ERR, "esp: the directory process's channel: %s",
						 err.msg);
					fwd_fail_all(&pending, err.msg);
					close(fd);
					fd = -1;
				}
			}
		}
		now = now_mono();
		for (struct esp_auth **q = &pending; (a = *q);) {
			if (a->deadline > now) {
				q = &a->next;
				continue;
			}
			*q = a->next;
			fwd_unavailable(a, "the directory process did not answer in time");
		}
	}
	return NULL;
}

int esp_auth_forward(void)
{
	if (threads_started)
		return -1;
	fwd_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fwd_wake < 0)
		return -1;
	forward = true;
	return 0;
}

void esp_auth_set_directory(int fd)
{
	uint64_t one = 1;

	pthread_mutex_lock(&queue_lock);
	if (fwd_next >= 0)
		close(fwd_next);
	fwd_next = fd;
	pthread_mutex_unlock(&queue_lock);
	if (write(fwd_wake, &one, sizeof(one)) != sizeof(one))
		return;	/* the counter is full: the thread is awake anyway */
}

static int start_threads(void)
{
	pthread_attr_t attr;
	int ret = 0;

	pthread_mutex_lock(&queue_lock);
	if (threads_started)
		goto out;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < (forward ? 1 : ESP_THREADS); i++) {
		pthread_t t;

		if (pthread_create(&t, &attr, forward ? forward_thread : directory_thread,
				   NULL)) {
			ret = i ? 0 : -1;	/* fewer threads still work */
			break;
		}
	}
	pthread_attr_destroy(&attr);
	threads_started = !ret;
out:
	pthread_mutex_unlock(&queue_lock);
	return ret;
}

/* ---- the API ---- */

int esp_auth_attach(struct ev_loop *loop)
{
	struct esp_loop *el;

	if (this_loop)
		return 0;
	if (start_threads())
		return -1;
	el = calloc(1, sizeof(*el));
	if (!el)
		return -1;
	el->loop = loop;
	el->refs = 1;
	pthread_mutex_init(&el->lock, NULL);
	ev_async_init(&el->wake, on_wake);
	el->wake.data = el;
	ev_async_start(loop, &el->wake);
	/* a pending logon alone does not keep the loop running */
	ev_unref(loop);
	this_loop = el;
	return 0;
}

void esp_auth_detach(void)
{
	struct esp_loop *el = this_loop;
	struct esp_auth *list;

	if (!el)
		return;
	ev_ref(el->loop);
	ev_async_stop(el->loop, &el->wake);
	/*
	 * Logons still at the directory free themselves when done
	 * (deliver()); the last one, or this, frees the element.
	 */
	pthread_mutex_lock(&el->lock);
	el->detached = true;
	list = el->done;
	el->done = NULL;
	pthread_mutex_unlock(&el->lock);
	free_done(el, list, false);
	pthread_mutex_lock(&el->lock);
	loop_put(el);
	this_loop = NULL;
}

/* A name: 1-ESP_NAME_MAX bytes, no NUL or other control character. */
static bool name_ok(const char *user, size_t len)
{
	if (!len || len > ESP_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f)
			return false;
	return true;
}

struct esp_auth *esp_auth_start(const struct exlb_sso_domain *d,
				const char *user, size_t user_len,
				const char *password, size_t pw_len,
				esp_auth_cb cb, void *ctx)
{
	struct esp_loop *el = this_loop;
	struct esp_auth *a;
	char why[160];

	if (!el)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	atomic_fetch_add(&in_flight, 1);
	pthread_mutex_lock(&el->lock);
	el->refs++;
	pthread_mutex_unlock(&el->lock);
	a->el = el;
	a->cb = cb;
	a->ctx = ctx;
	a->d = *d;
	if (!name_ok(user, user_len)) {
		a->result = ESP_AUTH_REFUSED;
		snprintf(a->detail, sizeof(a->detail),
			 "refused: logon name must be 1-%d bytes without NUL or control characters",
			 ESP_NAME_MAX);
		goto now;
	}
	memcpy(a->typed, user, user_len);
	if (esp_logon_name(d, a->typed, &a->name, why, sizeof(why))) {
		/* a name of another domain or format: an ordinary failure */
		a->result = ESP_AUTH_BAD_CREDENTIALS;
		snprintf(a->detail, sizeof(a->detail), "bad credentials: %.*s: %s",
			 (int)user_len, user, why);
		goto now;
	}
	/* empty: an anonymous bind that "succeeds"; a NUL would cut it short */
	if (!pw_len || pw_len > ESP_PASSWORD_MAX || memchr(password, 0, pw_len)) {
		a->result = ESP_AUTH_REFUSED;
		snprintf(a->detail, sizeof(a->detail),
			 "refused: %s: the password must be 1-%d bytes without NUL",
			 a->name.bind_name, ESP_PASSWORD_MAX);
		goto now;
	}
	memcpy(a->password, password, pw_len);
	a->password[pw_len] = 0;

	pthread_mutex_lock(&queue_lock);
	if (queue_len >= ESP_QUEUE_MAX) {
		pthread_mutex_unlock(&queue_lock);
		a->result = ESP_AUTH_UNAVAILABLE;
		snprintf(a->detail, sizeof(a->detail),
			 "directory unavailable: %d logons already waiting",
			 ESP_QUEUE_MAX);
		goto now;
	}
	*queue_tail = a;
	queue_tail = &a->next;
	queue_len++;
	pthread_cond_signal(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
	if (forward) {
		uint64_t one = 1;

		if (write(fwd_wake, &one, sizeof(one)) != sizeof(one))
			return a;	/* the counter is full: the thread is awake */
	}
	return a;
now:
	/* decided without the directory: still called back from the loop */
	deliver(a);
	return a;
}

unsigned int esp_auth_in_flight(void)
{
	return atomic_load(&in_flight);
}

void esp_auth_cancel(struct esp_auth *a)
{
	if (a)
		atomic_store(&a->cancelled, true);
}
