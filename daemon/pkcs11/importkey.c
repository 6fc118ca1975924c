// SPDX-License-Identifier: GPL-2.0
/*
 * Wrapped import into the token.  hsmkey:import is an RSA-3072 pair the
 * token makes at first use; its private key may only unwrap (not decrypt,
 * not be extracted), and material wrapped to its public key with RSA-OAEP
 * goes by C_UnwrapKey straight into a new key version: the clear key is
 * never in the daemon, nor in this process outside the module.
 *
 * The OAEP hash is found by a trial (a throw-away key wrapped with the
 * public key and unwrapped with the private one) once per helper: SHA-256
 * where the token takes it, else SHA-1 (SoftHSM 2.6.1 refuses SHA-256 with
 * CKR_ARGUMENTS_BAD, F22).  The public key is a token object too, because
 * the trial wraps with it; its n and e are what the daemon publishes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pkcs11/helper.h"
#include "util.h"

#define IMPORT_LABEL	"hsmkey:import"
#define IMPORT_BITS	3072

/* Finding or making the pair is one step: two sessions must not make two. */
static pthread_mutex_t import_lock = PTHREAD_MUTEX_INITIALIZER;

void hp_oaep_mech(uint32_t hash, CK_RSA_PKCS_OAEP_PARAMS *p, CK_MECHANISM *m)
{
	bool sha256 = hash == HSM_OAEP_SHA256;

	*p = (CK_RSA_PKCS_OAEP_PARAMS){
		.hashAlg = sha256 ? CKM_SHA256 : CKM_SHA_1,
		.mgf = sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1,
		.source = CKZ_DATA_SPECIFIED,
	};
	*m = (CK_MECHANISM){ CKM_RSA_PKCS_OAEP, p, sizeof(*p) };
}

static int make_pair(struct hp_session *s, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	static const char label[] = IMPORT_LABEL;
	static const uint8_t e65537[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM m = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = IMPORT_BITS;
	CK_ATTRIBUTE pub_t[] = {
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, strlen(label)),
		ATTR(CKA_MODULUS_BITS, &bits, sizeof(bits)),
		ATTR(CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537)), ATTR_T(CKA_WRAP),
		ATTR_F(CKA_ENCRYPT), ATTR_F(CKA_VERIFY),
	};
	CK_ATTRIBUTE priv_t[] = {
		ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE), ATTR(CKA_LABEL, label, strlen(label)),
		ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE), ATTR_T(CKA_UNWRAP),
		ATTR_F(CKA_DECRYPT), ATTR_F(CKA_SIGN), ATTR_F(CKA_DERIVE),
	};
	CK_RV rv;

	log_info("token '%s': making %s (RSA-%d)", s->srv->label, label, IMPORT_BITS);
	rv = s->srv->p->C_GenerateKeyPair(s->h, &m, pub_t, ARRAY_SIZE(pub_t), priv_t,
					  ARRAY_SIZE(priv_t), pub, priv);
	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_GenerateKeyPair(hsmkey:import)");
}

/* Every object labelled hsmkey:import: a pair to renew, or half of one. */
static int destroy_pair(struct hp_session *s)
{
	static const char label[] = IMPORT_LABEL;
	CK_ATTRIBUTE t[] = { ATTR(CKA_LABEL, label, strlen(label)) };
	int r = hp_destroy_all(s, t, ARRAY_SIZE(t), "C_DestroyObject(hsmkey:import)");

	return r < 0 ? r : 0;
}

/* A parameter set the token does not take (rather than a failure of it). */
static bool refused(CK_RV rv)
{
	return rv == CKR_ARGUMENTS_BAD || rv == CKR_MECHANISM_PARAM_INVALID ||
	       rv == CKR_MECHANISM_INVALID;
}

/* 0 if the pair wraps and unwraps with @hash, -EOPNOTSUPP if the token refuses it. */
int hp_oaep_trial(struct hp_session *s, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
		 uint32_t hash)
{
	CK_FUNCTION_LIST *p = s->srv->p;
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 }, m;
	CK_RSA_PKCS_OAEP_PARAMS params;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG klen = 16, len = HSM_RSA_MAX;
	CK_ATTRIBUTE gen_t[] = {
		ATTR(CKA_VALUE_LEN, &klen, sizeof(klen)), ATTR_F(CKA_TOKEN),
		ATTR_T(CKA_SENSITIVE), ATTR_T(CKA_EXTRACTABLE),
	};
	CK_ATTRIBUTE unwrap_t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR_F(CKA_TOKEN), ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE),
	};
	uint8_t blob[HSM_RSA_MAX];
	CK_OBJECT_HANDLE k, k2;
	const char *call = "C_WrapKey(trial)";
	CK_RV rv;

	hp_oaep_mech(hash, &params, &m);
	rv = p->C_GenerateKey(s->h, &gen, gen_t, ARRAY_SIZE(gen_t), &k);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GenerateKey(the OAEP trial's key)");
	rv = p->C_WrapKey(s->h, &m, pub, k, blob, &len);
	p->C_DestroyObject(s->h, k);
	if (rv == CKR_OK) {
		call = "C_UnwrapKey(trial)";
		rv = p->C_UnwrapKey(s->h, &m, priv, blob, len, unwrap_t, ARRAY_SIZE(unwrap_t),
				    &k2);
	}
	if (rv == CKR_OK)
		p->C_DestroyObject(s->h, k2);
	if (rv == CKR_OK)
		return 0;
	return refused(rv) ? hp_failf(s, -EOPNOTSUPP, "CKM_RSA_PKCS_OAEP") : hp_fail(s, rv, call);
}

/* The OAEP hash the token takes with the pair: SHA-256 if it can, else SHA-1. */
static int choose_hash(struct hp_session *s, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv)
{
	int r = hp_oaep_trial(s, pub, priv, HSM_OAEP_SHA256);

	if (!r) {
		s->srv->oaep = HSM_OAEP_SHA256;
		return 0;
	}
	if (r != -EOPNOTSUPP)
		return r;
	r = hp_oaep_trial(s, pub, priv, HSM_OAEP_SHA1);
	if (r == -EOPNOTSUPP)
		return hp_failf(s, r, "the token unwraps with CKM_RSA_PKCS_OAEP neither with SHA-256 nor with SHA-1");
	if (!r) {
		s->srv->oaep = HSM_OAEP_SHA1;
		log_info("token '%s': RSA-OAEP unwrap with SHA-1 (SHA-256 is refused)",
			 s->srv->label);
	}
	return r;
}

/*
 * Under import_lock: the pair and its hash.  @make: made (after any half
 * pair is removed) if the token lacks it, else -ENOENT.
 */
static int find_pair(struct hp_session *s, bool make, CK_OBJECT_HANDLE *pub,
		     CK_OBJECT_HANDLE *priv)
{
	int r = hp_find_one(s, CKO_PRIVATE_KEY, IMPORT_LABEL, priv) ?:
		hp_find_one(s, CKO_PUBLIC_KEY, IMPORT_LABEL, pub);

	if (r == -ENOENT && make) {
		s->srv->oaep = 0;
		r = destroy_pair(s) ?: make_pair(s, pub, priv);
	}
	if (!r && !s->srv->oaep)
		r = choose_hash(s, *pub, *priv);
	return r;
}

static int read_public(struct hp_session *s, CK_OBJECT_HANDLE pub, struct hsm_import_key *out)
{
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_MODULUS, out->n, sizeof(out->n)),
		ATTR(CKA_PUBLIC_EXPONENT, out->e, sizeof(out->e)),
	};
	CK_RV rv = s->srv->p->C_GetAttributeValue(s->h, pub, t, ARRAY_SIZE(t));

	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue(hsmkey:import)");
	out->nlen = t[0].ulValueLen;
	out->elen = t[1].ulValueLen;
	out->hash = s->srv->oaep;
	return 0;
}

int hp_import_key(struct hp_session *s, bool renew, struct hsm_import_key *out)
{
	CK_OBJECT_HANDLE pub, priv;
	int r = 0;

	pthread_mutex_lock(&import_lock);
	if (renew) {
		r = destroy_pair(s);
		s->srv->oaep = 0;
	}
	r = r ?: find_pair(s, true, &pub, &priv) ?: read_public(s, pub, out);
	pthread_mutex_unlock(&import_lock);
	return r;
}

/* C_UnwrapKey failed on the blob, not on the token (SoftHSM: CKR_GENERAL_ERROR). */
bool hp_blob_refused(struct hp_session *s)
{
	CK_SESSION_INFO info;

	if (!s->call || strcmp(s->call, "C_UnwrapKey"))
		return false;
	if (s->rv == CKR_WRAPPED_KEY_INVALID || s->rv == CKR_WRAPPED_KEY_LEN_RANGE ||
	    s->rv == CKR_ENCRYPTED_DATA_INVALID || s->rv == CKR_ENCRYPTED_DATA_LEN_RANGE)
		return true;
	return s->rv == CKR_GENERAL_ERROR &&
	       s->srv->p->C_GetSessionInfo(s->h, &info) == CKR_OK;
}

/*
 * The unwrapped key's length: by AES-KW, or, for a length KW refuses (not
 * a multiple of 8, so wrong anyway), by KWP, which gives it rounded up.
 */
int hp_unwrapped_len(struct hp_session *s, CK_OBJECT_HANDLE h, CK_ULONG *len)
{
	int r = hp_wrapped_len(s, h, CKM_AES_KEY_WRAP, len);

	if (r == -EIO || r == -EMEDIUMTYPE) {
		s->rv = CKR_OK;
		r = hp_wrapped_len(s, h, CKM_AES_KEY_WRAP_PAD, len);
		/* KW refused it, so it is not a multiple of 8: shorter than KWP's figure. */
		if (!r)
			*len -= 1;
	}
	return r;
}

/*
 * The length is checked after the unwrap (the token says nothing of it
 * before, nor in CKA_VALUE_LEN after); a wrong one removes the object.
 */
int hp_key_unwrap(struct hp_session *s, const struct hp_unwrap *u)
{
	CK_OBJECT_HANDLE pub, priv, h;
	CK_RSA_PKCS_OAEP_PARAMS params;
	CK_MECHANISM m;
	struct hp_unwrapping uw = { &m, 0, u->blob, u->len };
	CK_ULONG want = key_type_len(u->key.type), len = 0;
	uint32_t hash;
	int r;

	pthread_mutex_lock(&import_lock);
	r = find_pair(s, false, &pub, &priv);
	hash = s->srv->oaep;
	pthread_mutex_unlock(&import_lock);
	if (r == -ENOENT)
		return hp_failf(s, -EKEYREJECTED, "the token holds no import key");
	if (r)
		return r;
	hp_oaep_mech(hash, &params, &m);
	uw.key = priv;
	r = hp_key_unwrap_version(s, &u->key, &uw, &h);
	if (r && hp_blob_refused(s)) {
		s->rv = CKR_OK;
		return hp_failf(s, -EKEYREJECTED, "the blob does not unwrap with hsmkey:import");
	}
	if (r)
		return r;
	r = hp_unwrapped_len(s, h, &len);
	if (!r && len != want)
		r = hp_failf(s, len > want ? -EMSGSIZE : -ENODATA,
			     "the unwrapped key is %s than a %s key",
			     len > want ? "longer" : "shorter", key_type_name(u->key.type));
	if (r && hp_key_destroy(s, &u->key))
		log_error("token '%s': the refused key version %u stays in the token: %s",
			  s->srv->label, u->key.version, s->why);
	return r;
}
