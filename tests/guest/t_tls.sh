#!/bin/bash
# TLS served and spoken through hsmkeyd (tls-handshake, libhsmkey,
# hsmkeyctl tls): identity keys from the embedded key store, certificates
# from a test CA through hsmkeyctl csr, session keys in hsmkey.ko (ktls=1),
# against real peers: openssl s_client and gnutls-cli against tls serve
# (TLS 1.3 and 1.2, AES-256-GCM and AES-128-GCM; a file served by
# sendfile, compared byte for byte), openssl s_server against tls connect,
# client certificates both ways; refusals; a peer that gives up
# mid-handshake; and the proof that the application holds no session key,
# with OpenSSL's own kTLS as the positive control.
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
chmod 755 "$work"
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
hctl=$top/build/hsmkeyctl
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
trap '' PIPE	# a peer gone is a failed check, not the end of the test
cleanup() {
	exec 9>&- 2>/dev/null
	kill $(jobs -p) 2>/dev/null
	daemon_stop
	grep -q '^hsmkey ' /proc/modules && rmmod hsmkey
	insmod "$HSMKEY_KO"
	rm -rf "$work"
}
trap cleanup EXIT

# serve PORT KEY [ARGS]: hsmkeyctl tls serve for one client, as nobody, in
# the background ($served: its pid; its stderr in $work/serve.err).
serve() {
	local port=$1 key=$2
	shift 2
	as_nobody "$hctl" --socket "$sock" tls serve "$port" --key "$key" \
		--cert "$work/$key.crt" --count 1 "$@" 2> "$work/serve.err" &
	served=$!
	wait_port "$port" || echo "# tls serve did not listen: $(cat "$work/serve.err")"
}
# served_ok / served_failed TEXT: how the one client's serving ended.
served_ok() { wait "$served" || { echo "# $(cat "$work/serve.err")"; return 1; }; }
served_failed() {
	wait "$served" && return 1
	grep -q -- "$1" "$work/serve.err" || { echo "# $(cat "$work/serve.err")"; return 1; }
}
said() { grep -q -- "$1" "$work/serve.err" || { echo "# $(cat "$work/serve.err")"; return 1; }; }
# s_client ARGS: OpenSSL's client, to www.test on 127.0.0.1, verifying.
s_client() {
	local port=$1
	shift
	timeout 60 openssl s_client -connect "127.0.0.1:$port" -servername www.test \
		-verify_hostname www.test -verify_return_error -CAfile "$work/ca.crt" -quiet "$@"
}
# waiting_client PORT [1.2|1.3 [SERVED]]: a client (TLS 1.3, or at most
# 1.2) that connects now to PORT but sends its hello only when let_hello
# says, once tls serve has handed the socket on port SERVED (PORT unless
# a relay is between) to hsmkeyd (which holds it, ss -p) and
# hsmkeyd, having authorised it, waits on the peer; then it sends a line
# and reads it back.  How that went: $work/mid.out.
waiting_client() {
	local _
	rm -f "$work/go" "$work/mid.out"
	python3 - "$1" "$work/ca.crt" "$work/go" "${2:-1.3}" > "$work/mid.out" 2>&1 <<'PY' &
import os, socket, ssl, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("connected", flush=True)
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
try:
    c = ssl.create_default_context(cafile=sys.argv[2])
    if sys.argv[4] == "1.2":
        c.maximum_version = ssl.TLSVersion.TLSv1_2
    t = c.wrap_socket(s, server_hostname="www.test")
    t.sendall(b"late\n")
    print("echoed" if t.recv(64) == b"late\n" else "no echo", flush=True)
except (ssl.SSLError, OSError) as e:
    print("refused:", e, flush=True)
PY
	waiter=$!
	for _ in $(seq 200); do
		ss -Htnp state established "( sport = :${3:-$1} )" | grep -q '"hsmkeyd"' && break
		sleep 0.1
	done
	sleep 1	# the request read, authorised, handed to a handshake thread
}
let_hello() { touch "$work/go"; wait "$waiter"; }
said_client() { grep -q -- "$1" "$work/mid.out" || { echo "# $(cat "$work/mid.out")"; return 1; }; }
sessions() {
	ctl --json status | python3 -c 'import json, sys; k = json.load(sys.stdin)["kernel"]
print(k.get("tls_sessions"), k.get("tls_sessions_bound"))'
}
# no_sessions: none waiting, none bound (a socket's tfm goes when it closes).
no_sessions() {
	local _
	for _ in $(seq 50); do
		[[ $(sessions) == "0 0" ]] && return 0
		sleep 0.1
	done
	echo "# sessions waiting, bound: $(sessions)"
	return 1
}

grep -q '^hsmkey ' /proc/modules && rmmod hsmkey
check "insmod hsmkey.ko ktls=1" insmod "$HSMKEY_KO" ktls=1
daemon_start || { fail "hsmkeyd starts"; tap_done; }

section "identity keys and certificates"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" \
	-out "$work/ca.crt" -subj /CN=hsmkey-test-ca -days 2 2>/dev/null
# issue NAME CN: the CA's certificate for key NAME, from its CSR.
issue() {
	ctl csr "$1" --subject "/CN=$2" --dns "$2" > "$work/$1.csr" &&
		openssl x509 -req -in "$work/$1.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
			-copy_extensions copy -days 2 -out "$work/$1.crt" 2>/dev/null
}
for k in web:ecdsa-p256 web384:ecdsa-p384 webed:ed25519 webrsa:rsa-2048 client:ecdsa-p256; do
	check "create ${k%%:*} (${k#*:})" quiet ctl create "${k%%:*}" --type "${k#*:}"
	cn=www.test
	[[ ${k%%:*} == client ]] && cn=hsmkey-client
	check "... its certificate from its CSR" issue "${k%%:*}" "$cn"
	check "... nobody may handshake with it (policy)" quiet ctl policy "${k%%:*}" --users nobody
done
head -c 1048699 /dev/urandom > "$work/data"	# 1 MiB and a bit: many records

section "openssl s_client against tls serve: each version and size, a file by sendfile"
port=4430
for v in "1.3 TLS_AES_256_GCM_SHA384" "1.3 TLS_AES_128_GCM_SHA256" \
	 "1.2 ECDHE-ECDSA-AES256-GCM-SHA384" "1.2 ECDHE-ECDSA-AES128-GCM-SHA256"; do
	ver=${v%% *} suite=${v#* } port=$((port + 1))
	if [[ $ver == 1.3 ]]; then opts=(-tls1_3 -ciphersuites "$suite")
	else opts=(-tls1_2 -cipher "$suite"); fi
	serve "$port" web --file "$work/data"
	s_client "$port" "${opts[@]}" < /dev/null > "$work/got" 2> "$work/sc.err"
	check "TLS $ver $suite: the file arrives whole (cmp)" cmp "$work/data" "$work/got"
	check "... tls serve ended well" served_ok
	check "... with TLSv$ver $suite, SNI www.test" said "TLSv$ver $suite, sni www.test"
done
for k in web384 webed webrsa; do
	port=$((port + 1))
	serve "$port" "$k" --file "$work/data"
	s_client "$port" -tls1_3 < /dev/null > "$work/got" 2> "$work/sc.err"
	check "$k's key serves TLS 1.3 (the file arrives whole)" cmp "$work/data" "$work/got"
	check "... tls serve ended well" served_ok
done
# RSA in TLS 1.3 signs with RSA-PSS (rsa_pss_rsae_*): s_client says which.
port=$((port + 1))
serve "$port" webrsa
echo hello | timeout 60 openssl s_client -connect "127.0.0.1:$port" -servername www.test \
	-verify_hostname www.test -verify_return_error -CAfile "$work/ca.crt" -tls1_3 \
	> "$work/sc.out" 2>&1
check "the RSA key's TLS 1.3 handshake signature is RSA-PSS (s_client)" \
	grep -q "Peer signature type: RSA-PSS" "$work/sc.out"
served_ok > /dev/null
port=$((port + 1))
serve "$port" webrsa --file "$work/data"
s_client "$port" -tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384 < /dev/null > "$work/got" 2> "$work/sc.err"
check "an RSA key serves TLS 1.2 ECDHE-RSA-AES256-GCM-SHA384" cmp "$work/data" "$work/got"
check "... tls serve ended well" served_ok
port=$((port + 1))
serve "$port" webed --file "$work/data"
s_client "$port" -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384 < /dev/null > "$work/got" 2> "$work/sc.err"
check "an Ed25519 key serves TLS 1.2 (RFC 8422)" cmp "$work/data" "$work/got"
check "... tls serve ended well" served_ok

section "gnutls-cli against tls serve"
# gnutls-cli's input stays open for 8 s (at its end it would close the
# session before the file came) but is not waited for: it ends with tls serve's.
for pri in "NORMAL:-VERS-ALL:+VERS-TLS1.3 TLSv1.3" "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"; do
	port=$((port + 1))
	serve "$port" web --file "$work/data"
	timeout 60 gnutls-cli 127.0.0.1 -p "$port" --sni-hostname www.test \
		--verify-hostname www.test --x509cafile "$work/ca.crt" --priority "${pri%% *}" \
		--logfile "$work/gnutls.log" > "$work/got" 2>&1 < <(sleep 8)
	check "gnutls-cli ${pri#* }: the file arrives whole" cmp "$work/data" "$work/got"
	check "... tls serve ended well, ${pri#* }" served_ok
	check "... as agreed" said "${pri#* }"
done
port=$((port + 1))
serve "$port" webrsa --file "$work/data"
timeout 60 gnutls-cli 127.0.0.1 -p "$port" --sni-hostname www.test \
	--verify-hostname www.test --x509cafile "$work/ca.crt" \
	--priority "NORMAL:-VERS-ALL:+VERS-TLS1.3" --logfile "$work/gnutls.log" \
	> "$work/got" 2>&1 < <(sleep 8)
check "gnutls-cli TLSv1.3 to the RSA key: the file arrives whole" cmp "$work/data" "$work/got"
check "... tls serve ended well" served_ok
check "... signed with RSA-PSS (gnutls-cli says)" grep -q "RSA-PSS" "$work/gnutls.log"

section "tls connect: against tls serve (echo) and openssl s_server"
port=$((port + 1))
serve "$port" web
printf 'line %s\n' $(seq 2000) > "$work/lines"
timeout 60 "$hctl" --socket "$sock" tls connect "127.0.0.1:$port" --server-name www.test \
	--ca "$work/ca.crt" < "$work/lines" > "$work/got" 2> "$work/connect.err"
check "kTLS on both ends: what tls connect sends comes back (echo)" cmp "$work/lines" "$work/got"
check "... tls serve ended well (the client's close_notify ends it)" served_ok
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/plain.key" \
	-out "$work/plain.crt" -subj /CN=www.test -days 2 -CA "$work/ca.crt" -CAkey "$work/ca.key" \
	-addext subjectAltName=DNS:www.test 2>/dev/null
chmod 644 "$work/plain.key"	# tls_app (the control) runs as nobody
# s_server PORT ARGS: OpenSSL's server (-rev: each line back reversed), one client.
s_server() {
	local p=$1
	shift
	timeout 60 openssl s_server -accept "$p" -cert "$work/plain.crt" -key "$work/plain.key" \
		-rev -naccept 1 "$@" > "$work/ss.out" 2>&1 &
	sserver=$!
	wait_port "$p"
}
for v in -tls1_3 -tls1_2; do
	port=$((port + 1))
	s_server "$port" "$v"
	printf 'ping\n' | timeout 60 "$hctl" --socket "$sock" tls connect "127.0.0.1:$port" \
		--server-name www.test --ca "$work/ca.crt" > "$work/got" 2> "$work/connect.err"
	check "tls connect to openssl s_server $v: the line comes back reversed" \
		test "$(cat "$work/got")" = gnip
	wait "$sserver"
	check "... s_server saw the connection end cleanly" grep -q 'CONNECTION CLOSED' "$work/ss.out"
done
port=$((port + 1))
s_server "$port" -tls1_3
printf 'ping\n' | timeout 60 "$hctl" --socket "$sock" tls connect "127.0.0.1:$port" \
	--server-name other.test --ca "$work/ca.crt" > "$work/got" 2> "$work/connect.err"
check "tls connect refuses a certificate for another name" \
	grep -q "certificate verify failed" "$work/connect.err"
kill "$sserver" 2>/dev/null; wait "$sserver" 2>/dev/null

section "client certificates"
port=$((port + 1))
serve "$port" web --file "$work/data" --ca "$work/ca.crt"
s_client "$port" < /dev/null > "$work/got" 2> "$work/sc.err"
check "tls serve --ca: a client without a certificate is refused" served_failed "handshake"
check "... and gets nothing" test ! -s "$work/got"
port=$((port + 1))
serve "$port" web --file "$work/data" --ca "$work/ca.crt"
s_client "$port" -cert "$work/plain.crt" -key "$work/plain.key" < /dev/null > "$work/got" 2> "$work/sc.err"
check "... a client with one the CA issued gets the file" cmp "$work/data" "$work/got"
check "... and tls serve names it" served_ok
check "... by its subject" said "peer /CN=www.test"
port=$((port + 1))
s_server "$port" -tls1_3 -Verify 1 -CAfile "$work/ca.crt"
printf 'ping\n' | timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$hctl" \
	--socket "$sock" tls connect "127.0.0.1:$port" --server-name www.test --ca "$work/ca.crt" \
	--key client --cert "$work/client.crt" > "$work/got" 2> "$work/connect.err"
check "tls connect --key: s_server, which requires a client certificate, answers" \
	test "$(cat "$work/got")" = gnip
wait "$sserver"
check "... it was the client key's certificate" grep -q "CN *= *hsmkey-client" "$work/ss.out"

section "refused: no handshake, nothing left behind"
port=$((port + 1))
serve "$port" web --file "$work/data"
python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(bytes.fromhex("16030100c8010000c40303") + bytes(20))	# a ClientHello cut short
s.close()' "$port"
check "a peer that gives up mid-handshake: the handshake fails" served_failed "handshake with 127.0.0.1"
check "... and no session key is left in the module" no_sessions
port=$((port + 1))
as_nobody "$hctl" --socket "$sock" tls serve "$port" --key web --cert "$work/web384.crt" --count 1 \
	2> "$work/serve.err" &
served=$!
wait_port "$port"
s_client "$port" < /dev/null > "$work/got" 2> "$work/sc.err"
check "a certificate for another key is refused" served_failed "certificate is not for key 'web'"
port=$((port + 1))
setpriv --reuid=65533 --regid=65533 --clear-groups "$hctl" --socket "$sock" tls serve "$port" \
	--key web --cert "$work/web.crt" --count 1 2> "$work/serve.err" &
served=$!
wait_port "$port"
s_client "$port" < /dev/null > "$work/got" 2> "$work/sc.err"
check "a user the key's policy does not name is refused" served_failed "may not use key 'web'"
check "... and the client got nothing" test ! -s "$work/got"
check "revoke webed" quiet ctl revoke webed
port=$((port + 1))
serve "$port" webed --file "$work/data"
s_client "$port" < /dev/null > "$work/got" 2> "$work/sc.err"
check "a revoked identity key serves no handshake" served_failed "revoked: it serves no handshake"
check "every session key is gone with its socket" no_sessions

section "a key stopped while its handshake waits on the peer"
# The handshake was authorised when the socket came; the key is checked
# again after the peer's hello, before it signs anything (and once more
# when the handshake ends, before its keys are set: not reached here).
check "create webwait (ecdsa-p256)" quiet ctl create webwait --type ecdsa-p256
check "... its certificate" issue webwait www.test
check "... nobody may handshake with it" quiet ctl policy webwait --users nobody
port=$((port + 1))
serve "$port" webwait
waiting_client "$port"
let_hello
check "control: a hello sent a second late is answered (the line echoed)" said_client "^echoed"
check "... tls serve ended well" served_ok
port=$((port + 1))
serve "$port" webwait
waiting_client "$port"
check "the policy no longer names nobody" quiet ctl policy webwait --users root
let_hello
check "... the waiting handshake is refused" said_client "^refused"
check "... before the key signed: the policy" \
	served_failed "stopped before key 'webwait' signed: uid 65534 may not use key 'webwait'"
check "nobody again" quiet ctl policy webwait --users nobody
port=$((port + 1))
serve "$port" webwait
waiting_client "$port" 1.2
check "the policy no longer names nobody, a TLS 1.2 client waiting" quiet ctl policy webwait --users root
let_hello
check "... refused as well" said_client "^refused"
check "... before the key signed" served_failed "stopped before key 'webwait' signed: uid 65534"
check "nobody again" quiet ctl policy webwait --users nobody
port=$((port + 1))
serve "$port" webwait
waiting_client "$port"
check "revoke webwait" quiet ctl revoke webwait
let_hello
check "a key revoked while its handshake waits: refused" said_client "^refused"
check "... before the key signed" served_failed "stopped before key 'webwait' signed: key 'webwait' is revoked"
check "... no session key is left in the module" no_sessions
# After the key signed: a relay passes the client's hello and the
# server's answer, then holds the client's Finished back until
# $work/go2; the policy changes meanwhile.
check "create webfin (ecdsa-p256)" quiet ctl create webfin --type ecdsa-p256
check "... its certificate" issue webfin www.test
check "... nobody may handshake with it" quiet ctl policy webfin --users nobody
port=$((port + 1))
serve "$port" webfin
rm -f "$work/go2"
python3 - "$port" $((port + 1000)) "$work/go2" > "$work/relay.out" 2>&1 <<'PY' &
import os, select, socket, sys, time
l = socket.create_server(("127.0.0.1", int(sys.argv[2])))
print("listening", flush=True)
c, _ = l.accept()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
first, held = True, b""
while True:
    r, _, _ = select.select([c, s], [], [], 0.05)
    if held and os.path.exists(sys.argv[3]):
        s.sendall(held); held = b""
    for x in r:
        d = x.recv(65536)
        if not d:
            sys.exit(0)
        if x is s:
            c.sendall(d)
        elif first or os.path.exists(sys.argv[3]):
            s.sendall(d); first = False
        else:
            held += d
            print("holding", len(held), flush=True)
PY
relay=$!
for _ in $(seq 100); do grep -q listening "$work/relay.out" 2>/dev/null && break; sleep 0.1; done
waiting_client $((port + 1000)) 1.3 "$port"
touch "$work/go"	# the hello goes; the Finished is held
for _ in $(seq 100); do grep -q holding "$work/relay.out" && break; sleep 0.1; done
check "the client's Finished is held back by the relay" grep -q holding "$work/relay.out"
check "the policy no longer names nobody (the key has signed)" quiet ctl policy webfin --users root
touch "$work/go2"
wait "$waiter"
check "... the handshake is stopped before its keys are set" \
	served_failed "stopped before its keys were set: uid 65534 may not use key 'webfin'"
check "... the client gets no echo" bash -c "! grep -q '^echoed' '$work/mid.out'"
check "... no session key is left in the module" no_sessions
kill "$relay" 2>/dev/null
check "the audit log has each handshake: peer, version, cipher, SNI" bash -c \
	"grep '\"op\":\"tls-handshake\"' '$work/state/audit.log' | grep -q 'peer 127.0.0.1:[0-9]*, TLSv1.3 TLS_AES_256_GCM_SHA384, sni www.test'"
check "... and each refusal" bash -c \
	"grep '\"op\":\"tls-handshake\"' '$work/state/audit.log' | grep -q 'may not use key'"

section "an identity key's scalar in hsmkeyd's memory, kept and revoked"
# An imported key, whose scalar the test knows: OpenSSL keeps it in a
# BIGNUM, 64-bit limbs least significant first, so in memory it reads as
# the big-endian scalar reversed byte by byte.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/imp.pem" 2>/dev/null
read -r d_be d_mem < <(python3 - "$work/imp.pem" <<'PY'
import sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
d = load_pem_private_key(open(sys.argv[1], "rb").read(), None).private_numbers().private_value
b = d.to_bytes(32, "big")
print(b.hex(), b[::-1].hex())
PY
)
check "import imp (ecdsa-p256)" quiet ctl import imp --type ecdsa-p256 --key-file "$work/imp.pem"
check "... its certificate" issue imp www.test
check "... nobody may use it" quiet ctl policy imp --users nobody
port=$((port + 1))
serve "$port" imp --file "$work/lines"
s_client "$port" < /dev/null > "$work/got" 2> "$work/sc.err"
check "imp serves a handshake" cmp "$work/lines" "$work/got"
check "... tls serve ended well" served_ok
# While a context is kept, hsmkeyd holds imp's scalar in a BIGNUM (the
# scan's positive control); after the revocation, in neither byte order:
# not the kept context's copy, nor one left by the import (hsmkeyd reads
# key files itself, daemon/identity_file.c, not with OpenSSL's decoders,
# which leave copies in freed memory).
scan() { "$top/build/tests/memscan" "$daemon_pid" "$1" | sed -n 's/^total /total /p'; }
diag "kept: BIGNUM order $(scan "$d_mem"); big-endian $(scan "$d_be")"
check "kept: hsmkeyd holds the scalar (BIGNUM order; the scan's control)" \
	quiet "$top/build/tests/memscan" "$daemon_pid" "$d_mem" --expect-some
check "revoke imp" quiet ctl revoke imp
diag "revoked: BIGNUM order $(scan "$d_mem"); big-endian $(scan "$d_be")"
check "revoked: hsmkeyd holds no copy of the scalar (BIGNUM order)" \
	quiet "$top/build/tests/memscan" "$daemon_pid" "$d_mem" --expect-none
check "... nor big-endian (none left by the import)" \
	quiet "$top/build/tests/memscan" "$daemon_pid" "$d_be" --expect-none

section "the socket's holder as attacker"
# raw_hs ATTACK: a server handshake on a loopback socket whose peer stays
# silent, with a 1.5 s deadline, sent as root with key web; ATTACK ulp: the
# socket has kTLS's upper layer already; flags: while hsmkeyd holds the
# handshake, a thread of the caller clears O_NONBLOCK on the socket again
# and again (the file description is shared), as a caller that wants
# hsmkeyd's worker to block in read() would.  Prints the reply's error,
# the seconds it took, and how often the thread found O_NONBLOCK set.
raw_hs() {
	python3 - "$sock" "$1" "$work/web.crt" <<'PY'
import array, fcntl, json, os, socket, sys, threading, time
path, attack, cert = sys.argv[1:]
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
if attack == "ulp":
    a.setsockopt(socket.IPPROTO_TCP, 31, b"tls")
stop = False
seen = []	# the flags hsmkeyd left, each time the thread looked
def clear():
    while not stop:
        f = fcntl.fcntl(a, fcntl.F_GETFL)
        seen.append(f & os.O_NONBLOCK)
        fcntl.fcntl(a, fcntl.F_SETFL, f & ~os.O_NONBLOCK)
if attack == "flags":
    threading.Thread(target=clear, daemon=True).start()
req = {"v": 1, "op": "tls-handshake", "role": "server", "key": "web",
       "cert": open(cert).read(), "timeout_ms": 1500}
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(path)
t0 = time.monotonic()
s.sendmsg([json.dumps(req).encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [a.fileno()]))])
s.settimeout(30)
r = json.loads(s.recv(65536))
stop = True
print(r.get("error"), "|", f"{time.monotonic() - t0:.1f}", "|",
      f"nonblock seen {sum(1 for x in seen if x)} of {len(seen)} looks")
PY
}
r=$(raw_hs ulp)
check "a socket with kTLS's upper layer already is refused" grep -q "has kernel TLS" <<< "$r"
r=$(raw_hs flags)
diag "$r"
check "a caller clearing O_NONBLOCK during the handshake: the deadline holds (1.5 s)" \
	bash -c "[[ '$r' == *'did not finish in time'* ]] && python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < 5)' '$(cut -d'|' -f2 <<< "$r")'"
check "... and hsmkeyd never set O_NONBLOCK on it (the thread looked, and never saw it)" \
	grep -qE "\| nonblock seen 0 of [1-9][0-9]* looks$" <<< "$r"

section "a user's silent peers hold no worker"
# A handshake waits on its peer on a thread of its own, not on one of the
# control socket's workers (then 4, 3 of them for users other than root
# and the admin group; now 6 and 5): before, 3 silent peers of one user
# held every other user's request until their deadline.
# hold N: N client handshakes as nobody with key web (its certificate
# the client's), each on its own control connection, to peers that read
# the ClientHello and say nothing (8 s deadline).  Prints "running K":
# how many peers had their ClientHello within 5 s (how many handshakes
# ran at once); then a line per reply as it comes: its request's index,
# the seconds since the first request, its error.
hold() {
	as_nobody python3 - "$sock" "$work/web.crt" "$1" <<'PY'
import array, json, select, socket, sys, time
path, cert, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
req = json.dumps({"v": 1, "op": "tls-handshake", "role": "client", "key": "web",
                  "cert": open(cert).read(), "server_name": "www.test",
                  "timeout_ms": 8000}).encode()
keep, conns, peers = [], {}, []
t0 = time.monotonic()
for i in range(n):
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
    c = socket.create_connection(l.getsockname()); a, _ = l.accept()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(path)
    s.sendmsg([req], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [a.fileno()]))])
    keep += [l, c, a]
    conns[s] = i
    peers.append(c)
hello = set()
while len(hello) < n and time.monotonic() - t0 < 5:
    for c in select.select([p for p in peers if p not in hello], [], [], 0.1)[0]:
        c.recv(65536)
        hello.add(c)
print("running", len(hello), flush=True)
while conns:
    for s in select.select(list(conns), [], [], 30)[0] or sys.exit("no reply in 30 s"):
        r = json.loads(s.recv(65536))
        print(conns.pop(s), f"{time.monotonic() - t0:.1f}", r.get("error", "ok"), flush=True)
PY
}
# secs_below LIMIT COMMAND...: the command succeeds within LIMIT seconds.
secs_below() {
	local limit=$1 t0=$EPOCHREALTIME
	shift
	"$@" > /dev/null || return 1
	python3 -c 'import sys; t = float(sys.argv[2]) - float(sys.argv[1]); print(f"# {t:.1f} s"); sys.exit(t >= float(sys.argv[3]))' \
		"$t0" "$EPOCHREALTIME" "$limit"
}
# nobody's four (CLIENTS_PER_UID, a user's connections at once):
hold 4 > "$work/hold" 2>&1 &
held=$!
for _ in $(seq 100); do grep -q '^running' "$work/hold" && break; sleep 0.1; done
check "nobody's four handshakes run at once (each peer has its ClientHello)" \
	grep -q '^running 4$' "$work/hold"
check "another user's request is answered meanwhile (no worker is held)" \
	secs_below 4 setpriv --reuid=65533 --regid=65533 --clear-groups "$hctl" --socket "$sock" list
port=$((port + 1))
"$hctl" --socket "$sock" tls serve "$port" --key web --cert "$work/web.crt" --count 1 \
	--file "$work/lines" 2> "$work/serve.err" &
served=$!
wait_port "$port"
s_client "$port" < /dev/null > "$work/got" 2> "$work/sc.err"
check "root's handshake is served meanwhile (a thread to spare)" cmp "$work/lines" "$work/got"
check "... tls serve ended well" served_ok
wait "$held"
diag "$(tr '\n' ';' < "$work/hold")"
check "nobody's four ended at their deadline (8 s), not before" \
	test "$(grep -cE '^[0-3] ([89]|1[0-4])\.[0-9] .*did not finish in time' "$work/hold")" = 4
port=$((port + 1))
serve "$port" web --file "$work/lines"
s_client "$port" < /dev/null > "$work/got" 2> "$work/sc.err"
check "then nobody is served again" cmp "$work/lines" "$work/got"
check "... tls serve ended well" served_ok

section "the application holds no session key (positive control: OpenSSL's kTLS)"
# keys KEYLOG: the server's and the client's write keys (TLS 1.3,
# AES-256-GCM, SHA-384) from the traffic secrets s_client logged.
keys() {
	python3 - "$1" <<'PY'
import sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
s = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 3:
        s[f[0]] = bytes.fromhex(f[2])
def key(secret):
    info = (32).to_bytes(2, "big") + bytes([6 + 3]) + b"tls13 key" + b"\0"
    return HKDFExpand(hashes.SHA384(), 32, info).derive(secret).hex()
print(key(s["SERVER_TRAFFIC_SECRET_0"]), key(s["CLIENT_TRAFFIC_SECRET_0"]))
PY
}
# app MODE KEY: tls_app (as nobody) and s_client with a key log; then
# $tx/$rx (derived), $got_tx/$got_rx (getsockopt in the app), $app_pid.
app() {
	port=$((port + 1))
	rm -f "$work/go" "$work/keylog" && mkfifo -m 644 "$work/go"
	HSMKEYD_SOCKET=$sock as_nobody "$top/build/tests/guest/tls_app" "$1" "$port" "$3" "$2" \
		< "$work/go" > "$work/app.out" 2> "$work/app.err" &
	app=$!
	exec 9> "$work/go"
	wait_port "$port"
	s_client "$port" -tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384 -keylogfile "$work/keylog" \
		< /dev/null > "$work/got" 2> "$work/sc.err" &
	sclient=$!
	for _ in $(seq 300); do
		grep -q '^ready' "$work/app.out" && break
		kill -0 "$app" 2>/dev/null || { echo "# tls_app $1 failed: $(cat "$work/app.err")"; break; }
		sleep 0.1
	done
	app_pid=$(sed -n 's/^ready //p' "$work/app.out")
	read -r tx rx <<< "$(keys "$work/keylog")"
	got_tx=$(sed -n 's/^tx //p' "$work/app.out") got_rx=$(sed -n 's/^rx //p' "$work/app.out")
}
# app_done: let the app end; s_client ends with its connection.
app_done() {
	echo >&9
	exec 9>&-
	wait "$app"
	timeout 20 tail --pid="$sclient" -f /dev/null ||
		{ echo "# s_client still running: killed"; kill "$sclient"; }
	wait "$sclient"
} 2>/dev/null
app hsmkey web "$work/web.crt"
check "hsmkey: the app is up, its data reached s_client (the derived keys are the session's)" \
	bash -c "[[ -n '$app_pid' && -n '$tx' ]] && grep -qx hello '$work/got'"
check "hsmkey: getsockopt(TLS_TX) in the app does not give the server's write key" \
	test "$got_tx" != "$tx"
check "hsmkey: getsockopt(TLS_RX) does not give the client's write key" test "$got_rx" != "$rx"
check "hsmkey: the app's memory holds neither key (memscan, every mapping)" bash -c \
	"'$top/build/tests/memscan' '$app_pid' '$tx' --expect-none >/dev/null &&
	 '$top/build/tests/memscan' '$app_pid' '$rx' --expect-none >/dev/null"
app_done
app openssl "$work/plain.key" "$work/plain.crt"
check "openssl (control): the app is up, its data reached s_client" \
	bash -c "[[ -n '$app_pid' && -n '$tx' ]] && grep -qx hello '$work/got'"
check "openssl (control): getsockopt(TLS_TX) gives the server's write key back" \
	test "$got_tx" = "$tx"
check "openssl (control): the app's memory holds the server's write key" \
	"$top/build/tests/memscan" "$app_pid" "$tx" --expect-some
app_done
check "no session key is left in the module" no_sessions

section "identity keys kept in a PKCS#11 token (SoftHSM): the token signs each handshake"
# hsmkeyd on the pkcs11 backend: the key pairs are made in the token,
# sensitive and not extractable, and each handshake's signature is the
# token's (daemon/tls_signer.c; tests/host/test_tls_signer the rest).
. "$top/tests/lib/softhsm.sh"
daemon_stop
rm -f "$sock"
softhsm_setup "$work/hsm"
softhsm_token tls-hsm
softhsm_pin_file "$work/pin"
softhsm_conf "$work/hsm.conf" tls-hsm "$work/pin"
daemon_conf=$work/hsm.conf daemon_state=$work/hsm-state
check "hsmkeyd starts on the token" daemon_start
for k in hweb:ecdsa-p256 hweb384:ecdsa-p384 hwebed:ed25519 hwebrsa:rsa-2048 hclient:ecdsa-p256; do
	check "create ${k%%:*} (${k#*:}) in the token" quiet ctl create "${k%%:*}" --type "${k#*:}"
	cn=www.test
	[[ ${k%%:*} == hclient ]] && cn=hsmkey-client
	check "... its certificate from its CSR (signed by the token)" issue "${k%%:*}" "$cn"
	check "... nobody may handshake with it (policy)" quiet ctl policy "${k%%:*}" --users nobody
done
check "the token's private keys are sensitive and not extractable (PyKCS11)" softhsm_py tls-hsm <<'EOPY'
objs = s.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY)])
assert len(objs) >= 5, len(objs)
for o in objs:
    sens, ext = s.getAttributeValue(o, [P.CKA_SENSITIVE, P.CKA_EXTRACTABLE])
    assert sens and not ext, (sens, ext)
EOPY
for v in "hweb 1.3" "hweb384 1.3" "hwebed 1.3" "hwebrsa 1.3" "hweb 1.2 ECDHE-ECDSA-AES128-GCM-SHA256" \
	 "hwebed 1.2 ECDHE-ECDSA-AES256-GCM-SHA384" "hwebrsa 1.2 ECDHE-RSA-AES256-GCM-SHA384"; do
	read -r k ver suite <<< "$v"
	port=$((port + 1))
	if [[ $ver == 1.3 ]]; then opts=(-tls1_3); else opts=(-tls1_2 -cipher "$suite"); fi
	serve "$port" "$k" --file "$work/data"
	s_client "$port" "${opts[@]}" < /dev/null > "$work/got" 2> "$work/sc.err"
	check "$k in the token serves TLS $ver${suite:+ $suite}: the file arrives whole" \
		cmp "$work/data" "$work/got"
	check "... tls serve ended well" served_ok
done
port=$((port + 1))
serve "$port" hwebrsa
echo hello | timeout 60 openssl s_client -connect "127.0.0.1:$port" -servername www.test \
	-verify_hostname www.test -verify_return_error -CAfile "$work/ca.crt" -tls1_3 \
	> "$work/sc.out" 2>&1
check "the token's RSA key signs TLS 1.3 with RSA-PSS and SHA-256 (s_client)" \
	grep -q "Peer signature type: RSA-PSS" "$work/sc.out"
check "... Peer signing digest: SHA256" grep -q "Peer signing digest: SHA256" "$work/sc.out"
served_ok > /dev/null
port=$((port + 1))
serve "$port" hweb384 --file "$work/data"
timeout 60 gnutls-cli 127.0.0.1 -p "$port" --sni-hostname www.test \
	--verify-hostname www.test --x509cafile "$work/ca.crt" \
	--priority "NORMAL:-VERS-ALL:+VERS-TLS1.3" --logfile "$work/gnutls.log" \
	> "$work/got" 2>&1 < <(sleep 8)
check "gnutls-cli TLS 1.3 to hweb384 in the token: the file arrives whole" \
	cmp "$work/data" "$work/got"
check "... tls serve ended well" served_ok
port=$((port + 1))
s_server "$port" -tls1_3 -Verify 1 -CAfile "$work/ca.crt"
printf 'ping\n' | timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$hctl" \
	--socket "$sock" tls connect "127.0.0.1:$port" --server-name www.test --ca "$work/ca.crt" --key hclient --cert "$work/hclient.crt" \
	> "$work/got" 2> "$work/connect.err"
check "tls connect --key with the client key in the token: s_server, which requires it, answers" \
	test "$(cat "$work/got")" = gnip
wait "$sserver"
check "... it was that key's certificate" grep -q "CN *= *hsmkey-client" "$work/ss.out"
port=$((port + 1))
serve "$port" hweb384
waiting_client "$port"
check "revoke hweb384 (in the token) while its handshake waits" quiet ctl revoke hweb384
let_hello
check "... refused" said_client "^refused"
check "... before the token signed" served_failed "stopped before key 'hweb384' signed: key 'hweb384' is revoked"
ctl disable hweb > /dev/null
port=$((port + 1))
serve "$port" hweb
s_client "$port" -tls1_3 < /dev/null > /dev/null 2>&1
check "a disabled key in the token serves no handshake" served_failed "is disabled"
check "hsmkeyd logged no failed signature" bash -c "! grep -q 'did not sign' '$work/hsmkeyd.log'"
tap_done
