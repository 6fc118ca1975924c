#!/bin/bash
# backend = pkcs11 through the real daemon and hsmkeyctl, on a SoftHSM2
# token made here, with PyKCS11 as the independent client that looks into
# the token: every lifecycle command; key objects generated in the token,
# imported raw, adopted with --from; destruction leaves no object with the
# key's CKA_ID; no key material and no master key in the state directory;
# records edited, removed or rolled back are refused; a wrong PIN changes
# nothing.  (No hsmkey.ko here: delivery to the kernel is the guest's.)
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"

softhsm_setup "$work/hsm"
softhsm_token hk
softhsm_pin_file "$work/pin"
conf() {
	printf 'backend = pkcs11\npkcs11_module = %s\npkcs11_token = %s\npin_file = %s\n%s' \
		"$SOFTHSM_MODULE" "${2:-pkcs11:token=hk}" "${3:-$work/pin}" "${4:-}" > "$1"
}
conf "$work/p11.conf" "" "" "deletion_wait = 2s
"
daemon_conf=$work/p11.conf
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d'"$1"')'; }
idv() { printf '%s%08x' "$(ctl --json show "$1" | jget '["id"]')" "$2"; }
attr() {	# attr LABEL ATTR: the attribute of the one object labelled LABEL
	softhsm_py hk <<EOF
o = s.findObjects([(P.CKA_LABEL, "$1")])
print(len(o) == 1 and s.getAttributeValue(o[0], [P.$2])[0])
EOF
}

# the settings: a typo or a missing token is an error naming the line
hsmkeyd() { "$top/build/hsmkeyd" --config "$1" --state-dir "$work/cfgstate" --socket "$work/cfg.sock"; }
printf 'backend = pkcs12\n' > "$work/c1.conf"
check "an unknown backend is refused, naming the choices" expect_fail "embedded, pkcs11 or kmip" hsmkeyd "$work/c1.conf"
printf 'backend = pkcs11\n' > "$work/c2.conf"
check "backend = pkcs11 without pkcs11_token is refused" expect_fail "needs pkcs11_token" hsmkeyd "$work/c2.conf"
printf 'backend = pkcs11\npkcs11_token = token=hk\n' > "$work/c3.conf"
check "a pkcs11_token that is not a pkcs11: URI is refused" expect_fail "RFC 7512" hsmkeyd "$work/c3.conf"
printf 'backend = pkcs11\npkcs11_token = pkcs11:token=hk\npkcs11_module = /nonexistent.so\n' > "$work/c4.conf"
check "a module that does not exist stops the start, naming it" expect_fail "/nonexistent.so" hsmkeyd "$work/c4.conf"
printf 'backend = pkcs11\npkcs11_token = pkcs11:token=hk\npkcs11_helper = maybe\n' > "$work/c5.conf"
check "pkcs11_helper takes yes or no only" expect_fail "pkcs11_helper (yes or no)" hsmkeyd "$work/c5.conf"

daemon_start || { fail "hsmkeyd starts with backend = pkcs11"; tap_done; }
check "status names the backend and says it is up" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q '\"keystore\":\"pkcs11\"' &&
	'$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q '\"backend\":\"up\"'"
check "status states destruction for this backend" grep -q "C_DestroyObject" <(ctl --json status)
check "a full SoftHSM token lacks nothing: status has no delivery limit, names no mechanism" \
	bash -c "out=\$('$top/build/hsmkeyctl' --socket '$sock' --json status; '$top/build/hsmkeyctl' --socket '$sock' status) &&
		grep -q '\"backend\":\"up\"' <<< \"\$out\" && ! grep -Eq 'delivery|CKM_' <<< \"\$out\""
check "... nor does its log" bash -c "! grep -q 'cannot be delivered' '$work/hsmkeyd.log'"
check "by default the module is in a helper: hsmkeyd has one child, hsmkeyd --pkcs11-helper" \
	test "$(pgrep -c -P "$daemon_pid")$(pgrep -c -P "$daemon_pid" -f -- --pkcs11-helper)" = 11

# create: generated in the token, named so its own tools show whose it is
check "create" quiet ctl create k1 --type aes-256-xts
# KMS, MAC and identity keys live in the token too: test_pkcs11_kms.sh, test_pkcs11_identity.sh
check "the token holds k1 version 1 (by CKA_ID)" test "$(softhsm_count_id hk "$(idv k1 1)")" = 1
check "... labelled hsmkey:k1:v1" test "$(softhsm_count_label hk hsmkey:k1:v1)" = 1
check "... a 64-byte CKK_GENERIC_SECRET" test "$(attr hsmkey:k1:v1 CKA_KEY_TYPE)" = 16
check "... sensitive" test "$(attr hsmkey:k1:v1 CKA_SENSITIVE)" = True
check "... whose value the reference client cannot read" test "$(attr hsmkey:k1:v1 CKA_VALUE)" = None
check "create aes-128-gcm: a CKK_AES key" bash -c "'$top/build/hsmkeyctl' --socket '$sock' create g1 --type aes-128-gcm >/dev/null"
check "... CKK_AES" test "$(attr hsmkey:g1:v1 CKA_KEY_TYPE)" = 31

# raw import: C_CreateObject with the bytes the daemon was given
head -c 32 /dev/urandom > "$work/raw.key"
check "import raw" quiet ctl import k2 --type aes-256-gcm --key-file "$work/raw.key"
check "the token holds it" test "$(softhsm_count_label hk hsmkey:k2:v1)" = 1

# adopt: a key made by the reference client, as an HSM's own tools would
vendor=$(head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
softhsm_secret hk vendor-xts generic "$vendor" 1 0
check "import --from adopts a key the HSM holds" quiet ctl import k3 --type aes-256-xts --from 'pkcs11:object=vendor-xts'
check "... renamed to ours" test "$(softhsm_count_label hk hsmkey:k3:v1)$(softhsm_count_label hk vendor-xts)" = 10
check "... and made sensitive (it was readable)" test "$(attr hsmkey:k3:v1 CKA_SENSITIVE)" = True
softhsm_secret hk short-aes aes "$(head -c 16 /dev/urandom | od -An -tx1 -v | tr -d ' \n')"
check "adopting a key of the wrong type is refused, naming why" \
	expect_fail "is not of type aes-256-xts" ctl import k4 --type aes-256-xts --from 'pkcs11:object=short-aes'
check "... and records nothing" expect_fail "no key named" ctl show k4
check "adopting a label the token lacks is refused" \
	expect_fail "the HSM holds no secret key pkcs11:object=nothing names" ctl import k4 --type aes-128-gcm --from 'pkcs11:object=nothing'
check "a --from that is not a pkcs11 URI is refused" \
	expect_fail "pkcs11:object=LABEL" ctl import k4 --type aes-128-gcm --from 'file:/etc/passwd'
softhsm_secret hk fixed-aes aes "$(head -c 16 /dev/urandom | od -An -tx1 -v | tr -d ' \n')" 0 1
check "a key that cannot be extracted is refused (it could never reach the kernel)" \
	expect_fail "cannot be wrapped" ctl import k4 --type aes-128-gcm --from 'pkcs11:object=fixed-aes'

# a key ceremony's key, brought into the token by C_UnwrapKey: SoftHSM then
# knows no CKA_VALUE_LEN (0, and it cannot be set); adoption finds the
# length by a wrap, and still refuses the wrong one
# ceremony LABEL BYTES: the reference client unwraps a BYTES-byte generic
# secret labelled LABEL into the token; prints its CKA_VALUE_LEN
ceremony() {
	softhsm_py hk <<EOF
kek = s.generateKey([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
    (P.CKA_VALUE_LEN, 32), (P.CKA_TOKEN, False), (P.CKA_WRAP, True), (P.CKA_UNWRAP, True)],
    P.Mechanism(P.CKM_AES_KEY_GEN))
src = s.createObject([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_GENERIC_SECRET),
    (P.CKA_TOKEN, False), (P.CKA_EXTRACTABLE, True), (P.CKA_VALUE, bytes(range($2)))])
blob = s.wrapKey(kek, src, P.Mechanism(P.CKM_AES_KEY_WRAP, None))
k = s.unwrapKey(kek, blob, [(P.CKA_CLASS, P.CKO_SECRET_KEY),
    (P.CKA_KEY_TYPE, P.CKK_GENERIC_SECRET), (P.CKA_TOKEN, True), (P.CKA_LABEL, "$1"),
    (P.CKA_SENSITIVE, True), (P.CKA_EXTRACTABLE, True)], P.Mechanism(P.CKM_AES_KEY_WRAP, None))
print(s.getAttributeValue(k, [P.CKA_VALUE_LEN])[0])
EOF
}
check "the reference client unwraps a 64-byte key into the token: CKA_VALUE_LEN 0 there" \
	test "$(ceremony ceremony-xts 64)" = 0
check "... adopted as aes-256-xts all the same (its length found by a wrap)" \
	quiet ctl import cer1 --type aes-256-xts --from 'pkcs11:object=ceremony-xts'
check "... renamed to ours" test "$(softhsm_count_label hk hsmkey:cer1:v1)" = 1
check "the reference client unwraps a 32-byte key the same way: CKA_VALUE_LEN 0 too" \
	test "$(ceremony ceremony-short 32)" = 0
check "... not taken for an aes-256-xts key: refused" \
	expect_fail "is not of type aes-256-xts" ctl import cer2 --type aes-256-xts --from 'pkcs11:object=ceremony-short'

# rotate, list, show
check "rotate" quiet ctl rotate k1
check "... version 2 is current" test "$(ctl --json show k1 | jget '["version"]')" = 2
check "... and in the token" test "$(softhsm_count_id hk "$(idv k1 2)")" = 1
check "rotate with material (raw)" bash -c "head -c 64 /dev/urandom | '$top/build/hsmkeyctl' --socket '$sock' rotate k1 --key-file - >/dev/null"
check "list shows every key" test "$(ctl list | grep -cE '^(k1|k2|k3|g1) ')" = 4

# states and policy
check "disable" quiet ctl disable k2
check "... disabled" test "$(state_of k2)" = disabled
check "enable" quiet ctl enable k2
check "... active" test "$(state_of k2)" = active
check "policy" quiet ctl policy k2 --max-requests 1000 --users root
check "... kept" grep -q "max requests 1000" <(ctl show k2)
check "schedule-deletion" quiet ctl schedule-deletion g1 --wait 1h
check "... pending" test "$(state_of g1)" = pending-deletion
check "cancel-deletion" quiet ctl cancel-deletion g1
check "... active again" test "$(state_of g1)" = active
check "revoke" quiet ctl revoke g1
check "revocation is final" expect_fail "revocation is final" ctl enable g1

# nothing secret on disk
check "no master key file" bash -c "! ls '$work/state' | grep -q master"
check "the records hold no material (the raw key's bytes are not in the state directory)" \
	bash -c "! grep -rqF \"\$(od -An -tx1 -v '$work/raw.key' | tr -d ' \n')\" '$work/state'"
check "the audit log verifies (its keys derived in the token)" quiet ctl audit verify
check "the daemon's own records (the audit anchor) are kept in the store" test -s "$work/state/pkcs11/records"

# restart: the records verify against the token's anchor
daemon_stop
daemon_start || fail "hsmkeyd restarts"
check "after a restart every key is there" test "$(ctl list | grep -cE '^(k1|k2|k3|g1) ')" = 4
check "... with its state" test "$(state_of g1)" = revoked

# destruction: C_DestroyObject on every version
ids="$(idv k1 1) $(idv k1 2) $(idv k1 3)"
check "schedule-deletion k1 (2 s)" quiet ctl schedule-deletion k1
n=0; for id in $ids; do n=$((n + $(softhsm_count_id hk "$id"))); done
check "before: the token holds its three versions (by CKA_ID)" test "$n" = 3
for _ in $(seq 80); do ctl list | grep -q '^k1 ' || break; sleep 0.1; done
check "the key is destroyed when the wait ends" bash -c "
	out=\$('$top/build/hsmkeyctl' --socket '$sock' list) && ! grep -q '^k1 ' <<< \"\$out\""
n=0; for id in $ids; do n=$((n + $(softhsm_count_id hk "$id"))); done
check "the reference client finds no object with any of its CKA_IDs" test "$n" = 0
check "the destruction is in the audit log" grep -q '"op":"destroy"' "$work/state/audit.log"

# tampering and rollback
cp -a "$work/state" "$work/old"
check "create k5" quiet ctl create k5 --type aes-128-cbc
daemon_stop
sed -i 's/"state":2/"state":1/' "$work/state/pkcs11/g1.key"
check "an edited record is refused at start" expect_fail "does not authenticate" \
	"$top/build/hsmkeyd" --config "$work/p11.conf" --state-dir "$work/state" --socket "$work/x.sock"
sed -i 's/"state":1/"state":2/' "$work/state/pkcs11/g1.key"
mv "$work/state" "$work/new"
cp -a "$work/old" "$work/state"
check "an older copy of the state directory is refused (rollback)" expect_fail "ROLLBACK" \
	"$top/build/hsmkeyd" --config "$work/p11.conf" --state-dir "$work/state" --socket "$work/x.sock"
rm -rf "$work/state"
mv "$work/new" "$work/state"
rm "$work/state/pkcs11/k2.key"
check "a record removed is refused" expect_fail "ROLLBACK" \
	"$top/build/hsmkeyd" --config "$work/p11.conf" --state-dir "$work/state" --socket "$work/x.sock"
cp "$work/old/pkcs11/k2.key" "$work/state/pkcs11/k2.key"
daemon_start || fail "hsmkeyd starts on the state directory put back"
check "... which is whole again" test "$(ctl list | grep -cE '^(k2|k3|k5|g1) ')" = 4
daemon_stop

# a wrong PIN: a clear error, nothing changed
softhsm_pin_file "$work/badpin" 9999
conf "$work/bad.conf" "" "$work/badpin"
before=$(cd "$work/state" && find pkcs11 -type f ! -name .lock | sort | xargs sha256sum)
objs=$(softhsm_py hk <<<'print(len(s.findObjects([])))')
daemon_conf=$work/bad.conf
daemon_start || fail "hsmkeyd starts (degraded) with a wrong PIN"
check "status says the backend is degraded, naming the PIN" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q '\"backend\":\"degraded\"' &&
	'$top/build/hsmkeyctl' --socket '$sock' --json status | grep -qi 'pin'"
check "a request that needs the HSM fails, saying the PIN was refused" expect_fail "HSM refused the PIN" ctl create k6 --type aes-128-gcm
daemon_stop
after=$(cd "$work/state" && find pkcs11 -type f ! -name .lock | sort | xargs sha256sum)
check "... and nothing in the state directory changed" test "$before" = "$after"
check "... nor in the token" test "$objs" = "$(softhsm_py hk <<<'print(len(s.findObjects([])))')"
daemon_start || fail "hsmkeyd starts (degraded) with a wrong PIN, again"
softhsm_pin_file "$work/badpin"
kill -HUP "$daemon_pid"
up=
for _ in $(seq 100); do
	ctl --json status 2>/dev/null | grep -q '"backend":"up"' && { up=1; break; }
	sleep 0.1
done
check "the PIN file fixed and SIGHUP: the daemon recovers without a restart" test -n "$up"
check "... and key requests work again" quiet ctl create k6 --type aes-128-gcm
daemon_stop

# the operator's recovery: an older copy taken as current, on purpose
daemon_conf=$work/p11.conf
rm -rf "$work/state"
cp -a "$work/old" "$work/state"
accept() {
	"$top/build/hsmkeyd" --config "$work/p11.conf" --state-dir "$work/state" \
		--socket "$work/x.sock" --accept-keystore 2>>"$work/hsmkeyd.log"
}
check "hsmkeyd --accept-keystore takes an older copy as current" accept
daemon_start || fail "hsmkeyd starts on the accepted copy"
check "... whose keys are those of the copy" bash -c "
	out=\$('$top/build/hsmkeyctl' --socket '$sock' list) && grep -q '^k2 ' <<< \"\$out\" &&
	! grep -q '^k5 ' <<< \"\$out\""
check "... and the acceptance is in the audit log" grep -q '"op":"keystore-accept"' "$work/state/audit.log"
daemon_stop

# pkcs11_helper = no (the tests' comparison with the helper): the module in
# hsmkeyd itself, which serves requests with no helper process
conf "$work/inproc.conf" "" "" "pkcs11_helper = no
"
daemon_conf=$work/inproc.conf
daemon_start || fail "hsmkeyd starts with pkcs11_helper = no"
check "pkcs11_helper = no: create" quiet ctl create k7 --type aes-128-gcm
check "... in the token" test "$(softhsm_count_label hk hsmkey:k7:v1)" = 1
check "... show" grep -q "aes-128-gcm" <(ctl show k7)
check "... and hsmkeyd has no child process at all" test "$(pgrep -c -P "$daemon_pid")" = 0
daemon_stop
tap_done
