/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Handing a TLS session's record layer to the kernel (kTLS) after OpenSSL
 * has done the handshake.
 *
 * Why not SSL_OP_ENABLE_KTLS: Debian 12's OpenSSL 3.0 is built without
 * kTLS (`openssl s_server -help` has no -ktls; the library never sets the
 * "tls" ULP), so the option does nothing. exlbd installs the keys itself:
 * it derives the traffic keys the way RFC 5246 (TLS 1.2: the PRF key
 * block from the master secret) and RFC 8446 (TLS 1.3: HKDF-Expand-Label
 * from the application traffic secret, which OpenSSL hands out through
 * its key-log callback) say, and gives them to the kernel with
 * setsockopt(SOL_TLS). Only AES-GCM (128 and 256) is installed; other
 * ciphers stay in userspace.
 *
 * Both directions, TLS 1.2 and 1.3 (OpenSSL 3.0's own kTLS would receive
 * TLS 1.3 in userspace; the kernel has done it since 5.x). A TLS 1.3
 * KeyUpdate from a client then arrives as a non-data record and ends the
 * connection: rare in practice, and the client reconnects. Once the kernel
 * sends, OpenSSL must never write to the socket again: its write BIO is
 * replaced by a null one, and close_notify goes out as a kernel record
 * (exlb_ktls_send_close_notify()). Once the kernel receives, reads use
 * recvmsg() (exlb_ktls_recv()), which reports non-data records. With both
 * directions in the kernel the OpenSSL session is freed: an idle kTLS
 * connection costs the proxy almost nothing.
 *
 * TLS 1.3 record numbers: the server's session tickets are its first
 * records under the application keys, so the contexts send none at the
 * end of the handshake (SSL_CTX_set_num_tickets(ctx, 0), tls.c) and
 * exlb_ktls_after_handshake() sends EXLB_KTLS_TICKETS itself: the kernel
 * then starts at that sequence number, known for certain.
 */
#ifndef EXLB_KTLS_H
#define EXLB_KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#define EXLB_KTLS_TICKETS	2	/* TLS 1.3 tickets per full handshake */

/* Once, before any handshake: the ex_data slot for key-log secrets. */
int exlb_ktls_init(void);
/* For every server SSL_CTX (tls.c): keeps TLS 1.3 traffic secrets. */
void exlb_ktls_keylog_cb(const SSL *ssl, const char *line);

/*
 * After a server handshake: sends the TLS 1.3 session tickets, then, when
 * @want_ktls, installs kTLS where it applies. *tx / *rx say what the
 * kernel took. -1 only if the tickets could not be sent (the connection
 * is unusable); a kernel without kTLS is not an error.
 */
int exlb_ktls_after_handshake(SSL *ssl, int fd, bool want_ktls, bool *tx,
			      bool *rx);

/*
 * The kernel said it has no "tls" ULP a short while ago: a handshake
 * starting now will not end in kTLS (its reads may run ahead from the
 * start).
 */
bool exlb_ktls_ulp_missing(void);

/* recv() on a kTLS receive socket: > 0 data, 0 EOF/close_notify, -errno. */
ssize_t exlb_ktls_recv(int fd, void *buf, size_t len);
/* Sends close_notify through the kernel. */
void exlb_ktls_send_close_notify(int fd);

#endif
