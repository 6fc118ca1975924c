// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey's KMS calls (hsmkey/kms.h): encrypt, decrypt and re-encrypt requests to
 * hsmkeyd, the data as the messages' payloads (tools/lib/proto.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "proto.h"

int lib_add_context_in(struct hsmkey *h, struct json_object *req, const char *field,
		       const struct hsmkey_kv *ctx, size_t nctx)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(req, field, o);
	for (size_t i = 0; i < nctx; i++) {
		if (!ctx[i].key || !*ctx[i].key || !ctx[i].value)
			return lib_fail(h, -EINVAL, "context pair %zu has no key or no value", i);
		if (json_object_object_get_ex(o, ctx[i].key, NULL))
			return lib_fail(h, -EINVAL, "context key '%s' is given twice", ctx[i].key);
		json_object_object_add(o, ctx[i].key, json_object_new_string(ctx[i].value));
	}
	return 0;
}

int lib_add_context(struct hsmkey *h, struct json_object *req, const struct hsmkey_kv *ctx,
		    size_t nctx)
{
	return lib_add_context_in(h, req, "context", ctx, nctx);
}

/* Checks made before a request: the buffer's size, the context. */
static int prepare(struct hsmkey *h, struct json_object *req, const struct hsmkey_kv *ctx,
		   size_t nctx, size_t need, size_t *have)
{
	if (*have < need) {
		size_t had = *have;

		*have = need;
		return lib_fail(h, -ENOBUFS, "the result takes %zu bytes, the buffer has %zu",
				need, had);
	}
	return lib_add_context(h, req, ctx, nctx);
}

API int hsmkey_encrypt(struct hsmkey *h, const char *key, const struct hsmkey_kv *ctx,
		       size_t nctx, const void *pt, size_t ptlen, void *blob, size_t *bloblen)
{
	struct json_object *req = lib_request("encrypt");
	int r;

	if (!ptlen || ptlen > HSMKEY_PLAINTEXT_MAX || !key) {
		json_object_put(req);
		return key ? lib_fail(h, -EMSGSIZE, "the plaintext must be 1 to 4096 bytes") :
		       lib_fail(h, -EINVAL, "no key named");
	}
	json_object_object_add(req, "name", json_object_new_string(key));
	r = prepare(h, req, ctx, nctx, ptlen + HSMKEY_BLOB_OVERHEAD, bloblen);
	if (r) {
		json_object_put(req);
		return r;
	}
	return lib_call(h, req, pt, ptlen, blob, bloblen, NULL);
}

API int hsmkey_decrypt(struct hsmkey *h, const struct hsmkey_kv *ctx, size_t nctx,
		       const void *blob, size_t bloblen, void *pt, size_t *ptlen)
{
	struct json_object *req = lib_request("decrypt");
	int r;

	if (bloblen <= HSMKEY_BLOB_OVERHEAD || bloblen > HSMKEY_BLOB_MAX) {
		json_object_put(req);
		return lib_fail(h, -EBADMSG, "not a ciphertext blob of hsmkey: %zu bytes", bloblen);
	}
	r = prepare(h, req, ctx, nctx, bloblen - HSMKEY_BLOB_OVERHEAD, ptlen);
	if (r) {
		json_object_put(req);
		return r;
	}
	return lib_call(h, req, blob, bloblen, pt, ptlen, NULL);
}

/* The destination of a re-encryption into @req: key, context, a data key's type. */
static int add_destination(struct hsmkey *h, struct json_object *req,
			   const struct hsmkey_re_encrypt_to *to)
{
	if (!to)
		return 0;
	if (to->key)
		json_object_object_add(req, "name", json_object_new_string(to->key));
	if (to->type)
		json_object_object_add(req, "type", json_object_new_string(to->type));
	return to->ctx ? lib_add_context_in(h, req, "to_context", to->ctx, to->nctx) : 0;
}

API int hsmkey_re_encrypt(struct hsmkey *h, const struct hsmkey_kv *ctx, size_t nctx,
			  const struct hsmkey_re_encrypt_to *to, const void *blob,
			  size_t bloblen, void *out, size_t *outlen)
{
	struct json_object *req = lib_request("re-encrypt");
	int r;

	if (bloblen <= HSMKEY_BLOB_OVERHEAD || bloblen > HSMKEY_BLOB_MAX) {
		json_object_put(req);
		return lib_fail(h, -EBADMSG, "not a ciphertext blob of hsmkey: %zu bytes", bloblen);
	}
	r = prepare(h, req, ctx, nctx, bloblen, outlen) ?: add_destination(h, req, to);
	if (r) {
		json_object_put(req);
		return r;
	}
	return lib_call(h, req, blob, bloblen, out, outlen, NULL);
}
