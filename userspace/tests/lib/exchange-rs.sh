# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# Simulated Exchange servers for tests, demos and benchmarks: one private
# nginx instance per server ("RS"), running inside a network namespace the
# caller made, serving what a load balancer in front of Exchange 2013+ sees.
# Source this file from bash; it creates no network devices or namespaces.
#
#   exrs_setup NAME NS ADDR [ADDR6]   config under a temp dir, start nginx in
#                                     NS on ADDR (and ADDR6) :80 and :443,
#                                     wait until it answers
#   exrs_stop NAME / exrs_start NAME  stop (TERM, bounded wait, KILL) / start
#   exrs_pause NAME / exrs_resume NAME  SIGSTOP / SIGCONT: a hung server
#   exrs_vdir_fail NAME VDIR|all      that vdir's healthcheck.htm answers 503
#   exrs_vdir_ok NAME VDIR|all        ... 200 again
#   exrs_cleanup                      stop everything started, remove the dir
#   exrs_requests NAME                requests served (health checks excluded)
#   exrs_log NAME / exrs_health_log NAME / exrs_auth_log NAME   the logs (below)
#   exrs_big_file                     path of the big file (/big/<N>M)
#   exrs_cert / exrs_key              the servers' self-signed certificate
#
# What every server answers (vdir names are matched case-insensitively, as
# IIS does; the canonical spellings are in EXRS_VDIRS):
#
#   /<vdir>/healthcheck.htm   200 "200 OK <NAME>" (503 while failed)
#   [/<prefix>]/big/<N>M      the shared random file of EXRS_BIG_MB MB, sent
#                             at limit_rate EXRS_LIMIT_RATE (default 40m; 0 =
#                             unlimited), or at ?rate=<N>[k|m] per request
#   [/<prefix>]/echo          reads the whole request body (POST/PUT, any
#                             size), answers 200 with its length in bytes
#   anything else             200 "RS <NAME> vdir <vdir or -> uri <uri> ..."
#
# plus, on every answer, the headers
#   X-RS: <NAME>                 X-Backend-Conn: $connection
#   X-Backend-Requests: $connection_requests (1 = first on that connection)
#   X-Seen-XFF, X-Seen-Via, X-Seen-Host: the request's X-Forwarded-For, Via,
#                                Host (absent when the request had none)
#   X-Seen-Client: the peer address:port   X-Backend-Scheme: http or https
#
# Logs (one line per request, unbuffered), $(exrs_log NAME):
#   <iso-time> <peer>:<port> conn=N req=N scheme=S "<request line>" status=N
#   len=<request length> sent=<body bytes> xff="..." via="..."
# health checks go to $(exrs_health_log NAME) instead, so that "nothing
# reached the server" can be asserted while health checks run.
# $(exrs_auth_log NAME): "<uri> auth=\"<Authorization header>\"" per request
# (empty when it had none): which credentials reached the server.
#
# Knobs (read at exrs_setup): EXRS_DIR (default: a new /tmp/exrs.XXXXXX),
# EXRS_BIG_MB (200; 0 = no big file), EXRS_LIMIT_RATE (40m), EXRS_WORKERS
# (1), EXRS_WAIT (20 s, how long exrs_start waits), EXRS_KEEP=1 keeps the
# directory. EXRS_SERVER_CONF: nginx text added to the server block before
# its locations (a regex location there is tried before the ones above);
# EXRS_HTTP_CONF: added to the http block after that server (e.g. more
# :443 servers chosen by SNI). Both empty by default. Needs nginx
# (nginx-light is enough: no module beyond the core, ssl and proxy is used),
# curl, openssl, ip.
# Every wait is bounded (a few seconds); functions return non-zero on
# failure and print the reason on stderr.

EXRS_VDIRS="owa ecp EWS mapi rpc OAB Microsoft-Server-ActiveSync Autodiscover PowerShell"
declare -gA EXRS_NS=() EXRS_ADDR=() EXRS_ADDR6=()
declare -ga EXRS_NAMES=()
EXRS_OWN_DIR=

_exrs_err() { echo "exrs: $*" >&2; }

_exrs_init() {	# the shared directory: certificate, big file
	[[ -n ${EXRS_DIR:-} && -d ${EXRS_DIR:-} && -f $EXRS_DIR/shared/cert.pem ]] && return 0
	if [[ -z ${EXRS_DIR:-} ]]; then
		EXRS_DIR=$(mktemp -d /tmp/exrs.XXXXXX) || return 1
		EXRS_OWN_DIR=$EXRS_DIR
	fi
	mkdir -p "$EXRS_DIR/shared/big" || return 1
	chmod 755 "$EXRS_DIR"		# nginx workers run as nobody
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj /CN=exrs.example.test -addext "subjectAltName=DNS:exrs.example.test" \
		-keyout "$EXRS_DIR/shared/key.pem" -out "$EXRS_DIR/shared/cert.pem" 2>/dev/null ||
		{ _exrs_err "openssl cannot make a certificate"; return 1; }
	local mb=${EXRS_BIG_MB:-200}
	if ((mb > 0)); then
		head -c "${mb}M" /dev/urandom > "$EXRS_DIR/shared/big/${mb}M" ||
			{ _exrs_err "cannot write the ${mb} MB file"; return 1; }
	fi
	chmod -R a+rX "$EXRS_DIR/shared"
}

exrs_dir() { printf '%s/%s' "$EXRS_DIR" "$1"; }
exrs_log() { printf '%s/%s/access.log' "$EXRS_DIR" "$1"; }
exrs_health_log() { printf '%s/%s/health.log' "$EXRS_DIR" "$1"; }
exrs_auth_log() { printf '%s/%s/auth.log' "$EXRS_DIR" "$1"; }
exrs_big_file() { printf '%s/shared/big/%sM' "$EXRS_DIR" "${EXRS_BIG_MB:-200}"; }
exrs_cert() { printf '%s/shared/cert.pem' "$EXRS_DIR"; }
exrs_key() { printf '%s/shared/key.pem' "$EXRS_DIR"; }
exrs_requests() { local f; f=$(exrs_log "$1"); [[ -f $f ]] && wc -l < "$f" || echo 0; }
_exrs_pid() { cat "$EXRS_DIR/$1/nginx.pid" 2>/dev/null; }

_exrs_conf() {	# _exrs_conf NAME: writes $EXRS_DIR/NAME/nginx.conf
	local name=$1 d=$EXRS_DIR/$1 addr=${EXRS_ADDR[$1]} addr6=${EXRS_ADDR6[$1]} v listen
	listen="listen $addr:80; listen $addr:443 ssl;"
	[[ -n $addr6 ]] && listen+=" listen [$addr6]:80; listen [$addr6]:443 ssl;"
	{
		cat <<EOF
# exrs: simulated Exchange server "$name" (userspace/tests/lib/exchange-rs.sh)
worker_processes ${EXRS_WORKERS:-1};
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 4096; }
http {
	default_type text/plain;
	log_format exrs '\$time_iso8601 \$remote_addr:\$remote_port conn=\$connection '
		'req=\$connection_requests scheme=\$scheme "\$request" status=\$status '
		'len=\$request_length sent=\$body_bytes_sent xff="\$http_x_forwarded_for" '
		'via="\$http_via"';
	access_log $d/access.log exrs;
	log_format exrs_auth '\$request_uri auth="\$http_authorization"';
	access_log $d/auth.log exrs_auth;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	client_max_body_size 0;
	large_client_header_buffers 4 64k;
	keepalive_requests 100000;
	keepalive_timeout 300s;
	send_timeout 300s;
	client_body_timeout 300s;

	# the vdir of a URI, lower case ("-" = none)
	map \$uri \$exrs_vdir {
		default "-";
EOF
		for v in $EXRS_VDIRS; do
			printf '\t\t"~*^/%s(/|$)" %s;\n' "$v" "${v,,}"
		done
		cat <<EOF
	}
	map \$arg_rate \$exrs_rate {
		default ${EXRS_LIMIT_RATE:-40m};
		"~^[0-9]+[kKmM]?\$" \$arg_rate;
	}

	server {
		$listen
		ssl_certificate $EXRS_DIR/shared/cert.pem;
		ssl_certificate_key $EXRS_DIR/shared/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;

		add_header X-RS $name always;
		add_header X-Backend-Conn \$connection always;
		add_header X-Backend-Requests \$connection_requests always;
		add_header X-Seen-XFF \$http_x_forwarded_for always;
		add_header X-Seen-Via \$http_via always;
		add_header X-Seen-Host \$http_host always;
		add_header X-Seen-Client \$remote_addr:\$remote_port always;
		add_header X-Backend-Scheme \$scheme always;

		${EXRS_SERVER_CONF:-}
		location = /exrs-ping {		# exrs_wait's probe, not logged
			access_log off;
			return 200 "pong $name\n";
		}
		location ~* "^/[^/]+/healthcheck\.htm\$" {
			access_log $d/health.log exrs;
			if (-f $d/fail-all) { return 503 "503 $name: all vdirs failed\n"; }
			if (-f $d/fail-\$exrs_vdir) { return 503 "503 $name: \$exrs_vdir failed\n"; }
			if (\$exrs_vdir = "-") { return 404 "404 $name: no such vdir\n"; }
			return 200 "200 OK $name\n";
		}
		location ~ "^(/[^/]+)?/big/(?<exrs_big>[^/]+)\$" {
			alias $EXRS_DIR/shared/big/\$exrs_big;
			limit_rate \$exrs_rate;
		}
		location ~ "^(/[^/]+)?/echo\$" {
			proxy_pass http://unix:$d/echo.sock;
			proxy_request_buffering on;
		}
		location / {
			return 200 "RS $name vdir \${exrs_vdir} uri \$request_uri method \$request_method conn \$connection req \$connection_requests\n";
		}
	}

	${EXRS_HTTP_CONF:-}

	# behind /echo: nginx has read the whole body and sends it with its length
	server {
		listen unix:$d/echo.sock;
		access_log off;
		location / { return 200 "\$content_length\n"; }
	}
}
EOF
	} > "$d/nginx.conf"
}

# exrs_setup NAME NS ADDR [ADDR6]
exrs_setup() {
	local name=$1 ns=$2 addr=$3 addr6=${4:-}
	[[ -n $name && -n $ns && -n $addr ]] || { _exrs_err "usage: exrs_setup NAME NS ADDR [ADDR6]"; return 2; }
	[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { _exrs_err "bad name '$name'"; return 2; }
	_exrs_init || return 1
	EXRS_NS[$name]=$ns
	EXRS_ADDR[$name]=$addr
	EXRS_ADDR6[$name]=$addr6
	[[ " ${EXRS_NAMES[*]} " == *" $name "* ]] || EXRS_NAMES+=("$name")
	mkdir -p "$EXRS_DIR/$name/tmp" || return 1
	chmod 755 "$EXRS_DIR/$name"
	ip netns exec "$ns" ip link set lo up 2>/dev/null
	_exrs_conf "$name" || return 1
	ip netns exec "$ns" nginx -t -q -c "$EXRS_DIR/$name/nginx.conf" -p "$EXRS_DIR/$name" \
		-e "$EXRS_DIR/$name/error.log" ||
		{ _exrs_err "$name: bad nginx config: $(tail -3 "$EXRS_DIR/$name/error.log")"; return 1; }
	exrs_start "$name"
}

# exrs_wait NAME [SECONDS]: until :80 and :443 answer (default EXRS_WAIT, 20 s:
# the test VM emulates its CPU and is slow to start nginx and do handshakes)
exrs_wait() {
	local name=$1 secs=${2:-${EXRS_WAIT:-20}} ns=${EXRS_NS[$1]} addr=${EXRS_ADDR[$1]} end code80 code443
	end=$((SECONDS + secs))
	while ((SECONDS <= end)); do
		code80=$(ip netns exec "$ns" curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
			"http://$addr/exrs-ping" 2>/dev/null)
		code443=$(ip netns exec "$ns" curl -sk -o /dev/null -w '%{http_code}' --max-time 3 \
			"https://$addr/exrs-ping" 2>/dev/null)
		[[ $code80 == 200 && $code443 == 200 ]] && return 0
		sleep 0.1
	done
	_exrs_err "$name does not answer on $addr (http $code80, https $code443)"
	return 1
}

exrs_start() {
	local name=$1 d=$EXRS_DIR/$1 i
	[[ -n ${EXRS_NS[$name]:-} ]] || { _exrs_err "no server '$name'"; return 2; }
	# an IPv6 address may still be tentative (DAD): retry for a few seconds
	for ((i = 0; i < 30; i++)); do
		ip netns exec "${EXRS_NS[$name]}" nginx -c "$d/nginx.conf" -p "$d" -e "$d/error.log" \
			2>>"$d/start.log" && break
		sleep 0.1
	done
	((i < 30)) || { _exrs_err "$name: nginx does not start: $(tail -2 "$d/error.log")"; return 1; }
	exrs_wait "$name"
}

exrs_stop() {
	local name=$1 pid i kids
	pid=$(_exrs_pid "$name")
	[[ -n $pid ]] || return 0
	kids=$(ps -o pid= --ppid "$pid" 2>/dev/null)
	# shellcheck disable=SC2086
	kill -CONT "$pid" $kids 2>/dev/null
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" $kids 2>/dev/null
	rm -f "$EXRS_DIR/$name/nginx.pid"
	return 0
}

exrs_pause() {	# the kernel still accepts connections; nobody answers
	local pid
	pid=$(_exrs_pid "$1")
	[[ -n $pid ]] || return 1
	# shellcheck disable=SC2046
	kill -STOP "$pid" $(ps -o pid= --ppid "$pid")
}

exrs_resume() {
	local pid
	pid=$(_exrs_pid "$1")
	[[ -n $pid ]] || return 1
	# shellcheck disable=SC2046
	kill -CONT "$pid" $(ps -o pid= --ppid "$pid")
}

exrs_vdir_fail() {
	[[ -n ${EXRS_NS[$1]:-} && -n ${2:-} ]] || { _exrs_err "usage: exrs_vdir_fail NAME VDIR|all"; return 2; }
	touch "$EXRS_DIR/$1/fail-${2,,}"
}

exrs_vdir_ok() {
	[[ -n ${EXRS_NS[$1]:-} && -n ${2:-} ]] || { _exrs_err "usage: exrs_vdir_ok NAME VDIR|all"; return 2; }
	rm -f "$EXRS_DIR/$1/fail-${2,,}"
}

exrs_cleanup() {
	local name
	for name in "${EXRS_NAMES[@]}"; do exrs_stop "$name"; done
	EXRS_NAMES=()
	if [[ -n $EXRS_OWN_DIR && -z ${EXRS_KEEP:-} ]]; then
		rm -rf "$EXRS_OWN_DIR"
	elif [[ -n ${EXRS_DIR:-} ]]; then
		echo "# exrs: kept $EXRS_DIR" >&2
	fi
	EXRS_OWN_DIR=
}
