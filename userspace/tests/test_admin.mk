# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_admin: the admin listener's parts that need no socket -- the
# Prometheus text (admin/prom.c), authentication and the failed-logon
# limit (admin/auth.c), the hashing thread (admin/hasher.c), Kemp's API XML
# (admin/kemp_xml.c), the secrets
# (config/credentials.c) -- with the
# configuration model (EXLBD_CONFIG_MODEL: exlbd/build.mk, hence "=") and
# l7/http1.c, whose exlb_http_basic_credentials() reads Basic credentials
# (on llhttp: the sanitized libllhttp.a is linked after it).
include exlbd/llhttp.mk
test_admin_SRCS = exlbd/admin/prom.c exlbd/admin/auth.c exlbd/admin/hasher.c \
	exlbd/admin/kemp_xml.c exlbd/l7/http1.c \
	exlbd/config/credentials.c $(addprefix exlbd/,$(EXLBD_CONFIG_MODEL)) \
	$(B)/asan/libllhttp.a
test_admin_LIBS := -lev -lpthread -ljansson -lpcre2-8 -lssl -lcrypto -lcrypt -lm
$(B)/tests/test_admin: CPPFLAGS += $(LLHTTP_CPPFLAGS)
$(B)/tests/test_admin: exlbd/l7/http1.h
