#!/bin/bash
# The PKCS#11 backend with the kernel: keys kept in a SoftHSM2 token reach
# hsmkey.ko wrapped end to end (ECDH with the module's ephemeral key, a
# wrapping key derived inside the token, AES-KW), so hsmkeyd never holds
# them.  Checked against independent references:
#  - keys made in the token by the reference client (PyKCS11, as an HSM's
#    own tools would) with known values are adopted with --from; AF_ALG
#    through the hsmkey algorithms agrees with OpenSSL on the raw key for
#    every key type; the kernel says each came hsm-wrapped;
#  - dm-crypt both ways with stock cryptsetup keyed with the raw key;
#  - a key imported wrapped (openssl, RSA-OAEP to the token's hsmkey:import)
#    and unwrapped by the token opens as stock dm-crypt on the raw key does;
#  - a LUKS2 volume on a key hsmkeyd made in the token opens, also after a
#    daemon restart;
#  - hsmkeyd's whole memory (/proc/PID/mem, hsmkeyd only, not its helper)
#    is scanned in a loop while it adopts, creates, loads, reloads (SIGHUP),
#    opens dm and LUKS volumes and restarts, and once after: neither the key
#    nor any 16-byte window of it.  The same scan finds a raw key the build
#    that keeps what it should wipe imported in that daemon's memory (the
#    positive control), so the scan is known to work;
#  - destruction leaves no object of the key in the token (reference client).
#  - a key whose object is gone from the token does not keep the others
#    from loading into a fresh kernel.
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
chmod 755 "$work"
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"
py=/usr/bin/python3
kat=$top/tests/guest/afalg_kat.py
memscan=$top/build/tests/memscan
loop=
scan_pid=
p11ref() { "$py" "$top/tests/lib/p11ref.py" "$@" --token hsm-a --pin-file "$work/pin"; }
json() { "$py" -c "import json, sys; o = json.load(sys.stdin); print($1)"; }
hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }
cleanup() {
	[[ -n $scan_pid ]] && kill "$scan_pid" 2>/dev/null
	for m in hsm-vol stock-vol hsm-wvol stock-wvol lk-vol; do
		[[ -e /dev/mapper/$m ]] && dmsetup remove --force "$m" 2>/dev/null
	done
	daemon_stop
	[[ -n $loop ]] && losetup -d "$loop" 2>/dev/null
	[[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
# stop: hsmkeyd stopped and its socket gone (it leaves the file behind, and
# daemon_start takes a socket file for a daemon that listens).
stop() { daemon_stop; rm -f "$sock"; }
bail() { echo "Bail out! $*"; sed 's/^/# /' "$work/hsmkeyd.log" 2>/dev/null | tail -n 20; exit 1; }

for f in "$memscan" "$top/build/hsmkeyd" "$top/build/hsmkeyctl"; do
	[[ -x $f ]] || bail "$f missing: make userspace tests"
done
grep -q '^hsmkey ' /proc/modules || insmod "$HSMKEY_KO" || bail "insmod $HSMKEY_KO"
softhsm_setup "$work/hsm"
softhsm_token hsm-a || bail "softhsm2-util --init-token failed"
softhsm_pin_file "$work/pin"
# conf [LINE...]: the pkcs11 configuration, and any extra lines.
conf() {
	printf '%s\n' "backend = pkcs11" "pkcs11_module = $SOFTHSM_MODULE" \
		"pkcs11_token = pkcs11:token=hsm-a" "pin_file = $work/pin" \
		"deletion_wait = 1s" "$@" > "$work/hsmkeyd.conf"
}
conf
daemon_conf=$work/hsmkeyd.conf
daemon_start || bail "hsmkeyd does not start on the pkcs11 backend"
check "the daemon is up on the token, the module loaded" bash -c \
	"'$top/build/hsmkeyctl' --socket '$sock' --json status > '$work/status' &&
	 $py -c 'import json, sys; o = json.load(open(sys.argv[1]))
assert o[\"backend\"] == \"up\", o.get(\"backend_reason\")
assert o[\"kernel\"][\"loaded\"]' '$work/status'"

section "1"
# 1. Adopted keys of every type: AF_ALG against OpenSSL, delivery path.
declare -A len=([aes-128-xts]=32 [aes-256-xts]=64 [aes-128-cbc]=16 [aes-256-cbc]=32
		[aes-128-gcm]=16 [aes-256-gcm]=32)
types=(aes-128-xts aes-256-xts aes-128-cbc aes-256-cbc aes-128-gcm aes-256-gcm)
kats=()
for t in "${types[@]}"; do
	raw=$(head -c "${len[$t]}" /dev/urandom | od -An -tx1 -v | tr -d ' \n')
	kt=aes
	[[ $t == *-xts ]] && kt=generic
	check "$t: the reference client makes a key with a known value" \
		quiet p11ref create-secret --label "vendor-$t" --type "$kt" --value "$raw"
	check "$t: adopt the HSM's key with --from" quiet ctl import "k-$t" --type "$t" \
		--from "pkcs11:object=vendor-$t"
	check "$t: the kernel holds it hsm-wrapped" \
		test "$(ctl --json show "k-$t" | json 'o.get("delivery")')" = hsm-wrapped
	kats+=("$t" "$(ctl token "k-$t")" "$raw")
done
# One interpreter for what follows: each start-up takes seconds in the guest.
p11ref list > "$work/objects" 2>&1
out=$(timeout 120 "$py" "$kat" "${kats[@]}" 2>&1)
for i in "${!types[@]}"; do
	t=${types[i]}
	check "$t: the token's object now carries hsmkey's label" \
		grep -q "label=hsmkey:k-$t:v1 " "$work/objects"
	check "$t: AF_ALG with the token agrees with OpenSSL on the raw key" \
		grep -qx "$((i + 1)) ok" <<< "$out"
done
grep -v ' ok$' <<< "$out" | while IFS= read -r l; do diag "$l"; done

section "2"
# 2. dm-crypt both ways with stock cryptsetup on the raw key.  The scan of
# section 3 already runs: the volume key is adopted and loaded under it.
scan_start() {	# KEYHEX NAME: a scan of hsmkeyd in a loop, running once it has done a pass
	"$memscan" "$daemon_pid" "$1" --loop 900 > "$work/scan.$2" 2> "$work/scan.$2.err" &
	scan_pid=$!
	for _ in $(seq 600); do
		grep -q '^pass 1 ' "$work/scan.$2" && return 0
		kill -0 "$scan_pid" 2>/dev/null || break
		sleep 0.05
	done
	diag "memscan did not start: $(cat "$work/scan.$2.err")"
	return 1
}
passes() { grep -c '^pass ' "$work/scan.$1"; }
# scan_stop NAME: let the loop finish two more passes (one wholly after what
# it watched) and stop it; $found: the windows summed over its passes, or
# "none" if the scan did not run to the end (hsmkeyd died, no summary).
scan_stop() {
	local n0 alive=1
	n0=$(passes "$1")
	for _ in $(seq 600); do
		(($(passes "$1") >= n0 + 2)) && break
		kill -0 "$scan_pid" 2>/dev/null || { alive=0; break; }
		sleep 0.05
	done
	kill -TERM "$scan_pid" 2>/dev/null || alive=0
	wait "$scan_pid"
	scan_pid=
	found=none
	((alive)) && found=$(awk '$1 == "passes" && $5 == "sum" {print $6}' "$work/scan.$1")
	diag "scan $1: ${found:=none} windows; $(grep '^passes ' "$work/scan.$1")" \
		"$(grep -m3 '^region ' "$work/scan.$1" | tr '\n' ';')"
}
# loads NAME N: have hsmkeyd provision the key N times (each one a wrap in
# the token for a new ephemeral key of the kernel's).
loads() { local i; for ((i = 0; i < $2; i++)); do ctl load "$1" > /dev/null || return 1; done; }

make_xts_key "$work/raw.key"
keyhex=$(hexof "$work/raw.key")
check "the reference client makes the volume key" \
	quiet p11ref create-secret --label vendor-vol --type generic --value "$keyhex"
scan_start "$keyhex" adopted || fail "memscan runs on hsmkeyd"
check "adopt the volume key (during the scan)" \
	quiet ctl import vol --type aes-256-xts --from pkcs11:object=vendor-vol
check "load it 20 times (during the scan)" loads vol 20
truncate -s 32M "$work/disk.img"
loop=$(losetup --find --show "$work/disk.img") || bail "losetup"
head -c 8M /dev/urandom > "$work/data1"
head -c 8M /dev/urandom > "$work/data2"
check "hsmkeyctl dm open on the HSM key" quiet ctl dm open "$loop" hsm-vol --key vol
check "write through hsmkey" \
	dd if="$work/data1" of=/dev/mapper/hsm-vol bs=1M oflag=direct conv=nocreat status=none
check "hsmkeyctl dm close" quiet ctl dm close hsm-vol
check "SIGHUP: hsmkeyd converges the kernel with the token" kill -HUP "$daemon_pid"
check "...and answers after it" quiet ctl show vol
scan_stop adopted
check "hsmkeyd never held the adopted key during adopt, load, dm open, SIGHUP (0 windows)" \
	test "$found" = 0
check "stock cryptsetup open with the raw key" cryptsetup open --type plain \
	--cipher aes-xts-plain64 --key-size 512 --key-file "$work/raw.key" "$loop" stock-vol
echo 3 > /proc/sys/vm/drop_caches
check "stock dm-crypt reads what hsmkey wrote" cmp -n 8388608 "$work/data1" /dev/mapper/stock-vol
check "write through stock dm-crypt" \
	dd if="$work/data2" of=/dev/mapper/stock-vol bs=1M oflag=direct conv=nocreat status=none
check "cryptsetup close" cryptsetup close stock-vol
check "hsmkeyctl dm open again" quiet ctl dm open "$loop" hsm-vol --key vol
echo 3 > /proc/sys/vm/drop_caches
check "hsmkey reads what stock dm-crypt wrote" cmp -n 8388608 "$work/data2" /dev/mapper/hsm-vol
check "dm close" quiet ctl dm close hsm-vol

section "2b"
# 2b. A wrapped import (RSA-OAEP by openssl to the token's hsmkey:import),
# unwrapped by the token: stock dm-crypt on the raw key reads what hsmkey
# wrote, and hsmkeyd never held the key (scanned from the import on).
make_xts_key "$work/wr.key"
wrhex=$(hexof "$work/wr.key")
check "import-key: the token's public key" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' import-key > '$work/import.pem' 2>/dev/null"
md=sha1
ctl --json import-key | grep -q RSAES_OAEP_SHA_256 && md=sha256
check "wrap the raw key with openssl" openssl pkeyutl -encrypt -pubin -inkey "$work/import.pem" \
	-in "$work/wr.key" -out "$work/wr.bin" -pkeyopt rsa_padding_mode:oaep \
	-pkeyopt "rsa_oaep_md:$md" -pkeyopt "rsa_mgf1_md:$md"
scan_start "$wrhex" wrapped || fail "memscan runs on hsmkeyd"
check "import --wrapped-file (during the scan)" \
	quiet ctl import wvol --type aes-256-xts --wrapped-file "$work/wr.bin"
check "... and the kernel holds it hsm-wrapped" \
	test "$(ctl --json show wvol | json 'o["kernel"], o.get("delivery")')" = "loaded hsm-wrapped"
check "hsmkeyctl dm open on the wrapped import" quiet ctl dm open "$loop" hsm-wvol --key wvol
check "write through hsmkey" \
	dd if="$work/data1" of=/dev/mapper/hsm-wvol bs=1M oflag=direct conv=nocreat status=none
check "dm close" quiet ctl dm close hsm-wvol
scan_stop wrapped
check "hsmkeyd never held the wrapped import's key during import, load, dm open (0 windows)" \
	test "$found" = 0
check "stock cryptsetup open with the raw key" cryptsetup open --type plain \
	--cipher aes-xts-plain64 --key-size 512 --key-file "$work/wr.key" "$loop" stock-wvol
echo 3 > /proc/sys/vm/drop_caches
check "stock dm-crypt reads what hsmkey wrote with the wrapped import" \
	cmp -n 8388608 "$work/data1" /dev/mapper/stock-wvol
check "cryptsetup close" cryptsetup close stock-wvol

section "3"
# 3. A key hsmkeyd creates in the token: the reference client learns it
# (wrapped under a KEK of its own, unwrapped by OpenSSL), never from hsmkeyd.
check "create a key in the token" quiet ctl create made --type aes-256-xts
made=$(p11ref wrap-under --label hsmkey:made:v1 --kek-label ref-kek --unwrap |
	sed -n 's/^key //p')
check "the reference client learns the created key (64 bytes)" test "${#made}" = 128
scan_start "$made" made || fail "memscan runs on hsmkeyd"
check "load it 100 times (during the scan)" loads made 100
printf 'correct horse' > "$work/pass"
check "luks format on the HSM key" quiet ctl luks format "$loop" --key made \
	--passphrase-file "$work/pass" --yes -- --pbkdf pbkdf2 --pbkdf-force-iterations 1000
check "luks open" quiet ctl luks open "$loop" lk-vol --passphrase-file "$work/pass"
check "write through the LUKS2 volume" \
	dd if="$work/data1" of=/dev/mapper/lk-vol bs=1M oflag=direct conv=nocreat status=none
check "luks close" quiet ctl luks close lk-vol
scan_stop made
check "hsmkeyd never held the created key during load, LUKS format and open (0 windows)" \
	test "$found" = 0
stop
daemon_spawn
scan_start "$made" restart || fail "memscan runs on the restarted hsmkeyd"
wait_socket "$sock" "$daemon_pid" || bail "hsmkeyd does not restart"
check "the daemon restarts on the token" quiet ctl status
check "luks open after the restart" \
	quiet ctl luks open "$loop" lk-vol --passphrase-file "$work/pass"
echo 3 > /proc/sys/vm/drop_caches
check "the volume reads back what was written" cmp -n 8388608 "$work/data1" /dev/mapper/lk-vol
check "luks close" quiet ctl luks close lk-vol
scan_stop restart
check "hsmkeyd never held it across restart, load and LUKS open (0 windows)" \
	test "$found" = 0
n=$("$memscan" "$daemon_pid" "$made" | sed -n 's/^total \([0-9]*\) .*/\1/p')
check "nor after, for the created key (0 windows)" test "${n:-none}" = 0
n=$("$memscan" "$daemon_pid" "$keyhex" | sed -n 's/^total \([0-9]*\) .*/\1/p')
check "nor after, for the adopted key (0 windows)" test "${n:-none}" = 0

# The positive control: the build that keeps what it should wipe
# (hsmkeyd-nowipe) imports a raw key, which reaches the kernel; the same
# scan finds it in that daemon's memory.  (hsmkeyd's own import leaves no
# window: tests/host/test_p11_scan.sh.)  A daemon that loads the module in
# its own process (pkcs11_helper = no) is no control: SoftHSM holds a key
# in clear only for the instant of a wrap, which no pass of the scan met
# in many runs.
stop
if daemon_bin=$top/build/tests/hsmkeyd-nowipe daemon_start; then
	head -c 64 /dev/urandom > "$work/raw.key"
	check "the build that keeps what it should wipe imports a raw key" \
		quiet ctl import raw --type aes-256-xts --key-file "$work/raw.key"
	check "... and the kernel holds it hsm-wrapped" \
		test "$(ctl --json show raw | json 'o["kernel"], o.get("delivery")')" = "loaded hsm-wrapped"
	n=$("$memscan" "$daemon_pid" "$(hexof "$work/raw.key")" | sed -n 's/^total \([0-9]*\) .*/\1/p')
	check "positive control: the same scan finds that key in its memory (${n:-no} windows)" \
		test "${n:-0}" -gt 0
else
	fail "the build that keeps what it should wipe starts: no deterministic positive control"
fi
stop
daemon_start || bail "hsmkeyd does not start again"

section "4"
# 4. Destruction leaves nothing in the token.
for k in made vol; do
	id=$(ctl --json show "$k" | json 'o["id"]')
	check "$k: the token holds its object" quiet p11ref find --id-prefix "$id"
	check "$k: schedule the deletion (deletion_wait 1s)" quiet ctl schedule-deletion "$k"
	for _ in $(seq 60); do ctl list | grep -q "^$k " || break; sleep 0.5; done
	check "$k: destroyed after the wait (gone from the list)" \
		bash -c "! '$top/build/hsmkeyctl' --socket '$sock' list | grep -q '^$k '"
	p11ref find --id-prefix "$id" > "$work/find" 2>&1
	check "$k: the reference client finds no object of it (exit 1: none)" test $? = 1
done
section "5"
# 5. A fresh kernel gets the keys in KEY_ADD batches: one ECDH in the
# module per batch, not per key version.
stop
check "unload the module (its keys go with it)" rmmod hsmkey
check "load it again" insmod "$HSMKEY_KO"
: > "$work/hsmkeyd.log"
daemon_start || bail "hsmkeyd does not start on a fresh kernel"
check "the start-up delivered the keys in batches (the log says how many per batch)" \
	grep -q "the kernel took [0-9]* key versions in one batch" "$work/hsmkeyd.log"
check "... and the kernel refused no batch" \
	bash -c "! grep -q 'the kernel refused a batch' '$work/hsmkeyd.log'"
check "... and the six keys of every type are loaded, hsm-wrapped" \
	test "$(ctl --json list | json 'sorted(set((k["kernel"], k.get("delivery")) for k in o["keys"] if k["name"].startswith("k-aes")))')" \
	= "[('loaded', 'hsm-wrapped')]"
# A key the token can no longer wrap (its object destroyed behind
# hsmkeyd's back) does not keep the others out of a fresh kernel: the
# start-up batch is refused whole, then its keys go again one by one.
stop
check "unload the module again" rmmod hsmkey
check "load it again" insmod "$HSMKEY_KO"
check "the reference client destroys k-aes-128-cbc's object behind hsmkeyd's back" \
	quiet p11ref destroy --label hsmkey:k-aes-128-cbc:v1
daemon_start || bail "hsmkeyd does not start with a key's object gone"
for t in aes-128-xts aes-256-xts aes-256-cbc aes-128-gcm aes-256-gcm; do
	check "$t: loaded at start, hsm-wrapped, beside a key that cannot be" \
		test "$(ctl --json show "k-$t" | json 'o["kernel"], o.get("delivery")')" \
		= "loaded hsm-wrapped"
done
check "the key whose object is gone is not in the kernel" \
	test "$(ctl --json show k-aes-128-cbc | json 'o["kernel"]')" = absent
check "the log names it" grep -q "cannot load key k-aes-128-cbc" "$work/hsmkeyd.log"

section "5b"
# 5b. The pipeline (daemon/batch.c) on a key store of its own (token
# hsm-p): 34 keys make a first round of 32 versions and a second of 2.
# With one object of the first round gone, the first round fails while
# the token wraps the second; the second is handed to the kernel first,
# then the first goes again without the pipeline, key by key: the 33
# others are loaded.
#
# own_store TOKEN N PREFIX: hsmkeyd stopped, a key store of its own on a
# new token TOKEN (own_start TOKEN starts hsmkeyd on it), N aes-128-xts
# keys made in it (PREFIX00...), hsmkeyd stopped and the module reloaded:
# the next start-up delivers every key.
own_start() { daemon_conf=$work/$1.conf daemon_state=$work/state-$1 daemon_start; }
own_store() {
	local made=0 i
	stop
	softhsm_token "$1" || bail "softhsm2-util --init-token $1 failed"
	printf '%s\n' "backend = pkcs11" "pkcs11_module = $SOFTHSM_MODULE" \
		"pkcs11_token = pkcs11:token=$1" "pin_file = $work/pin" > "$work/$1.conf"
	own_start "$1" || bail "hsmkeyd does not start on $1"
	for i in $(seq -w 0 $(($2 - 1))); do
		ctl create "$3$i" --type aes-128-xts >/dev/null 2>&1 && made=$((made + 1))
	done
	check "$2 keys made in $1" test "$made" = "$2"
	stop
	check "unload the module" rmmod hsmkey
	check "load it again" insmod "$HSMKEY_KO"
}
own_store hsm-p 34 p
p11p() { "$py" "$top/tests/lib/p11ref.py" "$@" --token hsm-p --pin-file "$work/pin"; }
check "the reference client destroys p05's object behind hsmkeyd's back" \
	quiet p11p destroy --label hsmkey:p05:v1
: > "$work/hsmkeyd.log"
own_start hsm-p || bail "hsmkeyd does not start on hsm-p with an object gone"
check "the 33 others are loaded, hsm-wrapped" \
	test "$(ctl --json list | json 'sum(1 for k in o["keys"] if k["kernel"] == "loaded" and k.get("delivery") == "hsm-wrapped")')" = 33
check "p05 is not in the kernel" \
	test "$(ctl --json list | json '[k["name"] for k in o["keys"] if k["kernel"] != "loaded"]')" = "['p05']"
check "the first round failed and went again without the pipeline" \
	grep -q "a batch of 32 key version(s) failed .*: the 32 the kernel did not take go again without the pipeline" \
	"$work/hsmkeyd.log"
check "the second round did not fail" \
	bash -c "! grep -q 'a batch of 2 key version(s) failed' '$work/hsmkeyd.log'"
# The second round's batch is logged before the first round's keys go again.
line() { grep -n "$1" "$work/hsmkeyd.log" | head -n 1 | cut -d: -f1; }
second=$(line "the kernel took 2 key versions in one batch") again=$(line "cannot load key p05")
check "the second round went to the kernel before the first went again (lines $second, $again)" \
	test -n "$second" -a -n "$again" -a "${second:-0}" -lt "${again:-0}"
stop

section "5b2"
# 5b2. What a start-up counts as not loaded when a round fails whole: the
# keys in that round, not every key it was given.  The kernel holds 33 of
# hsm-p's 34 keys (5b); p05's version is the one round.  The token is
# hsm-p behind tests/lib/p11_slow.c, which answers every ECDH of a helper
# after its opening's with CKR_DEVICE_REMOVED: the round's wrap fails,
# and so does its retry without the pipeline (the token down until a new
# helper opens it).
printf '%s\n' "backend = pkcs11" "pkcs11_module = $top/build/tests/p11_slow.so" \
	"pkcs11_token = pkcs11:token=hsm-p" "pin_file = $work/pin" > "$work/hsm-p-down.conf"
echo "0x32 1" > "$work/derive-rv"
: > "$work/hsmkeyd.log"
HSMKEY_SLOW_MODULE=$SOFTHSM_MODULE HSMKEY_SLOW_DERIVE_FILE=$work/derive-rv \
	daemon_conf=$work/hsm-p-down.conf daemon_state=$work/state-hsm-p daemon_start ||
	bail "hsmkeyd does not start on hsm-p behind tests/lib/p11_slow.c"
check "the round of p05's version failed whole (the token down)" \
	grep -q "cannot load a batch of 1 key version(s): .*CKR_DEVICE_REMOVED" "$work/hsmkeyd.log"
counted=$(grep -m1 -o "[0-9]* key(s) could not be provisioned" "$work/hsmkeyd.log")
check "the start-up counts one key not loaded, not the 34 it was given (${counted:-none})" \
	test "$counted" = "1 key(s) could not be provisioned"
n=$(ctl --json status | json 'o["kernel"]["keys"]')
check "the kernel still holds the 33 others: nothing revoked (status: $n)" test "$n" = 33
stop
check "unload the module (hsm-p's keys go with it)" rmmod hsmkey
check "load it again" insmod "$HSMKEY_KO"

section "5c"
# 5c. The last round in two (daemon/batch.c, flush_split()): on a key
# store of its own (token hsm-q), 130 keys make a first round of 32 and a
# last of 98, whose last 32 versions go to the token on their own while
# the kernel takes the other 66: three batches, 32, 66 and 32, in that
# order, and every key loaded.  (Unsplit, the second would be 98.)
own_store hsm-q 130 q
: > "$work/hsmkeyd.log"
own_start hsm-q || bail "hsmkeyd does not start on hsm-q again"
check "the 130 are loaded, hsm-wrapped" \
	test "$(ctl --json list | json 'sum(1 for k in o["keys"] if k["kernel"] == "loaded" and k.get("delivery") == "hsm-wrapped")')" = 130
batches=$(sed -n 's/.*the kernel took \([0-9]*\) key versions in one batch.*/\1/p' "$work/hsmkeyd.log" | tr '\n' ' ')
check "three batches: 32, the last round's first 66, its last 32 (got: $batches)" \
	test "$batches" = "32 66 32 "
check "no batch failed" bash -c "! grep -q 'key version(s) failed' '$work/hsmkeyd.log'"
stop
check "unload the module (hsm-q's keys go with it)" rmmod hsmkey
check "load it again" insmod "$HSMKEY_KO"
daemon_start || bail "hsmkeyd does not start on hsm-a again"

section "6"
# 6. State changes whose anchor the token does not confirm: the daemon
# built with crash points stops right after the record's rename, a stray
# newer anchor (as another writer would leave) makes the token refuse
# ours, then it goes on.  A revocation or a disabling reaches the kernel
# all the same; an enabling gives the key back only once it is confirmed.
# (The host side, tests/host/test_pkcs11_anchor.sh: replies, the record.)
afalg=$top/tests/guest/afalg.py
crashd=$top/build/tests/hsmkeyd-crash
stray() {
	softhsm_py hsm-a <<'EOPY'
s.createObject([(P.CKA_CLASS, P.CKO_DATA), (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True),
	(P.CKA_APPLICATION, "hsmkey anchor"), (P.CKA_LABEL, "hsmkey:anchor:999999"),
	(P.CKA_VALUE, b"x" * 40)])
EOPY
}
unstray() {
	softhsm_py hsm-a <<'EOPY'
for o in s.findObjects([(P.CKA_LABEL, "hsmkey:anchor:999999")]):
	s.destroyObject(o)
EOPY
}
stopped() { [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == T ]]; }
# unconfirmed CTL-ARGS...: run the request on the crash build, the token
# refusing its anchor; the crash build keeps running (unconfirmed state)
# until stop.
unconfirmed() {
	local i req
	stop
	daemon_bin=$crashd daemon_wrap="env HSMKEY_CRASH_POINT=p11-key-written HSMKEY_CRASH_STOP=1" \
		daemon_start || return 1
	ctl "$@" > "$work/unconfirmed.out" 2>&1 &
	req=$!
	for ((i = 0; i < 100; i++)); do stopped "$daemon_pid" && break; sleep 0.1; done
	stopped "$daemon_pid" || { diag "the daemon did not stop at p11-key-written"; return 1; }
	stray
	kill -CONT "$daemon_pid"
	wait $req
	diag "$*: $(cat "$work/unconfirmed.out")"
	grep -q "is written but the HSM did not confirm it" "$work/unconfirmed.out"
}
[[ -x $crashd ]] || bail "$crashd missing: make tests"
declare -A tok
binds() {	# what setkey with each key's token gives, in order
	local k out=
	for k in u-rev u-dis u-en; do out+="$("$afalg" bind "${tok[$k]}") "; done
	echo $out
}
for k in u-rev u-dis u-en; do
	check "$k: create it (provisioned)" quiet ctl create $k --type aes-256-xts
	tok[$k]=$(ctl token $k)
done
check "u-en: disable it" quiet ctl disable u-en
check "the three bind as they should before (ok ok EPERM)" test "$(binds)" = "ok ok EPERM"
check "revoke u-rev, its anchor unconfirmed: the reply says so" unconfirmed revoke u-rev
check "... and u-rev no longer binds (EKEYREVOKED)" \
	test "$("$afalg" bind "${tok[u-rev]}")" = EKEYREVOKED
unstray
check "disable u-dis, its anchor unconfirmed: the reply says so" unconfirmed disable u-dis
check "... and u-dis no longer binds (EPERM)" test "$("$afalg" bind "${tok[u-dis]}")" = EPERM
unstray
check "enable u-en, its anchor unconfirmed: the reply says so" unconfirmed enable u-en
check "... and u-en still does not bind (EPERM) while unconfirmed" \
	test "$("$afalg" bind "${tok[u-en]}")" = EPERM
unstray
stop
daemon_start || bail "hsmkeyd does not start after the unconfirmed changes"
check "the token right again, each change stands (revoked disabled active)" \
	test "$(for k in u-rev u-dis u-en; do ctl --json show $k | json 'o["state"]'; done | xargs)" \
	= "revoked disabled active"
check "... and the kernel follows (EKEYREVOKED EPERM ok)" test "$(binds)" = "EKEYREVOKED EPERM ok"
section "7"
# 7. Two tokens as one key store: hsm-b joins (the store's secrets and
# every key version copied into it, wrapped, token to token).  hsm-a's
# helper hangs in the middle of an operation: after pkcs11_timeout hsm-b
# takes over, the operation completes there and hsm-b delivers to the
# kernel; hsm-a, back, is brought up to date.  Then, with hsm-a refusing
# the PIN, the start waits for it (hsm-b's anchor names it) until the
# operator leaves it out; a fresh kernel gets every key from hsm-b alone:
# AF_ALG agrees with OpenSSL on each raw key, which the reference client
# wraps out of the token that made it, so hsm-b's copies are the same
# keys and its verifiers the same tokens.  hsm-a, back, is not used.
stop
softhsm_token hsm-b || bail "softhsm2-util --init-token hsm-b failed"
p11b() { "$py" "$top/tests/lib/p11ref.py" "$@" --token hsm-b --pin-file "$work/pin"; }
printf '%s\n' "backend = pkcs11" "pkcs11_module = $SOFTHSM_MODULE" \
	"pkcs11_token = pkcs11:token=hsm-a" "pkcs11_token = pkcs11:token=hsm-b" \
	"pin_file = $work/pin" "pkcs11_timeout = 5s" "deletion_wait = 1s" > "$work/pair.conf"
daemon_conf=$work/pair.conf
: > "$work/hsmkeyd.log"
daemon_start || bail "hsmkeyd does not start on two tokens"
in_step() {
	local _
	for _ in $(seq 240); do
		grep -q "token '$1' is in step with the key store again" "$work/hsmkeyd.log" && return 0
		ctl list >/dev/null 2>&1
		sleep 0.5
	done
	return 1
}
check "hsm-b joins and is brought up to date" in_step hsm-b
diag "$(grep -o "token 'hsm-b' is in step.*" "$work/hsmkeyd.log" | tail -1)"
check "create pk in the pair" quiet ctl create pk --type aes-256-gcm
raw_pk=$(p11ref wrap-under --label hsmkey:pk:v1 --kek-label ref-kek --unwrap | sed -n 's/^key //p')
tok_pk=$(ctl token pk)
check "pk: AF_ALG agrees with OpenSSL on the raw key from hsm-a" \
	test "$(timeout 60 "$py" "$kat" aes-256-gcm "$tok_pk" "$raw_pk" 2>&1)" = ok
helper_a=$(sed -n "s/.*token 'hsm-a' is up (helper \([0-9]*\)).*/\1/p" "$work/hsmkeyd.log" | tail -1)
check "hsm-a's helper is known ($helper_a) and running" kill -0 "${helper_a:-0}"
kill -STOP "$helper_a"
check "with hsm-a's helper hung, create pk2 succeeds" quiet ctl create pk2 --type aes-128-cbc
check "the log says FAILOVER from hsm-a to hsm-b" \
	grep -q "FAILOVER: token 'hsm-a' failed (.*); token 'hsm-b', in step at generation [0-9]*, takes over" \
	"$work/hsmkeyd.log"
raw_pk2=$(p11b wrap-under --label hsmkey:pk2:v1 --kek-label ref-kek --unwrap | sed -n 's/^key //p')
check "pk2 was made in hsm-b (the reference client wraps it out: 16 bytes)" test "${#raw_pk2}" = 32
check "pk2: delivered by hsm-b, hsm-wrapped" \
	test "$(ctl --json show pk2 | json 'o["kernel"], o.get("delivery")')" = "loaded hsm-wrapped"
check "pk2: AF_ALG agrees with OpenSSL on the raw key from hsm-b" \
	test "$(timeout 60 "$py" "$kat" aes-128-cbc "$(ctl token pk2)" "$raw_pk2" 2>&1)" = ok
kill -CONT "$helper_a" 2>/dev/null
# (at the first operation after its helper was started again: perhaps
# one of those above; the log has had no such line for hsm-a before)
check "hsm-a answers again and is brought up to date (pk2 copied to it)" in_step hsm-a
stop
check "unload the module" rmmod hsmkey
check "load it again" insmod "$HSMKEY_KO"
setpin() {	# TOKEN OLD NEW
	softhsm_py "$1" "$2" <<< "s.setPin('$2', '$3')"
}
check "hsm-a's PIN changed behind hsmkeyd (it will refuse hsmkeyd's)" setpin hsm-a "$SOFTHSM_PIN" 55555555
# hsm-b's anchor names hsm-a, in step with it when it was written: with
# hsm-a not answering, hsm-b alone does not vouch for the records (hsm-a
# may have gone on without it) and the start waits, until the operator
# leaves hsm-a out.
: > "$work/hsmkeyd.log"
daemon_start || bail "hsmkeyd does not start with hsm-a refusing the PIN"
check "with hsm-a refusing the PIN, the store waits for it (hsm-b's anchor names it)" \
	bash -c "for i in \$(seq 60); do
	'$top/build/hsmkeyctl' --socket '$sock' --json status |
		grep -q \"token 'hsm-b': vouches for the records at generation [0-9]*, when token '[^']*hsm-a'\" && exit 0
	sleep 0.5; done; exit 1"
check "... and refuses what needs the key store meanwhile (token pk)" \
	bash -c "! '$top/build/hsmkeyctl' --socket '$sock' token pk >/dev/null 2>&1"
stop
check "hsmkeyd --leave-out-absent: the store as hsm-b vouches for it, hsm-a left out" \
	"$top/build/hsmkeyd" --config "$daemon_conf" --state-dir "${daemon_state:-$work/state}" \
	--socket "$sock" --leave-out-absent 2>>"$work/hsmkeyd.log"
daemon_start || bail "hsmkeyd does not start after --leave-out-absent"
# (a token never reached is named by its URI: pkcs11:token=hsm-a)
check "status: hsm-b in use, hsm-a down" bash -c "for i in \$(seq 60); do
	'$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q \"token '[^']*hsm-a' (down), token 'hsm-b' (in use)\" && exit 0
	sleep 0.5; done; exit 1"
check "pk: loaded into the fresh kernel by hsm-b, the same token as before" \
	test "$(ctl --json show pk | json 'o["kernel"], o.get("delivery")') $(ctl token pk)" = \
	"loaded hsm-wrapped $tok_pk"
check "pk: AF_ALG agrees with OpenSSL on the raw key hsm-a made (hsm-b's copy is that key)" \
	test "$(timeout 60 "$py" "$kat" aes-256-gcm "$(ctl token pk)" "$raw_pk" 2>&1)" = ok
check "pk2 too" \
	test "$(timeout 60 "$py" "$kat" aes-128-cbc "$(ctl token pk2)" "$raw_pk2" 2>&1)" = ok
check "hsm-a's PIN back" setpin hsm-a 55555555 "$SOFTHSM_PIN"
kill -HUP "$daemon_pid"
check "after SIGHUP hsm-a answers, and is not used: the operator left it out" \
	bash -c "for i in \$(seq 120); do '$top/build/hsmkeyctl' --socket '$sock' list >/dev/null 2>&1
	'$top/build/hsmkeyctl' --socket '$sock' --json status |
		grep -q \"token 'hsm-a' (NOT USED: left out by the operator)\" && exit 0
	sleep 0.5; done; exit 1"
check "create pk3" quiet ctl create pk3 --type aes-128-cbc
check "... made in hsm-b (the reference client finds it)" quiet p11b find --label hsmkey:pk3:v1
absent_in_a() { p11ref find --label "$1" 2>&1 | grep -q "no object matches"; }
check "... and nothing of it goes into hsm-a" absent_in_a hsmkey:pk3:v1
tap_done
