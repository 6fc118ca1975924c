// SPDX-License-Identifier: GPL-2.0
/*
 * An identity key pair the token holds already (made by its own tools or a
 * key ceremony) adopted as a key version (identity.c): found by its private
 * key's label, checked before anything is changed (its type, its private
 * key's attributes, and that its public key object is its pair's, by a
 * challenge the token signs and verifies), then made sensitive and never
 * extractable, and renamed, the private key last.  One that passes the
 * checks but cannot be renamed stays sensitive and not extractable.
 */
#include <errno.h>
#include <string.h>
#include <openssl/rand.h>
#include "key.h"
#include "pkcs11/helper.h"
#include "util.h"

/* Ed25519's curve as some tokens name it: PrintableString "edwards25519". */
static const uint8_t ed25519_name[] = {
	0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9',
};

/* The one object of class @cls whose attribute @by is @v (@len bytes); -ENOENT: none. */
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

/* RSA: a modulus of exactly @kd's bits, and an odd public exponent of at least 65537. */
static bool rsa_fits(const uint8_t *mod, CK_ULONG mlen, const uint8_t *e, CK_ULONG elen,
		     const struct hp_kind *kd)
{
	uint64_t v = 0;

	if (mlen != kd->publen || !(mod[0] & 0x80) || !elen || elen > 8)
		return false;
	for (CK_ULONG i = 0; i < elen; i++)
		v = v << 8 | e[i];
	return (v & 1) && v >= 65537;
}

/* Whether @h is a key of @type (@kd): its key type, and curve or modulus and exponent. */
static int of_kind(struct hp_session *s, CK_OBJECT_HANDLE h, int type, const struct hp_kind *kd)
{
	CK_KEY_TYPE kt = 0, want = ks_type_rsa(type) ? CKK_RSA :
			 type == KS_TYPE_ED25519 ? CKK_EC_EDWARDS : CKK_EC;
	uint8_t v[512], e[16];
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR(ks_type_rsa(type) ? CKA_MODULUS : CKA_EC_PARAMS, v, sizeof(v)),
		ATTR(CKA_PUBLIC_EXPONENT, e, sizeof(e)),
	};
	CK_RV rv = s->srv->p->C_GetAttributeValue(s->h, h, t, ARRAY_SIZE(t) - !ks_type_rsa(type));
	bool ok;

	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue(the pair's type)");
	if (ks_type_rsa(type))
		ok = rsa_fits(v, t[1].ulValueLen, e, t[2].ulValueLen, kd);
	else
		ok = (t[1].ulValueLen == kd->plen && !memcmp(v, kd->params, kd->plen)) ||
		     (type == KS_TYPE_ED25519 && t[1].ulValueLen == sizeof(ed25519_name) &&
		      !memcmp(v, ed25519_name, sizeof(ed25519_name)));
	if (kt != want || !ok)
		return hp_failf(s, -EMEDIUMTYPE, "the key pair is not %s%s", key_type_name(type),
				ks_type_rsa(type) ? " (or its exponent is not an odd one of 65537 or more)" : "");
	return 0;
}

/*
 * A private key usable only after login and without a login of its own
 * for each signature: CKA_PRIVATE true, CKA_ALWAYS_AUTHENTICATE false (or
 * not known to the token).
 */
static int private_fits(struct hp_session *s, CK_OBJECT_HANDLE priv)
{
	CK_BBOOL private = 0, always_auth = 0;
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_PRIVATE, &private, 1), ATTR(CKA_ALWAYS_AUTHENTICATE, &always_auth, 1),
	};
	CK_RV rv = s->srv->p->C_GetAttributeValue(s->h, priv, t, ARRAY_SIZE(t));

	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return hp_fail(s, rv, "C_GetAttributeValue(CKA_PRIVATE)");
	if (t[0].ulValueLen != 1 || !private)
		return hp_failf(s, -EMEDIUMTYPE, "its private key can be used without a login (CKA_PRIVATE false)");
	if (t[1].ulValueLen == 1 && always_auth)
		return hp_failf(s, -EMEDIUMTYPE, "its private key asks for a login at each use (CKA_ALWAYS_AUTHENTICATE)");
	return 0;
}

/* Whether @priv and @pub are one pair: a random challenge the one signs, the other verifies. */
static int same_pair(struct hp_session *s, int type, CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub)
{
	CK_FUNCTION_LIST *p = s->srv->p;
	bool rsa = ks_type_rsa(type), ed = type == KS_TYPE_ED25519;
	CK_MECHANISM m = { rsa ? CKM_RSA_PKCS : ed ? CKM_EDDSA : CKM_ECDSA, NULL, 0 };
	uint8_t challenge[32], sig[512];
	CK_ULONG n = sizeof(sig);
	CK_RV rv;
	int r = hp_need(s, 1UL << (rsa ? HM_RSA_PKCS : ed ? HM_EDDSA : HM_ECDSA));

	if (r)
		return r;
	if (RAND_bytes(challenge, sizeof(challenge)) != 1)
		return hp_failf(s, -EIO, "no random challenge");
	rv = p->C_SignInit(s->h, &m, priv);
	if (rv == CKR_OK)
		rv = p->C_Sign(s->h, challenge, sizeof(challenge), sig, &n);
	if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
		return hp_failf(s, -EMEDIUMTYPE, "its private key may not sign (CKA_SIGN false)");
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_Sign(the pair's check)");
	rv = p->C_VerifyInit(s->h, &m, pub);
	if (rv == CKR_OK)
		rv = p->C_Verify(s->h, challenge, sizeof(challenge), sig, n);
	if (rv == CKR_SIGNATURE_INVALID || rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
		return hp_failf(s, -EMEDIUMTYPE, rv == CKR_SIGNATURE_INVALID ?
				"its public key object is not its private key's" :
				"its public key object may not verify (CKA_VERIFY false)");
	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_Verify(the pair's check)");
}

/*
 * @k->label's private key and its public key object (the one with its
 * CKA_ID, or without one its label; -ENXIO: none), each checked.
 */
static int find_pair(struct hp_session *s, const struct hp_key *k, const struct hp_kind *kd,
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
	if (r == -ENOENT)
		return hp_failf(s, -ENXIO, "no public key object with its private key's %s",
				a.ulValueLen ? "CKA_ID" : "label");
	return r ?: of_kind(s, *priv, k->type, kd) ?: of_kind(s, *pub, k->type, kd) ?:
		    private_fits(s, *priv) ?: same_pair(s, k->type, *priv, *pub);
}

/*
 * The private key made sensitive and never extractable, which the token
 * must allow and is read back (*@was_readable: it was, or may have been,
 * outside the token: readable, extractable, or not made there).
 */
static int lock_private(struct hp_session *s, CK_OBJECT_HANDLE priv, bool *was_readable)
{
	CK_BBOOL sens = 0, ext = 1, always = 0, never = 0, local = 0;
	CK_ATTRIBUTE get[] = {
		ATTR(CKA_SENSITIVE, &sens, 1), ATTR(CKA_EXTRACTABLE, &ext, 1),
		ATTR(CKA_ALWAYS_SENSITIVE, &always, 1), ATTR(CKA_NEVER_EXTRACTABLE, &never, 1),
		ATTR(CKA_LOCAL, &local, 1),
	};
	CK_ATTRIBUTE lock[] = { ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE) };
	CK_FUNCTION_LIST *p = s->srv->p;
	char why[64];
	CK_RV rv = p->C_GetAttributeValue(s->h, priv, get, ARRAY_SIZE(get));

	/* A token that does not keep a key's history: taken as readable once. */
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return hp_fail(s, rv, "C_GetAttributeValue(CKA_SENSITIVE)");
	*was_readable = !sens || ext || !always || !never || !local;
	if ((!sens || ext) &&
	    (rv = p->C_SetAttributeValue(s->h, priv, lock, ARRAY_SIZE(lock))) != CKR_OK)
		return hp_failf(s, -EMEDIUMTYPE, "the token will not make its private key sensitive and not extractable (%s)",
				hp_rv_name(rv, why, sizeof(why)));
	sens = 0, ext = 1;
	rv = p->C_GetAttributeValue(s->h, priv, get, 2);
	if (rv != CKR_OK || !sens || ext)
		return hp_failf(s, -EMEDIUMTYPE, "its private key did not stay sensitive and not extractable");
	return 0;
}

/* @h's id and label set to @name's; its old ones saved into @old (room for them). */
static int rename_one(struct hp_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *name,
		      CK_ATTRIBUTE *old)
{
	CK_RV rv = s->srv->p->C_GetAttributeValue(s->h, h, old, 2);

	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue(CKA_ID, CKA_LABEL)");
	rv = s->srv->p->C_SetAttributeValue(s->h, h, name, 2);
	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_SetAttributeValue(CKA_ID, CKA_LABEL)");
}

/*
 * Both objects under the version's id and label: the public key first,
 * then the private key, which makes the version (hp_find_version() finds
 * it); the public key's old names put back if that fails.
 */
static int rename_pair(struct hp_session *s, const struct hp_key *k, CK_OBJECT_HANDLE priv,
		       CK_OBJECT_HANDLE pub)
{
	uint8_t vid[HP_VID_LEN], old_id[256], priv_id[256];
	char label[HP_NAME_MAX + 24], old_label[256], priv_label[256];
	CK_ATTRIBUTE name[] = { ATTR(CKA_ID, vid, sizeof(vid)), ATTR(CKA_LABEL, label, 0) };
	CK_ATTRIBUTE old[] = {
		ATTR(CKA_ID, old_id, sizeof(old_id)), ATTR(CKA_LABEL, old_label, sizeof(old_label)),
	};
	CK_ATTRIBUTE was[] = {
		ATTR(CKA_ID, priv_id, sizeof(priv_id)),
		ATTR(CKA_LABEL, priv_label, sizeof(priv_label)),
	};
	int r;

	hsm_vid(k->id, k->version, vid);
	name[1].ulValueLen = snprintf(label, sizeof(label), "hsmkey:%s:v%u", k->name, k->version);
	r = rename_one(s, pub, name, old);
	if (r)
		return r;
	r = rename_one(s, priv, name, was);
	if (r && s->srv->p->C_SetAttributeValue(s->h, pub, old, 2) != CKR_OK)
		log_warn("pkcs11: the public key object of '%s' keeps the name %s: it was not put back",
			 k->label, label);
	if (!r)
		hp_handle_remember(s->srv, vid, priv);
	return r;
}

int hp_identity_adopt(struct hp_session *s, const struct hp_key *k, bool *was_readable)
{
	CK_ATTRIBUTE priv_uses[] = {
		ATTR_T(CKA_SIGN), ATTR_F(CKA_SIGN_RECOVER), ATTR_F(CKA_DECRYPT),
		ATTR_F(CKA_UNWRAP), ATTR_F(CKA_DERIVE),
	};
	CK_ATTRIBUTE pub_uses[] = {
		ATTR_T(CKA_VERIFY), ATTR_F(CKA_VERIFY_RECOVER), ATTR_F(CKA_ENCRYPT),
		ATTR_F(CKA_WRAP), ATTR_F(CKA_DERIVE),
	};
	CK_OBJECT_HANDLE priv, pub;
	struct hp_kind kd;
	int r;

	/* Every check before anything changes: a pair refused is left as it was. */
	r = hp_identity_new(s, k, &kd) ?: find_pair(s, k, &kd, &priv, &pub) ?:
	    lock_private(s, priv, was_readable);
	if (r)
		return r;
	/* Best effort: some tokens fix a key's uses at creation. */
	s->srv->p->C_SetAttributeValue(s->h, priv, priv_uses, ARRAY_SIZE(priv_uses));
	s->srv->p->C_SetAttributeValue(s->h, pub, pub_uses, ARRAY_SIZE(pub_uses));
	return rename_pair(s, k, priv, pub);
}
