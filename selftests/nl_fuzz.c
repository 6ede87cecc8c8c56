// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * nl_fuzz: sends malformed generic netlink requests to exlb.ko and checks
 * that every one is refused. Standalone (libmnl only) so the selftests can
 * build it with one cc line.
 *
 *   nl_fuzz [-n COUNT] [-s SEED] [-t SECONDS] [-r] [-v]
 *
 * Phase 1 (always): COUNT requests, each carrying at least one defect that
 * the kernel must refuse whatever its state: one of the policy defects
 * (refused by genetlink before exlb's handlers run, for every command) or
 * a defect in what the handler of that command checks (missing
 * identifier, bad family, address of the wrong size, a service id that
 * does not exist...). The reasoning for each defect is next to its code.
 * A refusal is an NLMSG_ERROR with a negative errno, or for a dump the
 * NLMSG_DONE carrying a negative errno (how the kernel reports an error
 * from a dump callback). An ACK, a data message or no answer is a failure.
 *
 * Phase 2 (-r): COUNT requests with a valid header and random bytes as
 * attributes; any answer is fine, the kernel just has to keep answering.
 *
 * Both phases are bounded by COUNT and by -t (default 120 s) together.
 * Should anything be created or changed by accident, it is undone at the
 * end (new services deleted, globals restored) and reported.
 *
 * Prints "nl_fuzz: sent N, errors N, unexpected successes N" for phase 1
 * and exits 0 only if every phase-1 request was refused and the kernel
 * kept answering.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netinet/in.h>

#include <uapi/linux/exlb.h>

#define MSG_MAX 4096
#define RBUF_SIZE (64 * 1024)
#define MAX_IDS 1024

static int verbose;

/* ---- random numbers (xorshift64*: reproducible from -s) ------------ */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Uniform in lo..hi, both included. */
static uint32_t rnd(uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rnd64() % ((uint64_t)hi - lo + 1));
}

static bool chance(unsigned int percent)
{
	return rnd(0, 99) < percent;
}

static void rnd_bytes(uint8_t *p, size_t n)
{
	while (n--)
		*p++ = (uint8_t)rnd64();
}

/* ---- the socket ---------------------------------------------------- */

struct conn {
	struct mnl_socket *sock;
	uint32_t portid, seq;
	uint16_t family_id;
	char rbuf[RBUF_SIZE];
};

/* What came back for one request. */
struct verdict {
	bool answered;		/* an NLMSG_ERROR or NLMSG_DONE arrived */
	bool data;		/* a data message arrived */
	int error;		/* errno of that message, 0 for an ACK */
	char msg[128];		/* the extack message, if any */
};

static void extack_msg(const struct nlmsghdr *nlh, size_t off,
		       struct verdict *v)
{
	const char *p = mnl_nlmsg_get_payload(nlh);
	size_t len = nlh->nlmsg_len - NLMSG_HDRLEN;
	const struct nlattr *attr;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || off >= len)
		return;
	mnl_attr_for_each_payload((const void *)(p + off), len - off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG)
			snprintf(v->msg, sizeof(v->msg), "%.*s",
				 (int)mnl_attr_get_payload_len(attr),
				 (const char *)mnl_attr_get_payload(attr));
	}
}

typedef void (*data_cb)(const struct nlmsghdr *nlh, void *arg);

/*
 * Reads the answer to request @seq up to its NLMSG_ERROR or NLMSG_DONE.
 * Returns -1 when nothing more arrives within the socket timeout.
 */
static int await(struct conn *c, uint32_t seq, struct verdict *v,
		 data_cb cb, void *arg)
{
	memset(v, 0, sizeof(*v));
	for (;;) {
		const struct nlmsghdr *nlh = (const void *)c->rbuf;
		ssize_t n = mnl_socket_recvfrom(c->sock, c->rbuf, sizeof(c->rbuf));
		int len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len = (int)n;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			const char *p = mnl_nlmsg_get_payload(nlh);
			size_t plen = nlh->nlmsg_len - NLMSG_HDRLEN;

			if (nlh->nlmsg_seq != seq)
				continue;	/* a late answer to an older request */
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = (const void *)p;
				size_t off = sizeof(*e);

				if (plen < sizeof(*e))
					return -1;
				if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
					off += MNL_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
				v->error = e->error;
				extack_msg(nlh, off, v);
				v->answered = true;
				return 0;
			}
			if (nlh->nlmsg_type == NLMSG_DONE) {
				if (plen >= sizeof(int))
					memcpy(&v->error, p, sizeof(int));
				extack_msg(nlh, sizeof(int), v);
				v->answered = true;
				return 0;
			}
			if (nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
				v->data = true;
				if (cb)
					cb(nlh, arg);
			}
		}
	}
}

static int send_msg(struct conn *c, const void *buf, size_t len)
{
	return mnl_socket_sendto(c->sock, buf, len) < 0 ? -1 : 0;
}

/* ---- raw message building ------------------------------------------ */

struct buf {
	uint8_t b[MSG_MAX];
	size_t len;
};

static void put_raw(struct buf *m, const void *data, size_t len)
{
	if (m->len + len > sizeof(m->b)) {
		fprintf(stderr, "nl_fuzz: message too large\n");
		exit(2);
	}
	memcpy(m->b + m->len, data, len);
	m->len += len;
}

static void pad4(struct buf *m)
{
	static const uint8_t zero[4];

	put_raw(m, zero, NLA_ALIGN(m->len) - m->len);
}

/* An attribute header with nla_len = 4 + @len, then @len bytes, padded. */
static void put_attr(struct buf *m, uint16_t type, const void *data,
		     size_t len)
{
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + len),
			    .nla_type = type };

	put_raw(m, &a, sizeof(a));
	put_raw(m, data, len);
	pad4(m);
}

/* ---- the request model --------------------------------------------- */

/* One attribute inside a nest; @type may carry NLA_F_* bits. */
struct field {
	uint16_t type;
	uint16_t len;
	uint8_t data[64];
};

struct nest {
	uint16_t type;			/* EXLB_A_* */
	bool nested_flag;		/* NLA_F_NESTED, as the kernel requires */
	int n;
	struct field f[24];
	int tail;			/* 1..3 stray bytes after the attributes */
	int trunc_inner;		/* 1: an attribute cut short; 2: nla_len < 4 */
};

struct req {
	uint8_t cmd, version;
	uint16_t reserved;
	uint16_t flags;
	int nnests;
	struct nest nests[4];
	int nextra;
	struct field extra[3];		/* raw top-level attributes */
	int top_tail;			/* stray bytes after the attributes */
	bool top_trunc;			/* the last attribute is cut short */
	int short_genl;			/* >= 0: only this much genl header */
	size_t bloblen;			/* > 0: these bytes are the payload */
	uint8_t blob[256];
	char what[96];			/* the defect, for reports */
};

static bool is_dump_cmd(uint8_t cmd)
{
	return cmd == EXLB_CMD_GET_SERVICES || cmd == EXLB_CMD_GET_REALS ||
	       cmd == EXLB_CMD_GET_FLOWS || cmd == EXLB_CMD_GET_PERSIST;
}

static void serialize(const struct req *r, uint16_t family_id, uint32_t seq,
		      struct buf *m)
{
	struct nlmsghdr nlh = {
		.nlmsg_type = family_id,
		.nlmsg_flags = r->flags,
		.nlmsg_seq = seq,
	};
	struct genlmsghdr genl = {
		.cmd = r->cmd,
		.version = r->version,
		.reserved = r->reserved,
	};
	int i, j;

	m->len = 0;
	put_raw(m, &nlh, sizeof(nlh));
	if (r->short_genl >= 0) {
		put_raw(m, &genl, (size_t)r->short_genl);
		goto out;
	}
	put_raw(m, &genl, sizeof(genl));
	if (r->bloblen) {
		put_raw(m, r->blob, r->bloblen);
		goto out;
	}
	for (i = 0; i < r->nnests; i++) {
		const struct nest *n = &r->nests[i];
		size_t start = m->len;
		struct nlattr hdr = {
			.nla_type = n->type | (n->nested_flag ? NLA_F_NESTED : 0),
		};

		put_raw(m, &hdr, sizeof(hdr));
		for (j = 0; j < n->n; j++)
			put_attr(m, n->f[j].type, n->f[j].data, n->f[j].len);
		if (n->trunc_inner) {
			/* Claims 8 bytes of payload, has 2; or claims < 4. */
			struct nlattr in = {
				.nla_len = n->trunc_inner == 1 ? NLA_HDRLEN + 8 : 2,
				.nla_type = EXLB_SVC_A_ID,
			};
			uint8_t two[2] = { 1, 2 };

			put_raw(m, &in, sizeof(in));
			put_raw(m, two, sizeof(two));
		}
		if (n->tail) {
			uint8_t junk[3];

			rnd_bytes(junk, sizeof(junk));
			put_raw(m, junk, (size_t)n->tail);
		}
		/* nla_len covers exactly what is inside, padding excluded */
		((struct nlattr *)(m->b + start))->nla_len =
			(uint16_t)(m->len - start);
		pad4(m);
	}
	for (i = 0; i < r->nextra; i++)
		put_attr(m, r->extra[i].type, r->extra[i].data, r->extra[i].len);
	if (r->top_trunc) {
		struct nlattr a = { .nla_len = NLA_HDRLEN + 16,
				    .nla_type = EXLB_A_SERVICE | NLA_F_NESTED };
		uint8_t few[6] = { 0 };

		put_raw(m, &a, sizeof(a));
		put_raw(m, few, sizeof(few));
	}
	if (r->top_tail) {
		uint8_t junk[3];

		rnd_bytes(junk, sizeof(junk));
		put_raw(m, junk, (size_t)r->top_tail);
	}
out:
	/* exactly what is sent: a longer nlmsg_len would be silently dropped */
	((struct nlmsghdr *)m->b)->nlmsg_len = (uint32_t)m->len;
}

static struct nest *find_nest(struct req *r, uint16_t type)
{
	int i;

	for (i = 0; i < r->nnests; i++)
		if (r->nests[i].type == type)
			return &r->nests[i];
	return NULL;
}

static struct nest *add_nest(struct req *r, uint16_t type)
{
	struct nest *n = find_nest(r, type);

	if (n)
		return n;
	n = &r->nests[r->nnests++];
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->nested_flag = true;
	return n;
}

static void del_nest(struct req *r, uint16_t type)
{
	struct nest *n = find_nest(r, type);

	if (!n)
		return;
	*n = r->nests[--r->nnests];
}

static struct field *find_field(struct nest *n, uint16_t type)
{
	int i;

	for (i = 0; i < n->n; i++)
		if ((n->f[i].type & NLA_TYPE_MASK) == type)
			return &n->f[i];
	return NULL;
}

/*
 * Sets attribute @type of @n, replacing one of the same type: a duplicate
 * would let the last one win in the kernel's parse and could hide a defect.
 */
static void set_field(struct nest *n, uint16_t type, const void *data,
		      size_t len)
{
	struct field *f = find_field(n, type & NLA_TYPE_MASK);

	if (!f) {
		f = &n->f[n->n++];
	}
	f->type = type;
	f->len = (uint16_t)len;
	memcpy(f->data, data, len);
}

static void del_field(struct nest *n, uint16_t type)
{
	struct field *f = find_field(n, type);

	if (f)
		*f = n->f[--n->n];
}

static void set_u8(struct nest *n, uint16_t type, uint8_t v)
{
	set_field(n, type, &v, sizeof(v));
}

static void set_u16(struct nest *n, uint16_t type, uint16_t v)
{
	set_field(n, type, &v, sizeof(v));
}

static void set_u32(struct nest *n, uint16_t type, uint32_t v)
{
	set_field(n, type, &v, sizeof(v));
}

static void set_addr(struct nest *n, uint16_t type, size_t len)
{
	uint8_t a[64];

	rnd_bytes(a, len);
	set_field(n, type, a, len);
}

static size_t addr_len(uint16_t family)
{
	return family == AF_INET ? 4 : 16;
}

/* ---- valid building blocks ----------------------------------------- */

/* Service ids that exist (read at the start), never used as "absent". */
static uint32_t existing_ids[MAX_IDS];
static size_t nexisting;

static uint32_t absent_id(void)
{
	for (;;) {
		uint32_t id = (uint32_t)rnd64();
		size_t i;

		if (!id)
			continue;
		for (i = 0; i < nexisting && existing_ids[i] != id; i++)
			;
		if (i == nexisting)
			return id;
	}
}

static uint16_t rnd_family(void)
{
	return chance(50) ? AF_INET : AF_INET6;
}

/* Valid service settings, each present or not. */
static void svc_settings(struct nest *n, uint16_t family)
{
	if (chance(50))
		set_u8(n, EXLB_SVC_A_SCHED, (uint8_t)rnd(0, EXLB_SCHED_MAX));
	if (chance(50))
		set_u8(n, EXLB_SVC_A_PERSIST, (uint8_t)rnd(0, EXLB_PERSIST_MAX));
	if (chance(30))
		set_u32(n, EXLB_SVC_A_PERSIST_TIMEOUT,
			rnd(1, EXLB_MAX_PERSIST_TIMEOUT));
	if (chance(30))
		set_u8(n, EXLB_SVC_A_PERSIST_NETMASK,
		       (uint8_t)rnd(0, (uint32_t)addr_len(family) * 8));
	if (chance(30))
		set_u32(n, EXLB_SVC_A_IDLE_TIMEOUT, rnd(0, EXLB_MAX_IDLE_TIMEOUT));
	if (chance(30))
		set_u32(n, EXLB_SVC_A_FLAGS, rnd(0, __EXLB_SVC_F_ALL));
	if (chance(20))
		set_u8(n, EXLB_SVC_A_PROTOCOL, IPPROTO_TCP);
}

/* EXLB_A_SERVICE naming a service by an absent id or by address. */
static uint16_t svc_ident(struct req *r, bool by_id)
{
	struct nest *n = add_nest(r, EXLB_A_SERVICE);
	uint16_t family = rnd_family();

	if (by_id) {
		set_u32(n, EXLB_SVC_A_ID, absent_id());
		return 0;
	}
	set_u16(n, EXLB_SVC_A_FAMILY, family);
	set_addr(n, EXLB_SVC_A_ADDR, addr_len(family));
	set_u16(n, EXLB_SVC_A_PORT, (uint16_t)rnd(1, 65535));
	return family;
}

static void real_fields(struct req *r, uint16_t family, bool settings)
{
	struct nest *n = add_nest(r, EXLB_A_REAL);

	set_addr(n, EXLB_REAL_A_ADDR, addr_len(family ? family : rnd_family()));
	set_u16(n, EXLB_REAL_A_PORT, (uint16_t)rnd(1, 65535));
	if (!settings)
		return;
	if (chance(50))
		set_u32(n, EXLB_REAL_A_WEIGHT, rnd(0, EXLB_MAX_WEIGHT));
	if (chance(30))
		set_u32(n, EXLB_REAL_A_LIMIT, rnd(0, EXLB_MAX_LIMIT));
	if (chance(30))
		set_u8(n, EXLB_REAL_A_FORWARD, (uint8_t)rnd(0, EXLB_FORWARD_MAX));
	if (chance(30))
		set_u32(n, EXLB_REAL_A_FLAGS, rnd(0, __EXLB_REAL_F_ALL));
}

static void globals_fields(struct req *r)
{
	struct nest *n = add_nest(r, EXLB_A_GLOBALS);

	if (chance(50))
		set_u8(n, EXLB_GLOBAL_A_DROP_ON_FAIL, (uint8_t)rnd(0, 1));
	if (chance(50))
		set_u8(n, EXLB_GLOBAL_A_DROP_AT_DRAIN_END, (uint8_t)rnd(0, 1));
	if (chance(50))
		set_u32(n, EXLB_GLOBAL_A_FINAL_PERSIST, rnd(0, EXLB_MAX_IDLE_TIMEOUT));
	if (chance(50))
		set_u32(n, EXLB_GLOBAL_A_CONN_TIMEOUT, rnd(0, EXLB_MAX_IDLE_TIMEOUT));
}

/*
 * A plausible request for @cmd, valid as far as policies go. Its service
 * family is returned (0 when named by id).
 */
static uint16_t base_request(struct req *r, uint8_t cmd)
{
	uint16_t family = 0;
	struct nest *n;

	memset(r, 0, sizeof(*r));
	r->cmd = cmd;
	r->version = (uint8_t)rnd(0, 255);	/* genetlink ignores it */
	r->short_genl = -1;
	r->flags = NLM_F_REQUEST | NLM_F_ACK |
		   (is_dump_cmd(cmd) ? NLM_F_DUMP : 0) |
		   (chance(20) ? NLM_F_ECHO : 0);

	switch (cmd) {
	case EXLB_CMD_NEW_SERVICE:
		n = add_nest(r, EXLB_A_SERVICE);
		family = rnd_family();
		set_u16(n, EXLB_SVC_A_FAMILY, family);
		set_addr(n, EXLB_SVC_A_ADDR, addr_len(family));
		set_u16(n, EXLB_SVC_A_PORT, (uint16_t)rnd(1, 65535));
		if (chance(30))
			set_u32(n, EXLB_SVC_A_ID, absent_id());
		svc_settings(n, family);
		break;
	case EXLB_CMD_SET_SERVICE:
		family = svc_ident(r, chance(50));
		svc_settings(find_nest(r, EXLB_A_SERVICE), family ? family : AF_INET);
		break;
	case EXLB_CMD_DEL_SERVICE:
	case EXLB_CMD_GET_REALS:
		family = svc_ident(r, chance(50));
		break;
	case EXLB_CMD_NEW_REAL:
	case EXLB_CMD_SET_REAL:
	case EXLB_CMD_DEL_REAL:
		family = svc_ident(r, chance(50));
		real_fields(r, family, cmd != EXLB_CMD_DEL_REAL);
		break;
	case EXLB_CMD_GET_FLOWS:
		if (chance(50))
			set_u32(add_nest(r, EXLB_A_SERVICE), EXLB_SVC_A_ID,
				(uint32_t)rnd64());
		break;
	case EXLB_CMD_SET_GLOBALS:
		globals_fields(r);
		break;
	case EXLB_CMD_GET_PERSIST:
	case EXLB_CMD_SET_PERSIST:
		/*
		 * A service and, for SET, a real server. EXLB_A_PERSIST is not
		 * modelled: without it SET_PERSIST is refused whatever else
		 * the request holds, so it can never install a record here.
		 */
		family = svc_ident(r, chance(50));
		if (cmd == EXLB_CMD_SET_PERSIST)
			real_fields(r, family, false);
		break;
	default:	/* GET_SERVICES, GET_GLOBALS: no attributes */
		break;
	}
	return family;
}

/* ---- the defects --------------------------------------------------- */

/*
 * Why each is always refused (Linux >= 6.1, exlb's policies in
 * kmod/netlink.c, all commands >= resv_start_op so genetlink parses every
 * request, do or dump, with NL_VALIDATE_STRICT against the family policy
 * and the nested policies before any exlb code runs):
 *
 *  policy defects, any command:
 *   TOP_UNKNOWN    type 0 or > EXLB_A_MAX at the top: NL_VALIDATE_MAXTYPE
 *   TOP_FLOW       EXLB_A_FLOW in a request: NLA_REJECT
 *   NEST_UNKNOWN   type 0 or > max inside a nest: MAXTYPE, nested
 *   REPLY_ONLY     NUM_REALS/ACTIVE/INACTIVE/STATS in a request: NLA_REJECT
 *   SHORT          u8/u16/u32 shorter than its type: minimum length
 *   LONG           u8/u16/u32 longer than its type: NL_VALIDATE_STRICT_ATTRS
 *   RANGE          a value outside the uapi range: NLA_POLICY_RANGE/MAX/MASK
 *   ADDR_SIZE      an address of 0..3 or 17..64 bytes: binary length range
 *   NOT_NESTED     a nest without NLA_F_NESTED: NL_VALIDATE_NESTED
 *   FLAGGED        a scalar with NLA_F_NESTED: NL_VALIDATE_NESTED
 *   TRUNC_NEST     an inner attribute cut short / stray bytes in a nest,
 *                  TRUNC_TOP / TOP_TAIL the same at the top, BLOB random
 *                  bytes whose first attribute header is impossible:
 *                  bytes left over after parsing, NL_VALIDATE_TRAILING
 *   RESERVED       genlmsghdr.reserved != 0: genl_header_check()
 *   BAD_CMD        command 0 or > EXLB_CMD_MAX: no such operation
 *   SHORT_GENL     a message shorter than its genlmsghdr
 *   (random flags that include reserved bits, or a do command with
 *    NLM_F_DUMP, or a dump command without it, are refused too, but are
 *    only ever mixed in on top of another defect)
 *
 *  handler defects, only for the commands whose handler checks them:
 *   MISSING_ID     no EXLB_A_SERVICE / EXLB_A_REAL / EXLB_A_GLOBALS, or an
 *                  identifier without its parts (EINVAL)
 *   BAD_FAMILY     family not AF_INET/AF_INET6 where a service is created
 *                  or named by address (EAFNOSUPPORT)
 *   FAMILY_ADDR    an address of 4..16 bytes that does not fit the family
 *                  (EINVAL); a real server's address is 5..15 bytes when
 *                  the service's family is not known
 *   NO_SERVICE     a service id absent from the table read at the start
 *                  (ENOENT); never for GET_FLOWS, whose filter may be empty
 *   NETMASK        PERSIST_NETMASK 33..128 for an IPv4 service (EINVAL)
 *   ID_WITH_ADDR   SET_SERVICE with an id and an address (EINVAL/ENOENT)
 */
enum defect {
	D_TOP_UNKNOWN, D_TOP_FLOW, D_NEST_UNKNOWN, D_REPLY_ONLY, D_SHORT,
	D_LONG, D_RANGE, D_ADDR_SIZE, D_NOT_NESTED, D_FLAGGED, D_TRUNC_NEST,
	D_TRUNC_TOP, D_TOP_TAIL, D_BLOB, D_RESERVED, D_BAD_CMD, D_SHORT_GENL,
	D_MISSING_ID, D_BAD_FAMILY, D_FAMILY_ADDR, D_NO_SERVICE, D_NETMASK,
	D_ID_WITH_ADDR, D_COUNT
};

static const char *const defect_names[D_COUNT] = {
	"unknown top-level attribute", "EXLB_A_FLOW in a request",
	"unknown nested attribute", "reply-only attribute",
	"integer too short", "integer too long", "value out of range",
	"address size out of range", "nest without NLA_F_NESTED",
	"scalar with NLA_F_NESTED", "truncated nest", "truncated attribute",
	"stray bytes after the attributes", "random blob",
	"genlmsghdr.reserved set", "unknown command", "truncated genlmsghdr",
	"missing identifier", "bad family", "address does not fit the family",
	"no such service", "netmask longer than the address",
	"id and address in SET_SERVICE",
};

static bool names_service(uint8_t cmd)
{
	return cmd == EXLB_CMD_SET_SERVICE || cmd == EXLB_CMD_DEL_SERVICE ||
	       cmd == EXLB_CMD_GET_REALS || cmd == EXLB_CMD_NEW_REAL ||
	       cmd == EXLB_CMD_SET_REAL || cmd == EXLB_CMD_DEL_REAL;
}

static bool is_real_cmd(uint8_t cmd)
{
	return cmd == EXLB_CMD_NEW_REAL || cmd == EXLB_CMD_SET_REAL ||
	       cmd == EXLB_CMD_DEL_REAL;
}

static bool applies(enum defect d, uint8_t cmd)
{
	switch (d) {
	case D_MISSING_ID:
		return cmd != EXLB_CMD_GET_SERVICES && cmd != EXLB_CMD_GET_GLOBALS;
	case D_BAD_FAMILY:
	case D_FAMILY_ADDR:
		return cmd == EXLB_CMD_NEW_SERVICE || names_service(cmd);
	case D_NO_SERVICE:
		return names_service(cmd);
	case D_NETMASK:
		return cmd == EXLB_CMD_NEW_SERVICE || cmd == EXLB_CMD_SET_SERVICE;
	case D_ID_WITH_ADDR:
		return cmd == EXLB_CMD_SET_SERVICE;
	default:
		return true;
	}
}

/* The fixed-size attributes of each nest, and their sizes. */
struct attr_info {
	uint16_t type;
	uint8_t size;		/* 1, 2, 4; 0 = address */
};

static const struct attr_info svc_attrs[] = {
	{ EXLB_SVC_A_ID, 4 }, { EXLB_SVC_A_FAMILY, 2 }, { EXLB_SVC_A_ADDR, 0 },
	{ EXLB_SVC_A_PORT, 2 }, { EXLB_SVC_A_PROTOCOL, 1 },
	{ EXLB_SVC_A_SCHED, 1 }, { EXLB_SVC_A_PERSIST, 1 },
	{ EXLB_SVC_A_PERSIST_TIMEOUT, 4 }, { EXLB_SVC_A_PERSIST_NETMASK, 1 },
	{ EXLB_SVC_A_IDLE_TIMEOUT, 4 }, { EXLB_SVC_A_FLAGS, 4 },
};

static const struct attr_info real_attrs[] = {
	{ EXLB_REAL_A_ADDR, 0 }, { EXLB_REAL_A_PORT, 2 },
	{ EXLB_REAL_A_WEIGHT, 4 }, { EXLB_REAL_A_LIMIT, 4 },
	{ EXLB_REAL_A_FORWARD, 1 }, { EXLB_REAL_A_FLAGS, 4 },
};

static const struct attr_info global_attrs[] = {
	{ EXLB_GLOBAL_A_DROP_ON_FAIL, 1 }, { EXLB_GLOBAL_A_DROP_AT_DRAIN_END, 1 },
	{ EXLB_GLOBAL_A_FINAL_PERSIST, 4 }, { EXLB_GLOBAL_A_CONN_TIMEOUT, 4 },
};

static const struct attr_info *nest_attrs(uint16_t type, size_t *n)
{
	switch (type) {
	case EXLB_A_SERVICE:
		*n = sizeof(svc_attrs) / sizeof(svc_attrs[0]);
		return svc_attrs;
	case EXLB_A_REAL:
		*n = sizeof(real_attrs) / sizeof(real_attrs[0]);
		return real_attrs;
	default:
		*n = sizeof(global_attrs) / sizeof(global_attrs[0]);
		return global_attrs;
	}
}

static uint16_t nest_max(uint16_t type)
{
	return type == EXLB_A_SERVICE ? EXLB_SVC_A_MAX :
	       type == EXLB_A_REAL ? EXLB_REAL_A_MAX : EXLB_GLOBAL_A_MAX;
}

/* Any nest of the request, or a new one when it has none. */
static struct nest *some_nest(struct req *r, bool addr_only)
{
	static const uint16_t any[] = { EXLB_A_SERVICE, EXLB_A_REAL,
					EXLB_A_GLOBALS };
	uint16_t type;

	if (r->nnests) {
		struct nest *n = &r->nests[rnd(0, (uint32_t)r->nnests - 1)];

		if (!addr_only || n->type != EXLB_A_GLOBALS)
			return n;
	}
	type = any[rnd(0, addr_only ? 1 : 2)];
	if (find_nest(r, type))
		return find_nest(r, type);
	if (type == EXLB_A_SERVICE)
		svc_ident(r, chance(50));
	else if (type == EXLB_A_REAL)
		real_fields(r, 0, true);
	else
		globals_fields(r);
	return find_nest(r, type);
}

/* An out-of-range value for a random ranged attribute of @n. */
static void out_of_range(struct nest *n)
{
	uint32_t big;

	switch (n->type) {
	case EXLB_A_SERVICE:
		switch (rnd(0, 7)) {
		case 0:
			set_u16(n, EXLB_SVC_A_PORT, 0);
			return;
		case 1:
			set_u8(n, EXLB_SVC_A_PROTOCOL, (uint8_t)(IPPROTO_TCP +
							  rnd(1, 255)));
			return;
		case 2:
			set_u8(n, EXLB_SVC_A_SCHED, (uint8_t)rnd(EXLB_SCHED_MAX + 1, 255));
			return;
		case 3:
			set_u8(n, EXLB_SVC_A_PERSIST,
			       (uint8_t)rnd(EXLB_PERSIST_MAX + 1, 255));
			return;
		case 4:
			big = chance(30) ? 0 : rnd(EXLB_MAX_PERSIST_TIMEOUT + 1,
						   UINT32_MAX);
			set_u32(n, EXLB_SVC_A_PERSIST_TIMEOUT, big);
			return;
		case 5:
			set_u8(n, EXLB_SVC_A_PERSIST_NETMASK, (uint8_t)rnd(129, 255));
			return;
		case 6:
			set_u32(n, EXLB_SVC_A_IDLE_TIMEOUT,
				rnd(EXLB_MAX_IDLE_TIMEOUT + 1, UINT32_MAX));
			return;
		default:
			set_u32(n, EXLB_SVC_A_FLAGS, rnd(0, UINT32_MAX) |
				(1U << rnd(2, 31)));
			return;
		}
	case EXLB_A_REAL:
		switch (rnd(0, 4)) {
		case 0:
			set_u16(n, EXLB_REAL_A_PORT, 0);
			return;
		case 1:
			set_u32(n, EXLB_REAL_A_WEIGHT,
				chance(50) ? 70000 : rnd(EXLB_MAX_WEIGHT + 1, UINT32_MAX));
			return;
		case 2:
			set_u32(n, EXLB_REAL_A_LIMIT, rnd(EXLB_MAX_LIMIT + 1, UINT32_MAX));
			return;
		case 3:
			set_u8(n, EXLB_REAL_A_FORWARD,
			       (uint8_t)rnd(EXLB_FORWARD_MAX + 1, 255));
			return;
		default:
			set_u32(n, EXLB_REAL_A_FLAGS, rnd(0, UINT32_MAX) |
				(1U << rnd(2, 31)));
			return;
		}
	default:
		switch (rnd(0, 3)) {
		case 0:
			set_u8(n, EXLB_GLOBAL_A_DROP_ON_FAIL, (uint8_t)rnd(2, 255));
			return;
		case 1:
			set_u8(n, EXLB_GLOBAL_A_DROP_AT_DRAIN_END, (uint8_t)rnd(2, 255));
			return;
		case 2:
			set_u32(n, EXLB_GLOBAL_A_FINAL_PERSIST,
				rnd(EXLB_MAX_IDLE_TIMEOUT + 1, UINT32_MAX));
			return;
		default:
			set_u32(n, EXLB_GLOBAL_A_CONN_TIMEOUT,
				rnd(EXLB_MAX_IDLE_TIMEOUT + 1, UINT32_MAX));
			return;
		}
	}
}

/* A random attribute type that the nest's policy does not know. */
static uint16_t unknown_type(uint16_t max)
{
	return chance(20) ? 0 : (uint16_t)rnd(max + 1u, NLA_TYPE_MASK);
}

static void missing_id(struct req *r, uint16_t family)
{
	struct nest *n = find_nest(r, EXLB_A_SERVICE);
	uint32_t v;

	switch (r->cmd) {
	case EXLB_CMD_NEW_SERVICE:
		switch (rnd(0, 4)) {
		case 0:
			del_nest(r, EXLB_A_SERVICE);
			break;
		case 1:
			del_field(n, EXLB_SVC_A_FAMILY);
			break;
		case 2:		/* an address needs a port */
			del_field(n, EXLB_SVC_A_PORT);
			break;
		case 3:		/* and a port an address */
			del_field(n, EXLB_SVC_A_ADDR);
			break;
		default:	/* no address and no id */
			del_field(n, EXLB_SVC_A_ADDR);
			del_field(n, EXLB_SVC_A_PORT);
			del_field(n, EXLB_SVC_A_ID);
			break;
		}
		return;
	case EXLB_CMD_SET_GLOBALS:
		del_nest(r, EXLB_A_GLOBALS);
		return;
	case EXLB_CMD_GET_FLOWS:
		/* a filter must name the service by id */
		n = add_nest(r, EXLB_A_SERVICE);
		del_field(n, EXLB_SVC_A_ID);
		if (chance(50))
			set_u16(n, EXLB_SVC_A_FAMILY, rnd_family());
		return;
	default:
		break;
	}
	/* commands that name a service, and real servers */
	if (is_real_cmd(r->cmd) && chance(40)) {
		struct nest *rn = find_nest(r, EXLB_A_REAL);

		if (chance(50))
			del_nest(r, EXLB_A_REAL);
		else
			del_field(rn, chance(50) ? EXLB_REAL_A_ADDR : EXLB_REAL_A_PORT);
		return;
	}
	if (chance(30)) {
		del_nest(r, EXLB_A_SERVICE);
		return;
	}
	/* no id, and at least one of family, address, port missing */
	if (!family)
		family = rnd_family();
	del_field(n, EXLB_SVC_A_ID);
	set_u16(n, EXLB_SVC_A_FAMILY, family);
	set_addr(n, EXLB_SVC_A_ADDR, addr_len(family));
	set_u16(n, EXLB_SVC_A_PORT, (uint16_t)rnd(1, 65535));
	v = rnd(1, 7);
	if (v & 1)
		del_field(n, EXLB_SVC_A_FAMILY);
	if (v & 2)
		del_field(n, EXLB_SVC_A_ADDR);
	if (v & 4)
		del_field(n, EXLB_SVC_A_PORT);
}

/* Makes the service of @r named by family, address and port. */
static struct nest *by_address(struct req *r, uint16_t family)
{
	struct nest *n = add_nest(r, EXLB_A_SERVICE);

	del_field(n, EXLB_SVC_A_ID);
	set_u16(n, EXLB_SVC_A_FAMILY, family);
	set_addr(n, EXLB_SVC_A_ADDR, addr_len(family));
	set_u16(n, EXLB_SVC_A_PORT, (uint16_t)rnd(1, 65535));
	return n;
}

/* An address size that is 4..16 but not the size for @family. */
static size_t wrong_size(uint16_t family)
{
	if (chance(50))
		return family == AF_INET ? 16 : 4;
	return rnd(5, 15);
}

static void apply_defect(struct req *r, enum defect d, uint16_t family)
{
	const struct attr_info *ai;
	struct nest *n;
	uint8_t data[64];
	size_t na, len;
	uint16_t t;
	int k;

	switch (d) {
	case D_TOP_UNKNOWN:
		k = r->nextra++;
		r->extra[k].type = unknown_type(EXLB_A_MAX);
		r->extra[k].len = (uint16_t)rnd(0, 32);
		rnd_bytes(r->extra[k].data, r->extra[k].len);
		break;
	case D_TOP_FLOW:
		k = r->nextra++;
		r->extra[k].type = EXLB_A_FLOW | (chance(50) ? NLA_F_NESTED : 0);
		r->extra[k].len = (uint16_t)rnd(0, 32);
		rnd_bytes(r->extra[k].data, r->extra[k].len);
		break;
	case D_NEST_UNKNOWN:
		n = some_nest(r, false);
		len = rnd(0, 16);
		rnd_bytes(data, len);
		set_field(n, unknown_type(nest_max(n->type)), data, len);
		break;
	case D_REPLY_ONLY:
		n = some_nest(r, true);
		if (n->type == EXLB_A_SERVICE)
			t = (uint16_t)rnd(EXLB_SVC_A_NUM_REALS, EXLB_SVC_A_STATS);
		else
			t = (uint16_t)rnd(EXLB_REAL_A_ACTIVE_CONNS, EXLB_REAL_A_STATS);
		len = chance(50) ? 4 : rnd(0, 16);
		rnd_bytes(data, len);
		set_field(n, t, data, len);
		break;
	case D_SHORT:
	case D_LONG:
		n = some_nest(r, false);
		ai = nest_attrs(n->type, &na);
		do {
			k = (int)rnd(0, (uint32_t)na - 1);
		} while (!ai[k].size);
		len = d == D_SHORT ? rnd(0, ai[k].size - 1u) :
				     ai[k].size + rnd(1, 8);
		rnd_bytes(data, len);
		set_field(n, ai[k].type, data, len);
		break;
	case D_RANGE:
		out_of_range(some_nest(r, false));
		break;
	case D_ADDR_SIZE:
		n = some_nest(r, true);
		len = chance(50) ? rnd(0, 3) : rnd(17, 64);
		rnd_bytes(data, len);
		set_field(n, n->type == EXLB_A_SERVICE ? EXLB_SVC_A_ADDR :
			  EXLB_REAL_A_ADDR, data, len);
		break;
	case D_NOT_NESTED:
		some_nest(r, false)->nested_flag = false;
		break;
	case D_FLAGGED:
		n = some_nest(r, false);
		ai = nest_attrs(n->type, &na);
		k = (int)rnd(0, (uint32_t)na - 1);
		len = ai[k].size ? ai[k].size : 4;
		memset(data, 0, sizeof(data));
		data[0] = 1;	/* a value in range for every field */
		set_field(n, ai[k].type | NLA_F_NESTED, data, len);
		break;
	case D_TRUNC_NEST:
		n = some_nest(r, false);
		if (chance(50))
			n->tail = (int)rnd(1, 3);
		else
			n->trunc_inner = (int)rnd(1, 2);
		break;
	case D_TRUNC_TOP:
		r->top_trunc = true;
		break;
	case D_TOP_TAIL:
		r->top_tail = (int)rnd(1, 3);
		break;
	case D_BLOB:
		r->bloblen = rnd(1, sizeof(r->blob));
		rnd_bytes(r->blob, r->bloblen);
		if (r->bloblen >= NLA_HDRLEN) {
			/* the first header can never parse: rem stays > 0 */
			uint16_t bad = chance(50) ? (uint16_t)rnd(0, NLA_HDRLEN - 1) :
				(uint16_t)rnd((uint32_t)r->bloblen + 1, 0xffff);

			memcpy(r->blob, &bad, sizeof(bad));
		}
		break;
	case D_RESERVED:
		r->reserved = (uint16_t)rnd(1, 0xffff);
		break;
	case D_BAD_CMD:
		r->cmd = chance(20) ? 0 : (uint8_t)rnd(EXLB_CMD_MAX + 1, 255);
		break;
	case D_SHORT_GENL:
		r->short_genl = (int)rnd(0, GENL_HDRLEN - 1);
		break;
	case D_MISSING_ID:
		missing_id(r, family);
		break;
	case D_BAD_FAMILY:
		do {
			t = (uint16_t)rnd(0, 0xffff);
		} while (t == AF_INET || t == AF_INET6);
		n = r->cmd == EXLB_CMD_NEW_SERVICE ? find_nest(r, EXLB_A_SERVICE) :
			by_address(r, rnd_family());
		set_u16(n, EXLB_SVC_A_FAMILY, t);
		break;
	case D_FAMILY_ADDR:
		if (is_real_cmd(r->cmd) && chance(50)) {
			/* the real's address against the service's family */
			len = family ? wrong_size(family) : rnd(5, 15);
			set_addr(find_nest(r, EXLB_A_REAL), EXLB_REAL_A_ADDR, len);
			break;
		}
		if (!family)
			family = rnd_family();
		n = r->cmd == EXLB_CMD_NEW_SERVICE ? find_nest(r, EXLB_A_SERVICE) :
			by_address(r, family);
		set_u16(n, EXLB_SVC_A_FAMILY, family);
		set_u16(n, EXLB_SVC_A_PORT, (uint16_t)rnd(1, 65535));
		set_addr(n, EXLB_SVC_A_ADDR, wrong_size(family));
		break;
	case D_NO_SERVICE:
		n = add_nest(r, EXLB_A_SERVICE);
		set_u32(n, EXLB_SVC_A_ID, absent_id());
		break;
	case D_NETMASK:
		if (r->cmd == EXLB_CMD_NEW_SERVICE)
			n = find_nest(r, EXLB_A_SERVICE);
		else
			n = by_address(r, AF_INET);
		set_u16(n, EXLB_SVC_A_FAMILY, AF_INET);
		if (find_field(n, EXLB_SVC_A_ADDR))
			set_addr(n, EXLB_SVC_A_ADDR, 4);
		set_u8(n, EXLB_SVC_A_PERSIST_NETMASK, (uint8_t)rnd(33, 128));
		break;
	case D_ID_WITH_ADDR:
		n = by_address(r, rnd_family());
		set_u32(n, EXLB_SVC_A_ID, chance(50) || !nexisting ? absent_id() :
			existing_ids[rnd(0, (uint32_t)nexisting - 1)]);
		if (chance(50))
			del_field(n, chance(50) ? EXLB_SVC_A_ADDR : EXLB_SVC_A_PORT);
		break;
	default:
		break;
	}
}

/* A request for a random command with at least one defect. */
static void malformed_request(struct req *r)
{
	uint8_t cmd = (uint8_t)rnd(1, EXLB_CMD_MAX);
	uint16_t family;
	enum defect d;
	int extra;

	/* NEW_SERVICE is the one that could create something: test it most. */
	if (chance(25))
		cmd = EXLB_CMD_NEW_SERVICE;
	family = base_request(r, cmd);
	do {
		d = (enum defect)rnd(0, D_COUNT - 1);
	} while (!applies(d, cmd));
	apply_defect(r, d, family);
	snprintf(r->what, sizeof(r->what), "%s", defect_names[d]);

	/* Sometimes a second policy defect on top. */
	extra = chance(15) ? (int)rnd(D_TOP_UNKNOWN, D_TRUNC_NEST) : -1;
	if (extra >= 0 && !r->bloblen && r->short_genl < 0) {
		apply_defect(r, (enum defect)extra, family);
		snprintf(r->what + strlen(r->what), sizeof(r->what) - strlen(r->what),
			 " + %s", defect_names[extra]);
	}

	/* Random flags, only ever on top of the defect above. */
	if (chance(5))
		r->flags ^= NLM_F_DUMP;
	if (chance(5))
		r->flags |= (uint16_t)(NLM_F_MULTI << rnd(0, 10));
}

/* ---- setup, state snapshot, cleanup -------------------------------- */

static void start_msg(struct buf *m, struct conn *c, uint8_t cmd,
		      uint16_t flags)
{
	struct nlmsghdr nlh = {
		.nlmsg_type = c->family_id,
		.nlmsg_flags = NLM_F_REQUEST | flags,
		.nlmsg_seq = ++c->seq,
	};
	struct genlmsghdr genl = { .cmd = cmd, .version = EXLB_GENL_VERSION };

	m->len = 0;
	put_raw(m, &nlh, sizeof(nlh));
	put_raw(m, &genl, sizeof(genl));
}

static int transact(struct conn *c, struct buf *m, struct verdict *v,
		    data_cb cb, void *arg)
{
	((struct nlmsghdr *)m->b)->nlmsg_len = (uint32_t)m->len;
	if (send_msg(c, m->b, m->len))
		return -1;
	return await(c, ((struct nlmsghdr *)m->b)->nlmsg_seq, v, cb, arg);
}

static void family_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, GENL_HDRLEN)
		if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID)
			*(uint16_t *)arg = mnl_attr_get_u16(attr);
}

static int resolve_family(struct conn *c)
{
	struct verdict v;
	struct buf m;
	uint16_t id = 0;
	char name[] = EXLB_GENL_NAME;

	c->family_id = GENL_ID_CTRL;
	start_msg(&m, c, CTRL_CMD_GETFAMILY, NLM_F_ACK);
	put_attr(&m, CTRL_ATTR_FAMILY_NAME, name, sizeof(name));
	if (transact(c, &m, &v, family_cb, &id) || v.error || !id)
		return -1;
	c->family_id = id;
	return 0;
}

struct ids {
	uint32_t id[MAX_IDS];
	size_t n;
};

static void ids_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *attr, *in;
	struct ids *ids = arg;

	mnl_attr_for_each(attr, nlh, GENL_HDRLEN) {
		if (mnl_attr_get_type(attr) != EXLB_A_SERVICE)
			continue;
		mnl_attr_for_each_nested(in, attr)
			if (mnl_attr_get_type(in) == EXLB_SVC_A_ID &&
			    mnl_attr_get_payload_len(in) == 4 && ids->n < MAX_IDS)
				ids->id[ids->n++] = mnl_attr_get_u32(in);
	}
}

static int service_ids(struct conn *c, struct ids *ids)
{
	struct verdict v;
	struct buf m;

	ids->n = 0;
	start_msg(&m, c, EXLB_CMD_GET_SERVICES, NLM_F_DUMP);
	if (transact(c, &m, &v, ids_cb, ids) || v.error)
		return -1;
	return 0;
}

struct globals {
	uint8_t drop_on_fail, drop_at_drain_end;
	uint32_t final_persist, conn_timeout;
	bool ok;
};

static void globals_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *attr, *in;
	struct globals *g = arg;

	mnl_attr_for_each(attr, nlh, GENL_HDRLEN) {
		if (mnl_attr_get_type(attr) != EXLB_A_GLOBALS)
			continue;
		g->ok = true;
		mnl_attr_for_each_nested(in, attr) {
			switch (mnl_attr_get_type(in)) {
			case EXLB_GLOBAL_A_DROP_ON_FAIL:
				g->drop_on_fail = mnl_attr_get_u8(in);
				break;
			case EXLB_GLOBAL_A_DROP_AT_DRAIN_END:
				g->drop_at_drain_end = mnl_attr_get_u8(in);
				break;
			case EXLB_GLOBAL_A_FINAL_PERSIST:
				g->final_persist = mnl_attr_get_u32(in);
				break;
			case EXLB_GLOBAL_A_CONN_TIMEOUT:
				g->conn_timeout = mnl_attr_get_u32(in);
				break;
			}
		}
	}
}

static int get_globals(struct conn *c, struct globals *g)
{
	struct verdict v;
	struct buf m;

	memset(g, 0, sizeof(*g));
	start_msg(&m, c, EXLB_CMD_GET_GLOBALS, NLM_F_ACK);
	if (transact(c, &m, &v, globals_cb, g) || v.error || !g->ok)
		return -1;
	return 0;
}

/* Puts the kernel back as it was: deletes new services, restores globals. */
static int cleanup(struct conn *c, const struct globals *before)
{
	struct globals now;
	struct ids ids;
	int undone = 0;
	size_t i, j;

	if (service_ids(c, &ids)) {
		fprintf(stderr, "nl_fuzz: cannot list the services at the end\n");
		return -1;
	}
	for (i = 0; i < ids.n; i++) {
		struct verdict v;
		struct buf m;
		uint8_t nest[4 + 8];
		struct nlattr *in = (struct nlattr *)(nest + 4);

		for (j = 0; j < nexisting && existing_ids[j] != ids.id[i]; j++)
			;
		if (j < nexisting)
			continue;
		start_msg(&m, c, EXLB_CMD_DEL_SERVICE, NLM_F_ACK);
		in->nla_len = 8;
		in->nla_type = EXLB_SVC_A_ID;
		memcpy(nest + 8, &ids.id[i], 4);
		put_attr(&m, EXLB_A_SERVICE | NLA_F_NESTED, nest + 4, 8);
		transact(c, &m, &v, NULL, NULL);
		fprintf(stderr, "nl_fuzz: deleted service id %u created by accident (%d)\n",
			ids.id[i], v.error);
		undone++;
	}
	if (get_globals(c, &now)) {
		fprintf(stderr, "nl_fuzz: cannot read the globals at the end\n");
		return -1;
	}
	if (memcmp(&now, before, sizeof(now))) {
		struct verdict v;
		struct buf m, in = { .len = 0 };

		put_attr(&in, EXLB_GLOBAL_A_DROP_ON_FAIL, &before->drop_on_fail, 1);
		put_attr(&in, EXLB_GLOBAL_A_DROP_AT_DRAIN_END,
			 &before->drop_at_drain_end, 1);
		put_attr(&in, EXLB_GLOBAL_A_FINAL_PERSIST, &before->final_persist, 4);
		put_attr(&in, EXLB_GLOBAL_A_CONN_TIMEOUT, &before->conn_timeout, 4);
		start_msg(&m, c, EXLB_CMD_SET_GLOBALS, NLM_F_ACK);
		put_attr(&m, EXLB_A_GLOBALS | NLA_F_NESTED, in.b, in.len);
		transact(c, &m, &v, NULL, NULL);
		fprintf(stderr, "nl_fuzz: restored the globals changed by accident (%d)\n",
			v.error);
		undone++;
	}
	return undone;
}

static void hexdump(const struct buf *m)
{
	size_t i;

	for (i = 0; i < m->len; i++)
		fprintf(stderr, "%02x%s", m->b[i], (i + 1) % 32 ? "" : "\n");
	fputc('\n', stderr);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: nl_fuzz [-n COUNT] [-s SEED] [-t SECONDS] [-r] [-v]\n"
		"  -n  requests per phase (default 10000)\n"
		"  -s  random seed (default: time)\n"
		"  -t  time limit for everything, seconds (default 120)\n"
		"  -r  also send random attribute bytes (phase 2)\n"
		"  -v  report every request (twice: with the kernel's message)\n");
}

int main(int argc, char **argv)
{
	unsigned long count = 10000, i, sent = 0, refused = 0, successes = 0;
	unsigned long no_answer = 0, random_sent = 0, random_answered = 0;
	unsigned long long seed = (unsigned long long)time(NULL);
	double limit = 120, deadline;
	static struct conn c;
	struct globals before;
	struct timeval tv = { .tv_sec = 5 };
	struct ids ids;
	bool random_phase = false;
	int opt, on = 1, undone;

	while ((opt = getopt(argc, argv, "n:s:t:rvh")) != -1) {
		switch (opt) {
		case 'n':
			count = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			limit = strtod(optarg, NULL);
			break;
		case 'r':
			random_phase = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	rng_state = seed ? seed : 1;
	deadline = now_s() + limit;

	c.sock = mnl_socket_open(NETLINK_GENERIC);
	if (!c.sock || mnl_socket_bind(c.sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("nl_fuzz: netlink socket");
		return 2;
	}
	mnl_socket_setsockopt(c.sock, NETLINK_EXT_ACK, &on, sizeof(on));
	mnl_socket_setsockopt(c.sock, NETLINK_CAP_ACK, &on, sizeof(on));
	/* a request that gets no answer must not hang the test */
	setsockopt(mnl_socket_get_fd(c.sock), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	c.portid = mnl_socket_get_portid(c.sock);
	c.seq = (uint32_t)time(NULL);

	if (resolve_family(&c)) {
		fprintf(stderr, "nl_fuzz: generic netlink family \"%s\" not found\n",
			EXLB_GENL_NAME);
		return 2;
	}
	/* Proves the family answers us: refusals would otherwise be EPERM. */
	if (get_globals(&c, &before) || service_ids(&c, &ids)) {
		fprintf(stderr, "nl_fuzz: GET_GLOBALS/GET_SERVICES fail: not root?\n");
		return 2;
	}
	memcpy(existing_ids, ids.id, ids.n * sizeof(ids.id[0]));
	nexisting = ids.n;
	printf("nl_fuzz: family %u, seed %llu, %zu services present\n",
	       c.family_id, seed, nexisting);

	for (i = 0; i < count && now_s() < deadline; i++) {
		struct verdict v;
		struct req r;
		struct buf m;

		malformed_request(&r);
		serialize(&r, c.family_id, ++c.seq, &m);
		if (send_msg(&c, m.b, m.len)) {
			fprintf(stderr, "nl_fuzz: send: %s\n", strerror(errno));
			no_answer++;
			break;
		}
		sent++;
		if (await(&c, c.seq, &v, NULL, NULL)) {
			fprintf(stderr, "nl_fuzz: #%lu (cmd %u, %s): no answer\n",
				i, r.cmd, r.what);
			no_answer++;
			continue;
		}
		if (v.error < 0 && !v.data) {
			refused++;
			if (verbose)
				printf("nl_fuzz: #%lu cmd %u %s: %s%s%s\n", i, r.cmd,
				       r.what, strerror(-v.error),
				       verbose > 1 && v.msg[0] ? ": " : "",
				       verbose > 1 ? v.msg : "");
			continue;
		}
		successes++;
		fprintf(stderr, "nl_fuzz: #%lu (cmd %u, %s) was accepted (error %d%s)\n",
			i, r.cmd, r.what, v.error, v.data ? ", with data" : "");
		hexdump(&m);
	}

	for (i = 0; random_phase && i < count && now_s() < deadline; i++) {
		struct verdict v;
		struct req r;
		struct buf m;

		/* a valid header, then anything */
		base_request(&r, (uint8_t)rnd(1, EXLB_CMD_MAX));
		r.nnests = 0;
		r.version = EXLB_GENL_VERSION;
		r.bloblen = rnd(0, sizeof(r.blob));
		rnd_bytes(r.blob, r.bloblen);
		serialize(&r, c.family_id, ++c.seq, &m);
		if (send_msg(&c, m.b, m.len))
			break;
		random_sent++;
		if (await(&c, c.seq, &v, NULL, NULL) == 0)
			random_answered++;
		else
			fprintf(stderr, "nl_fuzz: random #%lu: no answer\n", i);
	}

	undone = cleanup(&c, &before);
	if (random_phase)
		printf("nl_fuzz: random phase: sent %lu, answered %lu\n",
		       random_sent, random_answered);
	if (no_answer)
		printf("nl_fuzz: %lu requests got no answer\n", no_answer);
	if (sent < count)
		printf("nl_fuzz: stopped by the time limit after %lu requests\n", sent);
	printf("nl_fuzz: sent %lu, errors %lu, unexpected successes %lu\n",
	       sent, refused, successes);
	if (undone < 0 || refused != sent || no_answer ||
	    random_answered != random_sent)
		return 1;
	return 0;
}
