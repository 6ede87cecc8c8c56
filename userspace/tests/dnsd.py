#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""A tiny DNS server over UDP for the host's end-to-end tests: it answers
A queries for the names given (NAME=ADDR ...), NODATA for their other
types and NXDOMAIN for any other name. One line per query on stdout
("QNAME QTYPE"). Usage: dnsd.py ADDR PORT NAME=IPV4...
"""
import socket
import struct
import sys


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    names = {}
    for arg in sys.argv[3:]:
        name, ip = arg.split("=", 1)
        names[name.lower().rstrip(".")] = socket.inet_aton(ip)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        q, peer = s.recvfrom(512)
        if len(q) < 12:
            continue
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        if qd != 1:
            continue
        off, labels = 12, []
        while off < len(q) and q[off]:
            labels.append(q[off + 1:off + 1 + q[off]].decode("ascii", "replace"))
            off += 1 + q[off]
        off += 1
        if off + 4 > len(q):
            continue
        qtype = struct.unpack("!H", q[off:off + 2])[0]
        question = q[12:off + 4]
        name = ".".join(labels).lower()
        print(name, qtype, flush=True)
        rflags = 0x8180 | (flags & 0x0100)   # response, RD copied, RA
        answers = b""
        if name not in names:
            rflags |= 3                      # NXDOMAIN
        elif qtype == 1:
            answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + names[name]
        resp = struct.pack("!HHHHHH", qid, rflags, 1, 1 if answers else 0, 0, 0)
        s.sendto(resp + question + answers, peer)


if __name__ == "__main__":
    main()
