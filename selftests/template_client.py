#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Real client traffic through one applied Exchange template.

    template_client.py KIND VIP SUBJECT-PREFIX

KIND says what the template serves (selftests/exlbd_templates.sh maps each
template to one). Every socket has a timeout. Prints one line
"ok <what was measured>" or "fail <why>" and exits 0 / 1; a sent message's
subject is printed as "sent <subject>" before it, for the delivery check.

Environment: LB_CA (exlbd's certificate, CN mail.exlb.test), RS_CA (the
simulated Exchange servers' nginx certificate, CN exrs.example.test),
MAIL_CAS (colon-separated certificates of the two mail servers' own TLS,
CN exchN.exlb.test).

KINDs:
  https-offload, https-reencrypt, https-passthrough
      the port-80 redirect (302 to https://host/path), then 18 GETs, two to
      each of the nine vdirs, on one keep-alive TLS connection (on two held
      open at once when passed through: a connection is one server's): every one
      200 from exch1 or exch2, both servers seen, the scheme the server saw
      (http when offloaded, https otherwise), and whose certificate the
      client got (exlbd's when offloaded/re-encrypted, the server's when
      passed through)
  smtp, smtp-esp, smtps-passthrough, smtp-starttls, smtps-offload
      two SMTP sessions, each sending a message, both to the same server
      (the templates persist by source); TLS as the template says, with the
      certificate of the party that should terminate it; smtp-esp also
      has a recipient of another domain refused with 550 in each session
  imap, imaps-passthrough, imap-starttls, imaps-offload,
  pop, pops-passthrough, pop-starttls, pops-offload
      two logins (alice/secret) and a SELECT / STAT; both servers seen (rr)
"""

import http.client
import imaplib
import os
import poplib
import re
import smtplib
import socket
import ssl
import sys

TIMEOUT = 20
HOST = "mail.exlb.test"
VDIRS = ["Microsoft-Server-ActiveSync", "Autodiscover", "ecp", "ews", "mapi",
         "OAB", "owa", "powershell", "rpc"]


def who(text):
    m = re.search(r"exch\d", text)
    return m.group(0) if m else "?"


def ctx_for(cafiles, hostname_check=True):
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cafile=cafiles[0])
    for f in cafiles[1:]:
        ctx.load_verify_locations(cafile=f)
    ctx.check_hostname = hostname_check
    return ctx


def peer_cn(sock):
    for rdn in sock.getpeercert().get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return "?"


class Fail(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise Fail(why)


def https(kind, vip):
    # the port-80 redirect VS of the template
    c = http.client.HTTPConnection(vip, 80, timeout=TIMEOUT)
    c.request("GET", "/owa/?a=1", headers={"Host": HOST})
    r = c.getresponse()
    r.read()
    c.close()
    loc = r.getheader("Location")
    expect(r.status == 302 and loc == "https://%s/owa/?a=1" % HOST,
           "port 80 answered %d Location %r" % (r.status, loc))

    if kind == "https-passthrough":
        # the servers' own certificate (CN is not mail.exlb.test)
        ctx, want_cn = ctx_for([os.environ["RS_CA"]], False), None
        scheme = "https"
    else:
        ctx, want_cn = ctx_for([os.environ["LB_CA"]]), HOST
        scheme = "https" if kind == "https-reencrypt" else "http"
    # Offloaded: exlbd routes each request on its own, so one keep-alive
    # connection reaches both servers. Passed through, a connection is one
    # server's: two connections held open at once (lc must spread them).
    conns = []
    for _ in range(1 if kind != "https-passthrough" else 2):
        raw = socket.create_connection((vip, 443), timeout=TIMEOUT)
        s = ctx.wrap_socket(raw, server_hostname=HOST)
        c = http.client.HTTPSConnection(vip, 443, timeout=TIMEOUT, context=ctx)
        c.sock = s
        conns.append(c)
    cn = peer_cn(conns[0].sock)
    if want_cn:
        expect(cn == want_cn, "certificate CN %r, expected exlbd's %r" % (cn, want_cn))
    else:
        expect(cn == "exrs.example.test", "certificate CN %r, expected the servers' "
               "exrs.example.test" % cn)
    seen = []
    for v in VDIRS:
        for c in conns if len(conns) == 2 else conns * 2:
            c.request("GET", "/%s/" % v, headers={"Host": HOST})
            r = c.getresponse()
            body = r.read()
            rs = r.getheader("X-RS") or "?"
            expect(r.status == 200 and rs in ("exch1", "exch2"),
                   "/%s/ answered %d by %s" % (v, r.status, rs))
            expect(("vdir %s " % v.lower()) in body.decode(errors="replace").lower(),
                   "/%s/ body names another vdir: %r" % (v, body[:80]))
            got = r.getheader("X-Backend-Scheme")
            expect(got == scheme, "/%s/ reached the server over %s, expected %s"
                   % (v, got, scheme))
            seen.append(rs)
    for c in conns:
        c.close()
    expect(set(seen) == {"exch1", "exch2"}, "servers seen: %s" % sorted(set(seen)))
    return "302 redirect; 18 GETs on %d connection(s), 9 vdirs, all 200; servers %s; " \
        "server saw %s; certificate CN %s" % (
            len(conns), "+".join("%s=%d" % (x, seen.count(x)) for x in sorted(set(seen))),
            scheme, cn)


def mail_ctx(kind):
    # the clients connect to the VIP's address: check_cn() checks the name
    if kind.endswith("-passthrough"):
        return ctx_for(os.environ["MAIL_CAS"].split(":"), False), "server"
    return ctx_for([os.environ["LB_CA"]], False), "exlbd"


def check_cn(sock, whose):
    cn = peer_cn(sock)
    if whose == "exlbd":
        expect(cn == HOST, "certificate CN %r, expected exlbd's" % cn)
    else:
        expect(re.fullmatch(r"exch\d\.exlb\.test", cn), "certificate CN %r, expected a server's" % cn)
    return cn


def smtp(kind, vip, prefix):
    servers, cns = [], set()
    for i in range(2):
        subject = "%s %s %d" % (prefix, kind, i)
        if kind == "smtps-offload":
            ctx, whose = mail_ctx(kind)
            s = smtplib.SMTP_SSL(vip, 587, local_hostname="client.exlb.test",
                                 timeout=TIMEOUT, context=ctx)
            cns.add(check_cn(s.sock, whose))
        else:
            port = 587 if kind == "smtps-passthrough" else 25
            s = smtplib.SMTP(vip, port, local_hostname="client.exlb.test", timeout=TIMEOUT)
        s.ehlo()
        servers.append(who(s.ehlo_resp.decode()))
        if kind in ("smtp-starttls", "smtps-passthrough"):
            expect(s.has_extn("starttls"), "STARTTLS not offered")
            ctx, whose = mail_ctx(kind)
            s.starttls(context=ctx)
            cns.add(check_cn(s.sock, whose))
            s.ehlo()
            expect(not s.has_extn("starttls"), "STARTTLS offered again after TLS")
        if kind == "smtp-esp":
            # SMTPAllowedDomains=exlb.test: another domain is refused by the
            # LB (Exchange's 550 5.7.54) and the session goes on
            s.mail("tpl@client.exlb.test")
            code, msg = s.rcpt("bob@example.org")
            expect(code == 550, "RCPT TO <bob@example.org>: %d %r, expected 550" % (code, msg))
            s.rset()
        s.sendmail("tpl@client.exlb.test", ["alice@exlb.test"],
                   "From: tpl@client.exlb.test\r\nTo: alice@exlb.test\r\n"
                   "Subject: %s\r\n\r\ntemplate traffic\r\n" % subject)
        s.quit()
        print("sent", subject, flush=True)
    expect(all(x in ("exch1", "exch2") for x in servers), "EHLO from %s" % servers)
    # every SMTP template persists by source address (3600 s)
    expect(servers[0] == servers[1], "source persistence: EHLO from %s" % servers)
    return "2 messages accepted (250)%s, EHLO from %s (persistence)%s" % (
        ", 2 recipients of another domain refused (550)" if kind == "smtp-esp" else "",
        "+".join(servers), "; TLS certificate CN " + "+".join(sorted(cns)) if cns else "")


def imap(kind, vip):
    servers, cns = [], set()
    for _ in range(2):
        if kind in ("imaps-offload", "imaps-passthrough"):
            ctx, whose = mail_ctx(kind)
            m = imaplib.IMAP4_SSL(vip, 993, ssl_context=ctx, timeout=TIMEOUT)
            cns.add(check_cn(m.sock, whose))
        else:
            m = imaplib.IMAP4(vip, 143, timeout=TIMEOUT)
        servers.append(who(m.welcome.decode()))
        if kind == "imap-starttls":
            ctx, whose = mail_ctx(kind)
            m.starttls(ssl_context=ctx)
            cns.add(check_cn(m.sock, whose))
            caps = " ".join(m.capabilities)
            expect("STARTTLS" not in caps and "LOGINDISABLED" not in caps,
                   "capabilities after TLS: %s" % caps)
        typ, _ = m.login("alice", "secret")
        expect(typ == "OK", "LOGIN %s" % typ)
        typ, data = m.select("INBOX")
        expect(typ == "OK", "SELECT %s" % typ)
        m.logout()
    expect(set(servers) == {"exch1", "exch2"}, "greeted by %s" % servers)
    return "2 logins + SELECT, greeted by %s%s" % (
        "+".join(servers), "; TLS certificate CN " + "+".join(sorted(cns)) if cns else "")


def pop(kind, vip):
    servers, cns = [], set()
    for _ in range(2):
        if kind in ("pops-offload", "pops-passthrough"):
            ctx, whose = mail_ctx(kind)
            p = poplib.POP3_SSL(vip, 995, context=ctx, timeout=TIMEOUT)
            cns.add(check_cn(p.sock, whose))
        else:
            p = poplib.POP3(vip, 110, timeout=TIMEOUT)
        servers.append(who(p.getwelcome().decode()))
        if kind == "pop-starttls":
            ctx, whose = mail_ctx(kind)
            p.stls(context=ctx)
            cns.add(check_cn(p.sock, whose))
            expect("STLS" not in p.capa(), "STLS offered again after TLS")
        p.user("alice")
        p.pass_("secret")
        n, size = p.stat()
        p.quit()
    expect(set(servers) == {"exch1", "exch2"}, "greeted by %s" % servers)
    return "2 logins + STAT, greeted by %s%s" % (
        "+".join(servers), "; TLS certificate CN " + "+".join(sorted(cns)) if cns else "")


def main():
    kind, vip, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    try:
        if kind.startswith("https"):
            what = https(kind, vip)
        elif kind.startswith("smtp"):
            what = smtp(kind, vip, prefix)
        elif kind.startswith("imap"):
            what = imap(kind, vip)
        elif kind.startswith("pop"):
            what = pop(kind, vip)
        else:
            raise Fail("unknown kind %s" % kind)
    except Fail as e:
        print("fail", e)
        return 1
    except (OSError, ssl.SSLError, smtplib.SMTPException, imaplib.IMAP4.error,
            poplib.error_proto, http.client.HTTPException) as e:
        print("fail %s: %s" % (type(e).__name__, e))
        return 1
    print("ok", what)
    return 0


if __name__ == "__main__":
    sys.exit(main())
