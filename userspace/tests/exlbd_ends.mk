# SPDX-License-Identifier: GPL-2.0 OR MIT
# How the proxy ends connections: the 15 s handshake / head limits,
# Idletime and conntimeout, drain, dropatdrainend, droponfail, the mail
# temporary errors -- against the ASan exlbd, real nginx, dovecot, postfix.
TEST_SCRIPTS += tests/exlbd-ends.sh
