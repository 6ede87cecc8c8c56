# SPDX-License-Identifier: GPL-2.0
# exlb top-level build. `make` builds exlb.ko against the running kernel (or
# KDIR=...) and all userspace; `make check` runs every test.

KVER ?= $(shell tools/vm/kernel-release 2>/dev/null || uname -r)
KDIR ?= /lib/modules/$(KVER)/build
VERSION := $(shell tools/version)
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all module userspace install module-install dkms-install dkms-uninstall \
	check probe-deps unit vm-check checkpatch sparse w1 kernel-lint clean fuzz

all: module userspace

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace:
	$(MAKE) -C userspace

install: module-install
	$(MAKE) -C userspace install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	install -D -m 0644 uapi/linux/exlb.h $(DESTDIR)$(PREFIX)/include/linux/exlb.h

module-install:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install
	-depmod -a $(KVER)

# DKMS builds from /usr/src/exlb-VERSION, which has no git: ship VERSION.
dkms-install:
	rm -rf /usr/src/exlb-$(VERSION)
	mkdir -p /usr/src/exlb-$(VERSION)
	cp -r Kbuild Makefile dkms.conf kmod uapi /usr/src/exlb-$(VERSION)/
	echo $(VERSION) > /usr/src/exlb-$(VERSION)/VERSION
	sed -i 's/@VERSION@/$(VERSION)/' /usr/src/exlb-$(VERSION)/dkms.conf
	dkms add -m exlb -v $(VERSION)
	dkms build -m exlb -v $(VERSION) -k $(KVER)
	dkms install -m exlb -v $(VERSION) -k $(KVER)

dkms-uninstall:
	-dkms remove -m exlb -v $(VERSION) --all
	rm -rf /usr/src/exlb-$(VERSION)

check: probe-deps kernel-lint unit vm-check

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
# stopped by its own budget and reported, not by the VM.
vm-check: probe-deps module userspace
	tools/vm/run --timeout $$(($$($(MAKE) -s --no-print-directory -C selftests budget) + 300)) --memory 3072 --kernel-release $(notdir $(patsubst %/build,%,$(KDIR))) -- make -C selftests run_tests

# Kernel code hygiene: checkpatch --strict, W=1 and sparse must all be clean.
kernel-lint: checkpatch w1 sparse

checkpatch:
	tools/checkpatch.sh kmod/*.c kmod/*.h uapi/linux/exlb.h

# Both fail if the build fails (its own status: a pipe into tee would hide
# it, and /bin/sh has no pipefail) or if its log has a warning or an error,
# in any case ("WARNING: modpost: ..." too).
# $(call lint_build,MAKE ARGS,LOG)
lint_build = $(MAKE) -C $(KDIR) M=$(CURDIR) clean && \
	{ $(MAKE) -C $(KDIR) M=$(CURDIR) $(1) modules 2>&1; echo $$? >$(2).rc; } | tee $(2) && \
	rc=$$(cat $(2).rc) && rm -f $(2).rc && \
	if [ "$$rc" != 0 ]; then echo "$@: the build failed (status $$rc)"; exit 1; fi && \
	if grep -iE 'warning:|error:' $(2); then echo "$@: warnings or errors above"; exit 1; fi

w1:
	@$(call lint_build,W=1,.w1.log)

sparse:
	@$(call lint_build,C=1,.sparse.log)

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C userspace clean
	rm -f .w1.log .sparse.log
