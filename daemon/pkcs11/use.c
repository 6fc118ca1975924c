// SPDX-License-Identifier: GPL-2.0
/*
 * The local KMS API's keys used inside the token (hsm_key_use()): AES-GCM
 * with a KMS key version, HMAC-SHA256 with a MAC key version, signatures
 * with an identity key version's private key (identity.c).  The key
 * object never leaves the token for this; the daemon sends the input and
 * gets the output.
 */
#include <errno.h>
#include <string.h>
#include "pkcs11/helper.h"
#include "util.h"

/* One single-part call of @u's kind on @key: *@outlen in and out. */
static CK_RV run(struct hp_session *s, const struct hp_use *u, CK_OBJECT_HANDLE key,
		 uint8_t *out, CK_ULONG *outlen, const char **call)
{
	CK_FUNCTION_LIST *p = s->srv->p;
	CK_GCM_PARAMS gcm = {
		.iv_ptr = (CK_BYTE_PTR)u->iv, .iv_len = HSM_GCM_IV_LEN,
		.iv_bits = 8 * HSM_GCM_IV_LEN, .aad_ptr = (CK_BYTE_PTR)u->buf,
		.aad_len = u->aad_len, .tag_bits = 8 * HSM_GCM_TAG_LEN,
	};
	CK_MECHANISM m = { CKM_AES_GCM, &gcm, sizeof(gcm) };
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_BYTE_PTR in = (CK_BYTE_PTR)u->buf + u->aad_len;
	CK_ULONG len = u->len - u->aad_len;
	CK_RV rv;

	switch (u->op) {
	case HSM_USE_SEAL:
		*call = "C_EncryptInit";
		rv = p->C_EncryptInit(s->h, &m, key);
		if (rv == CKR_OK) {
			*call = "C_Encrypt";
			rv = p->C_Encrypt(s->h, in, len, out, outlen);
		}
		return rv;
	case HSM_USE_OPEN:
		*call = "C_DecryptInit";
		rv = p->C_DecryptInit(s->h, &m, key);
		if (rv == CKR_OK) {
			*call = "C_Decrypt";
			rv = p->C_Decrypt(s->h, in, len, out, outlen);
		}
		return rv;
	default:
		if (u->op == HSM_USE_SIGN)
			hp_identity_mech(u, &m, &pss);
		else
			m = (CK_MECHANISM){ CKM_SHA256_HMAC, NULL, 0 };
		*call = "C_SignInit";
		rv = p->C_SignInit(s->h, &m, key);
		if (rv == CKR_OK) {
			*call = "C_Sign";
			rv = p->C_Sign(s->h, in, len, out, outlen);
		}
		return rv;
	}
}

static bool handle_gone(CK_RV rv)
{
	return rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID;
}

/*
 * A ciphertext that does not open.  SoftHSM 2.6.1 answers a GCM tag that
 * does not verify with CKR_GENERAL_ERROR, which otherwise means the token
 * failed (and the helper is then started again): a token whose session
 * still answers is taken to have refused the ciphertext, so that a blob
 * altered by a caller cannot take the token down.
 */
static bool refused(struct hp_session *s, const struct hp_use *u, CK_RV rv)
{
	CK_SESSION_INFO info;

	if (u->op != HSM_USE_OPEN)
		return false;
	if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE)
		return true;
	return rv == CKR_GENERAL_ERROR && s->srv->p->C_GetSessionInfo(s->h, &info) == CKR_OK;
}

/* What the output of @u must be long. */
static CK_ULONG out_len(const struct hp_use *u)
{
	CK_ULONG len = u->len - u->aad_len;

	return u->op == HSM_USE_SEAL ? len + HSM_GCM_TAG_LEN :
	       u->op == HSM_USE_OPEN ? len - HSM_GCM_TAG_LEN :
	       u->op == HSM_USE_SIGN ? hp_identity_sig_len(u->type) : HSM_MAC_LEN;
}

int hp_use(struct hp_session *s, const struct hp_use *u, struct hp_data *out)
{
	CK_ULONG n = sizeof(out->buf);
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_OBJECT_HANDLE key;
	const char *call = "";
	CK_MECHANISM m;
	CK_RV rv;
	int r;

	if (u->op == HSM_USE_PUBLIC)
		return hp_identity_public(s, u, out);
	r = hp_need(s, 1UL << (u->op == HSM_USE_MAC ? HM_HMAC :
			       u->op == HSM_USE_SIGN ? hp_identity_mech(u, &m, &pss) : HM_AES_GCM));
	if (!r)
		r = hp_find_version(s, u->id, u->version, &key);
	if (r)
		return r;
	rv = run(s, u, key, out->buf, &n, &call);
	if (handle_gone(rv)) {
		/* A remembered handle gone since it was found: look it up again. */
		n = sizeof(out->buf);
		r = hp_find_version_again(s, u->id, u->version, &key);
		rv = r ? CKR_OK : run(s, u, key, out->buf, &n, &call);
	}
	if (r)
		return r;
	if (refused(s, u, rv)) {
		wipe(out->buf, sizeof(out->buf));
		return hp_failf(s, -EBADMSG, "the ciphertext does not open (%s)", call);
	}
	if (rv == CKR_KEY_TYPE_INCONSISTENT || rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
		return hp_failf(s, -EMEDIUMTYPE, "key version %u does not allow %s", u->version,
				call);
	if (rv != CKR_OK) {
		wipe(out->buf, sizeof(out->buf));
		return hp_fail(s, rv, call);
	}
	if (n != out_len(u)) {
		wipe(out->buf, sizeof(out->buf));
		return hp_failf(s, -EIO, "%s gave %lu bytes, not %lu", call, (unsigned long)n,
				(unsigned long)out_len(u));
	}
	out->len = (uint32_t)n;
	return 0;
}
