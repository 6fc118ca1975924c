// SPDX-License-Identifier: GPL-2.0
/*
 * Identity keys in the token (hsm.h): a version is a key pair generated
 * there (here), imported from a private key file (identity_import.c), or
 * adopted, a pair the token holds already (identity_adopt.c); both objects
 * are under the version's CKA_ID and label.  The private key is sensitive
 * and never extractable, and may only sign; the public key may only
 * verify.  hsm_key_use() signs with the one and reads the other.
 */
#include <errno.h>
#include <string.h>
#include "key.h"
#include "pkcs11/helper.h"
#include "util.h"

static const uint8_t p256_oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t p384_oid[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t ed25519_oid[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t f4[] = { 0x01, 0x00, 0x01 };

int hp_identity_kind(int type, struct hp_kind *k)
{
	switch (type) {
	case KS_TYPE_ECDSA_P256:
		*k = (struct hp_kind){ CKM_EC_KEY_PAIR_GEN, HM_EC_GEN, p256_oid, sizeof(p256_oid), 0,
				    65, 64 };
		return 0;
	case KS_TYPE_ECDSA_P384:
		*k = (struct hp_kind){ CKM_EC_KEY_PAIR_GEN, HM_EC_GEN, p384_oid, sizeof(p384_oid), 0,
				    97, 96 };
		return 0;
	case KS_TYPE_ED25519:
		*k = (struct hp_kind){ CKM_EC_EDWARDS_KEY_PAIR_GEN, HM_ED_GEN, ed25519_oid,
				    sizeof(ed25519_oid), 0, 32, 64 };
		return 0;
	case KS_TYPE_RSA_2048:
	case KS_TYPE_RSA_3072:
		*k = (struct hp_kind){ CKM_RSA_PKCS_KEY_PAIR_GEN, HM_RSA_GEN, NULL, 0,
				    type == KS_TYPE_RSA_2048 ? 2048 : 3072, 0, 0 };
		k->publen = k->siglen = k->bits / 8;
		return 0;
	}
	return -EINVAL;
}

size_t hp_identity_sig_len(int type)
{
	struct hp_kind k;

	return hp_identity_kind(type, &k) ? 0 : k.siglen;
}

int hp_identity_new(struct hp_session *s, const struct hp_key *k, struct hp_kind *kd)
{
	CK_OBJECT_HANDLE h;
	int r;

	if (hp_identity_kind(k->type, kd))
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
	struct hp_kind kd;
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
		ATTR_T(CKA_SIGN), ATTR_F(CKA_SIGN_RECOVER), ATTR_F(CKA_DECRYPT), ATTR_F(CKA_UNWRAP),
		ATTR_F(CKA_DERIVE),
	};
	CK_OBJECT_HANDLE pub, priv;
	CK_RV rv;
	int r;

	r = hp_identity_new(s, k, &kd) ?: hp_need(s, 1UL << kd.gen_need);
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
static int read_rsa(struct hp_session *s, CK_OBJECT_HANDLE pub, const struct hp_kind *k,
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
	struct hp_kind k;
	int r;

	if (hp_identity_kind(u->type, &k))
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
