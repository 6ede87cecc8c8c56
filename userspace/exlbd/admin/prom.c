// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Prometheus text exposition format 0.0.4 (prom.h). Samples of one family
 * must be written together: the caller orders them (metrics.c).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

int exlb_prom_open(struct exlb_prom *p)
{
	memset(p, 0, sizeof(*p));
	p->f = open_memstream(&p->text, &p->len);
	return p->f ? 0 : -1;
}

int exlb_prom_close(struct exlb_prom *p)
{
	int ret = fclose(p->f) ? -1 : 0;

	p->f = NULL;
	return ret;
}

void exlb_prom_escape_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

void exlb_prom_escape_help(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

void exlb_prom_sample(struct exlb_prom *p, const char *name, const char *type,
		      const char *help, const char *const *labels,
		      double value)
{
	bool first = true;

	if (strcmp(p->family, name)) {
		snprintf(p->family, sizeof(p->family), "%s", name);
		fprintf(p->f, "# HELP %s ", name);
		exlb_prom_escape_help(p->f, help);
		fprintf(p->f, "\n# TYPE %s %s\n", name, type);
	}
	fputs(name, p->f);
	for (size_t i = 0; labels && labels[i] && i < 2 * EXLB_PROM_MAX_LABELS;
	     i += 2) {
		if (!labels[i + 1] || !labels[i + 1][0])
			continue;
		fprintf(p->f, "%s%s=\"", first ? "{" : ",", labels[i]);
		exlb_prom_escape_label(p->f, labels[i + 1]);
		fputc('"', p->f);
		first = false;
	}
	if (!first)
		fputc('}', p->f);
	if (isnan(value))
		fputs(" NaN\n", p->f);
	else if (value == floor(value) && fabs(value) < 9.007199254740992e15)
		fprintf(p->f, " %.0f\n", value);
	else
		fprintf(p->f, " %.17g\n", value);
}
