#!/bin/bash
# Module load and unload: the self-test, the registration, clean unload,
# reload, and unload with keys provisioned but no tfm.
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

registered() { grep -q "^driver *: $1\$" /proc/crypto; }
check "insmod hsmkey.ko" insmod "$HSMKEY_KO"
for m in xts cbc; do
	check "/proc/crypto lists $m-hsmaes" registered $m-hsmaes
	check "$m-hsmaes self-test passed over an AES-NI $m-aes driver" \
		grep -qE "$m-hsmaes registered over $m-aes-aesni[a-z-]*( \\(directly over __$m-aes-aesni[a-z-]*; cryptd\\(__$m-aes-aesni[a-z-]*\\) without SIMD\\)), self-test passed" <(dmesg)
done
check "/proc/crypto lists gcm-hsmaes" registered gcm-hsmaes
check "gcm-hsmaes self-test passed" grep -q "gcm-hsmaes registered over .*gcm.*, self-test passed" <(dmesg)
check "/dev/hsmkey exists, mode 0600" test "$(stat -c %a /dev/hsmkey 2>/dev/null)" = 600
check "rmmod" rmmod hsmkey
check "the algorithms are gone after unload" bash -c '! grep -qE "^driver *: (xts|cbc|gcm)-hsmaes$" /proc/crypto'
check "load after unload" insmod "$HSMKEY_KO"

daemon_start || fail "hsmkeyd starts"
check "create an AES-256-XTS key" quiet ctl create m1 --type aes-256-xts
check "create an AES-128-XTS key" quiet ctl create m2 --type aes-128-xts
# Hibernating would write loaded keys to disk.
if [[ -w /sys/power/state ]] && grep -qw disk /sys/power/state; then
	echo disk > /sys/power/state 2>"$work/hib.err"
	check "hibernation is refused while keys are loaded (EBUSY)" grep -q "busy" "$work/hib.err"
	check "the kernel log says why (the daemon holds a transport key)" grep -q "hibernation refused: a daemon is registered on /dev/hsmkey" <(dmesg)
else
	skip "hibernation is refused while keys are loaded" "this kernel cannot hibernate"
fi
# CAP_NET_ADMIN (what network managers hold) is not enough to provision.
nosys() {
	local sock=$work/nosys.sock pid rc
	setpriv --bounding-set -sys_admin "$top/build/hsmkeyd" --state-dir "$work/state2" \
		--socket "$sock" 2>"$work/nosys.log" &
	pid=$!
	for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
	"$top/build/hsmkeyctl" --socket "$sock" create nosys --type aes-256-xts 2>&1 |
		grep -q 'changing hsmkey keys needs CAP_SYS_ADMIN'
	rc=$?
	kill "$pid"; wait "$pid"
	return $rc
}
check "a daemon without CAP_SYS_ADMIN is refused by the kernel, saying why" nosys
check "disable one key (a disabled key must unload too)" quiet ctl disable m2
daemon_stop
check "unload with keys provisioned (one disabled) and no tfm" timeout 60 rmmod hsmkey
check "load again" insmod "$HSMKEY_KO"

# Installed as an operator would (make install), the module loads by name
# and autoloads when a crypto user asks for xts(hsmaes).  `make install`
# targets Debian's kernel: not on the debug kernel.
if [[ -n ${HSMKEY_DEBUG:-} ]]; then
	skip "make install and autoload" "the debug kernel has no /lib/modules tree"
	tap_done
fi
check "rmmod before install" rmmod hsmkey
check "make install" quiet make -s -C "$top" install KVER="$(uname -r)" 2>/dev/null
check "modprobe finds the installed module" modprobe hsmkey
check "modinfo reports the version" grep -qx "0.1.0" <(modinfo -F version hsmkey)
check "rmmod" rmmod hsmkey
check "autoload on a request for xts(hsmaes)" python3 -c '
import socket
s = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
s.bind(("skcipher", "xts(hsmaes)"))'
check "the module is loaded after the request" grep -q "^hsmkey " /proc/modules
tap_done
