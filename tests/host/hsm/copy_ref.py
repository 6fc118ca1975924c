# SPDX-License-Identifier: GPL-2.0
# The reference client's side of tests/host/hsm/copy.c: PyKCS11 looks at
# copies between two SoftHSM tokens (run with /usr/bin/python3 and the
# tests' SOFTHSM2_CONF).  Keys are compared without reading them (they are
# sensitive): each token wraps its key with CKM_AES_KEY_WRAP under the same
# non-sensitive check key, planted in both by "check"; equal blobs are the
# same key (multi-token design, fact M2).  Prints 1 (yes) or 0 and why.
#   check TOKEN...                    plant the check key
#   same A B LABEL IDHEX KT LEN [HEX] B's object LABEL is a copy of A's:
#                                     its attributes are a key version's, its
#                                     KW blob is A's (and RFC 3394 of HEX)
#   pair TOKEN                        hsmkey:pair's halves: the private key
#                                     unwraps only and cannot be wrapped
#   shared TOKEN LABEL                the HMAC key LABEL (hsmkey:record, root)
#                                     has make_hmac_key()'s attributes
#   clean TOKEN [ANY]                 no staged copy is left, and (unless ANY:
#                                     other tests planted objects) every object
#                                     is one of hsmkey's or the tests'
#   edwrap TOKEN                      SoftHSM refuses to wrap an extractable
#                                     Ed25519 private key with AES-KWP
import sys
import PyKCS11 as P
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "1234"
CHECK = bytes(range(32))
lib = P.PyKCS11Lib()
lib.load(MODULE)


def session(label):
    slot = [x for x in lib.getSlotList(tokenPresent=True)
            if lib.getTokenInfo(x).label.strip() == label][0]
    s = lib.openSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
    s.login(PIN)
    return s


def one(s, label, cls=P.CKO_SECRET_KEY):
    o = s.findObjects([(P.CKA_CLASS, cls), (P.CKA_LABEL, label)])
    if len(o) != 1:
        raise SystemExit("0 %d objects labelled %s" % (len(o), label))
    return o[0]


def kw(s, key):
    return bytes(s.wrapKey(one(s, "copytest:check"), key, P.Mechanism(P.CKM_AES_KEY_WRAP)))


def check(tokens):
    for t in tokens:
        session(t).createObject([
            (P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
            (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_LABEL, "copytest:check"),
            (P.CKA_VALUE, CHECK), (P.CKA_SENSITIVE, False), (P.CKA_EXTRACTABLE, True),
            (P.CKA_WRAP, True), (P.CKA_UNWRAP, False)])
    print(1)


def same(a, b, label, idhex, kt, length, value=None):
    sa, sb = session(a), session(b)
    ka, kb = one(sa, label), one(sb, label)
    want = [P.CKO_SECRET_KEY, kt, bytes.fromhex(idhex), True, True, True, True,
            False, False, False, False, False]
    got = sb.getAttributeValue(kb, [
        P.CKA_CLASS, P.CKA_KEY_TYPE, P.CKA_ID, P.CKA_SENSITIVE, P.CKA_EXTRACTABLE,
        P.CKA_TOKEN, P.CKA_PRIVATE, P.CKA_ENCRYPT, P.CKA_DECRYPT, P.CKA_WRAP,
        P.CKA_UNWRAP, P.CKA_DERIVE])
    got[2] = bytes(got[2])
    if got != want:
        raise SystemExit("0 attributes of %s in %s: %s" % (label, b, got))
    wa, wb = kw(sa, ka), kw(sb, kb)
    if wa != wb or len(wb) != length + 8:
        raise SystemExit("0 KW blobs differ (%d, %d bytes)" % (len(wa), len(wb)))
    if value and wb != aes_key_wrap(CHECK, bytes.fromhex(value)):
        raise SystemExit("0 the KW blob is not RFC 3394 of the known key")
    print(1)


def pair(t):
    s = session(t)
    priv = one(s, "hsmkey:pair", P.CKO_PRIVATE_KEY)
    pub = one(s, "hsmkey:pair", P.CKO_PUBLIC_KEY)
    a = s.getAttributeValue(priv, [P.CKA_SENSITIVE, P.CKA_EXTRACTABLE, P.CKA_UNWRAP,
                                   P.CKA_DECRYPT, P.CKA_SIGN, P.CKA_TOKEN,
                                   P.CKA_NEVER_EXTRACTABLE])
    b = s.getAttributeValue(pub, [P.CKA_WRAP, P.CKA_ENCRYPT, P.CKA_VERIFY, P.CKA_TOKEN])
    if a != [True, False, True, False, False, True, True] or b != [True, False, False, True]:
        raise SystemExit("0 hsmkey:pair attributes %s %s" % (a, b))
    try:
        kw(s, priv)
        raise SystemExit("0 the private key was wrapped")
    except P.PyKCS11Error as e:
        if e.value != P.CKR_KEY_UNEXTRACTABLE:
            raise SystemExit("0 wrapping the private key: %s" % e)
    print(1)


def shared(t, label):
    s = session(t)
    k = one(s, label)
    want = [P.CKO_SECRET_KEY, P.CKK_GENERIC_SECRET, True, True, True, True, True, True,
            False, False, False, False, False]
    got = s.getAttributeValue(k, [
        P.CKA_CLASS, P.CKA_KEY_TYPE, P.CKA_TOKEN, P.CKA_PRIVATE, P.CKA_SENSITIVE,
        P.CKA_EXTRACTABLE, P.CKA_SIGN, P.CKA_VERIFY, P.CKA_ENCRYPT, P.CKA_DECRYPT,
        P.CKA_WRAP, P.CKA_UNWRAP, P.CKA_DERIVE])
    if got != want:
        raise SystemExit("0 attributes of %s in %s: %s" % (label, t, got))
    print(1)


def clean(t, any_label):
    s = session(t)
    for o in s.findObjects([]):
        v = s.getAttributeValue(o, [P.CKA_LABEL])[0] or ""
        label = v if isinstance(v, str) else bytes(v).decode()
        if label == "hsmkey:copy-in" or \
           not (any_label or label.startswith(("hsmkey:", "copytest:"))):
            raise SystemExit("0 object %r in %s" % (label, t))
    print(1)


def edwrap(t):
    s = session(t)
    kek = s.generateKey([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
                         (P.CKA_VALUE_LEN, 32), (P.CKA_TOKEN, False), (P.CKA_WRAP, True)],
                        P.Mechanism(P.CKM_AES_KEY_GEN))
    ed = b"\x06\x03\x2b\x65\x70"
    pub, priv = s.generateKeyPair(
        [(P.CKA_TOKEN, False), (P.CKA_EC_PARAMS, ed), (P.CKA_VERIFY, True)],
        [(P.CKA_TOKEN, False), (P.CKA_SENSITIVE, True), (P.CKA_EXTRACTABLE, True),
         (P.CKA_SIGN, True)], P.Mechanism(P.CKM_EC_EDWARDS_KEY_PAIR_GEN))
    try:
        s.wrapKey(kek, priv, P.Mechanism(P.CKM_AES_KEY_WRAP_PAD))
        raise SystemExit("0 SoftHSM wrapped an Ed25519 private key")
    except P.PyKCS11Error as e:
        if e.value != P.CKR_KEY_NOT_WRAPPABLE:
            raise SystemExit("0 wrapping an Ed25519 private key: %s" % e)
    print(1)


cmd = sys.argv[1]
if cmd == "check":
    check(sys.argv[2:])
elif cmd == "same":
    kt = {"aes": P.CKK_AES, "generic": P.CKK_GENERIC_SECRET}[sys.argv[6]]
    same(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], kt, int(sys.argv[7]),
         sys.argv[8] if len(sys.argv) > 8 else None)
elif cmd == "pair":
    pair(sys.argv[2])
elif cmd == "shared":
    shared(sys.argv[2], sys.argv[3])
elif cmd == "clean":
    clean(sys.argv[2], len(sys.argv) > 3)
elif cmd == "edwrap":
    edwrap(sys.argv[2])
else:
    raise SystemExit("0 unknown command " + cmd)
