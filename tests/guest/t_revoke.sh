#!/bin/bash
# Revocation fails closed: after "hsmkeyctl revoke", direct reads and writes
# on the volume fail with EIO, no request started after revoke returned
# succeeds, and a volume on another key keeps working.
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

daemon_start || { fail "hsmkeyd starts"; tap_done; }
errno_of() { python3 -c "import errno, sys; print(getattr(errno, sys.argv[1]))" "$1"; }
for v in a b; do
	truncate -s 16M "$work/disk-$v.img"
	eval "loop_$v=\$(losetup --find --show '$work/disk-$v.img')"
	head -c 4M /dev/urandom > "$work/data-$v"
done
check "create key a" quiet ctl create rev-a --type aes-256-xts
check "create key b" quiet ctl create rev-b --type aes-256-xts
check "open volume a" quiet ctl dm open "$loop_a" vol-a --key rev-a
check "open volume b" quiet ctl dm open "$loop_b" vol-b --key rev-b
check "write volume a" dd if="$work/data-a" of=/dev/mapper/vol-a bs=1M oflag=direct status=none
check "write volume b" dd if="$work/data-b" of=/dev/mapper/vol-b bs=1M oflag=direct status=none

# Direct I/O on volume a until told to stop; each line: started-after-revoke result.
io_loop() {
	local i=0 after
	while [[ ! -e $work/stop ]]; do
		after=0; [[ -e $work/revoked ]] && after=1
		if dd if=/dev/mapper/vol-a of=/dev/null bs=4k count=1 skip=$((i % 1024)) iflag=direct status=none 2>/dev/null
		then echo "$after read ok"; else echo "$after read fail"; fi
		after=0; [[ -e $work/revoked ]] && after=1
		if dd if=/dev/zero of=/dev/mapper/vol-a bs=4k count=1 seek=$((1024 + i % 1024)) oflag=direct status=none 2>/dev/null
		then echo "$after write ok"; else echo "$after write fail"; fi
		i=$((i + 1))
	done
}
io_loop > "$work/io.log" &
io=$!
# AF_ALG users of the same key at the same time, on their own tfms.
token=$(ctl token rev-a)
for n in 1 2; do
	"$top/build/tests/guest/alg_loop" "$token" 'xts(hsmaes)' "$work/revoked" "$work/stop" \
		> "$work/alg$n.log" 2>&1 &
	eval "alg$n=\$!"
done
sleep 2
check "hsmkeyctl revoke while I/O runs" quiet ctl revoke rev-a
touch "$work/revoked"
sleep 2
touch "$work/stop"
wait "$io" "$alg1" "$alg2"
for n in 1 2; do
	a_before=$(grep -c '^0 ok$' "$work/alg$n.log")
	a_after=$(grep -c '^1 ' "$work/alg$n.log")
	a_after_ok=$(grep -c '^1 ok$' "$work/alg$n.log")
	a_other=$(grep '^1 fail' "$work/alg$n.log" | grep -vc "^1 fail $(errno_of EKEYREVOKED)$")
	diag "AF_ALG user $n: $a_before requests before revoke; after: $a_after, $a_after_ok succeeded"
	check "AF_ALG user $n: requests succeeded before revoke" test "$a_before" -gt 0
	check "AF_ALG user $n: requests were issued after revoke" test "$a_after" -gt 0
	check "AF_ALG user $n: none issued after revoke succeeded, all failed with EKEYREVOKED" \
		test "$a_after_ok" -eq 0 -a "$a_other" -eq 0
done
before_ok=$(grep -c '^0 .* ok$' "$work/io.log")
after_n=$(grep -c '^1 ' "$work/io.log")
after_ok=$(grep -c '^1 .* ok$' "$work/io.log")
diag "I/O before revoke: $before_ok succeeded; after: $after_n requests, $after_ok succeeded"
check "I/O succeeded before revoke" test "$before_ok" -gt 0
check "requests were issued after revoke" test "$after_n" -gt 0
check "no request issued after revoke succeeded" test "$after_ok" -eq 0

echo 3 > /proc/sys/vm/drop_caches
dd if=/dev/mapper/vol-a of=/dev/null bs=4k count=1 iflag=direct status=none 2>"$work/read.err"
check "direct read after revoke fails with EIO" grep -q 'Input/output error' "$work/read.err"
dd if=/dev/zero of=/dev/mapper/vol-a bs=4k count=1 oflag=direct status=none 2>"$work/write.err"
check "direct write after revoke fails with EIO" grep -q 'Input/output error' "$work/write.err"
check "buffered read after revoke fails" bash -c "! head -c 65536 /dev/mapper/vol-a >/dev/null 2>&1"

echo 3 > /proc/sys/vm/drop_caches
check "volume b still reads its data" cmp -n 4194304 "$work/data-b" /dev/mapper/vol-b
check "volume b still takes writes" dd if="$work/data-a" of=/dev/mapper/vol-b bs=1M oflag=direct status=none
echo 3 > /proc/sys/vm/drop_caches
check "volume b reads the new data" cmp -n 4194304 "$work/data-a" /dev/mapper/vol-b
check "the key is listed as revoked" grep -q '^rev-a .* revoked *revoked' <(ctl list)
check "a revoked key cannot open a volume" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' dm open '$loop_a' vol-c --key rev-a 2>/dev/null"
check "close volume a" quiet ctl dm close vol-a
check "close volume b" quiet ctl dm close vol-b
losetup -d "$loop_a" "$loop_b"

# Fail closed when the loaded module cannot be reached: a daemon in another
# network namespace (the family is not netns-aware) must not report a
# change done that the kernel never made.
check "create key c (provisioned)" quiet ctl create rev-c --type aes-256-xts
check "create key d (provisioned)" quiet ctl create rev-d --type aes-256-xts
check "create key e (provisioned)" quiet ctl create rev-e --type aes-256-xts
daemon_stop
daemon_wrap="unshare -n" daemon_start || fail "hsmkeyd starts in another network namespace"
for op in "revoke rev-c" "disable rev-d" "policy rev-d --users root" "schedule-deletion rev-d"; do
	check "'$op' through a daemon that cannot reach the loaded module fails, saying so" \
		bash -c "! '$top/build/hsmkeyctl' --socket '$sock' $op > '$work/unreach.out' 2>&1 &&
			 grep -q 'cannot be reached' '$work/unreach.out'"
done
# Key e: revoked, then scheduled for deletion, both kernel steps failing;
# the keystore holds both.  Waiting for its deletion it is still revoked.
quiet "$top/build/hsmkeyctl" --socket "$sock" revoke rev-e 2>/dev/null
quiet "$top/build/hsmkeyctl" --socket "$sock" schedule-deletion rev-e 2>/dev/null
daemon_stop
daemon_start || fail "hsmkeyd starts again"
check "back in reach, the daemon converges: key c is revoked in the kernel" \
	grep -q '^rev-c .* revoked *revoked' <(ctl list)
check "and key e, revoked and waiting for its deletion, is revoked there too (not merely disabled)" \
	grep -qE '^rev-e .* pending-deletion +revoked' <(ctl list)

# A damaged key file must not keep its key usable: a revoke the keystore
# cannot read or record still revokes the kernel's copies (by name).
afalg=$top/tests/guest/afalg.py
check "create key f (provisioned)" quiet ctl create rev-f --type aes-256-xts
ftoken=$(ctl token rev-f)
check "key f binds" test "$("$afalg" bind "$ftoken")" = ok
printf 'x' | dd of="$work/state/keys/rev-f.json" bs=1 seek=40 conv=notrunc status=none
check "revoking key f, its file damaged, fails, saying its kernel copy was revoked" \
	bash -c "! '$top/build/hsmkeyctl' --socket '$sock' revoke rev-f > '$work/damaged.out' 2>&1 &&
		 grep -q 'its kernel copies were revoked (1)' '$work/damaged.out'"
check "and key f no longer binds (EKEYREVOKED)" test "$("$afalg" bind "$ftoken")" = EKEYREVOKED
daemon_stop
tap_done
