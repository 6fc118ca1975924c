// SPDX-License-Identifier: GPL-2.0
/*
 * The local KMS API's signatures: sign and verify with an identity key
 * (ecdsa-p256 with SHA-256, ecdsa-p384 with SHA-384, ed25519, rsa-2048
 * and rsa-3072 with SHA-256), on a message or, but for Ed25519, on its
 * digest; and public-key, the key's public half as PEM.  Signatures are
 * as OpenSSL writes them: DER for ECDSA, the 64 bytes of RFC 8032 for
 * Ed25519, the modulus's length for RSA, padded ("padding") as PKCS #1
 * v1.5 (the default, as openssl dgst -sign) or PSS (MGF1 with SHA-256, a
 * salt as long as the digest; any salt length verifies).  Who may sign
 * and verify: the key's grants (kms.h), as for encrypt and decrypt.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include "cleanup.h"
#include "identity.h"
#include "key_use.h"
#include "kms.h"
#include "proto.h"
#include "util.h"

#define SIGN_MESSAGE_MAX	32768
#define SIGNATURE_MAX		512	/* RSA-3072: 384; DER ECDSA over P-384: 104 */

static void md_ctx_freep(EVP_MD_CTX **c)
{
	EVP_MD_CTX_free(*c);
}

static void pkey_ctx_freep(EVP_PKEY_CTX **c)
{
	EVP_PKEY_CTX_free(*c);
}

static void pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);	/* wipes the private key */
}

/* What a signing or verifying request gives: the key, the data, how. */
struct sig_call {
	uint32_t op;
	const char *name;
	bool digest;		/* the payload is the message's digest */
	const char *padding;	/* RSA's: "pkcs1" or "pss"; NULL: the default */
	int64_t max;		/* sign: the caller's room for the signature */
	char hash[17];		/* the first 8 bytes of SHA-256 of the payload */
};

static int read_call(struct request *rq, struct sig_call *c)
{
	uint8_t h[SHA256_DIGEST_LENGTH];
	struct json_object *d = json_object_object_get(rq->req, "digest");
	int r = get_name(rq, "name", &c->name);

	if (r) {
		c->name = "";	/* no valid name to record */
		return r;
	}
	c->digest = d && json_object_get_boolean(d);
	c->padding = proto_str(rq->req, "padding");
	if (c->padding && strcmp(c->padding, "pkcs1") && strcmp(c->padding, "pss"))
		return fail(rq, EINVAL, "'padding' is pkcs1 or pss");
	c->max = SIGNATURE_MAX;
	if (proto_int(rq->req, "max_signature", &c->max) && c->max < 0)
		return fail(rq, EINVAL, "'max_signature' must not be negative");
	if (!rq->payload || !rq->npayload || rq->npayload > SIGN_MESSAGE_MAX)
		return fail(rq, EMSGSIZE, "the message must be 1 to %d bytes (sign a larger one's digest: --digest)",
			    SIGN_MESSAGE_MAX);
	SHA256(rq->payload, rq->npayload, h);
	hex_encode(h, 8, c->hash);
	return 0;
}

/*
 * The key's OpenSSL key, and its digest checked against the payload's
 * form.  A key kept inside its storage (key_use.h) gives its public key
 * alone: it signs there.
 */
static int key_of(struct request *rq, const struct sig_call *c, const struct ks_key *meta,
		  EVP_PKEY **pkey)
{
	_cleanup_key_ struct ks_key key = { 0 };
	const EVP_MD *md = identity_md(meta->type);
	bool inside = key_use_inside(rq->d->be);
	int r = get_version(rq, c->name, meta->version, !inside, &key);

	if (r)
		return r;
	/* The name made again, another key, since it was authorised: not this one. */
	if (memcmp(key.id, meta->id, HSMKEY_ID_LEN) || key.type != meta->type)
		return fail(rq, EAGAIN, "key '%s' was replaced meanwhile: try again", c->name);
	if (c->digest && !md)
		return fail(rq, EINVAL, "key '%s' is ed25519, which signs the message itself, not a digest",
			    c->name);
	if (c->digest && rq->npayload != (size_t)EVP_MD_get_size(md))
		return fail(rq, EINVAL, "a digest for key '%s' is %d bytes of %s", c->name,
			    EVP_MD_get_size(md), EVP_MD_get0_name(md));
	if (c->padding && !ks_type_rsa(key.type))
		return fail(rq, EINVAL, "key '%s' is %s: a padding is for RSA keys", c->name,
			    key_type_name(key.type));
	if (inside)
		return key_use_public(rq, &key, pkey);
	r = identity_pkey(&key, pkey);
	return r ? fail(rq, r, "key '%s' holds no usable key: %s", c->name, strerror(-r)) : 0;
}

/* RSA's padding on @c, a signing or verifying context: PKCS #1 v1.5 unless PSS. */
static int set_padding(EVP_PKEY_CTX *c, const struct sig_call *call, bool sign)
{
	if (!call->padding || strcmp(call->padding, "pss"))
		return 0;
	return EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(c, sign ? RSA_PSS_SALTLEN_DIGEST :
						 RSA_PSS_SALTLEN_AUTO) == 1 ? 0 : -EIO;
}

static int sign_digest(EVP_PKEY *pkey, const EVP_MD *md, const struct sig_call *call,
		       const uint8_t *dgst, size_t dlen, uint8_t *sig, size_t *siglen)
{
	_cleanup_(pkey_ctx_freep) EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pkey, NULL);

	return c && EVP_PKEY_sign_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, md) == 1 &&
	       !set_padding(c, call, true) &&
	       EVP_PKEY_sign(c, sig, siglen, dgst, dlen) == 1 ? 0 : -EIO;
}

static int sign_message(EVP_PKEY *pkey, const EVP_MD *md, const struct sig_call *call,
			const uint8_t *msg, size_t len, uint8_t *sig, size_t *siglen)
{
	_cleanup_(md_ctx_freep) EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;	/* c's */

	return c && EVP_DigestSignInit(c, &pc, md, NULL, pkey) == 1 &&
	       !set_padding(pc, call, true) &&
	       EVP_DigestSign(c, sig, siglen, msg, len) == 1 ? 0 : -EIO;
}

static int sign_with(struct request *rq, const struct sig_call *c, const struct ks_key *meta)
{
	_cleanup_(pkey_freep) EVP_PKEY *pkey = NULL;
	const EVP_MD *md = identity_md(meta->type);
	uint8_t sig[SIGNATURE_MAX], *out;
	size_t siglen = sizeof(sig);
	int r = key_of(rq, c, meta, &pkey);

	if (r)
		return r;
	/* Before signing: a signature the caller cannot take is not made (nor audited as made). */
	if (EVP_PKEY_get_size(pkey) > c->max)
		return fail(rq, ENOBUFS, "a signature of key '%s' (%s) takes up to %d bytes; the buffer holds %lld",
			    c->name, key_type_name(meta->type), EVP_PKEY_get_size(pkey),
			    (long long)c->max);
	if (key_use_inside(rq->d->be))
		r = key_use_sign(rq, meta, c->padding && !strcmp(c->padding, "pss") ? KS_SIGN_PSS : 0,
				 c->digest, rq->payload, rq->npayload, sig, &siglen);
	else if (c->digest ? sign_digest(pkey, md, c, rq->payload, rq->npayload, sig, &siglen) :
		 sign_message(pkey, md, c, rq->payload, rq->npayload, sig, &siglen))
		r = fail(rq, EIO, "signing with key '%s' failed", c->name);
	if (r)
		return r;
	out = kms_reply_buffer(rq, siglen);
	if (!out)
		return fail(rq, ENOMEM, "out of memory");
	memcpy(out, sig, siglen);
	return 0;
}

/* The signature the request carries, in hex, into @sig. */
static int read_signature(struct request *rq, uint8_t *sig, size_t *len)
{
	const char *hex = proto_str(rq->req, "signature");
	size_t n = hex ? strlen(hex) : 0;

	if (!n || n % 2 || n / 2 > SIGNATURE_MAX || hex_decode(hex, sig, n / 2))
		return fail(rq, EINVAL, "'signature' must be the signature in hex (at most %d bytes)",
			    SIGNATURE_MAX);
	*len = n / 2;
	return 0;
}

static int verify_with(struct request *rq, const struct sig_call *c, const struct ks_key *meta)
{
	_cleanup_(pkey_freep) EVP_PKEY *pkey = NULL;
	const EVP_MD *md = identity_md(meta->type);
	uint8_t sig[SIGNATURE_MAX];
	size_t siglen = 0;
	int r = read_signature(rq, sig, &siglen) ?: key_of(rq, c, meta, &pkey);

	if (r)
		return r;
	if (c->digest) {
		_cleanup_(pkey_ctx_freep) EVP_PKEY_CTX *v = EVP_PKEY_CTX_new(pkey, NULL);

		r = v && EVP_PKEY_verify_init(v) == 1 && EVP_PKEY_CTX_set_signature_md(v, md) == 1 &&
		    !set_padding(v, c, false) &&
		    EVP_PKEY_verify(v, sig, siglen, rq->payload, rq->npayload) == 1;
	} else {
		_cleanup_(md_ctx_freep) EVP_MD_CTX *v = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pc = NULL;	/* v's */

		r = v && EVP_DigestVerifyInit(v, &pc, md, NULL, pkey) == 1 &&
		    !set_padding(pc, c, false) &&
		    EVP_DigestVerify(v, sig, siglen, rq->payload, rq->npayload) == 1;
	}
	if (!r)
		return fail(rq, EBADMSG, "the signature does not verify under key '%s'", c->name);
	json_object_object_add(rq->reply, "valid", json_object_new_boolean(1));
	return 0;
}

static int sig_op(struct request *rq, uint32_t op)
{
	struct sig_call c = { .op = op, .name = "" };
	struct ks_key meta = { 0 };
	char detail[64];
	int r = read_call(rq, &c);

	if (!r)
		r = kms_authorise(rq, op, c.name, &meta) ?:
		    (op == KS_OP_SIGN ? sign_with(rq, &c, &meta) : verify_with(rq, &c, &meta));
	snprintf(detail, sizeof(detail), "%s sha256 %s%s", c.digest ? "digest" : "message", c.hash,
		 c.padding && !strcmp(c.padding, "pss") ? " pss" : "");
	if (kms_audit(rq, op, c.name, meta.version, detail, r))
		r = kms_unrecorded(rq);
	if (!r)
		json_object_object_add(rq->reply, "name", json_object_new_string(c.name));
	return r;
}

int op_sign(struct request *rq)
{
	return sig_op(rq, KS_OP_SIGN);
}

int op_verify(struct request *rq)
{
	return sig_op(rq, KS_OP_VERIFY);
}

/* A reading command, but a call of the KMS API: recorded as the others are. */
int op_public_key(struct request *rq)
{
	struct ks_key meta = { 0 };
	const char *name = NULL;
	int r = get_named_key(rq, false, &name, &meta);

	if (!r && !ks_type_identity(meta.type))
		r = fail(rq, EMEDIUMTYPE, "key '%s' is %s: only identity keys have a public key",
			 name, key_type_name(meta.type));
	if (!r)
		r = add_public_key(rq, name);
	if (kms_audit_as(rq, "public-key", name, meta.version, NULL, r))
		r = kms_unrecorded(rq);
	return r;
}
