#!/usr/bin/python3
"""Known answers through AF_ALG with a token, against OpenSSL on the raw key.

  afalg_kat.py TYPE TOKEN-HEX RAW-KEY-HEX

TYPE is an hsmkey key type (aes-256-xts, aes-128-cbc, aes-256-gcm, ...).
The kernel encrypts random data (and, for GCM, random associated data)
with the hsmkey algorithm keyed by the token; Python's cryptography
package (OpenSSL) encrypts the same with the raw key.  Prints "ok" when
the two agree and the kernel decrypts its own output back, else what
differed (or the errno of the AF_ALG call that failed), and exits
non-zero.  Run with /usr/bin/python3 (cryptography is
Debian's package).
"""
import errno
import os
import socket
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TAG = 16


def alg_socket(kind, name, token):
    s = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
    s.bind((kind, name))
    s.setsockopt(socket.SOL_ALG, socket.ALG_SET_KEY, token)
    if kind == "aead":
        s.setsockopt(socket.SOL_ALG, socket.ALG_SET_AEAD_AUTHSIZE, None, TAG)
    return s


def kernel(kind, name, token, op, iv, data, assoclen=0):
    s = alg_socket(kind, name, token)
    try:
        c, _ = s.accept()
        with c:
            c.sendmsg_afalg([data], op=op, iv=iv, assoclen=assoclen)
            want = len(data) + (TAG if kind == "aead" and op == socket.ALG_OP_ENCRYPT else 0)
            if kind == "aead" and op == socket.ALG_OP_DECRYPT:
                want = len(data) - TAG
            return c.recv(want)
    finally:
        s.close()


def skcipher(mode, name, token, raw):
    iv = os.urandom(16)
    data = os.urandom(4096)
    c = kernel("skcipher", name, token, socket.ALG_OP_ENCRYPT, iv, data)
    enc = Cipher(algorithms.AES(raw), mode(iv)).encryptor()
    ref = enc.update(data) + enc.finalize()
    back = kernel("skcipher", name, token, socket.ALG_OP_DECRYPT, iv, c)
    return c == ref, back == data


def aead(token, raw):
    iv = os.urandom(12)
    aad = os.urandom(20)
    data = os.urandom(1000)
    out = kernel("aead", "gcm(hsmaes)", token, socket.ALG_OP_ENCRYPT, iv, aad + data, len(aad))
    ref = AESGCM(raw).encrypt(iv, data, aad)
    back = kernel("aead", "gcm(hsmaes)", token, socket.ALG_OP_DECRYPT, iv, out, len(aad))
    return out[len(aad):] == ref, back[len(aad):] == data


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    ktype, token, raw = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
    try:
        if ktype.endswith("-xts"):
            same, back = skcipher(modes.XTS, "xts(hsmaes)", token, raw)
        elif ktype.endswith("-cbc"):
            same, back = skcipher(modes.CBC, "cbc(hsmaes)", token, raw)
        elif ktype.endswith("-gcm"):
            same, back = aead(token, raw)
        else:
            sys.exit("unknown key type " + ktype)
    except OSError as e:
        # setkey refused (a token the kernel does not hold), or a request failed
        sys.exit("AF_ALG: " + (errno.errorcode.get(e.errno, str(e.errno)) if e.errno else str(e)))
    if same and back:
        print("ok")
        return
    print("kernel and OpenSSL differ" if not same else "kernel does not decrypt its own output")
    sys.exit(1)


if __name__ == "__main__":
    main()
