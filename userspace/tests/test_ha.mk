# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_ha: the HA pair's parts that need no process or network --
# keepalived's configuration from exlbd's (ha/keepalived.c), the role
# record (ha/state.c), the HA rules of the whole-configuration check --
# with the configuration model (EXLBD_CONFIG_MODEL: exlbd/build.mk, hence "=").
test_ha_SRCS = exlbd/ha/keepalived.c exlbd/ha/conntrackd.c exlbd/ha/state.c exlbd/ha/child.c \
	$(addprefix exlbd/,$(EXLBD_CONFIG_MODEL))
test_ha_LIBS := -ljansson -lpcre2-8 -lssl -lcrypto -lev
