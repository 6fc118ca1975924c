// SPDX-License-Identifier: GPL-2.0
/*
 * Per-key policy, enforced by the kernel at bind time and on the data path:
 * allowed uids and gids (tried by an unprivileged user), algorithms,
 * not-before, expiry (the key is revoked, with an event), usage limits in
 * requests and bytes (with an event), the bindings cap, disable/enable.
 */
#include <sys/wait.h>
#include <time.h>
#include "nltest.h"
#include "algtest.h"
#include "evtest.h"
#include "kselftest_harness.h"

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bind a new xts(hsmaes) tfm to @k: the fd, or -errno from setkey. */
static int bind_xts(const struct nlt_key *k, int *fd)
{
	uint8_t tok[HSMKEY_TOKEN_LEN];
	int r;

	*fd = alg_open("xts(hsmaes)");
	if (*fd < 0)
		return *fd;
	nlt_token(k, tok);
	r = alg_setkey(*fd, tok, sizeof(tok));
	if (r) {
		close(*fd);
		*fd = -1;
	}
	return r;
}

/* What setkey returns to an unprivileged process (uid and gid 65534). */
static int bind_as_nobody(const struct nlt_key *k)
{
	int status, fd;
	pid_t pid = fork();

	if (!pid) {
		int r = nlt_drop_to_nobody();

		if (!r)
			r = bind_xts(k, &fd);
		_exit(-r);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -EINTR;
	return -WEXITSTATUS(status);
}

static int xts_request(int fd, unsigned int len)
{
	static uint8_t buf[65536];
	uint8_t iv[16] = { 0 };

	return alg_crypt(fd, true, iv, buf, buf, len);
}

FIXTURE(pol) {
	struct nlt t;
	struct nlt_key k;
	struct nlt_policy p;
};

FIXTURE_SETUP(pol)
{
	ASSERT_EQ(0, nlt_open(&self->t));
	nlt_key_random(&self->k, "policy", HSMKEY_TYPE_AES_256_XTS);
	memset(&self->p, 0, sizeof(self->p));
	self->k.policy = &self->p;
}

FIXTURE_TEARDOWN(pol)
{
	nlt_remove(&self->t, &self->k);
	nlt_close(&self->t);
}

FIXTURE(who) {
	struct nlt t;
	struct nlt_key k;
	struct nlt_policy p;
};

FIXTURE_SETUP(who)
{
	ASSERT_EQ(0, nlt_open(&self->t));
	nlt_key_random(&self->k, "policy-who", HSMKEY_TYPE_AES_256_XTS);
	memset(&self->p, 0, sizeof(self->p));
	self->k.policy = &self->p;
}

FIXTURE_TEARDOWN(who)
{
	nlt_remove(&self->t, &self->k);
	nlt_close(&self->t);
}

/* One case of the uid/gid rules: the policy's lists, and who may bind. */
FIXTURE_VARIANT(who) {
	uint32_t uid, gid;	/* ~0: not listed */
	int nobody, root;	/* expected setkey results */
};

FIXTURE_VARIANT_ADD(who, anyone) { ~0u, ~0u, 0, 0 };
FIXTURE_VARIANT_ADD(who, uid_nobody) { 65534, ~0u, 0, -EACCES };
FIXTURE_VARIANT_ADD(who, uid_root) { 0, ~0u, -EACCES, 0 };
FIXTURE_VARIANT_ADD(who, uid_other) { 1000, ~0u, -EACCES, -EACCES };
FIXTURE_VARIANT_ADD(who, gid_nogroup) { ~0u, 65534, 0, -EACCES };
FIXTURE_VARIANT_ADD(who, gid_other_uid_root) { 0, 1000, -EACCES, 0 };

TEST_F(who, who_may_bind)
{
	int fd, r;

	if (variant->uid != ~0u)
		self->p.uids[self->p.nuids++] = variant->uid;
	if (variant->gid != ~0u)
		self->p.gids[self->p.ngids++] = variant->gid;
	ASSERT_EQ(0, nlt_add(&self->t, &self->k)) TH_LOG("%s", self->t.extack);
	EXPECT_EQ(variant->nobody, bind_as_nobody(&self->k));
	r = bind_xts(&self->k, &fd);
	EXPECT_EQ(variant->root, r);
	if (!r) {
		EXPECT_EQ(0, xts_request(fd, 512));
		close(fd);
	}
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ((uint64_t)((variant->nobody != 0) + (variant->root != 0)), self->t.denies);
	EXPECT_EQ((uint64_t)((variant->nobody == 0) + (variant->root == 0)), self->t.binds);
}

TEST_F(pol, algorithm_not_allowed)
{
	int fd;

	self->p.algs = HSMKEY_ALG_CBC;
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	EXPECT_EQ(-EKEYREJECTED, bind_xts(&self->k, &fd));
	self->p.algs = HSMKEY_ALG_XTS | HSMKEY_ALG_CBC;
	ASSERT_EQ(0, nlt_set_policy(&self->t, &self->k, &self->p));
	ASSERT_EQ(0, bind_xts(&self->k, &fd));
	close(fd);
}

TEST_F(pol, not_before)
{
	int fd;

	self->p.not_before = (uint64_t)now_s() + 3600;
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	EXPECT_EQ(-EKEYEXPIRED, bind_xts(&self->k, &fd));
	self->p.not_before = (uint64_t)now_s() - 1;
	ASSERT_EQ(0, nlt_set_policy(&self->t, &self->k, &self->p));
	ASSERT_EQ(0, bind_xts(&self->k, &fd));
	close(fd);
}

TEST_F(pol, expiry_revokes_with_an_event)
{
	struct evlog *log = calloc(1, sizeof(*log));
	int grp = ev_group(), err, fd, i;
	int64_t deadline, revoked_ms = 0;
	struct nl_sock *sk;

	ASSERT_LT(0, grp);
	sk = ev_listen(grp, &err);
	ASSERT_EQ(0, err);
	self->p.not_after = (uint64_t)now_s() + 2;
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	ASSERT_EQ(0, bind_xts(&self->k, &fd));
	EXPECT_EQ(0, xts_request(fd, 4096));
	/* The bound is 1 s after not-after; allow scheduling on a busy guest. */
	deadline = (int64_t)self->p.not_after * 1000 + 3000;
	while (now_ms() < deadline) {
		ASSERT_EQ(0, nlt_get(&self->t, &self->k));
		if (self->t.state == HSMKEY_STATE_REVOKED) {
			revoked_ms = now_ms();
			break;
		}
		usleep(50 * 1000);
	}
	ASSERT_NE(0, revoked_ms) TH_LOG("the key was not revoked by its expiry");
	TH_LOG("revoked %lld ms after not-after (observed by polling every 50 ms)",
	       (long long)(revoked_ms - (int64_t)self->p.not_after * 1000));
	EXPECT_GE(revoked_ms, (int64_t)self->p.not_after * 1000);
	EXPECT_EQ(-EKEYREVOKED, xts_request(fd, 4096));
	close(fd);
	EXPECT_EQ(-EKEYREVOKED, bind_xts(&self->k, &fd));
	/*
	 * ADD, BIND, EXPIRE and the DENY of the bind just refused, which may
	 * come before EXPIRE (sent once the revoke has drained): read all.
	 */
	ev_read(sk, log, 8);
	for (i = 0; i < log->n; i++)
		if (log->ev[i].type == HSMKEY_EVENT_EXPIRE)
			break;
	ASSERT_LT(i, log->n) TH_LOG("no EXPIRE event among %d", log->n);
	EXPECT_EQ(0, memcmp(log->ev[i].id, self->k.id, HSMKEY_ID_LEN));
	nl_socket_free(sk);
	free(log);
}

TEST_F(pol, request_limit)
{
	struct evlog *log = calloc(1, sizeof(*log));
	int grp = ev_group(), err, fd, fd2, i, ok = 0;
	struct nl_sock *sk;

	ASSERT_LT(0, grp);
	sk = ev_listen(grp, &err);
	ASSERT_EQ(0, err);
	self->p.max_requests = 10;
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	ASSERT_EQ(0, bind_xts(&self->k, &fd));
	for (i = 0; i < 15; i++)
		ok += xts_request(fd, 512) == 0;
	EXPECT_EQ(10, ok);
	EXPECT_EQ(-EDQUOT, xts_request(fd, 512));
	EXPECT_EQ(-EDQUOT, bind_xts(&self->k, &fd2));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(10u, self->t.requests);
	EXPECT_EQ(5120u, self->t.bytes);
	/* ADD, BIND, DENY (the refused bind) and LIMIT, in some order. */
	ev_read(sk, log, 4);
	for (i = 0; i < log->n; i++)
		if (log->ev[i].type == HSMKEY_EVENT_LIMIT)
			break;
	EXPECT_LT(i, log->n) TH_LOG("no LIMIT event among %d", log->n);
	/* A higher limit counts what was used: 5 more. */
	self->p.max_requests = 15;
	ASSERT_EQ(0, nlt_set_policy(&self->t, &self->k, &self->p));
	for (i = 0, ok = 0; i < 8; i++)
		ok += xts_request(fd, 512) == 0;
	EXPECT_EQ(5, ok);
	close(fd);
	nl_socket_free(sk);
	free(log);
}

TEST_F(pol, byte_limit)
{
	int fd;

	self->p.max_bytes = 3 * 4096 + 100;
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	ASSERT_EQ(0, bind_xts(&self->k, &fd));
	EXPECT_EQ(0, xts_request(fd, 4096));
	EXPECT_EQ(0, xts_request(fd, 4096));
	EXPECT_EQ(0, xts_request(fd, 4096));
	EXPECT_EQ(-EDQUOT, xts_request(fd, 4096));
	EXPECT_EQ(-EDQUOT, xts_request(fd, 512));
	EXPECT_EQ(0, xts_request(fd, 96));
	EXPECT_EQ(-EDQUOT, xts_request(fd, 16));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(3u * 4096 + 96, self->t.bytes);
	close(fd);
}

TEST_F(pol, bindings_cap)
{
	int fd[3];

	self->p.max_bindings = 2;
	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	ASSERT_EQ(0, bind_xts(&self->k, &fd[0]));
	ASSERT_EQ(0, bind_xts(&self->k, &fd[1]));
	EXPECT_EQ(-EUSERS, bind_xts(&self->k, &fd[2]));
	close(fd[0]);
	EXPECT_EQ(0, bind_xts(&self->k, &fd[2]));
	close(fd[1]);
	close(fd[2]);
}

TEST_F(pol, disable_keeps_bindings_refuses_new)
{
	int fd, fd2;

	ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	ASSERT_EQ(0, bind_xts(&self->k, &fd));
	ASSERT_EQ(0, nlt_disable(&self->t, &self->k));
	EXPECT_EQ(-EPERM, bind_xts(&self->k, &fd2));
	EXPECT_EQ(0, xts_request(fd, 512)) TH_LOG("an existing binding stops on disable");
	ASSERT_EQ(0, nlt_enable(&self->t, &self->k));
	ASSERT_EQ(0, bind_xts(&self->k, &fd2));
	close(fd2);
	close(fd);
}

TEST_HARNESS_MAIN
