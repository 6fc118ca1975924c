#!/bin/bash
# Wrapped import on backend = pkcs11: the import key is the token's own
# RSA-3072 pair hsmkey:import, and the token unwraps (C_UnwrapKey, OAEP),
# so the clear key is never in hsmkeyd.  OpenSSL is the independent
# wrapper, PyKCS11 the reference client that looks into the token: the
# pair's flags, each imported version's name and flags, and that it is the
# very key that was wrapped (wrapped by the token under a check key
# PyKCS11 made, unwrapped by python's cryptography, compared).  Wrong
# lengths, garbage and material for a renewed-away key are refused with
# nothing left in the token and no record; SHA-256 OAEP, which SoftHSM
# does not unwrap, is refused and the algorithm says SHA-1.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"

softhsm_daemon
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d'"$1"')'; }
idv() { printf '%s%08x' "$(ctl --json show "$1" | jget '["id"]')" "$2"; }
hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }
# wrap KEYFILE OUT [MD]: RSA-OAEP to the published key (MD, MGF1 alike; default sha1)
wrap() {
	openssl pkeyutl -encrypt -pubin -inkey "$work/import.pem" -in "$1" -out "$2" \
		-pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:${3:-sha1}" \
		-pkeyopt "rsa_mgf1_md:${3:-sha1}"
}
# pair_flags: how many hsmkey:import private and public keys, the private one's flags
pair_flags() {
	softhsm_py hk <<'EOF'
pr = s.findObjects([(P.CKA_LABEL, "hsmkey:import"), (P.CKA_CLASS, P.CKO_PRIVATE_KEY)])
pu = s.findObjects([(P.CKA_LABEL, "hsmkey:import"), (P.CKA_CLASS, P.CKO_PUBLIC_KEY)])
a = s.getAttributeValue(pr[0], [P.CKA_UNWRAP, P.CKA_DECRYPT, P.CKA_SENSITIVE, P.CKA_EXTRACTABLE,
				P.CKA_TOKEN, P.CKA_SIGN])
print(len(pr), len(pu), a)
EOF
}
# version LABEL: class, key type, CKA_ID, sensitive, extractable, uses, of the one object LABEL
version() {
	softhsm_py hk <<EOF
o = s.findObjects([(P.CKA_LABEL, "$1")])
a = s.getAttributeValue(o[0], [P.CKA_KEY_TYPE, P.CKA_ID, P.CKA_SENSITIVE, P.CKA_EXTRACTABLE,
			       P.CKA_ENCRYPT, P.CKA_DECRYPT, P.CKA_WRAP, P.CKA_UNWRAP, P.CKA_DERIVE,
			       P.CKA_SIGN, P.CKA_TOKEN, P.CKA_PRIVATE, P.CKA_VALUE])
print(len(o), a[0], bytes(a[1]).hex(), *a[2:])
EOF
}
# value LABEL: the key's bytes, as the token wraps them (AES-KW) under a
# check key PyKCS11 makes with a known value, unwrapped here by cryptography
value() {
	softhsm_py hk <<EOF
import os
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
kek = os.urandom(32)
k = s.createObject([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
		    (P.CKA_TOKEN, False), (P.CKA_VALUE, kek), (P.CKA_WRAP, True)])
o = s.findObjects([(P.CKA_LABEL, "$1")])
blob = bytes(s.wrapKey(k, o[0], P.Mechanism(P.CKM_AES_KEY_WRAP)))
print(aes_key_unwrap(kek, blob).hex())
EOF
}
nobj() { softhsm_count_label hk "$1"; }

daemon_start || { echo "Bail out! hsmkeyd does not start on the token"; exit 1; }
helper=$(pgrep -P "$daemon_pid" -f -- --pkcs11-helper)

# import-key: the token's pair, published
check "import-key prints a PEM public key" bash -c \
	"'$top/build/hsmkeyctl' --socket '$sock' import-key > '$work/import.pem' 2> '$work/import.err' &&
	 openssl pkey -pubin -in '$work/import.pem' -noout"
check "... RSA-3072" grep -q "3072 bit" <(openssl pkey -pubin -in "$work/import.pem" -text -noout)
check "... the algorithm the token unwraps with: SHA-1 OAEP on SoftHSM" \
	test "$(ctl --json import-key | jget '["algorithm"]')" = RSAES_OAEP_SHA_1
check "... and the openssl command for it on stderr" \
	grep -q "rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1" "$work/import.err"
check "... the fingerprint is the SHA-256 of the key's DER" \
	test "$(ctl --json import-key | jget '["fingerprint"]')" = \
	     "$(openssl pkey -pubin -in "$work/import.pem" -outform DER | sha256sum | cut -c1-64)"
check "the token holds the pair hsmkey:import: private key unwrap-only, sensitive, not extractable" \
	test "$(pair_flags)" = "1 1 [True, False, True, False, True, False]"
check "its public key is the one published" test \
	"$(softhsm_py hk <<< 'print(bytes(s.getAttributeValue(s.findObjects([(P.CKA_LABEL, "hsmkey:import"), (P.CKA_CLASS, P.CKO_PUBLIC_KEY)])[0], [P.CKA_MODULUS])[0]).hex())')" = \
	"$(openssl rsa -pubin -in "$work/import.pem" -modulus -noout | sed 's/^Modulus=//' | tr A-F a-f)"
check "asking again gives the same key" \
	cmp -s "$work/import.pem" <("$top/build/hsmkeyctl" --socket "$sock" import-key 2>/dev/null)

# each key type: wrapped by OpenSSL, unwrapped by the token, the same key
for t in aes-128-xts:32:16 aes-256-xts:64:16 aes-128-gcm:16:31 aes-256-cbc:32:31; do
	IFS=: read -r type len kt <<< "$t"
	n=w-$type
	head -c "$len" /dev/urandom > "$work/$n.key"
	wrap "$work/$n.key" "$work/$n.bin"
	check "import --wrapped-file $type" quiet ctl import "$n" --type "$type" --wrapped-file "$work/$n.bin"
	v=$(version "hsmkey:$n:v1")
	check "... one object hsmkey:$n:v1, key type $kt, CKA_ID the key's id and version" \
		test "$(cut -d" " -f1-3 <<< "$v")" = "1 $kt $(idv "$n" 1)"
	check "... sensitive, extractable to be wrapped only, private token object, value unreadable" \
		test "${v#* * * }" = "True True False False False False False False True True None"
	check "... the very key OpenSSL wrapped" test "$(value "hsmkey:$n:v1")" = "$(hexof "$work/$n.key")"
done
check "the wrapped imports are logged as unwrapped by the key storage" \
	grep -q "imported key w-aes-128-gcm (aes-128-gcm), unwrapped by the key storage" "$work/hsmkeyd.log"

# refused: nothing in the token, no record
refused() {	# refused NAME: no object of NAME's, no record
	test "$(nobj "hsmkey:$1:v1")" = 0 && ! ctl show "$1" >/dev/null 2>&1
}
for t in aes-128-gcm:20:more aes-128-gcm:8:fewer aes-256-xts:32:fewer aes-256-xts:72:more aes-128-xts:33:more; do
	IFS=: read -r type len word <<< "$t"
	n=bad-$type-$len
	head -c "$len" /dev/urandom > "$work/$n.key"
	wrap "$work/$n.key" "$work/$n.bin"
	check "$len bytes wrapped for $type: refused as a raw import of that length is ($word)" \
		expect_fail "a $type key file must hold exactly [0-9]* bytes; this one holds $word" \
		ctl import "$n" --type "$type" --wrapped-file "$work/$n.bin"
	check "... no object left, no record" refused "$n"
done
head -c 384 /dev/urandom > "$work/garbage.bin"
check "garbage is refused: it does not decrypt with the import key, named" \
	expect_fail "does not decrypt with the import key (RSAES_OAEP_SHA_1)" \
	ctl import garbage --type aes-256-gcm --wrapped-file "$work/garbage.bin"
check "... no object left, no record" refused garbage
head -c 32 /dev/urandom > "$work/s256.key"
wrap "$work/s256.key" "$work/s256.bin" sha256
check "SHA-256 OAEP, which SoftHSM does not unwrap, is refused likewise" \
	expect_fail "does not decrypt with the import key" \
	ctl import s256 --type aes-256-gcm --wrapped-file "$work/s256.bin"
check "... no object left, no record" refused s256
check "a refused blob is not a failing token: the same helper serves on" \
	test "$(pgrep -P "$daemon_pid" -f -- --pkcs11-helper)" = "$helper"

# --renew: a new pair in the token, the old one gone
head -c 32 /dev/urandom > "$work/old.key"
wrap "$work/old.key" "$work/old.bin"
cp "$work/import.pem" "$work/import-old.pem"
check "import-key --renew" bash -c \
	"'$top/build/hsmkeyctl' --socket '$sock' import-key --renew > '$work/import.pem' 2>/dev/null"
check "... gives another key" bash -c "! cmp -s '$work/import.pem' '$work/import-old.pem'"
check "... the token holds one pair, the new one" test "$(nobj hsmkey:import)" = 2
check "material wrapped to the old key no longer imports" \
	expect_fail "does not decrypt with the import key" \
	ctl import old --type aes-256-gcm --wrapped-file "$work/old.bin"
check "... no object left, no record" refused old
wrap "$work/old.key" "$work/new.bin"
check "the same key wrapped to the new one does" \
	quiet ctl import new --type aes-256-gcm --wrapped-file "$work/new.bin"
check "... the very key" test "$(value hsmkey:new:v1)" = "$(hexof "$work/old.key")"
daemon_stop

# a new daemon (a new helper) finds the pair and the hash again
daemon_start || { echo "Bail out! hsmkeyd does not start again"; exit 1; }
check "after a restart import-key gives the same key and algorithm" bash -c \
	"cmp -s '$work/import.pem' <('$top/build/hsmkeyctl' --socket '$sock' import-key 2>/dev/null) &&
	 '$top/build/hsmkeyctl' --socket '$sock' --json import-key | grep -q RSAES_OAEP_SHA_1"
head -c 16 /dev/urandom > "$work/again.key"
wrap "$work/again.key" "$work/again.bin"
check "... and wrapped imports go on" \
	quiet ctl import again --type aes-128-cbc --wrapped-file "$work/again.bin"
check "... the very key" test "$(value hsmkey:again:v1)" = "$(hexof "$work/again.key")"
daemon_stop
tap_done
