# Start hsmkeyd on a private state directory and socket; ctl runs hsmkeyctl.
# Every test that runs the daemon needs the same start, wait, stop and
# cleanup; they live here so that each test keeps only what it tests.
# Needs $top (the source tree).  A caller without $work gets a private one,
# mode 755 (clients run as nobody must reach the socket), and an EXIT trap
# that runs what at_exit added, stops the daemon and removes $work (kept
# when $KEEP is set).  The guest scripts bring their own $work and trap.
if [[ -z ${work:-} ]]; then
	work=$(mktemp -d)
	chmod 755 "$work"
	trap test_exit EXIT
fi
sock=$work/hsmkeyd.sock
ctl() { "$top/build/hsmkeyctl" --socket "$sock" "$@"; }
# state_of NAME: the key's state, as the daemon reports it.
state_of() { ctl --json show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
# expect_fail TEXT CMD...: fails, saying TEXT.
expect_fail() {
	local text=$1 out; shift
	out=$("$@" 2>&1) && return 1
	grep -q -- "$text" <<< "$out"
}

_exit_hooks=()
# at_exit COMMAND: run COMMAND (evaluated then) when the test exits.
at_exit() { _exit_hooks+=("$*"); }
# test_exit: a test's end, what the EXIT trap above runs: what at_exit
# added, in order, once (on kmip: hsmkeyd stopped, then the key server); the
# test's other background jobs killed; hsmkeyd stopped; $work removed (kept
# when $KEEP is set).  A guest script, whose trap is its own, ends it with
# test_exit (t_kms).
test_exit() {
	local hook
	for hook in "${_exit_hooks[@]}"; do eval "$hook"; done
	_exit_hooks=()
	kill $(jobs -p) 2>/dev/null
	daemon_stop
	[[ -n ${KEEP:-} ]] || rm -rf "$work"
}

# wait_socket PATH [PID]: true once PATH is a socket (within 10 s); false
# at once if PID has exited.
wait_socket() {
	local _
	for _ in $(seq 200); do
		[[ -S $1 ]] && return 0
		[[ -z ${2:-} ]] || kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# daemon_spawn: start the daemon in the background ($daemon_pid) without
# waiting for it.  Settings, each optional:
#   daemon_conf   the configuration file to start with
#   daemon_wrap   a command to start it under (e.g. "unshare -n", "env X=1",
#                 "prlimit --fsize=N"); it must exec the daemon, so that
#                 $daemon_pid is the daemon's
#   daemon_bin    the program (default build/hsmkeyd; e.g. the crash build)
#   daemon_state  its state directory (default $work/state)
#   daemon_log    where its stderr is appended (default $work/hsmkeyd.log)
daemon_spawn() {
	${daemon_wrap:-} "${daemon_bin:-$top/build/hsmkeyd}" ${daemon_conf:+--config "$daemon_conf"} \
		--state-dir "${daemon_state:-$work/state}" --socket "$sock" \
		2>>"${daemon_log:-$work/hsmkeyd.log}" &
	daemon_pid=$!
}
# HSMKEY_TEST_BACKEND=pkcs11: a test written for the embedded key store runs
# on backend = pkcs11 instead, a SoftHSM2 token of its own under $work/hsm
# (its wrappers, e.g. test_pkcs11_kms_file.sh).  HSMKEY_TEST_BACKEND=kmip:
# on backend = kmip, a PyKMIP server of its own under $work/kmip, started
# at the first daemon_start and stopped by an at_exit hook (test_exit; a
# guest script's own trap must end with it: t_kms's does).  Set up
# at the first daemon_start, which must come before the test sets a
# daemon_conf of its own (a later one may copy the backend's); any other
# value, or a daemon_conf set first, fails the start rather than run on
# the embedded store.
_test_backend_set=
test_backend() {
	local b=${HSMKEY_TEST_BACKEND:-embedded}

	[[ $b == embedded || -n $_test_backend_set ]] && return 0
	if [[ -n ${daemon_conf:-} ]]; then
		echo "# HSMKEY_TEST_BACKEND=$b: the test set daemon_conf before its first start"
		return 1
	fi
	case $b in
	pkcs11)
		. "$top/tests/lib/softhsm.sh"
		softhsm_daemon
		;;
	kmip)
		. "$top/tests/lib/kmip.sh"
		mkdir -p "$work/kmip"
		# Before the start: one that gives up may leave a server running.
		at_exit 'daemon_stop; kmip_server_stop "$work/kmip"'
		kmip_certs "$work/kmip" && kmip_server_start "$work/kmip" || return 1
		kmip_conf "$work/kmip" "$work/kmip.conf" "kmip_timeout = 5s"
		daemon_conf=$work/kmip.conf
		;;
	*)
		echo "# HSMKEY_TEST_BACKEND=$b: not a backend (embedded, pkcs11, kmip)"
		return 1
		;;
	esac
	_test_backend_set=1
}
# on_pkcs11: true when this run is on HSMKEY_TEST_BACKEND=pkcs11.
on_pkcs11() { [[ ${HSMKEY_TEST_BACKEND:-embedded} == pkcs11 ]]; }
# check_in_storage NAME: on a run on pkcs11 or kmip, a check that key NAME,
# not yet rotated, is one key of the token (its version 1: a secret key, or
# a key pair's private key) or one object of the key server (where every
# version bears the key's name; a KMS or MAC key), as the reference client
# (PyKCS11, PyKMIP's) finds it; so that a wrapper's run is known to be
# there.  Nothing on the embedded key store.
check_in_storage() {
	case ${HSMKEY_TEST_BACKEND:-embedded} in
	pkcs11)
		check "pkcs11: key $1 is a key of the token (PyKCS11 finds it)" \
			test "$(softhsm_count_keys hk "hsmkey:$1:v1")" = 1
		;;
	kmip)
		check "kmip: key $1 is an object of the key server (PyKMIP's client locates it)" \
			test "$(kmip_ref locate "$1" | wc -w)" = 1
		;;
	esac
}
# daemon_start: spawn it and wait until its socket listens, or say why not.
daemon_start() {
	test_backend || { echo "# no key storage for HSMKEY_TEST_BACKEND=$HSMKEY_TEST_BACKEND"; return 1; }
	daemon_spawn
	wait_socket "$sock" "$daemon_pid" && return 0
	echo "# hsmkeyd did not start:"; sed 's/^/# /' "${daemon_log:-$work/hsmkeyd.log}"
	return 1
}
daemon_stop() {
	[[ -n ${daemon_pid:-} ]] || return 0
	kill "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}
# A random 64-byte AES-256-XTS key whose halves differ.
make_xts_key() {
	head -c 64 /dev/urandom > "$1"
	cmp -s <(head -c 32 "$1") <(tail -c 32 "$1") && make_xts_key "$1"
	return 0
}

# wait_port PORT: true once something listens on PORT (within 20 s).
wait_port() {
	local _
	for _ in $(seq 200); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# scan_control FILE: memscan finds FILE's bytes in a process known to hold
# them (a Python process that read it): the scan's positive control.
scan_control() {
	local p r
	/usr/bin/python3 -c 'import sys, time; k = open(sys.argv[1], "rb").read(); print("r", flush=True); time.sleep(30)' \
		"$1" > "$work/control.out" &
	p=$!
	for _ in $(seq 50); do [[ -s $work/control.out ]] && break; sleep 0.1; done
	"$top/build/tests/memscan" "$p" "$(od -An -v -tx1 "$1" | tr -d ' \n')" --expect-some > /dev/null
	r=$?
	kill "$p"
	wait "$p" 2>/dev/null
	return "$r"
}

# wait_backend_up SECONDS: true once status says the key storage is up.
wait_backend_up() {
	local end=$(($(date +%s) + $1))
	while (($(date +%s) < end)); do
		ctl --json status 2>/dev/null | grep -q '"backend":"up"' && return 0
		sleep 0.1
	done
	return 1
}
