// SPDX-License-Identifier: GPL-2.0
/*
 * A daemon key's version (KMS, MAC, identity) used where it lives (key_use.h).
 */
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include "cleanup.h"
#include "identity.h"
#include "key_use.h"
#include "kms_blob.h"
#include "request.h"
#include "util.h"

static void mac_freep(EVP_MAC **m)
{
	EVP_MAC_free(*m);
}

static void mac_ctx_freep(EVP_MAC_CTX **c)
{
	EVP_MAC_CTX_free(*c);	/* wipes its copy of the key and its state */
}

_Static_assert(KEY_USE_TAG_LEN == 16 && KEY_USE_MAC_LEN == 32, "ks_use_len()'s lengths");

int key_use_random(struct backend *be, uint8_t *out, size_t len)
{
	int r = -EOPNOTSUPP;

	if (len < 1 || len > KS_RANDOM_MAX)
		return -EINVAL;
	if (be->ops->random)
		r = be->ops->random(be, out, len);
	return r == -EOPNOTSUPP ? random_full(out, len) : r;
}

/* HMAC-SHA256 under @key (@klen bytes) of @len bytes at @msg into @out. */
static int hmac_sha256(const uint8_t *key, size_t klen, const uint8_t *msg, size_t len,
		       uint8_t *out)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	_cleanup_(mac_freep) EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	_cleanup_(mac_ctx_freep) EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	size_t n = 0;

	return c && EVP_MAC_init(c, key, klen, params) == 1 &&
	       (!len || EVP_MAC_update(c, msg, len) == 1) &&
	       EVP_MAC_final(c, out, &n, KEY_USE_MAC_LEN) == 1 && n == KEY_USE_MAC_LEN ? 0 : -EIO;
}

/* The version's material here, for this call only. */
static int use_here(struct request *rq, const struct ks_key *meta, const struct ks_use *u,
		    uint8_t *out)
{
	_cleanup_key_ struct ks_key key = { 0 };
	int r = get_version(rq, meta->name, meta->version, true, &key);

	if (r)
		return r;
	if (memcmp(key.id, meta->id, HSMKEY_ID_LEN) || key.type != meta->type)
		return -ESTALE;
	if (u->op == KS_USE_MAC)
		r = hmac_sha256(key.material, key_type_len(key.type), u->in, u->len, out);
	else
		r = kms_gcm(key.type, u->op == KS_USE_SEAL, key.material, u->iv, u->aad,
			    u->aad_len, u->in, u->len, out);
	if (r == -EBADMSG)
		return r;
	if (r)
		return fail(rq, -r, "using key '%s' failed: %s", meta->name, strerror(-r));
	return 0;
}

/*
 * In the storage: the version looked up (not unsealed) only to be sure it
 * is still @meta's; *@n: @out's room, then the length made.
 */
static int use_stored(struct request *rq, const struct ks_key *meta, const struct ks_use *u,
		      uint8_t *out, size_t *n)
{
	struct backend *be = rq->d->be;
	struct ks_key key = { 0 };
	int r = get_version(rq, meta->name, meta->version, false, &key);

	if (r)
		return r;
	if (memcmp(key.id, meta->id, HSMKEY_ID_LEN) || key.type != meta->type)
		return -ESTALE;
	r = be->ops->use(be, &key, u, out, n);
	if (r == -EBADMSG || !r)
		return r;
	if (r == -EMEDIUMTYPE)
		return fail(rq, EMEDIUMTYPE, "%s refuses this use of key '%s' version %u: its object there does not allow it; see the daemon's log",
			    be->ops->storage ?: "its storage", meta->name, meta->version);
	if (r == -EHOSTDOWN || r == -ETIMEDOUT)
		return fail(rq, -r, "key '%s' cannot be used: %s cannot be reached; see the daemon's log",
			    meta->name, be->ops->storage ?: "its storage");
	return fail(rq, -r, "using key '%s' version %u in %s failed: %s; see the daemon's log",
		    meta->name, meta->version, be->ops->storage ?: "its storage", strerror(-r));
}

int key_use(struct request *rq, const struct ks_key *key, const struct ks_use *u, uint8_t *out)
{
	size_t n = ks_use_len(u, 0);

	if (!key_use_inside(rq->d->be))
		return use_here(rq, key, u, out);
	return use_stored(rq, key, u, out, &n);
}

/* DigestInfo of SHA-256 (RFC 8017, 9.2 note 1), before the digest: what CKM_RSA_PKCS signs. */
static const uint8_t sha256_info[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
	0x05, 0x00, 0x04, 0x20,
};

/* ECDSA's r || s (@n bytes) as DER into @sig. */
static int ecdsa_der(const uint8_t *raw, size_t n, uint8_t *sig, size_t *siglen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)n / 2, NULL), *s = BN_bin2bn(raw + n / 2, (int)n / 2, NULL);
	unsigned char *p = sig;
	int len = -1;

	if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;	/* es's now */
		len = i2d_ECDSA_SIG(es, NULL);
		if (len > 0 && (size_t)len <= *siglen)
			len = i2d_ECDSA_SIG(es, &p);
		else
			len = -1;
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	if (len <= 0)
		return -ENOBUFS;
	*siglen = (size_t)len;
	return 0;
}

/* -ESTALE from a use: the name made again since @key was read. */
static int stale(struct request *rq, const struct ks_key *key, int r)
{
	return r == -ESTALE ? fail(rq, EAGAIN, "key '%s' was replaced meanwhile: try again",
				   key->name) : r;
}

/*
 * @u's input for a signature of @in (@len bytes: a digest; Ed25519's, the
 * message): for RSA PKCS #1 v1.5, SHA-256's DigestInfo and the digest,
 * put together in @info.  -EINVAL: a digest not SHA-256's size there.
 */
static int sign_input(const struct ks_key *key, struct ks_use *u, uint8_t *info,
		      const uint8_t *in, size_t len)
{
	u->in = in;
	u->len = len;
	if (!ks_type_rsa(key->type) || (u->flags & KS_SIGN_PSS))
		return 0;
	if (len != 32)
		return -EINVAL;
	memcpy(info, sha256_info, sizeof(sha256_info));
	memcpy(info + sizeof(sha256_info), in, len);
	u->in = info;
	u->len = sizeof(sha256_info) + len;
	return 0;
}

/* The storage's raw signature (@n bytes) as OpenSSL writes one, into @sig. */
static int sign_output(int type, const uint8_t *raw, size_t n, uint8_t *sig, size_t *siglen)
{
	if (type == KS_TYPE_ECDSA_P256 || type == KS_TYPE_ECDSA_P384)
		return ecdsa_der(raw, n, sig, siglen);
	if (n > *siglen)
		return -ENOBUFS;
	memcpy(sig, raw, n);
	*siglen = n;
	return 0;
}

int key_use_sign(struct request *rq, const struct ks_key *key, uint32_t flags, bool digest,
		 const uint8_t *in, size_t len, uint8_t *sig, size_t *siglen)
{
	const EVP_MD *md = identity_md(key->type);
	struct ks_use u = { .op = KS_USE_SIGN, .flags = flags };
	uint8_t info[sizeof(sha256_info) + 32], raw[KEY_USE_SIG_MAX], dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	size_t n = sizeof(raw);
	int r;

	if (md && !digest) {
		if (EVP_Digest(in, len, dgst, &dlen, md, NULL) != 1)
			return fail(rq, EIO, "hashing the data to sign failed");
		in = dgst;
		len = dlen;
	}
	if (sign_input(key, &u, info, in, len))
		return fail(rq, EINVAL, "an RSA signature here is of a SHA-256 digest");
	r = use_stored(rq, key, &u, raw, &n);
	if (r)
		return stale(rq, key, r);
	if (sign_output(key->type, raw, n, sig, siglen))
		return fail(rq, ENOBUFS, "key '%s' made a signature of %zu bytes that could not be written in %zu",
			    key->name, n, *siglen);
	return 0;
}

int key_use_sign_in(struct backend *be, const struct ks_key *key, uint32_t flags,
		    const uint8_t *in, size_t len, uint8_t *sig, size_t *siglen)
{
	struct ks_use u = { .op = KS_USE_SIGN, .flags = flags };
	uint8_t info[sizeof(sha256_info) + 32], raw[KEY_USE_SIG_MAX];
	size_t n = sizeof(raw);
	int r = sign_input(key, &u, info, in, len);

	if (!r)
		r = be->ops->use(be, key, &u, raw, &n);
	return r ?: sign_output(key->type, raw, n, sig, siglen);
}

/* An EC or RSA public key from its parameters. */
static int pkey_from(const char *alg, OSSL_PARAM *params, EVP_PKEY **out)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	int ok = c && EVP_PKEY_fromdata_init(c) == 1 &&
		 EVP_PKEY_fromdata(c, out, EVP_PKEY_PUBLIC_KEY, params) == 1;

	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -EINVAL;
}

/* The raw public key of @type (hsm.h: HSM_USE_PUBLIC's shapes) as an OpenSSL key. */
static int public_pkey(int type, const uint8_t *raw, size_t n, EVP_PKEY **out)
{
	size_t modlen = type == KS_TYPE_RSA_2048 ? 256 : 384;
	char *group = type == KS_TYPE_ECDSA_P256 ? "P-256" : "P-384";
	OSSL_PARAM_BLD *b;
	OSSL_PARAM *params;
	BIGNUM *bn_n, *bn_e;
	int r;

	if (type == KS_TYPE_ED25519) {
		*out = n == 32 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, n) : NULL;
		return *out ? 0 : -EINVAL;
	}
	if (!ks_type_rsa(type)) {
		OSSL_PARAM ec[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
			OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)raw, n),
			OSSL_PARAM_construct_end(),
		};

		return pkey_from("EC", ec, out);
	}
	if (n <= modlen)
		return -EINVAL;
	b = OSSL_PARAM_BLD_new();
	bn_n = BN_bin2bn(raw, (int)modlen, NULL);
	bn_e = BN_bin2bn(raw + modlen, (int)(n - modlen), NULL);
	params = b && bn_n && bn_e && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
		 OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, bn_e) ?
		 OSSL_PARAM_BLD_to_param(b) : NULL;
	r = params ? pkey_from("RSA", params, out) : -ENOMEM;
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	BN_free(bn_n);
	BN_free(bn_e);
	return r;
}

int key_use_public(struct request *rq, const struct ks_key *key, EVP_PKEY **out)
{
	struct ks_use u = { .op = KS_USE_PUBLIC };
	uint8_t raw[KEY_USE_SIG_MAX + 8];
	size_t n = sizeof(raw);
	int r = use_stored(rq, key, &u, raw, &n);

	if (r)
		return stale(rq, key, r);
	r = public_pkey(key->type, raw, n, out);
	if (r)
		return fail(rq, EIO, "%s gave key '%s' a public key that is not one of %s",
			    rq->d->be->ops->storage ?: "the key storage", key->name,
			    key_type_name(key->type));
	return 0;
}
