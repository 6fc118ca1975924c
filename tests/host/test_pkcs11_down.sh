#!/bin/bash
# backend = pkcs11 with the HSM down at start (pkcs11_token names a token
# that is not there yet): hsmkeyd starts degraded and says why, requests
# that need the HSM fail with a clear message, reconciliation leaves the
# kernel alone (that part needs hsmkey.ko: the guest's), and once the token appears it recovers without a restart.
# Then a token that goes away under a running daemon (its helper killed)
# and comes back: requests work again, and a reconciliation runs.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"

softhsm_setup "$work/hsm"
softhsm_pin_file "$work/pin"
softhsm_conf "$work/p11.conf" later "$work/pin" "pkcs11_timeout = 5s"
daemon_conf=$work/p11.conf
jstatus() { ctl --json status 2>/dev/null; }

daemon_start || { fail "hsmkeyd starts while its token is absent"; tap_done; }
ok "hsmkeyd starts while its token is absent"
check "the log says it is degraded" grep -q "DEGRADED" "$work/hsmkeyd.log"
check "status says degraded, with the reason" bash -c "
	out=\$('$top/build/hsmkeyctl' --socket '$sock' --json status)
	grep -q '\"backend\":\"degraded\"' <<< \"\$out\" && grep -q 'backend_reason' <<< \"\$out\""
check "create fails, saying the HSM is unreachable" \
	expect_fail "the HSM is unreachable" ctl create k1 --type aes-256-xts
check "show fails the same way, not as 'no such key'" \
	expect_fail "the HSM is unreachable" ctl show k1
sleep 4
check "no record was made" test -z "$(ls "$work/state/pkcs11" 2>/dev/null)"

softhsm_token later
up=
for _ in $(seq 150); do
	jstatus | grep -q '"backend":"up"' && ctl create k1 --type aes-256-xts >/dev/null 2>&1 && { up=1; break; }
	sleep 0.2
done
check "once the token is there, the daemon recovers without a restart" test -n "$up"
check "... and says so in the log" grep -q "no longer degraded" "$work/hsmkeyd.log"
check "... and the key is in the token" test "$(softhsm_count_label later hsmkey:k1:v1)" = 1
check "... and the audit log (opened late) verifies" quiet ctl audit verify

# the token's helper dies under a running daemon: respawned, no restart
helper=$(pgrep -P "$daemon_pid" | head -1)
if [[ -n $helper ]]; then
	kill -KILL "$helper"
	back=
	for _ in $(seq 150); do
		ctl create k2 --type aes-128-gcm >/dev/null 2>&1 && { back=1; break; }
		sleep 0.2
	done
	check "after the helper is killed, requests work again without a restart" test -n "$back"
	check "... and the keys made before are there" quiet ctl show k1
	# The token back: a reconciliation is queued, so that what changed
	# meanwhile reaches the kernel.  Without hsmkey.ko here, the
	# reconciliation's own line is that it is not loaded.
	back=
	for _ in $(seq 50); do
		sed -n '/the helper exited/,$p' "$work/hsmkeyd.log" |
			sed -n '/reachable again.*converging/,$p' |
			grep -q 'hsmkey.ko is not loaded' && { back=1; break; }
		sleep 0.1
	done
	check "... and a reconciliation ran once the token was back (the log says so)" test -n "$back"
else
	fail "the token's helper process is a child of hsmkeyd"
fi

# Idle, the event loop sleeps: it hears of the token's comebacks from the
# helper's supervisor (an eventfd), it does not look every second.
switches() { awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$daemon_pid/task/$daemon_pid/status"; }
before=$(switches)
sleep 3
woke=$(($(switches) - before))
check "idle for 3 s, the event loop did not wake (it woke $woke times)" test "$woke" -le 1
tap_done
