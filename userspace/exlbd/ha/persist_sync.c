// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Persistence sync of the HA pair (see persist_sync.h, docs/ha.md
 * "Persistence sync"). On the wire, over configuration sync's channel:
 *
 *   {"op":"persist","boot":B,"full":F,"records":[{"vip","port","sub",
 *    "name","client","rs","rs_port","ttl_ms"},...]} -> {"ok":true,"boot":B'}
 *
 * B is the sender's start id, B' the receiver's: a receiver that answers
 * with another id than last time has restarted (empty tables), so the next
 * message carries every record ("full"). So does the one after a failed
 * exchange: the records it carried were marked sent.
 *
 * The main loop exports (every EXLB_HA_PERSIST_TICK_S, on the active node)
 * and installs (what the listener thread queued, on the standby); a thread
 * of this file sends, so the loop never waits on the partner.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "config/hex.h"
#include "kernel/kernel.h"
#include "uapi/linux/exlb.h"
#include "persist_sync.h"

#define PERSIST_QUEUE_MAX	8	/* messages received, not yet installed */
#define PERSIST_RETRY_S		1

/* ---- the parts without threads ---- */

/* The VS of @svc and @svc's place under it: 0 for a VS itself, 1.. a SubVS. */
static const struct exlb_service *place_of(const struct exlb_config *cfg,
					   const struct exlb_service *svc,
					   unsigned int *sub)
{
	const struct exlb_service *vs;

	*sub = 0;
	if (!svc->parent_id)
		return svc;
	vs = exlb_service_by_id(cfg, svc->parent_id);
	for (size_t i = 0; vs && i < cfg->nr_services; i++) {
		if (cfg->services[i].parent_id != vs->id)
			continue;
		++*sub;
		if (cfg->services[i].id == svc->id)
			return vs;
	}
	return NULL;
}

json_t *exlb_ha_persist_record(const struct exlb_config *cfg,
			       const struct exlb_persist_export *r)
{
	const struct exlb_service *svc = exlb_service_by_id(cfg, r->service_id);
	const struct exlb_service *vs;
	const struct exlb_rs *rs = NULL;
	char vip[INET6_ADDRSTRLEN], addr[INET6_ADDRSTRLEN], key[33];
	unsigned int sub;

	for (size_t i = 0; i < cfg->nr_reals; i++)
		if (cfg->reals[i].id == r->rs_id &&
		    cfg->reals[i].service_id == r->service_id)
			rs = &cfg->reals[i];
	vs = svc && rs ? place_of(cfg, svc, &sub) : NULL;
	if (!vs)
		return NULL;
	exlb_addr_format(&vs->vip, vip, sizeof(vip));
	exlb_addr_format(&rs->addr, addr, sizeof(addr));
	exlb_hex_encode(key, r->key, sizeof(r->key));
	return json_pack("{sssIsIsssssssIsI}", "vip", vip,
			 "port", (json_int_t)vs->port, "sub", (json_int_t)sub,
			 "name", svc->nickname, "client", key, "rs", addr,
			 "rs_port", (json_int_t)rs->port,
			 "ttl_ms", (json_int_t)r->ttl_ms);
}

/* The service @rec names in @cfg, or NULL with why. */
static const struct exlb_service *find_service(const struct exlb_config *cfg,
					       const json_t *rec, char *why,
					       size_t n)
{
	const char *vip = json_string_value(json_object_get(rec, "vip"));
	const char *name = json_string_value(json_object_get(rec, "name"));
	json_int_t port = json_integer_value(json_object_get(rec, "port"));
	json_int_t sub = json_integer_value(json_object_get(rec, "sub"));
	const struct exlb_service *vs = NULL, *svc = NULL;
	struct exlb_addr a;
	json_int_t k = 0;

	if (!vip || !name || exlb_addr_parse(vip, &a)) {
		snprintf(why, n, "no VS address");
		return NULL;
	}
	for (size_t i = 0; !vs && i < cfg->nr_services; i++)
		if (!cfg->services[i].parent_id &&
		    cfg->services[i].port == port &&
		    exlb_addr_equal(&cfg->services[i].vip, &a))
			vs = &cfg->services[i];
	if (!vs) {
		snprintf(why, n, "no VS %s:%lld here", vip, (long long)port);
		return NULL;
	}
	if (!sub)
		svc = exlb_service_nr_subvs(cfg, vs->id) ? NULL : vs;
	for (size_t i = 0; sub && !svc && i < cfg->nr_services; i++)
		if (cfg->services[i].parent_id == vs->id && ++k == sub)
			svc = &cfg->services[i];
	if (!svc || strcmp(svc->nickname, name)) {
		snprintf(why, n, "no SubVS %lld '%s' of VS %s:%lld here",
			 (long long)sub, name, vip, (long long)port);
		return NULL;
	}
	return svc;
}

int exlb_ha_persist_place(const struct exlb_config *cfg,
			  const struct exlb_runtime *rt, const json_t *rec,
			  struct exlb_persist_export *r, char *why, size_t n)
{
	const char *client = json_string_value(json_object_get(rec, "client"));
	const char *addr = json_string_value(json_object_get(rec, "rs"));
	json_int_t rs_port = json_integer_value(json_object_get(rec, "rs_port"));
	json_int_t ttl = json_integer_value(json_object_get(rec, "ttl_ms"));
	const struct exlb_service *svc = find_service(cfg, rec, why, n);
	const struct exlb_rs *rs = NULL;
	struct exlb_addr a;

	if (!svc)
		return -1;
	if (svc->persist != EXLB_PERSIST_SRC || !svc->persist_timeout) {
		snprintf(why, n, "persistence is off for %s", svc->nickname);
		return -1;
	}
	if (!client || strlen(client) != 32 || ttl <= 0 || ttl > UINT32_MAX) {
		snprintf(why, n, "bad client key or time left");
		return -1;
	}
	for (int i = 0; i < 16; i++) {
		int hi = exlb_hex_digit(client[2 * i]);
		int lo = exlb_hex_digit(client[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			snprintf(why, n, "bad client key");
			return -1;
		}
		r->key[i] = (uint8_t)(hi << 4 | lo);
	}
	if (!addr || exlb_addr_parse(addr, &a)) {
		snprintf(why, n, "no real server address");
		return -1;
	}
	for (size_t i = 0; !rs && i < cfg->nr_reals; i++)
		if (cfg->reals[i].service_id == svc->id &&
		    cfg->reals[i].port == rs_port &&
		    exlb_addr_equal(&cfg->reals[i].addr, &a))
			rs = &cfg->reals[i];
	if (!rs) {
		snprintf(why, n, "no real server %s:%lld here", addr,
			 (long long)rs_port);
		return -1;
	}
	/* the scheduler decides for a client whose RS does not serve here */
	if (!exlb_rs_is_serving(cfg, rt, rs)) {
		snprintf(why, n, "real server %s:%lld does not take connections here",
			 addr, (long long)rs_port);
		return -1;
	}
	r->service_id = svc->id;
	r->rs_id = rs->id;
	r->ttl_ms = (uint32_t)ttl;
	return 0;
}

/* ---- the thread and the loop ---- */

struct exlb_ha_persist {
	struct ev_loop *loop;
	struct exlb_store *store;
	struct exlb_runtime *rt;
	struct exlb_proxy *proxy;
	struct exlb_kernel *kernel;
	struct exlb_ha_sync *sync;
	ev_timer tick;
	ev_async wake;
	pthread_t sender;
	bool thread;
	char boot[33];			/* this run's id */
	struct exlb_persist_export *batch;	/* the loop's export buffer */

	pthread_mutex_t mu;		/* everything below */
	pthread_cond_t work;
	bool stopping;
	char *out;			/* the line the sender sends, or NULL */
	size_t out_records;
	bool send_all;			/* the next export: every record */
	char peer_boot[33];		/* the partner's id, last answer */
	json_t *in[PERSIST_QUEUE_MAX];	/* received, for the loop */
	size_t nr_in;
	struct exlb_ha_persist_status st;
};

/* Under mu: the last failure (logged once per change). */
static void set_error(struct exlb_ha_persist *ps, const char *msg)
{
	if (strcmp(msg, ps->st.error))
		exlb_log(LOG_WARNING, "HA persistence sync: %s", msg);
	snprintf(ps->st.error, sizeof(ps->st.error), "%s", msg);
}

static void *sender_main(void *arg)
{
	struct exlb_ha_persist *ps = arg;
	SSL_CTX *ctx = exlb_ha_sync_client_ctx();

	pthread_mutex_lock(&ps->mu);
	while (!ps->stopping) {
		char why[sizeof(ps->st.error)], *line;
		size_t records = ps->out_records;
		const char *boot;
		json_t *reply;
		int rc;

		if (!ps->out || !ctx) {
			pthread_cond_wait(&ps->work, &ps->mu);
			continue;
		}
		line = ps->out;
		ps->out = NULL;
		pthread_mutex_unlock(&ps->mu);
		rc = exlb_ha_sync_exchange(ps->sync, ctx, line, &reply, why,
					   sizeof(why));
		free(line);
		pthread_mutex_lock(&ps->mu);
		boot = json_string_value(json_object_get(reply, "boot")) ?: "";
		if (!rc) {
			ps->st.sent += records;
			ps->st.sent_at = time(NULL);
			ps->st.error[0] = '\0';
			/* a partner that restarted has none of what it had */
			if (ps->peer_boot[0] && strcmp(ps->peer_boot, boot))
				ps->send_all = true;
			snprintf(ps->peer_boot, sizeof(ps->peer_boot), "%s", boot);
		} else {
			/* what it carried is marked sent: all again next time */
			ps->send_all = true;
			set_error(ps, why);
		}
		json_decref(reply);
		if (rc && !ps->stopping) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += PERSIST_RETRY_S;
			pthread_cond_timedwait(&ps->work, &ps->mu, &ts);
		}
	}
	pthread_mutex_unlock(&ps->mu);
	SSL_CTX_free(ctx);
	return NULL;
}

/* The active node, each tick: what changed, to the sender. */
static void export_tick(struct exlb_ha_persist *ps)
{
	const struct exlb_config *cfg = ps->store->config;
	json_t *records, *msg;
	size_t n, count = 0;
	char *text, *line;
	bool all;

	if (!exlb_ha_sync_enabled(cfg) || ps->rt->ha.role != EXLB_HA_ROLE_ACTIVE)
		return;
	pthread_mutex_lock(&ps->mu);
	/* one message in flight: the rest stays marked unsent meanwhile */
	if (ps->out) {
		pthread_mutex_unlock(&ps->mu);
		return;
	}
	all = ps->send_all;
	ps->send_all = false;
	pthread_mutex_unlock(&ps->mu);
	n = exlb_proxy_persist_export(ps->proxy, all, ps->batch,
				      EXLB_HA_PERSIST_BATCH);
	n += exlb_kernel_persist_export(ps->kernel, cfg, all, ps->batch + n,
					EXLB_HA_PERSIST_BATCH - n);
	if (!n && !all)
		return;
	records = json_array();
	for (size_t i = 0; records && i < n; i++) {
		json_t *r = exlb_ha_persist_record(cfg, &ps->batch[i]);

		if (r && !json_array_append_new(records, r))
			count++;
	}
	msg = json_pack("{sssssbso}", "op", "persist", "boot", ps->boot,
			"full", all, "records", records);
	text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	pthread_mutex_lock(&ps->mu);
	line = text ? realloc(text, strlen(text) + 2) : NULL;
	if (line) {
		strcat(line, "\n");
		ps->out = line;
		ps->out_records = count;
		pthread_cond_signal(&ps->work);
	} else {
		free(text);
		ps->send_all = true;
		set_error(ps, "out of memory");
	}
	pthread_mutex_unlock(&ps->mu);
}

/* Into the L7 proxy's tables or exlb.ko's, whichever serves its VS. */
static int install_one(struct exlb_ha_persist *ps,
		       const struct exlb_persist_export *r, char *why, size_t n)
{
	const struct exlb_config *cfg = ps->store->config;
	const struct exlb_service *svc = exlb_service_by_id(cfg, r->service_id);
	int err;

	if (svc && (svc->parent_id || exlb_proxy_serves(cfg, svc))) {
		if (!exlb_proxy_persist_install(ps->proxy, r))
			return 0;
		snprintf(why, n, "L7 table full or persistence off here");
		return -1;
	}
	err = exlb_kernel_persist_install(ps->kernel, cfg, r);
	if (err)
		snprintf(why, n, "exlb.ko refused it: %s", strerror(-err));
	return err;
}

/* The standby, on the loop: what the listener queued, into the tables. */
static void install_all(struct exlb_ha_persist *ps, const json_t *msg)
{
	const json_t *records = json_object_get(msg, "records");
	uint64_t installed = 0, dropped = 0;
	char why[160] = "";
	size_t i;
	json_t *rec;

	json_array_foreach(records, i, rec) {
		struct exlb_persist_export r;
		char w[160];

		if (exlb_ha_persist_place(ps->store->config, ps->rt, rec, &r, w,
					  sizeof(w)) ||
		    install_one(ps, &r, w, sizeof(w))) {
			if (!why[0])
				snprintf(why, sizeof(why), "%s", w);
			dropped++;
			continue;
		}
		installed++;
	}
	if (dropped)
		exlb_log(LOG_INFO, "HA persistence sync: %llu of %zu records dropped (first: %s)",
			 (unsigned long long)dropped, json_array_size(records), why);
	pthread_mutex_lock(&ps->mu);
	ps->st.received += json_array_size(records);
	ps->st.installed += installed;
	ps->st.dropped += dropped;
	ps->st.received_at = time(NULL);
	pthread_mutex_unlock(&ps->mu);
}

static void publish(struct exlb_ha_persist *ps)
{
	pthread_mutex_lock(&ps->mu);
	ps->rt->ha.persist = ps->st;
	pthread_mutex_unlock(&ps->mu);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct exlb_ha_persist *ps = w->data;
	json_t *in[PERSIST_QUEUE_MAX];
	size_t n;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&ps->mu);
	n = ps->nr_in;
	memcpy(in, ps->in, n * sizeof(in[0]));
	ps->nr_in = 0;
	pthread_mutex_unlock(&ps->mu);
	for (size_t i = 0; i < n; i++) {
		/* a node that became active meanwhile keeps its own decisions */
		if (ps->rt->ha.role != EXLB_HA_ROLE_ACTIVE)
			install_all(ps, in[i]);
		json_decref(in[i]);
	}
	publish(ps);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exlb_ha_persist *ps = w->data;

	(void)loop;
	(void)revents;
	export_tick(ps);
	publish(ps);
}

/* The listener thread (sync.c, under its lock): a "persist" request. */
static json_t *on_request(void *ctx, json_t *req, unsigned int role)
{
	struct exlb_ha_persist *ps = ctx;
	json_t *answer;

	if (role == EXLB_HA_ROLE_ACTIVE) {
		json_decref(req);
		return json_pack("{sbss}", "ok", 0, "error",
				 "this node is active: it keeps its own persistence records");
	}
	if (!json_is_array(json_object_get(req, "records"))) {
		json_decref(req);
		return json_pack("{sbss}", "ok", 0, "error", "persist: \"records\" expected");
	}
	pthread_mutex_lock(&ps->mu);
	if (ps->nr_in == PERSIST_QUEUE_MAX) {
		/* the loop is behind: the oldest goes (newer ones repeat it) */
		json_decref(ps->in[0]);
		memmove(ps->in, ps->in + 1, (PERSIST_QUEUE_MAX - 1) * sizeof(ps->in[0]));
		ps->nr_in--;
	}
	ps->in[ps->nr_in++] = req;
	answer = json_pack("{sbss}", "ok", 1, "boot", ps->boot);
	pthread_mutex_unlock(&ps->mu);
	ev_async_send(ps->loop, &ps->wake);
	return answer;
}

struct exlb_ha_persist *exlb_ha_persist_new(struct ev_loop *loop,
					    struct exlb_store *store,
					    struct exlb_runtime *rt,
					    struct exlb_proxy *proxy,
					    struct exlb_kernel *kernel,
					    struct exlb_ha_sync *sync)
{
	struct exlb_ha_persist *ps = calloc(1, sizeof(*ps));
	unsigned char id[16];

	if (!ps)
		return NULL;
	ps->batch = calloc(EXLB_HA_PERSIST_BATCH, sizeof(*ps->batch));
	if (!ps->batch || RAND_bytes(id, sizeof(id)) != 1) {
		free(ps->batch);
		free(ps);
		return NULL;
	}
	exlb_hex_encode(ps->boot, id, sizeof(id));
	ps->loop = loop;
	ps->store = store;
	ps->rt = rt;
	ps->proxy = proxy;
	ps->kernel = kernel;
	ps->sync = sync;
	ps->send_all = true;
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->work, NULL);
	ev_async_init(&ps->wake, on_wake);
	ps->wake.data = ps;
	ev_async_start(loop, &ps->wake);
	ev_timer_init(&ps->tick, on_tick, EXLB_HA_PERSIST_TICK_S,
		      EXLB_HA_PERSIST_TICK_S);
	ps->tick.data = ps;
	ev_timer_start(loop, &ps->tick);
	if (pthread_create(&ps->sender, NULL, sender_main, ps)) {
		exlb_log(LOG_ERR, "HA persistence sync: cannot start its thread");
		exlb_ha_persist_free(ps);
		return NULL;
	}
	ps->thread = true;
	exlb_ha_sync_on_persist(sync, on_request, ps);
	return ps;
}

void exlb_ha_persist_free(struct exlb_ha_persist *ps)
{
	if (!ps)
		return;
	if (ps->thread) {
		exlb_ha_sync_on_persist(ps->sync, NULL, NULL);
		pthread_mutex_lock(&ps->mu);
		ps->stopping = true;
		pthread_cond_broadcast(&ps->work);
		pthread_mutex_unlock(&ps->mu);
		pthread_join(ps->sender, NULL);
	}
	ev_timer_stop(ps->loop, &ps->tick);
	ev_async_stop(ps->loop, &ps->wake);
	for (size_t i = 0; i < ps->nr_in; i++)
		json_decref(ps->in[i]);
	free(ps->out);
	free(ps->batch);
	pthread_cond_destroy(&ps->work);
	pthread_mutex_destroy(&ps->mu);
	free(ps);
}
