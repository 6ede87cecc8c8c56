/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The files of `exlbctl cert add` to the PEM text exlbd takes (certfile.c):
 * PEM, PKCS#12 (.pfx/.p12) and encrypted PEM keys, the password from
 * password.h.
 */
#ifndef EXLBCTL_CERTFILE_H
#define EXLBCTL_CERTFILE_H

#include <stdbool.h>
#include <stddef.h>

#define EXLBCTL_CERT_MAX	(1 << 20)	/* as exlbd's EXLB_CERT_MAX_PEM */

struct exlbctl_cert_text {
	char *cert_pem;		/* the leaf, then its chain in issuing order */
	char *key_pem;		/* unencrypted PEM */
};

/*
 * @cert_path is PEM (then @key_path is its key, PEM, maybe encrypted) or
 * PKCS#12 (then @key_path is NULL). @password_file: its first line is the
 * password, "-" = standard input's; NULL: asked on the terminal when a
 * file is encrypted (password.h). 0, or -1 with one line in @err ("wrong
 * password for FILE", ...).
 */
int exlbctl_cert_read(const char *cert_path, const char *key_path,
		      const char *password_file, struct exlbctl_cert_text *out,
		      char *err, size_t err_size);
void exlbctl_cert_text_free(struct exlbctl_cert_text *t);

#endif
