# SPDX-License-Identifier: GPL-2.0 OR MIT
# The Edge Security Pack's gates end to end: HTTP path and Host tricks
# against nginx, SMTPAllowedDomains against postfix, plain and after
# STARTTLS (real servers in network namespaces, the ASan exlbd).
TEST_SCRIPTS += tests/exlbd-esp-gate.sh
