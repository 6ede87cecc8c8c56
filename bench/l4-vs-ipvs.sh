#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# exlb.ko against IPVS (NAT mode), same topology, same scheduler (rr), same
# real servers. Meant to run inside the test VM (bench/run.sh does that):
# it needs root, netns, veth, bridge, nf_conntrack, ip_vs + ip_vs_rr and
# exlb.ko loaded, /proc/slabinfo, and writable /run and /tmp.
#
# Topology (built from scratch for each balancer, torn down after):
#
#   netns exlbb-cli            netns exlbb-lb                     netns exlbb-rsN
#   cli0 198.18.0.2-6/24 ---- lbcli0 198.18.0.1/24            rs0 198.18.1.1N/24
#   default via .0.1                + VIP 198.18.0.10/32      default via 198.18.1.1
#                             lbbr0 198.18.1.1/24 --lbrsN---- (benchsrv on :8080)
#
# Only 198.18.0.0/15 is used (IPv6 is switched off in these namespaces).
# For each balancer, in this order (memory first, on a clean table):
#   1. memory, baseline: IDLE_CONNS idle connections straight to the real
#      servers (plain routing, no balancer configured); slab growth noted;
#   2. the balancer is configured and probed (3 RS must answer);
#   3. memory: IDLE_CONNS idle connections through the VIP; the balancer's
#      cost per connection = (growth - baseline growth) / IDLE_CONNS;
#   4. new connections per second: CONCURRENCY clients for CPS_SECS (after a
#      1 s warm-up);
#   5. bulk throughput: STREAMS streams for BULK_SECS.
# (The rate before the bulk: each row measures its own traffic, not the
# tail of the other's; exlb keeps its flowtable hooks 10 s after the last
# bulk flow, docs/ARCHITECTURE.md "Established flows".)
# In the first topology, after a warm-up that is not counted (qemu's TCG
# translates code on first use), the same cps/bulk runs also go straight to
# the real servers ("direct": what the VM manages with routing alone).
# --rounds N repeats the balancers N times, alternating their order; the
# table shows the median of the rounds, the log every value.
# Optional rows:
#   --big-idle-conns N: memory again with N idle connections through the
#      VIP (after step 3), in the first --big-rounds rounds; the baseline
#      is step 1's per connection (sockets are linear in the count, and a
#      second hold of N straight to the servers would double the time);
#   --no-mem: skip the memory holds (steps 1 and 3), for rate comparisons;
#   --exlb-alt-ko KO with --lbs ...,exlb-alt: "exlb-alt" is exlb with KO
#      loaded in place of EXLB_KO (rmmod/insmod around its run), to compare
#      two builds of exlb.ko in one session, alternated like the others;
#      --exlb-alt-params "P=V ..." loads it with those module parameters
#      (without --exlb-alt-ko: EXLB_KO itself, e.g. flow_offload=0);
#   --persist: after step 5, in a fresh topology, the balancer again with
#      source-IP persistence (exlb Persist=src, IPVS -p): probe (one client
#      address must stick to one RS), memory (IDLE_CONNS idle connections
#      from PERSIST_NSRC client addresses, against step 1's baseline) and
#      new connections per second;
#   --profile: perf record -e cpu-clock -a -g during each balancer's first
#      connection-rate run (bench/lib.sh's perf_start); the top of perf
#      report goes to the log, the reports to the raw files (the figures
#      of a profiled run are perf's too: do not quote them).
#   --trace: after each connection-rate run, one more of TRACE_SECS under
#      ftrace's function_graph tracer, outermost calls only, of the
#      balancers' entry points (TRACE_FUNCS): microseconds per connection
#      in each, and their sum, the "LB path" row (the time of the
#      balancer's namespace minus routing's input; the tracer's own cost
#      per call is in it, alike for all). Works under TCG, where perf
#      does not. After each bulk run likewise, per MB moved: the "LB
#      path, us/MB" row (what a byte costs the balancer's CPU, which the
#      throughput row hides while the endpoints are the bottleneck).
#
# --lbs exlb,ipvs,nft adds nftables' DNAT (numgen rr map): conntrack and
# nf_nat with no balancer code, the floor of exlb's design.
#
# Usage: bench/l4-vs-ipvs.sh [--lbs exlb,ipvs[,nft]|none] [--cps-secs N]
#        [--concurrency N] [--bulk-secs N] [--streams N] [--idle-conns N]
#        [--big-idle-conns N] [--big-rounds N] [--persist] [--profile] [--trace] [--no-mem]
#        [--exlb-alt-ko KO] [--exlb-alt-params "P=V ..."]
#        [--rounds N] [--max-runtime S] [--out DIR] [--no-global-sysctl] [--keep]
# See docs/benchmarks.md.

set -euo pipefail

LBS=exlb,ipvs
CPS_SECS=10
CONCURRENCY=64
BULK_SECS=5
STREAMS=3
IDLE_CONNS=5000
BIG_IDLE_CONNS=0
BIG_ROUNDS=1
PERSIST=0
PROFILE=0
TRACE=0
TRACE_SECS=3
MEM=1
EXLB_ALT_KO=
EXLB_ALT_PARAMS=
ROUNDS=1
MAX_RUNTIME=1500
OUT=
GLOBAL_SYSCTL=1
KEEP=0
ARGS=("$@")
BENCH=l4-vs-ipvs
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

while [ $# -gt 0 ]; do
	case "$1" in
	--lbs) LBS=$2; shift 2 ;;
	--cps-secs) CPS_SECS=$2; shift 2 ;;
	--concurrency) CONCURRENCY=$2; shift 2 ;;
	--bulk-secs) BULK_SECS=$2; shift 2 ;;
	--streams) STREAMS=$2; shift 2 ;;
	--idle-conns) IDLE_CONNS=$2; shift 2 ;;
	--big-idle-conns) BIG_IDLE_CONNS=$2; shift 2 ;;
	--big-rounds) BIG_ROUNDS=$2; shift 2 ;;
	--persist) PERSIST=1; shift ;;
	--profile) PROFILE=1; shift ;;
	--trace) TRACE=1; shift ;;
	--no-mem) MEM=0; shift ;;
	--exlb-alt-ko) EXLB_ALT_KO=$2; shift 2 ;;
	--exlb-alt-params) EXLB_ALT_PARAMS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--max-runtime) MAX_RUNTIME=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--no-global-sysctl) GLOBAL_SYSCTL=0; shift ;;
	--keep) KEEP=1; shift ;;
	-h|--help) usage ;;
	*) echo "l4-vs-ipvs: unknown argument $1" >&2; usage ;;
	esac
done

# --exlb-alt-params alone: the same module, other parameters
[ -n "$EXLB_ALT_KO" ] || [ -z "$EXLB_ALT_PARAMS" ] || EXLB_ALT_KO=${EXLB_KO:-}

numbers CPS_SECS CONCURRENCY BULK_SECS STREAMS IDLE_CONNS BIG_IDLE_CONNS BIG_ROUNDS ROUNDS MAX_RUNTIME
range --cps-secs "$CPS_SECS" 1 300
range --bulk-secs "$BULK_SECS" 1 300
range --idle-conns "$IDLE_CONNS" 100 100000
# 5 client addresses x ~64k ports each, and the VM's memory (~3 KB of
# sockets per connection on each side: pass tools/vm/run --memory 3072).
[ "$BIG_IDLE_CONNS" = 0 ] || range --big-idle-conns "$BIG_IDLE_CONNS" 1000 200000
range --big-rounds "$BIG_ROUNDS" 1 10
range --concurrency "$CONCURRENCY" 1 10000
range --streams "$STREAMS" 1 64
range --rounds "$ROUNDS" 1 10
range --max-runtime "$MAX_RUNTIME" 60 86400

bench_bounded "${ARGS[@]}"

EXLBADM=${EXLBADM:-$REPO/userspace/build/exlbadm}
BIN=${BENCH_BIN:-$REPO/bench/build}

NS_CLI=exlbb-cli
NS_LB=exlbb-lb
NS_RS=(exlbb-rs1 exlbb-rs2 exlbb-rs3)
RS_ADDRS=(198.18.1.11 198.18.1.12 198.18.1.13)
RS_PORT=8080
VIP=198.18.0.10
VPORT=80
CLI_SRCS=198.18.0.2,198.18.0.3,198.18.0.4,198.18.0.5,198.18.0.6
# The persistence phase's clients: 60 addresses (benchcli takes up to 64),
# so that the balancers hold 60 persistence records, one per client.
PERSIST_NSRC=60
PERSIST_SRCS=$(seq -s, -f '198.18.0.%g' 100 $((100 + PERSIST_NSRC - 1)))
PERSIST_TIMEOUT=300
RS_TARGETS=$(printf '%s:'"$RS_PORT"',' "${RS_ADDRS[@]}"); RS_TARGETS=${RS_TARGETS%,}
VIP_TARGET=$VIP:$VPORT
# Each client source address has ~64k ports; stay well below that in total.
CPS_MAX_CONNS=250000

WORK=$(mktemp -d /tmp/exlb-bench.XXXXXX)
SRV_PIDS=()
CLI_PID=
FAILED=0
declare -A R	# per-run scratch: R[tag.opened]
declare -A V	# results: V[lb.metric] = the values of all rounds, space-separated

topo_down() {
	local pid
	procs_stop
	for pid in "${SRV_PIDS[@]}"; do stop_pid "$pid"; done
	SRV_PIDS=()
	topo_del "$NS_CLI" "$NS_LB" "${NS_RS[@]}"
}

bench_traps

topo_up() {
	local i ns
	topo_down
	topo_ns "$NS_CLI" "$NS_LB" "${NS_RS[@]}"
	for ns in "$NS_CLI" "$NS_LB" "${NS_RS[@]}"; do
		nsysctl "$ns" net.ipv4.conf.all.rp_filter 0
		nsysctl "$ns" net.ipv4.conf.default.rp_filter 0
	done

	# client <-> LB, with the persistence phase's client addresses
	# shellcheck disable=SC2046  # a word each
	topo_cli "default via 198.18.0.1" $(seq 100 $((100 + PERSIST_NSRC - 1)))
	nsysctl "$NS_CLI" net.ipv4.ip_local_port_range "1024 65535"
	nsysctl "$NS_LB" net.ipv4.ip_forward 1

	# LB bridge <-> real servers
	topo_rs_bridge
	for ns in "${NS_RS[@]}"; do
		ip -n "$ns" route add default via 198.18.1.1
	done

	# One server per real server.
	for i in 0 1 2; do
		ns=${NS_RS[$i]}
		rm -f "$WORK/ready.rs$i"
		# Not through the nsx function: $! must be the server itself.
		ip netns exec "$ns" "$BIN/benchsrv" -l "0.0.0.0:$RS_PORT" -n "rs$((i + 1))" \
			-T "$MAX_RUNTIME" -R "$WORK/ready.rs$i" 2>>"$WORK/benchsrv.log" &
		SRV_PIDS+=($!)
	done
	for i in 0 1 2; do
		wait_file "$WORK/ready.rs$i" 10 || { log "benchsrv in ${NS_RS[$i]} did not start"; return 1; }
	done

	# Plain routing must work: one connection to each real server.
	local line
	for i in 1 2 3 4 5 6 7 8 9 10; do
		line=$(nsx "$NS_CLI" "$BIN/benchcli" rate -t "$RS_TARGETS" -c 1 -m 3 -d 5 -T 2 || true)
		[ "$(kv "$line" conns)" = 3 ] && break
		sleep 0.5
	done
	if [ "$(kv "$line" conns)" != 3 ]; then
		log "topology check failed: $line"
		return 1
	fi
	log "topology up, routing checked: $line"
}

# Shrink every slab cache: per-CPU slabs are flushed and empty slabs freed,
# so /proc/slabinfo's active objects are the objects in use (SLUB otherwise
# counts the free objects of per-CPU slabs as active) and Slab: in
# /proc/meminfo drops the slack.
shrink_slabs() {
	local d
	for d in /sys/kernel/slab/*; do
		[ -L "$d" ] && continue	# a merged alias: the real directory is listed too
		[ -w "$d/shrink" ] && { echo 1 >"$d/shrink"; } 2>/dev/null
	done
	return 0
}

# Slab snapshot: /proc/slabinfo and the Slab: line of /proc/meminfo.
snap() {
	sync
	sleep 1
	shrink_slabs
	cat /proc/slabinfo >"$1.slab"
	awk '/^Slab:/ { print $2 }' /proc/meminfo >"$1.meminfo"
}

# slab_delta BEFORE AFTER OUT: per cache "name bytes" (active objects x
# object size) grown between the two snapshots, plus "TOTAL" and "MEMINFO"
# (the Slab: line, bytes). Summing over all caches is immune to SLUB cache
# merging (a module's cache may be merged into e.g. kmalloc-96).
slab_delta() {
	awk 'FNR <= 2 { next }
	     NR == FNR { b[$1] = $2 * $4; seen[$1] = 1; next }
	     { a[$1] = $2 * $4; seen[$1] = 1 }
	     END { t = 0
		   for (n in seen) { d = a[n] - b[n]; t += d; if (d != 0) print n, d }
		   print "TOTAL", t }' "$1.slab" "$2.slab" >"$3"
	echo "MEMINFO $(( ($(cat "$2.meminfo") - $(cat "$1.meminfo")) * 1024 ))" >>"$3"
}

# hold_measure TAG TARGETS [N [SOURCES]]: open N (IDLE_CONNS) idle
# connections from SOURCES (CLI_SRCS), note the slab growth in
# $WORK/TAG.delta and the count opened in R[TAG.opened].
hold_measure() {
	local tag=$1 targets=$2 n=${3:-$IDLE_CONNS} srcs=${4:-$CLI_SRCS} line opened t1
	rm -f "$WORK/$tag.ready"
	snap "$WORK/$tag.before"
	t1=$SECONDS
	ip netns exec "$NS_CLI" "$BIN/benchcli" hold -t "$targets" -s "$srcs" -N "$n" \
		-c 200 -T 10 -H $((900 + n / 20)) -R "$WORK/$tag.ready" >"$WORK/$tag.hold.out" 2>&1 &
	CLI_PID=$!
	if ! wait_file "$WORK/$tag.ready" $((90 + n / 20)); then
		fail "$tag: the idle connections did not open in time"
		stop_pid "$CLI_PID"; CLI_PID=
		return 1
	fi
	snap "$WORK/$tag.after"
	line=$(head -n1 "$WORK/$tag.hold.out")
	log "$tag: $line (ready after $((SECONDS - t1))s)"
	opened=$(kv "$line" opened)
	R[$tag.opened]=$opened
	# What the balancer holds right now, for the log.
	case "$tag" in
	*.base) ;;
	exlb-alt.*) ;;
	nft.*)
		log "$tag: LB conntrack entries: $(nsx "$NS_LB" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo n/a)"
		;;
	exlb.*)
		log "$tag: LB conntrack entries: $(nsx "$NS_LB" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo n/a)"
		nsx "$NS_LB" "$EXLBADM" -j vs show >"$WORK/$tag.vs.json" 2>&1 || true
		log "$tag: exlbadm -j vs show: $(head -c 600 "$WORK/$tag.vs.json" | tr '\n' ' ')"
		;;
	ipvs.*)
		log "$tag: LB conntrack entries: $(nsx "$NS_LB" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo n/a)"
		log "$tag: IPVS ActiveConn/InActConn: $(nsx "$NS_LB" ipvsadm -Ln | awk '$1 == "->" && $2 ~ /:/ { a += $5; i += $6 } END { print a + 0 "/" i + 0 }')"
		;;
	esac
	local t0=$SECONDS
	stop_pid "$CLI_PID"; CLI_PID=
	log "$tag: idle connections closed (RST) in $((SECONDS - t0))s"
	slab_delta "$WORK/$tag.before" "$WORK/$tag.after" "$WORK/$tag.delta"
	if [ "${opened:-0}" -lt "$n" ]; then
		fail "$tag: only ${opened:-0} of $n connections opened"
		[ "${opened:-0}" -gt 0 ] || return 1
	fi
	# Let RSTed flows leave the tables (conntrack CLOSE is 10 s) before
	# anything else is measured.
	sleep 11
}

# delta_of FILE NAME: bytes grown for cache NAME (0 if absent).
delta_of() { awk -v n="$2" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }' "$1"; }

# The slab caches a balancer's per-connection state can live in: the small
# kmalloc-* caches up to 512 B (conntrack extensions, exlb's persistence
# records, ...; the bigger ones hold packet buffers and process state and
# only add noise), nf_conntrack*,
# ip_vs*, exlb*, and whatever cache SLUB merged exlb_flow, ip_vs_conn or
# nf_conntrack into (its /proc/slabinfo name is then another cache's; the
# /sys/kernel/slab aliases point to the same directory). Sockets, inodes,
# dentries and the like are left out: they are the same with either
# balancer, and other activity on the machine makes them noisy.
relevant_caches() {
	# One find and one awk: forks are slow under emulation.
	{
		find /sys/kernel/slab -maxdepth 1 -type l -printf 'L %f %l\n' 2>/dev/null
		awk 'NR > 2 { print "S", $1 }' /proc/slabinfo
	} | awk '
		$1 == "L" { link[$2] = $3; next }
		!targets_done {
			for (n in link)
				if (n == "exlb_flow" || n == "ip_vs_conn" || n == "nf_conntrack")
					target[link[n]] = 1
			targets_done = 1
		}
		$2 ~ /^kmalloc-((cg|rcl)-)?(8|16|32|64|96|128|192|256|512)$/ { print $2; next }
		$2 ~ /^(nf_conntrack|nf_nat|ip_vs|exlb)/ { print $2; next }
		($2 in link) && (link[$2] in target) { print $2 }'
}

# per_conn RELEVANT_FILE DELTA N: bytes per connection over the relevant caches.
per_conn_relevant() {
	awk -v n="$3" 'NR == FNR { r[$1] = 1; next } ($1 in r) { t += $2 } END { printf "%.0f", t / n }' "$1" "$2"
}

# mem_results LB [MEM BASE KEY]: the balancer's cost per connection (B)
# from hold MEM (default mem) against its baseline hold BASE (base), as
# figures KEY_rel, KEY_obj, KEY_slab (KEY default mem).
mem_results() {
	local lb=$1 mt=${2:-mem} bt=${3:-base} key=${4:-mem}
	local b="$WORK/$lb.$bt.delta" m="$WORK/$lb.$mt.delta"
	local nb=${R[$lb.$bt.opened]} nm=${R[$lb.$mt.opened]}
	relevant_caches >"$WORK/$lb.relevant"
	put "$lb.${key}_rel" $(( $(per_conn_relevant "$WORK/$lb.relevant" "$m" "$nm") - \
		$(per_conn_relevant "$WORK/$lb.relevant" "$b" "$nb") ))
	put "$lb.${key}_obj" "$(awk -v x="$(delta_of "$m" TOTAL)" -v nx="$nm" -v y="$(delta_of "$b" TOTAL)" -v ny="$nb" \
		'BEGIN { printf "%.0f", x / nx - y / ny }')"
	put "$lb.${key}_slab" "$(awk -v x="$(delta_of "$m" MEMINFO)" -v nx="$nm" -v y="$(delta_of "$b" MEMINFO)" -v ny="$nb" \
		'BEGIN { printf "%.0f", x / nx - y / ny }')"
	log "$lb.$mt: per connection against $lb.$bt: $(printf '%s ' "relevant=${V[$lb.${key}_rel]##* }" \
		"all_slab=${V[$lb.${key}_obj]##* }" "meminfo_slab=${V[$lb.${key}_slab]##* }")B"
	[ "$key" != mem ] ||
		put "$lb.sock_obj" "$(awk -v y="$(delta_of "$b" TOTAL)" -v ny="$nb" 'BEGIN { printf "%.0f", y / ny }')"
	# Per-cache difference, B/conn, caches that moved by >= 4 B/conn;
	# "*" marks the caches counted in the first memory figure.
	awk -v nx="$nm" -v ny="$nb" 'FILENAME ~ /relevant$/ { r[$1] = 1; next }
		FILENAME ~ /base.delta$/ { b[$1] = $2; s[$1] = 1; next } { m[$1] = $2; s[$1] = 1 }
		END { for (n in s) { if (n == "TOTAL" || n == "MEMINFO") continue
				    d = m[n] / nx - b[n] / ny
				    if (d >= 4 || d <= -4) printf "%-28s %8.0f %s\n", n, d, (n in r) ? "*" : "" } }' \
		"$WORK/$lb.relevant" "$b" "$m" | sort -k2,2nr >"$WORK/$lb.$key.percache"
}

# profile_start TAG: with --profile, lib.sh's machine-wide profile
# (perf_start TAG -a, 499 samples a second) around one run, once per TAG
# (a balancer's first connection-rate run); perf_stop TAG reports it.
PERF_FREQ=499
profile_start() {
	[ "$PROFILE" = 1 ] && [ -z "${R[$1.profiled]:-}" ] || return 0
	command -v perf >/dev/null || { log "--profile: no perf"; return 0; }
	R[$1.profiled]=1
	perf_start "$1" -a
}

# --trace: where a connection's time in the balancer's namespace goes.
# Each packet of the LB passes exactly one outermost of these per
# direction: conntrack (nf_conntrack_in) and nf_nat (nf_nat_inet_fn,
# which calls exlb's and nft's NAT lookups) in PRE_ROUTING, exlb's
# accounting hook, IPVS's LOCAL_IN hooks (ip_vs_in_hook transmits the
# packet itself), the forwarding path (ip_forward: FORWARD and
# POST_ROUTING hooks, conntrack's confirmation, the output to the bridge),
# and exlb's flowtable ingress hook (offload_hook: the lookup, and the
# translation and output of an offloaded flow's packet).
TRACE_FUNCS="nf_conntrack_in nf_nat_inet_fn exlb_account ip_vs_in_hook ip_vs_out_hook ip_forward offload_hook"
TRACEFS=/sys/kernel/tracing
trace_cfg() { echo "$2" >"$TRACEFS/$1"; }

# trace_run TAG TARGET SOURCES [bulk]: figure TAG_us (sum of the
# functions, us per connection of a rate run, or with "bulk" per MB of a
# bulk run); the per-function table in the log.
trace_run() {
	local tag=$1 target=$2 srcs=$3 mode=${4:-rate} f line n unit over
	[ -w "$TRACEFS/current_tracer" ] || mount -t tracefs nodev "$TRACEFS" 2>/dev/null
	[ -w "$TRACEFS/current_tracer" ] || { log "--trace: no tracefs"; return 0; }
	trace_cfg tracing_on 0
	trace_cfg current_tracer nop
	: >"$TRACEFS/set_ftrace_filter"
	for f in $TRACE_FUNCS; do
		grep -q "^$f\( \|\$\)" "$TRACEFS/available_filter_functions" &&
			echo "$f" >>"$TRACEFS/set_ftrace_filter"
	done
	trace_cfg max_graph_depth 1
	trace_cfg buffer_size_kb 16384
	trace_cfg current_tracer function_graph
	trace_cfg trace_options funcgraph-tail
	: >"$TRACEFS/trace"
	trace_cfg tracing_on 1
	if [ "$mode" = bulk ]; then
		line=$(nsx "$NS_CLI" "$BIN/benchcli" bulk -t "$target" -s "$srcs" -n "$STREAMS" \
			-d "$TRACE_SECS" -T 10) || true
		n=$(awk -v b="$(kv "$line" bytes)" 'BEGIN { printf "%.3f", b / 1e6 }')
		unit=MB
	else
		line=$(nsx "$NS_CLI" "$BIN/benchcli" rate -t "$target" -s "$srcs" -c "$CONCURRENCY" \
			-d "$TRACE_SECS" -m "$CPS_MAX_CONNS" -T 5) || true
		n=$(kv "$line" conns)
		unit=conn
	fi
	trace_cfg tracing_on 0
	over=$(awk '$1 == "overrun:" { n += $2 } END { print n + 0 }' "$TRACEFS"/per_cpu/cpu*/stats)
	log "$tag: traced run (function_graph, outermost calls; overruns $over): $line"
	# " 1)   1.234 us    |  f();" or " 1)   5.678 us    |  } /* f */"
	awk -v n="${n:-0}" -v unit="$unit" -F'|' 'NF >= 2 && n > 0 {
			d = $1; sub(/^ *[0-9]+\) */, "", d); gsub(/[+!#*@$ ]/, "", d)
			if (d ~ /us$/) u = substr(d, 1, length(d) - 2) + 0
			else if (d ~ /ms$/) u = (substr(d, 1, length(d) - 2) + 0) * 1000
			else next
			f = $2
			if (f ~ /\/\*/) { sub(/.*\/\* */, "", f); sub(/ *\*\/.*/, "", f) }
			else { sub(/^ */, "", f); sub(/\(.*/, "", f) }
			sub(/ \[.*/, "", f)
			t[f] += u; c[f]++; all += u
		}
		END { for (f in t) printf "%-18s %6.2f calls/%s %8.1f us/%s %7.2f us/call\n", f, c[f] / n, unit, t[f] / n, unit, t[f] / c[f]
		      printf "TOTAL %.1f\n", all / (n > 0 ? n : 1) }' "$TRACEFS/trace" >"$WORK/$tag.trace"
	grep -v '^TOTAL' "$WORK/$tag.trace" | sort -k4,4nr | sed 's/^/  /'
	put "${tag}_us" "$(awk '$1 == "TOTAL" { printf "%.0f", $2 }' "$WORK/$tag.trace")"
	: >"$TRACEFS/trace"
	trace_cfg current_tracer nop
	trace_cfg max_graph_depth 0
	: >"$TRACEFS/set_ftrace_filter"
}

# cps_run TAG TARGET [KEY [SOURCES]]: figures KEY (cps), KEY_p99, KEY_err.
cps_run() {
	local tag=$1 target=$2 key=${3:-cps} srcs=${4:-$CLI_SRCS} line
	# Warm-up (ARP, caches, the balancer's first allocations), not counted.
	nsx "$NS_CLI" "$BIN/benchcli" rate -t "$target" -s "$srcs" -c "$CONCURRENCY" -d 1 -T 5 >/dev/null || true
	[ "$tag" = direct ] || profile_start "$tag.$key"
	line=$(nsx "$NS_CLI" "$BIN/benchcli" rate -t "$target" -s "$srcs" -c "$CONCURRENCY" \
		-d "$CPS_SECS" -m "$CPS_MAX_CONNS" -T 5) || { fail "$tag.$key: benchcli failed"; perf_stop "$tag.$key"; return 1; }
	log "$tag.$key: $line"
	perf_stop "$tag.$key"
	put "$tag.$key" "$(kv "$line" cps)"
	put "$tag.${key}_p99" "$(kv "$line" lat_p99_ms)"
	put "$tag.${key}_err" $(( $(kv "$line" err_connect) + $(kv "$line" err_io) + $(kv "$line" timeouts) ))
	[ "$TRACE" = 0 ] || trace_run "$tag.$key" "$target" "$srcs"
}

bulk_run() {
	local tag=$1 target=$2 line
	line=$(nsx "$NS_CLI" "$BIN/benchcli" bulk -t "$target" -s "$CLI_SRCS" -n "$STREAMS" \
		-d "$BULK_SECS" -T 10) || { fail "$tag.bulk: $line"; return 1; }
	log "$tag.bulk: $line"
	put "$tag.bulk" "$(kv "$line" mbit_s)"
	[ "$TRACE" = 0 ] || trace_run "$tag.bulk" "$target" "$CLI_SRCS" bulk
}

# lb_config LB [persist]: the service, with source-IP persistence
# (PERSIST_TIMEOUT s, whole client address) if asked.
lb_config() {
	local i pe=() pi=()
	if [ "${2:-}" = persist ]; then
		pe=(Persist=src "PersistTimeout=$PERSIST_TIMEOUT")
		pi=(-p "$PERSIST_TIMEOUT")
	fi
	case "$1" in
	exlb|exlb-alt)
		nsx "$NS_LB" "$EXLBADM" vs add "$VIP_TARGET" Schedule=rr Transparent=1 "${pe[@]}"
		for i in 0 1 2; do
			nsx "$NS_LB" "$EXLBADM" rs add "$VIP_TARGET" "${RS_ADDRS[$i]}:$RS_PORT" weight=1000
		done
		;;
	nft)
		# conntrack + nf_nat's DNAT with round robin, no balancer code:
		# what exlb's design (conntrack, nf_nat) costs by itself.
		# No persistence (nft has no per-source memory with expiry here).
		[ "${2:-}" != persist ] || return 1
		nsx "$NS_LB" nft -f - <<-EOF
		table ip exlbb {
			chain pre {
				type nat hook prerouting priority dstnat; policy accept;
				ip daddr $VIP tcp dport $VPORT dnat ip addr . port to numgen inc mod 3 map { 0 : ${RS_ADDRS[0]} . $RS_PORT, 1 : ${RS_ADDRS[1]} . $RS_PORT, 2 : ${RS_ADDRS[2]} . $RS_PORT }
			}
		}
		EOF
		;;
	ipvs)
		nsx "$NS_LB" ipvsadm -A -t "$VIP_TARGET" -s rr "${pi[@]}"
		for i in 0 1 2; do
			nsx "$NS_LB" ipvsadm -a -t "$VIP_TARGET" -r "${RS_ADDRS[$i]}:$RS_PORT" -m -w 1
		done
		;;
	esac
}

lb_unconfig() {
	case "$1" in
	exlb|exlb-alt) nsx "$NS_LB" "$EXLBADM" vs del "$VIP_TARGET" || true ;;
	nft) nsx "$NS_LB" nft delete table ip exlbb || true ;;
	ipvs) nsx "$NS_LB" ipvsadm -C || true ;;
	esac
}

# lb_probe LB [persist]: the VIP must answer, and rr must reach all three
# real servers; with persistence, one client address must reach exactly
# one, and several addresses all three.
lb_probe() {
	local line i want=3
	[ "${2:-}" = persist ] && want=1
	for i in 1 2 3 4 5; do
		line=$(nsx "$NS_CLI" "$BIN/benchcli" rate -t "$VIP_TARGET" -c 1 -m 6 -d 5 -T 2 || true)
		[ "$(kv "$line" conns)" = 6 ] && break
		sleep 0.5
	done
	log "$1 probe${2:+ ($2)}: $line"
	if [ "$(kv "$line" conns)" != 6 ] || [ "$(kv "$line" rs | tr ',' '\n' | grep -c .)" != "$want" ]; then
		fail "$1: the VIP does not reach $want real server(s) from one client${2:+ ($2)}"
		return 1
	fi
	[ "${2:-}" = persist ] || return 0
	line=$(nsx "$NS_CLI" "$BIN/benchcli" rate -t "$VIP_TARGET" -s "$PERSIST_SRCS" -c 1 -m "$PERSIST_NSRC" -d 20 -T 2 || true)
	log "$1 probe ($2, $PERSIST_NSRC clients): $line"
	if [ "$(kv "$line" conns)" != "$PERSIST_NSRC" ] || [ "$(kv "$line" rs | tr ',' '\n' | grep -c .)" != 3 ]; then
		fail "$1: $PERSIST_NSRC clients do not spread over the 3 real servers ($2)"
		return 1
	fi
}

lb_available() {
	case "$1" in
	exlb-alt)
		[ -f "$EXLB_ALT_KO" ] || { echo "no --exlb-alt-ko or --exlb-alt-params"; return 1; }
		[ -f "${EXLB_KO:-}" ] || { echo "EXLB_KO (the module to reload after) unset"; return 1; }
		[ -x "$EXLBADM" ] || { echo "$EXLBADM not built"; return 1; }
		;;
	exlb)
		[ -d /sys/module/exlb ] || { echo "exlb.ko is not loaded"; return 1; }
		[ -x "$EXLBADM" ] || { echo "$EXLBADM not built"; return 1; }
		;;
	nft)
		command -v nft >/dev/null || { echo "nft is not installed"; return 1; }
		;;
	ipvs)
		[ -d /sys/module/ip_vs ] || { echo "ip_vs is not loaded"; return 1; }
		[ -d /sys/module/ip_vs_rr ] || { echo "ip_vs_rr is not loaded"; return 1; }
		command -v ipvsadm >/dev/null || { echo "ipvsadm is not installed"; return 1; }
		;;
	*) echo "unknown balancer"; return 1 ;;
	esac
}

# The persistence phase (--persist), in a fresh topology: the memory hold
# is compared with the round's baseline of step 1 (same topology, same
# count; only the client addresses differ).
bench_persist() {
	local lb=$1
	topo_up || { fail "$lb: topology (persist)"; return 0; }
	if ! lb_config "$lb" persist; then
		fail "$lb: configuration with persistence failed"
		topo_down
		return 0
	fi
	if lb_probe "$lb" persist; then
		[ "$MEM" = 0 ] || { hold_measure "$lb.pmem" "$VIP_TARGET" "$IDLE_CONNS" "$PERSIST_SRCS" &&
			mem_results "$lb" pmem base pmem; }
		cps_run "$lb" "$VIP_TARGET" pcps "$PERSIST_SRCS" || true
	fi
	lb_unconfig "$lb"
	topo_down
}

bench_lb() {
	local lb=$1 why
	BENCH_RUNS[$lb]=$((${BENCH_RUNS[$lb]:-0} + 1))
	if ! why=$(lb_available "$lb"); then
		fail "$lb: skipped: $why"
		return 0
	fi
	log "=== $lb ==="
	if [ "$lb" = exlb-alt ]; then
		# the other build of exlb.ko, in place of EXLB_KO for this run
		# shellcheck disable=SC2086 # the parameters are words
		if ! { rmmod exlb && insmod "$EXLB_ALT_KO" $EXLB_ALT_PARAMS; }; then
			fail "$lb: cannot load $EXLB_ALT_KO $EXLB_ALT_PARAMS"
			return 0
		fi
	fi
	bench_lb_run "$lb"
	if [ "$lb" = exlb-alt ]; then
		{ rmmod exlb && insmod "$EXLB_KO"; } || fail "cannot load $EXLB_KO again"
	fi
}

bench_lb_run() {
	local lb=$1 big=0
	[ "$BIG_IDLE_CONNS" -gt 0 ] && [ "${BENCH_RUNS[$lb]}" -le "$BIG_ROUNDS" ] &&
		{ [ "$lb" = exlb ] || [ "$lb" = ipvs ]; } && big=1
	topo_up || { fail "$lb: topology"; return 0; }
	if [ "$DIRECT_DONE" = 0 ]; then
		log "warm-up (not counted)"
		nsx "$NS_CLI" "$BIN/benchcli" bulk -t "$RS_TARGETS" -s "$CLI_SRCS" -n "$STREAMS" -d 2 -T 10 >/dev/null || true
		nsx "$NS_CLI" "$BIN/benchcli" rate -t "$RS_TARGETS" -s "$CLI_SRCS" -c "$CONCURRENCY" -d 3 -T 5 >/dev/null || true
		bulk_run direct "$RS_TARGETS" || true
		cps_run direct "$RS_TARGETS" || true
		DIRECT_DONE=1
		# Client TIME_WAITs of the direct runs must not shrink under the
		# memory measurement; a fresh topology has none.
		topo_up || { fail "$lb: topology"; return 0; }
	fi
	if [ "$MEM" = 1 ]; then
		hold_measure "$lb.base" "$RS_TARGETS" || { fail "$lb: baseline memory"; topo_down; return 0; }
	else
		big=0
	fi
	if ! lb_config "$lb"; then
		fail "$lb: configuration failed"
		topo_down
		return 0
	fi
	if lb_probe "$lb"; then
		[ "$MEM" = 0 ] || { hold_measure "$lb.mem" "$VIP_TARGET" && mem_results "$lb"; }
		if [ "$big" = 1 ]; then
			hold_measure "$lb.big" "$VIP_TARGET" "$BIG_IDLE_CONNS" &&
				mem_results "$lb" big base big
		fi
		cps_run "$lb" "$VIP_TARGET" || true
		bulk_run "$lb" "$VIP_TARGET" || true
	fi
	lb_unconfig "$lb"
	topo_down
	# (exlb and IPVS only: the rows compare those two)
	[ "$PERSIST" = 0 ] || [ "$lb" = nft ] || [ "$lb" = exlb-alt ] || bench_persist "$lb"
	sleep 2
}

# ---------------------------------------------------------------------------

[ "$(id -u)" = 0 ] || { echo "l4-vs-ipvs: needs root" >&2; exit 1; }
for p in benchsrv benchcli; do
	if [ ! -x "$BIN/$p" ]; then
		# The repository may be read-only here (the VM): build in /tmp.
		BIN=$WORK/bin
		make -s -C "$REPO/bench" BUILD="$BIN" "$BIN/benchsrv" "$BIN/benchcli" >&2 || { echo "cannot build bench/" >&2; exit 1; }
		break
	fi
done
[ -r /proc/slabinfo ] || { echo "l4-vs-ipvs: /proc/slabinfo unreadable" >&2; exit 1; }

if [ "$GLOBAL_SYSCTL" = 1 ] && [ -w /proc/sys/net/netfilter/nf_conntrack_max ]; then
	# The cps run leaves up to CPS_MAX_CONNS entries in TIME_WAIT (120 s);
	# the default maximum of a small VM (16k) would drop SYNs. Only the
	# limit is raised; the hash table keeps its default size (as IPVS
	# keeps its default 4096 buckets).
	if [ "$(cat /proc/sys/net/netfilter/nf_conntrack_max)" -lt 1048576 ]; then
		echo 1048576 >/proc/sys/net/netfilter/nf_conntrack_max
	fi
fi

log "exlb L4 benchmark: exlb vs IPVS (NAT), scheduler rr, 3 real servers"
log "kernel $(uname -r), $(nproc) CPUs, $(awk '/^MemTotal:/ { print $2 " kB" }' /proc/meminfo) RAM"
log "nf_conntrack_max=$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo n/a)" \
	"nf_conntrack_buckets=$(cat /proc/sys/net/netfilter/nf_conntrack_buckets 2>/dev/null || echo n/a)" \
	"ip_vs conn_tab_bits=$(cat /sys/module/ip_vs/parameters/conn_tab_bits 2>/dev/null || echo n/a)"
log "cps: $CONCURRENCY concurrent, ${CPS_SECS}s; bulk: $STREAMS streams, ${BULK_SECS}s; memory: $IDLE_CONNS idle connections; $ROUNDS round(s)"
[ "$BIG_IDLE_CONNS" = 0 ] || log "memory also with $BIG_IDLE_CONNS idle connections, in the first $BIG_ROUNDS round(s)"
[ "$PERSIST" = 0 ] || log "persistence phase: Persist=src / -p $PERSIST_TIMEOUT, $PERSIST_NSRC client addresses"

DIRECT_DONE=0
declare -A BENCH_RUNS
IFS=, read -r -a LB_LIST <<<"$LBS"
ORDER=()
for round in $(seq "$ROUNDS"); do
	read -r -a o <<<"$(lb_order "$round")"
	ORDER+=("${o[@]}")
done
for lb in "${ORDER[@]}"; do
	case "$lb" in
	none)
		# Host check: topology, direct runs and a baseline memory figure only.
		topo_up || { fail "topology"; break; }
		bulk_run direct "$RS_TARGETS" || true
		cps_run direct "$RS_TARGETS" || true
		topo_up || { fail "topology"; break; }
		NONE_RUN=$((${NONE_RUN:-0} + 1))
		if hold_measure "none$NONE_RUN.base" "$RS_TARGETS"; then
			relevant_caches >"$WORK/none.relevant"
			put direct.sock_obj "$(awk -v n="${R[none$NONE_RUN.base.opened]}" \
				'$1 == "TOTAL" { printf "%.0f", $2 / n }' "$WORK/none$NONE_RUN.base.delta")"
			log "baseline: $(per_conn_relevant "$WORK/none.relevant" \
				"$WORK/none$NONE_RUN.base.delta" "${R[none$NONE_RUN.base.opened]}") B/conn in the balancer-relevant caches," \
				"$(awk -v n="${R[none$NONE_RUN.base.opened]}" '$1 == "TOTAL" { printf "%.0f", $2 / n }' \
				"$WORK/none$NONE_RUN.base.delta") B/conn in all caches," \
				"$(awk -v n="${R[none$NONE_RUN.base.opened]}" '$1 == "MEMINFO" { printf "%.0f", $2 / n }' \
				"$WORK/none$NONE_RUN.base.delta") B/conn meminfo Slab"
		fi
		topo_down
		;;
	*) bench_lb "$lb" ;;
	esac
done

# ---------------------------------------------------------------------------
# The table.

echo
echo "== exlb vs IPVS (NAT), rr, 3 real servers, kernel $(uname -r), $(nproc) CPUs, median of $ROUNDS round(s) =="
# With --lbs ...,nft: two more columns, nft's DNAT (conntrack + nf_nat
# alone) and exlb against it.
NFT_COLS=0
[[ ",$LBS," == *,nft,* ]] && NFT_COLS=1
# row LABEL DIRECT_KEY KEY [noratio]: one line of the table ("-" for no
# direct figure).
row() {
	local d=- r1 r2
	[ "$2" = - ] || d=$(v "$2")
	r1=$(ratio "exlb.$3" "ipvs.$3"); r2=$(ratio "exlb.$3" "nft.$3")
	[ "${4:-}" = noratio ] && { r1=; r2=; }
	if [ "$NFT_COLS" = 1 ]; then
		printf '%-48s %9s %9s %9s %9s %9s %9s\n' "$1" "$d" "$(v "exlb.$3")" "$(v "ipvs.$3")" \
			"$(v "nft.$3")" "$r1" "$r2"
	else
		printf '%-48s %12s %12s %12s %10s\n' "$1" "$d" "$(v "exlb.$3")" "$(v "ipvs.$3")" "$r1"
	fi
}
if [ "$NFT_COLS" = 1 ]; then
	printf '%-48s %9s %9s %9s %9s %9s %9s\n' "figure" "direct" "exlb" "IPVS" "nft" "exlb/IPVS" "exlb/nft"
else
	printf '%-48s %12s %12s %12s %10s\n' "figure" "direct" "exlb" "IPVS" "exlb/IPVS"
fi
row "new connections/s ($CONCURRENCY clients, ${CPS_SECS}s)" direct.cps cps
row "  p99 connection time, ms" direct.cps_p99 cps_p99
row "  failed connections" direct.cps_err cps_err noratio
row "bulk throughput, Mbit/s ($STREAMS streams, ${BULK_SECS}s)" direct.bulk bulk
[ "$TRACE" = 0 ] || row "LB path, us/connection under ftrace (--trace)" direct.cps_us cps_us
[ "$TRACE" = 0 ] || row "LB path, us/MB of bulk under ftrace (--trace)" direct.bulk_us bulk_us
if [ "$MEM" = 1 ]; then
	row "LB memory/connection, B (relevant caches, *)" - mem_rel
	row "LB memory/connection, B (all slab objects)" - mem_obj
	row "LB memory/connection, B (meminfo Slab:)" - mem_slab
	row "  (baseline: sockets etc. per connection, bytes)" direct.sock_obj sock_obj noratio
fi
if [ "$BIG_IDLE_CONNS" -gt 0 ] && [ "$MEM" = 1 ]; then
	row "LB memory/conn, $BIG_IDLE_CONNS idle, B (relevant)" - big_rel
	row "LB memory/conn, $BIG_IDLE_CONNS idle, B (all slab)" - big_obj
	row "LB memory/conn, $BIG_IDLE_CONNS idle, B (meminfo Slab:)" - big_slab
fi
if [ "$PERSIST" = 1 ]; then
	row "persistence: new connections/s ($PERSIST_NSRC clients)" - pcps
	row "  p99 connection time, ms" - pcps_p99
	row "  failed connections" - pcps_err noratio
	if [ "$MEM" = 1 ]; then
		row "persistence: LB memory/conn, B (relevant)" - pmem_rel
		row "persistence: LB memory/conn, B (all slab)" - pmem_obj
	fi
fi
if [[ ",$LBS," == *,exlb-alt,* ]]; then
	echo
	echo "exlb ($EXLB_KO) against exlb-alt ($EXLB_ALT_KO${EXLB_ALT_PARAMS:+ $EXLB_ALT_PARAMS}), median of $ROUNDS round(s):"
	for key in cps cps_p99 bulk mem_rel cps_us bulk_us; do
		printf '  %-20s %10s %10s %8s\n' "$key" "$(v "exlb.$key")" "$(v "exlb-alt.$key")" \
			"$(ratio "exlb.$key" "exlb-alt.$key")"
	done
fi
for lb in exlb ipvs nft; do
	for key in mem big pmem; do
		[ -s "$WORK/$lb.$key.percache" ] || continue
		echo
		echo "$lb ($key): slab caches that grew per connection beyond the baseline (bytes/conn; * = counted as relevant):"
		sed 's/^/  /' "$WORK/$lb.$key.percache"
	done
done
if [ "$ROUNDS" -gt 1 ]; then
	echo
	echo "every round:"
	for k in $(printf '%s\n' "${!V[@]}" | sort); do
		printf '  %-20s %s\n' "$k" "${V[$k]}"
	done
fi
echo
if [ "$FAILED" != 0 ]; then
	echo "Some measurements failed; see FAIL lines above."
	exit 1
fi
exit 0
