// SPDX-License-Identifier: GPL-2.0
/*
 * xts(hsmaes) and cbc(hsmaes) through AF_ALG: keyed with a token, each must
 * agree with stock xts(aes) / cbc(aes) keyed with the raw key, on standard
 * vectors (IEEE 1619, NIST SP 800-38A) and random data, both directions;
 * non-token keys leave the tfm unbound (-ENOKEY); tokens that cannot be
 * bound are refused; revoked keys fail closed.
 */
#include <sched.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/if_alg.h>
#include "nltest.h"
#include "algtest.h"
#include "evtest.h"
#include "kselftest_harness.h"

static bool is_cbc(uint32_t type)
{
	return type == HSMKEY_TYPE_AES_128_CBC || type == HSMKEY_TYPE_AES_256_CBC;
}

/* Provision @k and bind a new tfm of its hsmaes algorithm with its token. */
static int bind_token(struct nlt *t, const struct nlt_key *k, int *fd)
{
	uint8_t tok[HSMKEY_TOKEN_LEN];
	int r = nlt_add(t, k);

	if (r)
		return r;
	*fd = alg_open(is_cbc(k->type) ? "cbc(hsmaes)" : "xts(hsmaes)");
	if (*fd < 0)
		return *fd;
	nlt_token(k, tok);
	return alg_setkey(*fd, tok, sizeof(tok));
}

struct vector {
	const char *name, *key, *iv, *pt, *ct;
	uint32_t type;
};

/* IEEE Std 1619-2007 annex B; vector 10 truncated to its first 32 bytes
 * (XTS blocks are independent when no ciphertext is stolen). */
static const struct vector vectors[] = {
	{ "vector 2", "11111111111111111111111111111111" "22222222222222222222222222222222",
	  "33333333330000000000000000000000",
	  "4444444444444444444444444444444444444444444444444444444444444444",
	  "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0",
	  HSMKEY_TYPE_AES_128_XTS },
	{ "vector 3", "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0" "22222222222222222222222222222222",
	  "33333333330000000000000000000000",
	  "4444444444444444444444444444444444444444444444444444444444444444",
	  "af85336b597afc1a900b2eb21ec949d292df4c047e0b21532186a5971a227a89",
	  HSMKEY_TYPE_AES_128_XTS },
	{ "vector 15", "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0" "bfbebdbcbbbab9b8b7b6b5b4b3b2b1b0",
	  "9a785634120000000000000000000000",
	  "000102030405060708090a0b0c0d0e0f10",
	  "6c1625db4671522d3d7599601de7ca09ed",
	  HSMKEY_TYPE_AES_128_XTS },
	{ "vector 10",
	  "2718281828459045235360287471352662497757247093699959574966967627"
	  "3141592653589793238462643383279502884197169399375105820974944592",
	  "ff000000000000000000000000000000",
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	  "1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b",
	  HSMKEY_TYPE_AES_256_XTS },
	{ "SP 800-38A F.2.1", "2b7e151628aed2a6abf7158809cf4f3c",
	  "000102030405060708090a0b0c0d0e0f",
	  "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
	  "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2",
	  HSMKEY_TYPE_AES_128_CBC },
	{ "SP 800-38A F.2.5",
	  "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
	  "000102030405060708090a0b0c0d0e0f",
	  "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
	  "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d",
	  HSMKEY_TYPE_AES_256_CBC },
};

TEST(ieee1619_vectors)
{
	struct nlt t;

	ASSERT_EQ(0, nlt_open(&t));
	for (size_t v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
		const struct vector *vec = &vectors[v];
		uint8_t iv[16], pt[64], ct[64], out[64], ref[64];
		size_t len = strlen(vec->pt) / 2;
		struct nlt_key k;
		int hsm, stock;

		nlt_key_random(&k, "ieee1619", vec->type);
		unhex(vec->key, k.material);
		unhex(vec->iv, iv);
		unhex(vec->pt, pt);
		unhex(vec->ct, ct);
		ASSERT_EQ(0, bind_token(&t, &k, &hsm)) TH_LOG("%s: bind", vec->name);
		stock = alg_open(is_cbc(vec->type) ? "cbc(aes)" : "xts(aes)");
		ASSERT_LE(0, stock);
		ASSERT_EQ(0, alg_setkey(stock, k.material, (int)k.keylen));

		ASSERT_EQ(0, alg_crypt(hsm, true, iv, pt, out, len)) TH_LOG("%s: encrypt", vec->name);
		EXPECT_EQ(0, memcmp(out, ct, len)) TH_LOG("%s: ciphertext differs from the standard", vec->name);
		ASSERT_EQ(0, alg_crypt(stock, true, iv, pt, ref, len));
		EXPECT_EQ(0, memcmp(out, ref, len)) TH_LOG("%s: differs from stock", vec->name);
		ASSERT_EQ(0, alg_crypt(hsm, false, iv, ct, out, len));
		EXPECT_EQ(0, memcmp(out, pt, len)) TH_LOG("%s: decryption differs", vec->name);
		close(hsm);
		close(stock);
		EXPECT_EQ(0, nlt_revoke(&t, &k));
	}
	nlt_close(&t);
}

/* One variant per algorithm and key size. */
FIXTURE(cipher) {
	struct nlt t;
	struct nlt_key k;
	int hsm, stock;
};

FIXTURE_VARIANT(cipher) {
	uint32_t type;
	const char *hsm, *stock;
};

FIXTURE_VARIANT_ADD(cipher, xts128) { HSMKEY_TYPE_AES_128_XTS, "xts(hsmaes)", "xts(aes)" };
FIXTURE_VARIANT_ADD(cipher, xts256) { HSMKEY_TYPE_AES_256_XTS, "xts(hsmaes)", "xts(aes)" };
FIXTURE_VARIANT_ADD(cipher, cbc128) { HSMKEY_TYPE_AES_128_CBC, "cbc(hsmaes)", "cbc(aes)" };
FIXTURE_VARIANT_ADD(cipher, cbc256) { HSMKEY_TYPE_AES_256_CBC, "cbc(hsmaes)", "cbc(aes)" };

FIXTURE_SETUP(cipher)
{
	ASSERT_EQ(0, nlt_open(&self->t));
	nlt_key_random(&self->k, "afalg", variant->type);
	ASSERT_EQ(0, bind_token(&self->t, &self->k, &self->hsm)) TH_LOG("%s", self->t.extack);
	self->stock = alg_open(variant->stock);
	ASSERT_LE(0, self->stock);
	ASSERT_EQ(0, alg_setkey(self->stock, self->k.material, (int)self->k.keylen));
}

FIXTURE_TEARDOWN(cipher)
{
	close(self->hsm);
	close(self->stock);
	nlt_revoke(&self->t, &self->k);
	nlt_close(&self->t);
}

TEST_F(cipher, random_data_matches_stock)
{
	static const size_t sizes[] = { 16, 17, 31, 512, 4096, 65536 };
	static uint8_t pt[65536], a[65536], b[65536];
	uint8_t iv[16];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		int want;

		rand_fill(iv, sizeof(iv));
		rand_fill(pt, n);
		/* Lengths stock refuses (CBC: not whole blocks) are refused alike. */
		want = alg_crypt(self->stock, true, iv, pt, b, n);
		ASSERT_EQ(want, alg_crypt(self->hsm, true, iv, pt, a, n)) TH_LOG("%zu bytes", n);
		if (want)
			continue;
		EXPECT_EQ(0, memcmp(a, b, n)) TH_LOG("encrypt, %zu bytes: differs from stock", n);
		/* hsmaes decrypts what stock encrypted, and the reverse. */
		ASSERT_EQ(0, alg_crypt(self->hsm, false, iv, b, a, n));
		EXPECT_EQ(0, memcmp(a, pt, n)) TH_LOG("decrypt, %zu bytes: hsmaes of stock", n);
		ASSERT_EQ(0, alg_crypt(self->stock, false, iv, b, a, n));
		EXPECT_EQ(0, memcmp(a, pt, n)) TH_LOG("decrypt, %zu bytes: stock of stock", n);
	}
}

TEST_F(cipher, binding_is_counted)
{
	int second;

	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(1, self->t.bindings);
	second = alg_open(variant->hsm);
	uint8_t tok[HSMKEY_TOKEN_LEN];
	nlt_token(&self->k, tok);
	ASSERT_EQ(0, alg_setkey(second, tok, sizeof(tok)));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(2, self->t.bindings);
	close(second);
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(1, self->t.bindings);
}

TEST_F(cipher, revoke_fails_closed)
{
	uint8_t iv[16] = {0}, buf[512] = {0}, tok[HSMKEY_TOKEN_LEN];
	int again;

	ASSERT_EQ(0, alg_crypt(self->hsm, true, iv, buf, buf, sizeof(buf)));
	ASSERT_EQ(0, nlt_revoke(&self->t, &self->k));
	EXPECT_EQ(-EKEYREVOKED, alg_crypt(self->hsm, true, iv, buf, buf, sizeof(buf)));
	EXPECT_EQ(-EKEYREVOKED, alg_crypt(self->hsm, false, iv, buf, buf, sizeof(buf)));
	again = alg_open(variant->hsm);
	nlt_token(&self->k, tok);
	EXPECT_EQ(-EKEYREVOKED, alg_setkey(again, tok, sizeof(tok)));
	close(again);
}

TEST_F(cipher, remove_fails_closed)
{
	uint8_t iv[16] = {0}, buf[512] = {0};

	ASSERT_EQ(0, alg_crypt(self->hsm, true, iv, buf, buf, sizeof(buf)));
	ASSERT_EQ(0, nlt_remove(&self->t, &self->k));
	EXPECT_EQ(-EKEYREVOKED, alg_crypt(self->hsm, true, iv, buf, buf, sizeof(buf)));
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &self->k));
}

/* Bytes that are not a token leave the tfm unbound: requests fail -ENOKEY. */
FIXTURE(nontoken) {
	int fd;
	uint8_t key[HSMKEY_TOKEN_LEN];
};

FIXTURE_VARIANT(nontoken) {
	int fill;	/* -1: random */
	bool magic;	/* a token's magic and format, but reserved bytes set */
};

FIXTURE_VARIANT_ADD(nontoken, random_bytes) { .fill = -1 };
FIXTURE_VARIANT_ADD(nontoken, all_zeros) { .fill = 0 };
FIXTURE_VARIANT_ADD(nontoken, all_ones) { .fill = 0xff };
FIXTURE_VARIANT_ADD(nontoken, reserved_set) { .fill = 0x5a, .magic = true };

FIXTURE_SETUP(nontoken)
{
	if (variant->fill < 0)
		rand_fill(self->key, sizeof(self->key));
	else
		memset(self->key, variant->fill, sizeof(self->key));
	if (variant->magic) {
		memcpy(self->key, HSMKEY_TOKEN_MAGIC, 4);
		self->key[4] = HSMKEY_TOKEN_FORMAT;
	}
	self->fd = alg_open("xts(hsmaes)");
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(nontoken)
{
	close(self->fd);
}

TEST_F(nontoken, unbound_enokey)
{
	uint8_t iv[16] = {0}, buf[64] = {0};

	ASSERT_EQ(0, alg_setkey(self->fd, self->key, sizeof(self->key)));
	EXPECT_EQ(-ENOKEY, alg_crypt(self->fd, true, iv, buf, buf, sizeof(buf)));
	EXPECT_EQ(-ENOKEY, alg_crypt(self->fd, false, iv, buf, buf, sizeof(buf)));
}

/* A token binds only the algorithm of its key's mode. */
TEST(mode_mismatch_is_ekeyrejected)
{
	uint8_t tok[HSMKEY_TOKEN_LEN];
	struct nlt_key k;
	struct nlt t;
	int fd;

	ASSERT_EQ(0, nlt_open(&t));
	nlt_key_random(&k, "mismatch", HSMKEY_TYPE_AES_256_CBC);
	ASSERT_EQ(0, nlt_add(&t, &k));
	nlt_token(&k, tok);
	fd = alg_open("xts(hsmaes)");
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EKEYREJECTED, alg_setkey(fd, tok, sizeof(tok)));
	close(fd);
	EXPECT_EQ(0, nlt_revoke(&t, &k));
	nlt_close(&t);
}

TEST(wrong_length_is_einval)
{
	uint8_t key[32] = { 1 };
	int fd = alg_open("xts(hsmaes)");

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, alg_setkey(fd, key, sizeof(key)));
	close(fd);
}

/* Well-formed tokens that do not name a bindable key are refused. */
FIXTURE(badtoken) {
	struct nlt t;
	struct nlt_key k;
	int fd;
};

FIXTURE_VARIANT(badtoken) {
	int what;	/* 0 unknown key, 1 wrong verifier, 2 wrong type, 3 wrong version */
};

FIXTURE_VARIANT_ADD(badtoken, unknown_key) { .what = 0 };
FIXTURE_VARIANT_ADD(badtoken, wrong_verifier) { .what = 1 };
FIXTURE_VARIANT_ADD(badtoken, wrong_type) { .what = 2 };
FIXTURE_VARIANT_ADD(badtoken, wrong_version) { .what = 3 };

FIXTURE_SETUP(badtoken)
{
	ASSERT_EQ(0, nlt_open(&self->t));
	nlt_key_random(&self->k, "badtoken", HSMKEY_TYPE_AES_256_XTS);
	if (variant->what)
		ASSERT_EQ(0, nlt_add(&self->t, &self->k));
	self->fd = alg_open("xts(hsmaes)");
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(badtoken)
{
	close(self->fd);
	if (variant->what)
		nlt_revoke(&self->t, &self->k);
	nlt_close(&self->t);
}

TEST_F(badtoken, enokey)
{
	struct nlt_key k = self->k;
	uint8_t tok[HSMKEY_TOKEN_LEN], iv[16] = {0}, buf[16] = {0};

	if (variant->what == 1)
		k.verifier[7] ^= 1;
	if (variant->what == 2)
		k.type = HSMKEY_TYPE_AES_128_XTS;
	if (variant->what == 3)
		k.version = 2;
	nlt_token(&k, tok);
	EXPECT_EQ(-ENOKEY, alg_setkey(self->fd, tok, sizeof(tok)));
	EXPECT_EQ(-ENOKEY, alg_crypt(self->fd, true, iv, buf, buf, sizeof(buf)));
}

TEST(events_follow_a_key)
{
	static const uint32_t want[] = { HSMKEY_EVENT_ADD, HSMKEY_EVENT_BIND,
					 HSMKEY_EVENT_DENY, HSMKEY_EVENT_REVOKE,
					 HSMKEY_EVENT_REMOVE };
	uint8_t tok[HSMKEY_TOKEN_LEN];
	struct evlog *log = calloc(1, sizeof(*log));
	struct nlt_key k, wrong, stranger;
	struct nl_sock *sk;
	struct nlt t;
	int grp, err, fd, bad, unknown;
	uint64_t denies_unknown;

	/* Deny events are rate-limited per second: start a fresh second. */
	usleep(1100 * 1000);
	grp = ev_group();
	ASSERT_LT(0, grp);
	sk = ev_listen(grp, &err);
	ASSERT_EQ(0, err);
	ASSERT_EQ(0, nlt_open(&t));
	ASSERT_EQ(0, nlt_info(&t));
	denies_unknown = t.stat_denies_unknown;
	nlt_key_random(&k, "events", HSMKEY_TYPE_AES_256_XTS);
	ASSERT_EQ(0, bind_token(&t, &k, &fd));
	/* A token naming no key in the table is counted, with no event. */
	nlt_key_random(&stranger, "stranger", HSMKEY_TYPE_AES_256_XTS);
	nlt_token(&stranger, tok);
	unknown = alg_open("xts(hsmaes)");
	EXPECT_EQ(-ENOKEY, alg_setkey(unknown, tok, sizeof(tok)));
	/* A wrong verifier for a key in the table is a DENY event. */
	wrong = k;
	wrong.verifier[0] ^= 1;
	nlt_token(&wrong, tok);
	bad = alg_open("xts(hsmaes)");
	EXPECT_EQ(-ENOKEY, alg_setkey(bad, tok, sizeof(tok)));
	ASSERT_EQ(0, nlt_revoke(&t, &k));
	ASSERT_EQ(0, nlt_remove(&t, &k));

	ev_read(sk, log, 5);
	ASSERT_EQ(5, log->n) TH_LOG("%d events arrived, 5 expected; first: type %u seq %llu",
				    log->n, log->ev[0].type, (unsigned long long)log->ev[0].seq);
	for (int i = 0; i < 5; i++) {
		struct ev *e = &log->ev[i];

		EXPECT_EQ(want[i], e->type) TH_LOG("event %d", i);
		EXPECT_EQ(0, memcmp(e->id, k.id, HSMKEY_ID_LEN)) TH_LOG("event %d: key id", i);
		EXPECT_EQ(0, e->uid);
		EXPECT_EQ(getpid(), (pid_t)e->pid) TH_LOG("event %d: pid", i);
		EXPECT_STREQ("afalg_test", e->comm);
		if (i)
			EXPECT_EQ(log->ev[i - 1].seq + 1, e->seq) TH_LOG("event %d: sequence gap", i);
	}
	EXPECT_EQ(ENOKEY, log->ev[2].err);
	ASSERT_EQ(0, nlt_info(&t));
	EXPECT_EQ(denies_unknown + 1, t.stat_denies_unknown);
	EXPECT_FALSE(nlt_contains(log->raw, log->rawlen, k.material, 16));
	EXPECT_FALSE(nlt_contains(log->raw, log->rawlen, k.material + 32, 16));
	EXPECT_FALSE(nlt_contains(log->raw, log->rawlen, k.verifier, 16));
	close(fd);
	close(bad);
	close(unknown);
	nl_socket_free(sk);
	nlt_close(&t);
	free(log);
}

TEST(events_need_cap_sys_admin)
{
	int grp = ev_group(), err;
	struct nl_sock *sk;

	ASSERT_LT(0, grp);
	ASSERT_EQ(0, nlt_drop_to_nobody());
	sk = ev_listen(grp, &err);
	EXPECT_EQ(-EPERM, err);
	nl_socket_free(sk);
}

/* The family lives in the initial network namespace only. */
/*
 * The family lives in the initial network namespace only: a listener in
 * new user and network namespaces (what "unshare -Urn" makes) sees neither
 * the family nor any event while keys change.
 */
TEST(no_events_in_another_netns)
{
	int grp = ev_group(), ready[2], status;
	struct nlt_key k;
	struct nlt t;
	char c;
	pid_t pid;

	ASSERT_LT(0, grp);
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	if (!pid) {
		struct evlog *log = calloc(1, sizeof(*log));
		struct nl_sock *sk, *probe;
		int err;

		if (unshare(CLONE_NEWUSER | CLONE_NEWNET))
			_exit(errno == EINVAL ? 4 : 3);
		probe = nl_socket_alloc();
		if (genl_connect(probe) || genl_ctrl_resolve(probe, HSMKEY_GENL_NAME) >= 0)
			_exit(2);	/* the family is visible */
		sk = ev_listen(grp, &err);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		if (!err)
			ev_read(sk, log, 1);
		_exit(log->n ? 1 : 0);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1)) {
		waitpid(pid, &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
			SKIP(return, "no user or network namespaces (CONFIG_USER_NS, CONFIG_NET_NS)");
	}
	ASSERT_EQ(0, nlt_open(&t));
	nlt_key_random(&k, "netns", HSMKEY_TYPE_AES_256_XTS);
	ASSERT_EQ(0, nlt_add(&t, &k));
	ASSERT_EQ(0, nlt_revoke(&t, &k));
	ASSERT_EQ(0, nlt_remove(&t, &k));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_NE(2, WEXITSTATUS(status)) TH_LOG("the family is visible in the new namespace");
	EXPECT_NE(1, WEXITSTATUS(status)) TH_LOG("an event reached another network namespace");
	EXPECT_EQ(0, WEXITSTATUS(status));
	nlt_close(&t);
}

TEST_HARNESS_MAIN
