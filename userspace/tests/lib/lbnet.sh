# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# The test network of the host's end-to-end scripts: a client, the load
# balancer and two real-server namespaces, addresses from 198.18.0.0/15,
# nothing routed anywhere else. Namespace names carry the caller's PID, so
# scripts (and two runs of one) can run side by side.
#
#   lbnet_setup TAG NET     TAG: two or three letters for the names; NET: a
#                           /24 prefix such as 198.18.20 (NET+1 is used too)
#
#     client  NS_CL   TAG-cl CL_IP=NET.2 ---- TAG-lb LB_IP=NET.1  NS_LB
#                                             VIP=NET.10, VIP2=NET.11
#     rs1     NS_RS1  TAG-rs RS1=NET+1.11 -+- TAG-br LB_RS_IP=NET+1.1 (bridge)
#     rs2     NS_RS2  TAG-rs RS2=NET+1.12 -+
#
#   lbnet_isolated          0 if no namespace has a default route or a route
#                           over a link that is not its own; ISOLATION_BAD
#                           names the ones that do
#   lbnet_cleanup           deletes the namespaces
#   in_cl / in_lb / in_rs1 / in_rs2 CMD...   run CMD in that namespace

lbnet_setup() {
	local tag=$1 net=$2 i ns addr rsnet
	rsnet=${net%.*}.$((${net##*.} + 1))
	LBNET_TAG=$tag
	NS_CL=exlb-$tag-cl-$$ NS_LB=exlb-$tag-lb-$$ NS_RS1=exlb-$tag-rs1-$$ NS_RS2=exlb-$tag-rs2-$$
	CL_IP=$net.2 LB_IP=$net.1 VIP=$net.10 VIP2=$net.11
	LB_RS_IP=$rsnet.1 RS1=$rsnet.11 RS2=$rsnet.12
	for ns in "$NS_CL" "$NS_LB" "$NS_RS1" "$NS_RS2"; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_CL" link add "$tag-cl" type veth peer name "$tag-lb" netns "$NS_LB" &&
	ip -n "$NS_CL" addr add "$CL_IP/24" dev "$tag-cl" &&
	ip -n "$NS_CL" link set "$tag-cl" up &&
	ip -n "$NS_LB" addr add "$LB_IP/24" dev "$tag-lb" &&
	ip -n "$NS_LB" addr add "$VIP/32" dev "$tag-lb" &&
	ip -n "$NS_LB" addr add "$VIP2/32" dev "$tag-lb" &&
	ip -n "$NS_LB" link set "$tag-lb" up &&
	ip -n "$NS_LB" link add "$tag-br" type bridge &&
	ip -n "$NS_LB" addr add "$LB_RS_IP/24" dev "$tag-br" &&
	ip -n "$NS_LB" link set "$tag-br" up || return 1
	for i in 1 2; do
		ns=exlb-$tag-rs$i-$$
		addr=$RS1; [ $i = 2 ] && addr=$RS2
		ip -n "$ns" link add "$tag-rs" type veth peer name "$tag-p$i" netns "$NS_LB" &&
		ip -n "$NS_LB" link set "$tag-p$i" master "$tag-br" up &&
		ip -n "$ns" addr add "$addr/24" dev "$tag-rs" &&
		ip -n "$ns" link set "$tag-rs" up || return 1
	done
}

lbnet_isolated() {
	local ns r
	ISOLATION_BAD=
	for ns in "$NS_CL" "$NS_LB" "$NS_RS1" "$NS_RS2"; do
		r=$(ip -n "$ns" -4 route show table all; ip -n "$ns" -6 route show table all)
		grep -q '^default' <<<"$r" && ISOLATION_BAD+=" $ns"
		grep -v '^$' <<<"$r" | grep -qv " dev \\($LBNET_TAG-[a-z0-9]*\\|lo\\)\\b" &&
			ISOLATION_BAD+=" $ns"
	done
	[ -z "$ISOLATION_BAD" ]
}

lbnet_cleanup() {
	local ns
	for ns in "${NS_CL:-}" "${NS_LB:-}" "${NS_RS1:-}" "${NS_RS2:-}"; do
		[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	done
	return 0
}

in_cl() { ip netns exec "$NS_CL" "$@"; }
in_lb() { ip netns exec "$NS_LB" "$@"; }
in_rs1() { ip netns exec "$NS_RS1" "$@"; }
in_rs2() { ip netns exec "$NS_RS2" "$@"; }
