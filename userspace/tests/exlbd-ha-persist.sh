#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Persistence sync of the HA pair (docs/ha.md "Persistence sync"): the
# active node's L7 source-IP persistence records reach the standby, so a
# client keeps its real server across a failover.
#
#   clients A 198.18.112.2  --+              +-- lb1 front .112.3  back .113.3 --+
#           B 198.18.112.5    +-- sw: brf ---+                                   +-- sw: brb -- rs1 198.18.113.11
#           C 198.18.112.6  --+   (bridge)   +-- lb2 front .112.4  back .113.4 --+              rs2 198.18.113.12
#   VIP 198.18.112.10:80, L7 HTTP VS, Schedule=rr, Persist=src, on the active node
#
# lb1 active, lb2 standby, configuration and persistence synced (hasyncport
# with the pair secret). Through lb1, A gets rr's first pick and B the
# other server; each keeps its own (persistence). Once lb1's status shows
# both records confirmed and lb2's shows them installed, lb1's link goes
# down and lb2 takes over. Through lb2, B asks first: lb2's rr alone would
# give it its first pick -- A's server -- and A the other one; with the
# records each keeps its own. A new client C then gets lb2's rr first pick
# (measured: the scheduler alone, which B did not get). Without persistence
# sync the two "keeps its RS" checks fail (checked by hand, see the report
# of the change). Status shows the records sent and received.
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd,
# ../build/exlbctl), KEEP=1 keeps the temp dir. Needs root, iproute2,
# keepalived, curl, python3, jq. TAP, the plan last.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"
# shellcheck source=lib/hapair.sh
source "$here/lib/hapair.sh"

hapair_require ip keepalived curl jq python3 timeout

T=$(mktemp -d /tmp/exlb-hapersist.XXXXXX)
chmod 755 "$T"
NET=198.18.112 BACK=198.18.113 PORT=7998
VIP=$NET.10 RS1=$BACK.11 RS2=$BACK.12
declare -A FRONT=([1]=$NET.3 [2]=$NET.4) BACKIP=([1]=$BACK.3 [2]=$BACK.4)
declare -A CL=([A]=$NET.2 [B]=$NET.5 [C]=$NET.6)
declare -A NS PID
NS[cl]=exlb-hp-cl-$$ NS[sw]=exlb-hp-sw-$$ NS[rs]=exlb-hp-rs-$$
NS[1]=exlb-hp-lb1-$$ NS[2]=exlb-hp-lb2-$$
SECRET="pair secret of the persistence test"
RS_PID=

cleanup() {
	hapair_stop 1
	hapair_stop 2
	[ -n "$RS_PID" ] && kill "$RS_PID" 2>/dev/null
	hapair_teardown cl sw rs 1 2
}
trap cleanup EXIT

# ---- the network: a switch namespace with a front and a back bridge

setup_net() {
	local c
	hapair_front_back "${CL[A]}" $RS1 || return 1
	for c in B C; do ip -n "${NS[cl]}" addr add "${CL[$c]}/24" dev front || return 1; done
	ip -n "${NS[rs]}" addr add "$RS2/24" dev back
}
setup_net
report $? "namespaces: clients, switch, rs, lb1, lb2 on $NET.0/24 and $BACK.0/24"
bad=$(hapair_default_routes cl sw rs 1 2)
[ -z "$bad" ]
report $? "no namespace has a default route${bad:+ (not:$bad)}"

# the two real servers: each answers with its own name
cat >"$T/rs.py" <<'PY'
import http.server, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = (self.server.name + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
for name, addr in (("rs1", sys.argv[1]), ("rs2", sys.argv[2])):
    s = http.server.ThreadingHTTPServer((addr, 80), H)
    s.name = name
    threading.Thread(target=s.serve_forever, daemon=True).start()
threading.Event().wait()
PY
ip netns exec "${NS[rs]}" python3 "$T/rs.py" $RS1 $RS2 >"$T/rs.log" 2>&1 &
RS_PID=$!
rs_up() { in_ns 1 curl -s -m 1 "http://$RS1/" | grep -q rs1 && in_ns 1 curl -s -m 1 "http://$RS2/" | grep -q rs2; }
wait_for 10 rs_up
report $? "real servers rs1 $RS1:80 and rs2 $RS2:80 answer (after $WAITED s)"

# ---- the pair

for n in 1 2; do
	hapair_start $n --no-health-checks
	wait_for 10 lb_ready $n
	report $? "exlbd lb$n answers on its control socket (after $WAITED s)"
done
for n in 1 2; do
	cfg_of $n set havhid 44
	cfg_of $n set hatimeout 3
	cfg_of $n set haprefered 0
	cfg_of $n set haif front
	hapair_secret $n "$SECRET"
	cfg_of $n set hasyncport $PORT
done
cfg_of 1 set partner "${FRONT[2]}"
cfg_of 2 set partner "${FRONT[1]}"
# the service on lb1 only: configuration sync brings it to lb2
cfg_of 1 vs add $VIP 80 tcp nickname=Web VStype=http Schedule=rr CheckType=none \
	Persist=src PersistTimeout=600
cfg_of 1 rs add Web $RS1 port=80
cfg_of 1 rs add Web $RS2 port=80
report "${cfg_bad:-0}" "both nodes: havhid 44, hatimeout 3, haif front, partners, pair secret, hasyncport $PORT; VS Web on lb1"

cfg_of 1 set hamode 1
wait_for 20 is_role 1 active
report $? "lb1 (hamode 1) becomes active after $WAITED s ($(role 1))"
cfg_of 2 set hamode 2
wait_for 10 is_role 2 standby
report $? "lb2 (hamode 2) is standby after $WAITED s ($(role 2))"
web_synced() { ctl_of 2 -j rs show Web 2>/dev/null | jq -e 'length == 2' >/dev/null; }
wait_for 10 web_synced
report $? "lb2 took VS Web and its 2 real servers from lb1 after $WAITED s"

# served CLIENT: the server that answered client CLIENT's request (rs1, rs2)
served() { in_ns cl curl -s -m 1 --interface "${CL[$1]}" "http://$VIP/p" 2>/dev/null; }
through() {	# CLIENT N: the request went through lb N
	[ "$(served "$1")" != "" ] && has_vip "$2" front "$VIP"
}

got_a=$(served A)
got_b=$(served B)
[ -n "$got_a" ] && [ -n "$got_b" ] && [ "$got_a" != "$got_b" ] && has_vip 1 front $VIP
report $? "through lb1 (rr): A on '$got_a', B on '$got_b' (two servers)"
A_RS=$got_a B_RS=$got_b
seq_a= seq_b=
for i in 1 2 3; do seq_a+="$(served A) "; seq_b+="$(served B) "; done
[ "$seq_a" = "$A_RS $A_RS $A_RS " ] && [ "$seq_b" = "$B_RS $B_RS $B_RS " ]
report $? "through lb1, Persist=src: A keeps $A_RS ($seq_a), B keeps $B_RS ($seq_b)"

# positive evidence that both records crossed, before the failover
persist_of() { ctl_of "$1" -j status 2>/dev/null | jq -r ".ha.persist.$2 // empty"; }
crossed() { [ "$(persist_of 1 sent)" -ge 2 ] 2>/dev/null && [ "$(persist_of 2 installed)" -ge 2 ] 2>/dev/null; }
wait_for 5 crossed
report $? "records confirmed by lb2 after $WAITED s: lb1 sent $(persist_of 1 sent), lb2 received $(persist_of 2 received), installed $(persist_of 2 installed), dropped $(persist_of 2 dropped)"
st1=$(ctl_of 1 status 2>&1 | grep '^HA persistence sync:')
st2=$(ctl_of 2 status 2>&1 | grep '^HA persistence sync:')
grep -q 'records sent [1-9]' <<<"$st1" && grep -q 'received [1-9][0-9]* (installed [1-9]' <<<"$st2"
report $? "exlbctl status: lb1 '$st1'; lb2 '$st2'"

# ---- lb1's link is cut: lb2 takes over

ip -n "${NS[1]}" link set front down
t0=$EPOCHREALTIME
lb2_serves() { has_vip 2 front $VIP && is_role 2 active; }
wait_for 10 lb2_serves
report $? "lb1's link down: lb2 active with $VIP after $WAITED s"

# B first: lb2's rr alone would give B its first pick, A's server
after_b=$(served B)
after_a=$(served A)
[ -n "$after_b" ] && [ "$after_b" = "$B_RS" ]
report $? "through lb2, B (asking first) keeps its server $B_RS (got '$after_b')"
[ -n "$after_a" ] && [ "$after_a" = "$A_RS" ]
report $? "through lb2, A keeps its server $A_RS (got '$after_a')"
diag "takeover to both answered: $(tap_since "$t0") s"
# what the scheduler alone gives the first new client on lb2: not B's server
got_c=$(served C)
[ -n "$got_c" ] && [ "$got_c" != "$B_RS" ]
report $? "through lb2, new client C gets rr's first pick '$got_c' (what B would have got without its record)"
seq_b=
for i in 1 2; do seq_b+="$(served B) "; done
[ "$seq_b" = "$B_RS $B_RS " ]
report $? "through lb2, B stays on $B_RS ($seq_b)"

# ---- clean exits, no sanitizer reports
for n in 2 1; do
	kill -TERM "${PID[$n]}"
	wait "${PID[$n]}"
	rc=$?
	PID[$n]=
	kill_keepalived $n KILL
	s=$(hapair_sanitizer $n)
	[ $rc = 0 ] && [ "$s" = 0 ]
	report $? "lb$n's exlbd exits cleanly on SIGTERM (exit $rc, $s sanitizer reports)"
	[ "$s" = 0 ] || diag "$(grep -A 20 'ERROR: \|runtime error:' "$T/lb$n/exlbd.log" | head -n 40)"
done

tap_end
