#!/bin/bash
# backend = kmip on the host (no kernel module: what the key server and
# this host's records do), against PyKMIP's server, with PyKMIP's client
# as the reference: a key created or rotated through hsmkeyctl is an
# active 512-bit AES object named after it on the server, this host's key
# file names it and holds no material, a raw import registers the bytes
# given, a key the reference client made is adopted (kmip:UID), and bad
# adoptions are refused; revoke and destroy reach the server; with the
# server down, changes that need it fail with a clear message and change
# nothing, those that do not go on, and it all works again when the
# server is back on the same address; a hostile server on that address is
# refused call by call and changes no key.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/kmip.sh"
at_exit 'kmip_server_stop "$work/kmip"'

kmip_certs "$work/kmip" && kmip_server_start "$work/kmip" ||
	{ fail "a KMIP server (pykmip-server) on loopback"; tap_done; }
port=$KMIP_PORT
ref() { kmip_ref "$@"; }
kmip_conf "$work/kmip" "$work/hsmkeyd.conf" "kmip_timeout = 3s" "kmip_poll_interval = 1s" \
	"deletion_wait = 1s"
daemon_conf=$work/hsmkeyd.conf
daemon_start || { fail "hsmkeyd starts with backend = kmip"; tap_done; }
ok "hsmkeyd starts with backend = kmip"

section "keys made through hsmkeyctl are the server's"
check "create k1 (aes-256-xts)" quiet ctl create k1 --type aes-256-xts
uid1=$(ref locate k1)
check "the server holds one object named k1" test -n "$uid1" -a "$(wc -w <<< "$uid1")" = 1
check "... an active 512-bit AES symmetric key" \
	test "$(ref attrs "$uid1")" = "type=SYMMETRIC_KEY alg=AES bits=512 state=ACTIVE name=k1"
file=$work/state/kmip/keys/k1.json
check "this host's key file names it (ref) and seals no material: 32 bytes, the verifier" \
	/usr/bin/python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))["versions"]
sys.exit(not (len(v) == 1 and v[0]["ref"] == sys.argv[2] and len(v[0]["sealed"]) == 64))' "$file" "$uid1"
kek=$(grep -o "key-encryption key on the KMIP server as [^ ]*" "$work/hsmkeyd.log" | awk '{print $NF}')
check "this host registered its key-encryption key on the server, active, for wrapping" \
	test -n "$kek" -a "$(ref attrs "$kek" | cut -d' ' -f1-4)" = "type=SYMMETRIC_KEY alg=AES bits=256 state=ACTIVE"
check "rotate k1" quiet ctl rotate k1
uids=$(ref locate k1)
check "the server now holds two objects named k1, both active" \
	test "$(wc -w <<< "$uids")" = 2 -a "$(for u in $uids; do ref attrs "$u"; done | grep -c state=ACTIVE)" = 2
check "hsmkeyctl shows k1 at version 2" test "$(ctl --json show k1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" = 2
uid1b=$(for u in $uids; do [[ $u != "$uid1" ]] && echo "$u"; done)
check "the server's first k1 says it is version 1 (hsmkey-version, read by the reference client)" \
	test "$(ref version "$uid1")" = "version=1"
check "... the second that it is version 2, replacing the first" \
	test "$(ref version "$uid1b")" = "version=2 replaces=$uid1"
make_xts_key "$work/raw"
check "import a raw key (k2)" quiet ctl import k2 --type aes-256-xts --key-file "$work/raw"
uid2=$(ref locate k2)
check "the server's k2 holds the bytes imported (the reference client's Get)" \
	test "$(ref get "$uid2")" = "$(od -An -tx1 "$work/raw" | tr -d ' \n')"
check "... and says it is version 1" test "$(ref version "$uid2")" = "version=1"

section "adopting the server's keys"
make_xts_key "$work/theirs"
ruid=$(ref register theirs "$(od -An -tx1 "$work/theirs" | tr -d ' \n')")
check "adopt a key the reference client registered (kmip:$ruid)" \
	quiet ctl import k3 --type aes-256-xts --from "kmip:$ruid"
check "it is active on the server (activated on adoption)" \
	test "$(ref attrs "$ruid" | grep -o 'state=[A-Z_]*')" = state=ACTIVE
check "adopting the same object again, as another key: refused, nothing made" \
	expect_fail "a key of this key storage is it already" \
	ctl import k3b --type aes-256-xts --from "kmip:$ruid"
check "... the log names the key it is" \
	grep -qF "cannot adopt $ruid: it is key k3's version 1 already" "$work/hsmkeyd.log"
check "adopting an object hsmkeyctl made (k1's version 1) as another key: refused" \
	expect_fail "a key of this key storage is it already" \
	ctl import k3b --type aes-256-xts --from "kmip:${uids%% *}"
check "... the log says which version of which key the object says it is" \
	grep -qE "${uids%% *} says it is version [12] of hsmkey's key k1" "$work/hsmkeyd.log"
check "... and no k3b made" expect_fail "no key" ctl show k3b
check "adopting an object the server lacks: refused, nothing made" \
	expect_fail "the KMIP server holds no secret key kmip:99999 names" ctl import k4 --type aes-256-xts --from kmip:99999
short=$(ref register short-one "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')")
check "adopting a 256-bit key as aes-256-xts: refused" \
	expect_fail "not of type" ctl import k4 --type aes-256-xts --from "kmip:$short"
check "a malformed --from: refused" expect_fail "expected the form 'kmip:UID'" \
	ctl import k4 --type aes-256-xts --from "kmip:a b"
check "none of these made a key" expect_fail "no key" ctl show k4

section "revocation and destruction reach the server"
check "revoke k1" quiet ctl revoke k1
check "both of k1's objects are no longer active on the server" \
	test "$(for u in $uids; do ref attrs "$u"; done | grep -c state=ACTIVE)" = 0
check "schedule k2's deletion" quiet ctl schedule-deletion k2
for _ in $(seq 100); do ctl show k2 >/dev/null 2>&1 || break; sleep 0.1; done
check "once due, k2 is destroyed here" expect_fail "no key" ctl show k2
check "... and on the server (the reference client's Get: Item Not Found)" \
	grep -qx "refused: ITEM_NOT_FOUND" <<< "$(ref get "$uid2")"

section "what the server revokes or destroys is revoked here"
check "k3 is active here" test "$(state_of k3)" = active
ref revoke "$ruid"
t=$(wait_revoked k3)
check "the reference client revokes k3's object: k3 is revoked here within 10 s (poll 1 s; took ${t:-more} s)" test -n "$t"
check "the journal says what the server says" grep -q "key k3 version 1: compromised on the KMIP server: revoking the key here" "$work/hsmkeyd.log"
check "the audit log records it, with the reason" \
	grep -q '"op":"revoke","key":"k3".*revoked by the key storage: compromised on the KMIP server' "$work/state/audit.log"
check "the audit log still verifies" quiet ctl audit verify
check "a key revoked so cannot be enabled" expect_fail "revoked" ctl enable k3
check "create k6" quiet ctl create k6 --type aes-256-gcm
u6=$(ref locate k6)
ref revoke "$u6" && ref destroy "$u6"
t=$(wait_revoked k6)
check "the reference client destroys k6's object: k6 is revoked here (took ${t:-more} s)" test -n "$t"

section "the server down, then back"
check "create k7, k8 and xk8 (the server up)" quiet ctl create k7 --type aes-256-xts
quiet ctl create k8 --type aes-256-xts
quiet ctl create xk8 --type aes-256-xts
u8=$(ref locate k8)
ux8=$(ref locate xk8)
objects=$(ref count)
kmip_server_stop "$work/kmip"
check "create while the server is down: refused, saying so" \
	expect_fail "KMIP server is unreachable" ctl create k5 --type aes-256-xts
check "... and no key k5 here" expect_fail "no key" ctl show k5
check "rotate while the server is down: refused" expect_fail "unreachable" ctl rotate k7
check "k7 is still at version 1" \
	test "$(ctl --json show k7 | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" = 1
check "disable and enable need only this host: they work" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' disable k7 >/dev/null && '$top/build/hsmkeyctl' --socket '$sock' enable k7 >/dev/null"
check "k7 is not revoked for the server being away (offline_grace: until reboot)" \
	test "$(state_of k7)" = active
check "revoke xk8, then k8 (a name that ends the other's), while the server is down: done here at once" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' revoke xk8 >/dev/null && '$top/build/hsmkeyctl' --socket '$sock' revoke k8 >/dev/null"
check "... k8 is revoked here" test "$(state_of k8)" = revoked
check "... and the journal says the server is told when it answers" \
	grep -q "key k8 is revoked here; the KMIP server could not be told (Host is down) and is told when it answers" "$work/hsmkeyd.log"
check "status says the backend is down, and why" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' status | grep -q 'cannot connect'"
KMIP_PORT_WANTED=$port kmip_server_start "$work/kmip" || fail "the server comes back on port $port"
check "the server back: create works again" quiet ctl create k5 --type aes-256-gcm
check "... and the server got exactly one new object (k5)" \
	test "$(ref count)" = $((objects + 1)) -a -n "$(ref locate k5)"
check "status says the backend is up again" bash -c "'$top/build/hsmkeyctl' --socket '$sock' status | grep -q 'backend: *up'"
for _ in $(seq 50); do grep -q "key k8: its revocation has reached the KMIP server" "$work/hsmkeyd.log" && break; sleep 0.2; done
for _ in $(seq 50); do grep -q "key xk8: its revocation has reached the KMIP server" "$work/hsmkeyd.log" && break; sleep 0.2; done
check "k8's and xk8's revocations reached the server once it answered: their objects are no longer active" \
	test -n "$(ref attrs "$u8" | grep -v state=ACTIVE)" -a -n "$(ref attrs "$ux8" | grep -v state=ACTIVE)"
section "the attacker's side: a hostile server on the key server's address"
# What a server that is not the key server, or a compromised one, answers
# (tests/host/kmip/evil_server.py, with the server's certificate) reaches
# the daemon's parser on every call and every poll: refused with a message
# naming the server, within its deadline, the daemon living on, no key
# changed or revoked (offline_grace is "reboot" here).  MODE answers the
# connection's first request (DiscoverVersions); op-MODE answers that
# properly and the next one (the Create, a poll's GetAttributes) so.  The
# root record does change: it anchors the audit log, which records each
# refusal.
kmip_server_stop "$work/kmip"
at_exit '[[ -z ${evil_pid:-} ]] || kill "$evil_pid" 2>/dev/null'
evil_on() {
	: > "$work/evil.out"
	/usr/bin/python3 "$top/tests/host/kmip/evil_server.py" "$work/kmip" "$port" "$1" \
		> "$work/evil.out" 2>&1 &
	evil_pid=$!
	for _ in $(seq 300); do grep -q ready "$work/evil.out" && return 0; sleep 0.1; done
	return 1
}
keys_sum() { (cd "$work/state/kmip" && find keys tombs -type f -print0 | sort -z | xargs -0 md5sum); }
keys_sum > "$work/sum.before"
active_before=$(state_of k7)
log_before=$(wc -l < "$work/hsmkeyd.log")
declare -A says=([huge]="larger than any hsmkey takes" [garbage]="not a KMIP response"
	[request]="not a KMIP response" [malformed]="malformed" [short]="no answer within 3000 ms"
	[silent]="no answer within 3000 ms")
for mode in huge garbage malformed request short silent op-huge op-garbage op-malformed op-request; do
	evil_on "$mode" || { fail "$mode: the hostile server listens on port $port"
		kill "$evil_pid"; wait "$evil_pid" 2>/dev/null; evil_pid=; continue; }
	t0=$SECONDS
	out=$(ctl create "kh-$mode" --type aes-256-gcm 2>&1) && rc=0 || rc=$?
	diag "$mode: exit $rc after $((SECONDS - t0)) s: $(head -n 1 <<< "$out")"
	want=${says[${mode#op-}]}
	if [[ $mode == op-* ]]; then
		# The Create went out: it may have been carried out, and is never sent again.
		check "$mode: create is refused: it may have been carried out on the server" \
			bash -c '[[ $1 != 0 && $2 == *"may have been carried out"* ]]' _ "$rc" "$out"
		check "$mode: the journal names the server (localhost:$port) and what came back: '$want'" \
			grep -q "key kh-$mode: KMIP server localhost:$port: .*$want" "$work/hsmkeyd.log"
	else
		check "$mode: create is refused, naming the server (localhost:$port): '$want'" \
			bash -c '[[ $1 != 0 && $2 == *"KMIP server localhost:$3"* && $2 == *"$4"* ]]' _ \
			"$rc" "$out" "$port" "$want"
	fi
	check "$mode: within two kmip_timeout (3 s) and a margin" test $((SECONDS - t0)) -le 10
	sleep 1.5	# a poll (every second, jittered 20 %) against it as well
	check "$mode: the daemon lives on and answers" quiet ctl status
	# op-MODE: only a poll's GetAttributes can have set the reason (an
	# unreadable answer to the Create leaves the server's health as it was).
	[[ $mode != op-* ]] ||
		check "$mode: a poll met it: status gives the server's words" \
			bash -c '"$1" --socket "$2" status | grep -q "localhost:$3: .*$4"' _ \
			"$top/build/hsmkeyctl" "$sock" "$port" "$want"
	kill "$evil_pid"; wait "$evil_pid" 2>/dev/null; evil_pid=
done
keys_sum > "$work/sum.after"
check "no hostile answer was taken for the server answering again" \
	bash -c "! tail -n +$((log_before + 1)) '$work/hsmkeyd.log' | grep -q 'the KMIP server answers again'"
check "every key's file is as it was" cmp -s "$work/sum.before" "$work/sum.after"
check "k7 is still $active_before" test "$(state_of k7)" = "$active_before" -a "$active_before" = active
check "no kh-* key was made" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' list | grep -q kh-"
check "every refusal is in the audit log" \
	test "$(grep -c '"op":"create","key":"kh-[a-z-]*","result":"error"' "$work/state/audit.log")" = 10
KMIP_PORT_WANTED=$port kmip_server_start "$work/kmip" || fail "the server comes back on port $port"
check "the server back: create works again" quiet ctl create k9 --type aes-256-gcm

section "offline_grace: the server away too long revokes here"
daemon_stop
sed -i 's/^deletion_wait = 1s$/offline_grace = 3s/' "$work/hsmkeyd.conf"
daemon_start || fail "hsmkeyd starts again with offline_grace = 3s"
check "k5 and k7 are active" test "$(state_of k5) $(state_of k7)" = "active active"
kmip_server_stop "$work/kmip"
sleep 2
check "2 s after the server went: still active" test "$(state_of k7)" = active
t=$(wait_revoked k7)
check "then revoked here, within 10 s more (took ${t:-more} s)" test -n "$t" -a "$(state_of k5)" = revoked
check "the audit log says why" grep -q '"key":"k7".*unreachable for longer than offline_grace' "$work/state/audit.log"

check "no key material in the daemon's log" bash -c "! grep -qi '$(od -An -tx1 "$work/raw" | tr -d ' \n' | cut -c1-32)' '$work/hsmkeyd.log'"
tap_done
