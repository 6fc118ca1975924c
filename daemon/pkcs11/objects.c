// SPDX-License-Identifier: GPL-2.0
/*
 * The objects in a token and their names (hsm.h, design §4.3): finding
 * them, the per-token hsmkey:* objects made at first use, and the key
 * versions (generate, raw import, unwrap for importkey.c, adoption of a
 * key the HSM's own tools made, a copy from another token, destruction).
 * A key version is sensitive and extractable only to be wrapped: no other
 * use is allowed, so it cannot serve as a KEK or as a derivation base.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "key.h"
#include "pkcs11/helper.h"
#include "util.h"

CK_BBOOL hp_true = CK_TRUE, hp_false = CK_FALSE;

static const uint8_t p256_params[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t ed25519_params[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

/* At most @max objects: for a caller that wants one (or to see that there is a second). */
/*
 * One C_FindObjects of a search begun: up to @max handles into @out.  A
 * module that says it gave more than asked is not to be trusted; each call
 * is a step of the token's opening (hp_beat()).
 */
CK_RV hp_find_next(struct hp_session *s, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *got)
{
	CK_RV rv = s->srv->p->C_FindObjects(s->h, out, max, got);

	if (rv == CKR_OK && *got > max)
		rv = CKR_GENERAL_ERROR;
	hp_beat(s->srv);
	return rv;
}

int hp_find(struct hp_session *s, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out,
	    CK_ULONG max, CK_ULONG *found)
{
	CK_FUNCTION_LIST *p = s->srv->p;
	CK_RV rv;

	rv = p->C_FindObjectsInit(s->h, t, n);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_FindObjectsInit");
	rv = hp_find_next(s, out, max, found);
	p->C_FindObjectsFinal(s->h);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_FindObjects");
	return 0;
}

/*
 * Every object matching @t, into *@out (free() it): C_FindObjects until it
 * gives fewer than asked, so none is missed however many there are.
 */
int hp_find_all(struct hp_session *s, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE **out,
		CK_ULONG *found)
{
	CK_FUNCTION_LIST *p = s->srv->p;
	CK_OBJECT_HANDLE *h = NULL, *tmp;
	CK_ULONG cap = 0, k = 0, got = 0;
	CK_RV rv;

	rv = p->C_FindObjectsInit(s->h, t, n);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_FindObjectsInit");
	do {
		if (k == cap) {
			tmp = realloc(h, (cap + 64) * sizeof(*h));
			if (!tmp) {
				p->C_FindObjectsFinal(s->h);
				free(h);
				return hp_failf(s, -ENOMEM, "out of memory");
			}
			h = tmp;
			cap += 64;
		}
		rv = hp_find_next(s, h + k, cap - k, &got);
		k += rv == CKR_OK ? got : 0;
	} while (rv == CKR_OK && k == cap);
	p->C_FindObjectsFinal(s->h);
	if (rv != CKR_OK) {
		free(h);
		return hp_fail(s, rv, "C_FindObjects");
	}
	*out = h;
	*found = k;
	return 0;
}

/* The one object of @cls labelled @label: -ENOENT if none. */
int hp_find_one(struct hp_session *s, CK_OBJECT_CLASS cls, const char *label,
		CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_LABEL, label, strlen(label)),
	};
	CK_ULONG found = 0;
	int r;

	r = hp_find(s, t, ARRAY_SIZE(t), out, 1, &found);
	if (!r && !found)
		r = hp_failf(s, -ENOENT, "no object %s", label);
	return r;
}

static void version_id(const uint8_t *id, uint32_t version, uint8_t out[HSM_VID_LEN])
{
	hsm_vid(id, version, out);
}

/*
 * A copy from another token is unwrapped under this CKA_ID ("copy" || the
 * version's), 24 bytes: no key version's (hp_key_list() passes over it),
 * and the version it will replace keeps its own until the copy is checked.
 * Its label is STAGED_LABEL until then: what a helper that died left so
 * is destroyed when the next one opens the token.
 */
#define STAGED_ID_LEN	(HSMKEY_ID_LEN + 8)
#define STAGED_LABEL	HP_STAGED_LABEL

static void staged_id(const uint8_t *id, uint32_t version, uint8_t out[STAGED_ID_LEN])
{
	memcpy(out, "copy", 4);
	version_id(id, version, out + 4);
}

int hp_destroy_all(struct hp_session *s, CK_ATTRIBUTE *t, CK_ULONG n, const char *what)
{
	CK_OBJECT_HANDLE *h;
	CK_ULONG found = 0, i;
	CK_RV rv = CKR_OK;
	int r = hp_find_all(s, t, n, &h, &found);

	if (r)
		return r;
	for (i = 0; i < found && rv == CKR_OK; i++)
		rv = s->srv->p->C_DestroyObject(s->h, h[i]);
	free(h);
	return rv == CKR_OK ? (int)found : hp_fail(s, rv, what);
}

/*
 * Destroy every object whose CKA_ID is @vid: how many there were, or
 * -errno.  A handle of a destroyed object is never used: it is forgotten
 * before, and again after, in case a delivery found it meanwhile.
 */
static int destroy_id(struct hp_session *s, const uint8_t *vid, size_t len)
{
	CK_ATTRIBUTE t[] = { ATTR(CKA_ID, vid, len) };
	int r;

	if (len == HP_VID_LEN)
		hp_handle_forget(s->srv, vid);
	r = hp_destroy_all(s, t, ARRAY_SIZE(t), "C_DestroyObject");
	if (len == HP_VID_LEN)
		hp_handle_forget(s->srv, vid);
	return r;
}

/* A secret key version, or an identity key version's private key. */
int hp_find_version(struct hp_session *s, const uint8_t *id, uint32_t version,
		    CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	uint8_t vid[HSMKEY_ID_LEN + 4];
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_ID, vid, sizeof(vid)),
	};
	CK_ULONG found = 0;
	int r;

	version_id(id, version, vid);
	if (hp_handle_recall(s, vid, out))
		return 0;
	r = hp_find(s, t, ARRAY_SIZE(t), out, 1, &found);
	if (!r && !found) {
		cls = CKO_PRIVATE_KEY;
		r = hp_find(s, t, ARRAY_SIZE(t), out, 1, &found);
	}
	if (!r && !found)
		r = hp_failf(s, -ENOENT, "no key version %u", version);
	if (!r)
		hp_handle_remember(s->srv, vid, *out);
	return r;
}

/* As hp_find_version(), past the remembered handle, which failed a call. */
int hp_find_version_again(struct hp_session *s, const uint8_t *id, uint32_t version,
			  CK_OBJECT_HANDLE *out)
{
	uint8_t vid[HP_VID_LEN];

	version_id(id, version, vid);
	hp_handle_forget(s->srv, vid);
	return hp_find_version(s, id, version, out);
}

/* A point from CKA_EC_POINT: DER (04 len value) or, on some tokens, raw. */
int hp_read_point(struct hp_session *s, CK_OBJECT_HANDLE pub, uint8_t *out, size_t len)
{
	uint8_t buf[128];
	CK_ATTRIBUTE a = ATTR(CKA_EC_POINT, buf, sizeof(buf));
	CK_RV rv;

	rv = s->srv->p->C_GetAttributeValue(s->h, pub, &a, 1);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue(CKA_EC_POINT)");
	if (len < 128 && a.ulValueLen == len + 2 && buf[0] == 0x04 && buf[1] == len)
		memcpy(out, buf + 2, len);
	else if (a.ulValueLen == len)
		memcpy(out, buf, len);
	else
		return hp_failf(s, -EIO, "public key of %lu bytes", (unsigned long)a.ulValueLen);
	return 0;
}

static int make_pair(struct hp_session *s, const char *label, CK_MECHANISM_TYPE mech,
		     const uint8_t *params, size_t plen, bool derive, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_BBOOL d = derive, sg = !derive;
	CK_ATTRIBUTE pub_t[] = {
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, strlen(label)),
		ATTR(CKA_EC_PARAMS, params, plen), ATTR(CKA_VERIFY, &sg, 1),
	};
	CK_ATTRIBUTE priv_t[] = {
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, strlen(label)),
		ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE), ATTR(CKA_DERIVE, &d, 1),
		ATTR(CKA_SIGN, &sg, 1), ATTR_F(CKA_DECRYPT), ATTR_F(CKA_UNWRAP),
	};
	CK_OBJECT_HANDLE pub;
	CK_RV rv;

	rv = s->srv->p->C_GenerateKeyPair(s->h, &m, pub_t, ARRAY_SIZE(pub_t), priv_t,
					  ARRAY_SIZE(priv_t), &pub, priv);
	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_GenerateKeyPair");
}

/*
 * hsmkey:record, hsmkey:root: extractable only so that they can be wrapped
 * to another member's hsmkey:pair (hsm.h says why that costs nothing);
 * sensitive, and no use but HMAC.  shared.c unwraps copies alike.
 */
static int make_hmac_key(struct hp_session *s, const char *label, CK_OBJECT_HANDLE *h)
{
	CK_MECHANISM m = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_ULONG len = 32;
	CK_ATTRIBUTE t[] = {
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, strlen(label)),
		ATTR(CKA_VALUE_LEN, &len, sizeof(len)), ATTR_T(CKA_SENSITIVE),
		ATTR_T(CKA_EXTRACTABLE), ATTR_T(CKA_SIGN), ATTR_T(CKA_VERIFY),
		ATTR_F(CKA_ENCRYPT), ATTR_F(CKA_DECRYPT), ATTR_F(CKA_WRAP),
		ATTR_F(CKA_UNWRAP), ATTR_F(CKA_DERIVE),
	};
	CK_RV rv;

	rv = s->srv->p->C_GenerateKey(s->h, &m, t, ARRAY_SIZE(t), h);
	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_GenerateKey");
}

int hp_make_data(struct hp_session *s, const char *label, const void *v, size_t len,
		 CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE),
		ATTR(CKA_LABEL, label, strlen(label)), ATTR(CKA_VALUE, v, len),
	};
	CK_RV rv = s->srv->p->C_CreateObject(s->h, t, ARRAY_SIZE(t), h);

	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_CreateObject");
}

int hp_make_random_data(struct hp_session *s, const char *label, size_t len,
			CK_OBJECT_HANDLE *h)
{
	uint8_t v[32];
	CK_RV rv;

	if (len > sizeof(v))
		return -EINVAL;
	rv = s->srv->p->C_GenerateRandom(s->h, v, len);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GenerateRandom");
	return hp_make_data(s, label, v, len, h);
}

static int make_instance(struct hp_session *s, CK_OBJECT_HANDLE *h)
{
	return hp_make_random_data(s, "hsmkey:instance", HSMKEY_OWNER_LEN, h);
}

/*
 * @label's object of @cls, made by @make when the token lacks it; without
 * @make (a joining token's shared objects) *@h is CK_INVALID_HANDLE then,
 * which the calls needing it check (hp_lacks_shared()).
 */
static int ensure(struct hp_session *s, CK_OBJECT_CLASS cls, const char *label,
		  CK_OBJECT_HANDLE *h, int (*make)(struct hp_session *, CK_OBJECT_HANDLE *))
{
	int r = hp_find_one(s, cls, label, h);

	if (r == -ENOENT && !make) {
		*h = CK_INVALID_HANDLE;
		s->why[0] = 0;
		return 0;
	}
	if (r == -ENOENT) {
		log_info("token '%s': making %s", s->srv->label, label);
		r = make(s, h);
	}
	return r;
}

static int make_record(struct hp_session *s, CK_OBJECT_HANDLE *h)
{
	return make_hmac_key(s, "hsmkey:record", h);
}

static int make_root(struct hp_session *s, CK_OBJECT_HANDLE *h)
{
	return make_hmac_key(s, "hsmkey:root", h);
}

static int make_delivery(struct hp_session *s, CK_OBJECT_HANDLE *h)
{
	return make_pair(s, "hsmkey:delivery", CKM_EC_KEY_PAIR_GEN, p256_params,
			 sizeof(p256_params), true, h);
}

static int make_audit(struct hp_session *s, CK_OBJECT_HANDLE *h)
{
	return make_pair(s, "hsmkey:audit", CKM_EC_EDWARDS_KEY_PAIR_GEN, ed25519_params,
			 sizeof(ed25519_params), false, h);
}

/* Copies a helper left staged when it died (between unwrap and commit). */
static int drop_staged_leftovers(struct hp_session *s)
{
	static const char label[] = STAGED_LABEL;
	CK_ATTRIBUTE t[] = { ATTR(CKA_LABEL, label, strlen(label)) };
	int r = hp_destroy_all(s, t, ARRAY_SIZE(t), "C_DestroyObject(hsmkey:copy-in)");

	if (r > 0)
		log_info("token '%s': destroyed %d unfinished copies", s->srv->label, r);
	return r < 0 ? r : 0;
}

int hp_audit_ensure(struct hp_session *s, bool make)
{
	struct hp_server *srv = s->srv;
	CK_OBJECT_HANDLE pub;
	int r;

	if (srv->missing & (1UL << HM_ED_GEN))
		return 0;
	r = ensure(s, CKO_PRIVATE_KEY, "hsmkey:audit", &srv->audit, make ? make_audit : NULL);
	if (r || srv->audit == CK_INVALID_HANDLE)
		return r;
	return hp_find_one(s, CKO_PUBLIC_KEY, "hsmkey:audit", &pub) ?:
	       hp_read_point(s, pub, srv->audit_pub, HSM_PUB_LEN);
}

/*
 * The hsmkey:* objects, found or made.  Those whose mechanisms the token
 * lacks are left out; the operations needing them then name what is
 * missing (hp_need()).  A token joining a key store (srv->join) makes
 * none of the shared ones, which are copied in, nor hsmkey:audit until it
 * holds hsmkey:instance (hp_instance_set(), the join's last step): an
 * audit key made before would sign for a token that is no member yet.
 */
int hp_token_objects(struct hp_session *s)
{
	struct hp_server *srv = s->srv;
	bool make = !srv->join;
	CK_OBJECT_HANDLE pub;
	int r;

	r = ensure(s, CKO_DATA, "hsmkey:instance", &srv->instance, make ? make_instance : NULL) ?:
	    drop_staged_leftovers(s);
	if (!r && srv->join && srv->instance == CK_INVALID_HANDLE)
		log_info("token '%s': joining a key store: its hsmkey:instance, record, root "
			 "and audit are not made here", srv->label);
	if (!r && !(srv->missing & (1UL << HM_SECRET_GEN)))
		r = ensure(s, CKO_SECRET_KEY, "hsmkey:record", &srv->record,
			   make ? make_record : NULL) ?:
		    ensure(s, CKO_SECRET_KEY, "hsmkey:root", &srv->root, make ? make_root : NULL);
	if (!r && !(srv->missing & (1UL << HM_EC_GEN)))
		r = ensure(s, CKO_PRIVATE_KEY, "hsmkey:delivery", &srv->delivery,
			   make_delivery) ?:
		    hp_find_one(s, CKO_PUBLIC_KEY, "hsmkey:delivery", &pub) ?:
		    hp_read_point(s, pub, srv->qh, HSM_POINT_LEN);
	return r ?: hp_audit_ensure(s, make || srv->instance != CK_INVALID_HANDLE);
}

/*
 * A generic secret (XTS, which PKCS#11 2.40 has no key type for; HMAC),
 * else an AES key.
 */
static bool is_generic(int type)
{
	return type == HSMKEY_TYPE_AES_128_XTS || type == HSMKEY_TYPE_AES_256_XTS ||
	       ks_type_mac(type);
}

static CK_KEY_TYPE key_type_of(int type)
{
	return is_generic(type) ? CKK_GENERIC_SECRET : CKK_AES;
}

/*
 * What a version of @type may do in the token besides being wrapped: a
 * KMS key encrypts and decrypts, a MAC key signs and verifies (HMAC), a
 * kernel key nothing.
 */
static CK_BBOOL *crypts(int type)
{
	return ks_type_kms(type) ? &hp_true : &hp_false;
}

static CK_BBOOL *signs(int type)
{
	return ks_type_mac(type) ? &hp_true : &hp_false;
}

/*
 * A new key version: its attributes are the same however it comes in.
 * @value: raw import; @uw: unwrapped by the token (SoftHSM takes no
 * CKA_VALUE_LEN then, and knows none after: the caller checks the length);
 * neither: generated.  @staged: a copy, under its staging CKA_ID and label.
 */
static int make_version(struct hp_session *s, const struct hp_key *k, const uint8_t *value,
			const struct hp_unwrapping *uw, bool staged, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = key_type_of(k->type);
	CK_ULONG len = key_type_len(k->type);
	CK_MECHANISM m = { is_generic(k->type) ? CKM_GENERIC_SECRET_KEY_GEN : CKM_AES_KEY_GEN,
			   NULL, 0 };
	uint8_t vid[STAGED_ID_LEN];
	char label[HP_NAME_MAX + 24];
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR_T(CKA_SENSITIVE),
		ATTR_T(CKA_EXTRACTABLE), ATTR(CKA_ENCRYPT, crypts(k->type), 1),
		ATTR(CKA_DECRYPT, crypts(k->type), 1), ATTR(CKA_SIGN, signs(k->type), 1),
		ATTR(CKA_VERIFY, signs(k->type), 1), ATTR_F(CKA_WRAP),
		ATTR_F(CKA_UNWRAP), ATTR_F(CKA_DERIVE), ATTR(CKA_ID, vid, HP_VID_LEN),
		ATTR(CKA_LABEL, label, 0),
		ATTR(value ? CKA_VALUE : CKA_VALUE_LEN, value ? (void *)value : (void *)&len,
		     value ? len : sizeof(len)),
	};
	CK_ULONG n = ARRAY_SIZE(t) - (uw ? 1 : 0);	/* unwrap: without the last, the value */
	CK_OBJECT_HANDLE h;
	const char *call;
	CK_RV rv;
	int r;

	if (ks_type_identity(k->type) && !value && !uw && !staged)
		return hp_identity_generate(s, k);
	if (ks_type_identity(k->type) && value && !staged)
		return hp_identity_import(s, k);
	if (ks_type_identity(k->type))
		return hp_failf(s, -EOPNOTSUPP, "an identity key is made in the token or imported from its private key file, never unwrapped or copied (%s)",
				key_type_name(k->type));
	r = hp_need(s, value || uw ? 0 : 1UL << (is_generic(k->type) ? HM_SECRET_GEN : HM_AES_GEN));
	if (r)
		return r;
	if (staged) {
		staged_id(k->id, k->version, vid);
		t[13].ulValueLen = STAGED_ID_LEN;
		t[14].ulValueLen = snprintf(label, sizeof(label), "%s", STAGED_LABEL);
	} else {
		r = hp_find_version(s, k->id, k->version, &h);
		if (r != -ENOENT)
			return r ?: hp_failf(s, -EEXIST, "key version %u is in the token already",
					     k->version);
		version_id(k->id, k->version, vid);
		t[14].ulValueLen = snprintf(label, sizeof(label), "hsmkey:%s:v%u", k->name,
					    k->version);
	}
	if (uw) {
		call = "C_UnwrapKey";
		rv = s->srv->p->C_UnwrapKey(s->h, uw->m, uw->key, (CK_BYTE *)uw->blob, uw->len,
					    t, n, &h);
	} else if (value) {
		call = "C_CreateObject";
		rv = s->srv->p->C_CreateObject(s->h, t, n, &h);
	} else {
		call = "C_GenerateKey";
		rv = s->srv->p->C_GenerateKey(s->h, &m, t, n, &h);
	}
	if (rv != CKR_OK)
		return hp_fail(s, rv, call);
	if (!staged)
		hp_handle_remember(s->srv, vid, h);
	if (out)
		*out = h;
	return 0;
}

int hp_key_generate(struct hp_session *s, const struct hp_key *k)
{
	return make_version(s, k, NULL, NULL, false, NULL);
}

int hp_key_import(struct hp_session *s, const struct hp_key *k)
{
	return make_version(s, k, k->material, NULL, false, NULL);
}

int hp_key_unwrap_version(struct hp_session *s, const struct hp_key *k,
			  const struct hp_unwrapping *uw, CK_OBJECT_HANDLE *out)
{
	return make_version(s, k, NULL, uw, false, out);
}

int hp_key_unwrap_staged(struct hp_session *s, const struct hp_key *k,
			 const struct hp_unwrapping *uw, CK_OBJECT_HANDLE *out)
{
	return make_version(s, k, NULL, uw, true, out);
}

/* A session AES key that wraps only, made to look at other keys' values. */
static int probe_kek(struct hp_session *s, CK_OBJECT_HANDLE *kek)
{
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG klen = 32;
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_VALUE_LEN, &klen, sizeof(klen)), ATTR_F(CKA_TOKEN), ATTR_T(CKA_SENSITIVE),
		ATTR_F(CKA_EXTRACTABLE), ATTR_T(CKA_WRAP), ATTR_F(CKA_ENCRYPT), ATTR_F(CKA_DECRYPT),
		ATTR_F(CKA_UNWRAP),
	};
	CK_RV rv = s->srv->p->C_GenerateKey(s->h, &gen, t, ARRAY_SIZE(t), kek);

	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_GenerateKey(a probe key)");
}

/* Whether secret keys @a and @b hold one value: their AES-KW blobs under one probe key. */
static int same_value(struct hp_session *s, CK_OBJECT_HANDLE a, CK_OBJECT_HANDLE b, bool *same)
{
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP, NULL, 0 };
	uint8_t x[HSMKEY_MATERIAL_MAX + 8], y[sizeof(x)];
	CK_ULONG xl = sizeof(x), yl = sizeof(y);
	CK_OBJECT_HANDLE kek;
	CK_RV rv;
	int r = probe_kek(s, &kek);

	if (r)
		return r;
	rv = s->srv->p->C_WrapKey(s->h, &kw, kek, a, x, &xl);
	if (rv == CKR_OK)
		rv = s->srv->p->C_WrapKey(s->h, &kw, kek, b, y, &yl);
	s->srv->p->C_DestroyObject(s->h, kek);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_WrapKey(comparing two keys)");
	*same = xl == yl && !memcmp(x, y, xl);
	return 0;
}

/*
 * The checked copy @h becomes the version, if the token holds none: 0.  If
 * it holds that version already with the same value: 1 (the caller drops
 * @h).  With another value (two tokens each made a version of that number,
 * or a blob wrapped by someone holding the pair's public key): -EEXIST,
 * nothing changed; the blob is not authenticated, so a copy never
 * replaces a key data may already be encrypted under.
 */
int hp_key_commit_staged(struct hp_session *s, const struct hp_key *k, CK_OBJECT_HANDLE h)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	uint8_t vid[HP_VID_LEN];
	char label[HP_NAME_MAX + 24];
	CK_ATTRIBUTE find[] = { ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_ID, vid, sizeof(vid)) };
	CK_ATTRIBUTE set[] = { ATTR(CKA_ID, vid, sizeof(vid)), ATTR(CKA_LABEL, label, 0) };
	CK_OBJECT_HANDLE *old;
	CK_ULONG found = 0, i;
	bool same = true;
	CK_RV rv;
	int r;

	version_id(k->id, k->version, vid);
	set[1].ulValueLen = snprintf(label, sizeof(label), "hsmkey:%s:v%u", k->name, k->version);
	r = hp_find_all(s, find, ARRAY_SIZE(find), &old, &found);
	if (r)
		return r;
	for (i = 0; i < found && same && !r; i++)
		r = same_value(s, old[i], h, &same);
	free(old);
	if (r)
		return r;
	if (found && !same)
		return hp_failf(s, -EEXIST, "token '%s' holds another key as version %u: the copy is not taken",
				s->srv->label, k->version);
	if (found)
		return 1;
	rv = s->srv->p->C_SetAttributeValue(s->h, h, set, ARRAY_SIZE(set));
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_SetAttributeValue(the copy's CKA_ID)");
	hp_handle_remember(s->srv, vid, h);
	return 0;
}

/*
 * The length of secret key @h as the token wraps it: AES-KW (@mech) under a
 * session key made for the purpose gives length + 8 (KWP: the length
 * rounded up to 8, + 8).  For a key whose CKA_VALUE_LEN the token does not
 * know: SoftHSM says 0 for every key that came in by C_UnwrapKey (a key
 * ceremony's import, a wrapped import), and does not let it be set.
 */
int hp_wrapped_len(struct hp_session *s, CK_OBJECT_HANDLE h, CK_MECHANISM_TYPE mech,
		   CK_ULONG *len)
{
	CK_MECHANISM kw = { mech, NULL, 0 };
	CK_ULONG out = 0;
	CK_OBJECT_HANDLE kek;
	CK_RV rv;
	int r = probe_kek(s, &kek);

	if (r)
		return r;
	rv = s->srv->p->C_WrapKey(s->h, &kw, kek, h, NULL, &out);
	s->srv->p->C_DestroyObject(s->h, kek);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_WrapKey(length)");
	*len = out > 8 ? out - 8 : 0;
	return 0;
}

static int check_adoptable(struct hp_session *s, const struct hp_key *k, CK_OBJECT_HANDLE h,
			   bool *was_readable)
{
	CK_KEY_TYPE kt = 0;
	CK_ULONG len = 0;
	CK_BBOOL extractable = 0, sensitive = 0, trusted = 0;
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)), ATTR(CKA_VALUE_LEN, &len, sizeof(len)),
		ATTR(CKA_EXTRACTABLE, &extractable, 1), ATTR(CKA_SENSITIVE, &sensitive, 1),
	};
	CK_ATTRIBUTE w = ATTR(CKA_WRAP_WITH_TRUSTED, &trusted, 1);
	CK_RV rv;

	rv = s->srv->p->C_GetAttributeValue(s->h, h, t, ARRAY_SIZE(t));
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue");
	if (s->srv->p->C_GetAttributeValue(s->h, h, &w, 1) != CKR_OK)
		trusted = 0;	/* a token without trusted wrapping */
	if (!len && extractable && !trusted) {
		int r = hp_wrapped_len(s, h, CKM_AES_KEY_WRAP, &len);

		if (r)
			return r;
	}
	if (kt != key_type_of(k->type) || len != key_type_len(k->type))
		return hp_failf(s, -EMEDIUMTYPE, "'%s' is not a %s key (%lu bytes, key type 0x%lx)",
				k->label, key_type_name(k->type), (unsigned long)len,
				(unsigned long)kt);
	if (!extractable)
		return hp_failf(s, -EMEDIUMTYPE,
				"'%s' is not extractable: it cannot be delivered", k->label);
	if (trusted)
		return hp_failf(s, -EMEDIUMTYPE,
				"'%s' is wrapped only with trusted keys: it cannot be delivered",
				k->label);
	*was_readable = !sensitive;
	return 0;
}

int hp_key_adopt(struct hp_session *s, const struct hp_key *k, bool *was_readable)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE find[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_LABEL, k->label, strlen(k->label)),
	};
	uint8_t vid[HSMKEY_ID_LEN + 4];
	char label[HP_NAME_MAX + 24];
	CK_ATTRIBUTE set[] = {
		ATTR_T(CKA_SENSITIVE), ATTR(CKA_ID, vid, sizeof(vid)), ATTR(CKA_LABEL, label, 0),
	};
	CK_ATTRIBUTE uses[] = {
		ATTR(CKA_ENCRYPT, crypts(k->type), 1), ATTR(CKA_DECRYPT, crypts(k->type), 1),
		ATTR(CKA_SIGN, signs(k->type), 1), ATTR(CKA_VERIFY, signs(k->type), 1),
		ATTR_F(CKA_WRAP), ATTR_F(CKA_UNWRAP), ATTR_F(CKA_DERIVE),
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG found = 0;
	CK_RV rv;
	int r;

	if (!strncmp(k->label, "hsmkey:", 7))	/* hsmkeyd's own: keys, audit, delivery... */
		return hp_failf(s, -EPERM, "'%s' is one of hsmkeyd's own objects", k->label);
	if (ks_type_identity(k->type))
		return hp_identity_adopt(s, k, was_readable);
	r = hp_find_version(s, k->id, k->version, h);
	if (r != -ENOENT)
		return r ?: hp_failf(s, -EEXIST, "key version %u is in the token already",
				     k->version);
	r = hp_find(s, find, ARRAY_SIZE(find), h, 2, &found);
	if (r)
		return r;
	if (found != 1)
		return hp_failf(s, found ? -EMEDIUMTYPE : -ENOENT, "%s secret key labelled '%s'",
				found ? "more than one" : "no", k->label);
	r = check_adoptable(s, k, h[0], was_readable);
	if (r)
		return r;
	version_id(k->id, k->version, vid);
	set[2].ulValueLen = snprintf(label, sizeof(label), "hsmkey:%s:v%u", k->name, k->version);
	/* SENSITIVE can only be raised (F29): set it only on a readable key. */
	rv = s->srv->p->C_SetAttributeValue(s->h, h[0], set + !*was_readable,
					    ARRAY_SIZE(set) - !*was_readable);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_SetAttributeValue");
	/* Best effort: some tokens fix a key's uses at creation. */
	s->srv->p->C_SetAttributeValue(s->h, h[0], uses, ARRAY_SIZE(uses));
	return 0;
}

int hp_key_destroy(struct hp_session *s, const struct hp_key *k)
{
	uint8_t vid[HP_VID_LEN];
	int r;

	version_id(k->id, k->version, vid);
	r = destroy_id(s, vid, sizeof(vid));
	if (r < 0)
		return r;
	return r ? 0 : hp_failf(s, -ENOENT, "no key version %u", k->version);
}

/* A refused copy @h: the next helper destroys it if this one cannot. */
void hp_key_drop_staged(struct hp_session *s, const struct hp_key *k, CK_OBJECT_HANDLE h)
{
	CK_RV rv = s->srv->p->C_DestroyObject(s->h, h);

	if (rv != CKR_OK)
		log_error("token '%s': a refused copy of key version %u stays in the token "
			  "(0x%lx) until the helper starts again", s->srv->label, k->version,
			  (unsigned long)rv);
}

int hp_key_find(struct hp_session *s, const struct hp_key *k)
{
	CK_OBJECT_HANDLE h;

	return hp_find_version(s, k->id, k->version, &h);
}

/* Version ids in order (memcmp: the id, then the big-endian version). */
static int cmp_vid(const void *a, const void *b)
{
	return memcmp(a, b, HSMKEY_ID_LEN + 4);
}

/* A key version object: labelled hsmkey:NAME:vN, a version id for CKA_ID. */
static bool key_version(struct hp_session *s, CK_OBJECT_HANDLE h, uint8_t *vid)
{
	char label[HP_NAME_MAX + 24];
	CK_ATTRIBUTE a[] = {
		ATTR(CKA_LABEL, label, sizeof(label) - 1), ATTR(CKA_ID, vid, HSMKEY_ID_LEN + 4),
	};

	/* A longer label or id (CKR_BUFFER_TOO_SMALL) is none of ours. */
	if (s->srv->p->C_GetAttributeValue(s->h, h, a, ARRAY_SIZE(a)) != CKR_OK ||
	    a[1].ulValueLen != HSMKEY_ID_LEN + 4 || a[0].ulValueLen < 10)
		return false;
	label[a[0].ulValueLen] = '\0';
	return !strncmp(label, "hsmkey:", 7) && strstr(label + 7, ":v");
}

int hp_key_list(struct hp_session *s, const struct hp_key *k, struct hp_data *out)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = { ATTR(CKA_CLASS, &cls, sizeof(cls)) };
	const size_t vl = HSMKEY_ID_LEN + 4;
	uint8_t after[HSMKEY_ID_LEN + 4], *vids;
	CK_OBJECT_HANDLE *h;
	CK_ULONG found = 0, i, n = 0;
	size_t first = 0, max = HP_DATA_MAX / vl;
	int r = hp_find_all(s, t, ARRAY_SIZE(t), &h, &found);

	if (r)
		return r;
	vids = malloc(found * vl + 1);
	if (!vids) {
		free(h);
		return hp_failf(s, -ENOMEM, "out of memory");
	}
	for (i = 0; i < found; i++)
		n += key_version(s, h[i], vids + n * vl);
	free(h);
	qsort(vids, n, vl, cmp_vid);
	version_id(k->id, k->version, after);
	while (first < n && memcmp(vids + first * vl, after, vl) <= 0)
		first++;
	n = n - first < max ? n - first : max;
	memcpy(out->buf, vids + first * vl, n * vl);
	out->len = (uint32_t)(n * vl);
	free(vids);
	return 0;
}
