#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The health-check engine against REAL servers: nginx serving the nine
# Exchange vdirs' healthcheck.htm (HTTP, HTTPS, IPv6), dovecot (IMAP 143,
# POP3 110) and postfix (SMTP 25), each a private instance with its config
# and state under a temp dir, all in a network namespace "srv". The engine
# runs in health_probe in a second namespace "cli"; the two are joined by a
# veth with 198.18.0.0/24 and fd00:e1b::/64 and have no other route.
#
#   cli 198.18.0.1, fd00:e1b::1 ---veth--- srv 198.18.0.2, fd00:e1b::2
#       health_probe                           nginx :80 :443, dovecot :143 :110,
#                                              postfix :25
#
# The story: all 16 targets come up; /owa/healthcheck.htm answers 503 and
# only the OWA targets go down; nginx hangs (SIGSTOP) and goes down by
# timeout; nginx, dovecot and postfix stop and their targets go down; each
# comes back up when repaired. Every "down" must come within
# RetryInterval * RetryCount + Timeout of the breakage (1 s * 2 + 1 s here).
#
# Needs root and: nginx(-light), dovecot-imapd, dovecot-pop3d, postfix,
# libev-dev, libssl-dev, openssl, iproute2, a C compiler. Exit 4 = skipped.
# Output: KTAP-style "ok N - ..." lines; exit 0 only if all passed.
set -u

readonly VDIRS="owa ecp ews mapi rpc oab Microsoft-Server-ActiveSync Autodiscover PowerShell"
readonly SRV_IP=198.18.0.2 CLI_IP=198.18.0.1
readonly SRV_IP6=fd00:e1b::2 CLI_IP6=fd00:e1b::1
readonly INTERVAL=1000 TIMEOUT=1000 RETRY=2
# how late "down" may be: interval * retry + timeout, plus polling slack
readonly DOWN_BOUND=3.0 SLACK=0.4

skip() { echo "1..0 # SKIP $*"; exit 4; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx dovecot postfix postconf openssl cc; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
echo '#include <ev.h>' | cc -E - >/dev/null 2>&1 || skip "libev-dev not installed"
getent passwd postfix >/dev/null || skip "no postfix user"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/exlb-health-real.XXXXXX)
chmod 755 "$T"		# nginx workers run as nobody
SRV=exlb-hc-srv-$$
CLI=exlb-hc-cli-$$
PROBE_PID=
N=0
FAILED=0

in_srv() { ip netns exec "$SRV" "$@"; }

nginx_pid() { cat "$T/nginx/nginx.pid" 2>/dev/null; }

cleanup() {
	[ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null && wait "$PROBE_PID" 2>/dev/null
	local pid
	pid=$(nginx_pid)
	if [ -n "$pid" ]; then
		kill -CONT "$pid" $(ps -o pid= --ppid "$pid") 2>/dev/null
		kill -TERM "$pid" 2>/dev/null
	fi
	[ -f "$T/dovecot/dovecot.conf" ] && in_srv dovecot -c "$T/dovecot/dovecot.conf" stop 2>/dev/null
	[ -f "$T/postfix/main.cf" ] && in_srv postfix -c "$T/postfix" stop >/dev/null 2>&1
	ip netns del "$SRV" 2>/dev/null
	ip netns del "$CLI" 2>/dev/null
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

report() {	# report PASS(0/1) description
	N=$((N + 1))
	if [ "$1" = 0 ]; then
		echo "ok $N - $2"
	else
		echo "not ok $N - $2"
		FAILED=$((FAILED + 1))
	fi
}

now() { date +%s.%N; }

# ---- the probe's log: "<t> <name> up|down <reason>" after "# t0 <epoch>"

state_of() {	# last state of a target, or "unknown"
	awk -v n="$1" '$2 == n { s = $3 } END { print s ? s : "unknown" }' "$T/probe.log"
}

last_line_of() { awk -v n="$1" '$2 == n { l = $0 } END { print l }' "$T/probe.log"; }

# wait_state NAME STATE SECONDS: polls every 0.1 s, bounded
wait_state() {
	local i
	for ((i = 0; i < ${3%.*} * 10 + 10; i++)); do
		[ "$(state_of "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# seconds from epoch time $2 to the last change of target $1
delay_of() {
	awk -v n="$1" -v since="$2" '
		/^# t0 / { t0 = $3 }
		$2 == n { t = $1 }
		END { printf "%.3f", t0 + t - since }' "$T/probe.log"
}

# no "down" line for target $1 after line number $2
never_down_since() {
	awk -v n="$1" -v from="$2" 'NR > from && $2 == n && $3 == "down" { bad = 1 }
		END { exit bad }' "$T/probe.log"
}

lines() { wc -l < "$T/probe.log"; }

within() { awk -v d="$1" -v b="$2" 'BEGIN { exit !(d <= b) }'; }

# check_down NAME SINCE REASON-PREFIX [REASON-PREFIX...]: down, in time, for
# one of the right reasons
check_down() {
	local name=$1 since=$2 why=$3 d line w ok=1
	if wait_state "$name" down 6; then
		d=$(delay_of "$name" "$since")
		line=$(last_line_of "$name")
		within "$d" "$(awk -v a=$DOWN_BOUND -v b=$SLACK 'BEGIN { print a + b }')"
		report $? "$name down after ${d} s (bound ${DOWN_BOUND} s): ${line#* * down }"
		for w in "${@:3}"; do
			case "${line#* * down }" in "$w"*) ok=0 ;; esac
		done
		report $ok "$name down for '$why'${4:+ (or another given reason)}"
	else
		report 1 "$name down (still $(state_of "$name"))"
	fi
}

check_up() {	# check_up NAME...: all back up within a few intervals
	local name bad=0
	for name in "$@"; do
		wait_state "$name" up 5 || { bad=1; echo "# $name: $(last_line_of "$name")"; }
	done
	report $bad "back up: $*"
}

# ---- the network

ip netns add "$SRV" || skip "cannot create network namespaces"
ip netns add "$CLI"
ip -n "$CLI" link add hc-cli type veth peer name hc-srv netns "$SRV"
for ns in "$SRV" "$CLI"; do ip -n "$ns" link set lo up; done
ip -n "$CLI" addr add $CLI_IP/24 dev hc-cli
ip -n "$CLI" addr add $CLI_IP6/64 dev hc-cli nodad
ip -n "$SRV" addr add $SRV_IP/24 dev hc-srv
ip -n "$SRV" addr add $SRV_IP6/64 dev hc-srv nodad
ip -n "$CLI" link set hc-cli up
ip -n "$SRV" link set hc-srv up

# ---- nginx: the nine vdirs, 503 where $T/www/fail-<vdir> exists

mkdir -p "$T/nginx/tmp" "$T/www"
for v in $VDIRS; do
	mkdir -p "$T/www/$v"
	echo "200 OK srv1.exlb.test" > "$T/www/$v/healthcheck.htm"
done
chmod -R a+rX "$T/www"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=mail.exlb.test -keyout "$T/nginx/key.pem" -out "$T/nginx/cert.pem" \
	2>/dev/null || skip "openssl cannot make a certificate"
cat > "$T/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $T/nginx/tmp/body;
	proxy_temp_path $T/nginx/tmp/proxy;
	fastcgi_temp_path $T/nginx/tmp/fastcgi;
	uwsgi_temp_path $T/nginx/tmp/uwsgi;
	scgi_temp_path $T/nginx/tmp/scgi;
	server {
		listen $SRV_IP:80;
		listen [$SRV_IP6]:80;
		listen $SRV_IP:443 ssl;
		ssl_certificate $T/nginx/cert.pem;
		ssl_certificate_key $T/nginx/key.pem;
		root $T/www;
		location ~ "^/(?<vdir>[^/]+)/healthcheck\.htm\$" {
			if (-f $T/www/fail-\$vdir) { return 503; }
		}
	}
}
EOF
nginx_start() { in_srv nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" -e "$T/nginx/error.log"; }
nginx_stop() {
	local pid i
	pid=$(nginx_pid)
	[ -n "$pid" ] && kill -TERM "$pid"
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

# ---- dovecot: IMAP 143 and POP3 110, nothing else

mkdir -p "$T/dovecot/run" "$T/dovecot/state"
cat > "$T/dovecot/dovecot.conf" <<EOF
base_dir = $T/dovecot/run
state_dir = $T/dovecot/state
log_path = $T/dovecot/dovecot.log
instance_name = exlb-hc-$$
protocols = imap pop3
listen = $SRV_IP
ssl = no
disable_plaintext_auth = no
login_greeting = srv1.exlb.test ready
passdb {
	driver = static
	args = password=unused
}
userdb {
	driver = static
	args = uid=nobody gid=nogroup home=$T/dovecot/home/%u
}
service imap-login {
	inet_listener imap {
		port = 143
	}
	inet_listener imaps {
		port = 0
	}
}
service pop3-login {
	inet_listener pop3 {
		port = 110
	}
	inet_listener pop3s {
		port = 0
	}
}
EOF
dovecot_start() { in_srv dovecot -c "$T/dovecot/dovecot.conf"; }
dovecot_stop() { in_srv dovecot -c "$T/dovecot/dovecot.conf" stop; }

# ---- postfix: a private instance (own config, queue and data directories)

mkdir -p "$T/postfix" "$T/postfix-spool" "$T/postfix-data"
chown postfix "$T/postfix-data"
cat > "$T/postfix/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $T/postfix-spool
data_directory = $T/postfix-data
meta_directory = /etc/postfix
inet_interfaces = $SRV_IP
inet_protocols = ipv4
myhostname = srv1.exlb.test
mydestination =
mynetworks = 198.18.0.0/24
alias_maps =
alias_database =
maillog_file = $T/postfix.log
maillog_file_prefixes = $T
smtpd_banner = \$myhostname ESMTP exlb-test
EOF
# Debian's services, without chroot (the chroot would need a copied /etc)
sed -E 's/^([a-z]+[[:space:]]+(inet|unix|unix-dgram|fifo|pass)[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+)y/\1n/' \
	/etc/postfix/master.cf > "$T/postfix/master.cf"
postfix_start() { in_srv postfix -c "$T/postfix" start >>"$T/postfix-ctl.log" 2>&1; }
postfix_stop() { in_srv postfix -c "$T/postfix" stop >>"$T/postfix-ctl.log" 2>&1; }

# wait_listen PORT: bounded wait for a server to listen in srv
wait_listen() {
	local i
	for ((i = 0; i < 50; i++)); do
		in_srv ss -Hltn "sport = :$1" | grep -q LISTEN && return 0
		sleep 0.1
	done
	return 1
}

# The servers are installed (tools/deps.sh): one that does not start is a
# failure, not a skip.
bad=
nginx_start || bad+=" nginx ($(tail -3 "$T/nginx/error.log"))"
dovecot_start || bad+=" dovecot"
postfix_start || bad+=" postfix ($(tail -3 "$T/postfix-ctl.log"))"
for port in 80 443 143 110 25; do
	wait_listen $port || bad+=" :$port"
done
report "$([ -z "$bad" ]; echo $?)" "nginx, dovecot and postfix listen on 80 443 143 110 25${bad:+ (not:$bad)}"
[ -z "$bad" ] || { echo "1..$N"; exit 1; }

# ---- the probe

PROBE=${HEALTH_PROBE:-}
if [ -z "$PROBE" ]; then
	PROBE=$T/health_probe
	cc -std=gnu11 -O2 -Wall -Wextra -Werror -I"$REPO" -I"$REPO/userspace/include" -I"$REPO/userspace/exlbd" \
		"$REPO/userspace/tests/health_probe.c" "$REPO"/userspace/exlbd/health/health*.c \
		-o "$PROBE" -lev -lssl -lcrypto || { report 1 "build health_probe"; echo "1..$N"; exit 1; }
fi

HTTP_TARGETS=""
TARGETS=()
for v in $VDIRS; do
	TARGETS+=("name=http-$v,type=http,addr=$SRV_IP,port=80,url=/$v/healthcheck.htm,method=1,http11=1,host=mail.exlb.test")
	HTTP_TARGETS+=" http-$v"
done
TARGETS+=("name=https-owa,type=https,addr=$SRV_IP,port=443,url=/owa/healthcheck.htm,method=1,http11=1,host=mail.exlb.test"
	"name=http6-ews,type=http,addr=$SRV_IP6,port=80,url=/ews/healthcheck.htm,method=1,http11=1"
	"name=imap,type=imap,addr=$SRV_IP,port=143"
	"name=pop3,type=pop3,addr=$SRV_IP,port=110"
	"name=smtp,type=smtp,addr=$SRV_IP,port=25"
	"name=icmp,type=icmp,addr=$SRV_IP"
	"name=icmp6,type=icmp,addr=$SRV_IP6")
HTTP_TARGETS+=" https-owa http6-ews"

echo "KTAP version 1"
ip netns exec "$CLI" "$PROBE" -i $INTERVAL -t $TIMEOUT -r $RETRY -d 180 "${TARGETS[@]}" \
	> "$T/probe.log" 2> "$T/probe.err" &
PROBE_PID=$!

# 1. everything up (first checks are spread over one interval)
bad=0
for t in $HTTP_TARGETS imap pop3 smtp icmp icmp6; do
	wait_state "$t" up 5 || { bad=1; echo "# $t: $(last_line_of "$t")"; }
done
report $bad "all ${#TARGETS[@]} targets up at start"

# 2. OWA's healthcheck.htm answers 503: only the OWA targets go down
mark=$(lines)
since=$(now)
touch "$T/www/fail-owa"
check_down http-owa "$since" "HTTP 503"
check_down https-owa "$since" "HTTP 503"
sleep 1		# one more round of checks for the others
bad=0
for t in $HTTP_TARGETS; do
	case $t in *-owa) continue ;; esac
	never_down_since "$t" "$mark" || { bad=1; echo "# $t went down"; }
	[ "$(state_of "$t")" = up ] || bad=1
done
report $bad "the other SubVS targets of the same server stayed up (ews, mapi, ...)"
rm -f "$T/www/fail-owa"
check_up http-owa https-owa

# 3. nginx hangs: connections are accepted by the kernel, never answered
since=$(now)
pid=$(nginx_pid)
kill -STOP "$pid" $(ps -o pid= --ppid "$pid")
check_down http-ews "$since" "timeout after $TIMEOUT ms"
check_down https-owa "$since" "timeout after $TIMEOUT ms"
kill -CONT "$pid" $(ps -o pid= --ppid "$pid")
check_up $HTTP_TARGETS

# 4. nginx stops
since=$(now)
nginx_stop
check_down http-owa "$since" "connect: Connection refused"
check_down http6-ews "$since" "connect: Connection refused"
bad=0
for t in $HTTP_TARGETS; do wait_state "$t" down 4 || bad=1; done
report $bad "all 11 HTTP(S) targets down with nginx stopped"
nginx_start
check_up $HTTP_TARGETS

# 5. dovecot stops: IMAP and POP3 down
since=$(now)
# a probe that connected just before the stop sees the reset instead
dovecot_stop
check_down imap "$since" "connect: Connection refused" "recv: Connection reset by peer"
check_down pop3 "$since" "connect: Connection refused" "recv: Connection reset by peer"
dovecot_start
check_up imap pop3

# 6. postfix stops: SMTP down
since=$(now)
postfix_stop
check_down smtp "$since" "connect: Connection refused" "recv: Connection reset by peer"
postfix_start
check_up smtp

# 7. nothing else moved
bad=0
for t in icmp icmp6; do never_down_since "$t" 0 || bad=1; done
report $bad "icmp targets stayed up throughout"
kill -0 "$PROBE_PID" 2>/dev/null
report $? "health_probe still running (no crash)"

echo "1..$N"
echo "# probe log:"
sed 's/^/#   /' "$T/probe.log"
[ -s "$T/probe.err" ] && sed 's/^/# stderr: /' "$T/probe.err"
[ $FAILED = 0 ]
