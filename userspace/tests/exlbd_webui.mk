# SPDX-License-Identifier: GPL-2.0 OR MIT
# The admin listener's status page end to end in headless Chromium (real
# nginx in network namespaces, the ASan exlbd with its health checks on);
# screenshots under build/artifacts/webui/.
TEST_SCRIPTS += tests/exlbd-webui.sh
