// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What the tcp, http and https checks send and accept.
 *
 * HTTP: one request (CheckUseGet method, CheckUrl, CheckUse1.1 version,
 * Host = CheckHost or the RS address, Connection: close); the verdict is the
 * status line alone: 200-299 or one of CheckCodes is up, anything else is
 * down. Headers and body are never waited for, so a slow body cannot make a
 * healthy server look hung. https is the same over TLS (health.c).
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "health_int.h"

static enum hc_step tcp_begin(struct hc_target *t)
{
	snprintf(t->why, sizeof(t->why), "connected");
	return HC_OK;
}

static enum hc_step tcp_line(struct hc_target *t, const char *line, size_t len)
{
	(void)line;
	(void)len;
	return hc_fail(t, "unexpected data");	/* begin() never reads */
}

const struct hc_proto hc_proto_tcp = {
	.begin = tcp_begin,
	.line = tcp_line,
};

static const char *const methods[] = { "HEAD", "GET", "POST", "OPTIONS" };

static enum hc_step http_begin(struct hc_target *t)
{
	const struct exlb_check_spec *s = &t->spec;
	uint16_t port, dflt = t->proto->tls ? 443 : 80;
	char host[300];

	if (s->host[0]) {
		snprintf(host, sizeof(host), "%s", s->host);
	} else {
		char a[64];

		/* an address with a non-default port names it, as browsers do */
		hc_addr_text(&t->addr, true, a, sizeof(a));
		port = ntohs(t->addr.ss_family == AF_INET6 ?
			     ((struct sockaddr_in6 *)&t->addr)->sin6_port :
			     ((struct sockaddr_in *)&t->addr)->sin_port);
		if (port == dflt)
			snprintf(host, sizeof(host), "%s", a);
		else
			snprintf(host, sizeof(host), "%s:%u", a, port);
	}
	if (!hc_tx_printf(t, "%s %s HTTP/1.%d\r\n"
			  "Host: %s\r\n"
			  "User-Agent: exlb-healthcheck\r\n"
			  "Accept: */*\r\n"
			  "Connection: close\r\n"
			  "%s\r\n",
			  methods[s->use_get], s->url, s->use_http11 ? 1 : 0,
			  host,
			  s->use_get == EXLB_CHECK_POST ? "Content-Length: 0\r\n" : ""))
		return hc_fail(t, "request too long");
	return HC_SEND;
}

static bool code_accepted(const struct exlb_check_spec *s, int code)
{
	int i;

	if (code >= 200 && code <= 299)
		return true;
	for (i = 0; i < s->n_extra_codes; i++)
		if (s->extra_codes[i] == code)
			return true;
	return false;
}

/* "HTTP/1.1 200 OK": version, one space, three digits, then space or end. */
static int parse_status(const char *line, size_t len)
{
	const char *p;

	if (len < 12 || strncmp(line, "HTTP/", 5))
		return -1;
	p = memchr(line, ' ', len);
	if (!p || (size_t)(p - line) + 4 > len)
		return -1;
	p++;
	if (p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
	    p[2] < '0' || p[2] > '9' || (p[3] && p[3] != ' '))
		return -1;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

static enum hc_step http_line(struct hc_target *t, const char *line, size_t len)
{
	int code;

	if (!line)
		return hc_fail(t, "closed before status line");
	code = parse_status(line, len);
	if (code < 0)
		return hc_fail(t, "bad status line");
	if (!code_accepted(&t->spec, code))
		return hc_fail(t, "HTTP %d", code);
	snprintf(t->why, sizeof(t->why), "HTTP %d", code);
	return HC_OK;
}

const struct hc_proto hc_proto_http = {
	.begin = http_begin,
	.line = http_line,
};

const struct hc_proto hc_proto_https = {
	.tls = true,
	.begin = http_begin,
	.line = http_line,
};
