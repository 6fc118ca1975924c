#!/bin/bash
# A token that opens slowly (issue 12, "when the HSM is slow"): opening a
# token takes longer the more objects it holds (every search visits them
# all), so the deadline on the helper's start counts from its last step
# (HP_BEAT), not from the start: a token whose every step answers within
# pkcs11_timeout comes up however long the whole takes, and one whose
# single step does not is still given up on, and comes back by itself once
# it answers again.  The token is SoftHSM behind tests/lib/p11_slow.c,
# which delays each object search by the milliseconds in a file.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"

slow=$top/build/tests/p11_slow.so
[[ -r $slow ]] || { echo "Bail out! $slow missing: make tests"; exit 1; }
softhsm_setup "$work/hsm"
softhsm_token slow
softhsm_pin_file "$work/pin"
export HSMKEY_SLOW_MODULE=$SOFTHSM_MODULE HSMKEY_SLOW_FIND_FILE=$work/find-ms
# pkcs11_timeout 2 s, a step of the helper's start too (SPAWN_STEP_MIN_MS);
# a call after the start, one search, has 1.3 s to spare at 700 ms.
printf '%s\n' "backend = pkcs11" "pkcs11_module = $slow" "pkcs11_token = pkcs11:token=slow" \
	"pin_file = $work/pin" "pkcs11_timeout = 2s" > "$work/conf"
daemon_conf=$work/conf
backend() { ctl --json status 2>/dev/null | /usr/bin/python3 -c \
	'import json,sys; print(json.load(sys.stdin).get("backend", ""))' 2>/dev/null; }
# up_after: $took, the seconds from the spawn until the log says the
# token is up (0: not within 60 s).
up_after() {
	local t0=$SECONDS
	: > "$work/hsmkeyd.log"
	daemon_spawn
	took=0
	for _ in $(seq 600); do
		grep -q "token 'slow' is up" "$work/hsmkeyd.log" && { took=$((SECONDS - t0)); return; }
		kill -0 "$daemon_pid" 2>/dev/null || return
		sleep 0.1
	done
}

section "1. the first start, no delay: the token's objects made, a key"
echo 0 > "$work/find-ms"
daemon_start
check "the token is up" wait_backend_up 30
check "a key is made in it" quiet ctl create k1 --type aes-256-xts
daemon_stop

section "2. each search 700 ms: the opening takes seconds, each step less than 2 s"
echo 700 > "$work/find-ms"
up_after
diag "the token came up after $took s (0: never)"
# More than twice the 2 s a single step may take: a deadline on the whole would have fired.
check "the token comes up though its opening takes more than 4 s" test "$took" -ge 4
check "no step was taken for a hang" bash -c "! grep -q 'did not start in time' '$work/hsmkeyd.log'"
wait_socket "$sock" "$daemon_pid"
check "the daemon is up, not degraded" wait_backend_up 60
check "the key made before is there" quiet ctl show k1
daemon_stop

section "3. each search 3 s: one step longer than its deadline is a hang"
echo 3000 > "$work/find-ms"
: > "$work/hsmkeyd.log"
daemon_spawn
for _ in $(seq 300); do
	grep -q "did not start in time" "$work/hsmkeyd.log" && break
	sleep 0.1
done
check "the start is given up on: 'the helper did not start in time'" \
	grep -q "token 'pkcs11:token=slow': the helper did not start in time" "$work/hsmkeyd.log"
wait_socket "$sock" "$daemon_pid"
check "the daemon says it is degraded" test "$(backend)" = degraded

section "4. the searches fast again: back without a restart"
echo 0 > "$work/find-ms"
check "the token comes back by itself" wait_backend_up 90
check "the key is there" quiet ctl show k1

section "5. stopped while a new helper opens the token slowly: no waiting it out"
helper=$(sed -n "s/.*token 'slow' is up (helper \([0-9]*\)).*/\1/p" "$work/hsmkeyd.log" | tail -n 1)
echo 1000 > "$work/find-ms"	# some 9 steps of 1 s: an opening of over 9 s
: > "$work/hsmkeyd.log"
check "the helper that is up is known ($helper)" test -n "$helper"
kill -9 "$helper"
new=
for _ in $(seq 100); do
	new=$(pgrep -P "$daemon_pid" -f -- "[-]-pkcs11-helper" | grep -v "^$helper$" | head -n 1)
	[[ -n $new ]] && break
	sleep 0.1
done
sleep 2
check "a new helper ($new) is opening the token: neither up nor given up on" \
	bash -c "[[ -n '$new' ]] && kill -0 '$new' && ! grep -q 'is up\|did not start in time' '$work/hsmkeyd.log'"
t0=$(date +%s%N)
kill "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
daemon_pid=
diag "hsmkeyd exited $ms ms after SIGTERM"
# The stop's audit checkpoint waits for the token up to pkcs11_timeout (2 s).
check "hsmkeyd stops within 5 s though the opening had 6 s to go" test "$ms" -lt 5000
check "... and the helper it was starting is gone" bash -c "! kill -0 '$new' 2>/dev/null"
tap_done
