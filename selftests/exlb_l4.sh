#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# exlb L4 selftests: builds the topology of lib.sh, starts the two helpers,
# runs every test in its own bash under `timeout`, and reports KTAP.
#
#   exlb_l4.sh [-l] [NAME...]     -l lists the tests; NAMEs (globs) select
#
# Exit: 0 all passed (skips allowed), 1 a failure, 4 whole suite skipped.
# Needs root, the exlb module loaded (or EXLB_KO to insmod), exlbadm
# ($EXLBADM, default $EXLB_REPO/userspace/build/exlbadm), python3, jq.
# EXLB_TIME_SCALE=N (default 1) multiplies every test's TIMEOUT below, not
# the limits the tests assert (the debug-kernel run, tools/vm/debug-job);
# offload_idle_timeout*'s Idletime grows with it, its limits with that.

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"
# shellcheck source=tests_sched.sh
source "$SELFTEST_DIR/tests_sched.sh"
# shellcheck source=tests_conn.sh
source "$SELFTEST_DIR/tests_conn.sh"
# shellcheck source=tests_admin.sh
source "$SELFTEST_DIR/tests_admin.sh"
# shellcheck source=tests_dr.sh
source "$SELFTEST_DIR/tests_dr.sh"
# shellcheck source=tests_offload.sh
source "$SELFTEST_DIR/tests_offload.sh"

# NAME:TIMEOUT (seconds, for the slow VM). Order: cheap and basic first;
# module unload and the kernel log check last.
TESTS=(
	topology_baseline:60
	rr_rotation:60
	wrr_ratio:180
	lc_least_conns:90
	wlc_weighted:60
	persist_holds:60
	persist_mask:60
	persist_expires:60
	persist_moves_off_down:60
	limit_overflow:60
	droponfail_reset:60
	droponfail_reset_ipv6:60
	stray_segment_reset:30
	drain_keeps_open:60
	drain_end_reset:60
	idle_timeout:60
	no_real_refused:30
	all_down_refused:30
	source_vip:30
	source_subnet_originating:30
	source_transparent:30
	ipv6_rr:60
	ipv6_source_subnet_originating:30
	local_client:30
	nftables_coexist:60
	stats_counters:60
	flow_dump:30
	dr_rr:60
	dr_flow_dump:30
	dr_droponfail_reset:60
	dr_idle_timeout:60
	dr_ipv6_rr:60
	dr_direct_return_reset:60
	dr_direct_return_idle:60
	dr_direct_return_ipv6:30
	dr_port_must_match:30
	dr_persist_limit:60
	bad_input_unchanged:90
	no_cap_net_admin:60
	netns_independent:60
	nl_fuzz:480
	offload_bulk:60
	offload_bulk_ipv6:60
	offload_hooks_on_demand:90
	offload_idle_timeout:60
	offload_idle_timeout_ipv6:60
	offload_droponfail:60
	offload_droponfail_ipv6:60
	offload_off:60
	unload_with_flows:180
	kernel_log_clean:30
)

# (before the child's dispatch below: a test may scale a time with it)
TIME_SCALE=${EXLB_TIME_SCALE:-1}
if ! [[ $TIME_SCALE =~ ^[1-9][0-9]?$ ]]; then
	echo "exlb_l4.sh: EXLB_TIME_SCALE must be an integer from 1 to 99, not '$TIME_SCALE'" >&2
	exit 2
fi

# One test, in this (child) bash: exit 0 pass, 1 fail, 4 skip.
if [[ ${1:-} == --one ]]; then
	"t_$2"
	exit $?
fi
# A shell error (e.g. bad arithmetic) inside a test aborts the `if` above,
# not the shell: never fall through into the runner from a test.
[[ ${1:-} == --one ]] && { echo "FAIL: test aborted by a shell error"; exit 1; }

# ---------------------------------------------------------------- select
select_tests "$@"

echo "TAP version 13"
echo "1..${#run[@]}"

# -------------------------------------------------------------- preflight
need_root
need_built "$EXLBADM" "$PYTHON"
need_tools ip jq timeout mkfifo dmesg
need_exlb
suite_ready "${run[@]}"

# ------------------------------------------------------------------ setup
EXLB_TMP=$(mktemp -d /tmp/exlb-selftest.XXXXXX)
EXLB_DMESG_MARK=$(dmesg_mark)
export EXLB_SFX EXLB_TMP EXLB_DMESG_MARK EXLBADM PYTHON NL_FUZZ EXLB_REPO

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	helpers_stop
	[[ -n ${EXLB_KEEP:-} ]] || topo_cleanup
	rm -rf "$EXLB_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_err=
if ! topo_setup >"$EXLB_TMP/topo.log" 2>&1; then
	setup_err="topology setup failed"
	sed 's/^/# /' "$EXLB_TMP/topo.log"
elif ! helpers_start; then
	setup_err="helpers did not start"
	sed 's/^/# /' "$EXLB_TMP/servers.log" "$EXLB_TMP/client.log"
fi
if [[ -n $setup_err ]]; then
	for t in "${run[@]}"; do ktap_result fail "${t%%:*}" "$setup_err"; done
	ktap_end
	exit 1
fi
echo "# namespaces: $ALL_NS"
echo "# exlbadm: $EXLBADM"

# Between tests: no held connections, no services, default globals.
between_tests() {
	if ! helpers_alive; then
		echo "# a helper died; restarting the helpers"
		sed 's/^/# | /' "$EXLB_TMP/servers.log" "$EXLB_TMP/client.log"
		helpers_stop
		rm -f "$EXLB_TMP"/*.in "$EXLB_TMP"/*.out
		# shellcheck disable=SC2034 # used by lib.sh
		CL_W='' CL_R='' SRV_W='' SRV_R=''
		helpers_start || echo "# helpers did not restart"
	fi
	helpers_drain
	cl closeall >/dev/null
	srv reset_stats >/dev/null
	state_reset "$NS_LB"
	# only one test uses the other namespace; look there only after it
	[[ ${1:-} != netns_independent ]] || state_reset "$NS_OTHER"
}

# ------------------------------------------------------------------- run
between_tests netns_independent
for t in "${run[@]}"; do
	name=${t%%:*}
	to=$((${t##*:} * TIME_SCALE))
	rm -f "$EXLB_TMP/skip_reason"
	start=$SECONDS
	timeout -k 5 "$to" bash "$SELF" --one "$name" </dev/null 2>&1 | sed -u 's/^/# /'
	rc=${PIPESTATUS[0]}
	took=$((SECONDS - start))
	case $rc in
	0) ktap_result ok "$name" ;;
	4) ktap_result skip "$name" "$(cat "$EXLB_TMP/skip_reason" 2>/dev/null)" ;;
	124 | 137) echo "# $name: timed out after $to s"; ktap_result fail "$name" "timeout" ;;
	*) ktap_result fail "$name" ;;
	esac
	echo "# $name: ${took}s"
	between_tests "$name"
done
ktap_end
((FAIL == 0)) || exit 1
exit 0
