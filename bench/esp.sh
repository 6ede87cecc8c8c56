#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# ESP's Basic and form logons, measured (issue 13's benchmark; not a test): exlbd
# (the optimised build) in front of one nginx real server, with the real
# slapd of userspace/tests/lib/slapd.sh as the SSO domain's directory
# (service account + search, then the user's bind), all in network
# namespaces of lib/lbnet.sh (198.18.94.0/24, 198.18.95.0/24; no route out).
#
#   1. uncached logons/s: every request carries alice with a password never
#      sent before, so no verdict can be cached and each one is a whole
#      logon at the directory (search + bind, refused: 401, which closes
#      the connection as every answer of exlbd's own does). A failed bind
#      costs slapd what a good one does; the failed-logon limit is off.
#   2. cached verdicts: keep-alive requests/s as alice with her password
#      on the Basic-authenticated VS (one logon, then the verdict cache);
#   3. the same on a VS without ESP in front of the same nginx: the ratio
#      2/3 is what the Basic logon costs a session.
#   4. form logons/s: POST /lm_auth_proxy as alice with her password on a
#      VS with InputAuthMode=2 OutputAuthMode=1: each a whole logon at the
#      directory (search + bind), a new session and its 302 (which closes
#      the connection); an answer other than 302 is counted and reported.
#   5. keep-alive requests/s with that VS's session cookie (a logon just
#      before, as phase 4's logons evict the oldest sessions when the
#      table is full): the ratio 5/3 is what the form logon costs a session
#      (the cookie looked up, taken out, a Basic header made for the RS).
# Each phase is wrk for ESPB_SECS seconds (default 5; ESPB_CONNS
# connections, default 32; one wrk thread), after a 1 s warm-up, repeated
# ESPB_ROUNDS times (default 3) in turn; the medians (bench/lib.sh's med)
# are printed, one line per figure and a summary line (key=value). Every
# wrk is bounded by timeout: about 20 + 5 x ROUNDS x (SECS + 1) s in all.
#
# Environment: EXLBD, EXLBCTL (default userspace/build/exlbd,
# userspace/build/exlbctl), KEEP=1 keeps the temp dir. Needs root, wrk,
# nginx, slapd, ldap-utils, curl, python3, openssl. Run it alone, on a
# quiet machine if the figures are to mean much (docs/benchmarks.md).
set -u

here=$(cd "$(dirname "$0")" && pwd)
tl=$here/../userspace/tests/lib
# shellcheck source=../userspace/tests/lib/tap.sh
source "$tl/tap.sh"
# shellcheck source=lib.sh
source "$here/lib.sh"
SECS=${ESPB_SECS:-5}
CONNS=${ESPB_CONNS:-32}
ROUNDS=${ESPB_ROUNDS:-3}
((SECS >= 1 && SECS <= 60 && CONNS >= 1 && CONNS <= 256 && ROUNDS >= 1 && ROUNDS <= 9)) ||
	{ echo "ESPB_SECS 1..60, ESPB_CONNS 1..256, ESPB_ROUNDS 1..9" >&2; exit 2; }

ESP_TOOLS=(ip nginx curl wrk python3 openssl ldapsearch)
ESP_EXLBD_DEFAULT=$here/../userspace/build/exlbd ESP_NO_TAP_HEADER=1 ESP_NO_ACCESS_LOG=1
# shellcheck source=../userspace/tests/lib/esp-env.sh
source "$tl/esp-env.sh"
esp_setup ebb 198.18.94 espbench 0
((TAP_FAILED == 0)) || exit 1
exrs_setup rs1 "$NS_RS1" "$RS1"
report $? "nginx rs1 ($RS1)"
slapd_sso_args "$RS2" "$P_LDAP" "$T/adminpass"
cfg sso add EXLB "${SSO_ARGS[@]}" max_failed_auths=0
cfg vs add "$VIP" 80 tcp nickname=Basic VStype=http CheckType=none EspEnabled=1 InputAuthMode=1 \
	OutputAuthMode=1 Domain=EXLB AllowedHosts=mail.example.com "AllowedDirectories=/*"
cfg rs add Basic "$RS1" port=80
cfg vs add "$VIP" 81 tcp nickname=Form VStype=http CheckType=none EspEnabled=1 InputAuthMode=2 \
	OutputAuthMode=1 Domain=EXLB AllowedHosts=mail.example.com "AllowedDirectories=/*"
cfg rs add Form "$RS1" port=80
cfg vs add "$VIP2" 80 tcp nickname=Plain VStype=http CheckType=none
cfg rs add Plain "$RS1" port=80
report "${cfg_bad:-0}" "configured: SSO domain EXLB, VS Basic (InputAuthMode=1), VS Form (InputAuthMode=2), VS Plain (no ESP)"
c1=$(in_cl curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Host: mail.example.com' \
	-u alice:alice-pw "http://$VIP/owa/")
c2=$(in_cl curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Host: mail.example.com' \
	-u alice:nope "http://$VIP/owa/")
[ "$c1" = 200 ] && [ "$c2" = 401 ]
report $? "alice: $c1, a wrong password: $c2"
# form_cookie: a new session of alice on VS Form, its id on stdout
form_cookie() {
	in_cl curl -s -o /dev/null -D - --max-time 10 -H 'Host: mail.example.com' \
		--data-raw 'username=alice&password=alice-pw&destination=%2Fowa%2F' "http://$VIP:81/lm_auth_proxy" |
		tr -d '\r' | sed -n 's/^Set-Cookie: exlb_esp=\([0-9a-f]\{32\}\);.*/\1/p'
}
ck=$(form_cookie)
c3=$(in_cl curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Host: mail.example.com' \
	-H "Cookie: exlb_esp=$ck" "http://$VIP:81/owa/")
[ ${#ck} = 32 ] && [ "$c3" = 200 ]
report $? "form logon: a session cookie (${#ck} hex digits), with it: $c3"
((TAP_FAILED == 0)) || { diag "$(tail -5 "$T/exlbd.log")"; exit 1; }

cat >"$T/auth.lua" <<'LUA'
-- ESPB_MODE=fresh: alice with a new wrong password per request; ok: alice:alice-pw;
-- form: POST /lm_auth_proxy as alice (answers other than 302 counted: "not302=N");
-- session: GET with the session cookie ESPB_COOKIE
local chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function b64(s)
	local out = {}
	for k = 1, #s, 3 do
		local a, b, c = s:byte(k, k + 2)
		local n = a * 65536 + (b or 0) * 256 + (c or 0)
		local function ch(v) v = v % 64 + 1; return chars:sub(v, v) end
		out[#out + 1] = ch(math.floor(n / 262144)) .. ch(math.floor(n / 4096)) ..
			(b and ch(math.floor(n / 64)) or '=') .. (c and ch(n) or '=')
	end
	return table.concat(out)
end
local mode = os.getenv("ESPB_MODE")
local i = 0
local fixed = "Basic " .. b64("alice:alice-pw")
local logon = "username=alice&password=alice-pw&destination=%2Fowa%2F"
local cookie = "exlb_esp=" .. (os.getenv("ESPB_COOKIE") or "")
request = function()
	local a = fixed
	if mode == "form" then
		return wrk.format("POST", "/lm_auth_proxy", { ["Host"] = "mail.example.com",
			["Content-Type"] = "application/x-www-form-urlencoded" }, logon)
	elseif mode == "session" then
		return wrk.format("GET", "/owa/", { ["Host"] = "mail.example.com", ["Cookie"] = cookie })
	elseif mode == "fresh" then
		i = i + 1
		a = "Basic " .. b64("alice:wrong-" .. i)
	end
	return wrk.format("GET", "/owa/", { ["Host"] = "mail.example.com", ["Authorization"] = a })
end
not302 = 0
if mode == "form" then
	response = function(status, headers, body)
		if status ~= 302 then not302 = not302 + 1 end
	end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
	local n = 0
	for _, t in ipairs(threads) do n = n + (t:get("not302") or 0) end
	if mode == "form" then io.write(string.format("not302=%d\n", n)) end
end
LUA
# run NAME MODE URL: wrk's requests/s and non-2xx count into R[NAME], X[NAME]
# (form: the answers that were not a logon's 302 too)
declare -A R=() X=()
run() {
	local name=$1 mode=$2 url=$3 out ck=
	[ "$mode" = session ] && ck=$(form_cookie)
	in_cl env ESPB_MODE="$mode" ESPB_COOKIE="$ck" timeout 20 wrk -t 1 -c "$CONNS" -d 1s --timeout 5s \
		-s "$T/auth.lua" "$url" >/dev/null 2>&1
	out=$(in_cl env ESPB_MODE="$mode" ESPB_COOKIE="$ck" timeout $((SECS + 20)) wrk -t 1 -c "$CONNS" -d "${SECS}s" \
		--timeout 5s -s "$T/auth.lua" "$url" 2>&1)
	R[$name]=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
	X[$name]=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$out")
	X[$name]=$(( ${X[$name]:-0} + $(sed -n 's/^not302=\([0-9]*\)$/\1/p' <<<"$out" | head -1 | grep . || echo 0) ))
	echo "# $name: $(grep -E 'requests in|Requests/sec|Non-2xx|errors|not302' <<<"$out" | tr -s ' \n' ' ')"
}
# rounds alternate the phases so that the machine's noise falls on all
# three; V: every round's figure (bench/lib.sh's put, v, ratio)
declare -A V=() BAD=()
for ((r = 1; r <= ROUNDS; r++)); do
	run fresh fresh "http://$VIP/owa/"
	put fresh "${R[fresh]:-0}"
	run cached ok "http://$VIP/owa/"
	put cached "${R[cached]:-0}"
	run plain ok "http://$VIP2/owa/"
	put plain "${R[plain]:-0}"
	run form form "http://$VIP:81/lm_auth_proxy"
	put form "${R[form]:-0}"
	BAD[form]=$(( ${BAD[form]:-0} + X[form] ))
	run session session "http://$VIP:81/owa/"
	put session "${R[session]:-0}"
	BAD[session]=$(( ${BAD[session]:-0} + X[session] ))
done
fresh=$(v fresh) cached=$(v cached) plain=$(v plain) form=$(v form) session=$(v session)
ratio=$(ratio cached plain) fratio=$(ratio session plain)
echo "uncached_logons_per_s=$fresh (rounds: ${V[fresh]}; each a 401 after search + bind)"
echo "cached_basic_req_per_s=$cached (rounds: ${V[cached]})"
echo "plain_req_per_s=$plain (rounds: ${V[plain]})"
echo "esp_basic_cached_over_plain=$ratio"
echo "form_logons_per_s=$form (rounds: ${V[form]}; each search + bind, a session, a 302; not a 302: ${BAD[form]})"
echo "form_session_req_per_s=$session (rounds: ${V[session]}; non-2xx/3xx: ${BAD[session]})"
echo "esp_form_session_over_plain=$fratio"
echo "summary secs=$SECS conns=$CONNS rounds=$ROUNDS fresh=$fresh cached=$cached plain=$plain ratio=$ratio form=$form session=$session form_ratio=$fratio form_bad=${BAD[form]} session_bad=${BAD[session]}"
