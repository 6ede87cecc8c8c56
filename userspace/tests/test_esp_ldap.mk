# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_esp_ldap: the ESP authenticator (libldap on directory threads, libev).
# Alone it checks names and input; tests/exlbd-esp-ldap.sh runs it again
# against a real slapd.
# sso.c's forwarding to the directory process speaks handover.c's framing.
test_esp_ldap_SRCS := exlbd/esp/ldap.c exlbd/esp/sso.c exlbd/config/params.c \
	exlbd/proc/handover.c exlbd/config/log.c
test_esp_ldap_LIBS := -lev -lldap -llber -lpthread -ljansson
TEST_SCRIPTS += tests/exlbd-esp-ldap.sh
TEST_SCRIPT_DEPS += $(B)/tests/test_esp_ldap
TEST_SCRIPT_ENV += TEST_ESP_LDAP=$(B)/tests/test_esp_ldap
