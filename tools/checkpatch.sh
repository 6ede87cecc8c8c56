#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tools/checkpatch.sh FILES...
#
# Runs the kernel's checkpatch.pl --strict --no-tree --file on FILES and fails
# on any ERROR, WARNING or CHECK. checkpatch.pl (with spelling.txt and
# const_structs.checkpatch) is extracted once from Debian's linux-source
# tarball (apt-get install linux-source-6.1) into build/checkpatch/.
# CHECKPATCH=/path/to/checkpatch.pl overrides.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 FILES..." >&2; exit 2; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=$REPO/build/checkpatch
FILES="scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch"

if [ -z "${CHECKPATCH:-}" ]; then
	CHECKPATCH=$DIR/checkpatch.pl
	if [ ! -x "$CHECKPATCH" ] || [ ! -f "$DIR/spelling.txt" ] || [ ! -f "$DIR/const_structs.checkpatch" ]; then
		tarball=$(ls -1 /usr/src/linux-source-*.tar.* 2>/dev/null | sort -V | tail -n1 || true)
		if [ -z "$tarball" ]; then
			echo "$0: no /usr/src/linux-source-*.tar.* (apt-get install linux-source-6.1)" >&2
			exit 1
		fi
		top=$(basename "${tarball%%.tar.*}")	# linux-source-6.1
		echo "$0: extracting checkpatch from $tarball" >&2
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		members=()
		for f in $FILES; do members+=("$top/$f"); done
		tar -xf "$tarball" -C "$tmp" "${members[@]}"
		mkdir -p "$DIR"
		for f in $FILES; do cp "$tmp/$top/$f" "$DIR/"; done
		chmod +x "$DIR/checkpatch.pl"
	fi
fi

# --no-tree: checkpatch finds spelling.txt and const_structs.checkpatch next
# to itself. Its exit status is non-zero if any file had an ERROR, WARNING
# or CHECK.
exec perl "$CHECKPATCH" --strict --no-tree --quiet --show-types \
	--ignore FILE_PATH_CHANGES --file "$@"
