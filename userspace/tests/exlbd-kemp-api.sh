#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Kemp's REST API (/access/<command>, docs/kemp-api.md) end to end, driven
# by curl and by lib/kemp_client.py (python3 stdlib, written from Kemp's
# API description): the Exchange services are created by API alone (an L4
# IMAP VS, the HTTPS VS of Kemp's Exchange template with its SubVSs, an L7
# VS with a SubVS made by createsubvs, a certificate by addcert), read back
# (listvs against `exlbctl vs show -j`, showvs, showrs, stats, listcert,
# get), changed (modvs, modrs, disablers, enablers, set) and deleted (delrs,
# delvs); bad parameters get Kemp's error reply and change nothing
# (`exlbctl save` before and after); no credentials, no access; a read-only
# key and user can read but get Kemp's error form for a change. About 20 s.
#
#   client 198.18.88.2 ---- lb (exlbd --no-kernel) admin 198.18.88.1:9443
#                           VIPs 198.18.88.10, .11; RSs 198.18.89.11, .12
#
# No traffic goes to the real servers: EXLBD_NO_HEALTH_CHECKS=1 (as the
# Makefile passes it) and no client connects to a VIP.
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl),
# KEEP=1 keeps the temp dir. Needs root, iproute2, curl, openssl, jq,
# python3. TAP, the plan last; exits 0 only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip curl openssl jq python3; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"
TEMPLATES=$(realpath "$here/../../templates")
TEMPLATE="Exchange 2016 HTTPS Offloaded"

T=$(mktemp -d /tmp/exlb-kemp.XXXXXX)
chmod 755 "$T"
SOCK=$T/exlbd.sock
DAEMON_PID=
PORT=9443

# shellcheck source=lib/lbnet.sh
source "$here/lib/lbnet.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"

cleanup() {
	exlbd_kill
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

echo "TAP version 13"

lbnet_setup ka 198.18.88 || skip "cannot create network namespaces"
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"

exlbd_start "exlbd runs in the LB namespace" --template-dir "$TEMPLATES"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/mail.key" -out "$T/mail.crt" \
	-subj /CN=mail.example.test -days 30 2>/dev/null
cat "$T/mail.crt" "$T/mail.key" >"$T/mail.pem"
cfg set AdminAddress "$LB_IP"
cfg set AdminPort $PORT
printf 'reader-pw-1\n' | ctl admin user add reader password-file=- >>"$T/ctl.log" 2>&1 || cfg_bad=1
printf 'boss-pw-22\n' | ctl admin user add boss role=admin password-file=- >>"$T/ctl.log" 2>&1 || cfg_bad=1
RO=$(ctl admin apikey add monitor 2>/dev/null)
ADM=$(ctl admin apikey add deploy role=admin 2>/dev/null)
report "$([ -z "${cfg_bad:-}" ] && [[ $RO == exlb_* && $ADM == exlb_* ]]; echo $?)" \
	"admin listener on $LB_IP:$PORT; users reader (read-only), boss (admin); keys monitor (read-only), deploy (admin)"

URL=https://$LB_IP:$PORT
# kcurl [curl options] COMMAND?QUERY: the HTTP status; the body in $T/body.
# exlbd runs at most 2 password hashes a second (503 beyond): asked again.
kcurl() {
	local path=${*: -1} i c
	for ((i = 0; i < 20; i++)); do
		c=$(in_cl curl -sk -m 10 -o "$T/body" -w '%{http_code}' "${@:1:$#-1}" \
			"$URL/access/$path")
		[ "$c" = 503 ] || break
		sleep 0.3
	done
	echo "$c"
}
# kpy AUTH call COMMAND [K=V ...]: kemp_client.py's JSON for one command
kpy() { in_cl python3 "$here/lib/kemp_client.py" "$URL" "$@"; }
# the stat, code and error of a kpy reply
sce() { jq -r '"\(.http) \(.stat) \(.code) \(.error)"' <<<"$1"; }
answers() { [ "$(kcurl listvs)" = 401 ]; }
wait_for 10 answers
report $? "the listener answers within $WAITED s"

# ---- no credentials, bad credentials

c=$(kcurl listvs)
report "$([ "$c" = 401 ]; echo $?)" "listvs without credentials: $c"
c=$(kcurl "addvs?vs=$VIP&port=25&prot=tcp")
report "$([ "$c" = 401 ]; echo $?)" "addvs without credentials: $c"
c=$(kcurl "listvs?apikey=exlb_0000000000000000000000000000000000000000000000000000000000000000")
report "$([ "$c" = 401 ]; echo $?)" "listvs with a wrong apikey=: $c"
c=$(kcurl -u boss:wrong listvs)
report "$([ "$c" = 401 ]; echo $?)" "listvs with a wrong password: $c"

# ---- the Exchange services by API alone (python client)

ctl save >"$T/save.0"
out=$(kpy key="$ADM" deploy "$VIP" "$VIP2" "$RS1" "$RS2" "$T/mail.pem" "$TEMPLATE")
rc=$?
IMAP=$(jq -r .imap <<<"$out") HTTPS=$(jq -r .https <<<"$out")
MANUAL=$(jq -r .manual <<<"$out") MSUB=$(jq -r .manual_subvs <<<"$out")
nsub=$(jq '.subvs | length' <<<"$out")
report "$([ "$rc" = 0 ] && [ "$nsub" -ge 9 ]; echo $?)" \
	"deployed by API: IMAP VS $IMAP, HTTPS VS $HTTPS with $nsub SubVSs (template), VS $MANUAL with SubVS $MSUB (rc $rc${out:+: ${out:0:160}})"
ctl vs show -j >"$T/show.json"
jq -e --arg v "$VIP" '[.[] | select(.vip == $v and .port == 143 and (.rs | length) == 2)] | length == 1' \
	"$T/show.json" >/dev/null
report $? "exlbctl sees the IMAP VS $VIP:143 with its 2 real servers"
jq -e --arg v "$VIP" '[.[] | select(.vip == $v and .port == 443)][0] |
	.CertFile == "mail" and .SSLAcceleration == 1 and ([.subvs[] | select((.rs | length) == 2)] | length) >= 9' \
	"$T/show.json" >/dev/null
report $? "exlbctl sees the HTTPS VS: CertFile mail, SSLAcceleration 1, every SubVS with 2 real servers"
layers=$(ctl status -j | jq -r --arg v "$VIP" '[.vs[] | select(.vip == $v) | "\(.port)=\(.layer)"] | sort | join(" ")')
report "$([[ $layers == *"143=L4"* && $layers == *"443=L7"* ]]; echo $?)" "layers: $layers"
kpy key="$RO" compare "$T/show.json" >"$T/cmp" 2>&1
report $? "listvs (read-only key) matches exlbctl vs show -j: $(jq length "$T/show.json") VSs with their SubVSs and real servers${T:+ $(head -c 300 "$T/cmp")}"

# ---- reads with curl

c=$(kcurl -u reader:reader-pw-1 "showvs?vs=$VIP&port=443&prot=tcp")
head -c 60 "$T/body" | grep -q '^<?xml version="1.0" encoding="ISO-8859-1"?>' &&
	grep -q '<Response stat="200" code="ok">' "$T/body" &&
	grep -q "<Index>$HTTPS</Index>" "$T/body" && grep -q '<CertFile>mail</CertFile>' "$T/body"
report $? "showvs (Basic auth, read-only user): $c, Kemp's XML declaration and envelope, Index $HTTPS, CertFile"
c=$(kcurl "showrs?vs=$VIP&port=143&prot=tcp&rs=$RS2&rsport=143&apikey=$RO")
[ "$c" = 200 ] && grep -q "<Rs><Status>[A-Za-z]*</Status><VSIndex>$IMAP</VSIndex><RsIndex>[0-9]*</RsIndex><Addr>$RS2</Addr><Port>143</Port>" "$T/body" &&
	[ "$(grep -o '<Rs>' "$T/body" | wc -l)" = 1 ]
report $? "showrs rs=$RS2 rsport=143: $c, that one RS"
c=$(kcurl "stats?apikey=$RO")
[ "$c" = 200 ] && grep -q '<VStotals>' "$T/body" && grep -q "<Vs><Index>$IMAP</Index>" "$T/body"
report $? "stats: $c with VStotals and per-VS counters"
c=$(kcurl "listcert?apikey=$RO")
want=$(openssl x509 -in "$T/mail.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
[ "$c" = 200 ] && grep -q "<cert><name>mail</name><type>RSA</type>" "$T/body" &&
	grep -q "<sha256>$want</sha256>" "$T/body"
report $? "listcert: $c, the certificate added by addcert (sha256 ${want:0:16}...)"
r=$(kpy key="$RO" call get param=RetryInterval)
[ "$(jq -r .data.RetryInterval <<<"$r")" = "$(ctl get RetryInterval -j | jq -r .RetryInterval)" ]
report $? "get param=RetryInterval: $(jq -c .data <<<"$r")"

# ---- changes

r=$(kpy key="$ADM" call modvs vs="$VIP" port=143 prot=tcp Schedule=wrr NickName="IMAP <&> Ω")
name=$(ctl vs show "$IMAP" -j | jq -r '"\(.NickName) \(.Schedule)"')
[ "$(jq -r .stat <<<"$r")" = 200 ] && [ "$name" = "IMAP <&> Ω wrr" ] &&
	[ "$(jq -r .data.NickName <<<"$r")" = "IMAP <&> Ω" ]
report $? "modvs Schedule=wrr NickName with <&> and a non-Latin-1 character: $(sce "$r"); exlbctl: $name; the reply reads back the same"
in_cl curl -sk -o "$T/raw" "$URL/access/showvs?vs=$IMAP&apikey=$RO"
grep -q '<NickName>IMAP &lt;&amp;&gt; &#x3A9;</NickName>' "$T/raw"
report $? "escaped in the XML as &lt;&amp;&gt; and &#x3A9; ($(grep -o '<NickName>[^/]*</NickName>' "$T/raw"))"
r=$(kpy user=boss:boss-pw-22 call modrs vs="$VIP" port=143 prot=tcp rs="$RS1" rsport=143 weight=250)
w=$(ctl rs show "$IMAP" -j | jq --arg a "$RS1" '.[] | select(.addr == $a) | .weight')
report "$([ "$(jq -r .stat <<<"$r")" = 200 ] && [ "$w" = 250 ]; echo $?)" "modrs weight=250 (Basic auth, admin user): $(sce "$r"); exlbctl weight $w"
r=$(kpy key="$ADM" call disablers vs="$IMAP" rs="$RS2" rsport=143)
e=$(ctl rs show "$IMAP" -j | jq --arg a "$RS2" '.[] | select(.addr == $a) | .enable')
report "$([ "$(jq -r .stat <<<"$r")" = 200 ] && [ "$e" = 0 ]; echo $?)" "disablers: $(sce "$r"); exlbctl enable $e"
rsid=$(ctl rs show "$IMAP" -j | jq --arg a "$RS2" '.[] | select(.addr == $a) | .id')
r=$(kpy key="$ADM" call enablers vs="$IMAP" rs="!$rsid")
e=$(ctl rs show "$IMAP" -j | jq --arg a "$RS2" '.[] | select(.addr == $a) | .enable')
report "$([ "$(jq -r .stat <<<"$r")" = 200 ] && [ "$e" = 1 ]; echo $?)" "enablers rs=!$rsid (Kemp's RS index): $(sce "$r"); exlbctl enable $e"
c=$(kcurl "set?param=RetryInterval&value=20&apikey=$ADM")
v=$(ctl get RetryInterval -j | jq -r .RetryInterval)
[ "$c" = 200 ] && grep -q '<Success>Command completed ok</Success>' "$T/body" && [ "$v" = 20 ]
report $? "set RetryInterval 20 (curl): $c, Command completed ok; exlbctl get: $v"

# ---- bad parameters: Kemp's error reply, nothing changed

ctl save >"$T/save.1"
bad() {
	local what=$1 r
	shift
	r=$(kpy key="$ADM" call "$@")
	ctl save >"$T/save.2"
	[ "$(jq -r .http <<<"$r")" = 422 ] && [ "$(jq -r .stat <<<"$r")" = 422 ] &&
		[ "$(jq -r .code <<<"$r")" = fail ] && [ -n "$(jq -r '.error // ""' <<<"$r")" ] &&
		cmp -s "$T/save.1" "$T/save.2"
	report $? "$what: $(sce "$r"); exlbctl save unchanged"
}
bad "modvs with an unknown parameter" modvs vs="$IMAP" NoSuchParam=1
bad "modvs Schedule=fastest" modvs vs="$IMAP" Schedule=fastest
bad "modvs without vs" modvs Schedule=lc
bad "addvs with a bad address" addvs vs=198.18.88.300 port=993 prot=tcp
bad "addvs prot=udp" addvs vs="$VIP" port=53 prot=udp
bad "addrs to an unknown VS" addrs vs="$VIP" port=9999 prot=tcp rs="$RS1" rsport=80
bad "addrs with weight=70000" addrs vs="$VIP" port=143 prot=tcp rs=198.18.89.13 rsport=143 weight=70000
bad "set with an unknown parameter" set param=NoSuchGlobal value=1
bad "modrs of a real server the VS does not have" modrs vs="$IMAP" rs=198.18.89.99 rsport=143 weight=5
bad "addvs with an unknown template" addvs vs="$VIP2" port=993 prot=tcp template="No Such Template"
r=$(kpy key="$ADM" call nosuchcommand)
report "$([ "$(jq -r .stat <<<"$r")" = 400 ] && [ "$(jq -r .code <<<"$r")" = fail ]; echo $?)" \
	"an unknown command: $(sce "$r")"
printf 'not a certificate\n' >"$T/junk"
r=$(kpy key="$ADM" call addcert cert=junk "@$T/junk")
ctl save >"$T/save.2"
report "$([ "$(jq -r .stat <<<"$r")" = 422 ] && cmp -s "$T/save.1" "$T/save.2"; echo $?)" \
	"addcert with a body that is not PEM: $(sce "$r"); nothing changed"

# ---- read-only callers cannot change anything

for who in key="$RO" user=reader:reader-pw-1; do
	r=$(kpy "$who" call modvs vs="$IMAP" Schedule=lc)
	ctl save >"$T/save.2"
	[ "$(jq -r .http <<<"$r")" = 403 ] && [ "$(jq -r .stat <<<"$r")" = 403 ] &&
		[ "$(jq -r .code <<<"$r")" = fail ] && cmp -s "$T/save.1" "$T/save.2"
	report $? "read-only ${who%%=*} ${who#*=}: modvs refused in Kemp's error form: $(sce "$r"); nothing changed"
done
c=$(kcurl "delvs?vs=$IMAP&apikey=$RO")
grep -q '<Response stat="403" code="fail">' "$T/body" && ctl vs show "$IMAP" >/dev/null 2>&1
report $? "read-only key: delvs $c, the VS is still there"

# ---- deletions

r=$(kpy key="$ADM" call delrs vs="$VIP" port=143 prot=tcp rs="$RS1" rsport=143)
n=$(ctl rs show "$IMAP" -j | jq length)
report "$([ "$(jq -r .stat <<<"$r")" = 200 ] && [ "$n" = 1 ]; echo $?)" "delrs: $(sce "$r"); $n real server left"
r=$(kpy key="$ADM" call delvs vs="$MSUB")
subs=$(ctl vs show "$MANUAL" -j | jq '.subvs | length')
report "$([ "$(jq -r .stat <<<"$r")" = 200 ] && [ "$subs" = 0 ]; echo $?)" "delvs of SubVS $MSUB by its index: $(sce "$r"); VS $MANUAL has $subs SubVSs"
for ref in "vs=$VIP&port=143&prot=tcp" "vs=$VIP&port=443&prot=tcp" "vs=$MANUAL" "vs=$VIP&port=80&prot=tcp"; do
	kcurl "delvs?$ref&apikey=$ADM" >/dev/null
	grep -q '<Success>Command completed ok</Success>' "$T/body" || diag "delvs $ref: $(cat "$T/body")"
done
left=$(ctl vs show -j | jq length)
c=$(kcurl "listvs?apikey=$RO")
[ "$left" = 0 ] && grep -q '<Success><Data></Data></Success>' "$T/body"
report $? "delvs of all four VSs (curl): exlbctl shows $left, listvs an empty Data"

# ---- logged, and exlbd ends cleanly

grep -q "admin: apikey deploy: Kemp API addvs" "$T/exlbd.log" &&
	grep -q "admin: user boss: Kemp API modrs" "$T/exlbd.log"
report $? "changes through the API are logged with who made them"
exlbd_stop_checked
tap_end
