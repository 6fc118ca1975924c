#!/usr/bin/python3
"""Connections from user namespaces, as a rootless container makes them.

  userns_connect.py SOCKET READY HOLD UID:N [UID:N...]

For each UID, a process in a user namespace of its own whose root is UID
outside (as a container's root is one of its user's subordinate uids)
opens N connections to the SOCK_SEQPACKET socket SOCKET.  Once the daemon
has had half a second to accept or refuse them, prints how many it kept
(open, nothing read) in all, makes the file READY and holds them HOLD
seconds.  Run as root: the maps are written from outside, as newuidmap(1)
writes them.  UID:N with a leading '=' (=UID:N) connects from a child that
has become UID in this namespace instead, as a user of that uid would.
"""
import ctypes
import os
import select
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


def become(uid, userns, go_r, up_w):
    """In the child: UID, in a namespace of its own (mapped by the parent) or here."""
    if userns:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWUSER) != 0:
            os._exit(2)
        os.write(up_w, b"u")
        os.read(go_r, 1)
        uid = 0
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if not userns:
        os.write(up_w, b"u")


def child(path, uid, count, hold, userns):
    """A child that becomes UID and connects: (pid, the pipe its count comes on)."""
    go_r, go_w = os.pipe()
    up_r, up_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        for fd in (go_w, up_r, res_r):
            os.close(fd)
        try:
            become(uid, userns, go_r, up_w)
            conns = connect(path, count)
            time.sleep(0.5)
            os.write(res_w, b"%d\n" % kept(conns))
            time.sleep(hold + 1)
        finally:
            os._exit(0)
    for fd in (go_r, up_w, res_w):
        os.close(fd)
    if os.read(up_r, 1) != b"u":
        sys.exit("the child for uid %d did not start (user namespaces refused?)" % uid)
    if userns:
        for f in ("uid_map", "gid_map"):
            with open("/proc/%d/%s" % (pid, f), "w") as m:
                m.write("0 %d 1\n" % uid)
    os.write(go_w, b"g")
    return pid, res_r


def main():
    path, ready, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
    children, total = [], 0
    for spec in sys.argv[4:]:
        uid, n = (int(x) for x in spec.lstrip("=").split(":"))
        children.append(child(path, uid, n, hold, not spec.startswith("=")))
    for pid, r in children:
        ready_fds, _, _ = select.select([r], [], [], 30)
        got = os.read(r, 16).decode().strip() if ready_fds else ""
        if not got:
            sys.exit("the child %d gave no count" % pid)
        total += int(got)
    print(total, flush=True)
    open(ready, "w").close()
    time.sleep(hold)
    for pid, _ in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


main()
