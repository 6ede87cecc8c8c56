// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The XML writer of Kemp's REST API replies (kemp_xml.h): escaping and the
 * UTF-8 to ISO-8859-1 conversion, nothing else.
 */
#include <string.h>

#include "kemp_xml.h"

bool exlb_xml_name_ok(const char *name)
{
	if (!name || !((*name >= 'A' && *name <= 'Z') ||
		       (*name >= 'a' && *name <= 'z') || *name == '_'))
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789_-.") == strlen(name);
}

/* One UTF-8 sequence at @s: its code point and length, or -1 when invalid. */
static long utf8_next(const unsigned char *s, size_t *len)
{
	unsigned long cp, min;
	size_t n;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		*len = 1;
		return -1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*len = i;	/* the NUL or next lead byte starts again */
			return -1;
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	*len = n;
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	return (long)cp;
}

/* XML 1.0's Char production. */
static bool xml_char(long cp)
{
	return cp == 0x9 || cp == 0xa || cp == 0xd ||
	       (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
	       cp >= 0x10000;
}

void exlb_xml_text(FILE *f, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t len;

	while (s && *s) {
		long cp = utf8_next(s, &len);

		s += len;
		if (cp < 0 || !xml_char(cp))
			fputc('?', f);
		else if (cp == '&')
			fputs("&amp;", f);
		else if (cp == '<')
			fputs("&lt;", f);
		else if (cp == '>')
			fputs("&gt;", f);
		else if (cp == '"')
			fputs("&quot;", f);
		else if (cp == '\'')
			fputs("&apos;", f);
		else if (cp == '\r')
			fputs("&#13;", f);	/* parsers turn a raw CR into LF */
		else if (cp <= 0xff)
			fputc((int)cp, f);
		else
			fprintf(f, "&#x%lX;", (unsigned long)cp);
	}
}

void exlb_xml_elem(FILE *f, const char *name, const char *text)
{
	if (!exlb_xml_name_ok(name))
		return;
	if (!text || !*text) {
		fprintf(f, "<%s/>", name);
		return;
	}
	fprintf(f, "<%s>", name);
	exlb_xml_text(f, text);
	fprintf(f, "</%s>", name);
}

void exlb_xml_elem_u64(FILE *f, const char *name, uint64_t value)
{
	if (exlb_xml_name_ok(name))
		fprintf(f, "<%s>%llu</%s>", name, (unsigned long long)value, name);
}

void exlb_xml_elem_yn(FILE *f, const char *name, bool value)
{
	exlb_xml_elem(f, name, value ? "Y" : "N");
}
