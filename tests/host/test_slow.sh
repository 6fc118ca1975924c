#!/bin/bash
# A slow backend call holds up neither other clients nor signals: the
# test build's embedded keystore takes $HSMKEY_TEST_SLOW seconds to create
# or rotate a key named slow*, as an HSM or key server may.  While such a
# create runs, reads are served and SIGHUP is handled; other changes wait
# for it (changes are serialised) and then succeed.  Ordering is checked,
# not time: each read returns while the slow create is still running.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
crashd=$top/build/tests/hsmkeyd-crash

daemon_bin=$crashd daemon_wrap="env HSMKEY_TEST_SLOW=6" daemon_start
check "a fast key is created" quiet ctl create fast --type aes-256-xts
ctl create slowkey --type aes-256-xts > "$work/slow.out" 2>&1 &
slow=$!
sleep 0.5
running() { kill -0 "$slow" 2>/dev/null; }
check "the slow create is under way" running
check "list is served meanwhile" bash -c "'$top/build/hsmkeyctl' --socket '$sock' list | grep -q '^fast '"
check "show is served meanwhile" quiet ctl show fast
check "status is served meanwhile" quiet ctl status
check "audit verify is served meanwhile" quiet ctl audit verify
check "... all while the slow create still runs" running
kill -HUP "$daemon_pid"
sleep 0.3
check "SIGHUP is handled meanwhile" grep -q "configuration reloaded" "$work/hsmkeyd.log"
check "and reads still are" quiet ctl show fast
check "... still before the slow create ends" running
check "another change waits its turn and succeeds" quiet ctl create after --type aes-128-cbc
check "so it ended after the slow create" bash -c "! kill -0 $slow 2>/dev/null"
wait "$slow"
check "the slow create succeeded" grep -q created "$work/slow.out"
check "every key is there" test "$(ctl list | awk 'NR > 1 {print $1}' | sort | tr '\n' ' ')" = "after fast slowkey "
check "the audit log verifies, the changes in order" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' audit verify >/dev/null &&
	grep -o '\"op\":\"create\",\"key\":\"[a-z]*\"' '$work/state/audit.log' | tr '\n' ' ' |
	grep -q 'fast.*slowkey.*after'"
daemon_stop
tap_done
