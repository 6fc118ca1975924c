// SPDX-License-Identifier: GPL-2.0
/*
 * The KMS API's GCM invocation accounting (daemon/kms_keys.c), against a
 * key store of the test's own that records what was reserved: a block is
 * reserved before the first encryption, the next when it is spent, never
 * below what is stored; a version stops at 2^32; a caller with an older
 * version than one seen is told to look again; a count raised in the
 * store by someone else (a KMIP server's, kmip/spent.c) is all spent, seen
 * before or after a reservation; and a blob's key id is found among the
 * keys remembered, never by a walk of the store.
 */
#include <errno.h>
#include <string.h>
#include "backend.h"
#include "control.h"
#include "kms_keys.h"
#include "kselftest_harness.h"

struct fake {
	struct backend_ops ops;
	uint64_t stored;		/* used_requests of the last set_usage */
	uint64_t raise_to;		/* a count someone else stores meanwhile */
	int usage_calls, list_calls, fail_usage;
	struct ks_key listed;
};

static struct fake fake;

static int fake_set_usage(struct backend *b, const char *name, uint32_t version,
			  uint64_t bytes, uint64_t requests)
{
	(void)b, (void)name, (void)version, (void)bytes;
	fake.usage_calls++;
	if (fake.fail_usage)
		return -EIO;
	if (requests > fake.stored)
		fake.stored = requests;
	if (fake.raise_to > fake.stored)
		fake.stored = fake.raise_to;
	return 0;
}

/* The stored version, as ->get() without unsealing reads it. */
static int fake_get(struct backend *b, const char *name, uint32_t version, bool unseal,
		    struct ks_key *out)
{
	(void)b, (void)unseal;
	memset(out, 0, sizeof(*out));
	strcpy(out->name, name);
	memset(out->id, 0xa5, sizeof(out->id));
	out->version = version;
	out->used_requests = fake.stored;
	return 0;
}

static int fake_list(struct backend *b, const char *after,
		     int (*fn)(const struct ks_key *key, void *arg), void *arg)
{
	(void)b, (void)after;
	fake.list_calls++;
	return fn(&fake.listed, arg);
}

static struct backend be = { .ops = &fake.ops };

FIXTURE(kms) {
	struct daemon d;
	struct ks_key meta;
};

FIXTURE_SETUP(kms)
{
	memset(&fake, 0, sizeof(fake));
	fake.ops.set_usage = fake_set_usage;
	fake.ops.list = fake_list;
	fake.ops.get = fake_get;
	memset(&self->d, 0, sizeof(self->d));
	pthread_mutex_init(&self->d.mutate, NULL);
	self->d.be = &be;
	self->d.kms = kms_keys_new();
	ASSERT_NE(NULL, self->d.kms);
	memset(&self->meta, 0, sizeof(self->meta));
	strcpy(self->meta.name, "k");
	self->meta.type = KS_TYPE_KMS_AES_256;
	memset(self->meta.id, 0xa5, sizeof(self->meta.id));
	self->meta.version = 1;
	self->meta.current = 1;
}

FIXTURE_TEARDOWN(kms)
{
	kms_keys_free(self->d.kms);
	pthread_mutex_destroy(&self->d.mutate);
}

TEST_F(kms, the_first_encryption_reserves_a_block)
{
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(KMS_RESERVE, fake.stored);
	EXPECT_EQ(1, fake.usage_calls);
}

TEST_F(kms, a_block_spent_reserves_the_next_once)
{
	for (uint64_t i = 0; i < KMS_RESERVE; i++)
		ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(1, fake.usage_calls);
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(2 * KMS_RESERVE, fake.stored);
	EXPECT_EQ(2, fake.usage_calls);
}

TEST_F(kms, what_the_store_reserved_before_is_not_spent_again)
{
	/* A restart: the store says a block was reserved; it may all be spent. */
	self->meta.used_requests = 5 * KMS_RESERVE;
	fake.stored = 5 * KMS_RESERVE;
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(6 * KMS_RESERVE, fake.stored);
}

/* Seen in the version a call read: the next call reserves past it. */
TEST_F(kms, a_count_raised_elsewhere_is_all_spent)
{
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(KMS_RESERVE, fake.stored);
	fake.stored = 10 * KMS_RESERVE;		/* a KMIP server's count, taken */
	self->meta.used_requests = fake.stored;
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(11 * KMS_RESERVE, fake.stored);
	EXPECT_EQ(2, fake.usage_calls);
}

/* Seen only when the reservation is read back: reserved again past it. */
TEST_F(kms, a_count_raised_while_reserving_is_all_spent)
{
	fake.raise_to = 10 * KMS_RESERVE;
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(11 * KMS_RESERVE, fake.stored);
	EXPECT_EQ(2, fake.usage_calls);
}

TEST_F(kms, a_version_stops_at_two_to_the_32)
{
	self->meta.used_requests = KMS_INVOCATIONS_MAX - 2;
	fake.stored = self->meta.used_requests;
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(KMS_INVOCATIONS_MAX, fake.stored);
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(-EKEYEXPIRED, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(-EKEYEXPIRED, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(KMS_INVOCATIONS_MAX, fake.stored);
}

TEST_F(kms, a_new_version_counts_afresh_and_an_older_one_is_stale)
{
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	self->meta.version = 2;
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(2, fake.usage_calls);
	self->meta.version = 1;
	EXPECT_EQ(-ESTALE, kms_keys_spend(&self->d, &self->meta));
}

TEST_F(kms, a_reservation_the_store_refuses_spends_nothing)
{
	fake.fail_usage = 1;
	EXPECT_EQ(-EIO, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(-EIO, kms_keys_spend(&self->d, &self->meta));
	fake.fail_usage = 0;
	ASSERT_EQ(0, kms_keys_spend(&self->d, &self->meta));
	EXPECT_EQ(KMS_RESERVE, fake.stored);
}

TEST_F(kms, an_id_is_found_once_remembered_and_never_by_a_walk)
{
	char name[HSMKEY_NAME_MAX];
	uint8_t unknown[HSMKEY_ID_LEN];

	memset(unknown, 0x5a, sizeof(unknown));
	EXPECT_EQ(-ENOENT, kms_keys_name(&self->d, self->meta.id, name));
	for (int i = 0; i < 100; i++)
		EXPECT_EQ(-ENOENT, kms_keys_name(&self->d, unknown, name));
	EXPECT_EQ(0, fake.list_calls);		/* a blob's id never walks the store */
	kms_keys_remember(&self->d, &self->meta);
	ASSERT_EQ(0, kms_keys_name(&self->d, self->meta.id, name));
	EXPECT_STREQ("k", name);
}

static bool keeps_no_daemon_keys(int type)
{
	return !ks_type_daemon(type);
}

TEST_F(kms, the_fill_remembers_kms_keys_only)
{
	char name[HSMKEY_NAME_MAX];

	fake.ops.keeps = NULL;			/* every type */
	fake.listed = self->meta;
	kms_keys_fill(&self->d);
	EXPECT_EQ(1, fake.list_calls);
	ASSERT_EQ(0, kms_keys_name(&self->d, self->meta.id, name));
	fake.listed.type = HSMKEY_TYPE_AES_256_XTS;
	memset(fake.listed.id, 0x11, sizeof(fake.listed.id));
	kms_keys_fill(&self->d);
	EXPECT_EQ(-ENOENT, kms_keys_name(&self->d, fake.listed.id, name));
	fake.ops.keeps = keeps_no_daemon_keys;	/* a storage that keeps no KMS keys: no walk */
	kms_keys_fill(&self->d);
	EXPECT_EQ(2, fake.list_calls);
}

TEST_HARNESS_MAIN
