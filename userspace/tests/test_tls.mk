# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_tls: certificate store and TLS contexts (exlbd/config/certs.c,
# exlbd/l7/tls.c on exlbd/config/tls_proto.c)
# with the configuration model (ktls.c: the key-log callback tls.c installs);
# handshakes over in-memory BIO pairs.
test_tls_SRCS := exlbd/l7/tls.c exlbd/l7/ktls.c exlbd/config/certs.c \
	exlbd/config/config.c exlbd/config/params.c \
	exlbd/config/rule_compile.c exlbd/config/tls_proto.c
test_tls_LIBS := -ljansson -lssl -lcrypto -lpcre2-8 -lpthread
