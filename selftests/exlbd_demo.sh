#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The Exchange demo (README command one, tools/demo/exchange.sh) as a test,
# inside the test VM with exlb.ko loaded: two simulated Exchange servers
# (nginx with the nine vdirs, dovecot, postfix), exlbd applying Kemp's
# Exchange 2013 templates (HTTPS Offloaded with a generated certificate,
# IMAP and SMTP with STARTTLS, POP served by exlb.ko), real clients, OWA
# failing on exch1, then all of exch1 with connections held open.
#
# Every step of the demo asserts what it shows (the right server answered,
# the status table, the health verdicts within their bounds, the held
# connections reset within 45 s, the new connections on exch2, non-zero
# per-RS counters); the demo prints them as KTAP with --ktap. This wrapper
# loads what the guest cannot autoload, passes the KTAP through and ends
# with the "N passed, N failed[, N skipped]" line selftests/Makefile adds up.
# Exit 0 all passed, 1 a failure, 4 skipped (not root, exlb.ko not loaded,
# exlbd/exlbctl not built, a tool missing). EXLB_DEMO_MAIL=plain runs the
# plain IMAP/SMTP templates instead of the STARTTLS ones.

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"
DEMO=$REPO/tools/demo/exchange.sh

need_root
need_built "$DEMO"
need_exlb
suite_ready
modprobe -q tls 2>/dev/null	# STARTTLS and HTTPS offload may use kTLS

echo "TAP version 13"
run_wrapped timeout -k 10 400 "$DEMO" --ktap
