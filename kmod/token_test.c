// SPDX-License-Identifier: GPL-2.0
/* KUnit: resolving tokens at setkey() time. */
#include <kunit/test.h>
#include <linux/random.h>
#include "skcipher.h"
#include "token.h"

static struct hsmkey_inner test_inner = {
	.name = "xts(aes)",
	.driver = "xts(aes)",
	.reqsize = 4096,
};

struct token_case {
	const char *name;
	void (*mutate)(struct hsmkey_token *tok);
	enum hsmkey_mode mode;
	unsigned int len;
	bool revoke;
	int err;
	bool bound;
};

static void tok_none(struct hsmkey_token *tok)
{
}

static void tok_magic(struct hsmkey_token *tok)
{
	tok->magic[0] ^= 1;
}

static void tok_format(struct hsmkey_token *tok)
{
	tok->format = 2;
}

static void tok_reserved(struct hsmkey_token *tok)
{
	tok->reserved[1] = 1;
}

static void tok_reserved2(struct hsmkey_token *tok)
{
	tok->reserved2[3] = 1;
}

static void tok_id(struct hsmkey_token *tok)
{
	tok->key_id[15] ^= 1;
}

static void tok_version(struct hsmkey_token *tok)
{
	tok->key_version = cpu_to_be32(2);
}

static void tok_verifier(struct hsmkey_token *tok)
{
	tok->verifier[31] ^= 0x80;
}

static void tok_type(struct hsmkey_token *tok)
{
	tok->key_type = HSMKEY_TYPE_AES_256_XTS;
}

static const struct token_case token_cases[] = {
	{ "valid token binds", tok_none, HSMKEY_MODE_XTS, 64, false, 0, true },
	{ "wrong magic is not a token", tok_magic, HSMKEY_MODE_XTS, 64, false, 0, false },
	{ "unknown format is not a token", tok_format, HSMKEY_MODE_XTS, 64, false, 0, false },
	{ "reserved byte set is not a token", tok_reserved, HSMKEY_MODE_XTS, 64, false, 0, false },
	{ "reserved2 set is not a token", tok_reserved2, HSMKEY_MODE_XTS, 64, false, 0, false },
	{ "unknown id", tok_id, HSMKEY_MODE_XTS, 64, false, -ENOKEY, false },
	{ "unknown version", tok_version, HSMKEY_MODE_XTS, 64, false, -ENOKEY, false },
	{ "wrong verifier looks absent", tok_verifier, HSMKEY_MODE_XTS, 64, false, -ENOKEY, false },
	{ "wrong type looks absent", tok_type, HSMKEY_MODE_XTS, 64, false, -ENOKEY, false },
	{ "revoked key", tok_none, HSMKEY_MODE_XTS, 64, true, -EKEYREVOKED, false },
	{ "key of another mode", tok_none, HSMKEY_MODE_CBC, 64, false, -EKEYREJECTED, false },
	{ "wrong length", tok_none, HSMKEY_MODE_XTS, 32, false, -EINVAL, false },
};

static void token_case_desc(const struct token_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(token, token_cases, token_case_desc);

static void token_bind_case(struct kunit *test)
{
	const struct token_case *c = test->param_value;
	u8 material[32], verifier[HSMKEY_VERIFIER_LEN];
	struct hsmkey_key *key, *bound = NULL;
	struct hsmkey_token tok = {};
	struct hsmkey_kid kid;
	int err;

	/* Arrange: a key in the table and its token. */
	get_random_bytes(kid.id, sizeof(kid.id));
	kid.version = 1;
	get_random_bytes(verifier, sizeof(verifier));
	get_random_bytes(material, sizeof(material));
	material[0] = ~material[16];
	key = hsmkey_key_create(&kid, "kunit", HSMKEY_TYPE_AES_128_XTS, verifier,
				material);
	KUNIT_ASSERT_FALSE(test, IS_ERR(key));
	KUNIT_ASSERT_EQ(test, hsmkey_key_insert(key), 0);
	refcount_inc(&key->ref);	/* the test's own, past removal */
	memcpy(tok.magic, HSMKEY_TOKEN_MAGIC, sizeof(tok.magic));
	tok.format = HSMKEY_TOKEN_FORMAT;
	tok.key_type = HSMKEY_TYPE_AES_128_XTS;
	memcpy(tok.key_id, kid.id, sizeof(tok.key_id));
	tok.key_version = cpu_to_be32(1);
	memcpy(tok.verifier, verifier, sizeof(tok.verifier));
	c->mutate(&tok);
	if (c->revoke)
		hsmkey_key_revoke(key);

	/* Act */
	err = hsmkey_token_bind((u8 *)&tok, c->len, c->mode,
				hsmkey_skcipher_prepare, &test_inner, &bound);

	/* Assert */
	KUNIT_EXPECT_EQ_MSG(test, err, c->err, "case: %s", c->name);
	KUNIT_EXPECT_EQ_MSG(test, !!bound, c->bound, "case: %s", c->name);
	if (bound) {
		KUNIT_EXPECT_PTR_EQ(test, bound, key);
		KUNIT_EXPECT_EQ(test, atomic_read(&key->bindings), 1);
		KUNIT_EXPECT_NOT_ERR_OR_NULL(test, key->inner.skcipher);
		hsmkey_key_unbind(bound);
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&key->bindings), 0);
	hsmkey_keys_remove(&key, 1);
	KUNIT_EXPECT_TRUE(test, !key->inner.skcipher);
	KUNIT_EXPECT_TRUE(test, !memchr_inv(key->material, 0, sizeof(key->material)));
	hsmkey_key_put(key);
}

static struct kunit_case token_test_cases[] = {
	KUNIT_CASE_PARAM(token_bind_case, token_gen_params),
	{}
};

static struct kunit_suite token_test_suite = {
	.suite_init = hsmkey_kunit_suite_init,
	.suite_exit = hsmkey_kunit_suite_exit,
	.name = "hsmkey_token",
	.test_cases = token_test_cases,
};

kunit_test_suite(token_test_suite);
