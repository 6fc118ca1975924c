#!/bin/bash
# After every other test (and an unload of the module), kmemleak finds no
# unreferenced object.
. "$(dirname "$0")/../lib/tap.sh"
k=/sys/kernel/debug/kmemleak
[[ -w $k ]] || { fail "kmemleak is not available"; tap_done; }
rmmod hsmkey 2>/dev/null
# Objects must be seen unreferenced in two scans, some seconds apart.
echo scan > "$k"; sleep 6; echo scan > "$k"
report=$(cat "$k")
[[ -z $report ]] && ok "kmemleak reports no leak" ||
	{ fail "kmemleak reports leaks"; sed 's/^/# /' <<<"$report" | head -n 60; }
tap_done
