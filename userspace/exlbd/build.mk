# SPDX-License-Identifier: GPL-2.0 OR MIT
# exlbd and exlbctl, included by userspace/Makefile (paths relative to
# userspace/). Debian packages: libev-dev libjansson-dev libsystemd-dev
# libssl-dev libpcre2-dev node-llhttp libcrypt-dev libldap-dev libseccomp-dev.

include exlbd/llhttp.mk

# exlbd's rooms, one concern each (docs/ARCHITECTURE.md "exlbd's rooms"):
# config/ the model and its durable store, health/ the checks, kernel/
# exlb.ko, l7/ the proxy run by the worker threads, esp/ the Edge Security
# Pack's gates (called by l7/) and directory logons, ctl/ the control socket,
# admin/ the HTTPS admin listener (/metrics, the status page), ha/ keepalived
# and the HA role (docs/ha.md), proc/ what passes between exlbd processes;
# main.c wires them, upgrade.c is the seamless upgrade (docs/upgrade.md).
# The scheduler core is the one exlb.ko runs.
EXLBD_CONFIG_MODEL := config/config.c config/check.c config/json.c \
	config/store.c config/runtime.c config/log.c config/params.c \
	config/rule_compile.c config/tls_proto.c
EXLBD_CONFIG := $(EXLBD_CONFIG_MODEL) config/template.c config/certs.c \
	config/credentials.c
EXLBD_HEALTH := health/health.c health/health_http.c health/health_mail.c \
	health/health_icmp.c health/targets.c
EXLBD_KERNEL := kernel/kernel.c
EXLBD_L7 := l7/proxy.c l7/plan.c l7/sched.c l7/persist.c l7/relay.c \
	l7/proxy_conn.c l7/proxy_io.c l7/ktls.c l7/tls.c \
	l7/http1.c l7/content.c l7/mail_conn.c l7/mail_proto.c l7/accesslog.c
EXLBD_ESP := esp/gate.c esp/path.c esp/ldap.c esp/sso.c esp/basic.c esp/session.c esp/form.c \
	esp/owa_form.c
EXLBD_CTL := ctl/ctl.c
EXLBD_PROC := proc/handover.c proc/sandbox.c proc/worker.c proc/manager.c \
	proc/directory.c proc/directory_manager.c proc/spawn.c
EXLBD_ADMIN := admin/admin.c admin/auth.c admin/hasher.c admin/metrics.c \
	admin/prom.c admin/webui.c admin/kemp_api.c admin/kemp_xml.c
# The status page's files, built in by admin/webui.c (.incbin)
EXLBD_WWW := $(wildcard exlbd/admin/www/*)
EXLBD_HA := ha/child.c ha/keepalived.c ha/conntrackd.c ha/state.c ha/sync.c ha/persist_sync.c
EXLBD_SRCS := exlbd/main.c exlbd/upgrade.c $(addprefix exlbd/,$(EXLBD_CONFIG) \
	$(EXLBD_HEALTH) $(EXLBD_KERNEL) $(EXLBD_L7) $(EXLBD_ESP) $(EXLBD_CTL) $(EXLBD_PROC) \
	$(EXLBD_ADMIN) $(EXLBD_HA)) $(NL_SRC) $(CORE_SRC)
EXLBD_HDRS := exlbd/exlbd.h $(wildcard exlbd/*/*.h)
EXLBD_LIBS := -lev -ljansson -lsystemd $(MNL_LIBS) -lssl -lcrypto \
	-lpcre2-8 -lpthread -lcrypt -lm -lldap -llber -lseccomp
# Built-in templates: where `make install` puts them, and exlbd's default --template-dir.
EXLB_TEMPLATE_DIR ?= $(PREFIX)/share/exlb/templates
EXLBD_CPPFLAGS := $(LLHTTP_CPPFLAGS) -DEXLB_TEMPLATE_DIR='"$(EXLB_TEMPLATE_DIR)"' \
	-DEXLB_WWW_DIR='"$(CURDIR)/exlbd/admin/www"'

# exlbctl links the parameter table only for --help and completion.
# certfile.c decodes .pfx files and encrypted keys (OpenSSL); password.c
# reads the secrets of cert add and admin user add.
EXLBCTL_SRCS := exlbctl/exlbctl.c exlbctl/certfile.c exlbctl/password.c \
	exlbd/config/params.c
EXLBCTL_HDRS := exlbd/config/params.h exlbd/config/config.h exlbctl/certfile.h \
	exlbctl/password.h
EXLBCTL_LIBS := -ljansson -lcrypto

all: $(B)/exlbd $(B)/exlbctl

$(B)/exlbd: $(EXLBD_SRCS) $(EXLBD_HDRS) $(HDRS) $(B)/obj/libllhttp.a $(VERSION_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(EXLBD_CPPFLAGS) $(CFLAGS) $(EXLBD_SRCS) \
		$(B)/obj/libllhttp.a $(LDFLAGS) $(EXLBD_LIBS) -o $@

$(B)/exlbctl: $(EXLBCTL_SRCS) $(EXLBCTL_HDRS) $(VERSION_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(EXLBCTL_SRCS) $(LDFLAGS) $(EXLBCTL_LIBS) -o $@

# The end-to-end CLI test runs a sanitized exlbd (exlbctl exits on errors
# without freeing: a leak report there would only be noise),
# and has the test hooks (EXLB_TEST_HOOKS): the worker process's forbidden
# system call on SIGUSR2 (exlbd-privsep.sh).
$(B)/asan/exlbd: $(EXLBD_SRCS) $(EXLBD_HDRS) $(HDRS) $(B)/asan/libllhttp.a $(VERSION_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(EXLBD_CPPFLAGS) -DEXLB_TEST_HOOKS $(CFLAGS) $(SANFLAGS) $(EXLBD_SRCS) \
		$(B)/asan/libllhttp.a $(LDFLAGS) $(EXLBD_LIBS) -o $@

$(B)/exlbd $(B)/asan/exlbd: $(EXLBD_WWW)

$(B)/asan/exlbctl: $(EXLBCTL_SRCS) $(EXLBCTL_HDRS) $(VERSION_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) $(EXLBCTL_SRCS) $(LDFLAGS) $(EXLBCTL_LIBS) -o $@

TEST_SCRIPTS += tests/exlbd-cli.sh tests/exlbd-template.sh tests/exlbd-https.sh
# exlbd-cli.sh also checks exlbadm --version
TEST_SCRIPT_DEPS += $(B)/asan/exlbd $(B)/exlbctl $(B)/exlbadm
# Its real servers are 198.18.x addresses that exist nowhere on the host:
# no health check may send packets to them (they would leave by the
# default route).
TEST_SCRIPT_ENV += EXLBD=$(B)/asan/exlbd EXLBCTL=$(B)/exlbctl EXLBADM=$(B)/exlbadm \
	EXLBD_NO_HEALTH_CHECKS=1

install: install-exlbd
uninstall: uninstall-exlbd

# Where make install puts exlbd's files (userspace/Makefile has SBINDIR,
# MAN8DIR). systemd reads units from /usr/local/lib/systemd/system too;
# PREFIX=/usr goes to /lib/systemd/system, Debian 12's place for packages.
UNIT_DIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions
EXLB_TEMPLATES := $(notdir $(wildcard $(TOP)/templates/*.json))

# exlbd is rebuilt when EXLB_TEMPLATE_DIR changes (`make` then `make
# install PREFIX=/usr` must not install a binary that looks in /usr/local).
$(B)/template-dir: FORCE
	@mkdir -p $(@D)
	@echo '$(EXLB_TEMPLATE_DIR)' | cmp -s - $@ || echo '$(EXLB_TEMPLATE_DIR)' >$@
$(B)/exlbd: $(B)/template-dir
.PHONY: FORCE
FORCE:

.PHONY: install-exlbd uninstall-exlbd
install-exlbd: $(B)/exlbd $(B)/exlbctl
	install -D -m 0755 $(B)/exlbd $(DESTDIR)$(SBINDIR)/exlbd
	install -D -m 0755 $(B)/exlbctl $(DESTDIR)$(SBINDIR)/exlbctl
	install -d $(DESTDIR)$(UNIT_DIR)
	sed 's|/usr/local/sbin/|$(SBINDIR)/|g' exlbd/exlbd.service >$(DESTDIR)$(UNIT_DIR)/exlbd.service
	chmod 0644 $(DESTDIR)$(UNIT_DIR)/exlbd.service
	install -d $(DESTDIR)$(EXLB_TEMPLATE_DIR)
	install -m 0644 $(addprefix $(TOP)/templates/,$(EXLB_TEMPLATES)) $(DESTDIR)$(EXLB_TEMPLATE_DIR)/
	install -D -m 0644 exlbctl/exlbctl.bash-completion $(DESTDIR)$(COMPLETION_DIR)/exlbctl
	install -d $(DESTDIR)$(MAN8DIR)
	sed 's|@TEMPLATE_DIR@|$(EXLB_TEMPLATE_DIR)|g' exlbd/exlbd.8 >$(DESTDIR)$(MAN8DIR)/exlbd.8
	chmod 0644 $(DESTDIR)$(MAN8DIR)/exlbd.8
	install -D -m 0644 exlbctl/exlbctl.8 $(DESTDIR)$(MAN8DIR)/exlbctl.8

uninstall-exlbd:
	rm -f $(DESTDIR)$(SBINDIR)/exlbd $(DESTDIR)$(SBINDIR)/exlbctl
	rm -f $(DESTDIR)$(UNIT_DIR)/exlbd.service
	rm -f $(addprefix $(DESTDIR)$(EXLB_TEMPLATE_DIR)/,$(EXLB_TEMPLATES))
	rmdir $(DESTDIR)$(EXLB_TEMPLATE_DIR) $(dir $(DESTDIR)$(EXLB_TEMPLATE_DIR)) 2>/dev/null || true
	rm -f $(DESTDIR)$(COMPLETION_DIR)/exlbctl
	rm -f $(DESTDIR)$(MAN8DIR)/exlbd.8 $(DESTDIR)$(MAN8DIR)/exlbctl.8
