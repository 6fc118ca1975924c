#!/usr/bin/python3
"""hsmkey-blob(5), written from the man page alone: the reference the KMS
tests check hsmkeyd's blobs against, and make blobs with for hsmkeyd.

  kms_blob.py open KEYFILE BLOBFILE [K=V ...]   plaintext to stdout; exit 1
                                                when the tag does not verify
  kms_blob.py seal KEYFILE IDHEX VERSION PTFILE [K=V ...]   blob to stdout
  kms_blob.py head BLOBFILE                     "ALG IDHEX VERSION NONCEHEX FLAGS"
A data key for the kernel (flags 1) opens with the pair hsmkey:uid=UID added.
"""
import os
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGS = {1: 32, 2: 16}  # algorithm byte: key length


def context(pairs):
    """The canonical form: be32 count, then pairs by key bytes ascending."""
    items = sorted((k.encode(), v.encode()) for k, v in pairs)
    out = struct.pack(">I", len(items))
    for k, v in items:
        out += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
    return out


def parse_pairs(args):
    return [a.split("=", 1) for a in args]


def head(blob):
    if len(blob) < 56 or blob[:4] != b"HKMS" or blob[4] != 1 or blob[6] & ~1 or blob[7]:
        raise ValueError("not a blob")
    alg = blob[5]
    (version,) = struct.unpack(">I", blob[24:28])
    return alg, blob[8:24], version, blob[28:40]


def open_blob(key, blob, pairs):
    alg, _, _, nonce = head(blob)
    if ALGS.get(alg) != len(key):
        raise ValueError("key length does not fit the algorithm")
    return AESGCM(key).decrypt(nonce, blob[40:], blob[:40] + context(pairs))


def seal(key, key_id, version, pt, pairs, nonce=None):
    alg = {32: 1, 16: 2}[len(key)]
    nonce = nonce or os.urandom(12)
    hdr = b"HKMS" + bytes([1, alg, 0, 0]) + key_id + struct.pack(">I", version) + nonce
    return hdr + AESGCM(key).encrypt(nonce, pt, hdr + context(pairs))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    rd = lambda p: open(p, "rb").read()
    if cmd == "open":
        try:
            sys.stdout.buffer.write(open_blob(rd(args[0]), rd(args[1]), parse_pairs(args[2:])))
        except (InvalidTag, ValueError) as e:
            print(f"does not open: {e!r}", file=sys.stderr)
            sys.exit(1)
    elif cmd == "seal":
        sys.stdout.buffer.write(seal(rd(args[0]), bytes.fromhex(args[1]), int(args[2]),
                                     rd(args[3]), parse_pairs(args[4:])))
    elif cmd == "head":
        blob = rd(args[0])
        alg, key_id, version, nonce = head(blob)
        print(alg, key_id.hex(), version, nonce.hex(), blob[6])
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
