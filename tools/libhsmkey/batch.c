// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey's batches (hsmkey_encrypt_batch(3)): up to HSMKEY_BATCH_MAX
 * encrypt, decrypt or data-key calls in one request, each item with its
 * own context, input and result.  The reply's payload, the items' outputs
 * one after the other, passes through a buffer of the call's, wiped
 * before the call returns.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "proto.h"

#define REPLY_MAX	(HSMKEY_BATCH_BYTES + HSMKEY_BATCH_MAX * HSMKEY_BLOB_OVERHEAD)

/* What a batch's items have in common, for its request and its reply. */
struct shape {
	const char *op;
	size_t (*need)(size_t inlen);	/* an output buffer's size, at least */
	bool input;
};

static size_t need_blob(size_t inlen)
{
	return inlen + HSMKEY_BLOB_OVERHEAD;
}

static size_t need_plaintext(size_t inlen)
{
	return inlen > HSMKEY_BLOB_OVERHEAD ? inlen - HSMKEY_BLOB_OVERHEAD : 0;
}

static const struct shape encrypt_shape = { "encrypt", need_blob, true };
static const struct shape decrypt_shape = { "decrypt", need_plaintext, true };

/* One item into the request's "items", its input after the others in @payload. */
static int add_item(struct hsmkey *h, struct json_object *items, size_t i,
		    const struct hsmkey_kv *ctx, size_t nctx, size_t inlen)
{
	struct json_object *item = json_object_new_object();
	int r;

	json_object_array_add(items, item);
	if (inlen != (size_t)-1)
		json_object_object_add(item, "len", json_object_new_int64((int64_t)inlen));
	r = lib_add_context(h, item, ctx, nctx);
	return r ? lib_fail(h, r, "item %zu: %s", i, hsmkey_error(h)) : 0;
}

/* The request of a batch of @items, its inputs gathered into *@payload. */
static int build(struct hsmkey *h, const struct shape *s, struct json_object *req,
		 struct hsmkey_item *items, size_t n, uint8_t **payload, size_t *plen)
{
	struct json_object *list = json_object_new_array();
	size_t total = 0;
	int r = 0;

	json_object_object_add(req, "items", list);
	if (!n || n > HSMKEY_BATCH_MAX)
		return lib_fail(h, -EINVAL, "a batch has 1 to %d items", HSMKEY_BATCH_MAX);
	for (size_t i = 0; i < n && !r; i++) {
		if (items[i].outlen < s->need(items[i].inlen)) {
			items[i].outlen = s->need(items[i].inlen);
			return lib_fail(h, -ENOBUFS, "item %zu: the result takes %zu bytes", i,
					items[i].outlen);
		}
		total += items[i].inlen;
		if (total > HSMKEY_BATCH_BYTES)
			return lib_fail(h, -EMSGSIZE, "a batch's inputs are at most %d bytes",
					HSMKEY_BATCH_BYTES);
		r = add_item(h, list, i, items[i].ctx, items[i].nctx, items[i].inlen);
	}
	*payload = r ? NULL : malloc(total ?: 1);
	if (!r && !*payload)
		return lib_fail(h, -ENOMEM, "out of memory");
	for (size_t i = 0, off = 0; !r && i < n; off += items[i++].inlen)
		memcpy(*payload + off, items[i].in, items[i].inlen);
	*plen = total;
	return r;
}

/*
 * Item @i's entry of the reply: 0 and the length of its output at @buf +
 * *@off (@n bytes in all), which *@off then passes; or its error into
 * *@err (the first one's message into the handle); -EPROTO when the entry
 * is malformed, which fails the whole call.
 */
static int result_of(struct hsmkey *h, struct json_object *res, size_t i, size_t n,
		     size_t *off, size_t *len, int *err, int *first)
{
	int64_t e = 0, l = -1;

	*err = 0;
	if (proto_int(res, "errno", &e)) {
		*err = e > 0 && e < 4096 ? -(int)e : -EPROTO;
		if (!*first) {
			*first = *err;
			lib_fail(h, *err, "item %zu: %s", i, proto_str(res, "error") ?: "refused");
		}
		return 0;
	}
	if (!proto_int(res, "len", &l) || l < 0 || (size_t)l > n - *off)
		return lib_fail(h, -EPROTO, "hsmkeyd's reply does not fit the batch");
	*len = (size_t)l;
	*off += *len;
	return 0;
}

/* The reply's "items", @n of them, as a list. */
static struct json_object *reply_items(struct hsmkey *h, struct json_object *reply, size_t n)
{
	struct json_object *list;

	if (!json_object_object_get_ex(reply, "items", &list) ||
	    !json_object_is_type(list, json_type_array) || json_object_array_length(list) != n) {
		lib_fail(h, -EPROTO, "hsmkeyd's reply does not fit the batch");
		return NULL;
	}
	return list;
}

/* One item's result and output (@len bytes at @out) into the caller's items. */
typedef int (*take_fn)(struct hsmkey *h, void *items, size_t i, struct json_object *res,
		       const uint8_t *out, size_t len, int err);

/* The reply's items, @count of them, each through @take. */
static int spread(struct hsmkey *h, struct json_object *reply, const uint8_t *buf, size_t n,
		  size_t count, take_fn take, void *items)
{
	struct json_object *list = reply_items(h, reply, count);
	size_t off = 0, len = 0;
	int first = 0;

	if (!list)
		return -EPROTO;
	for (size_t i = 0; i < count; i++) {
		struct json_object *res = json_object_array_get_idx(list, i);
		size_t at = off;
		int err, r = result_of(h, res, i, n, &off, &len, &err, &first) ?:
			     take(h, items, i, res, buf + at, len, err);

		if (r)
			return r;
	}
	return first;
}

static int take_item(struct hsmkey *h, void *items, size_t i, struct json_object *res,
		     const uint8_t *out, size_t len, int err)
{
	struct hsmkey_item *it = (struct hsmkey_item *)items + i;

	(void)res;
	if (!err && len > it->outlen) {
		it->result = -EPROTO;	/* a result of 0 only with its output */
		return lib_fail(h, -EPROTO, "hsmkeyd's reply does not fit the batch");
	}
	it->result = err;
	if (err)
		return 0;
	memcpy(it->out, out, len);
	it->outlen = len;
	return 0;
}

static int run(struct hsmkey *h, const struct shape *s, struct json_object *req,
	       struct hsmkey_item *items, size_t n)
{
	struct json_object *reply = NULL;
	uint8_t *payload = NULL, *buf = malloc(REPLY_MAX);
	size_t plen = 0, blen = REPLY_MAX;
	int r = buf ? build(h, s, req, items, n, &payload, &plen) :
		lib_fail(h, -ENOMEM, "out of memory");

	if (r) {
		json_object_put(req);
	} else {
		r = lib_call(h, req, payload, plen, buf, &blen, &reply);
		r = r ?: spread(h, reply, buf, blen, n, take_item, items);
	}
	if (payload) {
		explicit_bzero(payload, plen);
		free(payload);
	}
	if (buf) {
		explicit_bzero(buf, REPLY_MAX);
		free(buf);
	}
	json_object_put(reply);
	return r;
}

API int hsmkey_encrypt_batch(struct hsmkey *h, const char *key, struct hsmkey_item *items,
			     size_t n)
{
	struct json_object *req = lib_request(encrypt_shape.op);

	if (!key) {
		json_object_put(req);
		return lib_fail(h, -EINVAL, "no key named");
	}
	json_object_object_add(req, "name", json_object_new_string(key));
	return run(h, &encrypt_shape, req, items, n);
}

API int hsmkey_decrypt_batch(struct hsmkey *h, struct hsmkey_item *items, size_t n)
{
	return run(h, &decrypt_shape, lib_request(decrypt_shape.op), items, n);
}

/* A data-key batch's request: the key, type and flags, an item per data key. */
static int data_key_batch(struct hsmkey *h, const char *key, const char *type,
			  unsigned int flags, struct hsmkey_data_key_item *items, size_t n,
			  struct json_object *req)
{
	struct json_object *list = json_object_new_array();
	int r = 0;

	json_object_object_add(req, "items", list);
	if (!key)
		return lib_fail(h, -EINVAL, "no key named");
	if (!n || n > HSMKEY_BATCH_MAX)
		return lib_fail(h, -EINVAL, "a batch has 1 to %d items", HSMKEY_BATCH_MAX);
	if (flags & ~HSMKEY_DATA_KEY_PLAINTEXT)
		return lib_fail(h, -EINVAL, "unknown flags %#x", flags);
	json_object_object_add(req, "name", json_object_new_string(key));
	if (type)
		json_object_object_add(req, "type", json_object_new_string(type));
	json_object_object_add(req, "plaintext",
			       json_object_new_boolean(flags & HSMKEY_DATA_KEY_PLAINTEXT));
	for (size_t i = 0; i < n && !r; i++)
		r = add_item(h, list, i, items[i].ctx, items[i].nctx, (size_t)-1);
	return r;
}

/* Each item's output: "wrapped_len" bytes of wrapped key, then the plaintext. */
static int take_data_key(struct hsmkey *h, void *items, size_t i, struct json_object *res,
			 const uint8_t *out, size_t len, int err)
{
	struct hsmkey_data_key_item *it = (struct hsmkey_data_key_item *)items + i;
	int64_t w = -1;

	it->result = err;
	it->wrapped_len = it->plaintext_len = 0;
	if (err)
		return 0;
	if (!proto_int(res, "wrapped_len", &w) || w < 0 || (size_t)w > len ||
	    (size_t)w > sizeof(it->wrapped) || len - (size_t)w > sizeof(it->plaintext)) {
		it->result = -EPROTO;	/* a result of 0 only with its output */
		return lib_fail(h, -EPROTO, "hsmkeyd's reply does not fit the batch");
	}
	memcpy(it->wrapped, out, (size_t)w);
	it->wrapped_len = (size_t)w;
	memcpy(it->plaintext, out + w, len - (size_t)w);
	it->plaintext_len = len - (size_t)w;
	return 0;
}

API int hsmkey_generate_data_keys(struct hsmkey *h, const char *key, const char *type,
				  unsigned int flags, struct hsmkey_data_key_item *items,
				  size_t n)
{
	struct json_object *req = lib_request("data-key"), *reply = NULL;
	uint8_t buf[HSMKEY_BATCH_MAX * (HSMKEY_WRAPPED_KEY_MAX + HSMKEY_DATA_KEY_MAX)];
	size_t blen = sizeof(buf);
	int r = data_key_batch(h, key, type, flags, items, n, req);

	if (r) {
		json_object_put(req);
		return r;
	}
	r = lib_call(h, req, NULL, 0, buf, &blen, &reply);
	r = r ?: spread(h, reply, buf, blen, n, take_data_key, items);
	explicit_bzero(buf, sizeof(buf));
	json_object_put(reply);
	return r;
}
