#!/bin/bash
# Several tokens as one key store (issue 12): two SoftHSM tokens, each
# behind a p11-kit server of its own and reached through p11-kit's client
# module, as two network HSMs deployed as a pair.  The second joins the
# key store of the first (its secrets copied, wrapped, token to token);
# every key version is in both; when the token in use hangs or dies in the
# middle of an operation the daemon fails over to the other and says so;
# the one that was away is brought up to date when it comes back (what it
# missed copied, what was destroyed meanwhile destroyed in it too); one
# that missed changes never takes over, and one that belongs to another
# key store is not used.  The reference client (PyKCS11 on libsofthsm2.so
# directly) checks what each token holds, and that both hold the same key.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"

softhsm_setup "$work/hsm"
softhsm_token pa
softhsm_token pb
softhsm_token pc
softhsm_pin_file "$work/pin"
mkdir -m 0700 "$work/run"
declare -A pgid
serve() {
	p11kit_server_start "$work/run/$1.sock" "$1" && pgid[$1]=$P11KIT_PGID
}
halt() {
	P11KIT_PGID=${pgid[$1]} p11kit_server_stop "${2:-KILL}"
	[[ ${2:-KILL} == KILL ]] && pgid[$1]=
	return 0
}
stop_all() { for t in "${!pgid[@]}"; do [[ -n ${pgid[$t]} ]] && halt "$t"; done; }
at_exit stop_all
uri() { echo "pkcs11:token=$1?module-path=$P11KIT_CLIENT&x-p11kit-server=unix:path%3D$work/run/$1.sock"; }
conf() {
	local f=$1
	shift
	{
		printf '%s\n' "backend = pkcs11" "pin_file = $work/pin" "pkcs11_timeout = 2s" \
			"deletion_wait = 1s"
		for t; do echo "pkcs11_token = $(uri "$t")"; done
	} > "$f"
}
jstatus() { ctl --json status 2>/dev/null; }
jfield() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', ''))"; }
reason() { jstatus | jfield backend_reason; }
wait_up() { wait_backend_up "$@"; }
key_id() { ctl --json show "$1" | jfield id; }
# count TOKEN NAME VERSION: objects labelled hsmkey:NAME:vVERSION with the key's CKA_ID
count() {
	softhsm_count_id "$1" "$(key_id "$2")$(printf %08x "$3")"
}
value() { softhsm_value "$@"; }
same_key() {
	local a b
	a=$(value pa "$1") b=$(value pb "$1")
	[[ $a != none && ${#a} -ge 32 && $a == "$b" ]]
}
data_value() {
	softhsm_py "$1" <<EOF
o = s.findObjects([(P.CKA_LABEL, "$2"), (P.CKA_CLASS, P.CKO_DATA)])
print(bytes(s.getAttributeValue(o[0], [P.CKA_VALUE])[0]).hex() if len(o) == 1 else "none")
EOF
}
# The MAC the token's hsmkey:record gives over a fixed message (both the same key?)
mac() {
	softhsm_py "$1" <<EOF
o = s.findObjects([(P.CKA_LABEL, "$2"), (P.CKA_CLASS, P.CKO_SECRET_KEY)])
print(bytes(s.sign(o[0], b"hsmkey pair test", P.Mechanism(P.CKM_SHA256_HMAC))).hex() if len(o) == 1 else "none")
EOF
}
flags() {
	softhsm_py "$1" <<EOF
o = s.findObjects([(P.CKA_LABEL, "$2"), (P.CKA_CLASS, P.CKO_SECRET_KEY)])
print(s.getAttributeValue(o[0], [P.CKA_SENSITIVE, P.CKA_EXTRACTABLE]) if len(o) == 1 else "none")
EOF
}
log_has() { grep -q -- "$1" "$work/hsmkeyd.log"; }
wait_log() {
	local _
	for _ in $(seq "${2:-100}"); do log_has "$1" && return 0; sleep 0.1; done
	return 1
}
# until_reason SECONDS PATTERN: operations of the store (a member that is
# back is brought up to date at the next one) until the status matches.
until_reason() {
	local end=$(($(date +%s) + $1))
	while (($(date +%s) < end)); do
		ctl list >/dev/null 2>&1
		grep -q -- "$2" <<< "$(reason)" && return 0
		sleep 0.2
	done
	return 1
}

serve pa
serve pb
conf "$work/pair.conf" pa pb
daemon_conf=$work/pair.conf
daemon_start || { fail "hsmkeyd starts on two tokens behind p11-kit servers"; tap_done; }
check "status is up" wait_up 10

# 1. The second token joins: the store's secrets copied into it, wrapped.
check "the log says token 'pb' joined the key store of token 'pa'" \
	wait_log "token 'pb' joins the key store of token 'pa'"
check "... and is in step" wait_log "token 'pb' is in step with the key store again"
r=$(reason)
diag "backend_reason: $r"
check "status names both: pa in use, pb in step" \
	grep -q "tokens: token 'pa' (in use), token 'pb' (in step)" <<< "$r"
check "pb holds pa's hsmkey:instance" \
	test "$(data_value pb hsmkey:instance)" = "$(data_value pa hsmkey:instance)"
check "pb's hsmkey:record is pa's (the same HMAC of a fixed message)" \
	bash -c "a=\$1 b=\$2; [[ \$a != none && \$a == \$b ]]" _ "$(mac pa hsmkey:record)" "$(mac pb hsmkey:record)"
check "pb's hsmkey:root is pa's" \
	bash -c "a=\$1 b=\$2; [[ \$a != none && \$a == \$b ]]" _ "$(mac pa hsmkey:root)" "$(mac pb hsmkey:root)"
check "... and root and record are different keys (the comparison can fail)" \
	bash -c "[[ \$1 != \$2 ]]" _ "$(mac pa hsmkey:root)" "$(mac pa hsmkey:record)"
check "pb's copies are sensitive (extractable only to be wrapped to a peer)" \
	test "$(flags pb hsmkey:root)" = "[True, True]"

# 2. Every version is made in both.
check "create k1 (aes-256-xts)" quiet ctl create k1 --type aes-256-xts
check "create k2 (aes-128-gcm)" quiet ctl create k2 --type aes-128-gcm
check "rotate k1" quiet ctl rotate k1
for kv in "k1 1" "k1 2" "k2 1"; do
	set -- $kv
	check "$1 v$2 is in pa" test "$(count pa $1 $2)" = 1
	check "... and in pb" test "$(count pb $1 $2)" = 1
	check "... the same key in both (wrapped out by the reference client)" same_key "hsmkey:$1:v$2"
done
check "k1 v1 and k1 v2 are different keys (the comparison can fail)" \
	bash -c "[[ \$1 != \$2 ]]" _ "$(value pa hsmkey:k1:v1)" "$(value pa hsmkey:k1:v2)"

# 3. The token in use hangs in the middle of an operation: after the
# deadline the other takes over and the operation completes there.
halt pa STOP
t0=$(date +%s.%N)
check "with pa hung, create k3 succeeds" quiet ctl create k3 --type aes-256-xts
diag "create k3 took $(echo "$(date +%s.%N) - $t0" | bc) s (pkcs11_timeout 2 s)"
check "the log says FAILOVER from pa to pb, and why" \
	grep -q "FAILOVER: token 'pa' failed (.*); token 'pb', in step at generation [0-9]*, takes over" "$work/hsmkeyd.log"
check "status: pb in use, pa not in step" \
	grep -q "token 'pa' (\(down\|out of step\)), token 'pb' (in use)" <<< "$(reason)"
check "k3 is in pb" test "$(count pb k3 1)" = 1
check "show k1 works on pb" quiet ctl show k1
halt pa CONT
# 4. Killed while out of step: changes go on in pb alone.
halt pa KILL
check "rotate k1 (v3) with pa gone" quiet ctl rotate k1
id2=$(key_id k2)
check "schedule-deletion k2 (1 s)" quiet ctl schedule-deletion k2
for _ in $(seq 80); do ctl list | grep -q '^k2 ' || break; sleep 0.1; done
check "k2 is destroyed when the wait ends" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' list | grep -q '^k2 '"
check "... gone from pb" test "$(softhsm_count_id pb "${id2}00000001")" = 0
check "... still in pa, which was away" test "$(softhsm_count_id pa "${id2}00000001")" = 1
check "pa lacks k1 v3 and k3" test "$(count pa k1 3)$(count pa k3 1)" = 00

# 5. pa comes back: brought up to date, not the other way round.
serve pa
check "pa is back and brought up to date at the next operation" \
	until_reason 70 "token 'pa' (in step), token 'pb' (in use)"
# 1 destroyed, or 2: the generate pa was given just before it hung may
# have been carried out after SIGCONT, leaving an object no record names.
check "the log says pa is in step again: 2 copied, k2 (and any leftover) destroyed" \
	log_has "token 'pa' is in step with the key store again (generation [0-9]*): 2 key version(s) copied to it, [12] destroyed in it"
diag "$(grep -o "token 'pa' is in step.*" "$work/hsmkeyd.log" | tail -1)"
check "k2's version is destroyed in pa too (crypto-shredding reaches the token that was away)" \
	test "$(softhsm_count_id pa "${id2}00000001")" = 0
check "pa has k1 v3 and k3, the same keys as pb" \
	bash -c "[[ \$1\$2 == 11 ]]" _ "$(count pa k1 3)" "$(count pa k3 1)"
check "... k1 v3 the same key" same_key hsmkey:k1:v3
check "... k3 the same key" same_key hsmkey:k3:v1
check "status: pb in use, pa in step" \
	grep -q "token 'pa' (in step), token 'pb' (in use)" <<< "$(reason)"

# 6. And the other way: pb dies, pa takes over with everything.
halt pb KILL
check "with pb gone, create k4 succeeds" quiet ctl create k4 --type aes-128-gcm
check "the log says FAILOVER from pb to pa" \
	grep -q "FAILOVER: token 'pb' failed (.*); token 'pa', in step at generation [0-9]*, takes over" "$work/hsmkeyd.log"
check "k1 is at version 3, k3 is there" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' list | awk '\$1 == \"k1\" && \$3 == 3 {a=1} \$1 == \"k3\" {b=1} END {exit !(a && b)}'"
check "the audit log verifies" quiet ctl audit verify
daemon_stop

# 7. The attacker's side: a token that missed changes must not speak for
# the key store.  pb missed k4; with pa unreachable, hsmkeyd waits
# (degraded) rather than take pb's older view, and changes nothing: pb's
# anchor names pa as in step with it then.
serve pb
halt pa KILL
state=$(cd "$work/state" && find . -type f ! -name audit.log ! -name '.lock' -print0 | sort -z | xargs -0 md5sum)
daemon_start || fail "hsmkeyd starts (degraded) with only the out-of-step token"
check "status is degraded" bash -c "sleep 1; '$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q '\"backend\":\"degraded\"'"
check "the log says pb vouches for an older generation, when pa was in step too, and it waits for pa" \
	wait_log "token 'pb': vouches for the records at generation [0-9]*, when token '[^']*pa'.* was in step with it too; that one does not answer and may have taken changes since: waiting for it"
check "... and status says so" grep -q "token 'pb': vouches for the records at generation" <<< "$(reason)"
check "show k4 is refused (not answered from pb's older view)" expect_fail "unreachable" ctl show k4
check "nothing changed in the state directory" test "$state" = \
	"$(cd "$work/state" && find . -type f ! -name audit.log ! -name '.lock' -print0 | sort -z | xargs -0 md5sum)"
serve pa
check "pa back: up without a restart" wait_up 70
check "k4 is there" quiet ctl show k4
check "pb brought up to date" until_reason 30 "token 'pa' (in use), token 'pb' (in step)"
check "... k4 copied to it" \
	log_has "token 'pb' is in step with the key store again (generation [0-9]*): 1 key version(s) copied to it, 0 destroyed in it"
check "... k4 the same key in both" same_key hsmkey:k4:v1
daemon_stop

# 8. A token of another key store named as a member is not used.
serve pc
conf "$work/other.conf" pc
daemon_conf=$work/other.conf daemon_state=$work/other daemon_start ||
	fail "a second hsmkeyd makes a key store on pc"
quiet ctl create other --type aes-128-gcm
daemon_stop
conf "$work/three.conf" pa pb pc
: > "$work/hsmkeyd.log"
daemon_conf=$work/three.conf daemon_start || fail "hsmkeyd starts with pc named too"
check "status is up" wait_up 10
check "pb is in step" until_reason 20 "token 'pb' (in step)"
check "the log says pc belongs to another key store and is not used" \
	wait_log "token 'pc' belongs to another key store (its hsmkey:instance differs): it is not used"
check "status says so" grep -q "token 'pc' (NOT USED: another key store's)" <<< "$(reason)"
check "pc's own key is untouched, and none of ours is in it" \
	bash -c "[[ \$1 == 1 && \$2 == 0 ]]" _ "$(softhsm_count_label pc hsmkey:other:v1)" \
	"$(softhsm_count_label pc hsmkey:k1:v1)"
check "create k5 works (pa and pb)" quiet ctl create k5 --type aes-256-xts
check "... k5 in pa and pb" bash -c "[[ \$1\$2 == 11 ]]" _ "$(count pa k5 1)" "$(count pb k5 1)"
daemon_stop

# 9. Rollback with a stale token: pb misses a revocation made on pa alone;
# then, with pa unreachable, an attacker puts the state directory back to
# what pb last vouched for (k7 active).  pb's anchor names pa as in step
# with it then, so hsmkeyd cannot know pa did not take changes since: it
# waits for pa rather than load the older records.
snapshot() { (cd "$1" && find . -type f ! -name .lock -print0 | sort -z | xargs -0 md5sum); }
# put_back STATE UP DOWN: the attacker's move.  hsmkeyd stopped, token UP
# served and DOWN killed, STATE put back to its copy STATE.old; $before
# holds the sums of its files, the log is emptied.
put_back() {
	daemon_stop
	serve "$2"
	halt "$3" KILL
	rm -rf "$1" && cp -a "$1.old" "$1"
	before=$(snapshot "$1")
	: > "$work/hsmkeyd.log"
}
: > "$work/hsmkeyd.log"
daemon_start || fail "hsmkeyd starts on pa and pb"
check "create k7 in the pair" quiet ctl create k7 --type aes-256-xts
check "pb in step" until_reason 30 "token 'pa' (in use), token 'pb' (in step)"
rm -rf "$work/state.old"
cp -a "$work/state" "$work/state.old"
halt pb KILL
check "revoke k7 with pb gone" quiet ctl revoke k7
put_back "$work/state" pb pa
daemon_start || fail "hsmkeyd starts (degraded) on pb with the state directory put back"
check "status is degraded" bash -c "sleep 1; '$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q '\"backend\":\"degraded\"'"
check "the log says pb's anchor names pa, which does not answer, and it waits for pa" \
	wait_log "token 'pb': vouches for the records at generation [0-9]*, when token '[^']*pa'.* was in step with it too; that one does not answer and may have taken changes since: waiting for it (if lost for good: hsmkeyd --leave-out-absent)"
check "show k7 is refused (its revocation not undone by the older records)" \
	expect_fail "unreachable" ctl show k7
check "nothing changed in the state directory" test "$before" = "$(snapshot "$work/state")"
daemon_stop
# The operator knows pa is lost for good: the store loaded as pb vouches
# for it, pa left out.  If it comes back it is not used and
# nothing in it is changed (its revocation of k7 is not the key store's;
# it might have made keys too), at once and at a restart, whichever
# anchor is newer.
check "hsmkeyd --accept-keystore does not leave pa out (another decision)" \
	bash -c "! '$top/build/hsmkeyd' --config '$work/pair.conf' --state-dir '$work/state' --socket '$sock' \
	--accept-keystore 2>>'$work/hsmkeyd.log'"
check "hsmkeyd --leave-out-absent takes pb's records without pa" \
	"$top/build/hsmkeyd" --config "$work/pair.conf" --state-dir "$work/state" --socket "$sock" \
	--leave-out-absent 2>>"$work/hsmkeyd.log"
check "... and says what is given up" log_has "the key store loaded as token 'pb' vouches for it (generation [0-9]*), without token '[^']*pa'.*, in step with it then (--leave-out-absent): that token is left out of the key store for good, and any change it took after generation [0-9]* is given up"
daemon_start || fail "hsmkeyd starts on pb after --leave-out-absent"
check "up on pb alone now" wait_up 20
check "k7 is active (the operator gave up pa's revocation)" \
	test "$(ctl --json show k7 | jfield state)" = active
serve pa
check "pa back: left out, not used" \
	until_reason 30 "token 'pa' (NOT USED: left out by the operator), token 'pb' (in use)"
check "... the log says so" \
	log_has "token 'pa' was left out of the key store by the operator (hsmkeyd --leave-out-absent while it was away): it is not used"
check "... nothing in it changed (k7 still there)" test "$(count pa k7 1)" = 1
check "create k8 works, in pb only" quiet ctl create k8 --type aes-128-gcm
check "... k8 in pb, not in pa" bash -c "[[ \$1\$2 == 10 ]]" _ "$(count pb k8 1)" "$(count pa k8 1)"
daemon_stop
daemon_start || fail "hsmkeyd starts with pa and pb answering"
check "up on pb, pa still left out" \
	until_reason 30 "token 'pa' (NOT USED: left out by the operator), token 'pb' (in use)"
check "k7 active, k8 there" test "$(ctl --json show k7 | jfield state) $(ctl --json show k8 | jfield state)" = "active active"
daemon_stop

# 10. A token brought up to date is named in step from then on.  qb is
# away for two changes (qa's anchor names qa alone), comes back and is
# brought up to date; qa then dies and qb goes on alone (k9 revoked).
# With the state directory put back to what qa last vouched for and qb
# unreachable, qa must wait for qb: its anchor, written as qb was brought
# up, names qb.
softhsm_token qa
softhsm_token qb
serve qa
serve qb
conf "$work/q.conf" qa qb
daemon_conf=$work/q.conf
daemon_state=$work/qstate
: > "$work/hsmkeyd.log"
daemon_start || fail "hsmkeyd starts on qa and qb"
check "qa and qb up, qb in step" until_reason 60 "token 'qa' (in use), token 'qb' (in step)"
check "create k9" quiet ctl create k9 --type aes-256-xts
halt qb KILL
check "two changes with qb away" quiet bash -c "'$top/build/hsmkeyctl' --socket '$sock' create k10 --type aes-256-xts &&
	'$top/build/hsmkeyctl' --socket '$sock' create k11 --type aes-256-xts"
serve qb
check "qb back and brought up to date" until_reason 70 "token 'qa' (in use), token 'qb' (in step)"
cp -a "$work/qstate" "$work/qstate.old"
halt qa KILL
check "with qa gone, revoke k9 (on qb)" quiet ctl revoke k9
put_back "$work/qstate" qa qb
daemon_start || fail "hsmkeyd starts (degraded) on qa with the state directory put back"
check "qa waits for qb, which its anchor names since qb was brought up" \
	wait_log "token 'qa': vouches for the records at generation [0-9]*, when token '[^']*qb'.* was in step with it too"
check "show k9 is refused (its revocation not undone)" expect_fail "unreachable" ctl show k9
check "nothing changed in the state directory" test "$before" = "$(snapshot "$work/qstate")"
daemon_stop
tap_done
