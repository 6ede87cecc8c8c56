#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# exlbd's mail paths inside the VM, with exlb.ko loaded and the kernel's tls
# module: userspace/tests/exlbd-mail.sh (real dovecot + postfix, real
# clients) run with
#   EXLBD_TLS_RELAY=ktls, EXLB_MAIL_EXPECT_TLS=ktls: STARTTLS and TLS
#       offload sessions hand their record layer to the kernel (every
#       completed session's access log line says tls=ktls, and
#       /proc/net/tls_stat of the LB namespace counts them);
#   EXLB_MAIL_L4=1: exlbd programs exlb.ko (no --no-kernel) and the guide's
#       passthrough and plain VSs (IMAP 143, IMAPS 993, POP 110, POPS 995,
#       SMTP 25 with Persist src 3600 s, SMTPS 465; SubnetOriginating) are
#       served by the module with the servers' own TLS.
# KTAP on stdout, last line "N passed, N failed"; exit 0 all passed, 1 a
# failure, 4 skipped (not root, exlb not loaded, a tool missing).
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
[ -d /sys/module/exlb ] || skip "exlb.ko not loaded"

out=$(mktemp /tmp/exlbd-mail.XXXXXX)
echo "TAP version 13"
# streamed: a slow (TCG) VM shows its progress
EXLBD_TLS_RELAY=ktls EXLB_MAIL_EXPECT_TLS=ktls EXLB_MAIL_L4=1 \
	"$REPO/userspace/tests/exlbd-mail.sh" 2>&1 | tee "$out"
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
