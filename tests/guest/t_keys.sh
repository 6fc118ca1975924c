#!/bin/bash
# hsmkeyd and hsmkeyctl driving the kernel's key features: a policy set
# from the CLI is enforced by the kernel (users, usage limit), disable and
# enable reach the kernel, load-at-start is honoured at daemon start, and
# a daemon on another state directory reports the first one's kernel keys
# without touching them (ownership).
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
afalg=$top/tests/guest/afalg.py
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
json() { python3 -c "import json, sys; o = json.load(sys.stdin); print($1)"; }

grep -q '^hsmkey ' /proc/modules || insmod "$HSMKEY_KO"
daemon_start || { fail "hsmkeyd starts"; tap_done; }
check "create a key" quiet ctl create pk --type aes-256-xts
token=$(ctl token pk)
check "without a policy root and nobody may bind" \
	test "$("$afalg" bind "$token") $(as_nobody "$afalg" bind "$token")" = "ok ok"
check "policy: only nobody, 3 requests" quiet ctl policy pk --users nobody --max-requests 3
check "the kernel refuses root (EACCES)" test "$("$afalg" bind "$token")" = EACCES
check "the kernel lets nobody bind" test "$(as_nobody "$afalg" bind "$token")" = ok
check "3 requests pass, then EDQUOT" test "$(as_nobody "$afalg" encrypt "$token" 5)" = "3 EDQUOT"
check "show has the kernel's counters" test "$(ctl --json show pk | json 'o["requests"], o["kernel"]')" = "3 loaded"
check "lifting the limit (a policy with no users changes nothing else)" quiet ctl policy pk --max-requests 0
check "nobody may use the key again" test "$(as_nobody "$afalg" encrypt "$token" 2)" = "2 -"
# What the kernel spent survives the kernel forgetting it (GCM's limit).
daemon_stop
check "at stop the daemon stores what the kernel spent (5 requests)" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))["versions"][0]
assert v["used_requests"] == 5, v.get("used_requests")
' "$work/state/keys/pk.json"
daemon_start || fail "hsmkeyd starts again"
check "disable reaches the kernel" quiet ctl disable pk
check "show: disabled in the kernel" test "$(ctl --json show pk | json 'o["kernel"]')" = disabled
check "a disabled key refuses new bindings (EPERM)" test "$(as_nobody "$afalg" bind "$token")" = EPERM
check "enable" quiet ctl enable pk
check "bindings work again" test "$(as_nobody "$afalg" bind "$token")" = ok
check "a policy with no users lets root bind again" quiet ctl policy pk --users ""
check "root binds" test "$("$afalg" bind "$token")" = ok

check "create a key not loaded at start" quiet ctl create later --type aes-256-xts
check "set load-at-start no" quiet ctl policy later --load-at-start no
check "create a disabled key" quiet ctl create off --type aes-256-xts
check "disable it" quiet ctl disable off
check "only nobody may bind pk again" quiet ctl policy pk --users nobody
daemon_stop
check "unload the module (the daemon held /dev/hsmkey until it stopped)" rmmod hsmkey
check "load it again" insmod "$HSMKEY_KO"
daemon_start || fail "hsmkeyd starts again"
list=$(ctl list)
diag "$list"
check "at start the daemon loads the active keys" grep -qE '^pk .* active +loaded' <<<"$list"
check "but not a key whose policy says load-at-start no" grep -qE '^later .* active +absent' <<<"$list"
check "nor a disabled key" grep -qE '^off .* disabled +absent' <<<"$list"
check "the stored policy came with the key: the kernel refuses root" \
	test "$("$afalg" bind "$token")" = EACCES

# Restarts converge the kernel with the keystore and leave valid keys be.
check "create a key to delete behind the daemon's back" quiet ctl create gone --type aes-256-xts
gone=$(ctl token gone)
check "create a volume key" quiet ctl create vk --type aes-256-xts
truncate -s 16M "$work/disk.img"
loop=$(losetup --find --show "$work/disk.img")
check "open a volume" quiet ctl dm open "$loop" keys-vol --key vk
check "write it" dd if=/dev/urandom of=/dev/mapper/keys-vol bs=1M count=4 oflag=direct status=none
daemon_stop
rm "$work/state/keys/gone.json"
# A file gone behind the daemon's back may as well be one restored from an
# older copy: the keystore is refused until the operator says otherwise.
if daemon_start >/dev/null; then
	fail "a keystore missing a key file is refused"
	daemon_stop
else
	ok "a keystore missing a key file is refused"
fi
check "the log says why" grep -q "refusing to open a rolled-back keystore" "$work/hsmkeyd.log"
check "the operator accepts the files found (hsmkeyd --accept-keystore)" \
	"$top/build/hsmkeyd" --accept-keystore --state-dir "$work/state" --socket "$sock" 2>>"$work/hsmkeyd.log"
check "which the audit log records" grep -q '"op":"keystore-accept"' "$work/state/audit.log"
daemon_start || fail "hsmkeyd restarts"
check "its kernel key, ours but gone from the keystore, was revoked at start" \
	test "$("$afalg" bind "$gone")" = EKEYREVOKED
check "the log says why" grep -q "revoking kernel key gone version 1: no longer in the keystore" "$work/hsmkeyd.log"
check "the open volume kept its binding across the restart" grep -qE '^vk .* active +loaded +transport +1$' <(ctl list)
check "and keeps working" dd if=/dev/mapper/keys-vol of=/dev/null bs=1M count=4 iflag=direct status=none
check "close the volume" quiet ctl dm close keys-vol
losetup -d "$loop"
daemon_stop

# The audit log with the kernel: events recorded, the anchor kept.
daemon_start || fail "hsmkeyd starts for the audit checks"
check "audit verify matches its anchor" bash -c "'$top/build/hsmkeyctl' --socket '$sock' audit verify | grep -q \"matches its anchor\""
as_nobody "$afalg" bind "$token" >/dev/null
sleep 0.5
check "a kernel bind event is in the audit log, with who did it" python3 -c '
import json, sys
recs = [json.loads(l[65:]) for l in open(sys.argv[1])]
ev = [r for r in recs if r["op"] == "kernel-event" and r["event"] == "bind" and r["uid"] == 65534]
assert ev and ev[-1]["comm"] == "python3", ev[-3:]
assert any(r["op"] == "kernel-event" and r["event"] == "add" for r in recs)
' "$work/state/audit.log"
# 30 refused binds in a burst: the kernel sends 10 denials a second and
# counts the rest, which take no sequence number; the next event carries
# the count and the daemon records how many were held back.
python3 -c '
import socket, sys
for _ in range(30):
    s = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
    s.bind(("skcipher", "xts(hsmaes)"))
    try:
        s.setsockopt(socket.SOL_ALG, socket.ALG_SET_KEY, bytes.fromhex(sys.argv[1]))
    except OSError:
        pass
' "$token"
sleep 1.5
as_nobody "$afalg" bind "$token" >/dev/null	# one more event after the burst
sleep 0.5
check "events the kernel's rate limit held back are recorded" grep -q '"op":"events-suppressed".*held back' "$work/state/audit.log"
check "and leave no gap in the sequence" bash -c "! grep -q '\"op\":\"events-lost\"' '$work/state/audit.log'"
check "and the log still verifies" quiet ctl audit verify
check "the denials are not recorded one by one" test "$(grep -c '"event":"deny"' "$work/state/audit.log")" -eq 0
check "... but counted, in one record before the next event's" \
	grep -q '"op":"denials".*the kernel refused [1-9][0-9]* token' "$work/state/audit.log"
daemon_stop
cp "$work/state/audit.log" "$work/audit.good"
head -n -3 "$work/audit.good" > "$work/state/audit.log"
daemon_start || fail "hsmkeyd starts on a truncated log"
check "truncation is found through the kernel's anchor" bash -c "
	! '$top/build/hsmkeyctl' --socket '$sock' audit verify 2>'$work/v.err' &&
	grep -qE 'removed from the end|differs from the anchor' '$work/v.err'"
check "the daemon found it at start and recorded it in the chain" bash -c "
	grep -q 'the audit log does not verify: the log ends at record' '$work/hsmkeyd.log' &&
	grep -q '\"op\":\"audit-check\"' '$work/state/audit.log'"
daemon_stop

# A slow backend call does not hold up the kernel's events: while the test
# build's keystore spends 25 s creating slow*, a bind is recorded.  The
# daemon is waited for as every other start is (a debug kernel's guest is
# slow to start it), and the create is seen under way before the bind;
# under the debug kernel a bind's event took longer than the 10 s this
# once had.
daemon_bin=$top/build/tests/hsmkeyd-crash daemon_wrap="env HSMKEY_TEST_SLOW=25" daemon_start ||
	fail "the test build of hsmkeyd starts"
quiet ctl status
ctl create slowkey --type aes-256-xts >/dev/null 2>&1 &
slow=$!
sleep 1
check "the slow create is under way" kill -0 "$slow"
before=$(grep -c '"event":"bind"' "$work/state/audit.log")
as_nobody "$afalg" bind "$token" >/dev/null
for _ in $(seq 200); do
	[[ $(grep -c '"event":"bind"' "$work/state/audit.log") -gt $before ]] && break
	sleep 0.1
done
check "a kernel event is recorded while a slow backend call runs" bash -c "
	[[ \$(grep -c '\"event\":\"bind\"' '$work/state/audit.log') -gt $before ]] && kill -0 $slow"
wait "$slow"
check "and the slow create then succeeds" grep -q '^slowkey ' <(ctl list)
daemon_stop

# Another keystore: it sees the first one's kernel key and leaves it be.
first_work=$work
work=$(mktemp -d)
daemon_start || fail "a second hsmkeyd on another state directory starts"
check "it reports the other keystore's kernel keys" test \
	"$(ctl --json status | json 'sorted(k["name"] for k in o["foreign"])')" = "['gone', 'pk', 'slowkey', 'vk']"
check "it has no key of that name to act on" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' revoke pk 2>/dev/null"
check "the first keystore's key is still loaded" test \
	"$(as_nobody "$afalg" bind "$token")" = ok
daemon_stop
tap_done
