// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of exlbd/esp/owa_form.c, Exchange's form logon from the load
 * balancer's side: the POST body (form-urlencoding, bounds), the verdict on
 * Exchange's answers and their cookies. The answers are heads as the
 * simulated Exchange server (tests/lib/exchange-auth.py behind nginx,
 * captured with curl -D) and Exchange itself send them, parsed by
 * l7/http1.c as the proxy would. TAP output; ASan/UBSan.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp/owa_form.h"
#include "tap_report.h"

/* ---- the body ---- */

/* @n bytes of @user as the body's username field; NULL if it fails. */
static const char *username(const char *user, size_t n)
{
	static const char head[] = "destination=&flags=4&forcedownlevel=0&username=";
	static char out[2048];
	size_t len;
	char *e;

	if (owa_form_body("", 0, user, n, "", 0, out, sizeof(out), &len) ||
	    strncmp(out, head, strlen(head)))
		return NULL;
	e = strstr(out, "&password=");
	if (!e)
		return NULL;
	*e = '\0';
	return out + strlen(head);
}

/* Pins the form-urlencoding, byte by byte, as WHATWG's serializer writes it. */
static void test_encoding(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ " ", "+" }, { "+", "%2B" }, { "%", "%25" }, { "/", "%2F" },
		{ "?", "%3F" }, { "&", "%26" }, { "=", "%3D" }, { "~", "%7E" },
		{ "!$'(),;:@", "%21%24%27%28%29%2C%3B%3A%40" },
		{ "a  b", "a++b" }, { "%20", "%2520" }, { "\x80\xff\x7f\x1f", "%80%FF%7F%1F" },
		{ "", "" },
	};
	static const char keep[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789*-._";
	char in[256], want[3 * 256 + 1];
	const char *got;
	size_t w = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = username(cases[i].in, strlen(cases[i].in));
		report(got && !strcmp(got, cases[i].want), "username encoded as '%s' (got '%s')",
		       cases[i].want, got ? got : "(failed)");
	}
	for (int b = 0; b < 256; b++) {
		in[b] = (char)b;
		if (b == ' ')
			want[w++] = '+';
		else if (b && strchr(keep, b))
			want[w++] = (char)b;
		else
			w += (size_t)snprintf(want + w, 4, "%%%02X", b);
	}
	want[w] = '\0';
	got = username(in, sizeof(in));
	report(got && !strcmp(got, want), "bytes 0-255: alphanumerics and *-._ kept, space '+', the rest %%XX (%zu bytes)",
	       w);
}

/*
 * The body of @user fits a buffer of exactly its length + 1 and no smaller
 * one: -ENOSPC for each, and ASan sees no write past the end.
 */
static void test_bounds(const char *user, size_t n)
{
	char full[512];
	size_t len = 0, want;
	long bad = -1;

	if (owa_form_body("", 0, user, n, "", 0, full, sizeof(full), &want)) {
		report(false, "bounds: the body of '%s'", user);
		return;
	}
	for (size_t cap = 0; cap <= want + 1; cap++) {
		char *out = malloc(cap);	/* exactly @cap: ASan sees any overrun */
		int r = owa_form_body("", 0, user, n, "", 0, out, cap, &len);

		if (cap <= want ? r != -ENOSPC : r || len != want || strcmp(out, full))
			bad = (long)cap;
		free(out);
	}
	report(bad < 0, "bounds: '%s' fits %zu + 1 bytes, not one fewer (wrong at: %ld)",
	       full, want, bad);
}

static void test_body(void)
{
	static const char want[] =
		"destination=https%3A%2F%2Fmail.exlb.test%2Fowa%2F&flags=4&forcedownlevel=0"
		"&username=alice&password=alice-pw&passwordText=&isUtf8=1";
	static const char dest[] = "https://mail.exlb.test/owa/";
	char out[512], small[sizeof(want)];
	size_t len = 0;
	int r;

	r = owa_form_body(dest, strlen(dest), "alice", 5, "alice-pw", 8, out, sizeof(out), &len);
	report(!r && len == strlen(want) && !strcmp(out, want), "alice's body: %s", out);
	r = owa_form_body(dest, strlen(dest), "EXLB\\j\xc3\xbcrgen", 12, "a b&c=d+e%f;:/?#\"'<~", 20,
			  out, sizeof(out), &len);
	report(!r && strstr(out, "&username=EXLB%5Cj%C3%BCrgen&") &&
	   strstr(out, "&password=a+b%26c%3Dd%2Be%25f%3B%3A%2F%3F%23%22%27%3C%7E&"),
	   "DOMAIN\\user, UTF-8, space as '+', & = + %% ; : / ? # \" ' < ~ encoded: %s", out);
	r = owa_form_body(dest, strlen(dest), "a*b-c.d_e", 9, "x", 1, out, sizeof(out), &len);
	report(!r && strstr(out, "&username=a*b-c.d_e&"), "*-._ and alphanumerics stay as they are");
	r = owa_form_body(dest, strlen(dest), "al\0ce", 5, "p\r\n", 3, out, sizeof(out), &len);
	report(!r && strstr(out, "&username=al%00ce&password=p%0D%0A&"),
	   "NUL, CR, LF encoded (the caller refuses them before; the body cannot be split)");
	r = owa_form_body(dest, strlen(dest), "alice", 5, "alice-pw", 8, small, sizeof(small), &len);
	report(!r && len == sizeof(small) - 1, "exactly fits (%zu bytes + NUL)", len);
	memset(small, 'Z', sizeof(small));
	len = 77;
	r = owa_form_body(dest, strlen(dest), "alice", 5, "alice-pw", 8, small, sizeof(small) - 1, &len);
	report(r == -ENOSPC && len == 77 && !memchr(small, 'Z', sizeof(small) - 1) &&
	   !memmem(small, sizeof(small) - 1, "alice-pw", 8),
	   "one byte short: -ENOSPC, the buffer wiped (no part of the password left)");
	r = owa_form_body(dest, strlen(dest), "alice", 5, "\xff\xff\xff", 3, out, 90, &len);
	report(r == -ENOSPC, "%%XX expansion counted against the bound: -ENOSPC");
	report(owa_form_body("", 0, "", 0, "", 0, out, 0, &len) == -ENOSPC, "a zero-sized buffer: -ENOSPC");
}

/* ---- Exchange's answers ---- */

/* Parses @raw as a response head into *p (release it after). */
static const struct exlb_http_head *parse(struct exlb_http_parser *p, const char *raw)
{
	size_t used = 0;
	enum exlb_http_event ev;

	exlb_http_parser_init(p, EXLB_HTTP_RESPONSE);
	ev = exlb_http_feed(p, raw, strlen(raw), &used);
	if (ev != EXLB_HTTP_HEAD) {
		printf("# parse: event %d, %s\n", ev, p->error_reason ? p->error_reason : "");
		return NULL;
	}
	return &p->head;
}

/*
 * The fixture's answers to alice:alice-pw and alice:wrong through nginx, as
 * captured by tests/exrs-auth.sh (KEEP=1: logon-ok.txt, logon-refused.txt)
 */
static const char fixture_ok[] =
	"HTTP/1.1 302 Found\r\n"
	"Server: nginx/1.22.1\r\n"
	"Date: Sun, 06 Dec 2026 08:25:34 GMT\r\n"
	"Content-Length: 0\r\n"
	"Connection: keep-alive\r\n"
	"Location: http://mail.exlb.test/owa/\r\n"
	"Cache-Control: no-cache\r\n"
	"X-OWA-Version: 15.2.1118.7\r\n"
	"Set-Cookie: cadata=\"YWxpY2U.1796545534.223b0647ffbbc5e5e1d88f79a6608e428ec36a5ab958da68794e1d046eb19efc\"; HttpOnly; path=/\r\n"
	"Set-Cookie: cadataTTL=\"1796549134\"; HttpOnly; path=/\r\n"
	"Set-Cookie: cadataKey=\"+T0UMhPSZOji0bXUZkUlgCHA5KuBgDP7\"; HttpOnly; path=/\r\n"
	"Set-Cookie: cadataIV=\"H4mOqICeOcLrqT4w47Fd9mrtze2ClDi9\"; HttpOnly; path=/\r\n"
	"Set-Cookie: cadataSig=\"Hk7EpmaW/sygia3e1iWhe5O/yPcAIp4+\"; HttpOnly; path=/\r\n"
	"X-RS: rs1\r\n"
	"X-Backend-Conn: 7\r\n"
	"X-Backend-Requests: 1\r\n"
	"X-Seen-Host: mail.exlb.test\r\n"
	"X-Seen-Client: 127.0.0.1:35082\r\n"
	"X-Backend-Scheme: http\r\n"
	"\r\n";
static const char fixture_bad[] =
	"HTTP/1.1 302 Found\r\n"
	"Server: nginx/1.22.1\r\n"
	"Date: Sun, 06 Dec 2026 08:25:39 GMT\r\n"
	"Content-Length: 0\r\n"
	"Connection: keep-alive\r\n"
	"Location: /owa/auth/logon.aspx?url=http%3A%2F%2Fmail.exlb.test%2Fowa%2F&reason=2\r\n"
	"Cache-Control: no-cache\r\n"
	"X-OWA-Version: 15.2.1118.7\r\n"
	"X-RS: rs1\r\n"
	"X-Backend-Conn: 9\r\n"
	"X-Backend-Requests: 1\r\n"
	"X-Seen-Host: mail.exlb.test\r\n"
	"X-Seen-Client: 127.0.0.1:46958\r\n"
	"X-Backend-Scheme: http\r\n"
	"\r\n";
/*
 * Shapes Exchange itself uses (written here, not captured: no Exchange on
 * this machine): absolute Location, mixed-case path, reason not first,
 * PBack, unquoted values.
 */
static const char exchange_bad[] =
	"HTTP/1.1 302 Found\r\n"
	"Cache-Control: no-cache, no-store\r\n"
	"Location: https://mail.contoso.com/OWA/auth/Logon.aspx?replaceCurrent=1&reason=2&url=https%3a%2f%2fmail.contoso.com%2fowa%2f\r\n"
	"Set-Cookie: PBack=0; path=/\r\n"
	"Content-Length: 0\r\n"
	"\r\n";
static const char exchange_ok[] =
	"HTTP/1.1 302 Found\r\n"
	"Location: https://mail.contoso.com/owa/\r\n"
	"Set-Cookie: PBack=0; path=/\r\n"
	"set-cookie: cadata=2AqVW4UvHLTLvZ9SrlT2U2FnD+W6qrkE; HttpOnly; secure; path=/\r\n"
	"Set-Cookie: cadataTTL=NfRM0RZfVkSQkeE3C3F1kA==; HttpOnly; secure; path=/\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

static void verdict(const char *raw, enum owa_form_verdict want, int want_reason,
		    const char *what)
{
	struct exlb_http_parser p;
	const struct exlb_http_head *h = parse(&p, raw);
	int reason = 99;
	enum owa_form_verdict v = h ? owa_form_verdict(h, &reason) : (enum owa_form_verdict)-1;

	report(v == want && reason == want_reason, "%s: verdict %d (want %d), reason %d (want %d)",
	   what, v, want, reason, want_reason);
	exlb_http_parser_release(&p);
}

static void test_verdict(void)
{
	verdict(fixture_ok, OWA_FORM_OK, -1, "the fixture's 302 with cadata");
	verdict(fixture_bad, OWA_FORM_REFUSED, 2, "the fixture's 302 to logon.aspx?reason=2");
	verdict(exchange_bad, OWA_FORM_REFUSED, 2,
		"absolute Location, /OWA/auth/Logon.aspx, reason= not first, a PBack cookie");
	verdict(exchange_ok, OWA_FORM_OK, -1, "unquoted cadata, lower-case set-cookie");
	verdict("HTTP/1.1 302 Found\r\nLocation: /owa/auth/logon.aspx?url=x\r\n"
		"Set-Cookie: cadata=abc; path=/\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_REFUSED, -1, "back to logon.aspx without a reason, even with cadata: refused");
	verdict("HTTP/1.1 302 Found\r\nLocation: /owa/auth/logon.aspx?reason=x2\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_REFUSED, -1, "reason not a number: refused, reason -1");
	verdict("HTTP/1.1 302 Found\r\nLocation: /owa/auth/logon.aspx?reason=&url=x\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_REFUSED, -1, "reason empty: refused, reason -1");
	verdict("HTTP/1.1 302 Found\r\nLocation: /owa/auth/logon.aspxy?reason=2\r\n"
		"Set-Cookie: cadata=abc\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_OK, -1, "logon.aspxy is not logon.aspx");
	verdict("HTTP/1.1 302 Found\r\nLocation: /owa/\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_UNEXPECTED, -1, "302 without any cookie");
	verdict("HTTP/1.1 302 Found\r\nLocation: /owa/\r\nSet-Cookie: cadataTTL=1\r\n"
		"Set-Cookie: xcadata=1\r\nSet-Cookie: CADATA=1\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_UNEXPECTED, -1, "cadataTTL, xcadata, CADATA but no cadata");
	verdict("HTTP/1.1 302 Found\r\nLocation: /owa/\r\nSet-Cookie: cadata=; expires=Thu, 01-Jan-1970 00:00:00 GMT\r\n"
		"Set-Cookie: cadata=\"\"\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_UNEXPECTED, -1, "cadata emptied (a logoff's answer)");
	verdict("HTTP/1.1 302 Found\r\nSet-Cookie: cadata=abc\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_UNEXPECTED, -1, "cadata without a Location");
	verdict("HTTP/1.1 200 OK\r\nSet-Cookie: cadata=abc\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_UNEXPECTED, -1, "200 (the logon page again) even with cadata");
	verdict("HTTP/1.1 301 Moved Permanently\r\nLocation: /owa/\r\nSet-Cookie: cadata=abc\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_UNEXPECTED, -1, "301, not Exchange's 302");
	verdict("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_UNEXPECTED, -1, "401 (the vdir has no forms authentication)");
	verdict("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
		OWA_FORM_UNEXPECTED, -1, "500");
}

static void test_cookies(void)
{
	struct exlb_http_parser p;
	const struct exlb_http_head *h = parse(&p, fixture_ok);
	const struct exlb_http_header *c[8];
	size_t n = h ? owa_form_cookies(h, c, 8) : 0;

	report(n == 5 && !strncmp(c[0]->value, "cadata=\"YWxpY2U.", 16) &&
	   !strncmp(c[1]->value, "cadataTTL=", 10) && !strncmp(c[4]->value, "cadataSig=", 10),
	   "the fixture's 5 Set-Cookie values, in order (%zu)", n);
	report(h && owa_form_cookies(h, c, 2) == 5 && c[1]->value[6] == 'T',
	   "an array of 2: the count is still 5 (the caller can tell), 2 filled");
	exlb_http_parser_release(&p);
	h = parse(&p, fixture_bad);
	report(h && owa_form_cookies(h, c, 8) == 0, "a refused logon: no cookies");
	exlb_http_parser_release(&p);
	h = parse(&p, exchange_ok);
	report(h && owa_form_cookies(h, c, 8) == 3 && !strncmp(c[0]->value, "PBack=0", 7),
	   "Exchange's 3 (PBack, cadata, cadataTTL), any case of the name");
	exlb_http_parser_release(&p);
}

int main(void)
{
	test_body();
	test_encoding();
	test_bounds("a b\xc3\xbc+%", 7);
	test_verdict();
	test_cookies();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
