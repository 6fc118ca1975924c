// SPDX-License-Identifier: GPL-2.0
/* Sealing, persistence, the lock against a second open, names and versions. */
#include "common.h"

TEST_F(ks, create_then_unseal)
{
	struct ks_key made, got;
	struct stat st;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, self->material, &made));
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(0, memcmp(got.material, self->material, 64));
	EXPECT_EQ(0, memcmp(got.verifier, made.verifier, HSMKEY_VERIFIER_LEN));
	EXPECT_EQ(0, memcmp(got.id, made.id, HSMKEY_ID_LEN));
	EXPECT_EQ(1, got.version);
	EXPECT_EQ(KS_ACTIVE, got.state);
	EXPECT_EQ(HSMKEY_TYPE_AES_256_XTS, got.type);

	snprintf(self->path, sizeof(self->path), "%s/master.key", self->dir);
	ASSERT_EQ(0, stat(self->path, &st));
	EXPECT_EQ(0600, st.st_mode & 0777);
	snprintf(self->path, sizeof(self->path), "%s/keys/k1.json", self->dir);
	ASSERT_EQ(0, stat(self->path, &st));
	EXPECT_EQ(0600, st.st_mode & 0777);
}

TEST_F(ks, random_keys_differ)
{
	struct ks_key a, b;

	ASSERT_EQ(0, ks_create(self->ks, "ra", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_create(self->ks, "rb", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_get(self->ks, "ra", true, &a));
	ASSERT_EQ(0, ks_get(self->ks, "rb", true, &b));
	EXPECT_NE(0, memcmp(a.material, b.material, 64));
	EXPECT_NE(0, memcmp(a.id, b.id, HSMKEY_ID_LEN));
	EXPECT_NE(0, memcmp(a.verifier, b.verifier, HSMKEY_VERIFIER_LEN));
}

TEST_F(ks, file_holds_no_plaintext)
{
	char hex[129];
	size_t len;
	char *text;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, self->material, NULL));
	snprintf(self->path, sizeof(self->path), "%s/keys/k1.json", self->dir);
	text = slurp(self->path, &len);
	ASSERT_NE(NULL, text);
	hex_encode(self->material, 16, hex);
	EXPECT_EQ(NULL, strstr(text, hex));
	EXPECT_EQ(NULL, memmem(text, len, self->material, 16));
}

TEST_F(ks, survives_reopen)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_128_CBC, self->material, NULL));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(0, memcmp(got.material, self->material, 16));
}

TEST_F(ks, second_open_is_refused)
{
	struct keystore *other;

	EXPECT_EQ(-EBUSY, ks_open(self->dir, &other));
}

TEST_F(ks, duplicate_name_is_eexist)
{
	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	EXPECT_EQ(-EEXIST, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
}

TEST_F(ks, invalid_names_are_einval)
{
	static const char *bad[] = { "", ".hidden", "-x", "a/b", "../x", "sp ace",
		"0123456789012345678901234567890123456789012345678901234567890123" };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, ks_create(self->ks, bad[i], HSMKEY_TYPE_AES_256_XTS, NULL, NULL)) {
			TH_LOG("name '%s' was accepted", bad[i]);
		}
	}
}

TEST_F(ks, revoked_state_persists)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, self->material, NULL));
	ASSERT_EQ(0, ks_set_state(self->ks, "k1", KS_REVOKED));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(KS_REVOKED, got.state);
	EXPECT_EQ(0, memcmp(got.material, self->material, 64));
}

TEST_F(ks, rotate_keeps_old_versions)
{
	struct ks_key v1, v2, got;
	uint8_t other[64];

	for (int i = 0; i < 64; i++)
		other[i] = (uint8_t)(255 - i);
	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, self->material, &v1));
	ASSERT_EQ(0, ks_rotate(self->ks, "k1", other, &v2));
	EXPECT_EQ(2, v2.version);
	EXPECT_EQ(0, memcmp(v1.id, v2.id, HSMKEY_ID_LEN));
	EXPECT_NE(0, memcmp(v1.verifier, v2.verifier, HSMKEY_VERIFIER_LEN));
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(2, got.version);
	EXPECT_EQ(2, got.current);
	EXPECT_EQ(0, memcmp(got.material, other, 64));
	ASSERT_EQ(0, ks_get_version(self->ks, "k1", 1, true, &got));
	EXPECT_EQ(1, got.version);
	EXPECT_EQ(2, got.current);
	EXPECT_EQ(0, memcmp(got.material, self->material, 64));
	EXPECT_EQ(0, memcmp(got.verifier, v1.verifier, HSMKEY_VERIFIER_LEN));
	EXPECT_EQ(-ENOENT, ks_get_version(self->ks, "k1", 3, true, &got));
	/* A policy change re-seals every version, which still open. */
	struct ks_policy p = { .max_bindings = 3 };

	ASSERT_EQ(0, ks_set_policy(self->ks, "k1", &p));
	ASSERT_EQ(0, ks_get_version(self->ks, "k1", 1, true, &got));
	EXPECT_EQ(0, memcmp(got.material, self->material, 64));
	EXPECT_EQ(3, got.policy.max_bindings);
	ASSERT_EQ(0, ks_get_version(self->ks, "k1", 2, true, &got));
	EXPECT_EQ(0, memcmp(got.material, other, 64));
}

TEST_F(ks, versions_are_bounded)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_128_CBC, NULL, NULL));
	for (int i = 2; i <= KS_VERSIONS_MAX; i++)
		ASSERT_EQ(0, ks_rotate(self->ks, "k1", NULL, NULL));
	EXPECT_EQ(-E2BIG, ks_rotate(self->ks, "k1", NULL, NULL));
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(KS_VERSIONS_MAX, got.version);
	ASSERT_EQ(0, ks_get_version(self->ks, "k1", 1, true, &got));
}
