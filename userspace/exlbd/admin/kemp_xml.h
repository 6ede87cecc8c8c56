/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The little XML that Kemp's REST API answers in (kemp_api.c): elements
 * with text, written to a stdio stream. Kemp declares its replies
 * ISO-8859-1, so text is written in that encoding: exlb's strings are
 * UTF-8, a character above U+00FF becomes a character reference, bytes
 * that are not UTF-8 and characters XML 1.0 forbids become '?'.
 */
#ifndef EXLB_KEMP_XML_H
#define EXLB_KEMP_XML_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define EXLB_KEMP_XML_DECL "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"

/* @name is an XML name made of ASCII letters, digits, '_', '-', '.'. */
bool exlb_xml_name_ok(const char *name);
/* @text (UTF-8) as element content or attribute value. */
void exlb_xml_text(FILE *f, const char *text);
/* <name>text</name>; @name must pass exlb_xml_name_ok() (else skipped). */
void exlb_xml_elem(FILE *f, const char *name, const char *text);
void exlb_xml_elem_u64(FILE *f, const char *name, uint64_t value);
/* Kemp's booleans: Y or N. */
void exlb_xml_elem_yn(FILE *f, const char *name, bool value);

#endif
