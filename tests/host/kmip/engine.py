#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
PyKMIP's side of the TTLV cross-check (tests/host/test_kmip_ttlv.sh).

For each DIR/NN-NAME.req that hsmkey's encoder wrote (build/tests/ttlv_tool
requests), in order: PyKMIP decodes it and its fields are checked against
what ttlv_tool put there; PyKMIP's server engine (the code pykmip-server
runs, without its TLS) answers it, in a fresh database of its own, and the
answer goes to DIR/NN-NAME.resp.  Last, the values PyKMIP itself put in each
answer are printed in the lines `ttlv_tool responses` prints from hsmkey's
parser, so the two can be compared line for line.

Prints "ok" lines for the request checks to stderr, the expected lines to
stdout; exits 1 on the first request that PyKMIP reads otherwise.
"""
import copy
import glob
import logging
import os
import re
import sys
import warnings

warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)

from cryptography.hazmat.primitives import keywrap  # noqa: E402
from kmip.core import enums, utils  # noqa: E402
from kmip.core import policy as operation_policy  # noqa: E402
from kmip.core.messages import messages  # noqa: E402
from kmip.services.server import engine as kmip_engine  # noqa: E402

KEY_B = bytes.fromhex("00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210")
KEK = bytes(range(32))
V12 = enums.KMIPVersion.KMIP_1_2
ERRNO = {enums.ResultReason.ITEM_NOT_FOUND: 2}


def fail(name, what):
    print(f"{name}: {what}", file=sys.stderr)
    sys.exit(1)


def attrs_of(template):
    """A Template-Attribute's attributes as {name: value}."""
    return {a.attribute_name.value: a.attribute_value for a in template.attributes}


def check_key_attrs(name, t, key_name, usage, group, alg=enums.CryptographicAlgorithm.AES):
    a = attrs_of(t)
    want = {
        "Name": key_name,
        "Cryptographic Algorithm": alg,
        "Cryptographic Length": 256,
        "Cryptographic Usage Mask": usage,
    }
    got = {
        "Name": a["Name"].name_value.value,
        "Cryptographic Algorithm": a["Cryptographic Algorithm"].value,
        "Cryptographic Length": a["Cryptographic Length"].value,
        "Cryptographic Usage Mask": a["Cryptographic Usage Mask"].value,
    }
    if group:
        want["Object Group"] = group
        got["Object Group"] = a["Object Group"].value
    elif "Object Group" in a:
        fail(name, "an Object Group it should not have")
    if got != want:
        fail(name, f"attributes {got}, not {want}")


SPENT_ATTR = "Application Specific Information"
SPENT_NS = "hsmkey-spent"


def spent_of(attrs):
    """The spent count hsmkey reads from Attributes: "index:requests:bytes", or "unreadable".

    An index left out is 0 (KMIP 1.x); a count at index 0 that another
    instance claims too is unreadable (which one a write would hit is unknown).
    """
    first, q, b, zero, spoiled = None, 0, 0, 0, False
    for a in attrs:
        if a.attribute_name.value != SPENT_ATTR:
            continue
        i = a.attribute_index.value if a.attribute_index is not None else 0
        zero += i == 0
        v = a.attribute_value
        if v.application_namespace != SPENT_NS or spoiled:
            continue
        m = re.fullmatch(r"requests=([0-9]+) bytes=([0-9]+)", v.application_data or "")
        if i < 0 or not m or int(m[1]) >= 1 << 64 or int(m[2]) >= 1 << 64:
            spoiled = True
            continue
        if first is None:
            first = i
        q, b = max(q, int(m[1])), max(b, int(m[2]))
    if spoiled or (first == 0 and zero > 1):
        return "unreadable"
    return "-1:0:0" if first is None else f"{first}:{q}:{b}"


def version_of(attrs):
    """Which version hsmkey reads from Attributes: "N:UID", "N:" or "0:" (none, or not in form)."""
    for a in attrs:
        v = a.attribute_value
        if a.attribute_name.value != SPENT_ATTR or v.application_namespace != "hsmkey-version":
            continue
        m = re.fullmatch(r"version=([1-9][0-9]*)(?: replaces=([^ ]{1,127}))?",
                         v.application_data or "")
        if m and int(m[1]) < 1 << 32:
            return f"{m[1]}:{m[2] or ''}"
    return "0:"


def check_version_template(name, t, want):
    """Whether a Template-Attribute says the version @want is (or nothing, with None)."""
    got = [(a.attribute_index.value if a.attribute_index else None, a.attribute_value)
           for a in t.attributes if a.attribute_name.value == SPENT_ATTR
           and a.attribute_value.application_namespace == "hsmkey-version"]
    if want and [(i, v.application_data) for i, v in got] != [(1, want)]:
        fail(name, f"the template's version is {[(i, v.application_data) for i, v in got]}")
    if not want and got:
        fail(name, "a version it should not have")


def check_spent_template(name, t, want):
    """Whether a Template-Attribute carries a spent count of nothing (or none)."""
    got = [a.attribute_value for a in t.attributes if a.attribute_name.value == SPENT_ATTR
           and a.attribute_value.application_namespace != "hsmkey-version"]
    if want and [(v.application_namespace, v.application_data) for v in got] != [
            (SPENT_NS, "requests=0 bytes=0")]:
        fail(name, "no spent count of nothing in the template")
    if not want and got:
        fail(name, "a spent count it should not have")


def registered(op, p, obj_type, fmt, alg, want):
    """Whether a Register carries @want as a 256-bit @alg key of @obj_type in @fmt."""
    kb = p.managed_object.key_block
    return (op == enums.Operation.REGISTER and p.object_type == obj_type
            and kb.key_format_type.value == fmt
            and bytes(kb.key_value.key_material.value) == want
            and kb.cryptographic_algorithm.value == alg
            and kb.cryptographic_length.value == 256)


def check_request(name, req):
    """What hsmkey's encoder put in each request, as PyKMIP reads it."""
    h = req.request_header
    if (h.protocol_version.major, h.protocol_version.minor) != (1, 2):
        fail(name, "not KMIP 1.2")
    if h.batch_count.value != len(req.batch_items) or h.maximum_response_size.value != 1 << 20:
        fail(name, "header's batch count or maximum response size")
    ids = {bytes(i.unique_batch_item_id.value) for i in req.batch_items}
    if len(ids) != len(req.batch_items):
        fail(name, "batch item IDs not unique")
    item = req.batch_items[0]
    op, p = item.operation.value, item.request_payload
    E = enums
    usage_ab = (E.CryptographicUsageMask.ENCRYPT.value | E.CryptographicUsageMask.DECRYPT.value
                | E.CryptographicUsageMask.EXPORT.value)
    if name == "01-discover":
        got = [(v.major, v.minor) for v in p.protocol_versions]
        ok = op == E.Operation.DISCOVER_VERSIONS and got == [(1, 4), (1, 3), (1, 2)]
    elif name == "02-query":
        ok = op == E.Operation.QUERY and p.query_functions == [
            E.QueryFunction.QUERY_OPERATIONS, E.QueryFunction.QUERY_OBJECTS]
    elif name == "03-create":
        ok = op == E.Operation.CREATE and p.object_type == E.ObjectType.SYMMETRIC_KEY
        check_key_attrs(name, p.template_attribute, "hsmkey-a", usage_ab, "hsmkey-test")
        check_spent_template(name, p.template_attribute, True)
        check_version_template(name, p.template_attribute, "version=1")
    elif name in ("04-register", "05-register-kek"):
        ok = registered(op, p, E.ObjectType.SYMMETRIC_KEY, E.KeyFormatType.RAW,
                        E.CryptographicAlgorithm.AES, KEY_B if name == "04-register" else KEK)
        check_spent_template(name, p.template_attribute, name == "04-register")
        check_version_template(name, p.template_attribute,
                               "version=2 replaces=1" if name == "04-register" else None)
        if name == "04-register":
            check_key_attrs(name, p.template_attribute, "hsmkey-b", usage_ab, "hsmkey-test")
        else:
            check_key_attrs(name, p.template_attribute, "hsmkey-kek",
                            E.CryptographicUsageMask.WRAP_KEY.value
                            | E.CryptographicUsageMask.UNWRAP_KEY.value, None)
    elif name == "08-get-wrapped":
        s = p.key_wrapping_specification
        info = s.encryption_key_information
        ok = (op == E.Operation.GET and p.unique_identifier == "2"
              and s.wrapping_method == E.WrappingMethod.ENCRYPT
              and info.unique_identifier == "3"
              and info.cryptographic_parameters.block_cipher_mode == E.BlockCipherMode.NIST_KEY_WRAP
              and s.encoding_option == E.EncodingOption.NO_ENCODING)
    elif name == "09a-modify-spent":
        a = p.attribute
        v = a.attribute_value
        ok = (op == E.Operation.MODIFY_ATTRIBUTE and p.unique_identifier == "1"
              and a.attribute_name.value == SPENT_ATTR and a.attribute_index.value == 0
              and v.application_namespace == SPENT_NS
              and v.application_data == "requests=4294967296 bytes=18446744073709551615")
    elif name == "10-get-some-attributes":
        ok = (op == E.Operation.GET_ATTRIBUTES and p.unique_identifier == "1"
              and p.attribute_names == ["State", "Name", "Cryptographic Length"])
    elif name == "11-locate":
        a = p.attributes
        ok = (op == E.Operation.LOCATE and p.maximum_items == 10 and len(a) == 1
              and a[0].attribute_value.name_value.value == "hsmkey-b")
    elif name == "14-revoke":
        r = p.revocation_reason
        ok = (op == E.Operation.REVOKE and p.unique_identifier.value == "1"
              and r.revocation_code.value == E.RevocationReasonCode.KEY_COMPROMISE
              and r.revocation_message.value == "lost with a laptop"
              and p.compromise_occurrence_date.value == 1700000000)
    elif name == "20-register-mac":
        mac = E.CryptographicAlgorithm.HMAC_SHA256
        ok = registered(op, p, E.ObjectType.SYMMETRIC_KEY, E.KeyFormatType.RAW, mac, KEY_B)
        check_key_attrs(name, p.template_attribute, "hsmkey-mac",
                        E.CryptographicUsageMask.MAC_GENERATE.value
                        | E.CryptographicUsageMask.MAC_VERIFY.value
                        | E.CryptographicUsageMask.EXPORT.value, "hsmkey-test", mac)
    elif name == "21-register-private":
        ecdsa = E.CryptographicAlgorithm.ECDSA
        ok = registered(op, p, E.ObjectType.PRIVATE_KEY, E.KeyFormatType.PKCS_8, ecdsa, KEY_B)
        check_key_attrs(name, p.template_attribute, "hsmkey-private",
                        E.CryptographicUsageMask.SIGN.value
                        | E.CryptographicUsageMask.EXPORT.value, "hsmkey-test", ecdsa)
    elif name == "19-batch":
        ok = [i.operation.value for i in req.batch_items] == [
            E.Operation.GET_ATTRIBUTES, E.Operation.GET]
    else:
        ok = True
    if not ok:
        fail(name, "PyKMIP reads the request otherwise")
    print(f"ok {name}", file=sys.stderr)


def enum_value(x):
    return 0 if x is None else x.value


def get_line(p):
    kb = p.secret.key_block
    material = bytes(kb.key_value.key_material.value)
    wrapped = kb.key_wrapping_data is not None
    return (f" uid={p.unique_identifier} format={kb.key_format_type.value.value}"
            f" alg={kb.cryptographic_algorithm.value.value} bits={kb.cryptographic_length.value}"
            f" wrapped={int(wrapped)} material={material.hex()}")


def attributes_line(p):
    a = {}
    for attr in p.attributes:
        a.setdefault(attr.attribute_name.value, attr.attribute_value)

    def val(n, conv=lambda v: v.value):
        return conv(a[n]) if n in a else 0
    reason, message = 0, ""
    if "Revocation Reason" in a:
        reason = a["Revocation Reason"].revocation_code.value.value
        message = a["Revocation Reason"].revocation_message.value
    return (f" uid={p.unique_identifier} name={val('Name', lambda v: v.name_value.value) or ''}"
            f" type={val('Object Type', lambda v: v.value.value)}"
            f" state={val('State', lambda v: v.value.value)}"
            f" alg={val('Cryptographic Algorithm', lambda v: v.value.value)}"
            f" bits={val('Cryptographic Length')} usage={val('Cryptographic Usage Mask')}"
            f" activated={val('Activation Date')} deactivated={val('Deactivation Date')}"
            f" reason={reason} message={message} spent={spent_of(p.attributes)}"
            f" version={version_of(p.attributes)}")


def payload_line(op, p):
    O = enums.Operation
    if op in (O.CREATE, O.REGISTER, O.ACTIVATE, O.REVOKE, O.DESTROY, O.MODIFY_ATTRIBUTE):
        uid = p.unique_identifier
        return f" uid={getattr(uid, 'value', uid)}"
    if op == O.GET:
        return get_line(p)
    if op == O.GET_ATTRIBUTES:
        return attributes_line(p)
    if op == O.LOCATE:
        return " uids=" + ",".join(p.unique_identifiers)
    if op == O.DISCOVER_VERSIONS:
        return " versions=" + ",".join(f"{v.major}.{v.minor}" for v in p.protocol_versions)
    return ""


def independent_checks(name, resp):
    """What the server gave, against what it must have given."""
    item = resp.batch_items[0]
    if name == "09b-attributes-spent":
        got = spent_of(item.response_payload.attributes)
        if got != "0:4294967296:18446744073709551615":
            fail(name, f"the spent count read back is {got}")
        if version_of(item.response_payload.attributes) != "1:":
            fail(name, "the version beside the spent count was changed")
    if name == "07-get":
        got = bytes(item.response_payload.secret.key_block.key_value.key_material.value)
        if got != KEY_B:
            fail(name, "the key read back is not the one registered")
    if name == "08-get-wrapped":
        got = bytes(item.response_payload.secret.key_block.key_value.key_material.value)
        if got != keywrap.aes_key_wrap(KEK, KEY_B):
            fail(name, "the wrapped key is not RFC 3394 of the key under the KEK")
    print(f"ok {name} answered", file=sys.stderr)


def main(d):
    engine = kmip_engine.KmipEngine(policies=copy.deepcopy(operation_policy.policies),
                                    database_path=os.path.join(d, "pykmip.db"))
    for path in sorted(glob.glob(os.path.join(d, "*.req"))):
        name = os.path.basename(path)[:-4]
        req = messages.RequestMessage()
        try:
            req.read(utils.BytearrayStream(open(path, "rb").read()), kmip_version=V12)
        except Exception as e:  # PyKMIP refuses it: that is the finding
            fail(name, f"PyKMIP cannot read it: {e}")
        check_request(name, req)
        resp, _, _ = engine.process_request(req, ["hsmkey", None])
        out = utils.BytearrayStream()
        resp.write(out, kmip_version=V12)
        open(path[:-4] + ".resp", "wb").write(out.buffer)
        independent_checks(name, resp)
        pv = resp.response_header.protocol_version
        for i, item in enumerate(resp.batch_items):
            status = item.result_status.value
            reason = enum_value(item.result_reason.value if item.result_reason else None)
            errno = ERRNO.get(item.result_reason.value, 5) if item.result_reason else 0
            line = (f"{name} {i}: version={pv.major}.{pv.minor} op={item.operation.value.value}"
                    f" status={status.value} reason={reason} errno={errno}")
            if status == enums.ResultStatus.SUCCESS and item.response_payload:
                line += payload_line(item.operation.value, item.response_payload)
            print(line)


if __name__ == "__main__":
    main(sys.argv[1])
