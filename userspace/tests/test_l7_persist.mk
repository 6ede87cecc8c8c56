# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_l7_persist: the L7 proxy's scheduling and Persist=src records
# (exlbd/l7/sched.c, exlbd/l7/persist.c) against a clock of its own (the
# test defines l7_now_ms()). proxy_int.h reaches http1.h, which includes
# llhttp.h from outside the search path.
test_l7_persist_SRCS := exlbd/l7/sched.c exlbd/l7/persist.c
test_l7_persist_LIBS := -lpthread
$(B)/tests/test_l7_persist: CPPFLAGS += -I/usr/share/include/llhttp
$(B)/tests/test_l7_persist: exlbd/l7/persist.h exlbd/l7/proxy_int.h
