#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
A hostile KMIP server for the tests: the real server's certificate and CA
(tests/lib/kmip.sh), the client's certificate required, then after each
request an answer a server must not give.

  evil_server.py DIR PORT MODE
    huge       a Response Message header claiming 2 GiB
    garbage    bytes that are no TTLV
    request    a Request Message instead of a response
    malformed  a whole message whose inner lengths overrun it
    short      a header for 64 bytes, then 16 of them, then silence
    silent     nothing at all
    close      the connection closed
    plain      no TLS: accepts TCP and says nothing
    discover   a proper answer to DiscoverVersions (KMIP 1.2), then silence:
               the next request has gone out when the line goes quiet
    op-MODE    a proper answer to DiscoverVersions, then MODE's answer to
               the request that follows (a Create, a GetAttributes...)

With EVIL_CERT=NAME it presents DIR/NAME.pem (and .key) instead of the
server's certificate.  Prints "ready" once listening, and "quiet NS" (the
time in ns) each time it starts to hold a line in silence; serves until
killed.
"""
import os
import socket
import ssl
import struct
import sys
import threading
import time

d, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def ttlv(tag, typ, value):
    """One item: tag, type, length, value padded to 8 bytes."""
    return (struct.pack(">I", tag << 8 | typ) + struct.pack(">I", len(value)) + value
            + bytes(-len(value) % 8))


def struct_(tag, *items):
    return ttlv(tag, 1, b"".join(items))


def integer(tag, v):
    return ttlv(tag, 2, struct.pack(">i", v))


def enum(tag, v):
    return ttlv(tag, 5, struct.pack(">I", v))


def discover_answer():
    version = struct_(0x420069, integer(0x42006A, 1), integer(0x42006B, 2))
    header = struct_(0x42007A, version, ttlv(0x420092, 9, struct.pack(">q", int(time.time()))),
                     integer(0x42000D, 1))
    item = struct_(0x42000F, enum(0x42005C, 0x1E), enum(0x42007F, 0),
                   struct_(0x42007C, version))
    return struct_(0x42007B, header, item)


def answer(conn):
    if mode == "discover" or mode.startswith("op-"):
        read_request(conn)
        conn.sendall(discover_answer())
    read_request(conn)
    reply(conn)


def read_request(conn):
    hdr = conn.recv(8)
    if len(hdr) < 8:
        return
    n = struct.unpack(">I", hdr[4:])[0]
    while n > 0:
        got = conn.recv(min(n, 65536))
        if not got:
            return
        n -= len(got)


def reply(conn):
    m = mode[3:] if mode.startswith("op-") else mode
    if m == "huge":
        conn.sendall(bytes.fromhex("42007b01") + struct.pack(">I", 0x7FFFFFF8))
    elif m == "garbage":
        conn.sendall(b"A" * 64)
    elif m == "request":
        conn.sendall(bytes.fromhex("4200780100000000"))
    elif m == "malformed":
        # A response of 16 bytes whose one item claims 0x100 bytes.
        conn.sendall(bytes.fromhex("42007b0100000010" "42007a0100000100" "0000000000000000"))
    elif m == "short":
        conn.sendall(bytes.fromhex("42007b0100000040") + bytes(16))
    elif m == "close":
        return
    quiet()
    time.sleep(3600)    # silent, and after the others: hold the line


def quiet():
    """Say when the line goes quiet: the client's wait that must time out
    began no later than this."""
    print(f"quiet {time.time_ns()}", flush=True)


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(8)
    ctx = None
    if mode != "plain":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert = os.environ.get("EVIL_CERT", "server")
        ctx.load_cert_chain(f"{d}/{cert}.pem", f"{d}/{cert}.key")
        ctx.load_verify_locations(f"{d}/ca.pem")
        ctx.verify_mode = ssl.CERT_REQUIRED
    print("ready", flush=True)
    held = []
    while True:
        conn, _ = s.accept()
        held.append(conn)
        if ctx is None:
            quiet()
        else:
            threading.Thread(target=serve, args=(ctx, conn), daemon=True).start()


def serve(ctx, conn):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        answer(tls)
        if mode == "close":
            tls.close()
    except (ssl.SSLError, OSError):
        pass


if __name__ == "__main__":
    main()
