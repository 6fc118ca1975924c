// SPDX-License-Identifier: GPL-2.0
/*
 * Re-encrypt: a blob of hsmkey-blob(5) opened and sealed again, under the
 * current version of a KMS key (the request's "name"; default the blob's
 * own key, so that a caller moves its blobs to the version made by a
 * rotation) and a context (the request's "to_context"; default the blob's
 * own "context").  The plaintext stays in hsmkeyd and is wiped; the reply
 * is the new blob alone.
 *
 * Who may: the decrypt grant of the blob's key and the encrypt grant of
 * the destination.  A data key for the kernel only (KMS_FLAG_KERNEL) stays
 * one: it needs the data-key grant of both keys, stays bound to the uid
 * and kernel type it was made for ("type", default by its length as for
 * unwrap-to-kernel), and keeps its flag.  A named destination is
 * authorised before the blob is opened.  Two audit records: the opening
 * (decrypt or data-key, on the blob's key; or the refusal, of either key)
 * and the sealing (encrypt or data-key, on the destination), each naming
 * the other key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kms.h"
#include "proto.h"
#include "request.h"
#include "util.h"

/* The kernel key type a data key for the kernel only of @len bytes was made as. */
static int kernel_type(struct request *rq, size_t len, const char **name)
{
	const char *t = proto_str(rq->req, "type");
	int type = kms_data_key_type(len);

	if (!type)
		return kms_not_data_key(rq);
	if (t)
		type = key_type_from_name(t);
	if (type <= HSMKEY_TYPE_UNSPEC || type > HSMKEY_TYPE_MAX || key_type_len(type) != len)
		return fail(rq, EINVAL, "this data key for the kernel is %zu bytes: its type is a kernel key type of that length, not '%s'",
			    len, t ?: "");
	*name = key_type_name(type);
	return 0;
}

/*
 * The two calls' contexts: the blob's, and the destination's (the blob's
 * unless "to_context" is given).  @kernel: the data key's type, whose pairs
 * both get; else NULL.
 */
static int read_contexts(struct request *rq, struct kms_call *from, struct kms_call *to,
			 const char *kernel)
{
	int r = kms_read_context(rq, from, kernel);

	if (r || json_object_object_get_ex(rq->req, "to_context", NULL))
		return r ?: kms_read_context_in(rq, "to_context", to, kernel);
	memcpy(to->ctx, from->ctx, from->ctxlen);
	to->ctxlen = from->ctxlen;
	memcpy(to->ctx_hash, from->ctx_hash, sizeof(to->ctx_hash));
	return 0;
}

/* The blob's header into @head; a flagged one makes both calls data-key calls. */
static int read_blob(struct request *rq, struct kms_call *from, struct kms_call *to,
		     struct kms_head *head)
{
	const char *kernel = NULL;
	int r = kms_parse_blob(rq, rq->payload, rq->npayload, head);

	if (r)
		return r;
	if (head->flags & KMS_FLAG_KERNEL) {
		from->op = to->op = KS_OP_DATA_KEY;
		r = kernel_type(rq, rq->npayload - KMS_OVERHEAD, &kernel);
	} else if (json_object_object_get_ex(rq->req, "type", NULL)) {
		r = fail(rq, EINVAL, "'type' is for a data key for the kernel only");
	}
	return r ?: read_contexts(rq, from, to, kernel);
}

/*
 * The destination, authorised into @meta: the request's "name" before the
 * blob is opened (so that a refused destination costs no decryption), or
 * once opened (@from->name set), the blob's own key.
 */
static int destination(struct request *rq, struct kms_call *from, struct kms_call *to,
		       struct ks_key *meta)
{
	bool named = json_object_object_get_ex(rq->req, "name", NULL);
	int r = 0;

	if (*to->name)
		return 0;	/* authorised already */
	if (named && !*from->name)
		r = get_name(rq, "name", &to->name);
	else if (!named && *from->name)
		to->name = from->name;
	else
		return 0;	/* the other time */
	snprintf(from->detail, sizeof(from->detail), "re-encrypt to '%s'", to->name);
	return r ?: kms_authorise(rq, to->op, to->name, meta);
}

/*
 * Seal @pt again for @to; its record names the blob's key and version.
 * The reply buffer, the blob's size, is sent only on success.
 */
static int seal_again(struct request *rq, struct kms_call *to, const struct kms_call *from,
		      uint32_t from_version, const uint8_t *pt, uint8_t flags,
		      struct ks_key *meta)
{
	uint8_t *out = kms_reply_buffer(rq, rq->npayload);

	snprintf(to->detail, sizeof(to->detail), "re-encrypt from '%s' version %u", from->name,
		 from_version);
	if (!out)
		return fail(rq, ENOMEM, "out of memory");
	return kms_seal_under(rq, to, meta, flags, pt, rq->npayload - KMS_OVERHEAD, out);
}

int op_re_encrypt(struct request *rq)
{
	struct kms_call from = { .op = KS_OP_DECRYPT, .name = "" };
	struct kms_call to = { .op = KS_OP_ENCRYPT, .name = "" };
	char name[HSMKEY_NAME_MAX] = "";
	struct kms_head head = { 0 };
	struct ks_key meta = { 0 };
	uint8_t *pt = NULL;
	size_t len = 0;
	int r = read_blob(rq, &from, &to, &head) ?: destination(rq, &from, &to, &meta);

	if (!r) {
		len = rq->npayload - KMS_OVERHEAD;
		if (!(pt = malloc(len)))
			r = fail(rq, ENOMEM, "out of memory");
	}
	r = r ?: kms_unseal(rq, &from, name, &head, rq->payload, rq->npayload, pt);
	r = r ?: destination(rq, &from, &to, &meta);
	/* One record of the opening, or of the refusal before or after it. */
	r = kms_record(rq, &from, r ? 0 : head.version, r);
	if (!r) {
		r = seal_again(rq, &to, &from, head.version, pt, head.flags, &meta);
		r = kms_finish(rq, &to, meta.version, r);
	}
	if (pt)
		wipe(pt, len);
	free(pt);
	if (!r) {
		json_object_object_add(rq->reply, "source_name", json_object_new_string(from.name));
		json_object_object_add(rq->reply, "source_version",
				       json_object_new_int64(head.version));
	}
	return r;
}
