// SPDX-License-Identifier: GPL-2.0
/*
 * A KMS or MAC key's version used where it lives (key_use.h).
 */
#include <errno.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include "cleanup.h"
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

/* In the storage: the version looked up (not unsealed) only to be sure it is still @meta's. */
static int use_there(struct request *rq, const struct ks_key *meta, const struct ks_use *u,
		     uint8_t *out)
{
	struct backend *be = rq->d->be;
	struct ks_key key = { 0 };
	int r = get_version(rq, meta->name, meta->version, false, &key);

	if (r)
		return r;
	if (memcmp(key.id, meta->id, HSMKEY_ID_LEN) || key.type != meta->type)
		return -ESTALE;
	r = be->ops->use(be, &key, u, out);
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
	return rq->d->be->ops->use ? use_there(rq, key, u, out) : use_here(rq, key, u, out);
}
