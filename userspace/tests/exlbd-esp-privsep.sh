#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Privilege separation, stage 3 (docs/privsep.md): ESP logons with
# exlbd --worker-user exlb. The sandboxed L7 worker forwards each Basic
# logon to the directory process (exlbd --directory, its own filter),
# which asks the real slapd of lib/slapd.sh and keeps the failed-logon
# limit. End to end:
#   - the directory process's /proc/PID/status: Uid/Gid of exlb, no
#     capabilities, NoNewPrivs 1, Seccomp 2, a child of the manager;
#   - the service account's password is in the directory process's memory
#     and nowhere in the worker's (read from /proc/PID/mem as root);
#   - Basic logons through the worker: right password 200, wrong 401, over
#     plain LDAP to a server by name after one whose name does not
#     resolve, both asked of a DNS server (dnsd.py on rs2: the resolver
#     in the sandbox) and over LDAPS with the test CA
#     (libldap's TLS, the CA file read in the sandbox);
#   - the failed-logon limit (3) blocks the 4th attempt without asking
#     slapd, and still after the worker was killed and replaced: the count
#     is the directory process's;
#   - the directory process killed (SIGKILL): the manager logs it, status
#     counts it, a new one (same checks) makes logons work again; the test
#     hook (SIGUSR2: a forbidden system call) kills it by SIGSYS;
#   - a clean stop: no sanitizer report, both processes gone.
#
# The network is lib/lbnet.sh's (lib/esp-env.sh with ESP_PRIVSEP: lib/privsep.sh):
#   client 198.18.94.2 ---- lb (exlbd --no-kernel --worker-user exlb)
#                             VIP 198.18.94.10:80 "Ldap" (EXLB), :81 "Ldaps" (EXLBS)
#              dp-br 198.18.95.1 ---- rs1 198.18.95.11 nginx
#                                ---- rs2 198.18.95.12 slapd
#
# Environment: EXLBD (default ../build/asan/exlbd: it must have the test
# hooks), EXLBCTL, KEEP=1 keeps the temp dir. Needs root, iproute2, unshare,
# nginx, slapd, curl, python3, openssl, jq. TAP, the plan last; exits 0
# only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

ESP_TOOLS=(ip nginx curl python3 openssl ldapsearch ldapwhoami jq unshare)
ESP_PRIVSEP=1
# the directory's names come from dnsd.py on rs2 (exlbd's mount namespace only)
PRIVSEP_RESOLV=$'nameserver 198.18.95.12\noptions timeout:1 attempts:1'

# shellcheck source=lib/esp-env.sh
source "$here/lib/esp-env.sh"
esp_setup dp 198.18.94 espdp 256 --workers 2
exrs_setup rs1 "$NS_RS1" $RS1
report $? "nginx as real server rs1 ($RS1)"
ip netns exec "$NS_RS2" python3 "$here/dnsd.py" "$RS2" 53 "ldap.exlb.test=$RS2" >"$T/dns.log" 2>&1 &
rs_pid=$!	# esp_cleanup stops it

# EXLB: plain LDAP, a name that does not resolve first (NXDOMAIN), then one that does
slapd_sso_args "$RS2" $P_LDAP "$T/adminpass"
SSO_ARGS[0]="server=nohost.exlb.test:$P_LDAP ldap.exlb.test:$P_LDAP"
cfg sso add EXLB "${SSO_ARGS[@]}" max_failed_auths=3 reset_fail_tout=600 unblock_tout=600
# EXLBS: ldaps:// with the test CA
SSO_ARGS[0]="server=$RS2:$P_LDAPS"
SSO_ARGS[1]=auth_type=LDAP-LDAPS
cfg sso add EXLBS "${SSO_ARGS[@]}" ldap_ca="$tmp/exlb-test-ca.pem"
esp=(EspEnabled=1 InputAuthMode=1 ESPLogs=3 AllowedHosts=mail.example.com "AllowedDirectories=/*")
cfg vs add $VIP 80 tcp nickname=Ldap VStype=http CheckType=none "${esp[@]}" Domain=EXLB
cfg rs add Ldap $RS1 port=80
cfg vs add $VIP 81 tcp nickname=Ldaps VStype=http CheckType=none "${esp[@]}" Domain=EXLBS
cfg rs add Ldaps $RS1 port=80
report "${cfg_bad:-0}" "configured in worker mode: SSO domains EXLB (LDAP, max_failed_auths=3) and EXLBS (LDAPS), VSs Ldap and Ldaps (InputAuthMode=1)"

# ---- the processes (lib/privsep.sh's checks, as exlbd-privsep.sh's of the worker)

wait_for 10 privsep_up directory_process && wait_for 10 privsep_up worker_process
report $? "the worker and the directory process run (after $WAITED s)"
D1=$(privsep_pid directory_process)
W1=$(privsep_pid worker_process)
privsep_check "$D1" "directory process $D1"
# its directory threads (4) started after the filter: they inherit it
[ "$(privsep_st "$D1" Threads)" -ge 5 ] &&
	grep -q "exlbd: directory\[$D1\]: directory: sandboxed as exlb" "$T/exlbd.log"
report $? "directory process: $(privsep_st "$D1" Threads) threads (main + 4 exlbd-ldap), logged 'sandboxed as exlb'"

# in_mem PID STRING: whether STRING is in PID's readable memory (root reads
# /proc/PID/mem; ASan's huge shadow mappings skipped)
in_mem() {
	python3 - "$1" "$2" <<'PY'
import re, sys
pid, needle = sys.argv[1], sys.argv[2].encode()
found = False
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        lo, hi, perm = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        if perm[0] != "r" or hi - lo > 1 << 30:
            continue
        try:
            mem.seek(lo)
            if needle in mem.read(hi - lo):
                found = True
                break
        except OSError:
            pass
sys.exit(0 if found else 1)
PY
}
# one logon first (not one cached later): the worker has forwarded a request
in_cl curl -s -o /dev/null --max-time 20 -H 'Host: mail.example.com' -u carol:carol-pw "http://$VIP/owa/warm"
in_mem "$D1" svc-secret
report $? "the service account's password is in the directory process's memory"
! in_mem "$W1" svc-secret
report $? "and nowhere in the worker's memory (pid $W1)"

# ---- logons
n=0
req() {	# req PORT USER:PW PATH: sets code
	n=$((n + 1))
	code=$(in_cl curl -s -o /dev/null -w '%{http_code}' --max-time 20 \
		-H 'Host: mail.example.com' -u "$2" "http://$VIP:$1$3-$n-$$")
}

b0=$(slapd_binds)
req 80 alice:alice-pw /owa/
[ "$code" = 200 ] && [ "$(slapd_binds)" -gt "$b0" ]
report $? "LDAP (server by name, after one that does not resolve): alice with her password: $code, slapd asked ($(( $(slapd_binds) - b0 )) binds)"
grep -q '^nohost.exlb.test 1$' "$T/dns.log" && grep -q '^ldap.exlb.test 1$' "$T/dns.log"
report $? "the directory process's resolver asked dnsd.py: $(sort -u "$T/dns.log" | tr '\n' ' ')"
req 80 dave:wrong-pw /owa/
[ "$code" = 401 ]
report $? "LDAP: dave with a wrong password: $code"
b0=$(slapd_binds)
req 81 dave:dave-pw /owa/
[ "$code" = 200 ] && [ "$(slapd_binds)" -gt "$b0" ]
report $? "LDAPS (the test CA read in the sandbox): dave with his password: $code"
req 81 alice:wrong-pw /owa/
[ "$code" = 401 ]
report $? "LDAPS: alice with a wrong password: $code"
grep -q "esp: VS Ldap: logon 'alice' from $CL_IP: ok" "$T/exlbd.log" &&
	grep -q "esp: VS Ldaps: logon 'alice' from $CL_IP refused: bad credentials" "$T/exlbd.log"
report $? "the worker logs the directory process's verdicts ($(grep -m1 "VS Ldaps: logon 'alice'" "$T/exlbd.log" | cut -c1-150))"

# ---- the failed-logon limit, counted in the directory process
mallory() { req 80 "mallory:$1" /owa/; }
esp_limit_check mallory 401 \
	"logon 'mallory' from $CL_IP refused: blocked (failed logon limit): mallory@exlb.test: blocked after 3 failed logons"
kill -KILL "$W1"
wait_for 10 privsep_up worker_process "$W1"
report $? "the worker killed: a new one ($W1 -> $(privsep_pid worker_process))"
b5=$(slapd_binds)
req 80 mallory:guess5 /owa/
[ "$code" = 401 ] && [ "$(slapd_binds)" = "$b5" ] &&
	[ "$(grep -c "logon 'mallory' from $CL_IP refused: blocked" "$T/exlbd.log")" -ge 2 ]
report $? "the new worker's logon of mallory is still blocked ($code, no bind): the count is the directory process's"
req 80 alice:alice-pw /owa/
[ "$code" = 200 ]
report $? "the new worker's channel to the directory process works: alice $code"

# ---- the directory process dies
kill -KILL "$D1"
privsep_restarted directory_process "$D1" "esp: directory process (pid $D1) killed by signal 9 (SIGKILL)" 1 0
D2=$PRIVSEP_NEW
privsep_check "$D2" "new directory process $D2"
b0=$(slapd_binds)
# the worker's verdict cache would pass alice without asking: bob's lock is slapd's verdict
req 80 bob:bob-pw /owa/
[ "$code" = 401 ] && [ "$(slapd_binds)" -gt "$b0" ] &&
	wait_for 5 grep -q "logon 'bob' from $CL_IP refused: account disabled" "$T/exlbd.log"
report $? "logons work again: bob (locked in slapd) $code, slapd asked, 'account disabled'"
req 81 dave:dave-pw /owa/other
[ "$code" = 200 ]
report $? "and dave over LDAPS: $code"

# ---- a compromised directory process: a forbidden system call
[ "${D2:-0}" -gt 1 ] && kill -USR2 "$D2"
report $? "SIGUSR2 to directory process $D2 (test hook: ptrace in the sandbox)"
privsep_restarted directory_process "$D2" \
	"esp: directory process (pid $D2) killed by signal 31 (SIGSYS: a system call outside its filter)" 2 1
req 81 carol:carol-pw /owa/
[ "$code" = 401 ] && wait_for 5 grep -q "logon 'carol' from $CL_IP refused: password expired" "$T/exlbd.log"
report $? "logons after it: carol (expired) $code, 'password expired'"

! grep -E -q 'wrong-pw|alice-pw|dave-pw|guess[0-9]|svc-secret' "$T/exlbd.log" "$ALOG"
report $? "no password in exlbd's log or the access log"
D3=$(privsep_pid directory_process)
W2=$(privsep_pid worker_process)
exlbd_stop_checked
gone() { ! [ -d /proc/"$1" ] || [ "$(privsep_st "$1" State | cut -c1)" = Z ]; }
gone "$D3" && gone "$W2"
report $? "the worker and the directory process ended with the manager"
tap_end
