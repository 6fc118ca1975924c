#!/bin/bash
# backend = pkcs11: the audit log's checkpoints are signed inside the token
# by its non-extractable hsmkey:audit key, so the daemon holds no signing
# key.  Independent check: every checkpoint verifies with OpenSSL against
# the public key the reference client (pkcs11-tool) reads from the token.
# Attacker side: with the state directory and the audit MAC key (which the
# daemon does hold) an attacker appends records closed by a checkpoint of
# their own; signed by the key the daemon used to derive from hsmkey:root
# (and hold in memory), by a key of their own, or with a genuine signature
# replayed, it fails "hsmkeyctl audit verify", which trusts only the
# token's key, never the key a record names.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"

softhsm_setup "$work/hsm"
softhsm_pin_file "$work/pin"
log=$work/state/audit.log

# fresh LABEL: a new token and an empty state directory, the daemon on them.
fresh() {
	daemon_stop
	rm -rf "$work/state"
	softhsm_token "$1"
	softhsm_conf "$work/p11.conf" "$1" "$work/pin"
	daemon_conf=$work/p11.conf
	daemon_start
}
# busy: enough requests (two records each) for a periodic checkpoint.
busy() {
	ctl create k1 --type aes-256-xts >/dev/null || return 1
	for _ in $(seq 34); do
		ctl disable k1 >/dev/null && ctl enable k1 >/dev/null || return 1
	done
}
# token_pub LABEL FILE: hsmkey:audit's public key, PEM, as pkcs11-tool reads it.
token_pub() {
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$1" --login --pin "$SOFTHSM_PIN" \
		--read-object --type pubkey --label hsmkey:audit -o "$2" >/dev/null 2>&1
}
pub_hex() { openssl pkey -pubin -in "$1" -outform DER | tail -c 32 | od -An -tx1 -v | tr -d ' \n'; }
# checkpoints LOG DIR: each checkpoint's signed message and signature as
# DIR/SEQ.msg and DIR/SEQ.sig; prints how many.
checkpoints() {
	rm -rf "$2"; mkdir -p "$2"
	/usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line[65:])
    if o.get("op") != "checkpoint":
        continue
    open("%s/%d.msg" % (sys.argv[2], o["seq"]), "w").write(
        "hsmkey audit checkpoint v1 %d %s" % (o["seq"], o["prev"]))
    open("%s/%d.sig" % (sys.argv[2], o["seq"]), "wb").write(bytes.fromhex(o["signature"]))
    n += 1
print(n)
PY
}
# ossl_verify PEM DIR SEQ: OpenSSL verifies checkpoint SEQ's signature.
ossl_verify() {
	openssl pkeyutl -verify -pubin -inkey "$1" -rawin -in "$2/$3.msg" -sigfile "$2/$3.sig" \
		>/dev/null 2>&1
}
# all_verify PEM DIR: every checkpoint in DIR verifies.
all_verify() {
	local m
	for m in "$2"/*.msg; do
		ossl_verify "$1" "$2" "$(basename "$m" .msg)" || return 1
	done
}
# derive LABEL TOKEN: what the daemon derives in the token for LABEL (32
# bytes, hex): HMAC-SHA256 under hsmkey:root of LABEL || be32(1).
derive() {
	softhsm_py "$2" <<EOF
k = s.findObjects([(P.CKA_LABEL, "hsmkey:root"), (P.CKA_CLASS, P.CKO_SECRET_KEY)])[0]
print(bytes(s.sign(k, b"$1" + (1).to_bytes(4, "big"), P.Mechanism(P.CKM_SHA256_HMAC))).hex())
EOF
}
# seed_pem SEEDHEX FILE: the Ed25519 private key of a 32-byte seed (PKCS#8).
seed_pem() {
	printf '302e020100300506032b657004220420%s' "$1" | xxd -r -p |
		openssl pkey -inform DER -out "$2"
}
# forge MACKEY KIND [PEM]: append to the log, MACed under MACKEY, a forged
# "destroy" record and a "stop" checkpoint over it: signed with PEM (KIND
# sign), in token PEM by its hsmkey:audit (KIND token), or carrying the
# signature and key of the log's last genuine checkpoint (KIND replay).  The signed message is left in $work/forged.
forge() {
	/usr/bin/python3 - "$log" "$1" "$2" "${3:-}" "$work/forged" <<'PY'
import hmac, hashlib, json, subprocess, sys
log, key, kind, pem, out = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
lines = open(log).read().splitlines()
last = json.loads(lines[-1][65:])
head, seq = lines[-1][:64], last["seq"]
genuine = [json.loads(l[65:]) for l in lines if '"op":"checkpoint"' in l][-1]
def append(o):
    global head, seq
    seq += 1
    o["seq"], o["prev"] = seq, head
    return o
def write(o):
    global head
    body = json.dumps(o, separators=(",", ":"))
    head = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    open(log, "a").write(head + " " + body + "\n")
fake = append({"uid": 0, "pid": 1, "comm": "hsmkeyctl", "op": "destroy", "key": "k1",
               "result": "ok", "time": last["time"]})
write(fake)
cp = append({"op": "checkpoint", "why": "stop", "time": last["time"]})
msg = "hsmkey audit checkpoint v1 %d %s" % (seq, head)
open(out + ".msg", "w").write(msg)
if kind == "sign":
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", pem, "-rawin", "-in", out + ".msg"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-in", pem, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    cp["public_key"], cp["signature"] = der[-32:].hex(), sig.hex()
elif kind == "token":
    import PyKCS11 as P
    lib = P.PyKCS11Lib()
    lib.load("/usr/lib/softhsm/libsofthsm2.so")
    slot = [x for x in lib.getSlotList(tokenPresent=True)
            if lib.getTokenInfo(x).label.strip() == pem][0]
    s = lib.openSession(slot, P.CKF_SERIAL_SESSION)
    s.login("1234")
    k = s.findObjects([(P.CKA_LABEL, "hsmkey:audit"), (P.CKA_CLASS, P.CKO_PRIVATE_KEY)])[0]
    cp["public_key"] = genuine["public_key"]
    cp["signature"] = bytes(s.sign(k, msg.encode(), P.Mechanism(P.CKM_EDDSA))).hex()
    s.logout()
else:
    cp["public_key"], cp["signature"] = genuine["public_key"], genuine["signature"]
open(out + ".sig", "wb").write(bytes.fromhex(cp["signature"]))
write(cp)
PY
}
# refused: the daemon, started on the forged log, refuses it at the forged
# checkpoint for its signature (so the forged MACs were right).
refused() {
	local seq rc
	seq=$(tail -1 "$log" | cut -c66- | python3 -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
	daemon_start || return 1
	ctl audit verify >"$work/v.out" 2>"$work/v.err"
	rc=$?
	daemon_stop
	[[ $rc != 0 ]] && grep -q "(record $seq): bad checkpoint signature" "$work/v.err" ||
		{ sed 's/^/# /' "$work/v.out" "$work/v.err"; return 1; }
}

fresh hk || { fail "hsmkeyd starts with backend = pkcs11"; tap_done; }
check "requests enough for a periodic checkpoint" busy
check "audit verify accepts the log" bash -c "'$top/build/hsmkeyctl' --socket '$sock' audit verify > '$work/ok.out'"
diag "$(head -1 "$work/ok.out")"
daemon_stop
check "the reference client reads hsmkey:audit's public key from the token" token_pub hk "$work/token.pem"
tpub=$(pub_hex "$work/token.pem")
n=$(checkpoints "$log" "$work/cp")
check "the log has start, periodic and stop checkpoints ($n)" bash -c "
	grep -q '\"why\":\"start\"' '$log' && grep -q '\"why\":\"periodic\"' '$log' &&
	grep -q '\"why\":\"stop\"' '$log' && test '$n' -ge 3"
check "OpenSSL verifies every checkpoint with the token's public key" all_verify "$work/token.pem" "$work/cp"
check "audit verify named that key as the signing key" \
	grep -q "^checkpoint signing key (Ed25519): $tpub\$" "$work/ok.out"
check "every checkpoint names it" test "$(grep '"op":"checkpoint"' "$log" | grep -vc "\"public_key\":\"$tpub\"")" = 0
daemon_start && ctl create k2 --type aes-128-gcm >/dev/null
check "after a restart (the key pinned again from the token) the whole log verifies" quiet ctl audit verify
daemon_stop
checkpoints "$log" "$work/cp" >/dev/null
check "... and every checkpoint still verifies with the token's key" all_verify "$work/token.pem" "$work/cp"
# The token refusing (a wrong PIN, the helper restarted): records are
# still written, the periodic checkpoint waits, logged once, and is written
# once the token is back.
since_checkpoint() { tac "$log" | grep -m1 -n '"op":"checkpoint"' | cut -d: -f1; }
back_up() {
	local _
	for _ in $(seq 100); do
		ctl disable k1 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
daemon_start
softhsm_pin_file "$work/pin" 9999
kill -KILL "$(pgrep -P "$daemon_pid" -f -- --pkcs11-helper)"
for _ in $(seq 40); do ctl enable k1 >/dev/null 2>&1; done
check "token refusing: 80 more records are written, no checkpoint among them" \
	test "$(since_checkpoint)" -gt 80
check "... the daemon's log says once that the periodic checkpoint waits" \
	test "$(grep -c "cannot write the audit log's periodic checkpoint" "$work/hsmkeyd.log")" = 1
softhsm_pin_file "$work/pin"
kill -HUP "$daemon_pid"
check "token back: requests work again" back_up
check "... and the next record brought the periodic checkpoint" test "$(since_checkpoint)" -le 3
check "... which the daemon's log notes" grep -q "periodic checkpoint is written again" "$work/hsmkeyd.log"
check "... and the log verifies" quiet ctl audit verify
daemon_stop
checkpoints "$log" "$work/cp" >/dev/null
check "... every checkpoint with OpenSSL too" all_verify "$work/token.pem" "$work/cp"
seed_pem "$(derive "hsmkey audit signing v1" hk)" "$work/seed.pem"
none_verify() {	# PEM DIR: no checkpoint in DIR verifies with private key PEM
	local m
	for m in "$2"/*.msg; do
		openssl pkeyutl -verify -inkey "$1" -rawin -in "$m" -sigfile "${m%.msg}.sig" \
			>/dev/null 2>&1 && return 1
	done
	return 0
}
check "none is signed by the key the daemon derived from hsmkey:root and held (before)" \
	none_verify "$work/seed.pem" "$work/cp"

# The attacker: the state directory, and the audit MAC key (hsmkeyd holds
# it; here derived in the token as the daemon does).  Each case on a token
# of its own (the daemon's start after a forgery records its failed check).
forged_fails_openssl() {
	! openssl pkeyutl -verify -pubin -inkey "$1" -rawin -in "$work/forged.msg" \
		-sigfile "$work/forged.sig" >/dev/null 2>&1
}
forge "$(derive "hsmkey audit mac v1" hk)" sign "$work/seed.pem"
check "attacker: a checkpoint signed with the key derived from hsmkey:root fails OpenSSL against the token's key" \
	forged_fails_openssl "$work/token.pem"
check "... and audit verify refuses it for its signature" refused

fresh hk2 && daemon_stop
token_pub hk2 "$work/token2.pem"
openssl genpkey -algorithm ed25519 -out "$work/other.pem" 2>/dev/null
forge "$(derive "hsmkey audit mac v1" hk2)" sign "$work/other.pem"
check "attacker: a checkpoint signed with a key of their own (and naming it) fails OpenSSL" \
	forged_fails_openssl "$work/token2.pem"
refused_naming() { refused && grep -q 'the record names another key' "$work/v.err"; }
check "... and audit verify refuses it, not trusting the key the record names" refused_naming

fresh hk3 && daemon_stop
token_pub hk3 "$work/token3.pem"
forge "$(derive "hsmkey audit mac v1" hk3)" replay
check "attacker: a genuine token signature replayed on a new checkpoint fails OpenSSL" \
	forged_fails_openssl "$work/token3.pem"
check "... and audit verify refuses it" refused

# A token without Ed25519 (optional there; here SoftHSM told to offer only
# what delivery needs): the daemon still runs, says the key is then held
# by it, and signs with the key derived from hsmkey:root, as before.
sed "s/^log.level.*/&\nslots.mechanisms = CKM_ECDH1_DERIVE,CKM_AES_ECB_ENCRYPT_DATA,CKM_AES_KEY_WRAP,CKM_EC_KEY_PAIR_GEN,CKM_SHA256_HMAC,CKM_AES_KEY_GEN,CKM_GENERIC_SECRET_KEY_GEN/" \
	"$SOFTHSM2_CONF" > "$work/noed.conf"
daemon_wrap="env SOFTHSM2_CONF=$work/noed.conf"
if fresh hk5; then
	ok "a token lacking CKM_EDDSA: hsmkeyd starts"
	ctl create k1 --type aes-256-xts >/dev/null
	check "... says the checkpoint key is derived and held in its memory" \
		grep -q "cannot make Ed25519 signatures, or its tokens cannot share one key): the checkpoint key is derived" \
		"$work/hsmkeyd.log"
	check "... and its log verifies" quiet ctl audit verify
	daemon_stop
	checkpoints "$log" "$work/cp" >/dev/null
	seed_pem "$(derive "hsmkey audit signing v1" hk5)" "$work/seed5.pem"
	openssl pkey -in "$work/seed5.pem" -pubout -out "$work/seed5.pub"
	check "... signed by the key derived from hsmkey:root (OpenSSL)" \
		all_verify "$work/seed5.pub" "$work/cp"
else
	fail "a token lacking CKM_EDDSA: hsmkeyd starts"
fi
daemon_wrap=

# Control: the same forgery signed in the token (by whoever has its PIN) is
# accepted, so the refusals above are the signing key's doing alone.
fresh hk4 && daemon_stop
forge "$(derive "hsmkey audit mac v1" hk4)" token hk4
accepted() {
	local r
	daemon_start || return 1
	ctl audit verify >/dev/null
	r=$?
	daemon_stop
	return $r
}
check "control: a forged checkpoint signed by the token's hsmkey:audit verifies" accepted
tap_done
