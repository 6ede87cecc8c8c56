/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * libexlbnl: a small client library, on libmnl, for the "exlb" generic
 * netlink family of exlb.ko (protocol: uapi/linux/exlb.h). It owns the
 * socket, family resolution, request building, reply parsing (including
 * the kernel's extended-ack message) and multipart dumps.
 *
 * Conventions: every function returns 0 or a negative errno. The text of
 * the last failure (the kernel's extack message when it gave one) is kept
 * in the handle, see exlbnl_errmsg(). Nothing here prints or exits.
 * Addresses are raw network-order bytes, ports and times host-order.
 */
#ifndef EXLBNL_H
#define EXLBNL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#include <uapi/linux/exlb.h>

struct nlmsghdr;

/* Large enough for one message of any kernel dump (they stop at 32 KiB). */
#define EXLBNL_RECV_BUFSIZE (64 * 1024)
/* Requests are small: one service or real server at most. */
#define EXLBNL_REQ_BUFSIZE 8192
#define EXLBNL_ERRMSG_LEN 256
/* A dump that the kernel marks NLM_F_DUMP_INTR is restarted this often. */
#define EXLBNL_DUMP_RETRIES 5

union exlbnl_addr {
	struct in_addr v4;
	struct in6_addr v6;
	uint8_t raw[16];
};

/* struct exlbnl_service.present: which fields hold a value. */
enum {
	EXLBNL_SVC_ID = 1U << 0,
	EXLBNL_SVC_ADDR = 1U << 1,		/* addr and port */
	EXLBNL_SVC_SCHED = 1U << 2,
	EXLBNL_SVC_PERSIST = 1U << 3,
	EXLBNL_SVC_PERSIST_TIMEOUT = 1U << 4,
	EXLBNL_SVC_PERSIST_NETMASK = 1U << 5,
	EXLBNL_SVC_IDLE_TIMEOUT = 1U << 6,
	EXLBNL_SVC_FLAGS = 1U << 7,
	EXLBNL_SVC_COUNTERS = 1U << 8,		/* dumps: num_reals .. stats */
	EXLBNL_SVC_ALT_SOURCE = 1U << 9,	/* alt_n and alt */
};

#define EXLBNL_SVC_SETTINGS (EXLBNL_SVC_SCHED | EXLBNL_SVC_PERSIST | \
			     EXLBNL_SVC_PERSIST_TIMEOUT | \
			     EXLBNL_SVC_PERSIST_NETMASK | \
			     EXLBNL_SVC_IDLE_TIMEOUT | EXLBNL_SVC_FLAGS | \
			     EXLBNL_SVC_ALT_SOURCE)

/* The last three are a service's only (0 for a real server). */
struct exlbnl_stats {
	uint64_t conns, pkts_in, pkts_out, bytes_in, bytes_out;
	uint64_t no_source_port, persist_evicted, persist_full;
};

/*
 * A virtual service. In requests it is identified by id when
 * EXLBNL_SVC_ID is present, else by family + addr + port. family is
 * always meaningful (AF_INET or AF_INET6).
 */
struct exlbnl_service {
	uint32_t present;
	uint32_t id;
	uint16_t family;
	union exlbnl_addr addr;
	uint16_t port;
	uint8_t protocol;		/* dumps only; always IPPROTO_TCP */
	uint8_t sched;			/* enum exlb_sched */
	uint8_t persist;		/* enum exlb_persist */
	uint8_t persist_netmask;
	uint32_t persist_timeout;
	uint32_t idle_timeout;
	uint32_t flags;			/* EXLB_SVC_F_* */
	/* alternate source addresses (Kemp's localbind); NEW omits an empty list */
	unsigned int alt_n;
	union exlbnl_addr alt[EXLB_MAX_ALT_SOURCE_ADDRS];
	/* dumps only (EXLBNL_SVC_COUNTERS) */
	uint32_t num_reals, active_conns, inactive_conns, persist_records;
	struct exlbnl_stats stats;
};

/* struct exlbnl_real.present */
enum {
	EXLBNL_REAL_WEIGHT = 1U << 0,
	EXLBNL_REAL_LIMIT = 1U << 1,
	EXLBNL_REAL_FORWARD = 1U << 2,
	EXLBNL_REAL_FLAGS = 1U << 3,
	EXLBNL_REAL_COUNTERS = 1U << 4,		/* dumps: conns and stats */
};

/* A real server; addr and port always identify it within its service. */
struct exlbnl_real {
	uint32_t present;
	uint32_t service_id;		/* dumps only */
	union exlbnl_addr addr;
	uint16_t port;
	uint32_t weight, limit;
	uint8_t forward;		/* enum exlb_forward */
	uint32_t flags;			/* EXLB_REAL_F_* */
	uint32_t active_conns, inactive_conns;
	struct exlbnl_stats stats;
};

struct exlbnl_flow {
	uint32_t service_id;
	uint16_t family;
	union exlbnl_addr client, vip, real, source;
	uint16_t client_port, vip_port, real_port, source_port;
	uint8_t state;			/* enum exlb_tcp_state */
	uint32_t idle;			/* seconds since the last packet */
	bool adopted;			/* synced from the HA peer, adopted */
};

/* struct exlbnl_globals.present */
enum {
	EXLBNL_GLOBAL_DROP_ON_FAIL = 1U << 0,
	EXLBNL_GLOBAL_DROP_AT_DRAIN_END = 1U << 1,
	EXLBNL_GLOBAL_FINAL_PERSIST = 1U << 2,
	EXLBNL_GLOBAL_CONN_TIMEOUT = 1U << 3,
};

struct exlbnl_globals {
	uint32_t present;
	uint8_t drop_on_fail, drop_at_drain_end;
	uint32_t final_persist, conn_timeout;
	/* figures, read-only (get only; 0 from a kernel without them) */
	uint64_t adopted, adopt_reset;
	uint32_t offloaded, offload_devs;
};

struct exlbnl;

/* Opens a socket and resolves the exlb family; -ENOENT if not loaded. */
int exlbnl_open(struct exlbnl **nlp, char *errbuf, size_t errlen);
void exlbnl_close(struct exlbnl *nl);
/* The text of the last failure on @nl ("" after a success). */
const char *exlbnl_errmsg(const struct exlbnl *nl);
uint16_t exlbnl_family_id(const struct exlbnl *nl);

/* Services. NEW sends every present field; @id_out may be NULL. */
int exlbnl_service_new(struct exlbnl *nl, const struct exlbnl_service *svc,
		       uint32_t *id_out);
/* Identifies @svc as above and changes the EXLBNL_SVC_SETTINGS present. */
int exlbnl_service_set(struct exlbnl *nl, const struct exlbnl_service *svc);
int exlbnl_service_del(struct exlbnl *nl, const struct exlbnl_service *svc);
/* *@svcs is malloc()ed (free() it); it is NULL when *@n is 0. */
int exlbnl_service_dump(struct exlbnl *nl, struct exlbnl_service **svcs,
			size_t *n);
/* Finds one service (by id or by address) in a dump; -ENOENT if absent. */
int exlbnl_service_get(struct exlbnl *nl, const struct exlbnl_service *key,
		       struct exlbnl_service *out);

/* Real servers of the service identified by @svc. */
int exlbnl_real_new(struct exlbnl *nl, const struct exlbnl_service *svc,
		    const struct exlbnl_real *real);
int exlbnl_real_set(struct exlbnl *nl, const struct exlbnl_service *svc,
		    const struct exlbnl_real *real);
int exlbnl_real_del(struct exlbnl *nl, const struct exlbnl_service *svc,
		    const struct exlbnl_real *real);
int exlbnl_real_dump(struct exlbnl *nl, const struct exlbnl_service *svc,
		     struct exlbnl_real **reals, size_t *n);

/* Flows; @service_id 0 = every service. */
int exlbnl_flow_dump(struct exlbnl *nl, uint32_t service_id,
		     struct exlbnl_flow **flows, size_t *n);

/*
 * Source-persistence records of one service (HA persistence sync):
 * EXLB_CMD_GET_PERSIST dumps them, EXLB_CMD_SET_PERSIST installs one.
 * @key_len is sent as given (16 for a valid key) so that tests can send
 * other lengths.
 */
struct exlbnl_persist {
	uint32_t service_id;
	union exlbnl_addr real;
	uint16_t real_port;
	uint8_t key[16];
	uint32_t timeout;		/* seconds left */
	uint32_t conns;			/* open flows holding it (dumps) */
};

int exlbnl_persist_dump(struct exlbnl *nl, const struct exlbnl_service *svc,
			struct exlbnl_persist **recs, size_t *n);
int exlbnl_persist_set(struct exlbnl *nl, const struct exlbnl_service *svc,
		       const union exlbnl_addr *real, uint16_t real_port,
		       const uint8_t *key, size_t key_len, uint32_t timeout);

int exlbnl_globals_get(struct exlbnl *nl, struct exlbnl_globals *g);
/* Sends the present fields only. */
int exlbnl_globals_set(struct exlbnl *nl, const struct exlbnl_globals *g);

/*
 * Text helpers shared by the tools. "ADDR:PORT" with IPv6 written
 * "[ADDR]:PORT"; the port must be 1..65535.
 */
int exlbnl_parse_addr_port(const char *s, uint16_t *family,
			   union exlbnl_addr *addr, uint16_t *port);
/* "ADDR:PORT" or "id:N" (N 1..4294967295) into @svc's identifier. */
int exlbnl_parse_service_spec(const char *s, struct exlbnl_service *svc);
/* Writes "ADDR" and "ADDR:PORT" / "[ADDR]:PORT" (INET6_ADDRSTRLEN + 8). */
const char *exlbnl_format_addr(uint16_t family, const union exlbnl_addr *addr,
			       char *buf, size_t len);
const char *exlbnl_format_addr_port(uint16_t family,
				    const union exlbnl_addr *addr,
				    uint16_t port, char *buf, size_t len);
unsigned int exlbnl_addr_len(uint16_t family);

/* Names of enum values; NULL when unknown. */
const char *exlbnl_sched_name(uint8_t sched);
const char *exlbnl_persist_name(uint8_t persist);
const char *exlbnl_forward_name(uint8_t forward);
const char *exlbnl_tcp_state_name(uint8_t state);
/* Case-insensitive; -EINVAL when unknown. */
int exlbnl_sched_parse(const char *s, uint8_t *sched);
int exlbnl_persist_parse(const char *s, uint8_t *persist);
int exlbnl_forward_parse(const char *s, uint8_t *forward);

/*
 * Low level: message building and parsing without a socket, and a
 * replaceable transport, so both can be tested without a kernel.
 */
struct exlbnl_transport {
	ssize_t (*send)(void *priv, const void *buf, size_t len);
	ssize_t (*recv)(void *priv, void *buf, size_t len);
	void *priv;
};

int exlbnl_open_transport(struct exlbnl **nlp,
			  const struct exlbnl_transport *t,
			  uint16_t family_id);

/* How exlbnl_put_service() writes the EXLB_A_SERVICE nest. */
enum exlbnl_svc_put {
	EXLBNL_PUT_IDENT,	/* id, or family + addr + port */
	EXLBNL_PUT_SET,		/* the identifier and present settings */
	EXLBNL_PUT_NEW,		/* every present field and the family */
	EXLBNL_PUT_FILTER,	/* the id only (GET_FLOWS) */
};

enum exlbnl_real_put {
	EXLBNL_PUT_REAL_IDENT,	/* addr + port */
	EXLBNL_PUT_REAL_ALL,	/* addr + port and present settings */
};

/* Start a request in @buf (EXLBNL_REQ_BUFSIZE bytes are plenty). */
struct nlmsghdr *exlbnl_msg_start(void *buf, uint16_t family_id, uint8_t cmd,
				  uint16_t flags, uint32_t seq);
/* Each returns -EMSGSIZE if @buflen is exceeded, -EINVAL on bad input. */
int exlbnl_put_service(struct nlmsghdr *nlh, size_t buflen,
		       const struct exlbnl_service *svc,
		       enum exlbnl_svc_put how);
int exlbnl_put_real(struct nlmsghdr *nlh, size_t buflen, uint16_t family,
		    const struct exlbnl_real *real, enum exlbnl_real_put how);
int exlbnl_put_globals(struct nlmsghdr *nlh, size_t buflen,
		       const struct exlbnl_globals *g);

/*
 * Parse one reply message (genl header included). Unknown attributes are
 * ignored (newer kernels may add some); wrong lengths give -EPROTO.
 * exlbnl_parse_real() needs the service's family to size addresses; pass
 * 0 to take it from the attribute length.
 */
int exlbnl_parse_service(const struct nlmsghdr *nlh,
			 struct exlbnl_service *svc);
int exlbnl_parse_real(const struct nlmsghdr *nlh, uint16_t family,
		      struct exlbnl_real *real);
int exlbnl_parse_flow(const struct nlmsghdr *nlh, struct exlbnl_flow *flow);
int exlbnl_parse_globals(const struct nlmsghdr *nlh, struct exlbnl_globals *g);
/*
 * The errno and extack message of an NLMSG_ERROR or NLMSG_DONE message:
 * returns the (negative or 0) error and copies the message, "" if none.
 */
int exlbnl_parse_error(const struct nlmsghdr *nlh, char *msg, size_t len);

#endif /* EXLBNL_H */
