#!/bin/bash
# The local KMS API on the host (the daemon needs no kernel module for it;
# without one, no audit anchor goes to the kernel per call), the daemon's
# state and the audit log in tmpfs, then once more on disk; last, for
# information, the socket rows on backend = pkcs11 (SoftHSM2).
#
# Through the socket (bench/kms_socket): encrypt and decrypt of 4 KiB, one
# item a call and BENCH_BATCH (8) a call, and ECDSA P-256 signatures of a
# 4 KiB message, from 1 and 4 clients, each against a minimal UNIX-socket
# echo server (SOCK_SEQPACKET, a thread per connection, as hsmkeyd's socket
# is) sent messages of the request's size by as many clients, measured
# just before it: the ratio is items a second over echoes a second times
# the items a call.  BENCH_SOCKET_SECONDS (3) a measurement.
#
# Beside the single encrypt rows in tmpfs, the floor (kms_socket floor,
# bench/kms_floor.c): a minimal server on the same kind of socket doing an
# encrypt call's work with hsmkeyd's guarantees (the key opened from its
# sealed copy for the call and wiped after, AES-256-GCM of the item, a
# chained MACed record of the call appended to a log in tmpfs and flushed
# before the reply) and nothing else, against the echo measured just before
# it: how much of the gap to the echo is that work, and how much hsmkeyd's
# own path.  Its log is checked after: every record in the chain.
#
# Files: hsmkeyctl encrypt-file of a file in tmpfs against
# bench/kms_file_ref (the same file streamed through OpenSSL's EVP
# AES-256-GCM), the two interleaved, BENCH_PAIRS (7) pairs; the ratio is
# the median of the pairs' ratios.  BENCH_FILE_MB (256) sets the size.
#
# A verdict line for each goal: the single AES operations' lowest ratio
# (>= 0.70; in tmpfs, and on disk), and the file ratio's (>= 0.90; from 5
# pairs up, "inconclusive" below).
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
ks=$top/build/bench/kms_socket secs_sock=${BENCH_SOCKET_SECONDS:-3} nbatch=${BENCH_BATCH:-8}
ctl create kbench --type kms-aes-256 > /dev/null &&
	ctl policy kbench --grant encrypt,decrypt:root > /dev/null &&
	ctl create sbench --type ecdsa-p256 > /dev/null &&
	ctl policy sbench --grant sign,verify:root > /dev/null || exit 1
"$ks" echo "$work/echo.sock" & server_pids=$!
"$ks" floor "$work/floor.sock" "$work/floor.log" & server_pids+=" $!"
trap 'kill $server_pids 2>/dev/null; daemon_stop; rm -rf "$work"' EXIT
for ((i = 0; i < 50; i++)); do
	[[ -S $work/echo.sock && -S $work/floor.sock ]] && break
	sleep 0.1
done
# socket_row OP KEY CLIENTS BATCH SOCKET: one line, and the ratio into $row_ratio.
socket_row() {
	local op=$1 key=$2 c=$3 b=$4 s=$5 size e k
	size=$("$ks" size "$op" "$b") || exit 1
	e=$("$ks" echo-rate "$work/echo.sock" "$c" "$secs_sock" "$size") || exit 1
	k=$("$ks" rate "$s" "$op" "$key" "$c" "$secs_sock" "$b") || exit 1
	row_ratio=$(awk "BEGIN { printf \"%.3f\", $k / ($e * $b) }")
	printf '%-8s %d client(s), %2d item(s)/call: %7.0f items/s; echo of %6d bytes: %7.0f/s; ratio %s\n' \
		"$op" "$c" "$b" "$k" "$size" "$e" "$row_ratio"
}
# floor_row CLIENTS: the floor's rate for a single encrypt's request, against
# the echo; its ratio into $row_ratio.
floor_row() {
	local c=$1 size e f
	size=$("$ks" size encrypt 1) || exit 1
	e=$("$ks" echo-rate "$work/echo.sock" "$c" "$secs_sock" "$size") || exit 1
	f=$("$ks" floor-rate "$work/floor.sock" "$c" "$secs_sock" "$size") || exit 1
	row_ratio=$(awk "BEGIN { printf \"%.3f\", $f / $e }")
	printf 'floor    %d client(s),  1 item(s)/call: %7.0f items/s; echo of %6d bytes: %7.0f/s; ratio %s\n' \
		"$c" "$f" "$size" "$e" "$row_ratio"
}
# socket_table SOCKET WHERE [floor]: every row (and the floor's beside the
# single encrypts); the single AES rows' lowest ratio into $low, and the
# single encrypts' and the floor's into $enc1, $enc4, $floor1, $floor4 (read
# right after the tmpfs table: the next table sets them again).
socket_table() {
	local c op
	low=9
	echo "KMS API through the socket, state $2:"
	for c in 1 4; do
		for op in encrypt decrypt; do
			socket_row "$op" kbench "$c" 1 "$1"
			low=$(awk "BEGIN { print ($row_ratio < $low) ? $row_ratio : $low }")
			[[ $op == encrypt ]] && printf -v "enc$c" %s "$row_ratio"
			if [[ $op == encrypt && -n ${3:-} ]]; then
				floor_row "$c"
				printf -v "floor$c" %s "$row_ratio"
			fi
			socket_row "$op" kbench "$c" "$nbatch" "$1"
		done
		socket_row sign sbench "$c" 1 "$1"
	done
}
socket_table "$sock" "in tmpfs" floor
python3 - "$work/floor.log" <<'PY' || { echo "bench kms: the floor's log does not verify" >&2; exit 1; }
import hashlib, hmac, sys
data = open(sys.argv[1], "rb").read()
key = open(sys.argv[1] + ".key", "rb").read()
prev = bytes(32)
for i in range(0, len(data), 128):
    r = data[i:i + 128]
    if len(r) != 128 or not r.startswith(b"uid=") or \
       hmac.new(key, r[:96] + prev, hashlib.sha256).digest() != r[96:]:
        sys.exit(1)
    prev = r[96:]
sys.exit(0 if data else 1)
PY
# verdict RATIO GOAL: "met" or "not met" (RATIO as printed: 3 decimals).
verdict() { awk "BEGIN { print ($(printf %.3f "$1") >= $2) ? \"met\" : \"not met\" }"; }
printf 'single AES operations: lowest ratio %.3f (goal >= 0.70: %s)\n' "$low" "$(verdict "$low" 0.70)"
printf 'the floor (the work alone): %.3f with 1 client, %.3f with 4; hsmkeyd'"'"'s single encrypt at %.3f and %.3f of it\n' \
	"$floor1" "$floor4" "$(awk "BEGIN { print $enc1 / $floor1 }")" "$(awk "BEGIN { print $enc4 / $floor4 }")"
# RSA: the key rebuilt from its primes for each signature, and the
# socket, against OpenSSL signing in-process with the same key.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.pem" 2>/dev/null
ctl import rbench --type rsa-2048 --key-file "$work/rsa.pem" > /dev/null &&
	ctl policy rbench --grant sign,verify:root > /dev/null || exit 1
echo "RSA-2048 signatures of 4 KiB (SHA-256), hsmkeyd against OpenSSL in-process, same key:"
for pad in pkcs1 pss; do
	op=sign local=()
	[[ $pad == pss ]] && op=sign-pss local=(pss)
	for c in 1 2; do
		k=$("$ks" rate "$sock" "$op" rbench "$c" "$secs_sock" 1) || exit 1
		o=$("$ks" local-sign "$work/rsa.pem" "$c" "$secs_sock" "${local[@]}") || exit 1
		printf '%-6s %d client(s): %6.0f/s; OpenSSL %6.0f/s; ratio %.3f\n' "$pad" "$c" \
			"$k" "$o" "$(awk "BEGIN { print $k / $o }")"
	done
done
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
# The verdict on the ratio as printed, and only from 5 pairs up (as bench/run.sh's).
fr=$(printf %.3f "$(median "${ratios[@]}")")
fv=$(verdict "$fr" 0.90)
((pairs >= 5)) || fv="inconclusive, $pairs pairs, 5 needed"
printf 'encrypt-file %d MiB: %.0f MiB/s; EVP AES-256-GCM stream: %.0f MiB/s; ratio %s (median of the %d pairs'"'"' ratios; goal >= 0.90: %s)\n' \
	"$mb" "$(median "${ours[@]}")" "$(median "${refs[@]}")" "$fr" "$pairs" "$fv"
printf 'decrypt-file %d MiB: %.0f MiB/s\n' "$mb" "$(div "$mb" "$d")"
# Once more with the state (and the audit log, written through at each
# record) on disk, where a deployment keeps it.
daemon_stop
disk=$(mktemp -d /var/tmp/hsmkey-bench.XXXXXX)
chmod 755 "$disk"
trap 'kill $server_pids 2>/dev/null; daemon_stop; rm -rf "$work" "$disk"' EXIT
sock=$disk/hsmkeyd.sock daemon_state=$disk/state daemon_log=$disk/hsmkeyd.log
daemon_start || { echo "bench kms: hsmkeyd does not start on disk" >&2; exit 1; }
ctl create kbench --type kms-aes-256 > /dev/null &&
	ctl policy kbench --grant encrypt,decrypt:root > /dev/null &&
	ctl create sbench --type ecdsa-p256 > /dev/null &&
	ctl policy sbench --grant sign,verify:root > /dev/null || exit 1
socket_table "$sock" "on disk ($(df --output=fstype /var/tmp | tail -1) under /var/tmp)"
printf 'on disk, single AES operations: lowest ratio %.3f (goal >= 0.70: %s)\n' "$low" "$(verdict "$low" 0.70)"
# The same calls on backend = pkcs11 (a SoftHSM2 token, state in tmpfs),
# where AES-GCM and the signatures run inside the token (C_Encrypt,
# C_Sign) and the daemon holds no key: for information, no goal.
daemon_stop
. "$top/tests/lib/softhsm.sh"
p11=$(mktemp -d /dev/shm/hsmkey-bench-p11.XXXXXX)
chmod 755 "$p11"
trap 'kill $server_pids 2>/dev/null; daemon_stop; rm -rf "$work" "$disk" "$p11"' EXIT
softhsm_setup "$p11/token" && softhsm_token bench && softhsm_pin_file "$p11/token/pin" ||
	{ echo "bench kms: no SoftHSM token" >&2; exit 1; }
softhsm_conf "$p11/hsmkeyd.conf" bench "$p11/token/pin"
sock=$p11/hsmkeyd.sock daemon_state=$p11/state daemon_log=$p11/hsmkeyd.log
daemon_conf=$p11/hsmkeyd.conf
daemon_start || { echo "bench kms: hsmkeyd does not start on backend = pkcs11" >&2; exit 1; }
ctl create kbench --type kms-aes-256 > /dev/null &&
	ctl policy kbench --grant encrypt,decrypt:root > /dev/null &&
	ctl create sbench --type ecdsa-p256 > /dev/null &&
	ctl policy sbench --grant sign,verify:root > /dev/null || exit 1
echo "KMS API through the socket, backend = pkcs11 (SoftHSM2; AES-GCM and ECDSA in the token), for information:"
for c in 1 4; do
	socket_row encrypt kbench "$c" 1 "$sock"
	socket_row decrypt kbench "$c" 1 "$sock"
	socket_row sign sbench "$c" 1 "$sock"
done
