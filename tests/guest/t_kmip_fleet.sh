#!/bin/bash
# Issue 14's fleet with a kernel in it: HSMKEY_FLEET_N (6) hsmkeyd daemons
# on one PyKMIP server (loopback, mutual TLS), polling it every 2 s, each
# having adopted the same aes-256-xts key (tests/lib/fleet.sh).  Host 1
# holds hsmkey.ko, as a host's one daemon does, and opens a dm-crypt
# volume on the key through it; hosts 2..N run where no module is seen
# (the module takes one daemon): network and mount namespaces of their
# own.  The reference client (PyKMIP's) revokes the key on the server:
# every host's audit log must record it, and host 1's open volume must
# fail with EIO, within the poll interval + 2 s of the server's
# revocation (issue 14's goal).  The host's test_kmip_fleet.sh runs 20
# daemons at the default 10 s and measures the fleet's request rate;
# bench/fleet.sh 200.
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
chmod 755 "$work"
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/kmip.sh"
fleet_kernel=1
. "$top/tests/lib/fleet.sh"
loop=
json() { /usr/bin/python3 -c "import json, sys; o = json.load(sys.stdin); print($1)"; }
cleanup() {
	[[ -e /dev/mapper/fleet-vol ]] && dmsetup remove --force fleet-vol 2>/dev/null
	fleet_stop
	kmip_server_stop "$work/kmip"
	[[ -n $loop ]] && losetup -d "$loop" 2>/dev/null
	[[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
bail() { echo "Bail out! $*"; exit 1; }

n=${HSMKEY_FLEET_N:-6} poll=2
grep -q '^hsmkey ' /proc/modules || insmod "$HSMKEY_KO" || bail "insmod $HSMKEY_KO"
kmip_certs "$work/kmip" || bail "certificates"
kmip_server_start "$work/kmip" || bail "pykmip-server does not start"
check "$n hosts up, each with the reference client's key adopted" fleet_start "$n" "$poll"
check "host 1 holds the module: the key is loaded in the kernel" \
	test "$(fleet_ctl 1 --json show fleet | json 'o["kernel"]')" = loaded
check "... and only host 1 holds /dev/hsmkey (the others see no module)" \
	test "$(grep -l "holding /dev/hsmkey" "$work"/fleet/h*/log)" = "$work/fleet/h1/log"
check "the key is active on every host" fleet_states active

truncate -s 16M "$work/disk.img"
loop=$(losetup --find --show "$work/disk.img") || bail "losetup"
head -c 4M /dev/urandom > "$work/data"
check "host 1: dm open on the key" quiet fleet_ctl 1 dm open "$loop" fleet-vol --key fleet
check "host 1: a write through the kernel's key" \
	dd if="$work/data" of=/dev/mapper/fleet-vol bs=1M oflag=direct conv=nocreat status=none
echo 3 > /proc/sys/vm/drop_caches
check "... reads back" cmp -n 4194304 "$work/data" /dev/mapper/fleet-vol

section "the server revokes the key"
fleet_revoke $((poll + 10)) /dev/mapper/fleet-vol
fleet_latency
diag "revoked on the server ${asked:-?} ms after it was asked (the reference client's start and call); by its log's time, the hosts' audit logs recorded it after ${median:-?} ms (median), ${max:-?} ms (last host); host 1's volume failed with EIO after ${eio:-?} ms"
missed=$_tap_failed	# before the three checks of the revocation's timing
check "every host revoked it (its audit log says so)" \
	test "$got" = "$n"
check "the last host within the poll interval + 2 s (${max:-more than $((poll + 10))000} ms)" \
	test "${max:-999999}" -le $(((poll + 2) * 1000))
# Counted from the server's revocation: a volume failing before it (a
# negative time) is not the revocation's doing.
eio_in_time() { [[ ${eio:--} =~ ^[0-9]+$ ]] && ((eio <= (poll + 2) * 1000)); }
check "host 1's open volume fails with EIO within the poll interval + 2 s (${eio:-never} ms)" \
	eio_in_time
# A miss leaves its evidence: what the watch saw, each host's daemon's
# last words and the server's (the work directory goes with the test).
if ((_tap_failed > missed)); then
	diag "the watch's figures: $(tr '\n' ' ' < "$work/fleet/latency.txt")"
	for ((i = 1; i <= n; i++)); do
		diag "host $i's log, its end:"
		tail -n 15 "$work/fleet/h$i/log" | sed 's/^/#   /'
	done
	# Where host 1's daemon's threads wait, in the kernel.
	for p in $(pgrep -x hsmkeyd); do
		grep -q "fleet/h1/state" "/proc/$p/cmdline" 2>/dev/null || continue
		for t in /proc/"$p"/task/*; do
			diag "host 1, thread $(cat "$t/comm"): $(cat "$t/wchan"); $(tr '\n' ' ' < "$t/stack")"
		done
	done
	diag "the server's log, its end:"
	tail -n 40 "$work/kmip/server.log" | sed 's/^/#   /'
fi
check "... and stays failed" \
	expect_fail "Input/output error" dd if=/dev/mapper/fleet-vol of=/dev/null bs=4096 count=1 iflag=direct status=none
check "every host shows the key revoked" fleet_states revoked
k=$(fleet_ctl 1 --json show fleet | json 'o["kernel"]')
check "host 1's kernel holds it revoked, or no more (${k:-show failed})" \
	grep -qxE 'revoked|absent' <<< "$k"
check "host 1's audit log names the server's reason" \
	grep -q '"op":"revoke","key":"fleet".*revoked by the key storage: compromised on the KMIP server' \
	"$work/fleet/h1/state/audit.log"
check "... and verifies" quiet fleet_ctl 1 audit verify
tap_done
