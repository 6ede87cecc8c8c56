/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Compiling a content or header rule (struct exlb_rule) with PCRE2: the
 * one place that knows the pattern forms, the PCRE2 options of each match
 * type and the replacement syntax. config.c checks rules with it and the
 * proxy (l7/content.c) builds its compiled rules from it.
 * docs/content-rules.md is the manual.
 */
#ifndef EXLB_RULE_COMPILE_H
#define EXLB_RULE_COMPILE_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "config.h"

/* A rule as the proxy runs it. */
struct exlb_rule_code {
	/* NULL when the rule needs no pattern (AddHeader, DeleteHeader by name) */
	pcre2_code *code;
	/* AddHeader: the literal value; Replace/ModifyURL: PCRE2 replacement
	 * syntax; NULL for the other types */
	char *replacement;
	size_t replacement_len;
};

/*
 * Checks @rule's fields (type, header name, replacement text), decodes and
 * compiles its pattern with the options of its match type, translates its
 * replacement. 0 with @out filled (exlb_rule_code_free()), or -1 with one
 * line in @err and nothing to free, e.g.
 * "rule 'owa': pattern: missing terminating ] for character class at offset 3 in '/[ab/'".
 */
int exlb_rule_compile(const struct exlb_rule *rule, struct exlb_rule_code *out,
		      struct exlb_err *err);
void exlb_rule_code_free(struct exlb_rule_code *c);

/*
 * A configuration's check of @rule: what each rule type needs, then
 * exlb_rule_compile(). 0, or -1 with one line in @err.
 */
int exlb_rule_check(const struct exlb_rule *rule, struct exlb_err *err);

#endif
