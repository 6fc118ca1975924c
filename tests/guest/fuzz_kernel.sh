#!/bin/bash
# make fuzz-kernel: load the module and run nl_fuzz for $NL_FUZZ_N messages
# (from /results/fuzz.env), as the guest's one command.
top=$(cd "$(dirname "$0")/../.." && pwd)
[[ -r /results/fuzz.env ]] && . /results/fuzz.env
insmod "${HSMKEY_KO:-$top/hsmkey.ko}" || exit 1
"$top/build/tests/guest/nl_fuzz" -n "${NL_FUZZ_N:-1000000}" ${NL_FUZZ_SEED:+-s "$NL_FUZZ_SEED"}
rc=$?
rmmod hsmkey || rc=1
exit "$rc"
