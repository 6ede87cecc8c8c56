#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nf_flow_table software offload (module parameter flow_offload): an
# established nat flow goes to the kernel's flowtable ("[OFFLOAD]" in the
# LB's /proc/net/nf_conntrack) on a full-sized segment from outside (IP
# length >= 1024 or a GRO aggregate; small messages never). These tests show
# that its data, counters, idle timeout and droponfail reset stay what they
# are on the normal path, and that flow_offload=0 keeps flows off the
# flowtable. Sourced by exlb_l4.sh.

OFFLOAD_PARAM=/sys/module/exlb/parameters/flow_offload
# a bulk transfer: 400 KB each way, in lines of 8 KB
BULK_BYTES=409600
BULK_LINE=8192
# enough to be offloaded: 64 echoes of 1 KB (full-sized segments each way)
WARM_BYTES=65536
WARM_LINE=1024
# small messages, never offloaded: 20 echoes of 20 bytes
SMALL_BYTES=400
SMALL_LINE=20

# offload_family 4|6: the family the helpers below look at. OFL_VIP, OFL_VS
# (VIP:80) and OFL_RSFN (rs4 or rs6) name the service and its reals, OFL_RS
# holds the reals' addresses as exlbadm prints them, OFL_CT the client's
# and the VIP's as the LB's /proc/net/nf_conntrack does (IPv6 in full).
offload_family() {
	if [[ $1 == 6 ]]; then
		OFL_VIP=$VIP6 OFL_VS=$(vs6) OFL_RSFN=rs6 OFL_RS=("${RS6[@]}")
		OFL_CT="src=$(ip6_full "$CL6") dst=$(ip6_full "$VIP6")"
	else
		OFL_VIP=$VIP4 OFL_VS=$(vs4) OFL_RSFN=rs4 OFL_RS=("${RS4[@]}")
		OFL_CT="src=$CL4 dst=$VIP4"
	fi
}

# ip6_full ADDR: ADDR with all 8 groups of 4 digits
ip6_full() { python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]).exploded)' "$1"; }

offload_family 4

# ct_entry LPORT [TABLE]: the LB's conntrack entry of the client's connection
# from port LPORT to OFL_VIP:80 (empty when there is none), from TABLE (a
# read of /proc/net/nf_conntrack) or a read of its own.
ct_entry() {
	local table=${2-$(nsx "$NS_LB" cat /proc/net/nf_conntrack)}
	grep -F "$OFL_CT sport=$1 dport=80 " <<<"$table" | head -n 1
}

# ct_offload LPORT...: for each, "offloaded", "not offloaded" or "no entry",
# joined by " | ", from one read of the table.
ct_offload() {
	local table p e st out=""
	table=$(nsx "$NS_LB" cat /proc/net/nf_conntrack)
	for p; do
		e=$(ct_entry "$p" "$table")
		if [[ -z $e ]]; then
			st="no entry"
		elif [[ $e == *'[OFFLOAD]'* ]]; then
			st=offloaded
		else
			st="not offloaded"
		fi
		out+="${out:+ | }$st"
	done
	echo "$out"
}

# ct_is LPORT... STATE: whether ct_offload LPORT... says STATE (for
# wait_for); what it said stays in CT_SAID.
ct_is() {
	CT_SAID=$(ct_offload "${@:1:$#-1}")
	[[ $CT_SAID == "${!#}" ]]
}

# expect_offload LPORT STATE WHAT: waits up to 2 s for STATE, then asserts it
# and shows the entry.
expect_offload() {
	wait_for 2 ct_is "$1" "$2"
	diag "conntrack: $(ct_entry "$1")"
	expect_eq "$(ct_offload "$1")" "$2" "$3"
}

# bulk ID BYTES LINE: BYTES each way on the held connection ID in lines of
# LINE bytes; the test fails unless every echo came back intact.
bulk() {
	cl bulk ids="$1" bytes="$2" line="$3" || fail "client: $J"
	diag "bulk of $2 bytes on conn $1: $(jr -c ".results[\"$1\"]")"
	[[ $(jr ".results[\"$1\"] | \"\(.error) \(.intact) \(.echoed)\"") == "null true $2" ]] ||
		fail "bulk transfer on conn $1 did not come back intact"
}

# byte_counts VS I: "VS_IN VS_OUT RS_IN RS_OUT", the byte counters of the
# service and of its real server rsI.
byte_counts() {
	vs_json "$1" | jq -r --arg a "${OFL_RS[$2]}" '[.stats.bytes_in, .stats.bytes_out,
		(.reals[] | select(.addr == $a) | .stats.bytes_in, .stats.bytes_out)] |
		map(tostring) | join(" ")'
}

# bytes_within VS I LOW HIGH: all four of byte_counts in [LOW, HIGH]
bytes_within() {
	local c v
	read -ra v <<<"$(byte_counts "$1" "$2")"
	((${#v[@]} == 4)) || return 1
	for c in "${v[@]}"; do ((c >= $3 && c <= $4)) || return 1; done
}

# expect_bytes VS I N WHAT: polls up to 3 s (the counters of offloaded
# flows may lag by up to a second) until the service's and rsI's bytes
# both ways cover the N payload bytes and stay under 3/2 N (headers and
# the greeting fit in that; counting the offloaded bytes twice does not).
expect_bytes() {
	local lo=$3 hi=$(($3 * 3 / 2))
	wait_for 3 bytes_within "$1" "$2" "$lo" "$hi"
	diag "$4: bytes vs in/out, rs$2 in/out: $(byte_counts "$1" "$2")"
	bytes_within "$1" "$2" "$lo" "$hi" || fail "$4: not all of $(byte_counts "$1" "$2") in [$lo, $hi]"
	diag "$4: all in [$lo, $hi]"
}

# srv_is NAME FIELD VALUE: the servers helper's counter is VALUE
srv_is() { [[ $(srv_count "$1" "$2") == "$3" ]]; }

# set_offload 0|1: the module parameter; the namespace must have no service
# (it is read when the first one is added).
set_offload() {
	echo "$1" >"$OFFLOAD_PARAM" || fail "cannot write $OFFLOAD_PARAM"
}

# Proves small messages keep a flow off the flowtable, a bulk nat flow goes
# to it, its data arrives intact both ways, its bytes reach the counters
# while it is offloaded (not only at its end) and are not counted twice,
# and a FIN takes it back off the flowtable; for IPv4 and IPv6 (the
# flowtable's hooks and exlb's parsing differ by family).
t_offload_bulk() { offload_bulk; }
t_offload_bulk_ipv6() {
	offload_family 6
	offload_bulk
}

offload_bulk() {
	local vs lport
	vs=$OFL_VS
	vs_std "$vs" "$OFL_RSFN" Schedule=rr
	open_one "$OFL_VIP"
	lport=$(jr '.conns[0].lport')
	expect_eq "$NAME" rs1 "first connection"
	bulk "$ID" $SMALL_BYTES $SMALL_LINE
	# any offload would be at once, on the packet that triggers it
	diag "conntrack: $(ct_entry "$lport")"
	expect_eq "$(ct_offload "$lport")" "not offloaded" "after $SMALL_BYTES bytes of small messages"
	bulk "$ID" $BULK_BYTES $BULK_LINE
	expect_offload "$lport" offloaded "bulk connection while open"
	expect_bytes "$vs" 1 $((SMALL_BYTES + BULK_BYTES)) "while offloaded"
	cl close ids="$ID" || fail "client: $J"
	expect_offload "$lport" "not offloaded" "bulk connection after the client's FIN"
	expect_bytes "$vs" 1 $((SMALL_BYTES + BULK_BYTES)) "after close"
	wait_for 2 srv_is rs1 eof 1
	srv stats || fail "servers helper: $J"
	expect_eq "$(jr '.rs1 | "rx=\(.rx) eof=\(.eof) reset=\(.reset)"')" \
		"rx=$((SMALL_BYTES + BULK_BYTES)) eof=1 reset=0" \
		"bytes rs1 received, how its connection ended"
}

# hooked_devs: how many of the LB's devices have exlb's ingress hook;
# offloaded: how many flows are in the flowtable (exlbadm's get).
hooked_devs() { adm get offloaddevs; }
offloaded() { adm get offloaded; }
hooked_devs_is() { [[ $(hooked_devs) == "$1" ]]; }

# The ingress hooks are there only while the flowtable is in use: not for
# a service whose flows carry small messages, on every device but lo from
# the first offloaded flow, off again once the table has stayed empty for
# 10 s (not at once), and back for the next bulk flow.
t_offload_hooks_on_demand() {
	local vs lport t0 gone ndev
	# lb-cl, lb-br and its ports lb-rs1..3 (a device enslaved or added
	# later is hooked all the same)
	ndev=$(ip -n "$NS_LB" -o link show | grep -vc ": lo:")
	vs=$(vs4)
	vs_std "$vs" rs4 Schedule=rr
	open_one
	lport=$(jr '.conns[0].lport')
	bulk "$ID" $SMALL_BYTES $SMALL_LINE
	expect_eq "$(hooked_devs)/$(offloaded)" 0/0 "hooked devices/flows offloaded: small messages only"
	bulk "$ID" $WARM_BYTES $WARM_LINE
	expect_offload "$lport" offloaded "after a bulk transfer"
	expect_eq "$(hooked_devs)/$(offloaded)" "$ndev/1" "hooked devices/flows offloaded while it is"
	cl close ids="$ID" || fail "client: $J"
	t0=$SECONDS
	expect_offload "$lport" "not offloaded" "after the client's FIN"
	# not at once: 10 s of an empty table (wait_for polls every 0.3 s)
	wait_for 30 hooked_devs_is 0
	gone=$((SECONDS - t0))
	diag "hooks gone $gone s after the FIN"
	expect_eq "$(hooked_devs)/$(offloaded)" 0/0 "hooked devices/flows offloaded after the wait"
	expect_range "$gone" 9 30 "seconds from the FIN to the hooks' removal"
	open_one
	lport=$(jr '.conns[0].lport')
	bulk "$ID" $WARM_BYTES $WARM_LINE
	expect_offload "$lport" offloaded "the next bulk connection"
	expect_eq "$(hooked_devs)/$(offloaded)" "$ndev/1" "hooked devices/flows offloaded again"
}

# Idletime=3 on offloaded flows: the idle one is reset after about
# Idletime (plus the 1 s timer and the 100 ms probe before the RST),
# the one that keeps talking through the flowtable is neither reset nor
# taken off it. Idletime grows with EXLB_TIME_SCALE: under the debug
# kernel the checks between the transfers take seconds. IPv4 and IPv6.
t_offload_idle_timeout() { offload_idle_timeout; }
t_offload_idle_timeout_ipv6() {
	offload_family 6
	offload_idle_timeout
}

offload_idle_timeout() {
	local a b pa pb ea eb idle offloaded before watched echoed it=$((3 * TIME_SCALE))
	vs_std "$OFL_VS" "$OFL_RSFN" Schedule=rr Idletime=$it
	# An open connection idles from its last packet, and under the debug
	# kernel every look at conntrack takes seconds: both transfers, one
	# look for both, then one echo each through the flowtable and the
	# watch at once. The client sees a RST only while it watches, so the
	# idle time must start at the echo (once, with the checks in between,
	# a RST came before the watch and was timed when it began).
	open_one "$OFL_VIP"
	a=$ID
	pa=$(jr '.conns[0].lport')
	open_one "$OFL_VIP"
	b=$ID
	pb=$(jr '.conns[0].lport')
	bulk "$a" $WARM_BYTES $WARM_LINE
	bulk "$b" $WARM_BYTES $WARM_LINE
	wait_for 2 ct_is "$pa" "$pb" "offloaded | offloaded"
	offloaded=$CT_SAID
	cl echo ids="$a,$b" || fail "client: $J"
	before=$J
	# not until the reset: the talking one goes on past its own Idletime
	# plus the timer and the probe, counted from the echo
	cl watch watch="$a" talk="$b" interval=0.5 duration=$((it + 4)).5 || fail "client: $J"
	watched=$J
	# at once, and the flowtable looked at before any parsing: every second
	# spent is idle time on the talking conn (under the debug kernel the
	# parsing once outlasted its Idletime)
	cl echo ids="$b" || fail "client: $J"
	echoed=$J
	expect_offload "$pb" offloaded "talking conn after the idle one's reset"
	expect_eq "$offloaded" "offloaded | offloaded" "conn to idle | conn to talk, before the watch"
	J=$before
	expect_eq "$(jr "[.results[\"$a\"], .results[\"$b\"]] | join(\" \")")" "ok ok" \
		"an echo on each before the watch"
	J=$watched
	ea=$(jr ".events[\"$a\"].event")
	idle=$(jr ".events[\"$a\"].idle_ms")
	eb=$(jr ".events[\"$b\"].event")
	diag "idle conn: $ea after $idle ms idle ($(jr ".events[\"$a\"].ms") ms into the watch);" \
		"talking conn: $eb, $(jr ".events[\"$b\"].echoes") echoes"
	J=$echoed
	expect_eq "$ea | $eb $(jr ".results[\"$b\"]")" "reset | alive ok" "idle conn | talking conn"
	# Idletime, the 1 s timer, the probe's 100 ms, room for a slow VM
	# (the debug kernel's timer and probe walk took 5.3 s once)
	expect_range "$idle" $((it * 1000 - 500)) $((it * 1000 + 3000 * TIME_SCALE)) \
		"idle ms before the RST"
}

# droponfail=1, rs down: two offloaded flows to rs1, one idle and one
# echoing back to back, are both reset on both ends within about a second
# (the probe's answers give the RSTs their sequence numbers, also while
# data moves). IPv4 and IPv6.
t_offload_droponfail() { offload_droponfail; }
t_offload_droponfail_ipv6() {
	offload_family 6
	offload_droponfail
}

offload_droponfail() {
	local vs a b pa pb eb echoes
	vs=$OFL_VS
	must set droponfail 1
	must vs add "$vs" Schedule=rr
	must rs add "$vs" "$($OFL_RSFN 1)"
	cl open "$OFL_VIP" 80 n=2 || fail "client: $J"
	a=$(jr '.conns[0].id // empty')
	b=$(jr '.conns[1].id // empty')
	pa=$(jr '.conns[0].lport')
	pb=$(jr '.conns[1].lport')
	[[ -n $a && -n $b ]] || fail "could not open 2 connections: $J"
	bulk "$a" $WARM_BYTES $WARM_LINE
	bulk "$b" $WARM_BYTES $WARM_LINE
	expect_offload "$pa" offloaded "idle conn"
	expect_offload "$pb" offloaded "busy conn"
	ID=$a
	# the busy one echoes back to back from 1 s before `rs down' on
	rs_down_reset "$vs" 2 talk="$b" interval=0 delay=1
	# shellcheck disable=SC2153 # set by rs_down_reset
	J=$WATCHED
	eb=$(jr ".events[\"$b\"].event")
	echoes=$(jr ".events[\"$b\"].echoes")
	diag "busy conn: $eb at $(jr ".events[\"$b\"].ms") ms, $echoes echoes," \
		"its last I/O $(jr ".events[\"$b\"].idle_ms") ms before"
	if [[ $eb == alive ]]; then
		# the watch ended with the idle one's reset: give this one's a moment
		cl watch watch="$b" duration=1.5 until=reset || fail "client: $J"
		eb=$(jr ".events[\"$b\"].event")
		diag "busy conn, watched on: $eb at $(jr ".events[\"$b\"].ms") ms more"
	fi
	expect_eq "idle=$EV busy=$eb echoes>=10:$((echoes >= 10)) rs1_resets=$RESETS" \
		"idle=reset busy=reset echoes>=10:1 rs1_resets=2" "client events, resets rs1 saw"
	# the probe and its answers come before the RSTs: 500 ms more than the
	# normal path's bound
	expect_range "$MS" 0 $((RUN_MS + MS_RESET_FAST + 500)) "ms from 'rs down' to the idle conn's RST"
}

# flow_offload=0: the same bulk transfer stays on the normal path, data and
# counters as before. Then the control: the parameter back on, the service
# added again, a connection goes to the flowtable (so the parameter is what
# kept the first off, and it is read again for a new first service).
t_offload_off() {
	local vs lport old
	[[ -w $OFFLOAD_PARAM ]] || fail "$OFFLOAD_PARAM missing or not writable"
	old=$(<"$OFFLOAD_PARAM")
	diag "flow_offload was $old"
	# shellcheck disable=SC2064 # restore the value read now
	trap "echo '$old' >'$OFFLOAD_PARAM'" EXIT
	set_offload 0
	vs=$(vs4)
	vs_std "$vs" rs4 Schedule=rr
	open_one
	lport=$(jr '.conns[0].lport')
	bulk "$ID" $BULK_BYTES $BULK_LINE
	# an offloaded entry keeps its flag until a FIN/RST or 30 s idle: one
	# look after the transfer sees any offload during it
	sleep 0.5
	diag "conntrack: $(ct_entry "$lport")"
	expect_eq "$(ct_offload "$lport")" "not offloaded" "bulk connection with flow_offload=0"
	expect_bytes "$vs" 1 $BULK_BYTES "with flow_offload=0"
	cl close ids="$ID" || fail "client: $J"

	must vs del "$vs"
	set_offload 1
	vs_std "$vs" rs4 Schedule=rr
	open_one
	lport=$(jr '.conns[0].lport')
	bulk "$ID" $WARM_BYTES $WARM_LINE
	expect_offload "$lport" offloaded "control: flow_offload=1, service added again"
}
