# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# exlbd and exlbctl in the host's end-to-end scripts (with lib/tap.sh). The
# caller sets EXLBD, EXLBCTL, SOCK and T, starts exlbd in the background
# with its output appended to $T/exlbd.log (exlbd_start, or its own command
# line), and sets DAEMON_PID.
#
#   exlbd_start [--health-checks] [--kernel] WHAT OPTION...
#                            $EXLBD --no-kernel --state-dir $T/state
#                            --socket $SOCK OPTION... in $NS_LB (without
#                            NS_LB: where the script runs) with
#                            EXLBD_NO_HEALTH_CHECKS=1, behind the command
#                            prefix in the array EXLBD_WRAP if set (e.g.
#                            lib/privsep.sh's private mount namespace,
#                            prlimit, env SSL_CERT_FILE=...); its output
#                            appended to $T/exlbd.log; sets DAEMON_PID,
#                            then exlbd_ready WHAT. --health-checks: with
#                            exlbd's health checks (EXLBD_NO_HEALTH_CHECKS
#                            unset); --kernel: programs exlb.ko (no
#                            --no-kernel)
#   ctl ARGS...              exlbctl on $SOCK
#   cfg ARGS...              the same for set-up steps: output to
#                            $T/ctl.log; a failure sets cfg_bad and is shown
#   exlbd_ready WHAT         waits <= 10 s for the control socket and reports
#                            WHAT; if exlbd exited, shows its log's tail and
#                            ends the script (nothing else could pass)
#   exlbd_sanitizer_reports  how many reports ASan/UBSan/LSan wrote so far
#   exlbd_stop_checked       SIGTERM; reports a clean exit and no sanitizer
#                            report in the log
#   exlbd_kill               SIGTERM and wait, for cleanup traps
#   alog_line MARK           the last line of the access log $ALOG whose
#                            request contains MARK (waits <= 3 s)
#   field LINE KEY           the value of KEY=... outside the quoted request
#   json EXPR                whether the python3 EXPR holds for the JSON
#                            document on stdin, bound to j
#   expect_fail NAME PATTERN CMD...
#                            reports whether CMD is refused: it fails, its
#                            stderr ($T/err) is one line matching PATTERN
#                            (grep) and `ctl save` is unchanged

cfg_bad=

ctl() { "$EXLBCTL" -s "$SOCK" "$@"; }

cfg() {
	ctl "$@" >>"$T/ctl.log" 2>&1 && return 0
	# shellcheck disable=SC2034 # the caller reports it
	cfg_bad=1
	diag "exlbctl $* failed: $(tail -n 1 "$T/ctl.log")"
	return 1
}

exlbd_ready() {
	wait_for 10 ctl get RetryInterval >/dev/null 2>&1
	report $? "$1"
	kill -0 "$DAEMON_PID" 2>/dev/null && return 0
	diag "exlbd exited:" "$(tail -n 20 "$T/exlbd.log")"
	tap_end
	exit 1
}

exlbd_start() {
	local what health=(EXLBD_NO_HEALTH_CHECKS=1) kernel=(--no-kernel)
	local -a wrap=()

	while :; do
		case $1 in
		--health-checks) health=(-u EXLBD_NO_HEALTH_CHECKS) ;;
		--kernel) kernel=() ;;
		*) break ;;
		esac
		shift
	done
	what=$1
	shift
	[ -n "${EXLBD_WRAP+x}" ] && wrap=("${EXLBD_WRAP[@]}")
	local -a netns=()
	[ -n "${NS_LB:-}" ] && netns=(ip netns exec "$NS_LB")
	diag "exlbd ${kernel[*]} --state-dir $T/state --socket $SOCK $*"
	# exec all the way down (ip netns exec, the prefix, env): $! is exlbd
	"${netns[@]}" "${wrap[@]}" env "${health[@]}" "$EXLBD" "${kernel[@]}" \
		--state-dir "$T/state" --socket "$SOCK" "$@" >>"$T/exlbd.log" 2>&1 &
	DAEMON_PID=$!
	exlbd_ready "$what"
}

exlbd_sanitizer_reports() {
	grep -c 'ERROR: AddressSanitizer\|runtime error:\|ERROR: LeakSanitizer' "$T/exlbd.log"
}

exlbd_stop_checked() {
	local rc n
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=
	n=$(exlbd_sanitizer_reports)
	report "$([ "$rc" = 0 ] && [ "$n" = 0 ]; echo $?)" \
		"exlbd exits cleanly on SIGTERM (status $rc, sanitizer reports $n)"
}

alog_line() {
	local i l
	for ((i = 0; i < 30; i++)); do
		l=$(grep -F -- "$1" "$ALOG" 2>/dev/null | tail -n 1)
		[ -n "$l" ] && { echo "$l"; return 0; }
		sleep 0.1
	done
	return 1
}

field() { sed 's/"[^"]*"//' <<<"$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

exlbd_kill() {
	[ -n "${DAEMON_PID:-}" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

json() { python3 -c "import json,sys; j=json.load(sys.stdin); sys.exit(0 if ($1) else 1)"; }

expect_fail() {
	local name=$1 pattern=$2 why=
	shift 2
	ctl save >"$T/before.json"
	if "$@" >/dev/null 2>"$T/err"; then
		why="command succeeded"
	elif ! grep -q -- "$pattern" "$T/err"; then
		why="error does not say '$pattern'"
	elif [ "$(wc -l <"$T/err")" -ne 1 ]; then
		why="error is not one line"
	elif ctl save >"$T/after.json"; ! cmp -s "$T/before.json" "$T/after.json"; then
		why="configuration changed"
	fi
	if [ -z "$why" ]; then
		report 0 "$name refused: $(cat "$T/err")"
		return 0
	fi
	report 1 "$name: $why"
	[ -s "$T/err" ] && diag "$(sed 's/^/stderr: /' "$T/err")"
	return 1
}
