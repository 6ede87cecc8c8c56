#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# What 10,000 health checks per interval cost exlbd: healthcheck_bench (the
# real engine, one libev loop) checks TARGETS http targets, spread over ten
# nginx addresses 198.18.1.1-10 in a private network namespace, and prints
# for each interval the checks done and the CPU time it used (getrusage).
#
#   bench ns 198.18.1.100 ---veth--- srv ns 198.18.1.1..10  nginx :80 :443
#
# Bounded: INTERVALS intervals (default 2 x 9 s) plus setup. Needs root,
# nginx, openssl, libev-dev, libssl-dev, a C compiler; exit 4 = skipped.
# Knobs (environment): TARGETS=10000 INTERVAL=9000 TIMEOUT=4000 INTERVALS=2
# TLS=1 (https checks instead of http), RESUME=N (https: resume TLS sessions,
# a full handshake every N checks; default: full handshakes only).
set -u

TARGETS=${TARGETS:-10000}
INTERVAL=${INTERVAL:-9000}
TIMEOUT=${TIMEOUT:-4000}
INTERVALS=${INTERVALS:-2}
TLS=${TLS:-0}
RESUME=${RESUME:-1}

skip() { echo "SKIP: $*"; exit 4; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nginx openssl cc; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/exlb-hc-bench.XXXXXX)
chmod 755 "$T"
SRV=exlb-hcb-srv-$$
CLI=exlb-hcb-cli-$$

cleanup() {
	local pid
	pid=$(cat "$T/nginx.pid" 2>/dev/null)
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	ip netns del "$SRV" 2>/dev/null
	ip netns del "$CLI" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

cc -std=gnu11 -O2 -Wall -Wextra -Werror -I"$REPO" -I"$REPO/userspace/include" -I"$REPO/userspace/exlbd" \
	"$REPO/bench/healthcheck_bench.c" "$REPO"/userspace/exlbd/health/health*.c \
	-o "$T/healthcheck_bench" -lev -lssl -lcrypto || exit 1

ip netns add "$SRV" || skip "cannot create network namespaces"
ip netns add "$CLI"
ip -n "$CLI" link add hcb-cli type veth peer name hcb-srv netns "$SRV"
ip -n "$SRV" link set lo up
ip -n "$CLI" link set lo up
ADDRS=""
LISTEN=""
for i in $(seq 1 10); do
	ip -n "$SRV" addr add 198.18.1.$i/24 dev hcb-srv
	ADDRS+=" 198.18.1.$i"
	LISTEN+="listen 198.18.1.$i:80 backlog=4096; listen 198.18.1.$i:443 ssl backlog=4096; "
done
ip -n "$CLI" addr add 198.18.1.100/24 dev hcb-cli
ip -n "$SRV" link set hcb-srv up
ip -n "$CLI" link set hcb-cli up

mkdir -p "$T/www/owa" "$T/tmp"
echo "200 OK srv1.exlb.test" > "$T/www/owa/healthcheck.htm"
chmod -R a+rX "$T/www"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=mail.exlb.test -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
cat > "$T/nginx.conf" <<EOF
worker_processes 2;
worker_rlimit_nofile 16384;
pid $T/nginx.pid;
error_log $T/error.log;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path $T/tmp/body;
	proxy_temp_path $T/tmp/proxy;
	fastcgi_temp_path $T/tmp/fastcgi;
	uwsgi_temp_path $T/tmp/uwsgi;
	scgi_temp_path $T/tmp/scgi;
	server {
		$LISTEN
		ssl_certificate $T/cert.pem;
		ssl_certificate_key $T/key.pem;
		root $T/www;
	}
}
EOF
ip netns exec "$SRV" nginx -c "$T/nginx.conf" -p "$T" -e "$T/error.log" ||
	skip "nginx does not start"

ARGS=(-n "$TARGETS" -i "$INTERVAL" -t "$TIMEOUT" -c "$INTERVALS" -R "$RESUME")
[ "$TLS" = 1 ] && ARGS+=(-s -p 443) || ARGS+=(-p 80)
echo "# $(nproc) CPUs, $(uname -r); server: nginx, 2 workers, in its own netns"
# the driver ends itself after INTERVALS intervals; timeout is a backstop
timeout $((INTERVAL * INTERVALS / 1000 + 30)) \
	ip netns exec "$CLI" "$T/healthcheck_bench" "${ARGS[@]}" $ADDRS
