// SPDX-License-Identifier: GPL-2.0
/*
 * An identity key imported into the token from its private key file
 * (identity.c): hsmkeyd read and checked the file (identity_file.c); here
 * the key is rebuilt with OpenSSL, its parts given to the token
 * (C_CreateObject), and every copy wiped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include "identity.h"
#include "key.h"
#include "pkcs11/helper.h"
#include "util.h"

/* An imported pair's parts, as C_CreateObject takes them. */
#define PART_MAX	512
#define PARTS_MAX	8

struct parts {
	CK_ATTRIBUTE_TYPE type[PARTS_MAX];
	uint8_t buf[PARTS_MAX][PART_MAX];
	CK_ULONG len[PARTS_MAX];
	unsigned int n, npub;		/* all; of them, the public key's (the first) */
};

static const char *const rsa_param[PARTS_MAX] = {
	OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
	OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
	OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
};

static const CK_ATTRIBUTE_TYPE rsa_attr[PARTS_MAX] = {
	CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2,
	CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT,
};

static int rsa_parts(EVP_PKEY *pkey, struct parts *pp)
{
	for (unsigned int i = 0; i < PARTS_MAX; i++) {
		BIGNUM *bn = NULL;
		int n = EVP_PKEY_get_bn_param(pkey, rsa_param[i], &bn) == 1 ? BN_num_bytes(bn) : 0;

		if (n > 0 && n <= PART_MAX)
			pp->len[i] = (CK_ULONG)BN_bn2bin(bn, pp->buf[i]);
		BN_clear_free(bn);
		if (n <= 0 || n > PART_MAX)
			return -EINVAL;
		pp->type[i] = rsa_attr[i];
	}
	pp->n = PARTS_MAX;
	pp->npub = 2;
	return 0;
}

/* The public point as CKA_EC_POINT holds it: a DER OCTET STRING. */
static int point_part(struct parts *pp, const uint8_t *point, size_t len)
{
	if (len > 127 || len + 2 > PART_MAX)
		return -EINVAL;
	pp->type[0] = CKA_EC_POINT;
	pp->buf[0][0] = 0x04;
	pp->buf[0][1] = (uint8_t)len;
	memcpy(pp->buf[0] + 2, point, len);
	pp->len[0] = len + 2;
	return 0;
}

/* EC and Ed25519: the point, then the private value (CKA_VALUE). */
static int ec_parts(int type, EVP_PKEY *pkey, struct parts *pp)
{
	uint8_t point[1 + 2 * 66];
	size_t flen = key_type_len(type), plen = sizeof(point), vlen = flen;
	BIGNUM *d = NULL;
	int ok;

	if (type == KS_TYPE_ED25519)
		ok = EVP_PKEY_get_raw_public_key(pkey, point, &plen) == 1 &&
		     EVP_PKEY_get_raw_private_key(pkey, pp->buf[1], &vlen) == 1 && vlen == flen;
	else
		ok = EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point,
						     sizeof(point), &plen) == 1 &&
		     EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
		     BN_bn2binpad(d, pp->buf[1], (int)flen) == (int)flen;
	BN_clear_free(d);
	if (!ok || point_part(pp, point, plen))
		return -EINVAL;
	pp->type[1] = CKA_VALUE;
	pp->len[1] = flen;
	pp->n = 2;
	pp->npub = 1;
	return 0;
}

/* @k's pair's parts from its material (identity.h's form). */
static int parts_of(const struct hp_key *k, struct parts *pp)
{
	EVP_PKEY *pkey = NULL;
	int r = identity_material_pkey(k->type, k->material, &pkey);

	if (!r)
		r = ks_type_rsa(k->type) ? rsa_parts(pkey, pp) : ec_parts(k->type, pkey, pp);
	EVP_PKEY_free(pkey);	/* OpenSSL clears a private key it frees */
	return r;
}

/* @t (@n attributes, room for PARTS_MAX more) with parts @from to @to of @pp. */
static CK_ULONG with_parts(CK_ATTRIBUTE *t, CK_ULONG n, struct parts *pp, unsigned int from,
			   unsigned int to)
{
	for (unsigned int i = from; i < to; i++)
		t[n++] = (CK_ATTRIBUTE){ pp->type[i], pp->buf[i], pp->len[i] };
	return n;
}

int hp_identity_import(struct hp_session *s, const struct hp_key *k)
{
	CK_OBJECT_CLASS pub_c = CKO_PUBLIC_KEY, priv_c = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = ks_type_rsa(k->type) ? CKK_RSA :
			 k->type == KS_TYPE_ED25519 ? CKK_EC_EDWARDS : CKK_EC;
	uint8_t vid[HP_VID_LEN];
	char label[HP_NAME_MAX + 24];
	struct hp_kind kd;
	struct parts *pp;
	CK_ATTRIBUTE pub_t[11 + PARTS_MAX] = {
		ATTR(CKA_CLASS, &pub_c, sizeof(pub_c)), ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, 0),
		ATTR(CKA_ID, vid, sizeof(vid)), ATTR_T(CKA_VERIFY), ATTR_F(CKA_VERIFY_RECOVER),
		ATTR_F(CKA_ENCRYPT), ATTR_F(CKA_WRAP), ATTR_F(CKA_DERIVE),
	};
	CK_ATTRIBUTE priv_t[13 + PARTS_MAX] = {
		ATTR(CKA_CLASS, &priv_c, sizeof(priv_c)), ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, 0),
		ATTR(CKA_ID, vid, sizeof(vid)), ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE),
		ATTR_T(CKA_SIGN), ATTR_F(CKA_SIGN_RECOVER), ATTR_F(CKA_DECRYPT), ATTR_F(CKA_UNWRAP),
		ATTR_F(CKA_DERIVE),
	};
	CK_ULONG npub = 11, npriv = 13;
	CK_OBJECT_HANDLE pub, priv;
	CK_RV rv = CKR_OK;
	int r;

	r = hp_identity_new(s, k, &kd);
	if (r)
		return r;
	pp = calloc(1, sizeof(*pp));
	if (!pp)
		return hp_failf(s, -ENOMEM, "out of memory");
	r = parts_of(k, pp);
	if (r) {
		r = hp_failf(s, r, "the %s key's material is not one", key_type_name(k->type));
		goto out;
	}
	hsm_vid(k->id, k->version, vid);
	pub_t[4].ulValueLen = priv_t[4].ulValueLen =
		snprintf(label, sizeof(label), "hsmkey:%s:v%u", k->name, k->version);
	if (!ks_type_rsa(k->type)) {	/* the curve's, in both */
		pub_t[npub++] = (CK_ATTRIBUTE)ATTR(CKA_EC_PARAMS, (void *)kd.params, kd.plen);
		priv_t[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_EC_PARAMS, (void *)kd.params, kd.plen);
	}
	npub = with_parts(pub_t, npub, pp, 0, pp->npub);
	/* The private object: RSA's every part (PKCS #11 2.40, 2.1.3), EC's value alone. */
	npriv = with_parts(priv_t, npriv, pp, ks_type_rsa(k->type) ? 0 : pp->npub, pp->n);
	/* The public key first: the private key makes the version (hp_find_version()). */
	rv = s->srv->p->C_CreateObject(s->h, pub_t, npub, &pub);
	if (rv != CKR_OK) {
		r = hp_fail(s, rv, "C_CreateObject(the public key)");
		goto out;
	}
	rv = s->srv->p->C_CreateObject(s->h, priv_t, npriv, &priv);
	if (rv != CKR_OK) {
		r = hp_fail(s, rv, "C_CreateObject(the private key)");
		if (s->srv->p->C_DestroyObject(s->h, pub) != CKR_OK)
			log_warn("pkcs11: the public key object %s is left in the token", label);
		goto out;
	}
	hp_handle_remember(s->srv, vid, priv);
out:
	wipe(pp, sizeof(*pp));
	free(pp);
	return r;
}
