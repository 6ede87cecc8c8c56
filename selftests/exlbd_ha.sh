#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The HA pair as an admin runs it (docs/ha.md): exlbd on each node,
# configured with exlbctl (hamode, partner, haif, mcast, the pair secret,
# hasyncport, tcpfailover), runs its own keepalived and conntrackd; exlb.ko
# (per namespace) serves the L4 VSs. Nothing is moved or driven by hand.
#
#   cl 198.18.0.2 (main), .3 (other), .4 (probe), .5 (probe 2)
#          |
#   [sw: br-lan] --- lb1 front 198.18.0.11     lb2 front 198.18.0.12
#          |         VIP 198.18.0.10 on the active node (keepalived, haif front)
#   ex1 198.18.0.21:8080, ex2 198.18.0.22:8080 (echo servers; they answer the VIP)
#   lb1 sync 198.18.2.1/30 ------ lb2 sync 198.18.2.2/30 (mcast: conntrackd's UDP)
#
# VSs (plain L4, kernel-served, rr, Persist=src): Imap VIP:143, Pop3
# VIP:110, both to ex1, ex2 :8080. Configured on lb1 only; lb2 takes them
# by configuration sync.
#
#   pair_up         topology, echo servers, both exlbds; lb1 active, lb2
#                   standby with lb1's VSs in its exlb.ko, conntrackd runs
#                   as each exlbd's child
#   config_sync     a VS added on lb1 is in lb2's exlb.ko within 2 s (time
#                   printed); a change on lb2 is refused naming lb1
#   held_on_lb1     an IMAP-like held connection (:143) and a running
#                   transfer (:110) from .2 through lb1 (both on ex2: .3
#                   took ex1 first); lb2's exlb.ko has the synced
#                   persistence records, lb2's conntrackd both entries
#   cut_lb1         lb1's links down: the VIP on lb2 within 3 s, takeover
#                   time (cut -> first new connection served) printed, the
#                   held flows carry on (lost: 0), adopted on ex2 by lb2's
#                   exlb.ko; new connections of .2 and .3 keep their RS
#   lb1_rejoins     lb1's links up: it takes lb2's configuration (a VS
#                   added on lb2 meanwhile) and, with haprefered 0, stays
#                   standby; the VIP only on lb2
#   held_on_lb2     new held connection and transfer from .2 through lb2
#                   (ex2, persistence); lb1's conntrackd has their entries
#   kill9_lb2       kill -9 of lb2's exlbd, keepalived and conntrackd at
#                   once: the same assertions as cut_lb1 with lb1 taking over
#   lb2_restarts    lb2's exlbd restarted: standby, the VIP it kept after
#                   the kill removed
#   split_brain_guard  the sync link cut, both nodes up: for 2 x hatimeout
#                   + 1 s exactly one node (lb1) owns the VIP and is active;
#                   configuration sync (over haif) still reaches lb2
#   kernel_log_clean  no warning or oops in the kernel log
#
# KTAP on stdout, last line "N passed, N failed[, N skipped]". Exit 0 all
# passed, 1 a failure, 4 skipped (not root, no exlb module, a tool missing).
# EXLBD, EXLBCTL, EXLBADM name the binaries (default userspace/build/...).

# shellcheck disable=SC2317 # the t_* functions are called by run_chained
SELF=$(readlink -f "${BASH_SOURCE[0]}")
EXLB_SFX=${EXLB_SFX:-hd$$}
# shellcheck disable=SC2034 # read by fail() in lib.sh
EXLB_CHAINED=1
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"
EXLBD=${EXLBD:-$REPO/userspace/build/exlbd}
EXLBCTL=${EXLBCTL:-$REPO/userspace/build/exlbctl}

NS_SW=exlbhd-sw-$EXLB_SFX
NS_C=exlbhd-cl-$EXLB_SFX
NS_EX1=exlbhd-ex1-$EXLB_SFX
NS_EX2=exlbhd-ex2-$EXLB_SFX
declare -A NSL=([1]=exlbhd-lb1-$EXLB_SFX [2]=exlbhd-lb2-$EXLB_SFX)
HD_NS="$NS_SW $NS_C $NS_EX1 $NS_EX2 ${NSL[1]} ${NSL[2]}"

VIP=198.18.0.10
C_MAIN=198.18.0.2
C_OTHER=198.18.0.3
C_PROBE=198.18.0.4
C_PROBE2=198.18.0.5
declare -A FRONT=([1]=198.18.0.11 [2]=198.18.0.12) SYNCIP=([1]=198.18.2.1 [2]=198.18.2.2)
EX=("" 198.18.0.21 198.18.0.22)
SYNCPORT=7999
SECRET="exlbd-ha selftest pair secret"
VIP_MAX_MS=3000		# the issue's "VIP moves within 3 s" (hatimeout 3)
# cut -> first new connection served: the VIP's move plus the client's
# next attempt (0.3 s apart) under TCG
TAKEOVER_MAX_MS=6000
SYNC_MAX_MS=2000	# a change on the active node live on the standby

TESTS=(pair_up config_sync held_on_lb1 cut_lb1 lb1_rejoins held_on_lb2 kill9_lb2
	lb2_restarts split_brain_guard kernel_log_clean)

echo "TAP version 13"
echo "1..${#TESTS[@]}"

need_root
need_built "$EXLBD" "$EXLBCTL" "$EXLBADM" "$PYTHON"
need_tools ip jq timeout keepalived conntrackd conntrack nft dmesg
need_exlb
need_ctnetlink
suite_ready "${TESTS[@]}"

T=$(mktemp -d /tmp/exlbd-ha.XXXXXX)
chmod 755 "$T"
DMESG_MARK=$(dmesg_mark)
declare -A PID=()

# kill_ha N SIGNAL: lb N's keepalived (the VRRP child first: killed after
# its parent, it could still send its goodbye) and conntrackd
kill_ha() {
	local f p
	for f in "$T/lb$1/keepalived-vrrp.pid" "$T/lb$1/keepalived.pid" "$T/lb$1/conntrackd.pid"; do
		p=$(cat "$f" 2>/dev/null) && [[ -n $p ]] && kill "-$2" "$p" 2>/dev/null
	done
}

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local n f ns
	touch "$T/stop" "$T/run1/stop" "$T/run2/stop" 2>/dev/null
	for n in 1 2; do
		[[ -n ${PID[$n]:-} ]] && kill -TERM "${PID[$n]}" 2>/dev/null && wait "${PID[$n]}" 2>/dev/null
		kill_ha $n KILL
	done
	for f in "$T"/*.pid; do
		[[ -f $f ]] && kill "$(<"$f")" 2>/dev/null
	done
	sleep 0.2
	for ns in $HD_NS; do
		[[ -e /run/netns/$ns ]] && ip netns del "$ns" 2>/dev/null
	done
	if [[ -n ${EXLB_KEEP:-} ]]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { printf '%s' "$EPOCHREALTIME"; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
ctl() { local n=$1; shift; "$EXLBCTL" -s "$T/lb$n/exlbd.sock" "$@"; }
adm_of() { local n=$1; shift; ip netns exec "${NSL[$n]}" "$EXLBADM" "$@"; }
ha_of() { ctl "$1" -j status 2>/dev/null | jq -r ".ha.$2"; }
role() { ha_of "$1" role; }
is_role() { [[ $(role "$1") == "$2" ]]; }
has_vip() { ip -n "${NSL[$1]}" -4 addr show dev front | grep -q "inet $VIP/"; }
mac_of() { ip -n "${NSL[$1]}" -j link show front | jq -r '.[0].address'; }
ctd() { local n=$1; shift; ip netns exec "${NSL[$n]}" conntrackd -C "$T/lb$n/conntrackd.conf" "$@"; }

# cfg N ARGS...: a set-up step on lb N; its failure is shown
cfg() {
	local out
	out=$(ctl "$@" 2>&1) && return 0
	fail "exlbctl (lb$1) ${*:2}: $out"
}

topo() {
	local ns n
	for ns in $HD_NS; do
		ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
	done
	ip -n "$NS_SW" link add br-lan type bridge && ip -n "$NS_SW" link set br-lan up || return 1
	# plug NS DEV SW-DEV ADDR...
	plug() {
		local ns=$1 dev=$2 sw=$3 a
		shift 3
		ip -n "$ns" link add "$dev" type veth peer name "$sw" netns "$NS_SW" &&
		ip -n "$NS_SW" link set "$sw" master br-lan up || return 1
		for a in "$@"; do ip -n "$ns" addr add "$a/24" dev "$dev" || return 1; done
		ip -n "$ns" link set "$dev" up
	}
	plug "$NS_C" eth0 sw-cl $C_MAIN $C_OTHER $C_PROBE $C_PROBE2 || return 1
	plug "$NS_EX1" eth0 sw-ex1 "${EX[1]}" || return 1
	plug "$NS_EX2" eth0 sw-ex2 "${EX[2]}" || return 1
	for n in 1 2; do
		plug "${NSL[$n]}" front sw-lb$n "${FRONT[$n]}" || return 1
		# forwarding back out of the interface it came in: no redirects
		ip netns exec "${NSL[$n]}" sysctl -qw net.ipv4.ip_forward=1 \
			net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.front.send_redirects=0 || return 1
	done
	ip -n "${NSL[1]}" link add sync type veth peer name sync netns "${NSL[2]}" || return 1
	for n in 1 2; do
		ip -n "${NSL[$n]}" addr add "${SYNCIP[$n]}/30" dev sync &&
		ip -n "${NSL[$n]}" link set sync up || return 1
	done
}

exlbd_start() {	# N
	local n=$1
	mkdir -p "$T/lb$n"
	ip netns exec "${NSL[$n]}" "$EXLBD" --state-dir "$T/lb$n/state" --socket "$T/lb$n/exlbd.sock" \
		>>"$T/lb$n/exlbd.log" 2>&1 </dev/null &
	PID[$n]=$!
	wait_for 20 ctl $n get RetryInterval >/dev/null 2>&1 ||
		fail "exlbd lb$n does not answer: $(tail -n 20 "$T/lb$n/exlbd.log")"
}

# The client (held_client.py): an IMAP-like held connection to :143 (a
# 16-byte line every 0.2 s) and a transfer to :110 (4 KiB lines echoed, 50 a
# second at most: the VM is slow and keepalived must keep its timing) from
# C_MAIN, until DIR/stop exists or 300 s passed; DIR/client.json says what
# each saw.

# The prober: waits for DIR/go (the cut's time in it), then tries a new
# connection from SRC to VIP:143 every 0.3 s (each attempt 0.3 s at most)
# until one is served (the RS's greeting read) by the node whose MAC the
# client's neighbour entry for the VIP then names (the new node: after
# kill -9 of a node's processes its exlb.ko still forwards, and the VIP
# keepalived could not remove is still there, until the other node's
# gratuitous ARPs move the client), 30 s at most; DIR/probe.json: the time,
# the RS, the attempts, the ones served by the old node meanwhile.
cat >"$T/probe.py" <<'EOF'
import json, os, socket, sys, time
vip, src, tdir, mac = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].lower()
def vip_mac():
    for line in open("/proc/net/arp").read().splitlines()[1:]:
        f = line.split()
        if f[0] == vip and int(f[2], 16) & 2:
            return f[3].lower()
while not os.path.exists(tdir + "/go"):
    time.sleep(0.01)
res = {"ok": False, "attempts": 0, "old_node": 0}
end = time.time() + 30
while time.time() < end:
    res["attempts"] += 1
    t = time.time()
    s = socket.socket()
    s.settimeout(0.3)
    try:
        s.bind((src, 0))
        s.connect((vip, 143))
        s.settimeout(2)
        rs = s.makefile("rb").readline().split()[0].decode()
        if vip_mac() == mac:
            res.update(ok=True, t=time.time(), rs=rs)
            break
        res["old_node"] += 1
    except OSError:
        pass
    finally:
        s.close()
    time.sleep(max(0, 0.3 - (time.time() - t)))
json.dump(res, open(tdir + "/probe.json.tmp", "w"))
os.rename(tdir + "/probe.json.tmp", tdir + "/probe.json")
EOF

# one_conn SRC PORT: one connection to VIP:PORT from SRC; prints the RS's name
one_conn() {
	ip netns exec "$NS_C" "$PYTHON" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10,
                             source_address=(sys.argv[3], 0))
print(s.makefile("rb").readline().split()[0].decode())
s.close()' $VIP "$2" "$1"
}

# RUN: the directory of the current failover run (run1, run2)
cj() { jq -r "$@" "$T/$RUN/client.json" 2>/dev/null; }
client_up() { [[ $(cj '[.held.n, .bulk.n] | map(. // 0 | select(. > 0)) | length') == 2 ]]; }
after() { cj --argjson t0 "$2" "[.$1.times[] | select(. > \$t0)] | length"; }
flowing_again() { (($(after held "$T0") >= 5 && $(after bulk "$T0") >= 3)); }
gap_ms() {
	cj --argjson t0 "$T0" "[.$1.times[] | select(. > \$t0 - 1)] |
		[range(1; length) as \$i | .[\$i] - .[\$i - 1]] | max // 0 | . * 1000 | floor"
}

# start_run RUN: the client from C_MAIN and a waiting prober from SRC
start_client() {
	mkdir -p "$T/$RUN"
	ip netns exec "$NS_C" "$PYTHON" "$SELFTEST_DIR/held_client.py" $VIP $C_MAIN "$T/$RUN" 300 \
		held:143:16:0.2 bulk:110:4096:0.02 \
		>"$T/$RUN/client.log" 2>&1 </dev/null &
	echo $! >"$T/client-$RUN.pid"
	wait_for 30 client_up || fail "client: $(cat "$T/$RUN/client.log" "$T/$RUN/client.json" 2>/dev/null)"
}

# in_ext N PORT: lb N's conntrackd has the client's connection from PORT
# in its external cache
in_ext() { ctd "$1" -e 2>/dev/null | grep -q "src=$C_MAIN dst=$VIP sport=$2 "; }
# persist_on N VS CLIENT RS: lb N's exlb.ko has CLIENT's record on RS
persist_on() {
	adm_of "$1" -j persist list "$2" 2>/dev/null |
		jq -e --arg c "$3" --arg r "$4:8080" 'map(select(.client == $c and .real == $r)) | length == 1' >/dev/null
}

# synced_to N: before a failover to lb N, it holds what it needs: both
# connections in its conntrackd's external cache, the persistence records
synced_to() {
	local n=$1 ok=0
	wait_for 20 in_ext "$n" "$(cj .held.port)" && wait_for 10 in_ext "$n" "$(cj .bulk.port)" ||
		{ diag "lb$n's external cache: $(ctd "$n" -e 2>&1 | tr '\n' ';')"; ok=1; }
	((ok == 0)) || fail "lb$n's conntrackd lacks the client's connections" || return 1
	diag "lb$n's conntrackd has both connections (ports $(cj .held.port), $(cj .bulk.port)) in its external cache"
	wait_for 10 persist_on "$n" $VIP:143 $C_MAIN "${EX[2]}" &&
		wait_for 5 persist_on "$n" $VIP:110 $C_MAIN "${EX[2]}" &&
		wait_for 5 persist_on "$n" $VIP:143 $C_OTHER "${EX[1]}" ||
		fail "lb$n's persistence records: $(adm_of "$n" -j persist list $VIP:143) $(adm_of "$n" -j persist list $VIP:110)" || return 1
	diag "lb$n's exlb.ko has the synced records: $C_MAIN on ex2 (:143, :110), $C_OTHER on ex1 (:143)"
}

# failover FROM TO: the common assertions once FROM is gone (T0 is the
# cut's time): the VIP on TO within VIP_MAX_MS, the first new connection
# served, the held flows carry on, adopted, persistence kept.
failover() {
	local from=$1 to=$2 vip_ms=-1 t p ms lost flows g
	while t=$(now); (($(ms_between "$T0" "$t") < 10000)); do
		has_vip "$to" && { vip_ms=$(ms_between "$T0" "$t"); break; }
		sleep 0.05
	done
	diag "the VIP on lb$to after $vip_ms ms (lb$to's role: $(role "$to"))"
	expect_range "$vip_ms" 0 $VIP_MAX_MS "ms from lb$from's loss to the VIP on lb$to" || return 1
	wait_for 35 test -f "$T/$RUN/probe.json"
	p=$(cat "$T/$RUN/probe.json" 2>/dev/null)
	[[ $(jq -r .ok <<<"$p") == true ]] || fail "no new connection served after the takeover: $p" || return 1
	ms=$(ms_between "$T0" "$(jq -r .t <<<"$p")")
	diag "takeover time (lb$from lost -> first new connection served by lb$to): $ms ms ($(jq -r .attempts <<<"$p") attempts, on $(jq -r .rs <<<"$p"); $(jq -r .old_node <<<"$p") served by lb$from's exlb.ko meanwhile)"
	expect_range "$ms" 0 $TAKEOVER_MAX_MS "ms until the first new connection was served" || return 1
	wait_for 30 flowing_again
	lost=$(cj '[.held.err, .bulk.err] | map(select(. != null)) | length')
	diag "held flows lost: $lost (held err=$(cj .held.err) n=$(cj .held.n) longest silence $(gap_ms held) ms; transfer err=$(cj .bulk.err) bytes=$(cj .bulk.bytes) longest silence $(gap_ms bulk) ms)"
	expect_eq "$lost" 0 "held flows lost (no RST, no EOF)" || return 1
	flowing_again || fail "fewer than 5 echoes on the held connection or 3 on the transfer after the takeover" || return 1
	flows=$(for v in 143 110; do adm_of "$to" -j flows $VIP:$v; done |
		jq -s -r --arg c $C_MAIN '[.[][] | select(.client == $c) | "\(.real) \(.adopted)"] | sort | join(",")')
	expect_eq "$flows" "${EX[2]} true,${EX[2]} true" "lb$to's flows of $C_MAIN: on ex2 (same RS), adopted" || return 1
	[[ $(ha_of "$to" conntrackd.hold) == false && $(ha_of "$to" conntrackd.commits) -ge 1 ]] ||
		fail "lb$to after the takeover: $(ha_of "$to" conntrackd)" || return 1
	diag "lb$to: conntrackd committed in $(ha_of "$to" conntrackd.commit_ms) ms (as exlbd measures it), takeover hold lifted"
	g=$(adm_of "$to" -j get)
	diag "lb$to: adopted $(jq -r .adopted <<<"$g"), adoptreset $(jq -r .adoptreset <<<"$g")"
	expect_eq "$(jq -r .adoptreset <<<"$g")" 0 "lb$to's adoptreset" || return 1
	expect_eq "$(one_conn $C_MAIN 143) $(one_conn $C_MAIN 110) $(one_conn $C_OTHER 143)" "ex2 ex2 ex1" \
		"new connections through lb$to: $C_MAIN :143, :110 (its RS ex2), $C_OTHER :143 (its RS ex1)" || return 1
}

# hold_ok: the takeover hold (docs/ha.md) is on the standby only: its
# nftables table there, and status says so on both
hold_ok() {
	local a s
	a=$(active_node)
	s=$((3 - a))
	wait_for 10 eval "[[ \$(ha_of $s conntrackd.hold) == true ]]" &&
		ip netns exec "${NSL[$s]}" nft list table inet exlb_ha_hold >/dev/null 2>&1 ||
		fail "no takeover hold on the standby lb$s: status $(ha_of $s conntrackd), $(grep -m1 'takeover hold' "$T/lb$s/exlbd.log")" || return 1
	[[ $(ha_of "$a" conntrackd.hold) == false ]] &&
		! ip netns exec "${NSL[$a]}" nft list table inet exlb_ha_hold >/dev/null 2>&1 ||
		fail "a takeover hold on the active node lb$a" || return 1
	diag "takeover hold on the standby lb$s only: $(ip netns exec "${NSL[$s]}" nft list table inet exlb_ha_hold | grep daddr | sed 's/^[[:space:]]*//')"
}
active_node() { if is_role 1 active; then echo 1; else echo 2; fi; }

# sole_owner N MS: for MS milliseconds, as often as the VM allows (0.2 s
# apart at most), whether the VIP is on lb N only; prints how many samples
# it was not (the details on stderr)
sole_owner() {
	local n=$1 i bad=0 t0=$EPOCHREALTIME end=$((${EPOCHREALTIME/./} + $2 * 1000))
	for ((i = 0; ${EPOCHREALTIME/./} < end; i++)); do
		if ! has_vip "$n" || has_vip $((3 - n)); then
			bad=$((bad + 1))
			diag "sample $i: VIP on lb1 $(has_vip 1 && echo yes || echo no), lb2 $(has_vip 2 && echo yes || echo no)" >&2
		fi
		sleep 0.2
	done
	diag "$i samples of the VIP's owner in $(ms_between "$t0" "$EPOCHREALTIME") ms" >&2
	echo "$bad"
}

# ------------------------------------------------------------------ tests

t_pair_up() {
	local n v
	topo || fail "topology setup failed" || return 1
	for n in 1 2; do
		ip netns exec "exlbhd-ex$n-$EXLB_SFX" "$PYTHON" -c "$ECHO_SERVER_PY" "ex$n" 8080 \
			>"$T/ex$n.log" 2>&1 </dev/null &
		echo $! >"$T/ex$n.pid"
	done
	for n in 1 2; do exlbd_start $n || return 1; done
	for n in 1 2; do
		cfg $n set havhid 46 && cfg $n set hatimeout 3 && cfg $n set haprefered 0 &&
		cfg $n set haif front && cfg $n set partner "${FRONT[$((3 - n))]}" &&
		cfg $n set mcastpeer "${SYNCIP[$((3 - n))]}" && cfg $n set mcast sync || return 1
		printf '%s\n' "$SECRET" | ctl $n ha secret password-file - >/dev/null ||
			fail "exlbctl (lb$n) ha secret failed" || return 1
		cfg $n set hasyncport $SYNCPORT || return 1
	done
	# the VSs on lb1 only: lb2 takes them when it joins
	for v in Imap:143 Pop3:110; do
		cfg 1 vs add $VIP "${v#*:}" tcp nickname="${v%:*}" Schedule=rr Persist=src \
			PersistTimeout=300 CheckType=none || return 1
		cfg 1 rs add "${v%:*}" "${EX[1]}" port=8080 && cfg 1 rs add "${v%:*}" "${EX[2]}" port=8080 || return 1
	done
	cfg 1 set hamode 1 || return 1
	wait_for 20 is_role 1 active || fail "lb1 not active: $(role 1)" || return 1
	cfg 2 set hamode 2 || return 1
	wait_for 20 is_role 2 standby || fail "lb2 not standby: $(role 2)" || return 1
	diag "lb1 active, lb2 standby"
	for n in 1 2; do cfg $n set tcpfailover 1 || return 1; done
	for n in 1 2; do
		wait_for 15 eval "[[ \$(ha_of $n conntrackd.state) == running ]] && ctd $n -s >/dev/null 2>&1" ||
			fail "lb$n's conntrackd: $(ha_of $n conntrackd) $(tail -n 5 "$T/lb$n/conntrackd.log" 2>/dev/null)" || return 1
		ha_of $n conntrackd.pid >"$T/lb$n/conntrackd.pid"
	done
	diag "conntrackd runs as exlbd's child on both (pids $(cat "$T/lb1/conntrackd.pid") $(cat "$T/lb2/conntrackd.pid"))"
	j() { for v in 143 110; do adm_of 2 -j vs show $VIP:$v 2>/dev/null; done |
		jq -s -r '[.[] | if type == "array" then .[0] else . end | "\(.port):\(.reals | length)"] | join(" ")'; }
	wait_for 10 eval '[[ $(j) == "143:2 110:2" ]]' || fail "lb2's exlb.ko services: '$(j)'" || return 1
	diag "lb2's exlb.ko has lb1's VSs (port:reals): $(j)"
	has_vip 1 && ! has_vip 2 || fail "the VIP on lb1 $(has_vip 1 && echo yes), lb2 $(has_vip 2 && echo yes)" || return 1
	hold_ok || return 1
	wait_for 20 grep -q listening "$T/ex1.log" "$T/ex2.log" || fail "echo servers did not start" || return 1
}

t_config_sync() {
	local t0 t1 t2 ms out rc before
	# live: in lb2's exlb.ko (exlbd programs it after committing the push);
	# one exlbadm per poll: under TCG a process start costs 0.1-0.5 s
	live() { adm_of 2 -j vs show $VIP:25 >/dev/null 2>&1; }
	t0=$(now)
	cfg 1 vs add $VIP 25 tcp nickname=Smtp Schedule=rr Persist=src CheckType=none || return 1
	t1=$(now)
	while ! live && (($(ms_between "$t1" "$(now)") < 5000)); do :; done
	t2=$(now)
	ms=$(ms_between "$t1" "$t2")
	live && ctl 2 vs show Smtp >/dev/null 2>&1 || fail "the VS added on lb1 is not on lb2 after $ms ms" || return 1
	diag "vs add on lb1 (the command took $(ms_between "$t0" "$t1") ms): live in lb2's exlb.ko $ms ms after it returned ($(ms_between "$t0" "$t2") ms after it started)"
	expect_range "$ms" 0 $SYNC_MAX_MS "ms from the change on the active node to the standby's exlb.ko" || return 1
	before=$(md5sum <"$T/lb2/state/config.json")
	out=$(ctl 2 vs add $VIP 26 tcp nickname=Local CheckType=none 2>&1)
	rc=$?
	diag "vs add on lb2: exit $rc: $out"
	[[ $rc != 0 && $out == *"HA standby"*"active node ${FRONT[1]}"* ]] ||
		fail "a change on the standby: want a refusal naming ${FRONT[1]}" || return 1
	expect_eq "$(md5sum <"$T/lb2/state/config.json")" "$before" "lb2's configuration after the refused change" || return 1
	! adm_of 2 -j vs show $VIP:26 >/dev/null 2>&1 || fail "VIP:26 in lb2's exlb.ko" || return 1
}

t_held_on_lb1() {
	local a b
	a=$(one_conn $C_OTHER 143) && b=$(one_conn $C_OTHER 110) || fail "no answer through lb1 from $C_OTHER" || return 1
	expect_eq "$a $b" "ex1 ex1" "$C_OTHER's RS on :143 and :110 (rr's first)" || return 1
	RUN=run1
	start_client || return 1
	expect_eq "$(cj .held.rs) $(cj .bulk.rs)" "ex2 ex2" "RS of the held connection and the transfer" || return 1
	expect_eq "$(adm_of 1 -j flows $VIP:143 | jq --arg c $C_MAIN '[.[] | select(.client == $c)] | length')" 1 \
		"lb1's flows of $C_MAIN on :143" || return 1
	synced_to 2 || return 1
	diag "held: $(cj .held.n) echoes, transfer: $(cj .bulk.bytes) bytes so far"
}

t_cut_lb1() {
	ip netns exec "$NS_C" "$PYTHON" "$T/probe.py" $VIP $C_PROBE "$T/$RUN" "$(mac_of 2)" >"$T/$RUN/probe.log" 2>&1 </dev/null &
	echo $! >"$T/probe-$RUN.pid"
	sleep 0.5	# the prober's python is up (it only waits for go)
	# the sync link first; the loss counts from before haif (VRRP, the
	# clients) goes down: the figures include that command's run time
	ip -n "${NSL[1]}" link set sync down
	T0=$(now)
	ip -n "${NSL[1]}" link set front down
	echo "$T0" >"$T/$RUN/go"
	failover 1 2 || return 1
	diag "lb1's role with its links down: $(role 1)"
}

t_lb1_rejoins() {
	local t0 bad
	# a change on the new active node while lb1 is away
	cfg 2 vs add $VIP 587 tcp nickname=Submission CheckType=none || return 1
	ip -n "${NSL[1]}" link set front up
	ip -n "${NSL[1]}" link set sync up
	wait_for 20 is_role 1 standby || fail "lb1 not standby after its links came back: $(role 1)" || return 1
	wait_for 10 ctl 1 vs show Submission >/dev/null 2>&1 ||
		fail "lb1 did not take lb2's configuration (no Submission)" || return 1
	diag "lb1 standby, took lb2's configuration (Submission there)"
	t0=$(now)
	ctl 1 -j status >/dev/null
	diag "exlbctl status on lb1 took $(ms_between "$t0" "$(now)") ms"
	# preemption off: lb1 (priority 150) does not take the VIP back; watched
	# for one hatimeout after it reported standby
	bad=$(sole_owner 2 3000)
	expect_eq "$bad" 0 "samples over 3 s where lb2 was not the only owner of the VIP" || return 1
	expect_eq "$(role 1) $(role 2)" "standby active" "roles of lb1 and lb2 after that" || return 1
	if ctl 1 vs del Submission >/dev/null 2>&1; then
		fail "lb1 (standby) accepted a change"
		return 1
	fi
	hold_ok
}

t_held_on_lb2() {
	touch "$T/run1/stop"
	wait_for 10 eval "! kill -0 $(cat "$T/client-run1.pid") 2>/dev/null"
	RUN=run2
	start_client || return 1
	expect_eq "$(cj .held.rs) $(cj .bulk.rs)" "ex2 ex2" "RS of the new held connection and transfer through lb2 (persistence)" || return 1
	synced_to 1 || return 1
}

t_kill9_lb2() {
	local pids
	ip netns exec "$NS_C" "$PYTHON" "$T/probe.py" $VIP $C_PROBE2 "$T/$RUN" "$(mac_of 1)" >"$T/$RUN/probe.log" 2>&1 </dev/null &
	echo $! >"$T/probe-$RUN.pid"
	ha_of 2 conntrackd.pid >"$T/lb2/conntrackd.pid"
	pids="$(cat "$T/lb2/keepalived-vrrp.pid" "$T/lb2/keepalived.pid" "$T/lb2/conntrackd.pid") ${PID[2]}"
	diag "lb2's keepalived (vrrp, parent), conntrackd, exlbd: $(echo $pids)"
	sleep 0.5
	# shellcheck disable=SC2086 # the pids
	kill -KILL $pids
	T0=$(now)
	echo "$T0" >"$T/$RUN/go"
	wait "${PID[2]}" 2>/dev/null
	PID[2]=
	failover 2 1 || return 1
	diag "lb2 after the kill: VIP $(has_vip 2 && echo kept || echo gone) (keepalived could not remove it)"
}

t_lb2_restarts() {
	exlbd_start 2 || return 1
	wait_for 20 is_role 2 standby || fail "restarted lb2 not standby: $(role 2)" || return 1
	wait_for 10 eval '! has_vip 2' || fail "restarted lb2 still holds the VIP" || return 1
	is_role 1 active && has_vip 1 || fail "lb1 lost the VIP when lb2 came back" || return 1
	wait_for 15 eval '[[ $(ha_of 2 conntrackd.state) == running ]]' ||
		fail "restarted lb2's conntrackd: $(ha_of 2 conntrackd)" || return 1
	diag "lb2 restarted: standby, no VIP, conntrackd $(ha_of 2 conntrackd.state); lb1 active with the VIP"
	expect_eq "$(cj .held.err) $(cj .bulk.err)" "null null" "the held connections through lb1 while lb2 restarted" || return 1
}

t_split_brain_guard() {
	local bad t0 ms
	# VRRP runs on haif (front), conntrackd on the sync link: cutting the
	# latter must not start a second VRRP master
	ip -n "${NSL[1]}" link set sync down
	ip netns exec "${NSL[2]}" ping -c1 -W1 "${SYNCIP[1]}" >/dev/null 2>&1 &&
		fail "the sync link still carries traffic" || true
	# 2 x hatimeout + 1 s: twice what lb2 would need to take over
	bad=$(sole_owner 1 7000)
	expect_eq "$bad" 0 "samples over 7 s with the sync link cut where lb1 was not the only owner of the VIP" || return 1
	expect_eq "$(role 1) $(role 2)" "active standby" "roles of lb1 and lb2 after that" || return 1
	# configuration sync runs over haif, not the sync link
	t0=$(now)
	cfg 1 vs add $VIP 993 tcp nickname=Imaps CheckType=none || return 1
	wait_for 5 ctl 2 vs show Imaps >/dev/null 2>&1 || fail "no configuration sync with the sync link cut" || return 1
	ms=$(ms_between "$t0" "$(now)")
	diag "configuration sync with the sync link cut: on lb2 after $ms ms"
	expect_eq "$(one_conn $C_MAIN 143)" ex2 "a new connection through lb1 during the cut" || return 1
	ip -n "${NSL[1]}" link set sync up
}

t_kernel_log_clean() {
	local bad
	touch "$T/$RUN/stop"
	bad=$(dmesg_bad "$DMESG_MARK")
	[[ -z $bad ]] || fail "kernel log: $bad" || return 1
	diag "no warning, oops or splat in the kernel log"
}

echo "# namespaces: $HD_NS; exlbd: $EXLBD; files: $T"
for t in "${TESTS[@]}"; do
	run_chained "$t"
done
((FAIL == 0)) || for n in 1 2; do
	echo "# ---- lb$n's exlbd.log (last 30 lines)"
	tail -n 30 "$T/lb$n/exlbd.log" 2>/dev/null | sed 's/^/# /'
done
ktap_end
((FAIL == 0)) || exit 1
exit 0
