# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Runs a command as a child subreaper and records how orphans end.

python3 reaper.py LOG CMD [ARGS...]: runs CMD; every process orphaned below
it (an `exlbd --takeover` daemon, whose parent returned) is reparented to
this one, and when it ends a line "PID STATUS" goes to LOG (STATUS: the
exit code, or -SIGNAL). Exits with CMD's status once CMD ended and, at
most 10 s later, every orphan did.
Stdlib only; every wait is bounded.
"""
import ctypes
import os
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def main():
    log, cmd = sys.argv[1], sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0):
        print("reaper: prctl failed", file=sys.stderr)
        return 1
    pid = os.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    rc, deadline = None, None
    with open(log, "a", buffering=1) as out:
        while True:
            try:
                flags = os.WNOHANG if rc is not None else 0
                p, st = os.waitpid(-1, flags)
            except ChildProcessError:
                break
            if p == 0:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
                continue
            code = os.waitstatus_to_exitcode(st)
            if p == pid:
                rc = code
                deadline = time.monotonic() + 10
            else:
                out.write(f"{p} {code}\n")
    return rc if rc is not None and rc >= 0 else 1


if __name__ == "__main__":
    sys.exit(main())
