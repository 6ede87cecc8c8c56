#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""TCP servers that say who they are, for exlb's selftests.

One process serves every real server of the test topology: for each
listener spec NETNS:NAME:ADDR:PORT it enters that network namespace just
long enough to create the listening socket (a socket stays in the namespace
it was created in), then one selector loop serves them all.

On each accepted connection the server sends one line "NAME PEERADDR\\n"
(PEERADDR is the source address it sees), then echoes every received line
until the client closes. It counts per NAME: accepted, closed by EOF, closed
by a reset, open, and the bytes received ("rx").

Control: lines "TAG CMD" on the FIFO given by --ctl, answers "TAG JSON" on
the FIFO given by --out. Commands: ping, stats, reset_stats, quit.
"""

import argparse
import ctypes
import errno
import json
import os
import selectors
import socket
import sys

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def listen_in(netns, addr, port):
    """A listening socket created inside network namespace netns."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + netns, os.O_RDONLY) if netns else None
    try:
        if target is not None:
            setns(target)
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(4096)
        s.setblocking(False)
        return s
    finally:
        if target is not None:
            setns(home)
            os.close(target)
        os.close(home)


class Servers:
    def __init__(self, specs):
        self.sel = selectors.DefaultSelector()
        self.stats = {}
        for spec in specs:
            # NETNS:NAME:ADDR:PORT, ADDR may be an IPv6 address with colons
            netns, name, rest = spec.split(":", 2)
            addr, port = rest.rsplit(":", 1)
            ls = listen_in(netns, addr.strip("[]"), int(port))
            self.sel.register(ls, selectors.EVENT_READ, ("listen", name))
            self.stats.setdefault(name, self._zero())

    @staticmethod
    def _zero():
        return {"accepted": 0, "eof": 0, "reset": 0, "open": 0, "rx": 0}

    def reset_stats(self):
        for name in self.stats:
            st = self._zero()
            st["open"] = self.stats[name]["open"]
            self.stats[name] = st

    def accept(self, ls, name):
        while True:
            try:
                c, peer = ls.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            c.setblocking(False)
            st = self.stats[name]
            st["accepted"] += 1
            st["open"] += 1
            greeting = ("%s %s\n" % (name, peer[0])).encode()
            try:
                c.send(greeting)
            except OSError as e:
                self.close(c, name, e)
                continue
            self.sel.register(c, selectors.EVENT_READ, ("conn", name, bytearray()))

    def close(self, c, name, err=None):
        st = self.stats[name]
        st["open"] -= 1
        if err is not None and getattr(err, "errno", None) in (errno.ECONNRESET, errno.EPIPE):
            st["reset"] += 1
        else:
            st["eof"] += 1
        try:
            self.sel.unregister(c)
        except (KeyError, ValueError):
            pass
        c.close()

    def serve_conn(self, c, data):
        _, name, buf = data
        try:
            chunk = c.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.close(c, name, e)
            return
        if not chunk:
            self.close(c, name)
            return
        self.stats[name]["rx"] += len(chunk)
        buf += chunk
        nl = buf.rfind(b"\n")
        if nl < 0:
            return
        out = bytes(buf[: nl + 1])
        del buf[: nl + 1]
        try:
            # Echoes are small (client.py's bulk waits for each line's
            # echo); a full send buffer here means a broken test.
            c.sendall(out)
        except OSError as e:
            self.close(c, name, e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctl", required=True, help="FIFO to read commands from")
    ap.add_argument("--out", required=True, help="FIFO to write answers to")
    ap.add_argument("spec", nargs="+", help="NETNS:NAME:ADDR:PORT")
    args = ap.parse_args()

    srv = Servers(args.spec)
    # O_RDWR: neither open blocks, and the ends never see EOF or SIGPIPE
    # when a test script goes away.
    ctl = os.open(args.ctl, os.O_RDWR | os.O_NONBLOCK)
    out = os.open(args.out, os.O_RDWR)
    srv.sel.register(ctl, selectors.EVENT_READ, ("ctl",))
    ctlbuf = b""
    print("servers ready", flush=True)

    while True:
        for key, _ in srv.sel.select():
            data = key.data
            if data[0] == "listen":
                srv.accept(key.fileobj, data[1])
            elif data[0] == "conn":
                srv.serve_conn(key.fileobj, data)
            else:
                try:
                    ctlbuf += os.read(ctl, 4096)
                except BlockingIOError:
                    continue
                while b"\n" in ctlbuf:
                    line, ctlbuf = ctlbuf.split(b"\n", 1)
                    parts = line.decode().split()
                    if len(parts) < 2:
                        continue
                    tag, cmd = parts[0], parts[1]
                    if cmd == "stats":
                        ans = srv.stats
                    elif cmd == "reset_stats":
                        srv.reset_stats()
                        ans = {"ok": True}
                    elif cmd == "ping":
                        ans = {"ok": True}
                    elif cmd == "quit":
                        os.write(out, ("%s %s\n" % (tag, json.dumps({"ok": True}))).encode())
                        return 0
                    else:
                        ans = {"error": "unknown command " + cmd}
                    os.write(out, ("%s %s\n" % (tag, json.dumps(ans))).encode())


if __name__ == "__main__":
    sys.exit(main())
