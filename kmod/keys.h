/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_KEYS_H
#define _HSMKEY_KEYS_H

#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/wait.h>
#include <linux/rhashtable-types.h>
#include <linux/completion.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <linux/hsmkey.h>
#include <crypto/sha2.h>
#include "policy.h"
#include "quota.h"

struct crypto_skcipher;
struct crypto_aead;

/* GCM tag sizes 4, 8, 12..16: one inner tfm each, made on first use. */
#define HSMKEY_GCM_NTAGS 7

/* The table key: one version of one key.  20 bytes, no padding. */
struct hsmkey_kid {
	u8 id[HSMKEY_ID_LEN];
	u32 version;
};

struct hsmkey_usage {
	u64 bytes;
	u64 requests;
};

/*
 * struct hsmkey_key - one provisioned key version
 *
 * @ref counts the table's reference and one per binding; the memory is
 * freed after an RCU grace period once it drops to zero, because lookups
 * walk the table under RCU.  @inflight counts requests in flight, per CPU
 * (a request may end on another CPU than it began: only the sum means
 * anything); revoke sets @dead, waits for an expedited RCU grace period,
 * after which no request can newly enter, then waits on @drain until the
 * sum is zero, before wiping @material and freeing the inner tfms.  So a
 * request either entered (and may use them) or fails.
 * @lock serialises state changes, the policy and the lazy allocation of
 * inner tfms against each other and against revoke.  @expiry and
 * @limit_work run only while the key is in the table: removal cancels them
 * before dropping the table's reference.
 */
struct hsmkey_key {
	struct rhash_head node;
	struct hsmkey_kid kid;
	u32 index;
	refcount_t ref;
	struct rcu_head rcu;
	long __percpu *inflight;
	bool dead;			/* revoked: no request may enter */
	wait_queue_head_t drain;
	struct mutex lock;		/* see above */
	u32 state;
	u32 type;
	atomic_t bindings;
	unsigned long flags;
	struct hsmkey_policy policy;
	u32 min_taglen;			/* policy.min_taglen, for requests */
	struct hsmkey_quota quota_bytes;
	struct hsmkey_quota quota_requests;
	struct hsmkey_usage __percpu *usage;
	atomic64_t binds;
	atomic64_t denies;
	struct delayed_work expiry;
	struct work_struct limit_work;
	union {
		struct {
			/*
			 * Usable in any context: the kernel's best driver, or
			 * cryptd over its SIMD core where there is one.
			 */
			struct crypto_skcipher *skcipher;
			/*
			 * That SIMD core, used directly when SIMD is usable;
			 * NULL when there is none.  Same key, same lifetime.
			 */
			struct crypto_skcipher *direct;
		};
		struct crypto_aead *aead[HSMKEY_GCM_NTAGS];
	} inner;
	bool has_owner;
	u8 delivery;			/* enum hsmkey_delivery */
	u8 owner[HSMKEY_OWNER_LEN];
	char name[HSMKEY_NAME_MAX];
	u8 verifier_hash[SHA256_DIGEST_SIZE];
	u8 material[HSMKEY_MATERIAL_MAX];
};

#define HSMKEY_KEY_LIMIT_SENT	0	/* bit in @flags */

/* Module-wide counters, reported by HSMKEY_CMD_INFO. */
struct hsmkey_stats {
	atomic64_t binds;
	atomic64_t denies;
	atomic64_t revokes;
	atomic64_t expiries;
	atomic64_t limits;
};

extern struct hsmkey_stats hsmkey_stats;

unsigned int hsmkey_type_keylen(u32 type);
enum hsmkey_mode hsmkey_type_mode(u32 type);

struct hsmkey_key *hsmkey_key_create(const struct hsmkey_kid *kid,
				     const char *name, u32 type,
				     const u8 *verifier, const u8 *material);
int hsmkey_key_set_policy(struct hsmkey_key *key,
			  const struct hsmkey_policy *policy);
void hsmkey_key_set_used(struct hsmkey_key *key,
			 const struct hsmkey_usage *spent);
bool hsmkey_key_verifier_ok(const struct hsmkey_key *key, const u8 *verifier);
int hsmkey_key_insert(struct hsmkey_key *key);
int hsmkey_keys_insert(struct hsmkey_key **keys, unsigned int n,
		       unsigned int *inserted);
struct hsmkey_key *hsmkey_key_lookup(const struct hsmkey_kid *kid);
void hsmkey_key_put(struct hsmkey_key *key);
void hsmkey_key_revoke(struct hsmkey_key *key);
int hsmkey_key_set_state(struct hsmkey_key *key, u32 state);
void hsmkey_keys_remove(struct hsmkey_key **keys, unsigned int n);
void hsmkey_key_usage(struct hsmkey_key *key, struct hsmkey_usage *out);

/*
 * Bind @key for @mode: state and policy checks, then @prepare (which makes
 * the inner tfm the binding needs, if missing) under @key->lock.
 */
int hsmkey_key_bind(struct hsmkey_key *key, enum hsmkey_mode mode,
		    int (*prepare)(struct hsmkey_key *key, void *arg),
		    void *arg);
void hsmkey_key_unbind(struct hsmkey_key *key);

/*
 * Data path: no lock, no shared cache line written.  Entering is an RCU
 * read-side section, which is what lets revoke know, after one grace
 * period, that every request has either entered (and is counted) or seen
 * @dead.  Any context.
 */
static inline bool hsmkey_key_enter(struct hsmkey_key *key)
{
	bool live;

	rcu_read_lock();
	live = !READ_ONCE(key->dead);
	if (live)
		this_cpu_inc(*key->inflight);
	rcu_read_unlock();
	return live;
}

/*
 * Leaving is an RCU read-side section too: once the count is down, revoke
 * may finish and the last reference go (a request's completion runs
 * before its exit, and may let the binding go), but the key is freed only
 * after a grace period (hsmkey_key_put()), so @key->dead and @key->drain
 * are still there to read and wake.
 */
static inline void hsmkey_key_exit(struct hsmkey_key *key)
{
	rcu_read_lock();
	this_cpu_dec(*key->inflight);
	/* Revoke is waiting: it reads the sum again when woken. */
	if (unlikely(READ_ONCE(key->dead)))
		wake_up(&key->drain);
	rcu_read_unlock();
}

/*
 * Charge a request of @bytes to @key, inside enter/exit: false (and the
 * request must fail with -EDQUOT) when a usage limit does not allow it.
 */
bool hsmkey_key_charge(struct hsmkey_key *key, unsigned int bytes);

void hsmkey_keys_lock(void);
void hsmkey_keys_unlock(void);
struct hsmkey_key *hsmkey_keys_next(unsigned long *index);
u32 hsmkey_keys_count(void);
unsigned int hsmkey_keys_of_owner(const u8 *owner);
int hsmkey_keys_freeze(void);
void hsmkey_keys_thaw(void);

int hsmkey_keys_init(void);
void hsmkey_keys_exit(void);

#if IS_ENABLED(CONFIG_KUNIT)
struct kunit_suite;
/* The table may not exist yet: 6.1 runs a module's suites before its init. */
int hsmkey_kunit_suite_init(struct kunit_suite *suite);
void hsmkey_kunit_suite_exit(struct kunit_suite *suite);
#endif

#endif
