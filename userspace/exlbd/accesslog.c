// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The proxy's access log: one line per request (or per tunnel), written
 * whole under a lock so lines of different workers never interleave.
 *
 *   2026-11-27T21:00:00.123Z client=198.18.0.1:50312 vs=3 subvs=5
 *   rs=198.18.1.11:80 "GET /owa/ HTTP/1.1" status=200 bytes_in=512
 *   bytes_out=2048 ms=12 term=-- tls=ktls
 *
 * term is HAProxy's two-letter termination state: who ended it (C client,
 * S server, P proxy, L local answer, D server down with droponfail, K drain
 * end, c/s client/server timeout, - normal) and in which phase (R request,
 * C connect, H response headers, D data, - complete).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "proxy_int.h"

/* Request targets are logged as sent, but never with control bytes. */
static void log_safe(char *out, size_t n, const char *in, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < n; i++) {
		unsigned char ch = (unsigned char)in[i];

		out[o++] = (ch < 0x21 || ch == '"' || ch >= 0x7f) ? '?' : (char)ch;
	}
	out[o] = '\0';
}

void l7_access_log(struct exlb_proxy *p, const struct l7_log_entry *e)
{
	FILE *f = p->access_log ? p->access_log : stdout;
	char client[80], when[40], target[300], method[32];
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	l7_sockaddr_format(e->client, client, sizeof(client), true);
	log_safe(target, sizeof(target), e->target ? e->target : "",
		 e->target ? e->target_len : 0);
	log_safe(method, sizeof(method), e->method ? e->method : "-",
		 e->method ? strlen(e->method) : 1);

	pthread_mutex_lock(&p->log_lock);
	fprintf(f, "%s.%03ldZ client=%s vs=%u subvs=", when,
		(long)(tv.tv_usec / 1000), client, e->vs_id);
	if (e->subvs_id && e->subvs_id != e->vs_id)
		fprintf(f, "%u", e->subvs_id);
	else
		fputc('-', f);
	if (e->method && strcmp(e->method, "-"))
		fprintf(f, " rs=%s \"%s %s HTTP/1.%u\"", e->rs ? e->rs : "-",
			method, target, e->http_minor);
	else if (e->method)	/* not HTTP (mail): the target says what it was */
		fprintf(f, " rs=%s \"- %s\"", e->rs ? e->rs : "-", target);
	else
		fprintf(f, " rs=%s \"-\"", e->rs ? e->rs : "-");
	fprintf(f, " status=%u bytes_in=%llu bytes_out=%llu ms=%.0f term=%c%c tls=%s\n",
		e->status, (unsigned long long)e->bytes_in,
		(unsigned long long)e->bytes_out, e->ms, e->term[0], e->term[1],
		e->tls);
	fflush(f);
	pthread_mutex_unlock(&p->log_lock);
}
