#!/bin/bash
# The KMIP backend with the kernel: keys a KMIP server (PyKMIP's, on
# loopback, mutual TLS) holds, provisioned into hsmkey.ko by hsmkeyd, and
# checked against the reference client (PyKMIP's own):
#  - a key hsmkeyctl creates on the server: the reference client fetches
#    its raw bytes, and stock dm-crypt (cryptsetup --type plain,
#    aes-xts-plain64) on them reads what hsmkey wrote, and the other way;
#  - a key the reference client registers, adopted with --from kmip:UID:
#    the same, both ways;
#  - a fresh kernel (the module reloaded) and a restarted daemon: the keys
#    are fetched again from the server at start and open the volume;
#  - the server down at start: hsmkeyd starts, says the backend is down,
#    keys loaded before keep working; back, and it loads them again;
#  - a key revoked on the server by the reference client: within the poll
#    interval (2 s here) and a little more, the open dm-crypt volume on it
#    fails with EIO, and the audit log says why;
#  - TLS served (tls serve, hsmkey.ko with ktls=1) with an identity key
#    that is the server's private key object: openssl s_client verifies
#    the chain to a test CA and gets the file byte for byte; revoked on the
#    server, the key serves no more handshakes.
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
chmod 755 "$work"
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/kmip.sh"
loop=
hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }
json() { /usr/bin/python3 -c "import json, sys; o = json.load(sys.stdin); print($1)"; }
cleanup() {
	for m in hsm-vol stock-vol; do
		[[ -e /dev/mapper/$m ]] && dmsetup remove --force "$m" 2>/dev/null
	done
	daemon_stop
	kmip_server_stop "$work/kmip"
	[[ -n $loop ]] && losetup -d "$loop" 2>/dev/null
	[[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
bail() { echo "Bail out! $*"; sed 's/^/# /' "$work/hsmkeyd.log" 2>/dev/null | tail -n 20; exit 1; }
stop() { daemon_stop; rm -f "$sock"; }

grep -q '^hsmkey ' /proc/modules || insmod "$HSMKEY_KO" || bail "insmod $HSMKEY_KO"
kmip_certs "$work/kmip" || bail "certificates"
kmip_server_start "$work/kmip" || bail "pykmip-server does not start"
port=$KMIP_PORT
ref() { kmip_ref "$@"; }
kmip_conf "$work/kmip" "$work/hsmkeyd.conf" "kmip_timeout = 5s" "kmip_poll_interval = 2s"
daemon_conf=$work/hsmkeyd.conf
daemon_start || bail "hsmkeyd does not start with backend = kmip"
truncate -s 32M "$work/disk.img"
loop=$(losetup --find --show "$work/disk.img") || bail "losetup"
head -c 8M /dev/urandom > "$work/data1"
head -c 8M /dev/urandom > "$work/data2"

# both_ways KEY RAWFILE: hsmkey writes, stock dm-crypt on the raw key reads;
# stock writes, hsmkey reads.
both_ways() {
	check "$1: hsmkeyctl dm open" quiet ctl dm open "$loop" hsm-vol --key "$1"
	check "$1: write through hsmkey" \
		dd if="$work/data1" of=/dev/mapper/hsm-vol bs=1M oflag=direct conv=nocreat status=none
	check "$1: dm close" quiet ctl dm close hsm-vol
	check "$1: stock cryptsetup open with the reference client's raw key" cryptsetup open \
		--type plain --cipher aes-xts-plain64 --key-size 512 --key-file "$2" "$loop" stock-vol
	echo 3 > /proc/sys/vm/drop_caches
	check "$1: stock dm-crypt reads what hsmkey wrote" \
		cmp -n 8388608 "$work/data1" /dev/mapper/stock-vol
	check "$1: write through stock dm-crypt" \
		dd if="$work/data2" of=/dev/mapper/stock-vol bs=1M oflag=direct conv=nocreat status=none
	check "$1: cryptsetup close" cryptsetup close stock-vol
	check "$1: hsmkeyctl dm open again" quiet ctl dm open "$loop" hsm-vol --key "$1"
	echo 3 > /proc/sys/vm/drop_caches
	check "$1: hsmkey reads what stock dm-crypt wrote" \
		cmp -n 8388608 "$work/data2" /dev/mapper/hsm-vol
	check "$1: dm close" quiet ctl dm close hsm-vol
}

section "1. a key hsmkeyctl creates on the server"
check "create made (aes-256-xts)" quiet ctl create made --type aes-256-xts
check "the kernel holds it" test "$(ctl --json show made | json 'o["kernel"]')" = loaded
uid=$(ref locate made)
ref get "$uid" | xxd -r -p > "$work/made.key"
check "the reference client fetches it: 64 bytes" test "$(stat -c %s "$work/made.key")" = 64
both_ways made "$work/made.key"

section "2. a key the reference client registers, adopted"
make_xts_key "$work/theirs.key"
ruid=$(ref register vendor-vol "$(hexof "$work/theirs.key")")
check "adopt kmip:$ruid" quiet ctl import vol --type aes-256-xts --from "kmip:$ruid"
both_ways vol "$work/theirs.key"

section "3. a fresh kernel and a restarted daemon"
stop
rmmod hsmkey && insmod "$HSMKEY_KO" || bail "reloading the module"
daemon_start || bail "hsmkeyd does not start again"
for _ in $(seq 100); do
	[[ $(ctl --json show vol | json 'o["kernel"]') == loaded ]] && break
	sleep 0.1
done
check "at start, the keys are fetched from the server into the new kernel" \
	test "$(ctl --json show vol | json 'o["kernel"]')" = loaded -a \
	"$(ctl --json show made | json 'o["kernel"]')" = loaded
check "vol opens and reads what stock dm-crypt wrote" bash -c \
	"'$top/build/hsmkeyctl' --socket '$sock' dm open '$loop' hsm-vol --key vol >/dev/null &&
	 echo 3 > /proc/sys/vm/drop_caches && cmp -n 8388608 '$work/data2' /dev/mapper/hsm-vol"

gets() { grep -c "Processing operation: Get$" "$work/kmip/server.log"; }
converged() { grep -c "converged the kernel with the keystore" "$work/hsmkeyd.log"; }
g0=$(gets)
c0=$(converged)
kill -HUP "$daemon_pid"
for _ in $(seq 100); do (($(converged) > c0)) && break; sleep 0.1; done
check "SIGHUP converges (the journal says so)" test "$(converged)" -gt "$c0"
check "... without fetching a key the kernel holds (no Get on the server: $g0 before, $(gets) after)" \
	test "$(gets)" = "$g0"

section "4. the server down, at start too, then back"
kmip_server_stop "$work/kmip"
echo 3 > /proc/sys/vm/drop_caches
check "the server down: the open volume keeps working" \
	cmp -n 8388608 "$work/data2" /dev/mapper/hsm-vol
check "a key that needs the server: refused, saying so" \
	expect_fail "KMIP server is unreachable" ctl create other --type aes-256-xts
stop
daemon_start || bail "hsmkeyd does not start with the server down"
check "hsmkeyd starts with the server down" quiet ctl status
check "... and still serves the keys the kernel holds" \
	test "$(ctl --json show vol | json 'o["kernel"]')" = loaded
echo 3 > /proc/sys/vm/drop_caches
check "the open volume still reads back" cmp -n 8388608 "$work/data2" /dev/mapper/hsm-vol
check "loading a key anew needs the server: refused, saying so" \
	expect_fail "KMIP server is unreachable" ctl load made
check "status says the backend is down" bash -c "'$top/build/hsmkeyctl' --socket '$sock' status | grep -q 'cannot connect'"
KMIP_PORT_WANTED=$port kmip_server_start "$work/kmip" || bail "the server does not come back"
check "the server back: a key loads again" quiet ctl load made
check "... and a new key is made" quiet ctl create other --type aes-256-xts
check "dm close" quiet ctl dm close hsm-vol

section "5. revoked on the server: the kernel follows"
check "dm open on other" quiet ctl dm open "$loop" hsm-vol --key other
check "it reads" dd if=/dev/mapper/hsm-vol of=/dev/null bs=4096 count=16 iflag=direct status=none
ouid=$(ref locate other)
ref revoke "$ouid"
t0=$(date +%s%N)	# from the server's answer to the revocation
eio=
for _ in $(seq 150); do
	if ! dd if=/dev/mapper/hsm-vol of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null; then
		eio=$((($(date +%s%N) - t0) / 1000000))
		break
	fi
	sleep 0.1
done
diag "revoked on the server: reads failed ${eio:-more than 15000} ms after it answered (poll interval 2 s: each wait 1.6 to 2 s)"
check "the open volume fails with EIO within 15 s of the server's revocation" test -n "$eio"
check "hsmkeyctl shows other revoked" test "$(ctl --json show other | json 'o["state"]')" = revoked
check "the audit log records the server's revocation" \
	grep -q '"key":"other".*revoked by the key storage: compromised on the KMIP server' "$work/state/audit.log"
dmsetup remove --force hsm-vol 2>/dev/null
section "6. TLS with an identity key the server holds"
# serve PORT: hsmkeyctl tls serve of $work/data1 with key web, for one client, as nobody.
serve() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$top/build/hsmkeyctl" --socket "$sock" \
		tls serve "$1" --key web --cert "$work/web.crt" --count 1 --file "$work/data1" \
		2> "$work/serve.err" &
	served=$!
	wait_port "$1" || echo "# tls serve did not listen: $(cat "$work/serve.err")"
}
s_client() {
	timeout 60 openssl s_client -connect "127.0.0.1:$1" -servername www.test \
		-verify_hostname www.test -verify_return_error -CAfile "$work/ca.crt" -quiet
}
stop
rmmod hsmkey
check "hsmkey.ko again, with ktls=1" insmod "$HSMKEY_KO" ktls=1
daemon_start || bail "hsmkeyd does not start again"
check "create web (ecdsa-p256): a private key object on the server" quiet ctl create web --type ecdsa-p256
check "... of the right kind" \
	test "$(ref attrs "$(ref locate web)")" = "type=PRIVATE_KEY alg=ECDSA bits=256 state=ACTIVE name=web"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" \
	-out "$work/ca.crt" -subj /CN=hsmkey-test-ca -days 2 2>/dev/null
issue_web() {
	ctl csr web --subject /CN=www.test --dns www.test > "$work/web.csr" &&
		openssl x509 -req -in "$work/web.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
			-copy_extensions copy -days 2 -out "$work/web.crt" 2>/dev/null
}
check "its certificate, from its CSR, by a test CA" issue_web
quiet ctl policy web --users nobody
tport=$(kmip_free_port)
serve "$tport"
s_client "$tport" < /dev/null > "$work/got" 2> "$work/sc.err"
check "openssl s_client verifies the chain to the CA and gets the file whole" \
	cmp "$work/data1" "$work/got"
check "... tls serve ended well" wait "$served"
# web's scalar as a BIGNUM holds it (64-bit limbs least significant first:
# the big-endian bytes reversed), from the object the reference client fetches.
kmip_ref_bytes "$(ref locate web)" "$work/web.der"
d_mem=$(/usr/bin/python3 - "$work/web.der" <<'PY'
import sys
from cryptography.hazmat.primitives.serialization import load_der_private_key
d = load_der_private_key(open(sys.argv[1], "rb").read(), None).private_numbers().private_value
print(d.to_bytes(32, "big")[::-1].hex())
PY
)
check "the TLS context kept for web holds its scalar in hsmkeyd (the scan's control)" \
	quiet "$top/build/tests/memscan" "$daemon_pid" "$d_mem" --expect-some
ref revoke "$(ref locate web)"
for _ in $(seq 100); do
	[[ $(ctl --json show web | json 'o["state"]') == revoked ]] && break
	sleep 0.2
done
check "revoked on the server: web is revoked here" test "$(ctl --json show web | json 'o["state"]')" = revoked
check "... and hsmkeyd no longer holds its scalar (the kept context went with it)" \
	quiet "$top/build/tests/memscan" "$daemon_pid" "$d_mem" --expect-none
serve "$tport"
s_client "$tport" < /dev/null > "$work/got2" 2> "$work/sc2.err"
check "... and no handshake completes with it" test ! -s "$work/got2"
wait "$served"
check "... tls serve says the key is revoked" grep -q "revoked" "$work/serve.err"
check "no key material in hsmkeyd's log" bash -c "! grep -qiE '$(hexof "$work/made.key" | cut -c1-32)|$(hexof "$work/theirs.key" | cut -c1-32)' '$work/hsmkeyd.log'"
tap_done
