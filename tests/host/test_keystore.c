// SPDX-License-Identifier: GPL-2.0
/* The embedded keystore: sealing, persistence, locking, and files that are
 * corrupted or tampered with, which must be refused without harming others. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "embedded/keystore.h"
#include "util.h"
#include "kselftest_harness.h"

static char *slurp(const char *path, size_t *len)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	int n = fd < 0 ? -1 : read_full(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static void spit(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd >= 0) {
		write_full(fd, text, len);
		close(fd);
	}
}

static int count_key(const struct ks_key *key, void *arg)
{
	(void)key;
	(*(int *)arg)++;
	return 0;
}

FIXTURE(ks) {
	char dir[64];
	char path[128];
	struct keystore *ks;
	uint8_t material[64];
};

FIXTURE_SETUP(ks)
{
	strcpy(self->dir, "/tmp/hsmkey-ks-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	for (int i = 0; i < 64; i++)
		self->material[i] = (uint8_t)(i * 7 + 1);
}

FIXTURE_TEARDOWN(ks)
{
	char cmd[160];

	ks_close(self->ks);	/* NULL: a test closed it for good */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", cmd);
}

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

TEST_F(ks, pending_deletion_persists)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_set_state_at(self->ks, "k1", KS_PENDING_DELETION, 1234567));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(KS_PENDING_DELETION, got.state);
	EXPECT_EQ(1234567, got.delete_at);
	ASSERT_EQ(0, ks_set_state(self->ks, "k1", KS_DISABLED));
	ASSERT_EQ(0, ks_get(self->ks, "k1", false, &got));
	EXPECT_EQ(KS_DISABLED, got.state);
	EXPECT_EQ(0, got.delete_at);
}

/* The state rules of backend.h, each transition as a case. */
struct state_case {
	const char *what;
	int from;		/* reached by set_state from active */
	int to;
	int err;
};

static const struct state_case state_cases[] = {
	{ "revoked to active", KS_REVOKED, KS_ACTIVE, -EPERM },
	{ "revoked to disabled", KS_REVOKED, KS_DISABLED, -EPERM },
	{ "revoked to revoked", KS_REVOKED, KS_REVOKED, -EPERM },
	{ "revoked to pending deletion", KS_REVOKED, KS_PENDING_DELETION, 0 },
	{ "disabled to active", KS_DISABLED, KS_ACTIVE, 0 },
	{ "active to revoked", KS_ACTIVE, KS_REVOKED, 0 },
};

TEST_F(ks, state_rules)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_cases); i++) {
		const struct state_case *c = &state_cases[i];
		char name[16];

		snprintf(name, sizeof(name), "s%zu", i);
		ASSERT_EQ(0, ks_create(self->ks, name, HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
		if (c->from != KS_ACTIVE)
			ASSERT_EQ(0, ks_set_state(self->ks, name, c->from));
		EXPECT_EQ(c->err, ks_set_state_at(self->ks, name, c->to, 100)) {
			TH_LOG("%s: expected %d", c->what, c->err);
		}
	}
}

/* The review's finding: revoke, schedule, cancel, enable left it active. */
TEST_F(ks, revocation_survives_a_cancelled_deletion)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_set_state(self->ks, "k1", KS_REVOKED));
	ASSERT_EQ(0, ks_set_state_at(self->ks, "k1", KS_PENDING_DELETION, 1000));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get(self->ks, "k1", false, &got));
	EXPECT_EQ(KS_REVOKED, got.prior_state);
	/* Old callers cancelled by setting "disabled": refused for a revoked key. */
	EXPECT_EQ(-EPERM, ks_set_state(self->ks, "k1", KS_DISABLED));
	EXPECT_EQ(-EPERM, ks_set_state(self->ks, "k1", KS_ACTIVE));
	ASSERT_EQ(0, ks_cancel_deletion(self->ks, "k1", &got));
	EXPECT_EQ(KS_REVOKED, got.state);
	EXPECT_EQ(-EPERM, ks_set_state(self->ks, "k1", KS_ACTIVE));
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(KS_REVOKED, got.state);
	EXPECT_EQ(-EINVAL, ks_cancel_deletion(self->ks, "k1", &got));
}

TEST_F(ks, cancel_restores_the_prior_state)
{
	static const int prior[] = { KS_ACTIVE, KS_DISABLED };
	struct ks_key got;

	for (size_t i = 0; i < ARRAY_SIZE(prior); i++) {
		ASSERT_EQ(0, ks_create(self->ks, i ? "c1" : "c0", HSMKEY_TYPE_AES_256_XTS,
				       NULL, NULL));
		if (prior[i] != KS_ACTIVE)
			ASSERT_EQ(0, ks_set_state(self->ks, "c1", prior[i]));
		ASSERT_EQ(0, ks_set_state_at(self->ks, i ? "c1" : "c0", KS_PENDING_DELETION, 5));
		/* Rescheduling keeps what was before the first schedule. */
		ASSERT_EQ(0, ks_set_state_at(self->ks, i ? "c1" : "c0", KS_PENDING_DELETION, 9));
		ASSERT_EQ(0, ks_cancel_deletion(self->ks, i ? "c1" : "c0", &got));
		EXPECT_EQ(prior[i], got.state) TH_LOG("case %zu", i);
		ASSERT_EQ(0, ks_get(self->ks, i ? "c1" : "c0", false, &got));
		EXPECT_EQ(prior[i], got.state) TH_LOG("case %zu", i);
		EXPECT_EQ(0, got.delete_at);
	}
}

TEST_F(ks, usage_persists_per_version_and_never_decreases)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_create(self->ks, "u", HSMKEY_TYPE_AES_256_GCM, NULL, NULL));
	ASSERT_EQ(0, ks_rotate(self->ks, "u", NULL, NULL));
	ASSERT_EQ(0, ks_set_usage(self->ks, "u", 1, 4096, 3));
	ASSERT_EQ(0, ks_set_usage(self->ks, "u", 2, 100, 7));
	ASSERT_EQ(0, ks_set_usage(self->ks, "u", 1, 10, 1));	/* stale: ignored */
	EXPECT_EQ(-ENOENT, ks_set_usage(self->ks, "u", 3, 1, 1));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get_version(self->ks, "u", 1, true, &got));
	EXPECT_EQ(4096, got.used_bytes);
	EXPECT_EQ(3, got.used_requests);
	ASSERT_EQ(0, ks_get_version(self->ks, "u", 2, false, &got));
	EXPECT_EQ(100, got.used_bytes);
	EXPECT_EQ(7, got.used_requests);
	/* A rotation starts the new version at zero and keeps the old figures. */
	ASSERT_EQ(0, ks_rotate(self->ks, "u", NULL, &got));
	EXPECT_EQ(0, got.used_requests);
	ASSERT_EQ(0, ks_get_version(self->ks, "u", 2, false, &got));
	EXPECT_EQ(7, got.used_requests);
}

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

/*
 * Offline attacks on the key directory, from the attacker's side: each
 * edits or restores files while the daemon is stopped, and the keystore
 * must then refuse to open (a rolled-back keystore never starts), and
 * while open refuse the key concerned.
 */
static char *copy_of(const char *path, size_t *len)
{
	char *text = slurp(path, len);
	char *copy = text ? malloc(*len + 1) : NULL;

	if (copy)
		memcpy(copy, text, *len + 1);
	return copy;
}

static void replace_in(const char *path, const char *find, const char *repl)
{
	char out[65536], *text, *at;
	size_t len;

	text = slurp(path, &len);
	at = text ? strstr(text, find) : NULL;
	if (!at)
		return;
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, repl, at + strlen(find));
	spit(path, out, strlen(out));
}

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

/* What the previous release wrote (tests/host/data/keystore-format2): opened once, upgraded. */
TEST(format2_store_is_upgraded_once)
{
	char dir[] = "/tmp/hsmkey-ks-XXXXXX", cmd[512], self_dir[256], path[96], root[96];
	char *copy, *old_root, *cur;
	struct ks_key got;
	struct keystore *ks;
	ssize_t n = readlink("/proc/self/exe", self_dir, sizeof(self_dir) - 1);
	size_t len, rootlen;

	ASSERT_GT(n, 0);
	self_dir[n] = '\0';
	*strrchr(self_dir, '/') = '\0';	/* build/tests/host */
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cp -r %s/../../../tests/host/data/keystore-format2/. %s && chmod 600 %s/master.key",
		 self_dir, dir, dir);
	ASSERT_EQ(0, system(cmd));
	snprintf(path, sizeof(path), "%s/keys/old-revoked.json", dir);
	copy = copy_of(path, &len);
	ASSERT_NE(NULL, copy);
	ASSERT_NE(NULL, strstr(copy, "\"format\": 2"));
	snprintf(root, sizeof(root), "%s/root.json", dir);
	old_root = copy_of(root, &rootlen);
	ASSERT_NE(NULL, old_root);

	ASSERT_EQ(0, ks_open(dir, &ks));
	ASSERT_EQ(0, ks_get(ks, "old-revoked", true, &got));
	EXPECT_EQ(KS_REVOKED, got.state);
	ASSERT_EQ(0, ks_get_version(ks, "old-active", 1, true, &got));
	EXPECT_EQ(7, got.material[7]);
	EXPECT_EQ(2, got.current);
	EXPECT_EQ(2, got.policy.max_bindings);
	EXPECT_EQ(HSMKEY_ALG_XTS, got.policy.algs);	/* the integer form, read */
	ASSERT_EQ(0, ks_get(ks, "old-pending", false, &got));
	EXPECT_EQ(KS_PENDING_DELETION, got.state);
	EXPECT_EQ(KS_DISABLED, got.prior_state);
	ks_close(ks);
	EXPECT_NE(NULL, strstr(slurp(path, &len), "\"format\": 3"));
	/* Once upgraded, the old unauthenticated file put back is a rollback. */
	cur = copy_of(path, &len);
	ASSERT_NE(NULL, cur);
	spit(path, copy, strlen(copy));
	EXPECT_EQ(-EBADMSG, ks_open(dir, &ks));
	spit(path, cur, strlen(cur));
	ASSERT_EQ(0, ks_open(dir, &ks));
	ks_close(ks);
	/* So is the root record from before the upgrade, beside upgraded files. */
	spit(root, old_root, rootlen);
	EXPECT_EQ(-EBADMSG, ks_open(dir, &ks));
	free(cur);
	free(old_root);
	free(copy);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", dir);
}

/*
 * Each field of a key file has one JSON type; any other is an error, never
 * read as true or 0.  Format-2 text, which ks_parse() reads without a MAC
 * (as at the upgrade), so the type checks alone decide.
 */
static const char pending_v2[] =
	"{ \"format\": 2, \"name\": \"k\", \"type\": \"aes-128-cbc\", "
	"\"id\": \"e1bb3b1a4761a31c9714553a154009c1\", \"state\": \"pending-deletion\", "
	"\"created\": CREATED, \"delete_at\": DELETE_AT, \"master\": \"2fb9c565f3771d84\", "
	"\"versions\": [ { \"version\": 1, \"created\": VCREATED, "
	"\"nonce\": \"4efc4a5e241dde820c465365\", \"tag\": \"3a4b38ffcc253eecccbcffba97819e98\", "
	"\"sealed\": \"bb4fdad68817011c6ae78fac2ab99e5aeec9d686984fbe26fcb337eec20dcd460a8302ceb396c201ae072277cb579dd8\" "
	"USAGE } ] POLICY }";

struct type_case {
	const char *what, *created, *delete_at, *vcreated, *usage, *policy;
	int err;
};

#define POLICY_OK "\"uids\": [], \"gids\": [], \"algorithms\": 0, \"not_before\": 0, " \
	"\"not_after\": 0, \"max_bytes\": 0, \"max_requests\": 0, \"max_bindings\": 0"

static const struct type_case type_cases[] = {
	{ "well-formed", "17", "40", "17", "", "", 0 },
	{ "created as a string", "\"17\"", "40", "17", "", "", -EINVAL },
	{ "delete_at as a string", "17", "\"40\"", "17", "", "", -EINVAL },
	{ "delete_at as true", "17", "true", "17", "", "", -EINVAL },
	{ "version created as a float", "17", "40", "17.5", "", "", -EINVAL },
	{ "used_bytes as a string", "17", "40", "17", ", \"used_bytes\": \"9\", \"used_requests\": 1", "",
	  -EINVAL },
	{ "load_at_start as \"no\"", "17", "40", "17", "",
	  ", \"policy\": { " POLICY_OK ", \"load_at_start\": \"no\" }", -EINVAL },
	{ "max_bytes as a string", "17", "40", "17", "",
	  ", \"policy\": { \"uids\": [], \"gids\": [], \"algorithms\": 0, \"not_before\": 0, \"not_after\": 0, \"max_bytes\": \"1\", \"max_requests\": 0, \"max_bindings\": 0, \"load_at_start\": true }",
	  -EINVAL },
};

static void fill(char *out, size_t size, const struct type_case *c)
{
	const char *keys[] = { "CREATED", "DELETE_AT", "VCREATED", "USAGE", "POLICY" };
	const char *vals[] = { c->created, c->delete_at, c->vcreated, c->usage, c->policy };
	char tmp[4096];

	snprintf(out, size, "%s", pending_v2);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char *at = strstr(out, keys[i]);

		snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(at - out), out, vals[i],
			 at + strlen(keys[i]));
		snprintf(out, size, "%s", tmp);
	}
}

TEST_F(ks, key_file_field_types)
{
	for (size_t i = 0; i < ARRAY_SIZE(type_cases); i++) {
		const struct type_case *c = &type_cases[i];
		struct ks_key key;
		char text[4096];

		fill(text, sizeof(text), c);
		EXPECT_EQ(c->err, ks_parse(self->ks, "k.json", text, strlen(text), false, &key)) {
			TH_LOG("%s: expected %d", c->what, c->err);
		}
	}
}

/* master.kdf's numbers are numbers: "n": "131072" is damage, not 131072. */
TEST(kdf_field_types)
{
	char dir[] = "/tmp/hsmkey-ks-XXXXXX", pass[96], kdf[96], cmd[64], out[512], *text, *at;
	struct keystore *ks;
	size_t len;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(pass, sizeof(pass), "%s/pass", dir);
	spit(pass, "correct horse\n", 14);
	ASSERT_EQ(0, ks_open_ex(dir, pass, &ks));
	ks_close(ks);
	snprintf(kdf, sizeof(kdf), "%s/master.kdf", dir);
	text = slurp(kdf, &len);
	ASSERT_NE(NULL, text);
	at = strstr(text, "\"n\": 131072");
	ASSERT_NE(NULL, at);
	snprintf(out, sizeof(out), "%.*s\"n\": \"131072\"%s", (int)(at - text), text, at + 11);
	spit(kdf, out, strlen(out));
	EXPECT_EQ(-EINVAL, ks_open_ex(dir, pass, &ks));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", dir);
}

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

/* "algorithms" is an array of names everywhere; the old integer is still read. */
struct algs_case {
	const char *json;
	int err;
	uint32_t algs;
};

static const struct algs_case algs_cases[] = {
	{ "[]", 0, 0 },
	{ "[\"xts\"]", 0, HSMKEY_ALG_XTS },
	{ "[\"gcm\", \"xts\"]", 0, HSMKEY_ALG_XTS | HSMKEY_ALG_GCM },
	{ "[\"xts\", \"cbc\", \"gcm\"]", 0, 7 },
	{ "3", 0, HSMKEY_ALG_XTS | HSMKEY_ALG_CBC },	/* the old form */
	{ "8", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "[\"ecb\"]", -EINVAL, 0 },
	{ "[\"xts\", \"xts\"]", -EINVAL, 0 },
	{ "[1]", -EINVAL, 0 },
	{ "\"xts\"", -EINVAL, 0 },
	{ "true", -EINVAL, 0 },
	{ "1.0", -EINVAL, 0 },
};

TEST(policy_algorithms_are_names)
{
	struct ks_policy p = { .algs = HSMKEY_ALG_CBC | HSMKEY_ALG_GCM }, back;
	struct json_object *o = ks_policy_to_json(&p);

	EXPECT_STREQ("[\"cbc\",\"gcm\"]",
		     json_object_to_json_string_ext(json_object_object_get(o, "algorithms"),
						    JSON_C_TO_STRING_PLAIN));
	ASSERT_EQ(0, ks_policy_from_json(o, &back));
	EXPECT_EQ(p.algs, back.algs);
	json_object_put(o);
	for (size_t i = 0; i < ARRAY_SIZE(algs_cases); i++) {
		const struct algs_case *c = &algs_cases[i];
		char text[512];

		snprintf(text, sizeof(text),
			 "{\"uids\":[],\"gids\":[],\"algorithms\":%s,\"not_before\":0,\"not_after\":0,"
			 "\"max_bytes\":0,\"max_requests\":0,\"max_bindings\":0,\"load_at_start\":true}",
			 c->json);
		o = json_tokener_parse(text);
		ASSERT_NE(NULL, o) TH_LOG("case %s", c->json);
		EXPECT_EQ(c->err, ks_policy_from_json(o, &back)) TH_LOG("case %s", c->json);
		if (!c->err)
			EXPECT_EQ(c->algs, back.algs) TH_LOG("case %s", c->json);
		json_object_put(o);
	}
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

TEST_F(tamper, isolated)
{
	char out[65536], *text, *at;
	struct ks_key key;
	size_t len;
	int n = 0;

	text = slurp(self->path, &len);
	ASSERT_NE(NULL, text);
	if (variant->find) {
		at = strstr(text, variant->find);
		ASSERT_NE(NULL, at) TH_LOG("'%s' not in the key file", variant->find);
		snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text,
			 variant->repl, at + strlen(variant->find));
	} else {
		snprintf(out, sizeof(out), "%s", variant->repl);
	}
	spit(self->path, out, strlen(out));

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

TEST_HARNESS_MAIN
