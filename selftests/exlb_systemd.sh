#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The exlb package's unit under a real systemd: run by `make vm-check` in a
# second VM boot, `tools/vm/run --systemd`, where systemd is PID 1 and this
# suite is its unit exlb-job.service. Only loopback traffic.
#
#   install     dpkg -i exlb (exlb-dkms is not needed: the runner's exlb.ko
#               is loaded): the postinst enables and starts exlbd.service,
#               systemd reports it active once exlbd said READY=1
#               (Type=notify); the unit's sandbox is in force on the process
#               (NoNewPrivs, the capability bounding set)
#   serve       an HTTP VS on 127.0.0.1:8080 (L7, exlbd) to a python web
#               server on :8081 answers 200, through the unit's sandboxed L7
#               worker process (--worker-user exlb): uid exlb, CapEff 0,
#               NoNewPrivs 1, Seccomp 2, a child of exlbd
#   reload      three `systemctl reload exlbd` (ExecReload= exlbd --takeover)
#               while a client loop runs: each returns 0, the unit's MainPID
#               moves to the new process and the unit stays active, the old
#               process drains and exits, the loop gets answers after each
#               takeover and every request of the loop gets 200,
#               the configuration is kept, one generation is left (exlbd with
#               its worker and directory process)
#   journal     exlbd's lines reach the journal with their priorities (the
#               "<N>" prefixes parsed by journald, not shown in MESSAGE):
#               each takeover's "took over from pid" at notice
#   crash       SIGSEGV to the main process: systemd restarts it
#               (Restart=on-failure), the VS serves again from the state file
#   stop        `systemctl stop`: the unit inactive with Result=success, no
#               exlbd process left
#   purge       dpkg -P exlb: no unit file, no enable symlink, no state
#
# KTAP on stdout, last line "N passed, N failed[, N skipped]". Exit 0 all
# passed, 1 a failure, 4 skipped (PID 1 is not systemd: run it with
# `tools/vm/run --systemd`; no package in build/deb: `make deb`).

SELF=$(readlink -f "${BASH_SOURCE[0]}")
EXLB_SFX=${EXLB_SFX:-sd$$}
# shellcheck disable=SC2034 # read by fail() in lib.sh
EXLB_CHAINED=1
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"
DEB_DIR=${EXLB_DEB_DIR:-$REPO/build/deb}
EXLBCTL=/usr/sbin/exlbctl
UNIT=exlbd.service
VS=127.0.0.1:8080
RS_PORT=8081
RELOADS=3

TESTS=(install serve reload journal crash stop purge)

echo "TAP version 13"
echo "1..${#TESTS[@]}"

DEB_EXLB=$(ls -1t "$DEB_DIR"/exlb_*.deb 2>/dev/null | head -n 1)
need_root
[[ $(cat /proc/1/comm 2>/dev/null) == systemd ]] || need "PID 1 is not systemd (run it with tools/vm/run --systemd)"
[[ -n $DEB_EXLB ]] || need "no exlb_*.deb in $DEB_DIR: run make deb first"
# it installs and purges a package, removes policy-rc.d: only in the test
# VM (its root is a throw-away overlay), unless told
[[ -e /run/exlb-job || -n ${EXLB_DEB_ANYWHERE:-} ]] ||
	need "runs only in the test VM (tools/vm/run --systemd; EXLB_DEB_ANYWHERE=1 to force)"
[[ -n $SUITE_MISSING ]] || ! dpkg-query -W -f='${Status}' exlb 2>/dev/null | grep -q ' installed' ||
	need "package exlb is already installed here: this test installs and removes it"
need_tools dpkg systemctl journalctl curl jq
need_built "$PYTHON"
suite_ready "${TESTS[@]}"

T=$(mktemp -d /tmp/exlb-systemd.XXXXXX)
WEB_PID=
LOAD_PID=

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	touch "$T/stop"
	[[ -n $LOAD_PID ]] && kill "$LOAD_PID" 2>/dev/null
	[[ -n $WEB_PID ]] && kill "$WEB_PID" 2>/dev/null
	wait 2>/dev/null
	systemctl stop "$UNIT" 2>/dev/null
	dpkg -P exlb >/dev/null 2>&1
	[[ -n ${EXLB_KEEP:-} ]] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$EXLBCTL" "$@"; }
main_pid() { systemctl show -p MainPID --value "$UNIT"; }
exlbd_pids() { pgrep -x exlbd | tr '\n' ' '; }
# exlbd processes that are neither the MainPID nor its children (its L7
# worker and directory process): an old generation's, after a reload
exlbd_stale() {
	local m p
	m=$(main_pid)
	for p in $(exlbd_pids); do
		[[ $p == "$m" || $(ps -o ppid= -p "$p" | tr -d ' ') == "$m" ]] || printf '%s ' "$p"
	done
}
http_code() { curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$VS/"; }
serves() { [[ $(http_code) == 200 ]]; }

# ------------------------------------------------------------------- tests

t_install() {
	local pid st
	echo "PID 1: $(systemctl --version | head -n 1)"
	# man-db's trigger would index every man page under TCG: not ours to test
	rm -f /var/lib/man-db/auto-update
	# a container image's policy-rc.d (exit 101: "no service starts") would
	# keep the postinst from starting the unit as on a real machine; the VM's
	# root is a throw-away overlay of such an image's
	if [[ -e /usr/sbin/policy-rc.d ]]; then
		echo "removing /usr/sbin/policy-rc.d (the host image's) in the VM"
		rm -f /usr/sbin/policy-rc.d
	fi
	dpkg -i "$DEB_EXLB" || { echo "dpkg -i ${DEB_EXLB##*/} failed"; return 1; }
	expect_eq "$(systemctl is-enabled "$UNIT")" enabled "$UNIT enabled by the postinst" || return 1
	wait_for 30 systemctl is-active -q "$UNIT" ||
		{ systemctl status "$UNIT" --no-pager; return 1; }
	echo "$UNIT active after install"
	pid=$(main_pid)
	expect_eq "$(cat "/proc/$pid/comm")" exlbd "the unit's MainPID $pid" || return 1
	ctl status >/dev/null || { echo "exlbctl cannot reach exlbd"; return 1; }
	st=/proc/$pid/status
	expect_eq "$(awk '/^NoNewPrivs:/ { print $2 }' "$st")" 1 "NoNewPrivs of exlbd" || return 1
	# CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW
	# CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_SETUID CAP_SETGID CAP_SETPCAP
	# CAP_KILL: bits 12 10 13 0 3 1 7 6 8 5
	expect_eq "$(awk '/^CapBnd:/ { print $2 }' "$st")" 00000000000035eb \
		"exlbd's capability bounding set" || return 1
}

t_serve() {
	mkdir -p "$T/www" && echo hello >"$T/www/index.html"
	(cd "$T/www" && exec timeout 600 "$PYTHON" -m http.server "$RS_PORT" --bind 127.0.0.1) \
		>"$T/www.log" 2>&1 &
	WEB_PID=$!
	ctl vs add 127.0.0.1 8080 tcp nickname=Web VStype=http Schedule=rr CheckType=tcp ||
		return 1
	ctl rs add Web 127.0.0.1 port="$RS_PORT" || return 1
	wait_for 60 serves || { ctl status; return 1; }
	echo "GET http://$VS/ answers 200"
	# the packaged unit runs the L7 proxy in its sandboxed worker (docs/privsep.md)
	local w uid st
	w=$(ctl status -j | jq -r '.proxy.worker_process.pid // 0')
	uid=$(id -u exlb) || return 1
	st=$(awk '/^(Uid|CapEff|NoNewPrivs|Seccomp|PPid):/ { printf "%s %s ", $1, $2 }' "/proc/$w/status" 2>/dev/null)
	echo "the L7 worker process: pid $w, $st(exlb is uid $uid, exlbd pid $(main_pid))"
	[[ $w != 0 && $st == "PPid: $(main_pid) Uid: $uid CapEff: 0000000000000000 NoNewPrivs: 1 Seccomp: 2 " ]]
}

# load_lines_past N: the client loop has written more than N answers
load_lines_past() {
	(($(grep -c . "$T/load.out") > $1))
}

t_reload() {
	local k before after t0 rc total ok end lines
	# the client loop: new connections and keep-alive pairs, bounded
	(for _ in $(seq 3000); do
		[[ -e $T/stop ]] && break
		curl -s -m 5 -o /dev/null -o /dev/null -w '%{http_code}\n' \
			"http://$VS/" "http://$VS/index.html"
	done >"$T/load.out" 2>&1) &
	LOAD_PID=$!
	wait_for 20 test -s "$T/load.out" || return 1
	for ((k = 1; k <= RELOADS; k++)); do
		before=$(main_pid)
		lines=$(grep -c . "$T/load.out")
		t0=$EPOCHREALTIME
		systemctl reload "$UNIT"
		rc=$?
		after=$(main_pid)
		echo "reload $k: exit $rc, MainPID $before -> $after in $(awk -v a="$t0" \
			-v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
		expect_eq "$rc" 0 "systemctl reload's exit status" || return 1
		[[ $after != "$before" && $after -gt 1 ]] ||
			{ echo "FAIL: MainPID did not move to a new exlbd"; return 1; }
		expect_eq "$(systemctl is-active "$UNIT")" active "the unit after reload $k" || return 1
		# the old process drains (idle keep-alive closed after 1 s) and exits
		wait_for 30 eval "! kill -0 $before 2>/dev/null" ||
			{ echo "FAIL: the old exlbd $before still runs after 30 s"; return 1; }
		echo "old exlbd $before gone"
		# the loop goes on through the takeover: answers after it (a
		# count, not a rate: curl's pace under TCG varies run to run)
		wait_for 30 load_lines_past $((lines + 2)) ||
			{ echo "FAIL: no answer in 30 s after reload $k"; return 1; }
	done
	touch "$T/stop"
	wait "$LOAD_PID"
	LOAD_PID=
	total=$(grep -c . "$T/load.out")
	ok=$(grep -c '^200$' "$T/load.out")
	echo "client loop: $ok of $total requests answered 200 across $RELOADS reloads"
	expect_eq "$ok" "$total" "requests answered 200" || { sort "$T/load.out" | uniq -c; return 1; }
	end=$((SECONDS + 10))
	until [[ -z $(exlbd_stale) ]]; do
		((SECONDS < end)) || break
		sleep 0.2
	done
	expect_eq "$(exlbd_stale)" "" "exlbd processes left of the old generations" || return 1
	expect_eq "$(pgrep -x -P "$(main_pid)" exlbd | wc -l)" 2 \
		"the new generation's worker and directory processes" || return 1
	expect_eq "$(ctl -j status | jq -r '[.vs[].name] | join(",")')" Web \
		"the VSs after the reloads" || return 1
}

t_journal() {
	local j n
	j=$(journalctl -u "$UNIT" -o json --no-pager)
	n=$(jq -s 'length' <<<"$j")
	echo "$n journal entries of $UNIT"
	((n > 0)) || return 1
	jq -r -s 'group_by(.PRIORITY) | .[] | "priority \(.[0].PRIORITY): \(length) lines"' <<<"$j"
	n=$(jq -s '[.[] | select(._PID != null and (.MESSAGE | type) == "string" and
		(.MESSAGE | test("^<[0-7]>")))] | length' <<<"$j")
	expect_eq "$n" 0 "exlbd lines with a raw <N> prefix in MESSAGE" || return 1
	# each takeover is logged by the new process at notice (5)
	n=$(jq -s '[.[] | select(.PRIORITY == "5" and ._COMM == "exlbd" and
		((.MESSAGE | type) == "string") and (.MESSAGE | test("took over from pid")))] |
		length' <<<"$j")
	echo "\"took over\" lines at priority 5 (notice): $n"
	((n >= RELOADS)) || { journalctl -u "$UNIT" --no-pager | tail -n 30; return 1; }
}

t_crash() {
	local pid new
	pid=$(main_pid)
	kill -SEGV "$pid"
	wait_for 30 eval '[[ $(main_pid) != "$pid" && $(main_pid) -gt 1 ]] && systemctl is-active -q "$UNIT"' ||
		{ systemctl status "$UNIT" --no-pager; return 1; }
	new=$(main_pid)
	echo "after SIGSEGV to $pid: MainPID $new, NRestarts $(systemctl show -p NRestarts --value "$UNIT")"
	expect_eq "$(systemctl show -p NRestarts --value "$UNIT")" 1 "systemd's restart count" || return 1
	wait_for 60 serves || { ctl status; return 1; }
	echo "the VS serves again from the state file"
}

t_stop() {
	systemctl stop "$UNIT" || return 1
	expect_eq "$(systemctl is-active "$UNIT")" inactive "the unit after stop" || return 1
	expect_eq "$(systemctl show -p Result --value "$UNIT")" success "the unit's Result" || return 1
	expect_eq "$(exlbd_pids)" "" "exlbd processes after stop"
}

t_purge() {
	dpkg -P exlb || return 1
	local left
	left=$(ls -d /lib/systemd/system/$UNIT /etc/systemd/system/multi-user.target.wants/$UNIT \
		/var/lib/exlb /usr/sbin/exlbd 2>/dev/null)
	[[ -z $left ]] || { echo "FAIL: left after dpkg -P: $left"; return 1; }
	expect_eq "$(systemctl is-enabled "$UNIT" 2>/dev/null)" "" "systemd's view of $UNIT after purge"
}

# -------------------------------------------------------------------- run
for t in "${TESTS[@]}"; do
	run_chained "$t"
done
if ((FAIL)); then
	journalctl -u "$UNIT" --no-pager 2>&1 | tail -n 40 | sed 's/^/# journal: /'
fi
ktap_end
((FAIL == 0)) || exit 1
exit 0
