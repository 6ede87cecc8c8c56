# SPDX-License-Identifier: GPL-2.0 OR MIT
# A real server drops off the network under load: retries, passive health,
# recovery by the active checks, against the ASan exlbd (real nginx,
# dovecot and postfix in network namespaces).
TEST_SCRIPTS += tests/exlbd-failover.sh
