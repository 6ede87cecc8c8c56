#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# exlb scale selftests (KTAP): past 64k connections to one real server
# with alternate source addresses, the clean refusal without them, and the
# persistence table's cap under a flood of sources.
#
#   exlb_scale.sh [-l] [NAME...]     -l lists the tests; NAMEs (globs) select
#
# Its own small topology (names carry $EXLB_SFX):
#
#   exlb-scl-SFX                  exlb-slb-SFX                  exlb-srsN-SFX
#   198.18.0.2-.9/24, fd00::2/64  198.18.0.1, VIP 198.18.0.10   198.18.1.1N/24
#   fd00::a, ::b, ::c (clients)   fd00::1, VIP fd00::10          fd00:1::1N/64
#   fd00:5::/96 local (flood)     198.18.1.1, .21, .22 (pool)    conn_scale serve
#                                 fd00:1::1                        :8080
#
# The many sockets are held by conn_scale (conn_scale.c, built by `make
# all` into build/). Needs root, exlb loaded, exlbadm, jq, gcc-built helper.
# Exit: 0 all passed, 1 a failure, 4 whole suite skipped.

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"

CONN_SCALE=${CONN_SCALE:-$SELFTEST_DIR/build/conn_scale}
S_CL=exlb-scl-$EXLB_SFX
S_LB=exlb-slb-$EXLB_SFX
S_RS1=exlb-srs1-$EXLB_SFX
S_RS2=exlb-srs2-$EXLB_SFX
S_ALL="$S_CL $S_LB $S_RS1 $S_RS2"
POOL1=198.18.1.21
POOL2=198.18.1.22
NCONN=70000
PERSIST_CAP=5000
FLOOD=200000

TESTS=(
	pool_past_64k:200
	no_pool_refused_at_port_range:200
	persist_cap_flood:200
	scale_kernel_log_clean:30
)

sadm() { ip netns exec "$S_LB" "$EXLBADM" "$@"; }
smust() { sadm "$@" || fail "exlbadm $* failed"; }
# svc_json VS: the service as JSON
svc_json() { sadm -j vs show "$1" | jq -c 'if type == "array" then .[0] else . end'; }

# One `ip -batch` per namespace: each command's fork and exec counts under TCG.
scale_topo() {
	local ns i
	for ns in $S_ALL; do
		ip netns add "$ns" || return 1
	done
	ip -n "$S_CL" -b - <<-EOF || return 1
		link set lo up
		link add cl-lb type veth peer name lb-cl netns $S_LB
		$(for i in 2 3 4 5 6 7 8 9; do echo "addr add 198.18.0.$i/24 dev cl-lb"; done)
		$(for i in 2 a b c; do echo "addr add fd00::$i/64 dev cl-lb nodad"; done)
		link set cl-lb up
		route add default via 198.18.0.1
		route add ::/0 via fd00::1
		route add local fd00:5::/96 dev lo
	EOF
	# (the last route: the flood's sources, local to the client, which
	# answers SYN-ACKs with RSTs)
	nsx "$S_CL" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"

	nsx "$S_LB" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip -n "$S_LB" -b - <<-EOF || return 1
		link set lo up
		addr add 198.18.0.1/24 dev lb-cl
		addr add 198.18.0.10/32 dev lb-cl
		addr add fd00::1/64 dev lb-cl nodad
		addr add fd00::10/128 dev lb-cl nodad
		link set lb-cl up
		route add fd00:5::/96 via fd00::2
		link add lb-br type bridge
		addr add 198.18.1.1/24 dev lb-br
		addr add $POOL1/24 dev lb-br
		addr add $POOL2/24 dev lb-br
		addr add fd00:1::1/64 dev lb-br nodad
		link set lb-br up
	EOF
	for i in 1 2; do
		ns=exlb-srs$i-$EXLB_SFX
		ip -n "$ns" -b - <<-EOF || return 1
			link set lo up
			link add rs-lb type veth peer name lb-rs$i netns $S_LB
			addr add 198.18.1.1$i/24 dev rs-lb
			addr add fd00:1::1$i/64 dev rs-lb nodad
			link set rs-lb up
			route add default via 198.18.1.1
			route add ::/0 via fd00:1::1
		EOF
		ip -n "$S_LB" link set lb-rs$i master lb-br up || return 1
		nsx "$ns" sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
	done
	return 0
}

scale_cleanup() {
	local f ns
	for f in "$EXLB_TMP"/*.pid; do
		[[ -f $f ]] && kill "$(<"$f")" 2>/dev/null
	done
	sleep 0.5
	for ns in $S_ALL; do
		[[ -e /run/netns/$ns ]] && ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# status_val FILE KEY: the word after KEY in a conn_scale status file
# ("open N" and "ADDR N" lines; "established N refused N ..." on one line).
status_val() {
	awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$1" 2>/dev/null
}
# serve_start I: real server I's conn_scale serve, in the background;
# serve_stop I: stops it (its port refuses SYNs with RSTs meanwhile).
serve_start() {
	rm -f "$EXLB_TMP/rs$1.st"
	ip netns exec "exlb-srs$1-$EXLB_SFX" "$CONN_SCALE" serve 8080 "$EXLB_TMP/rs$1.st" \
		>"$EXLB_TMP/rs$1.log" 2>&1 &
	echo $! >"$EXLB_TMP/rs$1.pid"
	wait_for 30 test -s "$EXLB_TMP/rs$1.st"
}
serve_stop() {
	kill "$(<"$EXLB_TMP/rs$1.pid")"
	wait_for 30 eval '[[ -z $(nsx exlb-srs'"$1"'-$EXLB_SFX ss -Hltn "sport = :8080") ]]'
}
hold_done() { [[ $(status_val "$EXLB_TMP/hold.st" "done") == 1 ]]; }
rs_open_is() { [[ $(status_val "$EXLB_TMP/rs1.st" open) == "$1" ]]; }

# syn_retrans: SYNs the client retransmitted so far.
syn_retrans() { nsx "$S_CL" nstat -asz TcpExtTCPSynRetrans | awk '$1 == "TcpExtTCPSynRetrans" { print $2 }'; }

# hold_run N SRC...: conn_scale hold towards the IPv4 VIP, in the background.
hold_run() {
	local n=$1
	shift
	rm -f "$EXLB_TMP/hold.st"
	ip netns exec "$S_CL" "$CONN_SCALE" hold 198.18.0.10:80 "$n" "$EXLB_TMP/hold.st" "$@" \
		>"$EXLB_TMP/hold.log" 2>&1 &
	echo $! >"$EXLB_TMP/hold.pid"
}

# softnet_dropped: packets the CPUs' input backlogs dropped so far (all
# namespaces: the column is the kernel's, in hex).
softnet_dropped() {
	local n=0 dropped
	while read -r _ dropped _; do
		n=$((n + 16#$dropped))
	done </proc/net/softnet_stat
	echo "$n"
}

# hold_stop: the held connections end with RSTs; waits for the RS to see it.
hold_stop() {
	local drops t0=$SECONDS
	[[ -f $EXLB_TMP/hold.pid ]] || return 0
	drops=$(softnet_dropped)
	kill "$(<"$EXLB_TMP/hold.pid")" 2>/dev/null
	wait "$(<"$EXLB_TMP/hold.pid")" 2>/dev/null
	rm -f "$EXLB_TMP/hold.pid"
	wait_for 120 rs_open_is 0 || diag "rs1 still has $(status_val "$EXLB_TMP/rs1.st" open) open"
	diag "closing: $((SECONDS - t0)) s, $(($(softnet_dropped) - drops)) packets dropped by input backlogs"
}

# 70,000 connections from four client addresses to one VS and one RS port,
# SNATed to two alternate source addresses: all established, about half on
# each address (counted by the real server, by peer address).
t_pool_past_64k() {
	local est refused failed open p1 p2 t0 j active nsp
	smust vs add 198.18.0.10:80 Schedule=rr AltSourceAddrs=$POOL1,$POOL2
	smust rs add 198.18.0.10:80 198.18.1.11:8080
	j=$(svc_json 198.18.0.10:80)
	expect_eq "$(jq -r '.alt_source_addrs | join(",")' <<<"$j")" "$POOL1,$POOL2" \
		"the service's alternate source addresses"
	t0=$SECONDS
	hold_run $NCONN 198.18.0.2 198.18.0.3 198.18.0.4 198.18.0.5
	wait_for 150 hold_done || fail "the client did not finish: $(cat "$EXLB_TMP/hold.st" "$EXLB_TMP/hold.log" 2>&1)"
	est=$(status_val "$EXLB_TMP/hold.st" established)
	refused=$(status_val "$EXLB_TMP/hold.st" refused)
	failed=$(status_val "$EXLB_TMP/hold.st" failed)
	diag "client: $est established, $refused refused, $failed failed in $((SECONDS - t0)) s"
	wait_for 60 rs_open_is "$NCONN"
	open=$(status_val "$EXLB_TMP/rs1.st" open)
	p1=$(status_val "$EXLB_TMP/rs1.st" $POOL1)
	p2=$(status_val "$EXLB_TMP/rs1.st" $POOL2)
	diag "real server: $open open; from $POOL1: ${p1:-0}, from $POOL2: ${p2:-0}"
	read -r active nsp < <(svc_json 198.18.0.10:80 | jq -r '[.active_conns, .stats.no_source_port] | @tsv')
	diag "service: active $active, no_source_port $nsp"
	hold_stop
	expect_eq "$est/$refused/$failed" "$NCONN/0/0" "established/refused/failed at the client"
	expect_eq "$open" "$NCONN" "connections open at the real server"
	expect_eq "$nsp" 0 "SYNs refused for want of a source port"
	expect_range "${p1:-0}" $((NCONN / 2 - 2000)) $((NCONN / 2 + 2000)) "connections from $POOL1"
	expect_range "${p2:-0}" $((NCONN / 2 - 2000)) $((NCONN / 2 + 2000)) "connections from $POOL2"
}

# The same VS without alternate source addresses: one source address (the
# VIP) has 64512 ports towards the real server; the connections past them
# are refused with a RST, counted by the service and logged, no WARN.
t_no_pool_refused_at_port_range() {
	local est refused failed open j nsp logged mark retrans
	mark=$(dmesg_mark)
	retrans=$(syn_retrans)
	smust vs add 198.18.0.10:80 Schedule=rr
	smust rs add 198.18.0.10:80 198.18.1.11:8080
	hold_run $NCONN 198.18.0.6 198.18.0.7 198.18.0.8 198.18.0.9
	wait_for 150 hold_done || fail "the client did not finish: $(cat "$EXLB_TMP/hold.st" "$EXLB_TMP/hold.log" 2>&1)"
	est=$(status_val "$EXLB_TMP/hold.st" established)
	refused=$(status_val "$EXLB_TMP/hold.st" refused)
	failed=$(status_val "$EXLB_TMP/hold.st" failed)
	retrans=$(($(syn_retrans) - retrans))
	diag "client: $est established, $refused refused, $failed failed; $retrans SYNs retransmitted"
	wait_for 60 rs_open_is "$est"
	open=$(status_val "$EXLB_TMP/rs1.st" open)
	diag "real server: $open open; $(grep -v '^open' "$EXLB_TMP/rs1.st" | tr '\n' ' ')"
	j=$(svc_json 198.18.0.10:80)
	nsp=$(jq .stats.no_source_port <<<"$j")
	logged=$(dmesg | tail -n +"$((mark + 1))" | grep -c 'no free source port towards 198.18.1.11:8080')
	diag "service: no_source_port $nsp; log lines: $logged"
	dmesg | tail -n +"$((mark + 1))" | grep -m1 'no free source port' | sed 's/^/kernel: /'
	hold_stop
	expect_range "$est" 60000 64512 "established (one source address, ports 1024-65535)"
	expect_eq "$failed" 0 "connections that failed other than by a RST"
	expect_eq "$refused" $((NCONN - est)) "refused = attempted - established"
	# a SYN retransmitted before its RST came back is refused twice
	expect_range "$nsp" "$refused" "$((refused + retrans))" "the service's no_source_port counter"
	expect_eq "$open" "$est" "connections open at the real server"
	expect_range "$logged" 1 "$refused" "rate-limited log lines"
	[[ -z $(dmesg_bad "$mark") ]] || fail "kernel log: $(dmesg_bad "$mark")"
}

# conn_open NAME SRC6: a connection from SRC6 to [fd00::10]:80, held in
# the background until conn_close NAME; once it is connected,
# $EXLB_TMP/NAME holds its source address and port.
conn_open() {
	rm -f "$EXLB_TMP/$1"
	ip netns exec "$S_CL" "$CONN_SCALE" one fd00::10 80 "$2" "$EXLB_TMP/$1" &
	echo $! >"$EXLB_TMP/$1.pid"
}
conn_close() {
	kill "$(<"$EXLB_TMP/$1.pid")" 2>/dev/null
	wait "$(<"$EXLB_TMP/$1.pid")" 2>/dev/null
	rm -f "$EXLB_TMP/$1.pid"
}
# conn_flows NAME [STATE]: the real servers of the flows of NAME's
# connection (its address and port), in STATE if given; nothing before it
# is connected.
conn_flows() {
	local c p
	read -r c p 2>/dev/null <"$EXLB_TMP/$1" || return 0
	sadm -j flows "[fd00::10]:80" |
		jq -r --arg c "$c" --argjson p "$p" --arg s "${2:-}" \
			'.[] | select(.client == $c and .client_port == $p and ($s == "" or .state == $s)) | .real'
}
# flow_rs NAME: the real server of NAME's established flow ("" if none).
flow_rs() { conn_flows "$1" ESTABLISHED | head -n 1; }
flow_rs_is() { [[ $(flow_rs "$1") == "$2" ]]; }
no_flow_of() { [[ -z $(conn_flows "$1") ]]; }
# visit NAME SRC6: connect, report the RS (stdout), close, wait for the flow to go.
visit() {
	local rs
	conn_open "$1" "$2"
	wait_for 60 eval '[[ -n $(flow_rs '"$1"') ]]'
	rs=$(flow_rs "$1")
	conn_close "$1"
	wait_for 60 no_flow_of "$1"
	echo "$rs"
}
svc6_val() { svc_json "[fd00::10]:80" | jq -r "$1"; }
idle_flows_gone() { [[ $(svc6_val '.active_conns + .inactive_conns') -le $1 ]]; }

# 200,000 sources against a cap of 5000 records: the table stays at the cap,
# the oldest idle records go first, a client with an open connection keeps
# its real server.
t_persist_cap_flood() {
	local old a b c rec ev full conns sent k
	old=$(</sys/module/exlb/parameters/persist_max)
	echo $PERSIST_CAP >/sys/module/exlb/parameters/persist_max || fail "cannot set persist_max"
	# shellcheck disable=SC2064
	trap "echo $old >/sys/module/exlb/parameters/persist_max" EXIT
	smust vs add "[fd00::10]:80" Schedule=wrr Persist=src PersistTimeout=600
	smust rs add "[fd00::10]:80" "[fd00:1::11]:8080" weight=1000
	smust rs add "[fd00::10]:80" "[fd00:1::12]:8080" weight=1000 enable=0

	# A: idle record (the oldest); B: an open connection; both on rs1
	a=$(visit A fd00::a)
	conn_open B fd00::b
	wait_for 60 flow_rs_is B fd00:1::11
	b=$(flow_rs B)
	diag "A -> $a (closed), B -> $b (held open)"
	expect_eq "$a $b" "fd00:1::11 fd00:1::11" "A and B before the flood"
	# from now on a client without a record goes to rs2 (65535:1)
	smust rs mod "[fd00::10]:80" "[fd00:1::12]:8080" weight=65535 enable=1
	smust rs mod "[fd00::10]:80" "[fd00:1::11]:8080" weight=1

	# rs2 refuses the flood's SYNs: each flow ends at once with its RST
	# (half the packets of a SYN-ACK answered by the client's RST), its
	# record stays, idle
	serve_stop 2 || fail "rs2's server did not stop"
	sent=$(nsx "$S_CL" "$CONN_SCALE" syn fd00::10 80 fd00:5::1 $FLOOD 0) ||
		fail "flood failed"
	wait_for 120 idle_flows_gone 1
	serve_start 2 || fail "rs2's server did not start again"
	read -r rec ev full conns < <(svc6_val \
		'[.persist_records, .stats.persist_evicted, .stats.persist_full, .stats.conns] | @tsv')
	diag "flood: $sent SYNs sent, $conns connections scheduled; records $rec, evicted $ev, not sticky at the cap $full"
	expect_eq "$rec" $PERSIST_CAP "records after the flood"
	expect_range "$((conns - 2))" $((FLOOD * 95 / 100)) $FLOOD "flood SYNs scheduled"
	expect_range "$((ev + full))" $((conns - 2 - PERSIST_CAP)) "$conns" "evicted + not sticky"
	expect_eq "$(flow_rs B)" fd00:1::11 "B's open connection, still on"
	b=$(visit B2 fd00::b)
	expect_eq "$b" fd00:1::11 "B's new connection follows its record"
	a=$(visit A2 fd00::a)
	expect_eq "$a" fd00:1::12 "A's record was evicted: A is balanced anew"

	# Oldest first: C gets a record on rs1, newer than every flood record;
	# a second flood of (older idle records - 10) must evict those, not C.
	smust rs mod "[fd00::10]:80" "[fd00:1::11]:8080" weight=65535
	smust rs mod "[fd00::10]:80" "[fd00:1::12]:8080" weight=1
	c=$(visit C fd00::c)
	smust rs mod "[fd00::10]:80" "[fd00:1::11]:8080" weight=1
	smust rs mod "[fd00::10]:80" "[fd00:1::12]:8080" weight=65535
	rec=$(svc6_val .persist_records)
	k=$((rec - 3 - 10))	# B, A (again), C are not flood records
	serve_stop 2 || fail "rs2's server did not stop"
	nsx "$S_CL" "$CONN_SCALE" syn fd00::10 80 fd00:5::10:0 $k 0 >/dev/null || fail "second flood failed"
	wait_for 60 idle_flows_gone 1
	serve_start 2 || fail "rs2's server did not start again"
	diag "C -> $c; second flood of $k sources; records $(svc6_val .persist_records)"
	c=$c/$(visit C2 fd00::c)
	expect_eq "$c" "fd00:1::11/fd00:1::11" "C (newest idle record) before/after the second flood"
	conn_close B
}

t_scale_kernel_log_clean() {
	local bad
	bad=$(dmesg_bad "$EXLB_DMESG_MARK")
	[[ -z $bad ]] || fail "kernel log: $bad"
	diag "no BUG/WARNING/Oops since the suite started"
}

# ---------------------------------------------------------------- runner
if [[ ${1:-} == --one ]]; then
	"t_$2"
	exit $?
fi
[[ ${1:-} == --one ]] && { echo "FAIL: test aborted by a shell error"; exit 1; }

select_tests "$@"

echo "TAP version 13"
echo "1..${#run[@]}"
need_root
need_built "$EXLBADM"
need_exlb
if [[ -z $SUITE_MISSING && ! -x $CONN_SCALE ]]; then
	mkdir -p "$(dirname "$CONN_SCALE")"
	${CC:-cc} -O2 -Wall -Wextra -Werror "$SELFTEST_DIR/conn_scale.c" -o "$CONN_SCALE" 2>&1 | sed 's/^/# /'
	[[ -x $CONN_SCALE ]] || need "conn_scale could not be built"
fi
suite_ready "${run[@]}"

EXLB_TMP=$(mktemp -d /tmp/exlb-scale.XXXXXX)
EXLB_DMESG_MARK=$(dmesg_mark)
export EXLB_SFX EXLB_TMP EXLB_DMESG_MARK EXLBADM EXLB_REPO CONN_SCALE
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	[[ -n ${EXLB_KEEP:-} ]] || scale_cleanup
	rm -rf "$EXLB_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Room for the connections: conntrack (global, set from the initial
# namespace), the backlog between the veths.
sysctl -qw net.netfilter.nf_conntrack_max=500000 2>/dev/null ||
	{ modprobe nf_conntrack 2>/dev/null; sysctl -qw net.netfilter.nf_conntrack_max=500000; }
sysctl -qw net.netfilter.nf_conntrack_buckets=262144 2>/dev/null
sysctl -qw net.core.netdev_max_backlog=10000
echo "# nf_conntrack_max $(sysctl -n net.netfilter.nf_conntrack_max), buckets $(sysctl -n net.netfilter.nf_conntrack_buckets 2>/dev/null)"

if ! scale_topo >"$EXLB_TMP/topo.log" 2>&1; then
	sed 's/^/# /' "$EXLB_TMP/topo.log"
	for t in "${run[@]}"; do ktap_result fail "${t%%:*}" "topology setup failed"; done
	ktap_end
	exit 1
fi
serve_start 1 && serve_start 2 || echo "# the servers did not start"

for t in "${run[@]}"; do
	name=${t%%:*}
	to=${t##*:}
	start=$SECONDS
	timeout -k 5 "$to" bash "$SELF" --one "$name" </dev/null 2>&1 | sed -u 's/^/# /'
	rc=${PIPESTATUS[0]}
	case $rc in
	0) ktap_result ok "$name" ;;
	4) ktap_result skip "$name" ;;
	124 | 137) echo "# $name: timed out after $to s"; ktap_result fail "$name" "timeout" ;;
	*) ktap_result fail "$name" ;;
	esac
	echo "# $name: $((SECONDS - start))s"
	# between tests: no held connections, no services
	[[ -f $EXLB_TMP/hold.pid ]] && { kill "$(<"$EXLB_TMP/hold.pid")" 2>/dev/null; rm -f "$EXLB_TMP/hold.pid"; }
	for id in $(sadm -j vs show 2>/dev/null | jq -r '.[].id' 2>/dev/null); do
		sadm vs del "id:$id" >/dev/null 2>&1
	done
done
ktap_end
((FAIL == 0)) || exit 1
exit 0
