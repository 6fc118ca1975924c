// SPDX-License-Identifier: GPL-2.0
/*
 * Tombstones (daemon/embedded/tomb.c): revoked is terminal, also when the
 * operator accepts the key files found.  From the attacker's side: a file
 * from before a revocation, a destroyed key's file, each put back and
 * accepted; STATE/tombs cut short, changed, added to or removed; the
 * root record's format upgrades; and the table itself at 100,000 keys.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "embedded/internal.h"
#include "util.h"
#include "kselftest_harness.h"

#include "keystore/files.h"

FIXTURE(tomb) {
	char dir[64];
	char path[128];
	char copy[65536];
	ssize_t len;
	struct keystore *ks;
};

FIXTURE_SETUP(tomb)
{
	strcpy(self->dir, "/tmp/hsmkey-tomb-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_create(self->ks, "k", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_create(self->ks, "other", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	snprintf(self->path, sizeof(self->path), "%s/keys/k.json", self->dir);
	self->len = read_into(self->path, self->copy, sizeof(self->copy));
	ASSERT_LT(0, self->len);
}

FIXTURE_TEARDOWN(tomb)
{
	char cmd[160];

	ks_close(self->ks);	/* NULL: a test closed it for good */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", self->dir);
}

/* Key @name as the keystore gives it, secrets and all: revoked, and stays so. */
static void expect_revoked(struct __test_metadata *_metadata, struct keystore *ks,
			   const char *name)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_get(ks, name, false, &got));
	EXPECT_EQ(KS_REVOKED, got.state);
	ASSERT_EQ(0, ks_get(ks, name, true, &got));
	EXPECT_EQ(KS_REVOKED, got.state);
	ks_key_wipe(&got);
	EXPECT_EQ(-EPERM, ks_set_state(ks, name, KS_ACTIVE));
	EXPECT_EQ(-EPERM, ks_set_state(ks, name, KS_DISABLED));
}

/* The case of the finding: the copy from before the revocation, accepted. */
TEST_F(tomb, revoked_key_file_from_before_stays_revoked)
{
	char now[65536];

	ASSERT_EQ(0, ks_set_state(self->ks, "k", KS_REVOKED));
	ks_close(self->ks);
	self->ks = NULL;
	spit(self->path, self->copy, (size_t)self->len);
	ASSERT_EQ(-EBADMSG, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_open_flags(self->dir, NULL, KS_OPEN_ACCEPT, &self->ks));
	expect_revoked(_metadata, self->ks, "k");
	/* The file itself was written again as revoked. */
	ASSERT_LT(0, read_into(self->path, now, sizeof(now)));
	EXPECT_NE(NULL, strstr(now, "\"state\": \"revoked\""));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	expect_revoked(_metadata, self->ks, "k");
}

/* Revoked, then scheduled for deletion: the copy from before either is revoked. */
TEST_F(tomb, copy_from_before_a_revoked_key_was_scheduled_stays_revoked)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_set_state(self->ks, "k", KS_REVOKED));
	ASSERT_EQ(0, ks_set_state_at(self->ks, "k", KS_PENDING_DELETION, 99));
	ks_close(self->ks);
	self->ks = NULL;
	spit(self->path, self->copy, (size_t)self->len);
	ASSERT_EQ(-EBADMSG, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_open_flags(self->dir, NULL, KS_OPEN_ACCEPT, &self->ks));
	ASSERT_EQ(0, ks_get(self->ks, "k", false, &got));
	EXPECT_EQ(KS_REVOKED, got.state);
	EXPECT_EQ(0, got.delete_at);
}

TEST_F(tomb, destroyed_key_file_put_back_is_set_aside)
{
	struct ks_key got;
	char aside[160];
	struct stat st;
	int n = 0;

	ASSERT_EQ(0, ks_destroy(self->ks, "k"));
	ks_close(self->ks);
	self->ks = NULL;
	spit(self->path, self->copy, (size_t)self->len);
	ASSERT_EQ(-EBADMSG, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_open_flags(self->dir, NULL, KS_OPEN_ACCEPT, &self->ks));
	EXPECT_EQ(-ENOENT, ks_get(self->ks, "k", false, &got));
	EXPECT_EQ(0, ks_list(self->ks, NULL, count_key, &n));
	EXPECT_EQ(1, n);
	EXPECT_NE(0, stat(self->path, &st));
	snprintf(aside, sizeof(aside), "%s.destroyed", self->path);
	EXPECT_EQ(0, stat(aside, &st));
	/* The store opens without it, and the name is free again. */
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	EXPECT_EQ(0, ks_create(self->ks, "k", HSMKEY_TYPE_AES_256_XTS, NULL, &got));
	EXPECT_EQ(KS_ACTIVE, got.state);
	ASSERT_EQ(0, ks_get(self->ks, "k", true, &got));
	ks_key_wipe(&got);
}

/* A destroyed key's file put back while the keystore is open is refused. */
TEST_F(tomb, destroyed_key_file_put_back_while_open_is_refused)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_destroy(self->ks, "k"));
	spit(self->path, self->copy, (size_t)self->len);
	EXPECT_EQ(-EBADMSG, ks_get(self->ks, "k", true, &got));
	EXPECT_EQ(-EBADMSG, ks_create(self->ks, "k", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
}

/*
 * A crash between the root record (tombstone and pending change written)
 * and the key file: the revocation or the destruction is finished at the
 * next open, which is a normal one.
 */
static void cut_short(struct __test_metadata *_metadata, struct keystore *ks, int tomb)
{
	const struct ks_entry *e = ks_index_find(&ks->index, "k");
	uint64_t gen;
	int prev;

	ASSERT_NE(NULL, e);
	ASSERT_EQ(0, ks_tomb_set(&ks->tombs, e->meta.id, tomb, &prev));
	ASSERT_EQ(0, ks_gen_begin(ks, "k", e->gen, tomb == KS_TOMB_REVOKED, &gen));
	ks_close(ks);
}

TEST_F(tomb, revocation_cut_short_is_finished)
{
	char now[65536];

	cut_short(_metadata, self->ks, KS_TOMB_REVOKED);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	expect_revoked(_metadata, self->ks, "k");
	ASSERT_LT(0, read_into(self->path, now, sizeof(now)));
	EXPECT_NE(NULL, strstr(now, "\"state\": \"revoked\""));
}

TEST_F(tomb, destruction_cut_short_is_finished)
{
	struct ks_key got;
	struct stat st;

	cut_short(_metadata, self->ks, KS_TOMB_DESTROYED);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	EXPECT_EQ(-ENOENT, ks_get(self->ks, "k", false, &got));
	EXPECT_NE(0, stat(self->path, &st));
	ASSERT_EQ(0, ks_get(self->ks, "other", true, &got));
	ks_key_wipe(&got);
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
}

/* A key never revoked is left alone by an accepted open. */
TEST_F(tomb, accept_leaves_other_keys_as_they_are)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_set_state(self->ks, "other", KS_DISABLED));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open_flags(self->dir, NULL, KS_OPEN_ACCEPT, &self->ks));
	ASSERT_EQ(0, ks_get(self->ks, "k", false, &got));
	EXPECT_EQ(KS_ACTIVE, got.state);
	ASSERT_EQ(0, ks_get(self->ks, "other", false, &got));
	EXPECT_EQ(KS_DISABLED, got.state);
	EXPECT_EQ(0, ks_set_state(self->ks, "other", KS_ACTIVE));
}

/* The directory of this program, build/tests/host, in @here (256 bytes). */
static const char *here_dir(struct __test_metadata *_metadata, char *here)
{
	ssize_t n = readlink("/proc/self/exe", here, 255);

	EXPECT_GT(n, 0);
	here[n > 0 ? n : 0] = '\0';
	if (strrchr(here, '/'))
		*strrchr(here, '/') = '\0';
	return here;
}

/* A copy of tests/host/data/@name in a new directory @dir. */
static void data_copy(struct __test_metadata *_metadata, const char *name, char *dir)
{
	char cmd[512], here[256];

	here_dir(_metadata, here);
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cp -r %s/../../../tests/host/data/%s/. %s && chmod 600 %s/master.key",
		 here, name, dir, dir);
	ASSERT_EQ(0, system(cmd));
}

/*
 * What the release before tombstones wrote (tests/host/data/keystore-root2:
 * root record format 2, key k revoked, k.active its file from before):
 * the first open upgrades the root record to format 4 with k's tombstone,
 * and the old file accepted afterwards stays revoked.
 */
TEST(root_format2_is_upgraded_with_tombstones)
{
	char dir[] = "/tmp/hsmkey-tomb-XXXXXX", cmd[512], path[96], buf[65536];
	struct keystore *ks;

	data_copy(_metadata, "keystore-root2", dir);
	snprintf(path, sizeof(path), "%s/root.json", dir);
	ASSERT_LT(0, read_into(path, buf, sizeof(buf)));
	ASSERT_NE(NULL, strstr(buf, "\"format\": 2"));

	ASSERT_EQ(0, ks_open(dir, &ks));
	expect_revoked(_metadata, ks, "k");
	ks_close(ks);
	ASSERT_LT(0, read_into(path, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "\"format\": 4"));

	snprintf(cmd, sizeof(cmd), "cp %s/k.active %s/keys/k.json", dir, dir);
	ASSERT_EQ(0, system(cmd));
	EXPECT_EQ(-EBADMSG, ks_open(dir, &ks));
	ASSERT_EQ(0, ks_open_flags(dir, NULL, KS_OPEN_ACCEPT, &ks));
	expect_revoked(_metadata, ks, "k");
	ks_close(ks);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", dir);
}

/* STATE/tombs of a closed keystore, as found: its bytes, the count read. */
static ssize_t tombs_read(const char *dir, uint8_t *buf, size_t size)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/tombs", dir);
	return read_into(path, (char *)buf, size);
}

static void tombs_write(const char *dir, const uint8_t *buf, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/tombs", dir);
	spit(path, (const char *)buf, len);
}

/* k revoked, the keystore closed: STATE/tombs holds its one entry. */
static ssize_t revoke_and_close(struct __test_metadata *_metadata, FIXTURE_DATA(tomb) *self,
				uint8_t *buf, size_t size)
{
	ssize_t n;

	ASSERT_EQ(0, ks_set_state(self->ks, "k", KS_REVOKED));
	ks_close(self->ks);
	self->ks = NULL;
	n = tombs_read(self->dir, buf, size);
	EXPECT_EQ(KS_TOMB_LEN, n);
	return n;
}

/* Refused, and refused also with the operator's word: revocation is final. */
static void expect_refused(struct __test_metadata *_metadata, FIXTURE_DATA(tomb) *self)
{
	EXPECT_EQ(-EBADMSG, ks_open(self->dir, &self->ks));
	EXPECT_EQ(NULL, self->ks);
	EXPECT_EQ(-EBADMSG, ks_open_flags(self->dir, NULL, KS_OPEN_ACCEPT, &self->ks));
	EXPECT_EQ(NULL, self->ks);
}

TEST_F(tomb, tombstone_file_cut_short_is_refused)
{
	uint8_t buf[256];
	ssize_t n = revoke_and_close(_metadata, self, buf, sizeof(buf));

	tombs_write(self->dir, buf, (size_t)n - 1);
	expect_refused(_metadata, self);
	tombs_write(self->dir, buf, 0);
	expect_refused(_metadata, self);
	tombs_write(self->dir, buf, (size_t)n);		/* restored: it opens */
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	expect_revoked(_metadata, self->ks, "k");
}

TEST_F(tomb, tombstone_entry_changed_is_refused)
{
	uint8_t buf[256];
	ssize_t n = revoke_and_close(_metadata, self, buf, sizeof(buf));

	buf[0] ^= 1;					/* another id */
	tombs_write(self->dir, buf, (size_t)n);
	expect_refused(_metadata, self);
	buf[0] ^= 1;
	buf[HSMKEY_ID_LEN] = KS_TOMB_DESTROYED;		/* another state */
	tombs_write(self->dir, buf, (size_t)n);
	expect_refused(_metadata, self);
}

TEST_F(tomb, tombstone_file_removed_is_refused)
{
	uint8_t buf[256];
	char path[128];

	revoke_and_close(_metadata, self, buf, sizeof(buf));
	snprintf(path, sizeof(path), "%s/tombs", self->dir);
	ASSERT_EQ(0, unlink(path));
	expect_refused(_metadata, self);
	/* A symbolic link in its place is not followed (-ELOOP). */
	ASSERT_EQ(0, symlink("/dev/null", path));
	EXPECT_GT(0, ks_open(self->dir, &self->ks));
	EXPECT_GT(0, ks_open_flags(self->dir, NULL, KS_OPEN_ACCEPT, &self->ks));
	EXPECT_EQ(NULL, self->ks);
}

/*
 * Entries appended beyond the count (an attacker's, or a change not
 * counted) are ignored, cut off before the next append, and cannot lower
 * a state: k stays revoked, "other" is not revoked by them either.
 */
TEST_F(tomb, entries_beyond_the_count_are_ignored_and_cut_off)
{
	const struct ks_entry *e = ks_index_find(&self->ks->index, "other");
	uint8_t buf[256], other[HSMKEY_ID_LEN];
	struct ks_key got;
	ssize_t n;

	ASSERT_NE(NULL, e);
	memcpy(other, e->meta.id, HSMKEY_ID_LEN);
	n = revoke_and_close(_metadata, self, buf, sizeof(buf));
	memcpy(buf + n, buf, HSMKEY_ID_LEN);		/* k again, at no state */
	buf[n + HSMKEY_ID_LEN] = 0;
	memcpy(buf + n + KS_TOMB_LEN, other, HSMKEY_ID_LEN);
	buf[n + KS_TOMB_LEN + HSMKEY_ID_LEN] = KS_TOMB_REVOKED;
	tombs_write(self->dir, buf, (size_t)n + 2 * KS_TOMB_LEN + 5);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	expect_revoked(_metadata, self->ks, "k");
	ASSERT_EQ(0, ks_get(self->ks, "other", false, &got));
	EXPECT_EQ(KS_ACTIVE, got.state);
	EXPECT_EQ(0, ks_tomb_find(&self->ks->tombs, other));
	/* The next tombstone goes right after the counted one. */
	ASSERT_EQ(0, ks_destroy(self->ks, "other"));
	ks_close(self->ks);
	self->ks = NULL;
	EXPECT_EQ(2 * KS_TOMB_LEN, tombs_read(self->dir, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf + KS_TOMB_LEN, other, HSMKEY_ID_LEN));
	EXPECT_EQ(KS_TOMB_DESTROYED, buf[KS_TOMB_LEN + HSMKEY_ID_LEN]);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	expect_revoked(_metadata, self->ks, "k");
	EXPECT_EQ(-ENOENT, ks_get(self->ks, "other", false, &got));
}

/*
 * A change that fails is not counted: the tombstone undone, the root
 * record's count does not move, the next open does not see it, and the
 * next tombstone takes its place in the file.
 */
TEST_F(tomb, an_undone_tombstone_is_not_counted)
{
	const struct ks_entry *e = ks_index_find(&self->ks->index, "k");
	uint8_t buf[256];
	struct ks_key got;
	int prev;

	ASSERT_NE(NULL, e);
	ASSERT_EQ(0, ks_tomb_set(&self->ks->tombs, e->meta.id, KS_TOMB_REVOKED, &prev));
	ks_tomb_undo(&self->ks->tombs, e->meta.id, prev);
	ASSERT_EQ(0, ks_root_store(self->ks));
	EXPECT_EQ(0, self->ks->tombs.count);
	ks_close(self->ks);
	EXPECT_EQ(KS_TOMB_LEN, tombs_read(self->dir, buf, sizeof(buf)));	/* on file, uncounted */
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get(self->ks, "k", false, &got));
	EXPECT_EQ(KS_ACTIVE, got.state);
	ASSERT_EQ(0, ks_set_state(self->ks, "other", KS_REVOKED));
	ks_close(self->ks);
	self->ks = NULL;
	EXPECT_EQ(KS_TOMB_LEN, tombs_read(self->dir, buf, sizeof(buf)));
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	expect_revoked(_metadata, self->ks, "other");
	ASSERT_EQ(0, ks_get(self->ks, "k", false, &got));
	EXPECT_EQ(KS_ACTIVE, got.state);
}

/*
 * What the release with tombstones in root.json wrote (tests/host/
 * data/keystore-root3: root record format 3, key k revoked, k.active its
 * file from before, d destroyed, d.destroyed its file): the first open
 * moves the two tombstones to STATE/tombs and writes the root record as
 * format 4; the old files put back stay revoked and destroyed.
 */
TEST(root_format3_is_upgraded_to_a_tombstone_file)
{
	char dir[] = "/tmp/hsmkey-tomb-XXXXXX", cmd[768], path[96], buf[65536], here[256];
	struct keystore *ks;
	struct ks_key got;
	struct stat st;

	data_copy(_metadata, "keystore-root3", dir);
	snprintf(path, sizeof(path), "%s/root.json", dir);
	ASSERT_LT(0, read_into(path, buf, sizeof(buf)));
	ASSERT_NE(NULL, strstr(buf, "\"format\": 3"));

	ASSERT_EQ(0, ks_open(dir, &ks));
	expect_revoked(_metadata, ks, "k");
	EXPECT_EQ(2, ks->tombs.n);
	ks_close(ks);
	ASSERT_LT(0, read_into(path, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "\"format\": 4"));
	snprintf(path, sizeof(path), "%s/tombs", dir);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(2 * KS_TOMB_LEN, st.st_size);
	EXPECT_EQ(0600, st.st_mode & 0777);

	/*
	 * The format-3 root record put back after a later revocation: refused
	 * (the generations), and STATE/tombs is left as it was, so putting the
	 * current root record back is enough.
	 */
	ASSERT_EQ(0, ks_open(dir, &ks));
	ASSERT_EQ(0, ks_set_state(ks, "other", KS_REVOKED));
	ks_close(ks);
	snprintf(cmd, sizeof(cmd), "cp %s/root.json %s/root.now && cp %s/../../../tests/host/data/keystore-root3/root.json %s/",
		 dir, dir, here_dir(_metadata, here), dir);
	ASSERT_EQ(0, system(cmd));
	EXPECT_EQ(-EBADMSG, ks_open(dir, &ks));
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(3 * KS_TOMB_LEN, st.st_size);
	snprintf(cmd, sizeof(cmd), "mv %s/root.now %s/root.json", dir, dir);
	ASSERT_EQ(0, system(cmd));
	ASSERT_EQ(0, ks_open(dir, &ks));
	expect_revoked(_metadata, ks, "other");
	ks_close(ks);

	snprintf(cmd, sizeof(cmd), "cp %s/k.active %s/keys/k.json && cp %s/d.destroyed %s/keys/d.json",
		 dir, dir, dir, dir);
	ASSERT_EQ(0, system(cmd));
	EXPECT_EQ(-EBADMSG, ks_open(dir, &ks));
	ASSERT_EQ(0, ks_open_flags(dir, NULL, KS_OPEN_ACCEPT, &ks));
	expect_revoked(_metadata, ks, "k");
	EXPECT_EQ(-ENOENT, ks_get(ks, "d", false, &got));
	ks_close(ks);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", dir);
}

/* The table: a tombstone only rises, undo puts back what was, storage is checked. */
TEST(table_rises_undoes_and_checks_what_it_reads)
{
	uint8_t a[HSMKEY_ID_LEN] = { 1 }, b[HSMKEY_ID_LEN] = { 2 }, out[2 * KS_TOMB_LEN];
	struct ks_tombs tb = { 0 };	/* no file: the table alone */
	int prev;

	ASSERT_EQ(0, ks_tomb_set(&tb, b, KS_TOMB_REVOKED, &prev));
	EXPECT_EQ(0, prev);
	ASSERT_EQ(0, ks_tomb_set(&tb, a, KS_TOMB_DESTROYED, &prev));
	ASSERT_EQ(0, ks_tomb_set(&tb, a, KS_TOMB_REVOKED, &prev));
	EXPECT_EQ(KS_TOMB_DESTROYED, prev);
	EXPECT_EQ(KS_TOMB_DESTROYED, ks_tomb_find(&tb, a));
	ASSERT_EQ(0, ks_tomb_set(&tb, b, KS_TOMB_DESTROYED, &prev));
	ks_tomb_undo(&tb, b, prev);
	EXPECT_EQ(KS_TOMB_REVOKED, ks_tomb_find(&tb, b));

	/* As a format-3 root record holds them: sorted by id, 17 bytes each. */
	memcpy(out, a, HSMKEY_ID_LEN);
	out[HSMKEY_ID_LEN] = KS_TOMB_DESTROYED;
	memcpy(out + KS_TOMB_LEN, b, HSMKEY_ID_LEN);
	out[KS_TOMB_LEN + HSMKEY_ID_LEN] = KS_TOMB_REVOKED;
	EXPECT_EQ(0, ks_tomb_decode(&tb, out, 2));
	EXPECT_EQ(KS_TOMB_DESTROYED, ks_tomb_find(&tb, a));
	EXPECT_EQ(KS_TOMB_REVOKED, ks_tomb_find(&tb, b));
	out[KS_TOMB_LEN + HSMKEY_ID_LEN] = 9;		/* no such state */
	EXPECT_EQ(-EBADMSG, ks_tomb_decode(&tb, out, 2));
	out[KS_TOMB_LEN + HSMKEY_ID_LEN] = KS_TOMB_REVOKED;
	memcpy(out + KS_TOMB_LEN, a, HSMKEY_ID_LEN);	/* the same id twice */
	EXPECT_EQ(-EBADMSG, ks_tomb_decode(&tb, out, 2));
	EXPECT_EQ(2, tb.n);				/* a refused read changes nothing */
	ks_tomb_undo(&tb, a, 0);
	EXPECT_EQ(0, ks_tomb_find(&tb, a));
	EXPECT_EQ(1, tb.n);
	ks_tomb_free(&tb);
}

/* At the bound (keys and tombstones, 2^20), no key is created: -ENOSPC, said in the log. */
TEST_F(tomb, no_key_is_created_at_the_bound)
{
	size_t n = self->ks->tombs.n;

	self->ks->tombs.n = KS_TOMBS_MAX - self->ks->index.n;	/* counted, not looked up */
	EXPECT_EQ(-ENOSPC, ks_create(self->ks, "one-more", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	self->ks->tombs.n = KS_TOMBS_MAX - self->ks->index.n - 1;
	EXPECT_EQ(0, ks_create(self->ks, "last", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	self->ks->tombs.n = n;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* One root record write: its time (ms) and root.json's size. */
static double root_write(struct __test_metadata *_metadata, FIXTURE_DATA(tomb) *self,
			 off_t *size)
{
	char path[128];
	struct timespec t0;
	struct stat st;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	EXPECT_EQ(0, ks_root_store(self->ks));
	ms = ms_since(&t0);
	snprintf(path, sizeof(path), "%s/root.json", self->dir);
	EXPECT_EQ(0, stat(path, &st));
	*size = st.st_size;
	return ms;
}

/*
 * 100,000 tombstones, the scale a KMS keeps: STATE/tombs holds 17 bytes
 * of each, root.json the same few hundred bytes as with none (before
 * STATE/tombs: 3.4 MB, 190 ms a write), they come back whole after a
 * reopen, and the time of one root record write (two per key change) is
 * reported with few and with many.
 */
TEST_F(tomb, hundred_thousand_tombstones)
{
	uint8_t id[HSMKEY_ID_LEN], first[HSMKEY_ID_LEN];
	off_t small, big;
	double ms0, ms1;
	char path[128];
	struct timespec t0;
	struct stat st;
	int prev;

	ASSERT_EQ(0, ks_set_state(self->ks, "k", KS_REVOKED));
	ms0 = root_write(_metadata, self, &small);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100000; i++) {
		ASSERT_EQ(1, RAND_bytes(id, sizeof(id)));
		if (!i)
			memcpy(first, id, sizeof(id));
		ASSERT_EQ(0, ks_tomb_set(&self->ks->tombs, id, KS_TOMB_DESTROYED, &prev));
	}
	ASSERT_EQ(0, ks_tombfile_sync(&self->ks->tombs));
	TH_LOG("100,000 tombstones appended and synced in %.1f ms", ms_since(&t0));
	ms1 = root_write(_metadata, self, &big);
	TH_LOG("root record with 1 tombstone: %lld bytes, written in %.2f ms",
	       (long long)small, ms0);
	TH_LOG("root record with %zu tombstones: %lld bytes, written in %.2f ms",
	       self->ks->tombs.n, (long long)big, ms1);
	snprintf(path, sizeof(path), "%s/tombs", self->dir);
	ASSERT_EQ(0, stat(path, &st));
	TH_LOG("tombs: %lld bytes", (long long)st.st_size);
	EXPECT_EQ(100001 * KS_TOMB_LEN, st.st_size);
	EXPECT_LT(big, small + 32);		/* the count's digits */
	EXPECT_LT(big, 4096);
	ks_close(self->ks);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	TH_LOG("open with 100,001 tombstones: %.1f ms", ms_since(&t0));
	EXPECT_EQ(100001, self->ks->tombs.n);
	EXPECT_EQ(KS_TOMB_DESTROYED, ks_tomb_find(&self->ks->tombs, first));
	expect_revoked(_metadata, self->ks, "k");
}

TEST_HARNESS_MAIN
