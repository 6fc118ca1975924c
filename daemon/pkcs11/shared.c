// SPDX-License-Identifier: GPL-2.0
/*
 * The store secrets every member of one key store holds alike (hsm.h:
 * HSM_OBJ_RECORD, HSM_OBJ_ROOT): copied from a member to a joining token
 * as key versions are (copy.c: RSA-OAEP under the receiver's hsmkey:pair,
 * unwrapped under the staging label, checked, then committed), so that
 * the records' MACs and the derived secrets are the same whichever member
 * serves.  A copy never replaces a key the token holds: an OAEP blob
 * proves no origin, and records are MACed under the one there.
 *
 * The exporter also MACs a fixed message naming the object (check_msg())
 * under the key, in the token; the receiver MACs it under the staged copy
 * and takes the copy only if the two tags are equal.  That proves the copy
 * is the exporter's key, and, unlike the length check by AES key wrap, it
 * crosses p11-kit's RPC (CKM_SHA256_HMAC does, AES key wrap does not, M11).
 * It proves no origin either (the daemon carries the tag): it catches a
 * blob and tag that are not of one key, not a forger.
 *
 * hsmkey:audit is not copied: an Ed25519 private key cannot be carried by
 * RSA-OAEP (secret keys only), and SoftHSM 2.6.1 neither wraps
 * (CKR_KEY_NOT_WRAPPABLE: CKK_EC_EDWARDS is "not yet" in C_WrapKey) nor
 * unwraps one (no CKK_EC_EDWARDS case in C_UnwrapKey) by AES key wrap, the
 * only other way out of a token; each member makes its own.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "pkcs11/helper.h"
#include "util.h"

#define SHARED_LEN	32	/* make_hmac_key()'s */
/* What both keys MAC to see whether they are one key (any fixed message does). */
#define SAME_MSG	"hsmkey: are these one key?"
/*
 * The copy check's message: CHECK_MSG, a NUL, the object's label.  No
 * record starts so, and hsm_derive() is never given such a label, so the
 * tag gives away no MAC or derived secret the store uses.
 */
#define CHECK_MSG	"hsmkey copy check v1"
#define CHECK_MSG_MAX	(sizeof(CHECK_MSG) + 16)

/* Finding the key there and committing the copy is one step: two copies must not both commit. */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *shared_label(uint32_t obj)
{
	return obj == HSM_OBJ_ROOT ? "hsmkey:root" : "hsmkey:record";
}

int hp_audit_copy(struct hp_session *s)
{
	return hp_failf(s, -EOPNOTSUPP, "hsmkey:audit cannot be copied: an Ed25519 private key "
			"leaves a token only by AES key wrap, which SoftHSM 2.6.1 does not do "
			"for it; each member signs with its own");
}

static int check_extractable(struct hp_session *s, CK_OBJECT_HANDLE key, const char *label)
{
	CK_BBOOL x = CK_FALSE;
	CK_ATTRIBUTE a = ATTR(CKA_EXTRACTABLE, &x, sizeof(x));
	CK_RV rv = s->srv->p->C_GetAttributeValue(s->h, key, &a, 1);

	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue(CKA_EXTRACTABLE)");
	if (!x)
		return hp_failf(s, -EMEDIUMTYPE, "%s of token '%s' is not extractable (made before "
				"tokens could be paired): this key store cannot gain another token",
				label, s->srv->label);
	return 0;
}

/* CHECK_MSG, NUL, @obj's label into @msg: its length. */
static size_t check_msg(uint32_t obj, char msg[CHECK_MSG_MAX])
{
	const char *label = shared_label(obj);

	memcpy(msg, CHECK_MSG, sizeof(CHECK_MSG));	/* with its NUL */
	memcpy(msg + sizeof(CHECK_MSG), label, strlen(label));
	return sizeof(CHECK_MSG) + strlen(label);
}

/* The copy check tag of @obj's key @key, MACed in the token. */
static int check_tag(struct hp_session *s, uint32_t obj, CK_OBJECT_HANDLE key,
		     uint8_t tag[HSM_MAC_LEN])
{
	char msg[CHECK_MSG_MAX];

	return hp_hmac_with(s, key, msg, check_msg(obj, msg), tag);
}

/* Constant time: a difference's place must not show in the time taken. */
static bool tags_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;
	size_t i;

	for (i = 0; i < HSM_MAC_LEN; i++)
		d |= a[i] ^ b[i];
	return !d;
}

int hp_shared_export(struct hp_session *s, uint32_t obj, CK_MECHANISM *m,
		     CK_OBJECT_HANDLE peer, uint8_t *blob, CK_ULONG *len,
		     uint8_t tag[HSM_MAC_LEN])
{
	const char *label = shared_label(obj);
	CK_OBJECT_HANDLE key;
	CK_RV rv;
	int r = hp_find_one(s, CKO_SECRET_KEY, label, &key);

	if (r == -ENOENT)
		return hp_lacks_shared(s, label);
	r = r ?: check_extractable(s, key, label);
	if (r)
		return r;
	rv = s->srv->p->C_WrapKey(s->h, m, peer, key, blob, len);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_WrapKey(RSA-OAEP, hsmkey:peer)");
	return check_tag(s, obj, key, tag);
}

/* @uw's key as the staged copy: make_hmac_key()'s attributes, the staging label. */
static int unwrap_staged(struct hp_session *s, const struct hp_unwrapping *uw,
			 CK_OBJECT_HANDLE *h)
{
	static const char label[] = HP_STAGED_LABEL;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, strlen(label)),
		ATTR_T(CKA_SENSITIVE), ATTR_T(CKA_EXTRACTABLE), ATTR_T(CKA_SIGN),
		ATTR_T(CKA_VERIFY), ATTR_F(CKA_ENCRYPT), ATTR_F(CKA_DECRYPT), ATTR_F(CKA_WRAP),
		ATTR_F(CKA_UNWRAP), ATTR_F(CKA_DERIVE),
	};
	CK_RV rv = s->srv->p->C_UnwrapKey(s->h, uw->m, uw->key, (CK_BYTE *)uw->blob, uw->len,
					  t, ARRAY_SIZE(t), h);

	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_UnwrapKey");
}

/*
 * 32 bytes, as made: HMAC pads a shorter key with zeros, so a key of 32
 * and zero bytes more would otherwise pass as the same (same_key()).
 * Where the token cannot tell (no AES key wrap: p11-kit's RPC, M11) the
 * check is skipped: the tag (check_copy()) proves the copy MACs as the
 * exporter's key does, and MACs are all it is for.
 */
static int check_len(struct hp_session *s, CK_OBJECT_HANDLE h)
{
	CK_ULONG len = 0;
	int r = hp_unwrapped_len(s, h, &len);

	if (r == -EOPNOTSUPP) {
		hp_clear_error(s);
		return 0;
	}
	if (!r && len != SHARED_LEN)
		r = hp_failf(s, len > SHARED_LEN ? -EMSGSIZE : -ENODATA,
			     "the copy is %lu bytes, not %d", (unsigned long)len, SHARED_LEN);
	return r;
}

/* The staged copy @h MACs to the exporter's @tag, or is refused. */
static int check_copy(struct hp_session *s, uint32_t obj, CK_OBJECT_HANDLE h,
		      const uint8_t tag[HSM_MAC_LEN])
{
	uint8_t mine[HSM_MAC_LEN];
	int r = check_tag(s, obj, h, mine);

	if (!r && !tags_equal(mine, tag))
		r = hp_failf(s, -EKEYREJECTED, "the copy of %s is not the exporter's key (its "
			     "check tag differs)", shared_label(obj));
	memset(mine, 0, sizeof(mine));
	return r;
}

/*
 * Whether HMAC keys @a and @b are one key: the MAC of a fixed message
 * under each, in the token.  Unlike comparing their AES-KW blobs under a
 * probe key (hp_key_commit_staged()) it needs no mechanism the keys are
 * not made for, and it compares what they are used for.
 */
static int same_key(struct hp_session *s, CK_OBJECT_HANDLE a, CK_OBJECT_HANDLE b, bool *same)
{
	uint8_t x[HSM_MAC_LEN], y[HSM_MAC_LEN];
	int r = hp_hmac_with(s, a, SAME_MSG, strlen(SAME_MSG), x) ?:
		hp_hmac_with(s, b, SAME_MSG, strlen(SAME_MSG), y);

	*same = !r && !memcmp(x, y, sizeof(x));
	return r;
}

/* The checked copy @h becomes @obj's key: 0; it is there already: 1; another key: -EEXIST. */
static int commit(struct hp_session *s, uint32_t obj, CK_OBJECT_HANDLE h)
{
	const char *label = shared_label(obj);
	CK_ATTRIBUTE set = ATTR(CKA_LABEL, label, strlen(label));
	CK_OBJECT_HANDLE old;
	bool same = false;
	CK_RV rv;
	int r;

	pthread_mutex_lock(&shared_lock);
	r = hp_find_one(s, CKO_SECRET_KEY, label, &old);
	if (!r) {
		r = same_key(s, old, h, &same);
		if (!r)
			r = same ? 1 : hp_failf(s, -EEXIST, "holds another %s: the copy is not "
						"taken (the token belongs to another key store?)",
						label);
	} else if (r == -ENOENT) {
		rv = s->srv->p->C_SetAttributeValue(s->h, h, &set, 1);
		r = rv == CKR_OK ? 0 : hp_fail(s, rv, "C_SetAttributeValue(the copy's CKA_LABEL)");
		if (!r) {
			log_info("token '%s': %s copied in", s->srv->label, label);
			hp_secret_set(s->srv, obj == HSM_OBJ_ROOT, h);
		}
	}
	pthread_mutex_unlock(&shared_lock);
	return r;
}

int hp_shared_import(struct hp_session *s, uint32_t obj, const struct hp_unwrapping *uw,
		     const uint8_t tag[HSM_MAC_LEN])
{
	CK_OBJECT_HANDLE h;
	CK_RV rv;
	int r = unwrap_staged(s, uw, &h);

	if (r && hp_blob_refused(s)) {
		s->rv = CKR_OK;
		return hp_failf(s, -EKEYREJECTED, "the copy does not unwrap with hsmkey:pair");
	}
	if (r)
		return r;
	r = check_len(s, h) ?: check_copy(s, obj, h, tag) ?: commit(s, obj, h);
	if (r) {	/* refused, or the same key there already */
		rv = s->srv->p->C_DestroyObject(s->h, h);
		if (rv != CKR_OK)
			log_error("token '%s': a refused copy of %s stays in the token (0x%lx) "
				  "until the helper starts again", s->srv->label,
				  shared_label(obj), (unsigned long)rv);
	}
	return r > 0 ? 0 : r;
}
