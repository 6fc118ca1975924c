#!/bin/bash
# Positive controls for the kernel log scan: a clean log passes, and a log
# with any one of the reports the scan looks for fails.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/clean" <<'LOG'
<6>[    0.000000] Command line: console=ttyS0 panic=-1 oops=panic loglevel=4
<5>[    0.097752] Kernel command line: console=ttyS0 panic=-1 oops=panic hsmkey_init=/x
<4>[    6.839340] hsmkey: loading out-of-tree module taints kernel.
<6>[    6.894490] hsmkey: xts-hsmaes registered over xts-aes-aesni, self-test passed
<6>[    6.845546] alg: No test for xts(hsmaes) (xts-hsmaes)
<3>[    9.100000] Buffer I/O error on dev dm-0, logical block 0, async page read
<6>[    9.479859] kmemleak: Kernel memory leak detector initialized (mem pool available: 15063)
<6>[    9.494728] kmemleak: Automatic memory scanning thread started
<6>[   12.300000] hsmkey: removed key nlfz-426f03cpanicrw version 3
LOG
check "a clean log passes" "$top/tests/lib/scan-log.sh" "$work/clean"
while IFS= read -r line; do
	{ cat "$work/clean"; echo "$line"; } > "$work/dirty"
	check "caught: ${line#*] }" bash -c "! '$top/tests/lib/scan-log.sh' '$work/dirty' >/dev/null"
done <<'LOG'
<4>[   10.000000] WARNING: CPU: 1 PID: 99 at kmod/keys.c:120 hsmkey_key_put+0x10/0x20 [hsmkey]
<1>[   10.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008
<4>[   10.000000] Oops: 0000 [#1] PREEMPT SMP NOPTI
<4>[   10.000000] general protection fault, probably for non-canonical address 0xdead000000000100
<3>[   10.000000] BUG: KASAN: use-after-free in hsmkey_skcipher_crypt+0x44/0x90
<3>[   10.000000] UBSAN: shift-out-of-bounds in kmod/token.c:40:3
<3>[   10.000000] kmemleak: 1 new suspected memory leaks (see /sys/kernel/debug/kmemleak)
unreferenced object 0xff11000004e2c000 (size 512):
<4>[   10.000000] WARNING: possible circular locking dependency detected
<3>[   10.000000] INFO: task kworker/0:1:42 blocked for more than 120 seconds. hung task
<3>[   10.000000] rcu: INFO: rcu_preempt self-detected stall on CPU
<3>[   10.000000] alg: skcipher: xts-hsmaes encryption test failed (wrong result) on test vector 1
<0>[   10.000000] Kernel panic - not syncing: Fatal exception
<3>[   10.000000] hsmkey: xts-hsmaes self-test failed on IEEE 1619 vector 2: -74
LOG
tap_done
