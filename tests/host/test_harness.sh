#!/bin/bash
# The harness fails when it must: a warning in a real guest's kernel log is
# caught by the scan, and a guest that hangs is stopped and reported.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
kver=${KVER:-$(make -s -C "$top" print-kver)}
res=$top/build/results/harness
rm -rf "$res"
check "a guest boots and runs a command" "$top/tests/qemu/boot.sh" "$kver" "$res/warn" 120 \
	"$top/tests/guest/harness_control.sh" warn
check "the scan catches a warning in the guest's kernel log" \
	bash -c "! '$top/tests/lib/scan-log.sh' '$res/warn/dmesg.txt' >/dev/null"
start=$SECONDS
"$top/tests/qemu/boot.sh" "$kver" "$res/hang" 25 "$top/tests/guest/harness_control.sh" hang 2>/dev/null
rc=$?
check "a hanging guest is stopped and reported (exit 124)" test "$rc" = 124
check "within its timeout" test $((SECONDS - start)) -lt 45
tap_done
