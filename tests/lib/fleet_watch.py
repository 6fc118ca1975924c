#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
When each host of a fleet wrote a key's revocation to its audit log,
counted from the key server's revocation.

  fleet_watch.py [--eio DEVICE] KEY SIZE:SERVER-LOG TIMEOUT SIZE:AUDIT-LOG...

Started before the revocation is asked for: the server's log and each
audit log are watched from SIZE, their size taken before then, so that no
record is missed.  The server's time of the revocation is its log's (PyKMIP's
line "Processing operation: Revoke", in local time to the millisecond).
The first time a record of operation "revoke" for KEY follows in a host's
audit log, the host's time is taken (the logs are polled every 5 ms: that
is the resolution).  The watch ends once every host has one, or TIMEOUT
seconds after the server's revocation: counted from the revocation, not
from the watch's start, since the client that asks for it may take its
time (a Python client's start under emulation takes seconds).  A server
whose log names no revocation within WAIT_S (120) seconds of the start
ends it too.  Then each host's latency is printed as "HOST-INDEX MS" (or
"HOST-INDEX -"), then "max MS", "median MS" and "min MS", and last "asked
MS", the server's revocation counted from the watch's start.  Exits 1 if a
host had none, or the server's log names no revocation.

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


WAIT_S = 120


class ServerLog:
    """The key server's log from an offset, read as it grows."""

    def __init__(self, size, path):
        self.pos, self.path = size, path
        self.rest = ""
        self.revoked = None	# the epoch time of its first revocation

    def poll(self):
        if self.revoked is not None:
            return
        with open(self.path) as f:
            f.seek(self.pos)
            text = f.read()
            self.pos = f.tell()
        lines = (self.rest + text).split("\n")
        self.rest = lines.pop()	# a line not yet whole
        for line in lines:
            if line.rstrip().endswith("Processing operation: Revoke"):
                stamp = line[:23]	# "2026-12-03 22:49:53,090"
                self.revoked = datetime.datetime.strptime(
                    stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
                return


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


def done(got, logs, vol, server, timeout, start):
    """Whether the watch is over: all seen, or its time is up."""
    if len(got) == len(logs) and vol.failed is not None:
        return True
    if server.revoked is None:
        return time.time() > start + WAIT_S
    return time.time() > server.revoked + timeout


def watch(key, logs, server, timeout, vol, start):
    seen = {i: size for i, (size, _) in enumerate(logs)}
    got = {}
    while not done(got, logs, vol, server, timeout, start):
        server.poll()
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


def sized(arg):
    """"SIZE:PATH" as (SIZE, PATH)."""
    size, path = arg.split(":", 1)
    return int(size), path


def main(argv):
    device = None
    if argv[0] == "--eio":
        device, argv = argv[1], argv[2:]
    key, server, timeout, args = argv[0], sized(argv[1]), float(argv[2]), argv[3:]
    logs = [sized(a) for a in args]
    vol = Volume(device)
    server = ServerLog(*server)
    start = time.time()
    got = watch(key, logs, server, timeout, vol, start)
    server.poll()	# the line may have come with the last pass's records
    t0 = server.revoked
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
    print(f"asked {(t0 - start) * 1000:.0f}")
    return 0 if len(got) == len(logs) and vol.failed is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
