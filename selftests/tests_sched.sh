#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Scheduling tests: which real server a new connection goes to (rr, wrr,
# lc, wlc, persistence, connection limits, IPv6). Sourced by exlb_l4.sh;
# each t_NAME runs in its own bash with a fresh (empty) LB namespace state.

# The harness itself: plain routing works and a VIP without a service is
# answered by the LB's own "lb" server, i.e. not balanced. Every later test
# relies on this to tell "balanced" from "fell through".
t_topology_baseline() {
	cl dist "${RS4[1]}" $RS_PORT 1 || fail "client: $J"
	local a; a=$(jr '.seq[0] + " " + (.peers.rs1[0] // "-")')
	cl dist "${RS6[2]}" $RS_PORT 1 || fail "client: $J"
	local b; b=$(jr '.seq[0] + " " + (.peers.rs2[0] // "-")')
	cl dist $VIP4 80 1 || fail "client: $J"
	local c; c=$(jr '.seq[0]')
	cl dist $VIP6 80 1 || fail "client: $J"
	local d; d=$(jr '.seq[0]')
	expect_eq "$a | $b | $c $d" "rs1 $CL4 | rs2 $CL6 | lb lb" \
		"direct v4 to rs1 | direct v6 to rs2 | VIP v4 v6 without a service"
}

# rr: strict rotation in insertion order, starting with the first RS.
t_rr_rotation() {
	vs_std "$(vs4)" rs4 Schedule=rr
	cl dist $VIP4 80 9 || fail "client: $J"
	expect_eq "$(jr '.seq | join(" ")')" "rs1 rs2 rs3 rs1 rs2 rs3 rs1 rs2 rs3" \
		"rr order of 9 connections"
}

# wrr 3:1: smooth weighted round robin, exactly 3/4 over whole cycles.
t_wrr_ratio() {
	local vs n=400 n1 n2
	vs=$(vs4)
	must vs add "$vs" Schedule=wrr
	must rs add "$vs" "$(rs4 1)" weight=3
	must rs add "$vs" "$(rs4 2)" weight=1
	cl dist $VIP4 80 $n || fail "client: $J"
	n1=$(jr '.counts.rs1 // 0')
	n2=$(jr '.counts.rs2 // 0')
	diag "of $n connections: rs1=$n1 rs2=$n2 failed=$(jr .fail) $(jr -c .errors)"
	diag "first 12: $(jr '.seq[0:12] | join(" ")')"
	expect_eq "$((n1 + n2))" "$n" "connections served by rs1+rs2"
	expect_range $((n1 * 1000 / n)) 700 800 "rs1 share in per mille (weights 3:1)"
}

# rs_active VS N: active_conns of real server N (IPv4) as the kernel reports.
rs_active() {
	vs_json "$1" | jq -r --arg a "${RS4[$2]}" '.reals[] | select(.addr == $a) | .active_conns'
}

# lc: new connections go to the RS with the fewest open connections.
t_lc_least_conns() {
	local vs held p0 p1 p2 i a
	vs=$(vs4)
	must vs add "$vs" Schedule=lc
	must rs add "$vs" "$(rs4 1)"
	cl open $VIP4 80 n=4 || fail "client: $J"
	p0=$(jr '[.conns[] | .name // ("!" + .error)] | join(" ")')
	held=$(jr '[.conns[].id] | join(",")')
	diag "4 held with only rs1: $p0; kernel: rs1 active_conns=$(rs_active "$vs" 1)"
	must rs add "$vs" "$(rs4 2)"
	must rs add "$vs" "$(rs4 3)"
	cl open $VIP4 80 n=6 || fail "client: $J"
	p1=$(jr '[.conns[] | .name // ("!" + .error)] | sort | join(" ")')
	diag "6 more held (rs1 has 4): $(jr '[.conns[] | .name // ("!" + .error)] | join(" ")')"
	cl close ids="$held"
	for i in $(seq 30); do
		a=$(rs_active "$vs" 1)
		[[ $a == 0 ]] && break
		sleep 0.1
	done
	diag "after closing rs1's 4: rs1 active_conns=$a"
	cl open $VIP4 80 n=3 || fail "client: $J"
	p2=$(jr '[.conns[] | .name // ("!" + .error)] | join(" ")')
	expect_eq "$p0 | $p1 | $p2" \
		"rs1 rs1 rs1 rs1 | rs2 rs2 rs2 rs3 rs3 rs3 | rs1 rs1 rs1" \
		"held conns: rs1 only | 6 new with rs1 at 4 | 3 new with rs1 at 0"
}

# wlc: open connections in proportion to the weights.
t_wlc_weighted() {
	local vs
	vs=$(vs4)
	must vs add "$vs" Schedule=wlc
	must rs add "$vs" "$(rs4 1)" weight=2000
	must rs add "$vs" "$(rs4 2)" weight=1000
	cl open $VIP4 80 n=6 || fail "client: $J"
	diag "order: $(jr '[.conns[] | .name // ("!" + .error)] | join(" ")')"
	expect_eq "$(jr '[.conns[] | .name // ("!" + .error)] | sort | join(" ")')" \
		"rs1 rs1 rs1 rs1 rs2 rs2" "6 held conns with weights 2:1"
}

# Persist=src: a client sticks to its RS; rr would otherwise rotate.
t_persist_holds() {
	local a b
	vs_std "$(vs4)" rs4 Schedule=rr Persist=src PersistTimeout=60
	cl dist $VIP4 80 10 || fail "client: $J"
	a=$(jr '.seq | unique | join(",")')
	diag "client $CL4, 10 conns: $(jr '.seq | join(" ")')"
	cl dist $VIP4 80 5 src=$CL4B || fail "client: $J"
	b=$(jr '.seq | unique | join(",")')
	diag "client $CL4B, 5 conns: $(jr '.seq | join(" ")')"
	expect_eq "$a | $b" "rs1 | rs2" "RS of $CL4 | RS of $CL4B"
}

# PersistMask=24 groups 198.18.0.2 and 198.18.0.3 into one record.
t_persist_mask() {
	local a b
	vs_std "$(vs4)" rs4 Schedule=rr Persist=src PersistTimeout=60 PersistMask=24
	cl dist $VIP4 80 3 || fail "client: $J"
	a=$(jr '.seq | join(" ")')
	cl dist $VIP4 80 3 src=$CL4B || fail "client: $J"
	b=$(jr '.seq | join(" ")')
	expect_eq "$a | $b" "rs1 rs1 rs1 | rs1 rs1 rs1" "$CL4 | $CL4B (same /24)"
}

# The record ends PersistTimeout after the client's last connection closed:
# A -> rs1, B -> rs2, A again within the timeout -> rs1 (record; rr does not
# move), A after the timeout -> rs3 (rr's next), not its old rs1.
t_persist_expires() {
	local s=()
	# 4 s leaves room for a slow (emulated, loaded) machine between A's
	# first and second connection; expiry is checked at lookup, not by
	# the 1 s timer.
	vs_std "$(vs4)" rs4 Schedule=rr Persist=src PersistTimeout=4
	cl dist $VIP4 80 1 || fail "client: $J"
	s+=("$(jr '.seq[0]')")
	cl dist $VIP4 80 1 src=$CL4B || fail "client: $J"
	s+=("$(jr '.seq[0]')")
	sleep 1
	cl dist $VIP4 80 1 || fail "client: $J"
	s+=("$(jr '.seq[0]')")
	diag "A, B, A after 1 s: ${s[*]}; waiting 5 s (timeout 4 s + slack)"
	sleep 5
	cl dist $VIP4 80 1 || fail "client: $J"
	s+=("$(jr '.seq[0]')")
	expect_eq "${s[*]}" "rs1 rs2 rs1 rs3" "A, B, A within 4 s, A after 5 s"
}

# A record whose RS went down is replaced, and stays replaced after it is up.
t_persist_moves_off_down() {
	local vs s=()
	vs=$(vs4)
	vs_std "$vs" rs4 Schedule=rr Persist=src PersistTimeout=60
	cl dist $VIP4 80 1 || fail "client: $J"
	s+=("$(jr '.seq[0]')")
	must rs down "$vs" "$(rs4 1)"
	cl dist $VIP4 80 2 || fail "client: $J"
	s+=("$(jr '.seq | join(" ")')")
	must rs up "$vs" "$(rs4 1)"
	cl dist $VIP4 80 2 || fail "client: $J"
	s+=("$(jr '.seq | join(" ")')")
	expect_eq "${s[*]}" "rs1 rs2 rs2 rs2 rs2" "before | with rs1 down | rs1 up again"
}

# limit=2: the third concurrent connection has nowhere to go (refused);
# once another RS exists it goes there.
t_limit_overflow() {
	local vs a b
	vs=$(vs4)
	must vs add "$vs" Schedule=rr
	must rs add "$vs" "$(rs4 1)" limit=2
	cl open $VIP4 80 n=3 || fail "client: $J"
	a=$(jr '[.conns[] | .name // ("!" + .error)] | join(" ")')
	must rs add "$vs" "$(rs4 2)"
	cl open $VIP4 80 n=2 || fail "client: $J"
	b=$(jr '[.conns[] | .name // ("!" + .error)] | join(" ")')
	diag "kernel: $(vs_json "$vs" | jq -c '[.reals[] | {addr, limit, active_conns}]')"
	expect_eq "$a | $b" "rs1 rs1 !ECONNREFUSED | rs2 rs2" \
		"3 held with only rs1 (limit 2) | 2 more after adding rs2"
}

t_ipv6_rr() {
	vs_std "$(vs6)" rs6 Schedule=rr
	cl dist $VIP6 80 6 || fail "client: $J"
	expect_eq "$(jr '.seq | join(" ")') from $(jr '[.peers[][]] | unique | join(",")')" \
		"rs1 rs2 rs3 rs1 rs2 rs3 from $VIP6" "IPv6 rr order and source seen"
}

# A client in the LB namespace itself (LOCAL_OUT) is balanced too.
t_local_client() {
	vs_std "$(vs4)" rs4 Schedule=rr
	cl dist $VIP4 80 3 ns="$NS_LB" || fail "client: $J"
	expect_eq "$(jr '.seq | join(" ")')" "rs1 rs2 rs3" "3 conns from inside the LB namespace"
}
