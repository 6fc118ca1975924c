#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
When each host of a fleet wrote a key's revocation to its audit log,
counted from the key server's revocation.

  fleet_watch.py KEY SERVER-LOG TIMEOUT SIZE:AUDIT-LOG...

Started before the revocation is asked for: each audit log is watched
from SIZE, its size taken before then, so that no record is missed.  The
first time a record of operation "revoke" for KEY follows, the host's time
is taken (the logs are polled every 5 ms: that is the resolution).  Once
every host has one, or TIMEOUT seconds after the start, the server's time
of the revocation is read from SERVER-LOG (PyKMIP's line "Processing
operation: Revoke", the last one, in local time to the millisecond), and
each host's latency printed as "HOST-INDEX MS" (or "HOST-INDEX -"), then
"max MS", "median MS" and "min MS".  Exits 1 if a host had none, or the
server's log names no revocation.
"""
import datetime
import json
import os
import sys
import time


def revoked_in(text, key):
    """Whether @text's records ("HASH JSON" lines, hsmkeyd(8)) revoke @key."""
    for line in text.splitlines():
        try:
            r = json.loads(line.split(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        if r.get("op") == "revoke" and r.get("key") == key:
            return True
    return False


def server_time(path):
    """The epoch time of the server log's last "Processing operation: Revoke"."""
    t = None
    with open(path) as f:
        for line in f:
            if line.rstrip().endswith("Processing operation: Revoke"):
                stamp = line[:23]	# "2026-12-03 22:49:53,090"
                t = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return t


def watch(key, logs, deadline):
    seen = {i: size for i, (size, _) in enumerate(logs)}
    got = {}
    while len(got) < len(logs) and time.time() < deadline:
        for i, (_, p) in enumerate(logs):
            n = os.path.getsize(p)
            if i in got or n == seen[i]:
                continue
            with open(p) as f:
                f.seek(seen[i])
                text = f.read()
            now = time.time()
            if revoked_in(text, key):
                got[i] = now
            seen[i] = n
        time.sleep(0.005)
    return got


def main(key, server_log, timeout, args):
    logs = [(int(a.split(":", 1)[0]), a.split(":", 1)[1]) for a in args]
    got = watch(key, logs, time.time() + timeout)
    t0 = server_time(server_log)
    if t0 is None:
        print("the server's log names no revocation")
        return 1
    ms = {i: (t - t0) * 1000 for i, t in got.items()}
    for i in range(len(logs)):
        print(f"{i + 1} {ms[i]:.0f}" if i in ms else f"{i + 1} -")
    v = sorted(ms.values())
    if v:
        print(f"max {v[-1]:.0f}\nmedian {v[len(v) // 2]:.0f}\nmin {v[0]:.0f}")
    return 0 if len(got) == len(logs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]))
