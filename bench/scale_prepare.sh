#!/bin/bash
# The scale workload's keystore, made before the guest boots: COUNT keys
# created through a host hsmkeyd's control socket (no module on the host:
# nothing is provisioned), packed into TARBALL for bench/run.sh to unpack
# in the guest.  The guest under TCG creates keys about a hundred times
# slower than the host (each create is a dozen fsyncs and ~80 system
# calls), so 100,000 made there would take an hour; the guest still
# measures the create rate itself, on the keys it makes on top of these.
#
# With --pkcs11 the keys are made in a SoftHSM token of their own
# (bench/pkcs11.sh pkcs11_token; the pkcs11 workload): TARBALL then holds
# the token's directory (pkcs11-token) beside the state.
#
#   scale_prepare.sh [--pkcs11] COUNT TARBALL
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
pkcs11=
[[ $1 == --pkcs11 ]] && { pkcs11=1; shift; }
count=$1 tarball=$2
# In memory: the host disk's fsync would make this as slow as the guest.
work=$(mktemp -d /dev/shm/hsmkey-scale.XXXXXX)
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
args=() parts=(state)
if [[ $pkcs11 ]]; then
	. "$top/bench/pkcs11.sh"
	pkcs11_token "$work"
	export SOFTHSM2_CONF=$pkcs11_dir/softhsm2.conf
	softhsm_conf "$work/hsmkeyd.conf" bench "$pkcs11_dir/pin"
	args=(--config "$work/hsmkeyd.conf") parts=(state pkcs11-token)
fi
"$top/build/hsmkeyd" "${args[@]}" --state-dir "$work/state" --socket "$work/sock" 2>"$work/log" &
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
tar -C "$work" -cf "$tarball" "${parts[@]}"
echo "$count keys made on the host at $rate keys/s"
