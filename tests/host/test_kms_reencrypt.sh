#!/bin/bash
# Re-encrypt on the embedded key store (on a SoftHSM2 token:
# test_pkcs11_kms_reencrypt.sh; on a KMIP server:
# test_kmip_kms_reencrypt.sh): blobs sealed again under another
# key, or under their own key's version after a rotation, checked against
# the reference of hsmkey-blob(5) (tests/lib/kms_blob.py) with the raw
# keys; the contexts, the grants of both keys from an unprivileged user's
# side, data keys for the kernel only staying so, and the two audit records.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

ref=$top/tests/lib/kms_blob.py
hsmkeyctl=$top/build/hsmkeyctl
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
as_nobody() { "${nobody[@]}" "$hsmkeyctl" --socket "$sock" "$@"; }
id_of() { ctl --json show "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
# head_of BLOB: "ALG IDHEX VERSION FLAGS" of the reference's reading.
head_of() { /usr/bin/python3 "$ref" head "$1" | awk '{ print $1, $2, $3, $5 }'; }
# opens KEYFILE BLOB K=V...: the reference opens BLOB to the plaintext $work/pt.
opens() { /usr/bin/python3 "$ref" open "$@" 2>/dev/null | cmp -s - "$work/pt"; }
# refused TEXT ARGS... < BLOB: re-encrypt fails saying TEXT, printing nothing.
refused() {
	local text=$1; shift
	! "$@" > "$work/out" 2> "$work/err" && ! test -s "$work/out" && grep -q -- "$text" "$work/err"
}

daemon_start || { fail "hsmkeyd starts"; tap_done; }
chmod 755 "$work"

section "a blob sealed again under another key"
head -c 32 /dev/urandom > "$work/raw256"
head -c 16 /dev/urandom > "$work/raw128"
head -c 16 /dev/urandom > "$work/rot128"
head -c 1000 /dev/urandom > "$work/pt"
quiet ctl import ka --type kms-aes-256 --key-file "$work/raw256"
quiet ctl import kb --type kms-aes-128 --key-file "$work/raw128"
check_in_storage ka
check_in_storage kb
quiet ctl policy ka --grant encrypt,decrypt:root
quiet ctl policy kb --grant encrypt,decrypt:root
ctl encrypt ka --context app=x < "$work/pt" > "$work/b1"
check "re-encrypt to kb with a new context" \
	bash -c "'$hsmkeyctl' --socket '$sock' re-encrypt --context app=x --to kb --to-context app=y < '$work/b1' > '$work/b2'"
check "the new blob names kb, version 1, AES-128-GCM, and is as long" \
	test "$(head_of "$work/b2") $(stat -c %s "$work/b2")" = "2 $(id_of kb) 1 0 1056"
check "the reference opens it with kb's raw key and the new context: the plaintext" \
	opens "$work/raw128" "$work/b2" app=y
check "... and not with the old context" bash -c "! /usr/bin/python3 '$ref' open '$work/raw128' '$work/b2' app=x 2>/dev/null"
check "hsmkeyd decrypts it with the new context" \
	bash -c "'$hsmkeyctl' --socket '$sock' decrypt --context app=y < '$work/b2' | cmp -s - '$work/pt'"
check "without --to-context the blob keeps its own context" \
	bash -c "'$hsmkeyctl' --socket '$sock' re-encrypt --context app=x --to kb < '$work/b1' > '$work/b3'"
check "... which the reference opens it with" opens "$work/raw128" "$work/b3" app=x
check "--to-no-context: the empty context" \
	bash -c "'$hsmkeyctl' --socket '$sock' re-encrypt --context app=x --to kb --to-no-context < '$work/b1' > '$work/b4'"
check "... which the reference opens it with" opens "$work/raw128" "$work/b4"
check "a blob the reference made re-encrypts too" \
	bash -c "/usr/bin/python3 '$ref' seal '$work/raw256' $(id_of ka) 1 '$work/pt' app=r > '$work/r1' &&
		'$hsmkeyctl' --socket '$sock' re-encrypt --context app=r --to kb < '$work/r1' > '$work/r2'"
check "... and the reference opens the result" opens "$work/raw128" "$work/r2" app=r

section "to the current version of its own key"
check "kb rotated to a new version from a raw key" quiet ctl rotate kb --key-file "$work/rot128"
check "re-encrypt without --to: kb's version 2, the same key id" \
	bash -c "'$hsmkeyctl' --socket '$sock' re-encrypt --context app=y < '$work/b2' > '$work/b5' &&
		test \"\$(/usr/bin/python3 '$ref' head '$work/b5' | cut -d' ' -f2,3)\" = '$(id_of kb) 2'"
check "the reference opens it with version 2's raw key" opens "$work/rot128" "$work/b5" app=y
check "... not with version 1's" bash -c "! /usr/bin/python3 '$ref' open '$work/raw128' '$work/b5' app=y 2>/dev/null"
check "the old blob still decrypts (version 1 kept)" \
	bash -c "'$hsmkeyctl' --socket '$sock' decrypt --context app=y < '$work/b2' | cmp -s - '$work/pt'"

section "what is refused, printing nothing"
check "the wrong context of the blob" refused "does not decrypt" \
	ctl re-encrypt --context app=z --to kb < "$work/b1"
flip() { /usr/bin/python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[int(sys.argv[2])]^=1; open(sys.argv[3],"wb").write(b)' "$@"; }
flip "$work/b1" 500 "$work/b1.bad"
check "an altered blob" refused "does not decrypt" ctl re-encrypt --context app=x < "$work/b1.bad"
head -c 30 "$work/b1" > "$work/b1.cut"
check "a cut blob" refused "not a ciphertext blob" ctl re-encrypt --context app=x < "$work/b1.cut"
check "a destination that does not exist" refused "no key named 'nokey'\|does not exist\|not found" \
	ctl re-encrypt --context app=x --to nokey < "$work/b1"
check "a destination that is no KMS key" bash -c "$(declare -f refused); quiet() { \"\$@\" > /dev/null; }
	'$hsmkeyctl' --socket '$sock' create sid --type ecdsa-p256 > /dev/null &&
	refused 'does not encrypt' '$hsmkeyctl' --socket '$sock' re-encrypt --context app=x --to sid < '$work/b1'"
check "'type' is for data keys for the kernel only" refused "is for a data key for the kernel only" \
	ctl re-encrypt --context app=x --type aes-256-gcm < "$work/b1"
check "a context key of hsmkeyd's own in --to-context" refused "are hsmkeyd's own" \
	ctl re-encrypt --context app=x --to-context hsmkey:uid=0 < "$work/b1"
check "hsmkeyd is still up" quiet ctl list

section "the grants of both keys, from an unprivileged user's side"
quiet ctl policy ka --grant encrypt,decrypt:root --grant decrypt:nobody
check "nobody with decrypt on ka but nothing on kb: refused, kb named" \
	refused "uid 65534 may not encrypt with key 'kb'" as_nobody re-encrypt --context app=x --to kb < "$work/b1"
quiet ctl policy ka --grant encrypt,decrypt:root
quiet ctl policy kb --grant encrypt,decrypt:root --grant encrypt:nobody
check "nobody with encrypt on kb but nothing on ka: refused, the blob's key not named" \
	bash -c "$(declare -f refused); refused 'may not decrypt this blob' ${nobody[*]} '$hsmkeyctl' --socket '$sock' re-encrypt --context app=x --to kb < '$work/b1' &&
		! grep -q \"'ka'\" '$work/err'"
quiet ctl policy ka --grant encrypt,decrypt:root --grant decrypt:nobody
check "with decrypt on ka and encrypt on kb, nobody re-encrypts" \
	bash -c "${nobody[*]} '$hsmkeyctl' --socket '$sock' re-encrypt --context app=x --to kb < '$work/b1' > '$work/b6'"
check "... and the result opens under kb" opens "$work/rot128" "$work/b6" app=x
check "nobody may not re-encrypt into ka, which grants it decrypt only" \
	refused "uid 65534 may not encrypt with key 'ka'" as_nobody re-encrypt --context app=x < "$work/b1"
quiet ctl disable kb
check "a disabled destination serves no encryption" refused "is disabled" \
	ctl re-encrypt --context app=x --to kb < "$work/b1"
quiet ctl enable kb

section "a data key for the kernel only stays one"
quiet ctl policy ka --grant encrypt,decrypt:root --grant data-key:root --grant data-key:nobody
ctl data-key ka --type aes-128-gcm --context dk=1 > "$work/w1"
check "without the data-key grant of kb: refused (decrypt and encrypt are not enough)" \
	refused "may not make data keys with key 'kb'" ctl re-encrypt --context dk=1 --to kb < "$work/w1"
quiet ctl policy kb --grant encrypt,decrypt,data-key:root
check "with it, re-encrypted to kb" \
	bash -c "'$hsmkeyctl' --socket '$sock' re-encrypt --context dk=1 --to kb < '$work/w1' > '$work/w2'"
check "still flagged for the kernel only, under kb" test "$(head_of "$work/w2")" = "2 $(id_of kb) 2 1"
check "decrypt refuses it" expect_fail "for the kernel only" ctl decrypt --context dk=1 < "$work/w2"
check "the reference opens both with their raw keys, hsmkey:type and hsmkey:uid: the same data key" \
	bash -c "/usr/bin/python3 '$ref' open '$work/raw256' '$work/w1' dk=1 hsmkey:type=aes-128-gcm hsmkey:uid=0 > '$work/dk1' &&
		/usr/bin/python3 '$ref' open '$work/rot128' '$work/w2' dk=1 hsmkey:type=aes-128-gcm hsmkey:uid=0 > '$work/dk2' &&
		test \$(stat -c %s '$work/dk1') -eq 16 && cmp -s '$work/dk1' '$work/dk2'"
check "with the wrong --type it does not open" refused "does not decrypt" \
	ctl re-encrypt --context dk=1 --type aes-128-cbc --to kb < "$work/w1"
check "a type of another length is refused" refused "is 16 bytes" \
	ctl re-encrypt --context dk=1 --type aes-256-gcm --to kb < "$work/w1"
quiet ctl policy kb --grant encrypt,decrypt,data-key:root --grant data-key:nobody
check "nobody, with the data-key grant of both, cannot re-encrypt root's data key (bound to uid 0)" \
	refused "does not decrypt" as_nobody re-encrypt --context dk=1 --to kb < "$work/w1"
quiet ctl policy ka --grant encrypt,decrypt:root --grant data-key:nobody
check "without the data-key grant of its own key (decrypt is not enough): refused, the key not named" \
	bash -c "$(declare -f refused); refused 'may not open this blob' '$hsmkeyctl' --socket '$sock' re-encrypt --context dk=1 --to kb < '$work/w1' &&
		! grep -q \"'ka'\" '$work/err'"
quiet ctl policy ka --grant encrypt,decrypt,data-key:root --grant data-key:nobody

section "the audit log"
log=$(ls "$work"/state/audit* | head -1)
check "the audit log verifies" quiet ctl audit verify
check "nobody's one re-encryption that went through is its one opening recorded as allowed (refused destinations open nothing)" \
	test "$(grep -a '"decrypt"' "$log" | grep -a '"uid":65534' | grep -ac '"result":"ok"')" -eq 1
check "a destination refused before the opening is recorded as refused, naming it" \
	bash -c "grep -a '\"decrypt\"' '$log' | grep -a '\"uid\":65534' | grep -a '\"result\":\"error\"' | grep -aq \"may not encrypt with key 'kb'\""
check "the opening is recorded as a decryption of ka naming kb" \
	bash -c "grep -a '\"decrypt\"' '$log' | grep -a '\"ka\"' | grep -aq \"re-encrypt to 'kb'\""
check "the sealing as an encryption with kb naming ka's version" \
	bash -c "grep -a '\"encrypt\"' '$log' | grep -a '\"kb\"' | grep -aq \"re-encrypt from 'ka' version 1\""
check "a data key's as data-key records" \
	bash -c "grep -a '\"data-key\"' '$log' | grep -aq \"re-encrypt from 'ka' version 1\""
printf 'reencrypt-marker-93be' > "$work/marker"
ctl encrypt ka --context m=1 < "$work/marker" > "$work/bm"
ctl re-encrypt --context m=1 --to kb < "$work/bm" > /dev/null
check "the marker's re-encryption is recorded, its plaintext nowhere in the log" \
	bash -c "test \$(grep -ac 're-encrypt' '$log') -ge 8 && ! grep -aq 'reencrypt-marker' '$log' &&
		grep -aq 'reencrypt-marker' '$work/marker'"

tap_done
