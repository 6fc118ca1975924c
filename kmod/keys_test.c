// SPDX-License-Identifier: GPL-2.0
/* KUnit: the key table, at scale and under concurrent revocation. */
#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/random.h>
#include <linux/vmalloc.h>
#include "keys.h"

static struct hsmkey_key *keys_test_new(struct kunit *test, u32 n)
{
	u8 material[64], verifier[HSMKEY_VERIFIER_LEN] = {};
	struct hsmkey_key *key;
	struct hsmkey_kid kid = {};

	/* Ids distinct from every other test's random ones: a fixed prefix. */
	memcpy(kid.id, "kunit-keys-test", 15);
	kid.id[15] = 0x5a;
	kid.version = n + 1;
	memset(material, 0x11, 32);
	memset(material + 32, 0x22, 32);
	key = hsmkey_key_create(&kid, "kunit-keys", HSMKEY_TYPE_AES_256_XTS,
				verifier, material);
	KUNIT_ASSERT_FALSE(test, IS_ERR(key));
	return key;
}

static void keys_insert_lookup_remove(struct kunit *test)
{
	struct hsmkey_key *key = keys_test_new(test, 0), *dup, *found;
	u32 before = hsmkey_keys_count();

	KUNIT_ASSERT_EQ(test, hsmkey_key_insert(key), 0);
	KUNIT_EXPECT_EQ(test, hsmkey_keys_count(), before + 1);
	dup = keys_test_new(test, 0);
	KUNIT_EXPECT_EQ(test, hsmkey_key_insert(dup), -EEXIST);
	hsmkey_key_revoke(dup);
	hsmkey_key_put(dup);

	found = hsmkey_key_lookup(&key->kid);
	KUNIT_EXPECT_PTR_EQ(test, found, key);
	KUNIT_EXPECT_TRUE(test, hsmkey_key_enter(found));
	hsmkey_key_exit(found);
	hsmkey_keys_remove(&found, 1);
	KUNIT_EXPECT_FALSE(test, hsmkey_key_enter(found));
	KUNIT_EXPECT_EQ(test, READ_ONCE(found->state), (u32)HSMKEY_STATE_REVOKED);
	hsmkey_key_put(found);
	KUNIT_EXPECT_EQ(test, hsmkey_keys_count(), before);
	KUNIT_EXPECT_TRUE(test, !hsmkey_key_lookup(&key->kid));
}

/* Between hibernation's PREPARE and POST no key may enter the table. */
static void keys_frozen_for_hibernation(struct kunit *test)
{
	struct hsmkey_key *key = keys_test_new(test, 1), *found;

	KUNIT_ASSERT_EQ(test, hsmkey_keys_count(), 0U);
	KUNIT_ASSERT_EQ(test, hsmkey_keys_freeze(), 0);
	KUNIT_EXPECT_EQ(test, hsmkey_key_insert(key), -EAGAIN);
	KUNIT_EXPECT_EQ(test, hsmkey_keys_count(), 0U);
	hsmkey_keys_thaw();
	KUNIT_ASSERT_EQ(test, hsmkey_key_insert(key), 0);
	/* With a key loaded, hibernation itself is refused. */
	KUNIT_EXPECT_EQ(test, hsmkey_keys_freeze(), -EBUSY);
	found = hsmkey_key_lookup(&key->kid);
	KUNIT_ASSERT_PTR_EQ(test, found, key);
	hsmkey_keys_remove(&found, 1);
	hsmkey_key_put(found);
	KUNIT_EXPECT_EQ(test, hsmkey_keys_freeze(), 0);
	hsmkey_keys_thaw();
}

/* Usage spent in an earlier life counts against the limits at once. */
static void keys_spent_usage(struct kunit *test)
{
	struct hsmkey_usage spent = { .bytes = 4096, .requests = 10 }, used;
	struct hsmkey_policy policy = { .max_requests = 11 };
	struct hsmkey_key *key = keys_test_new(test, 2);

	hsmkey_key_set_used(key, &spent);
	KUNIT_ASSERT_EQ(test, hsmkey_key_set_policy(key, &policy), 0);
	hsmkey_key_usage(key, &used);
	KUNIT_EXPECT_EQ(test, used.requests, 10ULL);
	KUNIT_EXPECT_EQ(test, used.bytes, 4096ULL);
	KUNIT_EXPECT_TRUE(test, hsmkey_key_enter(key));
	KUNIT_EXPECT_TRUE(test, hsmkey_key_charge(key, 16));
	KUNIT_EXPECT_FALSE(test, hsmkey_key_charge(key, 16));
	hsmkey_key_exit(key);
	/* Not in the table: nothing else stops the LIMIT work. */
	cancel_work_sync(&key->limit_work);
	hsmkey_key_revoke(key);
	hsmkey_key_put(key);
}

/* Only the verifier's hash is kept, and only the verifier matches it. */
static void keys_verifier_hash(struct kunit *test)
{
	u8 verifier[HSMKEY_VERIFIER_LEN] = {};
	struct hsmkey_key *key = keys_test_new(test, 3);

	KUNIT_EXPECT_TRUE(test, hsmkey_key_verifier_ok(key, verifier));
	KUNIT_EXPECT_TRUE(test, memchr_inv(key->verifier_hash, 0,
					   sizeof(key->verifier_hash)) != NULL);
	verifier[31] = 1;
	KUNIT_EXPECT_FALSE(test, hsmkey_key_verifier_ok(key, verifier));
	hsmkey_key_revoke(key);
	hsmkey_key_put(key);
}

/*
 * Enough keys for the table to grow ten times (from 64 buckets to 65,536)
 * and shrink again on removal.  100,000, as make bench loads on the stock
 * kernel, took about 2 minutes here under KASAN and emulation.
 */
#define MANY 30000

static void keys_thirty_thousand(struct kunit *test)
{
	struct hsmkey_key **keys, *found;
	u32 before = hsmkey_keys_count();
	unsigned int i, misses = 0;

	keys = vmalloc(array_size(MANY, sizeof(*keys)));
	KUNIT_ASSERT_NOT_NULL(test, keys);
	/*
	 * Each loop yields as it goes: 30,000 steps on a debug kernel under
	 * emulation take half a minute, an RCU stall on a kernel without preemption.
	 */
	for (i = 0; i < MANY; i++) {
		keys[i] = keys_test_new(test, i);
		KUNIT_ASSERT_EQ(test, hsmkey_key_insert(keys[i]), 0);
		cond_resched();
	}
	KUNIT_EXPECT_EQ(test, hsmkey_keys_count(), before + MANY);
	for (i = 0; i < MANY; i++) {
		found = hsmkey_key_lookup(&keys[i]->kid);
		if (found != keys[i])
			misses++;
		hsmkey_key_put(found);
		cond_resched();
	}
	KUNIT_EXPECT_EQ_MSG(test, misses, 0U, "lookups that missed at %u keys", MANY);

	for (i = 0; i < MANY; i++) {
		refcount_inc(&keys[i]->ref);
		cond_resched();
	}
	hsmkey_keys_remove(keys, MANY);
	KUNIT_EXPECT_EQ(test, hsmkey_keys_count(), before);
	for (i = 0; i < MANY; i++) {
		if (hsmkey_key_lookup(&keys[i]->kid))
			misses++;
		hsmkey_key_put(keys[i]);
		cond_resched();
	}
	KUNIT_EXPECT_EQ_MSG(test, misses, 0U, "removed keys still found");
	vfree(keys);
}

#define RACE_KEYS 64

struct race {
	struct hsmkey_kid kids[RACE_KEYS];
	atomic_t entered;
	atomic_t late;		/* entered a key after its revoke returned */
	bool revoked[RACE_KEYS];
};

/* Look keys up and run "requests" on them while the test revokes them. */
static int race_worker(void *arg)
{
	struct race *r = arg;
	unsigned int i = 0;

	while (!kthread_should_stop()) {
		unsigned int k = i++ % RACE_KEYS;
		struct hsmkey_key *key = hsmkey_key_lookup(&r->kids[k]);
		/* Pairs with the release after revoke returned. */
		bool was_revoked = smp_load_acquire(&r->revoked[k]);

		if (key && hsmkey_key_enter(key)) {
			atomic_inc(&r->entered);
			if (was_revoked)
				atomic_inc(&r->late);
			hsmkey_key_exit(key);
		}
		hsmkey_key_put(key);
		cond_resched();
	}
	return 0;
}

static void keys_lookup_races_revoke(struct kunit *test)
{
	struct hsmkey_key *keys[RACE_KEYS];
	struct task_struct *workers[2];
	struct race *r;
	unsigned int i;

	r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, r);
	for (i = 0; i < RACE_KEYS; i++) {
		keys[i] = keys_test_new(test, 200000 + i);
		r->kids[i] = keys[i]->kid;
		KUNIT_ASSERT_EQ(test, hsmkey_key_insert(keys[i]), 0);
		refcount_inc(&keys[i]->ref);
	}
	for (i = 0; i < ARRAY_SIZE(workers); i++) {
		workers[i] = kthread_run(race_worker, r, "hsmkey-race/%u", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(workers[i]));
	}
	msleep(50);
	for (i = 0; i < RACE_KEYS; i++) {
		hsmkey_key_revoke(keys[i]);
		/* Pairs with the worker's acquire: revoke has returned. */
		smp_store_release(&r->revoked[i], true);
		usleep_range(200, 400);
	}
	msleep(50);
	for (i = 0; i < ARRAY_SIZE(workers); i++)
		kthread_stop(workers[i]);

	KUNIT_EXPECT_GT(test, atomic_read(&r->entered), 0);
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&r->late), 0,
			    "requests started after revoke returned");
	hsmkey_keys_remove(keys, RACE_KEYS);
	for (i = 0; i < RACE_KEYS; i++)
		hsmkey_key_put(keys[i]);
}

static struct kunit_case keys_test_cases[] = {
	KUNIT_CASE(keys_insert_lookup_remove),
	KUNIT_CASE(keys_frozen_for_hibernation),
	KUNIT_CASE(keys_spent_usage),
	KUNIT_CASE(keys_verifier_hash),
	KUNIT_CASE(keys_thirty_thousand),
	KUNIT_CASE(keys_lookup_races_revoke),
	{}
};

int hsmkey_kunit_suite_init(struct kunit_suite *suite)
{
	return hsmkey_keys_init();
}

void hsmkey_kunit_suite_exit(struct kunit_suite *suite)
{
	hsmkey_keys_exit();
}

static struct kunit_suite keys_test_suite = {
	.suite_init = hsmkey_kunit_suite_init,
	.suite_exit = hsmkey_kunit_suite_exit,
	.name = "hsmkey_keys",
	.test_cases = keys_test_cases,
};

kunit_test_suite(keys_test_suite);
