# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# The worker user of privilege separation (docs/privsep.md) for the host's
# end-to-end scripts, without touching the host's user database: copies of
# /etc/passwd and /etc/group with the user exlb (group nogroup) and the
# operators' group exlb, bind-mounted in exlbd's private mount namespace
# only (as test_sandbox.c and exlbd-admin.sh do).
#
#   privsep_user DIR
#       writes DIR/passwd and DIR/group; sets EXLB_UID, EXLB_GID (nogroup)
#       and PRIVSEP_SETUP, the shell commands that bind-mount them (and hide
#       a running nscd, which would answer from the host's files): a caller
#       may append its own (&& ...); and PRIVSEP_WRAP, the command prefix
#       that runs a command in a private mount namespace after
#       PRIVSEP_SETUP (run it inside the network namespace, e.g.
#       ip netns exec NS "${PRIVSEP_WRAP[@]}" exlbd ...). The command keeps
#       the wrapper's pid (exec).

privsep_user() {
	local dir=$1 u nogroup
	EXLB_UID=
	for ((u = 64990; u > 60000; u--)); do
		getent passwd $u >/dev/null || { EXLB_UID=$u; break; }
	done
	nogroup=$(getent group nogroup | cut -d: -f3)
	cp /etc/passwd "$dir/passwd" && cp /etc/group "$dir/group"
	getent passwd exlb >/dev/null ||
		echo "exlb:x:$EXLB_UID:$nogroup:exlb worker:/nonexistent:/usr/sbin/nologin" >>"$dir/passwd"
	EXLB_UID=$(awk -F: '$1 == "exlb" { print $3 }' "$dir/passwd")
	EXLB_GID=$(awk -F: '$1 == "exlb" { print $4 }' "$dir/passwd")
	# the operators' group exlb (exlbd gives the access log to it), if not there
	grep -q '^exlb:' "$dir/group" || echo "exlb:x:$((EXLB_UID + 1)):" >>"$dir/group"
	PRIVSEP_SETUP="mount --bind $dir/passwd /etc/passwd && mount --bind $dir/group /etc/group"
	[ -d /run/nscd ] && PRIVSEP_SETUP+=" && mount -t tmpfs exlb-no-nscd /run/nscd"
	# PRIVSEP_SETUP is read when the wrapper runs: a caller may still add to it
	PRIVSEP_WRAP=(unshare -m --propagation private bash -c 'eval "$PRIVSEP_SETUP" && exec "$@"' exlbd-ns)
	export PRIVSEP_SETUP
}
