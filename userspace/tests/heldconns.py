#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Connections held across a configuration change, for exlbd-lifetime.sh.

    heldconns.py VIP COUNT SNI

Opens COUNT connections in each phase below, prints "ready N" (N = how many
are held), waits for a line on stdin, then finishes every one of them and
prints one JSON object: for each phase, how many finished as they must and
the first error seen. Every wait is bounded (10 s a step).

Phases (what exlbd is in the middle of when the change lands):
  hello      TCP to :443, no ClientHello sent yet
  handshake  :443, ClientHello answered, the client's Finished not sent
  head       :443, half a request head sent
  body       :443, a POST /ews/echo with half its body sent
  keepalive  :443, one request answered, the connection idle
  tunnel     :993 (IMAPS offloaded), TLS done, IMAP greeting read
  tunnel_hello  :993, no ClientHello sent yet
  starttls   :143 (IMAP STARTTLS), greeting and CAPABILITY done, plain
Finishing means: the request is answered 200 by a server (the body's length
echoed for "body"), or IMAP STARTTLS + LOGIN (or LOGIN in the tunnel)
answers OK.
"""
import json
import select
import socket
import ssl
import sys

VIP, COUNT, SNI = sys.argv[1], int(sys.argv[2]), sys.argv[3]
STEP = 10.0
USER, PASSWORD = "alice", "secret"


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


CTX = client_ctx()


def tcp(port):
    s = socket.create_connection((VIP, port), timeout=STEP)
    s.settimeout(STEP)
    return s


def tls(s):
    return CTX.wrap_socket(s, server_hostname=SNI)


def http_answer(s):
    """Reads one response; returns (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("closed before the response head")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for h in lines[1:]:
        k, _, v = h.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("closed in the response body")
        body += chunk
    return status, body[:length]


def get(s, path):
    s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), SNI.encode()))
    return http_answer(s)


def imap_line(s, buf):
    while b"\r\n" not in buf[0]:
        chunk = s.recv(4096)
        if not chunk:
            raise EOFError("IMAP connection closed")
        buf[0] += chunk
    line, buf[0] = buf[0].split(b"\r\n", 1)
    return line.decode("latin-1")


def imap_cmd(s, buf, tag, cmd):
    s.sendall(b"%s %s\r\n" % (tag.encode(), cmd.encode()))
    while True:
        line = imap_line(s, buf)
        if line.startswith(tag + " "):
            return line


class Held:
    """One connection: start() holds it in its phase, finish() ends it."""

    def __init__(self, phase):
        self.phase = phase
        self.s = None
        self.buf = [b""]

    def start(self):
        getattr(self, "start_" + self.phase)()

    def finish(self):
        return getattr(self, "finish_" + self.phase)()

    # :443 HTTPS offloaded
    def start_hello(self):
        self.s = tcp(443)

    def finish_hello(self):
        self.s = tls(self.s)
        status, _ = get(self.s, "/owa/?held=hello")
        return status == 200, "status %d" % status

    def start_handshake(self):
        raw = tcp(443)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = CTX.wrap_bio(self.inc, self.out, server_hostname=SNI)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if self.out.pending:
                    raw.sendall(self.out.read())
                r, _, _ = select.select([raw], [], [], STEP)
                if not r:
                    raise TimeoutError("no server flight")
                chunk = raw.recv(65536)
                if not chunk:
                    raise EOFError("closed in the handshake")
                self.inc.write(chunk)
        # the client's Finished waits in self.out: the server is mid-handshake
        self.s = raw

    def finish_handshake(self):
        self.s.sendall(self.out.read())
        req = b"GET /owa/?held=handshake HTTP/1.1\r\nHost: %s\r\n\r\n" % SNI.encode()
        self.obj.write(req)
        self.s.sendall(self.out.read())
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                data += self.obj.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed before the response")
            self.inc.write(chunk)
        status = int(data.split(b" ", 2)[1])
        return status == 200, "status %d" % status

    def start_head(self):
        self.s = tls(tcp(443))
        self.s.sendall(b"GET /ews/?held=head HTTP/1.1\r\nHost: %s\r\n" % SNI.encode())

    def finish_head(self):
        self.s.sendall(b"\r\n")
        status, _ = http_answer(self.s)
        return status == 200, "status %d" % status

    def start_body(self):
        self.s = tls(tcp(443))
        self.s.sendall(b"POST /ews/echo?held=body HTTP/1.1\r\nHost: %s\r\n"
                       b"Content-Length: 10\r\n\r\n12345" % SNI.encode())

    def finish_body(self):
        self.s.sendall(b"67890")
        status, body = http_answer(self.s)
        return status == 200 and body.strip() == b"10", "status %d body %r" % (status, body[:20])

    def start_keepalive(self):
        self.s = tls(tcp(443))
        status, _ = get(self.s, "/owa/?held=keepalive-1")
        if status != 200:
            raise RuntimeError("first request: status %d" % status)

    def finish_keepalive(self):
        status, _ = get(self.s, "/owa/?held=keepalive-2")
        return status == 200, "status %d" % status

    def imap_greeting(self):
        greeting = imap_line(self.s, self.buf)
        if not greeting.startswith("* OK"):
            raise RuntimeError("greeting %r" % greeting)

    # :993 IMAPS offloaded (a TLS tunnel to dovecot's 143)
    def start_tunnel(self):
        self.s = tls(tcp(993))
        self.imap_greeting()

    def finish_tunnel(self):
        line = imap_cmd(self.s, self.buf, "a", "LOGIN %s %s" % (USER, PASSWORD))
        imap_cmd(self.s, self.buf, "b", "LOGOUT")
        return line.startswith("a OK"), line

    def start_tunnel_hello(self):
        self.s = tcp(993)

    def finish_tunnel_hello(self):
        self.s = tls(self.s)
        self.imap_greeting()
        return self.finish_tunnel()

    # :143 IMAP with STARTTLS, held in the line phase
    def start_starttls(self):
        self.s = tcp(143)
        self.imap_greeting()
        line = imap_cmd(self.s, self.buf, "a", "CAPABILITY")
        if not line.startswith("a OK"):
            raise RuntimeError("CAPABILITY: %r" % line)

    def finish_starttls(self):
        line = imap_cmd(self.s, self.buf, "b", "STARTTLS")
        if not line.startswith("b OK"):
            return False, "STARTTLS: " + line
        self.s = tls(self.s)
        self.buf = [b""]
        line = imap_cmd(self.s, self.buf, "c", "LOGIN %s %s" % (USER, PASSWORD))
        imap_cmd(self.s, self.buf, "d", "LOGOUT")
        return line.startswith("c OK"), line


PHASES = ["hello", "handshake", "head", "body", "keepalive", "tunnel",
          "tunnel_hello", "starttls"]


def main():
    held = []
    result = {p: {"ok": 0, "of": COUNT, "error": None} for p in PHASES}
    for p in PHASES:
        for _ in range(COUNT):
            h = Held(p)
            try:
                h.start()
                held.append(h)
            except Exception as e:
                result[p]["error"] = result[p]["error"] or "start: %s: %s" % (type(e).__name__, e)
    print("ready %d" % len(held), flush=True)
    sys.stdin.readline()
    for h in held:
        try:
            ok, why = h.finish()
        except Exception as e:
            ok, why = False, "%s: %s" % (type(e).__name__, e)
        if ok:
            result[h.phase]["ok"] += 1
        elif not result[h.phase]["error"]:
            result[h.phase]["error"] = why
        try:
            h.s.close()
        except Exception:
            pass
    print(json.dumps(result), flush=True)


main()
