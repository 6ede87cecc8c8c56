# SPDX-License-Identifier: GPL-2.0 OR MIT
# The admin listener and Prometheus /metrics end to end (real nginx in
# network namespaces, the ASan exlbd, promtool from Debian's prometheus).
TEST_SCRIPTS += tests/exlbd-metrics.sh
