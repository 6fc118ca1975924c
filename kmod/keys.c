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
 * with no request in flight and no inner tfm left, though a request may
 * still be in hsmkey_key_exit() (its count down, its completion given,
 * the wake-up to come): that is a read-side section, and the memory is
 * freed with kfree_sensitive() only after an RCU grace period.
 *
 * Revocation: the state becomes REVOKED and key->dead is set under
 * key->lock, which stops new bindings and the lazy allocation of inner
 * tfms; after an expedited RCU grace period no request can enter any more
 * (hsmkey_key_enter() is a read-side section), and waiting for the
 * per-CPU in-flight count to sum to zero waits for requests already in the
 * inner implementation, including asynchronous ones, to complete.  Only
 * then are the inner tfms freed (the crypto core frees a tfm's context,
 * the expanded key schedule, with kfree_sensitive()) and the material
 * wiped.  A request that passed hsmkey_key_enter() is counted until its
 * completion, so it never sees a freed inner tfm.  Batches (removal,
 * unload) mark every key first and share one grace period.
 *
 * A key keeps only the SHA-256 hash of its verifier: the verifier is a
 * password of sorts, and a memory disclosure of the table must not give
 * out tokens.
 *
 * Hibernation: between PM_HIBERNATION_PREPARE and its POST, insertions are
 * refused with -EAGAIN (hsmkey_keys_frozen, under the table lock), so no key reaches
 * the image that the notifier's check let through.
 *
 * Expiry and usage-limit events run from work items that exist only while
 * the key is in the table (HSMKEY_KEY_LINKED): they are armed after
 * insertion, never once the key is revoked, and removal cancels them
 * synchronously before it drops the table's reference.
 */
#include <crypto/aead.h>
#include <crypto/skcipher.h>
#include <crypto/algapi.h>
#include <linux/cred.h>
#include <linux/timekeeping.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/xarray.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "keys.h"
#include "events.h"

#define HSMKEY_KEY_LINKED	1	/* bit in flags: in the table */
#define HSMKEY_EXPIRY_RECHECK	60	/* seconds: bound on clock jumps */

struct hsmkey_stats hsmkey_stats;

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
static bool hsmkey_keys_frozen;		/* hibernating; table lock */
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

/* Requests in flight: the sum over CPUs (each alone may be negative). */
static long hsmkey_key_inflight(struct hsmkey_key *key)
{
	long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(*per_cpu_ptr(key->inflight, cpu));
	return sum;
}

static void hsmkey_key_expiry(struct work_struct *work);
static void hsmkey_key_limit(struct work_struct *work);

struct hsmkey_key *hsmkey_key_create(const struct hsmkey_kid *kid,
				     const char *name, u32 type,
				     const u8 *verifier, const u8 *material)
{
	struct hsmkey_policy policy;
	struct hsmkey_key *key;
	int err;

	if (!hsmkey_type_keylen(type))
		return ERR_PTR(-EINVAL);

	key = kzalloc(sizeof(*key), GFP_KERNEL);
	if (!key)
		return ERR_PTR(-ENOMEM);

	key->inflight = alloc_percpu(long);
	if (!key->inflight) {
		kfree(key);
		return ERR_PTR(-ENOMEM);
	}
	init_waitqueue_head(&key->drain);
	key->usage = alloc_percpu(struct hsmkey_usage);
	hsmkey_quota_init(&key->quota_bytes);
	hsmkey_quota_init(&key->quota_requests);
	key->kid = *kid;
	refcount_set(&key->ref, 1);
	mutex_init(&key->lock);
	INIT_DELAYED_WORK(&key->expiry, hsmkey_key_expiry);
	INIT_WORK(&key->limit_work, hsmkey_key_limit);
	key->state = HSMKEY_STATE_ACTIVE;
	key->type = type;
	strscpy(key->name, name, sizeof(key->name));
	sha256(verifier, HSMKEY_VERIFIER_LEN, key->verifier_hash);
	memcpy(key->material, material, hsmkey_type_keylen(type));

	hsmkey_policy_default(&policy, type);
	err = key->usage ? hsmkey_key_set_policy(key, &policy) : -ENOMEM;
	if (err) {
		hsmkey_key_revoke(key);
		hsmkey_key_put(key);
		return ERR_PTR(err);
	}
	return key;
}

/* Constant time: how much of the verifier matched must not show. */
bool hsmkey_key_verifier_ok(const struct hsmkey_key *key, const u8 *verifier)
{
	u8 hash[SHA256_DIGEST_SIZE];
	bool ok;

	sha256(verifier, HSMKEY_VERIFIER_LEN, hash);
	ok = !crypto_memneq(hash, key->verifier_hash, sizeof(hash));
	memzero_explicit(hash, sizeof(hash));
	return ok;
}

/*
 * Before insertion: count @spent as already used, so that limits (a GCM
 * key's 2^32 requests above all) hold across module reloads and reboots.
 * The caller sets the policy afterwards, which charges it to the quotas.
 */
void hsmkey_key_set_used(struct hsmkey_key *key,
			 const struct hsmkey_usage *spent)
{
	struct hsmkey_usage *u = per_cpu_ptr(key->usage, 0);

	u->bytes += spent->bytes;
	u->requests += spent->requests;
}

void hsmkey_key_usage(struct hsmkey_key *key, struct hsmkey_usage *out)
{
	int cpu;

	memset(out, 0, sizeof(*out));
	for_each_possible_cpu(cpu) {
		struct hsmkey_usage *u = per_cpu_ptr(key->usage, cpu);

		out->bytes += READ_ONCE(u->bytes);
		out->requests += READ_ONCE(u->requests);
	}
}

/* With key->lock held: (re)arm the expiry work if the key can expire. */
static void hsmkey_key_arm_expiry(struct hsmkey_key *key)
{
	time64_t left;

	lockdep_assert_held(&key->lock);
	if (!key->policy.not_after || key->state == HSMKEY_STATE_REVOKED ||
	    !test_bit(HSMKEY_KEY_LINKED, &key->flags))
		return;
	left = (time64_t)key->policy.not_after - ktime_get_real_seconds();
	left = clamp_t(time64_t, left, 0, HSMKEY_EXPIRY_RECHECK);
	mod_delayed_work(system_unbound_wq, &key->expiry, left * HZ);
}

static void hsmkey_key_expiry(struct work_struct *work)
{
	struct hsmkey_key *key = container_of(to_delayed_work(work),
					      struct hsmkey_key, expiry);
	bool expired;

	mutex_lock(&key->lock);
	expired = key->state != HSMKEY_STATE_REVOKED && key->policy.not_after &&
		  ktime_get_real_seconds() >= (time64_t)key->policy.not_after;
	if (!expired)
		hsmkey_key_arm_expiry(key);
	mutex_unlock(&key->lock);
	if (!expired)
		return;
	hsmkey_key_revoke(key);
	atomic64_inc(&hsmkey_stats.expiries);
	pr_info("key %s version %u expired: revoked\n", key->name,
		key->kid.version);
	hsmkey_event(HSMKEY_EVENT_EXPIRE, &key->kid, 0);
}

static void hsmkey_key_limit(struct work_struct *work)
{
	struct hsmkey_key *key = container_of(work, struct hsmkey_key,
					      limit_work);

	atomic64_inc(&hsmkey_stats.limits);
	hsmkey_event(HSMKEY_EVENT_LIMIT, &key->kid, 0);
}

/*
 * Replace the policy.  Usage counted so far stays counted against the new
 * limits.  Process context; callers serialise policy changes of one key
 * (genl_mutex, or a key not yet in the table).
 */
int hsmkey_key_set_policy(struct hsmkey_key *key,
			  const struct hsmkey_policy *policy)
{
	struct hsmkey_usage used;
	int err;

	hsmkey_key_usage(key, &used);
	mutex_lock(&key->lock);
	err = hsmkey_quota_set(&key->quota_bytes, policy->max_bytes,
			       used.bytes);
	if (!err)
		err = hsmkey_quota_set(&key->quota_requests,
				       policy->max_requests, used.requests);
	if (err) {
		/* Keep the old limits in force. */
		hsmkey_quota_set(&key->quota_bytes, key->policy.max_bytes,
				 used.bytes);
		goto out;
	}
	key->policy = *policy;
	/* Requests read it unlocked: a raised minimum stops short tags. */
	WRITE_ONCE(key->min_taglen, policy->min_taglen);
	clear_bit(HSMKEY_KEY_LIMIT_SENT, &key->flags);
	if (!policy->not_after)
		cancel_delayed_work(&key->expiry);
	hsmkey_key_arm_expiry(key);
out:
	mutex_unlock(&key->lock);
	return err;
}

bool hsmkey_key_charge(struct hsmkey_key *key, unsigned int bytes)
{
	if (!hsmkey_quota_charge(&key->quota_requests, 1))
		goto limit;
	if (!hsmkey_quota_charge(&key->quota_bytes, bytes)) {
		hsmkey_quota_refund(&key->quota_requests, 1);
		goto limit;
	}
	this_cpu_add(key->usage->bytes, bytes);
	this_cpu_inc(key->usage->requests);
	return true;

limit:
	if (!test_and_set_bit(HSMKEY_KEY_LIMIT_SENT, &key->flags))
		queue_work(system_unbound_wq, &key->limit_work);
	return false;
}

static void hsmkey_key_free_rcu(struct rcu_head *rcu)
{
	struct hsmkey_key *key = container_of(rcu, struct hsmkey_key, rcu);

	free_percpu(key->inflight);
	free_percpu(key->usage);
	hsmkey_quota_destroy(&key->quota_bytes);
	hsmkey_quota_destroy(&key->quota_requests);
	kfree_sensitive(key);
}

void hsmkey_key_put(struct hsmkey_key *key)
{
	if (key && refcount_dec_and_test(&key->ref)) {
		/* Revoke has freed them; a key is never freed while bound. */
		WARN_ON_ONCE(memchr_inv(&key->inner, 0, sizeof(key->inner)));
		call_rcu(&key->rcu, hsmkey_key_free_rcu);
	}
}

/* With the table lock held: link @key into both indexes. */
static int hsmkey_key_link(struct hsmkey_key *key)
{
	struct hsmkey_key *old;
	int err;

	lockdep_assert_held(&hsmkey_table_lock);
	err = xa_alloc(&hsmkey_xa, &key->index, key, xa_limit_32b, GFP_KERNEL);
	if (err)
		return err;
	old = rhashtable_lookup_get_insert_fast(&hsmkey_ht, &key->node,
						hsmkey_ht_params);
	if (old) {
		xa_erase(&hsmkey_xa, key->index);
		return IS_ERR(old) ? PTR_ERR(old) : -EEXIST;
	}
	mutex_lock(&key->lock);
	set_bit(HSMKEY_KEY_LINKED, &key->flags);
	hsmkey_key_arm_expiry(key);
	mutex_unlock(&key->lock);
	return 0;
}

/* With the table lock held: is @kid in the table, or in @keys before @n? */
static bool hsmkey_keys_taken(struct hsmkey_key **keys, unsigned int n,
			      const struct hsmkey_kid *kid)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!memcmp(&keys[i]->kid, kid, sizeof(*kid)))
			return true;
	return rhashtable_lookup_fast(&hsmkey_ht, kid, hsmkey_ht_params);
}

/*
 * Insert @n keys, all or none as far as it depends on the request: a
 * hibernation being prepared (-EAGAIN) or an id and version already
 * present (-EEXIST) is found before any key becomes visible.  Only an
 * allocation failure can leave *@inserted keys linked, which the caller
 * then removes.
 */
int hsmkey_keys_insert(struct hsmkey_key **keys, unsigned int n,
		       unsigned int *inserted)
{
	unsigned int i;
	int err = 0;

	*inserted = 0;
	mutex_lock(&hsmkey_table_lock);
	if (hsmkey_keys_frozen)
		err = -EAGAIN;
	for (i = 0; i < n && !err; i++) {
		rcu_read_lock();
		if (hsmkey_keys_taken(keys, i, &keys[i]->kid))
			err = -EEXIST;
		rcu_read_unlock();
	}
	for (i = 0; i < n && !err; i++) {
		err = hsmkey_key_link(keys[i]);
		if (!err)
			(*inserted)++;
	}
	mutex_unlock(&hsmkey_table_lock);
	return err;
}

int hsmkey_key_insert(struct hsmkey_key *key)
{
	unsigned int inserted;

	return hsmkey_keys_insert(&key, 1, &inserted);
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
	/* Active or disabled: both still take requests until now. */
	if (key->state != HSMKEY_STATE_REVOKED) {
		WRITE_ONCE(key->state, HSMKEY_STATE_REVOKED);
		WRITE_ONCE(key->dead, true);
	}
	mutex_unlock(&key->lock);
}

static void hsmkey_key_revoke_finish(struct hsmkey_key *key)
{
	int i;

	/* After the caller's grace period: only exits are left to wait for. */
	wait_event(key->drain, !hsmkey_key_inflight(key));

	mutex_lock(&key->lock);
	if (hsmkey_type_mode(key->type) == HSMKEY_MODE_GCM) {
		for (i = 0; i < HSMKEY_GCM_NTAGS; i++) {
			crypto_free_aead(key->inner.aead[i]);
			key->inner.aead[i] = NULL;
		}
	} else {
		crypto_free_skcipher(key->inner.skcipher);
		crypto_free_skcipher(key->inner.direct);
		key->inner.skcipher = NULL;
		key->inner.direct = NULL;
	}
	memzero_explicit(key->material, sizeof(key->material));
	mutex_unlock(&key->lock);
}

/*
 * When it returns, no request is in flight or can start.  An expedited
 * grace period: revoke is the emergency brake, and a normal one costs tens
 * of milliseconds.
 */
void hsmkey_key_revoke(struct hsmkey_key *key)
{
	hsmkey_key_revoke_start(key);
	synchronize_rcu_expedited();
	hsmkey_key_revoke_finish(key);
}

/*
 * Disable or enable: -EKEYREVOKED once revoked.  Bindings that exist keep
 * working either way.
 */
int hsmkey_key_set_state(struct hsmkey_key *key, u32 state)
{
	int err = 0;

	mutex_lock(&key->lock);
	if (key->state == HSMKEY_STATE_REVOKED)
		err = -EKEYREVOKED;
	else
		WRITE_ONCE(key->state, state);
	mutex_unlock(&key->lock);
	return err;
}

/*
 * With the table lock held, after revoke: stop the work items (revoked,
 * the key re-arms none) and drop the table's reference.
 */
static void hsmkey_key_unlink(struct hsmkey_key *key)
{
	lockdep_assert_held(&hsmkey_table_lock);
	clear_bit(HSMKEY_KEY_LINKED, &key->flags);
	cancel_delayed_work_sync(&key->expiry);
	cancel_work_sync(&key->limit_work);
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
	synchronize_rcu_expedited();
	mutex_lock(&hsmkey_table_lock);
	for (i = 0; i < n; i++) {
		hsmkey_key_revoke_finish(keys[i]);
		hsmkey_key_unlink(keys[i]);
		cond_resched();
	}
	mutex_unlock(&hsmkey_table_lock);
}

static bool hsmkey_in_egroup(kgid_t gid, void *arg)
{
	return in_egroup_p(gid);
}

/*
 * Called with a reference from hsmkey_key_lookup(), which becomes the
 * binding's reference on success.  The checks follow the errno table in
 * uapi/linux/hsmkey.h, against the credentials of the calling task.
 */
int hsmkey_key_bind(struct hsmkey_key *key, enum hsmkey_mode mode,
		    int (*prepare)(struct hsmkey_key *key, void *arg),
		    void *arg)
{
	const struct hsmkey_caller caller = {
		.euid = current_euid(),
		.in_group = hsmkey_in_egroup,
	};
	int err;

	mutex_lock(&key->lock);
	if (key->state == HSMKEY_STATE_REVOKED)
		err = -EKEYREVOKED;
	else if (key->state == HSMKEY_STATE_DISABLED)
		err = -EPERM;
	else if (hsmkey_type_mode(key->type) != mode)
		err = -EKEYREJECTED;
	else
		err = hsmkey_policy_check(&key->policy, mode,
					  ktime_get_real_seconds(),
					  atomic_read(&key->bindings), &caller);
	if (!err && (hsmkey_quota_used_up(&key->quota_requests) ||
		     hsmkey_quota_used_up(&key->quota_bytes)))
		err = -EDQUOT;
	if (!err)
		err = prepare(key, arg);
	if (!err) {
		atomic_inc(&key->bindings);
		atomic64_inc(&key->binds);
	} else {
		atomic64_inc(&key->denies);
	}
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

/*
 * Key versions in the table recorded as owned by keystore @owner; keys
 * added without an owner belong to the all-zero one, as the audit anchor
 * of a request without an owner does.
 */
unsigned int hsmkey_keys_of_owner(const u8 *owner)
{
	static const u8 none[HSMKEY_OWNER_LEN];
	struct hsmkey_key *key;
	unsigned long index;
	unsigned int n = 0;

	mutex_lock(&hsmkey_table_lock);
	xa_for_each(&hsmkey_xa, index, key)
		if (!memcmp(key->has_owner ? key->owner : none, owner,
			    HSMKEY_OWNER_LEN))
			n++;
	mutex_unlock(&hsmkey_table_lock);
	return n;
}

/*
 * Hibernation is about to write memory to disk: refuse it (-EBUSY) while
 * any key is loaded, else refuse insertions until hsmkey_keys_thaw().
 */
int hsmkey_keys_freeze(void)
{
	int err = 0;

	mutex_lock(&hsmkey_table_lock);
	if (hsmkey_keys_count())
		err = -EBUSY;
	else
		hsmkey_keys_frozen = true;
	mutex_unlock(&hsmkey_table_lock);
	return err;
}

void hsmkey_keys_thaw(void)
{
	mutex_lock(&hsmkey_table_lock);
	hsmkey_keys_frozen = false;
	mutex_unlock(&hsmkey_table_lock);
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
	/* Netlink is gone: nothing arms expiry any more. */
	xa_for_each(&hsmkey_xa, index, key) {
		hsmkey_key_revoke_start(key);
		cond_resched();
	}
	synchronize_rcu_expedited();
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
