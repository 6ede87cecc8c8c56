/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The Kemp parameter table: every parameter exlb accepts, by Kemp's name,
 * with its aliases, type, range or value codes, default and the objects it
 * applies to. One table drives parsing, validation, error messages, the JSON
 * keys of the state file and what `exlbctl ... show` prints, so a parameter
 * is added in exactly one place (params.c).
 *
 * Every numeric, boolean or coded value is stored in an `unsigned int` field
 * of its object; strings in a fixed char array (objects stay plain data, so a
 * configuration is copied with memcpy for atomic changes).
 */
#ifndef EXLB_PARAMS_H
#define EXLB_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which object a parameter belongs to; bits so one entry can serve VS and SubVS. */
enum exlb_scope {
	EXLB_SCOPE_GLOBAL = 1U << 0,	/* struct exlb_globals */
	EXLB_SCOPE_VS = 1U << 1,	/* struct exlb_service, a top-level VS */
	EXLB_SCOPE_SUBVS = 1U << 2,	/* struct exlb_service, a SubVS */
	EXLB_SCOPE_RS = 1U << 3,	/* struct exlb_rs */
	EXLB_SCOPE_RULE = 1U << 4,	/* struct exlb_rule */
	EXLB_SCOPE_SSO = 1U << 5,	/* struct exlb_sso_domain (exlbctl sso) */
};

#define EXLB_SCOPE_SERVICE (EXLB_SCOPE_VS | EXLB_SCOPE_SUBVS)

enum exlb_param_type {
	EXLB_PT_BOOL,		/* 0 or 1 */
	EXLB_PT_UINT,		/* min..max (or 0, with EXLB_PF_ZERO_OR_RANGE) */
	EXLB_PT_ENUM,		/* one of codes[] */
	EXLB_PT_STRING,		/* up to size - 1 printable characters */
};

enum exlb_param_flag {
	EXLB_PF_ZERO_OR_RANGE = 1U << 0,	/* 0, or min..max */
	EXLB_PF_MINUTES = 1U << 1,	/* rounded down to minutes; < 60 = 0 */
	EXLB_PF_NUMERIC_CODE = 1U << 2,	/* Kemp's code is a number: JSON has the number */
	EXLB_PF_NOT_ACTED = 1U << 3,	/* stored and shown, inert: acts only with EspEnabled=1 */
	EXLB_PF_INHERIT = 1U << 4,	/* 0 = inherit (VS, then global); 0 is left out of JSON */
	EXLB_PF_SECRET = 1U << 5,	/* a secret: in the state file, never shown */
};

struct exlb_param_code {
	const char *name;	/* canonical code, e.g. "lc", or "1" for numeric codes */
	unsigned int value;	/* what the object field holds */
	const char *aliases;	/* other accepted spellings, space separated */
	const char *label;	/* what it means, for show and help */
};

struct exlb_param;

/* Extra validation of a string; returns false with a "must be ..." phrase. */
typedef bool (*exlb_param_check_fn)(const char *value, char *why, size_t n);

struct exlb_param {
	const char *name;	/* Kemp's spelling: JSON key and show */
	const char *aliases;	/* other accepted names, space separated */
	enum exlb_param_type type;
	unsigned int scope;	/* EXLB_SCOPE_* it applies to */
	unsigned int flags;	/* EXLB_PF_* */
	size_t offset;		/* of the field in the scope's struct */
	size_t size;		/* EXLB_PT_STRING: the array size */
	unsigned int min, max;	/* EXLB_PT_UINT */
	const char *unit;	/* "seconds", ... for messages */
	const struct exlb_param_code *codes;	/* EXLB_PT_ENUM, NULL-terminated */
	const char *def;	/* default as text; NULL = set by the caller */
	exlb_param_check_fn check;
	const char *help;
	/*
	 * A security feature exlb does not implement yet: any value but 0
	 * (BOOL, UINT, ENUM) is refused by the whole-configuration check with
	 * this text, rather than stored and ignored (fail closed).
	 */
	const char *refused;
};

extern const struct exlb_param exlb_params[];
extern const size_t exlb_nr_params;

/* "VS", "SubVS", "RS", "rule", "global": for messages. */
const char *exlb_scope_name(unsigned int scope);

/*
 * The parameter called @name (case-insensitive, aliases too) for @scope.
 * NULL if none; *other_scope then says whether the name exists for another
 * object (so the error can say "not a SubVS parameter").
 */
const struct exlb_param *exlb_param_find(const char *name, unsigned int scope,
					 const struct exlb_param **other_scope);

/*
 * AltSourceAddrs: the addresses of @family (AF_UNSPEC: of either) in the
 * comma-separated @list, into @out (at most @max, raw network order, 16
 * bytes each, IPv4 in the first 4). Returns how many, or -1 with @why set
 * (bad address, too many, twice the same).
 */
int exlb_alt_source_parse(const char *list, int family, uint8_t (*out)[16],
			  size_t max, char *why, size_t n);

/*
 * Parses @text and stores it into @obj (the scope's struct). On error returns
 * false and writes one line naming the parameter and its allowed values into
 * @err, leaving @obj unchanged.
 */
bool exlb_param_set(const struct exlb_param *p, void *obj, const char *text,
		    char *err, size_t n);

/*
 * The first parameter of @scope whose value in @obj is refused (its
 * ->refused is set and the value is not 0), or NULL. Cheap and free of
 * shared state: the data plane asks it too.
 */
const struct exlb_param *exlb_params_refused(unsigned int scope,
					     const void *obj);

struct exlb_service;
/*
 * Edge Security Pack (docs/esp.md): whether every ESP setting of @svc (a VS,
 * or a SubVS) is enforced by exlb, given @vs, the VS it belongs to (@svc
 * itself for a VS). The accepted set lives in this one function (params.c):
 * false and why (one line) in @why otherwise.
 */
bool esp_settings_enforced(const struct exlb_service *svc,
			   const struct exlb_service *vs, char *why, size_t n);
/*
 * Fail closed: true when @svc has EspEnabled=1 and esp_settings_enforced()
 * says no (or its VS is unknown), with "EspEnabled=1: why" in @why.
 */
bool exlb_esp_refused(const struct exlb_service *svc,
		      const struct exlb_service *vs, char *why, size_t n);

/* Sets every parameter of @scope that has a default. */
void exlb_params_defaults(unsigned int scope, void *obj);

/* The stored value as text: the Kemp code ("lc", "1", "/owa/..."). */
void exlb_param_format(const struct exlb_param *p, const void *obj,
		       char *buf, size_t n);

/* The label of a coded value ("HEAD" for CheckUseGet 0), or NULL. */
const char *exlb_param_label(const struct exlb_param *p, const void *obj);

/* Numeric value of an unsigned field (BOOL, UINT, ENUM). */
unsigned int exlb_param_uint(const struct exlb_param *p, const void *obj);

/* Is the stored value the default? (show prints defaults only on request) */
bool exlb_param_is_default(const struct exlb_param *p, const void *obj);

/* "must be one of rr, wrr, lc, wlc" and the like: the allowed values. */
void exlb_param_describe(const struct exlb_param *p, char *buf, size_t n);

/* Value checks shared with config.c. */
bool exlb_check_nickname(const char *value, char *why, size_t n);
bool exlb_check_rule_name(const char *value, char *why, size_t n);
/* A certificate name: [A-Za-z0-9._-]{1,64}, not starting with '.'. */
bool exlb_check_cert_name(const char *value, char *why, size_t n);
/*
 * An SSO domain's server list: up to EXLB_SSO_MAX_SERVERS "host[:port]"
 * ("[v6]:port") separated by spaces. esp/ldap.c reads it with the same
 * splitter (exlb_sso_server_next()).
 */
bool exlb_check_sso_servers(const char *value, char *why, size_t n);
/*
 * The next server of @list after *@pos: copies "host[:port]" into @out and
 * advances *@pos; false at the end (or if one does not fit @out).
 */
bool exlb_sso_server_next(const char *list, size_t *pos, char *out, size_t n);

#endif
