#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Edges of exlbd's HTTP proxy that need a real connection but no TLS and no
# Exchange: a plain-HTTP VS on 127.0.0.1 in front of a small Python server,
# all in a private network namespace with nothing but a loopback (so nothing
# can leave the machine), exlbd --no-kernel with an access log.
#
# The story (one ok/not ok line per assertion, each with what was measured):
# chunk extensions as RFC 9112 writes them (a list, BWS before ";") reach
# the server; a request whose chunked body breaks before any response gets
# 400 and the close (term=PD), one whose response has started is only
# closed; the HTTP/2 preface gets 505; the access log is created 0640 (group
# exlb when that group exists) and an old world-readable one is closed to
# others at start; a content rule whose regex hits PCRE2's match limit
# counts as no match, its hits are counted across configuration changes in
# exlbctl stats, and logged once; SIGHUP and SIGUSR1 reopen the access log
# (logrotate) and never stop exlbd.
#
# Environment: EXLBD, EXLBCTL (default ../build/exlbd, ../build/exlbctl),
# KEEP=1 keeps the temp dir. Needs root (unshare -n), ip, python3, jq.
# Exit 4 = skipped. TAP: "ok N - ..." lines, the plan "1..N" last.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"

[ "$(id -u)" = 0 ] || skip "needs root (a private network namespace)"
for tool in ip python3 jq unshare timeout; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
# the network rule: a namespace of our own, with a loopback only
if [ -z "${EXLB_PRIVATE_NETNS:-}" ]; then
	EXLB_PRIVATE_NETNS=1 exec unshare -n "$0" "$@"
fi
ip link set lo up || skip "cannot bring up the loopback of the private namespace"

EXLBD=$(realpath "${EXLBD:-$here/../build/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"

readonly VIP=127.0.0.1 VPORT=18080 RS=127.0.0.1 RPORT=18081 RULES_PORT=18082
T=$(mktemp -d /tmp/exlb-edge.XXXXXX)
SOCK=$T/exlbd.sock
ALOG=$T/access.log
DAEMON_PID=
RS_PID=

cleanup() {
	[ -n "$RS_PID" ] && kill "$RS_PID" 2>/dev/null
	exlbd_kill
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT


# ---- the real server: HTTP/1.1, keep-alive, reads chunked bodies (any
# extensions), logs "METHOD TARGET bytes=N" per request; /early answers a
# 100-byte response with 10 bytes at once, before reading the body, and
# holds the rest

cat > "$T/rs.py" <<'EOF'
import socket, sys, threading

log = open(sys.argv[2], "a", buffering=1)

def serve(c):
    f = c.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            method, target, _ = line.decode("latin1").split(" ", 2)
            h = {}
            while True:
                l = f.readline()
                if l in (b"\r\n", b""):
                    break
                k, v = l.decode("latin1").split(":", 1)
                h[k.strip().lower()] = v.strip()
            if target.startswith("/early"):
                log.write("%s %s early\n" % (method, target))
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
                while f.read(1):
                    pass
                return
            n = 0
            if "chunked" in h.get("transfer-encoding", ""):
                while True:
                    size = int(f.readline().split(b";")[0].strip(), 16)
                    n += len(f.read(size))
                    f.readline()
                    if size == 0:
                        break
            elif "content-length" in h:
                n = len(f.read(int(h["content-length"])))
            log.write("%s %s bytes=%d\n" % (method, target, n))
            body = b"got %d\n" % n
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    except (OSError, ValueError):
        return
    finally:
        c.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

# ---- the client: raw bytes, then what came back until the close (<= 5 s)

cat > "$T/rawc.py" <<'EOF'
import json, socket, sys, time

def main():
    port, kind = int(sys.argv[1]), sys.argv[2]
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = b"POST /%s HTTP/1.1\r\nHost: edge.example.test\r\nTransfer-Encoding: chunked\r\n%s\r\n"
    out = {"port": s.getsockname()[1]}
    if kind == "ext-list":
        s.sendall(head % (b"ext?t=ext-list", b"Connection: close\r\n") + b"5;a=b;c=\"d e\"\r\nhello\r\n3 ; x = y\r\nabc\r\n0;last\r\n\r\n")
    elif kind == "bad-chunk":
        s.sendall(head % (b"bad?t=bad-chunk", b"") + b"5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n")
    elif kind == "bad-chunk-late":
        s.sendall(head % (b"early?t=bad-chunk-late", b"") + b"5\r\nhello\r\n")
        got = b""
        while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < 10:
            d = s.recv(65536)
            if not d:
                break
            got += d
        out["before"] = got.decode("latin1")
        s.sendall(b"zz\r\nmore\r\n")
    elif kind == "preface":
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    data, closed, t0 = b"", False, time.time()
    while time.time() - t0 < 5:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            closed = True
            break
        except socket.timeout:
            break
        if not d:
            closed = True
            break
        data += d
    out["reply"] = data.decode("latin1")
    out["status"] = int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0
    out["closed"] = closed
    print(json.dumps(out))

main()
EOF
rawc() { timeout 15 python3 "$T/rawc.py" "$VPORT" "$1"; }

python3 "$T/rs.py" "$RPORT" "$T/rs.log" 2>>"$T/rs.err" &
RS_PID=$!

# ---- exlbd, with an access log left by an older exlbd: world-readable

OLDLOG=$T/old-access.log
: > "$OLDLOG"
chmod 0644 "$OLDLOG"
"$EXLBD" --no-kernel --state-dir "$T/state" --socket "$SOCK" --access-log "$OLDLOG" \
	>>"$T/exlbd.log" 2>&1 &
DAEMON_PID=$!
wait_for 10 ctl get RetryInterval >/dev/null 2>&1
m=$(stat -c %a "$OLDLOG")
report "$([ "$m" = 640 ] && grep -q "was readable by all users" "$T/exlbd.log"; echo $?)" \
	"an existing 0644 access log is closed to others at start (mode $m, logged: $(grep -c 'readable by all' "$T/exlbd.log"))"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=

"$EXLBD" --no-kernel --state-dir "$T/state" --socket "$SOCK" --access-log "$ALOG" \
	>>"$T/exlbd.log" 2>&1 &
DAEMON_PID=$!
exlbd_ready "exlbd runs (--no-kernel, --access-log, socket $SOCK)"

want_group=$(getent group exlb >/dev/null && echo exlb || id -gn)
got=$(stat -c '%a %G' "$ALOG")
report "$([ "$got" = "640 $want_group" ]; echo $?)" \
	"the access log is created mode 640, group $want_group ($(getent group exlb >/dev/null && echo 'group exlb exists' || echo 'no group exlb: the daemon'"'"'s')): $got"

cfg vs add $VIP $VPORT tcp nickname=Edge VStype=http CheckType=none
cfg rs add Edge $RS port=$RPORT
report "${cfg_bad:-0}" "configured: VS Edge $VIP:$VPORT (http), RS $RS:$RPORT"

get() {	# get PORT TARGET: the status of one GET on a new connection
	timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(b"GET %s HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n" % sys.argv[2].encode())
print(s.recv(100).split(b" ")[1].decode())' "$@" 2>/dev/null
}
up() { [ "$(get "$VPORT" /up)" = 200 ]; }
wait_for 10 up
report $? "the VS answers 200 through the server"

# ---- chunk extensions (RFC 9112 7.1.1)

j=$(rawc ext-list)
l=$(alog_line "t=ext-list")
report "$([ "$(jq -r .status <<<"$j")" = 200 ] && grep -q "^POST /ext?t=ext-list bytes=8$" "$T/rs.log" &&
	[ "$(field "$l" term)" = -- ]; echo $?)" \
	"a chunk extension list and BWS before ';' reach the server: status $(jq -r .status <<<"$j"), server got: $(grep 't=ext-list' "$T/rs.log"), term=$(field "$l" term)"

# ---- a body whose framing breaks

j=$(rawc bad-chunk)
l=$(alog_line "t=bad-chunk ")
report "$([ "$(jq -r .status <<<"$j")" = 400 ] && [ "$(jq -r .closed <<<"$j")" = true ] &&
	[ "$(field "$l" term)" = PD ] && [ "$(field "$l" status)" = 400 ]; echo $?)" \
	"a bad chunk size before any response: status $(jq -r .status <<<"$j") (want 400), closed $(jq -r .closed <<<"$j"), log status=$(field "$l" status) term=$(field "$l" term)"

j=$(rawc bad-chunk-late)
l=$(alog_line "t=bad-chunk-late")
reply=$(jq -r .reply <<<"$j")
report "$([[ $(jq -r .before <<<"$j") == "HTTP/1.1 200 "* ]] && [ "$(jq -r .closed <<<"$j")" = true ] &&
	[[ $reply != *HTTP/1.1* ]] && [ "$(field "$l" term)" = PD ]; echo $?)" \
	"a bad chunk after the response started: only the close (then: $(jq -c '{closed, reply}' <<<"$j"), log status=$(field "$l" status) term=$(field "$l" term))"

# ---- the HTTP/2 preface

j=$(rawc preface)
l=$(alog_line "client=127.0.0.1:$(jq -r .port <<<"$j") ")
report "$([ "$(jq -r .status <<<"$j")" = 505 ] && [ "$(jq -r .closed <<<"$j")" = true ] &&
	[ "$(field "$l" term)" = PR ]; echo $?)" \
	"the HTTP/2 preface gets $(jq -r .status <<<"$j") (want 505), closed $(jq -r .closed <<<"$j"), term=$(field "$l" term)"

# ---- a content rule that backtracks catastrophically: PCRE2 limits

cfg vs add $VIP $RULES_PORT tcp nickname=Rules VStype=http
cfg subvs add Rules nickname=Evil CheckType=none
cfg subvs add Rules nickname=Rest CheckType=none
cfg rule add evil matchtype=regex 'pattern=/^\/(a+)+$/'
cfg rule attach Rules/Evil evil
cfg rs add Rules $RS port=$RPORT addtoallsubvs=1
REST_ID=$(ctl -j subvs show Rules/Rest 2>/dev/null | jq -r 'if type == "array" then .[0] else . end | .id')
rules_up() { [ "$(get "$RULES_PORT" /up)" = 200 ]; }
wait_for 10 rules_up
report "${cfg_bad:-0}" "configured: VS Rules :$RULES_PORT, SubVS Evil (rule evil /^\/(a+)+\$/), SubVS Rest (catch-all, id $REST_ID)"

# 2^n steps of backtracking for n a's: 100 is far past the 200 000 steps
evil="/$(printf 'a%.0s' $(seq 100))!"
c1=$(get "$RULES_PORT" "$evil?t=evil-1")
cfg rs mod Rules/Rest $RS weight=900	# a new plan: rules compiled again
c2=$(get "$RULES_PORT" "$evil?t=evil-2")
l1=$(alog_line "t=evil-1"); l2=$(alog_line "t=evil-2")
report "$([ "$c1" = 200 ] && [ "$c2" = 200 ] && [ "$(field "$l1" subvs)" = "$REST_ID" ] &&
	[ "$(field "$l2" subvs)" = "$REST_ID" ]; echo $?)" \
	"a 102-byte target that makes rule evil give up counts as no match: status $c1 $c2, routed to subvs $(field "$l1" subvs) $(field "$l2" subvs) (Rest = $REST_ID)"
hits=$(ctl stats -j | jq -r '.rules[] | select(.name == "evil") | .limit_hits')
total=$(ctl stats -j | jq -r '.rule_limit_hits')
report "$([ "$hits" = 2 ] && [ "$total" = 2 ]; echo $?)" \
	"exlbctl stats -j: rule evil limit_hits=$hits (want 2, across a configuration change), rule_limit_hits=$total"
row=$(ctl stats | grep -E '^evil +[0-9]+$')
report "$([ "$(awk '{ print $2 }' <<<"$row")" = 2 ] && ctl stats | grep -q 'PCRE2 limit hits'; echo $?)" \
	"exlbctl stats prints the rule's row: '$row'"
logged=$(grep -c "rule evil: a match hit PCRE2's match limit" "$T/exlbd.log")
report "$([ "$logged" = 1 ]; echo $?)" "the limit hit is logged once for two hits ($logged line(s))"

# ---- logrotate: SIGHUP and SIGUSR1 reopen the access log, never stop exlbd

for sig in HUP USR1; do
	mv "$ALOG" "$ALOG.$sig"
	kill -"$sig" "$DAEMON_PID"
	wait_for 5 test -e "$ALOG"
	get "$VPORT" "/up?t=rot-$sig" >/dev/null
	l=$(alog_line "t=rot-$sig")
	report "$(kill -0 "$DAEMON_PID" 2>/dev/null && [ -n "$l" ] && ! grep -q "t=rot-$sig" "$ALOG.$sig" &&
		[ "$(stat -c %a "$ALOG")" = 640 ]; echo $?)" \
		"SIG$sig: exlbd runs on and reopens its access log (mode $(stat -c %a "$ALOG" 2>/dev/null)): the next request is in the new file, not the moved one"
done

# ---- the end

kill -0 "$DAEMON_PID" 2>/dev/null
report $? "exlbd still runs"
[ "$TAP_FAILED" = 0 ] ||
	diag "exlbd log:" "$(tail -n 20 "$T/exlbd.log")" "server log:" "$(tail -n 20 "$T/rs.log")"
tap_end
