# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# Two exlbd nodes of an HA pair in the host's end-to-end scripts (with
# lib/tap.sh): each node N runs in namespace ${NS[N]} with its files under
# $T/lbN (state, control socket, exlbd.log, keepalived's pid files). The
# caller sets EXLBD, EXLBCTL, T and the associative arrays NS and PID; the
# other namespaces of its topology are NS[sw] (the switch: bridges) and
# whatever else it names (NS[cl], NS[rs], ...).
#
#   hapair_require TOOL...  skips unless root with TOOL... installed and
#                           EXLBD, EXLBCTL built (made absolute; default
#                           ../build/asan/exlbd, ../build/exlbctl)
#   in_ns KEY CMD...        CMD in ${NS[KEY]}
#   hapair_netns KEY...     creates ${NS[KEY]} for each, loopback up
#   hapair_bridge BR...     bridges BR in ${NS[sw]}, up
#   hapair_plug SW-DEV KEY DEV BR ADDR
#                           a veth: SW-DEV on bridge BR in the switch, DEV
#                           with ADDR/24 in ${NS[KEY]}, both up
#   hapair_front_back CL-ADDR RS-ADDR
#                           the client/real server topology: namespaces
#                           cl, sw, rs, 1, 2; bridges brf (front: client,
#                           lbN's front ${FRONT[N]}) and brb (back: rs,
#                           lbN's back ${BACKIP[N]})
#   hapair_teardown KEY...  deletes ${NS[KEY]} for each, then $T (KEEP=1
#                           keeps it); after hapair_stop of the nodes
#   hapair_default_routes KEY...
#                           prints " NAME" for each namespace that has a
#                           default route (there must be none)
#   ctl_of N ARGS...        exlbctl on lb N
#   cfg_of N ARGS...        the same for set-up steps: output to $T/ctl.log; a
#                           failure sets cfg_bad and is shown
#   hapair_start N ARGS...  starts lb N's exlbd (ARGS: more options), PID[N]
#   lb_ready N              its control socket answers
#   role N / is_role N R    its HA role (status), whether it is R
#   has_vip N NS-DEV VIP    whether lb N holds VIP on its device NS-DEV
#   kill_keepalived N SIG   keepalived's VRRP child, then its parent
#   hapair_stop N           SIGTERM to exlbd, waits; keepalived killed
#   hapair_secret N SECRET  sets the pair secret on lb N (exlbctl ha secret)
#   hapair_sanitizer N      ASan/UBSan/LSan reports in lb N's log

cfg_bad=
hapair_here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

hapair_require() {	# TOOL...
	local tool
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
	for tool in "$@"; do
		command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || skip "$tool not installed"
	done
	EXLBD=$(realpath "${EXLBD:-$hapair_here/../build/asan/exlbd}")
	EXLBCTL=$(realpath "${EXLBCTL:-$hapair_here/../build/exlbctl}")
	[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"
}

in_ns() { local ns=${NS[$1]}; shift; ip netns exec "$ns" "$@"; }

hapair_netns() {	# KEY...
	local k
	for k in "$@"; do
		ip netns add "${NS[$k]}" && ip -n "${NS[$k]}" link set lo up || return 1
	done
}

hapair_bridge() {	# BR...
	local br
	for br in "$@"; do
		ip -n "${NS[sw]}" link add "$br" type bridge &&
		ip -n "${NS[sw]}" link set "$br" up || return 1
	done
}

hapair_plug() {	# SW-DEV KEY DEV BR ADDR
	ip -n "${NS[sw]}" link add "$1" type veth peer name "$3" netns "${NS[$2]}" &&
	ip -n "${NS[sw]}" link set "$1" master "$4" up &&
	ip -n "${NS[$2]}" addr add "$5/24" dev "$3" &&
	ip -n "${NS[$2]}" link set "$3" up
}

hapair_front_back() {	# CL-ADDR RS-ADDR
	hapair_netns cl sw rs 1 2 && hapair_bridge brf brb &&
	hapair_plug p-cl cl front brf "$1" &&
	hapair_plug p-rs rs back brb "$2" &&
	hapair_plug p-lb1f 1 front brf "${FRONT[1]}" &&
	hapair_plug p-lb1b 1 back brb "${BACKIP[1]}" &&
	hapair_plug p-lb2f 2 front brf "${FRONT[2]}" &&
	hapair_plug p-lb2b 2 back brb "${BACKIP[2]}"
}

hapair_teardown() {	# KEY...
	local k
	for k in "$@"; do ip netns del "${NS[$k]}" 2>/dev/null; done
	if [ -n "${KEEP:-}" ]; then echo "# kept $T" >&2; else rm -rf "$T"; fi
}

hapair_default_routes() {	# KEY...
	local k
	for k in "$@"; do
		ip -n "${NS[$k]}" route show table all | grep -q '^default' && printf ' %s' "${NS[$k]}"
	done
	return 0
}

ctl_of() { local n=$1; shift; "$EXLBCTL" -s "$T/lb$n/exlbd.sock" "$@"; }

cfg_of() {
	ctl_of "$@" >>"$T/ctl.log" 2>&1 && return 0
	cfg_bad=1
	diag "exlbctl (lb$1) ${*:2} failed: $(tail -n 1 "$T/ctl.log")"
	return 1
}

hapair_start() {	# N ARGS...
	local n=$1
	shift
	mkdir -p "$T/lb$n"
	# not through a function: $! must be exlbd itself
	ip netns exec "${NS[$n]}" "$EXLBD" --no-kernel \
		--state-dir "$T/lb$n/state" --socket "$T/lb$n/exlbd.sock" "$@" \
		>>"$T/lb$n/exlbd.log" 2>&1 &
	PID[$n]=$!
}

lb_ready() { ctl_of "$1" get RetryInterval >/dev/null 2>&1; }
role() { ctl_of "$1" -j status 2>/dev/null | jq -r '.ha.role'; }
is_role() { [ "$(role "$1")" = "$2" ]; }
has_vip() { ip -n "${NS[$1]}" -4 addr show dev "$2" | grep -q "inet $3/"; }

kill_keepalived() {	# N SIGNAL
	local f p
	# the VRRP child first: killed after its parent, it could still say goodbye
	for f in "$T/lb$1/keepalived-vrrp.pid" "$T/lb$1/keepalived.pid"; do
		p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && kill "-$2" "$p" 2>/dev/null
	done
}

hapair_stop() {	# N
	[ -n "${PID[$1]:-}" ] && kill -TERM "${PID[$1]}" 2>/dev/null && wait "${PID[$1]}" 2>/dev/null
	PID[$1]=
	kill_keepalived "$1" KILL
}

hapair_secret() {	# N SECRET
	printf '%s\n' "$2" | ctl_of "$1" ha secret password-file - >>"$T/ctl.log" 2>&1 && return 0
	cfg_bad=1
	diag "exlbctl (lb$1) ha secret failed: $(tail -n 1 "$T/ctl.log")"
	return 1
}

hapair_sanitizer() {
	grep -c 'ERROR: AddressSanitizer\|runtime error:\|ERROR: LeakSanitizer' "$T/lb$1/exlbd.log"
}
