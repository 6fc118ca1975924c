// SPDX-License-Identifier: GPL-2.0
/*
 * gcm-aes-hsmkey: a "gcm(aes)" above every other at load, registered with
 * ktls=1, that takes a kTLS session token (session.c) in place of the key
 * and hands every other key unchanged to the best gcm(aes) it may stand on
 * (HSMKEY_KTLS_FALLBACK_MASK).  Each tfm owns a fallback tfm of that one,
 * which holds whichever key setkey() ends up with; every request goes to
 * it through a sub-request in the request context.  A tfm keyed with a
 * token holds the session key's entry (session.c) until it is freed or
 * keyed again, and asks it before each request whether it may go on
 * (revoked, or past the record limit: it may not).
 *
 * Cost, for every user of gcm(aes) while it is registered: one allocation
 * more per tfm, one sub-request per request, and at setkey() a look at
 * four bytes (an HMAC for bytes that begin with the magic).
 */
#include <crypto/aes.h>
#include <crypto/gcm.h>
#include <crypto/internal/aead.h>
#include <linux/module.h>
#include "compat.h"
#include "ktls.h"
#include "session.h"

static bool ktls;
module_param(ktls, bool, 0444);
MODULE_PARM_DESC(ktls,
		 "Register gcm(aes) taking kTLS session tokens (users of an asynchronous gcm(aes) that allows fallbacks, kTLS and IPsec among them, then go through it; default off)");

/*
 * Never this algorithm again, and (as ours does not) never one that
 * allocates memory per request.
 */
#define HSMKEY_KTLS_FALLBACK_MASK \
	(CRYPTO_ALG_NEED_FALLBACK | CRYPTO_ALG_ALLOCATES_MEMORY)

struct hsmkey_ktls_ctx {
	struct crypto_aead *fallback;
	struct hsmkey_session *session;	/* keyed with a token: its entry */
};

struct hsmkey_ktls_reqctx {
	struct aead_request subreq;	/* last: the fallback's context follows */
};

static bool hsmkey_ktls_registered;

static int hsmkey_ktls_setkey(struct crypto_aead *tfm, const u8 *key,
			      unsigned int len)
{
	struct hsmkey_ktls_ctx *ctx = crypto_aead_ctx(tfm);
	struct hsmkey_session *bound = NULL;
	u8 material[AES_MAX_KEY_SIZE];
	int taken, err;

	taken = hsmkey_session_take(key, len, material, &bound);
	if (taken < 0)
		return taken;
	crypto_aead_clear_flags(ctx->fallback, CRYPTO_TFM_REQ_MASK);
	crypto_aead_set_flags(ctx->fallback,
			      crypto_aead_get_flags(tfm) & CRYPTO_TFM_REQ_MASK);
	err = crypto_aead_setkey(ctx->fallback, taken ? material : key, len);
	memzero_explicit(material, sizeof(material));
	if (err) {
		/* A spent token, never used: its entry goes. */
		if (bound)
			hsmkey_session_unbind(bound);
		return err;
	}
	/* No request runs during setkey(): the crypto API's rule. */
	if (ctx->session)
		hsmkey_session_unbind(ctx->session);
	ctx->session = bound;
	return 0;
}

static int hsmkey_ktls_setauthsize(struct crypto_aead *tfm,
				   unsigned int authsize)
{
	struct hsmkey_ktls_ctx *ctx = crypto_aead_ctx(tfm);

	return crypto_aead_setauthsize(ctx->fallback, authsize);
}

static void hsmkey_ktls_complete(void *data, int err)
{
	aead_request_complete(data, err);
}

HSMKEY_DEFINE_DONE(hsmkey_ktls_done, hsmkey_ktls_complete)

static struct aead_request *hsmkey_ktls_subreq(struct aead_request *req)
{
	struct crypto_aead *tfm = crypto_aead_reqtfm(req);
	struct hsmkey_ktls_ctx *ctx = crypto_aead_ctx(tfm);
	struct hsmkey_ktls_reqctx *rctx = aead_request_ctx(req);
	struct aead_request *subreq = &rctx->subreq;

	aead_request_set_tfm(subreq, ctx->fallback);
	aead_request_set_callback(subreq, aead_request_flags(req),
				  hsmkey_ktls_done, req);
	aead_request_set_crypt(subreq, req->src, req->dst, req->cryptlen,
			       req->iv);
	aead_request_set_ad(subreq, req->assoclen);
	return subreq;
}

/* 0 if a request may go on: always with a raw key. */
static int hsmkey_ktls_may(struct aead_request *req)
{
	struct hsmkey_ktls_ctx *ctx = crypto_aead_ctx(crypto_aead_reqtfm(req));

	return ctx->session ? hsmkey_session_use(ctx->session) : 0;
}

static int hsmkey_ktls_encrypt(struct aead_request *req)
{
	return hsmkey_ktls_may(req) ?:
	       crypto_aead_encrypt(hsmkey_ktls_subreq(req));
}

static int hsmkey_ktls_decrypt(struct aead_request *req)
{
	return hsmkey_ktls_may(req) ?:
	       crypto_aead_decrypt(hsmkey_ktls_subreq(req));
}

static int hsmkey_ktls_init(struct crypto_aead *tfm)
{
	struct hsmkey_ktls_ctx *ctx = crypto_aead_ctx(tfm);
	struct crypto_aead *fallback;

	fallback = crypto_alloc_aead("gcm(aes)", 0, HSMKEY_KTLS_FALLBACK_MASK);
	if (IS_ERR(fallback))
		return PTR_ERR(fallback);
	ctx->fallback = fallback;
	crypto_aead_set_reqsize(tfm, sizeof(struct hsmkey_ktls_reqctx) +
				     crypto_aead_reqsize(fallback));
	return 0;
}

static void hsmkey_ktls_exit(struct crypto_aead *tfm)
{
	struct hsmkey_ktls_ctx *ctx = crypto_aead_ctx(tfm);

	/* The key is wiped with the fallback (crypto_free_aead()). */
	crypto_free_aead(ctx->fallback);
	if (ctx->session)
		hsmkey_session_unbind(ctx->session);
}

static struct aead_alg hsmkey_ktls_alg = {
	.base = {
		.cra_name = "gcm(aes)",
		.cra_driver_name = "gcm-aes-hsmkey",
		.cra_flags = CRYPTO_ALG_ASYNC | CRYPTO_ALG_NEED_FALLBACK,
		.cra_blocksize = 1,
		.cra_ctxsize = sizeof(struct hsmkey_ktls_ctx),
		.cra_module = THIS_MODULE,
	},
	.setkey = hsmkey_ktls_setkey,
	.setauthsize = hsmkey_ktls_setauthsize,
	.encrypt = hsmkey_ktls_encrypt,
	.decrypt = hsmkey_ktls_decrypt,
	.init = hsmkey_ktls_init,
	.exit = hsmkey_ktls_exit,
	.ivsize = GCM_AES_IV_SIZE,
	.maxauthsize = AES_BLOCK_SIZE,
};

bool hsmkey_ktls_enabled(void)
{
	return hsmkey_ktls_registered;
}

/* The driver a user asking for gcm(aes) gets now, or an ERR_PTR. */
static char *hsmkey_ktls_first(u32 *priority)
{
	struct crypto_aead *tfm = crypto_alloc_aead("gcm(aes)", 0, 0);
	char *driver;

	if (IS_ERR(tfm))
		return ERR_CAST(tfm);
	driver = kstrdup(crypto_aead_driver_name(tfm), GFP_KERNEL);
	if (priority)
		*priority = crypto_aead_alg(tfm)->base.cra_priority;
	crypto_free_aead(tfm);
	return driver ?: ERR_PTR(-ENOMEM);
}

/*
 * Is gcm-aes-hsmkey what a gcm(aes) user, kTLS's among them, gets now?
 * (With ktls=1 the question allocates one of its tfms for a moment.)
 */
bool hsmkey_ktls_first_now(void)
{
	char *driver;
	bool first;

	if (!hsmkey_ktls_registered)
		return false;
	driver = hsmkey_ktls_first(NULL);
	if (IS_ERR(driver))
		return false;
	first = !strcmp(driver, hsmkey_ktls_alg.base.cra_driver_name);
	kfree(driver);
	return first;
}

/*
 * With ktls=1: 100 above the highest-priority gcm(aes) there is now, and
 * refused if a user asking for gcm(aes) then gets another, tested, driver
 * (ours failed its self-test).  Unregistering is safe then: nothing but
 * the self-test, which is over, had a reason to pick ours.  (An insmod
 * killed while the self-test runs leaves it untested; the same check
 * refuses it, with a warning from the crypto API if the test still holds
 * a tfm.)  When the answer cannot be had, it stays and says so.
 */
int hsmkey_ktls_register(void)
{
	struct crypto_aead *below;
	char *first;
	u32 top = 0;
	int err;

	if (!ktls)
		return 0;
	below = crypto_alloc_aead("gcm(aes)", 0, HSMKEY_KTLS_FALLBACK_MASK);
	if (IS_ERR(below)) {
		pr_err("ktls: no gcm(aes) to fall back on: %ld\n", PTR_ERR(below));
		return PTR_ERR(below);
	}
	hsmkey_ktls_alg.chunksize = crypto_aead_alg_chunksize(crypto_aead_alg(below));
	pr_info("ktls: gcm-aes-hsmkey over %s\n", crypto_aead_driver_name(below));
	crypto_free_aead(below);
	first = hsmkey_ktls_first(&top);
	if (IS_ERR(first))
		return PTR_ERR(first);
	kfree(first);
	hsmkey_ktls_alg.base.cra_priority = top + 100;

	err = hsmkey_session_init();
	if (err)
		return err;
	err = crypto_register_aead(&hsmkey_ktls_alg);
	if (err) {
		hsmkey_session_exit();
		return err;
	}
	hsmkey_ktls_registered = true;
	first = hsmkey_ktls_first(NULL);
	if (IS_ERR(first)) {
		pr_warn("ktls: cannot tell which gcm(aes) comes first: %ld\n",
			PTR_ERR(first));
		return 0;
	}
	if (strcmp(first, hsmkey_ktls_alg.base.cra_driver_name)) {
		pr_err("ktls: a gcm(aes) user would get %s, not gcm-aes-hsmkey\n",
		       first);
		hsmkey_ktls_unregister();
		err = -EBUSY;
	}
	kfree(first);
	return err;
}

void hsmkey_ktls_unregister(void)
{
	if (!hsmkey_ktls_registered)
		return;
	crypto_unregister_aead(&hsmkey_ktls_alg);
	hsmkey_session_exit();
	hsmkey_ktls_registered = false;
}
