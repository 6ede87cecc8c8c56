// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the HA pair's persistence sync (exlbd/ha/persist_sync.c,
 * docs/ha.md "Persistence sync") without threads or network: a record
 * goes out named by VIP:port, SubVS place and nickname, client key and RS
 * address:port, and the standby places it in its own configuration by
 * those names (its ids may differ); what it cannot place, or whose RS
 * does not take connections there, is dropped with a reason.
 *
 * Plain C, TAP lines; exits non-zero if any check failed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uapi/linux/exlb.h>
#include "userspace/exlbd/config/config.h"
#include "userspace/exlbd/ha/persist_sync.h"
#include "userspace/exlbd/kernel/kernel.h"

#include "tap_report.h"

/* Neither the proxy nor the kernel part is linked: persist_sync.c's loop parts need these. */
size_t exlb_proxy_persist_export(struct exlb_proxy *p, bool all,
				 struct exlb_persist_export *out, size_t max)
{
	(void)p, (void)all, (void)out, (void)max;
	return 0;
}

int exlb_proxy_persist_install(struct exlb_proxy *p,
			       const struct exlb_persist_export *r)
{
	(void)p, (void)r;
	return -1;
}

size_t exlb_kernel_persist_export(struct exlb_kernel *k,
				  const struct exlb_config *cfg, bool all,
				  struct exlb_persist_export *out, size_t max)
{
	(void)k, (void)cfg, (void)all, (void)out, (void)max;
	return 0;
}

int exlb_kernel_persist_install(struct exlb_kernel *k,
				const struct exlb_config *cfg,
				const struct exlb_persist_export *r)
{
	(void)k, (void)cfg, (void)r;
	return -1;
}

bool exlb_proxy_serves(const struct exlb_config *cfg,
		       const struct exlb_service *svc)
{
	(void)cfg, (void)svc;
	return true;
}

static json_t *params(const char *a, const char *b, const char *c, const char *d)
{
	json_t *o = json_object();

	if (a)
		json_object_set_new(o, a, json_string(b));
	if (c)
		json_object_set_new(o, c, json_string(d));
	return o;
}

static void must(int rc, const struct exlb_err *err)
{
	if (rc) {
		fprintf(stderr, "# %s\n", err->msg);
		abort();
	}
}

/*
 * VS 198.18.112.10:443 with SubVSs OWA and EWS (Persist=src 600), each
 * with RSs .11 and .12; VS .20:80 without SubVSs, one RS. @extra: a VS
 * added first, so that this node's ids are not the other's.
 */
static struct exlb_config *pair_config(bool extra, uint32_t *ews)
{
	struct exlb_config *c = exlb_config_new();
	struct exlb_err err;
	uint32_t vs, owa, id = 0, plain;
	json_t *p;

	if (extra) {
		p = params("CheckType", "none", NULL, NULL);
		must(exlb_vs_add(c, "198.18.112.99", "80", "tcp", p, &id, &err), &err);
		json_decref(p);
		must(exlb_rs_add(c, exlb_service_by_id(c, id), "198.18.113.99", NULL, &err), &err);
	}
	p = params("CheckType", "none", "VStype", "http");
	must(exlb_vs_add(c, "198.18.112.10", "443", "tcp", p, &vs, &err), &err);
	json_decref(p);
	p = params("NickName", "OWA", "Persist", "src");
	must(exlb_subvs_add(c, exlb_service_by_id(c, vs), p, &owa, &err), &err);
	json_decref(p);
	p = params("NickName", "EWS", "Persist", "src");
	must(exlb_subvs_add(c, exlb_service_by_id(c, vs), p, ews, &err), &err);
	json_decref(p);
	p = params("PersistTimeout", "600", "CheckType", "none");
	must(exlb_service_mod(c, exlb_service_by_id(c, owa), p, &err), &err);
	must(exlb_service_mod(c, exlb_service_by_id(c, *ews), p, &err), &err);
	json_decref(p);
	for (int i = 0; i < 2; i++) {
		uint32_t s = i ? *ews : owa;

		must(exlb_rs_add(c, exlb_service_by_id(c, s), "198.18.113.11", NULL, &err), &err);
		must(exlb_rs_add(c, exlb_service_by_id(c, s), "198.18.113.12", NULL, &err), &err);
	}
	p = params("CheckType", "none", "Persist", "src");
	must(exlb_vs_add(c, "198.18.112.20", "80", "tcp", p, &plain, &err), &err);
	json_decref(p);
	p = params("PersistTimeout", "60", NULL, NULL);
	must(exlb_service_mod(c, exlb_service_by_id(c, plain), p, &err), &err);
	json_decref(p);
	must(exlb_rs_add(c, exlb_service_by_id(c, plain), "198.18.113.21", NULL, &err), &err);
	return c;
}

static const struct exlb_rs *rs_of(const struct exlb_config *c, uint32_t svc,
				   const char *addr)
{
	struct exlb_addr a;

	exlb_addr_parse(addr, &a);
	for (size_t i = 0; i < c->nr_reals; i++)
		if (c->reals[i].service_id == svc && exlb_addr_equal(&c->reals[i].addr, &a))
			return &c->reals[i];
	abort();
}

static struct exlb_service *by_vip(struct exlb_config *c, const char *vip)
{
	struct exlb_addr a;

	exlb_addr_parse(vip, &a);
	for (size_t i = 0; i < c->nr_services; i++)
		if (!c->services[i].parent_id && exlb_addr_equal(&c->services[i].vip, &a))
			return &c->services[i];
	abort();
}

int main(void)
{
	uint32_t ews_a, ews_b;
	struct exlb_config *a = pair_config(false, &ews_a);
	struct exlb_config *b = pair_config(true, &ews_b);
	struct exlb_runtime rt = { 0 };
	struct exlb_persist_export out = { .service_id = ews_a, .ttl_ms = 5000 }, in;
	const struct exlb_rs *rs_a = rs_of(a, ews_a, "198.18.113.12");
	const struct exlb_rs *rs_b = rs_of(b, ews_b, "198.18.113.12");
	struct exlb_service *plain_a = by_vip(a, "198.18.112.20");
	json_t *rec, *r2;
	char why[160] = "", *text;
	int rc;

	memset(out.key, 0, 16);
	out.key[0] = 198, out.key[1] = 18, out.key[2] = 112, out.key[3] = 2;
	out.rs_id = rs_a->id;
	rec = exlb_ha_persist_record(a, &out);
	text = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	report(text && !strcmp(text, "{\"client\":\"c6127002000000000000000000000000\",\"name\":\"EWS\",\"port\":443,\"rs\":\"198.18.113.12\",\"rs_port\":443,\"sub\":2,\"ttl_ms\":5000,\"vip\":\"198.18.112.10\"}"),
	       "record of SubVS EWS: by VIP:port, place 2 and nickname, client key, RS address:port (%s)",
	       text ?: "NULL");
	free(text);

	rc = exlb_ha_persist_place(b, &rt, rec, &in, why, sizeof(why));
	report(!rc && ews_a != ews_b && in.service_id == ews_b && in.rs_id == rs_b->id &&
	       rs_a->id != rs_b->id && !memcmp(in.key, out.key, 16) && in.ttl_ms == 5000,
	       "placed on a node whose ids differ: SubVS %u -> %u, RS %u -> %u (%s)",
	       ews_a, in.service_id, rs_a->id, in.rs_id, rc ? why : "ok");

	out.service_id = plain_a->id;
	out.rs_id = rs_of(a, plain_a->id, "198.18.113.21")->id;
	r2 = exlb_ha_persist_record(a, &out);
	rc = exlb_ha_persist_place(b, &rt, r2, &in, why, sizeof(why));
	report(r2 && json_integer_value(json_object_get(r2, "sub")) == 0 && !rc &&
	       in.service_id == by_vip(b, "198.18.112.20")->id,
	       "a VS without SubVSs travels as place 0 and is placed (%s)", rc ? why : "ok");
	json_decref(r2);

	out.rs_id = rs_a->id;	/* an RS of another service: not this record's */
	report(!exlb_ha_persist_record(a, &out),
	       "no record is built for an RS that is not its service's");

	/* what the standby cannot place, or should not follow, is dropped */
	struct {
		const char *what, *key;
		json_t *val;
		const char *want;
	} bad[] = {
		{ "unknown VS", "port", json_integer(444), "no VS" },
		{ "SubVS nickname differs", "name", json_string("OWA"), "no SubVS" },
		{ "SubVS place beyond the VS's", "sub", json_integer(3), "no SubVS" },
		{ "unknown RS", "rs", json_string("198.18.113.13"), "no real server" },
		{ "RS port differs", "rs_port", json_integer(80), "no real server" },
		{ "client key not hex", "client", json_string("zz127002000000000000000000000000"), "client key" },
		{ "client key too short", "client", json_string("c612"), "client key" },
		{ "no time left", "ttl_ms", json_integer(0), "time left" },
		{ "VIP not an address", "vip", json_string("lb.example"), "no VS address" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *m = json_deep_copy(rec);

		json_object_set_new(m, bad[i].key, bad[i].val);
		why[0] = '\0';
		rc = exlb_ha_persist_place(b, &rt, m, &in, why, sizeof(why));
		report(rc && strstr(why, bad[i].want), "dropped: %s (%s)", bad[i].what, why);
		json_decref(m);
	}

	/* an RS that does not serve here: disabled on the standby */
	b->reals[rs_b - b->reals].enable = 0;
	rc = exlb_ha_persist_place(b, &rt, rec, &in, why, sizeof(why));
	report(rc && strstr(why, "does not take connections"),
	       "dropped: the RS is disabled on the standby (%s)", why);
	b->reals[rs_b - b->reals].enable = 1;

	/* persistence off for that SubVS here */
	exlb_service_by_id(b, ews_b)->persist = EXLB_PERSIST_NONE;
	rc = exlb_ha_persist_place(b, &rt, rec, &in, why, sizeof(why));
	report(rc && strstr(why, "persistence is off"), "dropped: persistence off here (%s)", why);

	json_decref(rec);
	exlb_runtime_free(&rt);
	exlb_config_free(a);
	exlb_config_free(b);
	printf("1..%d\n", test_no);
	return failures != 0;
}
