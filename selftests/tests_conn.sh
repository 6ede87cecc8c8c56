#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Connection tests: what happens to open connections (droponfail, drain,
# drain end, idle timeout), refusals, the source address the real server
# sees, counters and the flow dump. Sourced by exlb_l4.sh.

# open_one [VIP]: one held connection to VIP:80 (default VIP4); sets ID and
# NAME.
open_one() {
	cl open "${1:-$VIP4}" 80 || fail "client: $J"
	ID=$(jr '.conns[0].id // empty')
	NAME=$(jr '.conns[0].name // ("!" + .conns[0].error)')
	[[ -n $ID ]] || fail "could not open a connection: $J"
}

# srv_count NAME FIELD: the servers helper's counter (accepted/eof/reset/open).
srv_count() {
	srv stats || fail "servers helper: $J"
	jr --arg n "$1" --arg f "$2" '.[$n][$f]'
}

# rs_down_reset VS [RESETS [WATCH_ARGS...]]: takes rs1 of VS (rs6's for a
# VS in brackets) down while the client watches the open connection $ID
# until its reset (WATCH_ARGS: more for client.py's watch, e.g. a talking
# connection). Sets WATCHED (the watch's answer), EV (the client's event),
# MS (ms from the start of `rs down' to it), RUN_MS (how long exlbadm took)
# and RESETS (the resets rs1 saw, polled for up to 1 s until there are
# RESETS, default 1).
rs_down_reset() {
	local want=${2:-1} rs
	if [[ $1 == \[* ]]; then rs=$(rs6 1); else rs=$(rs4 1); fi
	cl watch watch="$ID" duration=3 until=reset "${@:3}" -- \
		ip netns exec "$NS_LB" "$EXLBADM" rs down "$1" "$rs" || fail "client: $J"
	[[ $(jr .run_rc) == 0 ]] || fail "exlbadm rs down failed: $(jr .run_out)"
	WATCHED=$J
	EV=$(jr ".events[\"$ID\"].event")
	MS=$(jr ".events[\"$ID\"].ms")
	RUN_MS=$(jr .run_ms)
	diag "client: $EV ${MS} ms after 'rs down' started (exlbadm took $RUN_MS ms)"
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		RESETS=$(srv_count rs1 reset)
		[[ $RESETS -ge $want ]] && break
		sleep 0.1
	done
	diag "rs1 saw $RESETS reset(s)"
}

# expect_reset_fast: the kernel resets synchronously in the request, so
# the RST must not come later than MS_RESET_FAST after exlbadm returned
# (VM process start-up is slow: the start of exlbadm is no fair reference).
expect_reset_fast() {
	expect_range "$MS" 0 $((RUN_MS + MS_RESET_FAST)) "ms from 'rs down' to the client's RST"
}

# droponfail=1, rs down: the open flow is reset at once on both ends; for
# IPv4 and IPv6 (the RSTs are built per family).
t_droponfail_reset() { droponfail_reset "$VIP4" "$(vs4)" rs4; }
t_droponfail_reset_ipv6() { droponfail_reset "$VIP6" "$(vs6)" rs6; }

# droponfail_reset VIP VS RSFN
droponfail_reset() {
	local vip=$1 vs=$2
	must set droponfail 1
	vs_std "$vs" "$3" Schedule=rr
	open_one "$vip"
	expect_eq "$NAME" rs1 "first connection"
	rs_down_reset "$vs"
	cl dist "$vip" 80 6 || fail "client: $J"
	diag "6 new connections: $(jr '.seq | join(" ")')"
	expect_eq "$EV rs1_reset=$((RESETS >= 1)) new_to_rs1=$(jr '.counts.rs1 // 0') failed=$(jr .fail)" \
		"reset rs1_reset=1 new_to_rs1=0 failed=0" "client event, RS side, new conns"
	expect_reset_fast
}

# A segment of a flow that is gone is answered as a closed port would: the
# LB's conntrack entry of an open connection deleted, the client's next
# data gets a RST at once (it was dropped before, and the client hung until
# its own timeout). This RST is also what lands when a reset of exlb's
# missed (data on the way) and the client answered it with a challenge ACK.
t_stray_segment_reset() {
	local lport out
	vs_std "$(vs4)" rs4 Schedule=rr
	open_one
	lport=$(jr '.conns[0].lport')
	cl echo ids="$ID" || fail "client: $J"
	expect_eq "$(jr ".results[\"$ID\"]")" ok "echo while the entry is there"
	out=$(nsx "$NS_LB" conntrack -D -p tcp --orig-src "$CL4" --orig-port-src "$lport" 2>&1)
	diag "conntrack -D: $out"
	[[ $out == *"1 flow entries have been deleted"* ]] || fail "the entry was not deleted: $out"
	cl echo ids="$ID" timeout=3 || fail "client: $J"
	expect_eq "$(jr ".results[\"$ID\"]")" reset "the client's next echo"
}

# Drain (disable) without dropatdrainend: no new flows, the open one lives on.
t_drain_keeps_open() {
	local vs ev
	vs=$(vs4)
	must set dropatdrainend 0 finalpersist 1
	vs_std "$vs" rs4 Schedule=rr
	open_one
	expect_eq "$NAME" rs1 "first connection"
	cl watch talk="$ID" interval=0.5 duration=2.5 -- \
		ip netns exec "$NS_LB" "$EXLBADM" rs disable "$vs" "$(rs4 1)" || fail "client: $J"
	[[ $(jr .run_rc) == 0 ]] || fail "exlbadm rs disable failed: $(jr .run_out)"
	ev=$(jr ".events[\"$ID\"].event")
	diag "open conn after 2.5 s of draining: $ev, $(jr ".events[\"$ID\"].echoes") echoes"
	cl dist $VIP4 80 6 || fail "client: $J"
	diag "6 new connections: $(jr '.seq | join(" ")')"
	expect_eq "$ev new_to_rs1=$(jr '.counts.rs1 // 0') failed=$(jr .fail)" \
		"alive new_to_rs1=0 failed=0" "open conn while draining, new conns"
}

# dropatdrainend=1 finalpersist=2: the open flow is reset 2 s after the
# disable (1 s timer: allow up to 3.5 s).
t_drain_end_reset() {
	local vs ev ms run
	vs=$(vs4)
	must set dropatdrainend 1 finalpersist 2
	vs_std "$vs" rs4 Schedule=rr
	open_one
	expect_eq "$NAME" rs1 "first connection"
	cl watch watch="$ID" duration=6 until=reset -- \
		ip netns exec "$NS_LB" "$EXLBADM" rs disable "$vs" "$(rs4 1)" || fail "client: $J"
	[[ $(jr .run_rc) == 0 ]] || fail "exlbadm rs disable failed: $(jr .run_out)"
	ev=$(jr ".events[\"$ID\"].event")
	ms=$(jr ".events[\"$ID\"].ms")
	run=$(jr .run_ms)
	diag "client: $ev $ms ms after 'rs disable' started (exlbadm took $run ms)"
	expect_eq "$ev" reset "event on the draining connection"
	# the disable happened between t0 and t0 + run
	expect_range "$ms" 1900 $((3500 + run)) "ms from 'rs disable' to the RST"
}

# Idletime=2: an idle flow is reset (within ~3.5 s), a talking one is not.
t_idle_timeout() {
	local a b ea eb idle
	vs_std "$(vs4)" rs4 Schedule=rr Idletime=3
	cl open $VIP4 80 n=2 || fail "client: $J"
	a=$(jr '.conns[0].id // empty')
	b=$(jr '.conns[1].id // empty')
	[[ -n $a && -n $b ]] || fail "could not open 2 connections: $J"
	cl watch watch="$a" talk="$b" interval=0.5 duration=5.5 || fail "client: $J"
	local watched=$J
	# at once: every second spent parsing is idle time on the talking conn
	cl echo ids="$b" || fail "client: $J"
	local echoed=$J
	J=$watched
	ea=$(jr ".events[\"$a\"].event")
	idle=$(jr ".events[\"$a\"].idle_ms")
	eb=$(jr ".events[\"$b\"].event")
	diag "idle conn: $ea after $idle ms idle; talking conn: $eb, $(jr ".events[\"$b\"].echoes") echoes in 5.5 s"
	J=$echoed
	expect_eq "$ea | $eb $(jr ".results[\"$b\"]")" "reset | alive ok" "idle conn | talking conn"
	expect_range "$idle" 2500 4700 "idle ms before the RST"
}

# A service without real servers answers a SYN with RST at once.
t_no_real_refused() {
	must vs add "$(vs4)"
	cl open $VIP4 80 timeout=3 || fail "client: $J"
	diag "connect: $(jr -c '.conns[0]')"
	expect_eq "$(jr '.conns[0].error // .conns[0].name')" ECONNREFUSED "connect result"
	expect_range "$(jr '.conns[0].ms')" 0 $MS_REFUSED_FAST "ms to ECONNREFUSED"
}

t_all_down_refused() {
	local vs i
	vs=$(vs4)
	vs_std "$vs" rs4 Schedule=rr
	for i in 1 2 3; do must rs down "$vs" "$(rs4 $i)"; done
	cl open $VIP4 80 timeout=3 || fail "client: $J"
	diag "connect: $(jr -c '.conns[0]')"
	expect_eq "$(jr '.conns[0].error // .conns[0].name')" ECONNREFUSED "connect result"
	expect_range "$(jr '.conns[0].ms')" 0 $MS_REFUSED_FAST "ms to ECONNREFUSED"
}

# source_seen VS_KEYS... : the set of sources the real servers saw for 3 conns.
source_seen() {
	vs_std "$(vs4)" rs4 Schedule=rr "$@"
	cl dist $VIP4 80 3 || fail "client: $J"
	diag "conns: $(jr '.seq | join(" ")'); sources: $(jr -c .peers)" >&2
	jr '[.peers[][]] | unique | join(",")'
}

t_source_vip() {
	expect_eq "$(source_seen)" $VIP4 "source seen with Transparent=0 SubnetOriginating=0"
}

t_source_subnet_originating() {
	expect_eq "$(source_seen SubnetOriginating=1)" $LB4_RS "source seen with SubnetOriginating=1"
}

t_source_transparent() {
	expect_eq "$(source_seen Transparent=1)" $CL4 "source seen with Transparent=1"
}

t_ipv6_source_subnet_originating() {
	vs_std "$(vs6)" rs6 Schedule=rr SubnetOriginating=1
	cl dist $VIP6 80 3 || fail "client: $J"
	diag "conns: $(jr '.seq | join(" ")')"
	expect_eq "$(jr '[.peers[][]] | unique | join(",")')" $LB6_RS "IPv6 source seen with SubnetOriginating=1"
}

# Counters: K conns of known size -> conns == K, packets and bytes both ways,
# per VS and per RS.
t_stats_counters() {
	local vs k=6 p=100 js got want i before
	vs=$(vs4)
	vs_std "$vs" rs4 Schedule=rr
	cl dist $VIP4 80 $k payload=$p || fail "client: $J"
	diag "conns: $(jr '.seq | join(" ")')"
	[[ $(jr .fail) == 0 ]] || fail "connections failed: $(jr -c .errors)"
	sleep 0.2
	js=$(vs_json "$vs")
	diag "vs stats: $(jq -c .stats <<<"$js")"
	diag "rs stats: $(jq -c '[.reals[] | {addr, stats}]' <<<"$js")"
	# payload + echo per conn, greeting "rsN 198.18.0.10\n" is 16 bytes
	got=$(jq -r --argjson k $k --argjson b $((k * p)) --argjson g $((k * (p + 16))) '
		[(.stats.conns == $k), (.stats.pkts_in >= 2 * $k), (.stats.pkts_out >= 2 * $k),
		 (.stats.bytes_in >= $b), (.stats.bytes_out >= $g)] | map(tostring) | join(" ")' <<<"$js")
	for i in 1 2 3; do
		got+=" | $(jq -r --arg a "${RS4[$i]}" --argjson b $((2 * p)) '
			.reals[] | select(.addr == $a) | .stats |
			[(.conns == 2), (.pkts_in >= 4), (.pkts_out >= 4), (.bytes_in >= $b), (.bytes_out >= $b)] |
			map(tostring) | join(" ")' <<<"$js")"
	done
	want="true true true true true"
	expect_eq "$got" "$want | $want | $want | $want" \
		"VS then rs1..3: conns==K, pkts_in, pkts_out, bytes_in, bytes_out lower bounds"
	# A service's counters are its reals' sums: a deleted real's stay in
	# (a late ACK may still add to them).
	before=$(jq -c .stats <<<"$js")
	adm rs del "$vs" "$(rs4 1)" || fail "rs del failed"
	js=$(vs_json "$vs")
	diag "vs stats after rs1 deleted: $(jq -c .stats <<<"$js")"
	got=$(jq -r --argjson b "$before" '.stats as $s |
		[($s.conns == $b.conns), ($s.pkts_in >= $b.pkts_in), ($s.pkts_out >= $b.pkts_out),
		 ($s.bytes_in >= $b.bytes_in), ($s.bytes_out >= $b.bytes_out)] |
		map(tostring) | join(" ")' <<<"$js")
	expect_eq "$got" "$want" "VS counters kept after deleting a real server"
}

# The flow dump shows an open connection as it is.
t_flow_dump() {
	local vs id lport f
	vs=$(vs4)
	vs_std "$vs" rs4 Schedule=rr
	id=$(vs_json "$vs" | jq -r .id)
	open_one
	lport=$(jr '.conns[0].lport')
	f=$(adm -j flows | jq -c --argjson p "$lport" '[.[] | select(.client_port == $p)]')
	diag "flows with client port $lport: $f"
	expect_eq "$(jq -r 'length' <<<"$f") $(jq -r '.[0] | "\(.service_id) \(.family) \(.client) \(.vip):\(.vip_port) -> \(.real):\(.real_port) as \(.source) \(.state) idle=\(.idle | type)"' <<<"$f")" \
		"1 $id inet $CL4 $VIP4:80 -> $(name_addr4 "$NAME"):$RS_PORT as $VIP4 ESTABLISHED idle=number" \
		"flow of the open connection"
}

# The host's own nftables rules keep working beside exlb: a stateful
# forward filter (policy drop; established accepted; new TCP to the real
# servers' port counted and accepted) and a nat table of the host's own do
# not disturb balancing, and the filter sees the flows after translation.
t_nftables_coexist() {
	local seq n
	command -v nft >/dev/null || skip "nft not installed"
	# the VM's kernel cannot autoload from the chrooted root: load by hand
	modprobe -a nf_tables nft_chain_nat nft_ct nft_masq 2>/dev/null || true
	nsx "$NS_LB" nft -f - <<EOF || fail "nft ruleset refused"
table inet exlbtest {
	chain lbfilter {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		tcp dport $RS_PORT ct state new counter accept
	}
	chain lbnat {
		type nat hook postrouting priority srcnat;
		ip daddr 198.19.255.0/24 masquerade
	}
}
EOF
	vs_std "$(vs4)" rs4 Schedule=rr
	if ! cl dist $VIP4 80 6; then
		nsx "$NS_LB" nft delete table inet exlbtest
		fail "client: $J"
	fi
	seq=$(jr '.seq | join(" ")')
	n=$(nsx "$NS_LB" nft -j list chain inet exlbtest lbfilter |
		jq '[.nftables[] | .rule? // empty | .expr[] | .counter? // empty | .packets] | add')
	nsx "$NS_LB" nft delete table inet exlbtest
	diag "new connections counted by the host's forward filter: $n"
	expect_eq "$seq" "rs1 rs2 rs3 rs1 rs2 rs3" "rr order with the host's nftables rules loaded"
	expect_eq "$n" 6 "new connections the host's filter saw, to port $RS_PORT"
}
