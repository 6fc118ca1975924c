/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Data keys in the kernel (kms_kernel.c): the plaintext of a data key made
 * under a KMS key goes into hsmkey.ko as a key of its own, bindable by the
 * caller's uid alone for a limited time, and the caller gets its token.
 *
 * Such a kernel key is named "dk:" + its KMS key's id in hex + ":" + the
 * uid (no key store name has a colon), owned by the key store instance,
 * version 1, with a random id and verifier that only its token carries.
 * It follows its KMS key: disabled with it, enabled with it, removed when
 * the KMS key is revoked or destroyed; the kernel revokes it when its time
 * is up, and the daemon removes revoked ones.  It outlives a restart of the
 * daemon (reconciliation applies the KMS key's state), not a reboot.
 */
#ifndef HSMKEY_KMS_KERNEL_H
#define HSMKEY_KMS_KERNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/hsmkey.h>
#include "key.h"

#define KMS_KERNEL_TTL		3600	/* seconds, when the caller names none */
#define KMS_KERNEL_TTL_MAX	86400
#define KMS_KERNEL_PER_UID	64	/* live data keys of one uid in the kernel */
#define KMS_KERNEL_MAX		4096	/* and of all uids */

struct daemon;
struct kernel;
struct kernel_key;
struct request;

/*
 * Whether kernel key name @name is a data key's: then its KMS key's id
 * into @parent and the uid it is bound to into @uid (either may be NULL).
 */
bool kms_kernel_is_data_key(const char *name, uint8_t *parent, uint32_t *uid);
/* Whether kernel key @kk is a data key of this key store's. */
bool kms_kernel_ours(struct daemon *d, const struct kernel_key *kk);
/*
 * Put @material (key_type_len(@type) bytes; @type a kernel key type) into
 * the kernel as a data key of KMS key @parent, bindable by the caller's
 * uid until @ttl seconds from now: its token into @token, its kernel id
 * into @kid and when it expires (seconds since the epoch) into @expires.  0, or a worded -errno (-EDQUOT: the caller has
 * KMS_KERNEL_PER_UID already, or all have KMS_KERNEL_MAX; -EPERM,
 * -EKEYREVOKED: @parent was disabled, or revoked or replaced, meanwhile).
 * The data key lives no longer than @parent's policy allows.
 */
int kms_kernel_add(struct request *rq, const struct ks_key *parent, int type,
		   const uint8_t *material, uint32_t ttl, struct hsmkey_token *token,
		   uint8_t *kid, int64_t *expires);
/*
 * Make the kernel's data keys of KMS key @parent follow its state: removed
 * when @state is KS_REVOKED or 0 (gone), disabled unless it is KS_ACTIVE,
 * else enabled.  0 or a worded -errno.
 */
int kms_kernel_follow(struct request *rq, struct kernel *k, const struct ks_key *parent,
		      int state);
/*
 * Reconciliation of data key @kk (ours): removed when revoked (its time
 * was up) or when its KMS key is gone or revoked; else its state follows
 * the KMS key's.  kms_keys_name() must know every KMS key of the store:
 * call it only after a complete walk of the key storage.
 */
void kms_kernel_reconcile(struct daemon *d, struct kernel *k, const struct kernel_key *kk);

#endif
