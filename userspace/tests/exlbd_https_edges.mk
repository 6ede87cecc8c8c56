# SPDX-License-Identifier: GPL-2.0 OR MIT
# Documented HTTPS proxy behaviours beyond exlbd-https.sh (ReencryptVerify,
# TLS 1.0/1.1 with Backward_compatibility, NTLM-bound connections closed with
# their server connection, the catch-all SubVS, header rules and HSTS) against
# the ASan exlbd, real nginx in network namespaces and real clients.
TEST_SCRIPTS += tests/exlbd-https-edges.sh
