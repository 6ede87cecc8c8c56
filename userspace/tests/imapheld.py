# SPDX-License-Identifier: GPL-2.0 OR MIT
"""One IMAP session held open through a STARTTLS VS (exlbd-upgrade.sh).

python3 imapheld.py HOST PORT: connects, STARTTLS, logs in as alice/secret
and prints "ready"; then for every line on stdin: "cmd" runs NOOP, SELECT
INBOX and a STATUS on the same session and prints "ok N" (N: commands so
far) or "fail REASON"; "logout" logs out and prints "bye" (or "fail ...").
Every socket operation has a timeout; it ends at EOF. Stdlib only.
"""
import imaplib
import ssl
import sys

USER, PASS = "alice", "secret"


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        m = imaplib.IMAP4(host, port, timeout=15)
        m.starttls(ssl_context=ctx)
        m.login(USER, PASS)
    except Exception as e:  # noqa: BLE001 - reported, not raised
        print("fail", repr(e).replace("\n", " "), flush=True)
        return 1
    print("ready", flush=True)
    n = 0
    for line in sys.stdin:
        line = line.strip()
        try:
            if line == "cmd":
                for typ, _ in (m.noop(), m.select("INBOX"),
                               m.status("INBOX", "(MESSAGES)")):
                    if typ != "OK":
                        raise RuntimeError(typ)
                    n += 1
                print("ok", n, flush=True)
            elif line == "logout":
                typ, _ = m.logout()
                print("bye" if typ == "BYE" else "fail " + typ, flush=True)
                return 0
        except Exception as e:  # noqa: BLE001
            print("fail", repr(e).replace("\n", " "), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
