#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The admin listener's status page end to end (docs/admin.md "The status
# page"), in Debian's headless Chromium: no credentials get 401 with the
# Basic challenge a browser answers; every answer carries the security
# headers (CSP, X-Frame-Options DENY, nosniff); the page has no inline
# script, style or event handler; /status.json is what `exlbctl status -j`
# says and carries a nickname holding markup as its exact text. Chromium
# --dump-dom --screenshot, given user:password@ in the URL, renders the
# services table and the real servers with their health, the markup
# nickname as text. Then one page is left open (lib/cdp-live.py: the
# DevTools protocol over a pipe; it answers the login challenge as a person
# would): when rs1's nginx stops and the health check notices, that page,
# not reloaded, shows rs1 Down with the check's reason. The screenshots and
# DOM dumps are kept under ARTIFACTS (printed). About 90 s.
#
# The network is lib/lbnet.sh's:
#   client 198.18.88.2 (chromium) ---- lb (exlbd --no-kernel) admin 198.18.88.1:9443
#                                      VIP 198.18.88.10:80 "Web" (HTTP), :443 "OWA" (TLS)
#                                      VIP2 198.18.88.11:25 markup nickname (L4)
#              wu-br 198.18.89.1 ---- rs1 198.18.89.11, rs2 .12 (nginx)
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# ARTIFACTS (default ../build/artifacts/webui), KEEP=1 keeps the temp dir.
# Needs root, iproute2, nginx, curl, openssl, jq, python3, chromium. TAP,
# the plan last; exits 0 only if all passed, 4 if it cannot run here.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx curl openssl jq python3 chromium; do
	command -v "$tool" >/dev/null || skip "$tool not installed (tools/deps.sh)"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"
ARTIFACTS=${ARTIFACTS:-$here/../build/artifacts/webui}
mkdir -p "$ARTIFACTS" && ARTIFACTS=$(realpath "$ARTIFACTS") || skip "cannot write $ARTIFACTS"
rm -f "$ARTIFACTS"/*.png "$ARTIFACTS"/*.html

T=$(mktemp -d /tmp/exlb-webui.XXXXXX)
chmod 755 "$T"
export EXRS_DIR=$T/rs EXRS_BIG_MB=0
SOCK=$T/exlbd.sock
DAEMON_PID=
LIVE_PID=
PORT=9443
# no '/' in a NickName (it separates VS and SubVS in paths)
EVIL='Evil<script>alert(1)<img src=x onerror=alert(2)>&amp;'

# Chromium as the tests can run it: root needs --no-sandbox; its profile,
# cache and crash files stay in $T.
# shellcheck disable=SC2054 # the comma is --window-size's
CHROME=(chromium --headless=new --no-sandbox --disable-gpu --ignore-certificate-errors
	--no-first-run --no-default-browser-check --disable-extensions --disable-sync
	--disable-background-networking --disable-component-update --window-size=1280,900)
# chrome NAME ARGS...: in the client namespace once there is one; a
# profile per NAME, so no run inherits another's remembered credentials
chrome() {
	${NS_CL:+ip netns exec "$NS_CL"} env HOME="$T/home" XDG_CONFIG_HOME="$T/home/.config" \
		XDG_CACHE_HOME="$T/home/.cache" timeout 60 "${CHROME[@]}" \
		--user-data-dir="$T/chrome-$1" "${@:2}" 2>>"$T/chromium.log"
}
mkdir -p "$T/home"
chrome probe --dump-dom 'data:text/html,<p>probe</p>' 2>/dev/null | grep -q '<p>probe</p>' ||
	skip "chromium does not run here: $(tail -n 1 "$T/chromium.log")"

# shellcheck source=lib/lbnet.sh
source "$here/lib/lbnet.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"
# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"

cleanup() {
	[ -n "$LIVE_PID" ] && kill "$LIVE_PID" 2>/dev/null && wait "$LIVE_PID" 2>/dev/null
	exlbd_kill
	exrs_cleanup 2>/dev/null
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

echo "TAP version 13"
diag "artifacts (screenshots, DOM dumps): $ARTIFACTS"

lbnet_setup wu 198.18.88 || skip "cannot create network namespaces"
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"
exrs_setup rs1 "$NS_RS1" $RS1 && exrs_setup rs2 "$NS_RS2" $RS2
report $? "nginx as real servers rs1 ($RS1) and rs2 ($RS2)"

exlbd_start --health-checks "exlbd runs in the LB namespace"

cfg set RetryInterval 9
cfg set Timeout 4
cfg set RetryCount 2
cfg cert add web "$(exrs_cert)" "$(exrs_key)"
cfg vs add $VIP 80 tcp nickname=Web VStype=http Schedule=rr CheckType=http \
	CheckUrl=/owa/healthcheck.htm CheckUseGet=1
cfg rs add Web $RS1 port=80
cfg rs add Web $RS2 port=80
cfg vs add $VIP 443 tcp nickname=OWA VStype=http SSLAcceleration=1 CertFile=web CheckType=http
cfg rs add OWA $RS2 port=80
cfg vs add $VIP2 25 tcp "nickname=$EVIL" CheckType=tcp
evil_id=$(ctl -j status | jq -r '.vs[] | select(.port == 25) | .id')
cfg rs add "$evil_id" $RS2 port=80
cfg cert add admin "$(exrs_cert)" "$(exrs_key)"
cfg set AdminCert admin
cfg set AdminAddress $LB_IP
cfg set AdminPort $PORT
printf 'read-only-pw\n' >"$T/ro.pw"
cfg admin user add ro password-file="$T/ro.pw"
report "${cfg_bad:-0}" "configured: VS Web $VIP:80 (rs1, rs2), OWA $VIP:443 (TLS, cert web), a markup nickname on $VIP2:25; admin listener $LB_IP:$PORT; user ro (read-only)"

URL=https://$LB_IP:$PORT
# code [curl options] PATH: the HTTP status; body in $T/body, head in $T/head.
# exlbd runs at most 2 password hashes a second (503 beyond): asked again then.
code() {
	local path=${*: -1} i c
	for ((i = 0; i < 20; i++)); do
		c=$(in_cl curl -sk -m 10 -o "$T/body" -D "$T/head" -w '%{http_code}' \
			"${@:1:$#-1}" "$URL$path")
		[ "$c" = 503 ] || break
		sleep 0.2
	done
	echo "$c"
}
header() { grep -i "^$1:" "$T/head" | head -n 1 | cut -d: -f2- | sed 's/^ *//; s/\r$//'; }
answers() { [ "$(code /)" = 401 ]; }
wait_for 10 answers
report $? "the admin listener answers within $WAITED s"

# ---- HTTP: authentication, headers, the files

c=$(code /)
[ "$c" = 401 ] && [ "$(header WWW-Authenticate)" = 'Basic realm="exlb", charset="UTF-8"' ]
report $? "no credentials: $c with WWW-Authenticate: $(header WWW-Authenticate)"
c=$(code /status.json)
[ "$c" = 401 ] && ! grep -q '"vs"' "$T/body"
report $? "no credentials for /status.json: $c, no data"
c=$(code -u ro:wrong /)
[ "$c" = 401 ]
report $? "a wrong password: $c"
c=$(code -u ro:read-only-pw /)
cp "$T/head" "$T/page.head"
[ "$c" = 200 ] && [ "$(header Content-Type)" = "text/html; charset=utf-8" ] &&
	grep -q '<table id="vs">' "$T/body"
report $? "read-only user GETs the page: $c, $(header Content-Type)"
cp "$T/body" "$T/index.html"
csp=$(header Content-Security-Policy)
[[ "$csp" == *"default-src 'none'"* && "$csp" == *"script-src 'self';"* &&
	"$csp" == *"style-src 'self';"* && "$csp" == *"connect-src 'self';"* &&
	"$csp" == *"frame-ancestors 'none'"* && "$csp" != *unsafe* ]]
report $? "Content-Security-Policy: $csp"
[ "$(header X-Frame-Options)" = DENY ] && [ "$(header X-Content-Type-Options)" = nosniff ] &&
	[ "$(header Referrer-Policy)" = no-referrer ] && [ "$(header Cache-Control)" = no-store ]
report $? "X-Frame-Options: $(header X-Frame-Options), X-Content-Type-Options: $(header X-Content-Type-Options), Referrer-Policy: $(header Referrer-Policy), Cache-Control: $(header Cache-Control)"
ok=0 types=
for f in webui.js:text/javascript webui.css:text/css; do
	c=$(code -u ro:read-only-pw "/${f%%:*}")
	types+="/${f%%:*} $c $(header Content-Type); "
	[ "$c" = 200 ] && [[ "$(header Content-Type)" == "${f#*:}; charset=utf-8" ]] &&
		[ "$(header X-Frame-Options)" = DENY ] && [ -n "$(header Content-Security-Policy)" ] || ok=1
done
report $ok "the script and the style sheet: $types"
cp "$T/body" "$T/webui.css"
c=$(code -u ro:read-only-pw /webui.js)
cp "$T/body" "$T/webui.js"
# nothing inline: no on*= attribute, no script without src, no style, no javascript: URL
inline=$(grep -Eio '<[^>]* on[a-z]+ *=|<script( [^s][^>]*)?>|<style|style=|javascript:' "$T/index.html" | head -n 3)
[ -z "$inline" ] && grep -q '<script src="/webui.js"' "$T/index.html"
report $? "the page has no inline script, style or event handler${inline:+: $inline}"
! grep -Eq 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(' "$T/webui.js" &&
	grep -q textContent "$T/webui.js"
report $? "the script sets text with textContent, never markup ($(grep -c textContent "$T/webui.js") uses)"
c=$(code -u ro:read-only-pw /favicon.ico)
[ "$c" = 404 ]
report $? "other paths: $c"

# ---- /status.json is exlbctl status -j

# the same projection of both: names, statuses, real servers and health
shape='[.vs[] | {name, vip, port, layer, certificate, status,
	rs: [.rs[] | {addr, port, health}]}]'
both_up() { [ "$(ctl -j status | jq -r "[.vs[0].rs[].health] | join(\" \")")" = "up up" ]; }
wait_for 30 both_up
report $? "both real servers of Web are up after $WAITED s (exlbctl status)"
same() {
	c=$(code -u ro:read-only-pw /status.json)
	[ "$c" = 200 ] && jq -S "$shape" "$T/body" >"$T/json.page" 2>/dev/null &&
		ctl -j status | jq -S "$shape" >"$T/json.ctl" && cmp -s "$T/json.page" "$T/json.ctl"
}
wait_for 10 same
report $? "/status.json ($c, $(header Content-Type)) says what exlbctl status -j says ($(jq -c '[.[] | .name + "=" + .status]' "$T/json.page" 2>/dev/null))"
got=$(jq -r '.vs[] | select(.port == 25) | .name' "$T/body")
[ "$got" = "$EVIL" ] && [ "$(header X-Content-Type-Options)" = nosniff ]
report $? "the JSON carries the markup nickname as its exact text: $got"

# ---- Chromium renders it

# dom_rows FILE: the rendered tables, one line per row: TABLE|cell|cell...;
# and "elements: N img, N script" for what markup would have added
dom_rows() {
	python3 - "$1" <<'EOF'
import sys
from html.parser import HTMLParser

class Rows(HTMLParser):
    def __init__(self):
        super().__init__()
        self.table = None
        self.row = None
        self.cell = None
        self.count = {"img": 0, "script": 0}

    def handle_starttag(self, tag, attrs):
        if tag in self.count:
            self.count[tag] += 1
        if tag == "table":
            self.table = dict(attrs).get("id")
        elif tag == "tr" and self.table:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag == "span" and self.cell is not None and self.cell:
            self.cell.append(" ")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            print(self.table + "|" + "|".join(self.row))
            self.row = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

p = Rows()
p.feed(open(sys.argv[1], encoding="utf-8").read())
print("elements: %d img, %d script" % (p.count["img"], p.count["script"]))
EOF
}

# Basic credentials in the URL: Chromium answers the 401 with them and
# keeps them for the page's own fetch() of /status.json.
PAGE="https://ro:read-only-pw@$LB_IP:$PORT/"
t0=$EPOCHREALTIME
chrome dump --virtual-time-budget=5000 --screenshot="$ARTIFACTS/before.png" --dump-dom "$PAGE" \
	>"$ARTIFACTS/before.html" 2>/dev/null
dom_rows "$ARTIFACTS/before.html" >"$T/rows.before"
diag "dump-dom and screenshot in $(tap_since "$t0") s:" "$(cat "$T/rows.before")"
grep -q "^vs|$VIP|80|tcp|Web|L7|-|Up|$RS1:80 $RS2:80$" "$T/rows.before"
report $? "the services table: Web $VIP 80 tcp L7, no certificate, Up, rs1 and rs2 ($(grep '^vs|[^|]*|80|' "$T/rows.before"))"
grep -q "^vs|$VIP|443|tcp|OWA|L7|web|Up|$RS2:80$" "$T/rows.before"
report $? "OWA $VIP 443 shows its certificate 'web' ($(grep '^vs|[^|]*|443|' "$T/rows.before"))"
grep -qF "vs|$VIP2|25|tcp|$EVIL|L4|-|Down (kernel unavailable)|$RS2:80" "$T/rows.before"
report $? "the markup nickname is text, the L4 VS Down (kernel unavailable) ($(grep '^vs|[^|]*|25|' "$T/rows.before"))"
grep -qx "elements: 0 img, 1 script" "$T/rows.before" &&
	grep -qF 'Evil&lt;script&gt;alert(1)&lt;img src=x onerror=alert(2)&gt;&amp;amp;' "$ARTIFACTS/before.html"
report $? "no element came from the nickname ($(grep elements: "$T/rows.before"))"
grep -q "^rs|Web ($VIP:80)|$RS1:80|1000|yes|up|HTTP 200|" "$T/rows.before" &&
	grep -q "^rs|Web ($VIP:80)|$RS2:80|1000|yes|up|HTTP 200|" "$T/rows.before"
report $? "the real servers: rs1 and rs2 of Web up, HTTP 200 ($(grep "^rs|Web" "$T/rows.before" | tr '\n' ' '))"
[ -s "$ARTIFACTS/before.png" ] && [ "$(head -c 8 "$ARTIFACTS/before.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
report $? "screenshot before: $ARTIFACTS/before.png ($(stat -c %s "$ARTIFACTS/before.png" 2>/dev/null) bytes)"
chrome noauth --virtual-time-budget=3000 --dump-dom "https://$LB_IP:$PORT/" >"$T/noauth.html" 2>/dev/null
! grep -q '<table' "$T/noauth.html" && grep -q 'ERR_INVALID_AUTH_CREDENTIALS' "$T/chromium.log"
report $? "Chromium without credentials: no page ($(grep -o 'Page load failed: [^ ]*' "$T/chromium.log" | head -n 1))"

# ---- the page left open: it turns rs1 Down by itself when its nginx stops

# lib/cdp-live.py keeps one page open, answers the login challenge as a
# person would, and dumps or photographs that same page on command
mkfifo "$T/live.cmd"
live() { echo "$1 $2" >"$T/live.cmd"; wait_for 30 test -s "$2"; }
${NS_CL:+ip netns exec "$NS_CL"} env HOME="$T/home" XDG_CONFIG_HOME="$T/home/.config" \
	XDG_CACHE_HOME="$T/home/.cache" timeout 180 python3 "$here/lib/cdp-live.py" \
	"https://$LB_IP:$PORT/" ro read-only-pw "$T/live.cmd" "${CHROME[@]}" \
	--user-data-dir="$T/chrome-live" --disable-background-timer-throttling \
	--disable-renderer-backgrounding 2>>"$T/chromium.log" &
LIVE_PID=$!
n=0
live_rows() { n=$((n + 1)); rm -f "$T/live$n.html"; live dump "$T/live$n.html" &&
	dom_rows "$T/live$n.html" >"$T/live.rows" && grep -q "^rs|Web ($VIP:80)|$RS1:80|.*|$1|" "$T/live.rows"; }
wait_for 60 live_rows up
report $? "the page left open shows rs1 up after $WAITED s ($(grep -F "|$RS1:80|" "$T/live.rows"))"
live challenges "$T/challenges.json"
jq -e 'length >= 1 and (.[0] | .source == "Server" and (.scheme | ascii_downcase) == "basic" and .realm == "exlb")' \
	"$T/challenges.json" >/dev/null
report $? "Chromium met the Basic challenge its login dialog answers: $(jq -c '.[0]' "$T/challenges.json" 2>/dev/null)"
live shot "$ARTIFACTS/live-before.png"
[ "$(cat "$T/live$n.html.mark")" = same ]
report $? "screenshot of the open page: $ARTIFACTS/live-before.png ($(stat -c %s "$ARTIFACTS/live-before.png" 2>/dev/null) bytes)"

exrs_stop rs1
rs1_down() { [ "$(ctl -j status | jq -r ".vs[0].rs[] | select(.addr == \"$RS1\") | .health")" = down ]; }
wait_for 40 rs1_down
reason=$(ctl -j status | jq -r ".vs[0].rs[] | select(.addr == \"$RS1\") | .reason")
report $? "rs1's nginx stopped: exlbctl status has it down after $WAITED s ($reason)"
wait_for 15 live_rows down
cp "$T/live$n.html" "$ARTIFACTS/after.html"
diag "after:" "$(grep '^rs|' "$T/live.rows")"
grep -qF "rs|Web ($VIP:80)|$RS1:80|1000|yes|down|$reason|" "$T/live.rows" &&
	[ "$(cat "$T/live$n.html.mark")" = same ]
report $? "$WAITED s later the open page, not reloaded ($(cat "$T/live$n.html.mark") document), shows rs1 down with the reason ($(grep -F "|$RS1:80|" "$T/live.rows"))"
grep -q "^rs|Web ($VIP:80)|$RS2:80|1000|yes|up|HTTP 200|" "$T/live.rows" &&
	grep -q "^vs|$VIP|80|tcp|Web|L7|-|Up|$RS1:80 (down) $RS2:80$" "$T/live.rows"
report $? "rs2 stays up, and Web with it ($(grep "^vs|[^|]*|80|" "$T/live.rows"))"
live shot "$ARTIFACTS/live-after.png"
! cmp -s "$ARTIFACTS/live-before.png" "$ARTIFACTS/live-after.png"
report $? "screenshot after: $ARTIFACTS/live-after.png ($(stat -c %s "$ARTIFACTS/live-after.png" 2>/dev/null) bytes), not the one before"
echo quit >"$T/live.cmd"
wait "$LIVE_PID"
report $? "the browser session ends cleanly"
LIVE_PID=

exlbd_stop_checked
tap_end
