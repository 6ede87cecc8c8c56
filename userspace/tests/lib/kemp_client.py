#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""A small client of Kemp's RESTful API (LoadMaster "API v1"), written from
Kemp's interface description rather than from exlb's code: a command is
GET (or POST, for a file) https://HOST/access/<command>?<parameters>, with
HTTP Basic authentication or an API key in the apikey= parameter; the reply
is XML,

  <Response stat="200" code="ok"><Success>...</Success></Response>
  <Response stat="422" code="fail"><Error>text</Error></Response>

Python's standard library only (urllib, xml.etree). Used by
userspace/tests/exlbd-kemp-api.sh:

  kemp_client.py URL AUTH call COMMAND [KEY=VALUE ...] [@FILE]
      one command; prints {"http", "stat", "code", "error", "data"} as JSON
      (@FILE: POST the file as the body, as for addcert)
  kemp_client.py URL AUTH deploy VIP VIP2 RS1 RS2 CERTFILE TEMPLATE
      creates the Exchange services by API alone (below); prints their
      indexes as JSON
  kemp_client.py URL AUTH compare SHOWFILE
      listvs against `exlbctl vs show -j` (SHOWFILE); prints the
      differences, exits 1 if there are any

AUTH is key=APIKEY or user=NAME:PASSWORD. The TLS certificate is not
verified (the test's listener has a self-signed one, on a test network).
"""
import base64
import json
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET


class KempError(Exception):
    def __init__(self, command, reply):
        super().__init__("%s: %s %s" % (command, reply["stat"], reply["error"]))
        self.reply = reply


def to_dict(elem):
    """An element as Python data: text, or a dict whose repeated tags are lists."""
    children = list(elem)
    if not children:
        return elem.text or ""
    out = {}
    for child in children:
        value = to_dict(child)
        if child.tag in out:
            if not isinstance(out[child.tag], list):
                out[child.tag] = [out[child.tag]]
            out[child.tag].append(value)
        else:
            out[child.tag] = value
    return out


def as_list(value):
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


class LoadMaster:
    def __init__(self, url, apikey=None, user=None, password=None):
        self.url = url.rstrip("/")
        self.apikey = apikey
        self.auth = None
        if user is not None:
            token = base64.b64encode(("%s:%s" % (user, password)).encode())
            self.auth = "Basic " + token.decode()
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def request(self, command, params=None, data=None):
        """The reply as a dict: http, stat, code, error, data (a dict, a
        string such as "Command completed ok", or None)."""
        query = dict(params or {})
        if self.apikey:
            query["apikey"] = self.apikey
        url = "%s/access/%s?%s" % (self.url, command, urllib.parse.urlencode(query))
        req = urllib.request.Request(url, data=data,
                                     method="POST" if data is not None else "GET")
        if self.auth:
            req.add_header("Authorization", self.auth)
        # exlb checks at most 2 passwords a second (503 beyond): again, bounded
        for _ in range(20):
            try:
                with urllib.request.urlopen(req, context=self.ctx, timeout=20) as resp:
                    status, body = resp.status, resp.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            if status != 503 or body.lstrip().startswith(b"<?xml"):
                break
            time.sleep(0.3)
        reply = {"http": status, "stat": None, "code": None, "error": None,
                 "data": None}
        try:
            root = ET.fromstring(body)     # honours encoding="ISO-8859-1"
        except ET.ParseError:
            reply["error"] = "not XML: %r" % body[:200]
            return reply
        if root.tag != "Response":
            reply["error"] = "not a Kemp reply: <%s>" % root.tag
            return reply
        reply["stat"] = int(root.get("stat"))
        reply["code"] = root.get("code")
        success, error = root.find("Success"), root.find("Error")
        if error is not None:
            reply["error"] = error.text or ""
        if success is not None:
            data = success.find("Data")
            reply["data"] = to_dict(data) if data is not None else (success.text or "")
        return reply

    def call(self, command, **params):
        reply = self.request(command, params)
        if reply["code"] != "ok":
            raise KempError(command, reply)
        return reply["data"]

    def list_vs(self):
        data = self.call("listvs")
        return as_list(data.get("VS")) if isinstance(data, dict) else []


def deploy(lm, vip, vip2, rs1, rs2, certfile, template):
    """The Exchange services as a Kemp script would make them."""
    out = {}
    with open(certfile, "rb") as f:
        reply = lm.request("addcert", {"cert": "mail", "replace": "0"}, f.read())
    if reply["code"] != "ok":
        raise KempError("addcert", reply)
    # L4: IMAP (kernel-served in exlb), two real servers
    vs = lm.call("addvs", vs=vip, port=143, prot="tcp", NickName="Exchange IMAP",
                 VStype="gen", ForceL7="N", Schedule="lc", CheckType="tcp")
    out["imap"] = int(vs["Index"])
    for rs in (rs1, rs2):
        lm.call("addrs", vs=vip, port=143, prot="tcp", rs=rs, rsport=143,
                weight=1000)
    # L7 HTTPS from Kemp's Exchange template ("Use Template"), with the
    # certificate, and the real servers added to each SubVS by its index
    vs = lm.call("addvs", vs=vip, port=443, prot="tcp", template=template)
    out["https"] = int(vs["Index"])
    lm.call("modvs", vs=vip, port=443, prot="tcp", CertFile="mail")
    out["subvs"] = []
    for sub in as_list(vs.get("SubVS")):
        index = sub["VSIndex"]
        out["subvs"].append(int(index))
        for rs in (rs1, rs2):
            lm.call("addrs", vs=index, rs=rs, rsport=443)
    # an L7 VS put together by hand: SubVS created with createsubvs
    vs = lm.call("addvs", vs=vip2, port=443, prot="tcp", NickName="OWA by hand",
                 VStype="http", SSLAcceleration="Y", CertFile="mail")
    out["manual"] = int(vs["Index"])
    vs = lm.call("modvs", vs=vip2, port=443, prot="tcp", createsubvs="")
    sub = as_list(vs.get("SubVS"))[-1]["VSIndex"]
    lm.call("modvs", vs=sub, NickName="OWA", CheckType="https",
            CheckUrl="/owa/healthcheck.htm", CheckPort=443)
    lm.call("addrs", vs=sub, rs=rs1, rsport=443)
    out["manual_subvs"] = int(sub)
    return out


def compare(lm, show):
    """Differences between listvs and exlbctl's view of the same services."""
    bad = []
    listed = {int(v["Index"]): v for v in lm.list_vs()}
    want = {}
    for vs in show:
        want[vs["id"]] = (vs, 0)
        for sub in vs.get("subvs", []):
            want[sub["id"]] = (sub, vs["id"])
    if sorted(listed) != sorted(want):
        bad.append("indexes: listvs %s, exlbctl %s" % (sorted(listed), sorted(want)))
    for index, (vs, master) in want.items():
        got = listed.get(index)
        if got is None:
            continue
        # every parameter exlbctl shows (a SubVS has fewer) and listvs's
        # own fields
        checks = [(key, value if not isinstance(value, int) or
                   key not in ("Enable", "SSLAcceleration", "ForceL7")
                   else ("Y" if value else "N"))
                  for key, value in vs.items()
                  if key in ("NickName", "Schedule", "VStype", "Enable",
                             "SSLAcceleration", "CertFile", "CheckType",
                             "CheckUrl", "Persist", "ForceL7")]
        checks = [(k, v if isinstance(v, str) else str(v)) for k, v in checks]
        checks += [("MasterVSID", str(master)),
                   ("NumberOfRSs", str(len(vs["rs"])))]
        if not master:
            checks += [("VSAddress", vs["vip"]), ("VSPort", str(vs["port"])),
                       ("Protocol", vs["prot"])]
        for key, value in checks:
            if got.get(key, "") != value:
                bad.append("%d %s: listvs %r, exlbctl %r" % (index, key, got.get(key), value))
        rs_got = sorted((r["Addr"], r["Port"], r["Weight"], r["Enable"])
                        for r in as_list(got.get("Rs")))
        rs_want = sorted((r["addr"], str(r["port"]), str(r["weight"]),
                          "Y" if r["enable"] else "N") for r in vs["rs"])
        if rs_got != rs_want:
            bad.append("%d real servers: listvs %s, exlbctl %s" % (index, rs_got, rs_want))
        sub_got = sorted(int(s["VSIndex"]) for s in as_list(got.get("SubVS")))
        sub_want = sorted(s["id"] for s in vs.get("subvs", []))
        if sub_got != sub_want:
            bad.append("%d SubVSs: listvs %s, exlbctl %s" % (index, sub_got, sub_want))
    return bad


def main(argv):
    url, auth, what = argv[1], argv[2], argv[3]
    kind, _, value = auth.partition("=")
    if kind == "key":
        lm = LoadMaster(url, apikey=value)
    else:
        user, _, password = value.partition(":")
        lm = LoadMaster(url, user=user, password=password)
    if what == "call":
        params, data = {}, None
        for item in argv[5:]:
            if item.startswith("@"):
                with open(item[1:], "rb") as f:
                    data = f.read()
            else:
                key, _, val = item.partition("=")
                params[key] = val
        print(json.dumps(lm.request(argv[4], params, data)))
        return 0
    if what == "deploy":
        try:
            print(json.dumps(deploy(lm, *argv[4:10])))
        except KempError as e:
            print(json.dumps({"failed": str(e)}))
            return 1
        return 0
    if what == "compare":
        with open(argv[4]) as f:
            bad = compare(lm, json.load(f))
        for line in bad:
            print(line)
        return 1 if bad else 0
    print("unknown: %s" % what, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
