# SPDX-License-Identifier: GPL-2.0 OR MIT
# Configuration sync of the HA pair: two exlbd nodes with keepalived in
# network namespaces; changes on the active node reach the standby within
# 2 s over TLS with the pair secret, the standby refuses local changes.
TEST_SCRIPTS += tests/exlbd-ha-sync.sh
