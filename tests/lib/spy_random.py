#!/usr/bin/python3
"""spy_random.py LOG: the bytes each C_GenerateRandom returned, as OpenSC's
pkcs11-spy logged the calls of a PKCS#11 module (PKCS11SPY_OUTPUT): one line
of lowercase hex per call that returned CKR_OK."""
import re
import sys

HEX = re.compile(r"^\s+[0-9a-fA-F]{8}  ((?:[0-9A-F]{2} ){1,16})")
CALL = re.compile(r"^\d+: (C_\w+)")

call, data = None, []
for line in open(sys.argv[1], errors="replace"):
    m = CALL.match(line)
    if m:
        call, data = m.group(1), []
        continue
    if call != "C_GenerateRandom":
        continue
    m = HEX.match(line)
    if m:
        data.append(m.group(1).replace(" ", "").lower())
    elif line.startswith("Returned:"):
        if " CKR_OK" in line:
            print("".join(data))
        call = None
