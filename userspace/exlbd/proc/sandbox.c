// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The worker sandbox (sandbox.h): identity, capabilities, no_new_privs and
 * the seccomp filter, entered once, failing closed at every step.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/securebits.h>
#include <seccomp.h>

#include "sandbox.h"

/* Threads of this process, from /proc/self/task; -1 if unreadable. */
static int nr_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The user's ids; refuses root's and the operators' group. */
static int worker_ids(const char *user, uid_t *uid, gid_t *gid,
		      struct exlb_err *err)
{
	struct passwd *pw;
	struct group *gr;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		exlb_err_set(err, "sandbox: no user %s%s%s", user,
			     errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (!*uid || !*gid) {
		exlb_err_set(err, "sandbox: user %s has uid %u gid %u: a worker never runs as root",
			     user, (unsigned int)*uid, (unsigned int)*gid);
		return -1;
	}
	gr = getgrnam(EXLB_GROUP);
	if (gr && gr->gr_gid == *gid) {
		exlb_err_set(err, "sandbox: user %s's group is %s (gid %u), which opens the control socket; give it a group of its own",
			     user, EXLB_GROUP, (unsigned int)*gid);
		return -1;
	}
	return 0;
}

static int capset_all(__u32 value)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		data[i].effective = data[i].permitted = data[i].inheritable = value;
	return (int)syscall(SYS_capset, &hdr, data);
}

/* Whether every capability set of this thread is empty. */
static bool caps_empty(struct exlb_err *err)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data)) {
		exlb_err_set(err, "sandbox: capget: %s", strerror(errno));
		return false;
	}
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable) {
			exlb_err_set(err, "sandbox: capabilities left after the drop");
			return false;
		}
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) {
			exlb_err_set(err, "sandbox: capability %d left in the bounding set", cap);
			return false;
		}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_ADMIN, 0, 0) > 0) {
		exlb_err_set(err, "sandbox: ambient capabilities left");
		return false;
	}
	return true;
}

/* Steps 2 and 3: securebits, the bounding and ambient sets. */
static int drop_caps_for_good(struct exlb_err *err)
{
	int cap;

	if (prctl(PR_SET_SECUREBITS,
		  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
		  SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
		  SECBIT_NO_CAP_AMBIENT_RAISE |
		  SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, 0, 0, 0)) {
		exlb_err_set(err, "sandbox: securebits: %s", strerror(errno));
		return -1;
	}
	for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)) {
			exlb_err_set(err, "sandbox: dropping capability %d from the bounding set: %s",
				     cap, strerror(errno));
			return -1;
		}
	if (cap < 32) {
		exlb_err_set(err, "sandbox: only %d capabilities in the bounding set?", cap);
		return -1;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) {
		exlb_err_set(err, "sandbox: clearing the ambient set: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Steps 4 and 5: become @uid/@gid with no groups, and check it holds. */
static int become(uid_t uid, gid_t gid, struct exlb_err *err)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid)) {
		exlb_err_set(err, "sandbox: switching to uid %u gid %u: %s",
			     (unsigned int)uid, (unsigned int)gid, strerror(errno));
		return -1;
	}
	if (capset_all(0)) {
		exlb_err_set(err, "sandbox: capset: %s", strerror(errno));
		return -1;
	}
	if (getresuid(&r, &e, &s) || r != uid || e != uid || s != uid ||
	    getresgid(&rg, &eg, &sg) || rg != gid || eg != gid || sg != gid ||
	    getgroups(0, NULL) != 0) {
		exlb_err_set(err, "sandbox: the ids did not change as asked");
		return -1;
	}
	if (!setuid(0) || !setgid(0) || !setresuid(-1, 0, -1)) {
		exlb_err_set(err, "sandbox: could become root again");
		return -1;
	}
	return caps_empty(err) ? 0 : -1;
}

/* A rule whose failure is the caller's error (a too-wide filter is not built). */
static int allow(scmp_filter_ctx ctx, int nr, unsigned int n,
		 const struct scmp_arg_cmp *cmp)
{
	if (nr < 0)	/* not a system call of this architecture */
		return 0;
	return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp);
}

static const int worker_syscalls[] = {
	/* the event loop */
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_pwait2),
	SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_create1), SCMP_SYS(eventfd2),
	SCMP_SYS(poll), SCMP_SYS(ppoll),
	/* I/O on descriptors it holds */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg), SCMP_SYS(splice), SCMP_SYS(pipe2), SCMP_SYS(lseek),
	SCMP_SYS(close), SCMP_SYS(shutdown), SCMP_SYS(fstat),
	/* sockets: connections to real servers, accepted clients, kTLS */
	SCMP_SYS(connect), SCMP_SYS(accept), SCMP_SYS(accept4),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(getsockname),
	SCMP_SYS(getpeername),
	/* memory */
	SCMP_SYS(mmap), SCMP_SYS(mprotect), SCMP_SYS(munmap), SCMP_SYS(mremap),
	SCMP_SYS(madvise), SCMP_SYS(brk),
	/* threads, without fork */
	SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity), SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	/* signals to itself */
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
	SCMP_SYS(restart_syscall),
	/* time, randomness, who am I */
	SCMP_SYS(getrandom), SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid),
	SCMP_SYS(getegid), SCMP_SYS(getresuid), SCMP_SYS(getresgid),
	SCMP_SYS(getgroups), SCMP_SYS(getrlimit),
	/* libev's ev_loop_new() reads the kernel's version (the workers' loops) */
	SCMP_SYS(uname),
};

/* Not F_SETOWN or F_SETSIG: SIGIO to another process of the same user. */
static const int worker_fcntls[] = {
	F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC,
};

static const int worker_prctls[] = {
	PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ, PR_GET_DUMPABLE,
	PR_SET_NAME, PR_GET_NAME,
};

/* The rules with arguments (sandbox.h says why each is narrowed). */
static int worker_arg_rules(scmp_filter_ctx ctx)
{
	static const int families[] = { AF_INET, AF_INET6 };
	int rc = 0;

	for (size_t i = 0; !rc && i < sizeof(families) / sizeof(families[0]); i++) {
		struct scmp_arg_cmp c[] = {
			SCMP_A0(SCMP_CMP_EQ, families[i]),
			SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM),
		};

		rc = allow(ctx, SCMP_SYS(socket), 2, c);
	}
	for (size_t i = 0; !rc && i < sizeof(worker_prctls) / sizeof(worker_prctls[0]); i++) {
		struct scmp_arg_cmp c[] = { SCMP_A0(SCMP_CMP_EQ, worker_prctls[i]) };

		rc = allow(ctx, SCMP_SYS(prctl), 1, c);
	}
	for (size_t i = 0; !rc && i < sizeof(worker_fcntls) / sizeof(worker_fcntls[0]); i++) {
		struct scmp_arg_cmp c[] = { SCMP_A1(SCMP_CMP_EQ, worker_fcntls[i]) };

		rc = allow(ctx, SCMP_SYS(fcntl), 1, c);
	}
	if (!rc) {	/* isatty(): stdio, buffering a FILE on a character device */
		struct scmp_arg_cmp c[] = { SCMP_A1(SCMP_CMP_EQ, TCGETS) };

		rc = allow(ctx, SCMP_SYS(ioctl), 1, c);
	}
	if (!rc) {
		struct scmp_arg_cmp c[] = {
			SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD),
		};

		rc = allow(ctx, SCMP_SYS(clone), 1, c);
	}
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (!rc) {
		struct scmp_arg_cmp c[] = { SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()) };

		rc = allow(ctx, SCMP_SYS(tgkill), 1, c);
	}
	if (!rc) {
		struct scmp_arg_cmp c[] = { SCMP_A2(SCMP_CMP_EQ, 0) };

		rc = allow(ctx, SCMP_SYS(prlimit64), 1, c);
	}
	if (!rc) {
		struct scmp_arg_cmp c[] = {
			SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH),
		};

		rc = allow(ctx, SCMP_SYS(newfstatat), 1, c);
	}
	return rc;
}

/*
 * The directory process's additions (sandbox.h says why each): files
 * read-only, the resolver's UDP sockets.
 */
static const int directory_syscalls[] = {
	SCMP_SYS(sendmmsg),	/* the resolver: the A and AAAA queries at once */
};

static int directory_arg_rules(scmp_filter_ctx ctx)
{
	static const int families[] = { AF_INET, AF_INET6 };
	int rc = 0;

	for (size_t i = 0; !rc && i < sizeof(families) / sizeof(families[0]); i++) {
		struct scmp_arg_cmp c[] = {
			SCMP_A0(SCMP_CMP_EQ, families[i]),
			SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_DGRAM),
		};

		rc = allow(ctx, SCMP_SYS(socket), 2, c);
	}
	if (!rc) {
		/*
		 * glibc's getaddrinfo() asks nscd first (a unix socket), every
		 * 100th lookup again after a failure: refused, not killed, it
		 * then reads the files and asks DNS itself.
		 */
		struct scmp_arg_cmp c[] = { SCMP_A0(SCMP_CMP_EQ, AF_UNIX) };

		rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EACCES),
					    SCMP_SYS(socket), 1, c);
	}
	if (!rc) {	/* read-only: no write access, no create, truncate, append */
		struct scmp_arg_cmp c[] = {
			SCMP_A2(SCMP_CMP_MASKED_EQ,
				O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | __O_TMPFILE,
				O_RDONLY),
		};

		rc = allow(ctx, SCMP_SYS(openat), 1, c);
	}
	if (!rc) {	/* the resolver: bytes waiting on its UDP socket */
		struct scmp_arg_cmp c[] = { SCMP_A1(SCMP_CMP_EQ, FIONREAD) };

		rc = allow(ctx, SCMP_SYS(ioctl), 1, c);
	}
	if (!rc) {	/* stat() of /etc/resolv.conf and the like: has it changed */
		struct scmp_arg_cmp c[] = {
			SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, 0),
		};

		rc = allow(ctx, SCMP_SYS(newfstatat), 1, c);
	}
	for (size_t i = 0; !rc && i < sizeof(directory_syscalls) / sizeof(directory_syscalls[0]); i++)
		rc = allow(ctx, directory_syscalls[i], 0, NULL);
	return rc;
}

/* Step 7. */
static int load_filter(bool directory, struct exlb_err *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc;

	if (!ctx) {
		exlb_err_set(err, "sandbox: seccomp_init failed");
		return -1;
	}
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (size_t i = 0; !rc && i < sizeof(worker_syscalls) / sizeof(worker_syscalls[0]); i++)
		rc = allow(ctx, worker_syscalls[i], 0, NULL);
	if (!rc)
		rc = worker_arg_rules(ctx);
	if (!rc && directory)
		rc = directory_arg_rules(ctx);
	if (!rc)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc) {
		exlb_err_set(err, "sandbox: seccomp filter: %s", strerror(-rc));
		return -1;
	}
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2) {
		exlb_err_set(err, "sandbox: the seccomp filter is not in force");
		return -1;
	}
	return 0;
}

static int enter(const char *user, bool directory, struct exlb_err *err)
{
	int threads = nr_threads();
	uid_t uid;
	gid_t gid;

	if (threads != 1) {
		exlb_err_set(err, "sandbox: %d threads: enter it before starting any", threads);
		return -1;
	}
	if (worker_ids(user, &uid, &gid, err) || drop_caps_for_good(err) ||
	    become(uid, gid, err))
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		exlb_err_set(err, "sandbox: no_new_privs: %s", strerror(errno));
		return -1;
	}
	return load_filter(directory, err);
}

int exlb_sandbox_enter_worker(const char *user, struct exlb_err *err)
{
	return enter(user, false, err);
}

int exlb_sandbox_enter_directory(const char *user, struct exlb_err *err)
{
	return enter(user, true, err);
}

#ifdef EXLB_TEST_HOOKS
void exlb_sandbox_test_violate(void)
{
	syscall(SYS_ptrace, PTRACE_TRACEME, 0, NULL, NULL);
}
#endif
