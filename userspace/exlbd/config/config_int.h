/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the files of the configuration model share and nobody else uses:
 * config.c's helpers for the JSON reader (json.c), the whole-configuration
 * checks (check.c) and the runtime records (runtime.c).
 */
#ifndef EXLB_CONFIG_INT_H
#define EXLB_CONFIG_INT_H

#include "config.h"

/* Grows an array by one zeroed element; NULL if out of memory. */
void *exlb_array_append(void **array, size_t *count, size_t size);
/* Whether @word is in the NULL-terminated @list (case-insensitive). */
bool exlb_word_in(const char *const *list, const char *word);
/*
 * Applies @params (name -> value) to @obj of @scope, all or nothing. Keys
 * in @skip are the caller's own (actions such as addtoallsubvs).
 */
int exlb_apply_params(unsigned int scope, void *obj, size_t size,
		      const json_t *params, const char *const *skip,
		      struct exlb_err *err);
/* The RS of @service_id at @addr:@port other than @except_id, or NULL. */
struct exlb_rs *exlb_rs_find_exact(const struct exlb_config *cfg,
				   uint32_t service_id,
				   const struct exlb_addr *addr,
				   unsigned int port, uint32_t except_id);

#endif
