#!/bin/bash
# Listings stream (proto.h): with 3,000 keys, list and status arrive as
# several messages, each within PROTO_MAX_MSG, all but the last marked
# "more", and together they hold every key once, in name order.  (A single
# reply was capped at 64 KiB: list failed somewhere past 400 keys.)
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
N=3000

daemon_start || { fail "hsmkeyd starts"; tap_done; }
check "$N keys created over one connection" python3 - "$sock" "$N" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
for i in range(int(sys.argv[2])):
    s.send(json.dumps({"v": 1, "op": "create", "name": "k%05d" % i,
                       "type": "aes-256-xts"}).encode())
    r = json.loads(s.recv(65536))
    assert r["ok"], r
PY
# stream OP: read one streamed reply; print messages, their largest size, keys.
stream() {
	python3 - "$sock" "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(json.dumps({"v": 1, "op": sys.argv[2]}).encode())
keys, n, big = [], 0, 0
while True:
    m = s.recv(1 << 20)
    n += 1
    big = max(big, len(m))
    r = json.loads(m)
    assert r["ok"], r
    keys += [k["name"] for k in r.get("keys", [])]
    if not r.get("more"):
        break
final = r
print(n, big, len(keys), int(keys == sorted(set(keys))),
      int("daemon_version" in final if sys.argv[2] == "status" else True))
PY
}
for op in list status; do
	read -r msgs big nkeys ordered final < <(stream $op)
	diag "$op: $msgs messages, the largest $big bytes, $nkeys keys"
	check "$op arrives in several messages" test "${msgs:-0}" -gt 1
	check "$op: each within PROTO_MAX_MSG (65536)" test "${big:-99999}" -le 65536
	check "$op: every key once, in name order" test "${nkeys:-0}" -eq $N -a "${ordered:-0}" -eq 1
	check "$op: the last message carries the other fields" test "${final:-0}" -eq 1
done
check "a reader that takes nothing does not stall the daemon" python3 - "$sock" <<'PY'
import json, socket, sys, time, subprocess
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(json.dumps({"v": 1, "op": "list"}).encode())
t = time.time()
c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
c.connect(sys.argv[1])
c.send(json.dumps({"v": 1, "op": "show", "name": "k00001"}).encode())
assert json.loads(c.recv(65536))["ok"]
assert time.time() - t < 2
PY
daemon_stop
tap_done
