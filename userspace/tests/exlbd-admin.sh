#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Administrative behaviours of exlbd and exlbctl that docs/ promise, end to
# end with the real programs:
#
#  1. the control socket (docs/exlbctl.md: "open to root and to group
#     exlb"): without a group exlb, 0600 root; with one, the socket 0660
#     root:exlb in a directory exlbd made 0750 root:exlb, which a member of
#     the group reaches and anyone else does not. exlbd runs in a private
#     mount namespace whose /etc/group is a copy made here, so the host's
#     groups are neither needed nor touched;
#  2. exlbctl's exit status: 2 for a usage error (nothing is sent), 1 for a
#     refusal by exlbd (one line on stderr, nothing changed);
#  3. templates (docs/templates.md): a file that cannot be read or has the
#     wrong form is reported by `template list` (a warning on stderr,
#     `errors` with -j) and skipped while the others load; a name defined
#     twice is taken from the first file (built-in before imported);
#  4. the order of writes of docs/tls.md: a `cert add`, `cert add ...
#     replace=1` or `cert del` whose config.json cannot be written leaves the
#     certificate files, the configuration in memory and config.json as
#     they were. The state directory is a small tmpfs mounted in exlbd's own
#     mount namespace (its certs/ a bind mount of a directory on the host's
#     disk, so the certificate files can still be written); filling the
#     tmpfs makes exlbd's write of config.json fail with ENOSPC;
#  5. status (docs/exlbctl.md "Status"): with real nginx servers in network
#     namespaces (lib/lbnet.sh, lib/exchange-rs.sh) and health checks on, a
#     `critical=1` RS whose check fails takes its VS (or SubVS) Down while
#     the other RS is up; critical=0 makes it Up again; Enable=0 shows
#     Disabled, also for an L4 VS that --no-kernel would show as "Down
#     (kernel unavailable)".
#
# Parts 1-4 run exlbd in its own network namespace too (only a loopback):
# nothing it might send can leave. Part 5's network is 198.18.46.0/24
# (client, LB) and 198.18.47.0/24 (servers), nothing routed out.
#
# Environment: EXLBD, EXLBCTL (default ../build/asan/exlbd, ../build/exlbctl);
# KEEP=1 keeps the temp dir. Needs root, unshare, setpriv, iproute2, nginx,
# curl, openssl, jq. TAP, the plan last; exits 0 only if all passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (mount and network namespaces)"
for tool in unshare setpriv stat ip nginx curl openssl jq timeout; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
EXLBD=$(realpath "${EXLBD:-$here/../build/asan/exlbd}")
EXLBCTL=$(realpath "${EXLBCTL:-$here/../build/exlbctl}")
[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] || skip "build exlbd and exlbctl first"

T=$(mktemp -d /tmp/exlb-admin.XXXXXX)
chmod 711 "$T"		# the unprivileged exlbctl of part 1 walks through it
export EXRS_DIR=$T/rs EXRS_BIG_MB=0
DAEMON=
DAEMONS=

# shellcheck source=lib/lbnet.sh
source "$here/lib/lbnet.sh"
# shellcheck source=lib/exchange-rs.sh
source "$here/lib/exchange-rs.sh"

cleanup() {
	local pid
	for pid in $DAEMONS; do
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	exrs_cleanup 2>/dev/null
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

echo "TAP version 13"

SOCK=
ctl() { "$EXLBCTL" -s "$SOCK" "$@"; }

# ns_exlbd LOG SETUP ARGS...: exlbd with ARGS in its own mount and network
# namespaces, after the shell commands SETUP have run there (mounts);
# DAEMON is its pid (unshare and bash exec it), SOCK its socket
ns_exlbd() {
	local log=$1 setup=$2
	shift 2
	# a running nscd would answer getgrnam() from the host's /etc/group
	[ -d /run/nscd ] && setup+=" && mount -t tmpfs exlb-no-nscd /run/nscd"
	unshare -m -n --propagation private bash -c "$setup"' && exec "$@"' exlbd-ns \
		"$EXLBD" "$@" >>"$log" 2>&1 &
	DAEMON=$!
	DAEMONS+=" $DAEMON"
}

started() {	# started WHAT LOG: reports whether exlbd $DAEMON answers
	wait_for 10 ctl get droponfail >/dev/null 2>&1
	report $? "$1"
	kill -0 "$DAEMON" 2>/dev/null && return 0
	diag "exlbd exited:" "$(tail -n 20 "$2")"
	diag "ran ${SECONDS} s"
tap_end
	exit 1
}

stop_daemon() {
	kill -TERM "$DAEMON" && wait "$DAEMON"
	DAEMONS=${DAEMONS/ $DAEMON/}
}

# ---- 1. the control socket: mode and group

# a gid no group of the host has, for the group exlb of exlbd's /etc/group
G=4242
while getent group "$G" >/dev/null; do G=$((G + 1)); done
grep -v '^exlb:' /etc/group >"$T/group.none"
{ cat "$T/group.none"; echo "exlb:x:$G:"; } >"$T/group.exlb"
chmod 644 "$T/group.none" "$T/group.exlb"

mkdir "$T/a"
SOCK=$T/a/exlbd.sock
ns_exlbd "$T/exlbd-a.log" "mount --bind $T/group.none /etc/group" \
	--no-kernel --no-health-checks --state-dir "$T/state-a" --socket "$SOCK"
started "exlbd without a group exlb answers" "$T/exlbd-a.log"
got=$(stat -c '%F %a %u:%g' "$SOCK")
report "$([ "$got" = "socket 600 0:0" ]; echo $?)" \
	"without a group exlb the socket is open to root only (want socket 600 0:0, got $got)"
stop_daemon

# the main exlbd of parts 1-4: group exlb; the state directory a 256 KiB
# tmpfs with certs/ bound to a directory on disk; its own template dir
mkdir -p "$T/run" "$T/state" "$T/certs" "$T/tpl"
chmod 755 "$T/run"
STATE=$T/state
SOCK=$T/run/exlb/exlbd.sock
ns_exlbd "$T/exlbd.log" "mount --bind $T/group.exlb /etc/group &&
	mount -t tmpfs -o size=256k,mode=0755 exlb-admin-state $STATE &&
	mkdir $STATE/certs $STATE/templates && mount --bind $T/certs $STATE/certs" \
	--no-kernel --no-health-checks --state-dir "$STATE" --socket "$SOCK" --template-dir "$T/tpl"
MAIN=$DAEMON
# the state directory as exlbd sees it (the host sees the empty mount point)
SEEN=/proc/$MAIN/root$STATE
started "exlbd with a group exlb (gid $G), state on a tmpfs of its own, answers" "$T/exlbd.log"

got=$(stat -c '%F %a %u:%g' "$SOCK")
report "$([ "$got" = "socket 660 0:$G" ]; echo $?)" \
	"the socket is open to root and group exlb (want socket 660 0:$G, got $got)"
got=$(stat -c '%a %u:%g' "$T/run/exlb")
report "$([ "$got" = "750 0:$G" ]; echo $?)" \
	"the socket's directory, made by exlbd, is 0750 root:exlb (got $got)"
cp "$EXLBCTL" "$T/exlbctl"
chmod 755 "$T/exlbctl"
as_nobody() {	# as_nobody GROUPS-OPTION ARGS...: exlbctl as uid/gid 65534
	local groups=$1
	shift
	setpriv --reuid=65534 --regid=65534 "$groups" -- "$T/exlbctl" -s "$SOCK" "$@"
}
got=$(as_nobody "--groups=$G" get droponfail 2>"$T/err")
report "$([ "$got" = 0 ]; echo $?)" \
	"an unprivileged member of group exlb reaches exlbd (get droponfail: '$got' $(head -c 200 "$T/err"))"
as_nobody --clear-groups get droponfail >/dev/null 2>"$T/err"
rc=$?
report "$([ $rc = 1 ] && grep -q 'Permission denied' "$T/err"; echo $?)" \
	"a user outside group exlb does not (exit $rc: $(head -c 200 "$T/err"))"

# ---- 2. exit status: 2 for a usage error, 1 for a refusal by exlbd

ctl vs add 198.18.46.10 443 tcp nickname=OWA VStype=http >/dev/null
save_is_before() { ctl save >"$T/after.json" && cmp -s "$T/before.json" "$T/after.json"; }
# exits WANT WHAT ARGS...: exlbctl ARGS exits WANT with one line on stderr
# and the configuration unchanged
exits() {
	local want=$1 what=$2 rc
	shift 2
	ctl save >"$T/before.json"
	ctl "$@" >/dev/null 2>"$T/err"
	rc=$?
	report "$([ $rc = "$want" ] && [ "$(wc -l <"$T/err")" = 1 ] && save_is_before; echo $?)" \
		"$what: exit $rc (want $want), one line, nothing changed: $(head -c 200 "$T/err")"
}
exits 2 "usage error: unknown verb" vs frobnicate
exits 2 "usage error: vs add without VIP" vs add
exits 2 "usage error: unknown option" --frobnicate vs show
exits 2 "usage error: an argument that is not Key=Value" vs mod OWA Schedule
exits 1 "refused by exlbd: bad value" vs mod OWA Schedule=fast
exits 1 "refused by exlbd: port out of range (exlbctl checks nothing itself)" vs add 198.18.46.10 99999
exits 1 "refused by exlbd: no such VS" vs show NoSuchVS
"$EXLBCTL" -s "$T/nobody-here.sock" get droponfail >/dev/null 2>"$T/err"
rc=$?
report "$([ $rc = 1 ]; echo $?)" "no exlbd on the socket: exit $rc (want 1): $(head -c 200 "$T/err")"

# ---- 3. templates: bad files reported and skipped, a name defined twice

tpl() {	# tpl FILE SET NAME:PORT:NICK...: a template file, one VS per template
	local file=$1 set=$2 t sep='' name port nick
	shift 2
	{
		printf '{ "format": "exlb-templates", "version": 1, "set": "%s", "templates": [' "$set"
		for t in "$@"; do
			IFS=: read -r name port nick <<<"$t"
			printf '%s\n  { "name": "%s", "vs": [ { "port": %s, "prot": "tcp", "NickName": "%s", "CheckType": "none" } ] }' \
				"$sep" "$name" "$port" "$nick"
			sep=,
		done
		printf ' ] }\n'
	} >"$file"
}
tpl "$T/tpl/a-first.json" SetA "Good One:8001:one from a" "Dup T:8002:dup from a"
tpl "$T/tpl/b-second.json" SetB "dup t:8003:dup from b" "Good Two:8004:two from b"
tpl "$T/tpl/c-badjson.json" SetC "Lost C:8005:c"
head -c 60 "$T/tpl/c-badjson.json" >"$T/tpl/c-badjson.json.part"
mv "$T/tpl/c-badjson.json.part" "$T/tpl/c-badjson.json"
tpl "$T/tpl/d-version.json" SetD "Lost D:8006:d"
sed -i 's/"version": 1/"version": 2/' "$T/tpl/d-version.json"
tpl "$T/tpl/e-twice.json" SetE "Same Twice:8007:e1" "SAME TWICE:8008:e2" "Lost E:8009:e"
echo "not a template" >"$T/tpl/notes.txt"
# dropped into the imported directory while exlbd runs
tpl "$SEEN/templates/f-imported.json" SetF "good one:8010:one from f" "Imported Only:8011:f"

ctl -j template list >"$T/tl.json" 2>"$T/tl.err"
rc=$?
names=$(jq -r '[.templates[].name] | sort | join(",")' "$T/tl.json")
report "$([ $rc = 0 ] && [ "$names" = "Dup T,Good One,Good Two,Imported Only" ]; echo $?)" \
	"template list loads the good templates of every file (exit $rc: $names)"
errors=$(jq -r '.errors[]' "$T/tl.json")
mapfile -t lines <<<"$errors"
diag "template list -j errors:" "${lines[@]}"
bad_reported() {	# each bad file starts an error; no good file does
	local f
	for f in c-badjson.json d-version.json e-twice.json; do
		grep -q "^$T/tpl/$f:" <<<"$errors" || return 1
	done
	! grep -q "^$T/tpl/a-first.json:\|notes.txt" <<<"$errors"
}
bad_reported
report $? "a file that is not JSON, one of another version and one naming a template twice are each listed under errors; a non-.json file is not read"
report "$(grep -q "e-twice.json: templates\[1\]: template 'SAME TWICE' defined twice" <<<"$errors"; echo $?)" \
	"a name defined twice in one file: the file is refused as a whole (Lost E not loaded)"
dup_first=$(jq -r '[.templates[] | select(.name | ascii_downcase == "dup t") | "\(.name)|\(.set)|\(.source)"] | join(" ")' "$T/tl.json")
report "$([ "$dup_first" = "Dup T|SetA|built-in" ] &&
	grep -q "^$T/tpl/b-second.json: template 'dup t' is also in $T/tpl/a-first.json: ignored" <<<"$errors"; echo $?)" \
	"a name in two built-in files is taken from the first (case-insensitive), the second reported ($dup_first)"
one_first=$(jq -r '[.templates[] | select(.name | ascii_downcase == "good one") | "\(.name)|\(.source)"] | join(" ")' "$T/tl.json")
imp=$(jq -r '.templates[] | select(.name == "Imported Only") | .source' "$T/tl.json")
report "$([ "$one_first" = "Good One|built-in" ] && [ "$imp" = imported ] &&
	grep -q "^$STATE/templates/f-imported.json: template 'good one' is also in $T/tpl/a-first.json: ignored" <<<"$errors"; echo $?)" \
	"built-in before imported: 'good one' of the imported file ignored ($one_first), its other template loaded ($imp)"
ctl template list >"$T/tl.txt" 2>"$T/tl.err"
rc=$?
warned=$(grep -c '^exlbctl: warning: ' "$T/tl.err")
report "$([ $rc = 0 ] && [ "$warned" = "$(grep -c . <<<"$errors")" ] && [ "$warned" -ge 5 ] &&
	grep -q '^Good Two ' "$T/tl.txt" && ! grep -q 'Lost' "$T/tl.txt"; echo $?)" \
	"template list (text): exit $rc, the good ones on stdout, $warned warnings on stderr"
port=$(ctl -j template show "DUP T" | jq -r '.vs[0].port')
report "$([ "$port" = 8002 ]; echo $?)" "template show 'DUP T' is the first file's (port $port, want 8002)"
ctl template apply "dup t" vip 198.18.46.20 >/dev/null 2>"$T/err"
got=$(ctl -j vs show 198.18.46.20:8002 2>/dev/null | jq -r '.NickName')
report "$([ "$got" = "dup from a" ]; echo $?)" "template apply 'dup t' applies the first file's template (NickName '$got')"
ctl template show "Lost E" >/dev/null 2>"$T/err"
rc=$?
report "$([ $rc = 1 ]; echo $?)" "a template of a refused file is not there (template show 'Lost E': exit $rc)"

# ---- 4. certificates: config.json cannot be written

mkcert() {	# mkcert NAME: $T/NAME.pem, $T/NAME.key
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=$1.example.test" -addext "subjectAltName=DNS:$1.example.test" \
		-keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null
}
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2 | tr -d : | tr A-F a-f; }
mkcert mail-a && mkcert mail-b && mkcert spare && mkcert new
report $? "test certificates: mail-a, mail-b, spare, new"
ctl cert add mail "$T/mail-a.pem" "$T/mail-a.key" && ctl cert add spare "$T/spare.pem" "$T/spare.key" &&
	ctl vs mod OWA SSLAcceleration=1 CertFile=mail
report $? "installed mail (mail-a) and spare; OWA uses mail"
FP_A=$(fingerprint "$T/mail-a.pem")
FP_B=$(fingerprint "$T/mail-b.pem")

certs_snapshot() {	# the certs directory: names and contents
	(cd "$T/certs" && for f in .[!.]* *; do [ -e "$f" ] && echo "== $f" && cat "$f"; done)
}
certs_snapshot >"$T/certs.before"
cp "$SEEN/config.json" "$T/config.before"
ctl save >"$T/before.json"
# the certificate table as cert list shows it: sha256 of the files, and an
# error where they are not the configured certificate
table() { ctl -j cert list | jq -r '[.[] | "\(.name)=\(.sha256)\(if .error then "!" + .error else "" end)"] | sort | join(" ")'; }
TABLE_BEFORE=$(table)

# fill the tmpfs: the next write of .config.json.tmp fails
dd if=/dev/zero of="$SEEN/fill" bs=4k 2>/dev/null
diag "state tmpfs filled: $(du -k "$SEEN/fill" | cut -f1) KiB filler"

# refused_unchanged WHAT ARGS...: exlbctl ARGS fails for lack of space, and
# the files, config.json, the configuration and the certificate table are
# as before
refused_unchanged() {
	local what=$1 rc diff=
	shift
	ctl "$@" >/dev/null 2>"$T/err"
	rc=$?
	certs_snapshot >"$T/certs.after"
	cmp -s "$T/certs.before" "$T/certs.after" || diff+=" certs/:$(diff "$T/certs.before" "$T/certs.after" | grep '^[<>] ==' | tr '\n' ' ')"
	cmp -s "$T/config.before" "$SEEN/config.json" || diff+=" config.json"
	save_is_before || diff+=" configuration"
	[ "$(table)" = "$TABLE_BEFORE" ] || diff+=" table ($(table))"
	report "$([ $rc = 1 ] && grep -q 'No space left' "$T/err" && [ -z "$diff" ]; echo $?)" \
		"$what while config.json cannot be written: exit $rc ($(head -c 120 "$T/err")), changed:${diff:- nothing}"
}
refused_unchanged "cert add (a new name)" cert add new "$T/new.pem" "$T/new.key"
refused_unchanged "cert add replace=1 (in use by OWA)" cert add mail "$T/mail-b.pem" "$T/mail-b.key" replace=1
refused_unchanged "cert del (unused)" cert del spare
got=$(ctl -j vs show OWA | jq -r '.certificate')
report "$([ "$got" = mail ] && ctl -j cert show mail | jq -e --arg fp "$FP_A" '.sha256 == $fp and (has("error") | not)' >/dev/null; echo $?)" \
	"cert show mail: still mail-a, no error (its files match the table); OWA's certificate: $got"

# the same requests succeed once there is room again: the failures were the
# write of config.json, nothing else
rm -f "$SEEN/fill"
ctl cert add mail "$T/mail-b.pem" "$T/mail-b.key" replace=1 2>"$T/err" &&
	ctl cert add new "$T/new.pem" "$T/new.key" 2>>"$T/err" && ctl cert del spare 2>>"$T/err"
rc=$?
after=$(LC_ALL=C ls -A "$T/certs" | tr '\n' ' ')
report "$([ $rc = 0 ] && [ "$(ctl -j cert show mail | jq -r .sha256)" = "$FP_B" ] &&
	[ "$after" = "mail.crt mail.key new.crt new.key " ] &&
	! cmp -s "$T/config.before" "$SEEN/config.json"; echo $?)" \
	"with room again: replace, add and del succeed, config.json written, certs/ holds: $after$(head -c 200 "$T/err")"
stop_daemon

# ---- 5. status: critical RSs, Disabled

lbnet_setup ad 198.18.46 || skip "cannot create network namespaces"
lbnet_isolated
report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"
exrs_setup rs1 "$NS_RS1" "$RS1" && exrs_setup rs2 "$NS_RS2" "$RS2"
report $? "nginx as Exchange servers rs1 ($RS1) and rs2 ($RS2)"

SOCK=$T/status.sock
ip netns exec "$NS_LB" env -u EXLBD_NO_HEALTH_CHECKS "$EXLBD" --no-kernel \
	--state-dir "$T/state-c" --socket "$SOCK" >>"$T/exlbd-c.log" 2>&1 &
DAEMON=$!
DAEMONS+=" $DAEMON"
started "exlbd with health checks runs in the LB namespace" "$T/exlbd-c.log"

cfg_bad=0
cfg() { ctl "$@" >>"$T/ctl.log" 2>&1 || { cfg_bad=1; diag "exlbctl $* failed: $(tail -n 1 "$T/ctl.log")"; }; }
timing=(RetryInterval=9 Timeout=4 RetryCount=2)
cfg vs add "$VIP" 80 tcp nickname=Crit VStype=http CheckType=http CheckUrl=/owa/healthcheck.htm "${timing[@]}"
cfg rs add Crit "$RS1" port=80 critical=1
cfg rs add Crit "$RS2" port=80
cfg vs add "$VIP" 81 tcp nickname=Web VStype=http
cfg subvs add Web nickname=OWA CheckType=http CheckUrl=/owa/healthcheck.htm "${timing[@]}"
cfg rs add Web/OWA "$RS1" port=80 critical=1
cfg rs add Web/OWA "$RS2" port=80
cfg vs add "$VIP" 25 tcp nickname=Plain VStype=gen CheckType=none
cfg rs add Plain "$RS1" port=25
report $cfg_bad "configured: Crit :80 (rs1 critical, rs2), Web :81 with SubVS OWA (rs1 critical, rs2), Plain :25 (L4)"

status_j() { ctl -j status >"$T/st.json" 2>/dev/null; }
# the status of a VS (or VS/SubVS) in the last status_j
st() {
	local vs=${1%/*} sub=${1#*/}
	if [ "$vs" = "$1" ]; then
		jq -r --arg v "$vs" '.vs[] | select(.name == $v) | .status' "$T/st.json"
	else
		jq -r --arg v "$vs" --arg s "$sub" '.vs[] | select(.name == $v) | .subvs[] | select(.name == $s) | .status' "$T/st.json"
	fi
}
health() {	# health SERVICE ADDR: that RS's health in the last status_j
	jq -r --arg svc "$1" --arg a "$2" '.vs[] | ., (.subvs[]?) | select(.name == $svc) |
		.rs[] | select(.addr == $a) | .health' "$T/st.json"
}
all_up() {
	status_j && [ "$(health Crit "$RS1")$(health Crit "$RS2")$(health OWA "$RS1")$(health OWA "$RS2")" = upupupup ]
}
wait_for 30 all_up
report $? "health checks: rs1 and rs2 up in Crit and Web/OWA after $WAITED s"
status_line() {	# status_line NAME: the Status column of NAME's row of `exlbctl status`
	ctl status | awk -v n="$1" '$3 == n && $1 ~ /:/ { print $6 ($7 ~ /^\(/ ? " " $7 " " $8 : "") }'
}
report "$([ "$(st Crit)" = Up ] && [ "$(st Web/OWA)" = Up ] && [ "$(st Web)" = Up ] &&
	[ "$(status_line Crit)" = Up ]; echo $?)" \
	"all up: Crit $(st Crit), Web/OWA $(st Web/OWA), Web $(st Web); status shows Crit $(status_line Crit)"

exrs_stop rs1
rs1_down() { status_j && [ "$(health Crit "$RS1")$(health OWA "$RS1")" = downdown ]; }
wait_for 40 rs1_down
report $? "nginx on rs1 stopped: its checks fail, rs1 down in both after $WAITED s"
report "$([ "$(health Crit "$RS2")$(health OWA "$RS2")" = upup ] &&
	[ "$(st Crit)" = Down ] && [ "$(status_line Crit)" = Down ]; echo $?)" \
	"a critical RS down takes its VS Down though rs2 is up: status -j $(st Crit), status $(status_line Crit), rs2 $(health Crit "$RS2")"
report "$([ "$(st Web/OWA)" = Down ] && [ "$(st Web)" = Down ]; echo $?)" \
	"... and its SubVS (Web/OWA $(st Web/OWA)), so the VS with only that SubVS (Web $(st Web))"
ctl status | grep -E "^Crit +$RS1:80 +down " >/dev/null
report $? "status: rs1's row in Crit says down"

cfg rs mod Crit "$RS1" critical=0
cfg rs mod Web/OWA "$RS1" critical=0
status_j
report "$([ $cfg_bad = 0 ] && [ "$(health Crit "$RS1")" = down ] && [ "$(st Crit)" = Up ] &&
	[ "$(st Web/OWA)" = Up ] && [ "$(status_line Crit)" = Up ]; echo $?)" \
	"the same RS down with critical=0: Crit $(st Crit), Web/OWA $(st Web/OWA) (rs2 serves)"

status_j
report "$([ "$(st Plain)" = "Down (kernel unavailable)" ]; echo $?)" \
	"an enabled L4 VS under --no-kernel: $(st Plain)"
cfg vs mod Crit Enable=0
cfg vs mod Plain Enable=0
status_j
report "$([ $cfg_bad = 0 ] && [ "$(st Crit)" = Disabled ] && [ "$(st Plain)" = Disabled ] &&
	[ "$(status_line Crit)" = Disabled ] && [ "$(status_line Plain)" = Disabled ]; echo $?)" \
	"Enable=0: Crit (was Up) $(st Crit) / $(status_line Crit), Plain (L4) $(st Plain) / $(status_line Plain)"
cfg vs mod Crit Enable=1
status_j
report "$([ $cfg_bad = 0 ] && [ "$(st Crit)" = Up ]; echo $?)" "Enable=1: Crit $(st Crit) again"

diag "ran ${SECONDS} s"
tap_end
