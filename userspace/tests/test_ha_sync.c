// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the HA pair's configuration sync (exlbd/ha/sync.c,
 * docs/ha.md "Configuration sync") without threads or network: which
 * globals are node-local, the standby's refusal, the pair key (derivation,
 * file, refusals), and a push message built from one store and applied to
 * another: all of it or nothing (validation, certificate files).
 *
 * Plain C, TAP lines; exits non-zero if any check failed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uapi/linux/exlb.h>
#include "userspace/exlbd/config/certs.h"
#include "userspace/exlbd/config/config.h"
#include "userspace/exlbd/ha/sync.h"

#include "tap_report.h"

static char *tmpdir(void)
{
	char *d = strdup("/tmp/test_ha_sync.XXXXXX");

	if (!d || !mkdtemp(d))
		abort();
	return d;
}

static void rmtree(const char *d)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	if (system(cmd))
		fprintf(stderr, "# cannot remove %s\n", d);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);

	if (f && buf && fread(buf, 1, (1 << 16) - 1, f) == 0 && ferror(f))
		buf[0] = '\0';
	if (f)
		fclose(f);
	return buf;
}

static void test_local(void)
{
	struct exlb_config *a = exlb_config_new(), *b = exlb_config_new();
	struct exlb_err err;
	char msg[256];

	report(exlb_ha_sync_param_local("hamode") &&
	       exlb_ha_sync_param_local("PARTNER") &&
	       exlb_ha_sync_param_local("hapeer") &&
	       exlb_ha_sync_param_local("haif") &&
	       exlb_ha_sync_param_local("hasyncport") &&
	       exlb_ha_sync_param_local("adminaddress") &&
	       !exlb_ha_sync_param_local("havhid") &&
	       !exlb_ha_sync_param_local("hatimeout") &&
	       !exlb_ha_sync_param_local("RetryInterval"),
	       "node-local: hamode, partner (hapeer), haif, hasyncport, AdminAddress; not havhid, hatimeout");

	exlb_global_set(a, "partner", "198.18.94.4", &err);
	exlb_global_set(a, "haif", "front", &err);
	exlb_global_set(a, "hamode", "1", &err);
	exlb_global_set(a, "havhid", "42", &err);
	exlb_global_set(b, "partner", "198.18.94.3", &err);
	exlb_global_set(b, "haif", "eth1", &err);
	exlb_global_set(b, "hamode", "2", &err);
	exlb_global_set(b, "hasyncport", "7999", &err);
	exlb_global_set(b, "AdminAddress", "198.18.94.20", &err);
	/* L4 connection sync: each node's interface and peer address */
	exlb_global_set(a, "mcast", "sync1", &err);
	exlb_global_set(b, "tcpfailover", "1", &err);
	exlb_global_set(b, "mcast", "sync", &err);
	exlb_global_set(b, "mcastpeer", "198.18.97.1", &err);
	exlb_ha_sync_keep_local(a, b);
	report(exlb_ha_sync_param_local("tcpfailover") && exlb_ha_sync_param_local("MCAST") &&
	       exlb_ha_sync_param_local("mcastpeer") && a->globals.tcpfailover == 1 &&
	       !strcmp(a->globals.mcast, "sync") && !strcmp(a->globals.mcastpeer, "198.18.97.1"),
	       "node-local: tcpfailover, mcast, mcastpeer; keep_local keeps the receiver's");
	report(!strcmp(a->globals.partner, "198.18.94.3") &&
	       !strcmp(a->globals.haif, "eth1") && a->globals.hamode == 2 &&
	       a->globals.hasyncport == 7999 &&
	       !strcmp(a->globals.admin_address, "198.18.94.20") &&
	       a->globals.havhid == 42,
	       "keep_local: the receiver's own globals win, the pair's (havhid %u) come over",
	       a->globals.havhid);

	report(exlb_ha_sync_enabled(b) && !exlb_ha_sync_enabled(a) == !a->globals.hasyncport,
	       "enabled: hamode and hasyncport set");
	a->globals.hasyncport = 0;
	report(!exlb_ha_sync_enabled(a), "not enabled with hasyncport 0");
	report(exlb_ha_sync_refuses(b, EXLB_HA_ROLE_STANDBY, msg, sizeof(msg)) &&
	       !strcmp(msg, "this node is the HA standby; change the configuration on the active node 198.18.94.3"),
	       "standby with sync refuses: '%s'", msg);
	report(!exlb_ha_sync_refuses(b, EXLB_HA_ROLE_ACTIVE, msg, sizeof(msg)) &&
	       !exlb_ha_sync_refuses(b, EXLB_HA_ROLE_FAULT, msg, sizeof(msg)),
	       "active and fault nodes do not refuse");
	b->globals.hasyncport = 0;
	report(!exlb_ha_sync_refuses(b, EXLB_HA_ROLE_STANDBY, msg, sizeof(msg)),
	       "a standby without sync (hasyncport 0) does not refuse: each node configured on its own");
	exlb_config_free(a);
	exlb_config_free(b);
}

static void test_key(void)
{
	unsigned char k1[32], k2[32], k3[32], loaded[32];
	char *dir = tmpdir(), path[300], *text;
	struct exlb_err err;
	struct stat st;

	exlb_ha_sync_derive_key("pair secret of lb1 and lb2", k1);
	exlb_ha_sync_derive_key("pair secret of lb1 and lb2", k2);
	exlb_ha_sync_derive_key("pair secret of lb1 and lb3", k3);
	report(!memcmp(k1, k2, 32) && memcmp(k1, k3, 32),
	       "derive_key: the same secret the same key, another secret another key");

	report(exlb_ha_sync_load_key(dir, loaded) == -1,
	       "load_key without a key file: -1 (sync stays closed)");
	report(exlb_ha_sync_set_secret(dir, "short", &err) == -1 &&
	       strstr(err.msg, "16 to"), "a secret of 5 characters is refused: %s", err.msg);
	report(exlb_ha_sync_set_secret(dir, "sixteen chars\tok", &err) == -1,
	       "a secret with a control character is refused: %s", err.msg);
	snprintf(path, sizeof(path), "%s/%s", dir, EXLB_HA_SYNC_KEY_FILE);
	report(stat(path, &st) == -1, "refused secrets wrote no file");
	report(!exlb_ha_sync_set_secret(dir, "pair secret of lb1 and lb2", &err) &&
	       !exlb_ha_sync_load_key(dir, loaded) && !memcmp(loaded, k1, 32),
	       "set_secret then load_key: the derived key");
	text = slurp(path);
	if (stat(path, &st))
		st.st_mode = 0;
	report((st.st_mode & 0777) == 0600 &&
	       !strstr(text, "pair secret"),
	       "the key file is 0600 (%o) and holds the key, not the secret",
	       st.st_mode & 0777);
	free(text);
	rmtree(dir);
	free(dir);
}

/* A store in a fresh directory with one VS (and the HA globals of @node). */
static void store_at(struct exlb_store *st, const char *dir, int node)
{
	struct exlb_err err;
	struct exlb_config *c;

	if (exlb_store_open(st, dir, &err))
		abort();
	c = exlb_config_clone(st->config);
	exlb_global_set(c, "partner", node == 1 ? "198.18.94.4" : "198.18.94.3", &err);
	exlb_global_set(c, "haif", "front", &err);
	exlb_global_set(c, "hamode", node == 1 ? "1" : "2", &err);
	if (exlb_store_commit(st, c, NULL, &err)) {
		fprintf(stderr, "# %s\n", err.msg);
		abort();
	}
}

static int vs_add(struct exlb_store *st, const char *vip, const char *name)
{
	struct exlb_config *c = exlb_config_clone(st->config);
	json_t *params = json_pack("{ssss}", "nickname", name, "CheckType", "none");
	struct exlb_err err;
	uint32_t id;
	int rc;

	rc = exlb_vs_add(c, vip, "80", "tcp", params, &id, &err);
	json_decref(params);
	if (rc) {
		exlb_config_free(c);
		return -1;
	}
	return exlb_store_commit(st, c, NULL, &err);
}

/* An EC certificate made by the openssl CLI, into @dir/cert.pem, key.pem. */
static int make_cert(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-days 30 -subj /CN=sync.example.test -keyout %s/key.pem -out %s/cert.pem "
		 ">/dev/null 2>&1", dir, dir);
	return system(cmd);
}

static int cert_add(struct exlb_store *st, const char *dir, const char *name)
{
	char path[300], *crt, *key;
	struct exlb_cert_pair pair;
	struct exlb_cert_txn *txn = NULL;
	struct exlb_config *c;
	struct exlb_cert *e;
	struct exlb_err err;
	int rc;

	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	crt = slurp(path);
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	key = slurp(path);
	rc = exlb_cert_parse(crt, key, &pair, &err);
	free(crt);
	free(key);
	if (rc || exlb_cert_install(st->state_dir, name, &pair, &txn, &err))
		return -1;
	c = exlb_config_clone(st->config);
	c->certs = realloc(c->certs, (c->nr_certs + 1) * sizeof(*c->certs));
	e = &c->certs[c->nr_certs++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	memcpy(e->sha256, pair.sha256, sizeof(e->sha256));
	memcpy(e->not_after, pair.not_after, sizeof(e->not_after));
	exlb_cert_pair_free(&pair);
	rc = exlb_store_commit(st, c, NULL, &err);
	exlb_cert_txn_end(txn, !rc);
	return rc;
}

static void test_apply(void)
{
	char *d1 = tmpdir(), *d2 = tmpdir(), *d3 = tmpdir(), path[300];
	char *before, *after, *crt1, *crt2;
	struct exlb_store a, b;
	struct exlb_err err;
	json_t *msg, *bad, *first;
	struct stat st;
	int rc;

	store_at(&a, d1, 1);
	store_at(&b, d2, 2);
	report(!vs_add(&a, "198.18.94.10", "Web") && !vs_add(&b, "198.18.94.99", "Stale") &&
	       !make_cert(d3) && !cert_add(&a, d3, "Exch"),
	       "node 1: VS Web and certificate Exch; node 2: VS Stale");

	msg = exlb_ha_sync_message(&a, 42, &err);
	report(msg && json_array_size(json_object_get(msg, "certs")) == 1 &&
	       json_integer_value(json_object_get(msg, "generation")) == 42,
	       "message: generation 42, the config and 1 certificate with its files");

	rc = exlb_ha_sync_apply(&b, msg, &err);
	report(!rc && b.config->nr_services == 1 &&
	       !strcmp(b.config->services[0].nickname, "Web") &&
	       b.config->nr_certs == 1 &&
	       !strcmp(b.config->globals.partner, "198.18.94.3") &&
	       b.config->globals.hamode == 2,
	       "apply on node 2: Web (not Stale), the certificate, its own partner and hamode (%s)",
	       rc ? err.msg : "ok");
	snprintf(path, sizeof(path), "%s/certs/Exch.crt", d1);
	crt1 = slurp(path);
	snprintf(path, sizeof(path), "%s/certs/Exch.crt", d2);
	crt2 = slurp(path);
	snprintf(path, sizeof(path), "%s/certs/Exch.key", d2);
	report(!strcmp(crt1, crt2) && crt1[0] && !stat(path, &st) &&
	       (st.st_mode & 0777) == 0600,
	       "the certificate's files on node 2: the same PEM, the key 0600");
	free(crt1);
	free(crt2);

	/* validation: the node-local AdminAddress makes a VIP invalid on node 2 */
	{
		struct exlb_config *c = exlb_config_clone(b.config);

		exlb_global_set(c, "AdminAddress", "198.18.94.20", &err);
		exlb_store_commit(&b, c, NULL, &err);
	}
	vs_add(&a, "198.18.94.20", "Clash");
	first = msg;
	msg = exlb_ha_sync_message(&a, 43, &err);
	snprintf(path, sizeof(path), "%s/config.json", d2);
	before = slurp(path);
	rc = exlb_ha_sync_apply(&b, msg, &err);
	after = slurp(path);
	report(rc == -1 && strstr(err.msg, "AdminAddress 198.18.94.20 is the VIP") &&
	       !strcmp(before, after) && b.config->nr_services == 1,
	       "a push invalid with node 2's own settings: refused (%s), state file and config unchanged",
	       err.msg);
	free(before);
	free(after);

	/* a certificate whose files are not the table's: nothing installed */
	bad = json_deep_copy(first);
	json_object_set_new(json_array_get(json_object_get(bad, "certs"), 0), "name",
			    json_string("Other"));
	json_array_append_new(json_object_get(json_object_get(bad, "config"), "certificates"),
			      json_pack("{ssssss}", "name", "Other", "sha256",
					"00000000000000000000000000000000000000000000000000000000000000ff",
					"notAfter", "2027-01-01T00:00:00Z"));
	rc = exlb_ha_sync_apply(&b, bad, &err);
	snprintf(path, sizeof(path), "%s/certs/Other.crt", d2);
	report(rc == -1 && strstr(err.msg, "not the ones") && stat(path, &st) == -1 &&
	       b.config->nr_certs == 1,
	       "a certificate whose files do not match the table: refused (%s), no file written",
	       err.msg);
	json_decref(bad);

	bad = json_pack("{sss{}}", "op", "push", "config");
	rc = exlb_ha_sync_apply(&b, bad, &err);
	report(rc == -1 && b.config->nr_services == 1,
	       "a push without certs: refused (%s)", err.msg);
	json_decref(bad);
	json_decref(msg);
	json_decref(first);
	exlb_store_close(&a);
	exlb_store_close(&b);
	rmtree(d1);
	rmtree(d2);
	rmtree(d3);
	free(d1);
	free(d2);
	free(d3);
}

int main(void)
{
	test_local();
	test_key();
	test_apply();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
