#!/bin/bash
# The audit anchor without the kernel module (as after a reboot or module
# reload, when the kernel's copy reads 0): the keystore's sealed copy still
# catches records cut from the end; and a partial last line (power lost
# mid-write) is repaired at start, the repair recorded, instead of failing
# verification for ever.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
log=$work/state/audit.log
verify() { "$top/build/hsmkeyctl" --socket "$sock" audit verify >"$work/v.out" 2>"$work/v.err"; }

daemon_start || { fail "hsmkeyd starts"; tap_done; }
for k in a b c; do ctl create "$k" --type aes-256-xts >/dev/null; done
ctl revoke b >/dev/null
check "the log verifies" verify
daemon_stop
cp -a "$work/state" "$work/good-state"

# An attacker with the state directory cuts the last records (the revoke).
head -n -4 "$work/good-state/audit.log" > "$log"
daemon_start || fail "hsmkeyd starts on a truncated log"
check "a truncated log does not verify (no kernel anchor: the keystore's copy)" bash -c "
	! '$top/build/hsmkeyctl' --socket '$sock' audit verify 2>'$work/v.err' &&
	grep -q 'records were removed from the end' '$work/v.err'"
daemon_stop
check "the daemon found it at start, logged it as an error and recorded it in the chain" bash -c "
	grep -q '^<3>hsmkeyd: the audit log does not verify: the log ends at record' '$work/hsmkeyd.log' &&
	grep -q '\"op\":\"audit-check\",\"result\":\"error\"' '$log'"
# Written on past the cut, the chain verifies again: the failed check it
# recorded is what is left of the truncation, and verify says so.
daemon_start || fail "hsmkeyd starts again"
for k in d e f g h; do ctl create "$k" --type aes-256-xts >/dev/null; done
check "grown past the cut, the log verifies but reports the failed start check" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' audit verify > '$work/v.out' 2>&1 &&
	grep -qE '[1-9][0-9]* failed start check' '$work/v.out'"
diag "$(head -c 400 "$work/v.out")"
daemon_stop

# A change cut short (the daemon killed while the keystore writes the new
# key, after its intent record: the third keystore write of this run,
# after the start checkpoint's and the intent's anchors), then its record
# cut from the log: the
# sealed copy covers the intent before anything changes, so this is found
# too.  (The outcome record follows it only with the next request.)
rm -rf "$work/state"; cp -a "$work/good-state" "$work/state"
daemon_bin=$top/build/tests/hsmkeyd-crash daemon_log=$work/crash.log \
	daemon_wrap="env HSMKEY_CRASH_POINT=renamed HSMKEY_CRASH_COUNT=3" daemon_spawn
wait_socket "$sock" "$daemon_pid"
ctl create x --type aes-256-xts >/dev/null 2>&1
wait "$daemon_pid"
rc=$? daemon_pid=
rm -f "$sock"
check "the daemon died in the middle of creating x (exit 86)" test "$rc" = 86
check "after the intent record of x" bash -c "tail -n 1 '$log' | grep -q '\"op\":\"request\",\"key\":\"x\"'"
head -n -1 "$log" > "$work/cut" && cat "$work/cut" > "$log"
: > "$work/hsmkeyd.log"
daemon_start || fail "hsmkeyd starts after the crash"
check "the intent's record cut off is found at start (the keystore's copy)" grep -q \
	'^<3>hsmkeyd: the audit log does not verify: the log ends at record .*records were removed from the end' \
	"$work/hsmkeyd.log"
check "and verify reports it" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' audit verify > '$work/v.out' 2>&1 &&
	grep -qE '[1-9][0-9]* failed start check' '$work/v.out'"
daemon_stop

# Power lost mid-write: a partial last line.
rm -rf "$work/state"; cp -a "$work/good-state" "$work/state"
last=$(tail -n 1 "$log")
printf '%s' "${last:0:100}" >> "$log"
: > "$work/hsmkeyd.log"
daemon_start || fail "hsmkeyd starts on a log with a torn last line"
check "after the repair the log verifies" verify
diag "$(cat "$work/v.out" "$work/v.err" | head -1)"
daemon_stop
check "the repair is a record in the chain" grep -q '"op":"audit-repair".*"detail":"a partial last line of 100 bytes' "$log"
check "and a warning in the daemon's log" grep -q '^<4>hsmkeyd: audit log: a partial last line of 100 bytes' "$work/hsmkeyd.log"
check "the torn bytes are kept aside" cmp -s <(printf '%s' "${last:0:100}") "$work/state/audit.log.torn"
check "every line of the log is whole" bash -c "[[ \$(tail -c 1 '$log' | od -An -c | tr -d ' ') == '\n' ]]"
tap_done
