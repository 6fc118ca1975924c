// SPDX-License-Identifier: GPL-2.0
/*
 * The control plane's privilege boundaries, from the attacker's side:
 * an unprivileged user reading metadata; a root process that is not the
 * registered daemon (before the daemon registers, beside it, after it is
 * gone, after a fork, holding a file passed to it); the audit anchor; a
 * shared GCM key bound with short tags; malformed policies; usage spent in
 * an earlier life of a key.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "nltest.h"
#include "algtest.h"
#include "kselftest_harness.h"

/* A child's verdict: 0 all as expected, else the number of the check. */
static int wait_child(pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* A registered daemon's socket and a key it added. */
struct holder {
	struct nlt t;
	struct nlt_key k;
};

static int holder_start(struct holder *h, const char *name, uint32_t type)
{
	int err = nlt_open(&h->t);

	if (err)
		return err;
	if (h->t.dev < 0)
		return -EBUSY;
	nlt_key_random(&h->k, name, type);
	return nlt_add(&h->t, &h->k);
}

/* Every command that reads, from a caller that may not. */
static int reads_refused(struct nlt *t, const struct nlt_key *k)
{
	if (nlt_get(t, k) != -EPERM)
		return 1;
	if (nlt_dump(t) != -EPERM || t->nkeys)
		return 2;
	if (nlt_info(t) != -EPERM || t->holder)
		return 3;
	if (nlt_audit_get(t, NULL) != -EPERM)
		return 4;
	/* Nothing about the key came back. */
	if (nlt_contains(t->raw, t->rawlen, k->id, HSMKEY_ID_LEN))
		return 5;
	return 0;
}

TEST(nobody_reads_nothing)
{
	struct holder h;
	struct nlt t;
	pid_t pid;

	ASSERT_EQ(0, holder_start(&h, "secret-svc", HSMKEY_TYPE_AES_256_XTS));
	/* Its own socket, opened after dropping every privilege. */
	pid = fork();
	if (!pid)
		_exit(nlt_drop_to_nobody() ? 100 :
		      nlt_open_nodev(&t) ? 101 : reads_refused(&t, &h.k));
	EXPECT_EQ(0, wait_child(pid)) TH_LOG("check failed as nobody on its own socket");
	/* A socket root opened, used after dropping to nobody. */
	ASSERT_EQ(0, nlt_open_nodev(&t));
	pid = fork();
	if (!pid)
		_exit(nlt_drop_to_nobody() ? 100 : reads_refused(&t, &h.k));
	EXPECT_EQ(0, wait_child(pid)) TH_LOG("check failed as nobody on root's socket");
	/* Root may read, and sees the holder's pid. */
	EXPECT_EQ(0, nlt_get(&t, &h.k));
	EXPECT_EQ(0, nlt_info(&t));
	EXPECT_EQ((uint32_t)getpid(), t.holder);
	nlt_close(&t);
	EXPECT_EQ(0, nlt_remove(&h.t, &h.k));
	nlt_close(&h.t);
}

/* Changes a root socket that is not the daemon's may or may not make. */
static void expect_changes(struct __test_metadata *_metadata, struct nlt *t,
			   const struct nlt_key *k, int change_err,
			   int fail_safe_err)
{
	struct nlt_policy open_policy = { .algs = HSMKEY_ALG_XTS };
	uint8_t head[HSMKEY_AUDIT_HEAD_LEN] = { 1 };
	struct nlt_key fresh;

	nlt_key_random(&fresh, "intruder", HSMKEY_TYPE_AES_256_XTS);
	EXPECT_EQ(change_err, nlt_enable(t, k)) TH_LOG("enable: %s", t->extack);
	EXPECT_EQ(change_err, nlt_set_policy(t, k, &open_policy))
		TH_LOG("set policy: %s", t->extack);
	EXPECT_EQ(change_err, nlt_audit_set(t, NULL, 1ULL << 40, head))
		TH_LOG("anchor: %s", t->extack);
	/* Without the registration there is no transport key to wrap with. */
	EXPECT_NE(0, nlt_add(t, &fresh));
	EXPECT_EQ(fail_safe_err, nlt_disable(t, k)) TH_LOG("disable: %s", t->extack);
}

TEST(root_beside_the_daemon_changes_nothing)
{
	struct holder h;
	struct nlt t;
	int fd;

	ASSERT_EQ(0, holder_start(&h, "held", HSMKEY_TYPE_AES_256_XTS));
	ASSERT_EQ(0, nlt_open_nodev(&t));
	fd = open("/dev/" HSMKEY_DEVICE_NAME, O_RDWR);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EBUSY, errno) TH_LOG("a second open of /dev/hsmkey must fail");
	expect_changes(_metadata, &t, &h.k, -EBUSY, -EBUSY);
	EXPECT_EQ(-EBUSY, nlt_revoke(&t, &h.k));
	EXPECT_EQ(-EBUSY, nlt_remove(&t, &h.k));
	/* Reads are not changes. */
	EXPECT_EQ(0, nlt_get(&t, &h.k));
	EXPECT_EQ(HSMKEY_STATE_ACTIVE, t.state);
	nlt_close(&t);
	EXPECT_EQ(0, nlt_remove(&h.t, &h.k));
	nlt_close(&h.t);
}

TEST(no_daemon_only_fail_safe)
{
	struct holder h;
	struct nlt t;

	ASSERT_EQ(0, holder_start(&h, "orphan", HSMKEY_TYPE_AES_256_XTS));
	ASSERT_EQ(0, nlt_disable(&h.t, &h.k));
	nlt_release(&h.t);	/* the daemon is gone */
	ASSERT_EQ(0, nlt_open_nodev(&t));
	EXPECT_EQ(0, nlt_info(&t));
	EXPECT_EQ(0, t.holder);
	/* Off is allowed; on, looser and anchor writes are not. */
	expect_changes(_metadata, &t, &h.k, -EPERM, 0);
	EXPECT_EQ(0, nlt_get(&t, &h.k));
	EXPECT_EQ(HSMKEY_STATE_DISABLED, t.state) TH_LOG("the disabled key was enabled");
	EXPECT_EQ(0, nlt_revoke(&t, &h.k));
	nlt_close(&t);
	/* A daemon registers again: revocation cannot be undone. */
	nlt_close(&h.t);
	ASSERT_EQ(0, nlt_open(&t));
	ASSERT_LE(0, t.dev);
	EXPECT_EQ(-EKEYREVOKED, nlt_enable(&t, &h.k));
	EXPECT_EQ(0, nlt_remove(&t, &h.k));
	nlt_close(&t);
}

/* The forked daemon's checks: it still adds and removes; another socket may not change. */
static int forked_checks(struct holder *h)
{
	struct nlt other;
	int r = 0;

	nlt_key_random(&h->k, "child", HSMKEY_TYPE_AES_256_XTS);
	if (nlt_add(&h->t, &h->k))
		return 12;
	if (nlt_open_nodev(&other))
		return 13;
	if (nlt_enable(&other, &h->k) != -EBUSY)
		r = 13;
	nlt_close(&other);
	if (!r && nlt_remove(&h->t, &h->k))
		r = 14;
	return r;
}

/*
 * A daemon that forks and exits: the child keeps the file and the socket,
 * and with them the authority; a third process does not get it.
 */
static int fork_child(void)
{
	struct holder h;
	pid_t child;
	int r;

	if (holder_start(&h, "forked", HSMKEY_TYPE_AES_256_XTS))
		return 10;
	child = fork();
	if (child)
		_exit(child < 0 ? 11 : 0);	/* the parent exits at once */
	while (getppid() != 1)
		usleep(10000);
	r = forked_checks(&h);
	/*
	 * The file given back before the verdict is: the next test opens
	 * /dev/hsmkey as soon as it has read it, and this process's exit
	 * may not have closed the file by then (-EBUSY there, seen once).
	 */
	nlt_close(&h.t);
	return r;
}

TEST(fork_then_parent_exits)
{
	int fds[2], verdict = -1;
	pid_t pid;

	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	if (!pid) {
		int r;

		close(fds[0]);
		if (fork()) {		/* the daemon's parent, reaped here */
			wait(NULL);
			_exit(0);
		}
		r = fork_child();
		if (write(fds[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	EXPECT_EQ(sizeof(verdict), (size_t)read(fds[0], &verdict, sizeof(verdict)));
	EXPECT_EQ(0, verdict) TH_LOG("the forked daemon's check %d failed", verdict);
	close(fds[0]);
	wait_child(pid);
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &mh, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* The process handed the daemon's /dev/hsmkey file. */
static int receiver(int sock, const struct nlt_key *k)
{
	struct nlt t;
	int dev = recv_fd(sock), r;
	char go;

	if (dev < 0 || nlt_open_nodev(&t))
		return 20;
	/* No second transport key, and no authority for its own socket. */
	if (nlt_register(&t, dev) != -EALREADY)
		return 21;
	for (r = 0; r < (int)sizeof(t.tkey); r++)
		if (t.tkey[r])
			return 22;
	if (nlt_enable(&t, k) != -EBUSY || nlt_revoke(&t, k) != -EBUSY)
		return 23;
	/* The daemon closes its socket; the file lives on here. */
	r = write(sock, "x", 1);
	if (r != 1 || read(sock, &go, 1) != 1)
		return 24;
	if (nlt_enable(&t, k) != -EPERM)
		return 25;
	if (nlt_disable(&t, k) != 0)
		return 26;
	close(dev);
	nlt_close(&t);
	return 0;
}

TEST(fd_passed_to_another_process)
{
	struct holder h;
	int sp[2];
	pid_t pid;
	char c;

	ASSERT_EQ(0, holder_start(&h, "passed", HSMKEY_TYPE_AES_256_XTS));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	pid = fork();
	if (!pid) {
		/* Another process: none of the daemon's descriptors. */
		close(nl_socket_get_fd(h.t.sk));
		close(h.t.dev);
		_exit(receiver(sp[1], &h.k));
	}
	ASSERT_EQ(0, send_fd(sp[0], h.t.dev));
	ASSERT_EQ(1, read(sp[0], &c, 1));
	/* The daemon exits: its socket and its copy of the file close. */
	nlt_release(&h.t);
	nl_socket_free(h.t.sk);
	h.t.sk = NULL;
	ASSERT_EQ(1, write(sp[0], "g", 1));
	EXPECT_EQ(0, wait_child(pid)) TH_LOG("receiver check failed");
	ASSERT_EQ(0, nlt_open_nodev(&h.t));
	EXPECT_EQ(0, nlt_get(&h.t, &h.k));
	EXPECT_EQ(HSMKEY_STATE_DISABLED, h.t.state);
	EXPECT_EQ(0, nlt_remove(&h.t, &h.k));
	nlt_close(&h.t);
	close(sp[0]);
	close(sp[1]);
}

TEST(anchor_only_moves_forward)
{
	uint8_t owner[HSMKEY_OWNER_LEN], a[HSMKEY_AUDIT_HEAD_LEN], b[HSMKEY_AUDIT_HEAD_LEN];
	struct nlt t;

	rand_fill(owner, sizeof(owner));
	rand_fill(a, sizeof(a));
	rand_fill(b, sizeof(b));
	ASSERT_EQ(0, nlt_open(&t));
	ASSERT_LE(0, t.dev);
	ASSERT_EQ(0, nlt_audit_set(&t, owner, 5, a));
	EXPECT_EQ(0, nlt_audit_set(&t, owner, 5, a)) TH_LOG("restating the anchor");
	EXPECT_EQ(-ESTALE, nlt_audit_set(&t, owner, 5, b))
		TH_LOG("same sequence number, another head");
	EXPECT_EQ(-ESTALE, nlt_audit_set(&t, owner, 4, b));
	ASSERT_EQ(0, nlt_audit_get(&t, owner));
	EXPECT_EQ(5, t.audit_seq);
	EXPECT_EQ(0, memcmp(t.audit_head, a, sizeof(a)));
	EXPECT_EQ(0, nlt_audit_set(&t, owner, 6, b));
	nlt_close(&t);
}

TEST(anchor_slots_are_reclaimed)
{
	uint8_t owners[HSMKEY_AUDIT_ANCHORS + 1][HSMKEY_OWNER_LEN];
	uint8_t head[HSMKEY_AUDIT_HEAD_LEN] = { 7 };
	struct nlt_key keys[HSMKEY_AUDIT_ANCHORS + 1];
	struct nlt t;
	int i, n, err = 0;

	ASSERT_EQ(0, nlt_open(&t));
	ASSERT_LE(0, t.dev);
	/*
	 * Fill every free slot with keystores that have keys loaded (earlier
	 * tests may hold some slots: those are not reclaimable either).
	 */
	for (n = 0; n <= HSMKEY_AUDIT_ANCHORS; n++) {
		rand_fill(owners[n], HSMKEY_OWNER_LEN);
		nlt_key_random(&keys[n], "anchored", HSMKEY_TYPE_AES_128_CBC);
		keys[n].owner = owners[n];
		ASSERT_EQ(0, nlt_add(&t, &keys[n])) TH_LOG("%s", t.extack);
		err = nlt_audit_set(&t, owners[n], 1, head);
		if (err)
			break;
	}
	EXPECT_EQ(-ENOSPC, err) TH_LOG("every slot is taken by a keystore with keys");
	ASSERT_LE(3, n) TH_LOG("too few free slots to test (%d)", n);
	/* Two keystores unload their keys: the older one's slot is reused. */
	ASSERT_EQ(0, nlt_remove(&t, &keys[0]));
	ASSERT_EQ(0, nlt_remove(&t, &keys[1]));
	EXPECT_EQ(0, nlt_audit_set(&t, owners[n], 1, head)) TH_LOG("%s", t.extack);
	ASSERT_EQ(0, nlt_audit_get(&t, owners[0]));
	EXPECT_EQ(0, t.audit_seq) TH_LOG("the stalest slot was not the one reused");
	ASSERT_EQ(0, nlt_audit_get(&t, owners[1]));
	EXPECT_EQ(1, t.audit_seq);
	ASSERT_EQ(0, nlt_audit_get(&t, owners[2]));
	EXPECT_EQ(1, t.audit_seq) TH_LOG("a keystore with keys lost its anchor");
	for (i = 2; i <= n; i++)
		EXPECT_EQ(0, nlt_remove(&t, &keys[i]));
	nlt_close(&t);
}

/* GCM: full tags unless the key's policy allows shorter ones. */
static int gcm_bind(const struct nlt_key *k, int authsize, bool size_first)
{
	uint8_t tok[HSMKEY_TOKEN_LEN];
	int fd = alg_open_type("aead", "gcm(hsmaes)"), r;

	if (fd < 0)
		return fd;
	nlt_token(k, tok);
	r = size_first ? alg_set_authsize(fd, authsize) : alg_setkey(fd, tok, sizeof(tok));
	if (!r)
		r = size_first ? alg_setkey(fd, tok, sizeof(tok)) : alg_set_authsize(fd, authsize);
	close(fd);
	return r;
}

TEST(gcm_short_tags_need_a_policy)
{
	struct nlt_policy eight = { .min_taglen = 8 };
	struct nlt_key k;
	struct nlt t;

	ASSERT_EQ(0, nlt_open(&t));
	nlt_key_random(&k, "shared-gcm", HSMKEY_TYPE_AES_256_GCM);
	ASSERT_EQ(0, nlt_add(&t, &k));
	ASSERT_EQ(0, nlt_get(&t, &k));
	EXPECT_EQ(16, t.min_taglen) TH_LOG("the default minimum is a full tag");
	EXPECT_EQ(0, gcm_bind(&k, 16, false));
	EXPECT_EQ(-EINVAL, gcm_bind(&k, 8, false)) TH_LOG("bound, then an 8-byte tag");
	EXPECT_EQ(-EKEYREJECTED, gcm_bind(&k, 8, true)) TH_LOG("an 8-byte tag, then bound");
	EXPECT_EQ(-EINVAL, gcm_bind(&k, 4, false));
	ASSERT_EQ(0, nlt_set_policy(&t, &k, &eight));
	EXPECT_EQ(0, gcm_bind(&k, 8, false));
	EXPECT_EQ(0, gcm_bind(&k, 8, true));
	EXPECT_EQ(-EINVAL, gcm_bind(&k, 4, false));
	EXPECT_EQ(-EKEYREJECTED, gcm_bind(&k, 4, true));
	EXPECT_EQ(0, nlt_remove(&t, &k));
	nlt_close(&t);
}

TEST(policy_bounds)
{
	struct nlt_policy empty_uids = { .empty_uids = true };
	struct nlt_policy empty_gids = { .empty_gids = true };
	struct nlt_policy forever = { .not_after = UINT64_MAX };
	struct nlt_policy far = { .not_after = HSMKEY_TIME_MAX };
	struct nlt_policy xts_tag = { .min_taglen = 8 };
	struct nlt_key k, k2;
	struct nlt t;

	ASSERT_EQ(0, nlt_open(&t));
	nlt_key_random(&k, "bounds", HSMKEY_TYPE_AES_256_XTS);
	k.policy = &empty_uids;
	EXPECT_EQ(-EINVAL, nlt_add(&t, &k)) TH_LOG("an empty uid list would allow anyone");
	k.policy = &forever;
	EXPECT_NE(0, nlt_add(&t, &k)) TH_LOG("not-after 2^64-1 would read as the past");
	k.policy = &xts_tag;
	EXPECT_EQ(-EINVAL, nlt_add(&t, &k));
	k.policy = &far;
	ASSERT_EQ(0, nlt_add(&t, &k)) TH_LOG("%s", t.extack);
	ASSERT_EQ(0, nlt_get(&t, &k));
	EXPECT_EQ(HSMKEY_STATE_ACTIVE, t.state);
	EXPECT_EQ(HSMKEY_TIME_MAX, t.not_after);
	EXPECT_EQ(-EINVAL, nlt_set_policy(&t, &k, &empty_gids));
	EXPECT_NE(0, nlt_set_policy(&t, &k, &forever));
	ASSERT_EQ(0, nlt_get(&t, &k));
	EXPECT_EQ(HSMKEY_STATE_ACTIVE, t.state) TH_LOG("a refused policy changed the key");
	EXPECT_EQ(HSMKEY_TIME_MAX, t.not_after);
	/* Not the revocation a wrapped not-after used to cause. */
	nlt_key_random(&k2, "bounds2", HSMKEY_TYPE_AES_256_XTS);
	EXPECT_EQ(0, nlt_add(&t, &k2));
	EXPECT_EQ(0, nlt_remove(&t, &k2));
	EXPECT_EQ(0, nlt_remove(&t, &k));
	nlt_close(&t);
}

/* A GCM key's invocation count survives remove and add (or a reboot). */
TEST(spent_usage_is_carried)
{
	uint8_t tok[HSMKEY_TOKEN_LEN], iv[12] = { 0 }, in[32] = { 0 }, out[48];
	struct nlt_key k;
	struct nlt t;
	int fd, i;

	ASSERT_EQ(0, nlt_open(&t));
	nlt_key_random(&k, "gcm-spent", HSMKEY_TYPE_AES_128_GCM);
	k.used_requests = HSMKEY_GCM_MAX_REQUESTS - 2;
	k.used_bytes = 12345;
	ASSERT_EQ(0, nlt_add(&t, &k)) TH_LOG("%s", t.extack);
	ASSERT_EQ(0, nlt_get(&t, &k));
	EXPECT_EQ(HSMKEY_GCM_MAX_REQUESTS - 2, t.requests);
	EXPECT_EQ(12345, t.bytes);
	nlt_token(&k, tok);
	fd = alg_open_type("aead", "gcm(hsmaes)");
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, alg_setkey(fd, tok, sizeof(tok)));
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, alg_request(fd, true, iv, 12, 0, in, 32, out, 48));
	EXPECT_EQ(-EDQUOT, alg_request(fd, true, iv, 12, 0, in, 32, out, 48))
		TH_LOG("the 2^32nd invocation must be refused");
	close(fd);
	EXPECT_EQ(0, nlt_remove(&t, &k));
	/* A key already used up binds no more. */
	k.used_requests = HSMKEY_GCM_MAX_REQUESTS;
	ASSERT_EQ(0, nlt_add(&t, &k));
	fd = alg_open_type("aead", "gcm(hsmaes)");
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EDQUOT, alg_setkey(fd, tok, sizeof(tok)));
	close(fd);
	EXPECT_EQ(0, nlt_remove(&t, &k));
	nlt_close(&t);
}

TEST(register_once_per_file)
{
	struct nlt t, u;

	ASSERT_EQ(0, nlt_open(&t));
	ASSERT_LE(0, t.dev);
	ASSERT_EQ(0, nlt_open_nodev(&u));
	EXPECT_EQ(-EALREADY, nlt_register(&u, t.dev))
		TH_LOG("the transport key is given out once per open file");
	nlt_close(&u);
	nlt_close(&t);
}

TEST_HARNESS_MAIN
