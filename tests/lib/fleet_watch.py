#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
When each host of a fleet wrote a key's revocation to its audit log,
counted from the key server's revocation.

  fleet_watch.py [--eio DEVICE] [--since EPOCH] KEY SIZE:INODE:SERVER-LOG TIMEOUT
                 SIZE:AUDIT-LOG...

Started before the revocation is asked for: the server's log and each
audit log are watched from SIZE, their size taken before then, so that no
record is missed; the server's log (PyKMIP's, which its server renames to
SERVER-LOG.1 at 1 MB) is followed across a rotation by INODE, its inode
then.  The server's time of the revocation is its log's (its line
"Processing operation: Revoke", in local time to the millisecond).  The
first time a record of operation "revoke" for KEY follows in a host's
audit log, the host's time is taken (the logs are polled every 5 ms: that
is the resolution).  The watch ends once every host has one, or TIMEOUT
seconds after the server's revocation: counted from the revocation, not
from the watch's start, since the client that asks for it may take its
time (a Python client's start under emulation takes seconds).  A server
whose log names no revocation within WAIT_S (120) seconds of the start
ends it too, and no watch lasts longer than WAIT_S + TIMEOUT.  Then each
host's latency is printed as "HOST-INDEX MS" (or "HOST-INDEX -"), then
"max MS", "median MS" and "min MS", and last "asked MS": the server's
revocation counted from EPOCH (the caller's time when it asked; without
--since, the watch's start).  Exits 1 if a host had none, or the server's
log names no revocation.

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

WAIT_S = 120


class Tail:
    """
    A log's whole lines from an offset on, read as it grows.  With
    @rotated (the name a rotation gives it) and @inode, followed across a
    rotation: the rest of the file under its new name, then the new file.
    """

    def __init__(self, size, path, inode=None, rotated=None):
        self.pos, self.path, self.inode, self.rotated = size, path, inode, rotated
        self.rest = b""	# a line not yet whole

    def _rest_of_rotated(self):
        try:
            with open(self.rotated, "rb") as f:
                if os.fstat(f.fileno()).st_ino != self.inode:
                    return b""	# rotated again meanwhile: lost
                f.seek(self.pos)
                return f.read()
        except FileNotFoundError:
            return b""

    def lines(self):
        """The lines made whole since the last call."""
        data = b""
        try:
            st = os.stat(self.path)
            if st.st_size == self.pos and (not self.rotated or st.st_ino == self.inode):
                return []	# the usual pass: nothing new, no open
            with open(self.path, "rb") as f:
                ino = os.fstat(f.fileno()).st_ino
                if self.rotated and ino != self.inode:
                    data = self._rest_of_rotated()
                    self.inode, self.pos = ino, 0
                f.seek(self.pos)
                data += f.read()
                self.pos = f.tell()
        except FileNotFoundError:
            pass	# between the rotation's rename and the new file: next pass
        parts = (self.rest + data).split(b"\n")
        self.rest = parts.pop()
        return [p.decode(errors="replace") for p in parts]


def revoked_in(lines, key):
    """Whether @lines, records ("HASH JSON", hsmkeyd(8)), revoke @key."""
    for line in lines:
        try:
            r = json.loads(line.split(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        if r.get("op") == "revoke" and r.get("key") == key:
            return True
    return False


class ServerLog:
    """The key server's log, for the epoch time of its first revocation."""

    def __init__(self, tail):
        self.tail = tail
        self.revoked = None

    def poll(self):
        if self.revoked is not None:
            return
        for line in self.tail.lines():
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
    return time.time() > min(server.revoked, start + WAIT_S) + timeout


def watch(key, logs, server, timeout, vol, start):
    got = {}
    while not done(got, logs, vol, server, timeout, start):
        server.poll()
        vol.poll()
        for i, log in enumerate(logs):
            if i in got:
                continue
            lines = log.lines()
            if revoked_in(lines, key):
                got[i] = time.time()
        time.sleep(0.005)
    return got


def main(argv):
    device, since = None, None
    while argv[0] in ("--eio", "--since"):
        if argv[0] == "--eio":
            device = argv[1]
        else:
            since = float(argv[1])
        argv = argv[2:]
    key, timeout, args = argv[0], float(argv[2]), argv[3:]
    size, inode, path = argv[1].split(":", 2)
    server = ServerLog(Tail(int(size), path, int(inode), path + ".1"))
    logs = [Tail(int(size), path) for size, path in (a.split(":", 1) for a in args)]
    vol = Volume(device)
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
    print(f"asked {(t0 - (since if since is not None else start)) * 1000:.0f}")
    return 0 if len(got) == len(logs) and vol.failed is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
