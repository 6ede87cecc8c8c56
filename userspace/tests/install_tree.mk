# SPDX-License-Identifier: GPL-2.0
# make install / make uninstall into a DESTDIR, the unit checked by
# systemd-analyze verify (no root; exlb.ko is built as `make` does).
TEST_SCRIPTS += tests/install-tree.sh
