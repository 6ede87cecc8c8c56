#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tools/setup.sh VIP RS1 [RS2...] [--cert FILE.pfx --password-file F]
#                [--templates LIST] [--debs DIR] [--dry-run]
# tools/setup.sh [--no-deps] [exchange|l4-mail]        (the demo)
#
# README command one. As root on a Debian 12 machine that can load kernel
# modules, with a VIP and the Exchange servers' addresses: installs what
# building and running exlb's packages needs (apt-get build-dep, the running
# kernel's headers for DKMS), builds them (make deb), installs them, loads
# exlb.ko, waits for exlbd, imports the certificate (--cert; else the TLS
# services use exlbd's self-signed one), applies the templates (one atomic
# `exlbctl template apply` each), and prints `exlbctl status` and what to do
# next (docs/install.md). Every step is named; a failure stops there.
#
#   --templates LIST  comma-separated names as `exlbctl template list` shows
#                     them; default "Exchange 2016 HTTPS Offloaded" (the 443
#                     VS with the nine virtual directories and the port-80
#                     redirect; the servers get plain HTTP on port 80),
#                     "Exchange 2016 IMAP with STARTTLS",
#                     "Exchange 2016 SMTP with STARTTLS"
#   --debs DIR        install DIR's exlb_*.deb and exlb-dkms_*.deb (newest)
#                     instead of building: no build-dep, no make deb
#   --dry-run         print the steps and commands, do nothing
#
# Without a VIP, or on a machine that cannot load modules, it runs the demo
# (tools/demo.sh, with the arguments given) instead and says why.
# EXLB_SETUP_ASSUME_MODULES=1 (tests only, with --dry-run) skips the module
# test as if modules could be loaded.
set -euo pipefail
CALLER_DIR=$PWD	# relative paths in the arguments are the caller's
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=tools/modules.sh
. tools/modules.sh

ME=tools/setup.sh
DEFAULT_TEMPLATES="Exchange 2016 HTTPS Offloaded,Exchange 2016 IMAP with STARTTLS,Exchange 2016 SMTP with STARTTLS"
CERT_NAME=exchange
SOCK=/run/exlb/exlbd.sock
UNIT=/lib/systemd/system/exlbd.service

usage() { sed -n '3,/^set /s/^# \{0,1\}//p' "$0"; }
die() { echo "$ME: $*" >&2; exit 1; }
refuse() { echo "$ME: $*" >&2; echo "$ME: nothing was done" >&2; exit 2; }

STEP=0 STEP_NAME=
step() { # NAME: start a numbered step
	STEP=$((STEP + 1)) STEP_NAME=$1
	printf '\n\033[1m==> step %d: %s\033[0m\n' "$STEP" "$1"
}
failed() { die "step $STEP ($STEP_NAME) failed${1:+: $1}"; }
# run CMD...: print it, then (unless --dry-run) run it; a failure stops
run() {
	printf '+'; printf ' %q' "$@"; printf '\n'
	((DRY)) && return 0
	"$@" || failed "exit status $? of: $*"
}

# ------------------------------------------------------------- the checks
is_ipv4() {
	local IFS=. o
	local -a octets
	[[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
	read -ra octets <<<"$1"
	for o in "${octets[@]}"; do ((10#$o <= 255)) || return 1; done
}
is_ipv6() {
	local a=$1 tail groups
	[[ $a == *:*:* || $a == *::* ]] || return 1
	[[ $a =~ ^[0-9A-Fa-f:.]+$ ]] || return 1
	[[ $a != *:::* ]] || return 1
	tail=${a##*:}
	if [[ $tail == *.* ]]; then	# ::ffff:192.0.2.1
		is_ipv4 "$tail" || return 1
		a=${a%:*}:0:0
	fi
	[[ $a != *.* ]] || return 1
	# at most one "::"; eight groups of 1-4 hex digits, fewer with "::"
	[[ ${a#*::} != *::* ]] || return 1
	groups=$(tr -cd : <<<"${a//::/:x:}" | wc -c)
	[[ $a =~ (^|:)[0-9A-Fa-f]{5,} ]] && return 1
	if [[ $a == *::* ]]; then
		[[ $a =~ ^(::|[0-9A-Fa-f])(.*[0-9A-Fa-f]|::)$|^::$ ]] || return 1
		((groups <= 8))
	else
		[[ $a =~ ^[0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){7}$ ]]
	fi
}
is_addr() { is_ipv4 "$1" || is_ipv6 "$1"; }
# ADDR:PORT as exlbctl takes it
addr_port() { if [[ $1 == *:* ]]; then echo "[$1]:$2"; else echo "$1:$2"; fi; }

# ---------------------------------------------------------- the arguments
from_caller() { case $1 in /*) echo "$1" ;; *) echo "$CALLER_DIR/$1" ;; esac; }
DRY=0 DEBS='' CERT='' PASSFILE='' TEMPLATES=$DEFAULT_TEMPLATES
ADDRS=() DEMO_ARGS=()
while (($#)); do
	case $1 in
	--dry-run) DRY=1 ;;
	--debs | --cert | --password-file | --templates)
		(($# >= 2)) || refuse "$1 needs a value"
		case $1 in
		--debs) DEBS=$(from_caller "$2") ;;
		--cert) CERT=$(from_caller "$2") ;;
		--password-file) PASSFILE=$(from_caller "$2") ;;
		--templates) TEMPLATES=$2 ;;
		esac
		shift ;;
	--no-deps | exchange | l4-mail) DEMO_ARGS+=("$1") ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "$ME: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) ADDRS+=("$1") ;;
	esac
	shift
done

run_demo() { # WHY
	echo "$ME: $1: running the demo instead (tools/demo.sh${DEMO_ARGS[*]:+ ${DEMO_ARGS[*]}})"
	if ((DRY)); then
		echo "+ exec tools/demo.sh${DEMO_ARGS[*]:+ ${DEMO_ARGS[*]}}"
		exit 0
	fi
	exec tools/demo.sh "${DEMO_ARGS[@]}"
}

if ((${#ADDRS[@]} == 0)); then
	[[ -z $DEBS$CERT$PASSFILE ]] || refuse "--debs, --cert and --password-file need VIP and real servers"
	run_demo "no VIP given"
fi
((${#DEMO_ARGS[@]} == 0)) || refuse "${DEMO_ARGS[*]}: demo arguments, but a VIP was given"
VIP=${ADDRS[0]}
RSS=("${ADDRS[@]:1}")
is_addr "$VIP" || refuse "VIP '$VIP' is not an IPv4 or IPv6 address"
((${#RSS[@]})) || refuse "no real server: $ME VIP RS1 [RS2...]"
declare -A seen=()
for rs in "${RSS[@]}"; do
	is_addr "$rs" || refuse "real server '$rs' is not an IPv4 or IPv6 address (no port: each template uses its own)"
	[[ $rs != "$VIP" ]] || refuse "real server $rs is the VIP"
	[[ -z ${seen[$rs]:-} ]] || refuse "real server $rs given twice"
	seen[$rs]=1
done
if [[ -n $CERT || -n $PASSFILE ]]; then
	[[ -n $CERT && -n $PASSFILE ]] || refuse "--cert and --password-file go together"
	[[ $CERT == *.pfx || $CERT == *.p12 ]] || refuse "--cert $CERT: a .pfx or .p12 file (Exchange's export) expected"
	[[ -r $CERT ]] || refuse "--cert $CERT: cannot read it"
	[[ -r $PASSFILE ]] || refuse "--password-file $PASSFILE: cannot read it"
	CERT=$(readlink -f "$CERT") PASSFILE=$(readlink -f "$PASSFILE")
fi
IFS=, read -ra TPLS <<<"$TEMPLATES"
((${#TPLS[@]})) || refuse "--templates: no template named"
for t in "${TPLS[@]}"; do
	grep -qsF "\"name\": \"$t\"" templates/*.json ||
		refuse "--templates: no template '$t' in templates/ (names as 'exlbctl template list' shows them, comma-separated)"
done
if [[ -n $DEBS ]]; then
	DEB_EXLB=$(ls -1t "$DEBS"/exlb_*.deb 2>/dev/null | head -n 1) || true
	DEB_DKMS=$(ls -1t "$DEBS"/exlb-dkms_*.deb 2>/dev/null | head -n 1) || true
	[[ -n $DEB_EXLB && -n $DEB_DKMS ]] || refuse "--debs $DEBS: no exlb_*.deb and exlb-dkms_*.deb there"
	DEB_EXLB=$(readlink -f "$DEB_EXLB") DEB_DKMS=$(readlink -f "$DEB_DKMS")
fi
if ((!DRY)) && [[ $(id -u) != 0 ]]; then
	refuse "run it as root (a fresh Debian 12 has no sudo: su -)"
fi

# ------------------------------------------------------- demo or the real job
if [[ ${EXLB_SETUP_ASSUME_MODULES:-} == 1 ]]; then
	((DRY)) || refuse "EXLB_SETUP_ASSUME_MODULES=1 is for tests, with --dry-run only"
	echo "$ME: EXLB_SETUP_ASSUME_MODULES=1: assuming this machine can load modules (test)"
elif ! exlb_can_load_modules; then # shellcheck disable=SC2119
	run_demo "this machine cannot load kernel modules (exlb.ko needs nf_conntrack and nf_nat)"
fi
KVER=$(uname -r)
((DRY)) && echo "$ME: --dry-run: printing the steps, doing nothing"
echo "$ME: VIP $VIP, real servers ${RSS[*]}, templates: $TEMPLATES"

export DEBIAN_FRONTEND=noninteractive
if [[ -z $DEBS ]]; then
	step "install what building the packages needs (debian/control's Build-Depends)"
	run apt-get update
	run apt-get build-dep -y ./
	step "build the packages (make deb)"
	run make deb
	DEB_EXLB="./build/deb/exlb_*.deb" DEB_DKMS="./build/deb/exlb-dkms_*.deb"
fi

step "install the headers of the running kernel $KVER (DKMS builds exlb.ko against them)"
if [[ -d /lib/modules/$KVER/build ]]; then
	echo "already there: /lib/modules/$KVER/build"
else
	run apt-get install -y "linux-headers-$KVER"
fi

# the same version installed already: apt does nothing (no second DKMS build)
step "install the packages exlb and exlb-dkms (DKMS builds exlb.ko, exlbd is started)"
if [[ -z $DEBS ]]; then
	# the glob is expanded after make deb has built them
	if ((DRY)); then
		echo "+ apt-get install -y $DEB_EXLB $DEB_DKMS"
	else
		# shellcheck disable=SC2086 # the globs
		run apt-get install -y $DEB_EXLB $DEB_DKMS
	fi
else
	run apt-get install -y "$DEB_EXLB" "$DEB_DKMS"
fi

step "load exlb.ko"
if [[ -d /sys/module/exlb ]] && ((!DRY)); then
	echo "already loaded (version $(cat /sys/module/exlb/version 2>/dev/null || echo '?'))"
else
	run modprobe exlb
fi

# exlbctl answers on the control socket
exlbd_answers() { exlbctl status >/dev/null 2>&1; }
wait_exlbd() { # SECONDS
	local end=$((SECONDS + $1))
	until exlbd_answers; do
		((SECONDS < end)) || return 1
		sleep 0.5
	done
}
step "wait for exlbd"
if [[ -d /run/systemd/system ]]; then
	run systemctl is-enabled exlbd
	if ((!DRY)) && ! systemctl is-active --quiet exlbd; then
		echo "exlbd.service is $(systemctl is-active exlbd || true): starting it"
		run systemctl start exlbd
	fi
	run systemctl is-active exlbd
elif ((!DRY)) && exlbd_answers; then
	echo "no systemd; an exlbd answers on $SOCK"
else
	# without systemd (a container, the test VM) nothing started it: do
	# what the unit does
	echo "no systemd: starting exlbd as $UNIT does"
	exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT" 2>/dev/null) || true
	((DRY)) && exec_start=${exec_start:-/usr/sbin/exlbd --state-dir /var/lib/exlb --socket $SOCK}
	[[ -n $exec_start ]] || failed "no ExecStart in $UNIT"
	run install -d -m 0700 /var/lib/exlb
	run install -d -m 0750 /run/exlb
	printf '+ setsid %s >/run/exlb/exlbd.log 2>&1 </dev/null &\n' "$exec_start"
	if ((!DRY)); then
		# shellcheck disable=SC2086 # the unit's line, split as systemd does
		setsid $exec_start >/run/exlb/exlbd.log 2>&1 </dev/null &
	fi
fi
echo "+ exlbctl status (until it answers, 30 s at most)"
if ((!DRY)); then
	wait_exlbd 30 || failed "exlbctl cannot reach exlbd on $SOCK after 30 s: $(exlbctl status 2>&1 | head -n 1)"
	echo "exlbd answers on $SOCK"
fi

step "check the templates"
for t in "${TPLS[@]}"; do
	printf '+ exlbctl template show %q >/dev/null\n' "$t"
	((DRY)) || exlbctl template show "$t" >/dev/null ||
		failed "exlbd has no template '$t' (exlbctl template list)"
done

cert_args=()
if [[ -n $CERT ]]; then
	step "import the certificate $CERT as '$CERT_NAME'"
	run exlbctl cert add "$CERT_NAME" "$CERT" password-file "$PASSFILE" replace=1
	cert_args=(cert "$CERT_NAME")
fi

# has_tls TEMPLATE: a VS of it terminates TLS (takes cert): exlbd says; a
# dry run reads the tree's templates/ (what the packages install)
has_tls() {
	if ((!DRY)); then
		exlbctl -j template show "$1" | grep -Eq '"SSLAcceleration": "?1"?'
		return
	fi
	# from the template's "name" line to the next "name" as much indented
	awk -v name="$1" '
		index($0, "\"name\": \"" name "\"") == match($0, /[^ ]/) && !on {
			on = 1; ind = match($0, /[^ ]/); next
		}
		on && match($0, /[^ ]/) == ind && /"name":/ { on = 0 }
		on && /"SSLAcceleration": *1/ { found = 1 }
		END { exit !found }' templates/*.json
}
for t in "${TPLS[@]}"; do
	step "apply the template '$t' at $VIP"
	args=(exlbctl template apply "$t" vip "$VIP")
	for rs in "${RSS[@]}"; do
		# offloaded HTTPS: Exchange set up for SSL offloading listens
		# on 80; the other templates use their VS's port
		if [[ $t == *"HTTPS Offloaded" ]]; then
			args+=(rs "$(addr_port "$rs" 80)")
		else
			args+=(rs "$rs")
		fi
	done
	if ((${#cert_args[@]})) && has_tls "$t"; then
		args+=("${cert_args[@]}")
	elif ((${#cert_args[@]} == 0)); then
		echo "(no --cert: its TLS services, if any, use exlbd's self-signed certificate)"
	fi
	if ((DRY)); then
		run "${args[@]}"
		continue
	fi
	printf '+'; printf ' %q' "${args[@]}"; printf '\n'
	if out=$("${args[@]}" 2>&1); then
		echo "$out"
		continue
	fi
	# Applied before (a re-run)? exlbd refuses a VIP:PORT in use and names
	# the VS there: if it is one of this template's, leave it alone.
	echo "$out"
	re='is in use by VS ([0-9]+) \((.*)\): a template is applied once per VIP and port'
	if [[ $out =~ $re ]] && exlbctl template show "$t" | grep -qF "${BASH_REMATCH[2]}"; then
		echo "already applied at $VIP (VS ${BASH_REMATCH[1]}, ${BASH_REMATCH[2]}): left as it is," \
			"its real servers unchanged (to apply it again: exlbctl vs del its VSs first)"
		continue
	fi
	failed "exlbctl template apply '$t' was refused (above)"
done

step "status"
run exlbctl status
cat <<EOF

Next (docs/install.md):
  - the VIP on an interface: ip addr add $VIP/$([[ $VIP == *:* ]] && echo 128 || echo 32) dev IFACE (and persistently, §2)
  - forwarding, rp_filter=2, the firewall's ports to the VIP (§2)
  - "HTTPS Offloaded" sends plain HTTP to the servers' port 80: set Exchange up for SSL offloading
$([[ -n $CERT ]] && echo "  - the certificate is '$CERT_NAME' (exlbctl cert list); delete $CERT and its password file" ||
	echo "  - the TLS services use exlbd's self-signed certificate: import Exchange's (exlbctl cert add NAME FILE.pfx password-file F, §3) and set it as their CertFile")
  - exlbctl set droponfail 1 (the guide's global setting, §4)
  - watch: exlbctl status, journalctl -u exlbd (§5)
EOF
