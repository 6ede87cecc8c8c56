#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# exlbctl -> exlbd -> exlb.ko end to end, in the topology of lib.sh:
# exlbd runs in the LB namespace and programs the module over netlink, two
# real servers run a forking echo server each (the listener is the "server
# process": killing it stops new connections while the connections it
# already handed to its children stay open), the client namespace holds
# connections and runs bounded load loops.
#
#   a  vs/rs added with exlbctl, CheckType=tcp -> the kernel has the service
#      under the configuration's id, both RSs come up, traffic is balanced
#   b  the server process of rs1 is killed -> exlbd marks rs1 down within
#      RetryInterval x RetryCount + Timeout (+ slack; the detection time is
#      printed), droponfail resets the client's open connection to rs1,
#      new connections all go to rs2
#   c  kill -9 exlbd during a bounded load loop -> zero failed connections
#      (the count is printed), the kernel's tables are unchanged
#   d  exlbd restarted -> it reconciles without changing anything (same
#      ids, reals and flags: rs1 stays down), a connection held across the
#      kill and the restart still echoes, status shows the kernel counters
#   e  Persist=src on the VS -> status and /metrics-to-be (ctl's status)
#      show exlb.ko's persistence record count, the kernel's own figure
#
# KTAP on stdout, last line "N passed, N failed[, N skipped]". Exit 0 all
# passed, 1 a failure, 4 skipped (not root, exlbd/exlbctl/exlbadm not
# built, exlb not loaded). EXLBD, EXLBCTL, EXLBADM name the binaries.

SELF=$(readlink -f "${BASH_SOURCE[0]}")
EXLB_SFX=${EXLB_SFX:-e2e$$}
# shellcheck disable=SC2034 # read by fail() in lib.sh
EXLB_CHAINED=1
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"
EXLBD=${EXLBD:-$REPO/userspace/build/exlbd}
EXLBCTL=${EXLBCTL:-$REPO/userspace/build/exlbctl}

TESTS=(kernel_programmed rs_down_droponfail kill9_under_load restart_no_flush persist_records)

echo "TAP version 13"
echo "1..${#TESTS[@]}"

need_root
need_built "$EXLBD" "$EXLBCTL" "$EXLBADM" "$PYTHON"
need_tools ip jq setsid timeout
need_exlb
suite_ready "${TESTS[@]}"

# ------------------------------------------------------------------ setup
T=$(mktemp -d /tmp/exlbd-e2e.XXXXXX)
STATE=$T/state
SOCK=$T/run/exlbd.sock
DAEMON_PID=
HOLD_PID=
SRV_PIDS=()
VS=$VIP4:80

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local p
	[[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null
	[[ -n $HOLD_PID ]] && kill "$HOLD_PID" 2>/dev/null
	# each server is its own process group: the listener and its children
	for p in "${SRV_PIDS[@]}"; do kill -- "-$p" 2>/dev/null; done
	wait 2>/dev/null
	[[ -n ${EXLB_KEEP:-} ]] || topo_cleanup
	[[ -n ${EXLB_KEEP:-} ]] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
# ms_between T0 T1 (seconds with fractions) -> integer milliseconds
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

ctl() { "$EXLBCTL" -s "$SOCK" "$@"; }

# Sequential short connections (connect, greeting, one echo, close), at
# most COUNT, spread over SECONDS when PACE=1, stopped after 2 x SECONDS.
LOAD_PY='
import json, socket, sys, time
host, port, count, secs, pace = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "1"
res = {"ok": 0, "fail": 0, "counts": {}, "errors": {}}
t0 = time.monotonic()
for i in range(count):
    if time.monotonic() - t0 > 2 * secs:
        break
    if pace:
        d = t0 + i * secs / count - time.monotonic()
        if d > 0:
            time.sleep(d)
    try:
        s = socket.create_connection((host, port), timeout=3)
        f = s.makefile("rb")
        name = f.readline().split()[0].decode()
        s.sendall(b"x\n")
        if f.readline() != b"x\n":
            raise OSError("bad echo")
        s.close()
        res["ok"] += 1
        res["counts"][name] = res["counts"].get(name, 0) + 1
    except Exception as e:
        res["fail"] += 1
        k = type(e).__name__
        res["errors"][k] = res["errors"].get(k, 0) + 1
res["secs"] = round(time.monotonic() - t0, 2)
print(json.dumps(res))
'

# Holds N connections; every 0.3 s each sends a line and waits for the echo.
# Prints "conn I NAME", then "event I reset|eof|timeout|ERR EPOCH" once per
# connection that ends, and keeps "I ECHOES" counts in FILE.echoes. Bounded
# to 600 s.
HOLD_PY='
import os, socket, sys, time
host, port, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conns = []
for i in range(n):
    s = socket.create_connection((host, port), timeout=3)
    f = s.makefile("rb")
    name = f.readline().split()[0].decode()
    conns.append([s, f, True, 0])
    print("conn %d %s" % (i, name), flush=True)
end = time.monotonic() + 600
while time.monotonic() < end:
    for i, c in enumerate(conns):
        if not c[2]:
            continue
        try:
            c[0].sendall(b"ping\n")
            line = c[1].readline()
            if not line:
                raise EOFError()
            c[3] += 1
        except Exception as e:
            kind = {"ConnectionResetError": "reset", "BrokenPipeError": "reset",
                    "EOFError": "eof", "timeout": "timeout",
                    "TimeoutError": "timeout"}.get(type(e).__name__, type(e).__name__)
            print("event %d %s %.3f" % (i, kind, time.time()), flush=True)
            c[2] = False
    with open(out + ".tmp", "w") as f:
        f.write(" ".join(str(c[3]) for c in conns) + "\n")
    os.replace(out + ".tmp", out)
    time.sleep(0.3)
'

server_start() { # I
	local i=$1
	setsid ip netns exec "exlb-rs$i-$EXLB_SFX" "$PYTHON" -c "$ECHO_SERVER_PY" "rs$i" "$RS_PORT" \
		>"$T/server$i.log" 2>&1 </dev/null &
	SRV_PIDS[i]=$!
	local end=$((SECONDS + 30))
	until grep -q listening "$T/server$i.log" 2>/dev/null; do
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

load() { # COUNT SECONDS PACE -> JSON on stdout
	nsx "$NS_CL" timeout 120 "$PYTHON" -c "$LOAD_PY" "$VIP4" 80 "$@"
}

daemon_start() { # LOGFILE
	ip netns exec "$NS_LB" "$EXLBD" --state-dir "$STATE" --socket "$SOCK" \
		2>>"$1" </dev/null &
	DAEMON_PID=$!
	local end=$((SECONDS + 30))
	until ctl get droponfail >/dev/null 2>&1; do
		if ((SECONDS >= end)) || ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			sed 's/^/# exlbd: /' "$1"
			return 1
		fi
		sleep 0.2
	done
}

# The kernel's tables without counters, sorted keys: what a restart must keep.
kernel_tables() {
	{
		adm -j vs show | jq -S -c 'walk(if type == "object" then
			del(.active_conns, .inactive_conns, .stats) else . end)'
		adm -j get | jq -S -c .
	}
}

# rs_health ADDR -> the health exlbctl status shows for that RS
rs_health() {
	ctl -j status | jq -r --arg a "$1" '[.vs[].rs[] | select(.addr == $a) | .health][0]'
}

# ------------------------------------------------------------------- tests

t_kernel_programmed() {
	local id j kid n1 n2 end
	ctl set droponfail 1 || return 1
	ctl set RetryInterval 9 && ctl set Timeout 4 && ctl set RetryCount 2 || return 1
	echo "health timing: RetryInterval 9 s, Timeout 4 s, RetryCount 2 (the model enforces Kemp's minimums)"
	id=$(ctl vs add "$VIP4" 80 tcp nickname=E2E CheckType=tcp Schedule=rr) || return 1
	ctl rs add E2E "${RS4[1]}" port=$RS_PORT || return 1
	ctl rs add E2E "${RS4[2]}" port=$RS_PORT || return 1
	# the kernel has it at once, under the configuration's id
	j=$(adm -j vs show) || return 1
	kid=$(jq -r --arg v "$VIP4" '.[] | select(.vip == $v and .port == 80) | .id' <<<"$j")
	echo "configuration id $id, kernel id $kid"
	[[ $kid == "$id" ]] || { echo "kernel service id '$kid' != VS id '$id'"; return 1; }
	[[ $(jq '.[0].reals | length' <<<"$j") == 2 ]] || { echo "kernel reals: $j"; return 1; }
	[[ $(adm -j get | jq -r .droponfail) == 1 ]] || { echo "droponfail not pushed"; return 1; }
	# both RSs come up within one interval plus a check
	end=$((SECONDS + 40))
	until [[ $(rs_health "${RS4[1]}") == up && $(rs_health "${RS4[2]}") == up ]]; do
		((SECONDS < end)) || { ctl status; adm vs show; return 1; }
		sleep 0.5
	done
	echo "both real servers up after $((SECONDS - end + 40)) s"
	adm vs show
	j=$(load 20 30 0)
	echo "20 connections: $j"
	n1=$(jq -r '.counts.rs1 // 0' <<<"$j")
	n2=$(jq -r '.counts.rs2 // 0' <<<"$j")
	[[ $(jq -r .fail <<<"$j") == 0 ]] || return 1
	# rr: exactly even
	expect_eq "$n1/$n2" "10/10" "rs1/rs2 connections (rr)"
}

t_rs_down_droponfail() {
	local j t_kill t_down ev c_rs1 c_rs2 det_ms status_ms end limit_ms
	# two held connections, one on each RS (rr)
	nsx "$NS_CL" "$PYTHON" -c "$HOLD_PY" "$VIP4" 80 2 "$T/hold.echoes" \
		>"$T/hold.log" 2>&1 </dev/null &
	HOLD_PID=$!
	end=$((SECONDS + 30))
	until [[ $(grep -c '^conn ' "$T/hold.log") == 2 && -s $T/hold.echoes ]]; do
		((SECONDS < end)) || { cat "$T/hold.log"; return 1; }
		sleep 0.2
	done
	c_rs1=$(awk '$1 == "conn" && $3 == "rs1" { print $2 }' "$T/hold.log")
	c_rs2=$(awk '$1 == "conn" && $3 == "rs2" { print $2 }' "$T/hold.log")
	[[ -n $c_rs1 && -n $c_rs2 ]] || { echo "held connections: $(cat "$T/hold.log")"; return 1; }
	echo "held connection $c_rs1 on rs1, $c_rs2 on rs2"

	t_kill=$(now)
	kill -9 "${SRV_PIDS[1]}"
	wait "${SRV_PIDS[1]}" 2>/dev/null
	echo "killed the server process of rs1 (pid ${SRV_PIDS[1]})"
	# RetryInterval x RetryCount + Timeout, + slack for the slow VM
	limit_ms=$(((9 * 2 + 4 + 8) * 1000))
	end=$((SECONDS + limit_ms / 1000 + 10))
	t_down=
	while ((SECONDS < end)); do
		if [[ -z $t_down && $(rs_health "${RS4[1]}") == down ]]; then
			t_down=$(now)
		fi
		ev=$(awk -v c="$c_rs1" '$1 == "event" && $2 == c' "$T/hold.log")
		[[ -n $t_down && -n $ev ]] && break
		sleep 0.5
	done
	[[ -n $t_down ]] || { echo "rs1 never marked down"; ctl status; return 1; }
	status_ms=$(ms_between "$t_kill" "$t_down")
	echo "exlbctl status shows rs1 down $status_ms ms after the kill"
	grep -E "rs ${RS4[1]}:$RS_PORT in VS [^ ]+ \(E2E\) down" "$T/exlbd1.log" | sed 's/^/exlbd log: /'
	[[ -n $ev ]] || { echo "the open connection to rs1 saw nothing"; cat "$T/hold.log"; return 1; }
	read -r _ _ kind t_ev <<<"$ev"
	det_ms=$(ms_between "$t_kill" "$t_ev")
	echo "detection time (kill -> RST on the client's open rs1 connection): $det_ms ms"
	expect_eq "$kind" reset "the client's open connection to rs1 ends with" || return 1
	expect_range "$det_ms" 0 "$limit_ms" "detection time (ms), limit RetryInterval*RetryCount+Timeout+8s" || return 1
	[[ $(adm -j vs show | jq -r --arg a "${RS4[1]}" '.[0].reals[] | select(.addr == $a) | .health') == down ]] ||
		{ echo "rs1 not down in the kernel"; return 1; }
	j=$(load 10 30 0)
	echo "10 new connections: $j"
	expect_eq "$(jq -r '"\(.counts.rs2 // 0)/\(.fail)"' <<<"$j")" "10/0" "new connections on rs2 / failed" || return 1
	! grep -q "^event $c_rs2 " "$T/hold.log" || { echo "the rs2 connection ended"; return 1; }
}

t_kill9_under_load() {
	local before after j fails
	before=$(kernel_tables)
	load 300 10 1 >"$T/load.json" 2>&1 &
	local lpid=$!
	sleep 3
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	echo "killed exlbd (pid $DAEMON_PID) with SIGKILL during the load"
	DAEMON_PID=
	wait "$lpid"
	j=$(<"$T/load.json")
	echo "load: $j"
	fails=$(jq -r .fail <<<"$j")
	echo "kill -9 exlbd under load: $(jq -r '.ok + .fail' <<<"$j") connections, $fails failed"
	after=$(kernel_tables)
	[[ $before == "$after" ]] || { echo "kernel tables changed:"; diff <(echo "$before") <(echo "$after"); return 1; }
	echo "kernel tables unchanged after the kill"
	expect_eq "$fails" 0 "failed connections while exlbd was killed"
}

# rs2_pkts: the packets in of RS 2 as exlbd's status has them (copied from
# the kernel by each reconcile)
rs2_pkts() {
	ctl -j status | jq -r --arg a "${RS4[2]}" '[.vs[].rs[] | select(.addr == $a) | .pkts_in] | add'
}

t_restart_no_flush() {
	local before after e0 e1 j c_rs2 ticks last cur end
	before=$(kernel_tables)
	c_rs2=$(awk '$1 == "conn" && $3 == "rs2" { print $2 }' "$T/hold.log")
	daemon_start "$T/exlbd2.log" || return 1
	# Positive evidence before asserting that nothing changed: the start-up
	# reconcile runs before the control socket exists (daemon_start waited
	# for it), and each 2 s tick copies the kernel's counters into the
	# status: two changes of the held rs2 connection's pkts_in (it echoes
	# every 0.3 s) are two reconciles that ran.
	ticks=0 last=$(rs2_pkts) end=$((SECONDS + 20))
	while ((ticks < 2 && SECONDS < end)); do
		sleep 0.3
		cur=$(rs2_pkts)
		[[ $cur != "$last" ]] && ticks=$((ticks + 1)) last=$cur
	done
	echo "reconcile ticks seen after the restart: $ticks (rs2 pkts_in $last)"
	((ticks >= 2)) || { echo "no two reconcile ticks in 20 s"; return 1; }
	after=$(kernel_tables)
	[[ $before == "$after" ]] || { echo "restart changed the kernel:"; diff <(echo "$before") <(echo "$after"); return 1; }
	echo "kernel tables unchanged after the restart (rs1 still down, same ids)"
	if grep -E "kernel: .*(added|deleted|updated)" "$T/exlbd2.log"; then
		echo "the restarted exlbd changed the kernel"
		return 1
	fi
	e0=$(awk -v c="$c_rs2" '{ print $(c + 1) }' "$T/hold.echoes")
	sleep 1.5
	e1=$(awk -v c="$c_rs2" '{ print $(c + 1) }' "$T/hold.echoes")
	echo "the rs2 connection held since test b: $e0 -> $e1 echoes"
	! grep -q "^event $c_rs2 " "$T/hold.log" || { echo "it ended: $(cat "$T/hold.log")"; return 1; }
	((e1 > e0)) || { echo "it does not echo any more"; return 1; }
	j=$(ctl -j status)
	echo "status: kernel $(jq -c .kernel <<<"$j"), rs2 $(jq -c --arg a "${RS4[2]}" '.vs[].rs[] | select(.addr == $a) | {health, conns, active}' <<<"$j")"
	[[ $(jq -r .kernel.available <<<"$j") == true ]] || return 1
	(($(jq -r --arg a "${RS4[2]}" '.vs[].rs[] | select(.addr == $a) | .conns' <<<"$j") > 0)) ||
		{ echo "no kernel counters in status"; return 1; }
	expect_eq "$(rs_health "${RS4[1]}")" down "rs1 after the restart"
}

# status's persistence records of the VS on port 80 (null: none shown)
status_persist() {
	ctl -j status | jq -r --arg v "$VIP4" '[.vs[] | select(.vip == $v and .port == 80) | .persist_records][0]'
}

kernel_persist() {
	adm -j vs show | jq -r --arg v "$VIP4" '[.[] | select(.vip == $v and .port == 80) | .persist_records][0]'
}

persist_shown() {
	local k
	k=$(kernel_persist)
	[[ $k =~ ^[1-9][0-9]*$ && $(status_persist) == "$k" ]]
}

t_persist_records() {
	local j
	expect_eq "$(status_persist)" null "status's persistence records without Persist" || return 1
	ctl vs mod E2E Persist=src PersistTimeout=600 || return 1
	j=$(load 5 3 0)
	echo "5 connections with Persist=src: $j"
	[[ $(jq -r .fail <<<"$j") == 0 ]] || return 1
	# one client address: one record, in exlb.ko and (after a tick) in status
	wait_for 10 persist_shown ||
		{ echo "status $(status_persist), kernel $(kernel_persist)"; return 1; }
	echo "status shows exlb.ko's $(kernel_persist) persistence record(s)"
	expect_eq "$(kernel_persist)" 1 "records for one client address"
}

# -------------------------------------------------------------------- run
setup_err=
if ! topo_setup >"$T/topo.log" 2>&1; then
	setup_err="topology setup failed"
	sed 's/^/# /' "$T/topo.log"
elif ! server_start 1 || ! server_start 2; then
	setup_err="the real servers did not start"
	sed 's/^/# /' "$T"/server*.log
elif ! daemon_start "$T/exlbd1.log"; then
	setup_err="exlbd did not start"
fi
if [[ -n $setup_err ]]; then
	for t in "${TESTS[@]}"; do ktap_result fail "$t" "$setup_err"; done
	ktap_end
	exit 1
fi
echo "# namespaces: $ALL_NS; exlbd: $EXLBD; state: $STATE"

for t in "${TESTS[@]}"; do
	run_chained "$t"
done
if ((FAIL)); then
	for f in "$T"/exlbd*.log; do sed "s|^|# ${f##*/}: |" "$f"; done
fi
ktap_end
((FAIL == 0)) || exit 1
exit 0
