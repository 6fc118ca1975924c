#!/bin/bash
# backend = pkcs11: a crash between a record's write and its anchor in the
# token (a create, a revoke), or between the anchor and the file's removal
# (a destruction), is finished at the next start, not taken for a
# rollback; the daemon built with crash points (build/tests/hsmkeyd-crash)
# dies at those steps.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"
crashd=$top/build/tests/hsmkeyd-crash

softhsm_daemon "deletion_wait = 2s"

# crash_run POINT CTL-ARGS...: a crash daemon that must die at POINT
# (during the request, or within 10 s after it).
crash_run() {
	local point=$1 rc; shift
	daemon_bin=$crashd daemon_log=$work/crash.log \
		daemon_wrap="env HSMKEY_CRASH_POINT=$point" daemon_spawn
	wait_socket "$sock" "$daemon_pid"
	ctl "$@" >/dev/null 2>&1
	( sleep 10; kill "$daemon_pid" 2>/dev/null ) &
	wait "$daemon_pid"
	rc=$?
	daemon_pid=
	rm -f "$sock"
	[[ $rc == 86 ]] || { echo "# the daemon did not die at $point (exit $rc)"; return 1; }
}

daemon_start || { fail "hsmkeyd starts"; tap_done; }
ctl create base --type aes-256-xts >/dev/null
daemon_stop

check "the daemon dies after writing a new key's record, before anchoring it" \
	crash_run p11-key-written create fresh --type aes-128-gcm
daemon_start || fail "hsmkeyd starts after the crash"
check "... the change is finished at start, not refused" grep -q "anchoring the interrupted change of fresh.key" "$work/hsmkeyd.log"
check "... the new key is there" test "$(state_of fresh)" = active
check "... the old one too" test "$(state_of base)" = active
daemon_stop

check "the daemon dies after rewriting a record (revoke), before anchoring it" \
	crash_run p11-key-written revoke base
daemon_start || fail "hsmkeyd starts after the second crash"
check "... the key is revoked" test "$(state_of base)" = revoked
daemon_stop

check "the daemon dies after anchoring a destruction, before removing the record" \
	crash_run p11-key-anchored schedule-deletion fresh
daemon_start || fail "hsmkeyd starts after the third crash"
check "... the removal is finished at start" grep -q "finishing the interrupted removal of fresh.key" "$work/hsmkeyd.log"
check "... the key is gone" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' list | grep -q '^fresh '"
check "... and its record file too" test ! -e "$work/state/pkcs11/fresh.key"
check "... the other key is still there" test "$(state_of base)" = revoked
daemon_stop

check "the daemon dies after writing its own records (the audit anchor), before anchoring them" \
	crash_run p11-records-written list
daemon_start || fail "hsmkeyd starts after the fourth crash"
check "... the change is finished at start" grep -q "anchoring the interrupted change of records" "$work/hsmkeyd.log"
check "... and the audit log verifies" quiet ctl audit verify
daemon_stop
tap_done
