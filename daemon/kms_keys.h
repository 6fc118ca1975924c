/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the local KMS API remembers of its keys between requests: which
 * key name a blob's key id belongs to, and how many GCM invocations the
 * encrypting version has left.
 *
 * Invocations: a key version encrypts at most KMS_INVOCATIONS_MAX times
 * (random 96-bit nonces; NIST SP 800-38D, 8.3).  They are reserved in the
 * key storage in blocks of KMS_RESERVE (->set_usage(), the version's
 * used_requests) and spent in memory, so that a restart can only lose a
 * block's remainder, never count one twice.
 */
#ifndef HSMKEY_KMS_KEYS_H
#define HSMKEY_KMS_KEYS_H

#include <stdint.h>
#include "key.h"

#define KMS_INVOCATIONS_MAX	(1ull << 32)
#define KMS_RESERVE		(1ull << 16)

struct daemon;
struct kms_keys;

struct kms_keys *kms_keys_new(void);
void kms_keys_free(struct kms_keys *k);
/*
 * The name of the KMS key with id @id into @name (HSMKEY_NAME_MAX), as
 * remembered: 0, or -ENOENT.  A blob naming an unknown id costs a lookup,
 * never a walk of the key storage.
 */
int kms_keys_name(struct daemon *d, const uint8_t *id, char *name);
/*
 * Remember @key if it is a KMS key: every key the storage holds, as the
 * start-up's reconciliation walks them (kms_keys_fill() when it does not
 * run), and each key made, imported or rotated since.
 */
void kms_keys_remember(struct daemon *d, const struct ks_key *key);
void kms_keys_fill(struct daemon *d);
/*
 * Spend one invocation of @meta's version (the key's current one, as
 * ->get() gave it without secrets): 0; -EKEYEXPIRED when the version has
 * spent them all (rotate); or the key storage's error reserving more.
 */
int kms_keys_spend(struct daemon *d, const struct ks_key *meta);

#endif
