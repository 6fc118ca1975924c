#!/bin/bash
# The reference PKCS#11 client (tests/lib/p11ref.py) is itself right: the
# PKCS#11 backend's tests take its word on what a token holds, so each of
# its answers is checked here against a SoftHSM token made for the test and
# against OpenSSL.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A token of our own under a private SoftHSM configuration.
. "$top/tests/lib/softhsm.sh"
softhsm_setup "$work"
softhsm_token ref || { echo "Bail out! softhsm2-util --init-token failed"; exit 1; }
softhsm_pin_file "$work/pin"
ref() {
	/usr/bin/python3 "$top/tests/lib/p11ref.py" "$1" --token ref --pin-file "$work/pin" "${@:2}"
}
# rc EXPECTED COMMAND...: the command exits with EXPECTED.
rc() { local want=$1; shift; "$@" > "$work/out" 2> "$work/err"; [[ $? == "$want" ]]; }
# says PATTERN COMMAND...: the command succeeds and prints a line matching PATTERN.
says() { local pat=$1; shift; rc 0 "$@" && grep -q -- "$pat" "$work/out"; }
unwrap() {	# KEKHEX BLOBHEX: the key, hex, unwrapped by OpenSSL (RFC 3394)
	echo -n "$2" | xxd -r -p | openssl enc -d -id-aes256-wrap -K "$1" -iv A6A6A6A6A6A6A6A6 |
		xxd -p -c 256
}

plain=$(openssl rand -hex 32)
secret=$(openssl rand -hex 64)
check "create-secret: a non-sensitive AES-256 key with a known value" \
	rc 0 ref create-secret --label plain --type aes --value "$plain" --id aa01 --not-sensitive
check "create-secret prints the CKA_ID it set" grep -qx 'handle [0-9]* id aa01' "$work/out"
check "value returns the known value of a non-sensitive key" \
	test "$(ref value --label plain)" = "$plain"
check "find --label shows it: AES, 32 bytes, not sensitive" \
	says 'key_type=CKK_AES .* value_len=32 .* sensitive=false extractable=true' \
	ref find --label plain

check "create-secret: a sensitive, extractable 64-byte generic secret" \
	rc 0 ref create-secret --label secret --type generic --value "$secret" --id bb02
check "value refuses a sensitive key (exit 1)" rc 1 ref value --label secret
check "the refusal says why" grep -q 'does not reveal CKA_VALUE' "$work/err"
check "...and prints no value" test ! -s "$work/out"
check "find --id shows it: generic secret, 64 bytes, sensitive" \
	says 'key_type=CKK_GENERIC_SECRET label=secret id=bb02 value_len=64 .* sensitive=true' \
	ref find --id bb02

# wrap-under: a test learns a key it never read, through a KEK it can read.
check "wrap-under the sensitive key" rc 0 ref wrap-under --label secret --kek-label tkek --unwrap
kek=$(sed -n 's/^kek //p' "$work/out") blob=$(sed -n 's/^blob //p' "$work/out")
check "wrap-under prints a 32-byte KEK and a 72-byte blob" \
	test "${#kek}" = 64 -a "${#blob}" = 144
check "OpenSSL, run here, unwraps the blob to the known value" \
	test "$(unwrap "$kek" "$blob")" = "$secret"
check "wrap-under --unwrap prints the same key" grep -qx "key $secret" "$work/out"
other=$(openssl rand -hex 32)
check "the blob does not unwrap under another KEK (the check can fail)" \
	bash -c "! echo -n $blob | xxd -r -p | openssl enc -d -id-aes256-wrap -K $other \
		-iv A6A6A6A6A6A6A6A6 >/dev/null 2>&1"
ref create-secret --label tkek2 --type aes --value "$other" --not-sensitive >/dev/null
check "wrap-under a non-sensitive KEK the token holds: the same key" \
	says "^key $secret\$" ref wrap-under --label secret --kek-label tkek2 --unwrap
check "...and that KEK's own value" grep -qx "kek $other" "$work/out"
ref create-secret --label skek --type aes --value "$other" >/dev/null
check "wrap-under refuses a KEK it cannot read (exit 1)" rc 1 ref wrap-under --label secret \
	--kek-label skek
check "...saying so" grep -q "KEK 'skek' is not a readable AES-256 key" "$work/err"
check "create-secret --not-extractable" rc 0 ref create-secret --label stuck --type aes \
	--value "$other" --not-extractable
check "wrap-under refuses a key that is not extractable (exit 1)" \
	rc 1 ref wrap-under --label stuck --kek-label tkek
check "...with the token's reason" grep -q 'CKR_KEY_UNEXTRACTABLE' "$work/err"
check "create-secret refuses a 20-byte AES key (exit 1)" \
	rc 1 ref create-secret --label bad --type aes --value "$(openssl rand -hex 20)"
check "...and creates nothing" rc 1 ref find --label bad

ref list > "$work/list"
check "list shows every token key made (plain, secret, tkek2, skek, stuck)" \
	test "$(grep -c '^handle ' "$work/list")" = 5
check "destroy --id" rc 0 ref destroy --id bb02
check "destroy says how many" grep -qx 'destroyed 1' "$work/out"
check "find --id fails after destroy (exit 1)" rc 1 ref find --id bb02
check "find --label fails after destroy (exit 1)" rc 1 ref find --label secret
check "a second destroy finds nothing (exit 1)" rc 1 ref destroy --id bb02
check "the other keys are still there" rc 0 ref find --label plain
# Two versions of one key (CKA_ID = id || be32 version), and another key.
kid=00112233445566778899aabbccddeeff
for v in 00000001 00000002; do
	ref create-secret --label "ver$v" --type aes --value "$other" --id "$kid$v" >/dev/null
done
ref create-secret --label notver --type aes --value "$other" --id "ff$kid" >/dev/null
check "find --id-prefix: both versions of the key, not the other" \
	says "label=ver00000001" ref find --id-prefix "$kid"
check "...exactly those two" test "$(grep -c '^handle ' "$work/out")" = 2
check "...the second one too" grep -q 'label=ver00000002' "$work/out"
check "destroy --id-prefix destroys both" says '^destroyed 2$' ref destroy --id-prefix "$kid"
check "find --id-prefix then finds none (exit 1)" rc 1 ref find --id-prefix "$kid"
check "...the other key stays" rc 0 ref find --label notver

check "mechanisms: AES key wrap (wrap, unwrap)" \
	says '^CKM_AES_KEY_WRAP .*wrap,unwrap' ref mechanisms
check "mechanisms: ECDH1_DERIVE derives" grep -q '^CKM_ECDH1_DERIVE .*derive' "$work/out"
check "mechanisms: AES_ECB_ENCRYPT_DATA derives" \
	grep -q '^CKM_AES_ECB_ENCRYPT_DATA .*derive' "$work/out"
check "mechanisms: no AES-GCM wrap (SoftHSM 2.6.1, F3)" \
	bash -c "! grep -q '^CKM_AES_GCM .*wrap' '$work/out'"

softhsm_pin_file "$work/badpin" 4321
check "a wrong PIN: exit 2" rc 2 /usr/bin/python3 "$top/tests/lib/p11ref.py" list --token ref \
	--pin-file "$work/badpin"
check "...naming the token's answer" grep -q 'CKR_PIN_INCORRECT' "$work/err"
check "no such token: exit 2" rc 2 /usr/bin/python3 "$top/tests/lib/p11ref.py" list \
	--token nosuch --pin-file "$work/pin"
check "...saying so" grep -q "0 tokens labelled 'nosuch'" "$work/err"
check "a value that is not hex: usage error (exit 2)" \
	rc 2 ref create-secret --label x --type aes --value xyz
tap_done
