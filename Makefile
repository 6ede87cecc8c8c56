# SPDX-License-Identifier: GPL-2.0
# exlb top-level build. `make` builds exlb.ko against the running kernel (or
# KDIR=...) and all userspace; `make check` runs every test.

KVER ?= $(shell tools/vm/kernel-release 2>/dev/null || uname -r)
KDIR ?= /lib/modules/$(KVER)/build
VERSION := $(shell tools/version)
PREFIX ?= /usr/local
DESTDIR ?=
# exlb.ko under /lib/modules/$(KVER)/$(MOD_DIR) (make module-install)
MOD_DIR ?= extra
# systemd-modules-load reads /usr/lib and /usr/local/lib alike
MODLOAD_DIR ?= $(PREFIX)/lib/modules-load.d
# The Debian packages' version (tools/deb-version: VERSION if the tree has
# one, else debian/changelog's version + the commit).
DEB_VERSION = $(shell tools/deb-version)

.PHONY: all module userspace install uninstall install-userspace uninstall-userspace \
	module-install module-uninstall install-modules-load install-dkms-src \
	dkms-install dkms-uninstall deb deb-lint \
	check probe-deps unit vm-check vm-check-scale checkpatch sparse w1 kernel-lint clean fuzz \
	vm-debug-kernel vm-debug-module vm-check-debug

all: module userspace

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace:
	$(MAKE) -C userspace

# `make install` / `make uninstall` honour PREFIX and DESTDIR everywhere:
# uninstall removes exactly what install put (the same lists). The
# userspace part (exlbd, exlbctl, exlbadm, the unit, templates, man pages,
# completion) is userspace/Makefile's; the Debian packages use the same
# targets (debian/rules).
install: module-install install-userspace

uninstall: module-uninstall uninstall-userspace

install-userspace:
	$(MAKE) -C userspace install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	install -D -m 0644 uapi/linux/exlb.h $(DESTDIR)$(PREFIX)/include/linux/exlb.h

uninstall-userspace:
	$(MAKE) -C userspace uninstall PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	rm -f $(DESTDIR)$(PREFIX)/include/linux/exlb.h

# Into $(DESTDIR)/lib/modules/$(KVER)/$(MOD_DIR). depmod runs only on the
# real root (DEPMOD=true keeps kbuild from running it in DESTDIR: a
# packager or image builder runs depmod for the whole tree).
module-install: module install-modules-load
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) \
		INSTALL_MOD_DIR=$(MOD_DIR) $(if $(DESTDIR),DEPMOD=true) modules_install
	$(if $(DESTDIR),,-depmod -a $(KVER))

module-uninstall:
	cd $(DESTDIR)/lib/modules/$(KVER)/$(MOD_DIR) 2>/dev/null && \
		rm -f exlb.ko exlb.ko.xz exlb.ko.zst exlb.ko.gz || true
	rm -f $(DESTDIR)$(MODLOAD_DIR)/exlb.conf
	$(if $(DESTDIR),,-depmod -a $(KVER))

# exlb.ko loads at boot (systemd-modules-load.service).
install-modules-load:
	install -d $(DESTDIR)$(MODLOAD_DIR)
	echo exlb >$(DESTDIR)$(MODLOAD_DIR)/exlb.conf
	chmod 0644 $(DESTDIR)$(MODLOAD_DIR)/exlb.conf

# The module's sources as DKMS builds them, in /usr/src/exlb-VERSION (the
# sources only, not what a build here left beside them), which has no git:
# VERSION is written there (Kbuild reads it for the module's version) and
# into dkms.conf.
DKMS_SRC = $(DESTDIR)/usr/src/exlb-$(VERSION)
install-dkms-src:
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)
	install -d $(DKMS_SRC)/kmod $(DKMS_SRC)/uapi/linux
	cp Kbuild Makefile dkms.conf $(DKMS_SRC)/
	cp kmod/*.c kmod/*.h $(DKMS_SRC)/kmod/
	cp uapi/linux/*.h $(DKMS_SRC)/uapi/linux/
	echo $(VERSION) >$(DKMS_SRC)/VERSION
	sed -i 's/#MODULE_VERSION#/$(VERSION)/' $(DKMS_SRC)/dkms.conf

# By hand on this machine (the exlb-dkms package does this for packages).
dkms-install: install-dkms-src install-modules-load
	dkms add -m exlb -v $(VERSION)
	dkms build -m exlb -v $(VERSION) -k $(KVER)
	dkms install -m exlb -v $(VERSION) -k $(KVER)

dkms-uninstall:
	-dkms remove -m exlb -v $(VERSION) --all
	rm -rf $(DESTDIR)/usr/src/exlb-$(VERSION)
	rm -f $(DESTDIR)$(MODLOAD_DIR)/exlb.conf

# The Debian packages exlb and exlb-dkms (debian/), built without root
# from a copy of the tree in build/deb/src (dpkg-buildpackage leaves its
# results next to the source: build/deb/*.deb, never in the repo's root).
# The copy holds the files git knows (tracked, and new ones not ignored;
# without git, what .gitignore does not exclude), its VERSION and
# debian/changelog say $(DEB_VERSION).
DEB_DIR := build/deb
deb:
	@v='$(DEB_VERSION)'; [ -n "$$v" ] || { echo "deb: no version (tools/deb-version)"; exit 1; }
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	if [ -e .git ]; then \
		git ls-files -z --cached --others --exclude-standard | \
			xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
			tar --null -T - -cf - | tar -xf - -C $(DEB_DIR)/src; \
	else \
		tar --exclude=./build --exclude-vcs-ignores -cf - . | tar -xf - -C $(DEB_DIR)/src; \
	fi
	echo '$(DEB_VERSION)' >$(DEB_DIR)/src/VERSION
	sed -i '1s/(.*)/($(DEB_VERSION))/' $(DEB_DIR)/src/debian/changelog
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b
	ls -l $(DEB_DIR)/*.deb

# lintian on both packages: any warning or error fails (each override in
# debian/*.lintian-overrides says why).
deb-lint: deb
	lintian --fail-on error,warning --info $(DEB_DIR)/*.changes

check: probe-deps kernel-lint unit deb-lint vm-check

# Every tool capability the tests rely on, before any suite runs: a missing
# one is named with its Debian package instead of surfacing as a skip or
# an odd failure deep in a suite.
probe-deps:
	tools/probe-deps.sh

unit: probe-deps userspace
	$(MAKE) -C userspace test

# libFuzzer on the HTTP request path, 1,000,000 runs (needs clang; not in check).
fuzz:
	$(MAKE) -C userspace fuzz

# The VM's timeout: the selftests' time budgets (selftests/Makefile SUITES)
# plus 300 s for booting and building nl_fuzz, so a suite that overruns is
# stopped by its own budget and reported, not by the VM. A second boot with
# systemd as PID 1 runs the suites of the packaged unit (SYSTEMD_SUITES).
VM_RUN = tools/vm/run --memory 3072 --kernel-release $(notdir $(patsubst %/build,%,$(KDIR)))
vm-check: probe-deps module userspace deb
	$(VM_RUN) --timeout $$(($$($(MAKE) -s --no-print-directory -C selftests budget) + 300)) -- make -C selftests run_tests
	$(VM_RUN) --systemd --timeout $$(($$($(MAKE) -s --no-print-directory -C selftests budget_systemd) + 300)) -- make -C selftests run_tests_systemd

# exlb.ko past 64k and the persistence cap under a flood (selftests/
# exlb_scale.sh) alone: vm-check runs it too (about 2 min in TCG); this
# is the quick rerun after a change to the NAT or persistence code.
vm-check-scale: probe-deps module userspace
	$(VM_RUN) --timeout $$(($$($(MAKE) -s --no-print-directory -C selftests budget_scale) + 300)) -- make -C selftests run_tests_scale

# The debug-kernel run (issue 15): exlb.ko under KASAN, UBSAN, lockdep,
# debugobjects and kmemleak. vm-debug-kernel builds the kernel once
# (tools/vm/build-debug-kernel: cached in build/debug-kernel/, more than an
# hour on 2 shared cores, see the README; needs `tools/deps.sh
# --debug-kernel`); vm-debug-module
# builds exlb.ko against it in a directory of its own (the sources copied as
# for DKMS, with -g so a report's exlb frames resolve to file:line; `make
# module` is not touched); vm-check-debug boots it and runs
# tools/vm/debug-job (exlb_l4.sh with the netlink fuzzer, exlbd_e2e.sh, then
# rmmod and kmemleak). Any report fails it. Not in check (its time; see
# the README). The console log stays in build/vm/console-debug.log.
DEBUG_KERNEL = build/debug-kernel/current
DEBUG_MOD = build/debug-kernel/module
vm-debug-kernel:
	tools/vm/build-debug-kernel

vm-debug-module: vm-debug-kernel
	rm -rf $(DEBUG_MOD)
	mkdir -p $(DEBUG_MOD)/kmod $(DEBUG_MOD)/uapi/linux
	cp Kbuild $(DEBUG_MOD)/
	cp kmod/*.c kmod/*.h $(DEBUG_MOD)/kmod/
	cp uapi/linux/*.h $(DEBUG_MOD)/uapi/linux/
	echo '$(VERSION)' >$(DEBUG_MOD)/VERSION
	$(MAKE) -C $(DEBUG_KERNEL)/src M=$(CURDIR)/$(DEBUG_MOD) KCFLAGS=-g modules

vm-check-debug: probe-deps vm-debug-module userspace
	@start=$$(date +%s); \
	EXLB_KO=$(DEBUG_MOD)/exlb.ko tools/vm/run --debug --memory 4096 \
		--timeout $$(($$($(MAKE) -s --no-print-directory -C selftests budget_debug) + 600)) \
		-- tools/vm/debug-job; rc=$$?; \
	echo "vm-check-debug: exit status $$rc after $$(($$(date +%s) - start)) s;" \
		"console log: $(CURDIR)/build/vm/console-debug.log"; \
	exit $$rc

# Kernel code hygiene: checkpatch --strict, W=1 and sparse must all be clean.
kernel-lint: checkpatch w1 sparse

checkpatch:
	tools/checkpatch.sh kmod/*.c kmod/*.h uapi/linux/exlb.h

# Both fail if the build fails (its own status: a pipe into tee would hide
# it, and /bin/sh has no pipefail) or if its log has a warning or an error,
# in any case ("WARNING: modpost: ..." too).
# kbuild's own `M=... clean` deletes every *.o, *.ko, .*.cmd, ... under the
# whole repository, build/ included: the userspace objects and the debug
# kernel's tree (a two-hour build) with them. Only the module's own outputs go.
module_clean = rm -f exlb.ko exlb.mod exlb.mod.c exlb.mod.o exlb.o modules.order \
	Module.symvers .exlb.*.cmd .modules.order.cmd .Module.symvers.cmd \
	kmod/*.o kmod/.*.cmd kmod/.*.d

# $(call lint_build,MAKE ARGS,LOG)
lint_build = $(module_clean) && \
	{ $(MAKE) -C $(KDIR) M=$(CURDIR) $(1) modules 2>&1; echo $$? >$(2).rc; } | tee $(2) && \
	rc=$$(cat $(2).rc) && rm -f $(2).rc && \
	if [ "$$rc" != 0 ]; then echo "$@: the build failed (status $$rc)"; exit 1; fi && \
	if grep -iE 'warning:|error:' $(2); then echo "$@: warnings or errors above"; exit 1; fi

w1:
	@$(call lint_build,W=1,.w1.log)

sparse:
	@$(call lint_build,C=1,.sparse.log)

clean:
	$(module_clean)
	$(MAKE) -C userspace clean
	rm -rf $(DEB_DIR)
	rm -f .w1.log .sparse.log
