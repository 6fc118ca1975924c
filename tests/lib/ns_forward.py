#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
A TCP port of this network namespace made reachable from another, for
tests/lib/fleet.sh: the hosts of a fleet beside the one holding hsmkey.ko
run in a network namespace of their own (where the module's generic
netlink family, which is not namespace-aware, cannot be resolved), and
reach the key server on this namespace's loopback through it.

  ns_forward.py NETNS-FILE PORT

Listens on 127.0.0.1:PORT inside NETNS-FILE's namespace (entered with
setns(2) only to make the listening socket), and joins each connection
to a new one to 127.0.0.1:PORT here, bytes both ways, untouched (the TLS
is the daemons' and the server's).  Prints "ready" once listening; runs
until killed.
"""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def join(conn, port):
    try:
        up = socket.create_connection(("127.0.0.1", port))
    except OSError:
        conn.close()
        return
    threading.Thread(target=pump, args=(conn, up), daemon=True).start()
    threading.Thread(target=pump, args=(up, conn), daemon=True).start()


def main(netns, port):
    back = os.open("/proc/self/ns/net", os.O_RDONLY)	# no thread started yet
    setns(netns)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(64)
    if libc.setns(back, CLONE_NEWNET):
        raise OSError(ctypes.get_errno(), "setns back")
    os.close(back)
    print("ready", flush=True)
    while True:
        conn, _ = lsock.accept()
        join(conn, port)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
