// SPDX-License-Identifier: GPL-2.0
/* KUnit: usage limits are exact, alone and under concurrent charging. */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/kthread.h>
#include "quota.h"

static void quota_requests_exact(struct kunit *test)
{
	struct hsmkey_quota q;
	unsigned int i, ok = 0;

	hsmkey_quota_init(&q);
	KUNIT_EXPECT_TRUE(test, hsmkey_quota_charge(&q, 1)); /* no limit */
	KUNIT_ASSERT_EQ(test, hsmkey_quota_set(&q, 1000, 0), 0);
	for (i = 0; i < 1100; i++)
		ok += hsmkey_quota_charge(&q, 1);
	KUNIT_EXPECT_EQ(test, ok, 1000U);
	KUNIT_EXPECT_TRUE(test, hsmkey_quota_used_up(&q));
	/* A higher limit with the usage carried over allows the difference. */
	KUNIT_ASSERT_EQ(test, hsmkey_quota_set(&q, 1010, 1000), 0);
	for (i = 0, ok = 0; i < 20; i++)
		ok += hsmkey_quota_charge(&q, 1);
	KUNIT_EXPECT_EQ(test, ok, 10U);
	KUNIT_ASSERT_EQ(test, hsmkey_quota_set(&q, 0, 0), 0);
	KUNIT_EXPECT_TRUE(test, hsmkey_quota_charge(&q, 1 << 30));
	hsmkey_quota_destroy(&q);
}

static void quota_bytes_exact(struct kunit *test)
{
	struct hsmkey_quota q;

	hsmkey_quota_init(&q);
	KUNIT_ASSERT_EQ(test, hsmkey_quota_set(&q, 10000, 0), 0);
	KUNIT_EXPECT_TRUE(test, hsmkey_quota_charge(&q, 4096));
	KUNIT_EXPECT_TRUE(test, hsmkey_quota_charge(&q, 4096));
	KUNIT_EXPECT_FALSE(test, hsmkey_quota_charge(&q, 4096));
	KUNIT_EXPECT_FALSE(test, hsmkey_quota_charge(&q, 1809));
	KUNIT_EXPECT_TRUE(test, hsmkey_quota_charge(&q, 1808));
	KUNIT_EXPECT_FALSE(test, hsmkey_quota_charge(&q, 1));
	KUNIT_EXPECT_FALSE(test, hsmkey_quota_charge(&q, 20000));
	hsmkey_quota_destroy(&q);
}

#define CHARGERS 4
#define LIMIT 200000

struct charger {
	struct hsmkey_quota *q;
	unsigned long ok;
	struct completion done;
};

static int quota_charger(void *arg)
{
	struct charger *c = arg;

	while (hsmkey_quota_charge(c->q, 1)) {
		c->ok++;
		if (!(c->ok & 1023))
			cond_resched();
	}
	complete(&c->done);
	return 0;
}

static void quota_concurrent_exact(struct kunit *test)
{
	struct charger c[CHARGERS];
	struct hsmkey_quota q;
	unsigned long total = 0;
	int i;

	hsmkey_quota_init(&q);
	KUNIT_ASSERT_EQ(test, hsmkey_quota_set(&q, LIMIT, 0), 0);
	for (i = 0; i < CHARGERS; i++) {
		struct task_struct *t;

		c[i].q = &q;
		c[i].ok = 0;
		init_completion(&c[i].done);
		t = kthread_create(quota_charger, &c[i], "hsmkey-quota/%d", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(t));
		kthread_bind(t, i % num_online_cpus());
		wake_up_process(t);
	}
	for (i = 0; i < CHARGERS; i++) {
		wait_for_completion(&c[i].done);
		total += c[i].ok;
	}
	/* Never more than the limit, and no credit stranded on a CPU. */
	KUNIT_EXPECT_EQ(test, total, (unsigned long)LIMIT);
	hsmkey_quota_destroy(&q);
}

static struct kunit_case quota_test_cases[] = {
	KUNIT_CASE(quota_requests_exact),
	KUNIT_CASE(quota_bytes_exact),
	KUNIT_CASE(quota_concurrent_exact),
	{}
};

static struct kunit_suite quota_test_suite = {
	.name = "hsmkey_quota",
	.test_cases = quota_test_cases,
};

kunit_test_suite(quota_test_suite);
