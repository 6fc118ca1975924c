#!/bin/bash
# The systemd unit's hardening: no CAP_SYS_MODULE or CAP_DAC_OVERRIDE, a
# system call filter, kernel logs, namespaces, devices and swap closed off;
# systemd accepts it; and the daemon still works with only the capabilities
# the unit leaves it.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
unit=$top/daemon/hsmkeyd.service
has() { grep -qxF -- "$1" "$unit" || { echo "# missing: $1"; return 1; }; }

check "capabilities: CAP_SYS_ADMIN, CAP_IPC_LOCK and CAP_NET_ADMIN only" has 'CapabilityBoundingSet=CAP_SYS_ADMIN CAP_IPC_LOCK CAP_NET_ADMIN'
check "no CAP_SYS_MODULE or CAP_DAC_OVERRIDE in any setting" bash -c "! grep -v '^#' '$unit' | grep -qE 'CAP_SYS_MODULE|CAP_DAC_OVERRIDE'"
check "modprobe runs privileged (the daemon cannot load modules)" has 'ExecStartPre=-+/sbin/modprobe hsmkey'
for line in 'SystemCallFilter=@system-service' 'SystemCallFilter=~@privileged @resources' \
	    'SystemCallErrorNumber=EPERM' 'ProtectKernelLogs=yes' 'ProtectKernelModules=yes' \
	    'RestrictNamespaces=yes' 'DevicePolicy=closed' 'DeviceAllow=char-misc rw' \
	    'DeviceAllow=block-* rw' 'MemorySwapMax=0' 'NoNewPrivileges=yes'; do
	check "unit has $line" has "$line"
done
check "the daemon's system calls are in @system-service (add_key, keyctl, mlock, ioctl, signalfd4)" bash -c "
	for g in @keyring @memlock @signal @network-io @sync; do
		systemd-analyze syscall-filter @system-service | grep -qx \"    \$g\" || exit 1
	done
	systemd-analyze syscall-filter @system-service | grep -qx '    ioctl'"
sed -e "s|/usr/sbin/hsmkeyd|$top/build/hsmkeyd|" -e '/^Documentation=/d' "$unit" > "$work/hsmkeyd.service"
check "systemd-analyze verify accepts the unit" bash -c "
	systemd-analyze verify '$work/hsmkeyd.service' > '$work/verify' 2>&1 && ! grep -q . '$work/verify' ||
	{ sed 's/^/# /' '$work/verify'; false; }"

# The daemon with only the unit's capabilities still serves changes.
# Subordinate uids of nobody's (subuid_file): the daemon tells a peer in a
# user namespace from one in its own without CAP_SYS_PTRACE.
printf 'nobody:300000:1000\n' > "$work/subuid"
echo "subuid_file = $work/subuid" > "$work/hsmkeyd.conf"
daemon_conf=$work/hsmkeyd.conf
daemon_wrap="setpriv --bounding-set -all,+sys_admin,+ipc_lock --inh-caps -all" daemon_start
check "the daemon runs without CAP_DAC_OVERRIDE and CAP_SYS_MODULE" bash -c "
	grep -q '^CapBnd:' /proc/$daemon_pid/status &&
	(( (0x\$(awk '/^CapBnd/ {print \$2}' /proc/$daemon_pid/status) & ((1 << 1) | (1 << 16))) == 0 ))"
check "and serves a create, a revoke and a verify" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' create u1 --type aes-256-xts >/dev/null &&
	'$top/build/hsmkeyctl' --socket '$sock' revoke u1 >/dev/null &&
	'$top/build/hsmkeyctl' --socket '$sock' audit verify >/dev/null"
chmod 755 "$work"
uc() { /usr/bin/python3 "$top/tests/lib/userns_connect.py" "$sock" /dev/null 0 "$@"; }
out=$(uc 300001:3 300002:3)
check "uids of nobody's range in user namespaces of their own: nobody's 4 of 3 + 3 ($out)" test "$out" = 4
out=$(uc =300001:3 =300002:3)
check "the same uids as processes of hsmkeyd's namespace: users of their own, 6 ($out)" test "$out" = 6
tap_done
