/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The objects of exlb.ko and how the files share them.
 *
 * Per network namespace (struct exlb_net) the module keeps its services,
 * each with an array of real servers; the flows it balanced; and the
 * globals. Services and reals are changed only from netlink, under
 * exlb_net.lock; the packet path finds them under RCU. Everything that the
 * scheduler reads or writes for one service (its state, the real servers'
 * counters and flags, the persistence table) is under that service's
 * sched_lock. Flows are in an rhashtable keyed by their conntrack entry;
 * the timer, the resets and the dumps walk it.
 *
 * Lifetimes: a flow holds references on its conntrack entry and its real
 * server; a real holds one on its service. All three are freed after an
 * RCU grace period (a flow drops its conntrack reference only then), so
 * the packet path, the walks and the dumps may use what they found.
 */
#ifndef EXLB_H
#define EXLB_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/rhashtable.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/u64_stats_sync.h>
#include <linux/workqueue.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_flow_table.h>
#include <net/netns/generic.h>
#include <uapi/linux/exlb.h>

#include "kmod/sched_core.h"

#define EXLB_SVC_HASH_BITS	6
#define EXLB_PERSIST_HASH_BITS	8	/* the smallest persistence hash */
#define EXLB_PERSIST_MAX_DEFAULT 131072	/* records per service */

/* Kemp's alternate source addresses of a service (SNAT pool), RCU. */
struct exlb_snat_pool {
	struct rcu_head rcu;
	unsigned int n;
	union nf_inet_addr addrs[];
};

struct exlb_stats_pcpu {
	u64_stats_t conns;
	u64_stats_t pkts_in;
	u64_stats_t pkts_out;
	u64_stats_t bytes_in;
	u64_stats_t bytes_out;
	struct u64_stats_sync syncp;
};

struct exlb_stats {
	u64 conns;
	u64 pkts_in;
	u64 pkts_out;
	u64 bytes_in;
	u64 bytes_out;
};

struct exlb_net;

struct exlb_service {
	struct hlist_node addr_node;	/* exlb_net.svc_by_addr, RCU */
	struct list_head list;		/* exlb_net.services, RCU */
	struct exlb_net *xn;
	u32 id;
	u16 family;
	bool has_addr;
	union nf_inet_addr addr;
	__be16 port;
	u8 sched_alg;			/* enum exlb_sched */
	u8 persist;			/* enum exlb_persist */
	u8 persist_netmask;
	u32 persist_timeout;
	u32 idle_timeout;
	u32 flags;			/* EXLB_SVC_F_* */

	spinlock_t sched_lock;		/* what the scheduler touches */
	bool dead;			/* deleted: schedule nothing more */
	struct exlb_sched_state sched;
	unsigned int nreals;
	struct exlb_real **reals;	/* EXLB_MAX_REALS slots, insertion order */
	struct exlb_sched_target **targets; /* parallel to reals */
	/* source persistence (persist.c), under sched_lock */
	struct hlist_head *persist_table;	/* 1 << persist_bits buckets */
	unsigned int persist_bits;
	unsigned int persist_count;
	struct list_head persist_idle;	/* records without flows, oldest first */
	u64 persist_evicted;		/* idle records dropped at the cap */
	u64 persist_full;		/* clients not sticky: cap, none idle */

	struct exlb_snat_pool __rcu *snat_pool;	/* under exlb_net.lock */
	atomic64_t no_source_port;	/* SYNs refused: no free source port */

	/*
	 * Packets are counted per real server only; the service's counters
	 * are its reals' plus these, what deleted reals had counted (under
	 * sched_lock).
	 */
	struct exlb_stats retired;
	refcount_t refcnt;
	struct rcu_head rcu;
};

struct exlb_real {
	struct exlb_service *svc;	/* referenced */
	union nf_inet_addr addr;
	__be16 port;
	u8 forward;			/* enum exlb_forward */
	u32 flags;			/* EXLB_REAL_F_*, under svc->sched_lock */
	unsigned long disabled_at;	/* jiffies of the last disable */
	struct exlb_sched_target sched;	/* under svc->sched_lock */
	struct exlb_stats_pcpu __percpu *stats;
	struct exlb_stats retired;	/* added to svc->retired at deletion */
	refcount_t refcnt;
	bool removed;			/* deleted from its service */
	struct rcu_head rcu;
};

/* A client stuck to a real server by source persistence. */
struct exlb_persist_entry {
	struct hlist_node node;		/* svc->persist_table */
	struct list_head idle;		/* svc->persist_idle while conns == 0 */
	u8 key[16];
	struct exlb_real *real;		/* referenced */
	struct exlb_persist_rec rec;	/* expires in jiffies64 */
};

/* Which counter of its real server a flow sits in. */
enum exlb_flow_class {
	EXLB_FLOW_INACTIVE,
	EXLB_FLOW_ACTIVE,
	EXLB_FLOW_CLOSED,
};

/* How a flow is forwarded, and which bookkeeping it carries. */
enum exlb_flow_kind {
	EXLB_FLOW_NAT,			/* nf_nat translates it */
	EXLB_FLOW_ROUTE,		/* forward=route: we transmit it */
	EXLB_FLOW_ADOPTED,		/* bound on the HA peer, synced to us */
};

/* struct exlb_flow.offload: a nat flow and the flowtable (offload.c) */
#define EXLB_OFFLOADED	0x1	/* was offloaded: conntrack's tracking is stale */
#define EXLB_PROBED	0x2	/* being reset: probes sent, RSTs next */
#define EXLB_NO_ROUTE	0x4	/* not forwardable by the flowtable */

/*
 * One per balanced connection, so kept small (48 bytes on 64-bit, checked
 * at build time): the service is the real server's, the stamp is the low
 * 32 bits of jiffies (idle timeouts are far below 2^31 ticks), and what only
 * route and adopted flows need is in struct exlb_flow_ext, which those
 * flows are allocated as.
 */
struct exlb_flow {
	struct rhash_head node;		/* exlb_net.flow_table, key ct */
	struct nf_conn *ct;		/* referenced until freed */
	struct exlb_real *real;		/* referenced */
	u32 last_seen;			/* jiffies, low 32 bits */
	u8 class;			/* enum exlb_flow_class, sched_lock */
	u8 kind;			/* enum exlb_flow_kind, set before insert */
	bool persisted;			/* counted in its persistence record */
	u8 offload;			/* EXLB_OFFLOADED and co., offload.c */
	struct rcu_head rcu;
};

/* A route or adopted flow: the flow and its RST bookkeeping. */
struct exlb_flow_ext {
	struct exlb_flow flow;
	union {
		/*
		 * Route flows: conntrack sees one direction, so its window
		 * tracking learns nothing; the client's next sequence number
		 * and its highest ACK are noted here for the RSTs (best
		 * effort).
		 */
		struct {
			bool acked;
			u32 end;
			u32 ack;
		} route;
		/*
		 * Adopted flows: conntrack picked them up mid-stream from
		 * conntrackd's entry and its window tracking may not follow
		 * them (liberal, scale unknown), so the highest sequence end
		 * and ACK seen each way (IP_CT_DIR_*) are noted here.
		 */
		struct {
			bool seen[IP_CT_DIR_MAX];
			u32 end[IP_CT_DIR_MAX];
			u32 ack[IP_CT_DIR_MAX];
		} adopted;
	};
};

static inline struct exlb_flow_ext *exlb_flow_ext(struct exlb_flow *flow)
{
	return container_of(flow, struct exlb_flow_ext, flow);
}

static inline const struct exlb_flow_ext *
exlb_flow_ext_const(const struct exlb_flow *flow)
{
	return container_of(flow, const struct exlb_flow_ext, flow);
}

static inline struct exlb_service *exlb_flow_svc(const struct exlb_flow *flow)
{
	return flow->real->svc;
}

struct exlb_net {
	struct net *net;
	struct mutex lock;		/* services, reals, globals, hooks */
	struct list_head services;
	struct hlist_head svc_by_addr[1 << EXLB_SVC_HASH_BITS];
	unsigned int nservices;
	u32 next_id;
	u32 config_gen;			/* bumped on each change, for dumps */
	bool hooks_on;

	spinlock_t flow_lock;		/* inserting flows, see flow.c */
	struct rhashtable flow_table;
	atomic_t flow_gen;		/* bumped per insert and unlink */
	struct delayed_work gc_work;

	/* conntrack entries synced from the HA peer (hooks.c, adopt) */
	atomic64_t adopted;		/* taken into the flow table */
	atomic64_t adopt_reset;		/* reset: no such usable real here */

	/* the flowtable fast path of established nat flows (offload.c) */
	bool offload_on;
	bool offload_want;		/* the ingress hooks: wanted, */
	bool offload_hooked;		/* in place (under RTNL) */
	u8 offload_idle_ticks;		/* gc ticks with an empty table */
	struct nf_flowtable flowtable;
	struct notifier_block offload_nb;
	struct list_head offload_devs;	/* devices hooked, under RTNL */
	u32 offload_ndevs;		/* in the list */
	struct work_struct offload_work;
	struct nf_hook_ops offload_anchor;	/* on loopback, see offload.c */

	u8 drop_on_fail;
	u8 drop_at_drain_end;
	u32 final_persist;
	u32 conn_timeout;
};

extern unsigned int exlb_net_id;
extern struct kmem_cache *exlb_flow_cache;
extern struct kmem_cache *exlb_flow_ext_cache;

/* Inline, like the helpers below that every packet of a flow goes through. */
static inline struct exlb_net *exlb_pernet(const struct net *net)
{
	return net_generic(net, exlb_net_id);
}

/* service.c: the service and real-server tables */
struct exlb_service *exlb_service_lookup_addr(struct exlb_net *xn, u16 family,
					      const union nf_inet_addr *addr,
					      __be16 port);
struct exlb_service *exlb_service_find_id(struct exlb_net *xn, u32 id);
int exlb_service_add(struct exlb_net *xn, struct exlb_service *svc,
		     struct netlink_ext_ack *extack);
void exlb_service_del(struct exlb_net *xn, struct exlb_service *svc);
void exlb_service_flush(struct exlb_net *xn);
struct exlb_service *exlb_service_alloc(void);
void exlb_service_put(struct exlb_service *svc);
struct exlb_real *exlb_real_find(struct exlb_service *svc,
				 const union nf_inet_addr *addr, __be16 port);
int exlb_real_add(struct exlb_service *svc, struct exlb_real *real,
		  struct netlink_ext_ack *extack);
void exlb_real_del(struct exlb_service *svc, struct exlb_real *real);
void exlb_real_set_flags(struct exlb_service *svc, struct exlb_real *real,
			 u32 flags);
struct exlb_real *exlb_real_alloc(struct exlb_service *svc);
void exlb_real_put(struct exlb_real *real);
void exlb_real_counts(struct exlb_real *real, u32 *active, u32 *inactive);
u32 exlb_effective_idle(const struct exlb_net *xn,
			const struct exlb_service *svc);

/* sched.c: choosing a real server for a new connection */
struct exlb_real *exlb_schedule(struct exlb_service *svc,
				const union nf_inet_addr *client,
				bool *persisted);
void exlb_sched_adopt(struct exlb_service *svc, struct exlb_real *real,
		      const union nf_inet_addr *client, bool *persisted);

/* persist.c: source-IP persistence records */
struct exlb_persist_entry *exlb_persist_lookup(struct exlb_service *svc,
					       const u8 *key);
struct exlb_persist_entry *exlb_persist_bind(struct exlb_service *svc,
					     struct exlb_persist_entry *rec,
					     const u8 *key,
					     struct exlb_real *real);
void exlb_persist_hold_entry(struct exlb_service *svc,
			     struct exlb_persist_entry *rec);
void exlb_persist_release(struct exlb_service *svc, const u8 *key);
void exlb_persist_expire(struct exlb_service *svc, bool all);
void exlb_persist_resize(struct exlb_service *svc);
int exlb_persist_init(struct exlb_service *svc);
void exlb_persist_destroy(struct exlb_service *svc);
void exlb_persist_key_of(const struct exlb_service *svc,
			 const union nf_inet_addr *addr, u8 *key);
int exlb_persist_install(struct exlb_service *svc, const u8 *key,
			 struct exlb_real *real, u32 timeout_s);

/* flow.c: the flow table, its timer, and mass resets */

/*
 * The key is a pointer: compared as one (rhashtable's default compare is
 * a memcmp() call with the length read from the table, per packet).
 */
static inline int exlb_flow_cmp(struct rhashtable_compare_arg *arg,
				const void *obj)
{
	const struct exlb_flow *flow = obj;

	return flow->ct != *(struct nf_conn * const *)arg->key;
}

static const struct rhashtable_params exlb_flow_params = {
	.head_offset = offsetof(struct exlb_flow, node),
	.key_offset = offsetof(struct exlb_flow, ct),
	.key_len = sizeof(struct nf_conn *),
	.obj_cmpfn = exlb_flow_cmp,
	.automatic_shrinking = true,
};

/* Packet path, under RCU. */
static inline struct exlb_flow *exlb_flow_lookup(struct exlb_net *xn,
						 const struct nf_conn *ct)
{
	return rhashtable_lookup(&xn->flow_table, &ct, exlb_flow_params);
}

static inline enum exlb_flow_class exlb_flow_class_of(u8 tcp_state)
{
	switch (tcp_state) {
	case TCP_CONNTRACK_ESTABLISHED:
		return EXLB_FLOW_ACTIVE;
	case TCP_CONNTRACK_TIME_WAIT:
	case TCP_CONNTRACK_CLOSE:
		return EXLB_FLOW_CLOSED;
	default:
		return EXLB_FLOW_INACTIVE;
	}
}

int exlb_flow_net_init(struct exlb_net *xn);
void exlb_flow_net_exit(struct exlb_net *xn);
struct exlb_flow *exlb_flow_alloc(struct nf_conn *ct, u8 kind);
struct exlb_flow *exlb_flow_make_route(struct exlb_flow *flow);
void exlb_flow_bind(struct exlb_flow *flow, struct exlb_real *real,
		    bool persisted);
void exlb_flow_free(struct exlb_flow *flow);
int exlb_flow_insert(struct exlb_net *xn, struct exlb_flow *flow);
void exlb_flow_abort(struct exlb_net *xn, struct exlb_flow *flow);
void exlb_flow_drop(struct exlb_net *xn, struct exlb_flow *flow);
void exlb_flow_reclass(struct exlb_net *xn, struct exlb_flow *flow,
		       enum exlb_flow_class class);

/*
 * Sets @bit in @flow->offload (the packet path and the resets race for it);
 * true for the one caller that set it.
 */
static inline bool exlb_flow_offload_set(struct exlb_flow *flow, u8 bit)
{
	u8 old = READ_ONCE(flow->offload);

	do {
		if (old & bit)
			return false;
	} while (!try_cmpxchg(&flow->offload, &old, old | bit));
	return true;
}

/*
 * Packet path: the flow was seen now. One write per jiffy at most: the
 * line is shared by both directions. A flow being reset keeps its probe's
 * time there (flow.c).
 */
static inline void exlb_flow_stamp(struct exlb_flow *flow)
{
	u32 now = (u32)jiffies;

	if (time_after32(now, READ_ONCE(flow->last_seen)) &&
	    !(READ_ONCE(flow->offload) & EXLB_PROBED))
		WRITE_ONCE(flow->last_seen, now);
}

/* Packet path: the flow's conntrack entry is now in TCP @state. */
static inline void exlb_flow_seen(struct exlb_net *xn, struct exlb_flow *flow,
				  u8 state)
{
	enum exlb_flow_class class = exlb_flow_class_of(state);

	if (class != READ_ONCE(flow->class))
		exlb_flow_reclass(xn, flow, class);
}

void exlb_flows_reset_real(struct exlb_net *xn, struct exlb_real *real);
void exlb_flows_reset_service(struct exlb_net *xn, struct exlb_service *svc);
void exlb_flows_reset_all(struct exlb_net *xn, bool send_rst);
long exlb_flows_dump(struct exlb_net *xn, long start,
		     int (*fn)(struct exlb_flow *flow, void *arg), void *arg);
void exlb_gc_start(struct exlb_net *xn);
void exlb_gc_stop(struct exlb_net *xn);
u8 exlb_tcp_state_of(u8 tcp_conntrack_state);

/* hooks.c: netfilter hooks and NAT bindings */
struct dst_entry *exlb_route_to_real(struct net *net, u16 family,
				     const union nf_inet_addr *rs, u8 tos);
int exlb_hooks_enable(struct exlb_net *xn);
void exlb_hooks_disable(struct exlb_net *xn);

/* offload.c: established nat flows through nf_flow_table */
int exlb_offload_enable(struct exlb_net *xn);
void exlb_offload_disable(struct exlb_net *xn);
void exlb_offload_try(struct exlb_net *xn, struct exlb_flow *flow,
		      struct sk_buff *skb, const struct nf_hook_state *state);
void exlb_offload_stop(struct exlb_net *xn, struct exlb_flow *flow);
void exlb_offload_gc(struct exlb_net *xn);
void exlb_offload_counts(struct exlb_net *xn, u32 *entries, u32 *devs);

/* reset.c: RSTs built from tracked sequence numbers */
void exlb_reset_conntrack(struct net *net, struct nf_conn *ct);
void exlb_probe_conntrack(struct net *net, struct nf_conn *ct);
void exlb_reset_route(struct net *net, const struct exlb_flow *flow);
void exlb_reset_adopted(struct net *net, const struct exlb_flow *flow);
void exlb_reset_syn(struct net *net, const struct nf_conn *ct);
void exlb_reset_stray(struct net *net, const struct nf_conn *ct, u32 ack,
		      u32 end);

/* counters; the add is per packet */
static inline void exlb_stats_add(struct exlb_stats_pcpu __percpu *stats,
				  bool in, unsigned int len, bool new_conn)
{
	struct exlb_stats_pcpu *s = get_cpu_ptr(stats);
	unsigned long flags;

	flags = u64_stats_update_begin_irqsave(&s->syncp);
	if (new_conn)
		u64_stats_inc(&s->conns);
	if (in) {
		u64_stats_inc(&s->pkts_in);
		u64_stats_add(&s->bytes_in, len);
	} else {
		u64_stats_inc(&s->pkts_out);
		u64_stats_add(&s->bytes_out, len);
	}
	u64_stats_update_end_irqrestore(&s->syncp, flags);
	put_cpu_ptr(stats);
}

void exlb_stats_read(struct exlb_stats_pcpu __percpu *stats,
		     struct exlb_stats *sum);
void exlb_stats_accumulate(struct exlb_stats *sum, const struct exlb_stats *add);
void exlb_service_stats(struct exlb_service *svc, struct exlb_stats *sum);

/* netlink.c */
int exlb_genl_init(void);
void exlb_genl_exit(void);

#endif /* EXLB_H */
