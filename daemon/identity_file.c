// SPDX-License-Identifier: GPL-2.0
/*
 * An identity key's private key file, read by hsmkeyd itself (identity.h's
 * identity_parse): PEM ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE
 * KEY"), perhaps after other text, or DER of any (what openssl pkey
 * -outform DER writes).
 *
 * Not OpenSSL's decoders: they copy the private value through buffers they
 * free without wiping (the base64 decoding, the ASN.1 octet strings), where
 * it stayed in hsmkeyd's memory after the import.  Here the DER is walked
 * in place (in the request's buffer, which the control socket wipes) or in
 * one buffer of our own that the PEM decodes into, wiped before it is
 * freed; the private value goes straight into the caller's material.
 *
 * What is read (strict DER: definite, minimal lengths; nothing after the
 * key; unknown algorithms and explicit curve parameters refused):
 *   PKCS#8 (RFC 5958): SEQUENCE { INTEGER 0|1, SEQUENCE { OID, params },
 *     OCTET STRING key, [0] attributes OPTIONAL, [1] publicKey OPTIONAL }
 *   where key is, for id-ecPublicKey with a named curve, an ECPrivateKey;
 *   for Ed25519 (RFC 8410), an OCTET STRING of the 32-byte seed; for
 *   rsaEncryption (parameters NULL or absent), an RSAPrivateKey.
 *   ECPrivateKey (SEC 1): SEQUENCE { INTEGER 1, OCTET STRING d,
 *     [0] { OID curve } OPTIONAL, [1] { BIT STRING publicKey } OPTIONAL }
 *   RSAPrivateKey (PKCS #1, RFC 8017): SEQUENCE { INTEGER 0, n, e, d, p,
 *     q, dp, dq, qinv } (two primes: version 1, more, is refused)
 * A public key in the file must be the private key's (identity_check);
 * an RSA key's values must be the ones its primes give (rsa_from_parts).
 * RSASSA-PSS keys (their own OID) are refused: the signing padding is the
 * caller's choice here, not the key's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "identity.h"
#include "identity_rsa.h"
#include "util.h"

/* A DER element's contents, or what is left of an enclosing one. */
struct der {
	const uint8_t *p;
	size_t len;
};

#define DER_INTEGER	0x02
#define DER_BIT_STRING	0x03
#define DER_OCTET	0x04
#define DER_NULL	0x05
#define DER_OID		0x06
#define DER_SEQUENCE	0x30
#define DER_CTX_CONS(n)	(0xa0 | (n))	/* [n] constructed */
#define DER_CTX_PRIM(n)	(0x80 | (n))	/* [n] primitive */

static const uint8_t oid_ec[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const uint8_t oid_p256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_ed25519[] = { 0x2b, 0x65, 0x70 };
static const uint8_t oid_rsa[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };

/* What a DER key is: what its PEM label or its first fields say. */
enum key_form {
	FORM_PKCS8,
	FORM_SEC1,
	FORM_PKCS1,
};

/* The element's length after its tag; -EINVAL unless definite and minimal. */
static int der_length(struct der *in, size_t *len)
{
	size_t n, i;

	if (!in->len)
		return -EINVAL;
	n = *in->p;
	in->p++, in->len--;
	if (n < 0x80) {
		*len = n;
		return 0;
	}
	n &= 0x7f;
	if (n == 0 || n > 2 || in->len < n || in->p[0] == 0)
		return -EINVAL;	/* indefinite, over 64 KiB, or not minimal */
	*len = 0;
	for (i = 0; i < n; i++)
		*len = *len << 8 | in->p[i];
	in->p += n, in->len -= n;
	return *len < 0x80 ? -EINVAL : 0;
}

/*
 * The next element of @in, if its tag is @tag, into @out: 1, and @in moves
 * past it; 0 if the next element has another tag (or none is left).
 */
static int der_opt(struct der *in, uint8_t tag, struct der *out)
{
	struct der rest;
	size_t len;

	if (!in->len || in->p[0] != tag)
		return 0;
	rest = (struct der){ in->p + 1, in->len - 1 };
	if (der_length(&rest, &len) || len > rest.len)
		return -EINVAL;
	*out = (struct der){ rest.p, len };
	in->p = rest.p + len;
	in->len = rest.len - len;
	return 1;
}

/* The next element of @in, which must have @tag. */
static int der_get(struct der *in, uint8_t tag, struct der *out)
{
	int r = der_opt(in, tag, out);

	return r == 1 ? 0 : r ? r : -EINVAL;
}

static bool der_is(const struct der *d, const uint8_t *want, size_t len)
{
	return d->len == len && !memcmp(d->p, want, len);
}

/* A small INTEGER's value, 0 to 127. */
static int der_small_int(struct der *in)
{
	struct der i;
	int r = der_get(in, DER_INTEGER, &i);

	if (r)
		return r;
	return i.len == 1 && i.p[0] < 0x80 ? i.p[0] : -EINVAL;
}

/*
 * A positive INTEGER, minimal, as its magnitude (the sign byte dropped):
 * RSA's values.
 */
static int der_uint(struct der *in, struct rsa_int *out)
{
	struct der i;

	if (der_get(in, DER_INTEGER, &i) || !i.len || (i.p[0] & 0x80))
		return -EINVAL;
	if (i.len > 1 && i.p[0] == 0) {
		if (!(i.p[1] & 0x80))
			return -EINVAL;	/* not minimal */
		i.p++, i.len--;
	}
	*out = (struct rsa_int){ i.p, i.len };
	return 0;
}

/* A BIT STRING of whole bytes, at least one, as its bytes. */
static int der_bits(struct der *bits, struct der *out)
{
	if (bits->len < 2 || bits->p[0] != 0)
		return -EINVAL;
	*out = (struct der){ bits->p + 1, bits->len - 1 };
	return 0;
}

/* A named curve's type, or -EMEDIUMTYPE for another curve. */
static int curve_type(const struct der *oid)
{
	if (der_is(oid, oid_p256, sizeof(oid_p256)))
		return KS_TYPE_ECDSA_P256;
	if (der_is(oid, oid_p384, sizeof(oid_p384)))
		return KS_TYPE_ECDSA_P384;
	return -EMEDIUMTYPE;
}

/* @d, at most @len bytes, right-aligned in @len bytes of @material. */
static int put_scalar(const struct der *d, size_t len, uint8_t *material)
{
	if (!d->len || d->len > len)
		return -EINVAL;
	memset(material, 0, len - d->len);
	memcpy(material + len - d->len, d->p, d->len);
	return 0;
}

/*
 * An ECPrivateKey of @type's curve: its parameters, if any, must name that
 * curve, and must be there when @named (no PKCS#8 algorithm names it).
 * Checked before anything goes into @material.
 */
static int read_sec1(struct der in, int type, bool named, uint8_t *material)
{
	struct der key, d, params, oid, pub = { NULL, 0 }, tagged, bits;
	int r;

	r = der_get(&in, DER_SEQUENCE, &key);
	if (r || in.len)
		return -EINVAL;
	if (der_small_int(&key) != 1 || der_get(&key, DER_OCTET, &d))
		return -EINVAL;
	r = der_opt(&key, DER_CTX_CONS(0), &params);
	if (r < 0 || (!r && named))
		return -EINVAL;		/* no curve anywhere */
	if (r) {
		if (der_get(&params, DER_OID, &oid) || params.len)
			return -EDOM;	/* explicit parameters */
		if (curve_type(&oid) != type)
			return -EMEDIUMTYPE;
	}
	r = der_opt(&key, DER_CTX_CONS(1), &tagged);
	if (r < 0)
		return r;
	if (r && (der_get(&tagged, DER_BIT_STRING, &bits) || tagged.len ||
		  der_bits(&bits, &pub)))
		return -EINVAL;
	if (key.len)
		return -EINVAL;
	r = put_scalar(&d, key_type_len(type), material);
	return r ? r : identity_check(type, material, pub.p, pub.len);
}

/*
 * An RSAPrivateKey of @type's size: its values checked and the primes
 * with e into @material (rsa_from_parts); -EMEDIUMTYPE for another size.
 */
static int read_pkcs1(struct der in, int type, uint8_t *material)
{
	struct rsa_parts f;
	struct der key;
	int version;

	if (!ks_type_rsa(type))
		return -EMEDIUMTYPE;
	if (der_get(&in, DER_SEQUENCE, &key) || in.len)
		return -EINVAL;
	version = der_small_int(&key);
	if (version != 0)
		return -EINVAL;		/* 1: more than two primes */
	if (der_uint(&key, &f.n) || der_uint(&key, &f.e) || der_uint(&key, &f.d) ||
	    der_uint(&key, &f.p) || der_uint(&key, &f.q) || der_uint(&key, &f.dp) ||
	    der_uint(&key, &f.dq) || der_uint(&key, &f.qinv) || key.len)
		return -EINVAL;
	return rsa_from_parts(type, &f, material);
}

/*
 * The algorithm of a PKCS#8 key, as a key type (the ECDSA curve named);
 * for rsaEncryption, @type itself if it is RSA (the key's size tells
 * which) with *@rsa set.
 */
static int pkcs8_type(struct der alg, int type, bool *rsa)
{
	struct der oid, curve, null;

	*rsa = false;
	if (der_get(&alg, DER_OID, &oid))
		return -EINVAL;
	if (der_is(&oid, oid_ed25519, sizeof(oid_ed25519)))
		return alg.len ? -EINVAL : KS_TYPE_ED25519;
	if (der_is(&oid, oid_rsa, sizeof(oid_rsa))) {
		if (alg.len && (der_get(&alg, DER_NULL, &null) || null.len || alg.len))
			return -EINVAL;
		*rsa = true;
		return ks_type_rsa(type) ? type : -EMEDIUMTYPE;
	}
	if (!der_is(&oid, oid_ec, sizeof(oid_ec)))
		return -EMEDIUMTYPE;
	if (alg.len && alg.p[0] == DER_SEQUENCE)
		return -EDOM;		/* explicit parameters */
	if (der_get(&alg, DER_OID, &curve) || alg.len)
		return -EMEDIUMTYPE;	/* implicit (NULL) parameters, or worse */
	return curve_type(&curve);
}

/* The rest of a PKCS#8 key after its private key: attributes, public key. */
static int pkcs8_tail(struct der *in, int version, struct der *pub)
{
	struct der any, bits;
	int r = der_opt(in, DER_CTX_CONS(0), &any);

	if (r < 0)
		return r;
	r = der_opt(in, DER_CTX_PRIM(1), &bits);
	if (r < 0 || (r && version != 1))
		return -EINVAL;
	if (r && der_bits(&bits, pub))
		return -EINVAL;
	return in->len ? -EINVAL : 0;
}

static int read_pkcs8(struct der in, int type, uint8_t *material)
{
	struct der info, alg, key, seed, pub = { NULL, 0 };
	int version, found, r;
	bool rsa;

	if (der_get(&in, DER_SEQUENCE, &info) || in.len)
		return -EINVAL;
	version = der_small_int(&info);
	if (version != 0 && version != 1)
		return -EINVAL;
	if (der_get(&info, DER_SEQUENCE, &alg) || der_get(&info, DER_OCTET, &key))
		return -EINVAL;
	r = pkcs8_tail(&info, version, &pub);
	if (r)
		return r;
	found = pkcs8_type(alg, type, &rsa);
	if (found < 0)
		return found;
	if (found != type)
		return -EMEDIUMTYPE;
	if (rsa) {
		r = read_pkcs1(key, type, material);
		return r || !pub.len ? r : identity_check(type, material, pub.p, pub.len);
	}
	if (type != KS_TYPE_ED25519) {
		/* The curve is the algorithm's; the ECPrivateKey may repeat it. */
		r = read_sec1(key, type, false, material);
		return r || !pub.len ? r : identity_check(type, material, pub.p, pub.len);
	}
	if (der_get(&key, DER_OCTET, &seed) || key.len || seed.len != key_type_len(type))
		return -EINVAL;
	memcpy(material, seed.p, seed.len);
	return identity_check(type, material, pub.p, pub.len);
}

/*
 * What DER @p is, by what follows its version: an AlgorithmIdentifier
 * (PKCS#8), an OCTET STRING (an ECPrivateKey) or an INTEGER (an
 * RSAPrivateKey's modulus).
 */
static enum key_form der_form(const uint8_t *p, size_t len)
{
	struct der in = { p, len }, seq, version;

	if (der_get(&in, DER_SEQUENCE, &seq) || der_get(&seq, DER_INTEGER, &version) ||
	    !seq.len)
		return FORM_PKCS8;	/* and refused as such */
	return seq.p[0] == DER_OCTET ? FORM_SEC1 : seq.p[0] == DER_INTEGER ? FORM_PKCS1 :
	       FORM_PKCS8;
}

static int read_der(const uint8_t *p, size_t len, enum key_form form, int type,
		    uint8_t *material)
{
	struct der in = { p, len };

	if (form == FORM_PKCS8)
		return read_pkcs8(in, type, material);
	if (form == FORM_PKCS1)
		return read_pkcs1(in, type, material);
	if (type != KS_TYPE_ECDSA_P256 && type != KS_TYPE_ECDSA_P384)
		return -EMEDIUMTYPE;
	return read_sec1(in, type, true, material);
}

/* One base64 character's value; -1 for whitespace, -2 for anything else. */
static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ? -1 : -2;
}

/*
 * Base64 @in into @out (at least 3/4 of @len bytes): the length, or
 * -EINVAL for characters outside the alphabet or misplaced padding.
 */
static ssize_t b64_decode(const uint8_t *in, size_t len, uint8_t *out)
{
	uint32_t acc = 0;
	size_t n = 0, bits = 0, pad = 0, i;
	int v = 0, ok = 1;

	for (i = 0; i < len && ok; i++) {
		if (in[i] == '=') {
			pad++;
			continue;
		}
		v = b64_value(in[i]);
		if (v == -1)
			continue;
		ok = v >= 0 && !pad;
		acc = acc << 6 | (uint32_t)(v & 63);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/*
	 * What is left is the last group's: none and no '=', or 4 zero bits
	 * (one byte in two characters) and "==", or 2 (two in three) and "=".
	 */
	ok = ok && ((bits == 0 && !pad) || (bits == 4 && pad == 2) || (bits == 2 && pad == 1)) &&
	     !(acc & ((1u << bits) - 1));
	wipe(&acc, sizeof(acc));
	wipe(&v, sizeof(v));
	return ok ? (ssize_t)n : -EINVAL;
}

/* The first of @len bytes at @p that starts @s, or NULL. */
static const uint8_t *find(const uint8_t *p, size_t len, const char *s)
{
	return memmem(p, len, s, strlen(s));
}

/*
 * The first private key's PEM armour in @in: its body into *@body and
 * *@blen, and what its label says it is.  -EINVAL for none, an encrypted
 * one (ENCRYPTED PRIVATE KEY, or headers such as Proc-Type) or one
 * without its END line.
 */
static int pem_body(const uint8_t *in, size_t len, const uint8_t **body, size_t *blen,
		    enum key_form *form)
{
	/* In enum key_form's order. */
	static const char *const labels[] = { "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY" };
	const uint8_t *p = in, *line, *end = NULL;
	char begin[48], stop[48];
	size_t i, left;

	while ((line = find(p, len - (size_t)(p - in), "-----BEGIN "))) {
		for (i = 0; i < ARRAY_SIZE(labels); i++) {
			snprintf(begin, sizeof(begin), "-----BEGIN %s-----", labels[i]);
			left = len - (size_t)(line - in);
			if (left >= strlen(begin) && !memcmp(line, begin, strlen(begin)))
				break;
		}
		if (i < ARRAY_SIZE(labels)) {
			snprintf(stop, sizeof(stop), "-----END %s-----", labels[i]);
			*body = line + strlen(begin);
			end = find(*body, len - (size_t)(*body - in), stop);
			*form = (enum key_form)i;
			break;
		}
		p = line + 1;
	}
	if (!end)
		return -EINVAL;
	*blen = (size_t)(end - *body);
	return memchr(*body, ':', *blen) ? -EINVAL : 0;	/* headers: encrypted */
}

/* PEM: its body decoded into a buffer of our own, wiped once read. */
static int read_pem(const uint8_t *in, size_t len, int type, uint8_t *material)
{
	const uint8_t *body;
	uint8_t *der;
	ssize_t n;
	size_t blen;
	enum key_form form;
	int r = pem_body(in, len, &body, &blen, &form);

	if (r)
		return r;
	der = malloc(blen + 1);
	if (!der)
		return -ENOMEM;
	n = b64_decode(body, blen, der);
	r = n < 0 ? (int)n : read_der(der, (size_t)n, form, type, material);
	wipe(der, blen + 1);
	free(der);
	return r;
}

int identity_parse(int type, const uint8_t *in, size_t len, uint8_t *material)
{
	int r;

	if (!ks_type_identity(type))
		return -EINVAL;
	r = find(in, len, "-----BEGIN ") ? read_pem(in, len, type, material) :
	    read_der(in, len, der_form(in, len), type, material);
	if (r)
		wipe(material, key_type_len(type));
	return r;
}
