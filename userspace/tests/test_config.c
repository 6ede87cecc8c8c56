// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of exlbd's configuration model (exlbd/config/: config.c,
 * check.c, json.c, store.c, runtime.c, params.c, rule_compile.c):
 * Kemp names and codes, validation and its messages, atomic changes (memory
 * and disk), the JSON round trip, service naming, the kernel-served list and
 * the status of services.
 *
 * Plain C, TAP lines "ok N - name" / "not ok N - name"; exits non-zero if
 * any check failed.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uapi/linux/exlb.h>
#include "userspace/exlbd/config/config.h"
#include "userspace/exlbd/config/params.h"

#include "tap_report.h"

/* Every P() object, freed at the end: the operations only borrow them. */
static json_t *made[256];
static size_t nr_made;

/* {"k": "v", ...} from "k=v k=v" (values without spaces). */
static json_t *P(const char *spec)
{
	json_t *obj = json_object();

	if (nr_made < sizeof(made) / sizeof(made[0]))
		made[nr_made++] = json_incref(obj);
	char *copy = strdup(spec), *save = NULL;

	for (char *tok = strtok_r(copy, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		*eq = 0;
		json_object_set_new(obj, tok, json_string(eq + 1));
	}
	free(copy);
	return obj;
}

static char *dump(const struct exlb_config *cfg)
{
	json_t *doc = exlb_config_to_json(cfg);
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(doc);
	return text;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return strdup("");
	if (getdelim(&buf, &len, 0, f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

/* Every default in the table goes through its own parser. */
static void test_defaults(void)
{
	bool all = true;
	struct exlb_service svc;
	char err[256];

	for (size_t i = 0; i < exlb_nr_params; i++) {
		const struct exlb_param *p = &exlb_params[i];

		if (p->def && !exlb_param_set(p, &svc, p->def, err, sizeof(err))) {
			printf("# %s\n", err);
			all = false;
		}
	}
	report(all, "every default in the parameter table is a valid value");
}

static void test_kemp_codes(void)
{
	struct exlb_config *cfg = exlb_config_new();
	struct exlb_err err;
	struct exlb_service *s;
	json_t *p = P("NickName=IMAP VStype=StartTLS StartTLSMode=Imap ServerInit=Imap4 "
		      "schedule=LC persist=SRC PersistTimeout=3599 CheckType=pop "
		      "Checkversion=1 CheckUseGet=1 SSLAcceleration=1 TLSType=1 "
		      "CipherSet=BestPractices idletime=1800");
	uint32_t id = 0;
	int rc = exlb_vs_add(cfg, "198.18.0.10", "143", "tcp", p, &id, &err);

	report(rc == 0 && id == 1, "vs add with the guide's spellings (id %u)", id);
	s = exlb_service_by_id(cfg, id);
	report(s && s->vstype == EXLB_VSTYPE_TLS && s->starttls_mode == 4 &&
	       s->server_init == 4,
	       "StartTLS = tls, StartTLSMode Imap = 4, ServerInit Imap4 = 4");
	report(s && s->schedule == EXLB_SCHED_LC && s->persist == EXLB_PERSIST_SRC,
	       "Schedule and Persist codes are case-insensitive, stored as the kernel's enums");
	report(s && s->persist_timeout == 3540,
	       "PersistTimeout 3599 rounds down to 3540 (whole minutes)");
	report(s && s->check_type == EXLB_CHECKTYPE_POP3 && s->check_use_11 == 1 &&
	       s->check_use_get == 1,
	       "CheckType pop = pop3; Checkversion is CheckUse1.1");
	report(exlb_config_check(cfg, &err) == 0, "the guide's IMAP STARTTLS VS passes the checks");
	json_decref(p);

	p = P("PersistTimeout=59");
	rc = exlb_service_mod(cfg, s, p, &err);
	report(rc == 0 && s->persist_timeout == 0, "PersistTimeout below 60 is off (0)");
	json_decref(p);
	exlb_config_free(cfg);
}

/* A rejected value leaves the object exactly as it was. */
static void expect_reject(struct exlb_config *cfg, struct exlb_service *s,
			  const char *spec, const char *want)
{
	struct exlb_service before = *s;
	struct exlb_err err = { "" };
	json_t *p = P(spec);
	int rc = exlb_service_mod(cfg, s, p, &err);

	report(rc != 0 && strstr(err.msg, want) &&
	       !memcmp(&before, s, sizeof(before)),
	       "%s rejected: \"%s\", nothing changed", spec, err.msg);
	json_decref(p);
}

/*
 * UserPwdChangeURL / UserPwdChangeMsg (ESP, docs/esp.md "The form
 * logon"): the URL goes into the logon page's href, so only an https://
 * URL or a path on this host; the message is printable text. A refused
 * value changes nothing.
 */
static void pwd_param(const char *name, const char *value, bool ok)
{
	const struct exlb_param *p = exlb_param_find(name, EXLB_SCOPE_SUBVS, NULL);
	struct exlb_service s;
	char err[512] = "", shown[81];
	bool set;

	snprintf(shown, sizeof(shown), "%s", value);	/* one TAP line */
	for (char *c = shown; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = '?';
	memset(&s, 0, sizeof(s));
	strcpy(s.pwd_change_url, "/before");
	strcpy(s.pwd_change_msg, "before");
	set = p && exlb_param_set(p, &s, value, err, sizeof(err));
	if (ok)
		report(set && !strcmp(p->offset == offsetof(struct exlb_service, pwd_change_url) ?
				      s.pwd_change_url : s.pwd_change_msg, value),
		       "%s='%s' accepted (%s)", name, shown, err);
	else
		report(p && !set && !strcmp(s.pwd_change_url, "/before") &&
		       !strcmp(s.pwd_change_msg, "before") && strstr(err, p->name),
		       "%s='%s' refused, nothing changed: \"%s\"", name, shown, err);
}

static void test_pwd_change(void)
{
	char longer[600];

	pwd_param("UserPwdChangeURL", "", true);
	pwd_param("userpwdchangeurl", "https://pw.example.com/change", true);
	pwd_param("UserPwdChangeUrl", "HTTPS://pw.example.com:8443/a/b?u=1&v=2#top", true);
	pwd_param("UserPwdChangeURL", "https://[fd00::1]:443/x", true);
	pwd_param("UserPwdChangeURL", "https://pw.example.com", true);
	pwd_param("UserPwdChangeURL", "/owa/auth/expiredpassword.aspx?url=/owa/", true);
	pwd_param("UserPwdChangeURL", "http://pw.example.com/", false);
	pwd_param("UserPwdChangeURL", "javascript:alert(1)", false);
	pwd_param("UserPwdChangeURL", "//evil.example/", false);
	pwd_param("UserPwdChangeURL", "/\\evil.example/", false);
	pwd_param("UserPwdChangeURL", "https://", false);
	pwd_param("UserPwdChangeURL", "https:///path", false);
	pwd_param("UserPwdChangeURL", "https://user@evil.example/", false);
	pwd_param("UserPwdChangeURL", "https://pw.example.com:0/", false);
	pwd_param("UserPwdChangeURL", "https://pw.example.com:99999/", false);
	pwd_param("UserPwdChangeURL", "https://pw.example.com/a b", false);
	pwd_param("UserPwdChangeURL", "https://pw.example.com/\"onclick=x", false);
	pwd_param("UserPwdChangeURL", "https://pw.example.com/<x>", false);
	pwd_param("UserPwdChangeURL", "https://pw.example.com/\r\nSet-Cookie:x", false);
	pwd_param("UserPwdChangeURL", "https://pw.exämple.com/", false);
	pwd_param("UserPwdChangeURL", "owa/change", false);
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = 0;
	longer[0] = '/';
	pwd_param("UserPwdChangeURL", longer, false);
	pwd_param("UserPwdChangeMsg", "Your password has expired: change it <here> & \"now\"", true);
	pwd_param("UserPwdChangeMsg", "Ihr Kennwort ist abgelaufen – bitte ändern", true);
	pwd_param("UserPwdChangeMsg", "tab\there", false);
	pwd_param("UserPwdChangeMsg", "del\x7f", false);
	pwd_param("UserPwdChangeMsg", "c1 \xc2\x85 control", false);
	pwd_param("UserPwdChangeMsg", "not utf-8 \xe4", false);
	pwd_param("UserPwdChangeMsg", "overlong \xc0\xae", false);
	pwd_param("UserPwdChangeMsg", "surrogate \xed\xa0\x80", false);
	pwd_param("UserPwdChangeMsg", longer, false);
}

static void test_validation(void)
{
	struct exlb_config *cfg = exlb_config_new();
	struct exlb_err err = { "" };
	struct exlb_service *vs, *sub;
	uint32_t id, sub_id;
	json_t *p;
	int rc;

	exlb_vs_add(cfg, "198.18.0.10", "443", NULL, NULL, &id, &err);
	vs = exlb_service_by_id(cfg, id);
	p = P("Schedule=xx");
	rc = exlb_service_mod(cfg, vs, p, &err);
	report(rc != 0 && !strcmp(err.msg, "Schedule: must be one of rr, wrr, lc, wlc (got 'xx')"),
	       "the error names the parameter and its values: \"%s\"", err.msg);
	json_decref(p);
	/* a good value before the bad one is not applied either */
	expect_reject(cfg, vs, "Schedule=lc Idletime=86401", "Idletime: must be 0-86400 seconds");
	expect_reject(cfg, vs, "PersistTimeout=2419201", "PersistTimeout: must be 0-2419200");
	expect_reject(cfg, vs, "CheckPort=2", "CheckPort: must be 0 or 3-65530");
	expect_reject(cfg, vs, "Frobnicate=1", "unknown VS parameter 'Frobnicate'");
	expect_reject(cfg, vs, "weight=5", "weight: not a VS parameter");
	expect_reject(cfg, vs, "Schedule=rr schedule=lc", "given twice");
	expect_reject(cfg, vs, "CheckUrl=ews", "CheckUrl: must be a path");
	expect_reject(cfg, vs, "CheckCodes=200,abc", "CheckCodes:");
	expect_reject(cfg, vs, "NickName=123", "NickName: must not be all digits");
	expect_reject(cfg, vs, "Enable=maybe", "Enable: must be 0 or 1");

	exlb_service_mod(cfg, vs, P("VStype=http"), &err);
	exlb_subvs_add(cfg, exlb_service_by_id(cfg, id), P("NickName=EWS"), &sub_id, &err);
	sub = exlb_service_by_id(cfg, sub_id);
	expect_reject(cfg, sub, "TLSType=1", "TLSType: not a SubVS parameter");

	vs = exlb_service_by_id(cfg, id);
	vs->vstype = EXLB_VSTYPE_TLS;
	report(exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "StartTLSMode"),
	       "VStype tls without StartTLSMode fails the check: \"%s\"", err.msg);
	vs->vstype = EXLB_VSTYPE_HTTP;
	cfg->globals.retry_timeout = 9;
	report(exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "Timeout"),
	       "health Timeout must stay below RetryInterval: \"%s\"", err.msg);
	cfg->globals.retry_timeout = 4;
	rc = exlb_global_set(cfg, "finalpersist", "30", &err);
	report(rc != 0 && strstr(err.msg, "finalpersist: must be 0 or 60-86400"),
	       "finalpersist 30 rejected: \"%s\"", err.msg);
	rc = exlb_global_set(cfg, "DropOnFail", "1", &err);
	report(rc == 0 && cfg->globals.droponfail == 1, "globals by case-insensitive name");
	exlb_config_free(cfg);
}

/* Per-VS / per-SubVS RetryInterval, Timeout, RetryCount: ranges, inheritance, JSON. */
static void test_health_timing(void)
{
	struct exlb_config *cfg = exlb_config_new(), *back;
	struct exlb_health_timing t;
	struct exlb_service *vs, *owa, *ews;
	struct exlb_err err = { "" };
	uint32_t id, owa_id, ews_id;
	json_t *doc, *svc;
	int rc;

	exlb_vs_add(cfg, "198.18.0.10", "443", NULL, P("VStype=http NickName=Mail"), &id, &err);
	exlb_subvs_add(cfg, exlb_service_by_id(cfg, id), P("NickName=OWA"), &owa_id, &err);
	exlb_subvs_add(cfg, exlb_service_by_id(cfg, id), P("NickName=EWS"), &ews_id, &err);
	vs = exlb_service_by_id(cfg, id);
	owa = exlb_service_by_id(cfg, owa_id);
	ews = exlb_service_by_id(cfg, ews_id);
	report(vs->retry_interval == 0 && owa->retry_timeout == 0 && ews->retry_count == 0,
	       "a new VS and SubVS have no timing of their own (0 = inherit)");
	exlb_service_health_timing(cfg, owa, &t);
	report(t.retry_interval == 9 && t.retry_timeout == 4 && t.retry_count == 2 &&
	       !strcmp(t.from_interval, "global") && !strcmp(t.from_count, "global"),
	       "without overrides a SubVS uses the globals (9/4/2)");

	expect_reject(cfg, vs, "RetryInterval=8", "RetryInterval: must be 0 (inherit) or 9-120 seconds");
	expect_reject(cfg, vs, "RetryInterval=121", "RetryInterval: must be 0 (inherit) or 9-120");
	expect_reject(cfg, owa, "Timeout=3", "Timeout: must be 0 (inherit) or 4-60 seconds");
	expect_reject(cfg, owa, "Timeout=61", "Timeout: must be 0 (inherit) or 4-60");
	expect_reject(cfg, ews, "RetryCount=1", "RetryCount: must be 0 (inherit) or 2-15");
	expect_reject(cfg, ews, "RetryCount=16", "RetryCount: must be 0 (inherit) or 2-15");

	rc = exlb_service_mod(cfg, vs, P("RetryInterval=20 RetryCount=3"), &err);
	rc |= exlb_service_mod(cfg, owa, P("Timeout=6 retrycount=5"), &err);
	report(rc == 0 && vs->retry_interval == 20 && owa->retry_timeout == 6 &&
	       owa->retry_count == 5, "VS and SubVS take RetryInterval/Timeout/RetryCount");
	exlb_service_health_timing(cfg, owa, &t);
	report(t.retry_interval == 20 && !strcmp(t.from_interval, "VS") &&
	       t.retry_timeout == 6 && !strcmp(t.from_timeout, "SubVS") &&
	       t.retry_count == 5 && !strcmp(t.from_count, "SubVS"),
	       "a SubVS: its own values, else its VS's (20 from VS, 6 and 5 own)");
	exlb_service_health_timing(cfg, ews, &t);
	report(t.retry_interval == 20 && t.retry_timeout == 4 &&
	       !strcmp(t.from_timeout, "global") && t.retry_count == 3,
	       "another SubVS: VS's 20 and 3, global Timeout 4");
	exlb_global_set(cfg, "Timeout", "7", &err);
	exlb_service_health_timing(cfg, ews, &t);
	report(t.retry_timeout == 7, "a global change reaches services that inherit it");
	report(exlb_config_check(cfg, &err) == 0, "the configuration checks: \"%s\"", err.msg);

	/* the effective Timeout must stay below the effective RetryInterval */
	exlb_global_set(cfg, "Timeout", "4", &err);
	exlb_service_mod(cfg, ews, P("RetryInterval=9 Timeout=9"), &err);
	report(exlb_config_check(cfg, &err) != 0 &&
	       strstr(err.msg, "EWS: Timeout: must be less than RetryInterval (9, SubVS)"),
	       "SubVS Timeout 9 >= its RetryInterval 9 fails the check: \"%s\"", err.msg);
	exlb_service_mod(cfg, ews, P("RetryInterval=0 Timeout=0"), &err);
	exlb_service_mod(cfg, vs, P("RetryInterval=0"), &err);
	exlb_service_mod(cfg, owa, P("Timeout=10"), &err);
	report(exlb_config_check(cfg, &err) != 0 &&
	       strstr(err.msg, "OWA: Timeout: must be less than RetryInterval (9, global)"),
	       "SubVS Timeout 10 against the global RetryInterval 9 fails: \"%s\"", err.msg);
	exlb_service_mod(cfg, owa, P("Timeout=6"), &err);
	report(exlb_service_mod(cfg, vs, P("RetryInterval=0"), &err) == 0 &&
	       vs->retry_interval == 0 && exlb_config_check(cfg, &err) == 0,
	       "0 goes back to inheriting");

	/* JSON: overrides are written, inherited values are absent */
	doc = exlb_config_to_json(cfg);
	svc = json_array_get(json_object_get(doc, "vs"), 0);
	report(svc && !json_object_get(svc, "RetryInterval") &&
	       !json_object_get(svc, "Timeout") && json_integer_value(json_object_get(svc, "RetryCount")) == 3,
	       "JSON: the VS has RetryCount 3 and no RetryInterval/Timeout keys");
	svc = json_array_get(json_object_get(svc, "subvs"), 0);
	report(svc && json_integer_value(json_object_get(svc, "Timeout")) == 6 &&
	       json_integer_value(json_object_get(svc, "RetryCount")) == 5 &&
	       !json_object_get(svc, "RetryInterval"),
	       "JSON: SubVS OWA has Timeout 6, RetryCount 5, no RetryInterval");
	back = exlb_config_from_json(doc, &err);
	report(back && exlb_service_by_id(back, owa_id)->retry_timeout == 6 &&
	       exlb_service_by_id(back, owa_id)->retry_interval == 0 &&
	       exlb_service_by_id(back, id)->retry_count == 3,
	       "JSON round trip keeps overrides and inheritance: \"%s\"", back ? "" : err.msg);
	exlb_config_free(back);
	json_object_set_new(json_array_get(json_object_get(doc, "vs"), 0), "Timeout",
			    json_integer(2));
	back = exlb_config_from_json(doc, &err);
	report(!back && strstr(err.msg, "Timeout: must be 0 (inherit) or 4-60"),
	       "JSON with VS Timeout 2 is rejected: \"%s\"", err.msg);
	exlb_config_free(back);
	json_decref(doc);
	exlb_config_free(cfg);
}

static void test_real_servers(void)
{
	struct exlb_config *cfg = exlb_config_new();
	struct exlb_err err = { "" };
	uint32_t vs, ews, owa;
	struct exlb_rs *rs;
	int rc;

	exlb_vs_add(cfg, "198.18.0.10", "443", "tcp", P("VStype=http NickName=Mail"), &vs, &err);
	rc = exlb_rs_add(cfg, exlb_service_by_id(cfg, vs), "198.18.1.11", P("weight=0"), &err);
	report(rc == 0 && cfg->nr_reals == 1 && cfg->reals[0].port == 443 &&
	       cfg->reals[0].weight == 0,
	       "rs add: port defaults to the VS port, weight 0 accepted");
	rc = exlb_rs_add(cfg, exlb_service_by_id(cfg, vs), "198.18.1.11", NULL, &err);
	report(rc != 0 && strstr(err.msg, "exists"), "the same RS twice is refused: \"%s\"", err.msg);
	rc = exlb_rs_add(cfg, exlb_service_by_id(cfg, vs), "198.18.1.12", P("weight=65536"), &err);
	report(rc != 0 && strstr(err.msg, "weight: must be 0-65535") && cfg->nr_reals == 1,
	       "weight 65536 refused: \"%s\"", err.msg);
	rc = exlb_rs_add(cfg, exlb_service_by_id(cfg, vs), "198.18.1.12", P("limit=100001"), &err);
	report(rc != 0 && strstr(err.msg, "limit:"), "limit 100001 refused");
	rc = exlb_subvs_add(cfg, exlb_service_by_id(cfg, vs), P("NickName=EWS"), &ews, &err);
	report(rc != 0 && strstr(err.msg, "real servers of its own"),
	       "no SubVS on a VS that has its own RSs: \"%s\"", err.msg);
	exlb_rs_del(cfg, cfg->reals[0].id, &err);
	exlb_subvs_add(cfg, exlb_service_by_id(cfg, vs), P("NickName=EWS"), &ews, &err);
	exlb_subvs_add(cfg, exlb_service_by_id(cfg, vs), P("NickName=OWA"), &owa, &err);
	rc = exlb_rs_add(cfg, exlb_service_by_id(cfg, vs), "198.18.1.11", NULL, &err);
	report(rc != 0 && strstr(err.msg, "has SubVSs"), "rs add on a VS with SubVSs is refused");
	rc = exlb_rs_add(cfg, exlb_service_by_id(cfg, ews), "198.18.1.12",
			 P("port=443 addtoallsubvs=1"), &err);
	report(rc == 0 && exlb_service_nr_rs(cfg, ews) == 1 && exlb_service_nr_rs(cfg, owa) == 1,
	       "addtoallsubvs=1 adds to every SubVS");
	rc = exlb_rs_add(cfg, exlb_service_by_id(cfg, ews), "198.18.1.13", P("forward=route"), &err);
	report(rc == 0 && exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "forward: route"),
	       "forward=route on an L7 service fails the check: \"%s\"", err.msg);
	rs = exlb_rs_find(cfg, exlb_service_by_id(cfg, owa), "198.18.1.12", &err);
	rc = rs ? exlb_rs_mod(cfg, exlb_service_by_id(cfg, owa), rs, P("enable=0 newport=8443"), &err) : -1;
	report(rc == 0 && rs->enable == 0 && rs->port == 8443, "rs mod enable=0 newport=8443");
	report(exlb_rs_find(cfg, exlb_service_by_id(cfg, owa), "198.18.1.12:8443", &err) == rs,
	       "an RS is found by ADDR:PORT");
	exlb_config_free(cfg);
}

static void test_naming(void)
{
	struct exlb_config *cfg = exlb_config_new();
	struct exlb_err err = { "" };
	uint32_t a, b, sub;

	exlb_vs_add(cfg, "198.18.0.10", "443", NULL, P("NickName=OWA VStype=http"), &a, &err);
	exlb_vs_add(cfg, "2001:db8::10", "443", NULL, P("NickName=Mail6"), &b, &err);
	exlb_subvs_add(cfg, exlb_service_by_id(cfg, a), P("NickName=OWA"), &sub, &err);
	report(exlb_service_find(cfg, "198.18.0.10:443", &err) == exlb_service_by_id(cfg, a),
	       "a VS by VIP:PORT");
	report(exlb_service_find(cfg, "[2001:db8::10]:443", &err) == exlb_service_by_id(cfg, b),
	       "an IPv6 VS by [VIP]:PORT");
	report(exlb_service_find(cfg, "mail6", &err) == exlb_service_by_id(cfg, b),
	       "a VS by nickname, case-insensitive");
	report(!exlb_service_find(cfg, "OWA", &err) && strstr(err.msg, "names 2 services"),
	       "an ambiguous nickname is an error: \"%s\"", err.msg);
	report(exlb_service_find(cfg, "198.18.0.10:443/OWA", &err) == exlb_service_by_id(cfg, sub),
	       "a SubVS by VS/NICKNAME");
	report(exlb_service_find(cfg, "3", &err) == exlb_service_by_id(cfg, sub), "a SubVS by id");
	exlb_config_free(cfg);
}

static void test_kernel_services(void)
{
	struct exlb_config *cfg = exlb_config_new();
	struct exlb_err err;
	const struct exlb_service *out[8];
	uint32_t imap, https, smtp, sub;
	size_t n;

	exlb_vs_add(cfg, "198.18.0.10", "143", NULL, P("NickName=IMAP"), &imap, &err);
	exlb_vs_add(cfg, "198.18.0.10", "443", NULL, P("VStype=http"), &https, &err);
	exlb_vs_add(cfg, "198.18.0.10", "587", NULL, P("SSLAcceleration=1"), &smtp, &err);
	exlb_vs_add(cfg, "198.18.0.10", "25", NULL, P("Enable=0"), &smtp, &err);
	exlb_vs_add(cfg, "198.18.0.11", "443", NULL, NULL, &smtp, &err);
	exlb_subvs_add(cfg, exlb_service_by_id(cfg, smtp), NULL, &sub, &err);
	n = exlb_config_kernel_services(cfg, out, 8);
	report(n == 1 && out[0]->id == imap,
	       "kernel-served: only the enabled gen VS without TLS or SubVSs (%zu)", n);
	exlb_config_free(cfg);
}

/*
 * AltSourceAddrs (connection scaling past 64k, with Kemp's localbind): what
 * the configuration check refuses, and what the kernel is asked for.
 */
static void alt_check(struct exlb_config *cfg, struct exlb_service *s,
		      const char *spec, const char *want)
{
	struct exlb_err err = { "" };
	int rc = exlb_service_mod(cfg, s, P(spec), &err);

	if (!rc)
		rc = exlb_config_check(cfg, &err);
	if (want)
		report(rc != 0 && strstr(err.msg, want), "%s refused: \"%s\"",
		       spec, err.msg);
	else
		report(rc == 0, "%s accepted (%s)", spec, err.msg);
}

static void test_alt_source(void)
{
	struct exlb_config *cfg = exlb_config_new();
	struct exlb_err err = { "" };
	struct exlb_service *vs, *l7;
	uint32_t id, l7_id;

	exlb_vs_add(cfg, "198.18.0.10", "143", NULL, NULL, &id, &err);
	exlb_vs_add(cfg, "198.18.0.10", "443", NULL, P("VStype=http"), &l7_id, &err);
	vs = exlb_service_by_id(cfg, id);
	l7 = exlb_service_by_id(cfg, l7_id);
	alt_check(cfg, vs, "AltSourceAddrs=198.18.1.21", "AltSourceAddrs: needs localbind=1");
	exlb_service_mod(cfg, vs, P("AltSourceAddrs="), &err);
	exlb_global_set(cfg, "AltSourceAddrs", "198.18.1.21", &err);
	report(exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "needs localbind=1"),
	       "global AltSourceAddrs without localbind refused: \"%s\"", err.msg);
	exlb_global_set(cfg, "AltSourceAddrs", "", &err);
	exlb_global_set(cfg, "localbind", "1", &err);
	expect_reject(cfg, vs, "AltSourceAddrs=198.18.1.21,bogus", "'bogus' is not an IP address");
	expect_reject(cfg, vs, "AltSourceAddrs=198.18.1.21,198.18.1.21", "198.18.1.21 given twice");
	alt_check(cfg, vs, "AltSourceAddrs=198.18.1.21,fd00::21", "every address must be of the VIP's family");
	alt_check(cfg, vs, "Transparent=1 AltSourceAddrs=198.18.1.21", "set one or the other");
	exlb_service_mod(cfg, vs, P("Transparent=0 AltSourceAddrs="), &err);
	alt_check(cfg, l7, "AltSourceAddrs=198.18.1.21", "only for VSs exlb.ko serves");
	exlb_service_mod(cfg, l7, P("AltSourceAddrs="), &err);
	alt_check(cfg, vs, "AltSourceAddrs=198.18.1.21,198.18.1.22", NULL);
	exlb_global_set(cfg, "localbind", "0", &err);
	report(exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "needs localbind=1"),
	       "localbind=0 while a VS has AltSourceAddrs refused: \"%s\"", err.msg);
	exlb_config_free(cfg);
}

/* A configuration with one of everything. */
static struct exlb_config *full_config(void)
{
	struct exlb_config *cfg = exlb_config_new();
	struct exlb_err err;
	uint32_t vs, ews, owa, imap;

	exlb_global_set(cfg, "droponfail", "1", &err);
	exlb_global_set(cfg, "expect100", "2", &err);
	exlb_rule_add(cfg, "EWS", P("matchtype=regex pattern=/^\\/ews.*/ nocase=1"), &err);
	exlb_rule_add(cfg, "OWA", P("pattern=/^\\/owa.*/ nocase=1"), &err);
	exlb_vs_add(cfg, "198.18.0.10", "443", "tcp",
		    P("NickName=Exchange VStype=http SSLAcceleration=1 SSLReencrypt=1 "
		      "CipherSet=BestPractices Schedule=lc Idletime=1800 SubnetOriginating=1"),
		    &vs, &err);
	exlb_subvs_add(cfg, exlb_service_by_id(cfg, vs),
		       P("NickName=EWS CheckType=https CheckUrl=/ews/healthcheck.htm "
			 "CheckUseGet=1 CheckPort=443 EspEnabled=0 ESPLogs=7"), &ews, &err);
	exlb_subvs_add(cfg, exlb_service_by_id(cfg, vs), P("NickName=OWA"), &owa, &err);
	exlb_rule_attach(cfg, exlb_service_by_id(cfg, ews), "EWS", &err);
	exlb_rule_attach(cfg, exlb_service_by_id(cfg, owa), "OWA", &err);
	exlb_rs_add(cfg, exlb_service_by_id(cfg, ews), "198.18.1.11",
		    P("weight=500 addtoallsubvs=1"), &err);
	exlb_vs_add(cfg, "2001:db8::10", "993", NULL,
		    P("NickName=IMAPS ServerInit=4 Persist=src PersistTimeout=3600"), &imap, &err);
	exlb_rs_add(cfg, exlb_service_by_id(cfg, imap), "2001:db8::11", P("limit=100"), &err);
	return cfg;
}

static void test_json_round_trip(void)
{
	struct exlb_config *cfg = full_config(), *back;
	struct exlb_err err = { "" };
	char *one = dump(cfg), *two;
	json_t *doc = json_loads(one, 0, NULL);

	report(exlb_config_check(cfg, &err) == 0 && cfg->nr_services == 4 &&
	       cfg->nr_reals == 3 && cfg->nr_rules == 2,
	       "the full configuration builds and passes the checks (%s)", err.msg);
	back = exlb_config_from_json(doc, &err);
	two = back ? dump(back) : strdup("");
	report(back && !strcmp(one, two), "to JSON, from JSON, to JSON gives the same document");
	report(back && !memcmp(back->services, cfg->services,
			       cfg->nr_services * sizeof(*cfg->services)) &&
	       !memcmp(back->reals, cfg->reals, cfg->nr_reals * sizeof(*cfg->reals)),
	       "... and the same objects");
	json_decref(doc);
	free(two);
	exlb_config_free(back);

	doc = json_loads(one, 0, NULL);
	json_object_set_new(json_array_get(json_object_get(doc, "vs"), 0), "Schedule",
			    json_string("fastest"));
	back = exlb_config_from_json(doc, &err);
	report(!back && strstr(err.msg, "vs[0]: Schedule: must be one of"),
	       "a bad value in a document is located: \"%s\"", err.msg);
	json_decref(doc);

	doc = json_loads(one, 0, NULL);
	json_object_set_new(doc, "colour", json_string("blue"));
	back = exlb_config_from_json(doc, &err);
	report(!back && strstr(err.msg, "colour"), "an unknown key is refused: \"%s\"", err.msg);
	json_decref(doc);

	doc = json_pack("{ss si s[{ss si ss}]}", "format", "exlb-config", "version", 1,
			"vs", "vip", "198.18.0.20", "port", 110, "ServerInit", "pop3");
	back = exlb_config_from_json(doc, &err);
	report(back && back->nr_services == 1 && back->services[0].id == 1 &&
	       back->services[0].server_init == 6 && back->services[0].schedule == EXLB_SCHED_RR,
	       "a short hand-written document gets ids and defaults");
	exlb_config_free(back);
	json_decref(doc);
	free(one);
	exlb_config_free(cfg);
}

static void test_rules(void)
{
	struct exlb_config *cfg = full_config();
	struct exlb_err err = { "" };
	int rc = exlb_rule_del(cfg, "EWS", &err);

	report(rc != 0 && strstr(err.msg, "detach it first"),
	       "a rule in use cannot be deleted: \"%s\"", err.msg);
	rc = exlb_rule_add(cfg, "Bad", P("pattern=/(/"), &err);
	report(rc == 0 && exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "rule 'Bad'"),
	       "a regex that does not compile fails the check: \"%s\"", err.msg);
	rc = exlb_rule_attach(cfg, exlb_service_by_id(cfg, 1), "OWA", &err);
	report(rc != 0 && strstr(err.msg, "is a VS"), "rules attach to SubVSs only");
	exlb_config_free(cfg);
}

/* Header rules: Kemp's rule types, request/response lists of a VS. */
static void test_header_rules(void)
{
	struct exlb_config *cfg = full_config();
	struct exlb_err err = { "" };
	struct exlb_service *vs = exlb_service_by_id(cfg, 1);
	struct exlb_service *ews = exlb_service_by_id(cfg, 2);
	const struct exlb_rule *r;
	struct exlb_config *back;
	json_t *doc;
	int rc;

	rc = exlb_rule_add(cfg, "HSTS", P("type=1 header=X-Frame-Options replacement=DENY"), &err);
	r = exlb_rule_find(cfg, "HSTS");
	report(rc == 0 && r && r->type == EXLB_RULE_ADD_HEADER && !strcmp(r->replacement, "DENY"),
	       "type=1 is AddHeaderRule, replacement stored");
	rc = exlb_rule_add(cfg, "DelSrv", P("type=DeleteHeaderRule pattern=/^Server$/"), &err);
	report(rc == 0 && exlb_rule_find(cfg, "DelSrv")->type == EXLB_RULE_DELETE_HEADER,
	       "type=DeleteHeaderRule (Kemp's name) accepted");
	rc = exlb_rule_add(cfg, "DelPB", P("type=deleteheader header=X-Powered-By"), &err);
	rc = rc ? rc : exlb_config_check(cfg, &err);
	report(rc == 0 && !exlb_rule_find(cfg, "DelPB")->pattern[0],
	       "a DeleteHeaderRule of a named header needs no pattern: \"%s\"", rc ? err.msg : "");
	rc = exlb_rule_add(cfg, "DelNone", P("type=deleteheader"), &err);
	rc = rc ? rc : exlb_config_check(cfg, &err);
	report(rc != 0 && strstr(err.msg, "needs the header to delete or a pattern"),
	       "a DeleteHeaderRule with neither header nor pattern is refused: \"%s\"", err.msg);
	exlb_rule_del(cfg, "DelNone", &err);
	rc = exlb_rule_add(cfg, "Url", P("type=modifyurl pattern=/^\\/old/ replacement=/new"), &err);
	report(rc == 0 && exlb_rule_find(cfg, "Url")->type == EXLB_RULE_MODIFY_URL,
	       "type=modifyurl accepted");
	rc = exlb_rule_add(cfg, "Nope", P("type=7 pattern=x"), &err);
	report(rc != 0 && strstr(err.msg, "type: must be one of"),
	       "an unknown rule type is refused: \"%s\"", err.msg);
	report(exlb_config_check(cfg, &err) == 0, "the header rules pass the check");

	rc = exlb_rule_attach_to(cfg, vs, "HSTS", EXLB_RULES_RESPONSE, &err);
	rc |= exlb_rule_attach_to(cfg, vs, "Url", EXLB_RULES_REQUEST, &err);
	rc |= exlb_rule_attach_to(cfg, vs, "DelSrv", EXLB_RULES_RESPONSE, &err);
	report(rc == 0 && vs->nr_response_rules == 2 && vs->nr_request_rules == 1 &&
	       !strcmp(vs->response_rules[1], "DelSrv"),
	       "header rules attach to a VS's request and response lists in order");
	rc = exlb_rule_attach(cfg, vs, "HSTS", &err);
	report(rc != 0 && strstr(err.msg, "header rule"),
	       "a header rule without request/response is refused: \"%s\"", err.msg);
	rc = exlb_rule_attach_to(cfg, ews, "HSTS", EXLB_RULES_REQUEST, &err);
	report(rc != 0 && strstr(err.msg, "belong to a VS"),
	       "header rules go on a VS, not a SubVS: \"%s\"", err.msg);
	rc = exlb_rule_attach_to(cfg, vs, "EWS", EXLB_RULES_REQUEST, &err);
	report(rc != 0 && strstr(err.msg, "content rule"),
	       "a content rule is not a request rule: \"%s\"", err.msg);
	rc = exlb_rule_del(cfg, "HSTS", &err);
	report(rc != 0 && strstr(err.msg, "detach it first"),
	       "a header rule in use cannot be deleted: \"%s\"", err.msg);
	exlb_rule_mod(cfg, exlb_rule_find(cfg, "EWS"), P("type=addheader header=X"), &err);
	report(exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "only content rules select a SubVS"),
	       "turning an attached content rule into a header rule fails the check: \"%s\"",
	       err.msg);
	exlb_rule_mod(cfg, exlb_rule_find(cfg, "EWS"), P("type=0"), &err);

	doc = exlb_config_to_json(cfg);
	back = exlb_config_from_json(doc, &err);
	report(back && exlb_service_by_id(back, 1)->nr_response_rules == 2 &&
	       exlb_rule_find(back, "Url")->type == EXLB_RULE_MODIFY_URL &&
	       !strcmp(json_string_value(json_object_get(json_array_get(json_object_get(doc, "rules"), 2), "type")),
		       "addheader"),
	       "rule types and a VS's header rules round-trip through JSON");
	exlb_config_free(back);
	json_decref(doc);
	rc = exlb_rule_detach_from(cfg, vs, "HSTS", -1, &err);
	report(rc == 0 && vs->nr_response_rules == 1 && !strcmp(vs->response_rules[0], "DelSrv"),
	       "detach finds the rule in whichever list has it");
	exlb_config_free(cfg);
}

static void test_tls_params(void)
{
	struct exlb_config *cfg = exlb_config_new();
	struct exlb_err err = { "" };
	uint32_t id;
	struct exlb_service *vs;

	exlb_vs_add(cfg, "198.18.0.10", "443", NULL, P("VStype=http SSLAcceleration=1"), &id, &err);
	vs = exlb_service_by_id(cfg, id);
	report(vs && !strcmp(vs->cipher_set, "BestPractices") && !vs->cert_file[0],
	       "a new VS has CipherSet BestPractices and no CertFile (self-signed)");
	report(exlb_service_mod(cfg, vs, P("CertFile=a,b"), &err) == 0 &&
	       exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "no certificate named 'a'"),
	       "CertFile names must exist: \"%s\"", err.msg);
	report(exlb_service_mod(cfg, vs, P("certfile=../x"), &err) != 0,
	       "CertFile refuses names with '/'");
	exlb_config_free(cfg);
}

static void test_store(void)
{
	char dir[] = "/tmp/exlb-test-config-XXXXXX";
	struct exlb_store st, again;
	struct exlb_err err = { "" };
	struct exlb_config *next;
	char path[256], *before, *after, *mem_before, *mem_after;
	json_t *p;
	int rc;

	if (!mkdtemp(dir)) {
		report(false, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/config.json", dir);
	rc = exlb_store_open(&st, dir, &err);
	report(rc == 0 && st.config->nr_services == 0, "an empty state directory starts empty");
	rc = exlb_store_commit(&st, full_config(), "test: full", &err);
	report(rc == 0 && access(path, F_OK) == 0, "a commit writes the state file");

	/* a change that fails the whole-config check: memory and disk stay */
	before = read_file(path);
	mem_before = dump(st.config);
	next = exlb_config_clone(st.config);
	p = P("VStype=tls");
	exlb_service_mod(next, exlb_service_by_id(next, 1), p, &err);
	json_decref(p);
	rc = exlb_store_commit(&st, next, "test: bad", &err);
	after = read_file(path);
	mem_after = dump(st.config);
	report(rc != 0 && !strcmp(before, after) && !strcmp(mem_before, mem_after),
	       "a failing commit changes neither memory nor disk: \"%s\"", err.msg);
	free(after);
	free(mem_after);

	rc = exlb_store_open(&again, dir, &err);
	mem_after = rc == 0 ? dump(again.config) : strdup("");
	report(rc == 0 && !strcmp(mem_before, mem_after), "reopening restores the same configuration");
	report(access(path, F_OK) == 0 && strstr(before, "\"format\": \"exlb-config\""),
	       "the file is the documented JSON document");
	free(before);
	free(mem_before);
	free(mem_after);
	if (rc == 0)
		exlb_store_close(&again);
	exlb_store_close(&st);
	unlink(path);
	rmdir(dir);
}

/*
 * Edge Security Pack: EspEnabled=1 is accepted only where every ESP
 * setting of the service is enforced (esp_settings_enforced(): the gates,
 * InputAuthMode=0, OutputAuthMode=0, on HTTP services and SMTP VSs), and
 * refused wherever configuration enters otherwise (fail closed,
 * docs/esp.md); exlbd's own older state file with a refused one is loaded
 * with that service held, serving nothing, the rest serving.
 */
#define ESP_NO_PREAUTH "EspEnabled=1: InputAuthMode=5: pre-authentication against the directory is not implemented yet"
static void test_esp_refused(void)
{
	char dir[] = "/tmp/exlb-test-esp-XXXXXX";
	struct exlb_config *cfg = full_config(), *next, *back;
	const struct exlb_service *out[8];
	struct exlb_err err = { "" };
	struct exlb_store st;
	char path[256], *before, *after;
	json_t *doc;
	uint32_t id;
	int rc;

	report(exlb_config_check(cfg, &err) == 0 &&
	       exlb_service_by_id(cfg, 2)->esp_logs == 7,
	       "EspEnabled=0 with other ESP parameters passes (inert, stored)");
	err.msg[0] = 0;
	report(exlb_service_mod(cfg, exlb_service_by_id(cfg, 2),
				P("EspEnabled=1 AllowedHosts=mail.example.com AllowedDirectories=/ews/*"), &err) == 0 &&
	       exlb_config_check(cfg, &err) == 0,
	       "subvs mod EspEnabled=1 with InputAuthMode=0, OutputAuthMode=0 (the gates) passes (%s)", err.msg);
	report(exlb_service_mod(cfg, exlb_service_by_id(cfg, 2), P("InputAuthMode=5"), &err) == 0 &&
	       exlb_config_check(cfg, &err) != 0 &&
	       strstr(err.msg, "SubVS EWS: " ESP_NO_PREAUTH) &&
	       strstr(err.msg, "use InputAuthMode=0") && !strchr(err.msg, '\n'),
	       "InputAuthMode=5 (NTLM) with EspEnabled=1 fails the whole-config check: \"%s\"", err.msg);
	exlb_service_mod(cfg, exlb_service_by_id(cfg, 2), P("InputAuthMode=0 OutputAuthMode=1"), &err);
	report(exlb_config_check(cfg, &err) != 0 &&
	       strstr(err.msg, "SubVS EWS: EspEnabled=1: OutputAuthMode=1: passes on the credentials of the Basic or form logon: needs InputAuthMode=1 or 2"),
	       "OutputAuthMode=1 with InputAuthMode=0 fails the check: \"%s\"", err.msg);
	exlb_service_mod(cfg, exlb_service_by_id(cfg, 2), P("EspEnabled=0 OutputAuthMode=0"), &err);
	report(exlb_subvs_add(cfg, exlb_service_by_id(cfg, 1), P("NickName=AP EnableESP=1 InputAuthMode=1"), &id, &err) == 0 &&
	       exlb_config_check(cfg, &err) != 0 &&
	       strstr(err.msg, "SubVS AP: Domain: InputAuthMode 1 logs users on against an SSO domain"),
	       "subvs add EnableESP=1 (the guide's alias) InputAuthMode=1 without a Domain fails the check: \"%s\"", err.msg);
	exlb_service_mod(cfg, exlb_service_by_id(cfg, id), P("Domain=EXLB"), &err);
	report(exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "SubVS AP: Domain: no SSO domain named 'EXLB'"),
	       "InputAuthMode=1 naming an SSO domain that does not exist fails the check: \"%s\"", err.msg);
	err.msg[0] = 0;
	report(exlb_sso_add(cfg, "exlb", P("server=198.18.0.9 auth_type=LDAP-Unencrypted"), &err) == 0 &&
	       exlb_config_check(cfg, &err) == 0,
	       "InputAuthMode=1 (Basic) OutputAuthMode=0 with an existing SSO domain passes (%s)", err.msg);
	err.msg[0] = 0;
	report(exlb_service_mod(cfg, exlb_service_by_id(cfg, id), P("OutputAuthMode=1"), &err) == 0 &&
	       exlb_config_check(cfg, &err) == 0,
	       "InputAuthMode=1 OutputAuthMode=1 (Basic passed on) passes (%s)", err.msg);
	exlb_service_mod(cfg, exlb_service_by_id(cfg, id), P("OutputAuthMode=2"), &err);
	report(exlb_config_check(cfg, &err) != 0 &&
	       strstr(err.msg, "SubVS AP: EspEnabled=1: OutputAuthMode=2: logs the user on to Exchange's form with the credentials of ESP's form logon: needs InputAuthMode=2"),
	       "InputAuthMode=1 OutputAuthMode=2 (form) fails the check: there is no form logon to pass on: \"%s\"", err.msg);
	exlb_service_mod(cfg, exlb_service_by_id(cfg, id), P("OutputAuthMode=3"), &err);
	report(exlb_config_check(cfg, &err) != 0 &&
	       strstr(err.msg, "SubVS AP: EspEnabled=1: OutputAuthMode=3: not implemented yet"),
	       "InputAuthMode=1 OutputAuthMode=3 (KCD) fails the check: \"%s\"", err.msg);
	err.msg[0] = 0;
	report(exlb_service_mod(cfg, exlb_service_by_id(cfg, id), P("OutputAuthMode=0 InputAuthMode=2"), &err) == 0 &&
	       exlb_config_check(cfg, &err) == 0,
	       "InputAuthMode=2 (form) OutputAuthMode=0 with an SSO domain passes (%s)", err.msg);
	report(exlb_service_mod(cfg, exlb_service_by_id(cfg, id), P("OutputAuthMode=1"), &err) == 0 &&
	       exlb_config_check(cfg, &err) == 0,
	       "InputAuthMode=2 (form) OutputAuthMode=1 (Basic from the session) passes (%s)", err.msg);
	err.msg[0] = 0;
	report(exlb_service_mod(cfg, exlb_service_by_id(cfg, id), P("OutputAuthMode=2"), &err) == 0 &&
	       exlb_config_check(cfg, &err) == 0,
	       "InputAuthMode=2 OutputAuthMode=2 (the form logon passed on to Exchange's form) passes (%s)", err.msg);
	exlb_service_mod(cfg, exlb_service_by_id(cfg, id), P("OutputAuthMode=3"), &err);
	report(exlb_config_check(cfg, &err) != 0 &&
	       strstr(err.msg, "SubVS AP: EspEnabled=1: OutputAuthMode=3: not implemented yet"),
	       "InputAuthMode=2 OutputAuthMode=3 (KCD) fails the check: \"%s\"", err.msg);
	exlb_service_mod(cfg, exlb_service_by_id(cfg, id), P("OutputAuthMode=0 Domain="), &err);
	report(exlb_config_check(cfg, &err) != 0 &&
	       strstr(err.msg, "SubVS AP: Domain: InputAuthMode 2 logs users on against an SSO domain"),
	       "InputAuthMode=2 without a Domain fails the check: \"%s\"", err.msg);
	exlb_service_del(cfg, id, &err);
	report(exlb_vs_add(cfg, "198.18.0.12", "25", NULL, P("NickName=SMTPB EspEnabled=1 SMTPAllowedDomains=example.com InputAuthMode=1 Domain=EXLB"), &id, &err) == 0 &&
	       exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "VS SMTPB: EspEnabled=1: InputAuthMode=1: the Basic logon is enforced on HTTP services only"),
	       "InputAuthMode=1 on an SMTP VS fails the check: \"%s\"", err.msg);
	exlb_service_del(cfg, id, &err);
	cfg->nr_sso = 0;
	err.msg[0] = 0;
	report(exlb_vs_add(cfg, "198.18.0.12", "25", NULL, P("NickName=SMTPESP EspEnabled=1 SMTPAllowedDomains=example.com"), &id, &err) == 0 &&
	       exlb_config_check(cfg, &err) == 0 &&
	       !exlb_service_is_kernel_served(cfg, exlb_service_by_id(cfg, id)) &&
	       exlb_config_kernel_services(cfg, out, 8) == 1 && out[0]->id != id,
	       "an SMTP VS (gen, port 25) with ESP passes, and is not the kernel's (%s)", err.msg);
	exlb_service_del(cfg, id, &err);
	report(exlb_vs_add(cfg, "198.18.0.12", "110", NULL, P("NickName=POPESP EspEnabled=1"), &id, &err) == 0 &&
	       exlb_config_check(cfg, &err) != 0 && strstr(err.msg, "VS POPESP: EspEnabled=1: ESP is enforced on HTTP services"),
	       "ESP on a generic VS that is not SMTP fails the check: \"%s\"", err.msg);
	exlb_service_del(cfg, id, &err);
	report(exlb_config_check(cfg, &err) == 0, "without them the configuration passes again");

	/* restore: a document with a refused ESP setting is refused as a whole */
	exlb_service_by_id(cfg, 2)->esp_enabled = 1;	/* as an older exlb stored it */
	exlb_service_by_id(cfg, 2)->input_auth_mode = 5;
	exlb_service_by_id(cfg, 3)->esp_enabled = 1;	/* enforced: not held */
	exlb_service_by_id(cfg, 4)->esp_enabled = 1;	/* IMAPS: no ESP there */
	doc = exlb_config_to_json(cfg);
	back = exlb_config_from_json(doc, &err);
	report(!back && strstr(err.msg, ESP_NO_PREAUTH),
	       "restore of a document with EspEnabled=1 InputAuthMode=5 is refused: \"%s\"", err.msg);
	exlb_config_free(back);

	/* exlbd's own state file: loaded, the services held, their VSs serve nothing */
	back = exlb_config_from_state(doc, &err);
	report(back && exlb_service_by_id(back, 2)->held && exlb_service_by_id(back, 4)->held &&
	       !exlb_service_by_id(back, 3)->held && exlb_service_by_id(back, 2)->esp_enabled == 1 &&
	       exlb_service_by_id(back, 3)->esp_enabled == 1,
	       "a state file with refused ESP settings loads, those services held, an enforced one not (%s)",
	       back ? "" : err.msg);
	if (!back) {
		json_decref(doc);
		exlb_config_free(cfg);
		return;
	}
	report(exlb_vs_refused(back, exlb_service_by_id(back, 1)) &&
	       exlb_vs_refused(back, exlb_service_by_id(back, 3)) &&
	       exlb_vs_refused(back, exlb_service_by_id(back, 4)),
	       "a VS is refused if it or one of its SubVSs has a refused ESP setting");
	exlb_vs_add(back, "198.18.0.13", "110", NULL, P("NickName=POP"), &id, &err);
	err.msg[0] = 0;
	report(exlb_config_check(back, &err) == 0 && !exlb_vs_refused(back, exlb_service_by_id(back, id)),
	       "an unrelated change passes the check while services are held (%s)", err.msg);
	report(exlb_config_kernel_services(back, out, 8) == 1 && out[0]->id == id,
	       "a held L4 VS is not given to the kernel, the others are");
	report(!strcmp(exlb_service_status(back, &(struct exlb_runtime){ 0 }, exlb_service_by_id(back, 1)), "Refused") &&
	       !strcmp(exlb_service_status(back, &(struct exlb_runtime){ 0 }, exlb_service_by_id(back, 3)), "Refused"),
	       "status of a held VS and of its SubVSs: Refused");
	next = exlb_config_clone(back);
	exlb_service_mod(next, exlb_service_by_id(next, 2), P("Idletime=60"), &err);
	report(exlb_config_check(next, &err) != 0 && strstr(err.msg, "SubVS EWS: " ESP_NO_PREAUTH),
	       "changing a held service without fixing its ESP setting is refused: \"%s\"", err.msg);
	exlb_config_free(next);
	exlb_service_mod(back, exlb_service_by_id(back, 2), P("InputAuthMode=0"), &err);
	report(exlb_config_check(back, &err) == 0 && !exlb_vs_refused(back, exlb_service_by_id(back, 1)) &&
	       exlb_vs_refused(back, exlb_service_by_id(back, 4)),
	       "InputAuthMode=0 releases that VS (ESP stays on, enforced); the other held VS stays refused");
	exlb_service_mod(back, exlb_service_by_id(back, 4), P("EspEnabled=0"), &err);
	report(exlb_config_check(back, &err) == 0 && !exlb_vs_refused(back, exlb_service_by_id(back, 4)),
	       "EspEnabled=0 releases the other");
	exlb_config_free(back);

	/* a state file's Basic service naming no SSO domain: held, the load succeeds */
	{
		struct exlb_config *st_cfg = exlb_config_clone(cfg);
		json_t *doc2;

		exlb_service_by_id(st_cfg, 2)->input_auth_mode = 1;
		snprintf(exlb_service_by_id(st_cfg, 2)->sso_domain,
			 sizeof(exlb_service_by_id(st_cfg, 2)->sso_domain), "GONE");
		exlb_service_by_id(st_cfg, 4)->esp_enabled = 0;
		doc2 = exlb_config_to_json(st_cfg);
		back = exlb_config_from_state(doc2, &err);
		report(back && exlb_service_by_id(back, 2)->held &&
		       exlb_vs_refused(back, exlb_service_by_id(back, 1)) &&
		       !exlb_vs_refused(back, exlb_service_by_id(back, 4)),
		       "a state file with InputAuthMode=1 and an unknown Domain loads, that service held, its VS serves nothing (%s)",
		       back ? "" : err.msg);
		exlb_config_free(back);
		json_decref(doc2);
		exlb_config_free(st_cfg);
	}

	/* the same through the store: exlbd starts, nothing of the file is lost */
	if (!mkdtemp(dir)) {
		report(false, "mkdtemp");
		json_decref(doc);
		exlb_config_free(cfg);
		return;
	}
	snprintf(path, sizeof(path), "%s/config.json", dir);
	json_dump_file(doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	rc = exlb_store_open(&st, dir, &err);
	report(rc == 0 && exlb_service_by_id(st.config, 2)->held,
	       "exlb_store_open of a state file with EspEnabled=1 succeeds (%s)", rc ? err.msg : "held");
	if (rc == 0) {
		next = exlb_config_clone(st.config);
		exlb_vs_add(next, "198.18.0.13", "110", NULL, P("NickName=POP"), &id, &err);
		rc = exlb_store_commit(&st, next, "test: pop", &err);
		after = read_file(path);
		report(rc == 0 && strstr(after, "\"EspEnabled\": 1") && strstr(after, "\"POP\""),
		       "an unrelated commit keeps the held EspEnabled=1 in the file (%s)", rc ? err.msg : "");
		free(after);
		before = read_file(path);
		next = exlb_config_clone(st.config);
		exlb_vs_add(next, "198.18.0.14", "443", NULL, P("VStype=http EspEnabled=1 InputAuthMode=5"), &id, &err);
		rc = exlb_store_commit(&st, next, "test: esp", &err);
		after = read_file(path);
		report(rc != 0 && !strcmp(before, after) && !exlb_service_find(st.config, "198.18.0.14:443", &err),
		       "a new EspEnabled=1 InputAuthMode=5 is still refused, nothing stored");
		free(before);
		free(after);
		exlb_store_close(&st);
	}
	unlink(path);
	rmdir(dir);
	json_decref(doc);
	exlb_config_free(cfg);
}

static void test_status(void)
{
	struct exlb_config *cfg = full_config();
	struct exlb_runtime rt = { 0 };
	struct exlb_err err;
	uint32_t redirect;
	const struct exlb_service *ews = exlb_service_by_id(cfg, 2);
	const struct exlb_service *owa = exlb_service_by_id(cfg, 3);

	report(!strcmp(exlb_service_status(cfg, &rt, ews), "Down"),
	       "an RS without a verdict does not make its service Up");
	report(!strcmp(exlb_service_status(cfg, &rt, owa), "Down"),
	       "CheckType tcp and no verdict yet: Down");
	exlb_service_by_id(cfg, 3)->check_type = EXLB_CHECKTYPE_NONE;
	report(!strcmp(exlb_service_status(cfg, &rt, owa), "Up"),
	       "CheckType none: an enabled RS counts as up");
	exlb_runtime_set_health(&rt, cfg, cfg->reals[0].id, true, "HTTP 200");
	report(!strcmp(exlb_service_status(cfg, &rt, ews), "Up") &&
	       !strcmp(exlb_service_status(cfg, &rt, exlb_service_by_id(cfg, 1)), "Up"),
	       "a healthy RS makes its SubVS and the VS Up");
	exlb_vs_add(cfg, "198.18.0.10", "80", NULL,
		    P("ErrorCode=302 ErrorUrl=https://%h%s CheckType=none"), &redirect, &err);
	report(!strcmp(exlb_service_status(cfg, &rt, exlb_service_by_id(cfg, redirect)), "Redirect"),
	       "a VS without RSs that answers 302 shows Redirect");
	exlb_runtime_free(&rt);
	exlb_config_free(cfg);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_defaults();
	test_kemp_codes();
	test_validation();
	test_health_timing();
	test_real_servers();
	test_naming();
	test_kernel_services();
	test_alt_source();
	test_json_round_trip();
	test_rules();
	test_header_rules();
	test_tls_params();
	test_store();
	test_esp_refused();
	test_pwd_change();
	test_status();
	for (size_t i = 0; i < nr_made; i++)
		json_decref(made[i]);
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
