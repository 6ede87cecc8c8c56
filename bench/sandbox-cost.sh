#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# What the L7 worker's seccomp filter costs per system call (issue 19's
# benchmark, docs/privsep.md "Benchmark"): bench/sandbox_cost.c times
# getpid, write and recvfrom in one process before and after it enters
# exlbd's real worker sandbox (proc/sandbox.c), and this script prints the
# difference; with --per N also what N such calls cost (bench/https.sh
# --perf logs the system calls per handshake and per request). A benchmark,
# not a test. Needs root (the sandbox drops to USER), cc, libseccomp-dev,
# libjansson-dev, libssl-dev, libpcre2-dev. No network traffic.
#
# Usage: bench/sandbox-cost.sh [--user USER] [--calls N] [--rounds N] [--per N]

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
USER_NAME=nobody
CALLS=1000000
ROUNDS=9
PER=

while [ $# -gt 0 ]; do
	case "$1" in
	--user) USER_NAME=$2; shift 2 ;;
	--calls) CALLS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--per) PER=$2; shift 2 ;;
	*) echo "usage: $0 [--user USER] [--calls N] [--rounds N] [--per N]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "sandbox-cost: needs root (the sandbox drops to $USER_NAME)" >&2; exit 2; }

T=$(mktemp -d /tmp/exlb-sandbox-cost.XXXXXX)
trap 'rm -rf "$T"' EXIT

cc -std=gnu11 -O2 -Wall -Wextra -Werror -I"$REPO" -I"$REPO/userspace/include" \
	-I"$REPO/userspace/exlbd" "$REPO/bench/sandbox_cost.c" \
	"$REPO/userspace/exlbd/proc/sandbox.c" "$REPO/userspace/exlbd/config/log.c" \
	-o "$T/sandbox_cost" -lseccomp -ljansson -lssl -lcrypto -lpcre2-8 -lpthread

out=$("$T/sandbox_cost" "$USER_NAME" "$CALLS" "$ROUNDS")
echo "== the worker's seccomp filter: ns per system call, median of $ROUNDS x $CALLS calls, kernel $(uname -r) =="
# shellcheck disable=SC2016  # awk's own $1..$5
awk -v per="$PER" '
	{ split($3, a, "="); ns[$1, $2] = a[2]; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
	END {
		printf "%-10s %10s %10s %10s%s\n", "call", "before", "sandboxed", "filter",
			per ? sprintf("  x %s calls, us", per) : ""
		for (i = 1; i <= n; i++) {
			c = order[i]; d = ns[c, "after"] - ns[c, "before"]
			printf "%-10s %10.1f %10.1f %10.1f%s\n", c, ns[c, "before"], ns[c, "after"], d,
				per ? sprintf("  %8.2f", d * per / 1000) : ""
		}
	}' <<<"$out"
echo "(the min-max of each: $(tr '\n' ';' <<<"$out" | sed 's/;$//'))"
