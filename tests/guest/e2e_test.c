// SPDX-License-Identifier: GPL-2.0
/*
 * End-to-end delivery (HSMKEY_IOC_EPHEMERAL, HSMKEY_KEY_A_E2E) against an
 * independent implementation: OpenSSL plays the HSM.  It makes its own EC
 * key, computes Z with the kernel's ephemeral point, derives the KEK as
 * the design's §2.3 says and wraps random material with id-aes256-wrap;
 * the kernel must then hold exactly that material, which an AF_ALG known
 * answer against OpenSSL on the raw bytes shows, for every key type.  Then
 * the attacks: wrong caller, spent, expired or replaced ephemeral keys,
 * blobs for another key version, points off the curve.
 */
#include <sys/utsname.h>
#include <sys/wait.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include "nltest.h"
#include "algtest.h"
#include "kselftest_harness.h"

#define PT	HSMKEY_E2E_POINT_LEN

/* The HSM's side, in OpenSSL. */
struct hsm {
	EVP_PKEY *key;
	uint8_t point[PT];
};

static int hsm_new(struct hsm *h)
{
	size_t len = 0;

	h->key = EVP_EC_gen("P-256");
	if (!h->key ||
	    !EVP_PKEY_get_octet_string_param(h->key, OSSL_PKEY_PARAM_PUB_KEY, h->point, PT,
					     &len) || len != PT)
		return -1;
	return 0;
}

/* Z = X(d_h * Qk), as CKM_ECDH1_DERIVE with CKD_NULL gives it. */
static int hsm_ecdh(const struct hsm *h, const uint8_t *kpoint, uint8_t *z)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL), *dc = NULL;
	EVP_PKEY *peer = NULL;
	OSSL_PARAM *params = NULL;
	size_t zlen = 32;
	int ok;

	ok = bld && pc &&
	     OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
	     OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, kpoint, PT) &&
	     (params = OSSL_PARAM_BLD_to_param(bld)) &&
	     EVP_PKEY_fromdata_init(pc) > 0 &&
	     EVP_PKEY_fromdata(pc, &peer, EVP_PKEY_PUBLIC_KEY, params) > 0 &&
	     (dc = EVP_PKEY_CTX_new(h->key, NULL)) &&
	     EVP_PKEY_derive_init(dc) > 0 && EVP_PKEY_derive_set_peer(dc, peer) > 0 &&
	     EVP_PKEY_derive(dc, z, &zlen) > 0 && zlen == 32;
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_free(peer);
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_BLD_free(bld);
	return ok ? 0 : -1;
}

/* KEK = AES-256-ECB_Z(SHA-256(label || Qk || Qh || id || be32 v || be32 t)). */
static int hsm_kek(const uint8_t *z, const uint8_t *kpoint, const uint8_t *hpoint,
		   const struct nlt_key *k, uint8_t *kek)
{
	static const char label[] = "hsmkey e2e kek v1";
	uint8_t ctx[sizeof(label) + 2 * PT + HSMKEY_ID_LEN + 8], h[32], *p = ctx;
	uint32_t v = htonl(k->version), t = htonl(k->type);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned int hl;
	int n, ok;

	memcpy(p, label, sizeof(label));
	p += sizeof(label);
	memcpy(p, kpoint, PT);
	memcpy(p + PT, hpoint, PT);
	p += 2 * PT;
	memcpy(p, k->id, HSMKEY_ID_LEN);
	memcpy(p + HSMKEY_ID_LEN, &v, 4);
	memcpy(p + HSMKEY_ID_LEN + 4, &t, 4);
	ok = sizeof(ctx) == 172 && EVP_Digest(ctx, sizeof(ctx), h, &hl, EVP_sha256(), NULL) &&
	     EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, z, NULL) &&
	     EVP_CIPHER_CTX_set_padding(c, 0) && EVP_EncryptUpdate(c, kek, &n, h, 32) &&
	     n == 32;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/* RFC 3394 with OpenSSL's id-aes256-wrap: 8 + keylen bytes into @blob. */
static int hsm_kw(const uint8_t *kek, const uint8_t *material, unsigned int keylen,
		  uint8_t *blob)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0, ok;

	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok = EVP_EncryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) &&
	     EVP_EncryptUpdate(c, blob, &n, material, (int)keylen) &&
	     EVP_EncryptFinal_ex(c, blob + n, &m) && n + m == (int)keylen + 8;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/* The HSM's whole job for key @k under ephemeral point @kpoint. */
static int hsm_wrap(const struct hsm *h, const uint8_t *kpoint, const struct nlt_key *k,
		    uint8_t *blob)
{
	uint8_t z[32], kek[32];
	int r = hsm_ecdh(h, kpoint, z) ?: hsm_kek(z, kpoint, h->point, k, kek) ?:
		hsm_kw(kek, k->material, k->keylen, blob);

	explicit_bzero(z, sizeof(z));
	explicit_bzero(kek, sizeof(kek));
	return r;
}

static int ephemeral(int fd, uint32_t uses, uint32_t ttl, uint64_t *handle, uint8_t *point)
{
	struct hsmkey_ephemeral e = { .uses = uses, .ttl = ttl };

	if (ioctl(fd, HSMKEY_IOC_EPHEMERAL, &e))
		return -errno;
	*handle = e.handle;
	memcpy(point, e.point, PT);
	return 0;
}

/* One key's attributes: the verifier under the transport key, the E2E nest. */
static void put_e2e_key(struct nlt *t, struct nl_msg *msg, const struct nlt_key *k,
			uint64_t handle, const uint8_t *hpoint, const uint8_t *blob)
{
	uint8_t wrapped[NLT_WRAP_MAX];
	int wlen = nlt_wrap(t->tkey, k, k->verifier, NULL, 0, wrapped);
	struct nlattr *e2e;

	nla_put(msg, HSMKEY_KEY_A_ID, HSMKEY_ID_LEN, k->id);
	nla_put_u32(msg, HSMKEY_KEY_A_VERSION, k->version);
	nla_put_string(msg, HSMKEY_KEY_A_NAME, k->name);
	nla_put_u32(msg, HSMKEY_KEY_A_TYPE, k->type);
	nla_put(msg, HSMKEY_KEY_A_WRAPPED, wlen, wrapped);
	e2e = nla_nest_start(msg, HSMKEY_KEY_A_E2E);
	nla_put_u64(msg, HSMKEY_E2E_A_HANDLE, handle);
	nla_put(msg, HSMKEY_E2E_A_POINT, PT, hpoint);
	nla_put(msg, HSMKEY_E2E_A_WRAPPED, (int)k->keylen + 8, blob);
	nla_nest_end(msg, e2e);
}

static int add_e2e(struct nlt *t, const struct nlt_key *k, uint64_t handle,
		   const uint8_t *hpoint, const uint8_t *blob)
{
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_KEY_ADD, 0);

	put_e2e_key(t, msg, k, handle, hpoint, blob);
	return nlt_call(t, msg);
}

/* @n keys in one batch, key i with blob i (each 72 bytes apart). */
static int add_e2e_batch(struct nlt *t, const struct nlt_key *k, unsigned int n,
			 uint64_t handle, const uint8_t *hpoint, const uint8_t (*blob)[72])
{
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_KEY_ADD, 0);
	struct nlattr *batch = nla_nest_start(msg, HSMKEY_KEY_A_BATCH);
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct nlattr *e = nla_nest_start(msg, (int)(i + 1));

		put_e2e_key(t, msg, &k[i], handle, hpoint, blob[i]);
		nla_nest_end(msg, e);
	}
	nla_nest_end(msg, batch);
	return nlt_call(t, msg);
}

/* The known answer: a block through the token's algorithm equals OpenSSL's. */
static int kat(const struct nlt_key *k, char *why, size_t whylen)
{
	static const char *const names[] = { NULL, "xts", "xts", "cbc", "cbc", "gcm", "gcm" };
	const EVP_CIPHER *ossl[] = { NULL, EVP_aes_128_xts(), EVP_aes_256_xts(),
				     EVP_aes_128_cbc(), EVP_aes_256_cbc(), EVP_aes_128_gcm(),
				     EVP_aes_256_gcm() };
	bool gcm = k->type >= HSMKEY_TYPE_AES_128_GCM;
	uint8_t tok[HSMKEY_TOKEN_LEN], iv[16], in[64], out[64 + 16], ref[64 + 16];
	unsigned int ivlen = gcm ? 12 : 16;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	char alg[32];
	int fd, n, m, r;

	rand_fill(iv, sizeof(iv));
	rand_fill(in, sizeof(in));
	snprintf(alg, sizeof(alg), "%s(hsmaes)", names[k->type]);
	fd = alg_open_type(gcm ? "aead" : "skcipher", alg);
	nlt_token(k, tok);
	r = fd < 0 ? fd : alg_setkey(fd, tok, sizeof(tok)) ?:
	    (gcm ? alg_set_authsize(fd, 16) : 0) ?:
	    alg_request(fd, true, iv, ivlen, gcm ? 0 : -1, in, 64, out, gcm ? 80 : 64);
	if (fd >= 0)
		close(fd);
	if (r) {
		snprintf(why, whylen, "%s: %s", alg, strerror(-r));
		EVP_CIPHER_CTX_free(c);
		return -1;
	}
	EVP_EncryptInit_ex(c, ossl[k->type], NULL, k->material, iv);
	EVP_CIPHER_CTX_set_padding(c, 0);
	EVP_EncryptUpdate(c, ref, &n, in, 64);
	EVP_EncryptFinal_ex(c, ref + n, &m);
	if (gcm)
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, ref + 64);
	EVP_CIPHER_CTX_free(c);
	if (memcmp(out, ref, gcm ? 80 : 64)) {
		snprintf(why, whylen, "%s: differs from OpenSSL on the raw material", alg);
		return -1;
	}
	return 0;
}

/*
 * Should this kernel have end-to-end delivery?  Where the kernel ships
 * ecdh_generic (Debian's 6.1 and 6.12) or has ecdh-nist-p256 built in, a
 * module that says "unavailable" is a failure; elsewhere (a kernel built
 * without the kpp API, like the debug kernel) it is the right answer.
 */
static bool e2e_expected(void)
{
	char path[256], line[256];
	struct utsname u;
	bool found = false;
	FILE *f;

	uname(&u);
	snprintf(path, sizeof(path), "/lib/modules/%s/kernel/crypto/ecdh_generic.ko", u.release);
	if (!access(path, F_OK))
		return true;
	f = fopen("/proc/crypto", "r");
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, "ecdh-nist-p256") != NULL;
	if (f)
		fclose(f);
	return found;
}

FIXTURE(e2e) {
	struct nlt t;
	struct hsm h;
	uint64_t handle;
	uint8_t kpoint[PT];
	struct nlt_key k;
	uint8_t blob[72];
	bool unavailable;	/* and rightly so: see e2e_expected() */
};

FIXTURE_SETUP(e2e)
{
	ASSERT_EQ(0, nlt_open(&self->t)) TH_LOG("hsmkey family not found: is hsmkey.ko loaded?");
	ASSERT_LE(0, self->t.dev) TH_LOG("/dev/hsmkey not held: is a daemon registered?");
	ASSERT_EQ(0, hsm_new(&self->h));
	nlt_key_random(&self->k, "e2e", HSMKEY_TYPE_AES_256_XTS);
	ASSERT_EQ(0, nlt_info(&self->t));
	if (!self->t.e2e && !e2e_expected()) {
		/* What a daemon sees on such a kernel: -ENOPKG. */
		ASSERT_EQ(-ENOPKG, ephemeral(self->t.dev, 1, 0, &self->handle, self->kpoint));
		self->unavailable = true;
	}
}

/* This harness runs a test after a SKIP in its setup: each test asks. */
#define NEEDS_E2E() do {							\
	if (self->unavailable)							\
		SKIP(return, "this kernel has no ecdh-nist-p256 or kw(aes) (ioctl: ENOPKG)"); \
} while (0)

FIXTURE_TEARDOWN(e2e)
{
	EVP_PKEY_free(self->h.key);
	nlt_close(&self->t);
}

TEST_F(e2e, info_says_available)
{
	NEEDS_E2E();
	ASSERT_EQ(0, nlt_info(&self->t));
	EXPECT_EQ(1, self->t.e2e) TH_LOG("HSMKEY_INFO_A_E2E: the self-test or the algorithms");
}

/* Byte order, F13: the point as it comes is on the curve, for OpenSSL too. */
TEST_F(e2e, point_is_big_endian_and_on_the_curve)
{
	uint8_t z[32], rev[PT];
	int i;

	NEEDS_E2E();
	ASSERT_EQ(0, ephemeral(self->t.dev, 1, 0, &self->handle, self->kpoint));
	EXPECT_EQ(0x04, self->kpoint[0]);
	EXPECT_EQ(0, hsm_ecdh(&self->h, self->kpoint, z)) TH_LOG("OpenSSL refuses the point");
	/* The "little-endian digits" reading is not a point. */
	rev[0] = 0x04;
	for (i = 0; i < 32; i++) {
		rev[1 + i] = self->kpoint[32 - i];
		rev[33 + i] = self->kpoint[64 - i];
	}
	EXPECT_NE(0, hsm_ecdh(&self->h, rev, z));
}

struct kind {
	uint32_t type;
	const char *name;
};

static const struct kind kinds[] = {
	{ HSMKEY_TYPE_AES_128_XTS, "aes-128-xts" }, { HSMKEY_TYPE_AES_256_XTS, "aes-256-xts" },
	{ HSMKEY_TYPE_AES_128_CBC, "aes-128-cbc" }, { HSMKEY_TYPE_AES_256_CBC, "aes-256-cbc" },
	{ HSMKEY_TYPE_AES_128_GCM, "aes-128-gcm" }, { HSMKEY_TYPE_AES_256_GCM, "aes-256-gcm" },
};

TEST_F(e2e, every_type_delivered_and_known_answer)
{
	char why[128];
	size_t i;

	NEEDS_E2E();
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		nlt_key_random(&self->k, kinds[i].name, kinds[i].type);
		ASSERT_EQ(0, ephemeral(self->t.dev, 1, 0, &self->handle, self->kpoint));
		ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &self->k, self->blob));
		ASSERT_EQ(0, add_e2e(&self->t, &self->k, self->handle, self->h.point, self->blob))
			TH_LOG("%s: %s", kinds[i].name, self->t.extack);
		ASSERT_EQ(0, nlt_get(&self->t, &self->k));
		EXPECT_EQ(HSMKEY_DELIVERY_E2E, self->t.delivery) TH_LOG("%s", kinds[i].name);
		EXPECT_EQ(0, kat(&self->k, why, sizeof(why))) TH_LOG("%s", why);
		EXPECT_FALSE(nlt_contains(self->t.raw, self->t.rawlen, self->k.material, 16));
		nlt_remove(&self->t, &self->k);
	}
	/* A key added the old way says so. */
	nlt_key_random(&self->k, "transport", HSMKEY_TYPE_AES_256_CBC);
	ASSERT_EQ(0, nlt_add(&self->t, &self->k)) TH_LOG("%s", self->t.extack);
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(HSMKEY_DELIVERY_TRANSPORT, self->t.delivery);
	EXPECT_EQ(0, kat(&self->k, why, sizeof(why))) TH_LOG("%s", why);
	nlt_remove(&self->t, &self->k);
}

/* A batch under one ephemeral key with as many uses; then it is spent. */
TEST_F(e2e, batch_spends_the_uses)
{
	struct nlt_key k[3], extra;
	uint8_t blob[3][72];
	char why[128];
	int i;

	NEEDS_E2E();
	ASSERT_EQ(0, ephemeral(self->t.dev, 3, 0, &self->handle, self->kpoint));
	for (i = 0; i < 3; i++) {
		nlt_key_random(&k[i], "batch", HSMKEY_TYPE_AES_256_XTS);
		ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &k[i], blob[i]));
	}
	ASSERT_EQ(0, add_e2e_batch(&self->t, k, 3, self->handle, self->h.point, blob))
		TH_LOG("%s", self->t.extack);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, nlt_get(&self->t, &k[i]));
		EXPECT_EQ(HSMKEY_DELIVERY_E2E, self->t.delivery);
		EXPECT_EQ(0, kat(&k[i], why, sizeof(why))) TH_LOG("%s", why);
		nlt_remove(&self->t, &k[i]);
	}
	nlt_key_random(&extra, "extra", HSMKEY_TYPE_AES_256_XTS);
	ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &extra, self->blob));
	EXPECT_EQ(-ESTALE, add_e2e(&self->t, &extra, self->handle, self->h.point, self->blob));
	EXPECT_NE(NULL, strstr(self->t.extack, "ephemeral key")) TH_LOG("%s", self->t.extack);
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &extra));
}

/*
 * One ephemeral key over several messages and two HSMs (a start-up's 256
 * versions span messages; a failover brings another HSM's point): each
 * message unwraps with the Z of its own HSM point, whichever came before,
 * and a blob of one HSM sent with the other's point does not unwrap.
 */
TEST_F(e2e, one_key_across_messages_and_hsms)
{
	struct nlt_key k[5];
	struct hsm other;
	uint8_t blob[5][72];
	const struct hsm *by[5] = { &self->h, &other, &self->h, &other, &other };
	char why[128];
	int i;

	NEEDS_E2E();
	ASSERT_EQ(0, hsm_new(&other));
	ASSERT_EQ(0, ephemeral(self->t.dev, 5, 0, &self->handle, self->kpoint));
	for (i = 0; i < 5; i++) {
		nlt_key_random(&k[i], "across", HSMKEY_TYPE_AES_256_XTS);
		ASSERT_EQ(0, hsm_wrap(by[i], self->kpoint, &k[i], blob[i]));
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, add_e2e(&self->t, &k[i], self->handle, by[i]->point, blob[i]))
			TH_LOG("message %d: %s", i, self->t.extack);
		ASSERT_EQ(0, nlt_get(&self->t, &k[i]));
		EXPECT_EQ(0, kat(&k[i], why, sizeof(why))) TH_LOG("message %d: %s", i, why);
	}
	/* The other HSM's blob sent with this HSM's point: refused, nothing added. */
	EXPECT_NE(0, add_e2e(&self->t, &k[4], self->handle, self->h.point, blob[4]));
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &k[4]));
	for (i = 0; i < 4; i++)
		nlt_remove(&self->t, &k[i]);
	EVP_PKEY_free(other.key);
}

/* More keys in a batch than uses: nothing is added, nothing is spent. */
TEST_F(e2e, batch_over_the_uses_is_refused_whole)
{
	struct nlt_key k[2];
	uint8_t blob[2][72];
	int i;

	NEEDS_E2E();
	ASSERT_EQ(0, ephemeral(self->t.dev, 1, 0, &self->handle, self->kpoint));
	for (i = 0; i < 2; i++) {
		nlt_key_random(&k[i], "over", HSMKEY_TYPE_AES_256_XTS);
		ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &k[i], blob[i]));
	}
	EXPECT_EQ(-ESTALE, add_e2e_batch(&self->t, k, 2, self->handle, self->h.point, blob));
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &k[0]));
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &k[1]));
	/* The one use is still there. */
	EXPECT_EQ(0, add_e2e(&self->t, &k[0], self->handle, self->h.point, blob[0]))
		TH_LOG("%s", self->t.extack);
	nlt_remove(&self->t, &k[0]);
}

/* A blob bound to another id, version or type does not unwrap. */
TEST_F(e2e, blob_for_another_key_version_is_refused)
{
	struct nlt_key other;
	int i;

	NEEDS_E2E();
	/* A 32-byte type, so that another 32-byte type can be tried. */
	nlt_key_random(&self->k, "e2e", HSMKEY_TYPE_AES_256_CBC);
	ASSERT_EQ(0, ephemeral(self->t.dev, 1, 0, &self->handle, self->kpoint));
	for (i = 0; i < 3; i++) {
		other = self->k;
		if (i == 0)
			other.version++;
		else if (i == 1)
			other.id[0] ^= 1;
		else
			other.type = HSMKEY_TYPE_AES_256_GCM;
		ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &other, self->blob));
		EXPECT_EQ(-EBADMSG, add_e2e(&self->t, &self->k, self->handle, self->h.point,
					    self->blob)) TH_LOG("case %d", i);
		EXPECT_NE(NULL, strstr(self->t.extack, "does not unwrap")) TH_LOG("%s",
									    self->t.extack);
		EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &self->k));
	}
	/* Uses are charged only when keys go in: the right blob still works. */
	ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &self->k, self->blob));
	EXPECT_EQ(0, add_e2e(&self->t, &self->k, self->handle, self->h.point, self->blob))
		TH_LOG("%s", self->t.extack);
	nlt_remove(&self->t, &self->k);
}

TEST_F(e2e, point_off_the_curve_is_refused)
{
	uint8_t bad[PT];

	NEEDS_E2E();
	ASSERT_EQ(0, ephemeral(self->t.dev, 1, 0, &self->handle, self->kpoint));
	ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &self->k, self->blob));
	memcpy(bad, self->h.point, PT);
	bad[40] ^= 1;
	EXPECT_EQ(-EINVAL, add_e2e(&self->t, &self->k, self->handle, bad, self->blob));
	EXPECT_NE(NULL, strstr(self->t.extack, "P-256")) TH_LOG("%s", self->t.extack);
	memcpy(bad, self->h.point, PT);
	bad[0] = 0x05;
	EXPECT_EQ(-EINVAL, add_e2e(&self->t, &self->k, self->handle, bad, self->blob));
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &self->k));
}

TEST_F(e2e, spent_expired_replaced_and_unregistered_keys_are_stale)
{
	uint64_t first, h2;
	uint8_t p2[PT];
	int i;

	NEEDS_E2E();
	/* Spent. */
	ASSERT_EQ(0, ephemeral(self->t.dev, 1, 0, &self->handle, self->kpoint));
	ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &self->k, self->blob));
	ASSERT_EQ(0, add_e2e(&self->t, &self->k, self->handle, self->h.point, self->blob));
	nlt_remove(&self->t, &self->k);
	EXPECT_EQ(-ESTALE, add_e2e(&self->t, &self->k, self->handle, self->h.point, self->blob));
	/* Expired: a 1-second life. */
	ASSERT_EQ(0, ephemeral(self->t.dev, 1, 1, &self->handle, self->kpoint));
	ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &self->k, self->blob));
	sleep(2);
	EXPECT_EQ(-ESTALE, add_e2e(&self->t, &self->k, self->handle, self->h.point, self->blob));
	/* Replaced: HSMKEY_E2E_SLOTS newer keys take every slot. */
	ASSERT_EQ(0, ephemeral(self->t.dev, 1, 0, &first, self->kpoint));
	ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &self->k, self->blob));
	for (i = 0; i < HSMKEY_E2E_SLOTS; i++) {
		ASSERT_EQ(0, ephemeral(self->t.dev, 1, 0, &h2, p2));
		EXPECT_GT(h2, first);
	}
	EXPECT_EQ(-ESTALE, add_e2e(&self->t, &self->k, first, self->h.point, self->blob));
	/* Unregistered: closing the file wipes them all. */
	ASSERT_EQ(0, hsm_wrap(&self->h, p2, &self->k, self->blob));
	nlt_close(&self->t);
	ASSERT_EQ(0, nlt_open(&self->t));
	ASSERT_LE(0, self->t.dev);
	EXPECT_EQ(-ESTALE, add_e2e(&self->t, &self->k, h2, self->h.point, self->blob));
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &self->k));
}

static int ioctl_as_nobody(int fd)
{
	uint8_t p[PT];
	uint64_t h;
	int status;
	pid_t pid = fork();

	if (!pid)
		_exit(nlt_drop_to_nobody() ? 0x80 : -ephemeral(fd, 1, 0, &h, p));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST_F(e2e, only_the_registered_file_and_cap_sys_admin)
{
	struct hsmkey_ephemeral e = { .uses = 1 };
	uint8_t p[PT];
	uint64_t h;
	int fd;

	/* Refused before anything else, so also where there is no e2e. */

	/* The registered file handed to an unprivileged process. */
	EXPECT_EQ(EPERM, ioctl_as_nobody(self->t.dev));
	/* Bad arguments. */
	EXPECT_EQ(-EINVAL, ephemeral(self->t.dev, 0, 0, &h, p));
	EXPECT_EQ(-EINVAL, ephemeral(self->t.dev, HSMKEY_BATCH_MAX + 1, 0, &h, p));
	EXPECT_EQ(-EINVAL, ephemeral(self->t.dev, 1, HSMKEY_E2E_TTL + 1, &h, p));
	e.flags = 1;
	EXPECT_EQ(-1, ioctl(self->t.dev, HSMKEY_IOC_EPHEMERAL, &e));
	EXPECT_EQ(EINVAL, errno);
	/* Root with an open file that is not registered. */
	nlt_release(&self->t);
	fd = open("/dev/" HSMKEY_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EPERM, ephemeral(fd, 1, 0, &h, p));
	close(fd);
}

TEST_F(e2e, material_beside_e2e_is_refused)
{
	uint8_t wrapped[NLT_WRAP_MAX];
	struct nl_msg *msg;
	struct nlattr *e2e;
	int wlen;

	NEEDS_E2E();
	ASSERT_EQ(0, ephemeral(self->t.dev, 1, 0, &self->handle, self->kpoint));
	ASSERT_EQ(0, hsm_wrap(&self->h, self->kpoint, &self->k, self->blob));
	msg = nlt_msg(&self->t, HSMKEY_CMD_KEY_ADD, 0);
	wlen = nlt_wrap(self->t.tkey, &self->k, self->k.verifier, self->k.material,
			self->k.keylen, wrapped);
	nla_put(msg, HSMKEY_KEY_A_ID, HSMKEY_ID_LEN, self->k.id);
	nla_put_u32(msg, HSMKEY_KEY_A_VERSION, self->k.version);
	nla_put_string(msg, HSMKEY_KEY_A_NAME, self->k.name);
	nla_put_u32(msg, HSMKEY_KEY_A_TYPE, self->k.type);
	nla_put(msg, HSMKEY_KEY_A_WRAPPED, wlen, wrapped);
	e2e = nla_nest_start(msg, HSMKEY_KEY_A_E2E);
	nla_put_u64(msg, HSMKEY_E2E_A_HANDLE, self->handle);
	nla_put(msg, HSMKEY_E2E_A_POINT, PT, self->h.point);
	nla_put(msg, HSMKEY_E2E_A_WRAPPED, 72, self->blob);
	nla_nest_end(msg, e2e);
	EXPECT_EQ(-EINVAL, nlt_call(&self->t, msg));
	EXPECT_EQ(-ENOKEY, nlt_get(&self->t, &self->k));
}

TEST_HARNESS_MAIN
