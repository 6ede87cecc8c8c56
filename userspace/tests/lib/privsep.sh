# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# exlbd in worker mode (--worker-user exlb, docs/privsep.md) in the host's
# end-to-end scripts, and the checks of its sandboxed processes. Source it
# after lib/tap.sh and lib/exlbd.sh.
#
#   privsep_exlbd_start WHAT OPTION...
#       the user exlb in exlbd's mount namespace only (lib/worker-user.sh,
#       worker_user_files $T operators: EXLB_UID, EXLB_GID), with
#       PRIVSEP_RESOLV (lines, if set) as its /etc/resolv.conf there too;
#       then exlbd_start WHAT --worker-user exlb OPTION... in that mount
#       namespace. Returns 1 (nothing started) without a free uid or the
#       group nogroup.
#
#   privsep_st PID FIELD     FIELD's value in /proc/PID/status
#   privsep_pid NAME         the pid exlbctl status gives for .proxy.NAME
#                            (worker_process, directory_process), 0 if none
#   privsep_up NAME [OLD]    whether NAME runs, with another pid than OLD
#   privsep_check PID WHAT   four TAP lines: PID's Uid (x4) is exlb's, its
#                            Gid (x4) nogroup with no groups, all four
#                            capability sets empty, NoNewPrivs 1, Seccomp 2
#                            (filter mode) and a child of the manager
#                            (DAEMON_PID)
#   privsep_restarted NAME OLD LINE EXITS SIGSYS
#       three TAP lines after NAME's process OLD was killed: exlbd's log
#       shows LINE (a fixed string, what killed it) within 5 s, a new NAME
#       runs within 10 s (PRIVSEP_NEW, its pid), and exlbctl status counts
#       EXITS exits of NAME, SIGSYS of them by SIGSYS

privsep_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=worker-user.sh
source "$privsep_lib/worker-user.sh"

privsep_exlbd_start() {
	local what=$1
	shift
	worker_user_files "$T" operators || return 1
	if [ -n "${PRIVSEP_RESOLV:-}" ]; then
		printf '%s\n' "$PRIVSEP_RESOLV" >"$T/resolv.conf"
		WORKER_USER_SETUP+=" && mount --bind $T/resolv.conf /etc/resolv.conf"
	fi
	# shellcheck disable=SC2034 # exlbd_start's
	EXLBD_WRAP=("${WORKER_USER_WRAP[@]}")
	exlbd_start "$what" --worker-user exlb "$@"
}

privsep_st() { sed -n "s/^$2:[[:space:]]*//p" /proc/"$1"/status 2>/dev/null; }
privsep_pid() { ctl status -j 2>/dev/null | jq -r ".proxy.$1.pid // 0"; }
privsep_up() {
	local p
	p=$(privsep_pid "$1")
	[ "$p" != 0 ] && [ "$p" != "${2:-0}" ] && [ -d /proc/"$p" ]
}

privsep_check() {
	local p=$1 what=$2 want_id
	want_id=$(printf '%s\t%s\t%s\t%s' "$EXLB_UID" "$EXLB_UID" "$EXLB_UID" "$EXLB_UID")
	[ "$(privsep_st "$p" Uid)" = "$want_id" ]
	report $? "$what: Uid of exlb ($EXLB_UID) real, effective, saved, fs (got '$(privsep_st "$p" Uid)')"
	want_id=$(printf '%s\t%s\t%s\t%s' "$EXLB_GID" "$EXLB_GID" "$EXLB_GID" "$EXLB_GID")
	[ "$(privsep_st "$p" Gid)" = "$want_id" ] && [ -z "$(privsep_st "$p" Groups)" ]
	report $? "$what: Gid nogroup ($EXLB_GID) x4, no groups (got '$(privsep_st "$p" Gid)', groups '$(privsep_st "$p" Groups)')"
	[ "$(privsep_st "$p" CapEff)" = 0000000000000000 ] && [ "$(privsep_st "$p" CapPrm)" = 0000000000000000 ] &&
		[ "$(privsep_st "$p" CapBnd)" = 0000000000000000 ] && [ "$(privsep_st "$p" CapInh)" = 0000000000000000 ]
	report $? "$what: CapEff $(privsep_st "$p" CapEff), CapPrm $(privsep_st "$p" CapPrm), CapBnd $(privsep_st "$p" CapBnd), CapInh $(privsep_st "$p" CapInh)"
	[ "$(privsep_st "$p" NoNewPrivs)" = 1 ] && [ "$(privsep_st "$p" Seccomp)" = 2 ] &&
		[ "$(privsep_st "$p" PPid)" = "$DAEMON_PID" ]
	report $? "$what: NoNewPrivs $(privsep_st "$p" NoNewPrivs), Seccomp $(privsep_st "$p" Seccomp) (filter mode), PPid $(privsep_st "$p" PPid) (the manager $DAEMON_PID)"
}

privsep_restarted() {
	local name=$1 old=$2 line=$3 exits=$4 sigsys=$5 rc got
	wait_for 5 grep -qF -- "$line" "$T/exlbd.log"
	report $? "the manager logged it: $(grep -oF -- "$line" "$T/exlbd.log" | head -n 1)"
	wait_for 10 privsep_up "$name" "$old"
	rc=$?
	PRIVSEP_NEW=$(privsep_pid "$name")
	report $rc "a new $name (pid $old -> $PRIVSEP_NEW, after $WAITED s)"
	got=$(ctl status -j | jq -c ".proxy.$name | {exits, killed_by_sigsys, last_exit}")
	[ "$(jq .exits <<<"$got")" = "$exits" ] && [ "$(jq .killed_by_sigsys <<<"$got")" = "$sigsys" ]
	report $? "exlbctl status counts it: $got"
}
