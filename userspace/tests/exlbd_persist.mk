# SPDX-License-Identifier: GPL-2.0 OR MIT
# L7 source-IP persistence end to end (real nginx in network namespaces,
# the ASan exlbd).
TEST_SCRIPTS += tests/exlbd-persist.sh
