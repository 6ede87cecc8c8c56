#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""The credential checks of one simulated Exchange server (exchange-rs.sh).

nginx cannot check a password, so an RS with exrs_auth_enable runs this
helper (python3 stdlib only) on a unix socket in its directory:

  GET  /check        nginx's auth_request for every request of the RS; the
                     original URI in X-Exrs-Uri. The verdict by path, as
                     Exchange's virtual directories authenticate:
                       /owa/auth/*, /owa/auth.owa, /owa/logoff.owa,
                       */healthcheck.htm, anything outside the vdirs: 200
                         (public; no user);
                       /owa/*, /ecp/*: a valid cadata cookie (200 with
                         X-Exrs-User), else 403 (nginx answers 302 to
                         /owa/auth/logon.aspx);
                       /Microsoft-Server-ActiveSync, /EWS, /OAB, /mapi, /rpc,
                       /PowerShell, /Autodiscover: valid "Authorization:
                         Basic" (200 with X-Exrs-User), else 401 with
                         WWW-Authenticate: Basic.
  POST /owa/auth.owa Exchange's form logon: the body
                     destination=..&flags=4&forcedownlevel=0&username=..&
                     password=..&passwordText=&isUtf8=1; right credentials:
                     302 to the destination with cadata, cadataTTL,
                     cadataKey, cadataIV, cadataSig cookies; wrong: 302 to
                     /owa/auth/logon.aspx?url=..&reason=2 without cadata.
  GET  /owa/logoff.owa  expires the cookies (and revokes this cadata on this
                     server), 302 to /owa/auth/logoff.aspx.

cadata is "<base64url(user)>.<issued>.<nonce>.<HMAC-SHA256 hex>" under a key
shared by every RS of the run (a file made by exchange-rs.sh): it cannot be
forged without the key, and one logon is good on every RS, as with Exchange
servers sharing a certificate. It lives EXRS_AUTH_TTL seconds (cadataTTL).
The nonce makes every logon's cadata its own: without it two logons of one
user in the same second got the same value, and a logoff's revocation of
the first refused the second.

The users file has "name:password" lines (# comments); a third field
other than "ok" (e.g. "alice:alice-pw:disabled") makes every logon of that
user fail. A name typed as NAME, NAME@any or DOMAIN\\NAME is NAME, compared
case-insensitively; the password is compared exactly.

Bounded: at most MAX_THREADS requests at once (more wait for a slot), a
body of at most MAX_BODY bytes, a 10 s socket timeout. Verdicts go to
stderr (the RS's auth-helper.log), one line each, never a password.

Usage: exchange-auth.py SOCKET USERSFILE KEYFILE
"""
import base64
import hashlib
import hmac
import os
import socketserver
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

MAX_THREADS = 32
MAX_BODY = 16384
TTL = int(os.environ.get("EXRS_AUTH_TTL", "3600"))
BASIC_VDIRS = ("microsoft-server-activesync", "ews", "oab", "mapi", "rpc",
               "powershell", "autodiscover")
COOKIE_VDIRS = ("owa", "ecp")
COOKIES = ("cadata", "cadataTTL", "cadataKey", "cadataIV", "cadataSig")


def log(msg):
    sys.stderr.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), msg))
    sys.stderr.flush()


def load_users(path):
    users = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split(":")
            if len(parts) < 2:
                continue
            state = parts[2] if len(parts) > 2 else "ok"
            users[parts[0].lower()] = (parts[1], state)
    return users


def plain_name(typed):
    name = typed.rsplit("\\", 1)[-1]
    return name.split("@", 1)[0].lower()


class Auth:
    def __init__(self, users, key):
        self.users = users
        self.key = key
        self.revoked = set()
        self.lock = threading.Lock()

    def check(self, typed, password):
        """The user's plain name, or None."""
        name = plain_name(typed)
        u = self.users.get(name)
        if not u or not password or u[1] != "ok":
            return None
        if not hmac.compare_digest(u[0].encode(), password.encode()):
            return None
        return name

    def mac(self, user_b64, issued, nonce):
        return hmac.new(self.key, ("%s.%s.%s" % (user_b64, issued, nonce)).encode(),
                        hashlib.sha256).hexdigest()

    def cadata(self, user):
        u = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
        issued = str(int(time.time()))
        nonce = os.urandom(8).hex()
        return "%s.%s.%s.%s" % (u, issued, nonce, self.mac(u, issued, nonce))

    def cookie_user(self, value):
        parts = value.split(".")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        if not hmac.compare_digest(self.mac(parts[0], parts[1], parts[2]), parts[3]):
            return None
        if time.time() - int(parts[1]) > TTL:
            return None
        with self.lock:
            if value in self.revoked:
                return None
        try:
            return base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)).decode()
        except ValueError:
            return None

    def revoke(self, value):
        with self.lock:
            if len(self.revoked) > 10000:
                self.revoked.clear()
            self.revoked.add(value)


def cookies_of(header):
    jar = {}
    for item in (header or "").split(";"):
        k, sep, v = item.strip().partition("=")
        if sep and k not in jar:
            jar[k] = v.strip('"')
    return jar


def vdir_of(path):
    seg = path.split("?", 1)[0].lstrip("/").split("/", 1)[0]
    return urllib.parse.unquote(seg).lower()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, fmt, *args):  # unix socket: no client address
        pass

    def answer(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # -- GET /check (auth_request) and GET /owa/logoff.owa
    def do_GET(self):
        if self.path == "/check":
            return self.check()
        if vdir_of(self.path) == "owa" and \
                self.path.split("?")[0].lower() == "/owa/logoff.owa":
            return self.logoff()
        return self.answer(404)

    def check(self):
        auth = self.server.auth
        uri = self.headers.get("X-Exrs-Uri", "")
        path = uri.split("?", 1)[0].lower()
        vdir = vdir_of(uri)
        if vdir in COOKIE_VDIRS:
            if path.startswith("/owa/auth/") or path in ("/owa/auth.owa", "/owa/logoff.owa") \
                    or path.endswith("/healthcheck.htm"):
                return self.answer(200)
            user = auth.cookie_user(cookies_of(self.headers.get("Cookie")).get("cadata", ""))
            if not user:
                log("check %s: no valid cadata: 403 (logon page)" % uri[:200])
                return self.answer(403)
            return self.answer(200, [("X-Exrs-User", user)])
        if vdir in BASIC_VDIRS:
            if path.endswith("/healthcheck.htm"):
                return self.answer(200)
            user = self.basic(self.headers.get("Authorization", ""))
            if not user:
                log("check %s: no valid Basic credentials: 401" % uri[:200])
                return self.answer(401, [("WWW-Authenticate", 'Basic realm="%s"' %
                                          self.headers.get("X-Exrs-Host", "exrs"))])
            return self.answer(200, [("X-Exrs-User", user)])
        return self.answer(200)

    def basic(self, value):
        scheme, _, b64 = value.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            raw = base64.b64decode(b64.strip(), validate=True).decode()
        except ValueError:
            return None
        user, sep, pw = raw.partition(":")
        return self.server.auth.check(user, pw) if sep else None

    def logoff(self):
        jar = cookies_of(self.headers.get("Cookie"))
        if jar.get("cadata"):
            self.server.auth.revoke(jar["cadata"])
        hdrs = [("Location", "/owa/auth/logoff.aspx?Cmd=logoff&src=exch")]
        hdrs += [("Set-Cookie", "%s=; expires=Thu, 01-Jan-1970 00:00:00 GMT; path=/" % c)
                 for c in COOKIES]
        log("logoff: cadata %s" % ("revoked" if jar.get("cadata") else "absent"))
        return self.answer(302, hdrs)

    # -- POST /owa/auth.owa
    def do_POST(self):
        if self.path.split("?")[0].lower() != "/owa/auth.owa":
            return self.answer(404)
        try:
            n = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            n = -1
        if n < 0 or n > MAX_BODY:
            return self.answer(400 if n < 0 else 413)
        body = self.rfile.read(n).decode("utf-8", "replace")
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        form = urllib.parse.parse_qs(body, keep_blank_values=True)
        one = lambda k: form.get(k, [""])[0]
        dest = one("destination")
        scheme = self.headers.get("X-Exrs-Scheme", "http")
        host = self.headers.get("X-Exrs-Host", "")
        dpath = urllib.parse.urlsplit(dest).path.lower()
        if not (dpath.startswith("/owa") or dpath.startswith("/ecp")):
            dest = "%s://%s/owa/" % (scheme, host)
        user = None
        if ctype == "application/x-www-form-urlencoded" and one("flags") \
                and one("isUtf8") == "1":
            user = self.server.auth.check(one("username"), one("password"))
        if not user:
            log("logon %r: refused (302 reason=2)" % one("username")[:64])
            loc = "/owa/auth/logon.aspx?url=%s&reason=2" % urllib.parse.quote(dest, safe="")
            return self.answer(302, [("Location", loc), ("Cache-Control", "no-cache"),
                                     ("X-OWA-Version", "15.2.1118.7")])
        sec = "; secure" if scheme == "https" else ""
        ttl = str(int(time.time()) + TTL)
        rand = lambda: base64.b64encode(os.urandom(24)).decode()
        cookies = [("cadata", self.server.auth.cadata(user)), ("cadataTTL", ttl),
                   ("cadataKey", rand()), ("cadataIV", rand()), ("cadataSig", rand())]
        hdrs = [("Location", dest), ("Cache-Control", "no-cache"),
                ("X-OWA-Version", "15.2.1118.7")]
        hdrs += [("Set-Cookie", '%s="%s"; HttpOnly%s; path=/' % (k, v, sec)) for k, v in cookies]
        log("logon %r: ok as %s" % (one("username")[:64], user))
        return self.answer(302, hdrs)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    slots = threading.BoundedSemaphore(MAX_THREADS)

    def process_request(self, request, client_address):
        self.slots.acquire()
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def main():
    sock, users_file, key_file = sys.argv[1:4]
    with open(key_file, "rb") as f:
        key = f.read()
    if len(key) < 32:
        sys.exit("exchange-auth: key file too short")
    if os.path.exists(sock):
        os.unlink(sock)
    srv = Server(sock, Handler)
    os.chmod(sock, 0o666)  # nginx's workers run as nobody
    srv.auth = Auth(load_users(users_file), key)
    log("listening on %s, %d users" % (sock, len(srv.auth.users)))
    srv.serve_forever()


if __name__ == "__main__":
    main()
