#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# A real server drops off the network under load, and no client sees it:
# exlbd retries a request whose server connection failed before the
# request went anywhere on another RS of its SubVS (STARTTLS sessions the
# same, before the greeting), marks the dead RS down from those failures
# (passive health) before its active checks would have, and its active
# checks bring it back. Also: newly configured RSs get their first check at
# once. docs/proxy.md "Connect failures", docs/mail.md.
#
# The network is lib/lbnet.sh's:
#   client                 lb (exlbd --no-kernel)               rs1, rs2
#   fo-cl 198.18.70.2 ---- fo-lb 198.18.70.1                     nginx :80
#                                VIP 198.18.70.10                dovecot :143
#                                  :443 Exch HTTPS offloaded,    postfix :25
#                                       the nine SubVSs          (one of each
#                                  :143 IMAP STARTTLS            per server)
#                                  :25  SMTP STARTTLS
#                          fo-br 198.18.71.1 ----- rs1 198.18.71.11, rs2 198.18.71.12
#
# Configured like the guide's "HTTPS Offloaded" (RetryInterval 9, Timeout
# 4, RetryCount 2, droponfail 1). rs1 "drops off the network": an nftables
# table inside its namespace drops every packet in and out (no RST, no
# ICMP). From then on failload.py sends, for FAILOVER_SECONDS, requests to
# the nine vdirs on new and on keep-alive connections (each keep-alive
# connection opened after the failure began: a request already sent to rs1
# on a server connection cannot be retried -- see docs/proxy.md) and IMAP
# and SMTP STARTTLS sessions. Not one may fail; every one is answered by
# rs2; every rs1 target must be marked down by passive health (its down
# line says "passive:"), all within RetryInterval x RetryCount of the drop.
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# FAILOVER_SECONDS (15), KEEP=1 keeps the temp dir. Needs root, iproute2,
# nft, nginx, dovecot, postfix, curl, openssl, python3, jq. TAP, the plan
# last; exits 0 only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nft nginx dovecot postfix curl openssl jq python3 timeout; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"
SECONDS_LOAD=${FAILOVER_SECONDS:-15}
readonly INTERVAL=9 TIMEOUT=4 COUNT=2
readonly TARGETS=22	# 9 SubVSs x 2, IMAP x 2, SMTP x 2
readonly RS1_TARGETS=11

T=$(mktemp -d /tmp/exlb-failover.XXXXXX)
chmod 755 "$T"
export EXRS_DIR=$T/rs EXRS_BIG_MB=0
SOCK=$T/exlbd.sock
ALOG=$T/access.log
DAEMON_PID=
LOAD_PID=

# shellcheck source=lib/lbnet.sh
source "$here/lib/lbnet.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"
# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"
# shellcheck source=lib/mail-rs.sh
source "$here/lib/mail-rs.sh"

# mail-rs.sh keeps one instance in its globals: one per server, in turn
mail_on() {	# mail_on 1|2: the globals of that server's instance
	MAILRS_DIR=$T/mail$1 MAILRS_HOST=mail-rs$1.exlb.test
	if [ "$1" = 1 ]; then MAILRS_NS=$NS_RS1 MAILRS_ADDR=$RS1; else MAILRS_NS=$NS_RS2 MAILRS_ADDR=$RS2; fi
}

cleanup() {
	[ -n "${LOAD_PID:-}" ] && kill "$LOAD_PID" 2>/dev/null
	exlbd_kill
	if [ -n "${NS_RS1:-}" ]; then
		mail_on 1; mailrs_cleanup 2>/dev/null
		mail_on 2; mailrs_cleanup 2>/dev/null
	fi
	exrs_cleanup 2>/dev/null
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

echo "TAP version 13"

# ---- the network and the servers

lbnet_setup fo 198.18.70 || skip "cannot create network namespaces"
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"

exrs_setup rs1 "$NS_RS1" $RS1 && exrs_setup rs2 "$NS_RS2" $RS2
report $? "nginx as Exchange servers rs1 ($RS1) and rs2 ($RS2)"
mail_on 1 && mailrs_setup "$NS_RS1" $RS1 >>"$T/mailrs.log" 2>&1 &&
	mail_on 2 && mailrs_setup "$NS_RS2" $RS2 >>"$T/mailrs.log" 2>&1
report $? "dovecot and postfix on rs1 and on rs2 (greeting as mail-rs1/mail-rs2)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj /CN=mail.example.test -addext "subjectAltName=DNS:mail.example.test" \
	-keyout "$T/mail.key" -out "$T/mail.pem" 2>/dev/null
report $? "test certificate"

# ---- exlbd, configured like the guide

exlbd_start --health-checks "exlbd runs in the LB namespace" --access-log "$ALOG"

cfg cert add mail "$T/mail.pem" "$T/mail.key"
cfg set droponfail 1
cfg set RetryInterval $INTERVAL
cfg set Timeout $TIMEOUT
cfg set RetryCount $COUNT
cfg vs add $VIP 443 tcp nickname=Exch VStype=http SSLAcceleration=1 CertFile=mail \
	TLSType=1 CipherSet=BestPractices ErrorCode=503 "ErrorUrl=Endpoint not available" \
	Idletime=1800 Schedule=rr
for e in OWA:owa ECP:ecp EWS:EWS MAPI:mapi RPC:rpc OAB:OAB \
	ActiveSync:Microsoft-Server-ActiveSync Autodiscover:Autodiscover PowerShell:PowerShell; do
	name=${e%%:*} vdir=${e#*:}
	cfg subvs add Exch nickname=$name Schedule=rr CheckType=http \
		CheckUrl=/$vdir/healthcheck.htm CheckUseGet=1
	cfg rule add "${name,,}" matchtype=regex "pattern=/^\/$vdir.*/" nocase=1
	cfg rule attach "Exch/$name" "${name,,}"
done
tls=(SSLAcceleration=1 CertFile=mail TLSType=1 CipherSet=BestPractices Schedule=rr)
cfg vs add $VIP 143 tcp nickname=IMAP VStype=tls StartTLSMode=4 ServerInit=4 "${tls[@]}" CheckType=imap4
cfg vs add $VIP 25 tcp nickname=SMTP VStype=tls StartTLSMode=1 ServerInit=1 "${tls[@]}" CheckType=smtp
# the real servers last: their first checks are timed from here
t_rs=$EPOCHREALTIME
cfg rs add Exch $RS1 port=80 addtoallsubvs=1
cfg rs add Exch $RS2 port=80 addtoallsubvs=1
cfg rs add IMAP $RS1 port=143
cfg rs add IMAP $RS2 port=143
cfg rs add SMTP $RS1 port=25
cfg rs add SMTP $RS2 port=25
report "${cfg_bad:-0}" "configured: Exch :443 (9 SubVSs, rules, rs1+rs2), IMAP :143 and SMTP :25 STARTTLS (rs1+rs2)"

status_json() { ctl -j status 2>/dev/null; }
targets() {	# targets [ADDR]: "addr:port health" of every RS
	status_json | jq -r '.vs[] | ((.subvs // [])[] | .rs // [] | .[]), (.rs // [] | .[]) |
		"\(.addr // .address):\(.port) \(.health)"'
}
n_up() { targets | grep -c ' up$'; }
all_up() { [ "$(n_up)" = $TARGETS ]; }
wait_for 20 all_up
up_after=$(tap_since "$t_rs")
diag "$(targets | sort | uniq -c)"
# before: the first check of a new RS came at a random point of RetryInterval (9 s)
awk -v a="$up_after" 'BEGIN { exit !(a < 4) }'
report $? "first checks at once: all $TARGETS health targets up $up_after s after the RSs were added ($(n_up) up; < 4 s)"

# ---- before the failure: both servers answer every vdir

curl_rs() {	# curl_rs VDIR: the X-RS of one request on a new connection
	in_cl curl -sk -o /dev/null -D - -m 10 -H 'Host: mail.example.test' \
		"https://$VIP/$1/before" | tr -d '\r' | awk 'tolower($1) == "x-rs:" { print $2 }'
}
before=
for vdir in owa ecp EWS mapi rpc OAB Microsoft-Server-ActiveSync Autodiscover PowerShell; do
	before+="$(curl_rs $vdir)$(curl_rs $vdir) "
done
n1=$(grep -o rs1 <<<"$before" | wc -l) n2=$(grep -o rs2 <<<"$before" | wc -l)
[ "$n1" = 9 ] && [ "$n2" = 9 ]
report $? "before the failure: each vdir answered once by rs1, once by rs2 ($n1, $n2)"
# the server connections these left idle in exlbd's pool are closed after
# 5 s (proxy_conn.c L7_IDLE_SERVER_S): a request sent on one to a server
# that then dies cannot be retried, and that is not what this test is about
sleep 6

# ---- rs1 drops off the network

nft_drop() {
	ip netns exec "$NS_RS1" nft -f - <<-'EOF'
	table inet failover {
		chain in { type filter hook input priority 0; policy drop; }
		chain out { type filter hook output priority 0; policy drop; }
	}
	EOF
}
IMAP_RS2_0=$(mail_on 2; mailrs_logins imap)
nft_drop
report $? "rs1 drops every packet in and out (nftables in its namespace)"
t_drop=$EPOCHREALTIME
ip netns exec "$NS_CL" timeout $((SECONDS_LOAD + 70)) python3 "$here/failload.py" $VIP "$SECONDS_LOAD" \
	>"$T/load.out" 2>&1 &
LOAD_PID=$!

passive_downs() { grep -c "rs $RS1:[0-9]* in .* down: passive: " "$T/exlbd.log"; }
rs1_downs() { grep -c "rs $RS1:[0-9]* in .* down: " "$T/exlbd.log"; }
all_rs1_down() { [ "$(rs1_downs)" -ge $RS1_TARGETS ]; }
wait_for $((INTERVAL * COUNT + TIMEOUT + 2)) all_rs1_down
down_after=$(tap_since "$t_drop")
diag "$(grep "rs $RS1:.* down: " "$T/exlbd.log")"
np=$(passive_downs) nd=$(rs1_downs)
[ "$np" = $RS1_TARGETS ] && [ "$nd" = $RS1_TARGETS ] &&
	awk -v a="$down_after" -v b=$((INTERVAL * COUNT)) 'BEGIN { exit !(a < b) }'
report $? "all $RS1_TARGETS rs1 targets marked down by passive health ($np of $nd down lines say passive) $down_after s after the drop (< RetryInterval x RetryCount = $((INTERVAL * COUNT)) s)"

wait "$LOAD_PID"
rc=$?
LOAD_PID=
diag "$(cat "$T/load.out")"
val() { awk -F= -v k="$1" '$1 == k { print $2 }' "$T/load.out"; }
[ "$rc" = 0 ] && [ "$(val alive_threads)" = 0 ]
report $? "the client load ran and ended (status $rc)"
[ "$(val http)" -gt 50 ] 2>/dev/null && [ "$(val http_failed)" = 0 ]
report $? "HTTPS: $(val http) requests to the nine vdirs (new and keep-alive connections), $(val http_failed) failed"
[ "$(val http_by)" = "rs2:$(val http)" ]
report $? "HTTPS: every answer from rs2 ($(val http_by)); slowest $(val http_max_s) s"
IMAP_RS2=$(( $(mail_on 2; mailrs_logins imap) - IMAP_RS2_0 ))
[ "$(val imap)" -gt 2 ] 2>/dev/null && [ "$(val imap_failed)" = 0 ] &&
	[ "$IMAP_RS2" -ge "$(val imap)" ]
report $? "IMAP STARTTLS: $(val imap) sessions, $(val imap_failed) failed, $IMAP_RS2 logins on rs2's dovecot; slowest $(val imap_max_s) s"
[ "$(val smtp)" -gt 2 ] 2>/dev/null && [ "$(val smtp_failed)" = 0 ] &&
	[ "$(val smtp_by)" = "mail-rs2.exlb.test:$(val smtp)" ]
report $? "SMTP STARTTLS: $(val smtp) sessions, $(val smtp_failed) failed, greeted by $(val smtp_by); slowest $(val smtp_max_s) s"
retries=$(ctl -j stats 2>/dev/null | jq -r '.proxy.connect_retries')
[ "${retries:-0}" -gt 0 ] 2>/dev/null
report $? "exlbctl stats counts the requests and sessions tried on another RS ($retries)"
nlines=$(grep -c "rs $RS1:[0-9]* in .* down: passive" "$T/exlbd.log")
[ "$nlines" = $RS1_TARGETS ]
report $? "each rs1 target's passive down is logged once ($nlines lines)"

# ---- rs1 comes back: its active checks bring it up

ip netns exec "$NS_RS1" nft delete table inet failover
t_back=$EPOCHREALTIME
wait_for $((INTERVAL + TIMEOUT + 4)) all_up
report $? "rs1 back: active checks bring all $TARGETS targets up in $(tap_since "$t_back") s ($(n_up) up)"
after=
for vdir in owa mapi EWS; do after+="$(curl_rs $vdir)$(curl_rs $vdir) "; done
grep -q rs1 <<<"$after" && grep -q rs2 <<<"$after"
report $? "rs1 serves again ($after)"

exlbd_stop_checked
tap_end
