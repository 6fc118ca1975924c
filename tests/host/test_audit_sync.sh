#!/bin/bash
# No reply before its audit record is on disk, with the records of calls
# from several clients synced together (audit_sync(): one fdatasync() for
# the records written while the last one ran).  The daemon's system calls
# are traced (strace, every thread) while 4 clients make single KMS calls,
# each on its own connection, and again while 2 make batched ones; for
# every reply that follows a record its thread wrote, some fdatasync() of
# the log (by any thread) must have begun after that write ended and ended
# before the reply was sent.  The single calls' trace also shows their
# flushes shared: fewer than 9 in 10 records (one each before).  Last, a
# flush that fails refuses that call and every later one until a restart.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
command -v strace >/dev/null || { fail "strace is installed"; tap_done; }

daemon_start || { fail "hsmkeyd starts"; tap_done; }
quiet ctl create k --type kms-aes-256 && quiet ctl policy k --grant encrypt,decrypt:root ||
	{ fail "a KMS key is made"; tap_done; }
# attached: true once every thread of the daemon is traced (within 10 s).
attached() {
	local _ t
	for _ in $(seq 100); do
		for t in /proc/"$daemon_pid"/task/*; do
			grep -q '^TracerPid:[[:space:]]*0$' "$t/status" && { sleep 0.1; continue 2; }
		done
		return 0
	done
	return 1
}
# traced STRACE-OPTIONS... -- COMMAND...: run COMMAND with the daemon traced.
traced() {
	local opts=() tracer r
	while [[ $1 != -- ]]; do opts+=("$1"); shift; done
	shift
	strace -f -qq "${opts[@]}" -p "$daemon_pid" &
	tracer=$!
	attached || { kill "$tracer"; return 1; }
	"$@"
	r=$?
	kill -INT "$tracer"
	wait "$tracer"
	return $r
}
# trace NAME COMMAND...: run COMMAND with the daemon's calls traced into $work/NAME.
trace() {
	local name=$1
	shift
	traced -ttt -T -y -e trace=write,fdatasync,sendmsg -o "$work/$name" -- "$@"
}
check "4 clients, 40 round trips each (3 calls a trip), traced" \
	trace single quiet "$top/build/tests/kms_threads" "$sock" k 4 40 each
# batches DIR: 5 batch calls of DIR's 8 items, one after the other.
batches() {
	local n
	for n in 1 2 3 4 5; do
		"$top/build/tests/kms_batch" encrypt "$sock" k "$1"/item? >/dev/null || return 1
	done
}
two_batching() {
	local b1 b2
	batches "$work/c1" & b1=$!
	batches "$work/c2" & b2=$!
	wait "$b1" && wait "$b2"
}
for c in 1 2; do
	mkdir "$work/c$c"
	for i in $(seq 8); do echo "item $i" > "$work/c$c/item$i"; done
done
check "2 clients, 5 batches of 8 each, traced" trace batches two_batching

cat > "$work/check.py" <<'PY'
import re, sys
# One line per call: "TID TIME NAME(ARGS) = RET <DURATION>", or split in an
# "<unfinished ...>" line (its start) and a "<... NAME resumed>" one (its end).
line_re = re.compile(r'^(\d+)\s+(\d+\.\d+) (.*)$')
dur_re = re.compile(r'<(\d+\.\d+)>$')
calls, pending = [], {}
for line in open(sys.argv[1]):
    m = line_re.match(line.rstrip('\n'))
    if not m:
        continue
    tid, t, rest = int(m.group(1)), float(m.group(2)), m.group(3)
    if rest.endswith('<unfinished ...>'):
        pending[tid] = (t, rest)
        continue
    if rest.startswith('<... '):
        start, head = pending.pop(tid, (None, None))
        if start is None:
            continue
        rest, end = head, t
    else:
        d = dur_re.search(rest)
        start, end = t, t + (float(d.group(1)) if d else 0)
    if ' = -1 ' in line:
        continue    # failed: no write, no flush
    name = rest.split('(', 1)[0]
    log = '/audit.log>' in rest.split(',', 1)[0]
    calls.append((start, end, tid, name, log))
syncs = [(s, e) for s, e, _, n, log in calls if n == 'fdatasync' and log]
written, replies, bad = {}, 0, []
records = 0
for start, end, tid, name, log in sorted(calls):
    if name == 'write' and log:
        written[tid] = end
        records += 1
    elif name == 'sendmsg' and not log and tid in written:
        w = written.pop(tid)
        replies += 1
        if not any(s >= w and e <= start for s, e in syncs):
            bad.append('thread %d: reply at %.6f, its record written by %.6f' % (tid, start, w))
print('%d records, %d fdatasync() of the log, %d replies after a record' %
      (records, len(syncs), replies))
for b in bad[:5]:
    print('unsynced: ' + b)
sys.exit(2 if replies < int(sys.argv[2]) else 1 if bad else 3 if len(syncs) >= 0.9 * records else 0)
PY
# verdict NAME MIN: check.py's exit for trace NAME, which must hold MIN replies.
verdict() {
	/usr/bin/python3 "$work/check.py" "$work/$1" "$2" > "$work/$1.out"
	rc=$?
	sed 's/^/# /' "$work/$1.out"
}
verdict single 480
check "single calls: the trace holds their records and replies" test "$rc" != 2
check "... no reply was sent before an fdatasync() begun after its record ended" test "$rc" != 1
check "... the records shared flushes (fewer fdatasync() than 9 in 10 records)" test "$rc" = 0
verdict batches 10
check "batches: the trace holds their records and replies" test "$rc" != 2
check "... no reply was sent before an fdatasync() begun after its records ended" test "$rc" != 1
check "the log verifies" quiet ctl audit verify

# A flush that fails (EIO, injected into the daemon's first fdatasync()
# once traced): the call is refused, and so is every later one, whose
# flush would succeed without the lost pages (the kernel reports a
# write-back error once), until the daemon restarts.
check "the disk failing a flush: the encryption is refused" \
	traced -o /dev/null -e trace=fdatasync -e inject=fdatasync:error=EIO:when=1 -- \
	expect_fail "audit log cannot be written" ctl encrypt k < "$work/c1/item1"
check "... and said in the daemon's log" grep -q "failed a flush (Input/output error)" "$work/hsmkeyd.log"
check "the disk well again: the next encryption is refused all the same" \
	expect_fail "audit log cannot be written" ctl encrypt k < "$work/c1/item1"
check "... and so is a change" expect_fail "audit" ctl create k2 --type kms-aes-256
daemon_stop
check "restarted, hsmkeyd serves again" daemon_start
check "... an encryption" quiet ctl encrypt k < "$work/c1/item1"
check "... and the log verifies" quiet ctl audit verify
# A flush failing for want of space (ENOSPC, as NFS may say) is no full
# disk: nothing can be held for later, so the same as EIO.
check "a flush failing with ENOSPC: the encryption is refused" \
	traced -o /dev/null -e trace=fdatasync -e inject=fdatasync:error=ENOSPC:when=1 -- \
	expect_fail "audit log cannot be written" ctl encrypt k < "$work/c1/item1"
check "... a revoke after it too: no record is held in memory" \
	expect_fail "audit" ctl revoke k
check "... the key still active" test "$(state_of k)" = active
check "... and the daemon never said it was holding records" \
	bash -c "! grep -q 'holding records' '$work/hsmkeyd.log'"
daemon_stop
tap_done
