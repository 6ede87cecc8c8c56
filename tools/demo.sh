#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tools/demo.sh [--no-deps]
#
# README command one: on a fresh Debian 12 machine, installs what exlb needs,
# builds it, and shows exlb.ko balancing IMAP and SMTP over two simulated
# Exchange servers (real dovecot and postfix in network namespaces), then a
# server failing. A host that cannot load modules (like our build machines)
# runs the demo inside the test VM (tools/vm/run), with the host's root
# shared read-only; nothing leaves the machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [ "${1:-}" != --no-deps ]; then
	say "installing dependencies (tools/deps.sh)"
	tools/deps.sh >/dev/null
fi
say "building exlb.ko and the tools"
make -s module userspace >/dev/null

if [ -r /proc/modules ] && [ "$(uname -r)" = "$(tools/vm/kernel-release)" ]; then
	say "loading exlb.ko on this machine"
	modprobe -a nf_conntrack nf_nat veth bridge
	lsmod | grep -q '^exlb ' || insmod ./exlb.ko
	exec tools/demo/l4-mail.sh
fi
say "this kernel cannot load modules: booting Debian's $(tools/vm/kernel-release) in a VM (about 15 s)"
exec tools/vm/run --timeout 600 --log build/vm/demo-console.log -- tools/demo/l4-mail.sh
