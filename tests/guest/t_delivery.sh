#!/bin/bash
# The delivery path each key version came by, as hsmkeyctl reports it from
# the kernel's HSMKEY_KEY_A_DELIVERY: the embedded backend's keys came
# under the transport key ("transport").  End-to-end delivery itself, and
# the kernel's "hsm-wrapped" answer, are e2e_test's; the PKCS#11 backend's
# tests show it through hsmkeyctl.
top=$(cd "$(dirname "$0")/../.." && pwd)
HSMKEY_KO=${HSMKEY_KO:-$top/hsmkey.ko}
work=$(mktemp -d)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

grep -q '^hsmkey ' /proc/modules || check "insmod hsmkey.ko" insmod "$HSMKEY_KO"
daemon_start || fail "hsmkeyd starts"
check "create a key" quiet ctl create d1 --type aes-256-cbc
field() { ctl --json "$@" | python3 -c "$PY"; }
PY='import json,sys; print(json.load(sys.stdin).get("delivery", "-"))'
check "show --json: delivery transport" test "$(field show d1)" = transport
PY='import json,sys; print([k.get("delivery", "-") for k in json.load(sys.stdin)["keys"] if k["name"] == "d1"][0])'
check "list --json: delivery transport" test "$(field list)" = transport
check "status --json: delivery transport" test "$(field status)" = transport
check "list: a DELIVERY column" grep -qE '^d1 +aes-256-cbc +1 +active +loaded +transport +0$' <(ctl list)
check "show: a delivery line" grep -qx 'delivery:  transport' <(ctl show d1)
check "show: the version's delivery" grep -qE '^ +1 +.* loaded +transport +0$' <(ctl show d1)
check "rotate" quiet ctl rotate d1
PY='import json,sys; print(" ".join(v.get("delivery", "-") for v in json.load(sys.stdin)["version_list"]))'
check "each version says its own" test "$(field show d1)" = "transport transport"
daemon_stop
rm -rf "$work"
tap_done
