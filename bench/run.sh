#!/bin/bash
# The benchmark, run in one guest boot as root (bench/bench.sh boots it).
# Side by side, in each pair the sides interleaved in short slices:
#   fio on dm-crypt over one RAM disk (brd): sequential 1 MiB read and
#     write, 4 KiB random read; capi:xts(hsmaes)-plain64 (hsm) against stock
#     aes-xts-plain64 (stock), and stock under its capi:xts(aes)-plain64
#     name (aa: the A/A control, whose ratio is the noise floor);
#   AF_ALG encryption of 512 B, 4 KiB and 64 KiB requests: xts(hsmaes)
#     against xts(aes), A/A: the stock driver by its driver name;
#   gcm(aes) with raw keys (gcm-raw) through gcm-aes-hsmkey, which ktls=1
#     puts in front of every gcm(aes) user, against the driver below it;
#   kTLS sendfile() with session tokens (ktls-sendfile) against kTLS keyed
#     by OpenSSL with the raw keys, on the same kernel (ktls=1);
#   TLS handshakes per second through hsmkeyd (tls-handshake) against an
#     OpenSSL server in the benchmark's process with the same key type;
#   add rate for 100,000 keys in batches, and bind (setkey) latency with
#     10 and with 100,000 keys loaded (A/A: 10 keys measured twice);
#   revocation latency (revoke): the kernel call with 100 bound tfms and
#     I/O in flight, and hsmkeyctl revoke to the first failed read;
#   the keystore at scale (scale): BENCH_SCALE_KEYS (100,000) keys, all but
#     BENCH_SCALE_CREATE (1,000) made on the host before the boot, those
#     made here through hsmkeyd's socket, the daemon's start-up with all of them
#     provisioned, list, a reconciliation and its resident memory.
# BENCH_PAIRS (10), BENCH_SECONDS (3: fio seconds per side and pair),
# BENCH_KEYS (100000), BENCH_ONLY (workload names as reported, space
# separated: run only those, e.g. to give one more pairs; default all).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
[[ -r /results/bench.env ]] && . /results/bench.env
pairs=${BENCH_PAIRS:-10} secs=${BENCH_SECONDS:-3} nkeys=${BENCH_KEYS:-100000}
only=${BENCH_ONLY:-}
wanted() { [[ -z $only || " $only " == *" $1 "* ]]; }
# The measuring process stays on one CPU: migrations add noise.
bench_bin=$top/build/bench/hsmkey_bench
bench() { taskset -c 1 "$bench_bin" "$@"; }
out=/results/measurements.txt
: > "$out"
die() { echo "bench: $*" >&2; exit 1; }

insmod "${HSMKEY_KO:-$top/hsmkey.ko}" || die "insmod"
# One RAM disk under all three volumes: every side reads and writes the same
# pages (with one disk each, where brd's pages landed showed as a steady
# difference of several per cent between two identical stock volumes).
modprobe brd rd_nr=1 rd_size=131072 || die "no brd"
rm -f /run/hsmkey-bench.tokens
read -r material token < <(bench key aes-256-xts) || die "provisioning"
sectors=$(blockdev --getsz /dev/ram0)
keyctl session - bash -c "
	python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' $token |
		keyctl padd logon hsmkey:bench @s >/dev/null &&
	dmsetup create b-hsm --table '0 $sectors crypt capi:xts(hsmaes)-plain64 :64:logon:hsmkey:bench 0 /dev/ram0 0'" ||
	die "dm-crypt over xts(hsmaes)"
dmsetup create b-stock --table "0 $sectors crypt aes-xts-plain64 $material 0 /dev/ram0 0" || die "stock"
dmsetup create b-aa --table "0 $sectors crypt capi:xts(aes)-plain64 $material 0 /dev/ram0 0" || die "capi"
dmsetup mknodes	# no udev in the guest
# Every page of the RAM disk exists before anything is timed.
dd if=/dev/zero of=/dev/mapper/b-stock bs=1M count=$((sectors / 2048)) oflag=direct \
	status=none || die "fill"

# One fio run per workload and pair: the sides interleaved in 0.25 s slices,
# each round in a rotated order, after an untimed warm-up slice, so that the
# machine's changing speed and the first-after-a-switch slowdown fall on every
# side alike.  Each side's rate is its bytes over its time.
sides="hsm stock aa"
fio_pair() {	# RW BS: "SIDE MB/s" per line
	{
		printf '[global]\ndirect=1\nioengine=libaio\niodepth=32\nrw=%s\nbs=%s\n' "$1" "$2"
		printf 'time_based=1\nruntime=250ms\nstonewall\n'
		printf '[warm]\nfilename=/dev/mapper/b-stock\n'
		set -- $sides
		for r in $(seq $((secs * 4))); do
			for s in "$@"; do
				printf '[%s-%s]\nfilename=/dev/mapper/b-%s\n' "$s" "$r" "$s"
			done
			set -- "${@:2}" "$1"
		done
	} > /tmp/bench.fio
	taskset -c 1 fio --output-format=json /tmp/bench.fio 2>/dev/null | python3 -c '
import json, sys
from collections import defaultdict
b, t = defaultdict(int), defaultdict(int)
for j in json.load(sys.stdin)["jobs"]:
    s = j["jobname"].split("-")[0]
    if s == "warm":
        continue
    b[s] += j["read"]["io_bytes"] + j["write"]["io_bytes"]
    t[s] += max(j["read"]["runtime"], j["write"]["runtime"])
for s in b:
    print(s, b[s] / t[s] / 1e3)'
}
for p in $(seq "$pairs"); do
	for w in "read 1M" "write 1M" "randread 4k"; do
		set -- $w
		wanted "fio-$1-$2" || continue
		n=0
		while read -r s mbs; do
			echo "fio-$1-$2 $s $p $mbs" >> "$out"
			n=$((n + 1))
		done < <(fio_pair "$1" "$2")
		((n == 3)) || die "fio $1 $2 measured $n sides"
	done
	for size in 512 4096 65536; do
		wanted "afalg-$size" || continue
		# Two seconds per side, interleaved in 20 ms slices (hsmkey_bench).
		mapfile -t r < <(bench afalg "$size" 2 'xts(hsmaes)' "$token" \
			'xts(aes)' "$material" 'xts-aes-aesni' "$material")
		((${#r[@]} == 3)) || die "AF_ALG $size measured ${#r[@]} sides"
		echo "afalg-$size hsm $p ${r[0]}" >> "$out"
		echo "afalg-$size stock $p ${r[1]}" >> "$out"
		echo "afalg-$size aa $p ${r[2]}" >> "$out"
	done
done
for w in fio-read-1M fio-write-1M fio-randread-4k afalg-512 afalg-4096 afalg-65536; do
	echo "unit $w MB/s" >> "$out"
done

# dm-crypt holds a tfm of xts(hsmaes): close the volumes before reloading.
for s in hsm stock aa; do dmsetup remove b-$s; done

# Raw keys through gcm-aes-hsmkey (ktls=1: it then stands in front of every
# gcm(aes) user) against the gcm(aes) below it, by its driver name; A/A:
# that driver again.  AF_ALG AEAD requests of 4 KiB and 16 KiB (a full TLS
# record), no associated data.
ko=${HSMKEY_KO:-$top/hsmkey.ko}
if wanted gcm-raw-4096 || wanted gcm-raw-16384 || wanted ktls-sendfile; then
	rmmod hsmkey && insmod "$ko" ktls=1 || die "loading the module with ktls=1"
	below=$(dmesg | sed -n 's/.*hsmkey: ktls: gcm-aes-hsmkey over \(.*\)$/\1/p' | tail -n 1)
	[[ $below ]] || die "gcm-aes-hsmkey did not say what it stands in front of"
	raw=$(head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
	for p in $(seq "$pairs"); do
		for size in 4096 16384; do
			wanted "gcm-raw-$size" || continue
			mapfile -t r < <(bench afalg-aead "$size" 2 gcm-aes-hsmkey "$raw" \
				"$below" "$raw" "$below" "$raw")
			((${#r[@]} == 3)) || die "AF_ALG gcm(aes) $size measured ${#r[@]} sides"
			echo "gcm-raw-$size hsm $p ${r[0]}" >> "$out"
			echo "gcm-raw-$size stock $p ${r[1]}" >> "$out"
			echo "gcm-raw-$size aa $p ${r[2]}" >> "$out"
		done
	done
	for size in 4096 16384; do wanted "gcm-raw-$size" && echo "unit gcm-raw-$size MB/s" >> "$out"; done
	# kTLS sendfile() (ktls-sendfile, bench/ktls_bench): TLS 1.3 AES-256-GCM
	# records sent on a connection keyed by hsmkey session tokens through
	# hsmkeyd's installer against one keyed by OpenSSL with the raw keys,
	# and a second of those (A/A), in one process, 4 MiB per turn, rotated.
	# On this kernel OpenSSL's raw keys pass gcm-aes-hsmkey too: what that
	# costs against the driver below is gcm-raw's ratio.
	if wanted ktls-sendfile; then
		modprobe tls || die "no tls module"
		for p in $(seq "$pairs"); do
			mapfile -t r < <(taskset -c 1 "$top/build/bench/ktls_bench" "$secs")
			((${#r[@]} == 3)) || die "ktls_bench measured ${#r[@]} sides"
			echo "ktls-sendfile hsm $p ${r[0]}" >> "$out"
			echo "ktls-sendfile stock $p ${r[1]}" >> "$out"
			echo "ktls-sendfile aa $p ${r[2]}" >> "$out"
		done
		echo "unit ktls-sendfile MB/s" >> "$out"
	fi
	rmmod hsmkey && insmod "$ko" || die "loading the module back without ktls=1"
fi


# Keys and binds.  Each pair starts from an empty table (the module is
# reloaded): 10 keys, bind latency measured twice (the A/A), then the other
# 99,990 keys added in batches (the add rate), then bind latency again on
# the same 10 keys, so that the two sides of a pair are seconds apart.  Each
# bind latency is taken as a percentage of a stock xts(aes) setkey measured
# interleaved with it (hsmkey_bench bind), which takes the machine's speed
# at that moment out of the comparison; the nanoseconds are reported too.
rates=()
ns=/results/bind-ns.txt
: > "$ns"
bind() {	# SIDE PAIR
	local hsm ref
	read -r hsm ref < <(bench bind 10 20000) && [[ $hsm && $ref ]] ||
		die "bind latency"
	echo "$1 $2 $hsm $ref" >> "$ns"
	echo "bind $1 $2 $(python3 -c "print(100 * $hsm / $ref)")" >> "$out"
}
if wanted bind; then
	for p in $(seq "$pairs"); do
		rmmod hsmkey && insmod "$ko" || die "reloading the module"
		rm -f /run/hsmkey-bench.tokens
		bench add 10 > /dev/null || die "add 10 keys"
		bind k10 "$p"
		bind k10aa "$p"
		r=$(bench add $((nkeys - 10))) || die "add $nkeys keys"
		rates+=("$r")
		bind k100k "$p"
	done
fi
echo "unit bind % of a stock setkey" >> "$out"

# Revocation latency, one key per round.  The kernel call: 100 AF_ALG tfms
# bound to the key with requests in flight on them, and a dm-crypt volume
# of the key being read, when REVOKE is sent (hsmkey_bench revoke times it,
# send to ack).  End to end: a volume hsmkeyd opened, read in a loop, from
# starting "hsmkeyctl revoke" to the first failed read (hsmkey_bench e2e).
rev=/results/revoke.txt
: > "$rev"
if wanted revoke; then
	for p in $(seq "$pairs"); do
		# The same with nothing in flight: what the draining costs.
		read -r material token < <(bench key aes-256-xts) || die "revoke: key"
		us=$(bench revoke "$token" 100 idle) || die "revoke: kernel call, idle"
		echo "idle $p $us" >> "$rev"
		read -r material token < <(bench key aes-256-xts) || die "revoke: key"
		keyctl session - bash -c "
			python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' $token |
				keyctl padd logon hsmkey:rev @s >/dev/null &&
			dmsetup create r-vol --table '0 $sectors crypt capi:xts(hsmaes)-plain64 :64:logon:hsmkey:rev 0 /dev/ram0 0'" ||
			die "revoke: dm-crypt volume"
		dmsetup mknodes
		taskset -c 0 bash -c 'while dd if=/dev/mapper/r-vol of=/dev/null bs=64k count=64 \
			iflag=direct status=none 2>/dev/null; do :; done' &
		io=$!
		us=$(bench revoke "$token" 100) || die "revoke: kernel call"
		wait "$io"
		dmsetup remove r-vol
		echo "kernel $p $us" >> "$rev"
	done
	work=/run/hsmkey-bench-daemon
	mkdir -p "$work"
	sock=$work/sock
	"$top/build/hsmkeyd" --state-dir "$work/state" --socket "$sock" 2>"$work/log" &
	dpid=$!
	for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
	ctl() { "$top/build/hsmkeyctl" --socket "$sock" "$@"; }
	for p in $(seq "$pairs"); do
		ctl create "rv$p" --type aes-256-xts >/dev/null || die "revoke: create"
		ctl dm open /dev/ram0 "rv$p" --key "rv$p" >/dev/null || die "revoke: dm open"
		# What starting hsmkeyctl and a request's round trip cost alone.
		base=$(bench cmdtime "$top/build/hsmkeyctl" --socket "$sock" show "rv$p") ||
			die "revoke: show"
		read -r e2e cmd < <(bench e2e "/dev/mapper/rv$p" "$top/build/hsmkeyctl" \
			--socket "$sock" revoke "rv$p") || die "revoke: end to end"
		ctl dm close "rv$p" >/dev/null 2>&1 || dmsetup remove "rv$p"
		echo "e2e $p $e2e $cmd $base" >> "$rev"
	done
	kill "$dpid"; wait "$dpid"
fi
# hsmkeyd in DIR (DIR/state, DIR/sock, DIR/log; more arguments follow
# --socket), run under daemon_pin (a command prefix, none by default):
# start_daemon prints the seconds until it says READY
# (sd_notify), every key provisioned by then; parts DIR NAME FILE appends that
# start's two parts, from the daemon's "ready" line, to FILE.  With
# token_cpu=N, every thread of the daemon's PKCS#11 helper (the token's
# work) is pinned to CPU N the moment the helper shows up, and DIR/pinned
# says at how many seconds after the start that was.
daemon_pin=() token_cpu=
start_daemon() {
	TOKEN_CPU=$token_cpu "${daemon_pin[@]}" python3 - "$top/build/hsmkeyd" "$@" <<'PY'
import os, socket, subprocess, sys, time
d = sys.argv[2]
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
path = d + "/notify"
if os.path.exists(path):
    os.unlink(path)
n.bind(path)
env = dict(os.environ, NOTIFY_SOCKET=path)
env.pop("TOKEN_CPU", None)
cpu = os.environ.get("TOKEN_CPU")
t0 = time.monotonic()
# Not our stdout: the caller's $(...) reads it to its end.
p = subprocess.Popen([sys.argv[1], "--state-dir", d + "/state", "--socket", d + "/sock"] +
                     sys.argv[3:], env=env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=open(d + "/log", "a"))

def pin_helpers():
    """Pin the threads of the daemon's helper to CPU cpu: True once done.
    Threads it starts later inherit its affinity."""
    for pid in os.listdir("/proc"):
        try:
            if not pid.isdigit() or int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) != p.pid:
                continue
            if b"--pkcs11-helper" not in open(f"/proc/{pid}/cmdline", "rb").read():
                continue
            # Again until no thread is left out (one started meanwhile).
            while any(os.sched_getaffinity(int(t)) != {int(cpu)}
                      for t in os.listdir(f"/proc/{pid}/task")):
                for tid in os.listdir(f"/proc/{pid}/task"):
                    os.sched_setaffinity(int(tid), {int(cpu)})
            open(d + "/pinned", "w").write(f"{time.monotonic() - t0:.3f}\n")
            return True
        except (OSError, IndexError, ValueError):
            pass
    return False

if os.path.exists(d + "/pinned"):
    os.unlink(d + "/pinned")
deadline = time.monotonic() + 600
pinned = not cpu
while time.monotonic() < deadline:
    if p.poll() is not None:
        sys.exit(f"hsmkeyd exited ({p.returncode}) before READY")
    if not pinned:
        pinned = pin_helpers()
    n.settimeout(0.01 if not pinned else 1)
    try:
        if b"READY=1" in n.recv(4096):
            break
    except socket.timeout:
        pass
else:
    sys.exit("no READY within 600 s")
open(d + "/pid", "w").write(str(p.pid))
print(f"{time.monotonic() - t0:.2f}")
PY
}
parts() {	# DIR NAME FILE
	local o c
	read -r o c < <(sed -n 's/.*(keystore opened in \([0-9.]*\) s, kernel converged in \([0-9.]*\) s)$/\1 \2/p' \
		"$1/log" | tail -n 1)
	printf '%s_open %s\n%s_conv %s\n' "$2" "${o:-?}" "$2" "${c:-?}" >> "$3"
}
# proc_start PID: the process's start time (field 22 of /proc/PID/stat),
# nothing once it is gone or a zombie, so that a number taken again by
# another process is not mistaken for it.
proc_start() {
	local s
	read -r s 2>/dev/null < "/proc/$1/stat" || return 0
	set -- ${s##*) }
	[[ $1 == Z ]] || echo "${20}"
}
# stop_daemon DIR: stop the daemon and wait until it and its children (a
# PKCS#11 helper) have exited, so that nothing of theirs runs into the next
# measurement.  The daemon kills and reaps its helper before it exits; the
# wait for the children makes sure of it.
stop_daemon() {
	local pid p deadline=$((SECONDS + 60))
	local -A started=()
	pid=$(cat "$1/pid")
	for p in $pid $(pgrep -P "$pid"); do
		started[$p]=$(proc_start "$p")
	done
	kill "$pid"
	for p in "${!started[@]}"; do
		while [[ -n ${started[$p]} && $(proc_start "$p") == "${started[$p]}" ]]; do
			((SECONDS < deadline)) || die "hsmkeyd ($p) still running 60 s after it was told to stop"
			sleep 0.1
		done
	done
}

# The keystore at scale.  The state directory is on ext4 over a RAM disk
# of its own (the guest has no other disk): fsync is cheap there, so the
# create rate is the daemon's and the module's cost, not a disk's.
scale=/results/scale.txt
: > "$scale"
if wanted scale; then
	skeys=${BENCH_SCALE_KEYS:-100000}
	rmmod hsmkey && insmod "$ko" || die "scale: reloading the module"
	rmmod brd; modprobe brd rd_nr=1 rd_size=1048576 || die "scale: brd"
	# A file per key: ext4's default of an inode per 16 KiB (65,536 here) is too few.
	mkfs.ext4 -q -N 262144 /dev/ram0 && mkdir -p /run/scale && mount /dev/ram0 /run/scale ||
		die "scale: state file system"
	sock=/run/scale/sock
	ctl() { "$top/build/hsmkeyctl" --socket "$sock" "$@"; }
	# Keys made on the host before the boot (bench/scale_prepare.sh), if
	# any: the guest makes the rest, and its create rate is theirs.
	made=0
	if [[ -r /results/scale-state.tar ]]; then
		read -r made _ < /results/scale-prepare.txt || die "scale: no count of host keys"
		tar -C /run/scale -xf /results/scale-state.tar || die "scale: unpacking the keystore"
	fi
	echo "made $made" >> "$scale"
	t=$(start_daemon /run/scale) || die "scale: first start"
	echo "first $t" >> "$scale"
	rate=$("$top/build/bench/scale_client" "$sock" create $((skeys - made)) k) ||
		die "scale: create"
	echo "create $rate" >> "$scale"
	echo "created $((skeys - made))" >> "$scale"
	secs() {	# NAME COMMAND...: its wall time in seconds, into $scale
		local t0=$EPOCHREALTIME
		"${@:2}" > /dev/null || die "scale: $1"
		python3 -c "print('$1', f'{$EPOCHREALTIME - $t0:.2f}')" >> "$scale"
	}
	secs list ctl list
	secs json ctl --json list
	n=$(ctl --json list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["keys"]))')
	[[ $n == "$skeys" ]] || die "scale: --json list has $n keys"
	secs status ctl status
	echo "rss $(awk '/VmRSS/ {print $2}' /proc/"$(cat /run/scale/pid)"/status)" >> "$scale"
	stop_daemon /run/scale
	# The module keeps every key: a start-up is then a reconciliation.
	t=$(start_daemon /run/scale) || die "scale: reconciling start"
	echo "reconcile $t" >> "$scale"
	parts /run/scale reconcile "$scale"
	stop_daemon /run/scale
	rmmod hsmkey && insmod "$ko" || die "scale: reloading the module"
	t=$(start_daemon /run/scale) || die "scale: cold start"
	echo "startup $t" >> "$scale"
	parts /run/scale startup "$scale"
	held=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["kernel"]["keys"])')
	[[ $held == "$skeys" ]] || die "scale: the kernel holds $held keys after start-up"
	echo "rss_start $(awk '/VmRSS/ {print $2}' /proc/"$(cat /run/scale/pid)"/status)" >> "$scale"
	stop_daemon /run/scale
	umount /run/scale
fi
# TLS handshakes (tls-handshake, bench/handshake_bench): each through
# hsmkeyd (libhsmkey; an ecdsa-p256 identity key of the embedded key
# store, the session keys to the module, kTLS with tokens) against an
# OpenSSL server in the benchmark's process with a P-256 key of its own and
# kTLS set up by OpenSSL, and a second of those (A/A).  hsmkeyd (every
# thread) and the servers on CPU 1, the client on CPU 0.  The state
# directory is on tmpfs: the audit record each handshake writes is synced
# at no disk's cost.
if wanted tls-handshake; then
	hs=/run/hsbench
	rm -rf "$hs" && mkdir -p "$hs" || die "tls-handshake: $hs"
	rmmod hsmkey && insmod "$ko" ktls=1 && modprobe tls || die "tls-handshake: ktls=1"
	start_daemon "$hs" > /dev/null || die "tls-handshake: hsmkeyd"
	hctl() { "$top/build/hsmkeyctl" --socket "$hs/sock" "$@"; }
	issue() {	# KEYOUT|- CSR|- OUT: a certificate for hsmkey-bench from the bench's CA
		if [[ $1 == - ]]; then
			openssl x509 -req -in "$2" -CA "$hs/ca.crt" -CAkey "$hs/ca.key" \
				-copy_extensions copy -days 1 -out "$3"
		else
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-keyout "$1" -subj /CN=hsmkey-bench -addext subjectAltName=DNS:hsmkey-bench \
				-CA "$hs/ca.crt" -CAkey "$hs/ca.key" -days 1 -out "$3"
		fi
	} 2>/dev/null
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$hs/ca.key" \
		-out "$hs/ca.crt" -subj /CN=hsmkey-bench-ca -days 1 2>/dev/null &&
		hctl create hs --type ecdsa-p256 > /dev/null &&
		hctl csr hs --subject /CN=hsmkey-bench --dns hsmkey-bench > "$hs/hs.csr" &&
		issue - "$hs/hs.csr" "$hs/hs.crt" && issue "$hs/stock.key" - "$hs/stock.crt" ||
		die "tls-handshake: keys and certificates"
	taskset -a -p -c 1 "$(cat "$hs/pid")" > /dev/null || die "tls-handshake: pinning hsmkeyd"
	for p in $(seq "$pairs"); do
		mapfile -t r < <(HSMKEYD_SOCKET=$hs/sock "$top/build/bench/handshake_bench" "$secs" \
			hs "$hs/hs.crt" "$hs/stock.key" "$hs/stock.crt")
		((${#r[@]} == 3)) || die "handshake_bench measured ${#r[@]} sides (hsmkeyd's log: $(tail -n 3 "$hs/log"))"
		echo "tls-handshake hsm $p ${r[0]}" >> "$out"
		echo "tls-handshake stock $p ${r[1]}" >> "$out"
		echo "tls-handshake aa $p ${r[2]}" >> "$out"
	done
	echo "unit tls-handshake handshakes/s" >> "$out"
	stop_daemon "$hs"
	rmmod hsmkey && insmod "$ko" || die "tls-handshake: loading the module back"
fi
# Provisioning from an HSM (pkcs11): BENCH_PKCS11_KEYS (2,000) aes-256-xts
# keys in a SoftHSM token, all but BENCH_PKCS11_CREATE (20) made through a
# host hsmkeyd before the boot (bench/scale_prepare.sh --pkcs11), those
# through hsmkeyd's socket here (the create rate); then per round the
# module reloaded (an empty table), hsmkeyd started cold (its start-up
# delivers every key wrapped end to end: ECDH with the module's ephemeral
# key, per key a derived KEK and AES-KW in the token, the module's unwrap)
# and, interleaved with it, two runs of bench/pkcs11_rate: the same token
# calls made directly by a small C program (bench/pkcs11.sh), the second
# the A/A control.  The daemon's rate is keys over its "kernel converged"
# time.
p11=/results/pkcs11.txt
: > "$p11"
if wanted pkcs11; then
	. "$top/bench/pkcs11.sh"
	pk=/run/p11bench pkeys=${BENCH_PKCS11_KEYS:-2000}
	rm -rf "$pk" && mkdir -p "$pk" || die "pkcs11: $pk"
	tar -C "$pk" -xf /results/pkcs11-state.tar && pkcs11_use "$pk" ||
		die "pkcs11: unpacking the token made on the host"
	read -r made _ < /results/pkcs11-prepare.txt || die "pkcs11: no count of host keys"
	export SOFTHSM2_CONF=$pkcs11_dir/softhsm2.conf
	softhsm_conf "$pk/hsmkeyd.conf" bench "$pkcs11_dir/pin"
	rmmod hsmkey && insmod "$ko" || die "pkcs11: reloading the module"
	start_daemon "$pk" --config "$pk/hsmkeyd.conf" > /dev/null || die "pkcs11: first start"
	rate=$("$top/build/bench/scale_client" "$pk/sock" create $((pkeys - made)) g) ||
		die "pkcs11: create"
	echo "create $rate $((pkeys - made)) $made" >> "$p11"
	stop_daemon "$pk"
	# The token objects bench/pkcs11_rate wraps, made before anything is
	# timed.  bench/pkcs11_rate runs on CPU 1.  hsmkeyd is measured two
	# ways.  "apart", the goal's: its helper, where SoftHSM does the
	# token's work, pinned to that same CPU 1, as an HSM has a processor
	# of its own, and the daemon and the kernel free to use either CPU
	# (CPU 1 only at the token's expense).  "one": the token, the daemon
	# and the kernel all on CPU 1, so that its time is the whole work's,
	# the kernel's ECDH and unwraps included (for information: no HSM
	# shares the host's CPU).
	pkcs11_run 1 > /dev/null || die "pkcs11: bench/pkcs11_rate"
	p11_daemon() {	# PAIR MODE: one cold start-up, its rate and its two parts
		local tag=daemon pinned rate daemon_row=
		daemon_pin=() token_cpu=1
		[[ $2 == one ]] && tag=daemon1 daemon_row=-1cpu daemon_pin=(taskset -c 1) token_cpu=
		rmmod hsmkey && insmod "$ko" || die "pkcs11: reloading the module"
		start_daemon "$pk" --config "$pk/hsmkeyd.conf" > /dev/null || die "pkcs11: start $1"
		daemon_pin=() token_cpu=
		: > "$pk/run"
		parts "$pk" run "$pk/run"
		if [[ $2 == apart ]]; then
			# Pinned before the keystore was opened, let alone delivered.
			read -r pinned < "$pk/pinned" || die "pkcs11: start-up $1: the helper was not pinned"
			open=$(sed -n 's/^run_open //p' "$pk/run")
			[[ $open =~ ^[0-9.]+$ ]] || die "pkcs11: start-up $1: no ready line in its log"
			python3 -c "import sys; sys.exit(not $pinned < $open)" ||
				die "pkcs11: start-up $1: the helper was pinned only at $pinned s"
		fi
		held=$("$top/build/hsmkeyctl" --socket "$pk/sock" --json status |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["kernel"]["keys"])')
		[[ $held == "$pkeys" ]] || { cp "$pk/log" /results/pkcs11-daemon.log
			die "pkcs11: the kernel holds $held keys after start-up $1 ($2; its log: pkcs11-daemon.log)"; }
		if (($1 == 1)); then
			d=$("$top/build/hsmkeyctl" --socket "$pk/sock" --json show p0 |
				python3 -c 'import json,sys; print(json.load(sys.stdin).get("delivery"))')
			[[ $d == hsm-wrapped ]] || die "pkcs11: key p0 came by '$d', not hsm-wrapped"
		fi
		stop_daemon "$pk"
		conv=$(sed -n 's/^run_conv //p' "$pk/run") open=$(sed -n 's/^run_open //p' "$pk/run")
		rate=$(python3 -c "print(f'{$pkeys / max($conv, 0.001):.1f}')")
		echo "$tag $1 $rate $open $conv" >> "$p11"
		echo "pkcs11-provision${daemon_row} hsm $1 $rate" >> "$out"
	}
	p11_direct() {	# PAIR SIDE (stock, or aa: the same again, the A/A control)
		local r
		r=$(pkcs11_run 1) || die "pkcs11: bench/pkcs11_rate"
		echo "direct $1 $r" >> "$p11"
		echo "pkcs11-provision $2 $1 $r" >> "$out"
		echo "pkcs11-provision-1cpu $2 $1 $r" >> "$out"
	}
	# A pair: hsmkeyd "apart" (the goal's), the token's calls made directly,
	# and those again (the A/A control, whose ratio to the first is the
	# noise floor), in an order rotated pair by pair so that a change in
	# the machine's speed falls on every side alike, as bench/stats.py
	# reads every workload; then hsmkeyd "one", for information, against
	# the same two direct runs.  Whatever a run leaves behind could slow
	# the next, and which side follows which is not balanced by the
	# rotation ("stock" would always follow a start-up): so each timed run
	# comes right after the same untimed one, a short direct run on CPU 1
	# (the run before that is still not balanced: a start-up's effects
	# are taken to be over by then).
	p11_sides=("p11_daemon apart" "p11_direct stock" "p11_direct aa" "p11_daemon one")
	for p in $(seq "$pairs"); do
		for i in 0 1 2 3; do
			read -r fn arg <<< "${p11_sides[i < 3 ? (i + p) % 3 : 3]}"
			BENCH_PKCS11_KEYS=$((pkeys < 256 ? pkeys : 256)) pkcs11_run 1 > /dev/null ||
				die "pkcs11: the run before a side"
			"$fn" "$p" "$arg"
		done
	done
	echo "unit pkcs11-provision keys/s: hsmkeyd, SoftHSM directly" >> "$out"
	echo "unit pkcs11-provision-1cpu keys/s: hsmkeyd, SoftHSM directly" >> "$out"
	daemon_pin=()
fi
{
	echo "hsmkey benchmark: $pairs pairs, fio ${secs} s per side and pair, $(nproc) CPUs, kernel $(uname -r), clock $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
	echo "hsmkey side: $(dmesg | grep -o 'xts-hsmaes registered over [^,]*' | tail -1)"
	if wanted bind; then
		rate=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
		echo "add rate: $rate keys/s (median of $pairs runs: $((nkeys - 10)) keys in batches of 256, after 10)"
		echo "bind latency: k10 = 10 keys loaded, k100k = $nkeys (the same 10 keys bound);"
		python3 -c '
import statistics, sys
v = {}
for line in open(sys.argv[1]):
    side, _, hsm, ref = line.split()
    v.setdefault(side, []).append((float(hsm), float(ref)))
print("  median ns: " + ", ".join(
    f"{s} {statistics.median(h for h, _ in x):.0f} (stock setkey {statistics.median(r for _, r in x):.0f})"
    for s, x in v.items()))' "$ns"
	fi
	if wanted revoke; then
		python3 -c '
import statistics, sys
k, i, e, c, b = [], [], [], [], []
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "kernel":
        k.append(float(f[2]))
    elif f[0] == "idle":
        i.append(float(f[2]))
    else:
        e.append(float(f[2])); c.append(float(f[3])); b.append(float(f[4]))
m = statistics.median
print(f"revoke: kernel call median {m(k):.0f} us, worst {max(k):.0f} us "
      f"({len(k)} rounds; 100 bound tfms, AF_ALG and dm-crypt reads in flight; goal <= 1000 us); "
      f"nothing in flight: median {m(i):.0f} us, worst {max(i):.0f} us")
print(f"revoke: end to end median {m(e):.1f} ms, worst {max(e):.1f} ms "
      f"(hsmkeyctl revoke to the first failed read of an open volume; goal <= 20 ms); "
      f"the revoke command itself median {m(c):.1f} ms; starting hsmkeyctl for a read "
      f"request (show) alone median {m(b):.1f} ms")' "$rev"
	fi
	if wanted scale; then
		python3 -c '
import sys
v = dict(line.split() for line in open(sys.argv[1]))
print("scale ({n} keys, ext4 on a RAM disk): create through the socket {create} keys/s "
      "({created} made in the guest, on top of {made} made through hsmkeyd on the host; "
      "first start-up with those {made}: {first} s); "
      "start-up to READY with all provisioned {startup} s (goal < 30; keystore opened in "
      "{startup_open} s, kernel converged in {startup_conv} s); start-up reconciling a full kernel "
      "table {reconcile} s ({reconcile_open} s + {reconcile_conv} s); list {list} s (goal < 2), --json list {json} s, "
      "status {status} s; daemon RSS {rss_mib} MiB after listing, {start_mib} MiB after "
      "start-up".format(n=sys.argv[2], rss_mib=int(v["rss"]) // 1024,
                        start_mib=int(v["rss_start"]) // 1024, **v))' "$scale" "${BENCH_SCALE_KEYS:-100000}"
	fi
	if wanted pkcs11; then
		python3 - "$p11" "${BENCH_PKCS11_KEYS:-2000}" "${BENCH_PKCS11_BATCH:-256}" <<'PY'
import statistics, sys
v = {"daemon": [], "daemon1": [], "direct": []}
opened = []
create = "?"
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "daemon":
        opened.append(float(f[3]))
    if f[0] == "create":
        create = f"{f[1]} keys/s ({f[2]} made in the guest, {f[3]} on the host before the boot)"
    else:
        v[f[0]].append(float(f[2]))
m = statistics.median
print(f"pkcs11 (SoftHSM2 token, {sys.argv[2]} aes-256-xts keys): hsmkeyd's cold start-up "
      f"delivers them wrapped end to end at {m(v['daemon']):.0f} keys/s (the token's helper on "
      f"the baseline's CPU, the daemon and kernel beside it; median of "
      f"{len(v['daemon'])} start-ups, min {min(v['daemon']):.0f}, max {max(v['daemon']):.0f}; "
      f"keys over 'kernel converged', the module reloaded before each; before that the "
      f"keystore opened, every record's MAC checked in the token, in a median {m(opened):.2f} s); "
      f"the same token calls made directly (bench/pkcs11_rate on token objects, one ECDH per "
      f"{sys.argv[3]} keys, per key a derived KEK and AES-KW) {m(v['direct']):.0f} keys/s "
      f"(median of all {len(v['direct'])} runs, the A/A control's included, two a pair beside a "
      f"start-up, the three in an order rotated pair by pair; on one CPU; the table's stock "
      f"column is the first of each pair's only); hsmkeyd with the token, itself and the kernel all "
      f"on that one CPU "
      f"{m(v['daemon1']):.0f} keys/s; create through the socket {create}")
PY
	fi
	echo
	python3 "$top/bench/stats.py" < "$out"
} | tee /results/report.txt
rmmod brd
