/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_KEYS_H
#define _HSMKEY_KEYS_H

#include <linux/percpu-refcount.h>
#include <linux/rhashtable-types.h>
#include <linux/completion.h>
#include <linux/mutex.h>
#include <linux/hsmkey.h>

struct crypto_skcipher;

enum hsmkey_mode {
	HSMKEY_MODE_NONE,
	HSMKEY_MODE_XTS,
	HSMKEY_MODE_CBC,
	HSMKEY_MODE_GCM,
};

/* The table key: one version of one key.  20 bytes, no padding. */
struct hsmkey_kid {
	u8 id[HSMKEY_ID_LEN];
	u32 version;
};

/*
 * struct hsmkey_key - one provisioned key version
 *
 * @ref counts the table's reference and one per binding; the memory is
 * freed after an RCU grace period once it drops to zero, because lookups
 * walk the table under RCU.  @active counts requests in flight; revoke kills
 * it and waits for @drained before wiping @material and freeing @inner, so a
 * request either holds @active (and may use @inner) or fails.  @lock
 * serialises the lazy allocation of @inner against revoke.
 */
struct hsmkey_key {
	struct rhash_head node;
	struct hsmkey_kid kid;
	u32 index;
	refcount_t ref;
	struct rcu_head rcu;
	struct percpu_ref active;
	struct completion drained;
	struct mutex lock;		/* @inner allocation vs revoke */
	u32 state;
	u32 type;
	atomic_t bindings;
	struct crypto_skcipher *inner;
	char name[HSMKEY_NAME_MAX];
	u8 verifier[HSMKEY_VERIFIER_LEN];
	u8 material[HSMKEY_MATERIAL_MAX];
};

unsigned int hsmkey_type_keylen(u32 type);
enum hsmkey_mode hsmkey_type_mode(u32 type);

struct hsmkey_key *hsmkey_key_create(const struct hsmkey_kid *kid,
				     const char *name, u32 type,
				     const u8 *verifier, const u8 *material);
int hsmkey_key_insert(struct hsmkey_key *key);
struct hsmkey_key *hsmkey_key_lookup(const struct hsmkey_kid *kid);
void hsmkey_key_put(struct hsmkey_key *key);
void hsmkey_key_revoke(struct hsmkey_key *key);
void hsmkey_keys_remove(struct hsmkey_key **keys, unsigned int n);

int hsmkey_key_bind(struct hsmkey_key *key, enum hsmkey_mode mode,
		    const char *inner_driver, unsigned int max_reqsize);
void hsmkey_key_unbind(struct hsmkey_key *key);

/* Data path: no lock, no shared cache line. */
static inline bool hsmkey_key_enter(struct hsmkey_key *key)
{
	return percpu_ref_tryget_live(&key->active);
}

static inline void hsmkey_key_exit(struct hsmkey_key *key)
{
	percpu_ref_put(&key->active);
}

void hsmkey_keys_lock(void);
void hsmkey_keys_unlock(void);
struct hsmkey_key *hsmkey_keys_next(unsigned long *index);
u32 hsmkey_keys_count(void);

int hsmkey_keys_init(void);
void hsmkey_keys_exit(void);

#if IS_ENABLED(CONFIG_KUNIT)
struct kunit_suite;
/* The table may not exist yet: 6.1 runs a module's suites before its init. */
int hsmkey_kunit_suite_init(struct kunit_suite *suite);
void hsmkey_kunit_suite_exit(struct kunit_suite *suite);
#endif

#endif
