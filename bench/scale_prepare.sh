#!/bin/bash
# The scale workload's keystore, made before the guest boots: COUNT keys
# created through a host hsmkeyd's control socket (no module on the host:
# nothing is provisioned), packed into TARBALL for bench/run.sh to unpack
# in the guest.  The guest under TCG creates keys about a hundred times
# slower than the host (each create is a dozen fsyncs and ~80 system
# calls), so 100,000 made there would take an hour; the guest still
# measures the create rate itself, on the keys it makes on top of these.
#
#   scale_prepare.sh COUNT TARBALL
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
count=$1 tarball=$2
# In memory: the host disk's fsync would make this as slow as the guest.
work=$(mktemp -d /dev/shm/hsmkey-scale.XXXXXX)
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
"$top/build/hsmkeyd" --state-dir "$work/state" --socket "$work/sock" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do
	[[ -S $work/sock ]] && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
	sleep 0.1
done
rate=$("$top/build/bench/scale_client" "$work/sock" create "$count" p)
kill "$pid"
wait "$pid" || true
pid=
tar -C "$work" -cf "$tarball" state
echo "$count keys made on the host at $rate keys/s"
