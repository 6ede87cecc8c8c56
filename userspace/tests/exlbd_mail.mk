# SPDX-License-Identifier: GPL-2.0 OR MIT
# exlbd's STARTTLS / TLS offload mail proxy end to end against real dovecot
# and postfix in netns, real clients (root; exit 4 = skipped otherwise).
# Runs the sanitized exlbd of TEST_SCRIPT_ENV.
TEST_SCRIPTS += tests/exlbd-mail.sh
