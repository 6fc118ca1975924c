// SPDX-License-Identifier: GPL-2.0
/*
 * Damaged key files: each way one can go bad costs only that key, loudly;
 * planted and stale temporary files are never written through or trusted.
 */
#include "common.h"

/*
 * A temporary file planted where a key file is written: a symlink to a
 * file of the attacker's choosing is never written through, a stale one
 * is replaced.
 */
TEST_F(ks, planted_temp_file)
{
	char tmp[160], target[160];
	struct ks_key got;
	size_t len;
	char *text;

	snprintf(target, sizeof(target), "%s/victim-file", self->dir);
	spit(target, "precious", 8);
	snprintf(tmp, sizeof(tmp), "%s/keys/.k1.json.tmp", self->dir);
	ASSERT_EQ(0, symlink(target, tmp));
	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	text = slurp(target, &len);
	ASSERT_NE(NULL, text);
	EXPECT_STREQ("precious", text);
	EXPECT_NE(0, access(tmp, F_OK));
	spit(tmp, "{\"stale", 7);
	ASSERT_EQ(0, ks_set_state(self->ks, "k1", KS_DISABLED));
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(KS_DISABLED, got.state);
}

/* Each way a key file can go bad: only that key is lost, and loudly. */
FIXTURE(tamper) {
	char dir[64];
	char path[128];
	struct keystore *ks;
};

FIXTURE_VARIANT(tamper) {
	const char *find;	/* replace the first occurrence ... */
	const char *repl;	/* ... with this; NULL find: the whole file */
	int err;
};

FIXTURE_VARIANT_ADD(tamper, sealed_byte) { "\"sealed\": \"", "\"sealed\": \"0", -EINVAL };
FIXTURE_VARIANT_ADD(tamper, tag) { "\"tag\": \"", "\"tag\": \"00", -EINVAL };
FIXTURE_VARIANT_ADD(tamper, version) { "\"version\": 1", "\"version\": 2", -EBADMSG };
FIXTURE_VARIANT_ADD(tamper, type) { "aes-256-xts", "aes-256-cbc", -EINVAL };
FIXTURE_VARIANT_ADD(tamper, name) { "\"name\": \"victim\"", "\"name\": \"victin\"", -EINVAL };
FIXTURE_VARIANT_ADD(tamper, state) { "\"state\": \"active\"", "\"state\": \"bogus\"", -EINVAL };
FIXTURE_VARIANT_ADD(tamper, not_json) { NULL, "this is not json", -EINVAL };
FIXTURE_VARIANT_ADD(tamper, empty) { NULL, "", -EINVAL };
FIXTURE_VARIANT_ADD(tamper, array) { NULL, "[1, 2, 3]", -EINVAL };

FIXTURE_SETUP(tamper)
{
	strcpy(self->dir, "/tmp/hsmkey-ks-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_create(self->ks, "victim", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_create(self->ks, "bystander", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	snprintf(self->path, sizeof(self->path), "%s/keys/victim.json", self->dir);
}

FIXTURE_TEARDOWN(tamper)
{
	char cmd[160];

	ks_close(self->ks);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", cmd);
}

/* The victim's file changed as @v says; false if the text to change is not there. */
static bool tamper_with(const char *path, const FIXTURE_VARIANT(tamper) *v)
{
	char out[65536], *text, *at;
	size_t len;

	text = slurp(path, &len);
	if (!text)
		return false;
	if (v->find) {
		at = strstr(text, v->find);
		if (!at)
			return false;
		snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, v->repl,
			 at + strlen(v->find));
	} else {
		snprintf(out, sizeof(out), "%s", v->repl);
	}
	spit(path, out, strlen(out));
	return true;
}

TEST_F(tamper, isolated)
{
	struct ks_key key;
	int n = 0;

	ASSERT_TRUE(tamper_with(self->path, variant)) TH_LOG("'%s' not in the key file", variant->find);
	EXPECT_EQ(variant->err, ks_get(self->ks, "victim", true, &key));
	ASSERT_EQ(0, ks_get(self->ks, "bystander", true, &key));
	EXPECT_EQ(0, ks_list(self->ks, NULL, count_key, &n));
	EXPECT_EQ(1, n) TH_LOG("list shows %d keys; only the bystander is intact", n);
	/* Damage is no rollback: the keystore opens again, the victim set aside. */
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	EXPECT_NE(0, ks_get(self->ks, "victim", true, &key));
	ASSERT_EQ(0, ks_get(self->ks, "bystander", true, &key));
}

/*
 * The same damage after the key was used, its record kept for the next
 * use (kept.c): the change, in place, is seen and refused all the same.
 * A file just changed (touched here) is not kept: the key is used again
 * once its file is older than that.
 */
TEST_F(tamper, after_a_use)
{
	struct ks_key before, key;

	ASSERT_EQ(0, utimensat(AT_FDCWD, self->path, NULL, 0));
	ASSERT_EQ(0, ks_get(self->ks, "victim", true, &before));
	EXPECT_FALSE(kept(self->ks, "victim")) TH_LOG("a file changed just now is kept");
	usleep((KS_KEPT_SETTLE_MS + 50) * 1000);
	ASSERT_EQ(0, ks_get(self->ks, "victim", true, &key));
	ASSERT_TRUE(kept(self->ks, "victim")) TH_LOG("the record is not kept: nothing tested here");
	EXPECT_EQ(0, memcmp(before.material, key.material, sizeof(key.material)))
		TH_LOG("a second use of an unchanged key gives other material");
	ASSERT_TRUE(tamper_with(self->path, variant));
	EXPECT_EQ(variant->err, ks_get(self->ks, "victim", true, &key));
	ASSERT_EQ(0, ks_get(self->ks, "bystander", true, &key));
	ks_key_wipe(&before);
	ks_key_wipe(&key);
}

TEST_F(tamper, stale_temp_file_is_ignored)
{
	char tmp[160];
	int n = 0;

	/* What a crash between write and rename leaves behind. */
	snprintf(tmp, sizeof(tmp), "%s/keys/.victim.json.tmp", self->dir);
	spit(tmp, "{\"half", 6);
	EXPECT_EQ(0, ks_list(self->ks, NULL, count_key, &n));
	EXPECT_EQ(2, n);
}
