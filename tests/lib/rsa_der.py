#!/usr/bin/python3
"""rsa_der.py HOW IN.der OUT.der: an RSA private key (PKCS #1 DER, as
`openssl rsa -traditional -outform DER` writes) rewritten as HOW says, to
test what hsmkeyd's own reader (daemon/identity_file.c) refuses or takes:

  swapped    p and q exchanged, dp, dq and qinv recomputed: a valid key
  n-forged   the modulus changed (no longer p * q)
  dq-forged  dq changed (no longer e^-1 mod q - 1)
  composite  a key whose p is the product of two primes, every other value
             consistent with it (it decrypts nothing: only a primality test
             tells)
  close      p and q consecutive primes (the modulus factors from its root)
  p8v2       PKCS#8 v2 (RFC 5958) with the public key (RSAPublicKey) after it
  p8v2-other the same with another modulus as its public key

The result is written with Python's integers and a DER encoder of its own,
independent of the reader under test.  Primes come from `openssl prime`."""
import subprocess
import sys


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_int(v):
    b = v.to_bytes(v.bit_length() // 8 + 1, "big")   # a leading 0 where the top bit is set
    while len(b) > 1 and b[0] == 0 and not b[1] & 0x80:
        b = b[1:]
    return b"\x02" + der_len(len(b)) + b


def der_seq(body):
    return b"\x30" + der_len(len(body)) + body


def der_tlv(tag, body):
    return bytes([tag]) + der_len(len(body)) + body


def pkcs8_v2(key, n, e):
    """OneAsymmetricKey v2: rsaEncryption with NULL, the key, [1] the public key."""
    alg = der_seq(der_tlv(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
    pub = der_seq(der_int(n) + der_int(e))
    return der_seq(der_int(1) + alg + der_tlv(0x04, key) + der_tlv(0x81, b"\x00" + pub))


def read_ints(data):
    """The INTEGERs of the outer SEQUENCE."""
    def length(i):
        n = data[i]
        if n < 0x80:
            return n, i + 1
        k = n & 0x7F
        return int.from_bytes(data[i + 1:i + 1 + k], "big"), i + 1 + k

    assert data[0] == 0x30
    _, i = length(1)
    out = []
    while i < len(data):
        assert data[i] == 0x02
        n, j = length(i + 1)
        out.append(int.from_bytes(data[j:j + n], "big"))
        i = j + n
    return out


def write_key(n, e, d, p, q, dp, dq, qinv):
    return der_seq(b"".join(der_int(v) for v in (0, n, e, d, p, q, dp, dq, qinv)))


def consistent(p, q, e):
    """Every value of the key of primes p, q (in that order) and exponent e."""
    from math import gcd
    lam = (p - 1) * (q - 1) // gcd(p - 1, q - 1)
    return write_key(p * q, e, pow(e, -1, lam), p, q, pow(e, -1, p - 1), pow(e, -1, q - 1),
                     pow(q, -1, p))


def prime(bits):
    out = subprocess.run(["openssl", "prime", "-generate", "-bits", str(bits)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def is_prime(n):
    return subprocess.run(["openssl", "prime", str(n)], capture_output=True,
                          text=True).stdout.strip().endswith("is prime")


def main():
    how, src, dst = sys.argv[1:4]
    data = open(src, "rb").read()
    _, n, e, d, p, q, dp, dq, qinv = read_ints(data)
    half = n.bit_length() // 2
    if how == "swapped":
        out = consistent(q, p, e)
    elif how == "p8v2":
        out = pkcs8_v2(data, n, e)
    elif how == "p8v2-other":
        out = pkcs8_v2(data, n + 2, e)
    elif how == "n-forged":
        out = write_key(n + 2, e, d, p, q, dp, dq, qinv)
    elif how == "dq-forged":
        out = write_key(n, e, d, p, q, dp, dq + 2, qinv)
    elif how == "composite":
        while True:
            a, b, q2 = prime(half // 2), prime(half // 2), prime(half)
            p2 = a * b
            if (p2 * q2).bit_length() == 2 * half and p2.bit_length() <= half and \
                    (p2 - 1) % e and (q2 - 1) % e:
                break
        out = consistent(p2, q2, e)
    elif how == "close":
        while True:
            p2 = prime(half) | (3 << (half - 2))    # top bits set: n keeps its size
            if not is_prime(p2):
                continue
            q2 = p2 + 2
            while not is_prime(q2):
                q2 += 2
            if (p2 - 1) % e and (q2 - 1) % e and q2.bit_length() == half:
                break
        out = consistent(q2, p2, e)
    else:
        sys.exit("rsa_der.py: unknown HOW " + how)
    open(dst, "wb").write(out)


main()
