# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_owa_form: Exchange's form logon from the load balancer's side
# (exlbd/esp/owa_form.c: body, verdict, cookies) on response heads parsed
# by l7/http1.c (llhttp; libcrypto for its Basic reader).
include exlbd/llhttp.mk
test_owa_form_SRCS := exlbd/esp/owa_form.c exlbd/l7/http1.c $(B)/asan/libllhttp.a
test_owa_form_LIBS := -lcrypto
$(B)/tests/test_owa_form: CPPFLAGS += $(LLHTTP_CPPFLAGS)
$(B)/tests/test_owa_form: exlbd/esp/owa_form.h exlbd/l7/http1.h exlbd/config/hex.h
