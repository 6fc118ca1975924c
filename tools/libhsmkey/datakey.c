// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey's data key calls (hsmkey/kms.h): hsmkeyd's data-key and
 * unwrap-to-kernel requests.  The reply's payload is the wrapped key, then
 * the plaintext or the token; it passes through a buffer of the call's,
 * wiped before the call returns.
 */
#include <errno.h>
#include <string.h>
#include "internal.h"
#include "proto.h"

/* The buffers' sizes, checked before the request: nothing is made for nothing. */
static int check_sizes(struct hsmkey *h, size_t *wrapped_len, size_t *second_len,
		       size_t second_min)
{
	if (wrapped_len && *wrapped_len < HSMKEY_WRAPPED_KEY_MAX) {
		*wrapped_len = HSMKEY_WRAPPED_KEY_MAX;
		return lib_fail(h, -ENOBUFS, "the wrapped key's buffer takes %d bytes",
				HSMKEY_WRAPPED_KEY_MAX);
	}
	if (second_len && *second_len < second_min) {
		*second_len = second_min;
		return lib_fail(h, -ENOBUFS, "the %s's buffer takes %zu bytes",
				second_min == HSMKEY_TOKEN_SIZE ? "token" : "plaintext", second_min);
	}
	return 0;
}

/* The reply's payload: @wlen bytes of wrapped key, then the rest. */
static int split(struct hsmkey *h, const uint8_t *buf, size_t n, size_t wlen, void *wrapped,
		 size_t *wrapped_len, void *second, size_t *second_len)
{
	if (wlen > n || wlen > (wrapped ? *wrapped_len : 0) ||
	    n - wlen > (second ? *second_len : 0))
		return lib_fail(h, -EPROTO, "hsmkeyd's reply does not fit the call");
	if (wrapped) {
		memcpy(wrapped, buf, wlen);
		*wrapped_len = wlen;
	}
	if (second) {
		memcpy(second, buf + wlen, n - wlen);
		*second_len = n - wlen;
	}
	return 0;
}

static int call(struct hsmkey *h, struct json_object *req, const void *payload, size_t plen,
		void *wrapped, size_t *wrapped_len, void *second, size_t *second_len)
{
	uint8_t buf[HSMKEY_WRAPPED_KEY_MAX + HSMKEY_DATA_KEY_MAX];
	struct json_object *reply = NULL;
	size_t n = sizeof(buf);
	int64_t wlen = 0;
	int r = lib_call(h, req, payload, plen, buf, &n, &reply);

	if (!r && wrapped && !proto_int(reply, "wrapped_len", &wlen))
		r = lib_fail(h, -EPROTO, "hsmkeyd's reply has no wrapped key");
	if (!r)
		r = split(h, buf, n, (size_t)wlen, wrapped, wrapped_len, second, second_len);
	explicit_bzero(buf, sizeof(buf));
	json_object_put(reply);
	return r;
}

/* A data-key request for @key: everything but what the reply fills in. */
static int data_key_request(struct hsmkey *h, const char *key, const char *type,
			    unsigned int ttl, const struct hsmkey_kv *ctx, size_t nctx,
			    bool kernel, bool plaintext, struct json_object **out)
{
	struct json_object *req = lib_request("data-key");
	int r;

	if (!key) {
		json_object_put(req);
		return lib_fail(h, -EINVAL, "no key named");
	}
	json_object_object_add(req, "name", json_object_new_string(key));
	if (type)
		json_object_object_add(req, "type", json_object_new_string(type));
	json_object_object_add(req, "kernel", json_object_new_boolean(kernel));
	json_object_object_add(req, "plaintext", json_object_new_boolean(plaintext));
	if (ttl)
		json_object_object_add(req, "ttl", json_object_new_int64(ttl));
	r = lib_add_context(h, req, ctx, nctx);
	if (r)
		json_object_put(req);
	else
		*out = req;
	return r;
}

API int hsmkey_generate_data_key(struct hsmkey *h, const char *key, const char *type,
				 const struct hsmkey_kv *ctx, size_t nctx, void *wrapped,
				 size_t *wrapped_len, void *plaintext, size_t *plaintext_len)
{
	struct json_object *req;
	int r = check_sizes(h, wrapped_len, plaintext ? plaintext_len : NULL,
			    HSMKEY_DATA_KEY_MAX) ?:
		data_key_request(h, key, type, 0, ctx, nctx, false, plaintext != NULL, &req);

	return r ?: call(h, req, NULL, 0, wrapped, wrapped_len, plaintext, plaintext_len);
}

API int hsmkey_data_key_to_kernel(struct hsmkey *h, const char *key, const char *type,
				  unsigned int ttl, const struct hsmkey_kv *ctx, size_t nctx,
				  void *wrapped, size_t *wrapped_len, void *token,
				  size_t *token_len)
{
	struct json_object *req;
	int r = check_sizes(h, wrapped_len, token_len, HSMKEY_TOKEN_SIZE) ?:
		data_key_request(h, key, type, ttl, ctx, nctx, true, false, &req);

	return r ?: call(h, req, NULL, 0, wrapped, wrapped_len, token, token_len);
}

API int hsmkey_unwrap_to_kernel(struct hsmkey *h, const char *type, unsigned int ttl,
				const struct hsmkey_kv *ctx, size_t nctx, const void *wrapped,
				size_t wrapped_len, void *token, size_t *token_len)
{
	struct json_object *req = lib_request("unwrap-to-kernel");
	int r = check_sizes(h, NULL, token_len, HSMKEY_TOKEN_SIZE);

	if (!r && (!wrapped || wrapped_len <= HSMKEY_BLOB_OVERHEAD ||
		   wrapped_len > HSMKEY_WRAPPED_KEY_MAX))
		r = lib_fail(h, -EBADMSG, "not a wrapped data key: %zu bytes", wrapped_len);
	if (!r && type)
		json_object_object_add(req, "type", json_object_new_string(type));
	if (!r && ttl)
		json_object_object_add(req, "ttl", json_object_new_int64(ttl));
	r = r ?: lib_add_context(h, req, ctx, nctx);
	if (r) {
		json_object_put(req);
		return r;
	}
	return call(h, req, wrapped, wrapped_len, NULL, NULL, token, token_len);
}
