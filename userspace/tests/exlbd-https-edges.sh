#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Documented behaviours of exlbd's HTTPS proxy that exlbd-https.sh does not
# reach, end to end with real clients (curl, openssl s_client, python) and
# real nginx servers:
#
#   - ReencryptVerify=1 (docs/tls.md): the real server's certificate must
#     chain to the CA store and carry ReverseSNIHostname; an untrusted or a
#     wrong-name certificate fails the server connection and the client gets
#     the VS's ErrorCode answer, a trusted right-name one is served. The CA
#     store is OpenSSL's default (SSL_CERT_FILE points it at the test's CA,
#     so the machine's store is not touched).
#   - CipherSet=Backward_compatibility serves TLS 1.0 and 1.1 clients where
#     TLSType leaves those versions on; BestPractices never does.
#   - NTLM (docs/proxy.md): a client connection bound to its server
#     connection is closed when the server closes that connection (in a
#     response, and while idle); an unbound one goes on with a new one.
#   - a SubVS without rules is the catch-all, even when listed first; without
#     it, an unmatched request gets the ErrorCode answer.
#   - header rules attached to a VS (docs/content-rules.md, docs/tls.md):
#     request add / delete (by name, by pattern) / replace / modify URL seen
#     by the server, response add / delete / replace seen by the client;
#     StrictTransportSecurity on a TLS VS, not on a plain one.
#
# The network is lib/lbnet.sh's:
#   client                 lb (exlbd --no-kernel)                rs1, rs2
#   he-cl 198.18.50.2 ---- he-lb 198.18.50.1                      nginx :80 :443
#                                VIP  198.18.50.10 :443 Edge      (lib/exchange-rs.sh)
#                                                  :80  Plain
#                                VIP2 198.18.50.11 :443 Verify -> rs1:443
#                                                  :4443 Old
#                          he-br 198.18.51.1 ---- rs1 198.18.51.11, rs2 198.18.51.12
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# KEEP=1 keeps the temp dir. exlbd runs with health checks whatever
# EXLBD_NO_HEALTH_CHECKS says: everything it checks is in the namespaces.
# Needs root, iproute2 (ip, ss), nginx, curl, openssl, python3, jq. TAP, the
# plan last; exits 0 only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip ss nginx curl openssl jq python3 timeout; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"

readonly MAIL=mail.example.test GOOD=good.example.test WRONG=wrong.example.test \
	OTHER=other.example.test EXRS_NAME=exrs.example.test

T=$(mktemp -d /tmp/exlb-edges.XXXXXX)
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
	[ -n "${KA_PID:-}" ] && kill "$KA_PID" 2>/dev/null
	exlbd_kill
	exrs_cleanup 2>/dev/null
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT


echo "TAP version 13"

lbnet_setup he 198.18.50 || skip "cannot create network namespaces"
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"

# ---- certificates: the VS's, a test CA, two server certificates it signed

mkcert() {	# mkcert NAME CN: self-signed
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=$2" -addext "subjectAltName=DNS:$2" \
		-keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null
}
mkleaf() {	# mkleaf NAME CN: signed by the test CA
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -set_serial "0x$RANDOM$RANDOM" \
		-days 30 -extfile <(printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n' "$2") \
		-out "$T/$1.pem" 2>/dev/null
}
mkcert mail $MAIL && mkcert ca "exlb edges test CA" && mkleaf good $GOOD && mkleaf other $OTHER &&
	chmod 644 "$T"/*.key
report $? "certificates: mail (self-signed), a test CA, $GOOD and $OTHER signed by it"

# ---- the servers: nginx, with a few extra locations, and on rs1 two more
# :443 servers chosen by SNI (the default :443 server has exrs's self-signed
# certificate for $EXRS_NAME)

# shellcheck disable=SC2016,SC2089,SC2090	# nginx variables, literal text
EXRS_SERVER_CONF='
		add_header X-Seen-SNI $ssl_server_name always;
		location ~ "^/[^/]+/close1$" {	# answers with Connection: close
			keepalive_requests 1;
			return 200 "close1 conn $connection\n";
		}
		location ~ "^/[^/]+/idle1s$" {	# closes the connection after 1 s idle
			keepalive_timeout 1s;
			return 200 "idle1s conn $connection\n";
		}
		location ~ "^/[^/]+/headers$" {	# the request headers the rules touch
			return 200 "added=[$http_x_edge_added] secret=[$http_x_edge_secret] repl=[$http_x_edge_repl] drop=[$http_x_edge_drop_a$http_x_edge_drop_b] uri=[$request_uri]\n";
		}'
# shellcheck disable=SC2090
export EXRS_SERVER_CONF
sni_server() {	# sni_server NAME CERT: rs1's certificate for SNI NAME (requests
	# are still served by the main server: nginx picks it by Host)
	printf '\n\tserver { listen %s:443 ssl; server_name %s; ssl_certificate %s/%s.pem; ssl_certificate_key %s/%s.key; }' \
		"$RS1" "$1" "$T" "$2" "$T" "$2"
}
EXRS_HTTP_CONF="$(sni_server $GOOD good)$(sni_server $WRONG other)" exrs_setup rs1 "$NS_RS1" $RS1 &&
	exrs_setup rs2 "$NS_RS2" $RS2
report $? "nginx as Exchange servers rs1 ($RS1) and rs2 ($RS2), :80 and :443"

# what rs1:443 presents to a verifying client, by SNI: the reason each
# ReencryptVerify case below passes or fails
verify_from_lb() {	# verify_from_lb SNI: "Verify return code: N (...)"
	in_lb timeout 10 openssl s_client -connect $RS1:443 -servername "$1" -CAfile "$T/ca.pem" \
		-verify_hostname "$1" </dev/null 2>/dev/null | grep -m1 'Verify return code' | sed 's/^ *//'
}
v_good=$(verify_from_lb $GOOD) v_wrong=$(verify_from_lb $WRONG) v_self=$(verify_from_lb $EXRS_NAME)
report "$([[ $v_good == *"code: 0 "* && $v_wrong == *"code: 62 "* && $v_self == *"code: 18 "* ]]; echo $?)" \
	"rs1:443 by SNI, verified against the test CA: $GOOD '$v_good', $WRONG '$v_wrong', $EXRS_NAME '$v_self'"

# ---- exlbd: its default CA store is the test CA (OpenSSL's SSL_CERT_FILE)

diag "exlbd with SSL_CERT_FILE=$T/ca.pem"
EXLBD_WRAP=(env SSL_CERT_FILE="$T/ca.pem")
# health checks on (TCP, Kemp's default): an unchecked RS is not served
exlbd_start --health-checks "exlbd runs in the LB namespace" --access-log "$ALOG"

cfg cert add mail "$T/mail.pem" "$T/mail.key"
cfg vs add $VIP 443 tcp nickname=Edge VStype=http SSLAcceleration=1 CertFile=mail \
	ErrorCode=503 "ErrorUrl=edge: no server" Schedule=rr
# the SubVS without rules first: rules are tried before it all the same
cfg subvs add Edge nickname=Rest Schedule=rr
for v in ews owa; do
	cfg subvs add Edge nickname=${v^^} Schedule=rr
	cfg rule add $v matchtype=regex "pattern=/^\/$v.*/" nocase=1
	cfg rule attach "Edge/${v^^}" $v
	cfg rs add "Edge/${v^^}" $RS1 port=80
done
cfg rs add Edge/Rest $RS2 port=80
cfg vs add $VIP 80 tcp nickname=Plain VStype=http
cfg rs add Plain $RS1 port=80
cfg vs add $VIP2 443 tcp nickname=Verify VStype=http SSLAcceleration=1 CertFile=mail SSLReencrypt=1 \
	ReverseSNIHostname=$EXRS_NAME ErrorCode=503 "ErrorUrl=verify: no server"
cfg rs add Verify $RS1 port=443
cfg vs add $VIP2 4443 tcp nickname=Old VStype=http SSLAcceleration=1 CertFile=mail \
	CipherSet=Backward_compatibility TLSType=1
cfg rs add Old $RS1 port=80
report "${cfg_bad:-0}" "configured: Edge (SubVSs Rest without rules, EWS, OWA), Plain :80, Verify (re-encrypting), Old"

readonly TARGETS=6	# Rest, EWS, OWA, Plain, Verify, Old: one RS each
health_up() { ctl -j status 2>/dev/null | jq -r '[.vs[] | ((.subvs // [])[] | .rs // [] | .[]),
	(.rs // [] | .[]) | select(.health == "up")] | length'; }
all_up() { [ "$(health_up)" = $TARGETS ]; }
wait_for 30 all_up
report $? "all $TARGETS health targets up after $WAITED s ($(health_up) up)"

obj_id() { ctl -j "$1" show "$2" 2>/dev/null | jq -r 'if type == "array" then .[0] else . end | .id'; }
declare -A SUB=([Rest]=$(obj_id subvs Edge/Rest) [EWS]=$(obj_id subvs Edge/EWS) [OWA]=$(obj_id subvs Edge/OWA))

# ---- helpers

RESOLVE=(--resolve "$MAIL:443:$VIP" --resolve "$MAIL:80:$VIP" --resolve "$MAIL:4443:$VIP2")
fetch() {	# fetch [curl options] URL: CODE, BODY; hdr NAME
	: > "$T/h"; : > "$T/b"
	CODE=$(in_cl curl -sk --max-time 20 "${RESOLVE[@]}" -D "$T/h" -o "$T/b" -w '%{http_code}' "$@" 2>/dev/null)
	BODY=$(head -c 4096 "$T/b" | tr -d '\0')
}
fetch_verify() {	# the Verify VS (VIP2:443)
	fetch --resolve "$MAIL:443:$VIP2" "$@"
}
hdr() { grep -i "^$1:" "$T/h" | tail -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
has_hdr() { grep -qi "^$1:" "$T/h"; }
in_rs_logs() { grep -qF -- "$1" "$(exrs_log rs1)" "$(exrs_log rs2)"; }

# ---- ReencryptVerify

fetch_verify "https://$MAIL/owa/?t=v0-$$"
report "$([ "$CODE" = 200 ] && [ "$(hdr X-Backend-Scheme)" = https ] && [ "$(hdr X-Seen-SNI)" = $EXRS_NAME ]; echo $?)" \
	"ReencryptVerify=0: rs1's self-signed certificate is accepted (status $CODE, server saw $(hdr X-Backend-Scheme), SNI $(hdr X-Seen-SNI))"

cfg vs mod Verify ReencryptVerify=1
verify_refused() {	# verify_refused MARK: the VS's ErrorCode answer, term SC, the server saw nothing
	local l
	fetch_verify "https://$MAIL/owa/?t=$1"
	[ "$CODE" = 503 ] && [ "$BODY" = "verify: no server" ] || return 1
	l=$(alog_line "t=$1") && [ "$(field "$l" term)" = SC ] && ! in_rs_logs "t=$1"
}
wait_for 5 verify_refused "untrusted-$$"
report $? "ReencryptVerify=1, rs1's self-signed certificate for $EXRS_NAME: status $CODE '$BODY', term $(field "$(alog_line "t=untrusted-$$")" term) (want 503, the ErrorUrl text, SC, nothing at rs1)"

cfg vs mod Verify ReverseSNIHostname=$WRONG
wait_for 5 verify_refused "wrong-$$"
report $? "ReencryptVerify=1, a CA-signed certificate for $OTHER under SNI $WRONG: status $CODE '$BODY', term $(field "$(alog_line "t=wrong-$$")" term) (want 503, the ErrorUrl text, SC, nothing at rs1)"

cfg vs mod Verify ReverseSNIHostname=$GOOD
verify_served() {
	fetch_verify "https://$MAIL/owa/?t=good-$$"
	[ "$CODE" = 200 ] && [ "$(hdr X-Seen-SNI)" = $GOOD ] && [ "$(hdr X-Backend-Scheme)" = https ]
}
wait_for 5 verify_served
report $? "ReencryptVerify=1, a CA-signed certificate for $GOOD: status $CODE from $(hdr X-RS) over $(hdr X-Backend-Scheme), SNI $(hdr X-Seen-SNI)"

# ---- Backward_compatibility: TLS 1.0 and 1.1 clients

old_get() {	# old_get VERSION-OPTION: a GET over that TLS version; 0 if answered 200
	printf 'GET /owa/?t=old HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' $MAIL |
		in_cl timeout 10 openssl s_client -connect $VIP2:4443 -servername $MAIL "$1" \
		-cipher 'DEFAULT@SECLEVEL=0' -ign_eof >"$T/old.out" 2>&1
	grep -q '^HTTP/1.1 200' "$T/old.out"
}
proto() { sed -n 's/^ *Protocol *: *//p' "$T/old.out" | head -n 1; }
old_fails() { ! old_get "$1"; }
old_get -tls1; r10=$? p10=$(proto)
old_get -tls1_1; r11=$? p11=$(proto)
report "$([ $r10 = 0 ] && [ "$p10" = TLSv1 ] && [ $r11 = 0 ] && [ "$p11" = TLSv1.1 ]; echo $?)" \
	"Backward_compatibility, TLSType=1: a TLS 1.0 client gets 200 ($r10, ${p10:-no protocol}), a TLS 1.1 client too ($r11, ${p11:-no protocol})"
cfg vs mod Old TLSType=3
wait_for 5 old_fails -tls1; r10=$?
old_get -tls1_1; r11=$?
report "$([ $r10 = 0 ] && [ $r11 = 0 ]; echo $?)" \
	"Backward_compatibility, TLSType=3 (TLS 1.0 off): TLS 1.0 refused ($r10), TLS 1.1 served ($r11)"
cfg vs mod Old TLSType=1 CipherSet=BestPractices
wait_for 5 old_fails -tls1_1; r11=$?
old_fails -tls1; r10=$?
old_get -tls1_2; r12=$?
report "$([ $r10 = 0 ] && [ $r11 = 0 ] && [ $r12 = 0 ]; echo $?)" \
	"BestPractices, TLSType=1: TLS 1.0 refused ($r10), TLS 1.1 refused ($r11), TLS 1.2 served ($r12)"

# ---- a SubVS without rules is the catch-all

route() {	# route PATH: "RS/SUBVS-ID" of one request, by X-RS and the access log
	local l
	fetch "https://$MAIL$1"
	l=$(alog_line "$1")
	echo "$CODE:$(hdr X-RS)/$(field "$l" subvs)"
}
r_ews=$(route "/ews/?t=route-$$") r_owa=$(route "/owa/?t=route-$$") r_oth=$(route "/other/?t=route-$$")
report "$([ "$r_ews" = "200:rs1/${SUB[EWS]}" ] && [ "$r_owa" = "200:rs1/${SUB[OWA]}" ] &&
	[ "$r_oth" = "200:rs2/${SUB[Rest]}" ]; echo $?)" \
	"Rest (no rules, listed first) takes only what no rule took: /ews/ $r_ews, /owa/ $r_owa, /other/ $r_oth (want rs1/${SUB[EWS]}, rs1/${SUB[OWA]}, rs2/${SUB[Rest]})"

# ---- NTLM: a bound client connection ends with its server connection

NTLM1='Authorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=='
KA_PID=
ka() {	# ka THEN REQ [REQ2]: ka.py as a coprocess; KA_R1 its first answer
	coproc KA { in_cl timeout 30 python3 "$here/ka.py" $VIP 443 $MAIL "$@" 2>>"$T/ka.log"; }
	KA_R1=
	read -r -t 15 -u "${KA[0]}" KA_R1
}
ka_result() {	# the coprocess's last line; it ends
	local l=
	read -r -t 15 -u "${KA[0]}" l
	wait "$KA_PID" 2>/dev/null
	KA_PID=
	echo "$l"
}
j1() { jq -r "$1" <<<"$KA_R1" 2>/dev/null; }
# server_conn_gone ADDR:PORT (X-Seen-Client of the first answer): that server
# connection is no longer established on the LB
server_conn_gone() {
	local port=${1##*:}
	[ -n "$port" ] && [ -z "$(in_lb ss -Htn state established "( sport = :$port and dport = :80 )")" ]
}

# the server answers with Connection: close
ka closed "/ews/close1?t=ntlm-close1-$$|$NTLM1"
res=$(ka_result)
report "$([ "$(j1 .r1.code)" = 200 ] && [ "$(jq -r .closed <<<"$res")" = true ]; echo $?)" \
	"NTLM-bound, the server's answer has Connection: close: answer $(j1 .r1.code), then the client connection closed ($res)"
ka req2 "/ews/close1?t=plain-close1-$$" "/ews/?t=plain-close1b-$$"
res=$(ka_result)
report "$([ "$(j1 .r1.code)" = 200 ] && [ "$(jq -r .r2.code <<<"$res")" = 200 ] &&
	[ "$(jq -r .r2.req <<<"$res")" = 1 ]; echo $?)" \
	"unbound, same answer: the client connection goes on, on a new server connection (2nd answer $(jq -r '"\(.r2.code // .error) backend request \(.r2.req)"' <<<"$res" 2>/dev/null))"

# the server closes the idle connection after 1 s
ka wait-closed "/ews/idle1s?t=ntlm-idle-$$|$NTLM1"
wait_for 5 server_conn_gone "$(j1 .r1.client)"; gone=$?
echo go >&"${KA[1]}"
res=$(ka_result)
report "$([ "$(j1 .r1.code)" = 200 ] && [ $gone = 0 ] && [ "$(jq -r .closed <<<"$res")" = true ]; echo $?)" \
	"NTLM-bound, the server closes the idle connection (after ${WAITED} s): the client connection is closed ($res)"
ka wait-req2 "/ews/idle1s?t=plain-idle-$$" "/ews/?t=plain-idle2-$$"
wait_for 5 server_conn_gone "$(j1 .r1.client)"; gone=$?
echo go >&"${KA[1]}"
res=$(ka_result)
report "$([ "$(j1 .r1.code)" = 200 ] && [ $gone = 0 ] && [ "$(jq -r .r2.code <<<"$res")" = 200 ] &&
	[ "$(jq -r .r2.conn <<<"$res")" != "$(j1 .r1.conn)" ]; echo $?)" \
	"unbound, the server closes the idle connection (after ${WAITED} s): the next request is served on a new server connection ($(jq -r '"\(.r2.code // .error) conn \(.r2.conn)"' <<<"$res" 2>/dev/null), was $(j1 .r1.conn))"

# ---- header rules and HSTS

HDRS=(-H 'X-Edge-Secret: s3cret' -H 'X-Edge-Drop-A: a' -H 'X-Edge-Drop-B: b' -H 'X-Edge-Repl: old-value-old')
fetch "${HDRS[@]}" "https://$MAIL/ews/headers?t=nohdr-$$"
report "$([ "$CODE" = 200 ] &&
	[ "$BODY" = "added=[] secret=[s3cret] repl=[old-value-old] drop=[ab] uri=[/ews/headers?t=nohdr-$$]" ] &&
	[ "$(hdr X-RS)" = rs1 ] && [ "$(hdr X-Backend-Scheme)" = http ] && ! has_hdr Strict-Transport-Security; echo $?)" \
	"without rules the server sees the headers as sent ('$BODY'), the client X-RS $(hdr X-RS), X-Backend-Scheme $(hdr X-Backend-Scheme), no HSTS"

cfg rule add hadd type=addheader header=X-Edge-Added replacement=by-exlb
cfg rule add hdel type=deleteheader header=X-Edge-Secret
cfg rule add hdelre type=deleteheader "pattern=/^X-Edge-Drop-/"
cfg rule add hrepl type=replaceheader header=X-Edge-Repl pattern=/old/ replacement=new
cfg rule add hurl type=modifyurl "pattern=/^\/legacy\//" replacement=/ews/
for r in hadd hdel hdelre hrepl hurl; do cfg rule attach Edge $r request; done
cfg rule add radd type=addheader header=X-Edge-Resp replacement=from-exlb
cfg rule add rdel type=deleteheader header=X-Backend-Scheme
cfg rule add rrepl type=replaceheader header=X-RS "pattern=/^rs(\d)$/" 'replacement=server-\1'
for r in radd rdel rrepl; do cfg rule attach Edge $r response; done
cfg vs mod Edge HSTS=31536000
report "${cfg_bad:-0}" "rules attached to Edge: request addheader, deleteheader (name, pattern), replaceheader, modifyurl; response addheader, deleteheader, replaceheader; HSTS=31536000"

rules_seen() { fetch "${HDRS[@]}" "https://$MAIL/ews/headers?t=hdr-$$"; [ "$CODE" = 200 ] && has_hdr X-Edge-Resp; }
wait_for 5 rules_seen
b=$BODY
report "$([[ $b == *"added=[by-exlb] "* ]]; echo $?)" "addheader: the server sees X-Edge-Added '${b%% secret*}'"
report "$([[ $b == *"secret=[] "* ]]; echo $?)" "deleteheader header=X-Edge-Secret: the server sees none ($(grep -o 'secret=\[[^]]*\]' <<<"$b"))"
report "$([[ $b == *"drop=[] "* ]]; echo $?)" "deleteheader pattern=/^X-Edge-Drop-/: the server sees neither X-Edge-Drop-A nor -B ($(grep -o 'drop=\[[^]]*\]' <<<"$b"))"
report "$([[ $b == *"repl=[new-value-new] "* ]]; echo $?)" "replaceheader /old/ -> new, every match: the server sees $(grep -o 'repl=\[[^]]*\]' <<<"$b")"
report "$([ "$(hdr X-Edge-Resp)" = from-exlb ]; echo $?)" "response addheader: the client sees X-Edge-Resp '$(hdr X-Edge-Resp)'"
report "$(! has_hdr X-Backend-Scheme; echo $?)" "response deleteheader: the client sees no X-Backend-Scheme ('$(hdr X-Backend-Scheme)')"
report "$([ "$(hdr X-RS)" = server-1 ]; echo $?)" "response replaceheader /^rs(\\d)\$/ -> server-\\1: the client sees X-RS '$(hdr X-RS)'"
report "$([ "$(hdr Strict-Transport-Security)" = max-age=31536000 ]; echo $?)" \
	"HSTS=31536000: the client sees Strict-Transport-Security '$(hdr Strict-Transport-Security)'"
fetch "https://$MAIL/legacy/headers?t=url-$$"
report "$([ "$CODE" = 200 ] && [[ $BODY == *"uri=[/ews/headers?t=url-$$]" ]] && ! in_rs_logs "/legacy/headers?t=url-$$"; echo $?)" \
	"modifyurl /^\\/legacy\\// -> /ews/: /legacy/headers?t=url reaches the server as ${BODY##*uri=}"
err=$(ctl vs mod Plain HSTS=600 2>&1)
rc=$?
fetch "http://$MAIL/ews/?t=plain-$$"
report "$([ $rc = 1 ] && [[ $err == *StrictTransportSecurity*SSLAcceleration* ]] && [ "$CODE" = 200 ] &&
	[ "$(hdr X-RS)" = rs1 ] && ! has_hdr Strict-Transport-Security; echo $?)" \
	"HSTS=600 on the plain-HTTP VS Plain is refused ('$err'), and it sends none (status $CODE, '$(hdr Strict-Transport-Security)')"

# ---- without the catch-all, an unmatched request gets the VS's ErrorCode answer

cfg subvs del Edge/Rest
no_catchall() { fetch "https://$MAIL/other/?t=nocatch-$$"; [ "$CODE" = 503 ]; }
wait_for 5 no_catchall
l=$(alog_line "t=nocatch-$$")
report "$([ "$CODE" = 503 ] && [ "$BODY" = "edge: no server" ] && [ "$(field "$l" term)" = LR ] &&
	! in_rs_logs "t=nocatch-$$"; echo $?)" \
	"Rest deleted: /other/ gets $CODE '$BODY', term $(field "$l" term) (want 503, the ErrorUrl text, LR, nothing at a server)"

# ---- afterwards

check "exlbd is still running" kill -0 "$DAEMON_PID"
exlbd_stop_checked
[ "$TAP_FAILED" = 0 ] || diag "exlbd log:" "$(tail -n 30 "$T/exlbd.log")"
tap_end
