#!/bin/bash
# hsmkeyctl over listings larger than one message (PROTO_MAX_MSG): the daemon streams
# "list" and "status" replies in chunks and hsmkeyctl joins them, so
# list, status and --json list work with any number of keys.  Runs the
# real daemon with 1,500 keys (one reply overflowed at about 500).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
n=1500

daemon_start || fail "hsmkeyd starts"
check "$n keys are created" python3 - "$sock" "$n" <<'PY'
import json, socket, sys
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])
    s.send(json.dumps({"v": 1, "op": "create", "name": "scale-%05d" % i,
                       "type": "aes-256-xts"}).encode())
    r = json.loads(s.recv(65536)); assert r["ok"], r
    s.close()
PY
seq -f 'scale-%05g' 0 $((n - 1)) > "$work/names"
check "list exits 0" bash -c "'$top/build/hsmkeyctl' --socket '$sock' list > '$work/list' 2>'$work/err'"
check "list prints one table with every key once" bash -c "
	[[ \$(head -1 '$work/list' | awk '{print \$1}') == NAME ]] &&
	diff <(tail -n +2 '$work/list' | awk '{print \$1}' | sort) '$work/names' >/dev/null &&
	[[ \$(grep -c '^NAME ' '$work/list') == 1 ]]"
check "--json list is one JSON document with every key once" python3 -c '
import json, subprocess, sys
out = subprocess.run(sys.argv[1:] + ["--json", "list"], capture_output=True, text=True, check=True).stdout
d = json.loads(out)
names = [k["name"] for k in d["keys"]]
assert d["ok"] is True and "more" not in d, {k: d[k] for k in d if k != "keys"}
assert sorted(names) == ["scale-%05d" % i for i in range('$n')], len(names)' \
	"$top/build/hsmkeyctl" --socket "$sock"
check "status exits 0 and lists every key once" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' status > '$work/status' &&
	grep -q '^daemon: ' '$work/status' &&
	diff <(grep '^scale-' '$work/status' | awk '{print \$1}' | sort) '$work/names' >/dev/null"
check "--json status is one JSON document with every key and the daemon's fields" python3 -c '
import json, subprocess, sys
d = json.loads(subprocess.run(sys.argv[1:] + ["--json", "status"], capture_output=True, text=True,
                              check=True).stdout)
assert d["ok"] is True and "more" not in d and d["pid"] > 0 and "kernel" in d, d.keys()
assert len(d["keys"]) == len({k["name"] for k in d["keys"]}) == '$n', len(d["keys"])' \
	"$top/build/hsmkeyctl" --socket "$sock"
check "an unprivileged user may list them too" bash -c "
	[[ \$(setpriv --reuid=65534 --regid=65534 --clear-groups '$top/build/hsmkeyctl' --socket '$sock' list |
	     grep -c '^scale-') == $n ]]"
tap_done
