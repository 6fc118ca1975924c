#!/bin/bash
# Runs in the guest as root: every guest test of the mode, each into
# /results/NAME.tap.  The module is loaded by t_module and stays loaded.
#   run.sh MODE         run (MODE: full, quick, debug or new)
#   run.sh --list MODE  print the tests MODE runs
top=$(cd "$(dirname "$0")/../.." && pwd)
quick=(t_module netlink_test boundary_test afalg_test aead_test e2e_test policy_test)
full=("${quick[@]}" flood_test nl_fuzz t_nlmon t_keys t_delivery t_ktls t_tls t_dm t_luks t_revoke t_shred t_pkcs11 t_kmip t_kmip_fleet t_kms t_kms_pkcs11 t_kms_kmip t_audit_disk)
# The debug kernel (KASAN, kmemleak, lockdep; every call several times
# dearer under TCG) runs what exercises the module's own paths.  The
# userspace-heavy tests run on the stock kernels only: t_pkcs11 (SoftHSM,
# the daemon, dm-crypt; its kernel side is KUnit's and e2e_test's), t_kmip
# (PyKMIP's server, the daemon, dm-crypt over the transport path) and
# t_kmip_fleet (a fleet of daemons on it, one holding the module), t_luks
# (cryptsetup; dm-crypt over the module is t_dm's and t_revoke's), t_keys
# (hsmkeyctl's policy and state commands; policy_test and KUnit hold the
# module's side) and t_shred (a RAM scan, a property of the stock kernel's
# memory, not a debug check), t_audit_disk (the daemon on a disk that fails:
# ext4 and device-mapper are the stock kernel's).
stock_only=(t_pkcs11 t_kmip t_kmip_fleet t_luks t_keys t_shred t_tls t_kms t_kms_pkcs11 t_kms_kmip t_audit_disk)
debug=(t_kunit)
for t in "${full[@]}"; do
	[[ " ${stock_only[*]} " == *" $t "* ]] || debug+=("$t")
done
debug+=(t_kmemleak)
# Debian 12's 6.12 kernel: the kernel-interface tests, and kTLS with
# session tokens (its gcm(aes) and kTLS code differ from 6.1's).
new=("${quick[@]}" t_ktls)
list() {
	case $1 in
	only:*) echo "${1#only:}" | tr , ' ' ;;	# for iterating: only:t_module,t_keys
	quick) echo "${quick[@]}" ;;
	debug) echo "${debug[@]}" ;;
	new) echo "${new[@]}" ;;
	*) echo "${full[@]}" ;;
	esac
}
if [[ ${1:-} == --list ]]; then list "${2:-full}"; exit 0; fi
mode=${1:-full}
read -r -a tests <<<"$(list "$mode")"
# The debug kernel gets the module built against its own tree.
if [[ $(uname -r) == *-hsmkey-debug ]]; then
	export HSMKEY_DEBUG=1 HSMKEY_KO=$top/build/kmod-debug/hsmkey.ko
	export HSMKEY_KUNIT_KO=$top/build/kmod-kunit/hsmkey.ko
	# KASAN and gcov make each message ~5x dearer: the stock kernel runs
	# the 100,000.
	export NL_FUZZ_N=25000
	# Booted with the extra crypto self-tests off (tests/run): on again
	# for what the module and the tests instantiate (kw(aes) on first
	# use, gcm-aes-hsmkey; t_ktls checks that they are on).
	echo 0 > /sys/module/cryptomgr/parameters/noextratests ||
		echo "run.sh: the extra crypto self-tests stay off" >&2
elif [[ -e $top/build/kmod-$(uname -r)/hsmkey.ko ]]; then
	export HSMKEY_KO=$top/build/kmod-$(uname -r)/hsmkey.ko
else
	export HSMKEY_KO=$top/hsmkey.ko
fi
echo "${tests[@]}" > /results/tests.txt
cat /proc/sys/kernel/random/boot_id > /results/canary.txt
echo "hsmkey-harness: canary $(cat /results/canary.txt)" > /dev/kmsg
for name in "${tests[@]}"; do
	if [[ -e $top/tests/guest/$name.sh ]]; then exe=$top/tests/guest/$name.sh
	else exe=$top/build/tests/guest/$name; fi
	echo "== $name" >&2
	# A hung test is cut off; t_pkcs11 (eight sections, RSA pairs made
	# under TCG) needs about 8 minutes of the 15.
	t0=$SECONDS
	timeout 900 "$exe" > "/results/$name.tap" 2>&1
	echo "$?" > "/results/$name.rc"
	echo "$((SECONDS - t0))" > "/results/$name.secs"
done
rmmod hsmkey 2>/dev/null
# Line coverage (debug kernel, module built with HSMKEY_GCOV=y): the
# counts of unloaded modules stay in debugfs; the host reads them.
if [[ -d /sys/kernel/debug/gcov ]]; then
	mkdir -p /results/gcov
	(cd /sys/kernel/debug/gcov &&
	 find . -path '*/kmod-*/kmod/*.gcda' -exec cp --parents {} /results/gcov/ \;)
fi
echo "mode $mode done"
