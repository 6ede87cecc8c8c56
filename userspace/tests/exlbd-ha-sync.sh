#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Configuration sync of the HA pair (docs/ha.md "Configuration sync"): two
# exlbd nodes with their keepalived on one bridge (exlbd-ha.sh's topology,
# without client and real server: what is asserted is configuration).
#
#   lb1 front 198.18.94.3 --+-- sw: brf (bridge) --+-- lb2 front 198.18.94.4
#   hamode 1 (active)                                 hamode 2 (standby)
#
# hatimeout 3 (see below). Asserted: sync cannot be enabled without the pair secret (fail closed) and
# the secret is never printed back; the standby takes the active node's
# configuration when it joins; a change on the active node (vs add,
# template apply, rs disable, cert add) is on the standby within 2 s (each
# time printed); a change on the standby is refused naming the active node,
# read-only commands work there; a push the standby's validation refuses
# (a VIP on its own AdminAddress) leaves it unchanged and the error shows on
# the active node; a standby with another secret takes nothing and both
# say why; a restarted standby takes the active node's configuration.
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd,
# ../build/exlbctl), KEEP=1 keeps the temp dir. Needs root, iproute2,
# keepalived, jq, openssl. TAP, the plan last.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"
# shellcheck source=lib/hapair.sh
source "$here/lib/hapair.sh"

hapair_require ip keepalived jq openssl timeout md5sum
TEMPLATES=$(realpath "${EXLB_TEMPLATE_DIR:-$here/../../templates}")

T=$(mktemp -d /tmp/exlb-hasync.XXXXXX)
chmod 755 "$T"
NET=198.18.94 PORT=7999
declare -A FRONT=([1]=$NET.3 [2]=$NET.4) NS PID
NS[sw]=exlb-hs-sw-$$ NS[1]=exlb-hs-lb1-$$ NS[2]=exlb-hs-lb2-$$
SECRET="pair secret of lb1 and lb2, 2026"

cleanup() {
	hapair_stop 1
	hapair_stop 2
	hapair_teardown sw 1 2
}
trap cleanup EXIT

setup_net() {
	hapair_netns sw 1 2 && hapair_bridge brf &&
	hapair_plug p-lb1 1 front brf "${FRONT[1]}" &&
	hapair_plug p-lb2 2 front brf "${FRONT[2]}"
}
setup_net
report $? "namespaces: switch, lb1, lb2 on $NET.0/24"
bad=$(hapair_default_routes sw 1 2)
[ -z "$bad" ]
report $? "no namespace has a default route${bad:+ (not:$bad)}"

for n in 1 2; do
	hapair_start $n --no-health-checks --template-dir "$TEMPLATES"
	wait_for 10 lb_ready $n
	report $? "exlbd lb$n answers on its control socket (after $WAITED s)"
done

# hatimeout 3, Kemp's shortest: while the pair's VIP sets differ (lb2's
# Stale VS until it pulls, a push refused on purpose below), the standby
# must keep following the active node's adverts, not take over (keepalived's
# skip_check_adv_addr, ha/keepalived.c): lb2 stays standby throughout
for n in 1 2; do
	cfg_of $n set havhid 43
	cfg_of $n set hatimeout 3
	cfg_of $n set haprefered 0
	cfg_of $n set haif front
done
cfg_of 1 set partner "${FRONT[2]}"
cfg_of 2 set partner "${FRONT[1]}"
# what lb2 had before it joined: the active node's configuration replaces it
cfg_of 2 vs add $NET.99 80 tcp nickname=Stale CheckType=none
report "${cfg_bad:-0}" "both nodes: havhid 43, hatimeout 3, haif front, partners; lb2 has VS Stale"

# ---- fail closed: no sync without the pair secret

state_sum() { md5sum <"$T/lb$1/state/config.json"; }
before=$(state_sum 1)
out=$(ctl_of 1 set hasyncport $PORT 2>&1)
rc=$?
[ $rc != 0 ] && grep -q "pair secret" <<<"$out" && [ "$(state_sum 1)" = "$before" ] &&
	[ "$(ctl_of 1 -j get hasyncport | jq -r .hasyncport)" = 0 ]
report $? "hasyncport without a pair secret: refused, nothing changed (exit $rc: $out)"

out=$(printf 'too short\n' | ctl_of 1 ha secret password-file - 2>&1)
rc=$?
[ $rc != 0 ] && grep -q "16 to" <<<"$out" && [ ! -e "$T/lb1/state/ha-sync.key" ]
report $? "a secret under 16 characters is refused (exit $rc: $out)"

for n in 1 2; do
	hapair_secret $n "$SECRET"
done
mode=$(stat -c %a "$T/lb1/state/ha-sync.key" 2>/dev/null)
leak=$(grep -rlF "$SECRET" "$T/lb1/state" "$T/lb2/state" 2>/dev/null
       ctl_of 1 save | grep -cF "$SECRET"; ctl_of 1 get | grep -cF "$SECRET")
[ -z "$cfg_bad" ] && [ "$mode" = 600 ] && [ "$leak" = "$(printf '0\n0')" ]
report $? "ha secret set on both nodes: key file mode $mode, the secret itself in no file, save or get"

for n in 1 2; do cfg_of $n set hasyncport $PORT; done
report "${cfg_bad:-0}" "hasyncport $PORT on both nodes (with the secret)"

# ---- the pair

sync_of() { ctl_of "$1" -j status 2>/dev/null | jq -r ".ha.sync.$2"; }
cfg_of 1 vs add $NET.10 80 tcp nickname=Web VStype=http CheckType=none
cfg_of 1 set hamode 1
wait_for 20 is_role 1 active
report $? "lb1 (hamode 1) becomes active after $WAITED s"
cfg_of 2 set hamode 2
wait_for 10 is_role 2 standby
report $? "lb2 (hamode 2) is standby after $WAITED s"

has_vs() { ctl_of "$1" vs show "$2" >/dev/null 2>&1; }
no_vs() { ! has_vs "$@"; }
joined() { has_vs 2 Web && no_vs 2 Stale; }
wait_for 5 joined
report $? "lb2 joining as standby took lb1's configuration: Web there, Stale gone (after $WAITED s)"
# live, not only stored: the standby's proxy listens on Web's VIP (IP_FREEBIND)
listening() { ip netns exec "${NS[2]}" ss -Hltn "src $NET.10 and sport = :80" | grep -q LISTEN; }
wait_for 3 listening
report $? "the standby's L7 proxy listens on Web's VIP $NET.10:80 (after $WAITED s)"

# prop NAME CHECK...: after a change on lb1, how long until CHECK holds on lb2
prop() {
	local what=$1 t0=$EPOCHREALTIME ms
	shift
	"$@" >/dev/null 2>&1 || { cfg_bad=1; diag "$what: $* failed"; }
	while :; do
		ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
		"$CHECK" >/dev/null 2>&1 && break
		[ "$ms" -gt 5000 ] && break
		sleep 0.05
	done
	"$CHECK" && [ "$ms" -le 2000 ]
	report $? "$what: on the standby after $ms ms (limit 2000)"
}

chk_vs() { has_vs 2 Mail; }
CHECK=chk_vs prop "vs add on the active node" ctl_of 1 vs add $NET.11 25 tcp nickname=Mail CheckType=none

chk_tpl() { ctl_of 2 -j vs show | jq -e 'map(select(.vip == "'$NET.30'")) | length >= 2' >/dev/null; }
CHECK=chk_tpl prop "template apply (Exchange 2013 HTTPS Offloaded) on the active node" \
	ctl_of 1 template apply "Exchange 2013 HTTPS Offloaded" vip $NET.30 rs 198.18.95.11

cfg_of 1 rs add Web 198.18.95.12 port=80
chk_rs_on() { ctl_of 2 -j rs show Web | jq -e 'map(select(.addr == "198.18.95.12")) | .[0].enable == 1' >/dev/null; }
wait_for 3 chk_rs_on
report $? "rs add on the active node: on the standby, enabled (after $WAITED s)"
chk_rs_off() { ctl_of 2 -j rs show Web | jq -e 'map(select(.addr == "198.18.95.12")) | .[0].enable == 0' >/dev/null; }
CHECK=chk_rs_off prop "rs disable on the active node" ctl_of 1 rs disable Web 198.18.95.12

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=mail.example.test" -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1
chk_cert() { cmp -s "$T/lb1/state/certs/Exch.crt" "$T/lb2/state/certs/Exch.crt" &&
	     cmp -s "$T/lb1/state/certs/Exch.key" "$T/lb2/state/certs/Exch.key" &&
	     ctl_of 2 cert show Exch >/dev/null; }
CHECK=chk_cert prop "cert add on the active node (files and table)" \
	ctl_of 1 cert add Exch "$T/cert.pem" "$T/key.pem"
[ "$(stat -c %a "$T/lb2/state/certs/Exch.key" 2>/dev/null)" = 600 ]
report $? "the certificate's key on the standby is mode 0600"

acked_all() { [ "$(sync_of 1 acked)" = "$(sync_of 1 sent)" ] &&
	      [ "$(sync_of 2 received)" = "$(sync_of 1 acked)" ]; }
wait_for 3 acked_all
report $? "status: lb1 sent $(sync_of 1 sent) = confirmed $(sync_of 1 acked) = lb2 received $(sync_of 2 received), peer $(sync_of 1 peer_reachable), error '$(sync_of 1 error)'"
ctl_of 2 status | grep -q "^HA sync: port $PORT, partner reachable"
report $? "exlbctl status on lb2 has the sync line ($(ctl_of 2 status | grep '^HA sync'))"

# ---- the standby refuses changes, names the active node; reads work

before=$(state_sum 2)
out=$(ctl_of 2 vs add $NET.12 80 tcp nickname=Local CheckType=none 2>&1)
rc=$?
[ $rc != 0 ] &&
	grep -qF "exlbctl: this node is the HA standby; change the configuration on the active node ${FRONT[1]}" <<<"$out" &&
	[ "$(state_sum 2)" = "$before" ] && no_vs 2 Local
report $? "vs add on the standby: refused naming the active node, nothing changed (exit $rc: $out)"
out=$(ctl_of 2 rs enable Web 198.18.95.12 2>&1)
rc=$?
[ $rc != 0 ] && grep -q "active node ${FRONT[1]}" <<<"$out" && [ "$(state_sum 2)" = "$before" ]
report $? "rs enable on the standby: refused (exit $rc)"
ctl_of 2 vs show Web >/dev/null && ctl_of 2 status >/dev/null && ctl_of 2 get hatimeout >/dev/null
report $? "read-only commands work on the standby (vs show, status, get)"

# ---- a push the standby's validation refuses leaves it unchanged

# AdminAddress is node-local: set on the standby (allowed there), it makes
# a VIP on that address invalid on lb2 only
cfg_of 2 set AdminAddress $NET.20
report "${cfg_bad:-0}" "a node-local parameter (AdminAddress) can be set on the standby"
before=$(state_sum 2)
cfg_of 1 vs add $NET.20 80 tcp nickname=Clash CheckType=none
refused_shown() { sync_of 1 error | grep -q "AdminAddress $NET.20 is the VIP"; }
wait_for 5 refused_shown
report $? "the active node's status shows the standby's refusal after $WAITED s: $(sync_of 1 error)"
[ "$(state_sum 2)" = "$before" ] && no_vs 2 Clash && has_vs 2 Web
report $? "the standby is unchanged (state file, no VS Clash, Web still there)"
cfg_of 1 vs del Clash
cleared() { [ -z "$(sync_of 1 error)" ] && no_vs 1 Clash && [ "$(sync_of 1 acked)" = "$(sync_of 1 sent)" ]; }
wait_for 5 cleared
report $? "after vs del Clash on the active node the next push is taken (after $WAITED s)"

# ---- another secret on the standby: nothing taken, both say why

printf 'another secret, not the pair one\n' | ctl_of 2 ha secret password-file - >>"$T/ctl.log" 2>&1
before=$(state_sum 2)
cfg_of 1 vs add $NET.13 80 tcp nickname=Wrong CheckType=none
diverged=$SECONDS
tls_refused() { sync_of 1 error | grep -q "TLS with" && sync_of 2 error | grep -q "TLS from"; }
wait_for 5 tls_refused
report $? "wrong secret: refused by TLS after $WAITED s (lb1: $(sync_of 1 error); lb2: $(sync_of 2 error))"
[ "$(state_sum 2)" = "$before" ] && no_vs 2 Wrong && [ "$(sync_of 1 peer_reachable)" = false ]
report $? "wrong secret: the standby took nothing, lb1 shows the peer not reachable"
# the VIP sets have differed since vs add Wrong: past twice hatimeout, in
# which keepalived ignoring the adverts would have taken over, lb2 follows
# lb1 still (no event to wait for: the time itself is the evidence)
while ((SECONDS - diverged < 7)); do sleep 0.5; done
is_role 2 standby && is_role 1 active
report $? "VIP sets differing for $((SECONDS - diverged)) s (hatimeout 3): lb2 still standby, lb1 active"
printf '%s\n' "$SECRET" | ctl_of 2 ha secret password-file - >>"$T/ctl.log" 2>&1
wait_for 5 has_vs 2 Wrong
report $? "the pair secret back on lb2: the pending push arrives (retried) after $WAITED s (lb1: '$(sync_of 1 error)'; lb2: '$(sync_of 2 error)')"

# ---- a restarted standby takes the active node's configuration

hapair_stop 2
cfg_of 1 vs add $NET.14 80 tcp nickname=WhileAway CheckType=none
cfg_of 1 vs del Mail
hapair_start 2 --no-health-checks --template-dir "$TEMPLATES"
wait_for 10 lb_ready 2
wait_for 10 is_role 2 standby
report $? "lb2 restarted: standby after $WAITED s"
rejoined() { has_vs 2 WhileAway && no_vs 2 Mail; }
wait_for 5 rejoined
report $? "lb2 restarted took lb1's configuration (WhileAway there, Mail gone) $WAITED s after it was standby"

! grep -q "HA: .* -> active" "$T/lb2/exlbd.log" && ! grep -q "HA: active -> " "$T/lb1/exlbd.log"
report $? "throughout (lb2's Stale VS, the refused push, the other secret): lb2 never active, lb1 never left active"

for n in 1 2; do
	grep -q "ERROR: AddressSanitizer\|runtime error:" "$T/lb$n/exlbd.log" && diag "$(grep -m3 -A5 'Sanitizer\|runtime error' "$T/lb$n/exlbd.log")"
done
! grep -q "ERROR: AddressSanitizer\|runtime error:" "$T/lb1/exlbd.log" "$T/lb2/exlbd.log"
report $? "no sanitizer report in either exlbd's log"

tap_end
