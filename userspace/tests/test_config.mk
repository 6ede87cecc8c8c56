# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_config: exlbd's configuration model (see tests/test_config.c), with
# the checks it owns: rule patterns on PCRE2 (rule_compile.c), TLSType and
# CipherSet on OpenSSL (tls_proto.c). The model's files are listed once, in
# exlbd/build.mk (read after this file: hence "=").
test_config_SRCS = $(addprefix exlbd/,$(EXLBD_CONFIG_MODEL))
test_config_LIBS := -ljansson -lpcre2-8 -lssl -lcrypto
