# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# The set-up the ESP end-to-end scripts (exlbd-esp-basic.sh, -form.sh,
# -owa.sh, -privsep.sh) and bench/esp.sh share, in one function: the checks
# that skip the script, a temp dir, the namespaces of lib/lbnet.sh, the
# directory of lib/slapd.sh on rs2, exlbd in the LB namespace, and the
# cleanup at exit; and their check of the failed-logon limit. The real
# servers (nginx, python, the simulated Exchange) and the configuration
# stay the script's. Source it after lib/tap.sh.
#
#   esp_setup TAG NET NAME SLAPD_DEBUG [EXLBD_OPTION...]
#       skips (tap.sh's skip) without root, a tool of ESP_TOOLS (an array;
#       default: ip curl python3 openssl ldapsearch ldapwhoami), slapd, or
#       the binaries EXLBD, EXLBCTL (defaults: ESP_EXLBD_DEFAULT, else
#       ../build/asan/exlbd, and ../build/exlbctl, next to this lib); makes
#       T (/tmp/exlb-NAME.XXXXXX), tmp=$T/ldap (slapd.sh's), SOCK, ALOG;
#       exports EXRS_DIR=$T/rs EXRS_BIG_MB=0 (lib/exchange-rs.sh); sources
#       lbnet.sh, exlbd.sh, exchange-rs.sh, slapd.sh; sets the EXIT trap
#       (esp_cleanup); prints the TAP header unless ESP_NO_TAP_HEADER is
#       set; builds the network (lbnet_setup TAG NET) and reports its
#       isolation; starts slapd on RS2 (slapd_fixture, -d SLAPD_DEBUG) with
#       slapd_pid; starts exlbd --no-kernel with --state-dir, --socket,
#       --access-log $ALOG (not with ESP_NO_ACCESS_LOG set) and the
#       EXLBD_OPTIONs (EXLBD_NO_HEALTH_CHECKS=1), output appended to
#       $T/exlbd.log, DAEMON_PID set, and reports it ready (lib/exlbd.sh's
#       exlbd_start). With ESP_PRIVSEP set: exlbd --worker-user exlb
#       (docs/privsep.md) by lib/privsep.sh's privsep_exlbd_start (the user
#       exlb in exlbd's private mount namespace, EXLB_UID, EXLB_GID set;
#       PRIVSEP_RESOLV, if set, its /etc/resolv.conf there), its functions
#       defined; skips without a free uid for the user.
#       P_LDAP=13389 P_LDAPS=13636: slapd's ports.
#
#   esp_limit_check TRY WANT LINE
#       the failed-logon limit of a domain with max_failed_auths=3, one TAP
#       line: TRY PASSWORD (the script's function) makes one logon of
#       mallory with PASSWORD and sets code, and fails if the answer let
#       mallory in all the same (e.g. a form's session cookie). After three
#       wrong passwords the fourth logon must answer WANT without a bind at
#       slapd (lib/slapd.sh's slapd_binds), and exlbd's log must show LINE
#       (a fixed string) within 5 s.
#
#   esp_cleanup
#       the EXIT trap: stops exlbd, rs_pid (a script's own server, if set),
#       slapd (continued first, if a test stopped it), the simulated
#       Exchange servers, the namespaces; removes T unless KEEP is set.

esp_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

esp_cleanup() {
	exlbd_kill
	if [ -n "${rs_pid:-}" ]; then
		kill "$rs_pid" 2>/dev/null && wait "$rs_pid" 2>/dev/null
	fi
	if [ -n "${slapd_pid:-}" ]; then
		kill -CONT "$slapd_pid" 2>/dev/null
		kill "$slapd_pid" 2>/dev/null && wait "$slapd_pid" 2>/dev/null
	fi
	exrs_cleanup >/dev/null 2>&1
	lbnet_cleanup
	if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}

esp_setup() {
	local tag=$1 net=$2 name=$3 debug=$4 tool
	local -a tools=(ip curl python3 openssl ldapsearch ldapwhoami) alog=()
	shift 4
	[ -n "${ESP_TOOLS+x}" ] && tools=("${ESP_TOOLS[@]}")
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
	for tool in "${tools[@]}"; do
		command -v "$tool" >/dev/null || skip "$tool not installed"
	done
	[ -x "${SLAPD:-/usr/sbin/slapd}" ] || skip "slapd not installed (tools/deps.sh)"
	EXLBD=$(realpath "${EXLBD:-${ESP_EXLBD_DEFAULT:-$esp_lib/../../build/asan/exlbd}}")
	EXLBCTL=$(realpath "${EXLBCTL:-$esp_lib/../../build/exlbctl}")
	[ -x "$EXLBD" ] && [ -x "$EXLBCTL" ] ||
		skip "build exlbd and exlbctl first (make -C userspace build/asan/exlbd build/exlbd build/exlbctl)"

	T=$(mktemp -d "/tmp/exlb-$name.XXXXXX")
	chmod 755 "$T"	# nginx's workers (nobody) reach sockets below it
	tmp=$T/ldap	# lib/slapd.sh's directory
	mkdir -p "$tmp"
	# shellcheck disable=SC2034 # lib/exlbd.sh's
	SOCK=$T/exlbd.sock
	ALOG=$T/access.log
	DAEMON_PID='' slapd_pid=''
	P_LDAP=13389 P_LDAPS=13636
	export EXRS_DIR=$T/rs EXRS_BIG_MB=0

	# shellcheck source=lbnet.sh
	source "$esp_lib/lbnet.sh"
	# shellcheck source=exlbd.sh
	source "$esp_lib/exlbd.sh"
	# shellcheck source=exchange-rs.sh
	source "$esp_lib/exchange-rs.sh"
	# shellcheck source=slapd.sh
	source "$esp_lib/slapd.sh"
	trap esp_cleanup EXIT

	[ -n "${ESP_NO_TAP_HEADER:-}" ] || echo "TAP version 13"
	lbnet_setup "$tag" "$net" || skip "cannot create network namespaces"
	lbnet_isolated
	report $? "four namespaces, no default route, only their own links${ISOLATION_BAD:+ (not:$ISOLATION_BAD)}"
	slapd_fixture "$RS2" $P_LDAP $P_LDAPS "$debug" "$NS_RS2"
	chmod 755 "$tmp"
	[ -n "${ESP_NO_ACCESS_LOG:-}" ] || alog=(--access-log "$ALOG")
	if [ -z "${ESP_PRIVSEP:-}" ]; then
		exlbd_start "exlbd runs in the LB namespace" "${alog[@]}" "$@"
		return
	fi
	# shellcheck source=privsep.sh
	source "$esp_lib/privsep.sh"
	privsep_exlbd_start "exlbd --worker-user exlb runs in the LB namespace" "${alog[@]}" "$@" ||
		skip "no free uid or no group nogroup for the user exlb"
}

esp_limit_check() {
	local try=$1 want=$2 line=$3 i b
	for i in 1 2 3; do
		"$try" "guess$i"
	done
	b=$(slapd_binds)
	# shellcheck disable=SC2154 # code: set by TRY
	"$try" guess4 && [ "$code" = "$want" ] && [ "$(slapd_binds)" = "$b" ] &&
		wait_for 5 grep -qF -- "$line" "$T/exlbd.log"
	report $? "after 3 failures mallory is blocked: $code, no bind, logged as blocked"
}
