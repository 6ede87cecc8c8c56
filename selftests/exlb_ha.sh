#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The HA pair's L4 failover: connections balanced by exlb.ko on lb1 carry
# on through lb2 after lb1 is cut off, conntrackd (FTFW) having synced
# their entries and exlb.ko on lb2 adopting them (docs/ha.md).
#
#   client 198.18.0.2, .3 --- [sw: br-front] --- lb1 198.18.0.11   lb2 198.18.0.12
#                                                 VIP 198.18.0.10 (on the active node)
#   rs1 198.18.1.11:8080  --- [sw: br-back]  --- lb1 198.18.1.2    lb2 198.18.1.3
#   rs2 198.18.1.12:8080                          gateway 198.18.1.1 (on the active node)
#                                lb1 sync 198.18.2.1/30 --- lb2 sync 198.18.2.2/30
#
# Both nodes have the same service (VIP:143, rr, Persist=src) and run
# conntrackd (FTFW over UDP on the sync link, external cache). The VIP and
# the real servers' gateway are moved by hand, as keepalived would, with
# gratuitous ARPs, and conntrackd is driven as its primary-backup.sh does.
#
#   pair_up         topology, echo servers, exlb services, conntrackd on both
#   held_on_lb1     a throw-away connection from .3 (takes rs1), then an
#                   IMAP-like held connection and a running bulk transfer
#                   from .2 (both on rs2: persistence); lb1 has 2 flows;
#                   lb2's conntrackd holds their entries in its external cache
#   persist_sync    lb1's persistence records (EXLB_CMD_GET_PERSIST) installed
#                   on lb2 with EXLB_CMD_SET_PERSIST, as exlbd's persistence
#                   sync does: lb2 lists the same clients on the same RSs;
#                   malformed or unplaceable SET_PERSIST requests are
#                   refused with their errno and message and change nothing
#   takeover        lb1's links go down; lb2 commits the external cache
#                   (conntrackd -c, then -f, -R, -B), takes the addresses,
#                   sends gratuitous ARPs: both connections keep exchanging
#                   data (no RST, no EOF); the takeover time is printed
#   adopted_on_lb2  lb2's counters: adopted 2, adoptreset 0, both flows in
#                   the dump marked adopted on rs2, rs2 counts 2 active
#                   connections, one persistence record; a new connection
#                   from .2 goes to rs2 (the adopted record; rr alone would
#                   pick rs1 first on lb2)
#   synced_record_on_lb2  a new client .4 gets rr's first pick on lb2 (rs1);
#                   .3, which has no connection left, follows its synced
#                   record to rs1 where rr alone would now give rs2
#   reset_adopted   droponfail on lb2 and `rs down` of rs2: both adopted
#                   connections get a RST, lb2 has no flow left
#   kernel_log_clean  no warning or oops in the kernel log
#
# KTAP on stdout, last line "N passed, N failed[, N skipped]". Exit 0 all
# passed, 1 a failure, 4 skipped (not root, no exlb module, no conntrackd).
# Needs exlbadm ($EXLBADM), python3, jq, conntrackd, nf_conntrack_netlink.

# shellcheck disable=SC2317 # the t_* functions are called by run_chained
SELF=$(readlink -f "${BASH_SOURCE[0]}")
EXLB_SFX=${EXLB_SFX:-ha$$}
# shellcheck disable=SC2034 # read by fail() in lib.sh
EXLB_CHAINED=1
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"
CONNTRACKD=${CONNTRACKD:-/usr/sbin/conntrackd}

NS_SW=exlbha-sw-$EXLB_SFX
NS_C=exlbha-cl-$EXLB_SFX
NS_L1=exlbha-lb1-$EXLB_SFX
NS_L2=exlbha-lb2-$EXLB_SFX
NS_R1=exlbha-rs1-$EXLB_SFX
NS_R2=exlbha-rs2-$EXLB_SFX
HA_NS="$NS_SW $NS_C $NS_L1 $NS_L2 $NS_R1 $NS_R2"

VIP=198.18.0.10
PORT=143
C_MAIN=198.18.0.2
C_OTHER=198.18.0.3
C_THIRD=198.18.0.4
GW=198.18.1.1
HA_RS=("" 198.18.1.11 198.18.1.12)
VS="$VIP:$PORT"
TAKEOVER_MAX_S=15	# longest silence across the cut, under TCG (measured 1.3-7.3 s)

TESTS=(pair_up held_on_lb1 persist_sync takeover adopted_on_lb2 synced_record_on_lb2
	reset_adopted kernel_log_clean)

echo "TAP version 13"
echo "1..${#TESTS[@]}"

need_root
need_built "$EXLBADM" "$PYTHON"
[[ -x $CONNTRACKD ]] || need "conntrackd not installed (tools/deps.sh)"
need_tools ip jq timeout dmesg conntrack
need_exlb
need_ctnetlink
suite_ready "${TESTS[@]}"

T=$(mktemp -d /tmp/exlb-ha.XXXXXX)
DMESG_MARK=$(dmesg_mark)

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local f ns
	for f in "$T"/*.pid; do
		[[ -f $f ]] && kill "$(<"$f")" 2>/dev/null
	done
	sleep 0.2
	for ns in $HA_NS; do
		[[ -e /run/netns/$ns ]] && ip netns del "$ns" 2>/dev/null
	done
	[[ -n ${EXLB_KEEP:-} ]] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

a1() { ip netns exec "$NS_L1" "$EXLBADM" "$@"; }
a2() { ip netns exec "$NS_L2" "$EXLBADM" "$@"; }
ctd() { local node=$1; shift; ip netns exec "exlbha-$node-$EXLB_SFX" "$CONNTRACKD" -C "$T/$node/conntrackd.conf" "$@"; }
now() { date +%s.%N; }
# ms_between T0 T1 (seconds.fraction) -> integer milliseconds
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# veth NS_A NAME_A NS_B NAME_B
veth() { ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"; }

topo() {
	local ns n
	for ns in $HA_NS; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up || return 1
	done
	ip -n "$NS_SW" link add br-front type bridge || return 1
	ip -n "$NS_SW" link add br-back type bridge || return 1
	ip -n "$NS_SW" link set br-front up
	ip -n "$NS_SW" link set br-back up

	veth "$NS_C" eth0 "$NS_SW" sw-cl || return 1
	ip -n "$NS_SW" link set sw-cl master br-front up
	ip -n "$NS_C" addr add $C_MAIN/24 dev eth0
	ip -n "$NS_C" addr add $C_OTHER/24 dev eth0
	ip -n "$NS_C" addr add $C_THIRD/24 dev eth0
	ip -n "$NS_C" link set eth0 up

	for n in 1 2; do
		ns=exlbha-lb$n-$EXLB_SFX
		veth "$ns" front "$NS_SW" sw-f$n || return 1
		veth "$ns" back "$NS_SW" sw-b$n || return 1
		ip -n "$NS_SW" link set sw-f$n master br-front up
		ip -n "$NS_SW" link set sw-b$n master br-back up
		ip -n "$ns" addr add 198.18.0.1$n/24 dev front
		ip -n "$ns" addr add 198.18.1.$((n + 1))/24 dev back
		ip -n "$ns" link set front up
		ip -n "$ns" link set back up
		ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 || return 1

		ns=exlbha-rs$n-$EXLB_SFX
		veth "$ns" eth0 "$NS_SW" sw-r$n || return 1
		ip -n "$NS_SW" link set sw-r$n master br-back up
		ip -n "$ns" addr add "${HA_RS[$n]}/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via $GW
	done
	veth "$NS_L1" sync "$NS_L2" sync || return 1
	ip -n "$NS_L1" addr add 198.18.2.1/30 dev sync
	ip -n "$NS_L2" addr add 198.18.2.2/30 dev sync
	ip -n "$NS_L1" link set sync up
	ip -n "$NS_L2" link set sync up
}

# garp NS DEV ADDR [DEV ADDR]...: three gratuitous ARPs for each address,
# as keepalived sends on takeover.
garp() {
	local ns=$1
	shift
	ip netns exec "$ns" "$PYTHON" - "$@" <<'EOF'
import socket, struct, sys, time
pkts = []
for dev, ip in zip(sys.argv[1::2], sys.argv[2::2]):
    mac = bytes.fromhex(open("/sys/class/net/%s/address" % dev).read().strip().replace(":", ""))
    a = socket.inet_aton(ip)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    pkts.append((s, b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
                 + mac + a + b"\x00" * 6 + a))
for _ in range(3):
    for s, pkt in pkts:
        s.send(pkt)
    time.sleep(0.05)
EOF
}

# own NODE: NODE takes the VIP and the real servers' gateway.
own() {
	local ns=exlbha-$1-$EXLB_SFX
	ip -n "$ns" addr add $VIP/32 dev front || return 1
	ip -n "$ns" addr add $GW/32 dev back || return 1
	garp "$ns" front $VIP back $GW
}

# conntrackd's configuration for NODE (lb1 or lb2), peer PEER_ADDR.
ctd_conf() {
	local node=$1 self=$2 peer=$3
	mkdir -p "$T/$node"
	cat >"$T/$node/conntrackd.conf" <<EOF
Sync {
	Mode FTFW {
		DisableExternalCache Off
		CommitTimeout 1800
		PurgeTimeout 5
	}
	UDP {
		IPv4_address $self
		IPv4_Destination_Address $peer
		Port 3780
		Interface sync
		SndSocketBuffer 1249280
		RcvSocketBuffer 1249280
		Checksum on
	}
}
General {
	HashSize 8192
	HashLimit 65536
	LogFile $T/$node/conntrackd.log
	Syslog off
	LockFile $T/$node/conntrackd.lock
	UNIX {
		Path $T/$node/conntrackd.ctl
	}
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
	Filter From Userspace {
		Protocol Accept {
			TCP
		}
		Address Ignore {
			IPv4_address 127.0.0.1
			IPv4_address 198.18.2.0/30
		}
		State Accept {
			ESTABLISHED CLOSED TIME_WAIT CLOSE_WAIT for TCP
		}
	}
}
EOF
}

# The same service on NODE's exlb.ko.
service() {
	local ns=exlbha-$1-$EXLB_SFX i
	ip netns exec "$ns" "$EXLBADM" vs add $VS Schedule=rr Persist=src PersistTimeout=300 || return 1
	for i in 1 2; do
		ip netns exec "$ns" "$EXLBADM" rs add $VS "${HA_RS[$i]}:8080" || return 1
	done
}

# The client (held_client.py): an IMAP-like held connection (a line every
# 0.2 s) and a bulk transfer (64 KiB echoed at a time, at most 100 a second:
# the VM is slow) from C_MAIN to the VIP's port, until $T/stop exists or 150 s
# passed; $T/client.json says what each saw.

# one_conn SRC: one connection to the VIP from SRC; prints the RS's name.
one_conn() {
	ip netns exec "$NS_C" "$PYTHON" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10,
                             source_address=(sys.argv[3], 0))
print(s.makefile("rb").readline().split()[0].decode())
s.close()' $VIP $PORT "$1"
}

cj() { jq -r "$@" "$T/client.json" 2>/dev/null; }
# both connections greeted and echoed at least once
client_up() { [[ $(cj '[.held.n, .bulk.n] | map(. // 0 | select(. > 0)) | length') == 2 ]]; }
# entries for the VIP's port in lb2's external cache
ext_count() { ctd lb2 -e 2>/dev/null | grep -c "dport=$PORT "; }
ext_has_both() { [[ $(ext_count) -ge 2 ]]; }
# echoes of CONN after time T0
after() { cj --argjson t0 "$2" "[.$1.times[] | select(. > \$t0)] | length"; }
flowing_again() { (($(after held "$T0") >= 5 && $(after bulk "$T0") >= 3)); }

t_pair_up() {
	local n
	topo || fail "topology setup failed" || return 1
	for n in 1 2; do
		ip netns exec "exlbha-rs$n-$EXLB_SFX" "$PYTHON" -c "$ECHO_SERVER_PY" "rs$n" 8080 \
			>"$T/rs$n.log" 2>&1 </dev/null &
		echo $! >"$T/rs$n.pid"
	done
	service lb1 || fail "exlbadm on lb1 failed" || return 1
	service lb2 || fail "exlbadm on lb2 failed" || return 1
	ctd_conf lb1 198.18.2.1 198.18.2.2
	ctd_conf lb2 198.18.2.2 198.18.2.1
	for n in lb1 lb2; do
		ctd "$n" >"$T/$n/stdout" 2>&1 </dev/null &
		echo $! >"$T/ctd-$n.pid"
	done
	wait_for 20 ctd lb1 -s >/dev/null || fail "conntrackd on lb1 does not answer: $(cat "$T/lb1/stdout" "$T/lb1/conntrackd.log")" || return 1
	wait_for 20 ctd lb2 -s >/dev/null || fail "conntrackd on lb2 does not answer: $(cat "$T/lb2/stdout" "$T/lb2/conntrackd.log")" || return 1
	own lb1 || fail "lb1 could not take the VIP" || return 1
	wait_for 20 grep -q listening "$T/rs1.log" "$T/rs2.log" || fail "echo servers did not start" || return 1
	diag "conntrackd runs on lb1 and lb2; lb1 owns $VIP and $GW"
}

t_held_on_lb1() {
	local other flows
	other=$(one_conn $C_OTHER) || fail "no answer through lb1 from $C_OTHER" || return 1
	expect_eq "$other" rs1 "the throw-away connection's RS (rr's first)" || return 1
	ip netns exec "$NS_C" "$PYTHON" "$SELFTEST_DIR/held_client.py" $VIP $C_MAIN "$T" 150 \
		held:$PORT:16:0.2 bulk:$PORT:65536:0.01 \
		>"$T/client.log" 2>&1 </dev/null &
	echo $! >"$T/client.pid"
	wait_for 30 client_up || fail "client: $(cat "$T/client.log" "$T/client.json" 2>/dev/null)" || return 1
	expect_eq "$(cj .held.rs) $(cj .bulk.rs)" "rs2 rs2" "RS of the held connection and the transfer" || return 1
	flows=$(a1 -j flows $VS | jq -c '[.[] | select(.client == "'$C_MAIN'")] | length')
	expect_eq "$flows" 2 "lb1's flows of $C_MAIN" || return 1
	wait_for 20 ext_has_both
	expect_range "$(ext_count)" 2 3 "entries for :$PORT in lb2's external cache" || return 1
	diag "held: $(cj .held.n) echoes, bulk: $(cj .bulk.bytes) bytes so far"
}

# gap_ms CONN: the longest silence (ms) of CONN from 1 s before T0 on.
gap_ms() {
	cj --argjson t0 "$T0" "[.$1.times[] | select(. > \$t0 - 1)] |
		[range(1; length) as \$i | .[\$i] - .[\$i - 1]] | max // 0 | . * 1000 | floor"
}

t_takeover() {
	local t_commit t_owned ms_held ms_bulk
	ip -n "$NS_L1" link set front down
	ip -n "$NS_L1" link set back down
	ip -n "$NS_L1" link set sync down
	T0=$(now)
	# primary-backup.sh "primary": commit the external cache (before the
	# addresses answer: see docs/ha.md), flush both caches, resync with
	# the kernel, send a bulk update to the peer
	ctd lb2 -c >"$T/commit.out" 2>&1 || fail "conntrackd -c: $(cat "$T/commit.out")" || return 1
	t_commit=$(now)
	own lb2 || fail "lb2 could not take the VIP" || return 1
	t_owned=$(now)
	ctd lb2 -f >/dev/null 2>&1
	ctd lb2 -R >/dev/null 2>&1
	ctd lb2 -B >/dev/null 2>&1
	diag "lb1 cut off; lb2 committed after $(ms_between "$T0" "$t_commit") ms, owned the addresses (gratuitous ARPs sent) after $(ms_between "$T0" "$t_owned") ms"
	diag "lb2's conntrack: $(ip netns exec "$NS_L2" conntrack -L -p tcp --dport $PORT 2>/dev/null | tr '\n' ';')"
	wait_for $((TAKEOVER_MAX_S + 5)) flowing_again
	diag "client: held err=$(cj .held.err) n=$(cj .held.n), bulk err=$(cj .bulk.err) bytes=$(cj .bulk.bytes)"
	expect_eq "$(cj .held.err) $(cj .bulk.err)" "null null" "the connections' errors (none: no RST, no EOF)" || return 1
	flowing_again || fail "fewer than 5 echoes on the held connection or 3 on the transfer after the takeover" || return 1
	# the outage: the longest silence of each connection around the cut
	ms_held=$(gap_ms held)
	ms_bulk=$(gap_ms bulk)
	diag "takeover time (longest silence across lb1's cut): held connection ${ms_held} ms, bulk transfer ${ms_bulk} ms"
	expect_range "$ms_held" 0 $((TAKEOVER_MAX_S * 1000)) "ms until the held connection answered through lb2" || return 1
	expect_range "$ms_bulk" 0 $((TAKEOVER_MAX_S * 1000)) "ms until the transfer moved again through lb2" || return 1
}

t_adopted_on_lb2() {
	local g flows vs newrs
	g=$(a2 -j get)
	diag "lb2 globals: $g"
	expect_eq "$(jq -r '"\(.adopted) \(.adoptreset)"' <<<"$g")" "2 0" "lb2's adopted and adoptreset" || return 1
	flows=$(a2 -j flows $VS | jq -c '[.[] | select(.client == "'$C_MAIN'") | {real, adopted, state}]')
	diag "lb2's flows of $C_MAIN: $flows"
	expect_eq "$(jq -r 'map("\(.real) \(.adopted) \(.state)") | join(",")' <<<"$flows")" \
		"${HA_RS[2]} true ESTABLISHED,${HA_RS[2]} true ESTABLISHED" "lb2's flows: on rs2, adopted, established" || return 1
	vs=$(a2 -j vs show $VS | jq -c 'if type == "array" then .[0] else . end')
	expect_eq "$(jq -r '[.reals[] | "\(.addr)=\(.active_conns)/\(.inactive_conns)"] | join(" ")' <<<"$vs")" \
		"${HA_RS[1]}=0/0 ${HA_RS[2]}=2/0" "lb2's active/inactive connections per RS" || return 1
	# $C_MAIN's (adopted) and $C_OTHER's (synced before the cut)
	expect_eq "$(jq -r .persist_records <<<"$vs")" 2 "lb2's persistence records" || return 1
	newrs=$(one_conn $C_MAIN) || fail "no new connection through lb2" || return 1
	expect_eq "$newrs" rs2 "a new connection from $C_MAIN through lb2 (persistence)" || return 1
}

# records as "KEY REAL" lines, sorted
records() { "$@" -j persist list $VS | jq -r '.[] | "\(.key) \(.real)"' | sort; }

# refused WHAT ERRNO-TEXT MESSAGE-TEXT ARGS...: exlbadm persist set ARGS on
# lb2 fails with that errno and extack text, and lb2's records do not change
refused() {
	local what=$1 want_errno=$2 want_msg=$3 before after out rc
	shift 3
	before=$(records a2)
	out=$(a2 persist set "$@" 2>&1)
	rc=$?
	after=$(records a2)
	diag "SET_PERSIST $what: exit $rc: $out"
	[[ $rc != 0 && $out == *"$want_errno"* && $out == *"$want_msg"* && $before == "$after" ]] ||
		fail "SET_PERSIST $what: want a refusal with '$want_errno' and '$want_msg', nothing changed (got exit $rc: $out)"
}

t_persist_sync() {
	local r1 r2 key real timeout zero=000000000000000000000000
	r1=$(a1 -j persist list $VS) || fail "GET_PERSIST on lb1 failed" || return 1
	diag "lb1's records: $r1"
	expect_eq "$(jq -r 'map("\(.client) \(.real) \(.conns)") | sort | join(",")' <<<"$r1")" \
		"$C_MAIN ${HA_RS[2]}:8080 2,$C_OTHER ${HA_RS[1]}:8080 0" \
		"lb1's records: client, RS, open flows" || return 1
	# what exlbd's persistence sync does with each record
	while read -r key real timeout; do
		a2 persist set $VS "$real" "$key" "$timeout" ||
			fail "SET_PERSIST of $key -> $real on lb2 failed" || return 1
	done < <(jq -r '.[] | "\(.key) \(.real) \(.timeout)"' <<<"$r1")
	r2=$(a2 -j persist list $VS)
	diag "lb2's records: $r2"
	expect_eq "$(records a2 | tr '\n' ,)" "$(records a1 | tr '\n' ,)" "lb2's records (key, RS) = lb1's" || return 1
	expect_eq "$(jq -r 'map(.conns) | add' <<<"$r2")" 0 "open flows holding lb2's records" || return 1
	expect_range "$(jq -r 'map(.timeout) | max' <<<"$r2")" 1 300 "seconds left of lb2's records (PersistTimeout 300)" || return 1

	# malformed or unplaceable requests: refused, nothing changed
	key=c6120003$zero
	refused "a 15-byte key" "Numerical result out of range" "binary attribute size out of range" $VS "${HA_RS[1]}:8080" "${key:0:30}" 60 || return 1
	refused "a key with bits past the /32 of an IPv4 service" "Invalid argument" "not a client key" \
		$VS "${HA_RS[1]}:8080" c612000301${zero:2} 60 || return 1
	refused "timeout 0" "Numerical result out of range" "integer out of range" $VS "${HA_RS[1]}:8080" $key 0 || return 1
	refused "an unknown service" "No such file or directory" "no service" \
		198.18.0.99:$PORT "${HA_RS[1]}:8080" $key 60 || return 1
	refused "a real server not in the service" "No such file or directory" "no such real server" \
		$VS 198.18.1.13:8080 $key 60 || return 1
	a2 rs disable $VS "${HA_RS[1]}:8080" || fail "rs disable on lb2 failed" || return 1
	refused "a disabled real server" "Invalid argument" "takes no new connections" \
		$VS "${HA_RS[1]}:8080" $key 60 || return 1
	a2 rs enable $VS "${HA_RS[1]}:8080" || fail "rs enable on lb2 failed" || return 1
	a2 vs add $VIP:144 Schedule=rr || fail "vs add $VIP:144 on lb2 failed" || return 1
	a2 rs add $VIP:144 "${HA_RS[1]}:8080" || fail "rs add on lb2 failed" || return 1
	refused "a service without persistence" "Invalid argument" "no source persistence" \
		$VIP:144 "${HA_RS[1]}:8080" $key 60 || return 1
	a2 vs del $VIP:144 || fail "vs del $VIP:144 on lb2 failed" || return 1
}

t_synced_record_on_lb2() {
	local third other
	third=$(one_conn $C_THIRD) || fail "no answer through lb2 from $C_THIRD" || return 1
	expect_eq "$third" rs1 "a new client's RS on lb2 (rr's first pick; no record)" || return 1
	other=$(one_conn $C_OTHER) || fail "no answer through lb2 from $C_OTHER" || return 1
	expect_eq "$other" rs1 "$C_OTHER through lb2: its synced record (rr alone: rs2)" || return 1
}

t_reset_adopted() {
	local t_down ms
	a2 set droponfail 1 || fail "exlbadm set droponfail on lb2 failed" || return 1
	t_down=$(now)
	a2 rs down $VS "${HA_RS[2]}:8080" || fail "exlbadm rs down on lb2 failed" || return 1
	wait_for 15 eval '[[ $(cj .held.err) != null && $(cj .bulk.err) != null ]]'
	diag "client's TCP counters: $(ip netns exec "$NS_C" nstat -az TcpExtTCPChallengeACK TcpEstabResets 2>/dev/null | awk 'NR > 1 { printf "%s=%s ", $1, $2 }')"
	expect_eq "$(cj .held.err) $(cj .bulk.err)" "reset reset" "the adopted connections after 'rs down' with droponfail" || return 1
	ms=$(ms_between "$t_down" "$(cj .held.end)")
	diag "held connection reset ${ms} ms after 'rs down' started"
	expect_eq "$(a2 -j flows $VS | jq -c '[.[] | select(.real == "'"${HA_RS[2]}"'")] | length')" 0 \
		"lb2's flows on rs2 after the reset" || return 1
}

t_kernel_log_clean() {
	local bad
	touch "$T/stop"
	bad=$(dmesg_bad "$DMESG_MARK")
	[[ -z $bad ]] || fail "kernel log: $bad" || return 1
	diag "no warning, oops or splat in the kernel log"
}

for t in "${TESTS[@]}"; do
	run_chained "$t"
done
ktap_end
((FAIL == 0)) || exit 1
exit 0
