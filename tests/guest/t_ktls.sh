#!/bin/bash
# kTLS session tokens: hsmkey.ko loaded again with ktls=1 (gcm-aes-hsmkey,
# above the kernel's best gcm(aes)), ktls_test's and ktls_daemon_test's
# cases (their TAP lines taken over one by one), and the module loaded back
# as it was.
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
. "$top/tests/lib/tap.sh"

# The gcm(aes) drivers in /proc/crypto, the highest priority first.
gcm_aes() {
	awk '/^name/ { n = $3 } /^driver/ { d = $3 } /^priority/ { p = $3 }
	     /^$/ { if (n == "gcm(aes)") print p, d; n = "" }' /proc/crypto | sort -rn
}

grep -q '^hsmkey ' /proc/modules && { rmmod hsmkey || { fail "unload hsmkey for ktls=1"; tap_done; }; }
check "no gcm-aes-hsmkey without ktls=1" bash -c '! grep -q "^driver *: gcm-aes-hsmkey$" /proc/crypto'
check "insmod hsmkey.ko ktls=1" insmod "$HSMKEY_KO" ktls=1
top_gcm=$(gcm_aes | head -n 1)
check "gcm-aes-hsmkey is the gcm(aes) a user gets (priority ${top_gcm% *})" \
	test "${top_gcm#* }" = gcm-aes-hsmkey
# The self-tests ran at registration: gcm(aes)'s vectors, and on the debug
# kernel the extra tests (random requests against the generic code).
if [[ -n ${HSMKEY_DEBUG:-} ]]; then
	check "the extra crypto self-tests are on (cryptomgr.noextratests=N)" \
		grep -qx N /sys/module/cryptomgr/parameters/noextratests
fi
selftest=$(awk '/^driver/ { d = $3 } /^selftest/ && d == "gcm-aes-hsmkey" { print $3 }' /proc/crypto)
check "gcm-aes-hsmkey passed the crypto self-tests (${selftest:-none})" test "$selftest" = passed
fallback=$(gcm_aes | sed -n 2p)
check "the kernel log names the fallback, the gcm(aes) next below (${fallback#* })" \
	test "$(dmesg | grep 'hsmkey: ktls: gcm-aes-hsmkey over ' | tail -n 1 | sed 's/.* over //')" = \
	"${fallback#* }"

# take TEST: run build/tests/guest/TEST and take over its TAP lines.
take() {
	local out n=0 plan= line
	out=$(mktemp)
	"$top/build/tests/guest/$1" > "$out" 2>&1
	while IFS= read -r line; do
		case $line in
		1..*) plan=${line#1..} ;;
		"ok "*"# SKIP"*) n=$((n + 1)); skip "$1: ${line#ok [0-9]* }" "skipped by $1" ;;
		"ok "*) n=$((n + 1)); ok "$1: ${line#ok [0-9]* }" ;;
		"not ok "*) n=$((n + 1)); fail "$1: ${line#not ok [0-9]* }" ;;
		*) echo "# $line" ;;
		esac
	done < "$out"
	rm -f "$out"
	check "$1 ran every case it planned ($n of ${plan:-none})" test "$n" = "${plan:-none}"
}
take ktls_test
# hsmkeyd's installer (daemon/ktls.c): OpenSSL's handshake, then kTLS with
# tokens, against OpenSSL's record layer.
take ktls_daemon_test

check "rmmod (no tfm of gcm-aes-hsmkey left)" rmmod hsmkey
check "insmod hsmkey.ko as before" insmod "$HSMKEY_KO"
tap_done
