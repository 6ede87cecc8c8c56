// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A content or header rule's meaning (see rule_compile.h): what each rule
 * type needs, the pattern forms Kemp writes (/re/, /re/i, bare regex,
 * %2F-encoded), the PCRE2 options each match type compiles to, and the
 * replacement text in PCRE2's syntax. The configuration check and the
 * proxy's plan (l7/content.c) both compile through exlb_rule_compile(), so
 * a rule the check accepts is the rule the proxy runs.
 *
 * Every pattern, whatever its match type, becomes one pcre2_code: prefix
 * and postfix are PCRE2_LITERAL patterns anchored at the start or the end.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rule_compile.h"
#include "hex.h"

static const char *rule_type_name(unsigned int type)
{
	switch (type) {
	case EXLB_RULE_MATCH:		return "MatchContentRule";
	case EXLB_RULE_ADD_HEADER:	return "AddHeaderRule";
	case EXLB_RULE_DELETE_HEADER:	return "DeleteHeaderRule";
	case EXLB_RULE_REPLACE_HEADER:	return "ReplaceHeaderRule";
	case EXLB_RULE_MODIFY_URL:	return "ModifyURLRule";
	}
	return "?";
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int check_header_name(const struct exlb_rule *rule, struct exlb_err *err)
{
	for (const char *p = rule->header; *p; p++)
		if (!is_tchar((unsigned char)*p))
			return exlb_err_set(err,
					    "rule '%s': header: '%s' is not a header name (character '%c')",
					    rule->name, rule->header, *p);
	return 0;
}

/*
 * Text that ends up in a header value must not end the header early:
 * no CR, LF or other control characters (a tab is fine).
 */
static int check_value_text(const struct exlb_rule *rule, const char *what,
			    bool url, struct exlb_err *err)
{
	for (const char *p = rule->replacement; *p; p++) {
		unsigned char c = *p;

		if (c == 0x7f || (c < 0x20 && (url || c != '\t')) ||
		    (url && c == ' '))
			return exlb_err_set(err,
					    "rule '%s': replacement: character 0x%02x is not allowed in %s",
					    rule->name, c, what);
	}
	return 0;
}

/*
 * The pattern as the guide writes it in API calls is URL-encoded
 * ("%2F%5E%5C%2Fowa.%2A%2F" for /^\/owa.*\/). A pattern that starts with
 * "%2F" is taken to be in that form and decoded; nothing else is touched,
 * so a literal '%' in an ordinary pattern stays what it is.
 */
static int pattern_decode(const struct exlb_rule *rule, char *out, size_t *len,
			  struct exlb_err *err)
{
	const char *in = rule->pattern;
	size_t n = 0;

	if (strncasecmp(in, "%2F", 3)) {
		*len = strlen(in);
		memcpy(out, in, *len + 1);
		return 0;
	}
	for (size_t i = 0; in[i]; i++) {
		if (in[i] != '%') {
			out[n++] = in[i];
			continue;
		}
		if (exlb_hex_digit(in[i + 1]) < 0 || exlb_hex_digit(in[i + 2]) < 0)
			return exlb_err_set(err,
					    "rule '%s': pattern: bad %%-escape at offset %zu in '%s' (a pattern starting with %%2F is taken as URL-encoded)",
					    rule->name, i, in);
		out[n++] = (char)(exlb_hex_digit(in[i + 1]) * 16 + exlb_hex_digit(in[i + 2]));
		i += 2;
	}
	out[n] = '\0';
	*len = n;
	return 0;
}

/*
 * Kemp writes a regex between slashes, /^\/owa.*\/; a trailing "i" after
 * the closing slash asks for case-insensitive matching. A regex without a
 * leading slash is taken as a bare regex. Sets @expr/@exprlen to the
 * regex itself, @skip to where it starts in @pat (for error offsets).
 */
static int regex_unwrap(const struct exlb_rule *rule, char *pat, size_t len,
			const char **expr, size_t *exprlen, size_t *skip,
			uint32_t *opts, struct exlb_err *err)
{
	char *close;

	if (pat[0] != '/') {
		*expr = pat;
		*exprlen = len;
		*skip = 0;
		return 0;
	}
	close = strrchr(pat, '/');
	if (close == pat)
		goto bad;
	for (const char *f = close + 1; *f; f++) {
		if (*f != 'i')
			goto bad;
		*opts |= PCRE2_CASELESS;
	}
	*expr = pat + 1;
	*exprlen = close - pat - 1;
	*skip = 1;
	return 0;
bad:
	return exlb_err_set(err,
			    "rule '%s': pattern: a regex that starts with / must end with / (optionally followed by i), got '%s'",
			    rule->name, pat);
}

/*
 * Kemp's replacement text refers to groups as \1..\9; PCRE2 wants $1 or
 * ${1}. Accept both: \N and $N / ${N} become ${N}, "\\" is one backslash,
 * "$$" one dollar, and any other '$' a literal dollar (PCRE2 would refuse
 * it). @max_group gets the highest group named, to check against the
 * pattern's.
 */
static char *replacement_translate(const char *in, size_t *outlen,
				   unsigned long *max_group)
{
	size_t cap = strlen(in) * 4 + 1, n = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	*max_group = 0;
	for (const char *p = in; *p; p++) {
		unsigned long g;
		char *end;

		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '9') {
			g = (unsigned long)(p[1] - '0');
			p++;
		} else if (p[0] == '$' && p[1] >= '0' && p[1] <= '9') {
			g = strtoul(p + 1, &end, 10);
			p = end - 1;
		} else if (p[0] == '$' && p[1] == '{' && p[2] >= '0' &&
			   p[2] <= '9' &&
			   (g = strtoul(p + 2, &end, 10), *end == '}')) {
			p = end;
		} else {
			if (p[0] == '\\' && p[1] == '\\')
				p++;
			else if (p[0] == '$' && p[1] == '$')
				p++;
			if (*p == '$')
				out[n++] = '$';	/* "$$": a literal dollar */
			out[n++] = *p;
			continue;
		}
		if (g > 65536)
			g = 65536;	/* refused below: PCRE2 has at most 65535 groups */
		if (g > *max_group)
			*max_group = g;
		n += (size_t)snprintf(out + n, cap - n, "${%lu}", g);
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

static bool pattern_needed(const struct exlb_rule *rule)
{
	switch (rule->type) {
	case EXLB_RULE_ADD_HEADER:
		return false;
	case EXLB_RULE_DELETE_HEADER:
		return !rule->header[0];
	default:
		return true;
	}
}
static int compile_pattern(const struct exlb_rule *rule,
			   struct exlb_rule_code *out, struct exlb_err *err)
{
	char pat[sizeof(rule->pattern)];
	const char *expr;
	size_t len = 0, exprlen, skip = 0;
	uint32_t opts = 0;
	PCRE2_SIZE erroff;
	int errcode;

	if (pattern_decode(rule, pat, &len, err))
		return -1;
	if (!len)
		return exlb_err_set(err, "rule '%s': pattern: a %s needs one",
				    rule->name, rule_type_name(rule->type));
	switch (rule->matchtype) {
	case EXLB_MATCH_REGEX:
		if (regex_unwrap(rule, pat, len, &expr, &exprlen, &skip, &opts,
				 err))
			return -1;
		break;
	case EXLB_MATCH_PREFIX:
		expr = pat;
		exprlen = len;
		opts |= PCRE2_LITERAL | PCRE2_ANCHORED;
		break;
	case EXLB_MATCH_POSTFIX:
		expr = pat;
		exprlen = len;
		opts |= PCRE2_LITERAL | PCRE2_ENDANCHORED;
		break;
	default:
		return exlb_err_set(err, "rule '%s': matchtype: unknown (%u)",
				    rule->name, rule->matchtype);
	}
	/* header names are case-insensitive whatever the rule says */
	if (rule->nocase || rule->type == EXLB_RULE_DELETE_HEADER)
		opts |= PCRE2_CASELESS;

	out->code = pcre2_compile((PCRE2_SPTR)expr, exprlen, opts, &errcode,
				  &erroff, NULL);
	if (!out->code) {
		PCRE2_UCHAR why[160];

		if (pcre2_get_error_message(errcode, why, sizeof(why)) < 0)
			snprintf((char *)why, sizeof(why), "error %d", errcode);
		return exlb_err_set(err,
				    "rule '%s': pattern: %s at offset %zu in '%s'",
				    rule->name, (char *)why, (size_t)erroff + skip,
				    pat);
	}
	return 0;
}

static int compile_replacement(const struct exlb_rule *rule,
			       struct exlb_rule_code *out, struct exlb_err *err)
{
	unsigned long max_group;
	uint32_t groups = 0;

	if (rule->type == EXLB_RULE_ADD_HEADER) {
		out->replacement = strdup(rule->replacement);
		if (!out->replacement)
			return exlb_err_set(err, "rule '%s': out of memory",
					    rule->name);
		out->replacement_len = strlen(out->replacement);
		return 0;
	}
	out->replacement = replacement_translate(rule->replacement,
						 &out->replacement_len,
						 &max_group);
	if (!out->replacement)
		return exlb_err_set(err, "rule '%s': out of memory", rule->name);
	pcre2_pattern_info(out->code, PCRE2_INFO_CAPTURECOUNT, &groups);
	if (max_group > groups)
		return exlb_err_set(err,
				    "rule '%s': replacement: refers to group %lu, the pattern has %u",
				    rule->name, max_group, groups);
	return 0;
}

/* The parts that are not the pattern: type, header name, replacement text. */
static int check_fields(const struct exlb_rule *rule, struct exlb_err *err)
{
	if (rule->type > EXLB_RULE_MODIFY_URL)
		return exlb_err_set(err, "rule '%s': type: unknown (%u)",
				    rule->name, rule->type);
	if (check_header_name(rule, err))
		return -1;
	switch (rule->type) {
	case EXLB_RULE_MATCH:
		/* Kemp's pseudo-headers we cannot honour: refuse, not never-match */
		if (!strcasecmp(rule->header, "src-ip") ||
		    !strcasecmp(rule->header, "body"))
			return exlb_err_set(err,
					    "rule '%s': header: matching on '%s' is not supported",
					    rule->name, rule->header);
		break;
	case EXLB_RULE_ADD_HEADER:
	case EXLB_RULE_REPLACE_HEADER:
		if (!rule->header[0])
			return exlb_err_set(err, "rule '%s': header: a %s needs one",
					    rule->name, rule_type_name(rule->type));
		return check_value_text(rule, "a header value", false, err);
	case EXLB_RULE_MODIFY_URL:
		return check_value_text(rule, "a URL", true, err);
	default:
		break;
	}
	return 0;
}

void exlb_rule_code_free(struct exlb_rule_code *c)
{
	pcre2_code_free(c->code);
	free(c->replacement);
	memset(c, 0, sizeof(*c));
}

int exlb_rule_compile(const struct exlb_rule *rule, struct exlb_rule_code *out,
		      struct exlb_err *err)
{
	memset(out, 0, sizeof(*out));
	if (check_fields(rule, err))
		return -1;
	if (pattern_needed(rule) && compile_pattern(rule, out, err))
		goto fail;
	if ((rule->type == EXLB_RULE_ADD_HEADER ||
	     rule->type == EXLB_RULE_REPLACE_HEADER ||
	     rule->type == EXLB_RULE_MODIFY_URL) &&
	    compile_replacement(rule, out, err))
		goto fail;
	return 0;
fail:
	exlb_rule_code_free(out);
	return -1;
}

int exlb_rule_check(const struct exlb_rule *rule, struct exlb_err *err)
{
	struct exlb_rule_code code;

	/* what each type needs: AddHeader, and DeleteHeader of a named
	 * header, work without a pattern */
	switch (rule->type) {
	case EXLB_RULE_ADD_HEADER:
		if (!rule->header[0])
			return exlb_err_set(err,
					    "rule '%s': header: an AddHeaderRule needs the header to add",
					    rule->name);
		break;
	case EXLB_RULE_DELETE_HEADER:
		if (rule->header[0])
			break;
		if (!rule->pattern[0])
			return exlb_err_set(err,
					    "rule '%s': a DeleteHeaderRule needs the header to delete or a pattern of names",
					    rule->name);
		break;
	case EXLB_RULE_REPLACE_HEADER:
		if (!rule->header[0])
			return exlb_err_set(err,
					    "rule '%s': header: a ReplaceHeaderRule needs the header to change",
					    rule->name);
		/* fall through */
	default:
		if (!rule->pattern[0])
			return exlb_err_set(err, "rule '%s': pattern: must not be empty",
					    rule->name);
	}
	if (exlb_rule_compile(rule, &code, err))
		return -1;
	exlb_rule_code_free(&code);
	return 0;
}
