# SPDX-License-Identifier: GPL-2.0 OR MIT
# L4 connection sync of the HA pair: exlbd runs conntrackd (tcpfailover);
# a held TCP connection through lb1 (nftables in exlb.ko's place) carries on
# through lb2 after lb1 is cut off, the cache committed before the VIPs answer.
TEST_SCRIPTS += tests/exlbd-ha-ctd.sh
