#!/bin/bash
# dkms.conf builds and installs the module for the guest's kernel, in
# private DKMS trees (nothing on the host changes).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
command -v dkms >/dev/null || { skip "dkms build and install" "dkms is not installed (make deps)"; tap_done; }
kver=${KVER:-$(make -s -C "$top" print-kver)}
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/dkms.conf")
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
src=$t/src/hsmkey-$version
mkdir -p "$src" "$t/dkms" "$t/install/$kver"
cp -r "$top"/{Kbuild,Makefile,dkms.conf,kmod,uapi} "$src/"
opts=(-m hsmkey -v "$version" --sourcetree "$t/src" --dkmstree "$t/dkms")
check "dkms add" quiet dkms add "${opts[@]}"
check "dkms build for $kver" quiet dkms build "${opts[@]}" -k "$kver"
check "dkms install" quiet dkms install "${opts[@]}" -k "$kver" --installtree "$t/install"
ko=$(find "$t/install/$kver" -name 'hsmkey.ko*' | head -n 1)
check "the module is installed under updates/dkms" test -n "$ko"
check "its vermagic is $kver" grep -q "^$kver " <(modinfo -F vermagic "$ko" 2>/dev/null)
check "its version is $version" grep -qx "$version" <(modinfo -F version "$ko" 2>/dev/null)
check "it autoloads for xts(hsmaes)" grep -qx 'crypto-xts(hsmaes)' <(modinfo -F alias "$ko" 2>/dev/null)
tap_done
