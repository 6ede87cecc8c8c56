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
#                                     (stop and cleanup hold under set -e: a
#                                     benchmark's EXIT trap calls them)
#   exrs_requests NAME                requests served (health checks excluded)
#   exrs_log NAME / exrs_health_log NAME / exrs_auth_log NAME   the logs (below)
#   exrs_big_file                     path of the big file (/big/<N>M)
#   exrs_cert / exrs_key              the servers' self-signed certificate
#   exrs_auth_enable NAME USERSFILE   from now on NAME checks credentials as
#                                     Exchange does (below); off by default
#   exrs_users_file                   a users file matching tests/lib/slapd.sh
#   exrs_auth_helper_log NAME         the credential helper's verdicts
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
# Credentials (exrs_auth_enable NAME USERSFILE; nothing of this without it):
# nginx's auth_request asks a small python3 helper (lib/exchange-auth.py,
# stdlib only) on a unix socket in the RS's directory, started and stopped
# with the RS, which checks the users file ("name:password" lines; see
# exrs_users_file) the way Exchange's vdirs authenticate:
#   POST /owa/auth.owa (Exchange's form body destination=..&flags=4&
#     forcedownlevel=0&username=..&password=..&passwordText=&isUtf8=1):
#     302 to the destination with Set-Cookie cadata (HMAC under a key of the
#     run, shared by all RSs), cadataTTL, cadataKey, cadataIV, cadataSig; a
#     wrong logon: 302 to /owa/auth/logon.aspx?url=..&reason=2, no cadata;
#   /owa/*, /ecp/* (not /owa/auth/*, /owa/auth.owa, healthcheck.htm) need a
#     valid cadata cookie, else 302 to /owa/auth/logon.aspx?...&reason=0;
#     /owa/logoff.owa expires the cookies (and that cadata on this RS);
#   /Microsoft-Server-ActiveSync, /EWS, /OAB, /mapi, /rpc, /PowerShell,
#     /Autodiscover need valid "Authorization: Basic", else 401 with
#     WWW-Authenticate: Basic;
#   everything else (health checks, /exrs-ping, other paths) as before.
# The auth log then has ' user="<name>" status=N' after auth="...": the
# user each request was authenticated as ("-": none), so a test can assert
# that nothing unauthenticated was served (no status=200 with user="-" on a
# protected path). EXRS_AUTH_TTL (3600): seconds a cadata lives.
#
# Knobs (read at exrs_setup): EXRS_DIR (default: a new /tmp/exrs.XXXXXX),
# EXRS_BIG_MB (200; 0 = no big file), EXRS_LIMIT_RATE (40m), EXRS_WORKERS
# (1), EXRS_WAIT (20 s, how long exrs_start waits), EXRS_KEEP=1 keeps the
# directory. EXRS_SERVER_CONF: nginx text added to the server block before
# its locations (a regex location there is tried before the ones above);
# EXRS_HTTP_CONF: added to the http block after that server (e.g. more
# :443 servers chosen by SNI). Both empty by default. Needs nginx
# (nginx-light is enough: no module beyond the core, ssl, proxy and, with
# exrs_auth_enable, auth_request is used), curl, openssl, ip; python3 with
# exrs_auth_enable.
# Every wait is bounded (a few seconds); functions return non-zero on
# failure and print the reason on stderr.

EXRS_VDIRS="owa ecp EWS mapi rpc OAB Microsoft-Server-ActiveSync Autodiscover PowerShell"
declare -gA EXRS_NS=() EXRS_ADDR=() EXRS_ADDR6=() EXRS_AUTH=()
EXRS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)	# exchange-auth.py
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
	head -c 32 /dev/urandom > "$EXRS_DIR/shared/auth.key" ||
		{ _exrs_err "cannot write the cadata key"; return 1; }
	chmod -R a+rX "$EXRS_DIR/shared"
	chmod 600 "$EXRS_DIR/shared/auth.key"	# the helpers run as root
}

exrs_dir() { printf '%s/%s' "$EXRS_DIR" "$1"; }
exrs_log() { printf '%s/%s/access.log' "$EXRS_DIR" "$1"; }
exrs_health_log() { printf '%s/%s/health.log' "$EXRS_DIR" "$1"; }
exrs_auth_log() { printf '%s/%s/auth.log' "$EXRS_DIR" "$1"; }
exrs_big_file() { printf '%s/shared/big/%sM' "$EXRS_DIR" "${EXRS_BIG_MB:-200}"; }
exrs_cert() { printf '%s/shared/cert.pem' "$EXRS_DIR"; }
exrs_key() { printf '%s/shared/key.pem' "$EXRS_DIR"; }
exrs_auth_helper_log() { printf '%s/%s/auth-helper.log' "$EXRS_DIR" "$1"; }
exrs_requests() { local f; f=$(exrs_log "$1"); [[ -f $f ]] && wc -l < "$f" || echo 0; }
_exrs_pid() { cat "$EXRS_DIR/$1/nginx.pid" 2>/dev/null; }

_exrs_conf() {	# _exrs_conf NAME: writes $EXRS_DIR/NAME/nginx.conf
	local name=$1 d=$EXRS_DIR/$1 addr=${EXRS_ADDR[$1]} addr6=${EXRS_ADDR6[$1]} v listen
	local auth_log="access_log $d/auth.log exrs_auth;" auth_server="" auth_off="" auth_text=""
	listen="listen $addr:80; listen $addr:443 ssl;"
	[[ -n $addr6 ]] && listen+=" listen [$addr6]:80; listen [$addr6]:443 ssl;"
	if [[ -n ${EXRS_AUTH[$name]:-} ]]; then
		auth_log="log_format exrs_auth_user '\$request_uri auth=\"\$http_authorization\" user=\"\$exrs_user\" status=\$status';
	access_log $d/auth.log exrs_auth_user;"
		auth_off="auth_request off;"
		# return acts in the rewrite phase, before auth_request (access):
		# the answer is made after it, from a named location
		auth_text="try_files /.exrs-no-such-file @exrs_text; }
		location @exrs_text {"
		auth_server=$(_exrs_auth_conf "$d")
	fi
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
	$auth_log
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

		$auth_server
		${EXRS_SERVER_CONF:-}
		location = /exrs-ping {		# exrs_wait's probe, not logged
			access_log off; $auth_off
			return 200 "pong $name\n";
		}
		location ~* "^/[^/]+/healthcheck\.htm\$" {
			access_log $d/health.log exrs; $auth_off
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
			$auth_text
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

# The server block's part of exrs_auth_enable (see the top comment).
_exrs_auth_conf() {
	local d=$1
	cat <<EOF
auth_request /exrs-auth/check;
		auth_request_set \$exrs_user \$upstream_http_x_exrs_user;
		error_page 403 = @exrs_logon;
		location = /exrs-auth/check {
			internal; auth_request off; access_log off;
			proxy_pass http://unix:$d/auth.sock:/check;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header X-Exrs-Uri \$request_uri;
			proxy_set_header X-Exrs-Host \$host;
		}
		location @exrs_logon {
			return 302 "/owa/auth/logon.aspx?url=\$scheme%3a%2f%2f\$host%2fowa%2f&reason=0";
		}
		location ~* "^/owa/(auth|logoff)\.owa\$" {
			auth_request off;
			proxy_pass http://unix:$d/auth.sock;
			proxy_set_header X-Exrs-Scheme \$scheme;
			proxy_set_header X-Exrs-Host \$host;
		}
EOF
}

# exrs_users_file: a users file (printed path, made once) with the users and
# passwords of tests/lib/slapd.sh's directory: alice and dave may log on;
# bob (locked there) and carol (password expired there) may not.
exrs_users_file() {
	_exrs_init || return 1
	local f=$EXRS_DIR/shared/users
	[[ -f $f ]] || printf '%s\n' "# name:password[:state] (exchange-auth.py)" \
		alice:alice-pw dave:dave-pw bob:bob-pw:locked carol:carol-pw:expired > "$f" ||
		return 1
	printf '%s' "$f"
}

_exrs_auth_start() {	# _exrs_auth_start NAME: the helper, if NAME checks credentials
	local name=$1 d=$EXRS_DIR/$1 i
	[[ -n ${EXRS_AUTH[$name]:-} ]] || return 0
	_exrs_auth_stop "$name"
	[[ -s $EXRS_DIR/shared/auth.key ]] ||
		(umask 077 && head -c 32 /dev/urandom > "$EXRS_DIR/shared/auth.key") || return 1
	rm -f "$d/auth.sock"
	ip netns exec "${EXRS_NS[$name]}" python3 "$EXRS_LIB_DIR/exchange-auth.py" "$d/auth.sock" \
		"${EXRS_AUTH[$name]}" "$EXRS_DIR/shared/auth.key" 2>>"$d/auth-helper.log" &
	echo $! > "$d/auth-helper.pid"
	for ((i = 0; i < 100; i++)); do
		[[ -S $d/auth.sock ]] && return 0
		kill -0 "$(cat "$d/auth-helper.pid")" 2>/dev/null || break
		sleep 0.05
	done
	_exrs_err "$name: the credential helper does not start: $(tail -2 "$d/auth-helper.log")"
	return 1
}

_exrs_auth_stop() {
	local pid f=$EXRS_DIR/$1/auth-helper.pid i
	pid=$(cat "$f" 2>/dev/null) || true
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	rm -f "$f"
	return 0
}

# exrs_auth_enable NAME USERSFILE: NAME checks credentials from now on (its
# nginx reloaded, the helper started); returns once an unauthenticated
# request to /EWS/ is refused with 401 (positive evidence of the new config).
exrs_auth_enable() {
	local name=$1 users=${2:-} d=$EXRS_DIR/$1 pid i code
	[[ -n ${EXRS_NS[$name]:-} && -r $users ]] ||
		{ _exrs_err "usage: exrs_auth_enable NAME USERSFILE (a readable file)"; return 2; }
	EXRS_AUTH[$name]=$(realpath "$users")
	_exrs_conf "$name" || return 1
	ip netns exec "${EXRS_NS[$name]}" nginx -t -q -c "$d/nginx.conf" -p "$d" -e "$d/error.log" ||
		{ _exrs_err "$name: bad nginx config: $(tail -3 "$d/error.log")"; return 1; }
	_exrs_auth_start "$name" || return 1
	pid=$(_exrs_pid "$name")
	[[ -n $pid ]] || return 0	# not running: exrs_start uses the new config
	kill -HUP "$pid" || return 1
	for ((i = 0; i < 100; i++)); do
		code=$(ip netns exec "${EXRS_NS[$name]}" curl -s -o /dev/null -w '%{http_code}' \
			--max-time 3 "http://${EXRS_ADDR[$name]}/EWS/exrs-auth-probe" 2>/dev/null)
		[[ $code == 401 ]] && return 0
		sleep 0.1
	done
	_exrs_err "$name: still no 401 for /EWS/ after the reload (got $code)"
	return 1
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
	_exrs_auth_start "$name" || return 1
	exrs_wait "$name"
}

exrs_stop() {
	local name=$1 pid i kids
	_exrs_auth_stop "$name"
	pid=$(_exrs_pid "$name") || true
	[[ -n $pid ]] || return 0
	kids=$(ps -o pid= --ppid "$pid" 2>/dev/null) || true
	# shellcheck disable=SC2086
	kill -CONT "$pid" $kids 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || true
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
	EXRS_AUTH=()
	if [[ -n $EXRS_OWN_DIR && -z ${EXRS_KEEP:-} ]]; then
		rm -rf "$EXRS_OWN_DIR"
	elif [[ -n ${EXRS_DIR:-} ]]; then
		echo "# exrs: kept $EXRS_DIR" >&2
	fi
	EXRS_OWN_DIR=
}
