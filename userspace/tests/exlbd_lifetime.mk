# SPDX-License-Identifier: GPL-2.0 OR MIT
# Connections held across configuration changes, against the ASan exlbd
# (real nginx and dovecot in network namespaces).
TEST_SCRIPTS += tests/exlbd-lifetime.sh
