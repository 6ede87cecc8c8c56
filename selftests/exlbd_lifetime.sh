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
REPO=$(cd "$(dirname "$SELF")/.." && pwd)
export EXLBD=${EXLBD:-$REPO/userspace/build/exlbd}
export EXLBCTL=${EXLBCTL:-$REPO/userspace/build/exlbctl}

skip() {
	echo "TAP version 13"
	echo "1..0 # SKIP $*"
	echo "0 passed, 0 failed, 1 skipped"
	exit 4
}
[ "$(id -u)" = 0 ] || skip "needs root"

out=$(mktemp /tmp/exlbd-lifetime.XXXXXX)
EXLBD_TLS_RELAY=ktls EXLB_LIFETIME_ROUNDS=${EXLB_LIFETIME_ROUNDS:-4} \
	"$REPO/userspace/tests/exlbd-lifetime.sh" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
p=$(grep -c '^ok ' "$out")
f=$(grep -c '^not ok ' "$out")
rm -f "$out"
if [ $rc = 4 ]; then
	echo "0 passed, 0 failed, 1 skipped"
	exit 4
fi
[ $rc != 0 ] && [ "$f" = 0 ] && f=1
echo "$p passed, $f failed"
[ "$f" = 0 ]
