# TAP output for shell tests: source it, call check/ok/fail, then tap_done.
_tap_n=0
_tap_failed=0
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
fail() { _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"; }
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1 # SKIP $2"; }
diag() { echo "# $*"; }
# check NAME COMMAND...: one test, passing when the command succeeds.
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else fail "$name (failed: $*)"; fi
}
quiet() { "$@" >/dev/null; }
# section TEXT: a diagnostic line with the seconds the test has run so far.
section() { diag "$* (at ${SECONDS} s)"; }
tap_done() { section "done"; echo "1..$_tap_n"; exit $((_tap_failed > 0)); }
