# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# TAP for the host's end-to-end scripts: one "ok N - ..." / "not ok N - ..."
# line per assertion, each saying what was measured, and the plan last.
#
#   report STATUS DESCRIPTION   STATUS 0 = pass
#   check DESCRIPTION CMD...    reports whether CMD succeeds
#   diag LINE...                "# LINE" comments
#   wait_for SECONDS CMD...     runs CMD every 0.3 s until it succeeds, at
#                               most SECONDS; WAITED is how long it took
#   tap_end                     prints the plan; exits 0 only if at least
#                               one check ran and none failed
#   skip REASON                 "1..0 # SKIP REASON", exit 4 (only for what
#                               the machine cannot have)

TAP_N=0
TAP_FAILED=0

skip() { echo "1..0 # SKIP $*"; exit 4; }

report() {
	TAP_N=$((TAP_N + 1))
	if [ "$1" = 0 ]; then
		echo "ok $TAP_N - $2"
	else
		echo "not ok $TAP_N - $2"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}

check() {
	local what=$1
	shift
	"$@"
	report $? "$what"
}

# every line of every argument behind "# ": a log's tail cannot pass for TAP
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

tap_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

wait_for() {
	local secs=$1 t0=$EPOCHREALTIME
	shift
	while :; do
		"$@" && { WAITED=$(tap_since "$t0"); return 0; }
		awk -v a="$secs" -v b="$(tap_since "$t0")" 'BEGIN { exit !(a <= b) }' &&
			{ WAITED=$(tap_since "$t0"); return 1; }
		sleep 0.3
	done
}

tap_end() {
	echo "1..$TAP_N"
	[ "$TAP_N" -gt 0 ] && [ "$TAP_FAILED" = 0 ]
}
