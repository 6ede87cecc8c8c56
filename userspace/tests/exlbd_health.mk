# SPDX-License-Identifier: GPL-2.0 OR MIT
# exlbd's health checks against two real nginx servers in netns, through
# exlbd and exlbctl (root; exit 4 = skipped otherwise). Runs with the
# build.mk's TEST_SCRIPT_ENV (EXLBD, EXLBCTL); it starts exlbd itself, with
# health checks on, inside a namespace whose only route is its veth.
TEST_SCRIPTS += tests/exlbd-health.sh
