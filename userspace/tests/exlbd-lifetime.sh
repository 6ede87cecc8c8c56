#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Connections held across configuration changes: whatever exlbd's proxy is
# in the middle of when a change lands, the connection finishes as it would
# have without the change, and nothing it borrowed from the old plan is used
# after it is freed (run against the ASan build; a use-after-free aborts it).
#
# The network is lib/lbnet.sh's:
#   client                 lb (exlbd --no-kernel)               rs1, rs2
#   lt-cl 198.18.20.2 ---- lt-lb 198.18.20.1                     nginx :80
#                                VIP 198.18.20.10                rs1 also dovecot :143
#                                  :443 Exch   HTTPS offloaded, SubVSs OWA, EWS
#                                  :993 IMAPS  offloaded tunnel to rs1:143
#                                  :143 IMAPST IMAP STARTTLS to rs1:143
#                          lt-br 198.18.21.1 ----- rs1 198.18.21.11, rs2 198.18.21.12
#
# Each round, heldconns.py holds EXLB_LIFETIME_COUNT connections in each of
# eight phases (before the ClientHello, mid handshake, mid request head, mid
# request body, idle keep-alive, in a tunnel, a tunnel before its
# ClientHello, a STARTTLS session in its line phase); then one change is
# made -- CipherSet, a certificate replaced, a content rule, a real server
# disabled/enabled -- and seen to take effect on a new connection; then every
# held connection is finished and must succeed. The four changes are made
# EXLB_LIFETIME_ROUNDS times in turn (default 8: each one both ways).
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# EXLBD_TLS_RELAY, EXLB_LIFETIME_ROUNDS (8), EXLB_LIFETIME_COUNT (3),
# KEEP=1 keeps the temp dir. Needs root, iproute2, nginx, dovecot, curl,
# openssl, python3, jq. TAP, the plan last; exits 0 only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx dovecot curl openssl jq python3 timeout; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"
ROUNDS=${EXLB_LIFETIME_ROUNDS:-8}
COUNT=${EXLB_LIFETIME_COUNT:-3}
readonly PHASES=8	# heldconns.py's

readonly MAIL=mail.example.test CONTOSO=contoso.example.test

T=$(mktemp -d /tmp/exlb-lifetime.XXXXXX)
chmod 755 "$T"
export EXRS_DIR=$T/rs EXRS_BIG_MB=0 MAILRS_DIR=$T/mail
SOCK=$T/exlbd.sock
DAEMON_PID=
HELD_PID=

# shellcheck source=lib/lbnet.sh
source "$here/lib/lbnet.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"
# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"
# shellcheck source=lib/mail-rs.sh
source "$here/lib/mail-rs.sh"

cleanup() {
	[ -n "${HELD_PID:-}" ] && kill "$HELD_PID" 2>/dev/null
	exlbd_kill
	mailrs_cleanup 2>/dev/null
	exrs_cleanup 2>/dev/null
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT


echo "TAP version 13"

# ---- the network: four namespaces, nothing routed out

lbnet_setup lt 198.18.20 || skip "cannot create network namespaces"
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"

# ---- the servers: nginx on both, dovecot on rs1

exrs_setup rs1 "$NS_RS1" $RS1 && exrs_setup rs2 "$NS_RS2" $RS2
report $? "nginx as Exchange servers rs1 ($RS1) and rs2 ($RS2)"
mailrs_setup "$NS_RS1" $RS1 >>"$T/mailrs.log" 2>&1
report $? "dovecot and postfix on rs1"

# ---- certificates: two generations of "mail", and contoso (SNI)

mkcert() {	# mkcert FILE CN
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=$2" -addext "subjectAltName=DNS:$2" \
		-keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null
}
mkcert mail-a $MAIL && mkcert mail-b $MAIL && mkcert contoso $CONTOSO
report $? "test certificates: mail (two generations), contoso (ECDSA P-256)"
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$T/$1.pem" | cut -d= -f2; }
declare -A FP=([mail-a]=$(fingerprint mail-a) [mail-b]=$(fingerprint mail-b))

# ---- exlbd

opts=()
[ -n "${EXLBD_TLS_RELAY:-}" ] && opts+=("--tls-relay=$EXLBD_TLS_RELAY")
exlbd_start --health-checks "exlbd runs in the LB namespace" "${opts[@]}"

cfg cert add mail "$T/mail-a.pem" "$T/mail-a.key"
cfg cert add contoso "$T/contoso.pem" "$T/contoso.key"
cfg vs add $VIP 443 tcp nickname=Exch VStype=http SSLAcceleration=1 "CertFile=mail contoso" \
	CipherSet=BestPractices Schedule=rr
for v in owa ews; do
	cfg subvs add Exch nickname=${v^^} Schedule=rr CheckType=http CheckUrl=/$v/healthcheck.htm CheckUseGet=1
	cfg rule add $v matchtype=regex "pattern=/^\/$v.*/" nocase=1
	cfg rule attach "Exch/${v^^}" $v
done
cfg rs add Exch $RS1 port=80 addtoallsubvs=1
cfg rs add Exch $RS2 port=80 addtoallsubvs=1
cfg vs add $VIP 993 tcp nickname=IMAPS VStype=gen SSLAcceleration=1 CertFile=mail \
	CipherSet=BestPractices CheckType=imap CheckPort=143
cfg rs add IMAPS $RS1 port=143
cfg vs add $VIP 143 tcp nickname=IMAPST VStype=tls StartTLSMode=4 SSLAcceleration=1 \
	CertFile=mail CipherSet=BestPractices CheckType=imap CheckPort=143
cfg rs add IMAPST $RS1 port=143
report "${cfg_bad:-0}" "configured: Exch :443 (OWA, EWS), IMAPS :993 (offloaded), IMAPST :143 (STARTTLS)"
readonly TARGETS=6	# OWA and EWS x 2, IMAPS, IMAPST
health_up() { ctl -j status 2>/dev/null | jq -r '[.vs[] | ((.subvs // [])[] | .rs // [] | .[]),
	(.rs // [] | .[]) | select(.health == "up")] | length'; }
all_up() { [ "$(health_up)" = $TARGETS ]; }
wait_for 30 all_up
report $? "all $TARGETS health targets up after $WAITED s ($(health_up) up)"

# ---- what a new connection sees: the evidence that a change took effect

RESOLVE=(--resolve "$MAIL:443:$VIP")
status_of() {	# status_of PATH: the status of a GET on a new connection
	in_cl curl -sk --max-time 10 "${RESOLVE[@]}" -o /dev/null -w '%{http_code}' \
		"https://$MAIL$1" 2>/dev/null
}
rs_of() {	# rs_of PATH: which server answered a GET on a new connection
	in_cl curl -sk --max-time 10 "${RESOLVE[@]}" -o /dev/null -w '%header{x-rs}' \
		"https://$MAIL$1" 2>/dev/null
}
served_cert() {
	in_cl timeout 10 openssl s_client -connect $VIP:443 -servername $MAIL </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}
cbc_handshake() {	# a TLS 1.2 CBC suite: Backward_compatibility only
	in_cl timeout 10 openssl s_client -connect $VIP:443 -servername $MAIL -tls1_2 \
		-cipher 'ECDHE-ECDSA-AES128-SHA@SECLEVEL=0' </dev/null 2>&1 | grep -q '^New, TLS'
}
no_cbc_handshake() { ! cbc_handshake; }
only_rs1() {
	local i
	for i in 1 2 3 4; do [ "$(rs_of /owa/)" = rs1 ] || return 1; done
}
some_rs2() {
	local i
	for i in 1 2 3 4; do [ "$(rs_of /owa/)" = rs2 ] && return 0; done
	return 1
}
xowa_routed() { [ "$(status_of /xowa/)" = 200 ]; }
xowa_unrouted() { [ "$(status_of /xowa/)" != 200 ]; }
cert_is() { [ "$(served_cert)" = "${FP[$1]}" ]; }

report "$([ "$(status_of /owa/)" = 200 ] && [ "$(status_of /ews/)" = 200 ] &&
	cert_is mail-a && no_cbc_handshake && xowa_unrouted; echo $?)" \
	"before any change: /owa/ and /ews/ 200, certificate mail-a, no CBC suite, /xowa/ unrouted"

# change KIND WAY: makes the change and waits until a new connection shows it
change() {
	local kind=$1 way=$2
	case $kind.$way in
	cipher.0)
		for v in Exch IMAPS IMAPST; do cfg vs mod $v CipherSet=Backward_compatibility; done
		wait_for 10 cbc_handshake && WHAT="CipherSet=Backward_compatibility (a CBC suite handshakes)" ;;
	cipher.1)
		for v in Exch IMAPS IMAPST; do cfg vs mod $v CipherSet=BestPractices; done
		wait_for 10 no_cbc_handshake && WHAT="CipherSet=BestPractices (no CBC suite)" ;;
	cert.0)
		cfg cert add mail "$T/mail-b.pem" "$T/mail-b.key" replace=1
		wait_for 10 cert_is mail-b && WHAT="certificate mail replaced by mail-b (served)" ;;
	cert.1)
		cfg cert add mail "$T/mail-a.pem" "$T/mail-a.key" replace=1
		wait_for 10 cert_is mail-a && WHAT="certificate mail replaced by mail-a (served)" ;;
	rule.0)
		cfg rule mod owa "pattern=/^\/x?owa.*/"
		wait_for 10 xowa_routed && WHAT="rule owa matches /xowa/ (200)" ;;
	rule.1)
		cfg rule mod owa "pattern=/^\/owa.*/"
		wait_for 10 xowa_unrouted && WHAT="rule owa does not match /xowa/" ;;
	rs.0)
		cfg rs mod Exch/OWA $RS2 enable=0
		wait_for 10 only_rs1 && WHAT="rs2 disabled in OWA (4 new requests on rs1)" ;;
	rs.1)
		cfg rs mod Exch/OWA $RS2 enable=1
		wait_for 10 some_rs2 && WHAT="rs2 enabled in OWA (rs2 answers again)" ;;
	esac
}

# ---- the rounds

readonly KINDS=(cipher cert rule rs)
for ((round = 0; round < ROUNDS; round++)); do
	kind=${KINDS[round % 4]}
	way=$(((round / 4) % 2))
	coproc HELD { in_cl timeout 120 python3 "$here/heldconns.py" $VIP "$COUNT" $MAIL 2>>"$T/held.log"; }
	ready=
	read -r -t 60 -u "${HELD[0]}" ready
	report "$([ "$ready" = "ready $((PHASES * COUNT))" ]; echo $?)" \
		"round $round: $((PHASES * COUNT)) connections held in $PHASES phases ($ready)"
	WHAT=
	cfg_bad=
	change "$kind" "$way"
	report "$([ -n "$WHAT" ] && [ -z "$cfg_bad" ]; echo $?)" \
		"round $round: $kind change: ${WHAT:-no effect seen in 10 s} (after ${WAITED:-?} s)"
	echo go >&"${HELD[1]}"
	result=
	read -r -t 120 -u "${HELD[0]}" result
	wait "${HELD_PID:-}" 2>/dev/null
	HELD_PID=
	summary=$(jq -r 'to_entries | map("\(.key) \(.value.ok)/\(.value.of)" +
		(if .value.error then " (\(.value.error))" else "" end)) | join(", ")' <<<"$result" 2>/dev/null)
	all=$(jq -r '[.[] | select(.ok == .of)] | length' <<<"$result" 2>/dev/null)
	report "$([ "${all:-0}" = $PHASES ]; echo $?)" \
		"round $round: every held connection finished after the $kind change: ${summary:-no result: $result}"
	if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
		diag "exlbd died:" "$(grep -m 5 -A 12 'ERROR: AddressSanitizer\|runtime error' "$T/exlbd.log")"
		break
	fi
done

# ---- afterwards

if [ "${EXLBD_TLS_RELAY:-}" = ktls ]; then
	n=$(ip netns exec "$NS_LB" awk '$1 == "TlsTxSw" { print $2 }' /proc/net/tls_stat 2>/dev/null)
	report "$([ "${n:-0}" -gt 0 ]; echo $?)" "--tls-relay ktls: the kernel carried TLS sessions (TlsTxSw ${n:-none})"
fi
check "exlbd is still running after $ROUNDS rounds" kill -0 "$DAEMON_PID"
status_answers() { ctl status >/dev/null; }
check "exlbctl status answers" status_answers
exlbd_stop_checked
[ "$TAP_FAILED" = 0 ] || diag "exlbd log:" "$(tail -n 30 "$T/exlbd.log")"
tap_end
