#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# ESP's Basic pre-authentication end to end (docs/esp.md "The Basic
# logon"): InputAuthMode=1 with OutputAuthMode 1 and 0, against the real
# slapd of lib/slapd.sh, in front of nginx.
#
# The network is lib/lbnet.sh's:
#   client 198.18.92.2 ---- lb (exlbd --no-kernel)   VIP 198.18.92.10:
#                                                      80 "Basic1" InputAuthMode=1 OutputAuthMode=1
#                                                      81 "Basic0" InputAuthMode=1 OutputAuthMode=0
#                                                    VIP2 198.18.92.11:80 "Plain" (no ESP)
#                eb-br 198.18.93.1 ---- rs1 198.18.93.11 nginx (lib/exchange-rs.sh)
#                                  ---- rs2 198.18.93.12 slapd (lib/slapd.sh), a service account
#
# The story: without credentials, with a wrong password, a locked or
# expired account, LDAP-injection names: 401 with the Basic challenge, and
# nginx's access log proves nothing reached it (each request carries a
# unique marker; an allowed request is seen first, so absence is measured,
# not waited for). A valid user gets the RS's 200; nginx's auth log shows
# the client's Authorization header unchanged with OutputAuthMode=1 and
# none with 0. An ExcludedDirectories path needs no logon. slapd's own log
# (-d 256: a line per BIND) proves the verdict cache: the second request of
# a keep-alive session, and a later connection, do not bind. The
# failed-logon limit blocks without asking slapd. slapd stopped (SIGSTOP):
# 503 within the domain's timeout while the non-ESP VS keeps answering at
# once. The ESP log names users and never a password.
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# KEEP=1 keeps the temp dir. Needs root, iproute2, nginx, slapd, curl,
# python3, openssl. TAP, the plan last; exits 0 only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

ESP_TOOLS=(ip nginx curl python3 openssl ldapsearch ldapwhoami)
# shellcheck source=lib/esp-env.sh
source "$here/lib/esp-env.sh"
esp_setup eb 198.18.92 espb 256
exrs_setup rs1 "$NS_RS1" $RS1
report $? "nginx as real server rs1 ($RS1)"

slapd_sso_args "$RS2" $P_LDAP "$T/adminpass"
cfg sso add EXLB "${SSO_ARGS[@]}" max_failed_auths=3 reset_fail_tout=600 unblock_tout=600
esp=(EspEnabled=1 InputAuthMode=1 Domain=EXLB ESPLogs=3 AllowedHosts=mail.example.com
     "AllowedDirectories=/*" "ExcludedDirectories=/pub/*")
cfg vs add $VIP 80 tcp nickname=Basic1 VStype=http CheckType=none "${esp[@]}" OutputAuthMode=1
cfg rs add Basic1 $RS1 port=80
cfg vs add $VIP 81 tcp nickname=Basic0 VStype=http CheckType=none "${esp[@]}" OutputAuthMode=0
cfg rs add Basic0 $RS1 port=80
cfg vs add $VIP2 80 tcp nickname=Plain VStype=http CheckType=none
cfg rs add Plain $RS1 port=80
report "${cfg_bad:-0}" "configured: SSO domain EXLB, Basic1 (OutputAuthMode=1), Basic0 (OutputAuthMode=0), Plain"
ctl status -j >"$T/status.json"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(any(v["status"] == "Refused" for v in j["vs"]))' "$T/status.json"
report $? "EspEnabled=1 InputAuthMode=1 OutputAuthMode 0/1 are accepted: no VS Refused"

# ---- requests: each path ends in a unique marker
n=0
# req PORT USERSPEC PATH [curl args]: sets code, hdrs, mark; USERSPEC "-" = no credentials
req() {
	local port=$1 user=$2 path=$3
	shift 3
	n=$((n + 1))
	mark=z$n-$$
	local -a u=()
	[ "$user" != - ] && u=(-u "$user")
	code=$(in_cl curl -s -o "$T/body" -D "$T/hdrs" -w '%{http_code}' --max-time 20 \
		-H 'Host: mail.example.com' "${u[@]}" "$@" "http://$VIP:$port$path$mark")
	hdrs=$(tr -d '\r' <"$T/hdrs")
}
rslog() { cat "$(exrs_log rs1)"; }

refused=()
req 80 - /owa/
[ "$code" = 401 ] && grep -q '^WWW-Authenticate: Basic realm="EXLB"$' <<<"$hdrs"
report $? "no credentials: $code with WWW-Authenticate: Basic realm=\"EXLB\" ($(grep -i '^www-auth' <<<"$hdrs"))"
refused+=("$mark")
req 80 - /owa/ -H 'Authorization: Basic !!notbase64'
[ "$code" = 401 ]
report $? "undecodable Basic credentials: $code"
refused+=("$mark")
b0=$(slapd_binds)
for spec in alice:wrong-pw bob:bob-pw carol:carol-pw '*:x' ')(uid=*:x' 'alice)(uid=*:alice-pw'; do
	req 80 "$spec" /owa/
	[ "$code" = 401 ]
	report $? "logon '${spec%%:*}' (${spec#*:} as the password): $code"
	refused+=("$mark")
done
# the valid logon, on both VSs: positive evidence that the RS log is current
b1=$(slapd_binds)
req 80 alice:alice-pw /owa/
ok_mark1=$mark
[ "$code" = 200 ] && grep -q "^X-RS: rs1" <<<"$hdrs"
report $? "alice with her password: $code from the RS ($(grep '^X-RS' <<<"$hdrs"))"
logon_binds=$(( $(slapd_binds) - b1 ))
[ "$logon_binds" -ge 1 ]
report $? "that logon asked slapd ($logon_binds binds: service account and user)"
req 81 alice:alice-pw /owa/
ok_mark0=$mark
[ "$code" = 200 ]
report $? "alice on Basic0 (OutputAuthMode=0): $code"
wait_for 5 grep -q -- "$ok_mark0" "$(exrs_log rs1)"
report $? "nginx logged the allowed requests"
bad=
for m in "${refused[@]}"; do
	rslog | grep -q -- "$m" && bad+=" $m"
done
[ -z "$bad" ]
report $? "nothing refused reached nginx (${#refused[@]} markers absent${bad:+; present:$bad})"
[ $((b1 - b0)) -ge 2 ]
report $? "the wrong password, locked, expired and injection logons were decided by slapd or before it ($((b1 - b0)) binds for 6)"

# ---- OutputAuthMode: what reached the RS
want="Basic $(printf 'alice:alice-pw' | base64)"
grep -F -- "$ok_mark1" "$(exrs_auth_log rs1)" | grep -qF "auth=\"$want\""
report $? "OutputAuthMode=1: the RS got the client's Authorization unchanged ($(grep -F -- "$ok_mark1" "$(exrs_auth_log rs1)" | sed 's/auth="Basic .*"/auth="Basic <...>"/'))"
grep -F -- "$ok_mark0" "$(exrs_auth_log rs1)" | grep -q 'auth="-"$'
report $? "OutputAuthMode=0: the RS got no Authorization ($(grep -F -- "$ok_mark0" "$(exrs_auth_log rs1)"))"

# ---- ExcludedDirectories
req 80 - /pub/
[ "$code" = 200 ] && wait_for 5 grep -q -- "$mark" "$(exrs_log rs1)"
report $? "an ExcludedDirectories path (/pub/*) passes without credentials: $code, at the RS"

# ---- the verdict cache: keep-alive and a later connection
b2=$(slapd_binds)
n=$((n + 1))
# POSTs of 300 KB: the first waits for its logon with its body held back
head -c 300000 /dev/urandom >"$T/post"
in_cl curl -s -o "$T/ka1" -o "$T/ka2" -w '%{http_code} %{num_connects}\n' --max-time 20 \
	-H 'Host: mail.example.com' -u dave:dave-pw --data-binary @"$T/post" \
	"http://$VIP/owa/echo" "http://$VIP/ews/echo" >"$T/ka"
ka_binds=$(( $(slapd_binds) - b2 ))
[ "$(tr '\n' ' ' <"$T/ka")" = "200 1 200 0 " ] && [ "$ka_binds" -gt 0 ] && [ "$ka_binds" = "$logon_binds" ]
report $? "keep-alive: two requests of dave on one connection ($(tr '\n' ' ' <"$T/ka")), slapd asked once ($ka_binds binds, a logon is $logon_binds)"
grep -qw 300000 "$T/ka1" && grep -qw 300000 "$T/ka2"
report $? "the body of the request that waited for its logon reached the RS whole ($(head -c 80 "$T/ka1"))"
b3=$(slapd_binds)
req 80 dave:dave-pw /owa/
[ "$code" = 200 ] && [ "$(slapd_binds)" = "$b3" ]
report $? "a new connection with the same credentials: $code, no bind ($(( $(slapd_binds) - b3 )))"
req 80 dave:other-pw /owa/
[ "$code" = 401 ] && [ "$(slapd_binds)" -gt "$b3" ]
report $? "the same user with another password is not a cache hit: $code, slapd asked"

# ---- failed-logon limit (3): the 4th attempt is blocked without slapd
mallory() { req 80 "mallory:$1" /owa/; }
esp_limit_check mallory 401 "logon 'mallory' from $CL_IP refused: blocked"

# ---- the ESP log: users, never passwords
grep -q "esp: VS Basic1: logon 'alice' from $CL_IP: ok" "$T/exlbd.log"
report $? "ESPLogs bit 1: the successful logon is logged ($(grep -m1 "logon 'alice' from .*: ok" "$T/exlbd.log"))"
grep -q "esp: VS Basic1: logon 'bob' from $CL_IP refused: account disabled" "$T/exlbd.log" &&
	grep -q "logon 'carol' from $CL_IP refused: password expired" "$T/exlbd.log" &&
	grep -q "logon 'alice' from $CL_IP refused: bad credentials" "$T/exlbd.log"
report $? "ESPLogs bit 2: the failed ones, with their reason ($(grep -m1 "logon 'bob'" "$T/exlbd.log" | cut -c1-160))"
! grep -E -q 'wrong-pw|bob-pw|carol-pw|alice-pw|dave-pw|guess[0-9]|svc-secret' "$T/exlbd.log" "$ALOG"
report $? "no password in exlbd's log or the access log"

# ---- the directory stalls: 503 within its timeout, other VSs unaffected
kill -STOP "$slapd_pid"
start=$EPOCHREALTIME
in_cl curl -s -o /dev/null --max-time 1 -H 'Host: mail.example.com' -u ghost:ghost-pw \
	"http://$VIP/owa/gone-$$" >/dev/null 2>&1 &
ghost=$!
in_cl curl -s -o /dev/null -w '%{http_code}' --max-time 20 -H 'Host: mail.example.com' \
	-u carol:other-pw "http://$VIP/owa/stall-$$" >"$T/stall" &
stall=$!
worst=0 plain_bad=0 k=0
while kill -0 "$stall" 2>/dev/null && [ $k -lt 200 ]; do
	k=$((k + 1))
	t=$(in_cl curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 \
		-H 'Host: mail.example.com' "http://$VIP2/plain-$k")
	[ "${t%% *}" = 200 ] || plain_bad=$((plain_bad + 1))
	worst=$(awk -v a="$worst" -v b="${t#* }" 'BEGIN { print (b > a) ? b : a }')
	sleep 0.05
done
wait "$stall"
took=$(tap_since "$start")
wait "$ghost" 2>/dev/null
[ "$(cat "$T/stall")" = 503 ] && awk -v t="$took" 'BEGIN { exit !(t < 4.5) }'
report $? "slapd stopped: 503 after $took s (timeout=2 per step)"
[ "$k" -ge 3 ] && [ "$plain_bad" = 0 ] && awk -v w="$worst" 'BEGIN { exit !(w < 0.5) }'
report $? "meanwhile the non-ESP VS answered $k requests, $plain_bad failed, the slowest in $worst s"
grep -q "logon 'carol' from $CL_IP refused: directory unavailable" "$T/exlbd.log"
report $? "the unavailable directory is in the security log"
! grep -q "logon 'ghost'" "$T/exlbd.log"
report $? "the client that went away during its logon: cancelled, its result never logged"
kill -CONT "$slapd_pid"
req 80 alice:alice-pw /owa/
[ "$code" = 200 ]
report $? "slapd back: alice's cached logon passes: $code"

exlbd_stop_checked
tap_end
