#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
# Build the benchmark's programs on the host, then run bench/l4-vs-ipvs.sh
# inside the test VM (Debian's kernel under qemu, see tools/vm/run), which
# loads ip_vs, ip_vs_rr, nf_conntrack, nf_nat, veth, bridge and exlb.ko.
# Arguments go to bench/l4-vs-ipvs.sh; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

make -s -C bench
[ -x userspace/build/exlbadm ] || make -s -C userspace build/exlbadm
[ -f exlb.ko ] || echo "bench/run.sh: warning: exlb.ko is not built; the exlb half will be skipped" >&2

exec tools/vm/run --timeout 1800 -- bench/l4-vs-ipvs.sh "$@"
