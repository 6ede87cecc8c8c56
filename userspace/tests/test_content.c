// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of Kemp content rules (exlbd/l7/content.c): the Exchange
 * template's nine SubVS patterns as the deployment guide writes them
 * (URL-encoded, Nocase 1), the match types and flags, the refusals and
 * their messages, the match limit against a catastrophic regex, and the
 * edits the header rules produce.
 *
 * Requests are struct exlb_http_head filled by hand: http1.c is not
 * linked. Plain C, TAP lines "ok N - name"; exits non-zero on a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "userspace/exlbd/config/rule_compile.h"
#include "userspace/exlbd/l7/content.h"

#include "tap_report.h"

/* ---- building requests and rules ---- */

static struct exlb_http_head heads[4];

/* A head with @target and "Name", "Value" pairs up to NULL. */
static struct exlb_http_head *head(int slot, enum exlb_http_kind kind,
				   const char *target, ...)
{
	struct exlb_http_head *h = &heads[slot];
	const char *name;
	va_list ap;

	memset(h, 0, sizeof(*h));
	h->kind = kind;
	h->http_major = 1;
	h->http_minor = 1;
	h->method_name = "GET";
	h->target = target;
	h->target_len = target ? strlen(target) : 0;
	va_start(ap, target);
	while ((name = va_arg(ap, const char *))) {
		struct exlb_http_header *hd = &h->headers[h->nr_headers++];

		hd->name = name;
		hd->name_len = strlen(name);
		hd->value = va_arg(ap, const char *);
		hd->value_len = strlen(hd->value);
	}
	va_end(ap);
	return h;
}

#define REQ(target, ...) head(0, EXLB_HTTP_REQUEST, target, ##__VA_ARGS__, NULL)

static struct exlb_rule R(const char *name, unsigned int type,
			  unsigned int matchtype, const char *pattern)
{
	struct exlb_rule r;

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", name);
	r.type = type;
	r.matchtype = matchtype;
	snprintf(r.pattern, sizeof(r.pattern), "%s", pattern);
	return r;
}

static struct exlb_content_rule *compile_or_die(const struct exlb_rule *rule)
{
	struct exlb_err err = { "" };
	struct exlb_content_rule *r = exlb_content_rule_compile(rule, &err);

	if (!r) {
		printf("Bail out! rule '%s' does not compile: %s\n", rule->name,
		       err.msg);
		exit(1);
	}
	return r;
}

/* Does @rule match request target @target (no headers)? */
static bool url_matches(const struct exlb_rule *rule, const char *target)
{
	struct exlb_content_rule *r = compile_or_die(rule);
	bool hit = exlb_content_rule_match(r, REQ(target));

	exlb_content_rule_free(r);
	return hit;
}

/* The error text of compiling @rule, "" if it compiled. */
static const char *refusal(const struct exlb_rule *rule)
{
	static struct exlb_err err;
	struct exlb_rule_code code;
	int rc;

	err.msg[0] = '\0';
	rc = exlb_rule_compile(rule, &code, &err);
	if (!rc) {
		exlb_rule_code_free(&code);
		err.msg[0] = '\0';
	} else if (!err.msg[0])
		snprintf(err.msg, sizeof(err.msg), "(refused without a message)");
	return err.msg;
}

/* ---- the Exchange template ---- */

struct vdir {
	const char *rule;	/* the guide's rule name */
	const char *pattern;	/* as the guide writes it in API calls */
	const char *request;	/* a request Exchange gets on that vdir */
	const char *upper;	/* the same in another case */
};

static const struct vdir vdirs[] = {
	{ "OWA", "%2F%5E%5C%2Fowa.%2A%2F", "/owa/auth/logon.aspx?url=x",
	  "/OWA/" },
	{ "ECP", "%2F%5E%5C%2Fecp.%2A%2F", "/ecp/default.aspx", "/ECP" },
	{ "EWS", "%2F%5E%5C%2Fews.%2A%2F", "/ews/exchange.asmx",
	  "/EWS/Exchange.asmx" },
	{ "ActiveSync", "%2F%5E%5C%2Fmicrosoft-server-activesync.%2A%2F",
	  "/Microsoft-Server-ActiveSync?Cmd=Ping&User=u&DeviceId=d",
	  "/microsoft-server-activesync" },
	{ "Autodiscover", "%2F%5E%5C%2Fautodiscover.%2A%2F",
	  "/Autodiscover/Autodiscover.xml", "/autodiscover/autodiscover.json" },
	{ "MAPI", "%2F%5E%5C%2Fmapi.%2A%2F",
	  "/mapi/emsmdb/?MailboxId=a@b.example", "/MAPI/nspi/" },
	{ "RPC", "%2F%5E%5C%2Frpc.%2A%2F", "/rpc/rpcproxy.dll?mail:6001",
	  "/RPC/RpcProxy.dll" },
	{ "OAB", "%2F%5E%5C%2Foab.%2A%2F", "/OAB/0c2d/oab.xml", "/oab/" },
	{ "powershell", "%2F%5E%5C%2Fpowershell.%2A%2F",
	  "/PowerShell/?serializationLevel=Full", "/powershell" },
};

#define NR_VDIRS (sizeof(vdirs) / sizeof(vdirs[0]))

static void test_exchange_template(void)
{
	struct exlb_content_rule *r[NR_VDIRS];

	for (size_t i = 0; i < NR_VDIRS; i++) {
		struct exlb_rule rule = R(vdirs[i].rule, EXLB_RULE_MATCH,
					  EXLB_MATCH_REGEX, vdirs[i].pattern);

		rule.nocase = 1;
		r[i] = compile_or_die(&rule);
	}
	for (size_t i = 0; i < NR_VDIRS; i++) {
		bool own = exlb_content_rule_match(r[i], REQ(vdirs[i].request)) &&
			   exlb_content_rule_match(r[i], REQ(vdirs[i].upper));
		size_t others = 0;

		for (size_t j = 0; j < NR_VDIRS; j++) {
			if (j == i)
				continue;
			others += exlb_content_rule_match(r[i], REQ(vdirs[j].request));
			others += exlb_content_rule_match(r[i], REQ(vdirs[j].upper));
		}
		report(own && !others,
		       "guide rule %s (%s, Nocase 1) matches %s and %s, none of the other vdirs (%zu)",
		       vdirs[i].rule, vdirs[i].pattern, vdirs[i].request,
		       vdirs[i].upper, others);
	}
	for (size_t i = 0; i < NR_VDIRS; i++)
		exlb_content_rule_free(r[i]);

	/* the decoded form is the same rule */
	struct exlb_rule owa = R("owa", EXLB_RULE_MATCH, EXLB_MATCH_REGEX,
				 "/^\\/owa.*/");
	owa.nocase = 1;
	report(url_matches(&owa, "/OWA/auth.owa") && !url_matches(&owa, "/ecp/") &&
	       !url_matches(&owa, "/x/owa/"),
	       "decoded /^\\/owa.*/ matches as the encoded one, anchored at the start");
	owa.nocase = 0;
	report(!url_matches(&owa, "/OWA/") && url_matches(&owa, "/owa/"),
	       "without nocase /^\\/owa.*/ does not match /OWA/");

	/* the ESP authentication proxy rule, %2A%24 = "*$" as the guide has it */
	struct exlb_rule lm = R("Authentication_Proxy", EXLB_RULE_MATCH,
				EXLB_MATCH_REGEX,
				"%2F%5E%5C%2Flm_auth_proxy%2A%24%2F");
	lm.nocase = 1;
	report(url_matches(&lm, "/lm_auth_proxy?LMLogon") &&
	       !url_matches(&lm, "/lm_auth_proxy/x"),
	       "lm_auth_proxy rule: the query is not part of the subject by default");
	lm.incquery = 1;
	report(!url_matches(&lm, "/lm_auth_proxy?LMLogon"),
	       "lm_auth_proxy rule with incquery sees the query and fails at $");
}

/* ---- match types and flags ---- */

static void test_match_types(void)
{
	struct exlb_rule rule;

	rule = R("pre", EXLB_RULE_MATCH, EXLB_MATCH_PREFIX, "/owa");
	report(url_matches(&rule, "/owa/x") && url_matches(&rule, "/owa") &&
	       !url_matches(&rule, "/xowa") && !url_matches(&rule, "/OWA/"),
	       "prefix /owa: starts-with, case-sensitive");
	rule.nocase = 1;
	report(url_matches(&rule, "/OWA/x"), "prefix with nocase matches /OWA/x");
	rule = R("pre2", EXLB_RULE_MATCH, EXLB_MATCH_PREFIX, "/o.a");
	report(!url_matches(&rule, "/owa/") && url_matches(&rule, "/o.a/"),
	       "prefix is literal: '.' is not a wildcard");

	rule = R("post", EXLB_RULE_MATCH, EXLB_MATCH_POSTFIX, ".asmx");
	report(url_matches(&rule, "/EWS/Exchange.asmx") &&
	       !url_matches(&rule, "/EWS/Exchange.asmx/x") &&
	       !url_matches(&rule, "/EWS/Exchange.ASMX"),
	       "postfix .asmx: ends-with, case-sensitive");
	report(url_matches(&rule, "/EWS/Exchange.asmx?wsdl"),
	       "postfix ignores the query by default");
	rule.incquery = 1;
	report(!url_matches(&rule, "/EWS/Exchange.asmx?wsdl"),
	       "postfix with incquery sees the query");
	rule = R("post2", EXLB_RULE_MATCH, EXLB_MATCH_POSTFIX, "%2Fhealthcheck.htm");
	report(url_matches(&rule, "/owa/healthcheck.htm"),
	       "a prefix/postfix pattern starting with %%2F is decoded too");

	rule = R("neg", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/^\\/owa/");
	rule.negate = 1;
	report(url_matches(&rule, "/ecp/") && !url_matches(&rule, "/owa/"),
	       "negate inverts a regex match");

	rule = R("bare", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "^/ews/");
	report(url_matches(&rule, "/ews/x") && !url_matches(&rule, "/x/ews/"),
	       "a bare regex (no slashes) is accepted");
	rule = R("flag", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/^\\/ews\\//i");
	report(url_matches(&rule, "/EWS/x"), "/re/i is case-insensitive");
	rule = R("unanch", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/owa/");
	report(url_matches(&rule, "/x/owa/y") && !url_matches(&rule, "/x/ow/"),
	       "/owa/ is an unanchored search for 'owa'");

	rule = R("q", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/[?&]cmd=ping/i");
	report(!url_matches(&rule, "/Microsoft-Server-ActiveSync?Cmd=Ping"),
	       "without incquery the query is not matched");
	rule.incquery = 1;
	report(url_matches(&rule, "/Microsoft-Server-ActiveSync?User=u&Cmd=Ping") &&
	       !url_matches(&rule, "/Microsoft-Server-ActiveSync?Cmd=Sync"),
	       "incquery: path?query is the subject");

	rule = R("pct", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/^\\/owa\\/a b/");
	report(!url_matches(&rule, "/owa/a%20b") &&
	       url_matches(&(struct exlb_rule){ .name = "pct2",
			       .pattern = "/^\\/owa\\/a%20b/" }, "/owa/a%20b"),
	       "the target is matched as sent, without percent-decoding");

	rule = R("abs", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/^\\/owa\\/$/");
	report(url_matches(&rule, "http://mail.example.com/owa/") &&
	       url_matches(&(struct exlb_rule){ .name = "root",
			       .pattern = "/^\\/$/" }, "http://mail.example.com"),
	       "absolute-form: the path is matched (empty path = /)");
}

static void test_inchost_and_headers(void)
{
	struct exlb_rule rule;
	struct exlb_content_rule *r;

	rule = R("host", EXLB_RULE_MATCH, EXLB_MATCH_REGEX,
		 "/^mail\\.example\\.com\\/owa/");
	rule.inchost = 1;
	rule.nocase = 1;
	r = compile_or_die(&rule);
	report(exlb_content_rule_match(r, REQ("/owa/", "Host", "Mail.Example.com")) &&
	       !exlb_content_rule_match(r, REQ("/owa/", "Host", "other.example.com")) &&
	       !exlb_content_rule_match(r, REQ("/owa/")),
	       "inchost: Host is prepended to the path");
	report(exlb_content_rule_match(r, REQ("http://mail.example.com/owa/x",
					      "Host", "other.example.com")),
	       "inchost: an absolute-form target's host wins over Host");
	exlb_content_rule_free(r);

	rule = R("hostq", EXLB_RULE_MATCH, EXLB_MATCH_PREFIX,
		 "mail.example.com/ews/exchange.asmx?wsdl");
	rule.inchost = rule.incquery = 1;
	r = compile_or_die(&rule);
	report(exlb_content_rule_match(r, REQ("/ews/exchange.asmx?wsdl",
					      "Host", "mail.example.com")),
	       "inchost + incquery: host + path?query");
	exlb_content_rule_free(r);

	rule = R("ua", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/outlook/");
	snprintf(rule.header, sizeof(rule.header), "User-Agent");
	rule.nocase = 1;
	r = compile_or_die(&rule);
	report(exlb_content_rule_match(r, REQ("/x", "user-agent", "Microsoft Office/16.0 (Outlook)")) &&
	       !exlb_content_rule_match(r, REQ("/outlook", "User-Agent", "curl/8")),
	       "header rule matches that header's value, not the URL");
	report(exlb_content_rule_match(r, REQ("/x", "User-Agent", "curl",
					      "User-Agent", "Outlook")),
	       "header rule: any occurrence of the header may match");
	report(!exlb_content_rule_match(r, REQ("/x")),
	       "header rule: an absent header does not match");
	exlb_content_rule_free(r);
	rule.negate = 1;
	r = compile_or_die(&rule);
	report(exlb_content_rule_match(r, REQ("/x")) &&
	       !exlb_content_rule_match(r, REQ("/x", "User-Agent", "Outlook")),
	       "header rule with negate: an absent header matches");
	exlb_content_rule_free(r);

	rule = R("m", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/^RPC_(IN|OUT)_DATA$/");
	snprintf(rule.header, sizeof(rule.header), "method");
	r = compile_or_die(&rule);
	struct exlb_http_head *h = REQ("/rpc/rpcproxy.dll");
	bool get = exlb_content_rule_match(r, h);
	h->method_name = "RPC_IN_DATA";
	report(!get && exlb_content_rule_match(r, h),
	       "header 'method' matches the request method (Kemp's pseudo-header)");
	exlb_content_rule_free(r);
}

/* ---- refusals ---- */

static bool says(const char *msg, const char *a, const char *b)
{
	return strstr(msg, a) && (!b || strstr(msg, b));
}

static void test_refusals(void)
{
	struct exlb_rule rule;
	const char *msg;

	rule = R("bad", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/[ab/");
	msg = refusal(&rule);
	report(says(msg, "rule 'bad': pattern: missing terminating ]", "offset"),
	       "invalid regex refused: %s", msg);
	rule = R("bad", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "%2F%28owa%2F");
	msg = refusal(&rule);
	report(says(msg, "missing closing parenthesis", "'/(owa/'"),
	       "invalid encoded regex refused, shown decoded: %s", msg);
	rule = R("open", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/^\\/owa");
	msg = refusal(&rule);
	report(says(msg, "must end with /", NULL),
	       "regex with an opening / but no closing one refused: %s", msg);
	rule = R("flags", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/owa/x");
	report(says(refusal(&rule), "must end with /", NULL),
	       "unknown flag after the closing / refused");
	rule = R("esc", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "%2F%5G%2F");
	msg = refusal(&rule);
	report(says(msg, "bad %-escape", NULL), "bad %%-escape refused: %s", msg);
	rule = R("empty", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "");
	report(says(refusal(&rule), "pattern: a MatchContentRule needs one", NULL),
	       "empty pattern refused");
	rule = R("src", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/^10\\./");
	snprintf(rule.header, sizeof(rule.header), "src-ip");
	report(says(refusal(&rule), "'src-ip' is not supported", NULL),
	       "src-ip pseudo-header refused (not supported)");
	rule = R("hdr", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/x/");
	snprintf(rule.header, sizeof(rule.header), "User Agent");
	report(says(refusal(&rule), "not a header name", NULL),
	       "header name with a space refused");
	rule = R("add", EXLB_RULE_ADD_HEADER, EXLB_MATCH_REGEX, "");
	report(says(refusal(&rule), "header: a AddHeaderRule needs one", NULL),
	       "AddHeaderRule without header refused");
	snprintf(rule.header, sizeof(rule.header), "X-A");
	snprintf(rule.replacement, sizeof(rule.replacement), "a\r\nX-Evil: 1");
	report(says(refusal(&rule), "character 0x0d", NULL),
	       "CR/LF in a header value refused (no header injection)");
	rule = R("url", EXLB_RULE_MODIFY_URL, EXLB_MATCH_REGEX, "/^\\/(a)/");
	snprintf(rule.replacement, sizeof(rule.replacement), "/b c");
	report(says(refusal(&rule), "0x20 is not allowed in a URL", NULL),
	       "space in a ModifyURL replacement refused");
	snprintf(rule.replacement, sizeof(rule.replacement), "/b/\\2");
	msg = refusal(&rule);
	report(says(msg, "refers to group 2, the pattern has 1", NULL),
	       "replacement naming a missing group refused: %s", msg);
	rule = R("ok", EXLB_RULE_DELETE_HEADER, EXLB_MATCH_REGEX, "");
	snprintf(rule.header, sizeof(rule.header), "Server");
	report(!refusal(&rule)[0], "DeleteHeaderRule by header name needs no pattern");
}

/* ---- match limits ---- */

static int hook_calls;
static char hook_rule[64];
static const char *hook_limit;

static void on_limit(const char *rule, int error)
{
	hook_calls++;
	snprintf(hook_rule, sizeof(hook_rule), "%s", rule);
	hook_limit = exlb_content_limit_name(error);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_limits(void)
{
	size_t n = 20000;
	char *target = malloc(n + 3);
	struct exlb_rule rule;
	struct exlb_content_rule *r;
	uint64_t before = exlb_content_limit_hits_total();
	double t0, dt;
	bool hit;

	target[0] = '/';
	memset(target + 1, 'a', n);
	target[n + 1] = '!';
	target[n + 2] = '\0';
	exlb_content_set_limit_hook(on_limit);

	rule = R("evil", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/^\\/(a+)+$/");
	r = compile_or_die(&rule);
	t0 = now();
	hit = exlb_content_rule_match(r, REQ(target));
	dt = now() - t0;
	report(!hit && dt < 1.0,
	       "catastrophic /^\\/(a+)+$/ on a %zu-byte target gives up: no match in %.3f s",
	       n + 2, dt);
	report(exlb_content_rule_limit_hits(r) == 1 &&
	       exlb_content_limit_hits_total() == before + 1 &&
	       hook_calls == 1 && !strcmp(hook_rule, "evil"),
	       "the limit hit is counted (rule and total) and reported to the hook");
	exlb_content_rule_free(r);

	/* negate must not turn a pathological pattern into a match-everything */
	rule.negate = 1;
	r = compile_or_die(&rule);
	hit = exlb_content_rule_match(r, REQ(target));
	report(hit, "with negate a limit hit counts as no match, so negated: match");
	exlb_content_rule_free(r);

	/*
	 * The proxy compiles its rules again for every plan (any change of
	 * the configuration): the count is the rule name's, and the hook
	 * (exlbd's log line) hears of the first hit only.
	 */
	rule.negate = 0;
	for (int i = 0; i < 3; i++) {
		r = compile_or_die(&rule);
		exlb_content_rule_match(r, REQ(target));
		exlb_content_rule_free(r);
	}
	r = compile_or_die(&rule);
	report(exlb_content_rule_limit_hits(r) == 5 &&
	       exlb_content_limit_hits_of("evil") == 5 &&
	       exlb_content_limit_hits_of("never-compiled") == 0 &&
	       hook_calls == 1 && !strcmp(hook_limit, "match"),
	       "5 hits of rule 'evil' over 5 compilations: counted %llu (by name %llu), "
	       "hook called %d time(s) (%s limit)",
	       (unsigned long long)exlb_content_rule_limit_hits(r),
	       (unsigned long long)exlb_content_limit_hits_of("evil"),
	       hook_calls, hook_limit ? hook_limit : "-");
	exlb_content_rule_free(r);

	/* a configuration check compiles too, but counts nothing */
	report(exlb_rule_check(&rule, NULL) == 0 &&
	       exlb_content_limit_hits_of("evil") == 5,
	       "a rule check leaves the count alone (%llu)",
	       (unsigned long long)exlb_content_limit_hits_of("evil"));

	/* a new pattern under the same name: its first hit is reported */
	snprintf(rule.pattern, sizeof(rule.pattern), "%s", "/^\\/(a|aa)+$/");
	r = compile_or_die(&rule);
	hit = exlb_content_rule_match(r, REQ(target));
	report(!hit && hook_calls == 2 && exlb_content_rule_limit_hits(r) == 6,
	       "rule 'evil' with a new pattern: its first limit hit is reported "
	       "(hook calls %d, count %llu)", hook_calls,
	       (unsigned long long)exlb_content_rule_limit_hits(r));
	exlb_content_rule_free(r);

	rule = R("evil2", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/(x+x+)+y/");
	r = compile_or_die(&rule);
	memset(target, 'x', n + 2);
	t0 = now();
	hit = exlb_content_rule_match(r, REQ(target));
	dt = now() - t0;
	report(!hit && dt < 1.0, "catastrophic /(x+x+)+y/ gives up in %.3f s", dt);
	exlb_content_rule_free(r);

	/* an ordinary rule on a long target stays well inside the limits */
	rule = R("long", EXLB_RULE_MATCH, EXLB_MATCH_REGEX, "/^\\/owa\\/.*\\.aspx$/i");
	r = compile_or_die(&rule);
	memcpy(target, "/OWA/", 5);
	memset(target + 5, 'x', n - 10);
	memcpy(target + n - 5, ".aspx", 6);
	before = exlb_content_limit_hits_total();
	hit = exlb_content_rule_match(r, REQ(target));
	report(hit && exlb_content_limit_hits_total() == before,
	       "an ordinary regex on a %zu-byte target matches without a limit hit",
	       strlen(target));
	exlb_content_rule_free(r);
	exlb_content_set_limit_hook(NULL);
	free(target);
}

/* ---- header rules ---- */

struct edits {
	struct exlb_http_edit e[16];
	size_t n;
	const char *target;
	struct exlb_content_arena arena;
};

static int apply(struct edits *ed, const struct exlb_rule *rule,
		 const struct exlb_http_head *h, size_t max)
{
	struct exlb_content_rule *r = compile_or_die(rule);
	int rc = exlb_header_rule_apply(r, h, ed->e, max, &ed->n, &ed->target,
					&ed->arena);

	exlb_content_rule_free(r);
	return rc;
}

static bool edit_is(const struct exlb_http_edit *e, enum exlb_http_edit_op op,
		    const char *name, const char *value)
{
	return e->op == op && !strcasecmp(e->name, name) &&
	       (!value || (e->value && !strcmp(e->value, value)));
}

static void test_header_rules(void)
{
	struct edits ed = { .n = 0 };
	struct exlb_http_head *h;
	struct exlb_rule rule;
	int rc;

	exlb_content_arena_init(&ed.arena);

	rule = R("add", EXLB_RULE_ADD_HEADER, EXLB_MATCH_REGEX, "");
	snprintf(rule.header, sizeof(rule.header), "X-Forwarded-Proto");
	snprintf(rule.replacement, sizeof(rule.replacement), "https");
	h = REQ("/owa/", "Host", "mail");
	rc = apply(&ed, &rule, h, 16);
	report(rc == 1 && ed.n == 1 &&
	       edit_is(&ed.e[0], EXLB_HTTP_EDIT_ADD, "X-Forwarded-Proto", "https"),
	       "AddHeaderRule: one ADD edit with header and replacement");

	/* a later rule sees the added header */
	rule = R("rep", EXLB_RULE_REPLACE_HEADER, EXLB_MATCH_REGEX, "/^http(s?)$/");
	snprintf(rule.header, sizeof(rule.header), "x-forwarded-proto");
	snprintf(rule.replacement, sizeof(rule.replacement), "HTTP\\1");
	rc = apply(&ed, &rule, h, 16);
	report(rc == 1 && ed.n == 2 &&
	       edit_is(&ed.e[1], EXLB_HTTP_EDIT_SET, "x-forwarded-proto", "HTTPs"),
	       "rules apply in order: Replace sees the header Add added (\\1 group)");

	ed.n = 0;
	rule = R("del", EXLB_RULE_DELETE_HEADER, EXLB_MATCH_REGEX, "");
	snprintf(rule.header, sizeof(rule.header), "Server");
	h = head(1, EXLB_HTTP_RESPONSE, NULL, "server", "Microsoft-IIS/10.0",
		 "Content-Type", "text/html", NULL);
	rc = apply(&ed, &rule, h, 16);
	report(rc == 1 && ed.n == 1 && edit_is(&ed.e[0], EXLB_HTTP_EDIT_DEL, "Server", NULL),
	       "DeleteHeaderRule with header: DEL that header (response head)");
	snprintf(rule.header, sizeof(rule.header), "X-Absent");
	rc = apply(&ed, &rule, h, 16);
	report(rc == 0 && ed.n == 1, "DeleteHeaderRule of an absent header does nothing");

	ed.n = 0;
	rule = R("delre", EXLB_RULE_DELETE_HEADER, EXLB_MATCH_REGEX,
		 "/^X-(Powered|AspNet)-/");
	h = head(1, EXLB_HTTP_RESPONSE, NULL, "X-Powered-By", "ASP.NET",
		 "x-powered-by", "PHP", "X-AspNet-Version", "4.0",
		 "X-Other", "1", "Content-Length", "0", NULL);
	rc = apply(&ed, &rule, h, 16);
	report(rc == 1 && ed.n == 2 &&
	       edit_is(&ed.e[0], EXLB_HTTP_EDIT_DEL, "X-Powered-By", NULL) &&
	       edit_is(&ed.e[1], EXLB_HTTP_EDIT_DEL, "X-AspNet-Version", NULL),
	       "DeleteHeaderRule by pattern: one DEL per distinct matching name, names case-insensitive");
	memset(ed.e, 0, sizeof(ed.e));	/* 15 edits that change nothing */
	ed.n = 15;
	rc = apply(&ed, &rule, h, 16);
	report(rc == -ENOSPC && ed.n == 15,
	       "edits that do not fit: -ENOSPC and none appended");

	ed.n = 0;
	rule = R("loc", EXLB_RULE_REPLACE_HEADER, EXLB_MATCH_REGEX,
		 "/^http:\\/\\/(.*)/");
	snprintf(rule.header, sizeof(rule.header), "Location");
	snprintf(rule.replacement, sizeof(rule.replacement), "https://$1");
	h = head(1, EXLB_HTTP_RESPONSE, NULL, "Location",
		 "http://mail.example.com/owa/", NULL);
	rc = apply(&ed, &rule, h, 16);
	report(rc == 1 && ed.n == 1 &&
	       edit_is(&ed.e[0], EXLB_HTTP_EDIT_SET, "Location",
		       "https://mail.example.com/owa/"),
	       "ReplaceHeaderRule: Location http -> https with $1");
	h = head(1, EXLB_HTTP_RESPONSE, NULL, "Location", "https://x/", NULL);
	ed.n = 0;
	rc = apply(&ed, &rule, h, 16);
	report(rc == 0 && ed.n == 0, "ReplaceHeaderRule without a match does nothing");

	rule = R("glob", EXLB_RULE_REPLACE_HEADER, EXLB_MATCH_REGEX, "/a/i");
	snprintf(rule.header, sizeof(rule.header), "X-List");
	snprintf(rule.replacement, sizeof(rule.replacement), "b$");
	h = REQ("/", "X-List", "a, A, c", "X-List", "d", "X-List", "a");
	rc = apply(&ed, &rule, h, 16);
	report(rc == 1 && ed.n == 4 &&
	       edit_is(&ed.e[0], EXLB_HTTP_EDIT_DEL, "X-List", NULL) &&
	       edit_is(&ed.e[1], EXLB_HTTP_EDIT_ADD, "X-List", "b$, b$, c") &&
	       edit_is(&ed.e[2], EXLB_HTTP_EDIT_ADD, "X-List", "d") &&
	       edit_is(&ed.e[3], EXLB_HTTP_EDIT_ADD, "X-List", "b$"),
	       "ReplaceHeaderRule: global, per occurrence, kept in order; lone $ is literal");

	ed.n = 0;
	rule = R("host", EXLB_RULE_REPLACE_HEADER, EXLB_MATCH_PREFIX, "mail.");
	snprintf(rule.header, sizeof(rule.header), "Host");
	snprintf(rule.replacement, sizeof(rule.replacement), "webmail.");
	rc = apply(&ed, &rule, REQ("/", "Host", "mail.example.com"), 16);
	report(rc == 1 && edit_is(&ed.e[0], EXLB_HTTP_EDIT_SET, "Host",
				  "webmail.example.com"),
	       "ReplaceHeaderRule with matchtype prefix replaces the prefix");

	exlb_content_arena_free(&ed.arena);
}

static void test_modify_url(void)
{
	struct edits ed = { .n = 0 };
	struct exlb_content_rule *root, *old;
	struct exlb_rule rule;
	int rc;

	rule = R("root", EXLB_RULE_MODIFY_URL, EXLB_MATCH_REGEX, "/^\\/$/");
	snprintf(rule.replacement, sizeof(rule.replacement), "/owa/");
	root = compile_or_die(&rule);
	rule = R("old", EXLB_RULE_MODIFY_URL, EXLB_MATCH_REGEX,
		 "/^\\/old\\/(.*)/i");
	snprintf(rule.replacement, sizeof(rule.replacement), "/new/\\1");
	old = compile_or_die(&rule);

	ed.target = NULL;
	rc = exlb_header_rule_apply(root, REQ("/"), ed.e, 16, &ed.n, &ed.target,
				    &ed.arena);
	report(rc == 1 && ed.target && !strcmp(ed.target, "/owa/") && ed.n == 0,
	       "ModifyURL / -> /owa/ (no header edits)");
	ed.target = NULL;
	rc = exlb_header_rule_apply(root, REQ("/?a=1"), ed.e, 16, &ed.n,
				    &ed.target, &ed.arena);
	report(rc == 1 && !strcmp(ed.target, "/owa/?a=1"),
	       "ModifyURL keeps the query when it was not matched: %s", ed.target);
	ed.target = NULL;
	rc = exlb_header_rule_apply(root, REQ("/ecp/"), ed.e, 16, &ed.n,
				    &ed.target, &ed.arena);
	report(rc == 0 && !ed.target, "ModifyURL without a match leaves the target");

	ed.target = NULL;
	rc = exlb_header_rule_apply(old, REQ("/OLD/a/b?x=y"), ed.e, 16, &ed.n,
				    &ed.target, &ed.arena);
	report(rc == 1 && !strcmp(ed.target, "/new/a/b?x=y"),
	       "ModifyURL with Kemp's \\1: %s", ed.target);

	/* chained: the second rule sees what the first made */
	ed.target = NULL;
	rule = R("chain", EXLB_RULE_MODIFY_URL, EXLB_MATCH_REGEX, "/^\\/owa\\/$/");
	snprintf(rule.replacement, sizeof(rule.replacement), "/owa/auth/logon.aspx");
	struct exlb_content_rule *chain = compile_or_die(&rule);
	rc = exlb_header_rule_apply(root, REQ("/"), ed.e, 16, &ed.n, &ed.target,
				    &ed.arena);
	rc += exlb_header_rule_apply(chain, REQ("/"), ed.e, 16, &ed.n,
				     &ed.target, &ed.arena);
	report(rc == 2 && !strcmp(ed.target, "/owa/auth/logon.aspx"),
	       "ModifyURL rules chain through new_target");
	exlb_content_rule_free(chain);

	ed.target = NULL;
	rc = exlb_header_rule_apply(old, REQ("http://mail.example.com/old/x"),
				    ed.e, 16, &ed.n, &ed.target, &ed.arena);
	report(rc == 1 && !strcmp(ed.target, "http://mail.example.com/new/x"),
	       "ModifyURL on an absolute-form target keeps scheme and host");

	rc = exlb_header_rule_apply(root, head(1, EXLB_HTTP_RESPONSE, NULL, NULL),
				    ed.e, 16, &ed.n, NULL, &ed.arena);
	report(rc == 0, "ModifyURL on a response (new_target NULL) does nothing");

	rule = R("q", EXLB_RULE_MODIFY_URL, EXLB_MATCH_REGEX, "/user=([^&]*)/");
	rule.incquery = 1;
	snprintf(rule.replacement, sizeof(rule.replacement), "mailbox=$1");
	struct exlb_content_rule *q = compile_or_die(&rule);
	ed.target = NULL;
	rc = exlb_header_rule_apply(q, REQ("/mapi/?user=a&x=1"), ed.e, 16,
				    &ed.n, &ed.target, &ed.arena);
	report(rc == 1 && !strcmp(ed.target, "/mapi/?mailbox=a&x=1"),
	       "ModifyURL with incquery rewrites in the query: %s", ed.target);
	exlb_content_rule_free(q);

	report(!exlb_content_rule_match(root, REQ("/")),
	       "exlb_content_rule_match on a header rule is false");
	exlb_content_rule_free(root);
	exlb_content_rule_free(old);

	exlb_content_arena_reset(&ed.arena);
	char *s = exlb_content_arena_strndup(&ed.arena, "abc", 3);
	char big[10000];
	memset(big, 'z', sizeof(big));
	char *s2 = exlb_content_arena_strndup(&ed.arena, big, sizeof(big));
	report(s && s2 && !strcmp(s, "abc") && strlen(s2) == sizeof(big),
	       "arena: strings survive later, bigger allocations");
	exlb_content_arena_free(&ed.arena);
}

/* ---- one compiled rule, many threads ---- */

static struct exlb_content_rule *shared_rule;

static void *worker(void *arg)
{
	size_t bad = 0;
	struct exlb_http_head *h = malloc(sizeof(*h));

	(void)arg;
	memset(h, 0, sizeof(*h));
	h->kind = EXLB_HTTP_REQUEST;
	for (int i = 0; i < 5000; i++) {
		const char *t = i % 2 ? "/OWA/x" : "/ecp/";

		h->target = t;
		h->target_len = strlen(t);
		if (exlb_content_rule_match(shared_rule, h) != (i % 2))
			bad++;
	}
	free(h);
	return (void *)bad;
}

static void test_threads(void)
{
	struct exlb_rule rule = R("owa", EXLB_RULE_MATCH, EXLB_MATCH_REGEX,
				  "%2F%5E%5C%2Fowa.%2A%2F");
	pthread_t th[4];
	size_t bad = 0;

	rule.nocase = 1;
	shared_rule = compile_or_die(&rule);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < 4; i++) {
		void *ret;

		pthread_join(th[i], &ret);
		bad += (size_t)ret;
	}
	report(bad == 0, "one compiled rule matched from 4 threads at once (%zu wrong)",
	       bad);
	exlb_content_rule_free(shared_rule);
}

int main(void)
{
	test_exchange_template();
	test_match_types();
	test_inchost_and_headers();
	test_refusals();
	test_limits();
	test_header_rules();
	test_modify_url();
	test_threads();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
