// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What the worker's seccomp filter costs per system call: the same calls
 * timed in two processes on one CPU taking turns, one outside and one
 * inside exlbd's worker sandbox (exlbd/proc/sandbox.c, the real filter). Run by bench/sandbox-cost.sh,
 * which multiplies the difference by the system calls a handshake or a
 * request makes (bench/https.sh --perf counts them).
 *
 * Usage: sandbox_cost USER CALLS ROUNDS
 * Prints one line per call and process: "<call> <before|after> ns=<median>
 * min=.. max=.." (ROUNDS rounds of CALLS calls each; before: outside the
 * sandbox, after: inside).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "proc/sandbox.h"

static int sv[2], null_fd;

/* The calls a TLS handshake through the worker makes most (--perf). */
static void call_getpid(void) { syscall(SYS_getpid); }
static void call_write(void) { (void)!write(null_fd, "x", 1); }
static void call_recvfrom(void)
{
	char c;

	(void)!recvfrom(sv[0], &c, 1, MSG_DONTWAIT, NULL, NULL);	/* EAGAIN */
}

static const struct {
	const char *name;
	void (*fn)(void);
} calls[] = {
	{ "getpid", call_getpid },
	{ "write", call_write },
	{ "recvfrom", call_recvfrom },
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One round of @n calls of calls[c]: ns per call. */
static double round_ns(size_t c, long n)
{
	double t0 = now_ns();

	for (long i = 0; i < n; i++)
		calls[c].fn();
	return (now_ns() - t0) / n;
}

static void report(const char *phase, size_t c, double *ns, int rounds)
{
	qsort(ns, rounds, sizeof(ns[0]), cmp_double);
	printf("%s %s ns=%.1f min=%.1f max=%.1f\n", calls[c].name, phase,
	       ns[rounds / 2], ns[0], ns[rounds - 1]);
	fflush(stdout);
}

/* Pass the turn over @fd and wait for it to come back. */
static int turn(int fd)
{
	char t = 't';

	return write(fd, &t, 1) == 1 && read(fd, &t, 1) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct exlb_err err = { { 0 } };
	double before[64], after[64];
	int rounds, token[2], status;
	cpu_set_t one;
	long n;
	pid_t pid;

	if (argc != 4 || (n = atol(argv[2])) <= 0 ||
	    (rounds = atoi(argv[3])) <= 0 || rounds > 64) {
		fprintf(stderr, "usage: sandbox_cost USER CALLS ROUNDS(1-64)\n");
		return 2;
	}
	/*
	 * Both processes on one CPU, taking turns round by round: whatever
	 * else the machine does falls on both alike.
	 */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, token) ||
	    sched_setaffinity(0, sizeof(one), &one)) {
		perror("sandbox_cost");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("sandbox_cost: fork");
		return 1;
	}
	if (pid == 0) {		/* the sandboxed one: measures when its turn comes */
		char t;

		close(token[0]);
		if (exlb_sandbox_enter_worker(argv[1], &err)) {
			fprintf(stderr, "sandbox_cost: %s\n", err.msg);
			_exit(1);
		}
		for (size_t c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
			for (int r = 0; r < rounds; r++) {
				if (read(token[1], &t, 1) != 1)
					_exit(1);
				after[r] = round_ns(c, n);
				if (write(token[1], &t, 1) != 1)
					_exit(1);
			}
			report("after", c, after, rounds);
		}
		_exit(0);
	}
	close(token[1]);
	for (size_t c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
		for (int r = 0; r < rounds; r++) {
			before[r] = round_ns(c, n);
			if (turn(token[0])) {
				fprintf(stderr, "sandbox_cost: the sandboxed process is gone\n");
				return 1;
			}
		}
		report("before", c, before, rounds);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "sandbox_cost: the sandboxed process failed\n");
		return 1;
	}
	return 0;
}
