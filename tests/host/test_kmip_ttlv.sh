#!/bin/bash
# hsmkey's KMIP messages against PyKMIP, an independent implementation:
# every request hsmkey's encoder makes is read by PyKMIP and its fields
# checked; PyKMIP's server engine answers each (keys created, registered,
# fetched in clear and AES-wrapped, attributes, locate, revoke, destroy,
# errors, a batch of two, the spent count modified and read back);
# hsmkey's parser reads every answer and must say what PyKMIP says it put
# there, line for line.  (AddAttribute, which hsmkey sends for the spent
# count of a key it did not make, is not among them: PyKMIP has no
# decoder for it.)  Then the answers, cut
# short or with a length, a type or padding spoiled, are refused.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
tool=$top/build/tests/ttlv_tool
work=$(mktemp -d /tmp/hsmkey-kmip-ttlv.XXXXXX)
trap 'rm -rf "$work"' EXIT

check "hsmkey's encoder writes the requests" "$tool" requests "$work"
/usr/bin/python3 "$top/tests/host/kmip/engine.py" "$work" > "$work/expected.txt" 2> "$work/engine.err"
rc=$?
check "PyKMIP reads every request as hsmkey meant it, and answers it" test "$rc" = 0
[[ $rc == 0 ]] || sed 's/^/# /' "$work/engine.err" | tail -n 5
"$tool" responses "$work" > "$work/got.txt"
check "hsmkey's parser reads every answer" test $? = 0
n=$(wc -l < "$work/expected.txt")
check "PyKMIP gave 24 answers (23 messages, one of two items)" test "$n" = 24
while IFS= read -r line; do
	check "answer read as PyKMIP made it: ${line%% *} ${line#* }" grep -qxF -- "$line" "$work/got.txt"
done < "$work/expected.txt"
check "nothing read that PyKMIP did not say" cmp -s "$work/expected.txt" "$work/got.txt"

# spoiled FILE OFFSET BYTE: a copy of an answer with one byte changed.
spoiled() {
	mkdir -p "$work/bad"; rm -f "$work/bad"/*
	cp "$work/$1.resp" "$work/bad/$1.resp"
	printf "\\x$3" | dd of="$work/bad/$1.resp" bs=1 seek="$2" conv=notrunc status=none
	"$tool" responses "$work/bad" 2>&1
}
refused() {
	local out
	out=$(spoiled "$@")
	[[ $? != 0 && $out == *unreadable* ]]
}
# 07-get's answer: the message's length (byte 7), its type (byte 3), the
# last byte (padding after the key's length), the tag (byte 2: a request's).
size=$(stat -c %s "$work/07-get.resp")
check "an answer with its length spoiled is refused" refused 07-get 7 ff
check "an answer with its type spoiled is refused" refused 07-get 3 02
check "an answer with a padding byte not zero is refused" refused 07-get $((size - 1)) 01
check "an answer whose header says another message is refused" refused 07-get 2 78
head -c $((size - 8)) "$work/07-get.resp" > "$work/cut.resp"
mkdir -p "$work/cut"; mv "$work/cut.resp" "$work/cut/07-get.resp"
out=$("$tool" responses "$work/cut")
check "an answer cut short is refused" test $? != 0 -a -n "$(grep unreadable <<< "$out")"
tap_done
