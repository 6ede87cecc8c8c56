# SPDX-License-Identifier: GPL-2.0 OR MIT
# ESP's form logon passed on to Exchange's form (OutputAuthMode=2) end to
# end: slapd (tests/lib/slapd.sh) as the directory, the simulated Exchange
# server of tests/lib/exchange-rs.sh checking credentials, the ASan exlbd
# in namespaces, headless Chromium walking it when it runs. About 25 s.
TEST_SCRIPTS += tests/exlbd-esp-owa.sh
