# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_tls: certificate store and TLS contexts (exlbd/certs.c, exlbd/tls.c)
# with the configuration model (ktls.c: the key-log callback tls.c installs);
# handshakes over in-memory BIO pairs.
test_tls_SRCS := exlbd/tls.c exlbd/ktls.c exlbd/certs.c exlbd/config.c exlbd/params.c
test_tls_LIBS := -ljansson -lssl -lcrypto -lpthread
