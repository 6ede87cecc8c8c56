// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The proxy's access log: one line per request (or per tunnel), written
 * whole under a lock so lines of different workers never interleave. Lines
 * go into the stream's buffer; each worker writes it out before its event
 * loop sleeps (l7_access_log_flush()), so a busy worker writes the lines of
 * many requests with one write() instead of one each (issue 11).
 *
 *   2026-11-27T21:00:00.123Z client=198.18.0.1:50312 vs=3 subvs=5
 *   rs=198.18.1.11:80 "GET /owa/ HTTP/1.1" status=200 bytes_in=512
 *   bytes_out=2048 ms=12 term=-- tls=ktls
 *
 * term is HAProxy's two-letter termination state: who ended it (C client,
 * S server, P proxy, L local answer, D server down with droponfail, K drain
 * end, c/s client/server timeout, - normal) and in which phase (R request,
 * C connect, H response headers, D data, - complete).
 *
 * The file holds request targets with their query strings (OWA and
 * ActiveSync put tokens there): it is 0640, group exlb when that group
 * exists (l7_access_log_open()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "proxy_int.h"

FILE *l7_access_log_open(const char *path, struct exlb_err *err)
{
	struct group *grp = getgrnam(EXLB_GROUP);
	bool created = true;
	struct stat st;
	FILE *f;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	}
	if (fd < 0 || fstat(fd, &st)) {
		exlb_err_set(err, "access log %s: %s", path, strerror(errno));
		goto fail;
	}
	/* /dev/null, a FIFO, a terminal: not ours to change */
	if (!S_ISREG(st.st_mode))
		goto open;
	/*
	 * A file readable by everyone (an older exlbd made it 0644) is
	 * closed to others: fail closed if that cannot be done.
	 */
	if ((st.st_mode & 07) && fchmod(fd, st.st_mode & 07770)) {
		exlb_err_set(err, "access log %s is readable by all and cannot be "
			     "changed: %s", path, strerror(errno));
		goto fail;
	}
	if (st.st_mode & 07)
		exlb_log(LOG_WARNING, "proxy: access log %s was readable by all users: now "
			 "mode %04o", path, (unsigned int)(st.st_mode & 07770));
	/* ours: group exlb reads it; without the group, the daemon's */
	if (created && grp && st.st_gid != grp->gr_gid &&
	    fchown(fd, (uid_t)-1, grp->gr_gid))
		exlb_log(LOG_WARNING, "proxy: cannot give access log %s to group %s: %s",
			 path, EXLB_GROUP, strerror(errno));
open:
	f = fdopen(fd, "a");
	if (f) {
		setvbuf(f, NULL, _IOFBF, 65536);	/* l7_access_log_flush() */
		return f;
	}
	exlb_err_set(err, "access log %s: %s", path, strerror(errno));
fail:
	if (fd >= 0)
		close(fd);
	return NULL;
}

FILE *exlb_proxy_access_log_open(const char *path, struct exlb_err *err)
{
	return l7_access_log_open(path, err);
}

int exlb_proxy_reopen_log(struct exlb_proxy *p, struct exlb_err *err)
{
	FILE *f, *old;

	if (p->remote)
		return p->opts.remote->reopen_log(p->remote, err);
	if (!p->opts.access_log)
		return 0;
	f = l7_access_log_open(p->opts.access_log, err);
	if (!f)
		return -1;
	pthread_mutex_lock(&p->log_lock);
	old = p->access_log;
	p->access_log = f;
	pthread_mutex_unlock(&p->log_lock);
	fclose(old);
	return 0;
}

/*
 * A worker process opens no file: the manager opened the log (mode, group)
 * and hands over its descriptor, at start and at every reopen.
 */
void exlb_proxy_set_log_fd(struct exlb_proxy *p, int fd)
{
	FILE *f = fdopen(fd, "a"), *old;

	if (!f) {
		exlb_log(LOG_ERR, "proxy: access log descriptor: %s; still logging to the old one",
			 strerror(errno));
		close(fd);
		return;
	}
	setvbuf(f, NULL, _IOFBF, 65536);	/* l7_access_log_flush() */
	pthread_mutex_lock(&p->log_lock);
	old = p->access_log;
	p->access_log = f;
	pthread_mutex_unlock(&p->log_lock);
	if (old)
		fclose(old);
}

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
	static __thread char when[40];	/* each worker's last second */
	static __thread time_t when_sec = -1;
	FILE *f;
	char client[80], target[300], method[32];
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != when_sec) {	/* the date changes once a second */
		gmtime_r(&tv.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		when_sec = tv.tv_sec;
	}
	l7_sockaddr_format(e->client, client, sizeof(client), true);
	log_safe(target, sizeof(target), e->target ? e->target : "",
		 e->target ? e->target_len : 0);
	log_safe(method, sizeof(method), e->method ? e->method : "-",
		 e->method ? strlen(e->method) : 1);

	pthread_mutex_lock(&p->log_lock);
	/* under the lock: exlb_proxy_reopen_log() swaps the file */
	f = p->access_log ? p->access_log : stdout;
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
	atomic_store(&p->log_dirty, true);
	pthread_mutex_unlock(&p->log_lock);
}

void l7_access_log_flush(struct exlb_proxy *p)
{
	if (!atomic_exchange(&p->log_dirty, false))
		return;
	pthread_mutex_lock(&p->log_lock);
	fflush(p->access_log ? p->access_log : stdout);
	pthread_mutex_unlock(&p->log_lock);
}
