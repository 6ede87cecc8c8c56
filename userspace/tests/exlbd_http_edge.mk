# SPDX-License-Identifier: GPL-2.0 OR MIT
# Edges of the HTTP proxy (chunk extensions, a body's broken framing, the
# HTTP/2 preface, the access log's mode, PCRE2 limit hits) against a small
# Python server, in a private network namespace with only a loopback: no
# fixed namespace names, so it collides with no other test (root; exit 4 =
# skipped otherwise). Runs with the build.mk's TEST_SCRIPT_ENV (EXLBD,
# EXLBCTL; health checks off, which it does not need).
TEST_SCRIPTS += tests/exlbd-http-edge.sh
