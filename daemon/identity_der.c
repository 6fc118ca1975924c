// SPDX-License-Identifier: GPL-2.0
/*
 * An identity key's material written as a PKCS #8 PrivateKeyInfo's DER
 * (RFC 5208), for a key server that keeps private keys (the KMIP
 * backend's Register).  Written here into the caller's buffer, not with
 * OpenSSL's encoders, which leave copies of the key in freed memory (as
 * identity_file.c reads key files itself).  The key inside:
 *
 *	ECDSA	ECPrivateKey (RFC 5915), version 1 and the scalar: the
 *		curve is the AlgorithmIdentifier's, the optional public key
 *		left out (readers compute it)
 *	Ed25519	CurvePrivateKey (RFC 8410): the 32-byte seed
 *	RSA	RSAPrivateKey (RFC 8017), version 0 and the eight values
 *		identity_rsa.c computes from e, p and q
 */
#include <errno.h>
#include <string.h>
#include "identity.h"
#include "identity_rsa.h"
#include "util.h"

/* A DER writer: bytes past @room are counted, not written (-ENOBUFS then). */
struct der_out {
	uint8_t *p;
	size_t room, len;
};

#define DER_INTEGER	0x02
#define DER_OCTET	0x04
#define DER_SEQUENCE	0x30

/* Each type's whole AlgorithmIdentifier. */
static const uint8_t alg_p256[] = {
	0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,	/* ecPublicKey */
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,		/* prime256v1 */
};
static const uint8_t alg_p384[] = {
	0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22,				/* secp384r1 */
};
static const uint8_t alg_ed25519[] = { 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t alg_rsa[] = {
	0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
	0x05, 0x00,								/* NULL */
};
static const uint8_t version0[] = { DER_INTEGER, 0x01, 0x00 };
static const uint8_t version1[] = { DER_INTEGER, 0x01, 0x01 };

/* The bytes an element takes whose contents are @len bytes (< 64 KiB). */
static size_t tlv_len(size_t len)
{
	return 1 + (len < 0x80 ? 1 : len < 0x100 ? 2 : 3) + len;
}

static void put(struct der_out *o, const void *b, size_t n)
{
	if (o->len + n <= o->room)
		memcpy(o->p + o->len, b, n);
	o->len += n;
}

static void header(struct der_out *o, uint8_t tag, size_t len)
{
	uint8_t h[4] = { tag, (uint8_t)len };
	size_t n = 2;

	if (len >= 0x80) {
		n = len < 0x100 ? 3 : 4;
		h[1] = 0x80 | (uint8_t)(n - 2);
		h[2] = (uint8_t)(len >> (n == 4 ? 8 : 0));
		h[3] = (uint8_t)len;
	}
	put(o, h, n);
}

/* An INTEGER's contents for unsigned big-endian @v without leading zeros. */
static size_t uint_len(const uint8_t *v, size_t n)
{
	return n && !(v[0] & 0x80) ? n : n + 1;
}

static void put_uint(struct der_out *o, const uint8_t *v, size_t n)
{
	size_t c = uint_len(v, n);

	header(o, DER_INTEGER, c);
	if (c > n)
		put(o, "", 1);	/* a zero byte: positive */
	put(o, v, n);
}

/* The RSAPrivateKey's contents' length. */
static size_t rsa_len(const struct rsa_values *rv)
{
	size_t c = sizeof(version0);

	for (int i = 0; i < RSA_VALUES; i++)
		c += tlv_len(uint_len(rv->v[i], rv->len[i]));
	return c;
}

/* The key inside the OCTET STRING, of contents length @c (see the top). */
static void put_key(struct der_out *o, int type, const uint8_t *material,
		    const struct rsa_values *rv, size_t c)
{
	size_t dlen = key_type_len(type);

	if (type == KS_TYPE_ED25519) {
		header(o, DER_OCTET, dlen);
		put(o, material, dlen);
		return;
	}
	header(o, DER_SEQUENCE, c);
	if (rv) {
		put(o, version0, sizeof(version0));
		for (int i = 0; i < RSA_VALUES; i++)
			put_uint(o, rv->v[i], rv->len[i]);
		return;
	}
	put(o, version1, sizeof(version1));
	header(o, DER_OCTET, dlen);
	put(o, material, dlen);
}

/* The whole PrivateKeyInfo: version, algorithm, the key. */
static void put_pkcs8(struct der_out *o, int type, const uint8_t *material,
		      const struct rsa_values *rv)
{
	const uint8_t *alg = rv ? alg_rsa : type == KS_TYPE_ED25519 ? alg_ed25519 :
			     type == KS_TYPE_ECDSA_P384 ? alg_p384 : alg_p256;
	size_t alen = rv ? sizeof(alg_rsa) : type == KS_TYPE_ED25519 ? sizeof(alg_ed25519) :
		      type == KS_TYPE_ECDSA_P384 ? sizeof(alg_p384) : sizeof(alg_p256);
	size_t dlen = key_type_len(type);
	size_t c = rv ? rsa_len(rv) : sizeof(version1) + tlv_len(dlen);
	size_t key = type == KS_TYPE_ED25519 ? tlv_len(dlen) : tlv_len(c);

	header(o, DER_SEQUENCE, sizeof(version0) + alen + tlv_len(key));
	put(o, version0, sizeof(version0));
	put(o, alg, alen);
	header(o, DER_OCTET, key);
	put_key(o, type, material, rv, c);
}

int identity_pkcs8(int type, const uint8_t *material, uint8_t *out, size_t *len)
{
	struct der_out o = { .p = out, .room = *len };
	struct rsa_values *rv = NULL;
	int r = 0;

	if (!ks_type_identity(type))
		return -EMEDIUMTYPE;
	if (ks_type_rsa(type)) {
		rv = secret_pages(sizeof(*rv), "an RSA key's values");
		r = rv ? rsa_values(type, material, rv) : -ENOMEM;
	}
	if (!r)
		put_pkcs8(&o, type, material, rv);
	if (!r && o.len > o.room)
		r = -ENOBUFS;
	if (r)
		wipe(out, o.room);
	else
		*len = o.len;
	if (rv) {
		wipe(rv, sizeof(*rv));
		secret_pages_free(rv, sizeof(*rv));
	}
	return r;
}
