# SPDX-License-Identifier: GPL-2.0 OR MIT
# ESP's Basic pre-authentication end to end: slapd (tests/lib/slapd.sh) as
# the directory, nginx as the real server, the ASan exlbd in namespaces.
TEST_SCRIPTS += tests/exlbd-esp-basic.sh
