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
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"
export EXLBD=${EXLBD:-$REPO/userspace/build/exlbd}
export EXLBCTL=${EXLBCTL:-$REPO/userspace/build/exlbctl}

need_root
need_exlb
suite_ready

echo "TAP version 13"
EXLBD_TLS_RELAY=ktls EXLB_MAIL_EXPECT_TLS=ktls EXLB_MAIL_L4=1 \
	run_wrapped "$REPO/userspace/tests/exlbd-mail.sh"
