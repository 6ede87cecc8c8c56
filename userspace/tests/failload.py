# SPDX-License-Identifier: GPL-2.0 OR MIT
"""The client of exlbd-failover.sh: bounded load while a real server fails.

python3 failload.py VIP SECONDS

For SECONDS (then every started exchange finishes, each bounded by its
socket timeout), threads send, in parallel:
  - HTTPS requests to VIP:443 on a new connection each (Connection: close),
    going round the nine Exchange vdirs;
  - HTTPS requests on keep-alive connections, nine per connection (one per
    vdir), each connection opened when the previous one is done -- so every
    keep-alive connection begins after the caller started this, that is
    after the failure began;
  - IMAP sessions to VIP:143: STARTTLS, LOGIN, LOGOUT;
  - SMTP sessions to VIP:25: EHLO, STARTTLS, EHLO, QUIT.
Prints "key=value" lines: counts, failures, which server answered (the
X-RS header; the SMTP banner's host name), the slowest exchange; then one
"fail=..." line per failed exchange (at most 20). Exit 0 when it ran.
Stdlib only; every socket has a timeout; nothing loops unbounded.
"""
import http.client
import imaplib
import smtplib
import ssl
import sys
import threading
import time

VDIRS = ["owa", "ecp", "EWS", "mapi", "rpc", "OAB",
         "Microsoft-Server-ActiveSync", "Autodiscover", "PowerShell"]
TIMEOUT = 20		# > 3 tries x the 4 s connect limit
MAX_PER_THREAD = 3000

lock = threading.Lock()
results = []		# (kind, ok, who, seconds, error)


def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def record(kind, ok, who, secs, err=""):
    with lock:
        results.append((kind, ok, who, secs, err))


def get(conn, vdir, close):
    t0 = time.monotonic()
    hdrs = {"Host": "mail.example.test"}
    if close:
        hdrs["Connection"] = "close"
    try:
        conn.request("GET", "/%s/failover" % vdir, headers=hdrs)
        r = conn.getresponse()
        r.read()
        who = r.getheader("X-RS") or "-"
        ok = r.status == 200 and who != "-"
        record("http", ok, who, time.monotonic() - t0,
               "" if ok else "status %d on /%s" % (r.status, vdir))
        return ok
    except Exception as e:	# pylint: disable=broad-except
        record("http", False, "-", time.monotonic() - t0,
               "%s on /%s: %r" % ("close" if close else "keep-alive", vdir, e))
        return False


def new_conns(vip, end, start):
    i = start
    for _ in range(MAX_PER_THREAD):
        if time.monotonic() >= end:
            return
        c = http.client.HTTPSConnection(vip, 443, timeout=TIMEOUT, context=ctx())
        get(c, VDIRS[i % len(VDIRS)], True)
        c.close()
        i += 1


def keep_alive(vip, end):
    for _ in range(MAX_PER_THREAD // len(VDIRS)):
        if time.monotonic() >= end:
            return
        c = http.client.HTTPSConnection(vip, 443, timeout=TIMEOUT, context=ctx())
        for v in VDIRS:
            if not get(c, v, False):
                break
        c.close()


def imap(vip, end):
    for _ in range(MAX_PER_THREAD):
        if time.monotonic() >= end:
            return
        t0 = time.monotonic()
        try:
            m = imaplib.IMAP4(vip, 143, timeout=TIMEOUT)
            m.starttls(ssl_context=ctx())
            m.login("alice", "secret")
            m.logout()
            record("imap", True, "-", time.monotonic() - t0)
        except Exception as e:	# pylint: disable=broad-except
            record("imap", False, "-", time.monotonic() - t0, "imap: %r" % e)


def smtp(vip, end):
    for _ in range(MAX_PER_THREAD):
        if time.monotonic() >= end:
            return
        t0 = time.monotonic()
        try:
            s = smtplib.SMTP(vip, 25, timeout=TIMEOUT)
            code, resp = s.ehlo("client.exlb.test")
            # the EHLO answer begins with the server's name: "mail-rs2.exlb.test"
            who = resp.split()[0].decode("latin1") if code == 250 and resp else "-"
            s.starttls(context=ctx())
            code, _ = s.ehlo("client.exlb.test")
            s.quit()
            ok = code == 250
            record("smtp", ok, who, time.monotonic() - t0,
                   "" if ok else "smtp: EHLO after STARTTLS: %d" % code)
        except Exception as e:	# pylint: disable=broad-except
            record("smtp", False, "-", time.monotonic() - t0, "smtp: %r" % e)


def main():
    vip, secs = sys.argv[1], float(sys.argv[2])
    end = time.monotonic() + secs
    threads = [threading.Thread(target=new_conns, args=(vip, end, i * 2))
               for i in range(4)]
    threads += [threading.Thread(target=keep_alive, args=(vip, end))
                for _ in range(3)]
    threads += [threading.Thread(target=imap, args=(vip, end)) for _ in range(2)]
    threads += [threading.Thread(target=smtp, args=(vip, end)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(secs + 3 * TIMEOUT)
    with lock:
        res = list(results)
    for kind in ("http", "imap", "smtp"):
        mine = [r for r in res if r[0] == kind]
        print("%s=%d" % (kind, len(mine)))
        print("%s_failed=%d" % (kind, sum(1 for r in mine if not r[1])))
        whos = {}
        for r in mine:
            if r[1]:
                whos[r[2]] = whos.get(r[2], 0) + 1
        print("%s_by=%s" % (kind, ",".join("%s:%d" % kv for kv in sorted(whos.items()))))
        print("%s_max_s=%.1f" % (kind, max([r[3] for r in mine] or [0])))
    print("alive_threads=%d" % sum(1 for t in threads if t.is_alive()))
    for r in [r for r in res if not r[1]][:20]:
        print("fail=%s after %.1f s: %s" % (r[0], r[3], r[4]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
