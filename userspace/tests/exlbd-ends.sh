#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# How exlbd's proxy ends connections, as docs/proxy.md ("Timeouts and ends")
# and docs/mail.md ("Timeouts") promise, with real nginx, dovecot and postfix
# servers and endclient.py's sessions measuring how and when each one ends:
#
#   1. the 15 s limit on a TLS handshake and on a request head (slowloris:
#      408, then close), and on the TLS handshake after STARTTLS;
#   2. Idletime on an idle keep-alive connection, on a request whose body
#      never comes, and in the STARTTLS relay; the global conntimeout when the
#      VS has no Idletime;
#   3. drain: a disabled server's download goes on to its end; with
#      dropatdrainend (finalpersist 0) a disabled server's download and
#      STARTTLS session are reset at once (term K);
#   4. droponfail: when rs1 fails its health check, its IMAPS tunnel, IMAP,
#      POP3 and SMTP STARTTLS sessions are reset (term D);
#   5. then, with no server left, new STARTTLS sessions get the temporary
#      errors: 421 4.4.2, * BYE [UNAVAILABLE], -ERR [SYS/TEMP];
# and MaxConnsLimit: connections past a VS's limit are closed at once, and
# the limit is refused on a VS exlb.ko serves (it could not enforce it).
#
# The network is lib/lbnet.sh's (tag en, 198.18.60.0/24 and .61.0/24). The
# mail VSs' health checks probe rs1's nginx (CheckPort 80), so stopping nginx
# fails rs1 while dovecot and postfix keep their sessions: a reset can only
# come from exlbd.
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# EXLBD_TLS_RELAY, KEEP=1. Needs root, iproute2, nginx, dovecot, postfix,
# curl, openssl, python3, jq. TAP, the plan last; exits 0 only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx dovecot postfix curl openssl jq python3 timeout; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"

readonly MAIL=mail.example.test

T=$(mktemp -d /tmp/exlb-ends.XXXXXX)
chmod 755 "$T"
export EXRS_DIR=$T/rs EXRS_BIG_MB=4 MAILRS_DIR=$T/mail
SOCK=$T/exlbd.sock
ALOG=$T/access.log
DAEMON_PID=
ENDS_PID=

# shellcheck source=lib/lbnet.sh
source "$here/lib/lbnet.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"
# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"
# shellcheck source=lib/mail-rs.sh
source "$here/lib/mail-rs.sh"

cleanup() {
	[ -n "$ENDS_PID" ] && kill "$ENDS_PID" 2>/dev/null
	exlbd_kill
	mailrs_cleanup 2>/dev/null
	exrs_cleanup 2>/dev/null
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

# sessions SESSION...: runs endclient.py, one JSON line per session in $T/ends
sessions() { in_cl timeout 90 python3 "$here/endclient.py" "$VIP" "$VIP2" "$@" 2>>"$T/client.log" |
	grep -v '^ready' >"$T/ends"; }
# end_of NAME KEY: a field of that session's result
end_of() { jq -r --arg n "$1" "select(.name == \$n) | .$2" "$T/ends" | head -n 1; }
# in_range X LO HI: LO <= X <= HI (decimals)
in_range() { awk -v x="$1" -v a="$2" -v b="$3" 'BEGIN { exit !(x != "" && x >= a && x <= b) }'; }
# term_of KEY: the termination code of the access log's last line containing KEY
term_of() { grep -F -- "$1" "$ALOG" | tail -n 1 | sed -n 's/.* term=\([^ ]*\).*/\1/p'; }

echo "TAP version 13"

lbnet_setup en 198.18.60 || skip "cannot create network namespaces"
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"
exrs_setup rs1 "$NS_RS1" "$RS1" && exrs_setup rs2 "$NS_RS2" "$RS2"
report $? "nginx as Exchange servers rs1 ($RS1) and rs2 ($RS2)"
mailrs_setup "$NS_RS1" "$RS1" >>"$T/mailrs.log" 2>&1
report $? "dovecot and postfix on rs1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=$MAIL" -addext "subjectAltName=DNS:$MAIL" \
	-keyout "$T/mail.key" -out "$T/mail.pem" 2>/dev/null
report $? "a test certificate for $MAIL"

opts=(--access-log "$ALOG")
[ -n "${EXLBD_TLS_RELAY:-}" ] && opts+=("--tls-relay=$EXLBD_TLS_RELAY")
exlbd_start --health-checks "exlbd runs in the LB namespace" "${opts[@]}"

cfg cert add mail "$T/mail.pem" "$T/mail.key"
cfg set conntimeout 5
web=(VStype=http SSLAcceleration=1 CertFile=mail Schedule=rr CheckType=http
	CheckUrl=/owa/healthcheck.htm CheckUseGet=1)
cfg vs add "$VIP" 443 tcp nickname=Web "${web[@]}" Idletime=3
cfg vs add "$VIP2" 443 tcp nickname=Web2 "${web[@]}" Idletime=0
for v in Web Web2; do
	cfg rs add $v "$RS1" port=80
	cfg rs add $v "$RS2" port=80
done
# the mail VSs' health is rs1's nginx (CheckPort 80): see the header
mailvs=(SSLAcceleration=1 CertFile=mail CheckType=tcp CheckPort=80)
cfg vs add "$VIP" 993 tcp nickname=IMAPS VStype=gen "${mailvs[@]}"
cfg vs add "$VIP" 143 tcp nickname=IMAP VStype=tls StartTLSMode=4 Idletime=3 "${mailvs[@]}"
cfg vs add "$VIP" 110 tcp nickname=POP VStype=tls StartTLSMode=6 "${mailvs[@]}"
cfg vs add "$VIP" 25 tcp nickname=SMTP VStype=tls StartTLSMode=1 "${mailvs[@]}"
cfg rs add IMAPS "$RS1" port=143
cfg rs add IMAP "$RS1" port=143
cfg rs add POP "$RS1" port=110
cfg rs add SMTP "$RS1" port=25
report "${cfg_bad:-0}" "configured: Web (Idletime 3), Web2 (conntimeout 5), IMAPS tunnel, IMAP / POP / SMTP STARTTLS"
readonly TARGETS=8
health_up() { ctl -j status 2>/dev/null | jq -r '[.vs[] | (.rs // [] | .[]) | select(.health == "up")] | length'; }
all_up() { [ "$(health_up)" = $TARGETS ]; }
wait_for 30 all_up
report $? "all $TARGETS health targets up after $WAITED s ($(health_up) up)"

# ---- 1, 2: the limits, all measured at once

sessions silent slowhead starttls_nohello idle_keepalive idle_conntimeout body_stall imap_relay
diag "$(cat "$T/ends")"
# in_limit NAME LO HI HOW... : ended between LO and HI s after its last byte, one of HOW
in_limit() {
	local n=$1 lo=$2 hi=$3 how
	shift 3
	how=$(end_of "$n" how)
	in_range "$(end_of "$n" secs)" "$lo" "$hi" && [[ " $* " == *" $how "* ]]
}
in_limit silent 14 17 eof reset
report $? "no ClientHello: closed after $(end_of silent secs) s ($(end_of silent how); limit 15 s)"
in_limit slowhead 14 17 eof reset && [[ $(end_of slowhead got) == "HTTP/1.1 408"* ]]
report $? "a head dribbled a line every 2 s: '$(end_of slowhead got | head -c 12)' $(end_of slowhead secs) s after its first byte, then closed ($(end_of slowhead how))"
in_limit starttls_nohello 14 17 eof reset
report $? "STARTTLS answered, no ClientHello: closed after $(end_of starttls_nohello secs) s (limit 15 s)"
in_limit idle_keepalive 2.5 4.5 eof reset
report $? "idle keep-alive connection: closed after $(end_of idle_keepalive secs) s (Idletime 3)"
in_limit idle_conntimeout 4.5 6.5 eof reset
report $? "idle keep-alive, VS without Idletime: closed after $(end_of idle_conntimeout secs) s (conntimeout 5)"
in_limit body_stall 2.5 4.5 eof reset
report $? "a request whose body never comes: ended after $(end_of body_stall secs) s (Idletime 3; $(end_of body_stall how) '$(end_of body_stall got | head -c 12)')"
in_limit imap_relay 2.5 4.5 eof reset
report $? "IMAP STARTTLS relay, idle: ended after $(end_of imap_relay secs) s (Idletime 3, $(end_of imap_relay how))"

# ---- MaxConnsLimit: a VS's client connections are capped

cfg vs mod Web2 MaxConnsLimit=2
over_limit() {	# two TLS connections held; the third is closed unanswered, a fourth after one left is served
	in_cl timeout 20 python3 - "$VIP2" <<'EOF'
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
def conn():
    return ctx.wrap_socket(socket.create_connection((sys.argv[1], 443), timeout=5),
                           server_hostname="mail.example.test")
held = [conn(), conn()]
try:
    conn()
    print("third: served")
except (OSError, ssl.SSLError) as e:
    print("third: %s" % type(e).__name__)
held.pop().close()
for _ in range(20):	# the close reaches exlbd in its own time
    try:
        conn().close()
        print("after one left: served")
        break
    except (OSError, ssl.SSLError):
        pass
EOF
}
out=$(over_limit)
report "$([[ $out == *"third: "[A-Z]*Error*"after one left: served"* ]]; echo $?)" \
	"MaxConnsLimit=2: a third connection is closed before its handshake, a new one is served after one left ($(tr '\n' ' ' <<<"$out"))"
over_limit_counted() { [ "$(ctl -j stats 2>/dev/null | jq -r '.proxy.conns_over_limit')" -ge 1 ]; }
wait_for 5 over_limit_counted	# the figures are refreshed every 2 s
report $? "exlbctl stats counts it: conns_over_limit $(ctl -j stats 2>/dev/null | jq -r '.proxy.conns_over_limit')"
cfg vs mod Web2 MaxConnsLimit=0
err=$(ctl vs add "$VIP" 2525 tcp nickname=Plain VStype=gen MaxConnsLimit=5 2>&1)
rc=$?
report "$([ $rc != 0 ] && [[ $err == *MaxConnsLimit*exlb.ko* ]] && ! ctl show vs Plain >/dev/null 2>&1; echo $?)" \
	"MaxConnsLimit on a VS exlb.ko serves is refused, nothing added: '$err'"

# ---- 3: drain

# start_sessions SESSION...: runs endclient.py in the background until its
# sessions are in place; end_sessions waits for their ends ($T/ends)
start_sessions() {
	: >"$T/ends.raw"
	in_cl timeout 90 python3 "$here/endclient.py" "$VIP" "$VIP2" "$@" >"$T/ends.raw" 2>>"$T/client.log" &
	ENDS_PID=$!
	wait_for 30 grep -q '^ready' "$T/ends.raw"
}
end_sessions() {
	wait "$ENDS_PID"
	grep -v '^ready' "$T/ends.raw" >"$T/ends"
}

start_sessions download_rs2
report $? "a download from rs2 (4 MB at 1 MB/s) is under way"
cfg rs mod Web "$RS2" enable=0
end_sessions
b=$(end_of download_rs2 bytes)
report "$([ "$(end_of download_rs2 how)" = complete ] && [ "$b" = $((4 << 20)) ]; echo $?)" \
	"rs2 disabled (dropatdrainend 0): the download went on to its end ($(end_of download_rs2 how), $b bytes)"
only_rs1() {
	local i
	for i in 1 2 3 4; do
		[ "$(in_cl curl -sk --max-time 5 --resolve "$MAIL:443:$VIP" -o /dev/null \
			-w '%header{x-rs}' "https://$MAIL/owa/")" = rs1 ] || return 1
	done
}
check "and new requests go to rs1 only (4 of 4)" only_rs1
cfg rs mod Web "$RS2" enable=1
cfg set dropatdrainend 1
cfg set finalpersist 0

start_sessions download_rs2 imap_relay
report $? "a download from rs2 and an IMAP STARTTLS session in its relay are under way"
t0=$EPOCHREALTIME
cfg rs mod Web "$RS2" enable=0
cfg rs mod IMAP "$RS1" enable=0
end_sessions
for n in download_rs2 imap_relay; do
	at=$(end_of $n at)
	secs=$(awk -v a="$t0" -v b="${at:-0}" 'BEGIN { printf "%.1f", b - a }')
	report "$([ "$(end_of $n how)" = reset ] && in_range "$secs" 0 2.5; echo $?)" \
		"dropatdrainend, finalpersist 0: $n $(end_of $n how) ${secs} s after the disable"
done
report "$([[ $(term_of "/owa/big/") == K* ]] && [[ $(term_of "IMAP+STARTTLS;relay") == K* ]]; echo $?)" \
	"the access log says drain end: term=$(term_of "/owa/big/") (download), term=$(term_of "IMAP+STARTTLS;relay") (IMAP)"
cfg rs mod Web "$RS2" enable=1
cfg rs mod IMAP "$RS1" enable=1
cfg set dropatdrainend 0

# ---- 4: droponfail

cfg set droponfail 1
cfg set conntimeout 0		# 660 s: only the failure may end these sessions
cfg vs mod IMAP Idletime=0
start_sessions imaps_tunnel imap_relay pop3_stls smtp_starttls
report $? "an IMAPS tunnel, IMAP, POP3 and SMTP STARTTLS sessions to rs1 are under way"
t0=$EPOCHREALTIME
exrs_stop rs1
rs1_down() { ctl -j status 2>/dev/null | jq -e '[.vs[] | select(.name | test("^(IMAPS|IMAP|POP|SMTP)$")) |
	.rs[] | select(.health == "down")] | length == 4' >/dev/null; }
wait_for 40 rs1_down
report $? "rs1 fails its health checks in the four mail VSs (nginx stopped) after $WAITED s"
end_sessions
for n in imaps_tunnel imap_relay pop3_stls smtp_starttls; do
	report "$([ "$(end_of $n how)" = reset ]; echo $?)" "droponfail: $n was $(end_of $n how) when rs1 failed"
done
n=$(grep -c 'term=D' "$ALOG")
report "$([ "$n" -ge 4 ]; echo $?)" "the access log says the server went down: $n lines term=D?"

# ---- 5: no server left

no_rs() {
	in_cl timeout 10 python3 - "$VIP" <<'EOF'
import socket, sys
vip = sys.argv[1]
for port, want in ((25, b"421 4.4.2"), (143, b"* BYE [UNAVAILABLE]"), (110, b"-ERR [SYS/TEMP]")):
    s = socket.create_connection((vip, port), timeout=5)
    got = s.recv(200)
    print("%d %r" % (port, got))
    if not got.startswith(want):
        sys.exit(1)
EOF
}
out=$(no_rs)
report $? "no server left: SMTP, IMAP, POP3 answer with their temporary errors ($(tr '\n' ' ' <<<"$out"))"

check "exlbd is still running" kill -0 "$DAEMON_PID"
exlbd_stop_checked
[ "$TAP_FAILED" = 0 ] || diag "exlbd log:" "$(tail -n 30 "$T/exlbd.log")"
tap_end
