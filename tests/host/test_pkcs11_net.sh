#!/bin/bash
# A network HSM, simulated honestly (issue 12): a SoftHSM token served by
# `p11-kit server` and reached through p11-kit's client module, chosen per
# token by the URI's query (module-path, x-p11kit-server).  The server's
# whole process group is killed (the listener alone leaves p11-kit-remote
# serving, M12), stopped for longer than pkcs11_timeout, and absent when
# hsmkeyd starts: the daemon says it is degraded and which token, refuses
# what needs the token without touching its state directory, and comes
# back by itself once the server does.  Only the key store crosses the
# RPC (no ECDH, AES-KW or EdDSA there, M11); there is no kernel here.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"

softhsm_setup "$work/hsm"
softhsm_token net
softhsm_pin_file "$work/pin"
at_exit p11kit_server_stop
addr="unix:path=$work/p11.sock"
uri="net?module-path=$P11KIT_CLIENT&x-p11kit-server=unix:path%3D$work/p11.sock"
jstatus() { ctl --json status 2>/dev/null; }
jfield() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', ''))"; }
# The key store's files; the audit log is kept aside (a refusal is audited).
state_sum() {
	(cd "$work/state" && find . -type f ! -name audit.log -print0 | sort -z | xargs -0 md5sum)
	cp "$work/state/audit.log" "$work/audit.before"
}
# audit_only_refusals: the audit log grew only by records of refused requests.
audit_only_refusals() {
	local n
	n=$(stat -c %s "$work/audit.before")
	cmp -s -n "$n" "$work/audit.before" "$work/state/audit.log" || return 1
	tail -c +$((n + 1)) "$work/state/audit.log" > "$work/audit.added"
	diag "audit records added: $(wc -l < "$work/audit.added"), ops: $(grep -o '"op":"[a-z-]*"' "$work/audit.added" | sort | uniq -c | tr -s ' \n' ' ')"
	! grep -v '"result":"error"' "$work/audit.added"
}
now() { date +%s.%N; }
wait_up() { wait_backend_up "$@"; }
# ref_id NAME VERSION: CKA_ID (hex) of hsmkey:NAME:vVERSION as the reference
# client sees it, opening the token directly through libsofthsm2.so.
ref_id() {
	softhsm_py net <<EOF2
print(",".join(bytes(s.getAttributeValue(o, [P.CKA_ID])[0]).hex()
	for o in s.findObjects([(P.CKA_LABEL, "hsmkey:$1:v$2")])))
EOF2
}
key_id() { ctl --json show "$1" | jfield id; }

# 1. The URI's query: what hsmkeyd does not know is refused at start.
refused() {
	local conf=$work/bad.conf
	softhsm_conf "$conf" "$1" "$work/pin"
	: > "$work/bad.log"
	daemon_conf=$conf daemon_log=$work/bad.log daemon_state=$work/bad daemon_spawn
	for _ in $(seq 100); do
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$daemon_pid" 2>/dev/null; then
		diag "hsmkeyd started on $1"
		daemon_stop
		return 1
	fi
	wait "$daemon_pid"
	local rc=$?
	daemon_pid=
	((rc != 0)) && grep -q -- "$2" "$work/bad.log"
}
check "an unknown query attribute is refused at start, named" \
	refused "net?module-path=$P11KIT_CLIENT&frobnicate=1" "unsupported query attribute in 'frobnicate=1'"
check "an unknown vendor attribute is refused too" \
	refused "net?x-p11kit-servr=unix:path%3D/x" "unsupported query attribute in 'x-p11kit-servr="
check "a PIN in the URI is refused" refused "net?pin-value=98761234" "a PIN (pin-value, pin-source) is refused"
check "... and not logged" bash -c "! grep -q 98761234 '$work/bad.log'"
check "a module-path that is not there is refused" \
	refused "net?module-path=/nonexistent/p11.so" "no PKCS#11 module /nonexistent/p11.so"
# The attacker's side: a user who can bind the server's socket path gets
# the PIN (C_Login over the RPC) and plays the token.
mkdir -m 0777 "$work/open" && mkdir -m 1777 "$work/sticky"
check "a server socket in a directory anyone can write to is refused at start, named" \
	refused "net?module-path=$P11KIT_CLIENT&x-p11kit-server=unix:path%3D$work/open/s.sock" \
	"token URI: $work/open, on the way to the p11-kit server's socket, is not a directory only root"
check "... in a sticky one too (the path is free while the server is down)" \
	refused "net?module-path=$P11KIT_CLIENT&x-p11kit-server=unix:path%3D$work/sticky/s.sock" \
	"token URI: $work/sticky, on the way"
check "... and a socket of another user's" bash -c "
	/usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' '$work/ours.sock' &&
	chown 65534 '$work/ours.sock'"
check "... is refused" \
	refused "net?module-path=$P11KIT_CLIENT&x-p11kit-server=unix:path%3D$work/ours.sock" \
	"token URI: $work/ours.sock is not a socket of root's"
rm -f "$work/ours.sock"

# 2. The token behind p11-kit server.
p11kit_server_start "$work/p11.sock" net
check "p11-kit server listens, in a process group of its own" \
	test "$(ps -o pgid= -p "$P11KIT_PGID" | tr -d ' ')" = "$P11KIT_PGID"
softhsm_conf "$work/p11.conf" "$uri" "$work/pin" "pkcs11_timeout = 2s" "deletion_wait = 1s"
daemon_conf=$work/p11.conf
daemon_start || { fail "hsmkeyd starts on the token behind p11-kit server"; tap_done; }
check "status is up" wait_up 10
check "the helper reaches the token through the server (a p11-kit-remote serves it)" \
	quiet pgrep -g "$P11KIT_PGID" -x p11-kit-remote
check "the log names what the RPC lacks for delivery" \
	grep -q "token 'net' lacks CKM_ECDH1_DERIVE" "$work/hsmkeyd.log"
check "the audit checkpoint key falls back (no EdDSA over the RPC), with a warning" \
	grep -q "cannot make Ed25519 signatures" "$work/hsmkeyd.log"
check "create k1" quiet ctl create k1 --type aes-256-xts
check "create k2" quiet ctl create k2 --type aes-128-gcm
check "rotate k1" quiet ctl rotate k1
check "create kr, revoke kr" bash -c "'$top/build/hsmkeyctl' --socket '$sock' create kr --type aes-128-gcm >/dev/null &&
	'$top/build/hsmkeyctl' --socket '$sock' revoke kr >/dev/null"
check "disable k2, enable k2" bash -c "'$top/build/hsmkeyctl' --socket '$sock' disable k2 >/dev/null &&
	'$top/build/hsmkeyctl' --socket '$sock' enable k2 >/dev/null"
id1=$(key_id k1)
check "the reference client sees k1 v2 in the token (CKA_ID = id, version 2)" \
	test "$(ref_id k1 2)" = "${id1}00000002"

# Killed: the listener and every p11-kit-remote.
before=$(state_sum)
pg=$P11KIT_PGID
p11kit_server_stop KILL
check "the server's whole process group is gone (listener and p11-kit-remote)" \
	bash -c "! pgrep -g $pg"
out=$(ctl create k3 --type aes-256-xts 2>&1)
check "create fails" test $? -ne 0
diag "create: $out"
check "... saying the HSM is unreachable and naming the token and its server" \
	grep -q "the HSM is unreachable (token 'net' at $addr: " <<< "$out"
check "the token really went away: the log has CKR_DEVICE_ERROR" \
	grep -q "token 'net': .*CKR_DEVICE_ERROR" "$work/hsmkeyd.log"
check "status --json: degraded" test "$(jstatus | jfield backend)" = degraded
reason=$(jstatus | jfield backend_reason)
diag "backend_reason: $reason"
check "... the reason names the token and the server" grep -q "^token 'net' at $addr: " <<< "$reason"
check "... not the PIN" bash -c "! grep -q 1234 <<< '$reason'"
check "status (text) says degraded, naming the token" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' status | grep -q \"degraded: token 'net' at $addr\""
for cmd in "show k1" "rotate k1" "disable k2" "schedule-deletion k2" "list"; do
	check "$cmd fails with the same message" \
		expect_fail "the HSM is unreachable (token 'net' at $addr" ctl $cmd
done
check "nothing changed in the key store (the state directory)" test "$before" = "$(state_sum)"
check "... and the audit log only grew by the refusals" audit_only_refusals

# Back at the same address: the daemon respawns its helper (a new
# C_Initialize, M13) within its backoff, without a restart.
sleep 2
p11kit_server_start "$work/p11.sock" net
t0=$(now)
check "once the server is back, status is up again without a restart" wait_up 70
diag "recovered $(echo "$(now) - $t0" | bc) s after the server restarted (down for ~3 s before)"
check "... the log says so" grep -q "no longer degraded\|reachable again" "$work/hsmkeyd.log"
check "k1 and k2 are there" bash -c "'$top/build/hsmkeyctl' --socket '$sock' list |
	awk '\$1 == \"k1\" && \$3 == 2 {a=1} \$1 == \"k2\" {b=1} END {exit !(a && b)}'"
check "show k1 works" quiet ctl show k1
check "a new create works" quiet ctl create k3 --type aes-256-xts
id3=$(key_id k3)
check "the reference client sees k3 (label and CKA_ID)" test "$(ref_id k3 1)" = "${id3}00000001"
id2=$(key_id k2)
check "schedule-deletion k2 (1 s)" quiet ctl schedule-deletion k2
for _ in $(seq 80); do ctl list | grep -q '^k2 ' || break; sleep 0.1; done
check "k2 is destroyed when the wait ends" bash -c "! '$top/build/hsmkeyctl' --socket '$sock' list | grep -q '^k2 '"
check "... the reference client finds no object with its CKA_ID" \
	test "$(softhsm_count_id net "${id2}00000001")" = 0
check "the audit log verifies" quiet ctl audit verify

# Stopped for longer than pkcs11_timeout (2 s): a hung HSM.
before=$(state_sum)
p11kit_server_stop STOP
t0=$(now)
out=$(ctl create k4 --type aes-256-xts 2>&1)
check "with the server stopped, create fails" test $? -ne 0
took=$(echo "$(now) - $t0" | bc)
diag "create: $out (after $took s)"
check "... within the timeout and a margin (${took} s)" test "$(echo "$took < 6" | bc)" = 1
check "... saying the token did not answer in time" \
	grep -q "token 'net': no answer within 2000 ms\|the HSM is unreachable (token 'net' at $addr" <<< "$out"
check "status says degraded, naming the token" \
	grep -q "^token 'net' at $addr: " <<< "$(jstatus | jfield backend_reason)"
check "nothing changed in the key store (the state directory)" test "$before" = "$(state_sum)"
check "... and the audit log only grew by the refusals" audit_only_refusals
p11kit_server_stop CONT
t0=$(now)
check "SIGCONT: status is up again without a restart" wait_up 70
diag "recovered $(echo "$(now) - $t0" | bc) s after SIGCONT"
check "... and a create works" quiet ctl create k4 --type aes-256-xts
check "the reference client sees k4" test "$(ref_id k4 1)" = "$(key_id k4)00000001"

# Started while the server is down: degraded, then up when it starts.
daemon_stop
p11kit_server_stop KILL
: > "$work/hsmkeyd.log"
daemon_start || { fail "hsmkeyd starts while its token's server is down"; tap_done; }
ok "hsmkeyd starts while its token's server is down"
check "status: degraded, naming the token and the server" \
	grep -q "^token 'pkcs11:token=net' at $addr: " <<< "$(jstatus | jfield backend_reason)"
check "the log says degraded" grep -q "degraded" "$work/hsmkeyd.log"
check "create fails with a clear message" expect_fail "the HSM is unreachable (token" \
	ctl create k5 --type aes-256-xts
sleep 2
p11kit_server_start "$work/p11.sock" net
t0=$(now)
check "once the server starts, status is up without a restart" wait_up 70
diag "recovered $(echo "$(now) - $t0" | bc) s after the server started"
check "the keys made before are there" bash -c "for k in k1 k3 k4; do
	'$top/build/hsmkeyctl' --socket '$sock' show \$k >/dev/null || exit 1; done"
check "a new create works" quiet ctl create k5 --type aes-256-xts
check "the reference client sees k5" test "$(ref_id k5 1)" = "$(key_id k5)00000001"

# Without a helper process (pkcs11_helper = no) the daemon loads the client
# module itself: the server address is set in its own environment.
daemon_stop
echo "pkcs11_helper = no" >> "$work/p11.conf"
daemon_start || fail "hsmkeyd starts with pkcs11_helper = no"
check "pkcs11_helper = no: up through the server" wait_up 10
check "... a p11-kit-remote serves it" quiet pgrep -g "$P11KIT_PGID" -x p11-kit-remote
check "... a create works" quiet ctl create k6 --type aes-256-xts
check "... and the reference client sees k6" test "$(ref_id k6 1)" = "$(key_id k6)00000001"
tap_done
