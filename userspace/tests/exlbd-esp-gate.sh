#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The Edge Security Pack's gates end to end (docs/esp.md): EspEnabled=1
# with InputAuthMode=0 on an HTTP VS and on a SubVS (AllowedHosts,
# AllowedDirectories), and on SMTP VSs (SMTPAllowedDomains), plain and
# after STARTTLS; what still needs the directory logon stays refused.
#
# The network is lib/lbnet.sh's:
#   client 198.18.96.2 ---- lb (exlbd --no-kernel)    VIP 198.18.96.10:
#                                                       80 "Gate" HTTP, ESP
#                                                       25 "Mail" gen, ESP
#                                                       2525 "MailTLS" STARTTLS, ESP
#                                                     VIP2 198.18.96.11:80
#                                                       "Switch": SubVS OWA
#                                                       (ESP) and EWS (none):
#                                                       /ews/../owa/ is OWA's
#                eg-br 198.18.97.1 ---- rs1 198.18.97.11 nginx (lib/exchange-rs.sh)
#                                  ---- rs2 198.18.97.12 postfix (lib/mail-rs.sh)
#
# The story: every path and Host trick of issue 13 gets its status from
# the gate, and the real server's access log proves that nothing refused
# reached it (each request carries a unique marker; the allowed ones are
# seen first, so their absence is measured, not waited for) and that what
# passed arrived normalised; the security log (ESPLogs=2) names each
# refusal; over SMTP, plain and after STARTTLS, a recipient of another
# domain gets 550 from exlbd and postfix (which logs every command of the
# LB) never sees that RCPT TO, while the allowed one is delivered. Then
# the refusals: InputAuthMode 1/2, OutputAuthMode, ESP on a VS type
# without gates, and the ESP HTTPS template.
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# KEEP=1 keeps the temp dir. Needs root, iproute2, nginx, postfix, dovecot,
# python3, openssl, jq. TAP, the plan last; exits 0 only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx postfix dovecot python3 openssl jq ss; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"

T=$(mktemp -d /tmp/exlb-esp.XXXXXX)
chmod 755 "$T"
export EXRS_DIR=$T/rs EXRS_BIG_MB=0 MAILRS_DIR=$T/mail
SOCK=$T/exlbd.sock
ALOG=$T/access.log
DAEMON_PID=

# shellcheck source=lib/lbnet.sh
source "$here/lib/lbnet.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"
# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"
# shellcheck source=lib/mail-rs.sh
source "$here/lib/mail-rs.sh"

cleanup() {
	exlbd_kill
	exrs_cleanup 2>/dev/null
	mailrs_cleanup 2>/dev/null
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

echo "TAP version 13"

lbnet_setup eg 198.18.96 || skip "cannot create network namespaces"
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"
exrs_setup rs1 "$NS_RS1" $RS1
report $? "nginx as real server rs1 ($RS1)"
export MAILRS_DOMAIN=exlb.test MAILRS_DEBUG_PEERS=$LB_RS_IP
mkdir -p "$MAILRS_DIR"
mailrs_setup "$NS_RS2" $RS2 2>"$T/mailrs.err"
report $? "postfix as real server rs2 ($RS2:25), logging every command of the LB $(head -c 300 "$T/mailrs.err")"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=mail.exlb.test" -addext "subjectAltName=DNS:mail.exlb.test" \
	-keyout "$T/mail.key" -out "$T/mail.pem" 2>/dev/null

exlbd_start "exlbd runs in the LB namespace" --access-log "$ALOG" --template-dir "$here/../../templates"

esp=(EspEnabled=1 InputAuthMode=0 OutputAuthMode=0 ESPLogs=2)
cfg vs add $VIP 80 tcp nickname=Gate VStype=http CheckType=none "${esp[@]}" \
	"AllowedHosts=Mail.example.com autodiscover.example.com" "AllowedDirectories=/owa/* /ews/*"
cfg rs add Gate $RS1 port=80
cfg rule add OWA matchtype=regex 'pattern=/^\/owa.*/' nocase=1
cfg rule add EWS matchtype=regex 'pattern=/^\/ews.*/' nocase=1
cfg vs add $VIP2 80 tcp nickname=Switch VStype=http CheckType=none
cfg subvs add Switch nickname=OWA CheckType=none "${esp[@]}" AllowedHosts=mail.example.com \
	AllowedDirectories=/owa/*
cfg subvs add Switch nickname=EWS CheckType=none
cfg rule attach Switch/OWA OWA
cfg rule attach Switch/EWS EWS
cfg rs add Switch/OWA $RS1 port=80
cfg rs add Switch/EWS $RS1 port=80
cfg cert add mail "$T/mail.pem" "$T/mail.key"
cfg vs add $VIP 25 tcp nickname=Mail VStype=gen ServerInit=1 CheckType=none "${esp[@]}" \
	SMTPAllowedDomains=exlb.test
cfg rs add Mail $RS2 port=25
cfg vs add $VIP 2525 tcp nickname=MailTLS VStype=tls StartTLSMode=1 ServerInit=1 CheckType=none \
	SSLAcceleration=1 CertFile=mail TLSType=1 "${esp[@]}" SMTPAllowedDomains=exlb.test
cfg rs add MailTLS $RS2 port=25
report "${cfg_bad:-0}" "configured: Gate (HTTP, ESP), Switch (SubVS OWA with ESP, EWS without), Mail and MailTLS (SMTP, ESP)"

ctl status -j >"$T/status.json"
jq -e '[.vs[] | select(.status == "Refused")] | length == 0' "$T/status.json" >/dev/null
report $? "EspEnabled=1 with InputAuthMode=0 is accepted: no service Refused ($(jq -c '[.vs[] | [.name, .status]]' "$T/status.json"))"

# ---- HTTP: every trick, with the status it must get

# one request per line: VIP TARGET HOST STATUS (HOST "-": no Host header,
# HTTP/1.0); the marker zNN is appended to each path
cat >"$T/cases" <<'EOF'
V1 /owa/ mail.example.com 200
V1 /OWA/Auth/ mail.example.com 200
V1 /ews/x/ MAIL.EXAMPLE.COM 200
V1 /owa/ mail.example.com:80 200
V1 /owa/ mail.example.com. 200
V1 //owa//a/ mail.example.com 200
V1 /owa%2fb/ mail.example.com 200
V1 /owa\b\ mail.example.com 200
V1 http://mail.example.com/owa/abs/ mail.example.com 200
V1 /owa/../ecp/ mail.example.com 403
V1 /owa/%2e%2e/ecp/ mail.example.com 403
V1 /owa/.%2E/ecp/ mail.example.com 403
V1 /owa/..%2fecp/ mail.example.com 403
V1 /owa%2f..%2fecp/ mail.example.com 403
V1 /owa/%252e%252e/ecp/ mail.example.com 403
V1 /owa/..%252fecp/ mail.example.com 403
V1 /owa/..;/ecp/ mail.example.com 403
V1 /owa;x=1/ mail.example.com 403
V1 /ECP/ mail.example.com 403
V1 /owa\..\ecp\ mail.example.com 403
V1 /owa/%5c..%5cecp/ mail.example.com 403
V1 //ecp/ mail.example.com 403
V1 /owa/.../ecp/ mail.example.com 403
V1 /owa/%00/ mail.example.com 403
V1 /owa/ evil.example.net 403
V1 /owa/ mail.example.com.evil.net 403
V1 /owa/ - 403
V1 http://evil.example.net/owa/ evil.example.net 403
V2 /owa/ mail.example.com 200
V2 /owa/../ews/ mail.example.com 200
V2 /owa/ evil.example.net 403
V2 /ews/ evil.example.net 200
V2 /ews/../owa/ evil.example.net 403
V2 /ews/..%2fowa/ evil.example.net 403
V2 /ews/%2e%2e/owa/ mail.example.com 200
EOF

cat >"$T/req.py" <<'EOF'
import socket, sys
# VIP1 VIP2 CASES: one raw request per case line (marker zN appended to the
# path); prints "N STATUS MARKER" per case
vips = {"V1": sys.argv[1], "V2": sys.argv[2]}
for n, line in enumerate(open(sys.argv[3])):
    v, target, host, want = line.split()
    marker = "z%d" % n
    if "?" in target:
        target = target.replace("?", marker + "?", 1)
    else:
        target = target + marker
    if host == "-":
        req = "GET %s HTTP/1.0\r\n\r\n" % target
    else:
        req = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (target, host)
    s = socket.create_connection((vips[v], 80), 5)
    s.settimeout(5)
    s.sendall(req.encode("latin1"))
    data = b""
    try:
        while b"\r\n" not in data:
            b = s.recv(4096)
            if not b:
                break
            data += b
    except OSError:
        pass
    s.close()
    parts = data.split(b"\r\n", 1)[0].split()
    print(n, parts[1].decode() if len(parts) > 1 else "none", marker, want)
EOF
in_cl python3 "$T/req.py" $VIP $VIP2 "$T/cases" >"$T/results" 2>"$T/req.err"
report $? "the client sent $(wc -l <"$T/cases") requests $(head -c 200 "$T/req.err")"
while read -r n got marker want; do
	line=$(sed -n "$((n + 1))p" "$T/cases")
	[ "$got" = "$want" ]
	report $? "${line% *} ($marker): $want (got $got)"
done <"$T/results"

# what reached rs1: the allowed ones (positive evidence first), then none
# of the refused ones
passed=$(awk '$4 == 200 { print $3 }' "$T/results")
refused=$(awk '$4 != 200 { print $3 }' "$T/results")
seen_all() { local m; for m in $passed; do grep -q "$m[ /?\"]" "$(exrs_log rs1)" || return 1; done; }
wait_for 5 seen_all
report $? "rs1's access log has every request that passed ($(echo $passed))"
leaked=
for m in $refused; do grep -q "$m[ /?\"]" "$(exrs_log rs1)" && leaked+=" $m"; done
[ -z "$leaked" ]
report $? "rs1's access log has none of the $(wc -w <<<"$refused") refused requests${leaked:+ (leaked:$leaked)}"
norm_ok() {
	grep -q '"GET /owa/a/z5 ' "$(exrs_log rs1)" && grep -q '"GET /owa/b/z6 ' "$(exrs_log rs1)" &&
	grep -q '"GET /owa/b/z7 ' "$(exrs_log rs1)" && grep -q '"GET /owa/abs/z8 ' "$(exrs_log rs1)"
}
norm_ok
report $? "rs1 got the normalised paths: //owa//a/ as /owa/a/, %2f and \\ as /, absolute-form as origin-form ($(grep -o '"GET /owa/[a-z/]*z[5-8] ' "$(exrs_log rs1)" | tr -d '"' | tr '\n' ' '))"
# on a VS with ESP somewhere, the SubVS is chosen on the normalised path
grep -q '"GET /ews/z29 ' "$(exrs_log rs1)" && grep -q '"GET /owa/z34 ' "$(exrs_log rs1)"
report $? "Switch routes on the normalised path: /owa/../ews/ went to EWS as /ews/, /ews/%2e%2e/owa/ to OWA (gated) as /owa/ ($(grep -o '"GET /[a-z]*/z\(29\|34\) ' "$(exrs_log rs1)" | tr -d '"' | tr '\n' ' '))"
grep -q "esp: VS Gate: refused $CL_IP: host 'mail.example.com' path '/owa/../ecp/z9': path not in AllowedDirectories (403)" "$T/exlbd.log"
report $? "the security log (ESPLogs=2) names client, host, path and reason: $(grep -m1 "path '/owa/../ecp/z9'" "$T/exlbd.log")"
grep -q "esp: SubVS OWA: refused $CL_IP: host 'evil.example.net'" "$T/exlbd.log"
report $? "a SubVS's refusal is logged with the SubVS's name"

# ---- SMTP: plain, and after STARTTLS

cat >"$T/smtp.py" <<'EOF'
import smtplib, ssl, sys
# VIP PORT STARTTLS(0/1) TAG: RCPT TO ok-TAG@exlb.test and bad-TAG@evil.test;
# prints the two codes and the DATA result
host, port, tls, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
s = smtplib.SMTP(host, port, timeout=10)
s.ehlo("client.exlb.test")
if tls:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s.starttls(context=ctx)
    s.ehlo("client.exlb.test")
s.mail("sender@exlb.test")
ok = s.rcpt("ok-%s@exlb.test" % tag)[0]
bad = s.rcpt("bad-%s@evil.test" % tag)
sub = s.rcpt("sub-%s@sub.exlb.test" % tag)[0]
code, _ = s.data("Subject: %s\r\n\r\nbody %s\r\n" % (tag, tag))
s.quit()
print(ok, bad[0], sub, code, bad[1].decode())
EOF
for mode in plain:25:0 starttls:2525:1; do
	tag=${mode%%:*} port=${mode#*:}; port=${port%:*}
	out=$(in_cl python3 "$T/smtp.py" $VIP "$port" "${mode##*:}" "$tag" 2>&1)
	read -r ok bad sub data text <<<"$out"
	[ "$ok" = 250 ] && [ "$bad" = 550 ] && [ "$sub" = 550 ] && [ "$data" = 250 ]
	report $? "SMTP $tag (:$port): RCPT ok-$tag@exlb.test 250, bad-$tag@evil.test and sub-$tag@sub.exlb.test 550, DATA 250 ($out)"
	[ "$text" = "5.7.54 SMTP; Unable to relay recipient in non-accepted domain" ]
	report $? "SMTP $tag: the 550 is Exchange's text ($text)"
	delivered() { grep -rlq "body $tag" "$(mailrs_maildir)/new" 2>/dev/null; }
	wait_for 10 delivered
	report $? "SMTP $tag: the message reached the allowed recipient's Maildir (after $WAITED s)"
	grep -qi "RCPT TO:<ok-$tag@exlb.test>" "$(mailrs_postfix_log)"
	report $? "SMTP $tag: postfix logged the allowed RCPT TO"
	! grep -q "bad-$tag@\|sub-$tag@" "$(mailrs_postfix_log)"
	report $? "SMTP $tag: postfix never saw the refused recipients ($(grep -c "bad-$tag@\|sub-$tag@" "$(mailrs_postfix_log)") lines)"
done
grep -q "esp: VS [0-9]*: refused $CL_IP:[0-9]*: RCPT TO domain 'evil.test' (after STARTTLS): recipient domain not in SMTPAllowedDomains" "$T/exlbd.log"
report $? "the security log names the refused RCPT's domain, never its local part: $(grep -m1 "RCPT TO domain 'evil.test' (after" "$T/exlbd.log")"
! grep -q "bad-plain\|bad-starttls" "$T/exlbd.log"
report $? "no recipient local part in exlbd's log"

# ---- what is not enforced stays refused

expect_refused() {	# DESCRIPTION TEXT CMD...: the command fails naming TEXT
	local what=$1 text=$2
	shift 2
	ctl "$@" >/dev/null 2>"$T/err"
	local rc=$?
	[ "$rc" != 0 ] && grep -qF -- "$text" "$T/err"
	report $? "$what: refused ($(cat "$T/err"))"
}
ctl save >"$T/before.json"
expect_refused "InputAuthMode=5 (NTLM) on a SubVS" "EspEnabled=1: InputAuthMode=5: pre-authentication against the directory is not implemented yet" \
	subvs mod Switch/OWA InputAuthMode=5
expect_refused "InputAuthMode=1 (basic) on a VS without a Domain" "Domain: InputAuthMode 1 logs users on against an SSO domain" vs mod Gate InputAuthMode=1
expect_refused "OutputAuthMode=1 without a logon" "OutputAuthMode=1: passes on the credentials of the Basic or form logon: needs InputAuthMode=1 or 2" vs mod Gate OutputAuthMode=1
expect_refused "ESP on a generic VS that is not SMTP" "ESP is enforced on HTTP services" \
	vs add $VIP 8080 tcp VStype=gen EspEnabled=1
expect_refused "ESP on a TLS-offload tunnel on port 25" "ESP is enforced on HTTP services" \
	vs add $VIP2 25 tcp VStype=gen SSLAcceleration=1 CertFile=mail EspEnabled=1
expect_refused "template apply of Exchange 2013 HTTPS Offloaded with ESP without Domain=" \
	"Exchange 2013 HTTPS Offloaded with ESP - Authentication Proxy logs users on against an SSO domain (EspEnabled=1 InputAuthMode=2): give Domain=NAME" \
	template apply "Exchange 2013 HTTPS Offloaded with ESP" vip "${VIP%.*}.99"
ctl save >"$T/after.json"
cmp -s "$T/before.json" "$T/after.json"
report $? "nothing of the refused changes was stored"
ctl template list -j >"$T/tl.json"
jq -e '[.templates[] | select(.refused != "") | .name] == []' "$T/tl.json" >/dev/null
report $? "template list: no ESP template is refused any more (the HTTPS ones apply with Domain=) ($(jq -c '[.templates[] | select(.refused != "") | .name]' "$T/tl.json"))"

exlbd_stop_checked
tap_end
