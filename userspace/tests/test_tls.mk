# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_tls: certificate store and TLS contexts (exlbd/config/certs.c,
# exlbd/l7/tls.c on exlbd/config/tls_proto.c)
# with the configuration model (ktls.c: the key-log callback tls.c installs);
# handshakes over in-memory BIO pairs. EXLBD_CONFIG_MODEL is exlbd/build.mk's
# (read after this file: hence "=").
test_tls_SRCS = exlbd/l7/tls.c exlbd/l7/ktls.c exlbd/config/certs.c \
	$(addprefix exlbd/,$(EXLBD_CONFIG_MODEL))
test_tls_LIBS := -ljansson -lssl -lcrypto -lpcre2-8 -lpthread
