// SPDX-License-Identifier: GPL-2.0
/*
 * The AEAD gcm(hsmaes), keyed by token, for AF_ALG (and kTLS-style users
 * of gcm(aes)).  Like the skciphers, it forwards each request to the
 * kernel's best gcm(aes) through a sub-request in the request context.
 *
 * The tag size belongs to the tfm, but a key's inner tfms are shared by
 * all its bindings: a key keeps one inner tfm per tag size in use (at most
 * HSMKEY_GCM_NTAGS), made on first use under key->lock and freed by revoke.
 */
#include <crypto/aes.h>
#include <crypto/gcm.h>
#include <crypto/internal/aead.h>
#include <linux/module.h>
#include "aead.h"
#include "compat.h"
#include "selftest.h"
#include "token.h"

struct hsmkey_aead_ctx {
	struct hsmkey_key *key;		/* NULL while unbound */
	unsigned int authsize;
};

struct hsmkey_aead_reqctx {
	struct hsmkey_key *key;
	struct aead_request subreq;	/* last: the inner context follows */
};

struct hsmkey_aead_prep {
	const struct hsmkey_inner *inner;
	unsigned int authsize;
};

static struct hsmkey_inner hsmkey_gcm_inner = { .name = "gcm(aes)" };
static bool hsmkey_gcm_registered;

/* Tag sizes 4, 8, 12, 13, 14, 15, 16 (crypto_gcm_check_authsize). */
static unsigned int hsmkey_gcm_slot(unsigned int authsize)
{
	return authsize <= 8 ? authsize / 4 - 1 : authsize - 10;
}

/* Under key->lock: the inner tfm for the binding's tag size. */
static int hsmkey_aead_prepare(struct hsmkey_key *key, void *arg)
{
	const struct hsmkey_aead_prep *prep = arg;
	unsigned int slot = hsmkey_gcm_slot(prep->authsize);
	struct crypto_aead *inner;
	int err;

	lockdep_assert_held(&key->lock);
	/* Short tags only where the key's policy says so. */
	if (prep->authsize < key->policy.min_taglen)
		return -EKEYREJECTED;
	if (key->inner.aead[slot])
		return 0;
	inner = crypto_alloc_aead(prep->inner->driver, 0,
				  CRYPTO_ALG_ALLOCATES_MEMORY);
	if (IS_ERR(inner))
		return PTR_ERR(inner);
	if (crypto_aead_reqsize(inner) > prep->inner->reqsize)
		err = -EINVAL;
	else
		err = crypto_aead_setkey(inner, key->material,
					 hsmkey_type_keylen(key->type)) ?:
		      crypto_aead_setauthsize(inner, prep->authsize);
	if (err) {
		crypto_free_aead(inner);
		return err;
	}
	/* Requests read it without the lock, inside hsmkey_key_enter(). */
	WRITE_ONCE(key->inner.aead[slot], inner);
	return 0;
}

static int hsmkey_aead_setkey(struct crypto_aead *tfm, const u8 *buf,
			      unsigned int len)
{
	struct hsmkey_aead_ctx *ctx = crypto_aead_ctx(tfm);
	struct hsmkey_aead_prep prep = {
		.inner = &hsmkey_gcm_inner,
		.authsize = ctx->authsize,
	};
	struct hsmkey_key *key;
	int err;

	err = hsmkey_token_bind(buf, len, HSMKEY_MODE_GCM, hsmkey_aead_prepare,
				&prep, &key);
	hsmkey_key_unbind(ctx->key);
	ctx->key = key;
	return err;
}

static int hsmkey_aead_setauthsize(struct crypto_aead *tfm,
				   unsigned int authsize)
{
	struct hsmkey_aead_ctx *ctx = crypto_aead_ctx(tfm);
	struct hsmkey_aead_prep prep = {
		.inner = &hsmkey_gcm_inner,
		.authsize = authsize,
	};
	struct hsmkey_key *key = ctx->key;
	int err;

	err = crypto_gcm_check_authsize(authsize);
	if (err)
		return err;
	if (key) {
		mutex_lock(&key->lock);
		/* A revoked key has no material: its requests fail anyway. */
		if (key->state != HSMKEY_STATE_REVOKED)
			err = hsmkey_aead_prepare(key, &prep);
		mutex_unlock(&key->lock);
		/* A tag size the key does not allow is a bad argument here. */
		if (err == -EKEYREJECTED)
			return -EINVAL;
		if (err)
			return err;
	}
	ctx->authsize = authsize;
	return 0;
}

static void hsmkey_aead_complete(void *data, int err)
{
	struct aead_request *req = data;
	struct hsmkey_aead_reqctx *rctx = aead_request_ctx(req);
	struct hsmkey_key *key = rctx->key;

	/* The key outlives @req: revoke waits for this exit. */
	aead_request_complete(req, err);
	if (err != -EINPROGRESS)
		hsmkey_key_exit(key);
}

HSMKEY_DEFINE_DONE(hsmkey_aead_done, hsmkey_aead_complete)

static int hsmkey_aead_crypt(struct aead_request *req, bool encrypt)
{
	struct crypto_aead *tfm = crypto_aead_reqtfm(req);
	struct hsmkey_aead_ctx *ctx = crypto_aead_ctx(tfm);
	struct hsmkey_aead_reqctx *rctx = aead_request_ctx(req);
	struct aead_request *subreq = &rctx->subreq;
	struct hsmkey_key *key = ctx->key;
	struct crypto_aead *inner;
	int err;

	if (!key)
		return -ENOKEY;
	if (!hsmkey_key_enter(key))
		return -EKEYREVOKED;
	/* A policy raised since this tfm was bound stops its short tags. */
	if (ctx->authsize < READ_ONCE(key->min_taglen)) {
		hsmkey_key_exit(key);
		return -EKEYREJECTED;
	}
	inner = READ_ONCE(key->inner.aead[hsmkey_gcm_slot(ctx->authsize)]);
	if (!inner) {
		/* Only if a request races its own tfm's setauthsize(). */
		hsmkey_key_exit(key);
		return -ENOKEY;
	}
	if (!hsmkey_key_charge(key, req->cryptlen)) {
		hsmkey_key_exit(key);
		return -EDQUOT;
	}

	rctx->key = key;
	aead_request_set_tfm(subreq, inner);
	aead_request_set_callback(subreq, aead_request_flags(req),
				  hsmkey_aead_done, req);
	aead_request_set_crypt(subreq, req->src, req->dst, req->cryptlen,
			       req->iv);
	aead_request_set_ad(subreq, req->assoclen);
	err = encrypt ? crypto_aead_encrypt(subreq) :
			crypto_aead_decrypt(subreq);
	/* -EBUSY means backlogged: the callback still follows. */
	if (err != -EINPROGRESS && err != -EBUSY)
		hsmkey_key_exit(key);
	return err;
}

static int hsmkey_aead_encrypt(struct aead_request *req)
{
	return hsmkey_aead_crypt(req, true);
}

static int hsmkey_aead_decrypt(struct aead_request *req)
{
	return hsmkey_aead_crypt(req, false);
}

static int hsmkey_aead_init(struct crypto_aead *tfm)
{
	struct hsmkey_aead_ctx *ctx = crypto_aead_ctx(tfm);

	ctx->authsize = AES_BLOCK_SIZE;
	crypto_aead_set_reqsize(tfm, sizeof(struct hsmkey_aead_reqctx) +
				     hsmkey_gcm_inner.reqsize);
	return 0;
}

static void hsmkey_aead_exit(struct crypto_aead *tfm)
{
	struct hsmkey_aead_ctx *ctx = crypto_aead_ctx(tfm);

	hsmkey_key_unbind(ctx->key);
	ctx->key = NULL;
}

static struct aead_alg hsmkey_gcm_alg = {
	.base = {
		.cra_name = "gcm(hsmaes)",
		.cra_driver_name = "gcm-hsmaes",
		.cra_priority = 300,
		.cra_flags = CRYPTO_ALG_ASYNC,
		.cra_blocksize = 1,
		.cra_ctxsize = sizeof(struct hsmkey_aead_ctx),
		.cra_module = THIS_MODULE,
	},
	.setkey = hsmkey_aead_setkey,
	.setauthsize = hsmkey_aead_setauthsize,
	.encrypt = hsmkey_aead_encrypt,
	.decrypt = hsmkey_aead_decrypt,
	.init = hsmkey_aead_init,
	.exit = hsmkey_aead_exit,
	.ivsize = GCM_AES_IV_SIZE,
	.maxauthsize = AES_BLOCK_SIZE,
};

/* Bind @tfm, ours, to @key directly: the self-test's ephemeral keys. */
int hsmkey_aead_attach(struct crypto_aead *tfm, struct hsmkey_key *key)
{
	struct hsmkey_aead_ctx *ctx = crypto_aead_ctx(tfm);
	struct hsmkey_aead_prep prep = {
		.inner = &hsmkey_gcm_inner,
		.authsize = ctx->authsize,
	};
	int err;

	refcount_inc(&key->ref);
	err = hsmkey_key_bind(key, HSMKEY_MODE_GCM, hsmkey_aead_prepare, &prep);
	if (err) {
		hsmkey_key_put(key);
		return err;
	}
	hsmkey_key_unbind(ctx->key);
	ctx->key = key;
	crypto_aead_clear_flags(tfm, CRYPTO_TFM_NEED_KEY);
	return 0;
}

const char *hsmkey_aead_inner_driver(void)
{
	return hsmkey_gcm_inner.driver;
}

int hsmkey_aead_register(void)
{
	struct crypto_aead *inner;
	int err;

	inner = crypto_alloc_aead(hsmkey_gcm_inner.name, 0,
				  CRYPTO_ALG_ALLOCATES_MEMORY);
	if (IS_ERR(inner)) {
		pr_err("no inner gcm(aes): %ld\n", PTR_ERR(inner));
		return PTR_ERR(inner);
	}
	strscpy(hsmkey_gcm_inner.driver, crypto_aead_driver_name(inner),
		sizeof(hsmkey_gcm_inner.driver));
	hsmkey_gcm_inner.reqsize = crypto_aead_reqsize(inner);
	hsmkey_gcm_alg.chunksize = crypto_aead_alg_chunksize(crypto_aead_alg(inner));
	crypto_free_aead(inner);

	err = crypto_register_aead(&hsmkey_gcm_alg);
	if (err)
		return err;
	hsmkey_gcm_registered = true;
	err = hsmkey_selftest_aead("gcm-hsmaes");
	if (err) {
		hsmkey_aead_unregister();
		return err;
	}
	pr_info("gcm-hsmaes registered over %s, self-test passed\n",
		hsmkey_gcm_inner.driver);
	return 0;
}

void hsmkey_aead_unregister(void)
{
	if (hsmkey_gcm_registered)
		crypto_unregister_aead(&hsmkey_gcm_alg);
	hsmkey_gcm_registered = false;
}

MODULE_ALIAS_CRYPTO("gcm(hsmaes)");
MODULE_ALIAS_CRYPTO("gcm-hsmaes");
