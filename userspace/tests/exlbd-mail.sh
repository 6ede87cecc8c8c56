#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# exlbd's mail proxy end to end with real servers and real clients: STARTTLS
# for SMTP, IMAP and POP3 (VStype tls) and TLS offload of SMTPS, IMAPS and
# POPS (VStype gen + SSLAcceleration), on the host's userspace TLS path.
#
#   client (swaks, curl,        lb (exlbd --no-kernel)          rs
#   openssl, python)            VIP 198.18.20.10                dovecot + postfix
#   ml-cl 198.18.20.2 --------- ml-lb 198.18.20.1               198.18.21.11
#                               ml-rs 198.18.21.1 ------------- (lib/mail-rs.sh)
#                                                               silent :25 on
#                                                               198.18.21.12
#
# VSs on the VIP: 25 SMTP STARTTLS (mode 1), 2525 SMTP always (mode 2),
# 143 IMAP STARTTLS, 110 POP3 STARTTLS, 465 SMTPS / 993 IMAPS / 995 POPS
# offloaded, 2526 STARTTLS to a server that never greets, 1143 IMAP with
# Idletime 3, 2527 SMTP STARTTLS without a certificate.
#
# The story: a message submitted over SMTP STARTTLS (swaks) is fetched over
# IMAP STARTTLS and POP3 STLS (python, curl) byte for byte as stored; the
# same over SMTPS/IMAPS/POPS; capability lists before and after TLS; the
# injection attempts (commands pipelined behind STARTTLS) never reach the
# server; "always" refuses MAIL FROM / LOGIN / USER before TLS; overlong
# lines, garbage instead of TLS, a silent server, an idle client, a VS
# without certificate; the access log; exlbd (ASan build in make test)
# still runs.
#
# Environment: EXLBD, EXLBCTL (default ../build/...), EXLBD_TLS_RELAY,
# EXLB_MAIL_EXPECT_TLS (ktls|userspace: every TLS session's access log line
# must say so), PYTHON, KEEP=1 keeps the temp dir.
# Needs root and: ip, dovecot, postfix, swaks, curl, openssl, python3,
# timeout. Exit 4 = skipped (a tool missing). TAP, plan last; exit 0 only
# if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip ss jq dovecot postfix swaks curl openssl timeout sha256sum; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)}
[ -n "$PYTHON" ] && "$PYTHON" -c 'import ssl, imaplib, poplib, smtplib' 2>/dev/null ||
	skip "python3 with ssl not installed"

EXLBD=$(realpath "${EXLBD:-$here/../build/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"
EXPECT_TLS=${EXLB_MAIL_EXPECT_TLS:-}
[ -z "$EXPECT_TLS" ] && [ "${EXLBD_TLS_RELAY:-}" = userspace ] && EXPECT_TLS=userspace

readonly CL_IP=198.18.20.2 LB_IP=198.18.20.1 VIP=198.18.20.10
readonly LB_RS_IP=198.18.21.1 RS=198.18.21.11 SILENT=198.18.21.12

T=$(mktemp -d /tmp/exlb-mail.XXXXXX)
chmod 755 "$T"
export MAILRS_DIR=$T/rs
NS_CL=exlb-ml-cl-$$
NS_LB=exlb-ml-lb-$$
NS_RS=exlb-ml-rs-$$
SOCK=$T/exlbd.sock
ALOG=$T/access.log
DAEMON_PID=
SILENT_PID=

# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"
# shellcheck source=lib/mail-rs.sh
source "$here/lib/mail-rs.sh"

cleanup() {
	[ -n "$SILENT_PID" ] && kill "$SILENT_PID" 2>/dev/null
	exlbd_kill
	mailrs_cleanup 2>/dev/null
	for ns in "$NS_CL" "$NS_LB" "$NS_RS"; do ip netns del "$ns" 2>/dev/null; done
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

in_cl() { ip netns exec "$NS_CL" "$@"; }
in_lb() { ip netns exec "$NS_LB" "$@"; }
in_rs() { ip netns exec "$NS_RS" "$@"; }

# mc MODE PORT ARGS...: the python client in the client namespace; its
# key=value output in $T/mc.out; val KEY reads one
mc() {	# mc MODE PORT ARGS... [-H ADDR]: ADDR instead of the VIP
	local mode=$1 port=$2 host=$VIP args=()
	shift 2
	while [ $# -gt 0 ]; do
		if [ "$1" = -H ]; then host=$2; shift 2; else args+=("$1"); shift; fi
	done
	in_cl timeout 40 "$PYTHON" "$here/mailc.py" "$mode" "$host" "$port" "${args[@]}" >"$T/mc.out" 2>&1
}
val() { sed -n "s/^$1=//p" "$T/mc.out" | head -n 1; }
mc_err() { val error; }

# wait_msg SECONDS STRING: a delivered message containing STRING appears;
# prints the path of a copy
wait_msg() {
	local i f
	for ((i = 0; i < $1 * 10; i++)); do
		f=$(grep -rlF -- "$2" "$(mailrs_maildir)/new" "$(mailrs_maildir)/cur" 2>/dev/null | head -n 1)
		# a copy: IMAP moves it from new/ to cur/ when it is read
		[ -n "$f" ] && cp "$f" "$T/stored.$2" && { echo "$T/stored.$2"; return 0; }
		sleep 0.1
	done
	return 1
}
# the stored message (LF) and a fetched one (CRLF) are the same bytes
# (temp files, not <(...): the test VM has no /dev/fd)
same_msg() {
	sed 's/\r$//' "$2" > "$T/lf.eml"
	cmp -s "$T/lf.eml" "$1" && return 0
	diag "$1 and $2 differ:" "$(diff "$T/lf.eml" "$1" | head -n 6)"
	return 1
}

alog_has() {	# alog_has REGEX: an access log line matching (waits <= 3 s)
	local i
	for ((i = 0; i < 30; i++)); do
		grep -qE -- "$1" "$ALOG" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# server_synced smtp|imap|pop3: positive evidence that the server's log
# holds every line of the sessions that ended before: a session of our own,
# straight to the server from its own address ($RS, which no relayed session
# has), and its line in the log. A relayed session's commands were answered
# before its client got its last reply, so they were logged before this.
server_synced() {
	local port cmd log re n i
	case $1 in
	smtp) port=25 cmd=QUIT log=$(mailrs_postfix_log) re=": connect from [^ ]*\[$RS\]" ;;
	imap) port=143 cmd="x LOGOUT" log=$(mailrs_dovecot_log) re="imap-login: .*rip=$RS," ;;
	pop3) port=110 cmd=QUIT log=$(mailrs_dovecot_log) re="pop3-login: .*rip=$RS," ;;
	esac
	n=$(grep -c -- "$re" "$log")
	in_rs timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" && read -r _ <&3 &&
		printf "%s\r\n" "$3" >&3 && cat <&3 >/dev/null' _ "$RS" "$port" "$cmd"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c -- "$re" "$log")" -gt "$n" ] && return 0
		sleep 0.1
	done
	diag "$1: no log line for a direct session to $RS:$port in 10 s"
	return 1
}

# ---- the network

for ns in "$NS_CL" "$NS_LB" "$NS_RS"; do
	ip netns add "$ns" || skip "cannot create network namespaces"
	ip -n "$ns" link set lo up
done
ip -n "$NS_CL" link add ml-cl type veth peer name ml-lb netns "$NS_LB"
ip -n "$NS_CL" addr add $CL_IP/24 dev ml-cl
ip -n "$NS_CL" link set ml-cl up
ip -n "$NS_LB" addr add $LB_IP/24 dev ml-lb
ip -n "$NS_LB" addr add $VIP/32 dev ml-lb
ip -n "$NS_LB" link set ml-lb up
ip -n "$NS_LB" link add ml-rs type veth peer name ml-rs netns "$NS_RS"
ip -n "$NS_LB" addr add $LB_RS_IP/24 dev ml-rs
ip -n "$NS_LB" link set ml-rs up
ip -n "$NS_RS" addr add $RS/24 dev ml-rs
ip -n "$NS_RS" addr add $SILENT/24 dev ml-rs
ip -n "$NS_RS" link set ml-rs up
ip -n "$NS_CL" route add $VIP/32 dev ml-cl
bad=
for ns in "$NS_CL" "$NS_LB" "$NS_RS"; do
	ip -n "$ns" route show table all | grep -q '^default' && bad+=" $ns"
done
report "$([ -z "$bad" ]; echo $?)" "three namespaces, no default route${bad:+ (not:$bad)}"

# ---- the real servers

[ -n "${EXLB_MAIL_L4:-}" ] && export MAILRS_TLS=1
# a server that does not start is a failure, not a skip: they are installed
mailrs_setup "$NS_RS" $RS 2>"$T/mailrs.err"
rc=$?
listening=$(in_rs ss -Hltn | awk '{ print $4 }' | grep -cxE "$RS:(25|110|143)")
report "$([ $rc = 0 ] && [ "$listening" = 3 ]; echo $?)" \
	"dovecot (IMAP 143, POP3 110) and postfix (SMTP 25) on $RS: setup status $rc, $listening of 3 listening"
[ $rc = 0 ] || { diag "$(cat "$T/mailrs.err")"; tap_end; exit 1; }
# a server that accepts and never speaks
in_rs timeout 170 "$PYTHON" -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("'$SILENT'", 25)); s.listen(16); held = []
while True:
    c, _ = s.accept(); held.append(c)
' 2>"$T/silent.err" &
SILENT_PID=$!
for ((i = 0; i < 100; i++)); do	# python starts slowly in a TCG VM
	in_rs ss -Hltn "src $SILENT and sport = :25" | grep -q LISTEN && break
	sleep 0.1
done
in_rs ss -Hltn "src $SILENT and sport = :25" | grep -q LISTEN
report $? "a silent server listens on $SILENT:25 $(head -c 300 "$T/silent.err")"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=mail.exlb.test" -addext "subjectAltName=DNS:mail.exlb.test" \
	-keyout "$T/mail.key" -out "$T/mail.pem" 2>/dev/null

# ---- exlbd

L4=${EXLB_MAIL_L4:-}
start=(--health-checks)
[ -n "$L4" ] && start+=(--kernel)
opts=(--access-log "$ALOG")
[ -n "${EXLBD_TLS_RELAY:-}" ] && opts+=("--tls-relay=$EXLBD_TLS_RELAY")
exlbd_start "${start[@]}" "exlbd runs in the LB namespace" "${opts[@]}"

cfg cert add mail "$T/mail.pem" "$T/mail.key"
tls=(SSLAcceleration=1 CertFile=mail TLSType=1 CipherSet=BestPractices)
cfg vs add $VIP 25 tcp nickname=SMTP-STARTTLS VStype=tls StartTLSMode=1 ServerInit=1 "${tls[@]}" \
	Persist=src PersistTimeout=3600 Idletime=120 CheckType=smtp
cfg rs add SMTP-STARTTLS $RS port=25
cfg vs add $VIP 2525 tcp nickname=SMTP-ALWAYS VStype=tls StartTLSMode=2 ServerInit=1 "${tls[@]}" CheckType=smtp
cfg rs add SMTP-ALWAYS $RS port=25
cfg vs add $VIP 143 tcp nickname=IMAP-STARTTLS VStype=tls StartTLSMode=4 ServerInit=4 "${tls[@]}" \
	Idletime=3600 CheckType=imap4
cfg rs add IMAP-STARTTLS $RS port=143
cfg vs add $VIP 110 tcp nickname=POP-STARTTLS VStype=tls StartTLSMode=6 ServerInit=6 "${tls[@]}" \
	Idletime=3600 CheckType=pop3
cfg rs add POP-STARTTLS $RS port=110
cfg vs add $VIP 465 tcp nickname=SMTPS-Offloaded VStype=gen ServerInit=1 "${tls[@]}" CheckType=smtp
cfg rs add SMTPS-Offloaded $RS port=25
cfg vs add $VIP 993 tcp nickname=IMAPS-Offloaded VStype=gen ServerInit=4 "${tls[@]}" CheckType=imap4
cfg rs add IMAPS-Offloaded $RS port=143
cfg vs add $VIP 995 tcp nickname=POPS-Offloaded VStype=gen ServerInit=6 "${tls[@]}" CheckType=pop3
cfg rs add POPS-Offloaded $RS port=110
cfg vs add $VIP 2526 tcp nickname=Silent VStype=tls StartTLSMode=1 ServerInit=1 "${tls[@]}" CheckType=none
cfg rs add Silent $SILENT port=25
cfg vs add $VIP 1143 tcp nickname=IMAP-Idle VStype=tls StartTLSMode=4 ServerInit=4 "${tls[@]}" \
	Idletime=3 CheckType=none
cfg rs add IMAP-Idle $RS port=143
cfg vs add $VIP 2527 tcp nickname=NoCert VStype=tls StartTLSMode=1 ServerInit=1 CheckType=none
cfg rs add NoCert $RS port=25
report "${cfg_bad:-0}" "configured with exlbctl: 10 mail VSs (STARTTLS, always, offloaded, silent, idle, no certificate)"

# The servers serve once their first health check passed: wait until every
# real server of every VS is up in exlbctl's status (a fixed count of " up: "
# log lines went stale once and let a session start before its VS's check).
rs_up() { ctl -j status 2>/dev/null | jq -r '[.vs[].rs[]] | "\([.[] | select(.health == "up")] | length) \(length)"'; }
all_rs_up() { local n; n=$(rs_up); [ -n "$n" ] && [ "${n% *}" = "${n#* }" ]; }
for ((i = 0; i < 100; i++)); do
	all_rs_up && in_lb ss -Hltn "sport = :2527" | grep -q LISTEN && break
	sleep 0.1
done
report "$(all_rs_up; echo $?)" "health checks smtp/imap4/pop3 see the real servers up ($(rs_up | sed 's/ / of /') RS)"

# ---- submit over SMTP STARTTLS, fetch over IMAP STARTTLS and POP3 STLS

SUBJ1="exlb-starttls-$$-$RANDOM"
head -c 60000 /dev/urandom | base64 > "$T/body1"
in_cl timeout 30 swaks --server $VIP --port 25 --tls --ehlo client.exlb.test \
	--from bob@example.test --to alice@exlb.test --header "Subject: $SUBJ1" \
	--body "$T/body1" >"$T/swaks1.out" 2>&1
rc=$?
report $rc "swaks submits a 80 KB message over SMTP STARTTLS through the LB (exit $rc)"
grep -q '^<~  220 2.0.0 Ready to start TLS' "$T/swaks1.out" ||
	grep -q '220 2.0.0 Ready to start TLS' "$T/swaks1.out"
report $? "STARTTLS answered by the LB: '$(grep -m1 '220 2.0.0' "$T/swaks1.out" | tr -d '\r')'"
MSG1=$(wait_msg 10 "$SUBJ1")
report $? "postfix delivered it into the Maildir (${MSG1##*/})"
grep -qF -- "$(head -c 4000 "$T/body1" | tail -n 3 | head -n 1)" "${MSG1:-/dev/null}"
report $? "the stored message holds the submitted body"

mc imap-starttls 143 "$SUBJ1" "$T/imap1.eml"
pre=$(val pre_caps) post=$(val post_caps)
[ -z "$(mc_err)" ] && [ "$(val found)" = 1 ] && same_msg "$MSG1" "$T/imap1.eml"
report $? "python imaplib: STARTTLS, LOGIN, FETCH: the message byte for byte as stored ($(val bytes) bytes)$(mc_err)"
[[ " $pre " == *" STARTTLS "* && " $pre " == *" LOGINDISABLED "* ]] &&
	[[ " $post " != *" STARTTLS "* && " $post " != *" LOGINDISABLED "* ]]
report $? "IMAP capabilities: before TLS STARTTLS+LOGINDISABLED added ($pre); after TLS neither ($post)"

mc pop3-stls 110 "$SUBJ1" "$T/pop1.eml"
pre=$(val pre_capa) post=$(val post_capa)
[ -z "$(mc_err)" ] && [ "$(val found)" = 1 ] && same_msg "$MSG1" "$T/pop1.eml"
report $? "python poplib: STLS, USER/PASS, RETR: the message byte for byte ($(val bytes) bytes)$(mc_err)"
[[ " $pre " == *" STLS "* && " $post " != *" STLS "* ]]
report $? "POP3 CAPA: STLS added before TLS ($pre), gone after ($post)"

in_cl timeout 30 curl -sk --ssl-reqd --max-time 20 -u alice:secret \
	"imap://$VIP/INBOX;UID=1" -o "$T/curl-imap.eml" 2>"$T/curl-imap.err"
rc=$?
[ $rc = 0 ] && [ -s "$T/curl-imap.eml" ] && grep -qF "$SUBJ1" "$T/curl-imap.eml"
report $? "curl imap:// --ssl-reqd (STARTTLS) fetches UID 1 (exit $rc, $(stat -c %s "$T/curl-imap.eml" 2>/dev/null) bytes)"
in_cl timeout 30 curl -sk --ssl-reqd --max-time 20 -u alice:secret \
	"pop3://$VIP/1" -o "$T/curl-pop.eml" 2>"$T/curl-pop.err"
rc=$?
[ $rc = 0 ] && grep -qF "$SUBJ1" "$T/curl-pop.eml" && same_msg "$MSG1" "$T/curl-pop.eml"
report $? "curl pop3:// --ssl-reqd (STLS) retrieves message 1 byte for byte (exit $rc)"

SUBJ2="exlb-curl-smtp-$$-$RANDOM"
printf 'From: bob@example.test\r\nTo: alice@exlb.test\r\nSubject: %s\r\n\r\nsent by curl\r\n' "$SUBJ2" >"$T/msg2"
in_cl timeout 30 curl -sk --ssl-reqd --max-time 20 "smtp://$VIP:25" --mail-from bob@example.test \
	--mail-rcpt alice@exlb.test -T "$T/msg2" 2>"$T/curl-smtp.err"
rc=$?
[ $rc = 0 ] && wait_msg 10 "$SUBJ2" >/dev/null
report $? "curl smtp:// --ssl-reqd (STARTTLS) submits; delivered (exit $rc)"

SUBJ3="exlb-smtplib-$$-$RANDOM"
printf 'From: bob@example.test\r\nTo: alice@exlb.test\r\nSubject: %s\r\n\r\nsent by smtplib\r\n' "$SUBJ3" >"$T/msg3"
mc smtp-starttls 25 bob@example.test alice@exlb.test "$T/msg3"
pre=$(val pre_ehlo) post=$(val post_ehlo)
[ "$(val sent)" = 1 ] && wait_msg 10 "$SUBJ3" >/dev/null
report $? "python smtplib: EHLO, STARTTLS, EHLO again, mail delivered$(mc_err)"
[[ " $pre " == *" starttls "* && " $post " != *" starttls "* ]]
report $? "EHLO: STARTTLS offered before TLS ($pre), not after ($post)"

for p in smtp imap pop3; do
	port=$(case $p in smtp) echo 25 ;; imap) echo 143 ;; pop3) echo 110 ;; esac)
	in_cl timeout 10 openssl s_client -connect $VIP:$port -starttls $p -servername mail.exlb.test \
		</dev/null >"$T/sc-$p.out" 2>&1
	grep -q '^New, TLS' "$T/sc-$p.out" && grep -q 'CN *= *mail.exlb.test' "$T/sc-$p.out"
	report $? "openssl s_client -starttls $p: handshake with the VS certificate ($(grep -m1 '^New, ' "$T/sc-$p.out"))"
done

mc smtp-starttls 25 bob@example.test alice@exlb.test "$T/msg3" >/dev/null
# plaintext SMTP (mode 1 "if requested"): no STARTTLS at all still works
SUBJ4="exlb-plain-$$-$RANDOM"
in_cl timeout 30 swaks --server $VIP --port 25 --ehlo client.exlb.test --from bob@example.test \
	--to alice@exlb.test --header "Subject: $SUBJ4" >"$T/swaks4.out" 2>&1
rc=$?
[ $rc = 0 ] && wait_msg 10 "$SUBJ4" >/dev/null
report $? "StartTLSMode 1: a plaintext SMTP session without STARTTLS is relayed and delivered (exit $rc)"

# ---- TLS offload: SMTPS, IMAPS, POPS to the plaintext ports

SUBJ5="exlb-offload-$$-$RANDOM"
printf 'From: bob@example.test\r\nTo: alice@exlb.test\r\nSubject: %s\r\n\r\n' "$SUBJ5" >"$T/msg5"
head -c 30000 /dev/urandom | base64 | sed 's/$/\r/' >>"$T/msg5"
mc smtps 465 bob@example.test alice@exlb.test "$T/msg5"
MSG5=$(wait_msg 10 "$SUBJ5")
report $? "SMTPS 465 offloaded (python SMTP_SSL): delivered$(mc_err)"
mc imaps 993 "$SUBJ5" "$T/imaps5.eml"
[ -z "$(mc_err)" ] && same_msg "$MSG5" "$T/imaps5.eml"
report $? "IMAPS 993 offloaded (python IMAP4_SSL): fetched byte for byte ($(val bytes) bytes)$(mc_err)"
mc pops 995 "$SUBJ5" "$T/pops5.eml"
[ -z "$(mc_err)" ] && same_msg "$MSG5" "$T/pops5.eml"
report $? "POPS 995 offloaded (python POP3_SSL): retrieved byte for byte ($(val bytes) bytes)$(mc_err)"
SUBJ6="exlb-swaks-smtps-$$-$RANDOM"
in_cl timeout 30 swaks --server $VIP --port 465 --tls-on-connect --ehlo client.exlb.test \
	--from bob@example.test --to alice@exlb.test --header "Subject: $SUBJ6" >"$T/swaks6.out" 2>&1
rc=$?
[ $rc = 0 ] && wait_msg 10 "$SUBJ6" >/dev/null
report $? "swaks --tls-on-connect to SMTPS 465: delivered (exit $rc)"
in_cl timeout 30 curl -sk --max-time 20 -u alice:secret "imaps://$VIP/INBOX;UID=1" -o "$T/curl-imaps.eml"
rc=$?
cmp -s "$T/curl-imap.eml" "$T/curl-imaps.eml"
report $? "curl imaps:// 993 returns what imap:// STARTTLS returned (exit $rc)"

# ---- injection: commands pipelined behind STARTTLS are discarded

MARK="exlbinject$$"
mc inject-smtp 25 "$MARK"
[ -z "$(mc_err)" ] && [[ $(val starttls) == 220* ]] && [[ $(val ehlo) == 250* ]] &&
	[[ $(val quit) == 221* ]] && server_synced smtp && ! grep -q "$MARK" "$(mailrs_postfix_log)"
report $? "SMTP 'STARTTLS\\r\\nNOOP $MARK' in one write: TLS works, postfix never saw the NOOP$(mc_err)"
alog_has "SMTP\+STARTTLS;.*;discarded=[1-9]"
report $? "the access log counts the discarded bytes"
logins=$(mailrs_logins imap)
mc inject-imap 143
caps=$(val caps)
[ -z "$(mc_err)" ] && [[ $caps == *"c OK"* ]] && [[ $caps != *"b OK"* && $caps != *"b NO"* ]] &&
	[[ $(val logout) == *"d OK"* ]] && server_synced imap && [ "$logins" -gt 0 ] && [ "$(mailrs_logins imap)" = "$logins" ]
report $? "IMAP 'a STARTTLS\\r\\nb LOGIN ...' in one write: no login at dovecot ($logins -> $(mailrs_logins imap)), no answer to b$(mc_err)"
logins=$(mailrs_logins pop3)
mc inject-pop3 110
[ -z "$(mc_err)" ] && [[ $(val stls) == +OK* ]] && [[ $(val noop) == -ERR* || $(val noop) == +OK* ]] &&
	[[ $(val quit) == +OK* ]] && server_synced pop3 && [ "$logins" -gt 0 ] && [ "$(mailrs_logins pop3)" = "$logins" ]
report $? "POP3 'STLS\\r\\nUSER\\r\\nPASS' in one write: no login at dovecot ($logins -> $(mailrs_logins pop3)); the session goes on (NOOP: $(val noop))$(mc_err)"

# ---- "always": nothing before STARTTLS

MARK2="exlbalways$$"
mc always-smtp 2525 "$MARK2"
[[ $(val mail) == "530 5.7.0 Must issue a STARTTLS command first"* ]] && [[ $(val rcpt) == 530* ]] &&
	[[ $(val data) == 530* ]] && [[ $(val auth) == 530* ]] && [[ $(val quit) == 221* ]] &&
	server_synced smtp && ! grep -q "$MARK2" "$(mailrs_postfix_log)"
report $? "StartTLSMode 2: MAIL/RCPT/DATA/AUTH before STARTTLS get 530, postfix never saw them ($(val mail))$(mc_err)"
logins=$(mailrs_logins imap)
mc always-imap 143
[[ $(val login) == "a NO [PRIVACYREQUIRED]"* ]] && [[ $(val authenticate) == "b NO [PRIVACYREQUIRED]"* ]] &&
	[[ $(val logout) == *"c OK"* ]] && server_synced imap && [ "$logins" -gt 0 ] && [ "$(mailrs_logins imap)" = "$logins" ]
report $? "IMAP: LOGIN / AUTHENTICATE before STARTTLS refused ($(val login)); LOGOUT reaches dovecot$(mc_err)"
mc always-pop3 110
[[ $(val user) == -ERR* && $(val pass) == -ERR* && $(val apop) == -ERR* && $(val quit) == +OK* ]]
report $? "POP3: USER/PASS/APOP before STLS refused ($(val user))$(mc_err)"

# ---- bad input and bad servers

for p in smtp:25 imap:143 pop3:110; do
	mc overlong "${p#*:}" "${p%%:*}"
	[ "$(val closed)" = 1 ] && [[ $(val reply) == *"ine too long"* ]]
	report $? "${p%%:*}: a 5000-byte line is refused and the connection closed ($(val reply))"
done
for p in smtp:25 imap:143 pop3:110; do
	mc garbage-tls "${p#*:}" "${p%%:*}"
	[ "$(val closed)" = 1 ]
	report $? "${p%%:*}: garbage instead of a ClientHello after STARTTLS: closed ($(val reply))$(mc_err)"
done
mc silent 2526
s=$(val secs)
[ "$(val closed)" = 1 ] && [[ $(val reply) == "421 4.4.2"* ]] &&
	awk -v s="$s" 'BEGIN { exit !(s >= 9 && s <= 13) }'
report $? "a server that never greets: 421 4.4.2 after ${s} s (10 s), closed ($(val reply))"
mc idle 1143
s=$(val secs)
[ "$(val closed)" = 1 ] && [[ $(val reply) == "* BYE"* ]] &&
	awk -v s="$s" 'BEGIN { exit !(s >= 2.5 && s <= 6) }'
report $? "a client that never sends STARTTLS (Idletime 3): '* BYE' and closed after ${s} s"
mc notls-smtp 2527
[[ $(val starttls) == "454 4.7.0"* ]] && [[ $(val ehlo) != *STARTTLS* ]] && [[ $(val quit) == 221* ]]
report $? "VS without a certificate: STARTTLS not offered, refused with 454 ($(val starttls))"

# ---- passthrough and plain mail through exlb.ko (EXLB_MAIL_L4=1, the VM)

if [ -n "$L4" ]; then
	VIP4=198.18.20.11
	ip -n "$NS_LB" addr add $VIP4/32 dev ml-lb
	ip -n "$NS_CL" route add $VIP4/32 dev ml-cl
	in_lb sysctl -qw net.ipv4.ip_forward=1
	cfg_bad=
	l4=(VStype=gen SubnetOriginating=1 Schedule=rr Persist=none)
	cfg vs add $VIP4 143 tcp nickname=IMAP "${l4[@]}" ServerInit=4 Idletime=3600 CheckType=imap4
	cfg rs add IMAP $RS port=143
	cfg vs add $VIP4 993 tcp nickname=IMAPS "${l4[@]}" ServerInit=4 Idletime=3600 CheckType=tcp
	cfg rs add IMAPS $RS port=993
	cfg vs add $VIP4 110 tcp nickname=POP "${l4[@]}" ServerInit=6 Idletime=3600 CheckType=pop3
	cfg rs add POP $RS port=110
	cfg vs add $VIP4 995 tcp nickname=POPS "${l4[@]}" ServerInit=6 Idletime=3600 CheckType=tcp
	cfg rs add POPS $RS port=995
	cfg vs add $VIP4 25 tcp nickname=SMTP VStype=gen SubnetOriginating=1 Schedule=rr Persist=src \
		PersistTimeout=3600 ServerInit=1 Idletime=120 CheckType=smtp
	cfg rs add SMTP $RS port=25
	cfg vs add $VIP4 465 tcp nickname=SMTPS VStype=gen SubnetOriginating=1 Schedule=rr Persist=src \
		PersistTimeout=3600 ServerInit=1 Idletime=120 CheckType=tcp
	cfg rs add SMTPS $RS port=465
	for ((i = 0; i < 100; i++)); do
		all_rs_up && break
		sleep 0.1
	done
	report "$([ -z "$cfg_bad" ] && all_rs_up; echo $?)" "L4 VSs (kernel): IMAP, IMAPS, POP, POPS, SMTP, SMTPS on $VIP4 ($(rs_up | sed 's/ / of /') RS up)"
	lst=$(in_lb ss -Hltn "src $VIP4")
	report "$([ -z "$lst" ]; echo $?)" "nothing in userspace listens on $VIP4 (the module serves it)"

	SUBJ7="exlb-l4-$$-$RANDOM"
	in_cl timeout 30 swaks --server $VIP4 --port 25 --ehlo client.exlb.test --from bob@example.test \
		--to alice@exlb.test --header "Subject: $SUBJ7" >"$T/swaks7.out" 2>&1
	rc=$?
	MSG7=$(wait_msg 10 "$SUBJ7")
	report $? "plain SMTP 25 through exlb.ko: swaks delivers (exit $rc)"
	grep -q '250-STARTTLS\|250 STARTTLS' "$T/swaks7.out"
	report $? "... and it is postfix's own EHLO (its STARTTLS), untouched"
	mc imap-plain 143 "$SUBJ7" "$T/l4-imap.eml" -H $VIP4
	report "$([ "$(val found)" = 1 ] && same_msg "$MSG7" "$T/l4-imap.eml"; echo $?)" \
		"plain IMAP 143 through exlb.ko: fetched byte for byte$(mc_err)"
	mc pop3-plain 110 "$SUBJ7" "$T/l4-pop.eml" -H $VIP4
	report "$([ "$(val found)" = 1 ] && same_msg "$MSG7" "$T/l4-pop.eml"; echo $?)" \
		"plain POP3 110 through exlb.ko: retrieved byte for byte$(mc_err)"
	SUBJ8="exlb-l4s-$$-$RANDOM"
	printf 'From: bob@example.test\r\nTo: alice@exlb.test\r\nSubject: %s\r\n\r\npassthrough\r\n' "$SUBJ8" >"$T/msg8"
	mc smtps 465 bob@example.test alice@exlb.test "$T/msg8" -H $VIP4
	MSG8=$(wait_msg 10 "$SUBJ8")
	report $? "SMTPS 465 passthrough (postfix's own TLS) through exlb.ko: delivered$(mc_err)"
	mc imaps 993 "$SUBJ8" "$T/l4-imaps.eml" -H $VIP4
	report "$([ "$(val found)" = 1 ] && same_msg "$MSG8" "$T/l4-imaps.eml"; echo $?)" \
		"IMAPS 993 passthrough (dovecot's own TLS): fetched byte for byte$(mc_err)"
	mc pops 995 "$SUBJ8" "$T/l4-pops.eml" -H $VIP4
	report "$([ "$(val found)" = 1 ] && same_msg "$MSG8" "$T/l4-pops.eml"; echo $?)" \
		"POPS 995 passthrough (dovecot's own TLS): retrieved byte for byte$(mc_err)"
	in_cl timeout 10 openssl s_client -connect $VIP4:993 </dev/null >"$T/sc-l4.out" 2>&1
	grep -q 'CN *= *mail1.exlb.test' "$T/sc-l4.out"
	report $? "IMAPS passthrough shows the server's certificate (mail1.exlb.test), not the LB's"
	n=$(grep -c "$VIP4" "$ALOG")
	report "$([ "$n" = 0 ]; echo $?)" "no access log line for $VIP4: exlbd's proxy never saw it ($n)"
fi

# ---- the access log, and exlbd itself

alog_has 'vs=[0-9]+ .*"- IMAP\+STARTTLS;relay;.* term=-- tls=(userspace|ktls)'
report $? "access log: one line per session, e.g. $(grep -m1 'IMAP+STARTTLS' "$ALOG")"
if [ -n "$EXPECT_TLS" ]; then
	# sessions that reached the relay (openssl s_client closes right after
	# its handshake, before kTLS may be set up: not counted)
	n=$(grep -c '+STARTTLS;relay;' "$ALOG")
	w=$(grep '+STARTTLS;relay;' "$ALOG" | grep -vc "tls=$EXPECT_TLS")
	report "$([ "$n" -gt 0 ] && [ "$w" = 0 ]; echo $?)" "all $n relayed STARTTLS sessions with tls=$EXPECT_TLS ($w not)"
	[ "$w" = 0 ] || diag "$(grep '+STARTTLS;relay;' "$ALOG" | grep -v "tls=$EXPECT_TLS")"
fi
# every relayed session here ends with QUIT / LOGOUT: none may be logged as
# an abort (kTLS once logged a client's RST after the server's goodbye as CD)
n=$(grep -c '+STARTTLS;relay;' "$ALOG")
w=$(grep '+STARTTLS;relay;' "$ALOG" | grep -vc "term=--")
report "$([ "$n" -gt 0 ] && [ "$w" = 0 ]; echo $?)" "all $n relayed STARTTLS sessions ended cleanly, term=-- ($w not)"
[ "$w" = 0 ] || diag "$(grep '+STARTTLS;relay;' "$ALOG" | grep -v "term=--")"
if [ "$EXPECT_TLS" = ktls ]; then
	st=$(in_lb cat /proc/net/tls_stat 2>/dev/null)
	tx=$(awk '$1 == "TlsTxSw" { print $2 }' <<<"$st")
	report "$([ "${tx:-0}" -gt 0 ]; echo $?)" "kTLS: /proc/net/tls_stat of the LB namespace counts TlsTxSw=${tx:-none} TlsRxSw=$(awk '$1 == "TlsRxSw" { print $2 }' <<<"$st")"
fi
kill -0 "$DAEMON_PID" 2>/dev/null && [ "$(exlbd_sanitizer_reports)" = 0 ]
report $? "exlbd still runs; no sanitizer report"

if [ "$TAP_FAILED" != 0 ]; then
	diag "exlbd log:" && tail -n 20 "$T/exlbd.log" | sed 's/^/#   /'
	diag "access log:" && tail -n 40 "$ALOG" | sed 's/^/#   /'
fi
tap_end
