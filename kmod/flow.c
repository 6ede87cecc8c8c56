// SPDX-License-Identifier: GPL-2.0
/*
 * Flows: the connections exlb balanced, one per conntrack entry. A flow
 * counts in its real server's active or inactive connections (what lc/wlc
 * and the limit look at) from the SYN until TCP reaches TIME_WAIT or
 * CLOSE, when it is released; conntrack and nf_nat keep translating the
 * last packets. A timer per namespace, once a second, releases flows whose
 * conntrack entry died, resets idle ones and the ones left at the end of a
 * drain, and expires persistence records.
 */
#include <linux/jiffies.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <net/netfilter/nf_conntrack.h>

#include "kmod/exlb.h"

static const struct rhashtable_params flow_params = {
	.head_offset = offsetof(struct exlb_flow, node),
	.key_offset = offsetof(struct exlb_flow, ct),
	.key_len = sizeof(struct nf_conn *),
	.automatic_shrinking = true,
};

enum exlb_flow_class exlb_flow_class_of(u8 tcp_state)
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
	INIT_LIST_HEAD(&xn->flows);
	return rhashtable_init(&xn->flow_table, &flow_params);
}

void exlb_flow_net_exit(struct exlb_net *xn)
{
	rhashtable_destroy(&xn->flow_table);
}

/* Packet path, under RCU. */
struct exlb_flow *exlb_flow_lookup(struct exlb_net *xn,
				   const struct nf_conn *ct)
{
	return rhashtable_lookup(&xn->flow_table, &ct, flow_params);
}

struct exlb_flow *exlb_flow_alloc(struct nf_conn *ct)
{
	struct exlb_flow *flow;

	flow = kmem_cache_zalloc(exlb_flow_cache, GFP_ATOMIC);
	if (!flow)
		return NULL;
	nf_conntrack_get(&ct->ct_general);
	flow->ct = ct;
	flow->last_seen = jiffies;
	flow->class = EXLB_FLOW_INACTIVE;
	INIT_LIST_HEAD(&flow->list);
	return flow;
}

/* For a flow that was never bound to a service. */
void exlb_flow_free(struct exlb_flow *flow)
{
	nf_ct_put(flow->ct);
	kmem_cache_free(exlb_flow_cache, flow);
}

/* Under svc->sched_lock, right after exlb_schedule() chose @real. */
void exlb_flow_bind(struct exlb_flow *flow, struct exlb_service *svc,
		    struct exlb_real *real, bool persisted)
{
	refcount_inc(&svc->refcnt);
	refcount_inc(&real->refcnt);
	flow->svc = svc;
	flow->real = real;
	flow->persisted = persisted;
}

/* Moves @flow between its real server's counters; under sched_lock. */
static void flow_set_class(struct exlb_flow *flow, enum exlb_flow_class class)
{
	struct exlb_sched_target *t = &flow->real->sched;
	u8 key[16];

	lockdep_assert_held(&flow->svc->sched_lock);
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
		exlb_persist_key_of(flow->svc,
				    &flow->ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple.src.u3,
				    key);
		exlb_persist_release(flow->svc, key);
	}
	flow->class = class;
}

static void flow_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(exlb_flow_cache, container_of(head, struct exlb_flow, rcu));
}

/* Drops an unlinked (or never linked) bound flow. */
static void flow_release(struct exlb_flow *flow)
{
	struct exlb_service *svc = flow->svc;

	spin_lock_bh(&svc->sched_lock);
	flow_set_class(flow, EXLB_FLOW_CLOSED);
	spin_unlock_bh(&svc->sched_lock);
	nf_ct_put(flow->ct);
	exlb_real_put(flow->real);
	exlb_service_put(svc);
	call_rcu(&flow->rcu, flow_free_rcu);
}

void exlb_flow_abort(struct exlb_net *xn, struct exlb_flow *flow)
{
	flow_release(flow);
}

/*
 * Links a new flow, unless its service or real server went away (or down
 * with droponfail) since it was scheduled: those changes reset flows under
 * flow_lock after marking, so checking here closes the race.
 */
int exlb_flow_insert(struct exlb_net *xn, struct exlb_flow *flow)
{
	struct exlb_real *real = flow->real;
	int err;

	spin_lock_bh(&xn->flow_lock);
	if (READ_ONCE(flow->svc->dead) || READ_ONCE(real->removed) ||
	    ((READ_ONCE(real->flags) & EXLB_REAL_F_DOWN) &&
	     READ_ONCE(xn->drop_on_fail))) {
		err = -ESHUTDOWN;
		goto out;
	}
	err = rhashtable_insert_fast(&xn->flow_table, &flow->node, flow_params);
	if (err)
		goto out;
	list_add_tail(&flow->list, &xn->flows);
	xn->nflows++;
	xn->flow_gen++;
out:
	spin_unlock_bh(&xn->flow_lock);
	return err;
}

/* Under flow_lock. Only the caller that unlinks a flow releases it. */
static bool flow_unlink(struct exlb_net *xn, struct exlb_flow *flow)
{
	lockdep_assert_held(&xn->flow_lock);
	if (flow->unlinked)
		return false;
	flow->unlinked = true;
	rhashtable_remove_fast(&xn->flow_table, &flow->node, flow_params);
	list_del_init(&flow->list);
	xn->nflows--;
	xn->flow_gen++;
	return true;
}

/* Packet path: the flow's conntrack entry is now in @state. */
void exlb_flow_seen(struct exlb_net *xn, struct exlb_flow *flow, u8 state)
{
	enum exlb_flow_class class = exlb_flow_class_of(state);
	struct exlb_service *svc = flow->svc;
	bool unlinked;

	if (class == READ_ONCE(flow->class))
		return;
	spin_lock_bh(&svc->sched_lock);
	if (flow->class != EXLB_FLOW_CLOSED &&
	    (class != EXLB_FLOW_CLOSED || flow->route))
		flow_set_class(flow, class);
	spin_unlock_bh(&svc->sched_lock);
	/*
	 * A closed route flow stays in the table, out of its real server's
	 * counts, until its conntrack entry dies: only the flow sends the
	 * client's last segments to the real server (no NAT does it for us).
	 */
	if (class != EXLB_FLOW_CLOSED || flow->route)
		return;

	spin_lock_bh(&xn->flow_lock);
	unlinked = flow_unlink(xn, flow);
	spin_unlock_bh(&xn->flow_lock);
	if (unlinked)
		flow_release(flow);
}

/* A linked flow whose first packet is dropped after all. */
void exlb_flow_drop(struct exlb_net *xn, struct exlb_flow *flow)
{
	bool unlinked;

	spin_lock_bh(&xn->flow_lock);
	unlinked = flow_unlink(xn, flow);
	spin_unlock_bh(&xn->flow_lock);
	if (unlinked)
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

static void flows_finish(struct exlb_net *xn, struct list_head *victims,
			 bool send_rst)
{
	struct exlb_flow *flow, *tmp;

	list_for_each_entry_safe(flow, tmp, victims, list) {
		list_del_init(&flow->list);
		/*
		 * Killed first: a packet of the entry in flight on another
		 * CPU finds no flow now, and hooks.c would adopt a live entry;
		 * a dying one it leaves alone. The RSTs need only the tracked
		 * sequence numbers, which the entry keeps (we hold it).
		 */
		nf_ct_kill(flow->ct);
		if (send_rst && !(flow->route &&
				  READ_ONCE(flow->class) == EXLB_FLOW_CLOSED)) {
			rcu_read_lock();
			local_bh_disable();
			if (flow->route)
				exlb_reset_route(xn->net, flow);
			else if (flow->adopted)
				exlb_reset_adopted(xn->net, flow);
			else
				exlb_reset_conntrack(xn->net, flow->ct);
			local_bh_enable();
			rcu_read_unlock();
		}
		flow_release(flow);
	}
}

static void flows_reset_matching(struct exlb_net *xn,
				 bool (*match)(const struct exlb_flow *flow,
					       const void *arg),
				 const void *arg, bool send_rst)
{
	struct exlb_flow *flow, *tmp;
	LIST_HEAD(victims);

	spin_lock_bh(&xn->flow_lock);
	list_for_each_entry_safe(flow, tmp, &xn->flows, list) {
		if (match && !match(flow, arg))
			continue;
		flow_unlink(xn, flow);
		list_add_tail(&flow->list, &victims);
	}
	spin_unlock_bh(&xn->flow_lock);
	flows_finish(xn, &victims, send_rst);
}

static bool match_real(const struct exlb_flow *flow, const void *real)
{
	return flow->real == real;
}

static bool match_service(const struct exlb_flow *flow, const void *svc)
{
	return flow->svc == svc;
}

void exlb_flows_reset_real(struct exlb_net *xn, struct exlb_real *real)
{
	flows_reset_matching(xn, match_real, real, true);
}

void exlb_flows_reset_service(struct exlb_net *xn, struct exlb_service *svc)
{
	flows_reset_matching(xn, match_service, svc, true);
}

void exlb_flows_reset_all(struct exlb_net *xn, bool send_rst)
{
	flows_reset_matching(xn, NULL, NULL, send_rst);
}

static void gc_work_fn(struct work_struct *work)
{
	struct exlb_net *xn = container_of(to_delayed_work(work),
					   struct exlb_net, gc_work);
	u32 final = READ_ONCE(xn->final_persist);
	bool drain_drop = READ_ONCE(xn->drop_at_drain_end);
	unsigned long now = jiffies;
	struct exlb_flow *flow, *tmp;
	struct exlb_service *svc;
	LIST_HEAD(gone);
	LIST_HEAD(victims);

	spin_lock_bh(&xn->flow_lock);
	list_for_each_entry_safe(flow, tmp, &xn->flows, list) {
		struct exlb_real *real = flow->real;
		unsigned long idle = exlb_effective_idle(xn, flow->svc) * HZ;

		if (flow_ct_gone(flow->ct)) {
			flow_unlink(xn, flow);
			list_add_tail(&flow->list, &gone);
		} else if (flow->route &&
			   READ_ONCE(flow->class) == EXLB_FLOW_CLOSED) {
			continue;	/* closed: waits for its entry to die */
		} else if (time_after(now, READ_ONCE(flow->last_seen) + idle) ||
			   (drain_drop &&
			    (READ_ONCE(real->flags) & EXLB_REAL_F_DISABLED) &&
			    time_after_eq(now, READ_ONCE(real->disabled_at) +
						final * HZ))) {
			flow_unlink(xn, flow);
			list_add_tail(&flow->list, &victims);
		}
	}
	spin_unlock_bh(&xn->flow_lock);

	flows_finish(xn, &victims, true);
	list_for_each_entry_safe(flow, tmp, &gone, list) {
		list_del_init(&flow->list);
		flow_release(flow);
	}

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
