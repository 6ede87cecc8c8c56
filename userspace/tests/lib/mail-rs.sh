# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# A real mail server for tests: private dovecot (IMAP 143, POP3 110) and
# postfix (SMTP 25) instances, their configs, queues and logs under one
# directory, running inside a network namespace the caller made (this file
# creates no devices or namespaces). Postfix delivers every address of
# $MAILRS_DOMAIN into one Maildir that dovecot serves to $MAILRS_USER.
# Plaintext logins are allowed (disable_plaintext_auth = no): a load
# balancer doing TLS offload talks plaintext to it. Postfix looks up no
# client names (smtpd_peername_lookup = no): no DNS query leaves a test host.
#
#   mailrs_setup NS ADDR        write the configs, start both in NS on ADDR,
#                               wait until 25, 110 and 143 listen there
#   mailrs_dovecot_start / _stop, mailrs_postfix_start / _stop
#   mailrs_cleanup              stop both, remove the directory (unless
#                               MAILRS_KEEP=1 or the caller gave MAILRS_DIR)
#   mailrs_maildir              the Maildir (new/ holds delivered messages)
#   mailrs_dovecot_log / mailrs_postfix_log   the servers' logs; postfix
#                               logs every SMTP command of peers in
#                               MAILRS_DEBUG_PEERS ("< peer: COMMAND")
#   mailrs_logins PROTO         how many "PROTO-login: Login:" lines dovecot
#                               logged so far (PROTO imap or pop3)
#
# Knobs (read at mailrs_setup): MAILRS_DIR (default a new /tmp/mailrs.XXXXXX),
# MAILRS_USER (alice), MAILRS_PASS (secret), MAILRS_DOMAIN (exlb.test),
# MAILRS_HOST (mail1.exlb.test), MAILRS_NETWORKS (198.18.0.0/15),
# MAILRS_DEBUG_PEERS (MAILRS_NETWORKS), MAILRS_TLS=1: the servers' own TLS too
# (dovecot: STARTTLS, IMAPS 993, POP3S 995; postfix: STARTTLS on 25 and on
# submission 587, SMTPS 465;
# a self-signed certificate for MAILRS_HOST). Needs dovecot-imapd,
# dovecot-pop3d, postfix, iproute2 (ss). Every wait is bounded.

MAILRS_NS=
MAILRS_ADDR=
MAILRS_OWN_DIR=

_mailrs_err() { echo "mailrs: $*" >&2; }
_mailrs_in() { ip netns exec "$MAILRS_NS" "$@"; }

mailrs_maildir() { echo "$MAILRS_DIR/vmail/${MAILRS_USER:-alice}/Maildir"; }
mailrs_dovecot_log() { echo "$MAILRS_DIR/dovecot/dovecot.log"; }
mailrs_postfix_log() { echo "$MAILRS_DIR/postfix.log"; }
mailrs_logins() { grep -cE "$1-login: (Info: )?Login:" "$(mailrs_dovecot_log)" 2>/dev/null; }

_mailrs_wait_listen() {	# PORT: bounded wait for a listener in the namespace
	local i
	for ((i = 0; i < 50; i++)); do
		_mailrs_in ss -Hltn "sport = :$1" | grep -q LISTEN && return 0
		sleep 0.1
	done
	return 1
}

mailrs_dovecot_start() { _mailrs_in dovecot -c "$MAILRS_DIR/dovecot/dovecot.conf"; }
mailrs_dovecot_stop() { _mailrs_in dovecot -c "$MAILRS_DIR/dovecot/dovecot.conf" stop; }
mailrs_postfix_start() {
	_mailrs_in postfix -c "$MAILRS_DIR/postfix" start >>"$MAILRS_DIR/postfix-ctl.log" 2>&1
}
mailrs_postfix_stop() {
	_mailrs_in postfix -c "$MAILRS_DIR/postfix" stop >>"$MAILRS_DIR/postfix-ctl.log" 2>&1
}

mailrs_setup() {	# NS ADDR
	MAILRS_NS=$1
	MAILRS_ADDR=$2
	local user=${MAILRS_USER:-alice} pass=${MAILRS_PASS:-secret}
	local domain=${MAILRS_DOMAIN:-exlb.test} host=${MAILRS_HOST:-mail1.exlb.test}
	local nets=${MAILRS_NETWORKS:-198.18.0.0/15}
	local uid gid

	if [[ -z ${MAILRS_DIR:-} ]]; then
		MAILRS_DIR=$(mktemp -d /tmp/mailrs.XXXXXX) || return 1
		MAILRS_OWN_DIR=$MAILRS_DIR
	fi
	chmod 755 "$MAILRS_DIR"
	uid=$(id -u nobody) && gid=$(getent group nogroup | cut -d: -f3) ||
		{ _mailrs_err "no nobody/nogroup"; return 1; }
	getent passwd postfix >/dev/null || { _mailrs_err "no postfix user"; return 1; }
	mkdir -p "$MAILRS_DIR/dovecot/run" "$MAILRS_DIR/dovecot/state" \
		"$(mailrs_maildir)"/{new,cur,tmp} "$MAILRS_DIR/postfix" \
		"$MAILRS_DIR/postfix-spool" "$MAILRS_DIR/postfix-data"
	chown -R "$uid:$gid" "$MAILRS_DIR/vmail"
	chown postfix "$MAILRS_DIR/postfix-data"
	local ssl=no imaps=0 pop3s=0
	if [[ -n ${MAILRS_TLS:-} ]]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
			-subj "/CN=$host" -addext "subjectAltName=DNS:$host" \
			-keyout "$MAILRS_DIR/key.pem" -out "$MAILRS_DIR/cert.pem" 2>/dev/null ||
			{ _mailrs_err "openssl cannot make a certificate"; return 1; }
		chmod 644 "$MAILRS_DIR/key.pem"
		ssl=yes imaps=993 pop3s=995
	fi

	cat > "$MAILRS_DIR/dovecot/dovecot.conf" <<EOF
base_dir = $MAILRS_DIR/dovecot/run
state_dir = $MAILRS_DIR/dovecot/state
log_path = $MAILRS_DIR/dovecot/dovecot.log
instance_name = exlb-mailrs-$$-$RANDOM
protocols = imap pop3
listen = $MAILRS_ADDR
ssl = $ssl
$([[ $ssl = yes ]] && printf 'ssl_cert = <%s\nssl_key = <%s\n' "$MAILRS_DIR/cert.pem" "$MAILRS_DIR/key.pem")
disable_plaintext_auth = no
auth_mechanisms = plain login
login_greeting = $host ready
mail_location = maildir:$MAILRS_DIR/vmail/%u/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {
	driver = static
	args = user=$user password=$pass
}
userdb {
	driver = static
	args = uid=$uid gid=$gid home=$MAILRS_DIR/vmail/%u
}
service imap-login {
	inet_listener imap {
		port = 143
	}
	inet_listener imaps {
		port = $imaps
	}
}
service pop3-login {
	inet_listener pop3 {
		port = 110
	}
	inet_listener pop3s {
		port = $pop3s
	}
}
EOF

	cat > "$MAILRS_DIR/postfix/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $MAILRS_DIR/postfix-spool
data_directory = $MAILRS_DIR/postfix-data
meta_directory = /etc/postfix
inet_interfaces = $MAILRS_ADDR
inet_protocols = ipv4
myhostname = $host
mydestination =
mynetworks = $nets
alias_maps =
alias_database =
maillog_file = $MAILRS_DIR/postfix.log
maillog_file_prefixes = $MAILRS_DIR
smtpd_banner = \$myhostname ESMTP exlb-test
# no reverse lookup of clients: test hosts must not ask the machine's
# resolver anything, and its timeouts held greetings for 10 s in the VM
smtpd_peername_lookup = no
$(if [[ $ssl = yes ]]; then
	printf 'smtpd_tls_security_level = may\nsmtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n' \
		"$MAILRS_DIR/cert.pem" "$MAILRS_DIR/key.pem"
else
	echo 'smtpd_tls_security_level = none'
fi)
virtual_mailbox_domains = $domain
virtual_mailbox_base = $MAILRS_DIR/vmail
virtual_mailbox_maps = static:$user/Maildir/
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_minimum_uid = 1
debug_peer_list = ${MAILRS_DEBUG_PEERS:-$nets}
debug_peer_level = 2
EOF
	# Debian's services, without chroot (the chroot would need a copied /etc)
	sed -E 's/^([a-z]+[[:space:]]+(inet|unix|unix-dgram|fifo|pass)[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+)y/\1n/' \
		/etc/postfix/master.cf > "$MAILRS_DIR/postfix/master.cf"
	[[ $ssl = yes ]] &&
		printf '%s\n' 'smtps inet n - n - - smtpd -o smtpd_tls_wrappermode=yes' \
			'submission inet n - n - - smtpd' >> "$MAILRS_DIR/postfix/master.cf"

	mailrs_dovecot_start || { _mailrs_err "dovecot does not start"; return 1; }
	mailrs_postfix_start ||
		{ _mailrs_err "postfix does not start: $(tail -3 "$MAILRS_DIR/postfix-ctl.log")"; return 1; }
	local port
	for port in 25 110 143 $([[ $ssl = yes ]] && echo 465 587 993 995); do
		_mailrs_wait_listen $port || { _mailrs_err "nothing listens on $port"; return 1; }
	done
}

mailrs_cleanup() {
	[[ -n ${MAILRS_DIR:-} && -n $MAILRS_NS ]] || return 0
	[[ -f $MAILRS_DIR/dovecot/dovecot.conf ]] && mailrs_dovecot_stop 2>/dev/null
	[[ -f $MAILRS_DIR/postfix/main.cf ]] && mailrs_postfix_stop 2>/dev/null
	if [[ -n $MAILRS_OWN_DIR && -z ${MAILRS_KEEP:-} ]]; then
		rm -rf "$MAILRS_OWN_DIR"
	fi
	return 0
}
