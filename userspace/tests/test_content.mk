# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_content: Kemp content rules on PCRE2 (exlbd/l7/content.c, which
# compiles through exlbd/config/rule_compile.c). The test defines its own
# exlb_err_set(), so config.c is not needed; http1.h includes llhttp.h,
# which Debian's node-llhttp puts outside the search path.
test_content_SRCS := exlbd/l7/content.c exlbd/config/rule_compile.c
test_content_LIBS := -lpcre2-8 -lpthread
$(B)/tests/test_content: CPPFLAGS += -I/usr/share/include/llhttp
