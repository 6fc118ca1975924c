// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: policy evaluation (every rule, allowed and denied, in the order
 * of the uapi errno table) and validation of policy attributes.
 */
#include <kunit/test.h>
#include <linux/skbuff.h>
#include "policy.h"

#define NOW	1800000000LL

struct caller_ids {
	u32 uid;
	u32 gids[2];
};

static bool test_in_group(kgid_t gid, void *arg)
{
	const struct caller_ids *ids = arg;

	return gid_eq(gid, KGIDT_INIT(ids->gids[0])) ||
	       gid_eq(gid, KGIDT_INIT(ids->gids[1]));
}

struct eval_case {
	const char *name;
	struct hsmkey_policy policy;
	enum hsmkey_mode mode;
	time64_t now;
	unsigned int bindings;
	struct caller_ids caller;
	int err;
};

static const struct eval_case eval_cases[] = {
	{ "empty policy allows anyone", {}, HSMKEY_MODE_XTS, NOW, 0,
	  { 1000, { 1000, 1000 } }, 0 },
	{ "allowed algorithm", { .algs = HSMKEY_ALG_XTS }, HSMKEY_MODE_XTS,
	  NOW, 0, { 0 }, 0 },
	{ "algorithm not allowed", { .algs = HSMKEY_ALG_CBC },
	  HSMKEY_MODE_XTS, NOW, 0, { 0 }, -EKEYREJECTED },
	{ "inside validity window", { .not_before = NOW - 1,
	  .not_after = NOW + 1 }, HSMKEY_MODE_XTS, NOW, 0, { 0 }, 0 },
	{ "before not-before", { .not_before = NOW + 1 }, HSMKEY_MODE_XTS,
	  NOW, 0, { 0 }, -EKEYEXPIRED },
	{ "at not-after", { .not_after = NOW }, HSMKEY_MODE_XTS, NOW, 0,
	  { 0 }, -EKEYEXPIRED },
	{ "uid allowed", { .nuids = 2, .uids = { 7, 1000 } }, HSMKEY_MODE_CBC,
	  NOW, 0, { 1000, { 5, 5 } }, 0 },
	{ "uid not allowed", { .nuids = 1, .uids = { 7 } }, HSMKEY_MODE_CBC,
	  NOW, 0, { 1000, { 1000, 1000 } }, -EACCES },
	{ "supplementary group allowed", { .nuids = 1, .uids = { 7 },
	  .ngids = 1, .gids = { 44 } }, HSMKEY_MODE_CBC, NOW, 0,
	  { 1000, { 1000, 44 } }, 0 },
	{ "group not allowed", { .ngids = 1, .gids = { 44 } },
	  HSMKEY_MODE_CBC, NOW, 0, { 1000, { 1000, 45 } }, -EACCES },
	{ "below the bindings cap", { .max_bindings = 2 }, HSMKEY_MODE_GCM,
	  NOW, 1, { 0 }, 0 },
	{ "at the bindings cap", { .max_bindings = 2 }, HSMKEY_MODE_GCM,
	  NOW, 2, { 0 }, -EUSERS },
	{ "algorithm is checked before time", { .algs = HSMKEY_ALG_GCM,
	  .not_after = 1 }, HSMKEY_MODE_XTS, NOW, 0, { 0 }, -EKEYREJECTED },
	{ "time is checked before the caller", { .not_after = 1, .nuids = 1,
	  .uids = { 7 } }, HSMKEY_MODE_XTS, NOW, 0, { 0 }, -EKEYEXPIRED },
	{ "caller is checked before the cap", { .nuids = 1, .uids = { 7 },
	  .max_bindings = 1 }, HSMKEY_MODE_XTS, NOW, 1, { 0 }, -EACCES },
};

static void eval_desc(const struct eval_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(eval, eval_cases, eval_desc);

static void policy_eval_case(struct kunit *test)
{
	const struct eval_case *c = test->param_value;
	struct caller_ids ids = c->caller;
	struct hsmkey_caller caller = {
		.euid = KUIDT_INIT(c->caller.uid),
		.in_group = test_in_group,
		.arg = &ids,
	};

	KUNIT_EXPECT_EQ_MSG(test, hsmkey_policy_check(&c->policy, c->mode,
						      c->now, c->bindings,
						      &caller),
			    c->err, "case: %s", c->name);
}

/* Attribute validation: a policy nest built by @build, parsed for @type. */
struct parse_case {
	const char *name;
	u32 type;
	int (*build)(struct sk_buff *skb);
	int err;			/* 0, or "< 0" when 1 */
	u64 max_requests;		/* expected when accepted */
	u32 min_taglen;			/* expected when accepted */
};

static int build_empty(struct sk_buff *skb)
{
	return 0;
}

static int build_full(struct sk_buff *skb)
{
	u32 ids[3] = { 0, 1000, 1001 };

	return nla_put(skb, HSMKEY_POLICY_A_UIDS, sizeof(ids), ids) ?:
	       nla_put(skb, HSMKEY_POLICY_A_GIDS, 4, ids) ?:
	       nla_put_u32(skb, HSMKEY_POLICY_A_ALGS, HSMKEY_ALG_XTS) ?:
	       nla_put_u64_64bit(skb, HSMKEY_POLICY_A_NOT_BEFORE, 10, HSMKEY_POLICY_A_PAD) ?:
	       nla_put_u64_64bit(skb, HSMKEY_POLICY_A_NOT_AFTER, 20, HSMKEY_POLICY_A_PAD) ?:
	       nla_put_u64_64bit(skb, HSMKEY_POLICY_A_MAX_REQUESTS, 99, HSMKEY_POLICY_A_PAD) ?:
	       nla_put_u32(skb, HSMKEY_POLICY_A_MAX_BINDINGS, 3);
}

static int build_ids_odd(struct sk_buff *skb)
{
	return nla_put(skb, HSMKEY_POLICY_A_UIDS, 6, "\0\0\0\0\0");
}

static int build_ids_many(struct sk_buff *skb)
{
	u32 ids[HSMKEY_POLICY_IDS_MAX + 1] = {};

	return nla_put(skb, HSMKEY_POLICY_A_GIDS, sizeof(ids), ids);
}

static int build_algs_unknown(struct sk_buff *skb)
{
	return nla_put_u32(skb, HSMKEY_POLICY_A_ALGS, 1U << 3);
}

static int build_window_inverted(struct sk_buff *skb)
{
	return nla_put_u64_64bit(skb, HSMKEY_POLICY_A_NOT_BEFORE, 20, HSMKEY_POLICY_A_PAD) ?:
	       nla_put_u64_64bit(skb, HSMKEY_POLICY_A_NOT_AFTER, 10, HSMKEY_POLICY_A_PAD);
}

static int build_gcm_too_many(struct sk_buff *skb)
{
	return nla_put_u64_64bit(skb, HSMKEY_POLICY_A_MAX_REQUESTS,
				 HSMKEY_GCM_MAX_REQUESTS + 1, HSMKEY_POLICY_A_PAD);
}

static int build_gcm_fewer(struct sk_buff *skb)
{
	return nla_put_u64_64bit(skb, HSMKEY_POLICY_A_MAX_REQUESTS, 1000,
				 HSMKEY_POLICY_A_PAD);
}

static int build_short_u64(struct sk_buff *skb)
{
	return nla_put_u32(skb, HSMKEY_POLICY_A_NOT_AFTER, 5);
}

static int build_pad(struct sk_buff *skb)
{
	return nla_put_u32(skb, HSMKEY_POLICY_A_PAD, 0);
}

static int build_unknown(struct sk_buff *skb)
{
	return nla_put_u32(skb, HSMKEY_POLICY_A_MAX + 1, 0);
}

static int build_uids_empty(struct sk_buff *skb)
{
	return nla_put(skb, HSMKEY_POLICY_A_UIDS, 0, NULL);
}

static int build_gids_empty(struct sk_buff *skb)
{
	return nla_put(skb, HSMKEY_POLICY_A_GIDS, 0, NULL);
}

static int build_time_max(struct sk_buff *skb)
{
	return nla_put_u64_64bit(skb, HSMKEY_POLICY_A_NOT_AFTER,
				 HSMKEY_TIME_MAX, HSMKEY_POLICY_A_PAD);
}

static int build_time_wraps(struct sk_buff *skb)
{
	return nla_put_u64_64bit(skb, HSMKEY_POLICY_A_NOT_AFTER, U64_MAX,
				 HSMKEY_POLICY_A_PAD);
}

static int build_time_past_max(struct sk_buff *skb)
{
	return nla_put_u64_64bit(skb, HSMKEY_POLICY_A_NOT_BEFORE,
				 HSMKEY_TIME_MAX + 1, HSMKEY_POLICY_A_PAD);
}

static int build_taglen_8(struct sk_buff *skb)
{
	return nla_put_u32(skb, HSMKEY_POLICY_A_MIN_TAGLEN, 8);
}

static int build_taglen_3(struct sk_buff *skb)
{
	return nla_put_u32(skb, HSMKEY_POLICY_A_MIN_TAGLEN, 3);
}

static int build_taglen_17(struct sk_buff *skb)
{
	return nla_put_u32(skb, HSMKEY_POLICY_A_MIN_TAGLEN, 17);
}

static const struct parse_case parse_cases[] = {
	{ "empty XTS policy: no limits", HSMKEY_TYPE_AES_256_XTS, build_empty, 0, 0 },
	{ "empty GCM policy: 2^32 requests, 16-byte tags",
	  HSMKEY_TYPE_AES_128_GCM, build_empty, 0, HSMKEY_GCM_MAX_REQUESTS,
	  HSMKEY_GCM_MIN_TAGLEN },
	{ "every attribute", HSMKEY_TYPE_AES_256_XTS, build_full, 0, 99 },
	{ "GCM limit below 2^32 kept", HSMKEY_TYPE_AES_256_GCM, build_gcm_fewer, 0, 1000,
	  HSMKEY_GCM_MIN_TAGLEN },
	{ "id list of 6 bytes", HSMKEY_TYPE_AES_256_XTS, build_ids_odd, 1 },
	{ "17 gids", HSMKEY_TYPE_AES_256_XTS, build_ids_many, 1 },
	{ "unknown algorithm bit", HSMKEY_TYPE_AES_256_XTS, build_algs_unknown, 1 },
	{ "not-after before not-before", HSMKEY_TYPE_AES_256_XTS, build_window_inverted, 1 },
	{ "GCM limit over 2^32", HSMKEY_TYPE_AES_256_GCM, build_gcm_too_many, 1 },
	{ "u64 sent as u32", HSMKEY_TYPE_AES_256_XTS, build_short_u64, 1 },
	{ "pad attribute", HSMKEY_TYPE_AES_256_XTS, build_pad, 1 },
	{ "unknown attribute", HSMKEY_TYPE_AES_256_XTS, build_unknown, 1 },
	{ "empty uid list (would allow everyone)", HSMKEY_TYPE_AES_256_XTS,
	  build_uids_empty, 1 },
	{ "empty gid list (would allow everyone)", HSMKEY_TYPE_AES_256_XTS,
	  build_gids_empty, 1 },
	{ "not-after at the time bound", HSMKEY_TYPE_AES_256_XTS,
	  build_time_max, 0, 0 },
	{ "not-after U64_MAX (negative as time64_t)", HSMKEY_TYPE_AES_256_XTS,
	  build_time_wraps, 1 },
	{ "not-before past the time bound", HSMKEY_TYPE_AES_256_XTS,
	  build_time_past_max, 1 },
	{ "GCM minimum tag 8", HSMKEY_TYPE_AES_128_GCM, build_taglen_8, 0,
	  HSMKEY_GCM_MAX_REQUESTS, 8 },
	{ "GCM minimum tag 3", HSMKEY_TYPE_AES_128_GCM, build_taglen_3, 1 },
	{ "GCM minimum tag 17", HSMKEY_TYPE_AES_128_GCM, build_taglen_17, 1 },
	{ "minimum tag on an XTS key", HSMKEY_TYPE_AES_256_XTS, build_taglen_8, 1 },
};

static void parse_desc(const struct parse_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(parse, parse_cases, parse_desc);

static void policy_parse_case(struct kunit *test)
{
	const struct parse_case *c = test->param_value;
	struct netlink_ext_ack extack = {};
	struct hsmkey_policy p;
	struct sk_buff *skb;
	struct nlattr *nest;
	int err;

	skb = alloc_skb(NLMSG_GOODSIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, skb);
	nest = nla_nest_start(skb, HSMKEY_KEY_A_POLICY);
	KUNIT_ASSERT_NOT_NULL(test, nest);
	KUNIT_ASSERT_EQ(test, c->build(skb), 0);
	nla_nest_end(skb, nest);

	memset(&p, 0x5a, sizeof(p));
	err = hsmkey_policy_parse(nest, c->type, &p, &extack);
	if (c->err) {
		KUNIT_EXPECT_LT_MSG(test, err, 0, "case: %s", c->name);
		KUNIT_EXPECT_TRUE_MSG(test, extack._msg || extack.bad_attr,
				      "case %s: no extack", c->name);
		/* Nothing changed. */
		KUNIT_EXPECT_EQ(test, p.nuids, 0x5a5a5a5aU);
	} else {
		KUNIT_EXPECT_EQ_MSG(test, err, 0, "case: %s", c->name);
		KUNIT_EXPECT_EQ(test, p.max_requests, c->max_requests);
		KUNIT_EXPECT_EQ_MSG(test, p.min_taglen, c->min_taglen,
				    "case: %s", c->name);
	}
	if (c->build == build_full && !err) {
		KUNIT_EXPECT_EQ(test, p.nuids, 3U);
		KUNIT_EXPECT_EQ(test, p.uids[2], 1001U);
		KUNIT_EXPECT_EQ(test, p.ngids, 1U);
		KUNIT_EXPECT_EQ(test, p.algs, (u32)HSMKEY_ALG_XTS);
		KUNIT_EXPECT_EQ(test, p.not_before, 10ULL);
		KUNIT_EXPECT_EQ(test, p.not_after, 20ULL);
		KUNIT_EXPECT_EQ(test, p.max_bytes, 0ULL);
		KUNIT_EXPECT_EQ(test, p.max_bindings, 3U);
	}
	kfree_skb(skb);
}

static struct kunit_case policy_test_cases[] = {
	KUNIT_CASE_PARAM(policy_eval_case, eval_gen_params),
	KUNIT_CASE_PARAM(policy_parse_case, parse_gen_params),
	{}
};

static struct kunit_suite policy_test_suite = {
	.name = "hsmkey_policy",
	.test_cases = policy_test_cases,
};

kunit_test_suite(policy_test_suite);
