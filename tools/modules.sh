# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# tools/modules.sh: sourced by tools/demo.sh and tools/setup.sh, the one
# test of whether this machine can load kernel modules (exlb.ko needs
# conntrack and NAT). Our build machines and containers cannot: no
# /proc/modules, or no modules of the running kernel to load; the demo then
# runs in the test VM and setup.sh runs the demo.

# exlb_can_load_modules [MODULE...]: true if the running kernel loads
# nf_conntrack, nf_nat and the MODULEs given (loading them).
exlb_can_load_modules() {
	[ -r /proc/modules ] && modprobe -a nf_conntrack nf_nat "$@" 2>/dev/null
}
