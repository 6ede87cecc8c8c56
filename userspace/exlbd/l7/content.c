// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Kemp content rules on PCRE2: a struct exlb_rule compiled for the proxy
 * (the pattern and replacement by config/rule_compile.c, the match limits
 * here), matching a request against a MatchContentRule, and turning the
 * header rules into struct exlb_http_edit. docs/content-rules.md says what
 * each rule means; this file is the how.
 *
 * Every pattern, whatever its match type, is one pcre2_code
 * (rule_compile.c): matching, header-name matching and substitution all
 * take one path and all run under the same limits.
 */
#define _GNU_SOURCE
#define PCRE2_CODE_UNIT_WIDTH 8

#include "content.h"
#include "config/rule_compile.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pcre2.h>

/* A rule name's limit hits, kept across recompilations (stats_get()). */
struct rule_stats {
	char name[EXLB_RULE_NAME_SIZE];
	char pattern[sizeof(((struct exlb_rule *)0)->pattern)];
	atomic_uint_least64_t limit_hits;
	atomic_bool logged;		/* the first hit was reported */
	struct rule_stats *next;
};

struct exlb_content_rule {
	char name[EXLB_RULE_NAME_SIZE];
	enum exlb_ruletype type;
	bool incquery, inchost, negate;
	/* MatchContentRule subject: a header, the method, or the URL */
	bool subject_method;
	char header[sizeof(((struct exlb_rule *)0)->header)];
	/* NULL when the rule needs no pattern (AddHeader, DeleteHeader by name) */
	pcre2_code *code;
	pcre2_match_context *mctx;
	/* AddHeader: the literal value; Replace/ModifyURL: PCRE2 replacement syntax */
	char *replacement;
	size_t replacement_len;
	/* the registry's record of this rule name */
	struct rule_stats *stats;
};

static atomic_uint_least64_t limit_hits_total;
static _Atomic(exlb_content_limit_fn) limit_hook;

/*
 * The registry of rule names: a compiled rule lives as long as the plan
 * that holds it, its limit hits as long as the daemon, so that a plan
 * rebuild (any configuration change) does not reset them. Records are
 * added by the thread that compiles (exlbd's main thread) under the lock
 * and never freed or unlinked: a few hundred bytes per rule name ever used.
 */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rule_stats *stats_list;

/* Under stats_lock: @name's record, made if new. NULL: no memory. */
static struct rule_stats *stats_of(const char *name)
{
	struct rule_stats *st;

	for (st = stats_list; st; st = st->next)
		if (!strcmp(st->name, name))
			return st;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	snprintf(st->name, sizeof(st->name), "%s", name);
	atomic_init(&st->limit_hits, 0);
	atomic_init(&st->logged, false);
	st->next = stats_list;
	stats_list = st;
	return st;
}

/* Under stats_lock. NULL: no memory. */
static struct rule_stats *stats_get(const struct exlb_rule *rule)
{
	struct rule_stats *st = stats_of(rule->name);

	if (!st)
		return NULL;
	/* a new pattern is a new chance to hit a limit: log its first one */
	if (strcmp(st->pattern, rule->pattern)) {
		snprintf(st->pattern, sizeof(st->pattern), "%s", rule->pattern);
		atomic_store(&st->logged, false);
	}
	return st;
}

uint64_t exlb_content_limit_hits_of(const char *rule_name)
{
	struct rule_stats *st;
	uint64_t n = 0;

	pthread_mutex_lock(&stats_lock);
	for (st = stats_list; st; st = st->next)
		if (!strcmp(st->name, rule_name))
			n = atomic_load(&st->limit_hits);
	pthread_mutex_unlock(&stats_lock);
	return n;
}

/* ---- the arena the edits' strings live in ---- */

struct exlb_content_arena_chunk {
	struct exlb_content_arena_chunk *next;
	size_t used, cap;
	char data[];
};

#define ARENA_CHUNK_SIZE	4096

void exlb_content_arena_init(struct exlb_content_arena *a)
{
	a->head = NULL;
}

void exlb_content_arena_reset(struct exlb_content_arena *a)
{
	struct exlb_content_arena_chunk *c, *next;

	if (!a->head)
		return;
	/* keep the newest chunk: the next message likely needs as much */
	for (c = a->head->next; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head->next = NULL;
	a->head->used = 0;
}

void exlb_content_arena_free(struct exlb_content_arena *a)
{
	exlb_content_arena_reset(a);
	free(a->head);
	a->head = NULL;
}

static char *arena_alloc(struct exlb_content_arena *a, size_t n)
{
	struct exlb_content_arena_chunk *c = a->head;
	char *p;

	if (!c || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK_SIZE ? n : ARENA_CHUNK_SIZE;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

char *exlb_content_arena_strndup(struct exlb_content_arena *a, const char *s,
				 size_t len)
{
	char *p = arena_alloc(a, len + 1);

	if (!p)
		return NULL;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* ---- compiling (config/rule_compile.c knows the rules) ---- */

void exlb_content_rule_free(struct exlb_content_rule *r)
{
	if (!r)
		return;
	pcre2_code_free(r->code);
	pcre2_match_context_free(r->mctx);
	free(r->replacement);
	free(r);
}

struct exlb_content_rule *exlb_content_rule_compile(const struct exlb_rule *rule,
						    struct exlb_err *err)
{
	struct exlb_content_rule *r;
	struct exlb_rule_code code;

	if (exlb_rule_compile(rule, &code, err))
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		exlb_rule_code_free(&code);
		exlb_err_set(err, "rule '%s': out of memory", rule->name);
		return NULL;
	}
	snprintf(r->name, sizeof(r->name), "%s", rule->name);
	snprintf(r->header, sizeof(r->header), "%s", rule->header);
	r->type = rule->type;
	r->negate = rule->negate;
	r->inchost = rule->inchost;
	r->incquery = rule->incquery;
	/* Kemp: a header field of "method" matches the request method */
	r->subject_method = rule->type == EXLB_RULE_MATCH &&
			    !strcasecmp(rule->header, "method");
	r->code = code.code;
	r->replacement = code.replacement;
	r->replacement_len = code.replacement_len;
	pthread_mutex_lock(&stats_lock);
	r->stats = stats_get(rule);
	pthread_mutex_unlock(&stats_lock);
	if (!r->stats) {
		exlb_err_set(err, "rule '%s': out of memory", rule->name);
		goto fail;
	}
	if (!r->code)
		return r;
	/* JIT when the platform has it; the interpreter otherwise */
	pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);
	r->mctx = pcre2_match_context_create(NULL);
	if (!r->mctx) {
		exlb_err_set(err, "rule '%s': out of memory", rule->name);
		goto fail;
	}
	pcre2_set_match_limit(r->mctx, EXLB_CONTENT_MATCH_LIMIT);
	pcre2_set_depth_limit(r->mctx, EXLB_CONTENT_DEPTH_LIMIT);
	pcre2_set_heap_limit(r->mctx, EXLB_CONTENT_HEAP_LIMIT_KIB);
	return r;
fail:
	exlb_content_rule_free(r);
	return NULL;
}

const char *exlb_content_rule_name(const struct exlb_content_rule *r)
{
	return r->name;
}

enum exlb_ruletype exlb_content_rule_type(const struct exlb_content_rule *r)
{
	return r->type;
}

/* ---- matching ---- */

uint64_t exlb_content_rule_limit_hits(const struct exlb_content_rule *r)
{
	return atomic_load(&r->stats->limit_hits);
}

uint64_t exlb_content_limit_hits_total(void)
{
	return atomic_load(&limit_hits_total);
}

void exlb_content_limit_hits_take(const char *rule_name, uint64_t hits)
{
	struct rule_stats *st;

	pthread_mutex_lock(&stats_lock);
	st = rule_name ? stats_of(rule_name) : NULL;
	if (st)
		atomic_store(&st->limit_hits, hits);
	pthread_mutex_unlock(&stats_lock);
	if (!rule_name)
		atomic_store(&limit_hits_total, hits);
}

void exlb_content_set_limit_hook(exlb_content_limit_fn fn)
{
	atomic_store(&limit_hook, fn);
}

static bool is_limit_error(int rc)
{
	return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	       rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT;
}

const char *exlb_content_limit_name(int pcre2_error)
{
	switch (pcre2_error) {
	case PCRE2_ERROR_MATCHLIMIT: return "match";
	case PCRE2_ERROR_DEPTHLIMIT: return "depth";
	case PCRE2_ERROR_HEAPLIMIT: return "heap";
	case PCRE2_ERROR_JIT_STACKLIMIT: return "JIT stack";
	default: return "unknown";
	}
}

/* A PCRE2 failure other than "no match": it counts as no match. */
static void match_failed(const struct exlb_content_rule *r, int rc)
{
	exlb_content_limit_fn fn;

	if (!is_limit_error(rc))
		return;	/* out of memory: nothing the rule did */
	/* the rule is shared and otherwise immutable; its stats are atomic */
	atomic_fetch_add(&r->stats->limit_hits, 1);
	atomic_fetch_add(&limit_hits_total, 1);
	/* once per rule name and pattern: a hot path must not flood the log */
	if (atomic_exchange(&r->stats->logged, true))
		return;
	fn = atomic_load(&limit_hook);
	if (fn)
		fn(r->name, rc);
}

static bool regex_match(const struct exlb_content_rule *r, const char *s,
			size_t len)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	int rc;

	if (!md)
		return false;
	rc = pcre2_match(r->code, (PCRE2_SPTR)(s ? s : ""), len, 0, 0, md,
			 r->mctx);
	pcre2_match_data_free(md);
	if (rc >= 0)
		return true;
	if (rc != PCRE2_ERROR_NOMATCH)
		match_failed(r, rc);
	return false;
}

/* Is @name (not NUL-terminated) header @want? */
static bool name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && !strncasecmp(name, want, len);
}

/*
 * The parts of a request target: "http://host" (absolute-form only), the
 * path, and "?query" (with its '?'). Origin-form "/p?q" has no scheme
 * part; "*" and authority-form are all path.
 */
struct target_parts {
	const char *abs;	/* "http://host", or NULL */
	size_t abs_len;
	const char *host;	/* the authority of an absolute-form target */
	size_t host_len;
	const char *path;
	size_t path_len;
	const char *query;	/* "?..." or NULL */
	size_t query_len;
};

static void target_split(const char *t, size_t len, struct target_parts *p)
{
	const char *sep = len > 3 ? memmem(t, len, "://", 3) : NULL;
	const char *q;

	memset(p, 0, sizeof(*p));
	if (sep && t[0] != '/') {
		const char *auth = sep + 3, *end = t + len, *a;

		for (a = auth; a < end && *a != '/' && *a != '?'; a++)
			;
		p->abs = t;
		p->abs_len = a - t;
		p->host = auth;
		p->host_len = a - auth;
		t = a;
		len = end - a;
	}
	q = len ? memchr(t, '?', len) : NULL;
	p->path = t;
	p->path_len = q ? (size_t)(q - t) : len;
	if (q) {
		p->query = q;
		p->query_len = len - p->path_len;
	}
}

static bool match_url(const struct exlb_content_rule *r,
		      const struct exlb_http_head *req)
{
	struct target_parts tp;
	const char *host = NULL, *path;
	size_t host_len = 0, path_len, query_len, len;
	char stackbuf[1024], *buf = stackbuf;
	bool hit;

	if (!req->target || !req->target_len)
		return false;
	target_split(req->target, req->target_len, &tp);
	path = tp.path;
	path_len = tp.path_len;
	query_len = r->incquery ? tp.query_len : 0;
	if (!path_len && tp.abs) {
		/* "http://host?q": the path of an absolute URI may be empty */
		path = "/";
		path_len = 1;
	}
	if (r->inchost) {
		/* an absolute-form target's host wins over Host (RFC 9112 3.2.2) */
		if (tp.abs) {
			host = tp.host;
			host_len = tp.host_len;
		} else {
			for (size_t i = 0; i < req->nr_headers; i++)
				if (name_is(req->headers[i].name,
					    req->headers[i].name_len, "Host")) {
					host = req->headers[i].value;
					host_len = req->headers[i].value_len;
					break;
				}
		}
	}
	/* the subject is usually a piece of the target as it is */
	if (!host_len && (!query_len || path + path_len == tp.query))
		return regex_match(r, path, path_len + query_len);

	len = host_len + path_len + query_len;
	if (len > sizeof(stackbuf)) {
		buf = malloc(len);
		if (!buf)
			return false;
	}
	if (host_len)
		memcpy(buf, host, host_len);
	memcpy(buf + host_len, path, path_len);
	if (query_len)
		memcpy(buf + host_len + path_len, tp.query, query_len);
	hit = regex_match(r, buf, len);
	if (buf != stackbuf)
		free(buf);
	return hit;
}

static bool match_header(const struct exlb_content_rule *r,
			 const struct exlb_http_head *req)
{
	/* each occurrence on its own: any one matching is a match */
	for (size_t i = 0; i < req->nr_headers; i++) {
		const struct exlb_http_header *hd = &req->headers[i];

		if (name_is(hd->name, hd->name_len, r->header) &&
		    regex_match(r, hd->value, hd->value_len))
			return true;
	}
	return false;
}

bool exlb_content_rule_match(const struct exlb_content_rule *r,
			     const struct exlb_http_head *req)
{
	bool hit;

	if (r->type != EXLB_RULE_MATCH)
		return false;
	if (r->subject_method)
		hit = req->method_name &&
		      regex_match(r, req->method_name, strlen(req->method_name));
	else if (r->header[0])
		hit = match_header(r, req);
	else
		hit = match_url(r, req);
	return hit != r->negate;
}

/* ---- header rules ---- */

/* The headers of a head as the edits so far leave them. */
struct hview {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

static struct hview *view_build(const struct exlb_http_head *h,
				const struct exlb_http_edit *edits, size_t n,
				size_t *nv)
{
	struct hview *v = malloc((h->nr_headers + n + 1) * sizeof(*v));
	size_t cnt = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < h->nr_headers; i++) {
		v[cnt].name = h->headers[i].name;
		v[cnt].name_len = h->headers[i].name_len;
		v[cnt].value = h->headers[i].value;
		v[cnt].value_len = h->headers[i].value_len;
		cnt++;
	}
	/* the same meaning http1.c gives the edits (http1.h) */
	for (size_t e = 0; e < n; e++) {
		const struct exlb_http_edit *ed = &edits[e];
		const char *value = ed->value ? ed->value : "";
		size_t out = 0;
		bool found = false;

		if (!ed->name)
			continue;	/* not an edit http1.c could apply */
		switch (ed->op) {
		case EXLB_HTTP_EDIT_ADD:
			break;
		case EXLB_HTTP_EDIT_DEL:
			for (size_t i = 0; i < cnt; i++)
				if (!name_is(v[i].name, v[i].name_len, ed->name))
					v[out++] = v[i];
			cnt = out;
			continue;
		case EXLB_HTTP_EDIT_SET:
			for (size_t i = 0; i < cnt; i++)
				if (name_is(v[i].name, v[i].name_len, ed->name)) {
					v[i].value = value;
					v[i].value_len = strlen(value);
					found = true;
				}
			if (found)
				continue;
			break;
		}
		v[cnt].name = ed->name;
		v[cnt].name_len = strlen(ed->name);
		v[cnt].value = value;
		v[cnt].value_len = strlen(value);
		cnt++;
	}
	*nv = cnt;
	return v;
}

/*
 * Runs the rule's substitution on @s[0..@len) into @arena.
 * 1 (*out, *outlen set), 0 no match, -ENOMEM.
 */
static int substitute(const struct exlb_content_rule *r, const char *s,
		      size_t len, bool global, struct exlb_content_arena *arena,
		      char **out, size_t *outlen)
{
	uint32_t opts = PCRE2_SUBSTITUTE_OVERFLOW_LENGTH |
			(global ? PCRE2_SUBSTITUTE_GLOBAL : 0);
	char stackbuf[1024], *buf = stackbuf;
	PCRE2_SIZE size = sizeof(stackbuf);
	int rc;

	if (!s)
		s = "";
	rc = pcre2_substitute(r->code, (PCRE2_SPTR)s, len, 0, opts, NULL,
			      r->mctx, (PCRE2_SPTR)r->replacement,
			      r->replacement_len, (PCRE2_UCHAR *)buf, &size);
	if (rc == PCRE2_ERROR_NOMEMORY) {
		/* size is now what it needs, with its NUL */
		buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		rc = pcre2_substitute(r->code, (PCRE2_SPTR)s, len, 0, opts,
				      NULL, r->mctx,
				      (PCRE2_SPTR)r->replacement,
				      r->replacement_len, (PCRE2_UCHAR *)buf,
				      &size);
	}
	if (rc > 0) {
		*out = exlb_content_arena_strndup(arena, buf, size);
		*outlen = size;
		rc = *out ? 1 : -ENOMEM;
	} else {
		if (rc < 0)
			match_failed(r, rc);
		rc = 0;
	}
	if (buf != stackbuf)
		free(buf);
	return rc;
}

static int apply_add(const struct exlb_content_rule *r,
		     struct exlb_http_edit *edits, size_t max, size_t *n,
		     struct exlb_content_arena *arena)
{
	const char *name, *value;

	if (*n >= max)
		return -ENOSPC;
	name = exlb_content_arena_strndup(arena, r->header, strlen(r->header));
	value = exlb_content_arena_strndup(arena, r->replacement,
					   r->replacement_len);
	if (!name || !value)
		return -ENOMEM;
	edits[(*n)++] = (struct exlb_http_edit){
		.op = EXLB_HTTP_EDIT_ADD, .name = name, .value = value,
	};
	return 1;
}

static int apply_delete(const struct exlb_content_rule *r,
			const struct hview *v, size_t nv,
			struct exlb_http_edit *edits, size_t max, size_t *n,
			struct exlb_content_arena *arena)
{
	size_t first = *n, i, k;
	char *name;

	if (r->header[0]) {
		for (i = 0; i < nv; i++)
			if (name_is(v[i].name, v[i].name_len, r->header))
				break;
		if (i == nv)
			return 0;
		if (*n >= max)
			return -ENOSPC;
		name = exlb_content_arena_strndup(arena, r->header,
						  strlen(r->header));
		if (!name)
			return -ENOMEM;
		edits[(*n)++] = (struct exlb_http_edit){
			.op = EXLB_HTTP_EDIT_DEL, .name = name,
		};
		return 1;
	}
	/* one DEL per distinct name the pattern matches */
	for (i = 0; i < nv; i++) {
		for (k = first; k < *n; k++)
			if (name_is(v[i].name, v[i].name_len, edits[k].name))
				break;
		if (k < *n || !regex_match(r, v[i].name, v[i].name_len))
			continue;
		if (*n >= max) {
			*n = first;
			return -ENOSPC;
		}
		name = exlb_content_arena_strndup(arena, v[i].name,
						  v[i].name_len);
		if (!name) {
			*n = first;
			return -ENOMEM;
		}
		edits[(*n)++] = (struct exlb_http_edit){
			.op = EXLB_HTTP_EDIT_DEL, .name = name,
		};
	}
	return *n > first;
}

static int apply_replace(const struct exlb_content_rule *r,
			 const struct hview *v, size_t nv,
			 struct exlb_http_edit *edits, size_t max, size_t *n,
			 struct exlb_content_arena *arena)
{
	size_t count = 0, changed = 0, i, k;
	const char **values, *name;
	int rc = 0;

	for (i = 0; i < nv; i++)
		if (name_is(v[i].name, v[i].name_len, r->header))
			count++;
	if (!count)
		return 0;
	values = calloc(count, sizeof(*values));
	if (!values)
		return -ENOMEM;
	for (i = 0, k = 0; i < nv; i++) {
		char *out;
		size_t outlen;

		if (!name_is(v[i].name, v[i].name_len, r->header))
			continue;
		rc = substitute(r, v[i].value, v[i].value_len, true, arena,
				&out, &outlen);
		if (rc < 0)
			goto out;
		if (rc) {
			changed++;
		} else {
			/* unchanged, but re-added below if others changed */
			out = exlb_content_arena_strndup(arena, v[i].value,
							 v[i].value_len);
			if (!out) {
				rc = -ENOMEM;
				goto out;
			}
		}
		values[k++] = out;
	}
	rc = 0;
	if (!changed)
		goto out;
	/*
	 * One occurrence: SET keeps its place. Several (each its own value):
	 * SET would give them all one value, so drop them and add them back
	 * in their order.
	 */
	if (*n + (count == 1 ? 1 : count + 1) > max) {
		rc = -ENOSPC;
		goto out;
	}
	name = exlb_content_arena_strndup(arena, r->header, strlen(r->header));
	if (!name) {
		rc = -ENOMEM;
		goto out;
	}
	if (count == 1) {
		edits[(*n)++] = (struct exlb_http_edit){
			.op = EXLB_HTTP_EDIT_SET, .name = name,
			.value = values[0],
		};
	} else {
		edits[(*n)++] = (struct exlb_http_edit){
			.op = EXLB_HTTP_EDIT_DEL, .name = name,
		};
		for (k = 0; k < count; k++)
			edits[(*n)++] = (struct exlb_http_edit){
				.op = EXLB_HTTP_EDIT_ADD, .name = name,
				.value = values[k],
			};
	}
	rc = 1;
out:
	free(values);
	return rc;
}

/*
 * ModifyURL rewrites the path (with the query when incquery), as the
 * match rules see it; an absolute-form target keeps its scheme and host,
 * and the query is kept as it was when it was not part of the subject.
 */
static int apply_modify_url(const struct exlb_content_rule *r,
			    const struct exlb_http_head *h,
			    const char **new_target,
			    struct exlb_content_arena *arena)
{
	const char *t = *new_target ? *new_target : h->target;
	size_t len = *new_target ? strlen(*new_target) : h->target_len;
	size_t sublen, outlen, keep_len, total;
	struct target_parts tp;
	char *out, *res;
	int rc;

	if (!t)
		return 0;
	target_split(t, len, &tp);
	sublen = tp.path_len + (r->incquery ? tp.query_len : 0);
	/* Kemp rewrites the first match: a URL rule replaces one thing */
	rc = substitute(r, tp.path, sublen, false, arena, &out, &outlen);
	if (rc <= 0)
		return rc;
	keep_len = r->incquery ? 0 : tp.query_len;
	if (!outlen && !tp.abs) {
		/* an origin-form target cannot be empty */
		out = "/";
		outlen = 1;
	}
	total = tp.abs_len + outlen + keep_len;
	res = arena_alloc(arena, total + 1);
	if (!res)
		return -ENOMEM;
	if (tp.abs_len)
		memcpy(res, tp.abs, tp.abs_len);
	memcpy(res + tp.abs_len, out, outlen);
	if (keep_len)
		memcpy(res + tp.abs_len + outlen, tp.query, keep_len);
	res[total] = '\0';
	*new_target = res;
	return 1;
}

int exlb_header_rule_apply(const struct exlb_content_rule *r,
			   const struct exlb_http_head *h,
			   struct exlb_http_edit *edits, size_t max, size_t *n,
			   const char **new_target,
			   struct exlb_content_arena *arena)
{
	struct hview *v;
	size_t nv;
	int rc;

	switch (r->type) {
	case EXLB_RULE_ADD_HEADER:
		return apply_add(r, edits, max, n, arena);
	case EXLB_RULE_MODIFY_URL:
		if (!new_target || h->kind != EXLB_HTTP_REQUEST)
			return 0;
		return apply_modify_url(r, h, new_target, arena);
	case EXLB_RULE_DELETE_HEADER:
	case EXLB_RULE_REPLACE_HEADER:
		break;
	default:
		return 0;
	}
	v = view_build(h, edits, *n, &nv);
	if (!v)
		return -ENOMEM;
	if (r->type == EXLB_RULE_DELETE_HEADER)
		rc = apply_delete(r, v, nv, edits, max, n, arena);
	else
		rc = apply_replace(r, v, nv, edits, max, n, arena);
	free(v);
	return rc;
}
