# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_health: the health-check engine (libev loop, OpenSSL for https).
test_health_SRCS := exlbd/health/health.c exlbd/health/health_http.c exlbd/health/health_mail.c \
	exlbd/health/health_icmp.c
test_health_LIBS := -lev -lssl -lcrypto
