#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The tests' reference PKCS#11 client, independent of hsmkeyd's own code.

The PKCS#11 backend's claims (a key adopted from the HSM, destruction that
leaves no object, a key the daemon never held) can only be checked by a
client that is not hsmkeyd: this one is PyKCS11 over the same module.  Run
it with /usr/bin/python3 (the python3 on PATH may be a shim without
Debian's python3-pykcs11).

    p11ref.py COMMAND --token LABEL --pin-file F [--module M] ...
      create-secret --label L --type aes|generic --value HEX [--id HEX]
                    [--not-extractable] [--not-sensitive]
                            a token key with a known value; prints its
                            handle and CKA_ID
      find --id HEX | --id-prefix HEX | --label L
                            objects and their attributes; exit 1: none
                            (--id-prefix: every version of a key, whose
                            CKA_ID is the key's id and a be32 version)
      destroy --id HEX | --id-prefix HEX | --label L  every match; exit 1: none
      list                        every object
      value --label L             CKA_VALUE of a non-sensitive key
      wrap-under --label L --kek-label K [--unwrap]
                            wrap L under K (AES-KW, RFC 3394), K a readable
                            AES-256 key made here if the token lacks it, so
                            a test learns a key hsmkeyd generated without
                            hsmkeyd seeing it; prints "kek HEX", "blob HEX",
                            and with --unwrap "key HEX" (unwrapped by
                            OpenSSL)
      mechanisms                  the token's mechanisms and their flags

Exit status: 0 done, 1 nothing matched or the token refused, 2 usage or
setup (module, token, PIN).
"""
import argparse
import os
import subprocess
import sys

import PyKCS11
from PyKCS11 import LowLevel

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"

# The attributes find and list show, in order.
SHOWN = [
    ("class", PyKCS11.CKA_CLASS), ("key_type", PyKCS11.CKA_KEY_TYPE),
    ("label", PyKCS11.CKA_LABEL), ("id", PyKCS11.CKA_ID),
    ("value_len", PyKCS11.CKA_VALUE_LEN), ("token", PyKCS11.CKA_TOKEN),
    ("private", PyKCS11.CKA_PRIVATE), ("sensitive", PyKCS11.CKA_SENSITIVE),
    ("extractable", PyKCS11.CKA_EXTRACTABLE),
    ("always_sensitive", PyKCS11.CKA_ALWAYS_SENSITIVE),
    ("never_extractable", PyKCS11.CKA_NEVER_EXTRACTABLE),
    ("wrap_with_trusted", PyKCS11.CKA_WRAP_WITH_TRUSTED),
    ("modifiable", PyKCS11.CKA_MODIFIABLE),
]
NUMERIC = {"class": PyKCS11.CKO, "key_type": PyKCS11.CKK}


class Refused(Exception):
    """The token said no, or nothing matched: exit 1."""


class Setup(Exception):
    """Module, token or PIN unusable: exit 2."""


def rv_name(e):
    return PyKCS11.CKR.get(e.value, hex(e.value)) if isinstance(e, PyKCS11.PyKCS11Error) \
        else str(e)


def open_session(a):
    lib = PyKCS11.PyKCS11Lib()
    try:
        lib.load(a.module)
    except PyKCS11.PyKCS11Error as e:
        raise Setup(f"cannot load PKCS#11 module {a.module}: {e}")
    slots = [s for s in lib.getSlotList(tokenPresent=True)
             if lib.getTokenInfo(s).label.strip() == a.token]
    if len(slots) != 1:
        raise Setup(f"{len(slots)} tokens labelled '{a.token}' in {a.module} (need one)")
    try:
        with open(a.pin_file, "rb") as f:
            pin = f.read().rstrip(b"\r\n").decode()
    except OSError as e:
        raise Setup(f"cannot read the PIN file: {e}")
    s = lib.openSession(slots[0], PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    try:
        s.login(pin)
    except PyKCS11.PyKCS11Error as e:
        if e.value != PyKCS11.CKR_USER_ALREADY_LOGGED_IN:
            raise Setup(f"login to token '{a.token}' refused: {rv_name(e)}")
    return lib, slots[0], s


def attr(s, h, t):
    """One attribute as bytes; None when the token will not tell (sensitive,
    not an attribute of this object)."""
    tmpl = LowLevel.ckattrlist(1)
    tmpl[0].SetType(t)
    if s.lib.C_GetAttributeValue(s.session, h, tmpl) != PyKCS11.CKR_OK:
        return None
    if s.lib.C_GetAttributeValue(s.session, h, tmpl) != PyKCS11.CKR_OK:
        return None
    return bytes(tmpl[0].GetBin())


def shown(name, raw):
    if raw is None:
        return "-"
    if name in ("label",):
        return raw.decode(errors="replace")
    if name == "id":
        return raw.hex() or "-"
    if len(raw) == 1:
        return "true" if raw[0] else "false"
    n = int.from_bytes(raw, sys.byteorder)
    return NUMERIC[name].get(n, hex(n)) if name in NUMERIC else str(n)


def describe(s, h):
    return f"handle {h.value()} " + " ".join(f"{n}={shown(n, attr(s, h, t))}" for n, t in SHOWN)


def matching(s, a):
    if a.id is not None:
        return s.findObjects([(PyKCS11.CKA_ID, bytes.fromhex(a.id))])
    if a.id_prefix is not None:
        # PKCS#11 finds only exact values: filter every object here.
        prefix = bytes.fromhex(a.id_prefix)
        return [h for h in s.findObjects()
                if (attr(s, h, PyKCS11.CKA_ID) or b"").startswith(prefix)]
    return s.findObjects([(PyKCS11.CKA_LABEL, a.label)])


def one(s, label, what="key"):
    found = s.findObjects([(PyKCS11.CKA_LABEL, label)])
    if len(found) != 1:
        raise Refused(f"{len(found)} objects labelled '{label}' (need one {what})")
    return found[0]


def cmd_create_secret(a, s):
    value = bytes.fromhex(a.value)
    if a.type == "aes":
        if len(value) not in (16, 24, 32):
            raise Refused(f"an AES key is 16, 24 or 32 bytes, not {len(value)}")
        kt = PyKCS11.CKK_AES
    else:
        kt = PyKCS11.CKK_GENERIC_SECRET
    kid = bytes.fromhex(a.id) if a.id is not None else os.urandom(16)
    h = s.createObject([
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, kt),
        (PyKCS11.CKA_VALUE, value), (PyKCS11.CKA_LABEL, a.label), (PyKCS11.CKA_ID, kid),
        (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_PRIVATE, True),
        (PyKCS11.CKA_SENSITIVE, not a.not_sensitive),
        (PyKCS11.CKA_EXTRACTABLE, not a.not_extractable),
    ])
    print(f"handle {h.value()} id {kid.hex()}")


def cmd_find(a, s):
    found = matching(s, a)
    if not found:
        raise Refused("no object matches")
    for h in found:
        print(describe(s, h))


def cmd_destroy(a, s):
    found = matching(s, a)
    if not found:
        raise Refused("no object matches")
    for h in found:
        s.destroyObject(h)
    print(f"destroyed {len(found)}")


def cmd_list(a, s):
    for h in s.findObjects():
        print(describe(s, h))


def cmd_value(a, s):
    h = one(s, a.label)
    v = attr(s, h, PyKCS11.CKA_VALUE)
    if v is None:
        raise Refused(f"'{a.label}': the token does not reveal CKA_VALUE (sensitive "
                      "or not extractable)")
    print(v.hex())


def kek_for(s, label):
    found = s.findObjects([(PyKCS11.CKA_LABEL, label)])
    if len(found) > 1:
        raise Refused(f"{len(found)} objects labelled '{label}'")
    if found:
        return found[0]
    # A session object: the test's KEK lives only as long as this process.
    return s.generateKey([
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
        (PyKCS11.CKA_VALUE_LEN, 32), (PyKCS11.CKA_LABEL, label), (PyKCS11.CKA_TOKEN, False),
        (PyKCS11.CKA_SENSITIVE, False), (PyKCS11.CKA_EXTRACTABLE, True),
        (PyKCS11.CKA_WRAP, True),
    ], PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_GEN))


def cmd_wrap_under(a, s):
    key = one(s, a.label)
    kek = kek_for(s, a.kek_label)
    kv = attr(s, kek, PyKCS11.CKA_VALUE)
    if kv is None or len(kv) != 32:
        raise Refused(f"KEK '{a.kek_label}' is not a readable AES-256 key")
    blob = bytes(s.wrapKey(kek, key, PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_WRAP)))
    print(f"kek {kv.hex()}")
    print(f"blob {blob.hex()}")
    if a.unwrap:
        r = subprocess.run(["openssl", "enc", "-d", "-id-aes256-wrap", "-K", kv.hex(),
                            "-iv", "A6A6A6A6A6A6A6A6"], input=blob, capture_output=True)
        if r.returncode != 0 or len(r.stdout) != len(blob) - 8:
            raise Refused("OpenSSL could not unwrap the blob: "
                          + r.stderr.decode(errors="replace").strip())
        print(f"key {r.stdout.hex()}")


# The mechanism flags worth showing, in this order.
MECH_FLAGS = [PyKCS11.CKF_ENCRYPT, PyKCS11.CKF_DECRYPT, PyKCS11.CKF_DIGEST, PyKCS11.CKF_SIGN,
              PyKCS11.CKF_VERIFY, PyKCS11.CKF_GENERATE, PyKCS11.CKF_GENERATE_KEY_PAIR,
              PyKCS11.CKF_WRAP, PyKCS11.CKF_UNWRAP, PyKCS11.CKF_DERIVE]


def cmd_mechanisms(a, s, lib, slot):
    for m in lib.getMechanismList(slot):
        i = lib.getMechanismInfo(slot, m)
        flags = [PyKCS11.CKF[f][4:].lower() for f in MECH_FLAGS if i.flags & f]
        print(f"{m} {i.ulMinKeySize}..{i.ulMaxKeySize} {','.join(flags) or '-'}")


def parse(argv):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--module", default=SOFTHSM)
    common.add_argument("--token", required=True, help="token label")
    common.add_argument("--pin-file", required=True, help="file holding the user PIN")
    p = argparse.ArgumentParser(prog="p11ref.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create-secret", parents=[common])
    c.add_argument("--label", required=True)
    c.add_argument("--type", choices=("aes", "generic"), required=True)
    c.add_argument("--value", required=True, help="the key, hex")
    c.add_argument("--id", help="CKA_ID, hex (default: 16 random bytes)")
    c.add_argument("--not-extractable", action="store_true")
    c.add_argument("--not-sensitive", action="store_true")
    for name in ("find", "destroy"):
        f = sub.add_parser(name, parents=[common])
        g = f.add_mutually_exclusive_group(required=True)
        g.add_argument("--id")
        g.add_argument("--id-prefix")
        g.add_argument("--label")
    sub.add_parser("list", parents=[common])
    v = sub.add_parser("value", parents=[common])
    v.add_argument("--label", required=True)
    w = sub.add_parser("wrap-under", parents=[common])
    w.add_argument("--label", required=True)
    w.add_argument("--kek-label", required=True)
    w.add_argument("--unwrap", action="store_true")
    sub.add_parser("mechanisms", parents=[common])
    a = p.parse_args(argv)
    for h in ("value", "id", "id_prefix"):
        x = getattr(a, h, None)
        if x is not None:
            try:
                bytes.fromhex(x)
            except ValueError:
                p.error(f"--{h.replace('_', '-')}: not hex")
    return a


def main(argv):
    a = parse(argv)
    try:
        lib, slot, s = open_session(a)
        if a.cmd == "mechanisms":
            cmd_mechanisms(a, s, lib, slot)
        else:
            globals()["cmd_" + a.cmd.replace("-", "_")](a, s)
    except Setup as e:
        print(f"p11ref: {e}", file=sys.stderr)
        return 2
    except Refused as e:
        print(f"p11ref: {a.cmd}: {e}", file=sys.stderr)
        return 1
    except PyKCS11.PyKCS11Error as e:
        print(f"p11ref: {a.cmd}: the token refused: {rv_name(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
