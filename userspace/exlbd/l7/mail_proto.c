// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * SMTP, IMAP and POP3 as far as a STARTTLS proxy must understand them:
 * command recognition, the answers the proxy gives itself, the rewriting
 * of capability lists, and when the session stops being examined. Pure
 * functions over lines; mail_proto.h says how a session runs.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "esp/path.h"
#include "mail_proto.h"

enum mail_proto mail_proto_of(unsigned int starttls_mode)
{
	switch (starttls_mode) {
	case 1:
	case 2:
		return MAIL_SMTP;
	case 4:
		return MAIL_IMAP;
	case 6:
		return MAIL_POP3;
	default:
		return MAIL_NONE;
	}
}

bool mail_mode_always(unsigned int starttls_mode)
{
	return starttls_mode == 2 || starttls_mode == 4 || starttls_mode == 6;
}

const char *mail_proto_name(enum mail_proto p)
{
	switch (p) {
	case MAIL_SMTP:
		return "SMTP";
	case MAIL_IMAP:
		return "IMAP";
	case MAIL_POP3:
		return "POP3";
	default:
		return "-";
	}
}

void mail_session_init(struct mail_session *s, enum mail_proto proto,
		       bool always, bool tls_ok)
{
	memset(s, 0, sizeof(*s));
	s->proto = proto;
	s->always = always;
	s->tls_ok = tls_ok;
	/* the server speaks first */
	s->awaiting = true;
	s->expect = MAIL_EXP_GREETING;
}

void mail_session_release(struct mail_session *s)
{
	free(s->acc);
	s->acc = NULL;
	s->acc_len = 0;
}

void mail_session_tls_up(struct mail_session *s)
{
	s->tls = true;
	s->awaiting = false;
	s->data = false;
	s->in_multi = false;
	s->c_cont = false;
	s->c_literal = s->s_literal = 0;
	mail_session_release(s);
}

/* ---- small helpers ---- */

/* The line without its CR/LF. */
static size_t trimmed(const char *line, size_t len)
{
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	return len;
}

static bool word_eq(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && !strncasecmp(p, w, n);
}

/* Splits "VERB args": *vlen = verb length, *args = rest after the blanks. */
static void split_word(const char *line, size_t n, size_t *vlen,
		       const char **args, size_t *alen)
{
	size_t i = 0;

	while (i < n && line[i] != ' ' && line[i] != '\t')
		i++;
	*vlen = i;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	*args = line + i;
	*alen = n - i;
	while (*alen && ((*args)[*alen - 1] == ' ' || (*args)[*alen - 1] == '\t'))
		(*alen)--;
}

static size_t put(char *out, size_t cap, size_t off, const char *s, size_t n)
{
	if (off >= cap)
		return off;
	if (n > cap - off)
		n = cap - off;
	memcpy(out + off, s, n);
	return off + n;
}

static size_t puts_(char *out, size_t cap, size_t off, const char *s)
{
	return put(out, cap, off, s, strlen(s));
}

static size_t reply(char *buf, const char *tag, const char *text)
{
	size_t n = 0;

	if (tag) {
		n = put(buf, MAIL_LINE_MAX + 128, n, tag, strlen(tag));
		n = put(buf, MAIL_LINE_MAX + 128, n, " ", 1);
	}
	n = puts_(buf, MAIL_LINE_MAX + 128, n, text);
	return puts_(buf, MAIL_LINE_MAX + 128, n, "\r\n");
}

/* ---- client commands ---- */

/* What each protocol answers to STARTTLS / STLS, by case. */
struct starttls_replies {
	const char *active, *unavailable, *syntax, *go;
};

/* The STARTTLS command itself: refused, or answered here (never forwarded). */
static enum mail_action starttls_answer(const struct mail_session *s,
					const struct starttls_replies *r,
					const char *tag, size_t alen,
					char *rep, size_t *rlen)
{
	const char *text = s->tls ? r->active : !s->tls_ok ? r->unavailable :
			   alen ? r->syntax : r->go;

	*rlen = reply(rep, tag, text);
	return text == r->go ? MAIL_STARTTLS : MAIL_REPLY;
}

static enum mail_action forward(struct mail_session *s, enum mail_expect e)
{
	s->awaiting = true;
	s->expect = e;
	return MAIL_FORWARD;
}

/*
 * ESP's SMTPAllowedDomains: the session stays in lockstep for good (no
 * relay): each RCPT TO is checked, DATA's message is passed line by line
 * up to its "." line, and BDAT (CHUNKING is not offered) is refused.
 */
static enum mail_action smtp_esp_cmd(struct mail_session *s, const char *l,
				     size_t vlen, const char *args, size_t alen,
				     char *rep, size_t *rlen)
{
	char domain[256];
	const char *why;

	if (word_eq(l, vlen, "RCPT")) {
		why = esp_rcpt_domain(args, alen, domain, sizeof(domain));
		s->rcpt_why = NULL;
		if (why) {
			s->refused++;
			s->rcpt_why = why;
			snprintf(s->rcpt_domain, sizeof(s->rcpt_domain), "-");
			*rlen = reply(rep, NULL, "501 5.1.3 Invalid address");
			return MAIL_REPLY;
		}
		if (!esp_list_match(s->rcpt_allowed, domain, true)) {
			s->refused++;
			s->rcpt_why = "recipient domain not in SMTPAllowedDomains";
			snprintf(s->rcpt_domain, sizeof(s->rcpt_domain), "%s", domain);
			*rlen = reply(rep, NULL, "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain");
			return MAIL_REPLY;
		}
		return forward(s, MAIL_EXP_PLAIN);
	}
	if (word_eq(l, vlen, "DATA"))
		return forward(s, MAIL_EXP_DATA);
	if (word_eq(l, vlen, "BDAT")) {
		s->refused++;
		*rlen = reply(rep, NULL, "502 5.5.1 BDAT not available: use DATA");
		return MAIL_REPLY;
	}
	return forward(s, MAIL_EXP_PLAIN);	/* MAIL, AUTH */
}

static enum mail_action smtp_cmd(struct mail_session *s, const char *l,
				 size_t n, char *rep, size_t *rlen)
{
	const char *args;
	size_t vlen, alen;

	if (s->data) {		/* ESP: the message, up to its "." line */
		if (n == 1 && l[0] == '.') {
			s->data = false;
			return forward(s, MAIL_EXP_PLAIN);
		}
		return MAIL_FORWARD;
	}
	if (s->c_cont) {	/* an AUTH exchange: a SASL response */
		s->c_cont = false;
		return forward(s, MAIL_EXP_PLAIN);
	}
	split_word(l, n, &vlen, &args, &alen);
	if (word_eq(l, vlen, "STARTTLS")) {
		static const struct starttls_replies r = {
			"503 5.5.1 TLS already active",
			"454 4.7.0 TLS not available due to local problem",
			"501 5.5.4 Syntax: STARTTLS",
			"220 2.0.0 Ready to start TLS",
		};

		return starttls_answer(s, &r, NULL, alen, rep, rlen);
	}
	if (word_eq(l, vlen, "EHLO"))
		return forward(s, MAIL_EXP_CAPA);
	if (word_eq(l, vlen, "MAIL") || word_eq(l, vlen, "RCPT") ||
	    word_eq(l, vlen, "DATA") || word_eq(l, vlen, "BDAT") ||
	    word_eq(l, vlen, "AUTH")) {
		if (s->always && !s->tls) {
			s->refused++;
			*rlen = reply(rep, NULL, "530 5.7.0 Must issue a STARTTLS command first");
			return MAIL_REPLY;
		}
		if (s->rcpt_allowed)
			return smtp_esp_cmd(s, l, vlen, args, alen, rep, rlen);
		if (!word_eq(l, vlen, "AUTH")) {
			/* a mail transaction: its data can hold anything */
			s->relay = true;
			return MAIL_FORWARD;
		}
	}
	return forward(s, MAIL_EXP_PLAIN);
}

static bool imap_tag_char(char c)
{
	/* ASTRING-CHAR minus '+' (RFC 3501 tag) */
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' &&
	       c != '%' && c != '*' && c != '"' && c != '\\' && c != '+';
}

uint64_t mail_imap_literal(const char *line, size_t len, bool *sync)
{
	size_t n = trimmed(line, len), i;
	uint64_t v = 0, mul = 1;

	*sync = true;
	if (n < 3 || line[n - 1] != '}')
		return 0;
	i = n - 1;
	if (line[i - 1] == '+') {
		*sync = false;
		i--;
	}
	if (i == 0)
		return 0;
	i--;	/* last digit */
	if (!isdigit((unsigned char)line[i]))
		return 0;
	while (i > 0 && isdigit((unsigned char)line[i])) {
		if (mul > 1000000000000ull)
			return 0;
		v += (uint64_t)(line[i] - '0') * mul;
		mul *= 10;
		i--;
	}
	if (line[i] != '{')
		return 0;
	return v;
}

static enum mail_action imap_cmd(struct mail_session *s, const char *l,
				 size_t n, char *rep, size_t *rlen, size_t len)
{
	const char *args, *cmd;
	size_t tlen, clen, alen, rest;
	bool sync;
	uint64_t lit = mail_imap_literal(l, len, &sync);

	if (s->c_cont) {
		/* the rest of a command after a literal, or a SASL response */
		s->c_cont = false;
		if (lit > MAIL_LITERAL_MAX) {
			*rlen = reply(rep, "*", "BYE Literal too big before authentication");
			return MAIL_REPLY_CLOSE;
		}
		if (lit) {
			s->c_literal = lit;
			s->c_cont = true;
			if (!sync)
				return MAIL_FORWARD;	/* no "+" is coming */
		}
		s->awaiting = true;	/* same tag, same expectation */
		return MAIL_FORWARD;
	}
	split_word(l, n, &tlen, &cmd, &rest);
	for (size_t i = 0; i < tlen; i++)
		if (!imap_tag_char(l[i]))
			tlen = 0;
	if (!tlen || tlen >= sizeof(s->tag) || !rest) {
		*rlen = reply(rep, "*", "BAD Invalid tag or command");
		return MAIL_REPLY;
	}
	split_word(cmd, rest, &clen, &args, &alen);
	memcpy(s->tag, l, tlen);
	s->tag[tlen] = '\0';
	if (word_eq(cmd, clen, "STARTTLS")) {
		static const struct starttls_replies r = {
			"BAD TLS already active",
			"NO [UNAVAILABLE] STARTTLS not available",
			"BAD STARTTLS takes no arguments",
			"OK Begin TLS negotiation now",
		};

		return starttls_answer(s, &r, s->tag, alen, rep, rlen);
	}
	if (word_eq(cmd, clen, "LOGIN") || word_eq(cmd, clen, "AUTHENTICATE")) {
		if (s->always && !s->tls) {
			s->refused++;
			if (lit && !sync) {
				/* its literal follows unasked: cannot resync */
				*rlen = reply(rep, "*", "BYE [PRIVACYREQUIRED] Issue STARTTLS first");
				return MAIL_REPLY_CLOSE;
			}
			*rlen = reply(rep, s->tag,
				      "NO [PRIVACYREQUIRED] Issue STARTTLS first");
			return MAIL_REPLY;
		}
		s->expect = MAIL_EXP_AUTH;
	} else {
		s->expect = MAIL_EXP_PLAIN;
	}
	if (lit > MAIL_LITERAL_MAX) {
		*rlen = reply(rep, "*", "BYE Literal too big before authentication");
		return MAIL_REPLY_CLOSE;
	}
	if (lit) {
		s->c_literal = lit;
		s->c_cont = true;
		if (!sync)
			return MAIL_FORWARD;
	}
	s->awaiting = true;
	return MAIL_FORWARD;
}

static enum mail_action pop3_cmd(struct mail_session *s, const char *l,
				 size_t n, char *rep, size_t *rlen)
{
	const char *args;
	size_t vlen, alen;

	if (s->c_cont) {	/* an AUTH exchange: a SASL response */
		s->c_cont = false;
		return forward(s, MAIL_EXP_AUTH);
	}
	split_word(l, n, &vlen, &args, &alen);
	if (word_eq(l, vlen, "STLS")) {
		static const struct starttls_replies r = {
			"-ERR Command not permitted when TLS active",
			"-ERR [SYS/TEMP] TLS not available",
			"-ERR STLS takes no arguments",
			"+OK Begin TLS negotiation",
		};

		return starttls_answer(s, &r, NULL, alen, rep, rlen);
	}
	if (word_eq(l, vlen, "USER") || word_eq(l, vlen, "PASS") ||
	    word_eq(l, vlen, "APOP") || word_eq(l, vlen, "AUTH")) {
		if (s->always && !s->tls) {
			s->refused++;
			*rlen = reply(rep, NULL, "-ERR [AUTH] Command not permitted before STLS");
			return MAIL_REPLY;
		}
		if (word_eq(l, vlen, "USER"))
			return forward(s, MAIL_EXP_PLAIN);
		if (word_eq(l, vlen, "AUTH") && !alen)
			return forward(s, MAIL_EXP_MULTI);	/* the mechanism list */
		return forward(s, MAIL_EXP_AUTH);
	}
	if (word_eq(l, vlen, "CAPA"))
		return forward(s, MAIL_EXP_CAPA);
	if (((word_eq(l, vlen, "LIST") || word_eq(l, vlen, "UIDL")) && !alen) ||
	    word_eq(l, vlen, "RETR") || word_eq(l, vlen, "TOP"))
		return forward(s, MAIL_EXP_MULTI);
	return forward(s, MAIL_EXP_PLAIN);
}

enum mail_action mail_client_line(struct mail_session *s, const char *line,
				  size_t len, char *rep, size_t *rlen)
{
	size_t n = trimmed(line, len);

	*rlen = 0;
	switch (s->proto) {
	case MAIL_SMTP:
		return smtp_cmd(s, line, n, rep, rlen);
	case MAIL_IMAP:
		return imap_cmd(s, line, n, rep, rlen, len);
	case MAIL_POP3:
		return pop3_cmd(s, line, n, rep, rlen);
	default:
		return MAIL_FORWARD;
	}
}

/* ---- server answers ---- */

static int acc_add(struct mail_session *s, const char *line, size_t len)
{
	if (!s->acc) {
		s->acc = malloc(MAIL_ACC_MAX);
		if (!s->acc)
			return -1;
		s->acc_len = 0;
	}
	if (s->acc_len + len > MAIL_ACC_MAX)
		return -1;
	memcpy(s->acc + s->acc_len, line, len);
	s->acc_len += len;
	return 0;
}

static size_t ehlo_rewrite(const char *in, size_t len, bool tls, bool strip,
			   char *out, size_t cap);

static int smtp_answer(struct mail_session *s, const char *line, size_t len,
		       char *out, size_t *olen)
{
	size_t n = trimmed(line, len);
	bool last = !(n >= 4 && line[3] == '-');
	int code = -1;

	if (n >= 3 && isdigit((unsigned char)line[0]) &&
	    isdigit((unsigned char)line[1]) && isdigit((unsigned char)line[2]))
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (!s->awaiting || s->expect != MAIL_EXP_CAPA) {
		memcpy(out, line, len);
		*olen = len;
		if (s->awaiting && last) {
			s->awaiting = false;
			if (code == 334)	/* AUTH: the client answers next */
				s->c_cont = true;
			if (code == 354 && s->expect == MAIL_EXP_DATA)
				s->data = true;	/* the message follows */
		}
		return 0;
	}
	if (acc_add(s, line, len))
		return -1;
	if (!last)
		return 0;
	s->awaiting = false;
	if (code == 250)	/* no certificate: STARTTLS must not be offered */
		*olen = ehlo_rewrite(s->acc, s->acc_len, s->tls || !s->tls_ok,
				     s->rcpt_allowed != NULL, out, MAIL_OUT_MAX);
	else
		*olen = put(out, MAIL_OUT_MAX, 0, s->acc, s->acc_len);
	mail_session_release(s);
	return 0;
}

static bool imap_starts(const char *l, size_t n, const char *w)
{
	size_t k = strlen(w);

	return n >= k && !strncasecmp(l, w, k);
}

static int imap_answer(struct mail_session *s, const char *line, size_t len,
		       char *out, size_t *olen)
{
	size_t n = trimmed(line, len), tl = strlen(s->tag);
	bool sync;
	uint64_t lit;

	*olen = mail_imap_caps_rewrite(line, len, s->tls || !s->tls_ok,
				       s->always, out, MAIL_OUT_MAX);
	lit = mail_imap_literal(line, len, &sync);
	if (lit > MAIL_LITERAL_MAX)
		return -1;
	s->s_literal = lit;
	if (!s->awaiting)
		return 0;
	if (s->expect == MAIL_EXP_GREETING) {
		s->awaiting = false;
		if (imap_starts(line, n, "* PREAUTH"))
			s->relay = true;
		return 0;
	}
	if (n >= 1 && line[0] == '+') {	/* continuation request */
		s->awaiting = false;
		s->c_cont = true;
		return 0;
	}
	if (tl && n > tl && line[tl] == ' ' && !strncmp(line, s->tag, tl)) {
		s->awaiting = false;
		s->c_cont = false;
		s->c_literal = 0;
		if (s->expect == MAIL_EXP_AUTH &&
		    imap_starts(line + tl + 1, n - tl - 1, "OK"))
			s->relay = true;
	}
	return 0;
}

static bool is_dot_line(const char *line, size_t len)
{
	return trimmed(line, len) == 1 && line[0] == '.';
}

static int pop3_answer(struct mail_session *s, const char *line, size_t len,
		       char *out, size_t *olen)
{
	bool ok = len >= 3 && !strncmp(line, "+OK", 3);

	*olen = 0;
	if (!s->awaiting) {
		memcpy(out, line, len);
		*olen = len;
		return 0;
	}
	if (s->in_multi) {
		if (s->expect == MAIL_EXP_CAPA) {
			if (acc_add(s, line, len))
				return -1;
		} else {
			memcpy(out, line, len);
			*olen = len;
		}
		if (!is_dot_line(line, len))
			return 0;
		s->in_multi = false;
		s->awaiting = false;
		if (s->expect == MAIL_EXP_CAPA) {
			*olen = mail_pop3_capa_rewrite(s->acc, s->acc_len,
						       s->tls || !s->tls_ok,
						       out, MAIL_OUT_MAX);
			mail_session_release(s);
		}
		return 0;
	}
	if (ok && s->expect == MAIL_EXP_CAPA) {
		s->in_multi = true;
		return acc_add(s, line, len);
	}
	memcpy(out, line, len);
	*olen = len;
	if (ok && s->expect == MAIL_EXP_MULTI) {
		s->in_multi = true;
		return 0;
	}
	s->awaiting = false;
	if (len >= 2 && line[0] == '+' && line[1] == ' ') {
		s->c_cont = true;	/* a SASL challenge */
		return 0;
	}
	if (ok && s->expect == MAIL_EXP_AUTH)
		s->relay = true;
	return 0;
}

int mail_server_line(struct mail_session *s, const char *line, size_t len,
		     char *out, size_t *olen)
{
	*olen = 0;
	switch (s->proto) {
	case MAIL_SMTP:
		return smtp_answer(s, line, len, out, olen);
	case MAIL_IMAP:
		return imap_answer(s, line, len, out, olen);
	case MAIL_POP3:
		return pop3_answer(s, line, len, out, olen);
	default:
		memcpy(out, line, len);
		*olen = len;
		return 0;
	}
}

/* ---- rewriting capability lists ---- */

struct span {
	const char *p;
	size_t n;
};

#define MAX_LINES 256

/*
 * @strip (ESP recipient check): CHUNKING and BINARYMIME are not offered,
 * so that every message comes as DATA, whose end the proxy finds.
 */
static size_t ehlo_rewrite(const char *in, size_t len, bool tls, bool strip,
			   char *out, size_t cap)
{
	struct span txt[MAX_LINES + 1];
	size_t nr = 0, o = 0, i = 0;
	bool have = false;
	char code[4] = "250";

	while (i < len && nr < MAX_LINES) {
		const char *l = in + i, *nl = memchr(l, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - l) + 1 : len - i;
		size_t n = trimmed(l, ll), vlen, alen;
		const char *args;

		i += ll;
		if (n < 3)
			continue;
		if (!nr)
			memcpy(code, l, 3);
		txt[nr].p = n > 4 ? l + 4 : l + n;
		txt[nr].n = n > 4 ? n - 4 : 0;
		split_word(txt[nr].p, txt[nr].n, &vlen, &args, &alen);
		if (nr && word_eq(txt[nr].p, vlen, "STARTTLS")) {
			have = true;
			if (tls)
				continue;	/* never offered twice */
		}
		if (nr && strip && (word_eq(txt[nr].p, vlen, "CHUNKING") ||
				    word_eq(txt[nr].p, vlen, "BINARYMIME")))
			continue;
		nr++;
	}
	if (!tls && !have && nr) {
		txt[nr].p = "STARTTLS";
		txt[nr].n = 8;
		nr++;
	}
	for (i = 0; i < nr; i++) {
		o = put(out, cap, o, code, 3);
		o = put(out, cap, o, i + 1 < nr ? "-" : " ", 1);
		o = put(out, cap, o, txt[i].p, txt[i].n);
		o = put(out, cap, o, "\r\n", 2);
	}
	return o;
}

size_t mail_smtp_ehlo_rewrite(const char *in, size_t len, bool tls, char *out,
			      size_t cap)
{
	return ehlo_rewrite(in, len, tls, false, out, cap);
}

size_t mail_pop3_capa_rewrite(const char *in, size_t len, bool tls, char *out,
			      size_t cap)
{
	size_t o = 0, i = 0;
	bool have = false;

	while (i < len) {
		const char *l = in + i, *nl = memchr(l, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - l) + 1 : len - i;
		size_t n = trimmed(l, ll), vlen, alen;
		const char *args;

		i += ll;
		split_word(l, n, &vlen, &args, &alen);
		if (i > ll && word_eq(l, vlen, "STLS")) {
			have = true;
			if (tls)
				continue;
		}
		if (is_dot_line(l, ll) && !tls && !have)
			o = puts_(out, cap, o, "STLS\r\n");
		o = put(out, cap, o, l, ll);
	}
	return o;
}

/* Rewrites the space-separated capability atoms in [p, p + n). */
static size_t caps_list(const char *p, size_t n, bool tls, bool always,
			char *out, size_t cap, size_t o)
{
	bool have_st = false, have_ld = false, first = true;
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j < n && p[j] != ' ')
			j++;
		if (j > i) {
			bool st = word_eq(p + i, j - i, "STARTTLS");
			bool ld = word_eq(p + i, j - i, "LOGINDISABLED");

			have_st |= st;
			have_ld |= ld;
			if (!(tls && (st || ld))) {
				if (!first)
					o = put(out, cap, o, " ", 1);
				o = put(out, cap, o, p + i, j - i);
				first = false;
			}
		}
		i = j + 1;
	}
	if (!tls && !have_st) {
		o = puts_(out, cap, o, first ? "STARTTLS" : " STARTTLS");
		first = false;
	}
	if (!tls && always && !have_ld)
		o = puts_(out, cap, o, first ? "LOGINDISABLED" : " LOGINDISABLED");
	return o;
}

size_t mail_imap_caps_rewrite(const char *in, size_t len, bool tls, bool always,
			      char *out, size_t cap)
{
	size_t n = trimmed(in, len), o = 0;
	const char *code;

	if (n > 13 && !strncasecmp(in, "* CAPABILITY ", 13)) {
		o = put(out, cap, o, in, 13);
		o = caps_list(in + 13, n - 13, tls, always, out, cap, o);
		return put(out, cap, o, in + n, len - n);
	}
	/* a [CAPABILITY ...] response code: in an untagged OK or a tagged answer */
	for (code = in; code + 12 <= in + n; code++) {
		const char *end;

		if (strncasecmp(code, "[CAPABILITY ", 12))
			continue;
		end = memchr(code + 12, ']', (size_t)(in + n - code - 12));
		if (!end)
			break;
		o = put(out, cap, o, in, (size_t)(code + 12 - in));
		o = caps_list(code + 12, (size_t)(end - code - 12), tls, always,
			      out, cap, o);
		return put(out, cap, o, end, (size_t)(in + len - end));
	}
	return put(out, cap, o, in, len);
}

size_t mail_notice(enum mail_proto p, enum mail_notice n, char *buf, size_t cap)
{
	static const char *const smtp[] = {
		[MAIL_NOTICE_UNAVAILABLE] = "421 4.4.2 Service not available, closing transmission channel",
		[MAIL_NOTICE_LINE_TOO_LONG] = "500 5.5.2 Line too long",
		[MAIL_NOTICE_TIMEOUT] = "421 4.4.2 Timeout, closing transmission channel",
		[MAIL_NOTICE_SERVER_ERROR] = "421 4.4.2 Server error, closing transmission channel",
	};
	static const char *const imap[] = {
		[MAIL_NOTICE_UNAVAILABLE] = "* BYE [UNAVAILABLE] Service not available",
		[MAIL_NOTICE_LINE_TOO_LONG] = "* BYE Line too long",
		[MAIL_NOTICE_TIMEOUT] = "* BYE Autologout; idle for too long",
		[MAIL_NOTICE_SERVER_ERROR] = "* BYE [UNAVAILABLE] Server error",
	};
	static const char *const pop3[] = {
		[MAIL_NOTICE_UNAVAILABLE] = "-ERR [SYS/TEMP] Service not available",
		[MAIL_NOTICE_LINE_TOO_LONG] = "-ERR Line too long",
		[MAIL_NOTICE_TIMEOUT] = "-ERR Timeout, closing connection",
		[MAIL_NOTICE_SERVER_ERROR] = "-ERR [SYS/TEMP] Server error",
	};
	const char *const *t = p == MAIL_IMAP ? imap : p == MAIL_POP3 ? pop3 : smtp;
	int r = snprintf(buf, cap, "%s\r\n", t[n]);

	return r < 0 ? 0 : (size_t)r < cap ? (size_t)r : cap - 1;
}
