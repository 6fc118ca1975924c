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

With EVIL_CERT=NAME it presents DIR/NAME.pem (and .key) instead of the
server's certificate.  Prints "ready" once listening; serves until killed.
"""
import os
import socket
import ssl
import struct
import sys
import threading
import time

d, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def answer(conn):
    hdr = conn.recv(8)
    if len(hdr) < 8:
        return
    n = struct.unpack(">I", hdr[4:])[0]
    while n > 0:
        got = conn.recv(min(n, 65536))
        if not got:
            return
        n -= len(got)
    if mode == "huge":
        conn.sendall(bytes.fromhex("42007b01") + struct.pack(">I", 0x7FFFFFF8))
    elif mode == "garbage":
        conn.sendall(b"A" * 64)
    elif mode == "request":
        conn.sendall(bytes.fromhex("4200780100000000"))
    elif mode == "malformed":
        # A response of 16 bytes whose one item claims 0x100 bytes.
        conn.sendall(bytes.fromhex("42007b0100000010" "42007a0100000100" "0000000000000000"))
    elif mode == "short":
        conn.sendall(bytes.fromhex("42007b0100000040") + bytes(16))
    elif mode == "close":
        return
    time.sleep(3600)    # silent, and after the others: hold the line


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
        if ctx is not None:
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
