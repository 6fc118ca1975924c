// SPDX-License-Identifier: GPL-2.0
/*
 * Skcipher algorithms keyed by token: xts(hsmaes) for dm-crypt and AF_ALG,
 * cbc(hsmaes) for AF_ALG (CBC on disk needs ESSIV, whose salt cannot be
 * derived from a token).
 *
 * Each forwards a request to the inner tfm of the key it is bound to, the
 * kernel's best implementation of the same mode (AES-NI where present),
 * through a sub-request kept in the request context: no allocation per
 * request, and asynchronous completion is passed through.
 *
 * The best driver is usually a crypto/simd.c wrapper: it calls its SIMD
 * core when SIMD is usable and hands the request to cryptd (a worker,
 * where it is) when not, each through a sub-request of its own.  Where
 * that core exists, a key instead keeps a tfm of the core and one of
 * "cryptd(core)" and chooses between them as the wrapper would.  That
 * saves a layer per request and keeps the request context small: the
 * wrapper's nested sub-requests made a request over 1 KiB with AF_ALG's
 * own part, so every AF_ALG operation took (and, with init_on_alloc,
 * zeroed) a 2 KiB allocation where the stock driver takes 1 KiB, which
 * measurably slowed small requests.  Unlike the wrapper, requests do not
 * wait behind ones cryptd still holds on this CPU: skcipher requests are
 * independent, and none of this module's users relies on their order.
 */
#include <crypto/aes.h>
#include <asm/simd.h>
#include <crypto/internal/simd.h>
#include <crypto/internal/skcipher.h>
#include <linux/module.h>
#include "compat.h"
#include "selftest.h"
#include "skcipher.h"
#include "token.h"

struct hsmkey_skcipher_alg {
	struct skcipher_alg alg;
	enum hsmkey_mode mode;
	struct hsmkey_inner inner;
	bool registered;
};

struct hsmkey_skcipher_ctx {
	struct hsmkey_key *key;		/* NULL while unbound */
};

struct hsmkey_skcipher_reqctx {
	struct hsmkey_key *key;
	struct skcipher_request subreq;	/* last: the inner context follows */
};

static struct hsmkey_skcipher_alg *to_halg(struct crypto_skcipher *tfm)
{
	return container_of(crypto_skcipher_alg(tfm),
			    struct hsmkey_skcipher_alg, alg);
}

/* A tfm of @driver keyed with @key's material. */
static struct crypto_skcipher *hsmkey_skcipher_inner(const char *driver, u32 internal,
						     struct hsmkey_key *key,
						     unsigned int reqsize)
{
	struct crypto_skcipher *inner;
	int err;

	inner = crypto_alloc_skcipher(driver, internal,
				      internal | CRYPTO_ALG_ALLOCATES_MEMORY);
	if (IS_ERR(inner))
		return inner;
	if (crypto_skcipher_reqsize(inner) > reqsize)
		err = -EINVAL;
	else
		err = crypto_skcipher_setkey(inner, key->material,
					     hsmkey_type_keylen(key->type));
	if (err) {
		crypto_free_skcipher(inner);
		return ERR_PTR(err);
	}
	return inner;
}

/*
 * Under key->lock, from hsmkey_key_bind(): make the key's inner tfm on its
 * first binding, one expanded key schedule shared by every tfm bound to it.
 */
int hsmkey_skcipher_prepare(struct hsmkey_key *key, void *arg)
{
	const struct hsmkey_inner *spec = arg;
	struct crypto_skcipher *inner, *direct;

	lockdep_assert_held(&key->lock);
	if (key->inner.skcipher)
		return 0;
	if (!spec->direct[0]) {
		inner = hsmkey_skcipher_inner(spec->driver, 0, key, spec->reqsize);
		if (IS_ERR(inner))
			return PTR_ERR(inner);
		key->inner.skcipher = inner;
		return 0;
	}
	inner = hsmkey_skcipher_inner(spec->deferred, CRYPTO_ALG_INTERNAL, key,
				      spec->reqsize);
	if (IS_ERR(inner))
		return PTR_ERR(inner);
	direct = hsmkey_skcipher_inner(spec->direct, CRYPTO_ALG_INTERNAL, key,
				       spec->reqsize);
	if (IS_ERR(direct)) {
		crypto_free_skcipher(inner);
		return PTR_ERR(direct);
	}
	key->inner.skcipher = inner;
	key->inner.direct = direct;
	return 0;
}

static int hsmkey_skcipher_setkey(struct crypto_skcipher *tfm, const u8 *buf,
				  unsigned int len)
{
	struct hsmkey_skcipher_ctx *ctx = crypto_skcipher_ctx(tfm);
	struct hsmkey_skcipher_alg *halg = to_halg(tfm);
	struct hsmkey_key *key;
	int err;

	err = hsmkey_token_bind(buf, len, halg->mode, hsmkey_skcipher_prepare,
				&halg->inner, &key);
	hsmkey_key_unbind(ctx->key);
	ctx->key = key;
	return err;
}

static void hsmkey_skcipher_complete(void *data, int err)
{
	struct skcipher_request *req = data;
	struct hsmkey_skcipher_reqctx *rctx = skcipher_request_ctx(req);
	struct hsmkey_key *key = rctx->key;

	/* The key outlives @req: revoke waits for this exit. */
	skcipher_request_complete(req, err);
	if (err != -EINPROGRESS)
		hsmkey_key_exit(key);
}

HSMKEY_DEFINE_DONE(hsmkey_skcipher_done, hsmkey_skcipher_complete)

static int hsmkey_skcipher_crypt(struct skcipher_request *req, bool encrypt)
{
	struct crypto_skcipher *tfm = crypto_skcipher_reqtfm(req);
	struct hsmkey_skcipher_ctx *ctx = crypto_skcipher_ctx(tfm);
	struct hsmkey_skcipher_reqctx *rctx = skcipher_request_ctx(req);
	struct skcipher_request *subreq = &rctx->subreq;
	struct hsmkey_key *key = ctx->key;
	int err;

	if (!key)
		return -ENOKEY;
	if (!hsmkey_key_enter(key))
		return -EKEYREVOKED;
	if (!hsmkey_key_charge(key, req->cryptlen)) {
		hsmkey_key_exit(key);
		return -EDQUOT;
	}

	rctx->key = key;
	/* As the wrapper would: the core when SIMD is usable, else cryptd. */
	skcipher_request_set_tfm(subreq, key->inner.direct && crypto_simd_usable() ?
				 key->inner.direct : key->inner.skcipher);
	skcipher_request_set_callback(subreq, skcipher_request_flags(req),
				      hsmkey_skcipher_done, req);
	skcipher_request_set_crypt(subreq, req->src, req->dst, req->cryptlen,
				   req->iv);
	err = encrypt ? crypto_skcipher_encrypt(subreq) :
			crypto_skcipher_decrypt(subreq);
	/* -EBUSY means backlogged: the callback still follows. */
	if (err != -EINPROGRESS && err != -EBUSY)
		hsmkey_key_exit(key);
	return err;
}

static int hsmkey_skcipher_encrypt(struct skcipher_request *req)
{
	return hsmkey_skcipher_crypt(req, true);
}

static int hsmkey_skcipher_decrypt(struct skcipher_request *req)
{
	return hsmkey_skcipher_crypt(req, false);
}

static int hsmkey_skcipher_init(struct crypto_skcipher *tfm)
{
	crypto_skcipher_set_reqsize(tfm, sizeof(struct hsmkey_skcipher_reqctx) +
					 to_halg(tfm)->inner.reqsize);
	return 0;
}

static void hsmkey_skcipher_exit(struct crypto_skcipher *tfm)
{
	struct hsmkey_skcipher_ctx *ctx = crypto_skcipher_ctx(tfm);

	hsmkey_key_unbind(ctx->key);
	ctx->key = NULL;
}

#define HSMKEY_SKCIPHER(m, alg_name, drv_name, inner_alg)				\
	{								\
		.mode = HSMKEY_MODE_##m,				\
		.inner.name = inner_alg,				\
		.alg = {						\
			.base = {					\
				.cra_name = alg_name,			\
				.cra_driver_name = drv_name,		\
				.cra_priority = 300,			\
				.cra_flags = CRYPTO_ALG_ASYNC,		\
				.cra_blocksize = AES_BLOCK_SIZE,	\
				.cra_ctxsize = sizeof(struct hsmkey_skcipher_ctx), \
				.cra_module = THIS_MODULE,		\
			},						\
			.min_keysize = HSMKEY_TOKEN_LEN,		\
			.max_keysize = HSMKEY_TOKEN_LEN,		\
			.ivsize = AES_BLOCK_SIZE,			\
			.setkey = hsmkey_skcipher_setkey,		\
			.encrypt = hsmkey_skcipher_encrypt,		\
			.decrypt = hsmkey_skcipher_decrypt,		\
			.init = hsmkey_skcipher_init,			\
			.exit = hsmkey_skcipher_exit,			\
		},							\
	}

static struct hsmkey_skcipher_alg hsmkey_skciphers[] = {
	HSMKEY_SKCIPHER(XTS, "xts(hsmaes)", "xts-hsmaes", "xts(aes)"),
	HSMKEY_SKCIPHER(CBC, "cbc(hsmaes)", "cbc-hsmaes", "cbc(aes)"),
};

/* Bind @tfm, one of ours, to @key directly: the self-test's ephemeral keys. */
int hsmkey_skcipher_attach(struct crypto_skcipher *tfm, struct hsmkey_key *key)
{
	struct hsmkey_skcipher_ctx *ctx = crypto_skcipher_ctx(tfm);
	struct hsmkey_skcipher_alg *halg = to_halg(tfm);
	int err;

	refcount_inc(&key->ref);
	err = hsmkey_key_bind(key, halg->mode, hsmkey_skcipher_prepare,
			      &halg->inner);
	if (err) {
		hsmkey_key_put(key);
		return err;
	}
	hsmkey_key_unbind(ctx->key);
	ctx->key = key;
	crypto_skcipher_clear_flags(tfm, CRYPTO_TFM_NEED_KEY);
	return 0;
}

static const struct hsmkey_inner *hsmkey_skcipher_find(enum hsmkey_mode mode)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(hsmkey_skciphers); i++)
		if (hsmkey_skciphers[i].mode == mode)
			return &hsmkey_skciphers[i].inner;
	return NULL;
}

/* Whether requests go to a SIMD core directly (and to cryptd when not). */
bool hsmkey_skcipher_has_direct(enum hsmkey_mode mode)
{
	const struct hsmkey_inner *in = hsmkey_skcipher_find(mode);

	return in && in->direct[0];
}

const char *hsmkey_skcipher_inner_driver(enum hsmkey_mode mode)
{
	const struct hsmkey_inner *in = hsmkey_skcipher_find(mode);

	return in ? in->driver : "";
}

/*
 * crypto/simd.c names a wrapper's core "__" and the wrapper's driver name.
 * Only an internal algorithm of that name and of the same chunk size is
 * taken for it, and only when cryptd can be instantiated over it.
 */
static bool hsmkey_skcipher_probe_core(struct hsmkey_skcipher_alg *halg)
{
	struct hsmkey_inner *in = &halg->inner;
	struct crypto_skcipher *core, *deferred;
	const u32 mask = CRYPTO_ALG_INTERNAL | CRYPTO_ALG_ALLOCATES_MEMORY;
	bool ok;

	if (snprintf(in->direct, sizeof(in->direct), "__%s",
		     in->driver) >= sizeof(in->direct) ||
	    snprintf(in->deferred, sizeof(in->deferred), "cryptd(%s)",
		     in->direct) >= sizeof(in->deferred))
		return false;
	core = crypto_alloc_skcipher(in->direct, CRYPTO_ALG_INTERNAL, mask);
	if (IS_ERR(core))
		return false;
	deferred = crypto_alloc_skcipher(in->deferred, CRYPTO_ALG_INTERNAL, mask);
	ok = !IS_ERR(deferred) &&
	     crypto_skcipher_chunksize(core) == halg->alg.chunksize &&
	     crypto_skcipher_chunksize(deferred) == halg->alg.chunksize;
	if (ok)
		in->reqsize = max(crypto_skcipher_reqsize(core),
				  crypto_skcipher_reqsize(deferred));
	if (!IS_ERR(deferred))
		crypto_free_skcipher(deferred);
	crypto_free_skcipher(core);
	return ok;
}

/* Take the inner driver, its request size and the alignment it needs. */
static int hsmkey_skcipher_probe(struct hsmkey_skcipher_alg *halg)
{
	struct crypto_skcipher *inner;

	inner = crypto_alloc_skcipher(halg->inner.name, 0,
				      CRYPTO_ALG_ALLOCATES_MEMORY);
	if (IS_ERR(inner))
		return PTR_ERR(inner);
	strscpy(halg->inner.driver, crypto_skcipher_driver_name(inner),
		sizeof(halg->inner.driver));
	halg->inner.reqsize = crypto_skcipher_reqsize(inner);
	halg->alg.chunksize = crypto_skcipher_chunksize(inner);
	/*
	 * walksize stays 0 (the crypto core makes it the chunk size): only
	 * a full skcipher_alg has one, and on 6.12 a cbc(aes) without AES-NI
	 * is an lskcipher, which crypto_skcipher_alg() would misread.
	 */
	crypto_free_skcipher(inner);

	if (!hsmkey_skcipher_probe_core(halg)) {
		halg->inner.direct[0] = '\0';
		halg->inner.deferred[0] = '\0';
	}
	return 0;
}

void hsmkey_skcipher_unregister(void)
{
	int i;

	for (i = ARRAY_SIZE(hsmkey_skciphers) - 1; i >= 0; i--) {
		if (hsmkey_skciphers[i].registered)
			crypto_unregister_skcipher(&hsmkey_skciphers[i].alg);
		hsmkey_skciphers[i].registered = false;
	}
}

int hsmkey_skcipher_register(void)
{
	struct hsmkey_skcipher_alg *halg;
	int i, err;

	for (i = 0; i < ARRAY_SIZE(hsmkey_skciphers); i++) {
		halg = &hsmkey_skciphers[i];
		err = hsmkey_skcipher_probe(halg);
		if (err) {
			pr_err("no inner %s: %d\n", halg->inner.name, err);
			goto err_unregister;
		}
		err = crypto_register_skcipher(&halg->alg);
		if (err)
			goto err_unregister;
		halg->registered = true;

		err = hsmkey_selftest(halg->alg.base.cra_driver_name);
		if (err)
			goto err_unregister;
		if (halg->inner.direct[0])
			pr_info("%s registered over %s (directly over %s; %s without SIMD), self-test passed\n",
				halg->alg.base.cra_driver_name,
				halg->inner.driver, halg->inner.direct,
				halg->inner.deferred);
		else
			pr_info("%s registered over %s, self-test passed\n",
				halg->alg.base.cra_driver_name,
				halg->inner.driver);
	}
	return 0;

err_unregister:
	hsmkey_skcipher_unregister();
	return err;
}

MODULE_ALIAS_CRYPTO("xts(hsmaes)");
MODULE_ALIAS_CRYPTO("xts-hsmaes");
MODULE_ALIAS_CRYPTO("cbc(hsmaes)");
MODULE_ALIAS_CRYPTO("cbc-hsmaes");
