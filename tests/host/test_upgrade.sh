#!/bin/bash
# A key store of an earlier release (tests/host/data/keystore-format2: key
# files not authenticated) is upgraded only when the operator asks, once:
# a start refuses it, naming the option; hsmkeyd --upgrade-keystore
# upgrades it, records that and exits; then it starts, its keys as they
# were.  The same refusal meets the attacker who puts back the root record
# from before the upgrade with the key files turned back into format 2 to
# bring a revoked key back (tests/host/keystore/format.c does the edits).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

hsmkeyd() { timeout 20 "$top/build/hsmkeyd" --state-dir "$work/state" --socket "$sock" "$@" 2>>"$work/hsmkeyd.log"; }
rm -rf "$work/state"
cp -a "$top/tests/host/data/keystore-format2" "$work/state"
chmod -R go-rwx "$work/state"
cp "$work/state/root.json" "$work/root.old"

hsmkeyd
check "a start on an earlier release's store is refused" test $? = 1
check "... naming --upgrade-keystore and why it is the operator's to say" \
	grep -q "run 'hsmkeyd --upgrade-keystore' once to upgrade it. Do so only if it was never upgraded" "$work/hsmkeyd.log"
check "... and nothing was written (the files are still format 2, the root record as it was)" bash -c \
	"grep -q '\"format\": 2' '$work/state/keys/old-active.json' && cmp -s '$work/root.old' '$work/state/root.json'"
check "--upgrade-keystore with --accept-keystore is a usage error" bash -c \
	"'$top/build/hsmkeyd' --upgrade-keystore --accept-keystore --state-dir '$work/state' 2>/dev/null; test \$? = 2"
check "hsmkeyd --upgrade-keystore upgrades it and exits" hsmkeyd --upgrade-keystore
check "... the key files are format 3 now" grep -q '"format": 3' "$work/state/keys/old-active.json"
check "... which the audit log records" grep -q '"op":"keystore-upgrade"' "$work/state/audit.log"
daemon_start || { fail "hsmkeyd starts after the upgrade"; tap_done; }
check "its keys are there, in their states" bash -c \
	"out=\$('$top/build/hsmkeyctl' --socket '$sock' list) &&
	 grep -q '^old-active .* active' <<< \"\$out\" && grep -q '^old-revoked .* revoked' <<< \"\$out\""
check "revoke old-active" quiet ctl revoke old-active
daemon_stop

# The attacker: the root record from before the upgrade, the files turned back into format 2.
cp "$work/root.old" "$work/state/root.json"
for f in "$work"/state/keys/*.json; do
	/usr/bin/python3 - "$f" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
for k in ("mac", "generation"):
    o.pop(k, None)
o["format"] = 2
if o["name"] == "old-active":
    o["state"] = "active"
json.dump(o, open(sys.argv[1], "w"), indent=2)
PY
done
: > "$work/hsmkeyd.log"
hsmkeyd
check "the rolled-back store does not start" test $? = 1
check "... saying it is for the operator to judge" grep -q "upgrade-keystore" "$work/hsmkeyd.log"
hsmkeyd --accept-keystore
check "--accept-keystore does not upgrade it either" test $? = 1
tap_done
