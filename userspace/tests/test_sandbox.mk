# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_sandbox: the worker sandbox (exlbd/proc/sandbox.c) entered by forked
# children; listeners reach them by exlbd/proc/handover.c; OpenSSL and
# PCRE2 as a worker uses them. Test builds carry the hook that calls a
# forbidden system call (EXLB_TEST_HOOKS). Runs as root (else it skips).
test_sandbox_SRCS := exlbd/proc/sandbox.c exlbd/proc/handover.c exlbd/config/log.c
test_sandbox_LIBS := -lseccomp -ljansson -lssl -lcrypto -lpcre2-8 -lpthread
$(B)/tests/test_sandbox: private CPPFLAGS += -DEXLB_TEST_HOOKS
$(B)/tests/test_sandbox: exlbd/proc/sandbox.h exlbd/proc/handover.h
