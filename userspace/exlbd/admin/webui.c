// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The web status page (docs/admin.md "The status page"): its three files,
 * www/index.html, webui.js and webui.css, built into exlbd with .incbin
 * (build.mk passes EXLB_WWW_DIR and rebuilds when they change), and
 * GET /status.json, the answer of ctl's "status" command -- the very
 * object `exlbctl status -j` prints, so the page and the CLI never
 * disagree. The page needs nothing else: no framework, no external asset.
 */
#define _GNU_SOURCE
#include <string.h>

#include "admin_int.h"
#include "ctl/ctl.h"

#ifndef EXLB_WWW_DIR
#error "build.mk passes EXLB_WWW_DIR, where www/ is"
#endif

/* sym[] .. sym_end[]: the bytes of www/FILE, in .rodata */
#define WWW_FILE(sym, file)						\
	__asm__(".pushsection .rodata\n"				\
		".global " #sym "\n.hidden " #sym "\n"			\
		#sym ":\n"						\
		".incbin \"" EXLB_WWW_DIR "/" file "\"\n"		\
		".global " #sym "_end\n.hidden " #sym "_end\n"		\
		#sym "_end:\n"						\
		".byte 0\n"						\
		".popsection\n");					\
	extern const char sym[], sym##_end[]

WWW_FILE(exlb_www_index_html, "index.html");
WWW_FILE(exlb_www_webui_js, "webui.js");
WWW_FILE(exlb_www_webui_css, "webui.css");

int exlb_admin_webui_file(const char *path, struct exlb_admin_file *f)
{
	const struct {
		const char *path, *type, *start, *end;
	} files[] = {
		{ "/", "text/html; charset=utf-8",
		  exlb_www_index_html, exlb_www_index_html_end },
		{ "/webui.js", "text/javascript; charset=utf-8",
		  exlb_www_webui_js, exlb_www_webui_js_end },
		{ "/webui.css", "text/css; charset=utf-8",
		  exlb_www_webui_css, exlb_www_webui_css_end },
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (strcmp(files[i].path, path))
			continue;
		f->type = files[i].type;
		f->body = files[i].start;
		f->len = (size_t)(files[i].end - files[i].start);
		return 0;
	}
	return -1;
}

char *exlb_admin_status_json(struct exlb_admin *a)
{
	json_t *req = json_pack("{ss}", "cmd", "status");
	json_t *answer = exlb_ctl_execute(a->store, a->runtime, req);
	json_t *st = json_object_get(answer, "result");
	char *text = NULL;

	json_decref(req);
	/* ensure_ascii: whatever a name holds, the bytes on the wire are ASCII */
	if (json_is_true(json_object_get(answer, "ok")) && st)
		text = json_dumps(st, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(answer);
	return text;
}
