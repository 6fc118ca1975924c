#!/bin/bash
# MACs and random bytes of the local KMS API on the embedded key store.
# MACs of a key imported raw are checked against OpenSSL's HMAC, through
# hsmkeyctl and through libhsmkey itself (ctypes); then what verify-mac
# must refuse, rotation, the grants from an unprivileged user's side, the
# key types that do not mix, the key's states, random's bounds, the audit
# records (never the message), reader_group, and hsmkeyd's memory after a
# MAC (the no-wipe build as the positive control).  All of it again on a
# SoftHSM2 token (test_pkcs11_kms_mac.sh), where the token makes the MACs,
# and on a KMIP server (test_kmip_kms_mac.sh).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

memscan=$top/build/tests/memscan
nowipe=$top/build/tests/hsmkeyd-nowipe
# as_nobody CMD...: hsmkeyctl as uid 65534 (group nogroup, 65534, only).
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$top/build/hsmkeyctl" --socket "$sock" "$@"; }
hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }
# ref KEY-FILE MESSAGE-FILE: OpenSSL's HMAC-SHA256 of the message, in hex.
ref() { openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(hex "$1")" -r "$2" | cut -d' ' -f1; }
# mac_is KEY MESSAGE-FILE KEY-FILE: key KEY's MAC is 32 bytes, OpenSSL's under KEY-FILE.
mac_is() {
	ctl mac "$1" < "$2" > "$work/got" && test "$(stat -c %s "$work/got")" -eq 32 &&
		test "$(hex "$work/got")" = "$(ref "$3" "$2")"
}
# flip FILE OFFSET OUT: FILE with a bit of the byte at OFFSET changed.
flip() { /usr/bin/python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[int(sys.argv[2])]^=1; open(sys.argv[3],"wb").write(b)' "$@"; }
raw() { /usr/bin/python3 "$top/tests/lib/rawreq.py" "$sock" "$@"; }
# raw_says TEXT JSON [PAYLOAD]: the reply refuses, saying TEXT.
raw_says() {
	local text=$1; shift
	raw "$@" > "$work/raw" && grep -q '"ok": false' "$work/raw" && grep -q -- "$text" "$work/raw"
}
# lib CALL ARGS...: a libhsmkey call from Python (ctypes), its result printed.
lib() {
	/usr/bin/python3 - "$top/build/libhsmkey.so.0" "$sock" "$@" <<'PY'
import ctypes as C, sys
lib = C.CDLL(sys.argv[1])
lib.hsmkey_open.argtypes = [C.c_char_p, C.POINTER(C.c_void_p)]
lib.hsmkey_error.argtypes = [C.c_void_p]
lib.hsmkey_error.restype = C.c_char_p
lib.hsmkey_generate_mac.argtypes = [C.c_void_p, C.c_char_p, C.c_char_p, C.c_size_t,
                                    C.c_char_p, C.POINTER(C.c_uint32)]
lib.hsmkey_verify_mac.argtypes = [C.c_void_p, C.c_char_p, C.c_uint32, C.c_char_p, C.c_size_t,
                                  C.c_char_p]
lib.hsmkey_generate_random.argtypes = [C.c_void_p, C.c_char_p, C.c_size_t]
h = C.c_void_p()
if lib.hsmkey_open(sys.argv[2].encode(), C.byref(h)):
    sys.exit("cannot open a handle")
call, args = sys.argv[3], sys.argv[4:]
if call == "mac":		# KEY MESSAGE-FILE: "r version machex"
    msg, mac, ver = open(args[1], "rb").read(), C.create_string_buffer(32), C.c_uint32()
    r = lib.hsmkey_generate_mac(h, args[0].encode(), msg, len(msg), mac, C.byref(ver))
    print(r, ver.value, mac.raw.hex())
elif call == "verify":		# KEY VERSION MESSAGE-FILE MAC-FILE: "r"
    msg, mac = open(args[2], "rb").read(), open(args[3], "rb").read()
    print(lib.hsmkey_verify_mac(h, args[0].encode(), int(args[1]), msg, len(msg), mac))
elif call == "random":		# N: "r hex"
    buf = C.create_string_buffer(max(int(args[0]), 1))
    r = lib.hsmkey_generate_random(h, buf, int(args[0]))
    print(r, buf.raw[:int(args[0])].hex())
print(lib.hsmkey_error(h).decode(), file=sys.stderr)
PY
}

section "hsmkeyctl's usage"
for c in mac verify-mac random; do
	check "$c --help prints its usage and exits 0" bash -c "'$top/build/hsmkeyctl' $c --help | grep -q '^Usage: hsmkeyctl $c '"
done
check "mac without a name is a usage error (2)" bash -c "'$top/build/hsmkeyctl' --socket '$sock' mac < /dev/null 2>/dev/null; test \$? -eq 2"
check "verify-mac without a MAC file too" bash -c "'$top/build/hsmkeyctl' --socket '$sock' verify-mac k < /dev/null 2>/dev/null; test \$? -eq 2"
check "random of a count that is no number too" bash -c "'$top/build/hsmkeyctl' --socket '$sock' random 1x 2>/dev/null; test \$? -eq 2"
check "the key types' list names hmac-sha256" bash -c "'$top/build/hsmkeyctl' --help | grep -q '^MAC key types.*hmac-sha256'"

daemon_start || { fail "hsmkeyd starts"; tap_done; }

section "a MAC key imported raw; its MACs checked against OpenSSL"
head -c 32 /dev/urandom > "$work/raw1"
check "hmac-sha256 imported raw" quiet ctl import hm --type hmac-sha256 --key-file "$work/raw1"
check_in_storage hm
head -c 31 /dev/urandom > "$work/raw31"
check "... a key file of 31 bytes is refused" expect_fail "hmac-sha256 key file must hold exactly 32 bytes" \
	ctl import short --type hmac-sha256 --key-file "$work/raw31"
: > "$work/m0"
printf x > "$work/m1"
printf 'The quick brown fox jumps over the lazy dog' > "$work/mtext"
head -c 1000 /dev/urandom > "$work/m1000"
head -c 32768 /dev/urandom > "$work/mmax"
head -c 32769 /dev/urandom > "$work/mover"
check "a key with no grant makes MACs for nobody, root included" \
	expect_fail "may not make or verify MACs with key 'hm'" ctl mac hm < "$work/mtext"
check "grant mac to root" quiet ctl policy hm --grant mac:root
for m in m0 m1 mtext m1000 mmax; do
	check "$m ($(stat -c %s "$work/$m") bytes): the MAC is OpenSSL's HMAC-SHA256 under the raw key" \
		mac_is hm "$work/$m" "$work/raw1"
done
check "a MAC is the same each time (deterministic)" \
	bash -c "cmp -s <('$top/build/hsmkeyctl' --socket '$sock' mac hm < '$work/m1000') <('$top/build/hsmkeyctl' --socket '$sock' mac hm < '$work/m1000')"
check "32769 bytes are refused by hsmkeyctl" expect_fail "more than 32768" ctl mac hm < "$work/mover"
check "... and by hsmkeyd itself" raw_says "0 to 32768 bytes" '{"v":1,"op":"generate-mac","name":"hm"}' "$work/mover"
check "... nothing written for them" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' mac hm < '$work/mover' 2>/dev/null | grep -q ."
raw '{"v":1,"op":"generate-mac","name":"hm"}' "$work/mtext" > "$work/raw"
check "the reply names the key and version 1, with 32 bytes" \
	grep -q '"name": "hm", "version": 1, "payload_len": 32' "$work/raw"
check "a MAC key made by create makes 32-byte MACs" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' create hc --type hmac-sha256 >/dev/null &&
	'$top/build/hsmkeyctl' --socket '$sock' policy hc --grant mac:root >/dev/null &&
	test \$('$top/build/hsmkeyctl' --socket '$sock' mac hc < '$work/mtext' | wc -c) -eq 32 &&
	! cmp -s <('$top/build/hsmkeyctl' --socket '$sock' mac hc < '$work/mtext') \
		<('$top/build/hsmkeyctl' --socket '$sock' mac hm < '$work/mtext')"

section "verify-mac"
ctl mac hm < "$work/m1000" > "$work/mac1000"
ctl mac hm < "$work/m0" > "$work/mac0"
check "the right MAC verifies" bash -c "'$top/build/hsmkeyctl' --socket '$sock' verify-mac hm '$work/mac1000' < '$work/m1000' | grep -qx 'Verified OK'"
check "... of the empty message too" quiet ctl verify-mac hm "$work/mac0" < "$work/m0"
flip "$work/mac1000" 31 "$work/macflip"
check "a MAC with a bit flipped does not match" expect_fail "the MAC does not match" \
	ctl verify-mac hm "$work/macflip" < "$work/m1000"
flip "$work/m1000" 500 "$work/m1000flip"
check "a message with a bit flipped does not match" expect_fail "the MAC does not match" \
	ctl verify-mac hm "$work/mac1000" < "$work/m1000flip"
check "another message's MAC does not match" expect_fail "the MAC does not match" \
	ctl verify-mac hm "$work/mac0" < "$work/m1000"
head -c 31 "$work/mac1000" > "$work/mac31"
check "a truncated MAC is refused" expect_fail "is no MAC: fewer bytes, not 32" \
	ctl verify-mac hm "$work/mac31" < "$work/m1000"
cat "$work/mac1000" "$work/m1" > "$work/mac33"
check "a MAC with a byte more is refused" expect_fail "is no MAC: more bytes, not 32" \
	ctl verify-mac hm "$work/mac33" < "$work/m1000"
check "... hsmkeyd refuses 31 bytes in hex itself" raw_says "'mac' must be the 32-byte MAC in hex" \
	"{\"v\":1,\"op\":\"verify-mac\",\"name\":\"hm\",\"mac\":\"$(hex "$work/mac31")\"}" "$work/m1000"
check "... and a MAC that is not hex" raw_says "'mac' must be the 32-byte MAC in hex" \
	"{\"v\":1,\"op\":\"verify-mac\",\"name\":\"hm\",\"mac\":\"$(hex "$work/mac1000" | tr 0-9 g-p)\"}" "$work/m1000"
check "... and no MAC at all" raw_says "'mac' must be" '{"v":1,"op":"verify-mac","name":"hm"}' "$work/m1000"
check "... and a MAC that is a number" raw_says "'mac' must be a string" \
	'{"v":1,"op":"verify-mac","name":"hm","mac":5}' "$work/m1000"
check "... and version 0" raw_says "'version' must be a version number" \
	"{\"v\":1,\"op\":\"verify-mac\",\"name\":\"hm\",\"version\":0,\"mac\":\"$(hex "$work/mac1000")\"}" "$work/m1000"
check "the right MAC in hex verifies in hsmkeyd" bash -c "
	/usr/bin/python3 '$top/tests/lib/rawreq.py' '$sock' '{\"v\":1,\"op\":\"verify-mac\",\"name\":\"hm\",\"mac\":\"$(hex "$work/mac1000")\"}' '$work/m1000' |
	grep -q '\"valid\": true.*\"version\": 1'"
head -c 32 /dev/urandom > "$work/raw2"
quiet ctl import hm2 --type hmac-sha256 --key-file "$work/raw2"
quiet ctl policy hm2 --grant mac:root
check "another key's MAC does not match" expect_fail "the MAC does not match: not key 'hm2'" \
	ctl verify-mac hm2 "$work/mac1000" < "$work/m1000"
check "a version the key does not have" expect_fail "key 'hm' has no version 7" \
	ctl verify-mac hm "$work/mac1000" --version 7 < "$work/m1000"
check "--version 0 is a usage error" expect_fail "bad version" ctl verify-mac hm "$work/mac1000" --version 0 < "$work/m1000"

section "libhsmkey"
check "hsmkey_generate_mac: OpenSSL's MAC and version 1" \
	test "$(lib mac hm "$work/mtext" 2>/dev/null)" = "0 1 $(ref "$work/raw1" "$work/mtext")"
check "hsmkey_verify_mac (version 0: the current one) accepts it" \
	test "$(lib verify hm 0 "$work/m1000" "$work/mac1000" 2>/dev/null)" = 0
check "... and version 1 named" test "$(lib verify hm 1 "$work/m1000" "$work/mac1000" 2>/dev/null)" = 0
out=$(lib verify hm 0 "$work/m1000" "$work/macflip" 2> "$work/liberr")
check "... returns -EBADMSG for a MAC that does not match, saying so" \
	bash -c "test '$out' = -74 && grep -q 'the MAC does not match' '$work/liberr'"
quiet ctl create ng --type hmac-sha256
check "... and -EPERM for a key that grants nothing" test "$(lib verify ng 0 "$work/m1000" "$work/mac1000" 2>/dev/null)" = -1
check "hsmkey_generate_mac of 32769 bytes: -EMSGSIZE before any request" \
	test "$(lib mac hm "$work/mover" 2>/dev/null | cut -d' ' -f1)" = -90
out=$(lib random 1024 2>/dev/null)
check "hsmkey_generate_random: 1024 bytes" grep -qE '^0 [0-9a-f]{2048}$' <<< "$out"
check "... 0 and 1025 bytes: -EINVAL" \
	test "$(lib random 0 2>/dev/null | cut -d' ' -f1) $(lib random 1025 2>/dev/null | cut -d' ' -f1)" = "-22 -22"

section "rotation: new MACs under the new version, old ones verify by their version"
head -c 32 /dev/urandom > "$work/raw1b"
check "rotated with a raw key" quiet ctl rotate hm --key-file "$work/raw1b"
check "a new MAC is OpenSSL's under the new key" mac_is hm "$work/m1000" "$work/raw1b"
raw '{"v":1,"op":"generate-mac","name":"hm"}' "$work/m1000" > "$work/raw"
check "... and names version 2" grep -q '"version": 2' "$work/raw"
check "libhsmkey says version 2 too" \
	test "$(lib mac hm "$work/mtext" 2>/dev/null)" = "0 2 $(ref "$work/raw1b" "$work/mtext")"
ctl mac hm < "$work/m1000" > "$work/mac1000v2"
check "version 1's MAC verifies with --version 1" quiet ctl verify-mac hm "$work/mac1000" --version 1 < "$work/m1000"
check "... but not by default (the current version, 2)" expect_fail "not key 'hm' version 2's MAC" \
	ctl verify-mac hm "$work/mac1000" < "$work/m1000"
check "version 2's MAC verifies by default" quiet ctl verify-mac hm "$work/mac1000v2" < "$work/m1000"
check "... and with --version 2" quiet ctl verify-mac hm "$work/mac1000v2" --version 2 < "$work/m1000"
check "... but not with --version 1" expect_fail "not key 'hm' version 1's MAC" \
	ctl verify-mac hm "$work/mac1000v2" --version 1 < "$work/m1000"
check "show: two versions, kernel never, no GCM reservation" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' --json show hm | /usr/bin/python3 -c '
import json, sys
k = json.load(sys.stdin)
sys.exit(not (k[\"versions\"] == 2 and k[\"kernel\"] == \"never\" and len(k[\"version_list\"]) == 2 and
              all(\"reserved\" not in v for v in k[\"version_list\"])))'"

section "grants, from the unprivileged side"
as_nobody mac hm < "$work/mtext" > /dev/null 2> "$work/e1"
as_nobody mac no-such-key < "$work/mtext" > /dev/null 2> "$work/e2"
check "nobody without a grant may not make MACs" grep -q "uid 65534 may not make or verify MACs with key 'hm'" "$work/e1"
check "... and is told the same of a key that does not exist" \
	test "$(sed s/hm/K/g "$work/e1")" = "$(sed s/no-such-key/K/g "$work/e2")"
check "... nor verify them" expect_fail "may not make or verify MACs" \
	as_nobody verify-mac hm "$work/mac1000v2" < "$work/m1000"
check "the refusal names the grant to give" grep -q -- "--grant mac:USER" "$work/e1"
check "a grant of mac to nobody" quiet ctl policy hm --grant mac:root --grant mac:nobody
check "nobody makes OpenSSL's MAC now" bash -c "
	setpriv --reuid=65534 --regid=65534 --clear-groups '$top/build/hsmkeyctl' --socket '$sock' mac hm < '$work/m1000' |
	cmp -s - '$work/mac1000v2'"
check "... and verifies one" quiet as_nobody verify-mac hm "$work/mac1000" --version 1 < "$work/m1000"
check "a grant to nobody's group works too" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' policy hm --grant mac:root --grant mac:@nogroup >/dev/null &&
	setpriv --reuid=65534 --regid=65534 --clear-groups '$top/build/hsmkeyctl' --socket '$sock' mac hm < '$work/m1000' | cmp -s - '$work/mac1000v2'"
check "show lists the grant" bash -c "'$top/build/hsmkeyctl' --socket '$sock' show hm | grep -q 'mac to gid 65534'"
check "--grant none: nobody may again" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' policy hm --grant none >/dev/null &&
	! setpriv --reuid=65534 --regid=65534 --clear-groups '$top/build/hsmkeyctl' --socket '$sock' mac hm < '$work/m1000' >/dev/null 2>&1"
quiet ctl policy hm --grant mac:root
check "nobody may not change the grants" expect_fail "needs root" as_nobody policy hm --grant mac:nobody

section "the types do not mix"
head -c 32 /dev/urandom > "$work/raw256"
quiet ctl import k256 --type kms-aes-256 --key-file "$work/raw256"
quiet ctl policy k256 --grant encrypt,decrypt:root
quiet ctl create s256 --type ecdsa-p256
quiet ctl policy s256 --grant sign,verify:root
check "a KMS key takes no grant of mac" expect_fail "is kms-aes-256: its grants may allow encrypt and decrypt" \
	ctl policy k256 --grant mac:root
check "an identity key takes no grant of mac" expect_fail "its grants may allow sign and verify" \
	ctl policy s256 --grant mac:root
check "a MAC key takes no grant of encrypt" expect_fail "is hmac-sha256: its grants may allow mac alone" \
	ctl policy hm --grant encrypt:root
check "... nor of sign" expect_fail "its grants may allow mac alone" ctl policy hm --grant sign:root
check "... nor of mac together with verify" expect_fail "its grants may allow mac alone" \
	ctl policy hm --grant mac,verify:root
check "... and its grants are as they were" bash -c "'$top/build/hsmkeyctl' --socket '$sock' show hm | grep -q 'grants: *mac to uid 0\$'"
check "a MAC key takes no users (grants say who)" expect_fail "is a MAC key: its policy takes grants (who may make and verify MACs)" \
	ctl policy hm --users root
check "a KMS key makes no MAC" expect_fail "key 'k256' is kms-aes-256: it does not make or verify MACs (MAC keys do: hmac-sha256)" \
	ctl mac k256 < "$work/mtext"
check "... nor verifies one" expect_fail "it does not make or verify MACs" \
	ctl verify-mac k256 "$work/mac1000" < "$work/m1000"
check "an identity key makes no MAC" expect_fail "it does not make or verify MACs" ctl mac s256 < "$work/mtext"
check "a MAC key does not encrypt" expect_fail "key 'hm' is hmac-sha256: it does not encrypt (KMS keys do" \
	ctl encrypt hm < "$work/mtext"
check "... nor sign" expect_fail "it does not sign (identity keys do" ctl sign hm < "$work/mtext"
check "... nor make data keys" expect_fail "it does not make data keys" ctl data-key hm --plaintext "$work/nodk"
check "... nor has a public key" expect_fail "only identity keys have a public key" ctl public-key hm
check "a MAC key is never loaded into the kernel" expect_fail "never goes to the kernel" ctl load hm
check "... and has no token" expect_fail "never goes to the kernel" ctl token hm
check "an unknown operation in a grant names mac among those there are" expect_fail "sign, verify or mac" \
	ctl policy hm --grant frobnicate:root

section "states"
quiet ctl disable hm
check "disabled: no MAC" expect_fail "key 'hm' is disabled" ctl mac hm < "$work/mtext"
check "disabled: no verification" expect_fail "is disabled" ctl verify-mac hm "$work/mac1000v2" < "$work/m1000"
quiet ctl enable hm
check "enabled again: it verifies" quiet ctl verify-mac hm "$work/mac1000v2" < "$work/m1000"
quiet ctl schedule-deletion hc
check "scheduled for deletion: no MAC" expect_fail "key 'hc' is pending-deletion" ctl mac hc < "$work/mtext"
quiet ctl cancel-deletion hc
check "deletion cancelled: MACs again" quiet ctl mac hc < "$work/mtext"
quiet ctl policy hc --not-before +100000
check "outside its policy's validity: no MAC" expect_fail "outside its policy's validity" ctl mac hc < "$work/mtext"
quiet ctl policy hc --not-before 0
quiet ctl revoke hc
check "revoked: no MAC" expect_fail "key 'hc' is revoked" ctl mac hc < "$work/mtext"

section "random"
check "random 1: one byte" test "$(ctl random 1 | wc -c)" -eq 1
check "random 1024: 1024 bytes" test "$(ctl random 1024 | wc -c)" -eq 1024
check "two calls differ" bash -c "! cmp -s <('$top/build/hsmkeyctl' --socket '$sock' random 1024) <('$top/build/hsmkeyctl' --socket '$sock' random 1024)"
check "random 0 is a usage error (2)" bash -c "'$top/build/hsmkeyctl' --socket '$sock' random 0 >/dev/null 2>&1; test \$? -eq 2"
check "random 1025 too" bash -c "'$top/build/hsmkeyctl' --socket '$sock' random 1025 >/dev/null 2>&1; test \$? -eq 2"
check "hsmkeyd refuses 0 bytes itself" raw_says "'bytes' must be a number of 1 to 1024" '{"v":1,"op":"random","bytes":0}'
check "... and 1025" raw_says "'bytes' must be a number of 1 to 1024" '{"v":1,"op":"random","bytes":1025}'
check "... and -1" raw_says "'bytes' must be a number of 1 to 1024" '{"v":1,"op":"random","bytes":-1}'
check "... and none asked for" raw_says "'bytes' must be a number of 1 to 1024" '{"v":1,"op":"random"}'
check "... and a count given as a string" raw_says "'bytes' must be a number" '{"v":1,"op":"random","bytes":"16"}'
check "... and a payload" raw_says "takes no payload" '{"v":1,"op":"random","bytes":16}' "$work/m1"
check "hsmkeyd gives 1024 bytes asked raw" bash -c "
	/usr/bin/python3 '$top/tests/lib/rawreq.py' '$sock' '{\"v\":1,\"op\":\"random\",\"bytes\":1024}' | grep -q '\"ok\": true.*\"payload_len\": 1024'"
check "an unprivileged user may ask" bash -c "
	test \$(setpriv --reuid=65534 --regid=65534 --clear-groups '$top/build/hsmkeyctl' --socket '$sock' random 64 | wc -c) -eq 64"

section "the audit log"
log=$(ls "$work"/state/audit* 2>/dev/null | head -1)
printf 'mac-message-marker-4e1b9a72c3' > "$work/marker"
check "control: the marker is in the input" grep -q 'mac-message-marker-4e1b9a72c3' "$work/marker"
ctl mac hm < "$work/marker" > "$work/macmarker"
check "the marker's MAC verifies" quiet ctl verify-mac hm "$work/macmarker" < "$work/marker"
quiet ctl random 700
records() { grep -a "\"op\":\"$1\"" "$log"; }
check "generate-mac's record: the key, version 2, the caller, the message's length" bash -c "
	$(declare -f records); log='$log'; records generate-mac | grep -a '\"uid\":0,' | grep -a '\"key\":\"hm\",\"version\":2,\"result\":\"ok\"' |
	grep -aq '\"detail\":\"message 29 bytes\"'"
check "verify-mac's record too" bash -c "$(declare -f records); log='$log'; records verify-mac |
	grep -a '\"key\":\"hm\",\"version\":2,\"result\":\"ok\"' | grep -aq 'message 29 bytes'"
check "a MAC that did not match is recorded" bash -c "$(declare -f records); log='$log'; records verify-mac | grep -aq 'the MAC does not match'"
check "nobody's refusal is recorded" bash -c "$(declare -f records); log='$log'; records generate-mac | grep -a '\"uid\":65534' | grep -aq 'may not make or verify MACs'"
check "random's record: the count" bash -c "$(declare -f records); log='$log'; records random | grep -a '\"result\":\"ok\"' | grep -aq '\"detail\":\"700 bytes\"'"
check "an unprivileged user's random is recorded" bash -c "$(declare -f records); log='$log'; records random | grep -a '\"uid\":65534' | grep -aq '64 bytes'"
check "a refused random is recorded" bash -c "$(declare -f records); log='$log'; records random | grep -aq \"'bytes' must be\""
check "the log holds neither the message nor its MAC, nor the raw keys" bash -c "
	! grep -aq 'mac-message-marker' '$log' && ! grep -aq '$(hex "$work/marker")' '$log' &&
	! grep -aq '$(hex "$work/macmarker")' '$log' && ! grep -aq '$(hex "$work/raw1")' '$log' &&
	! grep -aq '$(hex "$work/raw1b")' '$log'"
check "the audit log verifies" quiet ctl audit verify

section "a restart"
daemon_stop
daemon_start || fail "hsmkeyd starts again"
check "MACs of before verify after a restart, each by its version" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' verify-mac hm '$work/mac1000' --version 1 < '$work/m1000' >/dev/null &&
	'$top/build/hsmkeyctl' --socket '$sock' verify-mac hm '$work/mac1000v2' < '$work/m1000' >/dev/null"

section "reader_group: random is for readers, MACs for the key's grantees; destruction"
quiet ctl policy hm --grant mac:root --grant mac:nobody
daemon_stop
{ [[ -z ${daemon_conf:-} ]] || cat "$daemon_conf"; printf 'reader_group = staff\ndeletion_wait = 1s\n'; } \
	> "$work/reader.conf"
daemon_conf=$work/reader.conf daemon_start || fail "hsmkeyd starts with a reader_group"
check "random outside the reader group is refused" expect_fail "'random' needs membership of group staff" \
	as_nobody random 16
check "... root may" test "$(ctl random 16 | wc -c)" -eq 16
check "a grantee outside it still makes MACs (by the key's grants)" bash -c "
	setpriv --reuid=65534 --regid=65534 --clear-groups '$top/build/hsmkeyctl' --socket '$sock' mac hm < '$work/m1000' |
	cmp -s - '$work/mac1000v2'"
quiet ctl schedule-deletion hm2 --wait 1s
gone() { for _ in $(seq 100); do ! ctl show hm2 >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
check "a MAC key scheduled for deletion is destroyed when its wait ends" gone
check "... and makes no MAC after" expect_fail "no key named 'hm2'" ctl mac hm2 < "$work/mtext"

section "hsmkeyd's memory after MACs"
daemon_stop
daemon_start || fail "hsmkeyd starts again"
ctl mac hm < "$work/m1000" | cmp -s - "$work/mac1000v2" || fail "a MAC before the scan"
ctl verify-mac hm "$work/mac1000" --version 1 < "$work/m1000" > /dev/null || fail "a verification before the scan"
check "hsmkeyd holds no 16-byte window of either raw key it used" bash -c "
	'$memscan' '$daemon_pid' '$(hex "$work/raw1b")' --expect-none >/dev/null &&
	'$memscan' '$daemon_pid' '$(hex "$work/raw1")' --expect-none >/dev/null"
if on_pkcs11; then
	# The token makes the MAC: no build of hsmkeyd holds the key to find.
	check "control: the scan finds the raw key in a process that read it" \
		scan_control "$work/raw1b"
	tap_done
fi
daemon_stop
daemon_bin=$nowipe daemon_start || fail "the no-wipe build starts"
ctl mac hm < "$work/m1000" | cmp -s - "$work/mac1000v2" || fail "the no-wipe build makes the MAC"
check "control: the no-wipe build holds the raw key (the scan finds what is there)" \
	quiet "$memscan" "$daemon_pid" "$(hex "$work/raw1b")" --expect-some
tap_done
