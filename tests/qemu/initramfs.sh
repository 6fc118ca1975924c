#!/bin/bash
# Build (or reuse) the initramfs that mounts the host's root read-only over
# virtio-9p with a tmpfs overlay and switches to it.  Prints its path.
# Cached under $HSMKEY_CACHE, keyed by kernel version, busybox and init.
set -euo pipefail
kver=$1
here=$(cd "$(dirname "$0")" && pwd)
cache=${HSMKEY_CACHE:-/var/cache/hsmkey}
busybox=$(command -v busybox) || { echo "busybox-static is not installed (make deps)" >&2; exit 1; }
mods=(virtio_pci 9pnet_virtio 9p overlay)

# modprobe takes one module a call (further words are parameters).  A
# kernel without /lib/modules (the debug kernel) has all of them built in.
deps() {
	[[ -d /lib/modules/$kver ]] || return 0
	for m in "${mods[@]}"; do modprobe --show-depends -S "$kver" "$m"; done
}
key=$( { echo "$kver"; sha256sum "$busybox" "$here/initramfs-init"; deps; } |
	sha256sum | cut -c1-16)
out=$cache/initramfs-$kver-$key.cpio.gz
if [[ -s $out ]]; then echo "$out"; exit 0; fi

mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" ${part:+"$part"}' EXIT
mkdir -p "$tmp"/{bin,dev,proc,sys,lower,upper,newroot,modules}
touch "$tmp/modules/order"
cp "$busybox" "$tmp/bin/busybox"
ln -s busybox "$tmp/bin/sh"
install -m 0755 "$here/initramfs-init" "$tmp/init"
# Dependencies first, each module once, in the order modprobe gives.
deps | awk '$1 == "insmod" { print $2 }' |
	awk '!seen[$0]++' | while read -r ko; do
		cp "$ko" "$tmp/modules/"
		basename "$ko" >> "$tmp/modules/order"
	done
# Two boots at once on a fresh cache (make bench or make demo beside a
# test run) may build it at once: each into a file of its own, renamed
# into place (the same files and modules either way).
part=$(mktemp "$out.XXXXXX")
(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) > "$part"
chmod 644 "$part"
mv -f "$part" "$out"
part=
echo "$out"
