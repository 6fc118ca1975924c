# A fleet of hosts on one KMIP key server, for tests/host/test_kmip_fleet.sh,
# tests/guest/t_kmip_fleet.sh and bench/fleet.sh (sourced after daemon.sh
# and kmip.sh, the server started): N hsmkeyd daemons, each with a state
# directory, keystore instance, socket and log of its own under
# $work/fleet, all following the server every POLL seconds and holding
# the same key, "fleet": an aes-256-xts key the reference client
# registered, which each adopts (import --from kmip:UID).  On the host they run without hsmkey.ko.  In
# a guest with the module loaded (fleet_kernel=1), host 1 holds it, as a
# host's one daemon does, and hosts 2..N run where hsmkeyd finds no module
# (the module takes one daemon): in a network namespace of their own,
# where the module's netlink family does not resolve, reaching the server
# through tests/lib/ns_forward.py, each in a mount namespace with an empty
# /sys/module (hsmkeyd's one rule for "the module is absent").  What is measured is how soon each daemon
# revokes the key after the server did, as its audit log records it (and,
# with a volume, how soon host 1's kernel fails it), and what the fleet
# asks of the server while nothing happens.
#
#   fleet_start N POLL    the fleet up, the key adopted by each host
#   fleet_rate SECONDS    requests a second the server got meanwhile
#   fleet_revoke TIMEOUT [DEVICE]
#                         the reference client revokes the key; each
#                         host's latency from the server's revocation (the
#                         watch ends TIMEOUT s after it) into
#                         $work/fleet/latency.txt (tests/lib/fleet_watch.py),
#                         and when DEVICE (a volume on host 1's kernel
#                         key) failed with EIO
#   fleet_latency         that file's figures into $min, $median, $max,
#                         $eio and $asked (ms; empty where it has none) and
#                         $got (the hosts that recorded the revocation)
#   fleet_states STATE    every host shows the key in STATE
#   fleet_stop

fleet_uid=
fleet_pids=()
fleet_n=0
fleet_kernel=${fleet_kernel:-}
_fleet_netns=
_fleet_forward=

# The network namespace of hosts 2..N and the server's port in it.
_fleet_netns_up() {
	local i
	_fleet_netns=hsmkey-fleet-$$
	ip netns add "$_fleet_netns" && ip -n "$_fleet_netns" link set lo up || return 1
	/usr/bin/python3 "$top/tests/lib/ns_forward.py" "/run/netns/$_fleet_netns" "$KMIP_PORT" \
		> "$work/fleet/forward.out" 2>&1 &
	_fleet_forward=$!
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready$' "$work/fleet/forward.out" && return 0
		kill -0 "$_fleet_forward" 2>/dev/null || break
		sleep 0.1
	done
	echo "# the fleet's forwarder did not start: $(cat "$work/fleet/forward.out")"
	return 1
}

# _fleet_daemon I ARGS...: host I's hsmkeyd, without a module unless it is
# host 1 of a fleet with the kernel.  Run with &: each branch execs, so
# that $! is the daemon itself, which fleet_stop kills (nsenter, unshare
# and sh -c 'exec' keep the one process).
_fleet_daemon() {
	if [[ -n $fleet_kernel && $1 != 1 ]]; then
		exec nsenter --net="/run/netns/$_fleet_netns" unshare -m \
			sh -c 'mount -t tmpfs -o size=4k none /sys/module && exec "$@"' \
			sh "$top/build/hsmkeyd" "${@:2}"
	fi
	exec "$top/build/hsmkeyd" "${@:2}"
}

_fleet_host() { echo "$work/fleet/h$1"; }
fleet_ctl() { "$top/build/hsmkeyctl" --socket "$(_fleet_host "$1")/sock" "${@:2}"; }

fleet_start() {
	local n=$1 poll=$2 i d key
	mkdir -p "$work/fleet"
	kmip_conf "$_kmip_dir" "$work/fleet/hsmkeyd.conf" "kmip_timeout = 10s" \
		"kmip_poll_interval = ${poll}s"
	key=$(head -c 64 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
	fleet_uid=$(kmip_ref register fleet "$key") || return 1
	[[ -z $fleet_kernel ]] || _fleet_netns_up || return 1
	for ((i = 1; i <= n; i++)); do
		d=$(_fleet_host "$i")
		mkdir -p "$d"
		_fleet_daemon "$i" --config "$work/fleet/hsmkeyd.conf" --state-dir "$d/state" \
			--socket "$d/sock" 2>> "$d/log" &
		fleet_pids+=($!)
	done
	fleet_n=$n
	for ((i = 1; i <= n; i++)); do
		wait_socket "$(_fleet_host "$i")/sock" "${fleet_pids[i - 1]}" ||
			{ echo "# host $i did not start: $(tail -n 3 "$(_fleet_host "$i")/log")"; return 1; }
	done
	for ((i = 1; i <= n; i++)); do
		fleet_ctl "$i" import fleet --type aes-256-xts --from "kmip:$fleet_uid" > /dev/null ||
			{ echo "# host $i did not adopt kmip:$fleet_uid: $(tail -n 3 "$(_fleet_host "$i")/log")"
			  return 1; }
	done
}

# The server's log has a line "Received request at time" for each message.
_fleet_requests() { grep -c "Received request at time" "$_kmip_dir/server.log"; }

fleet_rate() {
	local a b t0 t1
	a=$(_fleet_requests) t0=$(date +%s.%N)
	sleep "$1"
	b=$(_fleet_requests) t1=$(date +%s.%N)
	python3 -c "print(f'{($b - $a) / ($t1 - $t0):.2f}')"
}

# The watcher starts from each audit log's and the server log's size (and
# the latter's inode, to follow it across a rotation) before the
# revocation, and counts from the server's own time of it (its log's).
fleet_revoke() {
	local logs=() i f w s
	s=$(stat -c %s:%i "$_kmip_dir/server.log") || return 1
	for ((i = 1; i <= fleet_n; i++)); do
		f=$(_fleet_host "$i")/state/audit.log
		logs+=("$(stat -c %s "$f"):$f")
	done
	/usr/bin/python3 "$top/tests/lib/fleet_watch.py" ${2:+--eio "$2"} --since "$(date +%s.%N)" \
		fleet "$s:$_kmip_dir/server.log" "$1" "${logs[@]}" > "$work/fleet/latency.txt" &
	w=$!
	kmip_ref revoke "$fleet_uid" || { kill "$w"; return 1; }
	wait "$w"
}

# _fleet_figure NAME: the watch's figure NAME ("NAME VALUE").
_fleet_figure() { awk -v k="$1" '$1 == k { print $2; exit }' "$work/fleet/latency.txt"; }
fleet_latency() {
	min=$(_fleet_figure min) median=$(_fleet_figure median)
	max=$(_fleet_figure max) eio=$(_fleet_figure eio) asked=$(_fleet_figure asked)
	got=$(grep -c '^[0-9]* [0-9]' "$work/fleet/latency.txt")
	return 0	# none got it: $got is 0, not a failure of this
}

fleet_states() {
	local i
	for ((i = 1; i <= fleet_n; i++)); do
		[[ $(fleet_ctl "$i" --json show fleet |
		     python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])') == "$1" ]] ||
			return 1
	done
}

fleet_stop() {
	local p
	for p in "${fleet_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${fleet_pids[@]}"; do wait "$p" 2>/dev/null; done
	fleet_pids=()
	if [[ -n $_fleet_forward ]]; then
		kill "$_fleet_forward" 2>/dev/null
		wait "$_fleet_forward" 2>/dev/null
		_fleet_forward=
	fi
	[[ -z $_fleet_netns ]] || ip netns del "$_fleet_netns" 2>/dev/null
	_fleet_netns=
}
