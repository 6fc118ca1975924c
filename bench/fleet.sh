#!/bin/bash
# Issue 14's fleet on the host (tests/lib/fleet.sh): BENCH_FLEET_N (200)
# hsmkeyd daemons on one PyKMIP server, polling every BENCH_FLEET_POLL
# (10) s, each holding the same key.  Measured: the server's request rate
# from the fleet at steady state (over three intervals), as requests/s
# per 1,000 hosts; then the reference client revokes the key, and the
# time until each host's audit log records the revocation: the first,
# median and last host against the goal, the poll interval + 2 s.
#
# The daemons run without hsmkey.ko, which takes one daemon: the kernel's
# part (an open dm-crypt volume failing with EIO once its daemon revokes
# the key) is measured by the guest's t_kmip_fleet, on host 1 of a fleet
# of 6 (tests/lib/fleet.sh, fleet_kernel).  Each daemon holds about 10 MB.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
n=${BENCH_FLEET_N:-200} poll=${BENCH_FLEET_POLL:-10}
work=$(mktemp -d /dev/shm/hsmkey-fleet.XXXXXX)
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/kmip.sh"
. "$top/tests/lib/fleet.sh"
trap 'fleet_stop; kmip_server_stop "$work/kmip"; rm -rf "$work"' EXIT
kmip_certs "$work/kmip" && kmip_server_start "$work/kmip" ||
	{ echo "bench fleet: pykmip-server does not start" >&2; exit 1; }
t=$SECONDS
fleet_start "$n" "$poll" || { echo "bench fleet: the fleet does not start" >&2; exit 1; }
echo "fleet: $n hosts up and holding the key in $((SECONDS - t)) s"
sleep "$poll"
rate=$(fleet_rate $((3 * poll)))
echo "fleet: steady state, polling every $poll s: $rate requests/s from $n hosts," \
	"$(python3 -c "print(f'{$rate * 1000 / $n:.0f}')") requests/s per 1,000 hosts"
fleet_revoke $((poll + 30))
rc=$?
fleet_latency
echo "fleet: revoked on the server: $got of $n hosts revoked it; first ${min:-?} ms," \
	"median ${median:-?} ms, last ${max:-?} ms (goal: $(((poll + 2) * 1000)) ms)"
((rc == 0 && ${max:-999999} <= (poll + 2) * 1000))
