# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_handover: descriptor hand-over between exlbd processes
# (exlbd/proc/handover.c) over a socketpair, sender and receiver forked;
# errors through exlbd/config/log.c's exlb_err_set().
test_handover_SRCS := exlbd/proc/handover.c exlbd/config/log.c
test_handover_LIBS := -ljansson -lpthread
$(B)/tests/test_handover: exlbd/proc/handover.h
