#!/bin/bash
# A fleet on one KMIP key server (tests/lib/fleet.sh): N hsmkeyd daemons
# (20; HSMKEY_FLEET_N) following PyKMIP's server every 10 s (the default
# kmip_poll_interval; HSMKEY_FLEET_POLL), each having adopted the same key.
# While nothing happens, the server's request rate is what the hosts' polls
# make: one message a host each poll (the fleet's keys fit one batch), at
# most one a host every 0.8 intervals.  Then the reference client revokes
# the key: every host must revoke it, and say so in its audit log, within
# the poll interval + 2 s of the server's answer (issue 14's goal).
# bench/fleet.sh runs the same with 200 hosts.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/kmip.sh"
. "$top/tests/lib/fleet.sh"
at_exit 'fleet_stop; kmip_server_stop "$work/kmip"'

n=${HSMKEY_FLEET_N:-20} poll=${HSMKEY_FLEET_POLL:-10}
kmip_certs "$work/kmip" && kmip_server_start "$work/kmip" ||
	{ fail "a KMIP server (pykmip-server) on loopback"; tap_done; }
check "$n hosts up, each with the reference client's key adopted" fleet_start "$n" "$poll"
check "the key is active on every host" fleet_states active

section "steady state"
sleep "$poll"	# every host has polled since it adopted the key
rate=$(fleet_rate $((3 * poll)))
diag "the server got $rate requests/s from $n hosts polling every $poll s: $(python3 -c "print(f'{$rate * 1000 / $n:.0f}')") requests/s per 1,000 hosts"
check "at least 0.8 of a request a host each interval, with a margin for the window's edges (got $rate/s)" \
	python3 -c "import sys; sys.exit(not $rate >= 0.8 * $n / $poll)"
check "... and at most one a host each 0.8 interval, with a margin for the window's edges" \
	python3 -c "import sys; sys.exit(not $rate <= 1.2 * $n / (0.8 * $poll))"

section "the server revokes the key"
fleet_revoke $((poll + 10))
fleet_latency
diag "revoked on the server ${asked:-?} ms after it was asked (the reference client's start and call); by its log's time, the hosts' audit logs recorded it after ${median:-?} ms (median), ${max:-?} ms (last host)"
check "every host revoked it (its audit log says so)" \
	test "$got" = "$n"
check "the last host within the poll interval + 2 s (${max:-more than $((poll + 10))000} ms)" \
	test "${max:-999999}" -le $(((poll + 2) * 1000))
check "every host shows the key revoked" fleet_states revoked
check "host 1's audit log names the server's reason" \
	grep -q '"op":"revoke","key":"fleet".*revoked by the key storage: compromised on the KMIP server' \
	"$work/fleet/h1/state/audit.log"
check "... and verifies" quiet fleet_ctl 1 audit verify
tap_done
