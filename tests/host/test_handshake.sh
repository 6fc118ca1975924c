#!/bin/bash
# tls-handshake from the attacker's side, on the host (no module: every
# request here is refused before hsmkeyd would open it, or right at it): a
# descriptor that is no connected TCP socket (t_tls: one with kTLS already,
# and one whose flags its holder changes during the handshake);
# a user the identity key does not serve, who learns nothing of the key
# (missing, wrong type, disabled: one answer); a keyless client outside
# reader_group; a key outside its validity, disabled or scheduled for
# deletion; a group grant through supplementary groups; deadlines out of
# bounds; and the identity key's policy taking no kernel limits.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

# hs USER KIND JSON: send a tls-handshake request as USER (root, nobody,
# or UID:GID[:GROUPS]) passing a socket of KIND (tcp: connected over
# loopback; listen, udp, unix, none), print the reply.
hs() {
	local who=$1 kind=$2 req=$3 run=()
	case $who in
	root) ;;
	nobody) run=(setpriv --reuid=65534 --regid=65534 --clear-groups) ;;
	*) IFS=: read -r u g gs <<< "$who"
	   run=(setpriv --reuid="$u" --regid="$g")
	   if [[ -n $gs ]]; then run+=(--groups "$gs"); else run+=(--clear-groups); fi ;;
	esac
	"${run[@]}" /usr/bin/python3 - "$sock" "$kind" "$req" <<'PY'
import array, json, socket, sys
path, kind, req = sys.argv[1:]
fd = None
if kind in ("tcp", "listen"):
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
    if kind == "listen":
        fd = l
    else:
        c = socket.create_connection(l.getsockname()); a, _ = l.accept()
        fd = a
elif kind == "udp":
    fd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
elif kind == "unix":
    fd = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(path)
anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd.fileno()]))] if fd else []
s.sendmsg([req.encode()], anc)
print(s.recv(65536).decode())
PY
}
# refused REPLY TEXT: an error naming TEXT.
refused() {
	grep -q '"ok":false' <<< "$1" && grep -qF -- "$2" <<< "$1" || { echo "# reply: $1"; return 1; }
}
srv() { printf '{"v":1,"op":"tls-handshake","role":"server","key":"%s","cert":"x"%s}' "$1" "${2:-}"; }
# Authorised: the next step reads the certificate ("x" here).
nomod="the certificate file holds no PEM certificate"

printf 'reader_group = nogroup\n' > "$work/hsmkeyd.conf"
daemon_conf=$work/hsmkeyd.conf
daemon_start || { fail "hsmkeyd starts"; tap_done; }
ctl create web --type ecdsa-p256 > /dev/null
ctl create aes --type aes-256-gcm > /dev/null
ctl create off --type ed25519 > /dev/null && ctl disable off > /dev/null
ctl create going --type ed25519 > /dev/null && ctl schedule-deletion going > /dev/null
ctl create later --type ed25519 > /dev/null
ctl create staff --type ed25519 > /dev/null

section "the descriptor"
check "no descriptor: refused" refused "$(hs root none "$(srv web)")" "needs the socket passed"
check "a UDP socket: not a TCP socket" refused "$(hs root udp "$(srv web)")" "not a TCP socket"
check "a unix socket: not a TCP socket" refused "$(hs root unix "$(srv web)")" "not a TCP socket"
check "a listening socket: not connected" refused "$(hs root listen "$(srv web)")" "not connected"

section "who may: the identity key's policy"
check "root is served (authorised; the certificate is the next step)" refused "$(hs root tcp "$(srv web)")" "$nomod"
check "nobody, not named by web's policy (none): refused" refused "$(hs nobody tcp "$(srv web)")" "uid 65534 may not use key 'web'"
check "... and a key that does not exist gets the same answer" refused \
	"$(hs nobody tcp "$(srv nosuch)")" "uid 65534 may not use key 'nosuch'"
check "... and an AES key too (its type not told)" refused "$(hs nobody tcp "$(srv aes)")" "uid 65534 may not use key 'aes'"
check "... and a disabled key too (its state not told)" refused "$(hs nobody tcp "$(srv off)")" "uid 65534 may not use key 'off'"
check "root is told the AES key is no identity key" refused "$(hs root tcp "$(srv aes)")" "not an identity key"
check "root is told a disabled key serves no handshake" refused "$(hs root tcp "$(srv off)")" "disabled: it serves no handshake"
check "... and one scheduled for deletion" refused "$(hs root tcp "$(srv going)")" "serves no handshake"
check "policy: web serves nobody" quiet ctl policy web --users nobody
check "nobody is served now" refused "$(hs nobody tcp "$(srv web)")" "$nomod"
check "uid 4242 still is not" refused "$(hs 4242:4242 tcp "$(srv web)")" "may not use key 'web'"
check "policy: staff serves group 4343" quiet ctl policy staff --groups 4343
check "a user with 4343 as a supplementary group is served" refused \
	"$(hs 4242:4242:4343 tcp "$(srv staff)")" "$nomod"
check "policy: later not before an hour from now" quiet ctl policy later --users nobody --not-before +3600
check "a key before its validity: refused (EKEYEXPIRED)" refused "$(hs nobody tcp "$(srv later)")" "outside its policy's validity"
check "a keyless client outside reader_group is refused" refused \
	"$(hs 4242:4242 tcp '{"v":1,"op":"tls-handshake","role":"client","server_name":"x.test"}')" "needs membership of group nogroup"
check "... and one in it (nobody: group nogroup) is served" refused \
	"$(hs nobody tcp '{"v":1,"op":"tls-handshake","role":"client","server_name":"x.test"}')" "hsmkey.ko is not loaded"
check "an invalid key name is refused" refused "$(hs root tcp "$(srv '../x')")" "invalid key name"
check "a deadline under 100 ms is refused" refused "$(hs root tcp "$(srv web ',"timeout_ms":50')")" "'timeout_ms' must be 100 to 60000"
check "a deadline over 60 s is refused" refused "$(hs root tcp "$(srv web ',"timeout_ms":60001')")" "'timeout_ms' must be 100 to 60000"
check "a client without server_name is refused" refused \
	"$(hs root tcp '{"v":1,"op":"tls-handshake","role":"client"}')" "needs the server's name"
check "an SNI that is no DNS name is refused" refused \
	"$(hs root tcp '{"v":1,"op":"tls-handshake","role":"client","server_name":"a b"}')" "is no DNS name"
check "the refusals are in the audit log" bash -c \
	"grep '\"op\":\"tls-handshake\"' '$work/state/audit.log' | grep -q 'uid 65534 may not use key'"
check "... and a descriptor refused before any key is named too" bash -c \
	"grep '\"op\":\"tls-handshake\"' '$work/state/audit.log' | grep -q 'not a TCP socket'"

section "an identity key's policy"
check "kernel usage limits are refused for it" expect_fail "is an identity key" ctl policy web --max-requests 10
check "... and algorithms" expect_fail "is an identity key" ctl policy web --algorithms gcm
check "... and the policy is as it was" bash -c "ctl() { '$top/build/hsmkeyctl' --socket '$sock' \"\$@\"; }
	ctl --json show web | python3 -c 'import json,sys; p = json.load(sys.stdin)[\"policy\"]; sys.exit(p.get(\"max_requests\", 0) != 0)'"
long=$(printf 'a%.0s' $(seq 63)); long="*.$long.$long.$long.${long:0:61}"
dns=(); for _ in $(seq 32); do dns+=(--dns "$long"); done
ctl csr web --subject /CN=x "${dns[@]}" > "$work/long.csr"
check "32 wildcard DNS names of 255 characters fit a CSR whole" test \
	"$(openssl req -in "$work/long.csr" -text -noout | grep -o 'DNS:[^,]*' | grep -cxF "DNS:$long")" = 32
check "a 33rd is refused" expect_fail "at most 32 DNS names" ctl csr web --subject /CN=x "${dns[@]}" --dns a.test
tap_done
