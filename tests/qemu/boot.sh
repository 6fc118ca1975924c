#!/bin/bash
# Boot Debian's kernel image under QEMU with the host root shared read-only,
# run one command as root in the guest, and bring its results back.
#
#   boot.sh KVER RESULTS_DIR TIMEOUT_S COMMAND [ARG]
#
# The guest writes into RESULTS_DIR (shared read-write over 9p): the
# command's output, dmesg.txt (the kernel log, raw with levels), and
# done.txt when the command returned.  The serial console goes to
# RESULTS_DIR/console.log.  TCG by default; HSMKEY_KVM=1 asks for KVM.
# HSMKEY_KERNEL=IMAGE boots IMAGE (the debug kernel) instead of
# /boot/vmlinuz-KVER; HSMKEY_APPEND adds to its command line.
set -euo pipefail
kver=$1 res=$2 timeout_s=$3 cmd=$4 arg=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
initrd=$("$here/initramfs.sh" "$kver")
mkdir -p "$res"
rm -f "$res/done.txt" "$res/dmesg.txt"

accel=tcg,thread=${HSMKEY_TCG_THREAD:-multi}
[[ ${HSMKEY_KVM:-0} == 1 ]] && accel=kvm
# A large log buffer: the fuzzer alone logs thousands of key removals, and
# the harness reads the whole log (its canary is written first).
append="console=ttyS0 panic=-1 oops=panic loglevel=${HSMKEY_LOGLEVEL:-4} log_buf_len=16M rw"
append+=" hsmkey_init=$here/../guest/init.sh hsmkey_cmd=$cmd hsmkey_arg=$arg"
append+=${HSMKEY_APPEND:+ $HSMKEY_APPEND}

rc=0
timeout --foreground -k 10 "$timeout_s" \
qemu-system-x86_64 -accel "$accel" -machine q35 -cpu max -smp 2 -m "${HSMKEY_GUEST_MEM:-1024}" \
	-nodefaults -no-reboot -display none -serial "file:$res/console.log" \
	-kernel "${HSMKEY_KERNEL:-/boot/vmlinuz-$kver}" -initrd "$initrd" -append "$append" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$res,mount_tag=results,security_model=none" \
	</dev/null >"$res/qemu.log" 2>&1 || rc=$?
if ((rc == 124 || rc == 137)); then
	echo "guest timed out after ${timeout_s}s" >&2
	exit 124
fi
((rc == 0)) || { echo "qemu exited with $rc" >&2; cat "$res/qemu.log" >&2; exit "$rc"; }
[[ -f $res/done.txt ]] || { echo "guest did not finish; tail of console:" >&2; tail -n 40 "$res/console.log" >&2; exit 1; }
