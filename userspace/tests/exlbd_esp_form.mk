# SPDX-License-Identifier: GPL-2.0 OR MIT
# ESP's form pre-authentication end to end: slapd (tests/lib/slapd.sh) as
# the directory, a logging python server as the real server, the ASan
# exlbd in namespaces. About 75 s: it waits out a 60 s idle timeout.
TEST_SCRIPTS += tests/exlbd-esp-form.sh
