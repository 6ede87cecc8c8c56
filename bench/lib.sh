# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# Helpers shared by the benchmark scripts (bench/https.sh, bench/mail.sh,
# bench/l4-vs-ipvs.sh). The caller sets BENCH (its name in messages) before
# die / numbers / range, LB_PID (the proxy it started) before lb_pids /
# mem_kb / cpu_ticks (perf_start: if it has one), V (declare -A V) before
# put / med, and FAILED before fail.

# die MESSAGE [STATUS]: "BENCH: MESSAGE" on stderr, exit STATUS (1).
die() { echo "$BENCH: $1" >&2; exit "${2:-1}"; }
# usage: the script's "# Usage:" comment, up to "# See", and exit 2.
usage() {
	sed -n '/^# Usage:/,/^# See/p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}
# numbers VAR...: exit 2 unless each VAR holds a whole number.
numbers() {
	local v
	for v in "$@"; do
		case "${!v}" in ''|*[!0-9]*) die "$v must be a number" 2 ;; esac
	done
}
# range NAME VALUE MIN MAX: exit 2 unless MIN <= VALUE <= MAX.
range() {
	if [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
		die "$1 must be in $3..$4" 2
	fi
}
# bench_bounded ARGS...: the whole run bounded: the script re-runs itself
# with ARGS under timeout(1) MAX_RUNTIME (once; TERM reaches bench_traps').
bench_bounded() {
	[ -z "${EXLB_BENCH_BOUNDED:-}" ] || return 0
	export EXLB_BENCH_BOUNDED=1
	exec timeout --kill-after=30 "$MAX_RUNTIME" "$0" "$@"
}

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

# The topology (bench/https.sh's picture; mail.sh and l4-vs-ipvs.sh differ in
# the details): NS_CLI's cli0 to NS_LB's lbcli0, NS_LB's bridge lbbr0 to each
# NS_RS[i]'s rs0. Only 198.18.0.0/15 on these links.
# topo_ns NS...: new namespaces, loopback up, IPv6 off.
topo_ns() {
	local ns
	for ns in "$@"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		if nsx "$ns" test -e /proc/sys/net/ipv6/conf/all/disable_ipv6; then
			nsysctl "$ns" net.ipv6.conf.all.disable_ipv6 1
			nsysctl "$ns" net.ipv6.conf.default.disable_ipv6 1
		fi
	done
}
# topo_del NS...: the namespaces deleted (if they exist).
topo_del() {
	local ns
	for ns in "$@"; do ip netns del "$ns" 2>/dev/null || true; done
}
# topo_cli ROUTE [N...]: cli0 in NS_CLI (198.18.0.2-6/24, CLI_SRCS, and
# 198.18.0.N/24 for each N) to lbcli0 in NS_LB (198.18.0.1/24 and VIP/32);
# ROUTE is the client's route to the VIP ("default via 198.18.0.1").
topo_cli() {
	local route i
	read -r -a route <<<"$1"
	shift
	ip -n "$NS_CLI" link add cli0 type veth peer name lbcli0 netns "$NS_LB"
	# one ip process for all of them: forks are slow under emulation
	for i in 2 3 4 5 6 "$@"; do
		echo "addr add 198.18.0.$i/24 dev cli0"
	done | ip -n "$NS_CLI" -batch -
	ip -n "$NS_CLI" link set cli0 up
	ip -n "$NS_CLI" route add "${route[@]}"
	ip -n "$NS_LB" addr add 198.18.0.1/24 dev lbcli0
	ip -n "$NS_LB" addr add "$VIP/32" dev lbcli0
	ip -n "$NS_LB" link set lbcli0 up
}
# topo_rs_bridge: lbbr0 (198.18.1.1/24) in NS_LB, and a veth from
# lbrs<i+1> in it to rs0 (RS_ADDRS[i]/24) in NS_RS[i], for each i.
topo_rs_bridge() {
	local i ns
	ip -n "$NS_LB" link add lbbr0 type bridge forward_delay 0 stp_state 0
	ip -n "$NS_LB" addr add 198.18.1.1/24 dev lbbr0
	ip -n "$NS_LB" link set lbbr0 up
	for i in "${!NS_RS[@]}"; do
		ns=${NS_RS[$i]}
		ip -n "$ns" link add rs0 type veth peer name "lbrs$((i + 1))" netns "$NS_LB"
		ip -n "$NS_LB" link set "lbrs$((i + 1))" master lbbr0
		ip -n "$NS_LB" link set "lbrs$((i + 1))" up
		ip -n "$ns" addr add "${RS_ADDRS[$i]}/24" dev rs0
		ip -n "$ns" link set rs0 up
	done
}

# procs_stop: the load generator (CLI_PID), the profile (perf_start) and
# the proxy (LB_PID) stopped, those that run.
procs_stop() {
	[ -z "${CLI_PID:-}" ] || stop_pid "$CLI_PID"
	CLI_PID=
	perf_kill
	[ -z "${LB_PID:-}" ] || stop_pid "$LB_PID"
	LB_PID=
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

# The proxies of bench/https.sh and bench/mail.sh (LB_PID).
# proxy_version LB: exlb (WORKERS, RELAY), haproxy or nginx and its version.
proxy_version() {
	case "$1" in
	exlb) echo "exlbd (--workers $WORKERS${RELAY:+ --tls-relay=$RELAY})" ;;
	haproxy) haproxy -v 2>/dev/null | awk 'NR == 1 { print "HAProxy " $3 }' ;;
	nginx) nginx -v 2>&1 | sed 's|.*nginx/|nginx |' ;;
	esac
}
# proxy_exlbd_start DIR: exlbd in NS_LB, no kernel module, WORKERS workers (and
# RELAY), its state in DIR/state, its output in DIR/log, its socket
# WORK/exlbd.sock; LB_PID. 1 when the socket is not there within 10 s.
proxy_exlbd_start() {
	local d=$1
	rm -f "$WORK/exlbd.sock"
	ip netns exec "$NS_LB" "$EXLBD" --state-dir "$d/state" --socket "$WORK/exlbd.sock" \
		--no-kernel --workers "$WORKERS" ${RELAY:+--tls-relay="$RELAY"} \
		--access-log /dev/null >"$d/log" 2>&1 &
	LB_PID=$!
	for _ in $(seq 100); do
		[ -S "$WORK/exlbd.sock" ] && return 0
		kill -0 "$LB_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -S "$WORK/exlbd.sock" ] && return 0
	log "exlbd did not start: $(tail -n 3 "$d/log" | tr '\n' ' ')"
	return 1
}
lb_stop() {
	[ -n "$LB_PID" ] && stop_pid "$LB_PID"
	LB_PID=
	sleep 1	# TIME_WAIT does not matter; the port must be free
}
# ktls_load: with RELAY=ktls, the tls module loaded (else a warning).
ktls_load() {
	if [ "$RELAY" = ktls ] && [ ! -d /sys/module/tls ]; then
		modprobe tls 2>/dev/null || log "warning: --tls-relay ktls, but the tls module is not loaded and modprobe tls failed"
	fi
	return 0
}
# nofile_fit EXTRA: ulimit -n raised for IDLE_CONNS idle connections: one
# descriptor each in the client and the proxy, HAProxy two (its maxconn is
# IDLE_CONNS + EXTRA), so 2 * (IDLE_CONNS + EXTRA) + 100; NOFILE the limit.
# Where root lacks CAP_SYS_RESOURCE the hard limit stays: then fewer
# IDLE_CONNS, or exit 1 if --idle-conns asked for them (idle_set=1).
nofile_fit() {
	local need
	ulimit -n 262144 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	NOFILE=$(ulimit -n)
	[ "$NOFILE" = unlimited ] && NOFILE=262144
	need=$((2 * (IDLE_CONNS + $1) + 100))
	[ "$NOFILE" -lt "$need" ] || return 0
	[ "${idle_set:-0}" = 1 ] && die "ulimit -n is $NOFILE; --idle-conns $IDLE_CONNS needs $need"
	IDLE_CONNS=$(( ((NOFILE - 100) / 2 - $1) / 1000 * 1000 ))
	echo "$BENCH: ulimit -n is only $NOFILE (no CAP_SYS_RESOURCE?): $IDLE_CONNS idle connections" >&2
	range --idle-conns "$IDLE_CONNS" 100 50000
}
# lbs_available: LB_LIST less those lb_available LB (the caller's) refuses,
# each a FAIL line; exit 1 when none is left.
lbs_available() {
	local lb why avail=()
	for lb in "${LB_LIST[@]}"; do
		if why=$(lb_available "$lb"); then avail+=("$lb"); else fail "$lb: skipped: $why"; fi
	done
	[ ${#avail[@]} -gt 0 ] || exit 1
	LB_LIST=("${avail[@]}")
}
# lb_order ROUND: LB_LIST in round ROUND's order, reversed in even rounds.
lb_order() {
	local i
	if [ $(($1 % 2)) = 1 ]; then
		echo "${LB_LIST[*]}"
	else
		for ((i = ${#LB_LIST[@]} - 1; i >= 0; i--)); do printf '%s ' "${LB_LIST[$i]}"; done
		echo
	fi
}
# bench_rounds: bench_lb LB (the caller's) for each balancer, ROUNDS rounds
# (ROUND set), in lb_order.
# shellcheck disable=SC2153  # ROUNDS is the caller's
bench_rounds() {
	local order lb
	for ROUND in $(seq "$ROUNDS"); do
		read -r -a order <<<"$(lb_order "$ROUND")"
		[ "$ROUNDS" = 1 ] || log "--- round $ROUND of $ROUNDS: ${order[*]} ---"
		for lb in "${order[@]}"; do bench_lb "$lb"; done
	done
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

# spread KEY: "median [min-max] n=N" of V[KEY]; nothing when it has no values.
spread() {
	tr ' ' '\n' <<<"${V[$1]:-}" | grep . | sort -g |
		awk '{ a[NR] = $1 } END { if (NR) printf "%s [%s-%s] n=%d", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2, a[1], a[NR], NR }'
}
# params WIDTH: what the TLS clients negotiated (V[KEY.params]), a line each.
params() {
	local k
	for k in $(printf '%s\n' "${!V[@]}" | grep '\.params$' | sort); do
		printf "  %-${1}s %s\n" "${k%.params}" "${V[$k]}"
	done
}
# bench_end: exit 1 (and say so) if anything failed, else 0.
bench_end() {
	echo
	if [ "$FAILED" != 0 ]; then
		echo "Some measurements failed or were skipped; see the FAIL lines above."
		exit 1
	fi
	exit 0
}

# machine_split STAT0 STAT1: where all CPUs' time went between two "cpu"
# lines of /proc/stat.
machine_split() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		split(a, x); split(b, y); for (i = 2; i <= 9; i++) { d[i] = y[i] - x[i]; t += d[i] }
		if (t > 0) printf "user %.0f%% sys %.0f%% softirq %.0f%% idle %.0f%% steal %.0f%%",
			100 * (d[2] + d[3]) / t, 100 * d[4] / t, 100 * (d[7] + d[8]) / t, 100 * (d[5] + d[6]) / t, 100 * d[9] / t }'
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
