#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The HA pair, first stage (docs/ha.md): two exlbd nodes, each running its
# own keepalived (Debian's), own one VIP by VRRP. lb1 is hamode 1 (first),
# lb2 hamode 2 (second), haprefered 0 (no preemption), hatimeout 3.
#
#   client ha-cl 198.18.92.2 --+              +-- lb1 front 198.18.92.3   back 198.18.93.3 --+
#                              +-- sw: brf ---+                                                +-- sw: brb -- rs 198.18.93.11
#                              |   (bridge)   +-- lb2 front 198.18.92.4   back 198.18.93.4 --+   (python: answers
#                                   VIP 198.18.92.10:80, L7 HTTP VS, on the active node           "via <LB address>")
#
# The real server answers with the address the request came from (the
# LB's back address: Transparent=0), so the client knows which node served
# it. Asserted: lb1 becomes active and owns the VIP, lb2 standby without
# it, status says so; the client is served by lb1; lb1's front link down
# -> lb2 owns the VIP and serves within 3 s (the takeover time is printed:
# link down -> first answered request); lb1 back, preemption off -> lb2
# stays active; kill -9 of lb2's exlbd and keepalived -> lb1 takes over;
# bad HA settings are refused with a clear error and change nothing.
# L7 only: exlb.ko cannot be loaded on the host (the VM test adds L4).
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

T=$(mktemp -d /tmp/exlb-ha.XXXXXX)
chmod 755 "$T"
NET=198.18.92 BACK=198.18.93
VIP=$NET.10 CL_IP=$NET.2 RS_IP=$BACK.11
declare -A FRONT=([1]=$NET.3 [2]=$NET.4) BACKIP=([1]=$BACK.3 [2]=$BACK.4)
declare -A NS PID
NS[cl]=exlb-ha-cl-$$ NS[sw]=exlb-ha-sw-$$ NS[rs]=exlb-ha-rs-$$
NS[1]=exlb-ha-lb1-$$ NS[2]=exlb-ha-lb2-$$
RS_PID=

cleanup() {
	hapair_stop 1
	hapair_stop 2
	[ -n "$RS_PID" ] && kill "$RS_PID" 2>/dev/null
	hapair_teardown cl sw rs 1 2
}
trap cleanup EXIT

# ---- the network: a switch namespace with a front and a back bridge

hapair_front_back $CL_IP $RS_IP
report $? "namespaces: client, switch, rs, lb1, lb2 on 198.18.92.0/24 and 198.18.93.0/24"
bad=$(hapair_default_routes cl sw rs 1 2)
[ -z "$bad" ]
report $? "no namespace has a default route${bad:+ (not:$bad)}"

# the real server: answers every GET with the address it came from
cat >"$T/rs.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("via %s\n" % self.client_address[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer((sys.argv[1], 80), H).serve_forever()
PY
ip netns exec "${NS[rs]}" python3 "$T/rs.py" $RS_IP >"$T/rs.log" 2>&1 &
RS_PID=$!
rs_up() { in_ns 1 curl -s -m 1 "http://$RS_IP/" | grep -q via; }
wait_for 10 rs_up
report $? "real server answers on $RS_IP:80 (after $WAITED s)"

# ---- two exlbd nodes

# exlbd with its health checks on (CheckType=none below: nothing is probed)
unset EXLBD_NO_HEALTH_CHECKS
for n in 1 2; do
	hapair_start $n
	wait_for 10 lb_ready $n
	report $? "exlbd lb$n answers on its control socket (after $WAITED s)"
done

# a bad HA setting changes nothing: state file and hamode before and after
refused() {	# N WHAT EXPECTED-ERROR ARGS...
	local n=$1 what=$2 want=$3 before after out rc
	shift 3
	before=$(cat "$T/lb$n/state/config.json" 2>/dev/null | md5sum; ctl_of "$n" get 2>&1)
	out=$(ctl_of "$n" "$@" 2>&1)
	rc=$?
	after=$(cat "$T/lb$n/state/config.json" 2>/dev/null | md5sum; ctl_of "$n" get 2>&1)
	[ $rc != 0 ] && grep -q -- "$want" <<<"$out" && [ "$before" = "$after" ]
	report $? "refused, nothing changed: $what (exit $rc: $out)"
}
refused 1 "hamode 1 without partner or haif" "needs haif" set hamode 1
refused 1 "havhid 0 (VRRP router ids are 1-255)" "havhid" set havhid 0
refused 1 "havhid 256" "havhid" set havhid 256
refused 1 "hatimeout 4 (Kemp's 3, 6, 9, 12, 15)" "hatimeout" set hatimeout 4
refused 1 "partner not an address" "partner" set partner lb2.example
refused 1 "haif not an interface name" "haif" set haif "front;x"

for n in 1 2; do
	cfg_of $n vs add $VIP 80 tcp nickname=Web VStype=http CheckType=none
	cfg_of $n rs add Web $RS_IP port=80
	cfg_of $n set havhid 42
	cfg_of $n set hatimeout 3
	cfg_of $n set haprefered 0
	cfg_of $n set haif front
done
refused 1 "partner = the VIP" "is the VIP of VS" set partner $VIP
cfg_of 1 set partner "${FRONT[2]}"
cfg_of 2 set partner "${FRONT[1]}"
refused 1 "hamode 3" "hamode" set hamode 3
report "${cfg_bad:-0}" "both nodes: VS Web $VIP:80 (HTTP) -> rs, havhid 42, hatimeout 3, haif front, partners"

# hamode last: lb1 first; lb2 once lb1 is active (as an admin pairs them)
no_vip() { ! has_vip "$1" front "$VIP"; }
cfg_of 1 set hamode 1
t0=$EPOCHREALTIME
wait_for 10 is_role 1 active
report $? "lb1 (hamode 1) becomes active after $WAITED s (role: $(role 1))"
cfg_of 2 set hamode 2
wait_for 10 is_role 2 standby
report $? "lb2 (hamode 2) is standby after $WAITED s (role: $(role 2))"
has_vip 1 front "$VIP" && ! has_vip 2 front "$VIP"
report $? "lb1 owns $VIP on front, lb2 does not"
grep -q 'unicast_peer' "$T/lb1/keepalived.conf" && grep -q "virtual_router_id 42" "$T/lb1/keepalived.conf" &&
	grep -q nopreempt "$T/lb1/keepalived.conf" && grep -q "$VIP/32 dev front" "$T/lb1/keepalived.conf"
report $? "lb1's keepalived.conf: unicast peer, router id 42, nopreempt, the VIP on front"
st=$(ctl_of 1 status 2>&1)
grep -q '^HA: active (hamode first, partner 198.18.92.4) since ' <<<"$st"
report $? "exlbctl status on lb1: $(head -n 1 <<<"$st")"
st=$(ctl_of 2 status 2>&1)
grep -q '^HA: standby (hamode second' <<<"$st"
report $? "exlbctl status on lb2: $(head -n 1 <<<"$st")"

# served_by: which LB the client's request went through (1, 2, or nothing)
served_by() {
	local body
	body=$(in_ns cl curl -s -m 0.5 "http://$VIP/ha") || return 1
	case $body in
	"via ${BACKIP[1]}") echo 1 ;;
	"via ${BACKIP[2]}") echo 2 ;;
	*) return 1 ;;
	esac
}
is_served_by() { [ "$(served_by)" = "$1" ]; }
got=
for i in 1 2 3 4 5; do got+="$(served_by)"; done
[ "$got" = 11111 ]
report $? "5 client requests to $VIP answered through lb1 ($got)"

# takeover: LINK -> the first request answered through N, bounded 10 s
takeover() {	# N DESCRIPTION: measures from now to the first answer via N
	local n=$1 t0=$EPOCHREALTIME i
	for ((i = 0; i < 100; i++)); do
		is_served_by "$n" && break
		sleep 0.05
	done
	TAKEOVER=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	is_served_by "$n"
}
within() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# ---- lb1's link is cut

ip -n "${NS[1]}" link set front down
takeover 2
rc=$?
within "$TAKEOVER" 3
report $(( rc || $? )) "lb1's link down -> first request answered through lb2 after $TAKEOVER s (<= 3 s)"
diag "takeover time (link down -> first answered request): $TAKEOVER s"
has_vip 2 front "$VIP"
report $? "lb2 owns $VIP"
wait_for 3 is_role 2 active
report $? "status on lb2: active ($(role 2))"
wait_for 3 is_role 1 fault
report $? "status on lb1: fault while its link is down ($(role 1))"

# ---- lb1 back, no preemption: lb2 stays active
ip -n "${NS[1]}" link set front up
wait_for 10 is_role 1 standby
report $? "lb1's link up: lb1 standby after $WAITED s ($(role 1))"
# positive evidence first (lb1 standby, having heard lb2), then absence
got=
for i in 1 2 3 4 5; do got+="$(served_by)"; sleep 0.2; done
[ "$got" = 22222 ] && is_role 2 active && ! has_vip 1 front "$VIP"
report $? "haprefered 0: lb2 stays active, lb1 has no VIP, requests through lb2 ($got)"

# ---- kill -9 of everything on the active node (lb2): lb1 takes over
kill_keepalived 2 KILL
kill -KILL "${PID[2]}"
wait "${PID[2]}" 2>/dev/null
! kill -0 "${PID[2]}" 2>/dev/null
report $? "lb2's exlbd (pid ${PID[2]}) is gone"
PID[2]=
takeover 1
rc=$?
within "$TAKEOVER" 3
report $(( rc || $? )) "kill -9 of lb2's exlbd and keepalived -> first request answered through lb1 after $TAKEOVER s (<= 3 s)"
diag "takeover time (kill -9 -> first answered request): $TAKEOVER s"
wait_for 3 is_role 1 active
report $? "status on lb1: active ($(role 1))"
ctl_of 1 -j status | jq -e '.ha.since != "" and .ha.for_s >= 0 and .ha.keepalived_pid > 0' >/dev/null
report $? "status -j: role, since, keepalived's pid ($(ctl_of 1 -j status | jq -c .ha))"

# keepalived killed with -9 may leave its VIP behind; a keepalived
# starting as BACKUP removes what it would own (docs/ha.md)
stale=no
has_vip 2 front "$VIP" && stale=yes
diag "after kill -9, a stale $VIP on lb2: $stale"
hapair_start 2
wait_for 10 is_role 2 standby
report $? "lb2's exlbd restarted: its keepalived joins as standby after $WAITED s ($(role 2))"
wait_for 3 no_vip 2
report $? "lb2 holds no VIP once it runs again (stale one before: $stale)"
is_role 1 active && [ "$(served_by)" = 1 ]
report $? "lb1 still active and serving after lb2 rejoined"

# ---- hamode 0 stops keepalived, which releases the VIP
kpid=$(ctl_of 1 -j status | jq -r .ha.keepalived_pid)
cfg_of 1 set hamode 0
gone() { ! kill -0 "$kpid" 2>/dev/null; }
wait_for 6 gone && is_role 1 off && ! has_vip 1 front "$VIP"
report $? "hamode 0 on lb1: keepalived (pid $kpid) stopped, VIP released, role $(role 1)"

kill -TERM "${PID[1]}"
wait "${PID[1]}"
rc=$?
PID[1]=
n=$(hapair_sanitizer 1)
[ $rc = 0 ] && [ "$n" = 0 ]
report $? "lb1's exlbd exits cleanly on SIGTERM (status $rc, sanitizer reports $n)"

[ "$TAP_FAILED" = 0 ] || diag "lb1 log:" "$(tail -n 30 "$T/lb1/exlbd.log")" "lb2 log:" "$(tail -n 30 "$T/lb2/exlbd.log")"
tap_end
