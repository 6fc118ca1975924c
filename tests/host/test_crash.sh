#!/bin/bash
# A crash at each step of a keystore write loses no key: the daemon built
# with crash points (build/tests/hsmkeyd-crash) dies at the step named by
# $HSMKEY_CRASH_POINT while creating a key, while rewriting one (revoke)
# and while writing the master key at first start; a normal daemon started
# afterwards still opens every key that existed, with the same token, and
# the key being written is either entirely there or absent.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
crashd=$top/build/tests/hsmkeyd-crash
points=(tmp-created tmp-half tmp-written tmp-synced renamed dir-synced)

# A change to a key file is three writes: the root record (a pending
# change), the key file, the root record again.  "POINT N": at the Nth
# time POINT is reached, so each of the three writes is crashed in.
steps=()
for point in "${points[@]}"; do steps+=("$point 1" "$point 2"); done
steps+=("tmp-written 3" "renamed 3" "dir-synced 3")

# crash_run "POINT N" CTL-ARGS...: a crash daemon on the same state; the
# request must kill it at POINT's Nth passage.
crash_run() {
	local point=${1% *} count=${1#* }; shift
	daemon_bin=$crashd daemon_log=$work/crash.log \
		daemon_wrap="env HSMKEY_CRASH_POINT=$point HSMKEY_CRASH_COUNT=$count" daemon_spawn
	wait_socket "$sock" "$daemon_pid"
	ctl "$@" >/dev/null 2>&1
	wait "$daemon_pid"
	local rc=$?
	daemon_pid=
	rm -f "$sock"
	[[ $rc == 86 ]] || { echo "# the daemon did not die at $point (exit $rc)"; return 1; }
}

for point in "${steps[@]}"; do
	rm -rf "$work/state" "$work/hsmkeyd.log" "$work/crash.log"
	daemon_start || { fail "$point: hsmkeyd starts"; continue; }
	ctl create base1 --type aes-256-xts >/dev/null && ctl create base2 --type aes-128-cbc >/dev/null
	t1=$(ctl token base1) t2=$(ctl token base2)
	daemon_stop

	check "$point: the daemon dies there while creating a key" crash_run "$point" create fresh --type aes-256-xts
	daemon_start || fail "$point: hsmkeyd starts after the crash"
	check "$point: the existing keys open with the same tokens" \
		test "$(ctl token base1) $(ctl token base2)" = "$t1 $t2"
	fresh=$(ctl list | awk '$1 == "fresh" {print $4}')
	check "$point: the new key is whole or absent (here: ${fresh:-absent})" bash -c "
		[[ -z '$fresh' ]] || [[ '$fresh' == active && \$('$top/build/hsmkeyctl' --socket '$sock' token fresh | wc -c) == 129 ]]"
	check "$point: no key file is reported damaged" bash -c "! grep -q 'corrupted or has been tampered\|does not authenticate\|rolled-back' '$work/hsmkeyd.log'"
	daemon_stop

	check "$point: the daemon dies there while revoking a key" crash_run "$point" revoke base1
	daemon_start || fail "$point: hsmkeyd starts after the second crash"
	state=$(ctl list | awk '$1 == "base1" {print $4}')
	check "$point: the rewritten key is intact, old or new state (here: $state)" bash -c "
		[[ '$state' == active || '$state' == revoked ]] && [[ \$('$top/build/hsmkeyctl' --socket '$sock' token base1 2>/dev/null) == '$t1' || '$state' == revoked ]]"
	check "$point: the other key is untouched" test "$(ctl token base2)" = "$t2"
	check "$point: still no damaged file" bash -c "! grep -q 'corrupted or has been tampered\|does not authenticate\|rolled-back' '$work/hsmkeyd.log'"
	daemon_stop
done

# First start: the master key itself is written with the same steps.
for point in "${points[@]}"; do
	rm -rf "$work/state"
	HSMKEY_CRASH_POINT=$point "$crashd" --state-dir "$work/state" --socket "$sock" 2>/dev/null
	rc=$?
	rm -f "$sock"
	daemon_start || { fail "$point: starts after a crash writing the master key"; continue; }
	check "$point: a crash writing the master key (exit $rc) leaves a usable keystore" \
		bash -c "'$top/build/hsmkeyctl' --socket '$sock' create k --type aes-256-xts >/dev/null &&
			 '$top/build/hsmkeyctl' --socket '$sock' token k >/dev/null"
	daemon_stop
done
# Destruction re-seals every other key under a new master key: a crash at
# each of its steps (the new master key, the derivation root, each key
# file, the removal, the old key's overwrite) loses no other key, and the
# next start finishes the job.  Steps are counted: "renamed 3" is the
# third file renamed into place.
# Two seconds: delete_at is whole seconds from now, so with one second a
# deletion scheduled late in a second came due while the first daemon was
# stopping, and it destroyed the key itself (the crash daemon then had
# nothing to do and the step timed out, about one run in three).
printf 'deletion_wait = 2s\n' > "$work/del.conf"
destroy_steps=("renamed 1" "renamed 2" "renamed 3" "renamed 4" "tmp-half 1" "tmp-half 3"
	       "key-removed 1" "master-overwritten 1")
for step in "${destroy_steps[@]}"; do
	point=${step% *} count=${step#* }
	rm -rf "$work/state" "$work/hsmkeyd.log"
	daemon_conf=$work/del.conf
	daemon_start || { fail "destroy/$step: hsmkeyd starts"; continue; }
	ctl create base1 --type aes-256-xts >/dev/null && ctl create base2 --type aes-128-cbc >/dev/null &&
		ctl rotate base2 >/dev/null && ctl create victim --type aes-256-xts >/dev/null
	t1=$(ctl token base1) t2=$(ctl token base2) t21=$(ctl token base2 --version 1)
	ctl schedule-deletion victim >/dev/null
	daemon_stop
	sleep 2.2
	# The deletion is due: the crash daemon destroys at start, and dies.
	HSMKEY_CRASH_POINT=$point HSMKEY_CRASH_COUNT=$count timeout 60 "$crashd" --config "$work/del.conf" \
		--state-dir "$work/state" --socket "$sock" 2>>"$work/crash.log"
	rc=$?
	rm -f "$sock"
	check "destroy/$step: the daemon dies there while destroying a key (exit $rc)" test "$rc" = 86
	daemon_start || { fail "destroy/$step: hsmkeyd starts after the crash"; continue; }
	for _ in $(seq 50); do ctl list | grep -q '^victim ' || break; sleep 0.1; done
	check "destroy/$step: every other key and version opens with the same token" \
		test "$(ctl token base1) $(ctl token base2) $(ctl token base2 --version 1)" = "$t1 $t2 $t21"
	check "destroy/$step: the destruction was finished" bash -c "
		! '$top/build/hsmkeyctl' --socket '$sock' list | grep -q '^victim ' &&
		[[ ! -e '$work/state/keys/victim.json' && ! -e '$work/state/master.key.new' ]]"
	check "destroy/$step: the audit log verifies" quiet ctl audit verify
	daemon_stop
	daemon_conf=
done

# Offline rollback: a key file restored from before its revocation, or a
# destroyed key's file put back, and the daemon refuses to start, saying
# why (it exits by itself: still running after 10 s is a start); with
# the current files back it starts again.
rm -rf "$work/state" "$work/hsmkeyd.log"
daemon_start || fail "rollback: hsmkeyd starts"
ctl create rb1 --type aes-256-xts >/dev/null && ctl create rb2 --type aes-256-xts >/dev/null
cp "$work/state/keys/rb1.json" "$work/rb1.active"
ctl revoke rb1 >/dev/null
daemon_stop
cp "$work/state/keys/rb1.json" "$work/rb1.revoked"
cp "$work/rb1.active" "$work/state/keys/rb1.json"
check "rollback: the daemon does not start on a key file restored from before its revocation" \
	bash -c "timeout 10 '$top/build/hsmkeyd' --state-dir '$work/state' --socket '$sock' 2>'$work/rb.log'
		 rc=\$?; [[ \$rc != 0 && \$rc != 124 ]]"
check "rollback: it says why" grep -q "rolled-back keystore" "$work/rb.log"
cp "$work/rb1.revoked" "$work/state/keys/rb1.json"
daemon_start || fail "rollback: hsmkeyd starts with the current file back"
check "rollback: the key is still revoked" grep -qE '^rb1 .* revoked' <(ctl list)
daemon_stop
tap_done
