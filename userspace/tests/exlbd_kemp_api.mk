# SPDX-License-Identifier: GPL-2.0 OR MIT
# Kemp's REST API (/access/...) on the admin listener end to end: curl and
# lib/kemp_client.py against the ASan exlbd in network namespaces (no
# traffic to the real servers: TEST_SCRIPT_ENV's EXLBD_NO_HEALTH_CHECKS=1).
TEST_SCRIPTS += tests/exlbd-kemp-api.sh
