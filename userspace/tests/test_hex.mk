# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_hex: exlbd/config/hex.h, header only: no sources, no libraries.
$(B)/tests/test_hex: exlbd/config/hex.h
