#!/bin/bash
# Identity keys on backend = kmip (PyKMIP's server on loopback): each
# version is a private key object on the key server (PKCS #8), fetched for
# each signature and wiped.  Checked from the server's side with PyKMIP's
# own client and OpenSSL: the objects' kind; the private key the reference
# client fetches is the one whose public key hsmkeyctl shows and whose
# signatures and CSRs OpenSSL verifies; an imported key file's key is
# what the server holds; a key pair the reference client registered is
# adopted, and objects of the wrong kind, or whose bytes are not what
# their attributes say, are refused with nothing changed on either side;
# the server's revocation stops signatures; destruction reaches the
# server; and hsmkeyd holds no private key between calls.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/identity.sh"
. "$top/tests/lib/kmip.sh"
at_exit 'kmip_server_stop "$work/kmip"'

memscan=$top/build/tests/memscan
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }
# gen TYPE FILE: a new private key of hsmkey's TYPE, PEM, by OpenSSL.
gen() {
	local g
	case $1 in
	ecdsa-p256) g=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256) ;;
	ecdsa-p384) g=(-algorithm EC -pkeyopt ec_paramgen_curve:P-384) ;;
	ed25519) g=(-algorithm ED25519) ;;
	*) g=(-algorithm RSA -pkeyopt "rsa_keygen_bits:${1#rsa-}") ;;
	esac
	openssl genpkey "${g[@]}" -out "$2" 2>/dev/null
}
# server_pub UID FILE: the public key of the private key the server holds, PEM.
server_pub() { kmip_ref_bytes "$1" "$work/der" && openssl pkey -inform DER -in "$work/der" -pubout -out "$2"; }

kmip_certs "$work/kmip" && kmip_server_start "$work/kmip" ||
	{ fail "a KMIP server (pykmip-server) on loopback"; tap_done; }
kmip_conf "$work/kmip" "$work/hsmkeyd.conf" "kmip_timeout = 3s" "kmip_poll_interval = 1s" \
	"deletion_wait = 1s"
daemon_conf=$work/hsmkeyd.conf
daemon_start || { fail "hsmkeyd starts with backend = kmip"; tap_done; }
ok "hsmkeyd starts with backend = kmip"
head -c 10000 /dev/urandom > "$work/msg"

# scan_secrets NAME: NAME's private values (the EC scalar, the Ed25519 seed;
# RSA's d, p and q), each big-endian and in a BIGNUM's order (the bytes
# reversed), as hex lines, from the object the reference client fetches.
# (memscan exits 2 on a usage error: only 0 passes.)
scan_secrets() {
	kmip_ref_bytes "$(kmip_ref locate "$1")" "$work/$1.der"
	/usr/bin/python3 - "$work/$1.der" <<'PY'
import sys
from cryptography.hazmat.primitives.serialization import load_der_private_key
from cryptography.hazmat.primitives import serialization as S
key = load_der_private_key(open(sys.argv[1], "rb").read(), None)
if hasattr(key, "private_numbers"):
    k = key.private_numbers()
    vals = [k.private_value] if hasattr(k, "private_value") else [k.d, k.p, k.q]
    vals = [v.to_bytes((v.bit_length() + 7) // 8, "big") for v in vals]
else:
    vals = [key.private_bytes(S.Encoding.Raw, S.PrivateFormat.Raw, S.NoEncryption())]
for b in vals:		# memscan takes 16 to 64 bytes: an RSA value's first 64
    print(b[:64].hex())
    print(b[::-1][:64].hex())
PY
}
section "key pairs made by hsmkeyd, registered on the server; OpenSSL checks them"
for t in ecdsa-p256:sha256:ECDSA:256 ecdsa-p384:sha384:ECDSA:384 ed25519::ED25519:256 \
	 rsa-2048:sha256:RSA:2048; do
	IFS=: read -r k md alg bits <<< "$t"
	check "$k: created" quiet ctl create "$k" --type "$k"
	n=0 m=0
	while read -r h; do
		m=$((m + 1))
		"$memscan" "$daemon_pid" "$h" --expect-none > /dev/null || n=$((n + 1))
	done < <(scan_secrets "$k")
	check "$k: made and registered, hsmkeyd's memory holds none of its $((m / 2)) private values (either byte order)" \
		test "$m" -ge 2 -a "$n" = 0
	u=$(kmip_ref locate "$k")
	check "$k: the server holds one object named $k: an active $bits-bit $alg private key" \
		test "$(kmip_ref attrs "$u")" = "type=PRIVATE_KEY alg=$alg bits=$bits state=ACTIVE name=$k"
	server_pub "$u" "$work/$k.srv"
	ctl public-key "$k" > "$work/$k.pub"
	check "$k: public-key is the public half of the private key the reference client fetched" \
		same_pubkey "$work/$k.pub" "$work/$k.srv"
	quiet ctl policy "$k" --grant sign,verify:root
	ctl sign "$k" < "$work/msg" > "$work/$k.sig"
	check "$k: OpenSSL accepts its signature under that public key" \
		openssl_verifies "$md" "$work/$k.srv" "$work/msg" "$work/$k.sig"
	check "$k: verify accepts it" quiet ctl verify "$k" "$work/$k.sig" < "$work/msg"
	ctl csr "$k" --subject "/CN=$k.example" > "$work/$k.csr"
	check "$k: its CSR verifies (openssl req -verify) and names that public key" bash -c \
		"openssl req -in '$work/$k.csr' -verify -noout 2>&1 | grep -q 'verify OK' &&
		 openssl req -in '$work/$k.csr' -pubkey -noout | cmp -s - '$work/$k.pub'"
done
ctl sign rsa-2048 --pss < "$work/msg" > "$work/rsa-2048.pss"
check "rsa-2048: a PSS signature OpenSSL verifies" \
	quiet openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-2 \
	-verify "$work/rsa-2048.srv" -signature "$work/rsa-2048.pss" "$work/msg"

section "key files imported: the server holds the file's key"
for k in rsa-3072 ecdsa-p256; do
	i=imp-$k
	gen "$k" "$work/$i.pem"
	openssl pkey -in "$work/$i.pem" -pubout -out "$work/$i.filepub"
	check "$i: imported (--key-file)" quiet ctl import "$i" --type "$k" --key-file "$work/$i.pem"
	server_pub "$(kmip_ref locate "$i")" "$work/$i.srv"
	check "$i: the server's object is the file's private key (PKCS #8, OpenSSL reads it)" \
		same_pubkey "$work/$i.srv" "$work/$i.filepub"
	quiet ctl policy "$i" --grant sign:root
	ctl sign "$i" < "$work/msg" > "$work/$i.sig"
	check "$i: its signature verifies with the file's public key" \
		openssl_verifies sha256 "$work/$i.filepub" "$work/msg" "$work/$i.sig"
done
gen ecdsa-p384 "$work/p384.pem"
check "a P-384 key file imported as ecdsa-p256: refused" expect_fail "" \
	ctl import wrong --type ecdsa-p256 --key-file "$work/p384.pem"
check "... and nothing named wrong on the server" test -z "$(kmip_ref locate wrong)"

section "key pairs the server holds, adopted"
gen ecdsa-p256 "$work/theirs.pem"
openssl pkey -in "$work/theirs.pem" -outform DER -out "$work/theirs.der"
openssl pkey -in "$work/theirs.pem" -pubout -out "$work/theirs.pub"
ut=$(kmip_ref register-private theirs ECDSA 256 "$work/theirs.der")
check "the reference client's key is pre-active" test "$(kmip_ref state "$ut")" = PRE_ACTIVE
check "adopt it (kmip:$ut)" quiet ctl import adopted --type ecdsa-p256 --from "kmip:$ut"
check "it is active on the server now" test "$(kmip_ref state "$ut")" = ACTIVE
ctl public-key adopted > "$work/adopted.pub"
check "public-key is the reference client's key's" same_pubkey "$work/adopted.pub" "$work/theirs.pub"
quiet ctl policy adopted --grant sign:root
ctl sign adopted < "$work/msg" > "$work/adopted.sig"
check "its signature verifies with that key (OpenSSL)" \
	openssl_verifies sha256 "$work/theirs.pub" "$work/msg" "$work/adopted.sig"
gen ecdsa-p384 "$work/ec.pem"
openssl pkey -in "$work/ec.pem" -outform DER -out "$work/ec.der"
openssl pkey -in "$work/ec.pem" -pubout -out "$work/ec.pub"
uec=$(kmip_ref register-private as-ec EC 384 "$work/ec.der")
check "a P-384 key registered with algorithm EC (not ECDSA) is adopted as ecdsa-p384" \
	quiet ctl import adopted-ec --type ecdsa-p384 --from "kmip:$uec"
ctl public-key adopted-ec > "$work/adopted-ec.pub"
check "... and is that key" same_pubkey "$work/adopted-ec.pub" "$work/ec.pub"
check "adopting it as ecdsa-p384: refused" expect_fail "not of type" \
	ctl import a2 --type ecdsa-p384 --from "kmip:$ut"
uaes=$(kmip_ref create an-aes-key)
check "adopting an AES key as ecdsa-p256: refused" expect_fail "not of type" \
	ctl import a2 --type ecdsa-p256 --from "kmip:$uaes"
openssl pkey -in "$work/p384.pem" -outform DER -out "$work/p384.der"
ulie=$(kmip_ref register-private liar ECDSA 256 "$work/p384.der")
check "a P-384 key whose attributes say 256 bits, adopted as ecdsa-p256: refused" \
	expect_fail "not of type" ctl import a2 --type ecdsa-p256 --from "kmip:$ulie"
check "... the server's object left as it was (pre-active)" test "$(kmip_ref state "$ulie")" = PRE_ACTIVE
check "... the daemon's log says its material is not what the key needs" \
	grep -q "private key $ulie: it is a key of another type" "$work/hsmkeyd.log"
check "none of these made a key" expect_fail "no key" ctl show a2

section "hsmkeyd holds no private key between calls"
kmip_ref_bytes "$(kmip_ref locate ed25519)" "$work/ed.der"
tail -c 32 "$work/ed.der" > "$work/ed.seed"
check "a process known to hold ed25519's seed (positive control): found" scan_control "$work/ed.seed"
quiet ctl sign ed25519 < "$work/msg"
check "after a signature, hsmkeyd's memory holds no 16-byte window of ed25519's seed" \
	quiet "$memscan" "$daemon_pid" "$(hexof "$work/ed.seed")" --expect-none
# The adopted key's scalar big-endian, and as a BIGNUM holds it (64-bit
# limbs least significant first: the bytes reversed).
read -r d_be d_mem < <(/usr/bin/python3 - "$work/theirs.pem" <<'PY'
import sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
d = load_pem_private_key(open(sys.argv[1], "rb").read(), None).private_numbers().private_value
b = d.to_bytes(32, "big")
print(b.hex(), b[::-1].hex())
PY
)
check "... nor of the adopted key's scalar, big-endian" \
	quiet "$memscan" "$daemon_pid" "$d_be" --expect-none
check "... nor in a BIGNUM's order" quiet "$memscan" "$daemon_pid" "$d_mem" --expect-none

section "the server is authoritative"
kmip_ref revoke "$ut"
t=$(wait_revoked adopted)
check "the reference client revokes the adopted key: revoked here within 10 s (took ${t:-more} s)" \
	test -n "$t"
check "... and it signs nothing" expect_fail "revoked" ctl sign adopted < "$work/msg"
ue=$(kmip_ref locate ecdsa-p384)
check "schedule ecdsa-p384's deletion" quiet ctl schedule-deletion ecdsa-p384
for _ in $(seq 100); do ctl show ecdsa-p384 >/dev/null 2>&1 || break; sleep 0.1; done
check "once due, it is destroyed here" expect_fail "no key" ctl show ecdsa-p384
check "... and on the server (the reference client's Get: Item Not Found)" \
	grep -qx "refused: ITEM_NOT_FOUND" <<< "$(kmip_ref get "$ue")"
tap_done
