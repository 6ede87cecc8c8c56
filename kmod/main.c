// SPDX-License-Identifier: GPL-2.0
/*
 * exlb.ko: module init and exit, and the per-namespace state. Each network
 * namespace has its own services, flows and globals; its netfilter hooks
 * exist only while it has services.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "kmod/exlb.h"

unsigned int exlb_net_id __read_mostly;
struct kmem_cache *exlb_flow_cache __read_mostly;
struct kmem_cache *exlb_flow_ext_cache __read_mostly;

static int __net_init exlb_net_init(struct net *net)
{
	struct exlb_net *xn = exlb_pernet(net);
	unsigned int i;

	xn->net = net;
	mutex_init(&xn->lock);
	INIT_LIST_HEAD(&xn->services);
	for (i = 0; i < ARRAY_SIZE(xn->svc_by_addr); i++)
		INIT_HLIST_HEAD(&xn->svc_by_addr[i]);
	return exlb_flow_net_init(xn);
}

/*
 * On rmmod the namespace lives on: its clients and real servers get RSTs
 * for the flows that stop being translated. A dying namespace has nobody
 * left to tell.
 */
static void __net_exit exlb_net_exit(struct net *net)
{
	struct exlb_net *xn = exlb_pernet(net);

	mutex_lock(&xn->lock);
	if (!check_net(net))
		exlb_flows_reset_all(xn, false);
	exlb_service_flush(xn);
	mutex_unlock(&xn->lock);
	exlb_flow_net_exit(xn);
}

static struct pernet_operations exlb_net_ops = {
	.init = exlb_net_init,
	.exit = exlb_net_exit,
	.id = &exlb_net_id,
	.size = sizeof(struct exlb_net),
};

static int __init exlb_init(void)
{
	int err;

	/* one per connection: see docs/benchmarks.md before growing it */
	BUILD_BUG_ON(IS_ENABLED(CONFIG_64BIT) && sizeof(struct exlb_flow) > 48);
	exlb_flow_cache = KMEM_CACHE(exlb_flow, 0);
	if (!exlb_flow_cache)
		return -ENOMEM;
	exlb_flow_ext_cache = KMEM_CACHE(exlb_flow_ext, 0);
	if (!exlb_flow_ext_cache) {
		err = -ENOMEM;
		goto err_cache;
	}
	err = register_pernet_subsys(&exlb_net_ops);
	if (err)
		goto err_ext_cache;
	err = exlb_genl_init();
	if (err)
		goto err_pernet;
	pr_info("exlb " EXLB_VERSION " loaded\n");
	return 0;

err_pernet:
	unregister_pernet_subsys(&exlb_net_ops);
err_ext_cache:
	kmem_cache_destroy(exlb_flow_ext_cache);
err_cache:
	kmem_cache_destroy(exlb_flow_cache);
	return err;
}

static void __exit exlb_exit(void)
{
	exlb_genl_exit();
	unregister_pernet_subsys(&exlb_net_ops);
	/*
	 * Flows, reals and services are freed by RCU callbacks; a real's
	 * drops its service's last reference, which queues one more.
	 */
	rcu_barrier();
	rcu_barrier();
	kmem_cache_destroy(exlb_flow_ext_cache);
	kmem_cache_destroy(exlb_flow_cache);
}

module_init(exlb_init);
module_exit(exlb_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("exlb: L4 TCP load balancing for Microsoft Exchange");
MODULE_AUTHOR("The exlb developers");
MODULE_VERSION(EXLB_VERSION);
MODULE_ALIAS_GENL_FAMILY(EXLB_GENL_NAME);
