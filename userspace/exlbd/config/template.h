/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Virtual service templates (Kemp's "Use Template"): documents that describe
 * one VS with its companions (the port-80 redirect), SubVSs, content rules
 * and health checks with Kemp's parameter names, the operation that turns a
 * template into services of a configuration copy, and the two places
 * templates live. docs/templates.md describes the format.
 *
 * Built-in templates are the JSON files of a read-only directory (exlbd
 * --template-dir, default EXLB_TEMPLATE_DIR: what `make install` puts under
 * $(PREFIX)/share/exlb/templates); imported ones are files in
 * STATE_DIR/templates, one template per file. Templates are read from disk
 * on every request: they are few and small, and a file dropped into either
 * directory needs no restart.
 *
 * Templates are not configuration: applying one is an ordinary atomic change
 * of the configuration (a copy, checked and committed as a whole); importing
 * or deleting one only writes files.
 */
#ifndef EXLB_TEMPLATE_H
#define EXLB_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"

#define EXLB_TEMPLATE_FORMAT	"exlb-templates"
#define EXLB_TEMPLATE_VERSION	1
#define EXLB_TEMPLATE_NAME_SIZE	128
#define EXLB_TEMPLATE_SUBDIR	"templates"	/* in the state directory */
#define EXLB_TEMPLATE_MAX_VS	8		/* VSs one template creates */

#ifndef EXLB_TEMPLATE_DIR
#define EXLB_TEMPLATE_DIR	"/usr/local/share/exlb/templates"
#endif

/* The built-in directory (exlbd --template-dir); NULL = EXLB_TEMPLATE_DIR. */
void exlb_template_set_dir(const char *dir);
const char *exlb_template_dir(void);

/*
 * Every template: the built-in ones, then the imported ones. An array of
 * {name, set, description, source ("built-in"/"imported"), file, vs: [{port,
 * NickName, subvs}]}; files that cannot be read are listed in *errors (an
 * array of "FILE: why" strings; may be NULL).
 */
json_t *exlb_template_list(const char *state_dir, json_t **errors);

/*
 * The template called @name (case-insensitive): a new reference to its
 * object, with "set", "source" and "file" added. NULL + err if none.
 */
json_t *exlb_template_find(const char *state_dir, const char *name,
			   struct exlb_err *err);

/* Where and how to apply a template (exlbctl template apply / vs add template=). */
struct exlb_template_target {
	const char *vip;
	const char *port;		/* the main VS's port; NULL = the template's */
	const char *const *rs;		/* "ADDR" or "ADDR:PORT" ("[v6]:PORT") */
	size_t nr_rs;
	const char *cert;		/* CertFile of its TLS VSs; NULL = self-signed */
	json_t *params;			/* VS parameters changed on the main VS; may be NULL */
};

/*
 * Adds the services of @tmpl to @cfg (a copy): its rules (an existing rule
 * of the same name must be identical, and is shared), its VSs in order with
 * their SubVSs, the real servers (into every SubVS of the main VS, or into
 * the main VS itself) and the certificate. Refused if any VIP:PORT it needs
 * is in use. On failure @cfg is half changed: the caller drops the copy.
 * @ids gets the new VS ids in order (at most EXLB_TEMPLATE_MAX_VS), *main
 * the main VS's.
 */
int exlb_template_apply(struct exlb_config *cfg, const json_t *tmpl,
			const struct exlb_template_target *target,
			uint32_t *ids, size_t *nr_ids, uint32_t *main_id,
			struct exlb_err *err);

/* A whole document: its form, and that each template applies cleanly. */
int exlb_template_check_doc(const json_t *doc, struct exlb_err *err);

/*
 * Stores every template of @doc in STATE_DIR/templates (one file each).
 * Refused as a whole if a name is built in, or already imported without
 * @replace. *names gets the names stored.
 */
int exlb_template_import(const char *state_dir, const json_t *doc,
			 bool replace, json_t **names, struct exlb_err *err);

/* Deletes an imported template; built-in ones cannot be deleted. */
int exlb_template_delete(const char *state_dir, const char *name,
			 struct exlb_err *err);

/*
 * A document with one template named @name (NULL: the VS's nickname) that
 * recreates @vs: its parameters, SubVSs and the rules they use; not its
 * VIP, real servers or certificates.
 */
json_t *exlb_template_export(const struct exlb_config *cfg,
			     const struct exlb_service *vs, const char *name,
			     struct exlb_err *err);

#endif
