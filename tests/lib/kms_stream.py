#!/usr/bin/python3
"""The STREAMS of hsmkey-blob(5), written from the man page alone: the
reference the encrypt-file tests check hsmkeyctl's streams against.

  kms_stream.py open KEYFILE STREAMFILE [K=V ...]   the data to stdout; exit 1
                                  when a frame or the wrapped key does not open
  kms_stream.py seal KEYFILE IDHEX VERSION INFILE FRAME [K=V ...]
                                  a stream to stdout, under KEYFILE's key
  kms_stream.py frames STREAMFILE  "F W N": frame size, wrapped key length,
                                  number of frames
"""
import hashlib
import os
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kms_blob  # noqa: E402


def header(data):
    if len(data) < 16 or data[:4] != b"HKMF" or data[4] != 1 or data[5] != 1 or data[6:8] != b"\0\0":
        raise ValueError("not a stream")
    frame, wlen = struct.unpack(">II", data[8:16])
    if not 4096 <= frame <= 1048576:
        raise ValueError("frame size")
    return frame, wlen, data[:16 + wlen]


def nonce(i, last):
    return struct.pack(">Q", i) + b"\0\0\0" + bytes([1 if last else 0])


def frames(data):
    frame, wlen, head = header(data)
    body, out, pos = data[16 + wlen:], [], 0
    while True:
        chunk = body[pos:pos + frame + 16]
        last = len(chunk) < frame + 16
        if len(chunk) < 16:
            raise ValueError("cut: no last frame")
        out.append((chunk, last))
        pos += len(chunk)
        if last:
            if pos != len(body):
                raise ValueError("bytes after the last frame")
            return frame, wlen, head, out


def open_stream(kek, data, pairs):
    frame, wlen, head, fr = frames(data)
    dk = kms_blob.open_blob(kek, head[16:], pairs)
    aad = hashlib.sha256(head).digest()
    g = AESGCM(dk)
    return b"".join(g.decrypt(nonce(i, last), c, aad) for i, (c, last) in enumerate(fr))


def seal_stream(kek, key_id, version, data, frame, pairs):
    dk = os.urandom(32)
    wrapped = kms_blob.seal(kek, key_id, version, dk, pairs)
    head = b"HKMF" + bytes([1, 1, 0, 0]) + struct.pack(">II", frame, len(wrapped)) + wrapped
    aad, g, out = hashlib.sha256(head).digest(), AESGCM(dk), [head]
    n = len(data) // frame + 1  # the last frame is shorter than F, perhaps empty
    for i in range(n):
        out.append(g.encrypt(nonce(i, i == n - 1), data[i * frame:(i + 1) * frame], aad))
    return b"".join(out)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    rd = lambda p: open(p, "rb").read()
    try:
        if cmd == "open":
            sys.stdout.buffer.write(open_stream(rd(args[0]), rd(args[1]),
                                                kms_blob.parse_pairs(args[2:])))
        elif cmd == "seal":
            sys.stdout.buffer.write(seal_stream(rd(args[0]), bytes.fromhex(args[1]), int(args[2]),
                                                rd(args[3]), int(args[4]),
                                                kms_blob.parse_pairs(args[5:])))
        elif cmd == "frames":
            frame, wlen, _, fr = frames(rd(args[0]))
            print(frame, wlen, len(fr))
        else:
            sys.exit(2)
    except (InvalidTag, ValueError) as e:
        print(f"does not open: {e!r}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
