#!/bin/bash
# The spent count of each key version kept on the key server as well as
# here (daemon/kmip/spent.c), so that AES-GCM's limit of 2^32 invocations
# under one key outlives the host.  PyKMIP's server on loopback, KMS keys
# (the daemon's own AES-GCM reserves invocations in blocks of 65,536),
# checked with PyKMIP's own client: a key hsmkeyctl makes carries a count
# of nothing; what this host reserves reaches the server within a poll;
# the server's count set lower is put back, set higher is taken here and
# spent past, set to data not in its form is left alone and said once; a
# host that replaces this one (a new state directory) refuses to adopt
# the key's object while its count does not read, then goes on from the
# server's count; the server saying all 2^32 are spent stops encryption;
# a key another tool made (PyKMIP cannot add attributes) keeps its count
# here, said once.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/kmip.sh"
at_exit 'kmip_server_stop "$work/kmip"'

# reserved NAME: what version 1 of KMS key NAME has reserved, as hsmkeyctl shows it.
reserved() {
	ctl --json show "$1" | /usr/bin/python3 -c 'import json, sys
print([v for v in json.load(sys.stdin)["version_list"] if v["version"] == 1][0]["reserved"])'
}
# until_spent UID DATA: the server's count on object UID is DATA within 5 s.
until_spent() {
	local i got
	for ((i = 0; i < 50; i++)); do
		got=$(kmip_ref spent "$1") && [[ $got == "$2" ]] && return 0
		sleep 0.1
	done
	echo "# the server's count: $got"
	return 1
}
# until_reserved NAME N: key NAME's version 1 shows N reserved within 5 s.
until_reserved() {
	local i got
	for ((i = 0; i < 50; i++)); do
		got=$(reserved "$1") && [[ $got == "$2" ]] && return 0
		sleep 0.1
	done
	echo "# reserved here: $got"
	return 1
}
encrypt() { ctl encrypt "$1" --context purpose=test < "$work/pt" > /dev/null; }

kmip_certs "$work/kmip" && kmip_server_start "$work/kmip" ||
	{ fail "a KMIP server (pykmip-server) on loopback"; tap_done; }
kmip_conf "$work/kmip" "$work/hsmkeyd.conf" "kmip_timeout = 3s" "kmip_poll_interval = 1s"
daemon_conf=$work/hsmkeyd.conf
daemon_start || { fail "hsmkeyd starts with backend = kmip"; tap_done; }
head -c 100 /dev/urandom > "$work/pt"

section "what this host spends reaches the server"
check "create km (kms-aes-256)" quiet ctl create km --type kms-aes-256
ukm=$(kmip_ref locate km)
check "its object on the server has a spent count of nothing" \
	test "$(kmip_ref spent "$ukm")" = "requests=0 bytes=0"
quiet ctl policy km --grant encrypt:root
check "an encryption" encrypt km
check "... reserves 65,536 invocations here" test "$(reserved km)" = 65536
check "... and the server has that count within a poll" until_spent "$ukm" "requests=65536 bytes=0"

section "the server's count never goes down; a larger one is taken"
check "the reference client sets it lower on the server (5)" \
	kmip_ref set-spent "$ukm" "requests=5 bytes=0"
check "... put back within a poll" until_spent "$ukm" "requests=65536 bytes=0"
check "... and still 65,536 here" test "$(reserved km)" = 65536
check "the reference client sets it higher (4,294,000,000)" \
	kmip_ref set-spent "$ukm" "requests=4294000000 bytes=0"
check "... taken here within a poll" until_reserved km 4294000000
check "the next encryption" encrypt km
check "... reserves past it (4,294,065,536), not within the block reserved before" \
	test "$(reserved km)" = 4294065536
check "... and the server has that within a poll" until_spent "$ukm" "requests=4294065536 bytes=0"
check "the object's other instance, its version (index 1), is untouched by these writes" \
	test "$(kmip_ref version "$ukm")" = "version=1"
check "the reference client writes data not in its form" \
	kmip_ref set-spent "$ukm" "requests=junk bytes=0"
sleep 2.5
check "... neither taken nor written over (after two polls)" \
	test "$(kmip_ref spent "$ukm")" = "requests=junk bytes=0"
check "... still 4,294,065,536 here" test "$(reserved km)" = 4294065536
check "... and the daemon said so once" test "$(grep -c "spent count on the KMIP server (object $ukm) does not read" "$work/hsmkeyd.log")" = 1

section "the count outlives the host"
daemon_stop
daemon_state=$work/state-new
check "a new host (another state directory) starts" daemon_start
check "adopting km's object while its count does not read: refused" \
	expect_fail "its spent count on .* does not read" \
	ctl import kn --type kms-aes-256 --from "kmip:$ukm"
check "... and no kn made" expect_fail "no key" ctl show kn
check "the count mended on the server (4,294,065,536)" \
	kmip_ref set-spent "$ukm" "requests=4294065536 bytes=0"
check "it adopts km's object (kmip:$ukm) as kn" quiet ctl import kn --type kms-aes-256 --from "kmip:$ukm"
check "... with the server's count (4,294,065,536)" test "$(reserved kn)" = 4294065536
quiet ctl policy kn --grant encrypt:root
check "its first encryption" encrypt kn
check "... reserves past it (4,294,131,072)" test "$(reserved kn)" = 4294131072
check "... and the server has that within a poll" until_spent "$ukm" "requests=4294131072 bytes=0"
check "the reference client says all 2^32 are spent" \
	kmip_ref set-spent "$ukm" "requests=4294967296 bytes=0"
check "... taken here" until_reserved kn 4294967296
check "... and the next encryption is refused: the key must be rotated" \
	expect_fail "has encrypted 2^32 times" encrypt kn

section "a key another tool made"
uref=$(kmip_ref create theirs)
check "adopt an AES key the reference client made (ka, kmip:$uref)" \
	quiet ctl import ka --type kms-aes-256 --from "kmip:$uref"
quiet ctl policy ka --grant encrypt:root
check "an encryption with it" encrypt ka
sleep 3
check "PyKMIP cannot add the count to its object: none there" test "$(kmip_ref spent "$uref")" = none
check "... it is kept here (65,536)" test "$(reserved ka)" = 65536
check "... and the daemon said so once, over several polls" \
	test "$(grep -c "cannot add attributes" "$work/hsmkeyd.log")" = 1
tap_done
