#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make install` and `make uninstall` into a DESTDIR, no root needed:
#   - PREFIX=/usr: exactly the expected files (the list below), the unit's
#     ExecStart is /usr/sbin/exlbd, exlbd's compiled-in template directory
#     (exlbd --help) is /usr/share/exlb/templates and holds the templates,
#     exlb.ko is under DESTDIR/lib/modules/KVER/extra with no depmod files
#     beside it, modules-load.d names exlb, nothing installed says
#     /usr/local or has a @PLACEHOLDER@ left, the man pages render without
#     warnings;
#   - systemd-analyze verify accepts the installed unit with its binary at
#     its path (a copy of the tree plus the host's units as --root), and,
#     as a check of the check, rejects it when ExecStart names a missing
#     binary;
#   - make uninstall leaves no file;
#   - PREFIX=/usr/local (the default): the unit in
#     /usr/local/lib/systemd/system says /usr/local/sbin/exlbd, exlbd looks
#     in /usr/local/share/exlb/templates; uninstall leaves no file.
# exlbd, exlbctl and exlbadm are built into a private build directory
# (B=...), so the repository's userspace/build is untouched; exlb.ko is
# built in the tree as `make` does. TAP on stdout; exit 1 on a failure, 4
# when skipped (no kernel headers for the module, no systemd-analyze).

set -u
here=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$here/../.." && pwd)
KVER=${KVER:-$("$TOP/tools/vm/kernel-release" 2>/dev/null || uname -r)}

T=$(mktemp -d /tmp/exlb-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0 failed=0 skipped=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); skipped=$((skipped + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { # DESCRIPTION CMD...: ok if CMD succeeds
	local what=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then ok "$what"; else
		not_ok "$what"
		sed 's/^/# /' "$T/check.out"
	fi
}
# files DIR: every file and symlink under DIR, relative, sorted
files() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort); }

mk() { # LOG ARGS...: make -C TOP ARGS, output to LOG, shown on failure
	local log=$1 start=$SECONDS
	shift
	# (not the flags of a make this runs under: `make unit` is one)
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -C "$TOP" --no-print-directory "$@" B="$T/build" >"$log" 2>&1 &&
		echo "# make $1: $((SECONDS - start)) s" && return 0
	tail -n 30 "$log" | sed 's/^/# make: /'
	return 1
}

echo "TAP version 13"

with_module=1
if [ ! -d "/lib/modules/$KVER/build" ]; then
	with_module=0
	echo "# no kernel headers for $KVER: make install-userspace only"
fi

# ---- PREFIX=/usr
R=$T/usr
if [ $with_module = 1 ]; then target=install; else target=install-userspace; fi
if mk "$T/install.log" "$target" DESTDIR="$R" PREFIX=/usr KVER="$KVER"; then
	ok "make $target DESTDIR=... PREFIX=/usr"
else
	not_ok "make $target DESTDIR=... PREFIX=/usr"
	echo "1..$n"
	exit 1
fi

{
	echo lib/systemd/system/exlbd.service
	echo usr/include/linux/exlb.h
	for p in exlbadm exlbctl exlbd; do echo "usr/sbin/$p"; done
	echo usr/share/bash-completion/completions/exlbctl
	for f in "$TOP"/templates/*.json; do echo "usr/share/exlb/templates/${f##*/}"; done
	for p in exlbadm exlbctl exlbd; do echo "usr/share/man/man8/$p.8"; done
	if [ $with_module = 1 ]; then
		echo "lib/modules/$KVER/extra/exlb.ko"
		echo usr/lib/modules-load.d/exlb.conf
	fi
} | sort >"$T/want"
files "$R" >"$T/got"
if diff -u "$T/want" "$T/got" >"$T/diff"; then
	ok "PREFIX=/usr: the $(wc -l <"$T/want") expected files and no other"
else
	not_ok "PREFIX=/usr: the installed files differ from the expected ones"
	sed 's/^/# /' "$T/diff"
fi

unit=$R/lib/systemd/system/exlbd.service
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit" 2>/dev/null)
echo "# ExecStart: $exec_start"
check "the unit's ExecStart is /usr/sbin/exlbd (got '$exec_start')" \
	test "$exec_start" = /usr/sbin/exlbd
check "the unit's ExecStart binary is installed and executable" test -x "$R$exec_start"

tdir=$("$R/usr/sbin/exlbd" --help 2>/dev/null | sed -n 's/.*--template-dir DIR.*(default \([^)]*\)).*/\1/p')
echo "# exlbd --help: built-in templates in '$tdir'"
check "exlbd's compiled-in template directory is /usr/share/exlb/templates (got '$tdir')" \
	test "$tdir" = /usr/share/exlb/templates
check "that directory holds every template" \
	sh -c "for f in '$TOP'/templates/*.json; do cmp \"\$f\" '$R$tdir/'\"\${f##*/}\" || exit 1; done"
check "no installed file names /usr/local, no text file keeps a @PLACEHOLDER@" \
	sh -c "! grep -rlaF /usr/local '$R' && ! grep -rlIE '@[A-Z_]+@' '$R'"
if grep -q "^$R/usr/share/man/man8/exlbd.8" <(printf '%s\n' "$R"/usr/share/man/man8/*); then
	check "the man pages render without warnings (man --warnings)" sh -c "
		for m in '$R'/usr/share/man/man8/*.8; do
			out=\$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l \"\$m\" 2>&1 >/dev/null)
			[ -z \"\$out\" ] || { echo \"\$m: \$out\"; exit 1; }
		done"
fi

if [ $with_module = 1 ]; then
	ko=$R/lib/modules/$KVER/extra/exlb.ko
	check "exlb.ko in DESTDIR/lib/modules/$KVER/extra is exlb ($(modinfo -F name "$ko" 2>&1))" \
		test "$(modinfo -F name "$ko" 2>&1)" = exlb
	check "modules-load.d/exlb.conf loads exlb at boot" \
		test "$(grep -v '^#' "$R/usr/lib/modules-load.d/exlb.conf")" = exlb
else
	skip "exlb.ko installed into DESTDIR" "no kernel headers for $KVER"
fi

# systemd-analyze verify resolves the unit, the units it names and its
# commands inside --root: a copy of the installed tree with the host's
# units and /usr/bin/kill (ExecReload) beside it.
if command -v systemd-analyze >/dev/null; then
	V=$T/verify
	cp -a "$R" "$V"
	mkdir -p "$V/usr/lib/systemd" "$V/usr/bin"
	cp -a /usr/lib/systemd/system "$V/usr/lib/systemd/" 2>/dev/null ||
		cp -a /lib/systemd/system "$V/usr/lib/systemd/"
	cp /usr/bin/kill "$V/usr/bin/kill"
	[ -e "$V/bin" ] || ln -s usr/bin "$V/bin"
	verify() { # prints what systemd-analyze says; fails on any word from it
		local out rc
		out=$(systemd-analyze verify --man=no --root="$V" /lib/systemd/system/exlbd.service 2>&1)
		rc=$?
		[ -z "$out" ] || echo "$out"
		[ $rc = 0 ] && [ -z "$out" ]
	}
	check "systemd-analyze verify: the installed unit is clean" verify
	sed -i 's|^ExecStart=/usr/sbin/exlbd|ExecStart=/usr/local/sbin/exlbd|' \
		"$V/lib/systemd/system/exlbd.service"
	if verify >"$T/verify.out" 2>&1; then
		not_ok "systemd-analyze verify accepts ExecStart=/usr/local/sbin/exlbd, which is not there"
	else
		ok "systemd-analyze verify rejects a unit whose ExecStart binary is missing ($(head -n 1 "$T/verify.out"))"
	fi
else
	skip "systemd-analyze verify on the installed unit" "systemd-analyze missing (Debian package systemd)"
fi

if [ $with_module = 1 ]; then target=uninstall; else target=uninstall-userspace; fi
check "make $target DESTDIR=... PREFIX=/usr" mk "$T/uninstall.log" "$target" DESTDIR="$R" PREFIX=/usr KVER="$KVER"
left=$(files "$R")
check "make $target leaves no file (left: ${left:-none})" test -z "$left"

# ---- PREFIX=/usr/local (the default): the same install follows PREFIX
L=$T/local
check "make install-userspace DESTDIR=... (PREFIX=/usr/local)" mk "$T/local.log" install-userspace DESTDIR="$L"
lunit=$L/usr/local/lib/systemd/system/exlbd.service
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$lunit" 2>/dev/null)
check "PREFIX=/usr/local: the unit is in /usr/local/lib/systemd/system, ExecStart $exec_start" \
	test "$exec_start" = /usr/local/sbin/exlbd -a -x "$L$exec_start"
tdir=$("$L/usr/local/sbin/exlbd" --help 2>/dev/null | sed -n 's/.*--template-dir DIR.*(default \([^)]*\)).*/\1/p')
check "PREFIX=/usr/local: exlbd's template directory is /usr/local/share/exlb/templates (got '$tdir'), installed" \
	test "$tdir" = /usr/local/share/exlb/templates -a -f "$L$tdir/Exchange2016Core.json"
check "make uninstall-userspace (PREFIX=/usr/local)" mk "$T/local-un.log" uninstall-userspace DESTDIR="$L"
left=$(files "$L")
check "it leaves no file (left: ${left:-none})" test -z "$left"

echo "1..$n"
if [ $failed -gt 0 ]; then exit 1; fi
if [ $skipped -gt 0 ]; then exit 4; fi
exit 0
