#!/bin/bash
# A key imported raw on backend = pkcs11 passes through hsmkeyd on its way
# into the token (from the descriptor hsmkeyctl opened, to the helper's
# socket).  Once the import or a rotation with given material is answered,
# a scan of hsmkeyd's whole memory (/proc/PID/mem) finds no 16-byte window
# of it; nor, after an identity key's import from its key file, of its
# private scalar, in hsmkeyd or its token helper.  The positive control is the same steps and scan on the
# deliberately wrong build that keeps what it should wipe
# (build/tests/hsmkeyd-nowipe):
# the scan must find the key there, so a clean result is known to have
# looked.  Deterministic: no race with a wrap in flight.  A wrapped import
# (unwrapped by the token) leaves no window either, after it (positive
# control: the no-wipe build unwrapping a wrapped import itself, embedded
# backend) nor while the token unwraps (the helper held by gdb in the
# unwrap, hsmkeyd waiting on it; positive control: a raw import, whose key
# hsmkeyd holds then).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"
memscan=$top/build/tests/memscan
nowipe=$top/build/tests/hsmkeyd-nowipe
for b in "$memscan" "$nowipe" "$top/build/hsmkeyd"; do
	[[ -x $b ]] || { echo "Bail out! $b missing: make userspace tests"; exit 1; }
done
command -v gdb > /dev/null || { echo "Bail out! gdb missing (it holds the helper mid-import)"; exit 1; }

softhsm_daemon "pkcs11_timeout = 60s"
hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }
# windows NAME: the 16-byte windows of NAME's key file a scan of the running
# daemon finds ("none": the scan did not finish).
windows() {
	"$memscan" "$daemon_pid" "$(hexof "$work/$1.key")" > "$work/$1.scan" 2>&1
	sed -n 's/^total \([0-9]*\) .*/\1/p' "$work/$1.scan" | grep . || echo none
}
# scan_steps TAG WHAT: with the running daemon (WHAT names it), import key
# TAG raw and scan, rotate it to new material and scan; $a and $b: the
# windows found of each.
scan_steps() {
	head -c 64 /dev/urandom > "$work/$1-a.key"
	head -c 64 /dev/urandom > "$work/$1-b.key"
	check "import raw ($2)" quiet ctl import "$1" --type aes-256-xts --key-file "$work/$1-a.key"
	a=$(windows "$1-a")
	check "rotate with given material ($2)" quiet ctl rotate "$1" --key-file "$work/$1-b.key"
	b=$(windows "$1-b")
	check "the token holds both versions ($2)" \
		test "$(softhsm_py hk <<< 'print(len(s.findObjects([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_LABEL, "hsmkey:'"$1"':v2")])))')" = 1
}

# wrapped_steps NAME WHAT: import key NAME (aes-256-xts) wrapped to the
# import key by OpenSSL, with the OAEP hash import-key names, and scan; $w:
# the windows found.
wrapped_steps() {
	local md=sha1

	head -c 64 /dev/urandom > "$work/$1.key"
	"$top/build/hsmkeyctl" --socket "$sock" import-key > "$work/$1.pem" 2>/dev/null
	ctl --json import-key | grep -q RSAES_OAEP_SHA_256 && md=sha256
	openssl pkeyutl -encrypt -pubin -inkey "$work/$1.pem" -in "$work/$1.key" \
		-out "$work/$1.bin" -pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$md" \
		-pkeyopt "rsa_mgf1_md:$md"
	check "import --wrapped-file ($2)" quiet ctl import "$1" --type aes-256-xts \
		--wrapped-file "$work/$1.bin"
	w=$(windows "$1")
}

# identity_steps NAME WHAT: import identity key NAME (ecdsa-p256) from a
# DER key file, whose raw bytes hold the private scalar, and scan hsmkeyd
# and its token helper for the scalar; $i, $ih: the windows found in each.
identity_steps() {
	local helper

	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -outform DER \
		-out "$work/$1.der" 2>/dev/null
	/usr/bin/python3 -c 'import sys
from cryptography.hazmat.primitives.serialization import load_der_private_key
k = load_der_private_key(open(sys.argv[1], "rb").read(), None)
open(sys.argv[2], "wb").write(k.private_numbers().private_value.to_bytes(32, "big"))' \
		"$work/$1.der" "$work/$1.key"
	check "import an identity key into the token from its key file ($2)" \
		quiet ctl import "$1" --type ecdsa-p256 --key-file "$work/$1.der"
	i=$(windows "$1")
	helper=$(pgrep -P "$daemon_pid" -f -- --pkcs11-helper)
	"$memscan" "$helper" "$(hexof "$work/$1.key")" > "$work/$1.hscan" 2>&1
	ih=$(sed -n 's/^total \([0-9]*\) .*/\1/p' "$work/$1.hscan" | grep . || echo none)
}

# held NAME HOW FILE: import NAME (aes-256-xts) from FILE (HOW: --key-file
# or --wrapped-file) and scan hsmkeyd while the helper is held (gdb) at the
# entry of its import or unwrap: hsmkeyd then waits for the token holding
# whatever it holds for the import.  $h: the windows of $work/NAME.key found.
held() {
	local helper gdbpid ctlpid i

	helper=$(pgrep -P "$daemon_pid" -f -- --pkcs11-helper)
	rm -f "$work/held" "$work/go"
	gdb -p "$helper" -batch -nx -ex 'set breakpoint pending on' \
		-ex 'break hp_key_import' -ex 'break hp_key_unwrap' -ex 'continue' \
		-ex "shell touch '$work/held'; while [ ! -e '$work/go' ]; do sleep 0.1; done" \
		-ex 'detach' > "$work/$1.gdb" 2>&1 &
	gdbpid=$!
	for ((i = 0; i < 100; i++)); do	# attached: the breakpoints are set
		grep -q "^Breakpoint 2" "$work/$1.gdb" && break
		sleep 0.1
	done
	ctl import "$1" --type aes-256-xts "$2" "$3" > "$work/$1.out" 2>&1 &
	ctlpid=$!
	for ((i = 0; i < 100; i++)); do
		[[ -e $work/held ]] && break
		sleep 0.1
	done
	check "the helper is held in the import's own call ($1)" \
		grep -Eq "^(Thread .* hit )?Breakpoint [12], hp_key_(import|unwrap)" "$work/$1.gdb"
	h=$(windows "$1")
	touch "$work/go"
	wait "$gdbpid"
	check "... and the import is done when it goes on ($1)" wait "$ctlpid"
}

# Freed memory is kept, never given back to the kernel: a copy freed
# unwiped is not hidden from the scan that way (a later request may still
# overwrite it).
daemon_wrap="env MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_ARENA_MAX=1"
daemon_start || { echo "Bail out! hsmkeyd does not start on the token"; exit 1; }
scan_steps ok hsmkeyd
check "no window of the imported key in hsmkeyd's memory after the import" test "$a" = 0
check "nor of the rotation's material after the rotation" test "$b" = 0
# A wrapped import is unwrapped by the token: the key is never in hsmkeyd.
wrapped_steps wok hsmkeyd
check "the token holds the wrapped import" test "$(softhsm_count_label hk hsmkey:wok:v1)" = 1
check "no window of a wrapped import's key in hsmkeyd's memory" test "$w" = 0
identity_steps iok hsmkeyd
check "no window of an imported identity key's private scalar in hsmkeyd's memory" test "$i" = 0
check "nor in its token helper's" test "$ih" = 0
# While the token works on an import, hsmkeyd waits holding what it sent:
# for a raw import the key (the positive control), for a wrapped one only
# the wrapped bytes.
head -c 64 /dev/urandom > "$work/hraw.key"
held hraw --key-file "$work/hraw.key"
check "positive control: hsmkeyd holds a raw import's key while the token creates it ($h windows)" \
	test "${h/none/0}" -gt 0
cp "$work/wok.pem" "$work/import.pem"
head -c 64 /dev/urandom > "$work/hwr.key"
md=sha1
ctl --json import-key | grep -q RSAES_OAEP_SHA_256 && md=sha256
openssl pkeyutl -encrypt -pubin -inkey "$work/import.pem" -in "$work/hwr.key" -out "$work/hwr.bin" \
	-pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$md" -pkeyopt "rsa_mgf1_md:$md"
held hwr --wrapped-file "$work/hwr.bin"
check "hsmkeyd holds no window of a wrapped import's key while the token unwraps it" \
	test "$h" = 0
check "the token holds both" test "$(softhsm_count_label hk hsmkey:hraw:v1)$(softhsm_count_label hk hsmkey:hwr:v1)" = 11
daemon_stop
daemon_wrap=

daemon_bin=$nowipe daemon_start || { echo "Bail out! the no-wipe build does not start"; exit 1; }
scan_steps bad "the build that keeps what it should wipe"
check "positive control: the same scan finds the imported key there ($a windows)" \
	test "${a/none/0}" -gt 0
check "positive control: and the rotation's material ($b windows)" test "${b/none/0}" -gt 0
identity_steps ibad "the build that keeps what it should wipe"
check "positive control: the scan finds the imported identity key's scalar there ($i windows)" \
	test "${i/none/0}" -gt 0
check "positive control: and in its helper ($ih windows)" test "${ih/none/0}" -gt 0
daemon_stop

# The wrapped import's positive control: the embedded backend unwraps in
# hsmkeyd itself (its own import key), and this build keeps what it unwrapped.
daemon_conf='' daemon_state=$work/embedded daemon_bin=$nowipe daemon_start ||
	{ echo "Bail out! the no-wipe build does not start on the embedded backend"; exit 1; }
wrapped_steps wbad "the no-wipe build, unwrapping in hsmkeyd"
check "positive control: the same scan finds a key hsmkeyd unwrapped itself ($w windows)" \
	test "${w/none/0}" -gt 0
daemon_stop
tap_done
