#!/usr/bin/env python3
"""AF_ALG from the shell tests, with a token as the key.

  afalg.py bind TOKEN-HEX [ALG]       print "ok" or the errno name of setkey
  afalg.py encrypt TOKEN-HEX N [ALG]  bind, then N requests of 4 KiB: print
                                      how many succeeded and the errno name
                                      of the first failure ("-" if none)
"""
import errno
import socket
import sys


def bind(token, alg):
    s = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
    s.bind(("skcipher", alg))
    s.setsockopt(socket.SOL_ALG, socket.ALG_SET_KEY, bytes.fromhex(token))
    return s


def main():
    cmd, token = sys.argv[1], sys.argv[2]
    try:
        if cmd == "bind":
            bind(token, sys.argv[3] if len(sys.argv) > 3 else "xts(hsmaes)")
            print("ok")
            return
        n = int(sys.argv[3])
        tfm = bind(token, sys.argv[4] if len(sys.argv) > 4 else "xts(hsmaes)")
    except OSError as e:
        print(errno.errorcode[e.errno])
        return
    ok, first = 0, "-"
    for _ in range(n):
        op, _ = tfm.accept()
        try:
            op.sendmsg_afalg([bytes(4096)], op=socket.ALG_OP_ENCRYPT, iv=bytes(16))
            op.recv(4096)
            ok += 1
        except OSError as e:
            if first == "-":
                first = errno.errorcode[e.errno]
        finally:
            op.close()
    print(ok, first)


main()
