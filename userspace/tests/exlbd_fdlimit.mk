# SPDX-License-Identifier: GPL-2.0 OR MIT
# exlbd at its descriptor limit (1,500 connections against RLIMIT_NOFILE
# 1,024) and its control socket held by idle clients, against one nginx in
# netns (root; exit 4 = skipped otherwise). Runs the sanitized exlbd of
# build.mk's TEST_SCRIPT_ENV; it starts exlbd itself, with health checks on,
# inside a namespace whose only routes are its own links. About 80 s.
TEST_SCRIPTS += tests/exlbd-fdlimit.sh
