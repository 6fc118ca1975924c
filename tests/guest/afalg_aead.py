#!/usr/bin/env python3
"""gcm(hsmaes) through AF_ALG with a token as the key, and the reference.

  afalg_aead.py kernel TOKEN-FILE IV-HEX AAD-HEX < PT > CT   ct || tag
  afalg_aead.py ref KEY-FILE IV-HEX AAD-HEX < PT > CT         the same by
      OpenSSL (Python's cryptography), with the key's plaintext
  afalg_aead.py bind TOKEN-FILE [ALG [TYPE]]  print "ok" or setkey's errno
Exits 1 with the errno name on standard error when the kernel refuses.
"""
import errno
import socket
import sys


def tfm(token, alg="gcm(hsmaes)", kind="aead"):
    s = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
    s.bind((kind, alg))
    s.setsockopt(socket.SOL_ALG, socket.ALG_SET_KEY, token)
    if kind == "aead":
        s.setsockopt(socket.SOL_ALG, socket.ALG_SET_AEAD_AUTHSIZE, None, 16)
    return s


def kernel(token, iv, aad, pt):
    s = tfm(token)
    op, _ = s.accept()
    op.sendmsg_afalg([aad + pt], op=socket.ALG_OP_ENCRYPT, iv=iv, assoclen=len(aad))
    out = op.recv(len(aad) + len(pt) + 16)
    return out[len(aad):]


def ref(key, iv, aad, pt):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    return AESGCM(key).encrypt(iv, pt, aad)


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    data = open(path, "rb").read()
    try:
        if cmd == "bind":
            alg = sys.argv[3] if len(sys.argv) > 3 else "gcm(hsmaes)"
            tfm(data, alg, sys.argv[4] if len(sys.argv) > 4 else "aead")
            print("ok")
            return 0
        iv, aad = bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
        pt = sys.stdin.buffer.read()
        fn = kernel if cmd == "kernel" else ref
        sys.stdout.buffer.write(fn(data, iv, aad, pt))
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        if cmd == "bind":
            print(name)
            return 0
        print(name, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
