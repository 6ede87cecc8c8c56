// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the worker sandbox (exlbd/proc/sandbox.c). Forked children
 * enter it; the parent reads /proc/PID/status (ids, groups, capability
 * sets, NoNewPrivs, Seccomp -- the child held group exlb and an
 * inheritable capability before entering, which must not survive),
 * drives the work a worker does afterwards (accept on a listener it
 * inherited and on one handed over by SCM_RIGHTS after entering, splice,
 * a connection to a "real server", a TLS handshake on a socketpair with a
 * context built after entering, a PCRE2 JIT compile, a thread, TCP_ULP
 * "tls" where the kernel has it), and sees children that call a
 * forbidden system call die by SIGSYS (an i386 one too, where the kernel
 * runs them; where the kernel lacks TCP_ULP or i386 a "# not checked"
 * line says so instead: CI counts a skip as a failure). Entering fails
 * closed for root's ids, the operators' group, a second thread, an
 * unprivileged caller and a missing user.
 *
 * Needs root (it switches users). The users it needs -- "exlb" and one
 * whose group is exlb -- are added to copies of /etc/passwd and /etc/group
 * bind-mounted in a private mount namespace (as exlbd-admin.sh does for
 * the group): the host's user database is never changed. TAP output;
 * built with ASan/UBSan by "make test".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <linux/capability.h>

#include "proc/handover.h"
#include "proc/sandbox.h"
#include "tap_report.h"

#define OP_USER		"exlbtest-op"	/* primary group: exlb (operators) */
#define IO_TIMEOUT_S	5

static char tmpdir[] = "/tmp/exlb-sandbox.XXXXXX";
static uid_t exlb_uid;
static gid_t exlb_gid;
static bool have_ktls;
static pid_t parent_pid;
static gid_t op_gid;		/* group exlb: the control socket's */
static char cert_pem[4096], key_pem[4096];

/* ---- set-up: users, a certificate ---- */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -1;
	ret = fputs(text, f) < 0;
	return fclose(f) || ret ? -1 : 0;
}

/* @path's contents plus @extra, bind-mounted over @path. */
static int overlay(const char *path, const char *name, const char *extra)
{
	char copy[256], *text = NULL;
	size_t len = 0;
	FILE *in = fopen(path, "r"), *out;
	int ret;

	snprintf(copy, sizeof(copy), "%s/%s", tmpdir, name);
	out = open_memstream(&text, &len);
	if (!in || !out)
		return -1;
	for (int c; (c = fgetc(in)) != EOF;)
		fputc(c, out);
	fclose(in);
	fputs(extra, out);
	fclose(out);
	ret = write_file(copy, text);
	free(text);
	if (!ret)
		ret = chmod(copy, 0644) || mount(copy, path, NULL, MS_BIND, NULL);
	return ret;
}

static uid_t free_id(bool group)
{
	for (unsigned int id = 999; id >= 100; id--)
		if (group ? !getgrgid(id) : !getpwuid(id))
			return id;
	return 0;
}

/*
 * The users the test needs, in a private mount namespace: "exlb" (group
 * nogroup, as `adduser --system` makes it) unless the host has one, the
 * group exlb unless the host has it, and OP_USER in that group.
 */
static const char *setup_users(void)
{
	static char why[256];
	char pw[512] = "", gr[256] = "";
	struct passwd *p;
	struct group *g = getgrnam("nogroup");
	gid_t nogroup = g ? g->gr_gid : 65534;

	if (!mkdtemp(tmpdir))
		return "mkdtemp failed";
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		snprintf(why, sizeof(why), "no private mount namespace: %s", strerror(errno));
		return why;
	}
	g = getgrnam(EXLB_GROUP);
	op_gid = g ? g->gr_gid : free_id(true);
	if (!g)
		snprintf(gr, sizeof(gr), "%s:x:%u:\n", EXLB_GROUP, (unsigned int)op_gid);
	p = getpwnam(EXLB_WORKER_USER);
	if (p) {
		exlb_uid = p->pw_uid;
		exlb_gid = p->pw_gid;
	} else {
		exlb_uid = free_id(false);
		exlb_gid = nogroup;
		snprintf(pw, sizeof(pw), "%s:x:%u:%u::/nonexistent:/usr/sbin/nologin\n",
			 EXLB_WORKER_USER, (unsigned int)exlb_uid, (unsigned int)exlb_gid);
	}
	snprintf(pw + strlen(pw), sizeof(pw) - strlen(pw),
		 "%s:x:%u:%u::/nonexistent:/usr/sbin/nologin\n", OP_USER,
		 (unsigned int)exlb_uid + 1, (unsigned int)op_gid);
	if (overlay("/etc/passwd", "passwd", pw) || (*gr && overlay("/etc/group", "group", gr))) {
		snprintf(why, sizeof(why), "cannot bind-mount users: %s", strerror(errno));
		return why;
	}
	if (!getpwnam(EXLB_WORKER_USER) || !getpwnam(OP_USER))
		return "the users added are not found (nsswitch without files?)";
	return NULL;
}

/* A self-signed P-256 certificate, PEM in cert_pem/key_pem. */
static int make_cert(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIO *b;
	int ret = -1;

	if (!key || !x)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"sandbox.exlb.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (!X509_sign(x, key, EVP_sha256()))
		goto out;
	b = BIO_new(BIO_s_mem());
	if (b && PEM_write_bio_X509(b, x))
		ret = BIO_read(b, cert_pem, sizeof(cert_pem) - 1) > 0 ? 0 : -1;
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	if (!ret && b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
		ret = BIO_read(b, key_pem, sizeof(key_pem) - 1) > 0 ? 0 : -1;
	else
		ret = -1;
	BIO_free(b);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

static int listener(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sin, sizeof(*sin)) ||
	    listen(fd, 8) || getsockname(fd, (struct sockaddr *)sin, &len))
		return -1;
	return fd;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int connect_to(const struct sockaddr_in *sin)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	set_timeouts(fd);
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- a child: fork, its verdict lines, its end ---- */

struct child {
	pid_t pid;
	int in;		/* the child's lines: "ok|what", "not|what", "skip|what", "E" */
	int go;		/* parent -> child: one byte per step */
	FILE *lines;
};

/* The child's side: one line to the parent (write(2) only: sandboxed). */
static void say(int fd, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(int fd, const char *kind, const char *fmt, ...)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s|", kind);
	va_list ap;

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, n) < 0)
		_exit(9);
}

static void wait_go(int go)
{
	char c;

	if (read(go, &c, 1) != 1)
		_exit(8);
}

/* Forks @fn(@arg, out, go); the parent gets the pipes. */
static int spawn(struct child *c, void (*fn)(void *, int, int), void *arg)
{
	int out[2], go[2];

	if (pipe2(out, O_CLOEXEC) || pipe2(go, O_CLOEXEC))
		return -1;
	fflush(stdout);
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (!c->pid) {
		close(out[0]);
		close(go[1]);
		fn(arg, out[1], go[0]);
		_exit(0);	/* _exit: no atexit, no LeakSanitizer (it forks) */
	}
	close(out[1]);
	close(go[0]);
	c->in = out[0];
	c->go = go[1];
	c->lines = fdopen(c->in, "r");
	return c->lines ? 0 : -1;
}

/* The next line of the child, without its newline; NULL at its end. */
static char *next_line(struct child *c, char *buf, size_t n)
{
	if (!fgets(buf, (int)n, c->lines))
		return NULL;
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static void go(struct child *c)
{
	if (write(c->go, "g", 1) != 1)
		report(false, "cannot signal the child");
}

/* Reports the child's lines until it ends; its wait status. */
static int finish(struct child *c)
{
	char line[600];
	int status = -1;

	while (next_line(c, line, sizeof(line))) {
		char *what = strchr(line, '|');

		if (!what)
			continue;
		*what++ = '\0';
		if (!strcmp(line, "skip")) {
			/*
			 * Not a TAP skip (CI counts one as a failure): this
			 * kernel cannot show it, a diagnostic says so.
			 */
			printf("# not checked on this kernel: %s\n", what);
			fflush(stdout);
		} else {
			report(!strcmp(line, "ok"), "%s", what);
		}
	}
	fclose(c->lines);
	close(c->go);
	if (waitpid(c->pid, &status, 0) < 0)
		return -1;
	return status;
}

static void describe_status(int status, char *buf, size_t n)
{
	if (WIFEXITED(status))
		snprintf(buf, n, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, n, "status %#x", status);
}

/* ---- 1. the process after entering, as /proc/PID/status shows it ---- */

/* The value of @key in /proc/@pid/status ("Uid", "CapEff", ...). */
static int status_field(pid_t pid, const char *key, char *val, size_t n)
{
	char path[64], line[512];
	size_t klen = strlen(key);
	FILE *f;
	int ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			char *v = line + klen + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(val, n, "%s", v);
			ret = 0;
			break;
		}
	if (f)
		fclose(f);
	return ret;
}

struct work {
	int lst_inherited;	/* a listener given before entering */
	int chan;		/* the manager's channel: a listener comes after */
	int tls;		/* a socketpair end for a TLS handshake */
	struct sockaddr_in rs;	/* a "real server" to connect to */
	int epfd;		/* the worker's loop, made before entering */
};

/* accept() on @lst through the epoll loop, then echo one line by splice(). */
static void accept_and_splice(int out, int epfd, int lst, const char *what,
			      int *conn_out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lst }, got;
	int p[2], conn = -1;
	ssize_t in, sent;

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lst, &ev) ||
	    epoll_wait(epfd, &got, 1, IO_TIMEOUT_S * 1000) != 1 ||
	    (conn = accept4(lst, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		say(out, "not", "%s: epoll + accept4: %s", what, strerror(errno));
		return;
	}
	epoll_ctl(epfd, EPOLL_CTL_DEL, lst, NULL);
	set_timeouts(conn);
	if (pipe2(p, O_CLOEXEC)) {
		say(out, "not", "%s: pipe2: %s", what, strerror(errno));
		close(conn);
		return;
	}
	in = splice(conn, NULL, p[1], NULL, 64, 0);
	sent = in > 0 ? splice(p[0], NULL, conn, NULL, (size_t)in, 0) : -1;
	say(out, in > 0 && sent == in ? "ok" : "not",
	    "%s: accept4 through epoll, %zd bytes echoed by splice() through a pipe (%s)",
	    what, sent, sent == in ? "as received" : strerror(errno));
	close(p[0]);
	close(p[1]);
	if (conn_out)
		*conn_out = conn;
	else
		close(conn);
}

static void ktls_step(int out, int conn)
{
	int rc;

	if (!have_ktls) {
		say(out, "skip", "TCP_ULP tls: this kernel has no tls ULP (tcp_available_ulp)");
		return;
	}
	rc = setsockopt(conn, SOL_TCP, TCP_ULP, "tls", sizeof("tls"));
	say(out, rc ? "not" : "ok", "setsockopt(TCP_ULP, \"tls\") on an accepted connection: %s",
	    rc ? strerror(errno) : "0");
}

static void tls_step(int out, int fd)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	SSL *ssl = NULL;
	char buf[16] = "";
	int n = -1;

	if (ctx && x && k && SSL_CTX_use_certificate(ctx, x) == 1 &&
	    SSL_CTX_use_PrivateKey(ctx, k) == 1 && (ssl = SSL_new(ctx)) &&
	    SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1 &&
	    (n = SSL_read(ssl, buf, sizeof(buf) - 1)) > 0)
		SSL_write(ssl, buf, n);
	say(out, n == 5 && !memcmp(buf, "hello", 5) ? "ok" : "not",
	    "TLS: context built from PEM bytes after entering, handshake on a socketpair as the server (%s), read '%.5s', echoed",
	    ssl ? SSL_get_version(ssl) : "no SSL", buf);
	SSL_free(ssl);
	EVP_PKEY_free(k);
	X509_free(x);
	BIO_free(cb);
	BIO_free(kb);
	SSL_CTX_free(ctx);
}

static void pcre_step(int out)
{
	PCRE2_SIZE off;
	int ec, rc = -1, jit = -1;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR) "^/owa/", PCRE2_ZERO_TERMINATED,
				       PCRE2_CASELESS, &ec, &off, NULL);
	pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;

	if (re)
		jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	if (md)
		rc = pcre2_match(re, (PCRE2_SPTR) "/OWA/auth", 9, 0, 0, md, NULL);
	say(out, jit == 0 && rc > 0 ? "ok" : "not",
	    "a content rule compiled with PCRE2's JIT after entering (jit %d) matches (%d)", jit, rc);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
}

static void *thread_fn(void *arg)
{
	return arg;
}

static int add_inheritable(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[cap / 32].inheritable |= 1u << (cap % 32);
	return (int)syscall(SYS_capset, &hdr, data);
}

static void work_child(void *arg, int out, int gofd)
{
	struct work *w = arg;
	struct exlb_handover h;
	struct exlb_err err;
	pthread_t t;
	void *ret = NULL;
	int conn = -1, fd, lst;

	/*
	 * A manager that had the operators' group or an inheritable
	 * capability must not pass either on.
	 */
	if (setgroups(1, &op_gid) || add_inheritable(CAP_NET_ADMIN)) {
		say(out, "not", "group exlb and CAP_NET_ADMIN inheritable before entering: %s",
		    strerror(errno));
		return;
	}
	if (exlb_sandbox_enter_worker(EXLB_WORKER_USER, &err)) {
		say(out, "not", "enter: %s", err.msg);
		return;
	}
	say(out, "E", "entered");
	wait_go(gofd);
	/* the listener it had */
	accept_and_splice(out, w->epfd, w->lst_inherited, "inherited listener", &conn);
	if (conn >= 0) {
		ktls_step(out, conn);
		close(conn);
	}
	/* a listener sent by the manager (SCM_RIGHTS, handover.c) */
	if (exlb_handover_recv(w->chan, &h, IO_TIMEOUT_S * 1000, &err)) {
		say(out, "not", "handover after entering: %s", err.msg);
	} else {
		lst = exlb_handover_take(&h, "l7");
		if (lst < 0)
			say(out, "not", "handover: no l7 descriptor");
		else
			accept_and_splice(out, w->epfd, lst, "listener received by SCM_RIGHTS after entering", NULL);
		exlb_handover_done(&h);
	}
	/* a connection to a real server */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && !connect(fd, (struct sockaddr *)&w->rs, sizeof(w->rs)) &&
	    write(fd, "req", 3) == 3)
		say(out, "ok", "socket(AF_INET, SOCK_STREAM) + connect + write to a real server");
	else
		say(out, "not", "socket(AF_INET, SOCK_STREAM) + connect + write to a real server: %s",
		    strerror(errno));
	close(fd);
	tls_step(out, w->tls);
	pcre_step(out);
	say(out, !pthread_create(&t, NULL, thread_fn, (void *)w) &&
	    !pthread_join(t, &ret) && ret == w ? "ok" : "not",
	    "a thread started after entering runs and is joined");
}

static void test_work(void)
{
	struct sockaddr_in a, b, rs;
	struct work w = { .lst_inherited = listener(&a), .rs = { 0 } };
	int lst_b = listener(&b), lst_rs = listener(&rs), sp[2], tp[2];
	struct child c;
	char line[600], val[128], want[64];
	int status, fd;
	struct exlb_err err = { "" };
	struct exlb_handover_fd hfd = { .fd = lst_b, .tag = "l7" };
	SSL_CTX *cctx;
	SSL *ssl;
	static const struct { const char *key, *want; } zero[] = {
		/* it had CAP_NET_ADMIN inheritable before entering */
		{ "CapInh", "0000000000000000" }, { "CapPrm", "0000000000000000" },
		{ "CapEff", "0000000000000000" }, { "CapBnd", "0000000000000000" },
		{ "CapAmb", "0000000000000000" }, { "NoNewPrivs", "1" },
		{ "Seccomp", "2" },
		{ "Groups", "" },	/* it had group exlb before entering */
	};

	w.rs = rs;
	if (w.lst_inherited < 0 || lst_b < 0 || lst_rs < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tp) ||
	    (w.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		report(false, "set-up of the worker test: %s", strerror(errno));
		return;
	}
	w.chan = sp[1];
	w.tls = tp[1];
	if (spawn(&c, work_child, &w)) {
		report(false, "fork: %s", strerror(errno));
		return;
	}
	close(sp[1]);
	close(tp[1]);
	if (!next_line(&c, line, sizeof(line)) || strcmp(line, "E|entered")) {
		report(false, "the child entered the sandbox (said '%s')", line);
		go(&c);
		finish(&c);
		return;
	}
	report(true, "exlb_sandbox_enter_worker(\"%s\") returned 0 in a forked child", EXLB_WORKER_USER);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned int)exlb_uid,
		 (unsigned int)exlb_uid, (unsigned int)exlb_uid, (unsigned int)exlb_uid);
	report(!status_field(c.pid, "Uid", val, sizeof(val)) && !strcmp(val, want),
	       "/proc/PID/status Uid: '%s' (want exlb's uid %u four times)", val, (unsigned int)exlb_uid);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned int)exlb_gid,
		 (unsigned int)exlb_gid, (unsigned int)exlb_gid, (unsigned int)exlb_gid);
	report(!status_field(c.pid, "Gid", val, sizeof(val)) && !strcmp(val, want),
	       "/proc/PID/status Gid: '%s' (want exlb's group %u four times)", val, (unsigned int)exlb_gid);
	for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		report(!status_field(c.pid, zero[i].key, val, sizeof(val)) && !strcmp(val, zero[i].want),
		       "/proc/PID/status %s: '%s' (want '%s')", zero[i].key, val, zero[i].want);
	go(&c);
	/* the worker's work, in the order work_child does it */
	fd = connect_to(&a);
	report(fd >= 0 && write(fd, "ping", 4) == 4 && read(fd, line, 4) == 4 &&
	       !memcmp(line, "ping", 4), "a client of the inherited listener got its bytes back");
	close(fd);
	report(!exlb_handover_send(sp[0], &hfd, 1, NULL, IO_TIMEOUT_S * 1000, &err),
	       "manager side: a listener sent to the sandboxed worker (%s)", err.msg);
	fd = connect_to(&b);
	report(fd >= 0 && write(fd, "pong", 4) == 4 && read(fd, line, 4) == 4 &&
	       !memcmp(line, "pong", 4), "a client of the handed-over listener got its bytes back");
	close(fd);
	cctx = SSL_CTX_new(TLS_client_method());
	ssl = cctx ? SSL_new(cctx) : NULL;
	set_timeouts(tp[0]);
	report(ssl && SSL_set_fd(ssl, tp[0]) == 1 && SSL_connect(ssl) == 1 &&
	       SSL_write(ssl, "hello", 5) == 5 && SSL_read(ssl, line, 5) == 5 &&
	       !memcmp(line, "hello", 5), "TLS client side: handshake with the sandboxed server, 'hello' echoed");
	SSL_free(ssl);
	SSL_CTX_free(cctx);
	status = finish(&c);
	describe_status(status, line, sizeof(line));
	report(WIFEXITED(status) && !WEXITSTATUS(status),
	       "the sandboxed worker ended normally (%s)", line);
	close(sp[0]);
	close(tp[0]);
	close(w.lst_inherited);
	close(lst_b);
	close(lst_rs);
	close(w.epfd);
}

/* ---- 2. forbidden system calls: killed by SIGSYS ---- */

enum forbidden {
	F_HOOK, F_EXECVE, F_MOUNT, F_FORK, F_OPENAT, F_UNIX, F_NETLINK, F_UDP,
	F_LISTEN, F_KILL, F_OWNER, F_SETUID, F_SETRLIMIT, F_I386,
};

static const char *const forbidden_name[] = {
	[F_HOOK] = "the test hook exlb_sandbox_test_violate() (ptrace)",
	[F_EXECVE] = "execve(/bin/true)",
	[F_MOUNT] = "mount(tmpfs)",
	[F_FORK] = "fork()",
	[F_OPENAT] = "open(/etc/passwd)",
	[F_UNIX] = "socket(AF_UNIX) (the control socket's family)",
	[F_NETLINK] = "socket(AF_NETLINK)",
	[F_UDP] = "socket(AF_INET, SOCK_DGRAM)",
	[F_LISTEN] = "listen() on a new socket",
	[F_KILL] = "kill(parent, 0)",
	[F_OWNER] = "fcntl(F_SETOWN, parent) (SIGIO to another process)",
	[F_SETUID] = "setuid(0) after entering",
	[F_SETRLIMIT] = "setrlimit(RLIMIT_NOFILE)",
	[F_I386] = "an i386 system call (int 0x80) on x86_64",
};

static void i386_getpid(void)
{
#ifdef __x86_64__
	long ret = 20;	/* i386 getpid */

	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
#endif
}

static void i386_probe(void *arg, int out, int gofd)
{
	(void)arg;
	(void)gofd;
	(void)out;
	/* without i386 emulation this is ASan's SEGV report: not ours to show */
	dup2(open("/dev/null", O_WRONLY | O_CLOEXEC), 2);
	i386_getpid();
}

/*
 * Whether this kernel runs i386 system calls at all (ia32_emulation): if
 * not, int 0x80 is a SIGSEGV with or without a filter.
 */
static bool have_ia32(void)
{
	struct child c;

	if (spawn(&c, i386_probe, NULL))
		return false;
	return finish(&c) == 0;
}

static void forbidden_child(void *arg, int out, int gofd)
{
	enum forbidden f = (enum forbidden)(long)arg;
	struct rlimit rl = { 16, 16 };
	struct exlb_err err;
	int fd;

	(void)gofd;
	if (exlb_sandbox_enter_worker(EXLB_WORKER_USER, &err)) {
		say(out, "not", "enter: %s", err.msg);
		return;
	}
	say(out, "E", "entered");
	switch (f) {
	case F_HOOK:
		exlb_sandbox_test_violate();
		break;
	case F_EXECVE:
		execl("/bin/true", "true", (char *)NULL);
		break;
	case F_MOUNT:
		mount("none", "/mnt", "tmpfs", 0, NULL);
		break;
	case F_FORK:
		if (!fork())
			_exit(0);
		break;
	case F_OPENAT:
		open("/etc/passwd", O_RDONLY);
		break;
	case F_UNIX:
		socket(AF_UNIX, SOCK_STREAM, 0);
		break;
	case F_NETLINK:
		socket(AF_NETLINK, SOCK_RAW, 0);
		break;
	case F_UDP:
		socket(AF_INET, SOCK_DGRAM, 0);
		break;
	case F_LISTEN:
		fd = socket(AF_INET, SOCK_STREAM, 0);
		listen(fd, 1);
		break;
	case F_KILL:
		kill(parent_pid, 0);
		break;
	case F_OWNER:
		fcntl(out, F_SETOWN, parent_pid);
		break;
	case F_SETUID:
		if (!setuid(0))
			say(out, "not", "setuid(0) succeeded");
		break;
	case F_SETRLIMIT:
		setrlimit(RLIMIT_NOFILE, &rl);
		break;
	case F_I386:
		i386_getpid();
		break;
	}
	say(out, "not", "still alive after the forbidden call");
}

static void test_forbidden(void)
{
	for (int f = F_HOOK; f <= F_I386; f++) {
		struct child c;
		char line[600] = "", how[64];
		bool entered;
		int status;

		if (f == F_I386 && !have_ia32()) {
			printf("# not checked on this kernel: %s: it runs no i386 system calls (int 0x80 is SIGSEGV without a filter)\n",
			       forbidden_name[f]);
			continue;
		}
		if (spawn(&c, forbidden_child, (void *)(long)f)) {
			report(false, "fork: %s", strerror(errno));
			return;
		}
		entered = next_line(&c, line, sizeof(line)) && !strcmp(line, "E|entered");
		if (!entered)
			report(false, "%s: the child did not enter (%s)", forbidden_name[f], line);
		status = finish(&c);
		describe_status(status, how, sizeof(how));
		report(entered && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		       "%s in the sandbox: the process is killed by SIGSYS (%s)",
		       forbidden_name[f], how);
	}
}

/* ---- 3. the directory process's filter: the worker's + reading files, DNS ---- */

/* What the directory process does (proc/sandbox.h): each must work. */
static void directory_allowed_child(void *arg, int out, int gofd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct exlb_err err;
	struct stat st;
	char buf[16];
	int fd;

	(void)arg;
	(void)gofd;
	if (exlb_sandbox_enter_directory(EXLB_WORKER_USER, &err)) {
		say(out, "not", "enter: %s", err.msg);
		return;
	}
	fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	say(out, fd >= 0 && read(fd, buf, sizeof(buf)) > 0 ? "ok" : "not",
	    "directory filter: open(/etc/passwd, O_RDONLY) and read it (%s)",
	    fd >= 0 ? "opened" : strerror(errno));
	close(fd);
	say(out, !stat("/etc/hosts", &st) ? "ok" : "not",
	    "directory filter: stat(/etc/hosts) (the resolver's change check)");
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	say(out, fd >= 0 ? "ok" : "not",
	    "directory filter: socket(AF_INET, SOCK_DGRAM) (DNS queries)");
	close(fd);
	errno = 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	say(out, fd < 0 && errno == EACCES ? "ok" : "not",
	    "directory filter: socket(AF_UNIX) refused with EACCES, not killed (glibc's nscd attempt; got %s)",
	    fd < 0 ? strerror(errno) : "a socket");
	/* /etc/hosts: files first, no packet */
	say(out, !getaddrinfo("localhost", "389", &hints, &ai) ? "ok" : "not",
	    "directory filter: getaddrinfo(localhost) (/etc/hosts)");
	if (ai)
		freeaddrinfo(ai);
}

enum dir_forbidden {
	D_WRONLY, D_RDWR, D_CREAT, D_TRUNC, D_APPEND, D_NETLINK, D_BIND,
	D_EXECVE,
};

static const char *const dir_forbidden_name[] = {
	[D_WRONLY] = "open(O_WRONLY)",
	[D_RDWR] = "open(O_RDWR)",
	[D_CREAT] = "open(O_RDONLY | O_CREAT)",
	[D_TRUNC] = "open(O_RDONLY | O_TRUNC)",
	[D_APPEND] = "open(O_RDONLY | O_APPEND)",
	[D_NETLINK] = "socket(AF_NETLINK)",
	[D_BIND] = "bind() of a UDP socket",
	[D_EXECVE] = "execve(/bin/true)",
};

static void directory_forbidden_child(void *arg, int out, int gofd)
{
	enum dir_forbidden f = (enum dir_forbidden)(long)arg;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char path[300];
	struct exlb_err err;

	(void)gofd;
	/* killed at the call, whatever the file's permissions would say */
	snprintf(path, sizeof(path), "%s/probe", tmpdir);
	if (exlb_sandbox_enter_directory(EXLB_WORKER_USER, &err)) {
		say(out, "not", "enter: %s", err.msg);
		return;
	}
	say(out, "E", "entered");
	switch (f) {
	case D_WRONLY:
		open(path, O_WRONLY);
		break;
	case D_RDWR:
		open(path, O_RDWR);
		break;
	case D_CREAT:
		open(path, O_RDONLY | O_CREAT, 0600);
		break;
	case D_TRUNC:
		open(path, O_RDONLY | O_TRUNC);
		break;
	case D_APPEND:
		open(path, O_RDONLY | O_APPEND);
		break;
	case D_NETLINK:
		socket(AF_NETLINK, SOCK_RAW, 0);
		break;
	case D_BIND:
		bind(socket(AF_INET, SOCK_DGRAM, 0), (struct sockaddr *)&sin, sizeof(sin));
		break;
	case D_EXECVE:
		execl("/bin/true", "true", (char *)NULL);
		break;
	}
	say(out, "not", "still alive after the forbidden call");
}

static void test_directory(void)
{
	char line[600];
	struct child c;
	int status;

	if (spawn(&c, directory_allowed_child, NULL)) {
		report(false, "fork: %s", strerror(errno));
		return;
	}
	status = finish(&c);	/* reports its lines */
	describe_status(status, line, sizeof(line));
	report(WIFEXITED(status) && !WEXITSTATUS(status),
	       "the sandboxed directory child ended normally (%s)", line);
	for (int f = D_WRONLY; f <= D_EXECVE; f++) {
		char how[64];
		bool entered;

		if (spawn(&c, directory_forbidden_child, (void *)(long)f)) {
			report(false, "fork: %s", strerror(errno));
			return;
		}
		entered = next_line(&c, line, sizeof(line)) && !strcmp(line, "E|entered");
		status = finish(&c);
		describe_status(status, how, sizeof(how));
		report(entered && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		       "%s in the directory sandbox: killed by SIGSYS (%s)",
		       dir_forbidden_name[f], how);
	}
}

/* ---- 4. entering fails closed ---- */

enum refusal { R_ROOT, R_OPERATORS, R_THREAD, R_UNPRIVILEGED, R_NO_USER };

static void *sleeper(void *arg)
{
	pause();
	return arg;
}

static void refusal_child(void *arg, int out, int gofd)
{
	enum refusal r = (enum refusal)(long)arg;
	const char *user = EXLB_WORKER_USER;
	struct exlb_err err = { "" };
	pthread_t t;
	int rc;
	uid_t before;

	(void)gofd;
	switch (r) {
	case R_ROOT:
		user = "root";
		break;
	case R_OPERATORS:
		user = OP_USER;
		break;
	case R_THREAD:
		pthread_create(&t, NULL, sleeper, NULL);
		break;
	case R_UNPRIVILEGED:
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			say(out, "not", "cannot drop to nobody first");
		break;
	case R_NO_USER:
		user = "exlb-no-such-user";
		break;
	}
	before = geteuid();
	rc = exlb_sandbox_enter_worker(user, &err);
	say(out, rc == -1 && geteuid() == before && prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0 ? "ok" : "not",
	    "%s: refused (%d, '%s'), euid still %u, no seccomp filter",
	    r == R_ROOT ? "user root" : r == R_OPERATORS ? "a user in group " EXLB_GROUP " (the control socket's)" :
	    r == R_THREAD ? "a second thread running" : r == R_UNPRIVILEGED ? "an unprivileged caller (uid nobody)" :
	    "a missing user", rc, err.msg, (unsigned int)geteuid());
}

static void test_refusals(void)
{
	for (int r = R_ROOT; r <= R_NO_USER; r++) {
		struct child c;

		if (spawn(&c, refusal_child, (void *)(long)r)) {
			report(false, "fork: %s", strerror(errno));
			return;
		}
		finish(&c);
	}
}

int main(void)
{
	const char *why;
	char ulp[256] = "";
	FILE *f;

	if (geteuid()) {
		printf("1..0 # SKIP not root: the sandbox switches users (run as root)\n");
		return 0;
	}
	why = setup_users();
	if (why) {
		printf("1..0 # SKIP %s\n", why);
		return 0;
	}
	f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
	if (f && fgets(ulp, sizeof(ulp), f))
		have_ktls = strstr(ulp, "tls") != NULL;
	if (f)
		fclose(f);
	/*
	 * What a worker does before entering: OpenSSL's configuration, the
	 * time zone, jansson's hash seed (from /dev/urandom) are read now.
	 */
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
	tzset();
	json_object_seed(0);
	parent_pid = getpid();
	signal(SIGPIPE, SIG_IGN);
	if (make_cert()) {
		report(false, "a test certificate");
		return 1;
	}
	test_work();
	test_forbidden();
	test_directory();
	test_refusals();
	umount("/etc/passwd");
	umount("/etc/group");
	for (const char *n = "passwd"; n; n = strcmp(n, "passwd") ? NULL : "group") {
		char p[256];

		snprintf(p, sizeof(p), "%s/%s", tmpdir, n);
		unlink(p);
	}
	rmdir(tmpdir);
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
