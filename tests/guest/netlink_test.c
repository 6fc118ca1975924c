// SPDX-License-Identifier: GPL-2.0
/* The "hsmkey" generic netlink family: add, get, dump, revoke, permissions,
 * and malformed messages, which must be refused and change nothing. */
#include <unistd.h>
#include "nltest.h"
#include "kselftest_harness.h"

FIXTURE(nl) {
	struct nlt t;
	struct nlt_key k;
};

FIXTURE_SETUP(nl)
{
	ASSERT_EQ(0, nlt_open(&self->t)) TH_LOG("hsmkey family not found: is hsmkey.ko loaded?");
	nlt_key_random(&self->k, "nltest", HSMKEY_TYPE_AES_256_XTS);
}

FIXTURE_TEARDOWN(nl)
{
	nlt_close(&self->t);
}

TEST_F(nl, add_get_dump_revoke)
{
	ASSERT_EQ(0, nlt_add(&self->t, &self->k)) TH_LOG("add: %s", self->t.extack);

	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_STATE_ACTIVE, self->t.state);
	EXPECT_EQ(HSMKEY_TYPE_AES_256_XTS, self->t.type);
	EXPECT_STREQ("nltest", self->t.name);
	EXPECT_EQ(0, self->t.bindings);

	ASSERT_EQ(0, nlt_dump(&self->t));
	EXPECT_GE(self->t.nkeys, 1);
	EXPECT_TRUE(nlt_contains(self->t.raw, self->t.rawlen, self->k.id, HSMKEY_ID_LEN))
		TH_LOG("the dump does not list the key just added");
	/* Metadata only: neither half of the material, nor the verifier. */
	EXPECT_FALSE(nlt_contains(self->t.raw, self->t.rawlen, self->k.material, 16));
	EXPECT_FALSE(nlt_contains(self->t.raw, self->t.rawlen, self->k.material + 32, 16));
	EXPECT_FALSE(nlt_contains(self->t.raw, self->t.rawlen, self->k.verifier, 16));

	ASSERT_EQ(0, nlt_revoke(&self->t, &self->k));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_STATE_REVOKED, self->t.state);
	/* Revoking twice is harmless. */
	EXPECT_EQ(0, nlt_revoke(&self->t, &self->k));
}

TEST_F(nl, remove_then_add_again)
{
	uint32_t before;

	ASSERT_EQ(0, nlt_call(&self->t, nlt_msg(&self->t, HSMKEY_CMD_INFO, 0)));
	before = self->t.nkeys_info;
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	ASSERT_EQ(0, nlt_remove(&self->t, &self->k));
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &self->k));
	ASSERT_EQ(0, nlt_call(&self->t, nlt_msg(&self->t, HSMKEY_CMD_INFO, 0)));
	EXPECT_EQ(before, self->t.nkeys_info);
	EXPECT_EQ(-ENOKEY, nlt_remove(&self->t, &self->k));
	/* Gone from the table: the same id and version may come back. */
	EXPECT_EQ(0, nlt_add(&self->t, &self->k));
	EXPECT_EQ(0, nlt_remove(&self->t, &self->k));
}

TEST_F(nl, unprivileged_remove_is_eperm)
{
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	ASSERT_EQ(0, nlt_drop_to_nobody());
	EXPECT_EQ(-EPERM, nlt_remove(&self->t, &self->k));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_STATE_ACTIVE, self->t.state) TH_LOG("the refused remove changed the key");
}

TEST_F(nl, add_twice_is_eexist)
{
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	EXPECT_EQ(-EEXIST, nlt_add(&self->t, &self->k));
	EXPECT_NE(0, self->t.extack[0]) TH_LOG("no extack message");
	EXPECT_EQ(0, nlt_revoke(&self->t, &self->k));
}

TEST_F(nl, revoke_unknown_is_enokey)
{
	EXPECT_EQ(-ENOKEY, nlt_revoke(&self->t, &self->k));
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &self->k));
}

TEST_F(nl, inner_driver_is_aesni)
{
	ASSERT_EQ(0, nlt_call(&self->t, nlt_msg(&self->t, HSMKEY_CMD_INFO, 0)));
	EXPECT_STREQ("xts-aes-aesni", self->t.inner_xts);
	EXPECT_STREQ("cbc-aes-aesni", self->t.inner_cbc);
}

TEST_F(nl, unprivileged_add_is_eperm)
{
	struct nlt u;

	ASSERT_EQ(0, nlt_drop_to_nobody());
	ASSERT_EQ(0, nlt_open(&u));
	EXPECT_EQ(-EPERM, nlt_add(&u, &self->k));
	EXPECT_EQ(-ENOKEY, nlt_get(&u, &self->k)) TH_LOG("the refused add changed the table");
	/* Reading is allowed, and shows no material. */
	EXPECT_EQ(0, nlt_dump(&u));
	nlt_close(&u);
}

TEST_F(nl, unprivileged_revoke_is_eperm)
{
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	/* The socket was opened by root: the sender's rights count too. */
	ASSERT_EQ(0, nlt_drop_to_nobody());
	EXPECT_EQ(-EPERM, nlt_revoke(&self->t, &self->k));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_STATE_ACTIVE, self->t.state) TH_LOG("the refused revoke changed the key");
}

enum mutation {
	NO_MATERIAL, SHORT_MATERIAL, LONG_MATERIAL, EQUAL_XTS_HALVES, NO_ID,
	SHORT_ID, VERSION_ZERO, VERSION_U8, TYPE_ZERO, TYPE_TOO_BIG, NAME_TOO_LONG,
	NAME_NOT_TERMINATED, REPLY_ONLY_ATTR, UNKNOWN_ATTR, NO_VERIFIER,
};

FIXTURE(bad_add) {
	struct nlt t;
	struct nlt_key k;
};

FIXTURE_VARIANT(bad_add) {
	enum mutation m;
	int err;
	const char *msg;	/* what the extack message must contain */
};

#define BAD_ADD(name_, m_, err_, msg_) \
	FIXTURE_VARIANT_ADD(bad_add, name_) { .m = m_, .err = err_, .msg = msg_ }

BAD_ADD(no_material, NO_MATERIAL, -EINVAL, "HSMKEY_A_KEY_MATERIAL");
BAD_ADD(short_material, SHORT_MATERIAL, -EINVAL, "length");
BAD_ADD(long_material, LONG_MATERIAL, -EINVAL, "length");
BAD_ADD(equal_xts_halves, EQUAL_XTS_HALVES, -EKEYREJECTED, "halves");
BAD_ADD(no_id, NO_ID, -EINVAL, "HSMKEY_A_KEY_ID");
BAD_ADD(short_id, SHORT_ID, -ERANGE, "");
BAD_ADD(version_zero, VERSION_ZERO, -ERANGE, "");
BAD_ADD(version_u8, VERSION_U8, -EINVAL, "");
BAD_ADD(type_zero, TYPE_ZERO, -ERANGE, "");
BAD_ADD(type_too_big, TYPE_TOO_BIG, -ERANGE, "");
BAD_ADD(name_too_long, NAME_TOO_LONG, -EINVAL, "");
BAD_ADD(name_not_terminated, NAME_NOT_TERMINATED, -EINVAL, "");
BAD_ADD(reply_only_attr, REPLY_ONLY_ATTR, -EINVAL, "");
BAD_ADD(unknown_attr, UNKNOWN_ATTR, -EINVAL, "");
BAD_ADD(no_verifier, NO_VERIFIER, -EINVAL, "HSMKEY_A_KEY_VERIFIER");

FIXTURE_SETUP(bad_add)
{
	ASSERT_EQ(0, nlt_open(&self->t));
	nlt_key_random(&self->k, "bad", HSMKEY_TYPE_AES_256_XTS);
}

FIXTURE_TEARDOWN(bad_add)
{
	nlt_close(&self->t);
}

TEST_F(bad_add, refused_and_nothing_changes)
{
	struct nlt_key *k = &self->k;
	enum mutation m = variant->m;
	char longname[HSMKEY_NAME_MAX + 8];
	struct nl_msg *msg = nlt_msg(&self->t, HSMKEY_CMD_KEY_ADD, 0);
	uint32_t before;

	ASSERT_EQ(0, nlt_call(&self->t, nlt_msg(&self->t, HSMKEY_CMD_INFO, 0)));
	before = self->t.nkeys_info;

	if (m == EQUAL_XTS_HALVES)
		memcpy(k->material + 32, k->material, 32);
	if (m != NO_ID)
		nla_put(msg, HSMKEY_A_KEY_ID, m == SHORT_ID ? 15 : HSMKEY_ID_LEN, k->id);
	if (m == VERSION_U8)
		nla_put_u8(msg, HSMKEY_A_KEY_VERSION, 1);
	else
		nla_put_u32(msg, HSMKEY_A_KEY_VERSION, m == VERSION_ZERO ? 0 : 1);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	if (m == NAME_TOO_LONG)
		nla_put_string(msg, HSMKEY_A_KEY_NAME, longname);
	else if (m == NAME_NOT_TERMINATED)
		nla_put(msg, HSMKEY_A_KEY_NAME, 3, "bad");
	else
		nla_put_string(msg, HSMKEY_A_KEY_NAME, "bad");
	nla_put_u32(msg, HSMKEY_A_KEY_TYPE, m == TYPE_ZERO ? 0 :
		    m == TYPE_TOO_BIG ? HSMKEY_TYPE_MAX + 1 : k->type);
	if (m != NO_VERIFIER)
		nla_put(msg, HSMKEY_A_KEY_VERIFIER, HSMKEY_VERIFIER_LEN, k->verifier);
	if (m != NO_MATERIAL)
		nla_put(msg, HSMKEY_A_KEY_MATERIAL, m == SHORT_MATERIAL ? 32 :
			m == LONG_MATERIAL ? 64 : (int)k->keylen, k->material);
	if (m == LONG_MATERIAL) /* 64 bytes is right for 256-bit XTS: claim 128-bit */
		nla_put_u32(msg, HSMKEY_A_KEY_TYPE, HSMKEY_TYPE_AES_128_XTS);
	if (m == REPLY_ONLY_ATTR)
		nla_put_u32(msg, HSMKEY_A_KEY_STATE, HSMKEY_STATE_ACTIVE);
	if (m == UNKNOWN_ATTR)
		nla_put_u32(msg, HSMKEY_A_MAX + 1, 0);

	EXPECT_EQ(variant->err, nlt_call(&self->t, msg));
	EXPECT_NE(0, self->t.extack[0]) TH_LOG("the refusal carries no extack message");
	EXPECT_NE(NULL, strstr(self->t.extack, variant->msg))
		TH_LOG("extack '%s' does not say '%s'", self->t.extack, variant->msg);
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, k)) TH_LOG("the refused add left a key");
	ASSERT_EQ(0, nlt_call(&self->t, nlt_msg(&self->t, HSMKEY_CMD_INFO, 0)));
	EXPECT_EQ(before, self->t.nkeys_info);
}

TEST_HARNESS_MAIN
