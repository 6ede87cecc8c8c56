// SPDX-License-Identifier: GPL-2.0
/*
 * Flows: the connections exlb balanced, one per conntrack entry. A flow
 * counts in its real server's active or inactive connections (what lc/wlc
 * and the limit look at) from the SYN until TCP reaches TIME_WAIT or
 * CLOSE, when it is released; conntrack and nf_nat keep translating the
 * last packets. A timer per namespace, once a second, releases flows whose
 * conntrack entry died, resets idle ones and the ones left at the end of a
 * drain, and expires persistence records.
 *
 * The table is the only index of the flows: the timer, the mass resets and
 * the dumps walk it. Whoever removes a flow from the table (rhashtable
 * removal succeeds once) releases it. Inserting takes flow_lock to check
 * that the service or real server was not marked for a reset meanwhile; a
 * reset marks first, passes through flow_lock, then walks, so every flow
 * that passed the check is in the table when the walk starts.
 */
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/time.h>
#include <net/netfilter/nf_conntrack.h>

#include "kmod/exlb.h"

u8 exlb_tcp_state_of(u8 tcp_conntrack_state)
{
	switch (tcp_conntrack_state) {
	case TCP_CONNTRACK_SYN_SENT:
	case TCP_CONNTRACK_SYN_SENT2:
		return EXLB_TCP_SYN_SENT;
	case TCP_CONNTRACK_SYN_RECV:
		return EXLB_TCP_SYN_RECV;
	case TCP_CONNTRACK_ESTABLISHED:
		return EXLB_TCP_ESTABLISHED;
	case TCP_CONNTRACK_FIN_WAIT:
		return EXLB_TCP_FIN_WAIT;
	case TCP_CONNTRACK_CLOSE_WAIT:
		return EXLB_TCP_CLOSE_WAIT;
	case TCP_CONNTRACK_LAST_ACK:
		return EXLB_TCP_LAST_ACK;
	case TCP_CONNTRACK_TIME_WAIT:
		return EXLB_TCP_TIME_WAIT;
	default:
		return EXLB_TCP_CLOSE;
	}
}

int exlb_flow_net_init(struct exlb_net *xn)
{
	spin_lock_init(&xn->flow_lock);
	atomic_set(&xn->flow_gen, 0);
	return rhashtable_init(&xn->flow_table, &exlb_flow_params);
}

void exlb_flow_net_exit(struct exlb_net *xn)
{
	rhashtable_destroy(&xn->flow_table);
}

static struct kmem_cache *flow_cache_of(u8 kind)
{
	return kind == EXLB_FLOW_NAT ? exlb_flow_cache : exlb_flow_ext_cache;
}

/* A flow of @kind; route and adopted ones carry struct exlb_flow_ext. */
struct exlb_flow *exlb_flow_alloc(struct nf_conn *ct, u8 kind)
{
	struct exlb_flow *flow;

	flow = kmem_cache_zalloc(flow_cache_of(kind), GFP_ATOMIC);
	if (!flow)
		return NULL;
	nf_conntrack_get(&ct->ct_general);
	flow->ct = ct;
	flow->last_seen = (u32)jiffies;
	flow->class = EXLB_FLOW_INACTIVE;
	flow->kind = kind;
	return flow;
}

/*
 * A bound nat flow not yet inserted becomes a route flow: it moves into a
 * struct exlb_flow_ext, with its references. NULL without memory; @flow is
 * then still the caller's.
 */
struct exlb_flow *exlb_flow_make_route(struct exlb_flow *flow)
{
	struct exlb_flow_ext *ext;

	ext = kmem_cache_zalloc(exlb_flow_ext_cache, GFP_ATOMIC);
	if (!ext)
		return NULL;
	ext->flow = *flow;
	ext->flow.kind = EXLB_FLOW_ROUTE;
	kmem_cache_free(exlb_flow_cache, flow);	/* never published */
	return &ext->flow;
}

/* For a flow that was never bound to a real server. */
void exlb_flow_free(struct exlb_flow *flow)
{
	nf_ct_put(flow->ct);
	kmem_cache_free(flow_cache_of(flow->kind), flow);
}

/* Under svc->sched_lock, right after exlb_schedule() chose @real. */
void exlb_flow_bind(struct exlb_flow *flow, struct exlb_real *real,
		    bool persisted)
{
	refcount_inc(&real->refcnt);
	flow->real = real;
	flow->persisted = persisted;
}

/* Moves @flow between its real server's counters; under sched_lock. */
static void flow_set_class(struct exlb_flow *flow, enum exlb_flow_class class)
{
	struct exlb_service *svc = exlb_flow_svc(flow);
	struct exlb_sched_target *t = &flow->real->sched;
	u8 key[16];

	lockdep_assert_held(&svc->sched_lock);
	if (flow->class == class)
		return;
	if (flow->class == EXLB_FLOW_ACTIVE)
		t->active--;
	else if (flow->class == EXLB_FLOW_INACTIVE)
		t->inactive--;
	if (class == EXLB_FLOW_ACTIVE)
		t->active++;
	else if (class == EXLB_FLOW_INACTIVE)
		t->inactive++;
	if (class == EXLB_FLOW_CLOSED && flow->persisted) {
		exlb_persist_key_of(svc,
				    &flow->ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple.src.u3,
				    key);
		exlb_persist_release(svc, key);
	}
	/* read locklessly by exlb_flow_seen() and flow_release() */
	WRITE_ONCE(flow->class, class);
}

/*
 * The conntrack reference goes last: a walk or a dump that found the flow
 * under RCU may still read the entry's tuples.
 */
static void flow_free_rcu(struct rcu_head *head)
{
	struct exlb_flow *flow = container_of(head, struct exlb_flow, rcu);

	nf_ct_put(flow->ct);
	kmem_cache_free(flow_cache_of(flow->kind), flow);
}

/*
 * Drops an unlinked (or never linked) bound flow. CLOSED is final (no
 * one moves a flow out of it), so a flow that closed on its own, the
 * usual case, is out of its real server's counts already and needs no
 * sched_lock here: one lock per connection fewer.
 */
static void flow_release(struct exlb_flow *flow)
{
	struct exlb_service *svc = exlb_flow_svc(flow);

	if (READ_ONCE(flow->class) != EXLB_FLOW_CLOSED) {
		spin_lock_bh(&svc->sched_lock);
		flow_set_class(flow, EXLB_FLOW_CLOSED);
		spin_unlock_bh(&svc->sched_lock);
	}
	exlb_real_put(flow->real);
	call_rcu(&flow->rcu, flow_free_rcu);
}

void exlb_flow_abort(struct exlb_net *xn, struct exlb_flow *flow)
{
	flow_release(flow);
}

/*
 * Links a new flow, unless its service or real server went away (or down
 * with droponfail) since it was scheduled: those changes mark first, then
 * pass through flow_lock before they walk the table, so checking here
 * closes the race.
 */
int exlb_flow_insert(struct exlb_net *xn, struct exlb_flow *flow)
{
	struct exlb_real *real = flow->real;
	int err;

	spin_lock_bh(&xn->flow_lock);
	if (READ_ONCE(real->svc->dead) || READ_ONCE(real->removed) ||
	    ((READ_ONCE(real->flags) & EXLB_REAL_F_DOWN) &&
	     READ_ONCE(xn->drop_on_fail))) {
		err = -ESHUTDOWN;
		goto out;
	}
	err = rhashtable_insert_fast(&xn->flow_table, &flow->node, exlb_flow_params);
	if (!err)
		atomic_inc(&xn->flow_gen);
out:
	spin_unlock_bh(&xn->flow_lock);
	return err;
}

/* True for the one caller that took @flow out of the table: it releases it. */
static bool flow_unlink(struct exlb_net *xn, struct exlb_flow *flow)
{
	if (rhashtable_remove_fast(&xn->flow_table, &flow->node, exlb_flow_params))
		return false;
	atomic_inc(&xn->flow_gen);
	return true;
}

/*
 * Packet path (exlb_flow_seen()): the flow's conntrack entry moved to
 * @class. A nat flow that closed goes to whoever unlinks it
 * (flow_release() takes it out of its real server's counts), so closing
 * costs one sched_lock, not two. A closed route flow stays in the table,
 * out of its real server's counts, until its conntrack entry dies: only
 * the flow sends the client's last segments to the real server (no NAT
 * does it for us).
 */
void exlb_flow_reclass(struct exlb_net *xn, struct exlb_flow *flow,
		       enum exlb_flow_class class)
{
	struct exlb_service *svc = exlb_flow_svc(flow);

	if (class == EXLB_FLOW_CLOSED && flow->kind != EXLB_FLOW_ROUTE) {
		if (flow_unlink(xn, flow))
			flow_release(flow);
		return;
	}
	spin_lock_bh(&svc->sched_lock);
	if (flow->class != EXLB_FLOW_CLOSED)
		flow_set_class(flow, class);
	spin_unlock_bh(&svc->sched_lock);
}

/* A linked flow whose first packet is dropped after all. */
void exlb_flow_drop(struct exlb_net *xn, struct exlb_flow *flow)
{
	if (flow_unlink(xn, flow))
		flow_release(flow);
}

/* The conntrack entry is gone, or never made it into the table. */
static bool flow_ct_gone(const struct nf_conn *ct)
{
	if (nf_ct_is_dying(ct))
		return true;
	if (nf_ct_is_confirmed(ct))
		return nf_ct_is_expired(ct);
	/* Unconfirmed and only we hold it: its first packet was dropped. */
	return refcount_read(&ct->ct_general.use) == 1;
}

/* Ends an unlinked flow: kills its entry, resets both ends, releases it. */
static void flow_finish(struct exlb_net *xn, struct exlb_flow *flow,
			bool send_rst)
{
	/*
	 * Killed first: a packet of the entry in flight on another CPU finds
	 * no flow now, and hooks.c would adopt a live entry; a dying one it
	 * leaves alone. The RSTs need only the tracked sequence numbers,
	 * which the entry keeps (we hold it).
	 *
	 * An entry not confirmed yet (its first packet is between
	 * exlb_nat_dst() and conntrack's confirmation, on another CPU) is in
	 * no conntrack list: nf_ct_kill() would unlink hash nodes that were
	 * never linked. Its flow is only released; once confirmed, the entry
	 * is one without a flow, which hooks.c adopts or refuses (a deleted
	 * service's is left to nf_nat, like any NAT entry not exlb's).
	 */
	if (!nf_ct_is_confirmed(flow->ct)) {
		flow_release(flow);
		return;
	}
	nf_ct_kill(flow->ct);
	if (send_rst && !(flow->kind == EXLB_FLOW_ROUTE &&
			  READ_ONCE(flow->class) == EXLB_FLOW_CLOSED)) {
		rcu_read_lock();
		local_bh_disable();
		if (flow->kind == EXLB_FLOW_ROUTE)
			exlb_reset_route(xn->net, flow);
		else if (flow->kind == EXLB_FLOW_ADOPTED)
			exlb_reset_adopted(xn->net, flow);
		else
			exlb_reset_conntrack(xn->net, flow->ct);
		local_bh_enable();
		rcu_read_unlock();
	}
	flow_release(flow);
}

/*
 * Calls @fn on every flow, under RCU, in process context; @fn may unlink
 * and release the flow it is given. Every flow in the table for the whole
 * walk is seen, some twice if the table is resized meanwhile (unlinking
 * happens once). The walk is not paused: resuming could skip a flow of a
 * bucket that changed, and a reset must not.
 */
static void flows_walk(struct exlb_net *xn,
		       void (*fn)(struct exlb_net *xn, struct exlb_flow *flow,
				  void *arg),
		       void *arg)
{
	struct rhashtable_iter iter;
	struct exlb_flow *flow;

	rhashtable_walk_enter(&xn->flow_table, &iter);
	rhashtable_walk_start(&iter);
	while ((flow = rhashtable_walk_next(&iter))) {
		if (IS_ERR(flow))
			continue;	/* -EAGAIN: resized, goes on in the new table */
		fn(xn, flow, arg);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
}

/*
 * How long the answers to reset probes get: a round trip in the LAN, with
 * room for a slow host.
 */
#define EXLB_PROBE_WAIT_MS	100

/*
 * A flow that has been through the flowtable is reset in two steps:
 * conntrack's sequence tracking stopped meanwhile, so the flow leaves the
 * flowtable and each end gets a probe whose answer brings the tracking up
 * to date (offload.c); the RSTs are sent once the answers are in, by a
 * second walk of whoever probed it (a reset, or the timer). The probe's
 * time is the flow's last_seen from then on (no packet stamps a probed
 * flow). True if @flow was probed now, false if it can be finished at
 * once (never offloaded, or not confirmed) or is probed already.
 */
static bool flow_probe(struct exlb_net *xn, struct exlb_flow *flow)
{
	u8 old = READ_ONCE(flow->offload);

	if (!(old & EXLB_OFFLOADED) || (old & EXLB_PROBED))
		return false;
	WRITE_ONCE(flow->last_seen, (u32)jiffies);
	if (!exlb_flow_offload_set(flow, EXLB_PROBED) ||
	    !nf_ct_is_confirmed(flow->ct))
		return false;
	exlb_offload_stop(xn, flow);
	rcu_read_lock();
	local_bh_disable();
	exlb_probe_conntrack(xn->net, flow->ct);
	local_bh_enable();
	rcu_read_unlock();
	return true;
}

/* A probed flow whose answers have had their time. */
static bool flow_probe_done(const struct exlb_flow *flow, unsigned long wait)
{
	/* pairs with flow_probe()'s cmpxchg: the stamp is the probe's */
	return (smp_load_acquire(&flow->offload) & EXLB_PROBED) &&
	       !time_before32((u32)jiffies, READ_ONCE(flow->last_seen) + wait);
}

/* Probed, answers still on their way: left to whoever probed it. */
static bool flow_probe_pending(const struct exlb_flow *flow)
{
	return (READ_ONCE(flow->offload) & EXLB_PROBED) &&
	       !flow_probe_done(flow, msecs_to_jiffies(EXLB_PROBE_WAIT_MS) / 2);
}

struct reset_match {
	const struct exlb_real *real;		/* or NULL */
	const struct exlb_service *svc;		/* or NULL */
	bool send_rst;
	unsigned int probed;			/* flows waiting for answers */
};

static void reset_one(struct exlb_net *xn, struct exlb_flow *flow, void *arg)
{
	struct reset_match *m = arg;

	if (m->real && flow->real != m->real)
		return;
	if (m->svc && exlb_flow_svc(flow) != m->svc)
		return;
	if (m->send_rst && (flow_probe(xn, flow) || flow_probe_pending(flow))) {
		m->probed++;
		return;
	}
	if (flow_unlink(xn, flow))
		flow_finish(xn, flow, m->send_rst);
}

/* Process context: sleeps while probes are answered. */
static void flows_reset_matching(struct exlb_net *xn, struct reset_match *m)
{
	/* every insert that missed the caller's mark is done after this */
	spin_lock_bh(&xn->flow_lock);
	spin_unlock_bh(&xn->flow_lock);
	flows_walk(xn, reset_one, m);
	if (m->probed) {
		msleep(EXLB_PROBE_WAIT_MS);
		/* the probed ones now (one the timer probed meanwhile is its) */
		flows_walk(xn, reset_one, m);
	}
}

void exlb_flows_reset_real(struct exlb_net *xn, struct exlb_real *real)
{
	struct reset_match m = { .real = real, .send_rst = true };

	flows_reset_matching(xn, &m);
}

void exlb_flows_reset_service(struct exlb_net *xn, struct exlb_service *svc)
{
	struct reset_match m = { .svc = svc, .send_rst = true };

	flows_reset_matching(xn, &m);
}

void exlb_flows_reset_all(struct exlb_net *xn, bool send_rst)
{
	struct reset_match m = { .send_rst = send_rst };

	flows_reset_matching(xn, &m);
}

/*
 * Netlink dumps: @fn on every flow from the @start-th on, under RCU, until
 * it returns non-zero. Returns how many flows were passed over or sent,
 * i.e. the next @start (a resize between two calls may shift the order:
 * flow_gen does not see it, so a dump then repeats or misses a few).
 */
long exlb_flows_dump(struct exlb_net *xn, long start,
		     int (*fn)(struct exlb_flow *flow, void *arg), void *arg)
{
	struct rhashtable_iter iter;
	struct exlb_flow *flow;
	long idx = 0;

	rhashtable_walk_enter(&xn->flow_table, &iter);
	rhashtable_walk_start(&iter);
	while ((flow = rhashtable_walk_next(&iter))) {
		if (IS_ERR(flow))
			continue;
		if (idx >= start && fn(flow, arg))
			break;
		idx++;
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
	return idx;
}

struct gc_args {
	unsigned long now;
	u32 final;
	bool drain_drop;
	unsigned int probed;
};

static void gc_one(struct exlb_net *xn, struct exlb_flow *flow, void *arg)
{
	struct gc_args *a = arg;
	struct exlb_real *real = flow->real;
	u32 idle = exlb_effective_idle(xn, real->svc) * HZ;

	if (flow_ct_gone(flow->ct)) {
		if (flow_unlink(xn, flow))
			flow_release(flow);
		return;
	}
	if (flow->kind == EXLB_FLOW_ROUTE &&
	    READ_ONCE(flow->class) == EXLB_FLOW_CLOSED)
		return;		/* closed: waits for its entry to die */
	if (READ_ONCE(flow->offload) & EXLB_PROBED) {
		/* its prober finishes it; this is only the safety net */
		if (flow_probe_done(flow, HZ) && flow_unlink(xn, flow))
			flow_finish(xn, flow, true);
		return;
	}
	if (time_after32((u32)a->now, READ_ONCE(flow->last_seen) + idle) ||
	    (a->drain_drop &&
	     (READ_ONCE(real->flags) & EXLB_REAL_F_DISABLED) &&
	     time_after_eq(a->now, READ_ONCE(real->disabled_at) +
				   a->final * HZ))) {
		if (flow_probe(xn, flow)) {
			a->probed++;
			return;
		}
		if (flow_unlink(xn, flow))
			flow_finish(xn, flow, true);
	}
}

/*
 * The second walk of a collection that probed: finishes those flows (and
 * leaves one a reset probed meanwhile to that reset).
 */
static void gc_finish_probed(struct exlb_net *xn, struct exlb_flow *flow,
			     void *arg)
{
	if (flow_probe_done(flow, msecs_to_jiffies(EXLB_PROBE_WAIT_MS) / 2) &&
	    flow_unlink(xn, flow))
		flow_finish(xn, flow, true);
}

static void gc_work_fn(struct work_struct *work)
{
	struct exlb_net *xn = container_of(to_delayed_work(work),
					   struct exlb_net, gc_work);
	struct gc_args a = {
		.now = jiffies,
		.final = READ_ONCE(xn->final_persist),
		.drain_drop = READ_ONCE(xn->drop_at_drain_end),
	};
	struct exlb_service *svc;

	flows_walk(xn, gc_one, &a);
	if (a.probed) {
		msleep(EXLB_PROBE_WAIT_MS);
		flows_walk(xn, gc_finish_probed, NULL);
	}
	exlb_offload_gc(xn);

	rcu_read_lock();
	list_for_each_entry_rcu(svc, &xn->services, list) {
		spin_lock_bh(&svc->sched_lock);
		exlb_persist_expire(svc, false);
		spin_unlock_bh(&svc->sched_lock);
	}
	rcu_read_unlock();

	/*
	 * Resizing allocates: under the config lock, which keeps the
	 * services alive. Only tried: exlb_hooks_disable() waits for this
	 * work under that lock; the next tick resizes.
	 */
	if (mutex_trylock(&xn->lock)) {
		list_for_each_entry(svc, &xn->services, list)
			exlb_persist_resize(svc);
		mutex_unlock(&xn->lock);
	}

	if (READ_ONCE(xn->hooks_on))
		queue_delayed_work(system_power_efficient_wq, &xn->gc_work, HZ);
}

void exlb_gc_start(struct exlb_net *xn)
{
	INIT_DELAYED_WORK(&xn->gc_work, gc_work_fn);
	queue_delayed_work(system_power_efficient_wq, &xn->gc_work, HZ);
}

/* After hooks_on was cleared, so the work does not queue itself again. */
void exlb_gc_stop(struct exlb_net *xn)
{
	cancel_delayed_work_sync(&xn->gc_work);
}
