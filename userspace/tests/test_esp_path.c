// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the Edge Security Pack's gates (exlbd/esp/path.c, gate.c):
 * every path and Host trick of issue 13 with the verdict it must get, the
 * target a passing request is forwarded with, Kemp's wildcard lists, and
 * the SMTP recipient domain. TAP output; built with ASan/UBSan by
 * "make test".
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "esp/basic.h"
#include "esp/gate.h"
#include "esp/path.h"
#include "l7/http1.h"
#include "tap_report.h"

/* gate.c's links outside what is tested: the log is counted */
static int nr_logged;
static char last_log[1024];

void exlb_log(int pri, const char *fmt, ...)
{
	va_list ap;

	(void)pri;
	va_start(ap, fmt);
	vsnprintf(last_log, sizeof(last_log), fmt, ap);
	va_end(ap);
	nr_logged++;
}

bool exlb_service_is_subvs(const struct exlb_service *svc)
{
	return svc->parent_id != 0;
}

/* ---- the normaliser alone ---- */

static void norm(const char *in, const char *want)
{
	char out[ESP_PATH_MAX];
	const char *why = esp_path_normalise(in, strlen(in), out, sizeof(out));

	if (want)
		report(!why && !strcmp(out, want), "normalise '%s' -> '%s' (got '%s'%s%s)",
		       in, want, why ? "" : out, why ? ", refused: " : "", why ? why : "");
	else
		report(why != NULL, "normalise '%s' refused (%s%s)", in, why ? why : "passed as ",
		       why ? "" : out);
}

static void test_normalise(void)
{
	norm("/owa/", "/owa/");
	norm("/owa/../ecp/", "/ecp/");
	norm("/owa/./x", "/owa/x");
	norm("/owa/%2e%2e/ecp/", "/ecp/");
	norm("/owa/%2E%2E/ecp/", "/ecp/");
	norm("/owa/.%2e/ecp/", "/ecp/");
	norm("/owa%2f..%2fecp/", "/ecp/");
	norm("/owa%2F..%2Fecp", "/ecp");
	norm("/owa/%5c..%5cecp/", "/ecp/");
	norm("/owa\\..\\ecp\\", "/ecp/");
	norm("//owa//x", "/owa/x");
	norm("/owa//..//ecp", "/ecp");
	norm("/../../etc/passwd", "/etc/passwd");
	norm("/..", "/");
	norm("/a/b/..", "/a/");
	norm("/a/.", "/a/");
	norm("/OWA/Auth/", "/OWA/Auth/");
	norm("/owa/%41bc", "/owa/Abc");
	norm("/owa/%2541", "/owa/%41");	/* one level only: forwarded re-encoded */
	norm("/owa/%252e%252e/ecp/", NULL);	/* double encoding of '.' */
	norm("/owa/%252f", NULL);		/* of '/' */
	norm("/owa/%255c", NULL);		/* of '\' */
	norm("/owa/%2500", NULL);		/* of NUL */
	norm("/owa/%00", NULL);			/* decoded NUL */
	norm("/owa/%zz", NULL);			/* bad encoding */
	norm("/owa/%2", NULL);
	norm("/owa/%u002e%u002e/ecp", NULL);	/* IIS %u */
	norm("/owa/..;/ecp/", NULL);		/* ;param (Tomcat-style ..;) */
	norm("/owa;x=1/", NULL);
	norm("/owa/%3b/", NULL);		/* encoded ';' */
	norm("/owa/.../ecp", NULL);		/* Windows trims dots */
	norm("/owa/..%20/ecp", NULL);		/* and spaces */
	norm("/owa/%c0%ae%c0%ae/ecp", NULL);	/* overlong UTF-8 '.' */
	norm("/owa/%0d%0aX:y", NULL);		/* control characters */
	norm("/owa/caf%c3%a9", "/owa/caf\xc3\xa9");
	norm("owa/", NULL);
}

/* Every byte but NUL: pchar and '/' as they are, the rest %XX in uppercase. */
static void encode_all_bytes(void)
{
	static const char keep[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789-._~!$&'()*+,=:@/";
	char in[256], want[3 * 255 + 1], out[sizeof(want)];
	size_t w = 0;

	for (int b = 1; b < 256; b++) {
		in[b - 1] = (char)b;
		if (strchr(keep, b))
			want[w++] = (char)b;
		else
			w += (size_t)snprintf(want + w, 4, "%%%02X", b);
	}
	in[255] = '\0';
	report(esp_path_encode(in, out, sizeof(out)) == w && !strcmp(out, want),
	       "encode: bytes 1-255 as RFC 3986 pchar and '/' want them (%zu bytes)", w);
}

/*
 * @in encodes to @want in a buffer of exactly strlen(@want) + 1 bytes and
 * in no smaller one: every smaller size gives 0 and ASan sees no write
 * past the end.
 */
static void encode_bounds(const char *in, const char *want)
{
	size_t n = strlen(want);
	long bad = -1;

	for (size_t cap = 0; cap <= n + 1; cap++) {
		char *out = malloc(cap);	/* exactly @cap: ASan sees any overrun */
		size_t got = esp_path_encode(in, out, cap);

		if (cap <= n ? got != 0 : got != n || strcmp(out, want))
			bad = (long)cap;
		free(out);
	}
	report(bad < 0, "encode: '%s' fits %zu + 1 bytes, not one fewer (wrong at: %ld)",
	       want, n, bad);
}

static void test_encode(void)
{
	char out[64];

	esp_path_encode("/owa/a b%c?#\xc3\xa9", out, sizeof(out));
	report(!strcmp(out, "/owa/a%20b%25c%3F%23%C3%A9"),
	       "encode: space, %%, ?, # and non-ASCII as %%XX: %s", out);
	esp_path_encode("/owa/a-b_c.d~e!$&'()*+,=:@", out, sizeof(out));
	report(!strcmp(out, "/owa/a-b_c.d~e!$&'()*+,=:@"), "encode keeps pchar: %s", out);
	report(esp_path_encode("/0123456789", out, 8) == 0, "encode: too small gives 0");
	esp_path_encode("/a b+c%d/e?f&g=h#i", out, sizeof(out));
	report(!strcmp(out, "/a%20b+c%25d/e%3Ff&g=h%23i"),
	       "encode: space %%20, '+' '/' '&' '=' kept, '%%' '?' '#' encoded: %s", out);
	esp_path_encode("\"<>\\^`{|}[]\x01\x1f\x7f\x80\xff", out, sizeof(out));
	report(!strcmp(out, "%22%3C%3E%5C%5E%60%7B%7C%7D%5B%5D%01%1F%7F%80%FF"),
	       "encode: the rest of ASCII's punctuation, controls and high bytes: %s", out);
	out[0] = '#';
	report(esp_path_encode("", out, sizeof(out)) == 0 && !out[0], "encode: \"\" is \"\", length 0");
	encode_all_bytes();
	encode_bounds("/a b\xc3\xa9+", "/a%20b%C3%A9+");
	encode_bounds("/a+b \xc3\xa9", "/a+b%20%C3%A9");	/* the last %XX at the bound */
}

/* ---- lists and hosts ---- */

static void host(const char *in, const char *want)
{
	char out[ESP_HOST_MAX];
	const char *why = esp_host_normalise(in, strlen(in), out, sizeof(out));

	if (want)
		report(!why && !strcmp(out, want), "host '%s' -> '%s' (got '%s')", in, want,
		       why ? why : out);
	else
		report(why != NULL, "host '%s' refused (%s)", in, why ? why : out);
}

static void test_hosts(void)
{
	host("Mail.Example.com", "mail.example.com");
	host("mail.example.com.", "mail.example.com");
	host("mail.example.com:443", "mail.example.com");
	host("MAIL.example.com.:8443", "mail.example.com");
	host("[fd00::1]:443", "[fd00::1]");
	host("", NULL);
	host("mail.example.com:", NULL);
	host("mail.example.com:44x", NULL);
	host("mail.example.com:1:2", NULL);
	host("mail.example.com@evil.com", NULL);
	host("mail example.com", NULL);
	host("mail..example.com", NULL);
	host(".", NULL);

	report(esp_list_match("Mail.example.com autodiscover.example.com", "mail.example.com", true),
	       "AllowedHosts: case-insensitive");
	report(esp_list_match("mail.example.com.", "mail.example.com", true),
	       "AllowedHosts: a trailing dot of the entry is ignored");
	report(!esp_list_match("mail.example.com", "mail.example.com.evil.com", true) &&
	       !esp_list_match("mail.example.com", "evilmail.example.com", true),
	       "AllowedHosts: exact, no prefix or suffix match");
	report(esp_list_match("*.example.com", "a.example.com", true) &&
	       !esp_list_match("*.example.com", "example.com", true),
	       "AllowedHosts: Kemp's wildcard *.example.com");
	report(!esp_list_match("", "mail.example.com", true) && !esp_list_match("  ", "x", true),
	       "an empty list matches nothing");
	report(esp_list_match("/owa*", "/owa/", false) && esp_list_match("/owa*", "/OWA/auth/x", false) &&
	       esp_list_match("/owa*", "/owa", false) && !esp_list_match("/owa*", "/ecp/", false),
	       "AllowedDirectories /owa*: matches /owa..., case-insensitive, not /ecp/");
	report(esp_list_match("/owa/*\n/ecp/*", "/ecp/x", false) &&
	       esp_list_match("/ews/* ,/oab/*", "/oab/x", false),
	       "a list of several directories (newline, blank, comma)");
	report(esp_list_match("/*", "/anything/at/all", false), "/* allows every path");
}

/* ---- the gate on parsed requests ---- */

static struct esp_gate *gate(const char *hosts, const char *dirs, unsigned int logs)
{
	struct exlb_service svc;
	struct esp_gate *g;
	bool err = false;

	memset(&svc, 0, sizeof(svc));
	svc.esp_enabled = 1;
	svc.parent_id = 1;
	svc.esp_logs = logs;
	snprintf(svc.nickname, sizeof(svc.nickname), "OWA");
	snprintf(svc.allowed_hosts, sizeof(svc.allowed_hosts), "%s", hosts);
	snprintf(svc.allowed_directories, sizeof(svc.allowed_directories), "%s", dirs);
	g = esp_gate_new(&svc, NULL, &err);
	if (!g || err)
		abort();
	return g;
}

/* What proxy_conn.c's esp_pass() hands a gate, from a parsed head. */
static const struct esp_request *request_of(const struct exlb_http_head *h,
					    struct esp_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->target = h->target;
	rq->target_len = h->target_len;
	rq->client = "198.18.0.1";
	for (size_t i = 0; i < h->nr_headers; i++)
		if (h->headers[i].name_len == 4 &&
		    !strncasecmp(h->headers[i].name, "Host", 4)) {
			rq->host = h->headers[i].value;
			rq->host_len = h->headers[i].value_len;
			rq->nr_host++;
		}
	return rq;
}

/*
 * @req (a whole head) through gate @g: @status 0 = passes and is forwarded
 * with @fwd as its target; else refused with that status.
 */
static void req(const struct esp_gate *g, const char *what, const char *reqtext,
		unsigned int status, const char *fwd)
{
	struct exlb_http_parser p;
	struct esp_request rq;
	struct esp_decision *d = malloc(sizeof(*d));
	enum exlb_http_event ev;
	enum esp_verdict v;
	size_t used;

	exlb_http_parser_init(&p, EXLB_HTTP_REQUEST);
	ev = exlb_http_feed(&p, reqtext, strlen(reqtext), &used);
	if (ev != EXLB_HTTP_HEAD) {
		/* the HTTP parser refuses it before the gate: as good */
		report(status != 0, "%s: the HTTP parser refuses it (event %d)", what, ev);
		goto out;
	}
	v = esp_gate_request(g, request_of(&p.head, &rq), d);
	if (!status)
		report(v == ESP_PASS && !strcmp(d->target, fwd),
		       "%s: passes, forwarded as '%s' (got %s '%s'%s%s)", what, fwd,
		       v == ESP_PASS ? "pass" : "refused", v == ESP_PASS ? d->target : "",
		       d->reason ? ": " : "", d->reason ? d->reason : "");
	else
		report(v == ESP_REFUSE && d->status == status,
		       "%s: refused %u (got %s %u: %s)", what, status,
		       v == ESP_PASS ? "pass" : "refused", d->status,
		       d->reason ? d->reason : d->target);
out:
	exlb_http_parser_release(&p);
	free(d);
}

#define H "Host: mail.example.com\r\n\r\n"

static void test_gate(void)
{
	struct esp_gate *g = gate("Mail.example.com autodiscover.example.com", "/owa/*", 2);
	struct esp_gate *all = gate("mail.example.com", "/*", 0);
	struct esp_gate *none = gate("", "/*", 0);
	struct esp_gate *nodirs = gate("mail.example.com", "", 0);
	int logged;

	req(g, "plain /owa/", "GET /owa/ HTTP/1.1\r\n" H, 0, "/owa/");
	req(g, "query kept as sent", "GET /owa/x?a=%2e%2e/b&c=d HTTP/1.1\r\n" H, 0, "/owa/x?a=%2e%2e/b&c=d");
	req(g, "/owa/../ecp/", "GET /owa/../ecp/ HTTP/1.1\r\n" H, 403, NULL);
	req(g, "/owa/%2e%2e/ecp/", "GET /owa/%2e%2e/ecp/ HTTP/1.1\r\n" H, 403, NULL);
	req(g, "/owa/..%2fecp/", "GET /owa/..%2fecp/ HTTP/1.1\r\n" H, 403, NULL);
	req(g, "/owa%2f..%2fecp/", "GET /owa%2f..%2fecp/ HTTP/1.1\r\n" H, 403, NULL);
	req(g, "%2f inside an allowed path is forwarded as '/'",
	    "GET /owa%2fx HTTP/1.1\r\n" H, 0, "/owa/x");
	req(g, "double encoding %252e%252e", "GET /owa/%252e%252e/ecp/ HTTP/1.1\r\n" H, 403, NULL);
	req(g, "double encoding %252f", "GET /owa/..%252fecp/ HTTP/1.1\r\n" H, 403, NULL);
	req(g, "//ecp/ (not /owa/)", "GET //ecp/ HTTP/1.1\r\n" H, 403, NULL);
	req(g, "//owa//x collapsed", "GET //owa//x HTTP/1.1\r\n" H, 0, "/owa/x");
	req(g, ";param", "GET /owa/..;/ecp/ HTTP/1.1\r\n" H, 403, NULL);
	req(g, ";param on an allowed path", "GET /owa/x;jsessionid=1 HTTP/1.1\r\n" H, 403, NULL);
	req(g, "case change /OWA/ allowed (IIS is case-insensitive)",
	    "GET /OWA/Auth HTTP/1.1\r\n" H, 0, "/OWA/Auth");
	req(g, "case change /ECP/ refused", "GET /ECP/ HTTP/1.1\r\n" H, 403, NULL);
	req(g, "backslashes /owa\\..\\ecp\\", "GET /owa\\..\\ecp\\ HTTP/1.1\r\n" H, 403, NULL);
	req(g, "encoded backslashes /owa%5c..%5cecp", "GET /owa%5c..%5cecp HTTP/1.1\r\n" H, 403, NULL);
	req(g, "backslash in an allowed path forwarded as '/'",
	    "GET /owa\\x HTTP/1.1\r\n" H, 0, "/owa/x");
	req(g, "the forwarded path is re-encoded (%2541 -> %2541, a space)",
	    "GET /owa/%2541%20b HTTP/1.1\r\n" H, 0, "/owa/%2541%20b");
	req(g, "absolute-form to an allowed host", "GET http://mail.example.com/owa/ HTTP/1.1\r\n" H, 0, "/owa/");
	req(g, "absolute-form https, port, case", "GET https://MAIL.example.com:443/owa/x HTTP/1.1\r\nHost: MAIL.example.com:443\r\n\r\n", 0, "/owa/x");
	req(g, "absolute-form authority other than Host (the parser's 400)",
	    "GET http://evil.example.net/owa/ HTTP/1.1\r\n" H, 400, NULL);
	req(g, "absolute-form and Host both evil", "GET http://evil.example.net/owa/ HTTP/1.1\r\nHost: evil.example.net\r\n\r\n", 403, NULL);
	req(g, "absolute-form path /ecp/", "GET http://mail.example.com/ecp/ HTTP/1.1\r\n" H, 403, NULL);
	req(g, "absolute-form with userinfo", "GET http://mail.example.com@evil.net/owa/ HTTP/1.1\r\n" H, 400, NULL);
	req(g, "absolute-form, no path", "GET http://mail.example.com HTTP/1.1\r\n" H, 403, NULL);
	req(g, "Host with port", "GET /owa/ HTTP/1.1\r\nHost: mail.example.com:443\r\n\r\n", 0, "/owa/");
	req(g, "Host with trailing dot", "GET /owa/ HTTP/1.1\r\nHost: mail.example.com.\r\n\r\n", 0, "/owa/");
	req(g, "Host in another case", "GET /owa/ HTTP/1.1\r\nHost: MAIL.EXAMPLE.COM\r\n\r\n", 0, "/owa/");
	req(g, "Host not allowed", "GET /owa/ HTTP/1.1\r\nHost: evil.example.net\r\n\r\n", 403, NULL);
	req(g, "Host as a suffix trick", "GET /owa/ HTTP/1.1\r\nHost: mail.example.com.evil.net\r\n\r\n", 403, NULL);
	req(g, "Host with a bad port", "GET /owa/ HTTP/1.1\r\nHost: mail.example.com:x\r\n\r\n", 403, NULL);
	req(g, "no Host (HTTP/1.0)", "GET /owa/ HTTP/1.0\r\n\r\n", 403, NULL);
	req(g, "two Host headers", "GET /owa/ HTTP/1.1\r\nHost: mail.example.com\r\nHost: evil.net\r\n\r\n", 400, NULL);
	req(g, "OPTIONS *", "OPTIONS * HTTP/1.1\r\n" H, 400, NULL);
	req(g, "CONNECT authority-form", "CONNECT mail.example.com:443 HTTP/1.1\r\n" H, 400, NULL);
	req(all, "AllowedDirectories /*: any normalised path", "GET /ecp/../x/ HTTP/1.1\r\n" H, 0, "/x/");
	req(none, "empty AllowedHosts: nothing passes", "GET /owa/ HTTP/1.1\r\n" H, 403, NULL);
	req(nodirs, "empty AllowedDirectories: nothing passes", "GET /owa/ HTTP/1.1\r\n" H, 403, NULL);

	{
		/* routing on a VS where ESP is on somewhere: normalised only */
		struct esp_decision *d = malloc(sizeof(*d));
		struct esp_request rq = { .target = "/ews/../owa/x", .target_len = 13,
					  .host = "evil.net", .host_len = 8, .nr_host = 1,
					  .client = "198.18.0.1" };

		report(esp_normalise_request(none, &rq, d) == ESP_PASS && !strcmp(d->target, "/owa/x"),
		       "normalise only: /ews/../owa/x routes and goes on as /owa/x, whatever the Host (%s)",
		       d->target);
		rq.target = "/ews/%252e%252e/owa/";
		rq.target_len = strlen(rq.target);
		report(esp_normalise_request(none, &rq, d) == ESP_REFUSE && d->status == 403,
		       "normalise only: double encoding refused there too (%u)", d->status);
		free(d);
	}

	logged = nr_logged;
	req(g, "a refusal (ESPLogs=2)", "GET /ecp/?password=secret HTTP/1.1\r\n" H, 403, NULL);
	report(nr_logged == logged + 1 && strstr(last_log, "refused 198.18.0.1:") &&
	       strstr(last_log, "host 'mail.example.com' path '/ecp/'") &&
	       strstr(last_log, "not in AllowedDirectories") && !strstr(last_log, "secret"),
	       "ESPLogs bit 2 logs client, host, path, reason, never the query: %s", last_log);
	logged = nr_logged;
	req(all, "a refusal (ESPLogs=0)", "GET /x HTTP/1.1\r\nHost: evil.net\r\n\r\n", 403, NULL);
	report(nr_logged == logged, "ESPLogs=0: no security log line");
	esp_gate_free(g);
	esp_gate_free(all);
	esp_gate_free(none);
	esp_gate_free(nodirs);
}

/* ---- SMTP ---- */

static void rcpt(const char *arg, const char *want)
{
	char out[256];
	const char *why = esp_rcpt_domain(arg, strlen(arg), out, sizeof(out));

	if (want)
		report(!why && !strcmp(out, want), "RCPT %s -> domain '%s' (got '%s')", arg, want,
		       why ? why : out);
	else
		report(why != NULL, "RCPT %s refused (%s)", arg, why ? why : out);
}

static void test_rcpt(void)
{
	rcpt("TO:<a@example.com>", "example.com");
	rcpt("to:<a@Example.COM> NOTIFY=NEVER", "example.com");
	rcpt("TO: <a@example.com.>", "example.com");
	rcpt("TO:<a@[198.18.0.1]>", "[198.18.0.1]");
	rcpt("TO:<postmaster>", NULL);
	rcpt("TO:a@example.com", NULL);
	rcpt("TO:<@relay.net:a@example.com>", NULL);
	rcpt("TO:<a@evil.net@example.com>", NULL);
	rcpt("TO:<\"a@evil.net\"@example.com>", NULL);
	rcpt("TO:<a@exa mple.com>", NULL);
	rcpt("FROM:<a@example.com>", NULL);
	report(esp_list_match("Example.com", "example.com", true) &&
	       !esp_list_match("example.com", "sub.example.com", true) &&
	       esp_list_match("example.com *.example.com", "sub.example.com", true),
	       "SMTPAllowedDomains: exact, case-insensitive; subdomains only by a *. pattern");
}

/* The Basic logon's pieces: the header, ExcludedDirectories, the cache. */
static void test_basic(void)
{
	char user[ESP_NAME_MAX + 1], pw[ESP_PASSWORD_MAX + 1], big[1200];
	unsigned char k1[ESP_CACHE_KEY_LEN], k2[ESP_CACHE_KEY_LEN], k3[ESP_CACHE_KEY_LEN];
	struct exlb_sso_domain d = { .name = "EXLB", .sess_tout_type = EXLB_SSO_TOUT_IDLE,
				     .sess_tout_idle_pub = 900, .sess_tout_duration_pub = 1800 };
	struct exlb_service svc;
	struct esp_gate *g;
	size_t ul = 0, pl = 0;
	bool err = false, ok;
	static const char *const bad[] = {
		"Basic", "Basic ", "Bearer YWxpY2U6cHc=", "Basic YWxpY2U6cHc",	/* no padding */
		"Basic YWxpY2U=", "Basic YWxp!2U6cHc=", "Basic YW=xY2U6cHc=", NULL,
	};

	ok = esp_basic_decode("Basic YWxpY2U6YWxpY2UtcHc=", 26, user, &ul, pw, &pl);
	report(ok && ul == 5 && !memcmp(user, "alice", 5) && pl == 8 && !memcmp(pw, "alice-pw", 8),
	       "Basic alice:alice-pw decoded");
	ok = esp_basic_decode("basic  OmE6Yg==  ", 17, user, &ul, pw, &pl);
	report(ok && ul == 0 && pl == 3 && !memcmp(pw, "a:b", 3),
	       "scheme case-insensitive, blanks around; the first ':' splits (empty user, password 'a:b')");
	for (int i = 0; bad[i]; i++)
		report(!esp_basic_decode(bad[i], strlen(bad[i]), user, &ul, pw, &pl),
		       "not credentials: '%s'", bad[i]);
	memcpy(big, "Basic ", 6);
	memset(big + 6, 'Q', 1000);	/* 750 bytes decoded: over the limits */
	report(!esp_basic_decode(big, 1006, user, &ul, pw, &pl), "credentials over 256+256 bytes refused");

	memset(&svc, 0, sizeof(svc));
	svc.esp_enabled = 1;
	svc.input_auth_mode = 1;
	snprintf(svc.nickname, sizeof(svc.nickname), "AS\"x");
	snprintf(svc.excluded_directories, sizeof(svc.excluded_directories), "/pub/* /oab/*");
	g = esp_gate_new(&svc, &d, &err);
	report(g && !strcmp(g->realm, "EXLB") && g->domain && g->domain != &d,
	       "the gate keeps a copy of the SSO domain; realm = its name");
	report(esp_gate_wants_basic(g, "/owa/x?a=1", 10) && !esp_gate_wants_basic(g, "/PUB/x", 6) &&
	       !esp_gate_wants_basic(g, "/oab/a%20b", 10) && esp_gate_wants_basic(g, "/pubx", 5),
	       "ExcludedDirectories: /PUB/x and /oab/a%%20b need no logon, /owa/x and /pubx do");
	esp_gate_free(g);
	g = esp_gate_new(&svc, NULL, &err);
	report(g && !strcmp(g->realm, "AS_x"), "without a domain the realm is the service's name, quotes replaced (%s)",
	       g ? g->realm : "");
	svc.input_auth_mode = 0;
	esp_gate_free(g);
	g = esp_gate_new(&svc, NULL, &err);
	report(!esp_gate_wants_basic(g, "/owa/", 5), "InputAuthMode=0: no logon anywhere");
	esp_gate_free(g);

	esp_cache_key("EXLB", "alice", 5, "pw", 2, k1);
	esp_cache_key("exlb", "alice", 5, "pw", 2, k2);
	esp_cache_key("EXLB", "alice", 5, "pw2", 3, k3);
	report(!memcmp(k1, k2, sizeof(k1)) && memcmp(k1, k3, sizeof(k1)),
	       "cache key: the domain case-insensitive, another password another key");
	esp_cache_key("EXLB", "alice:p", 7, "w", 1, k2);
	report(memcmp(k1, k2, sizeof(k1)) != 0, "cache key: ('alice:p','w') is not ('alice','pw')");
	report(!esp_cache_ok(k1, 1000), "nothing cached: a miss");
	esp_cache_put(k1, &d, 1000);
	report(esp_cache_ok(k1, 1000) && esp_cache_ok(k1, 1899) && !esp_cache_ok(k3, 1000),
	       "a put is a hit (its idle time restarts), another password is not");
	report(esp_cache_ok(k1, 2700) && !esp_cache_ok(k1, 2800),
	       "used within its idle time it still ends at sess_tout_duration_pub");
	esp_cache_put(k1, &d, 1000);
	report(!esp_cache_ok(k1, 1900), "unused for sess_tout_idle_pub: gone");
	d.sess_tout_type = EXLB_SSO_TOUT_MAX;
	esp_cache_put(k1, &d, 1000);
	report(esp_cache_ok(k1, 2500) && !esp_cache_ok(k1, 2800), "sess_tout_type=max: the duration alone");
	d.sess_tout_duration_pub = 0;
	esp_cache_put(k3, &d, 1000);
	report(!esp_cache_ok(k3, 1000), "sess_tout_duration_pub=0: nothing cached");
	d.sess_tout_duration_pub = 1800;
	esp_cache_clear();
	for (unsigned int i = 0; i <= ESP_CACHE_SIZE; i++) {
		unsigned char k[ESP_CACHE_KEY_LEN];
		char u[16];

		snprintf(u, sizeof(u), "u%u", i);
		esp_cache_key("EXLB", u, strlen(u), "pw", 2, k);
		esp_cache_put(k, &d, 1000 + i / 8);	/* all live */
		if (!i)
			memcpy(k1, k, sizeof(k1));
		if (i == 1)
			memcpy(k2, k, sizeof(k2));
	}
	report(!esp_cache_ok(k1, 1000 + ESP_CACHE_SIZE / 8) && esp_cache_ok(k2, 1000 + ESP_CACHE_SIZE / 8),
	       "full: the oldest logon is evicted first, the next stays");
	esp_cache_clear();
}

int main(void)
{
	test_normalise();
	test_encode();
	test_hosts();
	test_gate();
	test_rcpt();
	test_basic();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
