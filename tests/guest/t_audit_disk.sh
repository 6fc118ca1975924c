#!/bin/bash
# The audit log's disk failing under a running daemon: a real write-back
# error from the block layer, not one injected into a system call
# (tests/host/test_audit_sync.sh does that).  The daemon's state
# directory is on ext4 over a device-mapper linear device, which is
# swapped for dm's error target while the daemon runs.  hsmkeyd(8),
# AUDIT LOG: no KMS call is answered whose record is not on disk, and
# from the first failed flush on every call and every change is refused
# until a restart, even once the disk is back; a key already in the
# kernel is not touched; after the restart the log verifies and calls
# are answered again.
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
chmod 755 "$work"
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
dm=auditdisk.$$ vol=auditvol.$$
mnt=$work/mnt
loop= vloop=
cleanup() {
	dmsetup resume "$dm" 2>/dev/null
	dmsetup remove "$vol" 2>/dev/null
	daemon_stop
	mountpoint -q "$mnt" && umount "$mnt"
	dmsetup remove "$dm" 2>/dev/null
	[[ -n $loop ]] && losetup -d "$loop"
	[[ -n $vloop ]] && losetup -d "$vloop"
	rm -rf "$work"
}
trap cleanup EXIT

# The daemon under another name: the kernel's ext4 errors name the
# process that met them, and a kernel log line at error level naming
# hsmkey is taken for the module's (tests/lib/scan-log.sh).
ln -s "$top/build/hsmkeyd" "$work/disktest-daemon"
daemon_bin=$work/disktest-daemon

# to TARGET: the device's table swapped for TARGET (linear or error),
# the I/O in flight completed first.
to() {
	local table="0 $sectors linear $loop 0" how=(--nolockfs --noflush) r

	# Into error: the file system's writes so far flushed first.  Back:
	# there is nothing left to flush, and a flush would fail.
	[[ $1 == error ]] && table="0 $sectors error" how=()
	dmsetup suspend "${how[@]}" "$dm" || return 1
	dmsetup load "$dm" --table "$table"
	r=$?
	dmsetup resume "$dm" || return 1	# never left suspended: the daemon would hang
	return $r
}
# encrypt N: N encryptions of the same 4 KiB, each blob into $work/blob.I.
encrypt() {
	local i
	for ((i = 0; i < $1; i++)); do
		ctl encrypt k --context app=disk < "$work/pt" > "$work/blob.$i" || return 1
	done
}
# refused CMD...: CMD fails saying the audit log cannot be written.
refused() { expect_fail "the audit log cannot be written" "$@"; }
# decrypts BLOB: BLOB decrypts to the plaintext.
decrypts() { cmp -s <(ctl decrypt --context app=disk < "$1") "$work/pt"; }

grep -q '^hsmkey ' /proc/modules || insmod "$HSMKEY_KO"
modprobe -q dm_mod
modprobe -q ext4
# Without a journal, and errors=continue: a journal would abort on the
# failed writes and turn the file system read-only for good, so that any
# daemon would be refused after the disk comes back, a correct one or not.
truncate -s 64M "$work/disk.img"
loop=$(losetup -f --show "$work/disk.img") && sectors=$(blockdev --getsz "$loop") &&
	dmsetup create "$dm" --table "0 $sectors linear $loop 0" && dmsetup mknodes "$dm" &&
	mkfs.ext4 -q -O ^has_journal -E nodiscard "/dev/mapper/$dm" && mkdir "$mnt" &&
	mount -o errors=continue "/dev/mapper/$dm" "$mnt" && mkdir -m 700 "$mnt/state"
check "the state directory is on ext4 (no journal) over dm-linear over a loop device" \
	test "$(stat -f -c %T "$mnt/state")" = ext2/ext3
daemon_state=$mnt/state
daemon_start || { fail "hsmkeyd starts"; tap_done; }
head -c 4096 /dev/urandom > "$work/pt"
make_xts_key "$work/xts"
quiet ctl import vol --type aes-256-xts --key-file "$work/xts"
quiet ctl create k --type kms-aes-256
truncate -s 16M "$work/vol.img"
vloop=$(losetup -f --show "$work/vol.img")
head -c 4M /dev/urandom > "$work/data"
check "a dm-crypt volume opened with a key in the kernel" quiet ctl dm open "$vloop" "$vol" --key vol
check "... takes 4 MiB" dd if="$work/data" of="/dev/mapper/$vol" bs=1M oflag=direct status=none
check "a KMS key granted encrypt and decrypt to root" \
	quiet ctl policy k --grant encrypt,decrypt:root
check "positive control: 50 encryptions on the good disk" encrypt 50
check "... their blobs decrypt" \
	decrypts "$work/blob.49"
check "... and the log verifies" quiet ctl audit verify

section "the disk fails"
check "dm's table is now the error target" to error
rm -f "$work/blob.0"
check "an encryption is refused: its record cannot be flushed" refused encrypt 1
check "... and gave no blob" test ! -s "$work/blob.0"
check "the daemon's log names the failed flush" \
	grep -q "the audit log.s disk failed a flush (Input/output error)" "$work/hsmkeyd.log"
check "the next encryption is refused too" refused encrypt 1
check "a change is refused (audit_fail_closed)" refused ctl create k2 --type kms-aes-256
check "the daemon still runs" kill -0 "$daemon_pid"
check "the volume keyed through the kernel still reads what was written" \
	cmp -s <(dd if="/dev/mapper/$vol" bs=1M count=4 iflag=direct status=none) "$work/data"
check "... and takes writes" \
	dd if="$work/data" of="/dev/mapper/$vol" bs=1M seek=4 oflag=direct status=none

section "the disk comes back"
check "dm's table is linear again" to linear
check "the file system takes a write and its flush again" \
	dd if=/dev/zero of="$mnt/probe" bs=4k count=1 conv=fsync status=none
check "an encryption is still refused: a failed flush is final until a restart" \
	refused encrypt 1
check "so is a change" refused ctl create k2 --type kms-aes-256
daemon_stop
umount "$mnt"
e2fsck -fy "/dev/mapper/$dm" >/dev/null 2>&1
check "e2fsck repairs what the failure left (exit status below 4)" test $? -lt 4
check "the file system mounts again" mount "/dev/mapper/$dm" "$mnt"
check "hsmkeyd starts again on it" daemon_start
check "the log verifies after the restart" quiet ctl audit verify
check "encryptions are answered again" encrypt 5
check "... the blob made before the failure decrypts" \
	decrypts "$work/blob.49"
check "the volume closes" quiet ctl dm close "$vol"
tap_done
