#!/bin/bash
# The module's KUnit suites (built when the kernel has CONFIG_KUNIT) run
# when it loads; each case becomes one TAP result here.
. "$(dirname "$0")/../lib/tap.sh"
insmod "$HSMKEY_KO" || { fail "insmod $HSMKEY_KO"; tap_done; }
suites=$(ls -d /sys/kernel/debug/kunit/hsmkey_* 2>/dev/null)
[[ -n $suites ]] || fail "no hsmkey KUnit suite ran"
for s in $suites; do
	suite=$(basename "$s")
	# Case lines are indented one level ("    ok 3 name"); the cases of a
	# parameterised test one more, and its own line sums them up.
	while read -r line; do
		case $line in
		"not ok "*) fail "$suite: ${line#not ok * }" ;;
		ok*"# SKIP"*) skip "$suite: $(sed 's/^ok [0-9]* //; s/ # SKIP.*//' <<<"$line")" "${line##*# SKIP}" ;;
		"ok "*) ok "$suite: ${line#ok * }" ;;
		esac
	done < <(awk '/^        (not )?ok /{ param = 1; print; next }
		      /^    (not )?ok /{ if (!param) print; param = 0 }' "$s/results")
	sed 's/^/# /' "$s/results" | grep -E '# +# ' | head -n 20
done
rmmod hsmkey
tap_done
