#!/bin/bash
# Identity keys (ecdsa-p256, ecdsa-p384, ed25519) in the embedded key
# store, checked against OpenSSL: a key made by hsmkeyd signs a CSR that
# openssl req verifies under the public key hsmkeyctl show prints; a key
# imported from OpenSSL's PEM or DER keeps its public key; bad input is
# refused with a clear error and creates nothing; an identity key never
# has a kernel token or copy, is not rotated, and survives a restart.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/identity.sh"

# gone NAME: no key NAME in the store.
gone() { ! ctl show "$1" >/dev/null 2>&1; }

daemon_start || { fail "hsmkeyd starts"; tap_done; }
# A CA of the test's own, to issue certificates from the CSRs.
openssl req -x509 -newkey ed25519 -nodes -keyout "$work/ca.key" -out "$work/ca.crt" \
	-subj /CN=test-ca -days 1 2>/dev/null

section "made by hsmkeyd, CSR checked by openssl"
for t in ecdsa-p256 ecdsa-p384 ed25519; do
	check "$t: create" quiet ctl create "id-$t" --type "$t"
	pubkey_of "id-$t" > "$work/$t.pub"
	check "$t: show prints a public key openssl reads" quiet openssl pkey -pubin -in "$work/$t.pub" -noout
	case $t in
	ecdsa-p256) want="ASN1 OID: prime256v1" ;;
	ecdsa-p384) want="ASN1 OID: secp384r1" ;;
	ed25519) want="ED25519 Public-Key" ;;
	esac
	check "$t: ... of that curve" bash -c "openssl pkey -pubin -in '$work/$t.pub' -text -noout | grep -q '$want'"
	ctl csr "id-$t" --subject "/CN=www.example.test/O=Example\/Test" --dns www.example.test \
		--dns '*.example.test' > "$work/$t.csr"
	check "$t: the CSR verifies (openssl req -verify)" quiet openssl req -in "$work/$t.csr" -verify -noout
	openssl req -in "$work/$t.csr" -pubkey -noout > "$work/$t.csrpub"
	check "$t: ... under the key's own public key" same_pubkey "$work/$t.pub" "$work/$t.csrpub"
	check "$t: ... for the subject asked (a slash escaped)" bash -c \
		"openssl req -in '$work/$t.csr' -subject -noout -nameopt RFC2253 | grep -qx 'subject=O=Example/Test,CN=www.example.test'"
	check "$t: ... with both DNS names" bash -c \
		"openssl req -in '$work/$t.csr' -text -noout | grep -q 'DNS:www.example.test, DNS:\*.example.test'"
	# The CA side: a certificate issued from the CSR matches the key.
	openssl x509 -req -in "$work/$t.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -days 1 \
		-out "$work/$t.crt" 2>/dev/null
	openssl x509 -in "$work/$t.crt" -pubkey -noout > "$work/$t.crtpub"
	check "$t: a certificate issued from it names the key" same_pubkey "$work/$t.pub" "$work/$t.crtpub"
	check "$t: list shows the type, never in the kernel" bash -c \
		"'$top/build/hsmkeyctl' --socket '$sock' list | grep -E '^id-$t +$t ' | grep -q never"
done
ctl create id-p256b --type ecdsa-p256 >/dev/null
check "two ecdsa-p256 keys made one after the other differ" bash -c \
	"! cmp -s '$work/ecdsa-p256.pub' <('$top/build/hsmkeyctl' --socket '$sock' --json show id-p256b | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"public_key\"], end=\"\")')"

section "imported from OpenSSL"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/p256.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$work/p384.pem" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$work/ed.pem" 2>/dev/null
openssl ec -in "$work/p256.pem" -out "$work/p256.sec1" 2>/dev/null	# "EC PRIVATE KEY"
openssl pkey -in "$work/p384.pem" -outform DER -out "$work/p384.der"	# SEC 1 DER
openssl pkcs8 -topk8 -nocrypt -in "$work/p256.pem" -outform DER -out "$work/p256.p8der"
# hsmkeyd reads these itself (daemon/identity_file.c), so OpenSSL's other
# ways of writing the same key: SEC 1 without its public key, or with it
# compressed; CRLF line ends; a certificate before the key (as a combined
# file has it); an Ed25519 PKCS#8 v2 (RFC 5958) with its public key.
openssl ec -in "$work/p256.pem" -no_public -out "$work/p256.nopub" 2>/dev/null
openssl ec -in "$work/p384.pem" -conv_form compressed -out "$work/p384.comp" 2>/dev/null
sed 's/$/\r/' "$work/p256.pem" > "$work/p256.crlf"
openssl req -x509 -new -key "$work/ed.pem" -subj /CN=combined -days 1 -out "$work/ed.crt" 2>/dev/null
cat "$work/ed.crt" "$work/ed.pem" > "$work/ed.combined"
# der_tail FILE N [-pubout]: the last N bytes of the key's DER (the seed,
# or the public key, or point); unhex HEX...: bytes to stdout.
der_tail() { openssl pkey "${@:3}" -in "$1" -outform DER 2>/dev/null | tail -c "$2" | od -An -v -tx1 | tr -d ' \n'; }
unhex() { /usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex("".join(sys.argv[1:])))' "$@"; }
pem() { echo "-----BEGIN $1-----"; base64 -w 64; echo "-----END $1-----"; }
ed_seed=$(der_tail "$work/ed.pem" 32) ed_pub=$(der_tail "$work/ed.pem" 32 -pubout)
unhex 3051020101300506032b657004220420 "$ed_seed" 812100 "$ed_pub" > "$work/ed.v2"
for f in p256.pem:ecdsa-p256 p256.sec1:ecdsa-p256 p384.der:ecdsa-p384 ed.pem:ed25519 \
	 p256.nopub:ecdsa-p256 p384.comp:ecdsa-p384 p256.crlf:ecdsa-p256 ed.combined:ed25519 ed.v2:ed25519 \
	 p256.p8der:ecdsa-p256; do
	file=${f%%:*} t=${f#*:} n=imp-${file/./-}
	src=$work/${file%%.*}.pem
	check "import $file as $t" quiet ctl import "$n" --type "$t" --key-file "$work/$file"
	pubkey_of "$n" > "$work/$n.pub"
	openssl pkey -in "$src" -pubout > "$work/$n.want"
	check "... its public key is OpenSSL's" same_pubkey "$work/$n.pub" "$work/$n.want"
	# A signature by hsmkeyd (the CSR) checks under OpenSSL's public key.
	ctl csr "$n" --subject /CN=imported > "$work/$n.csr"
	check "... and the CSR it signs verifies" quiet openssl req -in "$work/$n.csr" -verify -noout
done

section "the imported keys' private values in hsmkeyd's memory"
# Every key above was imported, and signed a CSR, in hsmkeyd.  Its memory
# (memscan: every readable mapping) holds none of their private values in
# either byte order (big-endian as in the files, or reversed as in
# OpenSSL's BIGNUM limbs).  The control: a process that loaded the same
# P-256 file with OpenSSL's decoders (as hsmkeyd did before it read key
# files itself) and freed the key holds the scalar in big-endian order.
scalar() { openssl ec -in "$1" -outform DER 2>/dev/null | head -c "$2" | tail -c "$3" | od -An -v -tx1 | tr -d ' \n'; }
reversed() { /usr/bin/python3 -c 'import sys; print(bytes.fromhex(sys.argv[1])[::-1].hex())' "$1"; }
d256=$(scalar "$work/p256.pem" 39 32) d384=$(scalar "$work/p384.pem" 56 48)
for v in "P-256 scalar:$d256" "P-384 scalar:$d384" "Ed25519 seed:$ed_seed"; do
	hex=${v#*:}
	check "hsmkeyd holds no copy of the ${v%%:*} (big-endian)" \
		quiet "$top/build/tests/memscan" "$daemon_pid" "$hex" --expect-none
	check "... nor reversed" \
		quiet "$top/build/tests/memscan" "$daemon_pid" "$(reversed "$hex")" --expect-none
done
/usr/bin/python3 -c '
import gc, sys, time
from cryptography.hazmat.primitives.serialization import load_pem_private_key
k = load_pem_private_key(open(sys.argv[1], "rb").read(), None)
del k; gc.collect()
print("ready", flush=True); time.sleep(60)' "$work/p256.pem" > "$work/decoded" &
control=$!
for _ in $(seq 100); do grep -q ready "$work/decoded" && break; sleep 0.1; done
check "control: OpenSSL's decoders left the P-256 scalar in a process that freed the key" \
	bash -c "grep -q ready '$work/decoded' || { echo '# the control process is not ready'; exit 1; }
		 '$top/build/tests/memscan' '$control' '$d256' --expect-some > /dev/null"
kill "$control"; wait "$control" 2>/dev/null

section "bad input: a clear error, nothing made"
openssl pkey -in "$work/p256.pem" -aes-128-cbc -passout pass:secret -out "$work/enc.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$work/rsa.pem" 2>/dev/null
head -c 200 /dev/urandom > "$work/junk"
head -c 100 "$work/p256.pem" > "$work/cut.pem"
check "an encrypted key is refused, saying how to decrypt it" expect_fail "openssl pkey" \
	ctl import bad1 --type ecdsa-p256 --key-file "$work/enc.pem"
check "a P-384 key as ecdsa-p256 is refused" expect_fail "another type than ecdsa-p256" \
	ctl import bad2 --type ecdsa-p256 --key-file "$work/p384.pem"
check "an RSA key is refused" expect_fail "another type than ed25519" \
	ctl import bad3 --type ed25519 --key-file "$work/rsa.pem"
check "random bytes are refused" expect_fail "holds no unencrypted" \
	ctl import bad4 --type ed25519 --key-file "$work/junk"
check "a cut PEM is refused" expect_fail "holds no unencrypted" \
	ctl import bad5 --type ecdsa-p256 --key-file "$work/cut.pem"
check "a public key alone is refused" expect_fail "holds no unencrypted" \
	ctl import bad6 --type ecdsa-p256 --key-file "$work/imp-p256-pem.want"
check "raw bytes the length of a scalar are refused (no raw import)" expect_fail "holds no unencrypted" \
	ctl import bad7 --type ecdsa-p256 --key-file <(head -c 32 /dev/urandom)
check "a wrapped import is refused" expect_fail "private key file" \
	ctl import bad8 --type ecdsa-p256 --wrapped-file "$work/junk"
# Forged files: a P-256 key's SEC 1 DER with another key's public point; an
# Ed25519 v2 key with another public key; a byte after the DER; explicit
# curve parameters instead of the curve's name.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/other.pem" 2>/dev/null
{ openssl ec -in "$work/p256.pem" -outform DER 2>/dev/null | head -c -65
  unhex "$(der_tail "$work/other.pem" 65 -pubout)"; } | pem "EC PRIVATE KEY" > "$work/forged.sec1"
unhex 3051020101300506032b657004220420 "$ed_seed" 812100 \
	"$(der_tail "$work/other.pem" 32 -pubout)" > "$work/ed-forged.v2"
{ cat "$work/p384.der"; printf x; } > "$work/p384.trailing"
openssl ec -in "$work/p256.pem" -param_enc explicit -out "$work/p256.explicit" 2>/dev/null
check "a SEC 1 key whose public point is another key's is refused" expect_fail "not its private key's" \
	ctl import bad9 --type ecdsa-p256 --key-file "$work/forged.sec1"
check "... and so is such an Ed25519 key" expect_fail "not its private key's" \
	ctl import bad10 --type ed25519 --key-file "$work/ed-forged.v2"
check "a byte after the DER is refused" expect_fail "holds no unencrypted" \
	ctl import bad11 --type ecdsa-p384 --key-file "$work/p384.trailing"
check "explicit curve parameters are refused" expect_fail "only a named curve" \
	ctl import bad12 --type ecdsa-p256 --key-file "$work/p256.explicit"
check "a P-384 SEC 1 key as ecdsa-p256 is refused" expect_fail "another type than ecdsa-p256" \
	ctl import bad13 --type ecdsa-p256 --key-file "$work/p384.comp"
check "... none of them was created" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' list | grep -q '^bad'"
check "csr without a subject is a usage error" expect_fail "missing --subject" ctl csr id-ed25519
check "a subject not /TYPE=VALUE is refused" expect_fail "must be written" \
	ctl csr id-ed25519 --subject CN=x
check "an unknown attribute type is refused" expect_fail "no attribute type" \
	ctl csr id-ed25519 --subject /XX=y
check "a DNS name with a comma is refused (no smuggled SAN)" expect_fail "no DNS name" \
	ctl csr id-ed25519 --subject /CN=x --dns "a.test,IP:1.2.3.4"
check "a CSR for an AES key is refused" bash -c "ctl() { '$top/build/hsmkeyctl' --socket '$sock' \"\$@\"; }
	ctl create aes1 --type aes-256-gcm >/dev/null && ! ctl csr aes1 --subject /CN=x 2>&1 | grep -q BEGIN"
check "... saying it is no identity key" expect_fail "not an identity key" ctl csr aes1 --subject /CN=x

section "never the kernel's, not rotated, revoked for good"
check "token of an identity key is refused" expect_fail "never goes to the kernel" ctl token id-ed25519
check "load of an identity key is refused" expect_fail "never goes to the kernel" ctl load id-ed25519
check "rotate is refused (a new key pair is a new key)" expect_fail "a new key pair is a new key" \
	ctl rotate id-ed25519
check "a policy can be set on it" quiet ctl policy id-ed25519 --users root
check "nobody (not admin) cannot have a CSR signed" expect_fail "needs root" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$top/build/hsmkeyctl" --socket "$sock" csr id-ed25519 --subject /CN=evil
check "nobody may show the public key only" bash -c "setpriv --reuid=65534 --regid=65534 --clear-groups \
	'$top/build/hsmkeyctl' --socket '$sock' show id-ed25519 | grep -q 'BEGIN PUBLIC KEY'"
check "show never prints private material" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' --json show id-ed25519 | grep -q PRIVATE"
check "revoke an identity key" quiet ctl revoke id-ecdsa-p384
check "a revoked key signs no CSR" expect_fail "signs nothing" ctl csr id-ecdsa-p384 --subject /CN=x
daemon_stop
check "the daemon restarts with identity keys in the store" daemon_start
pubkey_of id-ecdsa-p256 > "$work/after.pub"
check "... and the key is the same key after the restart" same_pubkey "$work/ecdsa-p256.pub" "$work/after.pub"
# The imported keys' PEM bodies: none of their lines in the log (the
# positive control: they are in the files the import read).
cat "$work/p256.pem" "$work/p384.pem" "$work/ed.pem" | grep -v -- ----- > "$work/pem-lines"
check "the imported PEM lines are in their files (control)" grep -qF -f "$work/pem-lines" "$work/p256.pem"
check "... and none is in the daemon's log" bash -c "! grep -qF -f '$work/pem-lines' '$work/hsmkeyd.log'"
tap_done
