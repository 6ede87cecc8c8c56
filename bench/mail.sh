#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Mail (issue 5): exlbd's SMTP STARTTLS proxy and SMTPS / IMAPS offload
# against HAProxy in TCP mode doing TLS offload (HAProxy cannot do
# STARTTLS: implicit TLS on 465 / 993 is its closest equivalent), one after
# another, the same VIP, certificate (ECDSA P-256) and real servers
# (postfix + dovecot of userspace/tests/lib/mail-rs.sh). A benchmark, not a
# test: it prints figures and ratios. Needs root, netns, veth, haproxy,
# postfix, dovecot-imapd, openssl, make, gcc + libssl-dev.
#
#   netns exlbm-cli            netns exlbm-lb                 netns exlbm-rs
#   cli0 198.18.0.2-6/24 --- lbcli0 198.18.0.1/24
#   route VIP via cli0            + VIP 198.18.0.10/32
#                              lbrs0 198.18.1.1/24 ------------ rs0 198.18.1.11/24
#                                                               postfix :25, dovecot :143
#
# Only 198.18.0.0/15, only in these namespaces (IPv6 off, no default route);
# nothing is forwarded. For each balancer a fresh proxy is started, probed,
# and measured, in this order:
#   1. IMAP idle memory: IDLE connections left idle (exlb: 143, greeting,
#      STARTTLS, handshake; HAProxy and exlb's offload: 993, handshake,
#      greeting); the Pss growth of the proxy's processes / connections;
#   2. SMTP sessions/s, CONC in flight, each a new connection and a full TLS
#      handshake + EHLO, MAIL, RCPT, DATA (~200 B), QUIT (bench/mail/mailload):
#      exlb: STARTTLS on 25 and SMTPS offload on 465; HAProxy: SMTPS on 465.
# Also, as a ceiling: the same sessions without TLS straight to postfix.
# --rounds N repeats the proxies' measurements N times, alternating their
# order: the table shows medians, then every round's values, the spread
# (median [min-max] n) and exlb/HAProxy round by round. --metrics picks
# mem and/or smtp (--metrics smtp makes rounds of the CPU per session cheap).
# --perf records a CPU profile (perf record -g) of the proxy's processes
# during each SMTP run and counts their system calls per session (perf stat;
# bench/lib.sh perf_start).
#
# Usage: bench/mail.sh [--quick] [--rounds N] [--metrics mem,smtp] [--perf] [--only exlb|haproxy[,...]]
#        [--tls-relay auto|ktls|userspace] [--workers N] [--conc N] [--idle-conns N] [--secs N]
#        [--max-runtime S] [--out DIR] [--keep]
# See docs/benchmarks.md, section "Mail (issue 5)".

set -euo pipefail

LBS=exlb,haproxy
WORKERS=1
RELAY=
CONC=50
IDLE_CONNS=10000
SECS=10
MAX_RUNTIME=900
ROUNDS=1
ROUND=1
METRICS=mem,smtp
PERF=0
QUICK=0
OUT=
KEEP=0
ARGS=("$@")
BENCH=mail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

idle_set=0 secs_set=0
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1; shift ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--metrics) METRICS=$2; shift 2 ;;
	--perf) PERF=1; shift ;;
	--only) LBS=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--conc) CONC=$2; shift 2 ;;
	--tls-relay) RELAY=$2; shift 2 ;;
	--tls-relay=*) RELAY=${1#*=}; shift ;;
	--idle-conns) IDLE_CONNS=$2; idle_set=1; shift 2 ;;
	--secs) SECS=$2; secs_set=1; shift 2 ;;
	--max-runtime) MAX_RUNTIME=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help) usage ;;
	*) echo "mail: unknown argument $1" >&2; usage ;;
	esac
done
if [ "$QUICK" = 1 ]; then
	[ "$idle_set" = 1 ] || IDLE_CONNS=1000
	[ "$secs_set" = 1 ] || SECS=3
fi
numbers ROUNDS WORKERS CONC IDLE_CONNS SECS MAX_RUNTIME
range --rounds "$ROUNDS" 1 10
range --workers "$WORKERS" 1 64
IFS=, read -r -a METRIC_LIST <<<"$METRICS"
for m in "${METRIC_LIST[@]}"; do
	case "$m" in mem|smtp) ;; *) die "--metrics: mem and/or smtp (got '$m')" 2 ;; esac
done
want() { [[ ",$METRICS," == *",$1,"* ]]; }
range --conc "$CONC" 1 1000
range --idle-conns "$IDLE_CONNS" 100 50000
range --secs "$SECS" 1 120
range --max-runtime "$MAX_RUNTIME" 60 86400
case "$RELAY" in ''|auto|ktls|userspace) ;; *) die "--tls-relay: auto, ktls or userspace" 2 ;; esac
IFS=, read -r -a LB_LIST <<<"$LBS"
for lb in "${LB_LIST[@]}"; do
	case "$lb" in exlb|haproxy) ;; *) die "--only: exlb or haproxy (got '$lb')" 2 ;; esac
done

bench_bounded "${ARGS[@]}"

TPL=$REPO/bench/mail
EXLBD=${EXLBD:-$REPO/userspace/build/exlbd}
EXLBCTL=${EXLBCTL:-$REPO/userspace/build/exlbctl}
MAILRS_LIB=$REPO/userspace/tests/lib/mail-rs.sh

NS_CLI=exlbm-cli
NS_LB=exlbm-lb
NS_RS=exlbm-rs
VIP=198.18.0.10
RS=198.18.1.11
CLI_SRCS=198.18.0.2,198.18.0.3,198.18.0.4,198.18.0.5,198.18.0.6

WORK=$(mktemp -d /tmp/exlbm.XXXXXX)
chmod 755 "$WORK"	# the mail servers' users walk into $WORK/rs
MAILRS_UP=0
TOPO_MINE=0	# the namespaces are ours: only then are they deleted
LB_PID=
CLI_PID=
FAILED=0
declare -A V

# putr KEY VALUE: a proxy's figure, also kept per round (KEY.rN).
putr() { put "$1" "$2"; put "$1.r$ROUND" "$2"; }

# shellcheck disable=SC2317  # called by bench/lib.sh's bench_cleanup too
topo_down() {
	procs_stop
	[ "$MAILRS_UP" = 1 ] && { mailrs_cleanup || true; }
	MAILRS_UP=0
	[ "$TOPO_MINE" = 1 ] || return 0
	topo_del "$NS_CLI" "$NS_LB" "$NS_RS"
	TOPO_MINE=0
}

# --out: not the delivered messages and postfix's queue
OUT_EXCLUDE=(./rs/vmail ./rs/postfix-spool)
bench_traps

topo_up() {
	local ns
	for ns in "$NS_CLI" "$NS_LB" "$NS_RS"; do
		[ ! -e "/run/netns/$ns" ] || { log "netns $ns exists: another bench/mail.sh running?"; return 1; }
	done
	TOPO_MINE=1
	topo_ns "$NS_CLI" "$NS_LB" "$NS_RS"
	for ns in "$NS_CLI" "$NS_LB" "$NS_RS"; do
		nsysctl "$ns" net.ipv4.ip_local_port_range "1024 65535"
		nsysctl "$ns" net.ipv4.tcp_tw_reuse 1
	done
	topo_cli "$VIP/32 dev cli0"
	ip -n "$NS_LB" link add lbrs0 type veth peer name rs0 netns "$NS_RS"
	ip -n "$NS_LB" addr add 198.18.1.1/24 dev lbrs0
	ip -n "$NS_LB" link set lbrs0 up
	ip -n "$NS_RS" addr add "$RS/24" dev rs0
	ip -n "$NS_RS" link set rs0 up

	# postfix + dovecot, plaintext (the balancers offload TLS). Postfix
	# logs no SMTP commands (MAILRS_DEBUG_PEERS: an address nobody has) and
	# does not slow clients down when delivery lags (in_flow_delay 0).
	MAILRS_UP=1
	export MAILRS_DIR=$WORK/rs MAILRS_DEBUG_PEERS=198.19.255.254
	mkdir -p "$MAILRS_DIR"
	mailrs_setup "$NS_RS" "$RS" 2>"$WORK/mailrs.err" ||
		{ log "the mail servers did not start: $(tail -n 3 "$WORK/mailrs.err")"; return 1; }
	# dovecot's default imap-login is one process per connection, at most
	# 100: one process for all of them instead (high-performance mode).
	mailrs_dovecot_stop >>"$WORK/mailrs.err" 2>&1 || true
	sleep 1
	awk -v n=$((IDLE_CONNS + CONC + 1000)) '{ print }
		/^service imap-login \{/ { print "\tservice_count = 0\n\tprocess_min_avail = 1\n\tprocess_limit = 4\n\tclient_limit = " n "\n\tvsz_limit = 1G" }' \
		"$WORK/rs/dovecot/dovecot.conf" >"$WORK/dovecot.conf" && cat "$WORK/dovecot.conf" >"$WORK/rs/dovecot/dovecot.conf"
	{ mailrs_dovecot_start >>"$WORK/mailrs.err" 2>&1 && _mailrs_wait_listen 143; } ||
		{ log "dovecot did not restart: $(tail -n 3 "$WORK/mailrs.err")"; return 1; }
	postconf -c "$WORK/rs/postfix" -e in_flow_delay=0 smtpd_peername_lookup=no \
		default_process_limit=300 smtpd_client_connection_count_limit=0 2>>"$WORK/mailrs.err" &&
		nsx "$NS_RS" postfix -c "$WORK/rs/postfix" reload >>"$WORK/mailrs.err" 2>&1 ||
		log "warning: could not tune postfix: $(tail -n 2 "$WORK/mailrs.err")"
	log "topology up; postfix :25 and dovecot :143 on $RS"
}

make_files() {
	openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 30 \
		-subj /CN=mail.bench.test -addext subjectAltName=DNS:mail.bench.test \
		-keyout "$WORK/mail.key" -out "$WORK/mail.crt" 2>/dev/null
	cat "$WORK/mail.crt" "$WORK/mail.key" >"$WORK/mail.pem"
}

# --------------------------------------------------------------------------
# The balancers.

lb_available() {
	case "$1" in
	exlb)
		[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || { echo "exlbd/exlbctl are not built (make -C userspace)"; return 1; }
		;;
	haproxy) command -v haproxy >/dev/null || { echo "haproxy is not installed"; return 1; } ;;
	esac
}

# The ports each balancer serves: smtp STARTTLS, smtps, imap STARTTLS, imaps.
lb_ports() {
	case "$1" in
	exlb) echo "25 465 143 993" ;;
	haproxy) echo "- 465 - 993" ;;
	esac
}

lb_start() {
	local lb=$1 d=$WORK/$1 i p
	rm -rf "$d"
	mkdir -p "$d"
	case "$lb" in
	haproxy)
		fill "$TPL/haproxy.cfg.in" "$d/haproxy.cfg" WORKERS="$WORKERS" DIR="$d" VIP="$VIP" \
			NOFILE="$NOFILE" MAXCONN=$((IDLE_CONNS + CONC + 500)) PEM="$WORK/mail.pem" RS="$RS"
		ip netns exec "$NS_LB" haproxy -db -f "$d/haproxy.cfg" >"$d/log" 2>&1 &
		LB_PID=$!
		;;
	exlb)
		proxy_exlbd_start "$d" || return 1
		local ctl=("$EXLBCTL" -s "$WORK/exlbd.sock")
		local tls=(SSLAcceleration=1 CertFile=mail CheckType=none)
		if ! { "${ctl[@]}" cert add mail "$WORK/mail.crt" "$WORK/mail.key" &&
		       "${ctl[@]}" vs add "$VIP" 25 tcp nickname=SMTP-STARTTLS VStype=tls StartTLSMode=1 \
				ServerInit=1 Idletime=120 "${tls[@]}" &&
		       "${ctl[@]}" rs add SMTP-STARTTLS "$RS" port=25 &&
		       "${ctl[@]}" vs add "$VIP" 465 tcp nickname=SMTPS-Offloaded VStype=gen ServerInit=1 \
				Idletime=120 "${tls[@]}" &&
		       "${ctl[@]}" rs add SMTPS-Offloaded "$RS" port=25 &&
		       "${ctl[@]}" vs add "$VIP" 143 tcp nickname=IMAP-STARTTLS VStype=tls StartTLSMode=4 \
				ServerInit=4 Idletime=3600 "${tls[@]}" &&
		       "${ctl[@]}" rs add IMAP-STARTTLS "$RS" port=143 &&
		       "${ctl[@]}" vs add "$VIP" 993 tcp nickname=IMAPS-Offloaded VStype=gen ServerInit=4 \
				Idletime=3600 "${tls[@]}" &&
		       "${ctl[@]}" rs add IMAPS-Offloaded "$RS" port=143; } >"$d/exlbctl.log" 2>&1; then
			log "exlbctl refused the configuration: $(tail -n 3 "$d/exlbctl.log" | tr '\n' ' ')"
			return 1
		fi
		;;
	esac
	# Probe: one SMTP session per port (postfix reached), bounded.
	local ports end ok
	read -r -a ports <<<"$(lb_ports "$lb")"
	for i in 0 1; do
		p=${ports[$i]}
		[ "$p" = - ] && continue
		end=$((SECONDS + 20)) ok=
		while [ "$SECONDS" -lt "$end" ]; do
			ok=$(nsx "$NS_CLI" "$WORK/mailload" smtp -t "$VIP:$p" -x "$([ "$i" = 0 ] && echo starttls || echo implicit)" \
				-c 1 -m 1 -d 5 -T 5 2>&1 || true)
			[ "$(kv "$ok" sessions)" = 1 ] && break
			kill -0 "$LB_PID" 2>/dev/null || break
			sleep 0.5
		done
		if [ "$(kv "$ok" sessions)" != 1 ]; then
			log "$lb probe on $p: $ok; proxy log: $(tail -n 3 "$d/log" | tr '\n' ' ')"
			return 1
		fi
	done
	log "$lb: probe ok (an SMTP session through each port); processes: $(lb_pids)"
}

# --------------------------------------------------------------------------
# The measurements; TAG = LB.WHAT.

# mem_run TAG PORT MODE: IDLE_CONNS idle IMAP connections.
mem_run() {
	mem_hold "$1" "$1" "$WORK/mailload" imap-hold -t "$VIP:$2" -x "$3" -s "$CLI_SRCS" || return 1
	putr "$1" "$MEM_KIB"
	sleep 2	# let the proxy and dovecot close them
}

# smtp_run TAG NS ADDR:PORT MODE: SMTP sessions/s for SECS seconds. With
# --perf (through a proxy): its profile and system calls per session.
smtp_run() {
	local tag=$1 ns=$2 t=$3 mode=$4 line bad src=() cpu0 cpu1 st0 st1 prof=0
	[ "$ns" = "$NS_CLI" ] && src=(-s "$CLI_SRCS")
	[ "$PERF" = 1 ] && [ "$ns" = "$NS_CLI" ] && prof=1
	nsx "$ns" timeout 20 "$WORK/mailload" smtp -t "$t" -x "$mode" "${src[@]}" -c "$CONC" -d 1 -T 10 >/dev/null 2>&1 || true
	[ "$prof" = 0 ] || perf_start "$tag.r$ROUND"
	cpu0=$(cpu_ticks)
	st0=$(head -n1 /proc/stat)
	line=$(nsx "$ns" timeout $((SECS + 30)) "$WORK/mailload" smtp -t "$t" -x "$mode" "${src[@]}" -c "$CONC" \
		-d "$SECS" -T 10 2>&1) || { [ "$prof" = 0 ] || perf_stop "$tag.r$ROUND"; fail "$tag: mailload failed: $line"; return 1; }
	cpu1=$(cpu_ticks)
	st1=$(head -n1 /proc/stat)
	[ "$prof" = 0 ] || perf_stop "$tag.r$ROUND"
	if [ "$ns" = "$NS_CLI" ] && [ "$(kv "$line" sessions)" -gt 0 ]; then
		putr "$tag.cpu" "$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$(kv "$line" sessions)" \
			'BEGIN { printf "%.2f", t * 1000 / hz / n }')"
		line="$line proxy_cpu_ms_per_session=$(med "$tag.cpu.r$ROUND")"
		# Per session: perf ran ~0.5 s longer than mailload (errs high by a few per cent).
		if [ "$prof" = 1 ] && perf_syscalls "$tag.r$ROUND" "$(kv "$line" sessions)" 2; then
			putr "$tag.sys" "$(awk '$1 == "all" { print $2 }' "$WORK/$tag.r$ROUND.syscalls.txt")"
			log "$tag: system calls per session: $(tr '\n' ' ' <"$WORK/$tag.r$ROUND.syscalls.txt")"
		fi
	fi
	log "$tag: $line; machine: $(machine_split "$st0" "$st1")"
	bad=$(( $(kv "$line" err_connect) + $(kv "$line" err_tls) + $(kv "$line" err_proto) + \
		$(kv "$line" err_io) + $(kv "$line" timeouts) ))
	[ "$bad" = 0 ] || fail "$tag: $bad failed sessions"
	putr "$tag" "$(kv "$line" sess_s)"
	putr "$tag.p99" "$(kv "$line" lat_p99_ms)"
	[ "$mode" = plain ] || V[$tag.params]="$(kv "$line" proto) $(kv "$line" cipher) $(kv "$line" group)"
}

bench_lb() {
	local lb=$1 ports
	log "=== $(proxy_version "$lb") ==="
	if ! lb_start "$lb"; then
		fail "$lb: the proxy does not pass SMTP sessions to postfix"
		lb_stop
		return
	fi
	read -r -a ports <<<"$(lb_ports "$lb")"
	# every memory run on a freshly started proxy (freed memory is reused)
	if want mem && [ "${ports[2]}" != - ]; then
		mem_run "$lb.imap_starttls" "${ports[2]}" starttls || true
		lb_stop
		lb_start "$lb" || { fail "$lb: does not restart"; lb_stop; return; }
	fi
	! want mem || mem_run "$lb.imaps" "${ports[3]}" implicit || true
	if want smtp; then
		[ "${ports[0]}" = - ] || smtp_run "$lb.smtp_starttls" "$NS_CLI" "$VIP:${ports[0]}" starttls || true
		smtp_run "$lb.smtps" "$NS_CLI" "$VIP:${ports[1]}" implicit || true
	fi
	kill -0 "$LB_PID" 2>/dev/null || fail "$lb: the proxy died: $(tail -n 3 "$WORK/$lb/log" | tr '\n' ' ')"
	lb_stop
}

# --------------------------------------------------------------------------

[ "$(id -u)" = 0 ] || die "needs root"
[ -r "$MAILRS_LIB" ] || die "$MAILRS_LIB is missing"
# shellcheck source=userspace/tests/lib/mail-rs.sh
. "$MAILRS_LIB"
for t in ip ss openssl make gcc dovecot postfix postconf; do
	command -v "$t" >/dev/null || die "$t is missing"
done
[ "$PERF" = 0 ] || command -v perf >/dev/null || die "--perf: perf is missing (linux-perf)"
# Also one descriptor per idle connection (dovecot's imap-login) on the
# server; HAProxy's maxconn is idle connections + CONC + 500.
nofile_fit $((CONC + 500))
make -s -C "$REPO/bench" BUILD="$WORK" "$WORK/mailload" >&2 ||
	die "cannot build bench/mail/mailload.c (libssl-dev?)"
ktls_load
lbs_available

make_files
log "exlb mail benchmark: $(for lb in "${LB_LIST[@]}"; do printf '%s; ' "$(proxy_version "$lb")"; done)$(postconf -d mail_version 2>/dev/null | sed 's/ = / /'), dovecot $(dovecot --version 2>/dev/null | cut -d' ' -f1)"
log "kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), kTLS module: $([ -d /sys/module/tls ] && echo loaded || echo no), $(openssl version)"
log "SMTP ${SECS}s runs, $CONC sessions in flight; $IDLE_CONNS idle IMAP connections; workers $WORKERS; metrics $METRICS; $ROUNDS round(s)"
topo_up || { fail "topology"; exit 1; }
# perf's first run spends seconds on its setup: pay for that here
[ "$PERF" = 0 ] || perf record -e cpu-clock -a -o "$WORK/warmup.perf.data" -- sleep 2 >/dev/null 2>&1 || true

# The ceiling: postfix alone, no TLS, from the balancer's namespace.
! want smtp || smtp_run direct.smtp "$NS_LB" "$RS:25" plain || true
bench_rounds
log "postfix delivered $(find "$(mailrs_maildir)/new" -type f | wc -l) messages"

# --------------------------------------------------------------------------
# The table.

row() {	# row LABEL EXLB-KEY HAPROXY-KEY
	printf '%-58s %10s %10s %13s\n' "$1" "$(v "$2")" "$(v "$3")" "$(ratio "$2" "$3")"
}
echo
echo "== Mail: exlb vs HAProxy (TCP mode, TLS offload), $WORKERS worker(s), kernel $(uname -r), $(nproc) CPUs, median of $ROUNDS round(s) =="
printf '%-58s %10s %10s %13s\n' "metric" "exlb" "HAProxy" "exlb/HAProxy"
row "SMTP sessions/s: exlb STARTTLS :25 vs HAProxy SMTPS :465" exlb.smtp_starttls haproxy.smtps
row "SMTP sessions/s: SMTPS :465 offload, both" exlb.smtps haproxy.smtps
row "  session p99 ms: exlb STARTTLS :25 vs HAProxy :465" exlb.smtp_starttls.p99 haproxy.smtps.p99
row "  session p99 ms: SMTPS :465, both" exlb.smtps.p99 haproxy.smtps.p99
row "  proxy CPU ms/session: exlb STARTTLS :25 vs HAProxy :465" exlb.smtp_starttls.cpu haproxy.smtps.cpu
row "  proxy CPU ms/session: SMTPS :465, both" exlb.smtps.cpu haproxy.smtps.cpu
if [ "$PERF" = 1 ]; then
	row "  proxy system calls/session: exlb STARTTLS :25 vs HAProxy" exlb.smtp_starttls.sys haproxy.smtps.sys
	row "  proxy system calls/session: SMTPS :465, both" exlb.smtps.sys haproxy.smtps.sys
fi
row "IMAP idle KiB/conn (Pss): exlb STARTTLS :143 vs HAProxy :993" exlb.imap_starttls haproxy.imaps
row "IMAP idle KiB/conn (Pss): IMAPS :993 offload, both" exlb.imaps haproxy.imaps
echo "(sessions: $CONC in flight, ${SECS}s, each a new connection, full TLS handshake, EHLO, MAIL, RCPT, DATA, QUIT;"
echo " postfix alone, no TLS, no proxy: $(v direct.smtp) sessions/s, p99 $(v direct.smtp.p99) ms; memory: $IDLE_CONNS idle connections)"
echo
echo "negotiated (from mailload):"
params 22
if [ "$ROUNDS" -gt 1 ]; then
	# every round, the spread, and the ratios of the table's pairs round by round
	echo
	echo "every round (median [min-max] n: values in round order):"
	for k in $(printf '%s\n' "${!V[@]}" | grep -v '\.params$\|\.r[0-9]*$\|^direct\.' | sort); do
		printf '  %-28s %s   %s\n' "$k" "$(spread "$k")" "${V[$k]}"
	done
	echo "exlb/HAProxy round by round:"
	for pair in exlb.smtp_starttls:haproxy.smtps exlb.smtps:haproxy.smtps exlb.smtp_starttls.cpu:haproxy.smtps.cpu \
		exlb.smtps.cpu:haproxy.smtps.cpu exlb.smtp_starttls.sys:haproxy.smtps.sys exlb.smtps.sys:haproxy.smtps.sys \
		exlb.imap_starttls:haproxy.imaps exlb.imaps:haproxy.imaps; do
		[ -n "${V[${pair%%:*}]:-}" ] || continue
		per=
		for r in $(seq "$ROUNDS"); do per="$per $(ratio "${pair%%:*}.r$r" "${pair#*:}.r$r")"; done
		printf '  %-44s%s\n' "${pair%%:*} / ${pair#*:}" "$per"
	done
fi
bench_end
