# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_esp_form: ESP's form logon pieces (exlbd/esp/form.c: the POST
# parser, the destination check, cookies, the page) and the session table
# (exlbd/esp/session.c); http1.c for its buffers (exlb_log is stubbed).
include exlbd/llhttp.mk
test_esp_form_SRCS := exlbd/esp/form.c exlbd/esp/session.c exlbd/l7/http1.c \
	$(B)/asan/libllhttp.a
test_esp_form_LIBS := -lcrypto -lpthread
$(B)/tests/test_esp_form: CPPFLAGS += $(LLHTTP_CPPFLAGS)
$(B)/tests/test_esp_form: exlbd/esp/form.h exlbd/esp/session.h exlbd/l7/http1.h
