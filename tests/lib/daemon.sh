# Start hsmkeyd on a private state directory and socket; ctl runs hsmkeyctl.
# Needs $top (the source tree) and $work (a private directory).
sock=$work/hsmkeyd.sock
ctl() { "$top/build/hsmkeyctl" --socket "$sock" "$@"; }
# $daemon_conf, when set: the configuration file to start with;
# $daemon_wrap: a command to start it under (e.g. "unshare -n").
daemon_start() {
	${daemon_wrap:-} "$top/build/hsmkeyd" ${daemon_conf:+--config "$daemon_conf"} --state-dir "$work/state" --socket "$sock" 2>>"$work/hsmkeyd.log" &
	daemon_pid=$!
	for _ in $(seq 100); do
		[[ -S $sock ]] && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "# hsmkeyd did not start:"; sed 's/^/# /' "$work/hsmkeyd.log"
	return 1
}
daemon_stop() {
	[[ -n ${daemon_pid:-} ]] || return 0
	kill "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}
# A random 64-byte AES-256-XTS key whose halves differ.
make_xts_key() {
	head -c 64 /dev/urandom > "$1"
	cmp -s <(head -c 32 "$1") <(tail -c 32 "$1") && make_xts_key "$1"
	return 0
}
