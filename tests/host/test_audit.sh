#!/bin/bash
# The audit log: a record for each request (who, what, result), hash-chained
# and MACed, with signed checkpoints; "hsmkeyctl audit verify" accepts it and
# names the record at fault after each kind of tampering (a changed field, a
# deleted, reordered or inserted record, another keystore's log); writes
# that fail refuse changes (fail closed) unless configured otherwise.
# Truncation and torn lines: tests/host/test_audit_anchor.sh.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
hctl=$top/build/hsmkeyctl
log=$work/state/audit.log
verify_fails() {	# PATTERN: verify refuses, naming the fault
	daemon_start || return 1
	"$hctl" --socket "$sock" audit verify >"$work/v.out" 2>"$work/v.err"
	local rc=$?
	daemon_stop
	[[ $rc == 1 ]] && grep -qE "$1" "$work/v.err" || { sed 's/^/# /' "$work/v.err"; return 1; }
}

daemon_start || { fail "hsmkeyd starts"; tap_done; }
ctl create a --type aes-256-xts >/dev/null
ctl create b --type aes-128-cbc >/dev/null
ctl policy b --max-requests 5 >/dev/null
ctl revoke a >/dev/null
ctl create a --type aes-256-xts >/dev/null 2>&1	# refused: exists
setpriv --reuid=65534 --regid=65534 --clear-groups "$hctl" --socket "$sock" create c --type aes-256-xts >/dev/null 2>&1
# Requests in a row on one connection, and another client's: each record
# names its own client (uid, pid and name), however the daemon serves them.
cat > "$work/peer.py" <<'PY'
import json, os, socket, sys
open("/proc/self/comm", "w").write(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
for _ in range(int(sys.argv[3])):
    s.send(json.dumps({"v": 1, "op": "random", "bytes": 16}).encode())
    assert s.recv(65536).startswith(b'{"v":1,"ok":true')
print(os.getpid())
PY
chmod 644 "$work/peer.py"
pid_one=$(/usr/bin/python3 "$work/peer.py" "$sock" peer-one 3)
pid_two=$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$work/peer.py" "$sock" peer-two 2)
export pid_one pid_two
check "audit verify accepts the log" bash -c "'$hctl' --socket '$sock' audit verify > '$work/ok.out'"
diag "$(head -1 "$work/ok.out")"
check "it counts the records and a signed checkpoint" grep -qE '^audit log verified: [0-9]+ records, [1-9][0-9]* signed checkpoints' "$work/ok.out"
daemon_stop
check "each line is a MAC and a JSON record, each naming its client" python3 - "$log" <<'PY'
import json, os, sys
lines = open(sys.argv[1]).read().splitlines()
recs = [json.loads(l[65:]) for l in lines]
assert all(len(l) > 65 and l[64] == " " for l in lines)
assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1)), [r["seq"] for r in recs]
ops = [(r["op"], r.get("key"), r["result"]) for r in recs if r["op"] not in ("checkpoint",)]
assert ("request", "a", "ok") in ops and ("create", "a", "ok") in ops, ops
assert ("revoke", "a", "ok") in ops and ("policy", "b", "ok") in ops, ops
assert ("create", "a", "error") in ops, ops
assert ("create", "c", "error") in ops, ops	# the refused unprivileged request
r = [r for r in recs if r["op"] == "create" and r.get("key") == "c"][0]
assert r["uid"] == 65534 and "needs root" in r["detail"] and r["comm"], r
assert recs[0]["op"] == "checkpoint" and recs[-1]["op"] == "checkpoint", (recs[0], recs[-1])
rnd = [(r["uid"], r["pid"], r["comm"]) for r in recs if r["op"] == "random"]
one, two = int(os.environ["pid_one"]), int(os.environ["pid_two"])
assert rnd == [(0, one, "peer-one")] * 3 + [(65534, two, "peer-two")] * 2, rnd
PY
daemon_start
token_b=$(ctl token b)
daemon_stop
check "no token in the log" bash -c "[[ -n '$token_b' ]] && ! grep -qi '$token_b' '$log'"
check "outside checkpoints, no hex string longer than a chain hash (material, tokens)" bash -c "
	! grep -v '\"op\":\"checkpoint\"' '$log' | cut -c 66- | grep -qiE '[0-9a-f]{65}'"
cp "$log" "$work/good.log"
# The whole state directory: the keystore keeps the log's anchor, which a
# log copied back alone (a truncation) no longer matches.
cp -a "$work/state" "$work/good-state"
restore() { rm -rf "$work/state"; cp -a "$work/good-state" "$work/state"; }

sed -i '3s/"uid":0/"uid":1/' "$log"
check "a changed field is found, by line" verify_fails 'line 3 \(record 3\): its MAC does not match'
restore; sed -i '4d' "$log"
check "a deleted record is found" verify_fails 'line 4: record 5 where 4 was expected'
restore; python3 -c '
import sys
l = open(sys.argv[1]).readlines(); l[3], l[4] = l[4], l[3]; open(sys.argv[1], "w").writelines(l)' "$log"
check "reordered records are found" verify_fails 'line 4: record 5 where 4 was expected'
restore; sed -i '5{h;s/"seq":5/"seq":6/;x};5G' "$log"
check "an inserted (copied, renumbered) record is found" verify_fails 'line 6 \(record 6\): its MAC does not match'
restore
# A well-formed log of another keystore (its own keys) does not verify here.
other=$work/other
( mkdir -p "$other"; sock=$other/s daemon_state=$other/state daemon_log=/dev/null
  daemon_start && ctl create z --type aes-256-xts >/dev/null; daemon_stop )
cp "$other/state/audit.log" "$log"
check "another keystore's log is refused" verify_fails 'line 1 \(record 1\): its MAC does not match'
restore
daemon_start && check "restored: verify accepts it" quiet ctl audit verify; daemon_stop

# Fail closed: a log that cannot grow refuses changes, and says so.
filled() {
	local i
	for i in $(seq 200); do
		ctl create "f$i" --type aes-256-xts >/dev/null 2>"$work/f.err" || { echo "$i"; return; }
	done
	echo 0
}
start_limited() {	# [CONFIG]: the daemon with a 24 KiB file size limit
	daemon_wrap="prlimit --fsize=24576" daemon_conf=${1:-} daemon_start
}
start_limited || fail "hsmkeyd starts under a file size limit"
n=$(filled)
check "once the log cannot grow, changes are refused ($n creates in)" \
	grep -q 'the audit log cannot be written, so changes are refused' "$work/f.err"
check "and the refused change did not happen" bash -c "! '$hctl' --socket '$sock' list | grep -q '^f$n '"
check "reading still works" quiet ctl list
daemon_stop
printf 'audit_fail_closed = no\n' > "$work/open.conf"
start_limited "$work/open.conf" || fail "hsmkeyd starts with audit_fail_closed = no"
check "with audit_fail_closed = no, changes go on" quiet ctl create open1 --type aes-256-xts
check "and the log says what was not recorded" grep -q 'continuing: audit_fail_closed = no' "$work/hsmkeyd.log"
daemon_stop
verify_restarted() {	# a fresh daemon on the state accepts the log
	daemon_log=/dev/null daemon_start || return 1
	quiet ctl audit verify; local rc=$?
	daemon_stop
	return $rc
}
check "a failed write left no partial record: the log still verifies" verify_restarted
tap_done
