#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
When each host of a fleet wrote a key's revocation to its audit log.

  fleet_watch.py KEY T0 TIMEOUT AUDIT-LOG...

T0 is the wall-clock time (seconds, fractional) the revocation was made on
the key server.  Each log is watched from its size now: the first time a
record of operation "revoke" for KEY is appended, the host's latency is
taken (ms after T0; the log is polled every 5 ms, so that is the
resolution).  Prints "HOST-INDEX MS" per host as it happens, then
"max MS", "median MS" and "min MS"; exits 1 if a host had not written it
within TIMEOUT seconds after T0 (each missing host printed as "INDEX -").
"""
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


def main(key, t0, timeout, logs):
    seen = {i: os.path.getsize(p) for i, p in enumerate(logs)}
    got = {}
    while len(got) < len(logs) and time.time() < t0 + timeout:
        for i, p in enumerate(logs):
            if i in got:
                continue
            n = os.path.getsize(p)
            if n == seen[i]:
                continue
            with open(p) as f:
                f.seek(seen[i])
                text = f.read()
            now = time.time()
            if revoked_in(text, key):
                got[i] = (now - t0) * 1000
                print(f"{i + 1} {got[i]:.0f}", flush=True)
            seen[i] = n
        time.sleep(0.005)
    for i in range(len(logs)):
        if i not in got:
            print(f"{i + 1} -")
    ms = sorted(got.values())
    if ms:
        print(f"max {ms[-1]:.0f}\nmedian {ms[len(ms) // 2]:.0f}\nmin {ms[0]:.0f}")
    return 0 if len(got) == len(logs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]))
