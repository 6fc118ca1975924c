// SPDX-License-Identifier: GPL-2.0
/*
 * The master key: records that survive its replacement, destruction
 * re-sealing every other key under a new one (key file and passphrase
 * modes), and a missing or exposed master key refused.
 */
#include "common.h"

TEST_F(ks, daemon_records_persist_across_master_replacement)
{
	uint8_t anchor[40], back[64];

	for (int i = 0; i < 40; i++)
		anchor[i] = (uint8_t)(i + 3);
	EXPECT_EQ(-ENOENT, ks_record_load(self->ks, "audit-anchor", back, sizeof(back)));
	ASSERT_EQ(0, ks_record_store(self->ks, "audit-anchor", anchor, sizeof(anchor)));
	ASSERT_EQ(0, ks_create(self->ks, "v", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_destroy(self->ks, "v"));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(40, ks_record_load(self->ks, "audit-anchor", back, sizeof(back)));
	EXPECT_EQ(0, memcmp(anchor, back, 40));
	EXPECT_EQ(-EMSGSIZE, ks_record_load(self->ks, "audit-anchor", back, 8));
	EXPECT_EQ(-EINVAL, ks_record_store(self->ks, "../x", anchor, 8));
}

/*
 * Destruction: the file goes, the master key changes, every other key
 * (all versions) opens with its old material, and a copy of the destroyed
 * file put back does not open.
 */
TEST_F(ks, destroy_reseals_under_a_new_master_key)
{
	char copy[65536], mkey1[32], mkey2[32], path[160];
	struct ks_key a1, a2, got;
	uint8_t derived1[32], derived2[32];
	size_t len = 0, mlen = 0;
	char *text;

	ASSERT_EQ(0, ks_create(self->ks, "victim", HSMKEY_TYPE_AES_256_XTS, self->material, NULL));
	ASSERT_EQ(0, ks_create(self->ks, "keep", HSMKEY_TYPE_AES_128_CBC, NULL, &a1));
	ASSERT_EQ(0, ks_rotate(self->ks, "keep", NULL, &a2));
	ASSERT_EQ(0, ks_derive(self->ks, "test label", derived1, sizeof(derived1)));
	snprintf(self->path, sizeof(self->path), "%s/keys/victim.json", self->dir);
	text = slurp(self->path, &len);
	ASSERT_NE(NULL, text);
	memcpy(copy, text, len);
	snprintf(path, sizeof(path), "%s/master.key", self->dir);
	text = slurp(path, &mlen);
	ASSERT_EQ(32, mlen);
	memcpy(mkey1, text, 32);

	ASSERT_EQ(0, ks_destroy(self->ks, "victim"));
	EXPECT_EQ(-ENOENT, ks_get(self->ks, "victim", false, &got));
	text = slurp(path, &mlen);
	ASSERT_EQ(32, mlen);
	memcpy(mkey2, text, 32);
	EXPECT_NE(0, memcmp(mkey1, mkey2, 32));
	snprintf(path, sizeof(path), "%s/master.key.new", self->dir);
	EXPECT_NE(0, access(path, F_OK));

	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get_version(self->ks, "keep", 1, true, &got));
	EXPECT_EQ(0, memcmp(got.material, a1.material, 16));
	EXPECT_EQ(0, memcmp(got.verifier, a1.verifier, HSMKEY_VERIFIER_LEN));
	ASSERT_EQ(0, ks_get_version(self->ks, "keep", 2, true, &got));
	EXPECT_EQ(0, memcmp(got.material, a2.material, 16));
	/* What is derived (the audit log's keys) survives the new master key. */
	ASSERT_EQ(0, ks_derive(self->ks, "test label", derived2, sizeof(derived2)));
	EXPECT_EQ(0, memcmp(derived1, derived2, 32));

	spit(self->path, copy, len);
	EXPECT_EQ(-EBADMSG, ks_get(self->ks, "victim", true, &got));
}

/* A file that does not open would be lost under a new master key: refused. */
TEST_F(ks, destroy_refused_while_another_file_is_damaged)
{
	struct ks_key got;
	char path[160];
	size_t len;
	char *text, *at;

	ASSERT_EQ(0, ks_create(self->ks, "victim", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_create(self->ks, "hurt", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	snprintf(path, sizeof(path), "%s/keys/hurt.json", self->dir);
	text = slurp(path, &len);
	ASSERT_NE(NULL, text);
	at = strstr(text, "\"version\": 1");
	ASSERT_NE(NULL, at);
	at[11] = '7';
	spit(path, text, len);
	EXPECT_NE(0, ks_destroy(self->ks, "victim"));
	ASSERT_EQ(0, ks_get(self->ks, "victim", true, &got));
	snprintf(path, sizeof(path), "%s/master.key.new", self->dir);
	EXPECT_NE(0, access(path, F_OK));
}

/* Passphrase mode: a new salt, the same passphrase. */
TEST(destroy_with_a_passphrase)
{
	char dir[] = "/tmp/hsmkey-ks-XXXXXX", pass[96], kdf[96], kdf1[512], cmd[64];
	struct keystore *ks;
	struct ks_key keep, got;
	size_t len;
	char *text;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(pass, sizeof(pass), "%s/pass", dir);
	spit(pass, "correct horse\n", 14);
	ASSERT_EQ(0, ks_open_ex(dir, pass, &ks));
	ASSERT_EQ(0, ks_create(ks, "victim", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_create(ks, "keep", HSMKEY_TYPE_AES_256_XTS, NULL, &keep));
	snprintf(kdf, sizeof(kdf), "%s/master.kdf", dir);
	text = slurp(kdf, &len);
	ASSERT_NE(NULL, text);
	ASSERT_LT(len, sizeof(kdf1));
	memcpy(kdf1, text, len + 1);
	ASSERT_EQ(0, ks_destroy(ks, "victim"));
	ks_close(ks);
	text = slurp(kdf, &len);
	ASSERT_NE(NULL, text);
	EXPECT_NE(0, strcmp(kdf1, text));
	ASSERT_EQ(0, ks_open_ex(dir, pass, &ks));
	ASSERT_EQ(0, ks_get(ks, "keep", true, &got));
	EXPECT_EQ(0, memcmp(got.material, keep.material, 64));
	EXPECT_EQ(-ENOENT, ks_get(ks, "victim", false, &got));
	ks_close(ks);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", cmd);
}

/* A lost master key (or root record) beside key files: refused, not replaced. */
TEST(missing_master_key_with_key_files_is_refused)
{
	static const char *const lost[] = { "master.key", "root.json" };

	for (size_t i = 0; i < ARRAY_SIZE(lost); i++) {
		char dir[] = "/tmp/hsmkey-ks-XXXXXX", path[96], cmd[64];
		struct keystore *ks;

		ASSERT_NE(NULL, mkdtemp(dir));
		ASSERT_EQ(0, ks_open(dir, &ks));
		ASSERT_EQ(0, ks_create(ks, "k", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
		ks_close(ks);
		snprintf(path, sizeof(path), "%s/%s", dir, lost[i]);
		ASSERT_EQ(0, unlink(path));
		EXPECT_EQ(-ENOENT, ks_open(dir, &ks)) TH_LOG("without %s", lost[i]);
		EXPECT_NE(0, access(path, F_OK)) TH_LOG("a new %s was made", lost[i]);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			TH_LOG("cannot remove %s", dir);
	}
}

TEST(master_key_readable_by_others_is_refused)
{
	char dir[] = "/tmp/hsmkey-ks-XXXXXX", path[64], cmd[64];
	struct keystore *ks;

	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, ks_open(dir, &ks));
	ks_close(ks);
	snprintf(path, sizeof(path), "%s/master.key", dir);
	ASSERT_EQ(0, chmod(path, 0644));
	EXPECT_EQ(-EPERM, ks_open(dir, &ks));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", cmd);
}
