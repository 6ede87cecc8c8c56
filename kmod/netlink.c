// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "exlb": policies, parsing and replies. The
 * protocol is documented in uapi/linux/exlb.h. Every request is checked
 * in full before anything changes, so a refused request changes nothing.
 */
#include <linux/in6.h>
#include <linux/inetdevice.h>
#include <net/addrconf.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/route.h>

#include "kmod/exlb.h"

static struct genl_family exlb_genl_family;

static struct netlink_range_validation persist_timeout_range = {
	.min = 1,
	.max = EXLB_MAX_PERSIST_TIMEOUT,
};

static struct netlink_range_validation seconds_range = {
	.max = EXLB_MAX_IDLE_TIMEOUT,
};

static struct netlink_range_validation weight_range = {
	.max = EXLB_MAX_WEIGHT,
};

static struct netlink_range_validation limit_range = {
	.max = EXLB_MAX_LIMIT,
};

static const struct nla_policy svc_policy[EXLB_SVC_A_MAX + 1] = {
	[EXLB_SVC_A_ID] = { .type = NLA_U32 },
	[EXLB_SVC_A_FAMILY] = { .type = NLA_U16 },
	[EXLB_SVC_A_ADDR] = NLA_POLICY_RANGE(NLA_BINARY, sizeof(struct in_addr),
					     sizeof(struct in6_addr)),
	[EXLB_SVC_A_PORT] = NLA_POLICY_MIN(NLA_U16, 1),
	[EXLB_SVC_A_PROTOCOL] = NLA_POLICY_RANGE(NLA_U8, IPPROTO_TCP, IPPROTO_TCP),
	[EXLB_SVC_A_SCHED] = NLA_POLICY_MAX(NLA_U8, EXLB_SCHED_MAX),
	[EXLB_SVC_A_PERSIST] = NLA_POLICY_MAX(NLA_U8, EXLB_PERSIST_MAX),
	[EXLB_SVC_A_PERSIST_TIMEOUT] = NLA_POLICY_FULL_RANGE(NLA_U32,
							     &persist_timeout_range),
	[EXLB_SVC_A_PERSIST_NETMASK] = NLA_POLICY_MAX(NLA_U8, 128),
	[EXLB_SVC_A_IDLE_TIMEOUT] = NLA_POLICY_FULL_RANGE(NLA_U32, &seconds_range),
	[EXLB_SVC_A_FLAGS] = NLA_POLICY_MASK(NLA_U32, __EXLB_SVC_F_ALL),
	[EXLB_SVC_A_ALT_SOURCE_ADDRS] = {
		.type = NLA_BINARY,
		.len = EXLB_MAX_ALT_SOURCE_ADDRS * sizeof(struct in6_addr),
	},
	/* replies only */
	[EXLB_SVC_A_NUM_REALS] = { .type = NLA_REJECT },
	[EXLB_SVC_A_ACTIVE_CONNS] = { .type = NLA_REJECT },
	[EXLB_SVC_A_INACTIVE_CONNS] = { .type = NLA_REJECT },
	[EXLB_SVC_A_STATS] = { .type = NLA_REJECT },
	[EXLB_SVC_A_PERSIST_RECORDS] = { .type = NLA_REJECT },
};

static const struct nla_policy real_policy[EXLB_REAL_A_MAX + 1] = {
	[EXLB_REAL_A_ADDR] = NLA_POLICY_RANGE(NLA_BINARY, sizeof(struct in_addr),
					      sizeof(struct in6_addr)),
	[EXLB_REAL_A_PORT] = NLA_POLICY_MIN(NLA_U16, 1),
	[EXLB_REAL_A_WEIGHT] = NLA_POLICY_FULL_RANGE(NLA_U32, &weight_range),
	[EXLB_REAL_A_LIMIT] = NLA_POLICY_FULL_RANGE(NLA_U32, &limit_range),
	[EXLB_REAL_A_FORWARD] = NLA_POLICY_MAX(NLA_U8, EXLB_FORWARD_MAX),
	[EXLB_REAL_A_FLAGS] = NLA_POLICY_MASK(NLA_U32, __EXLB_REAL_F_ALL),
	/* replies only */
	[EXLB_REAL_A_ACTIVE_CONNS] = { .type = NLA_REJECT },
	[EXLB_REAL_A_INACTIVE_CONNS] = { .type = NLA_REJECT },
	[EXLB_REAL_A_STATS] = { .type = NLA_REJECT },
};

static const struct nla_policy global_policy[EXLB_GLOBAL_A_MAX + 1] = {
	[EXLB_GLOBAL_A_DROP_ON_FAIL] = NLA_POLICY_MAX(NLA_U8, 1),
	[EXLB_GLOBAL_A_DROP_AT_DRAIN_END] = NLA_POLICY_MAX(NLA_U8, 1),
	[EXLB_GLOBAL_A_FINAL_PERSIST] = NLA_POLICY_FULL_RANGE(NLA_U32, &seconds_range),
	[EXLB_GLOBAL_A_CONN_TIMEOUT] = NLA_POLICY_FULL_RANGE(NLA_U32, &seconds_range),
	/* replies only */
	[EXLB_GLOBAL_A_PAD] = { .type = NLA_REJECT },
	[EXLB_GLOBAL_A_ADOPTED] = { .type = NLA_REJECT },
	[EXLB_GLOBAL_A_ADOPT_RESET] = { .type = NLA_REJECT },
	[EXLB_GLOBAL_A_OFFLOADED] = { .type = NLA_REJECT },
	[EXLB_GLOBAL_A_OFFLOAD_DEVS] = { .type = NLA_REJECT },
};

static const struct nla_policy persist_policy[EXLB_PERSIST_A_MAX + 1] = {
	[EXLB_PERSIST_A_KEY] = NLA_POLICY_EXACT_LEN(EXLB_PERSIST_KEY_LEN),
	[EXLB_PERSIST_A_TIMEOUT] = NLA_POLICY_FULL_RANGE(NLA_U32,
							 &persist_timeout_range),
	/* replies only */
	[EXLB_PERSIST_A_CONNS] = { .type = NLA_REJECT },
};

static const struct nla_policy exlb_policy[EXLB_A_MAX + 1] = {
	[EXLB_A_SERVICE] = NLA_POLICY_NESTED(svc_policy),
	[EXLB_A_REAL] = NLA_POLICY_NESTED(real_policy),
	[EXLB_A_FLOW] = { .type = NLA_REJECT },
	[EXLB_A_GLOBALS] = NLA_POLICY_NESTED(global_policy),
	[EXLB_A_PERSIST] = NLA_POLICY_NESTED(persist_policy),
};

static unsigned int addr_len(u16 family)
{
	return family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
}

static int get_addr(const struct nlattr *attr, u16 family,
		    union nf_inet_addr *addr, struct netlink_ext_ack *extack)
{
	if (nla_len(attr) != addr_len(family)) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "address length does not match the family");
		return -EINVAL;
	}
	memset(addr, 0, sizeof(*addr));
	memcpy(addr, nla_data(attr), nla_len(attr));
	return 0;
}

static int parse_nested(struct nlattr **tb, int max, const struct nlattr *attr,
			const struct nla_policy *policy,
			struct netlink_ext_ack *extack)
{
	if (!attr)
		return -ENOENT;
	return nla_parse_nested(tb, max, attr, policy, extack);
}

/*
 * Finds the service named in EXLB_A_SERVICE: by id when one is given,
 * else by family, address and port.
 */
static struct exlb_service *service_from_attrs(struct exlb_net *xn,
					       struct nlattr **attrs,
					       struct netlink_ext_ack *extack)
{
	struct nlattr *tb[EXLB_SVC_A_MAX + 1];
	struct exlb_service *svc;
	union nf_inet_addr addr;
	u16 family;
	int err;

	err = parse_nested(tb, EXLB_SVC_A_MAX, attrs[EXLB_A_SERVICE], svc_policy,
			   extack);
	if (err) {
		if (err == -ENOENT)
			NL_SET_ERR_MSG(extack, "EXLB_A_SERVICE is required");
		return ERR_PTR(err == -ENOENT ? -EINVAL : err);
	}
	if (tb[EXLB_SVC_A_ID]) {
		svc = exlb_service_find_id(xn, nla_get_u32(tb[EXLB_SVC_A_ID]));
		if (!svc) {
			NL_SET_ERR_MSG_ATTR(extack, tb[EXLB_SVC_A_ID],
					    "no service with this id");
			return ERR_PTR(-ENOENT);
		}
		return svc;
	}
	if (!tb[EXLB_SVC_A_FAMILY] || !tb[EXLB_SVC_A_ADDR] || !tb[EXLB_SVC_A_PORT]) {
		NL_SET_ERR_MSG(extack,
			       "identify the service by id or by family, address and port");
		return ERR_PTR(-EINVAL);
	}
	family = nla_get_u16(tb[EXLB_SVC_A_FAMILY]);
	if (family != AF_INET && family != AF_INET6) {
		NL_SET_ERR_MSG_ATTR(extack, tb[EXLB_SVC_A_FAMILY],
				    "family must be AF_INET or AF_INET6");
		return ERR_PTR(-EAFNOSUPPORT);
	}
	err = get_addr(tb[EXLB_SVC_A_ADDR], family, &addr, extack);
	if (err)
		return ERR_PTR(err);
	svc = exlb_service_lookup_addr(xn, family, &addr,
				       htons(nla_get_u16(tb[EXLB_SVC_A_PORT])));
	if (!svc) {
		NL_SET_ERR_MSG(extack, "no service with this address and port");
		return ERR_PTR(-ENOENT);
	}
	return svc;
}

/* The settable fields of a service, parsed before anything changes. */
struct svc_settings {
	u8 sched_alg, persist, persist_netmask;
	u32 persist_timeout, idle_timeout, flags;
	bool pool_set;			/* ALT_SOURCE_ADDRS given */
	bool has_pool;			/* the service will have a pool */
	struct exlb_snat_pool *pool;	/* the new one, NULL = none */
};

static bool addr_is_local(struct net *net, u16 family,
			  const union nf_inet_addr *a)
{
	if (family == AF_INET)
		return inet_addr_type(net, a->ip) == RTN_LOCAL;
	return ipv6_chk_addr(net, &a->in6, NULL, 0);
}

/* EXLB_SVC_A_ALT_SOURCE_ADDRS: a packed list of local addresses. */
static int svc_pool_parse(struct svc_settings *s, struct net *net, u16 family,
			  const struct nlattr *attr,
			  struct netlink_ext_ack *extack)
{
	unsigned int len = addr_len(family), n, i;
	struct exlb_snat_pool *pool;

	if (nla_len(attr) % len) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "alternate source addresses: length not a multiple of the family's address");
		return -EINVAL;
	}
	n = nla_len(attr) / len;
	if (n > EXLB_MAX_ALT_SOURCE_ADDRS) {
		NL_SET_ERR_MSG_ATTR(extack, attr, "too many alternate source addresses");
		return -EINVAL;
	}
	s->pool_set = true;
	s->has_pool = n > 0;
	if (!n)
		return 0;
	pool = kzalloc(struct_size(pool, addrs, n), GFP_KERNEL);
	if (!pool)
		return -ENOMEM;
	pool->n = n;
	for (i = 0; i < n; i++) {
		memcpy(&pool->addrs[i], (const u8 *)nla_data(attr) + i * len, len);
		if (!addr_is_local(net, family, &pool->addrs[i])) {
			NL_SET_ERR_MSG_ATTR(extack, attr,
					    "an alternate source address is not local");
			kfree(pool);
			return -EADDRNOTAVAIL;
		}
	}
	s->pool = pool;
	return 0;
}

/* On success the caller owns s->pool: svc_settings_apply() or kfree(). */
static int svc_settings_parse(struct svc_settings *s, struct net *net,
			      u16 family, struct nlattr **tb,
			      struct netlink_ext_ack *extack)
{
	int err;

	if (tb[EXLB_SVC_A_SCHED])
		s->sched_alg = nla_get_u8(tb[EXLB_SVC_A_SCHED]);
	if (tb[EXLB_SVC_A_PERSIST])
		s->persist = nla_get_u8(tb[EXLB_SVC_A_PERSIST]);
	if (tb[EXLB_SVC_A_PERSIST_TIMEOUT])
		s->persist_timeout = nla_get_u32(tb[EXLB_SVC_A_PERSIST_TIMEOUT]);
	if (tb[EXLB_SVC_A_PERSIST_NETMASK]) {
		s->persist_netmask = nla_get_u8(tb[EXLB_SVC_A_PERSIST_NETMASK]);
		if (s->persist_netmask > addr_len(family) * 8) {
			NL_SET_ERR_MSG_ATTR(extack, tb[EXLB_SVC_A_PERSIST_NETMASK],
					    "netmask longer than the address");
			return -EINVAL;
		}
	}
	if (tb[EXLB_SVC_A_IDLE_TIMEOUT])
		s->idle_timeout = nla_get_u32(tb[EXLB_SVC_A_IDLE_TIMEOUT]);
	if (tb[EXLB_SVC_A_FLAGS])
		s->flags = nla_get_u32(tb[EXLB_SVC_A_FLAGS]);
	if (tb[EXLB_SVC_A_ALT_SOURCE_ADDRS]) {
		err = svc_pool_parse(s, net, family,
				     tb[EXLB_SVC_A_ALT_SOURCE_ADDRS], extack);
		if (err)
			return err;
	}
	if (s->has_pool && (s->flags & EXLB_SVC_F_TRANSPARENT)) {
		NL_SET_ERR_MSG(extack,
			       "alternate source addresses and Transparent exclude each other");
		kfree(s->pool);
		return -EINVAL;
	}
	return 0;
}

static void svc_settings_apply(struct exlb_service *svc,
			       const struct svc_settings *s)
{
	spin_lock_bh(&svc->sched_lock);
	if (svc->sched_alg != s->sched_alg)
		memset(&svc->sched, 0, sizeof(svc->sched));
	svc->sched_alg = s->sched_alg;
	svc->persist = s->persist;
	svc->persist_netmask = s->persist_netmask;
	WRITE_ONCE(svc->persist_timeout, s->persist_timeout);
	WRITE_ONCE(svc->idle_timeout, s->idle_timeout);
	WRITE_ONCE(svc->flags, s->flags);
	if (svc->persist == EXLB_PERSIST_NONE)
		exlb_persist_expire(svc, true);
	spin_unlock_bh(&svc->sched_lock);
	if (s->pool_set) {
		/* under exlb_net.lock, or before the service is visible */
		struct exlb_snat_pool *old = rcu_replace_pointer(svc->snat_pool,
								 s->pool, true);

		if (old)
			kfree_rcu(old, rcu);
	}
}

static void svc_settings_of(const struct exlb_service *svc,
			    struct svc_settings *s)
{
	s->sched_alg = svc->sched_alg;
	s->persist = svc->persist;
	s->persist_netmask = svc->persist_netmask;
	s->persist_timeout = svc->persist_timeout;
	s->idle_timeout = svc->idle_timeout;
	s->flags = svc->flags;
	s->pool_set = false;
	s->pool = NULL;
	s->has_pool = !!rcu_access_pointer(svc->snat_pool);
}

static int exlb_new_service(struct sk_buff *skb, struct genl_info *info)
{
	struct exlb_net *xn = exlb_pernet(genl_info_net(info));
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr *tb[EXLB_SVC_A_MAX + 1];
	struct exlb_service *svc;
	struct svc_settings s;
	struct sk_buff *msg;
	u16 family;
	void *hdr;
	int err;

	err = parse_nested(tb, EXLB_SVC_A_MAX, info->attrs[EXLB_A_SERVICE],
			   svc_policy, extack);
	if (err) {
		if (err == -ENOENT)
			NL_SET_ERR_MSG(extack, "EXLB_A_SERVICE is required");
		return err == -ENOENT ? -EINVAL : err;
	}
	if (!tb[EXLB_SVC_A_FAMILY]) {
		NL_SET_ERR_MSG(extack, "EXLB_SVC_A_FAMILY is required");
		return -EINVAL;
	}
	family = nla_get_u16(tb[EXLB_SVC_A_FAMILY]);
	if (family != AF_INET && family != AF_INET6) {
		NL_SET_ERR_MSG_ATTR(extack, tb[EXLB_SVC_A_FAMILY],
				    "family must be AF_INET or AF_INET6");
		return -EAFNOSUPPORT;
	}
	if (!!tb[EXLB_SVC_A_ADDR] != !!tb[EXLB_SVC_A_PORT]) {
		NL_SET_ERR_MSG(extack, "an address needs a port and a port an address");
		return -EINVAL;
	}
	if (!tb[EXLB_SVC_A_ADDR] &&
	    (!tb[EXLB_SVC_A_ID] || !nla_get_u32(tb[EXLB_SVC_A_ID]))) {
		NL_SET_ERR_MSG(extack, "a service without an address needs an id");
		return -EINVAL;
	}

	svc = exlb_service_alloc();
	if (!svc)
		return -ENOMEM;
	svc->family = family;
	if (tb[EXLB_SVC_A_ID])
		svc->id = nla_get_u32(tb[EXLB_SVC_A_ID]);
	if (tb[EXLB_SVC_A_ADDR]) {
		err = get_addr(tb[EXLB_SVC_A_ADDR], family, &svc->addr, extack);
		if (err)
			goto err_free;
		svc->has_addr = true;
		svc->port = htons(nla_get_u16(tb[EXLB_SVC_A_PORT]));
	}
	svc_settings_of(svc, &s);
	err = svc_settings_parse(&s, genl_info_net(info), family, tb, extack);
	if (err)
		goto err_free;
	svc_settings_apply(svc, &s);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		err = -ENOMEM;
		goto err_free;
	}
	mutex_lock(&xn->lock);
	err = exlb_service_add(xn, svc, extack);
	if (err) {
		mutex_unlock(&xn->lock);
		nlmsg_free(msg);
		goto err_free;
	}
	hdr = genlmsg_put_reply(msg, info, &exlb_genl_family, 0,
				EXLB_CMD_NEW_SERVICE);
	if (hdr) {
		struct nlattr *nest = nla_nest_start(msg, EXLB_A_SERVICE);

		if (nest && !nla_put_u32(msg, EXLB_SVC_A_ID, svc->id)) {
			nla_nest_end(msg, nest);
			genlmsg_end(msg, hdr);
			hdr = NULL;
		}
	}
	mutex_unlock(&xn->lock);
	if (hdr) {
		/* The service exists; only the courtesy reply failed. */
		nlmsg_free(msg);
		return 0;
	}
	return genlmsg_reply(msg, info);

err_free:
	exlb_service_put(svc);
	return err;
}

static int exlb_set_service(struct sk_buff *skb, struct genl_info *info)
{
	struct exlb_net *xn = exlb_pernet(genl_info_net(info));
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr *tb[EXLB_SVC_A_MAX + 1];
	struct exlb_service *svc;
	struct svc_settings s;
	int err;

	mutex_lock(&xn->lock);
	svc = service_from_attrs(xn, info->attrs, extack);
	if (IS_ERR(svc)) {
		err = PTR_ERR(svc);
		goto out;
	}
	err = parse_nested(tb, EXLB_SVC_A_MAX, info->attrs[EXLB_A_SERVICE],
			   svc_policy, extack);
	if (err)
		goto out;
	if (tb[EXLB_SVC_A_ID] && (tb[EXLB_SVC_A_ADDR] || tb[EXLB_SVC_A_PORT])) {
		NL_SET_ERR_MSG(extack,
			       "the address of a service cannot change: delete and add it");
		err = -EINVAL;
		goto out;
	}
	svc_settings_of(svc, &s);
	err = svc_settings_parse(&s, genl_info_net(info), svc->family, tb,
				 extack);
	if (err)
		goto out;
	svc_settings_apply(svc, &s);
	xn->config_gen++;
out:
	mutex_unlock(&xn->lock);
	return err;
}

static int exlb_del_service(struct sk_buff *skb, struct genl_info *info)
{
	struct exlb_net *xn = exlb_pernet(genl_info_net(info));
	struct exlb_service *svc;
	int err = 0;

	mutex_lock(&xn->lock);
	svc = service_from_attrs(xn, info->attrs, info->extack);
	if (IS_ERR(svc))
		err = PTR_ERR(svc);
	else
		exlb_service_del(xn, svc);
	mutex_unlock(&xn->lock);
	return err;
}

/* The counters only a service has, read under its sched_lock. */
struct svc_counters {
	u64 no_source_port, persist_evicted, persist_full;
	u32 persist_records;
};

static int put_stats(struct sk_buff *msg, int type,
		     const struct exlb_stats *st,
		     const struct svc_counters *c)
{
	struct nlattr *nest;

	nest = nla_nest_start(msg, type);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(msg, EXLB_STATS_A_CONNS, st->conns, EXLB_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, EXLB_STATS_A_PKTS_IN, st->pkts_in, EXLB_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, EXLB_STATS_A_PKTS_OUT, st->pkts_out, EXLB_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, EXLB_STATS_A_BYTES_IN, st->bytes_in, EXLB_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, EXLB_STATS_A_BYTES_OUT, st->bytes_out, EXLB_STATS_A_PAD) ||
	    (c &&
	     (nla_put_u64_64bit(msg, EXLB_STATS_A_NO_SOURCE_PORT,
				c->no_source_port, EXLB_STATS_A_PAD) ||
	      nla_put_u64_64bit(msg, EXLB_STATS_A_PERSIST_EVICTED,
				c->persist_evicted, EXLB_STATS_A_PAD) ||
	      nla_put_u64_64bit(msg, EXLB_STATS_A_PERSIST_FULL,
				c->persist_full, EXLB_STATS_A_PAD)))) {
		nla_nest_cancel(msg, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	return 0;
}

/* Under exlb_net.lock. */
static int put_pool(struct sk_buff *msg, struct exlb_service *svc)
{
	const struct exlb_snat_pool *pool = rcu_dereference_protected(svc->snat_pool, 1);
	unsigned int len = addr_len(svc->family), i;
	struct nlattr *attr;

	if (!pool)
		return 0;
	attr = nla_reserve(msg, EXLB_SVC_A_ALT_SOURCE_ADDRS, pool->n * len);
	if (!attr)
		return -EMSGSIZE;
	for (i = 0; i < pool->n; i++)
		memcpy((u8 *)nla_data(attr) + i * len, &pool->addrs[i], len);
	return 0;
}

static int put_service(struct sk_buff *msg, struct exlb_service *svc)
{
	struct svc_counters c = {
		.no_source_port = atomic64_read(&svc->no_source_port),
	};
	u32 active = 0, inactive = 0;
	struct exlb_stats st;
	struct nlattr *nest;
	unsigned int i, n;

	exlb_service_stats(svc, &st);
	spin_lock_bh(&svc->sched_lock);
	n = svc->nreals;
	for (i = 0; i < n; i++) {
		active += svc->reals[i]->sched.active;
		inactive += svc->reals[i]->sched.inactive;
	}
	c.persist_records = svc->persist_count;
	c.persist_evicted = svc->persist_evicted;
	c.persist_full = svc->persist_full;
	spin_unlock_bh(&svc->sched_lock);

	nest = nla_nest_start(msg, EXLB_A_SERVICE);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(msg, EXLB_SVC_A_ID, svc->id) ||
	    nla_put_u16(msg, EXLB_SVC_A_FAMILY, svc->family) ||
	    (svc->has_addr &&
	     (nla_put(msg, EXLB_SVC_A_ADDR, addr_len(svc->family), &svc->addr) ||
	      nla_put_u16(msg, EXLB_SVC_A_PORT, ntohs(svc->port)))) ||
	    nla_put_u8(msg, EXLB_SVC_A_PROTOCOL, IPPROTO_TCP) ||
	    nla_put_u8(msg, EXLB_SVC_A_SCHED, svc->sched_alg) ||
	    nla_put_u8(msg, EXLB_SVC_A_PERSIST, svc->persist) ||
	    nla_put_u32(msg, EXLB_SVC_A_PERSIST_TIMEOUT, svc->persist_timeout) ||
	    nla_put_u8(msg, EXLB_SVC_A_PERSIST_NETMASK, svc->persist_netmask) ||
	    nla_put_u32(msg, EXLB_SVC_A_IDLE_TIMEOUT, svc->idle_timeout) ||
	    nla_put_u32(msg, EXLB_SVC_A_FLAGS, svc->flags) ||
	    nla_put_u32(msg, EXLB_SVC_A_NUM_REALS, n) ||
	    nla_put_u32(msg, EXLB_SVC_A_ACTIVE_CONNS, active) ||
	    nla_put_u32(msg, EXLB_SVC_A_INACTIVE_CONNS, inactive) ||
	    nla_put_u32(msg, EXLB_SVC_A_PERSIST_RECORDS, c.persist_records) ||
	    put_pool(msg, svc) ||
	    put_stats(msg, EXLB_SVC_A_STATS, &st, &c)) {
		nla_nest_cancel(msg, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	return 0;
}

/* cb->args[0]: how many services were sent already. */
static int exlb_get_services(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct exlb_net *xn = exlb_pernet(sock_net(skb->sk));
	struct exlb_service *svc;
	long idx = 0, start = cb->args[0];
	void *hdr;

	mutex_lock(&xn->lock);
	cb->seq = xn->config_gen;
	list_for_each_entry(svc, &xn->services, list) {
		if (idx++ < start)
			continue;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &exlb_genl_family,
				  NLM_F_MULTI, EXLB_CMD_GET_SERVICES);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (put_service(skb, svc)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = idx;
	}
	mutex_unlock(&xn->lock);
	return skb->len;
}

struct real_settings {
	u32 weight, limit, flags;
	u8 forward;
};

static int real_settings_parse(struct real_settings *s, struct nlattr **tb,
			       struct netlink_ext_ack *extack)
{
	if (tb[EXLB_REAL_A_WEIGHT])
		s->weight = nla_get_u32(tb[EXLB_REAL_A_WEIGHT]);
	if (tb[EXLB_REAL_A_LIMIT])
		s->limit = nla_get_u32(tb[EXLB_REAL_A_LIMIT]);
	if (tb[EXLB_REAL_A_FLAGS])
		s->flags = nla_get_u32(tb[EXLB_REAL_A_FLAGS]);
	if (tb[EXLB_REAL_A_FORWARD])
		s->forward = nla_get_u8(tb[EXLB_REAL_A_FORWARD]);
	return 0;
}

/* Direct routing cannot change the port: the real server's must be the VS's. */
static int real_forward_check(const struct real_settings *s,
			      const struct exlb_service *svc, __be16 port,
			      struct netlink_ext_ack *extack)
{
	if (s->forward == EXLB_FORWARD_ROUTE && port != svc->port) {
		NL_SET_ERR_MSG(extack,
			       "forward=route needs the real server's port to be the service's");
		return -EINVAL;
	}
	return 0;
}

/* Parses EXLB_A_REAL of @svc's family: @tb filled, address and port out. */
static int real_attrs(struct genl_info *info, struct exlb_service *svc,
		      struct nlattr **tb, union nf_inet_addr *addr,
		      __be16 *port)
{
	struct netlink_ext_ack *extack = info->extack;
	int err;

	err = parse_nested(tb, EXLB_REAL_A_MAX, info->attrs[EXLB_A_REAL],
			   real_policy, extack);
	if (err) {
		if (err == -ENOENT)
			NL_SET_ERR_MSG(extack, "EXLB_A_REAL is required");
		return err == -ENOENT ? -EINVAL : err;
	}
	if (!tb[EXLB_REAL_A_ADDR] || !tb[EXLB_REAL_A_PORT]) {
		NL_SET_ERR_MSG(extack, "a real server needs an address and a port");
		return -EINVAL;
	}
	err = get_addr(tb[EXLB_REAL_A_ADDR], svc->family, addr, extack);
	if (err)
		return err;
	*port = htons(nla_get_u16(tb[EXLB_REAL_A_PORT]));
	return 0;
}

static int exlb_new_real(struct sk_buff *skb, struct genl_info *info)
{
	struct exlb_net *xn = exlb_pernet(genl_info_net(info));
	struct nlattr *tb[EXLB_REAL_A_MAX + 1];
	struct real_settings s = { .weight = EXLB_DEFAULT_WEIGHT };
	struct exlb_service *svc;
	struct exlb_real *real;
	int err;

	mutex_lock(&xn->lock);
	svc = service_from_attrs(xn, info->attrs, info->extack);
	if (IS_ERR(svc)) {
		err = PTR_ERR(svc);
		goto out;
	}
	real = exlb_real_alloc(svc);
	if (!real) {
		err = -ENOMEM;
		goto out;
	}
	err = real_attrs(info, svc, tb, &real->addr, &real->port);
	if (!err)
		err = real_settings_parse(&s, tb, info->extack);
	if (!err)
		err = real_forward_check(&s, svc, real->port, info->extack);
	if (!err) {
		real->sched.weight = s.weight;
		real->sched.limit = s.limit;
		real->forward = s.forward;
		real->flags = s.flags;
		if (s.flags & EXLB_REAL_F_DISABLED)
			real->disabled_at = jiffies;
		err = exlb_real_add(svc, real, info->extack);
	}
	if (err)
		exlb_real_put(real);
out:
	mutex_unlock(&xn->lock);
	return err;
}

/*
 * The existing real server a SET/DEL request names, with its service and
 * the parsed EXLB_A_REAL (@tb, @port). Under exlb_net.lock.
 */
static struct exlb_real *real_from_request(struct exlb_net *xn,
					   struct genl_info *info,
					   struct nlattr **tb,
					   struct exlb_service **svc,
					   __be16 *port)
{
	union nf_inet_addr addr;
	struct exlb_real *real;
	int err;

	*svc = service_from_attrs(xn, info->attrs, info->extack);
	if (IS_ERR(*svc))
		return ERR_CAST(*svc);
	err = real_attrs(info, *svc, tb, &addr, port);
	if (err)
		return ERR_PTR(err);
	real = exlb_real_find(*svc, &addr, *port);
	if (!real) {
		NL_SET_ERR_MSG(info->extack, "no such real server in the service");
		return ERR_PTR(-ENOENT);
	}
	return real;
}

static int exlb_set_real(struct sk_buff *skb, struct genl_info *info)
{
	struct exlb_net *xn = exlb_pernet(genl_info_net(info));
	struct nlattr *tb[EXLB_REAL_A_MAX + 1];
	struct real_settings s;
	struct exlb_service *svc;
	struct exlb_real *real;
	__be16 port;
	int err;

	mutex_lock(&xn->lock);
	real = real_from_request(xn, info, tb, &svc, &port);
	if (IS_ERR(real)) {
		err = PTR_ERR(real);
		goto out;
	}
	s.weight = real->sched.weight;
	s.limit = real->sched.limit;
	s.flags = real->flags;
	s.forward = real->forward;
	err = real_settings_parse(&s, tb, info->extack);
	if (!err)
		err = real_forward_check(&s, svc, port, info->extack);
	if (err)
		goto out;
	spin_lock_bh(&svc->sched_lock);
	real->sched.weight = s.weight;
	real->sched.limit = s.limit;
	real->forward = s.forward;
	spin_unlock_bh(&svc->sched_lock);
	exlb_real_set_flags(svc, real, s.flags);
out:
	mutex_unlock(&xn->lock);
	return err;
}

static int exlb_del_real(struct sk_buff *skb, struct genl_info *info)
{
	struct exlb_net *xn = exlb_pernet(genl_info_net(info));
	struct nlattr *tb[EXLB_REAL_A_MAX + 1];
	struct exlb_service *svc;
	struct exlb_real *real;
	__be16 port;
	int err = 0;

	mutex_lock(&xn->lock);
	real = real_from_request(xn, info, tb, &svc, &port);
	if (IS_ERR(real)) {
		err = PTR_ERR(real);
		goto out;
	}
	exlb_real_del(svc, real);
out:
	mutex_unlock(&xn->lock);
	return err;
}

static int put_real(struct sk_buff *msg, struct exlb_service *svc,
		    struct exlb_real *real)
{
	struct exlb_stats st;
	struct nlattr *nest;
	u32 active, inactive;

	exlb_real_counts(real, &active, &inactive);
	exlb_stats_read(real->stats, &st);
	nest = nla_nest_start(msg, EXLB_A_SERVICE);
	if (!nest || nla_put_u32(msg, EXLB_SVC_A_ID, svc->id))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	nest = nla_nest_start(msg, EXLB_A_REAL);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put(msg, EXLB_REAL_A_ADDR, addr_len(svc->family), &real->addr) ||
	    nla_put_u16(msg, EXLB_REAL_A_PORT, ntohs(real->port)) ||
	    nla_put_u32(msg, EXLB_REAL_A_WEIGHT, real->sched.weight) ||
	    nla_put_u32(msg, EXLB_REAL_A_LIMIT, real->sched.limit) ||
	    nla_put_u8(msg, EXLB_REAL_A_FORWARD, real->forward) ||
	    nla_put_u32(msg, EXLB_REAL_A_FLAGS, real->flags) ||
	    nla_put_u32(msg, EXLB_REAL_A_ACTIVE_CONNS, active) ||
	    nla_put_u32(msg, EXLB_REAL_A_INACTIVE_CONNS, inactive) ||
	    put_stats(msg, EXLB_REAL_A_STATS, &st, NULL)) {
		nla_nest_cancel(msg, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	return 0;
}

/* cb->args[0]: how many real servers were sent already. */
static int exlb_get_reals(struct sk_buff *skb, struct netlink_callback *cb)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	struct exlb_net *xn = exlb_pernet(sock_net(skb->sk));
	struct exlb_service *svc;
	unsigned int i;
	void *hdr;
	int err = 0;

	mutex_lock(&xn->lock);
	svc = service_from_attrs(xn, info->attrs, cb->extack);
	if (IS_ERR(svc)) {
		err = PTR_ERR(svc);
		goto out;
	}
	cb->seq = xn->config_gen;
	for (i = cb->args[0]; i < svc->nreals; i++) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &exlb_genl_family,
				  NLM_F_MULTI, EXLB_CMD_GET_REALS);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (put_real(skb, svc, svc->reals[i])) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = i + 1;
	}
out:
	mutex_unlock(&xn->lock);
	return err ? err : skb->len;
}

static int put_flow(struct sk_buff *msg, struct exlb_flow *flow)
{
	const struct nf_conn *ct = flow->ct;
	const struct nf_conntrack_tuple *o = &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	const struct nf_conntrack_tuple *r = &ct->tuplehash[IP_CT_DIR_REPLY].tuple;
	const struct exlb_service *svc = exlb_flow_svc(flow);
	u16 family = svc->family;
	/* a route flow is not translated: the RS sees the client, at the VIP */
	const union nf_inet_addr *real_addr =
		flow->kind == EXLB_FLOW_ROUTE ? &flow->real->addr : &r->src.u3;
	unsigned int len = addr_len(family);
	struct nlattr *nest;

	nest = nla_nest_start(msg, EXLB_A_FLOW);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(msg, EXLB_FLOW_A_SERVICE_ID, svc->id) ||
	    nla_put_u16(msg, EXLB_FLOW_A_FAMILY, family) ||
	    nla_put(msg, EXLB_FLOW_A_CLIENT_ADDR, len, &o->src.u3) ||
	    nla_put_u16(msg, EXLB_FLOW_A_CLIENT_PORT, ntohs(o->src.u.tcp.port)) ||
	    nla_put(msg, EXLB_FLOW_A_VIP_ADDR, len, &o->dst.u3) ||
	    nla_put_u16(msg, EXLB_FLOW_A_VIP_PORT, ntohs(o->dst.u.tcp.port)) ||
	    nla_put(msg, EXLB_FLOW_A_REAL_ADDR, len, real_addr) ||
	    nla_put_u16(msg, EXLB_FLOW_A_REAL_PORT, ntohs(r->src.u.tcp.port)) ||
	    nla_put(msg, EXLB_FLOW_A_SOURCE_ADDR, len, &r->dst.u3) ||
	    nla_put_u16(msg, EXLB_FLOW_A_SOURCE_PORT, ntohs(r->dst.u.tcp.port)) ||
	    nla_put_u8(msg, EXLB_FLOW_A_STATE,
		       exlb_tcp_state_of(READ_ONCE(ct->proto.tcp.state))) ||
	    nla_put_u32(msg, EXLB_FLOW_A_IDLE,
			((u32)jiffies - READ_ONCE(flow->last_seen)) / HZ) ||
	    (flow->kind == EXLB_FLOW_ADOPTED &&
	     nla_put_flag(msg, EXLB_FLOW_A_ADOPTED))) {
		nla_nest_cancel(msg, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	return 0;
}

struct flow_dump {
	struct sk_buff *skb;
	struct netlink_callback *cb;
	u32 filter;		/* service id, 0: all */
};

static int dump_flow(struct exlb_flow *flow, void *arg)
{
	struct flow_dump *d = arg;
	void *hdr;

	if (d->filter && exlb_flow_svc(flow)->id != d->filter)
		return 0;
	hdr = genlmsg_put(d->skb, NETLINK_CB(d->cb->skb).portid,
			  d->cb->nlh->nlmsg_seq, &exlb_genl_family,
			  NLM_F_MULTI, EXLB_CMD_GET_FLOWS);
	if (!hdr)
		return -EMSGSIZE;
	genl_dump_check_consistent(d->cb, hdr);
	if (put_flow(d->skb, flow)) {
		genlmsg_cancel(d->skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(d->skb, hdr);
	return 0;
}

/* cb->args[0]: how many flows of the table were passed already. */
static int exlb_get_flows(struct sk_buff *skb, struct netlink_callback *cb)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	struct exlb_net *xn = exlb_pernet(sock_net(skb->sk));
	struct flow_dump d = { .skb = skb, .cb = cb };

	if (info->attrs[EXLB_A_SERVICE]) {
		struct nlattr *tb[EXLB_SVC_A_MAX + 1];
		int err;

		err = parse_nested(tb, EXLB_SVC_A_MAX, info->attrs[EXLB_A_SERVICE],
				   svc_policy, cb->extack);
		if (err)
			return err;
		if (!tb[EXLB_SVC_A_ID]) {
			NL_SET_ERR_MSG(cb->extack, "filter flows by service id");
			return -EINVAL;
		}
		d.filter = nla_get_u32(tb[EXLB_SVC_A_ID]);
	}

	cb->seq = atomic_read(&xn->flow_gen);
	cb->args[0] = exlb_flows_dump(xn, cb->args[0], dump_flow, &d);
	return skb->len;
}

/* ---- HA persistence sync: records out (dump) and in (set) ---- */

static int put_persist(struct sk_buff *msg, struct exlb_service *svc,
		       struct exlb_persist_entry *rec, u64 now)
{
	u32 left = svc->persist_timeout;
	struct nlattr *nest;

	if (!rec->rec.conns)
		left = DIV_ROUND_UP_ULL(rec->rec.expires - now, HZ);
	nest = nla_nest_start(msg, EXLB_A_SERVICE);
	if (!nest || nla_put_u32(msg, EXLB_SVC_A_ID, svc->id))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	nest = nla_nest_start(msg, EXLB_A_REAL);
	if (!nest ||
	    nla_put(msg, EXLB_REAL_A_ADDR, addr_len(svc->family), &rec->real->addr) ||
	    nla_put_u16(msg, EXLB_REAL_A_PORT, ntohs(rec->real->port)))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	nest = nla_nest_start(msg, EXLB_A_PERSIST);
	if (!nest ||
	    nla_put(msg, EXLB_PERSIST_A_KEY, EXLB_PERSIST_KEY_LEN, rec->key) ||
	    nla_put_u32(msg, EXLB_PERSIST_A_TIMEOUT, left) ||
	    nla_put_u32(msg, EXLB_PERSIST_A_CONNS, rec->rec.conns))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

/*
 * cb->args[0]: the hash bucket to go on from, args[1]: the records of that
 * bucket sent already. The table may change between two parts: a resize
 * (or any configuration change) sets NLM_F_DUMP_INTR.
 */
static int exlb_get_persist(struct sk_buff *skb, struct netlink_callback *cb)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	struct exlb_net *xn = exlb_pernet(sock_net(skb->sk));
	struct exlb_persist_entry *rec;
	struct exlb_service *svc;
	u64 now = get_jiffies_64();
	unsigned long b;
	long idx;
	void *hdr;
	int err = 0;

	mutex_lock(&xn->lock);
	svc = service_from_attrs(xn, info->attrs, cb->extack);
	if (IS_ERR(svc)) {
		err = PTR_ERR(svc);
		goto out;
	}
	spin_lock_bh(&svc->sched_lock);
	cb->seq = xn->config_gen + (svc->persist_bits << 24);
	for (b = cb->args[0]; b < (1UL << svc->persist_bits); b++) {
		idx = 0;
		hlist_for_each_entry(rec, &svc->persist_table[b], node) {
			if (!exlb_persist_live(&rec->rec, now) ||
			    idx++ < cb->args[1])
				continue;
			hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
					  cb->nlh->nlmsg_seq, &exlb_genl_family,
					  NLM_F_MULTI, EXLB_CMD_GET_PERSIST);
			if (!hdr)
				goto full;
			genl_dump_check_consistent(cb, hdr);
			if (put_persist(skb, svc, rec, now)) {
				genlmsg_cancel(skb, hdr);
				goto full;
			}
			genlmsg_end(skb, hdr);
			cb->args[1] = idx;
		}
		cb->args[0] = b + 1;
		cb->args[1] = 0;
	}
full:
	spin_unlock_bh(&svc->sched_lock);
out:
	mutex_unlock(&xn->lock);
	return err ? err : skb->len;
}

/* The record of an EXLB_CMD_SET_PERSIST, checked before anything changes. */
static int persist_attrs(struct genl_info *info, struct nlattr **pb)
{
	struct netlink_ext_ack *extack = info->extack;
	int err;

	err = parse_nested(pb, EXLB_PERSIST_A_MAX, info->attrs[EXLB_A_PERSIST],
			   persist_policy, extack);
	if (err) {
		if (err == -ENOENT)
			NL_SET_ERR_MSG(extack, "EXLB_A_PERSIST is required");
		return err == -ENOENT ? -EINVAL : err;
	}
	if (!pb[EXLB_PERSIST_A_KEY] || !pb[EXLB_PERSIST_A_TIMEOUT]) {
		NL_SET_ERR_MSG_ATTR(extack, info->attrs[EXLB_A_PERSIST],
				    "a record needs a key and a timeout");
		return -EINVAL;
	}
	return 0;
}

/* @real and @key fit @svc's persistence: its own kind of key, a usable RS. */
static int persist_check(struct exlb_service *svc, struct exlb_real *real,
			 struct nlattr **tb, struct nlattr **pb,
			 struct netlink_ext_ack *extack)
{
	union nf_inet_addr client;
	u8 want[EXLB_PERSIST_KEY_LEN];
	unsigned int i;

	if (svc->persist != EXLB_PERSIST_SRC) {
		NL_SET_ERR_MSG(extack, "the service has no source persistence");
		return -EINVAL;
	}
	for (i = 0; i <= EXLB_REAL_A_MAX; i++)
		if (tb[i] && i != EXLB_REAL_A_ADDR && i != EXLB_REAL_A_PORT) {
			NL_SET_ERR_MSG_ATTR(extack, tb[i],
					    "only the real server's address and port here");
			return -EINVAL;
		}
	/* a key masked as this service masks: re-masking changes nothing */
	memcpy(&client, nla_data(pb[EXLB_PERSIST_A_KEY]), sizeof(client));
	exlb_persist_key_of(svc, &client, want);
	if (memcmp(want, &client, sizeof(want))) {
		NL_SET_ERR_MSG_ATTR(extack, pb[EXLB_PERSIST_A_KEY],
				    "not a client key of this service (family, netmask)");
		return -EINVAL;
	}
	if (READ_ONCE(real->flags) || !READ_ONCE(real->sched.weight)) {
		NL_SET_ERR_MSG_ATTR(extack, tb[EXLB_REAL_A_ADDR],
				    "the real server takes no new connections");
		return -EINVAL;
	}
	return 0;
}

static int exlb_set_persist(struct sk_buff *skb, struct genl_info *info)
{
	struct exlb_net *xn = exlb_pernet(genl_info_net(info));
	struct nlattr *pb[EXLB_PERSIST_A_MAX + 1];
	struct nlattr *tb[EXLB_REAL_A_MAX + 1];
	struct exlb_service *svc;
	struct exlb_real *real;
	__be16 port;
	int err;

	err = persist_attrs(info, pb);
	if (err)
		return err;
	mutex_lock(&xn->lock);
	real = real_from_request(xn, info, tb, &svc, &port);
	if (IS_ERR(real)) {
		err = PTR_ERR(real);
		goto out;
	}
	err = persist_check(svc, real, tb, pb, info->extack);
	if (err)
		goto out;
	spin_lock_bh(&svc->sched_lock);
	err = exlb_persist_install(svc, nla_data(pb[EXLB_PERSIST_A_KEY]), real,
				   nla_get_u32(pb[EXLB_PERSIST_A_TIMEOUT]));
	spin_unlock_bh(&svc->sched_lock);
	if (err == -ENOSPC)
		NL_SET_ERR_MSG(info->extack,
			       "persistence table full (persist_max), no idle record to evict");
out:
	mutex_unlock(&xn->lock);
	return err;
}

static int exlb_get_globals(struct sk_buff *skb, struct genl_info *info)
{
	struct exlb_net *xn = exlb_pernet(genl_info_net(info));
	u32 offloaded, offload_devs;
	struct nlattr *nest;
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &exlb_genl_family, 0,
				EXLB_CMD_GET_GLOBALS);
	if (!hdr)
		goto nospace;
	nest = nla_nest_start(msg, EXLB_A_GLOBALS);
	if (!nest)
		goto nospace;
	mutex_lock(&xn->lock);
	exlb_offload_counts(xn, &offloaded, &offload_devs);
	if (nla_put_u8(msg, EXLB_GLOBAL_A_DROP_ON_FAIL, xn->drop_on_fail) ||
	    nla_put_u8(msg, EXLB_GLOBAL_A_DROP_AT_DRAIN_END, xn->drop_at_drain_end) ||
	    nla_put_u32(msg, EXLB_GLOBAL_A_FINAL_PERSIST, xn->final_persist) ||
	    nla_put_u32(msg, EXLB_GLOBAL_A_CONN_TIMEOUT, xn->conn_timeout) ||
	    nla_put_u64_64bit(msg, EXLB_GLOBAL_A_ADOPTED,
			      atomic64_read(&xn->adopted), EXLB_GLOBAL_A_PAD) ||
	    nla_put_u64_64bit(msg, EXLB_GLOBAL_A_ADOPT_RESET,
			      atomic64_read(&xn->adopt_reset),
			      EXLB_GLOBAL_A_PAD) ||
	    nla_put_u32(msg, EXLB_GLOBAL_A_OFFLOADED, offloaded) ||
	    nla_put_u32(msg, EXLB_GLOBAL_A_OFFLOAD_DEVS, offload_devs)) {
		mutex_unlock(&xn->lock);
		goto nospace;
	}
	mutex_unlock(&xn->lock);
	nla_nest_end(msg, nest);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static int exlb_set_globals(struct sk_buff *skb, struct genl_info *info)
{
	struct exlb_net *xn = exlb_pernet(genl_info_net(info));
	struct nlattr *tb[EXLB_GLOBAL_A_MAX + 1];
	int err;

	err = parse_nested(tb, EXLB_GLOBAL_A_MAX, info->attrs[EXLB_A_GLOBALS],
			   global_policy, info->extack);
	if (err) {
		if (err == -ENOENT)
			NL_SET_ERR_MSG(info->extack, "EXLB_A_GLOBALS is required");
		return err == -ENOENT ? -EINVAL : err;
	}
	mutex_lock(&xn->lock);
	if (tb[EXLB_GLOBAL_A_DROP_ON_FAIL])
		WRITE_ONCE(xn->drop_on_fail,
			   nla_get_u8(tb[EXLB_GLOBAL_A_DROP_ON_FAIL]));
	if (tb[EXLB_GLOBAL_A_DROP_AT_DRAIN_END])
		WRITE_ONCE(xn->drop_at_drain_end,
			   nla_get_u8(tb[EXLB_GLOBAL_A_DROP_AT_DRAIN_END]));
	if (tb[EXLB_GLOBAL_A_FINAL_PERSIST])
		WRITE_ONCE(xn->final_persist,
			   nla_get_u32(tb[EXLB_GLOBAL_A_FINAL_PERSIST]));
	if (tb[EXLB_GLOBAL_A_CONN_TIMEOUT])
		WRITE_ONCE(xn->conn_timeout,
			   nla_get_u32(tb[EXLB_GLOBAL_A_CONN_TIMEOUT]));
	xn->config_gen++;
	mutex_unlock(&xn->lock);
	return 0;
}

/* Every command needs CAP_NET_ADMIN over the namespace. */
static const struct genl_ops exlb_genl_ops[] = {
	{
		.cmd = EXLB_CMD_NEW_SERVICE,
		.doit = exlb_new_service,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_SET_SERVICE,
		.doit = exlb_set_service,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_DEL_SERVICE,
		.doit = exlb_del_service,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_GET_SERVICES,
		.dumpit = exlb_get_services,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_NEW_REAL,
		.doit = exlb_new_real,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_SET_REAL,
		.doit = exlb_set_real,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_DEL_REAL,
		.doit = exlb_del_real,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_GET_REALS,
		.dumpit = exlb_get_reals,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_GET_FLOWS,
		.dumpit = exlb_get_flows,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_GET_GLOBALS,
		.doit = exlb_get_globals,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_SET_GLOBALS,
		.doit = exlb_set_globals,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_GET_PERSIST,
		.dumpit = exlb_get_persist,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = EXLB_CMD_SET_PERSIST,
		.doit = exlb_set_persist,
		.flags = GENL_UNS_ADMIN_PERM,
	},
};

static struct genl_family exlb_genl_family __ro_after_init = {
	.name = EXLB_GENL_NAME,
	.version = EXLB_GENL_VERSION,
	.maxattr = EXLB_A_MAX,
	.policy = exlb_policy,
	.netnsok = true,
	.module = THIS_MODULE,
	.ops = exlb_genl_ops,
	.n_ops = ARRAY_SIZE(exlb_genl_ops),
	.resv_start_op = EXLB_CMD_NEW_SERVICE,
};

int __init exlb_genl_init(void)
{
	return genl_register_family(&exlb_genl_family);
}

void exlb_genl_exit(void)
{
	genl_unregister_family(&exlb_genl_family);
}
