#!/bin/bash
# Log injection, from the attacker's side: any local user may send a request,
# and its op is logged.  A newline in it must not start a line of the
# attacker's choosing (a forged "audit checkpoint", which hsmkeyd(8) calls
# the outside reference, with "<0>" that journald would broadcast): every
# message is one line, control bytes escaped.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

daemon_start || { fail "hsmkeyd starts"; tap_done; }
forged='hsmkeyd: audit checkpoint (start): seq 999 head '$(printf 'f%.0s' {1..64})
send() {	# OP: send one request with that op as an unprivileged user, print the reply
	setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])
s.send(json.dumps({"v": 1, "op": sys.argv[2]}).encode()); print(s.recv(65536).decode())' "$sock" "$1"
}
send $'x\n<0>'"$forged" > "$work/reply1"
send $'y\r<1>'"$forged"$'\e[2J\\' > "$work/reply2"
send '<0>z' > "$work/reply3"
daemon_stop
diag "$(grep -a "unknown operation" "$work/hsmkeyd.log" | head -3)"
check "the daemon answered each request" bash -c "grep -c '\"ok\": *false' '$work'/reply? | grep -c ':1$' | grep -qx 3"
check "no line of the log starts with the forged checkpoint" \
	bash -c "! grep -aqE '^(<[0-9]>)?hsmkeyd: audit checkpoint .*seq 999' '$work/hsmkeyd.log'"
check "no line carries the attacker's priority prefix" \
	bash -c "! grep -aqE '^<[0-2]>' '$work/hsmkeyd.log'"
check "the first op is logged on one line, the newline escaped" \
	grep -aqF "x\\x0a<0>$forged'" "$work/hsmkeyd.log"
check "carriage return, escape and backslash are escaped" \
	grep -aqF "y\\x0d<1>$forged\\x1b[2J\\\\'" "$work/hsmkeyd.log"
check "no raw control byte (other than the line ends) reaches the log" \
	bash -c "! LC_ALL=C grep -aqP '[\x00-\x09\x0b-\x1f\x7f]' '$work/hsmkeyd.log'"
check "the log has as many lines as messages (each starts with a priority)" \
	bash -c "! grep -avE '^<[0-7]>hsmkeyd: ' '$work/hsmkeyd.log'"
tap_done
