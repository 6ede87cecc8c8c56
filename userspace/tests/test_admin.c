// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the admin listener's pieces that need no socket: the
 * Prometheus text (exlbd/admin/prom.c: HELP/TYPE once per family, label
 * and HELP escaping), the secrets (exlbd/config/credentials.c: yescrypt
 * passwords, API keys kept as SHA-256), who a request is
 * (exlbd/admin/auth.c: Basic, Bearer, apikey), the failed-logon limit, the
 * routes and their roles (Kemp's /access/ prefix too), the XML of Kemp's
 * API replies (exlbd/admin/kemp_xml.c: escaping, UTF-8 to ISO-8859-1),
 * and the credentials' round trip through the
 * state file's JSON (config/json.c, check.c). TAP lines; exits non-zero if
 * a check failed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <openssl/evp.h>

#include "userspace/exlbd/admin/admin_int.h"
#include "userspace/exlbd/admin/kemp_xml.h"
#include "userspace/exlbd/admin/prom.h"
#include "userspace/exlbd/config/config.h"
#include "userspace/exlbd/config/credentials.h"

#include "tap_report.h"

static char *escaped_label(const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	exlb_prom_escape_label(f, s);
	fclose(f);
	return out;
}

static void test_prom(void)
{
	struct exlb_prom p;
	const char *l1[] = { "vs", "1", "name", "a\\b \"q\"\nz", NULL };
	const char *l2[] = { "vs", "2", "subvs", "", "name", "x", NULL };
	char *e;

	e = escaped_label("back\\slash \"quote\" new\nline");
	report(!strcmp(e, "back\\\\slash \\\"quote\\\" new\\nline"),
	       "label value: backslash, quote and line feed escaped (%s)", e);
	free(e);
	e = escaped_label("plain-text_1.2:3");
	report(!strcmp(e, "plain-text_1.2:3"), "label value: plain text unchanged");
	free(e);

	exlb_prom_open(&p);
	exlb_prom_sample(&p, "exlb_t_total", "counter", "help \\ with\nnewline",
			 l1, 42);
	exlb_prom_sample(&p, "exlb_t_total", "counter", "ignored", l2, 1e6);
	exlb_prom_sample(&p, "exlb_g", "gauge", "g", NULL, 0.5);
	exlb_prom_close(&p);
	report(!strcmp(p.text,
		"# HELP exlb_t_total help \\\\ with\\nnewline\n"
		"# TYPE exlb_t_total counter\n"
		"exlb_t_total{vs=\"1\",name=\"a\\\\b \\\"q\\\"\\nz\"} 42\n"
		"exlb_t_total{vs=\"2\",name=\"x\"} 1000000\n"
		"# HELP exlb_g g\n# TYPE exlb_g gauge\nexlb_g 0.5\n"),
	       "exposition: HELP/TYPE once per family, HELP escaped, empty label left out, integers whole");
	if (failures)
		fprintf(stderr, "%s", p.text);
	free(p.text);
}

static struct exlb_config *cfg_with_creds(char key[EXLB_APIKEY_TEXT_SIZE])
{
	struct exlb_config *cfg = exlb_config_new();
	struct exlb_err err;

	if (exlb_cred_user_set(cfg, "ro", EXLB_ROLE_READONLY, "correct horse",
			       false, &err) ||
	    exlb_cred_user_set(cfg, "boss", EXLB_ROLE_ADMIN, "battery staple",
			       false, &err) ||
	    exlb_cred_apikey_add(cfg, "prom", EXLB_ROLE_READONLY, key, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		exit(1);
	}
	return cfg;
}

static void test_secrets(void)
{
	char key[EXLB_APIKEY_TEXT_SIZE], key2[EXLB_APIKEY_TEXT_SIZE];
	struct exlb_config *cfg = cfg_with_creds(key);
	const struct exlb_cred *ro = exlb_cred_find(cfg, EXLB_CRED_USER, "ro");
	const struct exlb_cred *k = exlb_cred_find(cfg, EXLB_CRED_APIKEY, "prom");
	struct exlb_err err;
	char hash[EXLB_CRED_HASH_SIZE];

	report(ro && !strncmp(ro->hash, "$y$", 3) && !strstr(ro->hash, "horse"),
	       "a password is kept as a yescrypt string (%.12s...)", ro ? ro->hash : "");
	report(exlb_cred_check_password(cfg, "ro", "correct horse") == ro,
	       "the right password verifies");
	report(!exlb_cred_check_password(cfg, "ro", "correct horsE") &&
	       !exlb_cred_check_password(cfg, "ro", "") &&
	       !exlb_cred_check_password(cfg, "boss", "correct horse"),
	       "a wrong password, an empty one, another user's: refused");
	report(!exlb_cred_check_password(cfg, "nobody", "correct horse"),
	       "an unknown user: refused");
	exlb_password_hash("correct horse", hash, sizeof(hash), &err);
	report(strcmp(hash, ro->hash) && exlb_password_verify(hash, "correct horse"),
	       "the same password hashes differently (salt) and both verify");
	report(exlb_cred_user_set(cfg, "short", 0, "1234567", false, &err) &&
	       strstr(err.msg, "password"), "a 7-character password is refused (%s)",
	       err.msg);
	report(exlb_cred_user_set(cfg, "ro", 0, "another one", false, &err) &&
	       strstr(err.msg, "exists"), "adding an existing user is refused (%s)",
	       err.msg);
	report(exlb_cred_user_set(cfg, "bad/name", 0, "long enough", false, &err),
	       "a name with '/' is refused (%s)", err.msg);

	report(!strncmp(key, "exlb_", 5) && strlen(key) == 69 &&
	       strspn(key + 5, "0123456789abcdef") == 64,
	       "an API key is exlb_ and 64 hex digits (%.12s...)", key);
	report(k && strlen(k->hash) == 64 && !strstr(key, k->hash),
	       "the key is kept as its SHA-256, not the key");
	report(exlb_cred_check_apikey(cfg, key) == k, "the key verifies");
	key[10] ^= 1;
	report(!exlb_cred_check_apikey(cfg, key), "a key one bit off: refused");
	key[10] ^= 1;
	report(!exlb_cred_check_apikey(cfg, k->hash),
	       "the stored hash itself is not a key");
	exlb_cred_apikey_add(cfg, "second", EXLB_ROLE_ADMIN, key2, &err);
	report(strcmp(key, key2) &&
	       exlb_cred_check_apikey(cfg, key2)->role == EXLB_ROLE_ADMIN,
	       "a second key differs and has its own role");
	report(!exlb_cred_del(cfg, EXLB_CRED_APIKEY, "prom", &err) &&
	       !exlb_cred_check_apikey(cfg, key) && exlb_cred_check_apikey(cfg, key2),
	       "a deleted key no longer verifies; the other does");
	exlb_config_free(cfg);
}

static void test_state_json(void)
{
	char key[EXLB_APIKEY_TEXT_SIZE];
	struct exlb_config *cfg = cfg_with_creds(key), *back;
	json_t *doc = exlb_config_to_json(cfg);
	char *text = json_dumps(doc, 0);
	struct exlb_err err;

	report(text && !strstr(text, "correct horse") && !strstr(text, key),
	       "the state JSON holds no password and no key");
	back = exlb_config_from_json(doc, &err);
	report(back && back->nr_creds == 3 &&
	       exlb_cred_check_password(back, "boss", "battery staple") &&
	       exlb_cred_check_apikey(back, key),
	       "users and keys survive the state file's round trip");
	json_array_append_new(json_object_get(doc, "admin_credentials"),
			      json_pack("{ssssssss}", "kind", "user", "name", "ro",
					"role", "admin", "hash", "$y$x"));
	exlb_config_free(back);
	back = exlb_config_from_json(doc, &err);
	report(!back && strstr(err.msg, "twice"),
	       "a user defined twice is refused (%s)", back ? "accepted" : err.msg);
	exlb_config_free(back);
	free(text);
	json_decref(doc);
	exlb_config_free(cfg);
}

static char *basic(const char *userpass)
{
	static char out[256];
	unsigned char b64[200];

	EVP_EncodeBlock(b64, (const unsigned char *)userpass, (int)strlen(userpass));
	snprintf(out, sizeof(out), "Basic %s", b64);
	return out;
}

/*
 * exlb_admin_authenticate() at time @now: the result, *role and who; a
 * password check (PENDING) is run here as the hashing thread would, and
 * counted in pending.
 */
static struct exlb_admin_auth_state st;
static unsigned int role;
static char who[96];
static unsigned int pending;

static enum exlb_admin_auth auth(const struct exlb_config *cfg, const char *hdr,
				 const char *apikey, time_t now)
{
	enum exlb_admin_auth r;

	role = 99;
	who[0] = '\0';
	r = exlb_admin_authenticate(&st, cfg, hdr, apikey, now, &role, who,
				    sizeof(who));
	if (r != EXLB_ADMIN_AUTH_PENDING)
		return r;
	pending++;
	exlb_admin_hash_run(st.job);
	r = exlb_admin_auth_finish(&st, cfg, st.job, now, &role, who, sizeof(who));
	exlb_admin_hash_job_free(st.job);
	st.job = NULL;
	return r;
}

static void test_authenticate(void)
{
	char key[EXLB_APIKEY_TEXT_SIZE], bearer[100];
	struct exlb_config *cfg = cfg_with_creds(key);
	struct exlb_err err;
	uint64_t h;

	report(auth(cfg, NULL, NULL, 1000) == EXLB_ADMIN_AUTH_NONE,
	       "no credentials: NONE (401, not counted)");
	report(auth(cfg, basic("boss:battery staple"), NULL, 1000) == EXLB_ADMIN_AUTH_OK &&
	       role == EXLB_ROLE_ADMIN && !strcmp(who, "user boss"),
	       "Basic boss: OK, admin (%s)", who);
	report(auth(cfg, basic("ro:correct horse"), NULL, 1000) == EXLB_ADMIN_AUTH_OK &&
	       role == EXLB_ROLE_READONLY, "Basic ro: OK, read-only");
	report(pending == 2 && st.hashes == 2,
	       "each password check is a job for the hashing thread (PENDING, %u)",
	       pending);
	report(auth(cfg, basic("ro:correct horse"), NULL, 1000) == EXLB_ADMIN_AUTH_OK &&
	       auth(cfg, basic("boss:battery staple"), NULL, 1000) == EXLB_ADMIN_AUTH_OK &&
	       role == EXLB_ROLE_ADMIN && st.hashes == 2 && pending == 2,
	       "logons that succeeded are remembered: OK without a hash (%llu run)",
	       (unsigned long long)st.hashes);
	report(auth(cfg, basic("ro:wrong"), NULL, 1001) == EXLB_ADMIN_AUTH_BAD &&
	       auth(cfg, basic("nobody:correct horse"), NULL, 1001) == EXLB_ADMIN_AUTH_BAD &&
	       st.hashes == 4, "wrong password, unknown user: BAD, each a hash (%llu run)",
	       (unsigned long long)st.hashes);
	report(auth(cfg, basic("ro"), NULL, 1002) == EXLB_ADMIN_AUTH_BAD &&
	       auth(cfg, "Basic !!!!", NULL, 1002) == EXLB_ADMIN_AUTH_BAD &&
	       auth(cfg, "Digest x", NULL, 1002) == EXLB_ADMIN_AUTH_BAD && st.hashes == 4,
	       "no colon, bad base64, another scheme: BAD without a hash");
	report(auth(cfg, basic("ro:correct\thorse"), NULL, 1002) == EXLB_ADMIN_AUTH_BAD &&
	       auth(cfg, "Basic cm86Y29ycmVjdCBob3JzZQ", NULL, 1002) == EXLB_ADMIN_AUTH_BAD &&
	       auth(cfg, "basic  cm86Y29ycmVjdCBob3JzZQ==", NULL, 1002) == EXLB_ADMIN_AUTH_OK &&
	       st.hashes == 4,
	       "the shared reader (exlb_http_basic_credentials): a control character or "
	       "missing padding BAD without a hash; 'basic' and two blanks OK (remembered)");
	exlb_cred_user_set(cfg, "ro", EXLB_ROLE_READONLY, "new password", true, &err);
	report(auth(cfg, basic("ro:correct horse"), NULL, 1003) == EXLB_ADMIN_AUTH_BAD &&
	       auth(cfg, basic("ro:new password"), NULL, 1004) == EXLB_ADMIN_AUTH_OK,
	       "after a password change the remembered logon no longer counts");
	h = st.hashes;
	report(auth(cfg, basic("boss:battery staple"), NULL, 1000 + EXLB_ADMIN_AUTH_CACHE_S + 1) ==
	       EXLB_ADMIN_AUTH_OK && st.hashes == h + 1,
	       "after %d s a logon is checked again", EXLB_ADMIN_AUTH_CACHE_S);
	snprintf(bearer, sizeof(bearer), "Bearer %s", key);
	h = st.hashes;
	report(auth(cfg, bearer, NULL, 2000) == EXLB_ADMIN_AUTH_OK &&
	       !strcmp(who, "apikey prom") && st.hashes == h,
	       "Bearer KEY: OK (%s), no password hash", who);
	report(auth(cfg, NULL, key, 2000) == EXLB_ADMIN_AUTH_OK, "apikey KEY: OK");
	report(auth(cfg, "Bearer exlb_00", NULL, 2000) == EXLB_ADMIN_AUTH_BAD,
	       "Bearer with a wrong key: BAD");
	exlb_config_free(cfg);
}

/* The hashing thread (hasher.c): verdicts come back on the loop, in order. */
static unsigned int verdicts, verdicts_ok;

static void on_verdict(struct exlb_admin_hash_job *job, void *arg)
{
	struct ev_loop *loop = arg;

	verdicts++;
	if (exlb_admin_auth_finish(&st, job->owner, job, 3000, &role, who,
				   sizeof(who)) == EXLB_ADMIN_AUTH_OK)
		verdicts_ok++;
	exlb_admin_hash_job_free(job);
	if (verdicts == EXLB_ADMIN_HASH_QUEUE)
		ev_break(loop, EVBREAK_ALL);
}

static void on_too_long(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static struct exlb_admin_hash_job *job_for(const struct exlb_config *cfg,
					   const char *userpass)
{
	if (exlb_admin_authenticate(&st, cfg, basic(userpass), NULL, 3000, &role,
				    who, sizeof(who)) != EXLB_ADMIN_AUTH_PENDING)
		return NULL;
	st.job->owner = (void *)cfg;	/* what on_verdict checks against */
	return st.job;
}

static void test_hasher(void)
{
	char key[EXLB_APIKEY_TEXT_SIZE];
	struct exlb_config *cfg = cfg_with_creds(key);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct exlb_admin_hasher *h = exlb_admin_hasher_new(loop, on_verdict, loop);
	struct exlb_admin_hash_job *extra;
	struct timespec t0, t1;
	ev_timer guard;
	bool queued = true;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < EXLB_ADMIN_HASH_QUEUE; i++) {
		struct exlb_admin_hash_job *job =
			job_for(cfg, i == 5 ? "ro:correct horse" : "ro:wrong one");

		queued &= job && !exlb_admin_hasher_submit(h, job);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	report(queued && ms < 50,
	       "%d password checks queued in %.1f ms: none runs on the caller's thread",
	       EXLB_ADMIN_HASH_QUEUE, ms);
	extra = job_for(cfg, "ro:wrong again");
	report(extra && exlb_admin_hasher_submit(h, extra) == -1,
	       "check %d is refused while %d are in: the queue is bounded (503)",
	       EXLB_ADMIN_HASH_QUEUE + 1, EXLB_ADMIN_HASH_QUEUE);
	exlb_admin_hash_job_free(extra);
	st.job = NULL;
	ev_timer_init(&guard, on_too_long, 60, 0);
	ev_timer_start(loop, &guard);
	ev_run(loop, 0);
	ev_timer_stop(loop, &guard);
	report(verdicts == EXLB_ADMIN_HASH_QUEUE && verdicts_ok == 1,
	       "the verdicts come back on the loop: %u, %u of them OK", verdicts,
	       verdicts_ok);
	extra = job_for(cfg, "ro:wrong again");
	report(extra && !exlb_admin_hasher_submit(h, extra),
	       "with the queue drained a check is taken again");
	exlb_admin_hasher_free(h);	/* frees the job not delivered */
	st.job = NULL;
	ev_loop_destroy(loop);
	exlb_config_free(cfg);
}

static void test_limit(void)
{
	static struct exlb_admin_limiter l;
	struct in6_addr a = { .s6_addr = { [15] = 1 } }, b = { .s6_addr = { [15] = 2 } };
	time_t t = 1000;
	bool blocked = false;

	for (int i = 0; i < EXLB_ADMIN_FAIL_MAX - 1; i++)
		blocked |= exlb_admin_limit_fail(&l, &a, t + i);
	report(!blocked && !exlb_admin_limit_blocked(&l, &a, t + 5),
	       "%d failures: not blocked", EXLB_ADMIN_FAIL_MAX - 1);
	report(exlb_admin_limit_fail(&l, &a, t + 10) &&
	       exlb_admin_limit_blocked(&l, &a, t + 10) == EXLB_ADMIN_BLOCK_S,
	       "failure %d within %d s blocks for %d s", EXLB_ADMIN_FAIL_MAX,
	       EXLB_ADMIN_FAIL_WINDOW_S, EXLB_ADMIN_BLOCK_S);
	report(!exlb_admin_limit_blocked(&l, &b, t + 10),
	       "another address is not blocked");
	exlb_admin_limit_ok(&l, &a);
	report(exlb_admin_limit_blocked(&l, &a, t + 11) > 0,
	       "a success does not lift a block");
	report(!exlb_admin_limit_blocked(&l, &a, t + 10 + EXLB_ADMIN_BLOCK_S),
	       "the block ends after %d s", EXLB_ADMIN_BLOCK_S);
	blocked = false;
	for (int i = 0; i < 2 * EXLB_ADMIN_FAIL_MAX; i++)
		blocked |= exlb_admin_limit_fail(&l, &b, t + i * EXLB_ADMIN_FAIL_WINDOW_S / 2);
	report(!blocked, "failures spread out (%d every %d s) never block",
	       2 * EXLB_ADMIN_FAIL_MAX, EXLB_ADMIN_FAIL_WINDOW_S / 2);
}

static void test_routes(void)
{
	int status = 0, i;

	i = exlb_admin_route_find("GET", "/metrics", &status);
	report(i >= 0 && exlb_admin_routes[i].role == EXLB_ROLE_READONLY,
	       "GET /metrics: read-only may");
	i = exlb_admin_route_find("GET", "/config", &status);
	report(i >= 0 && exlb_admin_routes[i].role == EXLB_ROLE_ADMIN,
	       "GET /config: admin only");
	i = exlb_admin_route_find("POST", "/metrics", &status);
	report(i < 0 && status == 405, "POST /metrics: 405 (%d)", status);
	i = exlb_admin_route_find("GET", "/metrics/", &status);
	report(i < 0 && status == 404, "GET /metrics/: 404 (%d)", status);
	/* the status page (webui.c): a browser with a read-only logon */
	for (const char *const *p = (const char *const[]){ "/", "/webui.js",
	     "/webui.css", "/status.json", NULL }; *p; p++) {
		i = exlb_admin_route_find("GET", *p, &status);
		report(i >= 0 && exlb_admin_routes[i].role == EXLB_ROLE_READONLY,
		       "GET %s: read-only may", *p);
	}
	/* Kemp's API: a prefix; each command's role is kemp_api.c's to check */
	i = exlb_admin_route_find("GET", "/access/listvs", &status);
	report(i >= 0 && !strcmp(exlb_admin_routes[i].path, "/access/") &&
	       exlb_admin_routes[i].role == EXLB_ROLE_READONLY,
	       "GET /access/listvs: the /access/ route, read-only may reach it");
	i = exlb_admin_route_find("POST", "/access/addcert", &status);
	report(i >= 0 && !strcmp(exlb_admin_routes[i].method, "POST"),
	       "POST /access/addcert: routed (a file as the body)");
	i = exlb_admin_route_find("PUT", "/access/addvs", &status);
	report(i < 0 && status == 405, "PUT /access/addvs: 405 (%d)", status);
	i = exlb_admin_route_find("GET", "/access/", &status);
	report(i < 0 && status == 404, "GET /access/ (no command): 404 (%d)", status);
	i = exlb_admin_route_find("GET", "/access/a/b", &status);
	report(i < 0 && status == 404, "GET /access/a/b: 404 (%d)", status);
	/* "/" is the status page only, not a prefix of every path */
	i = exlb_admin_route_find("GET", "/status.json", &status);
	report(i >= 0 && !strcmp(exlb_admin_routes[i].path, "/status.json"),
	       "GET /status.json: its own route, not \"/\"'s");
	i = exlb_admin_route_find("GET", "/nothing", &status);
	report(i < 0 && status == 404, "GET /nothing: 404 (%d)", status);
	i = exlb_admin_route_find("GET", "/accessv2", &status);
	report(i < 0 && status == 404, "GET /accessv2 (Kemp's JSON API): 404 (%d)", status);
	/* admin.c sizes its handler list by EXLB_ADMIN_NR_ROUTES */
	for (i = 0; exlb_admin_routes[i].path; i++)
		;
	report(i == EXLB_ADMIN_NR_ROUTES, "%d routes, EXLB_ADMIN_NR_ROUTES %d",
	       i, EXLB_ADMIN_NR_ROUTES);
}

static char *xml_of(const char *text)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	exlb_xml_text(f, text);
	fclose(f);
	return out;
}

static void xml_case(const char *in, const char *want, const char *what)
{
	char *got = xml_of(in);

	report(!strcmp(got, want), "xml text %s: \"%s\"", what, got);
	free(got);
}

static void test_kemp_xml(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	xml_case("a<b>&\"c'", "a&lt;b&gt;&amp;&quot;c&apos;", "markup escaped");
	/* U+00DC (Latin-1) as one byte 0xDC; U+03A9 and U+1F600 as references */
	xml_case("\xc3\x9c", "\xdc", "U+00DC as the ISO-8859-1 byte");
	xml_case("\xce\xa9 \xf0\x9f\x98\x80", "&#x3A9; &#x1F600;", "above U+00FF as references");
	xml_case("\xff\xc3(\xed\xa0\x80", "?" "?(?", "invalid UTF-8 and a surrogate as '?'");
	xml_case("\xc0\xaf", "?", "an overlong '/' as '?'");
	xml_case("a\x01" "b\tc\rd\n", "a?b\tc&#13;d\n", "control characters: '?', CR kept as a reference");
	report(exlb_xml_name_ok("CheckUse1.1") && exlb_xml_name_ok("VSAddress") &&
	       !exlb_xml_name_ok("1abc") && !exlb_xml_name_ok("a b") &&
	       !exlb_xml_name_ok("a<b") && !exlb_xml_name_ok(""),
	       "element names: CheckUse1.1 yes; 1abc, 'a b', a<b, empty no");
	f = open_memstream(&out, &len);
	exlb_xml_elem(f, "NickName", "x&y");
	exlb_xml_elem(f, "CertFile", "");
	exlb_xml_elem(f, "bad name", "z");
	exlb_xml_elem_yn(f, "Enable", true);
	exlb_xml_elem_u64(f, "Index", 18446744073709551615ULL);
	fclose(f);
	report(!strcmp(out, "<NickName>x&amp;y</NickName><CertFile/><Enable>Y</Enable>"
		       "<Index>18446744073709551615</Index>"),
	       "elements: escaped text, empty, a bad name skipped, Y/N, u64: %s", out);
	free(out);
}

int main(void)
{
	test_prom();
	test_secrets();
	test_state_json();
	test_authenticate();
	test_hasher();
	test_limit();
	test_routes();
	test_kemp_xml();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
