#!/bin/bash
# Batches of encrypt, decrypt and data-key on the embedded key store (on a
# SoftHSM2 token: test_pkcs11_kms_batch.sh; on a KMIP server:
# test_kmip_kms_batch.sh),
# through libhsmkey (build/tests/kms_batch) and as raw requests
# (tests/lib/rawreq.py): each item's blob checked against the reference of
# hsmkey-blob(5) with the raw key and the item's own context; items refused
# alone (altered, wrong context, a key without a grant, from an
# unprivileged user's side) while those before it succeed and those after
# it are not run; the batch's limits; one audit record per item run;
# hsmkeyctl's batches (encrypt-batch, decrypt-batch, data-key-batch) on
# lines of base64, against the same reference.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

ref=$top/tests/lib/kms_blob.py
batch=$top/build/tests/kms_batch
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
raw() { /usr/bin/python3 "$top/tests/lib/rawreq.py" "$sock" "$@"; }
# raw_says TEXT JSON [PAYLOAD]: the reply refuses the whole request, saying TEXT.
raw_says() {
	local text=$1; shift
	raw "$@" > "$work/raw" && grep -q '"ok": false' "$work/raw" && grep -q -- "$text" "$work/raw"
}
# results OUT: the items' results of a kms_batch output, one line.
results() { grep -v '^batch' "$1" | cut -d' ' -f2 | tr '\n' ' '; }

daemon_start || { fail "hsmkeyd starts"; tap_done; }
chmod 755 "$work"

section "an encrypt batch, each blob checked against the reference"
head -c 32 /dev/urandom > "$work/raw1"
head -c 16 /dev/urandom > "$work/raw2"
quiet ctl import k1 --type kms-aes-256 --key-file "$work/raw1"
quiet ctl import k2 --type kms-aes-128 --key-file "$work/raw2"
check_in_storage k1
check_in_storage k2
quiet ctl policy k1 --grant encrypt,decrypt,data-key:root
quiet ctl policy k2 --grant encrypt,decrypt:root
sizes=(1 100 4096 17 3000)
files=()
for i in "${!sizes[@]}"; do
	head -c "${sizes[$i]}" /dev/urandom > "$work/p$i"
	files+=("$work/p$i")
done
"$batch" encrypt "$sock" k1 "${files[@]}" > "$work/enc"
check "five items encrypted in one call, each succeeded" \
	test "$(results "$work/enc")$(tail -1 "$work/enc" | cut -d' ' -f2)" = "0 0 0 0 0 0"
ok_all=1
for i in "${!sizes[@]}"; do
	test "$(stat -c %s "$work/p$i.blob")" -eq $((sizes[i] + 56)) &&
		/usr/bin/python3 "$ref" open "$work/raw1" "$work/p$i.blob" "n=$i" | cmp -s - "$work/p$i" || ok_all=0
done
check "each blob is its plaintext + 56 and opens in the reference with k1's raw key and its item's context" \
	test "$ok_all" = 1
check "... and not with another item's context" \
	bash -c "! /usr/bin/python3 '$ref' open '$work/raw1' '$work/p1.blob' n=0 2>/dev/null"
check "two items' nonces differ" \
	test "$(/usr/bin/python3 "$ref" head "$work/p0.blob" | cut -d' ' -f4)" != "$(/usr/bin/python3 "$ref" head "$work/p1.blob" | cut -d' ' -f4)"

section "a decrypt batch"
blobs=()
for i in "${!sizes[@]}"; do blobs+=("$work/p$i.blob"); done
"$batch" decrypt "$sock" "${blobs[@]}" > "$work/dec"
ok_all=1
for i in "${!sizes[@]}"; do cmp -s "$work/p$i.blob.pt" "$work/p$i" || ok_all=0; done
check "five blobs decrypted in one call to their plaintexts" \
	test "$(results "$work/dec")" = "0 0 0 0 0 " -a "$ok_all" = 1
/usr/bin/python3 "$ref" seal "$work/raw2" "$(ctl --json show k2 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" 1 "$work/p1" n=1 > "$work/m1"
cp "$work/p0.blob" "$work/m0"
cp "$work/p2.blob" "$work/m2"
/usr/bin/python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[100]^=1; open(sys.argv[1],"wb").write(b)' "$work/m2"
cp "$work/p4.blob" "$work/m3"	# made with n=4: item 3's context n=3 does not fit
rm -f "$work"/m*.pt
"$batch" decrypt "$sock" "$work/m0" "$work/m1" "$work/m2" "$work/m3" > "$work/mixed"
check "mixed keys, then an altered blob: items 0 and 1 open, 2 refused (EBADMSG), 3 not run (ECANCELED)" \
	test "$(results "$work/mixed")" = "0 0 -74 -125 "
check "... their plaintexts right (item 1 a blob the reference made under k2)" \
	bash -c "cmp -s '$work/m0.pt' '$work/p0' && cmp -s '$work/m1.pt' '$work/p1' && ! test -e '$work/m2.pt'"
check "... and the batch returns the first failed item's error, naming it" \
	bash -c "tail -1 '$work/mixed' | grep -q '^batch -74 item 2: the blob does not decrypt'"
"$batch" decrypt "$sock" "$work/m3" > "$work/wrongctx"
check "a blob under another item's context: refused (EBADMSG)" test "$(results "$work/wrongctx")" = "-74 "

section "grants, item by item, from an unprivileged user's side"
quiet ctl policy k2 --grant encrypt,decrypt:root --grant decrypt:nobody
mkdir -m 777 "$work/nbd"
cp "$work/m0" "$work/nbd/m0"
cp "$work/m1" "$work/nbd/m1"
/usr/bin/python3 "$ref" seal "$work/raw2" "$(ctl --json show k2 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" 1 "$work/p1" n=0 > "$work/nbd/m1b"
chmod 644 "$work"/nbd/m*
"${nobody[@]}" "$batch" decrypt "$sock" "$work/nbd/m1b" "$work/nbd/m0" "$work/nbd/m1" > "$work/nb" 2>&1
check "nobody's batch: the k2 blob opened, the k1 blob refused (EPERM), the rest not run" \
	bash -c "test '$(results "$work/nb")' = '0 -1 -125 ' && cmp -s '$work/nbd/m1b.pt' '$work/p1' && ! test -e '$work/nbd/m0.pt'"
check "... the refusal names no key" bash -c "tail -1 '$work/nb' | grep -q 'may not decrypt this blob' && ! grep -q k1 '$work/nb'"
"${nobody[@]}" "$batch" encrypt "$sock" k1 "$work/p0" "$work/p1" > "$work/nbe" 2>&1
check "nobody without encrypt on k1: the first item refused, the second not run" \
	test "$(results "$work/nbe")" = "-1 -125 "

section "data keys in a batch"
"$batch" data-keys "$sock" k1 4 plain "$work/dk" > "$work/dks"
ok_all=1
for i in 0 1 2 3; do
	test "$(stat -c %s "$work/dk.$i.key")" -eq 32 &&
		/usr/bin/python3 "$ref" open "$work/raw1" "$work/dk.$i.wrapped" "n=$i" | cmp -s - "$work/dk.$i.key" || ok_all=0
done
check "four data keys with their plaintexts: each wrapped key opens in the reference to its plaintext" \
	test "$(results "$work/dks")" = "0 0 0 0 " -a "$ok_all" = 1
check "... and they differ" bash -c "! cmp -s '$work/dk.0.key' '$work/dk.1.key'"
TYPE=aes-128-gcm "$batch" data-keys "$sock" k1 2 wrapped "$work/dw" > "$work/dkw"
check "two wrapped-only data keys: for the kernel only (flag 1), 16 bytes, bound to uid 0" \
	bash -c "test '$(results "$work/dkw")' = '0 0 ' &&
		test \"\$(/usr/bin/python3 '$ref' head '$work/dw.1.wrapped' | cut -d' ' -f5)\" = 1 &&
		/usr/bin/python3 '$ref' open '$work/raw1' '$work/dw.1.wrapped' n=1 hsmkey:type=aes-128-gcm hsmkey:uid=0 | test \$(wc -c) -eq 16"
"$batch" data-keys "$sock" k2 2 plain "$work/dn" > "$work/dkn"
check "without the data-key grant of k2: the first item refused, the second not run" \
	test "$(results "$work/dkn")" = "-1 -125 "

section "the batch's shape and limits, as raw requests"
head -c 10 /dev/urandom > "$work/ten"
items17=$(/usr/bin/python3 -c 'import json; print(json.dumps([{"len": 0}] * 17))')
check "17 items are refused" raw_says "1 to 16 items" "{\"v\":1,\"op\":\"encrypt\",\"name\":\"k1\",\"items\":$items17}"
check "no items are refused" raw_says "1 to 16 items" '{"v":1,"op":"encrypt","name":"k1","items":[]}'
check "lengths that do not add up to the payload" raw_says "add up to 11 bytes, the payload has 10" \
	'{"v":1,"op":"encrypt","name":"k1","items":[{"len":5},{"len":6}]}' "$work/ten"
check "a context beside the items" raw_says "each item has its own" \
	'{"v":1,"op":"encrypt","name":"k1","context":{},"items":[{"len":10}]}' "$work/ten"
check "an item with another field" raw_says "not 'name'" \
	'{"v":1,"op":"encrypt","name":"k1","items":[{"len":10,"name":"k2"}]}' "$work/ten"
check "an item that is no object" raw_says "is not an object" \
	'{"v":1,"op":"encrypt","name":"k1","items":[10]}' "$work/ten"
check "an encrypt item without a length" raw_says "missing" \
	'{"v":1,"op":"encrypt","name":"k1","items":[{"context":{}}]}' "$work/ten"
check "a data-key item with a length" raw_says "data-key takes none" \
	'{"v":1,"op":"data-key","name":"k1","items":[{"len":0}]}'
check "a kernel flag on an encrypt batch is no data-key matter (refused as encrypt refuses it)" \
	bash -c "/usr/bin/python3 '$top/tests/lib/rawreq.py' '$sock' '{\"v\":1,\"op\":\"encrypt\",\"name\":\"k1\",\"kernel\":true,\"items\":[{\"len\":10}]}' '$work/ten' | grep -q '\"ok\": true'"
check "data keys for the kernel are not batched" raw_says "one a call, not in a batch" \
	'{"v":1,"op":"data-key","name":"k1","kernel":true,"items":[{}]}'
check "items that are no list" raw_says "'items' must be a list" \
	'{"v":1,"op":"encrypt","name":"k1","items":{}}' "$work/ten"
head -c 50000 /dev/zero > "$work/big"
check "inputs over 49152 bytes in all" raw_says "at most 49152 bytes" \
	'{"v":1,"op":"encrypt","name":"k1","items":[{"len":25000},{"len":25000}]}' "$work/big"
head -c 5000 /dev/zero > "$work/5000"
raw '{"v":1,"op":"encrypt","name":"k1","items":[{"len":903},{"len":4097}]}' "$work/5000" > "$work/over"
check "an item over 4096 bytes fails (EMSGSIZE), the one before it is encrypted" \
	/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))
i=r["items"]; sys.exit(not (r["ok"] and i[1]["errno"]==90 and i[0]["len"]==959 and r["payload_len"]==959 and i[0]["name"]=="k1"))' "$work/over"
check "items on an operation that has no batches" raw_says "'items' is for encrypt, decrypt and data-key" \
	'{"v":1,"op":"sign","name":"k1","items":[{"len":10}]}' "$work/ten"
check "... nor to_context beside re-encrypt" raw_says "'to_context' is for re-encrypt" \
	'{"v":1,"op":"encrypt","name":"k1","to_context":{}}' "$work/ten"
check "hsmkeyd is still up" quiet ctl list

section "hsmkeyctl's batches: lines of base64"
# 40 plaintexts of 1 to 4096 bytes: three or more requests (16 items or
# 48 KiB of input each); every blob opened by the reference.
b64() { base64 -w0 "$1"; echo; }
: > "$work/lines"
for i in $(seq 40); do
	head -c $((RANDOM % 4096 + 1)) /dev/urandom > "$work/cli$i"
	b64 "$work/cli$i" >> "$work/lines"
done
ctl encrypt-batch k1 --context cli=batch < "$work/lines" > "$work/blobs"
check "encrypt-batch: 40 lines in, 40 lines out" test "$(wc -l < "$work/blobs")" = 40
ok_all=1
for i in $(seq 40); do
	sed -n "${i}p" "$work/blobs" | base64 -d > "$work/cli$i.blob"
	/usr/bin/python3 "$ref" open "$work/raw1" "$work/cli$i.blob" cli=batch | cmp -s - "$work/cli$i" || ok_all=0
done
check "... each line a blob of k1 that opens in the reference to its line's plaintext" test "$ok_all" = 1
ctl decrypt-batch --context cli=batch < "$work/blobs" > "$work/back"
check "decrypt-batch gives back every line, in order" cmp "$work/lines" "$work/back"
check "... not under another context: refused from line 1, nothing out" bash -c "
	! '$top/build/hsmkeyctl' --socket '$sock' decrypt-batch --context cli=other < '$work/blobs' > '$work/none' 2> '$work/err' &&
	test ! -s '$work/none' && grep -q 'line 1: ' '$work/err'"
# line 23 not base64: the 22 before it encrypted and written, then the stop.
{ head -22 "$work/lines"; echo 'not base64!'; tail -n +24 "$work/lines"; } > "$work/bad"
check "a line that is not base64 (23): exit 1, naming it" bash -c "
	! '$top/build/hsmkeyctl' --socket '$sock' encrypt-batch k1 --context cli=batch < '$work/bad' > '$work/part' 2> '$work/err' &&
	grep -q 'line 23: not 1 to 4096 bytes in base64' '$work/err'"
check "... after the 22 lines before it, each opening to its plaintext" bash -c "
	test \$(wc -l < '$work/part') = 22 &&
	for i in \$(seq 22); do sed -n \${i}p '$work/part' | base64 -d > '$work/p.blob' &&
		/usr/bin/python3 '$ref' open '$work/raw1' '$work/p.blob' cli=batch | cmp -s - '$work/cli'\$i || exit 1; done"
# blob 5 altered: lines 1-4 decrypted, line 5 refused, 6.. not written.
{ head -4 "$work/blobs"; sed -n 5p "$work/blobs" | base64 -d | /usr/bin/python3 -c '
import sys; b = bytearray(sys.stdin.buffer.read()); b[-1] ^= 1; sys.stdout.buffer.write(b)' | base64 -w0; echo
  tail -n +6 "$work/blobs"; } > "$work/altered"
check "an altered blob (line 5): exit 1 naming line 5, the 4 lines before it out" bash -c "
	! '$top/build/hsmkeyctl' --socket '$sock' decrypt-batch --context cli=batch < '$work/altered' > '$work/part' 2> '$work/err' &&
	grep -q 'line 5: ' '$work/err' && cmp '$work/part' <(head -4 '$work/lines')"
check "nobody, without encrypt on k1: refused from line 1, nothing out" bash -c "
	! ${nobody[*]} '$top/build/hsmkeyctl' --socket '$sock' encrypt-batch k1 < '$work/lines' > '$work/none' 2> '$work/err' &&
	test ! -s '$work/none' && grep -q 'line 1: ' '$work/err'"
# 13 lines of exactly 4096 bytes: 12 fill the 48 KiB of a batch, the 13th
# starts the next; and every line ends CR-LF, as a file from elsewhere may.
: > "$work/full"
for i in $(seq 13); do
	head -c 4096 /dev/urandom > "$work/full$i"
	b64 "$work/full$i" >> "$work/full"
done
sed 's/$/\r/' "$work/full" > "$work/full.crlf"
ctl encrypt-batch k1 --context cli=full < "$work/full.crlf" > "$work/full.blobs"
ok_all=1
for i in $(seq 13); do
	sed -n "${i}p" "$work/full.blobs" | base64 -d > "$work/f.blob"
	/usr/bin/python3 "$ref" open "$work/raw1" "$work/f.blob" cli=full | cmp -s - "$work/full$i" || ok_all=0
done
check "13 lines of 4096 bytes, CR-LF: two batches (48 KiB, then the 13th), 13 blobs in order" \
	bash -c "test \$(wc -l < '$work/full.blobs') = 13 && test $ok_all = 1"
printf '%s' "$(tail -1 "$work/lines")" > "$work/nonl"
check "a last line without its newline is an item" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' encrypt-batch k1 < '$work/nonl' | wc -l | grep -qx 1"
# bad_line WHAT INPUT N: encrypt-batch refuses line N, after the N-1 before it.
bad_line() {
	check "$1: line $3 refused, the $(($3 - 1)) before it encrypted" bash -c "
		! '$top/build/hsmkeyctl' --socket '$sock' encrypt-batch k1 < '$2' > '$work/part' 2> '$work/err' &&
		grep -q 'line $3: not 1 to 4096 bytes in base64' '$work/err' && test \$(wc -l < '$work/part') = $(($3 - 1))"
}
{ head -2 "$work/lines"; head -c 4097 /dev/urandom | base64 -w0; echo; } > "$work/in"
bad_line "4097 bytes" "$work/in" 3
{ head -1 "$work/lines"; head -c 6000 /dev/zero | tr '\0' A; echo; head -1 "$work/lines"; } > "$work/in"
bad_line "a line longer than any item's base64 (6000 characters)" "$work/in" 2
{ head -1 "$work/lines"; echo 'QQ==QQ=='; } > "$work/in"
bad_line "'=' within the line" "$work/in" 2
{ head -1 "$work/lines"; printf 'QQ==\t\t\t\t\n'; } > "$work/in"
bad_line "blanks after the padding" "$work/in" 2
{ head -3 "$work/lines"; echo; } > "$work/in"
bad_line "an empty line" "$work/in" 4
check "no input: nothing out, status 0" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' encrypt-batch k1 < /dev/null | wc -c | grep -qx 0"
ctl data-key-batch k1 --count 20 --context cli=dk --plaintext "$work/dk.plain" > "$work/dk.wrapped"
check "data-key-batch: 20 wrapped lines, 20 plaintext lines in a new file of mode 0600" bash -c "
	test \$(wc -l < '$work/dk.wrapped') = 20 && test \$(wc -l < '$work/dk.plain') = 20 &&
	test \$(stat -c %a '$work/dk.plain') = 600"
ok_all=1
for i in $(seq 20); do
	sed -n "${i}p" "$work/dk.wrapped" | base64 -d > "$work/dk.blob"
	sed -n "${i}p" "$work/dk.plain" | base64 -d > "$work/dk.key"
	test "$(stat -c %s "$work/dk.key")" = 32 &&
		/usr/bin/python3 "$ref" open "$work/raw1" "$work/dk.blob" cli=dk | cmp -s - "$work/dk.key" || ok_all=0
done
check "... each wrapped key opens in the reference to its plaintext line's 32 bytes" test "$ok_all" = 1
check "... and no two keys alike" test "$(sort -u "$work/dk.plain" | wc -l)" = 20
check "data-key-batch will not write over a file" bash -c "
	! '$top/build/hsmkeyctl' --socket '$sock' data-key-batch k1 --count 1 --plaintext '$work/dk.plain' > /dev/null 2>&1 &&
	test \$(wc -l < '$work/dk.plain') = 20"
mkdir -m 777 "$work/nbdk"
check "a data-key-batch refused from its first key leaves no plaintext file" bash -c "
	! ${nobody[*]} '$top/build/hsmkeyctl' --socket '$sock' data-key-batch k1 --count 2 --plaintext '$work/nbdk/p' > /dev/null 2> '$work/err' &&
	grep -q 'key 1: ' '$work/err' && test ! -e '$work/nbdk/p'"
ctl data-key-batch k1 --count 3 > "$work/dk.kernel"
check "without --plaintext: 3 keys for the kernel only (flags 1 in the blob)" bash -c "
	test \$(wc -l < '$work/dk.kernel') = 3 && sed -n 2p '$work/dk.kernel' | base64 -d > '$work/dk.k' &&
	test \$(/usr/bin/python3 '$ref' head '$work/dk.k' | cut -d' ' -f5) = 1"

section "the audit log"
log=$(ls "$work"/state/audit* | head -1)
check "the audit log verifies" quiet ctl audit verify
ctxhash() { /usr/bin/python3 -c 'import hashlib,sys
sys.path.insert(0, sys.argv[1]); import kms_blob
print(hashlib.sha256(kms_blob.context([("n", sys.argv[2])])).hexdigest()[:16])' "$top/tests/lib" "$1"; }
ok_all=1
for i in 0 1 2 3 4; do
	# item i's context n=i: one encryption of k1 allowed, in the first batch (the
	# raw requests' items have no context; nobody's encryptions were refused)
	n=$(grep -a '"encrypt"' "$log" | grep -a '"k1"' | grep -a '"result":"ok"' | grep -ac "context $(ctxhash "$i")")
	test "$n" -eq 1 || ok_all=0
done
check "one record per item: an encryption of k1 with each context n=0..4, exactly" test "$ok_all" = 1
check "... and no record of the items not run (nobody's k2 batch: 1 ok, 1 refused)" \
	test "$(grep -a '"decrypt"' "$log" | grep -ac '"uid":65534')" -eq 2
check "the refused items are recorded too" \
	bash -c "grep -a '\"decrypt\"' '$log' | grep -a '\"uid\":65534' | grep -aq 'may not decrypt this blob'"
cli=$(/usr/bin/python3 -c 'import hashlib,sys
sys.path.insert(0, sys.argv[1]); import kms_blob
print(hashlib.sha256(kms_blob.context([("cli", "batch")])).hexdigest()[:16])' "$top/tests/lib")
check "hsmkeyctl's batches: a record per line encrypted (40 + 22)" \
	test "$(grep -a '"encrypt"' "$log" | grep -a '"result":"ok"' | grep -ac "context $cli")" -eq 62
printf 'batch-marker-4f1e0a' > "$work/marker"
"$batch" encrypt "$sock" k1 "$work/marker" > /dev/null
check "the marker's encryption is recorded, its plaintext nowhere in the log" \
	bash -c "grep -aq 'batch-marker' '$work/marker' && ! grep -aq 'batch-marker' '$log' &&
		test \$(grep -a '\"encrypt\"' '$log' | grep -ac \"context $(ctxhash 0)\") -eq 2"
tap_done
