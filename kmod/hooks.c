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
#include <linux/jhash.h>
#include <linux/netfilter_ipv4.h>
#include <linux/random.h>
#include <linux/netfilter_ipv6.h>
#include <linux/tcp.h>
#include <linux/time.h>
#include <net/dst.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/route.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_nat.h>
#include <net/netfilter/nf_nat_masquerade.h>

#include "kmod/exlb.h"

static u16 hook_family(const struct nf_hook_state *state)
{
	return state->pf == NFPROTO_IPV4 ? AF_INET : AF_INET6;
}

/*
 * forward=route: the route to a real server that must be on a directly
 * connected network, with the real server itself as the next hop
 * (FLOWI_FLAG_KNOWN_NH gives an uncached route whose gateway is the
 * address we asked for, so the VIP in the header does not matter for the
 * neighbour lookup). NULL if the real server is not on-link.
 */
static struct dst_entry *route_to_real4(struct net *net, __be32 rs, u8 tos)
{
	struct flowi4 fl4 = {
		.daddr = rs,
		.flowi4_tos = RT_TOS(tos),
		.flowi4_flags = FLOWI_FLAG_KNOWN_NH,
	};
	struct rtable *rt;

	rt = ip_route_output_key(net, &fl4);
	if (IS_ERR(rt))
		return NULL;
	if (rt->rt_type != RTN_UNICAST || rt->rt_uses_gateway ||
	    rt->rt_gw_family != AF_INET || rt->rt_gw4 != rs) {
		ip_rt_put(rt);
		return NULL;
	}
	return &rt->dst;
}

static struct dst_entry *route_to_real6(struct net *net,
					const struct in6_addr *rs)
{
	struct flowi6 fl6 = {
		.daddr = *rs,
		.flowi6_flags = FLOWI_FLAG_KNOWN_NH,
	};
	struct dst_entry *dst;
	struct rt6_info *rt;

	dst = ip6_route_output(net, NULL, &fl6);
	if (dst->error)
		goto bad;
	rt = dst_rt6_info(dst);
	if ((rt->rt6i_flags & (RTF_GATEWAY | RTF_LOCAL | RTF_REJECT)) ||
	    (dst->dev->flags & IFF_LOOPBACK) ||
	    !ipv6_addr_equal(rt6_nexthop(rt, rs), rs))
		goto bad;
	return dst;
bad:
	dst_release(dst);
	return NULL;
}

struct dst_entry *exlb_route_to_real(struct net *net, u16 family,
				     const union nf_inet_addr *rs, u8 tos)
{
	if (family == AF_INET)
		return route_to_real4(net, rs->ip, tos);
	return route_to_real6(net, &rs->in6);
}

/*
 * Transmits a client packet of a route flow to its real server unchanged
 * (no TTL or hop limit decrement, no checksum change, like IPVS's DR), so
 * it is never delivered to the VIP on this host. The skb keeps its
 * conntrack entry: POST_ROUTING (nf_nat's null source binding, conntrack
 * confirmation for the first packet) still sees it.
 */
static unsigned int route_xmit(struct sk_buff *skb,
			       const struct nf_hook_state *state,
			       const struct exlb_real *real)
{
	u16 family = hook_family(state);
	struct dst_entry *dst;
	u8 tos;

	tos = family == AF_INET ? ip_hdr(skb)->tos : ipv6_get_dsfield(ipv6_hdr(skb));
	dst = exlb_route_to_real(state->net, family, &real->addr, tos);
	if (!dst)
		return NF_DROP;
	skb_dst_drop(skb);
	skb_dst_set(skb, dst);
	skb->protocol = htons(family == AF_INET ? ETH_P_IP : ETH_P_IPV6);
	skb_forward_csum(skb);
	skb_clear_tstamp(skb);
	dst_output(state->net, skb->sk, skb);
	return NF_STOLEN;
}

/*
 * The TCP header of @skb (copied to @buf if need be) and the sequence
 * number just past its segment in *@end; NULL if it has none.
 */
static const struct tcphdr *tcp_segment(struct sk_buff *skb, u16 family,
					struct tcphdr *buf, u32 *end)
{
	const struct tcphdr *th;
	unsigned int thoff;

	if (family == AF_INET) {
		if (ip_hdr(skb)->protocol != IPPROTO_TCP)
			return NULL;	/* an ICMP error about the flow */
		thoff = skb_network_offset(skb) + ip_hdrlen(skb);
	} else {
		__be16 frag_off;
		u8 nexthdr = ipv6_hdr(skb)->nexthdr;
		int off;

		off = ipv6_skip_exthdr(skb, skb_network_offset(skb) +
				       sizeof(struct ipv6hdr), &nexthdr, &frag_off);
		if (off < 0 || nexthdr != IPPROTO_TCP)
			return NULL;
		thoff = off;
	}
	th = skb_header_pointer(skb, thoff, sizeof(*buf), buf);
	if (!th || skb->len < thoff + th->doff * 4)
		return NULL;
	*end = ntohl(th->seq) + (skb->len - thoff - th->doff * 4) + th->syn + th->fin;
	return th;
}

/*
 * Adopted flows: notes the highest sequence end and ACK each way (best
 * effort: two CPUs may race on one direction).
 */
static void adopted_track(struct exlb_flow *flow, struct sk_buff *skb,
			  u16 family, enum ip_conntrack_dir dir)
{
	struct exlb_flow_ext *ext = exlb_flow_ext(flow);
	const struct tcphdr *th;
	struct tcphdr _th;
	bool seen;
	u32 end;

	th = tcp_segment(skb, family, &_th, &end);
	if (!th || !th->ack)
		return;
	seen = READ_ONCE(ext->adopted.seen[dir]);
	if (!seen || after(end, READ_ONCE(ext->adopted.end[dir])))
		WRITE_ONCE(ext->adopted.end[dir], end);
	if (!seen || after(ntohl(th->ack_seq), READ_ONCE(ext->adopted.ack[dir])))
		WRITE_ONCE(ext->adopted.ack[dir], ntohl(th->ack_seq));
	if (!seen)
		WRITE_ONCE(ext->adopted.seen[dir], true);
}

/* Route flows: notes the client's next sequence number and highest ACK. */
static void route_track(struct exlb_flow *flow, struct sk_buff *skb,
			u16 family)
{
	struct exlb_flow_ext *ext = exlb_flow_ext(flow);
	struct tcphdr _th;
	const struct tcphdr *th;
	u32 end, ack;

	th = tcp_segment(skb, family, &_th, &end);
	if (!th)
		return;
	if (!READ_ONCE(ext->route.end) || after(end, READ_ONCE(ext->route.end)))
		WRITE_ONCE(ext->route.end, end);
	if (!th->ack)
		return;
	ack = ntohl(th->ack_seq);
	if (!READ_ONCE(ext->route.acked) || after(ack, READ_ONCE(ext->route.ack))) {
		WRITE_ONCE(ext->route.ack, ack);
		WRITE_ONCE(ext->route.acked, true);
	}
}

/*
 * Route flows are not destination-NATed, so they need their own filter
 * (no conntrack status bit is ours to add): a confirmed TCP entry seen in
 * its original direction whose destination is a VIP. For other traffic
 * that is one lookup in the small VIP hash, usually an empty bucket. An
 * unconfirmed entry (the first packet, a SYN to a VIP included) has no
 * flow yet: exlb_nat_dst() makes it later on the packet's way.
 */
static struct exlb_flow *route_flow(struct exlb_net *xn, struct nf_conn *ct,
				    enum ip_conntrack_info ctinfo, u16 family)
{
	const struct nf_conntrack_tuple *t;

	if (CTINFO2DIR(ctinfo) != IP_CT_DIR_ORIGINAL ||
	    nf_ct_protonum(ct) != IPPROTO_TCP || !nf_ct_is_confirmed(ct))
		return NULL;
	t = &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	if (!exlb_service_lookup_addr(xn, family, &t->dst.u3, t->dst.u.tcp.port))
		return NULL;
	return exlb_flow_lookup(xn, ct);
}

/*
 * HA takeover: conntrackd committed the peer's entries into our conntrack
 * table through ctnetlink, with their NAT bindings, so nf_nat translates
 * them and never asks exlb_nat_dst() (that is only asked for an entry's
 * first packet): the scheduler never sees them as new connections. What
 * exlb lacks is the flow. A destination-NATed TCP entry without a flow
 * whose original destination is a service and that is not closing is one
 * of those (exlb's own flows leave the table only when closed, or with
 * their entry killed): it gets a flow bound to the real server its reply
 * comes from, as if this node had scheduled it, and is counted in the
 * namespace's adopted counter. It is refused, with RSTs to both ends,
 * where this node would have reset a flow of its own: the real server is
 * not one of the service's here (deleted, or the nodes' configurations
 * differ), or it is down while droponfail is on. A draining (disabled)
 * real server keeps its adopted flows, as it keeps its own.
 *
 * Returns the verdict: NF_ACCEPT with *flowp the flow (NULL: not exlb's),
 * NF_DROP when the entry was reset or no memory was left for the flow
 * (the next packet tries again).
 */
static unsigned int adopt(struct exlb_net *xn, struct nf_conn *ct, u16 family,
			  struct exlb_flow **flowp)
{
	const struct nf_conntrack_tuple *orig =
		&ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	const struct nf_conntrack_tuple *reply =
		&ct->tuplehash[IP_CT_DIR_REPLY].tuple;
	struct exlb_service *svc;
	struct exlb_real *real;
	struct exlb_flow *flow;
	bool persisted;
	int err;

	*flowp = NULL;
	if (nf_ct_protonum(ct) != IPPROTO_TCP || !nf_ct_is_confirmed(ct) ||
	    nf_ct_is_dying(ct))
		return NF_ACCEPT;
	svc = exlb_service_lookup_addr(xn, family, &orig->dst.u3,
				       orig->dst.u.tcp.port);
	if (!svc)
		return NF_ACCEPT;
	/* one of ours in TIME_WAIT or CLOSE, released at its close */
	if (exlb_flow_class_of(READ_ONCE(ct->proto.tcp.state)) == EXLB_FLOW_CLOSED)
		return NF_ACCEPT;

	flow = exlb_flow_alloc(ct, EXLB_FLOW_ADOPTED);
	if (!flow)
		return NF_DROP;
	spin_lock_bh(&svc->sched_lock);
	real = svc->dead ? NULL : exlb_real_find(svc, &reply->src.u3,
						 reply->src.u.tcp.port);
	if (real && real->forward != EXLB_FORWARD_NAT)
		real = NULL;
	if (real) {
		exlb_sched_adopt(svc, real, &orig->src.u3, &persisted);
		exlb_flow_bind(flow, real, persisted);
	}
	spin_unlock_bh(&svc->sched_lock);
	if (!real) {
		exlb_flow_free(flow);
		goto refuse;
	}
	err = exlb_flow_insert(xn, flow);
	if (err == -EEXIST) {
		/* another CPU adopted it from the other direction */
		exlb_flow_abort(xn, flow);
		*flowp = exlb_flow_lookup(xn, ct);
		return NF_ACCEPT;
	}
	if (err) {
		exlb_flow_abort(xn, flow);
		if (err == -ESHUTDOWN)	/* its real server went (or is down) */
			goto refuse;
		return NF_DROP;		/* no memory: the next packet retries */
	}
	atomic64_inc(&xn->adopted);
	*flowp = flow;
	return NF_ACCEPT;

refuse:
	atomic64_inc(&xn->adopt_reset);
	exlb_reset_conntrack(xn->net, ct);
	nf_ct_kill(ct);
	return NF_DROP;
}

/*
 * After conntrack, before NAT: count the packet (in its real server's
 * counters only: a service's are the sum of its reals'), note the TCP
 * state; a client packet of a route flow is sent on to its real server
 * here.
 */
static unsigned int exlb_account(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct exlb_net *xn = exlb_pernet(state->net);
	enum ip_conntrack_info ctinfo;
	struct exlb_flow *flow;
	struct nf_conn *ct;
	bool in;

	ct = nf_ct_get(skb, &ctinfo);
	if (!ct)
		return NF_ACCEPT;
	/*
	 * Every nat flow of ours is destination-NATed: a cheap filter first.
	 * A flow of ours costs one lookup; only a destination-NATed entry
	 * exlb has no flow for (another NAT's, or one synced from the HA
	 * peer) pays the service lookup of adopt() too.
	 */
	if (READ_ONCE(ct->status) & IPS_DST_NAT) {
		flow = exlb_flow_lookup(xn, ct);
		if (!flow) {
			unsigned int verdict = adopt(xn, ct, hook_family(state),
						     &flow);

			if (!flow)
				return verdict;
		}
		if (flow->kind == EXLB_FLOW_ROUTE)
			return NF_ACCEPT;
	} else {
		flow = route_flow(xn, ct, ctinfo, hook_family(state));
		if (!flow || flow->kind != EXLB_FLOW_ROUTE)
			return NF_ACCEPT;
	}

	in = CTINFO2DIR(ctinfo) == IP_CT_DIR_ORIGINAL;
	exlb_stats_add(flow->real->stats, in, skb->len, false);
	exlb_flow_stamp(flow);
	if (flow->kind == EXLB_FLOW_ROUTE)
		route_track(flow, skb, hook_family(state));
	else if (flow->kind == EXLB_FLOW_ADOPTED)
		adopted_track(flow, skb, hook_family(state), CTINFO2DIR(ctinfo));
	exlb_flow_seen(xn, flow, READ_ONCE(ct->proto.tcp.state));
	/* the flow may be released now; RCU keeps it and flow->real readable */
	if (flow->kind == EXLB_FLOW_ROUTE)
		return route_xmit(skb, state, flow->real);
	exlb_offload_try(xn, flow, skb, state);
	return NF_ACCEPT;
}

/*
 * The SYN of a route flow. No destination translation: nf_nat gets a null
 * binding now, so it never asks again for this entry, and the SYN is sent
 * to the real server from here. Conntrack will only see the client's
 * direction (the real server answers the client directly), so its TCP
 * tracker is told what it cannot see, the way ctnetlink or conntrackd
 * would: the handshake is taken as answered (SYN_RECV, so the client's
 * ACK moves it to ESTABLISHED) and both directions are tracked liberally
 * (no window checks that one-sided tracking would fail). The flow becomes
 * a route flow first (it needs room for its RST bookkeeping).
 */
static unsigned int route_first(struct exlb_net *xn, struct sk_buff *skb,
				const struct nf_hook_state *state,
				struct exlb_flow *flow)
{
	struct nf_conn *ct = flow->ct;
	struct exlb_flow *route;

	route = exlb_flow_make_route(flow);
	if (!route)
		goto drop;
	flow = route;
	if (nf_nat_alloc_null_binding(ct, state->hook) != NF_ACCEPT)
		goto drop;
	spin_lock_bh(&ct->lock);
	ct->proto.tcp.state = TCP_CONNTRACK_SYN_RECV;
	ct->proto.tcp.seen[IP_CT_DIR_ORIGINAL].flags |= IP_CT_TCP_FLAG_BE_LIBERAL;
	ct->proto.tcp.seen[IP_CT_DIR_REPLY].flags |= IP_CT_TCP_FLAG_BE_LIBERAL;
	spin_unlock_bh(&ct->lock);
	route_track(flow, skb, hook_family(state));
	if (exlb_flow_insert(xn, flow))
		goto drop;
	exlb_stats_add(flow->real->stats, true, skb->len, true);
	return route_xmit(skb, state, flow->real);

drop:
	exlb_flow_abort(xn, flow);
	return NF_DROP;
}

/*
 * A segment to a VIP that conntrack sees as new but that is no SYN: a
 * leftover of a flow that is gone (reset, or its entry deleted), picked up
 * by conntrack mid-stream. It is dropped and, as a closed port would
 * (RFC 793), answered with a RST at its ACK, exactly what the client
 * expects next: the client's answer to one of exlb's own RSTs that missed
 * (data still on its way when the flow was reset) is a challenge ACK
 * (RFC 5961), and this is the RST that lands. A RST is never answered.
 */
static unsigned int stray_reset(struct sk_buff *skb,
				const struct nf_hook_state *state,
				const struct nf_conn *ct)
{
	const struct tcphdr *th;
	struct tcphdr _th;
	u32 end;

	th = tcp_segment(skb, hook_family(state), &_th, &end);
	if (th && th->ack && !th->rst && !th->syn)
		exlb_reset_stray(state->net, ct, ntohl(th->ack_seq), end);
	return NF_DROP;
}

/*
 * nf_nat asks, for the first packet of a connection, whether to translate
 * its destination. A SYN to a VIP gets a real server; a SYN that none can
 * take gets a RST; anything else to a VIP that conntrack sees as new is a
 * leftover of a flow that is gone (stray_reset()).
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
		return stray_reset(skb, state, ct);

	flow = exlb_flow_alloc(ct, EXLB_FLOW_NAT);
	if (!flow)
		return NF_DROP;
	spin_lock_bh(&svc->sched_lock);
	real = exlb_schedule(svc, &tuple->src.u3, &persisted);
	if (real)
		exlb_flow_bind(flow, real, persisted);
	spin_unlock_bh(&svc->sched_lock);
	if (!real) {
		exlb_flow_free(flow);
		exlb_reset_syn(state->net, ct);
		return NF_DROP;
	}

	if (real->forward == EXLB_FORWARD_ROUTE)
		return route_first(xn, skb, state, flow);

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
	exlb_stats_add(real->stats, true, skb->len, true);
	return NF_ACCEPT;
}

/*
 * Alternate source addresses (Kemp's localbind): the pool address is
 * chosen by a hash of the client's address and port, so flows spread
 * evenly; its source port as nf_nat would (the client's own if free, else
 * runs of ports from random offsets). An address whose ports towards this
 * real server look exhausted passes to the next one. The tuple checked is
 * the reply tuple the flow would have (real server to pool address:port).
 * False when no address has a free port.
 */
#define SNAT_PORT_MIN	1024
#define SNAT_PORT_SPAN	(65536 - SNAT_PORT_MIN)
#define SNAT_RUN	64	/* ports tried per run */
#define SNAT_RUNS	4	/* runs per address */

static bool snat_pool_pick(const struct nf_conn *ct,
			   const struct exlb_snat_pool *pool,
			   struct nf_nat_range2 *range)
{
	const struct nf_conntrack_tuple *orig =
		&ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	struct nf_conntrack_tuple t = ct->tuplehash[IP_CT_DIR_REPLY].tuple;
	unsigned int i, run, j, start;
	u32 off;

	start = reciprocal_scale(jhash2((const u32 *)&orig->src.u3,
					sizeof(orig->src.u3) / sizeof(u32),
					(__force u32)orig->src.u.tcp.port),
				 pool->n);
	for (i = 0; i < pool->n; i++) {
		t.dst.u3 = pool->addrs[(start + i) % pool->n];
		t.dst.u.tcp.port = orig->src.u.tcp.port;
		if (ntohs(t.dst.u.tcp.port) >= SNAT_PORT_MIN &&
		    !nf_conntrack_tuple_taken(&t, ct))
			goto found;
		for (run = 0; run < SNAT_RUNS; run++) {
			off = get_random_u32();
			for (j = 0; j < SNAT_RUN; j++) {
				t.dst.u.tcp.port =
					htons(SNAT_PORT_MIN + (off + j) % SNAT_PORT_SPAN);
				if (!nf_conntrack_tuple_taken(&t, ct))
					goto found;
			}
		}
	}
	return false;
found:
	range->flags = NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED;
	range->min_addr = t.dst.u3;
	range->max_addr = t.dst.u3;
	range->min_proto.tcp.port = t.dst.u.tcp.port;
	range->max_proto.tcp.port = t.dst.u.tcp.port;
	return true;
}

/*
 * No source port is left towards the flow's real server: the SYN is
 * answered with a RST, counted in the service's stats and logged (rate
 * limited); the flow is dropped.
 */
static unsigned int snat_refuse(struct exlb_net *xn, struct exlb_flow *flow,
				struct nf_conn *ct)
{
	const struct exlb_real *real = flow->real;
	struct exlb_service *svc = real->svc;

	atomic64_inc(&svc->no_source_port);
	if (svc->family == AF_INET)
		net_warn_ratelimited("exlb: service %u: no free source port towards %pI4:%u, connection refused\n",
				     svc->id, &real->addr.ip,
				     ntohs(real->port));
	else
		net_warn_ratelimited("exlb: service %u: no free source port towards [%pI6c]:%u, connection refused\n",
				     svc->id, &real->addr.in6,
				     ntohs(real->port));
	exlb_reset_syn(xn->net, ct);
	exlb_flow_drop(xn, flow);
	return NF_DROP;
}

/*
 * nf_nat asks, as the first packet leaves, whether to translate its
 * source: Kemp's Transparent (keep the client), else the service's
 * alternate source addresses if it has some, else SubnetOriginating (the
 * address of the interface towards the real server) or the VIP. nf_nat
 * keeps a tuple it cannot make unique (it gives up after some tries and
 * conntrack would drop the entry when confirming it): a taken tuple is
 * refused here, cleanly. A Transparent service's connection needs nothing
 * here: the service found by the entry's original destination (a cheap
 * hash of the small service table) tells it without the flow lookup
 * (exlb_nat_dst() bound the entry to a real server of that very service,
 * unless the service was replaced meanwhile, and then the old service's
 * flows are being reset anyway).
 */
static unsigned int exlb_nat_src(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct exlb_net *xn = exlb_pernet(state->net);
	const struct nf_conntrack_tuple *tuple;
	const struct exlb_snat_pool *pool;
	struct nf_nat_range2 range = {};
	enum ip_conntrack_info ctinfo;
	struct exlb_service *svc;
	struct exlb_flow *flow;
	struct nf_conn *ct;
	unsigned int verdict;
	u32 flags;

	ct = nf_ct_get(skb, &ctinfo);
	if (!ct || ctinfo != IP_CT_NEW || !(READ_ONCE(ct->status) & IPS_DST_NAT))
		return NF_ACCEPT;
	tuple = &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	svc = exlb_service_lookup_addr(xn, hook_family(state), &tuple->dst.u3,
				       tuple->dst.u.tcp.port);
	if (!svc || (READ_ONCE(svc->flags) & EXLB_SVC_F_TRANSPARENT))
		return NF_ACCEPT;
	flow = exlb_flow_lookup(xn, ct);
	if (!flow)
		return NF_ACCEPT;

	svc = exlb_flow_svc(flow);
	flags = READ_ONCE(svc->flags);
	if (flags & EXLB_SVC_F_TRANSPARENT)
		return NF_ACCEPT;
	pool = rcu_dereference(svc->snat_pool);
	if (pool) {
		if (!snat_pool_pick(ct, pool, &range))
			return snat_refuse(xn, flow, ct);
		verdict = nf_nat_setup_info(ct, &range, NF_NAT_MANIP_SRC);
	} else if (flags & EXLB_SVC_F_SUBNET_ORIGINATING) {
		if (state->pf == NFPROTO_IPV4)
			verdict = nf_nat_masquerade_ipv4(skb, state->hook,
							 &range, state->out);
		else
			verdict = nf_nat_masquerade_ipv6(skb, &range, state->out);
	} else {
		range.flags = NF_NAT_RANGE_MAP_IPS;
		range.min_addr = svc->addr;
		range.max_addr = svc->addr;
		verdict = nf_nat_setup_info(ct, &range, NF_NAT_MANIP_SRC);
	}
	if (verdict == NF_ACCEPT &&
	    nf_conntrack_tuple_taken(&ct->tuplehash[IP_CT_DIR_REPLY].tuple, ct))
		return snat_refuse(xn, flow, ct);
	return verdict;
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
	err = exlb_offload_enable(xn);
	if (err)
		return err;
	err = nf_ct_netns_get(net, NFPROTO_IPV4);
	if (err)
		goto err_offload;
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
err_offload:
	exlb_offload_disable(xn);
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
	exlb_offload_disable(xn);
}
