#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# ESP's form pre-authentication end to end (docs/esp.md "The form logon"):
# InputAuthMode=2 with OutputAuthMode 1 and 0, against the real slapd of
# lib/slapd.sh, in front of a real server that logs what it receives.
#
# The network is lib/lbnet.sh's:
#   client 198.18.100.2 ---- lb (exlbd --no-kernel)   VIP 198.18.100.10:
#                                                       80 "Form1" InputAuthMode=2 OutputAuthMode=1
#                                                       81 "Form0" InputAuthMode=2 OutputAuthMode=0
#                ef-br 198.18.101.1 ---- rs1 198.18.101.11 a python HTTP server that logs, per
#                                        request, its target, Cookie and Authorization headers
#                                   ---- rs2 198.18.101.12 slapd (lib/slapd.sh), a service account
#
# The story: a browser without a session gets exlbd's logon page, anything
# else 403; wrong, disabled, expired and LDAP-injection logons get the page
# again with one generic error; a valid one gets 302 to its destination with
# the session cookie (HttpOnly, Secure, SameSite=Lax). An expired password
# given right gets UserPwdChangeMsg and the link to UserPwdChangeURL where
# they are set (Form1), the generic page where not (Form0) and for any
# wrong password. With the cookie the
# request reaches the RS without it (other cookies kept), with a Basic
# header made from the session (OutputAuthMode=1) or none (0), never the
# client's own; one logon covers the other service of the domain. Forged
# cookies, open redirects and malformed POSTs are refused; the failed-logon
# limit blocks without asking slapd; with slapd stopped an open session
# still passes and a new logon gets the 503 page; logoff ends the session (forwarded,
# the cookie cleared); a session unused for sess_tout_idle_pub (60 s, the
# smallest Kemp allows) is gone while one used meanwhile lives. Every
# refused request carries a unique marker that the RS log must not hold
# (positive evidence first: an allowed request is seen).
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# KEEP=1 keeps the temp dir. Needs root, iproute2, slapd, curl, python3.
# TAP, the plan last; exits 0 only if all passed. About 75 s (the idle timeout).
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

# shellcheck source=lib/esp-env.sh
source "$here/lib/esp-env.sh"
rs_pid=
esp_setup ef 198.18.100 espf 256
RSLOG=$T/rs.log

# the real server: one line per request, what it was given
cat >"$T/rs.py" <<'EOF'
import http.server, sys
log = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        log.write('%s %s cookie="%s" auth="%s"\n' % (self.command, self.path,
                  self.headers.get("Cookie", "-"), self.headers.get("Authorization", "-")))
        body = ("rs1 %s\n" % self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    do_GET = do_POST = do_HEAD = answer
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer((sys.argv[1], 80), H).serve_forever()
EOF
: >"$RSLOG"
ip netns exec "$NS_RS1" python3 "$T/rs.py" "$RS1" "$RSLOG" >"$T/rs.err" 2>&1 &
rs_pid=$!
wait_for 10 in_rs1 curl -s -o /dev/null --max-time 2 "http://$RS1/rs-ready"
grep -q 'rs-ready' "$RSLOG"
report $? "the logging real server runs on rs1 ($RS1)"

slapd_sso_args "$RS2" $P_LDAP "$T/adminpass"
cfg sso add EXLB "${SSO_ARGS[@]}" max_failed_auths=3 reset_fail_tout=600 unblock_tout=600 \
	sess_tout_type=idle sess_tout_idle_pub=60 sess_tout_idle_priv=600
esp=(EspEnabled=1 InputAuthMode=2 Domain=EXLB ESPLogs=3 AllowedHosts=mail.example.com
     "AllowedDirectories=/*" "ExcludedDirectories=/pub/*" Logoff=/owa/logoff.owa
     "SingleSignOnMessage=Authorised <users> & \"only\"")
cfg vs add $VIP 80 tcp nickname=Form1 VStype=http CheckType=none "${esp[@]}" OutputAuthMode=1 \
	"UserPwdChangeURL=https://pw.example.com/change?from=esp&x=1" "UserPwdChangeMsg=Your password has <expired>"
cfg rs add Form1 $RS1 port=80
cfg vs add $VIP 81 tcp nickname=Form0 VStype=http CheckType=none "${esp[@]}" OutputAuthMode=0
cfg rs add Form0 $RS1 port=80
report "${cfg_bad:-0}" "configured: SSO domain EXLB (idle 60 s public), Form1 (OutputAuthMode=1, UserPwdChangeURL), Form0 (OutputAuthMode=0)"
ctl status -j >"$T/status.json"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(any(v["status"] == "Refused" for v in j["vs"]))' "$T/status.json"
report $? "EspEnabled=1 InputAuthMode=2 OutputAuthMode 0/1 are accepted: no VS Refused"
ctl vs mod Form1 OutputAuthMode=3 >"$T/out2" 2>&1
[ $? != 0 ] && grep -q 'OutputAuthMode=3: not implemented yet' "$T/out2"
report $? "OutputAuthMode=3 (KCD) with the form logon is refused ($(head -c 160 "$T/out2"))"

# ---- helpers: each request path ends in a unique marker
n=0
# get PORT PATH [curl args]: a browser's GET (of PATH, the marker, $Q); sets code, hdrs, mark
get() {
	local port=$1 path=$2
	shift 2
	n=$((n + 1))
	mark=z$n-$$
	code=$(in_cl curl -s -o "$T/body" -D "$T/hdrs" -w '%{http_code}' --max-time 20 \
		-H 'Host: mail.example.com' -H 'Accept: text/html,application/xhtml+xml,*/*;q=0.8' \
		--globoff "$@" "http://$VIP:$port$path$mark${Q:-}")
	hdrs=$(tr -d '\r' <"$T/hdrs")
}
# logon BODY [curl args]: the POST to /lm_auth_proxy on Form1; sets code, hdrs, cookie
logon() {
	local body=$1
	shift
	code=$(in_cl curl -s -o "$T/body" -D "$T/hdrs" -w '%{http_code}' --max-time 20 \
		-H 'Host: mail.example.com' --data-raw "$body" "$@" "http://$VIP/lm_auth_proxy")
	hdrs=$(tr -d '\r' <"$T/hdrs")
	cookie=$(sed -n 's/^Set-Cookie: exlb_esp=\([0-9a-f]*\);.*/\1/p' <<<"$hdrs")
}
is_page() { grep -q 'action="/lm_auth_proxy"' "$T/body"; }
refused=()

# ---- the idle timeout's sessions come first: they need a minute
logon 'username=dave&password=dave-pw&destination=%2Fowa%2F'
idle_cookie=$cookie
logon 'username=dave&password=dave-pw&destination=%2Fowa%2F'
live_cookie=$cookie
idle_t0=$EPOCHREALTIME
[ ${#idle_cookie} = 32 ] && [ ${#live_cookie} = 32 ] && [ "$idle_cookie" != "$live_cookie" ]
report $? "two sessions of dave for the idle timeout (two different 128-bit ids)"

# ---- no session: the logon page, nothing at the RS
Q='?a=1&b=2' get 80 /owa/
[ "$code" = 200 ] && is_page
report $? "a browser's GET without a session: $code, exlbd's logon page"
refused+=("$mark")
grep -q "<p id=\"message\">Authorised &lt;users&gt; &amp; &quot;only&quot;</p>" "$T/body"
report $? "SingleSignOnMessage shown HTML-escaped ($(grep -o '<p id="message">[^<]*' "$T/body"))"
grep -q "name=\"destination\" value=\"/owa/$mark?a=1&amp;b=2\"" "$T/body"
report $? "the original destination in the hidden field ($(grep -o 'name="destination" value="[^"]*"' "$T/body"))"
grep -q 'name="username"' "$T/body" && grep -q 'type="password" name="password"' "$T/body" &&
	grep -q 'name="flags" value="0" checked' "$T/body" && grep -q 'name="flags" value="4"' "$T/body"
report $? "user name, password and the public (0, default) / private (4) choice"
! grep -Eiq '<script|src=|href=|url\(|@import' "$T/body" &&
	grep -q "^Content-Security-Policy: default-src 'none'; form-action 'self'; frame-ancestors 'none'" <<<"$hdrs" &&
	grep -q '^Cache-Control: no-store' <<<"$hdrs" && grep -q '^X-Frame-Options: DENY' <<<"$hdrs"
report $? "self-contained (no script, no external asset), strict CSP, no-store, no framing"
Q='?q="><script>' get 80 /owa/
grep -q 'value="/owa/[^"]*&quot;&gt;&lt;script&gt;"' "$T/body" && ! grep -q '<script' "$T/body"
report $? "a query with quotes and tags stays inside the escaped attribute ($(grep -o 'name="destination" value="[^"]*"' "$T/body"))"
refused+=("$mark")
n=$((n + 1))
mark=z$n-$$
code=$(in_cl curl -s -o "$T/body" -w '%{http_code}' --max-time 20 -H 'Host: mail.example.com' \
	-u alice:alice-pw -H 'User-Agent: Apple-iPhone/1' -X POST --data-raw 'x' \
	"http://$VIP/Microsoft-Server-ActiveSync/$mark")
[ "$code" = 403 ]
report $? "an ActiveSync POST with Basic credentials on the form service: $code, not a page"
refused+=("$mark")
n=$((n + 1))
mark=z$n-$$
code=$(in_cl curl -s -o "$T/body" -w '%{http_code}' --max-time 20 -H 'Host: mail.example.com' \
	"http://$VIP/ews/$mark")
[ "$code" = 403 ]
report $? "a GET that does not accept HTML (curl's */*): $code"
refused+=("$mark")

# ---- failed logons: one generic answer, nothing at the RS
b0=$(slapd_binds)
logon 'username=alice&password=wrong-pw&destination=%2Fowa%2F'
cp "$T/body" "$T/wrong.html"
[ "$code" = 200 ] && is_page && [ -z "$cookie" ] && grep -q 'id="error"' "$T/body" &&
	! grep -Eq 'pwdchange|href=|pw\.example' "$T/body"
report $? "alice with a wrong password: $code, the page again with an error, no cookie, no password change link"
logon 'username=nobody&password=x&destination=%2Fowa%2F'
cmp -s "$T/body" "$T/wrong.html"
report $? "an unknown user gets the very same page (the user's existence is not told)"
for spec in 'bob:bob-pw' 'carol:wrong-pw' '*:x' ')(uid=*:x' 'alice)(uid=*:alice-pw' 'alice%00:alice-pw' 'alice:'; do
	u=${spec%%:*} p=${spec#*:}
	logon "username=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="%"))' "$u")&password=$p&destination=%2Fowa%2F"
	[ "$code" = 200 ] && [ -z "$cookie" ] && cmp -s "$T/body" "$T/wrong.html"
	report $? "logon '$u' ('$p' as the password): $code, the same generic page, no cookie"
done
[ $(( $(slapd_binds) - b0 )) -ge 2 ]
report $? "those were decided by slapd or before it ($(( $(slapd_binds) - b0 )) binds)"

# ---- an expired password: UserPwdChangeURL's link, only for the right password
logon 'username=carol&password=carol-pw&destination=%2Fowa%2F'
[ "$code" = 200 ] && is_page && [ -z "$cookie" ] && ! grep -q 'id="error"' "$T/body" &&
	grep -qF '<p id="pwdchange"><strong>Your password has &lt;expired&gt;</strong> <a href="https://pw.example.com/change?from=esp&amp;x=1" rel="noreferrer">' "$T/body"
report $? "carol (expired) with her password on Form1: $code, the page with UserPwdChangeMsg escaped and the link ($(grep -o '<p id="pwdchange">.*</a>' "$T/body"))"
[ "$(grep -c 'href=' "$T/body")" = 1 ] && ! grep -Eiq '<script|src=|url\(|@import' "$T/body" &&
	grep -q "^Content-Security-Policy: default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" <<<"$hdrs"
report $? "... its one link, no script or asset, the same CSP"
wait_for 5 grep -q "logon 'carol' from $CL_IP refused: password expired" "$T/exlbd.log"
report $? "... logged as password expired"
code=$(in_cl curl -s -o "$T/body" -D "$T/hdrs" -w '%{http_code}' --max-time 20 -H 'Host: mail.example.com' \
	--data-raw 'username=carol&password=carol-pw&destination=%2Fowa%2F' "http://$VIP:81/lm_auth_proxy")
[ "$code" = 200 ] && cmp -s "$T/body" "$T/wrong.html"
report $? "carol (expired) on Form0, without UserPwdChangeURL: $code, the generic page of a wrong password"

# ---- open redirects and malformed POSTs: 400, slapd not asked
b1=$(slapd_binds)
for dest in '%2F%2Fevil.example%2F' 'https%3A%2F%2Fevil.example%2F' '%2F%5Cevil.example' 'evil' '%2Fowa%2F%0D%0ASet-Cookie%3A+x%3D1' ''; do
	logon "username=alice&password=alice-pw&destination=$dest"
	[ "$code" = 400 ] && [ -z "$cookie" ] && ! grep -qi '^Location:' <<<"$hdrs"
	report $? "destination '$dest': $code, no cookie, no Location"
done
for body in 'username=alice&password=alice-pw&username=bob' 'username=alice&password=%zz' \
	'username=alice&&password=alice-pw' 'username=alice&password' 'password=alice-pw' \
	'username=alice&password=alice-pw&flags=7' "username=alice&password=alice-pw&pad=$(head -c 5000 /dev/zero | tr '\0' a)"; do
	logon "$body"
	[ "$code" = 400 ] && [ -z "$cookie" ]
	report $? "malformed POST '${body:0:50}': $code"
done
code=$(in_cl curl -s -o /dev/null -w '%{http_code}' --max-time 20 -H 'Host: mail.example.com' \
	-H 'Transfer-Encoding: chunked' --data-raw 'username=alice&password=alice-pw' "http://$VIP/lm_auth_proxy")
[ "$code" = 400 ]
report $? "a chunked logon POST (no Content-Length): $code"
[ "$(slapd_binds)" = "$b1" ]
report $? "slapd was not asked for any of them ($(( $(slapd_binds) - b1 )) binds)"

# ---- a logon POST's body (its password) is wiped from exlbd's buffers
# once parsed: the relay's read buffer, the worker's scratch buffer, the
# parser's head buffer, the form's own (a 400 keeps the directory out of
# it: libldap's copies are not exlbd's buffers). The SSO message is the
# scan's positive control.
pwmark=pw-$(openssl rand -hex 8)-mark
logon "username=alice&password=$pwmark&destination=%2Fowa%2F&flags=7"
scan=$(python3 "$here/lib/memscan.py" "$DAEMON_PID" "$pwmark" 'Authorised <users>' 2>&1)
[ "$code" = 400 ] && grep -Eqx 'Authorised <users> [1-9][0-9]*' <<<"$scan" && grep -qx "$pwmark 0" <<<"$scan"
report $? "a refused logon POST ($code): its password in none of exlbd's memory once answered ($(readlink "/proc/$DAEMON_PID/exe" | xargs basename 2>/dev/null): $(tr '\n' ' ' <<<"$scan" | sed "s/$pwmark/<password>/"))"

# ---- the valid logon
logon 'username=alice&password=alice-pw&destination=%2Fowa%2F%3Fa%3D1&flags=4'
set_cookie=$(grep '^Set-Cookie:' <<<"$hdrs")
[ "$code" = 302 ] && grep -qx 'Location: /owa/?a=1' <<<"$hdrs"
report $? "alice with her password: $code to $(grep '^Location' <<<"$hdrs")"
grep -Eqx 'Set-Cookie: exlb_esp=[0-9a-f]{32}; Path=/; HttpOnly; Secure; SameSite=Lax' <<<"$set_cookie"
report $? "the session cookie: 128 random bits, HttpOnly, Secure, SameSite=Lax, Path=/ ($(sed 's/=[0-9a-f]\{32\}/=<id>/' <<<"$set_cookie"))"
alice=$cookie

get 80 /owa/ -H "Cookie: theme=dark; exlb_esp=$alice; lang=en" -H 'Authorization: Basic bWFsbG9yeTpndWVzcw=='
ok1=$mark
[ "$code" = 200 ] && grep -q "^rs1 /owa/$mark" "$T/body"
report $? "with the cookie: $code from the RS"
wait_for 5 grep -q -- "$ok1" "$RSLOG"
line=$(grep -- "$ok1" "$RSLOG")
grep -qF 'cookie="theme=dark; lang=en"' <<<"$line"
report $? "the RS got the other cookies and not the session's ($(grep -o 'cookie="[^"]*"' <<<"$line"))"
grep -qF "auth=\"Basic $(printf 'alice:alice-pw' | base64)\"" <<<"$line"
report $? "OutputAuthMode=1: a Basic header made from the session, not the client's own ($(sed 's/auth="Basic [^"]*"/auth="Basic <alice>"/' <<<"$line" | grep -o 'auth="[^"]*"'))"
get 81 /ecp/ -H "Cookie: exlb_esp=$alice"
ok0=$mark
[ "$code" = 200 ] && wait_for 5 grep -q -- "$ok0" "$RSLOG" &&
	grep -- "$ok0" "$RSLOG" | grep -qF 'cookie="-" auth="-"'
report $? "one logon covers the other service of the domain: Form0 $code, no cookie, no Authorization (OutputAuthMode=0) at the RS ($(grep -- "$ok0" "$RSLOG" | cut -d' ' -f3-))"
get 80 /pub/
[ "$code" = 200 ] && wait_for 5 grep -q -- "$mark" "$RSLOG"
report $? "an ExcludedDirectories path needs no session: $code, at the RS"

# ---- forged cookies
for forged in "$(openssl rand -hex 16)" "${alice:0:31}0" "${alice^^}x" '../../etc' ''; do
	[ "$forged" = "${alice:0:31}0" ] && [ "${alice:31:1}" = 0 ] && forged="${alice:0:31}1"
	get 80 /owa/ -H "Cookie: exlb_esp=$forged"
	[ "$code" = 200 ] && is_page
	report $? "a forged cookie '${forged:0:12}...': the logon page ($code)"
	refused+=("$mark")
done

# ---- the failed-logon limit (3): the 4th is blocked without slapd, the
# answer the logon page again (200), no session
mallory() { logon "username=mallory&password=$1" && [ -z "$cookie" ]; }
esp_limit_check mallory 200 "logon 'mallory' from $CL_IP refused: blocked"

# ---- the directory away (slapd stopped): open sessions keep working, a
# new logon gets the "not available" page (503) within the domain's
# timeout (2 s per step), no session
kill -STOP "$slapd_pid"
get 80 /owa/ -H "Cookie: exlb_esp=$alice"
[ "$code" = 200 ] && grep -q "^rs1 /owa/$mark" "$T/body"
report $? "slapd stopped: alice's open session still passes: $code from the RS"
t0=$EPOCHREALTIME
logon 'username=dave&password=dave-pw'
took=$(tap_since "$t0")
[ "$code" = 503 ] && [ -z "$cookie" ] && is_page &&
	awk -v t="$took" 'BEGIN { exit !(t < 8) }'
report $? "slapd stopped: dave's valid logon gets the page with $code after $took s, no cookie"
kill -CONT "$slapd_pid"

# ---- logoff
get 80 '/owa/logoff.owa?' -H "Cookie: exlb_esp=$alice"	# the marker in the query
off=$mark
[ "$code" = 200 ] && grep -qx 'Set-Cookie: exlb_esp=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax' <<<"$hdrs" &&
	wait_for 5 grep -q -- "logoff.owa?$off" "$RSLOG"
report $? "logoff: forwarded to the RS ($code) and the answer clears the cookie ($(grep '^Set-Cookie' <<<"$hdrs"))"
get 80 /owa/ -H "Cookie: exlb_esp=$alice"
[ "$code" = 200 ] && is_page
report $? "after logoff the same cookie gets the logon page"
refused+=("$mark")
get 81 /owa/ -H "Cookie: exlb_esp=$alice"
[ "$code" = 200 ] && is_page
report $? "... on the other service of the domain too"
refused+=("$mark")

# ---- the idle timeout: one session used at ~30 s lives, one unused for 60 s is gone
left=$(awk -v a="$idle_t0" -v b="$EPOCHREALTIME" 'BEGIN { d = 30 - (b - a); print (d > 0) ? d : 0 }')
sleep "$left"
get 80 /owa/ -H "Cookie: exlb_esp=$live_cookie"
[ "$code" = 200 ] && grep -q "^rs1 /owa/$mark" "$T/body"
report $? "dave's second session used after $(tap_since "$idle_t0") s: $code from the RS"
live_t=$EPOCHREALTIME
left=$(awk -v a="$idle_t0" -v b="$EPOCHREALTIME" 'BEGIN { d = 61 - (b - a); print (d > 0) ? d : 0 }')
sleep "$left"
get 80 /owa/ -H "Cookie: exlb_esp=$idle_cookie"
[ "$code" = 200 ] && is_page
report $? "dave's first session, unused for $(tap_since "$idle_t0") s (sess_tout_idle_pub=60): the logon page"
refused+=("$mark")
get 80 /owa/ -H "Cookie: exlb_esp=$live_cookie"
[ "$code" = 200 ] && grep -q "^rs1 /owa/$mark" "$T/body"
report $? "the second, last used $(tap_since "$live_t") s ago, still passes: $code"

# ---- nothing refused reached the RS
bad=
for m in "${refused[@]}"; do
	grep -q -- "$m" "$RSLOG" && bad+=" $m"
done
[ -z "$bad" ]
report $? "nothing refused reached the RS (${#refused[@]} markers absent${bad:+; present:$bad})"
grep -E -q 'lm_auth_proxy' "$RSLOG"
[ $? != 0 ]
report $? "no logon POST reached the RS"

# ---- the ESP log: users, never passwords
grep -q "esp: VS Form1: logon 'alice' from $CL_IP: ok" "$T/exlbd.log" &&
	grep -q "esp: VS Form1: logon 'bob' from $CL_IP refused: account disabled" "$T/exlbd.log" &&
	grep -q "esp: VS Form1: logoff 'alice' from $CL_IP" "$T/exlbd.log"
report $? "ESPLogs: the logons with their users and results, the logoff"
! grep -E -q 'wrong-pw|bob-pw|carol-pw|alice-pw|dave-pw|guess[0-9]|svc-secret' "$T/exlbd.log" "$ALOG"
report $? "no password in exlbd's log or the access log"

exlbd_stop_checked
tap_end
