# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_ha_persist: persistence sync's records (ha/persist_sync.c): built by
# name, placed on the standby by name, dropped when they cannot be placed
# or name an RS that does not serve there; the proxy is stubbed.
test_ha_persist_SRCS = exlbd/ha/persist_sync.c exlbd/ha/sync.c exlbd/config/certs.c \
	$(addprefix exlbd/,$(EXLBD_CONFIG_MODEL))
test_ha_persist_LIBS := -ljansson -lpcre2-8 -lssl -lcrypto -lev -lpthread
