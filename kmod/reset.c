// SPDX-License-Identifier: GPL-2.0
/*
 * TCP resets for flows exlb ends on its own: a real server that failed
 * (droponfail), a drain that ended (dropatdrainend), an idle timeout, a
 * deleted service, and a SYN no real server can take. An idle flow has no
 * packet to answer, so the RSTs are built from the sequence numbers
 * conntrack tracked: each end accepts a RST only at exactly the sequence
 * number it expects next (RFC 5961), which is the other side's td_end.
 * The RSTs are untracked so conntrack and NAT leave them alone. Where one
 * misses (data was still on its way), the end answers it with a challenge
 * ACK, which finds the entry gone and gets a RST from its own numbers
 * (exlb_reset_stray()).
 */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>
#include <net/ip.h>
#include <net/ip6_checksum.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/route.h>
#include <net/tcp.h>
#include <net/netfilter/nf_conntrack.h>

#include "kmod/exlb.h"

struct exlb_rst {
	union nf_inet_addr saddr, daddr;
	__be16 sport, dport;
	u32 seq, ack_seq;
	bool probe;		/* a bare ACK, not a RST (exlb_probe_conntrack()) */
};

static void rst_fill_tcp(struct tcphdr *th, const struct exlb_rst *r)
{
	memset(th, 0, sizeof(*th));
	th->source = r->sport;
	th->dest = r->dport;
	th->seq = htonl(r->seq);
	th->ack_seq = htonl(r->ack_seq);
	th->doff = sizeof(*th) / 4;
	th->rst = !r->probe;
	th->ack = 1;
}

/* @via: a route real server to send it to at L2 (NULL: route by daddr). */
static void send_rst4(struct net *net, const struct exlb_rst *r,
		      const union nf_inet_addr *via)
{
	struct flowi4 fl4 = {
		.daddr = r->daddr.ip,
		.saddr = r->saddr.ip,
		.flowi4_proto = IPPROTO_TCP,
		/* The source may be the VIP or a client: not ours to own. */
		.flowi4_flags = FLOWI_FLAG_ANYSRC,
	};
	struct sk_buff *skb;
	struct tcphdr *th;
	struct iphdr *iph;
	struct rtable *rt;

	if (via) {
		struct dst_entry *dst = exlb_route_to_real(net, AF_INET, via, 0);

		if (!dst)
			return;
		rt = container_of(dst, struct rtable, dst);
	} else {
		rt = ip_route_output_key(net, &fl4);
		if (IS_ERR(rt))
			return;
	}
	skb = alloc_skb(LL_MAX_HEADER + sizeof(*iph) + sizeof(*th), GFP_ATOMIC);
	if (!skb) {
		ip_rt_put(rt);
		return;
	}
	skb_reserve(skb, LL_MAX_HEADER);
	skb_reset_network_header(skb);
	iph = skb_put_zero(skb, sizeof(*iph));
	iph->version = 4;
	iph->ihl = sizeof(*iph) / 4;
	iph->frag_off = htons(IP_DF);
	iph->ttl = READ_ONCE(net->ipv4.sysctl_ip_default_ttl);
	iph->protocol = IPPROTO_TCP;
	iph->saddr = r->saddr.ip;
	iph->daddr = r->daddr.ip;
	skb_set_transport_header(skb, skb->len);
	th = skb_put(skb, sizeof(*th));
	rst_fill_tcp(th, r);
	th->check = tcp_v4_check(sizeof(*th), iph->saddr, iph->daddr,
				 csum_partial(th, sizeof(*th), 0));
	skb->ip_summed = CHECKSUM_NONE;
	skb->protocol = htons(ETH_P_IP);
	skb_dst_set(skb, &rt->dst);
	nf_ct_set(skb, NULL, IP_CT_UNTRACKED);
	ip_local_out(net, NULL, skb);
}

static void send_rst6(struct net *net, const struct exlb_rst *r,
		      const union nf_inet_addr *via)
{
	struct flowi6 fl6 = {
		.daddr = r->daddr.in6,
		.saddr = r->saddr.in6,
		.flowi6_proto = IPPROTO_TCP,
		.flowi6_flags = FLOWI_FLAG_ANYSRC,
	};
	struct dst_entry *dst;
	struct ipv6hdr *ip6h;
	struct sk_buff *skb;
	struct tcphdr *th;

	if (via) {
		dst = exlb_route_to_real(net, AF_INET6, via, 0);
		if (!dst)
			return;
	} else {
		dst = ip6_route_output(net, NULL, &fl6);
		if (dst->error) {
			dst_release(dst);
			return;
		}
	}
	skb = alloc_skb(LL_MAX_HEADER + sizeof(*ip6h) + sizeof(*th), GFP_ATOMIC);
	if (!skb) {
		dst_release(dst);
		return;
	}
	skb_reserve(skb, LL_MAX_HEADER);
	skb_reset_network_header(skb);
	ip6h = skb_put_zero(skb, sizeof(*ip6h));
	ip6_flow_hdr(ip6h, 0, 0);
	ip6h->nexthdr = IPPROTO_TCP;
	ip6h->hop_limit = ip6_dst_hoplimit(dst);
	ip6h->saddr = r->saddr.in6;
	ip6h->daddr = r->daddr.in6;
	skb_set_transport_header(skb, skb->len);
	th = skb_put(skb, sizeof(*th));
	rst_fill_tcp(th, r);
	th->check = csum_ipv6_magic(&ip6h->saddr, &ip6h->daddr, sizeof(*th),
				    IPPROTO_TCP, csum_partial(th, sizeof(*th), 0));
	skb->ip_summed = CHECKSUM_NONE;
	skb->protocol = htons(ETH_P_IPV6);
	skb_dst_set(skb, dst);
	nf_ct_set(skb, NULL, IP_CT_UNTRACKED);
	ip6_local_out(net, NULL, skb);
}

static void send_rst_via(struct net *net, u16 family, const struct exlb_rst *r,
			 const union nf_inet_addr *via)
{
	if (family == AF_INET)
		send_rst4(net, r, via);
	else
		send_rst6(net, r, via);
}

static void send_rst(struct net *net, u16 family, const struct exlb_rst *r)
{
	send_rst_via(net, family, r, NULL);
}

/*
 * A RST against the direction @dir of @ct, at sequence number @seq: to the
 * client as the VIP (IP_CT_DIR_ORIGINAL), or to the real server as the
 * source it sees (IP_CT_DIR_REPLY).
 */
static void send_toward(struct net *net, const struct nf_conn *ct,
			enum ip_conntrack_dir dir, u32 seq, u32 ack, bool probe)
{
	const struct nf_conntrack_tuple *t = &ct->tuplehash[dir].tuple;
	struct exlb_rst r = {
		.saddr = t->dst.u3,
		.daddr = t->src.u3,
		.sport = t->dst.u.tcp.port,
		.dport = t->src.u.tcp.port,
		.seq = seq,
		.ack_seq = ack,
		.probe = probe,
	};

	send_rst(net, nf_ct_l3num(ct), &r);
}

static void reset_toward(struct net *net, const struct nf_conn *ct,
			 enum ip_conntrack_dir dir, u32 seq, u32 ack)
{
	send_toward(net, ct, dir, seq, ack, false);
}

static void reset_client(struct net *net, const struct nf_conn *ct, u32 seq,
			 u32 ack)
{
	reset_toward(net, ct, IP_CT_DIR_ORIGINAL, seq, ack);
}

static void reset_real(struct net *net, const struct nf_conn *ct, u32 seq,
		       u32 ack)
{
	reset_toward(net, ct, IP_CT_DIR_REPLY, seq, ack);
}

/* Resets both ends of a balanced connection, as conntrack tracked it. */
void exlb_reset_conntrack(struct net *net, struct nf_conn *ct)
{
	u32 client_sent, real_sent;
	u8 state;

	spin_lock_bh(&ct->lock);
	client_sent = ct->proto.tcp.seen[IP_CT_DIR_ORIGINAL].td_end;
	real_sent = ct->proto.tcp.seen[IP_CT_DIR_REPLY].td_end;
	state = ct->proto.tcp.state;
	spin_unlock_bh(&ct->lock);

	/* To the client: what it expects next from the server. */
	reset_client(net, ct, state == TCP_CONNTRACK_SYN_SENT ? 0 : real_sent,
		     client_sent);
	if (state == TCP_CONNTRACK_SYN_SENT)
		return;	/* the real server never answered: nothing to reset */
	reset_real(net, ct, client_sent, real_sent);
}

/*
 * Far from any window: the tracked numbers are behind the true ones by
 * what the flowtable forwarded, which wraps only after 3 GiB.
 */
#define EXLB_PROBE_BEHIND	0x40000000u

/*
 * Asks both ends of @ct where they are, when conntrack's tracking of it is
 * stale (the flow went through the flowtable, see offload.c): a bare ACK
 * whose sequence number is far outside the receiver's window, and whose
 * ACK is far behind, is answered by TCP with an ACK carrying exactly what
 * it sent and expects (RFC 793's answer to an unacceptable segment, or
 * RFC 5961's challenge ACK). Conntrack, which the flowtable left in
 * pick-up mode, takes its tracking up from the answers; the RSTs follow.
 */
void exlb_probe_conntrack(struct net *net, struct nf_conn *ct)
{
	u32 client_sent, real_sent;

	spin_lock_bh(&ct->lock);
	client_sent = ct->proto.tcp.seen[IP_CT_DIR_ORIGINAL].td_end;
	real_sent = ct->proto.tcp.seen[IP_CT_DIR_REPLY].td_end;
	spin_unlock_bh(&ct->lock);

	send_toward(net, ct, IP_CT_DIR_ORIGINAL, real_sent - EXLB_PROBE_BEHIND,
		    client_sent - EXLB_PROBE_BEHIND, true);
	send_toward(net, ct, IP_CT_DIR_REPLY, client_sent - EXLB_PROBE_BEHIND,
		    real_sent - EXLB_PROBE_BEHIND, true);
}

/*
 * An adopted flow: from what the flow saw each way once both ways were
 * seen (conntrack's window tracking of an entry picked up mid-stream
 * stops following a fast sender when it does not know the window scale),
 * else as conntrack tracked it (which is exact right after the first
 * packet: conntrack takes that packet's sequence and ACK). An end accepts
 * a RST only at exactly the sequence number it expects next: the other
 * side's end if everything the LB forwarded has arrived, else (data still
 * on the way) what it acknowledged last. A busy flow gets one RST at each
 * of the two when they differ; the wrong one is ignored or answered by a
 * challenge ACK, which gets its RST from exlb_reset_stray().
 */
void exlb_reset_adopted(struct net *net, const struct exlb_flow *flow)
{
	const struct exlb_flow_ext *ext = exlb_flow_ext_const(flow);
	const struct nf_conn *ct = flow->ct;
	u32 client_end, real_end, client_ack, real_ack;

	if (!READ_ONCE(ext->adopted.seen[IP_CT_DIR_ORIGINAL]) ||
	    !READ_ONCE(ext->adopted.seen[IP_CT_DIR_REPLY])) {
		exlb_reset_conntrack(net, flow->ct);
		return;
	}
	client_end = READ_ONCE(ext->adopted.end[IP_CT_DIR_ORIGINAL]);
	real_end = READ_ONCE(ext->adopted.end[IP_CT_DIR_REPLY]);
	client_ack = READ_ONCE(ext->adopted.ack[IP_CT_DIR_ORIGINAL]);
	real_ack = READ_ONCE(ext->adopted.ack[IP_CT_DIR_REPLY]);
	reset_client(net, ct, real_end, client_end);
	if (client_ack != real_end)
		reset_client(net, ct, client_ack, client_end);
	reset_real(net, ct, client_end, real_end);
	if (real_ack != client_end)
		reset_real(net, ct, real_ack, real_end);
}

/*
 * Resets both ends of a route flow. Only the client's direction passes
 * here, so the sequence numbers are the ones the flow noted from the
 * client's segments: the client's next sequence number, and its highest
 * ACK, which is what it expects next from the real server unless the
 * server sent more that the client has not acknowledged yet (then the
 * client answers the RST with a challenge ACK, which gets its RST from
 * exlb_reset_stray()).
 */
void exlb_reset_route(struct net *net, const struct exlb_flow *flow)
{
	const struct exlb_flow_ext *ext = exlb_flow_ext_const(flow);
	const struct nf_conntrack_tuple *orig =
		&flow->ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	bool acked = READ_ONCE(ext->route.acked);
	u32 end = READ_ONCE(ext->route.end);
	u32 ack = READ_ONCE(ext->route.ack);
	u16 family = nf_ct_l3num(flow->ct);
	struct exlb_rst r = {};

	/* To the client, as the VIP (routed normally). */
	r.saddr = orig->dst.u3;
	r.daddr = orig->src.u3;
	r.sport = orig->dst.u.tcp.port;
	r.dport = orig->src.u.tcp.port;
	r.seq = acked ? ack : 0;
	r.ack_seq = end;
	send_rst(net, family, &r);

	if (!acked)
		return;	/* no ACK seen: the server's sequence is unknown */

	/* To the real server, as the client to the VIP, at L2 like the flow. */
	r.saddr = orig->src.u3;
	r.daddr = orig->dst.u3;
	r.sport = orig->src.u.tcp.port;
	r.dport = orig->dst.u.tcp.port;
	r.seq = end;
	r.ack_seq = ack;
	send_rst_via(net, family, &r, &flow->real->addr);
}

/* Refuses a new connection: RST+ACK to its SYN, as a closed port would. */
void exlb_reset_syn(struct net *net, const struct nf_conn *ct)
{
	/* td_end of the SYN is its sequence number plus one */
	reset_client(net, ct, 0, ct->proto.tcp.seen[IP_CT_DIR_ORIGINAL].td_end);
}

/*
 * Answers a client's segment that belongs to no flow as a closed port
 * would (RFC 793): a RST at @ack, the segment's ACK, which is exactly the
 * sequence number the client expects next; @end is the segment's end.
 */
void exlb_reset_stray(struct net *net, const struct nf_conn *ct, u32 ack,
		      u32 end)
{
	reset_client(net, ct, ack, end);
}
