#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Connections held across configuration changes, inside the VM with the
# kernel's tls module: userspace/tests/exlbd-lifetime.sh run against the
# release exlbd with EXLBD_TLS_RELAY=ktls, where a session's SSL is freed
# once the kernel has its keys both ways (a path the host, without kTLS,
# never takes). Four rounds: CipherSet, certificate, rule and real server
# changes once each.
# KTAP on stdout, last line "N passed, N failed"; exit 0 all passed, 1 a
# failure, 4 skipped (not root, a tool missing).
# EXLBD, EXLBCTL name the binaries (default userspace/build/...).

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"
export EXLBD=${EXLBD:-$REPO/userspace/build/exlbd}
export EXLBCTL=${EXLBCTL:-$REPO/userspace/build/exlbctl}

need_root
suite_ready

EXLBD_TLS_RELAY=ktls EXLB_LIFETIME_ROUNDS=${EXLB_LIFETIME_ROUNDS:-4} \
	run_wrapped "$REPO/userspace/tests/exlbd-lifetime.sh"
