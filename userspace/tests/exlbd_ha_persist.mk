# SPDX-License-Identifier: GPL-2.0 OR MIT
# Persistence sync of the HA pair: L7 source-IP persistence records of the
# active node reach the standby, so each client keeps its real server
# across a failover (two exlbd nodes with keepalived in namespaces).
TEST_SCRIPTS += tests/exlbd-ha-persist.sh
