# SPDX-License-Identifier: GPL-2.0 OR MIT
# Privilege separation stage 2 end to end: exlbd --worker-user runs the L7
# proxy in a sandboxed worker process (real nginx in network namespaces,
# the ASan exlbd with its test hooks: the worker's forbidden system call).
TEST_SCRIPTS += tests/exlbd-privsep.sh
