#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The L4 demo, run as root where exlb.ko is loaded (see tools/demo.sh).
#
#   client 198.18.0.2 --- LB (exlb.ko) VIP 198.18.0.10 --- exch1 198.18.1.11
#                                                      `-- exch2 198.18.1.12
#
# exch1 and exch2 each run a private dovecot (IMAP 143) and postfix (SMTP 25)
# whose greetings carry their name. exlb serves IMAP (rr) and SMTP (rr with
# source persistence, as Kemp's template) with SubnetOriginating, then exch1
# drops off the network: its open IMAP connection is reset by the balancer
# (droponfail) and new ones go to exch2.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ADM=$REPO/userspace/build/exlbadm
PY=/usr/bin/python3
VIP=198.18.0.10
T=$(mktemp -d /tmp/exlb-demo.XXXXXX)
chmod 755 "$T"	# postfix and dovecot drop privileges and must reach their dirs
NS="demo-cli demo-lb demo-exch1 demo-exch2"

step() { printf '\n\033[1m[%s] %s\033[0m\n' "$(date +%T)" "$*"; }
lb() { ip netns exec demo-lb "$@"; }
cli() { ip netns exec demo-cli "$@"; }

cleanup() {
	for s in exch1 exch2; do
		ip netns exec demo-$s dovecot -c "$T/$s/dovecot.conf" stop >/dev/null 2>&1 || true
		ip netns exec demo-$s postfix -c "$T/$s/postfix" stop >/dev/null 2>&1 || true
	done
	lb "$ADM" vs del $VIP:143 >/dev/null 2>&1 || true
	lb "$ADM" vs del $VIP:25 >/dev/null 2>&1 || true
	for n in $NS; do ip netns del "$n" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT

step "network: a client, the load balancer and two Exchange servers, each in its own namespace"
for n in $NS; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n demo-lb link add lbclient type veth peer name eth0 netns demo-cli
ip -n demo-lb link add lbservers type bridge
ip -n demo-lb addr add 198.18.0.1/24 dev lbclient
ip -n demo-lb addr add $VIP/32 dev lbclient
ip -n demo-lb addr add 198.18.1.1/24 dev lbservers
ip -n demo-cli addr add 198.18.0.2/24 dev eth0
ip -n demo-cli link set eth0 up
ip -n demo-cli route add default via 198.18.0.1
i=11
for s in exch1 exch2; do
	ip -n demo-lb link add "lb$s" type veth peer name eth0 netns "demo-$s"
	ip -n demo-lb link set "lb$s" master lbservers up
	ip -n "demo-$s" addr add "198.18.1.$i/24" dev eth0
	ip -n "demo-$s" link set eth0 up
	ip -n "demo-$s" route add default via 198.18.1.1
	i=$((i + 1))
done
ip -n demo-lb link set lbclient up
ip -n demo-lb link set lbservers up
lb sysctl -qw net.ipv4.ip_forward=1
echo "client 198.18.0.2 -> VIP $VIP on the LB -> exch1 198.18.1.11, exch2 198.18.1.12"

step "starting dovecot (IMAP) and postfix (SMTP) on exch1 and exch2"
i=11
for s in exch1 exch2; do
	ip=198.18.1.$i
	mkdir -p "$T/$s/run" "$T/$s/state" "$T/$s/postfix" "$T/$s/spool" "$T/$s/data"
	chown postfix "$T/$s/data"
	mkdir -p "$T/$s/mail" "$T/$s/home"
	chown nobody "$T/$s/mail" "$T/$s/home"
	cat > "$T/$s/dovecot.conf" <<CONF
base_dir = $T/$s/run
state_dir = $T/$s/state
log_path = $T/$s/dovecot.log
instance_name = exlb-demo-$s
protocols = imap
listen = $ip
ssl = no
disable_plaintext_auth = no
mail_location = maildir:$T/$s/mail/%u
login_greeting = $s.exlb.test IMAP ready
passdb {
	driver = static
	args = password=demo
}
userdb {
	driver = static
	args = uid=nobody gid=nogroup home=$T/$s/home/%u
}
service imap-login {
	inet_listener imap {
		port = 143
	}
	inet_listener imaps {
		port = 0
	}
}
CONF
	cat > "$T/$s/postfix/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $T/$s/spool
data_directory = $T/$s/data
meta_directory = /etc/postfix
inet_interfaces = $ip
inet_protocols = ipv4
myhostname = $s.exlb.test
mydestination =
mynetworks = 198.18.0.0/15
alias_maps =
alias_database =
maillog_file = $T/$s/postfix.log
maillog_file_prefixes = $T
smtpd_banner = \$myhostname ESMTP
CONF
	sed -E 's/^([a-z]+[[:space:]]+(inet|unix|unix-dgram|fifo|pass)[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+)y/\1n/' \
		/etc/postfix/master.cf > "$T/$s/postfix/master.cf"
	ip netns exec "demo-$s" dovecot -c "$T/$s/dovecot.conf"
	ip netns exec "demo-$s" postfix -c "$T/$s/postfix" start >"$T/$s/postfix-start.log" 2>&1 ||
		{ echo "postfix failed to start on $s:"; cat "$T/$s/postfix-start.log" "$T/$s/postfix.log" 2>&1; exit 1; }
	echo "$s: dovecot on $ip:143, postfix on $ip:25"
	i=$((i + 1))
done
# bounded wait until both servers listen on 25 and 143
for s in exch1 exch2; do
	for ((k = 0; k < 150; k++)); do
		n=$(ip netns exec "demo-$s" ss -Hltn | grep -cE ':(25|143) ' || true)
		[ "$n" -ge 2 ] && break
		sleep 0.2
	done
	[ "$n" -ge 2 ] || { echo "$s: servers did not start"; cat "$T/$s/"*.log; exit 1; }
done

step "programming exlb.ko: IMAP (Kemp template: rr) and SMTP (rr, Persist=src 3600 s)"
lb "$ADM" set droponfail 1
lb "$ADM" vs add $VIP:143 Schedule=rr Idletime=1800 SubnetOriginating=1
lb "$ADM" vs add $VIP:25 Schedule=rr Persist=src PersistTimeout=3600 Idletime=120 SubnetOriginating=1
for s in 11 12; do
	lb "$ADM" rs add $VIP:143 198.18.1.$s:143
	lb "$ADM" rs add $VIP:25 198.18.1.$s:25
done
lb "$ADM" vs show

step "four IMAP logins through the VIP (python imaplib): who answered?"
cli $PY - "$VIP" <<'PYEOF'
import imaplib, re, sys
for i in range(4):
    m = imaplib.IMAP4(sys.argv[1], 143, timeout=10)
    m.login("demo", "demo")
    server = re.search(r"exch\d\.exlb\.test", m.welcome.decode()).group(0)
    print(f"  IMAP login {i + 1} as demo: greeted and served by {server}")
    m.logout()
PYEOF

step "four SMTP sessions (python smtplib): source persistence keeps the client on one server"
cli $PY - "$VIP" <<'PYEOF'
import smtplib, sys
for i in range(4):
    s = smtplib.SMTP(sys.argv[1], 25, timeout=10)
    code, msg = s.ehlo("client.exlb.test")
    print(f"  SMTP session {i + 1}: EHLO answered by {msg.decode().splitlines()[0].split()[0]}")
    s.quit()
PYEOF

step "an Outlook-like client keeps an IMAP connection open; exch1 fails"
cli $PY - "$VIP" <<'PYEOF' &
import imaplib, os, re, socket, sys, time
vip = sys.argv[1]
others = []
for _ in range(10):
    m = imaplib.IMAP4(vip, 143, timeout=10)
    server = re.search(r"exch\d", m.welcome.decode()).group(0)
    if server == "exch1":
        break
    others.append(m)
print(f"  open IMAP connection to {server} (client port {m.sock.getsockname()[1]})", flush=True)
open("/tmp/exlb-demo-held", "w").close()
m.sock.settimeout(15)
try:
    data = m.sock.recv(100)
    print("  the connection was closed" if not data else "  unexpected data")
except ConnectionResetError:
    t = time.time_ns()
    with open("/tmp/exlb-demo-down") as f:
        down = int(f.read())
    print(f"  RST received {(t - down) / 1e6:.0f} ms after the 'rs down' command started: Outlook reconnects at once")
except socket.timeout:
    print("  no reset within 15 s")
PYEOF
held=$!
for ((k = 0; k < 300; k++)); do [ -e /tmp/exlb-demo-held ] && break; sleep 0.1; done
echo "  exch1 drops off the network (its link goes down: no FIN, no RST from it);"
echo "  marking it down as its health check will (exlbd, coming)"
ip -n demo-exch1 link set eth0 down
date +%s%N > /tmp/exlb-demo-down
lb "$ADM" rs down $VIP:143 198.18.1.11:143
wait "$held" || true
rm -f /tmp/exlb-demo-held /tmp/exlb-demo-down

step "new IMAP logins go to the healthy server only"
cli $PY - "$VIP" <<'PYEOF'
import imaplib, re, sys
for i in range(4):
    m = imaplib.IMAP4(sys.argv[1], 143, timeout=10)
    m.login("demo", "demo")
    server = re.search(r"exch\d\.exlb\.test", m.welcome.decode()).group(0)
    print(f"  IMAP login {i + 1} as demo: greeted and served by {server}")
    m.logout()
PYEOF

step "the balancer's view: services, real servers, counters"
lb "$ADM" vs show
step "done: exlb.ko balanced IMAP and SMTP over two servers and failed over from exch1"
