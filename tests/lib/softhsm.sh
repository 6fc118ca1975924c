# SoftHSM2 tokens for tests: a private SOFTHSM2_CONF, tokens made with
# softhsm2-util, and PyKCS11 (the independent reference client) to look at
# or plant objects.  Source it, then:
#   softhsm_setup DIR            private config and token directory under DIR
#                                (exports SOFTHSM2_CONF; sets SOFTHSM_MODULE)
#   softhsm_token LABEL [PIN]    a new token (PIN default 1234, SO PIN 12345678)
#   softhsm_pin_file PATH [PIN]  a PIN file, mode 0400
#   softhsm_count_id LABEL HEXID objects in token LABEL whose CKA_ID is HEXID
#   softhsm_count_label LABEL OBJLABEL   the same by CKA_LABEL
#   softhsm_count_keys LABEL OBJLABEL    the secret and private keys labelled
#                                OBJLABEL (a key pair's public half not counted)
#   softhsm_secret LABEL OBJLABEL KEYTYPE HEXVALUE [EXTRACTABLE] [SENSITIVE]
#                                a secret key with a known value (KEYTYPE: aes
#                                or generic; flags 1/0, default 1 1), made by
#                                PyKCS11 as an HSM's own tools would
#   softhsm_py LABEL [PIN] < SCRIPT   run SCRIPT with `s` a logged-in session
#                                on token LABEL and `P` the PyKCS11 module
#   softhsm_conf FILE TOKEN PIN_FILE [LINE...]   an hsmkeyd.conf for backend = pkcs11
#   softhsm_daemon [LINE...]     the usual setup: token hk under $work/hsm, PIN
#                                file $work/pin, $work/p11.conf (with LINEs) as
#                                $daemon_conf (tests/lib/daemon.sh)
#   p11kit_server_start SOCKET LABEL   `p11-kit server` for token LABEL on a
#                                unix SOCKET, in a process group of its own
#                                ($P11KIT_PGID: the listener and each
#                                p11-kit-remote it starts; kill the group,
#                                not the listener only, M12)
#   p11kit_server_stop [SIGNAL]  SIGNAL (default KILL) to that whole group;
#                                with KILL or TERM, waits until none is left
# Call /usr/bin/python3: the python3 on PATH may be a shim without PyKCS11.
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
SOFTHSM_PIN=1234
SOFTHSM_SO_PIN=12345678

softhsm_setup() {
	mkdir -p "$1/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
		"$1/tokens" > "$1/softhsm2.conf"
	export SOFTHSM2_CONF=$1/softhsm2.conf
}

softhsm_token() {
	softhsm2-util --init-token --free --label "$1" --so-pin "$SOFTHSM_SO_PIN" \
		--pin "${2:-$SOFTHSM_PIN}" >/dev/null
}

softhsm_pin_file() {
	rm -f "$1"
	printf '%s\n' "${2:-$SOFTHSM_PIN}" > "$1"
	chmod 0400 "$1"
}

softhsm_py() {
	local script
	script=$(cat)
	/usr/bin/python3 - "$SOFTHSM_MODULE" "$1" "${2:-$SOFTHSM_PIN}" <<EOPY
import sys
import PyKCS11 as P
lib = P.PyKCS11Lib()
lib.load(sys.argv[1])
slot = [x for x in lib.getSlotList(tokenPresent=True)
        if lib.getTokenInfo(x).label.strip() == sys.argv[2]][0]
s = lib.openSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
s.login(sys.argv[3])
$script
s.logout()
EOPY
}

softhsm_count_id() {
	softhsm_py "$1" <<EOF2
print(len(s.findObjects([(P.CKA_ID, bytes.fromhex("$2"))])))
EOF2
}

softhsm_count_label() {
	softhsm_py "$1" <<EOF2
print(len(s.findObjects([(P.CKA_LABEL, "$2")])))
EOF2
}

softhsm_count_keys() {
	softhsm_py "$1" <<EOF2
print(sum(len(s.findObjects([(P.CKA_LABEL, "$2"), (P.CKA_CLASS, c)]))
          for c in (P.CKO_SECRET_KEY, P.CKO_PRIVATE_KEY)))
EOF2
}

softhsm_secret() {
	local kt=P.CKK_AES
	[[ $3 == generic ]] && kt=P.CKK_GENERIC_SECRET
	softhsm_py "$1" <<EOF2
s.createObject([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, $kt),
	(P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_LABEL, "$2"),
	(P.CKA_VALUE, bytes.fromhex("$4")),
	(P.CKA_EXTRACTABLE, bool(${5:-1})), (P.CKA_SENSITIVE, bool(${6:-1}))])
EOF2
}

# softhsm_value TOKEN LABEL: the bytes of the one secret key labelled LABEL,
# as the token wraps them (AES-KW) under a check key the reference client
# makes, unwrapped by python-cryptography; "none" if there is not exactly one.
softhsm_value() {
	softhsm_py "$1" <<EOF2
import os
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
kek = os.urandom(32)
k = s.createObject([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
		    (P.CKA_TOKEN, False), (P.CKA_VALUE, kek), (P.CKA_WRAP, True)])
o = s.findObjects([(P.CKA_LABEL, "$2"), (P.CKA_CLASS, P.CKO_SECRET_KEY)])
print(aes_key_unwrap(kek, bytes(s.wrapKey(k, o[0], P.Mechanism(P.CKM_AES_KEY_WRAP)))).hex() if len(o) == 1 else "none")
EOF2
}

# softhsm_conf FILE TOKEN PIN_FILE [LINE...]: an hsmkeyd.conf for backend =
# pkcs11 on this SoftHSM's token TOKEN, and any further lines.
softhsm_conf() {
	local file=$1 token=$2 pin=$3
	shift 3
	printf '%s\n' "backend = pkcs11" "pkcs11_module = $SOFTHSM_MODULE" \
		"pkcs11_token = pkcs11:token=$token" "pin_file = $pin" "$@" > "$file"
}

softhsm_daemon() {
	softhsm_setup "$work/hsm"
	softhsm_token hk
	softhsm_pin_file "$work/pin"
	softhsm_conf "$work/p11.conf" hk "$work/pin" "$@"
	daemon_conf=$work/p11.conf
}

# p11kit_server_start SOCKET LABEL: serve this SoftHSM's token LABEL through
# p11-kit's RPC on the unix socket SOCKET; true once the socket is there.
# setsid without fork makes the server its own process group's leader:
# $P11KIT_PGID is its pid.  Started from a command substitution, it is not
# this shell's job (no "Killed" notice when the test kills it).
P11KIT_CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
p11kit_server_start() {
	local _
	rm -f "$1"
	P11KIT_PGID=$(setsid p11-kit server -f -p "$SOFTHSM_MODULE" -n "$1" "pkcs11:token=$2" \
		>/dev/null 2>&1 </dev/null & echo $!)
	for _ in $(seq 200); do
		[[ -S $1 ]] && return 0
		kill -0 "$P11KIT_PGID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

p11kit_server_stop() {
	local sig=${1:-KILL} _
	[[ -n ${P11KIT_PGID:-} ]] || return 0
	kill "-$sig" -- "-$P11KIT_PGID" 2>/dev/null
	[[ $sig == KILL || $sig == TERM ]] || return 0
	for _ in $(seq 100); do
		pgrep -g "$P11KIT_PGID" >/dev/null || break
		sleep 0.05
	done
	P11KIT_PGID=
	return 0
}
