# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_spawn: the holder of the sandboxed processes (exlbd/proc/spawn.c):
# real children (this test's binary again, from /proc/self/exe) supervised
# by ha/child.c on libev, their channel framed by proc/handover.c.
test_spawn_SRCS := exlbd/proc/spawn.c exlbd/ha/child.c exlbd/proc/handover.c \
	exlbd/config/log.c
test_spawn_LIBS := -lev -ljansson
$(B)/tests/test_spawn: exlbd/proc/spawn.h exlbd/ha/child.h exlbd/proc/handover.h
