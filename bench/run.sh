#!/bin/bash
# The benchmark, run in one guest boot as root (bench/bench.sh boots it).
# Side by side, alternating order in each pair:
#   fio on dm-crypt over RAM disks (brd): sequential 1 MiB read and write,
#     4 KiB random read; capi:xts(hsmaes)-plain64 (hsm) against stock
#     aes-xts-plain64 (stock), and stock under its capi:xts(aes)-plain64
#     name (aa: the A/A control, whose ratio is the noise floor);
#   AF_ALG encryption of 512 B, 4 KiB and 64 KiB requests: xts(hsmaes)
#     against xts(aes), A/A: the stock driver by its driver name;
#   add rate for 100,000 keys in batches, and bind (setkey) latency with
#     10 and with 100,000 keys loaded (A/A: 10 keys measured twice).
# BENCH_PAIRS (5), BENCH_SECONDS (5: per fio run), BENCH_KEYS (100000).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
[[ -r /results/bench.env ]] && . /results/bench.env
pairs=${BENCH_PAIRS:-5} secs=${BENCH_SECONDS:-5} nkeys=${BENCH_KEYS:-100000}
# The measuring process stays on one CPU: migrations add noise.
bench_bin=$top/build/bench/hsmkey_bench
bench() { taskset -c 1 "$bench_bin" "$@"; }
out=/results/measurements.txt
: > "$out"
die() { echo "bench: $*" >&2; exit 1; }

insmod "${HSMKEY_KO:-$top/hsmkey.ko}" || die "insmod"
modprobe brd rd_nr=3 rd_size=131072 || die "no brd"
rm -f /run/hsmkey-bench.tokens
read -r material token < <(bench key aes-256-xts) || die "provisioning"
sectors=$(blockdev --getsz /dev/ram0)
keyctl session - bash -c "
	python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' $token |
		keyctl padd logon hsmkey:bench @s >/dev/null &&
	dmsetup create b-hsm --table '0 $sectors crypt capi:xts(hsmaes)-plain64 :64:logon:hsmkey:bench 0 /dev/ram0 0'" ||
	die "dm-crypt over xts(hsmaes)"
dmsetup create b-stock --table "0 $sectors crypt aes-xts-plain64 $material 0 /dev/ram1 0" || die "stock"
dmsetup create b-aa --table "0 $sectors crypt capi:xts(aes)-plain64 $material 0 /dev/ram2 0" || die "capi"
dmsetup mknodes	# no udev in the guest
for s in hsm stock aa; do
	# Every page of every RAM disk exists before anything is timed.
	dd if=/dev/zero of=/dev/mapper/b-$s bs=1M count=$((sectors / 2048)) oflag=direct \
		status=none || die "fill b-$s"
done

fio_bw() {	# DEVICE RW BS: bytes/s
	fio --name=b --filename="$1" --direct=1 --ioengine=libaio --iodepth=32 \
		--rw="$2" --bs="$3" --runtime="$secs" --time_based --output-format=json 2>/dev/null |
		python3 -c 'import json, sys; j = json.load(sys.stdin)["jobs"][0]
print(j["read"]["bw_bytes"] + j["write"]["bw_bytes"])'
}
order() {	# PAIR: the sides in this pair's order
	if (($1 % 2)); then echo aa stock hsm; else echo hsm stock aa; fi
}
for p in $(seq "$pairs"); do
	for w in "read 1M" "write 1M" "randread 4k"; do
		set -- $w
		for s in $(order "$p"); do
			bw=$(fio_bw /dev/mapper/b-$s "$1" "$2")
			echo "fio-$1-$2 $s $p $(python3 -c "print($bw / 1e6)")" >> "$out"
		done
	done
	for size in 512 4096 65536; do
		for s in $(order "$p"); do
			case $s in
			hsm) r=$(bench afalg 'xts(hsmaes)' "$token" "$size" 2) ;;
			stock) r=$(bench afalg 'xts(aes)' "$material" "$size" 2) ;;
			aa) r=$(bench afalg 'xts-aes-aesni' "$material" "$size" 2) ;;
			esac
			echo "afalg-$size $s $p $r" >> "$out"
		done
	done
done
for w in fio-read-1M fio-write-1M fio-randread-4k afalg-512 afalg-4096 afalg-65536; do
	echo "unit $w MB/s" >> "$out"
done

# dm-crypt holds a tfm of xts(hsmaes): close the volumes before reloading.
for s in hsm stock aa; do dmsetup remove b-$s; done

# Keys and binds.  Each pair starts from an empty table (the module is
# reloaded): 10 keys, bind latency measured twice (the A/A), then the other
# 99,990 keys added in batches (the add rate), then bind latency again on
# the same 10 keys, so that the two sides of a pair are seconds apart.
ko=${HSMKEY_KO:-$top/hsmkey.ko}
rates=()
for p in $(seq "$pairs"); do
	rmmod hsmkey && insmod "$ko" || die "reloading the module"
	rm -f /run/hsmkey-bench.tokens
	bench add 10 > /dev/null || die "add 10 keys"
	echo "bind k10 $p $(bench bind 10 20000)" >> "$out"
	echo "bind k10aa $p $(bench bind 10 20000)" >> "$out"
	r=$(bench add $((nkeys - 10))) || die "add $nkeys keys"
	rates+=("$r")
	echo "bind k100k $p $(bench bind 10 20000)" >> "$out"
done
rate=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
echo "unit bind ns (median setkey)" >> "$out"
{
	echo "hsmkey benchmark: $pairs pairs, fio ${secs} s per run, $(nproc) CPUs, kernel $(uname -r)"
	echo "hsmkey side: $(dmesg | grep -o 'xts-hsmaes registered over [^,]*' | tail -1)"
	echo "add rate: $rate keys/s (median of $pairs runs: $((nkeys - 10)) keys in batches of 256, after 10)"
	echo "bind latency: k10 = 10 keys loaded, k100k = $nkeys (the same 10 keys bound)"
	echo
	python3 "$top/bench/stats.py" < "$out"
} | tee /results/report.txt
rmmod brd
