// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ESP's form logon without the proxy (esp/form.c, esp/session.c): the
 * urlencoded parser of the logon POST, the destination check (no open
 * redirect), the session cookie found and stripped in Cookie headers, the
 * logon page and the 302, and the session table: ids, domain binding,
 * idle and max timeouts (public/private), logoff, the cap.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp/form.h"
#include "esp/session.h"
#include "tap_report.h"

void exlb_log(int pri, const char *fmt, ...);
void exlb_log(int pri, const char *fmt, ...)
{
	(void)pri;
	(void)fmt;
}

/* ---- the POST body ---- */

static void parse_ok(const char *body, const char *user, const char *pw,
		     const char *dest, bool priv)
{
	struct esp_form f;
	const char *why = NULL;
	int r = esp_form_parse(body, strlen(body), &f, &why);

	report(!r && f.user_len == strlen(user) && !memcmp(f.user, user, f.user_len) &&
	       f.pw_len == strlen(pw) && !memcmp(f.pw, pw, f.pw_len) &&
	       !strcmp(f.dest, dest) && f.private_pc == priv,
	       "parse '%s': user '%s', dest '%s', %s (%s)", body, user, dest,
	       priv ? "private" : "public", r ? why : "ok");
}

static void parse_bad(const char *body)
{
	struct esp_form f;
	const char *why = NULL;
	int r = esp_form_parse(body, strlen(body), &f, &why);

	report(r && why && !f.user_len && !f.pw_len && !f.pw[0],
	       "parse '%.60s' refused (%s), nothing kept", body, why ? why : "accepted");
}

static void test_parse(void)
{
	char big[ESP_FORM_BODY_MAX + 64];
	char name[ESP_NAME_MAX + 64];
	struct esp_form f;
	const char *why;

	parse_ok("username=alice&password=alice-pw", "alice", "alice-pw", "/", false);
	parse_ok("destination=%2Fowa%2F%3Fa%3D1&flags=4&username=alice%40exlb.test&password=p%26w%3D+x",
		 "alice@exlb.test", "p&w= x", "/owa/?a=1", true);
	parse_ok("username=a&password=b&flags=0&isUtf8=1&passwordText=", "a", "b", "/", false);
	parse_ok("username=%E2%82%AC&password=%25", "\xe2\x82\xac", "%", "/", false);
	parse_ok("username=&password=", "", "", "/", false);	/* sso.c refuses those */
	report(!esp_form_parse("username=a%00b&password=x", 25, &f, &why) &&
	       f.user_len == 3 && !memcmp(f.user, "a\0b", 3),
	       "parse 'username=a%%00b': a NUL decoded, kept with its length (sso.c refuses it)");
	parse_bad("");
	parse_bad("username=alice");
	parse_bad("password=x");
	parse_bad("username=alice&password");
	parse_bad("username=alice&&password=x");
	parse_bad("username=alice&password=x&");
	parse_bad("&username=alice&password=x");
	parse_bad("username=alice&password=x&username=bob");
	parse_bad("username=alice&password=x&password=y");
	parse_bad("username=alice&password=%zz");
	parse_bad("username=alice&password=%4");
	parse_bad("username=alice&password=%");
	parse_bad("username=al ice&password=x");
	parse_bad("username=al\x01ice&password=x");
	parse_bad("username=al\xc3\xa9&password=x");	/* raw bytes: not urlencoded */
	parse_bad("username=alice&password=x&flags=1");
	parse_bad("username=alice&password=x&flags=44");
	parse_bad("username=alice&password=x&other=%g0");
	parse_bad("username=alice&password=x&destination=%2F%2Fevil.example");
	parse_bad("username=alice&password=x&destination=https%3A%2F%2Fevil.example%2F");
	parse_bad("username=alice&password=x&destination=");
	memset(name, 'a', sizeof(name) - 1);
	name[ESP_NAME_MAX + 1] = '\0';
	snprintf(big, sizeof(big), "username=%s&password=x", name);
	parse_bad(big);
	name[ESP_NAME_MAX] = '\0';
	snprintf(big, sizeof(big), "username=%s&password=x", name);
	report(!esp_form_parse(big, strlen(big), &f, &why) && f.user_len == ESP_NAME_MAX,
	       "a name of ESP_NAME_MAX (%d) bytes is taken", ESP_NAME_MAX);
	memset(big, 'a', sizeof(big));
	memcpy(big, "username=a&password=x&pad=", 26);
	report(esp_form_parse(big, ESP_FORM_BODY_MAX + 1, &f, &why) == -1,
	       "a body over ESP_FORM_BODY_MAX is refused (%s)", why);
}

static void test_dest(void)
{
	static const struct { const char *d; bool ok; } t[] = {
		{ "/", true }, { "/owa/", true }, { "/owa/?a=1&b=%2F", true },
		{ "/owa/#x", true },
		{ "", false }, { "owa/", false }, { "//evil.example/", false },
		{ "/\\evil.example/", false }, { "https://evil.example/", false },
		{ "/owa/\r\nSet-Cookie: x=1", false }, { "/owa/ x", false },
		{ "/a\\b", false }, { "/\x7f", false }, { "/\xc3\xa9", false },
		{ "javascript:alert(1)", false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char shown[64];
		size_t o = 0;

		/* one TAP line: control bytes shown as '?' */
		for (const char *p = t[i].d; *p && o + 1 < sizeof(shown); p++)
			shown[o++] = (unsigned char)*p < 0x20 ? '?' : *p;
		shown[o] = '\0';
		report(esp_dest_valid(t[i].d, strlen(t[i].d)) == t[i].ok,
		       "destination '%s': %s", shown, t[i].ok ? "a path here" : "refused");
	}
}

/* ---- cookies ---- */

static void cookie(const char *hdr, const char *want_value, const char *want_rest)
{
	const char *v = NULL;
	size_t vl = 0, n;
	char out[256];
	bool got = esp_cookie_get(hdr, strlen(hdr), &v, &vl);

	n = esp_cookie_strip(hdr, strlen(hdr), out, sizeof(out));
	report((want_value ? got && vl == strlen(want_value) && !memcmp(v, want_value, vl) : !got) &&
	       n == strlen(want_rest) && !strcmp(out, want_rest),
	       "Cookie '%s': ours '%s', forwarded '%s' (got '%.*s', '%s')", hdr,
	       want_value ? want_value : "-", want_rest, got ? (int)vl : 1,
	       got ? v : "-", n == (size_t)-1 ? "(too small)" : out);
}

static void test_cookies(void)
{
	char small[4];

	cookie("exlb_esp=abc", "abc", "");
	cookie("a=1; exlb_esp=abc; b=2", "abc", "a=1; b=2");
	cookie("a=1;exlb_esp=abc;b=2", "abc", "a=1; b=2");
	cookie("  exlb_esp = abc ; b=2 ", "abc", "b=2");
	cookie("xexlb_esp=1; exlb_esp2=2", NULL, "xexlb_esp=1; exlb_esp2=2");
	cookie("EXLB_ESP=1", NULL, "EXLB_ESP=1");
	cookie("exlb_esp=first; exlb_esp=second", "first", "");
	cookie("a=1", NULL, "a=1");
	cookie("flag; a=\"q;x\"", NULL, "flag; a=\"q; x\"");
	cookie("", NULL, "");
	report(esp_cookie_strip("a=1234", 6, small, sizeof(small)) == (size_t)-1,
	       "strip into a buffer too small: refused");
}

/* ---- the answers ---- */

static bool has(const struct exlb_buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

static void test_answers(void)
{
	struct exlb_buf b = { 0 };
	const char *body;

	report(!esp_form_page(200, "Hi <b>&\"'", "/owa/?a=\"><x>", "Wrong.", NULL, NULL, false, &b) &&
	       b.len && !strncmp(b.data, "HTTP/1.1 200 OK\r\n", 17),
	       "the logon page: 200");
	exlb_buf_append(&b, "", 1);
	body = strstr(b.data, "\r\n\r\n");
	report(body && strstr(body, "Hi &lt;b&gt;&amp;&quot;&#39;") &&
	       strstr(body, "value=\"/owa/?a=&quot;&gt;&lt;x&gt;\"") &&
	       strstr(body, "<p id=\"error\"><strong>Wrong.</strong></p>") &&
	       !strstr(body, "<script") && !strstr(body, "<x>") &&
	       strstr(body, "action=\"/lm_auth_proxy\""),
	       "message, destination escaped; the error; no script; posts to /lm_auth_proxy");
	report(has(&b, "Content-Security-Policy: default-src 'none'; form-action 'self'") &&
	       has(&b, "Cache-Control: no-store\r\n") && has(&b, "Connection: close\r\n"),
	       "strict CSP, no-store, Connection: close");
	b.len = 0;
	report(!esp_form_page(200, "", "/", NULL, NULL, NULL, true, &b) &&
	       !memcmp(b.data + b.len - 4, "\r\n\r\n", 4) && !memmem(b.data, b.len, "<html", 5),
	       "HEAD: the head only");
	b.len = 0;
	esp_form_page(200, "", "/", NULL, NULL, NULL, false, &b);
	report(b.len && !memmem(b.data, b.len, "id=\"message\"", 12),
	       "an empty SingleSignOnMessage shows nothing");
	report(!has(&b, "pwdchange") && !has(&b, "href="),
	       "no password change line, no link, without UserPwdChangeURL");
	b.len = 0;
	esp_form_page(200, "", "/", "Wrong.", "", "Change it <now>", false, &b);
	report(b.len && !has(&b, "pwdchange") && !has(&b, "href=") && !has(&b, "now"),
	       "an empty UserPwdChangeURL: no line, the message not shown either");
	b.len = 0;
	report(!esp_form_page(200, "", "/", NULL,
			      "https://pw.example.com/change?u=1&x=\"><script>'",
			      "Expired <b>now</b> & \"then\"", false, &b) &&
	       has(&b, "<p id=\"pwdchange\"><strong>Expired &lt;b&gt;now&lt;/b&gt; &amp; &quot;then&quot;</strong> "
		   "<a href=\"https://pw.example.com/change?u=1&amp;x=&quot;&gt;&lt;script&gt;&#39;\" rel=\"noreferrer\">") &&
	       !has(&b, "<script") && !has(&b, "<b>") && !has(&b, "id=\"error\""),
	       "UserPwdChangeMsg and UserPwdChangeURL HTML-escaped, in text and in the href");
	report(has(&b, "Content-Security-Policy: default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n") &&
	       has(&b, "action=\"/lm_auth_proxy\""),
	       "the password change page keeps the CSP and the logon form");
	b.len = 0;
	esp_form_page(200, "", "/", NULL, "/pwchange/", "", false, &b);
	report(has(&b, "<strong>" ESP_PWD_CHANGE_DEFAULT "</strong> <a href=\"/pwchange/\""),
	       "an empty UserPwdChangeMsg: the default line with the link");
	b.len = 0;
	report(!esp_form_redirect("/owa/", "00112233445566778899aabbccddeeff", &b) &&
	       has(&b, "HTTP/1.1 302 Found\r\nLocation: /owa/\r\n") &&
	       has(&b, "Set-Cookie: exlb_esp=00112233445566778899aabbccddeeff; Path=/; HttpOnly; Secure; SameSite=Lax\r\n"),
	       "302 with the session cookie's flags");
	b.len = 0;
	report(!esp_form_redirect("//evil/", "00", &b) && has(&b, "Location: /\r\n"),
	       "a redirect to an invalid destination goes to / (a second line of defence)");
	free(b.data);
}

/* ---- the session table ---- */

static void test_sessions(void)
{
	struct exlb_sso_domain d = { .name = "EXLB", .sess_tout_type = EXLB_SSO_TOUT_IDLE,
		.sess_tout_idle_pub = 60, .sess_tout_duration_pub = 300,
		.sess_tout_idle_priv = 600, .sess_tout_duration_priv = 3000 };
	char c1[ESP_SESSION_HEX + 1], c2[ESP_SESSION_HEX + 1], c3[ESP_SESSION_HEX + 1];
	char forged[ESP_SESSION_HEX + 1];
	struct esp_session_creds cr;
	bool all = true;

	esp_session_clear();
	report(!esp_session_new(&d, false, "alice", 5, "pw", 2, 1000, c1) &&
	       !esp_session_new(&d, true, "bob", 3, "pw2", 3, 1000, c2) &&
	       strlen(c1) == ESP_SESSION_HEX && strspn(c1, "0123456789abcdef") == ESP_SESSION_HEX &&
	       strcmp(c1, c2), "two sessions: 32 hex digits each, different (%s)", c1);
	report(esp_session_check(c1, strlen(c1), "exlb", 1010, &cr) && cr.user_len == 5 &&
	       !memcmp(cr.user, "alice", 5) && cr.pw_len == 2 && !memcmp(cr.pw, "pw", 2),
	       "the cookie finds its session (domain case-insensitive), with its credentials");
	report(!esp_session_check(c1, strlen(c1), "OTHER", 1010, NULL),
	       "another domain's service does not accept it");
	memcpy(forged, c1, sizeof(forged));
	forged[ESP_SESSION_HEX - 1] = forged[ESP_SESSION_HEX - 1] == '0' ? '1' : '0';
	report(!esp_session_check(forged, strlen(forged), "EXLB", 1010, NULL) &&
	       !esp_session_check(c1, ESP_SESSION_HEX - 1, "EXLB", 1010, NULL) &&
	       !esp_session_check("zz", 2, "EXLB", 1010, NULL),
	       "a changed digit, a short or non-hex id: refused");
	/* public: idle 60 from the last use, at most 300 in all */
	report(esp_session_check(c1, strlen(c1), "EXLB", 1069, NULL),
	       "public: used 59 s after the last use: live");
	report(!esp_session_check(c1, strlen(c1), "EXLB", 1129, NULL),
	       "public: unused for 60 s: gone");
	report(!esp_session_check(c1, strlen(c1), "EXLB", 1010, NULL),
	       "... and freed (not back when asked with an earlier time)");
	report(esp_session_check(c2, strlen(c2), "EXLB", 1500, NULL),
	       "private: unused for 500 s of its 600: live");
	d.sess_tout_type = EXLB_SSO_TOUT_MAX;
	esp_session_new(&d, false, "carol", 5, "pw", 2, 2000, c3);
	report(esp_session_check(c3, strlen(c3), "EXLB", 2250, NULL) &&
	       !esp_session_check(c3, strlen(c3), "EXLB", 2300, NULL),
	       "sess_tout_type=max: unused for 250 s lives, none lives 300 s");
	d.sess_tout_type = EXLB_SSO_TOUT_IDLE;
	esp_session_new(&d, false, "dave", 4, "pw", 2, 2000, c3);
	for (int t = 2050; t < 2300; t += 50)
		all &= esp_session_check(c3, strlen(c3), "EXLB", t, NULL);
	report(all && !esp_session_check(c3, strlen(c3), "EXLB", 2300, NULL),
	       "idle: used every 50 s it still ends at the max duration (300 s)");
	report(esp_session_end(c2, strlen(c2), "EXLB") &&
	       !esp_session_check(c2, strlen(c2), "EXLB", 1500, NULL) &&
	       !esp_session_end(c2, strlen(c2), "EXLB"),
	       "logoff ends the session once");
	esp_session_clear();
	esp_session_new(&d, true, "first", 5, "pw", 2, 99, c1);
	for (int i = 1; i < ESP_SESSIONS_MAX; i++)
		esp_session_new(&d, true, "u", 1, "pw", 2, 100, c2);
	report(esp_session_count(200) == ESP_SESSIONS_MAX &&
	       esp_session_check(c1, strlen(c1), "EXLB", 200, NULL),
	       "the table holds %d sessions", ESP_SESSIONS_MAX);
	esp_session_new(&d, true, "one more", 8, "pw", 2, 300, c3);
	report(esp_session_count(300) == ESP_SESSIONS_MAX &&
	       !esp_session_check(c1, strlen(c1), "EXLB", 300, NULL) &&
	       esp_session_check(c3, strlen(c3), "EXLB", 300, NULL) &&
	       esp_session_check(c2, strlen(c2), "EXLB", 300, NULL),
	       "full: a new session evicts the oldest logon, the others stay");
	esp_session_clear();
	report(esp_session_count(300) == 0, "clear: none left");
}

int main(void)
{
	test_parse();
	test_dest();
	test_cookies();
	test_answers();
	test_sessions();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
