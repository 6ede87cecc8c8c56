#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Client sessions that wait to see how exlbd ends them, for exlbd-ends.sh.

    endclient.py VIP VIP2 SESSION...

Opens every SESSION (kinds below), prints "ready" once all are in place,
then waits -- at most 60 s -- until each one has been ended by the other
side, and prints one JSON object per session:
    {"name": ..., "how": "reset" | "eof" | "complete" | "timeout" | "error",
     "secs": seconds from the session's last own byte to its end,
     "at": the end's wall-clock time, "got": the first bytes read at the end,
     "bytes": body bytes read (downloads), "rs": the server (downloads)}
"reset" is told from "eof" by the TCP state when the read ends (CLOSE after
a RST, CLOSE_WAIT after a FIN), since Python's ssl reports both as an EOF.

Kinds:
  silent          :443, TCP only, no ClientHello
  slowhead        :443, TLS, a request head that never ends: one header
                  line every 2 s (slowloris)
  idle_keepalive  :443, TLS, one request answered, then nothing
  idle_conntimeout  VIP2:443, the same (the VS has no Idletime of its own)
  body_stall      :443, TLS, POST with Content-Length 10 and no body
  starttls_nohello  :143, STARTTLS answered, then no ClientHello
  imap_relay      :143, STARTTLS, LOGIN: the relay, then nothing
  download_rsN    :443, GET /owa/big/... from server rsN (retries until
                  rr gives it), read slowly to its end
  imaps_tunnel    :993, TLS, LOGIN, then nothing
  pop3_stls       :110, STLS, USER/PASS, then nothing
  smtp_starttls   :25, EHLO, STARTTLS, EHLO, then nothing
"""
import json
import select
import socket
import ssl
import struct
import sys
import time

VIP, VIP2 = sys.argv[1], sys.argv[2]
KINDS = sys.argv[3:]
SNI = "mail.example.test"
USER, PASSWORD = "alice", "secret"
BIG = "/owa/big/%sM?rate=1m" % "4"
TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def tcp_state(s):
    try:
        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except OSError:
        return None


def connect(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.settimeout(10)
    return s


def tls(s):
    return CTX.wrap_socket(s, server_hostname=SNI)


def read_line(s, buf):
    while b"\r\n" not in buf[0]:
        chunk = s.recv(4096)
        if not chunk:
            raise EOFError("closed")
        buf[0] += chunk
    line, buf[0] = buf[0].split(b"\r\n", 1)
    return line.decode("latin-1")


def until(s, buf, pred):
    """Reads lines until pred(line); returns that line."""
    while True:
        line = read_line(s, buf)
        if pred(line):
            return line


def http_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("closed before the response head")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for h in lines[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, rest


class Session:
    def __init__(self, kind):
        self.kind = kind
        self.buf = [b""]
        self.sent_at = time.monotonic()
        self.body = 0
        self.length = None
        self.rs = None
        self.next_tick = None
        self.result = None

    def send(self, data):
        self.s.sendall(data)
        self.sent_at = time.monotonic()

    def open(self):
        k = self.kind
        if k == "silent":
            self.s = connect(VIP, 443)
        elif k == "slowhead":
            self.s = tls(connect(VIP, 443))
            self.send(b"GET /owa/ HTTP/1.1\r\nHost: %s\r\n" % SNI.encode())
            self.first_sent = self.sent_at
            self.next_tick = time.monotonic() + 2
        elif k in ("idle_keepalive", "idle_conntimeout"):
            host = VIP if k == "idle_keepalive" else VIP2
            self.s = tls(connect(host, 443))
            self.send(b"GET /owa/ HTTP/1.1\r\nHost: %s\r\n\r\n" % SNI.encode())
            status, h, rest = http_head(self.s)
            need = int(h.get("content-length", "0")) - len(rest)
            while need > 0:
                need -= len(self.s.recv(need))
            if status != 200:
                raise RuntimeError("status %d" % status)
        elif k == "body_stall":
            self.s = tls(connect(VIP, 443))
            self.send(b"POST /ews/echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 10\r\n\r\n"
                      % SNI.encode())
        elif k == "starttls_nohello":
            self.s = connect(VIP, 143)
            until(self.s, self.buf, lambda l: l.startswith("* OK"))
            self.send(b"a STARTTLS\r\n")
            line = until(self.s, self.buf, lambda l: l.startswith("a "))
            if not line.startswith("a OK"):
                raise RuntimeError(line)
        elif k == "imap_relay":
            self.s = connect(VIP, 143)
            until(self.s, self.buf, lambda l: l.startswith("* OK"))
            self.send(b"a STARTTLS\r\n")
            until(self.s, self.buf, lambda l: l.startswith("a OK"))
            self.s = tls(self.s)
            self.buf = [b""]
            self.send(b"b LOGIN %s %s\r\n" % (USER.encode(), PASSWORD.encode()))
            line = until(self.s, self.buf, lambda l: l.startswith("b "))
            if not line.startswith("b OK"):
                raise RuntimeError(line)
        elif k.startswith("download_"):
            want = k.split("_", 1)[1]
            for _ in range(10):
                self.s = tls(connect(VIP, 443))
                self.send(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (BIG.encode(), SNI.encode()))
                status, h, rest = http_head(self.s)
                self.rs = h.get("x-rs")
                if status == 200 and self.rs == want:
                    self.length = int(h["content-length"])
                    self.body = len(rest)
                    return
                self.s.close()
            raise RuntimeError("no answer from %s in 10 tries" % want)
        elif k == "imaps_tunnel":
            self.s = tls(connect(VIP, 993))
            until(self.s, self.buf, lambda l: l.startswith("* OK"))
            self.send(b"a LOGIN %s %s\r\n" % (USER.encode(), PASSWORD.encode()))
            line = until(self.s, self.buf, lambda l: l.startswith("a "))
            if not line.startswith("a OK"):
                raise RuntimeError(line)
        elif k == "pop3_stls":
            self.s = connect(VIP, 110)
            read_line(self.s, self.buf)
            self.send(b"STLS\r\n")
            line = read_line(self.s, self.buf)
            if not line.startswith("+OK"):
                raise RuntimeError(line)
            self.s = tls(self.s)
            self.buf = [b""]
            for cmd in (b"USER " + USER.encode(), b"PASS " + PASSWORD.encode()):
                self.send(cmd + b"\r\n")
                line = read_line(self.s, self.buf)
                if not line.startswith("+OK"):
                    raise RuntimeError(line)
        elif k == "smtp_starttls":
            self.s = connect(VIP, 25)
            until(self.s, self.buf, lambda l: l[:4] == "220 ")
            self.send(b"EHLO client.exlb.test\r\n")
            until(self.s, self.buf, lambda l: l[:4] == "250 ")
            self.send(b"STARTTLS\r\n")
            line = until(self.s, self.buf, lambda l: l[3:4] == " ")
            if not line.startswith("220"):
                raise RuntimeError(line)
            self.s = tls(self.s)
            self.buf = [b""]
            self.send(b"EHLO client.exlb.test\r\n")
            until(self.s, self.buf, lambda l: l[:4] == "250 ")
        else:
            raise RuntimeError("unknown kind " + k)
        self.s.setblocking(False)

    def tick(self, now):
        if self.next_tick and now >= self.next_tick and not self.result:
            self.s.setblocking(True)
            try:
                self.s.sendall(b"X-Slow: %d\r\n" % int(now))
            except OSError:
                pass
            self.s.setblocking(False)
            self.next_tick = now + 2

    def end(self, how, got=b""):
        now = time.monotonic()
        ref = getattr(self, "first_sent", self.sent_at)
        self.result = {"name": self.kind, "how": how, "secs": round(now - ref, 2),
                       "at": round(time.time(), 3), "got": got[:40].decode("latin-1"),
                       "bytes": self.body, "rs": self.rs}

    def readable(self):
        if self.length is not None and self.body >= self.length:
            return
        try:
            data = self.s.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except ConnectionResetError:
            self.end("reset")
            return
        except (OSError, ssl.SSLError):
            data = b""
        if data and self.length is not None:
            self.body += len(data)
            if self.body >= self.length:
                self.end("complete")
            return
        if data:
            self.buf[0] += data
            return
        state = tcp_state(self.s)
        self.end("reset" if state == TCP_CLOSE else "eof", self.buf[0])


def main():
    sessions = []
    for k in KINDS:
        s = Session(k)
        try:
            s.open()
            s.s.setblocking(False)
        except Exception as e:
            s.result = {"name": k, "how": "error", "error": "%s: %s" % (type(e).__name__, e)}
        sessions.append(s)
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        live = [s for s in sessions if not s.result]
        if not live:
            break
        now = time.monotonic()
        for s in live:
            s.tick(now)
        r, _, _ = select.select([s.s for s in live], [], [], 0.2)
        for s in live:
            if s.s in r or (isinstance(s.s, ssl.SSLSocket) and s.s.pending()):
                s.readable()
    for s in sessions:
        if not s.result:
            s.end("timeout", s.buf[0])
        print(json.dumps(s.result), flush=True)


main()
