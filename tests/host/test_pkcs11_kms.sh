#!/bin/bash
# The local KMS API on backend = pkcs11 (SoftHSM2): KMS keys (kms-aes-128,
# kms-aes-256) and MAC keys (hmac-sha256) are objects in the token, and
# AES-GCM and HMAC run inside it.  Checked against independent references:
# the blob reference (tests/lib/kms_blob.py) with a key imported raw, the
# token itself driven by PyKCS11 (it opens hsmkeyd's blobs and makes blobs
# hsmkeyd opens, with a key generated in the token that nobody has seen),
# and OpenSSL's HMAC.  That the token does the work is shown from its side:
# the key object's CKA_ENCRYPT turned off by the reference client stops
# hsmkeyd's encryptions.  Then refusals, grants from an unprivileged user,
# rotation, data keys, a restart, destruction, and hsmkeyd's memory.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"

ref=$top/tests/lib/kms_blob.py
memscan=$top/build/tests/memscan
softhsm_daemon "deletion_wait = 2s"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$top/build/hsmkeyctl" --socket "$sock" "$@"; }
id_of() { ctl --json show "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }
flip() { /usr/bin/python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[int(sys.argv[2])]^=1; open(sys.argv[3],"wb").write(b)' "$@"; }
# attr LABEL ATTR: the attribute of the one object labelled LABEL, as the reference client reads it
attr() {
	softhsm_py hk <<EOF
o = s.findObjects([(P.CKA_LABEL, "$1")])
print(len(o) == 1 and s.getAttributeValue(o[0], [P.$2])[0])
EOF
}
# set_attr LABEL ATTR True|False: the reference client changes it
set_attr() {
	softhsm_py hk <<EOF
o = s.findObjects([(P.CKA_LABEL, "$1")])
s.setAttributeValue(o[0], [(P.$2, $3)])
EOF
}
# in_token OPEN|SEAL LABEL BLOB|OUT [K=V...]: AES-GCM by the token itself (PyKCS11), with
# hsmkey-blob(5)'s nonce and associated data: OPEN prints whether BLOB opens to $work/pt;
# SEAL writes a blob of $work/pt under the object LABEL (key id and version of $KID, $KVER).
in_token() {
	local what=$1 label=$2 file=$3; shift 3
	printf '%s\n' "$@" > "$work/pairs"
	softhsm_py hk <<EOF
import os, struct
sys.path.insert(0, "$top/tests/lib")
import kms_blob
pairs = kms_blob.parse_pairs([l.rstrip("\n") for l in open("$work/pairs") if l.strip()])
key = s.findObjects([(P.CKA_LABEL, "$label")])[0]
pt = open("$work/pt", "rb").read()
if "$what" == "OPEN":
    b = open("$file", "rb").read()
    m = P.AES_GCM_Mechanism(list(b[28:40]), list(b[:40] + kms_blob.context(pairs)), 128)
    try:
        print(bytes(s.decrypt(key, list(b[40:]), m)) == pt)
    except P.PyKCS11Error:
        print(False)
else:
    nonce = os.urandom(12)
    alg = 1 if s.getAttributeValue(key, [P.CKA_VALUE_LEN])[0] == 32 else 2
    hdr = b"HKMS" + bytes([1, alg, 0, 0]) + bytes.fromhex("$KID") + struct.pack(">I", $KVER) + nonce
    m = P.AES_GCM_Mechanism(list(nonce), list(hdr + kms_blob.context(pairs)), 128)
    open("$file", "wb").write(hdr + bytes(s.encrypt(key, list(pt), m)))
    print(True)
EOF
}

daemon_start || { fail "hsmkeyd starts with backend = pkcs11"; tap_done; }
ctx=(--context purpose=backup --context "host=db-1.example")
refctx=(purpose=backup host=db-1.example)
head -c 3000 /dev/urandom > "$work/pt"

section "a raw key imported; blobs checked against the reference"
head -c 32 /dev/urandom > "$work/raw256"
head -c 16 /dev/urandom > "$work/raw128"
check "kms-aes-256 imported raw" quiet ctl import k256 --type kms-aes-256 --key-file "$work/raw256"
check "kms-aes-128 imported raw" quiet ctl import k128 --type kms-aes-128 --key-file "$work/raw128"
quiet ctl policy k256 --grant encrypt,decrypt,data-key:root
quiet ctl policy k128 --grant encrypt,decrypt:root
for k in 256 128; do
	ctl encrypt "k$k" "${ctx[@]}" < "$work/pt" > "$work/b$k"
	check "k$k: the reference opens hsmkeyd's blob with the raw key and the context" \
		bash -c "/usr/bin/python3 '$ref' open '$work/raw$k' '$work/b$k' ${refctx[*]@Q} | cmp -s - '$work/pt'"
	/usr/bin/python3 "$ref" seal "$work/raw$k" "$(id_of "k$k")" 1 "$work/pt" "${refctx[@]}" > "$work/r$k"
	check "k$k: a blob the reference made decrypts in hsmkeyd" \
		bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/r$k' | cmp -s - '$work/pt'"
done
check "k256 version 1 is a CKK_AES object in the token" test "$(attr hsmkey:k256:v1 CKA_KEY_TYPE)" = 31
check "... of 32 bytes" test "$(attr hsmkey:k256:v1 CKA_VALUE_LEN)" = 32
check "... sensitive, its value unreadable by the reference client" \
	test "$(attr hsmkey:k256:v1 CKA_SENSITIVE) $(attr hsmkey:k256:v1 CKA_VALUE)" = "True None"
check "... that may encrypt and decrypt" \
	test "$(attr hsmkey:k256:v1 CKA_ENCRYPT) $(attr hsmkey:k256:v1 CKA_DECRYPT)" = "True True"
check "... and nothing else (no sign, wrap, unwrap, derive)" test "$(attr hsmkey:k256:v1 CKA_SIGN) $(attr hsmkey:k256:v1 CKA_WRAP) $(attr hsmkey:k256:v1 CKA_UNWRAP) $(attr hsmkey:k256:v1 CKA_DERIVE)" = "False False False False"

section "a key generated in the token, which nobody outside it has seen"
check "create kg (kms-aes-256)" quiet ctl create kg --type kms-aes-256
quiet ctl policy kg --grant encrypt,decrypt:root
ctl encrypt kg "${ctx[@]}" < "$work/pt" > "$work/bg"
check "the token itself (PyKCS11, CKM_AES_GCM) opens hsmkeyd's blob with the object and the context" \
	test "$(in_token OPEN hsmkey:kg:v1 "$work/bg" "${refctx[@]}")" = True
check "... and not with another context" test "$(in_token OPEN hsmkey:kg:v1 "$work/bg" purpose=other)" = False
KID=$(id_of kg) KVER=1 in_token SEAL hsmkey:kg:v1 "$work/tg" "${refctx[@]}" > /dev/null
check "a blob the token made with the object decrypts in hsmkeyd" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/tg' | cmp -s - '$work/pt'"
set_attr hsmkey:kg:v1 CKA_ENCRYPT False
check "the object's CKA_ENCRYPT turned off in the token: hsmkeyd cannot encrypt" \
	expect_fail "the HSM refuses this use of key 'kg' version 1: its object there does not allow it" \
	ctl encrypt kg < "$work/pt"
check "... but still decrypts (CKA_DECRYPT is on)" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/bg' | cmp -s - '$work/pt'"
set_attr hsmkey:kg:v1 CKA_ENCRYPT True
check "turned on again: it encrypts" quiet ctl encrypt kg < "$work/pt"

section "refused: a clear error, no plaintext"
refused() { ! ctl decrypt "$@" > "$work/out" 2> "$work/err" && grep -q "does not decrypt" "$work/err" && ! test -s "$work/out"; }
check "a wrong context value" refused --context purpose=other --context host=db-1.example < "$work/bg"
check "a context pair missing" refused --context purpose=backup < "$work/bg"
for off in 30:nonce 100:ciphertext 3050:tag; do
	flip "$work/bg" "${off%%:*}" "$work/bad"
	check "a byte of the ${off#*:} changed" refused "${ctx[@]}" < "$work/bad"
done
head -c 16 /dev/urandom > "$work/other"
/usr/bin/python3 "$ref" seal "$work/other" "$(id_of k128)" 1 "$work/pt" "${refctx[@]}" > "$work/forged"
check "a blob naming k128 made with another key" refused "${ctx[@]}" < "$work/forged"
check "the refusals did not take the token down (status: up)" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q '\"backend\":\"up\"'"
check "hsmkeyd still decrypts after the refusals" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/bg' | cmp -s - '$work/pt'"

section "grants, from the unprivileged side"
as_nobody encrypt kg < "$work/pt" > /dev/null 2> "$work/e1"
as_nobody encrypt no-such-key < "$work/pt" > /dev/null 2> "$work/e2"
check "nobody without a grant may not encrypt, and is told the same of a key that does not exist" bash -c \
	"grep -q 'may not encrypt' '$work/e1' && test \"\$(sed s/kg/K/g '$work/e1')\" = \"\$(sed s/no-such-key/K/g '$work/e2')\""
check "nobody may not decrypt root's blob" expect_fail "may not decrypt" as_nobody decrypt "${ctx[@]}" < "$work/bg"
quiet ctl policy kg --grant encrypt,decrypt:root --grant decrypt:nobody
check "a grant of decrypt to nobody: nobody decrypts" bash -c \
	"setpriv --reuid=65534 --regid=65534 --clear-groups '$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/bg' | cmp -s - '$work/pt'"
check "... and still may not encrypt" expect_fail "may not encrypt" as_nobody encrypt kg < "$work/pt"

section "MAC keys"
head -c 32 /dev/urandom > "$work/mraw"
head -c 5000 /dev/urandom > "$work/msg"
check "hmac-sha256 imported raw" quiet ctl import m1 --type hmac-sha256 --key-file "$work/mraw"
quiet ctl policy m1 --grant mac:root
ctl mac m1 < "$work/msg" > "$work/m1.mac"
check "its MAC is OpenSSL's HMAC-SHA256 with the raw key" test "$(hexof "$work/m1.mac")" = \
	"$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(hexof "$work/mraw")" -r "$work/msg" | cut -d' ' -f1)"
check "verify-mac accepts it" quiet ctl verify-mac m1 "$work/m1.mac" < "$work/msg"
flip "$work/msg" 10 "$work/msg2"
check "... and refuses it for a message a bit off" expect_fail "does not match" \
	ctl verify-mac m1 "$work/m1.mac" < "$work/msg2"
check "m1 version 1 is a CKK_GENERIC_SECRET that may sign and verify, not encrypt" \
	test "$(attr hsmkey:m1:v1 CKA_KEY_TYPE) $(attr hsmkey:m1:v1 CKA_SIGN) $(attr hsmkey:m1:v1 CKA_VERIFY) $(attr hsmkey:m1:v1 CKA_ENCRYPT)" = "16 True True False"
check "create mg (generated in the token)" quiet ctl create mg --type hmac-sha256
quiet ctl policy mg --grant mac:root
ctl mac mg < "$work/msg" > "$work/mg.mac"
check "the token itself (C_Sign, CKM_SHA256_HMAC) gives the same MAC with the object" test "$(softhsm_py hk <<EOF
o = s.findObjects([(P.CKA_LABEL, "hsmkey:mg:v1")])[0]
print(bytes(s.sign(o, list(open("$work/msg", "rb").read()), P.Mechanism(P.CKM_SHA256_HMAC))).hex())
EOF
)" = "$(hexof "$work/mg.mac")"
check "a MAC key does not encrypt" expect_fail "does not encrypt" ctl encrypt mg < "$work/pt"
check "a KMS key makes no MAC" expect_fail "does not make or verify MACs" ctl mac kg < "$work/msg"

section "data keys"
ctl data-key k256 --type aes-256-xts --context dk=1 --plaintext "$work/dk" > "$work/dkw"
check "the reference opens the wrapped data key with k256's raw key: the plaintext" \
	bash -c "/usr/bin/python3 '$ref' open '$work/raw256' '$work/dkw' dk=1 | cmp -s - '$work/dk'"
check "hsmkeyd decrypts the wrapped data key to the same plaintext" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt --context dk=1 < '$work/dkw' | cmp -s - '$work/dk'"

section "re-encrypt and files under a key in the token"
check "re-encrypt a k128 blob to k256 with another context" bash -c \
	"'$top/build/hsmkeyctl' --socket '$sock' re-encrypt ${ctx[*]@Q} --to k256 --to-context x=y < '$work/b128' > '$work/re'"
check "... which the reference opens with k256's raw key" \
	bash -c "/usr/bin/python3 '$ref' open '$work/raw256' '$work/re' x=y | cmp -s - '$work/pt'"
head -c $((2 * 1048576 + 3)) /dev/urandom > "$work/big"
check "encrypt-file of 2 MiB under k256 (its data key wrapped in the token)" \
	quiet ctl encrypt-file k256 --context f=1 "$work/big" "$work/big.s"
check "... the stream reference opens it with k256's raw key" \
	bash -c "/usr/bin/python3 '$top/tests/lib/kms_stream.py' open '$work/raw256' '$work/big.s' f=1 | cmp -s - '$work/big'"
check "... and decrypt-file gives it back" bash -c \
	"'$top/build/hsmkeyctl' --socket '$sock' decrypt-file --context f=1 '$work/big.s' '$work/big.o' && cmp -s '$work/big.o' '$work/big'"

section "rotation, states, a restart"
check "kg rotated" quiet ctl rotate kg
check "the token holds version 2, which may encrypt" test "$(attr hsmkey:kg:v2 CKA_ENCRYPT)" = True
ctl encrypt kg "${ctx[@]}" < "$work/pt" > "$work/bg2"
check "a new blob is of version 2, and the token opens it with version 2's object" bash -c \
	"/usr/bin/python3 '$ref' head '$work/bg2' | awk '{exit \$3 != 2}'" 
check "... (the token's check)" test "$(in_token OPEN hsmkey:kg:v2 "$work/bg2" "${refctx[@]}")" = True
check "version 1's blob still decrypts" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/bg' | cmp -s - '$work/pt'"
quiet ctl disable kg
check "disabled: no decryption" expect_fail "is disabled" ctl decrypt "${ctx[@]}" < "$work/bg"
quiet ctl enable kg
daemon_stop
daemon_start || fail "hsmkeyd starts again"
check "after a restart both versions' blobs decrypt" bash -c \
	"'$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/bg' | cmp -s - '$work/pt' &&
	 '$top/build/hsmkeyctl' --socket '$sock' decrypt ${ctx[*]@Q} < '$work/bg2' | cmp -s - '$work/pt'"
check "the audit log verifies, and names kg's encryptions" bash -c \
	"'$top/build/hsmkeyctl' --socket '$sock' audit verify >/dev/null && grep -a '\"encrypt\"' '$work/state/audit.log' | grep -aq '\"kg\"'"

section "hsmkeyd's memory"
head -c 64 /dev/urandom > "$work/secret"
ctl encrypt k128 < "$work/secret" > "$work/bsec"
ctl decrypt < "$work/bsec" | cmp -s - "$work/secret" || fail "the secret decrypts"
check "hsmkeyd holds no 16-byte window of the plaintext it decrypted" \
	quiet "$memscan" "$daemon_pid" "$(hexof "$work/secret")" --expect-none
check "... nor of a raw key it imported" quiet "$memscan" "$daemon_pid" "$(hexof "$work/raw128")" --expect-none
helper=$(pgrep -P "$daemon_pid" -f -- --pkcs11-helper | head -1)
check "... nor does the token's helper process hold the plaintext" \
	quiet "$memscan" "$helper" "$(hexof "$work/secret")" --expect-none

section "random bytes and data keys from the token's generator"
# hsmkeyd again, its helper's module OpenSC's pkcs11-spy in front of
# SoftHSM: the spy logs each call to the token, and what it returned.
spy=/usr/lib/$(cc -print-multiarch)/pkcs11-spy.so
sed "s|^pkcs11_module = .*|pkcs11_module = $spy|" "$work/p11.conf" > "$work/spy.conf"
daemon_stop
daemon_conf=$work/spy.conf daemon_wrap="env PKCS11SPY=$SOFTHSM_MODULE PKCS11SPY_OUTPUT=$work/spy.log" \
	daemon_start || fail "hsmkeyd starts with pkcs11-spy in front of the token"
ctl random 48 > "$work/r48"
ctl data-key k256 --type aes-256-gcm --plaintext "$work/dk2" > "$work/dk2w"
/usr/bin/python3 "$top/tests/lib/spy_random.py" "$work/spy.log" > "$work/spied"
check "random gave 48 bytes, and a data key's plaintext 32" \
	test "$(stat -c %s "$work/r48") $(stat -c %s "$work/dk2")" = "48 32"
check "the spy's log was read: each C_GenerateRandom's output, none empty" \
	bash -c "test -s '$work/spied' && ! grep -qx '' '$work/spied'"
check "random's 48 bytes are what the token's C_GenerateRandom gave (the spy's log)" \
	grep -qx "$(hexof "$work/r48")" "$work/spied"
check "a data key's plaintext too (32 bytes)" grep -qx "$(hexof "$work/dk2")" "$work/spied"
check "... and the reference opens its wrapped form to it with k256's raw key" \
	bash -c "/usr/bin/python3 '$ref' open '$work/raw256' '$work/dk2w' | cmp -s - '$work/dk2'"
check "control: 48 bytes of /dev/urandom are not among the token's" \
	bash -c "! grep -qx \"\$(head -c 48 /dev/urandom | od -An -v -tx1 | tr -d ' \\n')\" '$work/spied'"
# A token without a generator (tests/lib/p11_slow.c answers every
# C_GenerateRandom CKR_RANDOM_NO_RNG): the kernel's, said once.
sed "s|^pkcs11_module = .*|pkcs11_module = $top/build/tests/p11_slow.so|" "$work/p11.conf" > "$work/norng.conf"
daemon_stop
daemon_conf=$work/norng.conf daemon_wrap="env HSMKEY_SLOW_MODULE=$SOFTHSM_MODULE HSMKEY_SLOW_NO_RNG=1" \
	daemon_start || fail "hsmkeyd starts on a token without a random number generator"
ctl random 32 > "$work/nr1"
ctl random 32 > "$work/nr2"
zero=$(printf '0%.0s' $(seq 64))
check "a token without a generator: random still gives 32 bytes, twice, not the same, not zeros" \
	bash -c "test \"\$(stat -c %s '$work/nr1') \$(stat -c %s '$work/nr2')\" = '32 32' &&
		! cmp -s '$work/nr1' '$work/nr2' && test \"\$(od -An -v -tx1 '$work/nr1' | tr -d ' \\n')\" != $zero"
ctl data-key k256 --type aes-256-gcm --plaintext "$work/dk3" > "$work/dk3w"
ctl data-key k256 --type aes-256-gcm --plaintext "$work/dk4" > /dev/null
check "... and data keys, two not the same, which the reference opens with k256's raw key" \
	bash -c "test \"\$(stat -c %s '$work/dk3')\" = 32 && ! cmp -s '$work/dk3' '$work/dk4' &&
		/usr/bin/python3 '$ref' open '$work/raw256' '$work/dk3w' | cmp -s - '$work/dk3'"
check "... the daemon's log says so once: the kernel's generator instead" \
	test "$(grep -c "no random number generator: random bytes and data keys come from the kernel's" "$work/hsmkeyd.log")" -eq 1
daemon_stop
daemon_start || fail "hsmkeyd starts again without the spy"

section "destruction"
ids="$(id_of kg)00000001 $(id_of kg)00000002"
check "schedule-deletion kg (2 s)" quiet ctl schedule-deletion kg
for _ in $(seq 80); do ctl list | grep -q '^kg ' || break; sleep 0.1; done
check "kg is destroyed when the wait ends" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' list | grep -q '^kg '"
n=0; for id in $ids; do n=$((n + $(softhsm_count_id hk "$id"))); done
check "the reference client finds no object with either version's CKA_ID" test "$n" = 0
check "its blobs no longer decrypt" expect_fail "no key named 'kg'" ctl decrypt "${ctx[@]}" < "$work/bg"
tap_done
