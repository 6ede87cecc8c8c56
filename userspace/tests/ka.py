#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""One keep-alive HTTPS connection to the proxy, for exlbd-https-edges.sh.

  ka.py HOST PORT SNI THEN REQ [REQ2]

REQ is "PATH" or "PATH|Header: value". The first request is sent and its
answer printed as one JSON line ({"r1": {...}}); with THEN = wait-closed or
wait-req2 the script then waits for a line on stdin (the caller's go, once it
has seen the server close its side). Then, THEN closed / wait-closed: whether
the proxy closes the client connection within 5 s ({"closed": bool, "secs"});
THEN req2 / wait-req2: REQ2 on the same connection ({"r2": {...}} or an
"error"). The Host header is mail.example.test.
"""
import json
import socket
import ssl
import sys
import time

HOST = "mail.example.test"


def connect(host, port, sni):
    s = socket.create_connection((host, int(port)), timeout=10)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(s, server_hostname=sni)


class Reader:
    def __init__(self, s):
        self.s, self.buf = s, b""

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d


def request(s, r, req):
    path, _, extra = req.partition("|")
    head = "GET %s HTTP/1.1\r\nHost: %s\r\n" % (path, HOST)
    if extra:
        head += extra + "\r\n"
    s.sendall((head + "\r\n").encode())
    code = int(r.line().split()[1])
    h = {}
    while True:
        ln = r.line()
        if not ln:
            break
        k, v = ln.decode("latin1").split(":", 1)
        h[k.strip().lower()] = v.strip()
    body = r.exact(int(h.get("content-length", "0")))
    return {"code": code, "rs": h.get("x-rs"), "conn": h.get("x-backend-conn"),
            "req": h.get("x-backend-requests"), "client": h.get("x-seen-client"),
            "body": body.decode("latin1").strip()}


def closed_within(s, r, secs):
    if r.buf:
        return False
    s.settimeout(secs)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True
    except (socket.timeout, TimeoutError):
        return False


def out(d):
    print(json.dumps(d), flush=True)


def main():
    host, port, sni, then, req1 = sys.argv[1:6]
    req2 = sys.argv[6] if len(sys.argv) > 6 else "/"
    try:
        s = connect(host, port, sni)
        r = Reader(s)
        out({"r1": request(s, r, req1)})
    except Exception as e:
        out({"error": "%s: %s" % (type(e).__name__, e)})
        return
    if then.startswith("wait-"):
        sys.stdin.readline()
    try:
        if then.endswith("closed"):
            t0 = time.monotonic()
            c = closed_within(s, r, 5)
            out({"closed": c, "secs": round(time.monotonic() - t0, 2)})
        else:
            out({"r2": request(s, r, req2)})
    except Exception as e:
        out({"error": "%s: %s" % (type(e).__name__, e)})


main()
