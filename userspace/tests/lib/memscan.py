#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# memscan.py PID NEEDLE...: how often each NEEDLE occurs in the readable
# memory of process PID (root: /proc/PID/mem), one "NEEDLE COUNT" line
# each, then "regions=N bytes=M". Regions over 256 MiB are skipped: they
# are ASan's shadow, never the process's own data (its heap is mapped in
# small pieces). A test asserting that a secret is gone also asserts that
# something known to be there is found, so a scan that reads nothing
# cannot pass.
import sys

pid = sys.argv[1]
needles = [a.encode() for a in sys.argv[2:]]
counts = [0] * len(needles)
regions = total = 0
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        name = f[5] if len(f) > 5 else ""
        if f[1][0] != "r" or hi - lo > 256 << 20 or name.startswith("[vvar") or name == "[vsyscall]":
            continue
        try:
            mem.seek(lo)
            data = mem.read(hi - lo)
        except (OSError, ValueError, OverflowError):
            continue
        regions += 1
        total += len(data)
        for i, n in enumerate(needles):
            counts[i] += data.count(n)
for n, c in zip(sys.argv[2:], counts):
    print("%s %d" % (n, c))
print("regions=%d bytes=%d" % (regions, total))
