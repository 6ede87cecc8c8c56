# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_config: exlbd's configuration model (see tests/test_config.c), with
# content.c so rule patterns get exlbd's real (PCRE2) check; http1.h, which
# content.h includes, includes llhttp.h from Debian's node-llhttp.
test_config_SRCS := exlbd/config/config.c exlbd/config/params.c exlbd/l7/content.c
test_config_LIBS := -ljansson -lpcre2-8 -lpthread
$(B)/tests/test_config: CPPFLAGS += -I/usr/share/include/llhttp
