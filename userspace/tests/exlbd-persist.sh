#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Source-IP persistence of an L7 service, end to end: exlbd keeps a client
# on one real server across new connections and keep-alive requests, a
# PersistMask prefix shares one record, a record whose server goes away is
# re-pointed (and stays re-pointed when the server comes back), and
# Persist=none forgets the records. docs/proxy.md "Persistence"; the record
# semantics (open connections, timeout after the last one closed) are unit
# tested in test_l7_persist.c and test_sched_core.c.
#
# The network is lib/lbnet.sh's:
#   client A 198.18.80.2, B 198.18.80.3 ---- lb (exlbd --no-kernel)
#                                              VIP 198.18.80.10:80 "Web",
#                                              HTTP, Schedule=rr
#                          ps-br 198.18.81.1 ---- rs1 198.18.81.11, rs2 .12
#                                                 (nginx, X-RS names it)
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# KEEP=1 keeps the temp dir. Needs root, iproute2, nginx, curl, jq. TAP,
# the plan last; exits 0 only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx curl jq; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"

T=$(mktemp -d /tmp/exlb-persist.XXXXXX)
chmod 755 "$T"
export EXRS_DIR=$T/rs EXRS_BIG_MB=0
SOCK=$T/exlbd.sock
ALOG=$T/access.log
DAEMON_PID=

# shellcheck source=lib/lbnet.sh
source "$here/lib/lbnet.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"
# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"

cleanup() {
	exlbd_kill
	exrs_cleanup 2>/dev/null
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

echo "TAP version 13"

lbnet_setup ps 198.18.80 || skip "cannot create network namespaces"
CL_B=198.18.80.3
ip -n "$NS_CL" addr add $CL_B/24 dev ps-cl
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"
exrs_setup rs1 "$NS_RS1" $RS1 && exrs_setup rs2 "$NS_RS2" $RS2
report $? "nginx as real servers rs1 ($RS1) and rs2 ($RS2)"

exlbd_start --health-checks "exlbd runs in the LB namespace" --access-log "$ALOG"

cfg vs add $VIP 80 tcp nickname=Web VStype=http Schedule=rr CheckType=http \
	CheckUrl=/owa/healthcheck.htm CheckUseGet=1
cfg rs add Web $RS1 port=80
cfg rs add Web $RS2 port=80
report "${cfg_bad:-0}" "configured: VS Web $VIP:80 (HTTP, rr), rs1 and rs2"

n_up() { ctl -j status 2>/dev/null | jq -r '.vs[].rs[].health' | grep -c '^up$'; }
both_up() { [ "$(n_up)" = 2 ]; }
wait_for 15 both_up
report $? "both real servers up ($(n_up) up after $WAITED s)"

# rs_of SRC [N]: the X-RS of N (1) requests on one new connection from SRC
rs_of() {
	local urls=() i
	for ((i = 0; i < ${2:-1}; i++)); do urls+=("http://$VIP/owa/p$i"); done
	in_cl curl -s -m 10 --interface "$1" -o /dev/null -D - "${urls[@]}" |
		tr -d '\r' | awk 'tolower($1) == "x-rs:" { print $2 }' | tr '\n' ' '
}
# conns SRC N: the X-RS of N requests from SRC, each on a new connection
conns() {
	local i
	for ((i = 0; i < $2; i++)); do rs_of "$1"; done
}
distinct() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -u | tr '\n' ' '; }
count() { tr ' ' '\n' <<<"$1" | grep -c .; }

# ---- without persistence round robin moves a client (the control case)

got=$(conns $CL_IP 4)
[ "$(count "$got")" = 4 ] && [ "$(distinct "$got")" = "rs1 rs2 " ]
report $? "Persist=none: 4 connections from A reach both servers ($got)"

# ---- Persist=src keeps each client on one server

cfg vs mod Web Persist=src PersistTimeout=600
got_a=$(conns $CL_IP 6) got_b=$(conns $CL_B 6)
[ "$(count "$got_a")" = 6 ] && [ "$(distinct "$got_a" | wc -w)" = 1 ]
report $? "Persist=src: 6 connections from A, one server ($got_a)"
[ "$(count "$got_b")" = 6 ] && [ "$(distinct "$got_b" | wc -w)" = 1 ]
report $? "Persist=src: 6 connections from B, one server ($got_b)"
A_RS=$(distinct "$got_a" | tr -d ' ')
ka=$(rs_of $CL_IP 5)
[ "$(count "$ka")" = 5 ] && [ "$(distinct "$ka")" = "$A_RS " ]
report $? "Persist=src: 5 keep-alive requests from A, all on A's server $A_RS ($ka)"

# ---- a record whose server is disabled is re-pointed, and stays so

OTHER=rs2 A_IP=$RS1
[ "$A_RS" = rs2 ] && OTHER=rs1 A_IP=$RS2
cfg rs disable Web $A_IP:80
got=$(conns $CL_IP 3)
[ "$(distinct "$got")" = "$OTHER " ] && [ "$(count "$got")" = 3 ]
report $? "A's server $A_RS disabled: A's 3 connections go to $OTHER ($got)"
cfg rs enable Web $A_IP:80
got=$(conns $CL_IP 4)
[ "$(distinct "$got")" = "$OTHER " ] && [ "$(count "$got")" = 4 ]
report $? "$A_RS enabled again: A stays on the re-pointed record's $OTHER ($got)"

# ---- PersistMask: a prefix shares one record

cfg vs mod Web Persist=none
cfg vs mod Web Persist=src PersistMask=24
first=$(rs_of $CL_IP)
got=$(conns $CL_B 4)
[ -n "$first" ] && [ "$(distinct "$got")" = "$first" ] && [ "$(count "$got")" = 4 ]
report $? "PersistMask=24: A went to ${first% } and B, in A's /24, follows it ($got)"
cfg vs mod Web PersistMask=0
report "${cfg_bad:-0}" "every exlbctl change was accepted"

exlbd_stop_checked
tap_end
