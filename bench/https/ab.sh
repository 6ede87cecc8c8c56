#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# ab.sh: two or more exlbd binaries one after the other in one session, each
# run measuring exlb and HAProxy side by side on kTLS bulk transfers (the
# before/after tables of docs/benchmarks.md, "kTLS + splice bulk"). Only
# ratios from the same run mean anything on a shared host.
# Usage (in the test VM): bench/https/ab.sh ORDER LABEL=EXLBD...
#   ORDER: exlb,haproxy or haproxy,exlb (bench/https.sh --only)
#   e.g. tools/vm/run --timeout 660 --memory 3072 -- bench/https/ab.sh \
#        exlb,haproxy old=build/exlbd-old new=userspace/build/exlbd
set -eu
[ $# -ge 2 ] || { sed -n '8,12s/^# \{0,1\}//p' "$0"; exit 2; }
order=$1
shift
for lb in "$@"; do
	label=${lb%%=*}
	bin=$(realpath "${lb#*=}")
	echo "##### exlbd $label ($bin), --only $order, $(date -u +%T)"
	EXLBD=$bin "$(dirname "$0")/../https.sh" --metrics bulk --only "$order" --certs ecdsa \
		--tls-relay ktls --rounds 1 --bulk-reps 2 --max-runtime 290 2>&1 |
		grep -E 'MB/s|FAIL' || true
done
