# SPDX-License-Identifier: GPL-2.0 OR MIT
# The health engine against real nginx, dovecot and postfix in netns (root;
# exit 4 = skipped otherwise).
TEST_SCRIPTS += tests/health-real.sh
