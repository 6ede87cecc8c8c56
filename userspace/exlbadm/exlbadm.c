// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * exlbadm: programs exlb.ko directly over generic netlink, like ipvsadm
 * does IPVS. For tests and debugging; the configuration of a running
 * system belongs to exlbd. This file owns the command line (Kemp-style
 * Key=Value, case-insensitive), its validation, and the text and JSON
 * (-j) output. The selftests depend on its exact syntax and JSON shapes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include <uapi/linux/exlb.h>
#include "config/hex.h"
#include "exlbnl.h"

static bool json_out;

static const char usage_text[] =
"usage: exlbadm [-j] COMMAND ...\n"
"  vs add VS [id=N] [Schedule=rr|wrr|lc|wlc] [Persist=none|src]\n"
"         [PersistTimeout=S] [PersistMask=PREFIXLEN] [Idletime=S]\n"
"         [Transparent=0|1] [SubnetOriginating=0|1] [AltSourceAddrs=A,B,...]\n"
"  vs mod VS [the keys above except id]\n"
"  vs del VS\n"
"  vs show [VS]\n"
"  rs add VS RS [weight=N] [limit=N] [forward=nat|route] [enable=0|1]\n"
"         [health=up|down]\n"
"  rs mod VS RS [the keys of rs add]\n"
"  rs enable|disable|up|down VS RS\n"
"  rs del VS RS\n"
"  flows [VS]\n"
"  persist list VS                (source-persistence records)\n"
"  persist set VS RS KEYHEX SECONDS  (install one, as HA sync does: KEYHEX\n"
"                                  is the 16-byte key persist list shows)\n"
"  set KEY VALUE [KEY VALUE]...   (droponfail dropatdrainend finalpersist\n"
"                                  conntimeout)\n"
"  get [KEY]                      (the above, the HA counters adopted\n"
"                                  adoptreset, and the fast path's offloaded\n"
"                                  flows and hooked devices: offloaded\n"
"                                  offloaddevs)\n"
"VS is ADDR:PORT ([ADDR6]:PORT for IPv6) or id:N; RS is ADDR:PORT.\n"
"\"vs add - id=N\" creates a service without an address.\n"
"-j prints JSON; --version prints \"exlbadm VERSION\".\n";

static void usage(FILE *f)
{
	fputs(usage_text, f);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("exlbadm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static struct exlbnl *nl_open(void)
{
	char err[EXLBNL_ERRMSG_LEN];
	struct exlbnl *nl;

	if (exlbnl_open(&nl, err, sizeof(err)))
		die("%s", err);
	return nl;
}

/* Dies with the kernel's reason (its extack message when it gave one). */
static void check(struct exlbnl *nl, int err, const char *what)
{
	if (err)
		die("%s: %s", what, exlbnl_errmsg(nl));
}

/* ---- argument parsing ---------------------------------------------- */

static uint32_t parse_num(const char *key, const char *s, uint32_t min,
			  uint32_t max)
{
	unsigned long long v = 0;
	const char *p = s;

	if (!*p || strlen(p) > 10)
		die("%s must be a number in %u..%u, not '%s'", key, min, max, s);
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			die("%s must be a number in %u..%u, not '%s'", key, min,
			    max, s);
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	if (v < min || v > max)
		die("%s must be in %u..%u, not %s", key, min, max, s);
	return (uint32_t)v;
}

static bool parse_bool(const char *key, const char *s)
{
	if (!strcmp(s, "0"))
		return false;
	if (!strcmp(s, "1"))
		return true;
	die("%s must be 0 or 1, not '%s'", key, s);
}

#define KEY_MAX 32

/* "Key=Value" into a copy of the key and a pointer to the value. */
static void split_kv(const char *arg, char key[KEY_MAX], const char **val)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : 0;

	if (!eq || !len)
		die("expected Key=Value, not '%s'", arg);
	if (len >= KEY_MAX)
		die("unknown key '%.*s'", (int)len, arg);
	memcpy(key, arg, len);
	key[len] = '\0';
	*val = eq + 1;
}

static void parse_vs(const char *s, struct exlbnl_service *svc)
{
	memset(svc, 0, sizeof(*svc));
	if (exlbnl_parse_service_spec(s, svc))
		die("bad virtual service '%s' (want ADDR:PORT, [ADDR6]:PORT or id:N)",
		    s);
}

static void parse_rs(const char *s, struct exlbnl_real *real, uint16_t *family)
{
	memset(real, 0, sizeof(*real));
	if (exlbnl_parse_addr_port(s, family, &real->addr, &real->port))
		die("bad real server '%s' (want ADDR:PORT or [ADDR6]:PORT)", s);
}

static const char *family_name(uint16_t family)
{
	return family == AF_INET6 ? "inet6" : "inet";
}

/* The service @spec names, as the kernel has it; dies if there is none. */
static void lookup_vs(struct exlbnl *nl, const char *spec,
		      struct exlbnl_service *svc)
{
	struct exlbnl_service key;
	int err;

	parse_vs(spec, &key);
	err = exlbnl_service_get(nl, &key, svc);
	if (err == -ENOENT)
		die("no virtual service %s", spec);
	check(nl, err, "cannot read the services");
}

/* A service named by id only: how the requests below identify it. */
static struct exlbnl_service ident_of(const struct exlbnl_service *svc)
{
	struct exlbnl_service id = {
		.present = EXLBNL_SVC_ID,
		.id = svc->id,
		.family = svc->family,
	};

	return id;
}

/* AltSourceAddrs=A,B,...: the service's family; "" clears the list. */
static void alt_source_parse(struct exlbnl_service *svc, const char *val)
{
	char buf[(INET6_ADDRSTRLEN + 1) * EXLB_MAX_ALT_SOURCE_ADDRS];
	char *tok, *save = NULL;

	if (strlen(val) >= sizeof(buf))
		die("AltSourceAddrs: too long");
	strcpy(buf, val);
	svc->alt_n = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (svc->alt_n == EXLB_MAX_ALT_SOURCE_ADDRS)
			die("AltSourceAddrs: at most %d addresses",
			    EXLB_MAX_ALT_SOURCE_ADDRS);
		/* family 0: vs mod's first pass, before the lookup */
		int fam = svc->family ? svc->family :
			  strchr(tok, ':') ? AF_INET6 : AF_INET;

		if (inet_pton(fam, tok, svc->alt[svc->alt_n].raw) != 1)
			die("AltSourceAddrs: '%s' is not an address of the service's family",
			    tok);
		svc->alt_n++;
	}
	svc->present |= EXLBNL_SVC_ALT_SOURCE;
}

/*
 * Applies the service Key=Value arguments to @svc; @family sizes
 * PersistMask. @flags is the service's current flags, which the two
 * flag keys change bit by bit.
 */
static void vs_keys(int argc, char *const *argv, struct exlbnl_service *svc,
		    bool allow_id, uint32_t flags)
{
	unsigned int max_mask = svc->family == AF_INET ? 32 : 128;
	int i;

	for (i = 0; i < argc; i++) {
		const char *val;
		char key[KEY_MAX];

		split_kv(argv[i], key, &val);
		if (!strcasecmp(key, "id")) {
			if (!allow_id)
				die("the id of a service cannot change");
			svc->id = parse_num("id", val, 1, UINT32_MAX);
			svc->present |= EXLBNL_SVC_ID;
		} else if (!strcasecmp(key, "Schedule")) {
			if (exlbnl_sched_parse(val, &svc->sched))
				die("Schedule must be rr, wrr, lc or wlc, not '%s'", val);
			svc->present |= EXLBNL_SVC_SCHED;
		} else if (!strcasecmp(key, "Persist")) {
			if (exlbnl_persist_parse(val, &svc->persist))
				die("Persist must be none or src, not '%s'", val);
			svc->present |= EXLBNL_SVC_PERSIST;
		} else if (!strcasecmp(key, "PersistTimeout")) {
			svc->persist_timeout = parse_num("PersistTimeout", val, 1,
							 EXLB_MAX_PERSIST_TIMEOUT);
			svc->present |= EXLBNL_SVC_PERSIST_TIMEOUT;
		} else if (!strcasecmp(key, "PersistMask")) {
			svc->persist_netmask = (uint8_t)parse_num("PersistMask", val,
								  0, max_mask);
			svc->present |= EXLBNL_SVC_PERSIST_NETMASK;
		} else if (!strcasecmp(key, "Idletime")) {
			svc->idle_timeout = parse_num("Idletime", val, 0,
						      EXLB_MAX_IDLE_TIMEOUT);
			svc->present |= EXLBNL_SVC_IDLE_TIMEOUT;
		} else if (!strcasecmp(key, "Transparent")) {
			if (parse_bool("Transparent", val))
				flags |= EXLB_SVC_F_TRANSPARENT;
			else
				flags &= ~(uint32_t)EXLB_SVC_F_TRANSPARENT;
			svc->present |= EXLBNL_SVC_FLAGS;
		} else if (!strcasecmp(key, "AltSourceAddrs")) {
			alt_source_parse(svc, val);
		} else if (!strcasecmp(key, "SubnetOriginating")) {
			if (parse_bool("SubnetOriginating", val))
				flags |= EXLB_SVC_F_SUBNET_ORIGINATING;
			else
				flags &= ~(uint32_t)EXLB_SVC_F_SUBNET_ORIGINATING;
			svc->present |= EXLBNL_SVC_FLAGS;
		} else {
			die("unknown virtual service key '%s'", key);
		}
	}
	svc->flags = flags;
}

/* Real-server Key=Value arguments; @flags as in vs_keys(). */
static void rs_keys(int argc, char *const *argv, struct exlbnl_real *real,
		    uint32_t flags)
{
	int i;

	for (i = 0; i < argc; i++) {
		const char *val;
		char key[KEY_MAX];

		split_kv(argv[i], key, &val);
		if (!strcasecmp(key, "weight")) {
			real->weight = parse_num("weight", val, 0, EXLB_MAX_WEIGHT);
			real->present |= EXLBNL_REAL_WEIGHT;
		} else if (!strcasecmp(key, "limit")) {
			real->limit = parse_num("limit", val, 0, EXLB_MAX_LIMIT);
			real->present |= EXLBNL_REAL_LIMIT;
		} else if (!strcasecmp(key, "forward")) {
			if (exlbnl_forward_parse(val, &real->forward))
				die("forward must be nat or route, not '%s'", val);
			real->present |= EXLBNL_REAL_FORWARD;
		} else if (!strcasecmp(key, "enable")) {
			if (parse_bool("enable", val))
				flags &= ~(uint32_t)EXLB_REAL_F_DISABLED;
			else
				flags |= EXLB_REAL_F_DISABLED;
			real->present |= EXLBNL_REAL_FLAGS;
		} else if (!strcasecmp(key, "health")) {
			if (!strcasecmp(val, "up"))
				flags &= ~(uint32_t)EXLB_REAL_F_DOWN;
			else if (!strcasecmp(val, "down"))
				flags |= EXLB_REAL_F_DOWN;
			else
				die("health must be up or down, not '%s'", val);
			real->present |= EXLBNL_REAL_FLAGS;
		} else {
			die("unknown real server key '%s'", key);
		}
	}
	real->flags = flags;
}

/* ---- vs ------------------------------------------------------------ */

static int vs_add(int argc, char **argv)
{
	struct exlbnl_service svc;
	struct exlbnl *nl;
	uint32_t id;

	if (argc < 1)
		die("vs add needs a virtual service");
	memset(&svc, 0, sizeof(svc));
	if (!strcmp(argv[0], "-")) {
		/* Address-less: exlbd keeps its id for a service it serves. */
		svc.family = AF_INET;
	} else if (!strncasecmp(argv[0], "id:", 3)) {
		die("vs add takes ADDR:PORT, or - with id=N");
	} else {
		parse_vs(argv[0], &svc);
	}
	vs_keys(argc - 1, argv + 1, &svc, true, 0);
	if (!(svc.present & EXLBNL_SVC_ADDR) && !(svc.present & EXLBNL_SVC_ID))
		die("a service without an address needs id=N");
	nl = nl_open();
	check(nl, exlbnl_service_new(nl, &svc, &id), "vs add");
	if (json_out)
		printf("{\"id\": %u}\n", id);
	exlbnl_close(nl);
	return 0;
}

static int vs_mod(int argc, char **argv)
{
	struct exlbnl_service cur, svc;
	struct exlbnl *nl;

	if (argc < 1)
		die("vs mod needs a virtual service");
	if (argc < 2)
		die("vs mod: nothing to change");
	parse_vs(argv[0], &svc);
	svc.family = 0;		/* unknown yet: PersistMask up to 128 */
	vs_keys(argc - 1, argv + 1, &svc, false, 0);
	nl = nl_open();
	lookup_vs(nl, argv[0], &cur);
	svc = ident_of(&cur);
	vs_keys(argc - 1, argv + 1, &svc, false, cur.flags);
	check(nl, exlbnl_service_set(nl, &svc), "vs mod");
	exlbnl_close(nl);
	return 0;
}

static int vs_del(int argc, char **argv)
{
	struct exlbnl_service svc;
	struct exlbnl *nl;

	if (argc != 1)
		die("vs del takes exactly one virtual service");
	parse_vs(argv[0], &svc);
	nl = nl_open();
	check(nl, exlbnl_service_del(nl, &svc), "vs del");
	exlbnl_close(nl);
	return 0;
}

static json_t *stats_json(const struct exlbnl_stats *st)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "conns", (json_int_t)st->conns,
			 "pkts_in", (json_int_t)st->pkts_in,
			 "pkts_out", (json_int_t)st->pkts_out,
			 "bytes_in", (json_int_t)st->bytes_in,
			 "bytes_out", (json_int_t)st->bytes_out,
			 "no_source_port", (json_int_t)st->no_source_port,
			 "persist_evicted", (json_int_t)st->persist_evicted,
			 "persist_full", (json_int_t)st->persist_full);
}

static json_t *real_json(uint16_t family, const struct exlbnl_real *r)
{
	char addr[INET6_ADDRSTRLEN];
	const char *fwd = exlbnl_forward_name(r->forward);

	exlbnl_format_addr(family, &r->addr, addr, sizeof(addr));
	return json_pack("{s:s, s:i, s:I, s:I, s:s, s:i, s:s, s:I, s:I, s:o}",
			 "addr", addr,
			 "port", (int)r->port,
			 "weight", (json_int_t)r->weight,
			 "limit", (json_int_t)r->limit,
			 "forward", fwd ? fwd : "unknown",
			 "enabled", (r->flags & EXLB_REAL_F_DISABLED) ? 0 : 1,
			 "health", (r->flags & EXLB_REAL_F_DOWN) ? "down" : "up",
			 "active_conns", (json_int_t)r->active_conns,
			 "inactive_conns", (json_int_t)r->inactive_conns,
			 "stats", stats_json(&r->stats));
}

static json_t *service_json(const struct exlbnl_service *s,
			    const struct exlbnl_real *reals, size_t n)
{
	const char *sched = exlbnl_sched_name(s->sched);
	const char *persist = exlbnl_persist_name(s->persist);
	char addr[INET6_ADDRSTRLEN];
	json_t *vip, *jr, *ja, *obj;
	size_t i;

	if (s->present & EXLBNL_SVC_ADDR)
		vip = json_string(exlbnl_format_addr(s->family, &s->addr, addr,
						     sizeof(addr)));
	else
		vip = json_null();
	jr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(jr, real_json(s->family, &reals[i]));
	ja = json_array();
	for (i = 0; i < s->alt_n; i++)
		json_array_append_new(ja, json_string(exlbnl_format_addr(s->family,
			&s->alt[i], addr, sizeof(addr))));
	obj = json_pack("{s:I, s:s, s:o, s:i, s:s, s:s, s:s, s:I, s:i, s:I,"
			" s:i, s:i, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
			"id", (json_int_t)s->id,
			"family", family_name(s->family),
			"vip", vip,
			"port", (int)s->port,
			"protocol", "tcp",
			"schedule", sched ? sched : "unknown",
			"persist", persist ? persist : "unknown",
			"persist_timeout", (json_int_t)s->persist_timeout,
			"persist_mask", (int)s->persist_netmask,
			"idletime", (json_int_t)s->idle_timeout,
			"transparent", (s->flags & EXLB_SVC_F_TRANSPARENT) ? 1 : 0,
			"subnet_originating",
			(s->flags & EXLB_SVC_F_SUBNET_ORIGINATING) ? 1 : 0,
			"num_reals", (json_int_t)s->num_reals,
			"active_conns", (json_int_t)s->active_conns,
			"inactive_conns", (json_int_t)s->inactive_conns,
			"persist_records", (json_int_t)s->persist_records,
			"alt_source_addrs", ja,
			"stats", stats_json(&s->stats),
			"reals", jr);
	return obj;
}

static void json_print(json_t *j)
{
	if (!j)
		die("cannot build the JSON output");
	json_dumpf(j, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(j);
}

/* ---- aligned text tables ------------------------------------------- */

#define MAX_COLS 17
#define CELL 48

struct table {
	int ncols;
	const char *const *head;
	const bool *right;		/* right-aligned (numbers) */
	size_t nrows, cap;
	char (*cells)[MAX_COLS][CELL];
};

static char *table_row(struct table *t)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = realloc(t->cells, t->cap * sizeof(*t->cells));
		if (!t->cells)
			die("out of memory");
	}
	memset(t->cells[t->nrows], 0, sizeof(*t->cells));
	return t->cells[t->nrows++][0];
}

static void __attribute__((format(printf, 4, 5)))
cell(struct table *t, size_t row, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->cells[row][col], CELL, fmt, ap);
	va_end(ap);
}

static void table_print(struct table *t)
{
	size_t w[MAX_COLS] = { 0 }, r;
	int c, last;

	for (c = 0; c < t->ncols; c++)
		w[c] = strlen(t->head[c]);
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if (strlen(t->cells[r][c]) > w[c])
				w[c] = strlen(t->cells[r][c]);
	for (r = 0; r <= t->nrows; r++) {
		last = t->ncols - 1;
		for (c = 0; c < t->ncols; c++) {
			const char *s = r ? t->cells[r - 1][c] : t->head[c];

			/* no trailing blanks after a left-aligned last column */
			if (t->right[c])
				printf("%*s", (int)w[c], s);
			else if (c == last)
				fputs(s, stdout);
			else
				printf("%-*s", (int)w[c], s);
			if (c != last)
				fputs("  ", stdout);
		}
		putchar('\n');
	}
	free(t->cells);
}

static void print_stats_cells(struct table *t, size_t row, int col,
			      uint32_t active, uint32_t inactive,
			      const struct exlbnl_stats *st)
{
	cell(t, row, col, "%u", active);
	cell(t, row, col + 1, "%u", inactive);
	cell(t, row, col + 2, "%" PRIu64, st->conns);
	cell(t, row, col + 3, "%" PRIu64, st->pkts_in);
	cell(t, row, col + 4, "%" PRIu64, st->pkts_out);
	cell(t, row, col + 5, "%" PRIu64, st->bytes_in);
	cell(t, row, col + 6, "%" PRIu64, st->bytes_out);
}

static const char *const vs_head[MAX_COLS] = {
	"ID", "SERVICE", "SCHED", "PERSIST", "IDLE", "OPTIONS", "WEIGHT",
	"LIMIT", "FWD", "STATE", "ACTIVE", "INACT", "CONNS", "PKTS_IN",
	"PKTS_OUT", "BYTES_IN", "BYTES_OUT",
};

static const bool vs_right[MAX_COLS] = {
	[0] = true, [4] = true, [6] = true, [7] = true,
	[10] = true, [11] = true, [12] = true, [13] = true, [14] = true,
	[15] = true, [16] = true,
};

static void service_rows(struct table *t, const struct exlbnl_service *s,
			 const struct exlbnl_real *reals, size_t n)
{
	const char *sched = exlbnl_sched_name(s->sched);
	char buf[INET6_ADDRSTRLEN + 8];
	size_t row, i;

	table_row(t);
	row = t->nrows - 1;
	cell(t, row, 0, "%u", s->id);
	if (s->present & EXLBNL_SVC_ADDR)
		cell(t, row, 1, "tcp %s", exlbnl_format_addr_port(s->family,
			&s->addr, s->port, buf, sizeof(buf)));
	else
		cell(t, row, 1, "%s (no address)", family_name(s->family));
	cell(t, row, 2, "%s", sched ? sched : "?");
	if (s->persist == EXLB_PERSIST_SRC)
		cell(t, row, 3, "src %us/%u", s->persist_timeout,
		     s->persist_netmask);
	else
		cell(t, row, 3, "none");
	cell(t, row, 4, "%u", s->idle_timeout);
	cell(t, row, 5, "%s%s%s",
	     (s->flags & EXLB_SVC_F_TRANSPARENT) ? "transparent" : "",
	     (s->flags & EXLB_SVC_F_TRANSPARENT) &&
	     (s->flags & EXLB_SVC_F_SUBNET_ORIGINATING) ? "," : "",
	     (s->flags & EXLB_SVC_F_SUBNET_ORIGINATING) ? "subnet" : "");
	if (!s->flags)
		cell(t, row, 5, "-");
	print_stats_cells(t, row, 10, s->active_conns, s->inactive_conns,
			  &s->stats);

	for (i = 0; i < n; i++) {
		const struct exlbnl_real *r = &reals[i];
		const char *fwd = exlbnl_forward_name(r->forward);

		table_row(t);
		row = t->nrows - 1;
		cell(t, row, 1, "  -> %s", exlbnl_format_addr_port(s->family,
			&r->addr, r->port, buf, sizeof(buf)));
		cell(t, row, 6, "%u", r->weight);
		cell(t, row, 7, "%u", r->limit);
		cell(t, row, 8, "%s", fwd ? fwd : "?");
		cell(t, row, 9, "%s%s", (r->flags & EXLB_REAL_F_DOWN) ? "down" : "up",
		     (r->flags & EXLB_REAL_F_DISABLED) ? ",disabled" : "");
		print_stats_cells(t, row, 10, r->active_conns, r->inactive_conns,
				  &r->stats);
	}
}

static int vs_show(int argc, char **argv)
{
	struct table t = { .ncols = MAX_COLS, .head = vs_head, .right = vs_right };
	struct exlbnl_service *svcs, one;
	json_t *out = json_array();
	struct exlbnl *nl;
	size_t i, n;

	if (argc > 1)
		die("vs show takes at most one virtual service");
	nl = nl_open();
	if (argc == 1) {
		lookup_vs(nl, argv[0], &one);
		svcs = malloc(sizeof(*svcs));
		if (!svcs)
			die("out of memory");
		svcs[0] = one;
		n = 1;
	} else {
		check(nl, exlbnl_service_dump(nl, &svcs, &n),
		      "cannot read the services");
	}
	for (i = 0; i < n; i++) {
		struct exlbnl_service id = ident_of(&svcs[i]);
		struct exlbnl_real *reals;
		size_t nr;

		check(nl, exlbnl_real_dump(nl, &id, &reals, &nr),
		      "cannot read the real servers");
		if (json_out)
			json_array_append_new(out, service_json(&svcs[i], reals, nr));
		else
			service_rows(&t, &svcs[i], reals, nr);
		free(reals);
	}
	if (json_out) {
		json_print(out);
	} else {
		table_print(&t);
		json_decref(out);
	}
	free(svcs);
	exlbnl_close(nl);
	return 0;
}

/* ---- rs ------------------------------------------------------------ */

/* Parses "VS RS" and checks their families agree when both are known. */
static void rs_parse(char **argv, struct exlbnl_service *svc,
		     struct exlbnl_real *real, uint16_t *family)
{
	parse_vs(argv[0], svc);
	parse_rs(argv[1], real, family);
	if ((svc->present & EXLBNL_SVC_ADDR) && svc->family != *family)
		die("real server %s is %s but the service is %s", argv[1],
		    *family == AF_INET6 ? "IPv6" : "IPv4",
		    svc->family == AF_INET6 ? "IPv6" : "IPv4");
}

/* Finds the service in the kernel; @svc then names it by id. */
static void rs_service(struct exlbnl *nl, char **argv,
		       struct exlbnl_service *svc, uint16_t family)
{
	struct exlbnl_service cur;

	lookup_vs(nl, argv[0], &cur);
	if (cur.family != family)
		die("real server %s is %s but the service is %s", argv[1],
		    family == AF_INET6 ? "IPv6" : "IPv4",
		    cur.family == AF_INET6 ? "IPv6" : "IPv4");
	*svc = ident_of(&cur);
}

/* The flags the kernel has for @real now; dies if it does not exist. */
static uint32_t rs_flags(struct exlbnl *nl, const struct exlbnl_service *svc,
			 const struct exlbnl_real *real, const char *name)
{
	struct exlbnl_real *reals;
	uint32_t flags = 0;
	bool found = false;
	size_t i, n;

	check(nl, exlbnl_real_dump(nl, svc, &reals, &n),
	      "cannot read the real servers");
	for (i = 0; i < n; i++) {
		if (reals[i].port == real->port &&
		    !memcmp(&reals[i].addr, &real->addr,
			    exlbnl_addr_len(svc->family))) {
			flags = reals[i].flags;
			found = true;
		}
	}
	free(reals);
	if (!found)
		die("no real server %s in this service", name);
	return flags;
}

static int rs_add(int argc, char **argv)
{
	struct exlbnl_service svc;
	struct exlbnl_real real;
	struct exlbnl *nl;
	uint16_t family;

	if (argc < 2)
		die("rs add needs a virtual service and a real server");
	rs_parse(argv, &svc, &real, &family);
	rs_keys(argc - 2, argv + 2, &real, 0);
	nl = nl_open();
	rs_service(nl, argv, &svc, family);
	check(nl, exlbnl_real_new(nl, &svc, &real), "rs add");
	exlbnl_close(nl);
	return 0;
}

/*
 * rs mod, and its shorthands with @shorthand as the only key. The flags
 * are one attribute: read the current ones so only the named bit changes.
 */
static int rs_mod(int argc, char **argv, const char *shorthand)
{
	char *shorthand_argv[] = { (char *)shorthand };
	struct exlbnl_service svc;
	struct exlbnl_real real;
	struct exlbnl *nl;
	char **keys = argv + 2;
	int nkeys = argc - 2;
	uint16_t family;

	if (argc < 2)
		die("rs needs a virtual service and a real server");
	if (shorthand) {
		if (argc != 2)
			die("too many arguments");
		keys = shorthand_argv;
		nkeys = 1;
	} else if (argc < 3) {
		die("rs mod: nothing to change");
	}
	rs_parse(argv, &svc, &real, &family);
	rs_keys(nkeys, keys, &real, 0);
	nl = nl_open();
	rs_service(nl, argv, &svc, family);
	real.present = 0;
	rs_keys(nkeys, keys, &real, rs_flags(nl, &svc, &real, argv[1]));
	check(nl, exlbnl_real_set(nl, &svc, &real), "rs mod");
	exlbnl_close(nl);
	return 0;
}

static int rs_del(int argc, char **argv)
{
	struct exlbnl_service svc;
	struct exlbnl_real real;
	struct exlbnl *nl;
	uint16_t family;

	if (argc != 2)
		die("rs del takes a virtual service and a real server");
	rs_parse(argv, &svc, &real, &family);
	nl = nl_open();
	rs_service(nl, argv, &svc, family);
	check(nl, exlbnl_real_del(nl, &svc, &real), "rs del");
	exlbnl_close(nl);
	return 0;
}

/* ---- flows --------------------------------------------------------- */

static const char *const flow_head[] = {
	"ID", "CLIENT", "VIP", "REAL", "SOURCE", "STATE", "IDLE",
};

static const bool flow_right[] = { [0] = true, [6] = true };

static int flows(int argc, char **argv)
{
	struct table t = { .ncols = 7, .head = flow_head, .right = flow_right };
	struct exlbnl_service svc;
	struct exlbnl_flow *fl;
	json_t *out = json_array();
	uint32_t id = 0;
	struct exlbnl *nl;
	size_t i, n;

	if (argc > 1)
		die("flows takes at most one virtual service");
	if (argc == 1)
		parse_vs(argv[0], &svc);
	nl = nl_open();
	if (argc == 1) {
		lookup_vs(nl, argv[0], &svc);
		id = svc.id;
	}
	check(nl, exlbnl_flow_dump(nl, id, &fl, &n), "cannot read the flows");
	for (i = 0; i < n; i++) {
		const struct exlbnl_flow *f = &fl[i];
		const char *state = exlbnl_tcp_state_name(f->state);
		char c[INET6_ADDRSTRLEN], v[INET6_ADDRSTRLEN];
		char r[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN];
		char buf[INET6_ADDRSTRLEN + 8];
		size_t row;

		exlbnl_format_addr(f->family, &f->client, c, sizeof(c));
		exlbnl_format_addr(f->family, &f->vip, v, sizeof(v));
		exlbnl_format_addr(f->family, &f->real, r, sizeof(r));
		exlbnl_format_addr(f->family, &f->source, s, sizeof(s));
		if (json_out) {
			json_array_append_new(out, json_pack(
				"{s:I, s:s, s:s, s:i, s:s, s:i, s:s, s:i, s:s, s:i,"
				" s:s, s:I, s:b}",
				"service_id", (json_int_t)f->service_id,
				"family", family_name(f->family),
				"client", c, "client_port", (int)f->client_port,
				"vip", v, "vip_port", (int)f->vip_port,
				"real", r, "real_port", (int)f->real_port,
				"source", s, "source_port", (int)f->source_port,
				"state", state ? state : "UNKNOWN",
				"idle", (json_int_t)f->idle,
				"adopted", f->adopted));
			continue;
		}
		table_row(&t);
		row = t.nrows - 1;
		cell(&t, row, 0, "%u", f->service_id);
		cell(&t, row, 1, "%s", exlbnl_format_addr_port(f->family,
			&f->client, f->client_port, buf, sizeof(buf)));
		cell(&t, row, 2, "%s", exlbnl_format_addr_port(f->family,
			&f->vip, f->vip_port, buf, sizeof(buf)));
		cell(&t, row, 3, "%s", exlbnl_format_addr_port(f->family,
			&f->real, f->real_port, buf, sizeof(buf)));
		cell(&t, row, 4, "%s", exlbnl_format_addr_port(f->family,
			&f->source, f->source_port, buf, sizeof(buf)));
		cell(&t, row, 5, "%s", state ? state : "UNKNOWN");
		cell(&t, row, 6, "%us", f->idle);
	}
	if (json_out) {
		json_print(out);
	} else {
		table_print(&t);
		json_decref(out);
	}
	free(fl);
	exlbnl_close(nl);
	return 0;
}

/* ---- globals ------------------------------------------------------- */

/*
 * From G_ADOPTED on, the kernel's figures, get only: the HA adoption
 * counters, the flows in the flowtable and the devices hooked for it.
 */
enum global_key { G_DROPONFAIL, G_DROPATDRAINEND, G_FINALPERSIST,
		  G_CONNTIMEOUT, G_ADOPTED, G_ADOPTRESET, G_OFFLOADED,
		  G_OFFLOADDEVS, G_NKEYS };

static const char *const global_names[G_NKEYS] = {
	"droponfail", "dropatdrainend", "finalpersist", "conntimeout",
	"adopted", "adoptreset", "offloaded", "offloaddevs",
};

static enum global_key global_key(const char *s)
{
	int k;

	for (k = 0; k < G_NKEYS; k++)
		if (!strcasecmp(s, global_names[k]))
			return (enum global_key)k;
	die("unknown global '%s' (droponfail, dropatdrainend, finalpersist, conntimeout, adopted, adoptreset, offloaded, offloaddevs)",
	    s);
}

static uint64_t global_value(const struct exlbnl_globals *g, enum global_key k)
{
	switch (k) {
	case G_ADOPTED:
		return g->adopted;
	case G_ADOPTRESET:
		return g->adopt_reset;
	case G_OFFLOADED:
		return g->offloaded;
	case G_OFFLOADDEVS:
		return g->offload_devs;
	case G_DROPONFAIL:
		return g->drop_on_fail;
	case G_DROPATDRAINEND:
		return g->drop_at_drain_end;
	case G_FINALPERSIST:
		return g->final_persist;
	default:
		return g->conn_timeout;
	}
}

static int set_globals(int argc, char **argv)
{
	struct exlbnl_globals g = { 0 };
	struct exlbnl *nl;
	int i;

	if (argc < 2 || argc % 2)
		die("set takes KEY VALUE pairs");
	for (i = 0; i < argc; i += 2) {
		const char *name = argv[i], *val = argv[i + 1];

		switch (global_key(name)) {
		case G_DROPONFAIL:
			g.drop_on_fail = parse_bool(name, val);
			g.present |= EXLBNL_GLOBAL_DROP_ON_FAIL;
			break;
		case G_DROPATDRAINEND:
			g.drop_at_drain_end = parse_bool(name, val);
			g.present |= EXLBNL_GLOBAL_DROP_AT_DRAIN_END;
			break;
		case G_FINALPERSIST:
			g.final_persist = parse_num(name, val, 0,
						    EXLB_MAX_IDLE_TIMEOUT);
			g.present |= EXLBNL_GLOBAL_FINAL_PERSIST;
			break;
		case G_ADOPTED:
		case G_ADOPTRESET:
		case G_OFFLOADED:
		case G_OFFLOADDEVS:
			die("%s is a figure of the kernel's: it cannot be set", name);
		default:
			g.conn_timeout = parse_num(name, val, 0,
						   EXLB_MAX_IDLE_TIMEOUT);
			g.present |= EXLBNL_GLOBAL_CONN_TIMEOUT;
			break;
		}
	}
	nl = nl_open();
	check(nl, exlbnl_globals_set(nl, &g), "set");
	exlbnl_close(nl);
	return 0;
}

static int get_globals(int argc, char **argv)
{
	struct exlbnl_globals g;
	struct exlbnl *nl;
	int k, only = -1;

	if (argc > 1)
		die("get takes at most one key");
	if (argc == 1)
		only = global_key(argv[0]);
	nl = nl_open();
	check(nl, exlbnl_globals_get(nl, &g), "get");
	exlbnl_close(nl);
	if (only >= 0) {
		printf("%" PRIu64 "\n", global_value(&g, (enum global_key)only));
	} else if (json_out) {
		json_t *out = json_object();

		for (k = 0; k < G_NKEYS; k++)
			json_object_set_new(out, global_names[k],
					    json_integer(global_value(&g,
						(enum global_key)k)));
		json_print(out);
	} else {
		for (k = 0; k < G_NKEYS; k++)
			printf("%-15s %" PRIu64 "\n", global_names[k],
			       global_value(&g, (enum global_key)k));
	}
	return 0;
}

/* ---- persistence records (HA persistence sync) --------------------- */

static int persist_list(int argc, char **argv)
{
	struct exlbnl_service svc;
	struct exlbnl_persist *recs;
	json_t *out = json_array();
	struct exlbnl *nl;
	size_t i, n;

	if (argc != 1)
		die("persist list takes one virtual service");
	nl = nl_open();
	lookup_vs(nl, argv[0], &svc);
	check(nl, exlbnl_persist_dump(nl, &svc, &recs, &n),
	      "cannot read the persistence records");
	for (i = 0; i < n; i++) {
		const struct exlbnl_persist *r = &recs[i];
		char hex[33], client[INET6_ADDRSTRLEN], rs[INET6_ADDRSTRLEN + 8];

		exlb_hex_encode(hex, r->key, sizeof(r->key));
		exlbnl_format_addr(svc.family, (const union exlbnl_addr *)r->key,
				   client, sizeof(client));
		exlbnl_format_addr_port(svc.family, &r->real, r->real_port, rs,
					sizeof(rs));
		if (json_out)
			json_array_append_new(out, json_pack(
				"{s:I, s:s, s:s, s:s, s:I, s:I}",
				"service_id", (json_int_t)r->service_id,
				"key", hex, "client", client, "real", rs,
				"timeout", (json_int_t)r->timeout,
				"conns", (json_int_t)r->conns));
		else
			printf("%s %s -> %s %us %u conns\n", hex, client, rs,
			       r->timeout, r->conns);
	}
	free(recs);
	exlbnl_close(nl);
	if (json_out)
		json_print(out);
	else
		json_decref(out);
	return 0;
}

/* Passes what it is given to the kernel, which judges it (tests send bad keys). */
static int persist_set(int argc, char **argv)
{
	struct exlbnl_service svc;
	struct exlbnl_real real;
	uint16_t family;
	uint8_t key[32];
	uint32_t seconds;
	size_t len;
	struct exlbnl *nl;
	int err;

	if (argc != 4)
		die("persist set takes VS RS KEYHEX SECONDS");
	parse_vs(argv[0], &svc);
	family = svc.family;
	parse_rs(argv[1], &real, &family);
	len = strlen(argv[2]);
	if (len % 2 || len / 2 > sizeof(key))
		die("KEYHEX: an even number of hex digits, at most 64");
	for (size_t i = 0; i < len / 2; i++) {
		unsigned int b;

		if (sscanf(argv[2] + 2 * i, "%2x", &b) != 1 ||
		    !isxdigit((unsigned char)argv[2][2 * i]) ||
		    !isxdigit((unsigned char)argv[2][2 * i + 1]))
			die("KEYHEX: not hex: '%s'", argv[2]);
		key[i] = (uint8_t)b;
	}
	seconds = parse_num("SECONDS", argv[3], 0, UINT32_MAX);
	nl = nl_open();
	err = exlbnl_persist_set(nl, &svc, &real.addr, real.port, key, len / 2,
				 seconds);
	/* the errno too: a sync tells "not here" (ENOENT) from "bad" (EINVAL) */
	if (err)
		die("persist set: %s (%s)", exlbnl_errmsg(nl), strerror(-err));
	exlbnl_close(nl);
	return 0;
}

/* ---- main ---------------------------------------------------------- */

static bool is(const char *a, const char *b)
{
	return !strcmp(a, b);
}

int main(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (is(argv[i], "-j") || is(argv[i], "--json")) {
			json_out = true;
		} else if (is(argv[i], "-h") || is(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (is(argv[i], "--version")) {
			printf("exlbadm %s\n", EXLB_VERSION);
			return 0;
		} else {
			die("unknown option '%s' (see --help)", argv[i]);
		}
	}
	argc -= i;
	argv += i;
	if (argc < 1) {
		usage(stderr);
		return 1;
	}
	if (is(argv[0], "help")) {
		usage(stdout);
		return 0;
	}
	if (is(argv[0], "vs") && argc >= 2) {
		if (is(argv[1], "add"))
			return vs_add(argc - 2, argv + 2);
		if (is(argv[1], "mod"))
			return vs_mod(argc - 2, argv + 2);
		if (is(argv[1], "del"))
			return vs_del(argc - 2, argv + 2);
		if (is(argv[1], "show"))
			return vs_show(argc - 2, argv + 2);
	} else if (is(argv[0], "rs") && argc >= 2) {
		if (is(argv[1], "add"))
			return rs_add(argc - 2, argv + 2);
		if (is(argv[1], "mod"))
			return rs_mod(argc - 2, argv + 2, NULL);
		if (is(argv[1], "del"))
			return rs_del(argc - 2, argv + 2);
		if (is(argv[1], "enable"))
			return rs_mod(argc - 2, argv + 2, "enable=1");
		if (is(argv[1], "disable"))
			return rs_mod(argc - 2, argv + 2, "enable=0");
		if (is(argv[1], "up"))
			return rs_mod(argc - 2, argv + 2, "health=up");
		if (is(argv[1], "down"))
			return rs_mod(argc - 2, argv + 2, "health=down");
	} else if (is(argv[0], "persist") && argc >= 2) {
		if (is(argv[1], "list"))
			return persist_list(argc - 2, argv + 2);
		if (is(argv[1], "set"))
			return persist_set(argc - 2, argv + 2);
	} else if (is(argv[0], "flows")) {
		return flows(argc - 1, argv + 1);
	} else if (is(argv[0], "set")) {
		return set_globals(argc - 1, argv + 1);
	} else if (is(argv[0], "get")) {
		return get_globals(argc - 1, argv + 1);
	}
	die("unknown command '%s%s%s' (see --help)", argv[0],
	    argc >= 2 && (is(argv[0], "vs") || is(argv[0], "rs")) ? " " : "",
	    argc >= 2 && (is(argv[0], "vs") || is(argv[0], "rs")) ? argv[1] : "");
}
