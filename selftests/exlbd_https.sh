#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# exlbd's L7 HTTPS proxy on the kTLS path, inside the test VM (the host has
# no kTLS): the scenarios of userspace/tests/exlbd-https.sh (content
# switching over nine SubVSs, SNI, TLS versions and cipher sets, NTLM
# binding, streaming 200 MB, a 50 MB upload, smuggling attempts, health
# failover, droponfail, the access log), run with
#
#   EXLBD_TLS_RELAY=ktls        exlbd installs kTLS after each handshake
#   EXLB_HTTPS_EXPECT_TLS=ktls  every TLS request's access log line must say
#                               tls=ktls, and /proc/net/tls_stat of the LB
#                               namespace must show TlsTxSw and TlsRxSw rise
#                               (TLS 1.3: transmit only with OpenSSL 3.0, so
#                               the upload runs over TLS 1.2), none left open
#                               (TlsCurrTxSw/TlsCurrRxSw 0 after exlbd exits)
#                               and no TlsDecryptError
#
# The scenarios live in that one script; this wrapper only loads tls.ko
# (the guest cannot autoload), passes its TAP lines through and ends with
# the "N passed, N failed[, N skipped]" line selftests/Makefile adds up.
# Exit 0 all passed, 1 a failure (no kTLS is one), 4 skipped (not root, a
# tool missing, exlbd/exlbctl not built). EXLBD, EXLBCTL name the binaries
# (default userspace/build/); EXLB_HTTPS_BIG_MB shrinks the streamed file.
# exlb.ko is not needed: the proxy runs with --no-kernel.

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"
export EXLBD=${EXLBD:-$REPO/userspace/build/exlbd}
export EXLBCTL=${EXLBCTL:-$REPO/userspace/build/exlbctl}
export EXLBD_TLS_RELAY=ktls EXLB_HTTPS_EXPECT_TLS=ktls
TEST=$REPO/userspace/tests/exlbd-https.sh

need_root
need_built "$TEST"
suite_ready
# The VM has the tls module (tools/vm/run loads it): without it this suite
# would prove nothing about the kTLS path, so that is a failure, not a skip.
modprobe tls 2>/dev/null
if [[ ! -r /proc/net/tls_stat ]]; then
	echo "TAP version 13"
	echo "not ok 1 - kTLS available (modprobe tls failed and /proc/net/tls_stat is absent)"
	echo "1..1"
	echo "0 passed, 1 failed"
	exit 1
fi

run_wrapped "$TEST"
