#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""A page left open in headless Chromium, driven over the DevTools protocol
(--remote-debugging-pipe: fd 3 in, fd 4 out, NUL-terminated JSON), for
tests that must see a page change by itself (exlbd-webui.sh).

  cdp-live.py URL USER PASSWORD FIFO CHROMIUM-ARGS...

Answers the server's authentication challenge the way a person answers
Chromium's login dialog (Fetch.authRequired: the event that shows it),
recording each challenge, then takes commands from FIFO, one a line:

  dump FILE        the DOM as HTML, and "mark" = whether the document is
                   still the first one loaded (no reload): FILE.mark
  shot FILE        a PNG screenshot
  challenges FILE  the challenges seen, JSON
  eval JS          runs JS in the page (e.g. fills in and submits a form)
  nav URL          navigates the page to URL
  quit

Each FILE appears whole (written aside, then renamed). Standard library only.
"""
import base64
import json
import os
import select
import signal
import subprocess
import sys

url, user, password, fifo = sys.argv[1:5]
chrome_args = sys.argv[5:]

to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()
# Chromium reads fd 3 and writes fd 4
proc = subprocess.Popen(chrome_args + ["--remote-debugging-pipe", "about:blank"],
                        pass_fds=(3, 4), preexec_fn=lambda: (
                            os.dup2(to_chrome_r, 3), os.dup2(from_chrome_w, 4)),
                        stdout=subprocess.DEVNULL)
os.close(to_chrome_r)
os.close(from_chrome_w)


def stop(*_):
    proc.kill()
    proc.wait()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)

next_id = 0
buf = b""
challenges = []
answers = {}


def send(method, params=None, session=None):
    global next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(to_chrome_w, json.dumps(msg).encode() + b"\0")
    return next_id


def handle_event(msg):
    method, p, s = msg.get("method"), msg.get("params", {}), msg.get("sessionId")
    if method == "Fetch.requestPaused":
        send("Fetch.continueRequest", {"requestId": p["requestId"]}, s)
    elif method == "Fetch.authRequired":
        challenges.append(p["authChallenge"])
        send("Fetch.continueWithAuth", {"requestId": p["requestId"],
             "authChallengeResponse": {"response": "ProvideCredentials",
                                       "username": user, "password": password}}, s)


def pump(timeout):
    """Reads what Chromium sent within @timeout s; events are handled."""
    global buf
    r, _, _ = select.select([from_chrome_r], [], [], timeout)
    if not r:
        return
    data = os.read(from_chrome_r, 1 << 20)
    if not data:
        stop()
    buf += data
    while b"\0" in buf:
        raw, buf = buf.split(b"\0", 1)
        msg = json.loads(raw)
        if "id" in msg:
            answers[msg["id"]] = msg
        else:
            handle_event(msg)


def call(method, params=None, session=None, timeout=30):
    i = send(method, params, session)
    for _ in range(int(timeout * 10)):
        if i in answers:
            msg = answers.pop(i)
            if "error" in msg:
                raise RuntimeError("%s: %s" % (method, msg["error"]))
            return msg.get("result", {})
        pump(0.1)
    raise RuntimeError(method + ": no answer")


def write(path, data):
    with open(path + ".part", "wb") as f:
        f.write(data)
    os.rename(path + ".part", path)


def evaluate(session, expr):
    r = call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
    return r.get("result", {}).get("value")


target = [t for t in call("Target.getTargets")["targetInfos"] if t["type"] == "page"][0]
session = call("Target.attachToTarget", {"targetId": target["targetId"],
                                         "flatten": True})["sessionId"]
call("Fetch.enable", {"handleAuthRequests": True, "patterns": [{"urlPattern": "*"}]}, session)
call("Page.enable", {}, session)
call("Page.navigate", {"url": url}, session)
marked = False
cmds = os.open(fifo, os.O_RDWR)	# never EOF while we hold it open for writing too
line = b""
while True:
    if not marked:	# once the page is there, a mark a reload would lose
        marked = evaluate(session, "document.readyState === 'complete' && "
                          "!!document.getElementById('vs') && (window.exlbTestMark = true)") or False
    r, _, _ = select.select([cmds, from_chrome_r], [], [], 0.2)
    if from_chrome_r in r:
        pump(0)
    if cmds not in r:
        continue
    line += os.read(cmds, 4096)
    while b"\n" in line:
        cmd, line = line.split(b"\n", 1)
        verb, _, arg = cmd.decode().partition(" ")
        if verb == "dump":
            write(arg + ".mark", b"same" if evaluate(session, "!!window.exlbTestMark") else b"new")
            write(arg, evaluate(session, "document.documentElement.outerHTML").encode())
        elif verb == "shot":
            png = call("Page.captureScreenshot", {"format": "png"}, session)["data"]
            write(arg, base64.b64decode(png))
        elif verb == "challenges":
            write(arg, json.dumps(challenges).encode())
        elif verb == "eval":
            evaluate(session, arg)
        elif verb == "nav":
            call("Page.navigate", {"url": arg}, session)
        elif verb == "quit":
            stop()
