# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# The worker user exlb (group nogroup) of exlbd --worker-user
# (docs/privsep.md) for the host's end-to-end scripts, in exlbd's private
# mount namespace only: the host's user database is never touched (as
# test_sandbox.c and exlbd-admin.sh do it).
#
#   worker_user_files DIR [operators]
#       copies /etc/passwd and /etc/group to DIR, with the user exlb (an
#       unused uid below 65000, primary group nogroup) added where missing,
#       and with "operators" the operators' group exlb too (exlbd gives the
#       access log to it: a test checking the log's group without it sees
#       the host's groups, as in thread mode). Sets EXLB_UID, EXLB_GID;
#       WORKER_USER_SETUP (exported), the shell commands that bind-mount the
#       copies (and hide a running nscd, which would answer from the host's
#       files), to which a caller may append its own (" && ..."; it is read
#       when the command runs); and WORKER_USER_WRAP, the command prefix
#       that runs a command in a private mount namespace after
#       WORKER_USER_SETUP (inside the network namespace, e.g.
#       ip netns exec NS "${WORKER_USER_WRAP[@]}" exlbd ...), keeping the
#       wrapper's pid (exec). Returns 1 without a free uid or group nogroup.

worker_user_files() {
	local dir=$1 u nogroup
	EXLB_UID=
	for ((u = 64990; u > 60000; u--)); do
		getent passwd $u >/dev/null || { EXLB_UID=$u; break; }
	done
	nogroup=$(getent group nogroup | cut -d: -f3)
	[ -n "$EXLB_UID" ] && [ -n "$nogroup" ] || return 1
	cp /etc/passwd "$dir/passwd" && cp /etc/group "$dir/group" || return 1
	getent passwd exlb >/dev/null ||
		echo "exlb:x:$EXLB_UID:$nogroup:exlb worker:/nonexistent:/usr/sbin/nologin" >>"$dir/passwd"
	EXLB_UID=$(awk -F: '$1 == "exlb" { print $3 }' "$dir/passwd")
	# shellcheck disable=SC2034 # the caller's
	EXLB_GID=$(awk -F: '$1 == "exlb" { print $4 }' "$dir/passwd")
	[ "${2:-}" != operators ] || grep -q '^exlb:' "$dir/group" ||
		echo "exlb:x:$((EXLB_UID + 1)):" >>"$dir/group"
	WORKER_USER_SETUP="mount --bind $dir/passwd /etc/passwd && mount --bind $dir/group /etc/group"
	[ -d /run/nscd ] && WORKER_USER_SETUP+=" && mount -t tmpfs exlb-no-nscd /run/nscd"
	export WORKER_USER_SETUP
	# shellcheck disable=SC2034 # the caller's
	WORKER_USER_WRAP=(unshare -m --propagation private bash -c
		'eval "$WORKER_USER_SETUP" && exec "$@"' exlbd-ns)
	return 0
}
