// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libexlbnl: the exlb generic netlink client (see exlbnl.h). This file
 * owns the socket and the request/reply exchange, the builders and parsers
 * of every exlb message, and the address/name helpers the tools share.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <uapi/linux/exlb.h>
#include "exlbnl.h"

struct exlbnl {
	struct mnl_socket *sock;	/* NULL with a custom transport */
	struct exlbnl_transport t;
	uint16_t family_id;
	uint32_t portid;
	uint32_t seq;
	char errmsg[EXLBNL_ERRMSG_LEN];
	char *rbuf;			/* EXLBNL_RECV_BUFSIZE */
	char sbuf[EXLBNL_REQ_BUFSIZE];
};

/* Records the failure text and passes @err through. */
static int __attribute__((format(printf, 3, 4)))
seterr(struct exlbnl *nl, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(nl->errmsg, sizeof(nl->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

const char *exlbnl_errmsg(const struct exlbnl *nl)
{
	return nl->errmsg;
}

uint16_t exlbnl_family_id(const struct exlbnl *nl)
{
	return nl->family_id;
}

unsigned int exlbnl_addr_len(uint16_t family)
{
	switch (family) {
	case AF_INET:
		return 4;
	case AF_INET6:
		return 16;
	default:
		return 0;
	}
}

/* ---- transport ---------------------------------------------------- */

static ssize_t mnl_send(void *priv, const void *buf, size_t len)
{
	return mnl_socket_sendto(priv, buf, len);
}

static ssize_t mnl_recv(void *priv, void *buf, size_t len)
{
	return mnl_socket_recvfrom(priv, buf, len);
}

typedef int (*reply_cb)(const struct nlmsghdr *nlh, void *data);

/*
 * Sends @req and reads until its NLMSG_ERROR (an ACK for requests) or
 * NLMSG_DONE (dumps), handing every data message to @cb. The reply is
 * always read to its end, even after @cb failed, so the next request does
 * not meet stale messages. *@intr is set when the kernel flagged the dump
 * as inconsistent.
 */
static int talk(struct exlbnl *nl, struct nlmsghdr *req, reply_cb cb,
		void *data, bool *intr)
{
	uint32_t seq = req->nlmsg_seq;
	char kmsg[EXLBNL_ERRMSG_LEN];
	int cb_err = 0;
	ssize_t n;

	nl->errmsg[0] = '\0';
	if (nl->t.send(nl->t.priv, req, req->nlmsg_len) < 0)
		return seterr(nl, -errno, "cannot send to the kernel: %s",
			      strerror(errno));
	for (;;) {
		const struct nlmsghdr *nlh = (const void *)nl->rbuf;
		int len;

		n = nl->t.recv(nl->t.priv, nl->rbuf, EXLBNL_RECV_BUFSIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return seterr(nl, -errno, "cannot read from the kernel: %s",
				      strerror(errno));
		if (n == 0)
			return seterr(nl, -EPROTO, "the kernel closed the socket");
		len = (int)n;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			int err;

			/* Leftovers of an earlier, abandoned request. */
			if (nlh->nlmsg_seq != seq ||
			    !mnl_nlmsg_portid_ok(nlh, nl->portid))
				continue;
			if ((nlh->nlmsg_flags & NLM_F_DUMP_INTR) && intr)
				*intr = true;
			switch (nlh->nlmsg_type) {
			case NLMSG_NOOP:
				continue;
			case NLMSG_OVERRUN:
				return seterr(nl, -ENOBUFS, "netlink overrun");
			case NLMSG_ERROR:
			case NLMSG_DONE:
				err = exlbnl_parse_error(nlh, kmsg, sizeof(kmsg));
				if (err < 0) {
					if (kmsg[0])
						return seterr(nl, err, "%s", kmsg);
					return seterr(nl, err, "%s", strerror(-err));
				}
				if (cb_err && !nl->errmsg[0])
					seterr(nl, cb_err, "bad reply from the kernel: %s",
					       strerror(-cb_err));
				return cb_err;
			default:
				if (cb && !cb_err)
					cb_err = cb(nlh, data);
			}
		}
	}
}

static uint32_t next_seq(struct exlbnl *nl)
{
	return ++nl->seq;
}

struct nlmsghdr *exlbnl_msg_start(void *buf, uint16_t family_id, uint8_t cmd,
				  uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = family_id;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = EXLB_GENL_VERSION;
	return nlh;
}

/* ---- family resolution --------------------------------------------- */

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *attr;
	uint16_t *id = data;

	mnl_attr_for_each(attr, nlh, GENL_HDRLEN) {
		if (mnl_attr_get_type(attr) != CTRL_ATTR_FAMILY_ID)
			continue;
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return -EPROTO;
		*id = mnl_attr_get_u16(attr);
	}
	return 0;
}

static int resolve_family(struct exlbnl *nl)
{
	struct nlmsghdr *nlh;
	uint16_t id = 0;
	int err;

	nlh = exlbnl_msg_start(nl->sbuf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
			       NLM_F_ACK, next_seq(nl));
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, EXLB_GENL_NAME);
	err = talk(nl, nlh, family_cb, &id, NULL);
	if (err == -ENOENT)
		return seterr(nl, err,
			      "generic netlink family \"%s\" not found (is exlb.ko loaded?)",
			      EXLB_GENL_NAME);
	if (err)
		return err;
	if (!id)
		return seterr(nl, -EPROTO, "the kernel sent no family id");
	nl->family_id = id;
	return 0;
}

static int alloc_handle(struct exlbnl **nlp)
{
	struct exlbnl *nl = calloc(1, sizeof(*nl));

	if (!nl)
		return -ENOMEM;
	nl->rbuf = malloc(EXLBNL_RECV_BUFSIZE);
	if (!nl->rbuf) {
		free(nl);
		return -ENOMEM;
	}
	nl->seq = (uint32_t)time(NULL);
	*nlp = nl;
	return 0;
}

int exlbnl_open(struct exlbnl **nlp, char *errbuf, size_t errlen)
{
	struct exlbnl *nl;
	int on = 1, err;

	*nlp = NULL;
	err = alloc_handle(&nl);
	if (err) {
		snprintf(errbuf, errlen, "%s", strerror(-err));
		return err;
	}
	nl->sock = mnl_socket_open(NETLINK_GENERIC);
	if (!nl->sock) {
		err = -errno;
		snprintf(errbuf, errlen, "cannot open a netlink socket: %s",
			 strerror(errno));
		goto fail;
	}
	/* The kernel's reason for a refusal, without a copy of our request. */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &on, sizeof(on));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &on, sizeof(on));
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		snprintf(errbuf, errlen, "cannot bind the netlink socket: %s",
			 strerror(errno));
		goto fail;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->t.send = mnl_send;
	nl->t.recv = mnl_recv;
	nl->t.priv = nl->sock;
	err = resolve_family(nl);
	if (err) {
		snprintf(errbuf, errlen, "%s", nl->errmsg);
		goto fail;
	}
	*nlp = nl;
	return 0;

fail:
	exlbnl_close(nl);
	return err;
}

int exlbnl_open_transport(struct exlbnl **nlp,
			  const struct exlbnl_transport *t,
			  uint16_t family_id)
{
	int err;

	*nlp = NULL;
	err = alloc_handle(nlp);
	if (err)
		return err;
	(*nlp)->t = *t;
	(*nlp)->family_id = family_id;
	return 0;
}

void exlbnl_close(struct exlbnl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl->rbuf);
	free(nl);
}

/* ---- building requests --------------------------------------------- */

/* The kernel validates strictly: a nest must carry NLA_F_NESTED. */
static struct nlattr *nest_start(struct nlmsghdr *nlh, size_t buflen,
				 uint16_t type)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, buflen, type);

	if (nest)
		nest->nla_type |= NLA_F_NESTED;
	return nest;
}

static bool put_addr_port(struct nlmsghdr *nlh, size_t buflen,
			  uint16_t addr_type, uint16_t port_type,
			  uint16_t family, const union exlbnl_addr *addr,
			  uint16_t port)
{
	return mnl_attr_put_check(nlh, buflen, addr_type,
				  exlbnl_addr_len(family), addr->raw) &&
	       mnl_attr_put_u16_check(nlh, buflen, port_type, port);
}

/* The list packed, as the kernel takes it; nothing for an empty list in NEW. */
static bool put_alt_source(struct nlmsghdr *nlh, size_t buflen,
			   const struct exlbnl_service *svc, bool is_new)
{
	uint8_t buf[EXLB_MAX_ALT_SOURCE_ADDRS * 16];
	size_t len = exlbnl_addr_len(svc->family);
	unsigned int i;

	if (!(svc->present & EXLBNL_SVC_ALT_SOURCE) || (is_new && !svc->alt_n))
		return true;
	if (svc->alt_n > EXLB_MAX_ALT_SOURCE_ADDRS)
		return false;
	for (i = 0; i < svc->alt_n; i++)
		memcpy(buf + i * len, svc->alt[i].raw, len);
	return mnl_attr_put_check(nlh, buflen, EXLB_SVC_A_ALT_SOURCE_ADDRS,
				  svc->alt_n * len, buf);
}

static bool put_svc_settings(struct nlmsghdr *nlh, size_t buflen,
			     const struct exlbnl_service *svc, bool is_new)
{
	uint32_t p = svc->present;

	return put_alt_source(nlh, buflen, svc, is_new) && (!(p & EXLBNL_SVC_SCHED) ||
		mnl_attr_put_u8_check(nlh, buflen, EXLB_SVC_A_SCHED, svc->sched)) &&
	       (!(p & EXLBNL_SVC_PERSIST) ||
		mnl_attr_put_u8_check(nlh, buflen, EXLB_SVC_A_PERSIST,
				      svc->persist)) &&
	       (!(p & EXLBNL_SVC_PERSIST_TIMEOUT) ||
		mnl_attr_put_u32_check(nlh, buflen, EXLB_SVC_A_PERSIST_TIMEOUT,
				       svc->persist_timeout)) &&
	       (!(p & EXLBNL_SVC_PERSIST_NETMASK) ||
		mnl_attr_put_u8_check(nlh, buflen, EXLB_SVC_A_PERSIST_NETMASK,
				      svc->persist_netmask)) &&
	       (!(p & EXLBNL_SVC_IDLE_TIMEOUT) ||
		mnl_attr_put_u32_check(nlh, buflen, EXLB_SVC_A_IDLE_TIMEOUT,
				       svc->idle_timeout)) &&
	       (!(p & EXLBNL_SVC_FLAGS) ||
		mnl_attr_put_u32_check(nlh, buflen, EXLB_SVC_A_FLAGS, svc->flags));
}

int exlbnl_put_service(struct nlmsghdr *nlh, size_t buflen,
		       const struct exlbnl_service *svc,
		       enum exlbnl_svc_put how)
{
	bool by_id = svc->present & EXLBNL_SVC_ID;
	bool has_addr = svc->present & EXLBNL_SVC_ADDR;
	struct nlattr *nest;
	bool ok;

	if (how == EXLBNL_PUT_FILTER && !by_id)
		return -EINVAL;
	if ((how == EXLBNL_PUT_NEW || has_addr) && !exlbnl_addr_len(svc->family))
		return -EAFNOSUPPORT;
	if (how != EXLBNL_PUT_NEW && !by_id && !has_addr)
		return -EINVAL;

	nest = nest_start(nlh, buflen, EXLB_A_SERVICE);
	if (!nest)
		return -EMSGSIZE;
	if (how == EXLBNL_PUT_NEW) {
		ok = (!by_id ||
		      mnl_attr_put_u32_check(nlh, buflen, EXLB_SVC_A_ID, svc->id)) &&
		     mnl_attr_put_u16_check(nlh, buflen, EXLB_SVC_A_FAMILY,
					    svc->family) &&
		     (!has_addr ||
		      put_addr_port(nlh, buflen, EXLB_SVC_A_ADDR, EXLB_SVC_A_PORT,
				    svc->family, &svc->addr, svc->port));
	} else if (by_id) {
		/* An id alone: the kernel refuses an id with an address in SET. */
		ok = mnl_attr_put_u32_check(nlh, buflen, EXLB_SVC_A_ID, svc->id);
	} else {
		ok = mnl_attr_put_u16_check(nlh, buflen, EXLB_SVC_A_FAMILY,
					    svc->family) &&
		     put_addr_port(nlh, buflen, EXLB_SVC_A_ADDR, EXLB_SVC_A_PORT,
				   svc->family, &svc->addr, svc->port);
	}
	if (ok && (how == EXLBNL_PUT_NEW || how == EXLBNL_PUT_SET))
		ok = put_svc_settings(nlh, buflen, svc, how == EXLBNL_PUT_NEW);
	if (!ok) {
		mnl_attr_nest_cancel(nlh, nest);
		return -EMSGSIZE;
	}
	mnl_attr_nest_end(nlh, nest);
	return 0;
}

int exlbnl_put_real(struct nlmsghdr *nlh, size_t buflen, uint16_t family,
		    const struct exlbnl_real *real, enum exlbnl_real_put how)
{
	uint32_t p = how == EXLBNL_PUT_REAL_ALL ? real->present : 0;
	struct nlattr *nest;
	bool ok;

	if (!exlbnl_addr_len(family))
		return -EAFNOSUPPORT;
	nest = nest_start(nlh, buflen, EXLB_A_REAL);
	if (!nest)
		return -EMSGSIZE;
	ok = put_addr_port(nlh, buflen, EXLB_REAL_A_ADDR, EXLB_REAL_A_PORT,
			   family, &real->addr, real->port) &&
	     (!(p & EXLBNL_REAL_WEIGHT) ||
	      mnl_attr_put_u32_check(nlh, buflen, EXLB_REAL_A_WEIGHT,
				     real->weight)) &&
	     (!(p & EXLBNL_REAL_LIMIT) ||
	      mnl_attr_put_u32_check(nlh, buflen, EXLB_REAL_A_LIMIT, real->limit)) &&
	     (!(p & EXLBNL_REAL_FORWARD) ||
	      mnl_attr_put_u8_check(nlh, buflen, EXLB_REAL_A_FORWARD,
				    real->forward)) &&
	     (!(p & EXLBNL_REAL_FLAGS) ||
	      mnl_attr_put_u32_check(nlh, buflen, EXLB_REAL_A_FLAGS, real->flags));
	if (!ok) {
		mnl_attr_nest_cancel(nlh, nest);
		return -EMSGSIZE;
	}
	mnl_attr_nest_end(nlh, nest);
	return 0;
}

int exlbnl_put_globals(struct nlmsghdr *nlh, size_t buflen,
		       const struct exlbnl_globals *g)
{
	uint32_t p = g->present;
	struct nlattr *nest;
	bool ok;

	nest = nest_start(nlh, buflen, EXLB_A_GLOBALS);
	if (!nest)
		return -EMSGSIZE;
	ok = (!(p & EXLBNL_GLOBAL_DROP_ON_FAIL) ||
	      mnl_attr_put_u8_check(nlh, buflen, EXLB_GLOBAL_A_DROP_ON_FAIL,
				    g->drop_on_fail)) &&
	     (!(p & EXLBNL_GLOBAL_DROP_AT_DRAIN_END) ||
	      mnl_attr_put_u8_check(nlh, buflen, EXLB_GLOBAL_A_DROP_AT_DRAIN_END,
				    g->drop_at_drain_end)) &&
	     (!(p & EXLBNL_GLOBAL_FINAL_PERSIST) ||
	      mnl_attr_put_u32_check(nlh, buflen, EXLB_GLOBAL_A_FINAL_PERSIST,
				     g->final_persist)) &&
	     (!(p & EXLBNL_GLOBAL_CONN_TIMEOUT) ||
	      mnl_attr_put_u32_check(nlh, buflen, EXLB_GLOBAL_A_CONN_TIMEOUT,
				     g->conn_timeout));
	if (!ok) {
		mnl_attr_nest_cancel(nlh, nest);
		return -EMSGSIZE;
	}
	mnl_attr_nest_end(nlh, nest);
	return 0;
}

/* ---- parsing replies ----------------------------------------------- */

#define TB_MAX 24	/* above every EXLB_*_A_MAX */
_Static_assert(EXLB_SVC_A_MAX <= TB_MAX && EXLB_STATS_A_MAX <= TB_MAX &&
	       EXLB_REAL_A_MAX <= TB_MAX && EXLB_FLOW_A_MAX <= TB_MAX &&
	       EXLB_GLOBAL_A_MAX <= TB_MAX,
	       "TB_MAX too small");

struct table {
	const struct nlattr *tb[TB_MAX + 1];
};

/* Keeps the last attribute of each known type; others are skipped. */
static int table_cb(const struct nlattr *attr, void *data)
{
	struct table *t = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= TB_MAX)
		t->tb[type] = attr;
	return MNL_CB_OK;
}

static int parse_top(const struct nlmsghdr *nlh, struct table *t)
{
	memset(t, 0, sizeof(*t));
	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return -EPROTO;
	if (mnl_attr_parse(nlh, GENL_HDRLEN, table_cb, t) < 0)
		return -EPROTO;
	return 0;
}

static int parse_nest(const struct nlattr *nest, struct table *t)
{
	memset(t, 0, sizeof(*t));
	if (mnl_attr_parse_nested(nest, table_cb, t) < 0)
		return -EPROTO;
	return 0;
}

/* The one nest @type a reply carries at top level, parsed into @t. */
static int parse_top_nest(const struct nlmsghdr *nlh, int type, struct table *t)
{
	struct table top;
	int err;

	err = parse_top(nlh, &top);
	if (err)
		return err;
	if (!top.tb[type])
		return -EPROTO;
	return parse_nest(top.tb[type], t);
}

/*
 * A fixed-size attribute into @v (@size bytes); @v is left alone when @a is
 * absent; -EPROTO on another size. Copied, never dereferenced in place: u64
 * attributes are only 4-byte aligned in the message.
 */
static int get_fixed(const struct nlattr *a, void *v, size_t size)
{
	if (!a)
		return 0;
	if (mnl_attr_get_payload_len(a) != size)
		return -EPROTO;
	memcpy(v, mnl_attr_get_payload(a), size);
	return 0;
}

static int get_u8(const struct nlattr *a, uint8_t *v)
{
	return get_fixed(a, v, sizeof(*v));
}

static int get_u16(const struct nlattr *a, uint16_t *v)
{
	return get_fixed(a, v, sizeof(*v));
}

static int get_u32(const struct nlattr *a, uint32_t *v)
{
	return get_fixed(a, v, sizeof(*v));
}

static int get_u64(const struct nlattr *a, uint64_t *v)
{
	return get_fixed(a, v, sizeof(*v));
}

/* An address of @family, or of the family its length tells when 0. */
static int get_addr(const struct nlattr *a, uint16_t *family,
		    union exlbnl_addr *addr)
{
	uint16_t len;

	if (!a)
		return 0;
	len = mnl_attr_get_payload_len(a);
	if (!*family)
		*family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
	if (!*family || len != exlbnl_addr_len(*family))
		return -EPROTO;
	memset(addr, 0, sizeof(*addr));
	memcpy(addr->raw, mnl_attr_get_payload(a), len);
	return 0;
}

static int parse_stats(const struct nlattr *nest, struct exlbnl_stats *st)
{
	struct table t;
	int err;

	err = parse_nest(nest, &t);
	if (err)
		return err;
	if (get_u64(t.tb[EXLB_STATS_A_CONNS], &st->conns) ||
	    get_u64(t.tb[EXLB_STATS_A_PKTS_IN], &st->pkts_in) ||
	    get_u64(t.tb[EXLB_STATS_A_PKTS_OUT], &st->pkts_out) ||
	    get_u64(t.tb[EXLB_STATS_A_BYTES_IN], &st->bytes_in) ||
	    get_u64(t.tb[EXLB_STATS_A_BYTES_OUT], &st->bytes_out) ||
	    get_u64(t.tb[EXLB_STATS_A_NO_SOURCE_PORT], &st->no_source_port) ||
	    get_u64(t.tb[EXLB_STATS_A_PERSIST_EVICTED], &st->persist_evicted) ||
	    get_u64(t.tb[EXLB_STATS_A_PERSIST_FULL], &st->persist_full))
		return -EPROTO;
	return 0;
}

int exlbnl_parse_service(const struct nlmsghdr *nlh, struct exlbnl_service *svc)
{
	const struct nlattr *const *tb;
	struct table t;
	int err;

	memset(svc, 0, sizeof(*svc));
	err = parse_top_nest(nlh, EXLB_A_SERVICE, &t);
	if (err)
		return err;
	tb = t.tb;
	if (get_u32(tb[EXLB_SVC_A_ID], &svc->id) ||
	    get_u16(tb[EXLB_SVC_A_FAMILY], &svc->family) ||
	    get_u16(tb[EXLB_SVC_A_PORT], &svc->port) ||
	    get_u8(tb[EXLB_SVC_A_PROTOCOL], &svc->protocol) ||
	    get_u8(tb[EXLB_SVC_A_SCHED], &svc->sched) ||
	    get_u8(tb[EXLB_SVC_A_PERSIST], &svc->persist) ||
	    get_u32(tb[EXLB_SVC_A_PERSIST_TIMEOUT], &svc->persist_timeout) ||
	    get_u8(tb[EXLB_SVC_A_PERSIST_NETMASK], &svc->persist_netmask) ||
	    get_u32(tb[EXLB_SVC_A_IDLE_TIMEOUT], &svc->idle_timeout) ||
	    get_u32(tb[EXLB_SVC_A_FLAGS], &svc->flags) ||
	    get_u32(tb[EXLB_SVC_A_NUM_REALS], &svc->num_reals) ||
	    get_u32(tb[EXLB_SVC_A_ACTIVE_CONNS], &svc->active_conns) ||
	    get_u32(tb[EXLB_SVC_A_INACTIVE_CONNS], &svc->inactive_conns) ||
	    get_u32(tb[EXLB_SVC_A_PERSIST_RECORDS], &svc->persist_records))
		return -EPROTO;
	if (tb[EXLB_SVC_A_ALT_SOURCE_ADDRS]) {
		size_t len = exlbnl_addr_len(svc->family);
		size_t plen = mnl_attr_get_payload_len(tb[EXLB_SVC_A_ALT_SOURCE_ADDRS]);
		const uint8_t *d = mnl_attr_get_payload(tb[EXLB_SVC_A_ALT_SOURCE_ADDRS]);
		unsigned int i;

		if (!len || plen % len || plen / len > EXLB_MAX_ALT_SOURCE_ADDRS)
			return -EPROTO;
		svc->alt_n = plen / len;
		for (i = 0; i < svc->alt_n; i++)
			memcpy(svc->alt[i].raw, d + i * len, len);
	}
	if (tb[EXLB_SVC_A_ADDR]) {
		if (!svc->family || get_addr(tb[EXLB_SVC_A_ADDR], &svc->family,
					     &svc->addr))
			return -EPROTO;
		svc->present |= EXLBNL_SVC_ADDR;
	}
	if (tb[EXLB_SVC_A_STATS] && parse_stats(tb[EXLB_SVC_A_STATS], &svc->stats))
		return -EPROTO;
	svc->present |= (tb[EXLB_SVC_A_ID] ? EXLBNL_SVC_ID : 0) |
			(tb[EXLB_SVC_A_SCHED] ? EXLBNL_SVC_SCHED : 0) |
			(tb[EXLB_SVC_A_PERSIST] ? EXLBNL_SVC_PERSIST : 0) |
			(tb[EXLB_SVC_A_PERSIST_TIMEOUT] ? EXLBNL_SVC_PERSIST_TIMEOUT : 0) |
			(tb[EXLB_SVC_A_PERSIST_NETMASK] ? EXLBNL_SVC_PERSIST_NETMASK : 0) |
			(tb[EXLB_SVC_A_IDLE_TIMEOUT] ? EXLBNL_SVC_IDLE_TIMEOUT : 0) |
			(tb[EXLB_SVC_A_FLAGS] ? EXLBNL_SVC_FLAGS : 0) |
			(tb[EXLB_SVC_A_FLAGS] ? EXLBNL_SVC_ALT_SOURCE : 0) |
			(tb[EXLB_SVC_A_NUM_REALS] ? EXLBNL_SVC_COUNTERS : 0);
	return 0;
}

int exlbnl_parse_real(const struct nlmsghdr *nlh, uint16_t family,
		      struct exlbnl_real *real)
{
	const struct nlattr *const *tb;
	struct table top, t;
	int err;

	memset(real, 0, sizeof(*real));
	err = parse_top(nlh, &top);
	if (err)
		return err;
	if (!top.tb[EXLB_A_REAL])
		return -EPROTO;
	if (top.tb[EXLB_A_SERVICE]) {
		err = parse_nest(top.tb[EXLB_A_SERVICE], &t);
		if (err || get_u32(t.tb[EXLB_SVC_A_ID], &real->service_id))
			return -EPROTO;
	}
	err = parse_nest(top.tb[EXLB_A_REAL], &t);
	if (err)
		return err;
	tb = t.tb;
	if (!tb[EXLB_REAL_A_ADDR] || !tb[EXLB_REAL_A_PORT] ||
	    get_addr(tb[EXLB_REAL_A_ADDR], &family, &real->addr) ||
	    get_u16(tb[EXLB_REAL_A_PORT], &real->port) ||
	    get_u32(tb[EXLB_REAL_A_WEIGHT], &real->weight) ||
	    get_u32(tb[EXLB_REAL_A_LIMIT], &real->limit) ||
	    get_u8(tb[EXLB_REAL_A_FORWARD], &real->forward) ||
	    get_u32(tb[EXLB_REAL_A_FLAGS], &real->flags) ||
	    get_u32(tb[EXLB_REAL_A_ACTIVE_CONNS], &real->active_conns) ||
	    get_u32(tb[EXLB_REAL_A_INACTIVE_CONNS], &real->inactive_conns))
		return -EPROTO;
	if (tb[EXLB_REAL_A_STATS] && parse_stats(tb[EXLB_REAL_A_STATS], &real->stats))
		return -EPROTO;
	real->present = (tb[EXLB_REAL_A_WEIGHT] ? EXLBNL_REAL_WEIGHT : 0) |
			(tb[EXLB_REAL_A_LIMIT] ? EXLBNL_REAL_LIMIT : 0) |
			(tb[EXLB_REAL_A_FORWARD] ? EXLBNL_REAL_FORWARD : 0) |
			(tb[EXLB_REAL_A_FLAGS] ? EXLBNL_REAL_FLAGS : 0) |
			(tb[EXLB_REAL_A_ACTIVE_CONNS] ? EXLBNL_REAL_COUNTERS : 0);
	return 0;
}

int exlbnl_parse_flow(const struct nlmsghdr *nlh, struct exlbnl_flow *flow)
{
	const struct nlattr *const *tb;
	struct table t;
	int err;

	memset(flow, 0, sizeof(*flow));
	err = parse_top_nest(nlh, EXLB_A_FLOW, &t);
	if (err)
		return err;
	tb = t.tb;
	if (get_u32(tb[EXLB_FLOW_A_SERVICE_ID], &flow->service_id) ||
	    get_u16(tb[EXLB_FLOW_A_FAMILY], &flow->family) ||
	    !exlbnl_addr_len(flow->family) ||
	    get_addr(tb[EXLB_FLOW_A_CLIENT_ADDR], &flow->family, &flow->client) ||
	    get_u16(tb[EXLB_FLOW_A_CLIENT_PORT], &flow->client_port) ||
	    get_addr(tb[EXLB_FLOW_A_VIP_ADDR], &flow->family, &flow->vip) ||
	    get_u16(tb[EXLB_FLOW_A_VIP_PORT], &flow->vip_port) ||
	    get_addr(tb[EXLB_FLOW_A_REAL_ADDR], &flow->family, &flow->real) ||
	    get_u16(tb[EXLB_FLOW_A_REAL_PORT], &flow->real_port) ||
	    get_addr(tb[EXLB_FLOW_A_SOURCE_ADDR], &flow->family, &flow->source) ||
	    get_u16(tb[EXLB_FLOW_A_SOURCE_PORT], &flow->source_port) ||
	    get_u8(tb[EXLB_FLOW_A_STATE], &flow->state) ||
	    get_u32(tb[EXLB_FLOW_A_IDLE], &flow->idle))
		return -EPROTO;
	flow->adopted = tb[EXLB_FLOW_A_ADOPTED] != NULL;
	return 0;
}

int exlbnl_parse_globals(const struct nlmsghdr *nlh, struct exlbnl_globals *g)
{
	const struct nlattr *const *tb;
	struct table t;
	int err;

	memset(g, 0, sizeof(*g));
	err = parse_top_nest(nlh, EXLB_A_GLOBALS, &t);
	if (err)
		return err;
	tb = t.tb;
	if (get_u8(tb[EXLB_GLOBAL_A_DROP_ON_FAIL], &g->drop_on_fail) ||
	    get_u8(tb[EXLB_GLOBAL_A_DROP_AT_DRAIN_END], &g->drop_at_drain_end) ||
	    get_u32(tb[EXLB_GLOBAL_A_FINAL_PERSIST], &g->final_persist) ||
	    get_u32(tb[EXLB_GLOBAL_A_CONN_TIMEOUT], &g->conn_timeout) ||
	    get_u64(tb[EXLB_GLOBAL_A_ADOPTED], &g->adopted) ||
	    get_u64(tb[EXLB_GLOBAL_A_ADOPT_RESET], &g->adopt_reset) ||
	    get_u32(tb[EXLB_GLOBAL_A_OFFLOADED], &g->offloaded) ||
	    get_u32(tb[EXLB_GLOBAL_A_OFFLOAD_DEVS], &g->offload_devs))
		return -EPROTO;
	g->present = (tb[EXLB_GLOBAL_A_DROP_ON_FAIL] ? EXLBNL_GLOBAL_DROP_ON_FAIL : 0) |
		     (tb[EXLB_GLOBAL_A_DROP_AT_DRAIN_END] ?
		      EXLBNL_GLOBAL_DROP_AT_DRAIN_END : 0) |
		     (tb[EXLB_GLOBAL_A_FINAL_PERSIST] ? EXLBNL_GLOBAL_FINAL_PERSIST : 0) |
		     (tb[EXLB_GLOBAL_A_CONN_TIMEOUT] ? EXLBNL_GLOBAL_CONN_TIMEOUT : 0);
	return 0;
}

/* Copies NLMSGERR_ATTR_MSG from the TLVs at @tlv (@len bytes). */
static void extack_msg(const void *tlv, size_t len, char *msg, size_t msglen)
{
	const struct nlattr *attr;

	mnl_attr_for_each_payload(tlv, len) {
		size_t n;

		if (mnl_attr_get_type(attr) != NLMSGERR_ATTR_MSG)
			continue;
		n = strnlen(mnl_attr_get_payload(attr),
			    mnl_attr_get_payload_len(attr));
		if (n >= msglen)
			n = msglen - 1;
		memcpy(msg, mnl_attr_get_payload(attr), n);
		msg[n] = '\0';
	}
}

int exlbnl_parse_error(const struct nlmsghdr *nlh, char *msg, size_t len)
{
	const char *p = mnl_nlmsg_get_payload(nlh);
	size_t payload, off;
	int err;

	if (len)
		msg[0] = '\0';
	if (nlh->nlmsg_len < NLMSG_HDRLEN)
		return -EPROTO;
	payload = nlh->nlmsg_len - NLMSG_HDRLEN;
	if (nlh->nlmsg_type == NLMSG_DONE) {
		/* A dump that ends well may carry no errno at all. */
		if (payload < sizeof(int))
			return 0;
		memcpy(&err, p, sizeof(err));
		off = sizeof(int);
	} else {
		const struct nlmsgerr *e = (const void *)p;

		if (payload < sizeof(*e))
			return -EPROTO;
		err = e->error;
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
			if (e->msg.nlmsg_len < NLMSG_HDRLEN)
				return -EPROTO;
			off += MNL_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
		}
	}
	if (err > 0)
		return -EPROTO;
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && off < payload && len)
		extack_msg(p + off, payload - off, msg, len);
	return err;
}

/* ---- requests ------------------------------------------------------ */

/* A growing array for dumps. */
struct vec {
	void *items;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	char *slot;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		void *items = realloc(v->items, cap * v->size);

		if (!items)
			return NULL;
		v->items = items;
		v->cap = cap;
	}
	slot = (char *)v->items + v->n++ * v->size;
	memset(slot, 0, v->size);
	return slot;
}

typedef int (*build_fn)(struct exlbnl *nl, struct nlmsghdr *nlh,
			const void *arg);

/*
 * Runs a dump into @v, restarting it when the kernel says a change
 * interrupted it, so callers only ever see a consistent table.
 */
static int dump(struct exlbnl *nl, uint8_t cmd, build_fn build,
		const void *arg, reply_cb cb, struct vec *v)
{
	int tries, err;

	for (tries = 0; tries < EXLBNL_DUMP_RETRIES; tries++) {
		struct nlmsghdr *nlh;
		bool intr = false;

		nlh = exlbnl_msg_start(nl->sbuf, nl->family_id, cmd, NLM_F_DUMP,
				       next_seq(nl));
		if (build) {
			err = build(nl, nlh, arg);
			if (err)
				return seterr(nl, err, "cannot build the request: %s",
					      strerror(-err));
		}
		v->n = 0;
		err = talk(nl, nlh, cb, v, &intr);
		if (err || !intr)
			return err;
	}
	return seterr(nl, -EAGAIN, "the table kept changing during the dump");
}

static int vec_done(struct vec *v, int err, void **out, size_t *n)
{
	if (err || !v->n) {
		free(v->items);
		*out = NULL;
		*n = 0;
		return err;
	}
	*out = v->items;
	*n = v->n;
	return 0;
}

/* A request that changes something: built, sent, acknowledged. */
static int do_request(struct exlbnl *nl, struct nlmsghdr *nlh, int build_err,
		      reply_cb cb, void *data)
{
	if (build_err)
		return seterr(nl, build_err, "cannot build the request: %s",
			      strerror(-build_err));
	return talk(nl, nlh, cb, data, NULL);
}

static struct nlmsghdr *request(struct exlbnl *nl, uint8_t cmd)
{
	return exlbnl_msg_start(nl->sbuf, nl->family_id, cmd, NLM_F_ACK,
				next_seq(nl));
}

static int new_service_cb(const struct nlmsghdr *nlh, void *data)
{
	struct exlbnl_service reply;
	int err = exlbnl_parse_service(nlh, &reply);

	if (!err && data)
		*(uint32_t *)data = reply.id;
	return err;
}

int exlbnl_service_new(struct exlbnl *nl, const struct exlbnl_service *svc,
		       uint32_t *id_out)
{
	struct nlmsghdr *nlh = request(nl, EXLB_CMD_NEW_SERVICE);

	if (id_out)
		*id_out = 0;
	return do_request(nl, nlh,
			  exlbnl_put_service(nlh, sizeof(nl->sbuf), svc,
					     EXLBNL_PUT_NEW),
			  new_service_cb, id_out);
}

int exlbnl_service_set(struct exlbnl *nl, const struct exlbnl_service *svc)
{
	struct nlmsghdr *nlh = request(nl, EXLB_CMD_SET_SERVICE);

	return do_request(nl, nlh,
			  exlbnl_put_service(nlh, sizeof(nl->sbuf), svc,
					     EXLBNL_PUT_SET), NULL, NULL);
}

int exlbnl_service_del(struct exlbnl *nl, const struct exlbnl_service *svc)
{
	struct nlmsghdr *nlh = request(nl, EXLB_CMD_DEL_SERVICE);

	return do_request(nl, nlh,
			  exlbnl_put_service(nlh, sizeof(nl->sbuf), svc,
					     EXLBNL_PUT_IDENT), NULL, NULL);
}

static int service_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct exlbnl_service *svc = vec_push(data);

	if (!svc)
		return -ENOMEM;
	return exlbnl_parse_service(nlh, svc);
}

int exlbnl_service_dump(struct exlbnl *nl, struct exlbnl_service **svcs,
			size_t *n)
{
	struct vec v = { .size = sizeof(**svcs) };
	int err;

	err = dump(nl, EXLB_CMD_GET_SERVICES, NULL, NULL, service_dump_cb, &v);
	return vec_done(&v, err, (void **)svcs, n);
}

static bool service_matches(const struct exlbnl_service *key,
			    const struct exlbnl_service *svc)
{
	if (key->present & EXLBNL_SVC_ID)
		return svc->id == key->id;
	return (svc->present & EXLBNL_SVC_ADDR) &&
	       svc->family == key->family && svc->port == key->port &&
	       !memcmp(&svc->addr, &key->addr, exlbnl_addr_len(key->family));
}

int exlbnl_service_get(struct exlbnl *nl, const struct exlbnl_service *key,
		       struct exlbnl_service *out)
{
	struct exlbnl_service *svcs;
	size_t i, n;
	int err;

	if (!(key->present & (EXLBNL_SVC_ID | EXLBNL_SVC_ADDR)))
		return seterr(nl, -EINVAL, "no service identifier given");
	err = exlbnl_service_dump(nl, &svcs, &n);
	if (err)
		return err;
	err = seterr(nl, -ENOENT, "no such service");
	for (i = 0; i < n; i++) {
		if (service_matches(key, &svcs[i])) {
			*out = svcs[i];
			nl->errmsg[0] = '\0';
			err = 0;
			break;
		}
	}
	free(svcs);
	return err;
}

static int real_request(struct exlbnl *nl, uint8_t cmd,
			const struct exlbnl_service *svc,
			const struct exlbnl_real *real, enum exlbnl_real_put how)
{
	uint16_t family = svc->family;
	struct nlmsghdr *nlh;
	int err;

	/* The real's family is the service's; look it up when named by id. */
	if (!exlbnl_addr_len(family)) {
		struct exlbnl_service found;

		err = exlbnl_service_get(nl, svc, &found);
		if (err)
			return err;
		family = found.family;
	}
	nlh = request(nl, cmd);
	err = exlbnl_put_service(nlh, sizeof(nl->sbuf), svc, EXLBNL_PUT_IDENT);
	if (!err)
		err = exlbnl_put_real(nlh, sizeof(nl->sbuf), family, real, how);
	return do_request(nl, nlh, err, NULL, NULL);
}

int exlbnl_real_new(struct exlbnl *nl, const struct exlbnl_service *svc,
		    const struct exlbnl_real *real)
{
	return real_request(nl, EXLB_CMD_NEW_REAL, svc, real,
			    EXLBNL_PUT_REAL_ALL);
}

int exlbnl_real_set(struct exlbnl *nl, const struct exlbnl_service *svc,
		    const struct exlbnl_real *real)
{
	return real_request(nl, EXLB_CMD_SET_REAL, svc, real,
			    EXLBNL_PUT_REAL_ALL);
}

int exlbnl_real_del(struct exlbnl *nl, const struct exlbnl_service *svc,
		    const struct exlbnl_real *real)
{
	return real_request(nl, EXLB_CMD_DEL_REAL, svc, real,
			    EXLBNL_PUT_REAL_IDENT);
}

static int build_service_ident(struct exlbnl *nl, struct nlmsghdr *nlh,
			       const void *arg)
{
	return exlbnl_put_service(nlh, sizeof(nl->sbuf), arg, EXLBNL_PUT_IDENT);
}

struct real_vec {
	struct vec v;		/* first: dump() sees a struct vec */
	uint16_t family;
};

static int real_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct real_vec *rv = data;
	struct exlbnl_real *real = vec_push(&rv->v);

	if (!real)
		return -ENOMEM;
	return exlbnl_parse_real(nlh, rv->family, real);
}

int exlbnl_real_dump(struct exlbnl *nl, const struct exlbnl_service *svc,
		     struct exlbnl_real **reals, size_t *n)
{
	struct real_vec rv = {
		.v = { .size = sizeof(**reals) },
		.family = exlbnl_addr_len(svc->family) ? svc->family : 0,
	};
	int err;

	err = dump(nl, EXLB_CMD_GET_REALS, build_service_ident, svc,
		   real_dump_cb, &rv.v);
	return vec_done(&rv.v, err, (void **)reals, n);
}

struct persist_vec {
	struct vec v;		/* first: dump() sees a struct vec */
	uint16_t family;
};

static int persist_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct persist_vec *pv = data;
	struct exlbnl_persist *rec = vec_push(&pv->v);
	struct table top, t;
	uint16_t family = pv->family;

	if (!rec)
		return -ENOMEM;
	memset(rec, 0, sizeof(*rec));
	if (parse_top(nlh, &top) || !top.tb[EXLB_A_SERVICE] ||
	    !top.tb[EXLB_A_REAL] || !top.tb[EXLB_A_PERSIST])
		return -EPROTO;
	if (parse_nest(top.tb[EXLB_A_SERVICE], &t) ||
	    get_u32(t.tb[EXLB_SVC_A_ID], &rec->service_id))
		return -EPROTO;
	if (parse_nest(top.tb[EXLB_A_REAL], &t) || !t.tb[EXLB_REAL_A_ADDR] ||
	    get_addr(t.tb[EXLB_REAL_A_ADDR], &family, &rec->real) ||
	    get_u16(t.tb[EXLB_REAL_A_PORT], &rec->real_port))
		return -EPROTO;
	if (parse_nest(top.tb[EXLB_A_PERSIST], &t) || !t.tb[EXLB_PERSIST_A_KEY] ||
	    mnl_attr_get_payload_len(t.tb[EXLB_PERSIST_A_KEY]) != sizeof(rec->key) ||
	    get_u32(t.tb[EXLB_PERSIST_A_TIMEOUT], &rec->timeout) ||
	    get_u32(t.tb[EXLB_PERSIST_A_CONNS], &rec->conns))
		return -EPROTO;
	memcpy(rec->key, mnl_attr_get_payload(t.tb[EXLB_PERSIST_A_KEY]),
	       sizeof(rec->key));
	return 0;
}

int exlbnl_persist_dump(struct exlbnl *nl, const struct exlbnl_service *svc,
			struct exlbnl_persist **recs, size_t *n)
{
	struct persist_vec pv = {
		.v = { .size = sizeof(**recs) },
		.family = exlbnl_addr_len(svc->family) ? svc->family : 0,
	};
	int err;

	err = dump(nl, EXLB_CMD_GET_PERSIST, build_service_ident, svc,
		   persist_dump_cb, &pv.v);
	return vec_done(&pv.v, err, (void **)recs, n);
}

int exlbnl_persist_set(struct exlbnl *nl, const struct exlbnl_service *svc,
		       const union exlbnl_addr *real, uint16_t real_port,
		       const uint8_t *key, size_t key_len, uint32_t timeout)
{
	struct exlbnl_real r = { .port = real_port };
	uint16_t family = svc->family;
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	int err;

	if (!exlbnl_addr_len(family)) {
		struct exlbnl_service found;

		err = exlbnl_service_get(nl, svc, &found);
		if (err)
			return err;
		family = found.family;
	}
	r.addr = *real;
	nlh = request(nl, EXLB_CMD_SET_PERSIST);
	err = exlbnl_put_service(nlh, sizeof(nl->sbuf), svc, EXLBNL_PUT_IDENT);
	if (!err)
		err = exlbnl_put_real(nlh, sizeof(nl->sbuf), family, &r,
				      EXLBNL_PUT_REAL_IDENT);
	if (!err) {
		nest = nest_start(nlh, sizeof(nl->sbuf), EXLB_A_PERSIST);
		if (!nest ||
		    !mnl_attr_put_check(nlh, sizeof(nl->sbuf), EXLB_PERSIST_A_KEY,
					key_len, key) ||
		    !mnl_attr_put_u32_check(nlh, sizeof(nl->sbuf),
					    EXLB_PERSIST_A_TIMEOUT, timeout))
			err = -EMSGSIZE;
		else
			mnl_attr_nest_end(nlh, nest);
	}
	return do_request(nl, nlh, err, NULL, NULL);
}

static int build_flow_filter(struct exlbnl *nl, struct nlmsghdr *nlh,
			     const void *arg)
{
	const struct exlbnl_service filter = {
		.present = EXLBNL_SVC_ID,
		.id = *(const uint32_t *)arg,
	};

	if (!filter.id)
		return 0;
	return exlbnl_put_service(nlh, sizeof(nl->sbuf), &filter,
				  EXLBNL_PUT_FILTER);
}

static int flow_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct exlbnl_flow *flow = vec_push(data);

	if (!flow)
		return -ENOMEM;
	return exlbnl_parse_flow(nlh, flow);
}

int exlbnl_flow_dump(struct exlbnl *nl, uint32_t service_id,
		     struct exlbnl_flow **flows, size_t *n)
{
	struct vec v = { .size = sizeof(**flows) };
	int err;

	err = dump(nl, EXLB_CMD_GET_FLOWS, build_flow_filter, &service_id,
		   flow_dump_cb, &v);
	return vec_done(&v, err, (void **)flows, n);
}

static int globals_cb(const struct nlmsghdr *nlh, void *data)
{
	return exlbnl_parse_globals(nlh, data);
}

int exlbnl_globals_get(struct exlbnl *nl, struct exlbnl_globals *g)
{
	struct nlmsghdr *nlh = request(nl, EXLB_CMD_GET_GLOBALS);
	int err;

	memset(g, 0, sizeof(*g));
	err = do_request(nl, nlh, 0, globals_cb, g);
	if (!err && !g->present)
		return seterr(nl, -EPROTO, "the kernel sent no globals");
	return err;
}

int exlbnl_globals_set(struct exlbnl *nl, const struct exlbnl_globals *g)
{
	struct nlmsghdr *nlh = request(nl, EXLB_CMD_SET_GLOBALS);

	return do_request(nl, nlh,
			  exlbnl_put_globals(nlh, sizeof(nl->sbuf), g), NULL, NULL);
}

/* ---- text helpers -------------------------------------------------- */

/* 1..65535, digits only. */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int exlbnl_parse_addr_port(const char *s, uint16_t *family,
			   union exlbnl_addr *addr, uint16_t *port)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *end;
	union exlbnl_addr a;
	uint16_t fam, p;
	size_t len;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
		s++;
		fam = AF_INET6;
	} else {
		/* An IPv6 address needs brackets to tell it from the port. */
		colon = strchr(s, ':');
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL;
		end = colon;
		fam = AF_INET;
	}
	len = (size_t)(end - s);
	if (!len || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	memset(&a, 0, sizeof(a));
	if (inet_pton(fam, host, a.raw) != 1 || parse_port(colon + 1, &p))
		return -EINVAL;
	*family = fam;
	*addr = a;
	*port = p;
	return 0;
}

int exlbnl_parse_service_spec(const char *s, struct exlbnl_service *svc)
{
	if (!strncasecmp(s, "id:", 3)) {
		unsigned long long v = 0;
		const char *d = s + 3;

		if (!*d || strlen(d) > 10)
			return -EINVAL;
		for (; *d; d++) {
			if (!isdigit((unsigned char)*d))
				return -EINVAL;
			v = v * 10 + (unsigned long long)(*d - '0');
		}
		if (v < 1 || v > UINT32_MAX)
			return -EINVAL;
		svc->present |= EXLBNL_SVC_ID;
		svc->present &= ~EXLBNL_SVC_ADDR;
		svc->id = (uint32_t)v;
		return 0;
	}
	if (exlbnl_parse_addr_port(s, &svc->family, &svc->addr, &svc->port))
		return -EINVAL;
	svc->present |= EXLBNL_SVC_ADDR;
	svc->present &= ~EXLBNL_SVC_ID;
	return 0;
}

const char *exlbnl_format_addr(uint16_t family, const union exlbnl_addr *addr,
			       char *buf, size_t len)
{
	if (!exlbnl_addr_len(family) ||
	    !inet_ntop(family, addr->raw, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *exlbnl_format_addr_port(uint16_t family,
				    const union exlbnl_addr *addr,
				    uint16_t port, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	exlbnl_format_addr(family, addr, host, sizeof(host));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		 (unsigned int)port);
	return buf;
}

static const char *const sched_names[] = {
	[EXLB_SCHED_RR] = "rr",
	[EXLB_SCHED_WRR] = "wrr",
	[EXLB_SCHED_LC] = "lc",
	[EXLB_SCHED_WLC] = "wlc",
};

static const char *const persist_names[] = {
	[EXLB_PERSIST_NONE] = "none",
	[EXLB_PERSIST_SRC] = "src",
};

static const char *const forward_names[] = {
	[EXLB_FORWARD_NAT] = "nat",
	[EXLB_FORWARD_ROUTE] = "route",
};

static const char *const tcp_state_names[] = {
	[EXLB_TCP_SYN_SENT] = "SYN_SENT",
	[EXLB_TCP_SYN_RECV] = "SYN_RECV",
	[EXLB_TCP_ESTABLISHED] = "ESTABLISHED",
	[EXLB_TCP_FIN_WAIT] = "FIN_WAIT",
	[EXLB_TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[EXLB_TCP_LAST_ACK] = "LAST_ACK",
	[EXLB_TCP_TIME_WAIT] = "TIME_WAIT",
	[EXLB_TCP_CLOSE] = "CLOSE",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, uint8_t v)
{
	return v < n ? names[v] : NULL;
}

static int parse_name(const char *const *names, size_t n, const char *s,
		      uint8_t *v)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (names[i] && !strcasecmp(names[i], s)) {
			*v = (uint8_t)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *exlbnl_sched_name(uint8_t sched)
{
	return name_of(sched_names, ARRAY_SIZE(sched_names), sched);
}

const char *exlbnl_persist_name(uint8_t persist)
{
	return name_of(persist_names, ARRAY_SIZE(persist_names), persist);
}

const char *exlbnl_forward_name(uint8_t forward)
{
	return name_of(forward_names, ARRAY_SIZE(forward_names), forward);
}

const char *exlbnl_tcp_state_name(uint8_t state)
{
	return name_of(tcp_state_names, ARRAY_SIZE(tcp_state_names), state);
}

int exlbnl_sched_parse(const char *s, uint8_t *sched)
{
	return parse_name(sched_names, ARRAY_SIZE(sched_names), s, sched);
}

int exlbnl_persist_parse(const char *s, uint8_t *persist)
{
	return parse_name(persist_names, ARRAY_SIZE(persist_names), s, persist);
}

int exlbnl_forward_parse(const char *s, uint8_t *forward)
{
	return parse_name(forward_names, ARRAY_SIZE(forward_names), s, forward);
}
