// SPDX-License-Identifier: GPL-2.0
/*
 * End-to-end delivery inside the token (design §2.3): Z = ECDH of
 * hsmkey:delivery with the kernel's ephemeral point, once per batch; per
 * key version, the context hash H (public, so hashed here with OpenSSL),
 * KEK = AES-256-ECB_Z(H) derived in the token as a non-extractable
 * wrap-only key, the version wrapped under it with AES-KW, and the KEK
 * destroyed.  Z is destroyed after the batch.  No key is in clear outside
 * the token.  Each version's verifier comes with its blob, derived in the
 * same round (a verifier is a secret like a password, not a key: the
 * daemon holds it, as it would after hsm_derive()), unless the request
 * says the daemon has it already (HSM_WRAP_NO_VERIFIER, its cache).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <openssl/evp.h>
#include "pkcs11/helper.h"
#include "util.h"


static const char kek_label[] = "hsmkey e2e kek v1";	/* with its NUL: 18 bytes */

void hsm_verifier_label(const uint8_t id[HSMKEY_ID_LEN], uint32_t version,
			char label[HSM_VERIFIER_LABEL_MAX])
{
	char hex[2 * HSMKEY_ID_LEN + 1];

	hex_encode(id, HSMKEY_ID_LEN, hex);
	snprintf(label, HSM_VERIFIER_LABEL_MAX, "hsmkey verifier v1 %s %u", hex, version);
}

static int verifier(struct hp_session *s, const struct hsm_wrap_req *q, struct hsm_wrapped *out)
{
	char label[HSM_VERIFIER_LABEL_MAX];

	hsm_verifier_label(q->id, q->version, label);
	return hp_derive_bytes(s, label, strlen(label), out->verifier, sizeof(out->verifier));
}

static void context_hash(const uint8_t *kpt, const uint8_t *hpt, const struct hsm_wrap_req *q,
			 uint8_t h[32])
{
	uint8_t ctx[sizeof(kek_label) + 2 * HSM_POINT_LEN + HSMKEY_ID_LEN + 8], *c = ctx;
	uint32_t v = q->version, t = q->type;
	unsigned int n;

	memcpy(c, kek_label, sizeof(kek_label));
	c += sizeof(kek_label);
	memcpy(c, kpt, HSM_POINT_LEN);
	c += HSM_POINT_LEN;
	memcpy(c, hpt, HSM_POINT_LEN);
	c += HSM_POINT_LEN;
	memcpy(c, q->id, HSMKEY_ID_LEN);
	c += HSMKEY_ID_LEN;
	*c++ = v >> 24, *c++ = v >> 16, *c++ = v >> 8, *c++ = v;
	*c++ = t >> 24, *c++ = t >> 16, *c++ = t >> 8, *c++ = t;
	EVP_Digest(ctx, sizeof(ctx), h, &n, EVP_sha256(), NULL);
}

/* Z, in the token: a session object, non-extractable, for derivation only. */
static int shared_secret(struct hp_session *s, const uint8_t *kpoint, CK_OBJECT_HANDLE *z)
{
	CK_ECDH1_DERIVE_PARAMS prm = { CKD_NULL, 0, NULL, HSM_POINT_LEN, (CK_BYTE_PTR)kpoint };
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &prm, sizeof(prm) };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;	/* ECB derivation needs an AES base (F7) */
	CK_ULONG len = 32;
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR(CKA_VALUE_LEN, &len, sizeof(len)), ATTR_F(CKA_TOKEN),
		ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE), ATTR_T(CKA_DERIVE),
		ATTR_F(CKA_ENCRYPT), ATTR_F(CKA_WRAP),
	};
	CK_RV rv;

	rv = s->srv->p->C_DeriveKey(s->h, &m, s->srv->delivery, t, ARRAY_SIZE(t), z);
	if (rv == CKR_OK)
		return 0;
	if (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_ARGUMENTS_BAD ||
	    rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_MECHANISM_PARAM_INVALID)
		return hp_fail(s, rv, "C_DeriveKey(ECDH)"), -EINVAL;	/* a bad point */
	return hp_fail(s, rv, "C_DeriveKey(ECDH)");
}

/*
 * One ECDH of hsmkey:delivery with its own point, when the token is
 * opened: the token's first derivation in a process costs far more than
 * the next (SoftHSM under TCG: 20-35 ms, then 3-7), and is paid here, in
 * the store's opening, rather than in the first round of keys delivered
 * (bench/pkcs11_rate, the baseline, leaves its own first ECDH untimed
 * too).  It also finds a delivery key that cannot derive before any
 * delivery needs it.  A token down or refusing the PIN (-EHOSTDOWN,
 * -EACCES) fails the opening, as at every other step of it; any other
 * failure is logged, and deliveries then fail on it as they would have.
 * Z is a session object, destroyed at once.
 */
int hp_delivery_warm(struct hp_session *s)
{
	CK_OBJECT_HANDLE z;
	CK_RV rv;
	int r;

	if (s->srv->delivery == CK_INVALID_HANDLE || (s->srv->missing & HM_DELIVERY))
		return 0;
	r = shared_secret(s, s->srv->qh, &z);
	if (r == -EHOSTDOWN || r == -EACCES)
		return r;
	if (r) {
		log_warn("token '%s': the first ECDH with hsmkey:delivery failed (%s)",
			 s->srv->label, s->why);
		hp_clear_error(s);
		return 0;
	}
	rv = s->srv->p->C_DestroyObject(s->h, z);
	if (rv != CKR_OK)
		log_warn("token '%s': C_DestroyObject of a derived key: CK_RV 0x%lx",
			 s->srv->label, (unsigned long)rv);
	return 0;
}

static int wrap_one(struct hp_session *s, CK_OBJECT_HANDLE z, const uint8_t *kpoint,
		    const struct hsm_wrap_req *q, struct hsm_wrapped *out)
{
	CK_FUNCTION_LIST *p = s->srv->p;
	uint8_t h[32];
	CK_KEY_DERIVATION_STRING_DATA d = { h, sizeof(h) };
	CK_MECHANISM m = { CKM_AES_ECB_ENCRYPT_DATA, &d, sizeof(d) };
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32, blen = sizeof(out->blob);
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR(CKA_VALUE_LEN, &len, sizeof(len)), ATTR_F(CKA_TOKEN),
		ATTR_T(CKA_SENSITIVE), ATTR_F(CKA_EXTRACTABLE), ATTR_T(CKA_WRAP),
		ATTR_F(CKA_UNWRAP), ATTR_F(CKA_ENCRYPT), ATTR_F(CKA_DECRYPT),
		ATTR_F(CKA_DERIVE),
	};
	CK_OBJECT_HANDLE key, kek;
	CK_RV rv;
	int r;

	r = hp_find_version(s, q->id, q->version, &key);
	if (r)
		return r;
	context_hash(kpoint, s->srv->qh, q, h);
	rv = p->C_DeriveKey(s->h, &m, z, t, ARRAY_SIZE(t), &kek);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_DeriveKey(AES_ECB_ENCRYPT_DATA)");
	rv = p->C_WrapKey(s->h, &kw, kek, key, out->blob, &blen);
	if (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID) {
		/* A remembered handle gone since it was found: look it up again. */
		r = hp_find_version_again(s, q->id, q->version, &key);
		blen = sizeof(out->blob);
		rv = r ? CKR_OK : p->C_WrapKey(s->h, &kw, kek, key, out->blob, &blen);
	}
	p->C_DestroyObject(s->h, kek);
	if (r)
		return r;
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_WrapKey");
	if (blen != key_type_len(q->type) + 8)
		return hp_failf(s, -EMEDIUMTYPE, "key version %u is %lu bytes, not a %s key",
				q->version, (unsigned long)blen - 8, key_type_name(q->type));
	out->len = blen;
	if (q->flags & HSM_WRAP_NO_VERIFIER) {
		memset(out->verifier, 0, sizeof(out->verifier));
		return 0;
	}
	return verifier(s, q, out);
}

static int wrap_batch(struct hp_session *s, const struct hp_wrap *w, struct hp_reply *rep)
{
	CK_OBJECT_HANDLE z;
	uint32_t i;
	int r;

	r = hp_need(s, 1UL << HM_ECDH | 1UL << HM_ECB_DATA | 1UL << HM_KEY_WRAP | 1UL << HM_EC_GEN |
		       1UL << HM_HMAC | 1UL << HM_SECRET_GEN);
	if (r)
		return r;
	if (w->kpoint[0] != 0x04)
		return hp_failf(s, -EINVAL, "the kernel's point is not uncompressed");
	r = shared_secret(s, w->kpoint, &z);
	if (r)
		return r;
	for (i = 0; i < w->n && !r; i++)
		r = wrap_one(s, z, w->kpoint, &w->req[i], &rep->wrap.out[i]);
	s->srv->p->C_DestroyObject(s->h, z);
	if (r) {
		wipe(rep->wrap.out, sizeof(rep->wrap.out[0]) * w->n);
		return r;
	}
	memcpy(rep->wrap.hpoint, s->srv->qh, HSM_POINT_LEN);
	rep->wrap.n = w->n;
	return 0;
}

/*
 * A batch in turn after those before it (hp_server.wraps), its turn told
 * to the daemon (HP_BEAT: its deadline counts from then); any other beside.
 */
int hp_wrap(struct hp_session *s, const struct hp_wrap *w, struct hp_reply *rep)
{
	static const uint8_t beat = HP_BEAT;
	int r;

	if (!(w->flags & HSM_WRAP_IN_TURN))
		return wrap_batch(s, w, rep);
	pthread_mutex_lock(&s->srv->wraps);
	if (s->turn_fd > 0)
		send(s->turn_fd, &beat, sizeof(beat), MSG_NOSIGNAL | MSG_DONTWAIT);
	r = wrap_batch(s, w, rep);
	pthread_mutex_unlock(&s->srv->wraps);
	return r;
}
