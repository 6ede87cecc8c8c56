#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tools/demo.sh [--no-deps] [exchange|l4-mail]
#
# README command one: on a fresh Debian 12 machine, installs what exlb needs
# (tools/deps.sh), builds it, and runs a demo scenario (default: exchange):
#
#   exchange  tools/demo/exchange.sh: two simulated Exchange servers (nginx
#             with the nine virtual directories, dovecot, postfix) behind
#             exlbd + exlb.ko configured from Kemp's Exchange 2013 templates
#             with a generated certificate; curl, SMTP STARTTLS and IMAP
#             clients; OWA failing on one server, then the whole server
#             failing with connections held open; status table and counters
#   l4-mail   tools/demo/l4-mail.sh: exlb.ko alone (exlbadm), IMAP and SMTP
#
# A host that cannot load modules (like our build machines) runs the demo
# inside the test VM (tools/vm/run), with the host's root shared read-only;
# everything runs in network namespaces on 198.18.0.0/15, nothing leaves
# the machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=tools/modules.sh
. tools/modules.sh

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

deps=1 scenario=exchange
for a in "$@"; do
	case $a in
	--no-deps) deps=0 ;;
	exchange | l4-mail) scenario=$a ;;
	*) sed -n '3,18s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "tools/demo.sh: run it as root" >&2
	exit 1
fi
if [ $deps = 1 ]; then
	say "installing dependencies (tools/deps.sh)"
	tools/deps.sh >/dev/null
fi
say "building exlb.ko and the tools"
make -s module userspace >/dev/null

# exlb.ko was built for tools/vm/kernel-release, and the demo's namespaces
# need veth and bridge
if exlb_can_load_modules veth bridge && [ "$(uname -r)" = "$(tools/vm/kernel-release)" ]; then
	say "loading exlb.ko on this machine"
	modprobe -a tls gcm 2>/dev/null || true
	lsmod | grep -q '^exlb ' || insmod ./exlb.ko
	exec "tools/demo/$scenario.sh"
fi
say "this kernel cannot load modules: booting Debian's $(tools/vm/kernel-release) in a VM (about 15 s)"
exec tools/vm/run --timeout 900 --log build/vm/demo-console.log -- "tools/demo/$scenario.sh"
