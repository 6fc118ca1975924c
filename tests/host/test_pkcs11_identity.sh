#!/bin/bash
# Identity keys on backend = pkcs11 (SoftHSM2): each is a key pair made in
# the token, imported into it from a private key file or adopted from a
# pair it holds already, its private key
# sensitive and never extractable, and hsmkeyd
# signs with it there (sign, csr) and reads its public key from there
# (public-key, verify).  Checked against OpenSSL (dgst -verify, pkeyutl
# -verify, req -verify), against the token itself driven by PyKCS11 (its
# own signature verifies in hsmkeyd; its public key is the one hsmkeyd
# gives), and against what must be refused.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"
. "$top/tests/lib/identity.sh"

softhsm_setup "$work/hsm"
softhsm_token hk
softhsm_pin_file "$work/pin"
softhsm_conf "$work/p11.conf" hk "$work/pin" "deletion_wait = 2s"
daemon_conf=$work/p11.conf
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$top/build/hsmkeyctl" --socket "$sock" "$@"; }
id_of() { ctl --json show "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
# objattr CLASS LABEL ATTR: the attribute of the one object of CLASS labelled LABEL
objattr() {
	softhsm_py hk <<PY
o = s.findObjects([(P.CKA_CLASS, P.$1), (P.CKA_LABEL, "$2")])
print(len(o) == 1 and s.getAttributeValue(o[0], [P.$3])[0])
PY
}
# token_public LABEL PEMFILE: whether the token's public key object LABEL is the key in PEMFILE
token_public() {
	softhsm_py hk <<PY
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
k = ser.load_pem_public_key(open("$2", "rb").read())
o = s.findObjects([(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_LABEL, "$1")])[0]
if isinstance(k, rsa.RSAPublicKey):
    n = bytes(s.getAttributeValue(o, [P.CKA_MODULUS])[0])
    print(int.from_bytes(n, "big") == k.public_numbers().n)
else:
    pt = bytes(s.getAttributeValue(o, [P.CKA_EC_POINT])[0])
    raw = k.public_bytes(ser.Encoding.Raw if isinstance(k, ed25519.Ed25519PublicKey) else ser.Encoding.X962,
                         ser.PublicFormat.Raw if isinstance(k, ed25519.Ed25519PublicKey) else ser.PublicFormat.UncompressedPoint)
    print(pt[2:] == raw or pt == raw)
PY
}
# token_sign LABEL MSG OUT: the token's own signature of MSG with the private key LABEL, as OpenSSL writes it
token_sign() {
	softhsm_py hk <<PY
import hashlib
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
o = s.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_LABEL, "$1")])[0]
msg = open("$2", "rb").read()
if "$1".startswith("hsmkey:ed"):
    sig = bytes(s.sign(o, list(msg), P.Mechanism(P.CKM_EDDSA)))
else:
    raw = bytes(s.sign(o, list(hashlib.sha256(msg).digest()), P.Mechanism(P.CKM_ECDSA)))
    h = len(raw) // 2
    sig = encode_dss_signature(int.from_bytes(raw[:h], "big"), int.from_bytes(raw[h:], "big"))
open("$3", "wb").write(sig)
print(True)
PY
}

daemon_start || { fail "hsmkeyd starts with backend = pkcs11"; tap_done; }
head -c 10000 /dev/urandom > "$work/msg"

section "key pairs made in the token; signatures checked by OpenSSL"
for t in ecdsa-p256:sha256 ecdsa-p384:sha384 ed25519: rsa-2048:sha256 rsa-3072:sha256; do
	k=${t%%:*} md=${t#*:}
	check "$k: created" quiet ctl create "$k" --type "$k"
	check "$k: a private key object hsmkey:$k:v1, sensitive, never extractable, that may sign" \
		test "$(objattr CKO_PRIVATE_KEY "hsmkey:$k:v1" CKA_SENSITIVE) $(objattr CKO_PRIVATE_KEY "hsmkey:$k:v1" CKA_EXTRACTABLE) $(objattr CKO_PRIVATE_KEY "hsmkey:$k:v1" CKA_SIGN)" = "True False True"
	check "$k: ... whose value the reference client cannot read" \
		test "$(objattr CKO_PRIVATE_KEY "hsmkey:$k:v1" "$([[ $k == rsa* ]] && echo CKA_PRIVATE_EXPONENT || echo CKA_VALUE)")" = None
	check "$k: ... with the version's CKA_ID" \
		test "$(softhsm_count_id hk "$(id_of "$k")00000001")" = 2
	ctl public-key "$k" > "$work/$k.pub"
	check "$k: public-key is the token's public key object" test "$(token_public "hsmkey:$k:v1" "$work/$k.pub")" = True
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
	fi
	pubkey_of "$k" > "$work/$k.show"
	check "$k: show prints the same public key" cmp -s "$work/$k.show" "$work/$k.pub"
	check "$k: verify accepts it" quiet ctl verify "$k" "$work/$k.sig" < "$work/msg"
	cp "$work/msg" "$work/msg2"; printf x >> "$work/msg2"
	check "$k: ... and refuses it for another message" expect_fail "does not verify" \
		ctl verify "$k" "$work/$k.sig" < "$work/msg2"
	ctl csr "$k" --subject "/CN=$k.example" --dns "$k.example" > "$work/$k.csr"
	check "$k: its CSR, signed in the token, verifies (openssl req -verify)" \
		bash -c "openssl req -in '$work/$k.csr' -verify -noout 2>&1 | grep -q 'verify OK'"
	check "$k: ... and names the key's public key" bash -c \
		"openssl req -in '$work/$k.csr' -pubkey -noout | cmp -s - '$work/$k.pub'"
done
for k in rsa-2048 rsa-3072; do
	ctl sign "$k" --pss < "$work/msg" > "$work/$k.pss"
	check "$k: a PSS signature (CKM_RSA_PKCS_PSS in the token) that OpenSSL verifies" \
		quiet openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-2 \
		-verify "$work/$k.pub" -signature "$work/$k.pss" "$work/msg"
	check "$k: ... and verify --pss" quiet ctl verify "$k" "$work/$k.pss" --pss < "$work/msg"
done

section "key pairs imported into the token from private key files"
# The file's key, parsed and checked by hsmkeyd, goes to the token as its
# parts (C_CreateObject): the objects are those create makes, and what the
# token signs verifies with the file's own public key.
for t in ecdsa-p256:sha256 ecdsa-p384:sha384 ed25519: rsa-2048:sha256 rsa-3072:sha256; do
	k=${t%%:*} md=${t#*:} i=imp-${t%%:*}
	case $k in
	ecdsa-p256) gen=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256) ;;
	ecdsa-p384) gen=(-algorithm EC -pkeyopt ec_paramgen_curve:P-384) ;;
	ed25519) gen=(-algorithm ED25519) ;;
	*) gen=(-algorithm RSA -pkeyopt "rsa_keygen_bits:${k#rsa-}") ;;
	esac
	openssl genpkey "${gen[@]}" -out "$work/$i.pem" 2>/dev/null
	openssl pkey -in "$work/$i.pem" -pubout -out "$work/$i.filepub"
	check "$i: imported into the token (--key-file)" \
		quiet ctl import "$i" --type "$k" --key-file "$work/$i.pem"
	check "$i: its private key object is sensitive, never extractable, and may sign" \
		test "$(objattr CKO_PRIVATE_KEY "hsmkey:$i:v1" CKA_SENSITIVE) $(objattr CKO_PRIVATE_KEY "hsmkey:$i:v1" CKA_EXTRACTABLE) $(objattr CKO_PRIVATE_KEY "hsmkey:$i:v1" CKA_SIGN)" = "True False True"
	check "$i: ... its value not readable by the reference client" \
		test "$(objattr CKO_PRIVATE_KEY "hsmkey:$i:v1" "$([[ $k == rsa* ]] && echo CKA_PRIVATE_EXPONENT || echo CKA_VALUE)")" = None
	check "$i: ... both objects with the version's CKA_ID" \
		test "$(softhsm_count_id hk "$(id_of "$i")00000001")" = 2
	check "$i: the token's public key object is the file's public key" \
		test "$(token_public "hsmkey:$i:v1" "$work/$i.filepub")" = True
	ctl public-key "$i" > "$work/$i.pub"
	check "$i: public-key gives the file's public key" cmp -s "$work/$i.pub" "$work/$i.filepub"
	quiet ctl policy "$i" --grant sign:root
	ctl sign "$i" < "$work/msg" > "$work/$i.sig"
	check "$i: the token's signature verifies with the file's public key (OpenSSL)" \
		openssl_verifies "$md" "$work/$i.filepub" "$work/msg" "$work/$i.sig"
done
check "a key file of another type than asked is refused" \
	expect_fail "private key of another type" \
	ctl import imp-wrong --type ecdsa-p384 --key-file "$work/imp-ecdsa-p256.pem"
check "... and nothing was made" expect_fail "no key named" ctl show imp-wrong

section "key pairs the token holds already, adopted (--from)"
# vendor_pair LABEL TYPE ID [PRIVATE [E]]: a pair made by the reference
# client as an HSM's own tools would, its private key readable and
# extractable (a careless ceremony's), both objects with CKA_ID ID (hex);
# PRIVATE: its CKA_PRIVATE (default True), E: an RSA exponent (65537).
vendor_pair() {
	softhsm_py hk <<PY
t, idb, e = "$2", list(bytes.fromhex("$3")), ${5:-65537}
if t.startswith("rsa"):
    eb = tuple(e.to_bytes((e.bit_length() + 7) // 8, "big"))
    mech, extra = P.CKM_RSA_PKCS_KEY_PAIR_GEN, [(P.CKA_MODULUS_BITS, int(t[4:])), (P.CKA_PUBLIC_EXPONENT, eb)]
else:
    oid = {"ecdsa-p256": "06082a8648ce3d030107", "ecdsa-p384": "06052b81040022", "ed25519": "06032b6570"}[t]
    mech = P.CKM_EC_EDWARDS_KEY_PAIR_GEN if t == "ed25519" else P.CKM_EC_KEY_PAIR_GEN
    extra = [(P.CKA_EC_PARAMS, list(bytes.fromhex(oid)))]
pub = [(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_TOKEN, True), (P.CKA_LABEL, "$1"), (P.CKA_ID, idb), (P.CKA_VERIFY, True)] + extra
priv = [(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_TOKEN, True), (P.CKA_PRIVATE, ${4:-True}), (P.CKA_LABEL, "$1"), (P.CKA_ID, idb),
        (P.CKA_SENSITIVE, False), (P.CKA_EXTRACTABLE, True), (P.CKA_SIGN, True)]
s.generateKeyPair(pub, priv, mecha=P.Mechanism(mech))
print(True)
PY
}
n=0
for t in ecdsa-p256:sha256 ecdsa-p384:sha384 ed25519: rsa-2048:sha256; do
	k=${t%%:*} md=${t#*:} a=adopt-${t%%:*} n=$((n + 1))
	check "$k: the reference client makes a pair, its private key extractable" \
		test "$(vendor_pair "vendor-$k" "$k" "0$n")" = True
	check "$a: adopted (--from pkcs11:object=vendor-$k)" \
		quiet ctl import "$a" --type "$k" --from "pkcs11:object=vendor-$k"
	check "$a: its private key is now sensitive and never extractable, under hsmkeyd's label" \
		test "$(objattr CKO_PRIVATE_KEY "hsmkey:$a:v1" CKA_SENSITIVE) $(objattr CKO_PRIVATE_KEY "hsmkey:$a:v1" CKA_EXTRACTABLE)" = "True False"
	check "$a: ... its public key object too, both with the version's CKA_ID" \
		test "$(softhsm_count_id hk "$(id_of "$a")00000001")" = 2
	ctl public-key "$a" > "$work/$a.pub"
	quiet ctl policy "$a" --grant sign:root
	ctl sign "$a" < "$work/msg" > "$work/$a.sig"
	check "$a: what the token signs verifies with public-key (OpenSSL)" \
		openssl_verifies "$md" "$work/$a.pub" "$work/msg" "$work/$a.sig"
done
# attrs LABEL: a private key's label, id and every flag adoption may change.
attrs() {
	softhsm_py hk <<PY
o = s.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_LABEL, "$1")])
print(len(o) == 1 and [bytes(s.getAttributeValue(o[0], [a])[0] or b"") if a in (P.CKA_ID,) else s.getAttributeValue(o[0], [a])[0]
      for a in (P.CKA_ID, P.CKA_SENSITIVE, P.CKA_EXTRACTABLE, P.CKA_SIGN, P.CKA_DECRYPT, P.CKA_DERIVE)])
PY
}
# refused NAME TYPE LABEL LOGGED WHAT: the adoption of LABEL as NAME is
# refused, the daemon's log says LOGGED, and the private key is as it was.
refused() {
	local before
	before=$(attrs "$3")
	check "$5: refused" expect_fail "is not taken" ctl import "$1" --type "$2" --from "pkcs11:object=$3"
	check "... the daemon's log says: $4" grep -q "'$3' is not adopted: .*$4" "$work/hsmkeyd.log"
	check "... the private key is left as it was (label, id, flags)" test "$(attrs "$3")" = "$before"
	check "... and nothing was made" expect_fail "no key named" ctl show "$1"
}
vendor_pair vendor-p256b ecdsa-p256 10 > /dev/null
refused wrong ecdsa-p384 vendor-p256b "is not ecdsa-p384" "a pair of another type than asked"
vendor_pair vendor-rsa3 rsa-2048 11 True 3 > /dev/null
refused rsa3 rsa-2048 vendor-rsa3 "exponent" "an RSA pair with the exponent 3"
vendor_pair vendor-nologin ecdsa-p256 12 False > /dev/null
refused nologin ecdsa-p256 vendor-nologin "without a login" "a private key usable without login (CKA_PRIVATE false)"
# A private key whose CKA_ID names another pair's public key: the token's
# own check (a challenge signed and verified) refuses it.
vendor_pair vendor-mixa ecdsa-p256 20 > /dev/null
vendor_pair vendor-mixb ecdsa-p256 21 > /dev/null
softhsm_py hk > /dev/null <<'PY'
a = s.findObjects([(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_LABEL, "vendor-mixa")])[0]
s.destroyObject(a)
b = s.findObjects([(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_LABEL, "vendor-mixb")])[0]
s.setAttributeValue(b, [(P.CKA_ID, [0x20])])
PY
refused mix ecdsa-p256 vendor-mixa "not its private key's" "a private key beside another pair's public key"
vendor_pair vendor-lone ecdsa-p256 22 > /dev/null
softhsm_py hk > /dev/null <<'PY'
s.destroyObject(s.findObjects([(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_LABEL, "vendor-lone")])[0])
PY
check "a private key without its public key object is refused" \
	expect_fail "holds no public key object beside the private key" \
	ctl import lone --type ecdsa-p256 --from pkcs11:object=vendor-lone
check "... and left as it was (still extractable, its own label)" \
	test "$(objattr CKO_PRIVATE_KEY vendor-lone CKA_EXTRACTABLE)" = True
check "a label the token holds no private key under is refused" expect_fail "holds no private key" \
	ctl import none --type ed25519 --from pkcs11:object=no-such-label
# hsmkeyd's own objects: a key's version, the audit log's signing key.
check "a key version of hsmkeyd's is not adopted under another name" \
	expect_fail "one of hsmkeyd's own objects" \
	ctl import steal --type ecdsa-p256 --from pkcs11:object=hsmkey:ecdsa-p256:v1
check "... nor the audit log's signing key" expect_fail "one of hsmkeyd's own objects" \
	ctl import steal --type ed25519 --from pkcs11:object=hsmkey:audit
check "... nor as a secret key" expect_fail "one of hsmkeyd's own objects" \
	ctl import steal --type hmac-sha256 --from pkcs11:object=hsmkey:record
check "... and the key still signs under its own name" quiet ctl sign ecdsa-p256 < "$work/msg"

section "the token's own signatures verify in hsmkeyd"
for k in ecdsa-p256 ed25519; do
	token_sign "hsmkey:$k:v1" "$work/msg" "$work/$k.tsig" > /dev/null
	check "$k: a signature PyKCS11 made with the private key object verifies in hsmkeyd" \
		quiet ctl verify "$k" "$work/$k.tsig" < "$work/msg"
done

section "refused"
head -c 32 /dev/urandom > "$work/x"
check "an identity key is not imported wrapped: its key file it is" \
	expect_fail "is imported from its private key file" \
	ctl import imp --type ecdsa-p256 --wrapped-file "$work/x"
check "... and nothing was made" expect_fail "no key named" ctl show imp
check "an identity key does not rotate (a new pair is a new key)" expect_fail "is an identity key" ctl rotate ecdsa-p256
as_nobody sign ecdsa-p256 < "$work/msg" > /dev/null 2> "$work/e1"
as_nobody sign no-such-key < "$work/msg" > /dev/null 2> "$work/e2"
check "nobody may not sign, and is told the same of a key that does not exist" bash -c \
	"grep -q 'may not sign' '$work/e1' && test \"\$(sed s/ecdsa-p256/K/g '$work/e1')\" = \"\$(sed s/no-such-key/K/g '$work/e2')\""
# A tls-handshake request for key ecdsa-p256 with a connected TCP socket and
# no certificate: the reply.
/usr/bin/python3 - "$sock" > "$work/hs" <<'PY'
import array, socket, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])
req = b'{"v":1,"op":"tls-handshake","role":"server","key":"ecdsa-p256","cert":"x"}'
s.sendmsg([req], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [a.fileno()]))])
print(s.recv(65536).decode())
PY
check "a TLS handshake with a key kept in the token gets as far as its certificate (t_tls: the handshakes)" \
	grep -q "the certificate file holds no PEM certificate" "$work/hs"
quiet ctl revoke ed25519
check "revoked: no signature" expect_fail "is revoked" ctl sign ed25519 < "$work/msg"

section "a restart, and destruction"
daemon_stop
daemon_start || fail "hsmkeyd starts again"
check "after a restart it signs, and OpenSSL verifies" bash -c \
	"'$top/build/hsmkeyctl' --socket '$sock' sign ecdsa-p384 < '$work/msg' > '$work/r.sig' &&
	 openssl dgst -sha384 -verify '$work/ecdsa-p384.pub' -signature '$work/r.sig' '$work/msg' >/dev/null"
id=$(id_of rsa-2048)00000001
check "schedule-deletion rsa-2048 (2 s)" quiet ctl schedule-deletion rsa-2048
for _ in $(seq 80); do ctl list | grep -q '^rsa-2048 ' || break; sleep 0.1; done
check "destroyed: neither object of the pair is left in the token" test "$(softhsm_count_id hk "$id")" = 0

section "a backup token: a private key cannot be copied to it"
daemon_stop
softhsm_token bk
softhsm_conf "$work/p11.conf" hk "$work/pin" "deletion_wait = 2s" "pkcs11_backup_token = pkcs11:token=bk"
daemon_start || fail "hsmkeyd starts with a backup token"
check "backup refuses, naming an identity key" expect_fail "backup failed: identity key '.*' cannot be copied to another token" \
	ctl backup
check "... before anything was copied: no key version, and not the store's own objects" \
	test "$(softhsm_count_id bk "$(id_of ecdsa-p256)00000001") $(softhsm_count_label bk hsmkey:instance) $(softhsm_count_label bk hsmkey:root)" = "0 0 0"
check "a new identity key is refused while there is a backup token, saying so in the log" bash -c \
	"! '$top/build/hsmkeyctl' --socket '$sock' create late --type ed25519 2>/dev/null &&
	 grep -q 'identity key late not made' '$work/hsmkeyd.log'"
tap_done
