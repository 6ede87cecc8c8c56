# SPDX-License-Identifier: GPL-2.0 OR MIT
# Administrative behaviours end to end (root; exit 4 = skipped otherwise):
# the control socket's mode and group, exlbctl's exit status, bad and
# duplicate template files, certificate changes whose config.json cannot be
# written (a full tmpfs in exlbd's own mount namespace), and status with
# critical RSs against real nginx in netns. Runs the sanitized exlbd of
# TEST_SCRIPT_ENV and turns health checks on for its status part itself.
TEST_SCRIPTS += tests/exlbd-admin.sh
