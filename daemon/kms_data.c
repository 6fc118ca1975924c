// SPDX-License-Identifier: GPL-2.0
/*
 * Data keys (the local KMS API's envelope encryption): a fresh AES key
 * (key_use_random(): an HSM's generator on the PKCS#11 backend), returned
 * wrapped under a KMS key as a blob of hsmkey-blob(5), with its
 * plaintext (decrypt gives it back), or for the kernel only: wrapped
 * alone, or with the plaintext put into the kernel and a token for it
 * (kms_kernel.h).  A key for the kernel only is flagged so and bound to
 * its maker's uid and its kernel key type (kms_blob.h): decrypt refuses
 * it, and unwrap-to-kernel puts it into the kernel for that uid, as that
 * type, with the data-key grant.  Any other blob of a key's length goes
 * into the kernel for a caller with the decrypt grant.
 *
 * Request fields: "type", a kernel key type (aes-128-gcm ... aes-256-xts;
 * default aes-256-gcm, or for unwrap-to-kernel the GCM or XTS type of the
 * data key's length); "plaintext" (data-key; default: unless "kernel");
 * "kernel" (data-key); "ttl", the kernel key's life in seconds.  The reply
 * payload is the wrapped key ("wrapped_len" bytes), then the plaintext or
 * the token.
 */
#include <errno.h>
#include <string.h>
#include "key_use.h"
#include "kms.h"
#include "kms_kernel.h"
#include "proto.h"
#include "request.h"
#include "util.h"

struct dk_params {
	int type;		/* enum hsmkey_key_type */
	bool plaintext, kernel;
	uint32_t ttl;
};

static int read_type(struct request *rq, int dflt, struct dk_params *q)
{
	const char *t = proto_str(rq->req, "type");
	int type = t ? key_type_from_name(t) : dflt;

	if (type <= HSMKEY_TYPE_UNSPEC || type > HSMKEY_TYPE_MAX)
		return fail(rq, EINVAL, "a data key's type is one of aes-128-gcm, aes-256-gcm, aes-128-cbc, aes-256-cbc, aes-128-xts, aes-256-xts, not '%s'",
			    t);
	q->type = type;
	return 0;
}

static int read_ttl(struct request *rq, struct dk_params *q)
{
	struct json_object *v = json_object_object_get(rq->req, "ttl");
	int64_t ttl = v ? json_object_get_int64(v) : KMS_KERNEL_TTL;

	if (v && !q->kernel)
		return fail(rq, EINVAL, "'ttl' is for a data key in the kernel");
	if (ttl < 1 || ttl > KMS_KERNEL_TTL_MAX)
		return fail(rq, EINVAL, "'ttl' is 1 to %d seconds", KMS_KERNEL_TTL_MAX);
	q->ttl = (uint32_t)ttl;
	return 0;
}

static bool flag(struct request *rq, const char *field, bool dflt)
{
	struct json_object *v = json_object_object_get(rq->req, field);

	return v ? json_object_get_boolean(v) : dflt;
}

static int read_params(struct request *rq, struct dk_params *q)
{
	q->kernel = flag(rq, "kernel", false);
	q->plaintext = flag(rq, "plaintext", !q->kernel);
	if (q->kernel && q->plaintext)
		return fail(rq, EINVAL, "a data key for the kernel comes without its plaintext");
	return read_type(rq, HSMKEY_TYPE_AES_256_GCM, q) ?: read_ttl(rq, q);
}

/* The kernel part of a reply: the token after the wrapped key, the key's id in the record. */
static int to_kernel(struct request *rq, struct kms_call *c, const struct ks_key *parent,
		     const struct dk_params *q, const uint8_t *material, uint8_t *token)
{
	struct hsmkey_token tok;
	uint8_t kid[HSMKEY_ID_LEN];
	char hex[2 * HSMKEY_ID_LEN + 1];
	size_t used = strlen(c->detail);
	int64_t expires;
	int r = kms_kernel_add(rq, parent, q->type, material, q->ttl, &tok, kid, &expires);

	if (r)
		return r;
	memcpy(token, &tok, HSMKEY_TOKEN_LEN);
	wipe(&tok, sizeof(tok));
	hex_encode(kid, HSMKEY_ID_LEN, hex);
	snprintf(c->detail + used, sizeof(c->detail) - used, " kernel key %s until %lld", hex,
		 (long long)expires);
	json_object_object_add(rq->reply, "kernel_id", json_object_new_string(hex));
	json_object_object_add(rq->reply, "expires", json_object_new_int64(expires));
	return 0;
}

static int make(struct request *rq, struct kms_call *c, struct ks_key *meta,
		const struct dk_params *q)
{
	size_t len = key_type_len(q->type), wlen = len + KMS_OVERHEAD;
	uint8_t material[HSMKEY_MATERIAL_MAX], *out;
	int r = 0;

	snprintf(c->detail, sizeof(c->detail), "%s %s", key_type_name(q->type),
		 q->plaintext ? "with plaintext" : q->kernel ? "into the kernel" : "wrapped only");
	out = kms_reply_buffer(rq, wlen + (q->plaintext ? len : q->kernel ? HSMKEY_TOKEN_LEN : 0));
	if (!out)
		r = fail(rq, ENOMEM, "out of memory");
	if (!r) {
		r = key_use_random(rq->d->be, material, len);
		if (r)
			r = fail(rq, r, "no random bytes for the data key: %s", strerror(-r));
	}
	if (!r)
		r = kms_seal_under(rq, c, meta, q->plaintext ? 0 : KMS_FLAG_KERNEL, material, len,
				   out);
	if (!r && q->kernel)
		r = to_kernel(rq, c, meta, q, material, out + wlen);
	if (!r && q->plaintext)
		memcpy(out + wlen, material, len);
	wipe(material, sizeof(material));
	if (!r) {
		json_object_object_add(rq->reply, "type", json_object_new_string(key_type_name(q->type)));
		json_object_object_add(rq->reply, "wrapped_len", json_object_new_int64((int64_t)wlen));
	}
	return r;
}

/* Without its plaintext, a data key is for the kernel only (see above). */
static int data_key_one(struct request *rq)
{
	struct kms_call c = { .op = KS_OP_DATA_KEY, .name = "" };
	struct ks_key meta = { 0 };
	struct dk_params q;
	int r = get_name(rq, "name", &c.name);

	if (r)
		c.name = "";	/* no valid name to record */
	else if (rq->payload)
		r = fail(rq, EINVAL, "'data-key' takes no payload");
	if (!r)
		r = read_params(rq, &q) ?:
		    kms_read_context(rq, &c, q.plaintext ? NULL : key_type_name(q.type)) ?:
		    kms_authorise(rq, c.op, c.name, &meta) ?: make(rq, &c, &meta, &q);
	return kms_finish(rq, &c, meta.version, r);
}

int kms_not_data_key(struct request *rq)
{
	return fail(rq, EBADMSG, "not a wrapped data key (a blob of hsmkey-blob(5) of 16, 32 or 64 bytes)");
}

int op_data_key(struct request *rq)
{
	return kms_batch_or_one(rq, KMS_BATCH_NONE, data_key_one);
}

int kms_data_key_type(size_t len)
{
	return len == 16 ? HSMKEY_TYPE_AES_128_GCM : len == 32 ? HSMKEY_TYPE_AES_256_GCM :
	       len == 64 ? HSMKEY_TYPE_AES_256_XTS : 0;
}

/* The kernel type of an unwrapped data key of @len bytes: the request's, or GCM or XTS. */
static int unwrap_params(struct request *rq, size_t len, struct dk_params *q)
{
	int r;

	q->kernel = true;
	q->plaintext = false;
	if (json_object_object_get_ex(rq->req, "plaintext", NULL) ||
	    json_object_object_get_ex(rq->req, "kernel", NULL))
		return fail(rq, EINVAL, "'unwrap-to-kernel' takes 'type', 'ttl' and 'context'");
	r = read_type(rq, kms_data_key_type(len), q) ?: read_ttl(rq, q);
	if (r)
		return r;
	if (key_type_len(q->type) != len)
		return fail(rq, EINVAL, "the data key is %zu bytes; %s takes %u", len,
			    key_type_name(q->type), key_type_len(q->type));
	return 0;
}

/*
 * A data key for the kernel only opens with the data-key grant, for the
 * uid and type it was made for; any other blob of a key's length only
 * with the decrypt grant, which could have had its plaintext anyway.
 */
int op_unwrap_to_kernel(struct request *rq)
{
	struct kms_call c = { .op = KS_OP_DECRYPT, .name = "" };
	char name[HSMKEY_NAME_MAX] = "";
	uint8_t material[HSMKEY_MATERIAL_MAX], *token;
	struct ks_key parent = { 0 };
	struct kms_head head = { 0 };
	struct dk_params q;
	size_t len = 0;
	int r = kms_parse_blob(rq, rq->payload, rq->npayload, &head);

	if (!r)
		len = rq->npayload - KMS_OVERHEAD;	/* parsed: longer than that */
	if (!r && !kms_data_key_type(len))
		r = kms_not_data_key(rq);
	if (!r && (head.flags & KMS_FLAG_KERNEL))
		c.op = KS_OP_DATA_KEY;
	if (!r)
		r = unwrap_params(rq, len, &q) ?:
		    kms_read_context(rq, &c, c.op == KS_OP_DATA_KEY ? key_type_name(q.type) : NULL);
	if (!r && !(token = kms_reply_buffer(rq, HSMKEY_TOKEN_LEN)))
		r = fail(rq, ENOMEM, "out of memory");
	if (!r)
		r = kms_unseal(rq, &c, name, &head, rq->payload, rq->npayload, material);
	if (!r) {
		snprintf(c.detail, sizeof(c.detail), "%s unwrap-to-kernel", key_type_name(q.type));
		snprintf(parent.name, sizeof(parent.name), "%s", name);
		memcpy(parent.id, head.id, HSMKEY_ID_LEN);
		r = to_kernel(rq, &c, &parent, &q, material, token);
	}
	wipe(material, sizeof(material));
	return kms_finish(rq, &c, r ? 0 : head.version, r);
}
