/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the local KMS API's operations share (kms.c): who may call one, its
 * audit record, its reply's payload.  Encrypt and decrypt are in kms.c,
 * sign, verify and public-key in kms_sign.c, data keys in kms_data.c,
 * re-encrypt in kms_reencrypt.c, batches in kms_batch.c, MACs in
 * kms_mac.c, random bytes in kms_random.c.
 */
#ifndef HSMKEY_KMS_H
#define HSMKEY_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kms_blob.h"
#include "request.h"

/* One call of the API: the operation, the key, the context. */
struct kms_call {
	uint32_t op;			/* enum ks_op */
	const char *name;		/* the key's; "" until known */
	uint8_t ctx[KMS_CONTEXT_MAX];	/* canonical (kms_blob.h) */
	size_t ctxlen;
	char ctx_hash[17];
	char detail[96];		/* the audit record's, after the context's hash */
};

/*
 * The current version's metadata of key @name into @meta, if a grant of
 * its policy allows the peer @op (enum ks_op) now, and the key is of a
 * type that does @op, active and within its validity.  Root and the admin
 * group are told why a key cannot be used; anyone else without a grant
 * only that it may not (the same whether or not the key exists).
 */
int kms_authorise(struct request *rq, uint32_t op, const char *name, struct ks_key *meta);
/*
 * The call's audit record, allowed (@r 0, with @detail) or refused (with
 * the request's error): 0, or -EIO when it cannot be written and the log
 * fails closed (the caller then refuses the call).
 */
int kms_audit(struct request *rq, uint32_t op, const char *name, uint32_t version,
	      const char *detail, int r);
/* The same, recorded as operation @what: a call named other than its grant's op. */
int kms_audit_as(struct request *rq, const char *what, const char *name, uint32_t version,
		 const char *detail, int r);
/* A reply payload of @len bytes for the handler to fill; NULL: no memory. */
uint8_t *kms_reply_buffer(struct request *rq, size_t len);
/*
 * The request's "context" in canonical form into @c (worded -errno); for
 * a data key for the kernel only (@kernel_type, its type's name; else
 * NULL), with hsmkeyd's pairs: that type and the caller's uid.
 */
int kms_read_context(struct request *rq, struct kms_call *c, const char *kernel_type);
/* The same from the request's field @field. */
int kms_read_context_in(struct request *rq, const char *field, struct kms_call *c,
			const char *kernel_type);
/*
 * A call's audit record, allowed or refused (@r), with @version: @r, or
 * -EIO when the record cannot be written and the log fails closed.
 */
int kms_record(struct request *rq, const struct kms_call *c, uint32_t version, int r);
/* The refusal of a call whose record cannot be written while the log fails closed. */
int kms_unrecorded(struct request *rq);
/* Every call's end: kms_record(), then the reply's name and version. */
int kms_finish(struct request *rq, const struct kms_call *c, uint32_t version, int r);
/*
 * Seal @ptlen bytes at @pt under the current version of key @c->name
 * (@meta, as kms_authorise() gave it; updated after a rotation), with
 * blob flags @flags, into @blob (@ptlen + KMS_OVERHEAD bytes), spending
 * one GCM invocation.
 */
int kms_seal_under(struct request *rq, const struct kms_call *c, struct ks_key *meta,
		   uint8_t flags, const uint8_t *pt, size_t ptlen, uint8_t *blob);
/* The header of @blob (@len bytes; NULL: none) into @head (worded -EBADMSG). */
int kms_parse_blob(struct request *rq, const uint8_t *blob, size_t len, struct kms_head *head);
/*
 * Open @blob (@len bytes, its header @head) for @c->op: the blob's key
 * found, the caller authorised, the plaintext into @pt (@len -
 * KMS_OVERHEAD bytes).  Sets @c->name (to @name, HSMKEY_NAME_MAX bytes).
 */
int kms_unseal(struct request *rq, struct kms_call *c, char *name, const struct kms_head *head,
	       const uint8_t *blob, size_t len, uint8_t *pt);

/*
 * The kernel key type a data key of @len bytes is by default (aes-128-gcm,
 * aes-256-gcm, aes-256-xts), 0 when no data key is that long; and the
 * refusal of a blob of another length (kms_data.c).
 */
int kms_data_key_type(size_t len);
int kms_not_data_key(struct request *rq);

/* The input of a batch's items (kms_batch.c): plaintexts, blobs, none. */
enum kms_batch_input { KMS_BATCH_PLAINTEXT, KMS_BATCH_BLOB, KMS_BATCH_NONE };
#define KMS_BATCH_MAX	16

/*
 * A request with "items": each item through @one as a call of its own, the
 * reply's "items" and payload their results; without, @one itself.
 */
int kms_batch_or_one(struct request *rq, enum kms_batch_input input,
		     int (*one)(struct request *rq));

#endif
