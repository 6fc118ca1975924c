#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
The reference KMIP client of the tests: PyKMIP's own (kmip.pie), an
implementation independent of hsmkey's, against the server of
tests/lib/kmip.sh.

  ref.py DIR PORT create NAME        -> the new key's UID
  ref.py DIR PORT register NAME HEX  -> its UID (an AES key; a KEK if NAME ends in "kek")
  ref.py DIR PORT register-mac NAME HEX -> its UID (an HMAC-SHA256 key)
  ref.py DIR PORT register-private NAME ALG BITS DER-FILE -> its UID (a private key,
                                     PKCS #8; ALG: RSA, ECDSA, ED25519; left pre-active)
  ref.py DIR PORT get UID            -> the key's bytes, hex
  ref.py DIR PORT state UID          -> its State's name
  ref.py DIR PORT count              -> how many objects the server has
  ref.py DIR PORT locate NAME        -> the UIDs of the objects named NAME
  ref.py DIR PORT attrs UID          -> "type=T alg=A bits=N state=S name=NAME"
  ref.py DIR PORT spent UID          -> the data of its hsmkey-spent Application Specific
                                     Information ("requests=N bytes=N"), or "none"
  ref.py DIR PORT version UID        -> the same of its hsmkey-version one
                                     ("version=N[ replaces=UID]"), or "none"
  ref.py DIR PORT set-spent UID DATA -> that instance's data made DATA (ModifyAttribute)
  ref.py DIR PORT activate|destroy|revoke UID
  ref.py wrap KEK_HEX KEY_HEX        -> RFC 3394 of KEY under KEK, hex
"""
import sys
import warnings

warnings.simplefilter("ignore")

from cryptography.hazmat.primitives import keywrap  # noqa: E402
from kmip import enums  # noqa: E402
from kmip.pie import exceptions  # noqa: E402
from kmip.pie import client as pie_client, objects  # noqa: E402


def connect(d, port):
    c = pie_client.ProxyKmipClient(hostname="localhost", port=int(port), cert=f"{d}/client.pem",
                                   key=f"{d}/client.key", ca=f"{d}/ca.pem", config_file="/dev/null")
    c.open()
    return c


def main(a):
    if a[0] == "wrap":
        print(keywrap.aes_key_wrap(bytes.fromhex(a[1]), bytes.fromhex(a[2])).hex())
        return
    c = connect(a[0], a[1])
    op, args = a[2], a[3:]
    usage = [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]
    if op == "create":
        print(c.create(enums.CryptographicAlgorithm.AES, 256, name=args[0],
                       cryptographic_usage_mask=usage))
    elif op == "register":
        key = bytes.fromhex(args[1])
        if args[0].endswith("kek"):
            usage = [enums.CryptographicUsageMask.WRAP_KEY, enums.CryptographicUsageMask.UNWRAP_KEY]
        print(c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 8 * len(key),
                                              key, usage, name=args[0])))
    elif op == "register-mac":
        key = bytes.fromhex(args[1])
        usage = [enums.CryptographicUsageMask.MAC_GENERATE, enums.CryptographicUsageMask.MAC_VERIFY]
        print(c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.HMAC_SHA256,
                                              8 * len(key), key, usage, name=args[0])))
    elif op == "register-private":
        der = open(args[3], "rb").read()
        print(c.register(objects.PrivateKey(enums.CryptographicAlgorithm[args[1]], int(args[2]), der,
                                            enums.KeyFormatType.PKCS_8,
                                            [enums.CryptographicUsageMask.SIGN], name=args[0])))
    elif op == "get":
        try:
            print(bytes(c.get(args[0]).value).hex())
        except exceptions.KmipOperationFailure as e:
            print(f"refused: {e.reason.name}")
            sys.exit(1)
    elif op == "state":
        attrs = c.get_attributes(args[0], ["State"])[1]
        print(attrs[0].attribute_value.value.name)
    elif op == "count":
        print(len(c.locate()))
    elif op == "locate":
        from kmip.core.factories import attributes as attribute_factory
        f = attribute_factory.AttributeFactory()
        print(" ".join(c.locate(attributes=[f.create_attribute(enums.AttributeType.NAME, args[0])])))
    elif op == "attrs":
        _, attrs = c.get_attributes(args[0], ["Object Type", "Cryptographic Algorithm",
                                              "Cryptographic Length", "State", "Name"])
        a = {x.attribute_name.value: x.attribute_value for x in attrs}
        print(f"type={a['Object Type'].value.name} alg={a['Cryptographic Algorithm'].value.name}"
              f" bits={a['Cryptographic Length'].value} state={a['State'].value.name}"
              f" name={a['Name'].name_value.value}")
    elif op in ("spent", "set-spent", "version"):
        _, attrs = c.get_attributes(args[0], ["Application Specific Information"])
        ns = "hsmkey-version" if op == "version" else "hsmkey-spent"
        ours = [x for x in attrs if x.attribute_value.application_namespace == ns]
        if op in ("spent", "version"):
            print(ours[0].attribute_value.application_data if ours else "none")
        else:
            from kmip.core.factories import attributes as attribute_factory
            f = attribute_factory.AttributeFactory()
            index = ours[0].attribute_index.value if ours[0].attribute_index else 0
            c.modify_attribute(args[0], attribute=f.create_attribute(
                enums.AttributeType.APPLICATION_SPECIFIC_INFORMATION,
                {"application_namespace": "hsmkey-spent", "application_data": args[1]}, index))
    elif op == "activate":
        c.activate(args[0])
    elif op == "destroy":
        c.destroy(args[0])
    elif op == "revoke":
        c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, args[0], "compromised, says a test",
                 compromise_occurrence_date=1700000000)
    c.close()


if __name__ == "__main__":
    main(sys.argv[1:])
