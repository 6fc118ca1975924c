#!/bin/bash
# Print a directory holding the parts of Debian's linux-source-6.1 that the
# build uses (kselftest_harness.h for the C tests, checkpatch.pl for
# `make style`), extracted once into the cache, keyed by the tarball.
set -euo pipefail
cache=${HSMKEY_CACHE:-/var/cache/hsmkey}
tarball=/usr/src/linux-source-6.1.tar.xz
[[ -f $tarball ]] || { echo "linux-source-6.1 is not installed (make deps)" >&2; exit 1; }
dir=$cache/linux-source-parts-$(stat -c %Y-%s "$tarball")
if [[ ! -f $dir/.done ]]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	tar -xJf "$tarball" -C "$dir" --strip-components=1 \
		linux-source-6.1/tools/testing/selftests/kselftest.h \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch
	touch "$dir/.done"
fi
echo "$dir"
