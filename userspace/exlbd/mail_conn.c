// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * STARTTLS for SMTP, IMAP and POP3 (VStype tls). Placeholder until the mail
 * proxy lands: such a VS is listened on and every connection is refused.
 */
#include <unistd.h>

#include "proxy_int.h"

void l7_mail_accept(struct l7_worker *w, int fd, struct l7_vs *vs,
		    const struct sockaddr_storage *peer)
{
	(void)w;
	(void)vs;
	(void)peer;
	close(fd);
}

void l7_mail_sweep(struct l7_worker *w, ev_tstamp now)
{
	(void)w;
	(void)now;
}

void l7_mail_close_all(struct l7_worker *w)
{
	(void)w;
}
