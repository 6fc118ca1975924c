# The PKCS#11 provisioning benchmark's parts, sourced by bench/run.sh (the
# guest's workload pkcs11, which measures hsmkeyd's own rate beside them)
# and tests/host/test_pkcs11_rate.sh.
#
# The goal: hsmkeyd provisions keys from an HSM at >= 0.90 of the rate the
# token itself achieves for the same calls (bench/pkcs11_rate.c), measured
# in the same run.  pkcs11_token makes a fresh SoftHSM token, pkcs11_run
# measures the token's rate on it; bench/run.sh pairs two such runs (the
# second the A/A control) with one of hsmkeyd's start-ups and bench/stats.py
# reads the pairs (row pkcs11-provision).
# Both numbers must come from the same machine: a rate measured in a TCG
# guest against one measured on the host is no ratio, so measure the
# baseline beside the daemon.
#
# Environment: BENCH_PKCS11_KEYS (2000 keys a run), BENCH_PKCS11_BATCH (256 keys per ECDH, as hsmkeyd batches),
# BENCH_PKCS11_MODULE (SoftHSM's module).

pkcs11_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$pkcs11_top/tests/lib/softhsm.sh"
pkcs11_dir=	# the token's directory (pkcs11_token)

# pkcs11_token DIR: a fresh SoftHSM token "bench" (hsmkeyd's) under
# DIR/pkcs11-token, private configuration, for the runs that follow.
pkcs11_token() {
	rm -rf "$1/pkcs11-token"
	mkdir -p "$1/pkcs11-token" || return 1
	# In a subshell: softhsm_setup exports SOFTHSM2_CONF, the caller's stays.
	(softhsm_setup "$1/pkcs11-token" && softhsm_token bench &&
		softhsm_pin_file "$1/pkcs11-token/pin") ||
		{ echo "pkcs11: no SoftHSM token" >&2; return 1; }
	pkcs11_use "$1"
}

# pkcs11_use DIR: the token pkcs11_token made under DIR, perhaps moved there
# since (its configuration written again), for the runs that follow; and
# beside it a token "direct" for bench/pkcs11_rate, so that each side's
# token holds its own keys only (SoftHSM's costs grow with a token's
# objects: the daemon's start-up enumerates them, pkcs11_rate does not).
pkcs11_use() {
	pkcs11_dir=$1/pkcs11-token
	[[ -r $pkcs11_dir/pin && -d $pkcs11_dir/tokens ]] ||
		{ echo "pkcs11: no token in $pkcs11_dir" >&2; return 1; }
	(softhsm_setup "$pkcs11_dir" &&
		{ softhsm2-util --show-slots | grep -q '^ *Label: *direct *$' ||
			softhsm_token direct; })
}

# pkcs11_run RUNS: RUNS timed runs of bench/pkcs11_rate on token "direct", in
# its token mode (token objects, as hsmkeyd wraps: the first run makes
# them, untimed, and later runs find them); prints their median (keys/s).
# One run at a time lets a caller interleave them with hsmkeyd's own.
# Fails if any check of pkcs11_rate failed.
pkcs11_run() {
	local out=$pkcs11_dir/run.txt
	SOFTHSM2_CONF=$pkcs11_dir/softhsm2.conf taskset -c 1 "$pkcs11_top/build/bench/pkcs11_rate" \
		"${BENCH_PKCS11_MODULE:-$SOFTHSM_MODULE}" direct "$pkcs11_dir/pin" \
		"${BENCH_PKCS11_KEYS:-2000}" "$1" "${BENCH_PKCS11_BATCH:-256}" token > "$out" || {
		echo "pkcs11: bench/pkcs11_rate failed:" >&2
		cat "$out" >&2
		return 1
	}
	sed -n 's/^median //p' "$out"
}
