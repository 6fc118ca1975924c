#!/usr/bin/env python3
"""What a process with CAP_NET_ADMIN and CAP_NET_RAW in the initial network
namespace (a --net=host container) sees of netlink: every frame on an
nlmon device, and a scan of them for secrets.

  nlcap.py capture IFACE FILE   append every frame on IFACE to FILE (each
                                prefixed by its 4-byte length) until SIGTERM
  nlcap.py scan FILE HEX...     for each HEX secret print "found" or
                                "absent": found if the secret, or (for a
                                secret over 16 bytes) any 16-byte window of
                                it, occurs in a captured frame
  nlcap.py count FILE           the number of frames captured
"""
import signal
import socket
import struct
import sys

ETH_P_ALL = 3


def capture(iface, path):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(path, "ab", buffering=0) as out:
        print("capturing", flush=True)
        while True:
            frame = s.recv(1 << 17)
            out.write(struct.pack("<I", len(frame)) + frame)


def frames(path):
    data = open(path, "rb").read()
    off = 0
    while off + 4 <= len(data):
        (n,) = struct.unpack_from("<I", data, off)
        yield data[off + 4:off + 4 + n]
        off += 4 + n


def windows(secret):
    if len(secret) <= 16:
        return [secret]
    return [secret[i:i + 16] for i in range(len(secret) - 15)]


def scan(path, secrets):
    all_frames = list(frames(path))
    for hexs in secrets:
        w = windows(bytes.fromhex(hexs))
        hit = any(x in f for f in all_frames for x in w)
        print("found" if hit else "absent")


def main():
    cmd = sys.argv[1]
    if cmd == "capture":
        capture(sys.argv[2], sys.argv[3])
    elif cmd == "scan":
        scan(sys.argv[2], sys.argv[3:])
    elif cmd == "count":
        print(sum(1 for _ in frames(sys.argv[2])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
