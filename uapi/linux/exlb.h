/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * exlb: an L4 TCP load balancer for Microsoft Exchange, in the kernel.
 *
 * Documentation
 * =============
 *
 * exlb is programmed over generic netlink, family EXLB_GENL_NAME, version
 * EXLB_GENL_VERSION. Every command acts on the network namespace of the
 * netlink socket and needs CAP_NET_ADMIN over that namespace's user
 * namespace. Requests are validated strictly: an unknown attribute, a value
 * out of range or a missing identifier fails the whole request with an
 * errno and an extended-ack message, and changes nothing.
 *
 * The objects are:
 *
 *   service   a virtual service (VS): VIP:port over TCP, IPv4 or IPv6, with
 *             a scheduler, source-IP persistence, an idle timeout and a
 *             source-address mode. Each has a numeric id (chosen by the
 *             caller or by the kernel). A service without an address is
 *             allowed: no packet ever matches it; it exists so exlbd can
 *             keep an id for a service it serves itself.
 *   real      a real server (RS) of one service: address, port, weight,
 *             connection limit, forwarding method, enabled and health flags.
 *   flow      one client connection balanced by exlb (read-only).
 *   globals   settings of the namespace: droponfail, dropatdrainend,
 *             finalpersist, conntimeout.
 *
 * A service is identified in requests by EXLB_A_SERVICE, a nest holding
 * either EXLB_SVC_A_ID, or EXLB_SVC_A_FAMILY + EXLB_SVC_A_ADDR +
 * EXLB_SVC_A_PORT (the protocol is always TCP). A real server is identified
 * inside its service by EXLB_A_REAL holding EXLB_REAL_A_ADDR +
 * EXLB_REAL_A_PORT (its family is the service's).
 *
 * Addresses are raw network-order bytes: 4 for AF_INET, 16 for AF_INET6.
 * Ports are host-order u16. Times are seconds.
 *
 * EXLB_CMD_NEW_SERVICE
 * --------------------
 *
 * Creates a service. Takes:
 *
 *    EXLB_A_SERVICE: NLA_NESTED
 *        EXLB_SVC_A_ID: NLA_U32, optional; 0 or absent = the kernel picks
 *        EXLB_SVC_A_FAMILY: NLA_U16, AF_INET or AF_INET6, required
 *        EXLB_SVC_A_ADDR: NLA_BINARY, 4 or 16 bytes, optional (see above)
 *        EXLB_SVC_A_PORT: NLA_U16, 1..65535, required with an address
 *        EXLB_SVC_A_PROTOCOL: NLA_U8, IPPROTO_TCP only, optional
 *        EXLB_SVC_A_SCHED: NLA_U8, enum exlb_sched, default rr
 *        EXLB_SVC_A_PERSIST: NLA_U8, enum exlb_persist, default none
 *        EXLB_SVC_A_PERSIST_TIMEOUT: NLA_U32, 1..2419200, default 360
 *        EXLB_SVC_A_PERSIST_NETMASK: NLA_U8, prefix length grouping clients
 *                                    for persistence; 0 = the whole address
 *        EXLB_SVC_A_IDLE_TIMEOUT: NLA_U32, 0..86400; 0 = global conntimeout
 *        EXLB_SVC_A_FLAGS: NLA_U32, EXLB_SVC_F_* (unknown bits rejected)
 *        EXLB_SVC_A_ALT_SOURCE_ADDRS: NLA_BINARY, the service's alternate
 *                                     source addresses: 0 to
 *                                     EXLB_MAX_ALT_SOURCE_ADDRS addresses of
 *                                     the service's family, packed (4 or 16
 *                                     bytes each); empty = none (default)
 *
 * Replies with one EXLB_CMD_NEW_SERVICE message holding EXLB_A_SERVICE with
 * EXLB_SVC_A_ID. -EEXIST if the id or the address:port is taken.
 *
 * Source address seen by the real server (Kemp's Transparent,
 * alternate source addresses and SubnetOriginating):
 *   EXLB_SVC_F_TRANSPARENT set:       the client's address;
 *   else alternate source addresses:  one of them (see below);
 *   else EXLB_SVC_F_SUBNET_ORIGINATING: the LB's own address on the
 *                                       interface that leads to the RS;
 *   else:                             the VIP.
 *
 * One source address gives at most 64512 concurrent connections to one
 * real server address:port (source ports 1024-65535). Alternate source
 * addresses (Kemp's localbind, "connection scaling over 64K") lift that:
 * each new connection takes the address chosen by a hash of the client's
 * address and port, and the next one in the list when that address has no
 * free port towards the real server, so n addresses hold n times as many
 * connections, spread evenly. Every address must be local to the
 * namespace when it is set (-EADDRNOTAVAIL otherwise; the real servers
 * must route replies to it through the LB), and the list cannot be combined
 * with EXLB_SVC_F_TRANSPARENT (-EINVAL). Removing an address from the
 * namespace later does not remove it from the list. Without free source
 * port (with or without the list), the SYN is answered with a RST, counted
 * in the service's EXLB_STATS_A_NO_SOURCE_PORT and logged (rate limited).
 *
 * EXLB_CMD_SET_SERVICE
 * --------------------
 *
 * Takes EXLB_A_SERVICE identifying the service (by id, or by address when
 * no id is given) plus any of SCHED, PERSIST, PERSIST_TIMEOUT,
 * PERSIST_NETMASK, IDLE_TIMEOUT, FLAGS, ALT_SOURCE_ADDRS; only those
 * present change (ALT_SOURCE_ADDRS replaces the whole list; open flows
 * keep their source). The
 * address of a service cannot be changed: delete and re-add it.
 *
 * EXLB_CMD_DEL_SERVICE
 * --------------------
 *
 * Takes EXLB_A_SERVICE identifying the service. Its real servers are
 * removed and every open flow of the service is reset (RST to the client
 * and to the real server).
 *
 * EXLB_CMD_GET_SERVICES
 * ---------------------
 *
 * May only be called with NLM_F_DUMP. Returns one message per service:
 *
 *    EXLB_A_SERVICE: NLA_NESTED
 *        EXLB_SVC_A_ID, EXLB_SVC_A_FAMILY, EXLB_SVC_A_ADDR (if any),
 *        EXLB_SVC_A_PORT, EXLB_SVC_A_PROTOCOL, EXLB_SVC_A_SCHED,
 *        EXLB_SVC_A_PERSIST, EXLB_SVC_A_PERSIST_TIMEOUT,
 *        EXLB_SVC_A_PERSIST_NETMASK, EXLB_SVC_A_IDLE_TIMEOUT,
 *        EXLB_SVC_A_FLAGS,
 *        EXLB_SVC_A_ALT_SOURCE_ADDRS (if any),
 *        EXLB_SVC_A_NUM_REALS: NLA_U32
 *        EXLB_SVC_A_ACTIVE_CONNS: NLA_U32 (flows in TCP ESTABLISHED)
 *        EXLB_SVC_A_INACTIVE_CONNS: NLA_U32 (other open flows)
 *        EXLB_SVC_A_STATS: NLA_NESTED, EXLB_STATS_A_* (the sums of
 *                          its real servers', deleted ones included)
 *        EXLB_SVC_A_PERSIST_RECORDS: NLA_U32, source-persistence records
 *
 * Source persistence is bounded: a service keeps at most persist_max
 * records (module parameter of exlb.ko, /sys/module/exlb/parameters/
 * persist_max, default 131072, changeable at run time). Records of clients
 * without open connections are evicted at the cap, the oldest idle first
 * (EXLB_STATS_A_PERSIST_EVICTED); a record with open connections never is:
 * when all have some, a new client is balanced without a record
 * (EXLB_STATS_A_PERSIST_FULL). The service's stats carry these counters
 * and EXLB_STATS_A_NO_SOURCE_PORT; a real server's stats do not.
 *
 * EXLB_CMD_NEW_REAL
 * -----------------
 *
 * Takes EXLB_A_SERVICE identifying the service and:
 *
 *    EXLB_A_REAL: NLA_NESTED
 *        EXLB_REAL_A_ADDR: NLA_BINARY, the service's family, required
 *        EXLB_REAL_A_PORT: NLA_U16, 1..65535, required
 *        EXLB_REAL_A_WEIGHT: NLA_U32, 0..65535, default 1000;
 *                            0 = no new connections
 *        EXLB_REAL_A_LIMIT: NLA_U32, 0..100000 open connections, 0 = none
 *        EXLB_REAL_A_FORWARD: NLA_U8, enum exlb_forward, default nat
 *        EXLB_REAL_A_FLAGS: NLA_U32, EXLB_REAL_F_* (unknown bits rejected)
 *
 * At most EXLB_MAX_REALS real servers per service.
 *
 * Forwarding (Kemp's per-RS forward):
 *   EXLB_FORWARD_NAT:   the destination is translated to the real server's
 *                       address and port; replies must come back through
 *                       the LB.
 *   EXLB_FORWARD_ROUTE: direct routing. The client's packets are sent to
 *                       the real server unchanged (destination still the
 *                       VIP, TTL/hop limit and checksums untouched),
 *                       addressed to it at L2. -EINVAL unless the port is
 *                       the service's. The real server must be on a network
 *                       directly connected to the LB (packets to one that
 *                       is reached through a gateway are dropped), own the
 *                       VIP on a loopback or dummy interface without
 *                       answering ARP for it (Linux: arp_ignore=1,
 *                       arp_announce=2; IPv6 does not answer ND for an
 *                       address on lo), and reply to the client directly.
 *                       The service flags Transparent and SubnetOriginating
 *                       do not apply: the real server always sees the
 *                       client. Idle timeouts, droponfail and drains work;
 *                       their RSTs are built from what the client sent,
 *                       which is best effort (see docs/ARCHITECTURE.md).
 * A service may mix both.
 *
 * EXLB_CMD_SET_REAL
 * -----------------
 *
 * Same identification; changes WEIGHT, LIMIT, FORWARD and/or FLAGS. Setting
 * EXLB_REAL_F_DOWN while the global droponfail is on resets every open flow
 * of that real server at once. Setting EXLB_REAL_F_DISABLED starts a drain:
 * no new flows, open flows continue; with dropatdrainend on they are reset
 * finalpersist seconds later unless the server is enabled again.
 *
 * EXLB_CMD_DEL_REAL
 * -----------------
 *
 * Same identification. The real server's open flows are reset.
 *
 * EXLB_CMD_GET_REALS
 * ------------------
 *
 * May only be called with NLM_F_DUMP, with EXLB_A_SERVICE identifying one
 * service. Returns one message per real server:
 *
 *    EXLB_A_SERVICE: NLA_NESTED
 *        EXLB_SVC_A_ID
 *    EXLB_A_REAL: NLA_NESTED
 *        EXLB_REAL_A_ADDR, EXLB_REAL_A_PORT, EXLB_REAL_A_WEIGHT,
 *        EXLB_REAL_A_LIMIT, EXLB_REAL_A_FORWARD, EXLB_REAL_A_FLAGS,
 *        EXLB_REAL_A_ACTIVE_CONNS: NLA_U32
 *        EXLB_REAL_A_INACTIVE_CONNS: NLA_U32
 *        EXLB_REAL_A_STATS: NLA_NESTED, EXLB_STATS_A_*
 *
 * For a forward=route real server only the client-to-server direction
 * passes the LB: its PKTS_IN and BYTES_IN count, PKTS_OUT and BYTES_OUT
 * stay 0 (also when its replies happen to be routed through the LB), and
 * so do the service's for its route flows. Its active/inactive counts follow
 * the client's side of the handshake and close.
 *
 * EXLB_CMD_GET_FLOWS
 * ------------------
 *
 * May only be called with NLM_F_DUMP; an optional EXLB_A_SERVICE with
 * EXLB_SVC_A_ID restricts it to one service. Returns one message per flow,
 * in no particular order (a dump that flows came or went during is flagged
 * NLM_F_DUMP_INTR):
 *
 *    EXLB_A_FLOW: NLA_NESTED
 *        EXLB_FLOW_A_SERVICE_ID: NLA_U32
 *        EXLB_FLOW_A_FAMILY: NLA_U16
 *        EXLB_FLOW_A_CLIENT_ADDR, EXLB_FLOW_A_CLIENT_PORT
 *        EXLB_FLOW_A_VIP_ADDR, EXLB_FLOW_A_VIP_PORT
 *        EXLB_FLOW_A_REAL_ADDR, EXLB_FLOW_A_REAL_PORT
 *        EXLB_FLOW_A_SOURCE_ADDR, EXLB_FLOW_A_SOURCE_PORT: the source the
 *                                     real server sees (the client for a
 *                                     forward=route real server)
 *        EXLB_FLOW_A_STATE: NLA_U8, enum exlb_tcp_state
 *        EXLB_FLOW_A_IDLE: NLA_U32, seconds since the last packet
 *        EXLB_FLOW_A_ADOPTED: NLA_FLAG, present when the flow was
 *                             adopted (see "HA pair" below)
 *
 * EXLB_CMD_GET_GLOBALS / EXLB_CMD_SET_GLOBALS
 * -------------------------------------------
 *
 * GET (a plain request) replies with, SET takes any of:
 *
 *    EXLB_A_GLOBALS: NLA_NESTED
 *        EXLB_GLOBAL_A_DROP_ON_FAIL: NLA_U8, 0 or 1, default 0
 *        EXLB_GLOBAL_A_DROP_AT_DRAIN_END: NLA_U8, 0 or 1, default 0
 *        EXLB_GLOBAL_A_FINAL_PERSIST: NLA_U32, drain time 0..86400, default 0
 *        EXLB_GLOBAL_A_CONN_TIMEOUT: NLA_U32, 0..86400; 0 = 660 (default)
 *
 * GET also replies with these figures of the namespace (SET rejects them):
 *
 *        EXLB_GLOBAL_A_ADOPTED: NLA_U64, flows adopted (see below)
 *        EXLB_GLOBAL_A_ADOPT_RESET: NLA_U64, synced connections reset
 *                                   instead (see below)
 *        EXLB_GLOBAL_A_OFFLOADED: NLA_U32, flows in the kernel's flowtable
 *                                 now (the fast path of established nat
 *                                 flows, module parameter flow_offload)
 *        EXLB_GLOBAL_A_OFFLOAD_DEVS: NLA_U32, devices that have the fast
 *                                    path's ingress hook now: all but
 *                                    loopback while the flowtable is in
 *                                    use, none otherwise
 *
 * HA pair: adopted flows
 * ----------------------
 *
 * conntrackd on the standby commits the active node's conntrack entries
 * (with their NAT bindings) into its own table at takeover. exlb did not
 * schedule those connections, and nf_nat never asks it about them (their
 * bindings are made), so they never reach the scheduler. On the first
 * packet of such an entry that passes the node, exlb adopts it: a
 * destination-NATed TCP entry, not closing, that exlb has no flow for,
 * whose original destination is a service's address:port and whose reply
 * comes from one of that service's nat real servers becomes a flow of
 * that service and real server as if it had been scheduled here: it
 * counts in the real server's active/inactive connections, its packets in
 * the stats (EXLB_STATS_A_CONNS, "flows ever scheduled", does not count
 * it), its client's persistence record is created or pointed at that
 * real server, and the idle timeout, droponfail and drains apply to it.
 * EXLB_GLOBAL_A_ADOPTED counts them. Where this node would have reset a
 * flow of its own, the synced connection is reset instead (RST to both
 * ends, the entry deleted) and EXLB_GLOBAL_A_ADOPT_RESET counts it: the
 * real server is not one of the service's here (or is forward=route), or
 * it is down while droponfail is on. A disabled (draining) real server
 * keeps them. Connections of forward=route real servers are not adopted:
 * their entry does not say which real server has them.
 *
 * HA pair: persistence records
 * ----------------------------
 *
 * The active node's source-persistence records are copied to the standby
 * (exlbd's persistence sync), so that a client keeps its real server
 * across a failover even without an open connection.
 *
 * EXLB_CMD_GET_PERSIST may only be called with NLM_F_DUMP, with
 * EXLB_A_SERVICE identifying one service. Returns one message per live
 * record:
 *
 *    EXLB_A_SERVICE: NLA_NESTED
 *        EXLB_SVC_A_ID
 *    EXLB_A_REAL: NLA_NESTED
 *        EXLB_REAL_A_ADDR, EXLB_REAL_A_PORT: the record's real server
 *    EXLB_A_PERSIST: NLA_NESTED
 *        EXLB_PERSIST_A_KEY: NLA_BINARY, 16 bytes: the client address
 *                            masked by the service's PERSIST_NETMASK
 *                            (an IPv4 address in the first 4 bytes, the
 *                            rest zero)
 *        EXLB_PERSIST_A_TIMEOUT: NLA_U32, seconds the record has left
 *                                (rounded up); the service's
 *                                PERSIST_TIMEOUT while it has open flows
 *        EXLB_PERSIST_A_CONNS: NLA_U32, open flows holding it
 *
 * The dump is not a snapshot of the table: a record made or expired while
 * it runs may be missing or appear twice (the caller sends again what
 * changes). A resize of the table or a configuration change between two
 * parts of the dump sets NLM_F_DUMP_INTR.
 *
 * EXLB_CMD_SET_PERSIST installs one record, as the partner's scheduler
 * made it. Takes EXLB_A_SERVICE identifying the service, EXLB_A_REAL
 * (ADDR + PORT) identifying one of its real servers, and:
 *
 *    EXLB_A_PERSIST: NLA_NESTED
 *        EXLB_PERSIST_A_KEY: NLA_BINARY, exactly 16 bytes, required; a key
 *                            as the dump gives it: bits the service's
 *                            netmask (or family) masks out must be zero
 *        EXLB_PERSIST_A_TIMEOUT: NLA_U32, 1..2419200, required: seconds
 *                                from now, cut to the service's
 *                                PERSIST_TIMEOUT
 *
 * The record points at that real server, has no open flows and expires
 * after TIMEOUT unless a flow takes it first; a record that open flows
 * hold here is left as it is (success). Refused, changing nothing: a
 * service without source persistence, a key that is not one of the
 * service's, a real server that takes no new connections (disabled, down
 * or weight 0) (-EINVAL); an unknown service or real server (-ENOENT); a
 * full table (persist_max) without an idle record to evict (-ENOSPC);
 * a key of another length than 16 or a TIMEOUT out of its range (-ERANGE,
 * the policy's); EXLB_PERSIST_A_CONNS (-EINVAL, replies only); any
 * attribute of EXLB_A_REAL but its address and port (-EINVAL).
 *
 * Dumps are consistent: a change while a dump runs sets NLM_F_DUMP_INTR on
 * the next message, and the reader should start over. A dump that fails
 * (e.g. GET_REALS of an unknown service) ends with NLMSG_DONE carrying the
 * negative errno and the extended ack, not with NLMSG_ERROR.
 *
 * Nested attributes must carry NLA_F_NESTED (strict validation). FLAGS
 * attributes replace the whole word: exlbd, the one owner of the
 * configuration, reads and writes them whole.
 */

#ifndef _UAPI_LINUX_EXLB_H
#define _UAPI_LINUX_EXLB_H

#define EXLB_GENL_NAME "exlb"
#define EXLB_GENL_VERSION 1

#define EXLB_MAX_REALS 256
#define EXLB_DEFAULT_WEIGHT 1000
#define EXLB_MAX_WEIGHT 65535
#define EXLB_MAX_LIMIT 100000
#define EXLB_MAX_PERSIST_TIMEOUT 2419200
#define EXLB_DEFAULT_PERSIST_TIMEOUT 360
#define EXLB_MAX_IDLE_TIMEOUT 86400
#define EXLB_DEFAULT_CONN_TIMEOUT 660
#define EXLB_MAX_ALT_SOURCE_ADDRS 64

enum exlb_cmd {
	EXLB_CMD_UNSPEC,
	EXLB_CMD_NEW_SERVICE,
	EXLB_CMD_SET_SERVICE,
	EXLB_CMD_DEL_SERVICE,
	EXLB_CMD_GET_SERVICES,
	EXLB_CMD_NEW_REAL,
	EXLB_CMD_SET_REAL,
	EXLB_CMD_DEL_REAL,
	EXLB_CMD_GET_REALS,
	EXLB_CMD_GET_FLOWS,
	EXLB_CMD_GET_GLOBALS,
	EXLB_CMD_SET_GLOBALS,
	EXLB_CMD_GET_PERSIST,
	EXLB_CMD_SET_PERSIST,
	__EXLB_CMD_MAX
};

#define EXLB_CMD_MAX (__EXLB_CMD_MAX - 1)

enum exlb_attr {
	EXLB_A_UNSPEC,
	EXLB_A_SERVICE,
	EXLB_A_REAL,
	EXLB_A_FLOW,
	EXLB_A_GLOBALS,
	EXLB_A_PERSIST,
	__EXLB_A_LAST
};

#define EXLB_A_MAX (__EXLB_A_LAST - 1)

enum exlb_sched {
	EXLB_SCHED_RR,		/* round robin */
	EXLB_SCHED_WRR,		/* weighted round robin */
	EXLB_SCHED_LC,		/* least connections */
	EXLB_SCHED_WLC,		/* weighted least connections */
	__EXLB_SCHED_LAST
};

#define EXLB_SCHED_MAX (__EXLB_SCHED_LAST - 1)

enum exlb_persist {
	EXLB_PERSIST_NONE,
	EXLB_PERSIST_SRC,	/* source IP (masked by PERSIST_NETMASK) */
	__EXLB_PERSIST_LAST
};

#define EXLB_PERSIST_MAX (__EXLB_PERSIST_LAST - 1)

enum exlb_forward {
	EXLB_FORWARD_NAT,	/* Kemp forward=nat */
	EXLB_FORWARD_ROUTE,	/* Kemp forward=route: direct routing */
	__EXLB_FORWARD_LAST
};

#define EXLB_FORWARD_MAX (__EXLB_FORWARD_LAST - 1)

enum exlb_svc_flag {
	EXLB_SVC_F_TRANSPARENT = 1U << 0,
	EXLB_SVC_F_SUBNET_ORIGINATING = 1U << 1,
	__EXLB_SVC_F_ALL = EXLB_SVC_F_TRANSPARENT | EXLB_SVC_F_SUBNET_ORIGINATING
};

enum exlb_real_flag {
	EXLB_REAL_F_DISABLED = 1U << 0,	/* Kemp enable=0: draining */
	EXLB_REAL_F_DOWN = 1U << 1,	/* failed its health check */
	__EXLB_REAL_F_ALL = EXLB_REAL_F_DISABLED | EXLB_REAL_F_DOWN
};

enum exlb_svc_attr {
	EXLB_SVC_A_UNSPEC,
	EXLB_SVC_A_ID,
	EXLB_SVC_A_FAMILY,
	EXLB_SVC_A_ADDR,
	EXLB_SVC_A_PORT,
	EXLB_SVC_A_PROTOCOL,
	EXLB_SVC_A_SCHED,
	EXLB_SVC_A_PERSIST,
	EXLB_SVC_A_PERSIST_TIMEOUT,
	EXLB_SVC_A_PERSIST_NETMASK,
	EXLB_SVC_A_IDLE_TIMEOUT,
	EXLB_SVC_A_FLAGS,
	EXLB_SVC_A_NUM_REALS,
	EXLB_SVC_A_ACTIVE_CONNS,
	EXLB_SVC_A_INACTIVE_CONNS,
	EXLB_SVC_A_STATS,
	EXLB_SVC_A_ALT_SOURCE_ADDRS,
	EXLB_SVC_A_PERSIST_RECORDS,
	__EXLB_SVC_A_LAST
};

#define EXLB_SVC_A_MAX (__EXLB_SVC_A_LAST - 1)

enum exlb_real_attr {
	EXLB_REAL_A_UNSPEC,
	EXLB_REAL_A_ADDR,
	EXLB_REAL_A_PORT,
	EXLB_REAL_A_WEIGHT,
	EXLB_REAL_A_LIMIT,
	EXLB_REAL_A_FORWARD,
	EXLB_REAL_A_FLAGS,
	EXLB_REAL_A_ACTIVE_CONNS,
	EXLB_REAL_A_INACTIVE_CONNS,
	EXLB_REAL_A_STATS,
	__EXLB_REAL_A_LAST
};

#define EXLB_REAL_A_MAX (__EXLB_REAL_A_LAST - 1)

/* "in" is client to real server, "out" is real server to client. */
enum exlb_stats_attr {
	EXLB_STATS_A_UNSPEC,
	EXLB_STATS_A_CONNS,	/* NLA_U64: flows ever scheduled */
	EXLB_STATS_A_PKTS_IN,	/* NLA_U64 */
	EXLB_STATS_A_PKTS_OUT,	/* NLA_U64 */
	EXLB_STATS_A_BYTES_IN,	/* NLA_U64 */
	EXLB_STATS_A_BYTES_OUT,	/* NLA_U64 */
	EXLB_STATS_A_PAD,
	/* services only: */
	EXLB_STATS_A_NO_SOURCE_PORT,	/* NLA_U64: SYNs refused, no free source port */
	EXLB_STATS_A_PERSIST_EVICTED,	/* NLA_U64: idle records dropped at the cap */
	EXLB_STATS_A_PERSIST_FULL,	/* NLA_U64: clients not made sticky at the cap */
	__EXLB_STATS_A_LAST
};

#define EXLB_STATS_A_MAX (__EXLB_STATS_A_LAST - 1)

enum exlb_tcp_state {
	EXLB_TCP_SYN_SENT,
	EXLB_TCP_SYN_RECV,
	EXLB_TCP_ESTABLISHED,
	EXLB_TCP_FIN_WAIT,
	EXLB_TCP_CLOSE_WAIT,
	EXLB_TCP_LAST_ACK,
	EXLB_TCP_TIME_WAIT,
	EXLB_TCP_CLOSE,
	__EXLB_TCP_LAST
};

enum exlb_flow_attr {
	EXLB_FLOW_A_UNSPEC,
	EXLB_FLOW_A_SERVICE_ID,
	EXLB_FLOW_A_FAMILY,
	EXLB_FLOW_A_CLIENT_ADDR,
	EXLB_FLOW_A_CLIENT_PORT,
	EXLB_FLOW_A_VIP_ADDR,
	EXLB_FLOW_A_VIP_PORT,
	EXLB_FLOW_A_REAL_ADDR,
	EXLB_FLOW_A_REAL_PORT,
	EXLB_FLOW_A_SOURCE_ADDR,
	EXLB_FLOW_A_SOURCE_PORT,
	EXLB_FLOW_A_STATE,
	EXLB_FLOW_A_IDLE,
	EXLB_FLOW_A_ADOPTED,
	__EXLB_FLOW_A_LAST
};

#define EXLB_FLOW_A_MAX (__EXLB_FLOW_A_LAST - 1)

enum exlb_global_attr {
	EXLB_GLOBAL_A_UNSPEC,
	EXLB_GLOBAL_A_DROP_ON_FAIL,
	EXLB_GLOBAL_A_DROP_AT_DRAIN_END,
	EXLB_GLOBAL_A_FINAL_PERSIST,
	EXLB_GLOBAL_A_CONN_TIMEOUT,
	EXLB_GLOBAL_A_PAD,
	EXLB_GLOBAL_A_ADOPTED,		/* NLA_U64, replies only */
	EXLB_GLOBAL_A_ADOPT_RESET,	/* NLA_U64, replies only */
	EXLB_GLOBAL_A_OFFLOADED,	/* NLA_U32, replies only */
	EXLB_GLOBAL_A_OFFLOAD_DEVS,	/* NLA_U32, replies only */
	__EXLB_GLOBAL_A_LAST
};

#define EXLB_GLOBAL_A_MAX (__EXLB_GLOBAL_A_LAST - 1)

enum exlb_persist_attr {
	EXLB_PERSIST_A_UNSPEC,
	EXLB_PERSIST_A_KEY,		/* NLA_BINARY, 16 bytes */
	EXLB_PERSIST_A_TIMEOUT,		/* NLA_U32, seconds */
	EXLB_PERSIST_A_CONNS,		/* NLA_U32, replies only */
	__EXLB_PERSIST_A_LAST
};

#define EXLB_PERSIST_A_MAX (__EXLB_PERSIST_A_LAST - 1)
#define EXLB_PERSIST_KEY_LEN 16

#endif /* _UAPI_LINUX_EXLB_H */
