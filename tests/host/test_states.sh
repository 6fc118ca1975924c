#!/bin/bash
# Revocation cannot be undone through the control socket: revoke, then
# schedule-deletion, cancel-deletion and enable leave the key revoked,
# across a restart too; cancel-deletion restores whatever state the key
# had before the schedule (disabled stays disabled, active is active).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"


daemon_start || { fail "hsmkeyd starts"; tap_done; }
ctl create r --type aes-256-xts >/dev/null
ctl create d --type aes-256-xts >/dev/null
ctl create a --type aes-256-xts >/dev/null
check "revoke r" quiet ctl revoke r
check "a revoked key may be scheduled for deletion" quiet ctl schedule-deletion r
check "its deletion may be cancelled" quiet ctl cancel-deletion r
check "... and it is revoked again, not disabled" test "$(state_of r)" = revoked
check "enable of the revoked key fails, saying revocation is final" \
	expect_fail "revocation is final" ctl enable r
check "... and it is still revoked" test "$(state_of r)" = revoked
check "load of it fails" expect_fail "revoked" ctl load r
check "a token for it is refused" expect_fail "revoked" ctl token r
check "disable d" quiet ctl disable d
check "schedule and cancel the deletion of d" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' schedule-deletion d >/dev/null &&
	'$top/build/hsmkeyctl' --socket '$sock' cancel-deletion d >/dev/null"
check "d is disabled again" test "$(state_of d)" = disabled
check "schedule and cancel the deletion of active a" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' schedule-deletion a >/dev/null &&
	'$top/build/hsmkeyctl' --socket '$sock' cancel-deletion a >/dev/null"
check "a is active again" test "$(state_of a)" = active
daemon_stop
daemon_start || fail "hsmkeyd starts again"
check "after a restart r is still revoked" test "$(state_of r)" = revoked
check "... and enable still fails" expect_fail "revocation is final" ctl enable r
daemon_stop
tap_done
