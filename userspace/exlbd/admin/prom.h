/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Prometheus text exposition format 0.0.4 into a growing buffer: a family's
 * HELP and TYPE lines once, then its samples, label values and HELP text
 * escaped as the format says (backslash, double quote and line feed in a
 * label value; backslash and line feed in HELP).
 */
#ifndef EXLB_PROM_H
#define EXLB_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define EXLB_PROM_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"
#define EXLB_PROM_MAX_LABELS	6

struct exlb_prom {
	FILE *f;		/* open_memstream() over text/len */
	char *text;
	size_t len;
	char family[128];	/* the last family whose HELP/TYPE was written */
};

/* 0, or -1 (no memory). */
int exlb_prom_open(struct exlb_prom *p);
/* Ends the text: p->text holds p->len bytes, the caller frees it. 0 or -1. */
int exlb_prom_close(struct exlb_prom *p);

/*
 * One sample of family @name (type "counter" or "gauge"): the HELP and TYPE
 * lines come first when @name differs from the previous sample's. @labels
 * is name, value, name, value, ..., NULL; a NULL or empty value leaves the
 * label out (the format treats an empty value as no label).
 */
void exlb_prom_sample(struct exlb_prom *p, const char *name, const char *type,
		      const char *help, const char *const *labels,
		      double value);

/* Writes @s as a label value, escaped, into @f (for the tests too). */
void exlb_prom_escape_label(FILE *f, const char *s);
void exlb_prom_escape_help(FILE *f, const char *s);

#endif
