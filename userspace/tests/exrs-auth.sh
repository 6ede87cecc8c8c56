#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The simulated Exchange servers' credential checks (lib/exchange-rs.sh's
# exrs_auth_enable, lib/exchange-auth.py), with curl against one RS in a
# network namespace of its own (a name with this process's id: it collides
# with no other test; only its loopback). What the ESP tests rely on when
# they say "the RS refused it" or "the RS saw user X":
#   - the default RS (no exrs_auth_enable) answers without credentials;
#   - Exchange's form logon: right password -> 302 to the destination with
#     cadata; wrong password, locked user, no such user -> 302 to
#     logon.aspx?reason=2 without cadata;
#   - /owa/ without cadata, with a forged or another run's cadata -> 302 to
#     logon.aspx; with the cadata of the logon -> 200, the auth log names
#     the user; after logoff the same cadata -> 302 again;
#   - /EWS, /Microsoft-Server-ActiveSync: no, wrong, undecodable Basic -> 401
#     with WWW-Authenticate: Basic; right -> 200 as that user;
#   - health checks still answer without credentials;
#   - nothing unauthenticated was served: no status=200 with user="-" on a
#     protected path in the auth log.
# Root (network namespace); exit 4 = skipped otherwise.
set -u

here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/tap.sh"
source "$here/lib/exchange-rs.sh"

[ "$(id -u)" = 0 ] || skip "needs root (a network namespace)"
for tool in ip nginx curl python3 openssl; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done

NS=exrs-auth-$$
ADDR=127.0.0.1
T=$(mktemp -d /tmp/exrs-auth.XXXXXX)
chmod 755 "$T"	# nginx's workers (nobody) reach the helper's socket below it
export EXRS_DIR=$T/exrs EXRS_BIG_MB=0
cleanup() {
	exrs_cleanup 2>/dev/null	# its "kept" note: $T goes below
	ip netns del "$NS" 2>/dev/null
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT
ip netns add "$NS" || skip "cannot make a network namespace"

inns() { ip netns exec "$NS" "$@"; }
# req OUT URL [curl args]: the status, headers in OUT.h, body in OUT.b
req() {
	local out=$1 url=$2
	shift 2
	inns curl -s -o "$out.b" -D "$out.h" -w '%{http_code}' --max-time 5 "$@" "$url"
}
hdr() { grep -i "^$2:" "$1.h" | tr -d '\r'; }
form() {	# form USER PASSWORD [DESTINATION]: Exchange's logon body
	printf 'destination=%s&flags=4&forcedownlevel=0&username=%s&password=%s&passwordText=&isUtf8=1' \
		"$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "${3:-http://mail.exlb.test/owa/}")" \
		"$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$1")" \
		"$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$2")"
}
logon() {	# logon OUT USER PASSWORD: POST /owa/auth.owa
	req "$1" "http://$ADDR/owa/auth.owa" -H 'Host: mail.exlb.test' \
		-H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$(form "$2" "$3")"
}
cadata() { hdr "$1" set-cookie | sed -n 's/^[Ss]et-[Cc]ookie: cadata="\([^"]*\)".*/\1/p'; }

exrs_setup rs1 "$NS" "$ADDR"
report $? "RS rs1 started in $NS"

# ---- the default: no credentials asked
c=$(req "$T/d" "http://$ADDR/EWS/Exchange.asmx")
[ "$c" = 200 ]
report $? "default RS: /EWS/ without credentials: $c (200)"
tail -1 "$(exrs_auth_log rs1)" | grep -q 'auth="-"$'
report $? "default RS: the auth log's line is unchanged: $(tail -1 "$(exrs_auth_log rs1)")"

users=$(exrs_users_file)
exrs_auth_enable rs1 "$users"
report $? "exrs_auth_enable rs1: /EWS/ answers 401 after the reload"

# ---- form logon
c=$(logon "$T/l1" alice alice-pw)
ck=$(cadata "$T/l1")
[ "$c" = 302 ] && [ -n "$ck" ] && hdr "$T/l1" location | grep -q 'http://mail.exlb.test/owa/$'
report $? \
	"alice alice-pw: $c, $(hdr "$T/l1" location), cadata ${ck:0:20}..."
cp "$T/l1.h" "$T/logon-ok.txt"	# with KEEP=1: test_owa_form.c's answers come from these
n=$(hdr "$T/l1" set-cookie | grep -cE '^[Ss]et-[Cc]ookie: cadata(TTL|Key|IV|Sig)?=')
[ "$n" = 5 ]
report $? "the logon sets cadata, cadataTTL, cadataKey, cadataIV, cadataSig ($n cookies)"
for bad in "alice wrong" "bob bob-pw" "carol carol-pw" "mallory alice-pw" "alice ''" "* alice-pw"; do
	set -f
	eval "set -- $bad"
	set +f
	c=$(logon "$T/l2" "$1" "$2")
	[ "$1" = alice ] && [ "$2" = wrong ] && cp "$T/l2.h" "$T/logon-refused.txt"
	[ "$c" = 302 ] && [ -z "$(cadata "$T/l2")" ] &&
		hdr "$T/l2" location | grep -q '^Location: /owa/auth/logon.aspx?url=.*&reason=2$'
	report $? \
		"logon '$1' '$2' refused: $c, $(hdr "$T/l2" location), no cadata"
done
c=$(logon "$T/l3" 'EXLB\alice' alice-pw)
[ "$c" = 302 ] && [ -n "$(cadata "$T/l3")" ]
report $? "EXLB\\alice: $c with cadata (DOMAIN\\user)"
c=$(logon "$T/l4" 'dave@exlb.test' dave-pw)
ck_dave=$(cadata "$T/l4")
[ "$c" = 302 ] && [ -n "$ck_dave" ]
report $? "dave@exlb.test: $c with cadata (UPN)"

# ---- cookie required on /owa, /ecp
c=$(req "$T/o1" "http://$ADDR/owa/")
[ "$c" = 302 ] && hdr "$T/o1" location | grep -q '/owa/auth/logon.aspx?.*reason=0'
report $? \
	"/owa/ without cadata: $c, $(hdr "$T/o1" location)"
c=$(req "$T/o2" "http://$ADDR/ecp/" -b "cadata=\"$ck\"")
[ "$c" = 200 ] && tail -1 "$(exrs_auth_log rs1)" | grep -q '^/ecp/ .* user="alice" status=200$'
report $? \
	"/ecp/ with alice's cadata: $c; auth log: $(tail -1 "$(exrs_auth_log rs1)")"
forged=$(printf '%s' "$ck" | sed 's/\.[0-9a-f]*$/.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/')
fake_user=$(printf '%s' "$ck_dave" | cut -d. -f2-)
c=$(req "$T/o3" "http://$ADDR/owa/" -b "cadata=\"$forged\"")
c2=$(req "$T/o4" "http://$ADDR/owa/" -b "cadata=\"YWxpY2U.$fake_user\"")
[ "$c" = 302 ] && [ "$c2" = 302 ]
report $? \
	"/owa/ with a forged MAC: $c; with dave's MAC under alice's name: $c2 (302 both)"
c=$(req "$T/o5" "http://$ADDR/owa/auth/logon.aspx")
[ "$c" = 200 ]
report $? "/owa/auth/logon.aspx without cadata: $c (public)"
c=$(req "$T/o6" "http://$ADDR/owa/logoff.owa" -b "cadata=\"$ck\"")
[ "$c" = 302 ] && hdr "$T/o6" set-cookie | grep -q '^[Ss]et-[Cc]ookie: cadata=; expires=Thu, 01-Jan-1970'
report $? \
	"logoff: $c, $(hdr "$T/o6" location), cadata expired"
c=$(req "$T/o7" "http://$ADDR/owa/" -b "cadata=\"$ck\"")
c2=$(req "$T/o8" "http://$ADDR/owa/" -b "cadata=\"$ck_dave\"")
[ "$c" = 302 ] && [ "$c2" = 200 ]
report $? \
	"after logoff alice's cadata: $c (302); dave's still: $c2 (200)"

# ---- Basic on the other vdirs
b64() { printf '%s' "$1" | base64 -w0; }
for vd in EWS/Exchange.asmx Microsoft-Server-ActiveSync OAB/x mapi/emsmdb rpc/rpcproxy.dll PowerShell Autodiscover/Autodiscover.xml; do
	c=$(req "$T/b1" "http://$ADDR/$vd")
	[ "$c" = 401 ] && hdr "$T/b1" www-authenticate | grep -q 'Basic'
	report $? \
		"/$vd without credentials: $c, $(hdr "$T/b1" www-authenticate)"
done
for bad in "alice:wrong" "bob:bob-pw" "nobody:x" "alice-pw"; do
	c=$(req "$T/b2" "http://$ADDR/EWS/Exchange.asmx" -H "Authorization: Basic $(b64 "$bad")")
	[ "$c" = 401 ]
	report $? "/EWS/ with Basic '$bad': $c (401)"
done
c=$(req "$T/b3" "http://$ADDR/EWS/Exchange.asmx" -H "Authorization: Basic YWxpY2U6YWxpY2UtcHc")
[ "$c" = 401 ]
report $? "/EWS/ with unpadded base64: $c (401)"
c=$(req "$T/b4" "http://$ADDR/Microsoft-Server-ActiveSync?Cmd=Sync" -u alice:alice-pw)
[ "$c" = 200 ] && tail -1 "$(exrs_auth_log rs1)" | grep -q 'user="alice" status=200$'
report $? \
	"ActiveSync as alice: $c; auth log: $(tail -1 "$(exrs_auth_log rs1)" | sed 's/auth="Basic [^"]*"/auth="Basic <...>"/')"
c=$(req "$T/b5" "http://$ADDR/ews/exchange.asmx" -u 'EXLB\dave:dave-pw')
[ "$c" = 200 ]
report $? "/ews/ (lower case) as EXLB\\dave: $c"
c=$(req "$T/b6" "http://$ADDR/EWS/Exchange.asmx" -b "cadata=\"$ck_dave\"")
[ "$c" = 401 ]
report $? "/EWS/ with a cadata cookie but no Basic: $c (401)"

# ---- what stays public
c=$(req "$T/h1" "http://$ADDR/owa/healthcheck.htm")
c2=$(req "$T/h2" "http://$ADDR/EWS/healthcheck.htm")
[ "$c" = 200 ] && [ "$c2" = 200 ]
report $? "healthcheck.htm without credentials: owa $c, EWS $c2"

# ---- the helper restarts with the RS
exrs_stop rs1 && exrs_start rs1
c=$(req "$T/r1" "http://$ADDR/Microsoft-Server-ActiveSync" -u alice:alice-pw)
c2=$(req "$T/r2" "http://$ADDR/Microsoft-Server-ActiveSync")
[ "$c" = 200 ] && [ "$c2" = 401 ]
report $? "after exrs_stop/exrs_start: alice $c, none $c2"

# ---- nothing unauthenticated was served on a protected path
leaks=$(grep -iE '^/(owa|ecp|ews|microsoft-server-activesync|oab|mapi|rpc|powershell|autodiscover)(/|\?| |$)' \
	"$(exrs_auth_log rs1)" | grep -viE '^/owa/(auth/|auth\.owa|logoff\.owa)|/healthcheck\.htm' |
	grep -c 'user="-" status=200$')
total=$(grep -c 'user=' "$(exrs_auth_log rs1)")
[ "$leaks" = 0 ] && [ "$total" -gt 20 ]
report $? \
	"auth log: $leaks of $total lines served a protected path with no user"
grep -q 'alice-pw\|dave-pw' "$(exrs_auth_helper_log rs1)"
[ $? = 1 ]
report $? "the helper's log holds no password ($(wc -l < "$(exrs_auth_helper_log rs1)") lines)"
tap_end
