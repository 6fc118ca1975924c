#!/bin/bash
# hsmkeyd and hsmkeyctl on the host, without the kernel module: argument
# handling, exit codes, permissions, persistence, malformed requests.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
hctl=$top/build/hsmkeyctl
# expect_exit CODE PATTERN COMMAND...: exit code and a stderr message.
expect_exit() {
	local code=$1 pat=$2; shift 2
	"$@" >"$work/out" 2>"$work/err"
	local rc=$?
	[[ $rc == "$code" ]] || { echo "# exit $rc, wanted $code: $(cat "$work/err")"; return 1; }
	[[ -z $pat ]] || grep -qE "$pat" "$work/err" || { echo "# stderr lacks /$pat/: $(cat "$work/err")"; return 1; }
}
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

check "--help exits 0" quiet "$hctl" --help
# --help: the usage, status 0, and nothing more (no daemon is reached: a
# command that went on after its usage would say it cannot reach one).
# Every command the usage lists (stdin empty: one that went on could not wait on it).
cmds=$("$hctl" --help | awk '/^Commands:/ { f = 1; next } f && /^  [a-z]/ { print $1 }')
check "the usage lists every command ($(wc -w <<<"$cmds") of them)" test "$(wc -w <<<"$cmds")" -ge 38
for c in $cmds; do
	check "$c --help prints its usage and exits 0, and nothing else" bash -c "
		out=\$('$hctl' --socket '$work/none.sock' $c --help 2>&1 < /dev/null) &&
		[[ \$out == 'Usage: hsmkeyctl '* && \$out != *'cannot reach'* ]]"
done
check "no command is a usage error (2)" expect_exit 2 Usage "$hctl"
check "unknown command is a usage error (2)" expect_exit 2 "unknown command" "$hctl" frobnicate
check "create without --type is a usage error (2)" expect_exit 2 "missing" "$hctl" --socket "$sock" create k1
check "an absent daemon exits 3" expect_exit 3 "cannot reach hsmkeyd" "$hctl" --socket "$work/none.sock" list

# The client's side of streamed listings, against a scripted server (the
# real daemon's streaming is tested in test_listing.sh): chunks marked
# "more" are joined in order into one listing; an error mid-stream drops
# what came before it.
cat > "$work/fake.py" <<'PY'
import json, os, socket, sys
k = lambda n: {"name": n, "type": "aes-256-xts", "version": 1, "state": "active",
               "kernel": "-", "bindings": 0}
more = {"v": 1, "ok": True, "more": True}
status = {"daemon_version": "x", "pid": 7, "state_dir": "/s", "keystore": "embedded",
          "kernel": {"loaded": False}}
scripts = [
    [dict(more, keys=[k("a1"), k("a2")]), dict(more), dict(more, keys=[k("a3")]),
     {"v": 1, "ok": True, "keys": [k("a4")]}],
    [dict(more, keys=[k("a1")]), {"v": 1, "ok": True, "keys": [k("a2")]}],
    [dict(more, keys=[k("s1")], foreign=[{"name": "f1"}]), dict(more, foreign=[{"name": "f2"}]),
     dict({"v": 1, "ok": True, "keys": [k("s2")]}, **status)],
    [dict(more, keys=[k("e1")]), {"v": 1, "ok": False, "errno": 5, "error": "the walk failed"}],
] + [[dict(k("p"), v=1, ok=True, id="00", policy={"uids": [], "gids": [], "algorithms": a})]
     for a in (["xts", "gcm"], [], 5)]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
srv.bind(sys.argv[1]); srv.listen(4)
for script in scripts:
    c, _ = srv.accept(); c.recv(65536)
    for m in script:
        c.send(json.dumps(m).encode())
    c.close()
PY
python3 "$work/fake.py" "$work/fake.sock" & fake=$!
wait_socket "$work/fake.sock" "$fake"
fctl() { "$hctl" --socket "$work/fake.sock" "$@"; }
check "a streamed list is printed as one table, in order" bash -c "
	[[ \$('$hctl' --socket '$work/fake.sock' list | awk 'NR > 1 {printf \"%s \", \$1}') == 'a1 a2 a3 a4 ' ]]"
check "a streamed --json list is one document without \"more\"" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [k["name"] for k in d["keys"]] == ["a1", "a2"] and "more" not in d and d["ok"], d' \
	< <(fctl --json list)
check "a streamed status joins keys and foreign keys" bash -c "
	'$hctl' --socket '$work/fake.sock' status > '$work/st' &&
	grep -q '^s1 ' '$work/st' && grep -q '^s2 ' '$work/st' && grep -q 'pid 7' '$work/st' &&
	grep -q '(left alone): f1, f2\$' '$work/st'"
check "an error mid-stream fails (1), prints no partial listing" bash -c "
	'$hctl' --socket '$work/fake.sock' list > '$work/out' 2> '$work/err'; rc=\$?
	[[ \$rc == 1 ]] && grep -q 'the walk failed' '$work/err' && [[ ! -s '$work/out' ]]"
# "algorithms" is an array of names (an older daemon's mask prints alike).
check "show prints algorithms [\"xts\",\"gcm\"] as names" grep -qx ' *algorithms xts gcm' <(fctl show p)
check "show prints algorithms [] as all" grep -qx ' *algorithms all that fit' <(fctl show p)
check "show prints an old algorithms mask as names" grep -qx ' *algorithms xts gcm' <(fctl show p)
wait "$fake"

daemon_start || fail "hsmkeyd starts"
check "create" quiet ctl create k1 --type aes-256-xts
check "create a duplicate fails (1)" expect_exit 1 "exists already" ctl create k1 --type aes-256-xts
check "an unknown type fails and lists the types (1)" expect_exit 1 "aes-256-xts" ctl create k2 --type des
check "an invalid name fails (1)" expect_exit 1 "invalid name" ctl create ../etc --type aes-256-xts
head -c 32 /dev/urandom > "$work/short.key"
check "import of a short key file fails (1)" expect_exit 1 "exactly 64 bytes" ctl import k3 --type aes-256-xts --key-file "$work/short.key"
{ head -c 32 /dev/zero; head -c 32 /dev/zero; } > "$work/equal.key"
check "import of an XTS key with equal halves fails (1)" expect_exit 1 "halves" ctl import k3 --type aes-256-xts --key-file "$work/equal.key"
make_xts_key "$work/good.key"
chmod 600 "$work/good.key"
check "import from a file" quiet ctl import k3 --type aes-256-xts --key-file "$work/good.key"
check "import from stdin" quiet ctl import k4 --type aes-128-xts --key-file - < <(head -c 32 "$work/good.key")
check "import of an unreadable file fails (1)" expect_exit 1 "cannot open key file" nobody "$hctl" --socket "$sock" import k5 --type aes-256-xts --key-file "$work/good.key"
check "list shows the keys" grep -qE '^k3 +aes-256-xts +1 active' <(ctl list)
check "--json list is JSON with every key" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["ok"] and sorted(k["name"] for k in d["keys"]) == ["k1", "k3", "k4"], d' < <(ctl --json list)
check "an unprivileged user may list" quiet nobody "$hctl" --socket "$sock" list
check "an unprivileged user may not create (1)" expect_exit 1 "needs root" nobody "$hctl" --socket "$sock" create k9 --type aes-256-xts
check "an unprivileged user may not revoke (1)" expect_exit 1 "needs root" nobody "$hctl" --socket "$sock" revoke k1
check "token prints the 64-byte token in hex" grep -qE '^[0-9a-f]{128}$' <(ctl token k3)
check "the token names the key: magic, format, type, id" python3 -c '
import json, subprocess, sys
tok = bytes.fromhex(subprocess.run(sys.argv[1:] + ["token", "k3"], capture_output=True, text=True).stdout.strip())
key = json.loads(subprocess.run(sys.argv[1:] + ["--json", "token", "k3"], capture_output=True, text=True).stdout)
assert tok[:4] == b"HSMK" and tok[4] == 1 and tok[5] == 2, tok[:8]
assert tok[8:24].hex() == key["id"], (tok[8:24].hex(), key)
assert int.from_bytes(tok[24:28], "big") == key["version"] == 1
' "$hctl" --socket "$sock"
check "an unprivileged user may not read a token (1)" expect_exit 1 "needs root" nobody "$hctl" --socket "$sock" token k3
check "the token is not in the daemon's log" bash -c "! grep -q \"\$('$hctl' --socket '$sock' token k3 | cut -c 65-100)\" '$work/hsmkeyd.log'"
check "disable" quiet ctl disable k4
check "list shows it disabled" grep -qE '^k4 +aes-128-xts +1 disabled' <(ctl list)
check "a disabled key is not loaded (1)" expect_exit 1 "is disabled" ctl load k4
check "enable" quiet ctl enable k4
check "list shows it active again" grep -qE '^k4 +aes-128-xts +1 active' <(ctl list)
check "an unprivileged user may not disable (1)" expect_exit 1 "needs root" nobody "$hctl" --socket "$sock" disable k4
check "policy with names resolved" quiet ctl policy k3 --users root,nobody --groups nogroup \
	--algorithms xts --expires 4000000000 --max-requests 1000 --max-bindings 2 --load-at-start no
check "show reports the policy, ids resolved" python3 -c '
import json, subprocess, sys
o = json.loads(subprocess.run(sys.argv[1:] + ["--json", "show", "k3"], capture_output=True, text=True).stdout)
p = o["policy"]
assert p["uids"] == [0, 65534] and p["gids"] == [65534], p
assert p["algorithms"] == ["xts"] and p["not_after"] == 4000000000 and p["max_requests"] == 1000, p
assert p["max_bindings"] == 2 and p["load_at_start"] is False and p["max_bytes"] == 0, p
' "$hctl" --socket "$sock"
check "a later policy call changes only what it names" python3 -c '
import json, subprocess, sys
subprocess.run(sys.argv[1:] + ["policy", "k3", "--max-bytes", "4096"], check=True, capture_output=True)
p = json.loads(subprocess.run(sys.argv[1:] + ["--json", "show", "k3"], capture_output=True, text=True).stdout)["policy"]
assert p["max_bytes"] == 4096 and p["max_requests"] == 1000 and p["uids"] == [0, 65534], p
' "$hctl" --socket "$sock"
check "show prints the policy as text" grep -q "max requests 1000" <(ctl show k3)
check "show prints the allowed algorithms by name" grep -qx ' *algorithms xts' <(ctl show k3)
check "an unknown user is refused, naming it (1)" expect_exit 1 "unknown user 'no-such-user'" ctl policy k3 --users no-such-user
check "an unknown algorithm is refused (1)" expect_exit 1 "unknown algorithm" ctl policy k3 --algorithms ecb
check "expiry before validity is refused (1)" expect_exit 1 "expire before" ctl policy k3 --not-before 300 --expires 200
check "a bad number is a usage error (2)" expect_exit 2 "not a number" ctl policy k3 --max-bytes lots
# Numbers are digits only, range checked: strtoul would take "-1" (huge) and " 5".
for n in -1 " 5" 5x "" +5 99999999999999999999 9223372036854775808; do
	check "policy --max-bytes '$n' is a usage error (2)" expect_exit 2 "not a number|out of range" \
		ctl policy k3 --max-bytes "$n"
	check "token --version '$n' is a usage error (2)" expect_exit 2 "bad version" ctl token k3 --version "$n"
done
check "policy --max-bindings 4294967296 is out of range (2)" expect_exit 2 "out of range" \
	ctl policy k3 --max-bindings 4294967296
check "policy --expires +-5 is a usage error (2)" expect_exit 2 "not a number" ctl policy k3 --expires +-5
check "policy --max-bytes 9223372036854775807 is taken" quiet ctl policy k3 --max-bytes 9223372036854775807
check "token --version 0 is a usage error (2)" expect_exit 2 "bad version" ctl token k3 --version 0
check "token --version 1 is taken" grep -qE '^[0-9a-f]{128}$' <(ctl token k3 --version 1)
ctl policy k3 --max-bytes 4096 >/dev/null
check "the refused policies changed nothing" grep -q "max requests 1000, max bindings 2" <(ctl show k3)
check "create a GCM key" quiet ctl create g1 --type aes-256-gcm
check "a GCM key allows at most 2^32 requests (1)" expect_exit 1 "allows at most 2" ctl policy g1 --max-requests 4294967297
check "an unprivileged user may not set a policy (1)" expect_exit 1 "needs root" nobody "$hctl" --socket "$sock" policy k3 --max-bytes 1
check "an unprivileged user may show a key" quiet nobody "$hctl" --socket "$sock" show k3
check "an edited policy in a key file is detected" bash -c "
	sed -i 's/\"max_requests\": 1000/\"max_requests\": 9999/' '$work/state/keys/k3.json' &&
	! '$hctl' --socket '$sock' token k3 >/dev/null 2>&1 &&
	grep -q 'keys/k3.json is corrupted or has been tampered with' '$work/hsmkeyd.log'"
check "revoke" quiet ctl revoke k1
check "a revoked key cannot be loaded (1)" expect_exit 1 "revoked" ctl load k1
check "revoking an unknown key fails (1)" expect_exit 1 "no key named" ctl revoke nosuch
check "a malformed request is refused and the daemon lives on" python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])
s.send(b"{not json"); r = json.loads(s.recv(65536))
assert not r["ok"] and r["errno"] == 74, r
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])
s.send(json.dumps({"v": 9, "op": "list"}).encode()); r = json.loads(s.recv(65536))
assert not r["ok"] and "version" in r["error"], r
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])
s.send(json.dumps({"v": 1, "op": "import", "name": "x", "type": "aes-256-xts"}).encode())
r = json.loads(s.recv(65536)); assert not r["ok"] and "descriptor" in r["error"], r' "$sock"
# Versions: rotate adds one; older ones stay; tokens name a version.
check "create a key to keep" quiet ctl create keepme --type aes-256-gcm
keeptok=$(ctl token keepme)

# Wrapped import: RSA-OAEP (SHA-256) to the daemon's import key, with openssl.
wrap() { openssl pkeyutl -encrypt -pubin -inkey "$work/import.pem" -pkeyopt rsa_padding_mode:oaep \
	-pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$1" -out "$2"; }
check "an unprivileged user may read the import key" quiet nobody "$hctl" --socket "$sock" import-key
check "import-key prints an RSA-3072 public key" bash -c "
	'$hctl' --socket '$sock' import-key 2>/dev/null > '$work/import.pem' &&
	openssl pkey -pubin -in '$work/import.pem' -noout -text | grep -q 'Public-Key: (3072 bit)'"
check "the private half is stored encrypted" grep -q "BEGIN ENCRYPTED PRIVATE KEY" "$work/state/import-key.pem"
make_xts_key "$work/w.key"
wrap "$work/w.key" "$work/w.bin"
check "import a wrapped key" quiet ctl import wk --type aes-256-xts --wrapped-file "$work/w.bin"
check "import needs exactly one of --key-file and --wrapped-file (2)" expect_exit 2 "needs --key-file or --wrapped-file" \
	ctl import wk2 --type aes-256-xts --wrapped-file "$work/w.bin" --key-file "$work/w.key"
head -c 32 "$work/w.key" > "$work/w32.key"
wrap "$work/w32.key" "$work/w32.bin"
check "a wrapped key of the wrong length is refused (1)" expect_exit 1 "exactly 64 bytes" ctl import wk2 --type aes-256-xts --wrapped-file "$work/w32.bin"
cp "$work/w.bin" "$work/bad.bin"; printf '\x01' | dd of="$work/bad.bin" bs=1 seek=100 conv=notrunc status=none
check "a damaged wrapped key is refused (1)" expect_exit 1 "does not decrypt" ctl import wk2 --type aes-256-xts --wrapped-file "$work/bad.bin"
check "an unprivileged user may not renew the import key (1)" expect_exit 1 "needs root" nobody "$hctl" --socket "$sock" import-key --renew
fp1=$(ctl --json import-key | python3 -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')
check "renew the import key" quiet ctl import-key --renew
fp2=$(ctl --json import-key | python3 -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')
check "the renewed key differs" test "$fp1" != "$fp2"
check "material wrapped to the old key no longer imports (1)" expect_exit 1 "does not decrypt" ctl import wk3 --type aes-256-xts --wrapped-file "$work/w.bin"
check "no wrapped-import failure created a key" bash -c "! '$hctl' --socket '$sock' list | grep -qE '^wk[23] '"

# LUKS2 format needs no kernel: the header is checked with cryptsetup.
truncate -s 20M "$work/luks.img"
printf 'a passphrase' > "$work/luks.pass"
check "luks format needs --key (2)" expect_exit 2 "needs --key" ctl luks format "$work/luks.img"
check "luks format refuses a non-XTS key (1)" expect_exit 1 "needs an aes-128-xts" ctl luks format "$work/luks.img" --key keepme --yes
check "luks format" quiet ctl luks format "$work/luks.img" --key k4 --passphrase-file "$work/luks.pass" --yes \
	-- --pbkdf pbkdf2 --pbkdf-force-iterations 1000
check "cryptsetup reads the header: data cipher capi:xts(hsmaes)-plain64" \
	grep -qE 'cipher: +capi:xts\(hsmaes\)-plain64' <(cryptsetup luksDump "$work/luks.img")
check "the header carries the hsmkey token naming the key" \
	grep -q '"key":"k4"' <(cryptsetup token export --token-id 0 "$work/luks.img")
check "the volume key behind the passphrase is the key's token" test \
	"$(cryptsetup luksDump --dump-volume-key --batch-mode --key-file "$work/luks.pass" "$work/luks.img" |
	   sed -n '/MK dump/,$p' | sed 's/MK dump://' | tr -d ' \t\n')" = "$(ctl token k4)"
check "a wrong passphrase does not open the keyslot" bash -c "
	! printf nope | cryptsetup open --test-passphrase --key-file - '$work/luks.img' 2>/dev/null"

# The header editor, attacked between luksFormat and the edit (the test
# build's hook runs a command there): it refuses what it does not
# understand, and then erases the header, so no volume that stock
# aes-xts opens with the token as its key is left behind.
hooks=$top/build/tests/hsmkeyctl-hooks
cat > "$work/hdr.py" <<'PY'
import hashlib, json, os, sys
dev, how = os.environ["HSMKEY_TEST_DEVICE"], sys.argv[1]
with open(dev, "r+b") as f:
    b = bytearray(f.read(1 << 20))
    size = int.from_bytes(b[8:16], "big")
    for off in (0, size):
        h = b[off:off + size]
        j = json.loads(bytes(h[4096:]).rstrip(b"\0"))
        if how == "segments":
            seg = dict(j["segments"]["0"]); seg["offset"] = str(int(seg["offset"]) + 4096)
            seg["size"] = "4096"; j["segments"]["0"]["size"] = "4096"; j["segments"]["1"] = seg
            j["digests"]["0"]["segments"].append("1")
        elif how == "requirements":
            j["config"]["requirements"] = {"mandatory": ["hsmkey-test-feature"]}
        text = json.dumps(j, separators=(",", ":")).encode()
        h[4096:] = text + bytes(size - 4096 - len(text))
        h[448:512] = bytes(64)
        if how != "checksum":
            h[448:480] = hashlib.sha256(h).digest()
        else:
            h[448:480] = hashlib.sha256(h).digest()
            h[5000] ^= 1
        b[off:off + size] = h
    f.seek(0); f.write(b)
PY
# no_stock_header DEVICE: neither header copy is left for cryptsetup to find.
no_stock_header() { ! cryptsetup isLuks "$1" 2>/dev/null; }
for how in checksum segments requirements; do
	truncate -s 0 "$work/h.img"; truncate -s 20M "$work/h.img"
	export HSMKEY_TEST_AFTER_FORMAT="python3 '$work/hdr.py' $how"
	check "luks format refuses a header with $how changed after luksFormat, and erases it (1)" \
		expect_exit 1 "erased" "$hooks" --socket "$sock" luks format "$work/h.img" --key k4 \
		--passphrase-file "$work/luks.pass" --yes -- --pbkdf pbkdf2 --pbkdf-force-iterations 1000
	unset HSMKEY_TEST_AFTER_FORMAT
	reason="several segments or requirements"; [[ $how == checksum ]] && reason="checksum is wrong"
	check "  the reason is given ($how: $reason)" grep -q "$reason" "$work/err"
	check "  no LUKS2 header is left on the device ($how)" no_stock_header "$work/h.img"
done
truncate -s 0 "$work/h.img"; truncate -s 20M "$work/h.img"
# The hook holds the lock for 2 s and notes whether the header changed meanwhile.
export HSMKEY_TEST_AFTER_FORMAT="flock '$work/h.img' -c 'touch $work/locked; sleep 2;
	grep -qa hsmaes $work/h.img && echo edited > $work/seen || echo untouched > $work/seen' &
	while [ ! -e $work/locked ]; do sleep 0.05; done"
check "luks format with cryptsetup's metadata lock held elsewhere" quiet "$hooks" --socket "$sock" \
	luks format "$work/h.img" --key k4 --passphrase-file "$work/luks.pass" --yes \
	-- --pbkdf pbkdf2 --pbkdf-force-iterations 1000
unset HSMKEY_TEST_AFTER_FORMAT
check "  the header is not edited while another holds cryptsetup's lock" grep -qx untouched "$work/seen"
check "  and then edits the header" grep -qE 'cipher: +capi:xts\(hsmaes\)-plain64' <(cryptsetup luksDump "$work/h.img")
truncate -s 16M "$work/detached.hdr"
check "luks format refuses a detached --header (2)" expect_exit 2 "header is not supported" \
	ctl luks format "$work/h.img" --key k4 --passphrase-file "$work/luks.pass" --yes \
	-- --header "$work/detached.hdr" --pbkdf pbkdf2 --pbkdf-force-iterations 1000
check "  no stock LUKS2 header is left in the detached file" no_stock_header "$work/detached.hdr"

# Boot: a crypttab line systemd's generator turns into the volume's unit,
# and a drop-in ordering that unit after hsmkeyd.
mkdir -p "$work/root/etc"
printf '# existing\nother UUID=1234 none luks\n' > "$work/root/etc/crypttab"
check "luks crypttab" quiet ctl luks crypttab "$work/luks.img" vol-a --passphrase-file /etc/hsmkey/vol-a.pass --root "$work/root"
uuid=$(cryptsetup luksUUID "$work/luks.img")
check "the crypttab line names the volume by UUID, with its passphrase file" \
	grep -qx "vol-a UUID=$uuid /etc/hsmkey/vol-a.pass luks" "$work/root/etc/crypttab"
check "the existing lines are kept" grep -qx "other UUID=1234 none luks" "$work/root/etc/crypttab"
check "a volume name already in crypttab is refused (1)" expect_exit 1 "already has a volume" \
	ctl luks crypttab "$work/luks.img" vol-a --root "$work/root"
mkdir -p "$work/gen"
SYSTEMD_CRYPTTAB=$work/root/etc/crypttab /lib/systemd/system-generators/systemd-cryptsetup-generator \
	"$work/gen" "$work/gen" "$work/gen" 2>/dev/null
unit="systemd-cryptsetup@$(systemd-escape vol-a).service"
check "systemd's generator makes $unit from the line" \
	grep -q "attach 'vol-a' '/dev/disk/by-uuid/$uuid' '/etc/hsmkey/vol-a.pass' 'luks'" "$work/gen/$unit"
dropin=$work/root/etc/systemd/system/$unit.d/hsmkey.conf
check "the drop-in is named for that unit and orders it after hsmkeyd" bash -c "
	grep -qx 'Wants=hsmkeyd.service' '$dropin' && grep -qx 'After=hsmkeyd.service' '$dropin'"
# Requires= or BindsTo= would stop the volume's unit when hsmkeyd restarts.
check "the drop-in neither requires nor binds to hsmkeyd" bash -c "
	! grep -qE '^(Requires|BindsTo|PartOf|Requisite)=' '$dropin'"
check "crypttab refuses a device without an hsmkey token (1)" expect_exit 1 "not a LUKS2 device|no hsmkey token" \
	ctl luks crypttab "$work/short.key" vol-b --root "$work/root"
check "rotate" quiet ctl rotate k4
tok1=$(ctl token k4 --version 1) tok2=$(ctl token k4)
check "the current token names version 2, the old one version 1" bash -c "
	[[ '${tok2:48:8}' == 00000002 && '${tok1:48:8}' == 00000001 && '${tok1:16:32}' == '${tok2:16:32}' ]]"
check "the versions' secrets differ" test "${tok1:56}" != "${tok2:56}"
check "show lists both versions" bash -c "ctl() { '$hctl' --socket '$sock' \"\$@\"; }
	[[ \$(ctl --json show k4 | python3 -c 'import json,sys; print([v[\"version\"] for v in json.load(sys.stdin)[\"version_list\"]])') == '[1, 2]' ]]"
check "a version that does not exist is refused (1)" expect_exit 1 "no version 3" ctl token k4 --version 3
check "rotate with given material" quiet ctl rotate k4 --key-file - < <(head -c 32 /dev/urandom)
check "rotating a revoked key is refused (1)" expect_exit 1 "only an active key" ctl rotate k1
check "an unprivileged user may not rotate (1)" expect_exit 1 "needs root" nobody "$hctl" --socket "$sock" rotate k4
check "--version belongs to token only (2)" expect_exit 2 "takes no --version" ctl show k4 --version 1

# Deletion: scheduled (the key is disabled), cancelled, then carried out.
check "status states what destruction guarantees" grep -q "re-sealed under a new master key" <(ctl --json status)
check "schedule-deletion" grep -q "will be destroyed at" <(ctl schedule-deletion k4)
check "a key pending deletion shows its date" grep -q "^deletion:" <(ctl show k4)
check "a key pending deletion gives no token (1)" expect_exit 1 "pending-deletion" ctl token k4
check "a key pending deletion cannot be enabled (1)" expect_exit 1 "cancel-deletion" ctl enable k4
check "scheduling twice is refused (1)" expect_exit 1 "already scheduled" ctl schedule-deletion k4
check "a waiting period shorter than deletion_wait is refused (1)" expect_exit 1 "at least" ctl schedule-deletion k3 --wait 1h
check "a bad duration is a usage error (2)" expect_exit 2 "bad duration" ctl schedule-deletion k3 --wait soon
check "cancel-deletion restores the state before it (active)" grep -qE '^k4 +aes-128-xts +3 active' <(ctl cancel-deletion k4 >/dev/null && ctl list)
check "cancelling again is refused (1)" expect_exit 1 "not scheduled" ctl cancel-deletion k4
daemon_stop
printf 'deletion_wait = 2s\n' > "$work/short.conf"
daemon_conf=$work/short.conf
daemon_start || fail "hsmkeyd starts with deletion_wait = 2s"
cp "$work/state/keys/k4.json" "$work/k4.copy"
check "schedule-deletion with a 2 s wait" quiet ctl schedule-deletion k4
sleep 1
check "the key is still there before the wait ends" grep -q '^k4 ' <(ctl list)
sleep 1.5
# k3's file was tampered with above: a new master key would strand it.
check "destruction waits while another key file does not open" bash -c "
	grep -q 'keys/k3.json does not open' '$work/hsmkeyd.log' && [[ -e '$work/state/keys/k4.json' ]]"
rm "$work/state/keys/k3.json"
kill -HUP "$daemon_pid"
for _ in $(seq 60); do ctl list | grep -q '^k4 ' || break; sleep 0.1; done
check "the key is destroyed when the wait ends" bash -c "! '$hctl' --socket '$sock' list | grep -q '^k4 ' && [[ ! -e '$work/state/keys/k4.json' ]]"
check "the destruction is in the audit log" grep -q '"op":"destroy"' "$work/state/audit.log"
check "the audit log still verifies under the new master key" quiet ctl audit verify
check "the other keys still give the same tokens" test "$(ctl token keepme 2>/dev/null)" = "$keeptok"
cp "$work/k4.copy" "$work/state/keys/k4.json"
check "a restored copy of the destroyed key does not open" expect_exit 1 "cannot be read" ctl token k4
rm -f "$work/state/keys/k4.json"
daemon_stop
daemon_conf=
daemon_start || fail "hsmkeyd restarts"
check "a second daemon on the same state directory is refused" expect_exit 1 "in use by another" \
	"$top/build/hsmkeyd" --state-dir "$work/state" --socket "$work/other.sock"
keyhex=$(od -An -tx1 -v "$work/good.key" | tr -d ' \n')
check "no key material in the daemon's log" bash -c "! grep -qi '${keyhex:0:16}' '$work/hsmkeyd.log'"
# has_key DIR: a file under DIR holds the key's first 16 bytes (binary-safe:
# a grep pattern made from them breaks at a newline or NUL byte in them).
has_key() {
	/usr/bin/python3 - "$work/good.key" "$1" <<'EOPY'
import os, sys
k = open(sys.argv[1], "rb").read()[:16]
sys.exit(0 if any(k in open(os.path.join(d, f), "rb").read()
                  for d, _, fs in os.walk(sys.argv[2]) for f in fs) else 1)
EOPY
}
no_key_in() { ! has_key "$1"; }
check "no key material in any state file" no_key_in "$work/state"
check "... (the same scan finds it where it is: the key file)" has_key "$work"
daemon_stop
check "the socket is removed on SIGTERM" test ! -e "$sock"
daemon_start || fail "hsmkeyd restarts"
check "keys and their state survive a restart" grep -qE '^k1 +aes-256-xts +1 revoked' <(ctl list)
tap_done
