#!/bin/bash
# encrypt-file and decrypt-file (envelope streams, hsmkey-blob(5) STREAMS)
# on the embedded key store (on a SoftHSM2 token: test_pkcs11_kms_file.sh;
# on a KMIP server: test_kmip_kms_file.sh),
# checked against a reference written from the man page alone
# (tests/lib/kms_stream.py): hsmkeyctl's streams open there with the KMS
# key's raw material, and the reference's open in hsmkeyctl.
# Then what must be refused, each leaving no output file: another
# context, a frame altered, two frames swapped, a frame dropped, a stream
# cut at or inside a frame, bytes appended, another stream's header; an
# output that exists; callers without the grants.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

ref=$top/tests/lib/kms_stream.py
hctl=$top/build/hsmkeyctl
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$hctl" --socket "$sock" "$@"; }
id_of() { ctl --json show "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
# edit IN OUT PYTHON: OUT is IN's bytes b after the statement PYTHON.
edit() { /usr/bin/python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); $3; open(sys.argv[2],'wb').write(b)" "$1" "$2"; }
# refused TEXT STREAM [CONTEXT]: decrypt-file refuses STREAM (with CONTEXT,
# default f=1) saying TEXT, and makes no output.
refused() {
	rm -f "$work/out"
	! ctl decrypt-file --context "${3:-f=1}" "$2" "$work/out" 2> "$work/err" &&
		grep -q -- "$1" "$work/err" && test ! -e "$work/out" && ! ls "$work"/out.* > /dev/null 2>&1
}

daemon_start || { fail "hsmkeyd starts"; tap_done; }
head -c 32 /dev/urandom > "$work/kek"
quiet ctl import fk --type kms-aes-256 --key-file "$work/kek"
check_in_storage fk
quiet ctl policy fk --grant encrypt,decrypt,data-key:root
id=$(id_of fk)

section "streams checked against the reference"
: > "$work/d0"
printf x > "$work/d1"
head -c 65536 /dev/urandom > "$work/d65536"
head -c 65537 /dev/urandom > "$work/d65537"
head -c $((3 * 1048576 + 5)) /dev/urandom > "$work/d3m"
for f in d0 d1 d65536 d65537 d3m; do
	size=$(stat -c %s "$work/$f")
	check "$f: encrypt-file" quiet ctl encrypt-file fk --context f=1 "$work/$f" "$work/$f.s"
	check "$f: frames of 65536, $((size / 65536 + 1)) of them (the last shorter), a wrapped key of 88" \
		test "$(/usr/bin/python3 "$ref" frames "$work/$f.s")" = "65536 88 $((size / 65536 + 1))"
	check "$f: the reference opens it with the KMS key's raw material" \
		bash -c "/usr/bin/python3 '$ref' open '$work/kek' '$work/$f.s' f=1 | cmp -s - '$work/$f'"
	check "$f: decrypt-file gives it back" \
		bash -c "'$hctl' --socket '$sock' decrypt-file --context f=1 '$work/$f.s' '$work/$f.o' && cmp -s '$work/$f.o' '$work/$f'"
done
check "the stream is as long as the data, a header of 104 and a tag per frame" \
	test "$(stat -c %s "$work/d3m.s")" -eq $((3 * 1048576 + 5 + 104 + 49 * 16))
check "two streams of the same data differ (a data key each)" \
	bash -c "ctl() { '$hctl' --socket '$sock' \"\$@\"; }; ctl encrypt-file fk --context f=1 '$work/d1' '$work/d1.s2' && ! cmp -s '$work/d1.s' '$work/d1.s2'"
/usr/bin/python3 "$ref" seal "$work/kek" "$id" 1 "$work/d65537" 4096 f=1 > "$work/r.s"
check "a stream the reference made (frames of 4096) opens in decrypt-file" \
	bash -c "'$hctl' --socket '$sock' decrypt-file --context f=1 '$work/r.s' '$work/r.o' && cmp -s '$work/r.o' '$work/d65537'"
check "standard input and output as - (pipes)" \
	bash -c "'$hctl' --socket '$sock' encrypt-file fk --context f=1 - - < '$work/d65537' |
		'$hctl' --socket '$sock' decrypt-file --context f=1 - - | cmp -s - '$work/d65537'"

section "refused, leaving no output"
check "another context" refused "does not decrypt" "$work/d3m.s" f=2
hdr=104 fr=$((65536 + 16))
edit "$work/d3m.s" "$work/alt.s" "b[$hdr + $fr + 100] ^= 1"
check "a byte of frame 1 altered" refused "frame 1 does not decrypt" "$work/alt.s"
edit "$work/d3m.s" "$work/swap.s" "h=$hdr; f=$fr; b[h:h+2*f] = b[h+f:h+2*f] + b[h:h+f]"
check "frames 0 and 1 swapped" refused "frame 0 does not decrypt" "$work/swap.s"
edit "$work/d3m.s" "$work/drop.s" "h=$hdr; f=$fr; del b[h+f:h+2*f]"
check "frame 1 dropped" refused "frame 1 does not decrypt" "$work/drop.s"
edit "$work/d3m.s" "$work/cut.s" "del b[$hdr + 48 * $fr:]"
check "cut after frame 47 (a frame's end)" refused "it was cut" "$work/cut.s"
edit "$work/d65536.s" "$work/cut2.s" "del b[-16:]"
check "the tag-only last frame dropped (data of a whole frame)" refused "it was cut" "$work/cut2.s"
edit "$work/d3m.s" "$work/cut3.s" "del b[$hdr + $fr + 1000:]"
check "cut inside frame 1" refused "frame 1 does not decrypt" "$work/cut3.s"
edit "$work/d65537.s" "$work/app.s" "b += b'extra'"
check "bytes appended" refused "does not decrypt" "$work/app.s"
edit "$work/d1.s2" "$work/mix.s" "b[104:] = open('$work/d1.s','rb').read()[104:]"
check "another stream's header before this one's frames" refused "frame 0 does not decrypt" "$work/mix.s"
edit "$work/d3m.s" "$work/fsz.s" "b[10] ^= 0x01"
check "the frame size changed" refused "does not decrypt\|not a stream" "$work/fsz.s"
edit "$work/d1.s" "$work/magic.s" "b[0] ^= 1"
check "not a stream" refused "not a stream" "$work/magic.s"
check "to standard output, a cut stream fails (after the frames that verified)" \
	bash -c "! '$hctl' --socket '$sock' decrypt-file --context f=1 '$work/cut.s' - > '$work/cutout' 2>/dev/null &&
		test \$(stat -c %s '$work/cutout') -eq $((48 * 65536))"
ctl data-key fk --context f=1 > "$work/kw"
edit "$work/d1.s" "$work/kh.s" "w=open('$work/kw','rb').read(); b[12:16]=len(w).to_bytes(4,'big'); b[16:104]=w"
check "a header holding a data key for the kernel only is refused" refused "for the kernel only" "$work/kh.s"
echo keep > "$work/exists"
check "an output that exists is refused and kept" bash -c \
	"! '$hctl' --socket '$sock' decrypt-file --context f=1 '$work/d1.s' '$work/exists' 2>/dev/null && test \"\$(cat '$work/exists')\" = keep"
check "... encrypt-file too" bash -c \
	"! '$hctl' --socket '$sock' encrypt-file fk '$work/d1' '$work/exists' 2>/dev/null && test \"\$(cat '$work/exists')\" = keep"
check "a decrypted file is 0600" test "$(stat -c %a "$work/d1.o")" = 600

section "grants, from the unprivileged side"
chmod 644 "$work"/d1 "$work"/d1.s
mkdir "$work/n" && chown 65534:65534 "$work/n"
check "nobody without a grant may not encrypt-file" expect_fail "may not make data keys with key 'fk'" \
	as_nobody encrypt-file fk "$work/d1" "$work/n/x.s"
check "... and no output is left" test -z "$(ls "$work/n")"
check "nobody may not decrypt-file, the key not named" bash -c \
	"out=\$(setpriv --reuid=65534 --regid=65534 --clear-groups '$hctl' --socket '$sock' decrypt-file --context f=1 '$work/d1.s' '$work/n/x' 2>&1);
	 grep -q 'may not decrypt this blob' <<< \"\$out\" && ! grep -q fk <<< \"\$out\""
quiet ctl policy fk --grant encrypt,decrypt,data-key:root --grant data-key:nobody
check "with data-key alone nobody encrypts a file" quiet as_nobody encrypt-file fk --context f=1 "$work/d1" "$work/n/y.s"
check "... which root decrypts" \
	bash -c "'$hctl' --socket '$sock' decrypt-file --context f=1 '$work/n/y.s' - | cmp -s - '$work/d1'"
check "... but nobody cannot decrypt it (no decrypt grant)" expect_fail "may not decrypt this blob" \
	as_nobody decrypt-file --context f=1 "$work/n/y.s" "$work/n/y"
tap_done
