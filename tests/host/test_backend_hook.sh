#!/bin/bash
# The test backends of tests/lib/daemon.sh (HSMKEY_TEST_BACKEND), which the
# wrappers test_pkcs11_kms_*.sh and test_kmip_kms_*.sh rely on: a run meant
# for a token or a key server is there or fails, never passes on the
# embedded store; check_in_storage fails for a key that is not there; and
# the key server a test started, its whole process group, is gone once the
# test has ended, whether its trap is a host test's or a guest script's.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/kmip.sh"

# as_test BACKEND DIR: in a subshell, become a wrapped test of its own on
# BACKEND: HSMKEY_TEST_BACKEND exported, $work/DIR its directory, and a
# test's EXIT trap (its at_exit hooks, the daemon stopped, DIR removed).
as_test() {
	export HSMKEY_TEST_BACKEND=$1
	work=$work/$2
	sock=$work/hsmkeyd.sock
	mkdir -p "$work"
	_exit_hooks=()
	trap test_exit EXIT
}
# refused BACKEND [CONF]: a test's first daemon_start on BACKEND (with its
# daemon_conf CONF set first, if given) fails; and no daemon answers
# (should a start ever spawn one before refusing); its output in
# $work/BACKEND.out.
refused() {
	(
		as_test "$1" "$1.work"
		daemon_conf=${2:-}
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
# gone PID: PID was given, and neither it nor any process of its group
# (the key server's, which setsid made) is left.
gone() { [[ -n $1 ]] && ! kmip_group_left "$1"; }
section "refusals"
check "an unknown HSMKEY_TEST_BACKEND fails the start" refused KMIP
check "... saying so" grep -q "KMIP: not a backend" "$work/KMIP.out"
check "a daemon_conf set before the first start fails it" refused kmip /dev/null
check "... saying so" grep -q "set daemon_conf before its first start" "$work/kmip.out"

section "kmip: a PyKMIP server of the test's own, gone after it"
(
	as_test kmip k
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
check "kmip: the key server is gone once the test has ended" gone "$pid"

section "kmip: under a guest script's own trap (t_kms's: it ends with test_exit)"
check "t_kms.sh's EXIT trap is its cleanup, which ends with test_exit" bash -c \
	"grep -qx 'trap cleanup EXIT' '$top/tests/guest/t_kms.sh' &&
	 grep -qE '^cleanup\(\) \{ .*; test_exit; \}\$' '$top/tests/guest/t_kms.sh'"
(
	as_test kmip g
	cleanup() { rm -f "$work/hold"; test_exit; }
	trap cleanup EXIT
	daemon_start || exit 1
	cat "$work/kmip/server.pid" > "$work/../guest.pid"
)
pid=$(cat "$work/guest.pid" 2>/dev/null)
check "kmip: the key server is gone once the guest-style test has ended" gone "$pid"

section "pkcs11: a SoftHSM2 token of the test's own"
(
	as_test pkcs11 p
	daemon_start || exit 1
	ctl create intoken --type kms-aes-256 > /dev/null || exit 1
	check_in_storage intoken > "$work/../p11.tap"
	check_in_storage absent >> "$work/../p11.tap"
)
check "pkcs11: check_in_storage passes for a key the daemon created" grep -q "^ok .* intoken " "$work/p11.tap"
check "pkcs11: and fails for a key that is not there" grep -q "^not ok .* absent " "$work/p11.tap"
tap_done
