#!/bin/bash
# The module's KUnit suites (built with HSMKEY_KUNIT=y against a kernel with
# CONFIG_KUNIT) run when it loads; each case, and each parameter of a
# parameterised case, becomes one TAP result here.
. "$(dirname "$0")/../lib/tap.sh"
# Read the log from a marker on: clearing it would hide earlier lines from
# the harness's scan.
marker="hsmkey-kunit: start $$ $RANDOM"
echo "$marker" > /dev/kmsg
# The module's init runs every suite before insmod returns: minutes on the
# debug kernel under emulation, a wait the hung-task watchdog reports after
# 120 s.  It gets 15 minutes for the suites (about 3 on an idle machine;
# a real hang is still reported), its own setting back once they are done.
hung=/proc/sys/kernel/hung_task_timeout_secs
was=$(cat "$hung" 2>/dev/null)
[[ -n $was ]] && echo 900 > "$hung"
insmod "$HSMKEY_KUNIT_KO"
rc=$?
[[ -n $was ]] && echo "$was" > "$hung"
((rc == 0)) || { fail "insmod $HSMKEY_KUNIT_KO"; tap_done; }
# KTAP in the log: "    # Subtest: SUITE", its cases one level in, the
# parameters of a case two levels in followed by the case's own summary.
# 6.1 writes a skipped parameter as plain "ok": when the case's summary
# says SKIP, its parameters are skipped too (KUnit skips a parameterised
# case only when every parameter was).
dmesg -t | sed -n "/^$marker\$/,\$p" | awk '
	/^    # Subtest: hsmkey_/ { suite = $3; next }
	suite && /^        (not )?ok / { param[n++] = suite ": " $0; next }
	suite && /^    (not )?ok / {
		why = index($0, "# SKIP") ? substr($0, index($0, "# SKIP")) : ""
		for (i = 0; i < n; i++)
			print param[i] (why != "" && param[i] !~ /# SKIP/ ? " " why : "")
		if (!n) print suite ": " $0
		n = 0; next }
	/^(not )?ok [0-9]+ / { suite = "" }' > /tmp/kunit-cases
[[ -s /tmp/kunit-cases ]] || fail "no hsmkey KUnit suite ran"
# In bash alone: a process per line (sed) cost two minutes of the debug
# kernel's run under emulation.
while IFS= read -r line; do
	suite=${line%%: *}
	result=${line#*: }
	result=${result#"${result%%[! ]*}"}
	name=$result
	[[ $result =~ ^ok\ [0-9]+\ (.*)$ ]] && name=${BASH_REMATCH[1]}
	case $result in
	"not ok "*) fail "$suite: ${result#not ok * }" ;;
	*"# SKIP"*) skip "$suite: ${name%% # SKIP*}" "${result##*# SKIP}" ;;
	"ok "*) ok "$suite: $name" ;;
	esac
done < /tmp/kunit-cases
dmesg -t | sed -n "/^$marker\$/,\$p" | grep -E '^ +# .*(Expected|ASSERTION|EXPECTATION)' | sed 's/^/# /' | head -n 20
rmmod hsmkey
tap_done
