# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Mail clients for exlbd's STARTTLS tests (exlbd-mail.sh, selftests).

python3 mailc.py MODE HOST PORT [ARGS...]: prints "key=value" lines (values
without newlines), exits 0 when the exchange ran as the mode expects to be
able to judge (the caller asserts on the values). Every socket has a
timeout; nothing loops unbounded. Stdlib only.
"""
import imaplib
import poplib
import smtplib
import socket
import ssl
import sys
import time

USER, PASS = "alice", "secret"
T = 15


def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def out(k, v):
    if isinstance(v, bytes):
        v = v.decode("latin1")
    print("%s=%s" % (k, str(v).replace("\r", "\\r").replace("\n", "\\n")))


def caps_imap(m):
    return " ".join(sorted(c for c in m.capabilities))


class Raw:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, int(port)), timeout=T)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return l + b"\n"

    def smtp_reply(self):
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if len(l) < 4 or l[3:4] != b"-":
                return b"".join(lines)

    def until_tag(self, tag):
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if l.startswith(tag + b" "):
                return b"".join(lines)

    def tls(self):
        assert not self.buf, "bytes after the STARTTLS answer: %r" % self.buf
        self.s = ctx().wrap_socket(self.s, server_hostname="mail.exlb.test")

    def closed_within(self, secs):
        """The peer closes within secs; returns (closed, bytes it sent first)."""
        self.s.settimeout(secs)
        got = self.buf
        end = time.time() + secs
        try:
            while time.time() < end:
                d = self.s.recv(4096)
                if not d:
                    return True, got
                got += d
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True, got
        except (socket.timeout, TimeoutError):
            pass
        return False, got


def imap_fetch(m, subject):
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", '"%s"' % subject)
    ids = data[0].split()
    out("found", len(ids))
    if not ids:
        return
    typ, data = m.fetch(ids[-1], "(BODY.PEEK[])")
    msg = data[0][1]
    open(sys.argv[-1], "wb").write(msg)
    out("bytes", len(msg))


def pop3_fetch(p, subject):
    n, _ = p.stat()
    found = None
    for i in range(n, 0, -1):
        resp, lines, _ = p.top(i, 0)
        if any(subject.encode() in l for l in lines):
            found = i
            break
    out("found", 1 if found else 0)
    if not found:
        return
    resp, lines, _ = p.retr(found)
    msg = b"\r\n".join(lines) + b"\r\n"
    open(sys.argv[-1], "wb").write(msg)
    out("bytes", len(msg))


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    a = sys.argv[4:]
    if mode == "imap-starttls":		# SUBJECT OUTFILE
        m = imaplib.IMAP4(host, port, timeout=T)
        out("pre_caps", caps_imap(m))
        m.starttls(ctx())
        out("post_caps", caps_imap(m))
        m.login(USER, PASS)
        imap_fetch(m, a[0])
        m.logout()
    elif mode == "imap-plain":		# SUBJECT OUTFILE (no TLS at all)
        m = imaplib.IMAP4(host, port, timeout=T)
        m.login(USER, PASS)
        imap_fetch(m, a[0])
        m.logout()
    elif mode == "pop3-plain":		# SUBJECT OUTFILE
        p = poplib.POP3(host, port, timeout=T)
        p.user(USER)
        p.pass_(PASS)
        pop3_fetch(p, a[0])
        p.quit()
    elif mode == "imaps":			# SUBJECT OUTFILE
        m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx(), timeout=T)
        out("caps", caps_imap(m))
        m.login(USER, PASS)
        imap_fetch(m, a[0])
        m.logout()
    elif mode == "pop3-stls":		# SUBJECT OUTFILE
        p = poplib.POP3(host, port, timeout=T)
        out("pre_capa", " ".join(sorted(p.capa())))
        p.stls(ctx())
        out("post_capa", " ".join(sorted(p.capa())))
        p.user(USER)
        p.pass_(PASS)
        pop3_fetch(p, a[0])
        p.quit()
    elif mode == "pops":			# SUBJECT OUTFILE
        p = poplib.POP3_SSL(host, port, context=ctx(), timeout=T)
        p.user(USER)
        p.pass_(PASS)
        pop3_fetch(p, a[0])
        p.quit()
    elif mode in ("smtp-starttls", "smtps"):	# FROM TO MSGFILE
        msg = open(a[2], "rb").read()
        if mode == "smtps":
            s = smtplib.SMTP_SSL(host, port, context=ctx(), timeout=T)
            s.ehlo("client.exlb.test")
        else:
            s = smtplib.SMTP(host, port, timeout=T)
            s.ehlo("client.exlb.test")
            out("pre_ehlo", " ".join(sorted(s.esmtp_features)))
            s.starttls(context=ctx())
            s.ehlo("client.exlb.test")
        out("post_ehlo", " ".join(sorted(s.esmtp_features)))
        r = s.sendmail(a[0], [a[1]], msg)
        out("refused", len(r))
        s.quit()
        out("sent", 1)
    elif mode == "inject-smtp":		# MARK
        r = Raw(host, port)
        r.smtp_reply()
        r.s.sendall(b"EHLO client.exlb.test\r\n")
        r.smtp_reply()
        r.s.sendall(b"STARTTLS\r\nNOOP %s\r\n" % a[0].encode())
        out("starttls", r.smtp_reply())
        r.tls()
        r.s.sendall(b"EHLO client.exlb.test\r\n")
        out("ehlo", r.smtp_reply())
        r.s.sendall(b"QUIT\r\n")
        out("quit", r.smtp_reply())
    elif mode == "inject-imap":
        r = Raw(host, port)
        r.line()
        r.s.sendall(b"a STARTTLS\r\nb LOGIN %s %s\r\n" % (USER.encode(), PASS.encode()))
        out("starttls", r.until_tag(b"a"))
        r.tls()
        r.s.sendall(b"c CAPABILITY\r\n")
        out("caps", r.until_tag(b"c"))
        r.s.sendall(b"d LOGOUT\r\n")
        out("logout", r.until_tag(b"d"))
    elif mode == "inject-pop3":
        r = Raw(host, port)
        r.line()
        r.s.sendall(b"STLS\r\nUSER %s\r\nPASS %s\r\n" % (USER.encode(), PASS.encode()))
        out("stls", r.line())
        r.tls()
        r.s.sendall(b"NOOP\r\n")
        out("noop", r.line())
        r.s.sendall(b"QUIT\r\n")
        out("quit", r.line())
    elif mode == "always-smtp":		# MARK
        r = Raw(host, port)
        r.smtp_reply()
        r.s.sendall(b"EHLO client.exlb.test\r\n")
        out("ehlo", r.smtp_reply())
        for cmd in (b"MAIL FROM:<%s@example.test>" % a[0].encode(),
                    b"RCPT TO:<alice@exlb.test>", b"DATA", b"AUTH PLAIN AGFsaWNlAHNlY3JldA=="):
            r.s.sendall(cmd + b"\r\n")
            out(cmd.split()[0].decode().lower(), r.smtp_reply())
        r.s.sendall(b"QUIT\r\n")
        out("quit", r.smtp_reply())
    elif mode == "always-imap":
        r = Raw(host, port)
        out("greeting", r.line())
        r.s.sendall(b"a LOGIN %s %s\r\n" % (USER.encode(), PASS.encode()))
        out("login", r.until_tag(b"a"))
        r.s.sendall(b"b AUTHENTICATE PLAIN\r\n")
        out("authenticate", r.until_tag(b"b"))
        r.s.sendall(b"c LOGOUT\r\n")
        out("logout", r.until_tag(b"c"))
    elif mode == "always-pop3":
        r = Raw(host, port)
        out("greeting", r.line())
        for cmd in (b"USER alice", b"PASS secret", b"APOP alice 0123456789abcdef0123456789abcdef"):
            r.s.sendall(cmd + b"\r\n")
            out(cmd.split()[0].decode().lower(), r.line())
        r.s.sendall(b"QUIT\r\n")
        out("quit", r.line())
    elif mode == "overlong":		# smtp|imap|pop3
        r = Raw(host, port)
        r.line()
        r.s.sendall(b"A" * 5000 + b"\r\n")
        closed, got = r.closed_within(5)
        out("reply", got)
        out("closed", int(closed))
    elif mode == "garbage-tls":		# smtp|imap|pop3: STARTTLS then not TLS
        r = Raw(host, port)
        r.smtp_reply() if a[0] == "smtp" else r.line()
        cmd = {"smtp": b"STARTTLS", "imap": b"a STARTTLS", "pop3": b"STLS"}[a[0]]
        r.s.sendall(cmd + b"\r\n")
        out("reply", r.line())
        r.s.sendall(b"\x16\x03\x01\x00\x05garbage-not-a-client-hello\r\n" * 4)
        closed, got = r.closed_within(5)
        out("closed", int(closed))
    elif mode == "silent":			# how long until the 421 / close
        t0 = time.time()
        r = Raw(host, port)
        closed, got = r.closed_within(20)
        out("reply", got)
        out("closed", int(closed))
        out("secs", "%.1f" % (time.time() - t0))
    elif mode == "idle":			# reads the greeting, then says nothing
        t0 = time.time()
        r = Raw(host, port)
        out("greeting", r.line())
        closed, got = r.closed_within(20)
        out("reply", got)
        out("closed", int(closed))
        out("secs", "%.1f" % (time.time() - t0))
    elif mode == "notls-smtp":
        r = Raw(host, port)
        r.smtp_reply()
        r.s.sendall(b"EHLO client.exlb.test\r\n")
        out("ehlo", r.smtp_reply())
        r.s.sendall(b"STARTTLS\r\n")
        out("starttls", r.smtp_reply())
        r.s.sendall(b"QUIT\r\n")
        out("quit", r.smtp_reply())
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the caller sees what failed
        out("error", "%s: %s" % (type(e).__name__, e))
        sys.exit(1)
