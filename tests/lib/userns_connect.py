#!/usr/bin/python3
"""Connections from user namespaces, as a rootless container makes them.

  userns_connect.py SOCKET READY HOLD UID:N [UID:N...]

For each UID, a process in a user namespace of its own whose root is UID
outside (as a container's root is one of its user's subordinate uids)
opens N connections to the SOCK_SEQPACKET socket SOCKET.  Once the daemon
has had half a second to accept or refuse them all, prints how many it
kept (open, nothing read), makes the file READY and holds them HOLD
seconds.  Run as root: the maps are written from outside, as newuidmap(1)
writes them.  UID:N with a leading '=' (=UID:N) connects as UID from this
namespace instead, by its effective uid at connect().
"""
import ctypes
import os
import socket
import sys
import time

CLONE_NEWUSER = 0x10000000


def kept(conns):
    n = 0
    for s in conns:
        try:
            n += s.recv(1, socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def connect(path, count):
    out = []
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(path)
        out.append(s)
    return out


def in_namespace(path, uid, count, hold):
    """A child in a new user namespace mapped 0 -> uid: its count, via a pipe."""
    go_r, go_w = os.pipe()
    up_r, up_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWUSER) != 0:
            os._exit(2)
        os.write(up_w, b"u")
        os.read(go_r, 1)
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        conns = connect(path, count)
        time.sleep(0.5)
        os.write(res_w, b"%d\n" % kept(conns))
        time.sleep(hold + 1)
        os._exit(0)
    if os.read(up_r, 1) != b"u":
        sys.exit("unshare failed")
    for f in ("uid_map", "gid_map"):
        with open("/proc/%d/%s" % (pid, f), "w") as m:
            m.write("0 %d 1\n" % uid)
    os.write(go_w, b"g")
    return pid, res_r


def here(path, uid, count):
    os.seteuid(uid)
    try:
        return connect(path, count)
    finally:
        os.seteuid(0)


def main():
    path, ready, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
    children, held, total = [], [], 0
    for spec in sys.argv[4:]:
        uid, n = (int(x) for x in spec.lstrip("=").split(":"))
        if spec.startswith("="):
            held += here(path, uid, n)
        else:
            children.append(in_namespace(path, uid, n, hold))
    if held:
        time.sleep(0.5)
        total += kept(held)
    for _, r in children:
        total += int(os.read(r, 16).decode() or "0")
    print(total, flush=True)
    open(ready, "w").close()
    time.sleep(hold)
    for pid, _ in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


main()
