#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# forward=route (direct routing) tests. Sourced by exlb_l4.sh.
#
# For these tests only, each real server also owns the VIPs on lo and
# neither answers ARP for them (arp_ignore=1, arp_announce=2; IPv6 does not
# answer ND for an address on lo). The service port is $RS_PORT, as direct
# routing keeps the port. The real servers' replies go to the client by
# their default route, through the LB as plain forwarded traffic (source
# the VIP: the LB needs accept_local on lb-br); exlb never touches them.

dr_setup() {
	local i ns
	for i in 1 2 3; do
		ns=exlb-rs$i-$EXLB_SFX
		nsx "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 ||
			fail "sysctl in $ns"
		ip -n "$ns" addr add $VIP4/32 dev lo || fail "VIP on lo in $ns"
		ip -n "$ns" addr add $VIP6/128 dev lo nodad || fail "VIP6 on lo in $ns"
	done
	nsx "$NS_LB" sysctl -qw net.ipv4.conf.lb-br.accept_local=1 || fail "accept_local on the LB"
	trap dr_cleanup EXIT
}

dr_cleanup() {
	local i ns
	for i in 1 2 3; do
		ns=exlb-rs$i-$EXLB_SFX
		ip -n "$ns" addr del $VIP4/32 dev lo 2>/dev/null
		ip -n "$ns" addr del $VIP6/128 dev lo 2>/dev/null
		nsx "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0
	done
	nsx "$NS_LB" sysctl -qw net.ipv4.conf.lb-br.accept_local=0
	return 0
}

# dr_vs VS RSFN N [VS KEYS...]: a VS with real servers rs1..rsN, forward=route.
dr_vs() {
	local vs=$1 rsfn=$2 n=$3 i
	shift 3
	must vs add "$vs" "$@"
	for ((i = 1; i <= n; i++)); do
		must rs add "$vs" "$($rsfn "$i")" forward=route
	done
}

# rr over route reals and one nat real: each real server sees the client's
# own address; the route reals get the connection to the VIP itself.
t_dr_rr() {
	local vs js
	dr_setup
	vs=$(vs4 $RS_PORT)
	dr_vs "$vs" rs4 2 Schedule=rr Transparent=1
	must rs add "$vs" "$(rs4 3)" forward=nat
	cl dist $VIP4 $RS_PORT 6 || fail "client: $J"
	diag "6 connections: $(jr '.seq | join(" ")'), peers: $(jr -c .peers)"
	expect_eq "$(jr '.seq | join(" ")') fail=$(jr .fail) peers=$(jr '[.peers[][]] | unique | join(",")')" \
		"rs1 rs2 rs3 rs1 rs2 rs3 fail=0 peers=$CL4" "rr over route, route, nat; the client's address seen"
	sleep 0.2
	js=$(vs_json "$vs")
	diag "rs stats: $(jq -c '[.reals[] | {addr, forward, stats}]' <<<"$js")"
	# route: only the client's direction passes the LB: pkts_out stays 0
	expect_eq "$(jq -r --arg a "${RS4[1]}" '.reals[] | select(.addr == $a) |
		"conns=\(.stats.conns) in=\(.stats.pkts_in >= 6) out=\(.stats.pkts_out)"' <<<"$js")" \
		"conns=2 in=true out=0" "rs1 (route) counters"
}

# The flow dump of a route flow names the real server; the source it sees
# is the client.
t_dr_flow_dump() {
	local vs lport f
	dr_setup
	vs=$(vs4 $RS_PORT)
	dr_vs "$vs" rs4 1 Schedule=rr
	cl open $VIP4 $RS_PORT || fail "client: $J"
	lport=$(jr '.conns[0].lport')
	expect_eq "$(jr '.conns[0].name') $(jr '.conns[0].peer')" "rs1 $CL4" "route connection, peer seen by rs1"
	sleep 0.3
	f=$(adm -j flows | jq -c --argjson p "$lport" '[.[] | select(.client_port == $p)]')
	diag "flows with client port $lport: $f"
	expect_eq "$(jq -r 'length' <<<"$f") $(jq -r '.[0] | "\(.client) \(.vip):\(.vip_port) -> \(.real):\(.real_port) as \(.source) \(.state)"' <<<"$f")" \
		"1 $CL4 $VIP4:$RS_PORT -> ${RS4[1]}:$RS_PORT as $CL4 ESTABLISHED" "flow of the open route connection"
}

# droponfail=1, rs down: the client's route connection gets a RST at once,
# and so does the real server (sent as the client, to the VIP, via rs1).
t_dr_droponfail_reset() {
	local vs
	dr_setup
	vs=$(vs4 $RS_PORT)
	must set droponfail 1
	dr_vs "$vs" rs4 2 Schedule=rr
	cl open $VIP4 $RS_PORT || fail "client: $J"
	ID=$(jr '.conns[0].id // empty')
	expect_eq "$(jr '.conns[0].name')" rs1 "first connection"
	# one exchange, so the sequence numbers the LB noted are current
	cl echo ids="$ID" || fail "client: $J"
	rs_down_reset "$vs"
	cl dist $VIP4 $RS_PORT 4 || fail "client: $J"
	diag "4 new connections: $(jr '.seq | join(" ")')"
	expect_eq "$EV rs1_reset=$((RESETS >= 1)) new_to_rs1=$(jr '.counts.rs1 // 0') failed=$(jr .fail)" \
		"reset rs1_reset=1 new_to_rs1=0 failed=0" "client event, RS side, new conns"
	expect_reset_fast
}

# Idletime=3 on route reals: the idle flow is reset, the talking one is not.
t_dr_idle_timeout() {
	local a b ea eb idle
	dr_setup
	dr_vs "$(vs4 $RS_PORT)" rs4 2 Schedule=rr Idletime=3
	cl open $VIP4 $RS_PORT n=2 || fail "client: $J"
	a=$(jr '.conns[0].id // empty')
	b=$(jr '.conns[1].id // empty')
	[[ -n $a && -n $b ]] || fail "could not open 2 connections: $J"
	cl watch watch="$a" talk="$b" interval=0.5 duration=5.5 || fail "client: $J"
	local watched=$J
	cl echo ids="$b" || fail "client: $J"
	local echoed=$J
	J=$watched
	ea=$(jr ".events[\"$a\"].event")
	idle=$(jr ".events[\"$a\"].idle_ms")
	eb=$(jr ".events[\"$b\"].event")
	diag "idle conn: $ea after $idle ms idle; talking conn: $eb, $(jr ".events[\"$b\"].echoes") echoes in 5.5 s"
	J=$echoed
	expect_eq "$ea | $eb $(jr ".results[\"$b\"]")" "reset | alive ok" "idle route conn | talking route conn"
	expect_range "$idle" 2500 4700 "idle ms before the RST"
}

# IPv6: rr over route reals; each sees the client's address.
t_dr_ipv6_rr() {
	dr_setup
	dr_vs "$(vs6 $RS_PORT)" rs6 3 Schedule=rr
	cl dist $VIP6 $RS_PORT 6 || fail "client: $J"
	diag "6 connections: $(jr '.seq | join(" ")'), peers: $(jr -c .peers)"
	expect_eq "$(jr '.seq | join(" ")') fail=$(jr .fail) peers=$(jr '[.peers[][]] | unique | join(",")')" \
		"rs1 rs2 rs3 rs1 rs2 rs3 fail=0 peers=$CL6" "IPv6 rr over route reals; the client's address seen"
}

# Direct return: a veth from rs1 straight to the client, and rs1's route to
# the client over it, so the LB sees only the client's direction (the
# case conntrack cannot follow by itself). Static neighbours: the client
# does not answer ND for fd00::2 on a link without that prefix.
dr_direct_setup() {
	local mac
	dr_setup
	trap 'dr_direct_cleanup; dr_cleanup' EXIT
	ip -n "$NS_CL" link add cl-rs1 type veth peer name rs-cl netns "$NS_RS1" || fail "veth client-rs1"
	ip -n "$NS_CL" link set cl-rs1 up
	ip -n "$NS_RS1" link set rs-cl up
	nsx "$NS_CL" sysctl -qw net.ipv4.conf.cl-rs1.rp_filter=0 net.ipv4.conf.all.rp_filter=0 || fail "rp_filter"
	mac=$(ip -n "$NS_CL" -j link show cl-rs1 | jq -r '.[0].address')
	ip -n "$NS_RS1" route add $CL4/32 dev rs-cl || fail "route to the client on rs1"
	ip -n "$NS_RS1" -6 route add $CL6/128 dev rs-cl || fail "route6 to the client on rs1"
	ip -n "$NS_RS1" neigh add $CL4 lladdr "$mac" dev rs-cl nud permanent || fail "neigh"
	ip -n "$NS_RS1" neigh add $CL6 lladdr "$mac" dev rs-cl nud permanent || fail "neigh6"
}

dr_direct_cleanup() {
	ip -n "$NS_CL" link del cl-rs1 2>/dev/null
	return 0
}

# tx_pkts NS DEV: packets sent on a link.
tx_pkts() { ip -n "$1" -j -s link show "$2" | jq -r '.[0].stats64.tx.packets'; }

# Replies bypass the LB: the connection works, the flow is ESTABLISHED
# (conntrack saw only the client), and droponfail resets both ends at once.
t_dr_direct_return_reset() {
	local vs tx0 tx1 st
	dr_direct_setup
	vs=$(vs4 $RS_PORT)
	must set droponfail 1
	dr_vs "$vs" rs4 1 Schedule=rr
	tx0=$(tx_pkts "$NS_RS1" rs-cl)
	cl open $VIP4 $RS_PORT || fail "client: $J"
	ID=$(jr '.conns[0].id // empty')
	expect_eq "$(jr '.conns[0].name') $(jr '.conns[0].peer')" "rs1 $CL4" "route connection, peer seen by rs1"
	cl echo ids="$ID" || fail "client: $J"
	[[ $(jr ".results[\"$ID\"]") == ok ]] || fail "echo over the connection: $J"
	tx1=$(tx_pkts "$NS_RS1" rs-cl)
	st=$(adm -j flows | jq -r '.[0].state')
	diag "rs1 sent $((tx1 - tx0)) packets straight to the client; flow state $st"
	expect_eq "$((tx1 - tx0 >= 3)) $st" "1 ESTABLISHED" "replies bypass the LB, flow state"
	rs_down_reset "$vs"
	expect_eq "$EV rs1_reset=$((RESETS >= 1))" "reset rs1_reset=1" "client event, RS side"
	expect_reset_fast
}

# Replies bypass the LB: Idletime=3 resets the idle flow, not the talking one.
t_dr_direct_return_idle() {
	local a b ea eb idle
	dr_direct_setup
	must vs add "$(vs4 $RS_PORT)" Schedule=rr Idletime=3
	must rs add "$(vs4 $RS_PORT)" "$(rs4 1)" forward=route
	cl open $VIP4 $RS_PORT n=2 || fail "client: $J"
	a=$(jr '.conns[0].id // empty')
	b=$(jr '.conns[1].id // empty')
	[[ -n $a && -n $b ]] || fail "could not open 2 connections: $J"
	cl watch watch="$a" talk="$b" interval=0.5 duration=5.5 || fail "client: $J"
	local watched=$J
	cl echo ids="$b" || fail "client: $J"
	local echoed=$J
	J=$watched
	ea=$(jr ".events[\"$a\"].event")
	idle=$(jr ".events[\"$a\"].idle_ms")
	eb=$(jr ".events[\"$b\"].event")
	diag "idle conn: $ea after $idle ms idle; talking conn: $eb, $(jr ".events[\"$b\"].echoes") echoes in 5.5 s"
	J=$echoed
	expect_eq "$ea | $eb $(jr ".results[\"$b\"]")" "reset | alive ok" "idle route conn | talking route conn"
	expect_range "$idle" 2500 4700 "idle ms before the RST"
}

# IPv6 with replies bypassing the LB.
t_dr_direct_return_ipv6() {
	dr_direct_setup
	must vs add "$(vs6 $RS_PORT)" Schedule=rr
	must rs add "$(vs6 $RS_PORT)" "$(rs6 1)" forward=route
	cl open $VIP6 $RS_PORT || fail "client: $J"
	ID=$(jr '.conns[0].id // empty')
	[[ -n $ID ]] || fail "could not open: $J"
	cl echo ids="$ID" || fail "client: $J"
	expect_eq "$(jr ".results[\"$ID\"]") $(adm -j flows | jq -r '.[0].state')" "ok ESTABLISHED" \
		"IPv6 echo with direct return, flow state"
}

# Direct routing keeps the port: a route real on another port is refused,
# on add and on a change of forward, and nothing changes.
t_dr_port_must_match() {
	local vs out1 out2
	vs=$(vs4 80)
	must vs add "$vs" Schedule=rr
	must rs add "$vs" "$(rs4 1)"
	out1=$(adm rs add "$vs" "$(rs4 2)" forward=route 2>&1) && fail "rs add forward=route on another port succeeded"
	out2=$(adm rs mod "$vs" "$(rs4 1)" forward=route 2>&1) && fail "rs mod forward=route on another port succeeded"
	diag "add: $out1"
	diag "mod: $out2"
	expect_eq "$(vs_json "$vs" | jq -r '[.reals[] | "\(.addr) \(.forward)"] | join(",")')" \
		"${RS4[1]} nat" "reals after the refused requests"
}

# Source persistence and the connection limit on route reals.
t_dr_persist_limit() {
	local a b vs
	dr_setup
	dr_vs "$(vs4 $RS_PORT)" rs4 3 Schedule=rr Persist=src PersistTimeout=60
	cl dist $VIP4 $RS_PORT 6 || fail "client: $J"
	a=$(jr '.seq | unique | join(",")')
	diag "client $CL4, 6 conns: $(jr '.seq | join(" ")')"
	cl dist $VIP4 $RS_PORT 3 src=$CL4B || fail "client: $J"
	b=$(jr '.seq | unique | join(",")')
	diag "client $CL4B, 3 conns: $(jr '.seq | join(" ")')"
	vs=$(vs6 $RS_PORT)
	must vs add "$vs" Schedule=rr
	must rs add "$vs" "$(rs6 1)" forward=route limit=1
	must rs add "$vs" "$(rs6 2)" forward=route
	cl open $VIP6 $RS_PORT n=3 || fail "client: $J"
	diag "3 held IPv6 conns, rs1 limit=1: $(jr '[.conns[].name] | join(" ")')"
	expect_eq "$a | $b | $(jr '[.conns[].name] | join(" ")')" "rs1 | rs2 | rs1 rs2 rs2" \
		"RS of $CL4 | RS of $CL4B | held conns with rs1 limit=1"
}
