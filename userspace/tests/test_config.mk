# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_config: exlbd's configuration model (see tests/test_config.c), with
# the checks it owns: rule patterns on PCRE2 (rule_compile.c), TLSType and
# CipherSet on OpenSSL (tls_proto.c).
test_config_SRCS := exlbd/config/config.c exlbd/config/params.c \
	exlbd/config/rule_compile.c exlbd/config/tls_proto.c
test_config_LIBS := -ljansson -lpcre2-8 -lssl -lcrypto
