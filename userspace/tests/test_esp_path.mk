# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_esp_path: ESP's path normaliser, wildcard lists, Host and RCPT
# domains (exlbd/esp/path.c), the HTTP gate's verdicts (esp/gate.c), the
# Basic logon's header decoding and verdict cache (esp/basic.c)
# on parsed heads (l7/http1.c on llhttp; exlb_log is stubbed).
include exlbd/llhttp.mk
test_esp_path_SRCS := exlbd/esp/path.c exlbd/esp/gate.c exlbd/esp/basic.c exlbd/l7/http1.c \
	$(B)/asan/libllhttp.a
test_esp_path_LIBS := -lcrypto -lpthread
$(B)/tests/test_esp_path: CPPFLAGS += $(LLHTTP_CPPFLAGS)
$(B)/tests/test_esp_path: exlbd/esp/path.h exlbd/esp/gate.h exlbd/esp/basic.h exlbd/l7/http1.h \
	exlbd/config/hex.h
