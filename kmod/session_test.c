// SPDX-License-Identifier: GPL-2.0
/* KUnit: kTLS session keys and their tokens. */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/cred.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/random.h>
#include <linux/hsmkey.h>
#include "compat.h"
#include "session.h"

static bool session_test_mine;

static int session_suite_init(struct kunit_suite *suite)
{
	if (hsmkey_session_ready())
		return 0;
	session_test_mine = true;
	return hsmkey_session_init();
}

static void session_suite_exit(struct kunit_suite *suite)
{
	if (session_test_mine)
		hsmkey_session_exit();
	session_test_mine = false;
}

static void session_test_exit(struct kunit *test)
{
	hsmkey_session_flush();
}

/* A fresh session key of @len bytes: its material and token. */
static void session_new(struct kunit *test, unsigned int len, unsigned int ttl,
			u8 *material, u8 *token)
{
	u32 handle = 0;

	get_random_bytes(material, len);
	KUNIT_ASSERT_EQ(test, hsmkey_session_add(material, len, ttl, token,
						 &handle), 0);
	KUNIT_EXPECT_NE(test, handle, 0U);
	KUNIT_EXPECT_EQ(test, memcmp(token, HSMKEY_SESSION_MAGIC, 4), 0);
	KUNIT_EXPECT_EQ(test, get_unaligned_be32(token + 4), handle);
}

/* hsmkey_session_take(), its entry (if taken) let go at once. */
static int session_take(const u8 *token, unsigned int len, u8 *out)
{
	struct hsmkey_session *bound = NULL;
	int taken = hsmkey_session_take(token, len, out, &bound);

	if (bound)
		hsmkey_session_unbind(bound);
	return taken;
}

static int session_state(const u8 *token)
{
	u64 records;

	return hsmkey_session_state(get_unaligned_be32(token + 4), &records);
}

/* Each form: taken once, with the key; then spent, and bound. */
static void session_once(struct kunit *test)
{
	static const unsigned int lens[] = { 16, 32 };
	struct hsmkey_session *bound[2];
	u8 material[32], token[32], out[32];
	unsigned int i, n;

	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		unsigned int len = lens[i];

		session_new(test, len, 10, material, token);
		KUNIT_EXPECT_TRUE(test, memcmp(token, material, len));
		memset(out, 0, sizeof(out));
		bound[i] = NULL;
		KUNIT_EXPECT_EQ(test, hsmkey_session_take(token, len, out,
							  &bound[i]), 1);
		KUNIT_ASSERT_NOT_NULL(test, bound[i]);
		KUNIT_EXPECT_EQ(test, memcmp(out, material, len), 0);
		KUNIT_EXPECT_EQ(test, session_take(token, len, out),
				-EKEYREVOKED);
		KUNIT_EXPECT_EQ(test, session_state(token),
				HSMKEY_SESSION_SPENT);
	}
	KUNIT_EXPECT_EQ(test, hsmkey_session_count(&n), 0U);
	KUNIT_EXPECT_EQ(test, n, 2U);
	/* Let go: out of the table. */
	hsmkey_session_unbind(bound[0]);
	hsmkey_session_unbind(bound[1]);
	KUNIT_EXPECT_EQ(test, hsmkey_session_count(&n), 0U);
	KUNIT_EXPECT_EQ(test, n, 0U);
	KUNIT_EXPECT_EQ(test, session_state(token), -ENOENT);
	KUNIT_EXPECT_EQ(test, session_take(token, 32, out), -EKEYREVOKED);
}

/* Bytes the module did not make are a raw key, and take nothing. */
static void session_raw(struct kunit *test)
{
	u8 material[32], token[32], bad[32], out[32];
	unsigned int i;

	session_new(test, 32, 10, material, token);
	/* Any byte of the magic, the handle or the MAC wrong. */
	for (i = 0; i < 32; i++) {
		memcpy(bad, token, 32);
		bad[i] ^= 0x40;
		KUNIT_EXPECT_EQ(test, session_take(bad, 32, out), 0);
	}
	/* The magic and a live handle, and random bytes after. */
	memcpy(bad, token, 8);
	get_random_bytes(bad + 8, 24);
	KUNIT_EXPECT_EQ(test, session_take(bad, 32, out), 0);
	/* The 32-byte token cut to 16 bytes. */
	KUNIT_EXPECT_EQ(test, session_take(token, 16, out), 0);
	/* No magic. */
	memcpy(bad, token, 32);
	bad[0] ^= 1;
	KUNIT_EXPECT_EQ(test, session_take(bad, 32, out), 0);
	/* Other lengths are never tokens. */
	KUNIT_EXPECT_EQ(test, session_take(token, 24, out), 0);
	/* None of it spent the key. */
	KUNIT_EXPECT_EQ(test, session_take(token, 32, out), 1);
	KUNIT_EXPECT_EQ(test, memcmp(out, material, 32), 0);
}

struct session_other {
	const u8 *token;
	int err;
	struct completion done;
};

static int session_other_fn(void *arg)
{
	struct session_other *o = arg;
	u8 out[32];

	o->err = session_take(o->token, 32, out);
	memzero_explicit(out, sizeof(out));
	complete(&o->done);
	return 0;
}

/* Another thread group: -EACCES, and the owner's token still works. */
static void session_owner(struct kunit *test)
{
	u8 material[32], token[32], out[32];
	struct session_other o = { .token = token, .err = 1 };
	struct task_struct *t;

	session_new(test, 32, 10, material, token);
	init_completion(&o.done);
	t = kthread_run(session_other_fn, &o, "hsmkey-session-test");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	wait_for_completion(&o.done);
	KUNIT_EXPECT_EQ(test, o.err, -EACCES);
	KUNIT_EXPECT_EQ(test, session_take(token, 32, out), 1);
	KUNIT_EXPECT_EQ(test, memcmp(out, material, 32), 0);
}

/*
 * Past its lifetime: -EKEYEXPIRED while in the table (the pruning work
 * held back), -EKEYREVOKED once pruned; never the key, never a raw key.
 */
static void session_expiry(struct kunit *test)
{
	u8 material[32], token[32], out[32];
	int i;

	session_new(test, 32, 1, material, token);
	hsmkey_session_prune_hold(true);
	msleep(1100);
	KUNIT_EXPECT_EQ(test, session_take(token, 32, out),
			-EKEYEXPIRED);
	KUNIT_EXPECT_EQ(test, session_state(token),
			HSMKEY_SESSION_WAITING);
	hsmkey_session_prune_hold(false);
	/*
	 * The prune runs each second; on a debug kernel under emulation its
	 * work item may run late, so wait for it (up to 10 s), not 1.1 s.
	 */
	for (i = 0; i < 100 && hsmkey_session_count(NULL); i++)
		msleep(100);
	KUNIT_EXPECT_EQ(test, hsmkey_session_count(NULL), 0U);
	KUNIT_EXPECT_EQ(test, session_state(token),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, session_take(token, 32, out),
			-EKEYREVOKED);
}

/* The daemon gone: its tokens are refused, not taken for raw keys. */
static void session_flush(struct kunit *test)
{
	u8 material[32], token[32], out[32];

	session_new(test, 16, 10, material, token);
	hsmkey_session_flush();
	KUNIT_EXPECT_EQ(test, hsmkey_session_count(NULL), 0U);
	KUNIT_EXPECT_EQ(test, session_take(token, 16, out),
			-EKEYREVOKED);
}

/* Handles never repeat in a load, also after a flush. */
static void session_handles(struct kunit *test)
{
	u8 material[32], token[32];
	u32 first, second;

	session_new(test, 32, 10, material, token);
	first = get_unaligned_be32(token + 4);
	hsmkey_session_flush();
	session_new(test, 32, 10, material, token);
	second = get_unaligned_be32(token + 4);
	KUNIT_EXPECT_GT(test, second, first);
}

/* Hibernation: refused with keys in the table; no adds while frozen. */
static void session_freeze(struct kunit *test)
{
	u8 material[32] = {}, token[32];
	u32 handle;

	session_new(test, 32, 10, material, token);
	KUNIT_EXPECT_EQ(test, hsmkey_session_freeze(), -EBUSY);
	KUNIT_EXPECT_EQ(test, hsmkey_session_add(material, 32, 10, token,
						 &handle), 0);
	hsmkey_session_flush();
	KUNIT_ASSERT_EQ(test, hsmkey_session_freeze(), 0);
	KUNIT_EXPECT_EQ(test, hsmkey_session_add(material, 32, 10, token,
						 &handle), -EAGAIN);
	hsmkey_session_thaw();
	KUNIT_EXPECT_EQ(test, hsmkey_session_add(material, 32, 10, token,
						 &handle), 0);
}

/* Bounds: lengths, lifetimes and the table's size. */
static void session_bounds(struct kunit *test)
{
	u8 material[32] = {}, token[32];
	u32 handle;
	unsigned int i;

	KUNIT_EXPECT_EQ(test, hsmkey_session_add(material, 24, 10, token,
						 &handle), -EINVAL);
	KUNIT_EXPECT_EQ(test, hsmkey_session_add(material, 32, 0, token,
						 &handle), -EINVAL);
	KUNIT_EXPECT_EQ(test, hsmkey_session_add(material, 32,
						 HSMKEY_SESSION_TTL_MAX + 1,
						 token, &handle), -EINVAL);
	for (i = 0; i < HSMKEY_SESSION_MAX; i++)
		KUNIT_ASSERT_EQ(test, hsmkey_session_add(material, 32, 10,
							 token, &handle), 0);
	KUNIT_EXPECT_EQ(test, hsmkey_session_add(material, 32, 10, token,
						 &handle), -ENOSPC);
	KUNIT_EXPECT_EQ(test, hsmkey_session_count(NULL), HSMKEY_SESSION_MAX);
}

/* Another euid in the owner's own thread group: -EACCES. */
static void session_euid(struct kunit *test)
{
	u8 material[32], token[32], out[32];
	const struct cred *old;
	struct cred *other;

	session_new(test, 32, 10, material, token);
	other = prepare_creds();
	KUNIT_ASSERT_NOT_NULL(test, other);
	other->euid = uid_eq(other->euid, GLOBAL_ROOT_UID) ?
		      KUIDT_INIT(65534) : GLOBAL_ROOT_UID;
	old = override_creds(other);
	KUNIT_EXPECT_EQ(test, session_take(token, 32, out), -EACCES);
	revert_creds(old);
	put_cred(other);
	KUNIT_EXPECT_EQ(test, session_take(token, 32, out), 1);
	KUNIT_EXPECT_EQ(test, memcmp(out, material, 32), 0);
}

/*
 * A spent key is bound to its taker: each use counted, refused once
 * revoked; and the daemon's close does not touch it.
 */
static void session_revoke_bound(struct kunit *test)
{
	u8 material[32], token[32], out[32];
	struct hsmkey_session *bound = NULL;
	u32 handle;
	u64 records = 0;

	session_new(test, 32, 10, material, token);
	handle = get_unaligned_be32(token + 4);
	KUNIT_ASSERT_EQ(test, hsmkey_session_take(token, 32, out, &bound), 1);
	KUNIT_EXPECT_EQ(test, hsmkey_session_use(bound), 0);
	KUNIT_EXPECT_EQ(test, hsmkey_session_use(bound), 0);
	hsmkey_session_flush();
	KUNIT_EXPECT_EQ(test, hsmkey_session_state(handle, &records),
			HSMKEY_SESSION_SPENT);
	KUNIT_EXPECT_EQ(test, records, 2ULL);
	KUNIT_EXPECT_EQ(test, hsmkey_session_use(bound), 0);
	KUNIT_EXPECT_EQ(test, hsmkey_session_revoke(handle), 0);
	KUNIT_EXPECT_EQ(test, hsmkey_session_use(bound), -EKEYREVOKED);
	KUNIT_EXPECT_EQ(test, hsmkey_session_state(handle, &records),
			HSMKEY_SESSION_REVOKED);
	KUNIT_EXPECT_EQ(test, hsmkey_session_revoke(handle), 0);
	hsmkey_session_unbind(bound);
	KUNIT_EXPECT_EQ(test, hsmkey_session_state(handle, &records), -ENOENT);
	KUNIT_EXPECT_EQ(test, hsmkey_session_revoke(handle), -ENOENT);
}

/* A waiting key revoked is withdrawn: its token refused, not a raw key. */
static void session_revoke_waiting(struct kunit *test)
{
	u8 material[32], token[32], out[32];

	session_new(test, 16, 10, material, token);
	KUNIT_EXPECT_EQ(test, hsmkey_session_revoke(get_unaligned_be32(token + 4)),
			0);
	KUNIT_EXPECT_EQ(test, hsmkey_session_count(NULL), 0U);
	KUNIT_EXPECT_EQ(test, session_take(token, 16, out), -EKEYREVOKED);
}

/* RFC 8446's limit: request HSMKEY_SESSION_RECORDS_MAX goes, the next not. */
static void session_record_limit(struct kunit *test)
{
	u8 material[32], token[32], out[32];
	struct hsmkey_session *bound = NULL;

	session_new(test, 32, 10, material, token);
	KUNIT_ASSERT_EQ(test, hsmkey_session_take(token, 32, out, &bound), 1);
	hsmkey_session_records_set(bound, HSMKEY_SESSION_RECORDS_MAX - 1);
	KUNIT_EXPECT_EQ(test, hsmkey_session_use(bound), 0);
	KUNIT_EXPECT_EQ(test, hsmkey_session_use(bound), -EKEYEXPIRED);
	KUNIT_EXPECT_EQ(test, hsmkey_session_use(bound), -EKEYEXPIRED);
	hsmkey_session_unbind(bound);
}

static struct kunit_case session_test_cases[] = {
	KUNIT_CASE(session_once),
	KUNIT_CASE(session_raw),
	KUNIT_CASE(session_owner),
	KUNIT_CASE(session_expiry),
	KUNIT_CASE(session_flush),
	KUNIT_CASE(session_handles),
	KUNIT_CASE(session_freeze),
	KUNIT_CASE(session_bounds),
	KUNIT_CASE(session_euid),
	KUNIT_CASE(session_revoke_bound),
	KUNIT_CASE(session_revoke_waiting),
	KUNIT_CASE(session_record_limit),
	{}
};

static struct kunit_suite session_test_suite = {
	.suite_init = session_suite_init,
	.suite_exit = session_suite_exit,
	.exit = session_test_exit,
	.name = "hsmkey_session",
	.test_cases = session_test_cases,
};

kunit_test_suite(session_test_suite);
