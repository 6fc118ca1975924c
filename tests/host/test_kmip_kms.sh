#!/bin/bash
# The local KMS API on backend = kmip (PyKMIP's server on loopback): KMS
# keys (kms-aes-128, kms-aes-256) and MAC keys (hmac-sha256) are the key
# server's objects, and hsmkeyd fetches a version's material for each call.
# Checked from the server's side with PyKMIP's own client: the objects are
# AES and HMAC-SHA256 keys named after the keys; the bytes the reference
# client fetches open hsmkeyd's blobs (tests/lib/kms_blob.py) and give
# hsmkeyd's MACs (OpenSSL's HMAC), and blobs the reference made with them
# open in hsmkeyd; keys the reference client registered are adopted, and
# keys of the wrong kind are not; rotation; a revocation on the server
# stops the key here; the server away fails calls with a clear message and
# they work again when it is back; destruction reaches the server; and
# hsmkeyd holds none of the keys' bytes between calls.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/kmip.sh"
at_exit 'kmip_server_stop "$work/kmip"'

blob=$top/tests/lib/kms_blob.py
memscan=$top/build/tests/memscan
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }
# hmac_of KEY-FILE MESSAGE-FILE: OpenSSL's HMAC-SHA256, hex.
hmac_of() { openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(hexof "$1")" -r "$2" | cut -d' ' -f1; }
# mac_is KEY MESSAGE-FILE KEY-FILE: hsmkeyd's MAC with KEY is OpenSSL's under KEY-FILE.
mac_is() { ctl mac "$1" < "$2" > "$work/got" && test "$(hexof "$work/got")" = "$(hmac_of "$3" "$2")"; }
id_of() { ctl --json show "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
# opens KEY-FILE BLOB: the blob reference opens BLOB with the key's bytes and the context to $work/pt.
opens() { /usr/bin/python3 "$blob" open "$1" "$2" "${refctx[@]}" | cmp -s - "$work/pt"; }
decrypts() { ctl decrypt "${ctx[@]}" < "$1" | cmp -s - "$work/pt"; }
opens_not() { ! opens "$@" 2>/dev/null; }

kmip_certs "$work/kmip" && kmip_server_start "$work/kmip" ||
	{ fail "a KMIP server (pykmip-server) on loopback"; tap_done; }
port=$KMIP_PORT
kmip_conf "$work/kmip" "$work/hsmkeyd.conf" "kmip_timeout = 3s" "kmip_poll_interval = 1s" \
	"deletion_wait = 1s"
daemon_conf=$work/hsmkeyd.conf
daemon_start || { fail "hsmkeyd starts with backend = kmip"; tap_done; }
ok "hsmkeyd starts with backend = kmip"
ctx=(--context purpose=backup --context host=db-1)
refctx=(purpose=backup host=db-1)
head -c 3000 /dev/urandom > "$work/pt"

section "KMS keys are the server's AES keys"
check "create km (kms-aes-256)" quiet ctl create km --type kms-aes-256
ukm=$(kmip_ref locate km)
check "the server holds one object named km: an active 256-bit AES key" \
	test "$(kmip_ref attrs "$ukm")" = "type=SYMMETRIC_KEY alg=AES bits=256 state=ACTIVE name=km"
check "grant encrypt and decrypt to root" quiet ctl policy km --grant encrypt,decrypt:root
ctl encrypt km "${ctx[@]}" < "$work/pt" > "$work/b1"
kmip_ref_bytes "$ukm" "$work/km1"
check "the reference opens km's blob with the bytes the reference client fetched, and the context" \
	opens "$work/km1" "$work/b1"
check "hsmkeyd decrypts it" decrypts "$work/b1"
/usr/bin/python3 "$blob" seal "$work/km1" "$(id_of km)" 1 "$work/pt" "${refctx[@]}" > "$work/r1"
check "a blob the reference sealed with those bytes decrypts in hsmkeyd" decrypts "$work/r1"
head -c 16 /dev/urandom > "$work/raw128"
check "import a raw kms-aes-128 key (ki)" quiet ctl import ki --type kms-aes-128 --key-file "$work/raw128"
uki=$(kmip_ref locate ki)
check "the server's ki is an active 128-bit AES key" \
	test "$(kmip_ref attrs "$uki")" = "type=SYMMETRIC_KEY alg=AES bits=128 state=ACTIVE name=ki"
check "... holding the bytes imported (the reference client's Get)" \
	test "$(kmip_ref get "$uki")" = "$(hexof "$work/raw128")"
quiet ctl policy ki --grant encrypt,decrypt:root
ctl encrypt ki "${ctx[@]}" < "$work/pt" > "$work/bi"
check "ki's blob opens with the raw key imported" opens "$work/raw128" "$work/bi"
uref=$(kmip_ref create theirs)
check "adopt an AES key the reference client made (ka, kmip:$uref)" \
	quiet ctl import ka --type kms-aes-256 --from "kmip:$uref"
quiet ctl policy ka --grant encrypt,decrypt:root
ctl encrypt ka "${ctx[@]}" < "$work/pt" > "$work/ba"
kmip_ref_bytes "$uref" "$work/ka"
check "ka's blob opens with the bytes the reference client made (nobody else saw them)" \
	opens "$work/ka" "$work/ba"
check "adopting that 256-bit AES key as kms-aes-128: refused" expect_fail "not of type" \
	ctl import kb --type kms-aes-128 --from "kmip:$uref"
check "... and nothing named kb made" expect_fail "no key" ctl show kb
kek=$(grep -o "key-encryption key on the KMIP server as [^ ]*" "$work/hsmkeyd.log" | awk '{print $NF}')
check "adopting this host's own key-encryption key ($kek) as kms-aes-256: refused" \
	expect_fail "one of hsmkeyd's own objects" ctl import kk --type kms-aes-256 --from "kmip:$kek"
check "... and nothing named kk made" expect_fail "no key" ctl show kk
check "rotate km" quiet ctl rotate km
ctl encrypt km "${ctx[@]}" < "$work/pt" > "$work/b2"
read -r _ _ ver _ < <(/usr/bin/python3 "$blob" head "$work/b2")
check "a new blob names version 2" test "$ver" = 2
ukm2=$(kmip_ref locate km | tr ' ' '\n' | grep -vx "$ukm")
kmip_ref_bytes "$ukm2" "$work/km2"
check "... and opens with version 2's object's bytes" opens "$work/km2" "$work/b2"
check "... not with version 1's" opens_not "$work/km1" "$work/b2"
check "version 1's blob still decrypts" decrypts "$work/b1"

section "MAC keys are the server's HMAC-SHA256 keys"
printf 'a message to authenticate\n' > "$work/msg"
check "create mk (hmac-sha256)" quiet ctl create mk --type hmac-sha256
umk=$(kmip_ref locate mk)
check "the server holds one object named mk: an active 256-bit HMAC-SHA256 key" \
	test "$(kmip_ref attrs "$umk")" = "type=SYMMETRIC_KEY alg=HMAC_SHA256 bits=256 state=ACTIVE name=mk"
quiet ctl policy mk --grant mac:root
kmip_ref_bytes "$umk" "$work/mk1"
check "mk's MAC is OpenSSL's HMAC-SHA256 under the bytes the reference client fetched" \
	mac_is mk "$work/msg" "$work/mk1"
ctl mac mk < "$work/msg" > "$work/mac1"
check "verify-mac takes it" bash -c "'$top/build/hsmkeyctl' --socket '$sock' verify-mac mk '$work/mac1' < '$work/msg' | grep -qx 'Verified OK'"
printf 'another message\n' > "$work/msg2"
check "... and not for another message" expect_fail "the MAC does not match" \
	ctl verify-mac mk "$work/mac1" < "$work/msg2"
check "rotate mk" quiet ctl rotate mk
umk2=$(kmip_ref locate mk | tr ' ' '\n' | grep -vx "$umk")
kmip_ref_bytes "$umk2" "$work/mk2"
check "mk's MAC is now under version 2's object's bytes" mac_is mk "$work/msg" "$work/mk2"
check "two versions, two different keys" bash -c "! cmp -s '$work/mk1' '$work/mk2'"
head -c 32 /dev/urandom > "$work/macraw"
umr=$(kmip_ref register-mac their-mac "$(hexof "$work/macraw")")
check "adopt an HMAC-SHA256 key the reference client registered (ma, kmip:$umr)" \
	quiet ctl import ma --type hmac-sha256 --from "kmip:$umr"
quiet ctl policy ma --grant mac:root
check "ma's MAC is OpenSSL's under the bytes registered" mac_is ma "$work/msg" "$work/macraw"
check "adopting an AES key as hmac-sha256: refused" expect_fail "not of type" \
	ctl import mb --type hmac-sha256 --from "kmip:$uref"
check "adopting an HMAC key as kms-aes-256: refused" expect_fail "not of type" \
	ctl import mb --type kms-aes-256 --from "kmip:$umr"
check "none of these made a key" expect_fail "no key" ctl show mb

section "hsmkeyd holds no key's bytes between calls"
check "a process known to hold mk's version 2 (positive control): found" scan_control "$work/mk2"
for k in km1 km2 ka raw128 mk1 mk2 macraw; do
	check "hsmkeyd's memory holds no 16-byte window of $k" \
		quiet "$memscan" "$daemon_pid" "$(hexof "$work/$k")" --expect-none
done

section "the server is authoritative"
kmip_ref revoke "$umk2"
t=$(wait_revoked mk)
check "the reference client revokes mk's version 2: mk is revoked here within 10 s (took ${t:-more} s)" \
	test -n "$t"
check "... and makes no MAC" expect_fail "revoked" ctl mac mk < "$work/msg"
kmip_server_stop "$work/kmip"
check "the server away: an encryption fails, saying the server cannot be reached" \
	expect_fail "cannot be reached\|unreachable" ctl encrypt ka "${ctx[@]}" < "$work/pt"
check "... and a decryption too" expect_fail "cannot be reached\|unreachable" \
	ctl decrypt "${ctx[@]}" < "$work/ba"
KMIP_PORT_WANTED=$port kmip_server_start "$work/kmip" || fail "the server comes back on port $port"
check "the server back: ka's blob decrypts again" decrypts "$work/ba"
check "schedule ki's deletion" quiet ctl schedule-deletion ki
for _ in $(seq 100); do ctl show ki >/dev/null 2>&1 || break; sleep 0.1; done
check "once due, ki is destroyed here" expect_fail "no key" ctl show ki
check "... and on the server (the reference client's Get: Item Not Found)" \
	grep -qx "refused: ITEM_NOT_FOUND" <<< "$(kmip_ref get "$uki")"
check "its blobs no longer decrypt" expect_fail "no key named 'ki'" ctl decrypt "${ctx[@]}" < "$work/bi"
tap_done
