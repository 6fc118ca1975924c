/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The local KMS API's ciphertext blob (hsmkey-blob(5)) and its encryption
 * context, as bytes: no request, no key storage.
 *
 *   offset  size  field
 *        0     4  magic "HKMS"
 *        4     1  format, 1
 *        5     1  algorithm: 1 AES-256-GCM, 2 AES-128-GCM
 *        6     1  flags: KMS_FLAG_KERNEL, or 0
 *        7     1  zero
 *        8    16  key id
 *       24     4  key version, big endian
 *       28    12  nonce (random)
 *       40     n  ciphertext (n = the plaintext's length)
 *     40+n    16  GCM tag
 *
 * The associated data is the 40 bytes of header followed by the context's
 * canonical form: a 32-bit big-endian count, then each pair in ascending
 * byte order of its key, as be32(key length) key be32(value length) value.
 */
#ifndef HSMKEY_KMS_BLOB_H
#define HSMKEY_KMS_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include <linux/hsmkey.h>

#define KMS_MAGIC		"HKMS"
#define KMS_FORMAT		1
#define KMS_ALG_AES_256_GCM	1
#define KMS_ALG_AES_128_GCM	2
/*
 * A data key for the kernel only (data-key without its plaintext): decrypt
 * refuses it; unwrap-to-kernel opens it for the uid and as the kernel key
 * type it was made for, which its context holds as the pairs
 * KMS_CONTEXT_UID and KMS_CONTEXT_TYPE (keys no caller may use).
 */
#define KMS_FLAG_KERNEL		1
#define KMS_CONTEXT_TYPE	"hsmkey:type"
#define KMS_CONTEXT_UID		"hsmkey:uid"
#define KMS_CONTEXT_RESERVED	"hsmkey:"	/* keys with this prefix are hsmkeyd's */

/* hsmkeyd's own pairs of a context, added to the caller's (NULL: none). */
struct kms_own_pairs {
	const char *type, *uid;
};
#define KMS_HEADER_LEN		40
#define KMS_NONCE_AT		28
#define KMS_NONCE_LEN		12
#define KMS_TAG_LEN		16
#define KMS_OVERHEAD		(KMS_HEADER_LEN + KMS_TAG_LEN)
#define KMS_PLAINTEXT_MAX	4096

/* Context limits: pairs, a key's and a value's bytes, the canonical form. */
#define KMS_CONTEXT_PAIRS_MAX	32
#define KMS_CONTEXT_KEY_MAX	128
#define KMS_CONTEXT_VALUE_MAX	1024
#define KMS_CONTEXT_MAX		8192

struct kms_head {
	int type;			/* the key type the algorithm needs */
	uint8_t flags;			/* KMS_FLAG_* */
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
};

/*
 * The canonical form of context @ctx (a JSON object of strings; NULL:
 * empty) into @out (KMS_CONTEXT_MAX bytes), with hsmkeyd's pairs @own
 * added (NULL: none): its length, or -EINVAL (not an object of strings,
 * an empty key, a NUL inside a value), -EPERM (a key with the reserved
 * prefix), -E2BIG (over a limit above; @own's pairs are over the count).
 */
int kms_context_encode(struct json_object *ctx, const struct kms_own_pairs *own, uint8_t *out);
/* The first 8 bytes of SHA-256 over a canonical context, as 16 hex digits: 0 or -EIO. */
int kms_context_hash(const uint8_t *ctx, size_t len, char hex[17]);

/*
 * Encrypt @pt (at most KMS_PLAINTEXT_MAX bytes) under @key, version
 * @head->version of key @head->id of type @head->type, flags
 * @head->flags, bound to canonical
 * context @ctx: the blob into @blob (@ptlen + KMS_OVERHEAD bytes).  0 or
 * -errno.
 */
int kms_seal(const struct kms_head *head, const uint8_t *key, const uint8_t *ctx,
	     size_t ctxlen, const uint8_t *pt, size_t ptlen, uint8_t *blob);

/*
 * The pieces of kms_seal() and kms_open(), for a key the daemon does not
 * hold (key_use.h): the header of @head with a random nonce into @blob's
 * first KMS_HEADER_LEN bytes (-EINVAL: not a KMS key type); the associated
 * data of @blob's header and context @ctx into @aad (KMS_AAD_MAX bytes),
 * its length returned.
 */
#define KMS_AAD_MAX		(KMS_HEADER_LEN + KMS_CONTEXT_MAX)
int kms_head_write(const struct kms_head *head, uint8_t *blob);
size_t kms_aad(const uint8_t *blob, const uint8_t *ctx, size_t ctxlen, uint8_t *aad);
/*
 * AES-GCM with the key of KMS type @type, a 96-bit @iv and 128-bit tag:
 * @seal, @in (@len bytes) into ciphertext || tag at @out (@len +
 * KMS_TAG_LEN); else @in ciphertext || tag into its plaintext at @out
 * (@len - KMS_TAG_LEN), -EBADMSG (@out wiped) if the tag does not verify.
 */
int kms_gcm(int type, bool seal, const uint8_t *key, const uint8_t *iv, const uint8_t *aad,
	    size_t aadlen, const uint8_t *in, size_t len, uint8_t *out);
/*
 * The header of @blob: 0, or -EBADMSG when it is no blob of this format
 * (too short, another magic, format or algorithm, an unknown flag, a
 * reserved byte set).
 */
int kms_parse(const uint8_t *blob, size_t len, struct kms_head *head);
/*
 * Decrypt @blob (kms_parse() said yes) with @key and context @ctx into @pt
 * (@len - KMS_OVERHEAD bytes): 0, or -EBADMSG when the tag does not verify
 * (another key or context, an altered blob); @pt is then wiped.
 */
int kms_open(const uint8_t *key, const uint8_t *ctx, size_t ctxlen, const uint8_t *blob,
	     size_t len, uint8_t *pt);

#endif
