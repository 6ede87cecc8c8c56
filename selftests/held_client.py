#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Connections held through an HA failover (exlb_ha.sh, exlbd_ha.sh).

    held_client.py VIP SRC DIR SECS NAME:PORT:CHUNK:PAUSE...

Each NAME opens one TCP connection from SRC to VIP:PORT, reads the real
server's greeting (its name first) and then echoes CHUNK-byte lines, one
every PAUSE seconds: an IMAP-like held connection (a short line now and
then) or a transfer (large lines, as fast as the VM allows). Until DIR/stop
exists or SECS passed. DIR/client.json, rewritten every 0.1 s: per NAME the
RS that greeted, echoes ("n"), bytes, the times data came back (at most
ten a second), the local port, and the error that ended it ("reset",
"timeout", "eof", or the OSError).
"""
import json
import os
import socket
import sys
import threading
import time

vip, src, tdir, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
st = {}
lock = threading.Lock()


def run(name, port, chunk, pause):
    s = socket.socket()
    s.settimeout(30)
    s.bind((src, 0))
    s.connect((vip, port))
    f = s.makefile("rb")
    rec = {"rs": f.readline().split()[0].decode(), "n": 0, "bytes": 0,
           "times": [], "err": None, "port": s.getsockname()[1]}
    with lock:
        st[name] = rec
    line = b"x" * (chunk - 1) + b"\n"
    last = 0
    err = None
    try:
        while not os.path.exists(tdir + "/stop"):
            s.sendall(line)
            got = f.readline()
            if len(got) != chunk:
                raise EOFError("short echo %d" % len(got))
            t = time.time()
            with lock:
                rec["n"] += 1
                rec["bytes"] += chunk
                if t - last >= 0.1:
                    rec["times"].append(round(t, 3))
                    last = t
            time.sleep(pause)
    except ConnectionResetError:
        err = "reset"
    except socket.timeout:
        err = "timeout"
    except (EOFError, OSError) as e:
        err = "eof" if isinstance(e, EOFError) else str(e)
    # under the lock: dump() walks rec, and a key added meanwhile ("end")
    # killed the dumping thread once (dictionary changed size)
    with lock:
        rec["err"] = err
        rec["end"] = round(time.time(), 3)
    s.close()


def dump():
    with lock:
        json.dump(st, open(tdir + "/client.json.tmp", "w"))
        os.rename(tdir + "/client.json.tmp", tdir + "/client.json")


specs = []
for spec in sys.argv[5:]:
    name, port, chunk, pause = spec.split(":")
    specs.append((name, int(port), int(chunk), float(pause)))
threads = [threading.Thread(target=run, args=a, daemon=True) for a in specs]
for t in threads:
    t.start()
end = time.time() + secs
while time.time() < end and any(t.is_alive() for t in threads):
    dump()
    time.sleep(0.1)
dump()
