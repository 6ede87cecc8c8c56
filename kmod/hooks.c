// SPDX-License-Identifier: GPL-2.0
/*
 * Where exlb meets the packets. Translation is conntrack's and nf_nat's:
 * exlb only chooses the binding of each new connection, through nf_nat's
 * lookup hooks (the same entry point as an nftables nat chain), so the
 * binding is made once, before the entry is confirmed, and everything
 * nf_nat does (checksums, ICMP errors, source ports, conntrack sync) keeps
 * working. Besides, one plain hook right after conntrack counts packets
 * and follows each flow's TCP state. All hooks exist only while the
 * namespace has services.
 */
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_nat.h>
#include <net/netfilter/nf_nat_masquerade.h>

#include "kmod/exlb.h"

static u16 hook_family(const struct nf_hook_state *state)
{
	return state->pf == NFPROTO_IPV4 ? AF_INET : AF_INET6;
}

/* After conntrack, before NAT: count the packet, note the TCP state. */
static unsigned int exlb_account(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	enum ip_conntrack_info ctinfo;
	struct exlb_flow *flow;
	struct nf_conn *ct;
	bool in;

	ct = nf_ct_get(skb, &ctinfo);
	/* Every flow of ours is destination-NATed: a cheap filter first. */
	if (!ct || !(READ_ONCE(ct->status) & IPS_DST_NAT))
		return NF_ACCEPT;
	flow = exlb_flow_lookup(exlb_pernet(state->net), ct);
	if (!flow)
		return NF_ACCEPT;

	in = CTINFO2DIR(ctinfo) == IP_CT_DIR_ORIGINAL;
	exlb_stats_add(flow->svc->stats, in, skb->len, false);
	exlb_stats_add(flow->real->stats, in, skb->len, false);
	/* one write per jiffy at most: the line is shared by both directions */
	if (time_after(jiffies, READ_ONCE(flow->last_seen)))
		WRITE_ONCE(flow->last_seen, jiffies);
	exlb_flow_seen(exlb_pernet(state->net), flow,
		       READ_ONCE(ct->proto.tcp.state));
	return NF_ACCEPT;
}

/*
 * nf_nat asks, for the first packet of a connection, whether to translate
 * its destination. A SYN to a VIP gets a real server; a SYN that none can
 * take gets a RST; anything else to a VIP that conntrack sees as new is a
 * leftover of a flow that was reset, and is dropped.
 */
static unsigned int exlb_nat_dst(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct exlb_net *xn = exlb_pernet(state->net);
	const struct nf_conntrack_tuple *tuple;
	struct nf_nat_range2 range = {};
	enum ip_conntrack_info ctinfo;
	struct exlb_service *svc;
	struct exlb_real *real;
	struct exlb_flow *flow;
	struct nf_conn *ct;
	bool persisted;

	ct = nf_ct_get(skb, &ctinfo);
	if (!ct || ctinfo != IP_CT_NEW || nf_ct_protonum(ct) != IPPROTO_TCP)
		return NF_ACCEPT;
	tuple = &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	svc = exlb_service_lookup_addr(xn, hook_family(state), &tuple->dst.u3,
				       tuple->dst.u.tcp.port);
	if (!svc)
		return NF_ACCEPT;
	if (READ_ONCE(ct->proto.tcp.state) != TCP_CONNTRACK_SYN_SENT)
		return NF_DROP;

	flow = exlb_flow_alloc(ct);
	if (!flow)
		return NF_DROP;
	spin_lock_bh(&svc->sched_lock);
	real = exlb_schedule(svc, &tuple->src.u3, &persisted);
	if (real)
		exlb_flow_bind(flow, svc, real, persisted);
	spin_unlock_bh(&svc->sched_lock);
	if (!real) {
		exlb_flow_free(flow);
		exlb_reset_syn(state->net, ct);
		return NF_DROP;
	}

	range.flags = NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED;
	range.min_addr = real->addr;
	range.max_addr = real->addr;
	range.min_proto.tcp.port = real->port;
	range.max_proto.tcp.port = real->port;
	if (nf_nat_setup_info(ct, &range, NF_NAT_MANIP_DST) != NF_ACCEPT ||
	    exlb_flow_insert(xn, flow)) {
		exlb_flow_abort(xn, flow);
		return NF_DROP;
	}
	exlb_stats_add(svc->stats, true, skb->len, true);
	exlb_stats_add(real->stats, true, skb->len, true);
	return NF_ACCEPT;
}

/*
 * nf_nat asks, as the first packet leaves, whether to translate its
 * source: Kemp's Transparent (keep the client), SubnetOriginating (the
 * address of the interface towards the real server) or neither (the VIP).
 */
static unsigned int exlb_nat_src(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct nf_nat_range2 range = {};
	enum ip_conntrack_info ctinfo;
	struct exlb_flow *flow;
	struct nf_conn *ct;
	u32 flags;

	ct = nf_ct_get(skb, &ctinfo);
	if (!ct || ctinfo != IP_CT_NEW || !(READ_ONCE(ct->status) & IPS_DST_NAT))
		return NF_ACCEPT;
	flow = exlb_flow_lookup(exlb_pernet(state->net), ct);
	if (!flow)
		return NF_ACCEPT;

	flags = READ_ONCE(flow->svc->flags);
	if (flags & EXLB_SVC_F_TRANSPARENT)
		return NF_ACCEPT;
	if (flags & EXLB_SVC_F_SUBNET_ORIGINATING) {
		if (state->pf == NFPROTO_IPV4)
			return nf_nat_masquerade_ipv4(skb, state->hook, &range,
						      state->out);
		return nf_nat_masquerade_ipv6(skb, &range, state->out);
	}
	range.flags = NF_NAT_RANGE_MAP_IPS;
	range.min_addr = flow->svc->addr;
	range.max_addr = flow->svc->addr;
	return nf_nat_setup_info(ct, &range, NF_NAT_MANIP_SRC);
}

static const struct nf_hook_ops exlb_account_ops[] = {
	{
		.hook = exlb_account,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_PRE_ROUTING,
		.priority = NF_IP_PRI_CONNTRACK + 1,
	},
	{
		.hook = exlb_account,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_LOCAL_OUT,
		.priority = NF_IP_PRI_CONNTRACK + 1,
	},
	{
		.hook = exlb_account,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_PRE_ROUTING,
		.priority = NF_IP6_PRI_CONNTRACK + 1,
	},
	{
		.hook = exlb_account,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_LOCAL_OUT,
		.priority = NF_IP6_PRI_CONNTRACK + 1,
	},
};

/* Just before nftables' own dstnat/srcnat chains. */
static const struct nf_hook_ops exlb_nat4_ops[] = {
	{
		.hook = exlb_nat_dst,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_PRE_ROUTING,
		.priority = NF_IP_PRI_NAT_DST - 1,
	},
	{
		.hook = exlb_nat_dst,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_LOCAL_OUT,
		.priority = NF_IP_PRI_NAT_DST - 1,
	},
	{
		.hook = exlb_nat_src,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_POST_ROUTING,
		.priority = NF_IP_PRI_NAT_SRC - 1,
	},
};

static const struct nf_hook_ops exlb_nat6_ops[] = {
	{
		.hook = exlb_nat_dst,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_PRE_ROUTING,
		.priority = NF_IP6_PRI_NAT_DST - 1,
	},
	{
		.hook = exlb_nat_dst,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_LOCAL_OUT,
		.priority = NF_IP6_PRI_NAT_DST - 1,
	},
	{
		.hook = exlb_nat_src,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_POST_ROUTING,
		.priority = NF_IP6_PRI_NAT_SRC - 1,
	},
};

static int nat_register(struct net *net, const struct nf_hook_ops *ops,
			unsigned int n,
			int (*reg)(struct net *, const struct nf_hook_ops *),
			void (*unreg)(struct net *, const struct nf_hook_ops *))
{
	unsigned int i;
	int err;

	for (i = 0; i < n; i++) {
		err = reg(net, &ops[i]);
		if (err) {
			while (i--)
				unreg(net, &ops[i]);
			return err;
		}
	}
	return 0;
}

static void nat_unregister(struct net *net, const struct nf_hook_ops *ops,
			   unsigned int n,
			   void (*unreg)(struct net *, const struct nf_hook_ops *))
{
	while (n--)
		unreg(net, &ops[n]);
}

int exlb_hooks_enable(struct exlb_net *xn)
{
	struct net *net = xn->net;
	int err;

	lockdep_assert_held(&xn->lock);
	err = nf_ct_netns_get(net, NFPROTO_IPV4);
	if (err)
		return err;
	err = nf_ct_netns_get(net, NFPROTO_IPV6);
	if (err)
		goto err_ct4;
	err = nf_register_net_hooks(net, exlb_account_ops,
				    ARRAY_SIZE(exlb_account_ops));
	if (err)
		goto err_ct6;
	err = nat_register(net, exlb_nat4_ops, ARRAY_SIZE(exlb_nat4_ops),
			   nf_nat_ipv4_register_fn, nf_nat_ipv4_unregister_fn);
	if (err)
		goto err_account;
	err = nat_register(net, exlb_nat6_ops, ARRAY_SIZE(exlb_nat6_ops),
			   nf_nat_ipv6_register_fn, nf_nat_ipv6_unregister_fn);
	if (err)
		goto err_nat4;
	WRITE_ONCE(xn->hooks_on, true);
	exlb_gc_start(xn);
	return 0;

err_nat4:
	nat_unregister(net, exlb_nat4_ops, ARRAY_SIZE(exlb_nat4_ops),
		       nf_nat_ipv4_unregister_fn);
err_account:
	nf_unregister_net_hooks(net, exlb_account_ops,
				ARRAY_SIZE(exlb_account_ops));
err_ct6:
	nf_ct_netns_put(net, NFPROTO_IPV6);
err_ct4:
	nf_ct_netns_put(net, NFPROTO_IPV4);
	return err;
}

/* The mirror of exlb_hooks_enable(); the namespace has no flows left. */
void exlb_hooks_disable(struct exlb_net *xn)
{
	struct net *net = xn->net;

	lockdep_assert_held(&xn->lock);
	WRITE_ONCE(xn->hooks_on, false);
	exlb_gc_stop(xn);
	nat_unregister(net, exlb_nat6_ops, ARRAY_SIZE(exlb_nat6_ops),
		       nf_nat_ipv6_unregister_fn);
	nat_unregister(net, exlb_nat4_ops, ARRAY_SIZE(exlb_nat4_ops),
		       nf_nat_ipv4_unregister_fn);
	nf_unregister_net_hooks(net, exlb_account_ops,
				ARRAY_SIZE(exlb_account_ops));
	nf_ct_netns_put(net, NFPROTO_IPV6);
	nf_ct_netns_put(net, NFPROTO_IPV4);
	/* nf_nat drops a lookup hook without waiting: a CPU may be in it */
	synchronize_net();
}
