# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_http1: HTTP/1.x framing (exlbd/l7/http1.c) on llhttp. The sanitized
# libllhttp.a is listed as a source so that it is a prerequisite of the
# test and is linked after http1.c.
include exlbd/llhttp.mk
test_http1_SRCS := exlbd/l7/http1.c $(B)/asan/libllhttp.a
test_http1_LIBS := -lcrypto
$(B)/tests/test_http1: CPPFLAGS += $(LLHTTP_CPPFLAGS)
$(B)/tests/test_http1: exlbd/l7/http1.h
