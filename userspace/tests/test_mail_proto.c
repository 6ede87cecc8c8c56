// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the mail protocol half of the STARTTLS proxy
 * (exlbd/l7/mail_proto.c): command recognition, our own answers, the
 * lockstep, capability rewriting, injection and "always" refusals.
 * TAP output; built with ASan/UBSan by "make test".
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l7/mail_proto.h"

static int nr_test, nr_failed;

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	nr_test++;
	printf("%sok %d - ", cond ? "" : "not ", nr_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		nr_failed++;
}

static char out[MAIL_OUT_MAX + 1];
static char rep[MAIL_LINE_MAX + 129];

/* Feeds the server lines of @text; returns the client-bound output. */
static const char *srv(struct mail_session *s, const char *text)
{
	static char all[4 * MAIL_OUT_MAX];
	size_t n = 0;
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p), olen = 0;

		if (mail_server_line(s, p, len, out, &olen))
			return NULL;
		memcpy(all + n, out, olen);
		n += olen;
		p += len;
	}
	all[n] = '\0';
	return all;
}

static enum mail_action cli(struct mail_session *s, const char *line)
{
	size_t rlen = 0;
	enum mail_action a = mail_client_line(s, line, strlen(line), rep, &rlen);

	rep[rlen] = '\0';
	return a;
}

static void test_modes(void)
{
	ok(mail_proto_of(1) == MAIL_SMTP && mail_proto_of(2) == MAIL_SMTP &&
	   mail_proto_of(4) == MAIL_IMAP && mail_proto_of(6) == MAIL_POP3 &&
	   mail_proto_of(3) == MAIL_NONE && mail_proto_of(0) == MAIL_NONE,
	   "StartTLSMode codes: 1/2 SMTP, 4 IMAP, 6 POP3, 3 (FTP) and 0 none");
	ok(!mail_mode_always(1) && mail_mode_always(2) && mail_mode_always(4) &&
	   mail_mode_always(6), "always: 2, 4, 6; not 1");
}

static void test_smtp(void)
{
	struct mail_session s;
	const char *o;

	mail_session_init(&s, MAIL_SMTP, false, true);
	ok(s.awaiting, "SMTP: the greeting is awaited before any command");
	o = srv(&s, "220-mail1 ESMTP\r\n220 more\r\n");
	ok(o && !strcmp(o, "220-mail1 ESMTP\r\n220 more\r\n") && !s.awaiting,
	   "SMTP: a multi-line greeting is relayed as is");
	ok(cli(&s, "EHLO client\r\n") == MAIL_FORWARD && s.awaiting &&
	   s.expect == MAIL_EXP_CAPA, "SMTP: EHLO is forwarded, its answer awaited");
	o = srv(&s, "250-mail1\r\n250-PIPELINING\r\n");
	ok(o && !*o && s.awaiting, "SMTP: EHLO answer collected until its last line");
	o = srv(&s, "250 8BITMIME\r\n");
	ok(o && !strcmp(o, "250-mail1\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n") &&
	   !s.awaiting, "SMTP: STARTTLS added as the last line before TLS");
	ok(cli(&s, "STARTTLS\r\n") == MAIL_STARTTLS &&
	   !strcmp(rep, "220 2.0.0 Ready to start TLS\r\n"),
	   "SMTP: STARTTLS answered by us (220 2.0.0)");
	mail_session_tls_up(&s);
	ok(cli(&s, "STARTTLS\r\n") == MAIL_REPLY && !strncmp(rep, "503", 3),
	   "SMTP: a second STARTTLS inside TLS: 503, not forwarded");
	ok(cli(&s, "ehlo client\r\n") == MAIL_FORWARD, "SMTP: EHLO again after TLS");
	o = srv(&s, "250-mail1\r\n250-STARTTLS\r\n250 SIZE 10240000\r\n");
	ok(o && !strcmp(o, "250-mail1\r\n250 SIZE 10240000\r\n"),
	   "SMTP: STARTTLS removed from the EHLO answer after TLS");
	o = srv(&s, "");
	ok(cli(&s, "MAIL FROM:<a@b>\r\n") == MAIL_FORWARD && s.relay,
	   "SMTP: MAIL FROM starts the relay (DATA can hold anything)");
	mail_session_release(&s);

	/* single-line EHLO answer: the domain line stays first */
	ok(mail_smtp_ehlo_rewrite("250 mail1\r\n", 11, false, out, sizeof(out)) ==
	   strlen("250-mail1\r\n250 STARTTLS\r\n") &&
	   !strncmp(out, "250-mail1\r\n250 STARTTLS\r\n", 25),
	   "SMTP: a one-line EHLO answer gets STARTTLS as a second line");
	ok(mail_smtp_ehlo_rewrite("250-mail1\r\n250 STARTTLS\r\n", 26, true, out,
				  sizeof(out)) == 11 && !strncmp(out, "250 mail1\r\n", 11),
	   "SMTP: removing the last line makes the one before it last");
	ok(mail_smtp_ehlo_rewrite("250-mail1\r\n250 starttls\r\n", 26, false, out,
				  sizeof(out)) == 25, "SMTP: offered already: not added twice");
}

/*
 * ESP's SMTPAllowedDomains (docs/esp.md): each RCPT TO checked, plain and
 * after STARTTLS; the session never becomes a byte relay, so a second
 * transaction after the message is checked too; CHUNKING not offered.
 */
static void test_smtp_esp(void)
{
	struct mail_session s;
	const char *o;

	mail_session_init(&s, MAIL_SMTP, false, true);
	s.rcpt_allowed = "Example.com *.example.org";
	srv(&s, "220 mail1 ESMTP\r\n");
	cli(&s, "EHLO c\r\n");
	o = srv(&s, "250-mail1\r\n250-CHUNKING\r\n250-PIPELINING\r\n250 BINARYMIME\r\n");
	ok(o && !strcmp(o, "250-mail1\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
	   "ESP SMTP: CHUNKING and BINARYMIME not offered (every message is DATA)");
	ok(cli(&s, "MAIL FROM:<x@y.net>\r\n") == MAIL_FORWARD && !s.relay && s.awaiting,
	   "ESP SMTP: MAIL FROM is forwarded and the session stays in lockstep");
	srv(&s, "250 2.1.0 Sender OK\r\n");
	ok(cli(&s, "RCPT TO:<a@example.com>\r\n") == MAIL_FORWARD && s.awaiting,
	   "ESP SMTP: RCPT TO an allowed domain is forwarded");
	srv(&s, "250 2.1.5 Recipient OK\r\n");
	ok(cli(&s, "RCPT TO:<b@EXAMPLE.COM>\r\n") == MAIL_FORWARD,
	   "ESP SMTP: the domain compares case-insensitively");
	srv(&s, "250 2.1.5 Recipient OK\r\n");
	ok(cli(&s, "RCPT TO:<v@evil.net>\r\n") == MAIL_REPLY &&
	   !strcmp(rep, "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain\r\n") &&
	   !s.awaiting && s.rcpt_why && !strcmp(s.rcpt_domain, "evil.net"),
	   "ESP SMTP: RCPT TO another domain: 550 5.7.54 by us, not forwarded");
	s.rcpt_why = NULL;
	ok(cli(&s, "RCPT TO:<v@sub.example.com>\r\n") == MAIL_REPLY && !strncmp(rep, "550", 3),
	   "ESP SMTP: a subdomain is not the domain");
	ok(cli(&s, "RCPT TO:<v@a.example.org>\r\n") == MAIL_FORWARD,
	   "ESP SMTP: *.example.org allows its subdomains");
	srv(&s, "250 2.1.5 Recipient OK\r\n");
	ok(cli(&s, "RCPT TO:<v@evil.net@example.com>\r\n") == MAIL_REPLY && !strncmp(rep, "501", 3) &&
	   cli(&s, "RCPT TO:<@evil.net:v@example.com>\r\n") == MAIL_REPLY &&
	   cli(&s, "RCPT TO:<\"v@evil.net\"@example.com>\r\n") == MAIL_REPLY &&
	   cli(&s, "RCPT TO:<postmaster>\r\n") == MAIL_REPLY,
	   "ESP SMTP: '@' twice, a source route, a quoted local part, no domain: 501 by us");
	ok(cli(&s, "BDAT 10 LAST\r\n") == MAIL_REPLY && !strncmp(rep, "502", 3),
	   "ESP SMTP: BDAT refused");
	ok(cli(&s, "DATA\r\n") == MAIL_FORWARD && s.awaiting && s.expect == MAIL_EXP_DATA,
	   "ESP SMTP: DATA forwarded");
	srv(&s, "354 Start mail input\r\n");
	ok(s.data && !s.awaiting, "ESP SMTP: 354 starts the message");
	ok(cli(&s, "RCPT TO:<v@evil.net>\r\n") == MAIL_FORWARD && !s.awaiting &&
	   cli(&s, "..\r\n") == MAIL_FORWARD && s.data,
	   "ESP SMTP: message lines are forwarded unexamined, a dot-stuffed line too");
	ok(cli(&s, ".\r\n") == MAIL_FORWARD && !s.data && s.awaiting,
	   "ESP SMTP: the '.' line ends the message; its answer awaited");
	srv(&s, "250 2.6.0 Queued\r\n");
	ok(cli(&s, "MAIL FROM:<x@y.net>\r\n") == MAIL_FORWARD && !s.relay,
	   "ESP SMTP: a second transaction is examined too");
	srv(&s, "250 2.1.0 Sender OK\r\n");
	ok(cli(&s, "RCPT TO:<v@evil.net>\r\n") == MAIL_REPLY && !strncmp(rep, "550", 3),
	   "ESP SMTP: ... and its RCPT TO another domain refused");
	ok(cli(&s, "DATA\r\n") == MAIL_FORWARD, "ESP SMTP: DATA again");
	srv(&s, "554 5.5.1 No valid recipients\r\n");
	ok(!s.data && !s.awaiting, "ESP SMTP: DATA refused by the server: commands again");
	ok(cli(&s, "STARTTLS\r\n") == MAIL_STARTTLS, "ESP SMTP: STARTTLS");
	mail_session_tls_up(&s);
	ok(s.rcpt_allowed && !s.data, "ESP SMTP: the check survives STARTTLS");
	cli(&s, "EHLO c\r\n");
	srv(&s, "250-mail1\r\n250 CHUNKING\r\n");
	ok(cli(&s, "MAIL FROM:<x@y.net>\r\n") == MAIL_FORWARD && !s.relay,
	   "ESP SMTP after STARTTLS: MAIL FROM, still lockstep");
	srv(&s, "250 2.1.0 Sender OK\r\n");
	ok(cli(&s, "RCPT TO:<v@evil.net>\r\n") == MAIL_REPLY && !strncmp(rep, "550", 3) &&
	   cli(&s, "RCPT TO:<a@example.com>\r\n") == MAIL_FORWARD,
	   "ESP SMTP after STARTTLS: another domain 550, the allowed one forwarded");
	mail_session_release(&s);

	mail_session_init(&s, MAIL_SMTP, false, true);
	s.rcpt_allowed = "";
	srv(&s, "220 mail1 ESMTP\r\n");
	ok(cli(&s, "RCPT TO:<a@example.com>\r\n") == MAIL_REPLY && !strncmp(rep, "550", 3),
	   "ESP SMTP: an empty SMTPAllowedDomains allows no recipient");
	mail_session_release(&s);
}

static void test_smtp_always(void)
{
	struct mail_session s;
	const char *cmds[] = { "MAIL FROM:<a@b>\r\n", "RCPT TO:<c@d>\r\n", "DATA\r\n",
			       "BDAT 10 LAST\r\n", "AUTH PLAIN AGEAYg==\r\n" };

	mail_session_init(&s, MAIL_SMTP, true, true);
	srv(&s, "220 mail1\r\n");
	for (size_t i = 0; i < 5; i++)
		ok(cli(&s, cmds[i]) == MAIL_REPLY &&
		   !strcmp(rep, "530 5.7.0 Must issue a STARTTLS command first\r\n") &&
		   !s.awaiting, "SMTP always: %.4s before STARTTLS refused (530), not forwarded",
		   cmds[i]);
	ok(s.refused == 5, "SMTP always: 5 refusals counted");
	ok(cli(&s, "NOOP\r\n") == MAIL_FORWARD, "SMTP always: NOOP still forwarded");
	srv(&s, "250 2.0.0 Ok\r\n");
	ok(cli(&s, "STARTTLS now\r\n") == MAIL_REPLY && !strncmp(rep, "501", 3),
	   "SMTP: STARTTLS with a parameter: 501, no TLS");
	mail_session_tls_up(&s);
	ok(cli(&s, "MAIL FROM:<a@b>\r\n") == MAIL_FORWARD && s.relay,
	   "SMTP always: MAIL FROM after TLS forwarded");
	mail_session_release(&s);

	mail_session_init(&s, MAIL_SMTP, false, false);
	srv(&s, "220 mail1\r\n");
	cli(&s, "EHLO x\r\n");
	ok(!strcmp(srv(&s, "250-mail1\r\n250-STARTTLS\r\n250 SIZE 1\r\n"),
		   "250-mail1\r\n250 SIZE 1\r\n"),
	   "SMTP without a certificate: the server's STARTTLS is not offered either");
	ok(cli(&s, "STARTTLS\r\n") == MAIL_REPLY && !strncmp(rep, "454 4.7.0", 9),
	   "SMTP without a certificate: STARTTLS refused with 454");
	mail_session_release(&s);
}

static void test_smtp_auth(void)
{
	struct mail_session s;

	mail_session_init(&s, MAIL_SMTP, false, true);
	srv(&s, "220 mail1\r\n");
	mail_session_tls_up(&s);
	ok(cli(&s, "AUTH LOGIN\r\n") == MAIL_FORWARD, "SMTP: AUTH after TLS forwarded");
	srv(&s, "334 VXNlcm5hbWU6\r\n");
	ok(!s.awaiting && s.c_cont, "SMTP: 334 asks for a SASL line");
	ok(cli(&s, "STARTTLS\r\n") == MAIL_FORWARD,
	   "SMTP: a SASL line is data, never a command (even 'STARTTLS')");
	mail_session_release(&s);
}

static void test_imap(void)
{
	struct mail_session s;
	const char *o;

	mail_session_init(&s, MAIL_IMAP, true, true);
	o = srv(&s, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] Dovecot ready.\r\n");
	ok(o && !strcmp(o, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN STARTTLS LOGINDISABLED] Dovecot ready.\r\n") &&
	   !s.awaiting, "IMAP: greeting's [CAPABILITY] gets STARTTLS and LOGINDISABLED");
	ok(cli(&s, "a1 CAPABILITY\r\n") == MAIL_FORWARD && s.awaiting,
	   "IMAP: CAPABILITY forwarded");
	o = srv(&s, "* CAPABILITY IMAP4rev1 STARTTLS\r\n");
	ok(o && !strcmp(o, "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n") && s.awaiting,
	   "IMAP: untagged CAPABILITY rewritten; the tagged answer still awaited");
	o = srv(&s, "a1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n");
	ok(o && !s.awaiting, "IMAP: the tagged answer ends the wait");
	ok(cli(&s, "a2 LOGIN alice secret\r\n") == MAIL_REPLY &&
	   !strcmp(rep, "a2 NO [PRIVACYREQUIRED] Issue STARTTLS first\r\n"),
	   "IMAP always: LOGIN before TLS refused (NO [PRIVACYREQUIRED])");
	ok(cli(&s, "a3 authenticate PLAIN\r\n") == MAIL_REPLY && !strncmp(rep, "a3 NO", 5),
	   "IMAP always: AUTHENTICATE before TLS refused");
	ok(cli(&s, "a4 LOGIN {5+}\r\n") == MAIL_REPLY_CLOSE,
	   "IMAP always: LOGIN with a non-synchronising literal: refused and closed");
	ok(cli(&s, "* LOGIN a b\r\n") == MAIL_REPLY && !strncmp(rep, "* BAD", 5),
	   "IMAP: an invalid tag answered '* BAD', not forwarded");
	ok(cli(&s, "\x01\xff garbage\r\n") == MAIL_REPLY && !strncmp(rep, "* BAD", 5),
	   "IMAP: binary garbage answered '* BAD'");
	ok(cli(&s, "a5 STARTTLS\r\n") == MAIL_STARTTLS &&
	   !strcmp(rep, "a5 OK Begin TLS negotiation now\r\n"), "IMAP: STARTTLS answered by us");
	mail_session_tls_up(&s);
	ok(cli(&s, "b1 CAPABILITY\r\n") == MAIL_FORWARD, "IMAP: CAPABILITY after TLS");
	o = srv(&s, "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN\r\n");
	ok(o && !strcmp(o, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"),
	   "IMAP: after TLS STARTTLS and LOGINDISABLED removed");
	srv(&s, "b1 OK done\r\n");
	ok(cli(&s, "b2 LOGIN {5}\r\n") == MAIL_FORWARD && s.awaiting && s.c_literal == 5,
	   "IMAP: LOGIN with a synchronising literal waits for '+'");
	srv(&s, "+ OK\r\n");
	ok(!s.awaiting && s.c_cont, "IMAP: '+' lets the literal through");
	s.c_literal = 0;	/* mail_conn.c passes the 5 bytes */
	ok(cli(&s, " secret\r\n") == MAIL_FORWARD && s.awaiting && !s.c_cont,
	   "IMAP: the rest of the command after the literal is not a command");
	o = srv(&s, "b2 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
	ok(o && s.relay && !strcmp(o, "b2 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"),
	   "IMAP: tagged OK to LOGIN starts the relay");
	mail_session_release(&s);

	mail_session_init(&s, MAIL_IMAP, true, true);
	srv(&s, "* OK ready\r\n");
	mail_session_tls_up(&s);
	cli(&s, "c1 LOGIN alice wrong\r\n");
	srv(&s, "c1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	ok(!s.relay && !s.awaiting, "IMAP: a failed LOGIN keeps the line phase");
	mail_session_release(&s);

	mail_session_init(&s, MAIL_IMAP, true, true);
	srv(&s, "* PREAUTH ready\r\n");
	ok(s.relay, "IMAP: PREAUTH greeting: relay at once");
	mail_session_release(&s);
}

static void test_imap_literal(void)
{
	bool sync;

	ok(mail_imap_literal("a LOGIN {12}\r\n", 14, &sync) == 12 && sync,
	   "IMAP literal {12}: 12 bytes, synchronising");
	ok(mail_imap_literal("a LOGIN {7+}\r\n", 14, &sync) == 7 && !sync,
	   "IMAP literal {7+}: non-synchronising");
	ok(mail_imap_literal("a LOGIN x}\r\n", 12, &sync) == 0 &&
	   mail_imap_literal("}\r\n", 3, &sync) == 0 &&
	   mail_imap_literal("{}\r\n", 4, &sync) == 0 &&
	   mail_imap_literal("a {99999999999999999999}\r\n", 26, &sync) == 0,
	   "IMAP literal: malformed or absurd ones are none");
}

static void test_pop3(void)
{
	struct mail_session s;
	const char *o;

	mail_session_init(&s, MAIL_POP3, true, true);
	o = srv(&s, "+OK Dovecot ready.\r\n");
	ok(o && !s.awaiting, "POP3: greeting relayed");
	ok(cli(&s, "CAPA\r\n") == MAIL_FORWARD && s.expect == MAIL_EXP_CAPA, "POP3: CAPA forwarded");
	o = srv(&s, "+OK\r\nCAPA\r\nUSER\r\n.\r\n");
	ok(o && !strcmp(o, "+OK\r\nCAPA\r\nUSER\r\nSTLS\r\n.\r\n") && !s.awaiting,
	   "POP3: STLS added to CAPA before TLS");
	ok(cli(&s, "USER alice\r\n") == MAIL_REPLY && !strncmp(rep, "-ERR", 4),
	   "POP3 always: USER before STLS refused");
	ok(cli(&s, "PASS x\r\n") == MAIL_REPLY && cli(&s, "APOP a b\r\n") == MAIL_REPLY &&
	   cli(&s, "AUTH PLAIN\r\n") == MAIL_REPLY, "POP3 always: PASS, APOP, AUTH refused");
	ok(cli(&s, "STLS\r\n") == MAIL_STARTTLS && !strcmp(rep, "+OK Begin TLS negotiation\r\n"),
	   "POP3: STLS answered by us");
	mail_session_tls_up(&s);
	cli(&s, "CAPA\r\n");
	o = srv(&s, "+OK\r\nSTLS\r\nUSER\r\n.\r\n");
	ok(o && !strcmp(o, "+OK\r\nUSER\r\n.\r\n"), "POP3: STLS removed after TLS");
	ok(cli(&s, "USER alice\r\n") == MAIL_FORWARD, "POP3: USER after TLS forwarded");
	srv(&s, "+OK\r\n");
	ok(!s.relay, "POP3: +OK to USER is not authentication");
	cli(&s, "PASS secret\r\n");
	srv(&s, "+OK Logged in.\r\n");
	ok(s.relay, "POP3: +OK to PASS starts the relay");
	mail_session_release(&s);

	mail_session_init(&s, MAIL_POP3, true, true);
	srv(&s, "+OK ready\r\n");
	mail_session_tls_up(&s);
	cli(&s, "AUTH PLAIN\r\n");
	srv(&s, "+ \r\n");
	ok(s.c_cont && !s.awaiting, "POP3: AUTH continuation");
	ok(cli(&s, "STLS\r\n") == MAIL_FORWARD, "POP3: the SASL line is data");
	srv(&s, "+OK Logged in.\r\n");
	ok(s.relay, "POP3: AUTH success starts the relay");
	mail_session_release(&s);

	mail_session_init(&s, MAIL_POP3, true, true);
	srv(&s, "+OK ready\r\n");
	cli(&s, "CAPA\r\n");
	ok(srv(&s, "-ERR no\r\n") && !s.awaiting, "POP3: -ERR to CAPA is one line");
	mail_session_release(&s);
}

static void test_notices(void)
{
	char b[160];

	mail_notice(MAIL_SMTP, MAIL_NOTICE_UNAVAILABLE, b, sizeof(b));
	ok(!strncmp(b, "421 4.4.2 ", 10), "SMTP unavailable: 421 4.4.2");
	mail_notice(MAIL_IMAP, MAIL_NOTICE_UNAVAILABLE, b, sizeof(b));
	ok(!strncmp(b, "* BYE ", 6), "IMAP unavailable: * BYE");
	mail_notice(MAIL_POP3, MAIL_NOTICE_UNAVAILABLE, b, sizeof(b));
	ok(!strncmp(b, "-ERR ", 5), "POP3 unavailable: -ERR");
	mail_notice(MAIL_SMTP, MAIL_NOTICE_LINE_TOO_LONG, b, sizeof(b));
	ok(!strncmp(b, "500 5.5.2", 9), "SMTP line too long: 500 5.5.2");
}

static void test_limits(void)
{
	struct mail_session s;
	char line[600];
	int r = 0;

	mail_session_init(&s, MAIL_SMTP, false, true);
	srv(&s, "220 x\r\n");
	cli(&s, "EHLO x\r\n");
	memset(line, 'A', sizeof(line));
	memcpy(line, "250-", 4);
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	for (int i = 0; i < 40 && !r; i++) {
		size_t olen;

		r = mail_server_line(&s, line, sizeof(line), out, &olen);
	}
	ok(r == -1, "SMTP: an EHLO answer over %d bytes is a server error", MAIL_ACC_MAX);
	mail_session_release(&s);
}

int main(void)
{
	printf("TAP version 13\n");
	test_modes();
	test_smtp();
	test_smtp_always();
	test_smtp_esp();
	test_smtp_auth();
	test_imap();
	test_imap_literal();
	test_pop3();
	test_notices();
	test_limits();
	printf("1..%d\n", nr_test);
	return nr_failed ? 1 : 0;
}
