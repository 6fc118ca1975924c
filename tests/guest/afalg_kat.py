#!/usr/bin/python3
"""Known answers through AF_ALG with a token, against OpenSSL on the raw key.

  afalg_kat.py TYPE TOKEN-HEX RAW-KEY-HEX [TYPE TOKEN-HEX RAW-KEY-HEX]...

TYPE is an hsmkey key type (aes-256-xts, aes-128-cbc, aes-256-gcm, ...).
The kernel encrypts random data (and, for GCM, random associated data)
with the hsmkey algorithm keyed by the token; Python's cryptography
package (OpenSSL) encrypts the same with the raw key.  For one key,
prints "ok" when the two agree and the kernel decrypts its own output
back, else what differed (or the errno of the AF_ALG call that failed).
For several, one line per key: its position (from 1), then that.  Exits
non-zero when any key is not ok.  Several keys in one run spare the
interpreter's start-up, seconds under emulation.  Run with
/usr/bin/python3 (cryptography is Debian's package).
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


def check(ktype, token, raw):
    """'ok', or what went wrong."""
    try:
        if ktype.endswith("-xts"):
            same, back = skcipher(modes.XTS, "xts(hsmaes)", token, raw)
        elif ktype.endswith("-cbc"):
            same, back = skcipher(modes.CBC, "cbc(hsmaes)", token, raw)
        elif ktype.endswith("-gcm"):
            same, back = aead(token, raw)
        else:
            return "unknown key type " + ktype
    except OSError as e:
        # setkey refused (a token the kernel does not hold), or a request failed
        return "AF_ALG: " + (errno.errorcode.get(e.errno, str(e.errno)) if e.errno else str(e))
    if same and back:
        return "ok"
    return "kernel and OpenSSL differ" if not same else "kernel does not decrypt its own output"


def main():
    args = sys.argv[1:]
    if not args or len(args) % 3:
        sys.exit(__doc__)
    try:
        keys = [(args[i], bytes.fromhex(args[i + 1]), bytes.fromhex(args[i + 2]))
                for i in range(0, len(args), 3)]
    except ValueError:
        sys.exit("afalg_kat.py: a token or key that is not hex")
    results = [check(*k) for k in keys]
    if len(keys) == 1:
        print(results[0])
    else:
        for n, r in enumerate(results, 1):
            print(n, r)
    sys.exit(0 if all(r == "ok" for r in results) else 1)


if __name__ == "__main__":
    main()
