#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Control-plane tests: bad input changes nothing, CAP_NET_ADMIN, network
# namespaces, the netlink fuzzer, module unload, the kernel log. Sourced by
# exlb_l4.sh.

# snapshot: services (without counters, which traffic could move) + globals.
snapshot() {
	adm -j vs show | jq -S -c 'walk(if type == "object" then del(.stats) else . end)'
	adm -j get | jq -S -c .
}

# Invalid requests fail (exit 1, one line on stderr) and change nothing.
t_bad_input_unchanged() {
	local vs before after bad=0 n=0 args err
	vs=$(vs4)
	vs_std "$vs" rs4 Schedule=rr Persist=src PersistTimeout=60
	before=$(snapshot) || fail "exlbadm -j vs show/get failed"
	local cases=(
		"rs add $vs 198.18.1.14:8080 weight=70000"
		"rs add $vs 198.18.1.14:8080 limit=100001"
		"rs add $vs 198.18.1.14:0"
		"rs add $vs [fd00:1::14]:8080"
		"rs add $vs $(rs4 1)"
		"rs add id:999999 198.18.1.14:8080"
		"rs mod $vs $(rs4 1) weight=65536"
		"rs mod $vs $(rs4 1) forward=tunnel"
		"rs del $vs 198.18.1.99:8080"
		"vs add $vs"
		"vs add 198.18.0.10:0"
		"vs add 198.18.0.10:81 Schedule=bogus"
		"vs add 198.18.0.10:81 Persist=cookie"
		"vs add 198.18.0.10:81 PersistTimeout=2419201"
		"vs add 198.18.0.10:81 Idletime=86401"
		"vs add 198.18.0.10:81 Transparent=2"
		"vs add 198.18.0.10:81 NoSuchKey=1"
		"vs mod $vs Schedule=bogus"
		"vs del 198.18.0.10:82"
		"set droponfail 2"
		"set finalpersist 86401"
		"set conntimeout 86401"
		"set nosuchkey 1"
	)
	for args in "${cases[@]}"; do
		n=$((n + 1))
		# shellcheck disable=SC2086
		if err=$(adm $args 2>&1); then
			bad=$((bad + 1))
			diag "ACCEPTED (should fail): exlbadm $args"
		else
			diag "rejected: exlbadm $args: ${err//$'\n'/ / }"
		fi
	done
	after=$(snapshot)
	if [[ $before != "$after" ]]; then
		diag "before: $before"
		diag "after:  $after"
	fi
	expect_eq "accepted=$bad unchanged=$([[ $before == "$after" ]] && echo yes || echo no)" \
		"accepted=0 unchanged=yes" "$n invalid requests"
}

# Without CAP_NET_ADMIN every command is refused, nothing changes.
t_no_cap_net_admin() {
	local vs before after bad=0 args err
	command -v setpriv >/dev/null || skip "setpriv not installed"
	vs=$(vs4)
	vs_std "$vs" rs4 Schedule=rr
	before=$(snapshot) || fail "exlbadm -j vs show/get failed"
	nocap() {
		ip netns exec "$NS_LB" setpriv --inh-caps=-net_admin --bounding-set=-net_admin "$@"
	}
	# the harness drops the capability for real
	if nocap ip link add exlbcapchk type dummy 2>/dev/null; then
		ip -n "$NS_LB" link del exlbcapchk
		fail "setpriv did not drop CAP_NET_ADMIN"
	fi
	for args in "vs show" "-j get" "flows" "vs add 198.18.0.10:81" "vs del $vs" \
		"rs add $vs 198.18.1.14:8080" "rs down $vs $(rs4 1)" "rs del $vs $(rs4 1)" \
		"vs mod $vs Schedule=wrr" "set droponfail 1"; do
		# shellcheck disable=SC2086
		if err=$(nocap "$EXLBADM" $args 2>&1); then
			bad=$((bad + 1))
			diag "ACCEPTED without CAP_NET_ADMIN: exlbadm $args: $err"
		else
			diag "refused: exlbadm $args: ${err//$'\n'/ / }"
		fi
	done
	after=$(snapshot)
	expect_eq "accepted=$bad unchanged=$([[ $before == "$after" ]] && echo yes || echo no)" \
		"accepted=0 unchanged=yes" "requests without CAP_NET_ADMIN"
}

# Each network namespace has its own services; traffic in one namespace is
# not balanced by another's services.
t_netns_independent() {
	local vs id r=()
	vs=$(vs4)
	o() { ip netns exec "$NS_OTHER" "$EXLBADM" "$@"; }
	vs_std "$vs" rs4 Schedule=rr
	id=$(vs_json "$vs" | jq -r .id)
	r+=("other_services=$(o -j vs show | jq length)")
	cl dist $VIP4 80 3 ns="$NS_OTHER" || fail "client: $J"
	r+=("other_traffic=$(jr '.seq | join(",")')")
	if o vs add "$vs" id="$id"; then r+=("same_vs_in_other=ok"); else r+=("same_vs_in_other=failed"); fi
	cl dist $VIP4 80 3 || fail "client: $J"
	r+=("lb_traffic=$(jr '.seq | join(",")')")
	o vs del "$vs"
	r+=("lb_services=$(adm -j vs show | jq length)")
	expect_eq "${r[*]}" \
		"other_services=0 other_traffic=other,other,other same_vs_in_other=ok lb_traffic=rs1,rs2,rs3 lb_services=1" \
		"namespace independence"
}

# >= 10000 malformed generic netlink messages: errors only, and afterwards
# the module still balances and the kernel log is clean.
t_nl_fuzz() {
	local m ns=exlb-fuzz-$EXLB_SFX rc out
	if [[ ! -x $NL_FUZZ ]]; then
		[[ -e $SELFTEST_DIR/nl_fuzz.c ]] && fail "$NL_FUZZ not built (make -C selftests all)"
		skip "nl_fuzz.c not present"
	fi
	m=$(dmesg_mark)
	ip netns add "$ns" || fail "ip netns add $ns"
	ip -n "$ns" link set lo up
	# phase 1: 10000 requests that must all be refused; phase 2 (-r):
	# 10000 with random attribute bytes. -t: the VM is slow.
	out=$(timeout 400 ip netns exec "$ns" "$NL_FUZZ" -n 10000 -r -t 360 2>&1)
	rc=$?
	ip netns del "$ns"
	diag "nl_fuzz -n 10000 -r: exit $rc"
	diag "$(tail -n 15 <<<"$out")"
	local sent
	sent=$(sed -n 's/^nl_fuzz: sent \([0-9]*\), errors.*/\1/p' <<<"$out")
	[[ ${sent:-0} -ge 10000 ]] || { diag "only ${sent:-?} malformed requests sent"; rc="$rc/sent<10000"; }
	vs_std "$(vs4)" rs4 Schedule=rr
	cl dist $VIP4 80 3 || fail "client: $J"
	local after; after=$(jr '.seq | join(" ")')
	local k; k=$(dmesg_bad "$m")
	[[ -z $k ]] || diag "kernel log: $k"
	expect_eq "fuzz_rc=$rc then=$after klog=$([[ -z $k ]] && echo clean || echo BAD)" \
		"fuzz_rc=0 then=rs1 rs2 rs3 klog=clean" "fuzzer result, then balancing, kernel log"
}

# rmmod with open flows succeeds without a splat; the module loads again and
# serves.
t_unload_with_flows() {
	local m ids k rc after
	[[ -n ${EXLB_KO:-} && -f ${EXLB_KO:-} ]] || skip "EXLB_KO not set (the .ko to load again)"
	[[ -f /sys/module/exlb/refcnt ]] || skip "exlb is not a loaded module"
	m=$(dmesg_mark)
	vs_std "$(vs4)" rs4 Schedule=rr
	must vs add "$(vs6)"
	must rs add "$(vs6)" "$(rs6 1)"
	cl open $VIP4 80 n=3 || fail "client: $J"
	ids=$(jr '[.conns[].id] | join(",")')
	diag "open: $(jr '[.conns[] | .name // ("!" + .error)] | join(" ")')"
	cl watch watch="$ids" duration=3 until=reset -- timeout 60 rmmod exlb || fail "client: $J"
	rc=$(jr .run_rc)
	diag "rmmod: exit $rc after $(jr .run_ms) ms: $(jr .run_out)"
	diag "open conns: $(jr -c '[.events[] | "\(.event) \(.ms)ms"]')"
	[[ $rc == 0 ]] || fail "rmmod exlb with open flows failed (exit $rc)"
	insmod "$EXLB_KO" || fail "insmod $EXLB_KO failed"
	vs_std "$(vs4)" rs4 Schedule=rr
	cl dist $VIP4 80 3 || fail "client: $J"
	after=$(jr '.seq | join(" ")')
	k=$(dmesg_bad "$m")
	[[ -z $k ]] || diag "kernel log: $k"
	expect_eq "rmmod=$rc then=$after klog=$([[ -z $k ]] && echo clean || echo BAD)" \
		"rmmod=0 then=rs1 rs2 rs3 klog=clean" "rmmod with open flows, insmod, balancing"
}

# Nothing in the kernel log since the suite started.
t_kernel_log_clean() {
	local k
	k=$(dmesg_bad "${EXLB_DMESG_MARK:-0}")
	[[ -z $k ]] || diag "$k"
	expect_eq "$([[ -z $k ]] && echo clean || echo "$(wc -l <<<"$k") bad lines")" clean \
		"kernel log since the suite started"
}
