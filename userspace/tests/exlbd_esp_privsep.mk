# SPDX-License-Identifier: GPL-2.0 OR MIT
# Privilege separation stage 3 end to end: ESP Basic logons through the
# sandboxed worker and the directory process (exlbd --worker-user), against
# slapd (tests/lib/slapd.sh) with names from tests/dnsd.py; the ASan exlbd
# with its test hooks (the directory process's forbidden system call).
TEST_SCRIPTS += tests/exlbd-esp-privsep.sh
