#!/bin/bash
# Every parser under libFuzzer (ASan, UBSan) for a short while: the
# control protocol, hsmkeyd.conf, key files (unsealing included, over a
# real keystore), the LUKS2 header editor of "hsmkeyctl luks format" and
# the KMIP client's TTLV and message parsers (seeded with the answers of
# PyKMIP's server engine), and the reader of identity key files (seeded
# with what OpenSSL writes).  FUZZ_SECONDS per target (default 10: the
# test command's budget; FUZZ_SECONDS=600 tests/host/test_fuzz.sh for a
# longer run).  A crash, leak or sanitizer report fails the target; its
# reproducer is kept in the work directory named in the output.
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/hsmkey-fuzz.XXXXXX)
. "$top/tests/lib/tap.sh"
secs=${FUZZ_SECONDS:-10}

# A real key file named k, as a seed for the key file parser.
export FUZZ_KEYSTORE=$work/keystore
mkdir -p "$work/seeds/keyfile"
(
	work=$work/daemon; mkdir -p "$work"
	. "$top/tests/lib/daemon.sh"
	daemon_state=$FUZZ_KEYSTORE daemon_log=/dev/null daemon_start
	ctl create k --type aes-256-xts >/dev/null
	ctl policy k --users root --max-bytes 100 >/dev/null
	ctl rotate k >/dev/null
	daemon_stop
)
cp "$FUZZ_KEYSTORE/keys/k.json" "$work/seeds/keyfile/"
# A real LUKS2 header (both copies), made by cryptsetup.
mkdir -p "$work/seeds/luks2"
truncate -s 20M "$work/luks.img"
head -c 64 /dev/urandom > "$work/vk"
printf pw | cryptsetup luksFormat --batch-mode --type luks2 --volume-key-file "$work/vk" --key-size 512 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file - "$work/luks.img" >/dev/null 2>&1
head -c 32768 "$work/luks.img" > "$work/seeds/luks2/header"
rm -f "$work/luks.img" "$work/vk"

# Real KMIP answers: hsmkey's requests, answered by PyKMIP's server engine.
mkdir -p "$work/seeds/ttlv"
"$top/build/tests/ttlv_tool" requests "$work/seeds/ttlv" &&
	/usr/bin/python3 "$top/tests/host/kmip/engine.py" "$work/seeds/ttlv" > /dev/null 2>&1
rm -f "$work/seeds/ttlv/pykmip.db"
diag "ttlv seeds: $(ls "$work/seeds/ttlv" | grep -c '\.resp$') answers of PyKMIP's"

# Identity key files as OpenSSL writes them: PKCS#8 and SEC 1, PEM and DER.
mkdir -p "$work/seeds/identity"
for c in P-256 P-384; do
	openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$c" -out "$work/seeds/identity/$c.p8" 2>/dev/null
	openssl ec -in "$work/seeds/identity/$c.p8" -out "$work/seeds/identity/$c.sec1" 2>/dev/null
	openssl ec -in "$work/seeds/identity/$c.p8" -outform DER -out "$work/seeds/identity/$c.der" 2>/dev/null
done
openssl genpkey -algorithm ED25519 -out "$work/seeds/identity/ed25519.p8" 2>/dev/null
openssl pkey -in "$work/seeds/identity/ed25519.p8" -outform DER -out "$work/seeds/identity/ed25519.der"
# RSA: PKCS#8 PEM and DER, PKCS#1 ("RSA PRIVATE KEY") PEM and DER.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/seeds/identity/rsa.p8" 2>/dev/null
openssl pkey -in "$work/seeds/identity/rsa.p8" -outform DER -out "$work/seeds/identity/rsa.p8der"
openssl rsa -in "$work/seeds/identity/rsa.p8" -traditional -out "$work/seeds/identity/rsa.p1" 2>/dev/null
openssl rsa -in "$work/seeds/identity/rsa.p8" -traditional -outform DER \
	-out "$work/seeds/identity/rsa.p1der" 2>/dev/null

# Blobs the reference makes under fuzz_kms's key (no context), and contexts.
mkdir -p "$work/seeds/kms"
printf 'hsmkey fuzz_kms key 0123456789ab' > "$work/kms.key"
head -c 16 "$work/kms.key" > "$work/kms128.key"
printf 'data the fuzzer starts from' > "$work/kms.pt"
/usr/bin/python3 "$top/tests/lib/kms_blob.py" seal "$work/kms.key" 00112233445566778899aabbccddeeff 3 \
	"$work/kms.pt" > "$work/seeds/kms/b256"
/usr/bin/python3 "$top/tests/lib/kms_blob.py" seal "$work/kms128.key" 00112233445566778899aabbccddeeff 1 \
	"$work/kms.pt" > "$work/seeds/kms/b128"
printf '{"purpose":"backup","host":"db-1","a":""}' > "$work/seeds/kms/context"

for t in proto config keyfile luks2 ttlv identity kms; do
	mkdir -p "$work/corpus-$t"
	[[ -d $top/tests/fuzz/seeds/$t ]] && cp "$top/tests/fuzz/seeds/$t"/* "$work/corpus-$t/"
	[[ -d $work/seeds/$t ]] && cp "$work/seeds/$t"/* "$work/corpus-$t/"
	(cd "$work" && "$top/build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 "$work/corpus-$t" > "$work/$t.log" 2>&1)
	rc=$?
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$')
	diag "fuzz_$t: ${runs:-?} inputs in ${secs} s, exit $rc"
	check "fuzz_$t: no crash, leak or sanitizer report" test "$rc" = 0 -a -n "$runs"
	[[ $rc == 0 ]] || { grep -E 'ERROR|SUMMARY|artifact' "$work/$t.log" | head -5 | sed 's/^/# /'; echo "# kept in $work"; }
done
[[ $_tap_failed == 0 ]] && rm -rf "$work"
tap_done
