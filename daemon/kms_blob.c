// SPDX-License-Identifier: GPL-2.0
/*
 * The local KMS API's ciphertext blob and encryption context (kms_blob.h
 * has the layout): AES-GCM with a random 96-bit nonce, the header and the
 * context's canonical form as associated data.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "cleanup.h"
#include "fetched.h"
#include "key.h"
#include "kms_blob.h"
#include "nonce.h"
#include "util.h"

struct pair {
	const char *key, *value;
	size_t klen, vlen;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);

	return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static int collect(struct json_object *ctx, struct pair *pairs, size_t *n)
{
	json_object_object_foreach(ctx, k, v) {
		struct pair *p = &pairs[*n];

		if (*n == KMS_CONTEXT_PAIRS_MAX)
			return -E2BIG;
		if (!json_object_is_type(v, json_type_string))
			return -EINVAL;
		p->key = k;
		p->klen = strlen(k);
		p->value = json_object_get_string(v);
		p->vlen = (size_t)json_object_get_string_len(v);
		if (!p->klen || memchr(p->value, '\0', p->vlen))
			return -EINVAL;
		if (p->klen > KMS_CONTEXT_KEY_MAX || p->vlen > KMS_CONTEXT_VALUE_MAX)
			return -E2BIG;
		if (!strncmp(k, KMS_CONTEXT_RESERVED, strlen(KMS_CONTEXT_RESERVED)))
			return -EPERM;
		(*n)++;
	}
	return 0;
}

static void add_own(struct pair *pairs, size_t *n, const char *key, const char *value)
{
	if (value)
		pairs[(*n)++] = (struct pair){ .key = key, .value = value, .klen = strlen(key),
					       .vlen = strlen(value) };
}

int kms_context_encode(struct json_object *ctx, const struct kms_own_pairs *own, uint8_t *out)
{
	struct pair pairs[KMS_CONTEXT_PAIRS_MAX + 2];
	size_t n = 0, len = 4;
	int r;

	if (ctx && !json_object_is_type(ctx, json_type_object))
		return -EINVAL;
	r = ctx ? collect(ctx, pairs, &n) : 0;
	if (r)
		return r;
	if (own) {
		add_own(pairs, &n, KMS_CONTEXT_TYPE, own->type);
		add_own(pairs, &n, KMS_CONTEXT_UID, own->uid);
	}
	qsort(pairs, n, sizeof(pairs[0]), pair_cmp);
	put_be32(out, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		if (len + 8 + pairs[i].klen + pairs[i].vlen > KMS_CONTEXT_MAX)
			return -E2BIG;
		put_be32(out + len, (uint32_t)pairs[i].klen);
		memcpy(out + len + 4, pairs[i].key, pairs[i].klen);
		len += 4 + pairs[i].klen;
		put_be32(out + len, (uint32_t)pairs[i].vlen);
		memcpy(out + len + 4, pairs[i].value, pairs[i].vlen);
		len += 4 + pairs[i].vlen;
	}
	return (int)len;
}

int kms_context_hash(const uint8_t *ctx, size_t len, char hex[17])
{
	uint8_t h[SHA256_DIGEST_LENGTH];

	if (EVP_Digest(ctx, len, h, NULL, fetched_sha256(), NULL) != 1)
		return -EIO;
	hex_encode(h, 8, hex);
	return 0;
}

static int alg_of(int type)
{
	return type == KS_TYPE_KMS_AES_256 ? KMS_ALG_AES_256_GCM :
	       type == KS_TYPE_KMS_AES_128 ? KMS_ALG_AES_128_GCM : -EINVAL;
}

static const EVP_CIPHER *cipher_of(int type)
{
	return fetched_aes_gcm(type == KS_TYPE_KMS_AES_256 ? 256 : 128);
}

int kms_gcm(int type, bool seal, const uint8_t *key, const uint8_t *iv, const uint8_t *aad,
	    size_t aadlen, const uint8_t *in, size_t len, uint8_t *out)
{
	_cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t ptlen = seal ? len : len - KMS_TAG_LEN;
	uint8_t *tag = seal ? out + len : (uint8_t *)in + ptlen;
	int n = 0, fin = 0;

	if (alg_of(type) < 0 || len > INT_MAX || aadlen > INT_MAX || (!seal && len < KMS_TAG_LEN))
		return -EINVAL;
	if (!c)
		return -ENOMEM;
	if (EVP_CipherInit_ex(c, cipher_of(type), NULL, key, iv, seal) != 1 ||
	    EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_CipherUpdate(c, out, &n, in, (int)ptlen) != 1 ||
	    (!seal && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KMS_TAG_LEN, tag) != 1) ||
	    EVP_CipherFinal_ex(c, out + n, &fin) != 1 || (size_t)(n + fin) != ptlen ||
	    (seal && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KMS_TAG_LEN, tag) != 1)) {
		wipe(out, ptlen);
		return seal ? -EIO : -EBADMSG;
	}
	return 0;
}

int kms_head_write(const struct kms_head *head, uint8_t *blob)
{
	int alg = alg_of(head->type);

	if (alg < 0)
		return -EINVAL;
	memcpy(blob, KMS_MAGIC, 4);
	blob[4] = KMS_FORMAT;
	blob[5] = (uint8_t)alg;
	blob[6] = head->flags;
	blob[7] = 0;
	memcpy(blob + 8, head->id, HSMKEY_ID_LEN);
	put_be32(blob + 24, head->version);
	return nonce_bytes(blob + KMS_NONCE_AT, KMS_NONCE_LEN);
}

size_t kms_aad(const uint8_t *blob, const uint8_t *ctx, size_t ctxlen, uint8_t *aad)
{
	memcpy(aad, blob, KMS_HEADER_LEN);
	memcpy(aad + KMS_HEADER_LEN, ctx, ctxlen);
	return KMS_HEADER_LEN + ctxlen;
}

int kms_seal(const struct kms_head *head, const uint8_t *key, const uint8_t *ctx,
	     size_t ctxlen, const uint8_t *pt, size_t ptlen, uint8_t *blob)
{
	uint8_t aad[KMS_AAD_MAX];
	int r;

	if (ptlen > KMS_PLAINTEXT_MAX || ctxlen > KMS_CONTEXT_MAX)
		return -EINVAL;
	r = kms_head_write(head, blob);
	if (r)
		return r;
	return kms_gcm(head->type, true, key, blob + KMS_NONCE_AT, aad,
		       kms_aad(blob, ctx, ctxlen, aad), pt, ptlen, blob + KMS_HEADER_LEN);
}

int kms_parse(const uint8_t *blob, size_t len, struct kms_head *head)
{
	uint32_t v;

	if (len <= KMS_OVERHEAD || len > KMS_OVERHEAD + KMS_PLAINTEXT_MAX ||
	    memcmp(blob, KMS_MAGIC, 4) || blob[4] != KMS_FORMAT ||
	    (blob[6] & ~KMS_FLAG_KERNEL) || blob[7])
		return -EBADMSG;
	head->flags = blob[6];
	if (blob[5] == KMS_ALG_AES_256_GCM)
		head->type = KS_TYPE_KMS_AES_256;
	else if (blob[5] == KMS_ALG_AES_128_GCM)
		head->type = KS_TYPE_KMS_AES_128;
	else
		return -EBADMSG;
	memcpy(head->id, blob + 8, HSMKEY_ID_LEN);
	memcpy(&v, blob + 24, 4);
	head->version = ntohl(v);
	return head->version ? 0 : -EBADMSG;
}

int kms_open(const uint8_t *key, const uint8_t *ctx, size_t ctxlen, const uint8_t *blob,
	     size_t len, uint8_t *pt)
{
	uint8_t aad[KMS_AAD_MAX];
	struct kms_head head;

	if (kms_parse(blob, len, &head) || ctxlen > KMS_CONTEXT_MAX)
		return -EBADMSG;
	return kms_gcm(head.type, false, key, blob + KMS_NONCE_AT, aad,
		       kms_aad(blob, ctx, ctxlen, aad), blob + KMS_HEADER_LEN,
		       len - KMS_HEADER_LEN, pt) ? -EBADMSG : 0;
}
