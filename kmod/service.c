// SPDX-License-Identifier: GPL-2.0
/*
 * The service table of a namespace and the real servers of each service.
 * Writers hold exlb_net.lock (netlink); the packet path looks services up
 * under RCU and reads the real-server array under the service's
 * sched_lock.
 */
#include <linux/hash.h>
#include <linux/jhash.h>
#include <linux/rculist.h>
#include <linux/slab.h>

#include "kmod/exlb.h"

static u32 svc_hash(u16 family, const union nf_inet_addr *addr, __be16 port)
{
	u32 h = family == AF_INET ? (__force u32)addr->ip :
		jhash(addr->ip6, sizeof(addr->ip6), 0);

	return hash_32(h ^ (__force u32)port, EXLB_SVC_HASH_BITS);
}

static bool addr_equal(u16 family, const union nf_inet_addr *a,
		       const union nf_inet_addr *b)
{
	if (family == AF_INET)
		return a->ip == b->ip;
	return ipv6_addr_equal(&a->in6, &b->in6);
}

/* Called under RCU from the packet path, or under exlb_net.lock. */
struct exlb_service *exlb_service_lookup_addr(struct exlb_net *xn, u16 family,
					      const union nf_inet_addr *addr,
					      __be16 port)
{
	struct exlb_service *svc;

	hlist_for_each_entry_rcu(svc, &xn->svc_by_addr[svc_hash(family, addr, port)],
				 addr_node, lockdep_is_held(&xn->lock)) {
		if (svc->family == family && svc->port == port &&
		    addr_equal(family, &svc->addr, addr))
			return svc;
	}
	return NULL;
}

struct exlb_service *exlb_service_find_id(struct exlb_net *xn, u32 id)
{
	struct exlb_service *svc;

	lockdep_assert_held(&xn->lock);
	list_for_each_entry(svc, &xn->services, list)
		if (svc->id == id)
			return svc;
	return NULL;
}

struct exlb_service *exlb_service_alloc(void)
{
	struct exlb_service *svc;

	svc = kzalloc(sizeof(*svc), GFP_KERNEL);
	if (!svc)
		return NULL;
	svc->reals = kcalloc(EXLB_MAX_REALS, sizeof(*svc->reals), GFP_KERNEL);
	svc->targets = kcalloc(EXLB_MAX_REALS, sizeof(*svc->targets), GFP_KERNEL);
	if (!svc->reals || !svc->targets || exlb_persist_init(svc)) {
		exlb_persist_destroy(svc);
		kfree(svc->targets);
		kfree(svc->reals);
		kfree(svc);
		return NULL;
	}
	spin_lock_init(&svc->sched_lock);
	refcount_set(&svc->refcnt, 1);
	svc->sched_alg = EXLB_SCHED_RR;
	svc->persist = EXLB_PERSIST_NONE;
	svc->persist_timeout = EXLB_DEFAULT_PERSIST_TIMEOUT;
	return svc;
}

static void service_free_rcu(struct rcu_head *head)
{
	struct exlb_service *svc = container_of(head, struct exlb_service, rcu);

	/* the last flow is gone: nothing reads the pool any more */
	kfree(rcu_dereference_protected(svc->snat_pool, 1));
	exlb_persist_destroy(svc);
	kfree(svc->targets);
	kfree(svc->reals);
	kfree(svc);
}

void exlb_service_put(struct exlb_service *svc)
{
	if (refcount_dec_and_test(&svc->refcnt))
		call_rcu(&svc->rcu, service_free_rcu);
}

static u32 service_free_id(struct exlb_net *xn)
{
	u32 id;

	do {
		if (++xn->next_id == 0)
			xn->next_id = 1;
		id = xn->next_id;
	} while (exlb_service_find_id(xn, id));
	return id;
}

/* Takes over the caller's reference on @svc on success. */
int exlb_service_add(struct exlb_net *xn, struct exlb_service *svc,
		     struct netlink_ext_ack *extack)
{
	int err;

	lockdep_assert_held(&xn->lock);
	if (svc->id && exlb_service_find_id(xn, svc->id)) {
		NL_SET_ERR_MSG(extack, "a service with this id exists");
		return -EEXIST;
	}
	if (svc->has_addr &&
	    exlb_service_lookup_addr(xn, svc->family, &svc->addr, svc->port)) {
		NL_SET_ERR_MSG(extack, "a service with this address and port exists");
		return -EEXIST;
	}
	if (!xn->hooks_on) {
		err = exlb_hooks_enable(xn);
		if (err) {
			NL_SET_ERR_MSG(extack, "cannot register netfilter hooks");
			return err;
		}
	}
	if (!svc->id)
		svc->id = service_free_id(xn);
	svc->xn = xn;
	list_add_tail_rcu(&svc->list, &xn->services);
	if (svc->has_addr)
		hlist_add_head_rcu(&svc->addr_node,
				   &xn->svc_by_addr[svc_hash(svc->family, &svc->addr,
							      svc->port)]);
	xn->nservices++;
	xn->config_gen++;
	return 0;
}

/* Unhooks @svc, resets its flows, drops its reals and its table reference. */
void exlb_service_del(struct exlb_net *xn, struct exlb_service *svc)
{
	unsigned int i, n;
	struct exlb_real **reals;

	lockdep_assert_held(&xn->lock);
	if (svc->has_addr)
		hlist_del_rcu(&svc->addr_node);
	list_del_rcu(&svc->list);
	xn->nservices--;
	xn->config_gen++;

	spin_lock_bh(&svc->sched_lock);
	svc->dead = true;
	n = svc->nreals;
	svc->nreals = 0;
	spin_unlock_bh(&svc->sched_lock);

	exlb_flows_reset_service(xn, svc);

	spin_lock_bh(&svc->sched_lock);
	exlb_persist_expire(svc, true);
	spin_unlock_bh(&svc->sched_lock);

	reals = svc->reals;
	for (i = 0; i < n; i++) {
		exlb_real_put(reals[i]);
		reals[i] = NULL;
	}
	exlb_service_put(svc);

	if (!xn->nservices && xn->hooks_on)
		exlb_hooks_disable(xn);
}

void exlb_service_flush(struct exlb_net *xn)
{
	struct exlb_service *svc, *tmp;

	lockdep_assert_held(&xn->lock);
	list_for_each_entry_safe(svc, tmp, &xn->services, list)
		exlb_service_del(xn, svc);
}

struct exlb_real *exlb_real_alloc(struct exlb_service *svc)
{
	struct exlb_real *real;

	real = kzalloc(sizeof(*real), GFP_KERNEL);
	if (!real)
		return NULL;
	real->stats = netdev_alloc_pcpu_stats(struct exlb_stats_pcpu);
	if (!real->stats) {
		kfree(real);
		return NULL;
	}
	refcount_set(&real->refcnt, 1);
	refcount_inc(&svc->refcnt);
	real->svc = svc;
	real->sched.weight = EXLB_DEFAULT_WEIGHT;
	real->sched.usable = true;
	return real;
}

static void stats_sub(struct exlb_stats *a, const struct exlb_stats *b)
{
	a->conns -= b->conns;
	a->pkts_in -= b->pkts_in;
	a->pkts_out -= b->pkts_out;
	a->bytes_in -= b->bytes_in;
	a->bytes_out -= b->bytes_out;
}

/*
 * No packet can count in @real any more: what it counted since its
 * deletion (packets in flight then) goes to its service too, which it
 * keeps alive until now. The service's own callback may follow: the
 * module's exit waits for both.
 */
static void real_free_rcu(struct rcu_head *head)
{
	struct exlb_real *real = container_of(head, struct exlb_real, rcu);
	struct exlb_service *svc = real->svc;
	struct exlb_stats last;

	exlb_stats_read(real->stats, &last);
	stats_sub(&last, &real->retired);
	spin_lock_bh(&svc->sched_lock);
	exlb_stats_accumulate(&svc->retired, &last);
	spin_unlock_bh(&svc->sched_lock);
	free_percpu(real->stats);
	kfree(real);
	exlb_service_put(svc);
}

void exlb_real_put(struct exlb_real *real)
{
	if (refcount_dec_and_test(&real->refcnt))
		call_rcu(&real->rcu, real_free_rcu);
}

struct exlb_real *exlb_real_find(struct exlb_service *svc,
				 const union nf_inet_addr *addr, __be16 port)
{
	unsigned int i;

	for (i = 0; i < svc->nreals; i++) {
		struct exlb_real *real = svc->reals[i];

		if (real->port == port && addr_equal(svc->family, &real->addr, addr))
			return real;
	}
	return NULL;
}

/* Takes over the caller's reference on @real on success. */
int exlb_real_add(struct exlb_service *svc, struct exlb_real *real,
		  struct netlink_ext_ack *extack)
{
	lockdep_assert_held(&svc->xn->lock);
	if (exlb_real_find(svc, &real->addr, real->port)) {
		NL_SET_ERR_MSG(extack, "this real server exists in the service");
		return -EEXIST;
	}
	if (svc->nreals >= EXLB_MAX_REALS) {
		NL_SET_ERR_MSG(extack, "too many real servers in the service");
		return -ENOSPC;
	}
	real->sched.usable = !(real->flags & __EXLB_REAL_F_ALL);
	spin_lock_bh(&svc->sched_lock);
	svc->reals[svc->nreals] = real;
	svc->targets[svc->nreals] = &real->sched;
	svc->nreals++;
	spin_unlock_bh(&svc->sched_lock);
	svc->xn->config_gen++;
	return 0;
}

void exlb_real_del(struct exlb_service *svc, struct exlb_real *real)
{
	unsigned int i;

	lockdep_assert_held(&svc->xn->lock);
	spin_lock_bh(&svc->sched_lock);
	for (i = 0; i < svc->nreals; i++)
		if (svc->reals[i] == real)
			break;
	if (i == svc->nreals) {
		spin_unlock_bh(&svc->sched_lock);
		return;
	}
	for (; i + 1 < svc->nreals; i++) {
		svc->reals[i] = svc->reals[i + 1];
		svc->targets[i] = svc->targets[i + 1];
	}
	svc->nreals--;
	svc->reals[svc->nreals] = NULL;
	svc->targets[svc->nreals] = NULL;
	real->sched.usable = false;
	WRITE_ONCE(real->removed, true);
	/* its counts stay in the service's (real_free_rcu() adds the rest) */
	exlb_stats_read(real->stats, &real->retired);
	exlb_stats_accumulate(&svc->retired, &real->retired);
	spin_unlock_bh(&svc->sched_lock);
	svc->xn->config_gen++;

	exlb_flows_reset_real(svc->xn, real);
	exlb_real_put(real);
}

/*
 * Applies new EXLB_REAL_F_* flags. A server going down with droponfail on
 * has its flows reset now; a server being disabled starts its drain clock.
 */
void exlb_real_set_flags(struct exlb_service *svc, struct exlb_real *real,
			 u32 flags)
{
	struct exlb_net *xn = svc->xn;
	bool went_down;

	lockdep_assert_held(&xn->lock);
	spin_lock_bh(&svc->sched_lock);
	went_down = (flags & EXLB_REAL_F_DOWN) && !(real->flags & EXLB_REAL_F_DOWN);
	if ((flags & EXLB_REAL_F_DISABLED) && !(real->flags & EXLB_REAL_F_DISABLED))
		real->disabled_at = jiffies;
	WRITE_ONCE(real->flags, flags);
	real->sched.usable = !(flags & __EXLB_REAL_F_ALL);
	spin_unlock_bh(&svc->sched_lock);
	xn->config_gen++;

	if (went_down && xn->drop_on_fail)
		exlb_flows_reset_real(xn, real);
}

void exlb_real_counts(struct exlb_real *real, u32 *active, u32 *inactive)
{
	spin_lock_bh(&real->svc->sched_lock);
	*active = real->sched.active;
	*inactive = real->sched.inactive;
	spin_unlock_bh(&real->svc->sched_lock);
}

u32 exlb_effective_idle(const struct exlb_net *xn,
			const struct exlb_service *svc)
{
	u32 idle = READ_ONCE(svc->idle_timeout);

	if (!idle)
		idle = READ_ONCE(xn->conn_timeout);
	return idle ? idle : EXLB_DEFAULT_CONN_TIMEOUT;
}

void exlb_stats_accumulate(struct exlb_stats *sum, const struct exlb_stats *add)
{
	sum->conns += add->conns;
	sum->pkts_in += add->pkts_in;
	sum->pkts_out += add->pkts_out;
	sum->bytes_in += add->bytes_in;
	sum->bytes_out += add->bytes_out;
}

/*
 * A service's counters: its real servers' and its deleted ones'. Under
 * exlb_net.lock, which keeps the list of reals as it is.
 */
void exlb_service_stats(struct exlb_service *svc, struct exlb_stats *sum)
{
	struct exlb_stats st;
	unsigned int i;

	lockdep_assert_held(&svc->xn->lock);
	spin_lock_bh(&svc->sched_lock);
	*sum = svc->retired;
	spin_unlock_bh(&svc->sched_lock);
	for (i = 0; i < svc->nreals; i++) {
		exlb_stats_read(svc->reals[i]->stats, &st);
		exlb_stats_accumulate(sum, &st);
	}
}

void exlb_stats_read(struct exlb_stats_pcpu __percpu *stats,
		     struct exlb_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct exlb_stats_pcpu *s = per_cpu_ptr(stats, cpu);
		struct exlb_stats v;
		unsigned int start;

		do {
			start = u64_stats_fetch_begin(&s->syncp);
			v.conns = u64_stats_read(&s->conns);
			v.pkts_in = u64_stats_read(&s->pkts_in);
			v.pkts_out = u64_stats_read(&s->pkts_out);
			v.bytes_in = u64_stats_read(&s->bytes_in);
			v.bytes_out = u64_stats_read(&s->bytes_out);
		} while (u64_stats_fetch_retry(&s->syncp, start));
		sum->conns += v.conns;
		sum->pkts_in += v.pkts_in;
		sum->pkts_out += v.pkts_out;
		sum->bytes_in += v.bytes_in;
		sum->bytes_out += v.bytes_out;
	}
}
