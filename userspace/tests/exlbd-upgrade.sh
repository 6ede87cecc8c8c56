#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The seamless upgrade (docs/upgrade.md) under load: exlbd is replaced
# EXLB_UPGRADE_TAKEOVERS times (default 5) by `exlbd --takeover` while
# clients keep using it, and nobody notices.
#
#   client                 lb (exlbd --no-kernel, health checks on)   rs1, rs2
#   up-cl 198.18.80.2 ---- up-lb 198.18.80.1                          nginx :80
#                                VIP 198.18.80.10                     rs1 also dovecot :143
#                                  :443 Exch    HTTPS offloaded to :80
#                                  :143 IMAPST  IMAP STARTTLS to rs1:143
#                          up-br 198.18.81.1 ----- rs1 198.18.81.11, rs2 198.18.81.12
#
# The load, all through the takeovers: two loops of curl, each invocation
# a new TLS connection carrying three requests (keep-alive); a download of
# a 6 MB file the server sends slowly (it outlives every takeover, so the
# first exlbd must drain it to its end); an IMAP session logged in through
# STARTTLS before the first takeover and used after each one. Asserted:
# every takeover returns 0 with a new pid; 0 refused or failed requests
# (all counted); the download arrives whole (sha256); the IMAP session
# answers after every takeover, and so does the admin listener (/metrics);
# SIGHUP and SIGUSR1 under the load leave exlbd serving; every old exlbd
# exits 0 once its last connection ended, only one exlbd is left, and no
# sanitizer report.
# Then: a takeover whose new exlbd is killed before it serves (it blocks
# opening its access log, a FIFO nobody reads) leaves the old one serving,
# refusing changes while it waits and accepting them after; a takeover
# asked by a user other than root (setpriv, uid nobody) is refused.
#
# Orphans: the daemon a takeover forks outlives the command, so this script
# runs itself under reaper.py (a child subreaper) to learn how each ends.
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# EXLB_UPGRADE_TAKEOVERS (5), KEEP=1 keeps the temp dir. Needs root,
# iproute2, nginx, dovecot, postfix, curl, openssl, python3, jq, setpriv.
# TAP, the plan last; exits 0 only if all passed, 4 if skipped.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx dovecot curl openssl jq python3 timeout setpriv sha256sum; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"

if [ -z "${EXLB_REAPER_LOG:-}" ]; then
	EXLB_REAPER_LOG=$(mktemp /tmp/exlb-upgrade-reaped.XXXXXX)
	export EXLB_REAPER_LOG
	python3 "$here/reaper.py" "$EXLB_REAPER_LOG" bash "$0" "$@"
	rc=$?
	rm -f "$EXLB_REAPER_LOG"
	exit $rc
fi

TAKEOVERS=${EXLB_UPGRADE_TAKEOVERS:-5}
readonly MAIL=mail.example.test LOOPS=2 LOOP_MAX=3000 BIG_MB=6 TLSLOAD_THREADS=6

T=$(mktemp -d /tmp/exlb-upgrade.XXXXXX)
chmod 755 "$T"
export EXRS_DIR=$T/rs EXRS_BIG_MB=$BIG_MB EXRS_LIMIT_RATE=200k MAILRS_DIR=$T/mail
SOCK=$T/exlbd.sock
DAEMON_PID=
BG_PIDS=()

# shellcheck source=lib/lbnet.sh
source "$here/lib/lbnet.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"
# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"
# shellcheck source=lib/mail-rs.sh
source "$here/lib/mail-rs.sh"

# every exlbd serving $SOCK (the first and those --takeover started)
daemons() { pgrep -f -- "--socket $SOCK" | tr '\n' ' '; }

cleanup() {
	local p
	touch "$T/stop"
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in $(daemons); do kill -TERM "$p" 2>/dev/null; done
	exlbd_kill
	mailrs_cleanup 2>/dev/null
	exrs_cleanup 2>/dev/null
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

echo "TAP version 13"

lbnet_setup up 198.18.80 || skip "cannot create network namespaces"
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"
exrs_setup rs1 "$NS_RS1" $RS1 && exrs_setup rs2 "$NS_RS2" $RS2
report $? "nginx as Exchange servers rs1 ($RS1) and rs2 ($RS2), a ${BIG_MB} MB file sent at 200 kB/s"
mailrs_setup "$NS_RS1" $RS1 >>"$T/mailrs.log" 2>&1
report $? "dovecot and postfix on rs1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=$MAIL" -addext "subjectAltName=DNS:$MAIL" \
	-keyout "$T/mail.key" -out "$T/mail.pem" 2>/dev/null
report $? "a test certificate for $MAIL"

# ---- exlbd, health checks on: a new exlbd must start with the old verdicts

opts=(--no-kernel --state-dir "$T/state" --socket "$SOCK" --hard-stop-after 100)
start_exlbd() { in_lb env -u EXLBD_NO_HEALTH_CHECKS "$EXLBD" "$@" >>"$T/exlbd.log" 2>&1; }
start_exlbd "${opts[@]}" &
DAEMON_PID=$!
FIRST_PID=$DAEMON_PID
exlbd_ready "exlbd runs in the LB namespace (pid $DAEMON_PID)"

cfg cert add mail "$T/mail.pem" "$T/mail.key"
cfg vs add $VIP 443 tcp nickname=Exch VStype=http SSLAcceleration=1 CertFile=mail \
	CipherSet=BestPractices Schedule=rr CheckType=http CheckUrl=/owa/healthcheck.htm CheckUseGet=1
cfg rs add Exch $RS1 port=80
cfg rs add Exch $RS2 port=80
cfg vs add $VIP 143 tcp nickname=IMAPST VStype=tls StartTLSMode=4 SSLAcceleration=1 \
	CertFile=mail CipherSet=BestPractices CheckType=imap CheckPort=143
cfg rs add IMAPST $RS1 port=143
# the admin listener (docs/admin.md) goes over too: a scrape after each takeover
cfg set AdminAddress $LB_IP
cfg set AdminPort 8443
report "${cfg_bad:-0}" "configured: Exch :443 (TLS offload, rs1 and rs2), IMAPST :143 (STARTTLS to rs1), admin listener $LB_IP:8443"
KEY=$(ctl admin apikey add scrape role=read-only 2>/dev/null | grep -o 'exlb_[0-9a-f]*' | head -n 1)
scrape() {	# the status of GET /metrics on the admin listener
	in_cl curl -sk --max-time 10 -o /dev/null -w '%{http_code}' \
		-H "Authorization: Bearer $KEY" "https://$LB_IP:8443/metrics" 2>/dev/null
}
health_up() { ctl -j status 2>/dev/null | jq -r '[.vs[] | (.rs // [])[] | select(.health == "up")] | length'; }
all_up() { [ "$(health_up)" = 3 ]; }
wait_for 40 all_up
report $? "all 3 health targets up after $WAITED s ($(health_up) up)"

RESOLVE=(--resolve "$MAIL:443:$VIP")
code_of() {	# code_of PATH: status of a GET on a new connection
	in_cl curl -sk --max-time 10 "${RESOLVE[@]}" -o /dev/null -w '%{http_code}' \
		"https://$MAIL$1" 2>/dev/null
}
serves() { [ "$(code_of /owa/)" = 200 ]; }
check "a GET of /owa/ through the VS answers 200" serves

# ---- the load

# load_loop N: curl invocations until $T/stop (at most LOOP_MAX, each
# bounded by --max-time), each a new connection with three requests on it;
# one line per request in $T/load.N: the status, 000 for none
load_loop() {
	local n=$1 i out
	for ((i = 0; i < LOOP_MAX; i++)); do
		[ -e "$T/stop" ] && break
		out=$(in_cl curl -sk --max-time 10 "${RESOLVE[@]}" -w '%{http_code}\n' \
			-o /dev/null -o /dev/null -o /dev/null \
			"https://$MAIL/owa/?l=$n.$i.a" "https://$MAIL/ews/?l=$n.$i.b" \
			"https://$MAIL/mapi/?l=$n.$i.c" 2>>"$T/load.err")
		echo "curl exit $?" >>"$T/load.rc.$n"
		printf '%s\n' "$out" >>"$T/load.$n"
	done
}
for ((n = 0; n < LOOPS; n++)); do
	load_loop $n &
	BG_PIDS+=("$!")
done

# new connections as fast as TLSLOAD_THREADS threads can open them: the
# accept queues are rarely empty, so a listener closed with connections
# in it (no hand-over) shows up as failed requests
in_cl python3 "$here/tlsload.py" $VIP 443 $MAIL /owa/ "$T/stop" "$TLSLOAD_THREADS" 100 \
	>"$T/tlsload.json" 2>>"$T/tlsload.err" &
TLSLOAD_PID=$!
BG_PIDS+=("$TLSLOAD_PID")

# the held download
big_sum=$(sha256sum "$(exrs_big_file)" | cut -d' ' -f1)
in_cl curl -sk --max-time 110 "${RESOLVE[@]}" -o "$T/big" -w '%{http_code} %{size_download}\n' \
	"https://$MAIL/big/${BIG_MB}M" >"$T/big.result" 2>>"$T/big.err" &
BIG_PID=$!
BG_PIDS+=("$BIG_PID")

# the held IMAP session
coproc IMAP { in_cl timeout 150 python3 "$here/imapheld.py" $VIP 143 2>>"$T/imap.err"; }
BG_PIDS+=("$IMAP_PID")
imap_line=
read -r -t 30 -u "${IMAP[0]}" imap_line
report "$([ "$imap_line" = ready ]; echo $?)" "IMAP session logged in through STARTTLS before the first takeover ($imap_line)"
imap_cmd() {	# one round of commands on the held session; IMAP_SAID: its answer
	IMAP_SAID=
	echo cmd >&"${IMAP[1]}" && read -r -t 30 -u "${IMAP[0]}" IMAP_SAID
	[[ $IMAP_SAID == ok* ]]
}
got_bytes() { [ "$(stat -c %s "$T/big" 2>/dev/null || echo 0)" -gt 100000 ]; }
wait_for 10 got_bytes
report $? "the download is under way before the first takeover ($(stat -c %s "$T/big" 2>/dev/null) bytes)"
load_total() { cat "$T"/load.[0-9]* 2>/dev/null | grep -c .; }
load_more() { [ "$(load_total)" -ge "$1" ]; }
wait_for 10 load_more 30
report $? "the request loops run ($(load_total) requests so far)"

# ---- the takeovers

OLD_PIDS=()
cur=$DAEMON_PID
for ((k = 1; k <= TAKEOVERS; k++)); do
	before=$(load_total)
	t0=$EPOCHREALTIME
	# to a file: the new daemon keeps the caller's standard output (its
	# access log), so a $(...) would wait for it to end
	in_lb env -u EXLBD_NO_HEALTH_CHECKS "$EXLBD" --takeover "${opts[@]}" \
		>"$T/takeover.$k.out" 2>>"$T/exlbd.log"
	rc=$?
	new=$(sed -n 's/^exlbd: pid \([0-9]*\) serves now.*/\1/p' "$T/takeover.$k.out")
	report "$([ "$rc" = 0 ] && [ -n "$new" ] && [ "$new" != "$cur" ]; echo $?)" \
		"takeover $k: exlbd --takeover returned $rc in $(tap_since "$t0") s, pid ${new:-?} replaces $cur"
	[ -n "$new" ] || break
	OLD_PIDS+=("$cur")
	cur=$new
	# the verdicts came along: no RS "unchecked" (503) in the new exlbd
	hu=$(health_up)
	report "$([ "$hu" = 3 ]; echo $?)" "takeover $k: the new exlbd has all 3 health targets up at once ($hu up)"
	sc=$(scrape)
	report "$([ "$sc" = 200 ]; echo $?)" "takeover $k: the admin listener answers a scrape at once ($sc)"
	wait_for 10 load_more $((before + 20))
	imap_cmd
	report $? "takeover $k: the held IMAP session still answers ($IMAP_SAID); $(($(load_total) - before)) requests meanwhile"
done
NEW_PID=$cur

# logrotate's signals under the same load: exlbd reopens its logs and serves on
before=$(load_total)
for sig in HUP USR1 HUP USR1; do
	kill -$sig "$cur" 2>/dev/null
	sleep 0.3
done
wait_for 10 load_more $((before + 20))
kill -0 "$cur" 2>/dev/null
report $? "SIGHUP and SIGUSR1 twice each under load: exlbd $cur still runs; $(($(load_total) - before)) requests meanwhile (all counted below)"

# let the loops run on the last exlbd for a moment, then stop them
before=$(load_total)
wait_for 10 load_more $((before + 30))
touch "$T/stop"
for p in "${BG_PIDS[@]}"; do
	[ "$p" = "$BIG_PID" ] || [ "$p" = "${IMAP_PID:-}" ] || wait "$p" 2>/dev/null
done
total=$(load_total)
ok=$(cat "$T"/load.[0-9]* | grep -c '^200$')
bad=$(cat "$T"/load.[0-9]* | grep -v '^200$' | sort | uniq -c | tr -s ' \n' ' ')
curl_bad=$(cat "$T"/load.rc.* | grep -vc 'exit 0$')
report "$([ "$total" -gt 100 ] && [ "$ok" = "$total" ] && [ "$curl_bad" = 0 ]; echo $?)" \
	"curl loops: 0 refused or failed requests across $TAKEOVERS takeovers: $ok of $total answered 200, ${curl_bad} curl runs failed${bad:+; others:$bad}"
[ "$curl_bad" = 0 ] || diag "curl errors:" "$(sort "$T/load.err" | uniq -c | head -n 5)"
wait "$TLSLOAD_PID"
tl=$(cat "$T/tlsload.json" 2>/dev/null)
tl_ok=$(jq -r .ok <<<"$tl" 2>/dev/null)
tl_failed=$(jq -r .failed <<<"$tl" 2>/dev/null)
report "$([ "${tl_ok:-0}" -gt 1000 ] && [ "$tl_failed" = 0 ]; echo $?)" \
	"new-connection load: 0 refused or failed requests: ${tl_ok:-?} answered 200 on $(jq -r .conns <<<"$tl" 2>/dev/null) connections, ${tl_failed:-?} failed $(jq -c .errors <<<"$tl" 2>/dev/null)"
tl_close=$(jq -r .close <<<"$tl" 2>/dev/null)
report "$([ "${tl_close:-0}" -gt 0 ]; echo $?)" \
	"draining exlbds answered ${tl_close:-?} requests with Connection: close (the clients moved on without a failure)"

wait "$BIG_PID"
big_rc=$?
got=$(sha256sum "$T/big" 2>/dev/null | cut -d' ' -f1)
report "$([ "$big_rc" = 0 ] && [ "$got" = "$big_sum" ]; echo $?)" \
	"the held download completed through all takeovers: curl $big_rc, $(cat "$T/big.result" 2>/dev/null), sha256 $([ "$got" = "$big_sum" ] && echo matches || echo differs)"

imap_cmd
report $? "the IMAP session works at the end ($IMAP_SAID)"
echo logout >&"${IMAP[1]}"
IMAP_SAID=
read -r -t 30 -u "${IMAP[0]}" IMAP_SAID
report "$([ "$IMAP_SAID" = bye ]; echo $?)" "the IMAP session logs out cleanly ($IMAP_SAID)"

# every old exlbd ends once its last connection did: the first is our child,
# the others were orphaned by their --takeover and reaped by reaper.py
wait "$FIRST_PID"
first_rc=$?
DAEMON_PID=
reaped() {
	local p
	for p in "${OLD_PIDS[@]:1}"; do grep -q "^$p " "$EXLB_REAPER_LOG" || return 1; done
}
wait_for 30 reaped
codes="$FIRST_PID:$first_rc"
all0=$([ "$first_rc" = 0 ]; echo $?)
for p in "${OLD_PIDS[@]:1}"; do
	c=$(sed -n "s/^$p //p" "$EXLB_REAPER_LOG")
	codes+=" $p:${c:-running}"
	[ "$c" = 0 ] || all0=1
done
report "$all0" "every old exlbd exited 0 after draining (pid:status $codes)"
left=$(daemons)
report "$([ "$left" = "$NEW_PID " ]; echo $?)" "only one exlbd is left: pid $NEW_PID (running: $left)"
drained=$(grep -c 'upgrade: the last connection ended: exiting' "$T/exlbd.log")
report "$([ "$drained" = "$TAKEOVERS" ]; echo $?)" "$drained of $TAKEOVERS old exlbds ended with their last connection, none by the hard stop"

# ---- a takeover that dies before it serves

DAEMON_PID=$NEW_PID
mkfifo "$T/stuck.fifo"
in_lb env -u EXLBD_NO_HEALTH_CHECKS "$EXLBD" --takeover "${opts[@]}" --access-log "$T/stuck.fifo" \
	>"$T/stuck.out" 2>>"$T/exlbd.log" &
STUCK_CALLER=$!
# the new daemon as the old one saw it (SO_PEERCRED) when it asked
stuck_pid() { sed -n 's/.*upgrade: pid \([0-9]*\) takes over.*/\1/p' "$T/exlbd.log" | tail -n 1; }
stuck_asked() { [ -n "$(stuck_pid)" ] && [ "$(stuck_pid)" != "$NEW_PID" ]; }
wait_for 10 stuck_asked
frozen() { ctl set RetryCount=3 2>&1 | grep -q 'upgrade in progress'; }
check "while a new exlbd starts, a change is refused: $(ctl set RetryCount=3 2>&1 | head -c 120)" frozen
check "... and the old exlbd still serves" serves
victim=$(stuck_pid)
report "$([ -n "$victim" ] && kill -0 "$victim" && ! grep -q "pid $victim serves" "$T/exlbd.log"; echo $?)" \
	"the new exlbd (pid ${victim:-?}) runs, stuck before it serves"
[ -n "$victim" ] && kill -KILL "$victim"
wait "$STUCK_CALLER"
rc=$?
report "$([ "$rc" = 1 ] && grep -q 'takeover failed' "$T/stuck.out" "$T/exlbd.log"; echo $?)" \
	"exlbd --takeover returns $rc and says why: $(grep -h 'takeover failed' "$T/exlbd.log" | tail -n 1)"
changes_ok() { ctl set RetryCount=3 >/dev/null 2>&1; }
wait_for 10 changes_ok
report $? "the old exlbd (pid $NEW_PID) takes changes again after $WAITED s"
check "... serves" serves
report "$([ "$(daemons)" = "$NEW_PID " ]; echo $?)" "... and is the only exlbd ($(daemons))"
grep -q "upgrade: pid ${victim:-x} failed before it served" "$T/exlbd.log"
report $? "its log says the takeover failed and it carries on"

# ---- a takeover asked by someone else than root or exlbd's user

chmod 0666 "$SOCK"	# the filesystem would stop nobody first; SO_PEERCRED must
nobody=$(id -u nobody)
out=$(in_lb setpriv --reuid="$nobody" --regid="$nobody" --clear-groups \
	"$EXLBD" --takeover --no-kernel --state-dir "$T/nobody" --socket "$SOCK" 2>&1)
rc=$?
chmod 0600 "$SOCK"
report "$([ "$rc" = 1 ] && grep -q "permission denied (uid $nobody" <<<"$out"; echo $?)" \
	"a takeover by uid $nobody is refused: rc $rc, $(grep -m1 refused <<<"$out")"
check "... the exlbd serving is untouched" serves
check "... and takes changes" changes_ok
report "$([ "$(daemons)" = "$NEW_PID " ]; echo $?)" "... and is still the only exlbd"

n=$(exlbd_sanitizer_reports)
report "$([ "$n" = 0 ]; echo $?)" "no sanitizer report from any exlbd ($n)"
kill -TERM "$NEW_PID"
wait_for 10 eval '! kill -0 "$NEW_PID" 2>/dev/null'
report $? "the last exlbd stops on SIGTERM"
DAEMON_PID=
[ "$TAP_FAILED" = 0 ] || diag "exlbd log:" "$(grep -v ' client=' "$T/exlbd.log" | tail -n 40)"
tap_end
