#!/bin/bash
# backend = pkcs11: key objects in the token that no record names
# (orphans: a create whose record was refused, a crash between the object
# and its record, keys an older state directory lacks) are listed after
# the store verifies -- in the log, with their CKA_ID, and counted in
# hsmkeyctl status -- and left in place (they may be the only copy of a
# key).  Planted with PyKCS11 in hsmkey's label and id scheme; objects
# that are not key versions of ours (another application's key, hsmkey's
# own objects, a key's versions, a pending adoption) are not counted.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"

softhsm_daemon
status() {
	ctl --json status | /usr/bin/python3 -c "import json, sys; o = json.load(sys.stdin); print($1)"
}
# plant LABEL IDHEX: a secret key as hsmkey makes its versions.
plant() {
	softhsm_py hk <<EOPY
s.createObject([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
	(P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_SENSITIVE, True),
	(P.CKA_EXTRACTABLE, True), (P.CKA_LABEL, "$1"), (P.CKA_VALUE, bytes(32)),
	(P.CKA_ID, bytes.fromhex("$2"))])
EOPY
}

daemon_start || { fail "hsmkeyd starts"; tap_done; }
ctl create k1 --type aes-256-xts > /dev/null
ctl rotate k1 > /dev/null
ctl create k2 --type aes-128-gcm > /dev/null
check "a store with keys and versions: no orphan counted" \
	test "$(status 'o.get("backend_reason")')" = "token hk"
daemon_stop

ghost=$(head -c 16 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
plant "hsmkey:ghost:v1" "${ghost}00000001"
plant "hsmkey:ghost:v2" "${ghost}00000002"
# Not ours: another application's key, a label like ours with a plain id.
softhsm_secret hk vendor-key aes "$(head -c 16 /dev/urandom | od -An -tx1 -v | tr -d ' \n')"
plant "hsmkey:odd" "0102"
daemon_start || { fail "hsmkeyd starts with orphans in the token"; tap_done; }
check "status counts the two orphan objects" \
	grep -q "token hk; 2 key object(s) in it belong to no key" <(status 'o.get("backend_reason")')
check "the backend is still up (an orphan is no fault of the store)" \
	test "$(status 'o["backend"]')" = up
check "the log lists each with its CKA_ID" \
	test "$(grep -c "CKA_ID ${ghost}0000000[12]) belongs to no key" "$work/hsmkeyd.log")" = 2
check "... and says what to do" grep -q "destroy them with the HSM's tools" "$work/hsmkeyd.log"
check "they are left in place" test "$(softhsm_count_id hk "${ghost}00000001")" = 1
check "... and so is everything else" \
	test "$(softhsm_count_label hk vendor-key) $(softhsm_count_label hk hsmkey:k1:v2)" = "1 1"
check "the keys work as before" quiet ctl rotate k2
daemon_stop
daemon_start || fail "hsmkeyd starts again"
check "a restart counts them the same (2 in status)" \
	grep -q "; 2 key object(s)" <(status 'o.get("backend_reason")')
softhsm_py hk <<EOPY
for o in s.findObjects([(P.CKA_ID, bytes.fromhex("${ghost}00000001"))]) + \
	 s.findObjects([(P.CKA_ID, bytes.fromhex("${ghost}00000002"))]):
	s.destroyObject(o)
EOPY
daemon_stop
daemon_start
check "the operator destroys them with the HSM's tools: none counted" \
	test "$(status 'o.get("backend_reason")')" = "token hk"
daemon_stop
tap_done
