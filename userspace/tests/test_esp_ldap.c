// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The ESP authenticator (exlbd/esp/ldap.c, sso.c) on a libev loop.
 *
 * Always: RFC 4515 escaping, logon names per logon format, the input
 * refused before any directory is asked (empty password, NUL bytes,
 * over-long names), a domain without servers.
 *
 * With ESP_LDAP_PLAIN set (tests/exlbd-esp-ldap.sh runs a real slapd on
 * loopback and sets the environment below), against the directory: valid
 * users in each logon format and by user bind, wrong password, disabled
 * (ppolicy pwdAccountLockedTime), expired (ppolicy pwdMaxAge), unknown
 * user, LDAP-injection names, the failed-logon limit blocking then
 * unblocking, failover from a refusing and from a silent first server, a
 * stalled directory giving "unavailable" within the timeout while a 10 ms
 * timer keeps firing (the largest gap is measured), cancellation,
 * StartTLS and ldaps with the test CA, and a wrong CA refused.
 *
 *   ESP_LDAP_PLAIN  127.0.0.1:PORT   slapd, ldap:// (StartTLS offered)
 *   ESP_LDAP_TLS    127.0.0.1:PORT   slapd, ldaps://
 *   ESP_LDAP_DEAD   127.0.0.1:PORT   nothing listens (connection refused)
 *   ESP_LDAP_STALL  127.0.0.1:PORT   accepts, never answers
 *   ESP_LDAP_CA     the test CA (PEM); ESP_LDAP_OTHER_CA: another CA
 *   ESP_SLAPD_PID   slapd's pid (stopped and continued here)
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "config/config.h"
#include "config/params.h"
#include "esp/ldap.h"
#include "esp/sso.h"
#include "tap_report.h"

static struct ev_loop *loop;

struct outcome {
	bool called;
	enum esp_auth_result result;
	char detail[800];
	double elapsed;		/* seconds from start to callback */
	double max_gap;		/* largest gap between 10 ms timer ticks */
};

static double t_start, t_last_tick, gap_max;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
	double t = now();

	(void)l; (void)w; (void)revents;
	if (t - t_last_tick > gap_max)
		gap_max = t - t_last_tick;
	t_last_tick = t;
}

static void on_done(void *ctx, enum esp_auth_result r, const char *detail)
{
	struct outcome *o = ctx;

	o->called = true;
	o->result = r;
	snprintf(o->detail, sizeof(o->detail), "%s", detail);
	o->elapsed = now() - t_start;
	ev_break(loop, EVBREAK_ONE);
}

/*
 * Runs one logon to its callback (bounded: 30 s) with a 10 ms ticker
 * going, which also bounds each turn of the loop.
 */
static struct outcome logon(const struct exlb_sso_domain *d, const char *user,
			    size_t ulen, const char *pw, size_t pwlen)
{
	struct outcome o = { 0 };
	ev_timer tick;

	ev_timer_init(&tick, on_tick, 0.01, 0.01);
	ev_timer_start(loop, &tick);
	ev_now_update(loop);
	t_start = t_last_tick = now();
	gap_max = 0;
	if (!esp_auth_start(d, user, ulen, pw, pwlen, on_done, &o)) {
		snprintf(o.detail, sizeof(o.detail), "esp_auth_start failed");
	} else {
		while (!o.called && now() - t_start < 30)
			ev_run(loop, EVRUN_ONCE);
	}
	ev_timer_stop(loop, &tick);
	o.max_gap = gap_max;
	return o;
}

static struct outcome logon_s(const struct exlb_sso_domain *d, const char *user,
			      const char *pw)
{
	return logon(d, user, strlen(user), pw, strlen(pw));
}

static void expect(const struct exlb_sso_domain *d, const char *user,
		   const char *pw, enum esp_auth_result want, const char *what)
{
	struct outcome o = logon_s(d, user, pw);

	report(o.called && o.result == want, "%s: '%s' -> %s (want %s; %s)",
	       what, user, o.called ? esp_auth_result_name(o.result) : "no callback",
	       esp_auth_result_name(want), o.detail);
}

static void base_domain(struct exlb_sso_domain *d, const char *server)
{
	memset(d, 0, sizeof(*d));
	exlb_params_defaults(EXLB_SCOPE_SSO, d);
	snprintf(d->name, sizeof(d->name), "EXLB");
	snprintf(d->server, sizeof(d->server), "%s", server);
	d->auth_type = EXLB_SSO_LDAP_UNENCRYPTED;
	d->timeout = 2;
	d->logon_fmt = EXLB_LOGON_PRINCIPALNAME;
	snprintf(d->logon_domain, sizeof(d->logon_domain), "exlb.test");
	snprintf(d->adminuser, sizeof(d->adminuser), "cn=svc,ou=system,dc=exlb,dc=test");
	snprintf(d->adminpass, sizeof(d->adminpass), "svc-secret");
	snprintf(d->ldap_base, sizeof(d->ldap_base), "ou=people,dc=exlb,dc=test");
}

/* ---- without a directory ---- */

static void test_escape(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "alice", "alice" },
		{ "*", "\\2a" },
		{ ")(uid=*", "\\29\\28uid=\\2a" },
		{ "admin)(|(uid=*", "admin\\29\\28|\\28uid=\\2a" },
		{ "a\\b", "a\\5cb" },
		{ "j\xc3\xa9r\xc3\xb4me", "j\\c3\\a9r\\c3\\b4me" },
	};
	char out[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = esp_ldap_filter_escape(cases[i].in, out, sizeof(out));

		report(!rc && !strcmp(out, cases[i].out),
		       "RFC 4515 escape '%s' -> '%s' (want '%s')", cases[i].in,
		       rc ? "(error)" : out, cases[i].out);
	}
	report(esp_ldap_filter_escape("****", out, 8) == -1,
	       "escape into a too small buffer fails rather than truncates");
}

static void name_case(unsigned int fmt, const char *dom, const char *typed,
		      const char *bind, const char *filter)
{
	struct exlb_sso_domain d;
	struct esp_logon l;
	char why[160] = "";
	int rc;

	base_domain(&d, "");
	d.logon_fmt = fmt;
	snprintf(d.logon_domain, sizeof(d.logon_domain), "%s", dom);
	rc = esp_logon_name(&d, typed, &l, why, sizeof(why));
	if (!bind)
		report(rc == -1, "logon_fmt %u, domain '%s': '%s' refused (%s)",
		       fmt, dom, typed, rc ? why : l.bind_name);
	else
		report(!rc && !strcmp(l.bind_name, bind) && !strcmp(l.filter, filter),
		       "logon_fmt %u, domain '%s': '%s' -> bind '%s' filter '%s' (want '%s' '%s'%s%s)",
		       fmt, dom, typed, rc ? "" : l.bind_name, rc ? "" : l.filter,
		       bind, filter, rc ? "; " : "", why);
}

static void test_names(void)
{
	name_case(EXLB_LOGON_PRINCIPALNAME, "exlb.test", "alice",
		  "alice@exlb.test", "(userPrincipalName=alice@exlb.test)");
	name_case(EXLB_LOGON_PRINCIPALNAME, "exlb.test", "Alice@EXLB.test",
		  "Alice@EXLB.test", "(userPrincipalName=Alice@EXLB.test)");
	name_case(EXLB_LOGON_PRINCIPALNAME, "exlb.test", "alice@other.test", NULL, NULL);
	name_case(EXLB_LOGON_PRINCIPALNAME, "exlb.test", "EXLB\\alice", NULL, NULL);
	name_case(EXLB_LOGON_PRINCIPALNAME, "", "alice", NULL, NULL);
	name_case(EXLB_LOGON_USERNAME, "EXLB", "alice", "EXLB\\alice",
		  "(sAMAccountName=alice)");
	name_case(EXLB_LOGON_USERNAME, "EXLB", "exlb\\alice", "exlb\\alice",
		  "(sAMAccountName=alice)");
	name_case(EXLB_LOGON_USERNAME, "EXLB", "OTHER\\alice", NULL, NULL);
	name_case(EXLB_LOGON_USERNAME, "EXLB", "alice@exlb.test", NULL, NULL);
	name_case(EXLB_LOGON_USERNAMEONLY, "", "EXLB\\alice", "alice",
		  "(sAMAccountName=alice)");
	name_case(EXLB_LOGON_USERNAMEONLY, "", "alice@exlb.test", "alice",
		  "(sAMAccountName=alice)");
	name_case(EXLB_LOGON_NOTSPECIFIED, "", "*", "*", "(sAMAccountName=\\2a)");
	name_case(EXLB_LOGON_NOTSPECIFIED, "", "a*@x)(", "a*@x)(",
		  "(userPrincipalName=a\\2a@x\\29\\28)");
}

static void test_refused(void)
{
	struct exlb_sso_domain d;
	char long_name[ESP_NAME_MAX + 2];
	struct outcome o;

	/* a server that would answer if asked: nothing listens on port 1 */
	base_domain(&d, "127.0.0.1:1");
	o = logon_s(&d, "alice", "");
	report(o.called && o.result == ESP_AUTH_REFUSED,
	       "empty password refused before the directory (%s: %s)",
	       esp_auth_result_name(o.result), o.detail);
	o = logon(&d, "alice\0x", 7, "pw", 2);
	report(o.called && o.result == ESP_AUTH_REFUSED,
	       "NUL in the logon name refused (%s: %s)",
	       esp_auth_result_name(o.result), o.detail);
	o = logon(&d, "alice", 5, "pw\0rest", 7);
	report(o.called && o.result == ESP_AUTH_REFUSED,
	       "NUL in the password refused (%s: %s)",
	       esp_auth_result_name(o.result), o.detail);
	o = logon_s(&d, "", "pw");
	report(o.called && o.result == ESP_AUTH_REFUSED,
	       "empty logon name refused (%s)", esp_auth_result_name(o.result));
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	o = logon_s(&d, long_name, "pw");
	report(o.called && o.result == ESP_AUTH_REFUSED,
	       "logon name of %zu bytes refused (%s)", strlen(long_name),
	       esp_auth_result_name(o.result));
	o = logon_s(&d, "al\tice", "pw");
	report(o.called && o.result == ESP_AUTH_REFUSED,
	       "control character in the logon name refused (%s)",
	       esp_auth_result_name(o.result));
	base_domain(&d, "");
	o = logon_s(&d, "alice", "pw");
	report(o.called && o.result == ESP_AUTH_UNAVAILABLE,
	       "a domain without servers: unavailable (%s)", o.detail);
}

/* ---- against slapd ---- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void test_directory(void)
{
	const char *plain = env("ESP_LDAP_PLAIN"), *dead = env("ESP_LDAP_DEAD");
	const char *stall = env("ESP_LDAP_STALL"), *tls = env("ESP_LDAP_TLS");
	const char *ca = env("ESP_LDAP_CA"), *other_ca = env("ESP_LDAP_OTHER_CA");
	const char *pid_text = env("ESP_SLAPD_PID");
	struct exlb_sso_domain d;
	struct outcome o;
	static const char *const injections[] = {
		"*", ")(uid=*", "admin)(|(uid=*", "*)(userPassword=*",
		"alice*", "*@exlb.test",
	};

	base_domain(&d, plain);
	expect(&d, "alice", "alice-pw", ESP_AUTH_OK, "Principalname, short");
	expect(&d, "alice@exlb.test", "alice-pw", ESP_AUTH_OK, "Principalname, UPN");
	expect(&d, "alice", "wrong", ESP_AUTH_BAD_CREDENTIALS, "wrong password");
	expect(&d, "bob", "bob-pw", ESP_AUTH_DISABLED, "locked by ppolicy");
	expect(&d, "carol", "carol-pw", ESP_AUTH_EXPIRED, "expired by ppolicy");
	expect(&d, "nobody", "alice-pw", ESP_AUTH_BAD_CREDENTIALS, "unknown user");
	for (size_t i = 0; i < sizeof(injections) / sizeof(injections[0]); i++)
		expect(&d, injections[i], "alice-pw", ESP_AUTH_BAD_CREDENTIALS,
		       "injection, Principalname");
	d.logon_fmt = EXLB_LOGON_NOTSPECIFIED;
	for (size_t i = 0; i < sizeof(injections) / sizeof(injections[0]); i++)
		expect(&d, injections[i], "alice-pw", ESP_AUTH_BAD_CREDENTIALS,
		       "injection, Notspecified");
	expect(&d, "alice@exlb.test", "alice-pw", ESP_AUTH_OK, "Notspecified, UPN");
	expect(&d, "alice", "alice-pw", ESP_AUTH_OK, "Notspecified, account name");
	d.logon_fmt = EXLB_LOGON_USERNAME;
	snprintf(d.logon_domain, sizeof(d.logon_domain), "EXLB");
	expect(&d, "EXLB\\alice", "alice-pw", ESP_AUTH_OK, "Username, DOMAIN\\user");
	expect(&d, "alice", "alice-pw", ESP_AUTH_OK, "Username, short");
	expect(&d, "OTHER\\alice", "alice-pw", ESP_AUTH_BAD_CREDENTIALS,
	       "Username, another domain");
	d.logon_fmt = EXLB_LOGON_USERNAMEONLY;
	expect(&d, "EXLB\\alice", "alice-pw", ESP_AUTH_OK, "Usernameonly");

	/* user bind, no service account: the name as typed is the bind DN */
	base_domain(&d, plain);
	d.adminuser[0] = d.adminpass[0] = d.ldap_base[0] = 0;
	d.logon_fmt = EXLB_LOGON_NOTSPECIFIED;
	expect(&d, "uid=alice,ou=people,dc=exlb,dc=test", "alice-pw",
	       ESP_AUTH_OK, "user bind");
	expect(&d, "uid=alice,ou=people,dc=exlb,dc=test", "wrong",
	       ESP_AUTH_BAD_CREDENTIALS, "user bind, wrong password");
	expect(&d, "uid=bob,ou=people,dc=exlb,dc=test", "bob-pw",
	       ESP_AUTH_DISABLED, "user bind, locked");

	/* a wrong service account: the domain is unusable, not the user */
	base_domain(&d, plain);
	snprintf(d.adminpass, sizeof(d.adminpass), "not-it");
	expect(&d, "alice", "alice-pw", ESP_AUTH_UNAVAILABLE,
	       "service account refused");

	/* a search base that does not exist: the domain is wrong, not the user */
	base_domain(&d, plain);
	snprintf(d.ldap_base, sizeof(d.ldap_base), "ou=nowhere,dc=exlb,dc=test");
	expect(&d, "alice", "alice-pw", ESP_AUTH_UNAVAILABLE,
	       "search base that does not exist");

	/* the failed-logon limit: 3 failures block for unblock_tout */
	base_domain(&d, plain);
	d.max_failed_auths = 3;
	d.unblock_tout = 2;
	esp_auth_reset_failures();
	for (int i = 1; i <= 3; i++)
		expect(&d, "alice", "wrong", ESP_AUTH_BAD_CREDENTIALS,
		       "failure towards the limit");
	o = logon_s(&d, "alice", "alice-pw");
	report(o.result == ESP_AUTH_BLOCKED,
	       "after 3 failures the right password is blocked (%s: %s)",
	       esp_auth_result_name(o.result), o.detail);
	o = logon_s(&d, "alice@exlb.test", "alice-pw");
	report(o.result == ESP_AUTH_BLOCKED,
	       "the same user spelt as its UPN is blocked too (%s)",
	       esp_auth_result_name(o.result));
	expect(&d, "dave", "dave-pw", ESP_AUTH_OK, "another user is not blocked");
	{
		double t0 = now();

		do {
			o = logon_s(&d, "alice", "alice-pw");
			if (o.result != ESP_AUTH_BLOCKED)
				break;
			usleep(100 * 1000);
		} while (now() - t0 < 6);
		report(o.result == ESP_AUTH_OK && now() - t0 >= 1.0,
		       "unblocked after unblock_tout=2: %s after %.1f s",
		       esp_auth_result_name(o.result), now() - t0);
	}
	esp_auth_reset_failures();

	/* failover */
	base_domain(&d, "");
	snprintf(d.server, sizeof(d.server), "%.100s %.100s", dead, plain);
	o = logon_s(&d, "alice", "alice-pw");
	report(o.result == ESP_AUTH_OK && o.elapsed < 1.0,
	       "failover from a refusing first server: %s in %.2f s",
	       esp_auth_result_name(o.result), o.elapsed);
	snprintf(d.server, sizeof(d.server), "%.100s %.100s", stall, plain);
	d.timeout = 2;
	o = logon_s(&d, "alice", "alice-pw");
	report(o.result == ESP_AUTH_OK && o.elapsed >= 1.9 && o.elapsed < 5,
	       "failover from a silent first server after its timeout (2 s): %s in %.2f s",
	       esp_auth_result_name(o.result), o.elapsed);
	/* blocking on the directory would stop the ticker for the whole 2 s */
	report(o.max_gap < 1.0,
	       "the loop kept turning meanwhile: largest 10 ms timer gap %.1f ms (< 1000)",
	       o.max_gap * 1000);

	/* the directory goes away */
	base_domain(&d, dead);
	o = logon_s(&d, "alice", "alice-pw");
	report(o.result == ESP_AUTH_UNAVAILABLE && o.elapsed < 1.0,
	       "no server listening: %s in %.2f s (%s)",
	       esp_auth_result_name(o.result), o.elapsed, o.detail);
	if (pid_text) {
		pid_t pid = atoi(pid_text);

		base_domain(&d, plain);
		d.timeout = 2;
		kill(pid, SIGSTOP);
		o = logon_s(&d, "alice", "alice-pw");
		kill(pid, SIGCONT);
		report(o.result == ESP_AUTH_UNAVAILABLE && o.elapsed >= 1.9 &&
		       o.elapsed < 5,
		       "stalled directory (slapd stopped): %s in %.2f s, timeout 2 s (%s)",
		       esp_auth_result_name(o.result), o.elapsed, o.detail);
		report(o.max_gap < 1.0,
		       "the loop kept turning during the stalled logon: largest 10 ms timer gap %.1f ms (< 1000)",
		       o.max_gap * 1000);
		expect(&d, "alice", "alice-pw", ESP_AUTH_OK, "the directory is back");
	}

	/* cancelled: never called back, even when the answer comes */
	base_domain(&d, plain);
	{
		struct outcome c = { 0 };
		struct esp_auth *a = esp_auth_start(&d, "alice", 5, "alice-pw", 8,
						    on_done, &c);
		double t0 = now();
		ev_timer tick;

		esp_auth_cancel(a);
		ev_timer_init(&tick, on_tick, 0.01, 0.01);
		ev_timer_start(loop, &tick);
		while (esp_auth_in_flight() && now() - t0 < 10)
			ev_run(loop, EVRUN_ONCE);
		ev_timer_stop(loop, &tick);
		report(a && !esp_auth_in_flight() && !c.called,
		       "a cancelled logon finished (%u in flight) without calling back (called: %d)",
		       esp_auth_in_flight(), c.called);
	}

	/* TLS: StartTLS and ldaps, verified against the test CA */
	if (ca && tls) {
		base_domain(&d, plain);
		d.auth_type = EXLB_SSO_LDAP_STARTTLS;
		snprintf(d.ldap_ca, sizeof(d.ldap_ca), "%s", ca);
		expect(&d, "alice", "alice-pw", ESP_AUTH_OK, "StartTLS, test CA");
		expect(&d, "alice", "wrong", ESP_AUTH_BAD_CREDENTIALS,
		       "StartTLS, wrong password");
		snprintf(d.ldap_ca, sizeof(d.ldap_ca), "%s", other_ca);
		expect(&d, "alice", "alice-pw", ESP_AUTH_UNAVAILABLE,
		       "StartTLS, certificate of an unknown CA refused");
		base_domain(&d, tls);
		d.auth_type = EXLB_SSO_LDAP_LDAPS;
		snprintf(d.ldap_ca, sizeof(d.ldap_ca), "%s", ca);
		expect(&d, "alice", "alice-pw", ESP_AUTH_OK, "ldaps, test CA");
		expect(&d, "carol", "carol-pw", ESP_AUTH_EXPIRED, "ldaps, expired");
		snprintf(d.ldap_ca, sizeof(d.ldap_ca), "%s", other_ca);
		expect(&d, "alice", "alice-pw", ESP_AUTH_UNAVAILABLE,
		       "ldaps, certificate of an unknown CA refused");
	}
}

int main(void)
{
	loop = ev_default_loop(0);
	if (esp_auth_attach(loop)) {
		printf("not ok 1 - esp_auth_attach\n");
		return 1;
	}
	test_escape();
	test_names();
	test_refused();
	if (env("ESP_LDAP_PLAIN"))
		test_directory();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
