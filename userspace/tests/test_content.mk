# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_content: Kemp content rules on PCRE2 (exlbd/l7/content.c, which
# compiles through exlbd/config/rule_compile.c; errors through
# exlbd/config/log.c's exlb_err_set()). http1.h includes llhttp.h,
# which Debian's node-llhttp puts outside the search path.
test_content_SRCS := exlbd/l7/content.c exlbd/config/rule_compile.c \
	exlbd/config/log.c
test_content_LIBS := -lpcre2-8 -lpthread
$(B)/tests/test_content: CPPFLAGS += -I/usr/share/include/llhttp
