// SPDX-License-Identifier: GPL-2.0
/*
 * kTLS with session tokens (hsmkey.ko loaded with ktls=1; t_ktls.sh): a
 * session key goes into the module (HSMKEY_CMD_SESSION_ADD, wrapped under
 * the transport key) and its token, not the key, into setsockopt(SOL_TLS).
 * The records the kernel writes are opened, and the records it reads are
 * sealed, by OpenSSL with the session key: the independent side.  Then the
 * attacks: a spent token (what getsockopt() gives back), another process,
 * a forged MAC, an expired token, the daemon gone (each refused, never
 * used as a key), an unregistered or unprivileged sender; the daemon sees
 * its token taken (SESSION_GET); a spent session key is bound to its
 * socket: its records counted, stopped with an error once revoked
 * (SESSION_REVOKE, the daemon's only), going on when the daemon closes;
 * and raw keys, also one that begins with the magic, keep working for
 * every other gcm(aes) user.
 */
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/tls.h>
#include <linux/if_alg.h>
#include "nltest.h"
#include "algtest.h"
#include "kselftest_harness.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define REC_HDR		5
#define REC_TAG		16

/* A TLS 1.3 direction's parameters: what setsockopt() takes beside the key. */
struct dir {
	unsigned int len;	/* 16 or 32 */
	uint8_t key[32];	/* the session key, for OpenSSL */
	uint8_t iv[8], salt[4];
};

static void dir_new(struct dir *d, unsigned int len)
{
	d->len = len;
	rand_fill(d->key, len);
	rand_fill(d->iv, sizeof(d->iv));
	rand_fill(d->salt, sizeof(d->salt));
}

/* The session key @key (@len) into the module: 0 with the token in t. */
static int session_add(struct nlt *t, const uint8_t *key, unsigned int len, uint32_t ttl)
{
	struct nlt_key k = {
		.type = len == 16 ? HSMKEY_TYPE_AES_128_GCM : HSMKEY_TYPE_AES_256_GCM,
		.keylen = len,
	};
	uint8_t zero[HSMKEY_VERIFIER_LEN] = { 0 }, w[NLT_WRAP_MAX];
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_SESSION_ADD, 0);

	memcpy(k.id, HSMKEY_SESSION_WRAP_ID, HSMKEY_ID_LEN);
	nla_put(msg, HSMKEY_SESSION_A_WRAPPED, nlt_wrap(t->tkey, &k, zero, key, len, w), w);
	if (ttl)
		nla_put_u32(msg, HSMKEY_SESSION_A_TTL, ttl);
	return nlt_call(t, msg);
}

/*
 * Two session keys in one SESSION_ADD, as the daemon adds a socket's:
 * @key2 of @len2 bytes, wrapped with @verifier2 (NULL: zero).
 */
static int session_add_pair(struct nlt *t, const uint8_t *key, const uint8_t *key2,
			    unsigned int len2, const uint8_t *verifier2)
{
	struct nlt_key k = { .type = HSMKEY_TYPE_AES_256_GCM, .keylen = 32 };
	struct nlt_key k2 = {
		.type = len2 == 16 ? HSMKEY_TYPE_AES_128_GCM : HSMKEY_TYPE_AES_256_GCM,
		.keylen = len2,
	};
	uint8_t zero[HSMKEY_VERIFIER_LEN] = { 0 }, w[NLT_WRAP_MAX], w2[NLT_WRAP_MAX];
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_SESSION_ADD, 0);

	memcpy(k.id, HSMKEY_SESSION_WRAP_ID, HSMKEY_ID_LEN);
	memcpy(k2.id, HSMKEY_SESSION_WRAP_ID, HSMKEY_ID_LEN);
	nla_put(msg, HSMKEY_SESSION_A_WRAPPED, nlt_wrap(t->tkey, &k, zero, key, 32, w), w);
	nla_put(msg, HSMKEY_SESSION_A_WRAPPED_2,
		nlt_wrap(t->tkey, &k2, verifier2 ?: zero, key2, len2, w2), w2);
	t->session_handle2 = 0;
	return nlt_call(t, msg);
}

/* What became of session keys @handle and @handle2: 0 with their states, or -errno. */
static int session_get_pair(struct nlt *t, uint32_t handle, uint32_t handle2)
{
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_SESSION_GET, 0);

	t->session_state = t->session_state2 = 0;
	nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE, handle);
	nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE_2, handle2);
	return nlt_call(t, msg);
}

/* What became of session key @handle: 0 with t->session_state, or -errno. */
static int session_get(struct nlt *t, uint32_t handle)
{
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_SESSION_GET, 0);

	t->session_state = 0;
	nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE, handle);
	return nlt_call(t, msg);
}

/* Revoke session key @handle: 0 or -errno. */
static int session_revoke(struct nlt *t, uint32_t handle)
{
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_SESSION_REVOKE, 0);

	nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE, handle);
	return nlt_call(t, msg);
}

/* A connected TCP pair on loopback. */
static int tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || *a < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) ||
	    connect(*a, (struct sockaddr *)&sa, sizeof(sa)))
		return -errno;
	*b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return *b < 0 ? -errno : 0;
}

/* kTLS 1.3 @which (TLS_TX, TLS_RX) on @fd, with @keybytes as its key. */
static int ktls_set(int fd, int which, const struct dir *d, const uint8_t *keybytes)
{
	struct tls12_crypto_info_aes_gcm_256 c256 = { 0 };
	struct tls12_crypto_info_aes_gcm_128 c128 = { 0 };
	int r;

	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) && errno != EEXIST)
		return -errno;
	if (d->len == 32) {
		c256.info.version = TLS_1_3_VERSION;
		c256.info.cipher_type = TLS_CIPHER_AES_GCM_256;
		memcpy(c256.key, keybytes, 32);
		memcpy(c256.iv, d->iv, 8);
		memcpy(c256.salt, d->salt, 4);
		r = setsockopt(fd, SOL_TLS, which, &c256, sizeof(c256));
	} else {
		c128.info.version = TLS_1_3_VERSION;
		c128.info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(c128.key, keybytes, 16);
		memcpy(c128.iv, d->iv, 8);
		memcpy(c128.salt, d->salt, 4);
		r = setsockopt(fd, SOL_TLS, which, &c128, sizeof(c128));
	}
	return r ? -errno : 0;
}

/* The record's nonce: salt || iv, its last 8 bytes XOR the sequence number. */
static void rec_nonce(const struct dir *d, uint64_t seq, uint8_t *nonce)
{
	memcpy(nonce, d->salt, 4);
	memcpy(nonce + 4, d->iv, 8);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(seq >> (8 * i));
}

static const EVP_CIPHER *rec_cipher(const struct dir *d)
{
	return d->len == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
}

/* One TLS 1.3 application-data record of @n bytes, sealed with @key. */
static size_t rec_seal(const struct dir *d, const uint8_t *key, uint64_t seq,
		       const uint8_t *data, size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t body = n + 1 + REC_TAG;
	uint8_t nonce[12], type = 0x17;
	int m, ok;

	out[0] = 0x17, out[1] = 3, out[2] = 3, out[3] = (uint8_t)(body >> 8), out[4] = (uint8_t)body;
	rec_nonce(d, seq, nonce);
	ok = EVP_EncryptInit_ex(c, rec_cipher(d), NULL, key, nonce) &&
	     EVP_EncryptUpdate(c, NULL, &m, out, REC_HDR) &&
	     EVP_EncryptUpdate(c, out + REC_HDR, &m, data, (int)n) &&
	     EVP_EncryptUpdate(c, out + REC_HDR + n, &m, &type, 1) &&
	     EVP_EncryptFinal_ex(c, out + REC_HDR + n + 1, &m) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, REC_TAG, out + REC_HDR + n + 1);
	EVP_CIPHER_CTX_free(c);
	return ok ? REC_HDR + body : 0;
}

/*
 * Open the record at @rec with @key: the length of its application data
 * at @out, or -1 if it does not authenticate (or is not one).
 */
static ssize_t rec_open(const struct dir *d, const uint8_t *key, uint64_t seq,
			const uint8_t *rec, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *c;
	size_t body;
	uint8_t nonce[12];
	int m, ok;

	if (len < REC_HDR + 1 + REC_TAG || rec[0] != 0x17)
		return -1;
	body = (size_t)rec[3] << 8 | rec[4];
	if (body + REC_HDR != len)
		return -1;
	c = EVP_CIPHER_CTX_new();
	rec_nonce(d, seq, nonce);
	ok = EVP_DecryptInit_ex(c, rec_cipher(d), NULL, key, nonce) &&
	     EVP_DecryptUpdate(c, NULL, &m, rec, REC_HDR) &&
	     EVP_DecryptUpdate(c, out, &m, rec + REC_HDR, (int)(body - REC_TAG)) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, REC_TAG, (void *)(rec + len - REC_TAG)) &&
	     EVP_DecryptFinal_ex(c, out + m, &m) > 0;
	EVP_CIPHER_CTX_free(c);
	/* The inner content type, after the data (no padding here). */
	if (!ok || out[body - REC_TAG - 1] != 0x17)
		return -1;
	return (ssize_t)(body - REC_TAG - 1);
}

/* Read exactly @n bytes. */
static int read_all(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/*
 * Send @msg through @a (kTLS TX set up) and read the record off @b (plain
 * TCP): 1 if it opens with @key and carries @msg, 0 if not.
 */
static int tx_opens_with(int a, int b, const struct dir *d, const uint8_t *key, uint64_t seq)
{
	static const char msg[] = "hsmkey kTLS record";
	uint8_t rec[256], out[256];
	size_t n = sizeof(msg) - 1, len = REC_HDR + n + 1 + REC_TAG;

	if (write(a, msg, n) != (ssize_t)n || read_all(b, rec, len))
		return 0;
	return rec_open(d, key, seq, rec, len, out) == (ssize_t)n && !memcmp(out, msg, n);
}

FIXTURE(ktls) {
	struct nlt t;
	int a, b;
	struct dir d;
};

FIXTURE_SETUP(ktls)
{
	self->a = self->b = -1;
	ASSERT_EQ(0, nlt_open(&self->t)) TH_LOG("hsmkey family not found: is hsmkey.ko loaded?");
	ASSERT_LE(0, self->t.dev) TH_LOG("/dev/hsmkey not held: is a daemon registered?");
	ASSERT_EQ(0, nlt_info(&self->t));
	ASSERT_EQ(1, self->t.ktls) TH_LOG("hsmkey.ko without ktls=1");
	ASSERT_EQ(0, tcp_pair(&self->a, &self->b));
	dir_new(&self->d, 32);
}

FIXTURE_TEARDOWN(ktls)
{
	close(self->a);
	close(self->b);
	nlt_close(&self->t);
}

TEST_F(ktls, tx_token_encrypts_under_the_session_key)
{
	uint32_t handle;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0)) TH_LOG("%s", self->t.extack);
	ASSERT_EQ(32, self->t.session_len);
	handle = self->t.session_handle;
	EXPECT_NE(0, memcmp(self->t.session_token, self->d.key, 32));
	ASSERT_EQ(0, session_get(&self->t, handle));
	EXPECT_EQ(HSMKEY_SESSION_WAITING, self->t.session_state);
	ASSERT_EQ(0, ktls_set(self->a, TLS_TX, &self->d, self->t.session_token));
	/* What the daemon asks after setsockopt(): taken by gcm-aes-hsmkey. */
	ASSERT_EQ(0, session_get(&self->t, handle));
	EXPECT_EQ(HSMKEY_SESSION_SPENT, self->t.session_state);
	EXPECT_EQ(-ENOENT, session_get(&self->t, handle + 1000));
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, self->d.key, 0));
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, self->d.key, 1));
}

TEST_F(ktls, rx_token_decrypts_under_the_session_key)
{
	static const char msg[] = "sealed by OpenSSL, opened by the kernel";
	uint8_t rec[256], out[256];
	size_t n = sizeof(msg) - 1, len;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0));
	ASSERT_EQ(0, ktls_set(self->b, TLS_RX, &self->d, self->t.session_token));
	len = rec_seal(&self->d, self->d.key, 0, (const uint8_t *)msg, n, rec);
	ASSERT_NE(0, len);
	ASSERT_EQ((ssize_t)len, write(self->a, rec, len));
	ASSERT_EQ(0, read_all(self->b, out, n));
	EXPECT_EQ(0, memcmp(out, msg, n));
}

/* The daemon's form: a socket's two keys in one call, TX and RX. */
TEST_F(ktls, two_keys_in_one_call)
{
	static const char msg[] = "the other way, under the second key";
	uint8_t rec[256], out[256];
	size_t n = sizeof(msg) - 1, len;
	uint32_t h, h2;
	struct dir d2;

	dir_new(&d2, 32);
	ASSERT_EQ(0, session_add_pair(&self->t, self->d.key, d2.key, 32, NULL))
		TH_LOG("%s", self->t.extack);
	ASSERT_EQ(32, self->t.session_len);
	ASSERT_EQ(32, self->t.session_len2);
	h = self->t.session_handle;
	h2 = self->t.session_handle2;
	EXPECT_NE(h, h2);
	EXPECT_NE(0, memcmp(self->t.session_token, self->t.session_token2, 32));
	ASSERT_EQ(0, session_get_pair(&self->t, h, h2));
	EXPECT_EQ(HSMKEY_SESSION_WAITING, self->t.session_state);
	EXPECT_EQ(HSMKEY_SESSION_WAITING, self->t.session_state2);
	ASSERT_EQ(0, ktls_set(self->a, TLS_TX, &self->d, self->t.session_token));
	ASSERT_EQ(0, ktls_set(self->a, TLS_RX, &d2, self->t.session_token2));
	ASSERT_EQ(0, session_get_pair(&self->t, h, h2));
	EXPECT_EQ(HSMKEY_SESSION_SPENT, self->t.session_state);
	EXPECT_EQ(HSMKEY_SESSION_SPENT, self->t.session_state2);
	EXPECT_EQ(-ENOENT, session_get_pair(&self->t, h, h2 + 1000));
	EXPECT_EQ(-ENOENT, session_get_pair(&self->t, h2 + 1000, h2));
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, self->d.key, 0));
	len = rec_seal(&d2, d2.key, 0, (const uint8_t *)msg, n, rec);
	ASSERT_NE(0, len);
	ASSERT_EQ((ssize_t)len, write(self->b, rec, len));
	ASSERT_EQ(0, read_all(self->a, out, n));
	EXPECT_EQ(0, memcmp(out, msg, n));
}

/* A second key refused: the first is not left in the table either. */
TEST_F(ktls, two_keys_both_or_neither)
{
	uint8_t key2[32], ones[HSMKEY_VERIFIER_LEN];
	uint32_t waiting, h, h2;
	struct nl_msg *msg;

	rand_fill(key2, sizeof(key2));
	memset(ones, 0xff, sizeof(ones));
	ASSERT_EQ(0, nlt_info(&self->t));
	waiting = self->t.sessions;
	EXPECT_EQ(-EINVAL, session_add_pair(&self->t, self->d.key, key2, 24, NULL));
	EXPECT_EQ(-EINVAL, session_add_pair(&self->t, self->d.key, key2, 32, ones));
	EXPECT_EQ(0u, self->t.session_handle2);
	ASSERT_EQ(0, nlt_info(&self->t));
	EXPECT_EQ(waiting, self->t.sessions);
	/* The same two keys, well formed: both added. */
	ASSERT_EQ(0, session_add_pair(&self->t, self->d.key, key2, 16, NULL));
	EXPECT_EQ(16, self->t.session_len2);
	h = self->t.session_handle;
	h2 = self->t.session_handle2;
	ASSERT_EQ(0, nlt_info(&self->t));
	EXPECT_EQ(waiting + 2, self->t.sessions);
	/* REVOKE takes one handle: a second is refused, not ignored. */
	msg = nlt_msg(&self->t, HSMKEY_CMD_SESSION_REVOKE, 0);
	nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE, h);
	nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE_2, h2);
	EXPECT_EQ(-EINVAL, nlt_call(&self->t, msg));
	ASSERT_EQ(0, nlt_info(&self->t));
	EXPECT_EQ(waiting + 2, self->t.sessions);
	EXPECT_EQ(0, session_revoke(&self->t, h));
	EXPECT_EQ(0, session_revoke(&self->t, h2));
	ASSERT_EQ(0, nlt_info(&self->t));
	EXPECT_EQ(waiting, self->t.sessions);
}

TEST_F(ktls, aes_128_form)
{
	dir_new(&self->d, 16);
	ASSERT_EQ(0, session_add(&self->t, self->d.key, 16, 0));
	ASSERT_EQ(16, self->t.session_len);
	ASSERT_EQ(0, ktls_set(self->a, TLS_TX, &self->d, self->t.session_token));
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, self->d.key, 0));
}

TEST_F(ktls, getsockopt_gives_back_only_a_spent_token)
{
	struct tls12_crypto_info_aes_gcm_256 ci = { 0 };
	socklen_t sl = sizeof(ci);
	uint8_t token[32];
	int c, e;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0));
	memcpy(token, self->t.session_token, 32);
	ASSERT_EQ(0, ktls_set(self->a, TLS_TX, &self->d, token));
	ASSERT_EQ(0, getsockopt(self->a, SOL_TLS, TLS_TX, &ci, &sl));
	EXPECT_EQ(0, memcmp(ci.key, token, 32));
	EXPECT_NE(0, memcmp(ci.key, self->d.key, 32));
	/* Used again, on another socket: refused, not taken for a raw key. */
	ASSERT_EQ(0, tcp_pair(&c, &e));
	EXPECT_EQ(-EKEYREVOKED, ktls_set(c, TLS_TX, &self->d, ci.key));
	close(c);
	close(e);
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, self->d.key, 0));
}

TEST_F(ktls, another_process_cannot_use_the_token)
{
	pid_t pid;
	int st;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int c, e;

		/* Root as well, and a socket of its own: still not the owner. */
		if (tcp_pair(&c, &e))
			_exit(2);
		_exit(ktls_set(c, TLS_TX, &self->d, self->t.session_token) == -EACCES ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("the child's setsockopt was not refused with EACCES");
	/* The owner's use is untouched by the attempt. */
	ASSERT_EQ(0, ktls_set(self->a, TLS_TX, &self->d, self->t.session_token));
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, self->d.key, 0));
}

TEST_F(ktls, a_forged_mac_is_a_raw_key_and_spends_nothing)
{
	uint8_t forged[32];
	int c, e;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0));
	memcpy(forged, self->t.session_token, 32);
	forged[31] ^= 1;
	ASSERT_EQ(0, ktls_set(self->a, TLS_TX, &self->d, forged));
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, forged, 0));
	ASSERT_EQ(0, tcp_pair(&c, &e));
	ASSERT_EQ(0, ktls_set(c, TLS_TX, &self->d, self->t.session_token));
	EXPECT_EQ(1, tx_opens_with(c, e, &self->d, self->d.key, 0));
	close(c);
	close(e);
}

TEST_F(ktls, a_raw_key_beginning_with_the_magic_is_a_raw_key)
{
	uint8_t raw[32];

	rand_fill(raw, sizeof(raw));
	memcpy(raw, HSMKEY_SESSION_MAGIC, 4);
	ASSERT_EQ(0, ktls_set(self->a, TLS_TX, &self->d, raw));
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, raw, 0));
}

TEST_F(ktls, an_expired_token_never_gives_the_key)
{
	int r;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 1));
	sleep(2);
	r = ktls_set(self->a, TLS_TX, &self->d, self->t.session_token);
	/* Refused: expired, or (pruned already) out of the table. */
	EXPECT_TRUE(r == -EKEYEXPIRED || r == -EKEYREVOKED) TH_LOG("setsockopt: %d", r);
}

TEST_F(ktls, the_daemon_gone_its_session_keys_are_gone)
{
	struct nlt other;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0));
	nlt_release(&self->t);
	ASSERT_EQ(0, nlt_open_nodev(&other));
	ASSERT_EQ(0, nlt_info(&other));
	EXPECT_EQ(0, other.sessions);
	nlt_close(&other);
	/* Refused: neither the key nor the token's own bytes as a key. */
	EXPECT_EQ(-EKEYREVOKED, ktls_set(self->a, TLS_TX, &self->d, self->t.session_token));
}

TEST_F(ktls, only_the_registered_daemon_adds_session_keys)
{
	struct nlt other;
	pid_t pid;
	int st;

	/* Another root socket, not registered: the wrapping is no help. */
	ASSERT_EQ(0, nlt_open_nodev(&other));
	memcpy(other.tkey, self->t.tkey, sizeof(other.tkey));
	EXPECT_EQ(-EBUSY, session_add(&other, self->d.key, 32, 0));
	nlt_close(&other);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (nlt_drop_to_nobody())
			_exit(2);
		_exit(session_add(&self->t, self->d.key, 32, 0) == -EPERM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST_F(ktls, bad_session_keys_are_refused)
{
	uint8_t w[NLT_WRAP_MAX], key[32];
	struct nlt_key k = { .type = HSMKEY_TYPE_AES_256_GCM, .keylen = 32 };
	struct nl_msg *msg;

	rand_fill(key, sizeof(key));
	/* A key version's id: its blob does not pass for a session key's. */
	rand_fill(k.id, sizeof(k.id));
	k.version = 1;
	msg = nlt_msg(&self->t, HSMKEY_CMD_SESSION_ADD, 0);
	nla_put(msg, HSMKEY_SESSION_A_WRAPPED, nlt_wrap(self->t.tkey, &k, key, key, 32, w), w);
	EXPECT_EQ(-EBADMSG, nlt_call(&self->t, msg));
	/* 24 bytes. */
	msg = nlt_msg(&self->t, HSMKEY_CMD_SESSION_ADD, 0);
	memcpy(k.id, HSMKEY_SESSION_WRAP_ID, HSMKEY_ID_LEN);
	k.version = 0;
	nla_put(msg, HSMKEY_SESSION_A_WRAPPED, nlt_wrap(self->t.tkey, &k, key, key, 24, w), w);
	EXPECT_EQ(-EINVAL, nlt_call(&self->t, msg));
	/* A lifetime over the maximum. */
	EXPECT_EQ(-ERANGE, session_add(&self->t, key, 32, HSMKEY_SESSION_TTL_MAX + 1));
}

/* Any gcm(aes) user with a raw key: AF_ALG against OpenSSL, 4 KiB. */
TEST_F(ktls, raw_keys_of_other_gcm_users_are_unchanged)
{
	uint8_t key[32], iv[12], in[4096 + 16], out[4096 + 16], ref[4096 + 16];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int tfm, m;

	rand_fill(key, sizeof(key));
	rand_fill(iv, sizeof(iv));
	rand_fill(in, 4096);
	tfm = alg_open_type("aead", "gcm(aes)");
	ASSERT_LE(0, tfm);
	ASSERT_EQ(0, alg_setkey(tfm, key, 32));
	ASSERT_EQ(0, alg_request(tfm, true, iv, 12, 0, in, 4096, out, 4096 + 16));
	close(tfm);
	ASSERT_TRUE(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) &&
		    EVP_EncryptUpdate(c, ref, &m, in, 4096) && EVP_EncryptFinal_ex(c, ref + m, &m) &&
		    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, ref + 4096));
	EVP_CIPHER_CTX_free(c);
	EXPECT_EQ(0, memcmp(out, ref, 4096 + 16));
	/* Decryption by its driver name: OpenSSL's ciphertext and tag open. */
	tfm = alg_open_type("aead", "gcm-aes-hsmkey");
	ASSERT_LE(0, tfm);
	ASSERT_EQ(0, alg_setkey(tfm, key, 32));
	ASSERT_EQ(0, alg_request(tfm, false, iv, 12, 0, ref, 4096 + 16, out, 4096));
	EXPECT_EQ(0, memcmp(out, in, 4096));
	/* ... and a wrong tag does not. */
	ref[4096] ^= 1;
	EXPECT_EQ(-EBADMSG, alg_request(tfm, false, iv, 12, 0, ref, 4096 + 16, out, 4096));
	close(tfm);
}

/* Does @fd have bytes to read within @ms? */
static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

TEST_F(ktls, a_revoked_session_stops_its_records)
{
	static const char msg[] = "after the revocation";
	uint32_t handle;
	ssize_t w1, w2;
	int e2;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0));
	handle = self->t.session_handle;
	ASSERT_EQ(0, ktls_set(self->a, TLS_TX, &self->d, self->t.session_token));
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, self->d.key, 0));
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, self->d.key, 1));
	ASSERT_EQ(0, session_get(&self->t, handle));
	EXPECT_EQ(HSMKEY_SESSION_SPENT, self->t.session_state);
	EXPECT_EQ((uint64_t)2, self->t.session_records);
	ASSERT_EQ(0, nlt_info(&self->t));
	EXPECT_LE(1U, self->t.sessions_bound);

	ASSERT_EQ(0, session_revoke(&self->t, handle)) TH_LOG("%s", self->t.extack);
	ASSERT_EQ(0, session_get(&self->t, handle));
	EXPECT_EQ(HSMKEY_SESSION_REVOKED, self->t.session_state);
	/* The record is refused; kTLS fails the socket (EBADMSG from then on). */
	w1 = write(self->a, msg, sizeof(msg) - 1);
	w2 = write(self->a, msg, sizeof(msg) - 1);
	e2 = errno;
	EXPECT_EQ(-1, w2) TH_LOG("writes after the revocation: %zd, %zd", w1, w2);
	EXPECT_EQ(EBADMSG, e2);
	EXPECT_FALSE(readable(self->b, 200)) TH_LOG("a record left after the revocation");
	/* Revoking again is no error; a handle not in the table is. */
	EXPECT_EQ(0, session_revoke(&self->t, handle));
	EXPECT_EQ(-ENOENT, session_revoke(&self->t, handle + 1000));
	/* The socket freed, its session key leaves the table. */
	close(self->a);
	self->a = -1;
	EXPECT_EQ(-ENOENT, session_get(&self->t, handle));
}

TEST_F(ktls, a_revoked_rx_session_stops_reading)
{
	static const char msg[] = "sealed by OpenSSL";
	uint8_t rec[256], out[256];
	size_t n = sizeof(msg) - 1, len;
	ssize_t r;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0));
	ASSERT_EQ(0, ktls_set(self->b, TLS_RX, &self->d, self->t.session_token));
	len = rec_seal(&self->d, self->d.key, 0, (const uint8_t *)msg, n, rec);
	ASSERT_EQ((ssize_t)len, write(self->a, rec, len));
	ASSERT_EQ(0, read_all(self->b, out, n));
	EXPECT_EQ(0, memcmp(out, msg, n));
	ASSERT_EQ(0, session_revoke(&self->t, self->t.session_handle));
	len = rec_seal(&self->d, self->d.key, 1, (const uint8_t *)msg, n, rec);
	ASSERT_EQ((ssize_t)len, write(self->a, rec, len));
	r = read(self->b, out, sizeof(out));
	EXPECT_EQ(-1, r) TH_LOG("read %zd bytes after the revocation", r);
	EXPECT_EQ(EKEYREVOKED, errno);
	/* And so is every read after it: the record stays, unreadable. */
	EXPECT_EQ(-1, read(self->b, out, sizeof(out)));
	EXPECT_TRUE(errno == EKEYREVOKED || errno == EBADMSG) TH_LOG("errno %d", errno);
}

TEST_F(ktls, a_waiting_session_revoked_is_withdrawn)
{
	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0));
	ASSERT_EQ(0, session_revoke(&self->t, self->t.session_handle));
	EXPECT_EQ(-ENOENT, session_get(&self->t, self->t.session_handle));
	/* Refused: neither the key nor the token's bytes as a raw key. */
	EXPECT_EQ(-EKEYREVOKED, ktls_set(self->a, TLS_TX, &self->d, self->t.session_token));
}

/* From the attacker's side: only the registered daemon revokes. */
TEST_F(ktls, only_the_daemon_revokes_a_session)
{
	struct nlt other;
	uint32_t handle;
	pid_t pid;
	int st;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0));
	handle = self->t.session_handle;
	ASSERT_EQ(0, ktls_set(self->a, TLS_TX, &self->d, self->t.session_token));
	/* Root, another socket, while the daemon is registered. */
	ASSERT_EQ(0, nlt_open_nodev(&other));
	EXPECT_EQ(-EBUSY, session_revoke(&other, handle));
	nlt_close(&other);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (nlt_drop_to_nobody())
			_exit(2);
		_exit(session_revoke(&self->t, handle) == -EPERM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ASSERT_EQ(0, session_get(&self->t, handle));
	EXPECT_EQ(HSMKEY_SESSION_SPENT, self->t.session_state);
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, self->d.key, 0));
}

/* The daemon closing /dev/hsmkey leaves bound sessions working. */
TEST_F(ktls, a_bound_session_outlives_the_daemons_close)
{
	struct nlt other;
	uint32_t handle;

	ASSERT_EQ(0, session_add(&self->t, self->d.key, 32, 0));
	handle = self->t.session_handle;
	ASSERT_EQ(0, ktls_set(self->a, TLS_TX, &self->d, self->t.session_token));
	nlt_release(&self->t);
	EXPECT_EQ(1, tx_opens_with(self->a, self->b, &self->d, self->d.key, 0));
	ASSERT_EQ(0, nlt_open_nodev(&other));
	ASSERT_EQ(0, session_get(&other, handle));
	EXPECT_EQ(HSMKEY_SESSION_SPENT, other.session_state);
	/* With no daemon, root may take the fail-safe direction. */
	EXPECT_EQ(0, session_revoke(&other, handle));
	nlt_close(&other);
}

TEST_HARNESS_MAIN
