#!/bin/bash
# make bench: boot Debian's stock kernel in QEMU and run bench/run.sh there,
# then print its report.  Environment: as bench/run.sh, plus KVER and
# HSMKEY_KVM=1 (KVM where the machine allows it; TCG otherwise); the pkcs11
# workload (SoftHSM's rate, on the host) as bench/pkcs11.sh says;
# BENCH_ONLY=pkcs11 runs only that, without a guest.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
kver=${KVER:-$(make -s -C "$top" print-kver)}
res=$top/build/bench-results
rm -rf "$res"
mkdir -p "$res"
# The guest reads its settings from the results directory it shares.
cat > "$res/bench.env" <<EOT
BENCH_PAIRS=${BENCH_PAIRS:-10}
BENCH_SECONDS=${BENCH_SECONDS:-3}
BENCH_KEYS=${BENCH_KEYS:-100000}
BENCH_SCALE_KEYS=${BENCH_SCALE_KEYS:-100000}
BENCH_SCALE_CREATE=${BENCH_SCALE_CREATE:-1000}
BENCH_ONLY="${BENCH_ONLY:-}"
EOT
make -s -C "$top" all bench-tools || exit 1
# The scale workload's keys but the BENCH_SCALE_CREATE the guest makes.
only=" ${BENCH_ONLY:-scale} "
skeys=${BENCH_SCALE_KEYS:-100000} screate=${BENCH_SCALE_CREATE:-1000}
if [[ $only == *" scale "* ]] && ((skeys > screate)); then
	"$top/bench/scale_prepare.sh" $((skeys - screate)) "$res/scale-state.tar" \
		> "$res/scale-prepare.txt" || exit 1
	cat "$res/scale-prepare.txt"
fi
# SoftHSM's own rate for the end-to-end delivery calls (pkcs11), on the
# host before the boot: bench/pkcs11.sh.  hsmkeyd's provisioning rate goes
# beside it with pkcs11_ratio RATE, measured on the same machine.
. "$top/bench/pkcs11.sh"
if [[ -z ${BENCH_ONLY:-} || " $BENCH_ONLY " == *" pkcs11 "* ]]; then
	pkcs11_baseline "$res" > "$res/pkcs11.txt" || exit 1
fi
# Only the host's part asked for: no guest.
[[ ${BENCH_ONLY:-} == pkcs11 ]] && { cat "$res/pkcs11.txt"; exit 0; }
HSMKEY_GUEST_MEM=${HSMKEY_GUEST_MEM:-3072} \
	"$top/tests/qemu/boot.sh" "$kver" "$res" 7200 "$top/bench/run.sh"
rc=$?
cat "$res/output.txt" 2>/dev/null
cat "$res/pkcs11.txt" 2>/dev/null
[[ $rc == 0 ]] && rc=$(cat "$res/cmd-rc.txt" 2>/dev/null || echo 1)
exit "$rc"
