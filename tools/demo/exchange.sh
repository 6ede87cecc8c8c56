#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tools/demo/exchange.sh [--ktap]
#
# The Exchange demo (README command one, via tools/demo.sh), run as root
# where exlb.ko is loaded. Everything lives in network namespaces made here,
# on 198.18.0.0/15 only; nothing is routed out of the machine.
#
#   demo-cli 198.18.0.2 --- demo-lb: exlbd + exlb.ko, VIP 198.18.0.10
#                                   |-- demo-exch1 198.18.1.11
#                                   `-- demo-exch2 198.18.1.12
#
# exch1 and exch2 are simulated Exchange servers: nginx serving the nine
# virtual directories with healthcheck.htm (userspace/tests/lib/exchange-rs.sh)
# and dovecot + postfix (userspace/tests/lib/mail-rs.sh) sharing one mailbox
# store, as Exchange servers share their databases. exlbd applies Kemp's
# Exchange 2013 templates (HTTPS Offloaded with a generated certificate,
# IMAP and SMTP with STARTTLS, POP at L4 in exlb.ko), real clients go
# through the VIP, then exch1's OWA fails, then all of exch1.
#
# --ktap: print KTAP "ok N - ..." / "not ok N - ..." for every assertion and
# everything else as "# " comments (selftests/exlbd_demo.sh). Without it the
# assertions print as checks. Exit 0 when every assertion held, else 1.
# EXLB_DEMO_MAIL=plain uses the plain IMAP and SMTP templates (served at L4)
# instead of the STARTTLS ones. EXLB_DEMO_KEEP=1 keeps the work directory.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EXLBD=${EXLBD:-$REPO/userspace/build/exlbd}
EXLBCTL=${EXLBCTL:-$REPO/userspace/build/exlbctl}
PY=/usr/bin/python3
VIP=198.18.0.10
EX1=198.18.1.11
EX2=198.18.1.12
NSS="demo-cli demo-lb demo-exch1 demo-exch2"
KTAP=0
[[ ${1:-} == --ktap ]] && KTAP=1
MAILMODE=${EXLB_DEMO_MAIL:-starttls}
NSTEPS=12
STEP=0 NPASS=0 NFAIL=0 NT=0
EXLBD_PID=
HOLD_PID=

# --------------------------------------------------------------- output
B=$'\033[1m' G=$'\033[32m' R=$'\033[31m' N0=$'\033[0m'
[[ -t 1 && $KTAP == 0 ]] || B='' G='' R='' N0=''
T0=$SECONDS
step() {
	STEP=$((STEP + 1))
	if ((KTAP)); then
		printf '# [%d/%d] %s (%d s)\n' "$STEP" "$NSTEPS" "$*" $((SECONDS - T0))
	else
		printf '\n%s[%d/%d] %s%s  (%d s)\n' "$B" "$STEP" "$NSTEPS" "$*" "$N0" $((SECONDS - T0))
	fi
}
say() { if ((KTAP)); then printf '# %s\n' "$*"; else printf '  %s\n' "$*"; fi; }
indent() { if ((KTAP)); then sed 's/^/#   /'; else sed 's/^/    /'; fi; }
# check NAME CMD...: an assertion; CMD's status decides
check() {
	local name=$1
	shift
	NT=$((NT + 1))
	if "$@"; then
		NPASS=$((NPASS + 1))
		if ((KTAP)); then echo "ok $NT - $name"; else say "${G}ok${N0}: $name"; fi
	else
		NFAIL=$((NFAIL + 1))
		if ((KTAP)); then echo "not ok $NT - $name"; else say "${R}FAILED${N0}: $name"; fi
	fi
}
die() {
	NT=$((NT + 1)) NFAIL=$((NFAIL + 1))
	if ((KTAP)); then echo "not ok $NT - $*"; else say "${R}FAILED${N0}: $*"; fi
	exit 1
}

# --------------------------------------------------------------- helpers
lb() { ip netns exec demo-lb "$@"; }
cli() { ip netns exec demo-cli "$@"; }
ctl() { "$EXLBCTL" -s "$T/exlbd.sock" "$@"; }

finish() {
	local rc=$?
	[[ -n $HOLD_PID ]] && kill "$HOLD_PID" 2>/dev/null
	[[ -n $EXLBD_PID ]] && kill "$EXLBD_PID" 2>/dev/null
	wait 2>/dev/null
	if [[ -n ${T:-} ]]; then
		for s in exch1 exch2; do
			[[ -f $T/$s-mail/dovecot/dovecot.conf ]] || continue
			MAILRS_NS=demo-$s MAILRS_DIR=$T/$s-mail MAILRS_OWN_DIR='' mailrs_cleanup
		done
		exrs_cleanup 2>/dev/null
	fi
	for n in $NSS; do ip netns del "$n" 2>/dev/null; done
	if [[ -n ${T:-} && -z ${EXLB_DEMO_KEEP:-} ]]; then rm -rf "$T"; elif [[ -n ${T:-} ]]; then say "kept $T"; fi
	if ((KTAP)); then
		echo "1..$NT"
		echo "# Totals: pass:$NPASS fail:$NFAIL xfail:0 xpass:0 skip:0 error:0"
	else
		printf '\n%s%d checks passed, %d failed, %d s%s\n' "$B" "$NPASS" "$NFAIL" $((SECONDS - T0)) "$N0"
	fi
	((NFAIL == 0 && rc == 0)) || exit 1
	exit 0
}

# status_json: exlbctl status -j, compact
sj() { ctl -j status 2>/dev/null; }
# rs_health VSPORT SUBVS-SUFFIX ADDR: health of that RS ("" SUBVS = the VS's own RSs)
rs_health() {
	sj | jq -r --argjson p "$1" --arg sub "$2" --arg a "$3" '
		.vs[] | select(.port == $p) |
		(if $sub == "" then .rs else (.subvs[] | select(.name | endswith(" - " + $sub)) | .rs) end)[] |
		select(.addr == $a) | .health'
}
# wait_for SECONDS CMD...: bounded poll (every 0.5 s) until CMD succeeds
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while ((SECONDS < end)); do
		"$@" && return 0
		sleep 0.5
	done
	"$@"
}
all_up() {	# every SubVS of 443 Up, the redirect Redirect, every mail VS Up
	sj | jq -e '
		([.vs[] | select(.port == 80) | .status] == ["Redirect"]) and
		([.vs[] | select(.port == 443) | .subvs[] | select(.status == "Up")] | length) == 9 and
		([.vs[] | select(.port == 443) | .subvs[].rs[] | select(.health == "up")] | length) == 18 and
		([.vs[] | select(.port == 25 or .port == 110 or .port == 143) | .rs[] | select(.health == "up")] | length) == 6
	' >/dev/null
}
show_status() { ctl status | indent; }

# https VDIR [N]: N GETs of /VDIR/ through the VIP; prints the X-RS of each
# (one curl, one TLS connection kept alive: exlbd routes each request on its own)
https() {
	local i args=()
	for ((i = 0; i < ${2:-1}; i++)); do args+=(-o /dev/null "https://mail.exlb.test/$1/"); done
	cli curl -s --max-time 20 --cacert "$T/cert.pem" --resolve "mail.exlb.test:443:$VIP" \
		-w '%{http_code}:%header{x-rs} ' "${args[@]}" 2>/dev/null || printf 'ERR:- '
}
# servers "200:exch1 200:exch2 ..." -> "exch1 exch2" (distinct, sorted), "" if any failed
servers() {
	local r out=()
	for r in $1; do
		[[ $r == 200:exch? ]] || { echo "bad:$r"; return; }
		out+=("${r#200:}")
	done
	printf '%s\n' "${out[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# ------------------------------------------------------------------ client programs
# Every client runs in demo-cli with timeouts on every socket.
MAIL_PY='
import imaplib, poplib, smtplib, ssl, sys, time, re
vip, mode, cafile, what = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
tls = mode == "starttls"
def who(text):
    m = re.search(r"exch\d", text)
    return m.group(0) if m else "?"
if what == "send":
    subject = sys.argv[5]
    s = smtplib.SMTP(vip, 25, local_hostname="client.exlb.test", timeout=15)
    s.ehlo()
    server = who(s.ehlo_resp.decode())
    if tls:
        s.starttls(context=ctx)
        s.ehlo()
        print("tls", s.sock.version(), end=" ")
    s.sendmail("demo@client.exlb.test", ["alice@exlb.test"],
               "From: demo@client.exlb.test\r\nTo: alice@exlb.test\r\nSubject: %s\r\n\r\nHello from the exlb demo.\r\n" % subject)
    s.quit()
    print("server", server)
elif what == "fetch":
    subject = sys.argv[5]
    m = imaplib.IMAP4(vip, 143, timeout=15)
    server = who(m.welcome.decode())
    if tls:
        m.starttls(ssl_context=ctx)
        print("tls", m.sock.version(), end=" ")
    m.login("alice", "secret")
    m.select("INBOX")
    found = None
    for _ in range(40):			# delivery is asynchronous: at most 20 s
        typ, data = m.search(None, "SUBJECT", "\"%s\"" % subject)
        if data[0]:
            n = data[0].split()[-1]
            typ, msg = m.fetch(n, "(BODY[HEADER.FIELDS (SUBJECT)])")
            found = msg[0][1].decode().strip()
            break
        time.sleep(0.5)
        m.noop()
    m.logout()
    print("server", server, "found", repr(found))
elif what == "imap":			# N logins: who greeted each
    for _ in range(int(sys.argv[5])):
        m = imaplib.IMAP4(vip, 143, timeout=15)
        if tls:
            m.starttls(ssl_context=ctx)
        m.login("alice", "secret")
        print(who(m.welcome.decode()), end=" ")
        m.logout()
    print()
elif what == "pop":
    for _ in range(int(sys.argv[5])):
        p = poplib.POP3(vip, 110, timeout=15)
        print(who(p.getwelcome().decode()), end=" ")
        p.quit()
    print()
'

# Holds a logged-in IMAP connection and a POP3 connection, both to exch1, and
# reports how each one ends: "hold imap exch1", then "end imap reset|eof|timeout EPOCH".
HOLD_PY='
import imaplib, poplib, socket, ssl, sys, threading, time, re, os
vip, mode, cafile, ready = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
def who(t):
    m = re.search(r"exch\d", t)
    return m.group(0) if m else "?"
held, spare = {}, []
for _ in range(6):
    m = imaplib.IMAP4(vip, 143, timeout=15)
    if who(m.welcome.decode()) == "exch1":
        if mode == "starttls":
            m.starttls(ssl_context=ctx)
        m.login("alice", "secret")
        m.select("INBOX")
        held["imap"] = m.sock
        break
    spare.append(m)
for _ in range(6):
    p = poplib.POP3(vip, 110, timeout=15)
    if who(p.getwelcome().decode()) == "exch1":
        p.user("alice"); p.pass_("secret")
        held["pop3"] = p.sock
        break
    spare.append(p)
for k in held:
    print("hold", k, "exch1", flush=True)
def tcp_end(s):
    # Python reports a RST under TLS as an EOF: the socket knows which it
    # was (a RST leaves it CLOSE (7), a FIN CLOSE_WAIT (8))
    state = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    return "reset" if state == 7 else "eof"
def watch(k, s):
    s.settimeout(90)
    try:
        d = s.recv(4096)
        kind = tcp_end(s) if not d else "data"
    except ConnectionResetError:
        kind = "reset"
    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
        kind = tcp_end(s)
    except (TimeoutError, OSError) as e:
        kind = type(e).__name__
    print("end", k, kind, "%.3f" % time.time(), flush=True)
ts = [threading.Thread(target=watch, args=(k, s)) for k, s in held.items()]
for t in ts: t.start()
open(ready, "w").close()
for t in ts: t.join()
'

# =================================================================== main
if [[ $(id -u) != 0 ]]; then echo "needs root" >&2; exit 4; fi
for b in "$EXLBD" "$EXLBCTL"; do [[ -x $b ]] || { echo "$b not built (make -C userspace)" >&2; exit 4; }; done
for tool in ip jq curl openssl nginx dovecot postfix ss "$PY"; do
	command -v "$tool" >/dev/null || { echo "$tool not installed (tools/deps.sh)" >&2; exit 4; }
done
[[ -d /sys/module/exlb ]] || { echo "exlb.ko is not loaded" >&2; exit 4; }

T=$(mktemp -d /tmp/exlb-demo.XXXXXX)
chmod 755 "$T"
trap finish EXIT
trap 'exit 130' INT TERM
# shellcheck source=../../userspace/tests/lib/exchange-rs.sh
source "$REPO/userspace/tests/lib/exchange-rs.sh"
# shellcheck source=../../userspace/tests/lib/mail-rs.sh
source "$REPO/userspace/tests/lib/mail-rs.sh"
for n in $NSS; do ip netns del "$n" 2>/dev/null; done

# ------------------------------------------------------------------ 1
step "network: a client, the load balancer and two Exchange servers, each in its own namespace"
{
	for n in $NSS; do ip netns add "$n" && ip -n "$n" link set lo up; done
	ip -n demo-lb link add lbclient type veth peer name eth0 netns demo-cli &&
	ip -n demo-lb link add lbservers type bridge &&
	ip -n demo-lb addr add 198.18.0.1/24 dev lbclient &&
	ip -n demo-lb addr add $VIP/32 dev lbclient &&
	ip -n demo-lb addr add 198.18.1.1/24 dev lbservers &&
	ip -n demo-cli addr add 198.18.0.2/24 dev eth0 &&
	ip -n demo-cli link set eth0 up &&
	ip -n demo-cli route add default via 198.18.0.1 &&
	for s in 1 2; do
		ip -n demo-lb link add lbexch$s type veth peer name eth0 netns demo-exch$s &&
		ip -n demo-lb link set lbexch$s master lbservers up &&
		ip -n demo-exch$s addr add 198.18.1.1$s/24 dev eth0 &&
		ip -n demo-exch$s link set eth0 up &&
		ip -n demo-exch$s route add default via 198.18.1.1 || exit 1
	done &&
	ip -n demo-lb link set lbclient up &&
	ip -n demo-lb link set lbservers up &&
	lb sysctl -qw net.ipv4.ip_forward=1
} || die "network setup"
say "client 198.18.0.2 -> VIP $VIP (demo-lb) -> exch1 $EX1, exch2 $EX2"

# ------------------------------------------------------------------ 2
step "starting the Exchange servers: nginx (nine vdirs), dovecot (IMAP, POP3), postfix (SMTP)"
export EXRS_DIR=$T/exrs EXRS_BIG_MB=0 EXRS_WAIT=30
mkdir -p "$EXRS_DIR"
# one mailbox store for both, as Exchange servers share their databases
mkdir -p "$T/exch1-mail/vmail" "$T/exch2-mail"
ln -s "$T/exch1-mail/vmail" "$T/exch2-mail/vmail"
mpids=()
for s in 1 2; do	# the mail servers start in the background (slow under TCG)
	( MAILRS_DIR=$T/exch$s-mail MAILRS_HOST=exch$s.exlb.test mailrs_setup demo-exch$s 198.18.1.1$s ) \
		>"$T/mailrs$s.log" 2>&1 &
	mpids+=($!)
done
for s in 1 2; do
	# (daemons never get our stdout: a pipe reader would wait for them)
	exrs_setup exch$s demo-exch$s 198.18.1.1$s >>"$T/exrs.log" || die "nginx on exch$s"
	say "exch$s: nginx on 198.18.1.1$s :80 :443 up ($((SECONDS - T0)) s)"
done
for s in 1 2; do
	wait "${mpids[s - 1]}" || { cat "$T/mailrs$s.log" >&2; die "dovecot/postfix on exch$s"; }
	say "exch$s: dovecot :143 :110, postfix :25 on 198.18.1.1$s up ($((SECONDS - T0)) s)"
done

# ------------------------------------------------------------------ 3
step "exlbd in the LB namespace; a certificate; the guide's global settings (§2.2, §2.3)"
mkdir -p "$T/state"
lb "$EXLBD" --state-dir "$T/state" --socket "$T/exlbd.sock" --template-dir "$REPO/templates" \
	--access-log "$T/access.log" >"$T/exlbd.log" 2>&1 </dev/null &
EXLBD_PID=$!
wait_for 30 ctl get droponfail >/dev/null 2>&1 || { cat "$T/exlbd.log" >&2; die "exlbd does not start"; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj /CN=mail.exlb.test -addext "subjectAltName=DNS:mail.exlb.test,DNS:autodiscover.exlb.test,IP:$VIP" \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || die "openssl"
ctl cert add demo "$T/cert.pem" "$T/key.pem" || die "exlbctl cert add"
say "\$ exlbctl cert add demo cert.pem key.pem   # CN mail.exlb.test"
for kv in droponfail=1 dropatdrainend=1 subnetoriginating=1 RetryInterval=9 Timeout=4 RetryCount=2; do
	ctl set "$kv" || die "exlbctl set $kv"
done
say "\$ exlbctl set droponfail 1; dropatdrainend 1; subnetoriginating 1; RetryInterval 9, Timeout 4, RetryCount 2"

# ------------------------------------------------------------------ 4
if [[ $MAILMODE == plain ]]; then
	IMAP_T="Exchange 2013 IMAP" SMTP_T="Exchange 2013 SMTP"
else
	IMAP_T="Exchange 2013 IMAP with STARTTLS" SMTP_T="Exchange 2013 SMTP with STARTTLS"
fi
step "applying Kemp's templates: HTTPS Offloaded, $IMAP_T, $SMTP_T, POP"
apply() {
	say "\$ exlbctl template apply \"$1\" ${*:2}"
	ctl template apply "$@" 2>&1 | indent
	return "${PIPESTATUS[0]}"
}
apply "Exchange 2013 HTTPS Offloaded" vip $VIP rs $EX1:80 rs $EX2:80 cert demo || die "HTTPS Offloaded"
CERT=(cert demo)
[[ $MAILMODE == plain ]] && CERT=()
apply "$IMAP_T" vip $VIP rs $EX1 rs $EX2 "${CERT[@]}" || die "$IMAP_T"
apply "$SMTP_T" vip $VIP rs $EX1 rs $EX2 "${CERT[@]}" || die "$SMTP_T"
apply "Exchange 2013 POP" vip $VIP rs $EX1 rs $EX2 || die "Exchange 2013 POP"

# ------------------------------------------------------------------ 5
step "health checks: waiting until every SubVS and mail service is Up (bounded: 60 s)"
t=$SECONDS
check "all services Up within 60 s (redirect; nine SubVSs x 2 RS; IMAP, SMTP, POP x 2 RS)" wait_for 60 all_up
say "all Up after $((SECONDS - t)) s"
say "\$ exlbctl status     # the guide's §4.1.1 table"
show_status
check "status: the port-80 redirect VS shows Redirect, the 443 VS has nine SubVSs" \
	bash -c '[[ $(jq -r "[.vs[] | select(.port == 80) | .status][0]" <<<"$1") == Redirect &&
		$(jq -r "[.vs[] | select(.port == 443) | .subvs | length][0]" <<<"$1") == 9 ]]' _ "$(sj)"
check "status: POP (no TLS) is served by the kernel (L4), HTTPS by exlbd (L7)" \
	bash -c '[[ $(jq -r "[.vs[] | select(.port == 110) | .layer][0]" <<<"$1") == L4 &&
		$(jq -r "[.vs[] | select(.port == 443) | .layer][0]" <<<"$1") == L7 ]]' _ "$(sj)"

# ------------------------------------------------------------------ 6
step "HTTPS clients (curl, certificate verified) to the Exchange virtual directories"
for v in owa ews mapi Microsoft-Server-ActiveSync Autodiscover; do
	r=$(https $v 4)
	say "$(printf '%-32s' "https://mail.exlb.test/$v/") -> $r"
	check "/$v/ answered 200 by both servers (lc rotates)" test "$(servers "$r")" = "exch1 exch2"
done
loc=$(cli curl -s --max-time 10 -o /dev/null -w '%{http_code} %{redirect_url}' "http://$VIP/owa/" -H 'Host: mail.exlb.test')
say "http://mail.exlb.test/owa/ -> $loc"
check "port 80 redirects to https (302)" test "$loc" = "302 https://mail.exlb.test/owa/"

# ------------------------------------------------------------------ 7
SUBJ="exlb demo $$ $RANDOM"
step "SMTP: a message to alice@exlb.test (python smtplib${MAILMODE/starttls/, STARTTLS})"
r=$(cli timeout 60 $PY -c "$MAIL_PY" $VIP "$MAILMODE" "$T/cert.pem" send "$SUBJ" 2>&1)
say "SMTP: $r"
if [[ $MAILMODE == plain ]]; then
	check "SMTP message accepted by an Exchange server" grep -qE '^server exch[12]$' <<<"$r"
else
	check "SMTP STARTTLS (TLS from exlbd) and message accepted by an Exchange server" \
		grep -qE '^tls TLSv1\.[23] server exch[12]$' <<<"$r"
fi

# ------------------------------------------------------------------ 8
step "IMAP: alice fetches the message (python imaplib${MAILMODE/starttls/, STARTTLS})"
r=$(cli timeout 60 $PY -c "$MAIL_PY" $VIP "$MAILMODE" "$T/cert.pem" fetch "$SUBJ" 2>&1)
say "IMAP: $r"
check "IMAP fetch through the VIP finds the message" grep -qF "found 'Subject: $SUBJ'" <<<"$r"
r=$(cli timeout 60 $PY -c "$MAIL_PY" $VIP "$MAILMODE" "$T/cert.pem" imap 4 2>&1)
say "4 IMAP logins greeted by: $r"
check "IMAP logins balanced over both servers (rr)" bash -c '[[ $1 == *exch1* && $1 == *exch2* ]]' _ "$r"
r=$(cli timeout 60 $PY -c "$MAIL_PY" $VIP "$MAILMODE" "$T/cert.pem" pop 4 2>&1)
say "4 POP3 sessions (exlb.ko, L4) greeted by: $r"
check "POP3 sessions balanced over both servers by the kernel" bash -c '[[ $1 == *exch1* && $1 == *exch2* ]]' _ "$r"

# ------------------------------------------------------------------ 9
step "OWA down on exch1: its /owa/healthcheck.htm answers 503"
exrs_vdir_fail exch1 owa
t=$SECONDS
owa1_down() { [[ $(rs_health 443 OWA $EX1) == down* ]]; }
check "exlbd marks exch1 down in the OWA SubVS (within 30 s)" wait_for 30 owa1_down
say "detected after $((SECONDS - t)) s (2 failed checks, RetryInterval 9 s)"
show_status
r=$(https owa 4); say "/owa/ -> $r"
check "OWA now only on exch2" test "$(servers "$r")" = "exch2"
r=$(https ews 4); say "/ews/ -> $r"
check "EWS still on both servers" test "$(servers "$r")" = "exch1 exch2"

# ------------------------------------------------------------------ 10
step "exch1 fails entirely while Outlook holds an IMAP and a POP3 connection to it"
cli timeout 150 $PY -c "$HOLD_PY" $VIP "$MAILMODE" "$T/cert.pem" "$T/held" >"$T/hold.out" 2>&1 &
HOLD_PID=$!
held_or_gone() { [[ -e $T/held ]] || ! kill -0 "$HOLD_PID" 2>/dev/null; }
wait_for 60 held_or_gone
sed 's/^/client: /' "$T/hold.out" | while read -r l; do say "$l"; done
check "client holds an IMAP and a POP3 connection to exch1" \
	bash -c 'grep -q "^hold imap exch1" "$1" && grep -q "^hold pop3 exch1" "$1"' _ "$T/hold.out"
say "exch1's link goes down: no FIN, no RST from it; only the health checks can notice"
ip -n demo-exch1 link set eth0 down
tdown=$(date +%s.%N)
t=$SECONDS
ex1_down() {
	[[ $(rs_health 143 "" $EX1) == down* && $(rs_health 110 "" $EX1) == down* &&
	   $(rs_health 25 "" $EX1) == down* && $(rs_health 443 EWS $EX1) == down* ]]
}
check "exlbd marks exch1 down everywhere (within 45 s)" wait_for 45 ex1_down
say "detected after $((SECONDS - t)) s"
wait_for 20 bash -c '(( $(grep -c "^end " "$1") >= 2 ))' _ "$T/hold.out"
for k in imap pop3; do
	line=$(grep "^end $k " "$T/hold.out") || line="end $k none $tdown"
	read -r _ _ kind tend <<<"$line"
	ms=$(awk -v a="$tdown" -v b="$tend" 'BEGIN { printf "%d", (b - a) * 1000 }')
	say "held $k connection: $kind $ms ms after exch1 went off the network"
	if [[ $k == pop3 || $MAILMODE == plain ]]; then
		check "held $k connection (exlb.ko) reset (RST) by droponfail within 45 s" \
			bash -c '[[ $1 == reset ]] && (( $2 < 45000 ))' _ "$kind" "$ms"
	else
		check "held $k connection (exlbd, STARTTLS) reset (RST) by droponfail within 45 s" \
			bash -c '[[ $1 == reset ]] && (( $2 < 45000 ))' _ "$kind" "$ms"
	fi
done
wait "$HOLD_PID" 2>/dev/null
HOLD_PID=

# ------------------------------------------------------------------ 11
step "after the failover: every new connection goes to exch2"
show_status
r=$(https owa 2; https ews 2; https mapi 2); say "HTTPS /owa/ /ews/ /mapi/ -> $r"
check "HTTPS only on exch2" test "$(servers "$r")" = "exch2"
r=$(cli timeout 60 $PY -c "$MAIL_PY" $VIP "$MAILMODE" "$T/cert.pem" imap 3 2>&1); say "IMAP logins: $r"
check "IMAP only on exch2" test "$r" = "exch2 exch2 exch2 "
r=$(cli timeout 60 $PY -c "$MAIL_PY" $VIP "$MAILMODE" "$T/cert.pem" pop 3 2>&1); say "POP3 sessions: $r"
check "POP3 only on exch2" test "$r" = "exch2 exch2 exch2 "
r=$(cli timeout 60 $PY -c "$MAIL_PY" $VIP "$MAILMODE" "$T/cert.pem" send "$SUBJ (2)" 2>&1); say "SMTP: $r"
check "SMTP on exch2" grep -qE 'server exch2$' <<<"$r"

# ------------------------------------------------------------------ 12
step "per real server counters (exlbctl stats) and the access log"
ctl stats | indent
check "counters: both servers served connections on the kernel POP VS and the OWA SubVS" bash -c '
	jq -e "[.vs[] | select(.port == 110) | .rs[] | select(.conns > 0)] | length == 2" <<<"$1" >/dev/null &&
	jq -e "[.vs[] | select(.port == 443) | .subvs[] | select(.name | endswith(\" - OWA\")) | .rs[] | select(.conns > 0)] | length == 2" <<<"$1" >/dev/null' _ "$(ctl -j stats)"
say "access log (last 3 of $(wc -l < "$T/access.log") lines):"
tail -n 3 "$T/access.log" | indent
check "access log has a line per HTTPS request with its real server" \
	grep -q "rs=$EX2:80 \"GET /owa/ HTTP/1.1\" status=200" "$T/access.log"
