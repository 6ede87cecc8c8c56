#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# exlbd at its descriptor limit, and its control socket held by idle clients
# (issue 17, items 2 and 4). A client, the load balancer and one nginx real
# server, each in its own network namespace, nothing routed anywhere else:
#
#   client                  lb (exlbd --no-kernel, RLIMIT_NOFILE 1024)   rs (nginx,
#   fd-cl 198.18.50.2 ----- fd-lb 198.18.50.1                             lib/exchange-rs.sh)
#                                 VIP 198.18.50.10:80 (VStype http)
#                           fd-br 198.18.51.1 (bridge) ------------------ fd-rs 198.18.51.11:80
#
# The VS has one RS with an HTTP health check (RetryInterval 9, RetryCount 2:
# a check that cannot get a socket would take the RS down within ~20 s).
#
# 1. The descriptor limit: the client opens 1,500 idle connections to the
#    VIP and holds them, more than exlbd's 1,024 descriptors. Measured while
#    they are held: exlbd's CPU seconds over 5 s (/proc/PID/stat), the growth
#    of its log over the same 5 s, that `exlbctl status` answers, that the
#    health check still reaches the RS (twice, enough for a "down") and the
#    RS never goes down, and the proxy's figures in `stats -j`. After the
#    client lets go, the VS serves again.
# 2. The control socket: 70 idle clients (more than its 64 slots); `exlbctl
#    status` still answers; every idle client is closed by exlbd, those that
#    kept a slot only after the 30 s idle timeout.
#
# Environment: EXLBD, EXLBCTL (default ../build/exlbd, ../build/exlbctl),
# PYTHON, KEEP=1 (keep the temp dir). Needs root, iproute2, nginx(-light),
# curl, openssl, python3, jq, prlimit. Exit 4 = skipped (only when one of
# those is missing or the binaries are not built). TAP; exits 0 only if all
# passed. Takes about 80 s.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx curl openssl jq prlimit timeout; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)}
[ -n "$PYTHON" ] || skip "python3 not installed"

EXLBD=$(realpath "${EXLBD:-$here/../build/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"

readonly CL_IP=198.18.50.2 LB_IP=198.18.50.1 VIP=198.18.50.10
readonly LB_RS_IP=198.18.51.1 RS=198.18.51.11
readonly FD_LIMIT=1024 CLIENTS=1500 HOLD_S=40
readonly CTL_CLIENTS=70 CTL_SLOTS=64 CTL_IDLE_S=30
readonly CPU_WINDOW_S=5 CPU_MAX=1.0 LOG_MAX=4096

T=$(mktemp -d /tmp/exlb-fdlimit.XXXXXX)
chmod 755 "$T"
export EXRS_DIR=$T/rs EXRS_BIG_MB=0
NS_CL=exlb-fd-cl-$$
NS_LB=exlb-fd-lb-$$
NS_RS=exlb-fd-rs-$$
SOCK=$T/exlbd.sock
LOG=$T/exlbd.log
DAEMON_PID=
BG_PIDS=()

# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"

cleanup() {
	local p ns
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	exlbd_kill
	exrs_cleanup 2>/dev/null
	for ns in "$NS_CL" "$NS_LB" "$NS_RS"; do ip netns del "$ns" 2>/dev/null; done
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

in_cl() { ip netns exec "$NS_CL" "$@"; }
in_lb() { ip netns exec "$NS_LB" "$@"; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }	# a <= b (decimals)

# exlbd's processes: the daemon and, with --worker-user, its L7 worker
# process (exlbd --worker, docs/privsep.md), which then holds the connections
exlbd_pids() { echo "$DAEMON_PID" $(pgrep -P "$DAEMON_PID" -f -- '--worker$'); }
# exlbd's CPU time so far in seconds (utime + stime of all its threads)
cpu_s() {
	local p
	for p in $(exlbd_pids); do cat "/proc/$p/stat" 2>/dev/null; done |
		awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); t += $12 + $13 }
			END { printf "%.2f", t / hz }'
}
nr_fds() {
	local p
	for p in $(exlbd_pids); do ls "/proc/$p/fd" 2>/dev/null; done | wc -l
}
log_size() { stat -c %s "$LOG"; }
rs_health() { ctl -j status 2>/dev/null | jq -r '.vs[0].rs[0].health' 2>/dev/null; }
rs_up() { [ "$(rs_health)" = up ]; }
downs() { grep -c "rs $RS:80 .* down" "$LOG"; }
checks() { grep -c 'status=200' "$(exrs_health_log rs)" 2>/dev/null || echo 0; }

# ---- helpers in python: many idle TCP clients, many idle control clients

cat > "$T/hold.py" <<'EOF'
import json, os, resource, select, socket, sys, time

def tcp(host, port, count, hold, ready):
    """Opens count idle connections, holds them hold seconds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256), hard))
    socks, failed = [], 0
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((host, int(port)))
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    open(ready, "w").write("%d %d\n" % (len(socks), failed))
    time.sleep(hold)
    for s in socks:
        s.close()

def unix(path, count, wait, ready):
    """Opens count idle control clients; reports when exlbd closed each."""
    socks, deadline = [], time.monotonic() + 10
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        while True:	# a full backlog answers EAGAIN: retry, bounded
            try:
                s.connect(path)
                socks.append(s)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    s.close()
                    break
                time.sleep(0.02)
    t0 = time.monotonic()
    open(ready, "w").write("%d\n" % len(socks))
    closed = {}
    p = select.poll()
    for i, s in enumerate(socks):
        p.register(s.fileno(), select.POLLIN)
    fdmap = {s.fileno(): i for i, s in enumerate(socks)}
    while len(closed) < len(socks) and time.monotonic() - t0 < wait:
        for fd, ev in p.poll(200):
            i = fdmap[fd]
            try:
                data = socks[i].recv(4096)
            except OSError:
                data = b""
            if not data:
                closed[i] = round(time.monotonic() - t0, 1)
                p.unregister(fd)
    print(json.dumps({"opened": len(socks), "closed": sorted(closed.values())}))

if sys.argv[1] == "tcp":
    tcp(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
else:
    unix(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
EOF

echo "TAP version 13"

# ---- the network: three namespaces, nothing routed out

for ns in "$NS_CL" "$NS_LB" "$NS_RS"; do
	ip netns add "$ns" || skip "cannot create network namespaces"
	ip -n "$ns" link set lo up
done
ip -n "$NS_CL" link add fd-cl type veth peer name fd-lb netns "$NS_LB"
ip -n "$NS_CL" addr add $CL_IP/24 dev fd-cl
ip -n "$NS_CL" link set fd-cl up
ip -n "$NS_LB" addr add $LB_IP/24 dev fd-lb
ip -n "$NS_LB" addr add $VIP/32 dev fd-lb
ip -n "$NS_LB" link set fd-lb up
ip -n "$NS_LB" link add fd-br type bridge
ip -n "$NS_LB" addr add $LB_RS_IP/24 dev fd-br
ip -n "$NS_LB" link set fd-br up
ip -n "$NS_RS" link add fd-rs type veth peer name fd-p1 netns "$NS_LB"
ip -n "$NS_LB" link set fd-p1 master fd-br up
ip -n "$NS_RS" addr add $RS/24 dev fd-rs
ip -n "$NS_RS" link set fd-rs up
bad=
for ns in "$NS_CL" "$NS_LB" "$NS_RS"; do
	r=$(ip -n "$ns" -4 route show table all; ip -n "$ns" -6 route show table all)
	grep -q '^default' <<<"$r" && bad+=" $ns"
	grep -v '^$' <<<"$r" | grep -qv ' dev \(fd-[a-z0-9]*\|lo\)\b' && bad+=" $ns"
done
report "$([ -z "$bad" ]; echo $?)" "three namespaces, no default route, only their own links${bad:+ (not:$bad)}"

exrs_setup rs "$NS_RS" $RS
report $? "nginx real server rs ($RS:80)"

# ---- exlbd with 1,024 descriptors

diag "exlbd behind prlimit --nofile=$FD_LIMIT"
EXLBD_WRAP=(prlimit "--nofile=$FD_LIMIT:$FD_LIMIT" --)
exlbd_start --health-checks "exlbd runs in the LB namespace" --access-log "$T/access.log" --workers 2
lim=$(awk '/open files/ { print $4 }' /proc/$DAEMON_PID/limits 2>/dev/null)
report "$([ "$lim" = $FD_LIMIT ]; echo $?)" "its RLIMIT_NOFILE is $lim"

cfg vs add $VIP 80 tcp nickname=Web VStype=http CheckType=http CheckUrl=/owa/healthcheck.htm \
	CheckUseGet=1 RetryInterval=9 Timeout=4 RetryCount=2
cfg rs add Web $RS port=80
report "${cfg_bad:-0}" "configured: VS Web $VIP:80 (http, HTTP health check every 9 s, 2 failures = down), RS $RS:80"

wait_for 15 rs_up
report $? "the RS is up after $WAITED s (health $(rs_health))"
code=$(in_cl curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://$VIP/owa/")
report "$([ "$code" = 200 ]; echo $?)" "a request through the VIP is answered (status $code)"

# ---- 1. 1,500 idle connections against 1,024 descriptors

downs0=$(downs)
# (ip netns exec directly, not in_cl: $! must be python itself)
ip netns exec "$NS_CL" "$PYTHON" "$T/hold.py" tcp $VIP 80 $CLIENTS $HOLD_S "$T/tcp.ready" &
BG_PIDS+=($!)
HOLD_PID=$!
wait_for 30 test -s "$T/tcp.ready"
report $? "the client opened its connections after $WAITED s (connected, failed: $(cat "$T/tcp.ready" 2>/dev/null))"
t_storm=$(now)
checks0=$(checks)

full() { [ "$(nr_fds)" -ge $((FD_LIMIT * 3 / 4)) ]; }
wait_for 10 full
report $? "exlbd holds $(nr_fds) descriptors after $WAITED s (at least $((FD_LIMIT * 3 / 4)): it is at its limit)"

cpu0=$(cpu_s); log0=$(log_size)
sleep $CPU_WINDOW_S
cpu1=$(cpu_s); log1=$(log_size)
cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
report "$(le "$cpu" $CPU_MAX; echo $?)" "at the limit exlbd used $cpu CPU seconds in $CPU_WINDOW_S s (at most $CPU_MAX)"
grow=$((log1 - log0))
report "$([ $grow -le $LOG_MAX ]; echo $?)" "its log grew by $grow bytes in those $CPU_WINDOW_S s (at most $LOG_MAX)"
short=$(grep -c 'out of file descriptors' "$LOG")
lines=$(wc -l < "$LOG")
report "$([ "$short" -ge 1 ] && [ "$short" -le 3 ]; echo $?)" "the shortage is logged, rate-limited: $short lines so far ($lines lines in all)"
bad=$(grep -v '^exlbd: ' "$LOG" | head -n 3 | cut -c1-100)
report "$([ -z "$bad" ]; echo $?)" "every log line starts with 'exlbd: ' (none interleaved)${bad:+: $bad}"

t0=$(now)
timeout 5 "$EXLBCTL" -s "$SOCK" status >"$T/status.out" 2>&1
rc=$?
report $rc "exlbctl status answers at the limit (rc $rc in $(since "$t0") s: $(head -c 120 "$T/status.out" | tr '\n' ' '))"

two_checks() { [ "$(checks)" -ge $((checks0 + 2)) ]; }
wait_for 25 two_checks
report $? "health checks reach the RS at the limit: $(( $(checks) - checks0 )) answered 200 in $(since "$t_storm") s (want 2: enough for a down)"
d=$(( $(downs) - downs0 ))
report "$([ $d = 0 ] && rs_up; echo $?)" "the RS never went down at the limit ($d down lines; health $(rs_health))"

st=$(ctl -j stats 2>/dev/null)
lim=$(jq -r '.proxy.fd_limit' <<<"$st" 2>/dev/null)
res=$(jq -r '.proxy.fd_reserve' <<<"$st" 2>/dev/null)
ref=$(jq -r '.proxy.conns_refused' <<<"$st" 2>/dev/null)
pau=$(jq -r '.proxy.accept_pauses' <<<"$st" 2>/dev/null)
[ "$lim" = $FD_LIMIT ] && [ "${res:-0}" -gt 64 ] 2>/dev/null && [ "${pau:-0}" -ge 1 ] 2>/dev/null
report $? "stats -j: fd_limit $lim, fd_reserve $res, conns_refused $ref, accept_pauses $pau"
ctl stats 2>/dev/null | grep -q "^L7 proxy: descriptor limit $FD_LIMIT, $res kept"
report $? "stats prints the L7 proxy line: $(ctl stats 2>/dev/null | grep '^L7 proxy')"

kill "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null
serves() { [ "$(in_cl curl -s -o /dev/null --max-time 3 -w '%{http_code}' "http://$VIP/owa/")" = 200 ]; }
wait_for 15 serves
report $? "once the client let go the VIP answers again after $WAITED s"
released() { [ "$(nr_fds)" -lt 100 ]; }
wait_for 15 released
report $? "exlbd holds $(nr_fds) descriptors again after $WAITED s"

# ---- 2. idle clients on the control socket

"$PYTHON" "$T/hold.py" unix "$SOCK" $CTL_CLIENTS $((CTL_IDLE_S + 15)) "$T/unix.ready" >"$T/unix.out" &
BG_PIDS+=($!)
UNIX_PID=$!
wait_for 15 test -s "$T/unix.ready"
opened=$(cat "$T/unix.ready" 2>/dev/null)
report "$([ "$opened" = $CTL_CLIENTS ]; echo $?)" "${opened:-0} of $CTL_CLIENTS idle clients connected to the control socket ($CTL_SLOTS slots)"
t0=$(now)
timeout 5 "$EXLBCTL" -s "$SOCK" status >"$T/status.out" 2>&1
rc=$?
report $rc "exlbctl status answers while they hold the socket (rc $rc in $(since "$t0") s: $(head -c 120 "$T/status.out" | tr '\n' ' '))"
wait "$UNIX_PID"
out=$(cat "$T/unix.out")
closed=$(jq '.closed | length' <<<"$out" 2>/dev/null || echo 0)
early=$(jq '[.closed[] | select(. < 5)] | length' <<<"$out" 2>/dev/null || echo 0)
late=$(jq "[.closed[] | select(. >= $CTL_IDLE_S - 2)] | length" <<<"$out" 2>/dev/null || echo 0)
last=$(jq '.closed | max' <<<"$out" 2>/dev/null)
report "$([ "$closed" = $CTL_CLIENTS ]; echo $?)" "exlbd closed all $closed of $CTL_CLIENTS idle clients (the last after $last s)"
# the ones beyond the slots and the one exlbctl needed went at once; the
# others only when idle for the timeout
report "$([ "$early" -ge $((CTL_CLIENTS - CTL_SLOTS)) ] && [ "$late" -ge $((CTL_SLOTS - 2)) ] &&
	[ $((early + late)) = "$closed" ]; echo $?)" \
	"$early closed at once to make room, $late after the ${CTL_IDLE_S} s idle timeout (closing times: $(jq -c .closed <<<"$out" 2>/dev/null | cut -c1-80)...)"

kill -0 "$DAEMON_PID" 2>/dev/null
report $? "exlbd still runs"
diag "exlbd log: $(wc -l < "$LOG") lines, $(log_size) bytes"

tap_end
