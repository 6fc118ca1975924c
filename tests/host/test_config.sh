#!/bin/bash
# hsmkeyd's configuration file, admin and reader groups, SIGHUP reload,
# readiness notification (sd_notify protocol), and the systemd unit.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
at_exit 'kill "${listener:-}" 2>/dev/null'
hctl=$top/build/hsmkeyctl
conf=$work/hsmkeyd.conf
# as UID GROUPS COMMAND...: run as uid/gid 65534 with the given supplementary groups.
as() {
	local g=$1; shift
	if [[ -n $g ]]; then setpriv --reuid=65534 --regid=65534 --groups="$g" "$@"
	else setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; fi
}
refused_config() {	# TEXT PATTERN: the daemon refuses to start, naming the problem
	printf '%s\n' "$1" > "$conf"
	"$top/build/hsmkeyd" --config "$conf" --state-dir "$work/state-bad" --socket "$work/bad.sock" \
		2>"$work/bad.err" & local pid=$!
	sleep 0.5
	if kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid"; return 1; fi
	wait "$pid"; local rc=$?
	[[ $rc == 2 ]] && grep -q "$2" "$work/bad.err"
}

check "an unknown setting is refused, naming the line" refused_config $'# c\n\nadmin_group = users\nadmin_grup = x' "line 4: unknown setting 'admin_grup'"
check "a line without = is refused" refused_config 'verbose' "line 1: expected 'key = value'"
check "a bad boolean is refused" refused_config 'verbose = maybe' "line 1: bad value for verbose"
check "a relative state_dir is refused" refused_config 'state_dir = var/lib' "an absolute path"
check "a relative subuid_file is refused" refused_config 'subuid_file = etc/subuid' "an absolute path"
check "an unknown group is refused" refused_config 'admin_group = no-such-group-x' "unknown group 'no-such-group-x'"
# Several tokens as one key store: up to four, each once, the backup another.
tok() { local i; for i; do echo "pkcs11_token = pkcs11:token=t$i"; done; }
check "a fifth pkcs11_token is refused, naming the limit" \
	refused_config "$(printf 'backend = pkcs11\n'; tok 1 2 3 4 5)" "line 6: bad value for pkcs11_token (4 tokens at most)"
check "a token named twice is refused" \
	refused_config "$(printf 'backend = pkcs11\n'; tok 1 2 1)" "line 4: bad value for pkcs11_token (that token is named already)"
check "a backup token that is one of the key store's is refused" \
	refused_config "$(printf 'backend = pkcs11\n'; tok 1 2; echo 'pkcs11_backup_token = pkcs11:token=t2')" \
	"pkcs11_backup_token is one of the key store's tokens"
kmipc() { printf '%s\n' "backend = kmip" "kmip_server = ${1:-kmip.example:5696}" \
	"kmip_ca = /etc/ca.pem" "kmip_cert = /etc/c.pem" "kmip_key = /etc/c.key" "${@:2}"; }
check "backend = kmip without kmip_server or kmip_cert is refused, naming them" \
	refused_config "$(printf 'backend = kmip\nkmip_ca = /etc/ca.pem\n')" \
	"backend = kmip needs kmip_server, kmip_ca, kmip_cert and kmip_key"
check "a kmip_server without a port is refused" \
	refused_config "$(kmipc kmip.example)" "bad value for kmip_server (HOST:PORT, or a comma-separated list of them)"
check "a ninth KMIP server is refused, naming the limit" \
	refused_config "$(kmipc "$(printf 'h%d:1,' 1 2 3 4 5 6 7 8 9)")" "bad value for kmip_server (8 servers at most)"
check "a bad offline_grace is refused, saying what it takes" \
	refused_config "$(kmipc "" "offline_grace = soon")" "0: none; reboot: until the next reboot"
check "a relative kmip_key is refused" \
	refused_config "$(printf 'backend = kmip\nkmip_key = host.key\n')" "bad value for kmip_key (an absolute path)"
check "a backup token that is not a pkcs11: URI is refused" \
	refused_config "$(printf 'backend = pkcs11\n'; tok 1; echo 'pkcs11_backup_token = token=t2')" \
	"bad value for pkcs11_backup_token (a pkcs11: URI, RFC 7512)"
check "an explicit config file that is missing is refused" bash -c "
	! '$top/build/hsmkeyd' --config '$work/none.conf' --state-dir '$work/s3' --socket '$work/s3.sock' 2>'$work/none.err' &&
	grep -q 'cannot open' '$work/none.err'"

# Readiness: a listener in the sd_notify protocol's place.
python3 - "$work/notify.sock" > "$work/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    print(s.recv(4096).decode(), flush=True)
PY
listener=$!
wait_socket "$work/notify.sock" "$listener"
printf 'admin_group = users\nreader_group = staff\n' > "$conf"
NOTIFY_SOCKET=$work/notify.sock daemon_conf=$conf daemon_start || fail "hsmkeyd starts with a configuration"
sleep 0.3
check "READY=1 once the socket listens" grep -qx 'READY=1' "$work/notify.log"
check "the admin group may change keys" quiet as 100 "$hctl" --socket "$sock" create a1 --type aes-256-xts
check "others may not, and are told which group" bash -c "
	! setpriv --reuid=65534 --regid=65534 --clear-groups '$hctl' --socket '$sock' create a2 --type aes-256-xts 2>'$work/e' &&
	grep -q \"needs root or membership of group users\" '$work/e'"
check "the reader group may list" quiet as 50 "$hctl" --socket "$sock" list
check "the admin group may list" quiet as 100 "$hctl" --socket "$sock" list
check "others may not read" bash -c "
	! setpriv --reuid=65534 --regid=65534 --clear-groups '$hctl' --socket '$sock' list 2>'$work/e' &&
	grep -q 'needs membership of group staff' '$work/e'"
check "the reader group may not change keys" bash -c "! setpriv --reuid=65534 --regid=65534 --groups=50 '$hctl' --socket '$sock' revoke a1 2>/dev/null"

printf 'admin_group = users\n' > "$conf"
kill -HUP "$daemon_pid"; sleep 0.5
check "SIGHUP: RELOADING=1 then READY=1" bash -c "grep -qx 'RELOADING=1' '$work/notify.log' && tail -n 1 '$work/notify.log' | grep -qx 'READY=1'"
check "SIGHUP reloads the groups: anyone may read again" quiet as "" "$hctl" --socket "$sock" list
printf 'admin_group = users\nbogus = 1\n' > "$conf"
kill -HUP "$daemon_pid"; sleep 0.5
check "a broken file on SIGHUP keeps the running configuration" quiet as 100 "$hctl" --socket "$sock" create a3 --type aes-256-xts
check "and the log says why" grep -q "unknown setting 'bogus'; keeping the running configuration" "$work/hsmkeyd.log"
daemon_stop
sleep 0.2
check "STOPPING=1 on SIGTERM" grep -qx 'STOPPING=1' "$work/notify.log"

# The master key from a passphrase (scrypt) instead of a key file.
pdir=$work/pp
mkdir -p "$pdir"
printf 'correct horse battery staple\n' > "$pdir/pass"; chmod 600 "$pdir/pass"
printf 'wrong\n' > "$pdir/wrong"; chmod 600 "$pdir/wrong"
printf 'master_key = passphrase\npassphrase_file = %s\n' "$pdir/pass" > "$pdir/ok.conf"
printf 'master_key = passphrase\npassphrase_file = %s\n' "$pdir/wrong" > "$pdir/bad.conf"
pstart() {	# CONF: start on the passphrase keystore
	daemon_conf=$1 daemon_state=$pdir/state daemon_log=$pdir/log daemon_start
}
check "master_key = passphrase needs passphrase_file" refused_config 'master_key = passphrase' "needs passphrase_file"
check "a daemon on a passphrase-derived master key starts" pstart "$pdir/ok.conf"
check "create a key under it" quiet ctl create pk --type aes-256-xts
ptoken=$(ctl token pk)
daemon_stop
check "no master key file is written" test ! -e "$pdir/state/master.key"
check "master.kdf holds scrypt's salt and cost, not the key" python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o["kdf"] == "scrypt" and o["n"] == 131072 and len(o["salt"]) == 32, o
' "$pdir/state/master.kdf"
check "a wrong passphrase is refused, saying so" bash -c "
	! '$top/build/hsmkeyd' --config '$pdir/bad.conf' --state-dir '$pdir/state' --socket '$work/x.sock' 2>'$pdir/e' &&
	grep -q 'wrong passphrase' '$pdir/e'"
pstart "$pdir/ok.conf" || fail "restart with the passphrase"
check "the key's token is unchanged" test "$(ctl token pk)" = "$ptoken"
daemon_stop
check "the key file mode cannot open a passphrase keystore" bash -c "
	! '$top/build/hsmkeyd' --state-dir '$pdir/state' --socket '$work/x.sock' 2>'$pdir/e' &&
	grep -q 'derives its master key from a passphrase' '$pdir/e'"
chmod 644 "$pdir/pass"
check "a passphrase file readable by others is refused" bash -c "
	! '$top/build/hsmkeyd' --config '$pdir/ok.conf' --state-dir '$pdir/state' --socket '$work/x.sock' 2>'$pdir/e' &&
	grep -q 'must not be readable by others' '$pdir/e'"
check "no passphrase in the daemon's log" bash -c "! grep -q 'horse' '$pdir/log' '$pdir/e'"

# The unit file, checked by systemd itself (with this tree's binary).
if command -v systemd-analyze >/dev/null; then
	sed -e "s|/usr/sbin/hsmkeyd|$top/build/hsmkeyd|" -e '/^Documentation=/d' \
		"$top/daemon/hsmkeyd.service" > "$work/hsmkeyd.service"
	check "systemd-analyze verify accepts the unit" bash -c "systemd-analyze verify '$work/hsmkeyd.service' 2>&1 | tee '$work/verify' | (! grep -q .) || { sed 's/^/# /' '$work/verify'; false; }"
	check "the unit is Type=notify with ExecReload" bash -c "grep -qx 'Type=notify' '$top/daemon/hsmkeyd.service' && grep -q '^ExecReload=' '$top/daemon/hsmkeyd.service'"
else
	skip "systemd-analyze verify accepts the unit" "no systemd-analyze"
fi
for page in daemon/hsmkeyd.8 daemon/hsmkeyd.conf.5 tools/hsmkeyctl.8 tools/libhsmkey/hsmkey_tls_handshake.3 \
	tools/libhsmkey/hsmkey_encrypt.3 tools/libhsmkey/hsmkey_sign.3 tools/libhsmkey/hsmkey-blob.5 \
	tools/libhsmkey/hsmkey_generate_data_key.3 tools/libhsmkey/hsmkey_encrypt_stream.3 \
	tools/libhsmkey/hsmkey_generate_mac.3 tools/libhsmkey/hsmkey_generate_random.3; do
	check "man page $page renders without warnings" bash -c "
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l '$top/$page' 2>'$work/man.err' >/dev/null && ! grep -q . '$work/man.err'"
done
tap_done
