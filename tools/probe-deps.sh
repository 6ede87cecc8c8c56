#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tools/probe-deps.sh
#
# Probes every tool capability the tests rely on, before they run (`make
# unit`, `make vm-check` and .ci/run call it): not only that a program is
# there, but that it can do what the tests ask of it (swaks with TLS, curl
# with the mail protocols, nginx with the modules the test configs use,
# python3 with the modules the helpers import, ...). A test that finds a
# tool lacking would skip or fail far from the cause; this names the
# missing Debian package instead. Exit 0 if all is there, 1 otherwise.
#
# tools/deps.sh stays the only list of packages to install: this is a
# mapping capability -> package, and it checks that each package it names
# is one tools/deps.sh installs.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEPS=$("$HERE/deps.sh" --list)
T=$(mktemp -d /tmp/exlb-probe.XXXXXX)
trap 'rm -rf "$T"' EXIT
missing=0 named=""

# need PACKAGE WHAT CMD...: CMD must succeed, else WHAT is missing, from PACKAGE
need() {
	local pkg=$1 what=$2
	shift 2
	named+=" $pkg"
	if "$@" >"$T/out" 2>&1; then
		return 0
	fi
	echo "probe-deps: missing: $what -- install Debian package $pkg (tools/deps.sh)"
	sed -n '1,3s/^/probe-deps:   /p' "$T/out"
	missing=$((missing + 1))
}
has() { command -v "$1"; }
# grep_out CMD... -- REGEX: CMD's output matches REGEX
grep_out() {
	local cmd=()
	while [ "$1" != -- ]; do cmd+=("$1"); shift; done
	"${cmd[@]}" 2>&1 | grep -qE -- "$2"
}

# ---- programs
need iproute2 "ip, ss" sh -c 'command -v ip && command -v ss'
need jq jq has jq
need socat socat has socat
need nftables nft has nft
need ipvsadm ipvsadm has ipvsadm
need procps "pgrep, sysctl" sh -c 'command -v pgrep && command -v sysctl'
need psmisc fuser has fuser
need util-linux "setpriv, flock" sh -c 'command -v setpriv && command -v flock'
need kmod "modprobe, insmod" sh -c 'command -v modprobe && command -v insmod'
need build-essential "cc, make" sh -c 'command -v cc && command -v make'
need pkg-config pkg-config has pkg-config
need git git has git
# the HA pair (exlbd-ha.sh): VRRPv3 with unicast peers and a notify FIFO
need keepalived "keepalived 2.x (VRRPv3, vrrp_notify_fifo)" grep_out /usr/sbin/keepalived --version -- 'Keepalived v2\.'
# L4 connection sync of the pair (selftests/exlb_ha.sh): FTFW, commit/flush/resync
need conntrackd "conntrackd 1.4 (FTFW)" grep_out /usr/sbin/conntrackd -v -- 'v1\.4'
need conntrack "conntrack (the table tool)" has conntrack

# ---- libraries the builds and health-real.sh compile against
need libev-dev "libev headers" sh -c 'echo "#include <ev.h>" | cc -E - >/dev/null'
need libssl-dev "OpenSSL headers" sh -c 'echo "#include <openssl/ssl.h>" | cc -E - >/dev/null'
need libjansson-dev "jansson headers" sh -c 'echo "#include <jansson.h>" | cc -E - >/dev/null'
need libmnl-dev "libmnl headers" sh -c 'echo "#include <libmnl/libmnl.h>" | cc -E - >/dev/null'
need libpcre2-dev "PCRE2 headers" sh -c 'echo "#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>" | cc -E - >/dev/null'
need libsystemd-dev "sd-daemon headers" sh -c 'echo "#include <systemd/sd-daemon.h>" | cc -E - >/dev/null'
need node-llhttp "llhttp sources" test -f /usr/share/include/llhttp/llhttp.h
need libcrypt-dev "libcrypt headers (crypt_r, yescrypt)" sh -c 'echo "#include <crypt.h>" | cc -E - >/dev/null'
need libldap-dev "OpenLDAP headers and libldap" sh -c 'echo "#include <ldap.h>
int main(void) { return ldap_err2string(0) == 0; }" | cc -x c - -lldap -llber -o /dev/null'
need libseccomp-dev "libseccomp headers and library (seccomp_init)" sh -c 'echo "#include <seccomp.h>
int main(void) { return seccomp_init(SCMP_ACT_KILL_PROCESS) == 0; }" | cc -x c - -lseccomp -o /dev/null'
need prometheus "promtool check metrics" sh -c 'printf "# HELP x_total x\n# TYPE x_total counter\nx_total 1\n" | promtool check metrics'
need chromium "headless Chromium (--dump-dom, as root: --no-sandbox)" sh -c \
	'HOME="$1" timeout 60 chromium --headless=new --no-sandbox --disable-gpu \
	--user-data-dir="$1/chromium" --dump-dom "data:text/html,<p>probe</p>" | grep -q "<p>probe</p>"' sh "$T"

# ---- openssl: certificates as the tests make them, s_client
need openssl "openssl (EC certificates with -addext)" \
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=probe.exlb.test -addext subjectAltName=DNS:probe.exlb.test \
	-keyout "$T/key.pem" -out "$T/cert.pem"
need openssl "openssl s_client with -tls1_3" grep_out openssl s_client -help -- '-tls1_3'

# ---- curl: HTTP(S) and the mail protocols with STARTTLS
for p in http https imap imaps pop3 pop3s smtp smtps; do
	need curl "curl with the $p protocol" grep_out curl --version -- "^Protocols:.* $p( |$)"
done
need curl "curl with TLS" grep_out curl --version -- '^Features:.* SSL( |$)'

# ---- swaks: SMTP STARTTLS and SMTPS need Net::SSLeay
need swaks swaks has swaks
need libnet-ssleay-perl "swaks TLS (Perl Net::SSLeay)" grep_out swaks --support -- '^=== TLS supported'

# ---- python3 and what the helpers import
need python3 python3 has python3
need python3 "python3 modules ssl imaplib poplib smtplib http.client json selectors ctypes" \
	python3 -c 'import ssl, imaplib, poplib, smtplib, http.client, json, selectors, ctypes, argparse'
need python3-cryptography "python3 module cryptography (a mismatched .pfx for exlbd-cli.sh)" \
	python3 -c 'import cryptography.hazmat.primitives.serialization.pkcs12'

# ---- nginx with the modules the test configs use (ssl, map, proxy,
# rewrite's return, headers): a config that has them must pass nginx -t
mkdir -p "$T/nginx"
cat >"$T/nginx/nginx.conf" <<EOF
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 16; }
http {
	access_log off;
	client_body_temp_path $T/nginx; proxy_temp_path $T/nginx;
	fastcgi_temp_path $T/nginx; uwsgi_temp_path $T/nginx; scgi_temp_path $T/nginx;
	map \$uri \$probe { default 1; }
	server {
		listen 127.0.0.1:1 ssl;
		ssl_certificate $T/cert.pem;
		ssl_certificate_key $T/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		location /p { proxy_pass http://127.0.0.1:2; proxy_request_buffering off; }
		location / { limit_rate 1m; add_header X-Probe \$probe always; return 200 ok; }
	}
}
EOF
need nginx-light nginx has nginx
need nginx-light "nginx with ssl, map, proxy, rewrite and headers modules" \
	nginx -t -q -p "$T/nginx" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf"

# ---- the real mail servers
need dovecot-imapd "dovecot IMAP" sh -c 'command -v dovecot && test -x /usr/lib/dovecot/imap'
need dovecot-pop3d "dovecot POP3" test -x /usr/lib/dovecot/pop3
need postfix postfix sh -c 'command -v postfix && getent passwd postfix'
need slapd "slapd with the mdb backend and the ppolicy overlay" sh -c 'test -x /usr/sbin/slapd -a -x /usr/sbin/slapadd -a -e /usr/lib/ldap/back_mdb.la -a -e /usr/lib/ldap/ppolicy.la'
need ldap-utils "ldapsearch, ldapwhoami" sh -c 'command -v ldapsearch && command -v ldapwhoami'

# ---- the Debian packages: make deb (dpkg-buildpackage with debhelper and
# dh_dkms), make deb-lint (lintian), install-tree.sh (systemd-analyze
# verify), exlb_deb.sh in the VM (dkms, addgroup)
need build-essential dpkg-buildpackage has dpkg-buildpackage
need debhelper "debhelper (dh, compat 13)" sh -c 'command -v dh && test -f /usr/share/perl5/Debian/Debhelper/Dh_Lib.pm'
need dh-dkms "dh_dkms (dh-sequence-dkms)" test -f /usr/share/perl5/Debian/Debhelper/Sequence/dkms.pm
need lintian lintian has lintian
need systemd "systemd-analyze verify" grep_out systemd-analyze --help -- 'verify'
need dkms dkms has dkms
need adduser addgroup has addgroup

# ---- kernel lint and the test VM
R=$("$HERE/vm/kernel-release" 2>/dev/null)
need linux-headers-amd64 "kernel headers of release ${R:-?}" test -n "$R" -a -d "/lib/modules/$R/build"
need linux-image-amd64 "kernel image of release ${R:-?}" test -n "$R" -a -f "/boot/vmlinuz-$R"
need sparse sparse has sparse
need linux-source-6.1 "checkpatch.pl" sh -c 'ls /usr/src/linux-source-6.1*.tar.* >/dev/null 2>&1 || ls -d /usr/src/linux-source-6.1*/ >/dev/null 2>&1'
need qemu-system-x86 qemu-system-x86_64 has qemu-system-x86_64
need busybox-static "busybox (static)" has busybox
need cpio cpio has cpio

# the packages named here are the ones tools/deps.sh installs
for pkg in $(tr ' ' '\n' <<<"$named" | sort -u); do
	if ! grep -qx -- "$pkg" <<<"$DEPS"; then
		echo "probe-deps: tools/probe-deps.sh names $pkg, which tools/deps.sh does not install"
		missing=$((missing + 1))
	fi
done

if [ $missing -gt 0 ]; then
	echo "probe-deps: $missing missing: run tools/deps.sh as root"
	exit 1
fi
echo "probe-deps: every tool capability the tests use is there"
