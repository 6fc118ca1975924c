#!/bin/bash
# The attacker with CAP_NET_ADMIN and CAP_NET_RAW in the initial network
# namespace (a --net=host container): it makes an nlmon device and captures
# every netlink message while hsmkeyd provisions keys, rotates one, and
# provisions them all again after a module reload and on SIGHUP.  Neither a
# verifier nor any 16 bytes of material may be in the capture.  Positive
# controls: the key ids are (the tap saw the provisioning), and a verifier
# that some process does put on netlink is found.
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
nlcap=$top/tests/guest/nlcap.py
pcap=$work/nlmon.cap
# Root in a container that kept only these two capabilities.
hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }
attacker() { setpriv --bounding-set=-all,+net_admin,+net_raw --inh-caps=-all "$@"; }

grep -q '^hsmkey ' /proc/modules || insmod "$HSMKEY_KO"
modprobe -q nlmon 2>/dev/null
check "the attacker makes an nlmon tap" attacker ip link add nlmon0 type nlmon
check "and brings it up" attacker ip link set nlmon0 up
attacker "$nlcap" capture nlmon0 "$pcap" > "$work/cap.out" 2>&1 &
cap_pid=$!
for _ in $(seq 100); do grep -q capturing "$work/cap.out" && break; sleep 0.05; done
check "the attacker captures" grep -q capturing "$work/cap.out"

daemon_start || { fail "hsmkeyd starts"; tap_done; }
make_xts_key "$work/m1"
head -c 16 /dev/urandom > "$work/m2"
make_xts_key "$work/m3"
check "import an XTS key with known material" quiet ctl import k1 --type aes-256-xts --key-file "$work/m1"
check "import a GCM key with known material" quiet ctl import k2 --type aes-128-gcm --key-file "$work/m2"
check "create a key" quiet ctl create k3 --type aes-256-cbc
check "rotate k1 to new known material" quiet ctl rotate k1 --key-file "$work/m3"
kill -HUP "$daemon_pid"; sleep 1
daemon_stop
check "reload the module" eval 'rmmod hsmkey && insmod "$HSMKEY_KO"'
daemon_start || fail "hsmkeyd starts again"
kill -HUP "$daemon_pid"; sleep 1
check "the daemon provisioned every version again" \
	test "$(ctl list | grep -cE ' loaded')" -ge 3
tokens=()
for t in "k1 --version 1" "k1 --version 2" "k2" "k3"; do
	# shellcheck disable=SC2086
	tokens+=("$(ctl token $t)")
done
daemon_stop

# The positive control: a verifier put on netlink by a process is seen.
python3 - "${tokens[3]:64:64}" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)  # NETLINK_GENERIC
payload = bytes([3, 1, 0, 0]) + struct.pack("<HH", 36, 2) + bytes.fromhex(sys.argv[1])
s.sendto(struct.pack("<IHHII", 16 + len(payload), 16, 1, 1, 0) + payload, (0, 0))
PY
sleep 0.5
kill "$cap_pid"; wait "$cap_pid" 2>/dev/null
attacker ip link del nlmon0
diag "$("$nlcap" count "$pcap") frames captured"

ids=() verifiers=()
for t in "${tokens[@]}"; do ids+=("${t:16:32}"); verifiers+=("${t:64:64}"); done
read -r -a seen <<<"$("$nlcap" scan "$pcap" "${ids[@]}" | tr '\n' ' ')"
check "control: the tap saw every key id provisioned" \
	test "${seen[*]}" = "found found found found"
read -r -a seen <<<"$("$nlcap" scan "$pcap" "${verifiers[3]}" | tr '\n' ' ')"
check "control: a verifier sent on netlink in the clear is found" test "${seen[*]}" = found
# The control message went out after every provisioning: scan without it.
python3 - "$pcap" "$work/hsmkeyd.cap" "${verifiers[3]}" <<'PY'
import struct, sys
data, out = open(sys.argv[1], "rb").read(), open(sys.argv[2], "wb")
needle, off = bytes.fromhex(sys.argv[3]), 0
while off + 4 <= len(data):
    (n,) = struct.unpack_from("<I", data, off)
    frame = data[off:off + 4 + n]
    if needle not in frame:
        out.write(frame)
    off += 4 + n
PY
read -r -a seen <<<"$("$nlcap" scan "$work/hsmkeyd.cap" "${verifiers[@]}" | tr '\n' ' ')"
check "no verifier of any version crossed netlink" \
	test "${seen[*]}" = "absent absent absent absent"
read -r -a seen <<<"$("$nlcap" scan "$work/hsmkeyd.cap" \
	"$(hex "$work/m1")" "$(hex "$work/m2")" "$(hex "$work/m3")" | tr '\n' ' ')"
check "no 16-byte window of any material crossed netlink" \
	test "${seen[*]}" = "absent absent absent"
tap_done
