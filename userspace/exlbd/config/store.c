// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The durable configuration (struct exlb_store, see config.h): loading
 * STATE_DIR/config.json at start-up, and making a checked configuration
 * current only once it is on disk. Also the one atomic file writer (temp
 * file, fsync, rename, fsync of the directory) that the template store
 * (template.c) uses too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int exlb_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

int exlb_json_write_atomic(const json_t *doc, const char *dir,
			   const char *path, const char *tmp_name,
			   unsigned int mode, struct exlb_err *err)
{
	char tmp[PATH_MAX];
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int fd = -1, dfd = -1, saved;

	if (!text)
		return exlb_err_set(err, "out of memory");
	snprintf(tmp, sizeof(tmp), "%s/%s", dir, tmp_name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		goto fail;
	if (exlb_write_all(fd, text, strlen(text)) ||
	    exlb_write_all(fd, "\n", 1) || fsync(fd))
		goto fail;
	if (close(fd)) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path))
		goto fail;
	/* the rename itself is only durable once the directory is synced */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd))
		goto fail;
	close(dfd);
	free(text);
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	unlink(tmp);
	free(text);
	return exlb_err_set(err, "cannot write %s: %s", path, strerror(saved));
}

int exlb_config_write_file(const struct exlb_config *cfg, const char *dir,
			   const char *path, struct exlb_err *err)
{
	json_t *doc = exlb_config_to_json(cfg);
	int rc = exlb_json_write_atomic(doc, dir, path, "." EXLB_STATE_FILE ".tmp",
					0600, err);

	json_decref(doc);
	return rc;
}

int exlb_store_open(struct exlb_store *st, const char *state_dir,
		    struct exlb_err *err)
{
	json_error_t jerr;
	json_t *doc;
	struct exlb_err why;

	memset(st, 0, sizeof(*st));
	st->state_dir = strdup(state_dir);
	if (!st->state_dir ||
	    asprintf(&st->state_path, "%s/%s", state_dir, EXLB_STATE_FILE) < 0) {
		st->state_path = NULL;
		exlb_store_close(st);
		return exlb_err_set(err, "out of memory");
	}
	if (access(st->state_path, F_OK) && errno == ENOENT) {
		st->config = exlb_config_new();
		if (!st->config) {
			exlb_store_close(st);
			return exlb_err_set(err, "out of memory");
		}
		return 0;
	}
	doc = json_load_file(st->state_path, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		exlb_err_set(err, "%s:%d: %s", st->state_path, jerr.line, jerr.text);
		exlb_store_close(st);
		return -1;
	}
	st->config = exlb_config_from_state(doc, &why);
	json_decref(doc);
	if (!st->config) {
		exlb_err_set(err, "%s: %s", st->state_path, why.msg);
		exlb_store_close(st);
		return -1;
	}
	return 0;
}

void exlb_store_close(struct exlb_store *st)
{
	exlb_config_free(st->config);
	free(st->state_dir);
	free(st->state_path);
	memset(st, 0, sizeof(*st));
}

int exlb_store_commit(struct exlb_store *st, struct exlb_config *next,
		      const char *what, struct exlb_err *err)
{
	struct exlb_config *old;

	if (exlb_config_check(next, err) ||
	    exlb_config_write_file(next, st->state_dir, st->state_path, err)) {
		exlb_config_free(next);
		return -1;
	}
	old = st->config;
	st->config = next;
	if (what)
		exlb_log(LOG_INFO, "%s", what);
	if (st->changed)
		st->changed(st->changed_ctx, old, next);
	exlb_config_free(old);
	return 0;
}
