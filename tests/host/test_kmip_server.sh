#!/bin/bash
# hsmkey's KMIP client (daemon/kmip: messages, mutual TLS) against a real
# KMIP server, PyKMIP's, on loopback, with PyKMIP's own client as the
# reference: keys made by one side are fetched by the other and must be
# the same bytes; a key fetched wrapped must be RFC 3394 of the key under
# the KEK (computed here by python-cryptography).  From the attacker's
# side: a server with a certificate of another CA, of another name, or a
# client certificate posing as a server; a client certificate of a rogue
# CA or without clientAuth; and hostile answers (2 GiB claimed, garbage,
# a request, lengths overrunning, cut short, silence, a closed line, no
# TLS at all).  Each is refused with a clear reason, within the timeout,
# without a crash and without changing anything on the server.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/kmip.sh"
client=$top/build/tests/kmip_client
work=$(mktemp -d /tmp/hsmkey-kmip.XXXXXX)
evil_pid=
cleanup() {
	[[ -n $evil_pid ]] && kill "$evil_pid" 2>/dev/null
	kmip_server_stop "$work"
	kmip_server_stop "$work" b
	rm -rf "$work"
}
trap cleanup EXIT

kmip_certs "$work" || { fail "certificates made by openssl"; tap_done; }
kmip_server_start "$work" || { fail "pykmip-server starts"; tap_done; }
server=localhost:$KMIP_PORT
port_a=$KMIP_PORT
ref() { /usr/bin/python3 "$top/tests/host/kmip/ref.py" "$work" "$KMIP_PORT" "$@"; }
# hsm ARGS: hsmkey's client with this host's certificate, a 5 s timeout.
hsm() { "$client" "$server" "$work/ca.pem" "$work/client.pem" "$work/client.key" 5000 "$@"; }
field() { grep -o " $1=[^ ]*" | head -n 1 | cut -d= -f2; }

section "both clients on one server"
out=$(hsm discover)
check "hsmkey: the server speaks KMIP 1.2 (DiscoverVersions)" grep -q "versions=.*1\.2" <<< "$out"
check "hsmkey and PyKMIP agree on KMIP 1.4, the newest both speak" \
	test "$(field version <<< "$out")" = 1.4
out=$(hsm create hsmkey-made)
uid=$(field uid <<< "$out")
check "hsmkey creates a key" test -n "$uid"
mine=$(hsm get "$uid" | field material)
theirs=$(ref get "$uid")
check "the reference client fetches hsmkey's key: the same 32 bytes" \
	test -n "$mine" -a "$mine" = "$theirs" -a ${#mine} = 64
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
ruid=$(ref register ref-made "$key")
out=$(hsm locate ref-made)
check "hsmkey finds the reference client's key by name (Locate)" test "$(field uids <<< "$out")" = "$ruid"
check "hsmkey fetches the reference client's key: the bytes registered" \
	test "$(hsm get "$ruid" | field material)" = "$key"
kek=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
kuid=$(ref register ref-kek "$kek") && ref activate "$kuid"
out=$(hsm get "$ruid" "$kuid")
check "hsmkey fetches a key wrapped under a KEK the server holds: marked wrapped" \
	test "$(field wrapped <<< "$out")" = 1
check "... and it is RFC 3394 of the key under that KEK" \
	test "$(field material <<< "$out")" = \
	"$(/usr/bin/python3 "$top/tests/host/kmip/ref.py" wrap "$kek" "$key")"
check "hsmkey activates a key: the reference client sees it ACTIVE" \
	test "$(hsm activate "$uid" >/dev/null && ref state "$uid")" = ACTIVE
ref revoke "$uid"
check "the reference client revokes it: hsmkey reads State Compromised (4)" \
	test "$(hsm attrs "$uid" | field state)" = 4
hsm destroy "$ruid" > /dev/null
check "hsmkey destroys a key: the reference client's Get says Item Not Found" \
	grep -qx "refused: ITEM_NOT_FOUND" <<< "$(ref get "$ruid")"
out=$(hsm get "$ruid")
check "hsmkey's get of it: refused, Item Not Found" \
	test $? = 1 -a -n "$(grep 'refused: Item Not Found' <<< "$out")"

section "the attacker's side: certificates"
objects=$(ref count)
# refused NAME SERVER CA CERT KEY PATTERN: a create that must not get through.
refused() {
	local name=$1 out rc
	shift
	out=$("$client" "$1" "$2" "$3" "$4" 5000 create "attack-$RANDOM" 2>&1)
	rc=$?
	diag "$name: $(head -n 2 <<< "$out" | tr '\n' ' ')"
	[[ $rc == 1 || $rc == 3 ]] && grep -qE "$5" <<< "$out"
}
check "a server whose CA is not kmip_ca: refused, not trusted" \
	refused "other CA" "$server" "$work/rogue-ca.pem" "$work/client.pem" "$work/client.key" \
	"not trusted: (unable to get local issuer|self-signed certificate in certificate chain)"
check "a server reached by a name its certificate lacks: refused" \
	refused "wrong name" "127.0.0.1:$KMIP_PORT" "$work/ca.pem" "$work/client.pem" \
	"$work/client.key" "not trusted: IP address mismatch"
check "this host's certificate from a rogue CA (same CN): refused by the server" \
	refused "rogue client" "$server" "$work/ca.pem" "$work/rogue-client.pem" \
	"$work/rogue-client.key" "TLS (failed|handshake)|Connection reset"
check "a certificate of the right CA without clientAuth: refused by the server" \
	refused "no clientAuth" "$server" "$work/ca.pem" "$work/noauth-client.pem" \
	"$work/noauth-client.key" "refused: Authentication Not Successful|TLS (failed|handshake)"
check "the key files crossed (a certificate and another's key): refused before connecting" \
	refused "crossed key" "$server" "$work/ca.pem" "$work/client.pem" "$work/rogue-client.key" \
	"kmip_key: cannot load this host's key"
check "none of these made anything on the server" test "$(ref count)" = "$objects"

section "the attacker's side: hostile servers"
# hostile MODE [CERT]: one call to a server of tests/host/kmip/evil_server.py;
# its exit code, output and milliseconds into h_rc, h_out, h_ms, and the
# milliseconds from the server's going quiet to the call's end into h_quiet
# (empty when it never went quiet).
hostile() {
	local port t0 t1 q i who=${2:-server}
	port=$(kmip_free_port)
	# Gone first: the server's shell may truncate it only after the wait
	# below has looked, and the last server's "ready" would be taken.
	rm -f "$work/evil.out"
	EVIL_CERT=$who /usr/bin/python3 "$top/tests/host/kmip/evil_server.py" "$work" "$port" "$1" \
		> "$work/evil.out" 2>&1 &
	evil_pid=$!
	for ((i = 0; i < 300; i++)); do grep -q ready "$work/evil.out" && break; sleep 0.1; done
	t0=$(date +%s%N)
	h_out=$("$client" "localhost:$port" "$work/ca.pem" "$work/client.pem" "$work/client.key" 2000 \
		create hostile 2>&1)
	h_rc=$?
	t1=$(date +%s%N)
	h_ms=$(((t1 - t0) / 1000000))
	kill "$evil_pid"; wait "$evil_pid" 2>/dev/null; evil_pid=
	q=$(grep -o "^quiet [0-9]*" "$work/evil.out" | tail -n 1 | cut -d' ' -f2)
	h_quiet=${q:+$(((t1 - q) / 1000000))}
	diag "$1 (with the $who certificate): exit $h_rc in $h_ms ms${q:+ ($h_quiet ms after the line went quiet)}: $(head -n 2 <<< "$h_out" | tr '\n' ' ')"
}
# expect MODE PATTERN [CERT]: refused (no crash), saying PATTERN, at once:
# within 1.5 s of the server's last word (when it had one; the TLS
# handshake is the connect step's, so it is not counted here) and within
# the connect step's deadline and 1.5 s in all.
expect() {
	hostile "$1" "$3"
	[[ $h_rc == 1 || $h_rc == 3 ]] && grep -qE "$2" <<< "$h_out" &&
		((${h_quiet:-0} < 1500 && h_ms < 3500))
}
# expect_timeout MODE PATTERN: refused, saying PATTERN, once the 2 s
# deadline of the step the server fell silent in has passed: no sooner
# than 2 s from the call's start, less than 3 s after the server went
# quiet (the wait began no later than that), and within the two steps'
# deadlines (connecting, then the request) in all.  The upper bound is
# measured from the server's side so that a slow TLS handshake on a
# loaded machine counts against the connect step, not this one.
expect_timeout() {
	hostile "$1"
	[[ $h_rc == 3 ]] && grep -qE "$2" <<< "$h_out" && [[ -n $h_quiet ]] &&
		((h_ms >= 2000 && h_quiet < 3000 && h_ms < 5500))
}
check "another host's client certificate posing as the server: refused" \
	expect silent "not trusted: unsuitable certificate purpose" client
check "an answer claiming 2 GiB: refused at once, nothing allocated" \
	expect huge "larger than any hsmkey takes"
check "garbage: refused, not a KMIP response" expect garbage "not a KMIP response"
check "a Request Message for an answer: refused" expect request "not a KMIP response"
check "inner lengths overrunning the message: refused as malformed" expect malformed "answer is malformed"
check "an answer cut short: the call times out (2 s)" expect_timeout short "no answer within 2000 ms"
check "no answer at all: the call times out (2 s)" expect_timeout silent "no answer within 2000 ms"
check "the line closed instead of an answer: refused" expect close "reset"
check "no TLS at all: the handshake times out (2 s)" expect_timeout plain "handshake.*timed out"

section "failover: two servers on one database"
kmip_server_start "$work" b "$work/pykmip.db" || fail "a second pykmip-server starts"
port_b=$KMIP_PORT
dead=$(kmip_free_port)
# two LIST ARGS: hsmkey's client over the servers of LIST.
two() { "$client" "$1" "$work/ca.pem" "$work/client.pem" "$work/client.key" 2000 "${@:2}"; }
out=$(two "localhost:$dead,localhost:$port_a" discover)
check "the first server down: the second answers" grep -qx server=1 <<< "$out"
out=$(two "localhost:$port_a,localhost:$port_b" create failover-key)
fuid=$(field uid <<< "$out")
check "both up: the first answers" test -n "$fuid" -a -n "$(grep -x server=0 <<< "$out")"
before=$(two "localhost:$port_a,localhost:$port_b" get "$fuid" | field material)
kmip_server_stop "$work"
out=$(two "localhost:$port_a,localhost:$port_b" get "$fuid")
check "the first stopped between calls: the second answers, the same key" \
	test -n "$(grep -x server=1 <<< "$out")" -a "$(field material <<< "$out")" = "$before" -a -n "$before"
objects=$(two "localhost:$port_b" locate failover-key | field uids)
port=$(kmip_free_port)
rm -f "$work/evil.out"
/usr/bin/python3 "$top/tests/host/kmip/evil_server.py" "$work" "$port" discover > "$work/evil.out" 2>&1 &
evil_pid=$!
for ((i = 0; i < 300; i++)); do grep -q ready "$work/evil.out" && break; sleep 0.1; done
out=$(two "localhost:$port,localhost:$port_b" create failover-key 2>&1)
rc=$?
diag "a Create to a server that goes quiet: exit $rc: $out"
check "a Create that went out to a server gone quiet: not sent again, the operator told" \
	test $rc = 3 -a -n "$(grep 'may have been carried out' <<< "$out")"
check "... and the second server got no Create" \
	test "$(two "localhost:$port_b" locate failover-key | field uids)" = "$objects"
out=$(two "localhost:$port,localhost:$port_b" get "$fuid" 2>&1)
check "a Get to a server gone quiet: the second answers it" \
	test -n "$(grep -x server=1 <<< "$out")" -a "$(field material <<< "$out")" = "$before"
kill "$evil_pid"; wait "$evil_pid" 2>/dev/null; evil_pid=

section "the server down"
kmip_server_stop "$work" b
t0=$SECONDS
out=$(hsm discover 2>&1)
rc=$?
diag "server stopped: exit $rc: $out"
check "the server stopped: a clear refusal at once, not a hang" \
	test $rc = 3 -a -n "$(grep 'cannot connect' <<< "$out")" -a $((SECONDS - t0)) -lt 3
tap_done
