/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * exlbctl's one way to get a secret (password.c): the first line of a
 * password file, of standard input ("-"), or typed on the terminal without
 * echo. Never from argv. Used by `cert add` (.pfx, encrypted keys) and
 * `admin user add`.
 */
#ifndef EXLBCTL_PASSWORD_H
#define EXLBCTL_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define EXLBCTL_PASSWORD_MAX	1024	/* bytes, as exlbd's EXLB_PASSWORD_MAX */

struct exlbctl_password {
	char text[EXLBCTL_PASSWORD_MAX + 1];	/* NUL-terminated */
};

struct exlbctl_password_source {
	const char *file;	/* password-file: a path, "-" = stdin; NULL = ask */
	const char *label;	/* "Password for LABEL: " on the terminal */
	const char *need;	/* why one is needed, for "no terminal" */
	bool confirm;		/* a new password: asked twice, both must match */
};

/*
 * Fills @pw from @src: a line ends at its newline (a CR before it is
 * dropped); an empty one, or one longer than EXLBCTL_PASSWORD_MAX, is
 * refused. 0, or -1 with one line in @err naming the source ("password-file
 * F: ...", "standard input: ...", "terminal: ..."); @pw is wiped then.
 */
int exlbctl_password_read(struct exlbctl_password *pw,
			  const struct exlbctl_password_source *src,
			  char *err, size_t err_size);
void exlbctl_password_wipe(struct exlbctl_password *pw);

#endif
