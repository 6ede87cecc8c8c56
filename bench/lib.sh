# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# Helpers shared by the benchmark scripts (bench/mail.sh; bench/https.sh has
# its own copies of most of them and takes cpu_ticks from here). The caller
# sets LB_PID (the proxy it started) before lb_pids / mem_kb / cpu_ticks, and
# V (declare -A V) before put / med.

log() { printf '[%6ss] %s\n' "$SECONDS" "$*"; }
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
nsx() { ip netns exec "$@"; }
nsysctl() { nsx "$1" sh -c "echo $3 > /proc/sys/$(tr . / <<<"$2")"; }
put() { V[$1]="${V[$1]:+${V[$1]} }$2"; }

# Stop a process we started: TERM, up to 5 s, then KILL.
stop_pid() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# wait_file FILE SECS: bounded wait for a non-empty FILE.
wait_file() {
	for _ in $(seq $(($2 * 10))); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# fill TEMPLATE OUT KEY=VALUE...: the template with @KEY@ replaced.
fill() {
	local tpl=$1 out=$2 kv args=()
	shift 2
	for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
	sed "${args[@]}" "$tpl" >"$out"
}

# The processes of the proxy: LB_PID and its descendants.
lb_pids() {
	local all=" $LB_PID " grew=1 pid ppid f
	while [ "$grew" = 1 ]; do
		grew=0
		for f in /proc/[0-9]*/stat; do
			read -r pid _ _ ppid _ <"$f" 2>/dev/null || continue
			if [[ $all == *" $ppid "* && $all != *" $pid "* ]]; then
				all="$all$pid "
				grew=1
			fi
		done 2>/dev/null
	done
	echo "${all# }"
}

# mem_kb Pss|Rss: the sum over the proxy's processes, kB.
mem_kb() {
	local pid sum=0 v
	for pid in $(lb_pids); do
		v=$(awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# med KEY: the median of V[KEY]; v KEY: the same or n/a; ratio A B: A/B.
med() {
	tr ' ' '\n' <<<"${V[$1]:-}" | grep . | sort -g |
		awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else if (NR) print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
v() { local m; m=$(med "$1"); echo "${m:-n/a}"; }
ratio() {
	awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN {
		if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}

# cpu_ticks: user + system time of the proxy's processes so far, clock ticks.
cpu_ticks() {
	local pid sum=0 st
	for pid in $(lb_pids); do
		st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
		sum=$((sum + $(awk '{ print $12 + $13 }' <<<"$st")))
	done
	echo "$sum"
}
