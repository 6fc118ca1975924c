// SPDX-License-Identifier: GPL-2.0
/*
 * Batches of encrypt, decrypt and data-key calls: one request whose
 * "items" list up to KMS_BATCH_MAX objects, {"len": N, "context": {...}},
 * the payload their inputs one after the other (N bytes each; data-key
 * items have no input and no "len").  Every other field is the batch's,
 * for each item ("name", "type", "plaintext", ...); "context" is each
 * item's own.
 *
 * Data keys for the kernel ("kernel": true) are not batched: each goes
 * into the kernel under the mutation lock, after a count of those there
 * (kms_kernel.c).
 *
 * Each item is a call of its own: authorised, recorded and refused alone,
 * by the very handler of a single call (kms.c, kms_data.c).  The first
 * item that fails ends the batch: those after it are not run (ECANCELED),
 * so that a caller without a grant, or with garbage, makes no more records
 * a request than with single calls.  The reply's "items" say for each
 * either {"len": M, "name", "version", ...} or {"errno", "error"}; its
 * payload is the outputs of the items that succeeded, in order.  What a batch saves is the round trips and the
 * audit log's waits for the disk: the items' records are written as each
 * ends and made durable once, before the reply; when that fails and the
 * log fails closed, the whole batch is refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "audit_anchor.h"
#include "control.h"
#include "kms.h"
#include "request.h"
#include "util.h"

/* The bytes of a batch's inputs, and of its outputs. */
#define KMS_BATCH_BYTES		49152

struct batch {
	enum kms_batch_input input;
	struct json_object *items;	/* the request's */
	size_t n, len[KMS_BATCH_MAX];	/* the items, their inputs' lengths */
	uint8_t *out;			/* the reply's payload */
	size_t nout, cap;
	struct json_object *results;	/* the reply's "items" */
};

/* Item @i's input length into @len, checked against its kind. */
static int item_len(struct request *rq, struct json_object *item, size_t i, size_t *len)
{
	struct json_object *v;
	int64_t n;

	json_object_object_foreach(item, k, val) {
		(void)val;
		if (strcmp(k, "len") && strcmp(k, "context"))
			return fail(rq, EINVAL, "item %zu: an item has \"len\" and \"context\", not '%s'",
				    i, k);
	}
	if (!json_object_object_get_ex(item, "len", &v)) {
		*len = 0;
		return 0;
	}
	n = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || n < 0 || n > KMS_BATCH_BYTES)
		return fail(rq, EINVAL, "item %zu: \"len\" is a number of bytes", i);
	*len = (size_t)n;
	return 0;
}

/* The bytes item @len's output takes, at most. */
static size_t out_len(const struct batch *b, size_t len)
{
	return b->input == KMS_BATCH_PLAINTEXT ? len + KMS_OVERHEAD :
	       b->input == KMS_BATCH_BLOB ? len : HSMKEY_MATERIAL_MAX + KMS_OVERHEAD + 64;
}

/* The items' shape: objects, inputs that add up to the payload, outputs that fit. */
static int check_items(struct request *rq, struct batch *b)
{
	size_t in = 0, out = 0;
	int r;

	b->n = json_object_array_length(b->items);
	if (!b->n || b->n > KMS_BATCH_MAX)
		return fail(rq, EINVAL, "a batch has 1 to %d items", KMS_BATCH_MAX);
	if (json_object_object_get_ex(rq->req, "context", NULL))
		return fail(rq, EINVAL, "in a batch, each item has its own \"context\"");
	if (b->input == KMS_BATCH_NONE &&
	    json_object_get_boolean(json_object_object_get(rq->req, "kernel")))
		return fail(rq, EINVAL, "data keys go into the kernel one a call, not in a batch");
	for (size_t i = 0; i < b->n; i++) {
		struct json_object *item = json_object_array_get_idx(b->items, i);

		if (!json_object_is_type(item, json_type_object))
			return fail(rq, EINVAL, "item %zu is not an object", i);
		if ((r = item_len(rq, item, i, &b->len[i])))
			return r;
		if ((b->input == KMS_BATCH_NONE) != !json_object_object_get_ex(item, "len", NULL))
			return fail(rq, EINVAL, "item %zu: \"len\" is %s", i,
				    b->input == KMS_BATCH_NONE ? "for inputs, and data-key takes none" :
				    "its input's length, and missing");
		in += b->len[i];
		out += out_len(b, b->len[i]);
	}
	if (in != rq->npayload)
		return fail(rq, EINVAL, "the items' lengths add up to %zu bytes, the payload has %zu",
			    in, rq->npayload);
	if (in > KMS_BATCH_BYTES || out > KMS_BATCH_BYTES + KMS_BATCH_MAX * KMS_OVERHEAD)
		return fail(rq, EMSGSIZE, "a batch's inputs and outputs are each at most %d bytes",
			    KMS_BATCH_BYTES);
	b->cap = out;
	b->out = kms_reply_buffer(rq, out ?: 1);
	return b->out ? 0 : fail(rq, ENOMEM, "out of memory");
}

/* The request of one item: the batch's fields but "items", and the item's context. */
static struct json_object *item_request(struct json_object *req, struct json_object *item)
{
	struct json_object *o = json_object_new_object(), *ctx;

	json_object_object_foreach(req, k, v)
		if (strcmp(k, "items"))
			json_object_object_add(o, k, json_object_get(v));
	if (json_object_object_get_ex(item, "context", &ctx))
		json_object_object_add(o, "context", json_object_get(ctx));
	return o;
}

/* What one item's call gave: its reply's fields and output, or its error. */
static int take_result(struct batch *b, struct request *sub, int r)
{
	struct json_object *res = json_object_new_object();

	/* Never more than out_len() said; a handler that gave more is a bug, not an overflow. */
	if (!r && sub->nout > b->cap - b->nout)
		r = fail(sub, EPROTO, "an item's output is larger than a batch makes room for");
	if (r) {
		json_object_object_add(res, "errno", json_object_new_int(-r));
		json_object_object_add(res, "error", json_object_new_string(sub->err));
	} else {
		json_object_object_foreach(sub->reply, k, v)
			json_object_object_add(res, k, json_object_get(v));
		json_object_object_add(res, "len", json_object_new_int64((int64_t)sub->nout));
		memcpy(b->out + b->nout, sub->out, sub->nout);
		b->nout += sub->nout;
	}
	json_object_array_add(b->results, res);
	return r;
}

/* The items after a failed one (@failed), not run. */
static void cancel_rest(struct batch *b, size_t failed)
{
	char why[64];

	snprintf(why, sizeof(why), "not run: item %zu before it failed", failed);
	for (size_t i = failed + 1; i < b->n; i++) {
		struct json_object *res = json_object_new_object();

		json_object_object_add(res, "errno", json_object_new_int(ECANCELED));
		json_object_object_add(res, "error", json_object_new_string(why));
		json_object_array_add(b->results, res);
	}
}

/* Item @i through @one, as a request of its own sharing the batch's client. */
static int run_item(struct request *rq, struct batch *b, size_t i, const uint8_t *in,
		    size_t len, int (*one)(struct request *rq))
{
	struct request sub = *rq;
	int r;

	sub.req = item_request(rq->req, json_object_array_get_idx(b->items, i));
	sub.reply = json_object_new_object();
	sub.payload = len ? (uint8_t *)in : NULL;
	sub.npayload = len;
	sub.out = NULL;
	sub.nout = 0;
	sub.err[0] = '\0';
	r = take_result(b, &sub, one(&sub));
	if (sub.out) {
		wipe(sub.out, sub.nout);
		free(sub.out);
	}
	json_object_put(sub.reply);
	json_object_put(sub.req);
	return r;
}

/*
 * The call's records (@r its result) made durable, and anchored; else a
 * call that succeeded is refused.
 */
static int sync_records(struct request *rq, int r)
{
	int s = rq->d->audit ? audit_sync(rq->d->audit) : 0;

	if (s && control_audit_failed(rq->d, s))
		return r ?: kms_unrecorded(rq);
	if (rq->d->audit)
		audit_anchor_kernel(rq->d);
	return r;
}

/*
 * One item: its record synced after it is written, outside the audit
 * log's lock (audit_sync()), so that calls from several clients share
 * the disk's flushes instead of queueing for one each.
 */
static int one_synced(struct request *rq, int (*one)(struct request *rq))
{
	int r;

	audit_defer_sync(true);
	r = one(rq);
	audit_defer_sync(false);
	return sync_records(rq, r);
}

int kms_batch_or_one(struct request *rq, enum kms_batch_input input,
		     int (*one)(struct request *rq))
{
	struct batch b = { .input = input };
	const uint8_t *in = rq->payload;
	int r;

	if (!json_object_object_get_ex(rq->req, "items", &b.items))
		return one_synced(rq, one);
	if ((r = check_items(rq, &b)))
		return r;
	b.results = json_object_new_array();
	audit_defer_sync(true);
	for (size_t i = 0; i < b.n; i++) {
		if (run_item(rq, &b, i, in, b.len[i], one)) {
			cancel_rest(&b, i);
			break;
		}
		in += b.len[i];
	}
	audit_defer_sync(false);
	rq->nout = b.nout;
	r = sync_records(rq, 0);
	if (r) {
		json_object_put(b.results);
		return r;
	}
	json_object_object_add(rq->reply, "items", b.results);
	return 0;
}
