#!/bin/bash
# The audit log rotates at audit_rotate_size with the hash chain carried
# across files, and "audit verify" spans them all: a removed middle file,
# an altered or renamed rotated file are found.  A full disk never refuses
# a revoke: it proceeds, and its records are written, first, once there is
# space again.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
state=$work/state
verify() { "$top/build/hsmkeyctl" --socket "$sock" audit verify >"$work/v.out" 2>"$work/v.err"; }
verify_fails() {	# PATTERN: verify refuses, naming the fault
	daemon_start || return 1
	verify; local rc=$?
	daemon_stop
	[[ $rc == 1 ]] && grep -qE "$1" "$work/v.err" || { sed 's/^/# /' "$work/v.out" "$work/v.err"; return 1; }
}
restore() { rm -rf "$state"; cp -a "$work/good-state" "$state"; }
rotated() { ls "$state" | grep -E '^audit\.log\.[0-9]{20}$'; }

printf 'audit_rotate_size = 2K\n' > "$work/rotate.conf"
daemon_conf=$work/rotate.conf
daemon_start || { fail "hsmkeyd starts"; tap_done; }
for i in $(seq 24); do ctl create "k$i" --type aes-256-xts >/dev/null; done
check "the rotated log verifies as one chain" verify
diag "$(head -1 "$work/v.out")"
daemon_stop
n=$(rotated | wc -l)
check "the log was rotated into several files ($n)" test "$n" -ge 4
check "no file grew much past the limit" bash -c "! find '$state' -name 'audit.log*' -size +3k | grep -q ."
check "each file is named by its first record; each opens chained to the one before" python3 - "$state" <<'PY'
import json, os, re, sys
d = sys.argv[1]
names = sorted(n for n in os.listdir(d) if re.fullmatch(r"audit\.log\.\d{20}", n)) + ["audit.log"]
last = None
for n in names:
    lines = open(os.path.join(d, n)).read().splitlines()
    recs = [json.loads(l[65:]) for l in lines]
    if n != "audit.log":
        assert recs[0]["seq"] == int(n[10:]), (n, recs[0]["seq"])
        assert recs[-1]["op"] == "checkpoint" and recs[-1]["why"] == "rotate", (n, recs[-1])
    if last is not None:
        assert recs[0]["op"] == "checkpoint" and recs[0]["why"] == "continued", (n, recs[0])
        assert recs[0]["prev"] == last[0] and recs[0]["seq"] == last[1] + 1, (n, recs[0], last)
    last = (lines[-1][:64], recs[-1]["seq"])
PY
cp -a "$state" "$work/good-state"
files=($(rotated))

rm "$state/${files[1]}"
check "a removed middle file is found" \
	verify_fails "${files[2]} line 1: record [0-9]+ where [0-9]+ was expected: a rotated file is missing"
restore; sed -i '2s/"uid":0/"uid":1/' "$state/${files[1]}"
check "an altered rotated file is found, by file and line" \
	verify_fails "${files[1]} line 2 \(record [0-9]+\): its MAC does not match"
restore; sed -i '1d' "$state/${files[2]}"
check "records cut from a rotated file's start are found" \
	verify_fails "renamed|was expected"
restore; mv "$state/${files[2]}" "$state/${files[3]%?}9"
check "a renamed rotated file is found" verify_fails "renamed|was expected"
restore; sed -i '1d' "$state/audit.log"
check "the current file's opening checkpoint removed: found" verify_fails "was expected"
restore; rm "$state/${files[0]}"
daemon_start
check "removing the oldest files (retention) leaves a verifiable chain, and says so" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' audit verify | grep -q 'older files were removed'"
daemon_stop

# A full disk: a file size limit (the keystore's small files still fit),
# which the test lifts again.
restore
printf 'audit_rotate_size = 0\n' > "$work/norotate.conf"
start_limited() {	# a 24 KiB soft limit: the test may lift it again
	daemon_wrap="prlimit --fsize=24576:" daemon_conf=$work/norotate.conf \
		daemon_log=$work/limited.log daemon_start
}
rm -f "$sock"
start_limited || fail "hsmkeyd starts under a file size limit"
for i in $(seq 200); do ctl create "f$i" --type aes-256-xts >/dev/null 2>"$work/f.err" || break; done
check "the log is full: a create is refused ($i creates in)" \
	grep -q 'the audit log cannot be written, so changes are refused' "$work/f.err"
check "a revoke is not refused for want of audit space" quiet ctl revoke k3
check "the key is revoked" bash -c "'$top/build/hsmkeyctl' --socket '$sock' list | grep -E '^k3 ' | grep -q revoked"
check "its record is not in the log yet" bash -c "! grep -q '\"op\":\"revoke\",\"key\":\"k3\"' '$state/audit.log'"
prlimit --pid "$daemon_pid" --fsize=unlimited:unlimited
for _ in $(seq 60); do grep -q '"op":"revoke","key":"k3"' "$state/audit.log" && break; sleep 0.1; done
check "once there is space, the revoke's records are written (without another request)" \
	grep -q '"op":"revoke","key":"k3","result":"ok"' "$state/audit.log"
check "the request record first, then the result, in the chain's order" python3 - "$state/audit.log" <<'PY'
import json, sys
recs = [json.loads(l[65:]) for l in open(sys.argv[1])]
ops = [(r["op"], r.get("key"), r.get("detail")) for r in recs]
i = ops.index(("request", "k3", "requested: revoke"))
j = ops.index(("revoke", "k3", None))
assert i < j, (i, j)
PY
check "the daemon says the held records are written" grep -q 'has space again' "$work/limited.log"
check "and the log verifies" verify
daemon_stop
tap_done
