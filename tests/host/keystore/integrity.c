// SPDX-License-Identifier: GPL-2.0
/*
 * Offline attacks on the key directory, from the attacker's side: each
 * edits or restores files while the daemon is stopped, and the keystore
 * must then refuse to open (a rolled-back keystore never starts), and
 * while open refuse the key concerned.
 */
#include "common.h"

TEST_F(ks, revoked_flipped_to_active_is_refused)
{
	struct ks_key got;
	char path[160];
	int n = 0;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_set_state(self->ks, "k1", KS_REVOKED));
	snprintf(path, sizeof(path), "%s/keys/k1.json", self->dir);
	replace_in(path, "\"state\": \"revoked\"", "\"state\": \"active\"");
	/* While open: the file no longer authenticates. */
	EXPECT_EQ(-EBADMSG, ks_get(self->ks, "k1", true, &got));
	/* After a restart: the key is set aside, never active. */
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	EXPECT_EQ(-EBADMSG, ks_get(self->ks, "k1", false, &got));
	EXPECT_EQ(-EBADMSG, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(-EBADMSG, ks_set_state(self->ks, "k1", KS_DISABLED));
	EXPECT_EQ(0, ks_list(self->ks, NULL, count_key, &n));
	EXPECT_EQ(0, n);
}

TEST_F(ks, older_copy_restored_is_refused)
{
	struct ks_key got;
	char path[160], *copy;
	size_t len;
	int n = 0;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_create(self->ks, "k2", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	snprintf(path, sizeof(path), "%s/keys/k1.json", self->dir);
	copy = copy_of(path, &len);
	ASSERT_NE(NULL, copy);
	ASSERT_EQ(0, ks_set_state(self->ks, "k1", KS_REVOKED));
	spit(path, copy, len);
	/* While open: the copy authenticates but is of an older generation. */
	EXPECT_EQ(-EBADMSG, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(0, ks_list(self->ks, NULL, count_key, &n));
	EXPECT_EQ(1, n) TH_LOG("list shows %d keys; the restored copy must not count", n);
	ks_close(self->ks);
	EXPECT_EQ(-EBADMSG, ks_open(self->dir, &self->ks));
	self->ks = NULL;
	free(copy);
}

/*
 * An older copy put back after the key was used, its record kept for the
 * next use (kept.c): by rename (another inode) or written over the file
 * (the same inode), refused all the same.
 */
TEST_F(ks, older_copy_restored_after_a_use_is_refused)
{
	char path[160], moved[170], *old, *good;
	size_t oldlen, goodlen;
	struct ks_key got;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	snprintf(path, sizeof(path), "%s/keys/k1.json", self->dir);
	snprintf(moved, sizeof(moved), "%s.put", path);
	old = copy_of(path, &oldlen);
	ASSERT_NE(NULL, old);
	ASSERT_EQ(0, ks_rotate(self->ks, "k1", NULL, NULL));
	good = copy_of(path, &goodlen);
	ASSERT_NE(NULL, good);
	usleep((KS_KEPT_SETTLE_MS + 50) * 1000);	/* old enough to be kept */
	ASSERT_EQ(0, ks_get_version(self->ks, "k1", 1, true, &got));
	ASSERT_EQ(0, ks_get_version(self->ks, "k1", 2, true, &got));
	ASSERT_TRUE(kept(self->ks, "k1")) TH_LOG("the record is not kept: nothing tested here");
	/* Written over the file: the same inode. */
	spit(path, old, oldlen);
	EXPECT_EQ(-EBADMSG, ks_get_version(self->ks, "k1", 1, true, &got));
	/* The right file back, used again, then the older one renamed over it. */
	spit(moved, good, goodlen);
	ASSERT_EQ(0, rename(moved, path));
	usleep((KS_KEPT_SETTLE_MS + 50) * 1000);
	ASSERT_EQ(0, ks_get_version(self->ks, "k1", 2, true, &got));
	ASSERT_TRUE(kept(self->ks, "k1")) TH_LOG("the record is not kept: nothing tested here");
	spit(moved, old, oldlen);
	ASSERT_EQ(0, rename(moved, path));
	EXPECT_EQ(-EBADMSG, ks_get_version(self->ks, "k1", 2, true, &got));
	ks_key_wipe(&got);
	free(old);
	free(good);
}

TEST_F(ks, destroyed_key_put_back_is_refused)
{
	char path[160], *copy;
	size_t len;

	ASSERT_EQ(0, ks_create(self->ks, "victim", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_create(self->ks, "keep", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	snprintf(path, sizeof(path), "%s/keys/victim.json", self->dir);
	copy = copy_of(path, &len);
	ASSERT_NE(NULL, copy);
	ASSERT_EQ(0, ks_destroy(self->ks, "victim"));
	ks_close(self->ks);
	spit(path, copy, len);
	EXPECT_EQ(-EBADMSG, ks_open(self->dir, &self->ks));
	self->ks = NULL;
	free(copy);
}

TEST_F(ks, removed_key_file_is_refused)
{
	char path[160];

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_create(self->ks, "k2", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ks_close(self->ks);
	snprintf(path, sizeof(path), "%s/keys/k2.json", self->dir);
	ASSERT_EQ(0, unlink(path));
	EXPECT_EQ(-EBADMSG, ks_open(self->dir, &self->ks));
	self->ks = NULL;
}

/*
 * The operator's recovery: with KS_OPEN_ACCEPT the files found become the
 * current ones (the removed key is gone, the others open), and the store
 * then opens without it; without it, the refusal stands.
 */
TEST_F(ks, accept_takes_the_files_found)
{
	struct ks_key key;
	char path[160];

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_create(self->ks, "k2", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ks_close(self->ks);
	snprintf(path, sizeof(path), "%s/keys/k2.json", self->dir);
	ASSERT_EQ(0, unlink(path));
	ASSERT_EQ(-EBADMSG, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_open_flags(self->dir, NULL, KS_OPEN_ACCEPT, &self->ks));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	EXPECT_EQ(0, ks_get(self->ks, "k1", true, &key));
	EXPECT_EQ(-ENOENT, ks_get(self->ks, "k2", false, &key));
	ks_key_wipe(&key);
	/* And the store keeps protecting: a change after it is tracked. */
	EXPECT_EQ(0, ks_set_state(self->ks, "k1", KS_DISABLED));
}

/* Every field is under the MAC: after an edit of any one the key is refused. */
static const char *const edits[][2] = {
	{ "\"delete_at\": 1234567", "\"delete_at\": 9234567" },
	{ "\"prior_state\": \"active\"", "\"prior_state\": \"disabled\"" },
	{ "\"max_bindings\": 3", "\"max_bindings\": 4" },
	{ "\"used_requests\": 5", "\"used_requests\": 0" },
	{ "\"created\": ", "\"created\": 1" },
	{ "\"generation\": ", "\"generation\": 1" },
};

TEST(every_field_is_authenticated)
{
	for (size_t i = 0; i < ARRAY_SIZE(edits); i++) {
		char dir[] = "/tmp/hsmkey-ks-XXXXXX", path[96], cmd[64];
		struct ks_policy p = { .max_bindings = 3 };
		struct keystore *ks;

		ASSERT_NE(NULL, mkdtemp(dir));
		ASSERT_EQ(0, ks_open(dir, &ks));
		ASSERT_EQ(0, ks_create(ks, "k", HSMKEY_TYPE_AES_256_GCM, NULL, NULL));
		ASSERT_EQ(0, ks_set_policy(ks, "k", &p));
		ASSERT_EQ(0, ks_set_usage(ks, "k", 1, 10, 5));
		ASSERT_EQ(0, ks_set_state_at(ks, "k", KS_PENDING_DELETION, 1234567));
		ks_close(ks);
		snprintf(path, sizeof(path), "%s/keys/k.json", dir);
		replace_in(path, edits[i][0], edits[i][1]);
		/* The key is set aside; a generation edit is also a rollback. */
		if (ks_open(dir, &ks) == 0) {
			struct ks_key got;

			EXPECT_EQ(-EBADMSG, ks_get(ks, "k", false, &got)) {
				TH_LOG("edit %zu (%s) was accepted", i, edits[i][0]);
			}
			ks_close(ks);
		}
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			TH_LOG("cannot remove %s", dir);
	}
}

/*
 * A key's grants (who may encrypt, decrypt, sign with it) are policy like
 * its users: an attacker with the disk who gives their own uid a grant, or
 * widens one, must find the file refused, not their uid allowed.
 */
TEST(grants_are_authenticated)
{
	static const char *const edits[][2] = {
		{ "\"uid\": 4242", "\"uid\": 4243" },
		{ "\"uid\": 4242", "\"gid\": 4242" },
		{ "\"encrypt\"", "\"encrypt\", \"decrypt\"" },
		{ "\"grants\": [", "\"grants\": [ { \"uid\": 7, \"ops\": [ \"decrypt\" ] }," },
	};

	for (size_t i = 0; i < ARRAY_SIZE(edits); i++) {
		char dir[] = "/tmp/hsmkey-ks-XXXXXX", path[96], cmd[64];
		struct ks_policy p = { .ngrants = 1 };
		struct keystore *ks;
		struct ks_key got;
		char *before, *after;
		size_t n1, n2;

		p.grants[0] = (struct ks_grant){ .ops = KS_OP_ENCRYPT, .id = 4242 };
		ASSERT_NE(NULL, mkdtemp(dir));
		ASSERT_EQ(0, ks_open(dir, &ks));
		ASSERT_EQ(0, ks_create(ks, "k", KS_TYPE_KMS_AES_256, NULL, NULL));
		ASSERT_EQ(0, ks_set_policy(ks, "k", &p));
		snprintf(path, sizeof(path), "%s/keys/k.json", dir);
		before = copy_of(path, &n1);
		replace_in(path, edits[i][0], edits[i][1]);
		after = copy_of(path, &n2);
		/* The edit happened: else this would pass for nothing. */
		ASSERT_TRUE(before && after && (n1 != n2 || memcmp(before, after, n1))) {
			TH_LOG("edit %zu (%s) matched nothing", i, edits[i][0]);
		}
		/* While open: a use reads the file again (a listing keeps what it read). */
		EXPECT_EQ(-EBADMSG, ks_get(ks, "k", true, &got)) {
			TH_LOG("edit %zu (%s) was accepted while open", i, edits[i][0]);
		}
		ks_close(ks);
		if (ks_open(dir, &ks) == 0) {
			EXPECT_EQ(-EBADMSG, ks_get(ks, "k", false, &got)) {
				TH_LOG("edit %zu (%s) was accepted after a restart", i, edits[i][0]);
			}
			ks_close(ks);
		}
		free(before);
		free(after);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			TH_LOG("cannot remove %s", dir);
	}
}
