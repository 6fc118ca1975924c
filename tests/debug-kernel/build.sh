#!/bin/bash
# Build (or reuse) the debug kernel: Debian's linux-source-6.1, tinyconfig
# plus debug.config, all needed drivers built in.  The tree lives in the
# cache, keyed by the source tarball and the config; a rebuild happens only
# when either changes.  Prints the build directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${HSMKEY_CACHE:-/var/cache/hsmkey}
tarball=/usr/src/linux-source-6.1.tar.xz
[[ -f $tarball ]] || { echo "linux-source-6.1 is not installed (make deps)" >&2; exit 1; }
key=$( { stat -c %s-%Y "$tarball"; cat "$here/debug.config" "$0"; } | sha256sum | cut -c1-16)
dir=$cache/debug-kernel-$key
if [[ -f $dir/.done ]]; then echo "$dir"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/debug-kernel.lock"
flock 9
if [[ -f $dir/.done ]]; then echo "$dir"; exit 0; fi
rm -rf "$dir" "$cache"/debug-kernel-*
mkdir -p "$dir"
echo "debug kernel: extracting $tarball" >&2
tar -xJf "$tarball" -C "$dir" --strip-components=1
cd "$dir"
echo "debug kernel: configuring" >&2
make -s tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -m .config "$here/debug.config" >/dev/null
make -s olddefconfig >/dev/null
# Every fragment line must have survived the dependency resolution.
missing=0
while IFS= read -r line; do
	[[ $line == CONFIG_* ]] || continue
	grep -qxF "$line" .config || { echo "debug kernel: $line did not stick" >&2; missing=1; }
done < "$here/debug.config"
((missing == 0)) || exit 1
echo "debug kernel: building (this takes a while on 2 cores)" >&2
start=$SECONDS
make -j"$(nproc)" bzImage modules_prepare >build.log 2>&1 ||
	{ tail -n 30 build.log >&2; exit 1; }
echo "debug kernel: built in $((SECONDS - start)) s" >&2
touch .done
echo "$dir"
