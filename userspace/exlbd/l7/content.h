/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Kemp content rules for the L7 proxy, on PCRE2: MatchContentRule (does a
 * request select a SubVS?) and the header rules (AddHeaderRule,
 * DeleteHeaderRule, ReplaceHeaderRule, ModifyURLRule) that turn into
 * struct exlb_http_edit for http1.c. docs/content-rules.md is the manual:
 * pattern forms, what a rule matches against, the choices made where
 * Kemp's behaviour is not documented.
 *
 * A compiled rule is immutable once built and may be shared by every
 * worker thread: matching allocates its PCRE2 match data per call. Only its
 * limit counter changes, atomically.
 *
 * Every regex runs under a match limit: a pattern that backtracks
 * catastrophically on a long subject gives up after EXLB_CONTENT_MATCH_LIMIT
 * steps. Such a match counts as no match, is counted (per rule name and in
 * total) and the first one of a rule name (and pattern) is reported to the
 * limit hook if one is set. The count of a rule name outlives its compiled
 * rules: compiling the rule again (a new proxy plan) continues it.
 */
#ifndef EXLB_CONTENT_H
#define EXLB_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "http1.h"

/* PCRE2 match limits: ~a few ms of work at most per rule and subject. */
#define EXLB_CONTENT_MATCH_LIMIT	200000
#define EXLB_CONTENT_DEPTH_LIMIT	10000
#define EXLB_CONTENT_HEAP_LIMIT_KIB	4096

struct exlb_content_rule;

/*
 * The compiled rule (a copy of what it needs: @rule may go away), or NULL +
 * @err. The pattern and replacement are config/rule_compile.c's: the
 * configuration check (exlb_rule_check()) refuses what this would.
 */
struct exlb_content_rule *exlb_content_rule_compile(const struct exlb_rule *rule,
						    struct exlb_err *err);
void exlb_content_rule_free(struct exlb_content_rule *r);

const char *exlb_content_rule_name(const struct exlb_content_rule *r);
enum exlb_ruletype exlb_content_rule_type(const struct exlb_content_rule *r);

/*
 * MatchContentRule: does request @req match @r (negate applied)? false for
 * the other rule types. Thread-safe.
 */
bool exlb_content_rule_match(const struct exlb_content_rule *r,
			     const struct exlb_http_head *req);

/* ---- header rules ---- */

/*
 * Where the strings of the edits live: a chain of chunks, so a string
 * never moves once handed out (a growing struct exlb_buf would move it).
 * Zero-initialise or exlb_content_arena_init(); one per connection or
 * per worker, reset after the head was built.
 */
struct exlb_content_arena_chunk;

struct exlb_content_arena {
	struct exlb_content_arena_chunk *head;
};

void exlb_content_arena_init(struct exlb_content_arena *a);
/* Forgets every string; keeps one chunk for the next message. */
void exlb_content_arena_reset(struct exlb_content_arena *a);
void exlb_content_arena_free(struct exlb_content_arena *a);
/* A NUL-terminated copy of @s[0..@len) in @a, or NULL (no memory). */
char *exlb_content_arena_strndup(struct exlb_content_arena *a, const char *s,
				 size_t len);

/*
 * Applies header rule @r to head @h (a request or a response): appends its
 * edits to @edits[*n..@max) and advances *n. A rule sees the head as
 * changed by the edits already in @edits[0..*n) -- rules apply in order,
 * as Kemp applies them.
 *
 * ModifyURLRule changes the request target, which is not a header:
 * @new_target is in/out. NULL on entry means "the target of @h"; a string
 * means the target as changed by earlier ModifyURL rules. When the rule
 * matches, *new_target is set to the new target (NUL-terminated, in
 * @arena). Pass @new_target = NULL for a response: ModifyURL rules then do
 * nothing.
 *
 * Returns 1 if the rule changed something, 0 if it did not apply (no
 * match, header absent, a MatchContentRule), -ENOSPC if its edits did not
 * fit (none of them appended), -ENOMEM. Every string of the edits (and
 * *new_target) is a copy in @arena: valid until the arena is reset, even
 * after @h or @r are gone.
 */
int exlb_header_rule_apply(const struct exlb_content_rule *r,
			   const struct exlb_http_head *h,
			   struct exlb_http_edit *edits, size_t max, size_t *n,
			   const char **new_target,
			   struct exlb_content_arena *arena);

/* ---- match limit accounting ---- */

/*
 * Matches under @r's name that hit a PCRE2 limit (counted as no match),
 * since the start, over every compilation of a rule of that name.
 */
uint64_t exlb_content_rule_limit_hits(const struct exlb_content_rule *r);
/* Same, by rule name: 0 for a name never compiled. Thread-safe. */
uint64_t exlb_content_limit_hits_of(const char *rule_name);
/* Same, over every rule since start. */
uint64_t exlb_content_limit_hits_total(void);
/*
 * The manager of a worker process (docs/privsep.md), which matches
 * nothing itself: the worker's figure for @rule_name (NULL: the total)
 * replaces this process's.
 */
void exlb_content_limit_hits_take(const char *rule_name, uint64_t hits);
/*
 * Called (from the worker thread that matched) on the first limit hit of a
 * rule name, and again on the first after its pattern changed -- not on
 * every hit, which a hostile client could repeat at will. Set once at
 * start-up, before workers run. NULL: no hook.
 */
typedef void (*exlb_content_limit_fn)(const char *rule_name, int pcre2_error);
void exlb_content_set_limit_hook(exlb_content_limit_fn fn);
/* "match", "depth", "heap", "JIT stack": which limit a hook's error is. */
const char *exlb_content_limit_name(int pcre2_error);

#endif
