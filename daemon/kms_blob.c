// SPDX-License-Identifier: GPL-2.0
/*
 * The local KMS API's ciphertext blob and encryption context (kms_blob.h
 * has the layout): AES-GCM with a random 96-bit nonce, the header and the
 * context's canonical form as associated data.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "cleanup.h"
#include "key.h"
#include "kms_blob.h"
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

void kms_context_hash(const uint8_t *ctx, size_t len, char hex[17])
{
	uint8_t h[SHA256_DIGEST_LENGTH];

	SHA256(ctx, len, h);
	hex_encode(h, 8, hex);
}

static int alg_of(int type)
{
	return type == KS_TYPE_KMS_AES_256 ? KMS_ALG_AES_256_GCM :
	       type == KS_TYPE_KMS_AES_128 ? KMS_ALG_AES_128_GCM : -EINVAL;
}

static const EVP_CIPHER *cipher_of(int type)
{
	return type == KS_TYPE_KMS_AES_256 ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
}

/* Header and context as the cipher's associated data. */
static bool add_aad(EVP_CIPHER_CTX *c, const uint8_t *head, const uint8_t *ctx, size_t ctxlen)
{
	int n;

	return EVP_CipherUpdate(c, NULL, &n, head, KMS_HEADER_LEN) == 1 &&
	       EVP_CipherUpdate(c, NULL, &n, ctx, (int)ctxlen) == 1;
}

int kms_seal(const struct kms_head *head, const uint8_t *key, const uint8_t *ctx,
	     size_t ctxlen, const uint8_t *pt, size_t ptlen, uint8_t *blob)
{
	_cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int alg = alg_of(head->type), n = 0, fin = 0;
	uint8_t *nonce = blob + 28;

	if (alg < 0 || ptlen > KMS_PLAINTEXT_MAX)
		return -EINVAL;
	if (!c)
		return -ENOMEM;
	memcpy(blob, KMS_MAGIC, 4);
	blob[4] = KMS_FORMAT;
	blob[5] = (uint8_t)alg;
	blob[6] = head->flags;
	blob[7] = 0;
	memcpy(blob + 8, head->id, HSMKEY_ID_LEN);
	put_be32(blob + 24, head->version);
	if (getrandom(nonce, KMS_NONCE_LEN, 0) != KMS_NONCE_LEN)
		return -EIO;
	if (EVP_EncryptInit_ex(c, cipher_of(head->type), NULL, key, nonce) != 1 ||
	    !add_aad(c, blob, ctx, ctxlen) ||
	    EVP_EncryptUpdate(c, blob + KMS_HEADER_LEN, &n, pt, (int)ptlen) != 1 ||
	    EVP_EncryptFinal_ex(c, blob + KMS_HEADER_LEN + n, &fin) != 1 ||
	    (size_t)(n + fin) != ptlen ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KMS_TAG_LEN,
				blob + KMS_HEADER_LEN + ptlen) != 1)
		return -EIO;
	return 0;
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
	_cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t ptlen = len - KMS_OVERHEAD;
	struct kms_head head;
	int n = 0, fin = 0;

	if (kms_parse(blob, len, &head))
		return -EBADMSG;
	if (!c)
		return -ENOMEM;
	if (EVP_DecryptInit_ex(c, cipher_of(head.type), NULL, key, blob + 28) != 1 ||
	    !add_aad(c, blob, ctx, ctxlen) ||
	    EVP_DecryptUpdate(c, pt, &n, blob + KMS_HEADER_LEN, (int)ptlen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KMS_TAG_LEN,
				(void *)(blob + KMS_HEADER_LEN + ptlen)) != 1 ||
	    EVP_DecryptFinal_ex(c, pt + n, &fin) != 1) {
		wipe(pt, ptlen);
		return -EBADMSG;
	}
	return 0;
}
