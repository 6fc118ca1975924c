#!/bin/bash
# backend = pkcs11: an adoption (hsmkeyctl import --from) cut short between
# the object's relabelling and its record must not leave the operator's key
# unreachable: the object no longer answers to the operator's label, and
# no record names it.  The daemon built with crash points dies (or stops)
# right after the relabelling (p11-adopted); the next start finishes the
# adoption, and so does the same import again in a daemon that goes on.
# The key hsmkey then holds is the operator's: the reference client
# (PyKCS11) wraps the adopted object under a key of its own and OpenSSL
# unwraps it to the value the vendor's key was made with.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"
crashd=$top/build/tests/hsmkeyd-crash

softhsm_daemon "pkcs11_timeout = 2"
p11ref() { /usr/bin/python3 "$top/tests/lib/p11ref.py" "$@" --token hk --pin-file "$work/pin"; }
objects() { softhsm_count_label hk "$1"; }
stopped() { [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == T ]]; }
# holds NAME HEX: key NAME's object in the token has the value HEX.
holds() {
	local got
	got=$(p11ref wrap-under --label "hsmkey:$1:v1" --kek-label ref-kek --unwrap |
		sed -n 's/^key //p')
	[[ $got == "$2" ]] || { echo "# $1: the token's object holds ${got:-nothing}"; return 1; }
}
vendor_a=$(head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
vendor_b=$(head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
softhsm_secret hk vendor-a generic "$vendor_a" 1 0
softhsm_secret hk vendor-b generic "$vendor_b" 1 0

# 1. The daemon dies right after relabelling.
daemon_bin=$crashd daemon_wrap="env HSMKEY_CRASH_POINT=p11-adopted" daemon_start ||
	{ fail "the crash build starts"; tap_done; }
ctl import ka --type aes-256-xts --from 'pkcs11:object=vendor-a' > "$work/out" 2>&1
wait "$daemon_pid"
check "the daemon dies right after relabelling the object (exit 86)" test $? = 86
daemon_pid=
rm -f "$sock"	# left by the dead daemon: daemon_start would take it for a live one
check "... which no longer answers to the operator's label" test "$(objects vendor-a)" = 0
check "... but to hsmkey's" test "$(objects hsmkey:ka:v1)" = 1
daemon_start || { fail "hsmkeyd starts again"; tap_done; }
check "the next start finishes the adoption: the key is there" test "$(state_of ka)" = active
check "... the log says so" grep -q "finished the adoption of 'vendor-a' as key ka" \
	"$work/hsmkeyd.log"
check "... one object of it in the token" test "$(objects hsmkey:ka:v1)" = 1
check "... holding the vendor's value (reference client, OpenSSL)" holds ka "$vendor_a"
id=$(ctl --json show ka | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
check "... and no key object is left without a record (status counts none)" \
	test "$(ctl --json status | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get("backend_reason"))')" = "token hk"
check "... under the id the record names ($id)" \
	bash -c "[[ -n '$id' ]] && /usr/bin/python3 '$top/tests/lib/p11ref.py' find --id-prefix '$id' --token hk --pin-file '$work/pin' > /dev/null"
check "the same import again: the key exists already" \
	expect_fail "exists already" ctl import ka --type aes-256-xts --from 'pkcs11:object=vendor-a'
daemon_stop

# 2. A daemon that goes on: the record cannot be written (a directory is
# where its file goes); the same import again finishes it once it can be.
daemon_bin=$crashd daemon_wrap="env HSMKEY_CRASH_POINT=p11-adopted HSMKEY_CRASH_STOP=1" \
	daemon_start || { fail "the crash build starts"; tap_done; }
ctl import kb --type aes-256-xts --from 'pkcs11:object=vendor-b' > "$work/out" 2>&1 &
req=$!
for ((i = 0; i < 100; i++)); do stopped "$daemon_pid" && break; sleep 0.1; done
if stopped "$daemon_pid"; then
	mkdir "$work/state/pkcs11/kb.key"
	kill -CONT "$daemon_pid"
	wait $req
	rmdir "$work/state/pkcs11/kb.key"
	echo "# $(cat "$work/out")"
	check "the adoption fails: its record is not written" \
		bash -c "! '$top/build/hsmkeyctl' --socket '$sock' show kb > /dev/null 2>&1"
	check "... the log says the same import finishes it" \
		grep -q "the adoption of 'vendor-b' is cut short" "$work/hsmkeyd.log"
	check "the same import again succeeds" \
		quiet ctl import kb --type aes-256-xts --from 'pkcs11:object=vendor-b'
	check "... the key is active" test "$(state_of kb)" = active
	check "... one object of it in the token" test "$(objects hsmkey:kb:v1)" = 1
	check "... holding the vendor's value" holds kb "$vendor_b"
else
	fail "the daemon stops at p11-adopted"
fi
daemon_stop
daemon_start
check "after a restart both keys are there, no adoption pending" \
	test "$(state_of ka) $(state_of kb)" = "active active"
check "... and the log names no other adoption cut short" \
	test "$(grep -c "is cut short" "$work/hsmkeyd.log")" = 1
daemon_stop
tap_done
