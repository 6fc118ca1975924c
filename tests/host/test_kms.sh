#!/bin/bash
# The local KMS API on the embedded key store.  Encrypt and decrypt are
# checked against a reference written from hsmkey-blob(5) alone
# (tests/lib/kms_blob.py, Python's cryptography): blobs hsmkeyd makes with
# a key imported raw open there, and blobs made there open in hsmkeyd.
# Signatures are checked by OpenSSL both ways.  Then what must be refused (a
# wrong context, an altered or cut blob, another key's blob), the grants
# from an unprivileged user's side, the key's states, rotation, a restart,
# the library (exports, threads), the audit records, and hsmkeyd's memory
# after a decryption (the no-wipe build as the positive control).  All of
# it again on a SoftHSM2 token: test_pkcs11_kms_api.sh; on a KMIP server:
# test_kmip_kms_api.sh.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/identity.sh"

ref=$top/tests/lib/kms_blob.py
memscan=$top/build/tests/memscan
nowipe=$top/build/tests/hsmkeyd-nowipe
# as_nobody CMD...: hsmkeyctl as uid 65534 (group nogroup, 65534, only).
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$top/build/hsmkeyctl" --socket "$sock" "$@"; }
id_of() { ctl --json show "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
# flip FILE OFFSET OUT: FILE with the byte at OFFSET changed.
flip() { /usr/bin/python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[int(sys.argv[2])]^=1; open(sys.argv[3],"wb").write(b)' "$@"; }
# reserved NAME VERSION: the GCM invocations reserved for that version.
reserved() {
	ctl --json show "$1" | /usr/bin/python3 -c 'import json,sys
print([v for v in json.load(sys.stdin)["version_list"] if v["version"] == int(sys.argv[1])][0]["reserved"])' "$2"
}

daemon_start || { fail "hsmkeyd starts"; tap_done; }
ctx=(--context purpose=backup --context "host=db-1.example" --context "note=a=b, ü")
refctx=(purpose=backup host=db-1.example "note=a=b, ü")

section "a raw key imported; blobs checked against the reference"
head -c 32 /dev/urandom > "$work/raw256"
head -c 16 /dev/urandom > "$work/raw128"
head -c 3000 /dev/urandom > "$work/pt"
check "kms-aes-256 imported raw" quiet ctl import k256 --type kms-aes-256 --key-file "$work/raw256"
check "kms-aes-128 imported raw" quiet ctl import k128 --type kms-aes-128 --key-file "$work/raw128"
check_in_storage k128
check "a key with no grant encrypts for nobody, root included" expect_fail "no grant" \
	ctl encrypt k256 "${ctx[@]}" < "$work/pt"
check "grants set (root: encrypt and decrypt)" quiet ctl policy k256 --grant encrypt,decrypt:root
quiet ctl policy k128 --grant encrypt,decrypt:root
for k in 256 128; do
	ctl encrypt "k$k" "${ctx[@]}" < "$work/pt" > "$work/b$k"
	check "k$k: the blob is 56 bytes longer than the plaintext" \
		test "$(stat -c %s "$work/b$k")" -eq 3056
	read -r alg id ver _ < <(/usr/bin/python3 "$ref" head "$work/b$k")
	check "k$k: its header names the algorithm, the key's id and version 1" \
		test "$alg $id $ver" = "$((k == 256 ? 1 : 2)) $(id_of "k$k") 1"
	check "k$k: the reference opens it with the raw key and the context" \
		bash -c "/usr/bin/python3 '$ref' open '$work/raw$k' '$work/b$k' ${refctx[*]@Q} | cmp -s - '$work/pt'"
	check "k$k: ... and not without the context" \
		bash -c "! /usr/bin/python3 '$ref' open '$work/raw$k' '$work/b$k' 2>/dev/null"
	check "k$k: hsmkeyd decrypts it" \
		bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/b$k' | cmp -s - '$work/pt'"
	/usr/bin/python3 "$ref" seal "$work/raw$k" "$(id_of "k$k")" 1 "$work/pt" "${refctx[@]}" > "$work/r$k"
	check "k$k: a blob the reference made decrypts in hsmkeyd" \
		bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/r$k' | cmp -s - '$work/pt'"
done
ctl encrypt k256 "${ctx[@]}" < "$work/pt" > "$work/b256b"
check "two blobs of the same plaintext differ (a random nonce each)" \
	bash -c "! cmp -s '$work/b256' '$work/b256b'"
check "the context's order does not matter" bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt \
	--context 'note=a=b, ü' --context host=db-1.example --context purpose=backup < '$work/b256' | cmp -s - '$work/pt'"
printf x > "$work/one"
check "one byte encrypts, and the reference opens it (no context)" bash -c \
	"'$top/build/hsmkeyctl' --socket '$sock' encrypt k128 < '$work/one' > '$work/b1' &&
	 /usr/bin/python3 '$ref' open '$work/raw128' '$work/b1' | cmp -s - '$work/one'"

section "refused: a clear error, no plaintext"
dec() { ctl decrypt "$@" > "$work/out" 2> "$work/err"; }
refused() { ! dec "$@" && grep -q "does not decrypt" "$work/err" && ! test -s "$work/out"; }
check "a wrong context value" refused --context purpose=other --context host=db-1.example \
	--context "note=a=b, ü" < "$work/b256"
check "a context pair missing" refused --context purpose=backup --context host=db-1.example < "$work/b256"
check "a context pair more" refused "${ctx[@]}" --context extra=1 < "$work/b256"
# The algorithm or key id changed name another key or none (a refusal that
# names no key); the rest, k256's blob that no longer decrypts.
for off in 5:algorithm:"not a ciphertext blob" 12:key-id:"may not decrypt this blob" \
	26:version:"does not decrypt\|no version" 30:nonce:"does not decrypt" \
	100:ciphertext:"does not decrypt" 3050:tag:"does not decrypt"; do
	IFS=: read -r o what why <<< "$off"
	flip "$work/b256" "$o" "$work/bad"
	check "a byte of the $what changed: refused ($why)" bash -c \
		"! '$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/bad' > '$work/out' 2> '$work/err' &&
		 ! test -s '$work/out' && grep -q '$why' '$work/err'"
done
head -c 3055 "$work/b256" > "$work/cut"
check "the blob cut short by a byte" refused "${ctx[@]}" < "$work/cut"
head -c 16 /dev/urandom > "$work/other"
/usr/bin/python3 "$ref" seal "$work/other" "$(id_of k128)" 1 "$work/pt" "${refctx[@]}" > "$work/forged"
check "a blob naming k128 made with another key" refused "${ctx[@]}" < "$work/forged"
head -c 4097 /dev/urandom > "$work/big"
check "4097 bytes are too many to encrypt" expect_fail "more than 4096" ctl encrypt k256 < "$work/big"
check "nothing is too little" expect_fail "1 to 4096" ctl encrypt k256 < /dev/null
check "a file that is no blob" expect_fail "not a ciphertext blob" ctl decrypt < "$work/pt"
check "a context pair without '='" expect_fail "KEY=VALUE" ctl encrypt k256 --context nokey < "$work/pt"

section "grants, from the unprivileged side"
quiet ctl create shared --type kms-aes-256
quiet ctl policy shared --grant encrypt,decrypt:root
ctl encrypt shared < "$work/pt" > "$work/bs"
as_nobody encrypt shared < "$work/pt" > /dev/null 2> "$work/e1"
as_nobody encrypt no-such-key < "$work/pt" > /dev/null 2> "$work/e2"
check "nobody without a grant may not encrypt" grep -q "uid 65534 may not encrypt with key 'shared'" "$work/e1"
check "... and is told the same of a key that does not exist" \
	test "$(sed s/shared/K/g "$work/e1")" = "$(sed s/no-such-key/K/g "$work/e2")"
check "nobody may not decrypt root's blob" expect_fail "may not decrypt" as_nobody decrypt < "$work/bs"
# A blob naming an id no key has: the refusal must read the same, so that
# the blob's id tells nobody whether, or as what, its key exists.
/usr/bin/python3 "$ref" seal "$work/raw256" 0123456789abcdef0123456789abcdef 1 "$work/pt" > "$work/bu"
as_nobody decrypt < "$work/bs" > /dev/null 2> "$work/e3"
as_nobody decrypt < "$work/bu" > /dev/null 2> "$work/e4"
check "... and is told the same of a blob whose key does not exist (no name)" \
	bash -c "grep -q 'may not decrypt' '$work/e3' && cmp -s '$work/e3' '$work/e4' && ! grep -q shared '$work/e3'"
check "a grant of encrypt to nobody" quiet ctl policy shared --grant encrypt,decrypt:root --grant encrypt:nobody
check "nobody encrypts now" quiet as_nobody encrypt shared < "$work/pt"
check "... but still may not decrypt" expect_fail "may not decrypt" as_nobody decrypt < "$work/bs"
check "nobody may not change the grants" expect_fail "needs root" as_nobody policy shared --grant decrypt:nobody
check "a grant of decrypt to group nogroup" quiet ctl policy shared --grant encrypt,decrypt:root \
	--grant decrypt:@nogroup
check "nobody (in nogroup) decrypts now" bash -c \
	"setpriv --reuid=65534 --regid=65534 --clear-groups '$top/build/hsmkeyctl' --socket '$sock' decrypt < '$work/bs' | cmp -s - '$work/pt'"
check "... and no longer encrypts (the grants were replaced)" expect_fail "may not encrypt" \
	as_nobody encrypt shared < "$work/pt"
check "show lists the grants" bash -c "'$top/build/hsmkeyctl' --socket '$sock' show shared | grep -q 'decrypt to gid 65534'"
quiet ctl create disk --type aes-256-xts
check "grants are refused for a kernel key" expect_fail "grants are for KMS and identity keys" \
	ctl policy disk --grant encrypt:root
check "an unknown operation in a grant is refused" expect_fail "unknown operation" \
	ctl policy shared --grant frobnicate:root
check "--grant none removes them all" bash -c "'$top/build/hsmkeyctl' --socket '$sock' policy shared --grant none >/dev/null &&
	! '$top/build/hsmkeyctl' --socket '$sock' encrypt shared < '$work/pt' >/dev/null 2>&1"
check "the XTS key encrypts nothing" expect_fail "it does not encrypt" ctl encrypt disk < "$work/pt"

section "libhsmkey: the application's library"
lib=$top/build/libhsmkey.so.0
check "its soname is libhsmkey.so.0" bash -c "readelf -d '$lib' | grep -q 'SONAME.*\[libhsmkey.so.0\]'"
check "it exports the calls of its headers, each of version node HSMKEY_0, and nothing else" bash -c \
	"nm -D --defined-only '$lib' | awk '\$2 == \"T\" { print \$3 }' | sort > '$work/syms' &&
	 grep -ho '\\bhsmkey_[a-z_]*(' '$top'/tools/libhsmkey/hsmkey/*.h | tr -d '(' | sort -u |
	 sed 's/\$/@@HSMKEY_0/' | cmp -s - '$work/syms'"
quiet ctl policy k128 --grant encrypt,decrypt:root
# records OP: how many records of OP on k128 the audit log holds.
records() { cat "$work"/state/audit* | grep -ac "\"op\":\"$1\",\"key\":\"k128\""; }
enc0=$(records encrypt) dec0=$(records decrypt)
check "4 threads sharing a handle: 200 round trips, each its own" \
	quiet "$top/build/tests/kms_threads" "$sock" k128 4 50
check "4 threads, a handle each (served at once): 400 round trips" \
	quiet "$top/build/tests/kms_threads" "$sock" k128 4 100 each
# Their records were synced together (audit_sync()): each is there once.
check "every call of the threads is in the audit log once (600 encryptions, 1200 decryptions)" \
	test "$(($(records encrypt) - enc0)) $(($(records decrypt) - dec0))" = "600 1200"
check "... and the log verifies" quiet ctl audit verify

section "signatures, checked by OpenSSL"
head -c 10000 /dev/urandom > "$work/msg"
for t in ecdsa-p256:sha256 ecdsa-p384:sha384 ed25519:; do
	k=s-${t%%:*} md=${t#*:}
	quiet ctl create "$k" --type "${t%%:*}"
	ctl public-key "$k" > "$work/$k.pub"
	check "$k: public-key prints what show prints" bash -c "'$top/build/hsmkeyctl' --socket '$sock' --json show '$k' |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"public_key\"], end=\"\")' | cmp -s - '$work/$k.pub'"
	check "$k: no grant, no signature" expect_fail "may not sign" ctl sign "$k" < "$work/msg"
	quiet ctl policy "$k" --grant sign,verify:root
	ctl sign "$k" < "$work/msg" > "$work/$k.sig"
	check "$k: OpenSSL accepts its signature (${md:+dgst -$md}${md:-pkeyutl -rawin} -verify)" \
		openssl_verifies "$md" "$work/$k.pub" "$work/msg" "$work/$k.sig"
	if [[ -n $md ]]; then
		openssl dgst "-$md" -binary "$work/msg" > "$work/$k.dgst"
		ctl sign "$k" --digest < "$work/$k.dgst" > "$work/$k.dsig"
		check "$k: ... and its signature of the digest" \
			openssl_verifies "$md" "$work/$k.pub" "$work/msg" "$work/$k.dsig"
		check "$k: verify --digest" quiet ctl verify "$k" "$work/$k.sig" --digest < "$work/$k.dgst"
		check "$k: a digest of the wrong length is refused" expect_fail "is $((${md#sha} / 8)) bytes" \
			ctl sign "$k" --digest < "$work/msg"
	else
		check "$k: --digest is refused (Ed25519 signs the message)" expect_fail "not a digest" \
			ctl sign "$k" --digest < "$work/msg"
	fi
	check "$k: verify accepts its own signature" quiet ctl verify "$k" "$work/$k.sig" < "$work/msg"
	flip "$work/msg" 5000 "$work/msg2"
	check "$k: ... and refuses it for a message a bit off" expect_fail "does not verify" \
		ctl verify "$k" "$work/$k.sig" < "$work/msg2"
done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/o256.pem" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$work/oed.pem" 2>/dev/null
quiet ctl import o256 --type ecdsa-p256 --key-file "$work/o256.pem"
quiet ctl import oed --type ed25519 --key-file "$work/oed.pem"
quiet ctl policy o256 --grant verify:root
quiet ctl policy oed --grant verify:root
openssl dgst -sha256 -sign "$work/o256.pem" -out "$work/o256.sig" "$work/msg"
openssl pkeyutl -sign -inkey "$work/oed.pem" -rawin -in "$work/msg" -out "$work/oed.sig"
check "an OpenSSL ECDSA signature verifies in hsmkeyd (the key imported)" \
	quiet ctl verify o256 "$work/o256.sig" < "$work/msg"
check "an OpenSSL Ed25519 signature verifies in hsmkeyd" quiet ctl verify oed "$work/oed.sig" < "$work/msg"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$work/o384.pem" 2>/dev/null
quiet ctl import o384 --type ecdsa-p384 --key-file "$work/o384.pem"
quiet ctl policy o384 --grant verify:root
openssl dgst -sha384 -sign "$work/o384.pem" -out "$work/o384.sig" "$work/msg"
openssl dgst -sha384 -binary "$work/msg" > "$work/o384.dgst"
flip "$work/msg" 5000 "$work/o384.msg"
check "an OpenSSL ECDSA P-384 signature verifies in hsmkeyd" \
	quiet ctl verify o384 "$work/o384.sig" < "$work/msg"
check "... and against the message's SHA-384 (verify --digest)" \
	quiet ctl verify o384 "$work/o384.sig" --digest < "$work/o384.dgst"
check "... but not for a message a bit off" expect_fail "does not verify" \
	ctl verify o384 "$work/o384.sig" < "$work/o384.msg"
check "a grant of verify alone does not sign" expect_fail "may not sign" ctl sign o256 < "$work/msg"
as_nobody sign o256 < "$work/msg" > /dev/null 2> "$work/e5"
as_nobody sign no-such-key < "$work/msg" > /dev/null 2> "$work/e6"
check "nobody may not sign, and is told the same of a key that does not exist" bash -c \
	"grep -q 'may not sign' '$work/e5' && test \"\$(sed s/o256/K/g '$work/e5')\" = \"\$(sed s/no-such-key/K/g '$work/e6')\""
quiet ctl policy o256 --grant verify:root --grant sign:nobody
check "a grant of sign to nobody: nobody signs, and OpenSSL verifies it" bash -c \
	"setpriv --reuid=65534 --regid=65534 --clear-groups '$top/build/hsmkeyctl' --socket '$sock' sign o256 < '$work/msg' > '$work/nsig' &&
	 openssl pkey -in '$work/o256.pem' -pubout -out '$work/o256.pub' 2>/dev/null &&
	 openssl dgst -sha256 -verify '$work/o256.pub' -signature '$work/nsig' '$work/msg' >/dev/null"
check "nobody without a grant may not verify" expect_fail "may not verify" \
	as_nobody verify o256 "$work/o256.sig" < "$work/msg"
check "an identity key takes no grant of encrypt" expect_fail "may allow sign and verify" \
	ctl policy o256 --grant encrypt:root
check "a KMS key takes no grant of sign" expect_fail "may allow encrypt and decrypt" \
	ctl policy k128 --grant sign:root
check "a KMS key takes no users (grants say who)" expect_fail "takes grants" ctl policy k128 --users root
check "a KMS key does not sign" expect_fail "does not sign" ctl sign k128 < "$work/msg"
check "an identity key does not encrypt" expect_fail "does not encrypt" ctl encrypt o256 < "$work/pt"
head -c 32769 /dev/urandom > "$work/huge"
check "hsmkeyctl refuses a message over 32768 bytes" expect_fail "more than 32768" ctl sign s-ed25519 < "$work/huge"
check "public-key of a KMS key is refused" expect_fail "only identity keys" ctl public-key k128

section "requests as a client of its own writes them"
raw() { /usr/bin/python3 "$top/tests/lib/rawreq.py" "$sock" "$@"; }
# raw_says TEXT JSON [PAYLOAD]: the reply refuses, saying TEXT.
raw_says() {
	local text=$1; shift
	raw "$@" > "$work/raw" && grep -q '"ok": false' "$work/raw" && grep -q -- "$text" "$work/raw"
}
check "sign without a name is refused (hsmkeyd stays up)" \
	raw_says "has no 'name'" '{"v":1,"op":"sign","digest":false}' "$work/msg"
check "verify without a name too" raw_says "has no 'name'" '{"v":1,"op":"verify","signature":"00"}' "$work/msg"
check "encrypt without a name too" raw_says "has no 'name'" '{"v":1,"op":"encrypt"}' "$work/pt"
check "a name that is no name" raw_says "invalid name" '{"v":1,"op":"sign","name":"../x"}' "$work/msg"
check "hsmkeyd is still up" quiet ctl list
check "encrypt: 4097 bytes are refused by hsmkeyd itself" \
	raw_says "1 to 4096 bytes" '{"v":1,"op":"encrypt","name":"k128"}' "$work/big"
check "sign: 32769 bytes are refused by hsmkeyd itself" \
	raw_says "1 to 32768 bytes" '{"v":1,"op":"sign","name":"s-ed25519"}' "$work/huge"
check "decrypt without a payload" raw_says "not a ciphertext blob" '{"v":1,"op":"decrypt"}'
check "a payload to an operation that takes none" raw_says "takes no payload" '{"v":1,"op":"list"}' "$work/pt"
check "a context that is not an object" raw_says "must be" '{"v":1,"op":"decrypt","context":["a"]}' "$work/b1"
check "a context value that is not a string" raw_says "map non-empty keys to strings" \
	'{"v":1,"op":"decrypt","context":{"a":1}}' "$work/b1"
check "a signature that is not hex" raw_says "in hex" \
	'{"v":1,"op":"verify","name":"o256","signature":"zz"}' "$work/msg"
check "data-key without a name" raw_says "has no 'name'" '{"v":1,"op":"data-key"}'
check "data-key with a payload" raw_says "takes no payload" '{"v":1,"op":"data-key","name":"k128"}' "$work/pt"
check "data-key: a ttl that is no number" raw_says "'ttl' must be a number" \
	'{"v":1,"op":"data-key","name":"k128","kernel":true,"ttl":"5"}'
check "data-key: a ttl out of range" raw_says "1 to 86400" \
	'{"v":1,"op":"data-key","name":"k128","kernel":true,"ttl":0}'
check "data-key: plaintext and kernel at once" raw_says "without its plaintext" \
	'{"v":1,"op":"data-key","name":"k128","kernel":true,"plaintext":true}'
check "unwrap-to-kernel without a payload" raw_says "not a ciphertext blob" '{"v":1,"op":"unwrap-to-kernel"}'

section "data keys (the kernel's part: guest test t_kms)"
check "without the data-key grant, no data key" expect_fail "may not make data keys with key 'k128'" \
	ctl data-key k128 --plaintext "$work/nodk"
check "... and no plaintext file was made" test ! -e "$work/nodk"
quiet ctl policy k128 --grant encrypt,decrypt,data-key:root
for t in aes-128-gcm:16 aes-256-gcm:32 aes-256-cbc:32 aes-128-xts:32 aes-256-xts:64; do
	ctl data-key k128 --type "${t%:*}" --context dk=1 --plaintext "$work/dk.${t%:*}" > "$work/dkw.${t%:*}"
	check "${t%:*}: a plaintext of ${t#*:} bytes and a wrapped key ${t#*:} + 56" \
		test "$(stat -c %s "$work/dk.${t%:*}") $(stat -c %s "$work/dkw.${t%:*}")" = "${t#*:} $((${t#*:} + 56))"
	check "${t%:*}: the reference opens the wrapped key with k128's raw key: the plaintext" \
		bash -c "/usr/bin/python3 '$ref' open '$work/raw128' '$work/dkw.${t%:*}' dk=1 | cmp -s - '$work/dk.${t%:*}'"
done
check "the default is aes-256-gcm; without --plaintext only the wrapped key" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' data-key k128 > '$work/dkw0' && test \$(stat -c %s '$work/dkw0') -eq 88"
check "a wrapped-only data key is for the kernel only: flag 1" \
	test "$(/usr/bin/python3 "$ref" head "$work/dkw0" | cut -d' ' -f5)" = 1
check "... decrypt refuses it, root with the decrypt grant included" expect_fail "for the kernel only" \
	ctl decrypt < "$work/dkw0"
check "... the reference opens it with the raw key, hsmkey:type and hsmkey:uid" \
	bash -c "/usr/bin/python3 '$ref' open '$work/raw128' '$work/dkw0' hsmkey:type=aes-256-gcm hsmkey:uid=0 > '$work/dk0' &&
		test \$(stat -c %s '$work/dk0') -eq 32"
check "... and not without them" bash -c "! /usr/bin/python3 '$ref' open '$work/raw128' '$work/dkw0' 2>/dev/null"
check "... with its flag cleared it does not decrypt either (the flag is authenticated)" \
	bash -c "$(declare -f flip); flip '$work/dkw0' 6 '$work/dkw0.noflag' &&
		'$top/build/hsmkeyctl' --socket '$sock' decrypt < '$work/dkw0.noflag' 2>&1 | grep -q 'does not decrypt'"
check "two data keys differ" bash -c "! cmp -s '$work/dk.aes-256-gcm' '$work/dk.aes-256-cbc'"
check "decrypt of a wrapped key gives its plaintext (the same blob format)" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt --context dk=1 < '$work/dkw.aes-256-xts' | cmp -s - '$work/dk.aes-256-xts'"
check "an existing plaintext file is not overwritten, and nothing is printed" \
	bash -c "! '$top/build/hsmkeyctl' --socket '$sock' data-key k128 --plaintext '$work/dk.aes-128-gcm' > '$work/dkw.x' 2>/dev/null &&
		! test -s '$work/dkw.x' && cmp -s '$work/dk.aes-128-gcm' <(/usr/bin/python3 '$ref' open '$work/raw128' '$work/dkw.aes-128-gcm' dk=1)"
check "a context key of hsmkeyd's own (hsmkey:) is refused" expect_fail "are hsmkeyd's own" \
	ctl data-key k128 --context hsmkey:uid=0
check "... in encrypt too" expect_fail "are hsmkeyd's own" ctl encrypt k128 --context hsmkey:x=1 < "$work/one"
check "an unknown type is refused" expect_fail "a data key's type is one of" ctl data-key k128 --type kms-aes-256
check "identity types are no data keys either" expect_fail "a data key's type is one of" ctl data-key k128 --type ecdsa-p256
check "--ttl without --kernel is refused" expect_fail "is for --kernel" ctl data-key k128 --ttl 5
check "a data key of an identity key is refused" expect_fail "does not make data keys (KMS keys do" \
	ctl data-key s-ecdsa-p256 --plaintext "$work/nodk2"
check "without hsmkey.ko, --kernel says so" expect_fail "hsmkey.ko is not loaded" \
	ctl data-key k128 --kernel "$work/notok"
check "... and unwrap-to-kernel too, after checking the blob" expect_fail "hsmkey.ko is not loaded" \
	ctl unwrap-to-kernel --context dk=1 < "$work/dkw.aes-128-gcm"
head -c 20 /dev/urandom | ctl encrypt k128 --context dk=1 > "$work/b20"
check "unwrap-to-kernel of a 20-byte plaintext's blob: not a data key" expect_fail "not a wrapped data key" \
	ctl unwrap-to-kernel --context dk=1 < "$work/b20"
check "unwrap-to-kernel of an altered data key: refused" bash -c "$(declare -f flip); flip '$work/dkw.aes-128-gcm' 50 '$work/dkw.bad' &&
	'$top/build/hsmkeyctl' --socket '$sock' unwrap-to-kernel --context dk=1 < '$work/dkw.bad' 2>&1 | grep -q 'does not decrypt'"
check "unwrap-to-kernel with a plaintext flag" raw_says "takes 'type', 'ttl' and 'context'" \
	'{"v":1,"op":"unwrap-to-kernel","plaintext":true}' "$work/dkw.aes-128-gcm"
check "nobody without the decrypt grant may not unwrap a data key made with its plaintext, the key not named" bash -c \
	"out=\$(setpriv --reuid=65534 --regid=65534 --clear-groups '$top/build/hsmkeyctl' --socket '$sock' unwrap-to-kernel --context dk=1 < '$work/dkw.aes-128-gcm' 2>&1);
	 grep -q 'may not decrypt this blob' <<< \"\$out\" && ! grep -q k128 <<< \"\$out\""
check "a data key's record names the key and the context's hash, never the key" \
	bash -c "grep -a '\"data-key\"' \"\$(ls '$work'/state/audit* | head -1)\" | grep -a '\"k128\"' | grep -aq 'context [0-9a-f]\{16\}' &&
		! grep -aqF \"\$(head -c 16 '$work/dk.aes-256-xts' | xxd -p)\" '$work'/state/audit*"

section "never in the kernel; states; rotation"
check "a KMS key is never loaded" expect_fail "never goes to the kernel" ctl load k256
check "... and has no token" expect_fail "never goes to the kernel" ctl token k256
check "show says kernel: never" bash -c "'$top/build/hsmkeyctl' --socket '$sock' show k256 | grep -q '^kernel: *never'"
quiet ctl disable k256
check "disabled: no encryption" expect_fail "is disabled" ctl encrypt k256 < "$work/pt"
check "disabled: no decryption" expect_fail "is disabled" ctl decrypt "${ctx[@]}" < "$work/b256"
quiet ctl enable k256
check "enabled again: it decrypts" quiet ctl decrypt "${ctx[@]}" < "$work/b256"
check "rotated" quiet ctl rotate k256
ctl encrypt k256 "${ctx[@]}" < "$work/pt" > "$work/b256v2"
check "a new blob is of version 2" bash -c "/usr/bin/python3 '$ref' head '$work/b256v2' | awk '{exit \$3 != 2}'"
check "... which the raw key (version 1) does not open" \
	bash -c "! /usr/bin/python3 '$ref' open '$work/raw256' '$work/b256v2' ${refctx[*]@Q} 2>/dev/null"
check "version 1's blob still decrypts after the rotation" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/b256' | cmp -s - '$work/pt'"
check "version 2 reserved a block of 65536 encryptions" test "$(reserved k256 2)" -eq 65536

section "a restart"
daemon_stop
daemon_start || fail "hsmkeyd starts again"
check "blobs of before decrypt after a restart" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/b256v2' | cmp -s - '$work/pt'"
quiet ctl encrypt k256 < "$work/pt"
check "the first encryption after it reserves a new block (none counted twice)" \
	test "$(reserved k256 2)" -eq 131072
quiet ctl revoke k256
check "revoked: no decryption" expect_fail "is revoked" ctl decrypt "${ctx[@]}" < "$work/b256"

section "the audit log"
log=$(ls "$work"/state/audit* 2>/dev/null | head -1)
hash=$(/usr/bin/python3 -c 'import hashlib,sys
sys.path.insert(0, sys.argv[1]); import kms_blob
print(hashlib.sha256(kms_blob.context([a.split("=",1) for a in sys.argv[2:]])).hexdigest()[:16])' \
	"$top/tests/lib" "${refctx[@]}")
check "the audit log verifies" quiet ctl audit verify
check "an encryption's record names the key and the context's hash" \
	bash -c "grep -a '\"encrypt\"' '$log' | grep -a '\"k128\"' | grep -aq 'context $hash'"
check "a refused decryption is recorded" bash -c "grep -a '\"decrypt\"' '$log' | grep -aq 'may not decrypt'"
# recorded OP KEY TEXT: a record of OP on KEY in the audit log holds TEXT.
recorded() { cat "$work"/state/audit* | grep -aF "\"op\":\"$1\",\"key\":\"$2\"" | grep -aqF -- "$3"; }
mhash=$(sha256sum "$work/msg" | cut -c1-16)
check "a signature's record names the key and the message's hash (sha256sum's)" \
	recorded sign s-ecdsa-p256 "\"detail\":\"message sha256 $mhash\""
check "... and so does a verification's" \
	recorded verify s-ecdsa-p256 "\"detail\":\"message sha256 $mhash\""
check "a public-key call is recorded" recorded public-key s-ed25519 '"result":"ok"'
check "... and a refused one, with why" recorded public-key k128 "only identity keys"
long=$(printf 'B%.0s' $(seq 5000))
/usr/bin/python3 "$top/tests/lib/rawreq.py" "$sock" "{\"v\":1,\"op\":\"public-key\",\"name\":\"$long\"}" > "$work/long.out"
check "public-key of a 5,000-byte name is refused" grep -q '"ok": false' "$work/long.out"
check "... and recorded by the name's first 63 bytes and '...'" \
	recorded public-key "${long:0:63}..." '"result":"error"'
printf 'plaintext-marker-7f3a9c' > "$work/marker"
ctl encrypt k128 --context "ctxmarker=value-marker-51c2" < "$work/marker" > "$work/bm"
ctl decrypt --context "ctxmarker=value-marker-51c2" < "$work/bm" > /dev/null
check "the log has the marker's encryption and decryption" \
	test "$(grep -a '"k128"' "$log" | grep -ac "context $(/usr/bin/python3 -c 'import hashlib,sys
sys.path.insert(0, sys.argv[1]); import kms_blob
print(hashlib.sha256(kms_blob.context([("ctxmarker", "value-marker-51c2")])).hexdigest()[:16])' "$top/tests/lib")")" -eq 2
check "... but neither its plaintext nor its context" \
	bash -c "! grep -aq 'plaintext-marker\|ctxmarker\|value-marker' '$log'"

section "hsmkeyd's memory after a decryption"
head -c 64 /dev/urandom > "$work/secret"
secret=$(od -An -v -tx1 "$work/secret" | tr -d ' \n')
ctl encrypt k128 < "$work/secret" > "$work/bsec"
ctl decrypt < "$work/bsec" | cmp -s - "$work/secret" || fail "the secret decrypts"
check "hsmkeyd holds no 16-byte window of the plaintext it decrypted" \
	quiet "$memscan" "$daemon_pid" "$secret" --expect-none
check "... nor of the raw key it used" \
	quiet "$memscan" "$daemon_pid" "$(od -An -v -tx1 "$work/raw128" | tr -d ' \n')" --expect-none
daemon_stop
daemon_bin=$nowipe daemon_start || fail "the no-wipe build starts"
ctl decrypt < "$work/bsec" | cmp -s - "$work/secret" || fail "the no-wipe build decrypts"
check "control: the no-wipe build holds the plaintext (the scan finds what is there)" \
	quiet "$memscan" "$daemon_pid" "$secret" --expect-some
tap_done
