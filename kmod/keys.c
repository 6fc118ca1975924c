// SPDX-License-Identifier: GPL-2.0
/*
 * The key table.
 *
 * Keys live in an rhashtable indexed by (id, version) for lookups at bind
 * time, and in an xarray indexed by insertion order for netlink dumps.
 * hsmkey_table_lock serialises every insertion and removal; lookups take
 * no lock and run under RCU.
 *
 * Lifetime: the table holds one reference on each key and every binding
 * (a tfm whose setkey() resolved a token) holds another.  A key leaves the
 * table only after it has been revoked, so the last reference is dropped
 * with no request in flight and no inner tfm left; the memory is then freed
 * with kfree_sensitive() after an RCU grace period.
 *
 * Revocation: the state becomes REVOKED under key->lock, which stops new
 * bindings and the lazy allocation of the inner tfm; percpu_ref_kill()
 * makes every later request fail; waiting for the percpu ref to drain
 * waits for requests already in the inner implementation, including
 * asynchronous ones, to complete.  Only then are the inner tfm (whose
 * expanded key schedule crypto_free_skcipher() wipes) and the material
 * wiped and freed.
 */
#include <crypto/skcipher.h>
#include <crypto/algapi.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/xarray.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "keys.h"

static const struct {
	unsigned int keylen;
	enum hsmkey_mode mode;
} hsmkey_types[] = {
	[HSMKEY_TYPE_AES_128_XTS] = { 32, HSMKEY_MODE_XTS },
	[HSMKEY_TYPE_AES_256_XTS] = { 64, HSMKEY_MODE_XTS },
	[HSMKEY_TYPE_AES_128_CBC] = { 16, HSMKEY_MODE_CBC },
	[HSMKEY_TYPE_AES_256_CBC] = { 32, HSMKEY_MODE_CBC },
	[HSMKEY_TYPE_AES_128_GCM] = { 16, HSMKEY_MODE_GCM },
	[HSMKEY_TYPE_AES_256_GCM] = { 32, HSMKEY_MODE_GCM },
};

static const struct rhashtable_params hsmkey_ht_params = {
	.head_offset = offsetof(struct hsmkey_key, node),
	.key_offset = offsetof(struct hsmkey_key, kid),
	.key_len = sizeof(struct hsmkey_kid),
	.automatic_shrinking = true,
};

static struct rhashtable hsmkey_ht;
static DEFINE_XARRAY_ALLOC(hsmkey_xa);
static DEFINE_MUTEX(hsmkey_table_lock);
/*
 * The module and its KUnit suites each hold the table; on 6.1 KUnit runs a
 * module's suites before the module's init function.  Serialised by module
 * loading.
 */
static unsigned int hsmkey_table_users;

unsigned int hsmkey_type_keylen(u32 type)
{
	return type < ARRAY_SIZE(hsmkey_types) ? hsmkey_types[type].keylen : 0;
}

enum hsmkey_mode hsmkey_type_mode(u32 type)
{
	return type < ARRAY_SIZE(hsmkey_types) ? hsmkey_types[type].mode :
						 HSMKEY_MODE_NONE;
}

static void hsmkey_key_drained(struct percpu_ref *ref)
{
	struct hsmkey_key *key = container_of(ref, struct hsmkey_key, active);

	complete_all(&key->drained);
}

struct hsmkey_key *hsmkey_key_create(const struct hsmkey_kid *kid,
				     const char *name, u32 type,
				     const u8 *verifier, const u8 *material)
{
	struct hsmkey_key *key;
	int err;

	if (!hsmkey_type_keylen(type))
		return ERR_PTR(-EINVAL);

	key = kzalloc(sizeof(*key), GFP_KERNEL);
	if (!key)
		return ERR_PTR(-ENOMEM);

	err = percpu_ref_init(&key->active, hsmkey_key_drained, 0, GFP_KERNEL);
	if (err) {
		kfree(key);
		return ERR_PTR(err);
	}
	key->kid = *kid;
	refcount_set(&key->ref, 1);
	init_completion(&key->drained);
	mutex_init(&key->lock);
	key->state = HSMKEY_STATE_ACTIVE;
	key->type = type;
	strscpy(key->name, name, sizeof(key->name));
	memcpy(key->verifier, verifier, HSMKEY_VERIFIER_LEN);
	memcpy(key->material, material, hsmkey_type_keylen(type));
	return key;
}

static void hsmkey_key_free_rcu(struct rcu_head *rcu)
{
	struct hsmkey_key *key = container_of(rcu, struct hsmkey_key, rcu);

	percpu_ref_exit(&key->active);
	kfree_sensitive(key);
}

void hsmkey_key_put(struct hsmkey_key *key)
{
	if (key && refcount_dec_and_test(&key->ref)) {
		/* Revoke has freed it; a key is never freed while bound. */
		WARN_ON_ONCE(key->inner);
		call_rcu(&key->rcu, hsmkey_key_free_rcu);
	}
}

int hsmkey_key_insert(struct hsmkey_key *key)
{
	struct hsmkey_key *old;
	int err;

	mutex_lock(&hsmkey_table_lock);
	err = xa_alloc(&hsmkey_xa, &key->index, key, xa_limit_32b, GFP_KERNEL);
	if (err)
		goto out;
	old = rhashtable_lookup_get_insert_fast(&hsmkey_ht, &key->node,
						hsmkey_ht_params);
	if (old) {
		err = IS_ERR(old) ? PTR_ERR(old) : -EEXIST;
		xa_erase(&hsmkey_xa, key->index);
	}
out:
	mutex_unlock(&hsmkey_table_lock);
	return err;
}

struct hsmkey_key *hsmkey_key_lookup(const struct hsmkey_kid *kid)
{
	struct hsmkey_key *key;

	rcu_read_lock();
	key = rhashtable_lookup(&hsmkey_ht, kid, hsmkey_ht_params);
	if (key && !refcount_inc_not_zero(&key->ref))
		key = NULL;
	rcu_read_unlock();
	return key;
}

static void hsmkey_key_revoke_start(struct hsmkey_key *key)
{
	mutex_lock(&key->lock);
	if (key->state == HSMKEY_STATE_ACTIVE) {
		WRITE_ONCE(key->state, HSMKEY_STATE_REVOKED);
		percpu_ref_kill(&key->active);
	}
	mutex_unlock(&key->lock);
}

static void hsmkey_key_revoke_finish(struct hsmkey_key *key)
{
	wait_for_completion(&key->drained);

	mutex_lock(&key->lock);
	crypto_free_skcipher(key->inner);
	key->inner = NULL;
	memzero_explicit(key->material, sizeof(key->material));
	mutex_unlock(&key->lock);
}

void hsmkey_key_revoke(struct hsmkey_key *key)
{
	hsmkey_key_revoke_start(key);
	hsmkey_key_revoke_finish(key);
}

/* With the table lock held, after revoke: drop the table's reference. */
static void hsmkey_key_unlink(struct hsmkey_key *key)
{
	lockdep_assert_held(&hsmkey_table_lock);
	rhashtable_remove_fast(&hsmkey_ht, &key->node, hsmkey_ht_params);
	xa_erase(&hsmkey_xa, key->index);
	hsmkey_key_put(key);
}

/*
 * Revoke and remove @n keys that are in the table.  All are killed before
 * any is waited for, so the cost is one RCU grace period, not one per key.
 * The caller's references stay valid until it puts them.
 */
void hsmkey_keys_remove(struct hsmkey_key **keys, unsigned int n)
{
	unsigned int i;

	/* Batches can be large: let others run between keys. */
	for (i = 0; i < n; i++) {
		hsmkey_key_revoke_start(keys[i]);
		cond_resched();
	}
	mutex_lock(&hsmkey_table_lock);
	for (i = 0; i < n; i++) {
		hsmkey_key_revoke_finish(keys[i]);
		hsmkey_key_unlink(keys[i]);
		cond_resched();
	}
	mutex_unlock(&hsmkey_table_lock);
}

/*
 * Called with a reference from hsmkey_key_lookup(), which becomes the
 * binding's reference on success.  Allocates and keys the inner tfm on the
 * first binding: one expanded key schedule per key, shared by every tfm
 * bound to it.
 */
int hsmkey_key_bind(struct hsmkey_key *key, enum hsmkey_mode mode,
		    const char *inner_driver, unsigned int max_reqsize)
{
	struct crypto_skcipher *inner;
	int err = 0;

	if (hsmkey_type_mode(key->type) != mode)
		return -EKEYREJECTED;

	mutex_lock(&key->lock);
	if (key->state != HSMKEY_STATE_ACTIVE) {
		err = -EKEYREVOKED;
		goto out;
	}
	if (!key->inner) {
		inner = crypto_alloc_skcipher(inner_driver, 0,
					      CRYPTO_ALG_ALLOCATES_MEMORY);
		if (IS_ERR(inner)) {
			err = PTR_ERR(inner);
			goto out;
		}
		if (crypto_skcipher_reqsize(inner) > max_reqsize)
			err = -EINVAL;
		else
			err = crypto_skcipher_setkey(inner, key->material,
						     hsmkey_type_keylen(key->type));
		if (err) {
			crypto_free_skcipher(inner);
			goto out;
		}
		key->inner = inner;
	}
	atomic_inc(&key->bindings);
out:
	mutex_unlock(&key->lock);
	return err;
}

void hsmkey_key_unbind(struct hsmkey_key *key)
{
	if (!key)
		return;
	atomic_dec(&key->bindings);
	hsmkey_key_put(key);
}

void hsmkey_keys_lock(void)
{
	mutex_lock(&hsmkey_table_lock);
}

void hsmkey_keys_unlock(void)
{
	mutex_unlock(&hsmkey_table_lock);
}

/* With the table lock held: the first key at or after *index. */
struct hsmkey_key *hsmkey_keys_next(unsigned long *index)
{
	lockdep_assert_held(&hsmkey_table_lock);
	return xa_find(&hsmkey_xa, index, ULONG_MAX, XA_PRESENT);
}

u32 hsmkey_keys_count(void)
{
	return atomic_read(&hsmkey_ht.nelems);
}

int hsmkey_keys_init(void)
{
	int err;

	if (hsmkey_table_users++)
		return 0;
	err = rhashtable_init(&hsmkey_ht, &hsmkey_ht_params);
	if (err)
		hsmkey_table_users--;
	return err;
}

/*
 * Module exit: the algorithms are unregistered and no tfm exists (each
 * would pin the module), so no key is bound.  Kill every key first and
 * wait afterwards, so that unloading with many keys costs one RCU grace
 * period rather than one per key.
 */
void hsmkey_keys_exit(void)
{
	struct hsmkey_key *key;
	unsigned long index;

	if (--hsmkey_table_users)
		return;
	mutex_lock(&hsmkey_table_lock);
	xa_for_each(&hsmkey_xa, index, key) {
		hsmkey_key_revoke_start(key);
		cond_resched();
	}
	xa_for_each(&hsmkey_xa, index, key) {
		hsmkey_key_revoke_finish(key);
		hsmkey_key_unlink(key);
		cond_resched();
	}
	mutex_unlock(&hsmkey_table_lock);

	rcu_barrier();
	rhashtable_destroy(&hsmkey_ht);
	xa_destroy(&hsmkey_xa);
}
