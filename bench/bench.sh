#!/bin/bash
# make bench: boot Debian's stock kernel in QEMU and run bench/run.sh there,
# then print its report.  Environment: as bench/run.sh, plus KVER and
# HSMKEY_KVM=1 (KVM where the machine allows it; TCG otherwise); the pkcs11
# workload's BENCH_PKCS11_KEYS, BENCH_PKCS11_CREATE and BENCH_PKCS11_BATCH
# as bench/run.sh and bench/pkcs11.sh say (both of its rates are measured
# in the guest, interleaved); the fleet's BENCH_FLEET_N and
# BENCH_FLEET_POLL as bench/fleet.sh says (on the host); BENCH_CLOCK, the
# guest's clock (below).
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
BENCH_PKCS11_KEYS=${BENCH_PKCS11_KEYS:-2000}
BENCH_PKCS11_CREATE=${BENCH_PKCS11_CREATE:-20}
BENCH_PKCS11_BATCH=${BENCH_PKCS11_BATCH:-256}
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
# The same for the pkcs11 workload's keys, in a SoftHSM token.
pkeys=${BENCH_PKCS11_KEYS:-2000} pcreate=${BENCH_PKCS11_CREATE:-20}
if [[ -z ${BENCH_ONLY:-} || " $BENCH_ONLY " == *" pkcs11 "* ]]; then
	((pkeys > pcreate)) || { echo "bench: BENCH_PKCS11_KEYS must exceed BENCH_PKCS11_CREATE" >&2; exit 1; }
	"$top/bench/scale_prepare.sh" --pkcs11 $((pkeys - pcreate)) "$res/pkcs11-state.tar" \
		> "$res/pkcs11-prepare.txt" || exit 1
	cat "$res/pkcs11-prepare.txt"
fi
# Issue 14's fleet of daemons on one KMIP server: on the host (see bench/fleet.sh).
if [[ -z ${BENCH_ONLY:-} || " $BENCH_ONLY " == *" fleet "* ]]; then
	(set -o pipefail; "$top/bench/fleet.sh" | tee "$res/fleet.txt") || exit 1
	[[ ${BENCH_ONLY:-} == fleet ]] && exit 0	# nothing for the guest
fi
# The local KMS API's file throughput needs no kernel: on the host, first.
if [[ -z ${BENCH_ONLY:-} || " $BENCH_ONLY " == *" kms "* ]]; then
	(set -o pipefail; "$top/bench/kms.sh" | tee "$res/kms.txt") || exit 1
	[[ ${BENCH_ONLY:-} == kms ]] && exit 0	# nothing for the guest
fi
# The guest's clock is its TSC, as on the hardware hsmkey is for
# (BENCH_CLOCK=tsc, the default; BENCH_CLOCK=hpet leaves the kernel's
# choice, for comparison).  Under TCG the emulated CPU does not say its TSC
# is constant, so with two CPUs the kernel assumes their TSCs out of step
# and falls back to the HPET, whose every read (each clock_gettime, timer
# and timeout) is a device access QEMU serves under its global lock: a cost
# real machines do not have, paid by each side as often as it reads the
# clock, and so expected to weigh more on the daemon's side (threads that
# wait with timeouts) than on a loop of token calls.  QEMU gives every vCPU
# the same counter, so tsc=reliable is true here.  KVM guests have
# kvm-clock and are left alone.
clock=
case ${BENCH_CLOCK:-tsc} in
tsc) [[ ${HSMKEY_KVM:-0} == 1 ]] || clock=tsc=reliable ;;
hpet) ;;
*) echo "bench: BENCH_CLOCK is tsc or hpet" >&2; exit 1 ;;
esac
HSMKEY_APPEND="$clock ${HSMKEY_APPEND:-}" \
HSMKEY_GUEST_MEM=${HSMKEY_GUEST_MEM:-3072} \
	"$top/tests/qemu/boot.sh" "$kver" "$res" 7200 "$top/bench/run.sh"
rc=$?
cat "$res/output.txt" 2>/dev/null
[[ $rc == 0 ]] && rc=$(cat "$res/cmd-rc.txt" 2>/dev/null || echo 1)
exit "$rc"
