// SPDX-License-Identifier: GPL-2.0
/*
 * gcm(hsmaes) through AF_ALG: keyed with a token it must agree with stock
 * gcm(aes) keyed with the raw key and with OpenSSL, on the GCM
 * specification's test cases and on random data with every tag size, both
 * directions; forged tags fail with EBADMSG; revoke fails closed; tags
 * shorter than 16 bytes need a key whose policy allows them.
 */
#include <openssl/evp.h>
#include "nltest.h"
#include "algtest.h"
#include "kselftest_harness.h"

#define GCM_IV 12

/* Encrypt with OpenSSL: the independent reference. */
static void ossl_gcm(const uint8_t *key, unsigned int keylen, const uint8_t *iv,
		     const uint8_t *aad, int alen, const uint8_t *pt, int plen,
		     uint8_t *ct, uint8_t *tag, int taglen)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n;

	EVP_EncryptInit_ex(c, keylen == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(), NULL, key, iv);
	EVP_EncryptUpdate(c, NULL, &n, aad, alen);
	EVP_EncryptUpdate(c, ct, &n, pt, plen);
	EVP_EncryptFinal_ex(c, ct + n, &n);
	EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, taglen, tag);
	EVP_CIPHER_CTX_free(c);
}

static int bind_gcm(struct nlt *t, const struct nlt_key *k, int *fd)
{
	uint8_t tok[HSMKEY_TOKEN_LEN];
	int r = nlt_add(t, k);

	if (r)
		return r;
	*fd = alg_open_type("aead", "gcm(hsmaes)");
	if (*fd < 0)
		return *fd;
	nlt_token(k, tok);
	return alg_setkey(*fd, tok, sizeof(tok));
}

FIXTURE(gcm) {
	struct nlt t;
	struct nlt_key k;
	struct nlt_policy p;
	int hsm, stock;
};

FIXTURE_VARIANT(gcm) {
	uint32_t type;
};

FIXTURE_VARIANT_ADD(gcm, aes128) { HSMKEY_TYPE_AES_128_GCM };
FIXTURE_VARIANT_ADD(gcm, aes256) { HSMKEY_TYPE_AES_256_GCM };

FIXTURE_SETUP(gcm)
{
	ASSERT_EQ(0, nlt_open(&self->t));
	nlt_key_random(&self->k, "gcm", variant->type);
	/* Every tag size GCM has: the shortest needs the policy to say so. */
	memset(&self->p, 0, sizeof(self->p));
	self->p.min_taglen = 4;
	self->k.policy = &self->p;
	ASSERT_EQ(0, bind_gcm(&self->t, &self->k, &self->hsm)) TH_LOG("%s", self->t.extack);
	self->stock = alg_open_type("aead", "gcm(aes)");
	ASSERT_LE(0, self->stock);
	ASSERT_EQ(0, alg_setkey(self->stock, self->k.material, (int)self->k.keylen));
}

FIXTURE_TEARDOWN(gcm)
{
	close(self->hsm);
	close(self->stock);
	nlt_remove(&self->t, &self->k);
	nlt_close(&self->t);
}

TEST_F(gcm, random_data_every_tag_size)
{
	static const unsigned int tags[] = { 16, 4, 8, 12, 13, 14, 15 };
	uint8_t in[4096 + 64], out[4096 + 64], ref[4096 + 64], tag[16], iv[GCM_IV];

	for (unsigned int round = 0; round < 21; round++) {
		unsigned int ts = tags[round % 7];
		int alen = (int)(round * 7 % 33);
		int plen = round % 3 == 0 ? 4096 : (int)(1 + round * 97 % 1500);

		rand_fill(iv, sizeof(iv));
		rand_fill(in, (size_t)(alen + plen));
		ASSERT_EQ(0, alg_set_authsize(self->hsm, ts));
		ASSERT_EQ(0, alg_set_authsize(self->stock, ts));
		ASSERT_EQ(0, alg_request(self->hsm, true, iv, GCM_IV, alen, in, (size_t)(alen + plen),
					 out, (size_t)(alen + plen) + ts)) TH_LOG("round %u", round);
		/* Against OpenSSL ... */
		ossl_gcm(self->k.material, self->k.keylen, iv, in, alen, in + alen, plen, ref, tag,
			 (int)ts);
		EXPECT_EQ(0, memcmp(out + alen, ref, (size_t)plen)) TH_LOG("round %u: ciphertext", round);
		EXPECT_EQ(0, memcmp(out + alen + plen, tag, ts)) TH_LOG("round %u: tag", round);
		/* ... and the stock driver, which must decrypt ours. */
		ASSERT_EQ(0, alg_request(self->stock, false, iv, GCM_IV, alen, out,
					 (size_t)(alen + plen) + ts, ref, (size_t)(alen + plen)));
		EXPECT_EQ(0, memcmp(ref + alen, in + alen, (size_t)plen));
		/* Ours decrypts stock's. */
		ASSERT_EQ(0, alg_request(self->stock, true, iv, GCM_IV, alen, in,
					 (size_t)(alen + plen), ref, (size_t)(alen + plen) + ts));
		ASSERT_EQ(0, alg_request(self->hsm, false, iv, GCM_IV, alen, ref,
					 (size_t)(alen + plen) + ts, out, (size_t)(alen + plen)));
		EXPECT_EQ(0, memcmp(out + alen, in + alen, (size_t)plen));
		/* A forged tag or changed AAD is refused. */
		ref[alen + plen + ts - 1] ^= 1;
		EXPECT_EQ(-EBADMSG, alg_request(self->hsm, false, iv, GCM_IV, alen, ref,
						(size_t)(alen + plen) + ts, out,
						(size_t)(alen + plen)));
	}
	EXPECT_EQ(-EINVAL, alg_set_authsize(self->hsm, 10));
	ASSERT_EQ(0, nlt_get(&self->t, &self->k));
	EXPECT_EQ(21u * 3, self->t.requests) TH_LOG("requests are counted");
	EXPECT_EQ(4u, self->t.min_taglen);
}

TEST_F(gcm, revoke_fails_closed)
{
	uint8_t in[64] = { 1 }, out[80], iv[GCM_IV] = { 0 };

	ASSERT_EQ(0, alg_request(self->hsm, true, iv, GCM_IV, 0, in, 64, out, 80));
	ASSERT_EQ(0, nlt_revoke(&self->t, &self->k));
	EXPECT_EQ(-EKEYREVOKED, alg_request(self->hsm, true, iv, GCM_IV, 0, in, 64, out, 80));
	EXPECT_EQ(-EKEYREVOKED, alg_request(self->hsm, false, iv, GCM_IV, 0, out, 80, in, 64));
	/* A new tag size cannot bring material back. */
	EXPECT_EQ(0, alg_set_authsize(self->hsm, 8));
	EXPECT_EQ(-EKEYREVOKED, alg_request(self->hsm, true, iv, GCM_IV, 0, in, 64, out, 72));
}

struct gcm_vector {
	const char *name, *key, *iv, *aad, *pt, *ct, *tag;
	uint32_t type;
};

/* The GCM specification (McGrew, Viega), test cases 2, 4 and 16. */
static const struct gcm_vector gcm_vectors[] = {
	{ "test case 2", "00000000000000000000000000000000", "000000000000000000000000", "",
	  "00000000000000000000000000000000", "0388dace60b6a392f328c2b971b2fe78",
	  "ab6e47d42cec13bdf53a67b21257bddf", HSMKEY_TYPE_AES_128_GCM },
	{ "test case 4", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
	  "5bc94fbc3221a5db94fae95ae7121a47", HSMKEY_TYPE_AES_128_GCM },
	{ "test case 16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b", HSMKEY_TYPE_AES_256_GCM },
};

TEST(gcm_spec_vectors)
{
	struct nlt t;

	ASSERT_EQ(0, nlt_open(&t));
	for (size_t i = 0; i < sizeof(gcm_vectors) / sizeof(gcm_vectors[0]); i++) {
		const struct gcm_vector *v = &gcm_vectors[i];
		uint8_t iv[GCM_IV], in[128], out[128], want[128];
		size_t alen = strlen(v->aad) / 2, plen = strlen(v->pt) / 2;
		struct nlt_key k;
		int hsm;

		nlt_key_random(&k, "gcm-vector", v->type);
		unhex(v->key, k.material);
		unhex(v->iv, iv);
		unhex(v->aad, in);
		unhex(v->pt, in + alen);
		memcpy(want, in, alen);
		unhex(v->ct, want + alen);
		unhex(v->tag, want + alen + plen);
		ASSERT_EQ(0, bind_gcm(&t, &k, &hsm)) TH_LOG("%s", v->name);
		ASSERT_EQ(0, alg_request(hsm, true, iv, GCM_IV, (int)alen, in, alen + plen, out,
					 alen + plen + 16));
		EXPECT_EQ(0, memcmp(out, want, alen + plen + 16)) TH_LOG("%s: encrypt", v->name);
		ASSERT_EQ(0, alg_request(hsm, false, iv, GCM_IV, (int)alen, want, alen + plen + 16,
					 out, alen + plen));
		EXPECT_EQ(0, memcmp(out + alen, in + alen, plen)) TH_LOG("%s: decrypt", v->name);
		close(hsm);
		EXPECT_EQ(0, nlt_remove(&t, &k));
	}
	nlt_close(&t);
}

/*
 * Without a policy a GCM key takes full-length tags only: a bound tfm
 * refuses a shorter tag size, and a tfm set to one does not bind.  The
 * policy can lower the minimum, never for another key type.
 */
TEST(gcm_short_tags_need_a_policy)
{
	struct nlt_policy p = { .min_taglen = 12 };
	uint8_t tok[HSMKEY_TOKEN_LEN];
	struct nlt_key k, x;
	struct nlt t;
	int fd, shorter;

	ASSERT_EQ(0, nlt_open(&t));
	nlt_key_random(&k, "gcm-tags", HSMKEY_TYPE_AES_256_GCM);
	ASSERT_EQ(0, bind_gcm(&t, &k, &fd)) TH_LOG("%s", t.extack);
	ASSERT_EQ(0, nlt_get(&t, &k));
	EXPECT_EQ((uint32_t)HSMKEY_GCM_MIN_TAGLEN, t.min_taglen);
	EXPECT_EQ(-EINVAL, alg_set_authsize(fd, 12));
	EXPECT_EQ(-EINVAL, alg_set_authsize(fd, 4));
	EXPECT_EQ(0, alg_set_authsize(fd, 16));
	nlt_token(&k, tok);
	shorter = alg_open_type("aead", "gcm(hsmaes)");
	ASSERT_LE(0, shorter);
	ASSERT_EQ(0, alg_set_authsize(shorter, 12));
	EXPECT_EQ(-EKEYREJECTED, alg_setkey(shorter, tok, sizeof(tok)));
	/* A policy of 12 lets that tfm bind; 8 stays below it. */
	ASSERT_EQ(0, nlt_set_policy(&t, &k, &p)) TH_LOG("%s", t.extack);
	EXPECT_EQ(0, alg_setkey(shorter, tok, sizeof(tok)));
	EXPECT_EQ(-EINVAL, alg_set_authsize(shorter, 8));
	EXPECT_EQ(0, alg_set_authsize(shorter, 16));
	close(shorter);
	close(fd);
	EXPECT_EQ(0, nlt_remove(&t, &k));
	/* Not for other key types, nor outside 4..16. */
	nlt_key_random(&x, "xts-tags", HSMKEY_TYPE_AES_256_XTS);
	x.policy = &p;
	EXPECT_EQ(-EINVAL, nlt_add(&t, &x));
	EXPECT_NE(0, t.extack[0]);
	k.policy = &p;
	p.min_taglen = 17;
	EXPECT_NE(0, nlt_add(&t, &k));
	p.min_taglen = 3;
	EXPECT_NE(0, nlt_add(&t, &k));
	EXPECT_EQ(-ENOKEY, nlt_get(&t, &k));
	nlt_close(&t);
}

TEST(gcm_refuses_xts_token)
{
	struct nlt t;
	struct nlt_key k;
	uint8_t tok[HSMKEY_TOKEN_LEN];
	int fd;

	ASSERT_EQ(0, nlt_open(&t));
	nlt_key_random(&k, "xts-for-gcm", HSMKEY_TYPE_AES_256_XTS);
	ASSERT_EQ(0, nlt_add(&t, &k));
	fd = alg_open_type("aead", "gcm(hsmaes)");
	ASSERT_LE(0, fd);
	nlt_token(&k, tok);
	EXPECT_EQ(-EKEYREJECTED, alg_setkey(fd, tok, sizeof(tok)));
	close(fd);
	EXPECT_EQ(0, nlt_remove(&t, &k));
	nlt_close(&t);
}

TEST_HARNESS_MAIN
