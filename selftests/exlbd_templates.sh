#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every Exchange template exlb ships, applied with `exlbctl template apply`
# and carrying real traffic, inside the test VM with exlb.ko loaded.
#
#   tpl-cli 198.18.40.2 --- tpl-lb: exlbd + exlb.ko, VIPs 198.18.40.100..117
#                                  |-- tpl-exch1 198.18.41.11
#                                  `-- tpl-exch2 198.18.41.12
#
# exch1 and exch2 are simulated Exchange servers: nginx with the nine vdirs
# on 80 and 443 (userspace/tests/lib/exchange-rs.sh), dovecot and postfix
# with their own TLS (IMAP 143/993, POP3 110/995, SMTP 25/587;
# userspace/tests/lib/mail-rs.sh) sharing one mailbox store.
#
# For each version (EXLB_TEMPLATE_VERSIONS, default "2019"; the 2013 and 2016
# templates are 2019's under other names, which the host test
# userspace/tests/exlbd-template.sh checks field by field, so CI carries
# traffic through one year; "2013 2016 2019" runs all three) the 18
# templates of its Core, ESP and Additional sets are applied, each on its
# own VIP with both servers. The 2 HTTPS ESP templates need an SSO domain
# for their form logon (docs/esp.md): without Domain= they must be refused (a
# one-line error, nothing stored); with Domain=EXLB (an SSO domain without a
# directory: the VM has no slapd, so no logon can succeed) they apply, and
# a browser's GET /owa/ without a session gets exlbd's logon page and
# reaches neither server. SMTP with ESP applies (its permitted
# domain set to the test's): a recipient of another domain gets 550 from
# the LB. Once every real server is up, for each of the other 16: the VSs
# it made are served where they should be (L4 by exlb.ko, L7 by exlbd), and
# real clients (selftests/template_client.py) get through it to both
# servers with TLS terminated by the right party. Then every message sent
# through an SMTP template must have been delivered, and the VSs are
# deleted before the next version.
#
# KTAP on stdout, last line "N passed, N failed"; exit 0 all passed, 1 a
# failure, 4 skipped (not root, exlb.ko not loaded, a tool missing).
# EXLB_TEMPLATE_MATCH=REGEX runs only the templates whose name (without
# "Exchange VERSION ") matches; KEEP=1 keeps the work directory.

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")
# shellcheck source=lib.sh
source "$HERE/lib.sh"
EXLBD=${EXLBD:-$REPO/userspace/build/exlbd}
EXLBCTL=${EXLBCTL:-$REPO/userspace/build/exlbctl}
CLIENT=$HERE/template_client.py
PY=/usr/bin/python3
VERSIONS=${EXLB_TEMPLATE_VERSIONS:-2019}
EX1=198.18.41.11
EX2=198.18.41.12
NSS="tpl-cli tpl-lb tpl-exch1 tpl-exch2"

need_root
need_exlb
need_built "$EXLBD" "$EXLBCTL" "$PY"
need_tools ip ss jq openssl nginx dovecot postfix
suite_ready
modprobe -q tls 2>/dev/null

# Each template: the client KIND (template_client.py), where its real
# servers listen ("-" = the VS port), whether it needs a certificate, and
# the layer of each VS it makes, by port (L4 exlb.ko, L7 exlbd). "esp-form":
# the HTTPS ESP templates, applied with Domain=EXLB after a refusal without
# it; checked with curl (the logon page), not template_client.py.
declare -A KIND=(
	["HTTPS Offloaded"]="https-offload :80 cert 80=L7,443=L7"
	["HTTPS ReEncrypted"]="https-reencrypt :443 cert 80=L7,443=L7"
	["HTTPS"]="https-passthrough - - 80=L7,443=L4"
	["SMTP"]="smtp - - 25=L4"
	["SMTPS"]="smtps-passthrough - - 587=L4"
	["HTTPS Offloaded with ESP"]="esp-form :80 cert 80=L7,443=L7"
	["HTTPS ReEncrypted with ESP"]="esp-form :443 cert 80=L7,443=L7"
	["SMTP with ESP"]="smtp-esp - - 25=L7"
	["IMAP"]="imap - - 143=L4"
	["IMAPS"]="imaps-passthrough - - 993=L4"
	["IMAPS Offloaded"]="imaps-offload :143 cert 993=L7"
	["IMAP with STARTTLS"]="imap-starttls - cert 143=L7"
	["POP"]="pop - - 110=L4"
	["POPS"]="pops-passthrough - - 995=L4"
	["POPS Offloaded"]="pops-offload :110 cert 995=L7"
	["POP with STARTTLS"]="pop-starttls - cert 110=L7"
	["SMTP with STARTTLS"]="smtp-starttls - cert 25=L7"
	["SMTPS Offloaded"]="smtps-offload :25 cert 587=L7"
)
# parameters given with the template: the client's mail domain is exlb.test
declare -A EXTRA=(
	["SMTP with ESP"]="SMTPAllowedDomains=exlb.test"
	["HTTPS Offloaded with ESP"]="Domain=EXLB"
	["HTTPS ReEncrypted with ESP"]="Domain=EXLB"
)
# the order of the sets: Core, ESP, Additional
ORDER=("HTTPS Offloaded" "HTTPS ReEncrypted" "HTTPS" "SMTP" "SMTPS"
	"HTTPS Offloaded with ESP" "HTTPS ReEncrypted with ESP" "SMTP with ESP"
	"IMAP" "IMAPS" "IMAPS Offloaded" "IMAP with STARTTLS" "POP" "POPS"
	"POPS Offloaded" "POP with STARTTLS" "SMTP with STARTTLS" "SMTPS Offloaded")
# EXLB_TEMPLATE_MATCH (an extended regex on the names above) picks some, for reruns
SEL=()
for ((i = 0; i < ${#ORDER[@]}; i++)); do
	[[ ${ORDER[i]} =~ ${EXLB_TEMPLATE_MATCH:-.} ]] && SEL+=("$i")
done

NT=0 NPASS=0 NFAIL=0
ok() {	# STATUS NAME
	NT=$((NT + 1))
	if [[ $1 == 0 ]]; then
		NPASS=$((NPASS + 1)); echo "ok $NT - $2"
	else
		NFAIL=$((NFAIL + 1)); echo "not ok $NT - $2"
	fi
}
diag() { sed 's/^/# /' <<<"$*"; }
lb() { ip netns exec tpl-lb "$@"; }
cli() { ip netns exec tpl-cli "$@"; }
ctl() { "$EXLBCTL" -s "$T/exlbd.sock" "$@"; }

EXLBD_PID=
# The suite's result: a failed check, an exit with a status other than 0
# (a step that could not run), or no check at all is a failure.
finish() {
	local rc=$?
	[[ -n $EXLBD_PID ]] && kill "$EXLBD_PID" 2>/dev/null
	wait 2>/dev/null
	if [[ -n ${T:-} ]]; then
		for s in exch1 exch2; do
			[[ -f $T/$s-mail/dovecot/dovecot.conf ]] || continue
			MAILRS_NS=tpl-$s MAILRS_DIR=$T/$s-mail MAILRS_OWN_DIR='' mailrs_cleanup
		done
		exrs_cleanup 2>/dev/null
	fi
	for n in $NSS; do ip netns del "$n" 2>/dev/null; done
	[[ -n ${T:-} && -z ${KEEP:-} ]] && rm -rf "$T"
	((rc == 0 || NFAIL > 0)) || ok "$rc" "the suite ran to its end (it exited with status $rc)"
	((NT > 0)) || ok 1 "the suite ran a check"
	echo "1..$NT"
	echo "$NPASS passed, $NFAIL failed"
	((NFAIL == 0)) || exit 1
	exit 0
}

echo "TAP version 13"
T=$(mktemp -d /tmp/exlb-templates.XXXXXX)
chmod 755 "$T"
trap finish EXIT
trap 'exit 130' INT TERM
# shellcheck source=../userspace/tests/lib/exchange-rs.sh
source "$REPO/userspace/tests/lib/exchange-rs.sh"
# shellcheck source=../userspace/tests/lib/mail-rs.sh
source "$REPO/userspace/tests/lib/mail-rs.sh"
T0=$SECONDS

# ---- network: the VIPs on the LB's client side, the servers behind a bridge
for n in $NSS; do ip netns del "$n" 2>/dev/null; done
# a subshell: "exit 1" on a failed step ends it, not the suite
(
	for n in $NSS; do { ip netns add "$n" && ip -n "$n" link set lo up; } || exit 1; done &&
	ip -n tpl-lb link add lbclient type veth peer name eth0 netns tpl-cli &&
	ip -n tpl-lb link add lbservers type bridge &&
	ip -n tpl-lb addr add 198.18.40.1/24 dev lbclient &&
	ip -n tpl-lb addr add 198.18.41.1/24 dev lbservers &&
	ip -n tpl-cli addr add 198.18.40.2/24 dev eth0 &&
	ip -n tpl-cli link set eth0 up &&
	for s in 1 2; do
		ip -n tpl-lb link add lbexch$s type veth peer name eth0 netns tpl-exch$s &&
		ip -n tpl-lb link set lbexch$s master lbservers up &&
		ip -n tpl-exch$s addr add 198.18.41.1$s/24 dev eth0 &&
		ip -n tpl-exch$s link set eth0 up &&
		ip -n tpl-exch$s route add default via 198.18.41.1 || exit 1
	done &&
	for ((i = 0; i < ${#ORDER[@]}; i++)); do
		ip -n tpl-lb addr add 198.18.40.$((100 + i))/32 dev lbclient || exit 1
	done &&
	ip -n tpl-cli route add 198.18.40.96/27 via 198.18.40.1 &&
	ip -n tpl-cli route add 198.18.40.128/27 via 198.18.40.1 &&
	ip -n tpl-lb link set lbclient up &&
	ip -n tpl-lb link set lbservers up &&
	lb sysctl -qw net.ipv4.ip_forward=1
)
rc=$?
ok $rc "network: client, LB with ${#ORDER[@]} VIPs, two Exchange servers"
((rc == 0)) || exit 1

# ---- the servers
export EXRS_DIR=$T/exrs EXRS_BIG_MB=0 EXRS_WAIT=30
mkdir -p "$EXRS_DIR" "$T/exch1-mail/vmail" "$T/exch2-mail"
ln -s "$T/exch1-mail/vmail" "$T/exch2-mail/vmail"	# one mailbox store
mpids=()
for s in 1 2; do
	( MAILRS_TLS=1 MAILRS_DIR=$T/exch$s-mail MAILRS_HOST=exch$s.exlb.test MAILRS_DEBUG_PEERS=127.0.0.2/32 \
		mailrs_setup tpl-exch$s 198.18.41.1$s ) >"$T/mailrs$s.log" 2>&1 &
	mpids+=($!)
done
rc=0
for s in 1 2; do
	exrs_setup exch$s tpl-exch$s 198.18.41.1$s >>"$T/exrs.log" 2>&1 || rc=1
done
for s in 1 2; do
	wait "${mpids[s - 1]}" || { rc=1; diag "$(tail -n 5 "$T/mailrs$s.log")"; }
done
ok $rc "servers: nginx :80 :443, dovecot :143 :993 :110 :995, postfix :25 :587 on both ($((SECONDS - T0)) s)"
((rc == 0)) || exit 1

# ---- exlbd, a certificate, the guide's global settings
mkdir -p "$T/state"
lb "$EXLBD" --state-dir "$T/state" --socket "$T/exlbd.sock" --template-dir "$REPO/templates" \
	--access-log "$T/access.log" >"$T/exlbd.log" 2>&1 </dev/null &
EXLBD_PID=$!
wait_for 30 ctl get droponfail >/dev/null 2>&1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj /CN=mail.exlb.test -addext "subjectAltName=DNS:mail.exlb.test" \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
rc=$?
((rc == 0)) && ctl cert add exchange "$T/cert.pem" "$T/key.pem" >/dev/null || rc=1
for kv in subnetoriginating=1 RetryInterval=9 Timeout=4 RetryCount=2; do
	ctl set "$kv" >/dev/null || rc=1
done
# the HTTPS ESP templates' SSO domain: no directory server (none in the VM)
ctl sso add EXLB auth_type=LDAP-Unencrypted >/dev/null || rc=1
ok $rc "exlbd up, certificate added, SubnetOriginating, RetryInterval 9 s, SSO domain EXLB"
((rc == 0)) || { diag "$(tail -n 5 "$T/exlbd.log")"; exit 1; }
export LB_CA=$T/cert.pem RS_CA=$EXRS_DIR/shared/cert.pem
export MAIL_CAS=$T/exch1-mail/cert.pem:$T/exch2-mail/cert.pem

rs_counts() { ctl -j status 2>/dev/null | jq -r '[.vs[] | .rs[], (.subvs // [] | .[].rs[])] |
	"\([.[] | select(.health == "up")] | length) \(length)"'; }
all_up() { local n; n=$(rs_counts); [[ -n $n && ${n% *} == "${n#* }" && ${n#* } != 0 ]]; }
# layers VIP: "PORT=LAYER,..." of the VSs at VIP, by port
layers() { ctl -j status | jq -r --arg v "$1" \
	'[.vs[] | select(.vip == $v)] | sort_by(.port) | map("\(.port)=\(.layer)") | join(",")'; }
# the real servers that are not up, with the reason
not_up() { ctl -j status | jq -r '.vs[] | . as $vs | (.rs[], (.subvs // [] | .[].rs[])) |
	select(.health != "up") | "\($vs.name) \(.addr):\(.port) \(.health) \(.reason)"'; }

sent=0
for ver in $VERSIONS; do
	tv=$SECONDS
	# ---- apply the 18 templates of this version (the HTTPS ESP ones refused without Domain= first)
	rc=0 napplied=0
	for i in "${SEL[@]}"; do
		name="Exchange $ver ${ORDER[i]}"
		read -r kind rsport cert _ <<<"${KIND[${ORDER[i]}]}"
		args=(vip 198.18.40.$((100 + i)))
		for a in $EX1 $EX2; do args+=(rs "$a${rsport#-}"); done
		[[ $cert == cert ]] && args+=(cert exchange)
		# shellcheck disable=SC2206 # KEY=VALUE words
		args+=(${EXTRA[${ORDER[i]}]:-})
		if [[ $kind == esp-form ]]; then
			before=$(ctl save)
			out=$(ctl template apply "$name" "${args[@]:0:${#args[@]}-1}" 2>&1)
			r=$?
			after=$(ctl save)
			if ((r == 0)); then
				r=1 why="it was applied"
			elif [[ $out != *"template '$name': "*"logs users on against an SSO domain"*"give Domain=NAME"* ||
				$(wc -l <<<"$out") != 1 ]]; then
				r=1 why="not the one-line Domain error"
			elif [[ $before != "$after" ]]; then
				r=1 why="the configuration changed"
			else
				r=0 why=""
			fi
			ok $r "$name without Domain=: refused, nothing stored${why:+: $why}: ${out%%$'\n'*}"
		fi
		napplied=$((napplied + 1))
		if ! out=$(ctl template apply "$name" "${args[@]}" 2>&1); then
			rc=1
			diag "template apply \"$name\" ${args[*]}: $out"
		fi
	done
	ok $rc "Exchange $ver: $napplied templates applied"
	wait_for 90 all_up
	rc=$?
	if ((rc)); then
		diag "$(not_up | head -n 12)"
		diag "$(grep -hvE 'attribute|watchdog|match_|smtp_stream|event_limit|dict_|maps_find|> .*: 250-' \
			"$T"/exch?-mail/postfix.log | tail -n 25)"
	fi
	ok $rc "Exchange $ver: every real server of every VS and SubVS up ($(rs_counts | sed 's/ / of /'), $((SECONDS - tv)) s)"

	# ---- each template: its layers, then real traffic
	for i in "${SEL[@]}"; do
		name="Exchange $ver ${ORDER[i]}"
		vip=198.18.40.$((100 + i))
		read -r kind _ _ want <<<"${KIND[${ORDER[i]}]}"
		got=$(layers "$vip")
		if [[ $kind == esp-form ]]; then
			# no directory here: a browser without a session gets the
			# logon page, and nothing of its request reaches a server
			mark=exlb-esp-$ver-$i-$$
			out=$(cli curl -s -o - -w '\n%{http_code}' --max-time 10 --cacert "$LB_CA" \
				--connect-to "mail.exlb.test:443:$vip:443" -H 'Host: mail.example.com' \
				-H 'Accept: text/html' "https://mail.exlb.test/owa/$mark" 2>&1)
			rc=0
			[[ ${out##*$'\n'} == 200 && $out == *'action="/lm_auth_proxy"'* ]] ||
				{ rc=1; diag "$name: GET /owa/ without a session: ${out: -200}"; }
			if grep -qs -- "$mark" "$(exrs_log exch1)" "$(exrs_log exch2)"; then
				rc=1
				diag "$name: the unauthenticated request reached a server"
			fi
			if [[ $got != "$want" ]]; then
				rc=1
				diag "$name at $vip: served as $got, expected $want"
			fi
			ok $rc "$name ($got): an unauthenticated GET /owa/ gets the logon page (200), no server saw it"
			continue
		fi
		out=$(cli timeout 120 $PY "$CLIENT" "$kind" "$vip" "exlb-tpl-$ver-$$" 2>&1)
		rc=$?
		sent=$((sent + $(grep -c '^sent ' <<<"$out")))
		if [[ $got != "$want" ]]; then
			rc=1
			diag "$name at $vip: served as $got, expected $want"
		fi
		ok $rc "$name ($got): $(grep -v '^sent ' <<<"$out" | tail -n 1)"
	done

	# ---- remove them: every VS of the version
	rc=0
	for id in $(ctl -j status | jq -r '.vs[].id'); do
		ctl vs del "$id" >/dev/null || rc=1
	done
	n=$(ctl -j status | jq '.vs | length')
	[[ $n == 0 ]] || rc=1
	ok $rc "Exchange $ver: every VS deleted ($n left; $((SECONDS - tv)) s for this version)"
done

# ---- every message sent through an SMTP template was delivered
delivered() {
	local n
	# new/ and cur/: the IMAP and POP3 sessions' SELECT / STAT move them on
	n=$(grep -l "^Subject: exlb-tpl-" "$T"/exch1-mail/vmail/alice/Maildir/{new,cur}/* 2>/dev/null | wc -l)
	echo "$n"
	((n >= sent))
}
wait_for 30 delivered >/dev/null
n=$(delivered)
[[ $n == "$sent" && $sent -gt 0 ]]
rc=$?
((rc == 0)) || diag "$(grep -hE 'status=|reject|warning|error|fatal' "$T"/exch?-mail/postfix.log | tail -n 20)"
ok $rc "all $sent messages sent through the SMTP templates were delivered to the mailbox ($n)"
grep -c "term=[^-]" "$T/access.log" >/dev/null && diag "$(grep "term=[^-]" "$T/access.log" | head -n 5)"
diag "took $((SECONDS - T0)) s"
