// SPDX-License-Identifier: GPL-2.0
/*
 * Identity keys in the token (hsm.h): a version is a key pair generated
 * there, imported from a private key file (its parts, C_CreateObject), or
 * adopted (a pair the token holds already, made by its own tools), both
 * objects under the version's CKA_ID and label.  The private key is
 * sensitive and never extractable, and may only sign; the public key may
 * only verify.  hsm_key_use() signs with the one and reads the other.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "identity.h"
#include "key.h"
#include "pkcs11/helper.h"
#include "util.h"

static const uint8_t p256_oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t p384_oid[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t ed25519_oid[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t f4[] = { 0x01, 0x00, 0x01 };

/* How a key pair of one identity type is made and what it gives. */
struct kind {
	CK_MECHANISM_TYPE gen;
	enum hp_mech gen_need;
	const uint8_t *params;		/* EC: CKA_EC_PARAMS (a named curve) */
	size_t plen;
	CK_ULONG bits;			/* RSA: CKA_MODULUS_BITS */
	size_t publen;			/* EC: the point's, raw; RSA: the modulus's */
	size_t siglen;			/* ECDSA r || s, Ed25519, RSA */
};

static int kind_of(int type, struct kind *k)
{
	switch (type) {
	case KS_TYPE_ECDSA_P256:
		*k = (struct kind){ CKM_EC_KEY_PAIR_GEN, HM_EC_GEN, p256_oid, sizeof(p256_oid), 0,
				    65, 64 };
		return 0;
	case KS_TYPE_ECDSA_P384:
		*k = (struct kind){ CKM_EC_KEY_PAIR_GEN, HM_EC_GEN, p384_oid, sizeof(p384_oid), 0,
				    97, 96 };
		return 0;
	case KS_TYPE_ED25519:
		*k = (struct kind){ CKM_EC_EDWARDS_KEY_PAIR_GEN, HM_ED_GEN, ed25519_oid,
				    sizeof(ed25519_oid), 0, 32, 64 };
		return 0;
	case KS_TYPE_RSA_2048:
	case KS_TYPE_RSA_3072:
		*k = (struct kind){ CKM_RSA_PKCS_KEY_PAIR_GEN, HM_RSA_GEN, NULL, 0,
				    type == KS_TYPE_RSA_2048 ? 2048 : 3072, 0, 0 };
		k->publen = k->siglen = k->bits / 8;
		return 0;
	}
	return -EINVAL;
}

size_t hp_identity_sig_len(int type)
{
	struct kind k;

	return kind_of(type, &k) ? 0 : k.siglen;
}

/* @k's kind into @kd, if the token does not hold its version yet. */
static int new_version(struct hp_session *s, const struct hp_key *k, struct kind *kd)
{
	CK_OBJECT_HANDLE h;
	int r;

	if (kind_of(k->type, kd))
		return hp_failf(s, -EINVAL, "no identity key type %d", k->type);
	r = hp_find_version(s, k->id, k->version, &h);
	if (r != -ENOENT)
		return r ?: hp_failf(s, -EEXIST, "key version %u is in the token already", k->version);
	hp_clear_error(s);
	return 0;
}

int hp_identity_generate(struct hp_session *s, const struct hp_key *k)
{
	CK_BBOOL rsa = ks_type_rsa(k->type);
	CK_MECHANISM m = { 0, NULL, 0 };
	uint8_t vid[HP_VID_LEN];
	char label[HP_NAME_MAX + 24];
	struct kind kd;
	CK_ATTRIBUTE pub_t[] = {
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, 0),
		ATTR(CKA_ID, vid, sizeof(vid)), ATTR_T(CKA_VERIFY), ATTR_F(CKA_ENCRYPT),
		ATTR_F(CKA_WRAP), ATTR_F(CKA_DERIVE),
		/* the last two: EC_PARAMS alone, or MODULUS_BITS and PUBLIC_EXPONENT */
		ATTR(CKA_EC_PARAMS, NULL, 0), ATTR(CKA_PUBLIC_EXPONENT, f4, sizeof(f4)),
	};
	CK_ATTRIBUTE priv_t[] = {
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, 0),
		ATTR(CKA_ID, vid, sizeof(vid)), ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE),
		ATTR_T(CKA_SIGN), ATTR_F(CKA_DECRYPT), ATTR_F(CKA_UNWRAP), ATTR_F(CKA_DERIVE),
	};
	CK_OBJECT_HANDLE pub, priv;
	CK_RV rv;
	int r;

	r = new_version(s, k, &kd) ?: hp_need(s, 1UL << kd.gen_need);
	if (r)
		return r;
	hsm_vid(k->id, k->version, vid);
	pub_t[2].ulValueLen = priv_t[2].ulValueLen =
		snprintf(label, sizeof(label), "hsmkey:%s:v%u", k->name, k->version);
	m.mechanism = kd.gen;
	if (rsa) {
		pub_t[8] = (CK_ATTRIBUTE)ATTR(CKA_MODULUS_BITS, &kd.bits, sizeof(kd.bits));
	} else {
		pub_t[8].pValue = (void *)kd.params;
		pub_t[8].ulValueLen = kd.plen;
	}
	rv = s->srv->p->C_GenerateKeyPair(s->h, &m, pub_t, ARRAY_SIZE(pub_t) - !rsa, priv_t,
					  ARRAY_SIZE(priv_t), &pub, &priv);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GenerateKeyPair");
	hp_handle_remember(s->srv, vid, priv);
	return 0;
}

enum hp_mech hp_identity_mech(const struct hp_use *u, CK_MECHANISM *m,
			      CK_RSA_PKCS_PSS_PARAMS *pss)
{
	*pss = (CK_RSA_PKCS_PSS_PARAMS){ CKM_SHA256, CKG_MGF1_SHA256, 32 };
	*m = (CK_MECHANISM){ CKM_ECDSA, NULL, 0 };
	if (u->type == KS_TYPE_ED25519) {
		m->mechanism = CKM_EDDSA;
		return HM_EDDSA;
	}
	if (ks_type_rsa(u->type) && (u->flags & HSM_SIGN_PSS)) {
		*m = (CK_MECHANISM){ CKM_RSA_PKCS_PSS, pss, sizeof(*pss) };
		return HM_RSA_PSS;
	}
	if (ks_type_rsa(u->type)) {
		m->mechanism = CKM_RSA_PKCS;
		return HM_RSA_PKCS;
	}
	return HM_ECDSA;
}

/* The version's public key object. */
static int find_public(struct hp_session *s, const struct hp_use *u, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	uint8_t vid[HP_VID_LEN];
	CK_ATTRIBUTE t[] = { ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_ID, vid, sizeof(vid)) };
	CK_ULONG found = 0;
	int r;

	hsm_vid(u->id, u->version, vid);
	r = hp_find(s, t, ARRAY_SIZE(t), out, 1, &found);
	if (!r && !found)
		r = hp_failf(s, -ENOENT, "no public key of version %u", u->version);
	return r;
}

/* An RSA key's modulus (exactly @k->publen bytes) then its exponent, into @out. */
static int read_rsa(struct hp_session *s, CK_OBJECT_HANDLE pub, const struct kind *k,
		    struct hp_data *out)
{
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_MODULUS, out->buf, k->publen),
		ATTR(CKA_PUBLIC_EXPONENT, out->buf + k->publen, 8),
	};
	CK_RV rv = s->srv->p->C_GetAttributeValue(s->h, pub, t, ARRAY_SIZE(t));

	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue(CKA_MODULUS)");
	if (t[0].ulValueLen != k->publen || !t[1].ulValueLen || t[1].ulValueLen > 8)
		return hp_failf(s, -EMEDIUMTYPE, "an RSA public key of %lu bits",
				(unsigned long)t[0].ulValueLen * 8);
	out->len = (uint32_t)(k->publen + t[1].ulValueLen);
	return 0;
}

int hp_identity_public(struct hp_session *s, const struct hp_use *u, struct hp_data *out)
{
	CK_OBJECT_HANDLE pub;
	struct kind k;
	int r;

	if (kind_of(u->type, &k))
		return hp_failf(s, -EINVAL, "no identity key type %d", u->type);
	r = find_public(s, u, &pub);
	if (r)
		return r;
	if (ks_type_rsa(u->type))
		return read_rsa(s, pub, &k, out);
	r = hp_read_point(s, pub, out->buf, k.publen);
	if (!r)
		out->len = (uint32_t)k.publen;
	return r;
}

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
	struct ks_key key = { .type = k->type };
	EVP_PKEY *pkey = NULL;
	int r;

	memcpy(key.material, k->material, key_type_len(k->type));
	r = identity_pkey(&key, &pkey);
	ks_key_wipe(&key);
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
	struct kind kd;
	struct parts *pp;
	CK_ATTRIBUTE pub_t[10 + PARTS_MAX] = {
		ATTR(CKA_CLASS, &pub_c, sizeof(pub_c)), ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, 0),
		ATTR(CKA_ID, vid, sizeof(vid)), ATTR_T(CKA_VERIFY), ATTR_F(CKA_ENCRYPT),
		ATTR_F(CKA_WRAP), ATTR_F(CKA_DERIVE),
	};
	CK_ATTRIBUTE priv_t[12 + PARTS_MAX] = {
		ATTR(CKA_CLASS, &priv_c, sizeof(priv_c)), ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, 0),
		ATTR(CKA_ID, vid, sizeof(vid)), ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE),
		ATTR_T(CKA_SIGN), ATTR_F(CKA_DECRYPT), ATTR_F(CKA_UNWRAP), ATTR_F(CKA_DERIVE),
	};
	CK_ULONG npub = 10, npriv = 12;
	CK_OBJECT_HANDLE pub, priv;
	CK_RV rv = CKR_OK;
	int r;

	r = new_version(s, k, &kd);
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
	rv = s->srv->p->C_CreateObject(s->h, priv_t, npriv, &priv);
	if (rv != CKR_OK) {
		r = hp_fail(s, rv, "C_CreateObject(the private key)");
		goto out;
	}
	rv = s->srv->p->C_CreateObject(s->h, pub_t, npub, &pub);
	if (rv != CKR_OK) {
		r = hp_fail(s, rv, "C_CreateObject(the public key)");
		s->srv->p->C_DestroyObject(s->h, priv);
		goto out;
	}
	hp_handle_remember(s->srv, vid, priv);
out:
	wipe(pp, sizeof(*pp));
	free(pp);
	return r;
}

/* Ed25519's curve as some tokens name it: PrintableString "edwards25519". */
static const uint8_t ed25519_name[] = {
	0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9',
};

/* The one object of class @cls whose attribute @by is @v (@len bytes). */
static int find_one(struct hp_session *s, CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE by, void *v,
		    CK_ULONG len, CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE t[] = { ATTR(CKA_CLASS, &cls, sizeof(cls)), { by, v, len } };
	CK_OBJECT_HANDLE h[2];
	CK_ULONG found = 0;
	int r = hp_find(s, t, ARRAY_SIZE(t), h, 2, &found);

	if (r)
		return r;
	if (found != 1)
		return hp_failf(s, found ? -EMEDIUMTYPE : -ENOENT, "%s %s key object%s",
				found ? "more than one" : "no",
				cls == CKO_PRIVATE_KEY ? "private" : "public", found ? "s" : "");
	*out = h[0];
	return 0;
}

/* Whether @h is a key of @type (@kd): its key type, and curve or modulus size. */
static int of_kind(struct hp_session *s, CK_OBJECT_HANDLE h, int type, const struct kind *kd)
{
	CK_KEY_TYPE kt = 0, want = ks_type_rsa(type) ? CKK_RSA :
			 type == KS_TYPE_ED25519 ? CKK_EC_EDWARDS : CKK_EC;
	uint8_t params[64];
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ks_type_rsa(type) ? (CK_ATTRIBUTE)ATTR(CKA_MODULUS, NULL, 0) :
				    (CK_ATTRIBUTE)ATTR(CKA_EC_PARAMS, params, sizeof(params)),
	};
	CK_RV rv = s->srv->p->C_GetAttributeValue(s->h, h, t, ARRAY_SIZE(t));
	bool ok;

	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue(the pair's type)");
	if (ks_type_rsa(type))
		ok = t[1].ulValueLen == kd->publen;
	else
		ok = (t[1].ulValueLen == kd->plen && !memcmp(params, kd->params, kd->plen)) ||
		     (type == KS_TYPE_ED25519 && t[1].ulValueLen == sizeof(ed25519_name) &&
		      !memcmp(params, ed25519_name, sizeof(ed25519_name)));
	if (kt != want || !ok)
		return hp_failf(s, -EMEDIUMTYPE, "the key pair is not %s", key_type_name(type));
	return 0;
}

/* Whether @priv and @pub are one pair: a random challenge the one signs, the other verifies. */
static int same_pair(struct hp_session *s, int type, CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub)
{
	CK_FUNCTION_LIST *p = s->srv->p;
	CK_MECHANISM m = { ks_type_rsa(type) ? CKM_RSA_PKCS :
			   type == KS_TYPE_ED25519 ? CKM_EDDSA : CKM_ECDSA, NULL, 0 };
	uint8_t challenge[32], sig[512];
	CK_ULONG n = sizeof(sig);
	CK_RV rv;

	if (RAND_bytes(challenge, sizeof(challenge)) != 1)
		return hp_failf(s, -EIO, "no random challenge");
	rv = p->C_SignInit(s->h, &m, priv);
	if (rv == CKR_OK)
		rv = p->C_Sign(s->h, challenge, sizeof(challenge), sig, &n);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_Sign(the pair's check)");
	rv = p->C_VerifyInit(s->h, &m, pub);
	if (rv == CKR_OK)
		rv = p->C_Verify(s->h, challenge, sizeof(challenge), sig, n);
	if (rv == CKR_SIGNATURE_INVALID)
		return hp_failf(s, -EMEDIUMTYPE, "its public key object is not its private key's");
	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_Verify(the pair's check)");
}

/*
 * @k->label's private key and its public key object (the one with its
 * CKA_ID, or without one its label), each checked to be @k's type.
 */
static int find_pair(struct hp_session *s, const struct hp_key *k, const struct kind *kd,
		     CK_OBJECT_HANDLE *priv, CK_OBJECT_HANDLE *pub)
{
	uint8_t id[256];
	CK_ATTRIBUTE a = ATTR(CKA_ID, id, sizeof(id));
	int r = find_one(s, CKO_PRIVATE_KEY, CKA_LABEL, (void *)k->label, strlen(k->label), priv);

	if (r)
		return r;
	if (s->srv->p->C_GetAttributeValue(s->h, *priv, &a, 1) != CKR_OK ||
	    a.ulValueLen > sizeof(id))
		a.ulValueLen = 0;
	r = a.ulValueLen ? find_one(s, CKO_PUBLIC_KEY, CKA_ID, id, a.ulValueLen, pub) :
			   find_one(s, CKO_PUBLIC_KEY, CKA_LABEL, (void *)k->label,
				    strlen(k->label), pub);
	return r ?: of_kind(s, *priv, k->type, kd) ?: of_kind(s, *pub, k->type, kd);
}

/*
 * The private key made sensitive and never extractable, which a token
 * must allow (*@was_readable: it was, or had been, readable or
 * extractable); both objects under the version's id and label.
 */
static int take_pair(struct hp_session *s, const struct hp_key *k, CK_OBJECT_HANDLE priv,
		     CK_OBJECT_HANDLE pub, bool *was_readable)
{
	CK_BBOOL sens = 0, ext = 1, always = 0, never = 0;
	CK_ATTRIBUTE get[] = {
		ATTR(CKA_SENSITIVE, &sens, 1), ATTR(CKA_EXTRACTABLE, &ext, 1),
		ATTR(CKA_ALWAYS_SENSITIVE, &always, 1), ATTR(CKA_NEVER_EXTRACTABLE, &never, 1),
	};
	uint8_t vid[HP_VID_LEN];
	char label[HP_NAME_MAX + 24];
	CK_ATTRIBUTE lock[] = { ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE) };
	CK_ATTRIBUTE name[] = { ATTR(CKA_ID, vid, sizeof(vid)), ATTR(CKA_LABEL, label, 0) };
	CK_FUNCTION_LIST *p = s->srv->p;
	CK_RV rv = p->C_GetAttributeValue(s->h, priv, get, ARRAY_SIZE(get));

	/* A token that does not keep a key's history: taken as readable once. */
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return hp_fail(s, rv, "C_GetAttributeValue(CKA_SENSITIVE)");
	*was_readable = !sens || ext || !always || !never;
	if ((!sens || ext) &&
	    (rv = p->C_SetAttributeValue(s->h, priv, lock + !!sens, ARRAY_SIZE(lock) - !!sens)) != CKR_OK)
		return hp_fail(s, rv, "C_SetAttributeValue(sensitive, not extractable)");
	hsm_vid(k->id, k->version, vid);
	name[1].ulValueLen = snprintf(label, sizeof(label), "hsmkey:%s:v%u", k->name, k->version);
	rv = p->C_SetAttributeValue(s->h, priv, name, ARRAY_SIZE(name));
	if (rv == CKR_OK)
		rv = p->C_SetAttributeValue(s->h, pub, name, ARRAY_SIZE(name));
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_SetAttributeValue(CKA_ID, CKA_LABEL)");
	hp_handle_remember(s->srv, vid, priv);
	return 0;
}

int hp_identity_adopt(struct hp_session *s, const struct hp_key *k, bool *was_readable)
{
	CK_ATTRIBUTE priv_uses[] = {
		ATTR_T(CKA_SIGN), ATTR_F(CKA_DECRYPT), ATTR_F(CKA_UNWRAP), ATTR_F(CKA_DERIVE),
	};
	CK_ATTRIBUTE pub_uses[] = {
		ATTR_T(CKA_VERIFY), ATTR_F(CKA_ENCRYPT), ATTR_F(CKA_WRAP), ATTR_F(CKA_DERIVE),
	};
	CK_OBJECT_HANDLE priv, pub;
	struct kind kd;
	int r;

	r = new_version(s, k, &kd) ?: find_pair(s, k, &kd, &priv, &pub);
	if (r)
		return r;
	/* Best effort: some tokens fix a key's uses at creation. */
	s->srv->p->C_SetAttributeValue(s->h, priv, priv_uses, ARRAY_SIZE(priv_uses));
	s->srv->p->C_SetAttributeValue(s->h, pub, pub_uses, ARRAY_SIZE(pub_uses));
	r = same_pair(s, k->type, priv, pub);
	return r ?: take_pair(s, k, priv, pub, was_readable);
}
