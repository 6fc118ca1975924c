// SPDX-License-Identifier: GPL-2.0
/*
 * Identity keys between their stored form (identity.h) and OpenSSL's: an
 * ECDSA key is kept as its private scalar d (the public point is d x G,
 * computed when the key is used), an Ed25519 key as its 32-byte seed, an
 * RSA key as e, p and q (identity_rsa.c).  Every buffer or BIGNUM that
 * held a private value is wiped when freed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include "identity.h"
#include "identity_rsa.h"
#include "util.h"

/* The curve of an ECDSA type: its NID and OpenSSL's group name; 0 if none. */
static int ec_nid(int type, const char **group)
{
	if (type == KS_TYPE_ECDSA_P256) {
		*group = "P-256";
		return NID_X9_62_prime256v1;
	}
	if (type == KS_TYPE_ECDSA_P384) {
		*group = "P-384";
		return NID_secp384r1;
	}
	return 0;
}

const EVP_MD *identity_md(int type)
{
	return type == KS_TYPE_ECDSA_P256 || ks_type_rsa(type) ? EVP_sha256() :
	       type == KS_TYPE_ECDSA_P384 ? EVP_sha384() : NULL;
}

/* @pkey's type (key.h), or -EMEDIUMTYPE for any key hsmkey does not keep. */
static int pkey_type(EVP_PKEY *pkey)
{
	char group[64];
	int nid;

	if (EVP_PKEY_is_a(pkey, "ED25519"))
		return KS_TYPE_ED25519;
	if (EVP_PKEY_is_a(pkey, "RSA"))
		return EVP_PKEY_get_bits(pkey) == rsa_bits(KS_TYPE_RSA_2048) ? KS_TYPE_RSA_2048 :
		       EVP_PKEY_get_bits(pkey) == rsa_bits(KS_TYPE_RSA_3072) ? KS_TYPE_RSA_3072 :
		       -EMEDIUMTYPE;
	if (!EVP_PKEY_is_a(pkey, "EC") ||
	    !EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL))
		return -EMEDIUMTYPE;
	nid = OBJ_sn2nid(group);
	return nid == NID_X9_62_prime256v1 ? KS_TYPE_ECDSA_P256 :
	       nid == NID_secp384r1 ? KS_TYPE_ECDSA_P384 : -EMEDIUMTYPE;
}

/* @pkey's private value, which must be of @type, into @material. */
static int pkey_material(int type, EVP_PKEY *pkey, uint8_t *material)
{
	size_t len = key_type_len(type);
	BIGNUM *d = NULL;
	int r = 0;

	if (pkey_type(pkey) != type)
		return -EMEDIUMTYPE;
	if (ks_type_rsa(type))
		return rsa_material(type, pkey, material);
	if (type == KS_TYPE_ED25519)
		return EVP_PKEY_get_raw_private_key(pkey, material, &len) == 1 &&
		       len == key_type_len(type) ? 0 : -EINVAL;
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
	    BN_bn2binpad(d, material, (int)len) != (int)len)
		r = -EINVAL;
	BN_clear_free(d);
	return r;
}

int identity_generate(int type, uint8_t *material)
{
	const char *group;
	EVP_PKEY *pkey;
	int r;

	if (!ks_type_identity(type))
		return -EINVAL;
	if (ks_type_rsa(type))
		return rsa_generate(type, material);
	pkey = ec_nid(type, &group) ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", group) :
	       EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!pkey)
		return -ENOMEM;
	r = pkey_material(type, pkey, material);
	EVP_PKEY_free(pkey);
	return r;
}

/* An ECDSA key from its scalar: the public point computed, both given. */
static EVP_PKEY *ec_pkey(int nid, const uint8_t *d, size_t dlen)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
	EC_POINT *q = g ? EC_POINT_new(g) : NULL;
	BIGNUM *priv = BN_secure_new();
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;
	uint8_t pub[1 + 2 * 66];
	size_t publen = 0;

	/* 0 < d < n: any other value is no private key of the curve. */
	if (q && priv && b && ctx && BN_bin2bn(d, (int)dlen, priv) && !BN_is_zero(priv) &&
	    BN_cmp(priv, EC_GROUP_get0_order(g)) < 0 &&
	    EC_POINT_mul(g, q, priv, NULL, NULL, NULL) == 1)
		publen = EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub,
					    sizeof(pub), NULL);
	if (publen &&
	    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME,
					    OBJ_nid2sn(nid), 0) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, priv) == 1 &&
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, publen) == 1)
		params = OSSL_PARAM_BLD_to_param(b);
	if (!params || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
		pkey = NULL;
	OSSL_PARAM_free(params);	/* the scalar sat in secure (cleared) memory */
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(ctx);
	BN_clear_free(priv);
	EC_POINT_free(q);
	EC_GROUP_free(g);
	return pkey;
}

int identity_material_pkey(int type, const uint8_t *material, EVP_PKEY **out)
{
	const char *group;
	int nid = ec_nid(type, &group);

	if (!ks_type_identity(type))
		return -EMEDIUMTYPE;
	if (ks_type_rsa(type))
		return rsa_pkey(type, material, out);
	*out = nid ? ec_pkey(nid, material, key_type_len(type)) :
	       EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, material,
					    key_type_len(type));
	return *out ? 0 : -EINVAL;
}

int identity_pkey(const struct ks_key *key, EVP_PKEY **out)
{
	return identity_material_pkey(key->type, key->material, out);
}

/*
 * Whether @pub is @type's public key @mine: the same bytes, or for ECDSA
 * the point compressed (SEC 1: 02 or 03 for y's parity, then x) of
 * @mine's uncompressed (04, x, y).
 */
static bool same_public(int type, const uint8_t *mine, size_t len, const uint8_t *pub,
			size_t publen)
{
	size_t flen = (len - 1) / 2;

	if (publen == len)
		return !memcmp(mine, pub, len);
	return (type == KS_TYPE_ECDSA_P256 || type == KS_TYPE_ECDSA_P384) && len > 1 &&
	       mine[0] == 0x04 && publen == 1 + flen &&
	       pub[0] == (mine[len - 1] & 1 ? 0x03 : 0x02) && !memcmp(mine + 1, pub + 1, flen);
}

/*
 * @pkey's public key as a key file carries it: the ECDSA point, the
 * Ed25519 key's 32 bytes, an RSAPublicKey's DER (PKCS #1); free() it.
 */
static int public_bytes(int type, EVP_PKEY *pkey, uint8_t **out, size_t *len)
{
	unsigned char *der = NULL;
	int n;

	if (ks_type_rsa(type)) {
		n = i2d_PublicKey(pkey, &der);
		*out = n > 0 ? malloc((size_t)n) : NULL;
		if (*out)
			memcpy(*out, der, (size_t)n);
		OPENSSL_free(der);
		*len = (size_t)n;
		return *out ? 0 : -ENOMEM;
	}
	*len = 1 + 2 * 66;
	*out = malloc(*len);
	if (!*out)
		return -ENOMEM;
	if (type == KS_TYPE_ED25519 ?
	    EVP_PKEY_get_raw_public_key(pkey, *out, len) == 1 :
	    EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, *out, *len, len) == 1)
		return 0;
	free(*out);
	*out = NULL;
	return -ENOMEM;
}

int identity_check(int type, const uint8_t *material, const uint8_t *pub, size_t publen)
{
	uint8_t *mine = NULL;
	size_t len = 0;
	EVP_PKEY *pkey = NULL;
	int r = identity_material_pkey(type, material, &pkey);

	if (!r && publen)
		r = public_bytes(type, pkey, &mine, &len);
	if (!r && publen && !same_public(type, mine, len, pub, publen))
		r = -EKEYREJECTED;
	free(mine);
	EVP_PKEY_free(pkey);
	return r;
}

int identity_pkey_pem(EVP_PKEY *pkey, char **out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *text;
	long len;
	int r = bio && PEM_write_bio_PUBKEY(bio, pkey) == 1 ? 0 : -ENOMEM;

	if (!r) {
		len = BIO_get_mem_data(bio, &text);
		*out = strndup(text, (size_t)len);
		r = *out ? 0 : -ENOMEM;
	}
	BIO_free(bio);
	return r;
}

int identity_public_pem(const struct ks_key *key, char **out)
{
	EVP_PKEY *pkey = NULL;
	int r = identity_pkey(key, &pkey);

	if (!r)
		r = identity_pkey_pem(pkey, out);
	EVP_PKEY_free(pkey);
	return r;
}
