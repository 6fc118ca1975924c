// SPDX-License-Identifier: GPL-2.0
/*
 * The local KMS API: encrypt and decrypt with a KMS key (kms-aes-128,
 * kms-aes-256), bound to an encryption context.  The AES-GCM itself runs
 * where the key lives: in hsmkeyd, or inside the HSM (key_use.h).  The plaintext and the blob travel as the messages' payloads
 * (proto.h), never in JSON.
 *
 * Who may: the key's grants (key.h), each naming a user or group and the
 * operations it may call; without a grant nobody may, root included.  A
 * caller without a grant gets one answer whether or not the key exists.
 * Every call, allowed or refused, is in the audit log: key, version,
 * operation, caller and a hash of the context; a call whose record cannot
 * be written is refused while the log fails closed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "audit.h"
#include "audit_anchor.h"
#include "backend.h"
#include "cleanup.h"
#include "kms.h"
#include "kms_blob.h"
#include "key_use.h"
#include "kms_keys.h"
#include "request.h"
#include "util.h"

/* Does a grant of @p allow @op to the peer, by uid or by a group of it? */
static bool granted(struct request *rq, const struct ks_policy *p, uint32_t op)
{
	gid_t gids[KS_GRANTS_MAX];
	size_t n = 0;

	for (uint32_t i = 0; i < p->ngrants; i++) {
		const struct ks_grant *g = &p->grants[i];

		if (!(g->ops & op))
			continue;
		if (!g->group && g->id == rq->cred.uid)
			return true;
		if (g->group)
			gids[n++] = g->id;
	}
	return n && control_peer_in_gids(rq->cfd, &rq->cred, gids, n);
}

/*
 * The refusal of a caller without a grant.  A call on a blob (@blob:
 * decrypt, unwrap) names no key: the blob's key id is not to tell such a
 * caller whether, or as what, the key exists (a call by name names only
 * what the caller named).
 */
static const char *verb(uint32_t op)
{
	return op == KS_OP_DATA_KEY ? "make data keys" :
	       op == KS_OP_MAC ? "make or verify MACs" : ks_op_name(op);
}

static int refuse(struct request *rq, uint32_t op, const char *name, bool blob)
{
	if (blob)
		return fail(rq, EPERM, "uid %u may not %s this blob: its key is not in this key store, or no grant of its policy allows it",
			    rq->cred.uid, op == KS_OP_DECRYPT ? "decrypt" : "open");
	return fail(rq, EPERM, "uid %u may not %s with key '%s': no grant of its policy allows it (hsmkeyctl policy %s --grant %s:USER)",
		    rq->cred.uid, verb(op), name, name, ks_op_name(op));
}

static int authorise(struct request *rq, uint32_t op, const char *name, struct ks_key *meta,
		     bool blob)
{
	const struct ks_policy *p = &meta->policy;
	int64_t now = time(NULL);
	bool admin = control_peer_admin(rq->d, rq->cfd, &rq->cred), ok;
	int r;

	/* A log out of space holds its records: no call it could not record. */
	if (rq->d->audit && audit_held(rq->d->audit) && control_audit_failed(rq->d, -ENOSPC))
		return kms_unrecorded(rq);
	r = rq->d->be->ops->get(rq->d->be, name, 0, false, meta);
	ok = !r && ks_op_fits(meta->type, op) && meta->has_policy && granted(rq, p, op);
	if (!ok && !admin)
		return refuse(rq, op, name, blob);
	if (r)
		return get_key(rq, name, false, meta);	/* worded there */
	if (!ks_op_fits(meta->type, op))
		return fail(rq, EMEDIUMTYPE, "key '%s' is %s: it does not %s (%s)", name,
			    key_type_name(meta->type), verb(op),
			    op & KS_OPS_KMS ?
			    "KMS keys do: kms-aes-128, kms-aes-256" :
			    op & KS_OP_MAC ? "MAC keys do: hmac-sha256" :
			    "identity keys do: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072");
	if (!ok)
		return refuse(rq, op, name, blob);
	if (meta->state != KS_ACTIVE)
		return fail(rq, meta->state == KS_DISABLED ? EPERM : EKEYREVOKED,
			    "key '%s' is %s: it serves no %s", name,
			    ks_state_name(meta->state), ks_op_name(op));
	if ((p->not_before && now < p->not_before) || (p->not_after && now >= p->not_after))
		return fail(rq, EKEYEXPIRED, "key '%s' is outside its policy's validity", name);
	return 0;
}

int kms_authorise(struct request *rq, uint32_t op, const char *name, struct ks_key *meta)
{
	return authorise(rq, op, name, meta, false);
}

int kms_read_context_in(struct request *rq, const char *field, struct kms_call *c,
			const char *kernel_type)
{
	char uid[16];
	struct kms_own_pairs own = { .type = kernel_type, .uid = uid };
	int n;

	snprintf(uid, sizeof(uid), "%u", rq->cred.uid);
	n = kms_context_encode(json_object_object_get(rq->req, field),
			       kernel_type ? &own : NULL, c->ctx);
	if (n == -EPERM)
		return fail(rq, EINVAL, "context keys beginning with '%s' are hsmkeyd's own",
			    KMS_CONTEXT_RESERVED);
	if (n == -E2BIG)
		return fail(rq, E2BIG, "the context is too large: at most %d pairs, keys of %d bytes, values of %d, %d bytes in all",
			    KMS_CONTEXT_PAIRS_MAX, KMS_CONTEXT_KEY_MAX, KMS_CONTEXT_VALUE_MAX,
			    KMS_CONTEXT_MAX);
	if (n < 0)
		return fail(rq, EINVAL, "the context must map non-empty keys to strings");
	c->ctxlen = (size_t)n;
	if (kms_context_hash(c->ctx, c->ctxlen, c->ctx_hash))
		return fail(rq, EIO, "the context cannot be hashed for the audit record (no SHA-256 in OpenSSL)");
	return 0;
}

int kms_read_context(struct request *rq, struct kms_call *c, const char *kernel_type)
{
	return kms_read_context_in(rq, "context", c, kernel_type);
}

int kms_audit(struct request *rq, uint32_t op, const char *name, uint32_t version,
	      const char *detail, int r)
{
	return kms_audit_as(rq, ks_op_name(op), name, version, detail, r);
}

int kms_audit_as(struct request *rq, const char *what, const char *name, uint32_t version,
		 const char *detail, int r)
{
	struct audit_who who = request_who(rq);
	int a;

	if (!rq->d->audit)
		return 0;
	a = audit_record(rq->d->audit, &who, what, name && *name ? name : NULL, version, r,
			 r ? rq->err : detail);
	if (!a && audit_held(rq->d->audit))
		a = -ENOSPC;	/* held in memory until the log has space again */
	if (!a) {
		if (!audit_deferring())	/* else after the call's or batch's audit_sync() */
			audit_anchor_kernel(rq->d);
		return 0;
	}
	a = control_audit_failed(rq->d, a);
	return a && !r ? -EIO : 0;
}

uint8_t *kms_reply_buffer(struct request *rq, size_t len)
{
	rq->out = malloc(len);
	if (rq->out)
		rq->nout = len;
	return rq->out;
}

int kms_unrecorded(struct request *rq)
{
	return fail(rq, EIO, "the audit log cannot be written, so calls are refused (audit_fail_closed); see the daemon's log");
}

int kms_record(struct request *rq, const struct kms_call *c, uint32_t version, int r)
{
	char detail[sizeof(c->detail) + 32];

	snprintf(detail, sizeof(detail), "context %s%s%s", c->ctx_hash, *c->detail ? " " : "",
		 c->detail);
	if (kms_audit(rq, c->op, c->name, version, detail, r))
		r = kms_unrecorded(rq);
	return r;
}

int kms_finish(struct request *rq, const struct kms_call *c, uint32_t version, int r)
{
	r = kms_record(rq, c, version, r);
	if (!r) {
		json_object_object_add(rq->reply, "name", json_object_new_string(c->name));
		json_object_object_add(rq->reply, "version", json_object_new_int64(version));
	}
	return r;
}

/*
 * Spend an invocation of the current version; if the key was rotated
 * meanwhile, of the new current one, authorised again.
 */
static int spend(struct request *rq, const struct kms_call *c, struct ks_key *meta)
{
	int r = kms_keys_spend(rq->d, meta);

	if (r == -ESTALE && !(r = kms_authorise(rq, c->op, c->name, meta)))
		r = kms_keys_spend(rq->d, meta);
	if (r == -EKEYEXPIRED)
		return fail(rq, EKEYEXPIRED, "key '%s' version %u has encrypted 2^32 times, as many as AES-GCM with random nonces allows: rotate it (hsmkeyctl rotate %s)",
			    c->name, meta->version, c->name);
	if (r == -ESTALE)
		return fail(rq, EAGAIN, "key '%s' was rotated meanwhile: try again", c->name);
	if (r < 0 && !*rq->err)
		return store_failed(rq, r, "the key's count of encryptions");
	return r;
}

int kms_seal_under(struct request *rq, const struct kms_call *c, struct ks_key *meta,
		   uint8_t flags, const uint8_t *pt, size_t ptlen, uint8_t *blob)
{
	struct kms_head head = { .type = meta->type, .flags = flags, .version = meta->version };
	uint8_t aad[KMS_AAD_MAX];
	struct ks_use u = { .op = KS_USE_SEAL, .iv = blob + KMS_NONCE_AT, .aad = aad,
			    .in = pt, .len = ptlen };
	int r = spend(rq, c, meta);

	if (r)
		return r;
	memcpy(head.id, meta->id, HSMKEY_ID_LEN);
	r = kms_head_write(&head, blob);
	if (r)
		return fail(rq, -r, "the encryption failed: %s", strerror(-r));
	u.aad_len = kms_aad(blob, c->ctx, c->ctxlen, aad);
	r = key_use(rq, meta, &u, blob + KMS_HEADER_LEN);
	/* The name made again, another key, between the two reads: not this one. */
	if (r == -ESTALE)
		return fail(rq, EAGAIN, "key '%s' was replaced meanwhile: try again", c->name);
	if (r)
		return r;
	kms_keys_remember(rq->d, meta);
	return 0;
}

static int encrypt_with(struct request *rq, struct kms_call *c, struct ks_key *meta)
{
	uint8_t *blob = kms_reply_buffer(rq, rq->npayload + KMS_OVERHEAD);

	if (!blob)
		return fail(rq, ENOMEM, "out of memory");
	return kms_seal_under(rq, c, meta, 0, rq->payload, rq->npayload, blob);
}

static int encrypt_one(struct request *rq)
{
	struct kms_call c = { .op = KS_OP_ENCRYPT, .name = "" };
	struct ks_key meta = { 0 };
	int r = get_name(rq, "name", &c.name);

	if (r)
		c.name = "";	/* no valid name to record */
	else if (!(r = kms_read_context(rq, &c, NULL)) &&
		 (!rq->payload || !rq->npayload || rq->npayload > KMS_PLAINTEXT_MAX))
		r = fail(rq, EMSGSIZE, "the plaintext must be 1 to %d bytes", KMS_PLAINTEXT_MAX);
	if (!r)
		r = kms_authorise(rq, c.op, c.name, &meta) ?: encrypt_with(rq, &c, &meta);
	return kms_finish(rq, &c, meta.version, r);
}

static int open_with(struct request *rq, struct kms_call *c, const struct kms_head *head,
		     const uint8_t *blob, size_t len, uint8_t *pt)
{
	struct ks_key key = { .version = head->version, .type = head->type };
	uint8_t aad[KMS_AAD_MAX];
	struct ks_use u = { .op = KS_USE_OPEN, .iv = blob + KMS_NONCE_AT, .aad = aad,
			    .in = blob + KMS_HEADER_LEN, .len = len - KMS_HEADER_LEN };
	int r;

	snprintf(key.name, sizeof(key.name), "%s", c->name);
	memcpy(key.id, head->id, HSMKEY_ID_LEN);
	u.aad_len = kms_aad(blob, c->ctx, c->ctxlen, aad);
	r = key_use(rq, &key, &u, pt);
	/* Another key by now under the name, or another type: the blob's is not there. */
	if (r == -EBADMSG || r == -ESTALE)
		return fail(rq, EBADMSG, "the blob does not decrypt: another key, context or version, or it was altered");
	return r;
}

int kms_parse_blob(struct request *rq, const uint8_t *blob, size_t len, struct kms_head *head)
{
	if (!blob || kms_parse(blob, len, head))
		return fail(rq, EBADMSG, "not a ciphertext blob of hsmkey (hsmkey-blob(5))");
	return 0;
}

int kms_unseal(struct request *rq, struct kms_call *c, char *name, const struct kms_head *head,
	       const uint8_t *blob, size_t len, uint8_t *pt)
{
	struct ks_key meta = { 0 };

	if (kms_keys_name(rq->d, head->id, name))
		return refuse(rq, c->op, "", true);
	c->name = name;
	return authorise(rq, c->op, c->name, &meta, true) ?: open_with(rq, c, head, blob, len, pt);
}

static int decrypt_one(struct request *rq)
{
	struct kms_call c = { .op = KS_OP_DECRYPT, .name = "" };
	char name[HSMKEY_NAME_MAX] = "";
	struct kms_head head = { 0 };
	uint8_t *pt;
	int r = kms_read_context(rq, &c, NULL) ?:
		kms_parse_blob(rq, rq->payload, rq->npayload, &head);

	/* Its flag is authenticated: set, the blob opens for unwrap-to-kernel alone. */
	if (!r && (head.flags & KMS_FLAG_KERNEL))
		r = fail(rq, EPERM, "this blob is a data key for the kernel only: it is never decrypted (hsmkeyctl unwrap-to-kernel)");
	if (!r && !(pt = kms_reply_buffer(rq, rq->npayload - KMS_OVERHEAD)))
		r = fail(rq, ENOMEM, "out of memory");
	if (!r)
		r = kms_unseal(rq, &c, name, &head, rq->payload, rq->npayload, pt);
	return kms_finish(rq, &c, r ? 0 : head.version, r);
}

int op_encrypt(struct request *rq)
{
	return kms_batch_or_one(rq, KMS_BATCH_PLAINTEXT, encrypt_one);
}

int op_decrypt(struct request *rq)
{
	return kms_batch_or_one(rq, KMS_BATCH_BLOB, decrypt_one);
}
