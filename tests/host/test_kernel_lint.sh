#!/bin/bash
# The kernel code is checkpatch clean (strict) and sparse clean.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
out=$(mktemp)
if make -s -C "$top" style > "$out" 2>&1; then ok "checkpatch --strict: no errors, warnings or checks"
else fail "checkpatch --strict"; sed 's/^/# /' "$out" | grep -E '^# (ERROR|WARNING|CHECK|#)' | head -20; fi
if make -s -C "$top" check > "$out" 2>&1; then ok "sparse: no warnings"
else fail "sparse"; grep -E 'warning:|error:' "$out" | sed 's/^/# /' | head -20; fi
rm -f "$out"
tap_done
