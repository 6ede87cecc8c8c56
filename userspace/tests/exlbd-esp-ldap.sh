#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The ESP directory logon against a real OpenLDAP slapd on loopback (as
# root: in a private network namespace with only a loopback, so nothing
# leaves), and the SSO domains of exlbd's configuration:
#
# 1. slapd with a small directory: AD-like users (userPrincipalName,
#    sAMAccountName) alice and dave valid, bob locked by ppolicy
#    (pwdAccountLockedTime), carol with an expired password (pwdMaxAge,
#    old pwdChangedTime), a service account; ldap:// with StartTLS and
#    ldaps:// with a certificate of a test CA. A listener that accepts and
#    never answers, and a port where nothing listens, for failover.
# 2. test_esp_ldap (tests/test_esp_ldap.c) against it: formats, wrong
#    password, disabled, expired, unknown, injection names, failed-logon
#    limit, failover, stalled directory with the loop's largest gap, TLS.
# 3. exlbctl sso add|mod|del|list|show against exlbd: values, refusals
#    that change nothing, the service account's password kept in the state
#    file but never shown or logged, the domains surviving a restart.
#
# TEST_ESP_LDAP, EXLBD, EXLBCTL name the binaries (default: userspace/build/...).

set -u

if [ "$(id -u)" = 0 ] && [ -z "${EXLB_PRIVATE_NETNS:-}" ] && command -v unshare >/dev/null; then
	EXLB_PRIVATE_NETNS=1 exec unshare -n "$0" "$@"
fi
[ "${EXLB_PRIVATE_NETNS:-}" = 1 ] && ip link set lo up 2>/dev/null

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
. "$here/lib/tap.sh"
TEST_ESP_LDAP=${TEST_ESP_LDAP:-$here/../build/tests/test_esp_ldap}
EXLBD=${EXLBD:-$here/../build/exlbd}
EXLBCTL=${EXLBCTL:-$here/../build/exlbctl}
SLAPD=${SLAPD:-/usr/sbin/slapd}
SLAPADD=${SLAPADD:-/usr/sbin/slapadd}

P_LDAP=13389 P_LDAPS=13636 P_DEAD=13390 P_STALL=13391

tmp=$(mktemp -d)
slapd_pid= stall_pid= daemon_pid=
cleanup() {
	for p in $daemon_pid $stall_pid $slapd_pid; do
		kill -CONT "$p" 2>/dev/null
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

for f in "$SLAPD" "$SLAPADD" "$TEST_ESP_LDAP" "$EXLBD" "$EXLBCTL"; do
	[ -x "$f" ] || { echo "not ok 1 - $f is missing (tools/deps.sh: slapd; make)"; exit 1; }
done

# ---- slapd with the test directory (lib/slapd.sh)
# shellcheck source=lib/slapd.sh
. "$here/lib/slapd.sh"
slapd_fixture 127.0.0.1 "$P_LDAP" "$P_LDAPS"

# accepts, never answers (the kernel completes the handshake)
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $P_STALL)); s.listen(64)
conns = []
end = time.time() + 120
while time.time() < end:
    s.settimeout(1)
    try: conns.append(s.accept()[0])
    except socket.timeout: pass
" &
stall_pid=$!
wait_for 5 quiet python3 -c "import socket; socket.create_connection(('127.0.0.1', $P_STALL), 1).close()"
report $? "the silent listener accepts on 127.0.0.1:$P_STALL"

# ---- the authenticator
ESP_LDAP_PLAIN=127.0.0.1:$P_LDAP ESP_LDAP_TLS=127.0.0.1:$P_LDAPS \
ESP_LDAP_DEAD=127.0.0.1:$P_DEAD ESP_LDAP_STALL=127.0.0.1:$P_STALL \
ESP_LDAP_CA=$tmp/exlb-test-ca.pem ESP_LDAP_OTHER_CA=$tmp/other-ca.pem \
ESP_SLAPD_PID=$slapd_pid timeout 180 "$TEST_ESP_LDAP" >"$tmp/unit.out" 2>"$tmp/unit.err"
rc=$?
# its TAP lines, numbered on from ours; its plan line dropped
while IFS= read -r line; do
	case $line in
	"ok "*) report 0 "test_esp_ldap: ${line#* - }" ;;
	"not ok "*) report 1 "test_esp_ldap: ${line#* - }" ;;
	1..*) ;;
	*) echo "# $line" ;;
	esac
done <"$tmp/unit.out"
[ -s "$tmp/unit.err" ] && diag "$(tail -20 "$tmp/unit.err")"
report "$rc" "test_esp_ldap exited with $rc"

# ---- exlbctl sso against exlbd
state=$tmp/state sock=$tmp/exlbd.sock
ctl() { "$EXLBCTL" -s "$sock" "$@"; }
start_daemon() {
	"$EXLBD" --state-dir "$state" --socket "$sock" --no-kernel >/dev/null 2>>"$tmp/exlbd.log" &
	daemon_pid=$!
	wait_for 10 quiet ctl get droponfail
}
start_daemon
report $? "exlbd started"
echo 'svc-secret' >"$tmp/adminpass"
ctl sso add EXLB server="127.0.0.1:$P_LDAP [fd00::1]:389" auth_type=LDAP-LDAPS \
	logon_fmt=Username logon_domain=EXLB adminuser=cn=svc,ou=system,dc=exlb,dc=test \
	ldap_base=ou=people,dc=exlb,dc=test max_failed_auths=5 unblock_tout=600 \
	password-file "$tmp/adminpass" >"$tmp/out" 2>&1
report $? "sso add EXLB with a service account: $(head -1 "$tmp/out")"
ctl -j sso show exlb >"$tmp/show.json" 2>&1
python3 - "$tmp/show.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
want = {"name": "EXLB", "auth_type": "LDAP-LDAPS", "logon_fmt": "Username",
        "logon_domain": "EXLB", "max_failed_auths": 5, "unblock_tout": 600,
        "reset_fail_tout": 60, "timeout": 5, "sess_tout_idle_pub": 900,
        "sess_tout_duration_priv": 28800, "adminpass": True}
bad = {k: j.get(k) for k in want if j.get(k) != want[k]}
sys.exit(1 if bad else 0)
EOF
report $? "sso show (case-insensitive name): the values set, Kemp's defaults, adminpass only 'set': $(tr -d '\n' <"$tmp/show.json" | cut -c1-200)"
! grep -q svc-secret "$tmp/show.json"
report $? "the service account's password is not in sso show"
! grep -q svc-secret "$tmp/exlbd.log"
report $? "nor in exlbd's log"
grep -q '"adminpass": "svc-secret"' "$state/config.json"
report $? "but in the state file (exlbd binds with it)"
ctl sso mod EXLB adminpass=x >/dev/null 2>"$tmp/err"
[ $? = 2 ] && grep -q 'no password on the command line' "$tmp/err"
report $? "sso mod adminpass=x on the command line refused: $(head -1 "$tmp/err")"

# refusals change nothing
ctl save >"$tmp/before.json"
refuse() { # WHAT PATTERN ARGS...
	local what=$1 pattern=$2
	shift 2
	ctl "$@" >/dev/null 2>"$tmp/err"
	local rc=$?
	ctl save >"$tmp/after.json"
	[ $rc != 0 ] && grep -q -- "$pattern" "$tmp/err" && cmp -s "$tmp/before.json" "$tmp/after.json"
	report $? "$what refused, nothing changed: $(head -1 "$tmp/err")"
}
refuse "a second EXLB" "exists" sso add exlb
refuse "auth_type RADIUS" "auth_type: must be one of" sso mod EXLB auth_type=RADIUS
refuse "nine servers" "server: must be up to 8" sso mod EXLB server="a b c d e f g h i"
refuse "a server with a path" "server: must be" sso mod EXLB server=ldap://x/
refuse "timeout 0" "timeout: must be 1-60" sso mod EXLB timeout=0
refuse "a relative ldap_ca" "ldap_ca: must be an absolute" sso mod EXLB ldap_ca=ca.pem
refuse "logon_fmt bogus" "logon_fmt: must be one of" sso mod EXLB logon_fmt=bogus
refuse "a name with a slash" "name: must be" sso add a/b
refuse "a service account without ldap_base" "needs adminpass and ldap_base" \
	sso mod EXLB ldap_base=
refuse "an unknown parameter" "unknown SSO domain parameter" sso mod EXLB bogus=1
refuse "a VS parameter" "Schedule: not a SSO domain parameter" sso mod EXLB Schedule=rr
refuse "deleting a domain that is not there" "no SSO domain named" sso del NOPE
ctl sso mod EXLB logon_fmt=Principalname logon_domain=exlb.test timeout=3 >/dev/null 2>&1 &&
	ctl -j sso show EXLB | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(not (j["logon_fmt"]=="Principalname" and j["timeout"]==3))'
report $? "sso mod changes logon_fmt and timeout"
ctl sso add Second server=127.0.0.1 >/dev/null 2>&1
ctl -j sso list | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(not ([d["name"] for d in j]==["EXLB","Second"] and j[1]["adminpass"] is False))'
report $? "sso list: both domains, in order; Second has no adminpass"

# durable
kill "$daemon_pid" && wait "$daemon_pid"
daemon_pid=
start_daemon
ctl -j sso show EXLB | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(not (j["timeout"]==3 and j["adminpass"] is True and j["max_failed_auths"]==5))'
report $? "after a restart EXLB is as it was, its adminpass kept"
ctl sso del Second >/dev/null 2>&1 && ! ctl sso show Second >/dev/null 2>&1
report $? "sso del Second: gone"

tap_end
