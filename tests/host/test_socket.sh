#!/bin/bash
# The control socket is open to every local user; none of them may stall
# it.  Each attack runs as user nobody against a daemon on a private state
# directory while root's requests must each complete within 2 s and the
# daemon's descriptor count stays flat:
#  - 70 idle connections (per-uid limit), and one left idle is closed;
#  - clients that send requests and never read the replies (send deadline,
#    workers kept free for admins, and for other users: one user's
#    connections are fewer than the threads others may use);
#  - zero-length messages carrying descriptors, and descriptors passed
#    with requests that take none (closed on every path);
#  - an import whose key file is a FIFO never written, from root (client
#    I/O is done before the mutation lock, with a deadline);
#  - many subordinate uids of one user (subuid_file), counted as that user.
top=$(cd "$(dirname "$0")/../.." && pwd)
attackers=()
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
at_exit 'kill "${attackers[@]}" 2>/dev/null'

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nfds() { ls "/proc/$daemon_pid/fd" | wc -l; }
# Root's request, in time: within 2 s.
in_time() { timeout 2 "$top/build/hsmkeyctl" --socket "$sock" "$@" >/dev/null; }
# Another user's (uid 1, neither root nor admin): the same.
other_in_time() { setpriv --reuid=1 --regid=1 --clear-groups timeout 2 "$top/build/hsmkeyctl" --socket "$sock" "$@" >/dev/null; }

cat > "$work/attack.py" <<'PY'
import array, json, os, socket, sys, time
sock, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
end = time.time() + seconds
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sock)
    return s
req = json.dumps({"v": 1, "op": "status"}).encode()
if mode == "idle":
    held = []
    while time.time() < end:
        if len(held) < 70:
            try:
                held.append(conn())
            except OSError:
                pass
        time.sleep(0.01)
elif mode == "noread":
    held = []
    for _ in range(8):
        try:
            s = conn(); s.setblocking(False); held.append(s)
        except OSError:
            pass
    while time.time() < end:
        for i, s in enumerate(held):
            try:
                s.send(req)
            except BlockingIOError:
                pass
            except OSError:
                try:
                    held[i] = conn(); held[i].setblocking(False)
                except OSError:
                    pass
        time.sleep(0.005)
elif mode == "fds":
    fd = os.open("/dev/null", os.O_RDONLY)
    fds = array.array("i", [fd])
    n = 0
    while time.time() < end:
        try:
            s = conn()
            msg = b"" if n % 2 == 0 else req
            s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            n += 1
            s.close()
        except OSError:
            time.sleep(0.01)
elif mode == "fifo":
    # root: an import whose key file is a FIFO with a writer that never writes
    path = sys.argv[4]
    os.mkfifo(path)
    r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(path, os.O_WRONLY)
    os.set_blocking(r, True)
    s = conn()
    s.sendmsg([json.dumps({"v": 1, "op": "import", "name": "fifo",
                           "type": "aes-256-xts"}).encode()],
              [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r]))])
    os.close(r)
    s.settimeout(seconds)
    try:
        print(s.recv(65536).decode())
    except OSError as e:
        print("no reply:", e)
PY

# Subordinate uid ranges (subuid(5)) for the per-user limits: nobody's
# (by name), root's (which charge nobody), and a line that is not one.
printf 'nobody:300000:1000\n0:400000:100\nnot a range\n' > "$work/subuid"
echo "subuid_file = $work/subuid" > "$work/hsmkeyd.conf"
daemon_conf=$work/hsmkeyd.conf
daemon_start || { fail "hsmkeyd starts"; tap_done; }
for k in k1 k2 k3 k4 k5 k6 k7; do ctl create $k --type aes-256-xts >/dev/null; done
base=$(nfds)
diag "daemon descriptors at rest: $base"

# attack ATTACK SECONDS [UID]: start it as nobody (or UID) in the background.
attack() {
	setpriv --reuid="${3:-65534}" --regid="${3:-65534}" --clear-groups \
		/usr/bin/python3 "$work/attack.py" "$sock" "$1" "$2" > "$work/$1.${3:-65534}.out" 2>&1 &
	attackers+=($!)
	sleep 1
}

attack idle 6
check "70 idle connections of one user: root's status within 2 s" in_time status
check "... and root's revoke within 2 s" in_time revoke k1
check "... and another user's list too" quiet setpriv --reuid=1 --regid=1 --clear-groups timeout 2 "$top/build/hsmkeyctl" --socket "$sock" list
wait "${attackers[-1]}"

attack noread 12
check "clients that never read replies: root's status within 2 s" in_time status
check "... another user's status within 2 s" other_in_time status
sleep 3
check "... root's revoke within 2 s, 4 s in" in_time revoke k2
check "... another user's status within 2 s, 4 s in" other_in_time status
sleep 3
check "... root's revoke within 2 s, 7 s in" in_time revoke k3
check "... another user's status within 2 s, 7 s in" other_in_time status
wait "${attackers[-1]}"

# Two users' clients that never read (4 connections each, 8 stalling
# requests for the 5 threads such users may use): root's still find the
# sixth.
attack noread 8 65534
attack noread 8 1
check "two users' clients that never read replies: root's status within 2 s" in_time status
sleep 3
check "... root's revoke within 2 s, 4 s in" in_time revoke k6
wait "${attackers[-1]}" "${attackers[-2]}"

attack fds 6
check "descriptors passed with empty messages: root's status within 2 s" in_time status
check "... root's revoke within 2 s" in_time revoke k4
wait "${attackers[-1]}"
sleep 0.5
now=$(nfds)
check "the daemon's descriptors stay flat ($base at rest, $now after)" test "$now" -le $((base + 2))

/usr/bin/python3 "$work/attack.py" "$sock" fifo 6 "$work/fifo" > "$work/fifo.out" 2>&1 &
fifo=$!
sleep 0.5
check "an import reading a FIFO never written: root's revoke of another key within 2 s" \
	in_time revoke k5
wait "$fifo"
check "... and the import is refused, saying why" grep -q "nothing written to it in time" "$work/fifo.out"
check "no key was made from it" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' list | grep -q '^fifo '"
check "the daemon still serves, descriptors flat" bash -c "
	timeout 2 '$top/build/hsmkeyctl' --socket '$sock' revoke k7 >/dev/null &&
	test \$(ls /proc/$daemon_pid/fd | wc -l) -le $((base + 2))"
# A change refused to nobody, naming 5,000 bytes: recorded, by the name's
# start (a record that long could not be written, and went unrecorded).
long=$(printf 'A%.0s' $(seq 5000))
as_nobody /usr/bin/python3 "$top/tests/lib/rawreq.py" "$sock" "{\"v\":1,\"op\":\"revoke\",\"name\":\"$long\"}" > "$work/long.out"
check "nobody's revoke of a 5,000-byte name is refused" grep -q '"ok": false' "$work/long.out"
check "... and recorded, the name cut to its first 63 bytes and '...'" bash -c \
	"grep -aF '\"op\":\"revoke\",\"key\":\"${long:0:63}...\"' '$work/state/audit.log' | grep -aqF '\"result\":\"error\"'"
e40=$(printf '\xc3\xa9%.0s' $(seq 40))
as_nobody /usr/bin/python3 "$top/tests/lib/rawreq.py" "$sock" "{\"v\":1,\"op\":\"revoke\",\"name\":\"$e40\"}" > /dev/null
check "a name of 40 two-byte characters: recorded as 31 of them and '...', not cut within one" \
	grep -aqF "\"key\":\"$(printf '\xc3\xa9%.0s' $(seq 31))...\"" "$work/state/audit.log"
check "... and the log verifies" quiet ctl audit verify
# A user with 1,000 subordinate uids (a rootless container's) is one
# user: 12 of them, each the root of a user namespace of its own, asking
# for 4 connections each (as many as users other than root and the admin
# group may hold together) get nobody's 4, and another user still gets
# in (tests/lib/userns_connect.py).
uc() { /usr/bin/python3 "$top/tests/lib/userns_connect.py" "$sock" "$@"; }
rm -f "$work/sub.ready"
uc "$work/sub.ready" 3 $(for u in $(seq 300000 300011); do printf '%d:4 ' "$u"; done) > "$work/sub.out" &
sub=$!
for _ in $(seq 200); do [[ -e $work/sub.ready ]] && break; sleep 0.05; done
check "12 subordinate uids of nobody in user namespaces, 4 connections each: 4 kept, as for nobody ($(cat "$work/sub.out"))" \
	test "$(cat "$work/sub.out")" = 4
check "... and another user's status within 2 s meanwhile" other_in_time status
wait "$sub"
out=$(uc /dev/null 0 =300001:3 =300002:3)
check "the same uids connecting from hsmkeyd's own namespace are users of their own: 6 of 3 + 3 kept ($out)" \
	test "$out" = 6
out=$(uc /dev/null 0 400001:5 400002:4)
check "uids of root's range are users of their own, each limited: 8 of 5 + 4 kept ($out)" test "$out" = 8
out=$(uc /dev/null 0 500001:3 500002:3)
check "two uids in no range: 6 connections kept ($out)" test "$out" = 6
printf '2:0x7a120:10\n' >> "$work/subuid"
out=$(uc /dev/null 0 500001:3 500002:3)
check "... once the file gives them to uid 2 (0x7a120 = 500000): 4 kept, read again without a restart ($out)" \
	test "$out" = 4
check "the line that is not a range is said in the log" \
	grep -q "1 line(s) not owner:start:count .* skipped, the first line 3" "$work/hsmkeyd.log"
# A FIFO as the file, by SIGHUP: refused unopened for reading, said once,
# the ranges kept; the event loop never waits on it.
mkfifo "$work/subuid.fifo"
echo "subuid_file = $work/subuid.fifo" > "$work/hsmkeyd.conf"
kill -HUP "$daemon_pid"
sleep 0.5
check "subuid_file a FIFO: root's status within 2 s" in_time status
check "... and another user's" other_in_time status
check "... said once in the log" test "$(grep -c "cannot use $work/subuid.fifo" "$work/hsmkeyd.log")" = 1
out=$(uc /dev/null 0 500001:3 500002:3)
check "... and the ranges read before kept: 4 kept ($out)" test "$out" = 4
chmod 666 "$work/subuid"
echo "subuid_file = $work/subuid" > "$work/hsmkeyd.conf"
kill -HUP "$daemon_pid"
sleep 0.5
out=$(uc /dev/null 0 500001:3 500002:3)
check "a file others may write is refused, the ranges kept ($out)" \
	bash -c "test '$out' = 4 && grep -q 'cannot use $work/subuid: not a regular file owned by root and writable by root alone' '$work/hsmkeyd.log'"
sleep 0.5	# their connections closed before the next checks
# A thread that has replied waits up to a second for its client's next
# request; clients that go quiet after one request each hold every worker
# so.  Another request must not wait out that second: the lingering
# threads give their clients back as soon as a job needs one of them.
# linger.py SOCKET QUIET NEW [QUIET_UIDS NEW_UID]: QUIET clients make a
# request each and go quiet, then NEW others send one at once; the slowest
# of those answers, over 5 rounds, must come within 0.3 s.  Run as root,
# it connects the quiet clients as the users QUIET_UIDS lists in turn
# (comma-separated) and the new ones as NEW_UID (the daemon takes a
# connection's user from its effective uid at connect()); else as itself.
cat > "$work/linger.py" <<'PY'
import json, os, socket, sys, time
sock, quiet, new, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), 5
quiet_uids = [int(u) for u in sys.argv[4].split(",")] if len(sys.argv) > 4 else [os.geteuid()]
new_uid = int(sys.argv[5]) if len(sys.argv) > 5 else os.geteuid()
req = json.dumps({"v": 1, "op": "status"}).encode()
def conn(uid=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    me = os.geteuid()
    if uid is not None and uid != me:
        os.seteuid(uid)
    try:
        s.connect(sock)
    finally:
        if os.geteuid() != me:
            os.seteuid(me)
    return s
worst = 0
for _ in range(rounds):
    held = [conn(quiet_uids[i % len(quiet_uids)]) for i in range(quiet)]
    for s in held:
        s.send(req)
        assert json.loads(s.recv(65536))["ok"]
    fresh = [conn(new_uid) for _ in range(new)]
    t = time.monotonic()
    for s in fresh:
        s.send(req)
    for s in fresh:
        assert json.loads(s.recv(65536))["ok"]
    worst = max(worst, time.monotonic() - t)
    for s in held + fresh:
        s.close()
    time.sleep(0.1)
print("slowest: %.3f s" % worst)
sys.exit(worst >= 0.3)
PY
# These assume WORKERS (daemon/worker.h) is 6: five for users other than
# root and the admin group, one more than one such user's connections.
check "six quiet clients of root hold every worker: another request within 0.3 s" \
	/usr/bin/python3 "$work/linger.py" "$sock" 6 1
check "five quiet clients of nobody and uid 1 hold the shared workers: uid 2's within 0.3 s" \
	/usr/bin/python3 "$work/linger.py" "$sock" 5 1 65534,65534,65534,65534,1 2
check "four quiet clients of nobody and uid 1, two more at once: both within 0.3 s" \
	/usr/bin/python3 "$work/linger.py" "$sock" 4 2 65534,65534,65534,1 2
check "an idle connection is closed after the idle timeout (10 s)" /usr/bin/python3 - "$sock" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.settimeout(14)
t = time.time()
assert s.recv(100) == b"" and 9 < time.time() - t < 13
PY
# Stopping while six quiet clients hold every worker: the lingering
# threads let go at once, not at the end of their wait.
/usr/bin/python3 - "$sock" "$work/quiet.ready" <<'PY' &
import json, socket, sys, time
held = []
for _ in range(6):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1])
    s.send(json.dumps({"v": 1, "op": "status"}).encode())
    s.recv(65536)
    held.append(s)
open(sys.argv[2], "w").close()
time.sleep(5)
PY
quiet_pid=$!
for _ in $(seq 100); do [[ -e $work/quiet.ready ]] && break; sleep 0.05; done
check "six quiet clients answered" test -e "$work/quiet.ready"
start=$(date +%s%N)
daemon_stop
took=$((($(date +%s%N) - start) / 1000000))
kill "$quiet_pid" 2>/dev/null
check "stopped within 0.5 s while workers lingered (${took} ms)" test "$took" -lt 500
tap_done
