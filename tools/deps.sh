#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tools/deps.sh [--debug-kernel] [--list]
#
# Installs (as root, non-interactively) every Debian 12 package that building
# exlb and running its tests needs. This list is the only place they are
# named: .ci/run and the README's setup command both call this script.
# --debug-kernel installs, in addition, the optional group that building the
# debug kernel of `make vm-check-debug` needs (DEBUG_KERNEL_PACKAGES: not
# needed by .ci/run, which does not build it).
# --list prints the packages (with --debug-kernel, that group too) and exits.
set -euo pipefail

PACKAGES=(
	# kernel image to boot in the test VM + headers of the same release
	linux-image-amd64 linux-headers-amd64
	# test VM (tools/vm/run)
	qemu-system-x86 busybox-static kmod cpio gzip xz-utils util-linux
	# build
	build-essential pkg-config libmnl-dev libjansson-dev git dkms
	# exlbd (llhttp's C sources come in node-llhttp, under /usr/share/llhttp)
	libev-dev libssl-dev libsystemd-dev openssl libpcre2-dev node-llhttp
	libcrypt-dev
	# exlbd's ESP directory logons (OpenLDAP's libldap)
	libldap-dev
	# the worker sandbox's seccomp filter (exlbd/proc/sandbox.c, docs/privsep.md)
	libseccomp-dev
	# kernel code hygiene (make kernel-lint): sparse, checkpatch from linux-source
	sparse perl linux-source-6.1
	# tests (curl and openssl s_client are the HTTPS clients)
	python3 iproute2 ipvsadm socat nftables jq procps psmisc curl swaks libnet-ssleay-perl
	# exlbd-cli.sh writes a .pfx whose key matches none of its certificates
	python3-cryptography
	# promtool checks /metrics (exlbd-metrics.sh); Debian ships it only in prometheus
	prometheus
	# headless Chromium renders the admin status page (exlbd-webui.sh)
	chromium
	# real servers for the health-check tests (run in netns only)
	nginx-light dovecot-imapd dovecot-pop3d postfix
	# the HA pair: VRRP for the VIPs (exlbd runs it; userspace/tests/exlbd-ha.sh)
	keepalived
	# L4 connection sync between the pair (selftests/exlb_ha.sh): conntrackd,
	# and conntrack to look at the tables
	conntrackd conntrack
	# the directory of the ESP tests (a private slapd on loopback; its tools)
	slapd ldap-utils
	# Debian packages (make deb, make deb-lint), installing them in the VM
	# (selftests/exlb_deb.sh: dpkg, adduser, DKMS) and systemd-analyze verify
	# on the unit (userspace/tests/install-tree.sh)
	debhelper dh-dkms lintian adduser systemd
	# benchmarks (bench/https.sh, bench/mail.sh) and profiling exlbd under them
	haproxy wrk linux-perf
)

# Optional: tools/vm/build-debug-kernel (make vm-debug-kernel,
# vm-check-debug). The kernel's source and its build tools; the kernel is
# built without BTF, so no dwarves (pahole).
DEBUG_KERNEL_PACKAGES=(
	linux-source-6.1 bc bison flex libelf-dev libssl-dev xz-utils kmod
)

debug_kernel=0
list=0
for a in "$@"; do
	case "$a" in
	--debug-kernel) debug_kernel=1 ;;
	--list) list=1 ;;
	*) echo "tools/deps.sh: unknown argument '$a' (usage: tools/deps.sh [--debug-kernel] [--list])" >&2; exit 2 ;;
	esac
done
[ $debug_kernel = 1 ] && PACKAGES+=("${DEBUG_KERNEL_PACKAGES[@]}")

if [ $list = 1 ]; then
	printf '%s\n' "${PACKAGES[@]}"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "tools/deps.sh: run it as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "tools/deps.sh: apt-get update"
apt-get update -q </dev/null
echo "tools/deps.sh: apt-get install ${PACKAGES[*]}"
apt-get install -y -q --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${PACKAGES[@]}" </dev/null

# exlb.ko must be built against the headers of the kernel the VM boots.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
R=$("$HERE/vm/kernel-release")
echo "tools/deps.sh: kernel release for building and testing: $R"

# The servers run only as private instances inside test namespaces: make
# sure the packaged ones are not left listening on the host.
for svc in nginx dovecot postfix haproxy slapd; do
	if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	else
		service "$svc" stop >/dev/null 2>&1 || true
	fi
done
