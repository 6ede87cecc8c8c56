# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Many new HTTPS connections at once, for exlbd-upgrade.sh.

python3 tlsload.py HOST PORT SNI PATH STOPFILE THREADS SECONDS: each thread
opens a connection, sends two GETs of PATH on it (keep-alive; a new one
for the second when the first answer says Connection: close), closes it,
and starts over, as fast as it can, until STOPFILE exists or SECONDS
passed (each thread at most 100000 connections, each socket with a 10 s
timeout). Prints one JSON object: {"conns": N, "ok": N, "failed": N,
"close": N, "errors": {"why": count}}; a request is ok when it got status
200; "close" counts the answers that said Connection: close.
Stdlib only.
"""
import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time


def main():
    host, port, sni, path, stop = sys.argv[1:6]
    threads, seconds = int(sys.argv[6]), float(sys.argv[7])
    port = int(port)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    end = time.monotonic() + seconds
    lock = threading.Lock()
    tot = {"conns": 0, "ok": 0, "failed": 0, "close": 0, "errors": {}}

    def fail(why, n):
        with lock:
            tot["failed"] += n
            tot["errors"][why] = tot["errors"].get(why, 0) + n

    def run():
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, sni)).encode()
        for _ in range(100000):
            if time.monotonic() > end or os.path.exists(stop):
                return
            done = 0
            s = None
            try:
                for _ in range(2):
                    if s is None:
                        raw = socket.create_connection((host, port), timeout=10)
                        s = ctx.wrap_socket(raw, server_hostname=sni)
                        with lock:
                            tot["conns"] += 1
                    s.sendall(req)
                    r = http.client.HTTPResponse(s)
                    r.begin()
                    r.read()
                    done += 1
                    if r.will_close:  # Connection: close, as HTTP says
                        s.close()
                        s = None
                        with lock:
                            tot["close"] += 1
                    if r.status != 200:
                        fail("status %d" % r.status, 1)
                    else:
                        with lock:
                            tot["ok"] += 1
            except Exception as e:  # noqa: BLE001 - counted, not raised
                fail(type(e).__name__ + ": " + str(e)[:60], 2 - done)
            finally:
                if s is not None:
                    s.close()

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps(tot), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
