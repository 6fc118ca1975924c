#!/bin/bash
# Every request field is type-checked before a handler reads it: a string
# where a boolean belongs is refused, not read as true; a uid given as a
# name is digits only (no sign, no blanks).  Requests are sent raw, as an
# attacker or a buggy client would.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

# raw JSON [FILE]: send one request (with FILE's descriptor), print the reply.
raw() {
	python3 - "$sock" "$1" "${2:-}" <<'PY'
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
anc = []
if sys.argv[3]:
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [os.open(sys.argv[3], os.O_RDONLY)]))]
s.sendmsg([sys.argv[2].encode()], anc)
print(s.recv(65536).decode())
PY
}
# refused REPLY TEXT: the reply is an error naming TEXT.
refused() { grep -q '"ok":false' <<< "$1" && grep -qF -- "$2" <<< "$1"; }

daemon_start || { fail "hsmkeyd starts"; tap_done; }
ctl create k --type aes-256-xts >/dev/null
make_xts_key "$work/raw.key"

r=$(raw '{"v":1,"op":"policy","name":"k","load_at_start":"no"}')
check "load_at_start \"no\" is refused as not a boolean" refused "$r" "'load_at_start' must be true or false"
check "... and the key still loads at start" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' --json show k | grep -q load_at_start.*false"
r=$(raw '{"v":1,"op":"import","name":"w","type":"aes-256-xts","wrapped":"no"}' "$work/raw.key")
check "wrapped \"no\" is refused as not a boolean (not read as wrapped)" refused "$r" "'wrapped' must be true or false"
r=$(raw '{"v":1,"op":"import","name":"w","type":"aes-256-xts","wrapped":0}' "$work/raw.key")
check "wrapped 0 is refused too" refused "$r" "'wrapped' must be true or false"
r=$(raw '{"v":1,"op":"policy","name":"k","max_bytes":"100"}')
check "a number given as a string is refused" refused "$r" "'max_bytes' must be a number"
r=$(raw '{"v":1,"op":"policy","name":"k","users":[" 0"]}')
check "a uid with a blank is not a number" refused "$r" "unknown user ' 0'"
r=$(raw '{"v":1,"op":"policy","name":"k","users":["+0"]}')
check "a uid with a sign is not a number" refused "$r" "unknown user '+0'"
r=$(raw '{"v":1,"op":"policy","name":"k","users":[0]}')
check "a user given as a JSON number is refused" refused "$r" "'users' must be a list of names"
r=$(raw '{"v":1,"op":"status"}' "$work/raw.key")
check "a descriptor passed with a request that takes none is refused" refused "$r" "takes no descriptor"
r=$(raw '{"v":1,"op":"policy","name":"k","users":["0"],"load_at_start":false}')
check "well-typed fields are accepted" grep -q '"ok":true' <<< "$r"
daemon_stop
tap_done
