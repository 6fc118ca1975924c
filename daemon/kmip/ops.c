// SPDX-License-Identifier: GPL-2.0
/*
 * The KMIP operations hsmkey makes (client.h), each a request of one
 * batch item (a batch of many for kmip_get_attrs_batch()), its answer
 * read and its refusal worded: "KMIP server HOST: Get of 12: Item Not
 * Found: <the server's message>".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "kmip/client.h"
#include "util.h"

static const char *op_name(uint32_t op)
{
	switch (op) {
	case KMIP_OP_CREATE:
		return "Create";
	case KMIP_OP_REGISTER:
		return "Register";
	case KMIP_OP_GET:
		return "Get";
	case KMIP_OP_GET_ATTRIBUTES:
		return "GetAttributes";
	case KMIP_OP_LOCATE:
		return "Locate";
	case KMIP_OP_ACTIVATE:
		return "Activate";
	case KMIP_OP_REVOKE:
		return "Revoke";
	case KMIP_OP_DESTROY:
		return "Destroy";
	case KMIP_OP_ADD_ATTRIBUTE:
		return "AddAttribute";
	case KMIP_OP_MODIFY_ATTRIBUTE:
		return "ModifyAttribute";
	default:
		return "an operation";
	}
}

/* The one item's result: 0 with its payload, or the refusal worded. */
static int one_result(struct kmip_client *c, struct kmip_reply *r, uint32_t op,
		      const char *uid, struct kmip_result *res, char *why, size_t whylen)
{
	int e;

	if (kmip_response_next(&r->resp, res) != 1 || (res->op && res->op != op)) {
		snprintf(why, whylen, "KMIP server %s: %s: the answer is not to the request",
			 kmip_client_server(c, r->server), op_name(op));
		return -EBADMSG;
	}
	e = kmip_result_errno(res);
	if (e) {
		snprintf(why, whylen, "KMIP server %s: %s%s%s: %s%s%s", kmip_client_server(c, r->server),
			 op_name(op), uid ? " of " : "", uid ? uid : "", kmip_reason_name(res->reason),
			 res->message[0] ? ": " : "", res->message);
		return e;
	}
	if (!res->has_payload) {
		snprintf(why, whylen, "KMIP server %s: %s: the answer has no payload",
			 kmip_client_server(c, r->server), op_name(op));
		return -EBADMSG;
	}
	return 0;
}

/* What a payload reader found wrong, worded. */
static int bad_payload(struct kmip_client *c, struct kmip_reply *r, uint32_t op, int e,
		       char *why, size_t whylen)
{
	snprintf(why, whylen, "KMIP server %s: %s: %s", kmip_client_server(c, r->server),
		 op_name(op), e == -EMSGSIZE ? "a key larger than any hsmkey takes" :
		 e == -EMEDIUMTYPE ? "not a symmetric key" : "the answer is malformed");
	return e;
}

struct one_uid {
	uint32_t op;
	const char *uid;
};

static void build_uid(struct ttlv_out *o, const struct kmip_version *v, const void *arg)
{
	const struct one_uid *a = arg;

	kmip_request_begin(o, v, 1);
	kmip_req_uid(o, a->op, a->uid);
	kmip_request_end(o);
}

/* Activate, Destroy: an identifier in, the same back. */
static int uid_op(struct kmip_client *c, uint32_t op, const char *uid, char *why, size_t whylen)
{
	struct one_uid a = { op, uid };
	struct kmip_result res;
	struct kmip_reply r;
	int e;

	e = kmip_client_call(c, false, build_uid, &a, &r, why, whylen);
	if (e)
		return e;
	e = one_result(c, &r, op, uid, &res, why, whylen);
	kmip_reply_free(&r);
	return e;
}

int kmip_activate(struct kmip_client *c, const char *uid, char *why, size_t whylen)
{
	return uid_op(c, KMIP_OP_ACTIVATE, uid, why, whylen);
}

int kmip_destroy(struct kmip_client *c, const char *uid, char *why, size_t whylen)
{
	return uid_op(c, KMIP_OP_DESTROY, uid, why, whylen);
}

struct spent_args {
	const char *uid;
	int32_t index;
	const struct kmip_spent *s;
};

static void build_spent(struct ttlv_out *o, const struct kmip_version *v, const void *arg)
{
	const struct spent_args *a = arg;

	kmip_request_begin(o, v, 1);
	kmip_req_spent(o, a->uid, a->index, a->s);
	kmip_request_end(o);
}

/*
 * A modification sets the same value however often it is made; an
 * addition made twice would leave two instances, so it is not retried
 * on another server once sent.
 */
int kmip_set_spent(struct kmip_client *c, const char *uid, int32_t index,
		   const struct kmip_spent *s, uint32_t *reason, char *why, size_t whylen)
{
	struct spent_args a = { uid, index, s };
	uint32_t op = index < 0 ? KMIP_OP_ADD_ATTRIBUTE : KMIP_OP_MODIFY_ATTRIBUTE;
	struct kmip_result res;
	struct kmip_reply r;
	int e;

	*reason = 0;
	e = kmip_client_call(c, index >= 0, build_spent, &a, &r, why, whylen);
	if (e)
		return e;
	e = one_result(c, &r, op, uid, &res, why, whylen);
	if (e && e != -EBADMSG)
		*reason = res.reason;
	kmip_reply_free(&r);
	return e;
}

struct revoke_args {
	const char *uid, *message;
	uint32_t reason;
};

static void build_revoke(struct ttlv_out *o, const struct kmip_version *v, const void *arg)
{
	const struct revoke_args *a = arg;

	kmip_request_begin(o, v, 1);
	kmip_req_revoke(o, a->uid, a->reason, a->message, (int64_t)time(NULL));
	kmip_request_end(o);
}

int kmip_revoke(struct kmip_client *c, const char *uid, uint32_t reason, const char *message,
		char *why, size_t whylen)
{
	struct revoke_args a = { uid, message, reason };
	struct kmip_result res;
	struct kmip_reply r;
	int e;

	e = kmip_client_call(c, false, build_revoke, &a, &r, why, whylen);
	if (e)
		return e;
	e = one_result(c, &r, KMIP_OP_REVOKE, uid, &res, why, whylen);
	kmip_reply_free(&r);
	return e;
}

struct new_key {
	const struct kmip_key_attrs *a;
	const uint8_t *key;
	size_t len;
};

static void build_new_key(struct ttlv_out *o, const struct kmip_version *v, const void *arg)
{
	const struct new_key *k = arg;

	kmip_request_begin(o, v, 1);
	if (k->key)
		kmip_req_register(o, k->a, k->key, k->len);
	else
		kmip_req_create(o, k->a);
	kmip_request_end(o);
}

static int new_key(struct kmip_client *c, const struct new_key *k, char uid[KMIP_UID_MAX],
		   char *why, size_t whylen)
{
	uint32_t op = k->key ? KMIP_OP_REGISTER : KMIP_OP_CREATE;
	struct kmip_result res;
	struct kmip_reply r;
	int e;

	e = kmip_client_call(c, false, build_new_key, k, &r, why, whylen);
	if (e)
		return e;
	e = one_result(c, &r, op, NULL, &res, why, whylen);
	if (!e) {
		e = kmip_read_uid(&res.payload, uid, KMIP_UID_MAX);
		if (e)
			bad_payload(c, &r, op, e, why, whylen);
	}
	kmip_reply_free(&r);
	return e;
}

int kmip_create(struct kmip_client *c, const struct kmip_key_attrs *a, char uid[KMIP_UID_MAX],
		char *why, size_t whylen)
{
	struct new_key k = { a, NULL, 0 };

	return new_key(c, &k, uid, why, whylen);
}

int kmip_register(struct kmip_client *c, const struct kmip_key_attrs *a, const uint8_t *key,
		  size_t len, char uid[KMIP_UID_MAX], char *why, size_t whylen)
{
	struct new_key k = { a, key, len };

	return new_key(c, &k, uid, why, whylen);
}

struct get_args {
	const char *uid, *wrap_uid;
};

static void build_get(struct ttlv_out *o, const struct kmip_version *v, const void *arg)
{
	const struct get_args *a = arg;

	kmip_request_begin(o, v, 1);
	kmip_req_get(o, a->uid, a->wrap_uid);
	kmip_request_end(o);
}

int kmip_get(struct kmip_client *c, const char *uid, const char *wrap_uid, struct kmip_key *k,
	     char *why, size_t whylen)
{
	struct get_args a = { uid, wrap_uid };
	struct kmip_result res;
	struct kmip_reply r;
	int e;

	e = kmip_client_call(c, true, build_get, &a, &r, why, whylen);
	if (e)
		return e;
	e = one_result(c, &r, KMIP_OP_GET, uid, &res, why, whylen);
	if (!e) {
		e = kmip_read_key(&res.payload, k);
		if (!e && (k->wrapped != !!wrap_uid || strcmp(k->uid, uid)))
			e = -EBADMSG;	/* not what was asked for */
		if (e) {
			wipe(k, sizeof(*k));
			bad_payload(c, &r, KMIP_OP_GET, e, why, whylen);
		}
	}
	kmip_reply_free(&r);
	return e;
}

int kmip_get_attrs(struct kmip_client *c, const char *uid, struct kmip_attrs *a, char *why,
		   size_t whylen)
{
	int e, item;

	e = kmip_get_attrs_batch(c, &uid, 1, a, &item, why, whylen);
	if (!e && item) {
		snprintf(why, whylen, "GetAttributes of %s: %s", uid, strerror(-item));
		e = item;
	}
	return e;
}

struct attrs_batch {
	const char *const *uids;
	unsigned int n;
};

static void build_attrs_batch(struct ttlv_out *o, const struct kmip_version *v, const void *arg)
{
	const struct attrs_batch *b = arg;
	unsigned int i;

	kmip_request_begin(o, v, b->n);
	for (i = 0; i < b->n; i++)
		kmip_req_uid(o, KMIP_OP_GET_ATTRIBUTES, b->uids[i]);
	kmip_request_end(o);
}

/*
 * One message's items, each matched to the request's by its Unique Batch
 * Item ID (the server may answer in any order); every item answered once.
 */
static int attrs_items(struct kmip_client *c, struct kmip_reply *r, const struct attrs_batch *b,
		       struct kmip_attrs *attrs, int *errs, char *why, size_t whylen)
{
	bool seen[KMIP_BATCH_MAX] = { false };
	struct kmip_result res;
	unsigned int k, i;

	if (r->resp.count != b->n)
		return bad_payload(c, r, KMIP_OP_GET_ATTRIBUTES, -EBADMSG, why, whylen);
	for (k = 0; k < b->n; k++) {
		if (kmip_response_next(&r->resp, &res) != 1 ||
		    (res.op && res.op != KMIP_OP_GET_ATTRIBUTES))
			return bad_payload(c, r, KMIP_OP_GET_ATTRIBUTES, -EBADMSG, why, whylen);
		i = res.has_item_id ? res.item_id : k;
		if ((b->n > 1 && !res.has_item_id) || i >= b->n || seen[i])
			return bad_payload(c, r, KMIP_OP_GET_ATTRIBUTES, -EBADMSG, why, whylen);
		seen[i] = true;
		errs[i] = kmip_result_errno(&res);
		if (!errs[i] && !res.has_payload)
			errs[i] = -EBADMSG;
		if (!errs[i])
			errs[i] = kmip_read_attributes(&res.payload, &attrs[i]);
		if (!errs[i] && strcmp(attrs[i].uid, b->uids[i]))
			errs[i] = -EBADMSG;	/* an answer about another object */
	}
	return 0;
}

int kmip_get_attrs_batch(struct kmip_client *c, const char *const *uids, unsigned int n,
			 struct kmip_attrs *attrs, int *errs, char *why, size_t whylen)
{
	struct attrs_batch b;
	struct kmip_reply r;
	unsigned int at;
	int e;

	for (at = 0; at < n; at += b.n) {
		b.uids = uids + at;
		b.n = n - at < KMIP_BATCH_MAX ? n - at : KMIP_BATCH_MAX;
		e = kmip_client_call(c, true, build_attrs_batch, &b, &r, why, whylen);
		if (e)
			return e;
		e = attrs_items(c, &r, &b, attrs + at, errs + at, why, whylen);
		kmip_reply_free(&r);
		if (e)
			return e;
	}
	return 0;
}

struct locate_args {
	const char *name;
	unsigned int max;
};

static void build_locate(struct ttlv_out *o, const struct kmip_version *v, const void *arg)
{
	const struct locate_args *a = arg;

	kmip_request_begin(o, v, 1);
	kmip_req_locate(o, a->name, NULL, a->max);
	kmip_request_end(o);
}

int kmip_locate(struct kmip_client *c, const char *name, char (*uids)[KMIP_UID_MAX],
		unsigned int max, unsigned int *n, char *why, size_t whylen)
{
	struct locate_args a = { name, max };
	struct kmip_result res;
	struct kmip_reply r;
	int e;

	e = kmip_client_call(c, true, build_locate, &a, &r, why, whylen);
	if (e)
		return e;
	e = one_result(c, &r, KMIP_OP_LOCATE, NULL, &res, why, whylen);
	if (!e) {
		e = kmip_read_locate(&res.payload, uids, max, n);
		if (e)
			bad_payload(c, &r, KMIP_OP_LOCATE, e, why, whylen);
	}
	kmip_reply_free(&r);
	return e;
}
