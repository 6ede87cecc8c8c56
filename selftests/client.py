#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The client side of exlb's selftests: one long-lived process.

It reads requests "TAG CMD ARGS..." (shell-quoted words; ARGS are
key=value words, positional words, and after "--" an optional command to
run) from the FIFO --ctl and answers "TAG JSON" on the FIFO --out, one line
each. Sockets are created in the network namespace --ns (or ns=NAME per
request) and kept between requests, so a test script can open connections,
change the balancer, and then measure what happens to them.

Requests:
  ping
  dist HOST PORT COUNT [src=ADDR] [ns=NS] [timeout=S] [payload=BYTES]
      COUNT sequential short connections: connect, read the greeting
      (optionally send a line of BYTES bytes and read its echo), close.
      -> {"seq": [NAME|"!ERR"...], "counts": {NAME: n}, "peers": {NAME: [ADDR]},
          "fail": n, "errors": {ERR: n}}
  open HOST PORT [n=N] [src=ADDR] [ns=NS] [timeout=S]
      N held connections. -> {"conns": [{"id", "name", "peer", "laddr",
          "lport", "ms"} | {"error": ERR, "ms": connect time}]}
  echo ids=ID,... [timeout=S]
      -> {"results": {ID: "ok" | ERR | "closed"}}
  bulk ids=ID,... bytes=N [line=L] [timeout=S]
      On each connection in turn, N bytes in lines of L random hex bytes
      (default 4096, newline included, the last line shorter), each sent when the
      echo of the one before came back: a bounded bulk transfer both ways.
      -> {"results": {ID: {"sent", "echoed": bytes, "intact": every echo
          equal to its line, "ms", "error": ERR | null}}}
  watch [watch=IDS] [talk=IDS] [interval=S] duration=S [until=reset] [delay=S]
        [-- CMD...]
      Watches the "watch" connections for a reset/EOF while the "talk"
      connections echo a line every interval (0: back to back), until
      duration seconds after t0, delay seconds (default 0) after the start;
      at t0 runs CMD (if any) beside them. until=reset returns as soon as
      every watched connection has ended (and CMD has).
      -> {"run_ms", "run_rc", "run_out", "events": {ID: {"event": "reset" |
          "eof" | "alive" | "echo_timeout" | ERR, "ms": since t0,
          "idle_ms": since the connection's last packet, "echoes": n}}}
  close ids=ID,...        closeall        list        quit
ERR is an errno name (ECONNREFUSED, ...), "reset" (ECONNRESET or EPIPE),
"timeout" or "eof".
"""

import argparse
import ctypes
import errno
import json
import os
import selectors
import shlex
import socket
import subprocess
import sys
import threading
import time

CLONE_NEWNET = 0x40000000
IP_BIND_ADDRESS_NO_PORT = 24
_libc = ctypes.CDLL(None, use_errno=True)


def now():
    return time.monotonic()


def ms(t):
    return int(round(t * 1000))


def errname(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, OSError) and e.errno in (errno.ECONNRESET, errno.EPIPE):
        return "reset"
    if isinstance(e, OSError) and e.errno in errno.errorcode:
        return errno.errorcode[e.errno]
    return type(e).__name__


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


class Conn:
    def __init__(self, sock, name, peer, laddr, lport):
        self.sock = sock
        self.name = name
        self.peer = peer
        self.laddr = laddr
        self.lport = lport
        self.last_io = now()
        self.buf = b""


class Client:
    def __init__(self, default_ns):
        self.default_ns = default_ns
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.conns = {}
        self.next_id = 1

    # -- sockets -------------------------------------------------------
    def socket_in(self, ns, family):
        ns = self.default_ns if ns is None else ns
        if not ns or ns == "-":
            return socket.socket(family, socket.SOCK_STREAM)
        fd = os.open("/run/netns/" + ns, os.O_RDONLY)
        try:
            setns(fd)
            try:
                return socket.socket(family, socket.SOCK_STREAM)
            finally:
                setns(self.home)
        finally:
            os.close(fd)

    @staticmethod
    def readline(s, deadline, buf=b""):
        while b"\n" not in buf:
            left = deadline - now()
            if left <= 0:
                raise socket.timeout()
            s.settimeout(left)
            chunk = s.recv(4096)
            if not chunk:
                raise EOFError()
            buf += chunk
        line, rest = buf.split(b"\n", 1)
        return line.decode(errors="replace"), rest

    def connect(self, host, port, src, ns, timeout):
        """Connect and read the greeting. Returns (Conn, ms) or raises."""
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = self.socket_in(ns, fam)
        try:
            if src:
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((src, 0))
            t = now()
            s.settimeout(timeout)
            try:
                s.connect((host, port))
            except Exception as e:
                e.connect_ms = ms(now() - t)
                raise
            cms = ms(now() - t)
            line, rest = self.readline(s, now() + timeout)
            parts = line.split()
            name = parts[0] if parts else "?"
            peer = parts[1] if len(parts) > 1 else "?"
            la = s.getsockname()
            c = Conn(s, name, peer, la[0], la[1])
            c.buf = rest
            return c, cms
        except BaseException:
            s.close()
            raise

    def echo_one(self, c, timeout):
        c.sock.settimeout(timeout)
        c.sock.sendall(b"echo %d\n" % self.next_id)
        c.last_io = now()
        line, c.buf = self.readline(c.sock, now() + timeout, c.buf)
        c.last_io = now()
        return line

    def drop(self, cid):
        c = self.conns.pop(cid, None)
        if c:
            c.sock.close()

    # -- requests ------------------------------------------------------
    def do_dist(self, pos, kw):
        host, port, count = pos[0], int(pos[1]), int(pos[2])
        timeout = float(kw.get("timeout", 3))
        payload = int(kw.get("payload", 0))
        seq, counts, peers, errors = [], {}, {}, {}
        fail = 0
        for _ in range(count):
            try:
                c, _ = self.connect(host, port, kw.get("src"), kw.get("ns"), timeout)
                try:
                    if payload > 0:
                        msg = b"x" * (payload - 1) + b"\n"
                        c.sock.sendall(msg)
                        line, c.buf = self.readline(c.sock, now() + timeout, c.buf)
                        if len(line) != payload - 1:
                            raise EOFError()
                finally:
                    c.sock.close()
                seq.append(c.name)
                counts[c.name] = counts.get(c.name, 0) + 1
                p = peers.setdefault(c.name, [])
                if c.peer not in p:
                    p.append(c.peer)
            except (OSError, EOFError) as e:
                n = "eof" if isinstance(e, EOFError) else errname(e)
                fail += 1
                errors[n] = errors.get(n, 0) + 1
                seq.append("!" + n)
        return {"seq": seq, "counts": counts, "peers": peers, "fail": fail, "errors": errors}

    def do_open(self, pos, kw):
        host, port = pos[0], int(pos[1])
        n = int(kw.get("n", 1))
        timeout = float(kw.get("timeout", 3))
        out = []
        for _ in range(n):
            t = now()
            try:
                c, cms = self.connect(host, port, kw.get("src"), kw.get("ns"), timeout)
            except (OSError, EOFError) as e:
                err = "eof" if isinstance(e, EOFError) else errname(e)
                out.append({"error": err, "ms": getattr(e, "connect_ms", ms(now() - t))})
                continue
            cid = self.next_id
            self.next_id += 1
            self.conns[cid] = c
            out.append({"id": cid, "name": c.name, "peer": c.peer, "laddr": c.laddr,
                        "lport": c.lport, "ms": cms})
        return {"conns": out}

    def ids(self, kw, key="ids"):
        v = kw.get(key, "")
        return [int(x) for x in v.split(",") if x]

    def do_echo(self, pos, kw):
        timeout = float(kw.get("timeout", 2))
        res = {}
        for cid in self.ids(kw):
            c = self.conns.get(cid)
            if c is None:
                res[cid] = "closed"
                continue
            try:
                self.echo_one(c, timeout)
                res[cid] = "ok"
            except (OSError, EOFError) as e:
                res[cid] = "eof" if isinstance(e, EOFError) else errname(e)
                self.drop(cid)
        return {"results": res}

    def do_bulk(self, pos, kw):
        total = int(kw["bytes"])
        size = max(2, int(kw.get("line", 4096)))
        timeout = float(kw.get("timeout", 3))
        res = {}
        for cid in self.ids(kw):
            c = self.conns.get(cid)
            if c is None:
                res[cid] = {"sent": 0, "echoed": 0, "intact": False, "ms": 0, "error": "closed"}
                continue
            r = {"sent": 0, "echoed": 0, "intact": True, "ms": 0, "error": None}
            t0 = now()
            try:
                while r["sent"] < total:
                    n = min(size, total - r["sent"])
                    # random hex lines: a corrupted or misplaced byte shows
                    text = os.urandom(n // 2).hex()[: n - 1]
                    msg = text.encode() + b"\n"
                    c.sock.settimeout(timeout)
                    c.sock.sendall(msg)
                    r["sent"] += n
                    line, c.buf = self.readline(c.sock, now() + timeout, c.buf)
                    c.last_io = now()
                    r["echoed"] += len(line) + 1
                    r["intact"] = r["intact"] and line == text
            except (OSError, EOFError) as e:
                r["error"] = "eof" if isinstance(e, EOFError) else errname(e)
                r["intact"] = False
                self.drop(cid)
            r["ms"] = ms(now() - t0)
            res[cid] = r
        return {"results": res}

    def do_watch(self, pos, kw, argv):
        watch = self.ids(kw, "watch")
        talk = self.ids(kw, "talk")
        interval = float(kw.get("interval", 0.5))
        duration = float(kw.get("duration", 3))
        until_reset = kw.get("until") == "reset"
        events = {}
        start = now()
        t0 = start + float(kw.get("delay", 0))
        run = {}
        runner = None

        def run_cmd():
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            run.update({"run_ms": ms(now() - t0), "run_rc": r.returncode,
                        "run_out": r.stdout.decode(errors="replace")[-500:]})

        sel = selectors.DefaultSelector()
        state = {}
        for cid in watch + talk:
            c = self.conns.get(cid)
            if c is None:
                events[cid] = {"event": "closed", "ms": 0}
                continue
            c.sock.setblocking(False)
            state[cid] = {"talk": cid in talk, "pending": None, "next": start + interval,
                          "echoes": 0, "idle0": c.last_io}
            sel.register(c.sock, selectors.EVENT_READ, cid)

        def end(cid, what):
            t = now()
            c = self.conns[cid]
            events[cid] = {"event": what, "ms": ms(t - t0), "idle_ms": ms(t - c.last_io),
                           "echoes": state[cid]["echoes"]}
            sel.unregister(c.sock)
            self.drop(cid)
            del state[cid]

        deadline = t0 + duration
        while state:
            t = now()
            if argv and runner is None and t >= t0:
                # in a thread: the talkers go on talking while it runs
                runner = threading.Thread(target=run_cmd)
                runner.start()
            if t >= deadline:
                break
            if until_reset and not any(not s["talk"] for s in state.values()) and watch:
                break
            # talkers: send when due, fail when an echo is late
            wake = deadline if runner or not argv else t0
            for cid, s in list(state.items()):
                if not s["talk"]:
                    continue
                c = self.conns[cid]
                if s["pending"] is not None:
                    if t - s["pending"] > 2.0:
                        end(cid, "echo_timeout")
                        continue
                    wake = min(wake, s["pending"] + 2.0)
                elif t >= s["next"]:
                    try:
                        c.sock.send(b"talk\n")
                        c.last_io = t
                        s["pending"] = t
                        s["next"] = t + interval
                    except OSError as e:
                        end(cid, errname(e))
                        continue
                    wake = min(wake, t + 2.0)
                else:
                    wake = min(wake, s["next"])
            for key, _ in sel.select(max(0.0, wake - now())):
                cid = key.data
                if cid not in state:
                    continue
                c = self.conns[cid]
                s = state[cid]
                try:
                    chunk = c.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    end(cid, errname(e))
                    continue
                if not chunk:
                    end(cid, "eof")
                    continue
                c.last_io = now()
                c.buf += chunk
                if s["talk"] and b"\n" in c.buf:
                    c.buf = c.buf.rsplit(b"\n", 1)[1]
                    s["pending"] = None
                    s["echoes"] += 1
        for cid, s in state.items():
            c = self.conns[cid]
            events[cid] = {"event": "alive", "ms": ms(now() - t0),
                           "idle_ms": ms(now() - c.last_io), "echoes": s["echoes"]}
            sel.unregister(c.sock)
        sel.close()
        if argv and runner is None:
            time.sleep(max(0.0, t0 - now()))
            run_cmd()
        elif runner:
            runner.join()
        run["events"] = events
        return run

    def handle(self, words):
        cmd = words[0]
        argv = []
        if "--" in words:
            i = words.index("--")
            words, argv = words[:i], words[i + 1:]
        pos = [w for w in words[1:] if "=" not in w]
        kw = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if cmd in ("ping", "quit"):
            return {"ok": True}
        if cmd == "dist":
            return self.do_dist(pos, kw)
        if cmd == "open":
            return self.do_open(pos, kw)
        if cmd == "echo":
            return self.do_echo(pos, kw)
        if cmd == "bulk":
            return self.do_bulk(pos, kw)
        if cmd == "watch":
            return self.do_watch(pos, kw, argv)
        if cmd == "close":
            for cid in self.ids(kw):
                self.drop(cid)
            return {"ok": True}
        if cmd == "closeall":
            for cid in list(self.conns):
                self.drop(cid)
            return {"ok": True}
        if cmd == "list":
            return {"conns": {cid: {"name": c.name, "lport": c.lport}
                              for cid, c in self.conns.items()}}
        return {"error": "unknown command " + cmd}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ns", default="", help="default network namespace for sockets")
    args = ap.parse_args()
    cl = Client(args.ns)
    ctl = os.open(args.ctl, os.O_RDWR)
    out = os.open(args.out, os.O_RDWR)
    buf = b""
    print("client ready", flush=True)
    while True:
        chunk = os.read(ctl, 4096)
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                words = shlex.split(line.decode())
            except ValueError as e:
                words = []
                tag, ans = "?", {"error": str(e)}
            if len(words) < 2:
                continue
            tag = words[0]
            try:
                ans = cl.handle(words[1:])
            except Exception as e:  # report, keep serving
                ans = {"error": "%s: %s" % (type(e).__name__, e)}
            os.write(out, ("%s %s\n" % (tag, json.dumps(ans))).encode())
            if words[1] == "quit":
                return 0


if __name__ == "__main__":
    sys.exit(main())
