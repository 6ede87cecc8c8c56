/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The protocol half of exlbd's STARTTLS proxy for SMTP, IMAP and POP3, as
 * pure functions over lines: which client command is which, what the
 * proxy answers itself, and how the capability lists the real server
 * sends are rewritten. No sockets, no event loop: mail_conn.c moves the
 * bytes; this file decides what they mean (and test_mail_proto.c tests it).
 *
 * The session runs in lockstep until it turns into a byte relay: the
 * connection hands over one client command line, and hands over the next
 * only once the real server's whole answer to it has been relayed
 * (awaiting == false). That keeps our own answers (refusals, the STARTTLS
 * reply) in order with the server's, makes a STARTTLS arrive with nothing
 * outstanding at the server, and means the response to a capability
 * command is known to be one.
 *
 * Lines include their terminator (LF, normally CRLF); a line given to
 * these functions is at most MAIL_LINE_MAX bytes (the caller enforces it).
 */
#ifndef EXLB_MAIL_PROTO_H
#define EXLB_MAIL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAIL_LINE_MAX	4096	/* a command or response line, with CRLF */
#define MAIL_ACC_MAX	16384	/* an EHLO / CAPA answer kept for rewriting */
#define MAIL_LITERAL_MAX (64 * 1024)	/* IMAP literal before authentication */
#define MAIL_OUT_MAX	(MAIL_ACC_MAX + 256)	/* room for any output */

enum mail_proto {
	MAIL_NONE,
	MAIL_SMTP,
	MAIL_IMAP,
	MAIL_POP3,
};

/* StartTLSMode 1/2 -> SMTP, 4 -> IMAP, 6 -> POP3, else MAIL_NONE. */
enum mail_proto mail_proto_of(unsigned int starttls_mode);
/*
 * Whether a mode refuses authentication and mail before STARTTLS: SMTP 2,
 * and IMAP (4) and POP3 (6), whose only reason to be a STARTTLS VS rather
 * than a plain L4 one is to keep passwords off the wire (docs/mail.md).
 */
bool mail_mode_always(unsigned int starttls_mode);
const char *mail_proto_name(enum mail_proto p);	/* "SMTP", "IMAP", "POP3" */

/* What the server's answer to the awaited command is. */
enum mail_expect {
	MAIL_EXP_GREETING,
	MAIL_EXP_PLAIN,		/* relayed line by line (IMAP: capabilities rewritten) */
	MAIL_EXP_CAPA,		/* EHLO / CAPA: collected, rewritten, sent whole */
	MAIL_EXP_AUTH,		/* success ends the line phase (IMAP, POP3) */
	MAIL_EXP_MULTI,		/* POP3 multi-line answer not rewritten */
	MAIL_EXP_DATA,		/* SMTP DATA with ESP: 354 starts the message */
};

struct mail_session {
	enum mail_proto proto;
	bool always;		/* refuse auth / mail before TLS */
	bool tls_ok;		/* the VS has a certificate: STARTTLS possible */
	bool tls;		/* TLS with the client is up */
	bool awaiting;		/* the server's answer is outstanding */
	bool relay;		/* done: bytes flow unexamined from now on */
	enum mail_expect expect;
	bool in_multi;		/* inside a multi-line answer (POP3 body, SMTP 250-) */
	bool saw_cap;		/* the answer being collected offered STARTTLS/STLS */
	char tag[64];		/* IMAP: tag of the awaited command */
	bool c_cont;		/* IMAP: the next client line continues a command */
	uint64_t c_literal;	/* IMAP: raw client bytes to pass before the next line */
	uint64_t s_literal;	/* IMAP: raw server bytes ... */
	char *acc;		/* the answer being collected (MAIL_EXP_CAPA) */
	size_t acc_len;
	unsigned int refused;	/* commands refused (before TLS; ESP RCPT TO) */
	/*
	 * SMTP with ESP (docs/esp.md): SMTPAllowedDomains, not owned (the
	 * connection's copy); NULL = no recipient check. Set after init; it
	 * survives STARTTLS. Each RCPT TO is checked, and the session never
	 * turns into a byte relay: data is the message between DATA's 354
	 * and its "." line. A refused RCPT leaves why and its domain here
	 * (for the security log); the caller clears rcpt_why.
	 */
	const char *rcpt_allowed;
	bool data;
	const char *rcpt_why;
	char rcpt_domain[256];
};

void mail_session_init(struct mail_session *s, enum mail_proto proto,
		       bool always, bool tls_ok);
void mail_session_release(struct mail_session *s);

enum mail_action {
	MAIL_FORWARD,		/* send the line to the server (awaiting set as needed) */
	MAIL_REPLY,		/* send *reply to the client, nothing to the server */
	MAIL_REPLY_CLOSE,	/* send *reply, then close the session */
	MAIL_STARTTLS,		/* discard what follows, send *reply, handshake */
};

/*
 * A client line (lockstep: only when !s->awaiting and !s->relay). @reply
 * gets our own answer (at most MAIL_LINE_MAX + 128 bytes) when the action
 * says so. After MAIL_FORWARD, s->relay may have become true (SMTP: a mail
 * transaction starts; nothing of it is examined).
 */
enum mail_action mail_client_line(struct mail_session *s, const char *line,
				  size_t len, char *reply, size_t *reply_len);

/*
 * A server line. Appends what goes to the client to @out (room for
 * MAIL_OUT_MAX bytes) and sets *@out_len. Returns 0, or -1 when the server
 * broke the protocol (an answer too long to collect).
 */
int mail_server_line(struct mail_session *s, const char *line, size_t len,
		     char *out, size_t *out_len);

/* TLS with the client is up: commands are looked at again from scratch. */
void mail_session_tls_up(struct mail_session *s);

/* Our own answers that do not depend on a command. */
enum mail_notice {
	MAIL_NOTICE_UNAVAILABLE,	/* no server, or it did not greet in time */
	MAIL_NOTICE_LINE_TOO_LONG,
	MAIL_NOTICE_TIMEOUT,		/* the client idled before authenticating */
	MAIL_NOTICE_SERVER_ERROR,	/* the server broke the protocol */
};
/* Writes the notice into @buf (>= 128 bytes); returns its length. */
size_t mail_notice(enum mail_proto p, enum mail_notice n, char *buf, size_t cap);

/*
 * The rewriting itself, exposed for tests. Each returns the output length.
 * SMTP: a whole 250 EHLO answer (every line). Before TLS, STARTTLS is made
 * present; after, it is removed.
 */
size_t mail_smtp_ehlo_rewrite(const char *in, size_t len, bool tls, char *out,
			      size_t cap);
/* POP3: a whole CAPA answer, "+OK" line to "." line. Same for STLS. */
size_t mail_pop3_capa_rewrite(const char *in, size_t len, bool tls, char *out,
			      size_t cap);
/*
 * IMAP: one line; an untagged CAPABILITY answer or a [CAPABILITY ...]
 * response code gets STARTTLS (and, with @always, LOGINDISABLED) before
 * TLS, and loses both after. Other lines are copied.
 */
size_t mail_imap_caps_rewrite(const char *in, size_t len, bool tls, bool always,
			      char *out, size_t cap);

/*
 * IMAP: the literal a line announces at its end ("{12}" or "{12+}"), or 0.
 * *@sync tells whether the sender waits for a continuation first.
 */
uint64_t mail_imap_literal(const char *line, size_t len, bool *sync);

#endif
