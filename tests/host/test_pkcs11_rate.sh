#!/bin/bash
# The PKCS#11 provisioning baseline (bench/pkcs11_rate.c, bench/pkcs11.sh)
# does the work it claims and reports it the way the bench reads it: on a
# SoftHSM token of the test's own, the design's known answer comes out, every
# blob unwraps under OpenSSL, setup errors are told apart, and the ratio
# row's verdict follows the goal (>= 0.90) and the baseline's noise.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/bench/pkcs11.sh"
rate=$top/build/bench/pkcs11_rate
[[ -x $rate ]] || { echo "Bail out! build/bench/pkcs11_rate missing: make tests"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rc() { local want=$1; shift; "$@" > "$work/out" 2> "$work/err"; [[ $? == "$want" ]]; }

check "a fresh token for the baseline" pkcs11_token "$work"
export SOFTHSM2_CONF=$pkcs11_dir/softhsm2.conf
module=$SOFTHSM_MODULE
check "pkcs11_rate: 300 keys, 2 runs, an ECDH per 100 keys" \
	rc 0 "$rate" "$module" bench "$pkcs11_dir/pin" 300 2 100
check "...SoftHSM gave the known answer's blob byte for byte" \
	grep -qx 'known answer: the vector.s blob, byte for byte' "$work/out"
check "...all 600 blobs unwrapped by OpenSSL to the key" \
	grep -qx 'checked 600 blobs: 0 did not unwrap (OpenSSL) to the key' "$work/out"
check "...a rate per run and their median" \
	bash -c "test \$(grep -c '^rep [12] [1-9][0-9]*$' '$work/out') = 2 &&
		grep -q '^median [1-9][0-9]*$' '$work/out'"
diag "$(tr '\n' ';' < "$work/out")"
softhsm_pin_file "$work/badpin" 4321
check "a wrong PIN: exit 2, said" rc 2 "$rate" "$module" bench "$work/badpin" 10 1
check "...with the token's answer" grep -q 'refused the PIN (C_Login): CK_RV 0xa0' "$work/err"
check "no such token: exit 2" rc 2 "$rate" "$module" nosuch "$pkcs11_dir/pin" 10 1
check "no such module: exit 2" rc 2 "$rate" /nonexistent.so bench "$pkcs11_dir/pin" 10 1
check "usage: 0 keys (exit 2)" rc 2 "$rate" "$module" bench "$pkcs11_dir/pin" 0 1

export BENCH_PKCS11_KEYS=200
# row RATES DAEMON: pkcs11_ratio's row for DAEMON against the runs in RATES.
row() { pkcs11_rates=$1; pkcs11_ratio "$2" > "$work/row" 2> "$work/err"; }
once=$(pkcs11_run 1)
check "pkcs11_run: one run, its median printed" grep -qx '[1-9][0-9]*' <<< "$once"
check "...and its rate appended to the runs" grep -q '^rep 1 [1-9]' "$work/pkcs11-softhsm.txt"
# The ratio row against baselines of known rates.
printf 'rep 1 10000\nrep 2 10100\nrep 3 9900\nrep 4 10050\nrep 5 9950\n' > "$work/quiet"
row "$work/quiet" 9500
check "ratio 0.950: meets goal >= 0.90" \
	grep -q '^pkcs11-provision *9500.0 *10000.0 *0.950 .* meets goal >= 0.90' "$work/row"
row "$work/quiet" 8000
check "ratio 0.800: MISSES" grep -q ' 0.800 .* MISSES goal >= 0.90' "$work/row"
pkcs11_rates=$work/quiet pkcs11_ratio 8000 one > "$work/row" 2> "$work/err"
check "everything on one CPU: its own row, for information, no verdict" \
	bash -c "grep -q '^pkcs11-provision-1cpu *8000.0 *10000.0 *0.800 .* for information' '$work/row' &&
		! grep -Eq 'meets|MISSES' '$work/row'"
printf 'rep 1 6000\nrep 2 16000\nrep 3 9000\nrep 4 15000\nrep 5 10000\n' > "$work/noisy"
row "$work/noisy" 10000
check "a noisy baseline: inconclusive, whatever the ratio" \
	grep -q 'inconclusive: baseline noise' "$work/row"
head -n 3 "$work/quiet" > "$work/few"
row "$work/few" 10000
check "3 baseline runs: inconclusive" grep -q 'inconclusive: 3 baseline runs, 5 needed' "$work/row"
row "$work/none" 10000
check "no baseline: fails" test $? = 1
check "...saying so" grep -q 'no baseline measured' "$work/err"
tap_done
