#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# L4 connection sync of the HA pair (docs/ha.md "L4 connections across a
# failover"): exlbd runs conntrackd (tcpfailover 1) and commits its external
# cache on takeover before the VIPs answer. Two exlbd nodes with their
# keepalived and conntrackd in network namespaces; the host has conntrack
# and nf_nat but no exlb.ko, so nftables stands in for it (DNAT of the VIP
# to the real server on a SYN only, SNAT to the VIP, a non-SYN that
# conntrack sees as new dropped: what exlb.ko does for a service).
#
#   client 198.18.98.2 --+              +-- lb1 front 198.18.98.3 --+
#                        +-- sw: brf ---+                           +-- rs 198.18.98.11:8080 (echo)
#                                       +-- lb2 front 198.18.98.4 --+
#   VIP 198.18.98.10:143 on the active node (keepalived)
#   lb1 sync 198.18.99.1/30 ------ lb2 sync 198.18.99.2/30  (mcast sync, conntrackd's UDP)
#
# Asserted: tcpfailover 1 refused without HA mode; with it, each exlbd runs
# conntrackd as its child from the configuration it wrote (FTFW, UDP to
# mcastpeer on mcast, TCP filter, Address Ignore of loopback and the sync
# link); the standby holds the VIPs (nftables), the active node does not;
# status shows it. A held TCP connection through lb1 carries on through
# lb2 after lb1's links are cut: no reset, bytes exchanged after the
# takeover, the entry committed by lb2's exlbd (its log) before the hold was
# lifted. A killed conntrackd is restarted; tcpfailover 0 stops it.
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd,
# ../build/exlbctl), KEEP=1 keeps the temp dir. Needs root, iproute2,
# keepalived, conntrackd, conntrack, nft, python3, jq, the conntrack netlink
# module. TAP, the plan last.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"
# shellcheck source=lib/hapair.sh
source "$here/lib/hapair.sh"

hapair_require ip keepalived conntrackd conntrack nft nstat jq python3 timeout
# ctnetlink: a module on Debian's kernel, maybe built in elsewhere
modprobe -q nf_conntrack_netlink 2>/dev/null || conntrack -L >/dev/null 2>&1 ||
	skip "no ctnetlink (nf_conntrack_netlink) for conntrackd"

T=$(mktemp -d /tmp/exlb-hactd.XXXXXX)
chmod 755 "$T"
NET=198.18.98 SYNC=198.18.99
VIP=$NET.10 PORT=143 CL_IP=$NET.2 RS_IP=$NET.11 RS_PORT=8080
declare -A FRONT=([1]=$NET.3 [2]=$NET.4) SYNCIP=([1]=$SYNC.1 [2]=$SYNC.2) NS PID
NS[sw]=exlb-hc-sw-$$ NS[cl]=exlb-hc-cl-$$ NS[rs]=exlb-hc-rs-$$
NS[1]=exlb-hc-lb1-$$ NS[2]=exlb-hc-lb2-$$
BG=()

cleanup() {
	local p
	touch "$T/stop"
	hapair_stop 1
	hapair_stop 2
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	hapair_teardown cl rs sw 1 2
}
trap cleanup EXIT

# ---- the network

setup_net() {
	local n
	hapair_netns sw cl rs 1 2 && hapair_bridge brf &&
	hapair_plug p-cl cl eth0 brf $CL_IP && hapair_plug p-rs rs eth0 brf $RS_IP &&
	hapair_plug p-lb1 1 front brf "${FRONT[1]}" &&
	hapair_plug p-lb2 2 front brf "${FRONT[2]}" || return 1
	ip -n "${NS[1]}" link add sync type veth peer name sync netns "${NS[2]}" || return 1
	for n in 1 2; do
		ip -n "${NS[$n]}" addr add "${SYNCIP[$n]}/30" dev sync &&
		ip -n "${NS[$n]}" link set sync up &&
		in_ns $n sysctl -qw net.ipv4.ip_forward=1 || return 1
		# exlb.ko's part, played by nftables: the service VIP:143 -> rs:8080
		in_ns $n nft -f - <<EOF || return 1
table ip exlb_standin {
	chain pre_filter {
		type filter hook prerouting priority -150; policy accept;
		ip daddr $VIP tcp dport $PORT ct state new tcp flags & (syn | ack) != syn drop
	}
	chain pre_nat {
		type nat hook prerouting priority -100; policy accept;
		ip daddr $VIP tcp dport $PORT dnat to $RS_IP:$RS_PORT
	}
	chain post_nat {
		type nat hook postrouting priority 100; policy accept;
		ip daddr $RS_IP tcp dport $RS_PORT ct status dnat snat to $VIP
	}
}
EOF
	done
}
setup_net
report $? "namespaces: client, rs, lb1, lb2 on $NET.0/24, sync link $SYNC.0/30, nftables in exlb.ko's place"
bad=$(hapair_default_routes sw cl rs 1 2)
[ -z "$bad" ]
report $? "no namespace has a default route${bad:+ (not:$bad)}"

# the real server: echoes every line
cat >"$T/rs.py" <<'PY'
import socket, sys, threading
def serve(c):
    f = c.makefile("rb")
    try:
        for line in f:
            c.sendall(line)
    except OSError:
        pass
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
# not through in_ns: $! must be python itself (ip netns exec execs), so
# that cleanup's kill reaches it
ip netns exec "${NS[rs]}" python3 "$T/rs.py" $RS_IP $RS_PORT >"$T/rs.log" 2>&1 &
BG+=($!)

# the client: one held connection, a 64-byte line every 50 ms, each echo's
# time noted, until $T/stop or 120 s; $T/client.json: echoes, bytes, times
# (at most 10 a second), the error that ended it
cat >"$T/client.py" <<'PY'
import json, os, socket, sys, time
vip, port, tdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
st = {"n": 0, "bytes": 0, "times": [], "err": None}
def dump():
    json.dump(st, open(tdir + "/client.json.tmp", "w"))
    os.rename(tdir + "/client.json.tmp", tdir + "/client.json")
s = socket.create_connection((vip, port), timeout=30)
st["port"] = s.getsockname()[1]
f = s.makefile("rb")
line = b"y" * 63 + b"\n"
end = time.time() + 120
last = 0
try:
    while time.time() < end and not os.path.exists(tdir + "/stop"):
        s.sendall(line)
        if f.readline() != line:
            raise EOFError()
        t = time.time()
        st["n"] += 1
        st["bytes"] += 2 * len(line)
        if t - last >= 0.1:
            st["times"].append(round(t, 3))
            last = t
            dump()
        time.sleep(0.05)
except ConnectionResetError:
    st["err"] = "reset"
except socket.timeout:
    st["err"] = "timeout"
except EOFError:
    st["err"] = "eof"
except OSError as e:
    st["err"] = str(e)
dump()
PY

# ---- two exlbd nodes

for n in 1 2; do
	hapair_start $n --no-health-checks
	wait_for 10 lb_ready $n
	report $? "exlbd lb$n answers on its control socket (after $WAITED s)"
done

state_sum() { cat "$T/lb$1/state/config.json" 2>/dev/null | md5sum; }
before=$(state_sum 1)
out=$(ctl_of 1 set tcpfailover 1 2>&1)
rc=$?
[ $rc != 0 ] && grep -q "needs hamode 1 or 2" <<<"$out" && [ "$(state_sum 1)" = "$before" ] &&
	[ "$(ctl_of 1 -j get tcpfailover | jq -r .tcpfailover)" = 0 ] && [ ! -e "$T/lb1/conntrackd.conf" ]
report $? "tcpfailover 1 without HA mode: refused, nothing changed (exit $rc: $out)"

for n in 1 2; do
	cfg_of $n vs add $VIP $PORT tcp nickname=Imap CheckType=none
	cfg_of $n set havhid 44
	cfg_of $n set hatimeout 3
	cfg_of $n set haprefered 0
	cfg_of $n set haif front
	cfg_of $n set mcastpeer "${SYNCIP[$((3 - n))]}"
	cfg_of $n set mcast sync
done
cfg_of 1 set partner "${FRONT[2]}"
cfg_of 2 set partner "${FRONT[1]}"
report "${cfg_bad:-0}" "both nodes: VS $VIP:$PORT, havhid 44, hatimeout 3, haif front, mcast sync, mcastpeer, partners"

ctd() { ctl_of "$1" -j status 2>/dev/null | jq -r ".ha.conntrackd.$2"; }
cfg_of 1 set hamode 1
wait_for 15 is_role 1 active
report $? "lb1 (hamode 1) becomes active after $WAITED s"
cfg_of 2 set hamode 2
wait_for 10 is_role 2 standby
report $? "lb2 (hamode 2) is standby after $WAITED s"
cfg_of 1 set tcpfailover 1
cfg_of 2 set tcpfailover 1
report "${cfg_bad:-0}" "tcpfailover 1 on both nodes"

running() { [ "$(ctd "$1" state)" = running ] && [ "$(ctd "$1" pid)" -gt 0 ]; }
ppid_of() { ps -o ppid= -p "$1" 2>/dev/null | tr -d ' '; }
for n in 1 2; do
	wait_for 5 running $n
	p=$(ctd $n pid)
	[ "$(ppid_of "$p")" = "${PID[$n]}" ] && [ "$(ps -o comm= -p "$p")" = conntrackd ]
	report $? "lb$n: conntrackd runs as exlbd's child (pid $p, parent $(ppid_of "$p"), exlbd ${PID[$n]})"
done
ctd_answers() { in_ns "$1" conntrackd -C "$T/lb$1/conntrackd.conf" -s >/dev/null 2>&1; }
wait_for 5 ctd_answers 1 && wait_for 5 ctd_answers 2
report $? "both conntrackds answer on their control sockets in exlbd's runtime directory"

conf=$T/lb1/conntrackd.conf
grep -q "Mode FTFW" "$conf" && grep -q "DisableExternalCache Off" "$conf" &&
	grep -q "IPv4_address $SYNC.1\$" "$conf" && grep -q "IPv4_Destination_Address $SYNC.2\$" "$conf" &&
	grep -q "Interface sync\$" "$conf" && grep -qx $'\t\t\tTCP' "$conf" &&
	grep -q "ESTABLISHED CLOSED TIME_WAIT CLOSE_WAIT for TCP" "$conf" &&
	grep -q "IPv4_address 127.0.0.1" "$conf" && ! grep -q "$VIP" "$conf"
report $? "lb1's conntrackd.conf: FTFW, UDP $SYNC.1 -> $SYNC.2 on sync, TCP filter, loopback and sync link ignored, not the VIP"

hold_of() { in_ns "$1" nft list table inet exlb_ha_hold 2>/dev/null; }
h2=$(hold_of 2)
grep "ip daddr" <<<"$h2" | grep -q "$VIP tcp flags != syn / syn,ack counter packets 0 .*drop" &&
	! hold_of 1 >/dev/null && [ "$(ctd 2 hold)" = true ] && [ "$(ctd 1 hold)" = false ]
report $? "the takeover hold: on the standby (lb2: $(grep "ip daddr" <<<"$h2" | sed 's/^[[:space:]]*//')), not on the active node"

# The window the hold closes: keepalived adds the VIP before it reports
# MASTER. With the VIP on lb2 (added by hand here, lb2 still standby), a
# real server's mid-stream segment to it (an ACK from rs:8080 to
# VIP:40001, routed to lb2) must be dropped before conntrack: counted by
# the hold, no RST sent by lb2, no entry in its table (without the hold
# the local stack answers it with a RST: TcpOutRsts goes up).
cat >"$T/ack.py" <<'PY'
import socket, struct, sys
src, dst, sport, dport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
tcp = struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000, 5 << 4, 0x10, 65535, 0, 0)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.bind((src, 0))
s.sendto(tcp, (dst, 0))
PY
held_count() { hold_of 2 | grep -o "counter packets [0-9]*" | awk '{ print $3 }'; }
# absolute, without touching nstat's history file (shared by namespaces)
out_rsts() { in_ns 2 nstat -asz TcpOutRsts 2>/dev/null | awk '$1 == "TcpOutRsts" { print $2 }'; }
rsts0=$(out_rsts)
probe_held() { [ "$(held_count)" -ge 1 ] 2>/dev/null; }
ip -n "${NS[2]}" addr add $VIP/32 dev front &&
	ip -n "${NS[rs]}" route add $VIP/32 via "${FRONT[2]}" &&
	in_ns rs python3 "$T/ack.py" $RS_IP $VIP $RS_PORT 40001
wait_for 3 probe_held
held=$(held_count)
rsts=$(( $(out_rsts) - rsts0 ))
probe_ct=$(in_ns 2 conntrack -L -p tcp --dport 40001 2>/dev/null)
ip -n "${NS[rs]}" route del $VIP/32 via "${FRONT[2]}"
ip -n "${NS[2]}" addr del $VIP/32 dev front
[ "${held:-0}" -ge 1 ] && [ "$rsts" = 0 ] && [ -z "$probe_ct" ]
report $? "the VIP on the standby before a commit: a real server's ACK to it is held (counter ${held:-none}), lb2 sent $rsts RST, no conntrack entry on lb2 (${probe_ct:-none})"
st=$(ctl_of 2 status 2>&1 | grep '^HA conntrackd')
grep -q "^HA conntrackd: running (pid [0-9]*), restarted 0 times, takeover hold on" <<<"$st"
report $? "exlbctl status on lb2: $st"

# ---- a held connection through lb1

wait_for 10 grep -q listening "$T/rs.log"
ip netns exec "${NS[cl]}" python3 "$T/client.py" $VIP $PORT "$T" >"$T/client.log" 2>&1 &
BG+=($!)
cj() { jq -r "$@" "$T/client.json" 2>/dev/null; }
echoes() { [ "$(cj .n)" -ge "$1" ] 2>/dev/null; }
wait_for 10 echoes 10
report $? "the client's held connection to $VIP:$PORT is served through lb1 ($(cj .n) echoes)"
cport=$(cj .port)
in_cache() { in_ns 2 conntrackd -C "$T/lb2/conntrackd.conf" -e 2>/dev/null | grep -q "sport=$cport dport=$PORT"; }
wait_for 10 in_cache
report $? "lb2's conntrackd holds the connection (port $cport) in its external cache after $WAITED s"
! in_ns 2 conntrack -L -p tcp --sport "$cport" 2>/dev/null | grep -q "sport=$cport"
report $? "lb2's kernel has no entry for it yet (the cache is outside the kernel)"

# ---- lb1 is cut off: lb2 takes over, the connection carries on

n_before=$(cj .n)
ip -n "${NS[1]}" link set front down
ip -n "${NS[1]}" link set sync down
t_cut=$EPOCHREALTIME
wait_for 10 is_role 2 active
report $? "lb1's links down: lb2 active after $WAITED s"
after_cut() { cj --argjson t "$t_cut" '[.times[] | select(. > $t)] | length'; }
resumed() { [ "$(after_cut)" -ge 10 ]; }
wait_for 20 resumed
gap=$(cj --argjson t "$t_cut" '[.times[] | select(. > $t)][0] // 0 | . - $t | . * 1000 | floor')
diag "the held connection's first echo after the cut: ${gap} ms (lb2 active, then the client's retransmission)"
[ "$(cj .err)" = null ] && resumed
report $? "the held connection carries on through lb2: no reset (err $(cj .err)), $(after_cut) echoes after the cut, $(( $(cj .n) - n_before )) in all"
entry=$(in_ns 2 conntrack -L -p tcp --sport "$cport" 2>/dev/null)
grep -q "src=$RS_IP dst=$VIP sport=$RS_PORT " <<<"$entry"
report $? "lb2's kernel has the committed entry with its NAT binding ($entry)"

log2=$T/lb2/exlbd.log
commit_line=$(grep -n "HA: takeover: conntrackd committed the external cache" "$log2" | tail -n 1 | cut -d: -f1)
lift_line=$(grep -n "HA: takeover hold lifted" "$log2" | tail -n 1 | cut -d: -f1)
[ -n "$commit_line" ] && [ -n "$lift_line" ] && [ "$commit_line" -lt "$lift_line" ]
report $? "lb2's exlbd committed the cache, then lifted the hold (log lines $commit_line < $lift_line: $(sed -n "${commit_line:-1}p" "$log2" | sed 's/.*HA: //'))"
[ "$(ctd 2 commits)" = 1 ] && [ "$(ctd 2 hold)" = false ] && ! hold_of 2 >/dev/null
report $? "lb2's status: $(ctd 2 commits) commit in $(ctd 2 commit_ms) ms, hold $(ctd 2 hold), no nft hold table"

# ---- a killed conntrackd is restarted

old=$(ctd 2 pid)
kill -KILL "$old"
restarted() { [ "$(ctd 2 restarts)" = 1 ] && running 2 && [ "$(ctd 2 pid)" != "$old" ] && ctd_answers 2; }
wait_for 8 restarted
report $? "kill -9 of lb2's conntrackd (pid $old): restarted by exlbd after $WAITED s (pid $(ctd 2 pid), restarts $(ctd 2 restarts))"
grep -q "HA: conntrackd killed by signal 9; restarting it" "$log2"
report $? "lb2's log says conntrackd was killed and is restarted"
ctl_of 2 status | grep -q "^HA conntrackd: running (pid [0-9]*), restarted 1 times, takeover hold off, last commit"
report $? "exlbctl status on lb2: $(ctl_of 2 status | grep '^HA conntrackd')"

# ---- tcpfailover 0 stops it

p=$(ctd 2 pid)
cfg_of 2 set tcpfailover 0
gone() { ! kill -0 "$p" 2>/dev/null; }
wait_for 5 gone && [ "$(ctd 2 state)" = off ] && [ ! -e "$T/lb2/conntrackd.conf" ] && ! hold_of 2 >/dev/null
report $? "tcpfailover 0 on lb2: conntrackd (pid $p) stopped, state $(ctd 2 state), its configuration removed"
! ctl_of 2 status | grep -q '^HA conntrackd'
report $? "exlbctl status on lb2 has no conntrackd line with tcpfailover 0"

touch "$T/stop"
for n in 1 2; do
	grep -q "ERROR: AddressSanitizer\|runtime error:" "$T/lb$n/exlbd.log" && diag "$(grep -m3 -A5 'Sanitizer\|runtime error' "$T/lb$n/exlbd.log")"
done
! grep -q "ERROR: AddressSanitizer\|runtime error:" "$T/lb1/exlbd.log" "$T/lb2/exlbd.log"
report $? "no sanitizer report in either exlbd's log"

[ "$TAP_FAILED" = 0 ] || diag "lb2 log:" "$(tail -n 40 "$T/lb2/exlbd.log")" "lb2 conntrackd.log:" "$(tail -n 20 "$T/lb2/conntrackd.log" 2>/dev/null)"
tap_end
