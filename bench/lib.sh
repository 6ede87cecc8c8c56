# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# Helpers shared by the benchmark scripts (bench/https.sh, bench/mail.sh,
# bench/l4-vs-ipvs.sh). The caller sets LB_PID (the proxy it started)
# before lb_pids / mem_kb / cpu_ticks (perf_start: if it has one), V
# (declare -A V) before put / med, and FAILED before fail.

log() { printf '[%6ss] %s\n' "$SECONDS" "$*"; }
# fail WHAT: logged, and the run's exit status will say so
# shellcheck disable=SC2034 # the caller's
fail() { log "FAIL: $*"; FAILED=1; }
# kv "LINE" KEY: the value of KEY=value in a result line (benchcli's, ...).
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
nsx() { ip netns exec "$@"; }
# nsysctl NS net.ipv4.ip_forward 1 (only the namespace's own /proc/sys/net)
nsysctl() { nsx "$1" sh -c "echo $3 > /proc/sys/$(tr . / <<<"$2")"; }
# put KEY VALUE: one more value (one round) for a figure of the table.
put() { V[$1]="${V[$1]:+${V[$1]} }$2"; }

# bench_traps: the run's end, at exit or on a signal (timeout(1)'s TERM at
# --max-runtime: logged, exit 124): topo_down (the caller's) unless KEEP=1;
# WORK's files copied to OUT if set, less the tar --exclude patterns of the
# array OUT_EXCLUDE if set; WORK removed unless KEEP=1; the exit status kept.
bench_traps() {
	trap bench_cleanup EXIT
	trap 'log "interrupted (signal or --max-runtime $MAX_RUNTIME s)"; exit 124' INT TERM
}
# shellcheck disable=SC2317  # called by the trap
bench_cleanup() {
	local rc=$? p excl=()
	trap - EXIT INT TERM
	if [ "$KEEP" = 1 ]; then
		log "--keep: leaving the namespaces and servers up, files in $WORK"
	else
		topo_down
	fi
	if [ -n "$OUT" ]; then
		for p in ${OUT_EXCLUDE[@]+"${OUT_EXCLUDE[@]}"}; do excl+=("--exclude=$p"); done
		{ mkdir -p "$OUT" && tar -C "$WORK" "${excl[@]}" -cf - . | tar -C "$OUT" -xf -; } 2>/dev/null ||
			log "cannot copy the raw results to $OUT"
	fi
	[ "$KEEP" = 1 ] || rm -rf "$WORK"
	exit "$rc"
}

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

# mem_hold TAG LABEL CMD...: the proxy's memory per idle connection. CMD (a
# load generator's hold mode: bench/https/tlsload hold, bench/mail/mailload
# imap-hold) runs in NS_CLI with the options both share: IDLE_CONNS
# connections, 100 opening at a time, held until TAG.ready is written and
# then until stopped. The Pss of the proxy's processes (mem_kb) before and
# 2 s after, divided by the connections opened, goes to MEM_KIB; logged under
# LABEL. 1 (MEM_KIB empty) when nothing was opened; the caller sets CLI_PID's
# cleanup (topo_down stops it).
mem_hold() {
	local tag=$1 label=$2 before after rss_b rss_a line opened alive
	shift 2
	MEM_KIB=
	sleep 1
	before=$(mem_kb Pss)
	rss_b=$(mem_kb Rss)
	rm -f "$WORK/$tag.ready"
	# ip netns exec itself (it execs CMD), so that CLI_PID is the generator
	ip netns exec "$NS_CLI" "$@" -N "$IDLE_CONNS" -c 100 -T 20 -H $((120 + IDLE_CONNS / 20)) \
		-R "$WORK/$tag.ready" >"$WORK/$tag.hold.out" 2>&1 &
	CLI_PID=$!
	if ! wait_file "$WORK/$tag.ready" $((60 + IDLE_CONNS / 20)); then
		fail "$label: the idle connections did not open in time"
		stop_pid "$CLI_PID"; CLI_PID=
		return 1
	fi
	sleep 2
	after=$(mem_kb Pss)
	rss_a=$(mem_kb Rss)
	stop_pid "$CLI_PID"; CLI_PID=
	line=$(head -n1 "$WORK/$tag.hold.out")
	alive=$(kv "$(sed -n 2p "$WORK/$tag.hold.out")" alive)
	opened=$(kv "$line" opened)
	log "$label: $line alive=$alive; Pss $before -> $after kB, Rss $rss_b -> $rss_a kB"
	if [ "${opened:-0}" -lt "$IDLE_CONNS" ]; then
		fail "$label: only ${opened:-0} of $IDLE_CONNS connections opened"
		[ "${opened:-0}" -gt 0 ] || return 1
	fi
	[ "${alive:-0}" = "$opened" ] || log "$label: warning: the proxy closed $((opened - ${alive:-0})) idle connections"
	# shellcheck disable=SC2034  # the caller's result
	MEM_KIB=$(awk -v a="$after" -v b="$before" -v n="$opened" 'BEGIN { printf "%.1f", (a - b) / n }')
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

# perf_start TAG [-a] / perf_stop TAG [LABEL]: a call-graph profile of the
# proxy's processes (-a: of the whole machine, as for a balancer in the
# kernel) while a load runs (cpu-clock: no hardware counters needed;
# PERF_FREQ samples a second if set, else perf's default); the report
# (--no-children, self time) goes to TAG.perf.txt, by object to
# TAG.perf-dso.txt, by process to TAG.perf-comm.txt, call graphs to
# TAG.perf-graph.txt, the top to the log (LABEL, default TAG). Beside it,
# with LB_PID set, perf stat counts the proxy's system calls
# (TAG.syscalls.csv; perf_syscalls): on a virtual machine each one costs
# more than most of the work around it. The caller sets WORK and calls
# perf_kill in its cleanup.
PERF_PID=
PSTAT_PID=
SYSCALLS=read,write,readv,writev,recvfrom,sendto,recvmsg,sendmsg,epoll_wait,epoll_pwait,epoll_ctl,setsockopt,getsockopt,ioctl,fcntl,splice,close,accept4,connect,socket,shutdown,getsockname,getpid,futex,brk,mmap,munmap,madvise,mprotect,clock_gettime,gettimeofday,getrandom
perf_start() {
	local pids="" who freq=()
	[ -z "${LB_PID:-}" ] || pids=$(lb_pids | tr ' ' ,)
	who=(-p "$pids")
	[ "${2:-}" != -a ] || who=(-a)
	[ -z "${PERF_FREQ:-}" ] || freq=(-F "$PERF_FREQ")
	perf record -e cpu-clock "${freq[@]}" -g -o "$WORK/$1.perf.data" "${who[@]}" >"$WORK/$1.perf.log" 2>&1 &
	PERF_PID=$!
	if [ -n "$pids" ]; then
		perf stat -x, -o "$WORK/$1.syscalls.csv" -e raw_syscalls:sys_enter \
			-e "$(tr , '\n' <<<"$SYSCALLS" | sed 's/^/syscalls:sys_enter_/' | paste -sd,)" \
			-p "$pids" >/dev/null 2>&1 &
		PSTAT_PID=$!
	fi
	sleep 0.5
}
# perf_kill: the profile, if one runs, stopped without a report (cleanup).
perf_kill() {
	[ -z "$PERF_PID" ] || stop_pid "$PERF_PID"
	[ -z "$PSTAT_PID" ] || stop_pid "$PSTAT_PID"
	PERF_PID=
	PSTAT_PID=
}
perf_stop() {
	local what=${2:-$1} p
	[ -n "$PERF_PID" ] || return 0
	for p in $PERF_PID $PSTAT_PID; do
		kill -INT "$p" 2>/dev/null || true
	done
	for p in $PERF_PID $PSTAT_PID; do
		wait "$p" 2>/dev/null || true
	done
	PERF_PID=
	PSTAT_PID=
	perf report -i "$WORK/$1.perf.data" --no-children --stdio --percent-limit 0.5 -g none \
		>"$WORK/$1.perf.txt" 2>/dev/null || true
	perf report -i "$WORK/$1.perf.data" --no-children --stdio -g caller,0.5,callee \
		>"$WORK/$1.perf-graph.txt" 2>/dev/null || true
	perf report -i "$WORK/$1.perf.data" --no-children --stdio --sort dso -g none \
		>"$WORK/$1.perf-dso.txt" 2>/dev/null || true
	perf report -i "$WORK/$1.perf.data" --no-children --stdio --sort comm -g none \
		>"$WORK/$1.perf-comm.txt" 2>/dev/null || true
	log "$what: profile by process: $(grep -v '^#' "$WORK/$1.perf-comm.txt" | grep . | head -n 8 |
		awk '{ printf "%s %s, ", $2, $1 }')"
	log "$what: profile by object: $(grep -v '^#' "$WORK/$1.perf-dso.txt" | grep . | head -n 6 |
		awk '{ printf "%s %s, ", $2, $1 }')"
	log "$what: profile (self time, top 12; $WORK/$1.perf.txt):"
	grep -v '^#' "$WORK/$1.perf.txt" | grep . | head -n 12 | sed 's/^/    /'
}

# perf_syscalls TAG N [DIGITS]: perf_stop's system call counts divided by N
# (requests, sessions, MiB), most frequent first, into TAG.syscalls.txt:
# "all" (every system call), the named ones, and "other" (all - named).
# Fails when there is nothing to divide.
perf_syscalls() {
	[ -s "$WORK/$1.syscalls.csv" ] && [ "${2:-0}" -gt 0 ] || return 1
	awk -F, -v n="$2" -v d="${3:-2}" '$3 ~ /sys_enter/ && $1 + 0 > 0 {
		sub(/.*:sys_enter_?/, "", $3)
		if ($3 == "") all = $1; else { named += $1; printf "%s %.*f\n", $3, d, $1 / n }
	} END {
		printf "all %.*f\n", d, all / n
		if (all > named) printf "other %.*f\n", d, (all - named) / n
	}' "$WORK/$1.syscalls.csv" | sort -k2 -gr >"$WORK/$1.syscalls.txt"
}
