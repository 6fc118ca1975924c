#!/bin/bash
# Revoked is terminal, also through the operator's recovery: someone who
# can write the state directory puts back a copy of a revoked key's file
# taken before its revocation (or a destroyed key's file); the daemon
# refuses to start, and when the operator then runs --accept-keystore the
# key must stay revoked (or destroyed), the log naming the file.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

# unlisted NAME: the listing succeeds (the daemon answers) and NAME is not in it.
unlisted() {
	local out
	out=$(ctl list) || return 1
	! grep -q "^$1 " <<< "$out"
}
not() { ! "$@"; }
# A start on the state as it is must be refused (it exits by itself:
# still running after 10 s is a start).
refused() {
	timeout 10 "$top/build/hsmkeyd" --state-dir "$work/state" --socket "$sock" 2>>"$work/hsmkeyd.log"
	local rc=$?
	[[ $rc != 0 && $rc != 124 ]]
}
# The operator's recovery: the files found become current, and it exits.
accept() {
	"$top/build/hsmkeyd" --accept-keystore --state-dir "$work/state" --socket "$sock" \
		2>>"$work/hsmkeyd.log"
}

# Revoked: the copy from before the revocation put back.
daemon_start || { fail "hsmkeyd starts"; tap_done; }
ctl create r --type aes-256-xts >/dev/null && ctl create other --type aes-256-xts >/dev/null
cp "$work/state/keys/r.json" "$work/r.active"
check "revoke r" quiet ctl revoke r
daemon_stop
cp "$work/r.active" "$work/state/keys/r.json"
check "the daemon refuses to start on r's file from before its revocation" refused
check "hsmkeyd --accept-keystore takes the files found" accept
check "... which the audit log records" grep -q '"op":"keystore-accept"' "$work/state/audit.log"
daemon_start || fail "hsmkeyd starts after the recovery"
check "after --accept-keystore r is still revoked (show)" test "$(state_of r)" = revoked
check "... and in the listing" grep -qE '^r .* revoked' <(ctl list)
check "... load of it is refused" expect_fail "key 'r' is revoked and cannot be loaded" ctl load r
check "... a token for it is refused" expect_fail "key 'r' is revoked: its token binds nothing" ctl token r
check "... enable still fails" expect_fail "revocation is final" ctl enable r
check "... the other key is active" test "$(state_of other)" = active
check "the log names the file put back" grep -q "keys/r.json" "$work/hsmkeyd.log"
daemon_stop
daemon_start || fail "hsmkeyd starts again"
check "after another restart r is still revoked" test "$(state_of r)" = revoked
daemon_stop

# Destroyed: the key's file put back after its destruction.
printf 'deletion_wait = 2s\n' > "$work/del.conf"
daemon_conf=$work/del.conf
daemon_start || fail "hsmkeyd starts with deletion_wait = 2s"
ctl create d --type aes-256-xts >/dev/null
cp "$work/state/keys/d.json" "$work/d.copy"
ctl schedule-deletion d >/dev/null
for _ in $(seq 80); do [[ -e $work/state/keys/d.json ]] || break; sleep 0.1; done
check "d is destroyed" unlisted d
daemon_stop
daemon_conf=
cp "$work/d.copy" "$work/state/keys/d.json"
check "the daemon refuses to start on the destroyed key's file put back" refused
check "hsmkeyd --accept-keystore takes the files found" accept
daemon_start || fail "hsmkeyd starts after the recovery"
check "after --accept-keystore d is not there (show)" expect_fail "no key named 'd'" ctl show d
check "... nor in the listing" unlisted d
check "... load of it is refused" expect_fail "no key named 'd'" ctl load d
check "... a token for it is refused" expect_fail "no key named 'd'" ctl token d
check "the log names the destroyed key's file" grep -q "keys/d.json.*destroyed" "$work/hsmkeyd.log"
daemon_stop
daemon_start || fail "hsmkeyd starts again"
check "after another restart d is still not there" unlisted d
check "... and its name may be given to a new key" quiet ctl create d --type aes-256-xts
daemon_stop

# The tombstones' own file removed: no start, and no recovery either.
rm "$work/state/tombs"
check "the daemon refuses to start without STATE/tombs" refused
check "... and so does hsmkeyd --accept-keystore (revocation is final)" not accept
check "... the log names the file" grep -q "state/tombs is missing" "$work/hsmkeyd.log"
tap_done
