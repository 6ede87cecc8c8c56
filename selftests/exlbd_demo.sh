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
REPO=${EXLB_REPO:-$(cd "$(dirname "$SELF")/.." && pwd)}
DEMO=$REPO/tools/demo/exchange.sh

skip_all() {
	echo "TAP version 13"
	echo "1..0 # SKIP $*"
	echo "0 passed, 0 failed, 1 skipped"
	exit 4
}

[[ $(id -u) == 0 ]] || skip_all "needs root"
[[ -x $DEMO ]] || skip_all "$DEMO missing"
if [[ ! -d /sys/module/exlb && -n ${EXLB_KO:-} && -f $EXLB_KO ]]; then
	insmod "$EXLB_KO" 2>&1 | sed 's/^/# /'
fi
[[ -d /sys/module/exlb ]] || skip_all "exlb module not loaded"
modprobe -q tls 2>/dev/null	# STARTTLS and HTTPS offload may use kTLS

out=$(mktemp /tmp/exlbd-demo-selftest.XXXXXX)
trap 'rm -f "$out"' EXIT
echo "TAP version 13"
start=$SECONDS
# a file and tail --pid, not a pipe: a daemon left holding the pipe open
# must not keep the test waiting after the demo ended
timeout -k 10 400 "$DEMO" --ktap >"$out" 2>&1 </dev/null &
pid=$!
tail -n +1 -f --pid=$pid "$out"
wait $pid
rc=$?
echo "# demo took $((SECONDS - start)) s, exit status $rc"

if [[ $rc == 4 ]]; then
	echo "0 passed, 0 failed, 1 skipped"
	exit 4
fi
pass=$(grep -c '^ok ' "$out")
fail=$(grep -c '^not ok ' "$out")
if [[ $rc != 0 && $fail == 0 ]]; then
	echo "not ok $((pass + 1)) - the demo exited with status $rc"
	fail=1
fi
if ((pass + fail == 0)); then
	echo "not ok 1 - the demo asserted nothing"
	fail=1
fi
echo "$pass passed, $fail failed"
((fail == 0))
