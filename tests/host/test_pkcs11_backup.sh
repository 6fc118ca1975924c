#!/bin/bash
# hsmkeyctl backup and restore (issue 12): the key store copied to a
# backup token and, after every token of the key store is lost, into new
# empty ones, token to token, each key wrapped under a key both hold.
# Three SoftHSM tokens: the key store's (hk), the backup (bk), a token of
# another key store (ot).  The reference client (PyKCS11 on libsofthsm2.so)
# wraps keys out of each token under a check key of its own, so "the same
# key" is checked on the key bytes, independently of hsmkeyd.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"
. "$top/tests/lib/softhsm.sh"

softhsm_setup "$work/hsm"
softhsm_token hk
softhsm_token h2
softhsm_token bk
softhsm_pin_file "$work/pin"
conf() {	# FILE MEMBER... [-- BACKUP]
	local f=$1 t
	shift
	{
		printf '%s\n' "backend = pkcs11" "pkcs11_module = $SOFTHSM_MODULE" \
			"pin_file = $work/pin" "deletion_wait = 1s" "admin_group = users"
		while (($#)); do
			t=$1
			shift
			if [[ $t == -- ]]; then
				echo "pkcs11_backup_token = pkcs11:token=$1"
				shift
			else
				echo "pkcs11_token = pkcs11:token=$t"
			fi
		done
	} > "$f"
}
jget() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
value() { softhsm_value "$@"; }
same() {	# LABEL TOKEN-A TOKEN-B
	local a b
	a=$(value "$2" "$1") b=$(value "$3" "$1")
	[[ $a != none && ${#a} -ge 32 && $a == "$b" ]]
}
nlabel() { softhsm_count_label "$1" "$2"; }
state_sum() {
	(cd "$work/state" && find . -type f ! -name audit.log ! -name .lock -print0 | sort -z |
		xargs -0 md5sum)
}

# 1. No backup token configured: refused, saying what is needed.
softhsm_token so
conf "$work/solo.conf" so
daemon_conf=$work/solo.conf daemon_state=$work/solo daemon_start ||
	{ fail "hsmkeyd starts on token so"; tap_done; }
check "backup without a backup token is refused, naming the setting" \
	expect_fail "pkcs11_backup_token" ctl backup
daemon_stop
# One token under two URIs (and as the backup under a third): counted once.
conf "$work/twin.conf" so "so;manufacturer=SoftHSM%20project" -- "so;model=SoftHSM%20v2"
daemon_conf=$work/twin.conf daemon_state=$work/solo daemon_start ||
	{ fail "hsmkeyd starts on token so named twice"; tap_done; }
wait_backend_up 30
check "a token named by a second URI is found to be the first, and not used" \
	grep -q "token 'so' is token 'so' of the key store, selected by another URI: it is not used" "$work/hsmkeyd.log"
check "status does not count it as a second token" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' status | grep -q \"token 'so' (in use), token 'so' (NOT USED: the same token as another)\""
check "keys are made as ever" quiet ctl create twin1 --type aes-256-xts
check "a backup token that is a member under another URI is refused, saying so" \
	expect_fail "the backup token is token 'so' of the key store, selected by another URI" ctl backup
daemon_stop

# 2. Backups.
conf "$work/hsmkeyd.conf" hk h2 -- bk
daemon_conf=$work/hsmkeyd.conf
daemon_start || { fail "hsmkeyd starts with two tokens and a backup token"; tap_done; }
# The backup token away: refused, and the token in use does not fail over.
conf "$work/away.conf" hk h2 -- nosuch
check "create k1 (aes-256-xts), k2 (aes-128-gcm); rotate k1" bash -c "
	c() { '$top/build/hsmkeyctl' --socket '$sock' \"\$@\" >/dev/null; }
	c create k1 --type aes-256-xts && c create k2 --type aes-128-gcm && c rotate k1"
check "the backup token holds nothing of ours yet" test "$(nlabel bk hsmkey:instance)" = 0
out=$(ctl backup 2>&1)
diag "backup: $out"
check "backup: 3 key versions copied to it" grep -q "backup token 'bk' holds the key store at generation [0-9]*: 3 key version(s) copied to it, 0 destroyed in it" <<< "$out"
for l in hsmkey:k1:v1 hsmkey:k1:v2 hsmkey:k2:v1; do
	check "$l: the same key in bk as in hk (the reference client's bytes)" same "$l" hk bk
done
check "k1 v1 and v2 differ (the comparison can fail)" \
	bash -c "[[ \$1 != \$2 ]]" _ "$(value bk hsmkey:k1:v1)" "$(value bk hsmkey:k1:v2)"
check "bk holds the key store's instance" \
	test "$(softhsm_py bk <<< 'print(bytes(s.getAttributeValue(s.findObjects([(P.CKA_LABEL, "hsmkey:instance")])[0], [P.CKA_VALUE])[0]).hex())')" = \
	"$(softhsm_py hk <<< 'print(bytes(s.getAttributeValue(s.findObjects([(P.CKA_LABEL, "hsmkey:instance")])[0], [P.CKA_VALUE])[0]).hex())')"
check "the audit log has the backup" grep -q '"op":"backup"' "$work/state/audit.log"
check "a second backup copies nothing" bash -c "
	'$top/build/hsmkeyctl' --socket '$sock' backup | grep -q ': 0 key version(s) copied to it, 0 destroyed in it'"
check "--json gives the counts" test "$(ctl --json backup |
	/usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["token"], o["copied"], o["destroyed"])')" = "bk 0 0"
# Destruction reaches the backup at the next backup (crypto-shredding).
id2=$(ctl --json show k2 | jget '["id"]')
check "schedule-deletion k2 (1 s)" quiet ctl schedule-deletion k2
for _ in $(seq 80); do ctl list | grep -q '^k2 ' || break; sleep 0.1; done
check "k2 destroyed in hk" test "$(softhsm_count_id hk "${id2}00000001")" = 0
check "... still in bk until the next backup" test "$(softhsm_count_id bk "${id2}00000001")" = 1
check "create k3" quiet ctl create k3 --type aes-128-cbc
out=$(ctl backup 2>&1)
check "backup: k3 copied, k2 destroyed in the backup" \
	grep -q ": 1 key version(s) copied to it, 1 destroyed in it" <<< "$out"
check "... k2 gone from bk" test "$(softhsm_count_id bk "${id2}00000001")" = 0
check "k4, made after the last backup" quiet ctl create k4 --type aes-128-gcm
check "restore while the key store is up is refused, nothing changed" \
	expect_fail "the key store is up" ctl restore
# A member of admin_group who is not root: admin operations yes, restore no.
admin() { setpriv --reuid=65534 --regid=65534 --groups=100 "$top/build/hsmkeyctl" --socket "$sock" "$@"; }
check "an admin-group user who is not root may run admin operations (token k1)" \
	bash -c "$(declare -f admin); top='$top' sock='$sock' admin token k1 | grep -Eq '^[0-9a-f]{64,}'"
check "... but not restore (it overrides rollback protection)" \
	bash -c "$(declare -f admin); top='$top' sock='$sock' admin restore 2>&1 |
		grep -q \"'restore' needs root: it takes the state directory as it is\""
daemon_stop
# The backup token away (a label no token has): refused with the reason,
# and the token in use is not failed over (the backup is no member).
daemon_conf=$work/away.conf daemon_start || fail "hsmkeyd starts with an absent backup token"
check "backup with the backup token away is refused, saying so" \
	expect_fail "the backup token does not answer" ctl backup
check "... and no FAILOVER: hk is still in use" bash -c "
	! grep -q FAILOVER '$work/hsmkeyd.log' &&
	'$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q \"token 'hk' (in use)\""
daemon_stop

# A member taken out of the configuration is still one: its absence is
# waited for, as it may hold changes the other's anchor does not know.
conf "$work/one.conf" hk
daemon_conf=$work/one.conf daemon_start || fail "hsmkeyd starts with h2 no longer named"
check "with h2 no longer named, the store waits for it (degraded), saying why" \
	bash -c "for i in \$(seq 50); do '$top/build/hsmkeyctl' --socket '$sock' --json status |
		grep -q 'no longer named by pkcs11_token) was in step with it too' && exit 0; sleep 0.2; done; exit 1"
daemon_stop

# 3. The attacker's side: a backup token of another key store is not
# written over, and nothing of ours goes into it.
softhsm_token ot
conf "$work/ot.conf" ot
daemon_conf=$work/ot.conf daemon_state=$work/ot daemon_start || fail "a second key store on ot"
quiet ctl create theirs --type aes-128-gcm
daemon_stop
conf "$work/bad-bk.conf" hk h2 -- ot
daemon_conf=$work/bad-bk.conf daemon_start || fail "hsmkeyd starts with ot as its backup"
check "backup to another key store's token is refused" \
	expect_fail "belongs to another key store" ctl backup
check "... none of our keys went into it, its own key is there" \
	test "$(nlabel ot hsmkey:k1:v1) $(nlabel ot hsmkey:theirs:v1)" = "0 1"
daemon_stop

# 4. Disaster: the key store's token is lost; a new, empty one takes its
# label.  hsmkeyd cannot read the store (no token holds its secrets) and
# says so; restore fills the new token from the backup.
raw_k1v2=$(value hk hsmkey:k1:v2)
check "h2 held k1 v2 too, the same key (the pair)" same hsmkey:k1:v2 hk h2
softhsm2-util --delete-token --token hk >/dev/null
softhsm2-util --delete-token --token h2 >/dev/null
softhsm_token hk
softhsm_token h2
before=$(state_sum)
daemon_conf=$work/hsmkeyd.conf
: > "$work/hsmkeyd.log"
daemon_start || fail "hsmkeyd starts (degraded) on the new, empty token"
check "status: degraded" bash -c "sleep 1; '$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q '\"backend\":\"degraded\"'"
check "show k1 is refused" expect_fail "unreachable" ctl show k1
check "the new tokens were not made into another key store (no hsmkey:root in them)" \
	test "$(nlabel hk hsmkey:root)$(nlabel h2 hsmkey:root)" = 00
check "nothing changed in the state directory" test "$before" = "$(state_sum)"
out=$(ctl restore 2>&1)
rc=$?
diag "restore: $out"
check "restore succeeds" test "$rc" = 0
check "... 6 versions copied (k1 v1, v2, k3 v1 into each)" grep -q ": 6 key version(s) copied into the key store's tokens" <<< "$out"
check "... and names k4 v1 as not in the backup" grep -q "NOT in the backup .*: 1 version(s): k4 v1" <<< "$out"
check "the audit log has the restore" grep -q '"op":"restore"' "$work/state/audit.log"
check "status: up" bash -c "'$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q '\"backend\":\"up\"'"
check "k1 v2 in the new token is the key the lost one held (the reference client's bytes)" \
	test "$(value hk hsmkey:k1:v2)" = "$raw_k1v2"
check "k3 too (the same as the backup's)" same hsmkey:k3:v1 hk bk
check "list shows k1 at version 2, k3, k4" bash -c "'$top/build/hsmkeyctl' --socket '$sock' list |
	awk '\$1 == \"k1\" && \$3 == 2 {a=1} \$1 == \"k3\" {b=1} \$1 == \"k4\" {c=1} END {exit !(a && b && c)}'"
check "a new key can be made after the restore" quiet ctl create k5 --type aes-256-xts
check "... in both new tokens (each was introduced to the other, not only to the backup)" \
	bash -c "[[ \$1 == 1 && \$2 == 1 ]]" _ "$(nlabel hk hsmkey:k5:v1)" "$(nlabel h2 hsmkey:k5:v1)"
check "... the same key" same hsmkey:k5:v1 hk h2
check "k1 v2 in h2 too" same hsmkey:k1:v2 hk h2
check "the audit log verifies" quiet ctl audit verify
daemon_stop
daemon_start || fail "hsmkeyd restarts on the restored token"
check "after a restart on the restored token: up, k5 there" \
	bash -c "'$top/build/hsmkeyctl' --socket '$sock' show k5 >/dev/null &&
		'$top/build/hsmkeyctl' --socket '$sock' --json status | grep -q '\"backend\":\"up\"'"
daemon_stop
tap_done
