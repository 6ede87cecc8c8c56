#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# ESP's form logon passed on to Exchange's own form end to end (docs/esp.md
# "The form logon to Exchange"): InputAuthMode=2 OutputAuthMode=2, against
# the real slapd of lib/slapd.sh, in front of a simulated Exchange server
# (lib/exchange-rs.sh with exrs_auth_enable: /owa/auth.owa checks a users
# file and sets cadata cookies, /owa/* needs a valid cadata).
#
#   client 198.18.104.2 ---- lb (exlbd --no-kernel)  VIP 198.18.104.10:80 "Owa"
#                                                      InputAuthMode=2 OutputAuthMode=2
#               eo-br 198.18.105.1 ---- rs1 198.18.105.11 nginx (exchange-rs.sh), its
#                                       credential helper with its own users file
#                                  ---- rs2 198.18.105.12 slapd (lib/slapd.sh)
#
# The users file differs from the directory in one user: dave's password
# there is not the directory's, so dave passes the directory and Exchange
# refuses him. The story: a valid logon gets Exchange's 302 with its cadata
# cookies and ESP's session cookie together, and the next GET /owa/ is
# served as alice (the RS's auth log) without any Authorization made by ESP;
# dave gets the logon page, no cookie of either; a wrong password never
# reaches /owa/auth.owa; a session whose Exchange cookies are gone is sent
# back to ESP's logon page (and ended); logoff ends both. Then the same logon
# through Kemp's "Exchange 2013 HTTPS ReEncrypted with ESP" template applied
# with Domain=EXLB on VIP2: TLS from the client, the Authentication Proxy
# SubVS's content rule, ESP's POST re-encrypted to the RS's :443. Last, when
# Chromium runs here, a browser walks it (lib/cdp-live.py): logon page, the
# form filled in and submitted, OWA's page, logoff, the logon page again;
# screenshots in $ARTIFACTS (default ../build/artifacts/esp-owa).
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# KEEP=1 keeps the temp dir. Needs root, iproute2, slapd, nginx, curl, python3
# (chromium for the walk). TAP, the plan last; exits 0 only if all passed.
# About 25 s.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

ESP_TOOLS=(ip curl python3 openssl nginx ldapsearch ldapwhoami)
# shellcheck source=lib/esp-env.sh
source "$here/lib/esp-env.sh"
esp_setup eo 198.18.104 espo 256 --template-dir "$here/../../templates"

exrs_setup rs1 "$NS_RS1" "$RS1"
report $? "the simulated Exchange server runs on rs1 ($RS1)"
# Exchange's users: the directory's, except dave's password
printf '%s\n' alice:alice-pw dave:exchange-knows-another-pw bob:bob-pw:locked >"$T/users"
exrs_auth_enable rs1 "$T/users"
report $? "rs1 checks credentials (exrs_auth_enable): dave's password there is not the directory's"
RSLOG=$(exrs_log rs1) AUTHLOG=$(exrs_auth_log rs1) HELPERLOG=$(exrs_auth_helper_log rs1)

slapd_sso_args "$RS2" $P_LDAP "$T/adminpass"
cfg sso add EXLB "${SSO_ARGS[@]}"
cfg vs add $VIP 80 tcp nickname=Owa VStype=http CheckType=none EspEnabled=1 InputAuthMode=2 \
	OutputAuthMode=2 Domain=EXLB ESPLogs=3 AllowedHosts=mail.example.com "AllowedDirectories=/*" \
	Logoff=/owa/logoff.owa
cfg rs add Owa $RS1 port=80
report "${cfg_bad:-0}" "configured: SSO domain EXLB, VS Owa with InputAuthMode=2 OutputAuthMode=2"
ctl status -j >"$T/status.json"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(any(v["status"] == "Refused" for v in j["vs"]))' "$T/status.json"
report $? "EspEnabled=1 InputAuthMode=2 OutputAuthMode=2 is accepted: no VS Refused"
for spec in "InputAuthMode=0:OutputAuthMode=2: logs the user on to Exchange's form with the credentials of ESP's form logon: needs InputAuthMode=2" \
	"InputAuthMode=1:OutputAuthMode=2: logs the user on to Exchange's form with the credentials of ESP's form logon: needs InputAuthMode=2" \
	"OutputAuthMode=3:OutputAuthMode=3: not implemented yet"; do
	ctl vs mod Owa "${spec%%:*}" >"$T/out" 2>&1
	[ $? != 0 ] && grep -qF "${spec#*:}" "$T/out" && ctl vs show Owa | grep -q 'InputAuthMode.*2'
	report $? "vs mod Owa ${spec%%:*} refused, nothing changed ($(head -c 170 "$T/out"))"
done

# ---- helpers
# get PATH [curl args]: a browser's GET; sets code, hdrs
get() {
	local path=$1
	shift
	code=$(in_cl curl -s -o "$T/body" -D "$T/hdrs" -w '%{http_code}' --max-time 20 \
		-H 'Host: mail.example.com' -H 'Accept: text/html,application/xhtml+xml,*/*;q=0.8' \
		--globoff "$@" "http://$VIP$path")
	hdrs=$(tr -d '\r' <"$T/hdrs")
}
# logon USER PASSWORD: the POST to /lm_auth_proxy; sets code, hdrs, esp (the
# session cookie), cadata and jar (every cookie set, as a Cookie value)
logon() {
	code=$(in_cl curl -s -o "$T/body" -D "$T/hdrs" -w '%{http_code}' --max-time 20 \
		-H 'Host: mail.example.com' \
		--data-raw "username=$1&password=$2&destination=%2Fowa%2F&flags=0" "http://$VIP/lm_auth_proxy")
	hdrs=$(tr -d '\r' <"$T/hdrs")
	esp=$(sed -n 's/^Set-Cookie: exlb_esp=\([0-9a-f]*\);.*/\1/p' <<<"$hdrs")
	cadata=$(sed -n 's/^Set-Cookie: cadata="\{0,1\}\([^";]*\).*/\1/p' <<<"$hdrs")
	jar=$(sed -n 's/^Set-Cookie: \([^;]*\).*/\1/p' <<<"$hdrs" | paste -sd';' | sed 's/;/; /g')
}
is_page() { grep -q 'action="/lm_auth_proxy"' "$T/body"; }
helper_logons() { grep -c "logon '" "$HELPERLOG" 2>/dev/null; }
posts() { grep -c '"POST /owa/auth.owa' "$RSLOG" 2>/dev/null; }

# ---- no session: the logon page, nothing at the RS
get /owa/
[ "$code" = 200 ] && is_page
report $? "a browser's GET /owa/ without a session: $code, exlbd's logon page"

# ---- a wrong password: the directory refuses, Exchange is never asked
logon alice wrong-pw
[ "$code" = 200 ] && is_page && [ -z "$esp" ] && [ -z "$cadata" ] && grep -q 'id="error"' "$T/body"
report $? "alice with a wrong password: $code, the page with the error, no cookie"
cp "$T/body" "$T/wrong.html"

# ---- the valid logon: the directory, then Exchange's form
logon alice alice-pw
[ "$code" = 302 ] && grep -qx 'Location: /owa/' <<<"$hdrs"
report $? "alice with her password: $code to $(grep '^Location' <<<"$hdrs") (Exchange's answer, relayed)"
grep -Eqx 'Set-Cookie: exlb_esp=[0-9a-f]{32}; Path=/; HttpOnly; Secure; SameSite=Lax' <<<"$hdrs" && [ -n "$cadata" ]
report $? "the answer sets ESP's session cookie and Exchange's cadata ($(grep -c '^Set-Cookie' <<<"$hdrs") cookies: $(grep -o '^Set-Cookie: [A-Za-z_]*' <<<"$hdrs" | cut -d' ' -f2 | paste -sd' '))"
n=$(grep -cE '^Set-Cookie: cadata(TTL|Key|IV|Sig)?=' <<<"$hdrs")
[ "$n" = 5 ]
report $? "all five of Exchange's cookies passed on ($n)"
wait_for 5 grep -q "logon 'alice': ok as alice" "$HELPERLOG"
report $? "Exchange's form logon reached the RS and accepted alice ($(grep "logon 'alice'" "$HELPERLOG" | tail -1))"
[ "$(grep -c "logon 'alice'" "$HELPERLOG")" = 1 ] && [ "$(posts)" = 1 ]
report $? "the wrong password never reached /owa/auth.owa (helper: $(grep -c "logon 'alice'" "$HELPERLOG") logon of alice; RS: $(posts) POST /owa/auth.owa)"
grep '"POST /owa/auth.owa' "$RSLOG" | grep -q 'status=302'
report $? "the RS's access log: ESP's POST /owa/auth.owa answered 302"
alice_jar=$jar alice_esp=$esp

get /owa/inbox -H "Cookie: $alice_jar" -H 'Authorization: Basic bWFsbG9yeTpndWVzcw=='
[ "$code" = 200 ]
report $? "GET /owa/inbox with both cookies: $code from the RS"
wait_for 5 grep -q '^/owa/inbox ' "$AUTHLOG"
line=$(grep '^/owa/inbox ' "$AUTHLOG" | tail -1)
grep -q 'user="alice" status=200' <<<"$line"
report $? "Exchange served it as alice ($line)"
grep -q 'auth=""\|auth="-"' <<<"$line"
report $? "no Authorization reached Exchange: not the client's, none made by ESP"
grep -q 'exlb_esp' "$RSLOG" "$AUTHLOG"
[ $? != 0 ]
report $? "ESP's session cookie never reached the RS"

# ---- a user the directory accepts and Exchange refuses
p0=$(posts)
logon dave dave-pw
[ "$code" = 200 ] && is_page && [ -z "$esp" ] && [ -z "$cadata" ] && cmp -s "$T/body" "$T/wrong.html"
report $? "dave (the directory's password, not Exchange's): $code, the same generic page, no cookie of either"
wait_for 5 grep -q "logon 'dave': refused" "$HELPERLOG"
report $? "Exchange refused him ($(grep "logon 'dave'" "$HELPERLOG" | tail -1))"
[ "$(posts)" = $((p0 + 1)) ] && ! grep -qi '^Set-Cookie: cadata\|^Location' <<<"$hdrs"
report $? "none of Exchange's answer reached the client (no Location, no cadata)"
wait_for 5 grep -q "esp: VS Owa: logon 'dave' from $CL_IP refused: refused by Exchange's form logon: HTTP 302 to logon.aspx, reason=2" "$T/exlbd.log"
report $? "the security log says why ($(grep "logon 'dave'" "$T/exlbd.log" | tail -1 | cut -c1-200))"

# ---- a session without Exchange's cookies: back to ESP's logon page
logon alice alice-pw
bare=$esp
get /owa/calendar -H "Cookie: exlb_esp=$bare"
[ "$code" = 302 ] && grep -qx 'Location: /owa/calendar' <<<"$hdrs" &&
	grep -qx 'Set-Cookie: exlb_esp=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax' <<<"$hdrs"
report $? "Exchange sends a session without cadata to logon.aspx: $code to $(grep '^Location' <<<"$hdrs"), ESP's cookie cleared"
get /owa/calendar -H "Cookie: exlb_esp=$bare"
[ "$code" = 200 ] && is_page
report $? "... and the session ended: the same cookie now gets ESP's logon page ($code)"

# ---- logoff ends both
get /owa/logoff.owa -H "Cookie: $alice_jar"
[ "$code" = 302 ] && grep -qx 'Set-Cookie: exlb_esp=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax' <<<"$hdrs" &&
	wait_for 5 grep -q 'logoff: cadata revoked' "$HELPERLOG"
report $? "logoff: forwarded with cadata (Exchange revoked it), ESP's cookie cleared ($code)"
r1=$(exrs_requests rs1)
get /owa/inbox -H "Cookie: $alice_jar"
[ "$code" = 200 ] && is_page && [ "$(exrs_requests rs1)" = "$r1" ]
report $? "after logoff alice's cookies get ESP's logon page, nothing at the RS ($code)"

# ---- the HTTPS ReEncrypted with ESP template: the same logon over TLS both ways
ctl template apply "Exchange 2013 HTTPS ReEncrypted with ESP" vip "$VIP2" rs "$RS1" >"$T/tpl" 2>&1
[ $? != 0 ] && grep -q "give Domain=NAME" "$T/tpl"
report $? "the HTTPS ReEncrypted with ESP template without Domain= is refused ($(head -c 200 "$T/tpl"))"
ctl template apply "Exchange 2013 HTTPS ReEncrypted with ESP" vip "$VIP2" rs "$RS1" Domain=EXLB >"$T/tpl" 2>&1
report $? "... and applies with Domain=EXLB ($(paste -sd' ' "$T/tpl" | head -c 200))"
# health checks are off here (EXLBD_NO_HEALTH_CHECKS): the OWA SubVS's https
# check would leave its server down, so it goes unchecked like the proxy's
owa_id=$(ctl -j vs show "$VIP2:443" | python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin)["subvs"] if s["NickName"].endswith(" - OWA")][0])')
cfg subvs mod "$owa_id" CheckType=none
tls() {	# tls PATH [curl args]: to VIP2:443, TLS (exlbd's self-signed certificate)
	local path=$1
	shift
	code=$(in_cl curl -sk -o "$T/body" -D "$T/hdrs" -w '%{http_code}' --max-time 20 \
		-H 'Host: mail.example.com' "$@" "https://$VIP2$path")
	hdrs=$(tr -d '\r' <"$T/hdrs")
}
wait_for 10 tls /owa/ -H 'Accept: text/html' -o /dev/null
tls /owa/ -H 'Accept: text/html'
[ "$code" = 200 ] && is_page
report $? "over TLS, without a session: the logon page ($code)"
p0=$(posts)
tls /lm_auth_proxy --data-raw 'username=alice&password=alice-pw&destination=%2Fowa%2F&flags=4'
tjar=$(sed -n 's/^Set-Cookie: \([^;]*\).*/\1/p' <<<"$hdrs" | paste -sd';' | sed 's/;/; /g')
[ "$code" = 302 ] && grep -q '^Set-Cookie: exlb_esp=' <<<"$hdrs" && grep -q '^Set-Cookie: cadata=' <<<"$hdrs"
report $? "the template's Authentication Proxy: alice's logon gets $code with cadata and ESP's cookie"
grep '"POST /owa/auth.owa' "$RSLOG" | tail -1 | grep -q 'scheme=https .*status=302' && [ "$(posts)" = $((p0 + 1)) ]
report $? "ESP's POST /owa/auth.owa reached the RS re-encrypted ($(grep '"POST /owa/auth.owa' "$RSLOG" | tail -1 | grep -o 'scheme=[a-z]*'))"
tls /owa/tpl-inbox -H "Cookie: $tjar" -H 'Accept: text/html'
[ "$code" = 200 ] && wait_for 5 grep -q '^/owa/tpl-inbox .*user="alice" status=200' "$AUTHLOG"
report $? "the template's OWA SubVS: GET /owa/ served as alice over TLS ($code; $(grep '^/owa/tpl-inbox ' "$AUTHLOG" | tail -1))"

# ---- a browser's walk (headless Chromium, when it runs here): logon page,
# the form filled in and submitted, OWA's page, logoff, the logon page again;
# screenshots kept in $ARTIFACTS
ARTIFACTS=${ARTIFACTS:-$here/../build/artifacts/esp-owa}
if command -v chromium >/dev/null && mkdir -p "$ARTIFACTS" && ARTIFACTS=$(realpath "$ARTIFACTS"); then
	mkdir -p "$T/home"
	mkfifo "$T/live.cmd"
	# shellcheck disable=SC2054 # the comma is --window-size's
	in_cl env HOME="$T/home" XDG_CONFIG_HOME="$T/home/.config" XDG_CACHE_HOME="$T/home/.cache" \
		timeout 120 python3 "$here/lib/cdp-live.py" "https://mail.example.com/owa/" - - "$T/live.cmd" \
		chromium --headless=new --no-sandbox --disable-gpu --ignore-certificate-errors \
		--no-first-run --no-default-browser-check --disable-extensions --disable-sync \
		--disable-background-networking --disable-component-update --window-size=1280,900 \
		--host-resolver-rules="MAP mail.example.com $VIP2" --user-data-dir="$T/chrome" \
		2>>"$T/chromium.log" &
	live_pid=$!
	n=0
	# page TEXT: the open page's DOM holds TEXT (dumped afresh)
	page() { n=$((n + 1)); echo "dump $T/dom$n.html" >"$T/live.cmd"; wait_for 10 test -s "$T/dom$n.html" &&
		grep -qF -- "$1" "$T/dom$n.html"; }
	wait_for 30 page 'action="/lm_auth_proxy"'
	report $? "Chromium: https://mail.example.com/owa/ shows exlbd's logon page"
	echo "shot $ARTIFACTS/1-logon.png" >"$T/live.cmd"
	wait_for 10 test -s "$ARTIFACTS/1-logon.png"
	echo "eval document.querySelector('input[name=username]').value='alice'; document.querySelector('input[name=password]').value='alice-pw'; document.querySelector('form').submit()" >"$T/live.cmd"
	wait_for 30 page 'vdir owa uri /owa/'
	report $? "Chromium: the form submitted, OWA's page from the RS ($(grep -o 'RS [^<]*vdir owa uri [^ <]*' "$T/dom$n.html" | head -1))"
	echo "shot $ARTIFACTS/2-owa.png" >"$T/live.cmd"
	wait_for 10 test -s "$ARTIFACTS/2-owa.png"
	tail -3 "$AUTHLOG" | grep -q '^/owa/ .*user="alice" status=200'
	report $? "Chromium's GET /owa/ was served as alice (its cookies: cadata and ESP's) ($(tail -1 "$AUTHLOG"))"
	l0=$(grep -c 'logoff: cadata revoked' "$HELPERLOG")
	echo "nav https://mail.example.com/owa/logoff.owa" >"$T/live.cmd"
	wait_for 30 page 'action="/lm_auth_proxy"' &&
		[ "$(grep -c 'logoff: cadata revoked' "$HELPERLOG")" -gt "$l0" ]
	report $? "Chromium: logoff reached Exchange with cadata (revoked), then (ESP's cookie gone) the logon page again"
	echo "shot $ARTIFACTS/3-logoff.png" >"$T/live.cmd"
	wait_for 10 test -s "$ARTIFACTS/3-logoff.png"
	r0=$(exrs_requests rs1)
	echo "nav https://mail.example.com/owa/?after-logoff" >"$T/live.cmd"
	wait_for 10 grep -q 'after-logoff' "$ALOG" && page 'action="/lm_auth_proxy"' &&
		[ "$(exrs_requests rs1)" = "$r0" ]
	report $? "Chromium: /owa/ after logoff gets the logon page, nothing at the RS; screenshots: $(ls "$ARTIFACTS" | paste -sd' ')"
	echo quit >"$T/live.cmd"
	wait "$live_pid"
else
	diag "no chromium: the browser walk skipped"
fi

# ---- the logs
grep -q "esp: VS Owa: logon 'alice' from $CL_IP: Exchange's form logon ok" "$T/exlbd.log" &&
	grep -q "esp: VS Owa: logoff 'alice' from $CL_IP" "$T/exlbd.log"
report $? "ESPLogs: Exchange's logon and the logoff"
! grep -E -q 'wrong-pw|alice-pw|dave-pw|svc-secret' "$T/exlbd.log" "$ALOG"
report $? "no password in exlbd's log or the access log"
[ "$(grep -c 'lm_auth_proxy' "$RSLOG")" = 0 ]
report $? "no logon POST to /lm_auth_proxy reached the RS (only ESP's own to /owa/auth.owa: $(posts))"

exlbd_stop_checked
tap_end
