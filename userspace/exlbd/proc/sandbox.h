/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The sandbox an exlbd worker process enters once it holds its descriptors
 * (privilege separation, docs/privsep.md): the one place that drops
 * privileges, for the L7 worker process (proc/worker.c) and the directory
 * process (proc/directory.c).
 *
 * exlb_sandbox_enter_worker(user) does, in this order, and fails closed
 * (returns -1 with @err set; the caller must then exit, the process being
 * half-dropped):
 *   1. refuses unless the process is single-threaded (NO_NEW_PRIVS, the
 *      bounding set and seccomp are per thread; threads started afterwards
 *      inherit all of it) and @user is a user whose uid and primary gid
 *      are not 0 and whose gid is not group exlb (EXLB_GROUP: that group
 *      opens the control socket, i.e. reconfigures the balancer);
 *   2. securebits: NOROOT, NO_CAP_AMBIENT_RAISE, and KEEP_CAPS and
 *      NO_SETUID_FIXUP off, all locked;
 *   3. drops every capability from the bounding set, clears the ambient set;
 *   4. setgroups(0), setresgid(gid x3), setresuid(uid x3) — the kernel then
 *      clears the permitted and effective sets and makes the process
 *      non-dumpable; capset() clears the inheritable set;
 *   5. verifies: real/effective/saved ids and no groups, setuid(0) and
 *      setgid(0) refused, every capability set empty;
 *   6. PR_SET_NO_NEW_PRIVS;
 *   7. loads the seccomp filter below (libseccomp), default action
 *      SCMP_ACT_KILL_PROCESS, also for a foreign architecture (i386 or x32
 *      system calls on x86_64).
 *
 * What the filter allows: what an epoll/libev + OpenSSL + kTLS + splice
 * worker needs once it runs, derived from l7/ and checked against strace
 * -f -ff of exlbd's two worker threads through userspace/tests/
 * exlbd-https.sh (recvfrom, write, epoll_wait, read, sendto, prlimit64 to
 * read, getpid -- OpenSSL's fork check --, setsockopt TCP_NODELAY and
 * TCP_ULP, epoll_ctl, accept4, close, socket, getsockopt, connect,
 * mprotect, mmap, munmap, rt_sigprocmask, shutdown, futex, clone3,
 * set_robust_list, rseq; and, left out on purpose, bind and listen -- a
 * worker binding its own listener -- and openat of /proc/self/task/N/comm
 * -- naming the ESP directory threads --, both the manager's in
 * docs/privsep.md):
 *   event loop   epoll_wait, epoll_pwait, epoll_pwait2, epoll_ctl,
 *                epoll_create1, eventfd2 (ev_async), poll, ppoll
 *   I/O          read, write, readv, writev, recvfrom, sendto, recvmsg,
 *                sendmsg (kTLS record types, SCM_RIGHTS from the manager),
 *                splice, pipe2 (the relay's splice pipes), lseek, close,
 *                shutdown, fstat, newfstatat with AT_EMPTY_PATH, ioctl
 *                only TCGETS (isatty(): glibc's stdio asks it when it
 *                buffers the access log on a character device such as
 *                /dev/null or a terminal), fcntl
 *                only F_GETFD/F_SETFD/F_GETFL/F_SETFL/F_DUPFD_CLOEXEC (not
 *                F_SETOWN: SIGIO to another worker, same uid, kills it)
 *   sockets      socket only for AF_INET/AF_INET6 SOCK_STREAM (connections
 *                to real servers); connect, accept, accept4, setsockopt
 *                (TCP_ULP "tls", SOL_TLS), getsockopt, getsockname,
 *                getpeername. Not bind or listen: the manager binds.
 *   memory       mmap, mprotect (PCRE2's JIT), munmap, mremap, madvise
 *                (malloc_trim), brk
 *   threads      clone only with CLONE_THREAD (no fork), clone3 answered
 *                ENOSYS (glibc falls back to clone, whose flags a filter
 *                can see), futex, set_robust_list, rseq, sched_yield,
 *                sched_getaffinity (ASan's pthread_create), exit,
 *                exit_group, tgkill only to itself (abort, raise)
 *   signals      rt_sigaction, rt_sigprocmask, rt_sigreturn, sigaltstack,
 *                restart_syscall
 *   other        getrandom (OpenSSL), clock_gettime, clock_getres,
 *                gettimeofday, time, nanosleep, clock_nanosleep, getpid,
 *                gettid, getuid, geteuid, getgid, getegid, getresuid,
 *                getresgid, getgroups, uname (libev's ev_loop_new() asks
 *                the kernel's version), getrlimit and prlimit64 only to
 *                read (new limit NULL), prctl only PR_GET_SECCOMP,
 *                PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ, PR_GET_DUMPABLE,
 *                PR_SET_NAME, PR_GET_NAME
 * The directory process (exlb_sandbox_enter_directory) runs libldap,
 * OpenSSL and glibc's resolver on its directory threads; its filter is the
 * worker's plus what strace -f -ff of it showed during the logons of
 * userspace/tests/exlbd-esp-privsep.sh (plain LDAP to servers by name, one
 * NXDOMAIN and one answered by a DNS server; LDAPS with a CA file):
 *   openat       only read-only: flags with O_ACCMODE == O_RDONLY and none
 *                of O_CREAT, O_TRUNC, O_APPEND, O_TMPFILE (glibc's resolver
 *                reads /etc/hosts at each lookup, libldap the domain's
 *                ldap_ca at each TLS connection; it can read what the
 *                worker user may read, write nothing)
 *   newfstatat   also by path (the resolver checks whether
 *                /etc/nsswitch.conf and /etc/resolv.conf changed)
 *   socket       also AF_INET/AF_INET6 SOCK_DGRAM (DNS queries), with
 *                sendmmsg (A and AAAA in one call), ioctl FIONREAD (the
 *                answer's size), recvfrom and connect as the worker's
 *   socket       AF_UNIX refused with EACCES, not killed: glibc's
 *                getaddrinfo() first asks nscd over a unix socket (and
 *                again every 100th lookup after a failure; test_sandbox's
 *                getaddrinfo() shows it), then reads the files itself
 * Not needed, so not allowed: AF_NETLINK (libldap's getaddrinfo() does not
 * ask AI_ADDRCONFIG here), bind, listen. libldap's global initialisation
 * (ldap.conf, the host name) runs before the filter; the directory
 * threads name themselves by prctl (pthread_setname_np() from another
 * thread opens /proc/self/task/N/comm for writing).
 *
 * Everything else kills the process: among others open/openat (a worker
 * reads no file: OpenSSL's configuration, the time zone and jansson's hash
 * seed are read before, certificates come as bytes; an ASan report, which
 * reads /proc/self/maps, is cut short by SIGSYS), execve, fork, ptrace,
 * process_vm_readv, mount, kill, every set*id, socket(AF_UNIX, AF_NETLINK,
 * AF_PACKET), bind, listen, unshare, bpf, keyctl, io_uring.
 */
#ifndef EXLB_SANDBOX_H
#define EXLB_SANDBOX_H

#include "config/config.h"

/* The user workers run as (docs/privsep.md "The worker's identity"). */
#define EXLB_WORKER_USER	"exlb"

/*
 * Enters the worker sandbox as @user (EXLB_WORKER_USER in exlbd). Call it
 * after the descriptors the worker needs were received, with OpenSSL
 * initialised (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG)), tzset() and
 * json_object_seed(0) done, before any thread is started. 0, or -1
 * with @err set ("sandbox: ..."): then exit, never carry on.
 */
int exlb_sandbox_enter_worker(const char *user, struct exlb_err *err);

/*
 * The same steps for the directory process (proc/directory.c), with the
 * worker's filter and the directory additions above.
 */
int exlb_sandbox_enter_directory(const char *user, struct exlb_err *err);

#ifdef EXLB_TEST_HOOKS
/*
 * Test builds only: what a worker compromised into calling a forbidden
 * system call does (ptrace(PTRACE_TRACEME)); in the sandbox the process
 * dies by SIGSYS. Returns only outside the sandbox.
 */
void exlb_sandbox_test_violate(void);
#endif

#endif
