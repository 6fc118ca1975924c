#!/usr/bin/env python3
"""Hold a gcm(hsmaes) binding across a change: afalg_hold.py TOKEN-FILE FLAG.

Binds, runs one request and prints its outcome ("ok" or the errno name),
waits (up to 120 s) for FLAG to exist, runs another and prints that.
"""
import errno
import os
import socket
import sys
import time


def one(s):
    op, _ = s.accept()
    try:
        op.sendmsg_afalg([bytes(64)], op=socket.ALG_OP_ENCRYPT, iv=bytes(12), assoclen=0)
        op.recv(80)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def main():
    s = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
    s.bind(("aead", "gcm(hsmaes)"))
    s.setsockopt(socket.SOL_ALG, socket.ALG_SET_KEY, open(sys.argv[1], "rb").read())
    s.setsockopt(socket.SOL_ALG, socket.ALG_SET_AEAD_AUTHSIZE, None, 16)
    print(one(s), flush=True)
    for _ in range(1200):
        if os.path.exists(sys.argv[2]):
            break
        time.sleep(0.1)
    print(one(s), flush=True)


if __name__ == "__main__":
    main()
