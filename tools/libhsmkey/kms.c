// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey's KMS calls (hsmkey/kms.h): encrypt and decrypt requests to
 * hsmkeyd, the data as the messages' payloads (tools/lib/proto.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "proto.h"

static struct json_object *request(const char *op)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "v", json_object_new_int(PROTO_VERSION));
	json_object_object_add(req, "op", json_object_new_string(op));
	return req;
}

/* @ctx into @req's "context"; -EINVAL when a pair is incomplete or repeated. */
static int add_context(struct hsmkey *h, struct json_object *req, const struct hsmkey_kv *ctx,
		       size_t nctx)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(req, "context", o);
	for (size_t i = 0; i < nctx; i++) {
		if (!ctx[i].key || !*ctx[i].key || !ctx[i].value) {
			snprintf(h->error, sizeof(h->error), "context pair %zu has no key or no value", i);
			return -EINVAL;
		}
		if (json_object_object_get_ex(o, ctx[i].key, NULL)) {
			snprintf(h->error, sizeof(h->error), "context key '%s' is given twice", ctx[i].key);
			return -EINVAL;
		}
		json_object_object_add(o, ctx[i].key, json_object_new_string(ctx[i].value));
	}
	return 0;
}

/* Checks made before a request: the buffer's size, the context. */
static int prepare(struct hsmkey *h, struct json_object *req, const struct hsmkey_kv *ctx,
		   size_t nctx, size_t need, size_t *have)
{
	h->error[0] = '\0';
	if (*have < need) {
		snprintf(h->error, sizeof(h->error), "the result takes %zu bytes, the buffer has %zu",
			 need, *have);
		*have = need;
		return -ENOBUFS;
	}
	return add_context(h, req, ctx, nctx);
}

API int hsmkey_encrypt(struct hsmkey *h, const char *key, const struct hsmkey_kv *ctx,
		       size_t nctx, const void *pt, size_t ptlen, void *blob, size_t *bloblen)
{
	struct json_object *req = request("encrypt");
	int r;

	if (!ptlen || ptlen > HSMKEY_PLAINTEXT_MAX || !key) {
		json_object_put(req);
		snprintf(h->error, sizeof(h->error), "%s",
			 key ? "the plaintext must be 1 to 4096 bytes" : "no key named");
		return key ? -EMSGSIZE : -EINVAL;
	}
	json_object_object_add(req, "name", json_object_new_string(key));
	r = prepare(h, req, ctx, nctx, ptlen + HSMKEY_BLOB_OVERHEAD, bloblen);
	if (r) {
		json_object_put(req);
		return r;
	}
	return lib_call(h, req, pt, ptlen, blob, bloblen);
}

API int hsmkey_decrypt(struct hsmkey *h, const struct hsmkey_kv *ctx, size_t nctx,
		       const void *blob, size_t bloblen, void *pt, size_t *ptlen)
{
	struct json_object *req = request("decrypt");
	int r;

	if (bloblen <= HSMKEY_BLOB_OVERHEAD || bloblen > HSMKEY_BLOB_MAX) {
		json_object_put(req);
		snprintf(h->error, sizeof(h->error), "not a ciphertext blob of hsmkey: %zu bytes",
			 bloblen);
		return -EBADMSG;
	}
	r = prepare(h, req, ctx, nctx, bloblen - HSMKEY_BLOB_OVERHEAD, ptlen);
	if (r) {
		json_object_put(req);
		return r;
	}
	return lib_call(h, req, blob, bloblen, pt, ptlen);
}
