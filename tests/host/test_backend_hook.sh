#!/bin/bash
# The test backends of tests/lib/daemon.sh (HSMKEY_TEST_BACKEND), which the
# wrappers test_pkcs11_kms_*.sh and test_kmip_kms_*.sh rely on: a run meant
# for a token or a key server is there or fails, never passes on the
# embedded store; check_in_storage fails for a key that is not there; and
# the key server a test started is gone once the test has ended.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

# refused BACKEND [CONF]: a test's first daemon_start on BACKEND (with its
# daemon_conf CONF set first, if given), in a shell of its own with the
# EXIT trap a test has, fails; and no daemon answers (should a start ever
# spawn one before refusing); its output in $work/BACKEND.out.
refused() {
	(
		export HSMKEY_TEST_BACKEND=$1
		daemon_conf=${2:-} work=$work/$1.work
		sock=$work/hsmkeyd.sock
		mkdir -p "$work"
		_exit_hooks=()
		trap _daemon_exit EXIT
		daemon_start && exit 1
		! ctl status > /dev/null 2>&1
	) > "$work/$1.out" 2>&1
}
# kmip_up STATUS: hsmkeyctl --json status says keystore kmip, backend up.
kmip_up() {
	/usr/bin/python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(not (s.get("keystore") == "kmip" and s.get("backend") == "up"))' "$1"
}
section "refusals"
check "an unknown HSMKEY_TEST_BACKEND fails the start" refused KMIP
check "... saying so" grep -q "KMIP: not a backend" "$work/KMIP.out"
check "a daemon_conf set before the first start fails it" refused kmip /dev/null
check "... saying so" grep -q "set daemon_conf before its first start" "$work/kmip.out"

section "kmip: a PyKMIP server of the test's own, gone after it"
(
	export HSMKEY_TEST_BACKEND=kmip
	work=$work/k
	sock=$work/hsmkeyd.sock
	mkdir -p "$work"
	_exit_hooks=()
	trap _daemon_exit EXIT	# as a test's: its at_exit hooks, then $work removed
	daemon_start || exit 1
	cat "$work/kmip/server.pid" > "$work/../kmip.pid"
	ctl --json status > "$work/../kmip.status"
	ctl create inkmip --type kms-aes-256 > /dev/null || exit 1
	check_in_storage inkmip > "$work/../kmip.tap"
	check_in_storage absent >> "$work/../kmip.tap"
)
check "kmip: the test's key server and hsmkeyd start" test -s "$work/kmip.pid"
check "kmip: hsmkeyd's key store is the KMIP server, and up" kmip_up "$work/kmip.status"
check "kmip: check_in_storage passes for a key the daemon created" grep -q "^ok .* inkmip " "$work/kmip.tap"
check "kmip: and fails for a key that is not there" grep -q "^not ok .* absent " "$work/kmip.tap"
pid=$(cat "$work/kmip.pid" 2>/dev/null)
check "kmip: the key server is gone once the test has ended" \
	bash -c "[[ -n '$pid' ]] && ! kill -0 '$pid' 2>/dev/null"

section "pkcs11: a SoftHSM2 token of the test's own"
(
	export HSMKEY_TEST_BACKEND=pkcs11
	work=$work/p
	sock=$work/hsmkeyd.sock
	mkdir -p "$work"
	_exit_hooks=()
	trap _daemon_exit EXIT
	daemon_start || exit 1
	ctl create intoken --type kms-aes-256 > /dev/null || exit 1
	check_in_storage intoken > "$work/../p11.tap"
	check_in_storage absent >> "$work/../p11.tap"
)
check "pkcs11: check_in_storage passes for a key the daemon created" grep -q "^ok .* intoken " "$work/p11.tap"
check "pkcs11: and fails for a key that is not there" grep -q "^not ok .* absent " "$work/p11.tap"
tap_done
