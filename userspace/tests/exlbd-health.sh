#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# exlbd's health checks against real servers, driven through exlbd and
# exlbctl: two simulated Exchange servers (two private nginx instances, each
# serving the nine vdirs' healthcheck.htm, body "200 OK <vdir>") in a network
# namespace "srv"; exlbd (--no-kernel, state and socket in a temp dir) runs
# INSIDE a second namespace "cli" whose only route is the veth between them.
#
#   cli 198.18.2.1 ---veth--- srv 198.18.2.11 (nginx 1), 198.18.2.12 (nginx 2)
#       exlbd
#
# The configuration (exlbctl): an HTTP VS with SubVSs OWA and EWS (CheckType
# http, CheckUrl /owa/healthcheck.htm resp. /ews/healthcheck.htm), both
# servers added with addtoallsubvs=1. The globals are made slow
# (RetryInterval 30, RetryCount 3) and the VS overrides them with Kemp's
# minimums (RetryInterval 9, Timeout 4, RetryCount 2): a "down" within
# 9 * 2 + 4 s shows the per-VS timing is what the checks use.
#
# The story (asserted through `exlbctl status -j`): both servers up in both
# SubVSs; server 1's /owa/healthcheck.htm answers 503 -> server 1 down in
# OWA only (still up in EWS, server 2 up everywhere); server 2's nginx stops
# -> server 2 down in both. Detection times are printed.
#
# Needs root, nginx, iproute2, python3. Exit 4 = skipped. Prints TAP
# "ok N - ..." lines; exits 0 only if all passed.
set -u

readonly VDIRS="owa ecp ews mapi rpc oab Microsoft-Server-ActiveSync Autodiscover PowerShell"
readonly CLI_IP=198.18.2.1 RS1=198.18.2.11 RS2=198.18.2.12 VIP=198.18.2.100
readonly INTERVAL=9 TIMEOUT=4 RETRY=2
# how late "down" may be: interval * retry + timeout (the polls wait SLACK longer)
readonly DOWN_BOUND=$((INTERVAL * RETRY + TIMEOUT)) SLACK=4

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx python3; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done

EXLBD=$(realpath "${EXLBD:-$here/../build/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"

T=$(mktemp -d /tmp/exlb-exlbd-health.XXXXXX)
chmod 755 "$T"		# nginx workers run as nobody
SRV=exlb-eh-srv-$$
CLI=exlb-eh-cli-$$
SOCK=$T/exlbd.sock
DAEMON_PID=

in_srv() { ip netns exec "$SRV" "$@"; }
nginx_pid() { cat "$T/nginx$1/nginx.pid" 2>/dev/null; }

cleanup() {
	local pid i
	exlbd_kill
	for i in 1 2; do
		pid=$(nginx_pid $i)
		[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	done
	ip netns del "$SRV" 2>/dev/null
	ip netns del "$CLI" 2>/dev/null
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

# The health of both servers in both SubVSs from `exlbctl status -j`, as
# "OWA/1=up OWA/2=up EWS/1=up EWS/2=up" (up, down, unchecked).
# wait_health WANT SECONDS: polls every 0.2 s until that is WANT, at most
# SECONDS; prints "SECONDS-IT-TOOK LAST-STATE"; fails if it never was WANT.
# all_health: the state now.
readonly POLL='
import json, subprocess, sys, time
ctl, sock, want, limit, rs1, rs2 = sys.argv[1:7]
start = time.monotonic()
def state():
    try:
        out = subprocess.run([ctl, "-s", sock, "status", "-j"], capture_output=True, timeout=5).stdout
        doc = json.loads(out)
    except Exception:
        return "no-status"
    h = {}
    for vs in doc.get("vs", []):
        for s in vs.get("subvs", []):
            for rs in s.get("rs", []):
                h[(s.get("name"), rs.get("addr"))] = rs.get("health")
    return " ".join("%s/%d=%s" % (n, i + 1, h.get((n, a), "absent"))
                    for n in ("OWA", "EWS") for i, a in enumerate((rs1, rs2)))
while True:
    s = state()
    took = time.monotonic() - start
    if s == want or took >= float(limit):
        print("%.1f %s" % (took, s))
        sys.exit(s != want)
    time.sleep(0.2)
'
wait_health() { python3 -c "$POLL" "$EXLBCTL" "$SOCK" "$1" "$2" $RS1 $RS2; }
all_health() { python3 -c "$POLL" "$EXLBCTL" "$SOCK" "" 0 $RS1 $RS2 | cut -d' ' -f2-; }

within() { awk -v d="$1" -v b="$2" 'BEGIN { exit !(d <= b) }'; }

# ---- the network: two namespaces, one veth, no other route

ip netns add "$SRV" || skip "cannot create network namespaces"
ip netns add "$CLI"
ip -n "$CLI" link add eh-cli type veth peer name eh-srv netns "$SRV"
for ns in "$SRV" "$CLI"; do ip -n "$ns" link set lo up; done
ip -n "$CLI" addr add $CLI_IP/24 dev eh-cli
ip -n "$SRV" addr add $RS1/24 dev eh-srv
ip -n "$SRV" addr add $RS2/24 dev eh-srv
ip -n "$CLI" link set eh-cli up
ip -n "$SRV" link set eh-srv up

# nothing exlbd sends can leave: no default route, every route on the veth or lo
routes=$(ip -n "$CLI" -4 route show table all; ip -n "$CLI" -6 route show table all)
! printf '%s\n' "$routes" | grep -q '^default' &&
! printf '%s\n' "$routes" | grep -v '^$' | grep -qv ' dev \(eh-cli\|lo\)\b'
report $? "exlbd's namespace has no default route, only the veth and lo ($(ip -n "$CLI" -4 route show | tr '\n' ';'))"

# ---- two nginx instances, one per simulated server; 503 where www<i>/fail-<vdir> exists

nginx_conf() {	# nginx_conf I ADDR
	local d=$T/nginx$1 w=$T/www$1 v
	mkdir -p "$d/tmp"
	for v in $VDIRS; do
		mkdir -p "$w/$v"
		echo "200 OK $v" > "$w/$v/healthcheck.htm"
	done
	chmod -R a+rX "$w"
	cat > "$d/nginx.conf" <<EOF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	server {
		listen $2:80;
		root $w;
		location ~ "^/(?<vdir>[^/]+)/healthcheck\.htm\$" {
			if (-f $w/fail-\$vdir) { return 503; }
		}
	}
}
EOF
}
nginx_start() { in_srv nginx -c "$T/nginx$1/nginx.conf" -p "$T/nginx$1" -e "$T/nginx$1/error.log"; }
nginx_stop() {
	local pid i
	pid=$(nginx_pid "$1")
	[ -n "$pid" ] && kill -TERM "$pid"
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null
}

nginx_conf 1 $RS1
nginx_conf 2 $RS2
nginx_start 1 && nginx_start 2
report $? "two private nginx instances on $RS1:80 and $RS2:80"

# one client, every vdir of both servers: the wrong answers, if any
bodies=$(ip netns exec "$CLI" python3 -c '
import sys, urllib.request
for a in sys.argv[2:]:
    for v in sys.argv[1].split():
        try:
            b = urllib.request.urlopen("http://%s/%s/healthcheck.htm" % (a, v), timeout=3).read().decode().strip()
        except Exception as e:
            b = "error %s" % e
        if b != "200 OK " + v:
            print(" %s/%s:%r" % (a, v, b), end="")' "$VDIRS" $RS1 $RS2)
[ -z "$bodies" ]
report $? "the nine vdirs' healthcheck.htm answer '200 OK <vdir>' on both servers${bodies:+ (wrong:$bodies)}"

# ---- exlbd inside the client namespace

NS_LB=$CLI
exlbd_start --health-checks "exlbd runs in the client namespace (--no-kernel, socket $SOCK)"

# slow globals, Kemp's minimums on the VS: the SubVSs inherit the VS's
ctl set RetryInterval=30 >/dev/null && ctl set RetryCount=3 >/dev/null &&
ctl vs add $VIP 80 tcp NickName=Mail VStype=http RetryInterval=$INTERVAL \
	Timeout=$TIMEOUT RetryCount=$RETRY >/dev/null &&
ctl subvs add Mail NickName=OWA CheckType=http CheckUrl=/owa/healthcheck.htm CheckUseGet=1 >/dev/null &&
ctl subvs add Mail NickName=EWS CheckType=http CheckUrl=/ews/healthcheck.htm CheckUseGet=1 >/dev/null &&
ctl rs add Mail $RS1 port=80 addtoallsubvs=1 >/dev/null &&
ctl rs add Mail $RS2 port=80 addtoallsubvs=1 >/dev/null
report $? "configured with exlbctl: VS Mail (http) with SubVSs OWA and EWS, both servers in both"

timing=$(ctl subvs show Mail/OWA -j | python3 -c '
import json, sys
t = json.load(sys.stdin)["health_timing"]
print(t["RetryInterval"], t["Timeout"], t["RetryCount"], t["from"]["RetryInterval"])')
[ "$timing" = "$INTERVAL $TIMEOUT $RETRY VS" ]
report $? "SubVS OWA checks with the VS's timing, not the globals' 30 s x 3 (got: $timing)"
diag "$(ctl subvs show Mail/OWA | grep 'health timing')"

# 1. both servers come up in both SubVSs
out=$(wait_health "OWA/1=up OWA/2=up EWS/1=up EWS/2=up" $((DOWN_BOUND + SLACK)))
report $? "both servers up in OWA and EWS after ${out%% *} s (${out#* })"

# 2. server 1's OWA answers 503: down in OWA only
touch "$T/www1/fail-owa"
out=$(wait_health "OWA/1=down OWA/2=up EWS/1=up EWS/2=up" $((DOWN_BOUND + SLACK)))
report $? "server 1's /owa/healthcheck.htm 503: down in OWA only, EWS and server 2 up (${out#* })"
d=${out%% *}
within "$d" $DOWN_BOUND
report $? "OWA 503 detected in $d s (bound ${DOWN_BOUND} s = $INTERVAL * $RETRY + $TIMEOUT)"
reason=$(ctl status -j | python3 -c '
import json, sys
for vs in json.load(sys.stdin)["vs"]:
    for s in vs["subvs"]:
        for rs in s["rs"]:
            if s["name"] == "OWA" and rs["addr"] == sys.argv[1]: print(rs["reason"])' $RS1)
case "$reason" in *503*) report 0 "the reason names the 503 ($reason)" ;;
*) report 1 "the reason names the 503 (got '$reason')" ;; esac

# 3. server 2's nginx stops: down in both SubVSs
nginx_stop 2
report $? "server 2's nginx stopped"
out=$(wait_health "OWA/1=down OWA/2=down EWS/1=up EWS/2=down" $((DOWN_BOUND + SLACK)))
report $? "server 2 stopped: down in OWA and EWS, server 1 still up in EWS (${out#* })"
d=${out%% *}
within "$d" $DOWN_BOUND
report $? "server 2 stop detected in $d s (bound ${DOWN_BOUND} s)"

status=$(ctl status -j | python3 -c '
import json, sys
vs = json.load(sys.stdin)["vs"][0]
print(vs["status"], " ".join(s["name"] + ":" + s["status"] for s in vs["subvs"]))')
[ "$status" = "Up OWA:Down EWS:Up" ]
report $? "status: VS Up, OWA Down (no server left), EWS Up ($status)"

# 4. repaired: both come back
rm -f "$T/www1/fail-owa"
nginx_start 2
out=$(wait_health "OWA/1=up OWA/2=up EWS/1=up EWS/2=up" $((DOWN_BOUND + SLACK)))
report $? "repaired: all up again after ${out%% *} s (${out#* })"

kill -0 "$DAEMON_PID" 2>/dev/null
report $? "exlbd still running"
exlbd_stop_checked
[ "$TAP_FAILED" = 0 ] || diag "exlbd log:" "$(sed 's/^/  /' "$T/exlbd.log")"
tap_end
