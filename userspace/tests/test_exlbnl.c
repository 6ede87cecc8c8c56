// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of libexlbnl (userspace/lib/exlbnl.c) without a kernel: the
 * address and service-spec parsers, requests built into a buffer and read
 * back with libmnl, kernel-like replies parsed, and whole exchanges
 * (ACKs, extack errors, multipart dumps, NLM_F_DUMP_INTR restarts) over a
 * fake transport that answers like the kernel would.
 *
 * Prints "ok N - name" / "not ok N - name" (TAP) and exits non-zero if any
 * check failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <uapi/linux/exlb.h>
#include "exlbnl.h"

static int test_no;
static int failures;

static void __attribute__((format(printf, 2, 3)))
report(bool pass, const char *fmt, ...)
{
	va_list ap;

	test_no++;
	printf("%s %d - ", pass ? "ok" : "not ok", test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!pass)
		failures++;
}

#define FAMILY_ID 0x1234

/* ---- parsing text -------------------------------------------------- */

static void test_addr_port(void)
{
	static const char *const bad[] = {
		"", ":80", "198.18.0.10", "198.18.0.10:", "198.18.0.10:0",
		"198.18.0.10:65536", "198.18.0.10:80x", "198.18.0.10:+80",
		"198.18.0.256:80", "fd00::10:80", "[fd00::10]80", "[fd00::10]:",
		"[198.18.0.10]:80", "[fd00::10:80", "host.example:80",
		"198.18.0.10:080000", "[]:80", "[fd00::10%eth0]:80",
	};
	union exlbnl_addr a;
	uint16_t fam, port;
	char buf[64];
	size_t i;
	int err;

	err = exlbnl_parse_addr_port("198.18.0.10:80", &fam, &a, &port);
	report(!err && fam == AF_INET && port == 80 &&
	       !memcmp(a.raw, "\xc6\x12\x00\x0a", 4),
	       "IPv4 ADDR:PORT parses");
	err = exlbnl_parse_addr_port("[fd00::10]:65535", &fam, &a, &port);
	report(!err && fam == AF_INET6 && port == 65535 && a.raw[0] == 0xfd &&
	       a.raw[15] == 0x10, "[IPv6]:PORT parses");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		report(exlbnl_parse_addr_port(bad[i], &fam, &a, &port) == -EINVAL,
		       "\"%s\" is refused", bad[i]);

	exlbnl_parse_addr_port("[fd00::10]:443", &fam, &a, &port);
	exlbnl_format_addr_port(fam, &a, port, buf, sizeof(buf));
	report(!strcmp(buf, "[fd00::10]:443"), "IPv6 formats back (%s)", buf);
	exlbnl_parse_addr_port("10.0.0.1:1", &fam, &a, &port);
	exlbnl_format_addr_port(fam, &a, port, buf, sizeof(buf));
	report(!strcmp(buf, "10.0.0.1:1"), "IPv4 formats back (%s)", buf);
}

static void test_service_spec(void)
{
	static const char *const bad[] = {
		"id:", "id:0", "id:4294967296", "id:12a", "id:-1", "id: 1",
		"-", "198.18.0.10",
	};
	struct exlbnl_service svc;
	size_t i;
	int err;

	memset(&svc, 0, sizeof(svc));
	err = exlbnl_parse_service_spec("id:4294967295", &svc);
	report(!err && svc.present == EXLBNL_SVC_ID && svc.id == 4294967295U,
	       "id:N parses up to 2^32-1");
	memset(&svc, 0, sizeof(svc));
	err = exlbnl_parse_service_spec("ID:7", &svc);
	report(!err && svc.id == 7, "ID:N is case-insensitive");
	memset(&svc, 0, sizeof(svc));
	err = exlbnl_parse_service_spec("[fd00::10]:80", &svc);
	report(!err && svc.present == EXLBNL_SVC_ADDR &&
	       svc.family == AF_INET6 && svc.port == 80,
	       "ADDR:PORT service spec parses");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&svc, 0, sizeof(svc));
		report(exlbnl_parse_service_spec(bad[i], &svc) == -EINVAL,
		       "service spec \"%s\" is refused", bad[i]);
	}
}

static void test_names(void)
{
	uint8_t v = 0xff;

	report(!exlbnl_sched_parse("WLC", &v) && v == EXLB_SCHED_WLC,
	       "Schedule names are case-insensitive");
	report(exlbnl_sched_parse("sh", &v) == -EINVAL, "unknown scheduler refused");
	report(!exlbnl_persist_parse("Src", &v) && v == EXLB_PERSIST_SRC,
	       "Persist=src parses");
	report(!exlbnl_forward_parse("route", &v) && v == EXLB_FORWARD_ROUTE,
	       "forward=route parses");
	report(!strcmp(exlbnl_tcp_state_name(EXLB_TCP_TIME_WAIT), "TIME_WAIT") &&
	       !exlbnl_tcp_state_name(__EXLB_TCP_LAST), "TCP state names");
	report(!strcmp(exlbnl_sched_name(EXLB_SCHED_WRR), "wrr") &&
	       !exlbnl_sched_name(__EXLB_SCHED_LAST), "scheduler names");
}

/* ---- building requests --------------------------------------------- */

struct attrs {
	const struct nlattr *tb[32];
	uint16_t raw_type[32];		/* with the flag bits */
	int count;
};

static int attrs_cb(const struct nlattr *attr, void *data)
{
	struct attrs *a = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type < 32) {
		a->tb[type] = attr;
		a->raw_type[type] = attr->nla_type;
	}
	a->count++;
	return MNL_CB_OK;
}

static void parse_msg(const struct nlmsghdr *nlh, struct attrs *a)
{
	memset(a, 0, sizeof(*a));
	mnl_attr_parse(nlh, GENL_HDRLEN, attrs_cb, a);
}

static void parse_nested(const struct nlattr *nest, struct attrs *a)
{
	memset(a, 0, sizeof(*a));
	if (nest)
		mnl_attr_parse_nested(nest, attrs_cb, a);
}

/* AltSourceAddrs: packed in SET (empty = clear), left out of NEW when empty. */
static void test_build_alt_source(void)
{
	char buf[EXLBNL_REQ_BUFSIZE];
	struct exlbnl_service svc = {
		.present = EXLBNL_SVC_ID | EXLBNL_SVC_ALT_SOURCE,
		.id = 7,
		.family = AF_INET6,
		.alt_n = 2,
	};
	struct nlmsghdr *nlh;
	struct attrs top, in;
	const uint8_t *d;

	inet_pton(AF_INET6, "fd00:1::21", svc.alt[0].raw);
	inet_pton(AF_INET6, "fd00:1::22", svc.alt[1].raw);
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_SET_SERVICE, NLM_F_ACK, 1);
	report(!exlbnl_put_service(nlh, sizeof(buf), &svc, EXLBNL_PUT_SET),
	       "SET_SERVICE with two alternate source addresses builds");
	parse_msg(nlh, &top);
	parse_nested(top.tb[EXLB_A_SERVICE], &in);
	d = in.tb[EXLB_SVC_A_ALT_SOURCE_ADDRS] ?
	    mnl_attr_get_payload(in.tb[EXLB_SVC_A_ALT_SOURCE_ADDRS]) : NULL;
	report(d && mnl_attr_get_payload_len(in.tb[EXLB_SVC_A_ALT_SOURCE_ADDRS]) == 32 &&
	       !memcmp(d, svc.alt[0].raw, 16) && !memcmp(d + 16, svc.alt[1].raw, 16),
	       "ALT_SOURCE_ADDRS: the two addresses packed, 32 bytes");
	svc.alt_n = 0;
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_SET_SERVICE, NLM_F_ACK, 2);
	exlbnl_put_service(nlh, sizeof(buf), &svc, EXLBNL_PUT_SET);
	parse_msg(nlh, &top);
	parse_nested(top.tb[EXLB_A_SERVICE], &in);
	report(in.tb[EXLB_SVC_A_ALT_SOURCE_ADDRS] &&
	       !mnl_attr_get_payload_len(in.tb[EXLB_SVC_A_ALT_SOURCE_ADDRS]),
	       "SET with an empty list sends an empty ALT_SOURCE_ADDRS (clears it)");
	svc.present |= EXLBNL_SVC_ADDR;
	svc.port = 80;
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_NEW_SERVICE, NLM_F_ACK, 3);
	exlbnl_put_service(nlh, sizeof(buf), &svc, EXLBNL_PUT_NEW);
	parse_msg(nlh, &top);
	parse_nested(top.tb[EXLB_A_SERVICE], &in);
	report(!in.tb[EXLB_SVC_A_ALT_SOURCE_ADDRS],
	       "NEW with an empty list leaves the attribute out");
}

static void test_build_service(void)
{
	char buf[EXLBNL_REQ_BUFSIZE];
	struct exlbnl_service svc = {
		.present = EXLBNL_SVC_ADDR | EXLBNL_SVC_SCHED |
			   EXLBNL_SVC_PERSIST_TIMEOUT | EXLBNL_SVC_FLAGS,
		.family = AF_INET,
		.port = 443,
		.sched = EXLB_SCHED_WLC,
		.persist_timeout = 600,
		.flags = EXLB_SVC_F_SUBNET_ORIGINATING,
	};
	const struct genlmsghdr *genl;
	struct nlmsghdr *nlh;
	struct attrs top, in;

	inet_pton(AF_INET, "198.18.0.10", svc.addr.raw);
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_NEW_SERVICE, NLM_F_ACK, 42);
	report(!exlbnl_put_service(nlh, sizeof(buf), &svc, EXLBNL_PUT_NEW),
	       "NEW_SERVICE builds");
	genl = mnl_nlmsg_get_payload(nlh);
	report(nlh->nlmsg_type == FAMILY_ID && nlh->nlmsg_seq == 42 &&
	       nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK) &&
	       genl->cmd == EXLB_CMD_NEW_SERVICE &&
	       genl->version == EXLB_GENL_VERSION && genl->reserved == 0,
	       "header: family, seq, flags, cmd, version, reserved 0");
	parse_msg(nlh, &top);
	report(top.count == 1 && top.tb[EXLB_A_SERVICE] &&
	       (top.raw_type[EXLB_A_SERVICE] & NLA_F_NESTED),
	       "one EXLB_A_SERVICE nest, with NLA_F_NESTED");
	parse_nested(top.tb[EXLB_A_SERVICE], &in);
	report(in.count == 6 && !in.tb[EXLB_SVC_A_ID] &&
	       in.tb[EXLB_SVC_A_FAMILY] &&
	       mnl_attr_get_u16(in.tb[EXLB_SVC_A_FAMILY]) == AF_INET &&
	       mnl_attr_get_payload_len(in.tb[EXLB_SVC_A_ADDR]) == 4 &&
	       !memcmp(mnl_attr_get_payload(in.tb[EXLB_SVC_A_ADDR]), svc.addr.raw, 4) &&
	       mnl_attr_get_payload_len(in.tb[EXLB_SVC_A_PORT]) == 2 &&
	       mnl_attr_get_u16(in.tb[EXLB_SVC_A_PORT]) == 443 &&
	       mnl_attr_get_payload_len(in.tb[EXLB_SVC_A_SCHED]) == 1 &&
	       mnl_attr_get_u8(in.tb[EXLB_SVC_A_SCHED]) == EXLB_SCHED_WLC &&
	       mnl_attr_get_u32(in.tb[EXLB_SVC_A_PERSIST_TIMEOUT]) == 600 &&
	       mnl_attr_get_u32(in.tb[EXLB_SVC_A_FLAGS]) ==
	       EXLB_SVC_F_SUBNET_ORIGINATING && !in.tb[EXLB_SVC_A_PERSIST],
	       "NEW_SERVICE carries family, addr, port and only the present settings");

	/* SET by id: no family/address (the kernel refuses id + address). */
	svc.present |= EXLBNL_SVC_ID;
	svc.id = 9;
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_SET_SERVICE, NLM_F_ACK, 1);
	exlbnl_put_service(nlh, sizeof(buf), &svc, EXLBNL_PUT_SET);
	parse_msg(nlh, &top);
	parse_nested(top.tb[EXLB_A_SERVICE], &in);
	report(in.count == 4 && in.tb[EXLB_SVC_A_ID] &&
	       mnl_attr_get_u32(in.tb[EXLB_SVC_A_ID]) == 9 &&
	       !in.tb[EXLB_SVC_A_ADDR] && !in.tb[EXLB_SVC_A_FAMILY] &&
	       !in.tb[EXLB_SVC_A_PORT] && in.tb[EXLB_SVC_A_SCHED],
	       "SET by id sends the id and the settings only");

	/* IDENT by address: family, addr, port, no settings. */
	svc.present &= ~EXLBNL_SVC_ID;
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_DEL_SERVICE, NLM_F_ACK, 1);
	exlbnl_put_service(nlh, sizeof(buf), &svc, EXLBNL_PUT_IDENT);
	parse_msg(nlh, &top);
	parse_nested(top.tb[EXLB_A_SERVICE], &in);
	report(in.count == 3 && in.tb[EXLB_SVC_A_FAMILY] &&
	       in.tb[EXLB_SVC_A_ADDR] && in.tb[EXLB_SVC_A_PORT],
	       "DEL by address sends family, addr and port only");

	/* An address-less service: id and family. */
	memset(&svc, 0, sizeof(svc));
	svc.present = EXLBNL_SVC_ID;
	svc.id = 77;
	svc.family = AF_INET;
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_NEW_SERVICE, NLM_F_ACK, 1);
	exlbnl_put_service(nlh, sizeof(buf), &svc, EXLBNL_PUT_NEW);
	parse_msg(nlh, &top);
	parse_nested(top.tb[EXLB_A_SERVICE], &in);
	report(in.count == 2 && in.tb[EXLB_SVC_A_ID] && in.tb[EXLB_SVC_A_FAMILY],
	       "address-less NEW_SERVICE sends id and family");

	memset(&svc, 0, sizeof(svc));
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_DEL_SERVICE, NLM_F_ACK, 1);
	report(exlbnl_put_service(nlh, sizeof(buf), &svc, EXLBNL_PUT_IDENT) == -EINVAL,
	       "a service without identifier is refused before sending");
	svc.present = EXLBNL_SVC_ADDR;
	svc.family = 99;
	report(exlbnl_put_service(nlh, sizeof(buf), &svc, EXLBNL_PUT_IDENT) ==
	       -EAFNOSUPPORT, "an unknown family is refused before sending");
	svc.family = AF_INET;
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_DEL_SERVICE, NLM_F_ACK, 1);
	report(exlbnl_put_service(nlh, nlh->nlmsg_len + 12, &svc,
				  EXLBNL_PUT_IDENT) == -EMSGSIZE &&
	       nlh->nlmsg_len == NLMSG_HDRLEN + GENL_HDRLEN,
	       "a too small buffer gives -EMSGSIZE and leaves the message as it was");
}

static void test_build_real_globals(void)
{
	char buf[EXLBNL_REQ_BUFSIZE];
	struct exlbnl_real real = {
		.present = EXLBNL_REAL_WEIGHT | EXLBNL_REAL_FLAGS,
		.port = 8080,
		.weight = 0,
		.flags = EXLB_REAL_F_DISABLED,
	};
	struct exlbnl_globals g = {
		.present = EXLBNL_GLOBAL_DROP_ON_FAIL | EXLBNL_GLOBAL_CONN_TIMEOUT,
		.drop_on_fail = 1,
		.conn_timeout = 900,
	};
	struct nlmsghdr *nlh;
	struct attrs top, in;

	inet_pton(AF_INET6, "fd00::11", real.addr.raw);
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_NEW_REAL, NLM_F_ACK, 1);
	report(!exlbnl_put_real(nlh, sizeof(buf), AF_INET6, &real,
				EXLBNL_PUT_REAL_ALL), "NEW_REAL builds");
	parse_msg(nlh, &top);
	parse_nested(top.tb[EXLB_A_REAL], &in);
	report((top.raw_type[EXLB_A_REAL] & NLA_F_NESTED) && in.count == 4 &&
	       mnl_attr_get_payload_len(in.tb[EXLB_REAL_A_ADDR]) == 16 &&
	       mnl_attr_get_u16(in.tb[EXLB_REAL_A_PORT]) == 8080 &&
	       in.tb[EXLB_REAL_A_WEIGHT] &&
	       mnl_attr_get_u32(in.tb[EXLB_REAL_A_WEIGHT]) == 0 &&
	       mnl_attr_get_u32(in.tb[EXLB_REAL_A_FLAGS]) == EXLB_REAL_F_DISABLED &&
	       !in.tb[EXLB_REAL_A_LIMIT] && !in.tb[EXLB_REAL_A_FORWARD],
	       "EXLB_A_REAL: 16-byte address, port, weight 0 and flags only");
	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_DEL_REAL, NLM_F_ACK, 1);
	exlbnl_put_real(nlh, sizeof(buf), AF_INET6, &real, EXLBNL_PUT_REAL_IDENT);
	parse_msg(nlh, &top);
	parse_nested(top.tb[EXLB_A_REAL], &in);
	report(in.count == 2, "DEL_REAL identifies by address and port only");

	nlh = exlbnl_msg_start(buf, FAMILY_ID, EXLB_CMD_SET_GLOBALS, NLM_F_ACK, 1);
	report(!exlbnl_put_globals(nlh, sizeof(buf), &g), "SET_GLOBALS builds");
	parse_msg(nlh, &top);
	parse_nested(top.tb[EXLB_A_GLOBALS], &in);
	report((top.raw_type[EXLB_A_GLOBALS] & NLA_F_NESTED) && in.count == 2 &&
	       mnl_attr_get_payload_len(in.tb[EXLB_GLOBAL_A_DROP_ON_FAIL]) == 1 &&
	       mnl_attr_get_u8(in.tb[EXLB_GLOBAL_A_DROP_ON_FAIL]) == 1 &&
	       mnl_attr_get_u32(in.tb[EXLB_GLOBAL_A_CONN_TIMEOUT]) == 900,
	       "SET_GLOBALS sends only the present globals");
}

/* ---- kernel-like replies ------------------------------------------- */

static struct nlmsghdr *reply_start(void *buf, uint8_t cmd, uint32_t seq,
				    uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = FAMILY_ID;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = EXLB_GENL_VERSION;
	return nlh;
}

/* Like nla_put_u64_64bit(): a pad attribute may come first. */
static void put_stats(struct nlmsghdr *nlh, uint16_t type, uint64_t base)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, type);
	uint16_t t;

	nest->nla_type |= NLA_F_NESTED;
	mnl_attr_put(nlh, EXLB_STATS_A_PAD, 0, NULL);
	for (t = EXLB_STATS_A_CONNS; t <= EXLB_STATS_A_BYTES_OUT; t++)
		mnl_attr_put_u64(nlh, t, base + t);
	mnl_attr_nest_end(nlh, nest);
}

static void put_service_reply(struct nlmsghdr *nlh, uint32_t id, bool addr)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, EXLB_A_SERVICE);
	uint8_t a[4] = { 198, 18, 0, 10 };

	nest->nla_type |= NLA_F_NESTED;
	mnl_attr_put_u32(nlh, EXLB_SVC_A_ID, id);
	mnl_attr_put_u16(nlh, EXLB_SVC_A_FAMILY, AF_INET);
	if (addr) {
		mnl_attr_put(nlh, EXLB_SVC_A_ADDR, 4, a);
		mnl_attr_put_u16(nlh, EXLB_SVC_A_PORT, 80);
	}
	mnl_attr_put_u8(nlh, EXLB_SVC_A_PROTOCOL, IPPROTO_TCP);
	mnl_attr_put_u8(nlh, EXLB_SVC_A_SCHED, EXLB_SCHED_LC);
	mnl_attr_put_u8(nlh, EXLB_SVC_A_PERSIST, EXLB_PERSIST_SRC);
	mnl_attr_put_u32(nlh, EXLB_SVC_A_PERSIST_TIMEOUT, 360);
	mnl_attr_put_u8(nlh, EXLB_SVC_A_PERSIST_NETMASK, 24);
	mnl_attr_put_u32(nlh, EXLB_SVC_A_IDLE_TIMEOUT, 0);
	mnl_attr_put_u32(nlh, EXLB_SVC_A_FLAGS, EXLB_SVC_F_TRANSPARENT);
	mnl_attr_put_u32(nlh, EXLB_SVC_A_NUM_REALS, 3);
	mnl_attr_put_u32(nlh, EXLB_SVC_A_ACTIVE_CONNS, 5);
	mnl_attr_put_u32(nlh, EXLB_SVC_A_INACTIVE_CONNS, 6);
	put_stats(nlh, EXLB_SVC_A_STATS, 100);
	mnl_attr_put_u32(nlh, 200, 1);		/* from a newer kernel */
	mnl_attr_nest_end(nlh, nest);
}

static void put_real_reply(struct nlmsghdr *nlh, uint32_t svc_id, uint8_t last)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, EXLB_A_SERVICE);
	uint8_t a[4] = { 198, 18, 1, last };

	mnl_attr_put_u32(nlh, EXLB_SVC_A_ID, svc_id);
	mnl_attr_nest_end(nlh, nest);
	nest = mnl_attr_nest_start(nlh, EXLB_A_REAL);
	mnl_attr_put(nlh, EXLB_REAL_A_ADDR, 4, a);
	mnl_attr_put_u16(nlh, EXLB_REAL_A_PORT, 8080);
	mnl_attr_put_u32(nlh, EXLB_REAL_A_WEIGHT, 1000);
	mnl_attr_put_u32(nlh, EXLB_REAL_A_LIMIT, 50);
	mnl_attr_put_u8(nlh, EXLB_REAL_A_FORWARD, EXLB_FORWARD_NAT);
	mnl_attr_put_u32(nlh, EXLB_REAL_A_FLAGS, EXLB_REAL_F_DOWN);
	mnl_attr_put_u32(nlh, EXLB_REAL_A_ACTIVE_CONNS, 1);
	mnl_attr_put_u32(nlh, EXLB_REAL_A_INACTIVE_CONNS, 2);
	put_stats(nlh, EXLB_REAL_A_STATS, 0);
	mnl_attr_nest_end(nlh, nest);
}

static void test_parse_replies(void)
{
	char buf[4096];
	struct exlbnl_service svc;
	struct exlbnl_real real;
	struct exlbnl_flow flow;
	struct exlbnl_globals g;
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	uint8_t c[16] = { 0xfd, [15] = 2 }, v[16] = { 0xfd, [15] = 0x10 };

	nlh = reply_start(buf, EXLB_CMD_GET_SERVICES, 1, NLM_F_MULTI);
	put_service_reply(nlh, 3, true);
	report(!exlbnl_parse_service(nlh, &svc) && svc.id == 3 &&
	       svc.family == AF_INET && (svc.present & EXLBNL_SVC_ADDR) &&
	       svc.addr.raw[0] == 198 && svc.port == 80 &&
	       svc.protocol == IPPROTO_TCP && svc.sched == EXLB_SCHED_LC &&
	       svc.persist == EXLB_PERSIST_SRC && svc.persist_timeout == 360 &&
	       svc.persist_netmask == 24 && svc.flags == EXLB_SVC_F_TRANSPARENT &&
	       svc.num_reals == 3 && svc.active_conns == 5 &&
	       svc.inactive_conns == 6 && svc.stats.conns == 101 &&
	       svc.stats.bytes_out == 105 && (svc.present & EXLBNL_SVC_COUNTERS),
	       "a service dump message parses, unknown attribute ignored");

	nlh = reply_start(buf, EXLB_CMD_GET_SERVICES, 1, NLM_F_MULTI);
	put_service_reply(nlh, 4, false);
	report(!exlbnl_parse_service(nlh, &svc) && svc.id == 4 &&
	       !(svc.present & EXLBNL_SVC_ADDR), "an address-less service parses");

	nlh = reply_start(buf, EXLB_CMD_GET_SERVICES, 1, NLM_F_MULTI);
	nest = mnl_attr_nest_start(nlh, EXLB_A_SERVICE);
	mnl_attr_put_u16(nlh, EXLB_SVC_A_ID, 3);
	mnl_attr_nest_end(nlh, nest);
	report(exlbnl_parse_service(nlh, &svc) == -EPROTO,
	       "a 2-byte EXLB_SVC_A_ID is -EPROTO");

	nlh = reply_start(buf, EXLB_CMD_GET_SERVICES, 1, NLM_F_MULTI);
	nest = mnl_attr_nest_start(nlh, EXLB_A_SERVICE);
	mnl_attr_put_u16(nlh, EXLB_SVC_A_FAMILY, AF_INET6);
	mnl_attr_put(nlh, EXLB_SVC_A_ADDR, 4, c);
	mnl_attr_nest_end(nlh, nest);
	report(exlbnl_parse_service(nlh, &svc) == -EPROTO,
	       "an address that does not fit the family is -EPROTO");

	nlh = reply_start(buf, EXLB_CMD_GET_REALS, 1, NLM_F_MULTI);
	put_real_reply(nlh, 3, 11);
	report(!exlbnl_parse_real(nlh, AF_INET, &real) && real.service_id == 3 &&
	       real.addr.raw[3] == 11 && real.port == 8080 &&
	       real.weight == 1000 && real.limit == 50 &&
	       real.forward == EXLB_FORWARD_NAT &&
	       real.flags == EXLB_REAL_F_DOWN && real.active_conns == 1 &&
	       real.inactive_conns == 2 && real.stats.pkts_in == 2,
	       "a real server dump message parses");
	report(exlbnl_parse_real(nlh, AF_INET6, &real) == -EPROTO,
	       "a real server of the wrong family is -EPROTO");

	nlh = reply_start(buf, EXLB_CMD_GET_FLOWS, 1, NLM_F_MULTI);
	nest = mnl_attr_nest_start(nlh, EXLB_A_FLOW);
	mnl_attr_put_u32(nlh, EXLB_FLOW_A_SERVICE_ID, 2);
	mnl_attr_put_u16(nlh, EXLB_FLOW_A_FAMILY, AF_INET6);
	mnl_attr_put(nlh, EXLB_FLOW_A_CLIENT_ADDR, 16, c);
	mnl_attr_put_u16(nlh, EXLB_FLOW_A_CLIENT_PORT, 40000);
	mnl_attr_put(nlh, EXLB_FLOW_A_VIP_ADDR, 16, v);
	mnl_attr_put_u16(nlh, EXLB_FLOW_A_VIP_PORT, 80);
	mnl_attr_put(nlh, EXLB_FLOW_A_REAL_ADDR, 16, v);
	mnl_attr_put_u16(nlh, EXLB_FLOW_A_REAL_PORT, 8080);
	mnl_attr_put(nlh, EXLB_FLOW_A_SOURCE_ADDR, 16, c);
	mnl_attr_put_u16(nlh, EXLB_FLOW_A_SOURCE_PORT, 40001);
	mnl_attr_put_u8(nlh, EXLB_FLOW_A_STATE, EXLB_TCP_ESTABLISHED);
	mnl_attr_put_u32(nlh, EXLB_FLOW_A_IDLE, 3);
	mnl_attr_nest_end(nlh, nest);
	report(!exlbnl_parse_flow(nlh, &flow) && flow.service_id == 2 &&
	       flow.family == AF_INET6 && flow.client.raw[15] == 2 &&
	       flow.client_port == 40000 && flow.vip.raw[15] == 0x10 &&
	       flow.vip_port == 80 && flow.real_port == 8080 &&
	       flow.source_port == 40001 &&
	       flow.state == EXLB_TCP_ESTABLISHED && flow.idle == 3 &&
	       !flow.adopted,
	       "a flow dump message parses");
	nlh = reply_start(buf, EXLB_CMD_GET_FLOWS, 1, NLM_F_MULTI);
	nest = mnl_attr_nest_start(nlh, EXLB_A_FLOW);
	mnl_attr_put_u32(nlh, EXLB_FLOW_A_SERVICE_ID, 2);
	mnl_attr_put_u16(nlh, EXLB_FLOW_A_FAMILY, AF_INET6);
	mnl_attr_put(nlh, EXLB_FLOW_A_ADOPTED, 0, NULL);
	mnl_attr_nest_end(nlh, nest);
	report(!exlbnl_parse_flow(nlh, &flow) && flow.adopted,
	       "an adopted flow (HA) has its flag");

	nlh = reply_start(buf, EXLB_CMD_GET_GLOBALS, 1, 0);
	nest = mnl_attr_nest_start(nlh, EXLB_A_GLOBALS);
	mnl_attr_put_u8(nlh, EXLB_GLOBAL_A_DROP_ON_FAIL, 1);
	mnl_attr_put_u8(nlh, EXLB_GLOBAL_A_DROP_AT_DRAIN_END, 0);
	mnl_attr_put_u32(nlh, EXLB_GLOBAL_A_FINAL_PERSIST, 30);
	mnl_attr_put_u32(nlh, EXLB_GLOBAL_A_CONN_TIMEOUT, 660);
	mnl_attr_nest_end(nlh, nest);
	report(!exlbnl_parse_globals(nlh, &g) && g.drop_on_fail == 1 &&
	       g.drop_at_drain_end == 0 && g.final_persist == 30 &&
	       g.conn_timeout == 660 && g.present == 0xf &&
	       g.adopted == 0 && g.adopt_reset == 0,
	       "the globals reply parses (no counters: an older kernel)");

	nlh = reply_start(buf, EXLB_CMD_GET_GLOBALS, 1, 0);
	nest = mnl_attr_nest_start(nlh, EXLB_A_GLOBALS);
	mnl_attr_put_u8(nlh, EXLB_GLOBAL_A_DROP_ON_FAIL, 0);
	mnl_attr_put_u64(nlh, EXLB_GLOBAL_A_ADOPTED, 5000000000ULL);
	mnl_attr_put_u64(nlh, EXLB_GLOBAL_A_ADOPT_RESET, 3);
	mnl_attr_put_u32(nlh, EXLB_GLOBAL_A_OFFLOADED, 7);
	mnl_attr_put_u32(nlh, EXLB_GLOBAL_A_OFFLOAD_DEVS, 4);
	mnl_attr_nest_end(nlh, nest);
	report(!exlbnl_parse_globals(nlh, &g) && g.adopted == 5000000000ULL &&
	       g.adopt_reset == 3 && g.offloaded == 7 && g.offload_devs == 4 &&
	       g.present == EXLBNL_GLOBAL_DROP_ON_FAIL,
	       "the HA adoption and flowtable figures parse; they are not settable globals");

	nlh = reply_start(buf, EXLB_CMD_GET_GLOBALS, 1, 0);
	report(exlbnl_parse_globals(nlh, &g) == -EPROTO,
	       "a reply without EXLB_A_GLOBALS is -EPROTO");
}

/* An NLMSG_ERROR as the kernel sends it, capped or with the request. */
static struct nlmsghdr *put_error(void *buf, uint32_t seq, int error,
				  const char *msg, bool capped)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlmsgerr *e;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = error;
	e->msg.nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN + 8;
	e->msg.nlmsg_type = FAMILY_ID;
	e->msg.nlmsg_seq = seq;
	if (capped) {
		nlh->nlmsg_flags |= NLM_F_CAPPED;
	} else {
		/* the request's payload: genl header + one 8-byte attribute */
		char *p = mnl_nlmsg_put_extra_header(nlh, GENL_HDRLEN + 8);

		memset(p, 0xee, GENL_HDRLEN + 8);
	}
	if (msg) {
		nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
		mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 20);
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, msg);
	}
	return nlh;
}

static struct nlmsghdr *put_done(void *buf, uint32_t seq, int error,
				 const char *msg)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	int *e;

	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = seq;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	*e = error;
	if (msg) {
		nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, msg);
	}
	return nlh;
}

static void test_parse_error(void)
{
	char buf[1024], msg[EXLBNL_ERRMSG_LEN], small[8];
	struct nlmsghdr *nlh;

	nlh = put_error(buf, 1, -EINVAL, "no service with this id", true);
	report(exlbnl_parse_error(nlh, msg, sizeof(msg)) == -EINVAL &&
	       !strcmp(msg, "no service with this id"),
	       "capped NLMSG_ERROR: errno and extack message");
	nlh = put_error(buf, 1, -ERANGE, "integer out of range", false);
	report(exlbnl_parse_error(nlh, msg, sizeof(msg)) == -ERANGE &&
	       !strcmp(msg, "integer out of range"),
	       "uncapped NLMSG_ERROR: the message after the echoed request");
	report(exlbnl_parse_error(nlh, small, sizeof(small)) == -ERANGE &&
	       !strcmp(small, "integer"), "a long message is truncated safely");
	nlh = put_error(buf, 1, 0, NULL, true);
	report(exlbnl_parse_error(nlh, msg, sizeof(msg)) == 0 && !msg[0],
	       "an ACK is 0 with no message");
	nlh = put_done(buf, 1, -ENOENT, "no service with this id");
	report(exlbnl_parse_error(nlh, msg, sizeof(msg)) == -ENOENT &&
	       !strcmp(msg, "no service with this id"),
	       "NLMSG_DONE carries a dump's errno and extack message");
	nlh = put_error(buf, 1, -EINVAL, NULL, true);
	nlh->nlmsg_len = NLMSG_HDRLEN + 4;
	report(exlbnl_parse_error(nlh, msg, sizeof(msg)) == -EPROTO,
	       "a truncated NLMSG_ERROR is -EPROTO");
}

/* ---- whole exchanges over a fake kernel ---------------------------- */

#define MAX_CHUNKS 16

struct fake {
	/* what the fake kernel sends back, one recv() per chunk */
	char chunk[MAX_CHUNKS][8192];
	size_t chunk_len[MAX_CHUNKS];
	int nchunks, next;
	/* the requests seen */
	int nreq;
	char last_req[EXLBNL_REQ_BUFSIZE];
	/* how to answer a request */
	void (*answer)(struct fake *f, const struct nlmsghdr *req);
	int mode;
};

static char *chunk_add(struct fake *f)
{
	f->chunk_len[f->nchunks] = 0;
	return f->chunk[f->nchunks++];
}

/* Appends a message built at the end of chunk @i. */
static void *chunk_tail(struct fake *f, int i)
{
	return f->chunk[i] + f->chunk_len[i];
}

static void chunk_commit(struct fake *f, int i, const struct nlmsghdr *nlh)
{
	f->chunk_len[i] += NLMSG_ALIGN(nlh->nlmsg_len);
}

static ssize_t fake_send(void *priv, const void *buf, size_t len)
{
	struct fake *f = priv;

	memcpy(f->last_req, buf, len);
	f->nreq++;
	f->nchunks = 0;
	f->next = 0;
	f->answer(f, buf);
	return (ssize_t)len;
}

static ssize_t fake_recv(void *priv, void *buf, size_t len)
{
	struct fake *f = priv;

	if (f->next >= f->nchunks) {
		errno = EAGAIN;
		return -1;
	}
	if (f->chunk_len[f->next] > len) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(buf, f->chunk[f->next], f->chunk_len[f->next]);
	return (ssize_t)f->chunk_len[f->next++];
}

static struct exlbnl *fake_open(struct fake *f)
{
	struct exlbnl_transport t = {
		.send = fake_send,
		.recv = fake_recv,
		.priv = f,
	};
	struct exlbnl *nl;

	return exlbnl_open_transport(&nl, &t, FAMILY_ID) ? NULL : nl;
}

static uint8_t req_cmd(const struct nlmsghdr *req)
{
	return ((const struct genlmsghdr *)mnl_nlmsg_get_payload(req))->cmd;
}

/* NEW_SERVICE: a stale message, the reply with the id, then the ACK. */
static void answer_new_service(struct fake *f, const struct nlmsghdr *req)
{
	struct nlmsghdr *nlh;
	int c = 0;

	chunk_add(f);
	nlh = put_error(chunk_tail(f, c), req->nlmsg_seq - 1, -EEXIST, "old", true);
	chunk_commit(f, c, nlh);
	nlh = reply_start(chunk_tail(f, c), EXLB_CMD_NEW_SERVICE, req->nlmsg_seq, 0);
	put_service_reply(nlh, 12, true);
	chunk_commit(f, c, nlh);
	nlh = put_error(chunk_tail(f, c), req->nlmsg_seq, 0, NULL, true);
	chunk_commit(f, c, nlh);
}

static void answer_refuse(struct fake *f, const struct nlmsghdr *req)
{
	struct nlmsghdr *nlh;

	chunk_add(f);
	nlh = put_error(chunk_tail(f, 0), req->nlmsg_seq, -EEXIST,
			"a service with this address and port exists", true);
	chunk_commit(f, 0, nlh);
}

/*
 * A service dump of three services over two reads. mode 1: the first
 * attempt is flagged NLM_F_DUMP_INTR; mode 2: every attempt is.
 */
static void answer_dump(struct fake *f, const struct nlmsghdr *req)
{
	bool intr = f->mode == 2 || (f->mode == 1 && f->nreq == 1);
	struct nlmsghdr *nlh;
	int i;

	chunk_add(f);
	chunk_add(f);
	for (i = 0; i < 3; i++) {
		int c = i < 2 ? 0 : 1;

		nlh = reply_start(chunk_tail(f, c), EXLB_CMD_GET_SERVICES,
				  req->nlmsg_seq,
				  NLM_F_MULTI | (intr && i == 2 ? NLM_F_DUMP_INTR : 0));
		put_service_reply(nlh, (uint32_t)(i + 1) + (intr ? 100 : 0), true);
		chunk_commit(f, c, nlh);
	}
	nlh = put_done(chunk_tail(f, 1), req->nlmsg_seq, 0, NULL);
	chunk_commit(f, 1, nlh);
}

static void answer_dump_error(struct fake *f, const struct nlmsghdr *req)
{
	struct nlmsghdr *nlh;

	chunk_add(f);
	nlh = put_done(chunk_tail(f, 0), req->nlmsg_seq, -ENOENT,
		       "no service with this id");
	chunk_commit(f, 0, nlh);
}

/* GET_SERVICES answers id 5 as AF_INET6; GET_REALS / NEW_REAL ACK. */
static void answer_real_by_id(struct fake *f, const struct nlmsghdr *req)
{
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	uint8_t a[16] = { 0xfd, [15] = 0x10 };

	chunk_add(f);
	if (req_cmd(req) == EXLB_CMD_GET_SERVICES) {
		nlh = reply_start(chunk_tail(f, 0), EXLB_CMD_GET_SERVICES,
				  req->nlmsg_seq, NLM_F_MULTI);
		nest = mnl_attr_nest_start(nlh, EXLB_A_SERVICE);
		mnl_attr_put_u32(nlh, EXLB_SVC_A_ID, 5);
		mnl_attr_put_u16(nlh, EXLB_SVC_A_FAMILY, AF_INET6);
		mnl_attr_put(nlh, EXLB_SVC_A_ADDR, 16, a);
		mnl_attr_put_u16(nlh, EXLB_SVC_A_PORT, 80);
		mnl_attr_nest_end(nlh, nest);
		chunk_commit(f, 0, nlh);
		nlh = put_done(chunk_tail(f, 0), req->nlmsg_seq, 0, NULL);
	} else {
		nlh = put_error(chunk_tail(f, 0), req->nlmsg_seq, 0, NULL, true);
	}
	chunk_commit(f, 0, nlh);
}

static void answer_globals(struct fake *f, const struct nlmsghdr *req)
{
	struct nlmsghdr *nlh;
	struct nlattr *nest;

	chunk_add(f);
	nlh = reply_start(chunk_tail(f, 0), EXLB_CMD_GET_GLOBALS, req->nlmsg_seq, 0);
	nest = mnl_attr_nest_start(nlh, EXLB_A_GLOBALS);
	mnl_attr_put_u8(nlh, EXLB_GLOBAL_A_DROP_ON_FAIL, 0);
	mnl_attr_put_u8(nlh, EXLB_GLOBAL_A_DROP_AT_DRAIN_END, 1);
	mnl_attr_put_u32(nlh, EXLB_GLOBAL_A_FINAL_PERSIST, 0);
	mnl_attr_put_u32(nlh, EXLB_GLOBAL_A_CONN_TIMEOUT, 660);
	mnl_attr_nest_end(nlh, nest);
	chunk_commit(f, 0, nlh);
	nlh = put_error(chunk_tail(f, 0), req->nlmsg_seq, 0, NULL, true);
	chunk_commit(f, 0, nlh);
}

/* GET_PERSIST: two records of service 3 (IPv4), then DONE; SET_PERSIST: ACK. */
static void answer_persist(struct fake *f, const struct nlmsghdr *req)
{
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	uint8_t key[16] = { 198, 18, 0, 2 }, rs[4] = { 198, 18, 1, 12 };

	chunk_add(f);
	if (req_cmd(req) != EXLB_CMD_GET_PERSIST) {
		nlh = put_error(chunk_tail(f, 0), req->nlmsg_seq, 0, NULL, true);
		chunk_commit(f, 0, nlh);
		return;
	}
	for (int i = 0; i < 2; i++) {
		key[3] = (uint8_t)(2 + i);
		nlh = reply_start(chunk_tail(f, 0), EXLB_CMD_GET_PERSIST,
				  req->nlmsg_seq, NLM_F_MULTI);
		nest = mnl_attr_nest_start(nlh, EXLB_A_SERVICE);
		mnl_attr_put_u32(nlh, EXLB_SVC_A_ID, 3);
		mnl_attr_nest_end(nlh, nest);
		nest = mnl_attr_nest_start(nlh, EXLB_A_REAL);
		mnl_attr_put(nlh, EXLB_REAL_A_ADDR, 4, rs);
		mnl_attr_put_u16(nlh, EXLB_REAL_A_PORT, 8080);
		mnl_attr_nest_end(nlh, nest);
		nest = mnl_attr_nest_start(nlh, EXLB_A_PERSIST);
		mnl_attr_put(nlh, EXLB_PERSIST_A_KEY, 16, key);
		mnl_attr_put_u32(nlh, EXLB_PERSIST_A_TIMEOUT, 300 - i);
		mnl_attr_put_u32(nlh, EXLB_PERSIST_A_CONNS, i ? 0 : 2);
		mnl_attr_nest_end(nlh, nest);
		chunk_commit(f, 0, nlh);
	}
	nlh = put_done(chunk_tail(f, 0), req->nlmsg_seq, 0, NULL);
	chunk_commit(f, 0, nlh);
}

static void test_persist(void)
{
	static struct fake f;
	struct exlbnl_service svc = { .present = EXLBNL_SVC_ID, .id = 3,
				      .family = AF_INET };
	const struct nlmsghdr *req = (const void *)f.last_req;
	struct exlbnl *nl = fake_open(&f);
	union exlbnl_addr rs = { .raw = { 198, 18, 1, 12 } };
	uint8_t key[16] = { 198, 18, 0, 3 };
	struct exlbnl_persist *recs = NULL;
	struct attrs top, in;
	size_t n = 0;
	int err;

	if (!nl) {
		report(false, "fake transport opens");
		return;
	}
	f.answer = answer_persist;
	err = exlbnl_persist_dump(nl, &svc, &recs, &n);
	report(!err && n == 2 && recs[0].service_id == 3 && recs[0].key[3] == 2 &&
	       recs[1].key[3] == 3 && recs[0].real_port == 8080 &&
	       recs[0].real.raw[3] == 12 && recs[0].conns == 2 &&
	       recs[1].timeout == 299 && req_cmd(req) == EXLB_CMD_GET_PERSIST &&
	       (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP,
	       "GET_PERSIST: a dump of the service's records (key, RS, time left, flows)");
	free(recs);

	err = exlbnl_persist_set(nl, &svc, &rs, 8080, key, 16, 120);
	parse_msg(req, &top);
	report(!err && req_cmd(req) == EXLB_CMD_SET_PERSIST && top.tb[EXLB_A_SERVICE] &&
	       top.tb[EXLB_A_REAL] && top.tb[EXLB_A_PERSIST],
	       "SET_PERSIST names the service and the RS and carries the record");
	parse_nested(top.tb[EXLB_A_REAL], &in);
	report(in.count == 2 && in.tb[EXLB_REAL_A_ADDR] && in.tb[EXLB_REAL_A_PORT] &&
	       mnl_attr_get_payload_len(in.tb[EXLB_REAL_A_ADDR]) == 4,
	       "... the RS by address and port only (%d attributes)", in.count);
	parse_nested(top.tb[EXLB_A_PERSIST], &in);
	report(in.count == 2 && in.tb[EXLB_PERSIST_A_KEY] &&
	       mnl_attr_get_payload_len(in.tb[EXLB_PERSIST_A_KEY]) == 16 &&
	       !memcmp(mnl_attr_get_payload(in.tb[EXLB_PERSIST_A_KEY]), key, 16) &&
	       mnl_attr_get_u32(in.tb[EXLB_PERSIST_A_TIMEOUT]) == 120,
	       "... the 16-byte key and the timeout");
	err = exlbnl_persist_set(nl, &svc, &rs, 8080, key, 15, 120);
	parse_msg(req, &top);
	parse_nested(top.tb[EXLB_A_PERSIST], &in);
	report(!err && mnl_attr_get_payload_len(in.tb[EXLB_PERSIST_A_KEY]) == 15,
	       "a key of another length is sent as it is (the kernel judges it)");
	exlbnl_close(nl);
}

static void test_exchanges(void)
{
	static struct fake f;	/* large: keep it off the stack */
	struct exlbnl_service svc = {
		.present = EXLBNL_SVC_ADDR,
		.family = AF_INET,
		.port = 80,
	};
	struct exlbnl_service *svcs = NULL;
	struct exlbnl_real real = { .port = 8080 };
	struct exlbnl_real *reals = NULL;
	struct exlbnl_globals g;
	struct exlbnl *nl = fake_open(&f);
	const struct nlmsghdr *req = (const void *)f.last_req;
	struct attrs top, in;
	uint32_t id = 0;
	size_t n = 0;
	int err;

	if (!nl) {
		report(false, "fake transport opens");
		return;
	}
	f.answer = answer_new_service;
	err = exlbnl_service_new(nl, &svc, &id);
	report(!err && id == 12 && !exlbnl_errmsg(nl)[0],
	       "NEW_SERVICE: stale message skipped, id from the reply, ACK ends it");
	report(req->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK),
	       "requests ask for an ACK");

	f.answer = answer_refuse;
	err = exlbnl_service_new(nl, &svc, &id);
	report(err == -EEXIST &&
	       !strcmp(exlbnl_errmsg(nl), "a service with this address and port exists"),
	       "a refusal gives the errno and the kernel's message");

	f.answer = answer_dump;
	f.mode = 0;
	f.nreq = 0;
	err = exlbnl_service_dump(nl, &svcs, &n);
	report(!err && n == 3 && svcs[0].id == 1 && svcs[2].id == 3 &&
	       f.nreq == 1 &&
	       (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP,
	       "a dump over two reads collects every message");
	free(svcs);

	f.mode = 1;
	f.nreq = 0;
	err = exlbnl_service_dump(nl, &svcs, &n);
	report(!err && n == 3 && svcs[0].id == 1 && f.nreq == 2,
	       "NLM_F_DUMP_INTR restarts the dump; only the clean run is kept");
	free(svcs);

	f.mode = 2;
	f.nreq = 0;
	svcs = (void *)1;
	err = exlbnl_service_dump(nl, &svcs, &n);
	report(err == -EAGAIN && f.nreq == EXLBNL_DUMP_RETRIES && !svcs && !n,
	       "a dump that never settles gives -EAGAIN after %d tries",
	       EXLBNL_DUMP_RETRIES);

	f.answer = answer_dump_error;
	svc.present = EXLBNL_SVC_ID;
	svc.id = 9;
	err = exlbnl_real_dump(nl, &svc, &reals, &n);
	report(err == -ENOENT && !strcmp(exlbnl_errmsg(nl), "no service with this id"),
	       "an error at the start of a dump (NLMSG_DONE) is reported");
	parse_msg(req, &top);
	parse_nested(top.tb[EXLB_A_SERVICE], &in);
	report(req_cmd(req) == EXLB_CMD_GET_REALS && in.count == 1 &&
	       in.tb[EXLB_SVC_A_ID], "GET_REALS names the service by id");

	/* A real for a service named by id: its family is looked up. */
	f.answer = answer_real_by_id;
	svc.family = 0;
	svc.id = 5;
	inet_pton(AF_INET6, "fd00::11", real.addr.raw);
	err = exlbnl_real_new(nl, &svc, &real);
	parse_msg(req, &top);
	parse_nested(top.tb[EXLB_A_REAL], &in);
	report(!err && req_cmd(req) == EXLB_CMD_NEW_REAL &&
	       in.tb[EXLB_REAL_A_ADDR] &&
	       mnl_attr_get_payload_len(in.tb[EXLB_REAL_A_ADDR]) == 16,
	       "NEW_REAL by service id sizes the address from the service's family");

	f.answer = answer_globals;
	err = exlbnl_globals_get(nl, &g);
	report(!err && g.drop_at_drain_end == 1 && g.conn_timeout == 660,
	       "GET_GLOBALS: reply then ACK");

	exlbnl_close(nl);
}

int main(void)
{
	test_addr_port();
	test_service_spec();
	test_names();
	test_build_service();
	test_build_alt_source();
	test_build_real_globals();
	test_parse_replies();
	test_parse_error();
	test_exchanges();
	test_persist();
	printf("1..%d\n", test_no);
	if (failures)
		printf("# %d of %d failed\n", failures, test_no);
	return failures ? 1 : 0;
}
