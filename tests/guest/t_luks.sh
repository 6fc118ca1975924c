#!/bin/bash
# Volumes across the key lifecycle, with real cryptsetup and dm-crypt:
# "hsmkeyctl luks format/open" make and open a LUKS2 volume whose volume
# key is a token (the data segment readable by stock dm-crypt keyed with
# the raw key: an independent reference); a wrong passphrase, or the right
# one without the key, opens nothing; rotation keeps the open volume and
# reopening working; a daemon restart leaves the open volume alone;
# deletion disables the key (the open volume keeps working, nothing new
# opens) and, after the waiting period, destroys it: every version revoked
# in the kernel and the open volume failing closed.
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
json() { python3 -c "import json, sys; o = json.load(sys.stdin); print($1)"; }
fast=(-- --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --sector-size 512)

grep -q '^hsmkey ' /proc/modules || insmod "$HSMKEY_KO"
# Long enough for the checks while it is pending, even on the debug kernel.
printf 'deletion_wait = 30s\n' > "$work/hsmkeyd.conf"
daemon_conf=$work/hsmkeyd.conf
daemon_start || { fail "hsmkeyd starts"; tap_done; }
make_xts_key "$work/raw.key"
check "import the volume's key" quiet ctl import lk --type aes-256-xts --key-file "$work/raw.key"
truncate -s 48M "$work/disk.img"
loop=$(losetup --find --show "$work/disk.img")
printf 'correct horse battery staple' > "$work/pass"
printf 'wrong horse' > "$work/bad"
head -c 8M /dev/urandom > "$work/data"

check "luks format" quiet ctl luks format "$loop" --key lk --passphrase-file "$work/pass" --yes "${fast[@]}"
cryptsetup luksDump --dump-json-metadata "$loop" > "$work/hdr.json"
check "the data segment uses capi:xts(hsmaes)-plain64" \
	test "$(json 'o["segments"]["0"]["encryption"]' < "$work/hdr.json")" = "capi:xts(hsmaes)-plain64"
check "the keyslot uses stock aes-xts-plain64" \
	test "$(json 'o["keyslots"]["0"]["area"]["encryption"]' < "$work/hdr.json")" = "aes-xts-plain64"
check "the header names the key (an hsmkey token)" \
	test "$(json '[t["key"] for t in o["tokens"].values() if t["type"] == "hsmkey"][0]' < "$work/hdr.json")" = lk
tokhex=$(ctl token lk)
check "the header holds neither the token nor the key in the clear" python3 -c '
import sys
hdr = open(sys.argv[1], "rb").read(16 << 20)
assert bytes.fromhex(sys.argv[2])[16:] not in hdr
assert open(sys.argv[3], "rb").read()[:32] not in hdr' "$loop" "$tokhex" "$work/raw.key"

check "a wrong passphrase opens nothing" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' luks open '$loop' lv --passphrase-file '$work/bad' 2>/dev/null"
check "luks open" quiet ctl luks open "$loop" lv --passphrase-file "$work/pass"
check "the table uses the hsmkey cipher" grep -q 'capi:xts(hsmaes)-plain64' <(dmsetup table lv)
check "dm status lists the open volume" test "$(ctl --json dm status | json '[v["map"] + " " + v["cipher"] for v in o]')" = "['lv capi:xts(hsmaes)-plain64']"
check "write through the LUKS2 volume" dd if="$work/data" of=/dev/mapper/lv bs=1M oflag=direct status=none
check "luks close" quiet ctl luks close lv
off=$(json 'int(o["segments"]["0"]["offset"]) // 512' < "$work/hdr.json")
check "stock dm-crypt with the raw key reads the segment (offset $off sectors)" \
	cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
	--key-file "$work/raw.key" --offset "$off" "$loop" ref
echo 3 > /proc/sys/vm/drop_caches
check "what hsmkey wrote is what stock dm-crypt reads" cmp -n 8388608 "$work/data" /dev/mapper/ref
cryptsetup close ref

# Rotation: the header pins version 1; it stays loaded and opens.
check "luks open again" quiet ctl luks open "$loop" lv --passphrase-file "$work/pass"
check "rotate the key with the volume open" quiet ctl rotate lk
echo 3 > /proc/sys/vm/drop_caches
check "the open volume reads on after rotation" cmp -n 8388608 "$work/data" /dev/mapper/lv
check "the kernel holds both versions" test "$(ctl --json show lk | json '[v["kernel"] for v in o["version_list"]]')" = "['loaded', 'loaded']"
check "the new version's token names version 2" test "$(ctl token lk | cut -c49-56)" = 00000002
daemon_stop
check "the daemon restarts" daemon_start
echo 3 > /proc/sys/vm/drop_caches
check "the open volume reads on across the restart" cmp -n 8388608 "$work/data" /dev/mapper/lv
check "close" quiet ctl luks close lv
check "the volume reopens after rotation (version 1 still loaded)" quiet ctl luks open "$loop" lv --passphrase-file "$work/pass"

# Deletion: disabled while pending, destroyed after the wait.
nk=$(ctl --json status | json 'o["kernel"]["keys"]')
check "schedule-deletion" quiet ctl schedule-deletion lk
check "every version is disabled in the kernel" test "$(ctl --json show lk | json '[v["kernel"] for v in o["version_list"]]')" = "['disabled', 'disabled']"
echo 3 > /proc/sys/vm/drop_caches
check "the open volume keeps working while the deletion is pending" cmp -n 8388608 "$work/data" /dev/mapper/lv
check "nothing new opens while it is pending" bash -c "
	! cryptsetup open --type luks2 --key-file '$work/pass' '$loop' lv2 2>/dev/null &&
	! '$top/build/hsmkeyctl' --socket '$sock' luks open '$loop' lv2 --passphrase-file '$work/pass' 2>/dev/null"
for _ in $(seq 90); do ctl list | grep -q '^lk ' || break; sleep 1; done
check "after the wait the key is gone from the keystore" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' list | grep -q '^lk '"
check "and from the kernel: both versions removed" test "$(ctl --json status | json 'o["kernel"]["keys"]')" = "$((nk - 2))"
echo 3 > /proc/sys/vm/drop_caches
check "the open volume fails closed" bash -c "! dd if=/dev/mapper/lv of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null"
check "the destruction is recorded and the audit log verifies" bash -c "
	grep -q '\"op\":\"destroy\",\"key\":\"lk\"' '$work/state/audit.log' &&
	'$top/build/hsmkeyctl' --socket '$sock' audit verify >/dev/null"
dmsetup remove --force lv 2>/dev/null
check "the passphrase alone no longer opens the volume" bash -c "! cryptsetup open --type luks2 --key-file '$work/pass' '$loop' lv3 2>/dev/null"
daemon_stop
losetup -d "$loop"
rm -rf "$work"
tap_done
