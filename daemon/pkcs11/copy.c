// SPDX-License-Identifier: GPL-2.0
/*
 * Copies of key versions (and, through shared.c, of hsmkey:record and
 * hsmkey:root) from one token to another, the primitive of
 * several tokens as one key store (issue 12, multi-token design §2.2,
 * §2.8).  Each token has an identity (hsmkey:member) and an RSA-3072 pair
 * (hsmkey:pair) whose private key may only unwrap; another token keeps
 * its public key as hsmkey:peer:MEMBER and wraps versions under it with
 * RSA-OAEP, which crosses p11-kit's RPC where AES key wrap does not (M11).
 * The daemon carries only public keys and OAEP blobs between the helpers.
 *
 * The OAEP hash is the receiver's: a trial with its own pair when the
 * pair is made finds SHA-256 or, failing that, SHA-1 (SoftHSM 2.6.1, M6);
 * it is kept in the pair's CKA_ID and travels with the public key into
 * the peer object's CKA_ID (member || hash), so both sides agree on it.
 *
 * A copy is checked before it is taken: a record or root by the exporter's
 * HMAC tag (shared.c), a version by its length (a trial AES key wrap),
 * which a token behind p11-kit's RPC cannot do: there a version comes in
 * unchecked (hsm.h: hsm_import_copy()).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pkcs11/helper.h"
#include "util.h"

#define MEMBER_LABEL	"hsmkey:member"
#define PAIR_LABEL	"hsmkey:pair"
#define PAIR_BITS	3072
#define PEER_LABEL_MAX	(12 + 2 * HSM_MEMBER_LEN + 1)
#define PEER_ID_LEN	(HSM_MEMBER_LEN + 1)

/* Finding or making the member id and the pair is one step: two sessions must not make two. */
static pthread_mutex_t copy_lock = PTHREAD_MUTEX_INITIALIZER;

static int make_member(struct hp_session *s, CK_OBJECT_HANDLE *h)
{
	log_info("token '%s': making %s", s->srv->label, MEMBER_LABEL);
	return hp_make_random_data(s, MEMBER_LABEL, HSM_MEMBER_LEN, h);
}

static int member(struct hp_session *s, uint8_t out[HSM_MEMBER_LEN])
{
	CK_ATTRIBUTE a = ATTR(CKA_VALUE, out, HSM_MEMBER_LEN);
	CK_OBJECT_HANDLE h;
	CK_RV rv;
	int r;

	pthread_mutex_lock(&copy_lock);
	r = hp_find_one(s, CKO_DATA, MEMBER_LABEL, &h);
	if (r == -ENOENT)
		r = make_member(s, &h);
	pthread_mutex_unlock(&copy_lock);
	if (r)
		return r;
	rv = s->srv->p->C_GetAttributeValue(s->h, h, &a, 1);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue(hsmkey:member)");
	if (a.ulValueLen != HSM_MEMBER_LEN)
		return hp_failf(s, -EIO, "hsmkey:member holds %lu bytes, not %d",
				(unsigned long)a.ulValueLen, HSM_MEMBER_LEN);
	return 0;
}

static int make_pair(struct hp_session *s, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	static const char label[] = PAIR_LABEL;
	static const uint8_t e65537[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM m = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = PAIR_BITS;
	CK_ATTRIBUTE pub_t[] = {
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, strlen(label)),
		ATTR(CKA_MODULUS_BITS, &bits, sizeof(bits)),
		ATTR(CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537)), ATTR_T(CKA_WRAP),
		ATTR_F(CKA_ENCRYPT), ATTR_F(CKA_VERIFY), ATTR_F(CKA_DERIVE),
	};
	CK_ATTRIBUTE priv_t[] = {
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, strlen(label)),
		ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE), ATTR_T(CKA_UNWRAP),
		ATTR_F(CKA_DECRYPT), ATTR_F(CKA_SIGN), ATTR_F(CKA_DERIVE),
	};
	CK_RV rv;

	log_info("token '%s': making %s (RSA-%d)", s->srv->label, label, PAIR_BITS);
	rv = s->srv->p->C_GenerateKeyPair(s->h, &m, pub_t, ARRAY_SIZE(pub_t), priv_t,
					  ARRAY_SIZE(priv_t), pub, priv);
	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_GenerateKeyPair(hsmkey:pair)");
}

/* Every object labelled @label (half a pair left by a crash). */
static int destroy_label(struct hp_session *s, const char *label)
{
	CK_ATTRIBUTE t[] = { ATTR(CKA_LABEL, label, strlen(label)) };
	int r = hp_destroy_all(s, t, ARRAY_SIZE(t), "C_DestroyObject");

	return r < 0 ? r : 0;
}

/* The hash the new pair unwraps with, tried, and kept in both halves' CKA_ID. */
static int choose_hash(struct hp_session *s, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
		       uint32_t *hash)
{
	uint8_t id;
	CK_ATTRIBUTE a = ATTR(CKA_ID, &id, 1);
	CK_RV rv;
	int r;

	*hash = HSM_OAEP_SHA256;
	r = hp_oaep_trial(s, pub, priv, *hash);
	if (r == -EOPNOTSUPP) {
		*hash = HSM_OAEP_SHA1;
		r = hp_oaep_trial(s, pub, priv, *hash);
		if (!r)
			log_info("token '%s': copies come in with RSA-OAEP SHA-1 "
				 "(SHA-256 is refused)", s->srv->label);
	}
	if (r == -EOPNOTSUPP)
		return hp_failf(s, r, "the token unwraps with CKM_RSA_PKCS_OAEP neither with "
				"SHA-256 nor with SHA-1");
	if (r)
		return r;
	id = *hash;
	rv = s->srv->p->C_SetAttributeValue(s->h, priv, &a, 1);
	if (rv == CKR_OK)
		rv = s->srv->p->C_SetAttributeValue(s->h, pub, &a, 1);
	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_SetAttributeValue(hsmkey:pair's CKA_ID)");
}

/*
 * Whether @h is still the object labelled @label of @cls (a remembered
 * handle some other process freed, or that the module gave another
 * object, is never used), and its CKA_ID into @id (*@idlen: its size, then
 * the length; 0 if too long).
 */
static bool still(struct hp_session *s, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS cls,
		  const char *label, uint8_t *id, CK_ULONG *idlen)
{
	CK_OBJECT_CLASS c = 0;
	char l[PEER_LABEL_MAX];
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &c, sizeof(c)), ATTR(CKA_LABEL, l, sizeof(l)),
		ATTR(CKA_ID, id, *idlen),
	};
	CK_RV rv;

	*idlen = 0;
	if (h == CK_INVALID_HANDLE)
		return false;
	rv = s->srv->p->C_GetAttributeValue(s->h, h, t, ARRAY_SIZE(t));
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		return false;
	if (t[2].ulValueLen != CK_UNAVAILABLE_INFORMATION)
		*idlen = t[2].ulValueLen;
	return c == cls && t[1].ulValueLen == strlen(label) && !memcmp(l, label, strlen(label));
}

/* The hash kept in @priv's CKA_ID; 0 if none yet (a pair made by a helper that then died). */
static int pair_hash(struct hp_session *s, CK_OBJECT_HANDLE priv, uint32_t *hash)
{
	uint8_t id[4];
	CK_ULONG len = sizeof(id);

	if (!still(s, priv, CKO_PRIVATE_KEY, PAIR_LABEL, id, &len))
		return hp_failf(s, -EIO, "hsmkey:pair changed while in use");
	*hash = len == 1 && id[0] >= HSM_OAEP_SHA1 && id[0] <= HSM_OAEP_SHA256 ? id[0] : 0;
	return 0;
}

/* hsmkey:pair and its hash; @make: made if the token lacks it, else -ENOENT. */
static int find_pair(struct hp_session *s, bool make, CK_OBJECT_HANDLE *pub,
		     CK_OBJECT_HANDLE *priv, uint32_t *hash)
{
	int r;

	pthread_mutex_lock(&copy_lock);
	r = hp_find_one(s, CKO_PRIVATE_KEY, PAIR_LABEL, priv) ?:
	    hp_find_one(s, CKO_PUBLIC_KEY, PAIR_LABEL, pub);
	if (r == -ENOENT && make)
		r = destroy_label(s, PAIR_LABEL) ?: make_pair(s, pub, priv);
	r = r ?: pair_hash(s, *priv, hash);
	if (!r && !*hash)
		r = choose_hash(s, *pub, *priv, hash);
	s->srv->pair = r ? CK_INVALID_HANDLE : *priv;
	pthread_mutex_unlock(&copy_lock);
	return r;
}

/* hsmkey:pair's private key, remembered: copies come in without a search of the token. */
static int pair_priv(struct hp_session *s, CK_OBJECT_HANDLE *priv, uint32_t *hash)
{
	CK_OBJECT_HANDLE pub;
	uint8_t id[4];
	CK_ULONG len = sizeof(id);
	bool known;

	pthread_mutex_lock(&copy_lock);
	*priv = s->srv->pair;
	pthread_mutex_unlock(&copy_lock);
	known = still(s, *priv, CKO_PRIVATE_KEY, PAIR_LABEL, id, &len) && len == 1 &&
		id[0] >= HSM_OAEP_SHA1 && id[0] <= HSM_OAEP_SHA256;
	if (known)
		*hash = id[0];
	return known ? 0 : find_pair(s, false, &pub, priv, hash);
}

static int rsa_public(struct hp_session *s, CK_OBJECT_HANDLE pub, struct hsm_import_key *out)
{
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_MODULUS, out->n, sizeof(out->n)),
		ATTR(CKA_PUBLIC_EXPONENT, out->e, sizeof(out->e)),
	};
	CK_RV rv = s->srv->p->C_GetAttributeValue(s->h, pub, t, ARRAY_SIZE(t));

	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue(CKA_MODULUS, CKA_PUBLIC_EXPONENT)");
	out->nlen = t[0].ulValueLen;
	out->elen = t[1].ulValueLen;
	return 0;
}

static int pair_pub(struct hp_session *s, struct hsm_import_key *out)
{
	CK_OBJECT_HANDLE pub, priv;
	uint32_t hash = 0;
	int r = find_pair(s, true, &pub, &priv, &hash) ?: rsa_public(s, pub, out);

	out->hash = hash;
	return r;
}

static void peer_label(const uint8_t *m, char out[PEER_LABEL_MAX])
{
	memcpy(out, "hsmkey:peer:", 12);
	hex_encode(m, HSM_MEMBER_LEN, out + 12);
}

/* Big-endian numbers are equal whatever leading zeros each has. */
static bool same_number(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	while (alen && !*a)
		a++, alen--;
	while (blen && !*b)
		b++, blen--;
	return alen == blen && !memcmp(a, b, alen);
}

static int peer_add(struct hp_session *s, const struct hp_peer *p)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	char label[PEER_LABEL_MAX];
	uint8_t id[PEER_ID_LEN], self[HSM_MEMBER_LEN];
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, PEER_LABEL_MAX - 1),
		ATTR(CKA_ID, id, sizeof(id)), ATTR(CKA_MODULUS, p->pub.n, p->pub.nlen),
		ATTR(CKA_PUBLIC_EXPONENT, p->pub.e, p->pub.elen), ATTR_T(CKA_WRAP),
		ATTR_F(CKA_ENCRYPT), ATTR_F(CKA_VERIFY), ATTR_F(CKA_DERIVE),
	};
	struct hsm_import_key have;
	CK_OBJECT_HANDLE h;
	CK_RV rv;
	int r = member(s, self);

	if (r)
		return r;
	peer_label(p->member, label);
	if (!memcmp(self, p->member, HSM_MEMBER_LEN))
		return hp_failf(s, -EINVAL, "member %s is this token itself", label + 12);
	memcpy(id, p->member, HSM_MEMBER_LEN);
	id[HSM_MEMBER_LEN] = p->pub.hash;
	pthread_mutex_lock(&copy_lock);
	r = hp_find_one(s, CKO_PUBLIC_KEY, label, &h);
	if (!r) {
		r = rsa_public(s, h, &have);
		if (!r && (!same_number(have.n, have.nlen, p->pub.n, p->pub.nlen) ||
			   !same_number(have.e, have.elen, p->pub.e, p->pub.elen)))
			r = hp_failf(s, -EEXIST, "the token holds another key for member %s",
				     label + 12);
	} else if (r == -ENOENT) {
		rv = s->srv->p->C_CreateObject(s->h, t, ARRAY_SIZE(t), &h);
		r = rv == CKR_OK ? 0 : hp_fail(s, rv, "C_CreateObject(hsmkey:peer)");
	}
	pthread_mutex_unlock(&copy_lock);
	return r;
}

/*
 * The peer key of @m and the hash its token unwraps with; the last one
 * used is remembered (a catch-up copies many versions to one peer).
 */
static int find_peer(struct hp_session *s, const uint8_t *m, CK_OBJECT_HANDLE *h, uint32_t *hash)
{
	char label[PEER_LABEL_MAX];
	uint8_t id[PEER_ID_LEN + 1];
	CK_ULONG len = sizeof(id);
	int r = 0;

	peer_label(m, label);
	pthread_mutex_lock(&copy_lock);
	*h = memcmp(s->srv->peer_member, m, HSM_MEMBER_LEN) ? CK_INVALID_HANDLE : s->srv->peer;
	pthread_mutex_unlock(&copy_lock);
	if (!still(s, *h, CKO_PUBLIC_KEY, label, id, &len)) {
		r = hp_find_one(s, CKO_PUBLIC_KEY, label, h);
		len = sizeof(id);
		if (!r && !still(s, *h, CKO_PUBLIC_KEY, label, id, &len))
			r = hp_failf(s, -EIO, "%s changed while in use", label);
	}
	if (r)
		return r;
	if (len != PEER_ID_LEN || memcmp(id, m, HSM_MEMBER_LEN) ||
	    id[HSM_MEMBER_LEN] < HSM_OAEP_SHA1 || id[HSM_MEMBER_LEN] > HSM_OAEP_SHA256)
		return hp_failf(s, -EIO, "%s has no member id and hash for its CKA_ID", label);
	*hash = id[HSM_MEMBER_LEN];
	pthread_mutex_lock(&copy_lock);
	memcpy(s->srv->peer_member, m, HSM_MEMBER_LEN);
	s->srv->peer = *h;
	pthread_mutex_unlock(&copy_lock);
	return 0;
}

static int export(struct hp_session *s, const struct hp_copy *c, struct hp_reply *rep)
{
	CK_RSA_PKCS_OAEP_PARAMS params;
	CK_MECHANISM m;
	CK_OBJECT_HANDLE peer, key;
	CK_ULONG len = sizeof(rep->copy.blob);
	uint32_t hash = 0;
	CK_RV rv;
	int r = find_peer(s, c->member, &peer, &hash);

	if (r)
		return r;
	hp_oaep_mech(hash, &params, &m);
	if (c->obj != HSM_OBJ_VERSION) {
		r = hp_shared_export(s, c->obj, &m, peer, rep->copy.blob, &len, rep->copy.tag);
		rep->copy.len = r ? 0 : len;
		return r;
	}
	r = hp_find_version(s, c->key.id, c->key.version, &key);
	if (r)
		return r;
	rv = s->srv->p->C_WrapKey(s->h, &m, peer, key, rep->copy.blob, &len);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_WrapKey(RSA-OAEP, hsmkey:peer)");
	rep->copy.len = len;
	return 0;
}

/*
 * A version's length cannot be checked where the token lacks AES key wrap
 * (p11-kit's RPC, M11): the copy is taken unchecked (hsm.h says why that is
 * safe), and the log says so once per helper.
 */
static int unchecked(struct hp_session *s)
{
	if (!__atomic_exchange_n(&s->srv->said_unchecked, true, __ATOMIC_RELAXED))
		log_info("token '%s': no CKM_AES_KEY_WRAP (p11-kit's RPC?): copies of key "
			 "versions come in with their length unchecked; a wrong one fails at "
			 "delivery", s->srv->label);
	hp_clear_error(s);
	return 0;
}

/* The copy's length against its type's; a refused copy is destroyed. */
static int check_copy(struct hp_session *s, const struct hp_key *k, CK_OBJECT_HANDLE h)
{
	CK_ULONG want = key_type_len(k->type), len = 0;
	int r = hp_unwrapped_len(s, h, &len);

	if (r == -EOPNOTSUPP)
		return unchecked(s);
	if (!r && len != want)
		r = hp_failf(s, len > want ? -EMSGSIZE : -ENODATA,
			     "the copy is %s than a %s key", len > want ? "longer" : "shorter",
			     key_type_name(k->type));
	return r;
}

static int import_copy(struct hp_session *s, const struct hp_copy *c)
{
	CK_OBJECT_HANDLE priv, h;
	CK_RSA_PKCS_OAEP_PARAMS params;
	CK_MECHANISM m;
	struct hp_unwrapping uw = { &m, 0, c->blob, c->len };
	uint32_t hash = 0;
	int r = pair_priv(s, &priv, &hash);

	if (r == -ENOENT)
		return hp_failf(s, -EKEYREJECTED, "the token holds no %s", PAIR_LABEL);
	if (r)
		return r;
	hp_oaep_mech(hash, &params, &m);
	uw.key = priv;
	if (c->obj != HSM_OBJ_VERSION)
		return hp_shared_import(s, c->obj, &uw, c->tag);
	r = hp_key_unwrap_staged(s, &c->key, &uw, &h);
	if (r && hp_blob_refused(s)) {
		s->rv = CKR_OK;
		return hp_failf(s, -EKEYREJECTED, "the copy does not unwrap with %s", PAIR_LABEL);
	}
	if (r)
		return r;
	r = check_copy(s, &c->key, h) ?: hp_key_commit_staged(s, &c->key, h);
	if (r)		/* refused, or the same key there already */
		hp_key_drop_staged(s, &c->key, h);
	return r > 0 ? 0 : r;
}

int hp_copy_serve(struct hp_session *s, const struct hp_request *req, struct hp_reply *rep)
{
	if ((req->op == HP_EXPORT || req->op == HP_IMPORT_COPY) && req->copy.obj == HSM_OBJ_AUDIT)
		return hp_audit_copy(s);
	switch (req->op) {
	case HP_MEMBER:
		return member(s, rep->member);
	case HP_PAIR_PUB:
		return pair_pub(s, &rep->import_key);
	case HP_PEER_ADD:
		return peer_add(s, &req->peer);
	case HP_EXPORT:
		return export(s, &req->copy, rep);
	case HP_IMPORT_COPY:
		return import_copy(s, &req->copy);
	}
	return hp_failf(s, -EINVAL, "unknown request %u", req->op);
}
