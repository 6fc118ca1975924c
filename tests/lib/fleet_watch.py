#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
When each host of a fleet wrote a key's revocation to its audit log,
counted from the key server's revocation.

  fleet_watch.py [--eio DEVICE] KEY SERVER-LOG TIMEOUT SIZE:AUDIT-LOG...

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

With --eio, DEVICE (a dm-crypt volume on the key, in a host's kernel) is
read with O_DIRECT at each pass too, and the first read that fails with
EIO is printed as "eio MS" ("eio -" if none did): the kernel's part of
the same revocation.  Exits 1 if none did.
"""
import datetime
import errno
import json
import mmap
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


class Volume:
    """A block device read with O_DIRECT until a read fails with EIO."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECT) if path else -1
        self.buf = mmap.mmap(-1, 4096)	# page-aligned, as O_DIRECT needs
        self.failed = None if path else 0.0

    def poll(self):
        if self.failed is not None:
            return
        try:
            os.preadv(self.fd, [self.buf], 0)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            self.failed = time.time()


def watch(key, logs, deadline, vol):
    seen = {i: size for i, (size, _) in enumerate(logs)}
    got = {}
    while (len(got) < len(logs) or vol.failed is None) and time.time() < deadline:
        vol.poll()
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


def main(argv):
    device = None
    if argv[0] == "--eio":
        device, argv = argv[1], argv[2:]
    key, server_log, timeout, args = argv[0], argv[1], float(argv[2]), argv[3:]
    logs = [(int(a.split(":", 1)[0]), a.split(":", 1)[1]) for a in args]
    vol = Volume(device)
    got = watch(key, logs, time.time() + timeout, vol)
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
    if device:
        print(f"eio {(vol.failed - t0) * 1000:.0f}" if vol.failed is not None else "eio -")
    return 0 if len(got) == len(logs) and vol.failed is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
