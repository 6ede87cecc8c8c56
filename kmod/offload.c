// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's flowtable (nf_flow_table, software offload) for established
 * nat flows: once a flow carries a full-sized segment, its packets skip
 * conntrack, nf_nat, routing and exlb's own hooks, and are translated and
 * sent from the ingress hook of the device they arrive on. What exlb keeps
 * for such a flow, and how:
 *
 * - Counters and idle timeouts: the ingress hook is exlb's. It finds the
 *   packet's flowtable entry and exlb flow first, lets the flowtable
 *   forward the packet, and counts and stamps it as the accounting hook
 *   would have (conntrack's own accounting would cost each connection an
 *   extension allocation, 128 bytes, from its SYN on).
 * - Resets: conntrack's sequence tracking stops while the flowtable has the
 *   flow, so an RST built from it would miss. The flow is taken out of the
 *   flowtable (conntrack then picks the tracking up again from the next
 *   packet each way) and each end is sent an out-of-window ACK, which TCP
 *   answers with an ACK carrying exactly what it sent and expects; the
 *   RSTs follow once the answers are in (flow.c).
 * - The flowtable drops a flow whose exlb flow is gone or being reset, at
 *   its own 1 s collection.
 *
 * exlb's ingress hook sits on every device of the namespace only while the
 * flowtable is in use: from the first flow that asks for it until the table
 * has stayed empty for EXLB_OFFLOAD_IDLE_TICKS of exlb's 1 s timer, so that
 * a namespace without bulk flows pays nothing per packet. Module parameter
 * flow_offload, read when the namespace gets its first service.
 */
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/slab.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/route.h>
#include <net/netfilter/nf_conntrack_extend.h>
#include <net/netfilter/nf_flow_table.h>

#include "kmod/exlb.h"

static bool flow_offload = true;
module_param(flow_offload, bool, 0644);
MODULE_PARM_DESC(flow_offload,
		 "established nat flows through nf_flow_table (read when a namespace gets its first service)");

/*
 * A segment this long (IP length; or a GRO aggregate) says the flow moves
 * data in bulk; commands, greetings and keepalives stay on the normal path.
 */
#define EXLB_OFFLOAD_MIN_LEN	1024

/*
 * Hooking and unhooking take RTNL and publish new hook tables: not at every
 * short lull between two transfers.
 */
#define EXLB_OFFLOAD_IDLE_TICKS	10

struct offload_dev {
	struct list_head list;		/* exlb_net.offload_devs */
	struct nf_hook_ops ops;
};

/*
 * The flowtable key of a TCP packet as it arrives on @dev: only plain
 * IPv4 without options or fragments and IPv6 without extension headers,
 * as exlb offloads nothing else (no encapsulation either). -1 otherwise.
 */
static int offload_tuple(struct sk_buff *skb, const struct net_device *dev,
			 struct flow_offload_tuple *t)
{
	const __be16 *ports;
	unsigned int thoff;

	if (skb->protocol == htons(ETH_P_IP)) {
		const struct iphdr *iph;

		if (!pskb_may_pull(skb, sizeof(*iph) + 2 * sizeof(*ports)))
			return -1;
		iph = ip_hdr(skb);
		if (iph->ihl != 5 || iph->protocol != IPPROTO_TCP ||
		    ip_is_fragment(iph))
			return -1;
		t->src_v4.s_addr = iph->saddr;
		t->dst_v4.s_addr = iph->daddr;
		t->l3proto = AF_INET;
		thoff = sizeof(*iph);
	} else if (skb->protocol == htons(ETH_P_IPV6)) {
		const struct ipv6hdr *ip6h;

		if (!pskb_may_pull(skb, sizeof(*ip6h) + 2 * sizeof(*ports)))
			return -1;
		ip6h = ipv6_hdr(skb);
		if (ip6h->nexthdr != IPPROTO_TCP)
			return -1;
		t->src_v6 = ip6h->saddr;
		t->dst_v6 = ip6h->daddr;
		t->l3proto = AF_INET6;
		thoff = sizeof(*ip6h);
	} else {
		return -1;
	}
	ports = (const __be16 *)(skb_network_header(skb) + thoff);
	t->src_port = ports[0];
	t->dst_port = ports[1];
	t->l4proto = IPPROTO_TCP;
	t->iifidx = dev->ifindex;
	return 0;
}

/*
 * The ingress hook on every device of the namespace (RCU held): a packet
 * of an offloaded flow is forwarded by the flowtable, and counted and
 * stamped here for exlb's flow; anything else goes on its normal way.
 */
static unsigned int offload_hook(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct exlb_net *xn = container_of(priv, struct exlb_net, flowtable);
	struct flow_offload_tuple tuple = {};
	struct flow_offload_tuple_rhash *th;
	unsigned int len = skb->len;
	struct flow_offload *fo;
	struct exlb_flow *flow;
	unsigned int verdict;
	bool in;

	/*
	 * Cheap ways out first: nothing offloaded (the usual case for short
	 * connections), or a bridge or bond port (its packets arrive again
	 * on the bridge or bond, where the entries are).
	 */
	if (!atomic_read(&xn->flowtable.rhashtable.nelems) ||
	    netif_is_bridge_port(state->in) || netif_is_lag_port(state->in))
		return NF_ACCEPT;
	if (offload_tuple(skb, state->in, &tuple))
		return NF_ACCEPT;
	th = flow_offload_lookup(priv, &tuple);
	if (!th)
		return NF_ACCEPT;
	fo = container_of(th, struct flow_offload, tuplehash[th->tuple.dir]);
	/*
	 * Torn down (a reset's probe, a FIN or RST): the entry stays in the
	 * table until the flowtable's next collection, and the flowtable would
	 * go on forwarding by it; conntrack must see these packets.
	 */
	if (test_bit(NF_FLOW_TEARDOWN, &fo->flags))
		return NF_ACCEPT;
	in = th->tuple.dir == FLOW_OFFLOAD_DIR_ORIGINAL;
	flow = exlb_flow_lookup(xn, fo->ct);
	if (tuple.l3proto == AF_INET)
		verdict = nf_flow_offload_ip_hook(priv, skb, state);
	else
		verdict = nf_flow_offload_ipv6_hook(priv, skb, state);
	/* forwarded; the flowtable passes what it does not forward */
	if (verdict == NF_STOLEN && flow) {
		exlb_stats_add(flow->real->stats, in, len, false);
		exlb_flow_stamp(flow);
	}
	return verdict;
}

/* The anchor's hook on loopback (see exlb_offload_enable()): lets all pass. */
static unsigned int offload_anchor_hook(void *priv, struct sk_buff *skb,
					const struct nf_hook_state *state)
{
	return NF_ACCEPT;
}

/* The flowtable's collection: true drops the entry. Under RCU. */
static bool offload_gc(const struct flow_offload *fo)
{
	struct exlb_net *xn = exlb_pernet(nf_ct_net(fo->ct));
	struct exlb_flow *flow = exlb_flow_lookup(xn, fo->ct);

	return !flow || (READ_ONCE(flow->offload) & EXLB_PROBED);
}

static struct nf_flowtable_type offload_type = {
	.family = NFPROTO_INET,
	.gc = offload_gc,
	.hook = offload_hook,
	.owner = THIS_MODULE,
};

/* Under RTNL (the notifier). */
static void offload_dev_hook(struct exlb_net *xn, struct net_device *dev)
{
	struct offload_dev *od;

	if (dev->flags & IFF_LOOPBACK)
		return;
	od = kzalloc(sizeof(*od), GFP_KERNEL);
	if (!od)
		goto fail;
	od->ops.hook = offload_hook;
	od->ops.pf = NFPROTO_NETDEV;
	od->ops.hooknum = NF_NETDEV_INGRESS;
	od->ops.priority = 0;
	od->ops.priv = &xn->flowtable;
	od->ops.dev = dev;
	if (nf_register_net_hook(xn->net, &od->ops)) {
		kfree(od);
		goto fail;
	}
	list_add(&od->list, &xn->offload_devs);
	WRITE_ONCE(xn->offload_ndevs, xn->offload_ndevs + 1);
	return;
fail:
	/* its flows just take the normal path */
	netdev_warn(dev, "exlb: no flowtable hook on this device\n");
}

/* Under RTNL: takes @od's hook off its device and frees it. */
static void offload_dev_free(struct exlb_net *xn, struct offload_dev *od)
{
	nf_unregister_net_hook(xn->net, &od->ops);
	list_del(&od->list);
	kfree(od);
	WRITE_ONCE(xn->offload_ndevs, xn->offload_ndevs - 1);
}

static void offload_dev_unhook(struct exlb_net *xn, struct net_device *dev)
{
	struct offload_dev *od;

	list_for_each_entry(od, &xn->offload_devs, list) {
		if (od->ops.dev == dev) {
			offload_dev_free(xn, od);
			break;
		}
	}
	/* entries whose routes use the device (hooked or not) go */
	nf_flow_table_cleanup(dev);
}

static int offload_netdev_event(struct notifier_block *nb,
				unsigned long event, void *ptr)
{
	struct exlb_net *xn = container_of(nb, struct exlb_net, offload_nb);
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);

	if (event == NETDEV_REGISTER && xn->offload_hooked) {
		offload_dev_hook(xn, dev);
	} else if (event == NETDEV_UNREGISTER) {
		offload_dev_unhook(xn, dev);
		/* the namespace is going (or the notifier): the anchor too */
		if (xn->offload_anchor.dev == dev) {
			nf_unregister_net_hook(xn->net, &xn->offload_anchor);
			xn->offload_anchor.dev = NULL;
		}
	}
	return NOTIFY_DONE;
}

/*
 * Puts the ingress hooks on every device or takes them off, as wanted: the
 * packet path wants them (exlb_offload_try()), the timer no longer does
 * (exlb_offload_gc()). An entry added between the count of entries below
 * and the hooks' removal has its packets take the normal path, where
 * conntrack and exlb's hooks see them, until the flowtable expires it.
 */
static void offload_hooks_work(struct work_struct *work)
{
	struct exlb_net *xn = container_of(work, struct exlb_net, offload_work);
	struct offload_dev *od, *tmp;
	struct net_device *dev;

	rtnl_lock();
	if (!READ_ONCE(xn->offload_on))
		goto out;
	if (READ_ONCE(xn->offload_want) && !xn->offload_hooked) {
		for_each_netdev(xn->net, dev)
			offload_dev_hook(xn, dev);
		/* entries only from now on: their packets find the hooks */
		WRITE_ONCE(xn->offload_hooked, true);
	} else if (!READ_ONCE(xn->offload_want) && xn->offload_hooked) {
		if (atomic_read(&xn->flowtable.rhashtable.nelems)) {
			/* in use again since the timer looked */
			WRITE_ONCE(xn->offload_want, true);
			goto out;
		}
		WRITE_ONCE(xn->offload_hooked, false);
		list_for_each_entry_safe(od, tmp, &xn->offload_devs, list)
			offload_dev_free(xn, od);
	}
out:
	rtnl_unlock();
}

/*
 * From exlb's timer, once a second: the hooks are not wanted any more
 * when the table has stayed empty for EXLB_OFFLOAD_IDLE_TICKS.
 */
void exlb_offload_gc(struct exlb_net *xn)
{
	if (!READ_ONCE(xn->offload_hooked) || !READ_ONCE(xn->offload_want))
		return;
	if (atomic_read(&xn->flowtable.rhashtable.nelems)) {
		xn->offload_idle_ticks = 0;
		return;
	}
	if (++xn->offload_idle_ticks < EXLB_OFFLOAD_IDLE_TICKS)
		return;
	xn->offload_idle_ticks = 0;
	WRITE_ONCE(xn->offload_want, false);
	schedule_work(&xn->offload_work);
}

/* From exlb_hooks_enable(), before the packet hooks exist. */
int exlb_offload_enable(struct exlb_net *xn)
{
	int err;

	WRITE_ONCE(xn->offload_on, false);
	if (!READ_ONCE(flow_offload))
		return 0;
	xn->offload_want = false;
	xn->offload_hooked = false;
	xn->offload_idle_ticks = 0;
	INIT_WORK(&xn->offload_work, offload_hooks_work);
	memset(&xn->flowtable, 0, sizeof(xn->flowtable));
	xn->flowtable.type = &offload_type;
	write_pnet(&xn->flowtable.net, xn->net);
	err = nf_flow_table_init(&xn->flowtable);
	if (err)
		return err;
	/*
	 * The anchor: one hook, on loopback (whose packets it passes at once),
	 * from now until the last service goes. The first ingress hook of the
	 * system and the last one's removal patch the kernel's text (the
	 * ingress static keys) on every CPU; with the anchor that happens
	 * here, at configuration time, and never when the hooks come and go
	 * in the middle of traffic (under TCG such a patch stalled the VM).
	 */
	xn->offload_anchor = (struct nf_hook_ops) {
		.hook = offload_anchor_hook,
		.pf = NFPROTO_NETDEV,
		.hooknum = NF_NETDEV_INGRESS,
		.dev = xn->net->loopback_dev,
	};
	err = nf_register_net_hook(xn->net, &xn->offload_anchor);
	if (err)
		goto err_table;
	INIT_LIST_HEAD(&xn->offload_devs);
	xn->offload_ndevs = 0;
	xn->offload_nb.notifier_call = offload_netdev_event;
	/* follows the devices there are now, then those that come */
	err = register_netdevice_notifier_net(xn->net, &xn->offload_nb);
	if (err)
		goto err_anchor;
	WRITE_ONCE(xn->offload_on, true);
	return 0;

err_anchor:
	/* (a failed notifier registration may have taken it off already) */
	if (xn->offload_anchor.dev)
		nf_unregister_net_hook(xn->net, &xn->offload_anchor);
err_table:
	nf_flow_table_free(&xn->flowtable);
	return err;
}

/* What GET_GLOBALS shows of the fast path; under the config lock. */
void exlb_offload_counts(struct exlb_net *xn, u32 *entries, u32 *devs)
{
	lockdep_assert_held(&xn->lock);
	*entries = 0;
	*devs = 0;
	if (!xn->offload_on)
		return;
	/* an entry is in the table once per direction */
	*entries = atomic_read(&xn->flowtable.rhashtable.nelems) / 2;
	*devs = READ_ONCE(xn->offload_ndevs);
}

/* From exlb_hooks_disable(), once no packet hook can run any more. */
void exlb_offload_disable(struct exlb_net *xn)
{
	if (!xn->offload_on)
		return;
	WRITE_ONCE(xn->offload_on, false);
	/* the timer is stopped: nothing queues it again */
	cancel_work_sync(&xn->offload_work);
	/* unhooks every device hooked, and the anchor */
	unregister_netdevice_notifier_net(xn->net, &xn->offload_nb);
	xn->offload_hooked = false;
	nf_flow_table_free(&xn->flowtable);
}

/*
 * The route the flowtable sends @ct's packets of direction @dir on: to
 * the other end's address as the translation left it, from the address it
 * sees; through @oif if not 0. NULL if that is not a plain forward.
 */
static struct dst_entry *offload_route(struct net *net, const struct nf_conn *ct,
				       enum ip_conntrack_dir dir, int oif)
{
	const struct nf_conntrack_tuple *t = &ct->tuplehash[!dir].tuple;
	struct dst_entry *dst;

	if (nf_ct_l3num(ct) == AF_INET) {
		struct flowi4 fl4 = {
			.daddr = t->src.u3.ip,
			.saddr = t->dst.u3.ip,
			.flowi4_oif = oif,
			.flowi4_proto = IPPROTO_TCP,
			.flowi4_flags = FLOWI_FLAG_ANYSRC,
		};
		struct rtable *rt = ip_route_output_key(net, &fl4);

		if (IS_ERR(rt))
			return NULL;
		if (rt->rt_type != RTN_UNICAST) {
			ip_rt_put(rt);
			return NULL;
		}
		dst = &rt->dst;
	} else {
		struct flowi6 fl6 = {
			.daddr = t->src.u3.in6,
			.saddr = t->dst.u3.in6,
			.flowi6_oif = oif,
			.flowi6_proto = IPPROTO_TCP,
			.flowi6_flags = FLOWI_FLAG_ANYSRC,
		};

		dst = ip6_route_output(net, NULL, &fl6);
		if (dst->error ||
		    (dst_rt6_info(dst)->rt6i_flags & (RTF_LOCAL | RTF_REJECT)))
			goto bad;
	}
	if ((dst->dev->flags & IFF_LOOPBACK) || dst_xfrm(dst))
		goto bad;
	return dst;
bad:
	dst_release(dst);
	return NULL;
}

/*
 * Packet path (PRE_ROUTING, after conntrack): hands an established nat
 * flow that moves data to the flowtable, as nftables' `flow add` would.
 * The routes both ways are looked up once here; the reply way must leave
 * by the device this packet came in on.
 */
void exlb_offload_try(struct exlb_net *xn, struct exlb_flow *flow,
		      struct sk_buff *skb, const struct nf_hook_state *state)
{
	struct nf_flow_route route = {};
	enum ip_conntrack_info ctinfo;
	enum ip_conntrack_dir dir;
	struct flow_offload *fo;
	struct dst_entry *dst;
	struct nf_conn *ct;

	if (!READ_ONCE(xn->offload_on) || flow->kind != EXLB_FLOW_NAT ||
	    state->hook != NF_INET_PRE_ROUTING ||
	    (skb->len < EXLB_OFFLOAD_MIN_LEN && !skb_is_gso(skb)) ||
	    (READ_ONCE(flow->offload) & (EXLB_PROBED | EXLB_NO_ROUTE)))
		return;
	ct = nf_ct_get(skb, &ctinfo);
	if (READ_ONCE(ct->proto.tcp.state) != TCP_CONNTRACK_ESTABLISHED)
		return;
	if ((READ_ONCE(ct->status) & (IPS_OFFLOAD | IPS_SEQ_ADJUST | IPS_NAT_CLASH)) ||
	    !nf_ct_is_confirmed(ct) || nf_ct_ext_exist(ct, NF_CT_EXT_HELPER) ||
	    skb_sec_path(skb) ||
	    (state->pf == NFPROTO_IPV4 && ip_hdr(skb)->ihl > 5))
		return;
	if (!READ_ONCE(xn->offload_hooked)) {
		/* a later packet is offloaded, once the hooks are in */
		if (!READ_ONCE(xn->offload_want)) {
			WRITE_ONCE(xn->offload_want, true);
			schedule_work(&xn->offload_work);
		}
		return;
	}
	if (test_and_set_bit(IPS_OFFLOAD_BIT, &ct->status))
		return;

	dir = CTINFO2DIR(ctinfo);
	dst = offload_route(xn->net, ct, dir, 0);
	if (!dst)
		goto no_route;
	route.tuple[dir].dst = dst;
	route.tuple[dir].xmit_type = FLOW_OFFLOAD_XMIT_NEIGH;
	route.tuple[!dir].in.ifindex = dst->dev->ifindex;
	dst = offload_route(xn->net, ct, !dir, state->in->ifindex);
	if (!dst) {
		dst_release(route.tuple[dir].dst);
		goto no_route;
	}
	route.tuple[!dir].dst = dst;
	route.tuple[!dir].xmit_type = FLOW_OFFLOAD_XMIT_NEIGH;
	route.tuple[dir].in.ifindex = dst->dev->ifindex;

	fo = flow_offload_alloc(ct);
	if (!fo)
		goto release;
	flow_offload_route_init(fo, &route);	/* takes the routes */

	/* conntrack will not see every segment: no window checks */
	spin_lock_bh(&ct->lock);
	ct->proto.tcp.seen[0].flags |= IP_CT_TCP_FLAG_BE_LIBERAL;
	ct->proto.tcp.seen[1].flags |= IP_CT_TCP_FLAG_BE_LIBERAL;
	spin_unlock_bh(&ct->lock);

	/* conntrack's sequence tracking stops: resets probe first (flow.c) */
	exlb_flow_offload_set(flow, EXLB_OFFLOADED);
	if (flow_offload_add(&xn->flowtable, fo)) {
		flow_offload_free(fo);
		goto clear;
	}
	return;

release:
	dst_release(route.tuple[IP_CT_DIR_ORIGINAL].dst);
	dst_release(route.tuple[IP_CT_DIR_REPLY].dst);
clear:
	clear_bit(IPS_OFFLOAD_BIT, &ct->status);
	return;
no_route:
	/* a local real server, a route elsewhere: not retried per packet */
	exlb_flow_offload_set(flow, EXLB_NO_ROUTE);
	goto clear;
}

/*
 * Takes @flow's entry out of the flowtable now, so that the next packets
 * (the answers to the reset probes) pass conntrack. The entry is found by
 * its original tuple and the device the client's packets come in on, as
 * routing says now; if routing changed since, the flowtable's collection
 * drops it within a second (offload_gc()).
 */
void exlb_offload_stop(struct exlb_net *xn, struct exlb_flow *flow)
{
	const struct nf_conntrack_tuple *t =
		&flow->ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	struct flow_offload_tuple_rhash *th;
	struct flow_offload_tuple tuple = {};
	struct dst_entry *dst;

	if (!xn->offload_on || !test_bit(IPS_OFFLOAD_BIT, &flow->ct->status))
		return;
	dst = offload_route(xn->net, flow->ct, IP_CT_DIR_REPLY, 0);
	if (!dst)
		return;
	tuple.iifidx = dst->dev->ifindex;
	dst_release(dst);
	if (nf_ct_l3num(flow->ct) == AF_INET) {
		tuple.src_v4 = t->src.u3.in;
		tuple.dst_v4 = t->dst.u3.in;
	} else {
		tuple.src_v6 = t->src.u3.in6;
		tuple.dst_v6 = t->dst.u3.in6;
	}
	tuple.src_port = t->src.u.tcp.port;
	tuple.dst_port = t->dst.u.tcp.port;
	tuple.l3proto = nf_ct_l3num(flow->ct);
	tuple.l4proto = IPPROTO_TCP;

	rcu_read_lock();
	th = flow_offload_lookup(&xn->flowtable, &tuple);
	if (th)
		flow_offload_teardown(container_of(th, struct flow_offload,
						   tuplehash[th->tuple.dir]));
	rcu_read_unlock();
}
