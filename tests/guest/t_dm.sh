#!/bin/bash
# dm-crypt interoperability: a volume opened with "hsmkeyctl dm open" and
# the same key imported raw into stock cryptsetup (plain, aes-xts-plain64)
# read each other's data; the dm table shows neither key nor token; the
# key imported wrapped (RSA-OAEP by openssl) is the same key.
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

daemon_start || { fail "hsmkeyd starts"; tap_done; }
make_xts_key "$work/raw.key"
truncate -s 32M "$work/disk.img"
loop=$(losetup --find --show "$work/disk.img")
head -c 8M /dev/urandom > "$work/data1"
head -c 8M /dev/urandom > "$work/data2"

check "import the raw key" quiet ctl import interop --type aes-256-xts --key-file "$work/raw.key"
check "hsmkeyctl dm open" quiet ctl dm open "$loop" hsm-vol --key interop
table=$(dmsetup table --showkeys hsm-vol)
diag "table: $table"
check "the table names capi:xts(hsmaes)-plain64 and a logon key" \
	grep -q 'capi:xts(hsmaes)-plain64 :64:logon:hsmkey:hsm-vol ' <<<"$table"
keyhex=$(od -An -tx1 -v "$work/raw.key" | tr -d ' \n')
check "the table does not hold the key" bash -c "! grep -qi '${keyhex:0:32}\|${keyhex:64:32}' <<<'$table'"
check "the table holds no hex string of token length" bash -c "! grep -qE '[0-9a-f]{64}' <<<'$table'"
check "write through hsmkey" dd if="$work/data1" of=/dev/mapper/hsm-vol bs=1M oflag=direct status=none
check "hsmkeyctl dm close" quiet ctl dm close hsm-vol
check "the device holds ciphertext, not the data" bash -c "! cmp -s -n 8388608 '$work/data1' '$loop'"

check "stock cryptsetup open with the raw key" cryptsetup open --type plain \
	--cipher aes-xts-plain64 --key-size 512 --key-file "$work/raw.key" "$loop" stock-vol
echo 3 > /proc/sys/vm/drop_caches
check "stock dm-crypt reads what hsmkey wrote" cmp -n 8388608 "$work/data1" /dev/mapper/stock-vol
check "write through stock dm-crypt" dd if="$work/data2" of=/dev/mapper/stock-vol bs=1M oflag=direct status=none
check "cryptsetup close" cryptsetup close stock-vol

check "hsmkeyctl dm open again" quiet ctl dm open "$loop" hsm-vol --key interop
echo 3 > /proc/sys/vm/drop_caches
check "hsmkey reads what stock dm-crypt wrote" cmp -n 8388608 "$work/data2" /dev/mapper/hsm-vol
check "hsmkey dm close before the workqueue test" quiet ctl dm close hsm-vol

# dm-crypt without its workqueues (requests in the submitter's context and
# in softirq on completion), keyed with the token through a logon key.
token=$(ctl token interop)
check "hsmkeyctl token prints the 64-byte token in hex" grep -qE '^[0-9a-f]{128}$' <<<"$token"
sectors=$(blockdev --getsz "$loop")
nowq() {
	keyctl session - bash -c "
		python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' '$token' |
			keyctl padd logon hsmkey:wq @s >/dev/null &&
		dmsetup create wq-vol --table '0 $sectors crypt capi:xts(hsmaes)-plain64 :64:logon:hsmkey:wq 0 $loop 0 2 no_read_workqueue no_write_workqueue' &&
		dmsetup mknodes wq-vol"
}
check "dm-crypt with no_read_workqueue and no_write_workqueue" nowq
check "the table keeps both flags" grep -q 'no_read_workqueue no_write_workqueue' <(dmsetup table wq-vol)
check "the device node exists" test -b /dev/mapper/wq-vol
echo 3 > /proc/sys/vm/drop_caches
check "reads without workqueues see stock dm-crypt's data" cmp -n 8388608 "$work/data2" /dev/mapper/wq-vol
check "writes without workqueues" dd if="$work/data1" of=/dev/mapper/wq-vol bs=64k oflag=direct status=none
check "close the workqueue-less volume" dmsetup remove wq-vol
check "stock cryptsetup open again" cryptsetup open --type plain \
	--cipher aes-xts-plain64 --key-size 512 --key-file "$work/raw.key" "$loop" stock-vol
echo 3 > /proc/sys/vm/drop_caches
check "stock dm-crypt reads what the workqueue-less volume wrote" cmp -n 8388608 "$work/data1" /dev/mapper/stock-vol
check "cryptsetup close" cryptsetup close stock-vol
check "hsmkeyctl dm open once more" quiet ctl dm open "$loop" hsm-vol --key interop

check "create a CBC key" quiet ctl create cbc-key --type aes-256-cbc
check "dm open refuses a CBC key, saying why" bash -c "'$top/build/hsmkeyctl' --socket '$sock' dm open '$loop' cbc-vol --key cbc-key 2>&1 | grep -q 'need an aes-128-xts or aes-256-xts key'"
check "dm close refuses a volume hsmkey did not open" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' dm close nosuch 2>/dev/null"
check "hsmkeyctl dm close" quiet ctl dm close hsm-vol

# The same key imported wrapped (RSA-OAEP to the daemon's import key, by
# openssl) reads what stock dm-crypt wrote with the raw key.
ctl import-key > "$work/import.pem" 2>/dev/null
check "wrap the raw key with openssl" openssl pkeyutl -encrypt -pubin -inkey "$work/import.pem" \
	-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
	-in "$work/raw.key" -out "$work/raw.wrapped"
check "import it wrapped" quiet ctl import interop-w --type aes-256-xts --wrapped-file "$work/raw.wrapped"
check "dm open with the wrapped import" quiet ctl dm open "$loop" hsm-w --key interop-w
echo 3 > /proc/sys/vm/drop_caches
check "the wrapped import is the same key: it reads the stock-written data" cmp -n 8388608 "$work/data1" /dev/mapper/hsm-w
check "close it" quiet ctl dm close hsm-w

losetup -d "$loop"
daemon_stop
tap_done
