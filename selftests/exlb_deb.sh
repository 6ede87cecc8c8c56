#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The Debian packages as an admin uses them, inside the test VM (its root is
# the host's under a tmpfs overlay: dpkg's writes vanish at power-off):
#
#   install        dpkg -i exlb-dkms and exlb from build/deb (make deb):
#                  DKMS builds exlb.ko against the running kernel's headers
#                  and installs it, the group exlb exists, the unit is
#                  installed and enabled, modules-load.d names exlb
#   modprobe       the exlb.ko the VM runner loaded is unloaded first;
#                  `modprobe exlb` loads the DKMS one (its version is the
#                  package's)
#   start          exlbd started as the unit does (no systemd in the VM: its
#                  StateDirectory/RuntimeDirectory made, its ExecStart line
#                  run, in the LB namespace of lib.sh); exlbctl with its
#                  default socket reaches it; the socket's group is exlb
#   template       `exlbctl template apply "Exchange 2016 POP"` with two
#                  real servers (templates from the package's directory),
#                  both come up, connections from the client namespace
#                  reach both through exlb.ko (L4)
#   setup          tools/setup.sh --debs (README's first command where
#                  modules load): apt finds the packages installed (no
#                  second DKMS build), setup finds exlbd and exlb.ko
#                  running and leaves the applied template
#   remove         exlbd stopped as systemd stops it (SIGTERM, exit 0);
#                  dpkg -r of both leaves no exlbd running, exlb.ko not
#                  loaded (exlb-dkms's prerm), no DKMS build, no module
#                  file, no /usr/src/exlb-*; dpkg -P leaves no trace in
#                  dpkg's database, no enable symlink, no /var/lib/exlb
#
# Each step builds on the previous one. At the end the VM runner's exlb.ko
# ($EXLB_KO) is loaded again for the suites after this one.
#
# KTAP on stdout, last line "N passed, N failed[, N skipped]". Exit 0 all
# passed, 1 a failure, 4 skipped (not root, no packages in build/deb: run
# `make deb`, no kernel headers, dkms or python3 missing).
# EXLB_DEB_DIR names the directory of the .deb files (default
# $EXLB_REPO/build/deb).

SELF=$(readlink -f "${BASH_SOURCE[0]}")
EXLB_SFX=${EXLB_SFX:-deb$$}
# shellcheck disable=SC2034 # read by fail() in lib.sh
EXLB_CHAINED=1
# shellcheck source=lib.sh
source "$(dirname "$SELF")/lib.sh"
DEB_DIR=${EXLB_DEB_DIR:-$REPO/build/deb}
KVER=$(uname -r)
UNIT=/lib/systemd/system/exlbd.service
EXLBCTL=/usr/sbin/exlbctl

TESTS=(install modprobe start template setup remove)

echo "TAP version 13"
echo "1..${#TESTS[@]}"

# newest DIR/NAME_*.deb
newest_deb() { ls -1t "$DEB_DIR"/"$1"_*.deb 2>/dev/null | head -n 1; }
DEB_EXLB=$(newest_deb exlb)
DEB_DKMS=$(newest_deb exlb-dkms)

need_root
# It installs and purges packages and replaces /var/lib/exlb: only in the
# test VM (tools/vm/init leaves its job in /run/exlb-job), whose root is a
# throw-away overlay, unless told.
[[ -e /run/exlb-job || -n ${EXLB_DEB_ANYWHERE:-} ]] ||
	need "runs only in the test VM (tools/vm/run; EXLB_DEB_ANYWHERE=1 to force)"
[[ -n $DEB_EXLB && -n $DEB_DKMS ]] || need "no exlb_*.deb and exlb-dkms_*.deb in $DEB_DIR: run make deb first"
[[ -d /lib/modules/$KVER/build ]] || need "no kernel headers for $KVER (linux-headers-amd64)"
need_tools dpkg dkms ip jq setsid timeout
need_built "$PYTHON"
[[ -n $SUITE_MISSING ]] || ! dpkg-query -W -f='${Status}' exlb 2>/dev/null | grep -q ' installed' ||
	need "package exlb is already installed here: this test installs and removes it"
suite_ready "${TESTS[@]}"

# ------------------------------------------------------------------ setup
T=$(mktemp -d /tmp/exlb-deb.XXXXXX)
DAEMON_PID=
SRV_PIDS=()

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local p
	[[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null
	for p in "${SRV_PIDS[@]}"; do kill -- "-$p" 2>/dev/null; done
	wait 2>/dev/null
	topo_cleanup
	# leave the VM as the runner set it up for the next suite
	dpkg -P exlb exlb-dkms >/dev/null 2>&1
	if [[ ! -d /sys/module/exlb && -n ${EXLB_KO:-} && -f $EXLB_KO ]]; then
		insmod "$EXLB_KO" 2>&1 | sed 's/^/# /'
	fi
	[[ -n ${EXLB_KEEP:-} ]] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$EXLBCTL" "$@"; }

# COUNT connections to HOST:PORT: greeting, one echo; prints the JSON
# {"ok": N, "fail": N, "counts": {NAME: N}, "errors": [...]}
CLIENT_PY='
import json, socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
res = {"ok": 0, "fail": 0, "counts": {}, "errors": []}
for i in range(count):
    try:
        s = socket.create_connection((host, port), timeout=5)
        f = s.makefile("rb")
        name = f.readline().split()[0].decode()
        s.sendall(b"hello\n")
        if f.readline() != b"hello\n":
            raise OSError("bad echo")
        s.close()
        res["ok"] += 1
        res["counts"][name] = res["counts"].get(name, 0) + 1
    except Exception as e:
        res["fail"] += 1
        res["errors"].append("%s: %s" % (type(e).__name__, e))
print(json.dumps(res))
'

server_start() { # I
	local i=$1 end
	setsid ip netns exec "exlb-rs$i-$EXLB_SFX" "$PYTHON" -c "$ECHO_SERVER_PY" "rs$i" "$RS_PORT" \
		>"$T/server$i.log" 2>&1 </dev/null &
	SRV_PIDS[i]=$!
	end=$((SECONDS + 30))
	until grep -q listening "$T/server$i.log" 2>/dev/null; do
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

# The value of KEY= in the [Service] section of the installed unit
unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -n 1; }

# ------------------------------------------------------------------- tests

t_install() {
	local v start
	v=$(dpkg-deb -f "$DEB_EXLB" Version)
	echo "packages: ${DEB_DKMS##*/} ${DEB_EXLB##*/} (version $v), kernel $KVER"
	[[ $(dpkg-deb -f "$DEB_DKMS" Version) == "$v" ]] || { echo "the two packages' versions differ"; return 1; }
	# man-db's trigger would index every man page under TCG: not ours to test
	rm -f /var/lib/man-db/auto-update
	start=$SECONDS
	dpkg -i "$DEB_DKMS" "$DEB_EXLB" || { echo "dpkg -i failed"; return 1; }
	echo "dpkg -i of both (DKMS build included): $((SECONDS - start)) s"
	for p in exlb exlb-dkms; do
		expect_eq "$(dpkg-query -W -f='${Status} ${Version}' "$p")" "install ok installed $v" \
			"dpkg status of $p" || return 1
	done
	dkms status exlb
	dkms status -m exlb -v "$v" -k "$KVER" | grep -q ': installed' ||
		{ echo "DKMS has not installed exlb $v for $KVER"; return 1; }
	ls /lib/modules/"$KVER"/updates/dkms/exlb.ko* || { echo "no DKMS exlb.ko for $KVER"; return 1; }
	getent group exlb || { echo "no group exlb"; return 1; }
	[[ -f $UNIT ]] || { echo "no $UNIT"; return 1; }
	[[ -L /etc/systemd/system/multi-user.target.wants/exlbd.service ]] ||
		{ echo "exlbd.service is not enabled"; return 1; }
	expect_eq "$(cat /usr/lib/modules-load.d/exlb.conf)" exlb "modules-load.d/exlb.conf"
}

t_modprobe() {
	local v
	v=$(dpkg-query -W -f='${Version}' exlb-dkms)
	if [[ -d /sys/module/exlb ]]; then
		echo "unloading the exlb.ko the VM runner loaded ($(cat /sys/module/exlb/version 2>/dev/null))"
		rmmod exlb || return 1
	fi
	echo "modprobe's exlb: $(modinfo -n exlb)"
	[[ $(modinfo -n exlb) == /lib/modules/$KVER/updates/dkms/exlb.ko* ]] ||
		{ echo "modprobe would not load the DKMS build"; return 1; }
	modprobe exlb || { echo "modprobe exlb failed"; return 1; }
	[[ -d /sys/module/exlb ]] || { echo "exlb not loaded after modprobe"; return 1; }
	expect_eq "$(cat /sys/module/exlb/version)" "$v" "the loaded exlb.ko's version (the DKMS build)"
}

t_start() {
	local exec_start end grp
	exec_start=$(unit_value ExecStart)
	echo "ExecStart=$exec_start"
	[[ $exec_start == /usr/sbin/exlbd\ * ]] || { echo "unexpected ExecStart"; return 1; }
	# what systemd does before ExecStart: StateDirectory=exlb
	# StateDirectoryMode=0700, RuntimeDirectory=exlb RuntimeDirectoryMode=0750
	expect_eq "$(unit_value StateDirectory) $(unit_value RuntimeDirectory)" "exlb exlb" \
		"StateDirectory, RuntimeDirectory" || return 1
	rm -rf /var/lib/exlb /run/exlb
	install -d -m "$(unit_value StateDirectoryMode)" /var/lib/exlb
	install -d -m "$(unit_value RuntimeDirectoryMode)" /run/exlb
	# the ExecStart line, word-split as systemd does for this simple line
	# shellcheck disable=SC2086
	ip netns exec "$NS_LB" $exec_start >"$T/exlbd.log" 2>&1 </dev/null &
	DAEMON_PID=$!
	end=$((SECONDS + 30))
	until ctl status >/dev/null 2>&1; do
		if ((SECONDS >= end)) || ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			cat "$T/exlbd.log"
			return 1
		fi
		sleep 0.3
	done
	echo "exlbctl (default socket) reaches exlbd after $((SECONDS - end + 30)) s"
	grp=$(stat -c %G /run/exlb/exlbd.sock)
	expect_eq "$grp" exlb "the control socket's group"
}

t_template() {
	local j end n
	server_start 1 && server_start 2 || { cat "$T"/server*.log; return 1; }
	ctl template apply "Exchange 2016 POP" vip "$VIP4" \
		rs "${RS4[1]}:$RS_PORT" rs "${RS4[2]}:$RS_PORT" \
		CheckType=tcp CheckPort="$RS_PORT" || return 1
	j=$(ctl -j status)
	echo "VS: $(jq -c '.vs[] | {name, vip, port, layer, served_by}' <<<"$j")"
	expect_eq "$(jq -r '.vs[0] | "\(.port) \(.served_by)"' <<<"$j")" "110 kernel" \
		"the POP VS's port and who serves it" || return 1
	end=$((SECONDS + 60))
	until [[ $(ctl -j status | jq '[.vs[].rs[] | select(.health == "up")] | length') == 2 ]]; do
		((SECONDS < end)) || { ctl status; return 1; }
		sleep 0.5
	done
	echo "both real servers up after $((SECONDS - end + 60)) s"
	j=$(nsx "$NS_CL" timeout 60 "$PYTHON" -c "$CLIENT_PY" "$VIP4" 110 4)
	echo "4 connections to $VIP4:110: $j"
	n=$(jq -r '"\(.ok) \(.counts.rs1 // 0) \(.counts.rs2 // 0)"' <<<"$j")
	# rr over two servers: 2 each
	expect_eq "$n" "4 2 2" "connections answered, by rs1, by rs2" || return 1
	ip netns exec "$NS_LB" /usr/sbin/exlbadm vs show
}

# README's first command on a machine that loads modules, offline with the
# packages built: apt finds them installed already, setup finds the running
# exlbd and, the template being applied at that VIP already, leaves it as
# it is.
t_setup() {
	local out rc
	out=$("$REPO/tools/setup.sh" --debs "$DEB_DIR" --templates "Exchange 2016 POP" \
		"$VIP4" "${RS4[1]}" "${RS4[2]}" 2>&1)
	rc=$?
	echo "$out"
	expect_eq "$rc" 0 "tools/setup.sh's exit status" || return 1
	grep -q "already applied at $VIP4" <<<"$out" ||
		{ echo "setup did not see the POP template applied at $VIP4"; return 1; }
	grep -q "already loaded" <<<"$out" || { echo "setup did not find exlb.ko loaded"; return 1; }
	expect_eq "$(dpkg-query -W -f='${Status}' exlb exlb-dkms)" \
		"install ok installedinstall ok installed" "both packages installed after setup" || return 1
	expect_eq "$(ctl -j status | jq '[.vs[].rs[] | select(.health == "up")] | length')" 2 \
		"real servers up after setup" || return 1
	kill -0 "$DAEMON_PID" || { echo "the exlbd setup found is gone"; return 1; }
}

t_remove() {
	local v end rc left
	v=$(dpkg-query -W -f='${Version}' exlb)
	# systemctl stop: SIGTERM (KillSignal's default), then wait
	kill -TERM "$DAEMON_PID"
	end=$((SECONDS + 30))
	while kill -0 "$DAEMON_PID" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=
	expect_eq "$rc" 0 "exlbd's exit status after SIGTERM" || return 1
	dpkg -r exlb exlb-dkms || { echo "dpkg -r failed"; return 1; }
	if pgrep -f '^/usr/sbin/exlbd'; then echo "an exlbd is still running"; return 1; fi
	echo "no exlbd process"
	[[ ! -d /sys/module/exlb ]] || { echo "exlb.ko is still loaded"; lsmod | grep exlb; return 1; }
	if lsmod | grep -qw '^exlb'; then echo "lsmod lists exlb"; return 1; fi
	echo "exlb.ko not loaded (lsmod has no exlb)"
	left=$(ls -d /usr/src/exlb-* /lib/modules/"$KVER"/updates/dkms/exlb.ko* \
		/usr/sbin/exlbd /usr/sbin/exlbctl /usr/sbin/exlbadm $UNIT /usr/share/exlb 2>/dev/null
		find /var/lib/dkms/exlb \( -type f -o -type l \) 2>/dev/null)
	[[ -z $left ]] || { echo "left after dpkg -r: $left"; return 1; }
	echo "no module sources, DKMS build, module file, program, unit or template left"
	[[ -z $(dkms status exlb) ]] || { dkms status exlb; return 1; }
	dpkg -P exlb exlb-dkms || { echo "dpkg -P failed"; return 1; }
	for p in exlb exlb-dkms; do
		if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qv '^unknown ok not-installed$\|^$'; then
			echo "dpkg still knows $p: $(dpkg-query -W -f='${Status}' "$p")"
			return 1
		fi
	done
	[[ ! -e /etc/systemd/system/multi-user.target.wants/exlbd.service ]] ||
		{ echo "the enable symlink is left"; return 1; }
	[[ ! -e /var/lib/exlb ]] || { echo "purge left /var/lib/exlb"; return 1; }
	echo "after dpkg -P: dpkg has no record of exlb $v nor exlb-dkms, no enable symlink, no /var/lib/exlb"
}

# -------------------------------------------------------------------- run
if ! topo_setup >"$T/topo.log" 2>&1; then
	sed 's/^/# /' "$T/topo.log"
	for t in "${TESTS[@]}"; do ktap_result fail "$t" "topology setup failed"; done
	ktap_end
	exit 1
fi
echo "# namespaces: $ALL_NS; packages from $DEB_DIR"

for t in "${TESTS[@]}"; do
	run_chained "$t"
done
if ((FAIL)) && [[ -f $T/exlbd.log ]]; then
	sed 's/^/# exlbd.log: /' "$T/exlbd.log"
fi
ktap_end
((FAIL == 0)) || exit 1
exit 0
