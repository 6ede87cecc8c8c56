// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What the smtp, imap4 and pop3 checks say and expect.
 *
 * SMTP: 220 greeting (multi-line "220-" aware), EHLO exlb-healthcheck -> 250,
 * QUIT. IMAP4: "* OK" (or "* PREAUTH") greeting, a1 LOGOUT. POP3: "+OK"
 * greeting, QUIT. The verdict is in before the goodbye; health.c then waits
 * for the server's answer so the server logs a clean end.
 */
#include <stdio.h>
#include <string.h>

#include "health_int.h"

/* Up to 40 printable bytes of what the server said, for the reason. */
static const char *quote(const char *line, size_t len, char *buf, size_t n)
{
	size_t i;

	if (len > 40)
		len = 40;
	if (len >= n)
		len = n - 1;
	for (i = 0; i < len; i++)
		buf[i] = (line[i] >= ' ' && line[i] < 0x7f) ? line[i] : '?';
	buf[len] = '\0';
	return buf;
}

/* "250-..." continues, "250 ..." or "250" ends; -1 if no reply code. */
static int smtp_code(const char *line, size_t len, bool *last)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' ||
	    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9')
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	*last = len == 3 || line[3] == ' ';
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

enum { SMTP_GREETING, SMTP_EHLO };

static enum hc_step wait_greeting(struct hc_target *t)
{
	(void)t;
	return HC_MORE;		/* the server speaks first */
}

static enum hc_step smtp_line(struct hc_target *t, const char *line, size_t len)
{
	char q[48];
	bool last;
	int code;

	if (!line)
		return hc_fail(t, t->proto_state == SMTP_GREETING ?
			       "no 220 greeting (closed)" : "closed after EHLO");
	code = smtp_code(line, len, &last);
	if (t->proto_state == SMTP_GREETING) {
		if (code != 220)
			return hc_fail(t, "no 220 greeting: %s",
				       quote(line, len, q, sizeof(q)));
		if (!last)
			return HC_MORE;
		t->proto_state = SMTP_EHLO;
		t->tx_len = t->tx_off = 0;
		hc_tx_printf(t, "EHLO exlb-healthcheck\r\n");
		return HC_SEND;
	}
	if (code != 250)
		return hc_fail(t, "EHLO refused: %s", quote(line, len, q, sizeof(q)));
	if (!last)
		return HC_MORE;
	snprintf(t->why, sizeof(t->why), "SMTP 220, EHLO 250");
	t->tx_len = t->tx_off = 0;
	hc_tx_printf(t, "QUIT\r\n");
	return HC_OK_QUIT;
}

const struct hc_proto hc_proto_smtp = {
	.begin = wait_greeting,
	.line = smtp_line,
};

static enum hc_step imap_line(struct hc_target *t, const char *line, size_t len)
{
	char q[48];

	if (!line)
		return hc_fail(t, "no * OK greeting (closed)");
	if (strncmp(line, "* OK", 4) && strncmp(line, "* PREAUTH", 9))
		return hc_fail(t, "no * OK greeting: %s",
			       quote(line, len, q, sizeof(q)));
	snprintf(t->why, sizeof(t->why), "IMAP * OK");
	t->tx_len = t->tx_off = 0;
	hc_tx_printf(t, "a1 LOGOUT\r\n");
	return HC_OK_QUIT;
}

const struct hc_proto hc_proto_imap4 = {
	.begin = wait_greeting,
	.line = imap_line,
};

static enum hc_step pop3_line(struct hc_target *t, const char *line, size_t len)
{
	char q[48];

	if (!line)
		return hc_fail(t, "no +OK greeting (closed)");
	if (strncmp(line, "+OK", 3))
		return hc_fail(t, "no +OK greeting: %s",
			       quote(line, len, q, sizeof(q)));
	snprintf(t->why, sizeof(t->why), "POP3 +OK");
	t->tx_len = t->tx_off = 0;
	hc_tx_printf(t, "QUIT\r\n");
	return HC_OK_QUIT;
}

const struct hc_proto hc_proto_pop3 = {
	.begin = wait_greeting,
	.line = pop3_line,
};
