#!/bin/bash
# Revocation is crypto-shredding: while a volume is open, kernel memory
# holds the key's expanded AES schedules (the positive control); after
# revoke, no copy of any round key is left anywhere in RAM.
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
scan=$top/build/tests/guest/kcore_scan

daemon_start || { fail "hsmkeyd starts"; tap_done; }
make_xts_key "$work/raw.key"
keyhex=$(od -An -tx1 -v "$work/raw.key" | tr -d ' \n')
truncate -s 16M "$work/disk.img"
loop=$(losetup --find --show "$work/disk.img")
check "import the key" quiet ctl import shred --type aes-256-xts --key-file "$work/raw.key"
check "open a volume with it" quiet ctl dm open "$loop" shred-vol --key shred
check "write through it" dd if=/dev/urandom of=/dev/mapper/shred-vol bs=1M count=2 oflag=direct status=none

read -r _ enc _ dec < <("$scan" "$keyhex")
diag "while bound: $enc encryption and $dec decryption round keys found in kernel memory"
check "encryption schedule found in kernel memory while bound" test "${enc:-0}" -gt 0
check "decryption schedule found in kernel memory while bound" test "${dec:-0}" -gt 0

check "revoke" quiet ctl revoke shred
read -r _ enc _ dec < <("$scan" "$keyhex")
diag "after revoke: $enc encryption and $dec decryption round keys found"
check "no encryption round key left after revoke" test "${enc:-1}" -eq 0
check "no decryption round key left after revoke" test "${dec:-1}" -eq 0

check "close the volume" quiet ctl dm close shred-vol
losetup -d "$loop"
daemon_stop
tap_done
