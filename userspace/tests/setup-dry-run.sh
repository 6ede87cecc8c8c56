#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/setup.sh (README command one) without doing anything: the real
# path cannot run on a machine that cannot load modules, so its --dry-run
# is checked, with EXLB_SETUP_ASSUME_MODULES=1 standing in for a machine
# that can:
#   - the steps in order and their commands (build-dep, make deb, the
#     packages, exlb.ko, exlbd, one template apply per template with the
#     real servers on port 80 for HTTPS Offloaded, status); with --debs
#     no build-dep and no make deb, the directory's packages; with --cert
#     the import (replace=1) and cert on each apply;
#   - bad VIPs, real servers, options and templates are refused (exit 2,
#     "nothing was done") before any step;
#   - no VIP, or a machine whose modprobe fails: the demo path;
#   - EXLB_SETUP_ASSUME_MODULES=1 without --dry-run is refused.
# setup.sh runs from a copy (tools/setup.sh, tools/modules.sh, templates/)
# with a recording tools/demo.sh, and PATH starts with recording stubs of
# apt-get, make, modprobe, systemctl, exlbctl, install, setsid, dpkg: every
# case also asserts that none of them was called. TAP on stdout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$here/../.." && pwd)
T=$(mktemp -d /tmp/exlb-setup.XXXXXX)
trap 'rm -rf "$T"' EXIT

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }

mkdir -p "$T/tree/tools" "$T/bin" "$T/debs"
cp "$TOP/tools/setup.sh" "$TOP/tools/modules.sh" "$T/tree/tools/"
cp -r "$TOP/templates" "$T/tree/"
printf '#!/bin/sh\necho "demo.sh $*" >>"%s/called"\n' "$T" >"$T/tree/tools/demo.sh"
for c in apt-get make modprobe systemctl exlbctl install setsid dpkg; do
	printf '#!/bin/sh\necho "%s $*" >>"%s/called"\nexit ${STUB_RC:-0}\n' "$c" "$T" >"$T/bin/$c"
done
chmod +x "$T/tree/tools/"*.sh "$T/bin/"*
: >"$T/debs/exlb_0.1_amd64.deb"
: >"$T/debs/exlb-dkms_0.1_all.deb"
: >"$T/mail.pfx"
echo secret >"$T/mail.pass"

# setup ARGS...: run the copy; output in $T/out, status in $rc
setup() {
	rm -f "$T/called"
	PATH="$T/bin:$PATH" "$T/tree/tools/setup.sh" "$@" >"$T/out" 2>&1
	rc=$?
}
nothing_called() { [ ! -e "$T/called" ]; }
called() { cat "$T/called" 2>/dev/null | tr '\n' ';'; }
has() { grep -qxF -- "$1" "$T/out"; }
steps() { sed -n 's/^.*==> step [0-9]*: \(.*\)\x1b\[0m$/\1/p' "$T/out" | sed 's/ .*//' | tr '\n' ' '; }
show() { sed 's/^/# /' "$T/out"; }
expect() { # DESCRIPTION CONDITION...
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; show; fi
}

KVER=$(uname -r)
# shellcheck disable=SC2034 # H, I, S are used in the eval'd conditions
H="Exchange\\ 2016\\ HTTPS\\ Offloaded"
# shellcheck disable=SC2034
I="Exchange\\ 2016\\ IMAP\\ with\\ STARTTLS"
# shellcheck disable=SC2034
S="Exchange\\ 2016\\ SMTP\\ with\\ STARTTLS"

# --- the real path, building the packages
export EXLB_SETUP_ASSUME_MODULES=1
setup --dry-run 198.18.0.10 198.18.1.11 198.18.1.12
want="install build install install load wait check apply apply apply status "
expect "real path: exit 0, the steps in order (got: $(steps))" \
	test $rc = 0 -a "$(steps)" = "$want"
expect "real path: apt-get update, build-dep ./, make deb, the built packages installed" \
	eval 'has "+ apt-get update" && has "+ apt-get build-dep -y ./" && has "+ make deb" &&
	has "+ apt-get install -y ./build/deb/exlb_*.deb ./build/deb/exlb-dkms_*.deb"'
expect "real path: the running kernel's headers ($KVER), or their directory found" \
	eval 'has "+ apt-get install -y linux-headers-$KVER" || has "already there: /lib/modules/$KVER/build"'
expect "real path: modprobe exlb, exlbd awaited" \
	eval 'has "+ modprobe exlb" && has "+ exlbctl status (until it answers, 30 s at most)"'
expect "real path: the three default templates, one apply each, HTTPS Offloaded's servers on port 80" \
	eval 'has "+ exlbctl template apply $H vip 198.18.0.10 rs 198.18.1.11:80 rs 198.18.1.12:80" &&
	has "+ exlbctl template apply $I vip 198.18.0.10 rs 198.18.1.11 rs 198.18.1.12" &&
	has "+ exlbctl template apply $S vip 198.18.0.10 rs 198.18.1.11 rs 198.18.1.12" &&
	test "$(grep -c "template apply" "$T/out")" = 3'
expect "real path: no certificate imported without --cert; status printed; the next steps" \
	eval '! grep -q "^+ exlbctl cert add" "$T/out" && has "+ exlbctl status" && grep -q "^Next (docs/install.md)" "$T/out"'
expect "real path --dry-run: no command run (called: $(called))" nothing_called

# --- --debs, --cert, --templates, IPv6
setup --dry-run --debs "$T/debs" --cert "$T/mail.pfx" --password-file "$T/mail.pass" \
	--templates "Exchange 2019 HTTPS Offloaded,Exchange 2019 IMAP with STARTTLS,Exchange 2019 POP" fd00::10 fd00:1::11
expect "--debs: exit 0, no build-dep, no make deb (steps: $(steps))" \
	eval 'test $rc = 0 && ! grep -q "build-dep\|make deb" "$T/out" &&
	test "$(steps)" = "install install load wait check import apply apply apply status "'
expect "--debs: the directory's two packages installed" \
	has "+ apt-get install -y $T/debs/exlb_0.1_amd64.deb $T/debs/exlb-dkms_0.1_all.deb"
expect "--cert: imported as 'exchange' with its password file, replace=1" \
	has "+ exlbctl cert add exchange $T/mail.pfx password-file $T/mail.pass replace=1"
expect "--templates: the three named, IPv6 real servers as [ADDR]:80 for HTTPS Offloaded, cert given" \
	eval 'has "+ exlbctl template apply Exchange\ 2019\ HTTPS\ Offloaded vip fd00::10 rs \[fd00:1::11\]:80 cert exchange" &&
	has "+ exlbctl template apply Exchange\ 2019\ IMAP\ with\ STARTTLS vip fd00::10 rs fd00:1::11 cert exchange" &&
	test "$(grep -c "template apply" "$T/out")" = 3'
expect "--cert: not given to a template without TLS (Exchange 2019 POP)" \
	has "+ exlbctl template apply Exchange\ 2019\ POP vip fd00::10 rs fd00:1::11"
expect "--debs --dry-run: no command run (called: $(called))" nothing_called

# --- paths relative to the caller's directory, not the tree's
cd "$T" || exit 1
setup --dry-run --debs debs --cert mail.pfx --password-file ./mail.pass 198.18.0.10 198.18.1.11
cd - >/dev/null || exit 1
expect "relative --debs, --cert, --password-file are the caller's (exit $rc)" \
	eval 'test $rc = 0 &&
	has "+ apt-get install -y $T/debs/exlb_0.1_amd64.deb $T/debs/exlb-dkms_0.1_all.deb" &&
	has "+ exlbctl cert add exchange $T/mail.pfx password-file $T/mail.pass replace=1" && nothing_called'

# --- refusals, before any step
refused() { # WHAT ARGS...
	local what=$1
	shift
	setup --dry-run "$@"
	if [ $rc = 2 ] && grep -q "nothing was done" "$T/out" && ! grep -q "==> step" "$T/out" &&
		nothing_called; then
		ok "refused: $what ($(head -n 1 "$T/out"))"
	else
		not_ok "refused: $what: exit $rc, called: $(called)"
		show
	fi
}
refused "a VIP that is no address" mail.example.com 198.18.1.11
refused "a VIP with an octet over 255" 198.18.0.256 198.18.1.11
refused "a bad IPv6 VIP" fd00::1::2 198.18.1.11
refused "no real server" 198.18.0.10
refused "a real server with a port" 198.18.0.10 198.18.1.11:443
refused "a real server that is no address" 198.18.0.10 198.18.1.11 exch2
refused "a real server that is the VIP" 198.18.0.10 198.18.0.10
refused "a real server given twice" 198.18.0.10 198.18.1.11 198.18.1.11
refused "--cert without --password-file" --cert "$T/mail.pfx" 198.18.0.10 198.18.1.11
refused "--cert of a missing file" --cert "$T/none.pfx" --password-file "$T/mail.pass" 198.18.0.10 198.18.1.11
refused "an unknown template" --templates "Exchange 2016 HTTPS Offloaded,Exchange 2031 IMAP" 198.18.0.10 198.18.1.11
refused "--debs without packages" --debs "$T" 198.18.0.10 198.18.1.11
refused "demo arguments with a VIP" --no-deps 198.18.0.10 198.18.1.11

# --- the demo path
setup --dry-run
expect "no VIP: the demo path (exit $rc): $(head -n 1 "$T/out")" \
	eval 'test $rc = 0 && has "tools/setup.sh: no VIP given: running the demo instead (tools/demo.sh)" &&
	has "+ exec tools/demo.sh" && ! grep -q "==> step" "$T/out" && nothing_called'
setup --dry-run --no-deps l4-mail
expect "no VIP, demo arguments: passed on to demo.sh" \
	eval 'test $rc = 0 && has "+ exec tools/demo.sh --no-deps l4-mail" && nothing_called'
unset EXLB_SETUP_ASSUME_MODULES
rm -f "$T/called"
STUB_RC=1 PATH="$T/bin:$PATH" "$T/tree/tools/setup.sh" --dry-run 198.18.0.10 198.18.1.11 >"$T/out" 2>&1
rc=$?
expect "VIP given, modules cannot be loaded (modprobe fails): the demo path, saying why" \
	eval 'test $rc = 0 && grep -q "cannot load kernel modules.*running the demo instead" "$T/out" &&
	has "+ exec tools/demo.sh" && ! grep -q "==> step" "$T/out" &&
	! grep -qv "^modprobe -a nf_conntrack nf_nat" "$T/called" 2>/dev/null'
EXLB_SETUP_ASSUME_MODULES=1 setup 198.18.0.10 198.18.1.11
expect "EXLB_SETUP_ASSUME_MODULES=1 without --dry-run: refused, nothing run (exit $rc, called: $(called))" \
	eval 'test $rc = 2 && grep -q "tests, with --dry-run only" "$T/out" && nothing_called'

echo "1..$n"
[ $failed = 0 ]
