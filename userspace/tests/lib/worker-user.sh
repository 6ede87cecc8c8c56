# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# The worker user exlb (group nogroup) of exlbd --worker-user, in a private
# mount namespace only: the host's user database is never touched.
#
#   worker_user_files DIR   copies /etc/passwd and /etc/group to DIR, with
#                           the user exlb (an unused uid below 65000,
#                           primary group nogroup) and the operators' group
#                           exlb added where missing; sets EXLB_UID,
#                           EXLB_GID and WORKER_USER_SETUP, the shell
#                           commands that bind-mount the copies (to run in
#                           a private mount namespace, e.g. by
#                           unshare -m --propagation private bash -c)

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
	EXLB_GID=$(awk -F: '$1 == "exlb" { print $4 }' "$dir/passwd")
	# the operators' group exlb (exlbd gives the access log to it), if not there
	grep -q '^exlb:' "$dir/group" || echo "exlb:x:$((EXLB_UID + 1)):" >>"$dir/group"
	WORKER_USER_SETUP="mount --bind $dir/passwd /etc/passwd && mount --bind $dir/group /etc/group"
	# a running nscd would answer getpwnam() from the host's files
	[ -d /run/nscd ] && WORKER_USER_SETUP+=" && mount -t tmpfs exlb-no-nscd /run/nscd"
	return 0
}
