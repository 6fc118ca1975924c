#!/bin/bash
# hsmkeyd itself as a token helper (hsmkeyd --pkcs11-helper FD, the early
# dispatch in daemon/main.c): HP_INIT over a SOCK_SEQPACKET socket, as
# daemon/pkcs11/proto.h lays it out, answered with the token's label after
# a beat (HP_BEAT, one byte) per step of the opening; a wrong PIN answered
# with -EACCES and HP_FATAL_PIN; EOF ends the helper.
# test_hsm covers the operations (it is its own helper binary).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/lib/tap.sh"
source "$top/tests/lib/softhsm.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
softhsm_setup "$work"
softhsm_token solo
softhsm_pin_file "$work/pin"
softhsm_pin_file "$work/bad" 0000

# init PIN_FILE: prints "err fatal label rc beats why": the reply's fields,
# the helper's exit status and the beats before the reply.
init() {
	/usr/bin/python3 - "$top/build/hsmkeyd" "$SOFTHSM_MODULE" "$1" <<'EOPY'
import os, socket, struct, sys
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
pid = os.fork()
if pid == 0:
    os.dup2(b.fileno(), 3)
    os.execv(sys.argv[1], [sys.argv[1], "--pkcs11-helper", "3"])
b.close()
def field(s, n):
    return s.encode().ljust(n, b"\0")
req = struct.pack("=II", 1, 0) + field(sys.argv[2], 4096) + field("pkcs11:token=solo", 1024) \
      + field(sys.argv[3], 4096) + struct.pack("=I", 0)
a.send(req)
a.settimeout(20)
beats = 0
while True:
    rep = a.recv(100000)
    if rep != b"\x42":
        break
    beats += 1
err, fatal = struct.unpack("=iI", rep[:8])
why = rep[8:208].split(b"\0")[0].decode()
label = rep[208:241].split(b"\0")[0].decode() if len(rep) > 208 else ""
a.close()
_, st = os.waitpid(pid, 0)
print(err, fatal, label or "-", os.waitstatus_to_exitcode(st), beats, why or "-")
EOPY
}

read -r err fatal label rc beats why < <(init "$work/pin")
check "hsmkeyd --pkcs11-helper answers HP_INIT: token solo (err $err)" \
	test "$err" = 0 -a "$fatal" = 0 -a "$label" = solo
# C_Initialize, the login, the searches for hsmkey's objects, the handles.
check "... after a beat per step of its opening ($beats)" test "${beats:-0}" -ge 5
check "EOF on its control socket ends it with status 0 ($rc)" test "$rc" = 0
read -r err fatal label rc beats why < <(init "$work/bad")
check "a wrong PIN: -EACCES (-13), HP_FATAL_PIN, saying $why" \
	test "$err" = -13 -a "$fatal" = 2 -a "$why" = "C_Login: CKR_PIN_INCORRECT"
check "the PIN is nowhere in its answer" test "$(init "$work/bad" | grep -c 0000)" = 0
tap_done
