#!/bin/bash
# The memory scanner (tests/lib/memscan.c) finds what it must and only that:
# a random key placed on a process's stack, in its heap, in a private
# mapping and split across a page boundary of a shared one is found in each
# place, whatever the read size; a wiped process and a key never placed are
# clean; in a process of many threads whose mappings come and go, every pass
# finds every copy once; SIGTERM or SIGINT ends a scan loop with its summary.  Then the realistic positive control (issue 12 design, section 7
# item 8(b)): SoftHSM loaded in a process of ours puts the clear key in that
# process's memory while it wraps the key; the scan must see it.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
memscan=$top/build/tests/memscan
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
for b in memscan memscan_target p11_inproc; do
	[[ -x $top/build/tests/$b ]] ||
		{ echo "Bail out! build/tests/$b missing: make tests"; exit 1; }
done
# rc EXPECTED COMMAND...: the command exits with EXPECTED, its output in $work/out.
rc() { local want=$1; shift; "$@" > "$work/out" 2> "$work/err"; [[ $? == "$want" ]]; }
# region_has ADDR WINDOWS KEYS: the scan's region line for the mapping that
# holds ADDR counts WINDOWS windows and KEYS whole keys.
region_has() {
	local a=$(($1)) lo hi
	# "region LO-HI PERMS NAME windows W key K": the name may hold spaces.
	while read -r range w k; do
		lo=$((16#${range%-*})) hi=$((16#${range#*-}))
		((a >= lo && a < hi)) && [[ $w == "$2" && $k == "$3" ]] && return 0
	done < <(awk '/^region / {print $2, $(NF - 2), $NF}' "$work/out")
	return 1
}

# A target with a 64-byte key in five places.
coproc T { "$top/build/tests/memscan_target" 64; }
tpid=$T_PID
pids+=("$tpid")
read -r -u "${T[0]}" _ pid _ key _ stack _ heap _ map _ split _ thread ||
	{ echo "Bail out! memscan_target did not start"; exit 1; }
check "the target's key is 64 bytes" test "${#key}" = 128
check "scan of the target" rc 0 "$memscan" "$pid" "$key"
check "found on its stack: 49 windows, the whole key once" region_has "$stack" 49 1
check "found in its heap" region_has "$heap" 49 1
check "found in its private mapping" region_has "$map" 49 1
check "found split across a page boundary of a shared mapping" region_has "$split" 49 1
check "found on a thread's stack" region_has "$thread" 49 1
check "the [stack] line names it" grep -q '\[stack\] windows 49 key 1' "$work/out"
check "the [heap] line names it" grep -q '\[heap\] windows 49 key 1' "$work/out"
check "total: 4 x 49 windows, 4 whole keys" grep -q '^total 245 key 5 ' "$work/out"
diag "$(grep -v '^unreadable' "$work/out" | tr '\n' ';')"
for c in 64 65 100 4096 4097; do
	check "read in chunks of $c bytes: the same counts (across chunk borders, once)" \
		bash -c "'$memscan' $pid $key --chunk $c | grep -q '^total 245 key 5 '"
done
check "--expect-some passes" rc 0 "$memscan" "$pid" "$key" --expect-some
check "--expect-none fails (exit 1)" rc 1 "$memscan" "$pid" "$key" --expect-none
# Part of the key: its last 24 bytes' 9 windows at each copy, never the whole.
part=${key:80:48}$(openssl rand -hex 8)
check "a key sharing 24 bytes with the copies: 9 windows at each, no whole key" \
	bash -c "'$memscan' $pid $part | grep -q '^total 45 key 0 '"
never=$(openssl rand -hex 64)
check "a key never placed is not found" rc 0 "$memscan" "$pid" "$never" --expect-none
check "...total 0" grep -q '^total 0 key 0 ' "$work/out"
check "...and --expect-some says so (exit 1)" rc 1 "$memscan" "$pid" "$never" --expect-some
echo wipe >&"${T[1]}"
read -r -u "${T[0]}" w
check "the target wiped its copies" test "$w" = wiped
check "after the wipe, the scan finds nothing" rc 0 "$memscan" "$pid" "$key" --expect-none
check "...total 0, and it read as much as before" grep -q '^total 0 key 0 scanned [1-9]' "$work/out"
check "--loop: several passes, each line counted" \
	bash -c "'$memscan' $pid $key --loop 0.3 --expect-none > '$work/loop' &&
		grep -q '^passes [1-9][0-9]* max 0 sum 0 ' '$work/loop'"
eval "exec ${T[1]}>&-"
wait "$tpid"

# hsmkeyd-like: 16 workers, each with a copy on its own stack, while another
# thread starts and ends threads all the time (mappings come and go during
# every pass).  Every pass finds every copy, once.  The scan runs until told
# to stop, as a test scanning "while something runs" stops it.
coproc M { "$top/build/tests/memscan_target" 64 16; }
mpid=$M_PID
pids+=("$mpid")
read -r -u "${M[0]}" _ pid _ key _ ||
	{ echo "Bail out! memscan_target 64 16 did not start"; exit 1; }
check "16 workers: one scan finds 20 copies (4 places, 16 stacks)" \
	bash -c "'$memscan' $pid $key | grep -q '^total 980 key 20 '"
# scan_bg SIGNAL: a loop of up to 600 s started, then stopped with SIGNAL
# after 1 s (once it has finished a pass); its exit status in $work/rc.
scan_bg() {
	local s
	"$memscan" "$pid" "$key" --loop 600 --expect-some > "$work/loop" 2>&1 &
	s=$!
	for _ in $(seq 100); do grep -q '^pass 1 ' "$work/loop" && break; sleep 0.05; done
	sleep 1
	t0=$SECONDS
	kill "-$1" "$s"
	wait "$s"
	echo $? > "$work/rc"
}
scan_bg TERM
check "SIGTERM ends --loop 600: exit 0 (--expect-some met)" test "$(cat "$work/rc")" = 0
check "...at once, not after the 600 s" test $((SECONDS - t0)) -lt 5
check "...with the summary line" grep -q '^passes [1-9][0-9]* max 980 sum [1-9]' "$work/loop"
n=$(sed -n 's/^passes \([0-9]*\) .*/\1/p' "$work/loop")
check "...counting every pass printed, each whole" test "$n" = "$(grep -c '^pass ' "$work/loop")"
check "...several passes while threads came and went" test "${n:-0}" -ge 2
check "...each pass found every copy exactly once (980 windows, 20 keys)" \
	test "$(grep -c '^pass [0-9]* total 980 key 20$' "$work/loop")" = "$n"
check "...the summary sums them" \
	grep -q "^passes $n max 980 sum $((n * 980)) key-max 20 key-sum $((n * 20))\$" "$work/loop"
diag "16 workers and thread churn: $(tail -n 1 "$work/loop")"
scan_bg INT
check "SIGINT ends it the same way (exit 0, summary)" \
	bash -c "test \"\$(cat '$work/rc')\" = 0 && grep -q '^passes [1-9]' '$work/loop'"
echo wipe >&"${M[1]}"
read -r -u "${M[0]}" w
check "the 16 workers wiped their copies" test "$w" = wiped
scan_bg TERM
check "after the wipe, a stopped --expect-some loop says none was found (exit 1)" \
	test "$(cat "$work/rc")" = 1
check "...summary: sum 0" grep -q '^passes [1-9][0-9]* max 0 sum 0 ' "$work/loop"
eval "exec ${M[1]}>&-"
wait "$mpid"

# The shortest key (16 bytes: one window), in a target whose input ends in
# 1.5 s: the loop's end when its process exits.
sleep 1.5 | "$top/build/tests/memscan_target" 16 > "$work/t16" &
pids+=($!)
for _ in $(seq 50); do [[ -s $work/t16 ]] && break; sleep 0.02; done
read -r _ pid _ key _ < "$work/t16"
check "a 16-byte key: one window and one whole key in each of the five places" \
	bash -c "'$memscan' $pid $key | grep -q '^total 5 key 5 '"
t0=$SECONDS
check "--loop over a process that exits: stops, reports, exit 0" \
	bash -c "'$memscan' $pid $key --loop 10 > '$work/loop' &&
		grep -q '^passes [1-9]' '$work/loop'"
check "...when the process is gone, not after the 10 s" test $((SECONDS - t0)) -lt 5
wait
check "usage: a 15-byte key (exit 2)" rc 2 "$memscan" $$ "$(openssl rand -hex 15)"
check "usage: a key that is not hex (exit 2)" rc 2 "$memscan" $$ "zz$(openssl rand -hex 15)"
check "usage: a 65-byte key (exit 2)" rc 2 "$memscan" $$ "$(openssl rand -hex 65)"
check "no such process (exit 2, said)" rc 2 "$memscan" 999999999 "$never"
check "...saying it cannot read it" grep -q 'cannot read the memory of process' "$work/err"

# The realistic positive control: SoftHSM in the scanned process.
. "$top/tests/lib/softhsm.sh"
softhsm_setup "$work/hsm"
softhsm_token scan || { echo "Bail out! softhsm2-util --init-token failed"; exit 1; }
softhsm_pin_file "$work/pin"
key=$(openssl rand -hex 64)
check "the reference client makes a sensitive, extractable 64-byte key" \
	rc 0 /usr/bin/python3 "$top/tests/lib/p11ref.py" create-secret --token scan \
	--pin-file "$work/pin" --label ctl --type generic --value "$key"
coproc H { "$top/build/tests/p11_inproc" "$SOFTHSM_MODULE" scan "$work/pin" ctl; }
hpid=$H_PID
pids+=("$hpid")
read -r -u "${H[0]}" _ pid
check "SoftHSM loaded in the control process, the key found by label" test -n "$pid"
"$memscan" "$pid" "$key" > "$work/before"
diag "SoftHSM in-process, before any wrap: $(grep '^total' "$work/before")"
echo "wrap 4" >&"${H[1]}"
check "scanning while it wraps the key in a loop finds the key (at least one pass)" \
	rc 0 "$memscan" "$pid" "$key" --loop 3.5 --expect-some
cp "$work/out" "$work/during"
read -r -u "${H[0]}" _ wrapped
diag "SoftHSM in-process, during $wrapped wraps: $(tail -n 1 "$work/during"); passes with hits:" \
	"$(grep -c '^pass .* total [1-9]' "$work/during"); where:" \
	"$(awk '/^region/ {print $4, $5, $6}' "$work/during" | sort | uniq -c | tr -s ' \n' ' ')"
"$memscan" "$pid" "$key" > "$work/after"
diag "SoftHSM in-process, after the wraps: $(grep '^total' "$work/after")"
eval "exec ${H[1]}>&-"
wait "$hpid"
tap_done
