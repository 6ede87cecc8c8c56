/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* The kernel type names that kmod/sched_core.h uses, for userspace builds. */
#ifndef EXLB_SCHED_CORE_USER_H
#define EXLB_SCHED_CORE_USER_H

#include <stdbool.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;

#endif
