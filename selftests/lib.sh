#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared by exlb's selftests: the test topology, the two Python helpers
# (servers.py, client.py) and how to talk to them, exlbadm wrappers, and
# assertions. exlb_l4.sh is the runner; tests_*.sh hold the tests.
#
# Topology (every name carries $EXLB_SFX so a crashed run cannot collide):
#
#   exlb-client-SFX           exlb-lb-SFX                         exlb-rsN-SFX
#   cl-lb 198.18.0.2/24  ---  lb-cl 198.18.0.1/24                 rs-lb 198.18.1.1N/24
#         198.18.0.3/24             VIPs 198.18.0.10, fd00::10          fd00:1::1N/64
#         fd00::2/64                fd00::1/64                    server "rsN" :8080
#                                lb-br 198.18.1.1/24, fd00:1::1/64
#                                  ports lb-rs1..3  -----------   (default via the LB)
#                                server "lb" on :80 (answers only if
#                                a connection is NOT balanced)
#
#   exlb-other-SFX: lo with 198.18.0.10 and fd00::10, server "other" on :80,
#                   for the namespace-independence test.

# For exlbd_e2e.sh and exlb_deb.sh: a forking echo server (python3 -c
# "$ECHO_SERVER_PY" NAME PORT) that greets "NAME PEER" and echoes lines;
# the listener closes its socket in every child, so killing it refuses new
# connections while the open ones live on in the children.
ECHO_SERVER_PY='
import os, signal, socket, sys
name, port = sys.argv[1], int(sys.argv[2])
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("0.0.0.0", port))
ls.listen(256)
print("listening", flush=True)
while True:
    c, peer = ls.accept()
    if os.fork() == 0:
        ls.close()
        try:
            c.sendall(("%s %s\n" % (name, peer[0])).encode())
            for line in c.makefile("rb"):
                c.sendall(line)
        except OSError:
            pass
        os._exit(0)
    c.close()
'

SELFTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${EXLB_REPO:-$(cd "$SELFTEST_DIR/.." && pwd)}
EXLBADM=${EXLBADM:-$REPO/userspace/build/exlbadm}
PYTHON=${PYTHON:-/usr/bin/python3}
NL_FUZZ=${NL_FUZZ:-$SELFTEST_DIR/build/nl_fuzz}

: "${EXLB_SFX:=$$}"
NS_CL=exlb-client-$EXLB_SFX
NS_LB=exlb-lb-$EXLB_SFX
NS_RS1=exlb-rs1-$EXLB_SFX
NS_RS2=exlb-rs2-$EXLB_SFX
NS_RS3=exlb-rs3-$EXLB_SFX
NS_OTHER=exlb-other-$EXLB_SFX
ALL_NS="$NS_CL $NS_LB $NS_RS1 $NS_RS2 $NS_RS3 $NS_OTHER"

CL4=198.18.0.2
CL4B=198.18.0.3
CL6=fd00::2
LB4=198.18.0.1
LB6=fd00::1
LB4_RS=198.18.1.1
LB6_RS=fd00:1::1
VIP4=198.18.0.10
VIP6=fd00::10
RS_PORT=8080
# index 1..3
RS4=("" 198.18.1.11 198.18.1.12 198.18.1.13)
RS6=("" fd00:1::11 fd00:1::12 fd00:1::13)

# Limits the tests assert (milliseconds).
# shellcheck disable=SC2034 # used by tests_*.sh
MS_RESET_FAST=1000       # droponfail: RST after "rs down"
# shellcheck disable=SC2034
MS_REFUSED_FAST=900      # no real server: RST answers the SYN (no SYN retry)

# ---------------------------------------------------------------- output

diag() { printf '%s\n' "$*"; }

# fail MSG: the running test fails. In exlb_l4.sh a test runs in its own
# bash, which exits; in a chained suite (EXLB_CHAINED=1, see run_chained)
# tests run in the suite's shell, so fail returns 1 and the assertions below
# pass that on.
fail() {
	printf 'FAIL: %s\n' "$*"
	[[ -n ${EXLB_CHAINED:-} ]] && return 1
	exit 1
}

# skip REASON: the running test is skipped.
skip() {
	printf '%s\n' "$*" >"$EXLB_TMP/skip_reason"
	exit 4
}

expect_eq() { # GOT WANT WHAT
	if [[ "$1" != "$2" ]]; then
		fail "$3: expected '$2', got '$1'"
		return 1
	fi
	diag "$3: '$1' as expected"
}

# expect_range VALUE LOW HIGH WHAT   (integers, inclusive)
expect_range() {
	if ! [[ "$1" =~ ^-?[0-9]+$ ]] || (( $1 < $2 || $1 > $3 )); then
		fail "$4: $1 not in [$2, $3]"
		return 1
	fi
	diag "$4: $1 in [$2, $3]"
}

# wait_for SECONDS CMD...: polls CMD (every 0.3 s) until it succeeds, at
# most SECONDS; then one last try decides.
wait_for() {
	local end=$((SECONDS + $1))

	shift
	while ((SECONDS < end)); do
		"$@" && return 0
		sleep 0.3
	done
	"$@"
}

# ------------------------------------------------------------ KTAP output

PASS=0 FAIL=0 SKIP=0 N=0
ktap_result() { # RESULT NAME [DIRECTIVE]
	N=$((N + 1))
	case $1 in
	ok) PASS=$((PASS + 1)); echo "ok $N - $2" ;;
	skip) SKIP=$((SKIP + 1)); echo "ok $N - $2 # SKIP $3" ;;
	*) FAIL=$((FAIL + 1)); echo "not ok $N - $2${3:+ # $3}" ;;
	esac
}

ktap_end() {
	echo "# Totals: pass:$PASS fail:$FAIL xfail:0 xpass:0 skip:$SKIP error:0"
	if ((SKIP)); then
		echo "$PASS passed, $FAIL failed, $SKIP skipped"
	else
		echo "$PASS passed, $FAIL failed"
	fi
}

# ---------------------------------------------------- suite preconditions
# What a suite needs before its first test. Each need_* records the first
# thing missing (and checks nothing once one is); suite_ready then returns,
# or skips the whole suite with that reason and exits 4: every test named
# in its arguments as a KTAP skip, or, without names, the one "1..0 # SKIP"
# line of a suite that wraps a TAP script (run_wrapped).

SUITE_MISSING=
# need REASON: a check of the suite's own failed
need() { [[ -n $SUITE_MISSING ]] || SUITE_MISSING=$1; }
need_root() { [[ $(id -u) == 0 ]] || need "needs root"; }
need_built() { # FILE...: built or installed executables
	local b
	for b; do [[ -x $b ]] || need "$b is missing (make -C userspace; tools/deps.sh)"; done
}
need_tools() { # COMMAND...: on PATH or in /usr/sbin
	local t
	for t; do
		command -v "$t" >/dev/null || [[ -x /usr/sbin/$t ]] || need "$t not installed (tools/deps.sh)"
	done
}
# exlb.ko loaded: insmod $EXLB_KO when it is given and the module is not
# (EXLB_ASSUME_LOADED=1: developing a harness on a host without it)
need_exlb() {
	[[ -n $SUITE_MISSING || -d /sys/module/exlb || -n ${EXLB_ASSUME_LOADED:-} ]] && return 0
	if [[ -n ${EXLB_KO:-} && -f $EXLB_KO ]]; then
		echo "# exlb not loaded: insmod $EXLB_KO"
		insmod "$EXLB_KO" 2>&1 | sed 's/^/# /'
	fi
	[[ -d /sys/module/exlb ]] || need "exlb module not loaded"
}
# ctnetlink for conntrack/conntrackd (a module in the VM, maybe built in elsewhere)
need_ctnetlink() {
	[[ -n $SUITE_MISSING ]] || modprobe -q nf_conntrack_netlink 2>/dev/null ||
		conntrack -L >/dev/null 2>&1 || need "no ctnetlink (nf_conntrack_netlink)"
}
suite_ready() { # [TEST...]
	local t
	[[ -z $SUITE_MISSING ]] && return 0
	if (($#)); then
		for t; do ktap_result skip "${t%%:*}" "$SUITE_MISSING"; done
		ktap_end
	else
		echo "TAP version 13"
		echo "1..0 # SKIP $SUITE_MISSING"
		echo "0 passed, 0 failed, 1 skipped"
	fi
	exit 4
}

# run_wrapped CMD...: a suite that is one TAP script (a host test run in the
# VM, the demo): streams its output (through a file and tail --pid, not a
# pipe: a daemon left holding the pipe must not keep the suite waiting),
# counts its "ok" and "not ok" lines and ends the suite: exit 4 when the
# script skipped, a failure when it exited non-zero without a failed check
# or asserted nothing.
run_wrapped() {
	local out pid rc pass fail start=$SECONDS

	out=$(mktemp /tmp/exlb-wrapped.XXXXXX)
	"$@" >"$out" 2>&1 </dev/null &
	pid=$!
	tail -n +1 -f --pid=$pid "$out"
	wait $pid
	rc=$?
	echo "# ${1##*/} took $((SECONDS - start)) s, exit status $rc"
	pass=$(grep -c '^ok ' "$out")
	fail=$(grep -c '^not ok ' "$out")
	rm -f "$out"
	if ((rc == 4)); then
		echo "0 passed, 0 failed, 1 skipped"
		exit 4
	fi
	if ((rc != 0 && fail == 0)); then
		echo "not ok $((pass + 1)) - $* exited with status $rc"
		fail=1
	elif ((pass + fail == 0)); then
		echo "not ok 1 - $* asserted nothing"
		fail=1
	fi
	echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:0 error:0"
	echo "$pass passed, $fail failed"
	exit $((fail == 0 ? 0 : 1))
}

# select_tests [-l] [-h] [GLOB...]: the entries of TESTS ("name:...") the
# command line names by glob (all without one), into run[]; -l lists them
# and exits, -h prints the suite's header comment and exits.
select_tests() {
	local arg t pat keep list=0 selected=()

	for arg in "$@"; do
		case $arg in
		-l) list=1 ;;
		-h | --help) awk 'NR > 2 && !/^#/ { exit } NR > 2' "$SELF"; exit 0 ;;
		*) selected+=("$arg") ;;
		esac
	done
	run=()
	for t in "${TESTS[@]}"; do
		keep=$((${#selected[@]} == 0))
		for pat in "${selected[@]}"; do
			# shellcheck disable=SC2053 # a glob
			[[ ${t%%:*} == $pat ]] && keep=1
		done
		((keep)) && run+=("$t")
	done
	if ((list)); then
		for t in "${run[@]}"; do echo "${t%%:*}"; done
		exit 0
	fi
}

# run_chained NAME: runs t_NAME in the suite's shell (exlbd_e2e.sh,
# exlb_deb.sh, exlb_systemd.sh: each test builds on the previous one, so
# after a failure the rest are skipped), its output as KTAP comments
# (kept in $T/NAME.out: no process substitution, the VM may lack /dev/fd).
run_chained() {
	local name=$1 start=$SECONDS rc
	echo "# --- $name"
	if [[ -n ${ABORT:-} ]]; then
		ktap_result skip "$name" "$ABORT"
		return
	fi
	"t_$name" >"$T/$name.out" 2>&1
	rc=$?
	sed 's/^/# /' "$T/$name.out"
	case $rc in
	0) ktap_result ok "$name" ;;
	*) ktap_result fail "$name"; ABORT="an earlier test failed" ;;
	esac
	echo "# $name: $((SECONDS - start))s"
}

# -------------------------------------------------------------- topology

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

topo_setup() {
	local ns i
	for ns in $ALL_NS; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up || return 1
	done

	# client <-> LB
	ip -n "$NS_CL" link add cl-lb type veth peer name lb-cl netns "$NS_LB" || return 1
	ip -n "$NS_CL" addr add $CL4/24 dev cl-lb
	ip -n "$NS_CL" addr add $CL4B/24 dev cl-lb
	ip -n "$NS_CL" addr add $CL6/64 dev cl-lb nodad
	ip -n "$NS_CL" link set cl-lb up
	ip -n "$NS_CL" route add default via $LB4
	ip -n "$NS_CL" -6 route add default via $LB6

	nsx "$NS_LB" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	ip -n "$NS_LB" addr add $LB4/24 dev lb-cl
	ip -n "$NS_LB" addr add $VIP4/32 dev lb-cl
	ip -n "$NS_LB" addr add $LB6/64 dev lb-cl nodad
	ip -n "$NS_LB" addr add $VIP6/128 dev lb-cl nodad
	ip -n "$NS_LB" link set lb-cl up

	# LB <-> real servers over a bridge
	ip -n "$NS_LB" link add lb-br type bridge || return 1
	ip -n "$NS_LB" addr add $LB4_RS/24 dev lb-br
	ip -n "$NS_LB" addr add $LB6_RS/64 dev lb-br nodad
	ip -n "$NS_LB" link set lb-br up
	for i in 1 2 3; do
		ns=exlb-rs$i-$EXLB_SFX
		ip -n "$ns" link add rs-lb type veth peer name lb-rs$i netns "$NS_LB" || return 1
		ip -n "$NS_LB" link set lb-rs$i master lb-br up
		ip -n "$ns" addr add "${RS4[$i]}/24" dev rs-lb
		ip -n "$ns" addr add "${RS6[$i]}/64" dev rs-lb nodad
		ip -n "$ns" link set rs-lb up
		ip -n "$ns" route add default via $LB4_RS
		ip -n "$ns" -6 route add default via $LB6_RS
	done

	# a second namespace that owns the same VIPs locally
	ip -n "$NS_OTHER" addr add $VIP4/32 dev lo
	ip -n "$NS_OTHER" addr add $VIP6/128 dev lo nodad
	return 0
}

topo_cleanup() {
	local ns
	for ns in $ALL_NS exlb-fuzz-$EXLB_SFX exlb-cap-$EXLB_SFX; do
		[[ -e /run/netns/$ns ]] && ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# ---------------------------------------------------------------- helpers
#
# Both helpers read "TAG REQUEST" lines from a FIFO and answer "TAG JSON"
# on another; a test script keeps its own tags, so an answer left over from
# a test that timed out is skipped, not mistaken for ours.

helpers_start() {
	mkfifo "$EXLB_TMP/cl.in" "$EXLB_TMP/cl.out" "$EXLB_TMP/srv.in" "$EXLB_TMP/srv.out" || return 1
	local specs=() i
	for i in 1 2 3; do
		specs+=("exlb-rs$i-$EXLB_SFX:rs$i:0.0.0.0:$RS_PORT" "exlb-rs$i-$EXLB_SFX:rs$i:[::]:$RS_PORT")
	done
	specs+=("$NS_LB:lb:0.0.0.0:80" "$NS_LB:lb:[::]:80" "$NS_LB:lb:0.0.0.0:81" "$NS_LB:lb:[::]:81")
	specs+=("$NS_OTHER:other:0.0.0.0:80" "$NS_OTHER:other:[::]:80")
	"$PYTHON" "$SELFTEST_DIR/servers.py" --ctl "$EXLB_TMP/srv.in" --out "$EXLB_TMP/srv.out" \
		"${specs[@]}" >"$EXLB_TMP/servers.log" 2>&1 </dev/null &
	echo $! >"$EXLB_TMP/servers.pid"
	"$PYTHON" "$SELFTEST_DIR/client.py" --ctl "$EXLB_TMP/cl.in" --out "$EXLB_TMP/cl.out" \
		--ns "$NS_CL" >"$EXLB_TMP/client.log" 2>&1 </dev/null &
	echo $! >"$EXLB_TMP/client.pid"
	srv ping 60 && cl ping 60
}

helpers_stop() {
	local f pid
	for f in servers client; do
		[[ -f $EXLB_TMP/$f.pid ]] || continue
		pid=$(<"$EXLB_TMP/$f.pid")
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rm -f "$EXLB_TMP/$f.pid"
	done
}

helpers_alive() {
	local f
	for f in servers client; do
		[[ -f $EXLB_TMP/$f.pid ]] && kill -0 "$(<"$EXLB_TMP/$f.pid")" 2>/dev/null || return 1
	done
}

_REQ_N=0
# _req W_FD_VAR R_FD_VAR IN OUT TIMEOUT WORDS...: sets $J to the JSON answer.
_req() {
	local wv=$1 rv=$2 fin=$3 fout=$4 to=$5
	shift 5
	if [[ -z ${!wv} ]]; then
		exec {fd}>"$fin" || return 1
		printf -v "$wv" '%s' "$fd"
		exec {fd}<"$fout" || return 1
		printf -v "$rv" '%s' "$fd"
	fi
	_REQ_N=$((_REQ_N + 1))
	local tag="t$BASHPID.$_REQ_N" words line end=$((SECONDS + to))
	printf -v words '%q ' "$@"
	printf '%s %s\n' "$tag" "$words" >&"${!wv}" || return 1
	while (( SECONDS < end )); do
		IFS= read -r -t $((end - SECONDS)) -u "${!rv}" line || break
		if [[ ${line%% *} == "$tag" ]]; then
			J=${line#* }
			return 0
		fi
	done
	J='{"error":"helper did not answer"}'
	return 1
}

# shellcheck disable=SC2034 # set indirectly by _req
CL_W='' CL_R='' SRV_W='' SRV_R=''
# cl REQUEST...: ask the client helper; the answer is in $J.
cl() {
	# how long to wait for the answer: generous, the VM is slow
	local to=30 w
	[[ $1 == dist ]] && to=$((to + ${4:-0} / 5))
	for w in "$@"; do
		case $w in
		duration=*) w=${w#duration=}; to=$((to + ${w%.*} + 1)) ;;
		n=*) to=$((to + 3 * ${w#n=})) ;;
		bytes=*) to=$((to + ${w#bytes=} / 50000)) ;;
		esac
	done
	_req CL_W CL_R "$EXLB_TMP/cl.in" "$EXLB_TMP/cl.out" "$to" "$@"
}
# srv REQUEST: ask the servers helper.
srv() { _req SRV_W SRV_R "$EXLB_TMP/srv.in" "$EXLB_TMP/srv.out" "${2:-10}" "$1"; }

# Drop answers nobody will read (left by a test that was killed).
helpers_drain() {
	local line fd
	for fd in "$CL_R" "$SRV_R"; do
		[[ -n $fd ]] || continue
		while read -r -t 0 -u "$fd"; do IFS= read -r -u "$fd" line; done
	done
	return 0
}

# jr FILTER: jq -r FILTER on the last answer.
jr() { jq -r "$@" <<<"$J"; }

# ---------------------------------------------------------------- exlbadm

# adm ARGS...: exlbadm in the LB namespace.
adm() { ip netns exec "$NS_LB" "$EXLBADM" "$@"; }
# must ARGS...: exlbadm in the LB namespace; the test fails if it fails.
must() { adm "$@" || fail "exlbadm $* failed"; }

vs4() { printf '%s:%s' "$VIP4" "${1:-80}"; }
vs6() { printf '[%s]:%s' "$VIP6" "${1:-80}"; }
rs4() { printf '%s:%s' "${RS4[$1]}" "$RS_PORT"; }
rs6() { printf '[%s]:%s' "${RS6[$1]}" "$RS_PORT"; }

# name_addr rsN -> its IPv4 address
name_addr4() { local i=${1#rs}; printf '%s' "${RS4[$i]}"; }

# vs_std VS RSFN [VS KEYS...]: a VS and its three real servers in order
# rs1, rs2, rs3 (RSFN is rs4 or rs6).
vs_std() {
	local vs=$1 rsfn=$2 i
	shift 2
	must vs add "$vs" "$@"
	for i in 1 2 3; do
		must rs add "$vs" "$($rsfn $i)"
	done
}

# vs_json VS: one service as a JSON object (from exlbadm -j vs show VS).
vs_json() {
	adm -j vs show "$1" | jq -c 'if type == "array" then .[0] else . end'
}

# Delete every service in namespace NS (default the LB); reset the globals.
state_reset() {
	local ns=${1:-$NS_LB} id
	for id in $(ip netns exec "$ns" "$EXLBADM" -j vs show 2>/dev/null | jq -r '.[].id' 2>/dev/null); do
		ip netns exec "$ns" "$EXLBADM" vs del "id:$id" || true
	done
	ip netns exec "$ns" "$EXLBADM" set droponfail 0 dropatdrainend 0 finalpersist 0 >/dev/null 2>&1 || true
}

# dmesg_mark / dmesg_bad: kernel log lines since the mark that mean trouble.
dmesg_mark() { dmesg 2>/dev/null | wc -l; }
dmesg_bad() {
	dmesg 2>/dev/null | tail -n +"$(( $1 + 1 ))" |
		grep -E 'BUG:|Oops|WARNING:|Call Trace|general protection|refcount_t|UBSAN|KASAN|kmemleak|list_(add|del) corruption|RCU stall|soft lockup|hung task'
}
