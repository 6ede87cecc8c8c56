#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# HTTPS (TLS-terminating L7 proxy): exlbd against HAProxy and nginx, one after
# another on the same VIP:443, with the same certificate, the same two real
# servers and the same worker count. A benchmark, not a test: it prints
# figures and ratios. Needs root, netns, veth, bridge, haproxy, nginx(-light),
# wrk, curl, openssl, python3, make, gcc + libssl-dev. The real servers are
# userspace/tests/lib/exchange-rs.sh's simulated Exchange servers (nginx).
# Runs on the host or in the test VM (tools/vm/run -- bench/https.sh ...).
#
#   netns exlbh-cli             netns exlbh-lb                      netns exlbh-rsN
#   cli0 198.18.0.2-6/24 ---- lbcli0 198.18.0.1/24                rs0 198.18.1.1N/24
#   default via .0.1                + VIP 198.18.0.10/32          exrs nginx :80
#                             lbbr0 198.18.1.1/24 ---lbrsN----
#
# Only 198.18.0.0/15, only in these namespaces (IPv6 off in them); nothing is
# routed anywhere else. For each balancer and each certificate (ECDSA P-256,
# RSA-2048) the proxy is started in exlbh-lb, probed (both real servers must
# answer), then measured, in this order:
#   1. memory per idle TLS connection: IDLE idle connections (handshake done,
#      no request; bench/https/tlsload hold); the Pss of all the proxy's
#      processes before and after, divided by the connections opened;
#   2. keep-alive requests/s: wrk -t 2 -c 50 on /owa/ (a ~100 B answer);
#   3. full handshakes/s: bench/https/tlsload hs, 50 in flight, a new TCP
#      connection and a new TLS session per request (no session cache, no
#      tickets: nothing can be resumed; it counts resumptions, must be 0),
#      one GET /owa/ with "Connection: close" each; and the proxy's CPU per
#      handshake;
#   4. bulk MB/s: curl GET /big/100M and POST 100 MiB to /echo, one stream,
#      --bulk-reps times each way (3, --quick 1).
# --rounds N repeats everything N times, alternating the balancers' order;
# the table shows medians (bulk: of every transfer), the spread below it
# (min-max, the count, and exlb/HAProxy round by round), the log every value.
# --metrics picks some of the four; --perf records a CPU profile (perf
# record -g) of the proxy's processes during each keep-alive and bulk run,
# counts their system calls (per request; bulk: per MiB) and, in bulk runs,
# samples the proxy's client socket (ss -ti) mid-transfer. --workers 1,2
# measures everything with 1 worker, then keep-alive req/s again with 2
# (each proxy restarted), and shows how each proxy scales.
#
# Usage: bench/https.sh [--quick] [--rounds N] [--only exlb|haproxy|nginx[,...]]
#        [--certs ecdsa,rsa] [--workers N[,N...]] [--tls-relay auto|ktls|userspace]
#        [--metrics mem,ka,hs,bulk] [--perf] [--idle-conns N] [--secs N] [--bulk-reps N]
#        [--max-runtime S] [--out DIR] [--keep]
# See docs/benchmarks.md, section "HTTPS (issue 4)".

set -euo pipefail

LBS=exlb,haproxy,nginx
CERTS=ecdsa,rsa
WORKERS_LIST=1
RELAY=
IDLE_CONNS=10000
SECS=10
BULK_REPS=3
ROUND=1
ROUNDS=1
METRICS=mem,ka,hs,bulk
PERF=0
MAX_RUNTIME=1200
QUICK=0
OUT=
KEEP=0
ARGS=("$@")
BENCH=https
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

idle_set=0 secs_set=0 reps_set=0
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1; shift ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--only) LBS=$2; shift 2 ;;
	--certs) CERTS=$2; shift 2 ;;
	--workers) WORKERS_LIST=$2; shift 2 ;;
	--tls-relay) RELAY=$2; shift 2 ;;
	--tls-relay=*) RELAY=${1#*=}; shift ;;
	--metrics) METRICS=$2; shift 2 ;;
	--perf) PERF=1; shift ;;
	--idle-conns) IDLE_CONNS=$2; idle_set=1; shift 2 ;;
	--secs) SECS=$2; secs_set=1; shift 2 ;;
	--bulk-reps) BULK_REPS=$2; reps_set=1; shift 2 ;;
	--max-runtime) MAX_RUNTIME=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help) usage ;;
	*) echo "https: unknown argument $1" >&2; usage ;;
	esac
done
if [ "$QUICK" = 1 ]; then
	[ "$idle_set" = 1 ] || IDLE_CONNS=1000
	[ "$secs_set" = 1 ] || SECS=3
	[ "$reps_set" = 1 ] || BULK_REPS=1
fi

IFS=, read -r -a WORKER_COUNTS <<<"$WORKERS_LIST"
[ ${#WORKER_COUNTS[@]} -gt 0 ] || die "--workers: a number or a list" 2
WORKERS=${WORKER_COUNTS[0]}	# everything is measured with the first count
numbers ROUNDS WORKERS IDLE_CONNS SECS BULK_REPS MAX_RUNTIME
range --rounds "$ROUNDS" 1 10
for n in "${WORKER_COUNTS[@]}"; do
	case "$n" in ''|*[!0-9]*) die "--workers: numbers (got '$n')" 2 ;; esac
	range --workers "$n" 1 64
done
range --idle-conns "$IDLE_CONNS" 100 50000
range --secs "$SECS" 1 120
range --bulk-reps "$BULK_REPS" 1 10
range --max-runtime "$MAX_RUNTIME" 60 86400
case "$RELAY" in ''|auto|ktls|userspace) ;; *) die "--tls-relay: auto, ktls or userspace" 2 ;; esac
IFS=, read -r -a LB_LIST <<<"$LBS"
for lb in "${LB_LIST[@]}"; do
	case "$lb" in exlb|haproxy|nginx) ;; *) die "--only: exlb, haproxy or nginx (got '$lb')" 2 ;; esac
done
IFS=, read -r -a CERT_LIST <<<"$CERTS"
IFS=, read -r -a METRIC_LIST <<<"$METRICS"
for m in "${METRIC_LIST[@]}"; do
	case "$m" in mem|ka|hs|bulk) ;; *) die "--metrics: mem, ka, hs and/or bulk (got '$m')" 2 ;; esac
done
want() { [[ ",$METRICS," == *",$1,"* ]]; }
for c in "${CERT_LIST[@]}"; do
	case "$c" in ecdsa|rsa) ;; *) die "--certs: ecdsa and/or rsa (got '$c')" 2 ;; esac
done

bench_bounded "${ARGS[@]}"

TPL=$REPO/bench/https
EXLBD=${EXLBD:-$REPO/userspace/build/exlbd}
EXLBCTL=${EXLBCTL:-$REPO/userspace/build/exlbctl}
EXRS_LIB=$REPO/userspace/tests/lib/exchange-rs.sh

NS_CLI=exlbh-cli
NS_LB=exlbh-lb
NS_RS=(exlbh-rs1 exlbh-rs2)
RS_ADDRS=(198.18.1.11 198.18.1.12)
VIP=198.18.0.10
URL=https://$VIP
CLI_SRCS=198.18.0.2,198.18.0.3,198.18.0.4,198.18.0.5,198.18.0.6
BIG=104857600	# 100 MiB, both directions

WORK=$(mktemp -d /tmp/exlb-bench-https.XXXXXX)
EXRS_UP=0
LB_PID=
CLI_PID=
FAILED=0
declare -A V	# results: V[lb.cert.metric] = the values of all rounds

topo_down() {
	procs_stop
	[ "$EXRS_UP" = 1 ] && exrs_cleanup
	EXRS_UP=0
	topo_del "$NS_CLI" "$NS_LB" "${NS_RS[@]}"
}

OUT_EXCLUDE=(./upload.bin)	# 100 MiB of random bytes
bench_traps

topo_up() {
	local i ns
	topo_down
	topo_ns "$NS_CLI" "$NS_LB" "${NS_RS[@]}"
	topo_cli "default via 198.18.0.1"
	# The handshake run opens and closes tens of thousands of connections.
	for ns in "$NS_CLI" "$NS_LB"; do
		nsysctl "$ns" net.ipv4.ip_local_port_range "1024 65535"
		nsysctl "$ns" net.ipv4.tcp_tw_reuse 1
	done
	topo_rs_bridge

	# The real servers: exchange-rs.sh's nginx (plain HTTP :80 used; it
	# keeps connections alive), /big/100M at full speed, /echo reads bodies.
	EXRS_UP=1
	for i in 0 1; do
		EXRS_BIG_MB=100 EXRS_LIMIT_RATE=0 exrs_setup "rs$((i + 1))" "${NS_RS[$i]}" "${RS_ADDRS[$i]}" ||
			{ log "the real server rs$((i + 1)) did not start"; return 1; }
	done
	log "topology up, both real servers answer"
}

# The upload body and the certificates.
make_files() {
	truncate -s "$BIG" "$WORK/upload.bin"	# sparse: read from the page cache
	openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 30 \
		-subj /CN=mail.bench.test -keyout "$WORK/ecdsa.key" -out "$WORK/ecdsa.crt" 2>/dev/null
	openssl req -x509 -nodes -newkey rsa:2048 -days 30 \
		-subj /CN=mail.bench.test -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null
	cat "$WORK/ecdsa.crt" "$WORK/ecdsa.key" >"$WORK/ecdsa.pem"
	cat "$WORK/rsa.crt" "$WORK/rsa.key" >"$WORK/rsa.pem"
}

# --------------------------------------------------------------------------
# The balancers: lb_available LB, lb_start LB CERT, lb_stop.

lb_available() {
	case "$1" in
	exlb)
		[ -x "$EXLBD" ] || { echo "$EXLBD is not built (make -C userspace)"; return 1; }
		[ -x "$EXLBCTL" ] || { echo "$EXLBCTL is not built (make -C userspace)"; return 1; }
		local h
		h=$("$EXLBD" --help 2>&1 || true)
		if ! grep -q -- '--tls-relay' <<<"$h" || ! grep -q -- '--workers' <<<"$h"; then
			echo "$EXLBD has no --tls-relay/--workers option: exlbd's L7 HTTPS proxy (issue 4) is not there yet"
			return 1
		fi
		;;
	haproxy) command -v haproxy >/dev/null || { echo "haproxy is not installed"; return 1; } ;;
	nginx) command -v nginx >/dev/null || { echo "nginx is not installed"; return 1; } ;;
	esac
}

# exlbctl's view of both real servers' health: "up up" when ready.
exlb_health() {
	"$EXLBCTL" -s "$WORK/exlbd.sock" -j status 2>/dev/null | python3 -c '
import json, sys
try:
    doc = json.load(sys.stdin)
except Exception:
    print("no-status"); sys.exit()
h = {}
for vs in doc.get("vs", []):
    if vs.get("name") == "Bench":
        for rs in vs.get("rs", []):
            h[rs.get("addr")] = rs.get("health")
print(" ".join(str(h.get(a, "absent")) for a in sys.argv[1:]))' "${RS_ADDRS[@]}"
}

lb_start() {
	local lb=$1 cert=$2 d=$WORK/$1.$2 i h
	rm -rf "$d"
	mkdir -p "$d"
	case "$lb" in
	haproxy)
		fill "$TPL/haproxy.cfg.in" "$d/haproxy.cfg" WORKERS="$WORKERS" DIR="$d" VIP="$VIP" \
			NOFILE="$NOFILE" MAXCONN=$((IDLE_CONNS + 500)) \
			PEM="$WORK/$cert.pem" RS1="${RS_ADDRS[0]}" RS2="${RS_ADDRS[1]}"
		ip netns exec "$NS_LB" haproxy -db -f "$d/haproxy.cfg" >"$d/log" 2>&1 &
		LB_PID=$!
		;;
	nginx)
		fill "$TPL/nginx-lb.conf.in" "$d/nginx.conf" WORKERS="$WORKERS" DIR="$d" VIP="$VIP" \
			NOFILE="$NOFILE" CONNS=$((IDLE_CONNS + 1000)) \
			CERT="$WORK/$cert.crt" KEY="$WORK/$cert.key" RS1="${RS_ADDRS[0]}" RS2="${RS_ADDRS[1]}"
		ip netns exec "$NS_LB" nginx -q -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >"$d/log" 2>&1 &
		LB_PID=$!
		;;
	exlb)
		proxy_exlbd_start "$d" || return 1
		local ctl=("$EXLBCTL" -s "$WORK/exlbd.sock")
		if ! { "${ctl[@]}" cert add bench "$WORK/$cert.crt" "$WORK/$cert.key" &&
		       "${ctl[@]}" vs add "$VIP" 443 tcp nickname=Bench VStype=http SSLAcceleration=1 \
				CertFile=bench CheckType=http CheckUrl=/owa/healthcheck.htm Idletime=1800 &&
		       "${ctl[@]}" rs add Bench "${RS_ADDRS[0]}" port=80 &&
		       "${ctl[@]}" rs add Bench "${RS_ADDRS[1]}" port=80; } >"$d/exlbctl.log" 2>&1; then
			log "exlbctl refused the configuration: $(tail -n 3 "$d/exlbctl.log" | tr '\n' ' ')"
			return 1
		fi
		for i in $(seq 150); do
			h=$(exlb_health)
			[ "$h" = "up up" ] && break
			sleep 0.2
		done
		log "exlb: real servers' health: $h"
		[ "$h" = "up up" ] || { log "exlbd's health checks did not bring both real servers up in 30 s"; return 1; }
		;;
	esac
	# The proxy must answer, and both real servers must be reached.
	local seen="" b end=$((SECONDS + 20))
	while [ "$SECONDS" -lt "$end" ]; do
		b=$(nsx "$NS_CLI" curl -sk -o /dev/null -D - --max-time 3 "$URL/owa/" 2>/dev/null |
			tr -d '\r' | awk 'tolower($1) == "x-rs:" { print $2 }')
		[ -n "$b" ] && [[ " $seen " != *" $b "* ]] && seen="$seen $b"
		[ "$(wc -w <<<"$seen")" = 2 ] && break
		kill -0 "$LB_PID" 2>/dev/null || break
		sleep 0.25
	done
	if [ "$(wc -w <<<"$seen")" != 2 ]; then
		log "$lb probe: real servers reached in 20 s:${seen:- none}; proxy log: $(tail -n 3 "$d/log" "$d/error.log" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	log "$lb ($cert): probe ok, both real servers reached:$seen; processes: $(lb_pids)"
}

# --------------------------------------------------------------------------
# The measurements; tag = LB.CERT.

# mem_run TAG: IDLE_CONNS idle TLS connections (handshake done, no request).
mem_run() {
	mem_hold "$1" "$1.mem" "$WORK/tlsload" hold -t "$VIP:443" -s "$CLI_SRCS" || return 1
	put "$1.mem" "$MEM_KIB"
	sleep 2	# let the proxy close them
}

# tcp_opens NS Passive|Active: TCP connections accepted / opened in NS so far.
tcp_opens() {
	# shellcheck disable=SC2016  # awk's own $1, $i, $n
	nsx "$1" awk -v k="$2Opens" '$1 == "Tcp:" { if (!n) { for (i = 2; i <= NF; i++) if ($i == k) n = i } else print $n }' /proc/net/snmp
}

# ka_run TAG [SUFFIX]: the figures go to TAG.ka[SUFFIX] and TAG.ka_cpu[SUFFIX].
ka_run() {
	local tag=$1 sfx=${2:-} out rps non2xx errs acc0 acc1 srv0 srv1 cpu0 cpu1 reqs us
	nsx "$NS_CLI" timeout 30 wrk -t 2 -c 50 -d 1s --timeout 5s "$URL/owa/" >/dev/null 2>&1 || true
	acc0=$(tcp_opens "$NS_LB" Passive)
	srv0=$(tcp_opens "$NS_LB" Active)
	[ "$PERF" = 0 ] || perf_start "$tag$sfx"
	cpu0=$(cpu_ticks)
	out=$(nsx "$NS_CLI" timeout $((SECS + 30)) wrk -t 2 -c 50 -d "${SECS}s" --timeout 5s --latency "$URL/owa/" 2>&1) ||
		{ perf_stop "$tag$sfx" "$tag$sfx.ka"; fail "$tag.ka$sfx: wrk failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"; return 1; }
	cpu1=$(cpu_ticks)
	perf_stop "$tag$sfx" "$tag$sfx.ka"
	acc1=$(tcp_opens "$NS_LB" Passive)
	srv1=$(tcp_opens "$NS_LB" Active)
	echo "$out" >"$WORK/$tag$sfx.wrk.out"
	reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
	us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="${reqs:-0}" \
		'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n }')
	# Per request: the count over wrk's requests (the profile ran a little
	# longer than wrk, so this errs high by a few per cent).
	if [ "$PERF" = 1 ] && perf_syscalls "$tag$sfx" "${reqs:-0}" 2; then
		log "$tag.ka$sfx: system calls per request: $(tr '\n' ' ' <"$WORK/$tag$sfx.syscalls.txt")"
	fi
	rps=$(awk '$1 == "Requests/sec:" { printf "%.0f", $2 }' <<<"$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
	errs=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' <<<"$out")
	log "$tag.ka$sfx: $rps req/s, proxy CPU ${us:-?} us/request, p50 $(awk '$1 == "50%" { print $2 }' <<<"$out"), p99 $(awk '$1 == "99%" { print $2 }' <<<"$out"), non-2xx ${non2xx:-0}, socket errors ${errs:-0}; connections: $((acc1 - acc0)) from wrk accepted, $((srv1 - srv0)) to the real servers opened"
	[ -n "$rps" ] || { fail "$tag.ka$sfx: no result"; return 1; }
	put "$tag.ka$sfx" "$rps"
	[ -z "$us" ] || put "$tag.ka_cpu$sfx" "$us"
	[ "${non2xx:-0}" = 0 ] && [ "${errs:-0}" = 0 ] && return 0
	fail "$tag.ka$sfx: ${non2xx:-0} non-2xx responses, ${errs:-0} socket errors"
}

# hs_run TAG: TAG.hs, TAG.hs_p99 and TAG.hs_cpu (the proxy's CPU per handshake:
# steadier than the rate when the load generator shares the CPUs).
hs_run() {
	local tag=$1 line cpu0 cpu1 us
	nsx "$NS_CLI" "$WORK/tlsload" hs -t "$VIP:443" -s "$CLI_SRCS" -c 50 -d 1 -T 5 >/dev/null 2>&1 || true
	[ "$PERF" = 0 ] || perf_start "$tag.hs"
	cpu0=$(cpu_ticks)
	line=$(nsx "$NS_CLI" timeout $((SECS + 30)) "$WORK/tlsload" hs -t "$VIP:443" -s "$CLI_SRCS" -c 50 \
		-d "$SECS" -m 1000000 -T 5 -p /owa/ 2>&1) || { perf_stop "$tag.hs"; fail "$tag.hs: tlsload failed: $line"; return 1; }
	cpu1=$(cpu_ticks)
	perf_stop "$tag.hs"
	us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$(kv "$line" conns)" \
		'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n }')
	if [ "$PERF" = 1 ] && perf_syscalls "$tag.hs" "$(kv "$line" conns)" 2; then
		log "$tag.hs: system calls per handshake: $(tr '\n' ' ' <"$WORK/$tag.hs.syscalls.txt")"
	fi
	log "$tag.hs: $line proxy_cpu_us=${us:-?}"
	[ -z "$us" ] || put "$tag.hs_cpu" "$us"
	[ "$(kv "$line" reused)" = 0 ] || fail "$tag.hs: resumed handshakes: $(kv "$line" reused)"
	local bad=$(( $(kv "$line" rsp_other) + $(kv "$line" err_connect) + $(kv "$line" err_tls) + \
		$(kv "$line" err_io) + $(kv "$line" timeouts) ))
	[ "$bad" = 0 ] || fail "$tag.hs: $bad failed requests"
	put "$tag.hs" "$(kv "$line" hs_s)"
	put "$tag.hs_p99" "$(kv "$line" lat_p99_ms)"
	V[$tag.params]="$(kv "$line" proto) $(kv "$line" cipher) $(kv "$line" group) $(kv "$line" cert)"
}

# bulk_run TAG down|up: BULK_REPS transfers of 100 MiB, each one's MB/s
# (TAG.DIR: every transfer of every round; TAG.DIR.rN: round N's).
# With --perf: a profile and the proxy's system calls per MiB over them, and
# the proxy's client-side socket (ss -ti) 2 s into each transfer: its
# data_segs_out against bytes_sent says how full its TCP segments are.
bulk_run() {
	local tag=$1 dir=$2 out i vals=() code size speed ss_pid="" cpu0 cpu1 st0 st1
	[ "$PERF" = 0 ] || perf_start "$tag.$dir" -a
	cpu0=$(cpu_ticks)
	st0=$(head -n1 /proc/stat)
	for i in $(seq "$BULK_REPS"); do
		if [ "$PERF" = 1 ]; then
			{ sleep 2; nsx "$NS_LB" ss -tinH state established "( sport = :443 )"; } \
				>"$WORK/$tag.$dir.$i.ss" 2>&1 &
			ss_pid=$!
		fi
		if [ "$dir" = down ]; then
			out=$(nsx "$NS_CLI" curl -sk -o /dev/null --max-time 120 \
				-w '%{http_code} %{size_download} %{speed_download}' "$URL/big/100M" 2>&1) || true
		else
			out=$(nsx "$NS_CLI" curl -sk -o /dev/null --max-time 120 -X POST -T "$WORK/upload.bin" \
				-H 'Expect:' -H 'Content-Type: application/octet-stream' \
				-w '%{http_code} %{size_upload} %{speed_upload}' "$URL/echo" 2>&1) || true
		fi
		if [ -n "$ss_pid" ]; then
			wait "$ss_pid" 2>/dev/null || true
			ss_pid=
			log "$tag.$dir: proxy's client socket 2 s in: $(tr -s ' \t\n' ' ' <"$WORK/$tag.$dir.$i.ss")"
		fi
		read -r code size speed <<<"$out"
		if [ "$code" != 200 ] || [ "$size" != "$BIG" ]; then
			perf_stop "$tag.$dir" "$tag.$dir"
			fail "$tag.$dir: HTTP ${code:-?}, $size of $BIG bytes ($out)"
			return 1
		fi
		vals+=("$(awk -v s="$speed" 'BEGIN { printf "%.1f", s / 1e6 }')")
	done
	cpu1=$(cpu_ticks)
	st1=$(head -n1 /proc/stat)
	if [ "$PERF" = 1 ]; then
		perf_stop "$tag.$dir" "$tag.$dir"
		if perf_syscalls "$tag.$dir" $((BULK_REPS * BIG / 1048576)) 1; then
			log "$tag.$dir: system calls per MiB: $(tr '\n' ' ' <"$WORK/$tag.$dir.syscalls.txt")"
		fi
	fi
	# The proxy's CPU time per MiB moved, and where the machine's went.
	local ms
	ms=$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n=$((BULK_REPS * BIG / 1048576)) \
		'BEGIN { printf "%.1f", t / hz * 1000 / n }')
	log "$tag.$dir: ${vals[*]} MB/s; proxy CPU $ms ms/MiB; machine: $(machine_split "$st0" "$st1")"
	put "$tag.${dir}_cpu" "$ms"
	for i in "${vals[@]}"; do
		put "$tag.$dir" "$i"
		put "$tag.$dir.r$ROUND" "$i"
	done
}

bench_lb() {
	local lb=$1 cert
	for cert in "${CERT_LIST[@]}"; do
		log "=== $(proxy_version "$lb"), $cert certificate ==="
		if ! lb_start "$lb" "$cert"; then
			fail "$lb ($cert): the proxy does not serve $URL/owa/ from both real servers"
			lb_stop
			continue
		fi
		! want mem || mem_run "$lb.$cert" || true
		! want ka || ka_run "$lb.$cert" || true
		! want hs || hs_run "$lb.$cert" || true
		! want bulk || bulk_run "$lb.$cert" down || true
		! want bulk || bulk_run "$lb.$cert" up || true
		kill -0 "$LB_PID" 2>/dev/null || fail "$lb ($cert): the proxy died: $(tail -n 3 "$WORK/$lb.$cert/log" | tr '\n' ' ')"
		lb_stop
		scale_run "$lb" "$cert"
	done
}

# The further --workers counts: keep-alive only, the proxy restarted with each.
scale_run() {
	local lb=$1 cert=$2 n first=$WORKERS
	for n in "${WORKER_COUNTS[@]:1}"; do
		WORKERS=$n
		log "=== $(proxy_version "$lb"), $cert certificate, $n workers ==="
		if lb_start "$lb" "$cert"; then
			ka_run "$lb.$cert" "_w$n" || true
			kill -0 "$LB_PID" 2>/dev/null || fail "$lb ($cert, $n workers): the proxy died"
		else
			fail "$lb ($cert, $n workers): the proxy does not serve $URL/owa/ from both real servers"
		fi
		lb_stop
	done
	WORKERS=$first
}

# --------------------------------------------------------------------------

[ "$(id -u)" = 0 ] || die "needs root"
[ -r "$EXRS_LIB" ] || die "$EXRS_LIB is missing"
# shellcheck source=userspace/tests/lib/exchange-rs.sh
. "$EXRS_LIB"
[ "$PERF" = 0 ] || command -v perf >/dev/null || die "--perf: perf is missing (linux-perf)"
for t in ip nginx wrk curl openssl make gcc python3; do
	command -v "$t" >/dev/null || die "$t is missing"
done
# HAProxy's maxconn is idle connections + 500; it refuses to start without
# the descriptors for them (the configs follow NOFILE).
nofile_fit 500
make -s -C "$REPO/bench" BUILD="$WORK" "$WORK/tlsload" >&2 ||
	die "cannot build bench/https/tlsload.c (libssl-dev?)"
ktls_load
lbs_available

make_files
log "exlb HTTPS benchmark: $(for lb in "${LB_LIST[@]}"; do printf '%s; ' "$(proxy_version "$lb")"; done)certificates: ${CERTS}"
log "kernel $(uname -r), $(nproc) CPUs, $(awk '/^MemTotal:/ { print $2 " kB" }' /proc/meminfo) RAM, kTLS module: $([ -d /sys/module/tls ] && echo loaded || echo no), $(openssl version)"
log "workers $WORKERS_LIST; keep-alive and handshakes ${SECS}s each, 50 connections; bulk $BULK_REPS x 100 MiB each way; $IDLE_CONNS idle connections; $ROUNDS round(s)"
topo_up || { fail "topology"; exit 1; }
if [ "$PERF" = 1 ]; then
	# perf's first machine-wide run spends seconds on its setup (in the VM
	# it caught none of the first transfer): pay for that here. ss -ti
	# needs the socket diagnostics module.
	perf record -e cpu-clock -a -o "$WORK/warmup.perf.data" -- sleep 2 >/dev/null 2>&1 || true
	modprobe -q tcp_diag 2>/dev/null || true
fi

bench_rounds

# --------------------------------------------------------------------------
# The table.

row() {	# row LABEL METRIC CERT; no line for a metric nobody was measured on
	[ -n "${V[exlb.$3.$2]:-}${V[haproxy.$3.$2]:-}${V[nginx.$3.$2]:-}" ] || return 0
	printf '%-46s %10s %10s %10s %13s %11s\n' "$1" "$(v "exlb.$3.$2")" "$(v "haproxy.$3.$2")" \
		"$(v "nginx.$3.$2")" "$(ratio "exlb.$3.$2" "haproxy.$3.$2")" "$(ratio "exlb.$3.$2" "nginx.$3.$2")"
}

echo
echo "== HTTPS proxy: exlb vs HAProxy vs nginx, $WORKERS worker(s), kernel $(uname -r), $(nproc) CPUs, median of $ROUNDS round(s) =="
printf '%-46s %10s %10s %10s %13s %11s\n' "metric" "exlb" "HAProxy" "nginx" "exlb/HAProxy" "exlb/nginx"
for cert in "${CERT_LIST[@]}"; do
	case "$cert" in ecdsa) name="ECDSA P-256" ;; rsa) name="RSA-2048" ;; esac
	row "$name: keep-alive req/s (wrk -c50, ${SECS}s)" ka "$cert"
	row "$name:   proxy CPU us/request (user+sys)" ka_cpu "$cert"
	for n in "${WORKER_COUNTS[@]:1}"; do
		row "$name: keep-alive req/s, $n workers" "ka_w$n" "$cert"
		row "$name:   proxy CPU us/request, $n workers" "ka_cpu_w$n" "$cert"
	done
	row "$name: full handshakes/s (50 in flight)" hs "$cert"
	row "$name:   handshake+request p99, ms" hs_p99 "$cert"
	row "$name:   proxy CPU us/handshake (user+sys)" hs_cpu "$cert"
	row "$name: download MB/s (100 MiB, 1 stream)" down "$cert"
	row "$name: upload MB/s (100 MiB, 1 stream)" up "$cert"
	row "$name:   proxy CPU ms/MiB, download" down_cpu "$cert"
	row "$name:   proxy CPU ms/MiB, upload" up_cpu "$cert"
	row "$name: memory/idle TLS conn, KiB (Pss)" mem "$cert"
done
for n in "${WORKER_COUNTS[@]:1}"; do
	for cert in "${CERT_LIST[@]}"; do
		printf 'keep-alive req/s with %s workers / with %s, %s:' "$n" "$WORKERS" "$cert"
		for lb in "${LB_LIST[@]}"; do printf ' %s %s' "$lb" "$(ratio "$lb.$cert.ka_w$n" "$lb.$cert.ka")"; done
		echo
	done
done
echo "(higher is better, except p99, CPU and memory; memory: $IDLE_CONNS idle connections, the proxy's processes' Pss)"
echo
echo "negotiated (from tlsload):"
params 20
# The spread of every figure measured more than once: median, min-max and
# the count; for bulk also exlb/HAProxy round by round (each round's medians).
spread_lines=()
for k in $(printf '%s\n' "${!V[@]}" | grep -v '\.params$\|\.r[0-9]*$' | sort); do
	line=$(spread "$k")
	[ -z "$line" ] || [[ $line == *" n=1" ]] || spread_lines+=("$(printf '  %-24s %s' "$k" "$line")")
	case "$k" in exlb.*.down|exlb.*.up) ;; *) continue ;; esac
	per=
	for r in $(seq "$ROUNDS"); do
		per="$per $(ratio "$k.r$r" "haproxy.${k#exlb.}.r$r")"
	done
	[ "$ROUNDS" = 1 ] || spread_lines+=("$(printf '  %-24s exlb/HAProxy round by round:%s' "$k" "$per")")
done
if [ ${#spread_lines[@]} -gt 0 ]; then
	echo
	echo "spread (median [min-max] n=values; bulk: every transfer):"
	printf '%s\n' "${spread_lines[@]}"
fi
if [ "$ROUNDS" -gt 1 ]; then
	echo
	echo "every round:"
	for k in $(printf '%s\n' "${!V[@]}" | grep -v '\.params$\|\.r[0-9]*$' | sort); do
		printf '  %-24s %s\n' "$k" "${V[$k]}"
	done
fi
bench_end
