#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# exlbd's L7 HTTPS proxy end to end, the way Exchange uses it: a client, the
# load balancer and two simulated Exchange servers, each in its own network
# namespace, nothing routed anywhere else.
#
#   client                 lb (exlbd --no-kernel)              rs1, rs2 (nginx,
#   hs-cl 198.18.10.2 ---- hs-lb 198.18.10.1                    lib/exchange-rs.sh)
#                                VIP 198.18.10.10 :443 Exch     hs-rs 198.18.11.11
#                                                 :80  Redirect       198.18.11.12
#                                VIP 198.18.10.11 :443 Reenc
#                          hs-br 198.18.11.1 (bridge) ---------  :80 :443
#
# Exch is the guide's "HTTPS Offloaded" service: TLS terminated with three
# certificates (mail, autod, legacy: SNI), nine SubVSs chosen by content
# rules on the path, both servers in all of them on :80, HTTP health checks
# of /<vdir>/healthcheck.htm. Redirect answers 302 to https://%h%s. Reenc
# re-encrypts to the servers' :443.
#
# The story (one ok/not ok line per assertion, each with what was measured):
# every vdir reaches its SubVS; round robin; per-request routing on one
# keep-alive connection; the redirect; SNI, NeedHostName, TLSType and
# CipherSet; an NTLM-authenticated connection stays on one backend
# connection, an unauthenticated one is balanced per request; XFF and Via;
# a 200 MB download streams and arrives intact; a 50 MB upload arrives
# whole (TLS 1.2, counted) and intact (TLS 1.3, stored and compared); the
# access log; request smuggling attempts are refused without
# reaching a server; garbage instead of TLS; re-encryption; one server's
# OWA failing takes it out of OWA only; no server left -> 503; droponfail
# cuts a download from a failed server (term=DD).
#
# Environment:
#   EXLBD, EXLBCTL        the binaries (default ../build/exlbd, ../build/exlbctl)
#   EXLBD_TLS_RELAY       auto|ktls|userspace, passed as --tls-relay
#   EXLBD_WORKERS         passed as --workers (default: exlbd's own)
#   EXLB_HTTPS_EXPECT_TLS ktls|userspace: every TLS request's access log line
#                         must say so; with ktls also /proc/net/tls_stat of the
#                         LB namespace must count kTLS sessions (TLS 1.2 both
#                         ways, TLS 1.3 transmit)
#   EXLB_HTTPS_BIG_MB     size of the streamed file (200)
#   PYTHON                python3 (default /usr/bin/python3 if present)
#   KEEP=1                keep the temp dir (logs, configs)
#
# Needs root and: iproute2, nginx(-light), curl, openssl, python3, jq,
# coreutils (sha256sum, timeout). Exit 4 = skipped (only when one of those
# is missing or the binaries are not built). TAP: "ok N - ..." lines, the
# plan "1..N" last; exits 0 only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx curl openssl jq sha256sum timeout; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)}
[ -n "$PYTHON" ] && "$PYTHON" -c 'import ssl' 2>/dev/null || skip "python3 with ssl not installed"

EXLBD=$(realpath "${EXLBD:-$here/../build/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"
EXPECT_TLS=${EXLB_HTTPS_EXPECT_TLS:-}
[ -z "$EXPECT_TLS" ] && [ "${EXLBD_TLS_RELAY:-}" = userspace ] && EXPECT_TLS=userspace

readonly CL_IP=198.18.10.2 LB_IP=198.18.10.1 VIP=198.18.10.10 VIP_RE=198.18.10.11
readonly LB_RS_IP=198.18.11.1 RS1=198.18.11.11 RS2=198.18.11.12
readonly MAIL=mail.example.test AUTOD=autodiscover.example.test LEGACY=legacy.example.test
readonly REENC=reenc.example.test
# SubVS nickname : the vdir (lower case, as the guide's CheckUrl and rules
# have it) : a URL of it as Exchange clients spell it
readonly SUBVSS="OWA:owa:/owa/ ECP:ecp:/ecp/ EWS:ews:/EWS/Exchange.asmx MAPI:mapi:/mapi/emsmdb/
	RPC:rpc:/rpc/rpcproxy.dll OAB:oab:/OAB/ ActiveSync:microsoft-server-activesync:/Microsoft-Server-ActiveSync
	Autodiscover:autodiscover:/Autodiscover/Autodiscover.xml PowerShell:powershell:/PowerShell/"
readonly HEALTH_WAIT=30		# RetryInterval 9 * RetryCount 2 + Timeout 4, + slack
export EXRS_BIG_MB=${EXLB_HTTPS_BIG_MB:-200}
readonly BIG=${EXRS_BIG_MB}M
# the download is sent at a rate that makes it last 5 s, whatever its size
readonly BIG_RATE=$(( EXRS_BIG_MB >= 10 ? EXRS_BIG_MB / 5 : 1 ))m

T=$(mktemp -d /tmp/exlb-https.XXXXXX)
chmod 755 "$T"
export EXRS_DIR=$T/rs
NS_CL=exlb-hs-cl-$$
NS_LB=exlb-hs-lb-$$
NS_RS1=exlb-hs-rs1-$$
NS_RS2=exlb-hs-rs2-$$
SOCK=$T/exlbd.sock
ALOG=$T/access.log
DAEMON_PID=
BG_PIDS=()

# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"

cleanup() {
	local p ns
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	exrs_cleanup 2>/dev/null
	for ns in "$NS_CL" "$NS_LB" "$NS_RS1" "$NS_RS2"; do ip netns del "$ns" 2>/dev/null; done
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

in_cl() { ip netns exec "$NS_CL" "$@"; }
in_lb() { ip netns exec "$NS_LB" "$@"; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }	# a <= b (decimals)

# ---- HTTP from the client namespace

RESOLVE=(--resolve "$MAIL:443:$VIP" --resolve "$MAIL:80:$VIP" --resolve "$AUTOD:443:$VIP"
	--resolve "$LEGACY:443:$VIP" --resolve "$REENC:443:$VIP_RE")

# fetch [curl options] URL: one request on a new connection. Sets CODE and
# BODY; hdr NAME prints a response header.
fetch() {
	: > "$T/h"; : > "$T/b"
	CODE=$(in_cl curl -sk --max-time 20 "${RESOLVE[@]}" -D "$T/h" -o "$T/b" -w '%{http_code}' "$@" 2>/dev/null)
	BODY=$(head -c 4096 "$T/b" | tr -d '\0')
}
hdr() { grep -i "^$1:" "$T/h" | tail -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }

# which servers answered COUNT new-connection requests to URL: "rs1=N rs2=N"
spread() {
	local url=$1 count=$2 i rs1=0 rs2=0 other=0
	for ((i = 0; i < count; i++)); do
		fetch "$url"
		case $(hdr X-RS) in rs1) rs1=$((rs1 + 1)) ;; rs2) rs2=$((rs2 + 1)) ;; *) other=$((other + 1)) ;; esac
	done
	echo "rs1=$rs1 rs2=$rs2$([ $other = 0 ] || echo " other=$other")"
}

# openssl s_client from the client to VIP:443; 0 if the handshake completed
tls_hs() {
	in_cl timeout 10 openssl s_client -connect "$VIP:443" "$@" </dev/null >"$T/sc.out" 2>&1 &&
		grep -q '^New, TLS' "$T/sc.out" && ! grep -q 'Cipher is (NONE)' "$T/sc.out"
}
tls_fails() { ! tls_hs "$@"; }
cert_subject() {
	in_cl timeout 10 openssl s_client -connect "$VIP:443" "$@" </dev/null 2>/dev/null |
		openssl x509 -noout -subject 2>/dev/null | sed 's/^subject= *//'
}

# ---- health as exlbctl status shows it: "Exch/OWA 198.18.11.11 up" lines

health() {
	ctl status -j 2>/dev/null | jq -r '.vs[] | .name as $v |
		((.subvs // [])[] | .name as $s | (.rs // [])[] | "\($v)/\($s) \(.addr) \(.health)"),
		((.rs // [])[] | "\($v) \(.addr) \(.health)")' 2>/dev/null
}
readonly TARGETS=20	# 9 SubVSs x 2 + Reenc x 2
all_up() {
	local h
	h=$(health)
	[ "$(grep -c ' up$' <<<"$h")" = $TARGETS ]
}
# health_is "SVC ADDR STATE"...: each of these, every other target up
health_is() {
	local h want n=0
	h=$(health)
	for want in "$@"; do
		grep -qx "$want" <<<"$h" || return 1
		case $want in *" up") ;; *) n=$((n + 1)) ;; esac
	done
	[ "$(grep -c ' up$' <<<"$h")" = $((TARGETS - n)) ]
}
not_up() { health | grep -v ' up$' | tr '\n' ';'; }

# ---- a small HTTP/1.1 client over TLS for what curl cannot do: several
# requests with chosen headers on one connection, raw bytes

cat > "$T/httpc.py" <<'EOF'
import json, os, socket, ssl, sys, time

def connect(host, port, sni, tls=True):
    s = socket.create_connection((host, int(port)), timeout=10)
    if not tls:
        return s
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(s, server_hostname=sni)

class Reader:
    def __init__(self, s):
        self.s, self.buf = s, b""
    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d
    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l
    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

def response(r):
    code = int(r.line().split()[1])
    h = {}
    while True:
        l = r.line()
        if not l:
            break
        k, v = l.decode("latin1").split(":", 1)
        h[k.strip().lower()] = v.strip()
    body = b""
    if "chunked" in h.get("transfer-encoding", "").lower():
        while True:
            n = int(r.line().split(b";")[0], 16)
            if n == 0:
                while r.line():
                    pass
                break
            body += r.exact(n)
            r.exact(2)
    elif "content-length" in h:
        body = r.exact(int(h["content-length"]))
    return code, h, body

def closed_within(s, r, secs):
    """True if the peer closes the connection within secs, sending nothing more."""
    if r.buf:
        return False
    s.settimeout(secs)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True
    except (socket.timeout, TimeoutError):
        return False

HOST = "mail.example.test"

def smuggle(kind):
    tail = b"GET /ews/smuggled-%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (kind.encode(), HOST.encode())
    head = b"POST /ews/?t=smuggle-%s HTTP/1.1\r\nHost: %s\r\n" % (kind.encode(), HOST.encode())
    if kind == "cl-te":
        body = b"0\r\n\r\n" + tail
        return head + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(body) + body
    if kind == "cl-cl":
        return head + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(tail) + tail
    if kind == "obs-fold":
        return (b"GET /ews/?t=smuggle-obs-fold HTTP/1.1\r\nHost: %s\r\nX-Folded: a\r\n b\r\n\r\n"
                % HOST.encode() + tail)
    if kind == "bare-lf":
        return b"GET /ews/?t=smuggle-bare-lf HTTP/1.1\nHost: %s\n\n" % HOST.encode() + tail
    if kind == "te-gzip":
        body = b"0\r\n\r\n" + tail
        return head + b"Transfer-Encoding: gzip\r\n\r\n" + body
    if kind == "big-header":
        return (b"GET /ews/?t=smuggle-big-header HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n"
                % (HOST.encode(), b"a" * 40960) + tail)
    raise SystemExit("unknown kind " + kind)

def main():
    mode, host, port = sys.argv[1:4]
    out = {}
    try:
        if mode == "seq":
            # seq HOST PORT SNI REQ...: REQ = "PATH" or "PATH|Header: value"
            sni, reqs = sys.argv[4], sys.argv[5:]
            s = connect(host, port, sni)
            r = Reader(s)
            res = out["responses"] = []
            for q in reqs:
                path, _, extra = q.partition("|")
                req = "GET %s HTTP/1.1\r\nHost: %s\r\n" % (path, HOST)
                if extra:
                    req += extra + "\r\n"
                s.sendall((req + "\r\n").encode())
                code, h, body = response(r)
                res.append({"code": code, "rs": h.get("x-rs"), "conn": h.get("x-backend-conn"),
                            "req": h.get("x-backend-requests")})
        elif mode == "raw":
            # raw HOST PORT SNI KIND: one bad request; the answer, and whether
            # the connection is closed afterwards
            sni, kind = sys.argv[4:6]
            s = connect(host, port, sni)
            out["port"] = s.getsockname()[1]
            r = Reader(s)
            try:
                s.sendall(smuggle(kind))
            except OSError as e:	# refused before all was sent: the answer may still be there
                out["send_error"] = type(e).__name__
            try:
                code, h, body = response(r)
                out["code"] = code
                out["more"] = False
                out["closed"] = closed_within(s, r, 3)
            except (EOFError, OSError) as e:
                out["code"], out["closed"], out["read_error"] = None, True, type(e).__name__
        elif mode == "garbage":
            # garbage HOST PORT NBYTES: random bytes instead of a ClientHello
            s = connect(host, port, None, tls=False)
            s.sendall(os.urandom(int(sys.argv[4])))
            t0 = time.monotonic()
            out["closed"] = closed_within(s, Reader(s), 5)
            out["secs"] = round(time.monotonic() - t0, 2)
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out))

main()
EOF
httpc() { in_cl timeout 60 "$PYTHON" "$T/httpc.py" "$@"; }

echo "TAP version 13"

# ---- the network: four namespaces, nothing routed out

for ns in "$NS_CL" "$NS_LB" "$NS_RS1" "$NS_RS2"; do
	ip netns add "$ns" || skip "cannot create network namespaces"
	ip -n "$ns" link set lo up
done
ip -n "$NS_CL" link add hs-cl type veth peer name hs-lb netns "$NS_LB"
ip -n "$NS_CL" addr add $CL_IP/24 dev hs-cl
ip -n "$NS_CL" link set hs-cl up
ip -n "$NS_LB" addr add $LB_IP/24 dev hs-lb
ip -n "$NS_LB" addr add $VIP/32 dev hs-lb
ip -n "$NS_LB" addr add $VIP_RE/32 dev hs-lb
ip -n "$NS_LB" link set hs-lb up
ip -n "$NS_LB" link add hs-br type bridge
ip -n "$NS_LB" addr add $LB_RS_IP/24 dev hs-br
ip -n "$NS_LB" link set hs-br up
for i in 1 2; do
	ns=exlb-hs-rs$i-$$
	ip -n "$ns" link add hs-rs type veth peer name hs-p$i netns "$NS_LB"
	ip -n "$NS_LB" link set hs-p$i master hs-br up
	addr=$RS1; [ $i = 2 ] && addr=$RS2
	ip -n "$ns" addr add $addr/24 dev hs-rs
	ip -n "$ns" link set hs-rs up
done
bad=
for ns in "$NS_CL" "$NS_LB" "$NS_RS1" "$NS_RS2"; do
	r=$(ip -n "$ns" -4 route show table all; ip -n "$ns" -6 route show table all)
	grep -q '^default' <<<"$r" && bad+=" $ns"
	grep -v '^$' <<<"$r" | grep -qv ' dev \(hs-[a-z0-9]*\|lo\)\b' && bad+=" $ns"
done
report "$([ -z "$bad" ]; echo $?)" "four namespaces, no default route, only their own links${bad:+ (not:$bad)}"

# ---- two simulated Exchange servers

# A PUT under /ews/put/ stores its body (nginx's DAV module): an upload's
# bytes are compared with what was sent, not only counted (/echo).
mkdir -p "$T/dav/ews/put" && chmod 777 "$T/dav/ews/put"
export EXRS_SERVER_CONF="location ^~ /ews/put/ { dav_methods PUT; root $T/dav; }"
exrs_setup rs1 "$NS_RS1" $RS1 && exrs_setup rs2 "$NS_RS2" $RS2
report $? "nginx as Exchange servers rs1 ($RS1) and rs2 ($RS2), :80 and :443"

bad=
for rs in $RS1 $RS2; do
	for e in $SUBVSS; do
		v=$(cut -d: -f2 <<<"$e")
		for scheme in http https; do
			b=$(in_lb curl -sk --max-time 3 "$scheme://$rs/$v/healthcheck.htm")
			case $b in "200 OK rs"[12]) ;; *) bad+=" $scheme://$rs/$v:'$b'" ;; esac
		done
	done
done
report "$([ -z "$bad" ]; echo $?)" "the nine healthcheck.htm answer '200 OK rsN' from the LB namespace (http, https)${bad:+ (wrong:$bad)}"

exrs_vdir_fail rs1 owa
c1=$(in_lb curl -s -o /dev/null -w '%{http_code}' "http://$RS1/owa/healthcheck.htm")
c2=$(in_lb curl -s -o /dev/null -w '%{http_code}' "http://$RS1/ews/healthcheck.htm")
exrs_vdir_ok rs1 owa
c3=$(in_lb curl -s -o /dev/null -w '%{http_code}' "http://$RS1/OWA/healthcheck.htm")
report "$([ "$c1 $c2 $c3" = "503 200 200" ]; echo $?)" "exrs_vdir_fail/ok switch one vdir's healthcheck (owa, ews, owa again: $c1 $c2 $c3)"

head -c 1M /dev/urandom > "$T/1M"
b=$(in_lb curl -s --max-time 10 --data-binary @"$T/1M" "http://$RS2/ews/echo")
report "$([ "$b" = 1048576 ]; echo $?)" "/echo reads a POST body and answers its length ($b)"

n=$(in_lb curl -s -o /dev/null --max-time 1 -w '%{size_download}' "http://$RS1/owa/big/$BIG?rate=2m")
report "$([ "$n" -ge 1000000 ] && [ "$n" -le 3500000 ]; echo $?)" "limit_rate: /big/$BIG?rate=2m sends $n bytes in 1 s"

# ---- certificates: ECDSA for mail and autodiscover, RSA for legacy

for c in mail:$MAIL autod:$AUTOD; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=${c#*:}" -addext "subjectAltName=DNS:${c#*:}" \
		-keyout "$T/${c%%:*}.key" -out "$T/${c%%:*}.pem" 2>/dev/null
done
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$LEGACY" \
	-addext "subjectAltName=DNS:$LEGACY" -keyout "$T/legacy.key" -out "$T/legacy.pem" 2>/dev/null
report $? "test certificates: mail, autod (ECDSA P-256), legacy (RSA 2048)"
# As an admin gets them: legacy as a .pfx exported the old Windows way
# (RC2-40 and 3DES, SHA-1 MAC: openssl -legacy), autod's key encrypted
# (PKCS#8, AES-256); exlbctl decrypts both (docs/tls.md "Importing a .pfx").
echo "pfx password $RANDOM" >"$T/pfx.pw"
openssl pkcs12 -export -legacy -in "$T/legacy.pem" -inkey "$T/legacy.key" \
	-passout file:"$T/pfx.pw" -out "$T/legacy.pfx" &&
openssl pkey -in "$T/autod.key" -aes256 -passout file:"$T/pfx.pw" -out "$T/autod-enc.key"
info=$(openssl pkcs12 -legacy -in "$T/legacy.pfx" -info -noout -passin file:"$T/pfx.pw" 2>&1)
report "$([[ $info == *40BitRC2* ]] && grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$T/autod-enc.key"; echo $?)" \
	"legacy.pfx is RC2-40 encrypted ($(grep -m1 -o 'pbeWith[^,]*' <<<"$info")), autod's key is encrypted PKCS#8"

# ---- exlbd in the LB namespace

opts=(--access-log "$ALOG")
[ -n "${EXLBD_TLS_RELAY:-}" ] && opts+=("--tls-relay=$EXLBD_TLS_RELAY")
[ -n "${EXLBD_WORKERS:-}" ] && opts+=(--workers "$EXLBD_WORKERS")
exlbd_start --health-checks "exlbd runs in the LB namespace (--access-log, socket $SOCK)" "${opts[@]}"

tls_stat() { in_lb cat /proc/net/tls_stat 2>/dev/null; }
stat_of() { awk -v k="$2" '$1 == k { print $2 }' <<<"$1"; }
TLS_STAT0=$(tls_stat)

# ---- the configuration (exlbctl), as in the guide's "HTTPS Offloaded"

cfg cert add mail "$T/mail.pem" "$T/mail.key"
cfg cert add autod "$T/autod.pem" "$T/autod-enc.key" password-file "$T/pfx.pw"
cfg cert add legacy "$T/legacy.pfx" password-file "$T/pfx.pw"
cfg set droponfail 1
cfg set addforwardheader 1
cfg set RetryInterval 9
cfg set Timeout 4
cfg set RetryCount 2
cfg vs add $VIP 443 tcp nickname=Exch VStype=http SSLAcceleration=1 "CertFile=mail autod legacy" \
	TLSType=1 CipherSet=BestPractices NeedHostName=0 ErrorCode=503 "ErrorUrl=Endpoint not available" \
	Idletime=1800 Schedule=rr
declare -A SUBVS_ID=()
for e in $SUBVSS; do
	IFS=: read -r name vdir _ <<<"$e"
	cfg subvs add Exch nickname=$name Schedule=rr CheckType=http CheckUrl=/$vdir/healthcheck.htm CheckUseGet=1
	cfg rule add "${name,,}" matchtype=regex "pattern=/^\/$vdir.*/" nocase=1
	cfg rule attach "Exch/$name" "${name,,}"
done
cfg rs add Exch $RS1 port=80 addtoallsubvs=1
cfg rs add Exch $RS2 port=80 addtoallsubvs=1
cfg vs add $VIP 80 tcp nickname=Redirect VStype=http ErrorCode=302 'ErrorUrl=https://%h%s'
cfg vs add $VIP_RE 443 tcp nickname=Reenc VStype=http SSLAcceleration=1 SSLReencrypt=1 CertFile=mail \
	Schedule=rr CheckType=https CheckUrl=/ecp/healthcheck.htm CheckUseGet=1
cfg rs add Reenc $RS1 port=443
cfg rs add Reenc $RS2 port=443
report "${cfg_bad:-0}" "configured with exlbctl: 3 certificates, VS Exch (9 SubVSs, rules, 2 RS), Redirect :80, Reenc"

obj_id() { ctl -j "$1" show "$2" 2>/dev/null | jq -r 'if type == "array" then .[0] else . end | .id'; }
VS_ID=$(obj_id vs Exch)
for e in $SUBVSS; do
	name=${e%%:*}
	SUBVS_ID[$name]=$(obj_id subvs "Exch/$name")
done
diag "ids: Exch=$VS_ID $(for n in "${!SUBVS_ID[@]}"; do printf '%s=%s ' "$n" "${SUBVS_ID[$n]}"; done)"

wait_for $HEALTH_WAIT all_up
report $? "all $TARGETS health targets up after $WAITED s (not up: $(not_up))"

# ---- content switching

for e in $SUBVSS; do
	IFS=: read -r name vdir path <<<"$e"
	mark="t=vdir-$name-$$"
	fetch "https://$MAIL$path?$mark"
	line=$(alog_line "$mark")
	sub=$(field "$line" subvs)
	[ "$CODE" = 200 ] && [[ $(hdr X-RS) == rs[12] ]] && [[ $BODY == "RS rs"[12]" vdir $vdir "* ]] &&
		[ -n "$sub" ] && [ "$sub" = "${SUBVS_ID[$name]}" ]
	report $? "$path reaches SubVS $name (status $CODE, X-RS $(hdr X-RS), body '${BODY%% uri*}', log subvs=$sub, want ${SUBVS_ID[$name]})"
done

s=$(spread "https://$MAIL/owa/?t=rr" 10)
report "$([[ $s == "rs1="[1-9]*" rs2="[1-9]* ]]; echo $?)" "rr: 10 new connections to /owa/ reach both servers ($s)"

m="ka-$$"
nc=$(in_cl curl -sk --max-time 20 "${RESOLVE[@]}" -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects} ' \
	"https://$MAIL/owa/?t=$m-1" "https://$MAIL/EWS/?t=$m-2" "https://$MAIL/mapi/?t=$m-3" 2>/dev/null)
l1=$(alog_line "t=$m-1"); l2=$(alog_line "t=$m-2"); l3=$(alog_line "t=$m-3")
got="$(field "$l1" subvs) $(field "$l2" subvs) $(field "$l3" subvs)"
clients="$(field "$l1" client) $(field "$l2" client) $(field "$l3" client)"
[ "$(tr ' ' '\n' <<<"$nc" | awk '{ s += $1 } END { print s + 0 }')" = 1 ] &&
	[ "$got" = "${SUBVS_ID[OWA]} ${SUBVS_ID[EWS]} ${SUBVS_ID[MAPI]}" ] &&
	[ "$(tr ' ' '\n' <<<"$clients" | sort -u | grep -c .)" = 1 ]
report $? "one keep-alive connection (connects per request: $nc), /owa /EWS /mapi -> subvs $got (want ${SUBVS_ID[OWA]} ${SUBVS_ID[EWS]} ${SUBVS_ID[MAPI]}), client $clients"

fetch "http://$MAIL/owa/?a=1&t=redirect-$$"
loc=$(hdr Location)
report "$([ "$CODE" = 302 ] && [ "$loc" = "https://$MAIL/owa/?a=1&t=redirect-$$" ]; echo $?)" \
	"Redirect :80 answers $CODE, Location $loc"

# ---- TLS: certificates by SNI, NeedHostName, protocol versions, cipher sets

s=$(cert_subject -servername $AUTOD)
report "$([[ $s == *"CN = $AUTOD"* ]]; echo $?)" "SNI $AUTOD gets the autod certificate ($s)"
s=$(cert_subject -servername "$LEGACY")
report "$([[ $s == *"CN = $LEGACY"* ]]; echo $?)" "SNI $LEGACY gets the legacy certificate ($s)"
# the leaf imported from legacy.pfx and from autod's encrypted key, exactly
for c in "$LEGACY:legacy" "$AUTOD:autod"; do
	served=$(in_cl timeout 10 openssl s_client -connect "$VIP:443" -servername "${c%%:*}" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null)
	want=$(openssl x509 -in "$T/${c#*:}.pem" -noout -fingerprint -sha256)
	report "$([ -n "$served" ] && [ "$served" = "$want" ]; echo $?)" \
		"SNI ${c%%:*}: the served leaf is the one imported from $([ "${c#*:}" = legacy ] && echo legacy.pfx || echo "autod's encrypted key") (${served#*=})"
done
s=$(cert_subject -noservername)
report "$([[ $s == *"CN = $MAIL"* ]]; echo $?)" "no SNI gets the first certificate, mail ($s)"

cfg vs mod Exch NeedHostName=1
wait_for 5 tls_fails -noservername
r1=$?
tls_hs -servername $MAIL
r2=$?
report "$([ $r1 = 0 ] && [ $r2 = 0 ]; echo $?)" "NeedHostName=1: no SNI refused ($([ $r1 = 0 ] && echo refused || echo accepted)), SNI $MAIL served ($([ $r2 = 0 ] && echo yes || echo no))"
cfg vs mod Exch NeedHostName=0

# a TLS 1.1 client that itself allows it (OpenSSL 3 refuses TLS < 1.2 at
# SECLEVEL >= 1). With BestPractices (AEAD suites only, TLS 1.2+) TLS 1.1
# fails whatever TLSType says: Backward_compatibility has the CBC suites at
# SECLEVEL 0, so with TLSType=1 TLS 1.1 must first succeed, and then fail
# only because of TLSType=6.
TLS11=(-tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -servername "$MAIL")
cfg vs mod Exch CipherSet=Backward_compatibility
wait_for 5 tls_hs "${TLS11[@]}"
r0=$?
[ $r0 = 0 ] || diag "TLSType=1, Backward_compatibility: TLS 1.1 fails ($(grep -m1 -i 'alert\|error' "$T/sc.out"))"
cfg vs mod Exch TLSType=6
wait_for 5 tls_fails "${TLS11[@]}"
r1=$?
tls_hs -tls1_2 -servername $MAIL
r2=$?
report "$([ $r0 = 0 ] && [ $r1 = 0 ] && [ $r2 = 0 ]; echo $?)" \
	"TLSType=6: TLS 1.1 refused ($r1; served with TLSType=1 and Backward_compatibility: $r0), TLS 1.2 served ($r2)"
cfg vs mod Exch CipherSet=BestPractices
tls_hs -tls1_3 -servername $MAIL
r0=$?
cfg vs mod Exch TLSType=16
wait_for 5 tls_fails -tls1_3 -servername $MAIL
r1=$?
tls_hs -tls1_2 -servername $MAIL
r2=$?
report "$([ $r0 = 0 ] && [ $r1 = 0 ] && [ $r2 = 0 ]; echo $?)" "TLSType=16: TLS 1.3 refused ($r1; served before: $r0), TLS 1.2 served ($r2)"
cfg vs mod Exch TLSType=14
wait_for 5 tls_fails -tls1_2 -servername $MAIL
r1=$?
tls_hs -tls1_3 -servername $MAIL
r2=$?
report "$([ $r1 = 0 ] && [ $r2 = 0 ]; echo $?)" "TLSType=14 (TLS 1.3 only): TLS 1.2 refused ($r1), TLS 1.3 served ($r2)"
cfg vs mod Exch TLSType=1

RSA_ONLY=(-tls1_2 -cipher 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384' -servername "$LEGACY")
tls_hs "${RSA_ONLY[@]}"
r0=$?
cfg vs mod Exch CipherSet=ECDSA_BestPractices
wait_for 5 tls_fails "${RSA_ONLY[@]}"
r1=$?
tls_hs -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 -servername $MAIL
r2=$?
report "$([ $r0 = 0 ] && [ $r1 = 0 ] && [ $r2 = 0 ]; echo $?)" \
	"CipherSet=ECDSA_BestPractices: RSA-only client refused ($r1; served with BestPractices: $r0), ECDSA client served ($r2)"
cfg vs mod Exch CipherSet=BestPractices

# ---- NTLM binds a client connection to one backend connection

NTLM1='Authorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=='
NTLM3='Authorization: NTLM TlRMTVNTUAADAAAAGAAYAEAAAAAYABgAWAAAAAAAAABwAAAABAAEAHAAAAAEAAQAdAAAAAAAAAB4AAAABYKIogoAYUoAAAAP'
j=$(httpc seq $VIP 443 $MAIL "/ews/?t=ntlm-1|$NTLM1" "/ews/?t=ntlm-2" "/ews/?t=ntlm-3|$NTLM3" \
	"/EWS/Exchange.asmx?t=ntlm-4" "/ews/?t=ntlm-5")
s=$(jq -r '[.responses[] | "\(.code):\(.rs):\(.conn)"] | join(" ")' <<<"$j" 2>/dev/null)
[ "$(jq '[.responses[] | select(.code == 200)] | length' <<<"$j" 2>/dev/null)" = 5 ] &&
	[ "$(jq '[.responses[] | "\(.rs)/\(.conn)"] | unique | length' <<<"$j")" = 1 ]
report $? "NTLM: 5 requests on one connection, 1st with NTLM: one server, one backend connection ($s$(jq -r '.error // empty | " " + .' <<<"$j" 2>/dev/null))"

j=$(httpc seq $VIP 443 $MAIL "/ews/?t=plain-1" "/ews/?t=plain-2" "/ews/?t=plain-3" "/ews/?t=plain-4" \
	"/ews/?t=plain-5" "/ews/?t=plain-6")
s=$(jq -r '[.responses[] | "\(.code):\(.rs)"] | join(" ")' <<<"$j" 2>/dev/null)
[ "$(jq '[.responses[] | select(.code == 200)] | length' <<<"$j" 2>/dev/null)" = 6 ] &&
	[ "$(jq '[.responses[].rs] | unique | length' <<<"$j")" = 2 ]
report $? "no NTLM: 6 requests on one connection are balanced over both servers ($s$(jq -r '.error // empty | " " + .' <<<"$j" 2>/dev/null))"

# ---- client address headers

fetch "https://$MAIL/ews/?t=xff-$$"
x=$(hdr X-Seen-XFF)
report "$([ "$x" = $CL_IP ]; echo $?)" "addforwardheader 1: the server sees X-Forwarded-For '$x'"
no_xff() { fetch "https://$MAIL/ews/?t=noxff-$$"; [ "$CODE" = 200 ] && [ -z "$(hdr X-Seen-XFF)" ]; }
cfg set addforwardheader 2
wait_for 5 no_xff
report $? "addforwardheader 2: no X-Forwarded-For (status $CODE, got '$(hdr X-Seen-XFF)')"
cfg set addforwardheader 1
via() { fetch "https://$MAIL/ews/?t=via-$$"; [ -n "$(hdr X-Seen-Via)" ]; }
cfg vs mod Exch AddVia=1
wait_for 5 via
report $? "AddVia=1: the server sees Via '$(hdr X-Seen-Via)' and X-Forwarded-For '$(hdr X-Seen-XFF)'"
cfg vs mod Exch AddVia=0

# ---- big bodies: streamed, not buffered

want=$(sha256sum < "$(exrs_big_file)" | cut -d' ' -f1)
got=$(in_cl curl -sk --max-time 120 "${RESOLVE[@]}" -o - \
	-w '%{stderr}%{http_code} %{size_download} %{time_starttransfer} %{time_total}\n' \
	"https://$MAIL/owa/big/$BIG?rate=$BIG_RATE&t=big-$$" 2>"$T/big.w" | sha256sum | cut -d' ' -f1)
read -r code size ttfb total <<<"$(tail -n 1 "$T/big.w")"	# (no /dev/fd in the test VM)
report "$([ "${code:-}" = 200 ] && [ "${size:-}" = $((EXRS_BIG_MB << 20)) ] && [ "$got" = "$want" ]; echo $?)" \
	"GET /owa/big/$BIG: status ${code:-?}, ${size:-?} bytes, sha256 $([ "$got" = "$want" ] && echo matches || echo differs)"
report "$(le "${ttfb:-99}" 2 && le 3 "${total:-0}"; echo $?)" \
	"the download streams: first byte after ${ttfb:-?} s (< 2 s), all after ${total:-?} s (> 3 s at limit_rate $BIG_RATE)"

# A spliced body's end goes out at once: on one kept-alive connection, 2 MiB
# of the big file (Range: a Content-Length body, spliced; rate-limited, so
# the server's socket runs dry mid-body), then a small answer. Were the
# body's last TLS record or TCP segment held back for more (SPLICE_F_MORE
# on its end), the small response behind it would stall.
m="after-big-$$"
out=$(in_cl curl -sk --max-time 30 "${RESOLVE[@]}" -r 0-2097151 -o /dev/null \
	-w '%{http_code} %{size_download} %{num_connects} %{time_total}\n' "https://$MAIL/owa/big/$BIG?rate=8m&t=$m-1" \
	--next -sk --max-time 30 "${RESOLVE[@]}" -o /dev/null \
	-w '%{http_code} %{size_download} %{num_connects} %{time_total}\n' "https://$MAIL/owa/?t=$m-2" 2>/dev/null)
read -r c1 s1 n1 _ c2 s2 n2 t2 <<<"$(tr '\n' ' ' <<<"$out")"
report "$([ "${c1:-}" = 206 ] && [ "${s1:-}" = 2097152 ] && [ "${c2:-}" = 200 ] && [ "${s2:-0}" -gt 0 ] &&
	[ "$((${n1:-9} + ${n2:-9}))" = 1 ] && le "${t2:-99}" 1; echo $?)" \
	"keep-alive: 2 MiB spliced (${c1:-?}, ${s1:-?} bytes), then /owa/ on the same connection (${c2:-?}, connects ${n1:-?}+${n2:-?}) in ${t2:-?} s (<= 1 s)"

head -c 50M /dev/urandom > "$T/50M"
b=$(in_cl curl -sk --max-time 120 "${RESOLVE[@]}" --tls-max 1.2 --data-binary @"$T/50M" \
	-H 'Content-Type: application/octet-stream' "https://$MAIL/ews/echo?t=upload-$$" 2>/dev/null)
report "$([ "$b" = $((50 << 20)) ]; echo $?)" "POST of 50 MB to /ews/echo (TLS 1.2): the server read ${b:-nothing} bytes"
# The same bytes over TLS 1.3 (on the kTLS path: decrypted by the kernel
# into exlbd's buffer, several records a read), stored by the server and
# compared: every byte, in order, nothing more.
want=$(sha256sum < "$T/50M" | cut -d' ' -f1)
c=$(in_cl curl -sk --max-time 120 "${RESOLVE[@]}" --tlsv1.3 -T "$T/50M" -o /dev/null -w '%{http_code}' \
	-H 'Content-Type: application/octet-stream' "https://$MAIL/ews/put/up-$$" 2>/dev/null)
got=$(sha256sum < "$T/dav/ews/put/up-$$" 2>/dev/null | cut -d' ' -f1)
size=$(stat -c %s "$T/dav/ews/put/up-$$" 2>/dev/null)
report "$([[ $c == 20[14] ]] && [ "$got" = "$want" ]; echo $?)" \
	"PUT of 50 MB to /ews/put/ (TLS 1.3): status ${c:-?}, the server stored ${size:-no} bytes, sha256 $([ "$got" = "$want" ] && echo matches || echo differs)"
rm -f "$T/50M" "$T/dav/ews/put/up-$$"

# ---- the access log

for i in 1 2 3 4 5; do fetch "https://$MAIL/ecp/?t=alog-$$-$i"; done
sleep 0.5
lines=$(grep -F "t=alog-$$-" "$ALOG" 2>/dev/null)
bad=
while read -r l; do
	[ -n "$l" ] || continue
	[[ $(field "$l" client) == "$CL_IP:"[0-9]* ]] && [ "$(field "$l" vs)" = "$VS_ID" ] &&
		[ "$(field "$l" subvs)" = "${SUBVS_ID[ECP]}" ] && [[ $(field "$l" rs) == 198.18.11.1[12]:80 ]] &&
		[ "$(field "$l" status)" = 200 ] && [ "$(field "$l" bytes_in)" -gt 0 ] 2>/dev/null &&
		[ "$(field "$l" bytes_out)" -gt 0 ] 2>/dev/null && [ "$(field "$l" term)" = "--" ] &&
		[[ $l == *'"GET /ecp/?t=alog-'*' HTTP/1.1"'* ]] || bad+=" [$l]"
done <<<"$lines"
report "$([ "$(grep -c . <<<"$lines")" = 5 ] && [ -z "$bad" ]; echo $?)" \
	"access log: 5 requests, 5 lines with client, vs, subvs, rs, request, status=200, bytes, term=--${bad:+ (bad:$bad)}"
diag "e.g. $(head -n 1 <<<"$lines")"
l=$(alog_line "t=big-$$"); o=$(field "$l" bytes_out)
l2=$(alog_line "t=upload-$$"); i2=$(field "$l2" bytes_in)
report "$([ "${o:-0}" -ge $((EXRS_BIG_MB << 20)) ] && [ "${i2:-0}" -ge $((50 << 20)) ]; echo $?)" \
	"access log counts the big bodies: download bytes_out=$o, upload bytes_in=$i2"
l3=$(alog_line "t=redirect-$$")
t1=$(field "$l" tls); t2=$(field "$l2" tls); t3=$(field "$l3" tls)
if [ -n "$EXPECT_TLS" ]; then
	[ "$t1 $t2 $t3" = "$EXPECT_TLS $EXPECT_TLS none" ]
else
	[[ $t1 == @(ktls|userspace) && $t2 == @(ktls|userspace) && $t3 == none ]]
fi
report $? "access log tls=: download (TLS 1.3) $t1, upload (TLS 1.2) $t2, redirect (:80) $t3${EXPECT_TLS:+ (want $EXPECT_TLS)}"
report "$([ "$(field "$l3" term)" = LR ] && [ "$(field "$l3" status)" = 302 ]; echo $?)" \
	"access log: the redirect is answered locally (status=$(field "$l3" status) term=$(field "$l3" term))"

# ---- request smuggling: refused by the proxy, nothing reaches a server

before="$(exrs_requests rs1) $(exrs_requests rs2)"
for kind in cl-te cl-cl obs-fold bare-lf te-gzip big-header; do
	want=400; [ $kind = big-header ] && want=431
	j=$(httpc raw $VIP 443 $MAIL $kind)
	code=$(jq -r '.code' <<<"$j" 2>/dev/null); closed=$(jq -r '.closed' <<<"$j" 2>/dev/null)
	l=$(alog_line "client=$CL_IP:$(jq -r '.port' <<<"$j" 2>/dev/null) ")	# refused: no request line
	report "$([ "$code" = $want ] && [ "$closed" = true ] && [ "$(field "$l" term)" = PR ]; echo $?)" \
		"smuggling $kind: status $code (want $want), connection closed: $closed, log term=$(field "$l" term) ($j)"
done
sleep 1
after="$(exrs_requests rs1) $(exrs_requests rs2)"
report "$([ "$before" = "$after" ] && ! grep -q smuggle "$(exrs_log rs1)" "$(exrs_log rs2)"; echo $?)" \
	"no smuggling attempt reached a server (requests logged by rs1 rs2: $before before, $after after)"

j=$(httpc garbage $VIP 443 2000)
fetch "https://$MAIL/owa/?t=after-garbage-$$"
report "$([ "$(jq -r .closed <<<"$j")" = true ] && [ "$CODE" = 200 ]; echo $?)" \
	"2000 random bytes instead of a ClientHello: connection closed ($j), the next client is served ($CODE)"

# ---- re-encryption to the servers' :443

fetch "https://$REENC/owa/?t=reenc-$$"
report "$([ "$CODE" = 200 ] && [ "$(hdr X-Backend-Scheme)" = https ] && [[ $(hdr X-RS) == rs[12] ]]; echo $?)" \
	"SSLReencrypt=1: status $CODE from $(hdr X-RS), which saw $(hdr X-Backend-Scheme)"

# ---- health: one server's OWA fails, then both

exrs_vdir_fail rs1 owa
wait_for $HEALTH_WAIT health_is "Exch/OWA $RS1 down"
report $? "rs1's /owa/healthcheck.htm fails: rs1 down in OWA only after $WAITED s (not up: $(not_up))"
s1=$(spread "https://$MAIL/owa/?t=owa1" 6)
s2=$(spread "https://$MAIL/ews/?t=ews1" 6)
report "$([ "$s1" = "rs1=0 rs2=6" ] && [[ $s2 == "rs1="[1-9]*" rs2="[1-9]* ]]; echo $?)" \
	"OWA goes to rs2 only ($s1), EWS still to both ($s2)"

exrs_vdir_fail rs2 owa
wait_for $HEALTH_WAIT health_is "Exch/OWA $RS1 down" "Exch/OWA $RS2 down"
report $? "both servers' OWA fail: both down in OWA after $WAITED s (not up: $(not_up))"
fetch "https://$MAIL/owa/?t=noserver-$$"
l=$(alog_line "t=noserver-$$")
report "$([ "$CODE" = 503 ] && [[ $BODY == *"Endpoint not available"* ]] && [ "$(field "$l" term)" = LR ]; echo $?)" \
	"OWA without a server: status $CODE, body '${BODY:0:60}', log term=$(field "$l" term)"
fetch "https://$MAIL/ews/?t=ews-still-$$"
report "$([ "$CODE" = 200 ]; echo $?)" "EWS still served meanwhile ($CODE from $(hdr X-RS))"
exrs_vdir_ok rs1 owa
exrs_vdir_ok rs2 owa
wait_for $HEALTH_WAIT all_up
report $? "OWA repaired: all up again after $WAITED s (not up: $(not_up))"

# ---- droponfail: a download from a failed server is cut

# slow downloads (1 MB/s) on new connections until one comes from each server
declare -A SLOW_PID=() SLOW_MARK=()
for ((i = 1; i <= 8 && ${#SLOW_PID[@]} < 2; i++)); do
	ip netns exec "$NS_CL" curl -sk --max-time 150 "${RESOLVE[@]}" -D "$T/slow$i.h" -o /dev/null \
		-w '%{http_code} %{size_download} %{errormsg}\n' "https://$MAIL/owa/big/$BIG?rate=1m&t=slow-$$-$i" \
		>"$T/slow$i.out" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	wait_for 5 grep -qi '^X-RS:' "$T/slow$i.h" 2>/dev/null
	rs=$(grep -i '^X-RS:' "$T/slow$i.h" 2>/dev/null | cut -d: -f2 | tr -d ' \r')
	if [ -n "$rs" ] && [ -z "${SLOW_PID[$rs]:-}" ]; then
		SLOW_PID[$rs]=$pid
		SLOW_MARK[$rs]=slow-$$-$i
	else
		kill "$pid" 2>/dev/null
	fi
done
if [ -n "${SLOW_PID[rs1]:-}" ] && [ -n "${SLOW_PID[rs2]:-}" ]; then
	sleep 1
	exrs_vdir_fail rs1 all
	t0=$(now)
	gone() { ! kill -0 "$1" 2>/dev/null; }
	wait_for 45 gone "${SLOW_PID[rs1]}"
	cut=$(since "$t0")
	report "$(le "$cut" 30 && gone "${SLOW_PID[rs1]}"; echo $?)" \
		"droponfail: rs1's health checks fail, its download is cut after $cut s (bound 30 s; curl: status, bytes $(tr '\n' ' ' < "$T/slow${SLOW_MARK[rs1]##*-}.out"))"
	grep -qi 'reset' "$T/slow${SLOW_MARK[rs1]##*-}.out"
	report $? "droponfail: the client's connection was reset (RST), not ended as if complete"
	kill -0 "${SLOW_PID[rs2]}" 2>/dev/null
	report $? "rs2's download goes on"
	l=$(alog_line "t=${SLOW_MARK[rs1]}")
	report "$([ "$(field "$l" term)" = DD ]; echo $?)" "access log: the cut download has term=$(field "$l" term) (want DD)"
	kill "${SLOW_PID[rs2]}" 2>/dev/null
else
	report 1 "droponfail: slow downloads from both servers (got: ${!SLOW_PID[*]})"
fi
exrs_vdir_ok rs1 all
wait_for $HEALTH_WAIT all_up
report $? "rs1 repaired: all up again after $WAITED s"

# ---- the end: exlbd alive, clean exit, kTLS counted

kill -0 "$DAEMON_PID" 2>/dev/null
report $? "exlbd still running"
kill -TERM "$DAEMON_PID" 2>/dev/null
for ((i = 0; i < 100; i++)); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
wait "$DAEMON_PID" 2>/dev/null
rc=$?
DAEMON_PID=
report "$([ $rc = 0 ] && ! grep -q 'Sanitizer\|runtime error' "$T/exlbd.log"; echo $?)" \
	"exlbd exits cleanly on SIGTERM (status $rc), no sanitizer report"
if [ "$EXPECT_TLS" = ktls ]; then
	TLS_STAT1=$(tls_stat)
	bad=
	for k in TlsTxSw TlsRxSw; do
		a=$(stat_of "$TLS_STAT0" $k); b=$(stat_of "$TLS_STAT1" $k)
		[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] || bad+=" $k"
		diag "$k: ${a:-?} -> ${b:-?}"
	done
	for k in TlsCurrTxSw TlsCurrRxSw; do [ "$(stat_of "$TLS_STAT1" $k)" = 0 ] || bad+=" $k"; done
	[ "$(stat_of "$TLS_STAT0" TlsDecryptError)" = "$(stat_of "$TLS_STAT1" TlsDecryptError)" ] || bad+=" TlsDecryptError"
	report "$([ -z "$bad" ]; echo $?)" "kTLS: TlsTxSw and TlsRxSw rose, none left open, no decrypt errors${bad:+ (wrong:$bad)}"
fi

if [ "$TAP_FAILED" -ne 0 ]; then
	diag "exlbd log (last 40 lines):"
	tail -n 40 "$T/exlbd.log" | sed 's/^/#   /'
fi
tap_end
