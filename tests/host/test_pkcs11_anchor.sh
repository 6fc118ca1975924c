#!/bin/bash
# backend = pkcs11: a change whose record file is written but whose anchor
# the token does not take must never leave a record naming a key object
# that was destroyed.  The daemon built with crash points
# (build/tests/hsmkeyd-crash, $HSMKEY_CRASH_STOP) stops right after the
# record's rename; meanwhile the token is made to refuse the anchor (a
# stray newer anchor, as another writer would leave) or its helper is
# stopped (the call's deadline); then it goes on.  Once the token is right
# again, every key the daemon shows has its objects in the token, looked
# at with PyKCS11.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"
crashd=$top/build/tests/hsmkeyd-crash

softhsm_daemon "pkcs11_timeout = 2"

stray() {
	softhsm_py hk <<'EOPY'
s.createObject([(P.CKA_CLASS, P.CKO_DATA), (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True),
	(P.CKA_APPLICATION, "hsmkey anchor"), (P.CKA_LABEL, "hsmkey:anchor:999999"),
	(P.CKA_VALUE, b"x" * 40)])
EOPY
}
unstray() {
	softhsm_py hk <<'EOPY'
for o in s.findObjects([(P.CKA_LABEL, "hsmkey:anchor:999999")]):
	s.destroyObject(o)
EOPY
}
objects() { softhsm_count_label hk "$1"; }
stopped() { [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == T ]]; }
helper() { pgrep -P "$daemon_pid" | head -1; }
current() {
	ctl --json show "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'
}

# faulted FAULT CTL-ARGS...: run the request on a daemon that stops after
# the key's record is renamed in place; make FAULT (stray: the token
# refuses the anchor; deadline: the helper stops answering); go on.
faulted() {
	local fault=$1 i hp req; shift
	daemon_bin=$crashd daemon_wrap="env HSMKEY_CRASH_POINT=p11-key-written HSMKEY_CRASH_STOP=1" \
		daemon_start || return 1
	ctl "$@" > "$work/out" 2>&1 &
	req=$!
	for ((i = 0; i < 100; i++)); do stopped "$daemon_pid" && break; sleep 0.1; done
	stopped "$daemon_pid" || { echo "# the daemon did not stop at p11-key-written"; return 1; }
	hp=$(helper)
	case $fault in
	stray) stray ;;
	deadline) kill -STOP "$hp" ;;
	esac
	kill -CONT "$daemon_pid"
	wait $req
	echo "# $fault: $(cat "$work/out")"
	[[ $fault == deadline ]] && kill -CONT "$hp" 2>/dev/null
	[[ $fault == stray ]] && unstray
	daemon_stop
	daemon_start
}

daemon_start || { fail "hsmkeyd starts"; tap_done; }
ctl create base --type aes-256-xts >/dev/null
check "a key is created" test "$(objects hsmkey:base:v1)" = 1
daemon_stop

# every key's record: its versions have their objects
whole() {
	local v cur=$(current "$1")
	for ((v = 1; v <= cur; v++)); do
		[[ $(objects "hsmkey:$1:v$v") == 1 ]] || { echo "# $1 v$v: no object"; return 1; }
	done
}

for fault in stray deadline; do
	faulted $fault create "fresh-$fault" --type aes-128-gcm ||
		fail "$fault: the daemon runs the create"
	if [[ -e $work/state/pkcs11/fresh-$fault.key ]]; then
		check "$fault during a create: the key's record stands and the key is there" \
			test "$(state_of "fresh-$fault")" = active
		check "... and so is its object in the token" whole "fresh-$fault"
	else
		fail "$fault during a create: the record must stand (a load finishes a file one change ahead of its anchor)"
	fi
	before=$(current base)
	daemon_stop
	faulted $fault rotate base || fail "$fault: the daemon runs the rotation"
	check "$fault during a rotation: every version of the key has its object (now $(current base), was $before)" \
		whole base
	daemon_stop
done
check "the log says the anchor was not confirmed" grep -q "did not confirm its anchor" "$work/hsmkeyd.log"
daemon_stop

# State changes whose anchor the token does not confirm: the reply says
# so (not "Operation now in progress"), a change that takes the key away
# reaches the kernel at once, one that gives it back waits (what the
# kernel did is seen in the guest, t_pkcs11.sh); the change stands once
# the token is right again.
daemon_start || fail "hsmkeyd starts again"
for k in s-rev s-dis s-del s-en s-can s-pol; do ctl create $k --type aes-256-xts >/dev/null; done
ctl disable s-en >/dev/null
ctl schedule-deletion s-can >/dev/null
daemon_stop
# unconfirmed FAULT KEY STATE TEXT CTL-ARGS...: the request fails saying
# the change is written, unconfirmed, and TEXT; KEY is in STATE after.
unconfirmed() {
	local fault=$1 key=$2 state=$3 text=$4; shift 4
	faulted $fault "$@" || { fail "$fault: the daemon runs $1 $key"; return; }
	check "$fault during $1: the reply says the change is unconfirmed" \
		grep -q "is written but the HSM did not confirm it" "$work/out"
	check "... and $text" grep -q -- "$text" "$work/out"
	check "... and the change stands once the token is right again" \
		test "$(state_of "$key")" = "$state"
	daemon_stop
}
unconfirmed stray s-rev revoked "no kernel copy to revoke" revoke s-rev
unconfirmed deadline s-dis disabled "hsmkey.ko is not loaded (it gets the key in this state" disable s-dis
unconfirmed stray s-del pending-deletion "hsmkey.ko is not loaded (it gets the key in this state" \
	schedule-deletion s-del
unconfirmed deadline s-en active "the kernel does not get it back until" enable s-en
unconfirmed stray s-can active "the kernel does not get it back until" cancel-deletion s-can
unconfirmed deadline s-pol active "the kernel keeps the policy it had until" \
	policy s-pol --max-bindings 3
daemon_start
check "... the policy stands too" \
	sh -c "'$top/build/hsmkeyctl' --socket '$sock' --json show s-pol | grep -q '\"max_bindings\": *3'"
daemon_stop
tap_done
