#!/bin/bash
# Data keys of the local KMS API that go into the kernel: a data key made
# with its plaintext and put into the kernel later (unwrap-to-kernel), and
# one made straight into the kernel (data-key --kernel), each encrypting
# through AF_ALG's gcm(hsmaes) to what OpenSSL makes with the plaintext;
# the token bound to its caller's uid; a data key made for the kernel
# never decrypted, and unwrapped again for its maker's uid alone (opened by
# the reference, tests/lib/kms_blob.py, with the KMS key's raw material);
# a caller with the data-key grant alone, who opens nothing of anyone
# else's; the kernel key following its KMS key's disable, enable and
# revocation (a binding made before fails); its lifetime; the per-user
# cap; a restart of the daemon; a data-key call held in its count keeps
# no one waiting, nor takes its caller over the cap.  With
# HSMKEY_TEST_BACKEND=pkcs11 (t_kms_pkcs11) all of it on backend = pkcs11,
# a SoftHSM2 token holding the KMS keys; with HSMKEY_TEST_BACKEND=kmip
# (t_kms_kmip) on backend = kmip, a PyKMIP server of the test's own
# holding them (tests/lib/daemon.sh).
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
chmod 755 "$work"
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
aead=$top/tests/guest/afalg_aead.py
ref=$top/tests/lib/kms_blob.py
hctl=$top/build/hsmkeyctl
# nctl: hsmkeyctl as nobody, in $nw (a directory nobody may write);
# nctl_within SECONDS: the same with a deadline.
nw=$work/nobody
nctl_within() {
	local t=$1; shift
	(cd "$nw" && timeout "$t" setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$hctl" --socket "$sock" "$@")
}
nctl() { nctl_within 0 "$@"; }
nbind() { setpriv --reuid=65534 --regid=65534 --clear-groups python3 "$aead" bind "$@"; }
bind() { python3 "$aead" bind "$@"; }
# 3000 bytes under a fixed IV and AAD: by the kernel with a token, by OpenSSL with a key.
iv=000102030405060708090a0b aad=6865616465722d31
kernel_ct() { python3 "$aead" kernel "$1" "$iv" "$aad" < "$work/pt"; }
ref_ct() { python3 "$aead" ref "$1" "$iv" "$aad" < "$work/pt"; }
same_ct() {
	kernel_ct "$1" > "$work/ct.k" && ref_ct "$2" > "$work/ct.r" &&
		test "$(stat -c %s "$work/ct.k")" -eq 3016 && cmp -s "$work/ct.k" "$work/ct.r"
}
not_same() { ! same_ct "$@"; }
# test_exit (tests/lib/daemon.sh): on kmip, the key server stopped too.
cleanup() { rm -f "$work/hold"; test_exit; }
trap cleanup EXIT

grep -q '^hsmkey ' /proc/modules || insmod "$HSMKEY_KO"
daemon_start || { fail "hsmkeyd starts"; tap_done; }
mkdir "$nw" && chown 65534:65534 "$nw"
head -c 3000 /dev/urandom > "$work/pt"
head -c 32 /dev/urandom > "$work/kek"
quiet ctl import kek --type kms-aes-256 --key-file "$work/kek"
check_in_storage kek
check "grants: root encrypt, decrypt, data-key; nobody data-key alone" \
	quiet ctl policy kek --grant encrypt,decrypt,data-key:root --grant data-key:nobody

section "a data key with its plaintext, put into the kernel later"
check "data-key --plaintext" bash -c "'$hctl' --socket '$sock' data-key kek --context app=backup \
	--plaintext '$work/dk1' > '$work/w1'"
check "the plaintext file is 32 bytes, mode 0600; the wrapped key 88" \
	test "$(stat -c '%s %a' "$work/dk1") $(stat -c %s "$work/w1")" = "32 600 88"
check "decrypt of the wrapped key gives the plaintext" \
	bash -c "'$hctl' --socket '$sock' decrypt --context app=backup < '$work/w1' | cmp -s - '$work/dk1'"
check "unwrap-to-kernel gives a 64-byte token" \
	bash -c "'$hctl' --socket '$sock' unwrap-to-kernel --context app=backup < '$work/w1' > '$work/t1' &&
		test \$(stat -c %s '$work/t1') -eq 64"
check "AF_ALG gcm(hsmaes) with the token encrypts as OpenSSL does with the plaintext" \
	same_ct "$work/t1" "$work/dk1"
head -c 32 /dev/urandom > "$work/rnd"
check "... and the comparison fails with another key (the control)" not_same "$work/t1" "$work/rnd"
check "unwrap with another context is refused" expect_fail "does not decrypt" \
	ctl unwrap-to-kernel --context app=other < "$work/w1"
ctl data-key kek --type aes-128-gcm --plaintext "$work/dk16" > "$work/w16"
check "a 16-byte data key is not unwrapped as aes-256-gcm" expect_fail "takes 32" \
	ctl unwrap-to-kernel --type aes-256-gcm < "$work/w16"
check "it unwraps as aes-128-gcm (its length's GCM type)" \
	bash -c "'$hctl' --socket '$sock' unwrap-to-kernel < '$work/w16' > '$work/t16'"
check "... and encrypts as OpenSSL's AES-128-GCM with its plaintext" same_ct "$work/t16" "$work/dk16"

section "a data key straight into the kernel"
check "data-key --kernel" bash -c "'$hctl' --socket '$sock' data-key kek \
	--context app=backup --kernel '$work/t2' > '$work/w2'"
check "its wrapped form is flagged for the kernel only" \
	test "$(python3 "$ref" head "$work/w2" | cut -d' ' -f5)" = 1
check "decrypt refuses it, root with the decrypt grant included" \
	expect_fail "for the kernel only" ctl decrypt --context app=backup < "$work/w2"
check "the reference opens it with the raw KMS key, the context, hsmkey:type and hsmkey:uid" \
	bash -c "python3 '$ref' open '$work/kek' '$work/w2' app=backup hsmkey:type=aes-256-gcm hsmkey:uid=0 > '$work/dk2'"
check "... and the kernel encrypts with it as OpenSSL does" same_ct "$work/t2" "$work/dk2"
check "unwrap-to-kernel puts it into the kernel again, for root" \
	bash -c "'$hctl' --socket '$sock' unwrap-to-kernel --context app=backup < '$work/w2' > '$work/t2b'"
check "... the same key" same_ct "$work/t2b" "$work/dk2"
check "... but not as another type of its length (aes-256-cbc)" expect_fail "does not decrypt" \
	ctl unwrap-to-kernel --type aes-256-cbc --context app=backup < "$work/w2"
ctl data-key kek --type aes-256-cbc --context app=cbc > "$work/wc"
check "a wrapped-only aes-256-cbc key unwraps as aes-256-cbc alone" bash -c \
	"! '$hctl' --socket '$sock' unwrap-to-kernel --context app=cbc < '$work/wc' > /dev/null 2>&1 &&
	 '$hctl' --socket '$sock' unwrap-to-kernel --type aes-256-cbc --context app=cbc < '$work/wc' > '$work/tc' &&
	 test \"\$(python3 '$aead' bind '$work/tc' 'cbc(hsmaes)' skcipher)\" = ok"
install -m 644 "$work/t2" "$work/t2.copy"
check "the token is the caller's alone: nobody with a copy gets EACCES" \
	test "$(nbind "$work/t2.copy")" = EACCES
check "an aes-256-xts data key binds xts(hsmaes)" bash -c \
	"'$hctl' --socket '$sock' data-key kek --type aes-256-xts --kernel '$work/tx' > /dev/null &&
	 test \"\$(python3 '$aead' bind '$work/tx' 'xts(hsmaes)' skcipher)\" = ok"
check "--plaintext with --kernel is refused" expect_fail "not both" \
	ctl data-key kek --plaintext "$work/x1" --kernel "$work/x2"

section "nobody, with the data-key grant alone"
nctl data-key kek --kernel tn --context app=n > "$nw/wn" 2> "$work/err"
check "nobody puts a data key into the kernel" test -s "$nw/tn" -a -s "$nw/wn" ||
	echo "# $(cat "$work/err")"
check "and binds its token" test "$(nbind "$nw/tn")" = ok
check "root cannot bind nobody's token (EACCES)" test "$(bind "$nw/tn")" = EACCES
check "nobody may not decrypt its own kernel data key: no plaintext of it" \
	expect_fail "for the kernel only" nctl decrypt --context app=n < "$nw/wn"
check "nobody unwraps its own kernel data key again" \
	bash -c "cd '$nw' && setpriv --reuid=65534 --regid=65534 --clear-groups '$hctl' --socket '$sock' \
		unwrap-to-kernel --context app=n < wn > tn2 && test \"\$(setpriv --reuid=65534 --regid=65534 --clear-groups python3 '$aead' bind tn2)\" = ok"
check "nobody may not unwrap root's kernel data key (bound to uid 0)" \
	expect_fail "does not decrypt" nctl unwrap-to-kernel --context app=backup < "$work/w2"
check "nobody may not unwrap root's data key made with its plaintext (decrypt grant needed)" \
	expect_fail "may not decrypt this blob" nctl unwrap-to-kernel --context app=backup < "$work/w1"
check "root may not unwrap nobody's kernel data key (bound to uid 65534)" \
	expect_fail "does not decrypt" ctl unwrap-to-kernel --context app=n < "$nw/wn"
quiet ctl create other --type kms-aes-256
quiet ctl policy other --grant encrypt,data-key:root
ctl data-key other --plaintext "$work/dko" > "$work/wo"
nctl unwrap-to-kernel < "$work/wo" > /dev/null 2> "$work/err"
check "nobody without a grant on the blob's key is refused, the key not named" \
	bash -c "grep -q 'may not decrypt this blob' '$work/err' && ! grep -q other '$work/err'"

section "the kernel key follows its KMS key"
coproc HOLD { python3 "$top/tests/guest/afalg_hold.py" "$work/t2" "$work/flag"; }
read -r -t 20 first <&"${HOLD[0]}"
check "a binding of a data key works" test "$first" = ok
check "disable the KMS key" quiet ctl disable kek
check "its data keys refuse new bindings (EPERM)" test "$(bind "$work/t2")" = EPERM
check "enable" quiet ctl enable kek
check "they bind again" test "$(bind "$work/t2")" = ok
daemon_stop
daemon_start || fail "hsmkeyd starts again"
check "a restart of the daemon keeps them" test "$(bind "$work/t2")" = ok
check "revoke the KMS key" quiet ctl revoke kek
check "its data keys are gone from the kernel (ENOKEY)" \
	test "$(bind "$work/t2") $(bind "$work/t1") $(nbind "$nw/tn") $(nbind "$nw/tn2")" = "ENOKEY ENOKEY ENOKEY ENOKEY"
touch "$work/flag"
read -r -t 20 second <&"${HOLD[0]}"
check "and a binding made before fails (EKEYREVOKED)" test "$second" = EKEYREVOKED

section "lifetime and the per-user cap"
quiet ctl create kek2 --type kms-aes-128
quiet ctl policy kek2 --grant data-key:root --grant data-key:nobody
check "a data key of 2 seconds" bash -c "'$hctl' --socket '$sock' data-key kek2 --kernel '$work/tt' --ttl 2 > /dev/null"
check "binds at once" test "$(bind "$work/tt")" = ok
sleep 3.5
check "after its time the kernel refuses it (EKEYREVOKED)" test "$(bind "$work/tt")" = EKEYREVOKED
n=0
for i in $(seq 70); do
	ctl data-key kek2 --kernel "$work/cap$i" > /dev/null 2> "$work/caperr" || break
	n=$i
done
check "one uid has at most 64 live data keys in the kernel (made: $n)" test "$n" -eq 64
check "the 65th is refused with a clear error" grep -q "as many as one user may" "$work/caperr"
check "the spent one was removed from the kernel (ENOKEY)" test "$(bind "$work/tt")" = ENOKEY
check "another uid is not held by root's cap" quiet nctl data-key kek2 --kernel tcap
check "hsmkeyctl status counts the data keys in the kernel" \
	bash -c "'$hctl' --socket '$sock' status | grep -q 'data keys in the kernel.*: 65 live, 0 spent'"
log=$(ls "$work"/state/audit* 2>/dev/null | head -1)
check "the audit log verifies" quiet ctl audit verify
check "its data-key records say what was made and name the kernel keys" \
	test "$(grep -a '"data-key"' "$log" | grep -ac 'into the kernel kernel key [0-9a-f]\{32\} until [0-9]')" -ge 66

# A caller with the data-key grant alone, from the attacker's side: each of
# its calls reads every key the kernel holds to count its data keys.  One
# held there (the crash build's wait at dk-counted, for the first call to
# reach it) must keep no one waiting: a change to keys (a revocation above
# all), another user's data key, its own next call.  And what it counted
# before that call's add must not take it over its cap.
section "a data-key call counting keeps no one waiting, and counts again after an add"
quiet ctl revoke kek2
for k in kek3 kek4; do
	quiet ctl create "$k" --type kms-aes-256
	quiet ctl policy "$k" --grant data-key:root --grant data-key:nobody
done
quiet nctl data-key kek4 --kernel t4
for i in $(seq 70); do nctl data-key kek3 --kernel "tf$i" > /dev/null 2> "$work/caperr" || break; done
check "nobody fills its cap" grep -q "as many as one user may" "$work/caperr"
check "revoking kek4 takes one of nobody's data keys away" quiet ctl revoke kek4
daemon_stop
touch "$work/hold"
HSMKEY_CRASH_POINT=dk-counted HSMKEY_CRASH_WAIT=$work/hold \
	daemon_bin=$top/build/tests/hsmkeyd-crash daemon_start || fail "the crash build starts"
nctl_within 120 data-key kek3 --kernel ta > /dev/null 2> "$work/werr" &
waiter=$!
for _ in $(seq 300); do grep -q "crash point dk-counted reached" "$work/hsmkeyd.log" && break; sleep 0.1; done
check "nobody's data-key call is held after its count" grep -q "crash point dk-counted reached" "$work/hsmkeyd.log"
check "root creates a key meanwhile" quiet timeout 30 "$hctl" --socket "$sock" create kw --type aes-256-xts
check "and revokes it" quiet timeout 30 "$hctl" --socket "$sock" revoke kw
check "and puts a data key of its own into the kernel" \
	bash -c "timeout 30 '$hctl' --socket '$sock' data-key kek3 --kernel '$work/t3' > /dev/null && test \"\$(python3 '$aead' bind '$work/t3')\" = ok"
check "nobody's next call takes the last place under its cap" \
	quiet nctl_within 30 data-key kek3 --kernel tb
check "nobody's first call is still held" kill -0 "$waiter"
rm -f "$work/hold"
wait "$waiter"
wrc=$?
check "then it is refused: it counted again, and the cap is reached" \
	bash -c "test $wrc != 0 && grep -q 'as many as one user may' '$work/werr' && test ! -s '$nw/ta'"
daemon_stop
tap_done
