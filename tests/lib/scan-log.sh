#!/bin/bash
# scan-log.sh DMESG: fail (exit 1, printing them) on kernel log lines that
# mean a bug: warnings, oopses, sanitizer and leak reports, lockdep, hung
# tasks, RCU stalls, crypto self-test failures, panics, and any hsmkey
# message at error level or worse.  DMESG is `dmesg -r` output.
set -u
log=$1
bad='WARNING:|BUG:|Oops|general protection|KASAN|UBSAN|kmemleak: [0-9]+ new suspected|unreferenced object|possible circular locking|hung task|blocked for more than [0-9]+ seconds|rcu.*stall|alg:.*fail|\b[Pp]anic\b'
# The command line carries panic=-1 and oops=panic; it is no report.
hits=$(grep -vE '(Kernel )?[Cc]ommand line:' "$log" | grep -E "$bad")
errs=$(grep -E '^<[0-3]>' "$log" | grep -i 'hsmkey')
if [[ -n $hits || -n $errs ]]; then
	printf '%s\n' "$hits" "$errs" | sed '/^$/d'
	exit 1
fi
exit 0
