# SPDX-License-Identifier: GPL-2.0 OR MIT
# The simulated Exchange servers' credential checks (lib/exchange-rs.sh's
# exrs_auth_enable and lib/exchange-auth.py: form logon with cadata, Basic
# on the other vdirs) with curl, in a network namespace named after the
# process (collides with no other test; root; exit 4 = skipped). ~10 s.
TEST_SCRIPTS += tests/exrs-auth.sh
