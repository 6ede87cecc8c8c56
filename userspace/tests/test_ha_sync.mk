# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_ha_sync: configuration sync's parts without threads or network
# (ha/sync.c): node-local globals, the standby's refusal, the pair key, a
# push message applied all or nothing; with the configuration model and the
# certificate store.
test_ha_sync_SRCS = exlbd/ha/sync.c exlbd/config/certs.c \
	$(addprefix exlbd/,$(EXLBD_CONFIG_MODEL))
test_ha_sync_LIBS := -ljansson -lpcre2-8 -lssl -lcrypto -lev -lpthread
