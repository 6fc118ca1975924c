#!/bin/bash
# RSA identity keys (rsa-2048, rsa-3072) in the embedded key store (with
# HSMKEY_TEST_BACKEND=pkcs11, test_pkcs11_identity_rsa.sh: in a SoftHSM2
# token, made and imported there, every check the same), checked
# against OpenSSL: keys made by hsmkeyd sign CSRs and messages (PKCS #1
# v1.5 and PSS, a message or its digest) that openssl verifies under the
# public key hsmkeyctl prints, and verify OpenSSL's signatures; keys made
# by OpenSSL import from each of its file forms with the same public key;
# forged, weak, damaged and foreign files are refused with a clear error
# and make nothing; hsmkeyd's memory keeps no copy of an imported key's
# primes.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/identity.sh"
# raw JSON: one request as a client of its own writes it; prints the reply.
raw() { /usr/bin/python3 "$top/tests/lib/rawreq.py" "$sock" "$@"; }

daemon_start || { fail "hsmkeyd starts"; tap_done; }
openssl req -x509 -newkey ed25519 -nodes -keyout "$work/ca.key" -out "$work/ca.crt" \
	-subj /CN=test-ca -days 1 2>/dev/null
head -c 10000 /dev/urandom > "$work/msg"
openssl dgst -sha256 -binary "$work/msg" > "$work/msg.dgst"
cp "$work/msg" "$work/msg2"
printf 'X' | dd of="$work/msg2" bs=1 seek=5000 conv=notrunc 2>/dev/null

section "made by hsmkeyd: public key, CSR, signatures checked by openssl"
for bits in 2048 3072; do
	k=rsa-$bits
	check "$k: create" quiet ctl create "$k" --type "$k"
	check_in_storage "$k"
	pubkey_of "$k" > "$work/$k.pub"
	check "$k: show prints an RSA public key of $bits bits, e = 65537" bash -c \
		"openssl pkey -pubin -in '$work/$k.pub' -text -noout | grep -q 'Public-Key: ($bits bit)' &&
		 openssl pkey -pubin -in '$work/$k.pub' -text -noout | grep -q 'Exponent: 65537'"
	ctl csr "$k" --subject /CN=rsa.example.test --dns rsa.example.test > "$work/$k.csr"
	check "$k: the CSR verifies (openssl req -verify)" quiet openssl req -in "$work/$k.csr" -verify -noout
	openssl req -in "$work/$k.csr" -pubkey -noout > "$work/$k.csrpub"
	check "$k: ... under the key's own public key" same_pubkey "$work/$k.pub" "$work/$k.csrpub"
	check "$k: ... signed sha256WithRSAEncryption" bash -c \
		"openssl req -in '$work/$k.csr' -text -noout | grep -q 'Signature Algorithm: sha256WithRSAEncryption'"
	openssl x509 -req -in "$work/$k.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -days 1 \
		-out "$work/$k.crt" 2>/dev/null
	openssl x509 -in "$work/$k.crt" -pubkey -noout > "$work/$k.crtpub"
	check "$k: a certificate issued from it names the key" same_pubkey "$work/$k.pub" "$work/$k.crtpub"
	check "$k: no grant, no signature" expect_fail "may not sign" ctl sign "$k" < "$work/msg"
	quiet ctl policy "$k" --grant sign,verify:root
	ctl sign "$k" < "$work/msg" > "$work/$k.sig"
	check "$k: a PKCS #1 v1.5 signature of $((bits / 8)) bytes" test "$(stat -c %s "$work/$k.sig")" = $((bits / 8))
	check "$k: ... that openssl dgst -sha256 -verify accepts" \
		quiet openssl dgst -sha256 -verify "$work/$k.pub" -signature "$work/$k.sig" "$work/msg"
	ctl sign "$k" --digest < "$work/msg.dgst" > "$work/$k.dsig"
	check "$k: its signature of the digest is the same (v1.5 is deterministic)" \
		cmp -s "$work/$k.sig" "$work/$k.dsig"
	ctl sign "$k" --pss < "$work/msg" > "$work/$k.pss"
	check "$k: a PSS signature that openssl verifies (MGF1-SHA256, salt of 32 bytes)" \
		quiet openssl dgst -sha256 -verify "$work/$k.pub" -sigopt rsa_padding_mode:pss \
		-sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 -signature "$work/$k.pss" "$work/msg"
	ctl sign "$k" --pss < "$work/msg" > "$work/$k.pss2"
	check "$k: ... salted: two PSS signatures of one message differ" \
		bash -c "! cmp -s '$work/$k.pss' '$work/$k.pss2'"
	ctl sign "$k" --pss --digest < "$work/msg.dgst" > "$work/$k.dpss"
	check "$k: ... and of the digest" \
		quiet openssl pkeyutl -verify -pubin -inkey "$work/$k.pub" -in "$work/msg.dgst" \
		-sigfile "$work/$k.dpss" -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
		-pkeyopt rsa_pss_saltlen:32
	check "$k: verify takes its v1.5 signature" quiet ctl verify "$k" "$work/$k.sig" < "$work/msg"
	check "$k: ... and its PSS one with --pss" quiet ctl verify "$k" "$work/$k.pss" --pss < "$work/msg"
	check "$k: ... but not the PSS one as v1.5" expect_fail "does not verify" \
		ctl verify "$k" "$work/$k.pss" < "$work/msg"
	check "$k: ... nor the v1.5 one as PSS" expect_fail "does not verify" \
		ctl verify "$k" "$work/$k.sig" --pss < "$work/msg"
	check "$k: ... nor either for a message a byte off" expect_fail "does not verify" \
		ctl verify "$k" "$work/$k.sig" < "$work/msg2"
	check "$k: a digest of the wrong length is refused" expect_fail "is 32 bytes" \
		ctl sign "$k" --digest < "$work/msg"
	check "$k: list shows the type, never in the kernel" bash -c \
		"'$top/build/hsmkeyctl' --socket '$sock' list | grep -E '^$k +$k ' | grep -q never"
done
ctl create rsa-2048b --type rsa-2048 > /dev/null
check "two rsa-2048 keys made one after the other differ" bash -c \
	"! cmp -s '$work/rsa-2048.pub' <('$top/build/hsmkeyctl' --socket '$sock' --json show rsa-2048b | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"public_key\"], end=\"\")')"

section "many signers at once"
# Every worker signing with an RSA-3072 key at the same time: each builds
# the key in OpenSSL's secure heap, which must hold them all.
signers=()
for i in 1 2 3 4 5 6; do
	( for j in 1 2 3 4 5 6 7 8; do
		ctl sign rsa-3072 --pss < "$work/msg" > "$work/par.$i.$j" || echo "signer $i: $j failed"
	  done ) > "$work/par.$i.out" 2>&1 &
	signers+=($!)
done
wait "${signers[@]}"
check "6 clients x 8 PSS signatures at once: all made" bash -c "! grep -q . '$work'/par.*.out"
check "... and all verify under OpenSSL" bash -c \
	"for f in '$work'/par.*.*[0-9]; do openssl dgst -sha256 -verify '$work/rsa-3072.pub' -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -signature \$f '$work/msg' > /dev/null || exit 1; done"

section "the signature's room and the padding, as a client of its own asks"
printf 'hello' > "$work/hello"
raw '{"v":1,"op":"sign","name":"rsa-3072","max_signature":256}' "$work/hello" > "$work/r1"
check "an rsa-3072 signature into 256 bytes: -ENOBUFS, saying the size, before signing" bash -c \
	"grep -q '\"errno\": 105' '$work/r1' && grep -q 'takes up to 384 bytes' '$work/r1'"
raw '{"v":1,"op":"sign","name":"rsa-2048","max_signature":256}' "$work/hello" > "$work/r2"
check "an rsa-2048 one fits in 256" grep -q '"payload_len": 256' "$work/r2"
check "the audit log records it as refused" bash -c \
	"grep -a '\"sign\"' \"\$(ls '$work'/state/audit* | head -1)\" | grep -a rsa-3072 | grep -aq 'takes up to 384'"
raw '{"v":1,"op":"sign","name":"rsa-2048","padding":"oaep"}' "$work/hello" > "$work/r3"
check "an unknown padding is refused" grep -q "'padding' is pkcs1 or pss" "$work/r3"
quiet ctl create ec --type ecdsa-p256
quiet ctl policy ec --grant sign,verify:root
check "--pss on an ECDSA key is refused" expect_fail "a padding is for RSA keys" \
	ctl sign ec --pss < "$work/msg"
raw '{"v":1,"op":"encrypt","name":"rsa-2048","padding":"pss"}' "$work/hello" > "$work/r4"
check "'padding' on another operation is refused" grep -q "'padding' is for sign and verify" "$work/r4"

section "signatures made by OpenSSL verify in hsmkeyd"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/o2048.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$work/o3072.pem" 2>/dev/null
for bits in 2048 3072; do
	k=o$bits
	quiet ctl import "$k" --type "rsa-$bits" --key-file "$work/$k.pem"
	check_in_storage "$k"
	quiet ctl policy "$k" --grant verify:root
	openssl dgst -sha256 -sign "$work/$k.pem" -out "$work/$k.sig" "$work/msg"
	check "$k: OpenSSL's v1.5 signature verifies" quiet ctl verify "$k" "$work/$k.sig" < "$work/msg"
	for salt in digest max; do
		openssl dgst -sha256 -sign "$work/$k.pem" -sigopt rsa_padding_mode:pss \
			-sigopt rsa_pss_saltlen:$salt -out "$work/$k.$salt" "$work/msg"
		check "$k: OpenSSL's PSS signature (salt: $salt) verifies with --pss" \
			quiet ctl verify "$k" "$work/$k.$salt" --pss < "$work/msg"
	done
	check "$k: a grant of verify alone does not sign" expect_fail "may not sign" ctl sign "$k" < "$work/msg"
done

section "imported from each of OpenSSL's forms"
openssl pkey -in "$work/o2048.pem" -outform DER -out "$work/o2048.p8der"
openssl rsa -in "$work/o2048.pem" -traditional -out "$work/o2048.p1" 2>/dev/null	# RSA PRIVATE KEY
openssl rsa -in "$work/o3072.pem" -traditional -outform DER -out "$work/o3072.p1der" 2>/dev/null
openssl req -x509 -new -key "$work/o2048.pem" -subj /CN=combined -days 1 -out "$work/o2048.crt" 2>/dev/null
cat "$work/o2048.crt" "$work/o2048.p1" > "$work/o2048.combined"
openssl rsa -in "$work/o2048.pem" -traditional -outform DER -out "$work/o2048.p1der" 2>/dev/null
/usr/bin/python3 "$top/tests/lib/rsa_der.py" swapped "$work/o2048.p1der" "$work/o2048.swapped"
/usr/bin/python3 "$top/tests/lib/rsa_der.py" p8v2 "$work/o2048.p1der" "$work/o2048.v2"
for f in o2048.p8der:2048 o2048.p1:2048 o3072.p1der:3072 o2048.combined:2048 o2048.swapped:2048 \
	 o2048.v2:2048; do
	file=${f%%:*} bits=${f#*:} n=imp-${file/./-}
	check "import $file as rsa-$bits" quiet ctl import "$n" --type "rsa-$bits" --key-file "$work/$file"
	pubkey_of "$n" > "$work/$n.pub"
	openssl pkey -in "$work/o$bits.pem" -pubout > "$work/$n.want"
	check "... its public key is OpenSSL's" same_pubkey "$work/$n.pub" "$work/$n.want"
	ctl csr "$n" --subject /CN=imported > "$work/$n.csr"
	check "... and the CSR it signs verifies under it" bash -c \
		"openssl req -in '$work/$n.csr' -verify -noout 2>/dev/null &&
		 openssl req -in '$work/$n.csr' -pubkey -noout | cmp -s - <(openssl pkey -pubin -in '$work/$n.want')"
done

section "bad files: a clear error, nothing made"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$work/r1024.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_primes:3 \
	-out "$work/three.pem" 2>/dev/null
openssl rsa -in "$work/three.pem" -traditional -out "$work/three.p1" 2>/dev/null
openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -out "$work/pss.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3 \
	-out "$work/e3.pem" 2>/dev/null
openssl pkey -in "$work/o2048.pem" -aes-128-cbc -passout pass:secret -out "$work/enc.pem" 2>/dev/null
for how in n-forged dq-forged composite close p8v2-other; do
	/usr/bin/python3 "$top/tests/lib/rsa_der.py" "$how" "$work/o2048.p1der" "$work/$how.der"
done
cat "$work/o2048.p1der" <(printf '\0') > "$work/trailing.der"
{ cat "$work/o2048.pem"; head -c 9000 /dev/zero | tr '\0' '#'; } > "$work/big.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ec.pem" 2>/dev/null
# Each line: what, the file, the type asked, what the error says.
n=0
while IFS='|' read -r what file type says; do
	n=$((n + 1))
	check "refused: $what" expect_fail "$says" ctl import "bad$n" --type "$type" --key-file "$work/$file"
done <<'END'
a 3072-bit key as rsa-2048|o3072.pem|rsa-2048|another type than rsa-2048
a 1024-bit key|r1024.pem|rsa-2048|another type than rsa-2048
an RSA key as ecdsa-p256|o2048.pem|ecdsa-p256|another type than ecdsa-p256
an EC key as rsa-2048|ec.pem|rsa-2048|another type than rsa-2048
a key of three primes|three.p1|rsa-2048|no unencrypted rsa-2048 private key
an RSASSA-PSS key (its own OID)|pss.pem|rsa-2048|another type than rsa-2048
a key with e = 3 (weak)|e3.pem|rsa-2048|weak RSA key
an encrypted key (the error says how to decrypt it)|enc.pem|rsa-2048|openssl pkey
a modulus that is not p * q (forged)|n-forged.der|rsa-2048|damaged or forged
a wrong dq (forged)|dq-forged.der|rsa-2048|damaged or forged
a composite p, every other value consistent|composite.der|rsa-2048|not prime
consecutive primes (weak)|close.der|rsa-2048|weak RSA key
a byte after the key|trailing.der|rsa-2048|no unencrypted rsa-2048 private key
a file of 8 KiB or more|big.pem|rsa-2048|larger than
a PKCS#8 v2 whose public key is another modulus|p8v2-other.der|rsa-2048|damaged or forged
END
check "... and none of them was made" bash -c \
	"for i in \$(seq 1 $n); do ! '$top/build/hsmkeyctl' --socket '$sock' show bad\$i >/dev/null 2>&1 || exit 1; done"

section "an identity key: no kernel copy, no rotation, kept across a restart"
check "token of an RSA key is refused" expect_fail "never goes to the kernel" ctl token rsa-2048
check "rotate of an RSA key is refused" expect_fail "a new key pair is a new key" ctl rotate rsa-2048
daemon_stop
daemon_start || { fail "hsmkeyd starts again"; tap_done; }
pubkey_of rsa-3072 > "$work/after.pub"
check "after a restart: the same public key" same_pubkey "$work/rsa-3072.pub" "$work/after.pub"
ctl sign rsa-3072 < "$work/msg" > "$work/after.sig"
check "... and the same v1.5 signature (deterministic)" cmp -s "$work/rsa-3072.sig" "$work/after.sig"

section "the imported keys' primes in hsmkeyd's memory"
# Every file above was read, and its key signed, in this hsmkeyd (the
# restart above came after: import again, sign).  Its memory holds neither
# prime of the key in either byte order; the control finds one where it is.
quiet ctl import scan --type rsa-2048 --key-file "$work/o2048.pem"
quiet ctl policy scan --grant sign:root
ctl sign scan --pss < "$work/msg" > /dev/null
ctl csr scan --subject /CN=scan > /dev/null
prime_hex() {
	openssl rsa -in "$1" -text -noout 2>/dev/null | awk -v want="$2:" '
		$1 == want { on = 1; next } on && /^[a-z]/ { on = 0 } on { gsub(/[ :]/, ""); printf "%s", $0 }' |
		sed 's/^00//'
}
reversed() { /usr/bin/python3 -c 'import sys; print(bytes.fromhex(sys.argv[1])[::-1].hex())' "$1"; }
p=$(prime_hex "$work/o2048.pem" prime1) q=$(prime_hex "$work/o2048.pem" prime2)
check "the primes were read from the file (256 hex digits each)" \
	test "${#p}:${#q}" = "256:256"
# The scanner looks for up to 64 bytes: the first and last 32 of each
# prime, in each order (any copy holds both).
for v in "p:$p" "q:$q"; do
	hex=${v#*:}
	for at in 0:first 192:last; do
		check "hsmkeyd holds no copy of ${v%%:*}'s ${at#*:} 32 bytes (big-endian)" \
			quiet "$top/build/tests/memscan" "$daemon_pid" "${hex:${at%%:*}:64}" --expect-none
		check "... nor of its ${at#*:} 32 bytes reversed (OpenSSL's limbs)" \
			quiet "$top/build/tests/memscan" "$daemon_pid" "$(reversed "${hex:${at%%:*}:64}")" \
			--expect-none
	done
done
/usr/bin/python3 -c '
import sys, time
held = bytes.fromhex(sys.argv[1])
print("ready", flush=True); time.sleep(60)' "$p" > "$work/holder" &
control=$!
for _ in $(seq 100); do grep -q ready "$work/holder" && break; sleep 0.1; done
check "control: the scan finds p in a process that holds it" \
	bash -c "grep -q ready '$work/holder' && '$top/build/tests/memscan' '$control' '${p:192:64}' --expect-some > /dev/null"
kill "$control"; wait "$control" 2>/dev/null

tap_done
