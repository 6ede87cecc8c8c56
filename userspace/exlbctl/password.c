// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * exlbctl's one reader of secrets: the first line of password-file FILE, of
 * standard input (password-file -), or, without password-file, typed on
 * the terminal with echo off (asked twice for a new password). Never from
 * argv: every user can read a process's arguments.
 *
 * The prompt uses /dev/tty, not stdin: stdin may carry a document or be
 * redirected by a script, and the prompt must reach the person, not a log
 * that stderr goes to. Without a controlling terminal (cron, a unit,
 * ssh without -t) it is refused, naming password-file. Lines are read with
 * read(2), a byte at a time: no stdio buffer keeps a copy that
 * explicit_bzero() cannot reach, and nothing past the newline is taken
 * from standard input.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "password.h"

#define STR(x)	#x
#define XSTR(x)	STR(x)
#define TOO_LONG "password longer than " XSTR(EXLBCTL_PASSWORD_MAX) " bytes"

/* Every error is one line: where the password was to come from, and why not. */
static int refuse(char *err, size_t n, const char *source, const char *why)
{
	snprintf(err, n, "%s: %s", source, why);
	return -1;
}

void exlbctl_password_wipe(struct exlbctl_password *pw)
{
	explicit_bzero(pw->text, sizeof(pw->text));
}

/* One line of @fd into @pw; @source names it in errors. */
static int read_line(int fd, struct exlbctl_password *pw, const char *source,
		     char *err, size_t n)
{
	char line[EXLBCTL_PASSWORD_MAX + 1];	/* and a CR before the newline */
	size_t len = 0;
	bool any = false;
	int rc = -1;
	char c = 0;

	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			refuse(err, n, source, strerror(errno));
			goto out;
		}
		if (!r || c == '\n')
			break;
		any = true;
		if (len == sizeof(line)) {
			refuse(err, n, source, TOO_LONG);
			goto out;
		}
		line[len++] = c;
	}
	if (len && line[len - 1] == '\r')
		len--;
	if (!len) {
		refuse(err, n, source, any || c == '\n' ? "empty password" :
		       "no password (nothing to read)");
	} else if (len > EXLBCTL_PASSWORD_MAX) {
		refuse(err, n, source, TOO_LONG);
	} else if (memchr(line, 0, len)) {
		/* it would be cut there without a word */
		refuse(err, n, source, "a NUL byte in the password");
	} else {
		memcpy(pw->text, line, len);
		pw->text[len] = 0;
		rc = 0;
	}
out:
	explicit_bzero(line, sizeof(line));
	explicit_bzero(&c, sizeof(c));
	return rc;
}

/*
 * Echo stays off only while we read: a signal that ends exlbctl (^C,
 * ^\, a hangup, kill) turns it back on first, then ends it as it would
 * have.
 */
static const int quiet_signals[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP };
static volatile sig_atomic_t quiet_fd = -1;
static struct termios quiet_saved;

static void restore_and_die(int sig)
{
	if (quiet_fd >= 0)
		tcsetattr(quiet_fd, TCSAFLUSH, &quiet_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void quiet_signals_set(struct sigaction *old, bool on)
{
	struct sigaction sa = { .sa_handler = restore_and_die };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(quiet_signals) / sizeof(quiet_signals[0]); i++)
		sigaction(quiet_signals[i], on ? &sa : &old[i], on ? &old[i] : NULL);
}

static int ask_quietly(int fd, struct exlbctl_password *pw,
		       const struct exlbctl_password_source *src,
		       char *err, size_t n)
{
	struct exlbctl_password again;
	struct termios quiet, now;
	int rc;

	quiet = quiet_saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	/* echo off before the prompt, and checked: never ask with echo on */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) || tcgetattr(fd, &now) ||
	    (now.c_lflag & ECHO))
		return refuse(err, n, "terminal", "cannot turn echo off");
	dprintf(fd, "Password for %s: ", src->label);
	rc = read_line(fd, pw, "terminal", err, n);
	if (!rc && src->confirm) {
		dprintf(fd, "Again: ");
		rc = read_line(fd, &again, "terminal", err, n);
		if (!rc && strcmp(pw->text, again.text))
			rc = refuse(err, n, "terminal", "the passwords differ");
		exlbctl_password_wipe(&again);
	}
	return rc;
}

static int ask(struct exlbctl_password *pw,
	       const struct exlbctl_password_source *src, char *err, size_t n)
{
	struct sigaction old[sizeof(quiet_signals) / sizeof(quiet_signals[0])];
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	int rc;

	if (fd < 0 || tcgetattr(fd, &quiet_saved)) {
		if (fd >= 0)
			close(fd);
		return refuse(err, n, src->need, "give password-file FILE (- = "
			      "standard input): no terminal to ask on");
	}
	quiet_signals_set(old, true);
	quiet_fd = fd;
	rc = ask_quietly(fd, pw, src, err, n);
	/* TCSAFLUSH: the rest of an over-long line is not left to the shell */
	tcsetattr(fd, TCSAFLUSH, &quiet_saved);
	quiet_fd = -1;
	quiet_signals_set(old, false);
	close(fd);
	return rc;
}

int exlbctl_password_read(struct exlbctl_password *pw,
			  const struct exlbctl_password_source *src,
			  char *err, size_t err_size)
{
	char source[PATH_MAX + 32];
	int fd, rc;

	exlbctl_password_wipe(pw);
	if (!src->file) {
		rc = ask(pw, src, err, err_size);
	} else if (!strcmp(src->file, "-")) {
		rc = read_line(STDIN_FILENO, pw, "password-file - (standard input)",
			       err, err_size);
	} else {
		snprintf(source, sizeof(source), "password-file %s", src->file);
		fd = open(src->file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return refuse(err, err_size, source, strerror(errno));
		rc = read_line(fd, pw, source, err, err_size);
		close(fd);
	}
	if (rc)
		exlbctl_password_wipe(pw);
	return rc;
}
