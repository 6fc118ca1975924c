// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: end-to-end delivery's key agreement, KDF and unwrap against known
 * answers.  The §2.4 vector of the design is the one Python cryptography,
 * OpenSSL and SoftHSM agree on; the 16- and 32-byte vectors were made with
 * Python cryptography (derive_private_key, ECDH, hashlib.sha256, AES-ECB,
 * keywrap.aes_key_wrap) from the same two private keys.
 */
#include <kunit/test.h>
#include <linux/slab.h>
#include "e2e.h"

/* Big endian X || Y, as OpenSSL gives it: F13, nothing reversed. */
static const u8 kpoint[HSMKEY_E2E_POINT_LEN] = {
	0x04, 0x1a, 0x7f, 0xeb, 0x52, 0x00, 0xbd, 0x3c, 0x31, 0x7d, 0xb6, 0x70,
	0xc1, 0x86, 0xa6, 0xc7, 0xc4, 0x3b, 0xc5, 0x5f, 0x6c, 0x6f, 0x58, 0x3c,
	0xf5, 0xb6, 0x63, 0x82, 0x77, 0x33, 0x24, 0xa1, 0x5f, 0x6a, 0xca, 0x43,
	0x6f, 0xf7, 0x7e, 0xff, 0x02, 0x37, 0x08, 0xcc, 0x40, 0x5e, 0x7a, 0xfd,
	0x6a, 0x6a, 0x02, 0x6e, 0x41, 0x87, 0x68, 0x38, 0x77, 0xfa, 0xa9, 0x44,
	0x43, 0x2d, 0xef, 0x09, 0xdf,
};

static const u8 zval[HSMKEY_E2E_Z_LEN] = {
	0x75, 0x92, 0xec, 0xcc, 0xc0, 0x03, 0x2b, 0x7e, 0xa0, 0x1e, 0x86, 0xe3,
	0x28, 0xab, 0x77, 0xae, 0x47, 0xcd, 0x76, 0x5b, 0xcd, 0x07, 0x57, 0x44,
	0xad, 0xf0, 0x21, 0xa0, 0xc7, 0x1c, 0x54, 0x10,
};

static const u8 kek_v3[HSMKEY_E2E_KEK_LEN] = {
	0x84, 0x41, 0x85, 0xc0, 0x50, 0xef, 0xf6, 0x2e, 0xb8, 0x19, 0x75, 0xce,
	0x82, 0xab, 0x6d, 0x52, 0x74, 0xac, 0x49, 0x15, 0x5f, 0x3d, 0xab, 0xa1,
	0x43, 0xaf, 0xf9, 0x10, 0xa1, 0x6d, 0x53, 0x85,
};

/* Material 0x80..0x8f, version 7, AES-128-CBC. */
static const u8 blob_cbc16[24] = {
	0x25, 0x77, 0x1c, 0xba, 0xe8, 0x15, 0xc5, 0xf4, 0x6d, 0x1c, 0x5b, 0x1f,
	0xf8, 0xee, 0x9c, 0xae, 0x1b, 0x18, 0x9b, 0xfc, 0x61, 0xff, 0x5b, 0x41,
};

/* Material 0xa0..0xbf, version 9, AES-256-GCM. */
static const u8 blob_gcm32[40] = {
	0x42, 0xc8, 0x8e, 0x9d, 0xc2, 0x62, 0x16, 0x7b, 0x80, 0xd8, 0xab, 0x6f,
	0xfc, 0x66, 0xee, 0xca, 0xaf, 0x84, 0xc9, 0x4f, 0x98, 0xec, 0x0e, 0x01,
	0x0d, 0x07, 0x4e, 0x1c, 0x81, 0xea, 0xf4, 0x07, 0x7a, 0x90, 0x2f, 0xe2,
	0x5f, 0xd3, 0xd3, 0x8e,
};

struct e2e_case {
	const char *name;
	const u8 *blob;
	u32 version;
	u32 type;
	u8 first;		/* material is first, first + 1, ... */
	int flip;		/* >= 0: this byte of the HSM point flipped */
	u8 prefix;		/* the HSM point's first byte */
	u32 uses;		/* of the ephemeral key */
	unsigned int unwraps;	/* in one batch: the last one is checked */
	bool spend_first;	/* commit a batch before the checked one */
	int err;
};

static const struct e2e_case e2e_cases[] = {
	{ "design 2.4 vector, 64 bytes", hsmkey_e2e_kat_blob, 3,
	  HSMKEY_TYPE_AES_256_XTS, 0x40, -1, 0x04, 1, 1, false, 0 },
	{ "16 bytes", blob_cbc16, 7, HSMKEY_TYPE_AES_128_CBC, 0x80, -1, 0x04,
	  1, 1, false, 0 },
	{ "32 bytes", blob_gcm32, 9, HSMKEY_TYPE_AES_256_GCM, 0xa0, -1, 0x04,
	  1, 1, false, 0 },
	{ "version + 1", hsmkey_e2e_kat_blob, 4, HSMKEY_TYPE_AES_256_XTS,
	  0x40, -1, 0x04, 1, 1, false, -EBADMSG },
	{ "another type", blob_gcm32, 9, HSMKEY_TYPE_AES_256_CBC, 0xa0, -1,
	  0x04, 1, 1, false, -EBADMSG },
	{ "HSM point with a byte flipped", hsmkey_e2e_kat_blob, 3,
	  HSMKEY_TYPE_AES_256_XTS, 0x40, 20, 0x04, 1, 1, false, -EINVAL },
	{ "HSM point with prefix 0x05", hsmkey_e2e_kat_blob, 3,
	  HSMKEY_TYPE_AES_256_XTS, 0x40, -1, 0x05, 1, 1, false, -EINVAL },
	{ "handle used up by a committed batch", hsmkey_e2e_kat_blob, 3,
	  HSMKEY_TYPE_AES_256_XTS, 0x40, -1, 0x04, 1, 1, true, -ESTALE },
	{ "more unwraps in a batch than uses", hsmkey_e2e_kat_blob, 3,
	  HSMKEY_TYPE_AES_256_XTS, 0x40, -1, 0x04, 1, 2, false, -ESTALE },
	{ "two uses, two unwraps", hsmkey_e2e_kat_blob, 3,
	  HSMKEY_TYPE_AES_256_XTS, 0x40, -1, 0x04, 2, 2, false, 0 },
};

static void e2e_case_desc(const struct e2e_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(e2e, e2e_cases, e2e_case_desc);

static int e2e_insert_ok(void *arg)
{
	return 0;
}

/* One batch of @c->unwraps versions; the last one's result. */
static int e2e_batch_run(struct kunit *test, const struct e2e_case *c,
			 const struct hsmkey_e2e_wrapped *w, u8 *material,
			 bool commit)
{
	struct hsmkey_kid kid = { .version = c->version };
	struct hsmkey_e2e_batch *b;
	unsigned int i;
	int err = 0;

	for (i = 0; i < HSMKEY_ID_LEN; i++)
		kid.id[i] = i;
	b = hsmkey_e2e_batch_new();
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	for (i = 0; i < c->unwraps && !err; i++) {
		memset(material, 0xff, HSMKEY_MATERIAL_MAX);
		err = hsmkey_e2e_unwrap(b, w, &kid, c->type, material);
	}
	if (!err && commit)
		err = hsmkey_e2e_commit(b, e2e_insert_ok, NULL);
	hsmkey_e2e_batch_free(b);
	return err;
}

static void e2e_vector_case(struct kunit *test)
{
	const struct e2e_case *c = test->param_value;
	unsigned int keylen = hsmkey_type_keylen(c->type), i;
	u8 point[HSMKEY_E2E_POINT_LEN], hp[HSMKEY_E2E_POINT_LEN];
	struct hsmkey_e2e_wrapped w = { .hpoint = hp, .blob = c->blob };
	u8 *material;
	int err;

	if (!hsmkey_e2e_available())
		kunit_skip(test, "no ecdh-nist-p256 or kw(aes) in this kernel");
	/* Arrange: the fixed kernel key, the HSM's point as the case has it */
	memcpy(hp, hsmkey_e2e_kat_hpoint, sizeof(hp));
	hp[0] = c->prefix;
	if (c->flip >= 0)
		hp[c->flip] ^= 0x01;
	material = kunit_kzalloc(test, HSMKEY_MATERIAL_MAX, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, material);
	err = hsmkey_e2e_new(hsmkey_e2e_kat_priv, c->uses, 0, &w.handle, point);
	KUNIT_ASSERT_EQ_MSG(test, err, 0, "case: %s", c->name);
	KUNIT_EXPECT_TRUE_MSG(test, !memcmp(point, kpoint, sizeof(point)),
			      "case: %s: public point", c->name);
	if (c->spend_first)
		KUNIT_ASSERT_EQ(test, e2e_batch_run(test, c, &w, material, true), 0);

	/* Act */
	err = e2e_batch_run(test, c, &w, material, true);

	/* Assert */
	KUNIT_EXPECT_EQ_MSG(test, err, c->err, "case: %s", c->name);
	for (i = 0; !err && i < keylen; i++)
		KUNIT_EXPECT_EQ_MSG(test, material[i], (u8)(c->first + i),
				    "case: %s: byte %u", c->name, i);
	if (err)
		KUNIT_EXPECT_TRUE_MSG(test, !memchr_inv(material, 0, keylen),
				      "case: %s: output not wiped", c->name);
	hsmkey_e2e_reset();
}

/* The steps one by one on the §2.4 vector: Z and the KEK. */
static void e2e_steps_case(struct kunit *test)
{
	struct hsmkey_kid kid = { .version = 3 };
	u8 point[HSMKEY_E2E_POINT_LEN], kp[HSMKEY_E2E_POINT_LEN];
	u8 z[HSMKEY_E2E_Z_LEN], kek[HSMKEY_E2E_KEK_LEN];
	u64 handle;
	int i;

	if (!hsmkey_e2e_available())
		kunit_skip(test, "no ecdh-nist-p256 or kw(aes) in this kernel");
	for (i = 0; i < HSMKEY_ID_LEN; i++)
		kid.id[i] = i;
	KUNIT_ASSERT_EQ(test, hsmkey_e2e_new(hsmkey_e2e_kat_priv, 1, 0, &handle,
					     point), 0);
	KUNIT_ASSERT_EQ(test, hsmkey_e2e_shared(handle, hsmkey_e2e_kat_hpoint,
						kp, z), 0);
	KUNIT_EXPECT_TRUE_MSG(test, !memcmp(kp, kpoint, sizeof(kp)), "Qk differs");
	KUNIT_EXPECT_TRUE_MSG(test, !memcmp(z, zval, sizeof(z)), "Z differs");
	hsmkey_e2e_kek(z, kp, hsmkey_e2e_kat_hpoint, &kid,
		       HSMKEY_TYPE_AES_256_XTS, kek);
	KUNIT_EXPECT_TRUE_MSG(test, !memcmp(kek, kek_v3, sizeof(kek)),
			      "KEK differs");
	hsmkey_e2e_reset();
	KUNIT_EXPECT_EQ(test, hsmkey_e2e_shared(handle, hsmkey_e2e_kat_hpoint,
						kp, z), -ESTALE);
}

static struct kunit_case e2e_test_cases[] = {
	KUNIT_CASE(e2e_steps_case),
	KUNIT_CASE_PARAM(e2e_vector_case, e2e_gen_params),
	{}
};

static struct kunit_suite e2e_test_suite = {
	.name = "hsmkey_e2e",
	.test_cases = e2e_test_cases,
};

kunit_test_suite(e2e_test_suite);
