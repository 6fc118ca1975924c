// SPDX-License-Identifier: GPL-2.0
/* The "hsmkey" generic netlink family: add, get, dump, revoke, permissions,
 * and malformed messages, which must be refused and change nothing. */
#include <sys/wait.h>
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

/*
 * Run @fn(@t, @arg) in a child that has become nobody, on @t's socket as
 * root opened it: what it returned (0: all as expected), -1 if it died.
 */
static int as_nobody(int (*fn)(struct nlt *t, const void *arg), struct nlt *t,
		     const void *arg)
{
	int status;
	pid_t pid = fork();

	if (!pid)
		_exit(nlt_drop_to_nobody() ? 0x80 : fn(t, arg));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
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

/* As nobody, removing a key and reading it are refused (a bit per surprise). */
static int nobody_remove(struct nlt *t, const void *k)
{
	return (nlt_remove(t, k) != -EPERM) | (nlt_get(t, k) != -EPERM) << 1;
}

TEST_F(nl, unprivileged_remove_is_eperm)
{
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	EXPECT_EQ(0, as_nobody(nobody_remove, &self->t, &self->k));
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
	/* AES-NI drivers; 6.12 names its AVX variant xts-aes-aesni-avx. */
	EXPECT_EQ(0, strncmp("xts-aes-aesni", self->t.inner_xts, 13)) TH_LOG("%s", self->t.inner_xts);
	EXPECT_STREQ("cbc-aes-aesni", self->t.inner_cbc);
}

/*
 * On a socket of its own, nobody may not add, nor read anything: key
 * metadata and counters are not for other users.
 */
static int nobody_add(struct nlt *t, const void *k)
{
	struct nlt u;
	int bad;

	(void)t;
	if (nlt_open(&u))
		return 0x40;
	bad = (u.dev >= 0) | (nlt_add(&u, k) != -EPERM) << 1 |
	      (nlt_get(&u, k) != -EPERM) << 2 | (nlt_dump(&u) != -EPERM) << 3 |
	      (nlt_info(&u) != -EPERM) << 4 | (nlt_audit_get(&u, NULL) != -EPERM) << 5;
	nlt_close(&u);
	return bad;
}

TEST_F(nl, unprivileged_add_is_eperm)
{
	int bad = as_nobody(nobody_add, &self->t, &self->k);

	EXPECT_EQ(0, bad) TH_LOG("unexpected results as nobody: %#x", bad);
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &self->k)) TH_LOG("the refused add changed the table");
}

static int nobody_revoke(struct nlt *t, const void *k)
{
	return (nlt_revoke(t, k) != -EPERM) | (nlt_get(t, k) != -EPERM) << 1;
}

TEST_F(nl, unprivileged_revoke_is_eperm)
{
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	/* The socket was opened by root (and is registered): the sender's rights count too. */
	EXPECT_EQ(0, as_nobody(nobody_revoke, &self->t, &self->k));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_STATE_ACTIVE, self->t.state) TH_LOG("the refused revoke changed the key");
}

/* Loaded without ktls=1 (the default): no session keys, no gcm-aes-hsmkey. */
TEST_F(nl, session_keys_need_ktls)
{
	uint8_t w[NLT_WRAP_MAX], zero[HSMKEY_VERIFIER_LEN] = { 0 };
	struct nlt_key k = { .type = HSMKEY_TYPE_AES_256_GCM, .keylen = 32 };
	struct nl_msg *msg;

	ASSERT_EQ(0, nlt_info(&self->t));
	ASSERT_EQ(0u, self->t.ktls) TH_LOG("hsmkey.ko loaded with ktls=1");
	memcpy(k.id, HSMKEY_SESSION_WRAP_ID, HSMKEY_ID_LEN);
	rand_fill(k.material, 32);
	msg = nlt_msg(&self->t, HSMKEY_CMD_SESSION_ADD, 0);
	nla_put(msg, HSMKEY_SESSION_A_WRAPPED,
		nlt_wrap(self->t.tkey, &k, zero, k.material, 32, w), w);
	EXPECT_EQ(-EOPNOTSUPP, nlt_call(&self->t, msg));
	EXPECT_NE(NULL, strstr(self->t.extack, "ktls=1")) TH_LOG("extack: '%s'", self->t.extack);
}

TEST_F(nl, gcm_inner_and_holder_in_info)
{
	ASSERT_EQ(0, nlt_info(&self->t));
	EXPECT_NE(NULL, strstr(self->t.inner_gcm, "gcm")) TH_LOG("inner gcm: '%s'", self->t.inner_gcm);
	EXPECT_EQ((uint32_t)getpid(), self->t.holder);
	nlt_release(&self->t);
	ASSERT_EQ(0, nlt_info(&self->t));
	EXPECT_EQ(0u, self->t.holder);
}

TEST_F(nl, owner_policy_and_counters_reported)
{
	struct nlt_policy p = { .nuids = 1, .uids = { 0 }, .max_requests = 77,
				.max_bytes = 4096 * 5, .not_after = 4000000000ull };

	self->k.policy = &p;
	ASSERT_EQ(0, nlt_add(&self->t, &self->k)) TH_LOG("add: %s", self->t.extack);
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(77u, self->t.max_requests);
	EXPECT_EQ(4096u * 5, self->t.max_bytes);
	EXPECT_EQ(4000000000ull, self->t.not_after);
	EXPECT_FALSE(self->t.has_owner);
	EXPECT_EQ(0u, self->t.requests);
	EXPECT_EQ(0u, self->t.binds);
	EXPECT_EQ(0, nlt_remove(&self->t, &self->k));
}

TEST_F(nl, gcm_key_has_a_request_limit)
{
	struct nlt_key g;

	nlt_key_random(&g, "gcm", HSMKEY_TYPE_AES_256_GCM);
	ASSERT_EQ(0, nlt_add(&self->t, &g)) TH_LOG("add: %s", self->t.extack);
	ASSERT_EQ(0, nlt_get(&self->t, &g));
	EXPECT_EQ(1ull << 32, self->t.max_requests);
	EXPECT_EQ(0, nlt_remove(&self->t, &g));
}

TEST_F(nl, disable_enable)
{
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	ASSERT_EQ(0, nlt_disable(&self->t, &self->k));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_STATE_DISABLED, self->t.state);
	ASSERT_EQ(0, nlt_enable(&self->t, &self->k));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_STATE_ACTIVE, self->t.state);
	ASSERT_EQ(0, nlt_revoke(&self->t, &self->k));
	EXPECT_EQ(-EKEYREVOKED, nlt_enable(&self->t, &self->k));
	EXPECT_EQ(-EKEYREVOKED, nlt_disable(&self->t, &self->k));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_STATE_REVOKED, self->t.state);
	EXPECT_EQ(-ENOKEY, nlt_disable(&self->t, &(struct nlt_key){ .version = 9 }));
	EXPECT_EQ(0, nlt_remove(&self->t, &self->k));
}

/* A disabled key still takes requests: revoking or removing it shreds it. */
TEST_F(nl, revoke_and_remove_disabled_keys)
{
	struct nlt_key other;

	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	ASSERT_EQ(0, nlt_disable(&self->t, &self->k));
	ASSERT_EQ(0, nlt_revoke(&self->t, &self->k));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_STATE_REVOKED, self->t.state);
	EXPECT_EQ(0, nlt_remove(&self->t, &self->k));
	nlt_key_random(&other, "disabled-remove", HSMKEY_TYPE_AES_128_CBC);
	ASSERT_EQ(0, nlt_add(&self->t, &other));
	ASSERT_EQ(0, nlt_disable(&self->t, &other));
	EXPECT_EQ(0, nlt_remove(&self->t, &other));
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &other));
}

TEST_F(nl, set_policy)
{
	struct nlt_policy p = { .max_requests = 5 };
	struct nl_msg *msg;

	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	ASSERT_EQ(0, nlt_set_policy(&self->t, &self->k, &p)) TH_LOG("%s", self->t.extack);
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(5u, self->t.max_requests);
	/* No policy attribute: refused, naming it. */
	msg = nlt_kid_msg(&self->t, HSMKEY_CMD_KEY_SET_POLICY, &self->k);
	EXPECT_EQ(-EINVAL, nlt_call(&self->t, msg));
	EXPECT_NE(NULL, strstr(self->t.extack, "HSMKEY_KEY_A_POLICY"));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(5u, self->t.max_requests);
	EXPECT_EQ(0, nlt_drop_to_nobody());
	p.max_requests = 0;
	EXPECT_EQ(-EPERM, nlt_set_policy(&self->t, &self->k, &p));
}

#define BATCH HSMKEY_BATCH_MAX

static unsigned int count_present(struct nlt *t, const struct nlt_key *k, unsigned int n)
{
	unsigned int i, present = 0;

	for (i = 0; i < n; i++)
		present += nlt_get(t, &k[i]) == 0;
	return present;
}

TEST_F(nl, batch_add_all_or_nothing)
{
	struct nlt_key *k = calloc(BATCH + 1, sizeof(*k));
	unsigned int i;

	for (i = 0; i < BATCH + 1; i++)
		nlt_key_random(&k[i], "batch", i % 2 ? HSMKEY_TYPE_AES_128_GCM :
							HSMKEY_TYPE_AES_256_XTS);
	/* Too many: refused, nothing added. */
	EXPECT_EQ(-E2BIG, nlt_add_batch(&self->t, k, BATCH + 1));
	EXPECT_NE(NULL, strstr(self->t.extack, "batch"));
	EXPECT_EQ(0u, count_present(&self->t, k, BATCH + 1));
	/* A duplicate inside: refused, none of the others stays. */
	k[7] = k[3];
	EXPECT_EQ(-EEXIST, nlt_add_batch(&self->t, k, 10));
	EXPECT_EQ(0u, count_present(&self->t, k, 10));
	nlt_key_random(&k[7], "batch", HSMKEY_TYPE_AES_256_XTS);
	/* One entry missing an attribute: refused, nothing added. */
	i = k[5].type;
	k[5].type = 0;
	EXPECT_EQ(-ERANGE, nlt_add_batch(&self->t, k, 10));
	EXPECT_EQ(0u, count_present(&self->t, k, 10));
	k[5].type = i;
	/* A full batch. */
	ASSERT_EQ(0, nlt_add_batch(&self->t, k, BATCH)) TH_LOG("%s", self->t.extack);
	EXPECT_EQ((unsigned int)BATCH, count_present(&self->t, k, BATCH));
	for (i = 0; i < BATCH; i++)
		EXPECT_EQ(0, nlt_remove(&self->t, &k[i]));
	free(k);
}

TEST_F(nl, device_is_exclusive_and_needed)
{
	uint8_t owner[HSMKEY_OWNER_LEN], head[HSMKEY_AUDIT_HEAD_LEN];
	struct nlt other;
	struct nlt_key k2;
	int fd, status;
	pid_t pid;

	ASSERT_LE(0, self->t.dev) TH_LOG("cannot hold /dev/hsmkey and register on it");
	/* A second open, even by the holder, is refused. */
	fd = open("/dev/" HSMKEY_DEVICE_NAME, O_RDWR);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EBUSY, errno);
	/* The transport key is given once per open file. */
	EXPECT_EQ(-EALREADY, nlt_register(&self->t, self->t.dev));
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));

	/*
	 * Authority is the registered socket's, not the process's: another
	 * socket of this process, even with the transport key, may not change
	 * keys; it may read them.
	 */
	ASSERT_EQ(0, nlt_open_nodev(&other));
	memcpy(other.tkey, self->t.tkey, sizeof(other.tkey));
	nlt_key_random(&k2, "other", HSMKEY_TYPE_AES_256_XTS);
	rand_fill(owner, sizeof(owner));
	rand_fill(head, sizeof(head));
	EXPECT_EQ(-EBUSY, nlt_add(&other, &k2));
	EXPECT_NE(NULL, strstr(other.extack, "/dev/hsmkey")) TH_LOG("%s", other.extack);
	EXPECT_EQ(-EBUSY, nlt_revoke(&other, &self->k));
	EXPECT_EQ(-EBUSY, nlt_audit_set(&other, owner, 1, head));
	EXPECT_EQ(0, nlt_get(&other, &self->k));
	EXPECT_EQ(-ENOKEY, nlt_get(&other, &k2));
	nlt_close(&other);

	/* Another root process may not change keys while a socket is registered. */
	pid = fork();
	if (!pid) {
		struct nlt o;
		int ok = 1;

		nlt_open(&o);
		ok &= o.dev < 0;
		ok &= nlt_revoke(&o, &self->k) == -EBUSY;
		ok &= strstr(o.extack, "/dev/hsmkey") != NULL;
		ok &= nlt_disable(&o, &self->k) == -EBUSY;
		ok &= nlt_remove(&o, &self->k) == -EBUSY;
		ok &= nlt_add(&o, &k2) == -EBUSY;
		ok &= nlt_get(&o, &self->k) == 0;	/* reading is fine */
		_exit(ok ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_STATE_ACTIVE, self->t.state);

	/*
	 * Released: no socket is registered, so no adds, enables, policies or
	 * anchors; CAP_SYS_ADMIN may still disable, revoke and remove.
	 */
	nlt_release(&self->t);
	self->k.version = 2;
	EXPECT_EQ(-EPERM, nlt_add(&self->t, &self->k));
	EXPECT_NE(NULL, strstr(self->t.extack, "/dev/hsmkey")) TH_LOG("%s", self->t.extack);
	self->k.version = 1;
	EXPECT_EQ(-EPERM, nlt_enable(&self->t, &self->k));
	EXPECT_EQ(-EPERM, nlt_audit_set(&self->t, owner, 1, head));
	EXPECT_EQ(0, nlt_disable(&self->t, &self->k));
	EXPECT_EQ(0, nlt_remove(&self->t, &self->k));
}

/* As nobody, setting the anchor (to *@seq) and reading it are refused. */
static int nobody_audit(struct nlt *t, const void *seq)
{
	uint8_t head[HSMKEY_AUDIT_HEAD_LEN] = { 1 };

	return (nlt_audit_set(t, NULL, *(const uint64_t *)seq, head) != -EPERM) |
	       (nlt_audit_get(t, NULL) != -EPERM) << 1;
}

TEST_F(nl, audit_anchor)
{
	uint8_t head[HSMKEY_AUDIT_HEAD_LEN], other[HSMKEY_AUDIT_HEAD_LEN];
	uint64_t base, seq;

	rand_fill(head, sizeof(head));
	rand_fill(other, sizeof(other));
	ASSERT_EQ(0, nlt_audit_get(&self->t, NULL));
	base = self->t.audit_seq;	/* another test or run may have set one */
	ASSERT_EQ(0, nlt_audit_set(&self->t, NULL, base + 10, head)) TH_LOG("%s", self->t.extack);
	EXPECT_EQ(base + 10, self->t.audit_seq) TH_LOG("SET replies with the anchor");
	ASSERT_EQ(0, nlt_audit_get(&self->t, NULL));
	EXPECT_EQ(base + 10, self->t.audit_seq);
	EXPECT_EQ(0, memcmp(head, self->t.audit_head, sizeof(head)));
	/* The same again is accepted and changes nothing. */
	EXPECT_EQ(0, nlt_audit_set(&self->t, NULL, base + 10, head)) TH_LOG("%s", self->t.extack);
	/* The number must grow: backwards, or the same with another head, is refused. */
	EXPECT_EQ(-ESTALE, nlt_audit_set(&self->t, NULL, base + 10, other));
	EXPECT_EQ(-ESTALE, nlt_audit_set(&self->t, NULL, base + 9, other));
	EXPECT_NE(NULL, strstr(self->t.extack, "sequence number")) TH_LOG("%s", self->t.extack);
	EXPECT_EQ(-EINVAL, nlt_audit_set(&self->t, NULL, base + 11, NULL));
	EXPECT_NE(NULL, strstr(self->t.extack, "HSMKEY_AUDIT_A_HEAD")) TH_LOG("%s", self->t.extack);
	EXPECT_NE(0, nlt_audit_set(&self->t, NULL, 0, other)) TH_LOG("sequence number 0 was taken");
	ASSERT_EQ(0, nlt_audit_get(&self->t, NULL));
	EXPECT_EQ(base + 10, self->t.audit_seq);
	EXPECT_EQ(0, memcmp(head, self->t.audit_head, sizeof(head)));
	/* Only the registered socket with CAP_SYS_ADMIN may set it; nobody may not read it. */
	seq = base + 20;
	EXPECT_EQ(0, as_nobody(nobody_audit, &self->t, &seq));
	ASSERT_EQ(0, nlt_audit_get(&self->t, NULL));
	EXPECT_EQ(base + 10, self->t.audit_seq);
}

/* Each keystore instance (owner) has its own anchor. */
TEST_F(nl, audit_anchor_per_owner)
{
	uint8_t a[HSMKEY_OWNER_LEN], b[HSMKEY_OWNER_LEN];
	uint8_t ha[HSMKEY_AUDIT_HEAD_LEN], hb[HSMKEY_AUDIT_HEAD_LEN];

	rand_fill(a, sizeof(a));
	rand_fill(b, sizeof(b));
	rand_fill(ha, sizeof(ha));
	rand_fill(hb, sizeof(hb));
	ASSERT_EQ(0, nlt_audit_get(&self->t, a));
	EXPECT_EQ(0, self->t.audit_seq);	/* a new owner: never set */
	ASSERT_EQ(0, nlt_audit_set(&self->t, a, 500, ha)) TH_LOG("%s", self->t.extack);
	ASSERT_EQ(0, nlt_audit_set(&self->t, b, 7, hb)) TH_LOG("%s", self->t.extack);
	ASSERT_EQ(0, nlt_audit_get(&self->t, a));
	EXPECT_EQ(500, self->t.audit_seq);
	EXPECT_EQ(0, memcmp(ha, self->t.audit_head, sizeof(ha)));
	ASSERT_EQ(0, nlt_audit_get(&self->t, b));
	EXPECT_EQ(7, self->t.audit_seq);
	EXPECT_EQ(0, memcmp(hb, self->t.audit_head, sizeof(hb)));
	/* b's lower number is not "backwards" for a, nor the reverse. */
	EXPECT_EQ(-ESTALE, nlt_audit_set(&self->t, b, 6, hb));
	ASSERT_EQ(0, nlt_audit_set(&self->t, b, 8, hb));
}

TEST(device_needs_cap_sys_admin)
{
	ASSERT_EQ(0, nlt_drop_to_nobody());
	EXPECT_EQ(-1, open("/dev/" HSMKEY_DEVICE_NAME, O_RDWR));
	EXPECT_TRUE(errno == EACCES || errno == EPERM);
}

enum mutation {
	NO_MATERIAL, SHORT_MATERIAL, LONG_MATERIAL, EQUAL_XTS_HALVES, NO_ID,
	SHORT_ID, VERSION_ZERO, VERSION_U8, TYPE_ZERO, TYPE_TOO_BIG, NAME_TOO_LONG,
	NAME_NOT_TERMINATED, REPLY_ONLY_ATTR, UNKNOWN_ATTR, NO_VERIFIER,
	CLEAR_MATERIAL, FORGED_WRAP, WRAP_FOR_OTHER_KEY, POLICY_BAD_ALGS,
	POLICY_ODD_UIDS, POLICY_INVERTED_WINDOW, POLICY_NOT_NESTED, SHORT_OWNER,
	KEYS_AND_KEY,
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

BAD_ADD(no_material, NO_MATERIAL, -EINVAL, "HSMKEY_KEY_A_WRAPPED");
BAD_ADD(clear_material, CLEAR_MATERIAL, -EBADMSG, "authenticate");
BAD_ADD(forged_wrap, FORGED_WRAP, -EBADMSG, "authenticate");
BAD_ADD(wrap_for_other_key, WRAP_FOR_OTHER_KEY, -EBADMSG, "authenticate");
BAD_ADD(policy_bad_algs, POLICY_BAD_ALGS, -EINVAL, "");
BAD_ADD(policy_odd_uids, POLICY_ODD_UIDS, -EINVAL, "multiple of 4");
BAD_ADD(policy_inverted_window, POLICY_INVERTED_WINDOW, -EINVAL, "not-after");
BAD_ADD(policy_not_nested, POLICY_NOT_NESTED, -EINVAL, "");
BAD_ADD(short_owner, SHORT_OWNER, -ERANGE, "");
BAD_ADD(keys_and_key, KEYS_AND_KEY, -EINVAL, "not both");
BAD_ADD(short_material, SHORT_MATERIAL, -EINVAL, "length");
BAD_ADD(long_material, LONG_MATERIAL, -EINVAL, "length");
BAD_ADD(equal_xts_halves, EQUAL_XTS_HALVES, -EKEYREJECTED, "halves");
BAD_ADD(no_id, NO_ID, -EINVAL, "HSMKEY_KEY_A_ID");
BAD_ADD(short_id, SHORT_ID, -ERANGE, "");
BAD_ADD(version_zero, VERSION_ZERO, -ERANGE, "");
BAD_ADD(version_u8, VERSION_U8, -EINVAL, "");
BAD_ADD(type_zero, TYPE_ZERO, -ERANGE, "");
BAD_ADD(type_too_big, TYPE_TOO_BIG, -ERANGE, "");
BAD_ADD(name_too_long, NAME_TOO_LONG, -EINVAL, "");
BAD_ADD(name_not_terminated, NAME_NOT_TERMINATED, -EINVAL, "");
BAD_ADD(reply_only_attr, REPLY_ONLY_ATTR, -EINVAL, "");
BAD_ADD(unknown_attr, UNKNOWN_ATTR, -EINVAL, "");
BAD_ADD(no_verifier, NO_VERIFIER, -EINVAL, "length");

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
		nla_put(msg, HSMKEY_KEY_A_ID, m == SHORT_ID ? 15 : HSMKEY_ID_LEN, k->id);
	if (m == VERSION_U8)
		nla_put_u8(msg, HSMKEY_KEY_A_VERSION, 1);
	else
		nla_put_u32(msg, HSMKEY_KEY_A_VERSION, m == VERSION_ZERO ? 0 : 1);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	if (m == NAME_TOO_LONG)
		nla_put_string(msg, HSMKEY_KEY_A_NAME, longname);
	else if (m == NAME_NOT_TERMINATED)
		nla_put(msg, HSMKEY_KEY_A_NAME, 3, "bad");
	else
		nla_put_string(msg, HSMKEY_KEY_A_NAME, "bad");
	nla_put_u32(msg, HSMKEY_KEY_A_TYPE, m == TYPE_ZERO ? 0 :
		    m == TYPE_TOO_BIG ? HSMKEY_TYPE_MAX + 1 : k->type);
	if (m == CLEAR_MATERIAL) {
		/* The right length, verifier and material in the clear. */
		uint8_t clear[HSMKEY_WRAP_LEN(HSMKEY_MATERIAL_MAX)] = { 0 };

		memcpy(clear + HSMKEY_WRAP_NONCE_LEN, k->verifier, HSMKEY_VERIFIER_LEN);
		memcpy(clear + HSMKEY_WRAP_NONCE_LEN + HSMKEY_VERIFIER_LEN, k->material,
		       k->keylen);
		nla_put(msg, HSMKEY_KEY_A_WRAPPED, (int)HSMKEY_WRAP_LEN(k->keylen), clear);
	} else if (m != NO_MATERIAL) {
		uint8_t wrapped[NLT_WRAP_MAX];
		struct nlt_key other = *k;
		unsigned int len = m == SHORT_MATERIAL ? 32 : m == LONG_MATERIAL ? 64 : k->keylen;
		int wlen;

		other.id[0] ^= 1;
		/* NO_VERIFIER: the material alone, wrapped as it should be. */
		wlen = nlt_wrap(self->t.tkey, m == WRAP_FOR_OTHER_KEY ? &other : k,
				m == NO_VERIFIER ? NULL : k->verifier, k->material, len, wrapped);
		if (m == FORGED_WRAP)
			wrapped[wlen - 1] ^= 1;
		nla_put(msg, HSMKEY_KEY_A_WRAPPED, wlen, wrapped);
	}
	if (m == POLICY_BAD_ALGS || m == POLICY_ODD_UIDS || m == POLICY_INVERTED_WINDOW) {
		struct nlattr *nest = nla_nest_start(msg, HSMKEY_KEY_A_POLICY);

		if (m == POLICY_BAD_ALGS)
			nla_put_u32(msg, HSMKEY_POLICY_A_ALGS, 1u << 7);
		if (m == POLICY_ODD_UIDS)
			nla_put(msg, HSMKEY_POLICY_A_UIDS, 5, "\0\0\0\0");
		if (m == POLICY_INVERTED_WINDOW) {
			nla_put_u64(msg, HSMKEY_POLICY_A_NOT_BEFORE, 2000000000);
			nla_put_u64(msg, HSMKEY_POLICY_A_NOT_AFTER, 1000000000);
		}
		nla_nest_end(msg, nest);
	}
	if (m == POLICY_NOT_NESTED)
		nla_put_u32(msg, HSMKEY_KEY_A_POLICY, 1);
	if (m == SHORT_OWNER)
		nla_put(msg, HSMKEY_KEY_A_OWNER, 8, k->id);
	if (m == KEYS_AND_KEY) {
		struct nlattr *batch = nla_nest_start(msg, HSMKEY_KEY_A_BATCH);
		struct nlattr *e = nla_nest_start(msg, 1);
		struct nlt_key other;

		nlt_key_random(&other, "other", HSMKEY_TYPE_AES_256_XTS);
		nlt_put_key(&self->t, msg, &other);
		nla_nest_end(msg, e);
		nla_nest_end(msg, batch);
	}
	if (m == LONG_MATERIAL) /* 64 bytes is right for 256-bit XTS: claim 128-bit */
		nla_put_u32(msg, HSMKEY_KEY_A_TYPE, HSMKEY_TYPE_AES_128_XTS);
	if (m == REPLY_ONLY_ATTR)
		nla_put_u32(msg, HSMKEY_KEY_A_STATE, HSMKEY_STATE_ACTIVE);
	if (m == UNKNOWN_ATTR)
		nla_put_u32(msg, HSMKEY_KEY_A_MAX + 1, 0);

	EXPECT_EQ(variant->err, nlt_call(&self->t, msg));
	EXPECT_NE(0, self->t.extack[0]) TH_LOG("the refusal carries no extack message");
	EXPECT_NE(NULL, strstr(self->t.extack, variant->msg))
		TH_LOG("extack '%s' does not say '%s'", self->t.extack, variant->msg);
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, k)) TH_LOG("the refused add left a key");
	ASSERT_EQ(0, nlt_call(&self->t, nlt_msg(&self->t, HSMKEY_CMD_INFO, 0)));
	EXPECT_EQ(before, self->t.nkeys_info);
}

TEST_HARNESS_MAIN
