#!/usr/bin/python3
"""rawreq.py SOCKET JSON [PAYLOAD-FILE]: one request to hsmkeyd as a client
that does not use hsmkeyctl or libhsmkey would write it: the JSON, and with
a payload file a NUL and its bytes (tools/lib/proto.h).  Prints the reply's
JSON (its payload's length as "payload_len"); exit 0 when a reply came."""
import json
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
msg = sys.argv[2].encode()
if len(sys.argv) > 3:
    msg += b"\0" + open(sys.argv[3], "rb").read()
s.send(msg)
reply = s.recv(70000)
if not reply:
    print("no reply: the connection closed", file=sys.stderr)
    sys.exit(1)
text, _, payload = reply.partition(b"\0")
out = json.loads(text)
out["payload_len"] = len(payload)
print(json.dumps(out))
