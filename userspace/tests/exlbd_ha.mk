# SPDX-License-Identifier: GPL-2.0 OR MIT
# The HA pair's first stage: two exlbd nodes, each with its keepalived,
# own one VIP by VRRP; link cut and kill -9 take it to the other node
# within hatimeout (L7; real keepalived in network namespaces).
TEST_SCRIPTS += tests/exlbd-ha.sh
