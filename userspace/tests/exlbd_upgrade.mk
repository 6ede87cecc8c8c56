# SPDX-License-Identifier: GPL-2.0 OR MIT
# The seamless upgrade under load: exlbd replaced 5 times by --takeover
# against real nginx and dovecot in netns (root; exit 4 = skipped
# otherwise). Runs the sanitized exlbd of TEST_SCRIPT_ENV, with its own
# health checks (the script unsets EXLBD_NO_HEALTH_CHECKS in the LB
# namespace: its real servers exist there).
TEST_SCRIPTS += tests/exlbd-upgrade.sh
