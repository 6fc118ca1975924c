#!/bin/bash
# The local KMS API's file throughput, on the host (the daemon needs no
# kernel module for it): hsmkeyctl encrypt-file of a file in tmpfs against
# bench/kms_file_ref (the same file streamed through OpenSSL's EVP
# AES-256-GCM), the two interleaved, BENCH_PAIRS (7) pairs; the ratio is
# the median of the pairs' ratios.  BENCH_FILE_MB (256) sets the size.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
pairs=${BENCH_PAIRS:-7} mb=${BENCH_FILE_MB:-256}
work=$(mktemp -d /dev/shm/hsmkey-bench.XXXXXX)
chmod 755 "$work"
. "$top/tests/lib/daemon.sh"
trap 'daemon_stop; rm -rf "$work"' EXIT
daemon_start || { echo "bench kms: hsmkeyd does not start" >&2; exit 1; }
ctl create fbench --type kms-aes-256 > /dev/null &&
	ctl policy fbench --grant data-key,decrypt:root > /dev/null || exit 1
head -c $((mb * 1048576)) /dev/urandom > "$work/data"
# secs CMD...: the wall seconds CMD takes.
secs() { local t0 t1; t0=$(date +%s.%N); "$@" || return 1; t1=$(date +%s.%N); awk "BEGIN { print $t1 - $t0 }"; }
div() { awk "BEGIN { print $1 / $2 }"; }
ratios=() ours=() refs=()
for ((i = 0; i < pairs; i++)); do
	rm -f "$work/out"
	a=$(secs ctl encrypt-file fbench "$work/data" "$work/out") || exit 1
	rm -f "$work/out"
	b=$(secs bash -c "'$top/build/bench/kms_file_ref' < '$work/data' > '$work/out'") || exit 1
	ours+=("$(div "$mb" "$a")") refs+=("$(div "$mb" "$b")") ratios+=("$(div "$b" "$a")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ctl encrypt-file fbench "$work/data" "$work/s" && rm -f "$work/out"
d=$(secs ctl decrypt-file "$work/s" "$work/out")
cmp -s "$work/out" "$work/data" || { echo "bench kms: decrypt-file gave other bytes" >&2; exit 1; }
printf 'encrypt-file %d MiB: %.0f MiB/s; EVP AES-256-GCM stream: %.0f MiB/s; ratio %.3f (median of %d pairs; goal >= 0.90)\n' \
	"$mb" "$(median "${ours[@]}")" "$(median "${refs[@]}")" "$(median "${ratios[@]}")" "$pairs"
printf 'decrypt-file %d MiB: %.0f MiB/s\n' "$mb" "$(div "$mb" "$d")"
