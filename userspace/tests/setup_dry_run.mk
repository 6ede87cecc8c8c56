# SPDX-License-Identifier: GPL-2.0
# tools/setup.sh --dry-run: the real path's steps, refusals, the demo path
# (no root, nothing installed or run: stubs record any command).
TEST_SCRIPTS += tests/setup-dry-run.sh
