#!/bin/bash
# Print a directory holding the kernel's kselftest_harness.h, extracted once
# from Debian's linux-source-6.1 into the cache.
set -euo pipefail
cache=${HSMKEY_CACHE:-/var/cache/hsmkey}
tarball=$(ls /usr/src/linux-source-6.1.tar.xz 2>/dev/null) ||
	{ echo "linux-source-6.1 is not installed (make deps)" >&2; exit 1; }
dir=$cache/kselftest-$(stat -c %Y-%s "$tarball")
if [[ ! -f $dir/kselftest_harness.h ]]; then
	mkdir -p "$dir.tmp"
	tar -xJf "$tarball" -C "$dir.tmp" --strip-components=4 --wildcards \
		'linux-source-6.1/tools/testing/selftests/kselftest.h' \
		'linux-source-6.1/tools/testing/selftests/kselftest_harness.h'
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
fi
echo "$dir"
