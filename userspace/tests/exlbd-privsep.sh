#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Privilege separation, stage 2 (docs/privsep.md): exlbd --worker-user exlb
# runs the L7 proxy in a sandboxed worker process. End to end, with real
# nginx servers behind an HTTPS VS:
#   - the worker's /proc/PID/status: Uid/Gid of exlb (all four), CapEff,
#     CapPrm, CapBnd 0, NoNewPrivs 1, Seccomp 2; the manager still root;
#   - HTTPS requests through the worker reach both servers; exlbctl status
#     and stats show the worker's counters; rs disable reaches the worker;
#   - the test hook (SIGUSR2 to the worker, ASan build only: EXLB_TEST_HOOKS)
#     makes it call a forbidden system call while request loops run: the
#     manager logs "killed by signal 31 (SIGSYS...)", status counts it, a
#     new worker (new pid, same checks) serves, and only requests in flight
#     on the killed worker fail (counted and printed); /metrics counts it too;
#   - nothing is refused in worker mode: ReencryptVerify=1 (the worker read
#     the CA file before its sandbox) and an ESP logon configuration (the
#     directory process, stage 3: exlbd-esp-privsep.sh) are accepted.
#
# The network is lib/lbnet.sh's:
#   client 198.18.90.2 ---- lb (exlbd --no-kernel --worker-user exlb)
#                             VIP 198.18.90.10:443 "Web" (TLS offload, rr)
#                     pv-br 198.18.91.1 ---- rs1 198.18.91.11, rs2 .12 (nginx)
# The user exlb exists only in exlbd's private mount namespace: copies of
# /etc/passwd and /etc/group bind-mounted there (the host's user database is
# never touched), as test_sandbox.c and exlbd-admin.sh do.
#
# Environment: EXLBD (default ../build/asan/exlbd: it must have the test
# hooks), EXLBCTL (../build/exlbctl), EXLBD_TLS_RELAY (passed as --tls-relay;
# with ktls, in the VM, the worker's connections must be on kTLS), KEEP=1
# keeps the temp dir. Needs root,
# unshare, iproute2, nginx, curl, jq. TAP, the plan last; exits 0 only if
# all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces, users)"
for tool in ip nginx curl jq unshare; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"

T=$(mktemp -d /tmp/exlb-privsep.XXXXXX)
chmod 755 "$T"
export EXRS_DIR=$T/rs EXRS_BIG_MB=0
SOCK=$T/exlbd.sock
ALOG=$T/access.log
DAEMON_PID=
LOOP_PIDS=()

# shellcheck source=lib/lbnet.sh
source "$here/lib/lbnet.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"
# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"

cleanup() {
	local p
	for p in "${LOOP_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	exlbd_kill
	exrs_cleanup 2>/dev/null
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

echo "TAP version 13"

lbnet_setup pv 198.18.90 || skip "cannot create network namespaces"
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"
exrs_setup rs1 "$NS_RS1" $RS1 && exrs_setup rs2 "$NS_RS2" $RS2
report $? "nginx as real servers rs1 ($RS1) and rs2 ($RS2)"

# ---- exlbd --worker-user exlb, the user exlb (group nogroup) in exlbd's
# mount namespace only (lib/privsep.sh)

# shellcheck source=lib/privsep.sh
source "$here/lib/privsep.sh"
opts=(--access-log "$ALOG" --workers 2)
[ -n "${EXLBD_TLS_RELAY:-}" ] && opts+=("--tls-relay=$EXLBD_TLS_RELAY")
privsep_exlbd_start "exlbd --worker-user exlb runs in the LB namespace" "${opts[@]}" ||
	skip "no free uid or no group nogroup for the user exlb"

cfg vs add $VIP 443 tcp nickname=Web VStype=http SSLAcceleration=1 Schedule=rr CheckType=none
cfg rs add Web $RS1 port=80
cfg rs add Web $RS2 port=80
report "${cfg_bad:-0}" "configured: VS Web $VIP:443 (TLS offload, self-signed, rr), rs1 and rs2"

# ---- the worker process as /proc shows it

# check_worker PID WHAT: the identity and sandbox of the worker process
check_worker() {
	privsep_check "$1" "$2"
	[ "$(privsep_st "$1" Threads)" -ge 3 ]
	report $? "$2: its 2 proxy threads (Threads $(privsep_st "$1" Threads))"
}

wait_for 10 privsep_up worker_process
rc=$?
W1=$(privsep_pid worker_process)
report $rc "the worker process runs (pid $W1, after $WAITED s)"
check_worker "$W1" "worker"
[ "$(privsep_st "$DAEMON_PID" Uid | cut -f1)" = 0 ] && [ "$(privsep_st "$DAEMON_PID" Seccomp)" = 0 ]
report $? "the manager (pid $DAEMON_PID) is still root, no filter (Uid '$(privsep_st "$DAEMON_PID" Uid)', Seccomp $(privsep_st "$DAEMON_PID" Seccomp))"

# ---- HTTPS through the worker

# rs_of N: the X-RS of N requests, each on a new TLS connection
rs_of() {
	local i
	for ((i = 0; i < $1; i++)); do
		in_cl curl -sk -m 10 -o /dev/null -D - "https://$VIP/owa/p$i" |
			tr -d '\r' | awk 'tolower($1) == "x-rs:" { print $2 }'
	done | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }'
}
got=$(rs_of 6)
[ "$got" = "rs1=3 rs2=3 " ]
report $? "6 HTTPS requests through the worker, round robin over both servers ($got)"

stat_conns() { ctl stats -j 2>/dev/null | jq '[.. | objects | select(has("addr") and has("conns")) | .conns] | add // 0'; }
counted() { [ "$(stat_conns)" -ge 6 ]; }
wait_for 5 counted
report $? "exlbctl stats shows the worker's counters: $(stat_conns) connections to the servers (>= 6)"
tls=$(ctl status -j | jq '.proxy.userspace_tls_conns + .proxy.ktls_conns')
nw=$(ctl status -j | jq '.proxy.workers | length')
[ "$tls" -ge 6 ] && [ "$nw" = 2 ]
report $? "exlbctl status: the worker's TLS relays ($tls) and its 2 threads' loop lag ($nw entries)"
if [ "${EXLBD_TLS_RELAY:-}" = ktls ]; then
	# the manager loaded the tls ULP as root; the unprivileged worker installs it
	ktls=$(ctl status -j | jq '.proxy.ktls_conns')
	[ "$ktls" -ge 6 ]
	report $? "--tls-relay ktls: the sandboxed worker put $ktls of $tls TLS connections on kTLS"
fi
line=$(alog_line /owa/p5)
[ -n "$line" ] && [ "$(stat -c %a "$ALOG")" = 640 ]
report $? "the access log (opened by the manager, written by the worker, mode $(stat -c %a "$ALOG")): ${line:0:90}"

cfg rs disable Web $RS1:80
got=$(rs_of 4)
[ "$got" = "rs2=4 " ]
report $? "rs disable rs1 reaches the worker: 4 requests all on rs2 ($got)"
cfg rs enable Web $RS1:80
got=$(rs_of 4)
[ "$got" = "rs1=2 rs2=2 " ]
report $? "rs enable rs1: both again ($got)"

# ---- a compromised worker: a forbidden system call while clients run

LOOPS=4 PER_LOOP=60 LOOP_S=40
# loop N: PER_LOOP requests, each on a new connection, one line each; it
# gives up after LOOP_S seconds (a worker that never comes back)
req_loop() {
	local i code end=$((SECONDS + LOOP_S))
	for ((i = 0; i < PER_LOOP && SECONDS < end; i++)); do
		code=$(in_cl curl -sk -m 5 -o /dev/null -w '%{http_code}' "https://$VIP/owa/loop$1-$i" 2>/dev/null)
		echo "$i $code"
	done >"$T/loop$1"
}
for ((l = 0; l < LOOPS; l++)); do
	req_loop $l &
	LOOP_PIDS+=($!)
done
some_done() { [ "$(cat "$T"/loop* 2>/dev/null | wc -l)" -ge 20 ]; }
wait_for 20 some_done
# never "kill 0" (the whole process group) if no worker was found
[ "${W1:-0}" -gt 1 ] && kill -USR2 "$W1"
report $? "SIGUSR2 to worker $W1 after $(cat "$T"/loop* | wc -l) requests (test hook: ptrace in the sandbox)"
for p in "${LOOP_PIDS[@]}"; do wait "$p"; done
LOOP_PIDS=()

privsep_restarted worker_process "$W1" \
	"L7 worker (pid $W1) killed by signal 31 (SIGSYS: a system call outside its filter)" 1 1
W2=$PRIVSEP_NEW
check_worker "$W2" "new worker"
# and /metrics (docs/admin.md), from the admin listener
cfg cert add admin "$(exrs_cert)" "$(exrs_key)"
cfg set AdminCert admin
cfg set AdminAddress "$LB_IP"
cfg set AdminPort 9443
KEY=$(ctl admin apikey add prom 2>/dev/null)
prom() { in_cl curl -sk -m 10 -H "Authorization: Bearer $KEY" "https://$LB_IP:9443/metrics" | grep '^exlb_proxy_worker_process'; }
want="exlb_proxy_worker_process_up 1,exlb_proxy_worker_process_exits_total 1,exlb_proxy_worker_process_sigsys_total 1"
prom_right() { [ "$(prom | paste -sd,)" = "$want" ]; }
wait_for 10 prom_right
report $? "/metrics: $(prom | paste -sd,)"

total=$(cat "$T"/loop* | wc -l)
failed=$(cat "$T"/loop* | awk '$2 != 200' | wc -l)
diag "failed requests: $(for ((l = 0; l < LOOPS; l++)); do awk -v l=$l '$2 != 200 { printf "loop%s#%s=%s ", l, $1, $2 }' "$T/loop$l"; done)"
[ "$total" = $((LOOPS * PER_LOOP)) ] && [ "$failed" -le $LOOPS ]
report $? "$total requests in $LOOPS sequential loops: $failed failed (at most one in flight per loop on the killed worker: <= $LOOPS)"
after=$(cat "$T"/loop* | awk '$2 == 200' | wc -l)
got=$(rs_of 4)
[ "$got" = "rs1=2 rs2=2 " ]
report $? "after the restart requests are served by the new worker ($got; $after of the loops' answered 200)"

# ---- nothing is refused in worker mode; ESP logons are the directory process's

out=$(ctl vs mod Web SSLReencrypt=1 ReencryptVerify=1 ReverseSNIHostname=rs.example.test 2>&1)
rc=$?
rv=$(ctl vs show Web -j 2>/dev/null | jq -r '.. | objects | select(has("ReencryptVerify")) | .ReencryptVerify' | head -n 1)
[ $rc = 0 ] && [ "$rv" = 1 ]
report $? "ReencryptVerify=1 accepted in worker mode (exit $rc${out:+: ${out:0:110}}); it is $rv"
cfg sso add EXLB server=198.18.91.50:389 auth_type=LDAP-Unencrypted timeout=2
ctl vs mod Web EspEnabled=1 InputAuthMode=1 Domain=EXLB AllowedHosts=mail.example.test >/dev/null 2>&1
rc=$?
D=$(privsep_pid directory_process)
[ $rc = 0 ] && [ "$D" != 0 ] && [ "$(privsep_st "$D" Seccomp)" = 2 ] && [ "$(privsep_st "$D" PPid)" = "$DAEMON_PID" ]
report $? "an ESP logon (InputAuthMode=1, Domain) is accepted in worker mode (exit $rc); the directory process $D serves it (exlbd-esp-privsep.sh tests it)"

report "${cfg_bad:-0}" "every other exlbctl change was accepted"
exlbd_stop_checked
! [ -d /proc/"$W2" ] || [ "$(privsep_st "$W2" State | cut -c1)" = Z ]
report $? "the worker ended with the manager"
tap_end
